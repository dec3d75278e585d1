#!/bin/sh
# test.sh - installs what is missing, builds with ASan+UBSan, and runs the whole suite:
# unit, runtime and integration tests, then every fuzz target for a bounded time.
# Usage: scripts/test.sh   (XF_FUZZ_SECONDS=N to change the fuzz time per target)
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B build-test -DXF_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-test -j"$jobs"

CC=clang cmake -S . -B build-fuzz -DXF_SANITIZE=ON -DXF_FUZZ=ON \
    -DXF_FUZZ_SECONDS="${XF_FUZZ_SECONDS:-30}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$jobs"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
(cd build-test && ctest --output-on-failure -j"$jobs" -L 'unit|runtime|integration') || status=1
(cd build-fuzz && ctest --output-on-failure -L fuzz) || status=1
exit $status
