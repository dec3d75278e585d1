/*
 * conn_soar.c - incident notifications to a SOAR platform, in one of three shapes.
 *
 *   generic      POST {url}                     the incident JSON as is, Idempotency-Key
 *   splunk_soar  POST {base_url}/rest/container  a container with one artifact per indicator
 *   thehive      POST {base_url}/api/v1/alert    an alert with one observable per indicator
 *
 * What a reader must know: each shape carries a dedup key the receiver honours, so a resend
 * after a crash is harmless: generic receivers get Idempotency-Key (the action id), Splunk
 * SOAR dedups containers on source_data_identifier and TheHive refuses a second alert with the
 * same (type, source, sourceRef). Both keys are "<incident id>:<payload version>" (the version
 * is the hash of the incident JSON the action was planned for), so every new version of an
 * incident is one new notification and a duplicate answer counts as delivered.
 *
 * The indicators come from the incident JSON: "hosts", and the nodes of kind host, network
 * (an ip), file (a hash when the entity is 32, 40 or 64 hex digits) and dns (a domain).
 * Standard Webhooks signing is the webhook connector's job; here auth is a token.
 */
#define _GNU_SOURCE /* strcasestr */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "connector.h"

enum soar_shape { SHAPE_GENERIC, SHAPE_SPLUNK, SHAPE_THEHIVE };

struct soar_state {
    enum soar_shape shape;
    char *url;   /* the full POST URL */
    char *token; /* NULL: none (generic only) */
    char *label; /* splunk_soar container label */
};

/* token itself is listed so xf_conn_secret says why it is refused */
static const char *const soar_keys[] = {"token",     "shape",      "url",   "base_url",
                                        "token_env", "token_file", "label", "tls_verify",
                                        "ca_file",   "actions"};

static void soar_destroy(void *state)
{
    struct soar_state *s = state;

    if (!s)
        return;
    xf_free(s->url);
    xf_free(s->label);
    xf_conn_secret_free(s->token);
    xf_free(s);
}

static int soar_create(const struct xf_connector_conf *conf, void **state, char *why,
                       size_t why_len)
{
    struct soar_state *s = NULL;
    const char *shape = xf_connector_conf_get(conf, "shape");
    const char *label = xf_connector_conf_get(conf, "label");
    const char *base, *k;
    struct xf_buf url;
    size_t n;
    int rc = 0;

    xf_buf_init(&url);
    if ((k = xf_conn_unknown_key(conf, soar_keys, XF_ARRAY_LEN(soar_keys)))) {
        snprintf(why, why_len, "connector %s: unknown key '%s' for type soar", conf->name, k);
        rc = XF_ECONFIG;
        goto out;
    }
    if (!(s = xf_calloc(1, sizeof(*s)))) {
        rc = XF_ENOMEM;
        goto out;
    }
    if (!shape || strcmp(shape, "generic") == 0) {
        s->shape = SHAPE_GENERIC;
    } else if (strcmp(shape, "splunk_soar") == 0) {
        s->shape = SHAPE_SPLUNK;
    } else if (strcmp(shape, "thehive") == 0) {
        s->shape = SHAPE_THEHIVE;
    } else {
        snprintf(why, why_len,
                 "connector %s: shape must be generic, splunk_soar or thehive, not '%s'",
                 conf->name, shape);
        rc = XF_ECONFIG;
        goto out;
    }
    base = xf_connector_conf_get(conf, s->shape == SHAPE_GENERIC ? "url" : "base_url");
    if (!xf_conn_is_http_url(base)) {
        snprintf(why, why_len, "connector %s: %s (http[s]://...) is required", conf->name,
                 s->shape == SHAPE_GENERIC ? "url" : "base_url");
        rc = XF_ECONFIG;
        goto out;
    }
    n = strlen(base);
    if (s->shape != SHAPE_GENERIC) {
        while (n > 0 && base[n - 1] == '/')
            n--;
    }
    if ((rc = xf_buf_append(&url, base, n)) ||
        (rc = xf_buf_appends(&url, s->shape == SHAPE_SPLUNK    ? "/rest/container"
                                   : s->shape == SHAPE_THEHIVE ? "/api/v1/alert"
                                                               : "")))
        goto out;
    if (!(s->url = xf_buf_steal(&url, NULL)) || !(s->label = xf_strdup(label ? label : "events"))) {
        rc = XF_ENOMEM;
        goto out;
    }
    /* the token is optional for a generic receiver (it may use a URL secret) */
    if (s->shape != SHAPE_GENERIC || xf_connector_conf_get(conf, "token_env") ||
        xf_connector_conf_get(conf, "token_file") || xf_connector_conf_get(conf, "token")) {
        if ((rc = xf_conn_secret(conf, "token", &s->token, why, why_len)))
            goto out;
    }
    *state = s;
    s = NULL;
out:
    xf_buf_close(&url);
    soar_destroy(s);
    return rc;
}

/* ---- indicators ---------------------------------------------------------------------------- */

enum ioc_type { IOC_HOST, IOC_IP, IOC_HASH, IOC_DOMAIN };

static int soar_is_hash(const char *s)
{
    size_t n = strlen(s);

    if (n != 32 && n != 40 && n != 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

/* Calls add(type, value) once per distinct indicator of the incident, in the order of the
 * incident JSON: its hosts first, then the nodes. */
typedef int (*ioc_cb)(enum ioc_type t, const char *v, void *ud);

static int soar_iocs(json_t *inc, ioc_cb add, void *ud)
{
    json_t *seen = json_object(), *v;
    size_t i;
    int rc = 0;
    char key[600];

    if (!seen)
        return XF_ENOMEM;
    json_array_foreach(json_object_get(inc, "hosts"), i, v)
    {
        const char *h = json_string_value(v);

        snprintf(key, sizeof(key), "%d|%.500s", IOC_HOST, h ? h : "");
        if (h && *h && !json_object_get(seen, key)) {
            json_object_set_new(seen, key, json_true());
            if ((rc = add(IOC_HOST, h, ud)))
                goto out;
        }
    }
    json_array_foreach(json_object_get(inc, "nodes"), i, v)
    {
        const char *kind = json_string_value(json_object_get(v, "kind"));
        const char *e = json_string_value(json_object_get(v, "entity"));
        int t = -1;

        if (!kind || !e || !*e)
            continue;
        if (strcmp(kind, "host") == 0)
            t = IOC_HOST;
        else if (strcmp(kind, "network") == 0)
            t = IOC_IP;
        else if (strcmp(kind, "file") == 0 && soar_is_hash(e))
            t = IOC_HASH;
        else if (strcmp(kind, "dns") == 0)
            t = IOC_DOMAIN;
        if (t < 0)
            continue;
        snprintf(key, sizeof(key), "%d|%.500s", t, e);
        if (json_object_get(seen, key))
            continue;
        json_object_set_new(seen, key, json_true());
        if ((rc = add((enum ioc_type)t, e, ud)))
            goto out;
    }
out:
    json_decref(seen);
    return rc;
}

/* "a, b, c" of a JSON array of strings into b. */
static int soar_join(struct xf_buf *b, json_t *arr)
{
    json_t *v;
    size_t i;
    int rc = 0;

    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v))
            rc |= xf_buf_appendf(b, "%s%s", i ? ", " : "", json_string_value(v));
    }
    return rc ? XF_ENOMEM : 0;
}

static const char *soar_str(json_t *inc, const char *key)
{
    const char *s = json_string_value(json_object_get(inc, key));

    return s ? s : "";
}

/* "xdrflow: critical incident on ws-017.corp.example (+2 hosts)" */
static int soar_title(json_t *inc, struct xf_buf *b)
{
    json_t *hosts = json_object_get(inc, "hosts");
    size_t n = json_array_size(hosts);
    const char *first = json_string_value(json_array_get(hosts, 0));

    if (!first)
        n = 0;

    if (!n)
        return xf_buf_appendf(b, "xdrflow: %s incident %s", soar_str(inc, "severity"),
                              soar_str(inc, "id"));
    if (n == 1)
        return xf_buf_appendf(b, "xdrflow: %s incident on %s", soar_str(inc, "severity"), first);
    return xf_buf_appendf(b, "xdrflow: %s incident on %s (+%zu hosts)", soar_str(inc, "severity"),
                          first, n - 1);
}

static int soar_description(json_t *inc, struct xf_buf *b)
{
    json_t *v;
    size_t i;
    int rc = 0;

    rc |= xf_buf_appendf(b,
                         "xdrflow incident %s: severity %s, score %" JSON_INTEGER_FORMAT
                         "\nFirst seen %s, last seen %s\nHosts: ",
                         soar_str(inc, "id"), soar_str(inc, "severity"),
                         json_integer_value(json_object_get(inc, "score")),
                         soar_str(inc, "first_seen"), soar_str(inc, "last_seen"));
    rc |= soar_join(b, json_object_get(inc, "hosts"));
    rc |= xf_buf_appends(b, "\nUsers: ");
    rc |= soar_join(b, json_object_get(inc, "users"));
    rc |= xf_buf_appends(b, "\nStages: ");
    rc |= soar_join(b, json_object_get(inc, "stages"));
    rc |= xf_buf_appends(b, "\nTechniques: ");
    rc |= soar_join(b, json_object_get(inc, "techniques"));
    rc |= xf_buf_appends(b, "\nAlerts:");
    json_array_foreach(json_object_get(inc, "alerts"), i, v)
    {
        rc |= xf_buf_appendf(b, "\n- %s (%s)", soar_str(v, "title"), soar_str(v, "level"));
    }
    return rc ? XF_ENOMEM : 0;
}

/* ---- splunk_soar --------------------------------------------------------------------------- */

struct splunk_ctx {
    json_t *artifacts;
    const char *sdi;
};

static int splunk_artifact(enum ioc_type t, const char *v, void *ud)
{
    static const char *const labels[] = {"host", "ip", "hash", "domain"};
    struct splunk_ctx *c = ud;
    const char *field = t == IOC_HOST     ? "deviceHostname"
                        : t == IOC_IP     ? "destinationAddress"
                        : t == IOC_DOMAIN ? "destinationDnsDomain"
                        : strlen(v) == 64 ? "fileHashSha256"
                        : strlen(v) == 40 ? "fileHashSha1"
                                          : "fileHashMd5";
    char sdi[700];
    json_t *art;

    snprintf(sdi, sizeof(sdi), "%.100s:%s:%.500s", c->sdi, labels[t], v);
    art = json_pack("{s:s,s:s,s:{s:s},s:s}", "label", labels[t], "name", labels[t], "cef", field, v,
                    "source_data_identifier", sdi);
    if (!art || json_array_append_new(c->artifacts, art))
        return XF_ENOMEM;
    return 0;
}

/* {"name","label","severity","description","source_data_identifier","artifacts":[...]} */
static json_t *splunk_body(struct soar_state *s, json_t *inc, const char *sdi)
{
    const char *sev = soar_str(inc, "severity");
    struct splunk_ctx c = {json_array(), sdi};
    struct xf_buf name, desc;
    json_t *out = NULL;

    xf_buf_init(&name);
    xf_buf_init(&desc);
    /* Splunk SOAR's default severities are low, medium and high */
    if (strcmp(sev, "critical") == 0)
        sev = "high";
    else if (strcmp(sev, "low") != 0 && strcmp(sev, "medium") != 0)
        sev = strcmp(sev, "high") == 0 ? "high" : "medium";
    if (!c.artifacts || soar_title(inc, &name) || soar_description(inc, &desc) ||
        soar_iocs(inc, splunk_artifact, &c))
        goto out;
    out = json_pack("{s:s,s:s,s:s,s:s,s:s,s:O}", "name", name.data, "label", s->label, "severity",
                    sev, "description", desc.data, "source_data_identifier", sdi, "artifacts",
                    c.artifacts);
out:
    json_decref(c.artifacts);
    xf_buf_close(&name);
    xf_buf_close(&desc);
    return out;
}

/* ---- thehive ------------------------------------------------------------------------------- */

static int hive_observable(enum ioc_type t, const char *v, void *ud)
{
    static const char *const types[] = {"hostname", "ip", "hash", "domain"};
    json_t *o = json_pack("{s:s,s:s}", "dataType", types[t], "data", v);

    if (!o || json_array_append_new(ud, o))
        return XF_ENOMEM;
    return 0;
}

static json_t *hive_body(json_t *inc, const char *ref)
{
    const char *sev = soar_str(inc, "severity");
    int rank = strcmp(sev, "critical") == 0 ? 4
               : strcmp(sev, "high") == 0   ? 3
               : strcmp(sev, "low") == 0    ? 1
                                            : 2;
    json_t *obs = json_array(), *tags = json_array(), *v, *out = NULL;
    struct xf_buf title, desc;
    size_t i;

    xf_buf_init(&title);
    xf_buf_init(&desc);
    if (!obs || !tags || soar_title(inc, &title) || soar_description(inc, &desc) ||
        soar_iocs(inc, hive_observable, obs))
        goto out;
    json_array_foreach(json_object_get(inc, "techniques"), i, v)
    {
        if (json_is_string(v) && json_array_append(tags, v))
            goto out;
    }
    out = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:O,s:O}", "type", "xdrflow", "source", "xdrflow",
                    "sourceRef", ref, "title", title.data, "description", desc.data, "severity",
                    rank, "tlp", 2, "tags", tags, "observables", obs);
out:
    json_decref(obs);
    json_decref(tags);
    xf_buf_close(&title);
    xf_buf_close(&desc);
    return out;
}

/* ---- the connector ------------------------------------------------------------------------- */

static int soar_next(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                     struct xf_conn_request *out)
{
    struct soar_state *s = state;
    json_t *inc = NULL, *body = NULL;
    char *text = NULL, key[64];
    uint64_t ver;
    int rc = 0;

    if (a->kind != XF_ACT_NOTIFY || !ctx->payload)
        return XF_EINVAL;
    out->method = "POST";
    if (!(out->url = xf_strdup(s->url)))
        return XF_ENOMEM;
    if ((rc = xf_conn_request_header(out, "Content-Type: application/json")))
        goto out;
    if (s->shape == SHAPE_GENERIC) {
        if ((rc = xf_conn_request_header(out, "Idempotency-Key: %s", a->id)))
            goto out;
        if (s->token && (rc = xf_conn_request_header(out, "Authorization: Bearer %s", s->token)))
            goto out;
        rc = xf_buf_append(&out->body, ctx->payload, ctx->payload_len);
        goto out;
    }
    if (!(inc = json_loadb(ctx->payload, ctx->payload_len, 0, NULL)) || !json_is_object(inc) ||
        !*soar_str(inc, "id")) {
        rc = XF_EPARSE;
        goto out;
    }
    ver = a->payload_hash ? a->payload_hash : xf_hash64(ctx->payload, ctx->payload_len);
    snprintf(key, sizeof(key), "%.32s:%016" PRIx64, soar_str(inc, "id"), ver);
    if (s->shape == SHAPE_SPLUNK) {
        rc = xf_conn_request_header(out, "ph-auth-token: %s", s->token);
        body = splunk_body(s, inc, key);
    } else {
        rc = xf_conn_request_header(out, "Authorization: Bearer %s", s->token);
        body = hive_body(inc, key);
    }
    if (rc)
        goto out;
    if (!body || !(text = json_dumps(body, JSON_COMPACT))) {
        rc = XF_ENOMEM;
        goto out;
    }
    rc = xf_buf_appends(&out->body, text);
out:
    free(text);
    json_decref(body);
    json_decref(inc);
    return rc;
}

/* The receiver's id for what we created (or found), into a->remote_id. */
static void soar_remote_id(struct xf_action *a, json_t *v)
{
    if (json_is_integer(v))
        snprintf(a->remote_id, sizeof(a->remote_id), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
    else if (json_is_string(v))
        snprintf(a->remote_id, sizeof(a->remote_id), "%.500s", json_string_value(v));
}

static int soar_on_reply(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                         const struct xf_conn_reply *r, struct xf_conn_outcome *out)
{
    struct soar_state *s = state;
    const char *body = r->body ? r->body : "";
    json_t *root = NULL, *v;

    xf_conn_classify(r, ctx->now_s, out);
    if (s->shape == SHAPE_GENERIC || r->status == 0)
        return 0;
    root = xf_conn_reply_json(r);
    if (s->shape == SHAPE_SPLUNK) {
        /* a container with the same source_data_identifier: Splunk names the existing one */
        if ((v = json_object_get(root, "existing_container_id")) ||
            (r->status < 500 && strcasestr(body, "duplicate"))) {
            out->step = XF_STEP_CONFIRMED;
            soar_remote_id(a, v);
            snprintf(out->why, sizeof(out->why), "duplicate of container %.64s", a->remote_id);
        } else if (out->step == XF_STEP_CONFIRMED) {
            if (json_is_true(json_object_get(root, "failed"))) {
                out->step = XF_STEP_FAILED;
                snprintf(out->why, sizeof(out->why), "HTTP %ld but failed: %.160s", r->status,
                         body);
            } else {
                soar_remote_id(a, json_object_get(root, "id"));
            }
        }
    } else {
        /* TheHive refuses a second alert with the same (type, source, sourceRef) */
        if ((r->status == 400 || r->status == 409) && strcasestr(body, "already exists")) {
            out->step = XF_STEP_CONFIRMED;
            snprintf(out->why, sizeof(out->why), "alert already exists");
        } else if (out->step == XF_STEP_CONFIRMED) {
            soar_remote_id(a, json_object_get(root, "_id"));
        }
    }
    json_decref(root);
    return 0;
}

const struct xf_connector_ops xf_conn_soar = {
    .type = "soar",
    .kinds = 1u << XF_ACT_NOTIFY,
    .create = soar_create,
    .destroy = soar_destroy,
    .next = soar_next,
    .on_reply = soar_on_reply,
};
