/*
 * incindex.c - incident id -> action ids, an open-addressing table under one mutex.
 *
 * What a reader must know: it only grows, like the outbox it mirrors (an action record is never
 * deleted); entries are small (an incident id and its action ids), and an incident rarely has
 * more than a handful of actions, so each entry's ids are a plain array searched linearly.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "incindex.h"

struct entry {
    char incident[sizeof(((struct xf_action *)0)->incident)];
    char (*ids)[XF_ACTION_ID_LEN];
    size_t n, cap;
};

struct xf_incindex {
    pthread_mutex_t mu;
    struct entry *slots; /* incident[0] == '\0': empty */
    size_t cap, n;       /* cap is a power of two */
};

int xf_incindex_create(struct xf_incindex **out)
{
    struct xf_incindex *ix = xf_calloc(1, sizeof(*ix));

    if (!ix)
        return XF_ENOMEM;
    ix->cap = 64;
    if (!(ix->slots = xf_calloc(ix->cap, sizeof(*ix->slots)))) {
        xf_free(ix);
        return XF_ENOMEM;
    }
    pthread_mutex_init(&ix->mu, NULL);
    *out = ix;
    return 0;
}

void xf_incindex_destroy(struct xf_incindex *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->cap; i++)
        xf_free(ix->slots[i].ids);
    xf_free(ix->slots);
    pthread_mutex_destroy(&ix->mu);
    xf_free(ix);
}

static size_t slot_of(const struct entry *slots, size_t cap, const char *incident)
{
    size_t i = (size_t)xf_hash64(incident, strlen(incident)) & (cap - 1);

    while (slots[i].incident[0] && strcmp(slots[i].incident, incident) != 0)
        i = (i + 1) & (cap - 1);
    return i;
}

static int grow(struct xf_incindex *ix)
{
    size_t cap = ix->cap * 2;
    struct entry *ns = xf_calloc(cap, sizeof(*ns));

    if (!ns)
        return XF_ENOMEM;
    for (size_t i = 0; i < ix->cap; i++) {
        if (ix->slots[i].incident[0])
            ns[slot_of(ns, cap, ix->slots[i].incident)] = ix->slots[i];
    }
    xf_free(ix->slots);
    ix->slots = ns;
    ix->cap = cap;
    return 0;
}

int xf_incindex_add(struct xf_incindex *ix, const char *incident, const char *id)
{
    struct entry *e;
    int rc = 0;

    if (!incident || !incident[0] || strlen(incident) >= sizeof(e->incident))
        return 0;
    pthread_mutex_lock(&ix->mu);
    if ((ix->n + 1) * 4 > ix->cap * 3 && (rc = grow(ix)))
        goto out;
    e = &ix->slots[slot_of(ix->slots, ix->cap, incident)];
    if (!e->incident[0]) {
        memcpy(e->incident, incident, strlen(incident) + 1);
        ix->n++;
    }
    for (size_t i = 0; i < e->n; i++) {
        if (strcmp(e->ids[i], id) == 0)
            goto out;
    }
    if (xf_array_grow(&e->ids, &e->cap, e->n, sizeof(*e->ids), 4)) {
        rc = XF_ENOMEM;
        goto out;
    }
    snprintf(e->ids[e->n], sizeof(e->ids[e->n]), "%s", id);
    e->n++;
out:
    pthread_mutex_unlock(&ix->mu);
    return rc;
}

int xf_incindex_get(struct xf_incindex *ix, const char *incident, char (**ids)[XF_ACTION_ID_LEN],
                    size_t *n)
{
    const struct entry *e;
    int rc = 0;

    *ids = NULL;
    *n = 0;
    if (!incident || !incident[0])
        return 0;
    pthread_mutex_lock(&ix->mu);
    e = &ix->slots[slot_of(ix->slots, ix->cap, incident)];
    if (e->incident[0] && e->n) {
        if (!(*ids = xf_malloc(e->n * sizeof(**ids)))) {
            rc = XF_ENOMEM;
        } else {
            memcpy(*ids, e->ids, e->n * sizeof(**ids));
            *n = e->n;
        }
    }
    pthread_mutex_unlock(&ix->mu);
    return rc;
}
