/*
 * connector.c - the connector table and the helpers every connector shares.
 *
 * What a reader must know: adding a connector is one conn_<type>.c defining a
 * `const struct xf_connector_ops xf_conn_<type>` and one row in the table below; nothing else
 * in the response loop knows vendor names.
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "connector.h"

extern const struct xf_connector_ops xf_conn_webhook;
extern const struct xf_connector_ops xf_conn_crowdstrike;
extern const struct xf_connector_ops xf_conn_defender;
extern const struct xf_connector_ops xf_conn_sentinelone;
extern const struct xf_connector_ops xf_conn_visionone;
extern const struct xf_connector_ops xf_conn_cortex;
extern const struct xf_connector_ops xf_conn_soar;

/* One row per connector type; each file adds its own. */
static const struct xf_connector_ops *const table[] = {
    NULL, /* keeps the array non-empty; skipped */
    &xf_conn_crowdstrike,
    &xf_conn_defender,
    &xf_conn_sentinelone,
    &xf_conn_webhook,
    &xf_conn_visionone,
    &xf_conn_cortex,
    &xf_conn_soar,
};

const struct xf_connector_ops *xf_connector_find(const char *type)
{
    if (!type)
        return NULL;
    for (size_t i = 0; i < XF_ARRAY_LEN(table); i++) {
        if (table[i] && strcmp(table[i]->type, type) == 0)
            return table[i];
    }
    return NULL;
}

const struct xf_connector_ops *const *xf_connector_all(size_t *n)
{
    *n = XF_ARRAY_LEN(table) - 1;
    return table + 1;
}

void xf_conn_request_reset(struct xf_conn_request *rq)
{
    xf_free(rq->url);
    for (size_t i = 0; i < rq->n_headers; i++)
        xf_free(rq->headers[i]);
    xf_buf_close(&rq->body);
    memset(rq, 0, sizeof(*rq));
}

int xf_conn_request_header(struct xf_conn_request *rq, const char *fmt, ...)
{
    va_list ap;
    char *h;
    int n;

    if (rq->n_headers == XF_HTTP_MAX_HEADERS)
        return XF_ETOOBIG;
    /* measured first: a bearer JWT or a signature list can be several KiB */
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || n > 65536)
        return XF_ETOOBIG;
    if (!(h = xf_malloc((size_t)n + 1)))
        return XF_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(h, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rq->headers[rq->n_headers++] = h;
    return 0;
}

const char *xf_conn_reply_header(const struct xf_conn_reply *r, const char *name)
{
    size_t nl = strlen(name);

    for (size_t i = 0; i < r->n_headers; i++) {
        const char *h = r->headers[i];

        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            h += nl + 1;
            while (*h == ' ' || *h == '\t')
                h++;
            return h;
        }
    }
    return NULL;
}

const char *xf_connector_conf_get(const struct xf_connector_conf *c, const char *key)
{
    for (size_t i = 0; i < c->n_params; i++) {
        if (strcmp(c->params[i].key, key) == 0)
            return c->params[i].value;
    }
    return NULL;
}

/* Reads a whole small secret file, without the trailing newline. */
static int read_secret_file(const char *path, char **out)
{
    FILE *f = fopen(path, "r");
    char buf[4096];
    size_t n;

    if (!f)
        return XF_EIO;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    *out = xf_strdup(buf);
    return *out ? 0 : XF_ENOMEM;
}

int xf_conn_secret(const struct xf_connector_conf *c, const char *key, char **out, char *why,
                   size_t why_len)
{
    char k[96];
    const char *v;
    int rc;

    *out = NULL;
    if (xf_connector_conf_get(c, key)) {
        snprintf(why, why_len,
                 "connector %s: %s must not be written in the config; use %s_env or %s_file",
                 c->name, key, key, key);
        return XF_ECONFIG;
    }
    snprintf(k, sizeof(k), "%s_env", key);
    if ((v = xf_connector_conf_get(c, k))) {
        const char *s = getenv(v);

        if (!s || !*s) {
            snprintf(why, why_len, "connector %s: environment variable %s (%s) is not set", c->name,
                     v, k);
            return XF_ECONFIG;
        }
        *out = xf_strdup(s);
        return *out ? 0 : XF_ENOMEM;
    }
    snprintf(k, sizeof(k), "%s_file", key);
    if ((v = xf_connector_conf_get(c, k))) {
        if ((rc = read_secret_file(v, out))) {
            snprintf(why, why_len, "connector %s: cannot read %s %s: %s", c->name, k, v,
                     strerror(errno));
            return XF_ECONFIG;
        }
        return 0;
    }
    snprintf(why, why_len, "connector %s: %s_env or %s_file is required", c->name, key, key);
    return XF_ECONFIG;
}

const char *xf_conn_device(const struct xf_connector_conf *c, const char *host)
{
    for (size_t i = 0; i < c->n_devices; i++) {
        if (strcasecmp(c->devices[i].host, host) == 0)
            return c->devices[i].device_id;
    }
    return NULL;
}

int64_t xf_conn_retry_after_ms(const struct xf_conn_reply *r, int64_t now_s)
{
    const char *v = xf_conn_reply_header(r, "retry-after");
    struct tm tm;
    char *end;

    if (!v || !*v)
        return 0;
    if (isdigit((unsigned char)*v)) {
        long long s;

        errno = 0;
        s = strtoll(v, &end, 10);
        if (errno || s < 0 || s > 86400)
            return 0;
        return (int64_t)s * 1000;
    }
    /* HTTP-date: "Sun, 06 Nov 1994 08:49:37 GMT" */
    memset(&tm, 0, sizeof(tm));
    end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end)
        return 0;
    {
        int64_t t = (int64_t)timegm(&tm);

        /* the same day-long ceiling as the seconds form: a date years ahead is not a reason
         * to park an isolation */
        if (t <= now_s)
            return 0;
        return t - now_s > 86400 ? 86400 * 1000 : (t - now_s) * 1000;
    }
}

void xf_conn_classify(const struct xf_conn_reply *r, int64_t now_s, struct xf_conn_outcome *out)
{
    int blen = r->body_len > 160 ? 160 : (int)r->body_len;

    memset(out, 0, sizeof(*out));
    if (r->status == 0) {
        out->step = XF_STEP_RETRY;
        snprintf(out->why, sizeof(out->why), "no answer: %s", r->error ? r->error : "?");
    } else if (r->status >= 200 && r->status < 300) {
        out->step = XF_STEP_CONFIRMED;
        snprintf(out->why, sizeof(out->why), "HTTP %ld", r->status);
    } else if (r->status == 429 || r->status >= 500) {
        out->step = XF_STEP_RETRY;
        out->retry_after_ms = xf_conn_retry_after_ms(r, now_s);
        snprintf(out->why, sizeof(out->why), "HTTP %ld: %.*s", r->status, blen,
                 r->body ? r->body : "");
    } else {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "HTTP %ld: %.*s", r->status, blen,
                 r->body ? r->body : "");
    }
}

/* ---- request and answer plumbing ----------------------------------------------------------- */

void xf_conn_url_encode(struct xf_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            xf_buf_append(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};

            xf_buf_append(b, e, 3);
        }
    }
}

int xf_conn_request_url(struct xf_conn_request *rq, struct xf_buf *url)
{
    if (!url->len)
        return XF_ENOMEM; /* every append that built it failed */
    rq->url = xf_buf_steal(url, NULL);
    return 0;
}

int xf_conn_request_json(struct xf_conn_request *rq, json_t *v)
{
    char *s;
    int rc;

    if (!v)
        return XF_ENOMEM;
    s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (!s)
        return XF_ENOMEM;
    rc = xf_buf_appends(&rq->body, s);
    free(s); /* jansson's allocator */
    return rc;
}

json_t *xf_conn_reply_json(const struct xf_conn_reply *r)
{
    if (!r->body || !r->body_len)
        return NULL;
    return json_loadb(r->body, r->body_len, 0, NULL);
}

int xf_conn_contains_nocase(const char *hay, size_t len, const char *needle)
{
    size_t nl = strlen(needle);

    for (size_t i = 0; hay && i + nl <= len; i++) {
        if (xf_strncaseeq(hay + i, needle, nl))
            return 1;
    }
    return 0;
}

int xf_conn_is_http_url(const char *s)
{
    return s && (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0);
}

char *xf_conn_strdup_noslash(const char *s)
{
    size_t n = strlen(s);

    while (n > 0 && s[n - 1] == '/')
        n--;
    return xf_strndup(s, n);
}

const char *xf_conn_unknown_key(const struct xf_connector_conf *conf, const char *const *keys,
                                size_t n_keys)
{
    for (size_t i = 0; i < conf->n_params; i++) {
        size_t k = 0;

        while (k < n_keys && strcmp(keys[k], conf->params[i].key) != 0)
            k++;
        if (k == n_keys)
            return conf->params[i].key;
    }
    return NULL;
}

int xf_conn_check_base(const struct xf_connector_conf *conf, const char *type,
                       const char *const *keys, size_t n_keys, char *why, size_t why_len)
{
    const char *k = xf_conn_unknown_key(conf, keys, n_keys);

    if (k) {
        snprintf(why, why_len, "connector %s: unknown key '%s' for type %s", conf->name, k, type);
        return XF_ECONFIG;
    }
    if (!xf_conn_is_http_url(xf_connector_conf_get(conf, "base_url"))) {
        snprintf(why, why_len, "connector %s: base_url (http[s]://...) is required", conf->name);
        return XF_ECONFIG;
    }
    return 0;
}

void xf_conn_secret_free(char *s)
{
    if (!s)
        return;
    memset(s, 0, strlen(s));
    xf_free(s);
}

int xf_conn_devices_copy(struct xf_connector_conf *dst, const struct xf_connector_conf *src)
{
    for (size_t i = 0; i < src->n_devices; i++) {
        struct xf_device_map *d = &dst->devices[dst->n_devices];

        if (!(d->host = xf_strdup(src->devices[i].host)) ||
            !(d->device_id = xf_strdup(src->devices[i].device_id))) {
            xf_free(d->host);
            d->host = NULL;
            return XF_ENOMEM;
        }
        dst->n_devices++;
    }
    return 0;
}

void xf_conn_devices_free(struct xf_connector_conf *dst)
{
    for (size_t i = 0; i < dst->n_devices; i++) {
        xf_free(dst->devices[i].host);
        xf_free(dst->devices[i].device_id);
    }
    dst->n_devices = 0;
}

/* ---- OAuth2 tokens ------------------------------------------------------------------------- */

#define XF_CONN_TOKEN_MARGIN_S 60 /* refetch this long before the token expires */

int xf_conn_token_due(const struct xf_conn_token *t, int64_t now_s)
{
    return !t->value || now_s >= t->exp_s - XF_CONN_TOKEN_MARGIN_S;
}

void xf_conn_token_clear(struct xf_conn_token *t)
{
    xf_free(t->value);
    t->value = NULL;
}

void xf_conn_token_on_reply(struct xf_conn_token *t, const char *type, const char *name,
                            int64_t ttl_s, const struct xf_conn_ctx *ctx,
                            const struct xf_conn_reply *r, struct xf_conn_outcome *out)
{
    json_t *root = NULL;
    const char *tok;
    json_int_t exp;

    if (r->status == 0 || r->status == 429 || r->status >= 500) {
        xf_conn_classify(r, ctx->now_s, out);
        return;
    }
    root = xf_conn_reply_json(r);
    tok = json_string_value(json_object_get(root, "access_token"));
    exp = json_integer_value(json_object_get(root, "expires_in"));
    if (r->status < 200 || r->status >= 300 || !tok || !*tok) {
        out->step = XF_STEP_FAILED; /* never echo the body: it may hold credentials */
        snprintf(out->why, sizeof(out->why), "%s %s: token refused (HTTP %ld)", type, name,
                 r->status);
        goto out;
    }
    xf_free(t->value);
    if (!(t->value = xf_strdup(tok))) {
        out->step = XF_STEP_RETRY;
        snprintf(out->why, sizeof(out->why), "out of memory");
        goto out;
    }
    t->exp_s = ctx->now_s + (exp > 0 ? (int64_t)exp : ttl_s);
    out->step = XF_STEP_NEXT;
    snprintf(out->why, sizeof(out->why), "token fetched");
out:
    json_decref(root);
}

int xf_conn_token_request(struct xf_conn_request *rq, struct xf_buf *url)
{
    int rc;

    rq->method = "POST";
    rq->is_token = 1;
    if ((rc = xf_conn_request_url(rq, url)) ||
        (rc = xf_conn_request_header(rq, "Content-Type: application/x-www-form-urlencoded")) ||
        (rc = xf_conn_request_header(rq, "Accept: application/json")))
        return rc;
    return 0;
}

int xf_conn_token_call(struct xf_conn_request *rq, const char *method, struct xf_buf *url,
                       const struct xf_conn_token *t)
{
    int post = strcmp(method, "POST") == 0;
    int rc;

    rq->method = method;
    if ((rc = xf_conn_request_url(rq, url)) ||
        (rc = xf_conn_request_header(rq, "Authorization: Bearer %s", t->value)) ||
        (post && (rc = xf_conn_request_header(rq, "Content-Type: application/json"))) ||
        (rc = xf_conn_request_header(rq, "Accept: application/json")))
        return rc;
    return 0;
}

int xf_conn_token_on_401(struct xf_conn_token *t, struct xf_action *a, int reauth_bit,
                         const struct xf_conn_reply *r, struct xf_conn_outcome *out)
{
    if (r->status != 401)
        return 0;
    xf_conn_token_clear(t);
    if (a->phase & reauth_bit) {
        out->step = XF_STEP_FAILED;
        snprintf(out->why, sizeof(out->why), "HTTP 401 again with a fresh token");
    } else {
        a->phase |= reauth_bit;
        out->step = XF_STEP_NEXT;
        snprintf(out->why, sizeof(out->why), "HTTP 401: token dropped, refetching");
    }
    return 1;
}
