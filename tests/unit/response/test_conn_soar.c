/*
 * test_conn_soar.c - the SOAR notification connector in its three shapes: the exact request
 * (URL, headers, body compared as JSON) built from one incident, and how each receiver's
 * answers (created, duplicate, 429, 5xx, 4xx) end the action.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "connector.h"
#include "support.h"

extern const struct xf_connector_ops xf_conn_soar;

#define SHA "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define KEY "inc-00000000000000aa:1122334455667788"

static const char incident[] =
    "{\"id\":\"inc-00000000000000aa\",\"tenant\":\"default\",\"severity\":\"critical\","
    "\"score\":92,\"first_seen\":\"2026-11-21T09:00:03Z\",\"last_seen\":\"2026-11-21T09:41:10Z\","
    "\"hosts\":[\"ws-017.corp.example\",\"ws-020.corp.example\"],\"users\":[\"corp\\\\akiko\"],"
    "\"techniques\":[\"T1566.001\",\"T1059.001\"],\"stages\":[\"delivery\",\"execution\"],"
    "\"alerts\":[{\"rule_id\":\"r1\",\"title\":\"Office spawns PowerShell\",\"level\":\"high\","
    "\"event_id\":\"e1\"}],"
    "\"nodes\":[{\"id\":\"n1\",\"kind\":\"host\",\"entity\":\"ws-017.corp.example\"},"
    "{\"id\":\"n2\",\"kind\":\"network\",\"entity\":\"10.10.10.5\"},"
    "{\"id\":\"n3\",\"kind\":\"file\",\"entity\":\"" SHA "\"},"
    "{\"id\":\"n4\",\"kind\":\"file\",\"entity\":\"C:\\\\Users\\\\a\\\\invoice.doc\"},"
    "{\"id\":\"n5\",\"kind\":\"dns\",\"entity\":\"evil.example\"},"
    "{\"id\":\"n6\",\"kind\":\"process\",\"entity\":\"{guid-1}\"},"
    "{\"id\":\"n7\",\"kind\":\"network\",\"entity\":\"10.10.10.5\"}],\"edges\":[]}";

#define DESC                                                                                       \
    "xdrflow incident inc-00000000000000aa: severity critical, score 92\\nFirst seen "             \
    "2026-11-21T09:00:03Z, last seen 2026-11-21T09:41:10Z\\nHosts: ws-017.corp.example, "          \
    "ws-020.corp.example\\nUsers: corp\\\\akiko\\nStages: delivery, execution\\nTechniques: "      \
    "T1566.001, T1059.001\\nAlerts:\\n- Office spawns PowerShell (high)"
#define TITLE "xdrflow: critical incident on ws-017.corp.example (+1 hosts)"

static int setup_shape(void **state, const char *shape, const char *url_key, const char *url,
                       int token)
{
    struct fx *f = fx_open("soar", "soar");

    setenv("XF_TEST_SOAR_TOKEN", "tok-soar", 1);
    conf_add(&f->conf, "shape", shape);
    conf_add(&f->conf, url_key, url);
    if (token)
        conf_add(&f->conf, "token_env", "XF_TEST_SOAR_TOKEN");
    fx_create(f);
    snprintf(f->a.id, sizeof(f->a.id), "act-0123456789abcdef");
    f->a.kind = XF_ACT_NOTIFY;
    snprintf(f->a.incident, sizeof(f->a.incident), "inc-00000000000000aa");
    f->a.payload_hash = 0x1122334455667788ULL;
    f->ctx.payload = incident;
    f->ctx.payload_len = strlen(incident);
    f->ctx.now_s = 1700000000;
    *state = f;
    return 0;
}

static int setup_generic(void **state)
{
    return setup_shape(state, "generic", "url", "https://soar.example/hook/x?k=1", 1);
}

static int setup_generic_no_token(void **state)
{
    return setup_shape(state, "generic", "url", "https://soar.example/hook", 0);
}

static int setup_splunk(void **state)
{
    return setup_shape(state, "splunk_soar", "base_url", "https://phantom.example/", 1);
}

static int setup_hive(void **state)
{
    return setup_shape(state, "thehive", "base_url", "https://hive.example:9000", 1);
}

/* The request body equals the expected JSON (key order and all). */
static void assert_body_json(const struct xf_conn_request *rq, const char *expected)
{
    json_error_t e;
    json_t *want = json_loads(expected, 0, &e), *got;
    char *a, *b;

    if (!want)
        fail_msg("expected JSON does not parse: %s at %d", e.text, e.position);
    got = json_loadb(rq->body.data, rq->body.len, 0, &e);
    assert_non_null(got);
    a = json_dumps(got, JSON_COMPACT);
    b = json_dumps(want, JSON_COMPACT);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(got);
    json_decref(want);
}

static void test_generic_posts_the_incident_as_is_with_idempotency_key(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_string_equal(f->rq.method, "POST");
    assert_string_equal(f->rq.url, "https://soar.example/hook/x?k=1");
    assert_int_equal(f->rq.n_headers, 3);
    assert_string_equal(f->rq.headers[0], "Content-Type: application/json");
    assert_string_equal(f->rq.headers[1], "Idempotency-Key: act-0123456789abcdef");
    assert_string_equal(f->rq.headers[2], "Authorization: Bearer tok-soar");
    assert_int_equal(f->rq.body.len, strlen(incident));
    assert_memory_equal(f->rq.body.data, incident, strlen(incident));
    assert_int_equal(fx_reply(f, 204, NULL, ""), XF_STEP_CONFIRMED);
}

static void test_generic_without_token_sends_no_authorization(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(f->rq.n_headers, 2);
    assert_string_equal(f->rq.headers[1], "Idempotency-Key: act-0123456789abcdef");
}

static void test_splunk_posts_a_container_with_one_artifact_per_indicator(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_string_equal(f->rq.url, "https://phantom.example/rest/container");
    assert_int_equal(f->rq.n_headers, 2);
    assert_string_equal(f->rq.headers[0], "Content-Type: application/json");
    assert_string_equal(f->rq.headers[1], "ph-auth-token: tok-soar");
    assert_body_json(
        &f->rq,
        "{\"name\":\"" TITLE "\",\"label\":\"events\",\"severity\":\"high\","
        "\"description\":\"" DESC "\",\"source_data_identifier\":\"" KEY "\",\"artifacts\":["
        "{\"label\":\"host\",\"name\":\"host\",\"cef\":{\"deviceHostname\":"
        "\"ws-017.corp.example\"},\"source_data_identifier\":\"" KEY ":host:ws-017.corp.example\"},"
        "{\"label\":\"host\",\"name\":\"host\",\"cef\":{\"deviceHostname\":"
        "\"ws-020.corp.example\"},\"source_data_identifier\":\"" KEY ":host:ws-020.corp.example\"},"
        "{\"label\":\"ip\",\"name\":\"ip\",\"cef\":{\"destinationAddress\":\"10.10.10.5\"},"
        "\"source_data_identifier\":\"" KEY ":ip:10.10.10.5\"},"
        "{\"label\":\"hash\",\"name\":\"hash\",\"cef\":{\"fileHashSha256\":\"" SHA "\"},"
        "\"source_data_identifier\":\"" KEY ":hash:" SHA "\"},"
        "{\"label\":\"domain\",\"name\":\"domain\",\"cef\":{\"destinationDnsDomain\":"
        "\"evil.example\"},\"source_data_identifier\":\"" KEY ":domain:evil.example\"}]}");
    assert_int_equal(fx_reply(f, 200, NULL, "{\"id\":5,\"success\":true}"), XF_STEP_CONFIRMED);
    assert_string_equal(f->a.remote_id, "5");
}

static void test_splunk_duplicate_container_counts_as_delivered(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 200, NULL,
                              "{\"success\":false,\"message\":\"duplicate\","
                              "\"existing_container_id\":5}"),
                     XF_STEP_CONFIRMED);
    assert_string_equal(f->a.remote_id, "5");
    assert_int_equal(fx_reply(f, 400, NULL, "{\"failed\":true,\"message\":\"duplicate\"}"),
                     XF_STEP_CONFIRMED);
    assert_int_equal(fx_reply(f, 200, NULL, "{\"failed\":true,\"message\":\"bad label\"}"),
                     XF_STEP_FAILED);
}

static void test_thehive_posts_an_alert_with_observables(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_string_equal(f->rq.url, "https://hive.example:9000/api/v1/alert");
    assert_int_equal(f->rq.n_headers, 2);
    assert_string_equal(f->rq.headers[1], "Authorization: Bearer tok-soar");
    assert_body_json(&f->rq,
                     "{\"type\":\"xdrflow\",\"source\":\"xdrflow\",\"sourceRef\":\"" KEY "\","
                     "\"title\":\"" TITLE "\",\"description\":\"" DESC "\",\"severity\":4,"
                     "\"tlp\":2,\"tags\":[\"T1566.001\",\"T1059.001\"],\"observables\":["
                     "{\"dataType\":\"hostname\",\"data\":\"ws-017.corp.example\"},"
                     "{\"dataType\":\"hostname\",\"data\":\"ws-020.corp.example\"},"
                     "{\"dataType\":\"ip\",\"data\":\"10.10.10.5\"},"
                     "{\"dataType\":\"hash\",\"data\":\"" SHA "\"},"
                     "{\"dataType\":\"domain\",\"data\":\"evil.example\"}]}");
    assert_int_equal(fx_reply(f, 201, NULL, "{\"_id\":\"~4096\",\"status\":\"New\"}"),
                     XF_STEP_CONFIRMED);
    assert_string_equal(f->a.remote_id, "~4096");
}

static void test_thehive_already_exists_counts_as_delivered_other_400_fails(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 400, NULL,
                              "{\"type\":\"CreateError\",\"message\":\"Alert xdrflow:xdrflow:" KEY
                              " already exists\"}"),
                     XF_STEP_CONFIRMED);
    assert_int_equal(fx_reply(f, 409, NULL, "{\"message\":\"already exists\"}"), XF_STEP_CONFIRMED);
    assert_int_equal(fx_reply(f, 400, NULL, "{\"type\":\"AttributeCheckingError\"}"),
                     XF_STEP_FAILED);
}

static void test_429_500_retry_and_401_fails(void **state)
{
    struct fx *f = *state;

    fx_next(f);
    assert_int_equal(fx_reply(f, 429, "Retry-After: 3", "slow down"), XF_STEP_RETRY);
    assert_int_equal(f->oc.retry_after_ms, 3000);
    assert_int_equal(fx_reply(f, 500, NULL, "{}"), XF_STEP_RETRY);
    assert_int_equal(fx_reply(f, 0, NULL, NULL), XF_STEP_RETRY);
    assert_int_equal(fx_reply(f, 401, NULL, "{}"), XF_STEP_FAILED);
}

static void test_bad_payload_is_an_error_not_a_request(void **state)
{
    struct fx *f = *state;

    f->ctx.payload = "not json";
    f->ctx.payload_len = 8;
    assert_int_equal(xf_conn_soar.next(f->st, &f->a, &f->ctx, &f->rq), XF_EPARSE);
    f->ctx.payload = NULL;
    xf_conn_request_reset(&f->rq);
    assert_int_equal(xf_conn_soar.next(f->st, &f->a, &f->ctx, &f->rq), XF_EINVAL);
}

static void test_config_needs_a_token_for_splunk_and_a_known_shape(void **state)
{
    struct xf_connector_conf c;
    void *st = NULL;
    char why[256];

    (void)state;
    fx_conf(&c, "soar", "soar");
    conf_add(&c, "shape", "splunk_soar");
    conf_add(&c, "base_url", "https://phantom.example");
    assert_int_equal(xf_conn_soar.create(&c, &st, why, sizeof(why)), XF_ECONFIG);
    assert_string_equal(why, "connector soar: token_env or token_file is required");
    xf_free(c.params[0].value);
    c.params[0].value = xf_strdup("xsoar");
    assert_int_equal(xf_conn_soar.create(&c, &st, why, sizeof(why)), XF_ECONFIG);
    assert_string_equal(
        why, "connector soar: shape must be generic, splunk_soar or thehive, not 'xsoar'");
    assert_null(st);
    assert_ptr_equal(xf_connector_find("soar"), &xf_conn_soar);
    assert_int_equal(xf_conn_soar.kinds, 1u << XF_ACT_NOTIFY);
    conf_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generic_posts_the_incident_as_is_with_idempotency_key,
                                        setup_generic, fx_teardown),
        cmocka_unit_test_setup_teardown(test_generic_without_token_sends_no_authorization,
                                        setup_generic_no_token, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_splunk_posts_a_container_with_one_artifact_per_indicator, setup_splunk,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_splunk_duplicate_container_counts_as_delivered,
                                        setup_splunk, fx_teardown),
        cmocka_unit_test_setup_teardown(test_thehive_posts_an_alert_with_observables, setup_hive,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_thehive_already_exists_counts_as_delivered_other_400_fails, setup_hive,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_429_500_retry_and_401_fails, setup_hive, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_payload_is_an_error_not_a_request, setup_splunk,
                                        fx_teardown),
        cmocka_unit_test(test_config_needs_a_token_for_splunk_and_a_known_shape),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
