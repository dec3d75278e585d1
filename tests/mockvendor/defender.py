"""Mock Microsoft Defender for Endpoint (machine isolation) for server.py.

Entra ID: POST /{tenant}/oauth2/v2.0/token (form grant_type=client_credentials, client_id,
client_secret, scope=https://api.securitycenter.microsoft.com/.default) -> access_token,
expires_in 3599 (tests point login_url and base_url at this one server).
Machines: GET /api/machines?$filter=computerDnsName eq '<host>' -> {"value":[machine]}.
Actions: POST /api/machines/{id}/isolate {"Comment","IsolationType"} and .../unisolate
{"Comment"} -> 201 MachineAction (status Pending); GET /api/machineactions/{id} moves it
Pending -> InProgress -> Succeeded over `pending_polls` reads, and only then is the machine
(un)isolated. A second request of the same type while one is Pending/InProgress -> 400
ActiveRequestAlreadyExists "Action is already in progress". GET /api/machineactions?$filter=
machineId eq '<id>' and type eq 'Isolate' lists actions. More than `rate_per_min` API calls in
60 s -> 429 with Retry-After (the documented limit is 100/min).

POST /_mock/state accepts {"machines": {host: id}, "isolated": [host], "pending_polls": n,
"rate_per_min": n, "fail_next": "Failed"|"TimeOut"|"Cancelled", "expire_tokens": true}.
"""

import hashlib
import re
import secrets
import time
import uuid

SCOPE = "https://api.securitycenter.microsoft.com/.default"


def mid_of(host):
    return hashlib.sha1(host.lower().encode()).hexdigest()


def init(state):
    state["tenant"] = "tenant-1"
    state["client_id"] = "df-client"
    state["client_secret"] = "df-secret"
    state["tokens"] = {}
    state["pending_polls"] = 2
    state["rate_per_min"] = 100
    state["calls"] = []
    state["fail_next"] = None
    state["machines"] = {}
    state["actions"] = {}
    for h in ("ws-01", "ws-02", "ws-03", "srv-01", "dc-01"):
        add_machine(state, h, mid_of(h))


def add_machine(state, host, mid):
    state["machines"][mid] = {"id": mid, "computerDnsName": host, "isolated": False}


def configure(state, obj):
    for h, mid in obj.get("machines", {}).items():
        add_machine(state, h, mid)
    for h in obj.get("isolated", []):
        for m in state["machines"].values():
            if m["computerDnsName"].lower() == h.lower():
                m["isolated"] = True
    for k in ("pending_polls", "rate_per_min", "fail_next", "tenant", "client_id",
              "client_secret"):
        if k in obj:
            state[k] = obj[k]
    if obj.get("expire_tokens"):
        state["tokens"].clear()


def view(state):
    return {"isolated": sorted(m["computerDnsName"] for m in state["machines"].values()
                               if m["isolated"]),
            "actions": {a["id"]: a["status"] for a in state["actions"].values()},
            "tokens": len(state["tokens"])}


def error(status, code, message):
    return status, {}, {"error": {"code": code, "message": message, "target": str(uuid.uuid4())}}


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".%06dZ" % (
        int(time.time() * 1e6) % 1000000)


def advance(state, act):
    if act["status"] not in ("Pending", "InProgress"):
        return
    act["left"] -= 1
    if act["left"] > 0:
        act["status"] = "InProgress"
        return
    act["status"] = act.pop("ends_as", "Succeeded")
    act["lastUpdateDateTimeUtc"] = now_iso()
    if act["status"] == "Succeeded":
        state["machines"][act["machineId"]]["isolated"] = act["type"] == "Isolate"


def public(act):
    return {k: v for k, v in act.items() if k not in ("left", "ends_as")}


def handle(req, state):
    m = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", req.path)
    if m and req.method == "POST":
        f = req.form
        if (m.group(1) != state["tenant"] or f.get("grant_type") != "client_credentials" or
                f.get("client_id") != state["client_id"] or
                f.get("client_secret") != state["client_secret"] or f.get("scope") != SCOPE):
            return 401, {}, {"error": "invalid_client",
                             "error_description": "AADSTS7000215: Invalid client secret"}
        tok = secrets.token_hex(32)
        state["tokens"][tok] = True
        return 200, {}, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                         "access_token": tok}

    auth = req.headers.get("authorization", "")
    if not auth.startswith("Bearer ") or auth[7:] not in state["tokens"]:
        return error(401, "Unauthorized", "Authorization token is missing or invalid")

    now = time.monotonic()
    state["calls"] = [t for t in state["calls"] if t > now - 60]
    if len(state["calls"]) >= state["rate_per_min"]:
        wait = int(state["calls"][0] + 60 - now) + 1
        return 429, {"Retry-After": str(wait)}, {"error": {"code": "TooManyRequests",
                                                           "message": "Rate limit exceeded"}}
    state["calls"].append(now)

    if req.path == "/api/machines" and req.method == "GET":
        m = re.fullmatch(r"computerDnsName eq '((?:[^']|'')*)'", req.query.get("$filter", ""))
        if not m:
            return error(400, "InvalidRequest", "unsupported filter")
        host = m.group(1).replace("''", "'").lower()
        return 200, {}, {"value": [{"id": x["id"], "computerDnsName": x["computerDnsName"]}
                                   for x in state["machines"].values()
                                   if x["computerDnsName"].lower() == host]}

    m = re.fullmatch(r"/api/machines/([^/]+)/(isolate|unisolate)", req.path)
    if m and req.method == "POST":
        mach = state["machines"].get(m.group(1))
        if not mach:
            return error(404, "ResourceNotFound", "Machine was not found")
        body = req.json if isinstance(req.json, dict) else {}
        if not body.get("Comment"):
            return error(400, "InvalidRequestBody", "Comment is required")
        typ = "Isolate" if m.group(2) == "isolate" else "Unisolate"
        scope = body.get("IsolationType", "Full")
        if typ == "Isolate" and scope not in ("Full", "Selective", "UnManagedDevice"):
            return error(400, "InvalidRequestBody", "bad IsolationType")
        for a in state["actions"].values():
            if (a["machineId"] == mach["id"] and a["type"] == typ and
                    a["status"] in ("Pending", "InProgress")):
                return error(400, "ActiveRequestAlreadyExists", "Action is already in progress")
        act = {"id": str(uuid.uuid4()), "type": typ, "scope": scope if typ == "Isolate" else None,
               "requestor": "xdrflow-app", "requestorComment": body["Comment"],
               "status": "Pending", "machineId": mach["id"],
               "computerDnsName": mach["computerDnsName"], "creationDateTimeUtc": now_iso(),
               "lastUpdateDateTimeUtc": now_iso(), "relatedFileInfo": None,
               "left": max(1, state["pending_polls"])}
        if state["fail_next"]:
            act["ends_as"] = state["fail_next"]
            state["fail_next"] = None
        state["actions"][act["id"]] = act
        return 201, {}, public(act)

    m = re.fullmatch(r"/api/machineactions/([^/]+)", req.path)
    if m and req.method == "GET":
        act = state["actions"].get(m.group(1))
        if not act:
            return error(404, "ResourceNotFound", "Machine action was not found")
        advance(state, act)
        return 200, {}, public(act)

    if req.path == "/api/machineactions" and req.method == "GET":
        m = re.fullmatch(r"machineId eq '([^']*)'(?: and type eq '(\w+)')?",
                         req.query.get("$filter", ""))
        if not m:
            return error(400, "InvalidRequest", "unsupported filter")
        return 200, {}, {"value": [public(a) for a in state["actions"].values()
                                   if a["machineId"] == m.group(1) and
                                   (not m.group(2) or a["type"] == m.group(2))]}

    return error(404, "ResourceNotFound", "no such endpoint")
