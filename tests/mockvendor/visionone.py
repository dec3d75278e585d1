"""Mock Trend Micro Vision One (API v3.0 endpoint isolation) for server.py.

Auth: `Authorization: Bearer <token>` (state "token", default "v1-token"); a request body must be
`Content-Type: application/json` (charset allowed), else 400.

POST /v3.0/response/endpoints/isolate | restore with a JSON array of {"agentGuid" |
"endpointName", "description"} answers 207 Multi-Status, one entry per input:
  {"status": 202, "headers": [{"name": "Operation-Location", "value": "<base>/v3.0/response/
   tasks/<id>"}]}  - a task was created;
  {"status": 400, "body": {"error": {"code": "BadRequest", "message": "Endpoint is already
   isolated"}}}    - mock choice for an endpoint already isolated (or with a task pending);
   "already restored" for a restore of a connected endpoint (the real answer is not documented);
  {"status": 404, "body": {"error": {"code": "NotFound", ...}}} - unknown endpoint.
GET /v3.0/response/tasks/<id> -> {"id", "action", "agentGuid", "status"}: the task is "queued"
for the first read, "running" until `pending_polls` reads were made, then "succeeded" (and the
endpoint's isolation changes then), or "failed" when `fail_tasks` was set.

POST /_mock/state accepts {"endpoints": {host: guid}, "isolated": [host], "pending_polls": n,
"fail_tasks": n, "token": s}.
"""

import hashlib


def guid_of(host):
    h = hashlib.md5(host.lower().encode()).hexdigest()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:32])


def init(state):
    state["token"] = "v1-token"
    state["pending_polls"] = 2
    state["fail_tasks"] = 0
    state["endpoints"] = {}  # guid -> {"guid", "name", "isolated", "busy"}
    state["tasks"] = {}
    state["next_task"] = 1
    for h in ("ws-01", "ws-02", "ws-03", "srv-01", "dc-01"):
        add_endpoint(state, h, guid_of(h))


def add_endpoint(state, host, guid):
    state["endpoints"][guid] = {"guid": guid, "name": host, "isolated": False, "busy": False}


def configure(state, obj):
    for h, g in obj.get("endpoints", {}).items():
        add_endpoint(state, h, g)
    for h in obj.get("isolated", []):
        for e in state["endpoints"].values():
            if e["name"].lower() == h.lower():
                e["isolated"] = True
    for k in ("pending_polls", "fail_tasks", "token"):
        if k in obj:
            state[k] = obj[k]


def view(state):
    return {"isolated": sorted(e["name"] for e in state["endpoints"].values() if e["isolated"]),
            "tasks": {k: t["status"] for k, t in state["tasks"].items()}}


def error(status, code, message):
    return status, {}, {"error": {"code": code, "message": message}}


def find(state, item):
    if not isinstance(item, dict):
        return None
    if "agentGuid" in item:
        return state["endpoints"].get(item["agentGuid"])
    name = str(item.get("endpointName", "")).lower()
    for e in state["endpoints"].values():
        if e["name"].lower() == name:
            return e
    return None


def entry_error(status, code, message):
    return {"status": status, "body": {"error": {"code": code, "message": message}}}


def handle(req, state):
    if req.headers.get("authorization") != "Bearer " + state["token"]:
        return error(401, "Unauthorized", "Invalid API key")

    if req.method == "POST" and req.path in ("/v3.0/response/endpoints/isolate",
                                             "/v3.0/response/endpoints/restore"):
        if not req.headers.get("content-type", "").startswith("application/json"):
            return error(400, "BadRequest", "Content-Type must be application/json")
        if not isinstance(req.json, list) or not req.json:
            return error(400, "BadRequest", "The request body must be a non-empty JSON array")
        isolate = req.path.endswith("/isolate")
        base = "http://" + req.headers.get("host", "127.0.0.1")
        out = []
        for item in req.json:
            e = find(state, item)
            if e is None:
                out.append(entry_error(404, "NotFound", "Endpoint not found"))
            elif isolate and (e["isolated"] or e["busy"]):
                out.append(entry_error(400, "BadRequest", "Endpoint is already isolated"))
            elif not isolate and (not e["isolated"] or e["busy"]):
                out.append(entry_error(400, "BadRequest", "Endpoint is already restored"))
            else:
                tid = "%08d" % state["next_task"]
                state["next_task"] += 1
                fail = state["fail_tasks"] > 0
                if fail:
                    state["fail_tasks"] -= 1
                e["busy"] = True
                state["tasks"][tid] = {"id": tid, "guid": e["guid"], "isolate": isolate,
                                       "status": "queued", "reads": 0, "fail": fail}
                out.append({"status": 202, "headers": [
                    {"name": "Operation-Location",
                     "value": base + "/v3.0/response/tasks/" + tid}]})
        return 207, {}, out

    if req.method == "GET" and req.path.startswith("/v3.0/response/tasks/"):
        t = state["tasks"].get(req.path.rsplit("/", 1)[1])
        if t is None:
            return error(404, "NotFound", "Task not found")
        t["reads"] += 1
        if t["status"] in ("queued", "running"):
            if t["reads"] == 1:
                t["status"] = "queued"
            elif t["reads"] <= state["pending_polls"]:
                t["status"] = "running"
            else:
                e = state["endpoints"][t["guid"]]
                e["busy"] = False
                if t["fail"]:
                    t["status"] = "failed"
                else:
                    t["status"] = "succeeded"
                    e["isolated"] = t["isolate"]
        return 200, {}, {"id": t["id"], "action": "isolate" if t["isolate"] else "restore",
                         "agentGuid": t["guid"], "status": t["status"]}

    return error(404, "NotFound", "No such endpoint")
