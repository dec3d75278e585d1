/*
 * corr_int.h - private types of the correlation module.
 *
 * The one thing to know: everything is indexed by small integers. Nodes and edges live in
 * growable arrays with free lists, hash tables map 64-bit hashes to those indices, and the
 * join specs are compiled from rules/links.yaml into the tables below once, at create time.
 */
#ifndef XF_CORR_INT_H
#define XF_CORR_INT_H

#include <stdint.h>

#include "xf/correlate.h"

#define CORR_NONE UINT32_MAX

/* ---- hash table: 64-bit hash -> 64-bit value, several values per hash allowed ------------- */

struct hslot {
    uint32_t h; /* low 32 bits of the hash; 0 = empty; 0 and 1 are stored as 2 and 3 */
    uint32_t v;
};

struct hslot_wide {
    uint64_t h; /* 0 = empty; real hashes 0 and 1 are remapped to 2 and 3 */
    uint64_t v;
};

struct hmap {
    union {
        struct hslot *s;      /* narrow (hmap_init) */
        struct hslot_wide *w; /* wide (hmap_init_wide) */
    };
    size_t cap; /* power of two */
    size_t n;   /* entries */
    uint8_t wide;
};

/* A table of 32-bit values (hmap_put refuses larger ones) matched on 32 bits of the hash. */
int hmap_init(struct hmap *m, size_t cap);
/* A table of 64-bit values matched on the whole hash. */
int hmap_init_wide(struct hmap *m, size_t cap);
void hmap_close(struct hmap *m);
uint64_t hmap_fix(uint64_t h);
int hmap_put(struct hmap *m, uint64_t h, uint64_t v);
/* Iteration over the values stored under h: pos starts at hmap_first(); returns 1 and *v while
 * there are more. */
size_t hmap_first(const struct hmap *m, uint64_t h);
int hmap_next(const struct hmap *m, uint64_t h, size_t *pos, uint64_t *v);
/* Deletes the (h, v) pair; returns 1 when found. */
int hmap_del(struct hmap *m, uint64_t h, uint64_t v);

/* ---- values computed from an event (scratch, reused) --------------------------------------- */

#define VALS_MAX 64
struct vals {
    struct xf_buf b;
    uint32_t off[VALS_MAX];
    size_t n;
};

/* ---- join specs (spec.c) ------------------------------------------------------------------- */

enum fn_id {
    FN_FIELD = 0, /* the raw field values */
    FN_LOWER,
    FN_BASENAME,
    FN_CMDLINE_PATHS,
    FN_USER_SHORT,
    FN_EMAIL_LOCAL,
    FN_URL_HOST,
    FN_HOST,
    FN_HOST_OF_IP,
    FN_IPS_OF_HOST,
    FN_SHA256,
    FN_CMD_NORM,
    FN_CMD_PROG,
    FN_PROC_USER,
    FN_EVENT_ID,
    FN_ALERT_LEVEL,
};

struct expr {
    enum fn_id fn;
    int field; /* -1 when the function takes no field */
};

/* where: {expr: value | [values]}; "*" means present and not empty. */
struct cond {
    struct expr e;
    char **vals; /* lowercased; "*" present, "*x" ends with x, "x*" starts with x */
    size_t n;
    int negate;
};

enum kind_id {
    K_PROC = 0,
    K_FILE,
    K_HASH,
    K_IP,
    K_DNS,
    K_URL,
    K_MAIL,
    K_LOGON,
    K_SVC,
    K_HOST,
    K_ALERT,
    K__COUNT
};

struct kind_info {
    const char *prefix; /* key prefix: "proc" */
    const char *json;   /* incident JSON kind */
    int host_scoped;    /* key is "<host>|<value>" */
    int leaf;           /* included in a closure, never traversed through */
};
extern const struct kind_info corr_kinds[K__COUNT];

struct endpoint {
    enum kind_id kind;
    struct expr value;
    struct expr label; /* fn FN_FIELD with field -1: label is the raw value */
    struct expr user;  /* field -1: none */
    int prio;          /* label priority: higher wins, then earlier (time, event id) */
    int has_label;
    int has_user;
};

struct match {
    enum xf_category cat;
    struct cond *conds;
    size_t n_conds;
};

struct node_spec {
    char *name;
    struct match m;
    struct endpoint node;
    int detect;   /* detections of the event land on this node (first matching row wins) */
    int activity; /* the event is activity of the entity, not what made it */
};

/* What an edge shows of the row that made it: the relation (with its hash, as edges are
 * identified by from, to and relation), key, the row's name as the link, technique and
 * confidence. Edges point here instead of carrying copies. */
struct edge_attr {
    const char *relation, *key, *link, *technique;
    double confidence;
    uint64_t rel_hash;
};

struct direct_spec {
    char *name;
    struct match m;
    struct endpoint from, to;
    char *relation;
    char *key;
    char *technique; /* NULL or "T1566.001" */
    double confidence;
    struct edge_attr attr; /* set when loading is done */
};

#define KEYALT_MAX 4
#define KEYPART_MAX 4
struct side_spec {
    struct match m;
    struct expr keys[KEYALT_MAX][KEYPART_MAX];
    size_t n_parts[KEYALT_MAX];
    size_t n_alts;
    struct endpoint node;
};

struct window_spec {
    char *name;
    struct side_spec side[2]; /* 0 = left (edge from), 1 = right (edge to) */
    int64_t window_ms;
    int left_first; /* right must come 0..window after left */
    char *relation;
    char *key;
    char *technique;
    double confidence;
    struct edge_attr attr; /* set when loading is done */
};

struct specs {
    struct node_spec *nodes;
    size_t n_nodes;
    struct direct_spec *direct;
    size_t n_direct;
    struct window_spec *windowed;
    size_t n_windowed;
    int64_t max_window_ms;
};

int corr_specs_load_file(const char *path, struct specs *out);
int corr_specs_load_buffer(const char *name, const char *yaml, size_t len, struct specs *out);
void corr_specs_close(struct specs *s);

/* ---- graph (correlator.c) ----------------------------------------------------------------- */

struct det {
    char *rule_id;
    char *title;
    int level;
    char **tags; /* techniques then tactics, each prefixed "T:" or "A:" */
    size_t n_tags;
    char event_id[XF_EVENT_ID_MAX];
    xf_time_t time;
};

/* An event id as the graph keeps it: one allocation per event, shared by everything that
 * event made (a node's id lists and label source, the edges it is evidence of, its
 * windowed-join entries), freed with the last of them. It reads as a plain string. */
const char *corr_eid_new(const char *id);
const char *corr_eid_hold(const char *eid);
void corr_eid_drop(const char *eid); /* NULL is ignored */

/* Event ids of a node (eids): sorted, the smallest NODE_IDS_MAX kept, the rest counted. */
#define NODE_IDS_MAX 4096
struct idset {
    const char **a;
    uint16_t n, cap; /* n <= NODE_IDS_MAX */
    uint32_t more;   /* stops at UINT32_MAX */
};

struct node {
    /* first: what the eviction sweep reads of every node, so it costs one cache line */
    char *key;         /* NULL when the slot is free */
    xf_time_t t_touch; /* latest time any event named it (eviction) */
    uint32_t n_dets;
    uint32_t inc; /* incident membership of the last computation (CORR_NONE) */
    enum kind_id kind;
    int lprio;  /* priority of the label/host/user source */
    char *host; /* display host */
    char *label;
    char *user;
    xf_time_t lprio_time;
    const char *lprio_id; /* eid; NULL until a source was chosen */
    xf_time_t t_ref;      /* earliest time any event named it */
    xf_time_t t_own;      /* earliest time of its own events, INT64_MAX when none */
    xf_time_t t_own_max;
    xf_time_t t_act_min; /* of its activity events */
    xf_time_t t_act_max;
    xf_time_t t_inc;  /* its time in the incident being rendered (scratch) */
    uint64_t last_ev; /* idhash of the last event attached (dedupe within one event) */
    struct idset ids; /* events that made it (a process start, a file write, a mail) */
    struct idset act; /* later activity of the entity (connections, queries): listed only
                         where the node is a descendant of a detection */
    struct det *dets;
    uint32_t *adj; /* edge indices */
    uint32_t n_adj, cap_adj;
    uint32_t degree; /* distinct edges ever made, both directions (decides hub status) */
    uint32_t nref;   /* live edges that reference it */
    uint32_t mark;   /* scratch for traversals */
    uint32_t mark2;
    uint32_t ord;    /* 1-based number in the incident being rendered, 0 outside it */
    uint32_t mod;    /* xf_correlator.gen when anything its closure reads last changed: its
                        adjacency, hub status, ids or detections (see incident.c) */
    uint32_t jmod;   /* the same for what its incident's JSON shows: its labels, ids, times,
                        detections, hub status, and edges to other members */
    uint8_t member;  /* in the member set of an incident of the last computation, or of one
                        closed since (then it only stamps jmod more often than needed) */
    uint8_t watched; /* non-hub node a current incident's closure walks reached: its members,
                        and the files and hashes pruned from them because they led nowhere yet
                        (a new link there can change a closure): touching it dirties */
    uint8_t desc;    /* reached forward from a detection in the last computation */
    uint8_t listed;  /* in xf_correlator.seeds */
};

struct edge {
    uint32_t from, to;         /* CORR_NONE when the slot is free */
    const struct edge_attr *a; /* of the spec row, borrowed */
    xf_time_t time;
    const char *event_id; /* eid */
    uint8_t pending;      /* not yet drained */
};

/* ---- derived values (derive.c) ----------------------------------------------------------- */

struct xf_correlator;

void vals_init(struct vals *v);
void vals_close(struct vals *v);
void vals_reset(struct vals *v);
int vals_push(struct vals *v, const char *s, size_t len);
const char *vals_get(const struct vals *v, size_t i);

/* Appends the values of e for ev to out (raw case; callers lowercase keys). Values that are
 * empty or the Windows placeholder "-" are skipped. */
int corr_eval(struct xf_correlator *c, const struct expr *e, const struct xf_event *ev,
              struct vals *out);
/* Host name as used in keys: lowercase, cut at the first '.', unless it is an IP. */
void corr_host_norm(const char *host, char *out, size_t outsz);
int corr_is_ip(const char *s);
/* Learned IP -> host map and the process -> user lookup (correlator.c). */
const char *corr_ip_host(struct xf_correlator *c, const char *ip);
size_t corr_host_ips(struct xf_correlator *c, const char *hostkey, const char **out, size_t max);
const char *corr_proc_user(struct xf_correlator *c, const char *hostkey, const char *guid);

/* ---- the correlator (correlator.c owns the graph, incident.c the incidents) --------------- */

struct jentry {
    xf_time_t time;
    const char *event_id; /* eid */
    uint32_t node;
};

/* The entries of one windowed-join key on one side. */
struct jlist {
    uint64_t h; /* 0 when the slot is free */
    uint32_t n, cap;
    uint32_t spec;
    struct jentry *e;
    xf_time_t qt; /* no entry is older: the list is queued for the sweep at qt + window */
};

/* ---- time buckets for the eviction sweep (correlator.c) ----------------------------------- */

/* An item queued under a time: a node index, a windowed-join list index or a dedup id (a), and
 * what the sweep needs to know whether it is still current (t). */
struct witem {
    uint64_t a;
    int64_t t;
};

struct wbucket {
    int64_t k; /* covers [k * WHEEL_MS, (k + 1) * WHEEL_MS) */
    struct witem *it;
    uint32_t n, cap;
};

/* Buckets sorted by k. The sweep takes the buckets that fell behind its limit, so it visits
 * what may be due instead of everything live. */
struct wheel {
    struct wbucket *b;
    uint32_t n, cap;
    uint32_t hint; /* the bucket last pushed to: event time mostly moves forward */
};

struct iphost {
    char *ip;
    char *host; /* normalized host key */
};

struct inc_state;

/* An input source (a Kafka partition) for the watermark: its newest event time, and when (in
 * accepted events) it last delivered one. */
struct wsrc {
    uint64_t id;
    xf_time_t max;
    uint64_t last;  /* st.events after its newest event */
    uint8_t active; /* counted in the watermark at the last recomputation */
};

struct xf_correlator {
    struct specs specs;
    const struct xf_ruleset *rules;
    char *tenant;
    int64_t lateness_ms;
    int64_t idle_ms;
    int64_t retention_ms; /* background nodes older than watermark - retention are evicted */
    uint32_t hub_cap;

    struct node *nodes;
    uint32_t n_nodes, cap_nodes; /* slots used / allocated */
    uint32_t *free_nodes;
    uint32_t n_free_nodes, cap_free_nodes;
    struct hmap node_idx;

    struct edge *edges;
    uint32_t n_edges, cap_edges;
    uint32_t *free_edges;
    uint32_t n_free_edges, cap_free_edges;
    struct hmap edge_idx;

    uint32_t *pending;
    size_t n_pending, cap_pending;

    struct hmap seen; /* event idhash -> event time */

    /* The eviction sweep's queues (see corr_evict): every live node is in node_wheel once,
     * under a time not later than its t_touch (moved lazily when its bucket is swept); every
     * live join list under qt + its window; every dedup id under its event time. */
    struct wheel node_wheel, jl_wheel, seen_wheel;
    struct witem *wtmp; /* scratch of the sweep */
    uint32_t n_wtmp, cap_wtmp;
    uint32_t *cand;
    uint32_t n_cand, cap_cand;

    uint32_t *seeds; /* nodes that got a detection (may hold stale entries; see compute) */
    uint32_t n_seeds, cap_seeds;

    struct jlist *jl;
    uint32_t n_jl, cap_jl;
    uint32_t *free_jl;
    uint32_t n_free_jl, cap_free_jl;
    struct hmap jidx;

    struct iphost *ips;
    size_t n_ips, cap_ips;
    struct hmap ip_idx;
    struct hmap host_ips; /* hash of the host key -> index in ips */

    struct vals v1, v2, vl, vk[KEYPART_MAX];
    const char *eid; /* of the event being added (see corr_eid_new) */
    struct xf_buf kb, kb2;

    /* Events whose join key needed an address the IP -> host map did not know yet; they are
     * replayed into the windowed joins when the map learns a new address. */
    struct xf_event *retry;
    size_t n_retry, cap_retry;
    int unresolved; /* set by host_of_ip on a miss */
    int learned;    /* set when the map gained or changed an address */

    xf_time_t max_time;
    /* The watermark is the smallest newest-time over the sources that delivered an event in
     * the last idle_events accepted events, minus the lateness (see wm_update). */
    struct wsrc *srcs;
    uint32_t n_srcs, cap_srcs;
    struct hmap src_idx; /* source id -> index in srcs */
    uint32_t wm_src;     /* the source the watermark comes from (CORR_NONE: none yet) */
    uint64_t wm_checked; /* st.events at the last recomputation */
    uint64_t idle_events;
    int64_t max_skew_ms;
    int wm_capped;        /* the watermark was held at max_time - max_skew_ms - lateness */
    xf_time_t seen_floor; /* every dedup id with a time before this may be forgotten */
    xf_time_t last_sweep;
    uint64_t last_sweep_events; /* st.events at the last sweep */
    int dirty;
    uint32_t gen; /* bumped by each incident computation; stamps node.mod */
    struct xf_correlate_stats st;
    struct inc_state *inc;
};

/* Graph operations used by incident.c. */
int corr_is_hub(const struct xf_correlator *c, const struct node *n);
int corr_evict(struct xf_correlator *c);
/* Recomputes incidents if the graph changed, closes idle ones, evicts: state transitions
 * that must happen at input-determined points (see xf_correlator_add). */
int corr_maintain(struct xf_correlator *c);
int corr_inc_create(struct xf_correlator *c);
void corr_inc_destroy(struct xf_correlator *c);
void corr_node_clear_dets(struct node *n);

#endif
