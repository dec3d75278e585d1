#!/bin/sh
# demo.sh - installs what is missing, builds xdrflow, and replays the bundled Emotet outbreak
# (a recorded scenario in ECS) into a fresh database, printing the incident it reconstructs.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
db=$(mktemp -d "${TMPDIR:-/tmp}/xdrflow-demo.XXXXXX")
trap 'rm -rf "$db"' EXIT
./build/xdrflow replay --db "$db/db" tests/data/emotet-outbreak.ecs.jsonl
echo
./build/xdrflow incidents list --db "$db/db"
