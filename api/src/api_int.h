/*
 * api_int.h - the pieces of the HTTP listener that do not touch libmicrohttpd: the route table
 * and its matcher, the listen-address parser and the JSON error body. Private to api/.
 *
 * They are pure functions over strings so the unit tests and the fuzzer can drive them without
 * a socket; server.c is the only file that includes <microhttpd.h>.
 */
#ifndef XF_API_INT_H
#define XF_API_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "xf/api.h"

/* A route pattern holds at most this many segments ("/api/v1/incidents/{id}/graph" is 5). */
#define XF_API_MAX_SEGMENTS 16

struct xf_api_route {
    char *method;
    char *pattern;                   /* the original, for logs */
    char *split;                     /* a copy of pattern cut at '/'; segs point into it */
    char *segs[XF_API_MAX_SEGMENTS]; /* literal text, or the parameter name for a {param} */
    size_t n_segs;
    uint32_t param_mask; /* bit i set: segment i is a {param} */
    xf_http_handler fn;
    void *ud;
    enum xf_api_role role; /* needed to reach fn */
    unsigned flags;        /* XF_ROUTE_* */
};

struct xf_api_router {
    struct xf_api_route *routes;
    size_t n;
};

enum xf_api_match_result {
    XF_API_MATCH_OK = 0,
    XF_API_MATCH_NOT_FOUND,  /* no pattern matches the path: 404 */
    XF_API_MATCH_BAD_METHOD, /* a pattern matches, but not for this method: 405 */
};

struct xf_api_match {
    const struct xf_api_route *route;
    size_t n_params;
    const char *param_names[XF_HTTP_MAX_PARAMS];  /* borrowed from the route */
    const char *param_values[XF_HTTP_MAX_PARAMS]; /* borrowed from the caller's path copy */
    char allow[96];                               /* for 405: "GET, HEAD, POST" */
};

/* Compiles routes (copied; the caller keeps its table). Returns 0, XF_EINVAL for a malformed
 * pattern (logged: it must start with '/', segments non-empty, a {param} is a whole segment,
 * at most XF_HTTP_MAX_PARAMS of them, no two routes with the same method and shape) or
 * XF_ENOMEM. */
int xf_api_router_init(struct xf_api_router *r, const struct xf_http_route *routes, size_t n);
void xf_api_router_close(struct xf_api_router *r);

/* Matches method and path. path is modified in place (split at '/') and the parameter values
 * in m point into it, so it must outlive m. HEAD matches GET routes. When several patterns
 * match, the one whose first differing segment is literal wins, so "/incidents/stats" beats
 * "/incidents/{id}" whatever the table order. */
enum xf_api_match_result xf_api_router_match(const struct xf_api_router *r, const char *method,
                                             char *path, struct xf_api_match *m);

/* Parses "127.0.0.1:8080", "[::1]:8080", ":8080" (every IPv4 interface), "localhost:8080".
 * Port 0 asks the kernel for a free one. Returns 0 or XF_EINVAL. */
int xf_api_listen_parse(const char *listen, struct sockaddr_storage *ss, socklen_t *len);

/* Appends s as the contents of a JSON string (without the quotes): quotes, backslashes and
 * control characters escaped, and each byte of invalid UTF-8 replaced by U+FFFD, so a hostile
 * path echoed in a message still yields valid JSON. */
int xf_api_json_escape(struct xf_buf *out, const char *s);

/* ---- bearer tokens (auth.c) ----------------------------------------------------------------- */

#define XF_API_DIGEST_LEN 32 /* SHA-256 */

struct xf_api_auth_token {
    char *name;
    enum xf_api_role role;
    unsigned char digest[XF_API_DIGEST_LEN];
};

struct xf_api_auth {
    struct xf_api_auth_token *tokens;
    size_t n;
};

/* Keeps name, role and the SHA-256 digest of each secret (never the secret). XF_EINVAL for a
 * token without a name or secret, or with role none (logged, without the secret). */
int xf_api_auth_init(struct xf_api_auth *a, const struct xf_api_token *tokens, size_t n);
void xf_api_auth_close(struct xf_api_auth *a);

/* Checks an Authorization header value (NULL: absent) for a route needing role need. Returns
 * 0 with *actor (borrowed from a) and *role set, 401 (absent, not "Bearer <token>", or no
 * configured token matches) or 403 (a valid token whose role is too low; *actor is set). Every
 * configured token is compared, whichever matches. */
int xf_api_auth_check(const struct xf_api_auth *a, const char *header, enum xf_api_role need,
                      const char **actor, enum xf_api_role *role);

/* 1 when a[alen] equals b[blen], else 0, in time that depends on neither the contents nor the
 * lengths: both are hashed with SHA-256 and the digests compared with CRYPTO_memcmp. */
int xf_api_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
