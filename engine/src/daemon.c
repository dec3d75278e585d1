/*
 * daemon.c - `xdrflow run`: the Kafka consumer as the pipeline's source, offsets committed
 * only once durable, dead letters, rule reload, and /metrics, /healthz, /readyz.
 *
 *   consumer thread ── poll ─► batches ─► workers ─► correlating thread ── checkpoint ─┐
 *        ▲  commit durable offsets (async; sync on revoke and shutdown)               │
 *        └──────────── durable offsets per partition, published under mu ◄────────────┘
 *
 * The one thing to know: the correlating thread publishes, at each store commit, the next
 * offset of every partition whose records are all durable (processing is in order, so that
 * is simply the highest consumed offset + 1); only the consumer thread talks to Kafka and it
 * commits nothing else. Dead letters are flushed to Kafka before the store commit that
 * covers their offsets, so a crash re-delivers rather than loses them. On revoke the consumer
 * thread pushes a checkpoint marker through the pipeline, waits until it is durable, and
 * commits synchronously before letting the partitions go.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "metrics.h"
#include "pipeline.h"
#include "xf/api.h"
#include "xf/daemon.h"
#include "xf/engine.h"
#include "xf/kafka.h"
#include "xf/rules.h"
#include "xf/response.h"
#include "xf/store.h"

#define POLL_MAX 512
#define TICK_MS 200
#define LAG_EVERY_MS 1000

/* One partition's progress. Offsets are "next to read" (last + 1); -1 means none yet. */
struct part {
    int32_t topic;
    int32_t partition;
    int64_t pending;   /* consumed by the correlator, not yet durable */
    int64_t durable;   /* covered by a committed store batch */
    int64_t committed; /* committed to the group */
    int64_t lag;       /* from the consumer's cached watermarks; -1 unknown */
    /* pending when the store batch in flight was sealed (before_commit): what becomes durable
     * at its after_commit, while the correlator already consumes past it */
    int64_t staged;
};

/* What the HTTP handlers read: written at each checkpoint under mu. */
struct snapshot {
    struct xf_engine_stats eng;
    struct xf_store_stats store;
    uint64_t last_checkpoint_ms; /* CLOCK_REALTIME ms; 0 none yet */
    uint64_t rules_loaded;
};

struct xf_daemon {
    struct xf_config cfg;
    /* refused requests audited this second (each audit line is synced: unauthenticated
     * callers must not be able to keep the response thread's audit log busy) */
    pthread_mutex_t refused_mu;
    int64_t refused_second;
    unsigned refused_in_second;
    uint64_t refused_unlogged;
    const char *topic_names[XF_MAX_TOPICS];
    struct xf_engine *eng;
    struct xf_kafka_consumer *cons;
    struct xf_kafka_producer *dlq;
    struct xf_api *api;

    pthread_mutex_t mu; /* guards parts, durable_seq, snap */
    pthread_cond_t cv;  /* durable_seq moved */
    struct part *parts;
    size_t n_parts, cap_parts;
    uint64_t durable_seq; /* batches with seq < this are durable */
    struct snapshot snap;

    /* consumer thread only */
    struct xf_pipe_batch *cur; /* the batch being filled */
    int in_pipeline;           /* the pipeline runs: revoke must drain through it */
    /* correlating thread only */
    size_t dlq_unflushed;

    atomic_int stop_req, reload_req, running, rebuilt;
    atomic_uint_fast64_t records_in, dead_letters, dlq_failures, pauses, reloads, reload_failures,
        rebalances, offset_gaps, commits, commit_failures, backpressure_waits;
    atomic_uint assigned;
    atomic_uint queue_depth;

    /* the response service (NULL when the daemon has no store to keep its outbox in) */
    struct xf_response *resp;
    /* correlating thread only: incidents changed in the store batch about to commit, handed
     * to the response service once that batch is durable */
    struct inc_copy *incs;
    size_t n_incs, cap_incs;
    size_t incs_dropped;
};

struct inc_copy {
    char *json;
    size_t len;
};

static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- partition table (under mu) ----------------------------------------------------------- */

static struct part *part_find(struct xf_daemon *d, int32_t topic, int32_t partition, int add)
{
    for (size_t i = 0; i < d->n_parts; i++)
        if (d->parts[i].topic == topic && d->parts[i].partition == partition)
            return &d->parts[i];
    if (!add)
        return NULL;
    if (xf_array_grow(&d->parts, &d->cap_parts, d->n_parts, sizeof(*d->parts), 16))
        return NULL;
    d->parts[d->n_parts] = (struct part){topic, partition, -1, -1, -1, -1, -1};
    return &d->parts[d->n_parts++];
}

static int topic_index(const struct xf_daemon *d, const char *name)
{
    for (size_t i = 0; i < d->cfg.n_topics; i++)
        if (strcmp(d->topic_names[i], name) == 0)
            return (int)i;
    return -1;
}

/* ---- correlating-thread hooks ------------------------------------------------------------- */

static void hook_on_batch(void *ud, const struct xf_pipe_meta *meta, size_t n)
{
    struct xf_daemon *d = ud;
    struct part *p = NULL;

    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < n; i++) {
        if (meta[i].topic < 0)
            continue;
        if (!p || p->topic != meta[i].topic || p->partition != meta[i].partition)
            p = part_find(d, meta[i].topic, meta[i].partition, 1);
        if (p && meta[i].offset + 1 > p->pending)
            p->pending = meta[i].offset + 1;
    }
    pthread_mutex_unlock(&d->mu);
}

static int hook_on_bad_record(void *ud, const struct xf_pipe_meta *m, const char *data, size_t len,
                              const char *reason)
{
    struct xf_daemon *d = ud;
    char part[16], off[24];
    struct xf_kafka_header hdrs[4];
    const char *topic = m->topic >= 0 ? d->topic_names[m->topic] : "";
    int rc;

    snprintf(part, sizeof part, "%d", (int)m->partition);
    snprintf(off, sizeof off, "%lld", (long long)m->offset);
    hdrs[0] = (struct xf_kafka_header){"xdrflow-error", reason, strlen(reason)};
    hdrs[1] = (struct xf_kafka_header){"xdrflow-source-topic", topic, strlen(topic)};
    hdrs[2] = (struct xf_kafka_header){"xdrflow-source-partition", part, strlen(part)};
    hdrs[3] = (struct xf_kafka_header){"xdrflow-source-offset", off, strlen(off)};
    rc = xf_kafka_producer_send(d->dlq, d->cfg.dead_letter_topic, -1, NULL, 0, data, len, hdrs, 4);
    if (rc) {
        /* the record stays in its source topic; its offset is committed anyway, so say so */
        atomic_fetch_add(&d->dlq_failures, 1);
        XF_ERROR("dead letter for %s[%s]@%s not queued: %s", topic, part, off, xf_strerror(rc));
        return 0;
    }
    d->dlq_unflushed++;
    atomic_fetch_add(&d->dead_letters, 1);
    return 0;
}

static int hook_before_commit(void *ud, struct xf_store_batch *sb)
{
    struct xf_daemon *d = ud;
    int rc = 0;

    /* dead letters first: their offsets become committable with this batch */
    while (d->dlq_unflushed) {
        rc = xf_kafka_producer_flush(d->dlq, 1000);
        if (rc == 0)
            break;
        if (rc == XF_EIO) {
            atomic_fetch_add(&d->dlq_failures, 1);
            XF_ERROR("some dead letters could not be delivered (see above); going on");
            rc = 0;
            break;
        }
        if (atomic_load(&d->stop_req)) {
            XF_ERROR("dead letters not flushed at shutdown; their records will be re-read");
            return XF_EAGAIN;
        }
        XF_WARN("dead-letter topic not reachable yet; holding the checkpoint");
    }
    d->dlq_unflushed = 0;
    /* the offsets travel with the data they cover (for operators; the group's committed
     * offsets stay the source of truth) */
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->n_parts && !rc; i++) {
        struct part *p = &d->parts[i];
        char key[256], val[24];
        p->staged = p->pending;
        if (p->pending < 0 || p->pending == p->durable)
            continue;
        snprintf(key, sizeof key, "kafka.offset/%s/%d", d->topic_names[p->topic],
                 (int)p->partition);
        snprintf(val, sizeof val, "%lld", (long long)p->pending);
        rc = xf_store_batch_put_meta(sb, key, val, strlen(val));
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* Correlating thread: keeps a copy of a changed incident until its batch is durable. */
static int hook_on_incident(void *ud, const struct xf_incident_view *inc)
{
    struct xf_daemon *d = ud;
    char *copy;

    if (!d->resp)
        return 0;
    if (xf_array_grow(&d->incs, &d->cap_incs, d->n_incs, sizeof(*d->incs), 64))
        return XF_ENOMEM;
    if (!(copy = xf_strndup(inc->json, inc->len)))
        return XF_ENOMEM;
    d->incs[d->n_incs++] = (struct inc_copy){copy, inc->len};
    return 0;
}

/* Correlating thread, after a commit: the incidents kept above are durable now, so the
 * response service may act on them (durable first: a crash before this line re-plans them
 * from the store at the next start, never acts on what was not stored). */
static void forward_incidents(struct xf_daemon *d)
{
    for (size_t i = 0; i < d->n_incs; i++) {
        if (xf_response_incident(d->resp, d->incs[i].json, d->incs[i].len))
            d->incs_dropped++;
        xf_free(d->incs[i].json);
    }
    d->n_incs = 0;
}

static void hook_after_commit(void *ud, uint64_t seq)
{
    struct xf_daemon *d = ud;
    struct xf_engine_stats es;
    struct xf_store_stats ss;

    xf_engine_get_stats(d->eng, &es);
    xf_store_get_stats(xf_engine_store(d->eng), &ss);
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->n_parts; i++)
        d->parts[i].durable = d->parts[i].staged;
    if (seq > d->durable_seq)
        d->durable_seq = seq;
    d->snap.eng = es;
    d->snap.store = ss;
    d->snap.last_checkpoint_ms = wall_ms();
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    if (d->resp)
        forward_incidents(d);
}

/* SIGHUP: load the rules anew; swap only if they load without a single error. */
static void reload_rules(struct xf_daemon *d)
{
    struct xf_rule_errors errs = {0};
    struct xf_ruleset *rs = NULL;
    const char *def[1];
    const char *const *paths = (const char *const *)d->cfg.rule_paths;
    size_t n = d->cfg.n_rule_paths;
    int rc;

    if (!n) {
        def[0] = xf_rules_default_dir();
        paths = def;
        n = 1;
    }
    rc = xf_ruleset_load(paths, n, &rs, &errs);
    for (size_t i = 0; i < errs.count; i++)
        XF_ERROR("rule reload: %s:%d: %s", errs.items[i].file, errs.items[i].line,
                 errs.items[i].message);
    if (rc || errs.count) {
        XF_ERROR("rule reload failed (%s); keeping the %zu rules loaded before",
                 rc ? xf_strerror(rc) : "errors above", xf_engine_rule_count(d->eng));
        atomic_fetch_add(&d->reload_failures, 1);
        xf_ruleset_destroy(rs);
    } else {
        xf_engine_swap_rules(d->eng, rs);
        atomic_fetch_add(&d->reloads, 1);
        XF_INFO("rules reloaded: %zu rules", xf_engine_rule_count(d->eng));
        pthread_mutex_lock(&d->mu);
        d->snap.rules_loaded = xf_engine_rule_count(d->eng);
        pthread_mutex_unlock(&d->mu);
    }
    xf_rule_errors_close(&errs);
}

static int hook_tick(void *ud)
{
    struct xf_daemon *d = ud;

    if (atomic_exchange(&d->reload_req, 0))
        reload_rules(d);
    return 0;
}

/* ---- the consumer thread ------------------------------------------------------------------ */

/* Commits every durable offset not committed yet. */
static int commit_durable(struct xf_daemon *d, int sync)
{
    struct xf_kafka_offset *offs = NULL;
    size_t n = 0;
    int rc = 0;

    pthread_mutex_lock(&d->mu);
    if (d->n_parts)
        offs = xf_calloc(d->n_parts, sizeof *offs);
    for (size_t i = 0; offs && i < d->n_parts; i++) {
        const struct part *p = &d->parts[i];
        if (p->durable > p->committed)
            offs[n++] =
                (struct xf_kafka_offset){d->topic_names[p->topic], p->partition, p->durable};
    }
    pthread_mutex_unlock(&d->mu);
    if (n)
        rc = xf_kafka_consumer_commit(d->cons, offs, n, sync);
    if (n && rc == 0) {
        atomic_fetch_add(&d->commits, 1);
        pthread_mutex_lock(&d->mu);
        for (size_t i = 0; i < n; i++) {
            struct part *p = part_find(d, topic_index(d, offs[i].topic), offs[i].partition, 0);
            if (p && offs[i].offset > p->committed)
                p->committed = offs[i].offset;
        }
        pthread_mutex_unlock(&d->mu);
    } else if (n) {
        atomic_fetch_add(&d->commit_failures, 1);
        XF_WARN("offset commit failed: %s (retried at the next checkpoint)", xf_strerror(rc));
    }
    xf_free(offs);
    return rc;
}

/* Pushes whatever is being filled through the pipeline with a checkpoint and waits until it
 * is durable. Returns 0, or XF_EAGAIN when the pipeline stopped first. */
static int drain_to_durable(struct xf_daemon *d)
{
    struct xf_pipe_batch *b = d->cur ? d->cur : xf_pipe_batch_get(d->eng, -1);
    uint64_t seq;
    int rc = 0;

    d->cur = NULL;
    seq = xf_pipe_batch_submit(d->eng, b, XF_PIPE_CHECKPOINT);
    pthread_mutex_lock(&d->mu);
    while (d->durable_seq <= seq) {
        struct timespec ts;
        if (xf_pipe_stopping(d->eng)) {
            rc = XF_EAGAIN;
            break;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&d->cv, &d->mu, &ts);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static void on_rebalance(enum xf_kafka_rebalance what, const struct xf_kafka_tp *tps, size_t n,
                         void *ud)
{
    struct xf_daemon *d = ud;

    atomic_fetch_add(&d->rebalances, 1);
    if (what == XF_KAFKA_ASSIGN) {
        XF_INFO("assigned %zu partitions", n);
        pthread_mutex_lock(&d->mu);
        for (size_t i = 0; i < n; i++) {
            int t = topic_index(d, tps[i].topic);
            if (t >= 0)
                part_find(d, t, tps[i].partition, 1);
        }
        pthread_mutex_unlock(&d->mu);
        return;
    }
    XF_INFO("revoking %zu partitions: making consumed records durable first", n);
    if (d->in_pipeline && drain_to_durable(d))
        XF_WARN("pipeline stopped before the revoke; uncommitted records will be re-read");
    commit_durable(d, 1);
    /* forget them: if they come back, the group's committed offset is the truth, and an old
     * entry here must never commit backwards over another member's progress */
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < n; i++) {
        int t = topic_index(d, tps[i].topic);
        struct part *p = t >= 0 ? part_find(d, t, tps[i].partition, 0) : NULL;
        if (p) {
            *p = d->parts[d->n_parts - 1];
            d->n_parts--;
        }
    }
    pthread_mutex_unlock(&d->mu);
}

static void on_lag(const char *topic, int32_t partition, int64_t lag, void *ud)
{
    struct xf_daemon *d = ud;
    int t = topic_index(d, topic);
    struct part *p;

    if (t < 0)
        return;
    p = part_find(d, t, partition, 1);
    if (p)
        p->lag = lag;
}

/* The record's format: its content-type header wins over the topic's configured format. */
static enum xf_format record_format(const struct xf_daemon *d, int topic, const char *ctype)
{
    enum xf_format f;

    if (ctype) {
        if (strstr(ctype, "protobuf") || strcmp(ctype, "proto") == 0)
            return XF_FMT_PROTO;
        if (xf_format_from_name(ctype, &f) == 0)
            return f;
        if (strstr(ctype, "ecs"))
            return XF_FMT_ECS;
        if (strstr(ctype, "sysmon"))
            return XF_FMT_SYSMON;
        if (strstr(ctype, "winevt"))
            return XF_FMT_WINEVT;
    }
    return topic >= 0 ? d->cfg.topics[topic].format : XF_FMT_AUTO;
}

static void kafka_source(struct xf_engine *e, void *ud)
{
    struct xf_daemon *d = ud;
    struct xf_kafka_record recs[POLL_MAX];
    struct xf_kafka_consumer_stats cs;
    size_t pool = xf_pipe_pool_size(e);
    uint64_t last_lag = 0;

    d->in_pipeline = 1;
    while (!atomic_load(&d->stop_req) && !xf_pipe_stopping(e)) {
        size_t n = 0, room, free_now;
        int rc;

        free_now = xf_pipe_free_count(e);
        atomic_store(&d->queue_depth, (unsigned)(pool - free_now));
        if (!d->cur)
            d->cur = xf_pipe_batch_get(e, 0);
        if (!d->cur) {
            /*
             * Every batch is in flight: stop polling until one comes back, but do not pause
             * the partitions. librdkafka's prefetch is bounded by queued.max.messages.kbytes
             * (ingest/src/kafka.c), and a pause would throw that prefetch away (the resume
             * fetches it again from the position): measured, pausing here cost 60 % of the
             * throughput (docs/kafka.md "Backpressure").
             */
            atomic_fetch_add(&d->backpressure_waits, 1);
            d->cur = xf_pipe_batch_get(e, 100);
            continue;
        }
        room = POLL_MAX - xf_pipe_batch_count(d->cur);
        rc = xf_kafka_consumer_poll(d->cons, recs, room, &n, xf_pipe_batch_count(d->cur) ? 5 : 100);
        if (rc) {
            XF_ERROR("consumer failed: %s", xf_strerror(rc));
            break;
        }
        for (size_t i = 0; i < n; i++) {
            int t = topic_index(d, recs[i].topic);
            struct xf_pipe_meta m = {t, recs[i].partition, recs[i].offset};
            if (!d->cur)
                d->cur = xf_pipe_batch_get(e, -1);
            rc = xf_pipe_batch_add(d->cur, recs[i].value, recs[i].len,
                                   record_format(d, t, recs[i].content_type), &m);
            if (rc < 0) {
                XF_ERROR("out of memory filling a batch");
                atomic_store(&d->stop_req, 1);
                break;
            }
            if (rc == 1) {
                xf_pipe_batch_submit(e, d->cur, 0);
                d->cur = NULL;
            }
        }
        atomic_fetch_add(&d->records_in, n);
        /* nothing more right now: send the partial batch on, latency matters more here */
        if (n == 0 && d->cur && xf_pipe_batch_count(d->cur)) {
            xf_pipe_batch_submit(e, d->cur, 0);
            d->cur = NULL;
        }
        commit_durable(d, 0);
        xf_kafka_consumer_get_stats(d->cons, &cs);
        atomic_store(&d->assigned, cs.assigned);
        atomic_store(&d->offset_gaps, cs.offset_gaps);
        if (wall_ms() - last_lag >= LAG_EVERY_MS) {
            last_lag = wall_ms();
            pthread_mutex_lock(&d->mu);
            xf_kafka_consumer_lag(d->cons, on_lag, d);
            pthread_mutex_unlock(&d->mu);
        }
    }
    /* shutdown: everything polled goes through, becomes durable, and is committed */
    if (drain_to_durable(d) == 0)
        commit_durable(d, 1);
    d->in_pipeline = 0;
    xf_pipe_batch_submit(e, xf_pipe_batch_get(e, -1), XF_PIPE_LAST);
}

/* ---- HTTP --------------------------------------------------------------------------------- */

static int metrics_response(struct xf_daemon *d, struct xf_buf *b)
{
    struct xf_response_stats rs;
    struct xf_api_stats as;
    int rc = 0;

    if (d->resp) {
        const char *states[] = {"planned", "sent", "confirmed", "failed", "denied", "dry_run"};
        uint64_t vals[6];

        xf_response_get_stats(d->resp, &rs);
        vals[0] = rs.planned;
        vals[1] = rs.sent;
        vals[2] = rs.confirmed;
        vals[3] = rs.failed;
        vals[4] = rs.denied;
        vals[5] = rs.dry_run;
        rc |= xf_prom_header(b, "xdrflow_response_actions_total", "counter",
                             "Actions that reached each state since start.");
        for (size_t i = 0; i < XF_ARRAY_LEN(states); i++) {
            const char *labels[2] = {"state", states[i]};
            rc |= xf_prom_sample(b, "xdrflow_response_actions_total", labels, 1, (double)vals[i]);
        }
        rc |= xf_prom_metric(b, "xdrflow_response_actions_pending", "gauge",
                             "Actions planned, approved or sent, not finished yet.",
                             (double)rs.pending);
        rc |= xf_prom_metric(b, "xdrflow_response_retries_total", "counter",
                             "Sends retried after a transient failure.", (double)rs.retries);
        rc |= xf_prom_metric(b, "xdrflow_response_rate_limited_total", "counter",
                             "Isolations the policy's rate limit held back.",
                             (double)rs.rate_limited);
        rc |= xf_prom_metric(b, "xdrflow_response_protected_blocked_total", "counter",
                             "Isolations refused because the host is protected.",
                             (double)rs.blocked_protected);
        rc |= xf_prom_metric(b, "xdrflow_response_http_requests_total", "counter",
                             "HTTP requests sent to connectors.", (double)rs.http_requests);
    }
    if (d->api) {
        xf_api_get_stats(d->api, &as);
        rc |= xf_prom_header(b, "xdrflow_api_requests_total", "counter",
                             "API answers by HTTP status.");
        for (int code = 100; code < XF_API_STATUS_MAX; code++) {
            char c[8];
            const char *labels[2] = {"code", c};
            if (!as.by_status[code])
                continue;
            snprintf(c, sizeof c, "%d", code);
            rc |= xf_prom_sample(b, "xdrflow_api_requests_total", labels, 1,
                                 (double)as.by_status[code]);
        }
        rc |= xf_prom_metric(b, "xdrflow_api_auth_failures_total", "counter",
                             "API requests refused with 401 or 403.", (double)as.auth_failures);
    }
    return rc ? XF_ENOMEM : 0;
}

static int metrics_write(struct xf_daemon *d, struct xf_buf *b)
{
    static const char *const fmt_names[XF_FMT__COUNT] = {"auto", "ecs", "sysmon", "winevt",
                                                         "proto"};
    struct snapshot s;
    struct part *parts = NULL;
    size_t n = 0;
    double age;
    int rc = 0;

    pthread_mutex_lock(&d->mu);
    s = d->snap;
    if (d->n_parts && (parts = xf_calloc(d->n_parts, sizeof *parts))) {
        memcpy(parts, d->parts, d->n_parts * sizeof *parts);
        n = d->n_parts;
    }
    pthread_mutex_unlock(&d->mu);

    rc |= xf_prom_header(b, "xdrflow_consumer_lag", "gauge",
                         "Records behind the high watermark, per partition (-1 unknown).");
    for (size_t i = 0; i < n; i++) {
        char part[16];
        const char *labels[4] = {"topic", d->topic_names[parts[i].topic], "partition", part};
        snprintf(part, sizeof part, "%d", (int)parts[i].partition);
        rc |= xf_prom_sample(b, "xdrflow_consumer_lag", labels, 2, (double)parts[i].lag);
    }
    rc |= xf_prom_header(b, "xdrflow_committed_offset", "gauge",
                         "Next offset committed to the group, per partition.");
    for (size_t i = 0; i < n; i++) {
        char part[16];
        const char *labels[4] = {"topic", d->topic_names[parts[i].topic], "partition", part};
        snprintf(part, sizeof part, "%d", (int)parts[i].partition);
        rc |= xf_prom_sample(b, "xdrflow_committed_offset", labels, 2, (double)parts[i].committed);
    }
    xf_free(parts);
    rc |= xf_prom_metric(b, "xdrflow_records_in_total", "counter", "Records polled from Kafka.",
                         (double)atomic_load(&d->records_in));
    rc |= xf_prom_header(b, "xdrflow_events_decoded_total", "counter",
                         "Records decoded into events, by decoder.");
    for (int f = 1; f < XF_FMT__COUNT; f++) {
        const char *labels[2] = {"decoder", fmt_names[f]};
        rc |= xf_prom_sample(b, "xdrflow_events_decoded_total", labels, 1,
                             (double)s.eng.by_format[f]);
    }
    rc |= xf_prom_metric(b, "xdrflow_decode_errors_total", "counter",
                         "Records that did not decode.", (double)s.eng.decode_errors);
    rc |= xf_prom_metric(b, "xdrflow_dead_letters_total", "counter",
                         "Records sent to the dead-letter topic.",
                         (double)atomic_load(&d->dead_letters));
    rc |= xf_prom_metric(b, "xdrflow_dead_letter_failures_total", "counter",
                         "Dead letters that could not be queued or delivered.",
                         (double)atomic_load(&d->dlq_failures));
    rc |= xf_prom_metric(b, "xdrflow_duplicates_total", "counter",
                         "Events dropped because their id was already stored.",
                         (double)s.eng.duplicates);
    rc |= xf_prom_metric(b, "xdrflow_queue_batches", "gauge",
                         "Batches in flight between the consumer and the correlator.",
                         (double)atomic_load(&d->queue_depth));
    rc |= xf_prom_metric(b, "xdrflow_backpressure_waits_total", "counter",
                         "Times every batch was in flight and the consumer waited for one.",
                         (double)atomic_load(&d->backpressure_waits));
    rc |= xf_prom_metric(b, "xdrflow_pauses_total", "counter",
                         "Partition pauses for backpressure (none since librdkafka's queue "
                         "limits bound the prefetch instead; kept for dashboards).",
                         (double)atomic_load(&d->pauses));
    rc |= xf_prom_metric(b, "xdrflow_rebalances_total", "counter", "Assignments and revokes.",
                         (double)atomic_load(&d->rebalances));
    rc |=
        xf_prom_metric(b, "xdrflow_assigned_partitions", "gauge",
                       "Partitions assigned to this instance.", (double)atomic_load(&d->assigned));
    rc |= xf_prom_metric(b, "xdrflow_offset_gaps_total", "counter",
                         "Records gone (retention) before they were read.",
                         (double)atomic_load(&d->offset_gaps));
    rc |= xf_prom_metric(b, "xdrflow_offset_commits_total", "counter",
                         "Offset commits to the group.", (double)atomic_load(&d->commits));
    rc |= xf_prom_metric(b, "xdrflow_offset_commit_failures_total", "counter",
                         "Offset commits that failed (retried).",
                         (double)atomic_load(&d->commit_failures));
    rc |= xf_prom_metric(b, "xdrflow_store_events_written_total", "counter",
                         "Events written to RocksDB.", (double)s.store.events_written);
    rc |= xf_prom_metric(b, "xdrflow_store_keys", "gauge",
                         "RocksDB's estimate of keys over all column families.",
                         (double)s.store.estimate_num_keys);
    rc |= xf_prom_metric(b, "xdrflow_store_sst_bytes", "gauge", "RocksDB SST file bytes.",
                         (double)s.store.sst_bytes);
    rc |= xf_prom_metric(b, "xdrflow_correlation_nodes", "gauge", "Graph nodes in memory.",
                         (double)s.eng.corr.nodes);
    rc |= xf_prom_metric(b, "xdrflow_correlation_edges", "gauge", "Graph edges in memory.",
                         (double)s.eng.corr.edges);
    rc |= xf_prom_metric(b, "xdrflow_correlation_hubs", "gauge",
                         "Nodes linked so often they no longer carry connectivity.",
                         (double)s.eng.corr.hubs);
    rc |=
        xf_prom_metric(b, "xdrflow_correlation_pending", "gauge",
                       "Windowed-join entries waiting for a partner.", (double)s.eng.corr.pending);
    rc |= xf_prom_metric(b, "xdrflow_correlation_evicted_total", "counter",
                         "Nodes and join entries dropped behind the watermark.",
                         (double)s.eng.corr.evicted);
    rc |= xf_prom_metric(b, "xdrflow_correlation_watermark_seconds", "gauge",
                         "Event time (Unix seconds) behind which state may be evicted: the "
                         "slowest active partition's newest event minus the lateness (-1 none "
                         "yet).",
                         s.eng.corr.watermark == INT64_MIN ? -1.0
                                                           : (double)s.eng.corr.watermark / 1000.0);
    rc |= xf_prom_metric(b, "xdrflow_correlation_partitions", "gauge",
                         "Partitions the watermark has seen events from.",
                         (double)s.eng.corr.sources);
    rc |= xf_prom_metric(b, "xdrflow_correlation_partitions_active", "gauge",
                         "Of those, the ones holding the watermark (not idle).",
                         (double)s.eng.corr.sources_active);
    rc |= xf_prom_metric(b, "xdrflow_incidents", "gauge", "Incidents currently open.",
                         (double)s.eng.corr.incidents);
    rc |= xf_prom_metric(b, "xdrflow_detections_total", "counter", "Rule and alert detections.",
                         (double)s.eng.corr.detections);
    age = s.last_checkpoint_ms ? (double)(wall_ms() - s.last_checkpoint_ms) / 1000.0 : -1;
    rc |= xf_prom_metric(b, "xdrflow_last_checkpoint_age_seconds", "gauge",
                         "Seconds since the last durable checkpoint (-1 none yet).", age);
    rc |= xf_prom_metric(b, "xdrflow_rules_loaded", "gauge", "Sigma rules in use.",
                         (double)s.rules_loaded);
    rc |= xf_prom_metric(b, "xdrflow_rule_reloads_total", "counter", "Successful rule reloads.",
                         (double)atomic_load(&d->reloads));
    rc |= xf_prom_metric(b, "xdrflow_rule_reload_failures_total", "counter",
                         "Rule reloads rejected (the old rules stayed).",
                         (double)atomic_load(&d->reload_failures));
    rc |= xf_prom_process(b);
    return rc ? XF_ENOMEM : 0;
}

static int h_metrics(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    int rc;

    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    rc = metrics_write(ud, &resp->body);
    return rc ? rc : metrics_response(ud, &resp->body);
}

static int h_healthz(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    struct xf_daemon *d = ud;

    if (!atomic_load(&d->running)) {
        resp->status = 503;
        return xf_buf_appends(&resp->body, "{\"status\":\"stopping\"}");
    }
    return xf_buf_appends(&resp->body, "{\"status\":\"ok\"}");
}

static int h_readyz(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    struct xf_daemon *d = ud;
    const char *reason = NULL;

    if (!atomic_load(&d->rebuilt))
        reason = "correlation state not rebuilt yet";
    else if (!atomic_load(&d->running))
        reason = "not consuming";
    else if (atomic_load(&d->assigned) == 0)
        reason = "no partitions assigned";
    if (reason) {
        resp->status = 503;
        return xf_buf_appendf(&resp->body, "{\"status\":\"not ready\",\"reason\":\"%s\"}", reason);
    }
    return xf_buf_appends(&resp->body, "{\"status\":\"ready\"}");
}

/* ---- /api/v1 ------------------------------------------------------------------------------ */

#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define IDEM_KEY_MAX 128

/* Parses an optional JSON object body into *out (NULL when there is no body). Returns 1 when
 * it answered 400 itself, 0 to go on, <0 on an internal error. */
static int body_object(const struct xf_http_request *req, struct xf_http_response *resp,
                       json_t **out)
{
    json_error_t jerr;
    char msg[256];

    *out = NULL;
    if (req->body_len == 0)
        return 0;
    *out = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*out) {
        snprintf(msg, sizeof msg, "the body is not valid JSON (line %d, column %d): %s", jerr.line,
                 jerr.column, jerr.text);
        return xf_http_error(resp, 400, "bad_json", msg) ? XF_ENOMEM : 1;
    }
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return xf_http_error(resp, 400, "bad_json", "the body must be a JSON object") ? XF_ENOMEM
                                                                                      : 1;
    }
    return 0;
}

/* body.reason: absent, or a string of at most 255 bytes. Returns 1 when it answered 400. */
static int body_reason(json_t *body, struct xf_http_response *resp, const char **reason)
{
    json_t *r = body ? json_object_get(body, "reason") : NULL;

    *reason = NULL;
    if (!r || json_is_null(r))
        return 0;
    if (!json_is_string(r) || json_string_length(r) > 255)
        return xf_http_error(resp, 400, "bad_request",
                             "reason must be a string of at most 255 bytes")
                   ? XF_ENOMEM
                   : 1;
    *reason = json_string_value(r);
    return 0;
}

/* Forwards one request to the response loop (503 when there is no response service). */
static int respond_op(struct xf_daemon *d, const struct xf_resp_request *rq,
                      struct xf_http_response *resp)
{
    int status = 500;
    int rc;

    if (!d->resp)
        return xf_http_error(resp, 503, "response_off", "response is off");
    rc = xf_response_request(d->resp, rq, &status, &resp->body);
    if (rc)
        return rc;
    resp->status = status;
    return 0;
}

/* Reads the optional body {"reason":...} into rq and hands rq to the response service. */
static int respond_with_reason(struct xf_daemon *d, const struct xf_http_request *req,
                               struct xf_http_response *resp, struct xf_resp_request *rq)
{
    json_t *body = NULL;
    int rc;

    if ((rc = body_object(req, resp, &body)) != 0)
        return rc > 0 ? 0 : rc;
    if ((rc = body_reason(body, resp, &rq->reason)) == 0)
        rc = respond_op(d, rq, resp);
    json_decref(body);
    return rc > 0 ? 0 : rc;
}

static int h_host_action(const struct xf_http_request *req, struct xf_http_response *resp, void *ud,
                         enum xf_resp_op op)
{
    struct xf_daemon *d = ud;
    const char *host = xf_http_param(req, "host");
    const char *idem = xf_http_header(req, "Idempotency-Key");
    struct xf_resp_request rq = {.op = op, .host = host, .idem_key = idem, .actor = req->actor};

    if (!host || !host[0] || strlen(host) >= sizeof(((struct xf_action *)0)->host))
        return xf_http_error(resp, 400, "bad_request", "the host name is empty or too long");
    for (const char *p = host; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return xf_http_error(resp, 400, "bad_request", "the host name has control bytes");
    if (idem && (!idem[0] || strlen(idem) > IDEM_KEY_MAX))
        return xf_http_error(resp, 400, "bad_request", "Idempotency-Key must be 1 to 128 bytes");
    return respond_with_reason(d, req, resp, &rq);
}

static int h_isolate(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    return h_host_action(req, resp, ud, XF_RESP_ISOLATE);
}

static int h_release(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    return h_host_action(req, resp, ud, XF_RESP_RELEASE);
}

static int h_action_decide(const struct xf_http_request *req, struct xf_http_response *resp,
                           void *ud, enum xf_resp_op op)
{
    struct xf_daemon *d = ud;
    struct xf_resp_request rq = {
        .op = op, .action_id = xf_http_param(req, "id"), .actor = req->actor};

    return respond_with_reason(d, req, resp, &rq);
}

static int h_approve(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    return h_action_decide(req, resp, ud, XF_RESP_APPROVE);
}

static int h_deny(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    return h_action_decide(req, resp, ud, XF_RESP_DENY);
}

static int h_actions(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    struct xf_daemon *d = ud;
    struct xf_resp_request rq = {.op = XF_RESP_LIST,
                                 .state = xf_http_query(req, "state"),
                                 .host = xf_http_query(req, "host"),
                                 .after = xf_http_query(req, "after"),
                                 .actor = req->actor};
    const char *lim = xf_http_query(req, "limit");

    if (lim) {
        char *end = NULL;
        long v;

        errno = 0;
        v = strtol(lim, &end, 10);
        if (errno || end == lim || *end || v < 1 || v > LIST_MAX)
            return xf_http_error(resp, 400, "bad_request", "limit must be from 1 to 1000");
        rq.limit = (size_t)v;
    }
    if (rq.state && xf_action_state_parse(rq.state) < 0)
        return xf_http_error(resp, 400, "bad_request",
                             "state must be one of planned, approved, sent, confirmed, failed, "
                             "denied, dry_run, released");
    if (!d->resp)
        return xf_buf_appends(&resp->body, "{\"actions\":[]}");
    return respond_op(d, &rq, resp);
}

static int h_action(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    struct xf_daemon *d = ud;
    struct xf_resp_request rq = {
        .op = XF_RESP_GET, .action_id = xf_http_param(req, "id"), .actor = req->actor};

    if (!d->resp)
        return xf_http_error(resp, 404, "not_found", "no such action");
    return respond_op(d, &rq, resp);
}

/* The stored incident id as JSON (caller decrefs), or NULL with a 404 / error answered. */
static int incident_load(struct xf_daemon *d, const char *id, struct xf_http_response *resp,
                         json_t **out)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    rc = xf_store_incident_get(xf_engine_store(d->eng), id, &text, &len);
    if (rc == XF_ENOTFOUND)
        return xf_http_error(resp, 404, "not_found", "no such incident") ? XF_ENOMEM : 1;
    if (rc)
        return rc;
    *out = json_loadb(text, len, 0, NULL);
    xf_free(text);
    return *out ? 0 : XF_EINTERNAL;
}

static int dump_to(struct xf_buf *b, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int rc;

    if (!s)
        return XF_ENOMEM;
    rc = xf_buf_appends(b, s);
    free(s); /* jansson's allocator */
    return rc;
}

static int h_incident(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    struct xf_daemon *d = ud;
    const char *id = xf_http_param(req, "id");
    struct xf_buf acts;
    json_t *inc = NULL;
    int rc;

    xf_buf_init(&acts);
    if ((rc = incident_load(d, id, resp, &inc)) != 0)
        goto out;
    if (d->resp) {
        json_t *a;
        if ((rc = xf_response_incident_actions(d->resp, id, &acts)))
            goto out;
        a = json_loadb(acts.data ? acts.data : "[]", acts.len ? acts.len : 2, 0, NULL);
        if (!a || json_object_set_new(inc, "actions", a)) {
            rc = XF_EINTERNAL;
            goto out;
        }
    } else if (!json_object_get(inc, "actions")) {
        json_object_set_new(inc, "actions", json_array());
    }
    rc = dump_to(&resp->body, inc);
out:
    json_decref(inc);
    xf_buf_close(&acts);
    return rc > 0 ? 0 : rc;
}

static int h_graph(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    struct xf_daemon *d = ud;
    const char *id = xf_http_param(req, "id");
    const char *fmt = xf_http_query(req, "format");
    char *text = NULL;
    size_t len = 0;
    json_t *inc = NULL, *g = NULL;
    int rc;

    if (fmt && strcmp(fmt, "json") != 0 && strcmp(fmt, "dot") != 0)
        return xf_http_error(resp, 400, "bad_request", "format must be json or dot");
    rc = xf_store_incident_get(xf_engine_store(d->eng), id, &text, &len);
    if (rc == XF_ENOTFOUND)
        return xf_http_error(resp, 404, "not_found", "no such incident");
    if (rc)
        return rc;
    if (fmt && strcmp(fmt, "dot") == 0) {
        resp->content_type = "text/vnd.graphviz; charset=utf-8";
        rc = xf_incident_render_dot(text, len, &resp->body);
        goto out;
    }
    rc = XF_EINTERNAL;
    if (!(inc = json_loadb(text, len, 0, NULL)) || !(g = json_object()))
        goto out;
    if (json_object_set(g, "id", json_object_get(inc, "id")) ||
        json_object_set(g, "nodes", json_object_get(inc, "nodes")) ||
        json_object_set(g, "edges", json_object_get(inc, "edges")))
        goto out;
    rc = dump_to(&resp->body, g);
out:
    json_decref(g);
    json_decref(inc);
    xf_free(text);
    return rc;
}

/* One incident of the list: its summary (no nodes, edges or actions) and when it last moved. */
struct inc_row {
    json_t *summary;
    xf_time_t last_seen;
    const char *id; /* in summary */
};

struct inc_list {
    struct inc_row *rows;
    size_t n, cap;
    xf_time_t since;
    int has_since;
    int rc;
};

static int inc_list_add(const char *id, const char *json, size_t len, void *ud)
{
    struct inc_list *l = ud;
    json_t *j = json_loadb(json, len, 0, NULL);
    const char *ls;
    xf_time_t t = 0;

    if (!j)
        return 0; /* a stored incident that does not parse is skipped, not fatal */
    ls = json_string_value(json_object_get(j, "last_seen"));
    if (ls)
        xf_time_parse(ls, strlen(ls), &t);
    if (l->has_since && t < l->since) {
        json_decref(j);
        return 0;
    }
    if (xf_array_grow(&l->rows, &l->cap, l->n, sizeof(*l->rows), 64)) {
        json_decref(j);
        l->rc = XF_ENOMEM;
        return 1;
    }
    json_object_del(j, "nodes");
    json_object_del(j, "edges");
    json_object_del(j, "actions");
    l->rows[l->n].summary = j;
    l->rows[l->n].last_seen = t;
    l->rows[l->n].id = json_string_value(json_object_get(j, "id"));
    l->n++;
    return 0;
}

/* Most recently active first, then by id for a stable order. */
static int inc_row_cmp(const void *a, const void *b)
{
    const struct inc_row *x = a, *y = b;

    if (x->last_seen != y->last_seen)
        return x->last_seen > y->last_seen ? -1 : 1;
    return strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

static int h_incidents(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    struct xf_daemon *d = ud;
    const char *lim = xf_http_query(req, "limit");
    const char *since = xf_http_query(req, "since");
    struct inc_list l = {0};
    long limit = LIST_DEFAULT;
    int rc;

    if (lim) {
        char *end = NULL;
        errno = 0;
        limit = strtol(lim, &end, 10);
        if (errno || end == lim || *end || limit < 1 || limit > LIST_MAX)
            return xf_http_error(resp, 400, "bad_request", "limit must be from 1 to 1000");
    }
    if (since) {
        if (xf_time_parse(since, strlen(since), &l.since))
            return xf_http_error(resp, 400, "bad_request",
                                 "since must be an RFC 3339 time (2026-11-21T09:00:00Z)");
        l.has_since = 1;
    }
    rc = xf_store_incidents_scan(xf_engine_store(d->eng), inc_list_add, &l);
    if (l.rc)
        rc = l.rc;
    if (rc == 0) {
        if (l.n)
            qsort(l.rows, l.n, sizeof *l.rows, inc_row_cmp);
        rc = xf_buf_appends(&resp->body, "{\"incidents\":[");
        for (size_t i = 0; i < l.n && i < (size_t)limit && !rc; i++) {
            if (i)
                rc = xf_buf_appends(&resp->body, ",");
            if (!rc)
                rc = dump_to(&resp->body, l.rows[i].summary);
        }
        if (!rc)
            rc = xf_buf_appendf(&resp->body, "],\"total\":%zu}", l.n);
    }
    for (size_t i = 0; i < l.n; i++)
        json_decref(l.rows[i].summary);
    xf_free(l.rows);
    return rc;
}

/* A request the listener refused (401/403): a state-changing one goes to the audit log, at
 * most REFUSED_AUDIT_PER_SECOND a second; the next line says how many were left out. */
#define REFUSED_AUDIT_PER_SECOND 20

static void on_refused(void *ud, const char *method, const char *path, int status,
                       const char *actor)
{
    struct xf_daemon *d = ud;
    json_t *detail;
    char *s = NULL;

    uint64_t unlogged = 0;
    int64_t sec = (int64_t)time(NULL);

    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return;
    pthread_mutex_lock(&d->refused_mu);
    if (sec != d->refused_second) {
        d->refused_second = sec;
        d->refused_in_second = 0;
    }
    if (d->refused_in_second >= REFUSED_AUDIT_PER_SECOND) {
        d->refused_unlogged++;
        pthread_mutex_unlock(&d->refused_mu);
        return;
    }
    d->refused_in_second++;
    unlogged = d->refused_unlogged;
    d->refused_unlogged = 0;
    pthread_mutex_unlock(&d->refused_mu);
    detail = json_pack("{s:s, s:s, s:i, s:I}", "method", method, "path", path, "status", status,
                       "unlogged_before", (json_int_t)unlogged);
    if (detail)
        s = json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (d->resp)
        xf_response_audit(d->resp, "request", "failure", actor, s);
    else
        XF_WARN("api: refused %s %s (%d) for %s", method, path, status, actor ? actor : "no token");
    free(s);
    json_decref(detail);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static int hand_over_incident(const struct xf_incident_view *inc, void *ud)
{
    return xf_response_incident(ud, inc->json, inc->len);
}

/* Starts the listener with every route and the configured tokens (their secrets read here and
 * wiped once the listener holds their digests). */
static int start_api(struct xf_daemon *d)
{
    struct xf_api_token toks[XF_MAX_TOKENS];
    char *secrets[XF_MAX_TOKENS] = {0};
    size_t n = 0;
    int metrics_role = xf_api_role_parse(d->cfg.api_metrics_role);
    int rc = 0;
    const struct xf_http_route routes[] = {
        {"GET", "/metrics", h_metrics, d, metrics_role > 0 ? metrics_role : XF_ROLE_NONE, 0},
        {"GET", "/healthz", h_healthz, d, XF_ROLE_NONE, 0},
        {"GET", "/readyz", h_readyz, d, XF_ROLE_NONE, 0},
        {"GET", "/api/v1/incidents", h_incidents, d, XF_ROLE_READ, 0},
        {"GET", "/api/v1/incidents/{id}", h_incident, d, XF_ROLE_READ, 0},
        {"GET", "/api/v1/incidents/{id}/graph", h_graph, d, XF_ROLE_READ, 0},
        {"POST", "/api/v1/hosts/{host}/isolate", h_isolate, d, XF_ROLE_RESPOND, XF_ROUTE_JSON_BODY},
        {"POST", "/api/v1/hosts/{host}/release", h_release, d, XF_ROLE_RESPOND, XF_ROUTE_JSON_BODY},
        {"GET", "/api/v1/actions", h_actions, d, XF_ROLE_READ, 0},
        {"GET", "/api/v1/actions/{id}", h_action, d, XF_ROLE_READ, 0},
        {"POST", "/api/v1/actions/{id}/approve", h_approve, d, XF_ROLE_RESPOND, XF_ROUTE_JSON_BODY},
        {"POST", "/api/v1/actions/{id}/deny", h_deny, d, XF_ROLE_RESPOND, XF_ROUTE_JSON_BODY},
    };
    struct xf_api_opts ao = {.listen = d->cfg.api_listen,
                             .max_body = (size_t)d->cfg.api_max_body,
                             .tokens = toks,
                             .on_refused = on_refused,
                             .refused_ud = d};

    for (size_t i = 0; i < d->cfg.n_api_tokens && !rc; i++) {
        char why[XF_ERRMSG_MAX] = "";
        rc = xf_config_token_secret(&d->cfg.api_tokens[i], &secrets[i], why, sizeof why);
        if (rc) {
            XF_ERROR("%s", why[0] ? why : xf_strerror(rc));
            break;
        }
        toks[n++] = (struct xf_api_token){d->cfg.api_tokens[i].name,
                                          xf_api_role_parse(d->cfg.api_tokens[i].role), secrets[i]};
    }
    ao.n_tokens = n;
    if (!rc)
        rc = xf_api_start(&ao, routes, XF_ARRAY_LEN(routes), &d->api);
    for (size_t i = 0; i < XF_MAX_TOKENS; i++) {
        if (secrets[i]) {
            memset(secrets[i], 0, strlen(secrets[i]));
            xf_free(secrets[i]);
        }
    }
    if (!rc && n == 0)
        XF_WARN("api: no tokens configured (api.tokens): every /api/v1 request is refused");
    return rc;
}

int xf_daemon_create(const struct xf_config *cfg, struct xf_daemon **out)
{
    struct xf_daemon *d = xf_calloc(1, sizeof *d);
    int rc;

    if (!d)
        return XF_ENOMEM;
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->refused_mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    if ((rc = xf_config_copy(&d->cfg, cfg))) {
        xf_free(d);
        return rc;
    }
    for (size_t i = 0; i < d->cfg.n_topics; i++)
        d->topic_names[i] = d->cfg.topics[i].name;

    struct xf_engine_opts eo = {
        .db_path = d->cfg.store_path,
        .rule_paths = (const char *const *)d->cfg.rule_paths,
        .n_rule_paths = d->cfg.n_rule_paths,
        .links_path = d->cfg.links_path,
        .decode_threads = d->cfg.decode_threads,
        .sync = d->cfg.store_sync,
        .store_edges = d->cfg.store_edges,
        .queue_batches = d->cfg.queue_batches,
        .lateness_ms = d->cfg.lateness_ms,
        .source_idle_events = (uint64_t)d->cfg.idle_partition_events,
        .max_skew_ms = d->cfg.max_partition_skew_ms,
        .max_errors_shown = 1000,
    };
    XF_INFO("opening %s and rebuilding correlation state", d->cfg.store_path);
    if ((rc = xf_engine_create(&eo, &d->eng)))
        goto fail;
    atomic_store(&d->rebuilt, 1);
    {
        struct xf_engine_stats es;
        xf_engine_get_stats(d->eng, &es);
        d->snap.eng = es;
        d->snap.rules_loaded = xf_engine_rule_count(d->eng);
        xf_store_get_stats(xf_engine_store(d->eng), &d->snap.store);
    }
    /* the response service, once the state is rebuilt: it resumes its pending actions, then
     * gets every current incident (planning is idempotent, so an incident it already acted on
     * before a restart plans nothing new) */
    if ((rc = xf_response_create(&d->cfg.response, xf_engine_store(d->eng), &d->resp)))
        goto fail;
    if ((rc = xf_engine_incidents(d->eng, hand_over_incident, d->resp)))
        goto fail;

    if ((rc = xf_kafka_producer_create(d->cfg.brokers, (const char *const *)d->cfg.kafka_props,
                                       d->cfg.n_kafka_props, &d->dlq)))
        goto fail;
    struct xf_kafka_consumer_opts co = {
        .brokers = d->cfg.brokers,
        .group = d->cfg.group,
        .topics = d->topic_names,
        .n_topics = d->cfg.n_topics,
        .props = (const char *const *)d->cfg.kafka_props,
        .n_props = d->cfg.n_kafka_props,
        .rebalance = on_rebalance,
        .ud = d,
    };
    if ((rc = xf_kafka_consumer_create(&co, &d->cons)))
        goto fail;

    if (d->cfg.api_listen && d->cfg.api_listen[0]) {
        if ((rc = start_api(d)))
            goto fail;
        XF_INFO("listening on %s (port %d): /api/v1 /metrics /healthz /readyz", d->cfg.api_listen,
                xf_api_port(d->api));
    }
    *out = d;
    return 0;
fail:
    xf_daemon_destroy(d);
    return rc;
}

int xf_daemon_run(struct xf_daemon *d)
{
    struct xf_pipe_hooks h = {
        .ud = d,
        .source = kafka_source,
        .on_batch = hook_on_batch,
        .on_bad_record = hook_on_bad_record,
        .before_commit = hook_before_commit,
        .on_incident = hook_on_incident,
        .after_commit = hook_after_commit,
        .tick = hook_tick,
        .tick_ms = TICK_MS,
        .topic_names = d->topic_names,
    };
    int rc;

    atomic_store(&d->running, 1);
    XF_INFO("consuming %zu topics as group %s from %s", d->cfg.n_topics, d->cfg.group,
            d->cfg.brokers);
    rc = xf_pipe_run(d->eng, &h);
    atomic_store(&d->running, 0);
    /* leaving the group revokes through the callback, which commits what is durable */
    xf_kafka_consumer_destroy(d->cons);
    d->cons = NULL;
    if (xf_kafka_producer_flush(d->dlq, 10000))
        XF_WARN("dead-letter producer not fully flushed at exit");
    XF_INFO("stopped%s%s", rc ? ": " : "", rc ? xf_strerror(rc) : "");
    return rc;
}

void xf_daemon_stop(struct xf_daemon *d)
{
    atomic_store(&d->stop_req, 1);
}

void xf_daemon_reload(struct xf_daemon *d)
{
    atomic_store(&d->reload_req, 1);
}

static struct xf_daemon *volatile signal_target;

static void on_signal(int sig)
{
    struct xf_daemon *d = signal_target;

    if (!d)
        return;
    if (sig == SIGHUP)
        xf_daemon_reload(d);
    else
        xf_daemon_stop(d);
}

int xf_daemon_install_signals(struct xf_daemon *d)
{
    struct sigaction sa;

    signal_target = d;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL) ||
        sigaction(SIGHUP, &sa, NULL))
        return XF_EIO;
    return 0;
}

void xf_daemon_destroy(struct xf_daemon *d)
{
    if (!d)
        return;
    if (signal_target == d)
        signal_target = NULL;
    /* the handlers call the response service, which writes into the engine's store */
    xf_api_stop(d->api);
    xf_response_destroy(d->resp);
    for (size_t i = 0; i < d->n_incs; i++)
        xf_free(d->incs[i].json);
    xf_free(d->incs);
    xf_kafka_consumer_destroy(d->cons);
    xf_kafka_producer_destroy(d->dlq);
    xf_engine_destroy(d->eng);
    xf_free(d->parts);
    xf_config_close(&d->cfg);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->refused_mu);
    pthread_cond_destroy(&d->cv);
    xf_free(d);
}

void xf_daemon_progress(struct xf_daemon *d, uint64_t *records_durable, uint64_t *incidents)
{
    pthread_mutex_lock(&d->mu);
    if (records_durable)
        *records_durable = d->snap.eng.records;
    if (incidents)
        *incidents = d->snap.eng.corr.incidents;
    pthread_mutex_unlock(&d->mu);
}

int xf_daemon_api_port(const struct xf_daemon *d)
{
    return d->api ? xf_api_port(d->api) : -1;
}
