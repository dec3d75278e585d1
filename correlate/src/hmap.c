/*
 * hmap.c - the open-addressing hash table every correlator index uses.
 *
 * Keys are 64-bit hashes computed by the caller (xxHash of the real key). Several values may
 * share a hash: callers walk them and compare the real key themselves, so a hash collision
 * never merges two entities. Linear probing; the table doubles at 70 % of slots used. A slot
 * holds its hash and value side by side, so a probe costs one cache line, not two.
 *
 * Most tables map to array indexes, so a slot is 8 bytes: the low 32 bits of the hash and a
 * 32-bit value (eight to a cache line, and half the memory of the 16-byte slot that a
 * wide table, hmap_init_wide, keeps for 64-bit values and full hashes). A narrow table's
 * callers see more false matches (one in 2^32 per probe) and compare real keys anyway.
 *
 * Deletion shifts the entries after the hole back instead of leaving a tombstone: the
 * correlator deletes as much as it inserts (eviction), and tombstones made every lookup walk
 * longer runs and forced a full rebuild of the table - a fresh allocation of up to tens of MB,
 * each page faulted in again - every time they filled it.
 */
#include <string.h>

#include "corr_int.h"

#define H_EMPTY 0

uint64_t hmap_fix(uint64_t h)
{
    return h < 2 ? h + 2 : h;
}

/* What a slot stores of hash h: all 64 bits (wide) or the low 32; either way its home slot is
 * the low bits, so both kinds probe the same positions. */
static uint64_t tag_of(const struct hmap *m, uint64_t h)
{
    return m->wide ? hmap_fix(h) : hmap_fix((uint32_t)h);
}

static uint64_t slot_tag(const struct hmap *m, size_t i)
{
    return m->wide ? m->w[i].h : m->s[i].h;
}

static uint64_t slot_v(const struct hmap *m, size_t i)
{
    return m->wide ? m->w[i].v : m->s[i].v;
}

static void slot_set(struct hmap *m, size_t i, uint64_t tag, uint64_t v)
{
    if (m->wide) {
        m->w[i].h = tag;
        m->w[i].v = v;
    } else {
        m->s[i].h = (uint32_t)tag;
        m->s[i].v = (uint32_t)v;
    }
}

static int init(struct hmap *m, size_t cap, int wide)
{
    size_t c = 16;

    while (c < cap)
        c <<= 1;
    memset(m, 0, sizeof(*m));
    m->wide = (uint8_t)wide;
    if (wide)
        m->w = xf_calloc(c, sizeof(*m->w));
    else
        m->s = xf_calloc(c, sizeof(*m->s));
    if (wide ? !m->w : !m->s)
        return XF_ENOMEM;
    m->cap = c;
    return 0;
}

int hmap_init(struct hmap *m, size_t cap)
{
    return init(m, cap, 0);
}

int hmap_init_wide(struct hmap *m, size_t cap)
{
    return init(m, cap, 1);
}

void hmap_close(struct hmap *m)
{
    xf_free(m->wide ? (void *)m->w : (void *)m->s);
    memset(m, 0, sizeof(*m));
}

static int hmap_rehash(struct hmap *m, size_t cap)
{
    struct hmap n;
    int rc = init(&n, cap, m->wide);

    if (rc)
        return rc;
    for (size_t i = 0; i < m->cap; i++) {
        uint64_t t = slot_tag(m, i);
        if (t == H_EMPTY)
            continue;
        size_t p = t & (n.cap - 1);
        while (slot_tag(&n, p) != H_EMPTY)
            p = (p + 1) & (n.cap - 1);
        slot_set(&n, p, t, slot_v(m, i));
        n.n++;
    }
    hmap_close(m);
    *m = n;
    return 0;
}

int hmap_put(struct hmap *m, uint64_t h, uint64_t v)
{
    if (!m->wide && v > UINT32_MAX)
        return XF_EINVAL;
    if ((m->n + 1) * 10 > m->cap * 7) {
        int rc = hmap_rehash(m, m->cap * 2);
        if (rc)
            return rc;
    }
    uint64_t t = tag_of(m, h);
    size_t p = t & (m->cap - 1);
    while (slot_tag(m, p) != H_EMPTY)
        p = (p + 1) & (m->cap - 1);
    slot_set(m, p, t, v);
    m->n++;
    return 0;
}

size_t hmap_first(const struct hmap *m, uint64_t h)
{
    return tag_of(m, h) & (m->cap - 1);
}

int hmap_next(const struct hmap *m, uint64_t h, size_t *pos, uint64_t *v)
{
    uint64_t t = tag_of(m, h);

    for (size_t p = *pos;; p = (p + 1) & (m->cap - 1)) {
        uint64_t st = slot_tag(m, p);
        if (st == H_EMPTY)
            return 0;
        if (st == t) {
            *v = slot_v(m, p);
            *pos = (p + 1) & (m->cap - 1);
            return 1;
        }
    }
}

int hmap_del(struct hmap *m, uint64_t h, uint64_t v)
{
    size_t mask = m->cap - 1, p;
    uint64_t t = tag_of(m, h);

    for (p = t & mask;; p = (p + 1) & mask) {
        uint64_t st = slot_tag(m, p);
        if (st == H_EMPTY)
            return 0;
        if (st == t && slot_v(m, p) == v)
            break;
    }
    /* Close the hole: an entry further along the run moves into it unless its home slot lies
     * after the hole (then a lookup starting at its home would not pass the hole). */
    size_t hole = p;
    for (size_t q = (p + 1) & mask; (t = slot_tag(m, q)) != H_EMPTY; q = (q + 1) & mask) {
        size_t home = t & mask;
        if (((q - home) & mask) >= ((q - hole) & mask)) {
            slot_set(m, hole, t, slot_v(m, q));
            hole = q;
        }
    }
    slot_set(m, hole, H_EMPTY, 0);
    m->n--;
    return 1;
}
