"""Mock receiver for the generic webhook connector (Standard Webhooks).

Verifies every delivery's signature with Python's own hmac (an implementation independent of
xdrflow's), as a receiver must: base64 HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>"
with the key decoded from "whsec_<base64>" (or the raw secret without that prefix), a timestamp
within 5 minutes. A bad signature is 401. A delivery is deduplicated by webhook-id, as the
spec asks receivers to do: the first one acts (an isolate marks the host isolated, a release
clears it), a repeat answers 200 and changes nothing.

Configure the secret with POST /_mock/state {"secret": "whsec_..."}; none: signatures are not
checked. GET /_mock/state: {"isolated": [...], "deliveries": {id: times received},
"bad_signatures": n, "notified": [incident ids]}.
"""

import base64
import hashlib
import hmac
import time


def init(state):
    state["secret"] = None
    state["deliveries"] = {}
    state["isolated"] = set()
    state["notified"] = []
    state["bad_signatures"] = 0


def configure(state, obj):
    if "secret" in obj:
        state["secret"] = obj["secret"]


def view(state):
    return {"isolated": sorted(state["isolated"]), "deliveries": dict(state["deliveries"]),
            "bad_signatures": state["bad_signatures"], "notified": list(state["notified"])}


def key_bytes(secret):
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):])
    return secret.encode()


def signature_ok(req, secret):
    wid = req.headers.get("webhook-id", "")
    ts = req.headers.get("webhook-timestamp", "")
    sigs = req.headers.get("webhook-signature", "")
    try:
        if abs(time.time() - int(ts)) > 300:
            return False
    except ValueError:
        return False
    msg = wid.encode() + b"." + ts.encode() + b"." + req.body
    want = base64.b64encode(hmac.new(key_bytes(secret), msg, hashlib.sha256).digest()).decode()
    for s in sigs.split(" "):
        version, _, value = s.partition(",")
        if version == "v1" and hmac.compare_digest(value, want):
            return True
    return False


def handle(req, state):
    if req.method != "POST":
        return 405, {}, {"error": "POST only"}
    if state["secret"] and not signature_ok(req, state["secret"]):
        state["bad_signatures"] += 1
        return 401, {}, {"error": "bad signature"}
    wid = req.headers.get("webhook-id", "")
    if not wid:
        return 400, {}, {"error": "no webhook-id"}
    seen = wid in state["deliveries"]
    state["deliveries"][wid] = state["deliveries"].get(wid, 0) + 1
    if seen:
        return 200, {}, {"ok": True, "duplicate": True}
    body = req.json or {}
    kind = body.get("type")
    if kind == "isolate":
        state["isolated"].add(body.get("host"))
    elif kind == "release":
        state["isolated"].discard(body.get("host"))
    elif "id" in body:
        state["notified"].append(body["id"])
    return 200, {}, {"ok": True}
