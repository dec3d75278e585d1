/*
 * conn_defender.c - Microsoft Defender for Endpoint machine isolation (isolate / unisolate).
 *
 * Steps of one attempt (a->phase, low byte): RESOLVE the host to a machine id (static map,
 * else GET /api/machines?$filter=computerDnsName eq '<host>'), ACT (POST
 * /api/machines/{id}/isolate|unisolate -> 201 MachineAction, its id kept in a->remote_id),
 * POLL GET /api/machineactions/{remote_id} until Succeeded, and FIND: after a 400 "already in
 * progress" (ActiveRequestAlreadyExists), list the machine's actions of that type and poll the
 * pending one (or confirm when the newest Succeeded).
 *
 * Terminal action statuses: Succeeded -> CONFIRMED; Failed and TimeOut -> RETRY (a device that
 * was offline or busy; max_attempts bounds it); Cancelled -> FAILED (a person or another tool
 * cancelled it; retrying would override that decision).
 *
 * The one thing to know: the API allows 100 calls a minute, so the connector keeps its own
 * sliding window of call times and answers XF_EAGAIN (with defer_ms) from next() instead of
 * sending the 101st; token calls go to Entra ID and are not counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "connector.h"

#define DF_STEP_MASK 0xff
#define DF_RESOLVE 0
#define DF_ACT 1
#define DF_POLL 2
#define DF_FIND 3
#define DF_TOKEN 0x100  /* the request in flight is the token request */
#define DF_REAUTH 0x200 /* a 401 already made us refetch the token once in this attempt */

#define DF_WINDOW_S 60
#define DF_SCOPE "https://api.securitycenter.microsoft.com/.default"

struct df_state {
    char *name;
    char *base_url;  /* no trailing '/' */
    char *login_url; /* no trailing '/' */
    char *tenant_id;
    char *client_id;
    char *client_secret;
    char *isolation_type;
    struct xf_connector_conf devmap; /* only name and devices */
    struct xf_conn_token token;
    /* sliding window: the times of the last `limit` API calls, a ring */
    int64_t *calls;
    int limit;
    int n_calls;
    int head; /* next slot to write; the oldest once the ring is full */
};

/* ---- small helpers ------------------------------------------------------------------------ */

/* OData string literal: ' doubled. */
static void odata_quote(struct xf_buf *b, const char *s)
{
    xf_buf_append(b, "'", 1);
    for (; *s; s++) {
        if (*s == '\'')
            xf_buf_append(b, "'", 1);
        xf_buf_append(b, s, 1);
    }
    xf_buf_append(b, "'", 1);
}

/* The error code and message of {"error":{"code","message"}}, "" when absent. */
static const char *graph_error(json_t *root, const char *field)
{
    const char *m = json_string_value(json_object_get(json_object_get(root, "error"), field));

    return m ? m : "";
}

/* ---- config ------------------------------------------------------------------------------- */

static void df_destroy(void *state)
{
    struct df_state *st = state;

    if (!st)
        return;
    xf_conn_devices_free(&st->devmap);
    xf_free(st->name);
    xf_free(st->base_url);
    xf_free(st->login_url);
    xf_free(st->tenant_id);
    xf_free(st->client_id);
    xf_free(st->client_secret);
    xf_free(st->isolation_type);
    xf_conn_token_clear(&st->token);
    xf_free(st->calls);
    xf_free(st);
}

/* key's value (else dflt) copied; a URL (is_url) without its trailing '/'. */
static int dup_or(const struct xf_connector_conf *c, const char *key, const char *dflt, int is_url,
                  char **out)
{
    const char *v = xf_connector_conf_get(c, key);

    if (!v)
        v = dflt;
    *out = is_url ? xf_conn_strdup_noslash(v) : xf_strdup(v);
    return *out ? 0 : XF_ENOMEM;
}

static int df_create(const struct xf_connector_conf *conf, void **state, char *why, size_t why_len)
{
    /* client_secret itself is listed so xf_conn_secret says why it is refused */
    static const char *const keys[] = {
        "base_url",          "login_url",         "tenant_id",          "client_id",
        "client_secret",     "client_secret_env", "client_secret_file", "isolation_type",
        "max_calls_per_min", "actions",           "tls_verify",         "ca_file",
        "timeout_ms"};
    struct df_state *st = NULL;
    const char *v;
    char *end;
    long lim = 100;
    int rc = XF_ENOMEM;

    if ((v = xf_conn_unknown_key(conf, keys, XF_ARRAY_LEN(keys)))) {
        snprintf(why, why_len, "connector %s: unknown key %s for type defender", conf->name, v);
        rc = XF_ECONFIG;
        goto out;
    }
    for (size_t i = 0; i < 2; i++) {
        const char *req = i ? "client_id" : "tenant_id";

        if (!(v = xf_connector_conf_get(conf, req)) || !*v) {
            snprintf(why, why_len, "connector %s: %s is required", conf->name, req);
            rc = XF_ECONFIG;
            goto out;
        }
    }
    v = xf_connector_conf_get(conf, "isolation_type");
    if (v && strcmp(v, "Full") && strcmp(v, "Selective") && strcmp(v, "UnManagedDevice")) {
        snprintf(why, why_len,
                 "connector %s: isolation_type must be Full, Selective or UnManagedDevice",
                 conf->name);
        rc = XF_ECONFIG;
        goto out;
    }
    if ((v = xf_connector_conf_get(conf, "max_calls_per_min"))) {
        lim = strtol(v, &end, 10);
        if (end == v || *end || lim < 1 || lim > 100000) {
            snprintf(why, why_len, "connector %s: max_calls_per_min must be 1..100000", conf->name);
            rc = XF_ECONFIG;
            goto out;
        }
    }
    if (!(st = xf_calloc(1, sizeof(*st))))
        goto out;
    st->limit = (int)lim;
    if (!(st->calls = xf_calloc((size_t)lim, sizeof(*st->calls))) ||
        !(st->name = xf_strdup(conf->name)) ||
        (rc = dup_or(conf, "base_url", "https://api.securitycenter.microsoft.com", 1,
                     &st->base_url)) ||
        (rc = dup_or(conf, "login_url", "https://login.microsoftonline.com", 1, &st->login_url)) ||
        (rc = dup_or(conf, "tenant_id", "", 0, &st->tenant_id)) ||
        (rc = dup_or(conf, "client_id", "", 0, &st->client_id)) ||
        (rc = dup_or(conf, "isolation_type", "Full", 0, &st->isolation_type))) {
        rc = XF_ENOMEM;
        goto out;
    }
    if ((rc = xf_conn_secret(conf, "client_secret", &st->client_secret, why, why_len)))
        goto out;
    rc = XF_ENOMEM;
    st->devmap.name = st->name;
    if (xf_conn_devices_copy(&st->devmap, conf))
        goto out;
    *state = st;
    st = NULL;
    rc = 0;
out:
    df_destroy(st);
    return rc;
}

/* ---- the rate limiter --------------------------------------------------------------------- */

/* 0 and the call counted, or the ms until the oldest call in the window leaves it. */
static int64_t window_take(struct df_state *st, int64_t now_s)
{
    if (st->n_calls == st->limit && st->calls[st->head] > now_s - DF_WINDOW_S)
        return (st->calls[st->head] + DF_WINDOW_S - now_s) * 1000;
    st->calls[st->head] = now_s;
    st->head = (st->head + 1) % st->limit;
    if (st->n_calls < st->limit)
        st->n_calls++;
    return 0;
}

/* ---- requests: each vendor shape lives in exactly one function below ----------------------- */

/* POST {login}/{tenant}/oauth2/v2.0/token, form client credentials + scope */
static int req_token(struct df_state *st, struct xf_conn_request *rq)
{
    struct xf_buf url;

    xf_buf_init(&url);
    xf_buf_appendf(&url, "%s/", st->login_url);
    xf_conn_url_encode(&url, st->tenant_id);
    xf_buf_appends(&url, "/oauth2/v2.0/token");
    xf_buf_appends(&rq->body, "grant_type=client_credentials&client_id=");
    xf_conn_url_encode(&rq->body, st->client_id);
    xf_buf_appends(&rq->body, "&client_secret=");
    xf_conn_url_encode(&rq->body, st->client_secret);
    xf_buf_appends(&rq->body, "&scope=");
    xf_conn_url_encode(&rq->body, DF_SCOPE);
    return xf_conn_token_request(rq, &url);
}

/* GET /api/machines?$filter=computerDnsName eq '<host>' -> {"value":[{"id",...}]} */
static int req_resolve(struct df_state *st, const struct xf_action *a, struct xf_conn_request *rq)
{
    struct xf_buf url, f;

    xf_buf_init(&url);
    xf_buf_init(&f);
    xf_buf_appends(&f, "computerDnsName eq ");
    odata_quote(&f, a->host);
    xf_buf_appendf(&url, "%s/api/machines?$filter=", st->base_url);
    xf_conn_url_encode(&url, f.data ? f.data : "");
    xf_buf_close(&f);
    return xf_conn_token_call(rq, "GET", &url, &st->token);
}

/* POST /api/machines/{id}/isolate {"Comment","IsolationType"} | unisolate {"Comment"} */
static int req_act(struct df_state *st, const struct xf_action *a, struct xf_conn_request *rq)
{
    int release = a->kind == XF_ACT_RELEASE;
    struct xf_buf url, comment;
    json_t *body;
    int rc;

    xf_buf_init(&url);
    xf_buf_init(&comment);
    xf_buf_appendf(&url, "%s/api/machines/", st->base_url);
    xf_conn_url_encode(&url, a->device_id);
    xf_buf_appends(&url, release ? "/unisolate" : "/isolate");
    /* Comment is required; the action id lets an analyst find our record from Defender's */
    xf_buf_appendf(&comment, "xdrflow %s%s%s%s%s", a->id, a->incident[0] ? " " : "", a->incident,
                   a->reason[0] ? ": " : "", a->reason);
    if ((rc = xf_conn_token_call(rq, "POST", &url, &st->token)))
        goto out;
    if (release)
        body = json_pack("{s:s}", "Comment", comment.data ? comment.data : "xdrflow");
    else
        body = json_pack("{s:s,s:s}", "Comment", comment.data ? comment.data : "xdrflow",
                         "IsolationType", st->isolation_type);
    rc = xf_conn_request_json(rq, body);
out:
    xf_buf_close(&comment);
    return rc;
}

/* GET /api/machineactions/{id} -> MachineAction {"id","status",...} */
static int req_poll(struct df_state *st, const struct xf_action *a, struct xf_conn_request *rq)
{
    struct xf_buf url;

    xf_buf_init(&url);
    xf_buf_appendf(&url, "%s/api/machineactions/", st->base_url);
    xf_conn_url_encode(&url, a->remote_id);
    return xf_conn_token_call(rq, "GET", &url, &st->token);
}

/* GET /api/machineactions?$filter=machineId eq '{id}' and type eq 'Isolate' -> {"value":[...]} */
static int req_find(struct df_state *st, const struct xf_action *a, struct xf_conn_request *rq)
{
    struct xf_buf url, f;

    xf_buf_init(&url);
    xf_buf_init(&f);
    xf_buf_appends(&f, "machineId eq ");
    odata_quote(&f, a->device_id);
    xf_buf_appendf(&f, " and type eq '%s'", a->kind == XF_ACT_RELEASE ? "Unisolate" : "Isolate");
    xf_buf_appendf(&url, "%s/api/machineactions?$filter=", st->base_url);
    xf_conn_url_encode(&url, f.data ? f.data : "");
    xf_buf_close(&f);
    return xf_conn_token_call(rq, "GET", &url, &st->token);
}

/* ---- the state machine -------------------------------------------------------------------- */

static void set_step(struct xf_action *a, int step)
{
    a->phase = (a->phase & ~DF_STEP_MASK) | step;
}

static int df_next(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                   struct xf_conn_request *out)
{
    struct df_state *st = state;
    int step = a->phase & DF_STEP_MASK;
    const char *dev;

    if (a->kind != XF_ACT_ISOLATE && a->kind != XF_ACT_RELEASE)
        return XF_EINVAL;
    a->phase &= ~DF_TOKEN;
    if (xf_conn_token_due(&st->token, ctx->now_s)) {
        a->phase |= DF_TOKEN;
        return req_token(st, out);
    }
    if (step == DF_RESOLVE) {
        dev = a->device_id[0] ? a->device_id : xf_conn_device(&st->devmap, a->host);
        if (dev) {
            if (dev != a->device_id)
                snprintf(a->device_id, sizeof(a->device_id), "%s", dev);
            step = DF_ACT;
            set_step(a, DF_ACT);
        }
    }
    if ((out->defer_ms = window_take(st, ctx->now_s)))
        return XF_EAGAIN;
    switch (step) {
    case DF_RESOLVE:
        return req_resolve(st, a, out);
    case DF_ACT:
        return req_act(st, a, out);
    case DF_POLL:
        return req_poll(st, a, out);
    default:
        return req_find(st, a, out);
    }
}

/* A MachineAction's status into a step. */
static void action_status(struct xf_action *a, json_t *act, struct xf_conn_outcome *out)
{
    const char *id = json_string_value(json_object_get(act, "id"));
    const char *s = json_string_value(json_object_get(act, "status"));

    if (id && *id)
        snprintf(a->remote_id, sizeof(a->remote_id), "%s", id);
    if (s)
        snprintf(out->why, sizeof(out->why), "machine action %.64s %.32s", a->remote_id, s);
    if (!s) {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "machine action without a status");
    } else if (strcmp(s, "Succeeded") == 0) {
        out->step = XF_STEP_CONFIRMED;
    } else if (strcmp(s, "Pending") == 0 || strcmp(s, "InProgress") == 0) {
        set_step(a, DF_POLL);
        out->step = XF_STEP_POLL;
    } else if (strcmp(s, "Cancelled") == 0) {
        out->step = XF_STEP_FAILED;
    } else { /* Failed, TimeOut, or a status this code does not know: a new attempt */
        out->step = XF_STEP_RETRY;
        a->phase = DF_ACT;
        a->remote_id[0] = '\0';
    }
}

/* After "already in progress": the pending action of that type, else the newest one. */
static void on_find(struct xf_action *a, json_t *root, struct xf_conn_outcome *out)
{
    json_t *list = json_object_get(root, "value"), *it, *newest = NULL;
    const char *newest_t = "";
    size_t i;

    json_array_foreach(list, i, it)
    {
        const char *s = json_string_value(json_object_get(it, "status"));
        const char *t = json_string_value(json_object_get(it, "creationDateTimeUtc"));

        if (s && (strcmp(s, "Pending") == 0 || strcmp(s, "InProgress") == 0)) {
            action_status(a, it, out);
            return;
        }
        if (t && strcmp(t, newest_t) > 0) { /* ISO 8601 UTC strings order as times */
            newest = it;
            newest_t = t;
        }
    }
    if (newest) {
        action_status(a, newest, out);
        return;
    }
    out->step = XF_STEP_RETRY;
    a->phase = DF_ACT;
    snprintf(out->why, sizeof(out->why), "already in progress, but no such action listed");
}

static int df_on_reply(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                       const struct xf_conn_reply *r, struct xf_conn_outcome *out)
{
    struct df_state *st = state;
    int step = a->phase & DF_STEP_MASK;
    int ok = r->status >= 200 && r->status < 300;
    json_t *root = NULL;

    memset(out, 0, sizeof(*out));
    if (a->phase & DF_TOKEN) {
        a->phase &= ~DF_TOKEN;
        xf_conn_token_on_reply(&st->token, "defender", st->name, 3599, ctx, r, out);
        return 0;
    }
    if (xf_conn_token_on_401(&st->token, a, DF_REAUTH, r, out))
        return 0;
    root = xf_conn_reply_json(r);
    if (!ok) {
        const char *code = graph_error(root, "code");

        if (step == DF_ACT && r->status == 400 &&
            (strcmp(code, "ActiveRequestAlreadyExists") == 0 ||
             xf_conn_contains_nocase(r->body, r->body_len, "already in progress"))) {
            set_step(a, DF_FIND);
            out->step = XF_STEP_NEXT;
            snprintf(out->why, sizeof(out->why), "HTTP 400 %.64s: finding the pending action",
                     code);
        } else {
            xf_conn_classify(r, ctx->now_s, out);
            if (out->step == XF_STEP_RETRY && step != DF_POLL)
                a->phase = a->device_id[0] ? DF_ACT : DF_RESOLVE;
        }
    } else if (step == DF_RESOLVE) {
        json_t *list = json_object_get(root, "value");
        const char *id = json_string_value(json_object_get(json_array_get(list, 0), "id"));

        if (json_array_size(list) == 0) {
            out->step = XF_STEP_FAILED;
            snprintf(out->why, sizeof(out->why), "unknown host %.128s: no Defender machine",
                     a->host);
        } else if (json_array_size(list) > 1 || !id || !*id) {
            out->step = XF_STEP_FAILED;
            snprintf(out->why, sizeof(out->why),
                     "host %.128s matches %zu Defender machines; map it", a->host,
                     json_array_size(list));
        } else {
            snprintf(a->device_id, sizeof(a->device_id), "%s", id);
            set_step(a, DF_ACT);
            out->step = XF_STEP_NEXT;
            snprintf(out->why, sizeof(out->why), "host %.100s is machine %.100s", a->host, id);
        }
    } else if (step == DF_FIND) {
        on_find(a, root, out);
    } else if (step == DF_ACT && !json_string_value(json_object_get(root, "id"))) {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "HTTP %ld without a machine action id", r->status);
    } else {
        action_status(a, root, out);
    }
    if (out->step == XF_STEP_RETRY || out->step == XF_STEP_FAILED)
        a->phase &= ~DF_REAUTH;
    json_decref(root);
    return 0;
}

const struct xf_connector_ops xf_conn_defender = {
    .type = "defender",
    .kinds = (1u << XF_ACT_ISOLATE) | (1u << XF_ACT_RELEASE),
    .create = df_create,
    .destroy = df_destroy,
    .next = df_next,
    .on_reply = df_on_reply,
};
