/*
 * decoder.c - the decoder table and xf_decode(), the one entry point from bytes to xf_event.
 *
 * Adding a format is one new dec_<name>.c exporting a row and one line in the tables below.
 * The one thing to know: in AUTO mode a JSON record is parsed once and every JSON format
 * probes the same tree (the best score wins); anything that does not start with '{' is handed
 * to the protobuf decoder.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "decoder.h"

static const char *const format_names[XF_FMT__COUNT] = {"auto", "ecs", "sysmon", "winevt", "proto"};

const char *xf_format_name(enum xf_format fmt)
{
    return (unsigned)fmt < XF_FMT__COUNT ? format_names[fmt] : "unknown";
}

int xf_format_from_name(const char *name, enum xf_format *out)
{
    for (unsigned i = 0; name && i < XF_FMT__COUNT; i++) {
        if (xf_strcaseeq(name, format_names[i])) {
            *out = (enum xf_format)i;
            return 0;
        }
    }
    return XF_EFORMAT;
}

/* ---- JSON rows: AUTO probes them all on one parsed tree, in this order on ties ----------- */

static const struct json_row *const json_rows[] = {
    &xf_dec_winevt_row,
    &xf_dec_ecs_row,
    &xf_dec_sysmon_row,
};

static const struct json_row *json_row_for(enum xf_format fmt)
{
    for (size_t i = 0; i < XF_ARRAY_LEN(json_rows); i++)
        if (json_rows[i]->format == fmt)
            return json_rows[i];
    return NULL;
}

static int json_probe(const struct json_row *row, const char *data, size_t len)
{
    char err[XF_ERRMSG_MAX];
    struct xj *root = xj_parse(data, len, err);
    int score = root ? row->probe(root) : 0;

    xj_free(root);
    return score;
}

static int json_decode(const struct json_row *row, const char *data, size_t len,
                       struct xf_event *ev, char *err)
{
    struct xj *root = xj_parse(data, len, err);
    int rc;

    if (!root)
        return XF_EPARSE;
    if (xj_type(root) != XJ_OBJECT) {
        snprintf(err, XF_ERRMSG_MAX, "record is %s, expected a JSON object", xj_type_name(root));
        rc = XF_EPARSE;
    } else {
        rc = row->decode(root, data, len, ev, err);
    }
    xj_free(root);
    return rc;
}

/* The public rows need plain functions; these adapt each JSON row. */
#define JSON_ADAPTERS(name, row)                                                                   \
    static int name##_probe(const char *data, size_t len)                                          \
    {                                                                                              \
        return json_probe(&row, data, len);                                                        \
    }                                                                                              \
    static int name##_decode(const char *data, size_t len, struct xf_event *ev, char *err)         \
    {                                                                                              \
        return json_decode(&row, data, len, ev, err);                                              \
    }
JSON_ADAPTERS(ecs, xf_dec_ecs_row)
JSON_ADAPTERS(sysmon, xf_dec_sysmon_row)
JSON_ADAPTERS(winevt, xf_dec_winevt_row)
#undef JSON_ADAPTERS

static const struct xf_decoder decoders[] = {
    {"ecs", XF_FMT_ECS, ecs_probe, ecs_decode},
    {"sysmon", XF_FMT_SYSMON, sysmon_probe, sysmon_decode},
    {"winevt", XF_FMT_WINEVT, winevt_probe, winevt_decode},
    {"proto", XF_FMT_PROTO, xf_dec_proto_probe, xf_dec_proto_decode},
};

const struct xf_decoder *xf_decoder_get(enum xf_format fmt)
{
    for (size_t i = 0; i < XF_ARRAY_LEN(decoders); i++)
        if (decoders[i].format == fmt)
            return &decoders[i];
    return NULL;
}

static int decode_json_auto(const char *data, size_t len, struct xf_event *ev, enum xf_format *used,
                            char *err)
{
    struct xj *root = xj_parse(data, len, err);
    const struct json_row *best = NULL;
    int best_score = 0, rc;

    if (!root)
        return XF_EPARSE;
    if (xj_type(root) != XJ_OBJECT) {
        snprintf(err, XF_ERRMSG_MAX, "record is %s, expected a JSON object", xj_type_name(root));
        rc = XF_EPARSE;
        goto out;
    }
    for (size_t i = 0; i < XF_ARRAY_LEN(json_rows); i++) {
        int s = json_rows[i]->probe(root);
        if (s > best_score) {
            best_score = s;
            best = json_rows[i];
        }
    }
    if (!best) {
        snprintf(err, XF_ERRMSG_MAX,
                 "JSON record matches no known format (want Event.System, @timestamp+event, "
                 "or EventID+Hostname/Channel)");
        rc = XF_EPARSE;
        goto out;
    }
    rc = best->decode(root, data, len, ev, err);
    if (rc == 0)
        *used = best->format;
out:
    xj_free(root);
    return rc;
}

/* No raw control characters but tab/CR/LF: text, so not protobuf (whose tags are). */
static int is_text(const char *p, size_t n)
{
    if (n > 256)
        n = 256;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 && c != '\t' && c != '\r' && c != '\n')
            return 0;
    }
    return 1;
}

int xf_decode(enum xf_format fmt, const char *data, size_t len, struct xf_event *ev,
              enum xf_format *used, char *err)
{
    enum xf_format got = fmt;
    const struct json_row *row;
    size_t i = 0;
    int rc;

    err[0] = '\0';
    xf_event_reset(ev);
    if (!data && len) {
        snprintf(err, XF_ERRMSG_MAX, "no data");
        return XF_EINVAL;
    }
    if (len > XF_RECORD_MAX) {
        snprintf(err, XF_ERRMSG_MAX, "record of %zu bytes is over the %u-byte limit", len,
                 XF_RECORD_MAX);
        return XF_EPARSE;
    }
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
        i++;
    switch (fmt) {
    case XF_FMT_AUTO:
        if (i < len && data[i] == '{') {
            rc = decode_json_auto(data, len, ev, &got, err);
            break;
        }
        got = XF_FMT_PROTO;
        if (len == 0) {
            snprintf(err, XF_ERRMSG_MAX, "empty record");
            rc = XF_EPARSE;
            break;
        }
        rc = xf_dec_proto_decode(data, len, ev, err);
        if (rc && is_text(data + i, len - i)) {
            /* printable text that is not a JSON object: say so, not "bad protobuf" */
            int show = (int)(len - i < 20 ? len - i : 20);
            snprintf(err, XF_ERRMSG_MAX, "not a JSON object (starts with '%.*s')", show, data + i);
            for (char *p = err; *p; p++)
                if ((unsigned char)*p < 0x20)
                    *p = ' ';
        }
        break;
    case XF_FMT_PROTO:
        rc = xf_dec_proto_decode(data, len, ev, err);
        break;
    default:
        row = json_row_for(fmt);
        if (!row) {
            snprintf(err, XF_ERRMSG_MAX, "unknown input format %d", (int)fmt);
            return XF_EFORMAT;
        }
        rc = json_decode(row, data, len, ev, err);
        break;
    }
    if (rc) {
        if (!err[0])
            snprintf(err, XF_ERRMSG_MAX, "%s", xf_strerror(rc));
        xf_event_reset(ev);
        return rc;
    }
    if (used)
        *used = got;
    return 0;
}

/* ---- helpers shared by the decoder files -------------------------------------------------- */

int xf_dec_set(struct xf_event *ev, enum xf_field f, const char *s, size_t len)
{
    if (len == 0 || (len == 1 && s[0] == '-'))
        return 0;
    return xf_event_set(ev, f, s, len);
}

int xf_dec_set_lower(struct xf_event *ev, enum xf_field f, const char *s, size_t len)
{
    int rc = xf_dec_set(ev, f, s, len);
    char *p;

    if (rc || !xf_event_get(ev, f))
        return rc;
    /* the value was just copied into the arena: lowercase it there, no temporary needed */
    p = ev->arena + ev->off[f];
    xf_str_lower(p);
    return 0;
}

/* Canonical field names in an open-addressing table keyed by a case-folded hash, built once:
 * every key of every flat record is looked up, so xf_field_lookup's linear scan would cost
 * more than parsing the record. */
#define LOOKUP_SLOTS 256
_Static_assert(XF_F__COUNT < LOOKUP_SLOTS / 2, "field lookup table too small");
static unsigned char lookup_table[LOOKUP_SLOTS]; /* field + 1; 0 = empty */
static pthread_once_t lookup_once = PTHREAD_ONCE_INIT;

static unsigned fold_hash(const char *s, size_t len)
{
    unsigned h = 2166136261u;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        h = (h ^ c) * 16777619u;
    }
    return h;
}

static void lookup_build(void)
{
    for (unsigned f = 0; f < XF_F__COUNT; f++) {
        const char *name = xf_field_name((enum xf_field)f);
        unsigned h = fold_hash(name, strlen(name)) % LOOKUP_SLOTS;
        while (lookup_table[h])
            h = (h + 1) % LOOKUP_SLOTS;
        lookup_table[h] = (unsigned char)(f + 1);
    }
}

int xf_dec_field_lookup(const char *name, size_t len)
{
    unsigned h;

    pthread_once(&lookup_once, lookup_build);
    h = fold_hash(name, len) % LOOKUP_SLOTS;
    while (lookup_table[h]) {
        enum xf_field f = (enum xf_field)(lookup_table[h] - 1);
        const char *cand = xf_field_name(f);
        if (strlen(cand) == len && xf_strncaseeq(cand, name, len))
            return (int)f;
        h = (h + 1) % LOOKUP_SLOTS;
    }
    return -1;
}
