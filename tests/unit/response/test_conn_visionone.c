/*
 * test_conn_visionone.c - the Vision One connector fed canned replies: the exact requests it
 * builds (array body, bearer key, the Operation-Location it polls) and the step each reply
 * leads to (207 entries, task states, 429 / 5xx / 4xx).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connector.h"
#include "support.h"

extern const struct xf_connector_ops xf_conn_visionone;

#define BASE "https://api.xdr.example.com"
#define TASK BASE "/v3.0/xdr/response/tasks/00000001"

static int setup(void **state)
{
    struct fx *f = fx_open("v1", "visionone");

    setenv("XF_TEST_V1_TOKEN", "tok-v1", 1);
    conf_add(&f->conf, "base_url", BASE "/");
    conf_add(&f->conf, "token_env", "XF_TEST_V1_TOKEN");
    conf_dev(&f->conf, "ws-017.corp.example", "guid-017");
    fx_create(f);
    snprintf(f->a.id, sizeof(f->a.id), "act-0123456789abcdef");
    f->a.kind = XF_ACT_ISOLATE;
    snprintf(f->a.host, sizeof(f->a.host), "ws-017.corp.example");
    snprintf(f->a.reason, sizeof(f->a.reason), "incident inc-1 critical");
    f->ctx.now_s = 1700000000;
    *state = f;
    return 0;
}

static const char accepted[] =
    "[{\"status\":202,\"headers\":[{\"name\":\"Operation-Location\",\"value\":\"" TASK "\"}]}]";

static void test_isolate_posts_array_then_polls_operation_location_to_confirmed(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_string_equal(f->rq.method, "POST");
    assert_string_equal(f->rq.url, BASE "/v3.0/response/endpoints/isolate");
    assert_int_equal(f->rq.n_headers, 2);
    assert_string_equal(f->rq.headers[0], "Authorization: Bearer tok-v1");
    assert_string_equal(f->rq.headers[1], "Content-Type: application/json;charset=utf-8");
    assert_string_equal(f->rq.body.data, "[{\"agentGuid\":\"guid-017\",\"description\":"
                                         "\"xdrflow act-0123456789abcdef: incident inc-1 "
                                         "critical\"}]");
    assert_int_equal(fx_reply(f, 207, NULL, accepted), XF_STEP_POLL);
    assert_string_equal(f->a.remote_id, TASK);
    assert_string_equal(f->a.device_id, "guid-017");
    assert_int_equal(f->a.phase, 1);

    fx_next(f);
    assert_string_equal(f->rq.method, "GET");
    assert_string_equal(f->rq.url, TASK);
    assert_int_equal(f->rq.n_headers, 1);
    assert_string_equal(f->rq.headers[0], "Authorization: Bearer tok-v1");
    assert_int_equal(f->rq.body.len, 0);
    assert_int_equal(fx_reply(f, 200, NULL, "{\"id\":\"00000001\",\"status\":\"queued\"}"),
                     XF_STEP_POLL);
    assert_int_equal(fx_reply(f, 200, NULL, "{\"id\":\"00000001\",\"status\":\"running\"}"),
                     XF_STEP_POLL);
    assert_int_equal(fx_reply(f, 200, NULL, "{\"id\":\"00000001\",\"status\":\"succeeded\"}"),
                     XF_STEP_CONFIRMED);
}

static void test_release_of_unmapped_host_posts_restore_by_endpoint_name(void **state)
{
    struct fx *f = *state;

    f->a.kind = XF_ACT_RELEASE;
    snprintf(f->a.host, sizeof(f->a.host), "ws-020");
    f->a.reason[0] = '\0';
    fx_next(f);
    assert_string_equal(f->rq.url, BASE "/v3.0/response/endpoints/restore");
    assert_string_equal(f->rq.body.data, "[{\"endpointName\":\"ws-020\",\"description\":"
                                         "\"xdrflow act-0123456789abcdef: restore\"}]");
    assert_int_equal(fx_reply(f, 207, NULL, accepted), XF_STEP_POLL);
}

static void test_entry_already_isolated_counts_as_confirmed(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 207, NULL,
                              "[{\"status\":400,\"body\":{\"error\":{\"code\":\"BadRequest\","
                              "\"message\":\"Endpoint is already isolated\"}}}]"),
                     XF_STEP_CONFIRMED);
    assert_string_equal(f->a.remote_id, "");
}

static void test_207_with_a_failed_entry_is_failed_with_its_error(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 207, NULL,
                              "[{\"status\":404,\"body\":{\"error\":{\"code\":\"NotFound\","
                              "\"message\":\"Endpoint not found\"}}}]"),
                     XF_STEP_FAILED);
    assert_string_equal(f->oc.why, "endpoint status 404: NotFound: Endpoint not found");
}

static void test_207_entry_500_is_retry(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 207, NULL, "[{\"status\":500}]"), XF_STEP_RETRY);
}

static void test_429_is_retry_after_the_vendor_delay(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(
        fx_reply(f, 429, "Retry-After: 7", "{\"error\":{\"code\":\"TooManyRequests\"}}"),
        XF_STEP_RETRY);
    assert_int_equal(f->oc.retry_after_ms, 7000);
}

static void test_500_and_no_answer_are_retry(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 500, NULL, "oops"), XF_STEP_RETRY);
    assert_int_equal(f->oc.retry_after_ms, 0);
    assert_int_equal(fx_reply(f, 0, NULL, NULL), XF_STEP_RETRY);
}

static void test_401_is_failed(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 401, NULL, "{\"error\":{\"code\":\"Unauthorized\"}}"),
                     XF_STEP_FAILED);
}

static void test_poll_url_on_another_host_is_refused(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 207, NULL,
                              "[{\"status\":202,\"headers\":[{\"name\":\"Operation-Location\","
                              "\"value\":\"https://evil.example/v3.0/response/tasks/1\"}]}]"),
                     XF_STEP_FAILED);
    assert_string_equal(f->a.remote_id, "");
}

static void test_task_failed_is_retry_from_the_start_and_rejected_is_failed(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 207, NULL, accepted), XF_STEP_POLL);
    fx_next(f);
    assert_int_equal(fx_reply(f, 503, NULL, "busy"), XF_STEP_POLL); /* still the same task */
    assert_int_equal(fx_reply(f, 200, NULL, "{\"status\":\"failed\"}"), XF_STEP_RETRY);
    assert_int_equal(f->a.phase, 0);
    assert_string_equal(f->a.remote_id, "");
    fx_next(f);
    assert_string_equal(f->rq.method, "POST");
    assert_int_equal(fx_reply(f, 207, NULL, accepted), XF_STEP_POLL);
    assert_int_equal(fx_reply(f, 200, NULL, "{\"status\":\"rejected\"}"), XF_STEP_FAILED);
}

static void test_config_refuses_a_literal_token_and_unknown_keys(void **state)
{
    struct xf_connector_conf c;
    void *st = NULL;
    char why[256];

    (void)state;
    fx_conf(&c, "v1", "visionone");
    conf_add(&c, "base_url", BASE);
    conf_add(&c, "token", "plain");
    assert_int_equal(xf_conn_visionone.create(&c, &st, why, sizeof(why)), XF_ECONFIG);
    assert_non_null(strstr(why, "must not be written in the config"));
    conf_free(&c);
    fx_conf(&c, "v1", "visionone");
    conf_add(&c, "base_url", BASE);
    conf_add(&c, "token_env", "XF_TEST_V1_TOKEN");
    conf_add(&c, "tenant", "x");
    assert_int_equal(xf_conn_visionone.create(&c, &st, why, sizeof(why)), XF_ECONFIG);
    assert_string_equal(why, "connector v1: unknown key 'tenant' for type visionone");
    assert_null(st);
    conf_free(&c);
}

static void test_table_has_the_visionone_row(void **state)
{
    (void)state;
    assert_ptr_equal(xf_connector_find("visionone"), &xf_conn_visionone);
    assert_int_equal(xf_conn_visionone.kinds, 1u << XF_ACT_ISOLATE | 1u << XF_ACT_RELEASE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_isolate_posts_array_then_polls_operation_location_to_confirmed, setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_release_of_unmapped_host_posts_restore_by_endpoint_name, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_entry_already_isolated_counts_as_confirmed, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_207_with_a_failed_entry_is_failed_with_its_error,
                                        setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_207_entry_500_is_retry, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_429_is_retry_after_the_vendor_delay, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_500_and_no_answer_are_retry, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_401_is_failed, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_poll_url_on_another_host_is_refused, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_task_failed_is_retry_from_the_start_and_rejected_is_failed, setup, fx_teardown),
        cmocka_unit_test(test_config_refuses_a_literal_token_and_unknown_keys),
        cmocka_unit_test(test_table_has_the_visionone_row),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
