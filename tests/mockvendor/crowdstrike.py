"""Mock CrowdStrike Falcon (host containment) for server.py.

OAuth2: POST /oauth2/token (form client_id, client_secret) -> {"access_token","expires_in":1799}.
Devices: GET /devices/queries/devices/v1?filter=hostname:'<host>' -> resources [aid];
GET /devices/entities/devices/v2?ids=<aid> -> resources [{device_id, hostname, status}].
Actions: POST /devices/entities/devices-actions/v2?action_name=contain|lift_containment
{"ids":[aid]} -> 202 envelope; the device is `containment_pending` for `pending_polls` status
reads, then `contained` (and `lift_containment_pending` then `normal` for a lift). Containing
a contained or pending host, or lifting a normal one, answers 409 "already" (mock choice: the
real answer is not documented). Every answer carries X-Ratelimit-Limit / -Remaining.

POST /_mock/state accepts {"devices": {host: aid}, "contained": [host], "pending_polls": n,
"expire_tokens": true, "client_id": s, "client_secret": s}.
"""

import hashlib
import re
import secrets


def aid_of(host):
    return hashlib.md5(host.lower().encode()).hexdigest()


def init(state):
    state["client_id"] = "cs-client"
    state["client_secret"] = "cs-secret"
    state["tokens"] = {}
    state["pending_polls"] = 2
    state["devices"] = {}
    for h in ("ws-01", "ws-02", "ws-03", "srv-01", "dc-01"):
        add_device(state, h, aid_of(h))


def add_device(state, host, aid):
    state["devices"][aid] = {"device_id": aid, "hostname": host, "status": "normal", "left": 0}


def configure(state, obj):
    for h, aid in obj.get("devices", {}).items():
        add_device(state, h, aid)
    for h in obj.get("contained", []):
        for d in state["devices"].values():
            if d["hostname"].lower() == h.lower():
                d["status"] = "contained"
    for k in ("pending_polls", "client_id", "client_secret"):
        if k in obj:
            state[k] = obj[k]
    if obj.get("expire_tokens"):
        state["tokens"].clear()


def view(state):
    return {"isolated": sorted(d["hostname"] for d in state["devices"].values()
                               if d["status"] == "contained"),
            "devices": {d["hostname"]: d["status"] for d in state["devices"].values()},
            "tokens": len(state["tokens"])}


def envelope(resources=None, errors=None, code=200):
    return code, {"X-Ratelimit-Limit": "6000", "X-Ratelimit-Remaining": "5999"}, {
        "meta": {"query_time": 0.01, "trace_id": secrets.token_hex(8)},
        "resources": resources or [], "errors": errors or []}


def error(code, message):
    return envelope(errors=[{"code": code, "message": message}], code=code)


def handle(req, state):
    if req.path == "/oauth2/token" and req.method == "POST":
        if (req.form.get("client_id") != state["client_id"] or
                req.form.get("client_secret") != state["client_secret"]):
            return error(403, "access denied, invalid client")
        tok = secrets.token_hex(24)
        state["tokens"][tok] = True
        return 201, {}, {"access_token": tok, "token_type": "bearer", "expires_in": 1799}

    auth = req.headers.get("authorization", "")
    if not auth.startswith("Bearer ") or auth[7:] not in state["tokens"]:
        return error(401, "access denied, authorization failed")

    if req.path == "/devices/queries/devices/v1" and req.method == "GET":
        m = re.fullmatch(r"hostname:'((?:[^'\\]|\\.)*)'", req.query.get("filter", ""))
        if not m:
            return error(400, "invalid filter")
        host = re.sub(r"\\(.)", r"\1", m.group(1))
        return envelope([d["device_id"] for d in state["devices"].values()
                         if d["hostname"].lower() == host.lower()])

    if req.path == "/devices/entities/devices/v2" and req.method == "GET":
        d = state["devices"].get(req.query.get("ids", ""))
        if not d:
            return envelope()
        if d["left"] > 0:
            d["left"] -= 1
            if d["left"] == 0:
                d["status"] = {"containment_pending": "contained",
                               "lift_containment_pending": "normal"}.get(d["status"],
                                                                         d["status"])
        return envelope([{"device_id": d["device_id"], "hostname": d["hostname"],
                          "status": d["status"]}])

    if req.path == "/devices/entities/devices-actions/v2" and req.method == "POST":
        action = req.query.get("action_name")
        ids = (req.json or {}).get("ids") if isinstance(req.json, dict) else None
        if action not in ("contain", "lift_containment") or not ids:
            return error(400, "invalid action or ids")
        res, errs = [], []
        for aid in ids:
            d = state["devices"].get(aid)
            if not d:
                errs.append({"code": 404, "message": "device not found: " + aid})
                continue
            if action == "contain":
                if d["status"] in ("contained", "containment_pending"):
                    return error(409, "Host is already contained or containment is pending")
                d["status"] = "containment_pending"
            else:
                if d["status"] in ("normal", "lift_containment_pending"):
                    return error(409, "Host is already not contained")
                d["status"] = "lift_containment_pending"
            d["left"] = max(1, state["pending_polls"])
            res.append({"id": aid, "path": "/devices/entities/devices/v2?ids=" + aid})
        return envelope(res, errs, 202 if res else 404)

    return error(404, "no such endpoint")
