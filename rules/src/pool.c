/*
 * pool.c - bump allocation for a compiled rule.
 *
 * A rule is hundreds of small pieces (matchers, patterns, names) that live and die together, so
 * they come from one pool freed in one go. That also keeps the compile error paths simple: a
 * half-built rule is discarded by closing its pool.
 */
#include <stdalign.h>
#include <stddef.h>
#include <string.h>

#include "rules_int.h"

#define POOL_BLOCK 4096

struct pool_block {
    struct pool_block *next;
    size_t used;
    size_t cap;
    alignas(max_align_t) unsigned char data[];
};

void pool_init(struct pool *p)
{
    p->head = NULL;
}

void pool_close(struct pool *p)
{
    struct pool_block *b = p->head;

    while (b) {
        struct pool_block *next = b->next;
        xf_free(b);
        b = next;
    }
    p->head = NULL;
}

void *pool_alloc(struct pool *p, size_t n)
{
    const size_t align = alignof(max_align_t);
    struct pool_block *b = p->head;
    void *ret;

    if (n > ((size_t)-1) / 2)
        return NULL;
    n = (n + align - 1) / align * align;
    if (n == 0)
        n = align;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > POOL_BLOCK ? n : POOL_BLOCK;

        b = xf_malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        /* A big piece gets its own block behind the head so the head keeps its free space. */
        if (p->head && cap > POOL_BLOCK) {
            b->next = p->head->next;
            p->head->next = b;
        } else {
            b->next = p->head;
            p->head = b;
        }
    }
    ret = b->data + b->used;
    b->used += n;
    memset(ret, 0, n);
    return ret;
}

char *pool_strndup(struct pool *p, const char *s, size_t n)
{
    char *d = pool_alloc(p, n + 1);

    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
