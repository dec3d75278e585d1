/*
 * test_conn_cortex.c - the Cortex XDR connector fed canned replies: exact requests (pre-check,
 * isolate, action status), the steps replies lead to (already isolated, the HTTP 500 Cortex
 * gives for an endpoint already isolated, 429 / 5xx / 4xx) and the advanced-key hash.
 *
 * RAND_bytes is replaced below, so the advanced key's nonce is known and its Authorization
 * header can be compared with a vector computed outside this code base:
 *   printf %s cortex-key ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789AB \
 *       1700000000000 | sha256sum
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

extern const struct xf_connector_ops xf_conn_cortex;

/* The first byte is one the connector must draw again (>= 248: it would bias the nonce); the
 * rest count 0, 1, 2, ... so the nonce is the alphabet in order. */
int RAND_bytes(unsigned char *buf, int num);
int RAND_bytes(unsigned char *buf, int num)
{
    for (int i = 0; i < num; i++)
        buf[i] = i == 0 ? 255 : (unsigned char)(i - 1);
    return 1;
}

#define BASE "https://api-t.xdr.example.com"
#define GET_EP BASE "/public_api/v1/endpoints/get_endpoint"
#define STATUS BASE "/public_api/v1/actions/get_action_status"

static int setup_mode(void **state, const char *auth_type)
{
    struct fx *f = fx_open("cx", "cortex");

    setenv("XF_TEST_CX_KEY", "cortex-key", 1);
    conf_add(&f->conf, "base_url", BASE);
    conf_add(&f->conf, "key_env", "XF_TEST_CX_KEY");
    conf_add(&f->conf, "key_id", "7");
    if (auth_type)
        conf_add(&f->conf, "auth_type", auth_type);
    conf_dev(&f->conf, "ws-017.corp.example", "ep-017");
    fx_create(f);
    snprintf(f->a.id, sizeof(f->a.id), "act-0123456789abcdef");
    f->a.kind = XF_ACT_ISOLATE;
    snprintf(f->a.host, sizeof(f->a.host), "ws-017.corp.example");
    f->ctx.now_s = 1700000000;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_mode(state, NULL);
}

static int setup_advanced(void **state)
{
    return setup_mode(state, "advanced");
}

static void assert_standard_headers(const struct xf_conn_request *rq)
{
    assert_int_equal(rq->n_headers, 3);
    assert_string_equal(rq->headers[0], "Authorization: cortex-key");
    assert_string_equal(rq->headers[1], "x-xdr-auth-id: 7");
    assert_string_equal(rq->headers[2], "Content-Type: application/json");
}

#define EP(id, iso)                                                                                \
    "{\"reply\":{\"total_count\":1,\"result_count\":1,\"endpoints\":[{\"endpoint_id\":\"" id       \
    "\",\"endpoint_name\":\"ws\",\"endpoint_status\":\"CONNECTED\",\"is_isolated\":\"" iso         \
    "\"}]}}"
#define GOTCHA                                                                                     \
    "{\"reply\":{\"err_code\":500,\"err_msg\":\"An error occurred while processing XDR public "    \
    "API\",\"err_extra\":\"No endpoint was found for creating the requested action, can't "        \
    "create group action id for ISOLATE\"}}"

static void test_isolate_prechecks_sends_and_polls_to_completed(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_string_equal(f->rq.method, "POST");
    assert_string_equal(f->rq.url, GET_EP);
    assert_standard_headers(&f->rq);
    assert_string_equal(f->rq.body.data,
                        "{\"request_data\":{\"filters\":[{\"field\":\"endpoint_id_list\","
                        "\"operator\":\"in\",\"value\":[\"ep-017\"]}]}}");
    assert_int_equal(fx_reply(f, 200, NULL, EP("ep-017", "AGENT_UNISOLATED")), XF_STEP_NEXT);
    assert_int_equal(f->a.phase, 1);

    fx_next(f);
    assert_string_equal(f->rq.url, BASE "/public_api/v1/endpoints/isolate");
    assert_standard_headers(&f->rq);
    assert_string_equal(f->rq.body.data, "{\"request_data\":{\"endpoint_id\":\"ep-017\"}}");
    assert_int_equal(fx_reply(f, 200, NULL, "{\"reply\":{\"action_id\":42,\"endpoints_count\":1}}"),
                     XF_STEP_POLL);
    assert_string_equal(f->a.remote_id, "42");

    fx_next(f);
    assert_string_equal(f->rq.url, STATUS);
    assert_standard_headers(&f->rq);
    assert_string_equal(f->rq.body.data, "{\"request_data\":{\"group_action_id\":42}}");
    assert_int_equal(fx_reply(f, 200, NULL, "{\"reply\":{\"data\":{\"ep-017\":\"PENDING\"}}}"),
                     XF_STEP_POLL);
    assert_int_equal(fx_reply(f, 200, NULL, "{\"reply\":{\"data\":{\"ep-017\":\"IN_PROGRESS\"}}}"),
                     XF_STEP_POLL);
    assert_int_equal(
        fx_reply(f, 200, NULL, "{\"reply\":{\"data\":{\"ep-017\":\"COMPLETED_SUCCESSFULLY\"}}}"),
        XF_STEP_CONFIRMED);
}

static void test_release_of_unmapped_host_resolves_by_hostname_then_unisolates(void **state)
{
    struct fx *f = *state;

    f->a.kind = XF_ACT_RELEASE;
    snprintf(f->a.host, sizeof(f->a.host), "ws-020");
    fx_next(f);
    assert_string_equal(f->rq.body.data, "{\"request_data\":{\"filters\":[{\"field\":\"hostname\","
                                         "\"operator\":\"in\",\"value\":[\"ws-020\"]}]}}");
    assert_int_equal(fx_reply(f, 200, NULL, EP("ep-020", "AGENT_ISOLATED")), XF_STEP_NEXT);
    assert_string_equal(f->a.device_id, "ep-020");
    fx_next(f);
    assert_string_equal(f->rq.url, BASE "/public_api/v1/endpoints/unisolate");
    assert_string_equal(f->rq.body.data, "{\"request_data\":{\"endpoint_id\":\"ep-020\"}}");
}

static void test_precheck_already_isolated_confirms_without_sending(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 200, NULL, EP("ep-017", "AGENT_ISOLATED")), XF_STEP_CONFIRMED);
    assert_int_equal(f->a.phase, 0);
    assert_string_equal(f->a.remote_id, "");
    assert_string_equal(f->oc.why, "endpoint ep-017 already isolated");
}

static void test_precheck_pending_isolation_polls_the_precheck(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 200, NULL, EP("ep-017", "AGENT_PENDING_ISOLATION")), XF_STEP_POLL);
    assert_int_equal(f->a.phase, 0);
    fx_next(f);
    assert_string_equal(f->rq.url, GET_EP);
}

static void test_500_cannot_create_group_action_rechecks_and_confirms(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 200, NULL, EP("ep-017", "AGENT_UNISOLATED")), XF_STEP_NEXT);
    fx_next(f);
    assert_int_equal(fx_reply(f, 500, NULL, GOTCHA), XF_STEP_NEXT);
    assert_int_equal(f->a.phase, 3);
    fx_next(f);
    assert_string_equal(f->rq.url, GET_EP);
    assert_int_equal(fx_reply(f, 200, NULL, EP("ep-017", "AGENT_ISOLATED")), XF_STEP_CONFIRMED);
}

static void test_500_gotcha_with_endpoint_still_unisolated_is_retry_not_a_loop(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 200, NULL, EP("ep-017", "AGENT_UNISOLATED")), XF_STEP_NEXT);
    fx_next(f);
    assert_int_equal(fx_reply(f, 500, NULL, GOTCHA), XF_STEP_NEXT);
    fx_next(f);
    assert_int_equal(fx_reply(f, 200, NULL, EP("ep-017", "AGENT_UNISOLATED")), XF_STEP_RETRY);
    assert_int_equal(f->a.phase, 0);
}

static void test_unknown_or_ambiguous_host_is_failed(void **state)
{
    struct fx *f = *state;

    snprintf(f->a.host, sizeof(f->a.host), "ws-404");
    fx_next(f);
    assert_int_equal(
        fx_reply(f, 200, NULL,
                 "{\"reply\":{\"total_count\":0,\"result_count\":0,\"endpoints\":[]}}"),
        XF_STEP_FAILED);
    assert_string_equal(f->oc.why, "get_endpoint: 0 endpoints match ws-404");
    assert_int_equal(fx_reply(f, 200, NULL,
                              "{\"reply\":{\"endpoints\":[{\"endpoint_id\":\"a\"},"
                              "{\"endpoint_id\":\"b\"}]}}"),
                     XF_STEP_FAILED);
    assert_string_equal(f->a.device_id, "");
}

static void test_429_is_retry_after_the_vendor_delay(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 429, "Retry-After: 30", "{}"), XF_STEP_RETRY);
    assert_int_equal(f->oc.retry_after_ms, 30000);
}

static void test_other_500_is_retry_and_401_is_failed(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 200, NULL, EP("ep-017", "AGENT_UNISOLATED")), XF_STEP_NEXT);
    fx_next(f);
    assert_int_equal(fx_reply(f, 500, NULL, "{\"reply\":{\"err_msg\":\"internal\"}}"),
                     XF_STEP_RETRY);
    assert_int_equal(fx_reply(f, 401, NULL,
                              "{\"reply\":{\"err_msg\":\"Public API request "
                              "unauthorized\"}}"),
                     XF_STEP_FAILED);
}

static void test_action_failed_is_retry_and_canceled_is_failed(void **state)
{
    struct fx *f = *state;

    f->a.phase = 2;
    snprintf(f->a.device_id, sizeof(f->a.device_id), "ep-017");
    snprintf(f->a.remote_id, sizeof(f->a.remote_id), "42");
    assert_int_equal(fx_reply(f, 200, NULL, "{\"reply\":{\"data\":{\"ep-017\":\"FAILED\"}}}"),
                     XF_STEP_RETRY);
    assert_int_equal(f->a.phase, 0);
    f->a.phase = 2;
    snprintf(f->a.remote_id, sizeof(f->a.remote_id), "43");
    assert_int_equal(fx_reply(f, 200, NULL, "{\"reply\":{\"data\":{\"ep-017\":\"CANCELED\"}}}"),
                     XF_STEP_FAILED);
    assert_string_equal(f->oc.why, "action 43: CANCELED");
}

static void test_advanced_key_sends_sha256_of_key_nonce_timestamp(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(f->rq.n_headers, 5);
    assert_string_equal(f->rq.headers[0], "x-xdr-auth-id: 7");
    assert_string_equal(f->rq.headers[1], "x-xdr-nonce: "
                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          "0123456789AB");
    assert_string_equal(f->rq.headers[2], "x-xdr-timestamp: 1700000000000");
    assert_string_equal(
        f->rq.headers[3],
        "Authorization: e3100bcbf824f99be3b941e2f8fb933fec28d51ca5cb6ec2a355483faad6e07f");
    assert_string_equal(f->rq.headers[4], "Content-Type: application/json");
}

static void test_config_checks_auth_type_and_key_id(void **state)
{
    struct xf_connector_conf c;
    void *st = NULL;
    char why[256];

    (void)state;
    fx_conf(&c, "cx", "cortex");
    conf_add(&c, "base_url", BASE);
    conf_add(&c, "key_env", "XF_TEST_CX_KEY");
    assert_int_equal(xf_conn_cortex.create(&c, &st, why, sizeof(why)), XF_ECONFIG);
    assert_string_equal(why, "connector cx: key_id (the API key's id) is required");
    conf_add(&c, "key_id", "7");
    conf_add(&c, "auth_type", "hmac");
    assert_int_equal(xf_conn_cortex.create(&c, &st, why, sizeof(why)), XF_ECONFIG);
    assert_string_equal(why, "connector cx: auth_type must be standard or advanced, not 'hmac'");
    assert_null(st);
    assert_ptr_equal(xf_connector_find("cortex"), &xf_conn_cortex);
    conf_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_isolate_prechecks_sends_and_polls_to_completed, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_release_of_unmapped_host_resolves_by_hostname_then_unisolates, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_precheck_already_isolated_confirms_without_sending,
                                        setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_precheck_pending_isolation_polls_the_precheck, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_500_cannot_create_group_action_rechecks_and_confirms,
                                        setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_500_gotcha_with_endpoint_still_unisolated_is_retry_not_a_loop, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_or_ambiguous_host_is_failed, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_429_is_retry_after_the_vendor_delay, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_other_500_is_retry_and_401_is_failed, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_action_failed_is_retry_and_canceled_is_failed, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_advanced_key_sends_sha256_of_key_nonce_timestamp,
                                        setup_advanced, fx_teardown),
        cmocka_unit_test(test_config_checks_auth_type_and_key_id),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
