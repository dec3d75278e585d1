/*
 * engine.c - store + rules + correlation + decoding, wired into the one pipeline that replay
 * and the daemon share (see pipeline.h for the source and hook interface).
 *
 *   source thread ──batches of raw records──► decode workers (N) ──decoded batches──►
 *   caller thread: dedup, persist (one time-ordered row per event), correlate, flush
 *
 * The source is the file reader for replay and the Kafka consumer for the daemon.
 * The one thing to know: batches carry a sequence number and the caller's thread consumes
 * them strictly in that order, so the output is the same whatever the number of workers and
 * however the scheduler interleaves them. Queues are bounded (a fixed pool of batch objects
 * circulates), so memory does not grow with the input. Recovery needs no special path: on
 * open the stored events are fed back through the correlator, and a re-read duplicate is
 * dropped by id.
 *
 * Store commits run on a writer thread while the caller's thread correlates the next interval:
 * at most one commit is in flight, and the hooks (on_incident, before_commit, after_commit)
 * still run on the caller's thread in checkpoint order, after_commit only once the commit it
 * reports has finished. The writer wakes the caller's thread when a commit finishes, so
 * after_commit (offsets, the response service's incidents) never waits for the next batch.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipeline.h"
#include "xf/engine.h"
#include "xf/rules.h"
#include "xf/store.h"

#define BATCH_RECORDS 512
#define READER_ERRS_MAX (BATCH_RECORDS / 4)
#define CHECKPOINT_EVENTS 4096
#define PENDING_SLOTS 16384 /* power of two, > 2 * CHECKPOINT_EVENTS */
#define BATCH_POOL_DEFAULT 24
#define MAX_WORKERS 8

struct record_error {
    char *where;
    char msg[XF_ERRMSG_MAX];
    int code;
};

/* One batch of records: raw bytes in, decoded events out. Objects circulate between the free
 * pool, the work queue and the done slots, so their buffers and event arenas are reused. */
struct xf_pipe_batch {
    uint64_t seq;
    size_t n;
    int flags;                         /* XF_PIPE_* */
    enum xf_format fmt[BATCH_RECORDS]; /* format to decode each record with */
    struct xf_pipe_meta meta[BATCH_RECORDS];
    struct xf_buf raw; /* record bytes, NUL separated */
    size_t off[BATCH_RECORDS];
    size_t len[BATCH_RECORDS];
    struct xf_buf wheres; /* "where" of each record, NUL separated */
    size_t where_off[BATCH_RECORDS];
    struct xf_event ev[BATCH_RECORDS];
    int ok[BATCH_RECORDS]; /* 1 decoded, 0 error (see errs) */
    enum xf_format used[BATCH_RECORDS];
    /* every record may fail to decode, plus the reader errors a batch takes before it is
     * handed on (at most READER_ERRS_MAX) */
    struct record_error errs[BATCH_RECORDS + READER_ERRS_MAX];
    size_t n_errs;
    /* reader-side problems that belong at this point of the stream */
    size_t n_reader_errs;
    uint64_t file_errors;
    int poison; /* tells a worker to exit */
};

#define batch xf_pipe_batch

/* A bounded FIFO of batch pointers guarded by one mutex (capacity: the pool size). */
struct queue {
    struct batch **items;
    size_t cap;
    size_t head, count;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

struct xf_engine {
    struct xf_engine_opts opts;
    int32_t src_topic; /* record_source's cache: a topic index and its name's hash */
    uint64_t src_topic_hash;
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
    /* the writer thread (live during xf_pipe_run only): one store batch in flight, its
     * events' keys in pending_fly (still invisible to exists()), and a spare to fill next */
    pthread_t wr_thread;
    int wr_started;
    pthread_mutex_t wr_mu;
    pthread_cond_t wr_cv;
    struct xf_store_batch *wr_batch; /* in flight; NULL when none */
    struct xf_store_batch *sbatch_spare;
    int wr_done, wr_rc, wr_quit;
    uint64_t wr_seq; /* after_commit's seq for the batch in flight */
    uint64_t *pending_fly;
    size_t n_pending_fly;
    atomic_int fatal; /* set by the source thread, read here */
    size_t errors_shown;
    /* pipeline, live during replay only */
    struct queue free_q, work_q;
    pthread_mutex_t done_mu;
    pthread_cond_t done_cv;
    int wr_finished;     /* under done_mu: the writer finished a commit not collected yet */
    struct batch **done; /* slot = seq % pool */
    size_t pool;         /* batches in the pool */
    uint64_t next_seq;   /* source side: the next batch's number */
    const char *const *files;
    size_t n_files;
    atomic_int stop;
    const struct xf_pipe_hooks *hooks; /* NULL outside xf_pipe_run */
    uint64_t consumed_seq;             /* the last batch consumed (+1), for after_commit */
    uint64_t uncommitted;              /* records consumed since the last checkpoint */
};

static int queue_init(struct queue *q, size_t cap)
{
    q->items = xf_calloc(cap, sizeof *q->items);
    if (!q->items)
        return XF_ENOMEM;
    q->cap = cap;
    q->head = q->count = 0;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    return 0;
}

static void queue_close(struct queue *q)
{
    if (!q->items)
        return;
    xf_free(q->items);
    q->items = NULL;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

static size_t queue_count(struct queue *q)
{
    size_t n;

    pthread_mutex_lock(&q->mu);
    n = q->count;
    pthread_mutex_unlock(&q->mu);
    return n;
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void queue_push(struct queue *q, struct batch *b)
{
    pthread_mutex_lock(&q->mu);
    q->items[(q->head + q->count) % q->cap] = b;
    q->count++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* Pops the oldest batch, waiting up to timeout_ms (-1: forever); NULL on timeout. */
static struct batch *queue_pop_timed(struct queue *q, int timeout_ms)
{
    struct batch *b = NULL;
    struct timespec ts;

    if (timeout_ms >= 0)
        deadline_after(&ts, timeout_ms);
    pthread_mutex_lock(&q->mu);
    while (q->count == 0) {
        if (timeout_ms < 0)
            pthread_cond_wait(&q->cv, &q->mu);
        else if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) == ETIMEDOUT)
            break;
    }
    if (q->count) {
        b = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
    }
    pthread_mutex_unlock(&q->mu);
    return b;
}

static struct batch *queue_pop(struct queue *q)
{
    return queue_pop_timed(q, -1);
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
    b->flags = 0;
    b->n_errs = 0;
    b->n_reader_errs = 0;
    b->file_errors = 0;
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

    if (b->n_errs >= XF_ARRAY_LEN(b->errs))
        return;
    e = &b->errs[b->n_errs++];
    e->where = xf_strdup(where ? where : "?");
    e->code = code;
    snprintf(e->msg, sizeof e->msg, "%s", msg);
}

/* ---- the source side (pipeline.h) ---------------------------------------------------------- */

struct xf_pipe_batch *xf_pipe_batch_get(struct xf_engine *e, int timeout_ms)
{
    struct batch *b = queue_pop_timed(&e->free_q, timeout_ms);

    if (b)
        batch_clear(b);
    return b;
}

/* Appends one record and its "where" (NULL: made from meta on error only). */
static int batch_add_where(struct batch *b, const void *data, size_t len, enum xf_format fmt,
                           const struct xf_pipe_meta *meta, const char *where)
{
    static const struct xf_pipe_meta none = {-1, -1, -1};

    b->off[b->n] = b->raw.len;
    b->len[b->n] = len;
    b->where_off[b->n] = where ? b->wheres.len : SIZE_MAX;
    b->fmt[b->n] = fmt;
    b->meta[b->n] = meta ? *meta : none;
    if (xf_buf_append(&b->raw, data, len) || xf_buf_append(&b->raw, "", 1) ||
        (where && xf_buf_append(&b->wheres, where, strlen(where) + 1)))
        return XF_ENOMEM;
    b->n++;
    return b->n == BATCH_RECORDS || b->n_errs >= BATCH_RECORDS / 2;
}

int xf_pipe_batch_add(struct xf_pipe_batch *b, const void *data, size_t len, enum xf_format fmt,
                      const struct xf_pipe_meta *meta)
{
    return batch_add_where(b, data, len, fmt, meta, NULL);
}

size_t xf_pipe_batch_count(const struct xf_pipe_batch *b)
{
    return b->n;
}

uint64_t xf_pipe_batch_submit(struct xf_engine *e, struct xf_pipe_batch *b, int flags)
{
    uint64_t seq = e->next_seq++;

    b->seq = seq;
    b->flags = flags;
    queue_push(&e->work_q, b);
    return seq;
}

size_t xf_pipe_free_count(struct xf_engine *e)
{
    return queue_count(&e->free_q);
}

size_t xf_pipe_pool_size(struct xf_engine *e)
{
    return e->pool;
}

int xf_pipe_stopping(struct xf_engine *e)
{
    return e->stop;
}

/* ---- the file source (replay) ---------------------------------------------------------------- */

static void file_source(struct xf_engine *e, void *ud)
{
    struct batch *b = xf_pipe_batch_get(e, -1);

    for (size_t f = 0; f < e->n_files && !e->stop; f++) {
        struct xf_reader *r = NULL;
        int rc = xf_reader_open(e->files[f], e->opts.format, &r);
        if (rc) {
            char msg[XF_ERRMSG_MAX];
            snprintf(msg, sizeof msg, "cannot read file: %s", xf_strerror(rc));
            batch_add_error(b, e->files[f], rc, msg);
            b->n_reader_errs++;
            b->file_errors++;
            if (b->n_reader_errs >= READER_ERRS_MAX) {
                xf_pipe_batch_submit(e, b, 0);
                b = xf_pipe_batch_get(e, -1);
            }
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
                    /* the reader goes on with the next zip member, if any */
                    snprintf(msg, sizeof msg,
                             "input stream broken: %s; rest of this file (or zip member) "
                             "skipped",
                             xf_strerror(rc));
                    b->file_errors++;
                }
                batch_add_error(b, where, rc, msg);
                b->n_reader_errs++;
                if (b->n_reader_errs >= READER_ERRS_MAX) {
                    xf_pipe_batch_submit(e, b, 0);
                    b = xf_pipe_batch_get(e, -1);
                }
                continue;
            }
            rc = batch_add_where(b, data, len, e->opts.format, NULL, where);
            if (rc < 0) {
                e->fatal = XF_ENOMEM;
                e->stop = 1;
                break;
            }
            if (rc == 1) {
                xf_pipe_batch_submit(e, b, 0);
                b = xf_pipe_batch_get(e, -1);
            }
            if (e->opts.progress && (e->next_seq & 15) == 0 && b->n == 0) {
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
    xf_pipe_batch_submit(e, b, XF_PIPE_LAST);
}

struct source_arg {
    struct xf_engine *e;
    const struct xf_pipe_hooks *h;
};

static void *source_main(void *arg)
{
    struct source_arg *sa = arg;

    xf_thread_name("xf-input");
    sa->h->source(sa->e, sa->h->ud);
    return NULL;
}

/* ---- decode workers -------------------------------------------------------------------------- */

static void record_where(const struct xf_engine *e, const struct batch *b, size_t i, char *buf,
                         size_t len)
{
    const struct xf_pipe_meta *m = &b->meta[i];
    const struct xf_pipe_hooks *h = e->hooks;

    if (b->where_off[i] != SIZE_MAX)
        snprintf(buf, len, "%s", b->wheres.data + b->where_off[i]);
    else if (h && h->topic_names && m->topic >= 0)
        snprintf(buf, len, "%s[%d]@%lld", h->topic_names[m->topic], (int)m->partition,
                 (long long)m->offset);
    else
        snprintf(buf, len, "record %zu", i);
}

static void *worker_main(void *arg)
{
    struct xf_engine *e = arg;

    xf_thread_name("xf-decode");
    for (;;) {
        struct batch *b = queue_pop(&e->work_q);
        if (b->poison)
            return NULL;
        for (size_t i = 0; i < b->n; i++) {
            char err[XF_ERRMSG_MAX];
            err[0] = '\0';
            int rc = xf_decode(b->fmt[i], b->raw.data + b->off[i], b->len[i], &b->ev[i],
                               &b->used[i], err);
            b->ok[i] = rc == 0;
            if (rc) {
                char where[512];
                record_where(e, b, i, where, sizeof where);
                batch_add_error(b, where, rc, err[0] ? err : xf_strerror(rc));
            }
        }
        pthread_mutex_lock(&e->done_mu);
        e->done[b->seq % e->pool] = b;
        pthread_cond_broadcast(&e->done_cv);
        pthread_mutex_unlock(&e->done_mu);
    }
}

/* ---- the correlating thread ---------------------------------------------------------------- */

static int on_incident(const struct xf_incident_view *inc, void *ud)
{
    struct xf_engine *e = ud;
    const struct xf_pipe_hooks *h = e->hooks;
    int rc = xf_store_batch_put_incident(e->sbatch, inc->id, inc->json, inc->len);

    if (rc == 0 && h && h->on_incident)
        rc = h->on_incident(h->ud, inc);
    return rc;
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

static int pending_has(const uint64_t *tab, uint64_t k)
{
    size_t i = (size_t)(k >> 17) & (PENDING_SLOTS - 1);

    while (tab[i]) {
        if (tab[i] == k)
            return 1;
        i = (i + 1) & (PENDING_SLOTS - 1);
    }
    return 0;
}

/* Returns 1 if ev is already queued (in this interval or in the commit in flight), else
 * records it and returns 0. */
static int pending_check_add(struct xf_engine *e, const struct xf_event *ev)
{
    uint64_t k = pending_key(ev);
    size_t i = (size_t)(k >> 17) & (PENDING_SLOTS - 1);

    if (e->n_pending_fly && pending_has(e->pending_fly, k))
        return 1;
    while (e->pending[i]) {
        if (e->pending[i] == k)
            return 1;
        i = (i + 1) & (PENDING_SLOTS - 1);
    }
    e->pending[i] = k;
    e->n_pending++;
    return 0;
}

/* ---- the writer thread --------------------------------------------------------------------- */

static void *writer_main(void *arg)
{
    struct xf_engine *e = arg;

    xf_thread_name("xf-writer");
    pthread_mutex_lock(&e->wr_mu);
    for (;;) {
        while (!e->wr_quit && (!e->wr_batch || e->wr_done))
            pthread_cond_wait(&e->wr_cv, &e->wr_mu);
        if (!e->wr_batch || e->wr_done)
            break; /* quit, nothing in flight */
        struct xf_store_batch *b = e->wr_batch;
        pthread_mutex_unlock(&e->wr_mu);
        int rc = xf_store_batch_commit(e->store, b);
        pthread_mutex_lock(&e->wr_mu);
        e->wr_rc = rc;
        e->wr_done = 1;
        pthread_cond_broadcast(&e->wr_cv);
        pthread_mutex_unlock(&e->wr_mu);
        /* the caller's thread may be waiting for a batch that comes only with more input:
         * without this wake-up, an idle stream published the commit a whole tick later */
        pthread_mutex_lock(&e->done_mu);
        e->wr_finished = 1;
        pthread_cond_broadcast(&e->done_cv);
        pthread_mutex_unlock(&e->done_mu);
        pthread_mutex_lock(&e->wr_mu);
    }
    pthread_mutex_unlock(&e->wr_mu);
    return NULL;
}

/* After a commit: its keys are visible to exists() now, and the daemon may publish offsets. */
static void commit_done(struct xf_engine *e, uint64_t seq)
{
    const struct xf_pipe_hooks *h = e->hooks;

    if (h && h->after_commit)
        h->after_commit(h->ud, seq);
}

/* Collects the commit in flight, waiting for it when block. Returns 0 (done, or none in
 * flight), 1 (!block and still running) or the commit's error (fatal; the batch is dropped,
 * and its records are re-read from Kafka since no offset covering them was committed). */
static int commit_collect(struct xf_engine *e, int block)
{
    struct xf_store_batch *b;
    uint64_t seq;
    int rc;

    if (!e->wr_batch)
        return 0;
    pthread_mutex_lock(&e->wr_mu);
    while (!e->wr_done) {
        if (!block) {
            pthread_mutex_unlock(&e->wr_mu);
            return 1;
        }
        pthread_cond_wait(&e->wr_cv, &e->wr_mu);
    }
    b = e->wr_batch;
    rc = e->wr_rc;
    seq = e->wr_seq;
    e->wr_batch = NULL;
    e->wr_done = 0;
    pthread_mutex_unlock(&e->wr_mu);
    if (e->n_pending_fly) {
        memset(e->pending_fly, 0, PENDING_SLOTS * sizeof(*e->pending_fly));
        e->n_pending_fly = 0;
    }
    if (rc)
        xf_store_batch_clear(b);
    e->sbatch_spare = b;
    if (rc == 0)
        commit_done(e, seq);
    return rc;
}

/* Hands the filled store batch to the writer (none in flight: the caller collected it). */
static void commit_start(struct xf_engine *e)
{
    uint64_t *t = e->pending;

    e->pending = e->pending_fly;
    e->pending_fly = t;
    e->n_pending_fly = e->n_pending;
    e->n_pending = 0;
    pthread_mutex_lock(&e->wr_mu);
    e->wr_batch = e->sbatch;
    e->wr_seq = e->consumed_seq;
    e->wr_done = 0;
    pthread_cond_signal(&e->wr_cv);
    pthread_mutex_unlock(&e->wr_mu);
    e->sbatch = e->sbatch_spare;
    e->sbatch_spare = NULL;
}

/*
 * Persists the graph updates and incidents of what was fed since the last checkpoint, then
 * commits the store batch. sync: after this returns 0, everything fed so far is durable.
 * Otherwise, with the writer running, the commit is only started: the previous one is
 * collected first (after_commit), so hooks keep their order: after_commit(N) comes before
 * the on_incident and before_commit calls of N+1.
 */
static int checkpoint_mode(struct xf_engine *e, int sync)
{
    const struct xf_pipe_hooks *h = e->hooks;
    int rc;

    if (!e->store)
        return xf_correlator_drain_edges(e->corr, discard_edge, NULL);
    if ((rc = commit_collect(e, 1)))
        return rc;
    if ((rc =
             xf_correlator_drain_edges(e->corr, e->opts.store_edges ? on_edge : discard_edge, e)) ||
        (rc = xf_correlator_flush(e->corr, on_incident, on_incident_gone, e)))
        return rc;
    /* the daemon flushes dead letters and records Kafka offsets here, so they are durable
     * before (and together with) what they cover */
    if (h && h->before_commit && (rc = h->before_commit(h->ud, e->sbatch)))
        return rc;
    e->uncommitted = 0;
    if (e->wr_started) {
        commit_start(e);
        return sync ? commit_collect(e, 1) : 0;
    }
    rc = xf_store_batch_commit(e->store, e->sbatch);
    if (rc == 0 && e->n_pending) {
        memset(e->pending, 0, PENDING_SLOTS * sizeof(*e->pending));
        e->n_pending = 0;
    }
    if (rc == 0)
        commit_done(e, e->consumed_seq);
    return rc;
}

static int checkpoint(struct xf_engine *e)
{
    return checkpoint_mode(e, 1);
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

/* The correlator's input source of a record: its Kafka topic and partition, stable across
 * restarts and rebalances whatever the topics' order in the config; 0 for files. */
static uint64_t record_source(struct xf_engine *e, const struct xf_pipe_meta *m)
{
    const struct xf_pipe_hooks *h = e->hooks;

    if (m->topic < 0 || m->partition < 0 || !h || !h->topic_names || !h->topic_names[m->topic])
        return 0;
    if (m->topic != e->src_topic) {
        const char *t = h->topic_names[m->topic];
        e->src_topic = m->topic;
        e->src_topic_hash = xf_hash64(t, strlen(t));
    }
    uint64_t s = xf_hash64_seed(&m->partition, sizeof m->partition, e->src_topic_hash);
    return s ? s : 1;
}

static int consume_event(struct xf_engine *e, const struct xf_event *ev, uint64_t source)
{
    int rc;

    if (e->store) {
        /* The correlator holds every stored event's id for as long as its dedup set covers
         * that time (it is fed every event put here, and rebuilt from all of them): an id it
         * does not know within that span is not stored, and the store lookup is skipped. */
        rc = xf_correlator_seen(e->corr, ev) == 0 ? 0 : xf_store_event_exists(e->store, ev);
        if (rc < 0)
            return rc;
        if (rc == 1 || pending_check_add(e, ev)) {
            e->stats.duplicates++;
            return 0;
        }
        rc = xf_store_batch_put_event_src(e->sbatch, ev, source);
        if (rc)
            return rc;
    }
    rc = xf_correlator_add_from(e->corr, ev, source);
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
            const struct xf_pipe_hooks *h = e->hooks;
            e->stats.decode_errors++;
            if (h && h->on_bad_record &&
                (rc = h->on_bad_record(h->ud, &b->meta[i], b->raw.data + b->off[i], b->len[i],
                                       ei < b->n_errs ? b->errs[ei].msg : "undecodable")))
                return rc;
            if (ei < b->n_errs)
                report_error(e, &b->errs[ei++]);
            continue;
        }
        e->stats.decoded++;
        e->stats.by_format[b->used[i]]++;
        if ((rc = consume_event(e, &b->ev[i], record_source(e, &b->meta[i]))))
            return rc;
    }
    e->uncommitted += b->n;
    e->consumed_seq = b->seq + 1;
    if (e->hooks && e->hooks->on_batch && b->n)
        e->hooks->on_batch(e->hooks->ud, b->meta, b->n);
    /* a checkpoint marker (the daemon's revoke and shutdown) waits until durable */
    if (e->store && (e->n_pending >= CHECKPOINT_EVENTS || (b->flags & XF_PIPE_CHECKPOINT)))
        return checkpoint_mode(e, (b->flags & XF_PIPE_CHECKPOINT) != 0);
    return 0;
}

/* Starts the writer thread; without it (no store, or no resources) commits run inline. */
static void writer_start(struct xf_engine *e)
{
    if (!e->store || e->wr_started)
        return;
    if (!e->sbatch_spare && xf_store_batch_create(&e->sbatch_spare))
        return;
    if (!e->pending_fly && !(e->pending_fly = xf_calloc(PENDING_SLOTS, sizeof(*e->pending_fly))))
        return;
    pthread_mutex_init(&e->wr_mu, NULL);
    pthread_cond_init(&e->wr_cv, NULL);
    e->wr_batch = NULL;
    e->wr_done = e->wr_rc = e->wr_quit = 0;
    if (pthread_create(&e->wr_thread, NULL, writer_main, e)) {
        XF_WARN("could not start the store writer thread; committing inline");
        pthread_mutex_destroy(&e->wr_mu);
        pthread_cond_destroy(&e->wr_cv);
        return;
    }
    e->wr_started = 1;
}

/* Stops the writer; the caller collected the last commit (checkpoint) or gives it up. */
static void writer_stop(struct xf_engine *e)
{
    if (!e->wr_started)
        return;
    commit_collect(e, 1);
    pthread_mutex_lock(&e->wr_mu);
    e->wr_quit = 1;
    pthread_cond_signal(&e->wr_cv);
    pthread_mutex_unlock(&e->wr_mu);
    pthread_join(e->wr_thread, NULL);
    pthread_mutex_destroy(&e->wr_mu);
    pthread_cond_destroy(&e->wr_cv);
    e->wr_started = 0;
}

/*
 * Waits for batch seq from the workers; NULL after tick_ms (>0) without it, or with *finished
 * set as soon as the writer finished a commit (collect it now). The flag is cleared whenever
 * this returns: with a batch, the caller collects a finished commit after consuming it.
 */
static struct batch *wait_done(struct xf_engine *e, uint64_t seq, int tick_ms, int *finished)
{
    struct batch *b;
    struct timespec ts;

    *finished = 0;
    if (tick_ms > 0)
        deadline_after(&ts, tick_ms);
    pthread_mutex_lock(&e->done_mu);
    while (!(b = e->done[seq % e->pool]) || b->seq != seq) {
        b = NULL;
        if (e->wr_finished) {
            *finished = 1;
            break;
        }
        if (tick_ms <= 0)
            pthread_cond_wait(&e->done_cv, &e->done_mu);
        else if (pthread_cond_timedwait(&e->done_cv, &e->done_mu, &ts) == ETIMEDOUT)
            break;
    }
    if (b)
        e->done[seq % e->pool] = NULL;
    e->wr_finished = 0;
    pthread_mutex_unlock(&e->done_mu);
    return b;
}

int xf_pipe_run(struct xf_engine *e, const struct xf_pipe_hooks *h)
{
    pthread_t source, workers[MAX_WORKERS];
    struct source_arg sa = {e, h};
    int n_workers = e->opts.decode_threads, started = 0;
    struct batch **pool = NULL;
    uint64_t next = 0, last_commit = now_ms();
    int rc = 0;

    if (n_workers <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n_workers = cpus > 0 ? (int)cpus : 2;
    }
    if (n_workers > MAX_WORKERS)
        n_workers = MAX_WORKERS;
    /* a few more than the workers, or the pipeline could not keep every thread busy */
    e->pool = e->opts.queue_batches > 0 ? (size_t)e->opts.queue_batches : BATCH_POOL_DEFAULT;
    if (e->pool < (size_t)n_workers + 2)
        e->pool = (size_t)n_workers + 2;
    pool = xf_calloc(e->pool, sizeof *pool);
    e->done = xf_calloc(e->pool, sizeof *e->done);
    if (!pool || !e->done || queue_init(&e->free_q, e->pool) || queue_init(&e->work_q, e->pool)) {
        rc = XF_ENOMEM;
        goto out_free;
    }
    for (size_t i = 0; i < e->pool; i++) {
        pool[i] = batch_create();
        if (!pool[i]) {
            rc = XF_ENOMEM;
            goto out_free;
        }
    }
    pthread_mutex_init(&e->done_mu, NULL);
    pthread_cond_init(&e->done_cv, NULL);
    for (size_t i = 0; i < e->pool; i++)
        queue_push(&e->free_q, pool[i]);
    e->stop = 0;
    e->next_seq = 0;
    e->consumed_seq = 0;
    e->uncommitted = 0;
    e->wr_finished = 0;
    e->hooks = h;
    started = 1;
    writer_start(e);

    /* workers first: with fewer than asked the pipeline still runs; with none, or no
     * source thread, nothing would ever fill the done slots this thread waits on */
    int started_workers = 0;
    for (int i = 0; i < n_workers; i++) {
        if (pthread_create(&workers[started_workers], NULL, worker_main, e) == 0)
            started_workers++;
        else
            XF_WARN("could not start decode thread %d of %d", i + 1, n_workers);
    }
    n_workers = started_workers;
    int source_started = n_workers > 0 && pthread_create(&source, NULL, source_main, &sa) == 0;
    if (!source_started) {
        XF_ERROR("could not start the pipeline threads");
        rc = XF_EINTERNAL;
    }

    for (; source_started;) {
        int finished;
        struct batch *b = wait_done(e, next, h->tick_ms, &finished);
        if (!b && finished) {
            /* a commit finished while no batch was ready: publish it now (after_commit), not
             * at the next batch or tick; an idle tick's own work waits for its time */
            if (!rc && !e->fatal && (rc = commit_collect(e, 0)) == 1)
                rc = 0;
            if (rc)
                e->stop = 1;
            continue;
        }
        if (!b) {
            /* idle: keep latency low by committing what arrived, and let the daemon reload */
            if (!rc && !e->fatal && h->tick && (rc = h->tick(h->ud)))
                e->stop = 1;
            if (!rc && !e->fatal && e->uncommitted && e->store) {
                if ((rc = checkpoint(e)))
                    e->stop = 1;
                last_commit = now_ms();
            } else if (!rc && !e->fatal && (rc = commit_collect(e, 1))) {
                e->stop = 1;
            }
            continue;
        }
        int last = b->flags & XF_PIPE_LAST;
        if (!rc && !e->fatal) {
            rc = consume_batch(e, b);
            if (!rc && (b->flags & XF_PIPE_CHECKPOINT))
                last_commit = now_ms();
            if (!rc && h->tick_ms > 0 && e->uncommitted && e->store &&
                now_ms() - last_commit >= (uint64_t)h->tick_ms) {
                rc = checkpoint_mode(e, 0);
                last_commit = now_ms();
            }
            /* publish a finished commit now rather than at the next checkpoint */
            if (!rc && e->wr_batch && (rc = commit_collect(e, 0)) == 1)
                rc = 0;
            if (!rc && h->tick)
                rc = h->tick(h->ud);
            if (rc) {
                XF_ERROR("pipeline stopped: %s", xf_strerror(rc));
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
    if (source_started)
        pthread_join(source, NULL);
    for (int i = 0; i < n_workers; i++)
        pthread_join(workers[i], NULL);
    if (!rc && e->fatal)
        rc = e->fatal;
    /* After a failure nothing more is committed: a commit now would carry offsets past the
     * records of a batch whose commit failed, and they would never be read again. What was
     * not durable is re-read from Kafka (or the files are replayed) next time. */
    if (!rc)
        rc = checkpoint(e);
    writer_stop(e);
out_free:
    e->hooks = NULL;
    if (started) {
        pthread_mutex_destroy(&e->done_mu);
        pthread_cond_destroy(&e->done_cv);
    }
    queue_close(&e->free_q);
    queue_close(&e->work_q);
    for (size_t i = 0; pool && i < e->pool; i++)
        batch_destroy(pool[i]);
    xf_free(pool);
    xf_free(e->done);
    e->done = NULL;
    return rc;
}

int xf_engine_replay_files(struct xf_engine *e, const char *const *files, size_t n)
{
    struct xf_pipe_hooks h = {.source = file_source};

    e->files = files;
    e->n_files = n;
    return xf_pipe_run(e, &h);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static int rebuild_cb(const struct xf_event *ev, uint64_t source, void *ud)
{
    struct xf_engine *e = ud;
    int rc = xf_correlator_add_from(e->corr, ev, source);

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
    e->src_topic = -1;
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
        XF_WARN("rule %s:%d: %s", errs.items[i].file, errs.items[i].line, errs.items[i].message);
    xf_rule_errors_close(&errs);
    if (rc) {
        XF_ERROR("cannot load rules: %s", xf_strerror(rc));
        goto fail;
    }

    struct xf_correlate_opts copts = {
        .links_path = opts->links_path,
        .rules = e->rules,
        .lateness_ms = opts->lateness_ms,
        .source_idle_events = opts->source_idle_events,
        .max_skew_ms = opts->max_skew_ms,
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
        if ((rc = xf_store_events_scan_src(e->store, rebuild_cb, e)))
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
    xf_store_batch_destroy(e->sbatch_spare);
    xf_store_close(e->store);
    xf_free(e->pending);
    xf_free(e->pending_fly);
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

/* ---- for the daemon (pipeline.h) ----------------------------------------------------------- */

struct xf_store *xf_engine_store(struct xf_engine *e)
{
    return e->store;
}

void xf_engine_swap_rules(struct xf_engine *e, struct xf_ruleset *rules)
{
    xf_correlator_set_rules(e->corr, rules);
    xf_ruleset_destroy(e->rules);
    e->rules = rules;
}

size_t xf_engine_rule_count(struct xf_engine *e)
{
    return e->rules ? xf_ruleset_count(e->rules) : 0;
}
