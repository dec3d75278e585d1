/*
 * config.c - the daemon's configuration: one table of keys that parses, validates, documents.
 *
 * Every key of xdrflow.yaml is one row of `keys[]` below (dotted name, type, where it lands in
 * struct xf_config, default, environment override, one-line description). The YAML parser,
 * the --help text and docs/config.md all walk that table, so a key cannot exist in one and
 * not in the others. The one thing to know: the file is first read into a small tree with the
 * line of every node (libyaml events), and only then checked, so that every problem in the
 * file is reported as FILE:LINE: message, all of them, not just the first.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "connector.h" /* xf_connector_find: unknown connector types are config errors */
#include "xf/api.h"
#include "xf/daemon.h"
#include "xf/response.h"

enum key_type {
    T_STR,        /* char * */
    T_BOOL,       /* int 0/1 */
    T_INT,        /* int within [min, max] */
    T_DURATION,   /* int64_t milliseconds, "90s", "5m", ... */
    T_ENUM,       /* char *, one of choices */
    T_LIST,       /* char *[] with a count (rules.paths) */
    T_TOPICS,     /* struct xf_topic_conf[] (kafka.topics) */
    T_PROPS,      /* "name=value" strings from a mapping (kafka.properties) */
    T_CHOICE,     /* int: the index of the value in choices (response.mode, min_severity) */
    T_DOUBLE,     /* double within [min, max] */
    T_TOKENS,     /* struct xf_token_conf[] (api.tokens) */
    T_HOST_TAGS,  /* struct xf_host_tag[] from {host: [tags]} (response.host_tags) */
    T_CONNECTORS, /* struct xf_connector_conf[] (response.connectors) */
};

struct key_def {
    const char *name;
    enum key_type type;
    size_t off;
    size_t off_count; /* T_LIST/T_TOPICS/T_PROPS: where the count lives */
    size_t max;       /* list capacity */
    long min_i, max_i;
    const char *const *choices;
    const char *def; /* the default as text; NULL for none */
    const char *env; /* environment override, or NULL */
    const char *help;
};

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const roles[] = {"none", "read", "respond", "admin", NULL};
/* in enum order: the index is the value */
static const char *const resp_modes[] = {"off", "dry_run", "approve", "auto", NULL};
static const char *const severities[] = {"low", "medium", "high", "critical", NULL};

#define F(field) offsetof(struct xf_config, field)

static const struct key_def keys[] = {
    {"kafka.brokers", T_STR, F(brokers), 0, 0, 0, 0, NULL, "127.0.0.1:9092", "XDRFLOW_BROKERS",
     "Bootstrap brokers, comma-separated host:port."},
    {"kafka.group", T_STR, F(group), 0, 0, 0, 0, NULL, "xdrflow", NULL,
     "Consumer group id; instances in one group split the partitions."},
    {"kafka.topics", T_TOPICS, F(topics), F(n_topics), XF_MAX_TOPICS, 0, 0, NULL,
     "xdr.email, xdr.endpoint, xdr.network, xdr.alerts (format auto)", NULL,
     "Input topics, each {name, format}; format is auto, ecs, sysmon, winevt or proto. A "
     "record's content-type header overrides it."},
    {"kafka.dead_letter_topic", T_STR, F(dead_letter_topic), 0, 0, 0, 0, NULL, "xdr.deadletter",
     NULL, "Where undecodable records go, with headers saying why and where they came from."},
    {"kafka.properties", T_PROPS, F(kafka_props), F(n_kafka_props), XF_MAX_PROPS, 0, 0, NULL,
     "(none)", "XDRFLOW_KAFKA_SASL_PASSWORD",
     "Extra librdkafka properties (name: value), applied over the tuned defaults. The "
     "environment variable sets sasl.password so the secret stays out of the file."},
    {"store.path", T_STR, F(store_path), 0, 0, 0, 0, NULL, "./xdrflow-db", "XDRFLOW_DB",
     "RocksDB directory (created if missing)."},
    {"store.sync", T_BOOL, F(store_sync), 0, 0, 0, 0, NULL, "false", NULL,
     "fsync every checkpoint; without it a power loss (not a process crash) can lose the last "
     "checkpoints, which Kafka then re-delivers."},
    {"store.edges", T_BOOL, F(store_edges), 0, 0, 0, 0, NULL, "false", NULL,
     "Also write every graph edge the correlator makes to the edges column family, for "
     "offline graph queries. Off, incidents still carry their whole graph; on, it costs about "
     "a quarter more CPU per event and 40 % more disk."},
    {"rules.paths", T_LIST, F(rule_paths), F(n_rule_paths), XF_MAX_RULE_PATHS, 0, 0, NULL,
     "(the bundled pack)", NULL, "Sigma rule files or directories; reloaded on SIGHUP."},
    {"rules.links", T_STR, F(links_path), 0, 0, 0, 0, NULL, "(the bundled links.yaml)", NULL,
     "Join specifications for the correlation graph."},
    {"correlation.lateness", T_DURATION, F(lateness_ms), 0, 0, 0, 0, NULL, "10m", NULL,
     "How late (in event time) a record may arrive and still join its partners."},
    {"correlation.idle_partition_events", T_INT, F(idle_partition_events), 0, 0, 1000, 1000000000,
     NULL, "100000", NULL,
     "Each Kafka partition keeps its own event-time progress and the watermark follows the "
     "slowest (so a partition catching up on a backlog is not late); a partition that delivered "
     "none of the last N events (checked every 4,096 events) stops holding it back until its "
     "next event."},
    {"correlation.max_partition_skew", T_DURATION, F(max_partition_skew_ms), 0, 0, 0, 0, NULL, "1h",
     NULL,
     "How far behind the newest event time a slow partition may hold the watermark; a "
     "partition further behind has its events count as late. Bounds memory: state is kept for "
     "about retention + lateness + this much event time."},
    {"api.listen", T_STR, F(api_listen), 0, 0, 0, 0, NULL, "127.0.0.1:8080", "XDRFLOW_API_LISTEN",
     "Address of the HTTP listener (/api/v1, /metrics, /healthz, /readyz); empty turns it off."},
    {"api.tokens", T_TOKENS, F(api_tokens), F(n_api_tokens), XF_MAX_TOKENS, 0, 0, NULL, "(none)",
     "XDRFLOW_TOKEN_<NAME>",
     "Bearer tokens, each {name, role, token_env | token_file}; role is read, respond (also "
     "read) or admin. The secret comes from the environment variable or file, never from this "
     "file (a literal `token:` is an error); XDRFLOW_TOKEN_<NAME> overrides both. Without "
     "tokens every /api/v1 request is refused (401)."},
    {"api.metrics_role", T_ENUM, F(api_metrics_role), 0, 0, 0, 0, roles, "none", NULL,
     "Role a token needs to read /metrics: none, read, respond or admin."},
    {"api.max_body", T_INT, F(api_max_body), 0, 0, 1024, 16 << 20, NULL, "65536", NULL,
     "Largest request body in bytes; a larger one is refused with 413."},
    {"response.mode", T_CHOICE, F(response.policy.mode), 0, 0, 0, 0, resp_modes, "approve", NULL,
     "off (no actions), dry_run (recorded, never sent), approve (isolations wait for "
     "POST /api/v1/actions/{id}/approve) or auto."},
    {"response.min_severity", T_CHOICE, F(response.policy.min_severity), 0, 0, 0, 0, severities,
     "high", NULL,
     "Lowest incident severity that plans an isolation: low, medium, high, critical."},
    {"response.min_score", T_INT, F(response.policy.min_score), 0, 0, 0, 100, NULL, "0", NULL,
     "Lowest incident score (0-100) that plans an isolation."},
    {"response.stages", T_LIST, F(response.policy.stages), F(response.policy.n_stages),
     XF_RESP_MAX_LIST, 0, 0, NULL, "(any)", NULL,
     "The incident must have reached one of these stages (c2, lateral_movement, ...); empty: "
     "any."},
    {"response.protected_hosts", T_LIST, F(response.policy.protected_hosts),
     F(response.policy.n_protected), XF_RESP_MAX_LIST, 0, 0, NULL, "(none)", NULL,
     "Hosts never isolated, whatever the severity: a glob (\"dc-*\", case-insensitive), "
     "\"re:<PCRE2>\" or \"tag:<tag>\"."},
    {"response.host_tags", T_HOST_TAGS, F(response.policy.host_tags),
     F(response.policy.n_host_tags), XF_RESP_MAX_LIST, 0, 0, NULL, "(none)", NULL,
     "Tags of hosts, {host: [tag, ...]}, for \"tag:\" entries of protected_hosts."},
    {"response.max_actions_per_min", T_DOUBLE, F(response.policy.max_actions_per_min), 0, 0, 0,
     100000, NULL, "10", NULL, "Rate of isolations the policy may plan (token bucket)."},
    {"response.burst", T_INT, F(response.policy.burst), 0, 0, 1, 100000, NULL, "5", NULL,
     "Isolations the policy may plan at once before the rate applies."},
    {"response.auto_release_after", T_DURATION, F(response.policy.auto_release_after_ms), 0, 0, 0,
     0, NULL, "0", NULL,
     "Release a host the policy isolated this long (90s, 4h, 2d; at most 366d) after its "
     "isolation was confirmed, planned as the mode plans isolations (approve: waits for "
     "approval). 0: never, hosts are released only on request (POST .../release). Manual "
     "isolations are never released automatically."},
    {"response.max_attempts", T_INT, F(response.policy.max_attempts), 0, 0, 1, 1000, NULL, "5",
     NULL, "Sends tried before an action fails (and raises an alert)."},
    {"response.backoff_base_ms", T_INT, F(response.policy.backoff_base_ms), 0, 0, 1, 3600000, NULL,
     "1000", NULL, "First retry delay in ms, doubled per attempt with full jitter."},
    {"response.backoff_max_ms", T_INT, F(response.policy.backoff_max_ms), 0, 0, 1, 86400000, NULL,
     "60000", NULL, "Longest retry delay in ms (a vendor's Retry-After may ask for more)."},
    {"response.poll_interval_ms", T_INT, F(response.policy.poll_interval_ms), 0, 0, 10, 3600000,
     NULL, "2000", NULL, "Delay between status polls of an accepted action, in ms."},
    {"response.max_polls", T_INT, F(response.policy.max_polls), 0, 0, 1, 1000000, NULL, "150", NULL,
     "Polls per attempt before the attempt counts as timed out."},
    {"response.timeout_ms", T_INT, F(response.policy.timeout_ms), 0, 0, 100, 600000, NULL, "10000",
     NULL, "Timeout of one HTTP request to a connector, in ms."},
    {"response.notify_incidents", T_BOOL, F(response.policy.notify_incidents), 0, 0, 0, 0, NULL,
     "true", NULL, "Send new and updated incidents to the connectors that take notifications."},
    {"response.audit_log", T_STR, F(response.audit_log), 0, 0, 0, 0, NULL, "(the log)", NULL,
     "JSON-lines file of every decision and state-changing API request; empty: the log."},
    {"response.connectors", T_CONNECTORS, F(response.connectors), F(response.n_connectors),
     XF_RESP_MAX_CONNECTORS, 0, 0, NULL, "(none)", NULL,
     "Connectors, each {name, type, <key>: <value>..., devices: {host: device id}}; type is one "
     "of the connector types (docs/response.md), which checks its own keys. Secrets only as "
     "<key>_env or <key>_file."},
    {"log.level", T_ENUM, F(log_level), 0, 0, 0, 0, log_levels, "info", "XDRFLOW_LOG_LEVEL",
     "error, warn, info or debug."},
    {"log.format", T_ENUM, F(log_format), 0, 0, 0, 0, log_formats, "text", NULL,
     "text, or json for one object per line."},
    {"pipeline.decode_threads", T_INT, F(decode_threads), 0, 0, 0, 64, NULL, "0", NULL,
     "Decode worker threads; 0 means one per CPU (at most 8)."},
    {"pipeline.queue_batches", T_INT, F(queue_batches), 0, 0, 2, 4096, NULL, "24", NULL,
     "Batches (of up to 512 records) in flight; when all are taken the consumer stops polling "
     "until one is free (librdkafka's bounded prefetch then stops fetching)."},
};

#undef F

/* Keys that existed once: a file still using one gets an error that names the replacement,
 * not a bare "unknown key". */
static const struct {
    const char *name;
    const char *why;
} retired_keys[] = {
    {"response.auto_release",
     "replaced by response.auto_release_after (a duration; 0 = never, the default)"},
};

static const char *retired_why(const char *name)
{
    for (size_t i = 0; i < XF_ARRAY_LEN(retired_keys); i++) {
        if (strcmp(retired_keys[i].name, name) == 0)
            return retired_keys[i].why;
    }
    return NULL;
}

static const char *const default_topics[] = {"xdr.email", "xdr.endpoint", "xdr.network",
                                             "xdr.alerts"};

/* ---- field access ------------------------------------------------------------------------- */

static char **field_str(struct xf_config *cfg, const struct key_def *k)
{
    return (char **)((char *)cfg + k->off);
}

static int *field_int(struct xf_config *cfg, const struct key_def *k)
{
    return (int *)((char *)cfg + k->off);
}

static size_t *field_count(struct xf_config *cfg, const struct key_def *k)
{
    return (size_t *)((char *)cfg + k->off_count);
}

/* Keys under response: live in cfg->response, which conf.c closes and copies as a whole. */
static int is_response_key(const struct key_def *k)
{
    return strncmp(k->name, "response.", 9) == 0;
}

static void token_free(struct xf_token_conf *t)
{
    xf_free(t->name);
    xf_free(t->role);
    xf_free(t->token_env);
    xf_free(t->token_file);
    memset(t, 0, sizeof *t);
}

static int set_str(char **slot, const char *val)
{
    char *copy = xf_strdup(val);

    if (!copy)
        return XF_ENOMEM;
    xf_free(*slot);
    *slot = copy;
    return 0;
}

static void clear_list(struct xf_config *cfg, const struct key_def *k)
{
    size_t *n = field_count(cfg, k);

    for (size_t i = 0; i < *n; i++) {
        if (k->type == T_TOPICS) {
            xf_free(cfg->topics[i].name);
            cfg->topics[i].name = NULL;
        } else if (k->type == T_TOKENS) {
            token_free(&cfg->api_tokens[i]);
        } else if (k->type == T_HOST_TAGS) {
            struct xf_host_tag *t = &cfg->response.policy.host_tags[i];
            xf_free(t->host);
            for (size_t j = 0; j < t->n_tags; j++)
                xf_free(t->tags[j]);
            memset(t, 0, sizeof *t);
        } else if (k->type == T_CONNECTORS) {
            struct xf_connector_conf *c = &cfg->response.connectors[i];
            xf_free(c->name);
            xf_free(c->type);
            for (size_t j = 0; j < c->n_params; j++) {
                xf_free(c->params[j].key);
                xf_free(c->params[j].value);
            }
            for (size_t j = 0; j < c->n_devices; j++) {
                xf_free(c->devices[j].host);
                xf_free(c->devices[j].device_id);
            }
            memset(c, 0, sizeof *c);
        } else {
            char **items = field_str(cfg, k);
            xf_free(items[i]);
            items[i] = NULL;
        }
    }
    *n = 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < XF_ARRAY_LEN(yes); i++) {
        if (xf_strcaseeq(s, yes[i])) {
            *out = 1;
            return 0;
        }
        if (xf_strcaseeq(s, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return XF_EINVAL;
}

static int parse_int(const char *s, long min, long max, int *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return XF_EINVAL;
    *out = (int)v;
    return 0;
}

static int in_choices(const char *const *choices, const char *s)
{
    for (size_t i = 0; choices[i]; i++)
        if (strcmp(choices[i], s) == 0)
            return 1;
    return 0;
}

/* Sets a scalar-typed key from text. On a bad value writes why into why[] and returns
 * XF_EINVAL. Used for defaults, the file, the environment and flags alike. */
static int set_scalar(struct xf_config *cfg, const struct key_def *k, const char *val, char *why,
                      size_t why_len)
{
    int rc = 0;

    switch (k->type) {
    case T_STR:
        rc = set_str(field_str(cfg, k), val);
        break;
    case T_BOOL:
        if ((rc = parse_bool(val, field_int(cfg, k))))
            snprintf(why, why_len, "%s: expected true or false, got '%s'", k->name, val);
        break;
    case T_INT:
        if ((rc = parse_int(val, k->min_i, k->max_i, field_int(cfg, k))))
            snprintf(why, why_len, "%s: expected an integer from %ld to %ld, got '%s'", k->name,
                     k->min_i, k->max_i, val);
        break;
    case T_DURATION: {
        int64_t ms;
        rc = xf_duration_parse(val, &ms);
        if (rc == 0 && ms < 0)
            rc = XF_EINVAL;
        if (rc) {
            rc = XF_EINVAL;
            snprintf(why, why_len, "%s: expected a duration such as 90s, 5m or 1h, got '%s'",
                     k->name, val);
        } else {
            *(int64_t *)((char *)cfg + k->off) = ms;
        }
        break;
    }
    case T_CHOICE:
    case T_ENUM:
        if (!in_choices(k->choices, val)) {
            struct xf_buf b;
            xf_buf_init(&b);
            for (size_t i = 0; k->choices[i]; i++)
                xf_buf_appendf(&b, "%s%s", i ? ", " : "", k->choices[i]);
            snprintf(why, why_len, "%s: expected one of %s, got '%s'", k->name, b.len ? b.data : "",
                     val);
            xf_buf_close(&b);
            rc = XF_EINVAL;
        } else if (k->type == T_CHOICE) {
            int idx = 0;
            while (strcmp(k->choices[idx], val) != 0)
                idx++;
            *field_int(cfg, k) = idx;
        } else {
            rc = set_str(field_str(cfg, k), val);
        }
        break;
    case T_DOUBLE: {
        char *end = NULL;
        double v;
        errno = 0;
        v = strtod(val, &end);
        if (errno || end == val || *end || !(v >= (double)k->min_i && v <= (double)k->max_i)) {
            snprintf(why, why_len, "%s: expected a number from %ld to %ld, got '%s'", k->name,
                     k->min_i, k->max_i, val);
            rc = XF_EINVAL;
        } else {
            *(double *)((char *)cfg + k->off) = v;
        }
        break;
    }
    default:
        snprintf(why, why_len, "%s: expected a list", k->name);
        rc = XF_EINVAL;
        break;
    }
    return rc;
}

static const struct key_def *key_find(const char *name)
{
    for (size_t i = 0; i < XF_ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* ---- init / close ------------------------------------------------------------------------- */

int xf_config_init(struct xf_config *cfg)
{
    char why[XF_ERRMSG_MAX];
    int rc = 0;

    memset(cfg, 0, sizeof *cfg);
    xf_response_conf_init(&cfg->response);
    for (size_t i = 0; i < XF_ARRAY_LEN(keys) && !rc; i++) {
        const struct key_def *k = &keys[i];
        if (k->type == T_LIST || k->type == T_PROPS || k->type == T_TOKENS ||
            k->type == T_HOST_TAGS || k->type == T_CONNECTORS || !k->def || k->def[0] == '(')
            continue;
        if (k->type == T_TOPICS)
            continue;
        rc = set_scalar(cfg, k, k->def, why, sizeof why);
    }
    for (size_t i = 0; i < XF_ARRAY_LEN(default_topics) && !rc; i++) {
        cfg->topics[i].name = xf_strdup(default_topics[i]);
        cfg->topics[i].format = XF_FMT_AUTO;
        cfg->n_topics++;
        if (!cfg->topics[i].name)
            rc = XF_ENOMEM;
    }
    if (rc)
        xf_config_close(cfg);
    return rc;
}

void xf_config_close(struct xf_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < XF_ARRAY_LEN(keys); i++) {
        const struct key_def *k = &keys[i];
        if (is_response_key(k))
            continue;
        if (k->type == T_LIST || k->type == T_TOPICS || k->type == T_PROPS || k->type == T_TOKENS)
            clear_list(cfg, k);
        else if (k->type == T_STR || k->type == T_ENUM) {
            xf_free(*field_str(cfg, k));
            *field_str(cfg, k) = NULL;
        }
    }
    xf_response_conf_close(&cfg->response);
    xf_free(cfg->source);
    cfg->source = NULL;
}

static int token_copy(struct xf_token_conf *d, const struct xf_token_conf *s)
{
    const char *src[4] = {s->name, s->role, s->token_env, s->token_file};
    char **dst[4] = {&d->name, &d->role, &d->token_env, &d->token_file};

    for (size_t i = 0; i < 4; i++)
        if (src[i] && !(*dst[i] = xf_strdup(src[i])))
            return XF_ENOMEM;
    return 0;
}

int xf_config_copy(struct xf_config *dst, const struct xf_config *src)
{
    int rc = 0;

    memset(dst, 0, sizeof *dst);
    for (size_t i = 0; i < XF_ARRAY_LEN(keys) && !rc; i++) {
        const struct key_def *k = &keys[i];
        struct xf_config *s = (struct xf_config *)src;
        if (is_response_key(k))
            continue;
        if (k->type == T_TOKENS) {
            for (size_t j = 0; j < src->n_api_tokens && !rc; j++) {
                dst->n_api_tokens++;
                rc = token_copy(&dst->api_tokens[j], &src->api_tokens[j]);
            }
        } else if (k->type == T_STR || k->type == T_ENUM) {
            if (*field_str(s, k))
                rc = set_str(field_str(dst, k), *field_str(s, k));
        } else if (k->type == T_LIST || k->type == T_PROPS) {
            for (size_t j = 0; j < *field_count(s, k) && !rc; j++) {
                field_str(dst, k)[j] = xf_strdup(field_str(s, k)[j]);
                (*field_count(dst, k))++;
                if (!field_str(dst, k)[j])
                    rc = XF_ENOMEM;
            }
        } else if (k->type == T_TOPICS) {
            for (size_t j = 0; j < src->n_topics && !rc; j++) {
                dst->topics[j].name = xf_strdup(src->topics[j].name);
                dst->topics[j].format = src->topics[j].format;
                dst->n_topics++;
                if (!dst->topics[j].name)
                    rc = XF_ENOMEM;
            }
        } else if (k->type == T_DURATION) {
            *(int64_t *)((char *)dst + k->off) = *(const int64_t *)((const char *)src + k->off);
        } else {
            *field_int(dst, k) = *(const int *)((const char *)src + k->off);
        }
    }
    if (!rc)
        rc = xf_response_conf_copy(&dst->response, &src->response);
    if (!rc && src->source && !(dst->source = xf_strdup(src->source)))
        rc = XF_ENOMEM;
    if (rc)
        xf_config_close(dst);
    return rc;
}

/* ---- YAML into a tree with line numbers --------------------------------------------------- */

enum ykind { Y_SCALAR, Y_SEQ, Y_MAP };

struct ynode {
    enum ykind kind;
    int line;            /* 1-based */
    char *str;           /* scalar text */
    int plain_empty;     /* an unquoted empty scalar (YAML null) */
    struct ynode **kids; /* seq: items; map: key, value, key, value, ... */
    size_t n, cap;
};

static void ynode_free(struct ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        ynode_free(n->kids[i]);
    xf_free(n->kids);
    xf_free(n->str);
    xf_free(n);
}

static int ynode_add(struct ynode *parent, struct ynode *kid)
{
    if (xf_array_grow(&parent->kids, &parent->cap, parent->n, sizeof(*parent->kids), 8))
        return XF_ENOMEM;
    parent->kids[parent->n++] = kid;
    return 0;
}

struct loader {
    const char *file;
    struct xf_buf *errs;
    size_t n_errs;
};

static void add_error(struct loader *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(struct loader *ld, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    xf_buf_appendf(ld->errs, "%s:%d: %s\n", ld->file, line, msg);
    ld->n_errs++;
}

/* Reads one node (and its children) starting with the event already in *ev. */
static int read_node(yaml_parser_t *p, yaml_event_t *ev, struct loader *ld, struct ynode **out)
{
    struct ynode *n = xf_calloc(1, sizeof *n);
    int rc = 0;

    if (!n)
        return XF_ENOMEM;
    n->line = (int)ev->start_mark.line + 1;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n->kind = Y_SCALAR;
        n->str = xf_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        n->plain_empty = ev->data.scalar.length == 0 && ev->data.scalar.plain_implicit;
        if (!n->str)
            rc = XF_ENOMEM;
        break;
    case YAML_ALIAS_EVENT:
        add_error(ld, n->line, "YAML aliases are not supported here");
        n->kind = Y_SCALAR;
        n->str = xf_strdup("");
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        yaml_event_type_t end = ev->type == YAML_SEQUENCE_START_EVENT ? YAML_SEQUENCE_END_EVENT
                                                                      : YAML_MAPPING_END_EVENT;
        n->kind = ev->type == YAML_SEQUENCE_START_EVENT ? Y_SEQ : Y_MAP;
        for (;;) {
            yaml_event_t kid_ev;
            struct ynode *kid = NULL;
            if (!yaml_parser_parse(p, &kid_ev)) {
                rc = XF_EPARSE;
                break;
            }
            if (kid_ev.type == end) {
                yaml_event_delete(&kid_ev);
                break;
            }
            rc = read_node(p, &kid_ev, ld, &kid);
            yaml_event_delete(&kid_ev);
            if (rc == 0 && (rc = ynode_add(n, kid)))
                ynode_free(kid);
            if (rc)
                break;
        }
        break;
    }
    default:
        rc = XF_EPARSE;
        break;
    }
    if (rc) {
        ynode_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

/* Parses the whole document. A syntax error is reported (with its line) and XF_EPARSE
 * returned; an empty document gives *out NULL. */
static int parse_yaml(const char *text, size_t len, struct loader *ld, struct ynode **out)
{
    yaml_parser_t p;
    yaml_event_t ev;
    struct ynode *root = NULL;
    int rc = 0, done = 0;

    *out = NULL;
    if (!yaml_parser_initialize(&p))
        return XF_ENOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            rc = XF_EPARSE;
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_SCALAR_EVENT:
        case YAML_ALIAS_EVENT:
            if (root) {
                add_error(ld, (int)ev.start_mark.line + 1, "only one YAML document is allowed");
                done = 1;
                break;
            }
            rc = read_node(&p, &ev, ld, &root);
            if (rc)
                done = 1;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    if (rc == XF_EPARSE || p.error != YAML_NO_ERROR) {
        add_error(ld, (int)p.problem_mark.line + 1, "YAML syntax error: %s",
                  p.problem ? p.problem : "malformed document");
        rc = XF_EPARSE;
    }
    yaml_parser_delete(&p);
    if (rc) {
        ynode_free(root);
        return rc;
    }
    *out = root;
    return 0;
}

/* ---- checking the tree against the table -------------------------------------------------- */

static const char *kind_name(enum ykind k)
{
    return k == Y_SCALAR ? "a value" : k == Y_SEQ ? "a list" : "a mapping";
}

/* Reports duplicate keys of a mapping node; returns 1 if kid i repeats an earlier key. */
static int is_duplicate(struct loader *ld, const struct ynode *map, size_t i, const char *prefix)
{
    const struct ynode *key = map->kids[i];

    if (key->kind != Y_SCALAR)
        return 0;
    for (size_t j = 0; j < i; j += 2) {
        if (map->kids[j]->kind == Y_SCALAR && strcmp(map->kids[j]->str, key->str) == 0) {
            add_error(ld, key->line, "duplicate key '%s%s' (first at line %d)", prefix, key->str,
                      map->kids[j]->line);
            return 1;
        }
    }
    return 0;
}

static int load_list(struct xf_config *cfg, const struct key_def *k, const struct ynode *v,
                     struct loader *ld)
{
    char **items = field_str(cfg, k);
    size_t *n = field_count(cfg, k);

    if (v->kind != Y_SEQ) {
        add_error(ld, v->line, "%s: expected a list, got %s", k->name, kind_name(v->kind));
        return 0;
    }
    clear_list(cfg, k);
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *it = v->kids[i];
        if (it->kind != Y_SCALAR || it->str[0] == '\0') {
            add_error(ld, it->line, "%s: expected a non-empty string item", k->name);
            continue;
        }
        if (*n == k->max) {
            add_error(ld, it->line, "%s: at most %zu items", k->name, k->max);
            break;
        }
        if (!(items[*n] = xf_strdup(it->str)))
            return XF_ENOMEM;
        (*n)++;
    }
    return 0;
}

static int load_topic(struct xf_config *cfg, const struct key_def *k, const struct ynode *it,
                      struct loader *ld)
{
    const char *name = NULL;
    enum xf_format fmt = XF_FMT_AUTO;

    if (it->kind == Y_SCALAR) {
        name = it->str;
    } else if (it->kind == Y_MAP) {
        for (size_t j = 0; j + 1 < it->n; j += 2) {
            const struct ynode *tk = it->kids[j], *tv = it->kids[j + 1];
            if (tk->kind != Y_SCALAR) {
                add_error(ld, tk->line, "%s: keys must be plain names", k->name);
                continue;
            }
            if (is_duplicate(ld, it, j, "kafka.topics[]."))
                continue;
            if (strcmp(tk->str, "name") != 0 && strcmp(tk->str, "format") != 0) {
                add_error(ld, tk->line, "unknown key 'kafka.topics[].%s' (known: name, format)",
                          tk->str);
                continue;
            }
            if (tv->kind != Y_SCALAR) {
                add_error(ld, tv->line, "kafka.topics[].%s: expected a value, got %s", tk->str,
                          kind_name(tv->kind));
                continue;
            }
            if (strcmp(tk->str, "name") == 0)
                name = tv->str;
            else if (xf_format_from_name(tv->str, &fmt))
                add_error(ld, tv->line,
                          "kafka.topics[].format: expected one of auto, ecs, sysmon, winevt, "
                          "proto, got '%s'",
                          tv->str);
        }
    } else {
        add_error(ld, it->line, "%s: expected {name, format} items", k->name);
        return 0;
    }
    if (!name || !name[0]) {
        add_error(ld, it->line, "kafka.topics[]: a topic needs a name");
        return 0;
    }
    if (cfg->n_topics == k->max) {
        add_error(ld, it->line, "%s: at most %zu topics", k->name, k->max);
        return 0;
    }
    if (!(cfg->topics[cfg->n_topics].name = xf_strdup(name)))
        return XF_ENOMEM;
    cfg->topics[cfg->n_topics++].format = fmt;
    return 0;
}

static int load_topics(struct xf_config *cfg, const struct key_def *k, const struct ynode *v,
                       struct loader *ld)
{
    int rc = 0;

    if (v->kind != Y_SEQ) {
        add_error(ld, v->line, "%s: expected a list, got %s", k->name, kind_name(v->kind));
        return 0;
    }
    clear_list(cfg, k);
    for (size_t i = 0; i < v->n && !rc; i++)
        rc = load_topic(cfg, k, v->kids[i], ld);
    return rc;
}

/* Replaces or appends "name=value" in the property list. */
static int props_set(struct xf_config *cfg, const char *name, const char *value)
{
    size_t nl = strlen(name);
    struct xf_buf b;
    char *s;
    size_t slot = cfg->n_kafka_props;

    for (size_t i = 0; i < cfg->n_kafka_props; i++)
        if (strncmp(cfg->kafka_props[i], name, nl) == 0 && cfg->kafka_props[i][nl] == '=')
            slot = i;
    if (slot == XF_MAX_PROPS)
        return XF_ETOOBIG;
    xf_buf_init(&b);
    if (xf_buf_appendf(&b, "%s=%s", name, value)) {
        xf_buf_close(&b);
        return XF_ENOMEM;
    }
    s = xf_buf_steal(&b, NULL);
    if (slot == cfg->n_kafka_props)
        cfg->n_kafka_props++;
    else
        xf_free(cfg->kafka_props[slot]);
    cfg->kafka_props[slot] = s;
    return 0;
}

static int load_props(struct xf_config *cfg, const struct key_def *k, const struct ynode *v,
                      struct loader *ld)
{
    int rc = 0;

    if (v->kind != Y_MAP) {
        add_error(ld, v->line, "%s: expected a mapping of librdkafka properties, got %s", k->name,
                  kind_name(v->kind));
        return 0;
    }
    clear_list(cfg, k);
    for (size_t j = 0; j + 1 < v->n && !rc; j += 2) {
        const struct ynode *pk = v->kids[j], *pv = v->kids[j + 1];
        if (pk->kind != Y_SCALAR || pv->kind != Y_SCALAR) {
            add_error(ld, pk->line, "%s: expected name: value pairs", k->name);
            continue;
        }
        if (is_duplicate(ld, v, j, "kafka.properties."))
            continue;
        rc = props_set(cfg, pk->str, pv->str);
        if (rc == XF_ETOOBIG) {
            add_error(ld, pk->line, "%s: at most %d properties", k->name, XF_MAX_PROPS);
            rc = 0;
            break;
        }
    }
    return rc;
}

/* The scalar value of a map entry, or NULL (reported) when it is a list or mapping. */
static const char *entry_value(struct loader *ld, const char *where, const struct ynode *key,
                               const struct ynode *val)
{
    if (val->kind != Y_SCALAR) {
        add_error(ld, val->line, "%s.%s: expected a value, got %s", where, key->str,
                  kind_name(val->kind));
        return NULL;
    }
    return val->str;
}

static int load_token(struct xf_config *cfg, const struct key_def *k, const struct ynode *it,
                      struct loader *ld)
{
    const char *f[4] = {NULL, NULL, NULL, NULL}; /* name, role, token_env, token_file */
    static const char *const names[4] = {"name", "role", "token_env", "token_file"};
    struct xf_token_conf *t;
    int bad = 0;

    if (it->kind != Y_MAP) {
        add_error(ld, it->line, "%s: expected {name, role, token_env | token_file} items", k->name);
        return 0;
    }
    for (size_t j = 0; j + 1 < it->n; j += 2) {
        const struct ynode *tk = it->kids[j], *tv = it->kids[j + 1];
        const char *v;
        size_t slot = 4;
        if (tk->kind != Y_SCALAR || is_duplicate(ld, it, j, "api.tokens[].")) {
            bad = 1;
            continue;
        }
        if (strcmp(tk->str, "token") == 0) {
            add_error(ld, tk->line,
                      "api.tokens[].token: a literal token is refused (secrets never sit in the "
                      "config file); use token_env or token_file");
            bad = 1;
            continue;
        }
        for (size_t n = 0; n < 4; n++)
            if (strcmp(tk->str, names[n]) == 0)
                slot = n;
        if (slot == 4) {
            add_error(ld, tk->line,
                      "unknown key 'api.tokens[].%s' (known: name, role, token_env, token_file)",
                      tk->str);
            bad = 1;
            continue;
        }
        if (!(v = entry_value(ld, "api.tokens[]", tk, tv)) || !v[0]) {
            if (v)
                add_error(ld, tv->line, "api.tokens[].%s: must not be empty", tk->str);
            bad = 1;
            continue;
        }
        f[slot] = v;
        if (slot == 1 && xf_api_role_parse(v) <= XF_ROLE_NONE) {
            add_error(ld, tv->line, "api.tokens[].role: expected read, respond or admin, got '%s'",
                      v);
            bad = 1;
        }
    }
    if (!f[0] || !f[1]) {
        add_error(ld, it->line, "api.tokens[]: a token needs a name and a role");
        bad = 1;
    }
    if (f[2] && f[3]) {
        add_error(ld, it->line, "api.tokens[]: token_env and token_file are exclusive");
        bad = 1;
    }
    for (size_t i = 0; f[0] && i < cfg->n_api_tokens; i++) {
        if (strcmp(cfg->api_tokens[i].name, f[0]) == 0) {
            add_error(ld, it->line, "api.tokens[]: the name '%s' is used twice", f[0]);
            bad = 1;
        }
    }
    if (bad)
        return 0;
    if (cfg->n_api_tokens == k->max) {
        add_error(ld, it->line, "%s: at most %zu tokens", k->name, k->max);
        return 0;
    }
    t = &cfg->api_tokens[cfg->n_api_tokens++];
    {
        struct xf_token_conf src = {(char *)f[0], (char *)f[1], (char *)f[2], (char *)f[3]};
        return token_copy(t, &src);
    }
}

static int load_host_tags(struct xf_config *cfg, const struct key_def *k, const struct ynode *v,
                          struct loader *ld)
{
    struct xf_policy_conf *p = &cfg->response.policy;

    if (v->kind != Y_MAP) {
        add_error(ld, v->line, "%s: expected a mapping {host: [tags]}, got %s", k->name,
                  kind_name(v->kind));
        return 0;
    }
    clear_list(cfg, k);
    for (size_t j = 0; j + 1 < v->n; j += 2) {
        const struct ynode *hk = v->kids[j], *hv = v->kids[j + 1];
        struct xf_host_tag *t;
        if (hk->kind != Y_SCALAR || !hk->str[0] || is_duplicate(ld, v, j, "response.host_tags.")) {
            if (hk->kind != Y_SCALAR || !hk->str[0])
                add_error(ld, hk->line, "%s: host names must be plain names", k->name);
            continue;
        }
        if (hv->kind == Y_MAP) {
            add_error(ld, hv->line, "%s.%s: expected a tag or a list of tags", k->name, hk->str);
            continue;
        }
        if (p->n_host_tags == k->max) {
            add_error(ld, hk->line, "%s: at most %zu hosts", k->name, k->max);
            break;
        }
        t = &p->host_tags[p->n_host_tags++];
        if (!(t->host = xf_strdup(hk->str)))
            return XF_ENOMEM;
        for (size_t i = 0; i < (hv->kind == Y_SEQ ? hv->n : 1); i++) {
            const struct ynode *tag = hv->kind == Y_SEQ ? hv->kids[i] : hv;
            if (tag->kind != Y_SCALAR || !tag->str[0]) {
                add_error(ld, tag->line, "%s.%s: tags are non-empty names", k->name, hk->str);
                continue;
            }
            if (t->n_tags == XF_ARRAY_LEN(t->tags)) {
                add_error(ld, tag->line, "%s.%s: at most %zu tags", k->name, hk->str,
                          XF_ARRAY_LEN(t->tags));
                break;
            }
            if (!(t->tags[t->n_tags] = xf_strdup(tag->str)))
                return XF_ENOMEM;
            t->n_tags++;
        }
    }
    return 0;
}

/* "webhook, crowdstrike, ..." for messages. */
static void connector_types(char *out, size_t cap)
{
    size_t n = 0, used = 0;
    const struct xf_connector_ops *const *all = xf_connector_all(&n);

    out[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++) {
        int w = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", all[i]->type);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static int load_devices(struct xf_connector_conf *c, const struct ynode *v, struct loader *ld)
{
    if (v->kind != Y_MAP) {
        add_error(ld, v->line, "response.connectors[].devices: expected {host: device id}, got %s",
                  kind_name(v->kind));
        return 0;
    }
    for (size_t j = 0; j + 1 < v->n; j += 2) {
        const struct ynode *hk = v->kids[j], *hv = v->kids[j + 1];
        if (hk->kind != Y_SCALAR || !hk->str[0] || hv->kind != Y_SCALAR || !hv->str[0]) {
            add_error(ld, hk->line, "response.connectors[].devices: expected host: device id");
            continue;
        }
        if (is_duplicate(ld, v, j, "response.connectors[].devices."))
            continue;
        if (c->n_devices == XF_CONN_MAX_DEVICES) {
            add_error(ld, hk->line, "response.connectors[].devices: at most %d hosts",
                      XF_CONN_MAX_DEVICES);
            break;
        }
        c->n_devices++;
        if (!(c->devices[c->n_devices - 1].host = xf_strdup(hk->str)) ||
            !(c->devices[c->n_devices - 1].device_id = xf_strdup(hv->str)))
            return XF_ENOMEM;
    }
    return 0;
}

static int load_connector(struct xf_config *cfg, const struct key_def *k, const struct ynode *it,
                          struct loader *ld)
{
    struct xf_response_conf *r = &cfg->response;
    struct xf_connector_conf *c;
    const struct ynode *name = NULL, *type = NULL;
    int rc = 0;

    if (it->kind != Y_MAP) {
        add_error(ld, it->line, "%s: expected {name, type, ...} items", k->name);
        return 0;
    }
    if (r->n_connectors == k->max) {
        add_error(ld, it->line, "%s: at most %zu connectors", k->name, k->max);
        return 0;
    }
    c = &r->connectors[r->n_connectors++];
    for (size_t j = 0; j + 1 < it->n && !rc; j += 2) {
        const struct ynode *ck = it->kids[j], *cv = it->kids[j + 1];
        if (ck->kind != Y_SCALAR || !ck->str[0]) {
            add_error(ld, ck->line, "%s: keys must be plain names", k->name);
            continue;
        }
        if (is_duplicate(ld, it, j, "response.connectors[]."))
            continue;
        if (strcmp(ck->str, "devices") == 0) {
            rc = load_devices(c, cv, ld);
            continue;
        }
        if (!entry_value(ld, "response.connectors[]", ck, cv))
            continue;
        if (strcmp(ck->str, "name") == 0) {
            name = cv;
            continue;
        }
        if (strcmp(ck->str, "type") == 0) {
            type = cv;
            continue;
        }
        if (c->n_params == XF_CONN_MAX_PARAMS) {
            add_error(ld, ck->line, "%s: at most %d keys a connector", k->name, XF_CONN_MAX_PARAMS);
            continue;
        }
        c->n_params++;
        if (!(c->params[c->n_params - 1].key = xf_strdup(ck->str)) ||
            !(c->params[c->n_params - 1].value = xf_strdup(cv->str)))
            rc = XF_ENOMEM;
    }
    if (rc)
        return rc;
    if (!name || !name->str[0] || !type || !type->str[0]) {
        add_error(ld, it->line, "%s: a connector needs a name and a type", k->name);
        return 0;
    }
    if (!xf_connector_find(type->str)) {
        char known[256];
        connector_types(known, sizeof known);
        add_error(ld, type->line,
                  "response.connectors[].type: unknown connector type '%s' "
                  "(known: %s)",
                  type->str, known[0] ? known : "none built in");
    }
    for (size_t i = 0; i + 1 < r->n_connectors; i++) {
        if (r->connectors[i].name && strcmp(r->connectors[i].name, name->str) == 0)
            add_error(ld, name->line, "response.connectors[]: the name '%s' is used twice",
                      name->str);
    }
    if (!(c->name = xf_strdup(name->str)) || !(c->type = xf_strdup(type->str)))
        return XF_ENOMEM;
    return 0;
}

/* A list of mappings, each loaded by one(). The list replaces what was there. */
static int load_items(struct xf_config *cfg, const struct key_def *k, const struct ynode *v,
                      struct loader *ld,
                      int (*one)(struct xf_config *, const struct key_def *, const struct ynode *,
                                 struct loader *))
{
    int rc = 0;

    if (v->kind != Y_SEQ) {
        if (!(v->kind == Y_SCALAR && v->plain_empty))
            add_error(ld, v->line, "%s: expected a list, got %s", k->name, kind_name(v->kind));
        return 0;
    }
    clear_list(cfg, k);
    for (size_t i = 0; i < v->n && !rc; i++)
        rc = one(cfg, k, v->kids[i], ld);
    return rc;
}

static int load_key(struct xf_config *cfg, const struct key_def *k, const struct ynode *v,
                    struct loader *ld)
{
    char why[XF_ERRMSG_MAX];

    switch (k->type) {
    case T_LIST:
        return load_list(cfg, k, v, ld);
    case T_TOPICS:
        return load_topics(cfg, k, v, ld);
    case T_PROPS:
        return load_props(cfg, k, v, ld);
    case T_TOKENS:
        return load_items(cfg, k, v, ld, load_token);
    case T_CONNECTORS:
        return load_items(cfg, k, v, ld, load_connector);
    case T_HOST_TAGS:
        return load_host_tags(cfg, k, v, ld);
    default:
        break;
    }
    if (v->kind != Y_SCALAR) {
        add_error(ld, v->line, "%s: expected a value, got %s", k->name, kind_name(v->kind));
        return 0;
    }
    if (v->plain_empty && k->type != T_STR) {
        add_error(ld, v->line, "%s: a value is required", k->name);
        return 0;
    }
    why[0] = '\0';
    if (set_scalar(cfg, k, v->str, why, sizeof why)) {
        if (!why[0])
            return XF_ENOMEM;
        add_error(ld, v->line, "%s", why);
    }
    return 0;
}

static int section_known(const char *name, size_t len)
{
    for (size_t i = 0; i < XF_ARRAY_LEN(keys); i++)
        if (strncmp(keys[i].name, name, len) == 0 && keys[i].name[len] == '.')
            return 1;
    return 0;
}

static int load_tree(struct xf_config *cfg, const struct ynode *root, struct loader *ld)
{
    int rc = 0;

    if (!root)
        return 0; /* an empty file: all defaults */
    if (root->kind != Y_MAP) {
        add_error(ld, root->line, "expected a mapping of sections (kafka:, store:, ...)");
        return 0;
    }
    for (size_t i = 0; i + 1 < root->n && !rc; i += 2) {
        const struct ynode *sk = root->kids[i], *sv = root->kids[i + 1];
        if (sk->kind != Y_SCALAR) {
            add_error(ld, sk->line, "section names must be plain names");
            continue;
        }
        if (is_duplicate(ld, root, i, ""))
            continue;
        if (!section_known(sk->str, strlen(sk->str))) {
            add_error(ld, sk->line, "unknown section '%s'", sk->str);
            continue;
        }
        if (sv->kind != Y_MAP) {
            if (!(sv->kind == Y_SCALAR && sv->plain_empty))
                add_error(ld, sv->line, "%s: expected a mapping, got %s", sk->str,
                          kind_name(sv->kind));
            continue;
        }
        for (size_t j = 0; j + 1 < sv->n && !rc; j += 2) {
            const struct ynode *kk = sv->kids[j], *kv = sv->kids[j + 1];
            char full[128];
            const struct key_def *k;
            if (kk->kind != Y_SCALAR) {
                add_error(ld, kk->line, "%s: keys must be plain names", sk->str);
                continue;
            }
            snprintf(full, sizeof full, "%s.%s", sk->str, kk->str);
            if (is_duplicate(ld, sv, j, ""))
                continue;
            if (!(k = key_find(full))) {
                if (retired_why(full))
                    add_error(ld, kk->line, "%s: %s", full, retired_why(full));
                else
                    add_error(ld, kk->line, "unknown key '%s'", full);
                continue;
            }
            rc = load_key(cfg, k, kv, ld);
        }
    }
    return rc;
}

int xf_config_load_buffer(struct xf_config *cfg, const char *name, const char *text, size_t len,
                          struct xf_buf *errors)
{
    struct loader ld = {.file = name, .errs = errors};
    struct ynode *root = NULL;
    int rc;

    rc = parse_yaml(text, len, &ld, &root);
    if (rc == 0)
        rc = load_tree(cfg, root, &ld);
    ynode_free(root);
    if (rc == 0 && ld.n_errs)
        rc = XF_ECONFIG;
    if (rc == XF_EPARSE)
        rc = XF_ECONFIG;
    if (rc == 0 || rc == XF_ECONFIG) {
        int src_rc = set_str(&cfg->source, name);
        if (src_rc)
            rc = src_rc;
    }
    return rc;
}

int xf_config_load_file(struct xf_config *cfg, const char *path)
{
    struct xf_buf text, errs;
    FILE *f = NULL;
    char chunk[8192];
    size_t got;
    int rc = 0;

    xf_buf_init(&text);
    xf_buf_init(&errs);
    f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
        rc = XF_ECONFIG;
        goto out;
    }
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if ((rc = xf_buf_append(&text, chunk, got)))
            goto out;
    }
    if (ferror(f)) {
        fprintf(stderr, "%s: cannot read: %s\n", path, strerror(errno));
        rc = XF_ECONFIG;
        goto out;
    }
    rc = xf_config_load_buffer(cfg, path, text.len ? text.data : "", text.len, &errs);
    if (errs.len)
        fputs(errs.data, stderr);
out:
    if (f)
        fclose(f);
    xf_buf_close(&text);
    xf_buf_close(&errs);
    return rc;
}

/* ---- environment, flags, validation ------------------------------------------------------- */

int xf_config_set(struct xf_config *cfg, const char *key, const char *value, char *why,
                  size_t why_len)
{
    const struct key_def *k = key_find(key);

    if (!k) {
        if (retired_why(key))
            snprintf(why, why_len, "%s: %s", key, retired_why(key));
        else
            snprintf(why, why_len, "unknown key '%s'", key);
        return XF_ECONFIG;
    }
    why[0] = '\0';
    if (set_scalar(cfg, k, value, why, why_len))
        return why[0] ? XF_ECONFIG : XF_ENOMEM;
    return 0;
}

int xf_config_apply_env(struct xf_config *cfg)
{
    char why[XF_ERRMSG_MAX];
    int rc = 0;

    for (size_t i = 0; i < XF_ARRAY_LEN(keys); i++) {
        const struct key_def *k = &keys[i];
        const char *v = k->env && k->type != T_TOKENS ? getenv(k->env) : NULL;
        int r;
        if (!v)
            continue;
        if (k->type == T_PROPS)
            r = props_set(cfg, "sasl.password", v);
        else if ((r = xf_config_set(cfg, k->name, v, why, sizeof why)) == XF_ECONFIG)
            fprintf(stderr, "%s: %s\n", k->env, why);
        if (r && !rc)
            rc = r;
    }
    return rc;
}

int xf_config_token_secret(const struct xf_token_conf *t, char **secret, char *why, size_t why_len)
{
    char env[128];
    const char *v;
    struct xf_buf text;
    FILE *f = NULL;
    char chunk[1024];
    size_t got, i = 0;
    int rc = XF_ECONFIG;

    *secret = NULL;
    xf_buf_init(&text);
    /* XDRFLOW_TOKEN_<NAME>: upper case, anything but letters and digits becomes '_' */
    i = (size_t)snprintf(env, sizeof env, "XDRFLOW_TOKEN_");
    for (const char *p = t->name; *p && i + 1 < sizeof env; p++, i++) {
        char ch = *p;
        env[i] = (char)((ch >= 'a' && ch <= 'z')   ? ch - 'a' + 'A'
                        : (ch >= 'A' && ch <= 'Z') ? ch
                        : (ch >= '0' && ch <= '9') ? ch
                                                   : '_');
    }
    env[i] = '\0';
    if ((v = getenv(env)) && v[0]) {
        rc = (*secret = xf_strdup(v)) ? 0 : XF_ENOMEM;
        goto out;
    }
    if (t->token_env) {
        if (!(v = getenv(t->token_env)) || !v[0]) {
            snprintf(why, why_len, "api token '%s': environment variable %s is not set", t->name,
                     t->token_env);
            goto out;
        }
        rc = (*secret = xf_strdup(v)) ? 0 : XF_ENOMEM;
        goto out;
    }
    if (!t->token_file) {
        snprintf(why, why_len, "api token '%s': set %s, token_env or token_file", t->name, env);
        goto out;
    }
    if (!(f = fopen(t->token_file, "rb"))) {
        snprintf(why, why_len, "api token '%s': cannot open %s: %s", t->name, t->token_file,
                 strerror(errno));
        goto out;
    }
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0 && text.len < 4096)
        if ((rc = xf_buf_append(&text, chunk, got)))
            goto out;
    rc = XF_ECONFIG;
    while (text.len && (text.data[text.len - 1] == '\n' || text.data[text.len - 1] == '\r' ||
                        text.data[text.len - 1] == ' '))
        text.data[--text.len] = '\0';
    if (!text.len || text.len >= 4096 || memchr(text.data, '\0', text.len)) {
        snprintf(why, why_len, "api token '%s': %s must hold one non-empty line", t->name,
                 t->token_file);
        goto out;
    }
    rc = (*secret = xf_strndup(text.data, text.len)) ? 0 : XF_ENOMEM;
out:
    if (f)
        fclose(f);
    if (text.data)
        memset(text.data, 0, text.len);
    xf_buf_close(&text);
    return rc;
}

int xf_config_validate(const struct xf_config *cfg)
{
    const char *where = cfg->source ? cfg->source : "config";
    int rc = 0;

    if (cfg->n_topics == 0) {
        fprintf(stderr, "%s: kafka.topics: at least one topic is required\n", where);
        rc = XF_ECONFIG;
    }
    for (size_t i = 0; i < cfg->n_topics; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->topics[i].name, cfg->topics[j].name) == 0) {
                fprintf(stderr, "%s: kafka.topics: topic '%s' is listed twice\n", where,
                        cfg->topics[i].name);
                rc = XF_ECONFIG;
            }
        }
        if (cfg->dead_letter_topic && strcmp(cfg->topics[i].name, cfg->dead_letter_topic) == 0) {
            fprintf(stderr, "%s: kafka.dead_letter_topic: '%s' is also an input topic\n", where,
                    cfg->dead_letter_topic);
            rc = XF_ECONFIG;
        }
    }
    if (!cfg->brokers || !cfg->brokers[0]) {
        fprintf(stderr, "%s: kafka.brokers: must not be empty\n", where);
        rc = XF_ECONFIG;
    }
    if (!cfg->group || !cfg->group[0]) {
        fprintf(stderr, "%s: kafka.group: must not be empty\n", where);
        rc = XF_ECONFIG;
    }
    if (!cfg->store_path || !cfg->store_path[0]) {
        fprintf(stderr, "%s: store.path: must not be empty\n", where);
        rc = XF_ECONFIG;
    }
    {
        char why[XF_ERRMSG_MAX] = "";
        /* bad "re:" patterns and inconsistent delivery settings */
        if (xf_policy_conf_check(&cfg->response.policy, why, sizeof why)) {
            fprintf(stderr, "%s: response: %s\n", where, why[0] ? why : "invalid policy");
            rc = XF_ECONFIG;
        }
    }
    for (size_t i = 0; i < cfg->n_kafka_props; i++) {
        if (!strchr(cfg->kafka_props[i], '=') || cfg->kafka_props[i][0] == '=') {
            fprintf(stderr, "%s: kafka.properties: bad property '%s'\n", where,
                    cfg->kafka_props[i]);
            rc = XF_ECONFIG;
        }
    }
    return rc;
}

/* ---- reference ---------------------------------------------------------------------------- */

static const char *type_name(enum key_type t)
{
    static const char *const names[] = {"string",
                                        "bool",
                                        "integer",
                                        "duration",
                                        "enum",
                                        "list of strings",
                                        "list of {name, format}",
                                        "mapping",
                                        "enum",
                                        "number",
                                        "list of {name, role, token_env | token_file}",
                                        "mapping of host to tags",
                                        "list of {name, type, ..., devices}"};
    return names[t];
}

int xf_config_write_reference(struct xf_buf *out, int markdown)
{
    int rc = 0;

    if (markdown) {
        rc |= xf_buf_appends(
            out, "# Configuration reference\n\n"
                 "<!-- Generated by `xdrflow run --config-reference`; do not edit by hand. -->\n\n"
                 "`xdrflow run -c xdrflow.yaml` reads one YAML file of sections. Every key is "
                 "optional; an\nunknown key or a value of the wrong type is an error reported "
                 "as `FILE:LINE: message`\n(all of them at once). Precedence, lowest first: "
                 "default, file, environment, command-line\nflag (`--brokers`, `--db`, `--api`). "
                 "`xdrflow run --check-config -c FILE` checks a file and\nprints `config OK`.\n\n"
                 "| key | type | default | environment | description |\n"
                 "|---|---|---|---|---|\n");
    } else {
        rc |= xf_buf_appends(out, "Configuration keys (YAML sections; env overrides file, flags "
                                  "override env):\n");
    }
    for (size_t i = 0; i < XF_ARRAY_LEN(keys); i++) {
        const struct key_def *k = &keys[i];
        if (markdown)
            rc |= xf_buf_appendf(out, "| `%s` | %s | %s%s%s | %s%s%s | %s |\n", k->name,
                                 type_name(k->type), k->def[0] == '(' ? "" : "`", k->def,
                                 k->def[0] == '(' ? "" : "`", k->env ? "`" : "",
                                 k->env ? k->env : "", k->env ? "`" : "", k->help);
        else
            rc |= xf_buf_appendf(out, "  %-24s %s, default %s%s%s\n  %-24s %s\n", k->name,
                                 type_name(k->type), k->def, k->env ? "; env " : "",
                                 k->env ? k->env : "", "", k->help);
    }
    if (markdown)
        rc |= xf_buf_appends(out, "\nExample:\n\n```yaml\n"
                                  "kafka:\n"
                                  "  brokers: \"127.0.0.1:9092\"\n"
                                  "  group: xdrflow\n"
                                  "  topics:\n"
                                  "    - {name: xdr.email, format: auto}\n"
                                  "    - {name: xdr.endpoint, format: auto}\n"
                                  "    - {name: xdr.network, format: auto}\n"
                                  "    - {name: xdr.alerts, format: auto}\n"
                                  "  dead_letter_topic: xdr.deadletter\n"
                                  "  properties: {fetch.wait.max.ms: \"100\"}\n"
                                  "store: {path: /var/lib/xdrflow, sync: false}\n"
                                  "rules: {paths: [/etc/xdrflow/rules]}\n"
                                  "correlation: {lateness: 10m}\n"
                                  "api: {listen: \"127.0.0.1:8080\"}\n"
                                  "log: {level: info, format: json}\n"
                                  "pipeline: {decode_threads: 0, queue_batches: 24}\n"
                                  "```\n");
    return rc ? XF_ENOMEM : 0;
}
