/*
 * conn_sentinelone.c - SentinelOne network quarantine (agents/actions/disconnect | connect).
 *
 * Steps of one attempt (a->phase): CHECK the agent (GET /web/api/v2.1/agents?ids=<id> for a
 * mapped host, else ?computerName=<host>), which resolves the id and short-cuts an agent that
 * is already disconnected (connected, for a release); ACT (POST agents/actions/disconnect
 * {"filter":{"ids":[id]},"data":{}}); POLL the agent until networkStatus is disconnected
 * (connected for a release).
 *
 * The one thing to know: a SentinelOne action applies to EVERY agent its filter matches, so
 * an empty or broad filter could quarantine the fleet. This connector only ever sends one
 * explicit id that passed id_ok(), refuses to build the request otherwise, and treats an
 * answer with data.affected != 1 as a failure (logged as an error when more than one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "connector.h"

#define S1_CHECK 0
#define S1_ACT 1
#define S1_POLL 2
#define S1_API "/web/api/v2.1"

struct s1_state {
    char *name;
    char *base_url; /* no trailing '/' */
    char *token;
    struct xf_connector_conf devmap; /* only name and devices */
};

/* Agent ids are decimal strings; anything else (empty, a comma list, a wildcard) is refused
 * before it can become a filter. */
static int id_ok(const char *id)
{
    size_t n = 0;

    for (; id[n]; n++) {
        char c = id[n];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_'))
            return 0;
    }
    return n > 0 && n < 64;
}

/* ---- config ------------------------------------------------------------------------------- */

static void s1_destroy(void *state)
{
    struct s1_state *st = state;

    if (!st)
        return;
    xf_conn_devices_free(&st->devmap);
    xf_free(st->name);
    xf_free(st->base_url);
    xf_free(st->token);
    xf_free(st);
}

static int s1_create(const struct xf_connector_conf *conf, void **state, char *why, size_t why_len)
{
    /* token itself is listed so xf_conn_secret says why it is refused */
    static const char *const keys[] = {"base_url", "token",      "token_env", "token_file",
                                       "actions",  "tls_verify", "ca_file",   "timeout_ms"};
    struct s1_state *st = NULL;
    const char *v;
    int rc = XF_ENOMEM;

    if ((v = xf_conn_unknown_key(conf, keys, XF_ARRAY_LEN(keys)))) {
        snprintf(why, why_len, "connector %s: unknown key %s for type sentinelone", conf->name, v);
        rc = XF_ECONFIG;
        goto out;
    }
    if (!(v = xf_connector_conf_get(conf, "base_url")) || !*v) {
        snprintf(why, why_len, "connector %s: base_url (the console URL) is required", conf->name);
        rc = XF_ECONFIG;
        goto out;
    }
    for (size_t i = 0; i < conf->n_devices; i++) {
        if (!id_ok(conf->devices[i].device_id)) {
            snprintf(why, why_len, "connector %s: device id of %s must be one agent id", conf->name,
                     conf->devices[i].host);
            rc = XF_ECONFIG;
            goto out;
        }
    }
    if (!(st = xf_calloc(1, sizeof(*st))) || !(st->name = xf_strdup(conf->name)) ||
        !(st->base_url = xf_conn_strdup_noslash(v)))
        goto out;
    if ((rc = xf_conn_secret(conf, "token", &st->token, why, why_len)))
        goto out;
    rc = XF_ENOMEM;
    st->devmap.name = st->name;
    if (xf_conn_devices_copy(&st->devmap, conf))
        goto out;
    *state = st;
    st = NULL;
    rc = 0;
out:
    s1_destroy(st);
    return rc;
}

/* ---- requests: each vendor shape lives in exactly one function below ----------------------- */

static int auth_headers(struct s1_state *st, struct xf_conn_request *rq)
{
    int rc = xf_conn_request_header(rq, "Authorization: ApiToken %s", st->token);

    return rc ? rc : xf_conn_request_header(rq, "Accept: application/json");
}

/* GET /web/api/v2.1/agents?ids=<id> | ?computerName=<host> -> {"data":[{"id",
 * "computerName","networkStatus"}]} */
static int req_agents(struct s1_state *st, const struct xf_action *a, const char *id,
                      struct xf_conn_request *rq)
{
    struct xf_buf url;
    int rc;

    xf_buf_init(&url);
    xf_buf_appendf(&url, "%s" S1_API "/agents?", st->base_url);
    xf_buf_appends(&url, id ? "ids=" : "computerName=");
    xf_conn_url_encode(&url, id ? id : a->host);
    rq->method = "GET";
    if ((rc = xf_conn_request_url(rq, &url)))
        return rc;
    return auth_headers(st, rq);
}

/* POST /web/api/v2.1/agents/actions/disconnect|connect {"filter":{"ids":[id]},"data":{}}
 * -> {"data":{"affected":1}} */
static int req_act(struct s1_state *st, const struct xf_action *a, struct xf_conn_request *rq)
{
    struct xf_buf url;
    int rc;

    if (!id_ok(a->device_id))
        return XF_EINVAL; /* never a request whose filter could match more than one agent */
    xf_buf_init(&url);
    xf_buf_appendf(&url, "%s" S1_API "/agents/actions/%s", st->base_url,
                   a->kind == XF_ACT_RELEASE ? "connect" : "disconnect");
    rq->method = "POST";
    if ((rc = xf_conn_request_url(rq, &url)) || (rc = auth_headers(st, rq)) ||
        (rc = xf_conn_request_header(rq, "Content-Type: application/json")))
        return rc;
    return xf_conn_request_json(
        rq, json_pack("{s:{s:[s]},s:{}}", "filter", "ids", a->device_id, "data"));
}

/* ---- the state machine -------------------------------------------------------------------- */

static int s1_next(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                   struct xf_conn_request *out)
{
    struct s1_state *st = state;
    const char *dev;

    (void)ctx;
    if (a->kind != XF_ACT_ISOLATE && a->kind != XF_ACT_RELEASE)
        return XF_EINVAL;
    switch (a->phase) {
    case S1_CHECK:
        dev = a->device_id[0] ? a->device_id : xf_conn_device(&st->devmap, a->host);
        return req_agents(st, a, dev, out);
    case S1_ACT:
        return req_act(st, a, out);
    default:
        if (!id_ok(a->device_id))
            return XF_EINVAL;
        return req_agents(st, a, a->device_id, out);
    }
}

static int s1_on_reply(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                       const struct xf_conn_reply *r, struct xf_conn_outcome *out)
{
    struct s1_state *st = state;
    const char *want = a->kind == XF_ACT_RELEASE ? "connected" : "disconnected";
    json_t *root = NULL, *data, *agent;
    const char *id, *name, *net, *mapped, *expect = a->device_id;

    memset(out, 0, sizeof(*out));
    if (r->status < 200 || r->status >= 300) {
        xf_conn_classify(r, ctx->now_s, out); /* a static ApiToken: a 401 is permanent */
        if (out->step == XF_STEP_RETRY && a->phase == S1_ACT)
            a->phase = S1_CHECK; /* the next attempt looks at the agent first */
        return 0;
    }
    root = xf_conn_reply_json(r);
    data = json_object_get(root, "data");
    if (a->phase == S1_ACT) {
        json_t *aff = json_object_get(data, "affected");
        json_int_t n = json_integer_value(aff);

        if (!json_is_integer(aff)) {
            out->step = XF_STEP_FAILED;
            snprintf(out->why, sizeof(out->why), "no data.affected in the answer");
        } else if (n == 1) {
            snprintf(a->remote_id, sizeof(a->remote_id), "%s", a->device_id);
            a->phase = S1_POLL;
            out->step = XF_STEP_POLL;
            snprintf(out->why, sizeof(out->why), "%s accepted for agent %.100s",
                     a->kind == XF_ACT_RELEASE ? "connect" : "disconnect", a->device_id);
        } else if (n == 0) {
            out->step = XF_STEP_FAILED;
            snprintf(out->why, sizeof(out->why), "no agent affected (id %.100s)", a->device_id);
        } else {
            out->step = XF_STEP_FAILED;
            snprintf(out->why, sizeof(out->why),
                     "%lld agents affected by a one-id filter (id %.100s)", (long long)n,
                     a->device_id);
            XF_ERROR("sentinelone %s: action %s on host %s affected %lld agents, expected 1",
                     st->name, a->id, a->host, (long long)n);
        }
        goto out;
    }
    /* the id the query asked for: what an answer must be about */
    if (!a->device_id[0] && a->phase == S1_CHECK && (mapped = xf_conn_device(&st->devmap, a->host)))
        expect = mapped;
    agent = json_array_get(data, 0);
    id = json_string_value(json_object_get(agent, "id"));
    name = json_string_value(json_object_get(agent, "computerName"));
    net = json_string_value(json_object_get(agent, "networkStatus"));
    if (json_array_size(data) == 0) {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "unknown host %.128s: no SentinelOne agent", a->host);
    } else if (json_array_size(data) > 1) {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "host %.128s matches %zu agents; map it", a->host,
                 json_array_size(data));
    } else if (!id || !id_ok(id) || (expect[0] && strcmp(id, expect) != 0)) {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "agent answer without a usable id for %.128s",
                 a->host);
    } else if (a->phase == S1_CHECK && !a->device_id[0] && !xf_conn_device(&st->devmap, a->host) &&
               (!name || !xf_strcaseeq(name, a->host))) {
        out->step = XF_STEP_FAILED; /* a filter that matched by something else than the name */
        snprintf(out->why, sizeof(out->why), "agent %.64s is named %.64s, not %.64s", id,
                 name ? name : "?", a->host);
    } else if (net && strcmp(net, want) == 0) {
        snprintf(a->device_id, sizeof(a->device_id), "%s", id);
        out->step = XF_STEP_CONFIRMED;
        snprintf(out->why, sizeof(out->why), "agent %.100s is %s", id, net);
    } else if (a->phase == S1_CHECK) {
        snprintf(a->device_id, sizeof(a->device_id), "%s", id);
        a->phase = S1_ACT;
        out->step = XF_STEP_NEXT;
        snprintf(out->why, sizeof(out->why), "agent %.100s is %.32s", id, net ? net : "?");
    } else {
        out->step = XF_STEP_POLL; /* disconnecting / connecting */
        snprintf(out->why, sizeof(out->why), "agent %.100s is %.32s", id, net ? net : "?");
    }
out:
    json_decref(root);
    return 0;
}

const struct xf_connector_ops xf_conn_sentinelone = {
    .type = "sentinelone",
    .kinds = (1u << XF_ACT_ISOLATE) | (1u << XF_ACT_RELEASE),
    .create = s1_create,
    .destroy = s1_destroy,
    .next = s1_next,
    .on_reply = s1_on_reply,
};
