/*
 * conn_cortex.c - Palo Alto Cortex XDR: isolate and unisolate an endpoint.
 *
 * What a reader must know: Cortex refuses to isolate an endpoint that is already isolated with
 * an HTTP 500 ("... can't create group action id for ISOLATE"), so every attempt starts with a
 * pre-check of the endpoint's state, and that 500 sends us back to a second check instead of
 * into a retry loop against a host that is in fact already contained.
 *
 *   phase 0  POST /public_api/v1/endpoints/get_endpoint       pre-check (and host -> id)
 *   phase 1  POST /public_api/v1/endpoints/{isolate|unisolate} {"request_data":{"endpoint_id"}}
 *   phase 2  POST /public_api/v1/actions/get_action_status    {"group_action_id": action_id}
 *   phase 3  the pre-check again, after the 500 above: isolated -> done, else RETRY
 *
 * Auth: standard keys send the key itself in Authorization; advanced keys send
 * hex(sha256(key + nonce + timestamp_ms)) with x-xdr-nonce (64 random alphanumerics) and
 * x-xdr-timestamp. The action status strings are not in the public docs (docs/response.md
 * lists the ones used here).
 */
#define _GNU_SOURCE /* strcasestr */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "connector.h"

enum { CX_PRECHECK = 0, CX_SEND = 1, CX_POLL = 2, CX_RECHECK = 3 };

struct cx_state {
    char *base_url; /* without a trailing slash */
    char *key;
    char *key_id;
    int advanced;
    struct xf_connector_conf devmap; /* only devices: the static host -> endpoint_id map */
};

/* key itself is listed so xf_conn_secret says why it is refused */
static const char *const cx_keys[] = {"key",       "base_url",   "key_env", "key_file", "key_id",
                                      "auth_type", "tls_verify", "ca_file", "actions"};

static void cx_destroy(void *state)
{
    struct cx_state *s = state;

    if (!s)
        return;
    xf_conn_devices_free(&s->devmap);
    xf_free(s->base_url);
    xf_free(s->key_id);
    xf_conn_secret_free(s->key);
    xf_free(s);
}

static int cx_create(const struct xf_connector_conf *conf, void **state, char *why, size_t why_len)
{
    struct cx_state *s = NULL;
    const char *base = xf_connector_conf_get(conf, "base_url");
    const char *kid = xf_connector_conf_get(conf, "key_id");
    const char *at = xf_connector_conf_get(conf, "auth_type");
    int rc = 0;

    if ((rc = xf_conn_check_base(conf, "cortex", cx_keys, XF_ARRAY_LEN(cx_keys), why, why_len)))
        goto out;
    if (!kid || !*kid) {
        snprintf(why, why_len, "connector %s: key_id (the API key's id) is required", conf->name);
        rc = XF_ECONFIG;
        goto out;
    }
    if (at && strcmp(at, "standard") != 0 && strcmp(at, "advanced") != 0) {
        snprintf(why, why_len, "connector %s: auth_type must be standard or advanced, not '%s'",
                 conf->name, at);
        rc = XF_ECONFIG;
        goto out;
    }
    if (!(s = xf_calloc(1, sizeof(*s)))) {
        rc = XF_ENOMEM;
        goto out;
    }
    s->advanced = at && strcmp(at, "advanced") == 0;
    if (!(s->base_url = xf_conn_strdup_noslash(base)) || !(s->key_id = xf_strdup(kid))) {
        rc = XF_ENOMEM;
        goto out;
    }
    if ((rc = xf_conn_secret(conf, "key", &s->key, why, why_len)))
        goto out;
    if ((rc = xf_conn_devices_copy(&s->devmap, conf)))
        goto out;
    *state = s;
    s = NULL;
out:
    cx_destroy(s);
    return rc;
}

/* 64 alphanumerics from RAND_bytes; bytes >= 248 are drawn again so each of the 62 symbols
 * is equally likely. */
static int cx_nonce(char out[65])
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[128];
    size_t n = 0;

    while (n < 64) {
        if (RAND_bytes(rnd, (int)sizeof(rnd)) != 1)
            return XF_EINTERNAL;
        for (size_t i = 0; i < sizeof(rnd) && n < 64; i++) {
            if (rnd[i] < 248)
                out[n++] = alnum[rnd[i] % 62];
        }
    }
    out[64] = '\0';
    return 0;
}

/* The auth headers of every request. */
static int cx_auth(struct cx_state *s, const struct xf_conn_ctx *ctx, struct xf_conn_request *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char nonce[65], ts[24], hex[2 * EVP_MAX_MD_SIZE + 1];
    struct xf_buf pre;
    int rc;

    if (!s->advanced) {
        if ((rc = xf_conn_request_header(out, "Authorization: %s", s->key)))
            return rc;
        return xf_conn_request_header(out, "x-xdr-auth-id: %s", s->key_id);
    }
    xf_buf_init(&pre);
    snprintf(ts, sizeof(ts), "%" PRId64, ctx->now_s * 1000);
    if ((rc = cx_nonce(nonce)))
        goto out;
    if ((rc = xf_buf_appendf(&pre, "%s%s%s", s->key, nonce, ts)))
        goto out;
    if (EVP_Digest(pre.data, pre.len, md, &mdlen, EVP_sha256(), NULL) != 1) {
        rc = XF_EINTERNAL;
        goto out;
    }
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[2 * mdlen] = '\0';
    if ((rc = xf_conn_request_header(out, "x-xdr-auth-id: %s", s->key_id)) ||
        (rc = xf_conn_request_header(out, "x-xdr-nonce: %s", nonce)) ||
        (rc = xf_conn_request_header(out, "x-xdr-timestamp: %s", ts)) ||
        (rc = xf_conn_request_header(out, "Authorization: %s", hex)))
        goto out;
out:
    if (pre.data)
        memset(pre.data, 0, pre.len);
    xf_buf_close(&pre);
    return rc;
}

/* A POST of {"request_data": rd} to path (rd is taken). The one place requests are shaped. */
static int cx_post(struct cx_state *s, const struct xf_conn_ctx *ctx, const char *path, json_t *rd,
                   struct xf_conn_request *out)
{
    json_t *root = json_object();
    char *body = NULL;
    struct xf_buf url;
    int rc = 0;

    xf_buf_init(&url);
    if (!root || !rd || json_object_set_new(root, "request_data", rd)) {
        if (!root)
            json_decref(rd);
        rc = XF_ENOMEM;
        goto out;
    }
    if (!(body = json_dumps(root, JSON_COMPACT))) {
        rc = XF_ENOMEM;
        goto out;
    }
    if ((rc = xf_buf_appendf(&url, "%s%s", s->base_url, path)))
        goto out;
    out->method = "POST";
    out->url = xf_buf_steal(&url, NULL);
    if ((rc = cx_auth(s, ctx, out)))
        goto out;
    if ((rc = xf_conn_request_header(out, "Content-Type: application/json")))
        goto out;
    rc = xf_buf_appends(&out->body, body);
out:
    free(body);
    json_decref(root);
    xf_buf_close(&url);
    return rc;
}

/* {"filters":[{"field": field,"operator":"in","value":[value]}]} */
static json_t *cx_filter(const char *field, const char *value)
{
    return json_pack("{s:[{s:s,s:s,s:[s]}]}", "filters", "field", field, "operator", "in", "value",
                     value);
}

static int cx_next(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                   struct xf_conn_request *out)
{
    struct cx_state *s = state;
    const char *dev;

    if (a->kind != XF_ACT_ISOLATE && a->kind != XF_ACT_RELEASE)
        return XF_EINVAL;
    switch (a->phase) {
    case CX_PRECHECK:
    case CX_RECHECK:
        /* the static map wins over an id remembered from an earlier attempt */
        if ((dev = xf_conn_device(&s->devmap, a->host)))
            snprintf(a->device_id, sizeof(a->device_id), "%s", dev);
        if (a->device_id[0])
            return cx_post(s, ctx, "/public_api/v1/endpoints/get_endpoint",
                           cx_filter("endpoint_id_list", a->device_id), out);
        return cx_post(s, ctx, "/public_api/v1/endpoints/get_endpoint",
                       cx_filter("hostname", a->host), out);
    case CX_SEND:
        return cx_post(s, ctx,
                       a->kind == XF_ACT_ISOLATE ? "/public_api/v1/endpoints/isolate"
                                                 : "/public_api/v1/endpoints/unisolate",
                       json_pack("{s:s}", "endpoint_id", a->device_id), out);
    case CX_POLL: {
        char *end = NULL;
        long long id = strtoll(a->remote_id, &end, 10);
        json_t *v = *a->remote_id && end && !*end ? json_integer(id) : json_string(a->remote_id);

        return cx_post(s, ctx, "/public_api/v1/actions/get_action_status",
                       json_pack("{s:o}", "group_action_id", v), out);
    }
    default:
        return XF_EINVAL;
    }
}

enum cx_iso { ISO_NO, ISO_YES, ISO_PENDING };

/* An endpoint's isolation as get_endpoint shows it: is_isolated is documented as a string
 * (AGENT_ISOLATED, AGENT_UNISOLATED, AGENT_PENDING_ISOLATION,
 * AGENT_PENDING_ISOLATION_CANCELLATION); older tenants answer a boolean. */
static enum cx_iso cx_isolation(json_t *ep)
{
    json_t *v = json_object_get(ep, "is_isolated");
    const char *st = json_string_value(json_object_get(ep, "endpoint_status"));
    const char *s = json_string_value(v);

    if (json_is_boolean(v))
        return json_is_true(v) ? ISO_YES : ISO_NO;
    if (s && strcasestr(s, "PENDING"))
        return ISO_PENDING;
    if (s && (strcasecmp(s, "AGENT_ISOLATED") == 0 || strcasecmp(s, "ISOLATED") == 0))
        return ISO_YES;
    if (st && strcasecmp(st, "ISOLATED") == 0)
        return ISO_YES;
    return ISO_NO;
}

static void cx_on_check(struct xf_action *a, const struct xf_conn_ctx *ctx,
                        const struct xf_conn_reply *r, struct xf_conn_outcome *out)
{
    json_t *root = NULL, *eps, *ep;
    const char *id;
    enum cx_iso iso;
    int want = a->kind == XF_ACT_ISOLATE;

    if (r->status != 200) {
        xf_conn_classify(r, ctx->now_s, out);
        if (out->step == XF_STEP_CONFIRMED) {
            out->step = XF_STEP_FAILED;
            snprintf(out->why, sizeof(out->why), "get_endpoint: unexpected HTTP %ld", r->status);
        }
        return;
    }
    root = xf_conn_reply_json(r);
    eps = json_object_get(json_object_get(root, "reply"), "endpoints");
    if (!json_is_array(eps)) {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "get_endpoint: no endpoints in %.160s",
                 r->body ? r->body : "");
        goto out;
    }
    if (json_array_size(eps) != 1) {
        /* never act on a guess: none is an unknown host, several an ambiguous name */
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "get_endpoint: %zu endpoints match %.128s",
                 json_array_size(eps), a->device_id[0] ? a->device_id : a->host);
        goto out;
    }
    ep = json_array_get(eps, 0);
    id = json_string_value(json_object_get(ep, "endpoint_id"));
    if (!id || !*id || strlen(id) >= sizeof(a->device_id) ||
        (a->device_id[0] && strcmp(id, a->device_id) != 0)) {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "get_endpoint: endpoint_id %.64s is not %.64s",
                 id ? id : "(none)", a->device_id[0] ? a->device_id : "a valid id");
        goto out;
    }
    snprintf(a->device_id, sizeof(a->device_id), "%s", id);
    iso = cx_isolation(ep);
    if (iso == ISO_PENDING) {
        out->step = XF_STEP_POLL; /* a change is under way: look again, send nothing */
        snprintf(out->why, sizeof(out->why), "endpoint %s: isolation change pending", id);
    } else if ((iso == ISO_YES) == want) {
        out->step = XF_STEP_CONFIRMED;
        snprintf(out->why, sizeof(out->why), "endpoint %s already %s", id,
                 want ? "isolated" : "not isolated");
    } else if (a->phase == CX_RECHECK) {
        out->step = XF_STEP_RETRY;
        a->phase = CX_PRECHECK;
        snprintf(out->why, sizeof(out->why),
                 "endpoint %s: no group action was created and the endpoint is not %s", id,
                 want ? "isolated" : "released");
    } else {
        a->phase = CX_SEND;
        out->step = XF_STEP_NEXT;
        snprintf(out->why, sizeof(out->why), "endpoint %s resolved", id);
    }
out:
    json_decref(root);
}

static void cx_on_send(struct xf_action *a, const struct xf_conn_ctx *ctx,
                       const struct xf_conn_reply *r, struct xf_conn_outcome *out)
{
    json_t *root = NULL, *id;
    const char *body = r->body ? r->body : "";

    if (r->status == 500 && (strcasestr(body, "can't create group action") ||
                             strcasestr(body, "No endpoint was found for creating"))) {
        /* Cortex's answer for an endpoint already in the wanted state: check again */
        a->phase = CX_RECHECK;
        out->step = XF_STEP_NEXT;
        snprintf(out->why, sizeof(out->why), "no group action created; checking the endpoint");
        return;
    }
    if (r->status != 200) {
        xf_conn_classify(r, ctx->now_s, out);
        if (out->step == XF_STEP_CONFIRMED)
            out->step = XF_STEP_FAILED;
        return;
    }
    root = xf_conn_reply_json(r);
    id = json_object_get(json_object_get(root, "reply"), "action_id");
    if (json_is_integer(id)) {
        snprintf(a->remote_id, sizeof(a->remote_id), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(id));
    } else if (json_is_string(id) && json_string_length(id) > 0 &&
               json_string_length(id) < sizeof(a->remote_id)) {
        snprintf(a->remote_id, sizeof(a->remote_id), "%s", json_string_value(id));
    } else {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "no reply.action_id in %.160s", body);
        goto out;
    }
    a->phase = CX_POLL;
    out->step = XF_STEP_POLL;
    snprintf(out->why, sizeof(out->why), "group action %.64s", a->remote_id);
out:
    json_decref(root);
}

/* get_action_status: {"reply":{"data":{"<endpoint_id>":"<STATUS>"}}} */
static void cx_on_poll(struct xf_action *a, const struct xf_conn_ctx *ctx,
                       const struct xf_conn_reply *r, struct xf_conn_outcome *out)
{
    static const char *const waiting[] = {"PENDING", "IN_PROGRESS", "PENDING_ABORT"};
    static const char *const transient[] = {"FAILED", "TIMEOUT", "EXPIRED", "COMPLETED_PARTIAL"};
    json_t *root = NULL, *data;
    const char *st;

    if (r->status == 0 || r->status == 429 || r->status >= 500) {
        /* the group action exists; a transient error reading it is another poll */
        xf_conn_classify(r, ctx->now_s, out);
        out->step = XF_STEP_POLL;
        return;
    }
    if (r->status != 200) {
        xf_conn_classify(r, ctx->now_s, out);
        out->step = XF_STEP_FAILED;
        return;
    }
    root = xf_conn_reply_json(r);
    data = json_object_get(json_object_get(root, "reply"), "data");
    st = json_string_value(json_object_get(data, a->device_id));
    if (!st && json_object_size(data) == 1) {
        const char *k;
        json_t *v;

        json_object_foreach(data, k, v) st = json_string_value(v);
    }
    if (!st) {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "action %.64s: no status for %.64s", a->remote_id,
                 a->device_id);
        goto out;
    }
    snprintf(out->why, sizeof(out->why), "action %.64s: %.64s", a->remote_id, st);
    if (strcmp(st, "COMPLETED_SUCCESSFULLY") == 0) {
        out->step = XF_STEP_CONFIRMED;
        goto out;
    }
    for (size_t i = 0; i < XF_ARRAY_LEN(waiting); i++) {
        if (strcmp(st, waiting[i]) == 0) {
            out->step = XF_STEP_POLL;
            goto out;
        }
    }
    for (size_t i = 0; i < XF_ARRAY_LEN(transient); i++) {
        if (strcmp(st, transient[i]) == 0) {
            out->step = XF_STEP_RETRY; /* the next attempt starts with the pre-check */
            a->phase = CX_PRECHECK;
            a->remote_id[0] = '\0';
            goto out;
        }
    }
    out->step = XF_STEP_FAILED; /* CANCELED, ABORTED (someone stopped it) or unknown */
out:
    json_decref(root);
}

static int cx_on_reply(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                       const struct xf_conn_reply *r, struct xf_conn_outcome *out)
{
    memset(out, 0, sizeof(*out));
    switch (a->phase) {
    case CX_PRECHECK:
    case CX_RECHECK:
        cx_on_check(a, ctx, r, out);
        return 0;
    case CX_SEND:
        cx_on_send(a, ctx, r, out);
        return 0;
    case CX_POLL:
        cx_on_poll(a, ctx, r, out);
        return 0;
    default:
        return XF_EINVAL;
    }
}

const struct xf_connector_ops xf_conn_cortex = {
    .type = "cortex",
    .kinds = 1u << XF_ACT_ISOLATE | 1u << XF_ACT_RELEASE,
    .create = cx_create,
    .destroy = cx_destroy,
    .next = cx_next,
    .on_reply = cx_on_reply,
};
