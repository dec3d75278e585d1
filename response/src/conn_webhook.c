/*
 * conn_webhook.c - the generic webhook connector: one signed POST per action.
 *
 * ISOLATE / RELEASE post {"type":"isolate"|"release","action":{...},"host":...,"incident":...}
 * and NOTIFY posts the incident JSON as it is, to `url`, signed per Standard Webhooks:
 *
 *   webhook-id: <action id>            (also Idempotency-Key: the same receiver-side dedup key)
 *   webhook-timestamp: <unix seconds>
 *   webhook-signature: v1,<base64(HMAC-SHA256(key, id + "." + timestamp + "." + body))>
 *
 * What a reader must know: the body of an action carries only fields that never change
 * between attempts (no state, no attempt counter), so a retried delivery is byte-for-byte the
 * same message under the same webhook-id apart from the timestamp and signature. The secret is
 * `whsec_<base64>` (the key is the decoded bytes, as the spec says) or, without the prefix,
 * used as raw bytes. 2xx and 409 (a receiver saying "duplicate") are delivered; 429 / 5xx / no
 * answer are retried honouring Retry-After; any other status is a permanent failure.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "connector.h"

struct webhook {
    char *url;
    unsigned char *key; /* HMAC key bytes; NULL: unsigned */
    size_t key_len;
    char *auth; /* a whole "Authorization: ..." header or NULL */
};

static const char *const known_keys[] = {
    "url",          "secret_env",    "secret_file", "token_env",  "token_file", "username",
    "password_env", "password_file", "actions",     "tls_verify", "ca_file",
};

static int key_known(const char *k)
{
    for (size_t i = 0; i < XF_ARRAY_LEN(known_keys); i++) {
        if (strcmp(known_keys[i], k) == 0)
            return 1;
    }
    return 0;
}

/* Standard base64 with padding into a new string. */
static char *b64_encode(const unsigned char *in, size_t len)
{
    char *out = xf_malloc(4 * ((len + 2) / 3) + 1);

    if (out)
        EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

/* Decodes standard base64; XF_EPARSE when it is not. */
static int b64_decode(const char *in, unsigned char **out, size_t *out_len)
{
    size_t len = strlen(in), pad = 0;
    unsigned char *buf;
    int n;

    *out = NULL;
    if (len == 0 || len % 4 != 0)
        return XF_EPARSE;
    if (!(buf = xf_malloc(len / 4 * 3 + 1)))
        return XF_ENOMEM;
    n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len);
    if (n < 0) {
        xf_free(buf);
        return XF_EPARSE;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes */
    while (pad < 2 && in[len - 1 - pad] == '=')
        pad++;
    *out = buf;
    *out_len = (size_t)n - pad;
    return 0;
}

static void webhook_destroy(void *state)
{
    struct webhook *w = state;

    if (!w)
        return;
    xf_free(w->url);
    if (w->key)
        OPENSSL_cleanse(w->key, w->key_len);
    xf_free(w->key);
    if (w->auth)
        OPENSSL_cleanse(w->auth, strlen(w->auth));
    xf_free(w->auth);
    xf_free(w);
}

static int has_secret(const struct xf_connector_conf *c, const char *key)
{
    char k[64];

    snprintf(k, sizeof(k), "%s_env", key);
    if (xf_connector_conf_get(c, k))
        return 1;
    snprintf(k, sizeof(k), "%s_file", key);
    return xf_connector_conf_get(c, k) != NULL;
}

/* The key bytes from the configured secret (whsec_<base64> or raw). */
static int load_key(struct webhook *w, const struct xf_connector_conf *c, char *why, size_t why_len)
{
    char *secret = NULL;
    int rc;

    if ((rc = xf_conn_secret(c, "secret", &secret, why, why_len)))
        return rc;
    if (strncmp(secret, "whsec_", 6) == 0) {
        if ((rc = b64_decode(secret + 6, &w->key, &w->key_len))) {
            snprintf(why, why_len, "connector %s: the whsec_ secret is not valid base64", c->name);
            rc = rc == XF_ENOMEM ? rc : XF_ECONFIG;
        }
    } else {
        w->key_len = strlen(secret);
        if (!(w->key = (unsigned char *)xf_strdup(secret)))
            rc = XF_ENOMEM;
    }
    OPENSSL_cleanse(secret, strlen(secret));
    xf_free(secret);
    return rc;
}

static int load_auth(struct webhook *w, const struct xf_connector_conf *c, char *why,
                     size_t why_len)
{
    const char *user = xf_connector_conf_get(c, "username");
    char *secret = NULL, *pair = NULL, *b64 = NULL;
    size_t n;
    int rc = 0;

    if (has_secret(c, "token")) {
        if (user) {
            snprintf(why, why_len, "connector %s: token_* and username are exclusive", c->name);
            return XF_ECONFIG;
        }
        if ((rc = xf_conn_secret(c, "token", &secret, why, why_len)))
            return rc;
        n = strlen(secret) + 32;
        if ((w->auth = xf_malloc(n)))
            snprintf(w->auth, n, "Authorization: Bearer %s", secret);
        else
            rc = XF_ENOMEM;
        goto out;
    }
    if (!user)
        return 0;
    if ((rc = xf_conn_secret(c, "password", &secret, why, why_len)))
        return rc;
    n = strlen(user) + strlen(secret) + 2;
    if (!(pair = xf_malloc(n))) {
        rc = XF_ENOMEM;
        goto out;
    }
    snprintf(pair, n, "%s:%s", user, secret);
    if (!(b64 = b64_encode((const unsigned char *)pair, strlen(pair)))) {
        rc = XF_ENOMEM;
        goto out;
    }
    n = strlen(b64) + 32;
    if ((w->auth = xf_malloc(n)))
        snprintf(w->auth, n, "Authorization: Basic %s", b64);
    else
        rc = XF_ENOMEM;
out:
    if (secret)
        OPENSSL_cleanse(secret, strlen(secret));
    if (pair)
        OPENSSL_cleanse(pair, strlen(pair));
    xf_free(secret);
    xf_free(pair);
    xf_free(b64);
    return rc;
}

static int webhook_create(const struct xf_connector_conf *c, void **state, char *why,
                          size_t why_len)
{
    struct webhook *w = NULL;
    const char *url = xf_connector_conf_get(c, "url");
    int rc = XF_ECONFIG;

    *state = NULL;
    for (size_t i = 0; i < c->n_params; i++) {
        const char *k = c->params[i].key;

        if (strcmp(k, "secret") == 0 || strcmp(k, "token") == 0 || strcmp(k, "password") == 0) {
            snprintf(why, why_len,
                     "connector %s: %s must not be written in the config; use %s_env or %s_file",
                     c->name, k, k, k);
            goto out;
        }
        if (!key_known(k)) {
            snprintf(why, why_len, "connector %s: unknown key %s for type webhook", c->name, k);
            goto out;
        }
    }
    if (!xf_conn_is_http_url(url)) {
        snprintf(why, why_len, "connector %s: url (http:// or https://) is required", c->name);
        goto out;
    }
    if (!(w = xf_calloc(1, sizeof(*w))) || !(w->url = xf_strdup(url))) {
        rc = XF_ENOMEM;
        goto out;
    }
    if (has_secret(c, "secret") && (rc = load_key(w, c, why, why_len)))
        goto out;
    if ((rc = load_auth(w, c, why, why_len)))
        goto out;
    *state = w;
    w = NULL;
    rc = 0;
out:
    webhook_destroy(w);
    return rc;
}

/* The stable part of an action: what a receiver needs, nothing that changes per attempt. */
static int action_body(const struct xf_action *a, struct xf_buf *out)
{
    json_t *root = NULL, *act = NULL;
    char *s = NULL;
    int rc = XF_ENOMEM;

    act = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "id", a->id, "kind",
                    xf_action_kind_name(a->kind), "host", a->host, "incident", a->incident,
                    "connector", a->connector, "requested_by", a->requested_by, "reason", a->reason,
                    "created_ms", (json_int_t)a->created_ms);
    if (!act)
        goto out;
    root = json_pack("{s:s, s:O, s:s, s:s}", "type", xf_action_kind_name(a->kind), "action", act,
                     "host", a->host, "incident", a->incident);
    if (!root)
        goto out;
    if (!(s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER)))
        goto out;
    rc = xf_buf_appends(out, s);
out:
    free(s); /* jansson's own allocation */
    json_decref(root);
    json_decref(act);
    return rc;
}

/* "v1,<base64 HMAC-SHA256(key, id.ts.body)>" into sig. */
static int sign(const struct webhook *w, const char *id, int64_t ts, const char *body,
                size_t body_len, char *sig, size_t sig_len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char prefix[128];
    struct xf_buf msg;
    char *b64 = NULL;
    int n, rc = XF_ENOMEM;

    xf_buf_init(&msg);
    n = snprintf(prefix, sizeof(prefix), "%s.%lld.", id, (long long)ts);
    if (n < 0 || (size_t)n >= sizeof(prefix)) {
        rc = XF_ETOOBIG;
        goto out;
    }
    if (xf_buf_append(&msg, prefix, (size_t)n) || xf_buf_append(&msg, body, body_len))
        goto out;
    if (!HMAC(EVP_sha256(), w->key, (int)w->key_len, (const unsigned char *)msg.data, msg.len, mac,
              &mac_len)) {
        rc = XF_EINTERNAL;
        goto out;
    }
    if (!(b64 = b64_encode(mac, mac_len)))
        goto out;
    snprintf(sig, sig_len, "v1,%s", b64);
    rc = 0;
out:
    xf_free(b64);
    xf_buf_close(&msg);
    return rc;
}

static int webhook_next(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                        struct xf_conn_request *out)
{
    struct webhook *w = state;
    char sig[128];
    int rc;

    memset(out, 0, sizeof(*out));
    xf_buf_init(&out->body);
    out->method = "POST";
    if (!(out->url = xf_strdup(w->url)))
        return XF_ENOMEM;
    if (a->kind == XF_ACT_NOTIFY) {
        if (!ctx->payload)
            return XF_EINVAL;
        rc = xf_buf_append(&out->body, ctx->payload, ctx->payload_len);
    } else {
        rc = action_body(a, &out->body);
    }
    if (rc)
        return rc;
    if ((rc = xf_conn_request_header(out, "Content-Type: application/json")) ||
        (rc = xf_conn_request_header(out, "webhook-id: %s", a->id)) ||
        (rc = xf_conn_request_header(out, "webhook-timestamp: %lld", (long long)ctx->now_s)) ||
        (rc = xf_conn_request_header(out, "Idempotency-Key: %s", a->id)))
        return rc;
    if (w->key) {
        if ((rc = sign(w, a->id, ctx->now_s, out->body.len ? out->body.data : "", out->body.len,
                       sig, sizeof(sig))) ||
            (rc = xf_conn_request_header(out, "webhook-signature: %s", sig)))
            return rc;
    }
    if (w->auth && (rc = xf_conn_request_header(out, "%s", w->auth)))
        return rc;
    return 0;
}

static int webhook_on_reply(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                            const struct xf_conn_reply *r, struct xf_conn_outcome *out)
{
    (void)state;
    (void)a;
    if (r->status == 409) {
        /* the receiver already has this webhook-id: delivered before */
        memset(out, 0, sizeof(*out));
        out->step = XF_STEP_CONFIRMED;
        snprintf(out->why, sizeof(out->why), "HTTP 409: duplicate, delivered before");
        return 0;
    }
    xf_conn_classify(r, ctx->now_s, out);
    return 0;
}

const struct xf_connector_ops xf_conn_webhook = {
    .type = "webhook",
    .kinds = 1u << XF_ACT_ISOLATE | 1u << XF_ACT_RELEASE | 1u << XF_ACT_NOTIFY,
    .create = webhook_create,
    .destroy = webhook_destroy,
    .next = webhook_next,
    .on_reply = webhook_on_reply,
};
