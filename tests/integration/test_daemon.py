"""The daemon as real processes: `xdrflow devbroker` + `xdrflow run` + kcat / `xdrflow produce`.

Every test starts its own broker and daemons on loopback, stops them itself, and is bounded in
time. The scenario is small (about 1.6 MB over several partitions), well under the devbroker's
~5 MiB-per-partition retention. Correlation lateness is raised to 48 h in these configs:
the consumer reads partitions in whatever interleaving the broker serves, and with the
default 10 min lateness a partition read far ahead of another may evict a partner before it
arrives (docs/operations.md explains this); with enough lateness the graph must equal replay's
exactly.
"""
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import xftest  # noqa: E402

EXPECT_RECORDS = sum(1 for line in open(xftest.SCENARIO, encoding="utf-8") if line.strip())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class DevBroker:
    def __init__(self, partitions=3, brokers=1):
        self.p = subprocess.Popen(
            [xftest.XDRFLOW, "devbroker", "--partitions", str(partitions), "--brokers",
             str(brokers)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        line = self.p.stdout.readline()
        m = re.match(r"bootstrap: (\S+)", line)
        if not m:
            self.stop()
            raise AssertionError(f"devbroker said {line!r}")
        self.addr = m.group(1)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class Daemon:
    def __init__(self, tmp, broker, db, name="d", group="xdrflow", extra_yaml="",
                 kafka_props=None, lateness="48h"):
        self.port = free_port()
        self.cfg = os.path.join(tmp, f"{name}.yaml")
        props = ", ".join(f'{k}: "{v}"' for k, v in (kafka_props or {}).items())
        with open(self.cfg, "w", encoding="utf-8") as f:
            f.write((f"correlation: {{lateness: {lateness}}}\n" if lateness else "") +
                    f"kafka: {{group: {group}, properties: {{{props}}}}}\n"
                    "log: {level: info}\n" + extra_yaml)
        self.log = open(os.path.join(tmp, f"{name}.log"), "a", encoding="utf-8")
        self.p = subprocess.Popen(
            [xftest.XDRFLOW, "run", "-c", self.cfg, "--brokers", broker.addr, "--db", db,
             "--api", f"127.0.0.1:{self.port}"], stdout=self.log, stderr=self.log)
        self.logpath = self.log.name

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return None, ""

    def metrics(self):
        status, body = self.get("/metrics")
        out = {}
        if status != 200:
            return out
        for line in body.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
        return out

    def metric_sum(self, prefix):
        return sum(v for k, v in self.metrics().items() if k.startswith(prefix) and v > 0)

    def committed(self):
        return int(self.metric_sum("xdrflow_committed_offset{"))

    def term(self, timeout=60):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout)
        self.log.close()
        return rc

    def kill9(self):
        self.p.kill()
        self.p.wait()
        self.log.close()

    def logtext(self):
        with open(self.logpath, encoding="utf-8") as f:
            return f.read()


def replay_json():
    return xftest.run("replay", "--format", "json", xftest.SCENARIO).stdout


def incidents_json(db):
    return xftest.run("incidents", "list", "--db", db, "--format", "json").stdout


def produce_scenario(broker, topic="xdr.endpoint"):
    xftest.run("produce", "--brokers", broker.addr, "--topic", topic, xftest.SCENARIO)


def lines_by_host(tmp):
    """Writes the scenario's records of each host (its Kafka key) to a file of their own;
    returns (host, path, count) per host."""
    out = xftest.run("decode", xftest.SCENARIO).stdout
    with open(xftest.SCENARIO, encoding="utf-8") as f:
        lines = f.readlines()
    groups = {}
    for ev in map(json.loads, out.splitlines()):
        line = int(ev["where"].rsplit(":", 1)[1])
        groups.setdefault(ev["fields"].get("Hostname", ""), []).append(lines[line - 1])
    result = []
    for i, (host, recs) in enumerate(sorted(groups.items())):
        path = os.path.join(tmp, f"host{i}.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(recs)
        result.append((host, path, len(recs)))
    assert sum(n for _, _, n in result) == EXPECT_RECORDS
    return result


def ecs_process(eid, t_ms, host, guid, image, cmd, pguid, pimage):
    """One Sysmon-style process start in ECS, as Winlogbeat ships it."""
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_ms // 1000)) + f".{t_ms % 1000:03d}Z"
    return json.dumps({
        "@timestamp": ts,
        "event": {"id": eid, "kind": "event", "category": ["process"], "type": ["start"],
                  "code": "1", "provider": "Microsoft-Windows-Sysmon", "module": "sysmon"},
        "host": {"name": host, "hostname": host.split(".")[0]},
        "process": {"entity_id": guid, "executable": image, "name": image.rsplit("\\", 1)[-1],
                    "command_line": cmd,
                    "parent": {"entity_id": pguid, "executable": pimage,
                               "name": pimage.rsplit("\\", 1)[-1]}},
        "user": {"name": "alice", "domain": "CORP"}}) + "\n"


def all_events_stored(db):
    """Replaying the input into the db finds every record already there."""
    err = xftest.run("replay", "--db", db, xftest.SCENARIO).stderr
    m = re.search(r"(\d+) duplicates", err)
    return m and int(m.group(1)) == EXPECT_RECORDS


class DaemonTest(unittest.TestCase):
    def setUp(self):
        self.tmp = xftest.tempdir()
        self.dir = self.tmp.name
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if isinstance(p, Daemon) and p.p.poll() is None:
                p.kill9()
            elif isinstance(p, DevBroker):
                p.stop()
        self.tmp.cleanup()

    def broker(self, **kw):
        b = DevBroker(**kw)
        self.procs.append(b)
        return b

    def daemon(self, broker, db, **kw):
        d = Daemon(self.dir, broker, db, **kw)
        self.procs.append(d)
        return d

    def test_kcat_produced_input_gives_the_incidents_of_replay(self):
        b = self.broker(partitions=3)
        subprocess.run(["kcat", "-P", "-b", b.addr, "-t", "xdr.endpoint", "-l", xftest.SCENARIO],
                       check=True, timeout=60)
        db = os.path.join(self.dir, "db")
        d = self.daemon(b, db)
        wait_for(lambda: d.committed() == EXPECT_RECORDS, 60, "all offsets committed")
        status, body = d.get("/readyz")
        self.assertEqual((status, json.loads(body)), (200, {"status": "ready"}))
        self.assertEqual(d.get("/healthz"), (200, '{"status":"ok"}'))
        # the process as Prometheus clients export it, and which thread used the CPU
        m = d.metrics()
        self.assertGreater(m["process_resident_memory_bytes"], 1e6)
        self.assertGreater(m["process_open_fds"], 3)
        self.assertGreater(m["process_cpu_seconds_total"], 0)
        for t in ("xf-input", "xf-decode", "xf-writer"):
            self.assertIn(f'xdrflow_thread_cpu_seconds_total{{thread="{t}"}}', m)
        self.assertEqual(d.term(), 0)
        self.assertEqual(incidents_json(db), replay_json())

    def test_kill9_five_times_during_ingest_loses_and_duplicates_nothing(self):
        b = self.broker(partitions=4)
        produce_scenario(b)
        db = os.path.join(self.dir, "db")
        rnd = random.Random(int(os.environ.get("XF_TEST_SEED", "3")))
        for i in range(6):
            d = self.daemon(b, db, name=f"k{i}")
            # first wait until it consumes, then kill at a random point of the ingest
            wait_for(lambda: d.metrics() or d.p.poll() is not None, 30, "metrics")
            time.sleep(rnd.uniform(0.0, 1.5))
            d.kill9()
        d = self.daemon(b, db, name="final")
        wait_for(lambda: d.committed() == EXPECT_RECORDS, 90, "all offsets committed")
        self.assertEqual(d.term(), 0)
        self.assertEqual(incidents_json(db), replay_json())
        self.assertTrue(all_events_stored(db))

    def test_broker_down_ten_seconds_then_up_loses_nothing_and_lag_recovers(self):
        b = self.broker(partitions=3)
        db = os.path.join(self.dir, "db")
        d = self.daemon(b, db)
        wait_for(lambda: d.get("/readyz")[0] == 200, 30, "ready")
        self.assertEqual(b.cmd("down 1"), "ok down 1")
        prod = subprocess.Popen([xftest.XDRFLOW, "produce", "--brokers", b.addr, "--topic",
                                 "xdr.endpoint", xftest.SCENARIO],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(10)
        self.assertEqual(b.cmd("up 1"), "ok up 1")
        self.assertEqual(prod.wait(120), 0)
        wait_for(lambda: d.committed() == EXPECT_RECORDS, 90, "all offsets committed")
        wait_for(lambda: d.metric_sum("xdrflow_consumer_lag{") == 0, 30, "lag back to 0")
        self.assertEqual(d.term(), 0)
        self.assertEqual(incidents_json(db), replay_json())

    def test_two_instances_split_six_partitions_and_one_takes_over(self):
        b = self.broker(partitions=6)
        db1, db2 = os.path.join(self.dir, "db1"), os.path.join(self.dir, "db2")
        # a dead member's partitions move after session.timeout.ms: keep the takeover short
        fast = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 500}
        d1 = self.daemon(b, db1, name="a", kafka_props=fast)
        d2 = self.daemon(b, db2, name="b", kafka_props=fast)

        def split():
            m1, m2 = d1.metrics(), d2.metrics()
            a1 = m1.get("xdrflow_assigned_partitions", 0)
            a2 = m2.get("xdrflow_assigned_partitions", 0)
            return a1 > 0 and a2 > 0 and a1 + a2 == 4 * 6
        wait_for(split, 60, "the partitions split between two instances")
        # half the input before the kill, half after: what arrives on the dead member's
        # partitions afterwards can only be read by the survivor
        with open(xftest.SCENARIO, encoding="utf-8") as f:
            lines = [line for line in f if line.strip()]
        halves = []
        for i, part in enumerate((lines[:len(lines) // 2], lines[len(lines) // 2:])):
            halves.append(os.path.join(self.dir, f"half{i}.jsonl"))
            with open(halves[-1], "w", encoding="utf-8") as f:
                f.writelines(part)
        xftest.run("produce", "--brokers", b.addr, "--topic", "xdr.endpoint", halves[0])
        wait_for(lambda: d1.committed() + d2.committed() > 0, 30, "progress")
        lag_of = 'xdrflow_consumer_lag{topic="xdr.endpoint",partition="'
        d1_parts = {k[len(lag_of):-2] for k in d1.metrics() if k.startswith(lag_of)}
        self.assertTrue(d1_parts)
        d1.kill9()
        xftest.run("produce", "--brokers", b.addr, "--topic", "xdr.endpoint", halves[1])
        wait_for(lambda: d2.metrics().get("xdrflow_assigned_partitions") == 24, 90,
                 "the survivor takes every partition")
        def caught_up():
            m = d2.metrics()
            lags = [v for k, v in m.items()
                    if k.startswith('xdrflow_consumer_lag{topic="xdr.endpoint"')]
            return len(lags) == 6 and all(v == 0 for v in lags)
        try:
            wait_for(caught_up, 90, "the survivor caught up on every partition")
        except AssertionError:
            print(d2.get("/metrics")[1], file=sys.stderr)
            raise
        # the lag counts from the position (records handed over), the commit follows once
        # they are durable: under load that is a moment later, so wait for it
        def took_over():
            m = d2.metrics()
            return [p for p in d1_parts if m.get(
                f'xdrflow_committed_offset{{topic="xdr.endpoint",partition="{p}"}}', -1) > 0]
        wait_for(took_over, 30, "the survivor commits on the dead member's partitions")
        self.assertEqual(d2.term(), 0)
        self.assertTrue(incidents_json(db2).strip(), "the survivor built no incident")
        # No record lost, checked per host. A host's records sit on one partition in order;
        # the dead member stored a prefix of them (at least up to what it committed) and the
        # survivor read on from the committed offset, so together they hold all of them
        # unless something was skipped. Incidents are not compared: the dead member's
        # correlation state stays in its own store (docs/operations.md), so an incident that
        # spans the kill is split between the stores.
        copies = []
        for db in (db1, db2):
            copies.append(db + ".copy")
            shutil.copytree(db, copies[-1])
        for host, path, n in lines_by_host(self.dir):
            # replaying a host's records into a copy finds those already stored; the copy
            # stores the rest, which no other host's check counts
            held = sum(int(re.search(r"(\d+) duplicates",
                                     xftest.run("replay", "--db", c, path).stderr).group(1))
                       for c in copies)
            self.assertGreaterEqual(held, n, f"records of {host} missing from both stores")

    def test_a_partition_behind_another_keeps_its_joins_at_default_lateness(self):
        """Partition 0 delivers a Word process, partition 1 then runs 3 h of event time ahead
        (a backlog elsewhere), then partition 0 delivers the PowerShell that Word spawned. The
        watermark follows the slowest partition, so Word is still in memory and the incident
        holds its event; one global watermark (max time seen - 10 min) had evicted it."""
        b = self.broker(partitions=2)
        t0 = 1795251600000  # 2026-11-21T09:00:00Z
        word, explorer = ("C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
                          "C:\\Windows\\explorer.exe")
        ps = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
        files = {}
        for name, recs in {
            "slow1": [ecs_process("word-ev", t0, "ws-slow.corp.example", "{11111111-0000-0000-0000-000000000001}",
                                  word, "WINWORD.EXE /n invoice.docm",
                                  "{11111111-0000-0000-0000-000000000000}", explorer)],
            "fast": [ecs_process(f"bg-{i}", t0 + i * 10000, "ws-fast.corp.example",
                                 f"{{22222222-0000-0000-0000-{i:012d}}}", "C:\\Tools\\agent.exe",
                                 "agent.exe --poll", "{22222222-0000-0000-0000-999999999999}",
                                 "C:\\Windows\\System32\\services.exe") for i in range(1100)],
            "slow2": [ecs_process("ps-ev", t0 + 300000, "ws-slow.corp.example",
                                  "{11111111-0000-0000-0000-000000000002}", ps,
                                  "powershell.exe -nop -w hidden -enc SQBFAFgA",
                                  "{11111111-0000-0000-0000-000000000001}", word)],
        }.items():
            files[name] = os.path.join(self.dir, f"{name}.jsonl")
            with open(files[name], "w", encoding="utf-8") as f:
                f.writelines(recs)
        db = os.path.join(self.dir, "db")
        d = self.daemon(b, db, lateness=None)
        total = 0
        for name, part, n in (("slow1", 0, 1), ("fast", 1, 1100), ("slow2", 0, 1)):
            subprocess.run(["kcat", "-P", "-b", b.addr, "-t", "xdr.endpoint", "-p", str(part),
                            "-l", files[name]], check=True, timeout=60)
            total += n
            wait_for(lambda: d.committed() == total, 60, f"{name} committed")
        m = d.metrics()
        self.assertEqual(m.get("xdrflow_correlation_partitions"), 2)
        self.assertEqual(m.get("xdrflow_correlation_partitions_active"), 2)
        # the slow partition is further behind than max_partition_skew (1 h): the watermark is
        # the newest time (t0 + 10,990 s) - 1 h - the 10 min lateness, still before Word
        self.assertEqual(m.get("xdrflow_correlation_watermark_seconds"),
                         (t0 + 10990000 - 3600000 - 600000) / 1000)
        self.assertEqual(d.term(), 0)
        incs = [json.loads(line) for line in incidents_json(db).splitlines()]
        with_ps = [i for i in incs if '"ps-ev"' in json.dumps(i)]
        self.assertEqual(len(with_ps), 1, incs)
        self.assertIn('"word-ev"', json.dumps(with_ps[0]))

    def test_partitions_read_one_after_another_give_the_incidents_of_replay(self):
        # Whole partitions delivered one after another (2, then 0, then 1), each durable before
        # the next, at the default 10 min lateness: the daemon checkpoints (and computes
        # incidents) between them. Partition 1 holds the mail gateway, whose delivery records
        # link the phishing attachment's hash to both recipients only at the end; that must
        # still merge the two hosts' parts into replay's one incident (it used not to: the
        # new link touched no incident member, and nothing recomputed).
        b = self.broker(partitions=3)
        produce_scenario(b)
        parts = {}
        for p in range(3):
            out = subprocess.run(["kcat", "-C", "-b", b.addr, "-t", "xdr.endpoint", "-p", str(p),
                                  "-e", "-q", "-f", "%s\n"], capture_output=True, text=True,
                                 timeout=60, check=True).stdout
            parts[p] = [line + "\n" for line in out.splitlines() if line.strip()]
        self.assertEqual(sum(map(len, parts.values())), EXPECT_RECORDS)
        self.assertTrue(all(parts.values()), "every partition holds records")
        b2 = self.broker(partitions=3)
        db = os.path.join(self.dir, "db")
        d = self.daemon(b2, db, lateness=None)
        done = 0
        for p in (2, 0, 1):
            path = os.path.join(self.dir, f"p{p}.jsonl")
            with open(path, "w", encoding="utf-8") as f:
                f.writelines(parts[p])
            xftest.run("produce", "--brokers", b2.addr, "--topic", "xdr.endpoint", "-p", str(p),
                       path)
            done += len(parts[p])
            wait_for(lambda: d.committed() == done, 60, f"partition {p} committed")
        self.assertEqual(d.term(), 0)
        got = [json.loads(line) for line in incidents_json(db).splitlines() if line.strip()]
        want = [json.loads(line) for line in replay_json().splitlines() if line.strip()]
        self.assertEqual(len(want), 1)
        self.assertEqual(got, want)

    def test_malformed_records_go_to_the_dead_letter_topic_with_a_reason(self):
        b = self.broker(partitions=1)
        db = os.path.join(self.dir, "db")
        d = self.daemon(b, db)
        bad = os.path.join(self.dir, "bad.jsonl")
        with open(bad, "w", encoding="utf-8") as f:
            f.write('{"truncated\n')
            with open(xftest.SCENARIO, encoding="utf-8") as src:
                f.write(src.readline())
            f.write('[1,2,3]\n')
        subprocess.run(["kcat", "-P", "-b", b.addr, "-t", "xdr.endpoint", "-l", bad],
                       check=True, timeout=60)
        wait_for(lambda: d.committed() == 3, 60, "three offsets committed")
        m = d.metrics()
        self.assertEqual(m["xdrflow_dead_letters_total"], 2)
        self.assertEqual(m["xdrflow_decode_errors_total"], 2)
        self.assertEqual(d.get("/healthz")[0], 200)
        out = subprocess.run(["kcat", "-C", "-b", b.addr, "-t", "xdr.deadletter", "-J", "-e",
                              "-q"], capture_output=True, text=True, check=True, timeout=60)
        recs = [json.loads(line) for line in out.stdout.splitlines()]
        self.assertEqual([r["payload"] for r in recs], ['{"truncated', "[1,2,3]"])
        for r, off in zip(recs, ("0", "2")):
            h = dict(zip(r["headers"][0::2], r["headers"][1::2]))
            self.assertTrue(h["xdrflow-error"])
            self.assertEqual(h["xdrflow-source-topic"], "xdr.endpoint")
            self.assertEqual(h["xdrflow-source-partition"], "0")
            self.assertEqual(h["xdrflow-source-offset"], off)
        self.assertEqual(d.term(), 0)

    def test_sighup_keeps_old_rules_on_a_broken_file_and_loads_a_good_one(self):
        b = self.broker(partitions=1)
        rules = os.path.join(self.dir, "rules")
        os.mkdir(rules)
        good = ("title: Test rule\nid: 00000000-0000-4000-8000-000000000001\nlevel: high\n"
                "logsource: {category: process_creation, product: windows}\n"
                "detection:\n  sel: {Image|endswith: '\\\\evil.exe'}\n  condition: sel\n")
        with open(os.path.join(rules, "a.yml"), "w", encoding="utf-8") as f:
            f.write(good)
        db = os.path.join(self.dir, "db")
        d = self.daemon(b, db, extra_yaml=f"rules: {{paths: [{rules}]}}\n")
        wait_for(lambda: d.metrics().get("xdrflow_rules_loaded") == 1, 30, "one rule loaded")
        with open(os.path.join(rules, "b.yml"), "w", encoding="utf-8") as f:
            f.write("title: broken\ndetection: [\n")
        d.p.send_signal(signal.SIGHUP)
        wait_for(lambda: d.metrics().get("xdrflow_rule_reload_failures_total") == 1, 30,
                 "a failed reload")
        self.assertEqual(d.metrics()["xdrflow_rules_loaded"], 1)
        self.assertIn("b.yml", d.logtext())
        with open(os.path.join(rules, "b.yml"), "w", encoding="utf-8") as f:
            f.write(good.replace("000000000001", "000000000002").replace("evil", "worse"))
        d.p.send_signal(signal.SIGHUP)
        wait_for(lambda: d.metrics().get("xdrflow_rules_loaded") == 2, 30, "two rules loaded")
        self.assertEqual(d.metrics()["xdrflow_rule_reloads_total"], 1)
        self.assertEqual(d.term(), 0)

    def test_check_config_reports_file_and_line(self):
        cfg = os.path.join(self.dir, "x.yaml")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write("kafka:\n  brokerz: a\n")
        p = xftest.run("run", "-c", cfg, "--check-config", check=False)
        self.assertEqual((p.returncode, p.stderr), (1, f"{cfg}:2: unknown key 'kafka.brokerz'\n"))
        with open(cfg, "w", encoding="utf-8") as f:
            f.write("kafka:\n  brokers: a:1\n")
        p = xftest.run("run", "-c", cfg, "--check-config")
        self.assertEqual(p.stdout, "config OK\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
