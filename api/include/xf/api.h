/*
 * xf/api.h - the HTTP listener (libmicrohttpd behind our own types).
 *
 * A server is a table of routes; a handler gets the request and fills a response. Handlers
 * run on the server's own threads, so whatever they read must be safe to read from there
 * (atomics, or a snapshot under a lock). The server enforces the body size limit, answers 404
 * / 405 / 413 itself with JSON errors {"error":{"code":...,"message":...}}, and never lets a
 * request crash the process.
 */
#ifndef XF_API_H
#define XF_API_H

#include <stddef.h>

#include "xf/core.h"

#define XF_HTTP_MAX_PARAMS 4

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
};

struct xf_api_opts {
    const char *listen; /* "127.0.0.1:8080", "[::1]:8080", ":0" for any port */
    size_t max_body;    /* 0: 1 MiB */
    unsigned threads;   /* 0: 2 */
};

struct xf_api;

/* Starts listening. routes is copied. Returns 0 or XF_EIO (address in use ..., logged). */
int xf_api_start(const struct xf_api_opts *opts, const struct xf_http_route *routes, size_t n,
                 struct xf_api **out);
/* The port actually bound (useful with ":0"). */
int xf_api_port(const struct xf_api *api);
void xf_api_stop(struct xf_api *api);

#endif
