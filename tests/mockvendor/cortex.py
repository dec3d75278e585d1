"""Mock Palo Alto Cortex XDR (public API v1 endpoint isolation) for server.py.

Auth, either kind on every request:
  standard  Authorization: <key>, x-xdr-auth-id: <key_id>
  advanced  x-xdr-auth-id, x-xdr-nonce, x-xdr-timestamp (ms) and
            Authorization: hex(sha256(key + nonce + timestamp))
else 401 {"reply": {"err_code": 401, "err_msg": "Public API request unauthorized"}}.
State "key" (default "cx-key") and "key_id" (default "7"); "require": "advanced" refuses
standard keys.

POST /public_api/v1/endpoints/get_endpoint {"request_data": {"filters": [{"field":
"endpoint_id_list" | "hostname", "operator": "in", "value": [...]}]}} -> {"reply":
{"total_count", "result_count", "endpoints": [{"endpoint_id", "endpoint_name",
"endpoint_status": "CONNECTED", "is_isolated": "AGENT_ISOLATED" | "AGENT_UNISOLATED" |
"AGENT_PENDING_ISOLATION" | "AGENT_PENDING_ISOLATION_CANCELLATION"}]}}.
POST /public_api/v1/endpoints/isolate | unisolate {"request_data": {"endpoint_id": id}} ->
{"reply": {"action_id": n, "status": 1, "endpoints_count": 1}}; for an endpoint already in
(or pending towards) the wanted state, or unknown, the real API's HTTP 500 "No endpoint was
found for creating the requested action ... can't create group action id for ISOLATE".
POST /public_api/v1/actions/get_action_status {"request_data": {"group_action_id": n}} ->
{"reply": {"data": {endpoint_id: status}}}: PENDING on the first read, IN_PROGRESS until
`pending_polls` reads, then COMPLETED_SUCCESSFULLY (the isolation changes then), or FAILED when
`fail_actions` was set. These strings are the mock's; the reference marks them unverified.

POST /_mock/state accepts {"endpoints": {host: id}, "isolated": [host], "pending_polls": n,
"fail_actions": n, "key": s, "key_id": s, "require": "advanced" | None}.
"""

import hashlib


def id_of(host):
    return hashlib.md5(host.lower().encode()).hexdigest()


def init(state):
    state["key"] = "cx-key"
    state["key_id"] = "7"
    state["require"] = None
    state["pending_polls"] = 2
    state["fail_actions"] = 0
    state["endpoints"] = {}
    state["actions"] = {}
    state["next_action"] = 100
    state["auth_seen"] = []
    for h in ("ws-01", "ws-02", "ws-03", "srv-01", "dc-01"):
        add_endpoint(state, h, id_of(h))


def add_endpoint(state, host, eid):
    state["endpoints"][eid] = {"endpoint_id": eid, "endpoint_name": host,
                               "endpoint_status": "CONNECTED", "is_isolated": "AGENT_UNISOLATED"}


def configure(state, obj):
    for h, eid in obj.get("endpoints", {}).items():
        add_endpoint(state, h, eid)
    for h in obj.get("isolated", []):
        for e in state["endpoints"].values():
            if e["endpoint_name"].lower() == h.lower():
                e["is_isolated"] = "AGENT_ISOLATED"
    for k in ("pending_polls", "fail_actions", "key", "key_id", "require"):
        if k in obj:
            state[k] = obj[k]


def view(state):
    return {"isolated": sorted(e["endpoint_name"] for e in state["endpoints"].values()
                               if e["is_isolated"] == "AGENT_ISOLATED"),
            "endpoints": {e["endpoint_name"]: e["is_isolated"]
                          for e in state["endpoints"].values()},
            "auth_seen": state["auth_seen"]}


def fail(status, msg, extra=None):
    return status, {}, {"reply": {"err_code": status, "err_msg": msg, "err_extra": extra}}


def authorized(req, state):
    h = req.headers
    if h.get("x-xdr-auth-id") != state["key_id"]:
        return False
    nonce, ts = h.get("x-xdr-nonce"), h.get("x-xdr-timestamp")
    if nonce is not None or ts is not None:
        if not nonce or not ts or len(nonce) != 64 or not nonce.isalnum() or not ts.isdigit():
            return False
        want = hashlib.sha256((state["key"] + nonce + ts).encode()).hexdigest()
        kind = "advanced"
    else:
        want = state["key"]
        kind = "standard"
    if h.get("authorization") != want or (state["require"] and state["require"] != kind):
        return False
    state["auth_seen"].append(kind)
    return True


def request_data(req):
    if isinstance(req.json, dict) and isinstance(req.json.get("request_data"), dict):
        return req.json["request_data"]
    return None


def handle(req, state):
    if not authorized(req, state):
        return fail(401, "Public API request unauthorized")
    rd = request_data(req)
    if req.method != "POST" or rd is None:
        return fail(400, "Bad request: request_data is required")

    if req.path == "/public_api/v1/endpoints/get_endpoint":
        eps = list(state["endpoints"].values())
        for f in rd.get("filters", []):
            vals = [str(v).lower() for v in f.get("value", [])]
            if f.get("operator") != "in":
                return fail(400, "unsupported operator")
            if f.get("field") == "endpoint_id_list":
                eps = [e for e in eps if e["endpoint_id"].lower() in vals]
            elif f.get("field") == "hostname":
                eps = [e for e in eps if e["endpoint_name"].lower() in vals]
            else:
                return fail(400, "unsupported filter field")
        return 200, {}, {"reply": {"total_count": len(eps), "result_count": len(eps),
                                   "endpoints": [dict(e) for e in eps]}}

    if req.path in ("/public_api/v1/endpoints/isolate", "/public_api/v1/endpoints/unisolate"):
        isolate = req.path.endswith("/isolate")
        e = state["endpoints"].get(rd.get("endpoint_id"))
        done = "AGENT_ISOLATED" if isolate else "AGENT_UNISOLATED"
        if e is None or e["is_isolated"] == done or "PENDING" in e["is_isolated"]:
            return fail(500, "An error occurred while processing XDR public API",
                        "No endpoint was found for creating the requested action, can't "
                        "create group action id for " + ("ISOLATE" if isolate else "UNISOLATE"))
        aid = state["next_action"]
        state["next_action"] += 1
        bad = state["fail_actions"] > 0
        if bad:
            state["fail_actions"] -= 1
        e["is_isolated"] = ("AGENT_PENDING_ISOLATION" if isolate
                            else "AGENT_PENDING_ISOLATION_CANCELLATION")
        state["actions"][aid] = {"eid": e["endpoint_id"], "isolate": isolate, "reads": 0,
                                 "status": "PENDING", "fail": bad}
        return 200, {}, {"reply": {"action_id": aid, "status": 1, "endpoints_count": 1}}

    if req.path == "/public_api/v1/actions/get_action_status":
        a = state["actions"].get(rd.get("group_action_id"))
        if a is None:
            return fail(500, "An error occurred while processing XDR public API",
                        "group action id not found")
        a["reads"] += 1
        if a["status"] in ("PENDING", "IN_PROGRESS"):
            if a["reads"] == 1:
                a["status"] = "PENDING"
            elif a["reads"] <= state["pending_polls"]:
                a["status"] = "IN_PROGRESS"
            else:
                e = state["endpoints"][a["eid"]]
                if a["fail"]:
                    a["status"] = "FAILED"
                    e["is_isolated"] = ("AGENT_UNISOLATED" if a["isolate"]
                                        else "AGENT_ISOLATED")
                else:
                    a["status"] = "COMPLETED_SUCCESSFULLY"
                    e["is_isolated"] = ("AGENT_ISOLATED" if a["isolate"]
                                        else "AGENT_UNISOLATED")
        return 200, {}, {"reply": {"data": {a["eid"]: a["status"]}}}

    return fail(404, "No such API")
