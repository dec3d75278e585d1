#!/bin/sh
# replay.sh - the replay benchmark: builds Release in build-bench, generates (and caches) the
# workloads, runs xf-bench-replay on each, then times the real CLI (`xdrflow replay --db`) on
# the same files. See bench/README.md for what each line means.
#
# Usage: bench/replay.sh [--rss] [--events N] [--only LIST] [--no-cli]
#   --rss        also run 4x the events (default 4M) to check that peak RSS stays flat
#   --events N   events per workload (default 1000000)
#   --only LIST  measurements passed to xf-bench-replay --only (see xf-bench-replay --help)
#   --no-cli     skip the `xdrflow replay` timing
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
build=$root/build-bench
data=$build/data
tmp=$build/tmp
events=1000000
rss=0
only=
cli=1

while [ $# -gt 0 ]; do
    case "$1" in
    --rss) rss=1 ;;
    --events) events=$2; shift ;;
    --only) only=$2; shift ;;
    --no-cli) cli=0 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "replay.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

jobs=$(nproc 2>/dev/null || echo 2)
echo "== building Release in build-bench" >&2
# -O3 makes gcc's truncation/bounds analysis noisier than the -O2 CI build; warnings are not
# what this build is for, so they stay warnings here
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DXF_SANITIZE=OFF -DXF_TESTS=OFF \
    -DXF_BENCH=ON -DXF_WERROR=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target xdrflow xf-gen-workload xf-bench-replay \
    >"$build/bench-build.log" 2>&1 || { cat "$build/bench-build.log" >&2; exit 1; }
mkdir -p "$data" "$tmp"

# gen N FORMAT -> prints the cached file name (generated on first use; the generator is
# deterministic, so a cached file is the same bytes a fresh run would write)
gen() {
    case $2 in ecs) ext=ecs.jsonl ;; *) ext=pb ;; esac
    f=$data/workload-$1.$ext
    if [ ! -s "$f" ]; then
        echo "== generating $1 $2 events" >&2
        "$build/bench/xf-gen-workload" --events "$1" --format "$2" --seed 1 --out "$f.part" >&2
        mv "$f.part" "$f"
    fi
    echo "$f"
}

# cli FILE FORMAT EVENTS: `xdrflow replay --db` on a fresh database, timed with getrusage of the
# child (wall seconds, peak RSS), printed in xf-bench-replay's columns
cli() {
    db=$(mktemp -d "$tmp/xf-cli-XXXXXX")
    python3 - "$build/xdrflow" "$1" "$2" "$db" "$3" <<'EOF'
import os, resource, subprocess, sys, time
exe, path, fmt, db, n = sys.argv[1:5] + [int(sys.argv[5])]
cmd = [exe, "replay", "--db", db, "--input-format", fmt, "--format", "json",
       "--no-progress", "-q", path]
t0 = time.monotonic()
with open(os.devnull, "wb") as null:
    rc = subprocess.run(cmd, stdout=null).returncode
secs = time.monotonic() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(db) for f in fs)
if rc:
    print("%-16s FAILED: exit %d" % ("cli_replay", rc))
else:
    print("%-16s %10d %9.2f %10.0f %8.1f %8.1f  %s" % ("cli_replay", n, secs, n / secs, rss,
          size / 1048576.0, "xdrflow replay --db D --format json --no-progress -q FILE"))
EOF
    rm -rf "$db"
}

sizes=$events
[ $rss = 1 ] && sizes="$events $((events * 4))"

echo "# xdrflow replay benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -m)"
for n in $sizes; do
    for fmt in ecs proto; do
        f=$(gen "$n" $fmt)
        echo
        # the large size is only for the RSS check: the engine runs, not the ceilings again
        o=$only
        [ "$n" != "$events" ] && o=${only:-end_to_end}
        "$build/bench/xf-bench-replay" --format $fmt --tmp "$tmp" ${o:+--only "$o"} "$f"
        if [ $cli = 1 ]; then cli "$f" $fmt "$n"; fi
    done
done
