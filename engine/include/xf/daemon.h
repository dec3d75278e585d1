/*
 * xf/daemon.h - `xdrflow run`: Kafka -> decode -> correlate -> RocksDB, with the HTTP listener.
 *
 * The configuration is one struct filled from YAML by a table (key, type, default, help) that
 * also validates (unknown keys are errors with file and line), prints --help and generates
 * docs/config.md. Command-line flags and environment variables override the file; secrets come
 * only from the environment or files.
 *
 * Delivery: an offset is committed only after every record up to it, and the graph updates
 * they caused, are durable in RocksDB. After a crash the daemon resumes from the committed
 * offsets and re-read records are dropped by id, so the graph is exactly-once in effect.
 */
#ifndef XF_DAEMON_H
#define XF_DAEMON_H

#include <stddef.h>
#include <stdint.h>

#include "xf/core.h"
#include "xf/ingest.h"
#include "xf/response.h"

#define XF_MAX_TOPICS 16
#define XF_MAX_RULE_PATHS 16
#define XF_MAX_PROPS 32
#define XF_MAX_TOKENS 32

/* An API bearer token as configured: where its secret comes from, never the secret. The
 * environment variable XDRFLOW_TOKEN_<NAME> (name upper-cased, other characters '_'), when
 * set, overrides both. */
struct xf_token_conf {
    char *name;
    char *role;       /* read | respond | admin */
    char *token_env;  /* environment variable holding the secret, or NULL */
    char *token_file; /* file holding it (trailing newline dropped), or NULL */
};

struct xf_topic_conf {
    char *name;
    enum xf_format format;
};

struct xf_config {
    /* kafka */
    char *brokers;
    char *group;
    struct xf_topic_conf topics[XF_MAX_TOPICS];
    size_t n_topics;
    char *dead_letter_topic;
    char *kafka_props[XF_MAX_PROPS]; /* "name=value", passed to librdkafka */
    size_t n_kafka_props;
    /* store */
    char *store_path;
    int store_sync;
    int store_edges;
    /* rules and correlation */
    char *rule_paths[XF_MAX_RULE_PATHS];
    size_t n_rule_paths;
    char *links_path;
    int64_t lateness_ms;
    int idle_partition_events; /* 0: the correlator's default */
    int64_t max_partition_skew_ms;
    /* api */
    char *api_listen; /* "127.0.0.1:8080"; empty: no listener */
    struct xf_token_conf api_tokens[XF_MAX_TOKENS];
    size_t n_api_tokens;
    char *api_metrics_role; /* role /metrics needs: none | read | respond | admin */
    int api_max_body;       /* bytes */
    /* response (policy, connectors, audit log) */
    struct xf_response_conf response;
    /* logging */
    char *log_level;  /* error|warn|info|debug */
    char *log_format; /* text|json */
    /* pipeline */
    int decode_threads; /* 0: number of CPUs */
    int queue_batches;  /* batches in flight before the consumer stops polling */
    /* where the file came from, for error messages */
    char *source;
};

/* Fills cfg with the defaults (every pointer owned by cfg). */
int xf_config_init(struct xf_config *cfg);
void xf_config_close(struct xf_config *cfg);

/* Reads a YAML file over the current values. Errors are printed to stderr as
 * "FILE:LINE: message" (all of them, not just the first) and XF_ECONFIG is returned. */
int xf_config_load_file(struct xf_config *cfg, const char *path);
/* Same from memory: name is used in messages, which are appended to errors (one
 * "NAME:LINE: message\n" each) instead of printed. For tests and the fuzzer. */
int xf_config_load_buffer(struct xf_config *cfg, const char *name, const char *text, size_t len,
                          struct xf_buf *errors);
/* Sets one scalar key ("kafka.brokers") from text, as a flag does. XF_ECONFIG with the reason
 * in why[why_len] for an unknown key or a bad value. */
int xf_config_set(struct xf_config *cfg, const char *key, const char *value, char *why,
                  size_t why_len);
/* Deep copy of src into dst (dst is overwritten, not closed first). */
int xf_config_copy(struct xf_config *dst, const struct xf_config *src);
/* Applies XDRFLOW_* environment overrides (XDRFLOW_BROKERS, XDRFLOW_DB, ...). */
int xf_config_apply_env(struct xf_config *cfg);
/* Final checks of the combined values (e.g. at least one topic). */
int xf_config_validate(const struct xf_config *cfg);

/* The secret of a configured token: XDRFLOW_TOKEN_<NAME>, else token_env, else token_file.
 * Returns 0 and *secret (caller frees), or XF_ECONFIG with the reason (never the secret) in
 * why. */
int xf_config_token_secret(const struct xf_token_conf *t, char **secret, char *why, size_t why_len);

/* Writes the reference of every key (name, type, default, description) as Markdown (used to
 * generate docs/config.md) or as plain text (for --help). */
int xf_config_write_reference(struct xf_buf *out, int markdown);

struct xf_daemon;

/* Creates the daemon: opens the store, loads rules, rebuilds correlation state, connects the
 * consumer, starts the HTTP listener. cfg is copied. */
int xf_daemon_create(const struct xf_config *cfg, struct xf_daemon **out);

/* Runs until xf_daemon_stop (or SIGTERM/SIGINT when install_signals was called). Then finishes
 * in-flight work, commits, closes. Returns 0 or a fatal XF_E* code. */
int xf_daemon_run(struct xf_daemon *d);

/* Thread and async-signal safe: asks the run loop to stop. */
void xf_daemon_stop(struct xf_daemon *d);
/* Thread and async-signal safe: asks the run loop to reload the rules (SIGHUP). A bad rule
 * file keeps the old rules and logs why. */
void xf_daemon_reload(struct xf_daemon *d);

/* Routes SIGTERM/SIGINT to stop and SIGHUP to reload for this daemon. */
int xf_daemon_install_signals(struct xf_daemon *d);

void xf_daemon_destroy(struct xf_daemon *d);

/* Thread safe: records made durable so far (input records, good and bad) and the incidents
 * held, as of the last checkpoint. For the demo and tests waiting for ingest to finish. */
void xf_daemon_progress(struct xf_daemon *d, uint64_t *records_durable, uint64_t *incidents);
/* The port the HTTP listener bound, or -1 when there is none. */
int xf_daemon_api_port(const struct xf_daemon *d);

#endif
