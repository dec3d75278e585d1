#!/bin/sh
# check-format.sh - fails when a tracked C file differs from what clang-format makes of it
# (.clang-format at the top). Fix with: git ls-files '*.c' '*.h' | xargs clang-format -i
set -eu
cd "$(dirname "$0")/.."
bad=0
for f in $(git ls-files '*.c' '*.h' 2>/dev/null); do
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f" >&2
        bad=1
    fi
done
[ $bad = 0 ] && echo "format: all C files clean"
exit $bad
