/*
 * xf/api.h - the HTTP listener (libmicrohttpd behind our own types).
 *
 * A server is a table of routes; a handler gets the request and fills a response. Handlers
 * run on the server's own threads, so whatever they read must be safe to read from there
 * (atomics, or a snapshot under a lock). The server enforces the body size limit, answers 404
 * / 405 / 413 itself with JSON errors {"error":{"code":...,"message":...}}, and never lets a
 * request crash the process.
 *
 * Authentication is the server's too: a route names the role it needs, and a request reaches
 * its handler only with `Authorization: Bearer <token>` of a configured token holding that role
 * (401 with `WWW-Authenticate: Bearer` for a missing, malformed or unknown token, 403 for a
 * role too low). Tokens are compared as SHA-256 digests in constant time, against every
 * configured token, so neither the length nor the position of a mismatch shows in the timing.
 */
#ifndef XF_API_H
#define XF_API_H

#include <stddef.h>
#include <stdint.h>

#include "xf/core.h"

#define XF_HTTP_MAX_PARAMS 4

/* Roles are ordered: a token holding a role may do what every lower role may. */
enum xf_api_role {
    XF_ROLE_NONE = 0, /* a route that needs no token (/healthz, /readyz) */
    XF_ROLE_READ,
    XF_ROLE_RESPOND,
    XF_ROLE_ADMIN,
};
/* "none", "read", "respond", "admin"; parse returns -1 for an unknown name. */
const char *xf_api_role_name(enum xf_api_role r);
int xf_api_role_parse(const char *s);

/* A configured bearer token. secret is borrowed by xf_api_start, which keeps only its digest. */
struct xf_api_token {
    const char *name; /* reported to handlers as the actor (for the audit log) */
    enum xf_api_role role;
    const char *secret;
};

struct xf_http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* without the query string */
    const char *body;   /* NUL-terminated, may be "" */
    size_t body_len;
    /* values of {name} segments of the matched route pattern, in order */
    const char *param_names[XF_HTTP_MAX_PARAMS];
    const char *param_values[XF_HTTP_MAX_PARAMS];
    size_t n_params;
    void *impl; /* the server's, for the accessors below */
    /* the name of the token that authorized the request, or NULL on a route needing none */
    const char *actor;
    enum xf_api_role role; /* the role that token holds (XF_ROLE_NONE without one) */
};

/* A request header (case-insensitive name) or NULL. Borrowed for the handler's call. */
const char *xf_http_header(const struct xf_http_request *req, const char *name);
/* A query-string argument or NULL. */
const char *xf_http_query(const struct xf_http_request *req, const char *name);
/* The value of route parameter {name} or NULL. */
const char *xf_http_param(const struct xf_http_request *req, const char *name);

struct xf_http_response {
    int status;               /* default 200 */
    const char *content_type; /* default "application/json"; must be a static string */
    struct xf_buf body;       /* the handler appends; the server frees */
};

/* Writes {"error":{"code":code,"message":message}} with the status. */
int xf_http_error(struct xf_http_response *resp, int status, const char *code, const char *message);

/* Returns 0 (the response is sent as filled) or an XF_E* code (the server answers 500). */
typedef int (*xf_http_handler)(const struct xf_http_request *req, struct xf_http_response *resp,
                               void *ud);

struct xf_http_route {
    const char *method;
    const char *pattern; /* "/metrics", "/api/v1/incidents/{id}" */
    xf_http_handler fn;
    void *ud;
    enum xf_api_role role; /* needed to call it; XF_ROLE_NONE (the default): no token */
    unsigned flags;        /* XF_ROUTE_* */
};

/* A body, when there is one, must be declared `Content-Type: application/json` (else 415).
 * Whether it parses is the handler's to check (400). */
#define XF_ROUTE_JSON_BODY 1u

/* A request the server refused for want of authorization (401 or 403), for the audit log:
 * actor is the token's name on a 403, NULL on a 401. Runs on a server thread. */
typedef void (*xf_http_refused_cb)(void *ud, const char *method, const char *path, int status,
                                   const char *actor);

struct xf_api_opts {
    const char *listen; /* "127.0.0.1:8080", "[::1]:8080", ":0" for any port */
    size_t max_body;    /* 0: 1 MiB */
    unsigned threads;   /* 0: 2 */
    /* bearer tokens (borrowed for the call; the server keeps digests); none: every route
     * needing a role answers 401 */
    const struct xf_api_token *tokens;
    size_t n_tokens;
    xf_http_refused_cb on_refused; /* may be NULL */
    void *refused_ud;
};

struct xf_api;

/* Starts listening. routes is copied. Returns 0 or XF_EIO (address in use ..., logged). */
int xf_api_start(const struct xf_api_opts *opts, const struct xf_http_route *routes, size_t n,
                 struct xf_api **out);
/* The port actually bound (useful with ":0"). */
int xf_api_port(const struct xf_api *api);
void xf_api_stop(struct xf_api *api);

#define XF_API_STATUS_MAX 600

/* Counters since start, for /metrics. Any thread. */
struct xf_api_stats {
    uint64_t by_status[XF_API_STATUS_MAX]; /* responses sent, by HTTP status */
    uint64_t auth_failures;                /* 401 and 403 answers */
};
void xf_api_get_stats(const struct xf_api *api, struct xf_api_stats *out);

#endif
