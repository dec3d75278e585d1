"""Mock SentinelOne management console (network quarantine) for server.py.

Auth: header "Authorization: ApiToken <token>" (token "s1-token" unless configured).
Agents: GET /web/api/v2.1/agents?ids=<id>[,<id>] or ?computerName=<name> -> {"data":[agent],
"pagination":{...}}, agent = {id, computerName, networkStatus}.
Actions: POST /web/api/v2.1/agents/actions/disconnect|connect {"filter":{...},"data":{}} ->
{"data":{"affected":N}}, N = the agents the filter matches, as the real console does: an
EMPTY filter matches EVERY agent (the hazard the connector must never trigger; the mock counts
such requests in "broad_filters"). The agent is `disconnecting` for `pending_polls` reads of
it, then `disconnected` (`connecting` then `connected` for connect).

POST /_mock/state accepts {"agents": {host: id}, "disconnected": [host], "pending_polls": n,
"token": s, "affected_override": n (the next action answers this count)}.
"""

import re

API = "/web/api/v2.1"


def init(state):
    state["token"] = "s1-token"
    state["pending_polls"] = 2
    state["agents"] = {}
    state["broad_filters"] = 0
    state["affected_override"] = None
    for i, h in enumerate(("ws-01", "ws-02", "ws-03", "srv-01", "dc-01")):
        add_agent(state, h, str(1200000000000000000 + i))


def add_agent(state, host, aid):
    state["agents"][aid] = {"id": aid, "computerName": host, "networkStatus": "connected",
                            "left": 0}


def configure(state, obj):
    for h, aid in obj.get("agents", {}).items():
        add_agent(state, h, aid)
    for h in obj.get("disconnected", []):
        for a in state["agents"].values():
            if a["computerName"].lower() == h.lower():
                a["networkStatus"] = "disconnected"
    for k in ("pending_polls", "token", "affected_override"):
        if k in obj:
            state[k] = obj[k]


def view(state):
    return {"isolated": sorted(a["computerName"] for a in state["agents"].values()
                               if a["networkStatus"] == "disconnected"),
            "agents": {a["computerName"]: a["networkStatus"] for a in state["agents"].values()},
            "broad_filters": state["broad_filters"]}


def public(a):
    return {"id": a["id"], "computerName": a["computerName"], "networkStatus": a["networkStatus"],
            "isActive": True}


def read(a):
    if a["left"] > 0:
        a["left"] -= 1
        if a["left"] == 0:
            a["networkStatus"] = {"disconnecting": "disconnected",
                                  "connecting": "connected"}.get(a["networkStatus"],
                                                                 a["networkStatus"])
    return public(a)


def err(status, code, title):
    return status, {}, {"errors": [{"code": code, "detail": None, "title": title}]}


def handle(req, state):
    if req.headers.get("authorization", "") != "ApiToken " + state["token"]:
        return err(401, 4010010, "Authentication Failed")

    if req.path == API + "/agents" and req.method == "GET":
        agents = list(state["agents"].values())
        if "ids" in req.query:
            ids = req.query["ids"].split(",")
            agents = [a for a in agents if a["id"] in ids]
        if "computerName" in req.query:
            agents = [a for a in agents
                      if a["computerName"].lower() == req.query["computerName"].lower()]
        data = [read(a) for a in agents]
        return 200, {}, {"data": data, "pagination": {"totalItems": len(data),
                                                      "nextCursor": None}}

    m = re.fullmatch(API + r"/agents/actions/(disconnect|connect)", req.path)
    if m and req.method == "POST":
        body = req.json if isinstance(req.json, dict) else None
        if body is None or not isinstance(body.get("filter"), dict):
            return err(400, 4000010, "Validation Error: filter is required")
        flt = body["filter"]
        agents = list(state["agents"].values())
        if flt.get("ids"):
            agents = [a for a in agents if a["id"] in flt["ids"]]
        elif flt.get("computerName"):
            agents = [a for a in agents if a["computerName"] == flt["computerName"]]
        else:
            state["broad_filters"] += 1  # the real hazard: everything matches
        target = "disconnecting" if m.group(1) == "disconnect" else "connecting"
        done = "disconnected" if m.group(1) == "disconnect" else "connected"
        for a in agents:
            if a["networkStatus"] != done:
                a["networkStatus"] = target
                a["left"] = max(1, state["pending_polls"])
        n = len(agents)
        if state["affected_override"] is not None:
            n = state["affected_override"]
            state["affected_override"] = None
        return 200, {}, {"data": {"affected": n}}

    return err(404, 4040010, "Not Found")
