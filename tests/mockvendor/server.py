#!/usr/bin/env python3
"""Mock vendor server for the response connectors' tests (Python 3 stdlib only).

    python3 server.py --vendor NAME [--port 0] [--log FILE]

Imports the module NAME from this file's directory, listens on 127.0.0.1 (port 0: any free
port), prints "PORT <n>" on stdout (flushed) once listening, and serves until killed.

Vendor module interface
-----------------------
A vendor module (crowdstrike.py, defender.py, ...) defines:

    def handle(req, state) -> (status, headers, body)

  req     an object with
            .method   "GET", "POST", ...
            .path     the path without the query string ("/api/machines/m1/isolate")
            .raw_path the path as received, with the query string
            .query    dict: name -> first value (URL-decoded); {} when none
            .headers  dict: lower-case name -> value
            .body     bytes (b"" when none)
            .json     the body parsed as JSON, or None (no body, or not JSON)
            .form     the body parsed as application/x-www-form-urlencoded (dict name -> first
                      value), or {} when it is not a form
  state   a dict per server; state["lock"] is a threading.RLock that the server HOLDS while it
          calls handle(), so a module needs no locking of its own. Keep vendor state in it.
  returns status (int), headers (dict name -> value, may be {}), and body: bytes, str, or a
          dict/list (sent as JSON with Content-Type: application/json).

and optionally:

    def init(state)            fill the initial state (also called by POST /_mock/reset)
    def view(state) -> dict    what GET /_mock/state shows; by convention it has
                               "isolated": [host names, sorted] so tests can stay vendor-agnostic.
                               Without view(), every JSON-serialisable entry of state is shown.
    def configure(state, obj)  POST /_mock/state {...}: change vendor state (e.g. pre-isolate a
                               host, set how many polls an action stays pending). Without it,
                               obj is merged into state.

Control endpoints (all vendors; never logged, never faulted)
------------------------------------------------------------
  POST /_mock/fault {"mode": M, "count": N, "retry_after": S, "path": P}
        the next N (default 1) vendor requests whose path starts with P (default: any) get:
          "429"     HTTP 429 with Retry-After: S (default 1)
          "500"     HTTP 500 (any other 3-digit status works too, e.g. "503", "401")
          "hang"    no answer for 30 s, then the normal answer (the client times out first)
          "close"   the socket is dropped without an answer
          "timeout" HTTP 504 Gateway Timeout at once (a vendor gateway giving up)
        Faults queue: posting twice adds a second batch after the first.
  GET  /_mock/requests   every vendor request received so far, as a JSON array
  GET  /_mock/state      the vendor state (see view above)
  POST /_mock/state      change the vendor state (see configure above)
  POST /_mock/reset      forget requests and faults, and init() the state again

Every vendor request (faulted or not) is appended to the in-memory list and, with --log, as one
JSON line {"method","path","headers","body"} to FILE, path including the query string and body
as text.
"""

import argparse
import importlib
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

HANG_SECONDS = 30


class MockServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, vendor, log_path):
        super().__init__(addr, Handler)
        self.vendor = vendor
        self.log_path = log_path
        self.log_lock = threading.Lock()
        self.requests = []
        self.faults = []  # [{"mode", "left", "retry_after", "path"}]
        self.state = {"lock": threading.RLock()}
        self.reset_state()

    def reset_state(self):
        with self.state["lock"]:
            lock = self.state["lock"]
            self.state.clear()
            self.state["lock"] = lock
            if hasattr(self.vendor, "init"):
                self.vendor.init(self.state)

    def record(self, entry):
        with self.log_lock:
            self.requests.append(entry)
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry, sort_keys=True) + "\n")

    def take_fault(self, path):
        with self.log_lock:
            for f in self.faults:
                if path.startswith(f["path"]):
                    f["left"] -= 1
                    if f["left"] <= 0:
                        self.faults.remove(f)
                    return f
        return None

    def state_view(self):
        with self.state["lock"]:
            if hasattr(self.vendor, "view"):
                return self.vendor.view(self.state)
            out = {}
            for k, v in self.state.items():
                try:
                    json.dumps(v)
                    out[k] = v
                except (TypeError, ValueError):
                    pass
            return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "xdrflow-mockvendor"

    def log_message(self, fmt, *args):  # keep stderr quiet; the request log says it all
        pass

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def reply(self, status, headers, body):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        elif body is None:
            body = b""
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def dispatch(self):
        srv = self.server
        body = self.read_body()
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        if path.startswith("/_mock/"):
            self.control(path, body)
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        srv.record({"method": self.command, "path": self.path, "headers": headers,
                    "body": body.decode("utf-8", "replace")})
        try:
            js = json.loads(body) if body else None
        except ValueError:
            js = None
        form = {}
        if "x-www-form-urlencoded" in headers.get("content-type", ""):
            form = {k: v[0] for k, v in
                    urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        query = {k: v[0] for k, v in urllib.parse.parse_qs(split.query).items()}
        req = SimpleNamespace(method=self.command, path=path, raw_path=self.path, query=query,
                              headers=headers, body=body, json=js, form=form)

        fault = srv.take_fault(path)
        if fault:
            mode = fault["mode"]
            if mode == "close":
                self.close_connection = True
                return
            if mode == "timeout":
                self.reply(504, {}, {"error": "gateway timeout (mock fault)"})
                return
            if mode == "hang":
                time.sleep(HANG_SECONDS)
            elif mode.isdigit() and len(mode) == 3:
                hdrs = {}
                if mode == "429":
                    hdrs["Retry-After"] = str(fault["retry_after"])
                self.reply(int(mode), hdrs, {"error": "mock fault " + mode})
                return
        with srv.state["lock"]:
            status, hdrs, out = srv.vendor.handle(req, srv.state)
        self.reply(status, hdrs, out)

    def control(self, path, body):
        srv = self.server
        try:
            obj = json.loads(body) if body else {}
        except ValueError:
            self.reply(400, {}, {"error": "bad JSON"})
            return
        if path == "/_mock/fault" and self.command == "POST":
            mode = str(obj.get("mode", ""))
            if mode not in ("hang", "close", "timeout") and not (mode.isdigit() and
                                                                 len(mode) == 3):
                self.reply(400, {}, {"error": "unknown mode " + mode})
                return
            f = {"mode": mode, "left": int(obj.get("count", 1)),
                 "retry_after": obj.get("retry_after", 1), "path": obj.get("path", "")}
            with srv.log_lock:
                srv.faults.append(f)
            self.reply(200, {}, {"ok": True})
        elif path == "/_mock/requests" and self.command == "GET":
            with srv.log_lock:
                reqs = list(srv.requests)
            self.reply(200, {}, reqs)
        elif path == "/_mock/state" and self.command == "GET":
            self.reply(200, {}, srv.state_view())
        elif path == "/_mock/state" and self.command == "POST":
            with srv.state["lock"]:
                if hasattr(srv.vendor, "configure"):
                    srv.vendor.configure(srv.state, obj)
                else:
                    srv.state.update(obj)
            self.reply(200, {}, srv.state_view())
        elif path == "/_mock/reset" and self.command == "POST":
            with srv.log_lock:
                srv.requests.clear()
                srv.faults.clear()
            srv.reset_state()
            self.reply(200, {}, {"ok": True})
        else:
            self.reply(404, {}, {"error": "no such control endpoint"})


def main():
    ap = argparse.ArgumentParser(description="mock vendor server for connector tests")
    ap.add_argument("--vendor", required=True, help="module name in this directory")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default=None, help="append each request as a JSON line")
    args = ap.parse_args()

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    vendor = importlib.import_module(args.vendor)
    srv = MockServer(("127.0.0.1", args.port), vendor, args.log)
    print("PORT %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
