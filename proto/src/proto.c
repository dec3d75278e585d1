/*
 * proto.c - xdrflow.v1.Event <-> struct xf_event.
 *
 * The mapping is data, not code: each table row pairs a field name of the .proto with an
 * xf_field, and one generic routine walks protobuf-c's descriptors to copy values either way.
 * Adding a field to the schema is one table row. The one thing to know: encoding never loses a
 * field. Whatever the typed payload has no slot for (a registry key, a non-numeric pid) travels
 * in Event.fields under its canonical name, so decode(encode(ev)) gives back ev.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xdrflow/v1/telemetry.pb-c.h"
#include "xf/proto.h"

#define ERRMAX 256

/* How a value is transformed between the wire and the event. */
enum xform {
    X_NONE = 0,
    X_DIRECTION, /* Network.direction "outbound"/"inbound" <-> Initiated "true"/"false" */
};

struct pmap {
    const char *pname; /* field name in the .proto message */
    enum xf_field f;
    enum xform x;
};

static const struct pmap env_map[] = {
    {"tenant", XF_F_TENANT, X_NONE},   {"observer", XF_F_OBSERVER, X_NONE},
    {"source", XF_F_PROVIDER, X_NONE}, {"host", XF_F_HOST, X_NONE},
    {"user", XF_F_USER, X_NONE},       {"event_code", XF_F_EVENT_ID, X_NONE},
    {"channel", XF_F_CHANNEL, X_NONE}, {"record_id", XF_F_RECORD_ID, X_NONE},
    {"action", XF_F_ACTION, X_NONE},
};

static const struct pmap email_map[] = {
    {"message_id", XF_F_MESSAGE_ID, X_NONE},
    {"sender", XF_F_SENDER, X_NONE},
    {"recipients", XF_F_RECIPIENT, X_NONE},
    {"subject", XF_F_SUBJECT, X_NONE},
    {"direction", XF_F_EMAIL_DIRECTION, X_NONE},
    {"verdict", XF_F_VERDICT, X_NONE},
    {"urls", XF_F_URL, X_NONE},
};

static const struct pmap process_map[] = {
    {"guid", XF_F_PROCESS_GUID, X_NONE},
    {"pid", XF_F_PROCESS_ID, X_NONE},
    {"image", XF_F_IMAGE, X_NONE},
    {"command_line", XF_F_COMMAND_LINE, X_NONE},
    {"current_directory", XF_F_CURRENT_DIRECTORY, X_NONE},
    {"parent_guid", XF_F_PARENT_PROCESS_GUID, X_NONE},
    {"parent_pid", XF_F_PARENT_PROCESS_ID, X_NONE},
    {"parent_image", XF_F_PARENT_IMAGE, X_NONE},
    {"parent_command_line", XF_F_PARENT_COMMAND_LINE, X_NONE},
    {"user", XF_F_USER, X_NONE},
    {"sha256", XF_F_SHA256, X_NONE},
    {"hashes", XF_F_HASHES, X_NONE},
    {"integrity", XF_F_INTEGRITY_LEVEL, X_NONE},
    {"logon_id", XF_F_LOGON_ID, X_NONE},
};

static const struct pmap file_map[] = {
    {"path", XF_F_TARGET_FILENAME, X_NONE}, {"op", XF_F_FILE_OPERATION, X_NONE},
    {"sha256", XF_F_SHA256, X_NONE},        {"process_guid", XF_F_PROCESS_GUID, X_NONE},
    {"image", XF_F_IMAGE, X_NONE},
};

static const struct pmap network_map[] = {
    {"src_ip", XF_F_SOURCE_IP, X_NONE},
    {"src_port", XF_F_SOURCE_PORT, X_NONE},
    {"dst_ip", XF_F_DESTINATION_IP, X_NONE},
    {"dst_port", XF_F_DESTINATION_PORT, X_NONE},
    {"protocol", XF_F_PROTOCOL, X_NONE},
    {"direction", XF_F_INITIATED, X_DIRECTION},
    {"process_guid", XF_F_PROCESS_GUID, X_NONE},
    {"image", XF_F_IMAGE, X_NONE},
    {"domain", XF_F_DESTINATION_HOSTNAME, X_NONE},
    {"url", XF_F_URL, X_NONE},
    {"bytes", XF_F_BYTES, X_NONE},
};

static const struct pmap dns_map[] = {
    {"query", XF_F_QUERY_NAME, X_NONE},
    {"answers", XF_F_QUERY_RESULTS, X_NONE},
    {"process_guid", XF_F_PROCESS_GUID, X_NONE},
    {"image", XF_F_IMAGE, X_NONE},
};

static const struct pmap logon_map[] = {
    {"type", XF_F_LOGON_TYPE, X_NONE},
    {"source_ip", XF_F_IP_ADDRESS, X_NONE},
    {"source_host", XF_F_WORKSTATION_NAME, X_NONE},
    {"target_user", XF_F_TARGET_USER_NAME, X_NONE},
    {"logon_id", XF_F_TARGET_LOGON_ID, X_NONE},
};

static const struct pmap service_map[] = {
    {"name", XF_F_SERVICE_NAME, X_NONE},
    {"image_path", XF_F_IMAGE_PATH, X_NONE},
};

/* event.h has no alert-title field; the title rides in Description (documented in
 * docs/formats.md). */
static const struct pmap alert_map[] = {
    {"product", XF_F_ALERT_PRODUCT, X_NONE},     {"rule", XF_F_ALERT_RULE, X_NONE},
    {"severity", XF_F_ALERT_SEVERITY, X_NONE},   {"title", XF_F_DESCRIPTION, X_NONE},
    {"process_guid", XF_F_PROCESS_GUID, X_NONE},
};

struct payload {
    const char *oneof; /* member name in Event */
    enum xf_category cat;
    const ProtobufCMessageDescriptor *desc;
    const struct pmap *map;
    size_t n;
};

#define PAYLOAD(name, cat, desc, map)                                                              \
    {                                                                                              \
        name, cat, &desc, map, XF_ARRAY_LEN(map)                                                   \
    }
static const struct payload payloads[] = {
    PAYLOAD("email", XF_CAT_EMAIL, xdrflow__v1__email__descriptor, email_map),
    PAYLOAD("process", XF_CAT_PROCESS, xdrflow__v1__process__descriptor, process_map),
    PAYLOAD("file", XF_CAT_FILE, xdrflow__v1__file__descriptor, file_map),
    PAYLOAD("network", XF_CAT_NETWORK, xdrflow__v1__network__descriptor, network_map),
    PAYLOAD("dns", XF_CAT_DNS, xdrflow__v1__dns__descriptor, dns_map),
    PAYLOAD("logon", XF_CAT_LOGON, xdrflow__v1__logon__descriptor, logon_map),
    PAYLOAD("service_install", XF_CAT_SERVICE, xdrflow__v1__service_install__descriptor,
            service_map),
    PAYLOAD("alert", XF_CAT_ALERT, xdrflow__v1__alert__descriptor, alert_map),
};
#undef PAYLOAD

/* ---- allocation through xf_malloc, so torture tests reach protobuf-c's allocations too ---- */

static void *pb_alloc(void *ud, size_t n)
{
    (void)ud;
    return xf_malloc(n);
}

static void pb_free(void *ud, void *p)
{
    (void)ud;
    xf_free(p);
}

static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

/* ---- small helpers ----------------------------------------------------------------------- */

static void *member(const void *msg, unsigned off)
{
    return (char *)msg + off;
}

static int is_numeric_type(ProtobufCType t)
{
    return t == PROTOBUF_C_TYPE_UINT32 || t == PROTOBUF_C_TYPE_UINT64 ||
           t == PROTOBUF_C_TYPE_INT32 || t == PROTOBUF_C_TYPE_INT64;
}

static const char *direction_to_initiated(const char *s)
{
    if (xf_strcaseeq(s, "outbound") || xf_strcaseeq(s, "egress") || xf_strcaseeq(s, "true"))
        return "true";
    if (xf_strcaseeq(s, "inbound") || xf_strcaseeq(s, "ingress") || xf_strcaseeq(s, "false"))
        return "false";
    return s;
}

/* Copies one message member into field f. Zero numbers and empty strings mean "absent". */
static int decode_member(const void *msg, const ProtobufCFieldDescriptor *fd, const struct pmap *m,
                         struct xf_event *ev)
{
    char num[32];
    int rc = 0;

    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = *(const size_t *)member(msg, fd->quantifier_offset);
        char **v = *(char ***)member(msg, fd->offset);
        if (fd->type != PROTOBUF_C_TYPE_STRING)
            return 0;
        for (size_t i = 0; i < n && rc == 0; i++)
            if (v[i] && v[i][0])
                rc = xf_event_add(ev, m->f, v[i], (size_t)-1);
        return rc;
    }
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char **)member(msg, fd->offset);
        if (!s || !s[0])
            return 0;
        if (m->x == X_DIRECTION)
            s = direction_to_initiated(s);
        return xf_event_set(ev, m->f, s, (size_t)-1);
    }
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_INT32: {
        uint32_t u = *(const uint32_t *)member(msg, fd->offset);
        if (!u)
            return 0;
        if (fd->type == PROTOBUF_C_TYPE_INT32)
            snprintf(num, sizeof num, "%" PRId32, (int32_t)u);
        else
            snprintf(num, sizeof num, "%" PRIu32, u);
        return xf_event_set(ev, m->f, num, (size_t)-1);
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_INT64: {
        uint64_t u = *(const uint64_t *)member(msg, fd->offset);
        if (!u)
            return 0;
        if (fd->type == PROTOBUF_C_TYPE_INT64)
            snprintf(num, sizeof num, "%" PRId64, (int64_t)u);
        else
            snprintf(num, sizeof num, "%" PRIu64, u);
        return xf_event_set(ev, m->f, num, (size_t)-1);
    }
    default:
        return 0;
    }
}

static int decode_map(const void *msg, const ProtobufCMessageDescriptor *desc,
                      const struct pmap *map, size_t n, struct xf_event *ev)
{
    for (size_t i = 0; i < n; i++) {
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field_by_name(desc, map[i].pname);
        int rc;
        if (!fd)
            return XF_EINTERNAL;
        rc = decode_member(msg, fd, &map[i], ev);
        if (rc)
            return rc;
    }
    return 0;
}

/* Attachments become four index-aligned multi-valued fields; "" stands for a missing part. */
static int decode_attachments(const Xdrflow__V1__Email *em, struct xf_event *ev)
{
    int rc = 0;

    for (size_t i = 0; i < em->n_attachments && rc == 0; i++) {
        const Xdrflow__V1__Attachment *a = em->attachments[i];
        char size[32] = "";
        if (a->size)
            snprintf(size, sizeof size, "%" PRIu64, a->size);
        rc = xf_event_add(ev, XF_F_ATTACHMENT_NAME, a->name ? a->name : "", (size_t)-1);
        if (!rc)
            rc = xf_event_add(ev, XF_F_ATTACHMENT_TYPE, a->type ? a->type : "", (size_t)-1);
        if (!rc)
            rc = xf_event_add(ev, XF_F_ATTACHMENT_SIZE, size, (size_t)-1);
        if (!rc)
            rc = xf_event_add(ev, XF_F_ATTACHMENT_SHA256, a->sha256 ? a->sha256 : "", (size_t)-1);
    }
    return rc;
}

/* The oneof decides the category; the hint may only refine it (a process payload that is
 * really a process end) or stand alone when there is no payload (registry, other). */
static enum xf_category pick_category(enum xf_category from_payload, const char *hint)
{
    enum xf_category h = hint && hint[0] ? xf_category_from_name(hint) : XF_CAT_UNKNOWN;

    if (from_payload == XF_CAT_UNKNOWN)
        return h == XF_CAT_UNKNOWN ? XF_CAT_OTHER : h;
    if (from_payload == XF_CAT_PROCESS &&
        (h == XF_CAT_PROCESS_END || h == XF_CAT_PROCESS_ACCESS || h == XF_CAT_IMAGE_LOAD))
        return h;
    if (from_payload == XF_CAT_FILE && h == XF_CAT_REGISTRY)
        return h;
    return from_payload;
}

int xf_proto_decode(const void *data, size_t len, struct xf_event *ev, char *err)
{
    Xdrflow__V1__Event *pe = NULL;
    enum xf_category cat = XF_CAT_UNKNOWN;
    int rc = 0;

    pe = xdrflow__v1__event__unpack(&pb_allocator, len, data);
    if (!pe) {
        snprintf(err, ERRMAX, "not a valid xdrflow.v1.Event protobuf message (%zu bytes)", len);
        rc = XF_EPARSE;
        goto out;
    }
    if (pe->time_unix_ms <= 0) {
        snprintf(err, ERRMAX, "no event time (time_unix_ms)");
        rc = XF_EPARSE;
        goto out;
    }
    ev->time = pe->time_unix_ms;
    rc = decode_map(pe, &xdrflow__v1__event__descriptor, env_map, XF_ARRAY_LEN(env_map), ev);
    if (rc)
        goto out;
    for (size_t i = 0; i < XF_ARRAY_LEN(payloads); i++) {
        const struct payload *p = &payloads[i];
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(
            &xdrflow__v1__event__descriptor, p->oneof);
        if (!fd) {
            rc = XF_EINTERNAL;
            goto out;
        }
        if (*(const uint32_t *)member(pe, fd->quantifier_offset) != fd->id)
            continue;
        const void *sub = *(void **)member(pe, fd->offset);
        if (!sub)
            break;
        cat = p->cat;
        rc = decode_map(sub, p->desc, p->map, p->n, ev);
        if (!rc && p->cat == XF_CAT_EMAIL)
            rc = decode_attachments(sub, ev);
        if (rc)
            goto out;
        break;
    }
    ev->category = pick_category(cat, pe->category);
    for (size_t i = 0; i < pe->n_fields; i++) {
        const Xdrflow__V1__Field *f = pe->fields[i];
        int fi = f->name ? xf_field_lookup(f->name) : -1;
        if (fi < 0)
            continue; /* a newer producer's field we do not know: ignore, do not fail */
        for (size_t j = 0; j < f->n_values && rc == 0; j++) {
            if (j == 0)
                rc = xf_event_set(ev, (enum xf_field)fi, f->values[j], (size_t)-1);
            else
                rc = xf_event_add(ev, (enum xf_field)fi, f->values[j], (size_t)-1);
        }
        if (rc)
            goto out;
    }
    if (pe->id && pe->id[0])
        xf_event_set_id(ev, pe->id);
    else
        xf_event_set_content_id(ev, data, len);
out:
    if (rc && rc != XF_EPARSE)
        snprintf(err, ERRMAX, "protobuf decode: %s", xf_strerror(rc));
    if (pe)
        xdrflow__v1__event__free_unpacked(pe, &pb_allocator);
    return rc;
}

/* ---- encoding ----------------------------------------------------------------------------- */

/* Everything the encoder allocates for one message, freed together after packing. */
struct scratch {
    void **p;
    size_t n;
    size_t cap;
};

static void *scratch_alloc(struct scratch *s, size_t bytes)
{
    void *p;

    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        void **np = xf_realloc(s->p, cap * sizeof *np);
        if (!np)
            return NULL;
        s->p = np;
        s->cap = cap;
    }
    p = xf_calloc(1, bytes ? bytes : 1);
    if (p)
        s->p[s->n++] = p;
    return p;
}

static void scratch_free(struct scratch *s)
{
    for (size_t i = 0; i < s->n; i++)
        xf_free(s->p[i]);
    xf_free(s->p);
}

/* Values of f as a freshly allocated char * array (pointers into ev's arena). */
static char **values_of(const struct xf_event *ev, enum xf_field f, struct scratch *s, size_t *n)
{
    size_t cnt = xf_event_count(ev, f);
    char **v = scratch_alloc(s, cnt * sizeof *v);

    if (!v)
        return NULL;
    for (size_t i = 0; i < cnt; i++)
        v[i] = (char *)xf_event_get_nth(ev, f, i);
    *n = cnt;
    return v;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (!s[0] || s[0] == '-' || s[0] == '+' || s[0] == ' ')
        return -1;
    v = strtoull(s, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

/* Writes field f of ev into one message member. Returns 1 if it fit the member, 0 if the
 * value must travel in Event.fields instead, or a negative error. */
static int encode_member(void *msg, const ProtobufCFieldDescriptor *fd, const struct pmap *m,
                         const struct xf_event *ev, struct scratch *s)
{
    const char *v = xf_event_get(ev, m->f);
    uint64_t u;

    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = 0;
        char **arr;
        if (fd->type != PROTOBUF_C_TYPE_STRING)
            return 0;
        arr = values_of(ev, m->f, s, &n);
        if (!arr)
            return XF_ENOMEM;
        *(size_t *)member(msg, fd->quantifier_offset) = n;
        *(char ***)member(msg, fd->offset) = arr;
        return 1;
    }
    if (xf_event_count(ev, m->f) != 1)
        return 0;
    if (fd->type == PROTOBUF_C_TYPE_STRING) {
        if (m->x == X_DIRECTION) {
            if (strcmp(v, "true") == 0)
                v = "outbound";
            else if (strcmp(v, "false") == 0)
                v = "inbound";
            else
                return 0;
        }
        if (!v[0])
            return 0; /* proto3 cannot tell "" from absent: keep it in Event.fields */
        *(char **)member(msg, fd->offset) = (char *)v;
        return 1;
    }
    if (!is_numeric_type(fd->type) || parse_u64(v, &u) != 0 || u == 0)
        return 0;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_UINT32:
        if (u > UINT32_MAX)
            return 0;
        *(uint32_t *)member(msg, fd->offset) = (uint32_t)u;
        return 1;
    case PROTOBUF_C_TYPE_INT32:
        if (u > INT32_MAX)
            return 0;
        *(int32_t *)member(msg, fd->offset) = (int32_t)u;
        return 1;
    case PROTOBUF_C_TYPE_INT64:
        if (u > INT64_MAX)
            return 0;
        *(int64_t *)member(msg, fd->offset) = (int64_t)u;
        return 1;
    default:
        *(uint64_t *)member(msg, fd->offset) = u;
        return 1;
    }
}

static int encode_map(void *msg, const ProtobufCMessageDescriptor *desc, const struct pmap *map,
                      size_t n, const struct xf_event *ev, unsigned char *done, struct scratch *s)
{
    for (size_t i = 0; i < n; i++) {
        const ProtobufCFieldDescriptor *fd;
        int rc;
        if (done[map[i].f] || !xf_event_count(ev, map[i].f))
            continue;
        fd = protobuf_c_message_descriptor_get_field_by_name(desc, map[i].pname);
        if (!fd)
            return XF_EINTERNAL;
        rc = encode_member(msg, fd, &map[i], ev, s);
        if (rc < 0)
            return rc;
        if (rc == 1)
            done[map[i].f] = 1;
    }
    return 0;
}

/* Rebuilds Attachment messages from the four index-aligned fields. */
static int encode_attachments(Xdrflow__V1__Email *em, const struct xf_event *ev,
                              unsigned char *done, struct scratch *s)
{
    static const enum xf_field parts[] = {XF_F_ATTACHMENT_NAME, XF_F_ATTACHMENT_TYPE,
                                          XF_F_ATTACHMENT_SIZE, XF_F_ATTACHMENT_SHA256};
    size_t n = xf_event_count(ev, XF_F_ATTACHMENT_NAME);

    for (size_t i = 0; i < XF_ARRAY_LEN(parts); i++)
        if (xf_event_count(ev, parts[i]) != n)
            return 0; /* not aligned: leave them all to Event.fields */
    /* a size that is not a number cannot go in uint64: keep all four in Event.fields */
    for (size_t i = 0; i < n; i++) {
        const char *sz = xf_event_get_nth(ev, XF_F_ATTACHMENT_SIZE, i);
        uint64_t u;
        if (sz[0] && (parse_u64(sz, &u) != 0 || u == 0))
            return 0;
    }
    if (n == 0)
        return 0;
    Xdrflow__V1__Attachment **arr = scratch_alloc(s, n * sizeof *arr);
    if (!arr)
        return XF_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        Xdrflow__V1__Attachment *a = scratch_alloc(s, sizeof *a);
        uint64_t u = 0;
        if (!a)
            return XF_ENOMEM;
        xdrflow__v1__attachment__init(a);
        a->name = (char *)xf_event_get_nth(ev, XF_F_ATTACHMENT_NAME, i);
        a->type = (char *)xf_event_get_nth(ev, XF_F_ATTACHMENT_TYPE, i);
        a->sha256 = (char *)xf_event_get_nth(ev, XF_F_ATTACHMENT_SHA256, i);
        if (parse_u64(xf_event_get_nth(ev, XF_F_ATTACHMENT_SIZE, i), &u) == 0)
            a->size = u;
        arr[i] = a;
    }
    em->n_attachments = n;
    em->attachments = arr;
    for (size_t i = 0; i < XF_ARRAY_LEN(parts); i++)
        done[parts[i]] = 1;
    return 0;
}

static const struct payload *payload_for(enum xf_category c)
{
    if (c == XF_CAT_PROCESS_END || c == XF_CAT_PROCESS_ACCESS || c == XF_CAT_IMAGE_LOAD)
        c = XF_CAT_PROCESS;
    for (size_t i = 0; i < XF_ARRAY_LEN(payloads); i++)
        if (payloads[i].cat == c)
            return &payloads[i];
    return NULL;
}

/* Appends a protobuf varint. */
static int put_varint(struct xf_buf *out, uint64_t v)
{
    unsigned char b[10];
    size_t n = 0;

    do {
        b[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    return xf_buf_append(out, b, n);
}

int xf_proto_encode(const struct xf_event *ev, struct xf_buf *out, int delimited)
{
    Xdrflow__V1__Event pe;
    unsigned char done[XF_F__COUNT];
    struct scratch s = {NULL, 0, 0};
    const struct payload *p = payload_for(ev->category);
    size_t n_extra = 0;
    int rc = 0;

    xdrflow__v1__event__init(&pe);
    memset(done, 0, sizeof done);
    pe.id = (char *)ev->id;
    pe.time_unix_ms = ev->time;
    pe.category = (char *)xf_category_name(ev->category);
    if (p) {
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(
            &xdrflow__v1__event__descriptor, p->oneof);
        void *sub = fd ? scratch_alloc(&s, p->desc->sizeof_message) : NULL;
        if (!sub) {
            rc = fd ? XF_ENOMEM : XF_EINTERNAL;
            goto out;
        }
        p->desc->message_init(sub);
        rc = encode_map(sub, p->desc, p->map, p->n, ev, done, &s);
        if (!rc && p->cat == XF_CAT_EMAIL)
            rc = encode_attachments(sub, ev, done, &s);
        if (rc)
            goto out;
        *(uint32_t *)member(&pe, fd->quantifier_offset) = fd->id;
        *(void **)member(&pe, fd->offset) = sub;
    }
    /* The envelope goes after the payload so a field both can carry (User) lands in the
     * payload only when the payload has a slot for it. */
    rc = encode_map(&pe, &xdrflow__v1__event__descriptor, env_map, XF_ARRAY_LEN(env_map), ev, done,
                    &s);
    if (rc)
        goto out;
    for (unsigned f = 0; f < XF_F__COUNT; f++)
        if (!done[f] && xf_event_count(ev, (enum xf_field)f))
            n_extra++;
    if (n_extra) {
        Xdrflow__V1__Field **arr = scratch_alloc(&s, n_extra * sizeof *arr);
        size_t k = 0;
        if (!arr) {
            rc = XF_ENOMEM;
            goto out;
        }
        for (unsigned f = 0; f < XF_F__COUNT; f++) {
            Xdrflow__V1__Field *fl;
            if (done[f] || !xf_event_count(ev, (enum xf_field)f))
                continue;
            fl = scratch_alloc(&s, sizeof *fl);
            if (!fl) {
                rc = XF_ENOMEM;
                goto out;
            }
            xdrflow__v1__field__init(fl);
            fl->name = (char *)xf_field_name((enum xf_field)f);
            fl->values = values_of(ev, (enum xf_field)f, &s, &fl->n_values);
            if (!fl->values) {
                rc = XF_ENOMEM;
                goto out;
            }
            arr[k++] = fl;
        }
        pe.n_fields = k;
        pe.fields = arr;
    }
    size_t need = xdrflow__v1__event__get_packed_size(&pe);
    if (delimited) {
        rc = put_varint(out, need);
        if (rc)
            goto out;
    }
    rc = xf_buf_reserve(out, need + 1);
    if (rc)
        goto out;
    xdrflow__v1__event__pack(&pe, (uint8_t *)out->data + out->len);
    out->len += need;
    out->data[out->len] = '\0';
out:
    scratch_free(&s);
    return rc;
}
