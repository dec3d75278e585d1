/*
 * server.c - the HTTP listener on libmicrohttpd: request state, body limits, dispatch.
 *
 * libmicrohttpd calls on_request several times per request: once when the headers are in
 * (we match the route and may answer 404/405/413 straight away), once per chunk of upload
 * data (we keep it up to max_body, then only count it), and once more when the request is
 * complete (we call the handler). What a reader must know: a response can be queued only on
 * the first or the last call, so a body that outgrows the limit mid-upload is drained and the
 * 413 goes out at the end; a client that keeps sending far past the limit is disconnected.
 * Authorization is decided on the first call, before a byte of the body is read: a request
 * without the route's role never gets its body buffered.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "api_int.h"

#define DEFAULT_MAX_BODY ((size_t)1 << 20)
#define DEFAULT_THREADS 2u
#define MAX_THREADS 64u
#define CONNECTION_LIMIT 64u
#define CONNECTION_TIMEOUT_S 30u
/* request line plus headers must fit here; a bearer token or two is far below it */
#define CONNECTION_MEMORY ((size_t)64 << 10)
/* how much of an oversized upload we read and drop before giving up on the client */
#define DRAIN_LIMIT ((size_t)1 << 20)

struct xf_api {
    struct MHD_Daemon *mhd;
    struct xf_api_router router;
    size_t max_body;
    int port;
    atomic_int running; /* MHD's own complaints before start are errors; after, client noise */
    struct xf_api_auth auth;
    xf_http_refused_cb on_refused;
    void *refused_ud;
    atomic_uint_fast64_t by_status[XF_API_STATUS_MAX];
    atomic_uint_fast64_t auth_failures;
};

/* One per request, from the first call of on_request until on_completed. */
struct req_state {
    char *path; /* the decoded path as libmicrohttpd gave it */
    char *cut;  /* a copy cut at '/' by the matcher; param values point into it */
    enum xf_api_match_result result;
    struct xf_api_match match;
    struct xf_buf body;
    size_t dropped;    /* upload bytes past max_body, read and thrown away */
    int answered;      /* a response was queued on the first call */
    const char *actor; /* the authorizing token's name (borrowed from the server's table) */
    enum xf_api_role role;
};

static void on_log(void *cls, const char *fmt, va_list ap)
{
    struct xf_api *api = cls;
    char msg[512];
    size_t len;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    if (atomic_load(&api->running))
        XF_INFO("api: %s", msg);
    else
        XF_ERROR("api: %s", msg);
}

static void state_destroy(struct req_state *st)
{
    if (!st)
        return;
    xf_buf_close(&st->body);
    xf_free(st->path);
    xf_free(st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    state_destroy(*con_cls);
    *con_cls = NULL;
}

/* Sends body (taken: freed here whatever happens) with our standard headers, plus one more
 * (hname: hval) when hname is set. */
static enum MHD_Result send_buf(struct xf_api *api, struct MHD_Connection *conn, int status,
                                const char *content_type, struct xf_buf *body, const char *hname,
                                const char *hval)
{
    struct MHD_Response *r = NULL;
    enum MHD_Result ret = MHD_NO;
    size_t len = 0;
    char *data = xf_buf_steal(body, &len);

    if (data) {
        r = MHD_create_response_from_buffer_with_free_callback(len, data, xf_free);
        if (!r)
            xf_free(data);
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!r)
        goto out;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES ||
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") != MHD_YES)
        goto out;
    if (hname && hval && *hval && MHD_add_response_header(r, hname, hval) != MHD_YES)
        goto out;
    ret = MHD_queue_response(conn, (unsigned int)status, r);
    if (ret == MHD_YES && status >= 0 && status < XF_API_STATUS_MAX)
        atomic_fetch_add(&api->by_status[status], 1);
out:
    if (r)
        MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct xf_api *api, struct MHD_Connection *conn, int status,
                                  const char *code, const char *message, const char *hname,
                                  const char *hval)
{
    struct xf_http_response resp;
    enum MHD_Result ret = MHD_NO;

    xf_buf_init(&resp.body);
    if (xf_http_error(&resp, status, code, message) == 0)
        ret = send_buf(api, conn, status, resp.content_type, &resp.body, hname, hval);
    xf_buf_close(&resp.body);
    return ret;
}

/* The message of a 404/405, naming the method and path (escaped later, when written). */
static enum MHD_Result send_match_error(struct xf_api *api, struct MHD_Connection *conn,
                                        const char *method, const struct req_state *st)
{
    char msg[256];

    if (st->result == XF_API_MATCH_BAD_METHOD) {
        snprintf(msg, sizeof(msg), "%s is not allowed on %s (allowed: %s)", method, st->path,
                 st->match.allow);
        return send_error(api, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", msg,
                          MHD_HTTP_HEADER_ALLOW, st->match.allow);
    }
    snprintf(msg, sizeof(msg), "no route for %s %s", method, st->path);
    return send_error(api, conn, MHD_HTTP_NOT_FOUND, "not_found", msg, NULL, NULL);
}

static int declared_too_big(struct MHD_Connection *conn, size_t max_body)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    char *end = NULL;
    unsigned long long v;

    if (!cl)
        return 0;
    v = strtoull(cl, &end, 10);
    /* libmicrohttpd rejects a malformed length itself; only a well-formed large one is ours */
    return end != cl && v > max_body;
}

static struct req_state *state_create(const char *url)
{
    struct req_state *st = xf_calloc(1, sizeof(*st));
    size_t len = strlen(url);

    if (!st)
        return NULL;
    xf_buf_init(&st->body);
    /* one allocation holds both copies: "path\0cut\0" */
    st->path = xf_malloc(2 * len + 2);
    if (!st->path) {
        xf_free(st);
        return NULL;
    }
    memcpy(st->path, url, len + 1);
    st->cut = st->path + len + 1;
    memcpy(st->cut, url, len + 1);
    return st;
}

/* Decides whether the request may reach the route's handler; answers 401/403 itself (and
 * tells the refused callback) when not. Returns 1 when it answered. */
static int refuse_unauthorized(struct xf_api *api, struct MHD_Connection *conn, const char *method,
                               struct req_state *st, enum MHD_Result *ret)
{
    const struct xf_api_route *rt = st->match.route;
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    int status = xf_api_auth_check(&api->auth, h, rt->role, &st->actor, &st->role);
    char msg[128];

    if (status == 0)
        return 0;
    atomic_fetch_add(&api->auth_failures, 1);
    if (api->on_refused)
        api->on_refused(api->refused_ud, method, st->path, status,
                        status == 403 ? st->actor : NULL);
    if (status == 403) {
        snprintf(msg, sizeof(msg), "this token's role (%s) may not do this; it needs %s",
                 xf_api_role_name(st->role), xf_api_role_name(rt->role));
        *ret = send_error(api, conn, MHD_HTTP_FORBIDDEN, "forbidden", msg, NULL, NULL);
    } else {
        *ret = send_error(api, conn, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                          h ? "the bearer token is malformed or unknown"
                            : "an Authorization: Bearer token is required",
                          MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    }
    return 1;
}

/* 1 when the request's Content-Type is application/json (parameters such as charset allowed). */
static int content_is_json(struct MHD_Connection *conn)
{
    const char *ct =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t n = strlen("application/json");

    if (!ct)
        return 0;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

static enum MHD_Result dispatch(struct xf_api *api, struct MHD_Connection *conn, const char *method,
                                struct req_state *st)
{
    const struct xf_api_route *rt = st->match.route;
    struct xf_http_request req;
    struct xf_http_response resp;
    enum MHD_Result ret;
    size_t i;
    int rc;

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = st->path;
    req.body = st->body.data ? st->body.data : "";
    req.body_len = st->body.len;
    req.n_params = st->match.n_params;
    for (i = 0; i < req.n_params; i++) {
        req.param_names[i] = st->match.param_names[i];
        req.param_values[i] = st->match.param_values[i];
    }
    req.impl = conn;
    req.actor = st->actor;
    req.role = st->role;
    resp.status = MHD_HTTP_OK;
    resp.content_type = "application/json";
    xf_buf_init(&resp.body);
    rc = rt->fn(&req, &resp, rt->ud);
    if (rc == 0 && (resp.status < 100 || resp.status > 599))
        rc = XF_EINTERNAL;
    if (rc) {
        XF_WARN("api: %s %s: handler failed: %s", method, st->path, xf_strerror(rc));
        xf_buf_close(&resp.body);
        return send_error(api, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", xf_strerror(rc),
                          NULL, NULL);
    }
    ret =
        send_buf(api, conn, resp.status, resp.content_type ? resp.content_type : "application/json",
                 &resp.body, NULL, NULL);
    xf_buf_close(&resp.body);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct xf_api *api = cls;
    struct req_state *st = *con_cls;

    if (!st) {
        st = state_create(url ? url : "");
        if (!st)
            return MHD_NO;
        *con_cls = st;
        st->result = xf_api_router_match(&api->router, method, st->cut, &st->match);
        /* answered now, the body is never read and libmicrohttpd closes the connection */
        if (st->result != XF_API_MATCH_OK) {
            st->answered = 1;
            return send_match_error(api, conn, method, st);
        }
        {
            enum MHD_Result ret = MHD_NO;

            if (refuse_unauthorized(api, conn, method, st, &ret)) {
                st->answered = 1;
                return ret;
            }
        }
        if (declared_too_big(conn, api->max_body)) {
            st->answered = 1;
            return send_error(api, conn, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                              "the request body is over the size limit", NULL, NULL);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;

        *upload_data_size = 0;
        if (st->answered)
            return MHD_YES;
        if (st->dropped == 0 && n <= api->max_body - st->body.len) {
            if (xf_buf_append(&st->body, upload_data, n))
                return MHD_NO;
            return MHD_YES;
        }
        st->dropped += n;
        return st->dropped > DRAIN_LIMIT ? MHD_NO : MHD_YES;
    }
    if (st->answered)
        return MHD_YES;
    if (st->dropped)
        return send_error(api, conn, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                          "the request body is over the size limit", NULL, NULL);
    if ((st->match.route->flags & XF_ROUTE_JSON_BODY) && st->body.len && !content_is_json(conn))
        return send_error(api, conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                          "the request body must be Content-Type: application/json", NULL, NULL);
    return dispatch(api, conn, method, st);
}

/* Only for libmicrohttpd's messages: it binds to the socket address, not to this number. */
static uint16_t listen_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

int xf_api_start(const struct xf_api_opts *opts, const struct xf_http_route *routes, size_t n,
                 struct xf_api **out)
{
    struct xf_api *api = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    const union MHD_DaemonInfo *info;
    struct MHD_OptionItem pool[2] = {{MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
    unsigned threads;
    unsigned flags;
    int rc = 0;

    if (out)
        *out = NULL;
    if (!opts || !out) {
        rc = XF_EINVAL;
        goto out;
    }
    if (xf_api_listen_parse(opts->listen, &ss, &sslen)) {
        XF_ERROR("api: listen address '%s' is not HOST:PORT, [V6]:PORT or :PORT",
                 opts->listen ? opts->listen : "(null)");
        rc = XF_EINVAL;
        goto out;
    }
    api = xf_calloc(1, sizeof(*api));
    if (!api) {
        rc = XF_ENOMEM;
        goto out;
    }
    atomic_init(&api->running, 0);
    for (size_t i = 0; i < XF_API_STATUS_MAX; i++)
        atomic_init(&api->by_status[i], 0);
    atomic_init(&api->auth_failures, 0);
    rc = xf_api_router_init(&api->router, routes, n);
    if (rc)
        goto out;
    rc = xf_api_auth_init(&api->auth, opts->tokens, opts->n_tokens);
    if (rc)
        goto out;
    api->on_refused = opts->on_refused;
    api->refused_ud = opts->refused_ud;
    api->max_body = opts->max_body ? opts->max_body : DEFAULT_MAX_BODY;
    threads = opts->threads ? opts->threads : DEFAULT_THREADS;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    /* poll(), not epoll: with epoll libmicrohttpd 0.9.75 misses a client's half-close on an
     * idle keep-alive connection and holds the slot until the timeout (seen while fuzzing);
     * with at most CONNECTION_LIMIT sockets poll() costs nothing */
    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_POLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* a pool of one is refused with a warning: one thread is the polling thread itself */
    pool[0].option = threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END;
    pool[0].value = (intptr_t)threads;
    /* the logger goes first: libmicrohttpd reports the options after it through its own */
    api->mhd = MHD_start_daemon(
        flags, listen_port(&ss), NULL, NULL, on_request, api, MHD_OPTION_EXTERNAL_LOGGER, on_log,
        api, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_ARRAY, pool,
        MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
        CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, api, MHD_OPTION_END);
    if (!api->mhd) {
        XF_ERROR("api: cannot listen on %s", opts->listen);
        rc = XF_EIO;
        goto out;
    }
    atomic_store(&api->running, 1);
    info = MHD_get_daemon_info(api->mhd, MHD_DAEMON_INFO_BIND_PORT);
    api->port = info ? (int)info->port : 0;
    XF_INFO("api: listening on %s (port %d, %u threads)", opts->listen, api->port, threads);
    *out = api;
    api = NULL;
out:
    xf_api_stop(api);
    return rc;
}

int xf_api_port(const struct xf_api *api)
{
    return api ? api->port : 0;
}

void xf_api_stop(struct xf_api *api)
{
    if (!api)
        return;
    if (api->mhd)
        MHD_stop_daemon(api->mhd);
    xf_api_router_close(&api->router);
    xf_api_auth_close(&api->auth);
    xf_free(api);
}

void xf_api_get_stats(const struct xf_api *api, struct xf_api_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!api)
        return;
    for (size_t i = 0; i < XF_API_STATUS_MAX; i++)
        out->by_status[i] = atomic_load(&((struct xf_api *)api)->by_status[i]);
    out->auth_failures = atomic_load(&((struct xf_api *)api)->auth_failures);
}

const char *xf_http_header(const struct xf_http_request *req, const char *name)
{
    if (!req || !req->impl || !name)
        return NULL;
    return MHD_lookup_connection_value(req->impl, MHD_HEADER_KIND, name);
}

const char *xf_http_query(const struct xf_http_request *req, const char *name)
{
    if (!req || !req->impl || !name)
        return NULL;
    return MHD_lookup_connection_value(req->impl, MHD_GET_ARGUMENT_KIND, name);
}

const char *xf_http_param(const struct xf_http_request *req, const char *name)
{
    size_t i;

    if (!req || !name)
        return NULL;
    for (i = 0; i < req->n_params && i < XF_HTTP_MAX_PARAMS; i++) {
        if (req->param_names[i] && strcmp(req->param_names[i], name) == 0)
            return req->param_values[i];
    }
    return NULL;
}
