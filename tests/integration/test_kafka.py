"""Kafka wire compatibility and fault injection with real processes: `xdrflow devbroker`,
`xdrflow produce`, kcat (an independent client) and xdrflow's group consumer
(xf-test-kafka-dump). Records must cross in both directions unchanged, keyed by host."""
import collections
import json
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import xftest  # noqa: E402
from kafkatest import DevBroker, KCAT, dump, kcat_consume, kcat_produce  # noqa: E402

LINES = [l.rstrip("\n") for l in open(xftest.SCENARIO, encoding="utf-8") if l.strip()]


def host_of(line):
    return (json.loads(line).get("host") or {}).get("name", "").lower()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(KCAT, "kcat is not installed")
class KafkaTest(unittest.TestCase):
    def assert_keyed_by_host(self, rows):
        """rows: (partition, key, value). Each value once, each host key in one partition, and
        the key is the record's host wherever the record names one (an empty key is spread
        at random, as librdkafka's default partitioner does)."""
        self.assertEqual(sorted(v for _, _, v in rows), sorted(LINES))
        part_of = {}
        for p, k, v in rows:
            if k:
                self.assertEqual(part_of.setdefault(k, p), p, f"key {k} in two partitions")
            if host_of(v):
                self.assertEqual(k, host_of(v))

    def test_devbroker_help_says_development_only_and_5_mib(self):
        out = xftest.run("devbroker", "--help").stdout
        self.assertIn("DEVELOPMENT AND TESTS ONLY", out)
        self.assertIn("5 MiB", out)
        self.assertIn("errors API ERR N", out)

    def test_devbroker_prints_bootstrap_first_and_exits_0_on_sigterm(self):
        b = DevBroker("--brokers", "3", "--partitions", "2")
        addrs = b.bootstrap.split(",")
        self.assertEqual(len(addrs), 3)
        self.assertTrue(all(a.startswith("127.0.0.1:") for a in addrs))
        self.assertEqual(b.control("ping"), "ok ping")
        self.assertTrue(b.control("bogus").startswith("error: unknown command"))
        self.assertEqual(b.control("down 7"), "error: no broker 7")
        rc, err = b.stop()
        self.assertEqual(rc, 0, err)

    def test_xdrflow_produce_is_read_by_kcat_with_host_keys_and_header(self):
        with DevBroker("--partitions", "4") as b:
            p = xftest.run("produce", "--brokers", b.bootstrap, "--topic", "xdr.endpoint",
                           "--content-type", "application/json", xftest.SCENARIO)
            self.assertIn(f"{len(LINES)} record(s) sent to xdr.endpoint, {len(LINES)} "
                          "acknowledged, 0 failed", p.stderr)
            out = kcat_consume(b.bootstrap, "xdr.endpoint", fmt="%p\t%k\t%h\t%s\n")
            rows = []
            for line in out.splitlines():
                part, key, hdrs, value = line.split("\t", 3)
                self.assertEqual(hdrs, "content-type=application/json")
                rows.append((int(part), key, value))
            self.assert_keyed_by_host(rows)

    def test_kcat_produce_is_read_by_the_xdrflow_consumer_which_commits(self):
        with DevBroker("--partitions", "3") as b:
            data = "".join(f"{host_of(l)}\t{l}\n" for l in LINES)
            kcat_produce(b.bootstrap, "xdr.endpoint", data, "-K", "\t",
                         "-H", "content-type=application/x-ndjson")
            rc, out = dump(b.bootstrap, "it", "xdr.endpoint", len(LINES))
            self.assertEqual(rc, 0)
            rows = []
            for line in out:
                part, key, ctype, value = line.split("\t", 3)
                self.assertEqual(ctype, "application/x-ndjson")
                rows.append((int(part), key, value))
            self.assert_keyed_by_host(rows)
            # kcat's partitioner and ours agree: a host's records are in one partition either way
            # and the group committed, so a second run in the same group reads nothing
            rc, out = dump(b.bootstrap, "it", "xdr.endpoint", 1, timeout=8)
            self.assertEqual((rc, out), (1, []))

    def test_produce_waits_out_a_broker_outage_and_loses_nothing(self):
        with DevBroker("--partitions", "2") as b:
            self.assertEqual(b.control("down 1"), "ok down 1")
            prod = subprocess.Popen([xftest.XDRFLOW, "produce", "--brokers", b.bootstrap,
                                     "--topic", "xdr.network", xftest.SCENARIO],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(4)
            self.assertIsNone(prod.poll(), "produce gave up while the broker was down")
            self.assertEqual(b.control("up 1"), "ok up 1")
            _, err = prod.communicate(timeout=120)
            self.assertEqual(prod.returncode, 0, err)
            rows = [l.split("\t", 2) for l in kcat_consume(b.bootstrap, "xdr.network").splitlines()]
            self.assert_keyed_by_host([(int(p), k, v) for p, k, v in rows])

    def test_injected_request_errors_are_retried_without_loss_or_duplicates(self):
        with DevBroker() as b:
            # Produce (API 0) fails 3 times with NOT_LEADER_FOR_PARTITION, Fetch (1) twice
            self.assertEqual(b.control("errors produce 6 3"), "ok errors 0 6 3")
            xftest.run("produce", "--brokers", b.bootstrap, "--topic", "xdr.alerts",
                       xftest.SCENARIO)
            self.assertEqual(b.control("errors fetch 6 2"), "ok errors 1 6 2")
            rc, out = dump(b.bootstrap, "errs", "xdr.alerts", len(LINES))
            self.assertEqual(rc, 0)
            self.assertEqual(collections.Counter(l.split("\t", 3)[3] for l in out),
                             collections.Counter(LINES))

    def test_fixed_port_bootstrap_serves_kcat_and_xdrflow(self):
        port = free_port()
        with DevBroker("--port", str(port), "--partitions", "2") as b:
            self.assertEqual(b.bootstrap, f"127.0.0.1:{port}")
            xftest.run("produce", "--brokers", b.bootstrap, "--topic", "xdr.email",
                       xftest.SCENARIO)
            rows = [l.split("\t", 2) for l in kcat_consume(b.bootstrap, "xdr.email").splitlines()]
            self.assert_keyed_by_host([(int(p), k, v) for p, k, v in rows])

    def test_produce_to_an_unreachable_broker_reports_failures_and_exits_1(self):
        p = xftest.run("produce", "--brokers", f"127.0.0.1:{free_port()}", "--topic", "t",
                       "-X", "message.timeout.ms=2000", xftest.SCENARIO, check=False, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"{len(LINES)} record(s) sent to t, 0 acknowledged, {len(LINES)} failed",
                      p.stderr)

    def test_produce_sends_undecodable_records_with_an_empty_key(self):
        with DevBroker() as b, xftest.tempdir() as d:
            path = os.path.join(d, "bad.jsonl")
            with open(path, "w", encoding="utf-8") as f:
                f.write('{"not":"telemetry"}\n' + LINES[0] + "\n")
            xftest.run("produce", "--brokers", b.bootstrap, "--topic", "xdr.email", path)
            rows = sorted(l.split("\t", 1) for l in
                          kcat_consume(b.bootstrap, "xdr.email", fmt="%k\t%s\n").splitlines())
            self.assertEqual(rows, sorted([["", '{"not":"telemetry"}'],
                                           [host_of(LINES[0]), LINES[0]]]))


if __name__ == "__main__":
    unittest.main()
