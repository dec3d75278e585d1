/*
 * cmd_produce.c - `xdrflow produce`: sends recorded telemetry to a Kafka topic, one record per
 * Kafka message, keyed by host.
 *
 * The one thing to know: records are sent as they are in the file (the raw bytes; proto records
 * without their length prefix). Each record is decoded only to find its host for the key, so
 * one host's events stay in one partition, in order. A record that does not decode is still
 * sent, with an empty key: the daemon's dead-letter path has to see bad data too.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "xf/ingest.h"
#include "xf/kafka.h"

#define MAX_PROPS 32
#define MAX_PARTITIONS 4096

static void usage(FILE *out)
{
    fprintf(out,
            "usage: xdrflow produce --brokers HOST:PORT --topic T [options] FILE...\n\n"
            "Sends each record of FILE (plain, .gz or .zip; JSON lines or length-delimited\n"
            "protobuf) as one Kafka record to topic T, keyed by the record's host (records\n"
            "without a host, or that do not decode, get an empty key and a random partition;\n"
            "they are sent anyway). The producer is idempotent with acks=all and lz4.\n"
            "A summary goes to stderr: records sent, failed, and per partition.\n\n"
            "options:\n"
            "  -b, --brokers LIST     bootstrap servers, HOST:PORT[,HOST:PORT]\n"
            "  -t, --topic T          destination topic\n"
            "  -f, --input-format F   auto|ecs|sysmon|winevt|proto (default auto): how the files\n"
            "                         are framed and decoded to find the host\n"
            "  -p, --partition N      send everything to partition N (default: by key)\n"
            "  -c, --content-type X   add a content-type header with value X to every record\n"
            "                         (e.g. application/x-protobuf, application/json, ecs)\n"
            "  -X NAME=VALUE          a librdkafka producer property (repeatable); secrets\n"
            "                         belong in the environment, not on the command line\n"
            "  -q, --quiet            no summary\n"
            "  -h, --help             this text\n\n"
            "Exit status: 0 every record acknowledged, 1 a record failed or a file could not be\n"
            "read, 2 usage error.\n");
}

struct tally {
    uint64_t ok, failed;
    uint64_t per_part[MAX_PARTITIONS];
    int32_t max_part;
};

static void on_delivery(const char *topic, int32_t partition, int64_t offset, int err, void *ud)
{
    struct tally *t = ud;

    (void)topic;
    (void)offset;
    if (err) {
        t->failed++;
        return;
    }
    t->ok++;
    if (partition >= 0 && partition < MAX_PARTITIONS) {
        t->per_part[partition]++;
        if (partition > t->max_part)
            t->max_part = partition;
    }
}

/* Sends every record of one file. Returns 0, or -1 when the file could not be read whole. */
static int produce_file(struct xf_kafka_producer *p, const char *path, enum xf_format fmt,
                        const char *topic, int32_t partition, const struct xf_kafka_header *h,
                        size_t nh, struct xf_event *ev, uint64_t *sent, uint64_t *skipped)
{
    struct xf_reader *r = NULL;
    const char *data, *where;
    char err[XF_ERRMSG_MAX];
    size_t len;
    int rc;

    rc = xf_reader_open(path, fmt, &r);
    if (rc < 0) {
        fprintf(stderr, "xdrflow produce: %s: %s\n", path, xf_strerror(rc));
        return -1;
    }
    while ((rc = xf_reader_next(r, &data, &len, &where)) != 0) {
        const char *host = NULL;

        if (rc == XF_ETOOBIG) {
            fprintf(stderr, "xdrflow produce: %s: record too large, skipped\n", where);
            (*skipped)++;
            continue;
        }
        if (rc < 0) {
            fprintf(stderr, "xdrflow produce: %s: %s\n", where, xf_strerror(rc));
            break;
        }
        if (xf_decode(fmt, data, len, ev, NULL, err) == 0)
            host = xf_event_get(ev, XF_F_HOST);
        if (!host)
            host = "";
        if (xf_kafka_producer_send(p, topic, partition, host, strlen(host), data, len, h, nh) == 0)
            (*sent)++;
        else
            (*skipped)++; /* the producer logged why */
    }
    xf_reader_destroy(r);
    return rc < 0 ? -1 : 0;
}

int xf_cmd_produce(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"input-format", required_argument, NULL, 'f'},
        {"partition", required_argument, NULL, 'p'},
        {"content-type", required_argument, NULL, 'c'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *brokers = NULL, *topic = NULL, *ctype = NULL;
    const char *props[MAX_PROPS];
    size_t n_props = 0;
    enum xf_format fmt = XF_FMT_AUTO;
    int32_t partition = -1;
    struct xf_kafka_producer *p = NULL;
    struct xf_kafka_header hdr;
    struct tally *t = NULL;
    struct xf_event ev;
    uint64_t sent = 0, skipped = 0;
    int quiet = 0, file_errors = 0;
    int opt, rc, status = 2;

    xf_event_init(&ev);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "b:t:f:p:c:X:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            brokers = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'f':
            if (xf_format_from_name(optarg, &fmt)) {
                fprintf(stderr, "xdrflow produce: unknown input format '%s'\n", optarg);
                goto out;
            }
            break;
        case 'p': {
            char *end = NULL;
            long v;

            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || v < 0 || v >= MAX_PARTITIONS) {
                fprintf(stderr, "xdrflow produce: --partition wants 0..%d\n", MAX_PARTITIONS - 1);
                goto out;
            }
            partition = (int32_t)v;
            break;
        }
        case 'c':
            ctype = optarg;
            break;
        case 'X':
            if (n_props == MAX_PROPS) {
                fprintf(stderr, "xdrflow produce: too many -X\n");
                goto out;
            }
            props[n_props++] = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            usage(stdout);
            status = 0;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (!brokers || !topic || optind >= argc) {
        fprintf(stderr, "xdrflow produce: --brokers, --topic and at least one FILE are needed\n\n");
        usage(stderr);
        goto out;
    }
    status = 1;
    t = xf_calloc(1, sizeof(*t));
    if (!t)
        goto out;
    rc = xf_kafka_producer_create(brokers, props, n_props, &p);
    if (rc < 0) {
        fprintf(stderr, "xdrflow produce: cannot create the producer: %s\n", xf_strerror(rc));
        status = rc == XF_ECONFIG ? 2 : 1;
        goto out;
    }
    xf_kafka_producer_on_delivery(p, on_delivery, t);
    hdr.name = "content-type";
    hdr.value = ctype;
    hdr.len = ctype ? strlen(ctype) : 0;
    for (int i = optind; i < argc; i++)
        if (produce_file(p, argv[i], fmt, topic, partition, &hdr, ctype ? 1 : 0, &ev, &sent,
                         &skipped) < 0)
            file_errors++;
    /* a broker that never answers must not hang the command: message.timeout.ms bounds it */
    while ((rc = xf_kafka_producer_flush(p, 1000)) == XF_EAGAIN)
        ;
    if (!quiet) {
        fprintf(stderr,
                "xdrflow produce: %" PRIu64 " record(s) sent to %s, %" PRIu64
                " acknowledged, %" PRIu64 " failed",
                sent, topic, t->ok, t->failed + (sent - t->ok - t->failed));
        if (skipped)
            fprintf(stderr, ", %" PRIu64 " not sent (too large or rejected)", skipped);
        fputc('\n', stderr);
        for (int32_t i = 0; i <= t->max_part && t->ok; i++)
            if (t->per_part[i])
                fprintf(stderr, "  partition %" PRId32 ": %" PRIu64 "\n", i, t->per_part[i]);
    }
    status = (t->ok == sent && !file_errors && !skipped) ? 0 : 1;
out:
    xf_kafka_producer_destroy(p);
    xf_event_close(&ev);
    xf_free(t);
    return status;
}
