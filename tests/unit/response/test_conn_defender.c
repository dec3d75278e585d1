/*
 * test_conn_defender.c - the Defender for Endpoint connector fed canned replies: exact
 * requests (method, URL, headers, body) and the step each reply leads to.
 *
 * The one thing to know: no network and no clock here; `now` is passed in, so the token
 * expiry and the 100-calls-a-minute window are tested by moving it.
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
#define BASE "http://df.test"

static void base_conf(struct xf_connector_conf *c)
{
    fx_conf(c, "mde", "defender");
    conf_add(c, "base_url", BASE "/");
    conf_add(c, "login_url", BASE "/login");
    conf_add(c, "tenant_id", "tenant-1");
    conf_add(c, "client_id", "df-client");
    conf_add(c, "client_secret_env", "XF_TEST_DF_SECRET");
}

static int setup(void **state)
{
    struct fx *f = xf_calloc(1, sizeof(*f));

    setenv("XF_TEST_DF_SECRET", "s&cret", 1);
    base_conf(&f->conf);
    conf_add(&f->conf, "isolation_type", "Selective");
    conf_add(&f->conf, "max_calls_per_min", "5");
    conf_dev(&f->conf, "WS-02", "m2");
    fx_create(f);
    f->a.kind = XF_ACT_ISOLATE;
    snprintf(f->a.id, sizeof(f->a.id), "act-00000000000000a1");
    snprintf(f->a.incident, sizeof(f->a.incident), "inc-7");
    snprintf(f->a.reason, sizeof(f->a.reason), "policy: critical");
    snprintf(f->a.host, sizeof(f->a.host), "ws-01");
    *state = f;
    return 0;
}

#define H_JSON "Accept: application/json"
#define H_AUTH1 "Authorization: Bearer T1"
#define H_POST H_AUTH1 "\nContent-Type: application/json\n" H_JSON
#define ISO_BODY                                                                                   \
    "{\"Comment\":\"xdrflow act-00000000000000a1 inc-7: policy: critical\","                       \
    "\"IsolationType\":\"Selective\"}"

static void get_token(struct fx *f, int64_t now, const char *tok)
{
    expect_token(f, now, BASE "/login/tenant-1/oauth2/v2.0/token",
                 "grant_type=client_credentials&client_id=df-client&client_secret=s%26cret"
                 "&scope=https%3A%2F%2Fapi.securitycenter.microsoft.com%2F.default",
                 200, 3599, tok);
}

static void isolate_resolves_machine_posts_isolate_and_polls_to_succeeded(void **state)
{
    struct fx *f = *state;

    get_token(f, T0, "T1");
    expect_req(f, T0, "GET", BASE "/api/machines?$filter=computerDnsName%20eq%20%27ws-01%27",
               H_AUTH1 "\n" H_JSON, "");
    reply(f, T0, 200, NULL, "{\"value\":[{\"id\":\"m1\",\"computerDnsName\":\"ws-01\"}]}",
          XF_STEP_NEXT, NULL);
    assert_string_equal(f->a.device_id, "m1");
    expect_req(f, T0, "POST", BASE "/api/machines/m1/isolate", H_POST, ISO_BODY);
    reply(f, T0, 201, NULL, "{\"id\":\"ma1\",\"type\":\"Isolate\",\"status\":\"Pending\"}",
          XF_STEP_POLL, NULL);
    assert_string_equal(f->a.remote_id, "ma1");
    expect_req(f, T0 + 2, "GET", BASE "/api/machineactions/ma1", H_AUTH1 "\n" H_JSON, "");
    reply(f, T0 + 2, 200, NULL, "{\"id\":\"ma1\",\"status\":\"InProgress\"}", XF_STEP_POLL, NULL);
    expect_req(f, T0 + 4, "GET", BASE "/api/machineactions/ma1", H_AUTH1 "\n" H_JSON, "");
    reply(f, T0 + 4, 200, NULL, "{\"id\":\"ma1\",\"status\":\"Succeeded\"}", XF_STEP_CONFIRMED,
          NULL);
}

static void release_uses_static_map_and_unisolate_with_comment_only(void **state)
{
    struct fx *f = *state;

    f->a.kind = XF_ACT_RELEASE;
    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    get_token(f, T0, "T1");
    expect_req(f, T0, "POST", BASE "/api/machines/m2/unisolate", H_POST,
               "{\"Comment\":\"xdrflow act-00000000000000a1 inc-7: policy: critical\"}");
    reply(f, T0, 201, NULL, "{\"id\":\"ma2\",\"type\":\"Unisolate\",\"status\":\"Pending\"}",
          XF_STEP_POLL, NULL);
    expect_req(f, T0, "GET", BASE "/api/machineactions/ma2", H_AUTH1 "\n" H_JSON, "");
    reply(f, T0, 200, NULL, "{\"id\":\"ma2\",\"status\":\"Succeeded\"}", XF_STEP_CONFIRMED, NULL);
}

#define FIND_URL                                                                                   \
    BASE "/api/machineactions?$filter=machineId%20eq%20%27m2%27%20and%20type%20eq%20%27Isolate%27"

static void already_in_progress_polls_the_pending_action(void **state)
{
    struct fx *f = *state;

    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    get_token(f, T0, "T1");
    expect_req(f, T0, "POST", BASE "/api/machines/m2/isolate", H_POST, ISO_BODY);
    reply(f, T0, 400, NULL,
          "{\"error\":{\"code\":\"ActiveRequestAlreadyExists\",\"message\":\"Action is already "
          "in progress\"}}",
          XF_STEP_NEXT, NULL);
    expect_req(f, T0, "GET", FIND_URL, H_AUTH1 "\n" H_JSON, "");
    reply(f, T0, 200, NULL,
          "{\"value\":[{\"id\":\"old\",\"status\":\"Succeeded\",\"creationDateTimeUtc\":"
          "\"2024-01-01T00:00:00Z\"},{\"id\":\"ma9\",\"status\":\"InProgress\"}]}",
          XF_STEP_POLL, NULL);
    assert_string_equal(f->a.remote_id, "ma9");
    expect_req(f, T0, "GET", BASE "/api/machineactions/ma9", H_AUTH1 "\n" H_JSON, "");
    reply(f, T0, 200, NULL, "{\"id\":\"ma9\",\"status\":\"Succeeded\"}", XF_STEP_CONFIRMED, NULL);
}

static void already_done_confirms_on_the_newest_succeeded_action(void **state)
{
    struct fx *f = *state;

    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    get_token(f, T0, "T1");
    expect_req(f, T0, "POST", BASE "/api/machines/m2/isolate", H_POST, ISO_BODY);
    reply(f, T0, 400, NULL,
          "{\"error\":{\"code\":\"BadRequest\",\"message\":\"Action is "
          "already in progress\"}}",
          XF_STEP_NEXT, NULL);
    expect_req(f, T0, "GET", FIND_URL, H_AUTH1 "\n" H_JSON, "");
    reply(f, T0, 200, NULL,
          "{\"value\":[{\"id\":\"a\",\"status\":\"Failed\",\"creationDateTimeUtc\":"
          "\"2024-01-01T00:00:00Z\"},{\"id\":\"b\",\"status\":\"Succeeded\","
          "\"creationDateTimeUtc\":\"2024-02-01T00:00:00Z\"}]}",
          XF_STEP_CONFIRMED, NULL);
    assert_string_equal(f->a.remote_id, "b");
}

static void failed_and_timeout_retry_a_new_isolate_cancelled_fails(void **state)
{
    struct fx *f = *state;
    struct xf_conn_outcome out;

    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    get_token(f, T0, "T1");
    expect_req(f, T0, "POST", BASE "/api/machines/m2/isolate", H_POST, ISO_BODY);
    reply(f, T0, 201, NULL, "{\"id\":\"ma1\",\"status\":\"Pending\"}", XF_STEP_POLL, NULL);
    expect_req(f, T0, "GET", BASE "/api/machineactions/ma1", H_AUTH1 "\n" H_JSON, "");
    reply(f, T0, 200, NULL, "{\"id\":\"ma1\",\"status\":\"TimeOut\"}", XF_STEP_RETRY, &out);
    assert_string_equal(out.why, "machine action ma1 TimeOut");
    assert_string_equal(f->a.remote_id, "");
    expect_req(f, T0, "POST", BASE "/api/machines/m2/isolate", H_POST, ISO_BODY);
    reply(f, T0, 201, NULL, "{\"id\":\"ma2\",\"status\":\"Failed\"}", XF_STEP_RETRY, NULL);
    expect_req(f, T0, "POST", BASE "/api/machines/m2/isolate", H_POST, ISO_BODY);
    reply(f, T0, 201, NULL, "{\"id\":\"ma3\",\"status\":\"Pending\"}", XF_STEP_POLL, NULL);
    f->ops->destroy(f->st); /* a fresh window: this test is not about the limit */
    f->st = NULL;
    {
        char why[256];

        assert_int_equal(f->ops->create(&f->conf, &f->st, why, sizeof(why)), 0);
    }
    get_token(f, T0, "T1");
    expect_req(f, T0, "GET", BASE "/api/machineactions/ma3", H_AUTH1 "\n" H_JSON, "");
    reply(f, T0, 200, NULL, "{\"id\":\"ma3\",\"status\":\"Cancelled\"}", XF_STEP_FAILED, &out);
    assert_string_equal(out.why, "machine action ma3 Cancelled");
}

static void window_of_calls_per_minute_defers_the_sixth_call(void **state)
{
    struct fx *f = *state;
    struct xf_conn_ctx ctx = {.now_s = T0 + 30};

    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    get_token(f, T0, "T1");
    expect_req(f, T0, "POST", BASE "/api/machines/m2/isolate", H_POST, ISO_BODY);
    reply(f, T0, 201, NULL, "{\"id\":\"ma1\",\"status\":\"Pending\"}", XF_STEP_POLL, NULL);
    for (int i = 1; i < 5; i++) {
        expect_req(f, T0 + i, "GET", BASE "/api/machineactions/ma1", H_AUTH1 "\n" H_JSON, "");
        reply(f, T0 + i, 200, NULL, "{\"id\":\"ma1\",\"status\":\"Pending\"}", XF_STEP_POLL, NULL);
    }
    xf_conn_request_reset(&f->rq);
    assert_int_equal(f->ops->next(f->st, &f->a, &ctx, &f->rq), XF_EAGAIN);
    assert_int_equal(f->rq.defer_ms, 30000); /* the first call leaves the window at T0 + 60 */
    assert_null(f->rq.url);
    expect_req(f, T0 + 60, "GET", BASE "/api/machineactions/ma1", H_AUTH1 "\n" H_JSON, "");
}

static void rate_limited_429_and_500_retry_404_fails(void **state)
{
    struct fx *f = *state;
    struct xf_conn_outcome out;

    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    get_token(f, T0, "T1");
    expect_req(f, T0, "POST", BASE "/api/machines/m2/isolate", H_POST, ISO_BODY);
    reply(f, T0, 429, "Retry-After: 15", "{}", XF_STEP_RETRY, &out);
    assert_int_equal(out.retry_after_ms, 15000);
    expect_req(f, T0, "POST", BASE "/api/machines/m2/isolate", H_POST, ISO_BODY);
    reply(f, T0, 503, NULL, "busy", XF_STEP_RETRY, &out);
    assert_int_equal(out.retry_after_ms, 0);
    expect_req(f, T0, "POST", BASE "/api/machines/m2/isolate", H_POST, ISO_BODY);
    reply(f, T0, 404, NULL, "{\"error\":{\"code\":\"ResourceNotFound\"}}", XF_STEP_FAILED, &out);
    assert_string_equal(out.why, "HTTP 404: {\"error\":{\"code\":\"ResourceNotFound\"}}");
}

static void unknown_host_fails_and_quotes_are_doubled(void **state)
{
    struct fx *f = *state;
    struct xf_conn_outcome out;

    snprintf(f->a.host, sizeof(f->a.host), "o'brien");
    get_token(f, T0, "T1");
    expect_req(f, T0, "GET", BASE "/api/machines?$filter=computerDnsName%20eq%20%27o%27%27brien%27",
               H_AUTH1 "\n" H_JSON, "");
    reply(f, T0, 200, NULL, "{\"value\":[]}", XF_STEP_FAILED, &out);
    assert_string_equal(out.why, "unknown host o'brien: no Defender machine");
}

static void expired_token_is_refetched_and_401_refetches_once(void **state)
{
    struct fx *f = *state;
    struct xf_conn_outcome out;

    snprintf(f->a.host, sizeof(f->a.host), "ws-02");
    get_token(f, T0, "T1");
    get_token(f, T0 + 3539, "T1"); /* 3599 - 60 */
    expect_req(f, T0 + 3539, "POST", BASE "/api/machines/m2/isolate", H_POST, ISO_BODY);
    reply(f, T0 + 3539, 401, NULL, "{}", XF_STEP_NEXT, NULL);
    get_token(f, T0 + 3539, "T1");
    expect_req(f, T0 + 3539, "POST", BASE "/api/machines/m2/isolate", H_POST, ISO_BODY);
    reply(f, T0 + 3539, 401, NULL, "{}", XF_STEP_FAILED, &out);
}

static void config_checks_isolation_type_and_required_keys(void **state)
{
    struct xf_connector_conf c;
    const struct xf_connector_ops *ops = xf_connector_find("defender");
    char why[256] = "";
    void *st = NULL;

    (void)state;
    base_conf(&c);
    conf_add(&c, "isolation_type", "Partial");
    assert_int_equal(ops->create(&c, &st, why, sizeof(why)), XF_ECONFIG);
    assert_string_equal(why,
                        "connector mde: isolation_type must be Full, Selective or UnManagedDevice");
    conf_free(&c);
    memset(&c, 0, sizeof(c));
    c.name = xf_strdup("mde");
    conf_add(&c, "client_id", "x");
    assert_int_equal(ops->create(&c, &st, why, sizeof(why)), XF_ECONFIG);
    assert_string_equal(why, "connector mde: tenant_id is required");
    assert_null(st);
    conf_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            isolate_resolves_machine_posts_isolate_and_polls_to_succeeded, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(release_uses_static_map_and_unisolate_with_comment_only,
                                        setup, fx_teardown),
        cmocka_unit_test_setup_teardown(already_in_progress_polls_the_pending_action, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(already_done_confirms_on_the_newest_succeeded_action, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(failed_and_timeout_retry_a_new_isolate_cancelled_fails,
                                        setup, fx_teardown),
        cmocka_unit_test_setup_teardown(window_of_calls_per_minute_defers_the_sixth_call, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(rate_limited_429_and_500_retry_404_fails, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(unknown_host_fails_and_quotes_are_doubled, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(expired_token_is_refetched_and_401_refetches_once, setup,
                                        fx_teardown),
        cmocka_unit_test(config_checks_isolation_type_and_required_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
