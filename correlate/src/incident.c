/*
 * incident.c - from the graph to incidents: causal closure per detection, union of closures
 * that share a node, the incident JSON, and the flush/close bookkeeping.
 *
 * The one thing to know: an incident is NOT a connected component. For each detection
 * (seed) we walk backward to what caused it (parents, writers, deliverers) and forward to
 * what it caused (children, writes, connections), never forward from an ancestor nor
 * backward from a descendant, and never through a hub. Siblings - the other attachments
 * Outlook saved, the recipient who never opened the mail - stay out. Seeds whose closures
 * share a non-hub node are one incident.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "corr_int.h"

struct inc_rec {
    char id[24];
    char *json;
    size_t len;
    xf_time_t first, last;
    int score;
    const char *severity;
    uint32_t *members; /* node indices, for closing */
    size_t n_members;
    uint8_t *desc;  /* node.desc of each member when the JSON was built */
    uint64_t fp;    /* fingerprint of (members, desc), to find the record again */
    uint64_t hash;  /* xf_hash64 of json */
    uint32_t built; /* xf_correlator.gen the JSON reflects */
};

/* The closure of one seed as last computed: reusable while no node it reached (pruned ones
 * included) has changed since, because a closure reads nothing but those nodes. */
struct seed_cache {
    uint32_t node;
    uint64_t h; /* node.h, so a reused slot never matches */
    uint32_t built;
    uint32_t *reached; /* every node the walks visited */
    uint32_t n_reached;
    uint32_t *cl;  /* the closure after pruning, in walk order */
    uint8_t *desc; /* cl[i] reached forward */
    uint32_t n_cl;
};

/* What flush last told its caller about an incident, to report only changes. */
struct reported {
    char id[24];
    uint64_t hash; /* xf_hash64 of the JSON reported */
};

struct inc_state {
    uint32_t epoch;
    struct inc_rec *cur;
    size_t n_cur;
    struct inc_rec *closed;
    size_t n_closed, cap_closed;
    struct reported *rep; /* sorted by id (the first n_sorted during a flush) */
    size_t n_rep, cap_rep, n_sorted;
    struct seed_cache *sc; /* one per seed of the last computation */
    size_t n_sc;
    struct hmap sc_idx; /* seed node index -> slot in sc */
};

static const char *const level_names[] = {"informational", "low", "medium", "high", "critical"};

int corr_inc_create(struct xf_correlator *c)
{
    c->inc = xf_calloc(1, sizeof(*c->inc));
    if (!c->inc)
        return XF_ENOMEM;
    if (hmap_init(&c->inc->sc_idx, 64)) {
        xf_free(c->inc);
        c->inc = NULL;
        return XF_ENOMEM;
    }
    return 0;
}

static void rec_close(struct inc_rec *r)
{
    xf_free(r->json);
    xf_free(r->members);
    xf_free(r->desc);
}

static void sc_close(struct seed_cache *sc)
{
    xf_free(sc->reached);
    xf_free(sc->cl);
    xf_free(sc->desc);
    memset(sc, 0, sizeof(*sc));
}

static void scs_free(struct seed_cache *sc, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sc_close(&sc[i]);
    xf_free(sc);
}

static void recs_free(struct inc_rec *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rec_close(&r[i]);
    xf_free(r);
}

void corr_inc_destroy(struct xf_correlator *c)
{
    if (!c->inc)
        return;
    recs_free(c->inc->cur, c->inc->n_cur);
    recs_free(c->inc->closed, c->inc->n_closed);
    scs_free(c->inc->sc, c->inc->n_sc);
    hmap_close(&c->inc->sc_idx);
    xf_free(c->inc->rep);
    xf_free(c->inc);
    c->inc = NULL;
}

/* ---- a growable u32 vector ---------------------------------------------------------------- */

struct u32v {
    uint32_t *a;
    size_t n, cap;
};

/* 1 if event id v is the evidence of an edge of the incident (edges) touching node ni. */
static int is_edge_evidence(const struct xf_correlator *c, const struct u32v *edges, uint32_t ni,
                            const char *v)
{
    for (size_t k = 0; k < edges->n; k++) {
        const struct edge *e = &c->edges[edges->a[k]];
        if ((e->from == ni || e->to == ni) && strcmp(e->event_id, v) == 0)
            return 1;
    }
    return 0;
}

static int u32v_push(struct u32v *v, uint32_t x)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 64;
        uint32_t *na = xf_realloc(v->a, nc * sizeof(*na));
        if (!na)
            return XF_ENOMEM;
        v->a = na;
        v->cap = nc;
    }
    v->a[v->n++] = x;
    return 0;
}

struct u8v {
    uint8_t *a;
    size_t n, cap;
};

static int u8v_push(struct u8v *v, uint8_t x)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 64;
        uint8_t *na = xf_realloc(v->a, nc);
        if (!na)
            return XF_ENOMEM;
        v->a = na;
        v->cap = nc;
    }
    v->a[v->n++] = x;
    return 0;
}

/* ---- closure ------------------------------------------------------------------------------ */

static int expandable(const struct xf_correlator *c, const struct node *n)
{
    return !corr_is_hub(c, n) && !corr_kinds[n->kind].leaf;
}

static int in_closure(const struct node *n, uint32_t ep)
{
    return n->mark == ep || n->mark2 == ep;
}

/* Walks from the start nodes in one direction (back: along incoming edges). mark selects the
 * visited field (mark for ancestors, mark2 for descendants). Every node reached is appended to
 * cl once (when it was in neither set before). */
static int walk(struct xf_correlator *c, const struct u32v *start, int back, uint32_t ep,
                struct u32v *q, struct u32v *cl)
{
    int rc = 0;

    q->n = 0;
    for (size_t i = 0; i < start->n && rc == 0; i++) {
        struct node *n = &c->nodes[start->a[i]];
        uint32_t *m = back ? &n->mark : &n->mark2;
        if (*m == ep)
            continue;
        if (!in_closure(n, ep))
            rc = u32v_push(cl, start->a[i]);
        *m = ep;
        if (!rc)
            rc = u32v_push(q, start->a[i]);
    }
    for (size_t h = 0; h < q->n && rc == 0; h++) {
        struct node *x = &c->nodes[q->a[h]];
        if (!expandable(c, x))
            continue;
        for (uint32_t k = 0; k < x->n_adj && rc == 0; k++) {
            const struct edge *e = &c->edges[x->adj[k]];
            uint32_t yi;
            if (back && e->to == q->a[h])
                yi = e->from;
            else if (!back && e->from == q->a[h])
                yi = e->to;
            else
                continue;
            struct node *y = &c->nodes[yi];
            uint32_t *m = back ? &y->mark : &y->mark2;
            if (*m == ep)
                continue;
            if (!in_closure(y, ep))
                rc = u32v_push(cl, yi);
            *m = ep;
            if (!rc)
                rc = u32v_push(q, yi);
        }
    }
    return rc;
}

/* Drops placeholder file and hash nodes that nothing in the closure wrote, delivered or
 * hashed and that hold no event of their own (the image file of every process, say). Runs
 * to a fixed point: a hash that only reached a dropped file goes too. */
static void prune(struct xf_correlator *c, struct u32v *cl, size_t from, uint32_t ep)
{
    int changed = 1;

    while (changed) {
        changed = 0;
        for (size_t i = from; i < cl->n; i++) {
            uint32_t xi = cl->a[i];
            struct node *x = &c->nodes[xi];
            if (!in_closure(x, ep) || (x->kind != K_FILE && x->kind != K_HASH) || x->ids.n ||
                x->act.n)
                continue;
            int fed = 0;
            if (!corr_is_hub(c, x)) {
                for (uint32_t k = 0; k < x->n_adj && !fed; k++) {
                    const struct edge *e = &c->edges[x->adj[k]];
                    fed = e->to == xi && in_closure(&c->nodes[e->from], ep);
                }
            }
            if (!fed) {
                x->mark = x->mark2 = 0;
                changed = 1;
            }
        }
    }
    size_t w = from;
    for (size_t i = from; i < cl->n; i++)
        if (in_closure(&c->nodes[cl->a[i]], ep))
            cl->a[w++] = cl->a[i];
    cl->n = w;
}

static uint32_t uf_find(uint32_t *p, uint32_t x)
{
    while (p[x] != x) {
        p[x] = p[p[x]];
        x = p[x];
    }
    return x;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- JSON --------------------------------------------------------------------------------- */

static xf_time_t node_time(const struct node *n)
{
    if (n->t_own != INT64_MAX)
        return n->t_own;
    return n->t_act_min != INT64_MAX ? n->t_act_min : n->t_ref;
}

/* qsort has no context argument; thread-local so shards on different threads never share it. */
static _Thread_local const struct xf_correlator *sort_c;

static int cmp_nodes(const void *a, const void *b)
{
    const struct node *x = &sort_c->nodes[*(const uint32_t *)a];
    const struct node *y = &sort_c->nodes[*(const uint32_t *)b];
    xf_time_t tx = node_time(x), ty = node_time(y);

    if (tx != ty)
        return tx < ty ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int cmp_nodes_inc(const void *a, const void *b)
{
    const struct node *x = &sort_c->nodes[*(const uint32_t *)a];
    const struct node *y = &sort_c->nodes[*(const uint32_t *)b];

    if (x->t_inc != y->t_inc)
        return x->t_inc < y->t_inc ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int cmp_edges(const void *a, const void *b)
{
    const struct edge *x = &sort_c->edges[*(const uint32_t *)a];
    const struct edge *y = &sort_c->edges[*(const uint32_t *)b];
    uint32_t fx = sort_c->nodes[x->from].ord, fy = sort_c->nodes[y->from].ord;
    uint32_t tx = sort_c->nodes[x->to].ord, ty = sort_c->nodes[y->to].ord;

    if (fx != fy)
        return fx < fy ? -1 : 1;
    if (tx != ty)
        return tx < ty ? -1 : 1;
    return strcmp(x->a->relation, y->a->relation);
}

struct det_ref {
    const struct det *d;
};

static int cmp_dets(const void *a, const void *b)
{
    const struct det *x = ((const struct det_ref *)a)->d, *y = ((const struct det_ref *)b)->d;
    int r;

    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    r = strcmp(x->rule_id, y->rule_id);
    return r ? r : strcmp(x->event_id, y->event_id);
}

/* A sorted set of strings, for hosts/users/techniques. */
struct strset {
    const char **a;
    size_t n, cap;
};

static int strset_add(struct strset *s, const char *v)
{
    if (!v || !*v)
        return 0;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->a[i], v) == 0)
            return 0;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        const char **na = xf_realloc(s->a, nc * sizeof(*na));
        if (!na)
            return XF_ENOMEM;
        s->a = na;
        s->cap = nc;
    }
    s->a[s->n++] = v;
    return 0;
}

static json_t *strset_json(struct strset *s)
{
    json_t *arr = json_array();

    if (s->n)
        qsort(s->a, s->n, sizeof(*s->a), cmp_str_ptr);
    for (size_t i = 0; arr && i < s->n; i++)
        json_array_append_new(arr, json_string(s->a[i]));
    return arr;
}

/* Service identities and machine accounts are not who the incident happened to. */
static int user_is_person(const char *u)
{
    if (!u || !*u)
        return 0;
    size_t n = strlen(u);
    if (u[n - 1] == '$')
        return 0;
    return !xf_strncaseeq(u, "NT AUTHORITY\\", 13) && !xf_strncaseeq(u, "NT-AUTORIT", 10) &&
           !xf_strcaseeq(u, "SYSTEM") && !xf_strcaseeq(u, "LOCAL SERVICE") &&
           !xf_strcaseeq(u, "NETWORK SERVICE");
}

static const char *entity_of(const struct node *n)
{
    const char *p = strchr(n->key, ':') + 1;

    if (corr_kinds[n->kind].host_scoped) {
        const char *bar = strchr(p, '|');
        if (bar)
            p = bar + 1;
    }
    return p;
}

enum {
    ST_DELIVERY,
    ST_EXECUTION,
    ST_DOWNLOAD,
    ST_C2,
    ST_LATERAL,
    ST_COLLECTION,
    ST_SPAM,
    ST__COUNT
};
static const char *const stage_names[ST__COUNT] = {
    "delivery", "execution", "download", "c2", "lateral_movement", "collection", "spam"};

static void stages_from_tactic(const char *t, int *st)
{
    if (strcmp(t, "execution") == 0)
        st[ST_EXECUTION] = 1;
    else if (strcmp(t, "command-and-control") == 0 || strcmp(t, "command_and_control") == 0)
        st[ST_C2] = 1;
    else if (strcmp(t, "lateral-movement") == 0 || strcmp(t, "lateral_movement") == 0)
        st[ST_LATERAL] = 1;
    else if (strcmp(t, "collection") == 0 || strcmp(t, "credential-access") == 0 ||
             strcmp(t, "credential_access") == 0)
        st[ST_COLLECTION] = 1;
    else if (strcmp(t, "initial-access") == 0 || strcmp(t, "initial_access") == 0)
        st[ST_DELIVERY] = 1;
}

static void stages_from_technique(const char *t, int *st)
{
    if (strncmp(t, "T1566", 5) == 0)
        st[ST_DELIVERY] = 1;
    else if (strcmp(t, "T1105") == 0)
        st[ST_DOWNLOAD] = 1;
    else if (strncmp(t, "T1021", 5) == 0 || strcmp(t, "T1570") == 0)
        st[ST_LATERAL] = 1;
    else if (strncmp(t, "T1071", 5) == 0)
        st[ST_C2] = 1;
    else if (strncmp(t, "T1114", 5) == 0 || strncmp(t, "T1555", 5) == 0)
        st[ST_COLLECTION] = 1;
}

/* Builds the JSON of the incident whose nodes are set->a (they carry ord == 0 on entry;
 * this sets ord to the 1-based node number and resets it before returning). */
static int build_json(struct xf_correlator *c, struct u32v *set, struct inc_rec *r)
{
    struct u32v edges = {0};
    struct det_ref *dets = NULL;
    size_t n_dets = 0, cap_dets = 0;
    struct strset hosts = {0}, users = {0}, techs = {0}, hostkeys = {0};
    json_t *root = NULL;
    char tb[XF_TIME_BUFSZ];
    int rc = 0, st[ST__COUNT] = {0};
    int max_level = 0;
    xf_time_t first = INT64_MAX, last = INT64_MIN;

    sort_c = c;
    /* Membership first; numbering once every node's time in this incident is known. */
    for (size_t i = 0; i < set->n; i++) {
        struct node *x = &c->nodes[set->a[i]];
        x->ord = 1;
        x->t_inc = x->t_own;
        if (x->t_inc == INT64_MAX && x->desc && !corr_is_hub(c, x))
            x->t_inc = x->t_act_min;
    }

    for (size_t i = 0; i < set->n && rc == 0; i++) {
        uint32_t xi = set->a[i];
        struct node *x = &c->nodes[xi];
        int hub = corr_is_hub(c, x);
        if (!hub && x->t_own != INT64_MAX) {
            if (x->t_own < first)
                first = x->t_own;
            if (x->t_own_max > last)
                last = x->t_own_max;
        }
        if (!hub && x->desc && x->t_act_min != INT64_MAX) {
            if (x->t_act_min < first)
                first = x->t_act_min;
            if (x->t_act_max > last)
                last = x->t_act_max;
        }
        for (size_t k = 0; k < x->n_dets && rc == 0; k++) {
            if (n_dets == cap_dets) {
                cap_dets = cap_dets ? cap_dets * 2 : 16;
                struct det_ref *nd = xf_realloc(dets, cap_dets * sizeof(*nd));
                if (!nd) {
                    rc = XF_ENOMEM;
                    break;
                }
                dets = nd;
            }
            dets[n_dets++].d = &x->dets[k];
        }
        if (x->kind == K_MAIL)
            st[ST_DELIVERY] = 1;
        if ((x->kind == K_PROC || x->kind == K_SVC) && x->n_dets)
            st[ST_EXECUTION] = 1;
        if (x->kind == K_PROC || x->kind == K_LOGON || x->kind == K_ALERT || x->kind == K_SVC ||
            x->kind == K_HOST) {
            if (x->kind != K_HOST || x->ids.n) {
                if (!rc)
                    rc = strset_add(&hostkeys, x->host);
            }
            if (!rc && x->kind == K_PROC && !hub && user_is_person(x->user))
                rc = strset_add(&users, x->user);
        }
        if (hub)
            continue;
        for (uint32_t k = 0; k < x->n_adj && rc == 0; k++) {
            const struct edge *e = &c->edges[x->adj[k]];
            uint32_t oi = e->from == xi ? e->to : e->from;
            const struct node *o = &c->nodes[oi];
            if (!o->ord || (!corr_is_hub(c, o) && e->from != xi))
                continue;
            rc = u32v_push(&edges, x->adj[k]);
        }
    }
    if (rc)
        goto out;
    /* A node with no event of its own here (a placeholder parent, an address) is placed at
     * its first link in this incident, not at the first time anything mentioned it. */
    for (size_t i = 0; i < edges.n; i++) {
        const struct edge *e = &c->edges[edges.a[i]];
        struct node *ends[2] = {&c->nodes[e->from], &c->nodes[e->to]};
        for (int k = 0; k < 2; k++) {
            struct node *x = ends[k];
            int own = x->t_own != INT64_MAX ||
                      (x->desc && !corr_is_hub(c, x) && x->t_act_min != INT64_MAX);
            if (!own && e->time < x->t_inc)
                x->t_inc = e->time;
        }
    }
    for (size_t i = 0; i < set->n; i++) {
        struct node *x = &c->nodes[set->a[i]];
        if (x->t_inc == INT64_MAX)
            x->t_inc = x->t_ref;
    }
    if (set->n)
        qsort(set->a, set->n, sizeof(*set->a), cmp_nodes_inc);
    for (size_t i = 0; i < set->n; i++)
        c->nodes[set->a[i]].ord = (uint32_t)i + 1;
    if (edges.n)
        qsort(edges.a, edges.n, sizeof(*edges.a), cmp_edges);
    if (n_dets)
        qsort(dets, n_dets, sizeof(*dets), cmp_dets);
    for (size_t i = 0; i < edges.n && rc == 0; i++) {
        const struct edge *e = &c->edges[edges.a[i]];
        if (e->time < first)
            first = e->time;
        if (e->time > last)
            last = e->time;
        if (e->a->technique)
            rc = strset_add(&techs, e->a->technique);
        const struct node *f = &c->nodes[e->from], *t = &c->nodes[e->to];
        if (strcmp(e->a->relation, "downloaded") == 0)
            st[ST_DOWNLOAD] = 1;
        else if (strcmp(e->a->relation, "opened") == 0 || strcmp(e->a->relation, "executed") == 0) {
            st[ST_EXECUTION] = 1;
            /* A file a process wrote and another ran: the download stage. */
            for (uint32_t k = 0; k < f->n_adj; k++) {
                const struct edge *w = &c->edges[f->adj[k]];
                if (w->to == e->from && strcmp(w->a->relation, "wrote") == 0 &&
                    c->nodes[w->from].ord && c->nodes[w->from].kind == K_PROC)
                    st[ST_DOWNLOAD] = 1;
            }
        } else if (strcmp(e->a->relation, "connected") == 0 && t->kind == K_IP)
            st[ST_C2] = 1;
        else if (strcmp(e->a->relation, "lateral") == 0)
            st[ST_LATERAL] = 1;
        else if (strcmp(e->a->relation, "sent") == 0)
            st[ST_SPAM] = 1;
        else if (strcmp(e->a->relation, "delivered") == 0 || strcmp(e->a->relation, "clicked") == 0)
            st[ST_DELIVERY] = 1;
        else if (strcmp(e->a->relation, "alerted") == 0 && t->kind == K_PROC)
            st[ST_EXECUTION] = 1;
    }
    if (rc || n_dets == 0)
        goto out;
    for (size_t i = 0; i < n_dets && rc == 0; i++) {
        const struct det *d = dets[i].d;
        if (d->level > max_level)
            max_level = d->level;
        if (d->time < first)
            first = d->time;
        if (d->time > last)
            last = d->time;
        for (size_t k = 0; k < d->n_tags && rc == 0; k++) {
            if (d->tags[k][0] == 'T') {
                rc = strset_add(&techs, d->tags[k] + 2);
                stages_from_technique(d->tags[k] + 2, st);
            } else {
                stages_from_tactic(d->tags[k] + 2, st);
            }
        }
    }
    for (size_t i = 0; i < techs.n; i++)
        stages_from_technique(techs.a[i], st);
    if (rc)
        goto out;

    /* One display name per host: the longest spelling seen (the FQDN), then the smallest. */
    for (size_t i = 0; i < hostkeys.n && rc == 0; i++) {
        char ki[256], kj[256];
        const char *best = hostkeys.a[i];
        corr_host_norm(best, ki, sizeof(ki));
        int dup = 0;
        for (size_t j = 0; j < hostkeys.n; j++) {
            corr_host_norm(hostkeys.a[j], kj, sizeof(kj));
            if (strcmp(ki, kj) != 0)
                continue;
            size_t lb = strlen(best), lj = strlen(hostkeys.a[j]);
            if (lj > lb || (lj == lb && strcmp(hostkeys.a[j], best) < 0))
                best = hostkeys.a[j];
            if (j < i)
                dup = 1;
        }
        if (!dup)
            rc = strset_add(&hosts, best);
    }

    int n_stages = 0;
    for (int i = 0; i < ST__COUNT; i++)
        n_stages += st[i];
    static const int base[] = {10, 30, 50, 70, 85};
    int score = base[max_level] + 5 * (n_stages > 1 ? n_stages - 1 : 0) + (hosts.n > 1 ? 5 : 0);
    if (score > 100)
        score = 100;
    const char *sev = score >= 85   ? "critical"
                      : score >= 65 ? "high"
                      : score >= 40 ? "medium"
                                    : "low";
    uint64_t idh = xf_hash64(dets[0].d->event_id, strlen(dets[0].d->event_id));
    snprintf(r->id, sizeof(r->id), "inc-%016llx", (unsigned long long)idh);

    root = json_object();
    if (!root) {
        rc = XF_ENOMEM;
        goto out;
    }
    json_object_set_new(root, "id", json_string(r->id));
    json_object_set_new(root, "tenant", json_string(c->tenant));
    json_object_set_new(root, "severity", json_string(sev));
    json_object_set_new(root, "score", json_integer(score));
    json_object_set_new(root, "first_seen", json_string(xf_time_format(first, tb)));
    json_object_set_new(root, "last_seen", json_string(xf_time_format(last, tb)));
    json_object_set_new(root, "hosts", strset_json(&hosts));
    json_object_set_new(root, "users", strset_json(&users));
    json_object_set_new(root, "techniques", strset_json(&techs));
    json_t *ja = json_array();
    for (int i = 0; i < ST__COUNT; i++)
        if (st[i])
            json_array_append_new(ja, json_string(stage_names[i]));
    json_object_set_new(root, "stages", ja);
    ja = json_array();
    for (size_t i = 0; i < n_dets; i++) {
        const struct det *d = dets[i].d;
        if (i && strcmp(d->rule_id, dets[i - 1].d->rule_id) == 0 &&
            strcmp(d->event_id, dets[i - 1].d->event_id) == 0)
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "rule_id", json_string(d->rule_id));
        json_object_set_new(o, "title", json_string(d->title));
        json_object_set_new(o, "level", json_string(level_names[d->level]));
        json_object_set_new(o, "event_id", json_string(d->event_id));
        json_array_append_new(ja, o);
    }
    json_object_set_new(root, "alerts", ja);
    ja = json_array();
    for (size_t i = 0; i < set->n; i++) {
        const struct node *x = &c->nodes[set->a[i]];
        char nid[24];
        snprintf(nid, sizeof(nid), "n%zu", i + 1);
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(nid));
        json_object_set_new(o, "kind", json_string(corr_kinds[x->kind].json));
        json_object_set_new(o, "entity", json_string(entity_of(x)));
        json_object_set_new(o, "host", json_string(x->host ? x->host : ""));
        json_object_set_new(o, "label", json_string(x->label ? x->label : ""));
        json_object_set_new(o, "time", json_string(xf_time_format_ms(x->t_inc, tb)));
        json_t *ids = json_array();
        int act = x->desc && !corr_is_hub(c, x);
        uint64_t more = x->ids.more + (act ? x->act.more : 0);
        /* merge the two sorted sets; where the node's activity is not listed (an ancestor),
         * still list the activity that is the evidence of an edge of this incident (the
         * source host's connection behind a lateral edge) */
        size_t a = 0, b = 0, nb = x->act.n;
        while (a < x->ids.n || b < nb) {
            int cmp = a == x->ids.n ? 1 : b == nb ? -1 : strcmp(x->ids.a[a], x->act.a[b]);
            const char *v = cmp <= 0 ? x->ids.a[a++] : x->act.a[b++];
            if (cmp == 0)
                b++;
            if (cmp > 0 && !act && !is_edge_evidence(c, &edges, set->a[i], v))
                continue;
            json_array_append_new(ids, json_string(v));
        }
        json_object_set_new(o, "event_ids", ids);
        if (more)
            json_object_set_new(o, "event_ids_omitted", json_integer((json_int_t)more));
        json_array_append_new(ja, o);
    }
    json_object_set_new(root, "nodes", ja);
    ja = json_array();
    for (size_t i = 0; i < edges.n; i++) {
        const struct edge *e = &c->edges[edges.a[i]];
        char f[24], t[24];
        snprintf(f, sizeof(f), "n%u", c->nodes[e->from].ord);
        snprintf(t, sizeof(t), "n%u", c->nodes[e->to].ord);
        json_t *o = json_object();
        json_object_set_new(o, "from", json_string(f));
        json_object_set_new(o, "to", json_string(t));
        json_object_set_new(o, "relation", json_string(e->a->relation));
        json_object_set_new(o, "key", json_string(e->a->key));
        json_object_set_new(o, "confidence", json_real(e->a->confidence));
        json_array_append_new(ja, o);
    }
    json_object_set_new(root, "edges", ja);
    json_object_set_new(root, "actions", json_array());
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(4));
    if (!s) {
        rc = XF_ENOMEM;
        goto out;
    }
    r->len = strlen(s);
    r->json = xf_strndup(s, r->len);
    free(s); /* jansson allocates with malloc; our copy goes through xf_malloc */
    if (!r->json) {
        rc = XF_ENOMEM;
        goto out;
    }
    r->first = first;
    r->last = last;
    r->score = score;
    r->severity = sev;
out:
    for (size_t i = 0; i < set->n; i++)
        c->nodes[set->a[i]].ord = 0;
    json_decref(root);
    xf_free(edges.a);
    xf_free(dets);
    xf_free(hosts.a);
    xf_free(users.a);
    xf_free(techs.a);
    xf_free(hostkeys.a);
    return rc;
}

static int cmp_recs(const void *a, const void *b)
{
    const struct inc_rec *x = a, *y = b;

    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* ---- reuse between computations ---------------------------------------------------------- */

static struct seed_cache *sc_find(struct inc_state *s, uint32_t node)
{
    uint64_t v;
    size_t pos = hmap_first(&s->sc_idx, (uint64_t)node + 2);

    while (hmap_next(&s->sc_idx, (uint64_t)node + 2, &pos, &v))
        if (s->sc[v].node == node)
            return &s->sc[v];
    return NULL;
}

static int sc_valid(const struct xf_correlator *c, const struct seed_cache *sc)
{
    for (uint32_t i = 0; i < sc->n_reached; i++) {
        const struct node *n = &c->nodes[sc->reached[i]];
        if (!n->key || n->mod > sc->built)
            return 0;
    }
    return 1;
}

static int sc_keep_reached(struct seed_cache *sc, uint32_t node, uint64_t h, uint32_t built,
                           const uint32_t *a, size_t n)
{
    sc->node = node;
    sc->h = h;
    sc->built = built;
    sc->reached = xf_malloc((n ? n : 1) * sizeof(*a));
    if (!sc->reached)
        return XF_ENOMEM;
    memcpy(sc->reached, a, n * sizeof(*a));
    sc->n_reached = (uint32_t)n;
    return 0;
}

static int sc_keep_closure(struct seed_cache *sc, const uint32_t *a, const uint8_t *desc, size_t n)
{
    sc->cl = xf_malloc((n ? n : 1) * sizeof(*a));
    sc->desc = xf_malloc(n ? n : 1);
    if (!sc->cl || !sc->desc)
        return XF_ENOMEM;
    memcpy(sc->cl, a, n * sizeof(*a));
    memcpy(sc->desc, desc, n);
    sc->n_cl = (uint32_t)n;
    return 0;
}

/* The caches of this computation replace the last ones (what was not reused is freed). */
static int sc_replace(struct inc_state *s, struct seed_cache *sc, size_t n)
{
    scs_free(s->sc, s->n_sc);
    s->sc = sc;
    s->n_sc = n;
    hmap_close(&s->sc_idx);
    if (hmap_init(&s->sc_idx, n * 2 + 16))
        return XF_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (hmap_put(&s->sc_idx, (uint64_t)sc[i].node + 2, i))
            return XF_ENOMEM;
    return 0;
}

static uint64_t set_fingerprint(const struct xf_correlator *c, const struct u32v *set)
{
    uint64_t h = xf_hash64(set->a, set->n * sizeof(*set->a));

    for (size_t i = 0; i < set->n; i++)
        h = h * 31 + c->nodes[set->a[i]].desc;
    return h;
}

/* The record of the last computation with exactly these members, with the same desc marks,
 * none of them changed since its JSON was built; NULL when there is none. */
static struct inc_rec *rec_reusable(const struct xf_correlator *c, uint64_t fp,
                                    const struct u32v *set)
{
    const struct inc_state *s = c->inc;

    for (size_t i = 0; i < s->n_cur; i++) {
        struct inc_rec *r = &s->cur[i];
        if (!r->json || r->fp != fp || r->n_members != set->n ||
            memcmp(r->members, set->a, set->n * sizeof(*set->a)) != 0)
            continue;
        for (size_t k = 0; k < set->n; k++) {
            const struct node *x = &c->nodes[set->a[k]];
            if (x->jmod > r->built || x->desc != r->desc[k])
                return NULL;
        }
        return r;
    }
    return NULL;
}

/* Recomputes every incident into *out (sorted by first_seen, id). */
static int compute(struct xf_correlator *c, struct inc_rec **out, size_t *n_out)
{
    struct inc_state *s = c->inc;
    struct u32v seeds = {0}, cl = {0}, q = {0}, start = {0}, set = {0};
    struct u8v cl_desc = {0};
    size_t *cl_off = NULL;
    uint32_t *parent = NULL, *root_inc = NULL;
    struct inc_rec *recs = NULL;
    struct seed_cache *new_sc = NULL;
    size_t n_recs = 0;
    uint32_t built = c->gen++; /* changes from now on are stamped later than this */
    int rc = 0;

    *out = NULL;
    *n_out = 0;
    /* Only what the last computation touched is reset, and marks are epochs that only grow,
     * so a recomputation costs the size of the incidents, not of the graph. */
    for (size_t i = 0; i < s->n_cur; i++) {
        for (size_t k = 0; k < s->cur[i].n_members; k++) {
            struct node *n = &c->nodes[s->cur[i].members[k]];
            n->inc = CORR_NONE;
            n->desc = 0;
            n->member = 0;
        }
    }
    for (size_t i = 0; i < s->n_sc; i++)
        for (uint32_t k = 0; k < s->sc[i].n_reached; k++)
            c->nodes[s->sc[i].reached[k]].watched = 0;
    /* Seeds: drop entries whose node lost its detections or was freed, and duplicates left
     * by a freed slot that was reused. */
    for (uint32_t i = 0; i < c->n_seeds; i++)
        c->nodes[c->seeds[i]].listed = 0;
    uint32_t w = 0;
    for (uint32_t i = 0; i < c->n_seeds && rc == 0; i++) {
        struct node *n = &c->nodes[c->seeds[i]];
        if (!n->key || !n->n_dets || n->listed)
            continue;
        n->listed = 1;
        c->seeds[w++] = c->seeds[i];
        rc = u32v_push(&seeds, c->seeds[i]);
    }
    c->n_seeds = w;
    if (s->epoch > UINT32_MAX - 2 * (seeds.n + 2)) {
        /* epochs wrap: start again from clean marks */
        for (uint32_t i = 0; i < c->n_nodes; i++)
            c->nodes[i].mark = c->nodes[i].mark2 = 0;
        s->epoch = 0;
    }
    if (rc || seeds.n == 0)
        goto out;
    sort_c = c;
    if (seeds.n)
        qsort(seeds.a, seeds.n, sizeof(*seeds.a), cmp_nodes);
    cl_off = xf_calloc(seeds.n + 1, sizeof(*cl_off));
    parent = xf_calloc(seeds.n, sizeof(*parent));
    root_inc = xf_calloc(seeds.n, sizeof(*root_inc));
    new_sc = xf_calloc(seeds.n, sizeof(*new_sc));
    if (!cl_off || !parent || !root_inc || !new_sc) {
        rc = XF_ENOMEM;
        goto out;
    }
    /* Closures are computed with an epoch per seed; the 'inc' field holds, during this loop,
     * the first seed that claimed a non-hub node (the union-find link). A seed whose cached
     * closure reached only unchanged nodes reuses it. */
    for (size_t k = 0; k < seeds.n && rc == 0; k++) {
        uint32_t ep = ++s->epoch;
        struct node *sn = &c->nodes[seeds.a[k]];
        struct seed_cache *old = sc_find(s, seeds.a[k]);
        struct seed_cache *nsc = &new_sc[k];
        /* the key's hash tells whether the slot still holds the node the cache was made for */
        uint64_t sh = xf_hash64(sn->key, strlen(sn->key));
        parent[k] = (uint32_t)k;
        cl_off[k] = cl.n;
        if (old && old->h == sh && sc_valid(c, old)) {
            *nsc = *old;
            memset(old, 0, sizeof(*old));
            old->node = CORR_NONE;
            for (uint32_t i = 0; i < nsc->n_cl && rc == 0; i++) {
                rc = u32v_push(&cl, nsc->cl[i]);
                if (!rc)
                    rc = u8v_push(&cl_desc, nsc->desc[i]);
            }
            if (rc)
                break;
        } else {
            start.n = 0;
            rc = u32v_push(&start, seeds.a[k]);
            /* An alert names what it is about: that process (or host) is a seed too. */
            if (sn->kind == K_ALERT) {
                for (uint32_t a = 0; a < sn->n_adj && rc == 0; a++) {
                    const struct edge *e = &c->edges[sn->adj[a]];
                    if (e->from == seeds.a[k])
                        rc = u32v_push(&start, e->to);
                }
            }
            if (!rc)
                rc = walk(c, &start, 1, ep, &q, &cl);
            if (!rc)
                rc = walk(c, &start, 0, ep, &q, &cl);
            if (!rc)
                rc =
                    sc_keep_reached(nsc, seeds.a[k], sh, built, cl.a + cl_off[k], cl.n - cl_off[k]);
            if (rc)
                break;
            prune(c, &cl, cl_off[k], ep);
            for (size_t i = cl_off[k]; i < cl.n && rc == 0; i++)
                rc = u8v_push(&cl_desc, c->nodes[cl.a[i]].mark2 == ep);
            if (!rc)
                rc =
                    sc_keep_closure(nsc, cl.a + cl_off[k], cl_desc.a + cl_off[k], cl.n - cl_off[k]);
            if (rc)
                break;
        }
        for (size_t i = cl_off[k]; i < cl.n; i++) {
            struct node *x = &c->nodes[cl.a[i]];
            /* A hub carries no connectivity, except that a detection on the hub itself
             * belongs with every closure that reaches it. Nor does a logon session: a user's
             * session lasts for days, and two attacks a day apart in it are two incidents
             * (they still share the session node as context). Likewise a leaf (an IP, a
             * host): two intrusions that reach the same C2 address or come from the same
             * source address are two incidents that share an indicator, not one. */
            if ((corr_is_hub(c, x) || x->kind == K_LOGON || corr_kinds[x->kind].leaf) && !x->n_dets)
                continue;
            if (x->inc == CORR_NONE) {
                x->inc = (uint32_t)k;
            } else {
                uint32_t ra = uf_find(parent, x->inc), rb = uf_find(parent, (uint32_t)k);
                if (ra != rb)
                    parent[ra > rb ? ra : rb] = ra < rb ? ra : rb;
            }
        }
    }
    cl_off[seeds.n] = cl.n;
    if (rc)
        goto out;
    rc = sc_replace(s, new_sc, seeds.n);
    new_sc = NULL;
    if (rc)
        goto out;
    /* Without this a closure could go stale: a mail that arrives after the attachment's
     * hash was pruned links the hash, and through it the recipients' closures, yet touches
     * no member, and nothing would recompute. */
    for (size_t i = 0; i < s->n_sc; i++) {
        for (uint32_t k = 0; k < s->sc[i].n_reached; k++) {
            struct node *x = &c->nodes[s->sc[i].reached[k]];
            x->watched = x->key && !corr_is_hub(c, x);
        }
    }
    for (size_t i = 0; i < cl.n; i++)
        c->nodes[cl.a[i]].inc = CORR_NONE;
    size_t n_groups = 0;
    for (size_t k = 0; k < seeds.n; k++) {
        root_inc[k] = CORR_NONE;
        if (uf_find(parent, (uint32_t)k) == k)
            root_inc[k] = (uint32_t)n_groups++;
    }
    recs = xf_calloc(n_groups ? n_groups : 1, sizeof(*recs));
    if (!recs) {
        rc = XF_ENOMEM;
        goto out;
    }
    for (size_t g = 0; g < seeds.n && rc == 0; g++) {
        if (root_inc[g] == CORR_NONE)
            continue;
        uint32_t ep = ++s->epoch;
        set.n = 0;
        for (size_t k = 0; k < seeds.n && rc == 0; k++) {
            if (uf_find(parent, (uint32_t)k) != g)
                continue;
            for (size_t i = cl_off[k]; i < cl_off[k + 1] && rc == 0; i++) {
                struct node *x = &c->nodes[cl.a[i]];
                if (cl_desc.a[i])
                    x->desc = 1;
                if (x->mark2 == ep)
                    continue;
                x->mark2 = ep;
                x->member = 1;
                x->inc = root_inc[g];
                rc = u32v_push(&set, cl.a[i]);
            }
        }
        if (rc)
            break;
        struct inc_rec *r = &recs[n_recs];
        uint64_t fp = set_fingerprint(c, &set);
        struct inc_rec *same = rec_reusable(c, fp, &set);
        if (same) {
            /* nothing the JSON reads changed: take the record over as it is */
            *r = *same;
            memset(same, 0, sizeof(*same));
            n_recs++;
            continue;
        }
        /* members as the set is now: build_json sorts it */
        uint32_t *members = xf_malloc(set.n * sizeof(*members));
        uint8_t *desc = xf_malloc(set.n);
        if (!members || !desc) {
            xf_free(members);
            xf_free(desc);
            rc = XF_ENOMEM;
            break;
        }
        memcpy(members, set.a, set.n * sizeof(*set.a));
        for (size_t i = 0; i < set.n; i++)
            desc[i] = c->nodes[set.a[i]].desc;
        rc = build_json(c, &set, r);
        if (rc || !r->json) {
            xf_free(members);
            xf_free(desc);
            if (rc)
                break;
            continue;
        }
        n_recs++;
        r->hash = xf_hash64(r->json, r->len);
        r->fp = fp;
        r->built = built;
        r->members = members;
        r->desc = desc;
        r->n_members = set.n;
    }
    if (rc)
        goto out;
    if (n_recs)
        qsort(recs, n_recs, sizeof(*recs), cmp_recs);
    *out = recs;
    *n_out = n_recs;
    recs = NULL;
out:
    if (recs)
        recs_free(recs, n_recs);
    if (new_sc)
        scs_free(new_sc, seeds.n);
    xf_free(seeds.a);
    xf_free(cl.a);
    xf_free(cl_desc.a);
    xf_free(q.a);
    xf_free(start.a);
    xf_free(set.a);
    xf_free(cl_off);
    xf_free(parent);
    xf_free(root_inc);
    return rc;
}

static void view_of(const struct inc_rec *r, struct xf_incident_view *v)
{
    v->id = r->id;
    v->json = r->json;
    v->len = r->len;
    v->first_seen = r->first;
    v->score = r->score;
    v->severity = r->severity;
}

/* Incidents idle for idle_ms behind the watermark are final: kept as JSON only, their
 * detections dropped so the nodes become ordinary background and can be evicted. */
static int close_idle(struct xf_correlator *c)
{
    struct inc_state *s = c->inc;
    size_t w = 0;

    for (size_t i = 0; i < s->n_cur; i++) {
        struct inc_rec *r = &s->cur[i];
        if (c->st.watermark == INT64_MIN || r->last >= c->st.watermark - c->idle_ms) {
            s->cur[w++] = *r;
            continue;
        }
        if (s->n_closed == s->cap_closed) {
            size_t nc = s->cap_closed ? s->cap_closed * 2 : 16;
            struct inc_rec *na = xf_realloc(s->closed, nc * sizeof(*na));
            if (!na)
                return XF_ENOMEM;
            s->closed = na;
            s->cap_closed = nc;
        }
        for (size_t k = 0; k < r->n_members; k++) {
            struct node *x = &c->nodes[r->members[k]];
            if (x->key) {
                x->mod = x->jmod = c->gen;
                corr_node_clear_dets(x);
                x->inc = CORR_NONE;
            }
        }
        xf_free(r->members);
        xf_free(r->desc);
        r->members = NULL;
        r->desc = NULL;
        r->n_members = 0;
        s->closed[s->n_closed++] = *r;
    }
    s->n_cur = w;
    return 0;
}

/* Makes s->cur the incidents of the graph as it is now (membership marks included). */
static int refresh(struct xf_correlator *c)
{
    struct inc_state *s = c->inc;
    struct inc_rec *recs = NULL;
    size_t n = 0;
    int rc;

    if (!c->dirty)
        return 0;
    if ((rc = compute(c, &recs, &n)))
        return rc;
    c->dirty = 0;
    recs_free(s->cur, s->n_cur);
    s->cur = recs;
    s->n_cur = n;
    return 0;
}

int corr_maintain(struct xf_correlator *c)
{
    int rc;

    if ((rc = refresh(c)) || (rc = close_idle(c)))
        return rc;
    c->st.incidents = c->inc->n_cur + c->inc->n_closed;
    return corr_evict(c);
}

static int cmp_reported(const void *a, const void *b)
{
    return strcmp(((const struct reported *)a)->id, ((const struct reported *)b)->id);
}

/* Reports r through cb when its JSON differs from what was last reported under its id;
 * mark[] flags the entries of s->rep still alive. */
static int report(struct inc_state *s, const struct inc_rec *r, uint8_t *mark, xf_incident_cb cb,
                  void *ud)
{
    struct reported key;
    struct reported *hit;
    uint64_t h = r->hash;

    snprintf(key.id, sizeof key.id, "%s", r->id);
    hit = s->n_sorted ? bsearch(&key, s->rep, s->n_sorted, sizeof(*s->rep), cmp_reported) : NULL;
    if (hit) {
        mark[hit - s->rep] = 1;
        if (hit->hash == h)
            return 0;
        hit->hash = h;
    } else {
        if (s->n_rep == s->cap_rep) {
            size_t nc = s->cap_rep ? s->cap_rep * 2 : 16;
            struct reported *na = xf_realloc(s->rep, nc * sizeof(*na));
            if (!na)
                return XF_ENOMEM;
            s->rep = na;
            s->cap_rep = nc;
        }
        /* new entries go at the end and are sorted in after this pass (see flush) */
        key.hash = h;
        s->rep[s->n_rep] = key;
        mark[s->n_rep] = 1;
        s->n_rep++;
    }
    if (!cb)
        return 0;
    struct xf_incident_view v;
    view_of(r, &v);
    return cb(&v, ud);
}

int xf_correlator_flush(struct xf_correlator *c, xf_incident_cb cb, xf_incident_cb gone_cb,
                        void *ud)
{
    struct inc_state *s = c->inc;
    size_t n_old;
    uint8_t *mark = NULL;
    int rc;

    if ((rc = refresh(c)))
        return rc;
    c->st.incidents = s->n_cur + s->n_closed;
    n_old = s->n_rep;
    s->n_sorted = n_old;
    /* at most every current and closed incident is added */
    mark = xf_calloc(n_old + s->n_cur + s->n_closed + 1, 1);
    if (!mark)
        return XF_ENOMEM;
    for (size_t i = 0; i < s->n_cur && rc == 0; i++)
        rc = report(s, &s->cur[i], mark, cb, ud);
    for (size_t i = 0; i < s->n_closed && rc == 0; i++)
        rc = report(s, &s->closed[i], mark, cb, ud);
    /* what was reported before and exists no more merged into another incident */
    size_t w = 0;
    for (size_t i = 0; i < s->n_rep; i++) {
        if (!mark[i] && rc == 0 && gone_cb) {
            struct inc_rec gone = {0};
            snprintf(gone.id, sizeof gone.id, "%s", s->rep[i].id);
            gone.json = NULL;
            struct xf_incident_view v;
            view_of(&gone, &v);
            rc = gone_cb(&v, ud);
        }
        if (mark[i])
            s->rep[w++] = s->rep[i];
    }
    s->n_rep = w;
    if (s->n_rep)
        qsort(s->rep, s->n_rep, sizeof(*s->rep), cmp_reported);
    s->n_sorted = s->n_rep;
    xf_free(mark);
    return rc;
}

int xf_correlator_incidents(struct xf_correlator *c, xf_incident_cb cb, void *ud)
{
    struct inc_state *s = c->inc;
    struct inc_rec *all = NULL;
    size_t n = 0;
    int rc = 0;

    if ((rc = refresh(c)))
        return rc;
    n = s->n_cur + s->n_closed;
    c->st.incidents = n;
    if (n == 0)
        return 0;
    all = xf_malloc(n * sizeof(*all));
    if (!all)
        return XF_ENOMEM;
    if (s->n_cur)
        memcpy(all, s->cur, s->n_cur * sizeof(*all));
    if (s->n_closed)
        memcpy(all + s->n_cur, s->closed, s->n_closed * sizeof(*all));
    if (n)
        qsort(all, n, sizeof(*all), cmp_recs);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct xf_incident_view v;
        view_of(&all[i], &v);
        rc = cb(&v, ud);
    }
    xf_free(all);
    return rc;
}
