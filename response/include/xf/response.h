/*
 * xf/response.h - containment: policy -> durable outbox -> connectors (EDR, SOAR, webhooks).
 *
 * The response thread owns everything here: a libuv loop driving a libcurl multi handle, the
 * policy state, the connectors and the outbox. Other threads talk to it only through
 * xf_response_incident() (the daemon, after each durable checkpoint) and xf_response_request()
 * (API handlers), both of which copy their input onto a queue and wake the loop.
 *
 * The one thing to know: an action's id is its idempotency key, derived from content
 * (incident, host, kind, connector), never from a clock. Planning the same incident twice -
 * after a crash the daemon hands every open incident over again - finds the stored record and
 * plans nothing new; sending twice reuses the key (Standard Webhooks `webhook-id`), so a
 * receiver that honours it sees one action.
 *
 * State machine of an action (persisted with sync before every transition is acted on):
 *
 *   planned --approve--> approved --send--> sent --poll--> confirmed
 *      |                    ^                  \--------> failed  (attempts exhausted: alert)
 *      +-- mode auto -------+                   (retry: back to approved with next_at_ms)
 *      +-- deny --> denied        dry_run mode: dry_run (never sent)
 *   confirmed --release action confirmed--> released
 */
#ifndef XF_RESPONSE_H
#define XF_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "xf/core.h"

struct xf_store;

/* ---- actions ------------------------------------------------------------------------------ */

enum xf_action_kind {
    XF_ACT_ISOLATE,
    XF_ACT_RELEASE,
    XF_ACT_NOTIFY, /* an incident (new or updated) sent to a SOAR / webhook */
};

enum xf_action_state {
    XF_AS_PLANNED,   /* decided, waiting for approval (mode approve) */
    XF_AS_APPROVED,  /* to be sent at next_at_ms */
    XF_AS_SENT,      /* the vendor accepted it; polling its status */
    XF_AS_CONFIRMED, /* done (the host is isolated / released / the notification delivered) */
    XF_AS_FAILED,    /* attempts exhausted or a permanent error; raised as an alert */
    XF_AS_DENIED,    /* an analyst denied it */
    XF_AS_DRY_RUN,   /* mode dry_run: recorded, never sent */
    XF_AS_RELEASED,  /* an isolation later undone by a confirmed release */
};

/* "isolate" ... and "planned" ...; NULL-safe parse returns -1 for an unknown name. */
const char *xf_action_kind_name(enum xf_action_kind k);
const char *xf_action_state_name(enum xf_action_state s);
int xf_action_kind_parse(const char *s);
int xf_action_state_parse(const char *s);
/* 1 for the states that still need work (planned, approved, sent). */
int xf_action_state_pending(enum xf_action_state s);

#define XF_ACTION_ID_LEN 24 /* "act-" + 16 hex + NUL, rounded */

struct xf_action {
    char id[XF_ACTION_ID_LEN]; /* idempotency key: see xf_action_make_id */
    enum xf_action_kind kind;
    enum xf_action_state state;
    char incident[32];     /* "inc-..."; "" for a manual request */
    char host[256];        /* host name as the incident names it */
    char connector[64];    /* connector instance name from the config */
    char requested_by[64]; /* "policy" or the API token's name */
    char reason[256];      /* why (policy rule, analyst comment) */
    int attempts;          /* sends tried */
    int polls;             /* status polls done in this attempt */
    int64_t created_ms;    /* wall clock, for humans and metrics, never for ids */
    int64_t updated_ms;
    int64_t next_at_ms;  /* do not act before this (backoff, Retry-After, poll interval) */
    int phase;           /* connector-defined step within the current attempt */
    char device_id[128]; /* the vendor's id for the host, once resolved */
    char remote_id[512]; /* the vendor's action / task id or poll URL, once sent */
    char last_error[256];
    uint64_t payload_hash; /* NOTIFY: hash of the incident JSON that was (to be) sent */
};

/* Fills a->id = "act-" + 16 lowercase hex of xxh64 over incident, host, kind name, connector
 * and salt (each NUL-terminated). salt is "" for policy actions; a manual request passes its
 * Idempotency-Key header (or a fresh value when it has none); NOTIFY passes the payload hash
 * in hex so every new version of an incident is one notification. */
void xf_action_make_id(struct xf_action *a, const char *salt);

/* One JSON object per action, stable key order; from_json ignores unknown keys. */
int xf_action_to_json(const struct xf_action *a, struct xf_buf *out);
int xf_action_from_json(const char *json, size_t len, struct xf_action *a);

/* ---- outbox: actions in the store's `actions` column family -------------------------------- */

struct xf_outbox;

/* Borrows st (which must outlive the outbox). Every put is a synced RocksDB write, so a state
 * transition is durable before the caller acts on it. Safe to use from the response thread
 * while the correlating thread uses the rest of the store. */
int xf_outbox_open(struct xf_store *st, struct xf_outbox **out);
void xf_outbox_close(struct xf_outbox *ob);
int xf_outbox_put(struct xf_outbox *ob, const struct xf_action *a);
/* 0 and *a, or XF_ENOTFOUND. */
int xf_outbox_get(struct xf_outbox *ob, const char *id, struct xf_action *a);
typedef int (*xf_action_cb)(const struct xf_action *a, void *ud);
/* Every action in id order; cb returns non-zero to stop (returned). */
int xf_outbox_scan(struct xf_outbox *ob, xf_action_cb cb, void *ud);

/* ---- policy ------------------------------------------------------------------------------- */

enum xf_resp_mode { XF_MODE_OFF, XF_MODE_DRY_RUN, XF_MODE_APPROVE, XF_MODE_AUTO };
const char *xf_resp_mode_name(enum xf_resp_mode m);
int xf_resp_mode_parse(const char *s);

/* low=0 medium=1 high=2 critical=3; -1 for an unknown name */
int xf_severity_rank(const char *s);

#define XF_RESP_MAX_LIST 64
#define XF_RESP_MAX_AUTO_RELEASE (366LL * 86400 * 1000) /* a year and a day, in ms */

struct xf_host_tag {
    char *host; /* exact host name */
    char *tags[8];
    size_t n_tags;
};

struct xf_policy_conf {
    enum xf_resp_mode mode;         /* default approve */
    int min_severity;               /* rank; default high (2) */
    int min_score;                  /* default 0 */
    char *stages[XF_RESP_MAX_LIST]; /* the incident must have one of these; none: any */
    size_t n_stages;
    /* "dc-*" (fnmatch glob, case-insensitive), "re:^dc\\d+$" (PCRE2), "tag:domain_controller" */
    char *protected_hosts[XF_RESP_MAX_LIST];
    size_t n_protected;
    struct xf_host_tag host_tags[XF_RESP_MAX_LIST];
    size_t n_host_tags;
    double max_actions_per_min; /* token bucket over isolations planned by policy; default 10 */
    int burst;                  /* default 5 */
    /* A confirmed isolation the policy planned is released this long after its confirmation
     * (a RELEASE planned as the mode plans isolations); manual isolations never are.
     * Default 0: never, hosts are released only on request. At most XF_RESP_MAX_AUTO_RELEASE. */
    int64_t auto_release_after_ms;
    /* delivery */
    int max_attempts;     /* default 5 */
    int backoff_base_ms;  /* default 1000; doubled per attempt with full jitter */
    int backoff_max_ms;   /* default 60000 */
    int poll_interval_ms; /* default 2000 */
    int max_polls;        /* default 150; then the attempt counts as timed out */
    int timeout_ms;       /* per HTTP request; default 10000 */
    int notify_incidents; /* send NOTIFY actions for new and updated incidents; default 1 */
    /* Owned: the "re:" patterns compiled by xf_policy_conf_compile, freed by close. NULL until
     * then. Never copy it: a copy starts with NULL (xf_policy_conf_copy does that). */
    void *compiled;
};
void xf_policy_conf_init(struct xf_policy_conf *p);
/* Frees every string, tag and compiled pattern; p is left as after init. */
void xf_policy_conf_close(struct xf_policy_conf *p);
/* Compiles regexes (and frees them again), checks ranges. XF_ECONFIG with the reason in why. */
int xf_policy_conf_check(const struct xf_policy_conf *p, char *why, size_t why_len);
/* Compiles the "re:" protected patterns once into p->compiled (replacing a previous set), for
 * the thread that then calls xf_policy_host_protected. XF_ECONFIG with why for a bad pattern.
 * Optional: without it every match compiles its patterns on the spot. */
int xf_policy_conf_compile(struct xf_policy_conf *p, char *why, size_t why_len);
/* Deep copy of src into dst (dst is overwritten, not closed; compiled starts NULL).
 * XF_ENOMEM leaves dst closed (as after init). */
int xf_policy_conf_copy(struct xf_policy_conf *dst, const struct xf_policy_conf *src);

/* 1 when host matches the protected list (by name, glob, regex or tag), 0 when not. All
 * comparisons ignore ASCII case, and a fully qualified host is also tried by its first label
 * ("dc-*" protects "DC-01.corp.example", "dc01" protects "dc01.corp.example"). Fails closed: a
 * pattern that does not compile protects every host. */
int xf_policy_host_protected(const struct xf_policy_conf *p, const char *host);

/* What the policy reads of an incident JSON (the public shape: BRIEF "Incident JSON"). */
struct xf_incident_summary {
    char id[32];
    int severity;  /* xf_severity_rank of "severity"; -1 when absent or unknown */
    int score;     /* "score"; 0 when absent */
    char **stages; /* "stages" (owned) */
    size_t n_stages;
    char **hosts; /* "hosts" (owned) */
    size_t n_hosts;
};
/* 0 and *s (close it), or XF_EPARSE (not an object, no "id" or one too long, a member of the
 * wrong type) / XF_ENOMEM, with *s closed. Unknown keys are ignored. */
int xf_incident_summary_parse(const char *json, size_t len, struct xf_incident_summary *s);
void xf_incident_summary_close(struct xf_incident_summary *s);
/* 1 when the incident qualifies for isolation by severity, score and stages (mode aside):
 * severity >= min_severity, score >= min_score, and one of its stages in p->stages (any
 * stage when the list is empty). */
int xf_policy_incident_qualifies(const struct xf_policy_conf *p,
                                 const struct xf_incident_summary *s);

/* Token bucket over policy isolations: burst tokens, refilled at max_actions_per_min. Start
 * from a zeroed struct (it fills on first use). */
struct xf_rate {
    double tokens;
    int64_t last_ms;
    int primed; /* 0: not used yet (the bucket starts full) */
};
/* Returns 1 and takes a token if an action may be planned at now_ms (any monotonic clock in
 * ms), 0 when the bucket is empty. */
int xf_rate_take(struct xf_rate *r, const struct xf_policy_conf *p, int64_t now_ms);
/* Delay before retry attempt n (1-based) with full jitter: rnd * min(backoff_max_ms,
 * backoff_base_ms * 2^(n-1)), rnd in [0,1) supplied by the caller (clamped). */
int64_t xf_backoff_ms(const struct xf_policy_conf *p, int attempt, double rnd);

/* ---- connectors --------------------------------------------------------------------------- */

#define XF_CONN_MAX_PARAMS 32
#define XF_CONN_MAX_DEVICES 256

struct xf_conn_param {
    char *key; /* the YAML key: "url", "client_id", "secret_env", "shape", ... */
    char *value;
};

struct xf_device_map {
    char *host;
    char *device_id;
};

/* One configured connector. Which keys a type reads is documented in docs/response.md and
 * checked by xf_connector_create; a key ending in "_env" names an environment variable that
 * holds the secret, and "_file" a file that does. */
struct xf_connector_conf {
    char *name; /* unique instance name */
    char *type; /* webhook | crowdstrike | defender | sentinelone | visionone | cortex | soar */
    struct xf_conn_param params[XF_CONN_MAX_PARAMS];
    size_t n_params;
    struct xf_device_map devices[XF_CONN_MAX_DEVICES]; /* static host -> device id */
    size_t n_devices;
};
/* The value of key or NULL. */
const char *xf_connector_conf_get(const struct xf_connector_conf *c, const char *key);

/* ---- the response service ----------------------------------------------------------------- */

#define XF_RESP_MAX_CONNECTORS 16

struct xf_response_conf {
    struct xf_policy_conf policy;
    struct xf_connector_conf connectors[XF_RESP_MAX_CONNECTORS];
    size_t n_connectors;
    char *audit_log; /* path of the JSON-lines audit log; NULL or "": the log (stderr) */
};
void xf_response_conf_init(struct xf_response_conf *c);
void xf_response_conf_close(struct xf_response_conf *c);
int xf_response_conf_copy(struct xf_response_conf *dst, const struct xf_response_conf *src);

struct xf_response;

/* Starts the response thread: opens the outbox in st, creates the connectors (a bad connector
 * config is XF_ECONFIG with the reason logged), resumes every pending action. */
int xf_response_create(const struct xf_response_conf *conf, struct xf_store *st,
                       struct xf_response **out);
/* Stops the loop (in-flight requests are abandoned; their actions stay pending in the outbox
 * and resume at the next start) and joins the thread. NULL is a no-op. */
void xf_response_destroy(struct xf_response *r);

/* Any thread: an incident JSON that is now durable (copied). Policy runs on the loop. */
int xf_response_incident(struct xf_response *r, const char *json, size_t len);

/* A request from the API, answered by the loop. */
enum xf_resp_op {
    XF_RESP_ISOLATE, /* host, reason, idem_key */
    XF_RESP_RELEASE, /* host, reason, idem_key */
    XF_RESP_APPROVE, /* action_id */
    XF_RESP_DENY,    /* action_id, reason */
    XF_RESP_LIST,    /* state filter (may be NULL), host filter (may be NULL) */
    XF_RESP_GET,     /* action_id */
};
struct xf_resp_request {
    enum xf_resp_op op;
    const char *host;
    const char *action_id;
    const char *reason;
    const char *idem_key; /* the Idempotency-Key header or NULL */
    const char *actor;    /* the token name, for the audit log */
    const char *state;    /* LIST filter */
    size_t limit;         /* LIST: at most this many (0: 100; capped at 1000) */
    const char *after;    /* LIST: start after this action id (the previous page's "next") */
};
/* Any thread; blocks until the loop answers (at most a few ms: it never waits on the
 * network). *status is the HTTP status to send (200, 201, 202, 404, 409 host protected or an
 * action pending, 429 rate limited, 503 response off) and body gets the JSON to send: an
 * action, {"actions":[...]} for LIST, or an {"error":{...}} object. */
int xf_response_request(struct xf_response *r, const struct xf_resp_request *req, int *status,
                        struct xf_buf *body);

/* Actions of an incident as the incident JSON's "actions" array ([] when none). Any thread. */
int xf_response_incident_actions(struct xf_response *r, const char *incident_id,
                                 struct xf_buf *out);

struct xf_response_stats {
    uint64_t planned, sent, confirmed, failed, denied, dry_run, retries, http_requests;
    uint64_t blocked_protected, rate_limited, pending;
};
void xf_response_get_stats(struct xf_response *r, struct xf_response_stats *out);

/* Any thread: one line in the audit log (response.audit_log, or the log when unset) for a
 * state-changing request decided outside the loop (the API's 401/403, for instance). action is
 * event.action ("isolate", "release", "approve", "deny", "request"), outcome event.outcome
 * ("success", "failure", "unknown"), actor the token name (NULL when unauthenticated);
 * detail_json (may be NULL) is written as xdrflow.detail, as JSON when it parses and as a
 * string otherwise. All borrowed. Returns 0 or XF_EIO. */
int xf_response_audit(struct xf_response *r, const char *action, const char *outcome,
                      const char *actor, const char *detail_json);

/* ---- API client (for the CLI) ------------------------------------------------------------- */

/* One blocking HTTP request to a daemon's API: method ("GET", "POST") to base_url + path
 * ("http://127.0.0.1:8080" + "/api/v1/actions"), with `Authorization: Bearer token` when token
 * is non-empty and body (JSON, may be NULL) as the request body. All pointers are borrowed.
 * Returns 0 when the server answered, whatever the status (*status is set and out holds the
 * body); XF_EIO when there was no answer (refused, timeout, reset: out holds the reason text,
 * *status is 0); XF_EINVAL / XF_ENOMEM. Never follows redirects; proxy from the environment. */
int xf_api_client_call(const char *base_url, const char *token, const char *method,
                       const char *path, const char *body, long *status, struct xf_buf *out);

#endif
