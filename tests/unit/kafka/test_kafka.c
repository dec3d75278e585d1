/*
 * test_kafka.c - the consumer, producer and development broker against a real (mock) cluster
 * on loopback: no external Kafka needed.
 *
 * Each test starts its own devbroker, so one test's offsets or faults never leak into another.
 * Every wait is bounded (DEADLINE_MS); a hang is a failure, not a stuck build.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "xf/kafka.h"

#define DEADLINE_MS 30000
#define MAXREC 100000

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What a test consumed: value text, partition, key text and content type per record. */
struct seen {
    size_t n;
    char *val[MAXREC];
    int32_t part[MAXREC];
    int64_t off[MAXREC];
    char *key[MAXREC];
    char *ct[MAXREC];
};

static struct seen *seen_new(void)
{
    struct seen *s = calloc(1, sizeof(*s));

    assert_non_null(s);
    return s;
}

static void seen_free(struct seen *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->val[i]);
        free(s->key[i]);
        free(s->ct[i]);
    }
    free(s);
}

static char *dupn(const void *p, size_t n)
{
    char *s = malloc(n + 1);

    assert_non_null(s);
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Polls until `want` records arrived or `ms` passed; returns how many arrived. */
static size_t consume(struct xf_kafka_consumer *c, struct seen *s, size_t want, int ms)
{
    struct xf_kafka_record recs[512];
    int64_t end = now_ms() + ms;
    size_t got = 0;

    while (got < want && now_ms() < end) {
        size_t n = 0;

        assert_int_equal(xf_kafka_consumer_poll(c, recs, 512, &n, 100), 0);
        for (size_t i = 0; i < n && s->n < MAXREC; i++) {
            s->val[s->n] = dupn(recs[i].value, recs[i].len);
            s->key[s->n] = dupn(recs[i].key, recs[i].key_len);
            s->ct[s->n] = recs[i].content_type ? strdup(recs[i].content_type) : NULL;
            s->part[s->n] = recs[i].partition;
            s->off[s->n] = recs[i].offset;
            s->n++;
        }
        got += n;
    }
    return got;
}

/* Commits, per partition, the offset after the highest record in s. */
static void commit_all(struct xf_kafka_consumer *c, const char *topic, const struct seen *s,
                       int partitions)
{
    struct xf_kafka_offset offs[16];
    size_t n = 0;

    for (int p = 0; p < partitions; p++) {
        int64_t hi = -1;

        for (size_t i = 0; i < s->n; i++)
            if (s->part[i] == p && s->off[i] > hi)
                hi = s->off[i];
        if (hi >= 0)
            offs[n++] = (struct xf_kafka_offset){topic, p, hi + 1};
    }
    assert_int_equal(xf_kafka_consumer_commit(c, offs, n, 1), 0);
}

static struct xf_devbroker *broker(int brokers, int partitions, const char *topic, int port)
{
    const char *topics[] = {topic};
    struct xf_devbroker_opts o = {brokers, partitions, topics, 1, port};
    struct xf_devbroker *d = NULL;

    assert_int_equal(xf_devbroker_start(&o, &d), 0);
    return d;
}

static struct xf_kafka_consumer *consumer(const char *bs, const char *group, const char *topic,
                                          xf_kafka_rebalance_cb cb, void *ud)
{
    const char *topics[] = {topic};
    struct xf_kafka_consumer_opts o = {0};
    struct xf_kafka_consumer *c = NULL;

    o.brokers = bs;
    o.group = group;
    o.topics = topics;
    o.n_topics = 1;
    o.rebalance = cb;
    o.ud = ud;
    assert_int_equal(xf_kafka_consumer_create(&o, &c), 0);
    return c;
}

static void produce_n(const char *bs, const char *topic, size_t n, size_t nkeys,
                      const struct xf_kafka_header *h, size_t nh)
{
    struct xf_kafka_producer *p = NULL;

    assert_int_equal(xf_kafka_producer_create(bs, NULL, 0, &p), 0);
    for (size_t i = 0; i < n; i++) {
        char key[32], val[64];
        int kl = snprintf(key, sizeof(key), "host-%zu", nkeys ? i % nkeys : 0);
        int vl = snprintf(val, sizeof(val), "record-%06zu", i);

        assert_int_equal(
            xf_kafka_producer_send(p, topic, -1, key, (size_t)kl, val, (size_t)vl, h, nh), 0);
    }
    assert_int_equal(xf_kafka_producer_flush(p, DEADLINE_MS), 0);
    xf_kafka_producer_destroy(p);
}

/* Every value record-000000 .. record-(n-1) appears exactly once. */
static void assert_each_once(const struct seen *s, size_t n)
{
    unsigned char *hit = calloc(n, 1);

    assert_non_null(hit);
    for (size_t i = 0; i < s->n; i++) {
        long v;

        assert_int_equal(strncmp(s->val[i], "record-", 7), 0);
        v = strtol(s->val[i] + 7, NULL, 10);
        assert_true(v >= 0 && (size_t)v < n);
        assert_int_equal(hit[v], 0);
        hit[v] = 1;
    }
    assert_int_equal(s->n, n);
    free(hit);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void devbroker_start_gives_a_loopback_bootstrap_per_broker(void **state)
{
    struct xf_devbroker *d = broker(3, 2, "t", 0);
    const char *bs = xf_devbroker_bootstraps(d);
    size_t commas = 0;

    (void)state;
    assert_int_equal(strncmp(bs, "127.0.0.1:", 10), 0);
    for (const char *p = bs; *p; p++)
        commas += *p == ',';
    assert_int_equal(commas, 2);
    assert_int_equal(xf_devbroker_set_down(d, 2, 1), 0);
    assert_int_equal(xf_devbroker_set_down(d, 2, 0), 0);
    assert_int_equal(xf_devbroker_set_down(d, 9, 1), XF_EINVAL);
    xf_devbroker_stop(d);
}

static void committed_offsets_mean_a_new_member_reads_nothing_more(void **state)
{
    struct xf_devbroker *d = broker(1, 4, "xdr.test", 0);
    const char *bs = xf_devbroker_bootstraps(d);
    struct seen *s = seen_new(), *again = seen_new();
    struct xf_kafka_consumer *c;
    struct xf_kafka_consumer_stats st;

    (void)state;
    produce_n(bs, "xdr.test", 2000, 50, NULL, 0);
    c = consumer(bs, "g1", "xdr.test", NULL, NULL);
    assert_int_equal(consume(c, s, 2000, DEADLINE_MS), 2000);
    assert_each_once(s, 2000);
    commit_all(c, "xdr.test", s, 4);
    xf_kafka_consumer_get_stats(c, &st);
    assert_int_equal(st.records, 2000);
    assert_int_equal(st.assigned, 4);
    assert_int_equal(st.offset_gaps, 0);
    xf_kafka_consumer_destroy(c);

    /* same group: resumes after the commit, so only records produced later arrive */
    c = consumer(bs, "g1", "xdr.test", NULL, NULL);
    assert_int_equal(consume(c, again, 1, 5000), 0);
    xf_kafka_consumer_destroy(c);
    seen_free(again);
    seen_free(s);
    xf_devbroker_stop(d);
}

static void uncommitted_records_are_read_again_by_the_next_member(void **state)
{
    struct xf_devbroker *d = broker(1, 1, "xdr.test", 0);
    const char *bs = xf_devbroker_bootstraps(d);
    struct seen *s = seen_new(), *again = seen_new();
    struct xf_kafka_consumer *c;
    struct xf_kafka_offset half = {"xdr.test", 0, 60};

    (void)state;
    produce_n(bs, "xdr.test", 100, 1, NULL, 0);
    c = consumer(bs, "g1", "xdr.test", NULL, NULL);
    assert_int_equal(consume(c, s, 100, DEADLINE_MS), 100);
    /* only the first 60 are "durable" */
    assert_int_equal(xf_kafka_consumer_commit(c, &half, 1, 1), 0);
    xf_kafka_consumer_destroy(c);

    c = consumer(bs, "g1", "xdr.test", NULL, NULL);
    assert_int_equal(consume(c, again, 40, DEADLINE_MS), 40);
    assert_int_equal(again->off[0], 60);
    assert_string_equal(again->val[0], "record-000060");
    assert_string_equal(again->val[39], "record-000099");
    xf_kafka_consumer_destroy(c);
    seen_free(again);
    seen_free(s);
    xf_devbroker_stop(d);
}

static void content_type_header_arrives_nul_terminated(void **state)
{
    struct xf_devbroker *d = broker(1, 1, "xdr.ct", 0);
    const char *bs = xf_devbroker_bootstraps(d);
    struct xf_kafka_header h = {"content-type", "application/x-protobuf", 22};
    struct seen *s = seen_new();
    struct xf_kafka_consumer *c;

    (void)state;
    produce_n(bs, "xdr.ct", 3, 1, &h, 1);
    produce_n(bs, "xdr.ct", 1, 1, NULL, 0);
    c = consumer(bs, "g", "xdr.ct", NULL, NULL);
    assert_int_equal(consume(c, s, 4, DEADLINE_MS), 4);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(s->ct[i], "application/x-protobuf");
    assert_null(s->ct[3]);
    assert_string_equal(s->key[0], "host-0");
    xf_kafka_consumer_destroy(c);
    seen_free(s);
    xf_devbroker_stop(d);
}

static void one_key_always_lands_on_one_partition(void **state)
{
    struct xf_devbroker *d = broker(1, 6, "xdr.keys", 0);
    const char *bs = xf_devbroker_bootstraps(d);
    struct seen *s = seen_new();
    struct xf_kafka_consumer *c;
    int32_t part_of[20];
    int used[6] = {0};
    int n_used = 0;

    (void)state;
    produce_n(bs, "xdr.keys", 600, 20, NULL, 0);
    c = consumer(bs, "g", "xdr.keys", NULL, NULL);
    assert_int_equal(consume(c, s, 600, DEADLINE_MS), 600);
    for (size_t k = 0; k < 20; k++)
        part_of[k] = -1;
    for (size_t i = 0; i < s->n; i++) {
        long k = strtol(s->key[i] + 5, NULL, 10);

        if (part_of[k] < 0)
            part_of[k] = s->part[i];
        assert_int_equal(part_of[k], s->part[i]);
        used[s->part[i]] = 1;
    }
    for (int p = 0; p < 6; p++)
        n_used += used[p];
    assert_true(n_used >= 3); /* 20 hosts spread over the partitions */
    xf_kafka_consumer_destroy(c);
    seen_free(s);
    xf_devbroker_stop(d);
}

static void paused_consumer_gets_nothing_until_resumed(void **state)
{
    struct xf_devbroker *d = broker(1, 2, "xdr.p", 0);
    const char *bs = xf_devbroker_bootstraps(d);
    struct seen *s = seen_new();
    struct xf_kafka_consumer *c;
    struct xf_kafka_producer *p = NULL;

    (void)state;
    c = consumer(bs, "g", "xdr.p", NULL, NULL);
    produce_n(bs, "xdr.p", 10, 4, NULL, 0);
    assert_int_equal(consume(c, s, 10, DEADLINE_MS), 10);
    assert_int_equal(xf_kafka_consumer_pause(c), 0);
    assert_int_equal(xf_kafka_producer_create(bs, NULL, 0, &p), 0);
    assert_int_equal(xf_kafka_producer_send(p, "xdr.p", -1, "k", 1, "record-000010", 13, NULL, 0),
                     0);
    assert_int_equal(xf_kafka_producer_flush(p, DEADLINE_MS), 0);
    assert_int_equal(consume(c, s, 1, 2000), 0);
    assert_int_equal(xf_kafka_consumer_resume(c), 0);
    assert_int_equal(consume(c, s, 1, DEADLINE_MS), 1);
    assert_each_once(s, 11);
    xf_kafka_producer_destroy(p);
    xf_kafka_consumer_destroy(c);
    seen_free(s);
    xf_devbroker_stop(d);
}

static void broker_down_then_up_during_consumption_loses_nothing(void **state)
{
    struct xf_devbroker *d = broker(1, 3, "xdr.down", 0);
    const char *bs = xf_devbroker_bootstraps(d);
    struct seen *s = seen_new();
    struct xf_kafka_consumer *c;
    struct xf_kafka_producer *p = NULL;
    size_t got;

    (void)state;
    produce_n(bs, "xdr.down", 500, 10, NULL, 0);
    c = consumer(bs, "g", "xdr.down", NULL, NULL);
    got = consume(c, s, 500, DEADLINE_MS);
    assert_int_equal(got, 500);
    assert_int_equal(xf_devbroker_set_down(d, 1, 1), 0);
    consume(c, s, 1, 1500);
    assert_int_equal(xf_devbroker_set_down(d, 1, 0), 0);
    /* produced after the outage: the consumer must reconnect and read on */
    assert_int_equal(xf_kafka_producer_create(bs, NULL, 0, &p), 0);
    for (int i = 500; i < 1000; i++) {
        char key[16], val[32];
        int kl = snprintf(key, sizeof(key), "host-%d", i % 10);
        int vl = snprintf(val, sizeof(val), "record-%06d", i);

        assert_int_equal(
            xf_kafka_producer_send(p, "xdr.down", -1, key, (size_t)kl, val, (size_t)vl, NULL, 0),
            0);
    }
    assert_int_equal(xf_kafka_producer_flush(p, DEADLINE_MS), 0);
    consume(c, s, 1000 - s->n, DEADLINE_MS);
    assert_each_once(s, 1000);
    xf_kafka_producer_destroy(p);
    xf_kafka_consumer_destroy(c);
    seen_free(s);
    xf_devbroker_stop(d);
}

struct rb_log {
    int assigns, revokes;
    size_t last_n;
};

static void on_rebalance(enum xf_kafka_rebalance what, const struct xf_kafka_tp *tps, size_t n,
                         void *ud)
{
    struct rb_log *l = ud;

    if (what == XF_KAFKA_ASSIGN)
        l->assigns++;
    else
        l->revokes++;
    l->last_n = n;
    for (size_t i = 0; i < n; i++)
        assert_string_equal(tps[i].topic, "xdr.rb");
}

static void rebalance_callback_sees_assign_and_revoke(void **state)
{
    struct xf_devbroker *d = broker(1, 3, "xdr.rb", 0);
    const char *bs = xf_devbroker_bootstraps(d);
    struct seen *s = seen_new();
    struct rb_log l = {0};
    struct xf_kafka_consumer *c;

    (void)state;
    produce_n(bs, "xdr.rb", 30, 5, NULL, 0);
    c = consumer(bs, "g", "xdr.rb", on_rebalance, &l);
    assert_int_equal(consume(c, s, 30, DEADLINE_MS), 30);
    assert_int_equal(l.assigns, 1);
    assert_int_equal(l.last_n, 3);
    xf_kafka_consumer_destroy(c);
    assert_int_equal(l.revokes, 1);
    seen_free(s);
    xf_devbroker_stop(d);
}

/* Polls both members (a rebalance needs every member polling) until each holds want_a and
 * want_b partitions; records read on the way go to sa. */
static void poll_until_assigned(struct xf_kafka_consumer *a, struct seen *sa, uint32_t want_a,
                                struct xf_kafka_consumer *b, uint32_t want_b)
{
    struct xf_kafka_consumer_stats sta, stb = {0};
    struct seen *sb = seen_new();
    int64_t end = now_ms() + DEADLINE_MS;

    for (;;) {
        consume(a, sa, 1, 100);
        if (b)
            consume(b, sb, 1, 100);
        xf_kafka_consumer_get_stats(a, &sta);
        if (b)
            xf_kafka_consumer_get_stats(b, &stb);
        if (sta.assigned == want_a && (!b || stb.assigned == want_b))
            break;
        assert_true(now_ms() < end);
    }
    seen_free(sb);
}

static void partition_paused_when_revoked_is_read_again_when_reassigned(void **state)
{
    struct xf_devbroker *d = broker(1, 2, "xdr.pr", 0);
    const char *bs = xf_devbroker_bootstraps(d);
    struct seen *s = seen_new(), *after = seen_new();
    struct xf_kafka_consumer *c1, *c2;
    int used[2] = {0, 0};

    (void)state;
    produce_n(bs, "xdr.pr", 20, 20, NULL, 0);
    c1 = consumer(bs, "g", "xdr.pr", NULL, NULL);
    assert_int_equal(consume(c1, s, 20, DEADLINE_MS), 20);
    commit_all(c1, "xdr.pr", s, 2);
    /* backpressure: c1 stops fetching; a second member takes one of its partitions away */
    assert_int_equal(xf_kafka_consumer_pause(c1), 0);
    c2 = consumer(bs, "g", "xdr.pr", NULL, NULL);
    poll_until_assigned(c1, s, 1, c2, 1);
    /* the pressure ends while c1 holds one partition: resume reaches only that one */
    assert_int_equal(xf_kafka_consumer_resume(c1), 0);
    xf_kafka_consumer_destroy(c2);
    poll_until_assigned(c1, s, 2, NULL, 0);
    /* both partitions are c1's again and both must be fetched */
    produce_n(bs, "xdr.pr", 20, 20, NULL, 0);
    assert_int_equal(consume(c1, after, 20, DEADLINE_MS), 20);
    assert_each_once(after, 20);
    for (size_t i = 0; i < after->n; i++)
        used[after->part[i]] = 1;
    assert_true(used[0] && used[1]);
    xf_kafka_consumer_destroy(c1);
    seen_free(s);
    seen_free(after);
    xf_devbroker_stop(d);
}

struct lags {
    int64_t lag[2];
};

static void on_lag(const char *topic, int32_t partition, int64_t lag, void *ud)
{
    struct lags *l = ud;

    assert_string_equal(topic, "xdr.lag");
    assert_true(partition >= 0 && partition < 2);
    l->lag[partition] = lag;
}

static void lag_of_a_taken_over_partition_counts_from_the_committed_offset(void **state)
{
    struct xf_devbroker *d = broker(1, 2, "xdr.lag", 0);
    const char *bs = xf_devbroker_bootstraps(d);
    struct seen *s = seen_new();
    struct xf_kafka_consumer *c;
    struct lags l = {{-1, -1}};
    int64_t end;

    (void)state;
    produce_n(bs, "xdr.lag", 40, 20, NULL, 0);
    c = consumer(bs, "g", "xdr.lag", NULL, NULL);
    assert_int_equal(consume(c, s, 40, DEADLINE_MS), 40);
    commit_all(c, "xdr.lag", s, 2);
    xf_kafka_consumer_destroy(c);
    /* the next member has nothing to read: no record ever gives it a position */
    c = consumer(bs, "g", "xdr.lag", NULL, NULL);
    poll_until_assigned(c, s, 2, NULL, 0);
    end = now_ms() + DEADLINE_MS;
    while (l.lag[0] < 0 || l.lag[1] < 0) {
        assert_true(now_ms() < end);
        assert_int_equal(consume(c, s, 1, 100), 0);
        assert_int_equal(xf_kafka_consumer_lag(c, on_lag, &l), 0);
    }
    assert_int_equal(l.lag[0], 0);
    assert_int_equal(l.lag[1], 0);
    xf_kafka_consumer_destroy(c);
    seen_free(s);
    xf_devbroker_stop(d);
}

static void fixed_port_forwarder_serves_producer_and_consumer(void **state)
{
    struct xf_devbroker *d = NULL;
    struct seen *s = seen_new();
    struct xf_kafka_consumer *c;
    char want[32];
    int port = 0;

    (void)state;
    /* find a free port by trying a few in the dynamic range */
    for (int i = 0; i < 20 && !d; i++) {
        const char *topics[] = {"xdr.fwd"};
        struct xf_devbroker_opts o = {1, 2, topics, 1, 0};

        port = 40000 + (int)((unsigned)now_ms() % 20000) + i;
        o.port = port;
        if (xf_devbroker_start(&o, &d) < 0)
            d = NULL;
    }
    assert_non_null(d);
    snprintf(want, sizeof(want), "127.0.0.1:%d", port);
    assert_string_equal(xf_devbroker_bootstraps(d), want);
    produce_n(want, "xdr.fwd", 200, 7, NULL, 0);
    c = consumer(want, "g", "xdr.fwd", NULL, NULL);
    assert_int_equal(consume(c, s, 200, DEADLINE_MS), 200);
    assert_each_once(s, 200);
    xf_kafka_consumer_destroy(c);
    seen_free(s);
    xf_devbroker_stop(d);
}

static void unknown_property_is_a_config_error(void **state)
{
    const char *topics[] = {"t"};
    const char *props[] = {"no.such.property=1"};
    const char *bad[] = {"nonsense"};
    struct xf_kafka_consumer_opts o = {0};
    struct xf_kafka_consumer *c = NULL;
    struct xf_kafka_producer *p = NULL;

    (void)state;
    o.brokers = "127.0.0.1:1";
    o.group = "g";
    o.topics = topics;
    o.n_topics = 1;
    o.props = props;
    o.n_props = 1;
    assert_int_equal(xf_kafka_consumer_create(&o, &c), XF_ECONFIG);
    assert_null(c);
    assert_int_equal(xf_kafka_producer_create("127.0.0.1:1", bad, 1, &p), XF_ECONFIG);
    assert_null(p);
}

static void content_types_map_to_formats(void **state)
{
    enum xf_format f = XF_FMT__COUNT;

    (void)state;
    assert_int_equal(xf_kafka_content_type_format("application/x-protobuf", &f), 0);
    assert_int_equal(f, XF_FMT_PROTO);
    assert_int_equal(xf_kafka_content_type_format("Application/JSON; charset=utf-8", &f), 0);
    assert_int_equal(f, XF_FMT_AUTO);
    assert_int_equal(xf_kafka_content_type_format("sysmon", &f), 0);
    assert_int_equal(f, XF_FMT_SYSMON);
    assert_int_equal(xf_kafka_content_type_format("application/x-ecs+json", &f), 0);
    assert_int_equal(f, XF_FMT_ECS);
    assert_int_equal(xf_kafka_content_type_format("application/winevt+json", &f), 0);
    assert_int_equal(f, XF_FMT_WINEVT);
    assert_int_equal(xf_kafka_content_type_format("text/csv", &f), XF_EFORMAT);
    assert_int_equal(xf_kafka_content_type_format("application/proto+json", &f), XF_EFORMAT);
    assert_int_equal(xf_kafka_content_type_format(NULL, &f), XF_EFORMAT);
}

/* Incompressible payloads, so the devbroker's ~5 MiB retention is reached quickly. */
static void fill(struct xf_kafka_producer *p, const char *topic, int from, int to)
{
    static char big[16384];
    unsigned x = 12345;

    for (int i = from; i < to; i++) {
        int vl = snprintf(big, sizeof(big), "record-%06d ", i);

        for (size_t j = (size_t)vl; j < sizeof(big); j++) {
            x = x * 1103515245u + 12345u;
            big[j] = (char)('a' + (x >> 16) % 26);
        }
        assert_int_equal(xf_kafka_producer_send(p, topic, 0, "k", 1, big, sizeof(big), NULL, 0), 0);
        /* one record per batch: retention drops whole batches */
        assert_int_equal(xf_kafka_producer_flush(p, DEADLINE_MS), 0);
    }
}

static void records_deleted_by_devbroker_retention_are_counted(void **state)
{
    struct xf_devbroker *d = broker(1, 1, "xdr.ret", 0);
    const char *bs = xf_devbroker_bootstraps(d);
    struct seen *s = seen_new();
    struct xf_kafka_consumer *c;
    struct xf_kafka_producer *p = NULL;
    struct xf_kafka_consumer_stats st;
    const char *props[] = {"linger.ms=0"};

    (void)state;
    assert_int_equal(xf_kafka_producer_create(bs, props, 1, &p), 0);
    fill(p, "xdr.ret", 0, 5);
    c = consumer(bs, "g", "xdr.ret", NULL, NULL);
    assert_int_equal(consume(c, s, 5, DEADLINE_MS), 5);
    /* the consumer stops reading while 8 MiB arrive: the oldest unread ones are dropped */
    assert_int_equal(xf_kafka_consumer_pause(c), 0);
    fill(p, "xdr.ret", 5, 5 + 512);
    assert_int_equal(xf_kafka_consumer_resume(c), 0);
    consume(c, s, 512, 5000);
    xf_kafka_consumer_get_stats(c, &st);
    assert_true(st.offset_gaps >= 1);
    assert_true(s->n < 5 + 512);
    /* the newest record is kept and read */
    assert_int_equal(strncmp(s->val[s->n - 1], "record-000516", 13), 0);
    xf_kafka_producer_destroy(p);
    xf_kafka_consumer_destroy(c);
    seen_free(s);
    xf_devbroker_stop(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(devbroker_start_gives_a_loopback_bootstrap_per_broker),
        cmocka_unit_test(committed_offsets_mean_a_new_member_reads_nothing_more),
        cmocka_unit_test(uncommitted_records_are_read_again_by_the_next_member),
        cmocka_unit_test(content_type_header_arrives_nul_terminated),
        cmocka_unit_test(one_key_always_lands_on_one_partition),
        cmocka_unit_test(paused_consumer_gets_nothing_until_resumed),
        cmocka_unit_test(broker_down_then_up_during_consumption_loses_nothing),
        cmocka_unit_test(rebalance_callback_sees_assign_and_revoke),
        cmocka_unit_test(partition_paused_when_revoked_is_read_again_when_reassigned),
        cmocka_unit_test(lag_of_a_taken_over_partition_counts_from_the_committed_offset),
        cmocka_unit_test(fixed_port_forwarder_serves_producer_and_consumer),
        cmocka_unit_test(unknown_property_is_a_config_error),
        cmocka_unit_test(content_types_map_to_formats),
        cmocka_unit_test(records_deleted_by_devbroker_retention_are_counted),
    };

    xf_log_set_level(XF_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
