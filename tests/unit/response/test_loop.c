/*
 * test_loop.c - the response service end to end: a real store in a fresh directory, the
 * response thread, libcurl over loopback, and a webhook receiver (tests/mockvendor/server.py
 * --vendor webhook, a separate process) that checks every signature with Python's hmac and
 * deduplicates by webhook-id. Faults (429 with Retry-After, 500, a hang) come from the mock's
 * control endpoint. Timings are small (backoff 10 ms, poll 20 ms, timeout 300 ms).
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

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static void conf_fill(const struct fixture *fx, struct xf_response_conf *c, enum xf_resp_mode mode)
{
    struct xf_connector_conf *cc = &c->connectors[0];
    char url[96];

    xf_response_conf_init(c);
    c->policy.mode = mode;
    c->policy.backoff_base_ms = 10;
    c->policy.backoff_max_ms = 40;
    c->policy.poll_interval_ms = 20;
    c->policy.timeout_ms = 300;
    c->policy.max_attempts = 3;
    c->policy.notify_incidents = 0;
    c->policy.protected_hosts[0] = xf_strdup("dc-*");
    c->policy.n_protected = 1;
    c->audit_log = xf_strdup(fx->audit);
    snprintf(url, sizeof(url), "%s/hook", fx->base);
    cc->name = xf_strdup("hook");
    cc->type = xf_strdup("webhook");
    cc->params[0].key = xf_strdup("url");
    cc->params[0].value = xf_strdup(url);
    cc->params[1].key = xf_strdup("secret_env");
    cc->params[1].value = xf_strdup("XF_TEST_LOOP_SECRET");
    cc->n_params = 2;
    c->n_connectors = 1;
}

static void service_start(struct fixture *fx, enum xf_resp_mode mode)
{
    struct xf_response_conf c;

    conf_fill(fx, &c, mode);
    assert_int_equal(xf_response_create(&c, fx->st, &fx->r), 0);
    xf_response_conf_close(&c);
}

static int setup(void **state)
{
    *state = webhook_fixture_open("loop", "XF_TEST_LOOP_SECRET", SECRET);
    return 0;
}

static void incident(struct fixture *fx, const char *id, const char *hosts_json)
{
    send_critical_incident(fx, id, hosts_json);
}

/* The policy's isolate action id for (incident, host). */
static void policy_id(const char *inc, const char *host, char *id)
{
    make_action_id(XF_ACT_ISOLATE, inc, host, "hook", "", id);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_auto_mode_isolates_once_with_a_valid_signature(void **state)
{
    struct fixture *fx = *state;
    struct xf_response_stats s;
    struct xf_action a;
    char id[XF_ACTION_ID_LEN];
    json_t *ms;

    service_start(fx, XF_MODE_AUTO);
    policy_id("inc-1", "ws-1", id);
    incident(fx, "inc-1", "[\"ws-1\"]");
    incident(fx, "inc-1", "[\"ws-1\"]");
    wait_state(fx, id, XF_AS_CONFIRMED, &a);
    incident(fx, "inc-1", "[\"ws-1\"]");
    sleep_ms(100);
    assert_int_equal(a.attempts, 1);
    assert_int_equal(mock_requests(fx), 1);
    assert_int_equal(mock_deliveries_of(fx, id), 1);
    assert_int_equal(mock_int(fx, "bad_signatures"), 0);
    ms = mock_state(fx);
    assert_string_equal(json_string_value(json_array_get(json_object_get(ms, "isolated"), 0)),
                        "ws-1");
    json_decref(ms);
    xf_response_get_stats(fx->r, &s);
    assert_int_equal(s.planned, 1);
    assert_int_equal(s.confirmed, 1);
    assert_int_equal(s.pending, 0);
}

static void test_approve_mode_sends_only_after_approval(void **state)
{
    struct fixture *fx = *state;
    struct xf_resp_request q = {.op = XF_RESP_APPROVE, .actor = "alice"};
    struct xf_action a;
    char id[XF_ACTION_ID_LEN];
    struct xf_buf b;
    int status = 0;

    service_start(fx, XF_MODE_APPROVE);
    policy_id("inc-2", "ws-2", id);
    incident(fx, "inc-2", "[\"ws-2\"]");
    wait_state(fx, id, XF_AS_PLANNED, &a);
    sleep_ms(150);
    assert_int_equal(mock_requests(fx), 0);
    q.action_id = id;
    xf_buf_init(&b);
    assert_int_equal(xf_response_request(fx->r, &q, &status, &b), 0);
    assert_int_equal(status, 200);
    xf_buf_close(&b);
    wait_state(fx, id, XF_AS_CONFIRMED, &a);
    assert_int_equal(mock_deliveries_of(fx, id), 1);
    /* approving again is a conflict, not a second send */
    xf_buf_init(&b);
    assert_int_equal(xf_response_request(fx->r, &q, &status, &b), 0);
    assert_int_equal(status, 409);
    xf_buf_close(&b);
}

static void test_429_with_retry_after_waits_then_confirms(void **state)
{
    struct fixture *fx = *state;
    struct xf_action a;
    char id[XF_ACTION_ID_LEN];
    int64_t t0;

    ctl_post(fx, "/_mock/fault", "{\"mode\":\"429\",\"retry_after\":1}");
    service_start(fx, XF_MODE_AUTO);
    policy_id("inc-3", "ws-3", id);
    t0 = mono_ms();
    incident(fx, "inc-3", "[\"ws-3\"]");
    wait_state(fx, id, XF_AS_CONFIRMED, &a);
    assert_true(mono_ms() - t0 >= 950);
    assert_int_equal(a.attempts, 2);
    assert_int_equal(mock_requests(fx), 2);
    assert_int_equal(mock_deliveries_of(fx, id), 1);
}

static void test_500s_fail_the_action_after_max_attempts(void **state)
{
    struct fixture *fx = *state;
    struct xf_response_stats s;
    struct xf_action a;
    char id[XF_ACTION_ID_LEN];

    ctl_post(fx, "/_mock/fault", "{\"mode\":\"500\",\"count\":10}");
    service_start(fx, XF_MODE_AUTO);
    policy_id("inc-4", "ws-4", id);
    incident(fx, "inc-4", "[\"ws-4\"]");
    wait_state(fx, id, XF_AS_FAILED, &a);
    assert_int_equal(a.attempts, 3);
    assert_int_equal(mock_requests(fx), 3);
    assert_non_null(strstr(a.last_error, "HTTP 500"));
    xf_response_get_stats(fx->r, &s);
    assert_int_equal(s.failed, 1);
    assert_int_equal(s.retries, 2);
}

static void test_a_hang_times_out_and_is_retried(void **state)
{
    struct fixture *fx = *state;
    struct xf_action a;
    char id[XF_ACTION_ID_LEN];

    ctl_post(fx, "/_mock/fault", "{\"mode\":\"hang\"}");
    service_start(fx, XF_MODE_AUTO);
    policy_id("inc-5", "ws-5", id);
    incident(fx, "inc-5", "[\"ws-5\"]");
    wait_state(fx, id, XF_AS_CONFIRMED, &a);
    assert_int_equal(a.attempts, 2);
    assert_int_equal(mock_deliveries_of(fx, id), 1);
}

static void test_protected_host_is_never_sent(void **state)
{
    struct fixture *fx = *state;
    struct xf_resp_request q = {.op = XF_RESP_ISOLATE, .host = "DC-01", .actor = "alice"};
    struct xf_response_stats s;
    struct xf_action a;
    char id_dc[XF_ACTION_ID_LEN], id_ws[XF_ACTION_ID_LEN];
    struct xf_buf b;
    int status = 0;
    json_t *ms;

    service_start(fx, XF_MODE_AUTO);
    policy_id("inc-6", "dc-01", id_dc);
    policy_id("inc-6", "ws-6", id_ws);
    incident(fx, "inc-6", "[\"dc-01\",\"ws-6\"]");
    wait_state(fx, id_ws, XF_AS_CONFIRMED, &a);
    assert_false(get_action(fx, id_dc, &a));
    xf_buf_init(&b);
    assert_int_equal(xf_response_request(fx->r, &q, &status, &b), 0);
    assert_int_equal(status, 409);
    assert_non_null(strstr(b.data, "host_protected"));
    xf_buf_close(&b);
    sleep_ms(100);
    ms = mock_state(fx);
    assert_int_equal(json_array_size(json_object_get(ms, "isolated")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(ms, "isolated"), 0)),
                        "ws-6");
    json_decref(ms);
    xf_response_get_stats(fx->r, &s);
    assert_int_equal(s.blocked_protected, 2);
}

static void test_restart_resumes_an_approved_action_and_never_resends_a_confirmed_one(void **state)
{
    struct fixture *fx = *state;
    struct xf_action a;
    char id[XF_ACTION_ID_LEN];
    size_t before;

    /* the first send hangs; the service stops with it in flight (as a kill would) */
    ctl_post(fx, "/_mock/fault", "{\"mode\":\"hang\"}");
    service_start(fx, XF_MODE_AUTO);
    policy_id("inc-7", "ws-7", id);
    incident(fx, "inc-7", "[\"ws-7\"]");
    while (mock_requests(fx) < 1)
        sleep_ms(10);
    service_stop(fx);
    {
        struct xf_outbox *ob;

        assert_int_equal(xf_outbox_open(fx->st, &ob), 0);
        assert_int_equal(xf_outbox_get(ob, id, &a), 0);
        xf_outbox_close(ob);
    }
    assert_int_equal(a.state, XF_AS_APPROVED);
    assert_int_equal(a.attempts, 1);

    /* the stored action is approved with one attempt counted; a restart sends it again */
    service_start(fx, XF_MODE_AUTO);
    wait_state(fx, id, XF_AS_CONFIRMED, &a);
    assert_int_equal(a.attempts, 2);
    assert_int_equal(mock_deliveries_of(fx, id), 1);
    service_stop(fx);

    /* confirmed: a restart and the same incident handed over again send nothing */
    before = mock_requests(fx);
    service_start(fx, XF_MODE_AUTO);
    incident(fx, "inc-7", "[\"ws-7\"]");
    sleep_ms(200);
    assert_int_equal(mock_requests(fx), before);
    assert_true(get_action(fx, id, &a));
    assert_int_equal(a.state, XF_AS_CONFIRMED);
}

static void test_incident_actions_lists_only_that_incidents_actions_across_a_restart(void **state)
{
    struct fixture *fx = *state;
    struct xf_action a;
    char id1[XF_ACTION_ID_LEN], id2[XF_ACTION_ID_LEN];
    char want[256];
    struct xf_buf b;

    service_start(fx, XF_MODE_AUTO);
    policy_id("inc-21", "ws-21", id1);
    policy_id("inc-22", "ws-22", id2);
    incident(fx, "inc-21", "[\"ws-21\"]");
    incident(fx, "inc-22", "[\"ws-22\"]");
    wait_state(fx, id1, XF_AS_CONFIRMED, &a);
    wait_state(fx, id2, XF_AS_CONFIRMED, &a);
    snprintf(want, sizeof(want),
             "[{\"id\":\"%s\",\"kind\":\"isolate\",\"host\":\"ws-21\",\"connector\":\"hook\","
             "\"status\":\"confirmed\",\"state\":\"confirmed\"}]",
             id1);
    xf_buf_init(&b);
    assert_int_equal(xf_response_incident_actions(fx->r, "inc-21", &b), 0);
    assert_string_equal(b.data, want);
    xf_buf_reset(&b);
    assert_int_equal(xf_response_incident_actions(fx->r, "inc-none", &b), 0);
    assert_string_equal(b.data, "[]");
    service_stop(fx);

    /* the index is rebuilt from the outbox */
    service_start(fx, XF_MODE_AUTO);
    xf_buf_reset(&b);
    assert_int_equal(xf_response_incident_actions(fx->r, "inc-21", &b), 0);
    assert_string_equal(b.data, want);
    xf_buf_close(&b);
}

static void test_manual_isolate_is_idempotent_by_key_and_pending_blocks_another(void **state)
{
    struct fixture *fx = *state;
    struct xf_resp_request q = {
        .op = XF_RESP_ISOLATE, .host = "ws-8", .actor = "alice", .idem_key = "k-1"};
    struct xf_action a1, a2;
    struct xf_buf b;
    int status = 0;

    ctl_post(fx, "/_mock/fault", "{\"mode\":\"hang\"}");
    service_start(fx, XF_MODE_APPROVE);
    xf_buf_init(&b);
    assert_int_equal(xf_response_request(fx->r, &q, &status, &b), 0);
    assert_int_equal(status, 201);
    assert_int_equal(xf_action_from_json(b.data, b.len, &a1), 0);
    assert_string_equal(a1.requested_by, "alice");
    xf_buf_reset(&b);
    assert_int_equal(xf_response_request(fx->r, &q, &status, &b), 0);
    assert_int_equal(status, 200);
    assert_int_equal(xf_action_from_json(b.data, b.len, &a2), 0);
    assert_string_equal(a1.id, a2.id);
    xf_buf_reset(&b);
    q.idem_key = "k-2";
    assert_int_equal(xf_response_request(fx->r, &q, &status, &b), 0);
    assert_int_equal(status, 409);
    assert_non_null(strstr(b.data, a1.id));
    xf_buf_close(&b);
    wait_state(fx, a1.id, XF_AS_CONFIRMED, &a2);
}

static void test_audit_log_has_one_json_line_per_decision(void **state)
{
    struct fixture *fx = *state;
    struct xf_action a;
    char id[XF_ACTION_ID_LEN], line[2048];
    int n = 0, planned = 0, confirmed = 0;
    FILE *f;

    service_start(fx, XF_MODE_AUTO);
    policy_id("inc-9", "ws-9", id);
    incident(fx, "inc-9", "[\"ws-9\"]");
    wait_state(fx, id, XF_AS_CONFIRMED, &a);
    assert_int_equal(xf_response_audit(fx->r, "isolate", "failure", NULL, "{\"status\":401}"), 0);
    service_stop(fx);
    assert_non_null(f = fopen(fx->audit, "r"));
    while (fgets(line, sizeof(line), f)) {
        json_t *j = json_loads(line, 0, NULL);
        json_t *act;

        assert_non_null(j);
        assert_non_null(json_object_get(j, "@timestamp"));
        act = json_object_get(json_object_get(j, "xdrflow"), "action");
        if (act && strcmp(json_string_value(json_object_get(act, "state")), "approved") == 0)
            planned++;
        if (act && strcmp(json_string_value(json_object_get(act, "state")), "confirmed") == 0) {
            confirmed++;
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(j, "event"), "outcome")),
                "success");
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(j, "host"), "name")), "ws-9");
        }
        json_decref(j);
        n++;
    }
    fclose(f);
    assert_int_equal(planned, 1); /* then "sending", "confirmed" and the API's line */
    assert_int_equal(confirmed, 1);
    assert_int_equal(n, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auto_mode_isolates_once_with_a_valid_signature, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_approve_mode_sends_only_after_approval, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_429_with_retry_after_waits_then_confirms, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_500s_fail_the_action_after_max_attempts, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_hang_times_out_and_is_retried, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_protected_host_is_never_sent, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_restart_resumes_an_approved_action_and_never_resends_a_confirmed_one, setup,
            fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_manual_isolate_is_idempotent_by_key_and_pending_blocks_another, setup,
            fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_incident_actions_lists_only_that_incidents_actions_across_a_restart, setup,
            fixture_teardown),
        cmocka_unit_test_setup_teardown(test_audit_log_has_one_json_line_per_decision, setup,
                                        fixture_teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
