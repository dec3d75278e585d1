/*
 * engine.c - store + rules + correlation + decoding, wired into one replay pipeline.
 *
 *   reader thread ──batches of raw records──► decode workers (N) ──decoded batches──►
 *   caller thread: dedup, persist (one time-ordered row per event), correlate, flush
 *
 * The one thing to know: batches carry a sequence number and the caller's thread consumes
 * them strictly in that order, so the output is the same whatever the number of workers and
 * however the scheduler interleaves them. Queues are bounded (a fixed pool of batch objects
 * circulates), so memory does not grow with the input. Recovery needs no special path: on
 * open the stored events are fed back through the correlator, and a re-read duplicate is
 * dropped by id.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xf/engine.h"
#include "xf/rules.h"
#include "xf/store.h"

#define BATCH_RECORDS 512
#define CHECKPOINT_EVENTS 4096
#define PENDING_SLOTS 16384 /* power of two, > 2 * CHECKPOINT_EVENTS */
#define BATCH_POOL 24
#define MAX_WORKERS 8

struct record_error {
    char *where;
    char msg[XF_ERRMSG_MAX];
    int code;
};

/* One batch of records: raw bytes in, decoded events out. Objects circulate between the free
 * pool, the work queue and the done slots, so their buffers and event arenas are reused. */
struct batch {
    uint64_t seq;
    size_t n;
    struct xf_buf raw;                 /* record bytes, NUL separated */
    size_t off[BATCH_RECORDS];
    size_t len[BATCH_RECORDS];
    struct xf_buf wheres;              /* "where" of each record, NUL separated */
    size_t where_off[BATCH_RECORDS];
    struct xf_event ev[BATCH_RECORDS];
    int ok[BATCH_RECORDS];             /* 1 decoded, 0 error (see errs) */
    enum xf_format used[BATCH_RECORDS];
    struct record_error errs[BATCH_RECORDS];
    size_t n_errs;
    /* reader-side problems that belong at this point of the stream */
    size_t n_reader_errs;
    uint64_t file_errors;
    int last;                          /* the final batch of the stream */
    int poison;                        /* tells a worker to exit */
};

/* A bounded FIFO of batch pointers guarded by one mutex. */
struct queue {
    struct batch *items[BATCH_POOL + 1];
    size_t head, count;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

struct xf_engine {
    struct xf_engine_opts opts;
    struct xf_store *store;
    struct xf_store_batch *sbatch;
    struct xf_ruleset *rules;
    struct xf_correlator *corr;
    struct xf_engine_stats stats;
    struct xf_buf scratch;
    /* Keys of the events queued in sbatch but not yet committed: exists() only sees committed
     * rows, so a duplicate inside one checkpoint interval is caught here. Open addressing;
     * 0 marks an empty slot (a real key of 0 is remapped to 1). */
    uint64_t *pending;
    size_t n_pending;
    int fatal;
    size_t errors_shown;
    /* pipeline, live during replay only */
    struct queue free_q, work_q;
    pthread_mutex_t done_mu;
    pthread_cond_t done_cv;
    struct batch *done[BATCH_POOL];    /* slot = seq % BATCH_POOL */
    const char *const *files;
    size_t n_files;
    atomic_int stop;
};

static void queue_init(struct queue *q)
{
    memset(q->items, 0, sizeof q->items);
    q->head = q->count = 0;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
}

static void queue_close(struct queue *q)
{
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

static void queue_push(struct queue *q, struct batch *b)
{
    pthread_mutex_lock(&q->mu);
    q->items[(q->head + q->count) % XF_ARRAY_LEN(q->items)] = b;
    q->count++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static struct batch *queue_pop(struct queue *q)
{
    struct batch *b;

    pthread_mutex_lock(&q->mu);
    while (q->count == 0)
        pthread_cond_wait(&q->cv, &q->mu);
    b = q->items[q->head];
    q->head = (q->head + 1) % XF_ARRAY_LEN(q->items);
    q->count--;
    pthread_mutex_unlock(&q->mu);
    return b;
}

static struct batch *batch_create(void)
{
    struct batch *b = xf_calloc(1, sizeof *b);

    if (!b)
        return NULL;
    xf_buf_init(&b->raw);
    xf_buf_init(&b->wheres);
    for (size_t i = 0; i < BATCH_RECORDS; i++)
        xf_event_init(&b->ev[i]);
    return b;
}

static void batch_clear(struct batch *b)
{
    for (size_t i = 0; i < b->n_errs; i++) {
        xf_free(b->errs[i].where);
        b->errs[i].where = NULL;
    }
    b->n = 0;
    b->n_errs = 0;
    b->n_reader_errs = 0;
    b->file_errors = 0;
    b->last = 0;
    b->poison = 0;
    xf_buf_reset(&b->raw);
    xf_buf_reset(&b->wheres);
}

static void batch_destroy(struct batch *b)
{
    if (!b)
        return;
    batch_clear(b);
    xf_buf_close(&b->raw);
    xf_buf_close(&b->wheres);
    for (size_t i = 0; i < BATCH_RECORDS; i++)
        xf_event_close(&b->ev[i]);
    xf_free(b);
}

static void batch_add_error(struct batch *b, const char *where, int code, const char *msg)
{
    struct record_error *e;

    if (b->n_errs >= BATCH_RECORDS)
        return;
    e = &b->errs[b->n_errs++];
    e->where = xf_strdup(where ? where : "?");
    e->code = code;
    snprintf(e->msg, sizeof e->msg, "%s", msg);
}

/* ---- reader thread --------------------------------------------------------------------------- */

static void *reader_main(void *arg)
{
    struct xf_engine *e = arg;
    uint64_t seq = 0;
    struct batch *b = queue_pop(&e->free_q);

    batch_clear(b);
    for (size_t f = 0; f < e->n_files && !e->stop; f++) {
        struct xf_reader *r = NULL;
        int rc = xf_reader_open(e->files[f], e->opts.format, &r);
        if (rc) {
            char msg[XF_ERRMSG_MAX];
            snprintf(msg, sizeof msg, "cannot read file: %s", xf_strerror(rc));
            batch_add_error(b, e->files[f], rc, msg);
            b->n_reader_errs++;
            b->file_errors++;
            continue;
        }
        while (!e->stop) {
            const char *data, *where;
            size_t len;
            rc = xf_reader_next(r, &data, &len, &where);
            if (rc == 0)
                break;
            if (rc < 0) {
                char msg[XF_ERRMSG_MAX];
                if (rc == XF_ETOOBIG) {
                    snprintf(msg, sizeof msg, "record longer than %u bytes, skipped",
                             XF_RECORD_MAX);
                } else {
                    snprintf(msg, sizeof msg, "input stream broken: %s; rest of file skipped",
                             xf_strerror(rc));
                    b->file_errors++;
                }
                batch_add_error(b, where, rc, msg);
                b->n_reader_errs++;
                if (rc != XF_ETOOBIG)
                    break;
                continue;
            }
            b->off[b->n] = b->raw.len;
            b->len[b->n] = len;
            b->where_off[b->n] = b->wheres.len;
            if (xf_buf_append(&b->raw, data, len) || xf_buf_append(&b->raw, "", 1) ||
                xf_buf_append(&b->wheres, where, strlen(where) + 1)) {
                e->fatal = XF_ENOMEM;
                e->stop = 1;
                break;
            }
            b->n++;
            if (b->n == BATCH_RECORDS || b->n_errs >= BATCH_RECORDS / 2) {
                b->seq = seq++;
                queue_push(&e->work_q, b);
                b = queue_pop(&e->free_q);
                batch_clear(b);
            }
            if (e->opts.progress && (seq & 15) == 0 && b->n == 0) {
                uint64_t done, total;
                xf_reader_progress(r, &done, &total);
                if (total)
                    fprintf(stderr, "\r[%zu/%zu] %3d%% %s", f + 1, e->n_files,
                            (int)(done * 100 / total), xf_path_basename(e->files[f]));
            }
        }
        xf_reader_destroy(r);
    }
    if (e->opts.progress)
        fprintf(stderr, "\r\033[K");
    b->seq = seq;
    b->last = 1;
    queue_push(&e->work_q, b);
    return NULL;
}

/* ---- decode workers -------------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    struct xf_engine *e = arg;

    for (;;) {
        struct batch *b = queue_pop(&e->work_q);
        if (b->poison)
            return NULL;
        for (size_t i = 0; i < b->n; i++) {
            char err[XF_ERRMSG_MAX];
            err[0] = '\0';
            int rc = xf_decode(e->opts.format, b->raw.data + b->off[i], b->len[i], &b->ev[i],
                               &b->used[i], err);
            b->ok[i] = rc == 0;
            if (rc)
                batch_add_error(b, b->wheres.data + b->where_off[i], rc,
                                err[0] ? err : xf_strerror(rc));
        }
        pthread_mutex_lock(&e->done_mu);
        e->done[b->seq % BATCH_POOL] = b;
        pthread_cond_broadcast(&e->done_cv);
        pthread_mutex_unlock(&e->done_mu);
    }
}

/* ---- the correlating thread ---------------------------------------------------------------- */

static int on_incident(const struct xf_incident_view *inc, void *ud)
{
    struct xf_engine *e = ud;

    return xf_store_batch_put_incident(e->sbatch, inc->id, inc->json, inc->len);
}

static int on_incident_gone(const struct xf_incident_view *inc, void *ud)
{
    struct xf_engine *e = ud;

    return xf_store_batch_delete_incident(e->sbatch, inc->id);
}

static int on_edge(const struct xf_graph_edge *g, void *ud)
{
    struct xf_engine *e = ud;
    struct xf_store_edge se = {
        .from = g->from,
        .to = g->to,
        .relation = g->relation,
        .key = g->key,
        .confidence = g->confidence,
        .time = g->time,
        .event_id = g->event_id,
    };

    return xf_store_batch_put_edge(e->sbatch, &se);
}

static int discard_edge(const struct xf_graph_edge *g, void *ud)
{
    return 0;
}

static uint64_t pending_key(const struct xf_event *ev)
{
    uint64_t k = ev->idhash ^ ((uint64_t)ev->time * 0x9e3779b97f4a7c15ull);

    return k ? k : 1;
}

/* Returns 1 if ev is already queued, else records it and returns 0. */
static int pending_check_add(struct xf_engine *e, const struct xf_event *ev)
{
    uint64_t k = pending_key(ev);
    size_t i = (size_t)(k >> 17) & (PENDING_SLOTS - 1);

    while (e->pending[i]) {
        if (e->pending[i] == k)
            return 1;
        i = (i + 1) & (PENDING_SLOTS - 1);
    }
    e->pending[i] = k;
    e->n_pending++;
    return 0;
}

/* Persists the graph updates and incidents of what was fed since the last checkpoint, then
 * commits the store batch: after this returns 0, everything fed so far is durable. */
static int checkpoint(struct xf_engine *e)
{
    int rc;

    if (!e->store)
        return xf_correlator_drain_edges(e->corr, discard_edge, NULL);
    if ((rc = xf_correlator_drain_edges(e->corr, on_edge, e)) ||
        (rc = xf_correlator_flush(e->corr, on_incident, on_incident_gone, e)))
        return rc;
    rc = xf_store_batch_commit(e->store, e->sbatch);
    if (rc == 0 && e->n_pending) {
        memset(e->pending, 0, PENDING_SLOTS * sizeof(*e->pending));
        e->n_pending = 0;
    }
    return rc;
}

static void report_error(struct xf_engine *e, const struct record_error *err)
{
    size_t max = e->opts.max_errors_shown ? e->opts.max_errors_shown : 100;

    e->errors_shown++;
    if (e->errors_shown > max)
        return;
    if (e->opts.errors)
        fprintf(e->opts.errors, "%s: %s\n", err->where, err->msg);
    else
        XF_WARN("%s: %s", err->where, err->msg);
    if (e->errors_shown == max)
        XF_WARN("more bad records follow; only counting them from now on");
}

static int consume_event(struct xf_engine *e, const struct xf_event *ev)
{
    int rc;

    if (e->store) {
        rc = xf_store_event_exists(e->store, ev);
        if (rc < 0)
            return rc;
        if (rc == 1 || pending_check_add(e, ev)) {
            e->stats.duplicates++;
            return 0;
        }
        rc = xf_store_batch_put_event(e->sbatch, ev);
        if (rc)
            return rc;
    }
    rc = xf_correlator_add(e->corr, ev);
    if (rc < 0)
        return rc;
    if (rc == 1)
        e->stats.duplicates++;
    return 0;
}

static int consume_batch(struct xf_engine *e, struct batch *b)
{
    size_t ei = 0;
    int rc;

    e->stats.file_errors += b->file_errors;
    /* reader errors first (they were found before the batch's records were read), then
     * decode errors, each in input order */
    for (size_t i = 0; i < b->n_errs; i++) {
        if (i >= b->n_reader_errs)
            break;
        report_error(e, &b->errs[i]);
        if (b->errs[i].code == XF_ETOOBIG)
            e->stats.decode_errors++;
    }
    ei = b->n_reader_errs;
    for (size_t i = 0; i < b->n; i++) {
        e->stats.records++;
        if (!b->ok[i]) {
            e->stats.decode_errors++;
            if (ei < b->n_errs)
                report_error(e, &b->errs[ei++]);
            continue;
        }
        e->stats.decoded++;
        e->stats.by_format[b->used[i]]++;
        if ((rc = consume_event(e, &b->ev[i])))
            return rc;
    }
    if (e->store && e->n_pending >= CHECKPOINT_EVENTS)
        return checkpoint(e);
    return 0;
}

int xf_engine_replay_files(struct xf_engine *e, const char *const *files, size_t n)
{
    pthread_t reader, workers[MAX_WORKERS];
    int n_workers = e->opts.decode_threads;
    struct batch *pool[BATCH_POOL] = {0};
    uint64_t next = 0;
    int rc = 0;

    if (n_workers <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n_workers = cpus > 0 ? (int)cpus : 2;
    }
    if (n_workers > MAX_WORKERS)
        n_workers = MAX_WORKERS;
    for (size_t i = 0; i < BATCH_POOL; i++) {
        pool[i] = batch_create();
        if (!pool[i]) {
            rc = XF_ENOMEM;
            goto out_free;
        }
    }
    queue_init(&e->free_q);
    queue_init(&e->work_q);
    pthread_mutex_init(&e->done_mu, NULL);
    pthread_cond_init(&e->done_cv, NULL);
    memset(e->done, 0, sizeof e->done);
    for (size_t i = 0; i < BATCH_POOL; i++)
        queue_push(&e->free_q, pool[i]);
    e->files = files;
    e->n_files = n;
    e->stop = 0;

    pthread_create(&reader, NULL, reader_main, e);
    for (int i = 0; i < n_workers; i++)
        pthread_create(&workers[i], NULL, worker_main, e);

    for (;;) {
        struct batch *b;
        pthread_mutex_lock(&e->done_mu);
        while (!(b = e->done[next % BATCH_POOL]) || b->seq != next)
            pthread_cond_wait(&e->done_cv, &e->done_mu);
        e->done[next % BATCH_POOL] = NULL;
        pthread_mutex_unlock(&e->done_mu);
        int last = b->last;
        if (!rc && !e->fatal) {
            rc = consume_batch(e, b);
            if (rc) {
                XF_ERROR("replay stopped: %s", xf_strerror(rc));
                e->stop = 1;
            }
        }
        batch_clear(b);
        queue_push(&e->free_q, b);
        next++;
        if (last)
            break;
    }
    /* every batch is back in the free pool now: send each worker an exit marker */
    for (int i = 0; i < n_workers; i++) {
        struct batch *end = queue_pop(&e->free_q);
        batch_clear(end);
        end->poison = 1;
        queue_push(&e->work_q, end);
    }
    pthread_join(reader, NULL);
    for (int i = 0; i < n_workers; i++)
        pthread_join(workers[i], NULL);
    if (!rc && e->fatal)
        rc = e->fatal;
    if (!rc)
        rc = checkpoint(e);
    else
        checkpoint(e);
    queue_close(&e->free_q);
    queue_close(&e->work_q);
    pthread_mutex_destroy(&e->done_mu);
    pthread_cond_destroy(&e->done_cv);
out_free:
    for (size_t i = 0; i < BATCH_POOL; i++)
        batch_destroy(pool[i]);
    return rc;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static int rebuild_cb(const struct xf_event *ev, void *ud)
{
    struct xf_engine *e = ud;
    int rc = xf_correlator_add(e->corr, ev);

    return rc < 0 ? rc : 0;
}

int xf_engine_create(const struct xf_engine_opts *opts, struct xf_engine **out)
{
    struct xf_engine *e = NULL;
    struct xf_rule_errors errs = {0};
    const char *default_rules[1];
    const char *const *paths;
    size_t n_paths;
    int rc;

    e = xf_calloc(1, sizeof *e);
    if (!e)
        return XF_ENOMEM;
    e->opts = *opts;
    xf_buf_init(&e->scratch);

    paths = opts->rule_paths;
    n_paths = opts->n_rule_paths;
    if (!paths || !n_paths) {
        default_rules[0] = xf_rules_default_dir();
        paths = default_rules;
        n_paths = 1;
    }
    rc = xf_ruleset_load(paths, n_paths, &e->rules, &errs);
    for (size_t i = 0; i < errs.count; i++)
        XF_WARN("rule %s:%d: %s", errs.items[i].file, errs.items[i].line,
                errs.items[i].message);
    xf_rule_errors_close(&errs);
    if (rc) {
        XF_ERROR("cannot load rules: %s", xf_strerror(rc));
        goto fail;
    }

    struct xf_correlate_opts copts = {
        .links_path = opts->links_path,
        .rules = e->rules,
    };
    if ((rc = xf_correlator_create(&copts, &e->corr)))
        goto fail;

    if (opts->db_path) {
        struct xf_store_opts sopts = {.sync = opts->sync};
        if ((rc = xf_store_open(opts->db_path, &sopts, &e->store)))
            goto fail;
        if ((rc = xf_store_batch_create(&e->sbatch)))
            goto fail;
        e->pending = xf_calloc(PENDING_SLOTS, sizeof(*e->pending));
        if (!e->pending) {
            rc = XF_ENOMEM;
            goto fail;
        }
        /* rebuild correlation state from what is durable */
        if ((rc = xf_store_events_scan(e->store, rebuild_cb, e)))
            goto fail;
        if ((rc = checkpoint(e)))
            goto fail;
    }
    *out = e;
    return 0;
fail:
    xf_engine_destroy(e);
    return rc;
}

void xf_engine_destroy(struct xf_engine *e)
{
    if (!e)
        return;
    xf_store_batch_destroy(e->sbatch);
    xf_store_close(e->store);
    xf_free(e->pending);
    xf_correlator_destroy(e->corr);
    xf_ruleset_destroy(e->rules);
    xf_buf_close(&e->scratch);
    xf_free(e);
}

int xf_engine_incidents(struct xf_engine *e, xf_incident_cb cb, void *ud)
{
    return xf_correlator_incidents(e->corr, cb, ud);
}

void xf_engine_get_stats(struct xf_engine *e, struct xf_engine_stats *out)
{
    *out = e->stats;
    xf_correlator_get_stats(e->corr, &out->corr);
}
