/*
 * xf/store.h - durable state in RocksDB.
 *
 * Column families: events (one row per event keyed by arrival sequence: the source of truth
 * from which correlation state is rebuilt, in the order it was first built), ids (a
 * time-ordered key per event for dedup), entities and edges (the graph, written as it changes),
 * incidents (the incident JSON by id), meta (schema version, counters), actions (the response
 * outbox: action id -> JSON). Key layouts are drawn in docs/storage.md. Only store/src/
 * includes rocksdb/c.h.
 *
 * A store belongs to one thread. Writes go through a batch that is committed atomically. The
 * functions marked "thread-safe" may also be called from other threads while the owner works
 * (never concurrently with xf_store_close).
 */
#ifndef XF_STORE_H
#define XF_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "xf/core.h"
#include "xf/event.h"

/* Bump when a key layout or value encoding changes; open refuses a different version. */
/* 2: an events key may carry the event's input source (16 bytes); version 1 databases (8-byte
 * keys only) are read as they are and become version 2 with the first such key written. */
#define XF_STORE_SCHEMA_VERSION 2

struct xf_store;
struct xf_store_batch;

struct xf_store_opts {
    int sync;        /* fsync the WAL on every batch commit (default 0: WAL, no fsync) */
    int read_only;   /* open for reading only (incidents list/show) */
    size_t cache_mb; /* block cache size, 0 = default (64) */
};

/* Opens (creating when absent, unless read_only) the database in directory path. Checks the
 * schema version. Returns 0 and *out, or XF_ESTORE (reason logged) / XF_ESCHEMA. opts may be
 * NULL for defaults. */
int xf_store_open(const char *path, const struct xf_store_opts *opts, struct xf_store **out);
/* Flushes and closes; NULL is a no-op. */
void xf_store_close(struct xf_store *st);

/* 1 if an event with this (time, idhash) is stored, 0 if not, <0 on error. Uses the bloom
 * filter, so a miss costs no disk read. */
int xf_store_event_exists(struct xf_store *st, const struct xf_event *ev);

int xf_store_batch_create(struct xf_store_batch **out);
void xf_store_batch_destroy(struct xf_store_batch *b);
void xf_store_batch_clear(struct xf_store_batch *b);
size_t xf_store_batch_count(const struct xf_store_batch *b);

/* Queues writes into b (values copied). */
int xf_store_batch_put_event(struct xf_store_batch *b, const struct xf_event *ev);
/* The same for an event from input source `source` (a Kafka partition; 0 = none), which is
 * stored with it and handed back by xf_store_events_scan_src: the correlator's per-source
 * watermark needs it to rebuild exactly what the run computed. */
int xf_store_batch_put_event_src(struct xf_store_batch *b, const struct xf_event *ev,
                                 uint64_t source);
/* An edge of the graph. key is what the edge was joined on. */
struct xf_store_edge {
    const char *from; /* node key, "kind:entity" */
    const char *to;
    const char *relation;
    const char *key;
    double confidence;
    xf_time_t time;
    const char *event_id; /* the event that created it */
};
int xf_store_batch_put_edge(struct xf_store_batch *b, const struct xf_store_edge *e);
/* An entity (graph node) record: node key -> opaque value (JSON) maintained by correlate. */
int xf_store_batch_put_entity(struct xf_store_batch *b, const char *node_key, const char *val,
                              size_t len);
/* The current JSON of an incident (replaces the previous one). */
int xf_store_batch_put_incident(struct xf_store_batch *b, const char *id, const char *json,
                                size_t len);
int xf_store_batch_delete_incident(struct xf_store_batch *b, const char *id);
/* A metadata value (counters, offsets). */
int xf_store_batch_put_meta(struct xf_store_batch *b, const char *key, const void *val, size_t len);

/* Writes the batch atomically (and clears it). Returns 0 or XF_ESTORE. */
int xf_store_batch_commit(struct xf_store *st, struct xf_store_batch *b);

/* Reads a meta value: 0 and *val (caller frees) / XF_ENOTFOUND. */
int xf_store_meta_get(struct xf_store *st, const char *key, char **val, size_t *len);

/* Calls cb for every stored event in arrival order (the order batches committed them); cb
 * returns non-zero to stop
 * (that value is returned). The event is borrowed for the call. */
typedef int (*xf_store_event_cb)(const struct xf_event *ev, void *ud);
int xf_store_events_scan(struct xf_store *st, xf_store_event_cb cb, void *ud);
/* The same with each event's source (0 for events stored without one). */
typedef int (*xf_store_event_src_cb)(const struct xf_event *ev, uint64_t source, void *ud);
int xf_store_events_scan_src(struct xf_store *st, xf_store_event_src_cb cb, void *ud);

/* Incidents. get: 0 and *json (caller frees) / XF_ENOTFOUND. scan: every incident in id
 * order; id and json borrowed for the call (NUL-terminated). Both thread-safe (the API serves
 * incidents from its own threads); a scan sees a consistent snapshot of the family. */
int xf_store_incident_get(struct xf_store *st, const char *id, char **json, size_t *len);
typedef int (*xf_store_incident_cb)(const char *id, const char *json, size_t len, void *ud);
int xf_store_incidents_scan(struct xf_store *st, xf_store_incident_cb cb, void *ud);

/* Actions of the response outbox (action id -> action JSON), all thread-safe: the response
 * thread uses them while the owner commits batches.
 * put: one synced write (durable when it returns, whatever xf_store_opts.sync says); replaces
 *   the previous value; XF_ESTORE on a read-only store. json borrowed.
 * get: 0 and *json (caller frees, NUL-terminated) / XF_ENOTFOUND.
 * scan: every action in id order; id and json borrowed for the call; cb returns non-zero to
 *   stop (returned). A read-only open of a database older than the family sees no actions. */
int xf_store_action_put(struct xf_store *st, const char *id, const char *json, size_t len);
int xf_store_action_get(struct xf_store *st, const char *id, char **json, size_t *len);
typedef int (*xf_store_action_cb)(const char *id, const char *json, size_t len, void *ud);
int xf_store_actions_scan(struct xf_store *st, xf_store_action_cb cb, void *ud);

/* Edges in key order (for tests and export). */
typedef int (*xf_store_edge_cb)(const struct xf_store_edge *e, void *ud);
int xf_store_edges_scan(struct xf_store *st, xf_store_edge_cb cb, void *ud);

/* Statistics for logs and metrics. */
struct xf_store_stats {
    uint64_t events_written;
    uint64_t duplicates;        /* xf_store_event_exists hits */
    uint64_t estimate_num_keys; /* RocksDB's estimate over all column families */
    uint64_t sst_bytes;
};
void xf_store_get_stats(struct xf_store *st, struct xf_store_stats *out);

#endif
