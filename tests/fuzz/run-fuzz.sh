#!/bin/sh
# run-fuzz.sh TARGET SEED_DIR WORK_DIR SECONDS - runs one libFuzzer target for a bounded time
# over a scratch copy of its seed corpus (the committed corpus is never modified).
set -eu
target=$1 seed=$2 work=$3 secs=$4
rm -rf "$work" && mkdir -p "$work"
if [ -d "$seed" ]; then cp -r "$seed"/. "$work"/; fi
exec "$target" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 "$work"
