/*
 * xf/kafka.h - Kafka for xdrflow: the group consumer, a producer, and the development broker.
 *
 * The only header through which Kafka is reached; rd_kafka_* stays inside ingest/src. Records
 * are handed out in our own struct, borrowed until the next poll.
 *
 * Threading: a consumer and a producer each belong to one thread (the one that polls). The
 * rebalance callback runs inside xf_kafka_consumer_poll, on that thread.
 */
#ifndef XF_KAFKA_H
#define XF_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "xf/core.h"
#include "xf/ingest.h"

/* ---- records ------------------------------------------------------------------------------- */

struct xf_kafka_header {
    const char *name;
    const void *value;
    size_t len;
};

/* One consumed record; every pointer is borrowed until the next poll on the consumer. */
struct xf_kafka_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* the record's timestamp, -1 when none */
    const void *key;
    size_t key_len;
    const void *value;
    size_t len;
    const char *content_type; /* the "content-type" header, NUL-terminated copy, or NULL */
};

/* Maps a record's content-type header to an input format. Accepted (case-insensitive; any
 * ";param" is ignored): the format names "auto", "ecs", "sysmon", "winevt", "proto";
 * application/x-protobuf, application/protobuf, application/vnd.google.protobuf and
 * application/octet-stream -> proto; application/json, application/x-ndjson,
 * application/jsonlines, text/json -> auto (the record is probed); application/ecs+json,
 * application/sysmon+json, application/winevt+json (also with "x-") -> that format.
 * Returns 0 and *out, or XF_EFORMAT (the caller keeps the topic's format). */
int xf_kafka_content_type_format(const char *ct, enum xf_format *out);

/* ---- consumer ------------------------------------------------------------------------------ */

/* A partition named by topic and number. */
struct xf_kafka_tp {
    const char *topic;
    int32_t partition;
};

/* An offset to commit: the NEXT offset to read (last durable record + 1), as Kafka wants. */
struct xf_kafka_offset {
    const char *topic;
    int32_t partition;
    int64_t offset;
};

/* Rebalance notification. On XF_KAFKA_REVOKE the callee must make everything it consumed from
 * those partitions durable and commit it (xf_kafka_consumer_commit with sync=1) before
 * returning: after it returns, another group member may read them. */
enum xf_kafka_rebalance { XF_KAFKA_ASSIGN, XF_KAFKA_REVOKE };
typedef void (*xf_kafka_rebalance_cb)(enum xf_kafka_rebalance what, const struct xf_kafka_tp *tps,
                                      size_t n, void *ud);

struct xf_kafka_consumer_opts {
    const char *brokers;       /* "host:port[,host:port]" */
    const char *group;         /* consumer group id */
    const char *const *topics; /* subscribed topics */
    size_t n_topics;
    const char *client_id; /* NULL: "xdrflow" */
    /* Extra librdkafka properties, "name=value" each, applied last (overrides the tuned
     * defaults). An unknown name is an error (XF_ECONFIG, logged). */
    const char *const *props;
    size_t n_props;
    xf_kafka_rebalance_cb rebalance; /* may be NULL */
    void *ud;
};

struct xf_kafka_consumer;

/* Creates the consumer and subscribes. Auto-commit is off (offsets are committed only by
 * xf_kafka_consumer_commit); a group with no committed offset starts at the earliest record.
 * Fetch and queue settings are tuned for throughput (see docs/kafka.md). */
int xf_kafka_consumer_create(const struct xf_kafka_consumer_opts *opts,
                             struct xf_kafka_consumer **out);
/* Leaves the group cleanly (revoking the partitions through the callback) and frees. */
void xf_kafka_consumer_destroy(struct xf_kafka_consumer *c);

/* Waits up to timeout_ms for records and fills recs[0..*n) (at most max). Returns 0 (with *n
 * possibly 0 on timeout) or an XF_E* code for a fatal consumer error (logged). Transient
 * errors (broker down, partition EOF) are logged and counted, never returned. */
int xf_kafka_consumer_poll(struct xf_kafka_consumer *c, struct xf_kafka_record *recs, size_t max,
                           size_t *n, int timeout_ms);

/* Commits offsets; sync=1 waits for the broker's answer. */
int xf_kafka_consumer_commit(struct xf_kafka_consumer *c, const struct xf_kafka_offset *offs,
                             size_t n, int sync);

/* Backpressure: stop / restart fetching the partitions currently assigned. */
int xf_kafka_consumer_pause(struct xf_kafka_consumer *c);
int xf_kafka_consumer_resume(struct xf_kafka_consumer *c);

/* Consumer lag per assigned partition (high watermark - position; -1 when unknown). The
 * callback gets each partition once. Uses cached watermarks: cheap, callable per second. */
typedef void (*xf_kafka_lag_cb)(const char *topic, int32_t partition, int64_t lag, void *ud);
int xf_kafka_consumer_lag(struct xf_kafka_consumer *c, xf_kafka_lag_cb cb, void *ud);

struct xf_kafka_consumer_stats {
    uint64_t records; /* records returned by poll */
    uint64_t transient_errors;
    uint64_t rebalances;
    uint32_t assigned; /* partitions assigned now */
    /* Records skipped because they were gone before they were read (an offset jump, or an
     * out-of-range reset): retention deleted them. The devbroker does this past ~5 MiB per
     * partition. Also logged. */
    uint64_t offset_gaps;
};
void xf_kafka_consumer_get_stats(const struct xf_kafka_consumer *c,
                                 struct xf_kafka_consumer_stats *out);

/* ---- producer ------------------------------------------------------------------------------ */

struct xf_kafka_producer;

/* props as for the consumer. Idempotence on, acks=all, lz4 compression, linger tuned. */
int xf_kafka_producer_create(const char *brokers, const char *const *props, size_t n_props,
                             struct xf_kafka_producer **out);
void xf_kafka_producer_destroy(struct xf_kafka_producer *p); /* flushes first (up to 10 s) */

/* Queues one record (copied). partition -1: by key hash (librdkafka's default partitioner,
 * so a host always lands on the same partition). Blocks (polling delivery reports) while the
 * local queue is full. Headers are copied. */
int xf_kafka_producer_send(struct xf_kafka_producer *p, const char *topic, int32_t partition,
                           const void *key, size_t key_len, const void *value, size_t len,
                           const struct xf_kafka_header *hdrs, size_t n_hdrs);

/* Waits until every queued record is acknowledged or failed. Returns 0, XF_EAGAIN when the
 * timeout passed first, or XF_EIO when any delivery failed since the last flush (logged). */
int xf_kafka_producer_flush(struct xf_kafka_producer *p, int timeout_ms);

/* Called once per record when the broker acknowledged it (err 0, offset set) or it failed for
 * good (err XF_EIO, offset -1). Runs inside send/flush on the producer's thread; topic is
 * borrowed for the call. */
typedef void (*xf_kafka_delivery_cb)(const char *topic, int32_t partition, int64_t offset, int err,
                                     void *ud);
void xf_kafka_producer_on_delivery(struct xf_kafka_producer *p, xf_kafka_delivery_cb cb, void *ud);

struct xf_kafka_producer_stats {
    uint64_t sent;      /* accepted into the local queue */
    uint64_t delivered; /* acknowledged by the broker */
    uint64_t failed;    /* rejected locally or failed delivery */
};
void xf_kafka_producer_get_stats(const struct xf_kafka_producer *p,
                                 struct xf_kafka_producer_stats *out);

/* ---- development broker (librdkafka's mock cluster) ---------------------------------------- */

struct xf_devbroker;

struct xf_devbroker_opts {
    int brokers;               /* 1 by default */
    int partitions;            /* per topic, 1 by default */
    const char *const *topics; /* created up front; others are auto-created on use */
    size_t n_topics;
    /* 0: the bootstrap address is the first broker's ephemeral port. Otherwise a forwarder on
     * 127.0.0.1:port relays to the first broker (the 2.0.2 mock cluster cannot bind a chosen
     * port); clients learn the real broker ports from the metadata, as with any Kafka. */
    int port;
};

/* Starts an in-process mock cluster listening on loopback. Not for production: the mock
 * cluster in librdkafka 2.0.2 keeps only about the newest 5 MiB per partition. */
int xf_devbroker_start(const struct xf_devbroker_opts *opts, struct xf_devbroker **out);
/* The bootstrap address list, "127.0.0.1:PORT[,...]" (borrowed). */
const char *xf_devbroker_bootstraps(const struct xf_devbroker *d);
/* Fault injection for tests: take broker id (1-based) down / up. */
int xf_devbroker_set_down(struct xf_devbroker *d, int broker_id, int down);
/* Makes the next n requests of Kafka API key `api` fail with error code `kafka_err`. */
int xf_devbroker_push_errors(struct xf_devbroker *d, int api, int kafka_err, size_t n);
void xf_devbroker_stop(struct xf_devbroker *d);

#endif
