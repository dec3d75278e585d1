/*
 * action.c - the action record: names of kinds and states, the idempotency key, and the JSON
 * form the outbox stores and the API shows.
 *
 * The one thing to know: the id is the idempotency key every receiver dedups on, so it is a
 * pure function of content (xxh64 over incident, host, kind, connector and salt), and the JSON
 * decoder refuses - rather than truncates - a value too long for its fixed array: a truncated
 * host or incident would be another action with the same key, or the same action with
 * another one.
 */
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack: no allocation outside xf_malloc */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <xxhash.h>

#include "xf/response.h"

/* ---- names -------------------------------------------------------------------------------- */

static const char *const kind_names[] = {
    [XF_ACT_ISOLATE] = "isolate",
    [XF_ACT_RELEASE] = "release",
    [XF_ACT_NOTIFY] = "notify",
};

static const char *const state_names[] = {
    [XF_AS_PLANNED] = "planned",     [XF_AS_APPROVED] = "approved", [XF_AS_SENT] = "sent",
    [XF_AS_CONFIRMED] = "confirmed", [XF_AS_FAILED] = "failed",     [XF_AS_DENIED] = "denied",
    [XF_AS_DRY_RUN] = "dry_run",     [XF_AS_RELEASED] = "released",
};

const char *xf_action_kind_name(enum xf_action_kind k)
{
    if ((unsigned)k >= XF_ARRAY_LEN(kind_names))
        return "unknown";
    return kind_names[k];
}

const char *xf_action_state_name(enum xf_action_state s)
{
    if ((unsigned)s >= XF_ARRAY_LEN(state_names))
        return "unknown";
    return state_names[s];
}

static int name_index(const char *const *names, size_t n, const char *s)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], s) == 0)
            return (int)i;
    }
    return -1;
}

int xf_action_kind_parse(const char *s)
{
    return name_index(kind_names, XF_ARRAY_LEN(kind_names), s);
}

int xf_action_state_parse(const char *s)
{
    return name_index(state_names, XF_ARRAY_LEN(state_names), s);
}

int xf_action_state_pending(enum xf_action_state s)
{
    return s == XF_AS_PLANNED || s == XF_AS_APPROVED || s == XF_AS_SENT;
}

/* ---- id ----------------------------------------------------------------------------------- */

/* Hashes s up to its NUL (or the end of its array) and one NUL, so ("ab","c") and ("a","bc")
 * differ. */
static void hash_field(XXH64_state_t *h, const char *s, size_t cap)
{
    size_t n = s ? strnlen(s, cap) : 0;

    if (n)
        XXH64_update(h, s, n);
    XXH64_update(h, "", 1);
}

void xf_action_make_id(struct xf_action *a, const char *salt)
{
    XXH64_state_t h;
    const char *kind = xf_action_kind_name(a->kind);

    XXH64_reset(&h, 0);
    hash_field(&h, a->incident, sizeof a->incident);
    hash_field(&h, a->host, sizeof a->host);
    hash_field(&h, kind, strlen(kind));
    hash_field(&h, a->connector, sizeof a->connector);
    hash_field(&h, salt ? salt : "", salt ? strlen(salt) : 0);
    snprintf(a->id, sizeof a->id, "act-%016" PRIx64, (uint64_t)XXH64_digest(&h));
}

/* ---- JSON --------------------------------------------------------------------------------- */

/* Every string field, in the order to_json writes them (after id, kind and state). */
#define STR_FIELDS(X)                                                                              \
    X(incident)                                                                                    \
    X(host)                                                                                        \
    X(connector)                                                                                   \
    X(requested_by)                                                                                \
    X(reason)                                                                                      \
    X(device_id)                                                                                   \
    X(remote_id)                                                                                   \
    X(last_error)

#define INT_FIELDS(X)                                                                              \
    X(attempts)                                                                                    \
    X(polls)                                                                                       \
    X(phase)

#define I64_FIELDS(X)                                                                              \
    X(created_ms)                                                                                  \
    X(updated_ms)                                                                                  \
    X(next_at_ms)

static int dump_to_buf(const char *data, size_t len, void *ud)
{
    return xf_buf_append(ud, data, len) ? -1 : 0;
}

/* json_object_set_new that owns v even on failure (jansson frees it then). */
static int set(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0 ? 0 : XF_ENOMEM;
}

static json_t *string_of(const char *s, size_t cap)
{
    return json_stringn(s, strnlen(s, cap));
}

int xf_action_to_json(const struct xf_action *a, struct xf_buf *out)
{
    json_t *o = NULL;
    char hash[17];
    size_t start;
    int rc = 0;

    if (!a || !out)
        return XF_EINVAL;
    start = out->len;
    o = json_object();
    if (!o)
        return XF_ENOMEM;
    rc = set(o, "id", string_of(a->id, sizeof a->id));
    if (!rc)
        rc = set(o, "kind", json_string(xf_action_kind_name(a->kind)));
    if (!rc)
        rc = set(o, "state", json_string(xf_action_state_name(a->state)));
#define X(f)                                                                                       \
    if (!rc)                                                                                       \
        rc = set(o, #f, string_of(a->f, sizeof a->f));
    STR_FIELDS(X)
#undef X
#define X(f)                                                                                       \
    if (!rc)                                                                                       \
        rc = set(o, #f, json_integer(a->f));
    INT_FIELDS(X)
    I64_FIELDS(X)
#undef X
    /* Hex, not a JSON number: a u64 above INT64_MAX does not survive a JSON integer. */
    snprintf(hash, sizeof hash, "%016" PRIx64, a->payload_hash);
    if (!rc)
        rc = set(o, "payload_hash", json_string(hash));
    if (rc)
        goto out;
    if (json_dump_callback(o, dump_to_buf, out, JSON_COMPACT | JSON_PRESERVE_ORDER)) {
        rc = XF_ENOMEM;
        goto out;
    }
out:
    if (rc) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    json_decref(o);
    return rc;
}

/* Copies a JSON string member into a fixed array. Absent: "". Not a string, an embedded NUL
 * or too long for dst: XF_EPARSE. */
static int get_str(const json_t *o, const char *key, char *dst, size_t cap)
{
    const json_t *v = json_object_get(o, key);
    size_t n;

    dst[0] = '\0';
    if (!v)
        return 0;
    if (!json_is_string(v))
        return XF_EPARSE;
    n = json_string_length(v);
    if (n >= cap || memchr(json_string_value(v), '\0', n))
        return XF_EPARSE;
    memcpy(dst, json_string_value(v), n);
    dst[n] = '\0';
    return 0;
}

static int get_i64(const json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *dst)
{
    const json_t *v = json_object_get(o, key);
    json_int_t i;

    *dst = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return XF_EPARSE;
    i = json_integer_value(v);
    if (i < lo || i > hi)
        return XF_EPARSE;
    *dst = (int64_t)i;
    return 0;
}

static int get_hex64(const json_t *o, const char *key, uint64_t *dst)
{
    const json_t *v = json_object_get(o, key);
    const char *s;
    uint64_t x = 0;
    size_t n;

    *dst = 0;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return XF_EPARSE;
    s = json_string_value(v);
    n = json_string_length(v);
    if (n == 0 || n > 16)
        return XF_EPARSE;
    for (size_t i = 0; i < n; i++) {
        int d;
        if (s[i] >= '0' && s[i] <= '9')
            d = s[i] - '0';
        else if (s[i] >= 'a' && s[i] <= 'f')
            d = s[i] - 'a' + 10;
        else if (s[i] >= 'A' && s[i] <= 'F')
            d = s[i] - 'A' + 10;
        else
            return XF_EPARSE;
        x = (x << 4) | (uint64_t)d;
    }
    *dst = x;
    return 0;
}

/* A required name from a table: kind or state. */
static int get_enum(const json_t *o, const char *key, int (*parse)(const char *), int *dst)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_string(v))
        return XF_EPARSE;
    if ((*dst = parse(json_string_value(v))) < 0)
        return XF_EPARSE;
    return 0;
}

int xf_action_from_json(const char *json, size_t len, struct xf_action *a)
{
    struct xf_action tmp;
    json_t *o = NULL;
    int kind = 0;
    int state = 0;
    int64_t v = 0;
    int rc = 0;

    if (!json || !a)
        return XF_EINVAL;
    memset(&tmp, 0, sizeof tmp);
    o = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        rc = XF_EPARSE;
        goto out;
    }
    /* id, kind and state are required: an action without them cannot be acted on. */
    if ((rc = get_str(o, "id", tmp.id, sizeof tmp.id)))
        goto out;
    if (!tmp.id[0]) {
        rc = XF_EPARSE;
        goto out;
    }
    if ((rc = get_enum(o, "kind", xf_action_kind_parse, &kind)))
        goto out;
    if ((rc = get_enum(o, "state", xf_action_state_parse, &state)))
        goto out;
    tmp.kind = (enum xf_action_kind)kind;
    tmp.state = (enum xf_action_state)state;
#define X(f)                                                                                       \
    if ((rc = get_str(o, #f, tmp.f, sizeof tmp.f)))                                                \
        goto out;
    STR_FIELDS(X)
#undef X
#define X(f)                                                                                       \
    if ((rc = get_i64(o, #f, 0, INT_MAX, &v)))                                                     \
        goto out;                                                                                  \
    tmp.f = (int)v;
    INT_FIELDS(X)
#undef X
#define X(f)                                                                                       \
    if ((rc = get_i64(o, #f, INT64_MIN, INT64_MAX, &tmp.f)))                                       \
        goto out;
    I64_FIELDS(X)
#undef X
    if ((rc = get_hex64(o, "payload_hash", &tmp.payload_hash)))
        goto out;
    memcpy(a, &tmp, sizeof tmp); /* padding too: callers may compare records bytewise */
out:
    json_decref(o);
    return rc;
}
