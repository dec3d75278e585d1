/*
 * fuzz_http.c - libFuzzer target for the HTTP listener (api/).
 *
 * The first byte of an input picks what the rest is fed to:
 *   0  the listen-address parser,
 *   1  the route matcher ("METHOD\nPATH" against a table shaped like the daemon's),
 *   2  the JSON string escaper (the result must be valid UTF-8 with no raw control bytes),
 *   4  the bearer-token check, the rest being an Authorization header value,
 *   *  a real listener, as raw bytes of an HTTP request over a loopback socket; its /api
 *      routes need a token ("Bearer fuzz-read" reads, "Bearer fuzz-respond" may POST JSON).
 * The one thing to know: the listener is started once on 127.0.0.1 with an ephemeral port and
 * serves every socket input; an answer, when there is one, must be an HTTP status line.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "api_int.h"
#include "xf/api.h"

static int h_echo(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    const char *q = xf_http_query(req, "q");
    const char *h = xf_http_header(req, "x-test");
    const char *p = xf_http_param(req, "id");

    return xf_buf_appendf(&resp->body, "%s %s %s %s %zu", req->method, p ? p : "-", q ? q : "-",
                          h ? h : "-", req->body_len);
}

static int h_fail(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    return XF_EIO;
}

static const struct xf_http_route routes[] = {
    {"GET", "/metrics", h_echo, NULL, XF_ROLE_NONE, 0},
    {"GET", "/healthz", h_echo, NULL, XF_ROLE_NONE, 0},
    {"GET", "/api/v1/incidents/{id}", h_echo, NULL, XF_ROLE_READ, 0},
    {"GET", "/api/v1/incidents/stats", h_echo, NULL, XF_ROLE_NONE, 0},
    {"GET", "/api/v1/incidents/{id}/graph", h_echo, NULL, XF_ROLE_NONE, 0},
    {"POST", "/api/v1/hosts/{id}/isolate", h_echo, NULL, XF_ROLE_RESPOND, XF_ROUTE_JSON_BODY},
    {"DELETE", "/api/v1/incidents/{id}", h_fail, NULL, XF_ROLE_NONE, 0},
    {"GET", "/", h_echo, NULL, XF_ROLE_NONE, 0},
};

static const struct xf_api_token tokens[] = {
    {"reader", XF_ROLE_READ, "fuzz-read"},
    {"responder", XF_ROLE_RESPOND, "fuzz-respond"},
};

static struct xf_api_router router;
static struct xf_api_auth auth;
static struct xf_api *api;
static int port;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct xf_api_opts opts = {.listen = "127.0.0.1:0",
                               .max_body = 256,
                               .threads = 2,
                               .tokens = tokens,
                               .n_tokens = XF_ARRAY_LEN(tokens)};

    xf_log_set_level(XF_LOG_ERROR);
    if (xf_api_router_init(&router, routes, XF_ARRAY_LEN(routes)) ||
        xf_api_auth_init(&auth, tokens, XF_ARRAY_LEN(tokens)) ||
        xf_api_start(&opts, routes, XF_ARRAY_LEN(routes), &api))
        abort();
    port = xf_api_port(api);
    return 0;
}

static void fuzz_match(const char *s)
{
    const char *nl = strchr(s, '\n');
    char method[16];
    char *path;
    size_t mlen;
    struct xf_api_match m;
    enum xf_api_match_result r;
    size_t i;

    if (!nl || (mlen = (size_t)(nl - s)) >= sizeof(method))
        return;
    memcpy(method, s, mlen);
    method[mlen] = '\0';
    path = strdup(nl + 1);
    if (!path)
        return;
    r = xf_api_router_match(&router, method, path, &m);
    if (r == XF_API_MATCH_OK) {
        if (!m.route || m.n_params > XF_HTTP_MAX_PARAMS)
            abort();
        for (i = 0; i < m.n_params; i++) {
            if (!m.param_values[i][0] || strchr(m.param_values[i], '/'))
                abort();
        }
    } else if (r == XF_API_MATCH_BAD_METHOD && !m.allow[0]) {
        abort();
    }
    free(path);
}

static void fuzz_escape(const char *s)
{
    struct xf_buf b;
    size_t i;

    xf_buf_init(&b);
    if (xf_api_json_escape(&b, s) == 0 && b.len) {
        if (!xf_utf8_valid(b.data, b.len))
            abort();
        for (i = 0; i < b.len; i++) {
            if ((unsigned char)b.data[i] < 0x20)
                abort();
        }
    }
    xf_buf_close(&b);
}

/* Whatever the header, the answer is one of three, and 0 only for a configured token. */
static void fuzz_auth(const char *h)
{
    const char *actor = NULL;
    enum xf_api_role role;
    int rc = xf_api_auth_check(&auth, h, XF_ROLE_RESPOND, &actor, &role);

    if (rc != 0 && rc != 401 && rc != 403)
        abort();
    if ((rc == 0) != (actor && role >= XF_ROLE_RESPOND))
        abort();
    if (rc == 401 && actor)
        abort();
}

static void fuzz_socket(const uint8_t *data, size_t size)
{
    struct sockaddr_in a;
    struct timeval tv = {5, 0};
    char reply[512];
    char drain[4096];
    size_t got = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        goto out;
    /* the server may answer and close before reading everything: a failed send is fine */
    while (size) {
        n = send(fd, data, size, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        data += n;
        size -= (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    /* keep the first bytes for the check, drain the rest */
    for (;;) {
        char *dst = got < sizeof(reply) ? reply + got : drain;
        size_t cap = got < sizeof(reply) ? sizeof(reply) - got : sizeof(drain);

        n = recv(fd, dst, cap, 0);
        if (n <= 0)
            break;
        if (got < sizeof(reply))
            got += (size_t)n;
    }
    if (got >= 7 && memcmp(reply, "HTTP/1.", 7) != 0)
        abort();
out:
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;

    if (size < 1)
        return 0;
    if (data[0] > 2 && data[0] != 4) {
        fuzz_socket(data + 1, size - 1);
        return 0;
    }
    s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    if (data[0] == 0) {
        struct sockaddr_storage ss;
        socklen_t len;

        xf_api_listen_parse(s, &ss, &len);
    } else if (data[0] == 1) {
        fuzz_match(s);
    } else if (data[0] == 4) {
        fuzz_auth(s);
    } else {
        fuzz_escape(s);
    }
    free(s);
    return 0;
}
