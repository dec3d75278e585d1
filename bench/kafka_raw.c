/*
 * kafka_raw.c - xf-bench-kafka-raw: how fast the group consumer alone can read, with
 * librdkafka's default fetch/queue settings and with xdrflow's tuned ones.
 *
 * It pre-fills a devbroker topic (in-process, or --brokers for a real cluster), then reads the
 * whole topic twice in fresh consumer groups, counting records and doing nothing else. The one
 * thing to know: the devbroker keeps only ~5 MiB per partition, so the topic is spread over
 * enough partitions to keep every record; the tool checks the watermarks and refuses to report
 * a rate for a topic that lost records.
 *
 *   xf-bench-kafka-raw [-n RECORDS] [-p PARTITIONS] [-s BYTES] [--brokers B --topic T]
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xf/kafka.h"

/* librdkafka 2.0.2's own defaults for what xdrflow tunes (see ingest/src/kafka.c). */
static const char *const untuned[] = {
    "fetch.min.bytes=1",
    "fetch.wait.max.ms=500",
    "fetch.max.bytes=52428800",
    "max.partition.fetch.bytes=1048576",
    "queued.min.messages=100000",
    "queued.max.messages.kbytes=65536",
    "receive.message.max.bytes=100000000",
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads n records in a new group; returns records/s or -1. */
static double consume_all(const char *bs, const char *topic, const char *group,
                          const char *const *props, size_t n_props, uint64_t n, uint64_t *gaps)
{
    const char *topics[] = {topic};
    struct xf_kafka_consumer_opts o = {0};
    struct xf_kafka_consumer *c = NULL;
    struct xf_kafka_record *recs = malloc(8192 * sizeof(*recs));
    struct xf_kafka_consumer_stats st;
    uint64_t got = 0, bytes = 0;
    double t0 = 0, t1, idle_since = now_s();

    o.brokers = bs;
    o.group = group;
    o.topics = topics;
    o.n_topics = 1;
    o.props = props;
    o.n_props = n_props;
    if (!recs || xf_kafka_consumer_create(&o, &c) < 0) {
        free(recs);
        return -1;
    }
    while (got < n) {
        size_t k = 0;

        if (xf_kafka_consumer_poll(c, recs, 8192, &k, 100) < 0)
            break;
        if (k && !t0)
            t0 = now_s(); /* the clock starts at the first record: group join is not reading */
        for (size_t i = 0; i < k; i++)
            bytes += recs[i].len;
        got += k;
        if (k)
            idle_since = now_s();
        else if (now_s() - idle_since > 20)
            break;
    }
    t1 = now_s();
    xf_kafka_consumer_get_stats(c, &st);
    *gaps = st.offset_gaps;
    xf_kafka_consumer_destroy(c);
    free(recs);
    if (got < n) {
        fprintf(stderr, "only %" PRIu64 " of %" PRIu64 " records arrived\n", got, n);
        return -1;
    }
    fprintf(stderr, "  %s: %" PRIu64 " records, %.1f MB in %.2f s\n", group, got,
            (double)bytes / 1e6, t1 - t0);
    return (double)got / (t1 - t0);
}

/* A realistic record: one ECS process event, made unique by its counter. */
static size_t make_record(char *buf, size_t cap, uint64_t i, size_t size)
{
    int n =
        snprintf(buf, cap,
                 "{\"@timestamp\":\"2026-11-21T09:%02u:%02u.%03uZ\",\"event\":{\"id\":\"bench-"
                 "%" PRIu64 "\",\"category\":[\"process\"],\"type\":[\"start\"]},\"host\":{"
                 "\"name\":\"ws-%03u.corp.example\"},\"process\":{\"entity_id\":\"{p-%" PRIu64
                 "}\",\"pid\":%u,\"executable\":\"C:\\\\Windows\\\\System32\\\\svchost.exe\","
                 "\"command_line\":\"svchost.exe -k netsvcs -p -s Schedule\",\"parent\":{"
                 "\"entity_id\":\"{p-%" PRIu64 "}\"}},\"user\":{\"name\":\"corp\\\\u%u\"},"
                 "\"pad\":\"",
                 (unsigned)(i / 60 % 60), (unsigned)(i % 60), (unsigned)(i % 1000), i,
                 (unsigned)(i % 500), i, (unsigned)(i % 30000 + 100), i / 3, (unsigned)(i % 200));
    size_t len = n > 0 ? (size_t)n : 0;

    while (len + 3 < size && len + 3 < cap) {
        buf[len] = (char)('a' + (i + len) % 26);
        len++;
    }
    memcpy(buf + len, "\"}", 3);
    return len + 2;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"records", required_argument, NULL, 'n'}, {"partitions", required_argument, NULL, 'p'},
        {"size", required_argument, NULL, 's'},    {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},   {NULL, 0, NULL, 0},
    };
    uint64_t n = 2000000;
    int partitions = 64;
    size_t size = 400;
    const char *bs = NULL, *topic = "bench.raw";
    struct xf_devbroker *d = NULL;
    struct xf_kafka_producer *p = NULL;
    char buf[4096], group[64];
    double t0, t1, rate_default, rate_tuned;
    uint64_t gaps_d = 0, gaps_t = 0;
    int opt, status = 1;

    while ((opt = getopt_long(argc, argv, "n:p:s:b:t:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            n = strtoull(optarg, NULL, 10);
            break;
        case 'p':
            partitions = (int)strtol(optarg, NULL, 10);
            break;
        case 's':
            size = strtoul(optarg, NULL, 10);
            break;
        case 'b':
            bs = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        default:
            fprintf(stderr, "usage: xf-bench-kafka-raw [-n RECORDS] [-p PARTITIONS] [-s BYTES] "
                            "[--brokers B --topic T]\n");
            return 2;
        }
    }
    xf_log_set_level(XF_LOG_ERROR);
    if (size < 64 || size > sizeof(buf) - 8 || n == 0 || partitions < 1)
        return 2;
    if (!bs) {
        const char *topics[] = {topic};
        struct xf_devbroker_opts o = {1, partitions, topics, 1, 0};

        if (xf_devbroker_start(&o, &d) < 0)
            return 1;
        bs = xf_devbroker_bootstraps(d);
    }
    if (xf_kafka_producer_create(bs, NULL, 0, &p) < 0)
        goto out;
    t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        size_t len = make_record(buf, sizeof(buf), i, size);
        char key[32];
        int kl = snprintf(key, sizeof(key), "ws-%03u", (unsigned)(i % 500));

        if (xf_kafka_producer_send(p, topic, -1, key, (size_t)kl, buf, len, NULL, 0) < 0)
            goto out;
    }
    if (xf_kafka_producer_flush(p, 300000) < 0)
        goto out;
    t1 = now_s();
    fprintf(stderr, "produced %" PRIu64 " records of ~%zu bytes in %.2f s (%.0f records/s)\n", n,
            size, t1 - t0, (double)n / (t1 - t0));

    snprintf(group, sizeof(group), "raw-default-%ld", (long)time(NULL));
    rate_default =
        consume_all(bs, topic, group, untuned, sizeof(untuned) / sizeof(untuned[0]), n, &gaps_d);
    snprintf(group, sizeof(group), "raw-tuned-%ld", (long)time(NULL));
    rate_tuned = consume_all(bs, topic, group, NULL, 0, n, &gaps_t);
    if (gaps_d || gaps_t) {
        fprintf(stderr, "records were lost to retention (devbroker keeps ~5 MiB per partition): "
                        "use more partitions\n");
        goto out;
    }
    if (rate_default < 0 || rate_tuned < 0)
        goto out;
    printf("raw consume, librdkafka defaults: %.0f records/s\n", rate_default);
    printf("raw consume, xdrflow tuned:       %.0f records/s (%.1fx)\n", rate_tuned,
           rate_tuned / rate_default);
    status = 0;
out:
    xf_kafka_producer_destroy(p);
    xf_devbroker_stop(d);
    return status;
}
