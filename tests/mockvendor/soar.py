"""Mock SOAR receivers (incident notifications) for server.py: three shapes on one server.

  POST /rest/container   Splunk SOAR. Header ph-auth-token must equal state "token". Body
                         needs "name", "label", "source_data_identifier". A new container ->
                         200 {"success": true, "id": n}; a second one with the same
                         source_data_identifier -> 200 {"success": true, "id": n,
                         "existing_container_id": n, "message": "duplicate"} (mock choice:
                         Splunk names the existing container).
  POST /api/v1/alert     TheHive. Authorization: Bearer <token>. Body needs "type", "source",
                         "sourceRef", "title", "description"; severity 1-4. A new alert -> 201
                         {"_id": "~n", ...}; the same (type, source, sourceRef) again -> 400
                         {"type": "CreateError", "message": "Alert ... already exists"}.
  POST anything else     a generic webhook. With state "token" set, Authorization: Bearer
                         <token> is required (set it to null to accept anonymous calls). The
                         first request with an Idempotency-Key -> 202 {"accepted": true}; a
                         repeat of the key -> 200 {"duplicate": true} (the key is honoured).

GET /_mock/state shows {"isolated": [], "containers": {sdi: n}, "alerts": [sourceRef],
"hooks": [idempotency keys], "deliveries": n}. POST /_mock/state accepts {"token": s|null}.
"""


def init(state):
    state["token"] = "soar-token"
    state["containers"] = {}
    state["alerts"] = {}
    state["hooks"] = {}
    state["deliveries"] = 0


def configure(state, obj):
    if "token" in obj:
        state["token"] = obj["token"]


def view(state):
    return {"isolated": [], "containers": state["containers"],
            "alerts": sorted(k[2] for k in state["alerts"]),
            "hooks": sorted(state["hooks"]), "deliveries": state["deliveries"]}


def bearer_ok(req, state):
    return req.headers.get("authorization") == "Bearer %s" % state["token"]


def handle(req, state):
    if req.method != "POST":
        return 405, {}, {"error": "method not allowed"}
    body = req.json

    if req.path == "/rest/container":
        if req.headers.get("ph-auth-token") != state["token"]:
            return 401, {}, {"failed": True, "message": "Authentication failed"}
        if not isinstance(body, dict) or not all(body.get(k) for k in
                                                 ("name", "label", "source_data_identifier")):
            return 400, {}, {"failed": True, "message": "name, label and "
                                                        "source_data_identifier are required"}
        sdi = body["source_data_identifier"]
        if sdi in state["containers"]:
            n = state["containers"][sdi]
            return 200, {}, {"success": True, "id": n, "existing_container_id": n,
                             "message": "duplicate"}
        n = len(state["containers"]) + 1
        state["containers"][sdi] = n
        state["deliveries"] += 1
        return 200, {}, {"success": True, "id": n}

    if req.path == "/api/v1/alert":
        if not bearer_ok(req, state):
            return 401, {}, {"type": "AuthenticationError", "message": "Authentication failure"}
        if not isinstance(body, dict) or not all(body.get(k) for k in
                                                 ("type", "source", "sourceRef", "title",
                                                  "description")):
            return 400, {}, {"type": "AttributeCheckingError", "message": "missing attribute"}
        if body.get("severity") not in (1, 2, 3, 4):
            return 400, {}, {"type": "AttributeCheckingError", "message": "bad severity"}
        key = (body["type"], body["source"], body["sourceRef"])
        if key in state["alerts"]:
            return 400, {}, {"type": "CreateError",
                             "message": "Alert %s:%s:%s already exists" % key}
        n = len(state["alerts"]) + 1
        state["alerts"][key] = n
        state["deliveries"] += 1
        return 201, {}, {"_id": "~%d" % n, "_type": "Alert", "status": "New",
                         "sourceRef": body["sourceRef"]}

    if state["token"] is not None and not bearer_ok(req, state):
        return 401, {}, {"error": "unauthorized"}
    if body is None:
        return 400, {}, {"error": "JSON body required"}
    key = req.headers.get("idempotency-key")
    if key and key in state["hooks"]:
        return 200, {}, {"duplicate": True}
    if key:
        state["hooks"][key] = True
    state["deliveries"] += 1
    return 202, {}, {"accepted": True}
