/*
 * test_conn_crowdstrike.c - the CrowdStrike connector fed canned replies: exact requests
 * (method, URL, headers, body) and the step each reply leads to.
 *
 * The one thing to know: no network here; the connector is a pure state machine, so each test
 * plays the vendor by hand. The same flows run over real HTTP against tests/mockvendor.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connector.h"
#include "support.h"

#define T0 1700000000
#define BASE "http://cs.test"

static void base_conf(struct xf_connector_conf *c)
{
    fx_conf(c, "falcon", "crowdstrike");
    conf_add(c, "base_url", BASE "/");
    conf_add(c, "client_id", "cs-client");
    conf_add(c, "client_secret_env", "XF_TEST_CS_SECRET");
}

static int setup(void **state)
{
    struct fx *f = xf_calloc(1, sizeof(*f));

    setenv("XF_TEST_CS_SECRET", "s&cret", 1);
    base_conf(&f->conf);
    conf_dev(&f->conf, "WS-02", "aid2");
    fx_create(f);
    f->a.kind = XF_ACT_ISOLATE;
    snprintf(f->a.host, sizeof(f->a.host), "ws-01");
    *state = f;
    return 0;
}

#define H_JSON "Accept: application/json"
#define H_AUTH1 "Authorization: Bearer T1"

static void get_token(struct fx *f, int64_t now, const char *tok)
{
    expect_token(f, now, BASE "/oauth2/token", "client_id=cs-client&client_secret=s%26cret", 201,
                 1799, tok);
}

static void isolate_fetches_token_resolves_contains_and_polls_to_confirmed(void **state)
{
    struct fx *f = *state;

    get_token(f, T0, "T1");
    expect_req(f, T0, "GET", BASE "/devices/queries/devices/v1?filter=hostname%3A%27ws-01%27",
               H_AUTH1 "\n" H_JSON, "");
    assert_int_equal(f->rq.is_token, 0);
    reply(f, T0, 200, NULL, "{\"resources\":[\"aid1\"],\"errors\":[]}", XF_STEP_NEXT, NULL);
    assert_string_equal(f->a.device_id, "aid1");
    expect_req(f, T0, "POST", BASE "/devices/entities/devices-actions/v2?action_name=contain",
               H_AUTH1 "\nContent-Type: application/json\n" H_JSON, "{\"ids\":[\"aid1\"]}");
    reply(f, T0, 202, NULL, "{\"resources\":[{\"id\":\"aid1\"}],\"errors\":[]}", XF_STEP_POLL,
          NULL);
    assert_string_equal(f->a.remote_id, "aid1");
    expect_req(f, T0 + 2, "GET", BASE "/devices/entities/devices/v2?ids=aid1", H_AUTH1 "\n" H_JSON,
               "");
    reply(f, T0 + 2, 200, NULL, "{\"resources\":[{\"status\":\"containment_pending\"}]}",
          XF_STEP_POLL, NULL);
    expect_req(f, T0 + 4, "GET", BASE "/devices/entities/devices/v2?ids=aid1", H_AUTH1 "\n" H_JSON,
               "");
    reply(f, T0 + 4, 200, NULL, "{\"resources\":[{\"status\":\"contained\"}]}", XF_STEP_CONFIRMED,
          NULL);
}

static void release_uses_static_map_and_lift_containment_until_normal(void **state)
{
    struct fx *f = *state;

    f->a.kind = XF_ACT_RELEASE;
    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    get_token(f, T0, "T1");
    expect_req(f, T0, "POST",
               BASE "/devices/entities/devices-actions/v2?action_name=lift_containment",
               H_AUTH1 "\nContent-Type: application/json\n" H_JSON, "{\"ids\":[\"aid2\"]}");
    reply(f, T0, 202, NULL, "{\"resources\":[{\"id\":\"aid2\"}],\"errors\":[]}", XF_STEP_POLL,
          NULL);
    expect_req(f, T0, "GET", BASE "/devices/entities/devices/v2?ids=aid2", H_AUTH1 "\n" H_JSON, "");
    reply(f, T0, 200, NULL, "{\"resources\":[{\"status\":\"contained\"}]}", XF_STEP_POLL, NULL);
    expect_req(f, T0, "GET", BASE "/devices/entities/devices/v2?ids=aid2", H_AUTH1 "\n" H_JSON, "");
    reply(f, T0, 200, NULL, "{\"resources\":[{\"status\":\"normal\"}]}", XF_STEP_CONFIRMED, NULL);
}

static void already_contained_409_checks_status_and_confirms(void **state)
{
    struct fx *f = *state;

    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    get_token(f, T0, "T1");
    expect_req(f, T0, "POST", BASE "/devices/entities/devices-actions/v2?action_name=contain",
               H_AUTH1 "\nContent-Type: application/json\n" H_JSON, "{\"ids\":[\"aid2\"]}");
    reply(f, T0, 409, NULL, "{\"errors\":[{\"code\":409,\"message\":\"already contained\"}]}",
          XF_STEP_NEXT, NULL);
    expect_req(f, T0, "GET", BASE "/devices/entities/devices/v2?ids=aid2", H_AUTH1 "\n" H_JSON, "");
    reply(f, T0, 200, NULL, "{\"resources\":[{\"status\":\"contained\"}]}", XF_STEP_CONFIRMED,
          NULL);
}

static void rate_limited_429_retries_after_retry_after_or_falcon_header(void **state)
{
    struct fx *f = *state;
    struct xf_conn_outcome out;

    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    get_token(f, T0, "T1");
    expect_req(f, T0, "POST", BASE "/devices/entities/devices-actions/v2?action_name=contain",
               H_AUTH1 "\nContent-Type: application/json\n" H_JSON, "{\"ids\":[\"aid2\"]}");
    reply(f, T0, 429, "Retry-After: 7", "{}", XF_STEP_RETRY, &out);
    assert_int_equal(out.retry_after_ms, 7000);
    assert_int_equal(f->a.phase, 0);
    expect_req(f, T0, "POST", BASE "/devices/entities/devices-actions/v2?action_name=contain",
               H_AUTH1 "\nContent-Type: application/json\n" H_JSON, "{\"ids\":[\"aid2\"]}");
    reply(f, T0, 429, "X-RateLimit-RetryAfter: 1700000012", "{}", XF_STEP_RETRY, &out);
    assert_int_equal(out.retry_after_ms, 12000);
}

static void server_error_500_and_no_answer_retry(void **state)
{
    struct fx *f = *state;
    struct xf_conn_outcome out;

    get_token(f, T0, "T1");
    expect_req(f, T0, "GET", BASE "/devices/queries/devices/v1?filter=hostname%3A%27ws-01%27",
               H_AUTH1 "\n" H_JSON, "");
    reply(f, T0, 500, NULL, "oops", XF_STEP_RETRY, &out);
    assert_int_equal(out.retry_after_ms, 0);
    expect_req(f, T0, "GET", BASE "/devices/queries/devices/v1?filter=hostname%3A%27ws-01%27",
               H_AUTH1 "\n" H_JSON, "");
    reply(f, T0, 0, NULL, NULL, XF_STEP_RETRY, &out);
    assert_string_equal(out.why, "no answer: connection refused");
}

static void bad_request_400_fails(void **state)
{
    struct fx *f = *state;
    struct xf_conn_outcome out;

    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    get_token(f, T0, "T1");
    expect_req(f, T0, "POST", BASE "/devices/entities/devices-actions/v2?action_name=contain",
               H_AUTH1 "\nContent-Type: application/json\n" H_JSON, "{\"ids\":[\"aid2\"]}");
    reply(f, T0, 400, NULL, "{\"errors\":[{\"code\":400,\"message\":\"invalid id\"}]}",
          XF_STEP_FAILED, &out);
    assert_non_null(strstr(out.why, "HTTP 400"));
}

static void token_is_reused_until_60s_before_expiry(void **state)
{
    struct fx *f = *state;

    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    get_token(f, T0, "T1");
    expect_req(f, T0 + 1738, "POST",
               BASE "/devices/entities/devices-actions/v2?action_name=contain",
               H_AUTH1 "\nContent-Type: application/json\n" H_JSON, "{\"ids\":[\"aid2\"]}");
    reply(f, T0 + 1738, 202, NULL, "{\"resources\":[{\"id\":\"aid2\"}]}", XF_STEP_POLL, NULL);
    /* 1799 - 60 = 1739 s after the fetch, the token is refetched before polling */
    get_token(f, T0 + 1739, "T2");
    expect_req(f, T0 + 1739, "GET", BASE "/devices/entities/devices/v2?ids=aid2",
               "Authorization: Bearer T2\n" H_JSON, "");
}

static void unauthorized_401_drops_token_refetches_once_then_fails(void **state)
{
    struct fx *f = *state;
    struct xf_conn_outcome out;

    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    get_token(f, T0, "T1");
    expect_req(f, T0, "POST", BASE "/devices/entities/devices-actions/v2?action_name=contain",
               H_AUTH1 "\nContent-Type: application/json\n" H_JSON, "{\"ids\":[\"aid2\"]}");
    reply(f, T0, 401, NULL, "{}", XF_STEP_NEXT, NULL);
    get_token(f, T0, "T3");
    expect_req(f, T0, "POST", BASE "/devices/entities/devices-actions/v2?action_name=contain",
               "Authorization: Bearer T3\nContent-Type: application/json\n" H_JSON,
               "{\"ids\":[\"aid2\"]}");
    reply(f, T0, 401, NULL, "{}", XF_STEP_FAILED, &out);
    assert_string_equal(out.why, "HTTP 401 again with a fresh token");
}

static void refused_credentials_fail_without_echoing_the_body(void **state)
{
    struct fx *f = *state;
    struct xf_conn_outcome out;

    expect_req(f, T0, "POST", BASE "/oauth2/token",
               "Content-Type: application/x-www-form-urlencoded\n" H_JSON,
               "client_id=cs-client&client_secret=s%26cret");
    reply(f, T0, 403, NULL, "{\"echo\":\"s&cret\"}", XF_STEP_FAILED, &out);
    assert_string_equal(out.why, "crowdstrike falcon: token refused (HTTP 403)");
}

static void unknown_host_fails(void **state)
{
    struct fx *f = *state;
    struct xf_conn_outcome out;

    snprintf(f->a.host, sizeof(f->a.host), "o'brien");
    get_token(f, T0, "T1");
    expect_req(f, T0, "GET",
               BASE "/devices/queries/devices/v1?filter=hostname%3A%27o%5C%27brien%27",
               H_AUTH1 "\n" H_JSON, "");
    reply(f, T0, 200, NULL, "{\"resources\":[],\"errors\":[]}", XF_STEP_FAILED, &out);
    assert_string_equal(out.why, "unknown host o'brien: no Falcon device");
}

static void secret_in_config_and_unknown_keys_are_refused(void **state)
{
    struct xf_connector_conf c;
    const struct xf_connector_ops *ops = xf_connector_find("crowdstrike");
    char why[256] = "";
    void *st = NULL;

    (void)state;
    base_conf(&c);
    conf_add(&c, "client_secret", "plain");
    assert_int_equal(ops->create(&c, &st, why, sizeof(why)), XF_ECONFIG);
    assert_null(st);
    assert_non_null(strstr(why, "must not be written in the config"));
    conf_free(&c);
    base_conf(&c);
    conf_add(&c, "clientid", "typo");
    assert_int_equal(ops->create(&c, &st, why, sizeof(why)), XF_ECONFIG);
    assert_string_equal(why, "connector falcon: unknown key clientid for type crowdstrike");
    conf_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            isolate_fetches_token_resolves_contains_and_polls_to_confirmed, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(release_uses_static_map_and_lift_containment_until_normal,
                                        setup, fx_teardown),
        cmocka_unit_test_setup_teardown(already_contained_409_checks_status_and_confirms, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(rate_limited_429_retries_after_retry_after_or_falcon_header,
                                        setup, fx_teardown),
        cmocka_unit_test_setup_teardown(server_error_500_and_no_answer_retry, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(bad_request_400_fails, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(token_is_reused_until_60s_before_expiry, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(unauthorized_401_drops_token_refetches_once_then_fails,
                                        setup, fx_teardown),
        cmocka_unit_test_setup_teardown(refused_credentials_fail_without_echoing_the_body, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(unknown_host_fails, setup, fx_teardown),
        cmocka_unit_test(secret_in_config_and_unknown_keys_are_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
