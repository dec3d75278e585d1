/*
 * policy.c - the response policy: modes and severities by name, protected hosts, whether an
 * incident qualifies for isolation, the rate bucket and the retry backoff.
 *
 * The one thing to know: every decision here errs towards not isolating. A host is protected
 * when its full name or its first label matches any entry, case ignored; a regex that does not
 * compile protects every host (xf_policy_conf_check refuses such a config up front, so this
 * only guards a config that skipped the check). Isolating a domain controller by mistake costs
 * far more than a missed automatic isolation, which an analyst can still ask for.
 *
 * Everything is pure and owned by the caller's thread: the loop keeps the conf and the bucket.
 */
#define _GNU_SOURCE /* FNM_CASEFOLD */
#include <float.h>
#include <fnmatch.h>
#include <math.h> /* isfinite: a macro, no libm */
#include <stdio.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>

#include "xf/response.h"

#define RE_PREFIX "re:"
#define TAG_PREFIX "tag:"
#define MAX_TAGS 8 /* XF_ARRAY_LEN(struct xf_host_tag.tags) */

/* ---- names -------------------------------------------------------------------------------- */

static const char *const mode_names[] = {
    [XF_MODE_OFF] = "off",
    [XF_MODE_DRY_RUN] = "dry_run",
    [XF_MODE_APPROVE] = "approve",
    [XF_MODE_AUTO] = "auto",
};

static const char *const severity_names[] = {"low", "medium", "high", "critical"};

const char *xf_resp_mode_name(enum xf_resp_mode m)
{
    if ((unsigned)m >= XF_ARRAY_LEN(mode_names))
        return "unknown";
    return mode_names[m];
}

int xf_resp_mode_parse(const char *s)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < XF_ARRAY_LEN(mode_names); i++) {
        if (xf_strcaseeq(s, mode_names[i]))
            return (int)i;
    }
    return -1;
}

int xf_severity_rank(const char *s)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < XF_ARRAY_LEN(severity_names); i++) {
        if (xf_strcaseeq(s, severity_names[i]))
            return (int)i;
    }
    return -1;
}

/* ---- conf --------------------------------------------------------------------------------- */

/* The compiled "re:" patterns. pat[i] remembers which string code[i] was compiled from, so a
 * protected list changed after compiling is noticed and matched on the spot instead. */
struct compiled {
    pcre2_general_context *gctx;
    pcre2_compile_context *cctx;
    size_t n;
    const char *pat[XF_RESP_MAX_LIST];
    pcre2_code *code[XF_RESP_MAX_LIST];
};

void xf_policy_conf_init(struct xf_policy_conf *p)
{
    memset(p, 0, sizeof *p);
    p->mode = XF_MODE_APPROVE;
    p->min_severity = 2;
    p->min_score = 0;
    p->max_actions_per_min = 10;
    p->burst = 5;
    p->auto_release_after_ms = 0;
    p->max_attempts = 5;
    p->backoff_base_ms = 1000;
    p->backoff_max_ms = 60000;
    p->poll_interval_ms = 2000;
    p->max_polls = 150;
    p->timeout_ms = 10000;
    p->notify_incidents = 1;
}

static void compiled_free(struct compiled *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        pcre2_code_free(c->code[i]);
    pcre2_compile_context_free(c->cctx);
    pcre2_general_context_free(c->gctx);
    xf_free(c);
}

void xf_policy_conf_close(struct xf_policy_conf *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_stages && i < XF_RESP_MAX_LIST; i++)
        xf_free(p->stages[i]);
    for (size_t i = 0; i < p->n_protected && i < XF_RESP_MAX_LIST; i++)
        xf_free(p->protected_hosts[i]);
    for (size_t i = 0; i < p->n_host_tags && i < XF_RESP_MAX_LIST; i++) {
        xf_free(p->host_tags[i].host);
        for (size_t t = 0; t < p->host_tags[i].n_tags && t < MAX_TAGS; t++)
            xf_free(p->host_tags[i].tags[t]);
    }
    compiled_free(p->compiled);
    xf_policy_conf_init(p);
}

static char *dup_or_null(const char *s, int *failed)
{
    char *d;

    if (!s)
        return NULL;
    if (!(d = xf_strdup(s)))
        *failed = 1;
    return d;
}

int xf_policy_conf_copy(struct xf_policy_conf *dst, const struct xf_policy_conf *src)
{
    int failed = 0;

    if (!dst || !src || src->n_stages > XF_RESP_MAX_LIST || src->n_protected > XF_RESP_MAX_LIST ||
        src->n_host_tags > XF_RESP_MAX_LIST)
        return XF_EINVAL;
    /* Scalars in one go, then every owned pointer replaced by a copy (or NULL). */
    memcpy(dst, src, sizeof *dst);
    dst->compiled = NULL;
    for (size_t i = 0; i < src->n_stages; i++)
        dst->stages[i] = dup_or_null(src->stages[i], &failed);
    for (size_t i = 0; i < src->n_protected; i++)
        dst->protected_hosts[i] = dup_or_null(src->protected_hosts[i], &failed);
    for (size_t i = 0; i < src->n_host_tags; i++) {
        dst->host_tags[i].host = dup_or_null(src->host_tags[i].host, &failed);
        if (dst->host_tags[i].n_tags > MAX_TAGS)
            dst->host_tags[i].n_tags = MAX_TAGS;
        for (size_t t = 0; t < dst->host_tags[i].n_tags; t++)
            dst->host_tags[i].tags[t] = dup_or_null(src->host_tags[i].tags[t], &failed);
    }
    if (failed) {
        xf_policy_conf_close(dst);
        return XF_ENOMEM;
    }
    return 0;
}

/* PCRE2 allocates through our wrapper, so the torture hook reaches it too. */
static void *re_malloc(size_t n, void *ud)
{
    (void)ud;
    return xf_malloc(n);
}

static void re_free(void *ptr, void *ud)
{
    (void)ud;
    xf_free(ptr);
}

/* Compiles one pattern (the part after "re:"), case-insensitive. NULL on error, with why and
 * *rc (XF_ECONFIG, or XF_ENOMEM when PCRE2 could not allocate). */
static pcre2_code *re_compile(const char *pat, pcre2_compile_context *cctx, char *why,
                              size_t why_len, int *rc)
{
    PCRE2_UCHAR msg[128];
    PCRE2_SIZE off = 0;
    int err = 0;
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_CASELESS, &err, &off, cctx);

    if (!code)
        *rc = err == PCRE2_ERROR_HEAP_FAILED ? XF_ENOMEM : XF_ECONFIG;
    if (!code && why && *rc == XF_ECONFIG) {
        pcre2_get_error_message(err, msg, sizeof msg);
        snprintf(why, why_len, "protected_hosts: bad regex '%s' at offset %zu: %s", pat,
                 (size_t)off, (const char *)msg);
    }
    return code;
}

static int set_why(char *why, size_t why_len, const char *msg)
{
    if (why && why_len)
        snprintf(why, why_len, "%s", msg);
    return XF_ECONFIG;
}

/* The compiled set for p's current protected list, or NULL on ENOMEM / a bad pattern. */
static struct compiled *compile_all(const struct xf_policy_conf *p, char *why, size_t why_len,
                                    int *rc)
{
    struct compiled *c = xf_calloc(1, sizeof *c);

    *rc = XF_ENOMEM;
    if (!c)
        goto fail;
    c->gctx = pcre2_general_context_create(re_malloc, re_free, NULL);
    if (!c->gctx)
        goto fail;
    c->cctx = pcre2_compile_context_create(c->gctx);
    if (!c->cctx)
        goto fail;
    for (size_t i = 0; i < p->n_protected && i < XF_RESP_MAX_LIST; i++) {
        const char *e = p->protected_hosts[i];
        if (!e || strncmp(e, RE_PREFIX, strlen(RE_PREFIX)) != 0)
            continue;
        c->pat[c->n] = e;
        c->code[c->n] = re_compile(e + strlen(RE_PREFIX), c->cctx, why, why_len, rc);
        if (!c->code[c->n])
            goto fail;
        c->n++;
    }
    *rc = 0;
    return c;
fail:
    if (*rc == XF_ENOMEM)
        set_why(why, why_len, "out of memory compiling protected_hosts");
    compiled_free(c);
    return NULL;
}

int xf_policy_conf_compile(struct xf_policy_conf *p, char *why, size_t why_len)
{
    struct compiled *c;
    int rc;

    if (!p)
        return XF_EINVAL;
    if (!(c = compile_all(p, why, why_len, &rc)))
        return rc;
    compiled_free(p->compiled);
    p->compiled = c;
    return 0;
}

static int check_list(char *const *v, size_t n, const char *what, char *why, size_t why_len)
{
    char msg[128];

    if (n > XF_RESP_MAX_LIST) {
        snprintf(msg, sizeof msg, "%s: more than %d entries", what, XF_RESP_MAX_LIST);
        return set_why(why, why_len, msg);
    }
    for (size_t i = 0; i < n; i++) {
        if (!v[i] || !*v[i]) {
            snprintf(msg, sizeof msg, "%s: entry %zu is empty", what, i + 1);
            return set_why(why, why_len, msg);
        }
    }
    return 0;
}

int xf_policy_conf_check(const struct xf_policy_conf *p, char *why, size_t why_len)
{
    struct compiled *c = NULL;
    int rc;

    if (!p)
        return XF_EINVAL;
    if ((unsigned)p->mode > XF_MODE_AUTO)
        return set_why(why, why_len, "mode: must be off, dry_run, approve or auto");
    if (p->min_severity < 0 || p->min_severity > 3)
        return set_why(why, why_len, "min_severity: must be low, medium, high or critical");
    if (p->min_score < 0)
        return set_why(why, why_len, "min_score: must be >= 0");
    if ((rc = check_list(p->stages, p->n_stages, "stages", why, why_len)))
        return rc;
    if ((rc = check_list(p->protected_hosts, p->n_protected, "protected_hosts", why, why_len)))
        return rc;
    for (size_t i = 0; i < p->n_protected; i++) {
        const char *e = p->protected_hosts[i];
        if ((!strncmp(e, RE_PREFIX, strlen(RE_PREFIX)) && !e[strlen(RE_PREFIX)]) ||
            (!strncmp(e, TAG_PREFIX, strlen(TAG_PREFIX)) && !e[strlen(TAG_PREFIX)]))
            return set_why(why, why_len, "protected_hosts: 're:' or 'tag:' with nothing after it");
    }
    if (p->n_host_tags > XF_RESP_MAX_LIST)
        return set_why(why, why_len, "host_tags: too many hosts");
    for (size_t i = 0; i < p->n_host_tags; i++) {
        const struct xf_host_tag *t = &p->host_tags[i];
        if (!t->host || !*t->host)
            return set_why(why, why_len, "host_tags: a host name is empty");
        if (t->n_tags > MAX_TAGS)
            return set_why(why, why_len, "host_tags: more than 8 tags for a host");
        if ((rc = check_list(t->tags, t->n_tags, "host_tags", why, why_len)))
            return rc;
    }
    if (!(p->max_actions_per_min > 0) || !isfinite(p->max_actions_per_min))
        return set_why(why, why_len, "max_actions_per_min: must be > 0");
    if (p->burst < 1)
        return set_why(why, why_len, "burst: must be >= 1");
    if (p->auto_release_after_ms < 0 || p->auto_release_after_ms > XF_RESP_MAX_AUTO_RELEASE)
        return set_why(why, why_len, "auto_release_after: must be from 0 (never) to 366d");
    if (p->max_attempts < 1)
        return set_why(why, why_len, "max_attempts: must be >= 1");
    if (p->backoff_base_ms < 0 || p->backoff_max_ms < p->backoff_base_ms)
        return set_why(why, why_len, "backoff: need 0 <= backoff_base_ms <= backoff_max_ms");
    if (p->poll_interval_ms < 1 || p->max_polls < 1)
        return set_why(why, why_len, "poll_interval_ms and max_polls: must be >= 1");
    if (p->timeout_ms < 1)
        return set_why(why, why_len, "timeout_ms: must be >= 1");
    if (!(c = compile_all(p, why, why_len, &rc)))
        return rc;
    compiled_free(c);
    return 0;
}

/* ---- protected hosts ---------------------------------------------------------------------- */

/* The compiled code for entry e if p->compiled holds it. */
static pcre2_code *cached_code(const struct xf_policy_conf *p, const char *e)
{
    const struct compiled *c = p->compiled;

    for (size_t i = 0; c && i < c->n; i++) {
        if (c->pat[i] == e)
            return c->code[i];
    }
    return NULL;
}

/* 1: matches, 0: does not, <0: could not tell (caller fails closed). */
static int re_match(pcre2_code *code, const char *name, size_t len)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    int rc;

    if (!md)
        return XF_ENOMEM;
    rc = pcre2_match(code, (PCRE2_SPTR)name, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    if (rc >= 0)
        return 1;
    return rc == PCRE2_ERROR_NOMATCH ? 0 : XF_EINTERNAL;
}

static int has_tag(const struct xf_policy_conf *p, const char *name, const char *tag)
{
    for (size_t i = 0; i < p->n_host_tags && i < XF_RESP_MAX_LIST; i++) {
        const struct xf_host_tag *t = &p->host_tags[i];
        if (!t->host || !xf_strcaseeq(t->host, name))
            continue;
        for (size_t k = 0; k < t->n_tags && k < MAX_TAGS; k++) {
            if (t->tags[k] && xf_strcaseeq(t->tags[k], tag))
                return 1;
        }
    }
    return 0;
}

/* 1 when entry e matches name (NUL-terminated), 0 when not; fails closed (1) on errors. */
static int entry_matches(const struct xf_policy_conf *p, const char *e, const char *name)
{
    if (!strncmp(e, TAG_PREFIX, strlen(TAG_PREFIX)))
        return has_tag(p, name, e + strlen(TAG_PREFIX));
    if (!strncmp(e, RE_PREFIX, strlen(RE_PREFIX))) {
        pcre2_code *code = cached_code(p, e);
        pcre2_code *own = NULL;
        int rc = 0;
        if (!code)
            code = own = re_compile(e + strlen(RE_PREFIX), NULL, NULL, 0, &rc);
        rc = code ? re_match(code, name, strlen(name)) : XF_ECONFIG;
        pcre2_code_free(own);
        return rc != 0;
    }
    return fnmatch(e, name, FNM_CASEFOLD) == 0;
}

int xf_policy_host_protected(const struct xf_policy_conf *p, const char *host)
{
    char shortname[256], full[256];
    const char *dot;
    size_t n;

    if (!p || !host || !*host)
        return 0;
    /* "dc01.corp.example." (root-anchored) and " dc01 " name the host "dc01.corp.example" and
     * "dc01": match them without the trailing dots and blanks; a name too long to copy is
     * matched as given */
    while (*host == ' ' || *host == '\t')
        host++;
    n = strlen(host);
    while (n > 0 && (host[n - 1] == '.' || host[n - 1] == ' ' || host[n - 1] == '\t'))
        n--;
    if (n < sizeof full && n < strlen(host)) {
        memcpy(full, host, n);
        full[n] = '\0';
        host = full;
    }
    if (!*host)
        return 0;
    shortname[0] = '\0';
    dot = strchr(host, '.');
    if (dot && dot > host && (size_t)(dot - host) < sizeof shortname) {
        memcpy(shortname, host, (size_t)(dot - host));
        shortname[dot - host] = '\0';
    }
    for (size_t i = 0; i < p->n_protected && i < XF_RESP_MAX_LIST; i++) {
        const char *e = p->protected_hosts[i];
        if (!e || !*e)
            continue;
        if (entry_matches(p, e, host) || (shortname[0] && entry_matches(p, e, shortname)))
            return 1;
    }
    return 0;
}

/* ---- incidents ---------------------------------------------------------------------------- */

void xf_incident_summary_close(struct xf_incident_summary *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_stages; i++)
        xf_free(s->stages[i]);
    xf_free(s->stages);
    for (size_t i = 0; i < s->n_hosts; i++)
        xf_free(s->hosts[i]);
    xf_free(s->hosts);
    memset(s, 0, sizeof *s);
    s->severity = -1;
}

/* A JSON array of strings into a fresh char *[]. Absent: none. */
static int string_array(const json_t *o, const char *key, char ***out, size_t *n)
{
    const json_t *a = json_object_get(o, key);
    size_t len;

    *out = NULL;
    *n = 0;
    if (!a)
        return 0;
    if (!json_is_array(a))
        return XF_EPARSE;
    len = json_array_size(a);
    if (!len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!json_is_string(json_array_get(a, i)))
            return XF_EPARSE;
    }
    if (!(*out = xf_calloc(len, sizeof **out)))
        return XF_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        if (!((*out)[i] = xf_strdup(json_string_value(json_array_get(a, i)))))
            return XF_ENOMEM;
        (*n)++;
    }
    return 0;
}

int xf_incident_summary_parse(const char *json, size_t len, struct xf_incident_summary *s)
{
    json_t *o = NULL;
    const json_t *v;
    int rc = XF_EPARSE;

    if (!json || !s)
        return XF_EINVAL;
    memset(s, 0, sizeof *s);
    s->severity = -1;
    o = json_loadb(json, len, 0, NULL);
    if (!json_is_object(o))
        goto out;
    v = json_object_get(o, "id");
    if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) >= sizeof s->id)
        goto out;
    memcpy(s->id, json_string_value(v), json_string_length(v) + 1);
    if ((v = json_object_get(o, "severity"))) {
        if (!json_is_string(v))
            goto out;
        s->severity = xf_severity_rank(json_string_value(v));
    }
    if ((v = json_object_get(o, "score"))) {
        if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
            json_integer_value(v) > INT32_MAX)
            goto out;
        s->score = (int)json_integer_value(v);
    }
    if ((rc = string_array(o, "stages", &s->stages, &s->n_stages)))
        goto out;
    rc = string_array(o, "hosts", &s->hosts, &s->n_hosts);
out:
    json_decref(o);
    if (rc)
        xf_incident_summary_close(s);
    return rc;
}

int xf_policy_incident_qualifies(const struct xf_policy_conf *p,
                                 const struct xf_incident_summary *s)
{
    if (!p || !s || s->severity < 0)
        return 0;
    if (s->severity < p->min_severity || s->score < p->min_score)
        return 0;
    if (!p->n_stages)
        return 1;
    for (size_t i = 0; i < s->n_stages; i++) {
        for (size_t k = 0; k < p->n_stages && k < XF_RESP_MAX_LIST; k++) {
            if (s->stages[i] && p->stages[k] && xf_strcaseeq(s->stages[i], p->stages[k]))
                return 1;
        }
    }
    return 0;
}

/* ---- rate and backoff --------------------------------------------------------------------- */

int xf_rate_take(struct xf_rate *r, const struct xf_policy_conf *p, int64_t now_ms)
{
    double cap;

    if (!r || !p)
        return 0;
    cap = p->burst < 1 ? 1.0 : (double)p->burst;
    if (!r->primed) {
        r->tokens = cap;
        r->last_ms = now_ms;
        r->primed = 1;
    }
    /* A clock that steps back refills nothing, rather than a negative amount. */
    if (now_ms > r->last_ms) {
        if (p->max_actions_per_min > 0)
            r->tokens += (double)(now_ms - r->last_ms) * p->max_actions_per_min / 60000.0;
        if (r->tokens > cap)
            r->tokens = cap;
        r->last_ms = now_ms;
    }
    if (r->tokens < 1.0)
        return 0;
    r->tokens -= 1.0;
    return 1;
}

int64_t xf_backoff_ms(const struct xf_policy_conf *p, int attempt, double rnd)
{
    int64_t ceiling;
    int64_t max;

    if (!p)
        return 0;
    max = p->backoff_max_ms > 0 ? p->backoff_max_ms : 0;
    ceiling = p->backoff_base_ms > 0 ? p->backoff_base_ms : 0;
    if (attempt < 1)
        attempt = 1;
    /* Double until the cap; stopping there also keeps the shift from overflowing. */
    for (int i = 1; i < attempt && ceiling > 0 && ceiling < max; i++)
        ceiling *= 2;
    if (ceiling > max)
        ceiling = max;
    if (!(rnd >= 0.0)) /* also NaN */
        rnd = 0.0;
    if (rnd >= 1.0)
        rnd = 1.0 - DBL_EPSILON / 2; /* the largest double below 1 */
    return (int64_t)(rnd * (double)ceiling);
}
