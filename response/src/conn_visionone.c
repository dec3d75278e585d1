/*
 * conn_visionone.c - Trend Micro Vision One (API v3.0): isolate and restore an endpoint.
 *
 * What a reader must know: the isolate call answers 207 Multi-Status with one entry per
 * endpoint in the array we sent (always one here). Each entry carries its own status: 202 with
 * an Operation-Location header (the task to poll, followed exactly as given), or a 4xx for
 * that endpoint. The task object's "status" then goes queued -> running -> succeeded | failed.
 *
 *   phase 0  POST {base_url}/v3.0/response/endpoints/{isolate|restore}
 *            [{"agentGuid": id | "endpointName": host, "description": "xdrflow act-...: ..."}]
 *   phase 1  GET <Operation-Location>   ->   {"id": ..., "status": "..."}
 *
 * Decisions the vendor does not document (docs/response.md): an entry 4xx whose error says
 * "already" (already isolated / restored) counts as done; a task that ends "failed" is a
 * transient failure (RETRY: the agent may be offline; the attempt budget ends it) while
 * "rejected" or "cancelled" (someone said no) is FAILED. The poll URL must have the scheme and
 * host of base_url, so the API key is never sent anywhere else.
 */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "connector.h"

struct v1_state {
    char *base_url; /* without a trailing slash */
    char *token;
    struct xf_connector_conf devmap; /* only devices: the static host -> agentGuid map */
};

/* token itself is listed so xf_conn_secret says why it is refused */
static const char *const v1_keys[] = {"token",      "base_url", "token_env", "token_file",
                                      "tls_verify", "actions",  "ca_file"};

static void v1_destroy(void *state)
{
    struct v1_state *s = state;

    if (!s)
        return;
    xf_conn_devices_free(&s->devmap);
    xf_free(s->base_url);
    xf_conn_secret_free(s->token);
    xf_free(s);
}

static int v1_create(const struct xf_connector_conf *conf, void **state, char *why, size_t why_len)
{
    struct v1_state *s = NULL;
    const char *base = xf_connector_conf_get(conf, "base_url");
    int rc = 0;

    if ((rc = xf_conn_check_base(conf, "visionone", v1_keys, XF_ARRAY_LEN(v1_keys), why, why_len)))
        goto out;
    if (!(s = xf_calloc(1, sizeof(*s)))) {
        rc = XF_ENOMEM;
        goto out;
    }
    if (!(s->base_url = xf_conn_strdup_noslash(base))) {
        rc = XF_ENOMEM;
        goto out;
    }
    if ((rc = xf_conn_secret(conf, "token", &s->token, why, why_len)))
        goto out;
    if ((rc = xf_conn_devices_copy(&s->devmap, conf)))
        goto out;
    *state = s;
    s = NULL;
out:
    v1_destroy(s);
    return rc;
}

/* The length of "scheme://authority" at the start of url, 0 when it has none. */
static size_t v1_origin_len(const char *url)
{
    const char *p = strstr(url, "://");

    if (!p)
        return 0;
    p += 3;
    p += strcspn(p, "/?#");
    return (size_t)(p - url);
}

/* phase 0: the one place the isolate / restore request is shaped. */
static int v1_build_send(struct v1_state *s, struct xf_action *a, struct xf_conn_request *out)
{
    json_t *arr = NULL, *item = NULL;
    char *body = NULL, desc[200], url[1024];
    const char *dev = xf_conn_device(&s->devmap, a->host);
    int rc = 0;

    /* the static map wins over an id remembered from an earlier attempt */
    if (dev)
        snprintf(a->device_id, sizeof(a->device_id), "%s", dev);
    snprintf(desc, sizeof(desc), "xdrflow %s: %.160s", a->id,
             a->reason[0]                ? a->reason
             : a->kind == XF_ACT_ISOLATE ? "isolate"
                                         : "restore");
    snprintf(url, sizeof(url), "%s/v3.0/response/endpoints/%s", s->base_url,
             a->kind == XF_ACT_ISOLATE ? "isolate" : "restore");
    if (!(arr = json_array()) || !(item = json_object())) {
        rc = XF_ENOMEM;
        goto out;
    }
    if (a->device_id[0])
        rc = json_object_set_new(item, "agentGuid", json_string(a->device_id));
    else
        rc = json_object_set_new(item, "endpointName", json_string(a->host));
    rc |= json_object_set_new(item, "description", json_string(desc));
    rc |= json_array_append(arr, item);
    if (rc || !(body = json_dumps(arr, JSON_COMPACT))) {
        rc = XF_ENOMEM;
        goto out;
    }
    out->method = "POST";
    if (!(out->url = xf_strdup(url))) {
        rc = XF_ENOMEM;
        goto out;
    }
    if ((rc = xf_conn_request_header(out, "Authorization: Bearer %s", s->token)))
        goto out;
    if ((rc = xf_conn_request_header(out, "Content-Type: application/json;charset=utf-8")))
        goto out;
    rc = xf_buf_appends(&out->body, body);
out:
    free(body);
    json_decref(item);
    json_decref(arr);
    return rc;
}

static int v1_next(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                   struct xf_conn_request *out)
{
    struct v1_state *s = state;

    if (a->kind != XF_ACT_ISOLATE && a->kind != XF_ACT_RELEASE)
        return XF_EINVAL;
    /* a stored poll URL is checked again (the outbox is a file; base_url may have changed):
     * one not on base_url's origin would get the API key, so the attempt starts over, and
     * the vendor's "already" answer ends it */
    if (a->phase != 0 &&
        (!a->remote_id[0] || v1_origin_len(a->remote_id) != v1_origin_len(s->base_url) ||
         strncasecmp(a->remote_id, s->base_url, v1_origin_len(s->base_url)))) {
        a->phase = 0;
        a->remote_id[0] = '\0';
    }
    if (a->phase == 0)
        return v1_build_send(s, a, out);
    /* phase 1: the task, exactly where Operation-Location said it is */
    out->method = "GET";
    if (!(out->url = xf_strdup(a->remote_id)))
        return XF_ENOMEM;
    return xf_conn_request_header(out, "Authorization: Bearer %s", s->token);
}

/* The Operation-Location value of a multi-status entry's "headers" array, or NULL. */
static const char *v1_item_location(json_t *item)
{
    json_t *hs = json_object_get(item, "headers"), *h;
    size_t i;

    json_array_foreach(hs, i, h)
    {
        const char *name = json_string_value(json_object_get(h, "name"));

        if (name && strcasecmp(name, "Operation-Location") == 0)
            return json_string_value(json_object_get(h, "value"));
    }
    return NULL;
}

/* A multi-status entry's error text ("code: message"), for why and the "already" check. */
static void v1_item_error(json_t *item, char *buf, size_t len)
{
    json_t *err = json_object_get(json_object_get(item, "body"), "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *msg = json_string_value(json_object_get(err, "message"));

    snprintf(buf, len, "%s: %s", code ? code : "?", msg ? msg : "?");
}

static int v1_accepted(struct v1_state *s, struct xf_action *a, const char *loc,
                       struct xf_conn_outcome *out)
{
    size_t ol = v1_origin_len(s->base_url);

    if (!loc || !*loc) {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "accepted without an Operation-Location");
    } else if (strlen(loc) >= sizeof(a->remote_id)) {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "Operation-Location longer than %zu bytes",
                 sizeof(a->remote_id) - 1);
    } else if (v1_origin_len(loc) != ol || strncasecmp(loc, s->base_url, ol) != 0) {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "Operation-Location %.160s is not on %.60s", loc,
                 s->base_url);
    } else {
        snprintf(a->remote_id, sizeof(a->remote_id), "%s", loc);
        a->phase = 1;
        out->step = XF_STEP_POLL;
        snprintf(out->why, sizeof(out->why), "task accepted: %.200s", loc);
    }
    return 0;
}

/* phase 0 reply: 207 [{"status":202,"headers":[{"name":"Operation-Location",...}]}] */
static int v1_on_send(struct v1_state *s, struct xf_action *a, const struct xf_conn_ctx *ctx,
                      const struct xf_conn_reply *r, struct xf_conn_outcome *out)
{
    json_t *root = NULL, *item;
    char err[200];
    long st;

    if (r->status == 202) /* a single-endpoint answer without the multi-status wrapper */
        return v1_accepted(s, a, xf_conn_reply_header(r, "Operation-Location"), out);
    if (r->status != 207) {
        xf_conn_classify(r, ctx->now_s, out);
        if (out->step == XF_STEP_CONFIRMED) { /* a 2xx that is neither 202 nor 207 */
            out->step = XF_STEP_FAILED;
            snprintf(out->why, sizeof(out->why), "unexpected HTTP %ld", r->status);
        }
        return 0;
    }
    root = xf_conn_reply_json(r);
    item = json_array_get(root, 0);
    if (!json_is_object(item) || !json_is_integer(json_object_get(item, "status"))) {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "207 without a status entry: %.160s",
                 r->body ? r->body : "");
        goto out;
    }
    st = (long)json_integer_value(json_object_get(item, "status"));
    v1_item_error(item, err, sizeof(err));
    if (st == 202) {
        v1_accepted(s, a, v1_item_location(item), out);
    } else if (st >= 200 && st < 300) {
        out->step = XF_STEP_CONFIRMED;
        snprintf(out->why, sizeof(out->why), "endpoint status %ld", st);
    } else if (st == 429 || st >= 500) {
        out->step = XF_STEP_RETRY;
        out->retry_after_ms = xf_conn_retry_after_ms(r, ctx->now_s);
        snprintf(out->why, sizeof(out->why), "endpoint status %ld: %s", st, err);
    } else if (strcasestr(err, "already")) {
        out->step = XF_STEP_CONFIRMED;
        snprintf(out->why, sizeof(out->why), "already done: %s", err);
    } else {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "endpoint status %ld: %s", st, err);
    }
out:
    json_decref(root);
    return 0;
}

/* phase 1 reply: the task object. */
static int v1_on_poll(struct xf_action *a, const struct xf_conn_ctx *ctx,
                      const struct xf_conn_reply *r, struct xf_conn_outcome *out)
{
    json_t *root = NULL;
    const char *st;

    if (r->status == 0 || r->status == 429 || r->status >= 500) {
        /* the task exists; a transient error while reading it is another poll, not a
         * second isolate request */
        xf_conn_classify(r, ctx->now_s, out);
        out->step = XF_STEP_POLL;
        return 0;
    }
    if (r->status != 200) {
        xf_conn_classify(r, ctx->now_s, out);
        out->step = XF_STEP_FAILED;
        return 0;
    }
    root = xf_conn_reply_json(r);
    st = json_string_value(json_object_get(root, "status"));
    if (!st) {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "task without a status: %.160s", r->body);
    } else if (strcasecmp(st, "succeeded") == 0) {
        out->step = XF_STEP_CONFIRMED;
        snprintf(out->why, sizeof(out->why), "task succeeded");
    } else if (strcasecmp(st, "queued") == 0 || strcasecmp(st, "running") == 0 ||
               strcasecmp(st, "waitForApproval") == 0) {
        out->step = XF_STEP_POLL;
        snprintf(out->why, sizeof(out->why), "task %s", st);
    } else if (strcasecmp(st, "failed") == 0) {
        out->step = XF_STEP_RETRY;
        a->phase = 0;
        a->remote_id[0] = '\0';
        snprintf(out->why, sizeof(out->why), "task failed");
    } else {
        out->step = XF_STEP_FAILED; /* rejected, cancelled, or a status we do not know */
        snprintf(out->why, sizeof(out->why), "task %.64s", st);
    }
    json_decref(root);
    return 0;
}

static int v1_on_reply(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                       const struct xf_conn_reply *r, struct xf_conn_outcome *out)
{
    memset(out, 0, sizeof(*out));
    if (a->phase == 0)
        return v1_on_send(state, a, ctx, r, out);
    return v1_on_poll(a, ctx, r, out);
}

const struct xf_connector_ops xf_conn_visionone = {
    .type = "visionone",
    .kinds = 1u << XF_ACT_ISOLATE | 1u << XF_ACT_RELEASE,
    .create = v1_create,
    .destroy = v1_destroy,
    .next = v1_next,
    .on_reply = v1_on_reply,
};
