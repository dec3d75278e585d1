/*
 * test_conn_a_http.c - CrowdStrike, Defender and SentinelOne over real HTTP: the response
 * service (store, thread, libcurl) isolates a host through each mock vendor
 * (tests/mockvendor/server.py --vendor NAME, a separate process) and the mock's own state says
 * the host is isolated. Faults (429 with Retry-After, 500) come from the mock's control
 * endpoint. Timings are small (backoff 10 ms, poll 20 ms).
 *
 * The one thing to know: the connectors' unit tests prove the request shapes; this file proves
 * the mocks and the connectors agree, with tokens, lookups and polling done for real.
 */
#define _GNU_SOURCE /* mkdtemp, nftw */
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "support.h"
#include "xf/response.h"
#include "xf/store.h"

/* Starts the mock for vendor and the service in auto mode with one connector of that type. */
static void start(struct fixture *fx, const char *vendor)
{
    struct xf_response_conf c;
    struct xf_connector_conf *cc = &c.connectors[0];

    mock_start(fx, vendor);
    xf_response_conf_init(&c);
    c.policy.mode = XF_MODE_AUTO;
    c.policy.backoff_base_ms = 10;
    c.policy.backoff_max_ms = 40;
    c.policy.poll_interval_ms = 20;
    c.policy.timeout_ms = 2000;
    c.policy.max_attempts = 4;
    c.policy.notify_incidents = 0;
    c.audit_log = xf_strdup(fx->audit);
    cc->name = xf_strdup("edr");
    cc->type = xf_strdup(vendor);
    conf_add(cc, "base_url", fx->base);
    if (strcmp(vendor, "crowdstrike") == 0) {
        conf_add(cc, "client_id", "cs-client");
        conf_add(cc, "client_secret_env", "XF_TEST_CS_SECRET");
    } else if (strcmp(vendor, "defender") == 0) {
        conf_add(cc, "login_url", fx->base);
        conf_add(cc, "tenant_id", "tenant-1");
        conf_add(cc, "client_id", "df-client");
        conf_add(cc, "client_secret_env", "XF_TEST_DF_SECRET");
    } else {
        conf_add(cc, "token_env", "XF_TEST_S1_TOKEN");
    }
    c.n_connectors = 1;
    assert_int_equal(xf_response_create(&c, fx->st, &fx->r), 0);
    xf_response_conf_close(&c);
}

static int setup(void **state)
{
    struct fixture *fx = fixture_open("conna");

    setenv("XF_TEST_CS_SECRET", "cs-secret", 1);
    setenv("XF_TEST_DF_SECRET", "df-secret", 1);
    setenv("XF_TEST_S1_TOKEN", "s1-token", 1);
    *state = fx;
    return 0;
}

/* POST /hosts/{host}/isolate as the API would; returns the action. */
static void isolate(struct fixture *fx, const char *host, struct xf_action *a)
{
    struct xf_resp_request q = {
        .op = XF_RESP_ISOLATE, .host = host, .reason = "test", .idem_key = "k1", .actor = "soar"};
    struct xf_buf b;
    int status = 0;

    xf_buf_init(&b);
    assert_int_equal(xf_response_request(fx->r, &q, &status, &b), 0);
    if (status != 201 && status != 202)
        fail_msg("isolate: HTTP %d %s", status, b.data ? b.data : "");
    assert_int_equal(xf_action_from_json(b.data, b.len, a), 0);
    xf_buf_close(&b);
}

/* The mock says host is isolated, and nothing else is. */
static void assert_isolated(struct fixture *fx, const char *host)
{
    json_t *s = ctl(fx, "/_mock/state", NULL);
    json_t *iso = json_object_get(s, "isolated");

    assert_int_equal(json_array_size(iso), 1);
    assert_string_equal(json_string_value(json_array_get(iso, 0)), host);
    json_decref(s);
}

/* How many vendor requests had this status-changing path (method POST, path prefix). */
static int posts_to(struct fixture *fx, const char *prefix)
{
    json_t *reqs = ctl(fx, "/_mock/requests", NULL), *it;
    size_t i;
    int n = 0;

    json_array_foreach(reqs, i, it)
    {
        const char *p = json_string_value(json_object_get(it, "path"));
        const char *m = json_string_value(json_object_get(it, "method"));

        if (p && m && strcmp(m, "POST") == 0 && strncmp(p, prefix, strlen(prefix)) == 0)
            n++;
    }
    json_decref(reqs);
    return n;
}

static void isolate_through(void **state, const char *vendor, const char *act_path)
{
    struct fixture *fx = *state;
    struct xf_action a;

    start(fx, vendor);
    isolate(fx, "ws-01", &a);
    wait_state(fx, a.id, XF_AS_CONFIRMED, &a);
    assert_isolated(fx, "ws-01");
    assert_int_equal(a.attempts, 1);
    assert_int_equal(posts_to(fx, act_path), 1);
}

static void crowdstrike_isolates_over_http_to_confirmed(void **state)
{
    isolate_through(state, "crowdstrike", "/devices/entities/devices-actions/v2");
}

static void defender_isolates_over_http_to_confirmed(void **state)
{
    isolate_through(state, "defender", "/api/machines/");
}

static void sentinelone_isolates_over_http_to_confirmed(void **state)
{
    isolate_through(state, "sentinelone", "/web/api/v2.1/agents/actions/disconnect");
}

static void crowdstrike_429_with_retry_after_then_confirmed(void **state)
{
    struct fixture *fx = *state;
    struct xf_action a;
    int64_t t0;

    start(fx, "crowdstrike");
    json_decref(ctl(fx, "/_mock/fault",
                    "{\"mode\":\"429\",\"count\":1,\"retry_after\":1,"
                    "\"path\":\"/devices/entities/devices-actions\"}"));
    t0 = mono_ms();
    isolate(fx, "ws-02", &a);
    wait_state(fx, a.id, XF_AS_CONFIRMED, &a);
    assert_true(mono_ms() - t0 >= 900); /* Retry-After: 1 was honoured */
    assert_isolated(fx, "ws-02");
    assert_int_equal(a.attempts, 2);
    assert_int_equal(posts_to(fx, "/devices/entities/devices-actions/v2"), 2);
}

static void defender_500_then_ok_confirms_on_the_second_attempt(void **state)
{
    struct fixture *fx = *state;
    struct xf_action a;

    start(fx, "defender");
    json_decref(ctl(fx, "/_mock/fault", "{\"mode\":\"500\",\"count\":1,\"path\":\"/api/\"}"));
    isolate(fx, "ws-03", &a);
    wait_state(fx, a.id, XF_AS_CONFIRMED, &a);
    assert_isolated(fx, "ws-03");
    assert_int_equal(a.attempts, 2);
}

static void sentinelone_already_disconnected_confirms_without_an_action(void **state)
{
    struct fixture *fx = *state;
    struct xf_action a;

    start(fx, "sentinelone");
    json_decref(ctl(fx, "/_mock/state", "{\"disconnected\":[\"srv-01\"]}"));
    isolate(fx, "srv-01", &a);
    wait_state(fx, a.id, XF_AS_CONFIRMED, &a);
    assert_int_equal(posts_to(fx, "/web/api/v2.1/agents/actions/"), 0);
}

static void sentinelone_unknown_host_fails(void **state)
{
    struct fixture *fx = *state;
    struct xf_action a;

    start(fx, "sentinelone");
    isolate(fx, "nowhere-9", &a);
    wait_state(fx, a.id, XF_AS_FAILED, &a);
    assert_string_equal(a.last_error, "unknown host nowhere-9: no SentinelOne agent");
    assert_int_equal(posts_to(fx, "/web/api/v2.1/agents/actions/"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(crowdstrike_isolates_over_http_to_confirmed, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(defender_isolates_over_http_to_confirmed, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(sentinelone_isolates_over_http_to_confirmed, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(crowdstrike_429_with_retry_after_then_confirmed, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(defender_500_then_ok_confirms_on_the_second_attempt, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(sentinelone_already_disconnected_confirms_without_an_action,
                                        setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(sentinelone_unknown_host_fails, setup, fixture_teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
