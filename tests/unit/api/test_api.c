/*
 * test_api.c - unit tests of the listener's socket-free pieces (api/src/route.c, listen.c,
 * json.c): route compilation and matching, the listen-address parser, JSON escaping.
 *
 * The matcher cuts the path in place, so every test hands it a writable copy.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api_int.h"

static int dummy(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    return 0;
}

static const struct xf_http_route table[] = {
    {"GET", "/metrics", dummy, NULL, XF_ROLE_NONE, 0},
    {"GET", "/api/v1/incidents/{id}", dummy, NULL, XF_ROLE_NONE, 0},
    {"GET", "/api/v1/incidents/stats", dummy, NULL, XF_ROLE_NONE, 0},
    {"GET", "/api/v1/incidents/{id}/graph", dummy, NULL, XF_ROLE_NONE, 0},
    {"POST", "/api/v1/hosts/{host}/isolate", dummy, NULL, XF_ROLE_NONE, 0},
    {"DELETE", "/api/v1/incidents/{id}", dummy, NULL, XF_ROLE_NONE, 0},
    {"GET", "/", dummy, NULL, XF_ROLE_NONE, 0},
};

static enum xf_api_match_result match(const struct xf_api_router *r, const char *method,
                                      const char *path, struct xf_api_match *m, char *buf,
                                      size_t cap)
{
    snprintf(buf, cap, "%s", path);
    return xf_api_router_match(r, method, buf, m);
}

static void test_router_matches_literal_route(void **state)
{
    struct xf_api_router r;
    struct xf_api_match m;
    char buf[256];

    assert_int_equal(xf_api_router_init(&r, table, XF_ARRAY_LEN(table)), 0);
    assert_int_equal(match(&r, "GET", "/metrics", &m, buf, sizeof(buf)), XF_API_MATCH_OK);
    assert_string_equal(m.route->pattern, "/metrics");
    assert_int_equal(m.n_params, 0);
    assert_int_equal(match(&r, "GET", "/", &m, buf, sizeof(buf)), XF_API_MATCH_OK);
    assert_string_equal(m.route->pattern, "/");
    xf_api_router_close(&r);
}

static void test_router_binds_params_in_order(void **state)
{
    struct xf_api_router r;
    struct xf_api_match m;
    char buf[256];

    assert_int_equal(xf_api_router_init(&r, table, XF_ARRAY_LEN(table)), 0);
    assert_int_equal(match(&r, "POST", "/api/v1/hosts/ws-01/isolate", &m, buf, sizeof(buf)),
                     XF_API_MATCH_OK);
    assert_string_equal(m.route->pattern, "/api/v1/hosts/{host}/isolate");
    assert_int_equal(m.n_params, 1);
    assert_string_equal(m.param_names[0], "host");
    assert_string_equal(m.param_values[0], "ws-01");
    assert_int_equal(match(&r, "GET", "/api/v1/incidents/abc/graph", &m, buf, sizeof(buf)),
                     XF_API_MATCH_OK);
    assert_string_equal(m.route->pattern, "/api/v1/incidents/{id}/graph");
    assert_string_equal(m.param_values[0], "abc");
    xf_api_router_close(&r);
}

static void test_router_prefers_literal_over_param_whatever_the_order(void **state)
{
    struct xf_api_router r;
    struct xf_api_match m;
    char buf[256];

    assert_int_equal(xf_api_router_init(&r, table, XF_ARRAY_LEN(table)), 0);
    assert_int_equal(match(&r, "GET", "/api/v1/incidents/stats", &m, buf, sizeof(buf)),
                     XF_API_MATCH_OK);
    assert_string_equal(m.route->pattern, "/api/v1/incidents/stats");
    assert_int_equal(m.n_params, 0);
    assert_int_equal(match(&r, "GET", "/api/v1/incidents/i-1", &m, buf, sizeof(buf)),
                     XF_API_MATCH_OK);
    assert_string_equal(m.route->pattern, "/api/v1/incidents/{id}");
    assert_string_equal(m.param_values[0], "i-1");
    xf_api_router_close(&r);
}

static void test_router_head_matches_get_routes(void **state)
{
    struct xf_api_router r;
    struct xf_api_match m;
    char buf[256];

    assert_int_equal(xf_api_router_init(&r, table, XF_ARRAY_LEN(table)), 0);
    assert_int_equal(match(&r, "HEAD", "/metrics", &m, buf, sizeof(buf)), XF_API_MATCH_OK);
    assert_string_equal(m.route->method, "GET");
    assert_int_equal(match(&r, "HEAD", "/api/v1/hosts/h/isolate", &m, buf, sizeof(buf)),
                     XF_API_MATCH_BAD_METHOD);
    xf_api_router_close(&r);
}

static void test_router_wrong_method_lists_allowed_methods(void **state)
{
    struct xf_api_router r;
    struct xf_api_match m;
    char buf[256];

    assert_int_equal(xf_api_router_init(&r, table, XF_ARRAY_LEN(table)), 0);
    assert_int_equal(match(&r, "PUT", "/api/v1/incidents/x", &m, buf, sizeof(buf)),
                     XF_API_MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "GET, HEAD, DELETE");
    assert_null(m.route);
    assert_int_equal(match(&r, "GET", "/api/v1/hosts/h/isolate", &m, buf, sizeof(buf)),
                     XF_API_MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "POST");
    xf_api_router_close(&r);
}

static void test_router_unknown_paths_are_not_found(void **state)
{
    static const char *paths[] = {
        "/metrics/",          /* trailing slash is a different path */
        "/api/v1/incidents/", /* a param never matches an empty segment */
        "/api/v1/incidents//graph",
        "//metrics",
        "/nope",
        "metrics", /* not origin-form */
        "*",
        "",
        "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s", /* more segments than any pattern */
    };
    struct xf_api_router r;
    struct xf_api_match m;
    char buf[256];
    size_t i;

    assert_int_equal(xf_api_router_init(&r, table, XF_ARRAY_LEN(table)), 0);
    for (i = 0; i < XF_ARRAY_LEN(paths); i++) {
        assert_int_equal(match(&r, "GET", paths[i], &m, buf, sizeof(buf)), XF_API_MATCH_NOT_FOUND);
        assert_string_equal(m.allow, "");
    }
    xf_api_router_close(&r);
}

static void test_router_rejects_malformed_patterns(void **state)
{
    static const struct xf_http_route bad[][1] = {
        {{"GET", "metrics", dummy, NULL, XF_ROLE_NONE, 0}},
        {{"GET", "/a//b", dummy, NULL, XF_ROLE_NONE, 0}},
        {{"GET", "/a/{}", dummy, NULL, XF_ROLE_NONE, 0}},
        {{"GET", "/a/x{id}", dummy, NULL, XF_ROLE_NONE, 0}},
        {{"GET", "/a/{id", dummy, NULL, XF_ROLE_NONE, 0}},
        {{"get", "/a", dummy, NULL, XF_ROLE_NONE, 0}},
        {{"", "/a", dummy, NULL, XF_ROLE_NONE, 0}},
        {{NULL, "/a", dummy, NULL, XF_ROLE_NONE, 0}},
        {{"GET", NULL, dummy, NULL, XF_ROLE_NONE, 0}},
        {{"GET", "/a", NULL, NULL, XF_ROLE_NONE, 0}},
        {{"GET", "/{a}/{b}/{c}/{d}/{e}", dummy, NULL, XF_ROLE_NONE, 0}},
    };
    struct xf_api_router r;
    size_t i;

    for (i = 0; i < XF_ARRAY_LEN(bad); i++)
        assert_int_equal(xf_api_router_init(&r, bad[i], 1), XF_EINVAL);
}

static void test_router_rejects_a_route_that_could_never_win(void **state)
{
    static const struct xf_http_route dup[] = {
        {"GET", "/a/{id}", dummy, NULL, XF_ROLE_NONE, 0},
        {"GET", "/a/{other}", dummy, NULL, XF_ROLE_NONE, 0},
    };
    static const struct xf_http_route distinct[] = {
        {"GET", "/a/{id}", dummy, NULL, XF_ROLE_NONE, 0},
        {"POST", "/a/{id}", dummy, NULL, XF_ROLE_NONE, 0},
        {"GET", "/a/b", dummy, NULL, XF_ROLE_NONE, 0},
    };
    struct xf_api_router r;

    assert_int_equal(xf_api_router_init(&r, dup, XF_ARRAY_LEN(dup)), XF_EINVAL);
    assert_int_equal(xf_api_router_init(&r, distinct, XF_ARRAY_LEN(distinct)), 0);
    xf_api_router_close(&r);
}

static void test_router_init_frees_everything_when_allocation_fails(void **state)
{
    struct xf_api_router r;
    long n;
    int rc = XF_ENOMEM;

    for (n = 0; rc == XF_ENOMEM; n++) {
        xf_alloc_fail_after(n);
        rc = xf_api_router_init(&r, table, XF_ARRAY_LEN(table));
        xf_alloc_fail_after(-1);
        if (rc == XF_ENOMEM)
            assert_null(r.routes);
    }
    assert_int_equal(rc, 0);
    assert_true(n > 3);
    xf_api_router_close(&r);
}

/* ---- listen addresses ---------------------------------------------------------------------- */

static void test_listen_parses_ipv4_host_and_port(void **state)
{
    struct sockaddr_storage ss;
    socklen_t len;
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    char ip[INET_ADDRSTRLEN];

    assert_int_equal(xf_api_listen_parse("127.0.0.1:8080", &ss, &len), 0);
    assert_int_equal(a->sin_family, AF_INET);
    assert_int_equal(ntohs(a->sin_port), 8080);
    assert_string_equal(inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip)), "127.0.0.1");
    assert_int_equal(len, sizeof(struct sockaddr_in));

    assert_int_equal(xf_api_listen_parse(":0", &ss, &len), 0);
    assert_int_equal(a->sin_family, AF_INET);
    assert_int_equal(ntohs(a->sin_port), 0);
    assert_int_equal(ntohl(a->sin_addr.s_addr), INADDR_ANY);

    assert_int_equal(xf_api_listen_parse("localhost:65535", &ss, &len), 0);
    assert_int_equal(ntohs(a->sin_port), 65535);
    assert_int_equal(ntohl(a->sin_addr.s_addr), INADDR_LOOPBACK);
}

static void test_listen_parses_bracketed_ipv6(void **state)
{
    struct sockaddr_storage ss;
    socklen_t len;
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

    assert_int_equal(xf_api_listen_parse("[::1]:9000", &ss, &len), 0);
    assert_int_equal(a->sin6_family, AF_INET6);
    assert_int_equal(ntohs(a->sin6_port), 9000);
    assert_memory_equal(&a->sin6_addr, &in6addr_loopback, sizeof(struct in6_addr));
    assert_int_equal(len, sizeof(struct sockaddr_in6));
}

static void test_listen_rejects_malformed_addresses(void **state)
{
    static const char *bad[] = {
        NULL,
        "",
        "8080",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:65536",
        "127.0.0.1:-1",
        "127.0.0.1:+80",
        "127.0.0.1:80x",
        "127.0.0.1: 80",
        "::1:80",
        "[::1]80",
        "[::1]:",
        "[127.0.0.1]:80",
        "[::1:80",
        "example.com:80",
        "999.1.1.1:80",
        "[0000:0000:0000:0000:0000:0000:0000:0000:0000]:80",
    };
    struct sockaddr_storage ss;
    socklen_t len = 1;
    size_t i;

    for (i = 0; i < XF_ARRAY_LEN(bad); i++) {
        assert_int_equal(xf_api_listen_parse(bad[i], &ss, &len), XF_EINVAL);
        assert_int_equal(len, 0);
    }
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static void test_error_body_has_the_documented_shape(void **state)
{
    struct xf_http_response resp;

    xf_buf_init(&resp.body);
    assert_int_equal(xf_buf_appends(&resp.body, "partial output"), 0);
    assert_int_equal(xf_http_error(&resp, 409, "conflict", "host \"a\" busy"), 0);
    assert_int_equal(resp.status, 409);
    assert_string_equal(resp.content_type, "application/json");
    assert_string_equal(resp.body.data,
                        "{\"error\":{\"code\":\"conflict\",\"message\":\"host \\\"a\\\" busy\"}}");
    xf_buf_close(&resp.body);
}

static void test_json_escape_replaces_invalid_utf8_and_controls(void **state)
{
    struct xf_buf b;

    xf_buf_init(&b);
    /* valid 2- and 4-byte sequences pass; a lone 0xff, an overlong '/', a surrogate and a
     * truncated sequence each become U+FFFD per byte; controls become \u00XX */
    assert_int_equal(
        xf_api_json_escape(&b, "\xc3\xa9\xf0\x9f\x98\x80|\xff|\xc0\xaf|\xed\xa0\x80|\xe2\x82|"
                               "\t\x01\x7f\\"),
        0);
    assert_string_equal(b.data, "\xc3\xa9\xf0\x9f\x98\x80|\\ufffd|\\ufffd\\ufffd|"
                                "\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd|\\u0009\\u0001\\u007f\\\\");
    xf_buf_close(&b);
}

/* ---- bearer tokens ------------------------------------------------------------------------- */

static void test_ct_equal_is_true_only_for_identical_bytes(void **state)
{
    assert_int_equal(xf_api_ct_equal("secret", 6, "secret", 6), 1);
    assert_int_equal(xf_api_ct_equal("", 0, "", 0), 1);
    assert_int_equal(xf_api_ct_equal("secret", 6, "secreT", 6), 0);
    assert_int_equal(xf_api_ct_equal("secret", 6, "Secret", 6), 0);
    /* different lengths, one a prefix of the other */
    assert_int_equal(xf_api_ct_equal("secret", 6, "secret2", 7), 0);
    assert_int_equal(xf_api_ct_equal("secret", 6, "secret", 5), 0);
    assert_int_equal(xf_api_ct_equal("a\0b", 3, "a\0c", 3), 0);
}

static void test_roles_parse_and_print(void **state)
{
    assert_int_equal(xf_api_role_parse("read"), XF_ROLE_READ);
    assert_int_equal(xf_api_role_parse("respond"), XF_ROLE_RESPOND);
    assert_int_equal(xf_api_role_parse("admin"), XF_ROLE_ADMIN);
    assert_int_equal(xf_api_role_parse("root"), -1);
    assert_int_equal(xf_api_role_parse(NULL), -1);
    assert_string_equal(xf_api_role_name(XF_ROLE_RESPOND), "respond");
}

static void test_auth_check_answers_401_403_or_the_actor(void **state)
{
    static const struct xf_api_token toks[] = {{"dash", XF_ROLE_READ, "tok-read"},
                                               {"soar", XF_ROLE_RESPOND, "tok-respond"}};
    struct xf_api_auth a;
    const char *actor = NULL;
    enum xf_api_role role;

    assert_int_equal(xf_api_auth_init(&a, toks, 2), 0);
    assert_int_equal(xf_api_auth_check(&a, NULL, XF_ROLE_READ, &actor, &role), 401);
    assert_null(actor);
    assert_int_equal(xf_api_auth_check(&a, "Bearer tok-rea", XF_ROLE_READ, &actor, &role), 401);
    assert_int_equal(xf_api_auth_check(&a, "Bearer tok-read", XF_ROLE_RESPOND, &actor, &role), 403);
    assert_string_equal(actor, "dash");
    assert_int_equal(xf_api_auth_check(&a, "Bearer tok-respond", XF_ROLE_READ, &actor, &role), 0);
    assert_string_equal(actor, "soar");
    assert_int_equal(role, XF_ROLE_RESPOND);
    assert_int_equal(xf_api_auth_check(&a, "Bearer tok-respond", XF_ROLE_ADMIN, &actor, &role),
                     403);
    /* a route needing nothing needs no header */
    assert_int_equal(xf_api_auth_check(&a, NULL, XF_ROLE_NONE, &actor, &role), 0);
    assert_null(actor);
    xf_api_auth_close(&a);
}

static void test_auth_without_tokens_refuses_every_protected_route(void **state)
{
    struct xf_api_auth a;
    const char *actor;
    enum xf_api_role role;

    assert_int_equal(xf_api_auth_init(&a, NULL, 0), 0);
    assert_int_equal(xf_api_auth_check(&a, "Bearer x", XF_ROLE_READ, &actor, &role), 401);
    xf_api_auth_close(&a);
}

static void test_auth_init_refuses_a_token_without_secret_or_role(void **state)
{
    static const struct xf_api_token no_secret[] = {{"a", XF_ROLE_READ, ""}};
    static const struct xf_api_token no_role[] = {{"a", XF_ROLE_NONE, "s"}};
    static const struct xf_api_token no_name[] = {{NULL, XF_ROLE_READ, "s"}};
    struct xf_api_auth a;

    assert_int_equal(xf_api_auth_init(&a, no_secret, 1), XF_EINVAL);
    assert_int_equal(xf_api_auth_init(&a, no_role, 1), XF_EINVAL);
    assert_int_equal(xf_api_auth_init(&a, no_name, 1), XF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_matches_literal_route),
        cmocka_unit_test(test_router_binds_params_in_order),
        cmocka_unit_test(test_router_prefers_literal_over_param_whatever_the_order),
        cmocka_unit_test(test_router_head_matches_get_routes),
        cmocka_unit_test(test_router_wrong_method_lists_allowed_methods),
        cmocka_unit_test(test_router_unknown_paths_are_not_found),
        cmocka_unit_test(test_router_rejects_malformed_patterns),
        cmocka_unit_test(test_router_rejects_a_route_that_could_never_win),
        cmocka_unit_test(test_router_init_frees_everything_when_allocation_fails),
        cmocka_unit_test(test_listen_parses_ipv4_host_and_port),
        cmocka_unit_test(test_listen_parses_bracketed_ipv6),
        cmocka_unit_test(test_listen_rejects_malformed_addresses),
        cmocka_unit_test(test_error_body_has_the_documented_shape),
        cmocka_unit_test(test_json_escape_replaces_invalid_utf8_and_controls),
        cmocka_unit_test(test_ct_equal_is_true_only_for_identical_bytes),
        cmocka_unit_test(test_roles_parse_and_print),
        cmocka_unit_test(test_auth_check_answers_401_403_or_the_actor),
        cmocka_unit_test(test_auth_without_tokens_refuses_every_protected_route),
        cmocka_unit_test(test_auth_init_refuses_a_token_without_secret_or_role),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
