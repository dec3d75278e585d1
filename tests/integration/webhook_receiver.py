"""A Standard Webhooks receiver for the integration tests and the response benchmark.

    python3 webhook_receiver.py (--secret S | --secret-env VAR) [--port 0] [--hang-seconds 30]

Prints "PORT <n>" on stdout (flushed) once listening. Every POST to a path that does not start
with /_ctl is a delivery: its signature is checked here, independently of xdrflow, with
Python's hmac/hashlib/base64 (signed content "<webhook-id>.<webhook-timestamp>.<body>",
HMAC-SHA256, key = base64-decoded secret after "whsec_", or the raw secret without that
prefix; header "webhook-signature: v1,<base64>" possibly several, space separated; timestamp
within 5 minutes).

It behaves like a receiver that honours the idempotency key: the first valid delivery of a
webhook-id is "new" (processed), any later one with the same id is a "duplicate" (answered 200
and counted, not processed again). A delivery answered with an injected failure (429, 500,
close) is "rejected" and not processed, so the sender must deliver it again.

Control endpoints (JSON):
  POST /_ctl/fault {"mode": "429"|"500"|"hang"|"close", "count": N, "retry_after": S}
      the next N deliveries get that answer (then 200 again). "hang" processes the delivery
      (records it as new or duplicate) and then holds the answer for --hang-seconds or until
      /_ctl/unhang: the sender sees no answer, as when a receiver is slow or the sender dies
      between "received" and "answered".
  POST /_ctl/unhang   releases every held answer
  POST /_ctl/clear    drops the faults not used yet (answers are 200 again)
  GET  /_ctl/deliveries
      {"new": [...], "duplicates": {id: count}, "rejected": [...], "bad_signature": [...],
       "hanging": n}; each delivery: id, timestamp, path, arrival (time.time()), arrival_mono
      (time.monotonic(), CLOCK_MONOTONIC: comparable with another process on this machine),
      body (parsed JSON or null), answer (the status sent, 0 for close/hang).
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_S = 300


def signing_key(secret):
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):])
    return secret.encode()


def verify(key, msg_id, ts, body, sig_header):
    """True when one of the v1 signatures in sig_header is HMAC-SHA256(key, id.ts.body)."""
    if not msg_id or not ts or not sig_header:
        return False
    try:
        if abs(time.time() - int(ts)) > TOLERANCE_S:
            return False
    except ValueError:
        return False
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    expect = base64.b64encode(mac).decode()
    for part in sig_header.split():
        version, _, sig = part.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expect):
            return True
    return False


class State:
    def __init__(self, key, hang_seconds):
        self.key = key
        self.hang_seconds = hang_seconds
        self.lock = threading.Lock()
        self.new = []
        self.seen = set()
        self.duplicates = {}
        self.rejected = []
        self.bad_signature = []
        self.faults = []  # [mode, remaining, retry_after]
        self.hanging = 0
        self.unhang = threading.Event()

    def take_fault(self):
        with self.lock:
            while self.faults and self.faults[0][1] <= 0:
                self.faults.pop(0)
            if not self.faults:
                return None, 0
            self.faults[0][1] -= 1
            return self.faults[0][0], self.faults[0][2]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "xf-webhook-receiver"

    def log_message(self, *args):
        pass

    def reply(self, status, obj=None, headers=None):
        data = json.dumps(obj if obj is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        st = self.server.state
        if self.path == "/_ctl/deliveries":
            with st.lock:
                out = {"new": list(st.new), "duplicates": dict(st.duplicates),
                       "rejected": list(st.rejected), "bad_signature": list(st.bad_signature),
                       "hanging": st.hanging}
            self.reply(200, out)
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        st = self.server.state
        body = self.read_body()
        if self.path == "/_ctl/fault":
            f = json.loads(body or b"{}")
            with st.lock:
                st.faults.append([str(f.get("mode", "500")), int(f.get("count", 1)),
                                  int(f.get("retry_after", 0))])
            self.reply(200, {"ok": True})
            return
        if self.path == "/_ctl/clear":
            with st.lock:
                st.faults.clear()
            self.reply(200, {"ok": True})
            return
        if self.path == "/_ctl/unhang":
            with st.lock:  # a fresh event, so a later hang holds again
                old, st.unhang = st.unhang, threading.Event()
            old.set()
            self.reply(200, {"ok": True})
            return
        self.delivery(st, body)

    def delivery(self, st, body):
        arrival, arrival_mono = time.time(), time.monotonic()
        msg_id = self.headers.get("webhook-id", "")
        ts = self.headers.get("webhook-timestamp", "")
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        rec = {"id": msg_id, "timestamp": ts, "path": self.path, "arrival": arrival,
               "arrival_mono": arrival_mono, "body": parsed, "answer": 200}
        if not verify(st.key, msg_id, ts, body, self.headers.get("webhook-signature", "")):
            rec["answer"] = 401
            with st.lock:
                st.bad_signature.append(rec)
            self.reply(401, {"error": "bad signature"})
            return
        mode, retry_after = st.take_fault()
        if mode in ("429", "500", "close"):
            rec["answer"] = 0 if mode == "close" else int(mode)
            with st.lock:
                st.rejected.append(rec)
            if mode == "close":
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
                return
            self.reply(int(mode), {"error": "injected"},
                       {"Retry-After": str(retry_after)} if retry_after else None)
            return
        if mode == "hang":
            rec["answer"] = 0
        with st.lock:
            if msg_id in st.seen:
                st.duplicates[msg_id] = st.duplicates.get(msg_id, 0) + 1
            else:
                st.seen.add(msg_id)
                st.new.append(rec)
            if mode == "hang":
                st.hanging += 1
                unhang = st.unhang
        if mode == "hang":
            unhang.wait(st.hang_seconds)
            with st.lock:
                st.hanging -= 1
            self.close_connection = True
            return  # no answer at all: the sender times out or is gone
        self.reply(200, {"ok": True})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--secret")
    ap.add_argument("--secret-env")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--hang-seconds", type=float, default=30.0)
    a = ap.parse_args()
    secret = a.secret if a.secret else os.environ.get(a.secret_env or "", "")
    if not secret:
        ap.error("a secret is needed (--secret or --secret-env)")
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.state = State(signing_key(secret), a.hang_seconds)
    print(f"PORT {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
