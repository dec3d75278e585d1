/*
 * test_conn_sentinelone.c - the SentinelOne connector fed canned replies: exact requests and
 * the step each reply leads to.
 *
 * The one thing to know: the safety tests matter most here. A SentinelOne action hits every
 * agent its filter matches, so the connector must refuse to build a request without exactly
 * one well-formed id, and fail unless data.affected is exactly 1.
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
#define BASE "http://s1.test"

static void base_conf(struct xf_connector_conf *c)
{
    fx_conf(c, "s1", "sentinelone");
    conf_add(c, "base_url", BASE "/");
    conf_add(c, "token_env", "XF_TEST_S1_TOKEN");
}

static int setup(void **state)
{
    struct fx *f = xf_calloc(1, sizeof(*f));

    setenv("XF_TEST_S1_TOKEN", "tok", 1);
    base_conf(&f->conf);
    conf_dev(&f->conf, "WS-02", "22");
    fx_create(f);
    f->a.kind = XF_ACT_ISOLATE;
    snprintf(f->a.host, sizeof(f->a.host), "ws-01");
    *state = f;
    return 0;
}

#define H_GET "Authorization: ApiToken tok\nAccept: application/json"
#define H_POST H_GET "\nContent-Type: application/json"
#define AGENTS BASE "/web/api/v2.1/agents"
#define DISCONNECT BASE "/web/api/v2.1/agents/actions/disconnect"

static void isolate_checks_agent_disconnects_one_id_and_polls_to_disconnected(void **state)
{
    struct fx *f = *state;

    expect_req(f, T0, "GET", AGENTS "?computerName=ws-01", H_GET, "");
    reply(f, T0, 200, NULL,
          "{\"data\":[{\"id\":\"11\",\"computerName\":\"WS-01\",\"networkStatus\":"
          "\"connected\"}]}",
          XF_STEP_NEXT, NULL);
    assert_string_equal(f->a.device_id, "11");
    expect_req(f, T0, "POST", DISCONNECT, H_POST, "{\"filter\":{\"ids\":[\"11\"]},\"data\":{}}");
    reply(f, T0, 200, NULL, "{\"data\":{\"affected\":1}}", XF_STEP_POLL, NULL);
    assert_string_equal(f->a.remote_id, "11");
    expect_req(f, T0, "GET", AGENTS "?ids=11", H_GET, "");
    reply(f, T0, 200, NULL, "{\"data\":[{\"id\":\"11\",\"networkStatus\":\"disconnecting\"}]}",
          XF_STEP_POLL, NULL);
    expect_req(f, T0, "GET", AGENTS "?ids=11", H_GET, "");
    reply(f, T0, 200, NULL, "{\"data\":[{\"id\":\"11\",\"networkStatus\":\"disconnected\"}]}",
          XF_STEP_CONFIRMED, NULL);
}

static void release_uses_static_map_and_connect_until_connected(void **state)
{
    struct fx *f = *state;

    f->a.kind = XF_ACT_RELEASE;
    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    expect_req(f, T0, "GET", AGENTS "?ids=22", H_GET, "");
    reply(f, T0, 200, NULL, "{\"data\":[{\"id\":\"22\",\"networkStatus\":\"disconnected\"}]}",
          XF_STEP_NEXT, NULL);
    expect_req(f, T0, "POST", BASE "/web/api/v2.1/agents/actions/connect", H_POST,
               "{\"filter\":{\"ids\":[\"22\"]},\"data\":{}}");
    reply(f, T0, 200, NULL, "{\"data\":{\"affected\":1}}", XF_STEP_POLL, NULL);
    expect_req(f, T0, "GET", AGENTS "?ids=22", H_GET, "");
    reply(f, T0, 200, NULL, "{\"data\":[{\"id\":\"22\",\"networkStatus\":\"connected\"}]}",
          XF_STEP_CONFIRMED, NULL);
}

static void already_disconnected_confirms_without_sending(void **state)
{
    struct fx *f = *state;
    struct xf_conn_outcome out;

    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    expect_req(f, T0, "GET", AGENTS "?ids=22", H_GET, "");
    reply(f, T0, 200, NULL, "{\"data\":[{\"id\":\"22\",\"networkStatus\":\"disconnected\"}]}",
          XF_STEP_CONFIRMED, &out);
    assert_string_equal(out.why, "agent 22 is disconnected");
}

static void affected_zero_or_many_fails(void **state)
{
    struct fx *f = *state;
    struct xf_conn_outcome out;

    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    snprintf(f->a.device_id, sizeof(f->a.device_id), "22");
    f->a.phase = 1;
    expect_req(f, T0, "POST", DISCONNECT, H_POST, "{\"filter\":{\"ids\":[\"22\"]},\"data\":{}}");
    reply(f, T0, 200, NULL, "{\"data\":{\"affected\":0}}", XF_STEP_FAILED, &out);
    assert_string_equal(out.why, "no agent affected (id 22)");
    expect_req(f, T0, "POST", DISCONNECT, H_POST, "{\"filter\":{\"ids\":[\"22\"]},\"data\":{}}");
    reply(f, T0, 200, NULL, "{\"data\":{\"affected\":3}}", XF_STEP_FAILED, &out);
    assert_string_equal(out.why, "3 agents affected by a one-id filter (id 22)");
    expect_req(f, T0, "POST", DISCONNECT, H_POST, "{\"filter\":{\"ids\":[\"22\"]},\"data\":{}}");
    reply(f, T0, 200, NULL, "{\"data\":{}}", XF_STEP_FAILED, &out);
    assert_string_equal(out.why, "no data.affected in the answer");
}

static void empty_or_list_id_is_never_sent(void **state)
{
    struct fx *f = *state;
    struct xf_conn_ctx ctx = {.now_s = T0};
    struct xf_conn_outcome out;
    static const char *const bad[] = {"", "1,2", "*", "1 2"};

    f->a.phase = 1;
    for (size_t i = 0; i < XF_ARRAY_LEN(bad); i++) {
        snprintf(f->a.device_id, sizeof(f->a.device_id), "%s", bad[i]);
        xf_conn_request_reset(&f->rq);
        assert_int_equal(f->ops->next(f->st, &f->a, &ctx, &f->rq), XF_EINVAL);
        assert_null(f->rq.url);
        assert_int_equal(f->rq.body.len, 0);
    }
    /* an agent answer with an empty id never becomes the device id */
    f->a.phase = 0;
    f->a.device_id[0] = '\0';
    expect_req(f, T0, "GET", AGENTS "?computerName=ws-01", H_GET, "");
    reply(f, T0, 200, NULL,
          "{\"data\":[{\"id\":\"\",\"computerName\":\"ws-01\",\"networkStatus\":"
          "\"connected\"}]}",
          XF_STEP_FAILED, &out);
    assert_string_equal(out.why, "agent answer without a usable id for ws-01");
    assert_string_equal(f->a.device_id, "");
}

static void rate_limited_429_and_500_retry_from_the_check_401_fails(void **state)
{
    struct fx *f = *state;
    struct xf_conn_outcome out;

    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    snprintf(f->a.device_id, sizeof(f->a.device_id), "22");
    f->a.phase = 1;
    expect_req(f, T0, "POST", DISCONNECT, H_POST, "{\"filter\":{\"ids\":[\"22\"]},\"data\":{}}");
    reply(f, T0, 429, "Retry-After: 4", "{}", XF_STEP_RETRY, &out);
    assert_int_equal(out.retry_after_ms, 4000);
    assert_int_equal(f->a.phase, 0);
    expect_req(f, T0, "GET", AGENTS "?ids=22", H_GET, "");
    reply(f, T0, 500, NULL, "{}", XF_STEP_RETRY, &out);
    expect_req(f, T0, "GET", AGENTS "?ids=22", H_GET, "");
    reply(f, T0, 401, NULL, "{\"errors\":[]}", XF_STEP_FAILED, &out);
    assert_string_equal(out.why, "HTTP 401: {\"errors\":[]}");
}

static void unknown_or_misnamed_host_fails(void **state)
{
    struct fx *f = *state;
    struct xf_conn_outcome out;

    expect_req(f, T0, "GET", AGENTS "?computerName=ws-01", H_GET, "");
    reply(f, T0, 200, NULL, "{\"data\":[]}", XF_STEP_FAILED, &out);
    assert_string_equal(out.why, "unknown host ws-01: no SentinelOne agent");
    expect_req(f, T0, "GET", AGENTS "?computerName=ws-01", H_GET, "");
    reply(f, T0, 200, NULL,
          "{\"data\":[{\"id\":\"9\",\"computerName\":\"ws-011\",\"networkStatus\":"
          "\"connected\"}]}",
          XF_STEP_FAILED, &out);
    assert_string_equal(out.why, "agent 9 is named ws-011, not ws-01");
}

static void config_needs_base_url_a_token_secret_and_single_ids(void **state)
{
    struct xf_connector_conf c;
    const struct xf_connector_ops *ops = xf_connector_find("sentinelone");
    char why[256] = "";
    void *st = NULL;

    (void)state;
    base_conf(&c);
    conf_add(&c, "token", "plain");
    assert_int_equal(ops->create(&c, &st, why, sizeof(why)), XF_ECONFIG);
    assert_non_null(strstr(why, "must not be written in the config"));
    conf_free(&c);
    base_conf(&c);
    conf_dev(&c, "ws-09", "");
    assert_int_equal(ops->create(&c, &st, why, sizeof(why)), XF_ECONFIG);
    assert_string_equal(why, "connector s1: device id of ws-09 must be one agent id");
    conf_free(&c);
    memset(&c, 0, sizeof(c));
    c.name = xf_strdup("s1");
    conf_add(&c, "token_env", "XF_TEST_S1_TOKEN");
    assert_int_equal(ops->create(&c, &st, why, sizeof(why)), XF_ECONFIG);
    assert_string_equal(why, "connector s1: base_url (the console URL) is required");
    assert_null(st);
    conf_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            isolate_checks_agent_disconnects_one_id_and_polls_to_disconnected, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(release_uses_static_map_and_connect_until_connected, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(already_disconnected_confirms_without_sending, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(affected_zero_or_many_fails, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(empty_or_list_id_is_never_sent, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(rate_limited_429_and_500_retry_from_the_check_401_fails,
                                        setup, fx_teardown),
        cmocka_unit_test_setup_teardown(unknown_or_misnamed_host_fails, setup, fx_teardown),
        cmocka_unit_test(config_needs_base_url_a_token_secret_and_single_ids),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
