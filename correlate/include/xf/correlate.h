/*
 * xf/correlate.h - joining events into infection-flow graphs and incidents.
 *
 * A correlator is a shard: its only input is events, its only output is graph updates (edges)
 * and incidents. It owns all its state; nothing is process-wide, so several shards can run
 * side by side (later: one per Kafka partition).
 *
 * Nodes are entities (a process by its GUID, a file by host+path, a hash, an IP, a domain, a
 * mail by message id, a logon session, ...). Edges come from declarative join specs
 * (rules/links.yaml): direct links join two entities named by one event, windowed links join
 * two events that share a key within a time window, whichever arrives first. Sigma matches
 * mark nodes as detections. A flow grows from each detection along causal edges: backward to
 * what caused it, forward to what it caused, never through a hub (a node with more links than
 * the cap). Flows that share a node are one incident, rendered as the incident JSON of the
 * brief. See docs/correlation.md.
 *
 * Output depends only on the set of events seen (not their order, within the allowed
 * lateness): the same input gives byte-identical incidents.
 */
#ifndef XF_CORRELATE_H
#define XF_CORRELATE_H

#include <stddef.h>
#include <stdint.h>

#include "xf/core.h"
#include "xf/event.h"
#include "xf/rules.h"

struct xf_correlate_opts {
    const char *links_path;         /* join specs; NULL = the bundled rules/links.yaml */
    const struct xf_ruleset *rules; /* borrowed, may be NULL (no detections, no incidents) */
    const char *tenant;             /* default "default" */
    int64_t lateness_ms;            /* allowed lateness; 0 = default (10 min) */
    size_t hub_cap;                 /* links before a node becomes a hub; 0 = default (50) */
    int64_t incident_idle_ms;       /* event time without change before an incident closes
                                       and its nodes leave memory; 0 = default (24 h) */
    uint64_t source_idle_events;    /* a source that delivered none of the last N accepted
                                       events stops holding the watermark back (until its
                                       next event); 0 = default (100,000) */
    int64_t max_skew_ms;            /* a slow source holds the watermark at most this far
                                       behind the newest event time seen (memory stays
                                       bounded); 0 = default (1 h) */
};

struct xf_correlator;

/* Creates a correlator. Loads and validates the join specs (errors logged with file and line:
 * XF_ECONFIG). Returns 0 and *out (caller destroys). */
int xf_correlator_create(const struct xf_correlate_opts *opts, struct xf_correlator **out);
void xf_correlator_destroy(struct xf_correlator *c);

/* Replaces the ruleset (borrowed; NULL: no detections) for events fed from now on. Detections
 * already made keep their copies of rule ids, titles and tags, so the caller may destroy the
 * old ruleset as soon as this returns. Used by the daemon's SIGHUP reload. */
int xf_correlator_set_rules(struct xf_correlator *c, const struct xf_ruleset *rules);

/* Feeds one event (borrowed for the call). Returns 0, 1 when the event id was already seen
 * (nothing changes), or <0 on error. */
int xf_correlator_add(struct xf_correlator *c, const struct xf_event *ev);

/* Whether the correlator knows this event's id: 1 it does (a duplicate, or the same id at
 * another time), 0 it does not and it would if it had ever been fed an event with this id and
 * this time (the dedup set still covers that time), -1 the time is older than what the dedup
 * set remembers. A store that feeds the correlator every event it keeps (and rebuilds it from
 * them) can skip its own lookup on 0. */
int xf_correlator_seen(const struct xf_correlator *c, const struct xf_event *ev);

/* The same for an event from input source `source` (an id the caller keeps stable across
 * restarts, e.g. a hash of a Kafka topic and partition; xf_correlator_add is source 0). The
 * watermark is the oldest of the sources' newest event times minus the lateness, over the
 * sources that delivered an event in the last source_idle_events accepted events: one
 * partition far behind the others (a backlog after a restart) holds eviction back instead of
 * having its events arrive "late". Replaying the same events with the same sources in the
 * same order gives the same result. */
int xf_correlator_add_from(struct xf_correlator *c, const struct xf_event *ev, uint64_t source);

/* The same, with the event's Sigma matches computed by the caller (xf_ruleset_match, say on
 * the decode threads, which may run in parallel) instead of by the correlator's ruleset,
 * which is then not consulted for this event. matches[0..n) and the strings they point to
 * are borrowed for the call (detections keep copies). Given the same matches, the incidents
 * are the same as xf_correlator_add's. */
int xf_correlator_add_matched(struct xf_correlator *c, const struct xf_event *ev,
                              const struct xf_rule_info *const *matches, size_t n);

/* A graph update: an edge that was created. Strings borrowed for the call. */
struct xf_graph_edge {
    const char *from; /* node key "kind:entity" */
    const char *to;
    const char *relation; /* delivered|wrote|opened|spawned|connected|resolved|... */
    const char *key;      /* what it joined on: guid|sha256|ip|path|... */
    const char *link;     /* name of the join spec that made it */
    double confidence;
    xf_time_t time;
    const char *event_id;
};
typedef int (*xf_edge_cb)(const struct xf_graph_edge *e, void *ud);
/* Calls cb for every edge created since the last drain, then forgets them. */
int xf_correlator_drain_edges(struct xf_correlator *c, xf_edge_cb cb, void *ud);

/* An incident as the brief's JSON (compact, keys in the documented order). */
struct xf_incident_view {
    const char *id; /* "inc-<hex>" */
    const char *json;
    size_t len;
    xf_time_t first_seen;
    int score;            /* 0..100 */
    const char *severity; /* low|medium|high|critical */
};
typedef int (*xf_incident_cb)(const struct xf_incident_view *inc, void *ud);

/* Recomputes the incidents touched since the last call and calls cb for each that is new or
 * changed (its JSON differs from the last one reported). ids that disappeared because two
 * flows merged are reported through gone_cb (may be NULL). */
int xf_correlator_flush(struct xf_correlator *c, xf_incident_cb cb, xf_incident_cb gone_cb,
                        void *ud);

/* Calls cb for every current incident, ordered by (first_seen, id). */
int xf_correlator_incidents(struct xf_correlator *c, xf_incident_cb cb, void *ud);

struct xf_correlate_stats {
    uint64_t events; /* accepted */
    uint64_t duplicates;
    uint64_t nodes; /* in memory now */
    uint64_t edges;
    uint64_t hubs;
    uint64_t edges_cut; /* links not followed because of a hub */
    uint64_t pending;   /* windowed-join entries waiting for a partner */
    uint64_t evicted;   /* nodes and join entries dropped by the watermark */
    uint64_t detections;
    uint64_t incidents;
    xf_time_t watermark;
    uint64_t sources;        /* input sources (Kafka partitions) the watermark has seen */
    uint64_t sources_active; /* of those, the ones it followed at its last recomputation */
};
void xf_correlator_get_stats(const struct xf_correlator *c, struct xf_correlate_stats *out);

/* ---- rendering an incident (from its JSON, so it works on stored incidents too) ------------ */

/* Human view: a header, then the timeline of nodes with why each step was linked. Appends to
 * out. Returns 0 or XF_EPARSE when json is not an incident. */
int xf_incident_render_text(const char *json, size_t len, struct xf_buf *out);
/* Graphviz dot. */
int xf_incident_render_dot(const char *json, size_t len, struct xf_buf *out);

#endif
