/*
 * connector.h - private to response/: the interface every connector implements.
 *
 * A connector is a pure state machine over one action: it never touches the network, a clock
 * or the outbox. The response loop asks it for the next HTTP request (next), performs it with
 * libcurl, and hands the reply back (on_reply), which says what happens next. Everything the
 * connector must remember across a crash lives in the action (phase, device_id, remote_id,
 * polls), which the loop persists before acting; what may be lost (an OAuth token) lives in
 * the connector's own state. So a connector is unit-tested by feeding it replies, and the mock
 * vendor servers in tests/ exercise the same code over real HTTP.
 *
 * One file per connector (conn_<type>.c) and one row in the table in connector.c.
 */
#ifndef XF_RESPONSE_CONNECTOR_H
#define XF_RESPONSE_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "xf/core.h"
#include "xf/response.h"

#define XF_HTTP_MAX_HEADERS 16

/* A request the connector wants sent. The connector fills it; the loop frees it with
 * xf_conn_request_reset. */
struct xf_conn_request {
    const char *method;                 /* static: "GET", "POST" */
    char *url;                          /* absolute */
    char *headers[XF_HTTP_MAX_HEADERS]; /* "Name: value" each */
    size_t n_headers;
    struct xf_buf body;
    int is_token; /* 1: a credential request (not counted as an attempt, never logged) */
    /* Set by next() when it returns XF_EAGAIN: nothing to send yet (the connector's own rate
     * limit, e.g. Defender's 100 calls/min); the loop reschedules the action this many ms
     * later, as a RETRY that counts no attempt and keeps a->phase. */
    int64_t defer_ms;
};
void xf_conn_request_reset(struct xf_conn_request *rq);
int xf_conn_request_header(struct xf_conn_request *rq, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* What came back. status 0 means no HTTP answer (timeout, refused, reset); error says why. */
struct xf_conn_reply {
    long status;
    const char *body;
    size_t body_len;
    const char *const *headers; /* "Name: value" as received */
    size_t n_headers;
    const char *error;
};
/* A reply header's value (name case-insensitive), or NULL. */
const char *xf_conn_reply_header(const struct xf_conn_reply *r, const char *name);

/* What on_reply decided. */
enum xf_conn_step {
    XF_STEP_NEXT,      /* send the next request now (token fetched, device resolved, pre-check) */
    XF_STEP_POLL,      /* accepted; poll again after the poll interval (a->remote_id set) */
    XF_STEP_CONFIRMED, /* done: isolated / released / delivered, or "already" so */
    XF_STEP_RETRY,     /* transient (5xx, timeout, 429): back off, then start the attempt again */
    XF_STEP_FAILED,    /* permanent (4xx other than 429, bad answer, device unknown) */
};

struct xf_conn_outcome {
    enum xf_conn_step step;
    int64_t retry_after_ms; /* RETRY: the vendor's Retry-After / rate-limit reset, 0: none */
    char why[256];          /* for a->last_error and the audit log */
};

/* Context for building a request: the incident JSON for NOTIFY, and the time for signatures. */
struct xf_conn_ctx {
    const char *payload; /* NOTIFY: incident JSON; ISOLATE/RELEASE: NULL */
    size_t payload_len;
    int64_t now_s; /* unix seconds (Standard Webhooks timestamp, Cortex nonce timestamp) */
};

struct xf_connector_ops {
    const char *type;
    /* Which kinds this connector handles (bit 1 << XF_ACT_*). */
    unsigned kinds;
    /* Reads and checks the config (XF_ECONFIG, reason in why), resolves *_env / *_file
     * secrets. */
    int (*create)(const struct xf_connector_conf *conf, void **state, char *why, size_t why_len);
    void (*destroy)(void *state);
    /* The next request for a in its current phase (a->phase 0 = start of an attempt).
     * XF_EAGAIN with out->defer_ms: not now (see defer_ms); any other error fails the action. */
    int (*next)(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                struct xf_conn_request *out);
    /* Interprets the reply to the request next produced; may update a->phase, device_id,
     * remote_id. */
    int (*on_reply)(void *state, struct xf_action *a, const struct xf_conn_ctx *ctx,
                    const struct xf_conn_reply *r, struct xf_conn_outcome *out);
};

/* The table (connector.c). NULL for an unknown type. */
const struct xf_connector_ops *xf_connector_find(const char *type);
/* All types, for --help and docs. */
const struct xf_connector_ops *const *xf_connector_all(size_t *n);

/* Helpers shared by connectors (connector.c). */
/* A secret from conf: key_env names an env var, key_file a file; key itself is refused for
 * secrets (they never sit in the config file). Returns 0 and *out (caller frees) or XF_ECONFIG
 * with why. */
int xf_conn_secret(const struct xf_connector_conf *c, const char *key, char **out, char *why,
                   size_t why_len);
/* The static device id for host, or NULL. */
const char *xf_conn_device(const struct xf_connector_conf *c, const char *host);
/* Retry-After (seconds or HTTP date) of a reply in ms, 0 when absent or unparsable. */
int64_t xf_conn_retry_after_ms(const struct xf_conn_reply *r, int64_t now_s);
/* Generic classification of a status for connectors: 2xx -> CONFIRMED, 429 / 5xx / 0 ->
 * RETRY (with Retry-After), other -> FAILED. Fills why from status and body. */
void xf_conn_classify(const struct xf_conn_reply *r, int64_t now_s, struct xf_conn_outcome *out);

/* Request and answer plumbing every vendor connector needs (connector.c), so each conn_*.c
 * holds only its vendor's shapes. */
/* Percent-encodes s into b, keeping RFC 3986's unreserved characters. */
void xf_conn_url_encode(struct xf_buf *b, const char *s);
/* url becomes rq->url. The appends that built url are unchecked: an empty url means they all
 * failed (XF_ENOMEM). */
int xf_conn_request_url(struct xf_conn_request *rq, struct xf_buf *url);
/* v (taken; NULL means json_pack failed: XF_ENOMEM) appended as compact JSON to rq->body. */
int xf_conn_request_json(struct xf_conn_request *rq, json_t *v);
/* The reply body parsed, NULL when empty or not JSON (caller json_decref). */
json_t *xf_conn_reply_json(const struct xf_conn_reply *r);
/* 1 when needle occurs in the len bytes of hay (NULL: none), ASCII case ignored. */
int xf_conn_contains_nocase(const char *hay, size_t len, const char *needle);
/* 1 when s starts with http:// or https://. */
int xf_conn_is_http_url(const char *s);
/* A copy of s without trailing '/' (caller xf_free), NULL when out of memory. */
char *xf_conn_strdup_noslash(const char *s);
/* The first of conf's keys that is not in keys, or NULL; the caller says why. */
const char *xf_conn_unknown_key(const struct xf_connector_conf *conf, const char *const *keys,
                                size_t n_keys);
/* The checks a base_url connector of type starts its create with: every key of conf is one of
 * keys, and base_url is an http[s] URL. 0, or XF_ECONFIG with why. */
int xf_conn_check_base(const struct xf_connector_conf *conf, const char *type,
                       const char *const *keys, size_t n_keys, char *why, size_t why_len);
/* Zeroes the secret s (a key or token from xf_conn_secret, NULL: none) and frees it, so it
 * does not linger in freed memory. */
void xf_conn_secret_free(char *s);
/* Copies src's static device map into dst->devices (XF_ENOMEM: dst keeps what was copied);
 * xf_conn_devices_free releases it. */
int xf_conn_devices_copy(struct xf_connector_conf *dst, const struct xf_connector_conf *src);
void xf_conn_devices_free(struct xf_connector_conf *dst);

/* An OAuth2 client-credentials token (CrowdStrike, Defender): it lives only in the
 * connector's state, is fetched before a call when due, and a 401 drops it. */
struct xf_conn_token {
    char *value; /* NULL: none cached */
    int64_t exp_s;
};
/* 1 when there is no token or it expires within a minute. */
int xf_conn_token_due(const struct xf_conn_token *t, int64_t now_s);
void xf_conn_token_clear(struct xf_conn_token *t);
/* The reply to a token request: NEXT with the token kept (expires_in, else ttl_s), RETRY for
 * no answer, 429 and 5xx (xf_conn_classify), else FAILED as "<type> <name>: token refused"
 * (the body is never echoed: it may hold credentials). */
void xf_conn_token_on_reply(struct xf_conn_token *t, const char *type, const char *name,
                            int64_t ttl_s, const struct xf_conn_ctx *ctx,
                            const struct xf_conn_reply *r, struct xf_conn_outcome *out);
/* The token request: POST to url (taken, as xf_conn_request_url) marked is_token, its form
 * body (the caller's) announced, JSON asked for. */
int xf_conn_token_request(struct xf_conn_request *rq, struct xf_buf *url);
/* An API call with the token: method to url (taken), bearer and JSON accepted, and for a POST
 * a JSON body announced (the caller adds it). */
int xf_conn_token_call(struct xf_conn_request *rq, const char *method, struct xf_buf *url,
                       const struct xf_conn_token *t);
/* A 401 to an API call: drops the token and asks for the next request (one refetch per
 * attempt, remembered as reauth_bit in a->phase), FAILED on the second. 0 when r is no 401. */
int xf_conn_token_on_401(struct xf_conn_token *t, struct xf_action *a, int reauth_bit,
                         const struct xf_conn_reply *r, struct xf_conn_outcome *out);

#endif
