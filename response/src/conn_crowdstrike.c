/*
 * conn_crowdstrike.c - CrowdStrike Falcon host containment (contain / lift_containment).
 *
 * Steps of one attempt (a->phase, low byte): RESOLVE the host to an aid (static map, else a
 * device query by hostname), ACT (POST devices-actions?action_name=...), POLL the device until
 * its status is `contained` (`normal` for a release). The OAuth2 token lives in the connector
 * state and is fetched before any step that needs it; it is never persisted.
 *
 * The one thing to know: Falcon does not hand back an action id and concurrent actions on a
 * host are last-write-wins, so the device's `status` is the only truth. A contain refused
 * because the host is already contained (409 / "already") is not an error: it goes straight to
 * the status check, which confirms it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "connector.h"

#define CS_STEP_MASK 0xff
#define CS_RESOLVE 0
#define CS_ACT 1
#define CS_POLL 2
#define CS_TOKEN 0x100  /* the request in flight is the token request */
#define CS_REAUTH 0x200 /* a 401 already made us refetch the token once in this attempt */

struct cs_state {
    char *name;
    char *base_url; /* no trailing '/' */
    char *client_id;
    char *client_secret;
    struct xf_connector_conf devmap; /* only name and devices: the static host -> aid map */
    struct xf_conn_token token;
};

/* ---- small helpers ------------------------------------------------------------------------ */

/* The first error message of a Falcon envelope, or "". */
static const char *falcon_error(json_t *root)
{
    json_t *e = json_array_get(json_object_get(root, "errors"), 0);
    const char *m = json_string_value(json_object_get(e, "message"));

    return m ? m : "";
}

/* Falcon's 429 carries X-RateLimit-RetryAfter (unix seconds); Retry-After wins if present. */
static void ratelimit_retry_after(const struct xf_conn_reply *r, const struct xf_conn_ctx *ctx,
                                  struct xf_conn_outcome *out)
{
    if (r->status == 429 && !out->retry_after_ms) {
        const char *v = xf_conn_reply_header(r, "x-ratelimit-retryafter");
        long long t = v ? strtoll(v, NULL, 10) : 0;

        if (t > ctx->now_s)
            out->retry_after_ms = (int64_t)(t - ctx->now_s) * 1000;
    }
}

static void classify(const struct xf_conn_reply *r, const struct xf_conn_ctx *ctx,
                     struct xf_conn_outcome *out)
{
    xf_conn_classify(r, ctx->now_s, out);
    ratelimit_retry_after(r, ctx, out);
}

/* ---- config ------------------------------------------------------------------------------- */

static void cs_destroy(void *state)
{
    struct cs_state *st = state;

    if (!st)
        return;
    xf_conn_devices_free(&st->devmap);
    xf_free(st->name);
    xf_free(st->base_url);
    xf_free(st->client_id);
    xf_free(st->client_secret);
    xf_conn_token_clear(&st->token);
    xf_free(st);
}

static int cs_create(const struct xf_connector_conf *conf, void **state, char *why, size_t why_len)
{
    /* client_secret itself is listed so xf_conn_secret says why it is refused */
    static const char *const keys[] = {
        "base_url", "client_id",  "client_secret", "client_secret_env", "client_secret_file",
        "actions",  "tls_verify", "ca_file",       "timeout_ms"};
    struct cs_state *st = NULL;
    const char *v;
    int rc = XF_ENOMEM;

    if ((v = xf_conn_unknown_key(conf, keys, XF_ARRAY_LEN(keys)))) {
        snprintf(why, why_len, "connector %s: unknown key %s for type crowdstrike", conf->name, v);
        rc = XF_ECONFIG;
        goto out;
    }
    if (!(st = xf_calloc(1, sizeof(*st))))
        goto out;
    v = xf_connector_conf_get(conf, "base_url");
    if (!(st->base_url = xf_conn_strdup_noslash(v ? v : "https://api.crowdstrike.com")))
        goto out;
    if (!(v = xf_connector_conf_get(conf, "client_id")) || !*v) {
        snprintf(why, why_len, "connector %s: client_id is required", conf->name);
        rc = XF_ECONFIG;
        goto out;
    }
    if (!(st->client_id = xf_strdup(v)) || !(st->name = xf_strdup(conf->name)))
        goto out;
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
    cs_destroy(st);
    return rc;
}

/* ---- requests: each vendor shape lives in exactly one function below ----------------------- */

/* POST /oauth2/token, form client_id & client_secret -> {"access_token","expires_in":1799} */
static int req_token(struct cs_state *st, struct xf_conn_request *rq)
{
    struct xf_buf url;

    xf_buf_init(&url);
    xf_buf_appendf(&url, "%s/oauth2/token", st->base_url);
    xf_buf_appends(&rq->body, "client_id=");
    xf_conn_url_encode(&rq->body, st->client_id);
    xf_buf_appends(&rq->body, "&client_secret=");
    xf_conn_url_encode(&rq->body, st->client_secret);
    return xf_conn_token_request(rq, &url);
}

/* GET /devices/queries/devices/v1?filter=hostname:'<host>' -> {"resources":["<aid>"]} */
static int req_resolve(struct cs_state *st, const struct xf_action *a, struct xf_conn_request *rq)
{
    struct xf_buf url, fql;

    xf_buf_init(&url);
    xf_buf_init(&fql);
    xf_buf_appends(&fql, "hostname:'");
    for (const char *p = a->host; *p; p++) { /* FQL string: escape ' and \ */
        if (*p == '\'' || *p == '\\')
            xf_buf_append(&fql, "\\", 1);
        xf_buf_append(&fql, p, 1);
    }
    xf_buf_appends(&fql, "'");
    xf_buf_appendf(&url, "%s/devices/queries/devices/v1?filter=", st->base_url);
    xf_conn_url_encode(&url, fql.data ? fql.data : "");
    xf_buf_close(&fql);
    return xf_conn_token_call(rq, "GET", &url, &st->token);
}

/* POST /devices/entities/devices-actions/v2?action_name=contain|lift_containment {"ids":[aid]} */
static int req_act(struct cs_state *st, const struct xf_action *a, struct xf_conn_request *rq)
{
    struct xf_buf url;
    int rc;

    xf_buf_init(&url);
    xf_buf_appendf(&url, "%s/devices/entities/devices-actions/v2?action_name=%s", st->base_url,
                   a->kind == XF_ACT_RELEASE ? "lift_containment" : "contain");
    if ((rc = xf_conn_token_call(rq, "POST", &url, &st->token)))
        return rc;
    return xf_conn_request_json(rq, json_pack("{s:[s]}", "ids", a->device_id));
}

/* GET /devices/entities/devices/v2?ids=<aid> -> {"resources":[{"device_id","status"}]} */
static int req_status(struct cs_state *st, const struct xf_action *a, struct xf_conn_request *rq)
{
    struct xf_buf url;

    xf_buf_init(&url);
    xf_buf_appendf(&url, "%s/devices/entities/devices/v2?ids=", st->base_url);
    xf_conn_url_encode(&url, a->device_id);
    return xf_conn_token_call(rq, "GET", &url, &st->token);
}

/* ---- the state machine -------------------------------------------------------------------- */

static int cs_next(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                   struct xf_conn_request *out)
{
    struct cs_state *st = state;
    int step = a->phase & CS_STEP_MASK;

    if (a->kind != XF_ACT_ISOLATE && a->kind != XF_ACT_RELEASE)
        return XF_EINVAL;
    a->phase &= ~CS_TOKEN;
    if (xf_conn_token_due(&st->token, ctx->now_s)) {
        a->phase |= CS_TOKEN;
        return req_token(st, out);
    }
    if (step == CS_RESOLVE) {
        const char *dev = a->device_id[0] ? a->device_id : xf_conn_device(&st->devmap, a->host);

        if (!dev)
            return req_resolve(st, a, out);
        if (dev != a->device_id)
            snprintf(a->device_id, sizeof(a->device_id), "%s", dev);
        step = CS_ACT;
        a->phase = (a->phase & ~CS_STEP_MASK) | CS_ACT;
    }
    if (step == CS_ACT)
        return req_act(st, a, out);
    return req_status(st, a, out);
}

static void set_step(struct xf_action *a, int step)
{
    a->phase = (a->phase & ~CS_STEP_MASK) | step;
}

static int cs_on_reply(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                       const struct xf_conn_reply *r, struct xf_conn_outcome *out)
{
    struct cs_state *st = state;
    int step = a->phase & CS_STEP_MASK;
    int release = a->kind == XF_ACT_RELEASE;
    json_t *root = NULL, *res;

    memset(out, 0, sizeof(*out));
    if (a->phase & CS_TOKEN) {
        a->phase &= ~CS_TOKEN;
        xf_conn_token_on_reply(&st->token, "crowdstrike", st->name, 1799, ctx, r, out);
        ratelimit_retry_after(r, ctx, out);
        return 0;
    }
    if (xf_conn_token_on_401(&st->token, a, CS_REAUTH, r, out))
        return 0;
    root = xf_conn_reply_json(r);
    res = json_object_get(root, "resources");
    if (step == CS_RESOLVE) {
        size_t n = json_array_size(res);
        const char *aid = json_string_value(json_array_get(res, 0));

        if (r->status < 200 || r->status >= 300) {
            classify(r, ctx, out);
        } else if (n == 0) {
            out->step = XF_STEP_FAILED;
            snprintf(out->why, sizeof(out->why), "unknown host %.128s: no Falcon device", a->host);
        } else if (n > 1 || !aid || !*aid) {
            out->step = XF_STEP_FAILED;
            snprintf(out->why, sizeof(out->why), "host %.128s matches %zu Falcon devices; map it",
                     a->host, n);
        } else {
            snprintf(a->device_id, sizeof(a->device_id), "%s", aid);
            set_step(a, CS_ACT);
            out->step = XF_STEP_NEXT;
            snprintf(out->why, sizeof(out->why), "host %.100s is aid %.100s", a->host, aid);
        }
    } else if (step == CS_ACT) {
        int ok = r->status >= 200 && r->status < 300;
        /* a 2xx with no resource and an error: Falcon refused this id */
        int refused =
            ok && !json_array_size(res) && json_array_size(json_object_get(root, "errors"));
        int client_err = r->status >= 400 && r->status < 500 && r->status != 429;

        if (ok && !refused) {
            snprintf(a->remote_id, sizeof(a->remote_id), "%s", a->device_id);
            set_step(a, CS_POLL);
            out->step = XF_STEP_POLL;
            snprintf(out->why, sizeof(out->why), "HTTP %ld: %s accepted", r->status,
                     release ? "lift_containment" : "contain");
        } else if (r->status == 409 || ((refused || client_err) &&
                                        xf_conn_contains_nocase(r->body, r->body_len, "already"))) {
            /* already (not) contained, or an action pending: the device status decides */
            snprintf(a->remote_id, sizeof(a->remote_id), "%s", a->device_id);
            set_step(a, CS_POLL);
            out->step = XF_STEP_NEXT;
            snprintf(out->why, sizeof(out->why), "HTTP %ld: %.160s; checking the status", r->status,
                     falcon_error(root));
        } else if (refused) {
            out->step = XF_STEP_FAILED;
            snprintf(out->why, sizeof(out->why), "HTTP %ld: %.200s", r->status, falcon_error(root));
        } else {
            classify(r, ctx, out);
        }
    } else {
        json_t *dev = json_array_get(res, 0);
        const char *status = json_string_value(json_object_get(dev, "status"));

        if (r->status < 200 || r->status >= 300) {
            classify(r, ctx, out); /* a RETRY keeps polling: the action was accepted */
        } else if (!status) {
            out->step = XF_STEP_FAILED;
            snprintf(out->why, sizeof(out->why), "device %.128s: no status in the answer",
                     a->device_id);
        } else if (strcmp(status, release ? "normal" : "contained") == 0) {
            out->step = XF_STEP_CONFIRMED;
            snprintf(out->why, sizeof(out->why), "device %.128s is %.64s", a->device_id, status);
        } else {
            /* *_pending, or a stale status right after the action */
            out->step = XF_STEP_POLL;
            snprintf(out->why, sizeof(out->why), "device %.128s is %.64s", a->device_id, status);
        }
    }
    if (out->step == XF_STEP_RETRY && step != CS_POLL)
        a->phase = 0; /* a new attempt starts over (the aid stays resolved) */
    if (out->step == XF_STEP_RETRY || out->step == XF_STEP_FAILED)
        a->phase &= ~CS_REAUTH;
    json_decref(root);
    return 0;
}

const struct xf_connector_ops xf_conn_crowdstrike = {
    .type = "crowdstrike",
    .kinds = (1u << XF_ACT_ISOLATE) | (1u << XF_ACT_RELEASE),
    .create = cs_create,
    .destroy = cs_destroy,
    .next = cs_next,
    .on_reply = cs_on_reply,
};
