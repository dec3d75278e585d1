/*
 * correlator.c - turns events into the provenance graph: entity nodes, deduplicated edges,
 * windowed joins, the learned IP -> host map, detections, and eviction.
 *
 * The one thing to know: a node's visible properties (label, host, user, time, event ids)
 * are chosen by rules that do not depend on arrival order (priority, then the earliest
 * (time, event id); sorted id sets; minimum times), and an edge is identified by (from, to,
 * relation) with the same tie-breaking. That is what makes the incident JSON byte-identical
 * whatever order the same events arrive in.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corr_int.h"

#ifndef XF_LINKS_PATH
#define XF_LINKS_PATH "rules/links.yaml"
#endif

#define DEFAULT_LATENESS_MS (10 * 60 * 1000LL)
#define DEFAULT_IDLE_MS (24 * 3600 * 1000LL)
#define DEFAULT_SOURCE_IDLE_EVENTS 100000u
#define DEFAULT_MAX_SKEW_MS (3600 * 1000LL)
/* The watermark is recomputed over all sources at least this often (in accepted events), so
 * a source that went quiet stops holding it back. */
#define WM_RECHECK_EVENTS 4096u
#define DEFAULT_HUB_CAP 50
#define JLIST_MAX 64
#define SWEEP_EVERY_MS (60 * 1000LL)
#define SWEEP_EVERY_EVENTS 262144u
/* Width of a sweep bucket: a sweep (every minute of watermark) takes the buckets wholly or
 * partly behind its limit, so a narrower bucket means fewer items looked at twice. */
#define WHEEL_MS 8192

/* ---- small helpers ------------------------------------------------------------------------ */

static int grow(void **p, uint32_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? (size_t)*cap * 2 : 64;
    while (nc < need)
        nc *= 2;
    void *np = xf_realloc(*p, nc * elem);
    if (!np)
        return XF_ENOMEM;
    *p = np;
    *cap = (uint32_t)nc;
    return 0;
}

/* A slot of a node or edge array: a freed one first (indices stay small and dense), else a
 * new one at the end. */
static int slot_take(void **arr, uint32_t *n, uint32_t *cap, const uint32_t *free_list,
                     uint32_t *n_free, size_t elem, uint32_t *out)
{
    if (*n_free) {
        *out = free_list[--*n_free];
        return 0;
    }
    int rc = grow(arr, cap, (size_t)*n + 1, elem);
    if (rc)
        return rc;
    *out = (*n)++;
    return 0;
}

static int push_u32(uint32_t **a, uint32_t *n, uint32_t *cap, uint32_t v)
{
    int rc = grow((void **)a, cap, (size_t)*n + 1, sizeof(**a));
    if (rc)
        return rc;
    (*a)[(*n)++] = v;
    return 0;
}

static int set_str(char **dst, const char *s)
{
    if (*dst && s && strcmp(*dst, s) == 0)
        return 0;
    char *n = s ? xf_strdup(s) : NULL;
    if (s && !n)
        return XF_ENOMEM;
    xf_free(*dst);
    *dst = n;
    return 0;
}

/* ---- shared event ids --------------------------------------------------------------------- */

struct eid {
    uint32_t ref;
    char s[];
};

static struct eid *eid_of(const char *eid)
{
    return (struct eid *)(eid - offsetof(struct eid, s));
}

const char *corr_eid_new(const char *id)
{
    size_t len = strlen(id);
    struct eid *e = xf_malloc(sizeof(*e) + len + 1);

    if (!e)
        return NULL;
    e->ref = 1;
    memcpy(e->s, id, len + 1);
    return e->s;
}

const char *corr_eid_hold(const char *eid)
{
    eid_of(eid)->ref++;
    return eid;
}

void corr_eid_drop(const char *eid)
{
    if (eid && --eid_of(eid)->ref == 0)
        xf_free(eid_of(eid));
}

/* ---- time buckets for the eviction sweep --------------------------------------------------- */

static int64_t wheel_key(xf_time_t t)
{
    int64_t k = t / WHEEL_MS;

    return t % WHEEL_MS < 0 ? k - 1 : k; /* floor, for times before 1970 too */
}

/* Queues (a, t) in the bucket of time `when`. */
static int wheel_push(struct wheel *w, xf_time_t when, uint64_t a, int64_t t)
{
    int64_t k = wheel_key(when);
    uint32_t i = w->hint;
    int rc;

    if (i >= w->n || w->b[i].k != k) {
        uint32_t lo = 0, hi = w->n;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (w->b[mid].k < k)
                lo = mid + 1;
            else
                hi = mid;
        }
        i = lo;
        if (i == w->n || w->b[i].k != k) {
            rc = grow((void **)&w->b, &w->cap, (size_t)w->n + 1, sizeof(*w->b));
            if (rc)
                return rc;
            memmove(&w->b[i + 1], &w->b[i], (w->n - i) * sizeof(*w->b));
            memset(&w->b[i], 0, sizeof(w->b[i]));
            w->b[i].k = k;
            w->n++;
        }
        w->hint = i;
    }
    struct wbucket *b = &w->b[i];
    rc = grow((void **)&b->it, &b->cap, (size_t)b->n + 1, sizeof(*b->it));
    if (rc)
        return rc;
    b->it[b->n].a = a;
    b->it[b->n].t = t;
    b->n++;
    return 0;
}

/* Moves every item of the buckets that start before lim into c->wtmp and drops those
 * buckets. The caller queues again what is not due yet. */
static int wheel_take(struct xf_correlator *c, struct wheel *w, xf_time_t lim)
{
    uint32_t nb = 0;
    size_t need = 0;
    int rc;

    c->n_wtmp = 0;
    if (lim == INT64_MIN)
        return 0;
    int64_t last = wheel_key(lim - 1);
    while (nb < w->n && w->b[nb].k <= last)
        need += w->b[nb++].n;
    if (need > UINT32_MAX)
        return XF_ENOMEM;
    if ((rc = grow((void **)&c->wtmp, &c->cap_wtmp, need, sizeof(*c->wtmp))))
        return rc;
    for (uint32_t i = 0; i < nb; i++) {
        if (w->b[i].n)
            memcpy(&c->wtmp[c->n_wtmp], w->b[i].it, w->b[i].n * sizeof(*c->wtmp));
        c->n_wtmp += w->b[i].n;
        xf_free(w->b[i].it);
    }
    if (nb) {
        memmove(w->b, w->b + nb, (w->n - nb) * sizeof(*w->b));
        w->n -= nb;
    }
    w->hint = 0;
    return 0;
}

static void wheel_close(struct wheel *w)
{
    for (uint32_t i = 0; i < w->n; i++)
        xf_free(w->b[i].it);
    xf_free(w->b);
    memset(w, 0, sizeof(*w));
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* Sorts c->cand and drops repeats: the sweep visits what it found in index order, as a walk
 * over every slot would, so slots are freed (and later reused) in the same order. */
static void cand_sort(struct xf_correlator *c)
{
    uint32_t n = 0;

    if (c->n_cand < 2)
        return;
    qsort(c->cand, c->n_cand, sizeof(*c->cand), cmp_u32);
    for (uint32_t i = 0; i < c->n_cand; i++)
        if (n == 0 || c->cand[i] != c->cand[n - 1])
            c->cand[n++] = c->cand[i];
    c->n_cand = n;
}

int corr_is_hub(const struct xf_correlator *c, const struct node *n)
{
    return n->degree > c->hub_cap;
}

/* ---- IP -> host map, learned from endpoint network records --------------------------------- */

static int ip_ignored(const char *ip)
{
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "::1") == 0 ||
           strcmp(ip, "::") == 0 || strncmp(ip, "169.254.", 8) == 0 ||
           xf_strncaseeq(ip, "fe80:", 5) || strcmp(ip, "255.255.255.255") == 0 ||
           strncmp(ip, "224.", 4) == 0 || strncmp(ip, "239.", 4) == 0;
}

static struct iphost *ip_find(struct xf_correlator *c, const char *ip)
{
    uint64_t h = xf_hash64(ip, strlen(ip)), v;
    size_t pos = hmap_first(&c->ip_idx, h);

    while (hmap_next(&c->ip_idx, h, &pos, &v))
        if (strcmp(c->ips[v].ip, ip) == 0)
            return &c->ips[v];
    return NULL;
}

const char *corr_ip_host(struct xf_correlator *c, const char *ip)
{
    struct iphost *e = ip_find(c, ip);
    return e ? e->host : NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* The first max addresses of the host in the order they were learned. */
size_t corr_host_ips(struct xf_correlator *c, const char *hostkey, const char **out, size_t max)
{
    uint64_t h = xf_hash64(hostkey, strlen(hostkey)), v, idx[64];
    size_t pos = hmap_first(&c->host_ips, h), n = 0;

    while (hmap_next(&c->host_ips, h, &pos, &v)) {
        if (strcmp(c->ips[v].host, hostkey) != 0)
            continue;
        if (n < XF_ARRAY_LEN(idx)) {
            idx[n++] = v;
        } else {
            /* keep the 64 earliest */
            size_t hi = 0;
            for (size_t k = 1; k < n; k++)
                if (idx[k] > idx[hi])
                    hi = k;
            if (v < idx[hi])
                idx[hi] = v;
        }
    }
    qsort(idx, n, sizeof(*idx), cmp_u64);
    if (n > max)
        n = max;
    for (size_t k = 0; k < n; k++)
        out[k] = c->ips[idx[k]].ip;
    return n;
}

static int host_ips_put(struct xf_correlator *c, size_t i)
{
    const char *host = c->ips[i].host;

    return hmap_put(&c->host_ips, xf_hash64(host, strlen(host)), i);
}

static void host_ips_del(struct xf_correlator *c, size_t i)
{
    const char *host = c->ips[i].host;

    hmap_del(&c->host_ips, xf_hash64(host, strlen(host)), i);
}

static int ip_learn(struct xf_correlator *c, const char *ip, const char *hostkey)
{
    if (!ip || !*ip || !corr_is_ip(ip) || ip_ignored(ip) || !*hostkey)
        return 0;
    struct iphost *e = ip_find(c, ip);
    if (e) {
        /* An address seen on two hosts (DHCP reuse): the smaller name wins, so the answer
         * does not depend on which record came first. */
        if (strcmp(hostkey, e->host) < 0) {
            size_t i = (size_t)(e - c->ips);
            int rc;
            c->learned = 1;
            host_ips_del(c, i);
            rc = set_str(&e->host, hostkey);
            if (!rc)
                rc = host_ips_put(c, i);
            return rc;
        }
        return 0;
    }
    if (c->n_ips == c->cap_ips) {
        size_t nc = c->cap_ips ? c->cap_ips * 2 : 64;
        struct iphost *n = xf_realloc(c->ips, nc * sizeof(*n));
        if (!n)
            return XF_ENOMEM;
        c->ips = n;
        c->cap_ips = nc;
    }
    e = &c->ips[c->n_ips];
    e->ip = xf_strdup(ip);
    e->host = xf_strdup(hostkey);
    if (!e->ip || !e->host) {
        xf_free(e->ip);
        xf_free(e->host);
        return XF_ENOMEM;
    }
    int rc = hmap_put(&c->ip_idx, xf_hash64(ip, strlen(ip)), c->n_ips);
    if (!rc) {
        rc = host_ips_put(c, c->n_ips);
        if (rc)
            hmap_del(&c->ip_idx, xf_hash64(ip, strlen(ip)), c->n_ips);
    }
    if (rc) {
        xf_free(e->ip);
        xf_free(e->host);
        return rc;
    }
    c->n_ips++;
    c->learned = 1;
    return 0;
}

static int learn_from(struct xf_correlator *c, const struct xf_event *ev, const char *hostkey)
{
    if (ev->category != XF_CAT_NETWORK || !xf_event_get(ev, XF_F_PROCESS_GUID))
        return 0;
    const char *init = xf_event_get(ev, XF_F_INITIATED);
    int out = !init || xf_strcaseeq(init, "true") || xf_strcaseeq(init, "outbound") ||
              xf_strcaseeq(init, "egress");
    return ip_learn(c, xf_event_get(ev, out ? XF_F_SOURCE_IP : XF_F_DESTINATION_IP), hostkey);
}

/* ---- nodes -------------------------------------------------------------------------------- */

static int build_key(struct xf_correlator *c, enum kind_id kind, const char *hostkey,
                     const char *value)
{
    struct xf_buf *b = &c->kb;
    int rc;

    xf_buf_reset(b);
    rc = xf_buf_appends(b, corr_kinds[kind].prefix);
    if (!rc)
        rc = xf_buf_append(b, ":", 1);
    if (!rc && corr_kinds[kind].host_scoped) {
        rc = xf_buf_appends(b, hostkey);
        if (!rc)
            rc = xf_buf_append(b, "|", 1);
    }
    if (rc)
        return rc;
    size_t start = b->len;
    size_t len = strlen(value);
    if (kind == K_PROC && len >= 2 && value[0] == '{' && value[len - 1] == '}') {
        value++;
        len -= 2;
    }
    rc = xf_buf_append(b, value, len);
    if (rc)
        return rc;
    if (kind != K_ALERT)
        xf_str_lower(b->data + start);
    return 0;
}

static uint32_t node_find(struct xf_correlator *c, const char *key, uint64_t h)
{
    uint64_t v;
    size_t pos = hmap_first(&c->node_idx, h);

    while (hmap_next(&c->node_idx, h, &pos, &v))
        if (strcmp(c->nodes[v].key, key) == 0)
            return (uint32_t)v;
    return CORR_NONE;
}

/* Finds or creates the node for c->kb, named at time t. */
static int node_get(struct xf_correlator *c, enum kind_id kind, xf_time_t t, uint32_t *out)
{
    const char *key = c->kb.data;
    uint64_t h = xf_hash64(key, c->kb.len);
    uint32_t i = node_find(c, key, h);
    int rc;

    if (i != CORR_NONE) {
        *out = i;
        return 0;
    }
    if ((rc = slot_take((void **)&c->nodes, &c->n_nodes, &c->cap_nodes, c->free_nodes,
                        &c->n_free_nodes, sizeof(*c->nodes), &i)))
        return rc;
    struct node *n = &c->nodes[i];
    memset(n, 0, sizeof(*n));
    n->key = xf_strndup(key, c->kb.len);
    if (!n->key)
        goto nomem;
    n->kind = kind;
    n->t_ref = INT64_MAX;
    n->t_own = INT64_MAX;
    n->t_own_max = INT64_MIN;
    n->t_act_min = INT64_MAX;
    n->t_act_max = INT64_MIN;
    n->t_touch = INT64_MIN;
    n->lprio = -1;
    n->inc = CORR_NONE;
    n->mod = n->jmod = c->gen;
    if (hmap_put(&c->node_idx, h, i)) {
        xf_free(n->key);
        goto nomem;
    }
    /* touch() sets t_touch to t right after this, and t_touch only grows */
    if (wheel_push(&c->node_wheel, t, i, 0)) {
        hmap_del(&c->node_idx, h, i);
        xf_free(n->key);
        goto nomem;
    }
    c->st.nodes++;
    *out = i;
    return 0;
nomem:
    n->key = NULL;
    push_u32(&c->free_nodes, &c->n_free_nodes, &c->cap_free_nodes, i);
    return XF_ENOMEM;
}

const char *corr_proc_user(struct xf_correlator *c, const char *hostkey, const char *guid)
{
    if (build_key(c, K_PROC, hostkey, guid))
        return NULL;
    uint32_t i = node_find(c, c->kb.data, xf_hash64(c->kb.data, c->kb.len));
    return i == CORR_NONE ? NULL : c->nodes[i].user;
}

/* Adds eid (held here) unless the set has it. */
static int idset_add(struct idset *s, const char *id)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(s->a[mid], id);
        if (cmp == 0)
            return 0;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Keep the smallest NODE_IDS_MAX ids: the same set whatever the arrival order. */
    if (s->n == NODE_IDS_MAX) {
        if (s->more < UINT32_MAX)
            s->more++;
        if (lo == NODE_IDS_MAX)
            return 0;
        corr_eid_drop(s->a[--s->n]);
    }
    if (s->n == s->cap) {
        uint32_t nc = s->cap ? s->cap * 2 : 2;
        const char **na = xf_realloc(s->a, nc * sizeof(*na));
        if (!na)
            return XF_ENOMEM;
        s->a = na;
        s->cap = nc;
    }
    memmove(&s->a[lo + 1], &s->a[lo], (s->n - lo) * sizeof(*s->a));
    s->a[lo] = corr_eid_hold(id);
    s->n++;
    return 0;
}

static void idset_close(struct idset *s)
{
    for (size_t i = 0; i < s->n; i++)
        corr_eid_drop(s->a[i]);
    xf_free(s->a);
    memset(s, 0, sizeof(*s));
}

static int first_val(struct xf_correlator *c, const struct expr *e, const struct xf_event *ev,
                     char **dst)
{
    vals_reset(&c->vl);
    int rc = corr_eval(c, e, ev, &c->vl);
    if (rc)
        return rc;
    return set_str(dst, c->vl.n ? vals_get(&c->vl, 0) : NULL);
}

/* Names node `value` of endpoint ep in event ev. attach: the event is one of the node's own
 * (its id is listed on the node and its detections may land there). */
static int touch(struct xf_correlator *c, const struct endpoint *ep, const struct xf_event *ev,
                 const char *hostkey, const char *value, int attach, int activity, uint32_t *out)
{
    uint32_t i;
    int rc = build_key(c, ep->kind, hostkey, value);

    if (!rc)
        rc = node_get(c, ep->kind, ev->time, &i);
    if (rc)
        return rc;
    struct node *n = &c->nodes[i];
    /* Only what an incident shows of the node stamps it (not t_touch): a hub like
     * explorer.exe is named by every child, and stamping it each time would make every
     * incident on its host look changed. */
    if (ev->time < n->t_ref) {
        n->t_ref = ev->time;
        n->mod = n->jmod = c->gen;
    }
    if (ev->time > n->t_touch)
        n->t_touch = ev->time;
    int better = ep->prio > n->lprio ||
                 (ep->prio == n->lprio &&
                  (ev->time < n->lprio_time ||
                   (ev->time == n->lprio_time && n->lprio_id && strcmp(ev->id, n->lprio_id) < 0)));
    if (better) {
        n->mod = n->jmod = c->gen;
        n->lprio = ep->prio;
        n->lprio_time = ev->time;
        const char *old = n->lprio_id;
        n->lprio_id = corr_eid_hold(c->eid); /* hold before drop: they may be the same */
        corr_eid_drop(old);
        if (ep->has_label)
            rc = first_val(c, &ep->label, ev, &n->label);
        else
            rc = set_str(&n->label, value);
        if (!rc && ep->has_user)
            rc = first_val(c, &ep->user, ev, &n->user);
        if (!rc && (corr_kinds[ep->kind].host_scoped || ep->kind == K_ALERT || ep->kind == K_HOST))
            rc = set_str(&n->host, xf_event_get(ev, XF_F_HOST));
        if (rc)
            return rc;
    }
    if (attach && n->last_ev != ev->idhash) {
        n->mod = n->jmod = c->gen;
        n->last_ev = ev->idhash;
        xf_time_t *lo = activity ? &n->t_act_min : &n->t_own;
        xf_time_t *hi = activity ? &n->t_act_max : &n->t_own_max;
        if (ev->time < *lo)
            *lo = ev->time;
        if (ev->time > *hi)
            *hi = ev->time;
        rc = idset_add(activity ? &n->act : &n->ids, c->eid);
        if (rc)
            return rc;
    }
    if (n->watched)
        c->dirty = 1;
    *out = i;
    return 0;
}

/* ---- edges -------------------------------------------------------------------------------- */

static uint64_t edge_hash(uint32_t from, uint32_t to, const struct edge_attr *a)
{
    uint32_t k[2] = {from, to};
    return xf_hash64_seed(k, sizeof(k), a->rel_hash);
}

static int adj_push(struct node *n, uint32_t e)
{
    if (n->n_adj == n->cap_adj) {
        uint32_t nc = n->cap_adj ? n->cap_adj * 2 : 4;
        uint32_t *a = xf_realloc(n->adj, nc * sizeof(*a));
        if (!a)
            return XF_ENOMEM;
        n->adj = a;
        n->cap_adj = nc;
    }
    n->adj[n->n_adj++] = e;
    return 0;
}

static int adj_del(struct node *n, uint32_t e)
{
    for (uint32_t i = 0; i < n->n_adj; i++) {
        if (n->adj[i] == e) {
            n->adj[i] = n->adj[--n->n_adj];
            return 1;
        }
    }
    return 0;
}

/* Stamps the ends of an edge that was made, changed or removed (see node.mod and node.jmod):
 * mod where the end's adjacency or hub status may have changed (sf, st); jmod, when both
 * ends are incident members, on each end whose list holds the edge (rf, rt). An incident
 * shows only edges between its members, found on their lists, and every edge is on one
 * list at least: so a hub shared by two incidents is not stamped for an edge that only the
 * other incident shows. */
static void edge_stamp(struct xf_correlator *c, uint32_t from, uint32_t to, int sf, int st, int rf,
                       int rt)
{
    struct node *f = &c->nodes[from], *t = &c->nodes[to];

    if (sf)
        f->mod = c->gen;
    if (st)
        t->mod = c->gen;
    if (f->member && t->member) {
        if (rf)
            f->jmod = c->gen;
        if (rt)
            t->jmod = c->gen;
    }
}

/* Makes the edge, or updates it; event_id is an eid (held here). */
static int edge_add(struct xf_correlator *c, uint32_t from, uint32_t to, const struct edge_attr *a,
                    xf_time_t t, const char *event_id)
{
    uint64_t h, v;
    size_t pos;
    int rc;

    if (from == to)
        return 0;
    h = edge_hash(from, to, a);
    pos = hmap_first(&c->edge_idx, h);
    while (hmap_next(&c->edge_idx, h, &pos, &v)) {
        struct edge *e = &c->edges[v];
        if (e->from != from || e->to != to ||
            (e->a != a && strcmp(e->a->relation, a->relation) != 0))
            continue;
        /* The same link made again: keep the strongest, then the earliest evidence. */
        int better = a->confidence > e->a->confidence ||
                     (a->confidence == e->a->confidence &&
                      (t < e->time || (t == e->time && strcmp(event_id, e->event_id) < 0)));
        if (better) {
            const char *old = e->event_id;
            e->a = a;
            e->time = t;
            e->event_id = corr_eid_hold(event_id); /* hold before drop: they may be the same */
            corr_eid_drop(old);
            edge_stamp(c, from, to, 1, 1, 1, 1);
            if (c->nodes[from].watched || c->nodes[to].watched)
                c->dirty = 1;
        }
        return 0;
    }
    uint32_t i;
    if ((rc = slot_take((void **)&c->edges, &c->n_edges, &c->cap_edges, c->free_edges,
                        &c->n_free_edges, sizeof(*c->edges), &i)))
        return rc;
    struct edge *e = &c->edges[i];
    memset(e, 0, sizeof(*e));
    e->from = from;
    e->to = to;
    e->a = a;
    e->time = t;
    rc = hmap_put(&c->edge_idx, h, i);
    if (rc) {
        e->from = e->to = CORR_NONE;
        push_u32(&c->free_edges, &c->n_free_edges, &c->cap_free_edges, i);
        return rc;
    }
    e->event_id = corr_eid_hold(event_id);
    struct node *nf = &c->nodes[from], *nt = &c->nodes[to];
    int was_fh = corr_is_hub(c, nf), was_th = corr_is_hub(c, nt);
    /* Links to leaf kinds (addresses, hosts) never carry connectivity, so they do not make
     * a process a hub: a beaconing or spamming payload stays traversable. */
    if (!corr_kinds[nt->kind].leaf || corr_kinds[nf->kind].leaf)
        nf->degree++;
    if (!corr_kinds[nf->kind].leaf || corr_kinds[nt->kind].leaf)
        nt->degree++;
    nf->nref++;
    nt->nref++;
    if (nf->degree == c->hub_cap + 1)
        c->st.hubs++;
    if (nt->degree == c->hub_cap + 1)
        c->st.hubs++;
    /* A hub stops recording its own links (it is never traversed through), but the other
     * end always keeps the edge; when both are hubs the source keeps it, so every live edge
     * is on at least one list and eviction can find it. */
    int fh = corr_is_hub(c, nf), th = corr_is_hub(c, nt);
    /* A node that already was a hub and does not record the edge shows nothing new (its
     * degree is past mattering); everything else is stamped changed for incident.c. */
    if (!fh || th)
        rc = adj_push(nf, i);
    else
        c->st.edges_cut++;
    if (!rc) {
        if (!th)
            rc = adj_push(nt, i);
        else
            c->st.edges_cut++;
    }
    edge_stamp(c, from, to, !fh || th || !was_fh, !th || !was_th, !fh || th, !th);
    /* becoming a hub changes how the node shows in an incident */
    if (fh && !was_fh)
        nf->jmod = c->gen;
    if (th && !was_th)
        nt->jmod = c->gen;
    if (!rc && c->n_pending == c->cap_pending) {
        size_t nc = c->cap_pending ? c->cap_pending * 2 : 256;
        uint32_t *p = xf_realloc(c->pending, nc * sizeof(*p));
        if (!p)
            rc = XF_ENOMEM;
        else {
            c->pending = p;
            c->cap_pending = nc;
        }
    }
    if (rc)
        return rc;
    c->pending[c->n_pending++] = i;
    e->pending = 1;
    c->st.edges++;
    if (nf->watched || nt->watched)
        c->dirty = 1;
    return 0;
}

static void edge_remove(struct xf_correlator *c, uint32_t i)
{
    struct edge *e = &c->edges[i];

    hmap_del(&c->edge_idx, edge_hash(e->from, e->to, e->a), i);
    int df = adj_del(&c->nodes[e->from], i), dt = adj_del(&c->nodes[e->to], i);
    edge_stamp(c, e->from, e->to, df || !corr_is_hub(c, &c->nodes[e->from]),
               dt || !corr_is_hub(c, &c->nodes[e->to]), df, dt);
    c->nodes[e->from].nref--;
    c->nodes[e->to].nref--;
    if (e->pending) {
        for (size_t k = 0; k < c->n_pending; k++)
            if (c->pending[k] == i)
                c->pending[k] = CORR_NONE;
    }
    e->from = e->to = CORR_NONE;
    corr_eid_drop(e->event_id);
    e->event_id = NULL;
    c->st.edges--;
    push_u32(&c->free_edges, &c->n_free_edges, &c->cap_free_edges, i);
}

/* ---- detections --------------------------------------------------------------------------- */

static void det_close(struct det *d)
{
    xf_free(d->rule_id);
    xf_free(d->title);
    for (size_t i = 0; i < d->n_tags; i++)
        xf_free(d->tags[i]);
    xf_free(d->tags);
}

void corr_node_clear_dets(struct node *n)
{
    for (size_t i = 0; i < n->n_dets; i++)
        det_close(&n->dets[i]);
    xf_free(n->dets);
    n->dets = NULL;
    n->n_dets = 0;
}

static int det_tag(struct det *d, const char *prefix, const char *s)
{
    char buf[128];
    char **t = xf_realloc(d->tags, (d->n_tags + 1) * sizeof(*t));

    if (!t)
        return XF_ENOMEM;
    d->tags = t;
    snprintf(buf, sizeof(buf), "%s%s", prefix, s);
    d->tags[d->n_tags] = xf_strdup(buf);
    if (!d->tags[d->n_tags])
        return XF_ENOMEM;
    d->n_tags++;
    return 0;
}

static int node_add_det(struct xf_correlator *c, struct node *n, const struct xf_rule_info *ri,
                        const char *rule_id, const char *title, int level,
                        const struct xf_event *ev)
{
    for (size_t i = 0; i < n->n_dets; i++)
        if (strcmp(n->dets[i].rule_id, rule_id) == 0 && strcmp(n->dets[i].event_id, ev->id) == 0)
            return 0;
    struct det *d = xf_realloc(n->dets, (n->n_dets + 1) * sizeof(*d));
    if (!d)
        return XF_ENOMEM;
    n->dets = d;
    if (!n->listed) {
        int rc = push_u32(&c->seeds, &c->n_seeds, &c->cap_seeds, (uint32_t)(n - c->nodes));
        if (rc)
            return rc;
        n->listed = 1;
    }
    d = &n->dets[n->n_dets++];
    memset(d, 0, sizeof(*d));
    n->mod = n->jmod = c->gen;
    d->rule_id = xf_strdup(rule_id);
    d->title = xf_strdup(title);
    d->level = level;
    d->time = ev->time;
    snprintf(d->event_id, sizeof(d->event_id), "%s", ev->id);
    if (!d->rule_id || !d->title)
        return XF_ENOMEM;
    if (ri) {
        for (size_t i = 0; i < ri->n_techniques; i++)
            if (det_tag(d, "T:", ri->techniques[i]))
                return XF_ENOMEM;
        for (size_t i = 0; i < ri->n_tactics; i++)
            if (det_tag(d, "A:", ri->tactics[i]))
                return XF_ENOMEM;
    }
    c->st.detections++;
    c->dirty = 1;
    return 0;
}

#ifdef XF_HAVE_RULES
struct match_ud {
    struct xf_correlator *c;
    struct node *n;
    const struct xf_event *ev;
    int rc;
};

static void on_rule_match(const struct xf_rule_info *ri, void *ud)
{
    struct match_ud *m = ud;

    if (m->rc == 0)
        m->rc = node_add_det(m->c, m->n, ri, ri->id ? ri->id : "", ri->title ? ri->title : "",
                             (int)ri->level, m->ev);
}
#endif

/* Sigma matches of the event: from the ruleset (matches == NULL) or given by the caller. */
struct given {
    const struct xf_rule_info *const *a;
    size_t n;
};

static int detect(struct xf_correlator *c, uint32_t ni, const struct xf_event *ev,
                  const struct given *matches)
{
    struct node *n = &c->nodes[ni];
    int rc = 0;

    if (ev->category == XF_CAT_ALERT) {
        static const struct expr lvl = {FN_ALERT_LEVEL, -1};
        static const char *const names[] = {"informational", "low", "medium", "high", "critical"};
        const char *rule = xf_event_get(ev, XF_F_ALERT_RULE);
        const char *prod = xf_event_get(ev, XF_F_ALERT_PRODUCT);
        int level = 2;
        vals_reset(&c->vl);
        rc = corr_eval(c, &lvl, ev, &c->vl);
        if (rc)
            return rc;
        for (int i = 0; i < 5 && c->vl.n; i++)
            if (strcmp(vals_get(&c->vl, 0), names[i]) == 0)
                level = i;
        const char *title = rule ? rule : prod ? prod : "alert";
        char rid[256];
        snprintf(rid, sizeof(rid), "%s%s%s", prod ? prod : "", prod ? ":" : "", title);
        rc = node_add_det(c, n, NULL, rid, title, level, ev);
        if (rc)
            return rc;
    }
    if (matches) {
        for (size_t i = 0; i < matches->n && rc == 0; i++) {
            const struct xf_rule_info *ri = matches->a[i];
            rc = node_add_det(c, n, ri, ri->id ? ri->id : "", ri->title ? ri->title : "",
                              (int)ri->level, ev);
        }
        return rc;
    }
#ifdef XF_HAVE_RULES
    if (c->rules) {
        struct match_ud m = {c, n, ev, 0};
        xf_ruleset_match(c->rules, ev, on_rule_match, &m);
        rc = m.rc;
    }
#endif
    return rc;
}

/* ---- spec evaluation ---------------------------------------------------------------------- */

static int val_match(const char *s, const char *pat)
{
    size_t ls = strlen(s), lp = strlen(pat);

    if (lp && pat[0] == '*') {
        if (lp == 1)
            return ls > 0;
        return ls >= lp - 1 && xf_strcaseeq(s + ls - (lp - 1), pat + 1);
    }
    if (lp && pat[lp - 1] == '*')
        return ls >= lp - 1 && xf_strncaseeq(s, pat, lp - 1);
    return xf_strcaseeq(s, pat);
}

static int cond_ok(struct xf_correlator *c, const struct cond *k, const struct xf_event *ev)
{
    struct vals *v = &c->v2;
    int hit = 0;

    vals_reset(v);
    if (corr_eval(c, &k->e, ev, v))
        return -1;
    for (size_t i = 0; i < v->n && !hit; i++) {
        const char *s = vals_get(v, i);
        for (size_t j = 0; j < k->n && !hit; j++)
            hit = val_match(s, k->vals[j]);
    }
    return k->negate ? !hit : hit;
}

static int match_ok(struct xf_correlator *c, const struct match *m, const struct xf_event *ev)
{
    if (m->cat != ev->category)
        return 0;
    for (size_t i = 0; i < m->n_conds; i++)
        if (cond_ok(c, &m->conds[i], ev) != 1)
            return 0;
    return 1;
}

/* Evaluates an endpoint's value expression into a private copy list (c->v1 is reused by the
 * caller, so values are copied into dst). */
static int endpoint_values(struct xf_correlator *c, const struct endpoint *ep,
                           const struct xf_event *ev, struct vals *dst)
{
    vals_reset(dst);
    return corr_eval(c, &ep->value, ev, dst);
}

static int do_nodes(struct xf_correlator *c, const struct xf_event *ev, const char *hostkey,
                    uint32_t *primary)
{
    struct vals vv;
    int rc = 0;

    vals_init(&vv);
    *primary = CORR_NONE;
    for (size_t r = 0; r < c->specs.n_nodes && rc == 0; r++) {
        const struct node_spec *ns = &c->specs.nodes[r];
        if (!match_ok(c, &ns->m, ev))
            continue;
        rc = endpoint_values(c, &ns->node, ev, &vv);
        for (size_t i = 0; i < vv.n && rc == 0; i++) {
            uint32_t ni;
            rc = touch(c, &ns->node, ev, hostkey, vals_get(&vv, i), 1, ns->activity, &ni);
            if (!rc && ns->detect && *primary == CORR_NONE)
                *primary = ni;
        }
    }
    vals_close(&vv);
    return rc;
}

static int do_direct(struct xf_correlator *c, const struct xf_event *ev, const char *hostkey)
{
    struct vals fv, tv;
    int rc = 0;

    vals_init(&fv);
    vals_init(&tv);
    for (size_t r = 0; r < c->specs.n_direct && rc == 0; r++) {
        const struct direct_spec *d = &c->specs.direct[r];
        if (!match_ok(c, &d->m, ev))
            continue;
        rc = endpoint_values(c, &d->from, ev, &fv);
        if (!rc)
            rc = endpoint_values(c, &d->to, ev, &tv);
        for (size_t i = 0; i < fv.n && rc == 0; i++) {
            for (size_t j = 0; j < tv.n && rc == 0; j++) {
                uint32_t f, t;
                rc = touch(c, &d->from, ev, hostkey, vals_get(&fv, i), 0, 0, &f);
                if (!rc)
                    rc = touch(c, &d->to, ev, hostkey, vals_get(&tv, j), 0, 0, &t);
                if (!rc)
                    rc = edge_add(c, f, t, &d->attr, ev->time, c->eid);
            }
        }
    }
    vals_close(&fv);
    vals_close(&tv);
    return rc;
}

/* ---- windowed joins ----------------------------------------------------------------------- */

static struct jlist *jl_find(struct xf_correlator *c, uint64_t h, uint32_t *idx)
{
    uint64_t v;
    size_t pos = hmap_first(&c->jidx, h);

    /* Lists are found by the 64-bit hash of (spec, side, key) alone (the index matches 32 bits
     * of it, the list keeps all 64): a collision would join two unrelated keys, at odds of
     * 2^-64 per pair. */
    while (hmap_next(&c->jidx, h, &pos, &v)) {
        if (c->jl[v].h != hmap_fix(h))
            continue;
        if (idx)
            *idx = (uint32_t)v;
        return &c->jl[v];
    }
    return NULL;
}

/* Adds (t, node, event_id: an eid, held here) to the list of key hash h. */
static int jl_insert(struct xf_correlator *c, uint64_t h, uint32_t spec, xf_time_t t, uint32_t node,
                     const char *event_id)
{
    int64_t win = c->specs.windowed[spec].window_ms;
    uint32_t i;
    struct jlist *l = jl_find(c, h, &i);
    int rc;

    if (!l) {
        if (c->n_free_jl) {
            i = c->free_jl[--c->n_free_jl];
        } else {
            rc = grow((void **)&c->jl, &c->cap_jl, (size_t)c->n_jl + 1, sizeof(*c->jl));
            if (rc)
                return rc;
            i = c->n_jl++;
        }
        l = &c->jl[i];
        memset(l, 0, sizeof(*l));
        l->h = hmap_fix(h);
        l->spec = spec;
        l->qt = t;
        rc = hmap_put(&c->jidx, h, i);
        if (!rc) {
            rc = wheel_push(&c->jl_wheel, t + win, i, t);
            if (rc)
                hmap_del(&c->jidx, h, i);
        }
        if (rc) {
            l->h = 0;
            push_u32(&c->free_jl, &c->n_free_jl, &c->cap_free_jl, i);
            return rc;
        }
    }
    for (uint32_t k = 0; k < l->n; k++)
        if (l->e[k].node == node && strcmp(l->e[k].event_id, event_id) == 0)
            return 0;
    struct jentry *slot;
    const char *prev = NULL; /* the eid of a replaced entry */
    if (l->n == JLIST_MAX) {
        /* Bounded fan-out: a full key keeps its newest entries. */
        uint32_t old = 0;
        for (uint32_t k = 1; k < l->n; k++)
            if (l->e[k].time < l->e[old].time)
                old = k;
        if (l->e[old].time > t)
            return 0;
        slot = &l->e[old];
        prev = slot->event_id;
    } else {
        if (l->n == l->cap) {
            uint32_t nc = l->cap ? l->cap * 2 : 2;
            struct jentry *ne = xf_realloc(l->e, nc * sizeof(*ne));
            if (!ne)
                return XF_ENOMEM;
            l->e = ne;
            l->cap = nc;
        }
        slot = &l->e[l->n++];
        c->st.pending++;
    }
    slot->time = t;
    slot->node = node;
    slot->event_id = corr_eid_hold(event_id);
    corr_eid_drop(prev); /* after the hold: they may be the same */
    if (t < l->qt) {
        /* an entry older than the list's queue time: queue it earlier too (the later item
         * goes stale; the sweep tells by qt) */
        l->qt = t;
        return wheel_push(&c->jl_wheel, t + win, i, t);
    }
    return 0;
}

static int key_combos(struct xf_correlator *c, const struct side_spec *s, size_t alt,
                      const struct xf_event *ev, size_t part, struct xf_buf *acc,
                      int (*fn)(struct xf_correlator *, const char *, size_t, void *), void *ud)
{
    if (part == s->n_parts[alt])
        return fn(c, acc->data, acc->len, ud);
    if (part >= KEYPART_MAX)
        return XF_EINTERNAL;
    struct vals *v = &c->vk[part];
    vals_reset(v);
    int rc = corr_eval(c, &s->keys[alt][part], ev, v);
    size_t base = acc->len;
    for (size_t i = 0; i < v->n && rc == 0; i++) {
        acc->len = base;
        if (part)
            rc = xf_buf_append(acc, "\x1f", 1);
        if (!rc)
            rc = xf_buf_appends(acc, vals_get(v, i));
        if (rc)
            break;
        xf_str_lower(acc->data + base);
        rc = key_combos(c, s, alt, ev, part + 1, acc, fn, ud);
    }
    acc->len = base;
    return rc;
}

struct wctx {
    size_t spec;
    int side;
    uint32_t node;
    const struct xf_event *ev;
};

static int on_key(struct xf_correlator *c, const char *key, size_t len, void *ud)
{
    struct wctx *w = ud;
    const struct window_spec *ws = &c->specs.windowed[w->spec];
    uint64_t mine = xf_hash64_seed(key, len, w->spec * 2 + (size_t)w->side);
    uint64_t other = xf_hash64_seed(key, len, w->spec * 2 + (size_t)!w->side);
    int rc = jl_insert(c, mine, (uint32_t)w->spec, w->ev->time, w->node, c->eid);

    if (rc)
        return rc;
    struct jlist *l = jl_find(c, other, NULL);
    if (!l)
        return 0;
    for (uint32_t k = 0; k < l->n && rc == 0; k++) {
        const struct jentry *e = &l->e[k];
        xf_time_t tl = w->side ? e->time : w->ev->time;
        xf_time_t tr = w->side ? w->ev->time : e->time;
        int64_t dt = tr - tl;
        if (ws->left_first ? (dt < 0 || dt > ws->window_ms)
                           : (dt < -ws->window_ms || dt > ws->window_ms))
            continue;
        uint32_t from = w->side ? e->node : w->node;
        uint32_t to = w->side ? w->node : e->node;
        /* The edge carries the later event as its evidence (ties: the right side). */
        const char *eid = w->side ? c->eid : e->event_id;
        xf_time_t et = tr;
        if (tl > tr) {
            et = tl;
            eid = w->side ? e->event_id : c->eid;
        }
        rc = edge_add(c, from, to, &ws->attr, et, eid);
    }
    return rc;
}

static int do_windowed(struct xf_correlator *c, const struct xf_event *ev, const char *hostkey)
{
    struct vals nv;
    int rc = 0;

    vals_init(&nv);
    for (size_t r = 0; r < c->specs.n_windowed && rc == 0; r++) {
        const struct window_spec *ws = &c->specs.windowed[r];
        for (int side = 0; side < 2 && rc == 0; side++) {
            const struct side_spec *s = &ws->side[side];
            if (!match_ok(c, &s->m, ev))
                continue;
            rc = endpoint_values(c, &s->node, ev, &nv);
            if (rc || nv.n == 0)
                continue;
            struct wctx w = {r, side, 0, ev};
            rc = touch(c, &s->node, ev, hostkey, vals_get(&nv, 0), 0, 0, &w.node);
            for (size_t a = 0; a < s->n_alts && rc == 0; a++) {
                xf_buf_reset(&c->kb2);
                rc = key_combos(c, s, a, ev, 0, &c->kb2, on_key, &w);
            }
        }
    }
    vals_close(&nv);
    return rc;
}

#define RETRY_MAX 4096

static int retry_park(struct xf_correlator *c, const struct xf_event *ev)
{
    if (c->n_retry == RETRY_MAX)
        return 0; /* bounded: past this, such joins wait for nothing */
    if (c->n_retry == c->cap_retry) {
        size_t nc = c->cap_retry ? c->cap_retry * 2 : 16;
        struct xf_event *n = xf_realloc(c->retry, nc * sizeof(*n));
        if (!n)
            return XF_ENOMEM;
        c->retry = n;
        c->cap_retry = nc;
    }
    struct xf_event *d = &c->retry[c->n_retry];
    xf_event_init(d);
    int rc = xf_event_copy(d, ev);
    if (rc) {
        xf_event_close(d);
        return rc;
    }
    c->n_retry++;
    return 0;
}

static void retry_drop(struct xf_correlator *c, size_t i)
{
    xf_event_close(&c->retry[i]);
    c->retry[i] = c->retry[--c->n_retry];
}

/* Replaying is safe because joins are idempotent: an entry already indexed is not added
 * twice and an edge already made is deduplicated. */
static int retry_replay(struct xf_correlator *c)
{
    char hk[256];
    size_t i = 0;
    int rc = 0;

    c->learned = 0;
    while (i < c->n_retry && rc == 0) {
        const struct xf_event *ev = &c->retry[i];
        const char *host = xf_event_get(ev, XF_F_HOST);
        hk[0] = '\0';
        if (host)
            corr_host_norm(host, hk, sizeof(hk));
        c->unresolved = 0;
        const char *cur = c->eid;
        c->eid = corr_eid_new(ev->id);
        rc = c->eid ? do_windowed(c, ev, hk) : XF_ENOMEM;
        corr_eid_drop(c->eid);
        c->eid = cur;
        if (!rc && !c->unresolved)
            retry_drop(c, i);
        else
            i++;
    }
    return rc;
}

/* ---- public: create, add, drain, stats ---------------------------------------------------- */

int xf_correlator_create(const struct xf_correlate_opts *opts, struct xf_correlator **out)
{
    struct xf_correlate_opts dflt = {0};
    struct xf_correlator *c = NULL;
    const char *path;
    int rc;

    if (!out)
        return XF_EINVAL;
    if (!opts)
        opts = &dflt;
    c = xf_calloc(1, sizeof(*c));
    if (!c)
        return XF_ENOMEM;
    path = opts->links_path;
    if (!path)
        path = getenv("XDRFLOW_LINKS");
    if (!path)
#ifdef XF_LINKS_PATH_INSTALLED
        path = xf_data_path(XF_LINKS_PATH, XF_LINKS_PATH_INSTALLED);
#else
        path = XF_LINKS_PATH;
#endif
    rc = corr_specs_load_file(path, &c->specs);
    if (rc)
        goto fail;
    c->rules = opts->rules;
    c->tenant = xf_strdup(opts->tenant ? opts->tenant : "default");
    c->lateness_ms = opts->lateness_ms > 0 ? opts->lateness_ms : DEFAULT_LATENESS_MS;
    c->idle_ms = opts->incident_idle_ms > 0 ? opts->incident_idle_ms : DEFAULT_IDLE_MS;
    c->hub_cap = opts->hub_cap > 0 ? (uint32_t)opts->hub_cap : DEFAULT_HUB_CAP;
    /* Background state lives for the longest join window plus an hour of slack for direct
     * links (a child that names a parent seen a while ago), beyond the lateness. */
    c->retention_ms = c->specs.max_window_ms + 3600 * 1000LL;
    c->max_time = INT64_MIN;
    c->idle_events =
        opts->source_idle_events ? opts->source_idle_events : DEFAULT_SOURCE_IDLE_EVENTS;
    c->max_skew_ms = opts->max_skew_ms > 0 ? opts->max_skew_ms : DEFAULT_MAX_SKEW_MS;
    c->wm_src = CORR_NONE;
    c->seen_floor = INT64_MIN;
    c->last_sweep = INT64_MIN;
    c->gen = 1;
    c->st.watermark = INT64_MIN;
    vals_init(&c->v1);
    vals_init(&c->v2);
    vals_init(&c->vl);
    for (size_t i = 0; i < KEYPART_MAX; i++)
        vals_init(&c->vk[i]);
    xf_buf_init(&c->kb);
    xf_buf_init(&c->kb2);
    if (!c->tenant || hmap_init(&c->node_idx, 1024) || hmap_init(&c->edge_idx, 1024) ||
        hmap_init_wide(&c->seen, 1024) || hmap_init(&c->jidx, 256) || hmap_init(&c->ip_idx, 64) ||
        hmap_init(&c->host_ips, 64) || hmap_init(&c->src_idx, 16)) {
        rc = XF_ENOMEM;
        goto fail;
    }
    rc = corr_inc_create(c);
    if (rc)
        goto fail;
    *out = c;
    return 0;
fail:
    xf_correlator_destroy(c);
    return rc;
}

static void node_free(struct node *n)
{
    xf_free(n->key);
    xf_free(n->host);
    xf_free(n->label);
    xf_free(n->user);
    corr_eid_drop(n->lprio_id);
    idset_close(&n->ids);
    idset_close(&n->act);
    corr_node_clear_dets(n);
    xf_free(n->adj);
    memset(n, 0, sizeof(*n));
}

void xf_correlator_destroy(struct xf_correlator *c)
{
    if (!c)
        return;
    corr_inc_destroy(c);
    for (uint32_t i = 0; i < c->n_nodes; i++)
        if (c->nodes[i].key)
            node_free(&c->nodes[i]);
    for (uint32_t i = 0; i < c->n_edges; i++)
        corr_eid_drop(c->edges[i].event_id);
    for (uint32_t i = 0; i < c->n_jl; i++) {
        for (uint32_t k = 0; k < c->jl[i].n; k++)
            corr_eid_drop(c->jl[i].e[k].event_id);
        xf_free(c->jl[i].e);
    }
    for (size_t i = 0; i < c->n_ips; i++) {
        xf_free(c->ips[i].ip);
        xf_free(c->ips[i].host);
    }
    xf_free(c->ips);
    for (size_t i = 0; i < c->n_retry; i++)
        xf_event_close(&c->retry[i]);
    xf_free(c->retry);
    xf_free(c->jl);
    xf_free(c->free_jl);
    wheel_close(&c->node_wheel);
    wheel_close(&c->jl_wheel);
    wheel_close(&c->seen_wheel);
    xf_free(c->wtmp);
    xf_free(c->cand);
    xf_free(c->nodes);
    xf_free(c->free_nodes);
    xf_free(c->seeds);
    xf_free(c->edges);
    xf_free(c->free_edges);
    xf_free(c->pending);
    hmap_close(&c->node_idx);
    hmap_close(&c->edge_idx);
    hmap_close(&c->seen);
    hmap_close(&c->jidx);
    hmap_close(&c->ip_idx);
    hmap_close(&c->host_ips);
    hmap_close(&c->src_idx);
    xf_free(c->srcs);
    vals_close(&c->v1);
    vals_close(&c->v2);
    vals_close(&c->vl);
    for (size_t i = 0; i < KEYPART_MAX; i++)
        vals_close(&c->vk[i]);
    xf_buf_close(&c->kb);
    xf_buf_close(&c->kb2);
    corr_specs_close(&c->specs);
    xf_free(c->tenant);
    xf_free(c);
}

int xf_correlator_set_rules(struct xf_correlator *c, const struct xf_ruleset *rules)
{
    /* detections copy what they keep of a rule (node_add_det), so nothing points into the
     * old ruleset after this */
    c->rules = rules;
    return 0;
}

/* The watermark over all sources: the oldest newest-time among the active ones (those that
 * delivered an event in the last idle_events accepted events), but no older than the newest
 * time seen minus max_skew_ms (a source further behind counts as late: that bounds memory),
 * minus the lateness. */
static void wm_recompute(struct xf_correlator *c)
{
    xf_time_t lo = INT64_MAX;
    uint32_t arg = CORR_NONE;

    c->st.sources = c->n_srcs;
    c->st.sources_active = 0;
    for (uint32_t i = 0; i < c->n_srcs; i++) {
        struct wsrc *s = &c->srcs[i];
        s->active = c->st.events - s->last <= c->idle_events;
        c->st.sources_active += s->active;
        if (s->active && s->max < lo) {
            lo = s->max;
            arg = i;
        }
    }
    c->wm_src = arg;
    c->wm_checked = c->st.events;
    c->wm_capped = 0;
    if (arg == CORR_NONE)
        return;
    if (lo < c->max_time - c->max_skew_ms) {
        lo = c->max_time - c->max_skew_ms;
        c->wm_capped = 1;
    }
    c->st.watermark = lo - c->lateness_ms;
}

/* Records an accepted event of `source` and moves the watermark. It is recomputed only when
 * it can change: a new source, the event of an inactive source or of the source it comes
 * from that moved that source's newest time, a new newest time while the skew cap holds it,
 * and every WM_RECHECK_EVENTS events (sources going idle). With one source this is max time -
 * lateness, as it always was. grew: this event moved max_time. */
static int wm_update(struct xf_correlator *c, const struct xf_event *ev, uint64_t source, int grew)
{
    uint64_t h = xf_hash64(&source, sizeof source), v;
    size_t pos = hmap_first(&c->src_idx, h);
    struct wsrc *s = NULL;
    int again = 0;
    uint32_t i = CORR_NONE;

    while (hmap_next(&c->src_idx, h, &pos, &v))
        if (c->srcs[v].id == source) {
            i = (uint32_t)v;
            break;
        }
    if (i == CORR_NONE) {
        int rc = grow((void **)&c->srcs, &c->cap_srcs, (size_t)c->n_srcs + 1, sizeof(*c->srcs));
        if (rc)
            return rc;
        if ((rc = hmap_put(&c->src_idx, h, c->n_srcs)))
            return rc;
        i = c->n_srcs++;
        c->srcs[i] = (struct wsrc){.id = source, .max = ev->time};
        again = 1;
    }
    s = &c->srcs[i];
    s->last = c->st.events;
    if (!s->active || (grew && c->wm_capped))
        again = 1;
    if (ev->time > s->max) {
        s->max = ev->time;
        if (i == c->wm_src)
            again = 1;
    }
    if (again || c->st.events - c->wm_checked >= WM_RECHECK_EVENTS)
        wm_recompute(c);
    return 0;
}

static int add(struct xf_correlator *c, const struct xf_event *ev, const struct given *matches,
               uint64_t source)
{
    char hostkey[256] = "";
    uint64_t v;
    size_t pos;
    uint32_t primary;
    int rc;

    if (!c || !ev)
        return XF_EINVAL;
    pos = hmap_first(&c->seen, ev->idhash);
    while (hmap_next(&c->seen, ev->idhash, &pos, &v)) {
        /* The same id at a later time is turned away here, but a store keyed by (time, id)
         * keeps it: remember the id until that later time is swept too, so that
         * xf_correlator_seen knows every stored copy (the sweep's item for the earlier time
         * then deletes nothing). */
        if ((xf_time_t)v < ev->time) {
            hmap_del(&c->seen, ev->idhash, v);
            if ((rc = hmap_put(&c->seen, ev->idhash, (uint64_t)ev->time)) ||
                (rc = wheel_push(&c->seen_wheel, ev->time, ev->idhash, ev->time)))
                return rc;
        }
        c->st.duplicates++;
        return 1;
    }
    rc = hmap_put(&c->seen, ev->idhash, (uint64_t)ev->time);
    if (rc)
        return rc;
    rc = wheel_push(&c->seen_wheel, ev->time, ev->idhash, ev->time);
    if (rc) {
        hmap_del(&c->seen, ev->idhash, (uint64_t)ev->time);
        return rc;
    }
    c->st.events++;
    int grew = ev->time > c->max_time;
    if (grew)
        c->max_time = ev->time;
    if ((rc = wm_update(c, ev, source, grew)))
        return rc;
    /* Maintenance (closing idle incidents, eviction) runs here, at points fixed by the input
     * sequence alone, never at the caller's flush: so a run, and a rebuild from the stored
     * events after a crash, make the same decisions whatever their flush cadence. */
    /* Also every SWEEP_EVERY_EVENTS accepted events: input that is all behind the watermark
     * (an older recording replayed after a newer one) never moves it, and would otherwise
     * never be evicted. */
    if (c->st.watermark != INT64_MIN &&
        (c->last_sweep == INT64_MIN || c->st.watermark - c->last_sweep >= SWEEP_EVERY_MS ||
         c->st.events - c->last_sweep_events >= SWEEP_EVERY_EVENTS)) {
        c->last_sweep = c->st.watermark;
        c->last_sweep_events = c->st.events;
        if ((rc = corr_maintain(c)))
            return rc;
    }
    const char *host = xf_event_get(ev, XF_F_HOST);
    if (host)
        corr_host_norm(host, hostkey, sizeof(hostkey));
    if (!(c->eid = corr_eid_new(ev->id)))
        return XF_ENOMEM;
    rc = learn_from(c, ev, hostkey);
    if (!rc)
        rc = do_nodes(c, ev, hostkey, &primary);
    if (!rc)
        rc = do_direct(c, ev, hostkey);
    c->unresolved = 0;
    if (!rc)
        rc = do_windowed(c, ev, hostkey);
    if (!rc && c->unresolved)
        rc = retry_park(c, ev);
    if (!rc && c->learned)
        rc = retry_replay(c);
    if (!rc && primary != CORR_NONE)
        rc = detect(c, primary, ev, matches);
    corr_eid_drop(c->eid);
    c->eid = NULL;
    return rc;
}

int xf_correlator_seen(const struct xf_correlator *c, const struct xf_event *ev)
{
    uint64_t v;
    size_t pos;

    if (!c || !ev)
        return -1;
    pos = hmap_first(&c->seen, ev->idhash);
    if (hmap_next(&c->seen, ev->idhash, &pos, &v))
        return 1;
    return ev->time >= c->seen_floor ? 0 : -1;
}

int xf_correlator_add(struct xf_correlator *c, const struct xf_event *ev)
{
    return add(c, ev, NULL, 0);
}

int xf_correlator_add_from(struct xf_correlator *c, const struct xf_event *ev, uint64_t source)
{
    return add(c, ev, NULL, source);
}

int xf_correlator_add_matched(struct xf_correlator *c, const struct xf_event *ev,
                              const struct xf_rule_info *const *matches, size_t n)
{
    struct given g = {matches, n};

    if (n && !matches)
        return XF_EINVAL;
    return add(c, ev, &g, 0);
}

int xf_correlator_drain_edges(struct xf_correlator *c, xf_edge_cb cb, void *ud)
{
    int rc = 0;
    size_t i = 0;

    for (; i < c->n_pending; i++) {
        uint32_t k = c->pending[i];
        if (k == CORR_NONE)
            continue;
        struct edge *e = &c->edges[k];
        e->pending = 0;
        if (rc || !cb)
            continue;
        struct xf_graph_edge g = {c->nodes[e->from].key,
                                  c->nodes[e->to].key,
                                  e->a->relation,
                                  e->a->key,
                                  e->a->link,
                                  e->a->confidence,
                                  e->time,
                                  e->event_id};
        rc = cb(&g, ud);
    }
    c->n_pending = 0;
    return rc;
}

void xf_correlator_get_stats(const struct xf_correlator *c, struct xf_correlate_stats *out)
{
    *out = c->st;
}

/* ---- eviction ----------------------------------------------------------------------------- */

static void evict_node(struct xf_correlator *c, uint32_t i)
{
    struct node *n = &c->nodes[i];

    while (n->n_adj)
        edge_remove(c, n->adj[n->n_adj - 1]);
    if (n->nref) /* a hub still named by live edges on other lists: keep it for now */
        return;
    hmap_del(&c->node_idx, xf_hash64(n->key, strlen(n->key)), i);
    if (corr_is_hub(c, n))
        c->st.hubs--;
    node_free(n);
    push_u32(&c->free_nodes, &c->n_free_nodes, &c->cap_free_nodes, i);
    c->st.nodes--;
    c->st.evicted++;
}

/* Runs from corr_maintain after incidents were recomputed (so membership marks are current),
 * once per SWEEP_EVERY_MS of watermark progress. Drops windowed-join entries older than their
 * window behind the watermark, then background nodes (no detection, in no incident)
 * untouched for the retention, then the dedup ids of that age.
 *
 * It makes exactly the changes a walk over every list, node and dedup slot would, in the same
 * order, but looks only at what the time buckets say may be due: a node is queued under a
 * time no later than its t_touch, so every node untouched since before the limit is in a
 * bucket the sweep takes; one touched since is queued again under its t_touch then (a touch
 * costs nothing here). What was found is visited in index order. Nodes that are due but kept
 * (detections, incident members, hubs still named by live edges) go back under their old
 * time and are looked at again by the next sweep, as the full walk did. */
int corr_evict(struct xf_correlator *c)
{
    xf_time_t wm = c->st.watermark;
    int rc;

    if (wm == INT64_MIN)
        return 0;
    if ((rc = wheel_take(c, &c->jl_wheel, wm)))
        return rc;
    c->n_cand = 0;
    for (uint32_t k = 0; k < c->n_wtmp && rc == 0; k++) {
        const struct witem *it = &c->wtmp[k];
        const struct jlist *l = &c->jl[it->a];
        if (!l->h || l->qt != it->t)
            continue; /* freed, or queued again under an older entry */
        int64_t win = c->specs.windowed[l->spec].window_ms;
        if (it->t < wm - win)
            rc = push_u32(&c->cand, &c->n_cand, &c->cap_cand, (uint32_t)it->a);
        else
            rc = wheel_push(&c->jl_wheel, it->t + win, it->a, it->t);
    }
    if (rc)
        return rc;
    cand_sort(c);
    for (uint32_t ci = 0; ci < c->n_cand && rc == 0; ci++) {
        uint32_t i = c->cand[ci];
        struct jlist *l = &c->jl[i];
        int64_t win = c->specs.windowed[l->spec].window_ms;
        xf_time_t lim = wm - win;
        uint32_t k = 0;
        while (k < l->n) {
            if (l->e[k].time < lim) {
                corr_eid_drop(l->e[k].event_id);
                l->e[k] = l->e[--l->n];
                c->st.pending--;
                c->st.evicted++;
            } else {
                k++;
            }
        }
        if (l->n == 0) {
            hmap_del(&c->jidx, l->h, i);
            xf_free(l->e);
            memset(l, 0, sizeof(*l));
            rc = push_u32(&c->free_jl, &c->n_free_jl, &c->cap_free_jl, i);
        } else {
            xf_time_t m = l->e[0].time;
            for (k = 1; k < l->n; k++)
                if (l->e[k].time < m)
                    m = l->e[k].time;
            l->qt = m;
            rc = wheel_push(&c->jl_wheel, m + win, i, m);
        }
    }
    if (rc)
        return rc;
    for (size_t i = 0; i < c->n_retry;) {
        if (c->retry[i].time < wm - c->specs.max_window_ms)
            retry_drop(c, i);
        else
            i++;
    }
    xf_time_t lim = wm - c->retention_ms;
    if ((rc = wheel_take(c, &c->node_wheel, lim)))
        return rc;
    c->n_cand = 0;
    for (uint32_t k = 0; k < c->n_wtmp && rc == 0; k++) {
        uint32_t i = (uint32_t)c->wtmp[k].a;
        const struct node *n = &c->nodes[i];
        if (!n->key)
            continue;
        if (n->t_touch >= lim)
            rc = wheel_push(&c->node_wheel, n->t_touch, i, 0);
        else
            rc = push_u32(&c->cand, &c->n_cand, &c->cap_cand, i);
    }
    if (rc)
        return rc;
    cand_sort(c);
    /* Non-hubs first: removing their edges is what frees the hubs they point at. */
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t ci = 0; ci < c->n_cand; ci++) {
            uint32_t i = c->cand[ci];
            struct node *n = &c->nodes[i];
            if (!n->key || n->n_dets || n->inc != CORR_NONE)
                continue;
            if (pass == 0 && corr_is_hub(c, n))
                continue;
            evict_node(c, i);
        }
    }
    for (uint32_t ci = 0; ci < c->n_cand && rc == 0; ci++) {
        uint32_t i = c->cand[ci];
        if (c->nodes[i].key)
            rc = wheel_push(&c->node_wheel, c->nodes[i].t_touch, i, 0);
    }
    if (rc)
        return rc;
    /* The dedup set keeps ids for the lateness plus retention: a re-read older than that
     * rebuilds the evicted nodes anyway. */
    if ((rc = wheel_take(c, &c->seen_wheel, lim)))
        return rc;
    if (lim > c->seen_floor) /* the watermark may move back; what was forgotten stays so */
        c->seen_floor = lim;
    for (uint32_t k = 0; k < c->n_wtmp && rc == 0; k++) {
        const struct witem *it = &c->wtmp[k];
        if (it->t < lim)
            hmap_del(&c->seen, it->a, (uint64_t)it->t);
        else
            rc = wheel_push(&c->seen_wheel, it->t, it->a, it->t);
    }
    return rc;
}
