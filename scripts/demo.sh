#!/bin/sh
# demo.sh - installs what is missing, builds xdrflow, and runs `xdrflow demo --once`: an
# embedded Kafka-protocol broker receives a recorded Emotet outbreak, the daemon correlates it
# into a temporary RocksDB, and the incident is printed. (Without --once the daemon keeps
# serving /metrics until Ctrl-C.)
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
exec ./build/xdrflow demo --once --api 127.0.0.1:0
