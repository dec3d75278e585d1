/*
 * test_api_http.c - the listener end to end: a server on 127.0.0.1 with an ephemeral port,
 * real requests from libcurl, exact statuses, headers and bodies.
 *
 * Each test starts and stops its own server, so nothing listens after the test and tests do
 * not share state. Every request has a 10 s curl timeout, so a hang fails instead of blocking.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "xf/api.h"

/* ---- handlers ------------------------------------------------------------------------------ */

static const char *or_none(const char *s)
{
    return s ? s : "(none)";
}

static int h_echo(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    resp->content_type = "text/plain; charset=utf-8";
    return xf_buf_appendf(&resp->body, "%s a=%s b=%s q=%s h=%s", req->method,
                          or_none(xf_http_param(req, "a")), or_none(xf_http_param(req, "b")),
                          or_none(xf_http_query(req, "q")), or_none(xf_http_header(req, "x-test")));
}

static int h_body(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    resp->status = 201;
    resp->content_type = "application/octet-stream";
    if (req->body[req->body_len] != '\0')
        return XF_EINTERNAL;
    return xf_buf_append(&resp->body, req->body, req->body_len);
}

static int h_fail(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    xf_buf_appends(&resp->body, "half-written output the client must not see");
    return XF_EIO;
}

static int h_name(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    return xf_buf_appends(&resp->body, (const char *)ud);
}

static int h_count(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    atomic_int *n = ud;

    return xf_buf_appendf(&resp->body, "{\"n\":%d}", atomic_fetch_add(n, 1) >= 0 ? 1 : 0);
}

static int h_conflict(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    return xf_http_error(resp, 409, "conflict", "already isolated");
}

static atomic_int counter;

static const struct xf_http_route routes[] = {
    {"GET", "/echo/{a}/x/{b}", h_echo, NULL},
    {"POST", "/body", h_body, NULL},
    {"GET", "/fail", h_fail, NULL},
    {"GET", "/items/{id}", h_name, "param"},
    {"GET", "/items/stats", h_name, "literal"},
    {"DELETE", "/items/{id}", h_name, "deleted"},
    {"GET", "/count", h_count, &counter},
    {"POST", "/conflict", h_conflict, NULL},
};

/* ---- client -------------------------------------------------------------------------------- */

struct reply {
    long status;
    struct xf_buf body;
    struct xf_buf headers; /* raw header lines, lowercased names are not guaranteed */
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    return xf_buf_append(ud, p, size * n) ? 0 : size * n;
}

struct upload {
    const char *data;
    size_t len;
    size_t off;
    size_t chunk;
};

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
    struct upload *u = ud;
    size_t k = size * n;

    if (k > u->chunk)
        k = u->chunk;
    if (k > u->len - u->off)
        k = u->len - u->off;
    memcpy(p, u->data + u->off, k);
    u->off += k;
    return k;
}

static void reply_init(struct reply *r)
{
    r->status = 0;
    xf_buf_init(&r->body);
    xf_buf_init(&r->headers);
}

static void reply_close(struct reply *r)
{
    xf_buf_close(&r->body);
    xf_buf_close(&r->headers);
}

/* The value of header name in r (case-insensitive name), copied into out, or NULL. */
static const char *reply_header(const struct reply *r, const char *name, char *out, size_t cap)
{
    const char *p = r->headers.data;
    size_t nlen = strlen(name);

    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t llen = eol ? (size_t)(eol - p) : strlen(p);

        if (llen > nlen && xf_strncaseeq(p, name, nlen) && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            size_t vlen;

            while (*v == ' ')
                v++;
            vlen = (size_t)(p + llen - v);
            if (vlen >= cap)
                vlen = cap - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return out;
        }
        p += llen + (eol ? 2 : 0);
    }
    return NULL;
}

/* One request. body NULL: none; chunk > 0: sent chunked in pieces of that size. */
static int request(int port, const char *method, const char *path, const char *body,
                   size_t body_len, size_t chunk, const char *header, struct reply *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    struct upload up = {body, body_len, 0, chunk};
    char url[512];
    CURLcode cc;

    if (!c)
        return -1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (header)
        hdrs = curl_slist_append(hdrs, header);
    if (body && chunk) {
        hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    /* curl would otherwise wait a second for "100 Continue" on larger bodies */
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return cc == CURLE_OK ? 0 : -1;
}

/* Sends raw bytes, half-closes, and reads until the server closes (or 5 s pass). Returns the
 * seconds it took until EOF, or -1 on a socket error or a timeout. */
static double raw_exchange(int port, const char *req, struct xf_buf *out)
{
    struct sockaddr_in a;
    struct timeval tv = {5, 0};
    struct timespec t0;
    struct timespec t1;
    char buf[1024];
    ssize_t n;
    double secs = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
        goto out;
    shutdown(fd, SHUT_WR);
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
        xf_buf_append(out, buf, (size_t)n);
    if (n < 0)
        goto out; /* timed out: the server never closed */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
out:
    close(fd);
    return secs;
}

/* ---- fixture ------------------------------------------------------------------------------- */

#define MAX_BODY 64

static int setup(void **state)
{
    struct xf_api_opts opts = {"127.0.0.1:0", MAX_BODY, 4};
    struct xf_api *api = NULL;

    if (xf_api_start(&opts, routes, XF_ARRAY_LEN(routes), &api) != 0)
        return -1;
    *state = api;
    return 0;
}

static int teardown(void **state)
{
    xf_api_stop(*state);
    return 0;
}

static int port_of(void **state)
{
    return xf_api_port(*state);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_start_on_ephemeral_port_reports_the_bound_port(void **state)
{
    assert_true(port_of(state) > 0);
    assert_true(port_of(state) < 65536);
}

static void test_params_query_and_headers_reach_the_handler(void **state)
{
    struct reply r;
    char v[128];

    reply_init(&r);
    assert_int_equal(request(port_of(state), "GET", "/echo/one/x/t%20wo?q=hello%20world&z=1", NULL,
                             0, 0, "X-Test: v1", &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "GET a=one b=t wo q=hello world h=v1");
    assert_string_equal(reply_header(&r, "Content-Type", v, sizeof(v)),
                        "text/plain; charset=utf-8");
    assert_string_equal(reply_header(&r, "Cache-Control", v, sizeof(v)), "no-store");
    reply_close(&r);
}

static void test_absent_query_and_header_are_null(void **state)
{
    struct reply r;

    reply_init(&r);
    assert_int_equal(request(port_of(state), "GET", "/echo/1/x/2", NULL, 0, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "GET a=1 b=2 q=(none) h=(none)");
    reply_close(&r);
}

static void test_literal_route_beats_param_route(void **state)
{
    struct reply r;

    reply_init(&r);
    assert_int_equal(request(port_of(state), "GET", "/items/stats", NULL, 0, 0, NULL, &r), 0);
    assert_string_equal(r.body.data, "literal");
    reply_close(&r);
    reply_init(&r);
    assert_int_equal(request(port_of(state), "GET", "/items/7", NULL, 0, 0, NULL, &r), 0);
    assert_string_equal(r.body.data, "param");
    reply_close(&r);
    reply_init(&r);
    assert_int_equal(request(port_of(state), "DELETE", "/items/7", NULL, 0, 0, NULL, &r), 0);
    assert_string_equal(r.body.data, "deleted");
    reply_close(&r);
}

static void test_unknown_path_is_404_json(void **state)
{
    struct reply r;
    char v[128];

    reply_init(&r);
    assert_int_equal(request(port_of(state), "GET", "/nope", NULL, 0, 0, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(
        r.body.data, "{\"error\":{\"code\":\"not_found\",\"message\":\"no route for GET /nope\"}}");
    assert_string_equal(reply_header(&r, "Content-Type", v, sizeof(v)), "application/json");
    assert_string_equal(reply_header(&r, "Cache-Control", v, sizeof(v)), "no-store");
    reply_close(&r);
}

static void test_hostile_path_is_echoed_as_valid_json(void **state)
{
    struct reply r;

    reply_init(&r);
    assert_int_equal(request(port_of(state), "GET", "/%FF%22%0A", NULL, 0, 0, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body.data, "{\"error\":{\"code\":\"not_found\",\"message\":"
                                     "\"no route for GET /\\ufffd\\\"\\u000a\"}}");
    reply_close(&r);
}

static void test_wrong_method_is_405_with_allow(void **state)
{
    struct reply r;
    char v[128];

    reply_init(&r);
    assert_int_equal(request(port_of(state), "PUT", "/items/7", "x", 1, 0, NULL, &r), 0);
    assert_int_equal(r.status, 405);
    assert_string_equal(reply_header(&r, "Allow", v, sizeof(v)), "GET, HEAD, DELETE");
    assert_string_equal(r.body.data,
                        "{\"error\":{\"code\":\"method_not_allowed\",\"message\":"
                        "\"PUT is not allowed on /items/7 (allowed: GET, HEAD, DELETE)\"}}");
    assert_string_equal(reply_header(&r, "Content-Type", v, sizeof(v)), "application/json");
    reply_close(&r);
}

static void test_body_up_to_the_limit_reaches_the_handler(void **state)
{
    char body[MAX_BODY];
    struct reply r;

    memset(body, 'b', sizeof(body));
    reply_init(&r);
    assert_int_equal(request(port_of(state), "POST", "/body", body, sizeof(body), 0, NULL, &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.body.len, sizeof(body));
    assert_memory_equal(r.body.data, body, sizeof(body));
    reply_close(&r);
}

static void test_empty_body_is_an_empty_string(void **state)
{
    struct reply r;

    reply_init(&r);
    assert_int_equal(request(port_of(state), "POST", "/body", "", 0, 0, NULL, &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.body.len, 0);
    reply_close(&r);
}

static const char too_large[] =
    "{\"error\":{\"code\":\"too_large\",\"message\":\"the request body is over the size limit\"}}";

static void test_declared_body_over_limit_is_413_json(void **state)
{
    char body[MAX_BODY + 1];
    struct reply r;

    memset(body, 'b', sizeof(body));
    reply_init(&r);
    assert_int_equal(request(port_of(state), "POST", "/body", body, sizeof(body), 0, NULL, &r), 0);
    assert_int_equal(r.status, 413);
    assert_string_equal(r.body.data, too_large);
    reply_close(&r);
}

static void test_chunked_body_over_limit_is_413_json(void **state)
{
    char body[4 * MAX_BODY];
    struct reply r;

    memset(body, 'c', sizeof(body));
    reply_init(&r);
    assert_int_equal(request(port_of(state), "POST", "/body", body, sizeof(body), 16, NULL, &r), 0);
    assert_int_equal(r.status, 413);
    assert_string_equal(r.body.data, too_large);
    reply_close(&r);
}

static void test_chunked_body_within_limit_is_reassembled(void **state)
{
    char body[MAX_BODY];
    struct reply r;
    size_t i;

    for (i = 0; i < sizeof(body); i++)
        body[i] = (char)('a' + i % 26);
    reply_init(&r);
    assert_int_equal(request(port_of(state), "POST", "/body", body, sizeof(body), 7, NULL, &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.body.len, sizeof(body));
    assert_memory_equal(r.body.data, body, sizeof(body));
    reply_close(&r);
}

static void test_head_on_get_route_has_headers_and_no_body(void **state)
{
    struct reply r;
    char v[128];

    reply_init(&r);
    assert_int_equal(request(port_of(state), "HEAD", "/echo/1/x/2", NULL, 0, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    /* strlen("HEAD a=1 b=2 q=(none) h=(none)") */
    assert_string_equal(reply_header(&r, "Content-Length", v, sizeof(v)), "30");
    assert_string_equal(reply_header(&r, "Cache-Control", v, sizeof(v)), "no-store");
    reply_close(&r);
}

static void test_handler_error_is_500_json_without_partial_output(void **state)
{
    struct reply r;

    reply_init(&r);
    assert_int_equal(request(port_of(state), "GET", "/fail", NULL, 0, 0, NULL, &r), 0);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.body.data,
                        "{\"error\":{\"code\":\"internal\",\"message\":\"input/output error\"}}");
    reply_close(&r);
}

static void test_handler_written_error_keeps_its_status(void **state)
{
    struct reply r;

    reply_init(&r);
    assert_int_equal(request(port_of(state), "POST", "/conflict", "{}", 2, 0, NULL, &r), 0);
    assert_int_equal(r.status, 409);
    assert_string_equal(r.body.data,
                        "{\"error\":{\"code\":\"conflict\",\"message\":\"already isolated\"}}");
    reply_close(&r);
}

static void test_half_closed_keepalive_connection_is_closed_at_once(void **state)
{
    struct xf_buf out;
    double secs;

    xf_buf_init(&out);
    secs = raw_exchange(port_of(state), "GET /items/stats HTTP/1.1\r\nHost: t\r\n\r\n", &out);
    assert_true(secs >= 0 && secs < 2.0);
    assert_non_null(out.data);
    assert_memory_equal(out.data, "HTTP/1.1 200 OK\r\n", 17);
    assert_non_null(strstr(out.data, "\r\n\r\nliteral"));
    xf_buf_close(&out);
}

static void test_expect_continue_over_limit_gets_413_without_100(void **state)
{
    struct xf_buf out;

    xf_buf_init(&out);
    assert_true(raw_exchange(port_of(state),
                             "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n"
                             "Expect: 100-continue\r\n\r\n",
                             &out) >= 0);
    assert_non_null(out.data);
    assert_memory_equal(out.data, "HTTP/1.1 413 ", 13);
    assert_null(strstr(out.data, "100 Continue"));
    assert_non_null(strstr(out.data, too_large));
    xf_buf_close(&out);
}

static void test_garbage_request_line_gets_400_and_server_keeps_serving(void **state)
{
    struct xf_buf out;
    struct reply r;

    xf_buf_init(&out);
    assert_true(raw_exchange(port_of(state), "\x01\xff GARBAGE\r\n\r\n", &out) >= 0);
    assert_non_null(out.data);
    assert_memory_equal(out.data, "HTTP/1.1 400 ", 13);
    xf_buf_close(&out);
    reply_init(&r);
    assert_int_equal(request(port_of(state), "GET", "/items/stats", NULL, 0, 0, NULL, &r), 0);
    assert_string_equal(r.body.data, "literal");
    reply_close(&r);
}

#define N_THREADS 8
#define N_PER_THREAD 40

struct worker {
    int port;
    int ok;
};

static void *worker_main(void *ud)
{
    struct worker *w = ud;
    int i;

    for (i = 0; i < N_PER_THREAD; i++) {
        struct reply r;

        reply_init(&r);
        if (request(w->port, "GET", "/count", NULL, 0, 0, NULL, &r) == 0 && r.status == 200 &&
            r.body.data && strcmp(r.body.data, "{\"n\":1}") == 0)
            w->ok++;
        reply_close(&r);
    }
    return NULL;
}

static void test_concurrent_requests_all_succeed(void **state)
{
    pthread_t th[N_THREADS];
    struct worker w[N_THREADS];
    int i;
    int ok = 0;

    atomic_store(&counter, 0);
    for (i = 0; i < N_THREADS; i++) {
        w[i].port = port_of(state);
        w[i].ok = 0;
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
    }
    assert_int_equal(ok, N_THREADS * N_PER_THREAD);
    assert_int_equal(atomic_load(&counter), N_THREADS * N_PER_THREAD);
}

static void test_start_on_busy_port_fails_with_eio(void **state)
{
    char listen[32];
    struct xf_api_opts opts = {listen, 0, 1};
    struct xf_api *second = (struct xf_api *)&opts; /* must be reset to NULL */

    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port_of(state));
    assert_int_equal(xf_api_start(&opts, routes, XF_ARRAY_LEN(routes), &second), XF_EIO);
    assert_null(second);
}

static void test_start_rejects_bad_address_and_bad_routes(void **state)
{
    static const struct xf_http_route bad[] = {{"GET", "no-slash", h_fail, NULL}};
    struct xf_api_opts opts = {"127.0.0.1", 0, 0};
    struct xf_api *api = NULL;

    assert_int_equal(xf_api_start(&opts, routes, XF_ARRAY_LEN(routes), &api), XF_EINVAL);
    assert_null(api);
    opts.listen = "127.0.0.1:0";
    assert_int_equal(xf_api_start(&opts, bad, 1, &api), XF_EINVAL);
    assert_null(api);
}

static void test_ipv6_loopback_listener_answers(void **state)
{
    struct xf_api_opts opts = {"[::1]:0", 0, 0};
    struct xf_api *api = NULL;
    CURL *c;
    char url[64];
    struct reply r;
    int rc;

    rc = xf_api_start(&opts, routes, XF_ARRAY_LEN(routes), &api);
    if (rc == XF_EIO)
        skip(); /* no IPv6 on this machine */
    assert_int_equal(rc, 0);
    reply_init(&r);
    c = curl_easy_init();
    assert_non_null(c);
    snprintf(url, sizeof(url), "http://[::1]:%d/items/stats", xf_api_port(api));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    assert_string_equal(r.body.data, "literal");
    curl_easy_cleanup(c);
    reply_close(&r);
    xf_api_stop(api);
}

static void test_start_frees_everything_when_allocation_fails(void **state)
{
    struct xf_api_opts opts = {"127.0.0.1:0", 0, 1};
    struct xf_api *api = NULL;
    long n;
    int rc = XF_ENOMEM;

    for (n = 0; rc == XF_ENOMEM; n++) {
        xf_alloc_fail_after(n);
        rc = xf_api_start(&opts, routes, XF_ARRAY_LEN(routes), &api);
        xf_alloc_fail_after(-1);
        if (rc == XF_ENOMEM)
            assert_null(api);
    }
    assert_int_equal(rc, 0);
    xf_api_stop(api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_on_ephemeral_port_reports_the_bound_port, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_params_query_and_headers_reach_the_handler, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_absent_query_and_header_are_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_literal_route_beats_param_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_path_is_404_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_path_is_echoed_as_valid_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_method_is_405_with_allow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_up_to_the_limit_reaches_the_handler, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_empty_body_is_an_empty_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_declared_body_over_limit_is_413_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_body_over_limit_is_413_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_body_within_limit_is_reassembled, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_head_on_get_route_has_headers_and_no_body, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_handler_error_is_500_json_without_partial_output,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_handler_written_error_keeps_its_status, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_half_closed_keepalive_connection_is_closed_at_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_continue_over_limit_gets_413_without_100, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_garbage_request_line_gets_400_and_server_keeps_serving,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_requests_all_succeed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_on_busy_port_fails_with_eio, setup, teardown),
        cmocka_unit_test(test_start_rejects_bad_address_and_bad_routes),
        cmocka_unit_test(test_ipv6_loopback_listener_answers),
        cmocka_unit_test(test_start_frees_everything_when_allocation_fails),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
