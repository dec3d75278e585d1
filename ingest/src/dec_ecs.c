/*
 * dec_ecs.c - Elastic Common Schema JSON (Winlogbeat, Elastic Agent, Packetbeat, or any
 * producer writing ECS to Kafka).
 *
 * The one thing to know: ECS documents arrive nested ({"process":{"parent":{"entity_id":..}}}),
 * dotted ({"process.parent.entity_id":..}) or any mix, so every field is looked up by its full
 * dotted path with ecs_get(), which tries each split of the path. No copy of the document is
 * made; a lookup is a handful of hash probes.
 */
#include <stdio.h>
#include <string.h>

#include "decoder.h"

struct ecs_map {
    const char *path;
    enum xf_field f;
};

/* Plain one-to-one fields; the ones that need logic are handled in ecs_decode(). */
static const struct ecs_map plain[] = {
    {"event.code", XF_F_EVENT_ID},
    {"event.id", XF_F_RECORD_ID},
    {"organization.id", XF_F_TENANT},
    {"observer.name", XF_F_OBSERVER},
    {"winlog.channel", XF_F_CHANNEL},
    {"event.provider", XF_F_PROVIDER},
    {"event.action", XF_F_ACTION},
    {"process.entity_id", XF_F_PROCESS_GUID},
    {"process.pid", XF_F_PROCESS_ID},
    {"process.executable", XF_F_IMAGE},
    {"process.command_line", XF_F_COMMAND_LINE},
    {"process.working_directory", XF_F_CURRENT_DIRECTORY},
    {"process.pe.original_file_name", XF_F_ORIGINAL_FILE_NAME},
    {"process.pe.description", XF_F_DESCRIPTION},
    {"process.pe.product", XF_F_PRODUCT},
    {"process.pe.company", XF_F_COMPANY},
    {"process.parent.entity_id", XF_F_PARENT_PROCESS_GUID},
    {"process.parent.pid", XF_F_PARENT_PROCESS_ID},
    {"process.parent.executable", XF_F_PARENT_IMAGE},
    {"process.parent.command_line", XF_F_PARENT_COMMAND_LINE},
    {"process.parent.user.name", XF_F_PARENT_USER},
    {"network.transport", XF_F_PROTOCOL},
    {"source.ip", XF_F_SOURCE_IP},
    {"source.port", XF_F_SOURCE_PORT},
    {"source.domain", XF_F_SOURCE_HOSTNAME},
    {"destination.ip", XF_F_DESTINATION_IP},
    {"destination.port", XF_F_DESTINATION_PORT},
    {"destination.domain", XF_F_DESTINATION_HOSTNAME},
    {"network.bytes", XF_F_BYTES},
    {"dns.question.name", XF_F_QUERY_NAME},
    {"user.target.name", XF_F_TARGET_USER_NAME},
    {"service.name", XF_F_SERVICE_NAME},
    {"service.executable", XF_F_IMAGE_PATH},
    {"registry.path", XF_F_TARGET_OBJECT},
    {"registry.data.strings", XF_F_DETAILS},
    {"dll.path", XF_F_IMAGE_LOADED},
    {"email.message_id", XF_F_MESSAGE_ID},
    {"email.from.address", XF_F_SENDER},
    {"email.subject", XF_F_SUBJECT},
    {"email.direction", XF_F_EMAIL_DIRECTION},
    {"event.outcome", XF_F_VERDICT},
    {"email.verdict", XF_F_VERDICT},
    {"observer.product", XF_F_ALERT_PRODUCT},
    {"rule.name", XF_F_ALERT_RULE},
    {"event.severity", XF_F_ALERT_SEVERITY},
};

/* Looks path up in obj as nested objects, dotted keys, or any mix of the two. */
static const struct xj *ecs_getn(const struct xj *obj, const char *path, size_t len)
{
    const struct xj *v = xj_getn(obj, path, len);

    if (v)
        return v;
    for (size_t i = 0; i < len; i++) {
        const struct xj *sub;
        if (path[i] != '.')
            continue;
        sub = xj_getn(obj, path, i);
        if (sub && xj_type(sub) == XJ_OBJECT) {
            v = ecs_getn(sub, path + i + 1, len - i - 1);
            if (v)
                return v;
        }
    }
    return NULL;
}

static const struct xj *ecs_get(const struct xj *obj, const char *path)
{
    return obj ? ecs_getn(obj, path, strlen(path)) : NULL;
}

/* A scalar, or the first scalar of an array (ECS allows arrays almost everywhere). */
static const char *scalar_or_first(const struct xj *v, char *num, size_t *len)
{
    if (v && xj_type(v) == XJ_ARRAY)
        v = xj_array_size(v) ? xj_array_get(v, 0) : NULL;
    return v ? xj_scalar(v, num, len) : NULL;
}

static const char *get_text(const struct xj *root, const char *path, char *num, size_t *len)
{
    const char *s = scalar_or_first(ecs_get(root, path), num, len);

    if (s && (*len == 0 || (*len == 1 && s[0] == '-')))
        return NULL;
    return s;
}

static int set_path(const struct xj *root, const char *path, struct xf_event *ev, enum xf_field f)
{
    char num[XJ_NUMBUF];
    size_t len = 0;
    const char *s = get_text(root, path, num, &len);

    return s ? xf_event_set(ev, f, s, len) : 0;
}

/* Appends each scalar of a string-or-array value to a multi-valued field. */
static int add_all(const struct xj *v, struct xf_event *ev, enum xf_field f)
{
    char num[XJ_NUMBUF];
    size_t len = 0;
    const char *s;
    int rc = 0;

    if (!v)
        return 0;
    if (xj_type(v) != XJ_ARRAY) {
        s = xj_scalar(v, num, &len);
        return s ? xf_dec_set(ev, f, s, len) : 0;
    }
    for (size_t i = 0; i < xj_array_size(v) && rc == 0; i++) {
        s = xj_scalar(xj_array_get(v, i), num, &len);
        if (s && len && !(len == 1 && s[0] == '-'))
            rc = xf_event_add(ev, f, s, len);
    }
    return rc;
}

static int has_value(const struct xj *v, const char *want)
{
    size_t len = 0;
    const char *s;

    if (v && xj_type(v) == XJ_ARRAY) {
        for (size_t i = 0; i < xj_array_size(v); i++)
            if (has_value(xj_array_get(v, i), want))
                return 1;
        return 0;
    }
    s = xj_string(v, &len);
    return s && xf_strcaseeq(s, want);
}

static int has_event_key(const struct xj *root)
{
    if (xj_get(root, "event") || xj_get(root, "ecs"))
        return 1;
    for (void *it = xj_iter(root); it; it = xj_iter_next(root, it)) {
        size_t klen = 0;
        const char *k = xj_iter_key(it, &klen);
        if ((klen > 6 && memcmp(k, "event.", 6) == 0) || (klen > 4 && memcmp(k, "ecs.", 4) == 0))
            return 1;
    }
    return 0;
}

static int ecs_probe(const struct xj *root)
{
    return xj_get(root, "@timestamp") && has_event_key(root) ? 90 : 0;
}

static enum xf_category ecs_category(const struct xj *root)
{
    static const struct {
        const char *name;
        enum xf_category cat;
    } cats[] = {
        {"process", XF_CAT_PROCESS},           {"file", XF_CAT_FILE},
        {"network", XF_CAT_NETWORK},           {"email", XF_CAT_EMAIL},
        {"authentication", XF_CAT_LOGON},      {"registry", XF_CAT_REGISTRY},
        {"driver", XF_CAT_IMAGE_LOAD},         {"library", XF_CAT_IMAGE_LOAD},
        {"intrusion_detection", XF_CAT_ALERT}, {"malware", XF_CAT_ALERT},
    };
    const struct xj *c = ecs_get(root, "event.category");
    char num[XJ_NUMBUF];
    size_t len = 0;
    const char *code;

    if (has_value(ecs_get(root, "event.kind"), "alert"))
        return XF_CAT_ALERT;
    code = scalar_or_first(ecs_get(root, "event.code"), num, &len);
    if (code && (!strcmp(code, "4624") || !strcmp(code, "4625") || !strcmp(code, "4648")))
        return XF_CAT_LOGON;
    if (code && (!strcmp(code, "7045") || !strcmp(code, "4697")))
        return XF_CAT_SERVICE;
    for (size_t i = 0; i < XF_ARRAY_LEN(cats); i++) {
        if (!has_value(c, cats[i].name))
            continue;
        if (cats[i].cat == XF_CAT_PROCESS && has_value(ecs_get(root, "event.type"), "end"))
            return XF_CAT_PROCESS_END;
        if (cats[i].cat == XF_CAT_NETWORK && ecs_get(root, "dns.question.name"))
            return XF_CAT_DNS;
        return cats[i].cat;
    }
    return XF_CAT_OTHER;
}

/* winlog.event_data.* by canonical name (LogonId, IntegrityLevel, Hashes, ...), nested or
 * dotted. ECS fields set later win over these. */
static int copy_event_data(const struct xj *root, struct xf_event *ev)
{
    static const char prefix[] = "winlog.event_data.";
    const size_t plen = sizeof prefix - 1;
    const struct xj *ed = ecs_get(root, "winlog.event_data");
    int rc = 0;

    for (void *it = xj_iter(ed); it && rc == 0; it = xj_iter_next(ed, it)) {
        size_t klen = 0, vlen = 0;
        const char *k = xj_iter_key(it, &klen);
        char num[XJ_NUMBUF];
        const char *s;
        int f = xf_dec_field_lookup(k, klen);
        if (f < 0 || f == XF_F_HOST)
            continue;
        s = xj_scalar(xj_iter_value(it), num, &vlen);
        if (s)
            rc = xf_dec_set(ev, (enum xf_field)f, s, vlen);
    }
    for (void *it = xj_iter(root); it && rc == 0; it = xj_iter_next(root, it)) {
        size_t klen = 0, vlen = 0;
        const char *k = xj_iter_key(it, &klen);
        char num[XJ_NUMBUF];
        const char *s;
        int f;
        if (klen <= plen || memcmp(k, prefix, plen) != 0)
            continue;
        f = xf_dec_field_lookup(k + plen, klen - plen);
        if (f < 0 || f == XF_F_HOST)
            continue;
        s = xj_scalar(xj_iter_value(it), num, &vlen);
        if (s)
            rc = xf_dec_set(ev, (enum xf_field)f, s, vlen);
    }
    return rc;
}

static int set_user(const struct xj *root, struct xf_event *ev)
{
    char n1[XJ_NUMBUF], n2[XJ_NUMBUF], buf[512];
    size_t ul = 0, dl = 0;
    const char *u = get_text(root, "user.name", n1, &ul);
    const char *d = get_text(root, "user.domain", n2, &dl);

    if (!u)
        return 0;
    if (!d || dl + ul + 2 > sizeof buf)
        return xf_event_set(ev, XF_F_USER, u, ul);
    memcpy(buf, d, dl);
    buf[dl] = '\\';
    memcpy(buf + dl + 1, u, ul);
    return xf_event_set(ev, XF_F_USER, buf, dl + 1 + ul);
}

static int set_file_path(const struct xj *root, struct xf_event *ev)
{
    char n1[XJ_NUMBUF], n2[XJ_NUMBUF];
    size_t dl = 0, nl = 0;
    const char *d, *n;
    struct xf_buf b;
    int rc;

    if (ecs_get(root, "file.path"))
        return set_path(root, "file.path", ev, XF_F_TARGET_FILENAME);
    d = get_text(root, "file.directory", n1, &dl);
    n = get_text(root, "file.name", n2, &nl);
    if (!n)
        return 0;
    if (!d)
        return xf_event_set(ev, XF_F_TARGET_FILENAME, n, nl);
    xf_buf_init(&b);
    rc = xf_buf_append(&b, d, dl);
    if (!rc && d[dl - 1] != '\\' && d[dl - 1] != '/')
        rc = xf_buf_append(&b, memchr(d, '/', dl) ? "/" : "\\", 1);
    if (!rc)
        rc = xf_buf_append(&b, n, nl);
    if (!rc)
        rc = xf_event_set(ev, XF_F_TARGET_FILENAME, b.data, b.len);
    xf_buf_close(&b);
    return rc;
}

/* Four index-aligned multi-valued fields; "" keeps the alignment when a part is missing. */
static int set_attachments(const struct xj *root, struct xf_event *ev)
{
    static const struct {
        const char *path;
        enum xf_field f;
    } parts[] = {
        {"file.name", XF_F_ATTACHMENT_NAME},
        {"file.mime_type", XF_F_ATTACHMENT_TYPE},
        {"file.size", XF_F_ATTACHMENT_SIZE},
        {"file.hash.sha256", XF_F_ATTACHMENT_SHA256},
    };
    const struct xj *a = ecs_get(root, "email.attachments");
    size_t n = xj_array_size(a);
    int rc = 0;

    if (a && xj_type(a) == XJ_OBJECT)
        n = 1; /* a single attachment written as an object */
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct xj *el = xj_type(a) == XJ_ARRAY ? xj_array_get(a, i) : a;
        for (size_t k = 0; k < XF_ARRAY_LEN(parts) && rc == 0; k++) {
            char num[XJ_NUMBUF];
            size_t len = 0;
            const char *s = scalar_or_first(ecs_get(el, parts[k].path), num, &len);
            if (!s) {
                s = "";
                len = 0;
            }
            rc = xf_event_add(ev, parts[k].f, s, len);
        }
    }
    return rc;
}

static int set_dns_answers(const struct xj *root, struct xf_event *ev)
{
    const struct xj *a = ecs_get(root, "dns.answers");
    int rc = 0;

    if (a && xj_type(a) == XJ_ARRAY) {
        for (size_t i = 0; i < xj_array_size(a) && rc == 0; i++) {
            char num[XJ_NUMBUF];
            size_t len = 0;
            const char *s = xj_scalar(ecs_get(xj_array_get(a, i), "data"), num, &len);
            if (s && len)
                rc = xf_event_add(ev, XF_F_QUERY_RESULTS, s, len);
        }
    } else if (a) {
        rc = add_all(ecs_get(a, "data"), ev, XF_F_QUERY_RESULTS);
    }
    if (!rc && !xf_event_count(ev, XF_F_QUERY_RESULTS))
        rc = add_all(ecs_get(root, "dns.resolved_ip"), ev, XF_F_QUERY_RESULTS);
    return rc;
}

static int set_id(const struct xj *root, const char *raw, size_t len, struct xf_event *ev,
                  char *err)
{
    const struct xj *v = ecs_get(root, "event.id");
    char num[XJ_NUMBUF], id[XF_EVENT_ID_MAX];
    size_t n = 0;
    const char *s;

    if (v && (xj_type(v) == XJ_OBJECT || xj_type(v) == XJ_ARRAY)) {
        snprintf(err, XF_ERRMSG_MAX, "field 'event.id' is %s, expected string", xj_type_name(v));
        return XF_EPARSE;
    }
    s = v ? xj_scalar(v, num, &n) : NULL;
    if (!s || n == 0) {
        xf_event_set_content_id(ev, raw, len);
        return 0;
    }
    /* the producer's own id, as is, so an analyst can search for it in the source system */
    if (n < sizeof id)
        snprintf(id, sizeof id, "%.*s", (int)n, s);
    else /* too long to keep whole: a hash never collides the way a cut-off prefix would */
        snprintf(id, sizeof id, "ecs:%016llx", (unsigned long long)xf_hash64(s, n));
    xf_event_set_id(ev, id);
    return 0;
}

static int ecs_decode(const struct xj *root, const char *raw, size_t len, struct xf_event *ev,
                      char *err)
{
    char num[XJ_NUMBUF];
    const struct xj *ts = xj_get(root, "@timestamp");
    const char *s;
    size_t sl = 0;
    int rc = 0;

    if (xj_type(root) != XJ_OBJECT) {
        snprintf(err, XF_ERRMSG_MAX, "record is %s, expected a JSON object", xj_type_name(root));
        return XF_EPARSE;
    }
    if (!ts) {
        snprintf(err, XF_ERRMSG_MAX, "no event time (@timestamp)");
        return XF_EPARSE;
    }
    s = xj_string(ts, &sl);
    if (!s) {
        snprintf(err, XF_ERRMSG_MAX, "field '@timestamp' is %s, expected string", xj_type_name(ts));
        return XF_EPARSE;
    }
    if (xf_time_parse(s, sl, &ev->time) != 0) {
        snprintf(err, XF_ERRMSG_MAX, "field '@timestamp' is not a time: \"%.64s\"", s);
        return XF_EPARSE;
    }
    if ((rc = set_id(root, raw, len, ev, err)))
        return rc;
    ev->category = ecs_category(root);
    if ((rc = copy_event_data(root, ev)))
        goto out;
    for (size_t i = 0; i < XF_ARRAY_LEN(plain) && rc == 0; i++)
        rc = set_path(root, plain[i].path, ev, plain[i].f);
    if (rc)
        goto out;
    s = get_text(root, "host.name", num, &sl);
    if (!s)
        s = get_text(root, "host.hostname", num, &sl);
    if (s && (rc = xf_dec_set_lower(ev, XF_F_HOST, s, sl)))
        goto out;
    if ((rc = set_user(root, ev)) || (rc = set_file_path(root, ev)))
        goto out;
    if (ev->category == XF_CAT_FILE) {
        rc = set_path(root, "process.hash.sha256", ev, XF_F_SHA256);
        if (!rc)
            rc = set_path(root, "file.hash.sha256", ev, XF_F_SHA256);
    } else {
        rc = set_path(root, "file.hash.sha256", ev, XF_F_SHA256);
        if (!rc)
            rc = set_path(root, "process.hash.sha256", ev, XF_F_SHA256);
    }
    if (rc)
        goto out;
    if (ev->category == XF_CAT_FILE) {
        const struct xj *t = ecs_get(root, "event.type");
        if (has_value(t, "creation"))
            rc = xf_event_set(ev, XF_F_FILE_OPERATION, "create", 6);
        else if (has_value(t, "deletion"))
            rc = xf_event_set(ev, XF_F_FILE_OPERATION, "delete", 6);
        else if (has_value(t, "change"))
            rc = xf_event_set(ev, XF_F_FILE_OPERATION, "write", 5);
        if (rc)
            goto out;
    }
    s = get_text(root, "network.direction", num, &sl);
    if (s && (xf_strcaseeq(s, "egress") || xf_strcaseeq(s, "outbound")))
        rc = xf_event_set(ev, XF_F_INITIATED, "true", 4);
    else if (s && (xf_strcaseeq(s, "ingress") || xf_strcaseeq(s, "inbound")))
        rc = xf_event_set(ev, XF_F_INITIATED, "false", 5);
    if (rc)
        goto out;
    /* Winlogbeat's winlog.logon.type is a name ("Network"); the event_data number wins */
    if (!xf_event_get(ev, XF_F_LOGON_TYPE) &&
        (rc = set_path(root, "winlog.logon.type", ev, XF_F_LOGON_TYPE)))
        goto out;
    if (ev->category == XF_CAT_LOGON && (rc = set_path(root, "source.ip", ev, XF_F_IP_ADDRESS)))
        goto out;
    if (ev->category == XF_CAT_LOGON &&
        (rc = set_path(root, "source.domain", ev, XF_F_WORKSTATION_NAME)))
        goto out;
    if ((rc = add_all(ecs_get(root, "url.full"), ev, XF_F_URL)) ||
        (rc = add_all(ecs_get(root, "email.to.address"), ev, XF_F_RECIPIENT)) ||
        (rc = set_attachments(root, ev)) || (rc = set_dns_answers(root, ev)))
        goto out;
    if (xf_event_get(ev, XF_F_HASHES) && !xf_event_get(ev, XF_F_SHA256)) {
        const char *h = strstr(xf_event_get(ev, XF_F_HASHES), "SHA256=");
        if (h) {
            size_t n = strcspn(h + 7, ",");
            char tmp[80];
            if (n < sizeof tmp) {
                memcpy(tmp, h + 7, n);
                rc = xf_event_set(ev, XF_F_SHA256, tmp, n);
            }
        }
    }
out:
    if (rc && rc != XF_EPARSE)
        snprintf(err, XF_ERRMSG_MAX, "ECS record: %s", xf_strerror(rc));
    return rc;
}

const struct json_row xf_dec_ecs_row = {XF_FMT_ECS, ecs_probe, ecs_decode};
