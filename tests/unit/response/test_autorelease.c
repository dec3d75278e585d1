/*
 * test_autorelease.c - response.auto_release_after end to end: a real store, the response
 * thread and a webhook receiver (tests/mockvendor/server.py --vendor webhook, a separate
 * process that checks signatures and deduplicates by webhook-id). A confirmed isolation the
 * policy planned is released once, that long after its confirmation, also across restarts;
 * a manual isolation never is; approve and dry_run plan the release as they plan isolations.
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

static void service_start(struct fixture *fx, enum xf_resp_mode mode, int64_t after_ms)
{
    struct xf_response_conf c;
    struct xf_connector_conf *cc = &c.connectors[0];
    char url[96];

    xf_response_conf_init(&c);
    c.policy.mode = mode;
    c.policy.auto_release_after_ms = after_ms;
    c.policy.backoff_base_ms = 10;
    c.policy.backoff_max_ms = 40;
    c.policy.poll_interval_ms = 20;
    c.policy.timeout_ms = 300;
    c.policy.max_attempts = 3;
    c.policy.notify_incidents = 0;
    c.audit_log = xf_strdup(fx->audit);
    snprintf(url, sizeof(url), "%s/hook", fx->base);
    cc->name = xf_strdup("hook");
    cc->type = xf_strdup("webhook");
    cc->params[0].key = xf_strdup("url");
    cc->params[0].value = xf_strdup(url);
    cc->params[1].key = xf_strdup("secret_env");
    cc->params[1].value = xf_strdup("XF_TEST_AUTOREL_SECRET");
    cc->n_params = 2;
    c.n_connectors = 1;
    assert_int_equal(xf_response_create(&c, fx->st, &fx->r), 0);
    xf_response_conf_close(&c);
}

static int setup(void **state)
{
    *state = webhook_fixture_open("autorel", "XF_TEST_AUTOREL_SECRET", SECRET);
    return 0;
}

static void incident(struct fixture *fx, const char *id, const char *host)
{
    char hosts[300];

    snprintf(hosts, sizeof(hosts), "[\"%s\"]", host);
    send_critical_incident(fx, id, hosts);
}

/* The id of an action of the "hook" connector, as xf_action_make_id derives it. */
static void action_id(enum xf_action_kind kind, const char *inc, const char *host, const char *salt,
                      char *id)
{
    make_action_id(kind, inc, host, "hook", salt, id);
}

/* The policy's isolate id for (incident, host) and the id of its auto release. */
static void policy_ids(const char *inc, const char *host, char *iso, char *rel)
{
    char salt[8 + XF_ACTION_ID_LEN];

    action_id(XF_ACT_ISOLATE, inc, host, "", iso);
    snprintf(salt, sizeof(salt), "auto:%s", iso);
    action_id(XF_ACT_RELEASE, inc, host, salt, rel);
}

/* Approves (or denies) an action through the service, as the API does; returns the status. */
static int decide(struct fixture *fx, const char *id, int approve)
{
    struct xf_resp_request q = {
        .op = approve ? XF_RESP_APPROVE : XF_RESP_DENY, .action_id = id, .actor = "alice"};
    struct xf_buf b;
    int status = 0;

    xf_buf_init(&b);
    assert_int_equal(xf_response_request(fx->r, &q, &status, &b), 0);
    xf_buf_close(&b);
    return status;
}

/* Audit lines written by actor with the given event.action and xdrflow.action.state. */
static int audit_count(const struct fixture *fx, const char *actor, const char *action,
                       const char *state)
{
    char line[4096];
    int n = 0;
    FILE *f = fopen(fx->audit, "r");

    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        json_t *j = json_loads(line, 0, NULL), *xf;
        const char *a, *s, *who;

        assert_non_null(j);
        xf = json_object_get(j, "xdrflow");
        a = json_string_value(json_object_get(json_object_get(j, "event"), "action"));
        s = json_string_value(json_object_get(json_object_get(xf, "action"), "state"));
        who = json_string_value(json_object_get(xf, "actor"));
        if (a && s && who && !strcmp(a, action) && !strcmp(s, state) && !strcmp(who, actor))
            n++;
        json_decref(j);
    }
    fclose(f);
    return n;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_policy_isolation_is_released_once_after_its_confirmation(void **state)
{
    struct fixture *fx = *state;
    struct xf_action iso, rel;
    char iso_id[XF_ACTION_ID_LEN], rel_id[XF_ACTION_ID_LEN], hosts[256];
    int64_t confirmed_ms;

    service_start(fx, XF_MODE_AUTO, 1000);
    policy_ids("inc-1", "ws-1", iso_id, rel_id);
    incident(fx, "inc-1", "ws-1");
    wait_state(fx, iso_id, XF_AS_CONFIRMED, &iso);
    confirmed_ms = iso.updated_ms;
    mock_isolated(fx, hosts, sizeof(hosts));
    assert_string_equal(hosts, "ws-1");
    wait_state(fx, rel_id, XF_AS_CONFIRMED, &rel);
    /* not before its time, and promptly after it */
    assert_true(rel.created_ms >= confirmed_ms + 1000);
    assert_true(rel.created_ms < confirmed_ms + 1500);
    assert_int_equal(rel.kind, XF_ACT_RELEASE);
    assert_string_equal(rel.host, "ws-1");
    assert_string_equal(rel.incident, "inc-1");
    assert_string_equal(rel.requested_by, "policy:auto_release");
    assert_non_null(strstr(rel.reason, "auto release"));
    assert_non_null(strstr(rel.reason, iso_id));
    wait_state(fx, iso_id, XF_AS_RELEASED, &iso);
    mock_isolated(fx, hosts, sizeof(hosts));
    assert_string_equal(hosts, "");
    /* the same incident again plans no second isolation, and nothing more is sent */
    incident(fx, "inc-1", "ws-1");
    sleep_ms(300);
    assert_int_equal(mock_requests(fx), 2);
    assert_int_equal(mock_deliveries_of(fx, rel_id), 1);
    assert_int_equal(mock_int(fx, "bad_signatures"), 0);
    service_stop(fx);
    assert_int_equal(audit_count(fx, "policy:auto_release", "release", "approved"), 1);
    assert_int_equal(audit_count(fx, "policy:auto_release", "release", "confirmed"), 1);
}

static void test_manual_isolation_is_never_released_automatically(void **state)
{
    struct fixture *fx = *state;
    struct xf_resp_request q = {
        .op = XF_RESP_ISOLATE, .host = "ws-2", .actor = "alice", .idem_key = "k-2"};
    struct xf_action man, iso, rel;
    char iso_id[XF_ACTION_ID_LEN], rel_id[XF_ACTION_ID_LEN], hosts[256];
    struct xf_buf b;
    int status = 0;

    service_start(fx, XF_MODE_AUTO, 500);
    xf_buf_init(&b);
    assert_int_equal(xf_response_request(fx->r, &q, &status, &b), 0);
    assert_int_equal(status, 201);
    assert_int_equal(xf_action_from_json(b.data, b.len, &man), 0);
    xf_buf_close(&b);
    wait_state(fx, man.id, XF_AS_CONFIRMED, &man);
    /* a policy isolation confirmed after the manual one is released: the timer ran past the
     * manual one's would-be due time */
    policy_ids("inc-3", "ws-3", iso_id, rel_id);
    incident(fx, "inc-3", "ws-3");
    wait_state(fx, rel_id, XF_AS_CONFIRMED, &rel);
    wait_state(fx, iso_id, XF_AS_RELEASED, &iso);
    sleep_ms(200);
    assert_true(get_action(fx, man.id, &man));
    assert_int_equal(man.state, XF_AS_CONFIRMED);
    mock_isolated(fx, hosts, sizeof(hosts));
    assert_string_equal(hosts, "ws-2");
    assert_int_equal(mock_requests(fx), 3); /* isolate ws-2, isolate ws-3, release ws-3 */
}

static void test_restart_before_the_due_time_keeps_it_from_the_confirmation(void **state)
{
    struct fixture *fx = *state;
    struct xf_action iso, rel;
    char iso_id[XF_ACTION_ID_LEN], rel_id[XF_ACTION_ID_LEN];
    int64_t confirmed_ms;

    service_start(fx, XF_MODE_AUTO, 1500);
    policy_ids("inc-4", "ws-4", iso_id, rel_id);
    incident(fx, "inc-4", "ws-4");
    wait_state(fx, iso_id, XF_AS_CONFIRMED, &iso);
    confirmed_ms = iso.updated_ms;
    service_stop(fx);
    assert_true(wall_ms() < confirmed_ms + 1500);
    sleep_ms(300);
    service_start(fx, XF_MODE_AUTO, 1500);
    wait_state(fx, rel_id, XF_AS_CONFIRMED, &rel);
    assert_true(rel.created_ms >= confirmed_ms + 1500);
    assert_true(rel.created_ms < confirmed_ms + 2000);
    wait_state(fx, iso_id, XF_AS_RELEASED, &iso);
    service_stop(fx);
    /* released: a further restart plans and sends nothing */
    service_start(fx, XF_MODE_AUTO, 1500);
    sleep_ms(300);
    assert_int_equal(mock_requests(fx), 2);
    assert_int_equal(mock_deliveries_of(fx, rel_id), 1);
}

static void test_restart_after_the_due_time_releases_at_once_and_once(void **state)
{
    struct fixture *fx = *state;
    struct xf_action iso, rel;
    char iso_id[XF_ACTION_ID_LEN], rel_id[XF_ACTION_ID_LEN], hosts[256];
    int64_t restart_ms;

    /* confirmed while auto release was off; on with 500 ms, the isolation is overdue */
    service_start(fx, XF_MODE_AUTO, 0);
    policy_ids("inc-5", "ws-5", iso_id, rel_id);
    incident(fx, "inc-5", "ws-5");
    wait_state(fx, iso_id, XF_AS_CONFIRMED, &iso);
    sleep_ms(700);
    assert_false(get_action(fx, rel_id, &rel));
    service_stop(fx);
    restart_ms = wall_ms();
    service_start(fx, XF_MODE_AUTO, 500);
    wait_state(fx, rel_id, XF_AS_CONFIRMED, &rel);
    assert_true(rel.created_ms - restart_ms < 500);
    wait_state(fx, iso_id, XF_AS_RELEASED, &iso);
    service_stop(fx);
    service_start(fx, XF_MODE_AUTO, 500);
    sleep_ms(300);
    assert_int_equal(mock_requests(fx), 2);
    assert_int_equal(mock_deliveries_of(fx, rel_id), 1);
    mock_isolated(fx, hosts, sizeof(hosts));
    assert_string_equal(hosts, "");
}

static void test_approve_mode_plans_the_release_for_approval(void **state)
{
    struct fixture *fx = *state;
    struct xf_action iso, rel;
    char iso_id[XF_ACTION_ID_LEN], rel_id[XF_ACTION_ID_LEN], hosts[256];

    service_start(fx, XF_MODE_APPROVE, 500);
    policy_ids("inc-6", "ws-6", iso_id, rel_id);
    incident(fx, "inc-6", "ws-6");
    wait_state(fx, iso_id, XF_AS_PLANNED, &iso);
    assert_int_equal(decide(fx, iso_id, 1), 200);
    wait_state(fx, iso_id, XF_AS_CONFIRMED, &iso);
    wait_state(fx, rel_id, XF_AS_PLANNED, &rel);
    assert_string_equal(rel.requested_by, "policy:auto_release");
    sleep_ms(200);
    assert_int_equal(mock_requests(fx), 1);
    mock_isolated(fx, hosts, sizeof(hosts));
    assert_string_equal(hosts, "ws-6");
    assert_int_equal(decide(fx, rel_id, 1), 200);
    wait_state(fx, rel_id, XF_AS_CONFIRMED, &rel);
    wait_state(fx, iso_id, XF_AS_RELEASED, &iso);
    mock_isolated(fx, hosts, sizeof(hosts));
    assert_string_equal(hosts, "");
}

static void test_a_denied_auto_release_is_not_planned_again_after_a_restart(void **state)
{
    struct fixture *fx = *state;
    struct xf_action iso, rel;
    char iso_id[XF_ACTION_ID_LEN], rel_id[XF_ACTION_ID_LEN];

    service_start(fx, XF_MODE_APPROVE, 300);
    policy_ids("inc-7", "ws-7", iso_id, rel_id);
    incident(fx, "inc-7", "ws-7");
    wait_state(fx, iso_id, XF_AS_PLANNED, &iso);
    assert_int_equal(decide(fx, iso_id, 1), 200);
    wait_state(fx, rel_id, XF_AS_PLANNED, &rel);
    assert_int_equal(decide(fx, rel_id, 0), 200);
    service_stop(fx);
    service_start(fx, XF_MODE_APPROVE, 300);
    sleep_ms(500);
    assert_true(get_action(fx, rel_id, &rel));
    assert_int_equal(rel.state, XF_AS_DENIED);
    assert_true(get_action(fx, iso_id, &iso));
    assert_int_equal(iso.state, XF_AS_CONFIRMED);
    assert_int_equal(mock_requests(fx), 1);
}

static void test_dry_run_records_the_release_and_sends_nothing(void **state)
{
    struct fixture *fx = *state;
    struct xf_action iso, rel;
    char iso_id[XF_ACTION_ID_LEN], rel_id[XF_ACTION_ID_LEN], hosts[256];

    /* isolations are never sent in dry_run: this one was confirmed before the switch */
    service_start(fx, XF_MODE_AUTO, 0);
    policy_ids("inc-8", "ws-8", iso_id, rel_id);
    incident(fx, "inc-8", "ws-8");
    wait_state(fx, iso_id, XF_AS_CONFIRMED, &iso);
    service_stop(fx);
    service_start(fx, XF_MODE_DRY_RUN, 300);
    wait_state(fx, rel_id, XF_AS_DRY_RUN, &rel);
    assert_string_equal(rel.requested_by, "policy:auto_release");
    sleep_ms(200);
    assert_true(get_action(fx, iso_id, &iso));
    assert_int_equal(iso.state, XF_AS_CONFIRMED);
    assert_int_equal(mock_requests(fx), 1);
    mock_isolated(fx, hosts, sizeof(hosts));
    assert_string_equal(hosts, "ws-8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_policy_isolation_is_released_once_after_its_confirmation, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_manual_isolation_is_never_released_automatically,
                                        setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_restart_before_the_due_time_keeps_it_from_the_confirmation, setup,
            fixture_teardown),
        cmocka_unit_test_setup_teardown(test_restart_after_the_due_time_releases_at_once_and_once,
                                        setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_approve_mode_plans_the_release_for_approval, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_denied_auto_release_is_not_planned_again_after_a_restart, setup,
            fixture_teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_records_the_release_and_sends_nothing, setup,
                                        fixture_teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
