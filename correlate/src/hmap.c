/*
 * hmap.c - the open-addressing hash table every correlator index uses.
 *
 * Keys are 64-bit hashes computed by the caller (xxHash of the real key), values are 64-bit
 * (usually an array index). Several values may share a hash: callers walk them and compare the
 * real key themselves, so a hash collision never merges two entities. Linear probing; the
 * table doubles at 70 % of slots used. A slot holds its hash and value side by side, so a
 * probe costs one cache line, not two.
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

int hmap_init(struct hmap *m, size_t cap)
{
    size_t c = 16;

    while (c < cap)
        c <<= 1;
    memset(m, 0, sizeof(*m));
    m->s = xf_calloc(c, sizeof(*m->s));
    if (!m->s)
        return XF_ENOMEM;
    m->cap = c;
    return 0;
}

void hmap_close(struct hmap *m)
{
    xf_free(m->s);
    memset(m, 0, sizeof(*m));
}

static int hmap_rehash(struct hmap *m, size_t cap)
{
    struct hmap n;
    int rc = hmap_init(&n, cap);

    if (rc)
        return rc;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->s[i].h < 2)
            continue;
        size_t p = m->s[i].h & (n.cap - 1);
        while (n.s[p].h != H_EMPTY)
            p = (p + 1) & (n.cap - 1);
        n.s[p] = m->s[i];
        n.n++;
    }
    hmap_close(m);
    *m = n;
    return 0;
}

int hmap_put(struct hmap *m, uint64_t h, uint64_t v)
{
    h = hmap_fix(h);
    if ((m->n + 1) * 10 > m->cap * 7) {
        int rc = hmap_rehash(m, m->cap * 2);
        if (rc)
            return rc;
    }
    size_t p = h & (m->cap - 1);
    while (m->s[p].h != H_EMPTY)
        p = (p + 1) & (m->cap - 1);
    m->s[p].h = h;
    m->s[p].v = v;
    m->n++;
    return 0;
}

size_t hmap_first(const struct hmap *m, uint64_t h)
{
    return hmap_fix(h) & (m->cap - 1);
}

int hmap_next(const struct hmap *m, uint64_t h, size_t *pos, uint64_t *v)
{
    h = hmap_fix(h);
    for (size_t p = *pos;; p = (p + 1) & (m->cap - 1)) {
        if (m->s[p].h == H_EMPTY)
            return 0;
        if (m->s[p].h == h) {
            *v = m->s[p].v;
            *pos = (p + 1) & (m->cap - 1);
            return 1;
        }
    }
}

int hmap_del(struct hmap *m, uint64_t h, uint64_t v)
{
    size_t mask = m->cap - 1, p;

    h = hmap_fix(h);
    for (p = h & mask;; p = (p + 1) & mask) {
        if (m->s[p].h == H_EMPTY)
            return 0;
        if (m->s[p].h == h && m->s[p].v == v)
            break;
    }
    /* Close the hole: an entry further along the run moves into it unless its home slot lies
     * after the hole (then a lookup starting at its home would not pass the hole). */
    size_t hole = p;
    for (size_t q = (p + 1) & mask; m->s[q].h != H_EMPTY; q = (q + 1) & mask) {
        size_t home = m->s[q].h & mask;
        if (((q - home) & mask) >= ((q - hole) & mask)) {
            m->s[hole] = m->s[q];
            hole = q;
        }
    }
    m->s[hole].h = H_EMPTY;
    m->s[hole].v = 0;
    m->n--;
    return 1;
}
