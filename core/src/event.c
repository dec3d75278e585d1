/*
 * event.c - the normalized event: field table, arena storage and the binary encoding.
 *
 * Values are copied into one arena per event and addressed by offset, so growing the arena
 * never leaves a dangling pointer. A multi-valued field keeps its values contiguous: adding a
 * value to a field that is not the last one written moves that field's values to the end.
 */
#include <string.h>

#include "xf/event.h"

#define ARENA_MAX (64u * 1024 * 1024)

static const char *const cat_names[] = {
#define XF_CAT_NAME(name, str) str,
    XF_CATEGORY_MAP(XF_CAT_NAME)
#undef XF_CAT_NAME
};

static const struct {
    const char *name;
    const char *ecs;
    int multi;
} fields[] = {
#define XF_FIELD_ROW(id, name, ecs, flags) {name, ecs, flags},
    XF_FIELD_MAP(XF_FIELD_ROW)
#undef XF_FIELD_ROW
};

const char *xf_category_name(enum xf_category c)
{
    return (unsigned)c < XF_CAT__COUNT ? cat_names[c] : "unknown";
}

enum xf_category xf_category_from_name(const char *name)
{
    for (unsigned i = 0; i < XF_CAT__COUNT; i++)
        if (xf_strcaseeq(cat_names[i], name))
            return (enum xf_category)i;
    return XF_CAT_UNKNOWN;
}

const char *xf_field_name(enum xf_field f)
{
    return (unsigned)f < XF_F__COUNT ? fields[f].name : NULL;
}

const char *xf_field_ecs_name(enum xf_field f)
{
    return (unsigned)f < XF_F__COUNT ? fields[f].ecs : NULL;
}

int xf_field_is_multi(enum xf_field f)
{
    return (unsigned)f < XF_F__COUNT && fields[f].multi;
}

int xf_field_lookup(const char *name)
{
    for (unsigned i = 0; i < XF_F__COUNT; i++)
        if (xf_strcaseeq(fields[i].name, name))
            return (int)i;
    return -1;
}

void xf_event_init(struct xf_event *ev)
{
    memset(ev, 0, sizeof *ev);
}

void xf_event_close(struct xf_event *ev)
{
    xf_free(ev->arena);
    xf_event_init(ev);
}

void xf_event_reset(struct xf_event *ev)
{
    char *arena = ev->arena;
    size_t cap = ev->arena_cap;

    memset(ev, 0, sizeof *ev);
    ev->arena = arena;
    ev->arena_cap = cap;
}

/* Appends bytes + NUL to the arena; returns the offset or 0 on failure (offset 0 is reserved
 * as "absent": the arena always starts with one NUL byte). */
static uint32_t arena_put(struct xf_event *ev, const char *val, size_t len, int *rc)
{
    size_t need;

    if (ev->arena_len == 0)
        need = 1 + len + 1;
    else
        need = ev->arena_len + len + 1;
    if (need > ARENA_MAX) {
        *rc = XF_ETOOBIG;
        return 0;
    }
    if (need > ev->arena_cap) {
        size_t cap = ev->arena_cap ? ev->arena_cap : 512;
        char *p;
        while (cap < need)
            cap *= 2;
        p = xf_realloc(ev->arena, cap);
        if (!p) {
            *rc = XF_ENOMEM;
            return 0;
        }
        ev->arena = p;
        ev->arena_cap = cap;
    }
    if (ev->arena_len == 0) {
        ev->arena[0] = '\0';
        ev->arena_len = 1;
    }
    uint32_t off = (uint32_t)ev->arena_len;
    if (len)
        memcpy(ev->arena + off, val, len);
    ev->arena[off + len] = '\0';
    ev->arena_len += len + 1;
    *rc = 0;
    return off;
}

int xf_event_set(struct xf_event *ev, enum xf_field f, const char *val, size_t len)
{
    int rc = 0;
    uint32_t off;

    if ((unsigned)f >= XF_F__COUNT || !val)
        return XF_EINVAL;
    if (len == (size_t)-1)
        len = strlen(val);
    off = arena_put(ev, val, len, &rc);
    if (rc)
        return rc;
    ev->off[f] = off;
    ev->nval[f] = 1;
    return 0;
}

/* Total bytes (with NULs) that the values of f occupy. */
static size_t field_span(const struct xf_event *ev, enum xf_field f)
{
    size_t n = 0;
    const char *p = ev->arena + ev->off[f];

    for (unsigned i = 0; i < ev->nval[f]; i++) {
        size_t l = strlen(p) + 1;
        n += l;
        p += l;
    }
    return n;
}

int xf_event_add(struct xf_event *ev, enum xf_field f, const char *val, size_t len)
{
    int rc = 0;

    if ((unsigned)f >= XF_F__COUNT || !val)
        return XF_EINVAL;
    if (len == (size_t)-1)
        len = strlen(val);
    if (ev->nval[f] == 0)
        return xf_event_set(ev, f, val, len);
    if (ev->nval[f] == UINT16_MAX)
        return XF_ETOOBIG;
    size_t span = field_span(ev, f);
    if (ev->off[f] + span != ev->arena_len) {
        /* Not the last field written: move its values to the end first. */
        char *copy = xf_malloc(span);
        if (!copy)
            return XF_ENOMEM;
        memcpy(copy, ev->arena + ev->off[f], span);
        uint32_t off = arena_put(ev, copy, span - 1, &rc);
        xf_free(copy);
        if (rc)
            return rc;
        ev->off[f] = off;
    }
    arena_put(ev, val, len, &rc);
    if (rc)
        return rc;
    ev->nval[f]++;
    return 0;
}

const char *xf_event_get(const struct xf_event *ev, enum xf_field f)
{
    if ((unsigned)f >= XF_F__COUNT || !ev->nval[f])
        return NULL;
    return ev->arena + ev->off[f];
}

size_t xf_event_count(const struct xf_event *ev, enum xf_field f)
{
    return (unsigned)f < XF_F__COUNT ? ev->nval[f] : 0;
}

const char *xf_event_get_nth(const struct xf_event *ev, enum xf_field f, size_t i)
{
    const char *p;

    if ((unsigned)f >= XF_F__COUNT || i >= ev->nval[f])
        return NULL;
    p = ev->arena + ev->off[f];
    while (i--)
        p += strlen(p) + 1;
    return p;
}

void xf_event_set_id(struct xf_event *ev, const char *s)
{
    size_t n = strlen(s);

    if (n >= XF_EVENT_ID_MAX)
        n = XF_EVENT_ID_MAX - 1;
    memcpy(ev->id, s, n);
    ev->id[n] = '\0';
    ev->idhash = xf_hash64(ev->id, n);
}

void xf_event_set_content_id(struct xf_event *ev, const void *raw, size_t len)
{
    char hex[33];
    char id[40];

    xf_hash128_hex(raw, len, hex);
    memcpy(id, "h:", 2);
    memcpy(id + 2, hex, 33);
    xf_event_set_id(ev, id);
}

int xf_event_copy(struct xf_event *dst, const struct xf_event *src)
{
    char *arena = dst->arena;
    size_t cap = dst->arena_cap;

    if (src->arena_len > cap) {
        char *p = xf_realloc(arena, src->arena_len);
        if (!p)
            return XF_ENOMEM;
        arena = p;
        cap = src->arena_len;
    }
    *dst = *src;
    dst->arena = arena;
    dst->arena_cap = cap;
    if (src->arena_len)
        memcpy(dst->arena, src->arena, src->arena_len);
    return 0;
}

/* ---- binary encoding ------------------------------------------------------------------------ */

#define ENC_VERSION 1

static void put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int xf_event_encode(const struct xf_event *ev, struct xf_buf *out)
{
    unsigned char hdr[11];
    size_t idlen = strlen(ev->id);
    int rc;

    hdr[0] = ENC_VERSION;
    hdr[1] = (unsigned char)ev->category;
    put_u64(hdr + 2, (uint64_t)ev->time);
    hdr[10] = (unsigned char)idlen;
    if ((rc = xf_buf_append(out, hdr, sizeof hdr)) || (rc = xf_buf_append(out, ev->id, idlen)))
        return rc;
    for (unsigned f = 0; f < XF_F__COUNT; f++) {
        unsigned char fh[7];
        size_t span;
        if (!ev->nval[f])
            continue;
        span = field_span(ev, (enum xf_field)f);
        fh[0] = (unsigned char)f;
        put_u16(fh + 1, ev->nval[f]);
        put_u32(fh + 3, (uint32_t)span);
        if ((rc = xf_buf_append(out, fh, sizeof fh)) ||
            (rc = xf_buf_append(out, ev->arena + ev->off[f], span)))
            return rc;
    }
    return 0;
}

int xf_event_decode(struct xf_event *dst, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t pos;
    int rc;

    xf_event_reset(dst);
    if (len < 11 || p[0] != ENC_VERSION || p[1] >= XF_CAT__COUNT || p[10] >= XF_EVENT_ID_MAX ||
        11u + p[10] > len)
        return XF_EPARSE;
    dst->category = (enum xf_category)p[1];
    dst->time = (xf_time_t)get_u64(p + 2);
    memcpy(dst->id, p + 11, p[10]);
    dst->id[p[10]] = '\0';
    dst->idhash = xf_hash64(dst->id, p[10]);
    pos = 11u + p[10];
    while (pos < len) {
        unsigned f;
        uint16_t nval;
        uint32_t span;
        if (len - pos < 7)
            return XF_EPARSE;
        f = p[pos];
        nval = get_u16(p + pos + 1);
        span = get_u32(p + pos + 3);
        pos += 7;
        if (f >= XF_F__COUNT || nval == 0 || span > len - pos || span == 0 ||
            p[pos + span - 1] != '\0' || dst->nval[f])
            return XF_EPARSE;
        /* count NULs: must equal nval */
        unsigned nul = 0;
        for (uint32_t i = 0; i < span; i++)
            nul += p[pos + i] == '\0';
        if (nul != nval)
            return XF_EPARSE;
        uint32_t off = arena_put(dst, (const char *)p + pos, span - 1, &rc);
        if (rc)
            return rc;
        dst->off[f] = off;
        dst->nval[f] = nval;
        pos += span;
    }
    return 0;
}
