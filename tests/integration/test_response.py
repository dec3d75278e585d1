"""Response end to end with real processes: `xdrflow devbroker`, `xdrflow run -c`, the bundled
outbreak sent with `xdrflow produce`, and webhook_receiver.py, which checks every Standard
Webhooks signature with Python's own hmac (independently of xdrflow) and counts deliveries by
webhook-id (= the action id, the idempotency key).

The outbreak's one incident (critical) holds three hosts: fs-01, ws-011 and ws-012.corp.example.
Configs use small backoff and poll settings so retries happen in milliseconds.
"""
import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import xftest  # noqa: E402
from test_daemon import Daemon, DevBroker, produce_scenario, wait_for  # noqa: E402

HOSTS = ["fs-01.corp.example", "ws-011.corp.example", "ws-012.corp.example"]
RECEIVER = os.path.join(os.path.dirname(__file__), "webhook_receiver.py")
T_RESPOND = "XF_IT_TOKEN_SOAR"
T_READ = "XF_IT_TOKEN_VIEWER"
T_SECRET = "XF_IT_WEBHOOK_SECRET"


class Receiver:
    def __init__(self, hang_seconds=30):
        self.p = subprocess.Popen(
            [sys.executable, RECEIVER, "--secret-env", T_SECRET, "--hang-seconds",
             str(hang_seconds)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise AssertionError(f"webhook_receiver said {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                     method=method)
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def fault(self, mode, count=1, retry_after=0):
        self._call("POST", "/_ctl/fault", {"mode": mode, "count": count,
                                           "retry_after": retry_after})

    def clear(self):
        self._call("POST", "/_ctl/clear", {})

    def unhang(self):
        self._call("POST", "/_ctl/unhang", {})

    def deliveries(self):
        return self._call("GET", "/_ctl/deliveries")

    def new(self, kind=None):
        """Deliveries processed (first of their webhook-id), optionally of one kind."""
        return [d for d in self.deliveries()["new"]
                if kind is None or (d["body"] or {}).get("type") == kind]

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            self.p.wait(10)


def api(port, method, path, token=None, body=None, raw=None, headers=None):
    """(status, parsed JSON or text, headers) of one API request."""
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        h.setdefault("Content-Type", "application/json")
    if method == "POST" and data is None:
        data = b""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, text, hdrs = r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        status, text, hdrs = e.code, e.read().decode(), e.headers
    try:
        return status, json.loads(text), hdrs
    except ValueError:
        return status, text, hdrs


def big_post(port, path, token, size):
    """POSTs a JSON body of size bytes over a raw socket: the server may answer 413 and close
    before the body is sent, which urllib reports as a broken pipe instead of the answer."""
    body = b'{"reason":"' + b"x" * size + b'"}'
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        try:
            s.sendall(body)
        except OSError:
            pass
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")


def response_yaml(receiver, mode="auto", protected=None, extra="", max_attempts=3,
                  min_severity="high"):
    prot = ", ".join(f'"{p}"' for p in (protected or []))
    return ("api:\n"
            "  tokens:\n"
            f"    - {{name: soar, role: respond, token_env: {T_RESPOND}}}\n"
            f"    - {{name: viewer, role: read, token_env: {T_READ}}}\n"
            "response:\n"
            f"  mode: {mode}\n"
            f"  min_severity: {min_severity}\n"
            f"  protected_hosts: [{prot}]\n"
            "  notify_incidents: false\n"
            "  max_actions_per_min: 600\n"
            "  burst: 50\n"
            f"  max_attempts: {max_attempts}\n"
            "  backoff_base_ms: 50\n"
            "  backoff_max_ms: 400\n"
            "  poll_interval_ms: 50\n"
            "  timeout_ms: 1500\n"
            + extra +
            "  connectors:\n"
            f"    - {{name: hook, type: webhook, url: \"{receiver.url}\", "
            f"secret_env: {T_SECRET}}}\n")


class ResponseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ[T_RESPOND] = "respond-" + secrets.token_hex(16)
        os.environ[T_READ] = "read-" + secrets.token_hex(16)
        os.environ[T_SECRET] = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        cls.respond = os.environ[T_RESPOND]
        cls.read = os.environ[T_READ]

    def setUp(self):
        self.tmp = xftest.tempdir()
        self.dir = self.tmp.name
        self.db = os.path.join(self.dir, "db")
        self.procs = []

    def tearDown(self):
        for p in reversed(self.procs):
            if isinstance(p, Daemon):
                if p.p.poll() is None:
                    p.kill9()
            else:
                p.stop()
        self.tmp.cleanup()

    # ---- helpers ----

    def start(self, mode="auto", protected=None, extra="", hang_seconds=30, max_attempts=3,
              min_severity="high"):
        self.broker = DevBroker(partitions=3)
        self.procs.append(self.broker)
        self.rcv = Receiver(hang_seconds)
        self.procs.append(self.rcv)
        self.yaml = response_yaml(self.rcv, mode, protected,
                                  extra + f"  audit_log: {os.path.join(self.dir, 'audit.log')}\n",
                                  max_attempts, min_severity)
        return self.daemon()

    def daemon(self):
        d = Daemon(self.dir, self.broker, self.db, extra_yaml=self.yaml)
        self.procs.append(d)
        wait_for(lambda: d.get("/healthz")[0] == 200, 60, "the daemon's API")
        self.d = d
        return d

    def actions(self, **filters):
        q = "&".join(f"{k}={v}" for k, v in filters.items())
        status, body, _ = api(self.d.port, "GET", "/api/v1/actions" + (f"?{q}" if q else ""),
                              self.read)
        self.assertEqual(status, 200, body)
        return body["actions"]

    def isolates(self, state=None):
        return [a for a in self.actions() if a["kind"] == "isolate"
                and (state is None or a["state"] == state)]

    def wait_confirmed(self, hosts, timeout=90):
        def done():
            got = {a["host"] for a in self.isolates("confirmed")}
            return got >= set(hosts)
        wait_for(done, timeout, f"isolations of {hosts} confirmed")

    def cli(self, *args, token=None, check=False):
        env = dict(os.environ, XDRFLOW_API=f"http://127.0.0.1:{self.d.port}")
        env.pop("XDRFLOW_TOKEN", None)
        if token:
            env["XDRFLOW_TOKEN"] = token
        return xftest.run(*args, check=check, env=env, timeout=60)

    def audit(self):
        path = os.path.join(self.dir, "audit.log")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def assert_once_each(self, hosts):
        """The receiver processed exactly one isolate per host, each under its action's id,
        and never saw a bad signature."""
        d = self.rcv.deliveries()
        self.assertEqual(d["bad_signature"], [])
        iso = [x for x in d["new"] if (x["body"] or {}).get("type") == "isolate"]
        self.assertEqual(sorted(x["body"]["host"] for x in iso), sorted(hosts))
        by_host = {a["host"]: a["id"] for a in self.isolates("confirmed")}
        self.assertEqual({x["body"]["host"]: x["id"] for x in iso}, by_host)
        return d

    # ---- cases ----

    def test_auto_mode_isolates_each_incident_host_once_with_a_verified_signature(self):
        self.start("auto")
        produce_scenario(self.broker)
        self.wait_confirmed(HOSTS)
        time.sleep(1.0)  # later checkpoints re-hand the incident over: nothing new is planned
        d = self.assert_once_each(HOSTS)
        self.assertEqual(d["duplicates"], {})
        self.assertEqual(len(self.isolates()), 3)
        # the CLI reads the same list
        p = self.cli("actions", "--state", "confirmed", "--format", "json", token=self.read)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sorted(a["host"] for a in json.loads(p.stdout)["actions"]
                                if a["kind"] == "isolate"), HOSTS)
        p = self.cli("actions", token=self.read)
        self.assertEqual(p.returncode, 0, p.stderr)
        for h in HOSTS:
            self.assertRegex(p.stdout, rf"act-[0-9a-f]{{16}} +confirmed +isolate +{h}")
        isolated = [e for e in self.audit() if e.get("event", {}).get("action") == "isolate"]
        self.assertTrue(isolated, "the audit log records the isolations")

    def test_the_record_that_makes_an_incident_critical_isolates_with_no_record_after_it(self):
        # The scenario's first incident is high from record 906 on; record 994 makes it
        # critical. Everything before it goes first and becomes durable (the incident is
        # listed), then record 994 alone, and nothing after it: the isolation must not wait
        # for later records (a partial batch, a checkpoint or a finished commit published only
        # when more input arrives). 10 s is a generous bound for what takes milliseconds.
        self.start("auto", min_severity="critical")
        with open(xftest.SCENARIO, encoding="utf-8") as f:
            lines = f.readlines()
        before, trigger = (os.path.join(self.dir, n) for n in ("before.jsonl", "trigger.jsonl"))
        with open(before, "w", encoding="utf-8") as f:
            f.writelines(lines[:993])
        with open(trigger, "w", encoding="utf-8") as f:
            f.write(lines[993])
        xftest.run("produce", "--brokers", self.broker.addr, "--topic", "xdr.endpoint", before)

        def severities():
            status, body, _ = api(self.d.port, "GET", "/api/v1/incidents", self.read)
            self.assertEqual(status, 200, body)
            return sorted(i["severity"] for i in body["incidents"])
        wait_for(lambda: severities() == ["high", "high"], 60, "two high incidents stored")
        time.sleep(0.5)
        self.assertEqual(self.isolates(), [])
        self.assertEqual(self.rcv.new("isolate"), [])
        xftest.run("produce", "--brokers", self.broker.addr, "--topic", "xdr.endpoint", trigger)
        wait_for(lambda: len(self.rcv.new("isolate")) == 1, 10,
                 "the isolation of the incident made critical by the last record sent")
        host = self.rcv.new("isolate")[0]["body"]["host"]
        self.wait_confirmed([host], timeout=10)
        self.assertEqual([a["host"] for a in self.isolates()], [host])
        self.assertEqual(severities(), ["critical", "high"])
        self.assertEqual(self.d.metric_sum("xdrflow_records_in_total"), 994)

    def test_protected_host_is_never_isolated_even_at_critical(self):
        self.start("auto", protected=["FS-*"])  # case-insensitive glob over fs-01
        produce_scenario(self.broker)
        self.wait_confirmed(HOSTS[1:])
        time.sleep(1.0)
        self.assert_once_each(HOSTS[1:])
        self.assertNotIn(HOSTS[0], {a["host"] for a in self.actions()})
        # asked by hand, it is refused too
        status, body, _ = api(self.d.port, "POST", f"/api/v1/hosts/{HOSTS[0]}/isolate",
                              self.respond)
        self.assertEqual(status, 409, body)
        p = self.cli("isolate", HOSTS[0], token=self.respond)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("refused (409)", p.stderr)
        self.assertNotIn(HOSTS[0], [x["body"]["host"] for x in self.rcv.new()])
        self.assertGreaterEqual(
            self.d.metric_sum("xdrflow_response_protected_blocked"), 1, self.d.get("/metrics"))

    def test_approve_mode_waits_for_an_approval_through_the_api(self):
        self.start("approve")
        produce_scenario(self.broker)
        wait_for(lambda: len(self.isolates("planned")) == 3, 90, "three planned isolations")
        time.sleep(1.0)
        self.assertEqual(self.rcv.new(), [], "nothing is sent before an approval")
        by_host = {a["host"]: a["id"] for a in self.isolates("planned")}
        # the read token may look but not decide
        status, _, _ = api(self.d.port, "POST", f"/api/v1/actions/{by_host[HOSTS[1]]}/approve",
                           self.read)
        self.assertEqual(status, 403)
        status, body, _ = api(self.d.port, "POST",
                              f"/api/v1/actions/{by_host[HOSTS[1]]}/approve", self.respond)
        self.assertIn(status, (200, 202), body)
        p = self.cli("actions", "approve", by_host[HOSTS[2]], token=self.respond)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.cli("actions", "deny", by_host[HOSTS[0]], "--reason", "file server: keep up",
                     token=self.respond)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.wait_confirmed(HOSTS[1:])
        self.assertEqual([a["state"] for a in self.isolates() if a["host"] == HOSTS[0]],
                         ["denied"])
        time.sleep(0.5)
        self.assert_once_each(HOSTS[1:])

    def test_manual_isolate_and_release_need_a_respond_token(self):
        self.start("auto")  # no telemetry: only what is asked by hand
        host = "ws-099.corp.example"
        status, body, _ = api(self.d.port, "POST", f"/api/v1/hosts/{host}/isolate", self.respond,
                              body={"reason": "ticket 4711"})
        self.assertEqual(status, 201, body)
        self.assertEqual((body["kind"], body["host"], body["requested_by"]),
                         ("isolate", host, "soar"))
        wait_for(lambda: any(a["state"] == "confirmed" for a in self.isolates()), 30,
                 "the manual isolation confirmed")
        p = self.cli("release", host, "--reason", "cleaned", token=self.respond)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, rf"release {host}: action act-[0-9a-f]{{16}}")
        wait_for(lambda: [a["state"] for a in self.isolates()] == ["released"], 30,
                 "the isolation marked released")
        kinds = [(x["body"]["type"], x["body"]["host"]) for x in self.rcv.new()]
        self.assertEqual(kinds, [("isolate", host), ("release", host)])
        actors = {e.get("xdrflow", {}).get("actor") for e in self.audit()}
        self.assertIn("soar", actors)

    def test_auth_and_bad_input_get_json_errors_and_the_daemon_keeps_serving(self):
        d = self.start("auto")
        path = "/api/v1/hosts/ws-001.corp.example/isolate"
        status, body, hdrs = api(d.port, "POST", path)
        self.assertEqual(status, 401)
        self.assertIn("Bearer", hdrs.get("WWW-Authenticate", ""))
        self.assertIn("error", body)
        self.assertEqual(api(d.port, "POST", path, "not-a-token")[0], 401)
        self.assertEqual(api(d.port, "GET", "/api/v1/actions", "not-a-token")[0], 401)
        status, body, _ = api(d.port, "POST", path, self.read)
        self.assertEqual(status, 403, body)
        self.assertEqual(api(d.port, "GET", "/api/v1/actions", self.read)[0], 200)
        status, body = big_post(d.port, path, self.respond, 1 << 20)
        self.assertEqual(status, 413, body)
        self.assertIn("error", json.loads(body))
        status, body, _ = api(d.port, "POST", path, self.respond, raw=b'{"reason": ')
        self.assertEqual(status, 400, body)
        self.assertIn("message", body["error"])
        # the CLI says what went wrong, with its exit codes
        p = self.cli("isolate", "ws-001.corp.example")
        self.assertEqual(p.returncode, 3)
        self.assertIn("not authenticated (401)", p.stderr)
        p = self.cli("isolate", "ws-001.corp.example", token=self.read)
        self.assertEqual(p.returncode, 3)
        self.assertIn("not allowed (403)", p.stderr)
        p = xftest.run("actions", "--api", "http://127.0.0.1:1", check=False)
        self.assertEqual(p.returncode, 5)
        self.assertIn("no daemon answered", p.stderr)
        self.assertEqual(d.get("/healthz")[0], 200)
        self.assertEqual(self.rcv.new(), [], "refused requests sent nothing")
        refused = [e for e in self.audit() if e.get("event", {}).get("outcome") in
                   ("failure", "denied", "refused", "unauthorized", "forbidden")]
        self.assertTrue(refused, f"refused requests are audited: {self.audit()}")

    def test_kill9_at_several_points_loses_no_isolation_and_sends_none_twice(self):
        # every interrupted send counts as an attempt: leave room for the four crashes
        d = self.start("auto", hang_seconds=60, max_attempts=10)
        # point 1: the first delivery is received by the receiver, which never answers
        self.rcv.fault("hang", count=1)
        produce_scenario(self.broker)
        wait_for(lambda: self.rcv.deliveries()["hanging"] >= 1, 90, "a hanging delivery")
        d.kill9()
        self.rcv.unhang()
        # point 2: restart; the next delivery hangs too (a re-send or the next host)
        self.rcv.fault("hang", count=1)
        d = self.daemon()
        wait_for(lambda: self.rcv.deliveries()["hanging"] >= 1, 60, "a second hanging delivery")
        d.kill9()
        self.rcv.unhang()
        # point 3: restart while the receiver answers 429 with Retry-After (an action waits
        # in the outbox with a next attempt time) and kill during that wait
        self.rcv.fault("429", count=2, retry_after=2)
        d = self.daemon()
        wait_for(lambda: len(self.rcv.deliveries()["rejected"]) >= 1, 60, "a 429 answer")
        d.kill9()
        # point 4: kill right after start, before the outbox can have been resumed
        d = self.daemon()
        d.kill9()
        d = self.daemon()
        self.wait_confirmed(HOSTS, timeout=120)
        time.sleep(1.0)
        states = sorted((a["host"], a["state"]) for a in self.isolates())
        self.assertEqual(states, [(h, "confirmed") for h in HOSTS])
        dl = self.assert_once_each(HOSTS)
        # re-sends after a crash reuse the action id: counted as duplicates, never as new
        ids = {a["id"] for a in self.isolates()}
        self.assertTrue(set(dl["duplicates"]) <= ids, dl["duplicates"])
        self.assertGreaterEqual(sum(dl["duplicates"].values()), 1,
                                "a delivery that hung before the kill was sent again")
        self.assertEqual(d.term(), 0)

    def test_500s_fail_after_max_attempts_and_429_is_retried_after_its_delay(self):
        d = self.start("auto")
        self.rcv.fault("500", count=100)
        status, body, _ = api(d.port, "POST", "/api/v1/hosts/ws-500.corp.example/isolate",
                              self.respond)
        self.assertEqual(status, 201, body)
        act = body["id"]
        wait_for(lambda: api(d.port, "GET", f"/api/v1/actions/{act}", self.read)[1]
                 .get("state") == "failed", 30, "the action failed")
        a = api(d.port, "GET", f"/api/v1/actions/{act}", self.read)[1]
        self.assertEqual(a["attempts"], 3)
        self.assertIn("500", a["last_error"])
        self.assertEqual([x["id"] for x in self.actions(state="failed")], [act])
        self.assertGreaterEqual(self.d.metric_sum('xdrflow_response_actions_total{state="failed"'),
                                1, self.d.get("/metrics"))
        self.assertEqual(len(self.rcv.deliveries()["rejected"]), 3)
        # 429 with Retry-After: 1 -> the next attempt waits that long, then succeeds
        self.rcv.clear()
        self.rcv.fault("429", count=1, retry_after=1)
        status, body, _ = api(d.port, "POST", "/api/v1/hosts/ws-429.corp.example/isolate",
                              self.respond)
        self.assertEqual(status, 201, body)
        wait_for(lambda: [x["id"] for x in self.rcv.new()] == [body["id"]], 20,
                 "the isolation answered 429 delivered")
        rej = [x for x in self.rcv.deliveries()["rejected"] if x["id"] == body["id"]]
        self.assertEqual([x["answer"] for x in rej], [429])
        self.assertGreaterEqual(self.rcv.new()[0]["arrival"] - rej[0]["arrival"], 0.95)


if __name__ == "__main__":
    unittest.main(verbosity=2)
