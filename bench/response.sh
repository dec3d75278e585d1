#!/bin/sh
# response.sh - trigger-to-isolation latency under background load (see bench/README.md
# "Response"): from the record that takes an incident over the auto-isolation threshold to the
# isolation request arriving at a webhook receiver.
#   1. `xdrflow devbroker` with two topics: bench.bg (proto background) and bench.trg (ECS);
#   2. webhook_receiver.py (tests/integration), which verifies each Standard Webhooks signature
#      and stamps arrivals with CLOCK_MONOTONIC;
#   3. `xdrflow run` with response mode auto, min_severity critical, a webhook connector at the
#      receiver (the secret through an environment variable), the outbox in its RocksDB;
#   4. xf-bench-kafka latency sends the proto workload of bench/kafka.sh into bench.bg at a
#      steady --rate (its own Emotet chains become critical incidents too, and are isolated:
#      the response thread is under load as well);
#   5. response_trigger.py sends --count fresh attack chains into bench.trg, each in two
#      steps: the records below the threshold, then (interval/2 later) the trigger record,
#      stamped when handed to the producer; latency = arrival of that host's isolate - stamp.
#
# Usage: bench/response.sh [--rate R] [--count N] [--interval S] [--partitions P]
#   --rate R       background events/s (default 50000; 0: no background)
#   --count N      triggered incidents (default 24)
#   --interval S   seconds per incident (default 2.5)
# Build dir: $XF_BENCH_BUILD (default build-bench, Release, no sanitizers; shared with kafka.sh).
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
build=$root/${XF_BENCH_BUILD:-build-bench}
data=$build/data
tmp=$build/tmp
rate=50000
count=24
interval=2.5
parts=48

while [ $# -gt 0 ]; do
    case "$1" in
    --rate) rate=$2; shift ;;
    --count) count=$2; shift ;;
    --interval) interval=$2; shift ;;
    --partitions) parts=$2; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "response.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

jobs=$(nproc 2>/dev/null || echo 2)
echo "== building Release in $build" >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DXF_SANITIZE=OFF -DXF_TESTS=OFF \
    -DXF_BENCH=ON -DXF_WERROR=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target xdrflow xf-gen-workload xf-bench-kafka \
    >"$build/bench-response-build.log" 2>&1 || { cat "$build/bench-response-build.log" >&2; exit 1; }
mkdir -p "$data" "$tmp"
xdrflow=$build/xdrflow

# the background runs while the triggers are sent, plus a warm-up and the last wait
seconds=$(awk -v c="$count" -v i="$interval" 'BEGIN { printf "%d", c * i + 20 }')
gen() { # gen N ecs|proto SEED CHAIN_EVERY [SUFFIX] -> cached file name
    f=$data/workload-$1${5:-}.ecs.jsonl
    [ "$2" = proto ] && f=$data/workload-$1.pb
    if [ ! -s "$f" ]; then
        echo "== generating $1 $2 events" >&2
        "$build/bench/xf-gen-workload" --events "$1" --format "$2" --seed "$3" \
            --chain-every "$4" --out "$f.part" >&2
        mv "$f.part" "$f"
    fi
    echo "$f"
}
template=$(gen 60000 ecs 7 1000 -trg)
bg_events=$((rate * seconds))
[ "$rate" -gt 0 ] && bg_file=$(gen "$bg_events" proto 1 10000)

work=$(mktemp -d "$tmp/xf-response-XXXXXX")
pids=
cleanup() {
    # `|| true`: under set -e a killed child's non-zero wait would end the trap early
    for p in $pids; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$xdrflow" devbroker --partitions "$parts" --topics bench.bg,bench.trg </dev/null \
    >"$work/broker.out" 2>"$work/broker.err" &
pids="$! $pids"
for _ in $(seq 100); do grep -q '^bootstrap: ' "$work/broker.out" 2>/dev/null && break; sleep 0.1; done
bs=$(sed -n 's/^bootstrap: //p' "$work/broker.out" | head -1)
[ -n "$bs" ] || { echo "response.sh: devbroker did not start" >&2; exit 1; }

XF_BENCH_WEBHOOK_SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
export XF_BENCH_WEBHOOK_SECRET
python3 "$root/tests/integration/webhook_receiver.py" --secret-env XF_BENCH_WEBHOOK_SECRET \
    >"$work/receiver.out" 2>"$work/receiver.err" &
pids="$! $pids"
for _ in $(seq 100); do grep -q '^PORT ' "$work/receiver.out" 2>/dev/null && break; sleep 0.1; done
rport=$(sed -n 's/^PORT //p' "$work/receiver.out")
[ -n "$rport" ] || { echo "response.sh: receiver did not start" >&2; exit 1; }

cat >"$work/xdrflow.yaml" <<EOF
kafka:
  brokers: "$bs"
  group: bench-response-$$
  topics:
    - {name: bench.bg, format: proto}
    - {name: bench.trg, format: ecs}
  dead_letter_topic: xdr.deadletter
store: {path: "$work/db"}
api: {listen: "127.0.0.1:0"}
log: {level: info}
response:
  mode: auto
  min_severity: critical
  protected_hosts: ["mx*"]
  max_actions_per_min: 100000
  burst: 10000
  notify_incidents: false
  audit_log: "$work/audit.log"
  connectors:
    - {name: bench-hook, type: webhook, url: "http://127.0.0.1:$rport/hook", secret_env: XF_BENCH_WEBHOOK_SECRET}
EOF
"$xdrflow" run -c "$work/xdrflow.yaml" >"$work/daemon.out" 2>"$work/daemon.err" &
daemon_pid=$!
pids="$daemon_pid $pids"
api=
for _ in $(seq 200); do
    port=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$work/daemon.err" | head -1)
    [ -n "$port" ] && { api=127.0.0.1:$port; break; }
    sleep 0.05
done
[ -n "$api" ] || { echo "response.sh: daemon did not start" >&2; cat "$work/daemon.err" >&2; exit 1; }
for _ in $(seq 300); do
    a=$(curl -s "http://$api/metrics" | sed -n 's/^xdrflow_assigned_partitions //p')
    [ "${a:-0}" = "$((2 * parts))" ] && break
    sleep 0.1
done

bg_line=
if [ "$rate" -gt 0 ]; then
    echo "== background: $rate events/s for $seconds s into bench.bg" >&2
    "$build/bench/xf-bench-kafka" latency --brokers "$bs" --topic bench.bg --partitions "$parts" \
        --api "$api" --rate "$rate" --seconds "$seconds" --timeout 30 "$bg_file" \
        >"$work/bg.out" 2>"$work/bg.err" &
    bg_pid=$!
    pids="$bg_pid $pids"
    sleep 10 # warm-up: the daemon is under load before the first trigger
fi

echo "== $count triggered incidents, one every $interval s, into bench.trg" >&2
trg_line=$(python3 "$root/bench/response_trigger.py" --xdrflow "$xdrflow" --template "$template" \
    --brokers "$bs" --topic bench.trg --api "$api" --receiver "$rport" --count "$count" \
    --interval "$interval" || true)
m=$(curl -s "http://$api/metrics" |
    sed -n 's/^xdrflow_\(records_in_total\|consumer_lag\|response_actions_pending\) \(.*\)/\1=\2/p' |
    tr '\n' ' ')
lag=$(curl -s "http://$api/metrics" | awk '/^xdrflow_consumer_lag/ { s += $2 } END { print s + 0 }')
if [ -n "${bg_pid:-}" ]; then
    wait "$bg_pid" || true
    bg_line=$(cat "$work/bg.out")
fi
confirmed=$(grep -c '"confirmed"' "$work/audit.log" 2>/dev/null || true)
dl=$(curl -s "http://127.0.0.1:$rport/_ctl/deliveries" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["new"]), sum(d["duplicates"].values()), len(d["bad_signature"]))')

get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
echo
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $parts partitions"
echo "background: target $rate events/s for $seconds s; sent $(get "$bg_line" rate)/s;" \
    "consumer lag at the end of the triggers: $lag records; $m"
echo "triggered incidents: $(get "$trg_line" incidents), isolations measured" \
    "$(get "$trg_line" measured), missing $(get "$trg_line" missing), isolated before their" \
    "trigger $(get "$trg_line" before_trigger) (trigger = record $(get "$trg_line" trigger_index) of the chain)"
echo "trigger -> isolation request at the receiver: p50 $(get "$trg_line" p50_ms) ms," \
    "p90 $(get "$trg_line" p90_ms) ms, p99 $(get "$trg_line" p99_ms) ms," \
    "max $(get "$trg_line" max_ms) ms, min $(get "$trg_line" min_ms) ms (target p99 < 1000 ms)"
echo "receiver: $(echo "$dl" | cut -d' ' -f1) deliveries (all incidents), duplicates" \
    "$(echo "$dl" | cut -d' ' -f2), bad signatures $(echo "$dl" | cut -d' ' -f3);" \
    "audit lines with confirmed: $confirmed; daemon peak RSS" \
    "$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$daemon_pid/status") MB"
