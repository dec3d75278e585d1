/*
 * kafka_dump.c - xf-test-kafka-dump: a tiny group consumer for the integration tests, so they
 * can show that records written by another client (kcat) are read by xdrflow's consumer.
 *
 *   xf-test-kafka-dump BROKERS GROUP TOPIC COUNT [TIMEOUT_S]
 *
 * Reads until COUNT records arrived (or the timeout), commits them, and prints one line per
 * record: "PARTITION\tKEY\tCONTENT-TYPE\tVALUE" (an absent content type prints as "-").
 * Exit status 0 when COUNT records arrived, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xf/kafka.h"

#define MAXP 256

int main(int argc, char **argv)
{
    const char *topics[1];
    struct xf_kafka_consumer_opts o = {0};
    struct xf_kafka_consumer *c = NULL;
    struct xf_kafka_record recs[256];
    int64_t next[MAXP];
    long want, secs = 30;
    long got = 0;
    time_t end;

    if (argc < 5) {
        fprintf(stderr, "usage: xf-test-kafka-dump BROKERS GROUP TOPIC COUNT [TIMEOUT_S]\n");
        return 2;
    }
    want = strtol(argv[4], NULL, 10);
    if (argc > 5)
        secs = strtol(argv[5], NULL, 10);
    for (int i = 0; i < MAXP; i++)
        next[i] = -1;
    topics[0] = argv[3];
    o.brokers = argv[1];
    o.group = argv[2];
    o.topics = topics;
    o.n_topics = 1;
    if (xf_kafka_consumer_create(&o, &c) < 0)
        return 1;
    end = time(NULL) + secs;
    while (got < want && time(NULL) < end) {
        size_t n = 0;

        if (xf_kafka_consumer_poll(c, recs, 256, &n, 200) < 0)
            break;
        for (size_t i = 0; i < n; i++) {
            const struct xf_kafka_record *r = &recs[i];

            printf("%d\t%.*s\t%s\t%.*s\n", (int)r->partition, (int)r->key_len,
                   r->key ? (const char *)r->key : "", r->content_type ? r->content_type : "-",
                   (int)r->len, (const char *)r->value);
            if (r->partition >= 0 && r->partition < MAXP)
                next[r->partition] = r->offset + 1;
        }
        got += (long)n;
    }
    for (int p = 0; p < MAXP; p++)
        if (next[p] >= 0) {
            struct xf_kafka_offset off = {argv[3], p, next[p]};

            xf_kafka_consumer_commit(c, &off, 1, 1);
        }
    fflush(stdout);
    xf_kafka_consumer_destroy(c);
    fprintf(stderr, "xf-test-kafka-dump: %ld record(s)\n", got);
    return got >= want ? 0 : 1;
}
