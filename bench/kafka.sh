#!/bin/sh
# kafka.sh - the daemon's end-to-end Kafka benchmark, in one run (see bench/README.md "Kafka"):
#   1. `xdrflow devbroker --partitions P`; `xdrflow produce` pre-fills a topic with the proto
#      workload (2M events by default, generated once by xf-gen-workload into build-bench/data);
#   2. a raw count-only consumer reads that topic (xf-bench-kafka raw): the ceiling;
#   3. `xdrflow run` (fresh group, fresh --db) reads the same topic; timed until /metrics shows
#      every record's offset committed (= durable), with the daemon's peak RSS;
#   4. a second fresh daemon on an empty topic while xf-bench-kafka latency sends the workload
#      at a steady rate (50,000/s for 60 s): event-to-incident latency per attack chain.
#
# Usage: bench/kafka.sh [--events N] [--partitions P] [--rate R] [--seconds S] [--no-latency]
#                       [--queue-batches Q] [--latency-only] [--build DIR] [--daemon BIN]
#                       [--no-build] [--nice-harness] [--ab OTHER_BIN [--rounds N]]
#   --latency-only     skip steps 1-3 (e.g. to measure latency at a rate the daemon sustains)
#   --queue-batches Q  also run step 3 (and 4) with pipeline.queue_batches: Q (default 0:
#                      skipped), to compare a pool size with the default one
#   --build DIR        build and run in DIR instead of build-bench (data stays in build-bench)
#   --daemon BIN       run this xdrflow binary as the daemon (A/B against another build; the
#                      devbroker, producer and tools still come from the build dir)
#   --no-build         use what is already built in the build dir (e.g. while the tree does
#                      not build)
#   --nice-harness     run the devbroker and the latency sender at nice 10, so the daemon gets
#                      the CPU first, as it would with the broker and producers on other
#                      machines (a sender that falls behind shows in send_behind_max_ms)
#   --ab OTHER_BIN     step 3 as N rounds of two runs on the same filled topic, OTHER_BIN ("a")
#                      then the daemon under test ("b": --daemon or the build's), and the
#                      medians of each: this VM's speed drifts by 15-35 % between minutes, so
#                      only runs alternated like this compare two binaries (default N = 3)
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
build=$root/build-bench
data=$root/build-bench/data
events=2000000
parts=384
rate=50000
seconds=60
latency=1
qb=0
only_lat=0
daemon_bin=
build_it=1
harness_nice=
ab_bin=
rounds=3

while [ $# -gt 0 ]; do
    case "$1" in
    --events) events=$2; shift ;;
    --partitions) parts=$2; shift ;;
    --rate) rate=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --no-latency) latency=0 ;;
    --queue-batches) qb=$2; shift ;;
    --latency-only) only_lat=1 ;;
    --daemon) daemon_bin=$2; shift ;;
    --no-build) build_it=0 ;;
    --nice-harness) harness_nice="nice -n 10" ;;
    --ab) ab_bin=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --build) build=$(cd "$2" 2>/dev/null && pwd || echo "$2"); shift ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "kafka.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

jobs=$(nproc 2>/dev/null || echo 2)
tmp=$build/tmp
if [ "$build_it" = 1 ]; then
echo "== building Release in $build" >&2
# the same configuration as bench/replay.sh (the build dir is shared): only targets are added
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DXF_SANITIZE=OFF -DXF_TESTS=OFF \
    -DXF_BENCH=ON -DXF_WERROR=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target xdrflow xf-gen-workload xf-bench-kafka \
    >"$build/bench-kafka-build.log" 2>&1 || { cat "$build/bench-kafka-build.log" >&2; exit 1; }
fi
mkdir -p "$data" "$tmp"
xdrflow=$build/xdrflow
tool=$build/bench/xf-bench-kafka

gen() {
    f=$data/workload-$1.pb
    if [ ! -s "$f" ]; then
        echo "== generating $1 proto events" >&2
        "$build/bench/xf-gen-workload" --events "$1" --format proto --seed 1 --out "$f.part" >&2
        mv "$f.part" "$f"
    fi
    echo "$f"
}

work=$(mktemp -d "$tmp/xf-kafka-XXXXXX")
broker_pid=
daemon_pid=
cleanup() {
    [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    [ -n "$broker_pid" ] && kill -TERM "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

[ "$only_lat" = 1 ] || fill_file=$(gen "$events")
lat_events=$((rate * seconds))
[ "$latency" = 1 ] && lat_file=$(gen "$lat_events")

echo "== devbroker, $parts partitions per topic" >&2
$harness_nice "$xdrflow" devbroker --partitions "$parts" --topics bench.fill,bench.lat,bench.latq </dev/null \
    >"$work/broker.out" 2>"$work/broker.err" &
broker_pid=$!
for _ in $(seq 100); do
    grep -q '^bootstrap: ' "$work/broker.out" 2>/dev/null && break
    sleep 0.1
done
bs=$(sed -n 's/^bootstrap: //p' "$work/broker.out" | head -1)
[ -n "$bs" ] || { echo "kafka.sh: devbroker did not start" >&2; cat "$work/broker.err" >&2; exit 1; }

fill_line=
raw_line=
if [ "$only_lat" = 0 ]; then
echo "== filling bench.fill with $events proto events (xdrflow produce, keyed by host)" >&2
t0=$(date +%s.%N)
"$xdrflow" produce -q --brokers "$bs" --topic bench.fill --input-format proto "$fill_file"
t1=$(date +%s.%N)
fill_line=$(awk -v n="$events" -v a="$t0" -v b="$t1" \
    'BEGIN { printf "fill records=%d seconds=%.2f rate=%.0f", n, b - a, n / (b - a) }')
echo "$fill_line"

echo "== raw consumer on bench.fill" >&2
raw_line=$("$tool" raw --brokers "$bs" --topic bench.fill --records "$events" || true)
echo "$raw_line"

fi

# start_daemon NAME TOPIC [YAML-LINE]: a fresh daemon (own group, own db, ephemeral API port);
# sets daemon_pid and api
start_daemon() {
    mkdir -p "$work/$1"
    cat >"$work/$1/xdrflow.yaml" <<EOF
kafka:
  brokers: "$bs"
  group: bench-$1-$$
  topics:
    - {name: $2, format: proto}
  dead_letter_topic: xdr.deadletter
store: {path: "$work/$1/db"}
api: {listen: "127.0.0.1:0"}
log: {level: info}
${3:-}
EOF
    "${run_bin:-${daemon_bin:-$xdrflow}}" run -c "$work/$1/xdrflow.yaml" >"$work/$1/out" \
        2>"$work/$1/err" &
    daemon_pid=$!
    api=
    for _ in $(seq 200); do
        port=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$work/$1/err" | head -1)
        [ -n "$port" ] && { api=127.0.0.1:$port; break; }
        sleep 0.05
    done
    [ -n "$api" ] || { echo "kafka.sh: daemon $1 did not start" >&2; cat "$work/$1/err" >&2; exit 1; }
}

stop_daemon() {
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" || echo "kafka.sh: daemon exited with $?" >&2
    daemon_pid=
}

# A/B: rounds of (other, under test) on the same topic, each a fresh group and db
if [ -n "$ab_bin" ] && [ "$only_lat" = 0 ]; then
    get1() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
    : >"$work/ab.txt"
    for r in $(seq "$rounds"); do
        for side in a b; do
            run_bin=
            [ "$side" = a ] && run_bin=$ab_bin
            echo "== A/B round $r, $side: ${run_bin:-${daemon_bin:-$xdrflow}}" >&2
            start_daemon "ab-$side-$r" bench.fill
            l=$("$tool" wait --api "$api" --topic bench.fill --records "$events" --pid "$daemon_pid" || true)
            stop_daemon
            rm -rf "$work/ab-$side-$r/db"
            echo "$side $r $(get1 "$l" rate_from_first) $(get1 "$l" cpu_us_per_record)" \
                "$(get1 "$l" peak_rss_mb) $(get1 "$l" incidents) | $(echo "$l" | sed -n 's/^daemon_threads //p')" \
                | tee -a "$work/ab.txt"
        done
    done
    run_bin=
    echo
    echo "# A/B $(date -u +%Y-%m-%dT%H:%MZ): a = $ab_bin, b = ${daemon_bin:-$xdrflow}; $events proto events, $parts partitions"
    echo "side round events/s_from_first us_per_record peak_rss_mb incidents | CPU s by thread"
    cat "$work/ab.txt"
    for side in a b; do
        awk -v s="$side" 'BEGIN { n = 0 } $1 == s { r[n] = $3; u[n] = $4; m[n] = $5; n++ }
            function med(a, n,   i, j, t) {
                for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return n % 2 ? a[int(n / 2)] : (a[n / 2 - 1] + a[n / 2]) / 2 }
            END { printf "median %s (%d runs): %.0f events/s from the first record, %.1f us per record, peak RSS %.0f MB\n", s, n, med(r, n), med(u, n), med(m, n) }' "$work/ab.txt"
    done
    exit 0
fi

e2e_line=
qb_line=
if [ "$only_lat" = 0 ]; then
echo "== xdrflow run on bench.fill (fresh group, fresh db)" >&2
start_daemon e2e bench.fill
e2e_line=$("$tool" wait --api "$api" --topic bench.fill --records "$events" --pid "$daemon_pid" || true)
echo "$e2e_line"
stop_daemon
db_mb=$(du -sm "$work/e2e/db" | cut -f1)
inc_json=$("$xdrflow" incidents list --db "$work/e2e/db" --format json 2>/dev/null | grep -c . || true)
echo "e2e_db db_mb=$db_mb stored_incidents=$inc_json"
rm -rf "$work/e2e/db"

qb_line=
if [ "$qb" -gt 0 ]; then
    echo "== xdrflow run on bench.fill again, pipeline.queue_batches: $qb (fresh group, fresh db)" >&2
    start_daemon qb bench.fill "pipeline: {queue_batches: $qb}"
    qb_line=$("$tool" wait --api "$api" --topic bench.fill --records "$events" --pid "$daemon_pid" || true)
    echo "$qb_line"
    stop_daemon
    rm -rf "$work/qb/db"
fi

fi

# run_latency NAME TOPIC [YAML-LINE]: a fresh daemon on an empty topic, then the steady
# producer; prints the tool's line
run_latency() {
    echo "== latency ($1): $rate events/s for $seconds s into a running daemon ($2)" >&2
    start_daemon "$1" "$2" "${3:-}"
    # wait until the group has assigned every partition, or the first records would only
    # measure the join
    for _ in $(seq 300); do
        a=$(curl -s "http://$api/metrics" | sed -n 's/^xdrflow_assigned_partitions //p')
        [ "${a:-0}" = "$parts" ] && break
        sleep 0.1
    done
    line=$($harness_nice "$tool" latency --brokers "$bs" --topic "$2" --partitions "$parts" --api "$api" \
        --rate "$rate" --seconds "$seconds" "$lat_file" || true)
    m=$(curl -s "http://$api/metrics" |
        sed -n 's/^xdrflow_\(offset_gaps_total\|pauses_total\|incidents\) \(.*\)/\1=\2/p' |
        tr '\n' ' ')
    echo "$line $m daemon_peak_rss_mb=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' \
        "/proc/$daemon_pid/status")"
    stop_daemon
    rm -rf "$work/$1/db"
}

lat_line=
latq_line=
if [ "$latency" = 1 ]; then
    lat_line=$(run_latency lat bench.lat)
    echo "$lat_line"
    if [ "$qb" -gt 0 ]; then
        latq_line=$(run_latency latq bench.latq "pipeline: {queue_batches: $qb}")
        echo "$latq_line"
    fi
fi

# the table
get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
echo
if [ "$only_lat" = 0 ]; then
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $events proto events, $parts partitions"
printf '%-34s %12s %10s %12s\n' measure records seconds events/s
printf '%-34s %12s %10s %12s\n' "fill (xdrflow produce)" "$(get "$fill_line" records)" \
    "$(get "$fill_line" seconds)" "$(get "$fill_line" rate)"
printf '%-34s %12s %10s %12s\n' "raw consumer (count only)" "$(get "$raw_line" records)" \
    "$(get "$raw_line" seconds)" "$(get "$raw_line" rate)"
printf '%-34s %12s %10s %12s\n' "xdrflow run, from process start" "$(get "$e2e_line" records)" \
    "$(get "$e2e_line" seconds)" "$(get "$e2e_line" rate)"
printf '%-34s %12s %10s %12s\n' "xdrflow run, from first record" "$(get "$e2e_line" records)" \
    "$(get "$e2e_line" from_first_record_seconds)" "$(get "$e2e_line" rate_from_first)"
if [ -n "$qb_line" ]; then
    printf '%-34s %12s %10s %12s\n' "  queue_batches $qb, from start" "$(get "$qb_line" records)" \
        "$(get "$qb_line" seconds)" "$(get "$qb_line" rate)"
    printf '%-34s %12s %10s %12s\n' "  queue_batches $qb, from first" "$(get "$qb_line" records)" \
        "$(get "$qb_line" from_first_record_seconds)" "$(get "$qb_line" rate_from_first)"
    echo "  queue_batches $qb: peak RSS $(get "$qb_line" peak_rss_mb) MB, offset gaps" \
        "$(get "$qb_line" offset_gaps), partition pauses $(get "$qb_line" pauses)"
fi
echo "xdrflow run: CPU $(get "$e2e_line" cpu_seconds) s from the first record on," \
    "$(get "$e2e_line" cpu_us_per_record) us per record (all threads)"
echo "xdrflow run: CPU seconds by thread: $(echo "$e2e_line" | sed -n 's/^daemon_threads //p')" \
    "(name+ = a thread of that name exited in between: a lower bound)"
echo "xdrflow run: peak RSS $(get "$e2e_line" peak_rss_mb) MB, db $db_mb MB," \
    "offset gaps: raw $(get "$raw_line" offset_gaps), daemon $(get "$e2e_line" offset_gaps)," \
    "partition pauses $(get "$e2e_line" pauses), duplicates $(get "$e2e_line" duplicates), decode errors $(get "$e2e_line" decode_errors)," \
    "incidents $(get "$e2e_line" incidents), detections $(get "$e2e_line" detections)"
awk -v r="$(get "$raw_line" rate)" -v e="$(get "$e2e_line" rate_from_first)" \
    'BEGIN { if (r > 0) printf "end to end / raw consumer: %.1f %% (target >= 50 %%, and >= 300,000/s)\n", 100 * e / r }'
[ -n "$qb_line" ] && awk -v r="$(get "$raw_line" rate)" -v e="$(get "$qb_line" rate_from_first)" \
    'BEGIN { if (r > 0) printf "  queue_batches '"$qb"': %.1f %% of the raw consumer\n", 100 * e / r }'
else
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $parts partitions"
fi
lat_row() {
    [ -n "$2" ] || return 0
    echo "latency, $1: $(get "$2" rate)/s for $(get "$2" seconds) s, $(get "$2" chains) chains" \
        "(censored: $(get "$2" censored); if not 0, those chains were not durable when the wait" \
        "ended and the figures are lower bounds)"
    echo "    p50 $(get "$2" p50_ms) ms, p90 $(get "$2" p90_ms) ms, p99 $(get "$2" p99_ms) ms," \
        "max $(get "$2" max_ms) ms; first chain $(get "$2" first_chain_ms) ms, last" \
        "$(get "$2" last_chain_ms) ms; daemon: pauses $(get "$2" pauses_total), offset gaps" \
        "$(get "$2" offset_gaps_total), peak RSS $(get "$2" daemon_peak_rss_mb) MB;" \
        "/metrics scraped every $(get "$2" scrape_ms) ms (the resolution)"
}
lat_row "default config" "$lat_line"
lat_row "queue_batches $qb" "$latq_line"
