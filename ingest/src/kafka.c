/*
 * kafka.c - the Kafka group consumer and producer (librdkafka), behind xf/kafka.h.
 *
 * The one thing to know: nothing here commits on its own. Auto-commit and the automatic offset
 * store are off, so an offset reaches the group only through xf_kafka_consumer_commit, which
 * the engine calls once the records below it (and the graph updates they caused) are durable.
 * A crash therefore re-reads from the last durable point and event-id dedup absorbs the repeat.
 *
 * Polling: rd_kafka_consume_batch_queue waits for the WHOLE batch until its timeout, which
 * would add the full timeout to every event's latency at low rates. So a poll first drains
 * what is already queued (timeout 0); only when nothing is there does it wait for a single
 * record with rd_kafka_consumer_poll and then drains again. Rebalance callbacks run inside
 * both calls, on the polling thread.
 *
 * Offset gaps: the development broker (librdkafka's mock cluster) silently drops the oldest
 * records of a partition past about 5 MiB. A consumer that falls behind sees the next offset
 * jump or an out-of-range reset; both are counted and logged, never hidden.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "xf/kafka.h"

/* Content types longer than this are cut (they are only compared with a few known names). */
#define CT_MAX 128

/* ---- shared configuration helpers ---------------------------------------------------------- */

struct prop {
    const char *name;
    const char *value;
};

/*
 * The consumer's tuned defaults. Measured on the devbroker (docs/kafka.md): librdkafka's
 * defaults fetch 1 MiB per partition per round trip and keep a small prefetch queue, so a
 * consumer that decodes between polls drains the queue and then waits a whole round trip
 * for each refill. Larger fetches and a deep prefetch queue keep records ready.
 */
static const struct prop consumer_defaults[] = {
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"auto.offset.reset", "earliest"},
    {"enable.partition.eof", "false"},
    {"fetch.min.bytes", "1"},
    {"fetch.wait.max.ms", "100"},
    {"fetch.max.bytes", "104857600"},
    {"max.partition.fetch.bytes", "8388608"},
    {"queued.min.messages", "1000000"},
    /* the daemon's memory bound: it never pauses for backpressure (a pause drops this
     * prefetch), it stops polling and lets this limit stop the fetching */
    {"queued.max.messages.kbytes", "131072"},
    {"receive.message.max.bytes", "110000000"},
    {"fetch.error.backoff.ms", "100"},
    /* a dead member's partitions move to the survivors within seconds, not 45 s */
    {"session.timeout.ms", "10000"},
    {"heartbeat.interval.ms", "1000"},
    {"reconnect.backoff.ms", "100"},
    {"reconnect.backoff.max.ms", "2000"},
    {"socket.keepalive.enable", "true"},
};

/* Idempotent (no duplicates or reordering on retry), every in-sync replica acknowledges, lz4
 * (cheap to decode; telemetry compresses 5-10x), and a short linger so batches fill. */
static const struct prop producer_defaults[] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"compression.type", "lz4"},
    {"linger.ms", "10"},
    {"batch.num.messages", "10000"},
    {"batch.size", "1000000"},
    {"queue.buffering.max.messages", "500000"},
    {"queue.buffering.max.kbytes", "1048576"},
    {"message.timeout.ms", "120000"},
    {"reconnect.backoff.ms", "100"},
    {"reconnect.backoff.max.ms", "2000"},
};

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[256];

    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        XF_ERROR("kafka: property %s=%s: %s", name, value, err);
        return XF_ECONFIG;
    }
    return 0;
}

/* Applies "name=value" strings; an unknown name or bad value is XF_ECONFIG. */
static int conf_set_props(rd_kafka_conf_t *conf, const char *const *props, size_t n)
{
    char name[256];

    for (size_t i = 0; i < n; i++) {
        const char *eq = props[i] ? strchr(props[i], '=') : NULL;
        size_t nlen;
        int rc;

        if (!eq || eq == props[i]) {
            XF_ERROR("kafka: property \"%s\" is not name=value", props[i] ? props[i] : "");
            return XF_ECONFIG;
        }
        nlen = (size_t)(eq - props[i]);
        if (nlen >= sizeof(name)) {
            XF_ERROR("kafka: property name too long");
            return XF_ECONFIG;
        }
        memcpy(name, props[i], nlen);
        name[nlen] = '\0';
        rc = conf_set(conf, name, eq + 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* librdkafka logs (from its own threads) go to our log; xf_log is thread safe. Connection
 * failures are level 3 there but routine for us (a broker restarting), so they are warnings. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= LOG_ERR)
        XF_WARN("kafka: %s: %s", fac, buf);
    else if (level == LOG_WARNING)
        XF_WARN("kafka: %s: %s", fac, buf);
    else if (level <= LOG_INFO)
        XF_INFO("kafka: %s: %s", fac, buf);
    else
        XF_DEBUG("kafka: %s: %s", fac, buf);
}

/* ---- content type ------------------------------------------------------------------------- */

static const struct {
    const char *ct;
    enum xf_format fmt;
} content_types[] = {
    {"application/x-protobuf", XF_FMT_PROTO},
    {"application/protobuf", XF_FMT_PROTO},
    {"application/vnd.google.protobuf", XF_FMT_PROTO},
    {"application/octet-stream", XF_FMT_PROTO},
    {"application/json", XF_FMT_AUTO},
    {"application/x-ndjson", XF_FMT_AUTO},
    {"application/jsonlines", XF_FMT_AUTO},
    {"text/json", XF_FMT_AUTO},
};

int xf_kafka_content_type_format(const char *ct, enum xf_format *out)
{
    char buf[CT_MAX];
    size_t n = 0;

    if (!ct)
        return XF_EFORMAT;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    while (ct[n] && ct[n] != ';' && n < sizeof(buf) - 1) {
        buf[n] = ct[n];
        n++;
    }
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = '\0';
    xf_str_lower(buf);
    if (xf_format_from_name(buf, out) == 0)
        return 0;
    for (size_t i = 0; i < XF_ARRAY_LEN(content_types); i++)
        if (strcmp(buf, content_types[i].ct) == 0) {
            *out = content_types[i].fmt;
            return 0;
        }
    /* application/<format>+json and application/x-<format>+json */
    if (strncmp(buf, "application/", 12) == 0 && n > 17 && strcmp(buf + n - 5, "+json") == 0) {
        char *name = buf + 12;

        if (strncmp(name, "x-", 2) == 0)
            name += 2;
        buf[n - 5] = '\0';
        if (strcmp(name, "proto") != 0 && xf_format_from_name(name, out) == 0)
            return 0;
    }
    return XF_EFORMAT;
}

/* ---- consumer ------------------------------------------------------------------------------ */

/* Where each assigned partition's next record should be, to notice offset gaps, and where
 * the group had it when it was assigned, for the lag of a partition nothing was read from. */
struct part_pos {
    char *topic;
    int32_t partition;
    int64_t next;      /* -1: unknown (just assigned) */
    int64_t committed; /* the group's offset at assignment: -1 none, COMMITTED_UNKNOWN not yet */
    int64_t asked_ms;  /* when the committed offset was last asked for (0: never) */
};

/* part_pos.committed before the group was asked */
#define COMMITTED_UNKNOWN (-2)
/* Asking for committed offsets blocks the polling thread: briefly, and not again at once when
 * the coordinator does not answer (a broker outage). */
#define COMMITTED_TIMEOUT_MS 500
#define COMMITTED_RETRY_MS 10000

struct xf_kafka_consumer {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    xf_kafka_rebalance_cb rebalance;
    void *ud;
    int paused;
    int fatal;
    /* messages handed out by the last poll; destroyed at the next poll */
    rd_kafka_message_t **held;
    size_t n_held;
    size_t cap_held;
    struct xf_buf ct; /* content-type copies of the last poll, NUL-separated */
    size_t *ct_off;   /* per record of the last poll: offset into ct, or SIZE_MAX */
    struct part_pos *pos;
    size_t n_pos;
    size_t cap_pos;
    struct xf_kafka_consumer_stats st;
};

static void held_release(struct xf_kafka_consumer *c)
{
    for (size_t i = 0; i < c->n_held; i++)
        rd_kafka_message_destroy(c->held[i]);
    c->n_held = 0;
    xf_buf_reset(&c->ct);
}

static struct part_pos *pos_find(struct xf_kafka_consumer *c, const char *topic, int32_t part,
                                 int create)
{
    struct part_pos *p;

    for (size_t i = 0; i < c->n_pos; i++)
        if (c->pos[i].partition == part && strcmp(c->pos[i].topic, topic) == 0)
            return &c->pos[i];
    if (!create)
        return NULL;
    if (xf_array_grow(&c->pos, &c->cap_pos, c->n_pos, sizeof(*c->pos), 16))
        return NULL;
    p = &c->pos[c->n_pos];
    p->topic = xf_strdup(topic);
    if (!p->topic)
        return NULL;
    p->partition = part;
    p->next = -1;
    p->committed = COMMITTED_UNKNOWN;
    p->asked_ms = 0;
    c->n_pos++;
    return p;
}

static void pos_forget_all(struct xf_kafka_consumer *c)
{
    for (size_t i = 0; i < c->n_pos; i++)
        xf_free(c->pos[i].topic);
    c->n_pos = 0;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct xf_kafka_consumer *c = opaque;
    char fatal[256];

    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        XF_ERROR("kafka consumer: fatal: %s", fatal);
        c->fatal = 1;
        return;
    }
    c->st.transient_errors++;
    XF_WARN("kafka consumer: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    (void)opaque;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        XF_WARN("kafka consumer: offset commit failed: %s", rd_kafka_err2str(err));
}

/* Hands the partition list to the caller's callback as our own structs. */
static void notify(struct xf_kafka_consumer *c, enum xf_kafka_rebalance what,
                   const rd_kafka_topic_partition_list_t *parts)
{
    struct xf_kafka_tp *tps;

    if (!c->rebalance || parts->cnt <= 0)
        return;
    tps = xf_calloc((size_t)parts->cnt, sizeof(*tps));
    if (!tps) {
        XF_ERROR("kafka consumer: out of memory in rebalance");
        return;
    }
    for (int i = 0; i < parts->cnt; i++) {
        tps[i].topic = parts->elems[i].topic;
        tps[i].partition = parts->elems[i].partition;
    }
    c->rebalance(what, tps, (size_t)parts->cnt, c->ud);
    xf_free(tps);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct xf_kafka_consumer *c = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    c->st.rebalances++;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        XF_INFO("kafka consumer: assigned %d partition(s)", parts->cnt);
        notify(c, XF_KAFKA_ASSIGN, parts);
        for (int i = 0; i < parts->cnt; i++) {
            struct part_pos *p = pos_find(c, parts->elems[i].topic, parts->elems[i].partition, 1);

            if (p) {
                p->next = -1;
                p->committed = COMMITTED_UNKNOWN;
                p->asked_ms = 0;
            }
        }
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
        /*
         * The pause state of a new assignment is set here, both ways. librdkafka 2.0.2 keeps
         * an application pause on the partition object across a revoke and a later assign:
         * a partition paused for backpressure, revoked, and resumed while unassigned (resume
         * covers only the current assignment) would come back paused and never be fetched
         * again. Partitions assigned while the engine applies backpressure stay stopped.
         */
        if (!e && !aerr) {
            rd_kafka_resp_err_t perr = c->paused ? rd_kafka_pause_partitions(rk, parts)
                                                 : rd_kafka_resume_partitions(rk, parts);

            if (perr)
                XF_WARN("kafka consumer: %s after assign: %s", c->paused ? "pause" : "resume",
                        rd_kafka_err2str(perr));
        }
    } else {
        if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
            XF_WARN("kafka consumer: rebalance error: %s", rd_kafka_err2str(err));
        else
            XF_INFO("kafka consumer: revoked %d partition(s)", parts->cnt);
        /* the callee commits what is durable before the partitions go to another member */
        notify(c, XF_KAFKA_REVOKE, parts);
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
    }
    if (e) {
        XF_WARN("kafka consumer: assign: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (aerr) {
        XF_WARN("kafka consumer: assign: %s", rd_kafka_err2str(aerr));
    }
    {
        rd_kafka_topic_partition_list_t *now = NULL;

        if (rd_kafka_assignment(rk, &now) == RD_KAFKA_RESP_ERR_NO_ERROR && now) {
            c->st.assigned = (uint32_t)now->cnt;
            rd_kafka_topic_partition_list_destroy(now);
        }
    }
}

int xf_kafka_consumer_create(const struct xf_kafka_consumer_opts *opts,
                             struct xf_kafka_consumer **out)
{
    struct xf_kafka_consumer *c = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *subs = NULL;
    rd_kafka_resp_err_t kerr;
    char errstr[512];
    int rc = XF_EINVAL;

    *out = NULL;
    if (!opts || !opts->brokers || !opts->group || !opts->topics || opts->n_topics == 0)
        goto out;
    rc = XF_ENOMEM;
    c = xf_calloc(1, sizeof(*c));
    conf = rd_kafka_conf_new();
    subs = rd_kafka_topic_partition_list_new((int)opts->n_topics);
    if (!c || !conf || !subs)
        goto out;
    xf_buf_init(&c->ct);
    c->rebalance = opts->rebalance;
    c->ud = opts->ud;

    rc = XF_ECONFIG;
    if (conf_set(conf, "bootstrap.servers", opts->brokers) < 0 ||
        conf_set(conf, "group.id", opts->group) < 0 ||
        conf_set(conf, "client.id", opts->client_id ? opts->client_id : "xdrflow") < 0)
        goto out;
    for (size_t i = 0; i < XF_ARRAY_LEN(consumer_defaults); i++)
        if (conf_set(conf, consumer_defaults[i].name, consumer_defaults[i].value) < 0)
            goto out;
    if (conf_set_props(conf, opts->props, opts->n_props) < 0)
        goto out;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);

    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!c->rk) {
        XF_ERROR("kafka consumer: %s", errstr);
        goto out;
    }
    conf = NULL; /* owned by rk now */
    /* errors, logs and rebalances all arrive through the consumer queue we poll */
    rd_kafka_poll_set_consumer(c->rk);
    c->q = rd_kafka_queue_get_consumer(c->rk);

    for (size_t i = 0; i < opts->n_topics; i++)
        rd_kafka_topic_partition_list_add(subs, opts->topics[i], RD_KAFKA_PARTITION_UA);
    kerr = rd_kafka_subscribe(c->rk, subs);
    if (kerr) {
        XF_ERROR("kafka consumer: subscribe: %s", rd_kafka_err2str(kerr));
        rc = XF_ECONFIG;
        goto out;
    }
    *out = c;
    c = NULL;
    rc = 0;
out:
    if (subs)
        rd_kafka_topic_partition_list_destroy(subs);
    if (conf)
        rd_kafka_conf_destroy(conf);
    xf_kafka_consumer_destroy(c);
    return rc;
}

void xf_kafka_consumer_destroy(struct xf_kafka_consumer *c)
{
    if (!c)
        return;
    /* librdkafka waits for every outstanding message before it lets go of the handle */
    held_release(c);
    if (c->rk) {
        rd_kafka_resp_err_t err = rd_kafka_consumer_close(c->rk);

        if (err)
            XF_WARN("kafka consumer: close: %s", rd_kafka_err2str(err));
        if (c->q)
            rd_kafka_queue_destroy(c->q);
        rd_kafka_destroy(c->rk);
    }
    pos_forget_all(c);
    xf_free(c->pos);
    xf_free(c->held);
    xf_free(c->ct_off);
    xf_buf_close(&c->ct);
    xf_free(c);
}

/* A consumer-level event delivered as a message (broker down, offset reset...). */
static void record_error(struct xf_kafka_consumer *c, const rd_kafka_message_t *m)
{
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "-";

    c->st.transient_errors++;
    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
        m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
        c->st.offset_gaps++;
        XF_WARN("kafka consumer: %s [%" PRId32 "]: offset out of range, reset to the earliest "
                "record: records were deleted before they were read (retention; the "
                "devbroker keeps only about 5 MiB per partition): %s",
                topic, m->partition, rd_kafka_message_errstr(m));
        return;
    }
    XF_WARN("kafka consumer: %s [%" PRId32 "]: %s", topic, m->partition,
            rd_kafka_message_errstr(m));
}

/* Checks the offset sequence of one partition; a jump means records were dropped. */
static void track_offset(struct xf_kafka_consumer *c, const char *topic, int32_t part, int64_t off)
{
    struct part_pos *p = pos_find(c, topic, part, 1);

    if (!p)
        return;
    if (p->next >= 0 && off > p->next) {
        c->st.offset_gaps++;
        XF_WARN("kafka consumer: %s [%" PRId32 "]: offsets %" PRId64 "..%" PRId64
                " were never received (deleted by retention before they were read? the "
                "devbroker keeps only about 5 MiB per partition)",
                topic, part, p->next, off - 1);
    }
    p->next = off + 1;
}

static const char *content_type_of(rd_kafka_message_t *m, size_t *len)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t n = 0;

    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    if (rd_kafka_header_get_last(hdrs, "content-type", &val, &n) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        !val)
        return NULL;
    *len = n < CT_MAX ? n : CT_MAX;
    return val;
}

/* Moves the messages in held[from..] into recs, dropping error events. Content types go to
 * the arena as offsets (ct_off); poll turns them into pointers once the arena stops growing. */
static int take_batch(struct xf_kafka_consumer *c, size_t from, struct xf_kafka_record *recs,
                      size_t *n)
{
    size_t keep = from;

    for (size_t i = from; i < c->n_held; i++) {
        rd_kafka_message_t *m = c->held[i];

        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                record_error(c, m);
            rd_kafka_message_destroy(m);
            continue;
        }
        c->held[keep++] = m;
    }
    c->n_held = keep;
    for (size_t i = from; i < keep; i++) {
        rd_kafka_message_t *m = c->held[i];
        struct xf_kafka_record *r = &recs[*n];
        rd_kafka_timestamp_type_t tstype;
        const char *ct;
        size_t ctlen = 0;

        r->topic = rd_kafka_topic_name(m->rkt);
        r->partition = m->partition;
        r->offset = m->offset;
        r->timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
        if (tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
            r->timestamp_ms = -1;
        r->key = m->key;
        r->key_len = m->key ? m->key_len : 0;
        r->value = m->payload ? m->payload : "";
        r->len = m->payload ? m->len : 0;
        r->content_type = NULL;
        c->ct_off[*n] = SIZE_MAX;
        ct = content_type_of(m, &ctlen);
        if (ct) {
            c->ct_off[*n] = c->ct.len;
            /* the header value is not NUL-terminated; our copy is */
            if (xf_buf_append(&c->ct, ct, ctlen) < 0 || xf_buf_append(&c->ct, "", 1) < 0)
                return XF_ENOMEM;
        }
        (*n)++;
        c->st.records++;
        track_offset(c, r->topic, r->partition, r->offset);
    }
    return 0;
}

static int held_reserve(struct xf_kafka_consumer *c, size_t need)
{
    rd_kafka_message_t **nh;

    if (need <= c->cap_held)
        return 0;
    size_t *no;

    nh = xf_realloc(c->held, need * sizeof(*nh));
    if (!nh)
        return XF_ENOMEM;
    c->held = nh;
    no = xf_realloc(c->ct_off, need * sizeof(*no));
    if (!no)
        return XF_ENOMEM;
    c->ct_off = no;
    c->cap_held = need;
    return 0;
}

static int drain(struct xf_kafka_consumer *c, struct xf_kafka_record *recs, size_t max, size_t *n)
{
    size_t from = c->n_held;
    ssize_t got;

    if (*n >= max)
        return 0;
    got = rd_kafka_consume_batch_queue(c->q, 0, c->held + from, max - *n);
    if (got < 0) {
        XF_WARN("kafka consumer: consume: %s", rd_kafka_err2str(rd_kafka_last_error()));
        c->st.transient_errors++;
        return 0;
    }
    c->n_held += (size_t)got;
    return take_batch(c, from, recs, n);
}

int xf_kafka_consumer_poll(struct xf_kafka_consumer *c, struct xf_kafka_record *recs, size_t max,
                           size_t *n, int timeout_ms)
{
    rd_kafka_message_t *m;
    int rc;

    *n = 0;
    held_release(c);
    if (c->fatal)
        return XF_EIO;
    if (max == 0)
        return 0;
    rc = held_reserve(c, max);
    if (rc < 0)
        return rc;
    rc = drain(c, recs, max, n);
    if (rc < 0 || *n > 0 || timeout_ms == 0)
        goto out;
    /* nothing queued: wait for the first record, then take whatever arrived with it */
    m = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (m) {
        size_t from = c->n_held;

        c->held[c->n_held++] = m;
        rc = take_batch(c, from, recs, n);
        if (rc == 0)
            rc = drain(c, recs, max, n);
    }
out:
    for (size_t i = 0; i < *n; i++)
        if (c->ct_off[i] != SIZE_MAX)
            recs[i].content_type = c->ct.data + c->ct_off[i];
    if (c->fatal)
        rc = XF_EIO;
    return rc;
}

int xf_kafka_consumer_commit(struct xf_kafka_consumer *c, const struct xf_kafka_offset *offs,
                             size_t n, int sync)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t err;
    int rc = 0;

    if (n == 0)
        return 0;
    list = rd_kafka_topic_partition_list_new((int)n);
    if (!list)
        return XF_ENOMEM;
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, offs[i].topic, offs[i].partition)->offset =
            offs[i].offset;
    err = rd_kafka_commit(c->rk, list, sync ? 0 : 1);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && sync) {
        for (int i = 0; i < list->cnt; i++)
            if (list->elems[i].err) {
                err = list->elems[i].err;
                break;
            }
    }
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        XF_WARN("kafka consumer: commit of %zu offset(s) failed: %s", n, rd_kafka_err2str(err));
        rc = XF_EIO;
    }
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

static int pause_resume(struct xf_kafka_consumer *c, int pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t err;

    c->paused = pause;
    err = rd_kafka_assignment(c->rk, &parts);
    if (err) {
        XF_WARN("kafka consumer: assignment: %s", rd_kafka_err2str(err));
        return XF_EIO;
    }
    if (parts->cnt > 0)
        err = pause ? rd_kafka_pause_partitions(c->rk, parts)
                    : rd_kafka_resume_partitions(c->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (err) {
        XF_WARN("kafka consumer: %s: %s", pause ? "pause" : "resume", rd_kafka_err2str(err));
        return XF_EIO;
    }
    return 0;
}

int xf_kafka_consumer_pause(struct xf_kafka_consumer *c)
{
    return pause_resume(c, 1);
}

int xf_kafka_consumer_resume(struct xf_kafka_consumer *c)
{
    return pause_resume(c, 0);
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Asks the group once per assignment for the committed offset of each partition in parts
 * that has no position yet (nothing read since it was assigned). Without it, a partition
 * taken over from another member with nothing new to read would show everything retained
 * as lag forever, though the group has it all.
 */
static void learn_committed(struct xf_kafka_consumer *c,
                            const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *ask = NULL;
    int64_t now = mono_ms();
    rd_kafka_resp_err_t err;

    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        struct part_pos *p;

        if (tp->offset >= 0)
            continue;
        p = pos_find(c, tp->topic, tp->partition, 1);
        if (!p || p->committed != COMMITTED_UNKNOWN ||
            (p->asked_ms && now - p->asked_ms < COMMITTED_RETRY_MS))
            continue;
        p->asked_ms = now;
        if (!ask && !(ask = rd_kafka_topic_partition_list_new(parts->cnt)))
            return;
        rd_kafka_topic_partition_list_add(ask, tp->topic, tp->partition);
    }
    if (!ask)
        return;
    err = rd_kafka_committed(c->rk, ask, COMMITTED_TIMEOUT_MS);
    for (int i = 0; !err && i < ask->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &ask->elems[i];
        struct part_pos *p = pos_find(c, tp->topic, tp->partition, 0);

        if (p && !tp->err)
            p->committed = tp->offset >= 0 ? tp->offset : -1;
    }
    rd_kafka_topic_partition_list_destroy(ask);
}

int xf_kafka_consumer_lag(struct xf_kafka_consumer *c, xf_kafka_lag_cb cb, void *ud)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t err;

    err = rd_kafka_assignment(c->rk, &parts);
    if (err)
        return XF_EIO;
    /* position: the offset after the last record handed to us (cached, no request); it is
     * unknown until a record of the partition arrives after the assignment */
    rd_kafka_position(c->rk, parts);
    learn_committed(c, parts);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        const struct part_pos *p = pos_find(c, tp->topic, tp->partition, 0);
        int64_t lo = -1, hi = -1, lag = -1, from = tp->offset;

        if (from < 0 && p && p->committed >= 0)
            from = p->committed; /* where this member starts reading */
        if (rd_kafka_get_watermark_offsets(c->rk, tp->topic, tp->partition, &lo, &hi) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            hi >= 0) {
            if (from >= 0)
                lag = hi > from ? hi - from : 0;
            else if (lo >= 0 && (!p || p->committed == -1))
                lag = hi - lo; /* nothing committed: everything retained is behind */
        }
        cb(tp->topic, tp->partition, lag, ud);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return 0;
}

void xf_kafka_consumer_get_stats(const struct xf_kafka_consumer *c,
                                 struct xf_kafka_consumer_stats *out)
{
    *out = c->st;
}

/* ---- producer ------------------------------------------------------------------------------ */

struct xf_kafka_producer {
    rd_kafka_t *rk;
    uint64_t failed_since_flush;
    struct xf_kafka_producer_stats st;
    xf_kafka_delivery_cb on_delivery;
    void *ud;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct xf_kafka_producer *p = opaque;

    (void)rk;
    if (m->err) {
        p->st.failed++;
        p->failed_since_flush++;
        /* the first few say why; a broker gone for good would otherwise flood the log */
        if (p->st.failed <= 5)
            XF_WARN("kafka producer: delivery to %s [%" PRId32 "] failed: %s",
                    rd_kafka_topic_name(m->rkt), m->partition, rd_kafka_err2str(m->err));
    } else {
        p->st.delivered++;
    }
    if (p->on_delivery)
        p->on_delivery(rd_kafka_topic_name(m->rkt), m->partition, m->offset, m->err ? XF_EIO : 0,
                       p->ud);
}

static void producer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)opaque;
    XF_WARN("kafka producer: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

int xf_kafka_producer_create(const char *brokers, const char *const *props, size_t n_props,
                             struct xf_kafka_producer **out)
{
    struct xf_kafka_producer *p = NULL;
    rd_kafka_conf_t *conf = NULL;
    char errstr[512];
    int rc = XF_EINVAL;

    *out = NULL;
    if (!brokers)
        goto out;
    rc = XF_ENOMEM;
    p = xf_calloc(1, sizeof(*p));
    conf = rd_kafka_conf_new();
    if (!p || !conf)
        goto out;
    rc = XF_ECONFIG;
    if (conf_set(conf, "bootstrap.servers", brokers) < 0 ||
        conf_set(conf, "client.id", "xdrflow") < 0)
        goto out;
    for (size_t i = 0; i < XF_ARRAY_LEN(producer_defaults); i++)
        if (conf_set(conf, producer_defaults[i].name, producer_defaults[i].value) < 0)
            goto out;
    if (conf_set_props(conf, props, n_props) < 0)
        goto out;
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, producer_error_cb);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!p->rk) {
        XF_ERROR("kafka producer: %s", errstr);
        goto out;
    }
    conf = NULL;
    *out = p;
    p = NULL;
    rc = 0;
out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    xf_kafka_producer_destroy(p);
    return rc;
}

void xf_kafka_producer_destroy(struct xf_kafka_producer *p)
{
    if (!p)
        return;
    if (p->rk) {
        if (rd_kafka_flush(p->rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
            XF_WARN("kafka producer: %d record(s) not delivered at close",
                    rd_kafka_outq_len(p->rk));
        rd_kafka_destroy(p->rk);
    }
    xf_free(p);
}

int xf_kafka_producer_send(struct xf_kafka_producer *p, const char *topic, int32_t partition,
                           const void *key, size_t key_len, const void *value, size_t len,
                           const struct xf_kafka_header *hdrs, size_t n_hdrs)
{
    rd_kafka_headers_t *h = NULL;
    rd_kafka_resp_err_t err;
    int rc = 0;

    for (;;) {
        if (n_hdrs > 0) {
            h = rd_kafka_headers_new(n_hdrs);
            if (!h)
                return XF_ENOMEM;
            for (size_t i = 0; i < n_hdrs; i++)
                rd_kafka_header_add(h, hdrs[i].name, -1, hdrs[i].value, (ssize_t)hdrs[i].len);
        }
        err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            h = NULL; /* owned by the message now */
            p->st.sent++;
            break;
        }
        if (h) {
            rd_kafka_headers_destroy(h);
            h = NULL;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            XF_WARN("kafka producer: %s: %s", topic, rd_kafka_err2str(err));
            rc = err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? XF_ETOOBIG : XF_EIO;
            p->st.failed++;
            p->failed_since_flush++;
            break;
        }
        /* the local queue is full: serve delivery reports until there is room */
        rd_kafka_poll(p->rk, 100);
    }
    rd_kafka_poll(p->rk, 0);
    return rc;
}

int xf_kafka_producer_flush(struct xf_kafka_producer *p, int timeout_ms)
{
    rd_kafka_resp_err_t err = rd_kafka_flush(p->rk, timeout_ms);
    int rc = 0;

    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
        rc = XF_EAGAIN;
    } else if (p->failed_since_flush > 0) {
        XF_WARN("kafka producer: %" PRIu64 " record(s) failed since the last flush",
                p->failed_since_flush);
        rc = XF_EIO;
    }
    p->failed_since_flush = 0;
    return rc;
}

void xf_kafka_producer_on_delivery(struct xf_kafka_producer *p, xf_kafka_delivery_cb cb, void *ud)
{
    p->on_delivery = cb;
    p->ud = ud;
}

void xf_kafka_producer_get_stats(const struct xf_kafka_producer *p,
                                 struct xf_kafka_producer_stats *out)
{
    *out = p->st;
}
