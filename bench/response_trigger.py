#!/usr/bin/env python3
"""response_trigger.py - the measuring half of bench/response.sh (trigger-to-isolation latency).

    response_trigger.py --xdrflow BIN --template ECS.jsonl --brokers B --topic T
                        --api HOST:PORT --receiver PORT [--count 24] [--interval 2.5]
                        [--min-severity critical]

Builds --count distinct attack chains from the Emotet-like chains xf-gen-workload wrote in
ECS (--template), each moved to a host of its own (trg-NNNN.bench.example) with fresh hashes,
GUIDs, IPs, domains and event ids, so no chain joins another or the background. It finds, by
replaying growing prefixes of one chain offline (`xdrflow replay --format json`), the first
record that takes the incident to --min-severity: the trigger. For each chain it then sends the
records before the trigger (kcat, keyed by host, linger 0), waits interval/2 so they are
correlated and durable (the incident exists, below the threshold), stamps CLOCK_MONOTONIC and
sends the trigger.

Each step goes through a kcat of its own whose stdin is closed right after the step's records:
kcat 1.7 reads its input with fread() in 128-byte pieces, so on an open pipe a record's last
bytes wait until 128 more bytes (the next step's records) or EOF arrive. One long-lived kcat
made every trigger wait for the next chain (the ~1 s "floor" of the first measurements, which
followed --interval). The kcat for a step is started one step ahead, so its connection and
metadata are ready before the stamp.

webhook_receiver.py stamps each delivery's arrival with CLOCK_MONOTONIC too (the same clock
on one machine), so latency = arrival of the chain host's isolate minus the trigger's send:
Kafka, decode, correlation, the durable checkpoint, policy, the outbox's synced writes and the
HTTP request, all included.

Event time: each chain is stamped near the background's current event time (xf-gen-workload's
base + records consumed so far x its 7.2 ms step, read from the daemon's
xdrflow_records_in_total), so the watermark neither evicts it nor is pushed ahead by it.

Prints one line: key=value pairs (incidents, measured, missing, p50_ms, p90_ms, p99_ms, max_ms,
trigger_index).
"""
import argparse
import calendar
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

BASE_MS = 1795165200000  # xf-gen-workload's first event time
STEP_MS = 7.2            # its event-time step per record
SEVERITY = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def templates(path, count):
    """The first `count` chains of the ECS file: a chain opens with the gateway's mail record
    and is its next 13 records (xf-gen-workload writes a chain as one block)."""
    chains, lines = [], []
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for i, line in enumerate(lines):
        if '"category":["email"]' in line:
            chains.append([json.loads(x) for x in lines[i:i + 14]])
            if len(chains) == count:
                break
    return chains


def rewrite(chain, idx, rng):
    """The chain moved to host trg-<idx>, with its identifiers made unique."""
    maps = {}

    def fresh(kind, old, make):
        return maps.setdefault((kind, old), make())

    subs = [
        (re.compile(r"\b[0-9a-f]{64}\b"), lambda m: fresh("sha", m.group(0),
                                                          lambda: "%064x" % rng.getrandbits(256))),
        (re.compile(r"\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}"),
         lambda m: fresh("guid", m.group(0), lambda: "{%08X-%04X-%04X-%04X-%012X}" % (
             rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(16),
             rng.getrandbits(48)))),
        (re.compile(r"\bws-\d{5}\b"), lambda m: f"trg-{idx:04d}"),
        (re.compile(r"corp\.example"), lambda m: "bench.example"),
        (re.compile(r"\buser\d{5}\b"), lambda m: f"trguser{idx:04d}"),
        (re.compile(r"shop-\d+"), lambda m: f"shop-trg{idx}"),
        (re.compile(r"partner-\d+"), lambda m: f"partner-trg{idx}"),
        (re.compile(r"\b(?:198\.51\.100|203\.0\.113|10\.1\.\d+)\.\d+\b"),
         lambda m: fresh("ip", m.group(0), lambda: "100.%d.%d.%d" % (
             64 + idx // 250, idx % 250, len([k for k in maps if k[0] == "ip"]) + 1))),
    ]

    def walk(v):
        if isinstance(v, str):
            for rx, fn in subs:
                v = rx.sub(fn, v)
            return v
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return v

    out = []
    for k, rec in enumerate(chain):
        rec = walk(rec)
        rec["event"]["id"] = f"trg-{idx:04d}-{k:02d}"
        out.append(rec)
    return out


def parse_ms(ts):
    t = time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")
    ms = int(ts[20:23]) if len(ts) > 20 else 0
    return calendar.timegm(t) * 1000 + ms


def fmt_ms(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def restamp(chain, base_ms):
    """Keeps the chain's own spacing, starting at base_ms."""
    first = parse_ms(chain[0]["@timestamp"])
    for rec in chain:
        rec["@timestamp"] = fmt_ms(base_ms + parse_ms(rec["@timestamp"]) - first)


def host_of(chain):
    for rec in chain:
        name = rec.get("host", {}).get("name", "")
        if name.startswith("trg-"):
            return name
    return ""


def find_trigger(xdrflow, chain, min_sev):
    """Index of the first record after which the chain's incident reaches min_sev."""
    with tempfile.TemporaryDirectory(prefix="xf-trg-") as d:
        for k in range(1, len(chain) + 1):
            path = os.path.join(d, "p.jsonl")
            with open(path, "w", encoding="utf-8") as f:
                f.writelines(json.dumps(r) + "\n" for r in chain[:k])
            out = subprocess.run([xdrflow, "replay", "-q", "--format", "json", path],
                                 capture_output=True, text=True, check=True).stdout
            for line in out.splitlines():
                if SEVERITY.get(json.loads(line)["severity"], -1) >= min_sev:
                    return k - 1
    raise SystemExit("response_trigger: no prefix of the chain reaches the threshold")


def records_in(api):
    try:
        with urllib.request.urlopen(f"http://{api}/metrics", timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("xdrflow_records_in_total "):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def deliveries(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_ctl/deliveries", timeout=5) as r:
        return json.loads(r.read())


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xdrflow", required=True)
    ap.add_argument("--template", required=True)
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--api", required=True)
    ap.add_argument("--receiver", type=int, required=True)
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--interval", type=float, default=2.5)
    ap.add_argument("--min-severity", default="critical")
    ap.add_argument("--wait", type=float, default=60.0)
    a = ap.parse_args()

    rng = random.Random(4)
    chains = [rewrite(c, i, rng) for i, c in enumerate(templates(a.template, a.count))]
    if len(chains) < a.count:
        raise SystemExit(f"response_trigger: only {len(chains)} chains in {a.template}")
    k = find_trigger(a.xdrflow, chains[0], SEVERITY[a.min_severity])

    def kcat():
        return subprocess.Popen(["kcat", "-P", "-b", a.brokers, "-t", a.topic, "-K", "\t",
                                 "-X", "linger.ms=0", "-X", "enable.sparse.connections=false"],
                                stdin=subprocess.PIPE, text=True)

    sent, running = {}, []
    spare = kcat()
    time.sleep(1.0)  # the first spare connects and learns the topic

    def send(lines):
        """Hands lines to the spare kcat and closes its stdin (EOF: nothing waits for more
        input); a new spare starts connecting for the next step."""
        nonlocal spare
        spare.stdin.write("".join(lines))
        spare.stdin.close()
        running.append(spare)
        spare = kcat()

    for chain in chains:
        host = host_of(chain)
        restamp(chain, int(BASE_MS + records_in(a.api) * STEP_MS) - 60000)
        send([host + "\t" + json.dumps(rec) + "\n" for rec in chain[:k]])
        time.sleep(a.interval / 2)
        line = host + "\t" + json.dumps(chain[k]) + "\n"
        sent[host] = time.monotonic()
        send([line])
        time.sleep(a.interval / 2)
    spare.stdin.close()
    running.append(spare)
    for p in running:
        if p.wait(30) != 0:
            raise SystemExit(f"response_trigger: kcat exited with {p.returncode}")

    lat, early = {}, 0
    end = time.time() + a.wait
    while time.time() < end:
        for dl in deliveries(a.receiver)["new"]:
            body = dl.get("body") or {}
            host = body.get("host", "")
            if body.get("type") == "isolate" and host in sent and host not in lat:
                lat[host] = (dl["arrival_mono"] - sent[host]) * 1000.0
        if len(lat) == len(sent):
            break
        time.sleep(0.5)
    early = sum(1 for v in lat.values() if v < 0)  # isolated before the trigger: a bad trigger
    xs = list(lat.values())
    print(f"incidents={len(sent)} measured={len(xs)} missing={len(sent) - len(xs)} "
          f"before_trigger={early} trigger_index={k} "
          f"p50_ms={pct(xs, 50):.1f} p90_ms={pct(xs, 90):.1f} p99_ms={pct(xs, 99):.1f} "
          f"max_ms={max(xs) if xs else float('nan'):.1f} "
          f"min_ms={min(xs) if xs else float('nan'):.1f}")
    return 0 if xs else 1


if __name__ == "__main__":
    sys.exit(main())
