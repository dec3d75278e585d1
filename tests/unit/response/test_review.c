/*
 * test_review.c - the hardening found in review of the response module: one test per fix.
 *
 * The service tests run the real response thread on a fresh store with a webhook connector
 * pointed at a port nothing listens on, so every send fails and the action stays pending (a
 * long back-off) or the test proves that nothing was sent at all (attempts stay 0).
 */
#define _GNU_SOURCE /* mkdtemp, nftw, setenv */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "connector.h"
#include "support.h"
#include "xf/response.h"
#include "xf/store.h"

static int setup(void **state)
{
    struct fixture *fx = fixture_open("review");

    setenv("XF_TEST_REVIEW_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_close(*state);
    return 0;
}

/* mode, and protected (NULL: none); the webhook goes nowhere; back-off of an hour. */
static void service_start(struct fixture *fx, enum xf_resp_mode mode, const char *protected)
{
    struct xf_response_conf c;
    struct xf_connector_conf *cc = &c.connectors[0];

    xf_response_conf_init(&c);
    c.policy.mode = mode;
    c.policy.backoff_base_ms = 3600000;
    c.policy.backoff_max_ms = 3600000;
    c.policy.timeout_ms = 300;
    c.policy.notify_incidents = 0;
    c.policy.min_severity = 0;
    if (protected) {
        c.policy.protected_hosts[0] = xf_strdup(protected);
        c.policy.n_protected = 1;
    }
    cc->name = xf_strdup("hook");
    cc->type = xf_strdup("webhook");
    cc->params[0].key = xf_strdup("url");
    cc->params[0].value = xf_strdup("http://127.0.0.1:1/hook");
    cc->params[1].key = xf_strdup("secret_env");
    cc->params[1].value = xf_strdup("XF_TEST_REVIEW_SECRET");
    cc->params[2].key = xf_strdup("actions");
    cc->params[2].value = xf_strdup("isolate,release");
    cc->n_params = 3;
    c.n_connectors = 1;
    assert_int_equal(xf_response_create(&c, fx->st, &fx->r), 0);
    xf_response_conf_close(&c);
}

/* One request; returns the status, the answer parsed into *out (caller json_decref). */
static int request(struct fixture *fx, const struct xf_resp_request *q, json_t **out)
{
    struct xf_buf b;
    int status = 0;

    xf_buf_init(&b);
    assert_int_equal(xf_response_request(fx->r, q, &status, &b), 0);
    *out = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
    assert_non_null(*out);
    xf_buf_close(&b);
    return status;
}

static const char *error_code(json_t *o)
{
    return json_string_value(json_object_get(json_object_get(o, "error"), "code"));
}

/* ---- policy -------------------------------------------------------------------------------- */

static void test_protected_matches_a_root_anchored_fqdn(void **state)
{
    struct xf_policy_conf p;

    (void)state;
    xf_policy_conf_init(&p);
    p.protected_hosts[0] = xf_strdup("dc01.corp.example");
    p.protected_hosts[1] = xf_strdup("re:^fs\\d+\\.corp\\.example$");
    p.n_protected = 2;
    assert_int_equal(xf_policy_host_protected(&p, "DC01.corp.example."), 1);
    assert_int_equal(xf_policy_host_protected(&p, "dc01.corp.example"), 1);
    assert_int_equal(xf_policy_host_protected(&p, " dc01.corp.example "), 1);
    assert_int_equal(xf_policy_host_protected(&p, "fs7.corp.example."), 1);
    assert_int_equal(xf_policy_host_protected(&p, "ws01.corp.example."), 0);
    assert_int_equal(xf_policy_host_protected(&p, "."), 0);
    xf_policy_conf_close(&p);
}

/* ---- the service --------------------------------------------------------------------------- */

static void test_release_of_another_name_of_a_host_with_a_pending_isolation_is_409(void **state)
{
    struct fixture *fx = *state;
    struct xf_resp_request iso = {
        .op = XF_RESP_ISOLATE, .host = "WS01.corp.example", .actor = "alice"};
    struct xf_resp_request rel = {.op = XF_RESP_RELEASE, .actor = "bob"};
    const char *names[] = {"ws01.corp.example.", "ws01", "WS01."};
    json_t *o;

    service_start(fx, XF_MODE_AUTO, NULL);
    assert_int_equal(request(fx, &iso, &o), 201);
    json_decref(o);
    for (size_t i = 0; i < 3; i++) {
        rel.host = names[i];
        assert_int_equal(request(fx, &rel, &o), 409);
        assert_string_equal(error_code(o), "action_pending");
        json_decref(o);
    }
    /* a second isolation by another name is refused the same way */
    iso.host = "ws01";
    assert_int_equal(request(fx, &iso, &o), 409);
    assert_string_equal(error_code(o), "action_pending");
    json_decref(o);
    /* another host that only shares a prefix is not the same */
    rel.host = "ws011";
    assert_int_equal(request(fx, &rel, &o), 201);
    json_decref(o);
}

static void test_manual_isolation_of_a_pattern_like_host_name_is_400(void **state)
{
    struct fixture *fx = *state;
    const char *bad[] = {"ws*", "ws 01", "ws'01", ".corp", "-x", "a\\b"};
    struct xf_resp_request q = {.op = XF_RESP_ISOLATE, .actor = "alice"};
    json_t *o;

    service_start(fx, XF_MODE_AUTO, NULL);
    for (size_t i = 0; i < XF_ARRAY_LEN(bad); i++) {
        q.host = bad[i];
        assert_int_equal(request(fx, &q, &o), 400);
        assert_string_equal(error_code(o), "bad_request");
        json_decref(o);
    }
}

static void test_approving_an_isolation_of_a_host_protected_since_planning_is_409(void **state)
{
    struct fixture *fx = *state;
    const char *inc = "{\"id\":\"inc-1\",\"severity\":\"critical\",\"score\":90,"
                      "\"stages\":[\"c2\"],\"hosts\":[\"ws-9.corp.example\"]}";
    struct xf_resp_request list = {.op = XF_RESP_LIST, .state = "planned"};
    struct xf_resp_request ap = {.op = XF_RESP_APPROVE, .actor = "alice"};
    struct xf_resp_request get = {.op = XF_RESP_GET};
    json_t *o, *acts = NULL;
    char id[XF_ACTION_ID_LEN];

    service_start(fx, XF_MODE_APPROVE, NULL);
    assert_int_equal(xf_response_incident(fx->r, inc, strlen(inc)), 0);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(request(fx, &list, &o), 200);
        if (json_array_size(json_object_get(o, "actions")) == 1) {
            acts = o;
            break;
        }
        json_decref(o);
        sleep_ms(10);
    }
    assert_non_null(acts);
    snprintf(id, sizeof(id), "%s",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(acts, "actions"), 0), "id")));
    json_decref(acts);
    service_stop(fx);

    service_start(fx, XF_MODE_APPROVE, "ws-9");
    ap.action_id = id;
    assert_int_equal(request(fx, &ap, &o), 409);
    assert_string_equal(error_code(o), "host_protected");
    json_decref(o);
    get.action_id = id;
    assert_int_equal(request(fx, &get, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "planned");
    assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 0);
    json_decref(o);
}

static void test_a_resumed_isolation_of_a_host_protected_since_fails_unsent(void **state)
{
    struct fixture *fx = *state;
    struct xf_resp_request get = {.op = XF_RESP_GET};
    struct xf_outbox *ob;
    struct xf_action a;
    json_t *o = NULL;
    const char *st = NULL;

    memset(&a, 0, sizeof(a));
    a.kind = XF_ACT_ISOLATE;
    a.state = XF_AS_APPROVED;
    snprintf(a.incident, sizeof(a.incident), "inc-2");
    snprintf(a.host, sizeof(a.host), "DC-01.corp.example.");
    snprintf(a.connector, sizeof(a.connector), "hook");
    snprintf(a.requested_by, sizeof(a.requested_by), "policy");
    xf_action_make_id(&a, "");
    assert_int_equal(xf_outbox_open(fx->st, &ob), 0);
    assert_int_equal(xf_outbox_put(ob, &a), 0);
    xf_outbox_close(ob);

    service_start(fx, XF_MODE_AUTO, "dc-*");
    get.action_id = a.id;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(request(fx, &get, &o), 200);
        st = json_string_value(json_object_get(o, "state"));
        if (st && strcmp(st, "approved") != 0)
            break;
        json_decref(o);
        o = NULL;
        sleep_ms(10);
    }
    assert_non_null(o);
    assert_string_equal(st, "failed");
    assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 0);
    assert_string_equal(json_string_value(json_object_get(o, "last_error")),
                        "the host is protected");
    json_decref(o);
}

static void test_an_idempotency_key_of_128_bytes_is_honoured(void **state)
{
    struct fixture *fx = *state;
    char key[129];
    struct xf_resp_request q = {
        .op = XF_RESP_ISOLATE, .host = "ws-5", .actor = "alice", .idem_key = key};
    json_t *o;
    char id[XF_ACTION_ID_LEN];

    memset(key, 'k', 128);
    key[128] = '\0';
    service_start(fx, XF_MODE_AUTO, NULL);
    assert_int_equal(request(fx, &q, &o), 201);
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
    /* the same key again: the same action, not a 409 for the pending one */
    assert_int_equal(request(fx, &q, &o), 200);
    assert_string_equal(json_string_value(json_object_get(o, "id")), id);
    json_decref(o);
}

/* ---- connectors ---------------------------------------------------------------------------- */

static void conn_conf(struct xf_connector_conf *c, const char *type, const char *base)
{
    memset(c, 0, sizeof(*c));
    c->name = "t";
    c->type = (char *)type;
    c->params[0].key = "base_url";
    c->params[0].value = (char *)base;
    c->params[1].key = "token_env";
    c->params[1].value = "XF_TEST_REVIEW_SECRET";
    c->n_params = 2;
}

static void test_visionone_never_polls_a_stored_url_off_its_origin(void **state)
{
    const struct xf_connector_ops *ops = xf_connector_find("visionone");
    struct xf_connector_conf c;
    struct xf_conn_request rq;
    struct xf_conn_ctx ctx = {NULL, 0, 1700000000};
    struct xf_action a;
    char why[256];
    void *st = NULL;

    (void)state;
    conn_conf(&c, "visionone", "https://api.xdr.example");
    assert_int_equal(ops->create(&c, &st, why, sizeof(why)), 0);
    memset(&a, 0, sizeof(a));
    a.kind = XF_ACT_ISOLATE;
    a.state = XF_AS_SENT;
    a.phase = 1;
    snprintf(a.host, sizeof(a.host), "ws01");
    snprintf(a.remote_id, sizeof(a.remote_id), "https://api.xdr.example.evil.test/v3.0/t/1");
    memset(&rq, 0, sizeof(rq));
    xf_buf_init(&rq.body);
    assert_int_equal(ops->next(st, &a, &ctx, &rq), 0);
    assert_string_equal(rq.method, "POST");
    assert_string_equal(rq.url, "https://api.xdr.example/v3.0/response/endpoints/isolate");
    assert_int_equal(a.phase, 0);
    assert_string_equal(a.remote_id, "");
    xf_conn_request_reset(&rq);

    /* on the origin: polled as stored */
    a.phase = 1;
    snprintf(a.remote_id, sizeof(a.remote_id), "https://API.xdr.example/v3.0/t/1");
    xf_buf_init(&rq.body);
    assert_int_equal(ops->next(st, &a, &ctx, &rq), 0);
    assert_string_equal(rq.method, "GET");
    assert_string_equal(rq.url, "https://API.xdr.example/v3.0/t/1");
    xf_conn_request_reset(&rq);
    ops->destroy(st);
}

static void test_sentinelone_refuses_an_agent_other_than_the_mapped_one(void **state)
{
    const struct xf_connector_ops *ops = xf_connector_find("sentinelone");
    const char *body = "{\"data\":[{\"id\":\"999\",\"computerName\":\"ws01\","
                       "\"networkStatus\":\"connected\"}]}";
    struct xf_connector_conf c;
    struct xf_conn_reply rep = {200, body, strlen(body), NULL, 0, NULL};
    struct xf_conn_ctx ctx = {NULL, 0, 1700000000};
    struct xf_conn_outcome out;
    struct xf_action a;
    char why[256];
    void *st = NULL;

    (void)state;
    conn_conf(&c, "sentinelone", "https://s1.example");
    c.devices[0].host = "ws01";
    c.devices[0].device_id = "123";
    c.n_devices = 1;
    assert_int_equal(ops->create(&c, &st, why, sizeof(why)), 0);
    memset(&a, 0, sizeof(a));
    a.kind = XF_ACT_ISOLATE;
    a.state = XF_AS_APPROVED;
    snprintf(a.host, sizeof(a.host), "ws01");
    assert_int_equal(ops->on_reply(st, &a, &ctx, &rep, &out), 0);
    assert_int_equal(out.step, XF_STEP_FAILED);
    assert_string_equal(a.device_id, "");
    ops->destroy(st);
}

static void test_a_retry_after_date_years_ahead_is_capped_at_a_day(void **state)
{
    const char *h[] = {"Retry-After: Fri, 01 Jan 2100 00:00:00 GMT"};
    struct xf_conn_reply rep = {503, "", 0, h, 1, NULL};

    (void)state;
    assert_int_equal(xf_conn_retry_after_ms(&rep, 1700000000), 86400 * 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protected_matches_a_root_anchored_fqdn),
        cmocka_unit_test_setup_teardown(
            test_release_of_another_name_of_a_host_with_a_pending_isolation_is_409, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_manual_isolation_of_a_pattern_like_host_name_is_400,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_approving_an_isolation_of_a_host_protected_since_planning_is_409, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_resumed_isolation_of_a_host_protected_since_fails_unsent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_idempotency_key_of_128_bytes_is_honoured, setup,
                                        teardown),
        cmocka_unit_test(test_visionone_never_polls_a_stored_url_off_its_origin),
        cmocka_unit_test(test_sentinelone_refuses_an_agent_other_than_the_mapped_one),
        cmocka_unit_test(test_a_retry_after_date_years_ahead_is_capped_at_a_day),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
