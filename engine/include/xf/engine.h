/*
 * xf/engine.h - the engine library: store + rules + correlation + decoding, wired together.
 *
 * The CLI is a thin main over this; runtime tests drive it directly. replay reads files on one
 * thread, decodes on worker threads and correlates and persists on the caller's thread, with
 * bounded queues between them and records kept in input order.
 */
#ifndef XF_ENGINE_H
#define XF_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "xf/core.h"
#include "xf/correlate.h"
#include "xf/ingest.h"

struct xf_engine_opts {
    const char *db_path;           /* NULL: no persistence (pure in-memory replay) */
    const char *const *rule_paths; /* NULL/0: the bundled pack */
    size_t n_rule_paths;
    const char *links_path;      /* NULL: bundled */
    enum xf_format format;       /* input format, AUTO by default */
    int decode_threads;          /* 0: default (number of CPUs) */
    int progress;                /* draw a progress bar on stderr */
    FILE *errors;                /* where per-record errors go (NULL: log) */
    size_t max_errors_shown;     /* 0: 100; errors past this are only counted */
    int sync;                    /* fsync each store batch */
    int queue_batches;           /* batches in flight (pool size); 0: 24 */
    int64_t lateness_ms;         /* correlation lateness; 0: the correlator's default */
    uint64_t source_idle_events; /* see xf_correlate_opts; 0: the correlator's default */
    int64_t max_skew_ms;         /* see xf_correlate_opts; 0: the correlator's default */
    int store_edges;             /* also write every graph edge to the edges family (off: incidents
                                    carry their own graph; every edge costs ~1/4 of the CPU) */
};

struct xf_engine;

/* Opens the store (if any), loads rules and join specs, and rebuilds correlation state from
 * the stored events. Returns 0 and *out, or an XF_E* code with the reason logged. */
int xf_engine_create(const struct xf_engine_opts *opts, struct xf_engine **out);
void xf_engine_destroy(struct xf_engine *e);

/* Decodes, correlates and persists the records of the files, in order. Bad records are
 * reported (file:line: reason), counted and skipped; a file that cannot be opened is reported
 * and counted. Returns 0 unless something fatal happened (store failure, out of memory). */
int xf_engine_replay_files(struct xf_engine *e, const char *const *files, size_t n);

/* Current incidents ordered by (first_seen, id). */
int xf_engine_incidents(struct xf_engine *e, xf_incident_cb cb, void *ud);

struct xf_engine_stats {
    uint64_t records; /* records read */
    uint64_t decoded;
    uint64_t decode_errors; /* bad records (including over-long ones) */
    uint64_t file_errors;   /* files that could not be (fully) read */
    uint64_t duplicates;    /* already stored or already seen */
    uint64_t by_format[XF_FMT__COUNT];
    struct xf_correlate_stats corr;
};
void xf_engine_get_stats(struct xf_engine *e, struct xf_engine_stats *out);

#endif
