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
    {"GET", "/echo/{a}/x/{b}", h_echo, NULL, XF_ROLE_NONE, 0},
    {"POST", "/body", h_body, NULL, XF_ROLE_NONE, 0},
    {"GET", "/fail", h_fail, NULL, XF_ROLE_NONE, 0},
    {"GET", "/items/{id}", h_name, "param", XF_ROLE_NONE, 0},
    {"GET", "/items/stats", h_name, "literal", XF_ROLE_NONE, 0},
    {"DELETE", "/items/{id}", h_name, "deleted", XF_ROLE_NONE, 0},
    {"GET", "/count", h_count, &counter, XF_ROLE_NONE, 0},
    {"POST", "/conflict", h_conflict, NULL, XF_ROLE_NONE, 0},
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
    /* header may hold several lines separated by '\n' */
    for (const char *h = header; h && *h;) {
        const char *nl = strchr(h, '\n');
        size_t len = nl ? (size_t)(nl - h) : strlen(h);
        char line[512];

        snprintf(line, sizeof(line), "%.*s", (int)len, h);
        hdrs = curl_slist_append(hdrs, line);
        h += len + (nl ? 1 : 0);
    }
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
    struct xf_api_opts opts = {.listen = "127.0.0.1:0", .max_body = MAX_BODY, .threads = 4};
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

/* ---- authorization fixture ------------------------------------------------------------------ */

#define TOK_READ "r3ad-t0ken-0123456789"
#define TOK_RESPOND "resp0nd-t0ken-abcdef"
#define TOK_ADMIN "adm1n"

static int h_whoami(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    return xf_buf_appendf(&resp->body, "{\"actor\":\"%s\",\"role\":\"%s\",\"body\":%zu}",
                          req->actor ? req->actor : "-", xf_api_role_name(req->role),
                          req->body_len);
}

static const struct xf_http_route auth_routes[] = {
    {"GET", "/open", h_whoami, NULL, XF_ROLE_NONE, 0},
    {"GET", "/api/read", h_whoami, NULL, XF_ROLE_READ, 0},
    {"POST", "/api/respond", h_whoami, NULL, XF_ROLE_RESPOND, XF_ROUTE_JSON_BODY},
    {"POST", "/api/admin", h_whoami, NULL, XF_ROLE_ADMIN, XF_ROUTE_JSON_BODY},
};

struct refusal {
    pthread_mutex_t mu;
    int n;
    char last[256];
};
static struct refusal refused = {PTHREAD_MUTEX_INITIALIZER, 0, ""};

static void on_refused(void *ud, const char *method, const char *path, int status,
                       const char *actor)
{
    struct refusal *r = ud;

    pthread_mutex_lock(&r->mu);
    r->n++;
    snprintf(r->last, sizeof(r->last), "%s %s %d %s", method, path, status, actor ? actor : "-");
    pthread_mutex_unlock(&r->mu);
}

static int setup_auth(void **state)
{
    static const struct xf_api_token tokens[] = {
        {"soc-dashboard", XF_ROLE_READ, TOK_READ},
        {"soar", XF_ROLE_RESPOND, TOK_RESPOND},
        {"ops", XF_ROLE_ADMIN, TOK_ADMIN},
    };
    struct xf_api_opts opts = {.listen = "127.0.0.1:0",
                               .max_body = MAX_BODY,
                               .threads = 2,
                               .tokens = tokens,
                               .n_tokens = XF_ARRAY_LEN(tokens),
                               .on_refused = on_refused,
                               .refused_ud = &refused};
    struct xf_api *api = NULL;

    refused.n = 0;
    refused.last[0] = '\0';
    if (xf_api_start(&opts, auth_routes, XF_ARRAY_LEN(auth_routes), &api) != 0)
        return -1;
    *state = api;
    return 0;
}

/* One request to the auth fixture; returns the status, body in r. */
static long call(void **state, const char *method, const char *path, const char *headers,
                 const char *body, struct reply *r)
{
    reply_init(r);
    assert_int_equal(
        request(port_of(state), method, path, body, body ? strlen(body) : 0, 0, headers, r), 0);
    return r->status;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_no_token_is_401_with_bearer_challenge(void **state)
{
    struct reply r;
    char v[64];

    assert_int_equal(call(state, "GET", "/api/read", NULL, NULL, &r), 401);
    assert_string_equal(r.body.data, "{\"error\":{\"code\":\"unauthorized\",\"message\":\"an "
                                     "Authorization: Bearer token is required\"}}");
    assert_string_equal(reply_header(&r, "WWW-Authenticate", v, sizeof(v)), "Bearer");
    assert_string_equal(reply_header(&r, "Content-Type", v, sizeof(v)), "application/json");
    reply_close(&r);
    assert_int_equal(refused.n, 1);
    assert_string_equal(refused.last, "GET /api/read 401 -");
}

static void test_wrong_or_malformed_token_is_401(void **state)
{
    static const char *const bad[] = {
        "Authorization: Bearer nope",
        "Authorization: Bearer " TOK_READ "x",
        "Authorization: Bearer r3ad",
        "Authorization: Basic " TOK_READ,
        "Authorization: Bearer",
        "Authorization: Bearer   ",
        "Authorization: Bearer " TOK_READ " extra",
        "Authorization: " TOK_READ,
    };
    struct reply r;
    char v[64];

    for (size_t i = 0; i < XF_ARRAY_LEN(bad); i++) {
        assert_int_equal(call(state, "GET", "/api/read", bad[i], NULL, &r), 401);
        assert_string_equal(r.body.data,
                            "{\"error\":{\"code\":\"unauthorized\",\"message\":\"the bearer "
                            "token is malformed or unknown\"}}");
        assert_string_equal(reply_header(&r, "WWW-Authenticate", v, sizeof(v)), "Bearer");
        reply_close(&r);
    }
    assert_int_equal(refused.n, (int)XF_ARRAY_LEN(bad));
}

static void test_read_token_on_respond_route_is_403_naming_the_actor(void **state)
{
    struct reply r;

    assert_int_equal(call(state, "POST", "/api/respond",
                          "Authorization: Bearer " TOK_READ "\nContent-Type: application/json",
                          "{}", &r),
                     403);
    assert_string_equal(r.body.data, "{\"error\":{\"code\":\"forbidden\",\"message\":\"this "
                                     "token's role (read) may not do this; it needs respond\"}}");
    reply_close(&r);
    assert_string_equal(refused.last, "POST /api/respond 403 soc-dashboard");
}

static void test_read_token_on_read_route_reaches_the_handler_with_its_name(void **state)
{
    struct reply r;

    assert_int_equal(call(state, "GET", "/api/read", "Authorization: Bearer " TOK_READ, NULL, &r),
                     200);
    assert_string_equal(r.body.data, "{\"actor\":\"soc-dashboard\",\"role\":\"read\",\"body\":0}");
    reply_close(&r);
    assert_int_equal(refused.n, 0);
}

static void test_higher_roles_imply_lower_ones(void **state)
{
    struct reply r;

    /* scheme is case-insensitive and surrounding blanks are ignored (RFC 6750, RFC 7230) */
    assert_int_equal(
        call(state, "GET", "/api/read", "Authorization: bearer  " TOK_RESPOND " ", NULL, &r), 200);
    assert_string_equal(r.body.data, "{\"actor\":\"soar\",\"role\":\"respond\",\"body\":0}");
    reply_close(&r);
    assert_int_equal(call(state, "POST", "/api/respond",
                          "Authorization: Bearer " TOK_ADMIN "\nContent-Type: application/json; "
                          "charset=utf-8",
                          "{\"a\":1}", &r),
                     200);
    assert_string_equal(r.body.data, "{\"actor\":\"ops\",\"role\":\"admin\",\"body\":7}");
    reply_close(&r);
    assert_int_equal(
        call(state, "POST", "/api/admin", "Authorization: Bearer " TOK_RESPOND, NULL, &r), 403);
    reply_close(&r);
}

static void test_route_without_role_needs_no_token(void **state)
{
    struct reply r;

    assert_int_equal(call(state, "GET", "/open", "Authorization: Bearer junk", NULL, &r), 200);
    assert_string_equal(r.body.data, "{\"actor\":\"-\",\"role\":\"none\",\"body\":0}");
    reply_close(&r);
}

static void test_oversized_body_with_valid_token_is_413(void **state)
{
    char big[MAX_BODY + 2];
    struct reply r;

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(call(state, "POST", "/api/respond",
                          "Authorization: Bearer " TOK_RESPOND "\nContent-Type: application/json",
                          big, &r),
                     413);
    assert_string_equal(r.body.data, "{\"error\":{\"code\":\"too_large\",\"message\":\"the "
                                     "request body is over the size limit\"}}");
    reply_close(&r);
}

static void test_oversized_body_without_token_is_401_not_413(void **state)
{
    char big[MAX_BODY + 2];
    struct reply r;

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(call(state, "POST", "/api/respond", "Content-Type: application/json", big, &r),
                     401);
    reply_close(&r);
}

static void test_body_that_is_not_declared_json_is_415(void **state)
{
    static const char *const types[] = {
        "Content-Type: text/plain",
        "Content-Type: application/x-www-form-urlencoded",
        "Content-Type: application/jsonx",
    };
    struct reply r;
    char hdr[256];

    for (size_t i = 0; i < XF_ARRAY_LEN(types); i++) {
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\n%s", TOK_RESPOND, types[i]);
        assert_int_equal(call(state, "POST", "/api/respond", hdr, "{}", &r), 415);
        assert_string_equal(r.body.data,
                            "{\"error\":{\"code\":\"unsupported_media_type\",\"message\":\"the "
                            "request body must be Content-Type: application/json\"}}");
        reply_close(&r);
    }
    /* no body at all: nothing to declare */
    assert_int_equal(
        call(state, "POST", "/api/respond", "Authorization: Bearer " TOK_RESPOND, NULL, &r), 200);
    reply_close(&r);
}

static void test_stats_count_answers_by_status_and_auth_failures(void **state)
{
    struct xf_api_stats st;
    struct reply r;

    call(state, "GET", "/api/read", NULL, NULL, &r);
    reply_close(&r);
    call(state, "GET", "/api/read", "Authorization: Bearer " TOK_READ, NULL, &r);
    reply_close(&r);
    call(state, "POST", "/api/admin", "Authorization: Bearer " TOK_READ, NULL, &r);
    reply_close(&r);
    call(state, "GET", "/nowhere", NULL, NULL, &r);
    reply_close(&r);
    xf_api_get_stats(*state, &st);
    assert_int_equal(st.by_status[200], 1);
    assert_int_equal(st.by_status[401], 1);
    assert_int_equal(st.by_status[403], 1);
    assert_int_equal(st.by_status[404], 1);
    assert_int_equal(st.auth_failures, 2);
}

static void test_token_without_secret_is_refused_at_start(void **state)
{
    static const struct xf_api_token tokens[] = {{"soar", XF_ROLE_RESPOND, ""}};
    struct xf_api_opts opts = {.listen = "127.0.0.1:0", .tokens = tokens, .n_tokens = 1};
    struct xf_api *api = NULL;

    assert_int_equal(xf_api_start(&opts, auth_routes, XF_ARRAY_LEN(auth_routes), &api), XF_EINVAL);
    assert_null(api);
}

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
    struct xf_api_opts opts = {.listen = listen, .max_body = 0, .threads = 1};
    struct xf_api *second = (struct xf_api *)&opts; /* must be reset to NULL */

    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port_of(state));
    assert_int_equal(xf_api_start(&opts, routes, XF_ARRAY_LEN(routes), &second), XF_EIO);
    assert_null(second);
}

static void test_start_rejects_bad_address_and_bad_routes(void **state)
{
    static const struct xf_http_route bad[] = {{"GET", "no-slash", h_fail, NULL, XF_ROLE_NONE, 0}};
    struct xf_api_opts opts = {.listen = "127.0.0.1", .max_body = 0, .threads = 0};
    struct xf_api *api = NULL;

    assert_int_equal(xf_api_start(&opts, routes, XF_ARRAY_LEN(routes), &api), XF_EINVAL);
    assert_null(api);
    opts.listen = "127.0.0.1:0";
    assert_int_equal(xf_api_start(&opts, bad, 1, &api), XF_EINVAL);
    assert_null(api);
}

static void test_ipv6_loopback_listener_answers(void **state)
{
    struct xf_api_opts opts = {.listen = "[::1]:0", .max_body = 0, .threads = 0};
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
    struct xf_api_opts opts = {.listen = "127.0.0.1:0", .max_body = 0, .threads = 1};
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
        cmocka_unit_test_setup_teardown(test_no_token_is_401_with_bearer_challenge, setup_auth,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wrong_or_malformed_token_is_401, setup_auth, teardown),
        cmocka_unit_test_setup_teardown(test_read_token_on_respond_route_is_403_naming_the_actor,
                                        setup_auth, teardown),
        cmocka_unit_test_setup_teardown(
            test_read_token_on_read_route_reaches_the_handler_with_its_name, setup_auth, teardown),
        cmocka_unit_test_setup_teardown(test_higher_roles_imply_lower_ones, setup_auth, teardown),
        cmocka_unit_test_setup_teardown(test_route_without_role_needs_no_token, setup_auth,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_oversized_body_with_valid_token_is_413, setup_auth,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_oversized_body_without_token_is_401_not_413,
                                        setup_auth, teardown),
        cmocka_unit_test_setup_teardown(test_body_that_is_not_declared_json_is_415, setup_auth,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stats_count_answers_by_status_and_auth_failures,
                                        setup_auth, teardown),
        cmocka_unit_test(test_token_without_secret_is_refused_at_start),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
