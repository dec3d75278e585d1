/*
 * transport.c - libcurl's multi interface driven by the response thread's libuv loop.
 *
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to wake it
 * (CURLMOPT_TIMERFUNCTION); we map those onto one uv_poll_t per socket and one uv_timer_t, and
 * call curl_multi_socket_action when libuv reports readiness or the timer fires. Finished
 * transfers are collected with curl_multi_info_read and handed to their callbacks.
 *
 * What a reader must know: libcurl's socket and timer callbacks run inside curl_multi_* calls,
 * so they only (re)arm libuv handles; user callbacks run from check_done(), after libcurl has
 * returned, where starting a new request is allowed. A poll handle is closed asynchronously and
 * freed in its close callback, never while libuv may still report on it.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "transport.h"

#define MAX_REPLY_HEADERS 64
#define MAX_HEADER_LINE 8192

struct xf_transport {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct transfer *transfers; /* in flight, doubly linked */
    size_t n_active;
    size_t open_handles; /* timer + polls not yet closed; the struct goes at 0 */
    int closing;
};

/* One uv_poll_t per socket libcurl asks us to watch. */
struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct xf_transport *t;
};

struct transfer {
    struct transfer *prev, *next;
    struct xf_transport *t;
    CURL *easy;
    struct curl_slist *headers;
    struct xf_buf req_body;
    struct xf_buf body; /* the answer, up to XF_TRANSPORT_MAX_BODY */
    int truncated;
    char *reply_headers[MAX_REPLY_HEADERS];
    size_t n_reply_headers;
    char errbuf[CURL_ERROR_SIZE];
    xf_transport_cb cb;
    void *ud;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void handle_closed(struct xf_transport *t)
{
    if (--t->open_handles == 0)
        xf_free(t);
}

static void on_poll_closed(uv_handle_t *h)
{
    struct sock_ctx *sc = h->data;
    struct xf_transport *t = sc->t;

    xf_free(sc);
    handle_closed(t);
}

static void on_timer_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void transfer_free(struct transfer *tr)
{
    if (!tr)
        return;
    if (tr->easy)
        curl_easy_cleanup(tr->easy);
    curl_slist_free_all(tr->headers);
    xf_buf_close(&tr->req_body);
    xf_buf_close(&tr->body);
    for (size_t i = 0; i < tr->n_reply_headers; i++)
        xf_free(tr->reply_headers[i]);
    xf_free(tr);
}

static void transfer_unlink(struct transfer *tr)
{
    struct xf_transport *t = tr->t;

    if (tr->prev)
        tr->prev->next = tr->next;
    else
        t->transfers = tr->next;
    if (tr->next)
        tr->next->prev = tr->prev;
    tr->prev = tr->next = NULL;
    t->n_active--;
}

/* Hands every finished transfer to its callback. */
static void check_done(struct xf_transport *t)
{
    CURLMsg *msg;
    int left;

    while (!t->closing && (msg = curl_multi_info_read(t->multi, &left))) {
        struct transfer *tr = NULL;
        struct xf_conn_reply reply;
        long status = 0;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&tr);
        curl_multi_remove_handle(t->multi, msg->easy_handle);
        transfer_unlink(tr);
        memset(&reply, 0, sizeof(reply));
        if (msg->data.result == CURLE_OK) {
            curl_easy_getinfo(tr->easy, CURLINFO_RESPONSE_CODE, &status);
            reply.status = status;
        } else {
            reply.status = 0;
            reply.error = tr->errbuf[0] ? tr->errbuf : curl_easy_strerror(msg->data.result);
        }
        reply.body = tr->body.len ? tr->body.data : "";
        reply.body_len = tr->body.len;
        reply.headers = (const char *const *)tr->reply_headers;
        reply.n_headers = tr->n_reply_headers;
        if (tr->truncated)
            XF_WARN("response: answer from a connector cut at %zu bytes", tr->body.len);
        tr->cb(&reply, tr->ud);
        transfer_free(tr);
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct sock_ctx *sc = h->data;
    struct xf_transport *t = sc->t;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(t->multi, sc->fd, flags, &running);
    check_done(t);
}

static void on_timer(uv_timer_t *h)
{
    struct xf_transport *t = h->data;
    int running;

    curl_multi_socket_action(t->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(t);
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer, otherwise wake libcurl after timeout_ms. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct xf_transport *t = userp;

    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&t->timer);
    else
        uv_timer_start(&t->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION: watch, re-watch or forget one socket. */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct xf_transport *t = userp;
    struct sock_ctx *sc = socketp;
    int events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (sc) {
            uv_poll_stop(&sc->poll);
            uv_close((uv_handle_t *)&sc->poll, on_poll_closed);
            curl_multi_assign(t->multi, s, NULL);
        }
        return 0;
    }
    if (!sc) {
        if (!(sc = xf_calloc(1, sizeof(*sc))))
            return -1;
        sc->fd = s;
        sc->t = t;
        if (uv_poll_init_socket(t->loop, &sc->poll, s) != 0) {
            xf_free(sc);
            return -1;
        }
        sc->poll.data = sc;
        t->open_handles++;
        curl_multi_assign(t->multi, s, sc);
    }
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&sc->poll, events, on_poll);
    return 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct transfer *tr = ud;
    size_t n = size * nmemb, room;

    /* Keep the first MiB and read (and drop) the rest, so the status still counts; the
     * request timeout bounds a server that never stops talking. */
    room = tr->body.len < XF_TRANSPORT_MAX_BODY ? XF_TRANSPORT_MAX_BODY - tr->body.len : 0;
    if (n > room)
        tr->truncated = 1;
    if (room && xf_buf_append(&tr->body, ptr, n < room ? n : room) != 0)
        return 0;
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct transfer *tr = ud;
    size_t n = size * nmemb, len = n;

    /* A new status line (after a 100 Continue or a 1xx) starts a new header block. */
    if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        for (size_t i = 0; i < tr->n_reply_headers; i++)
            xf_free(tr->reply_headers[i]);
        tr->n_reply_headers = 0;
        return n;
    }
    while (len && (ptr[len - 1] == '\n' || ptr[len - 1] == '\r'))
        len--;
    if (!len || len > MAX_HEADER_LINE || !memchr(ptr, ':', len) ||
        tr->n_reply_headers == MAX_REPLY_HEADERS)
        return n;
    if (!(tr->reply_headers[tr->n_reply_headers] = xf_strndup(ptr, len)))
        return 0;
    tr->n_reply_headers++;
    return n;
}

int xf_transport_create(uv_loop_t *loop, struct xf_transport **out)
{
    struct xf_transport *t = NULL;
    int rc = XF_ENOMEM;

    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        XF_ERROR("response: curl_global_init failed: %s", curl_easy_strerror(curl_init_rc));
        return XF_EINTERNAL;
    }
    if (!(t = xf_calloc(1, sizeof(*t))))
        goto out;
    t->loop = loop;
    if (!(t->multi = curl_multi_init())) {
        rc = XF_EINTERNAL;
        goto out;
    }
    curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, t);
    curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, t);
    if (uv_timer_init(loop, &t->timer) != 0) {
        rc = XF_EINTERNAL;
        goto out;
    }
    t->timer.data = t;
    t->open_handles = 1;
    *out = t;
    t = NULL;
    rc = 0;
out:
    if (t) {
        if (t->multi)
            curl_multi_cleanup(t->multi);
        xf_free(t);
    }
    return rc;
}

void xf_transport_close(struct xf_transport *t)
{
    if (!t)
        return;
    t->closing = 1;
    while (t->transfers) {
        struct transfer *tr = t->transfers;

        curl_multi_remove_handle(t->multi, tr->easy);
        transfer_unlink(tr);
        transfer_free(tr);
    }
    /* Removing the handles made libcurl forget its sockets (CURL_POLL_REMOVE closed their
     * polls); cleanup may still report the last ones. */
    curl_multi_cleanup(t->multi);
    t->multi = NULL;
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, on_timer_closed);
}

size_t xf_transport_active(const struct xf_transport *t)
{
    return t ? t->n_active : 0;
}

int xf_transport_send(struct xf_transport *t, const struct xf_conn_request *rq,
                      const struct xf_transport_opts *opts, xf_transport_cb cb, void *ud)
{
    struct transfer *tr = NULL;
    struct curl_slist *sl;
    long timeout = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 10000;
    int rc = XF_ENOMEM;

    if (t->closing || !rq->url || !rq->method)
        return XF_EINVAL;
    if (!(tr = xf_calloc(1, sizeof(*tr))))
        goto out;
    tr->t = t;
    tr->cb = cb;
    tr->ud = ud;
    xf_buf_init(&tr->req_body);
    xf_buf_init(&tr->body);
    if (rq->body.len && xf_buf_append(&tr->req_body, rq->body.data, rq->body.len) != 0)
        goto out;
    for (size_t i = 0; i < rq->n_headers; i++) {
        if (!(sl = curl_slist_append(tr->headers, rq->headers[i])))
            goto out;
        tr->headers = sl;
    }
    /* No "Expect: 100-continue" round trip: the receivers answer the body straight away. */
    if (!(sl = curl_slist_append(tr->headers, "Expect:")))
        goto out;
    tr->headers = sl;
    if (!(tr->easy = curl_easy_init())) {
        rc = XF_EINTERNAL;
        goto out;
    }
    curl_easy_setopt(tr->easy, CURLOPT_URL, rq->url);
    curl_easy_setopt(tr->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(tr->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(tr->easy, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(tr->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    /* Never follow a redirect: a POST that turns into a GET elsewhere is not the action. */
    curl_easy_setopt(tr->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(tr->easy, CURLOPT_SSL_VERIFYPEER, opts && !opts->tls_verify ? 0L : 1L);
    curl_easy_setopt(tr->easy, CURLOPT_SSL_VERIFYHOST, opts && !opts->tls_verify ? 0L : 2L);
    if (opts && opts->ca_file)
        curl_easy_setopt(tr->easy, CURLOPT_CAINFO, opts->ca_file);
    curl_easy_setopt(tr->easy, CURLOPT_USERAGENT, "xdrflow/0.1");
    curl_easy_setopt(tr->easy, CURLOPT_HTTPHEADER, tr->headers);
    curl_easy_setopt(tr->easy, CURLOPT_ERRORBUFFER, tr->errbuf);
    curl_easy_setopt(tr->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(tr->easy, CURLOPT_WRITEDATA, tr);
    curl_easy_setopt(tr->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(tr->easy, CURLOPT_HEADERDATA, tr);
    curl_easy_setopt(tr->easy, CURLOPT_PRIVATE, tr);
    if (strcmp(rq->method, "GET") == 0) {
        curl_easy_setopt(tr->easy, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(rq->method, "POST") != 0)
            curl_easy_setopt(tr->easy, CURLOPT_CUSTOMREQUEST, rq->method);
        curl_easy_setopt(tr->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(tr->easy, CURLOPT_POSTFIELDS, tr->req_body.len ? tr->req_body.data : "");
        curl_easy_setopt(tr->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)tr->req_body.len);
    }
    if (curl_multi_add_handle(t->multi, tr->easy) != CURLM_OK) {
        rc = XF_EINTERNAL;
        goto out;
    }
    tr->next = t->transfers;
    if (t->transfers)
        t->transfers->prev = tr;
    t->transfers = tr;
    t->n_active++;
    tr = NULL;
    rc = 0;
out:
    transfer_free(tr);
    return rc;
}
