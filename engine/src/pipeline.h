/*
 * pipeline.h - private to engine/: the one pipeline that replay and the daemon share.
 *
 *   source thread ──batches of raw records──► decode workers ──► correlating thread
 *   (files: reader; Kafka: the consumer)                          (dedup, store, correlate)
 *
 * A source fills batches taken from a fixed pool and submits them; the correlating thread
 * consumes them strictly in submission order and calls the hooks below. The daemon uses the
 * hooks to track Kafka offsets, send dead letters and publish what is durable at each
 * checkpoint. Everything a hook gets is borrowed for the call.
 */
#ifndef XF_ENGINE_PIPELINE_H
#define XF_ENGINE_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "xf/engine.h"
#include "xf/store.h"

/* Where a Kafka record came from. topic indexes the daemon's topic table; -1 for files. */
struct xf_pipe_meta {
    int32_t topic;
    int32_t partition;
    int64_t offset;
};

struct xf_pipe_batch;

#define XF_PIPE_LAST 1       /* the final batch of the stream */
#define XF_PIPE_CHECKPOINT 2 /* commit the store right after this batch */

struct xf_pipe_hooks {
    void *ud;
    /* The source, run on its own thread. It takes batches with xf_pipe_batch_get, fills and
     * submits them, and must finally submit one with XF_PIPE_LAST. */
    void (*source)(struct xf_engine *e, void *ud);
    /* ---- the correlating thread ---- */
    /* Once per consumed batch with every record's origin, in order. */
    void (*on_batch)(void *ud, const struct xf_pipe_meta *meta, size_t n);
    /* A record that did not decode: its bytes, origin and reason. <0 is fatal. */
    int (*on_bad_record)(void *ud, const struct xf_pipe_meta *meta, const char *data, size_t len,
                         const char *reason);
    /* Just before the store batch commits (after edges and incidents are in it). <0 aborts
     * the commit, which is fatal. */
    int (*before_commit)(void *ud, struct xf_store_batch *sb);
    /* An incident that is new or changed in the store batch about to commit (not yet durable:
     * keep it until after_commit). May be NULL. */
    int (*on_incident)(void *ud, const struct xf_incident_view *inc);
    /* After a successful commit: everything in batches up to seq is durable. Commits run on a
     * writer thread while this thread goes on consuming, so by now batches after seq may have
     * been consumed: what before_commit saw is what became durable, not the current state.
     * The order stays before_commit(N), after_commit(N), on_incident/before_commit(N+1). */
    void (*after_commit)(void *ud, uint64_t seq);
    /* Between batches and on idle ticks (rule reload). <0 is fatal. */
    int (*tick)(void *ud);
    /* >0: checkpoint at most this long after uncommitted records arrived, and tick at least
     * this often while idle. 0: replay cadence (every few thousand events, and at the end). */
    int tick_ms;
    /* topic names for "topic[partition]@offset" in error messages */
    const char *const *topic_names;
};

/* Runs the pipeline with this source until it submits XF_PIPE_LAST (or a fatal error stops
 * it), then checkpoints. Returns 0 or the fatal XF_E* code. */
int xf_pipe_run(struct xf_engine *e, const struct xf_pipe_hooks *h);

/* Source thread: a free batch, waiting up to timeout_ms (-1: forever); NULL on timeout. */
struct xf_pipe_batch *xf_pipe_batch_get(struct xf_engine *e, int timeout_ms);
/* Appends one record (copied). fmt AUTO probes it. Returns 1 when the batch is full, 0 when
 * there is room, XF_ENOMEM. */
int xf_pipe_batch_add(struct xf_pipe_batch *b, const void *data, size_t len, enum xf_format fmt,
                      const struct xf_pipe_meta *meta);
size_t xf_pipe_batch_count(const struct xf_pipe_batch *b);
/* Hands the batch to the workers; returns its sequence number. flags: XF_PIPE_*. */
uint64_t xf_pipe_batch_submit(struct xf_engine *e, struct xf_pipe_batch *b, int flags);
/* Batches in the free pool now, and the pool size. */
size_t xf_pipe_free_count(struct xf_engine *e);
size_t xf_pipe_pool_size(struct xf_engine *e);
/* Asks the pipeline to stop early (fatal error path); the source should submit LAST soon. */
int xf_pipe_stopping(struct xf_engine *e);

/* The correlating thread's view, for hooks. */
struct xf_store *xf_engine_store(struct xf_engine *e);
/* Replaces the ruleset (taken) on the correlating thread; the old one is destroyed. */
void xf_engine_swap_rules(struct xf_engine *e, struct xf_ruleset *rules);
size_t xf_engine_rule_count(struct xf_engine *e);

#endif
