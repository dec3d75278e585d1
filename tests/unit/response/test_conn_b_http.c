/*
 * test_conn_b_http.c - the Vision One, Cortex XDR and SOAR connectors over real HTTP: the
 * response service (store, thread, libcurl) in auto mode against tests/mockvendor/server.py
 * with the visionone, cortex and soar vendor modules (separate processes). Each test drives an
 * incident (or an API release) to confirmed and checks what the vendor ended up with and how
 * many requests it took. Timings are small (poll 20 ms, backoff 10 ms).
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

/* The paths of the vendor requests received so far, as "METHOD path" lines. */
static void mock_request_lines(const struct fixture *fx, struct xf_buf *out)
{
    json_t *j = ctl(fx, "/_mock/requests", NULL), *v;
    size_t i;

    xf_buf_init(out);
    json_array_foreach(j, i, v)
    {
        assert_int_equal(xf_buf_appendf(out, "%s %s\n",
                                        json_string_value(json_object_get(v, "method")),
                                        json_string_value(json_object_get(v, "path"))),
                         0);
    }
    json_decref(j);
}

static struct xf_connector_conf *conn_add(struct xf_response_conf *c, const char *name,
                                          const char *type)
{
    struct xf_connector_conf *cc = &c->connectors[c->n_connectors++];

    cc->name = xf_strdup(name);
    cc->type = xf_strdup(type);
    return cc;
}

static void conf_init(struct xf_response_conf *c, int notify)
{
    xf_response_conf_init(c);
    c->policy.mode = XF_MODE_AUTO;
    c->policy.backoff_base_ms = 10;
    c->policy.backoff_max_ms = 40;
    c->policy.poll_interval_ms = 20;
    c->policy.timeout_ms = 2000;
    c->policy.max_attempts = 3;
    c->policy.notify_incidents = notify;
}

static void service_start(struct fixture *fx, struct xf_response_conf *c)
{
    assert_int_equal(xf_response_create(c, fx->st, &fx->r), 0);
    xf_response_conf_close(c);
}

static int setup_vendor(void **state, const char *vendor)
{
    struct fixture *fx = fixture_open("connb");

    setenv("XF_TEST_V1_TOKEN", "v1-token", 1);
    setenv("XF_TEST_CX_KEY", "cx-key", 1);
    setenv("XF_TEST_SOAR_TOKEN", "soar-token", 1);
    mock_start(fx, vendor);
    *state = fx;
    return 0;
}

static int setup_visionone(void **state)
{
    return setup_vendor(state, "visionone");
}

static int setup_cortex(void **state)
{
    return setup_vendor(state, "cortex");
}

static int setup_soar(void **state)
{
    return setup_vendor(state, "soar");
}

static void incident(struct fixture *fx, const char *id, const char *host, int score)
{
    char json[512];

    snprintf(json, sizeof(json),
             "{\"id\":\"%s\",\"severity\":\"critical\",\"score\":%d,\"hosts\":[\"%s\"],"
             "\"techniques\":[\"T1059.001\"],\"stages\":[\"execution\",\"c2\"],"
             "\"nodes\":[{\"id\":\"n1\",\"kind\":\"network\",\"entity\":\"10.10.10.5\"}]}",
             id, score, host);
    assert_int_equal(xf_response_incident(fx->r, json, strlen(json)), 0);
}

static void isolate_id(const char *inc, const char *host, const char *conn, char *id)
{
    make_action_id(XF_ACT_ISOLATE, inc, host, conn, "", id);
}

/* An API release of host; returns its action id in id. */
static void release(struct fixture *fx, const char *host, char *id)
{
    struct xf_resp_request q = {.op = XF_RESP_RELEASE, .host = host, .actor = "alice"};
    struct xf_action a;
    struct xf_buf b;
    int status = 0;

    xf_buf_init(&b);
    assert_int_equal(xf_response_request(fx->r, &q, &status, &b), 0);
    assert_true(status == 201 || status == 202 || status == 200);
    assert_int_equal(xf_action_from_json(b.data, b.len, &a), 0);
    xf_buf_close(&b);
    memcpy(id, a.id, sizeof(a.id));
}

/* ---- Vision One ---------------------------------------------------------------------------- */

static void visionone_conf(const struct fixture *fx, struct xf_response_conf *c)
{
    struct xf_connector_conf *cc;

    conf_init(c, 0);
    cc = conn_add(c, "v1", "visionone");
    conf_add(cc, "base_url", fx->base);
    conf_add(cc, "token_env", "XF_TEST_V1_TOKEN");
}

static void test_visionone_isolates_polls_the_task_and_releases(void **state)
{
    struct fixture *fx = *state;
    struct xf_response_conf c;
    struct xf_action a;
    char id[XF_ACTION_ID_LEN], rel[XF_ACTION_ID_LEN], iso[64];
    struct xf_buf reqs;

    visionone_conf(fx, &c);
    service_start(fx, &c);
    isolate_id("inc-v1", "ws-01", "v1", id);
    incident(fx, "inc-v1", "ws-01", 95);
    wait_state(fx, id, XF_AS_CONFIRMED, &a);
    mock_isolated(fx, iso, sizeof(iso));
    assert_string_equal(iso, "ws-01");
    assert_non_null(strstr(a.remote_id, "/v3.0/response/tasks/00000001"));
    mock_request_lines(fx, &reqs);
    assert_string_equal(reqs.data, "POST /v3.0/response/endpoints/isolate\n"
                                   "GET /v3.0/response/tasks/00000001\n"
                                   "GET /v3.0/response/tasks/00000001\n"
                                   "GET /v3.0/response/tasks/00000001\n");
    xf_buf_close(&reqs);

    release(fx, "ws-01", rel);
    wait_state(fx, rel, XF_AS_CONFIRMED, &a);
    mock_isolated(fx, iso, sizeof(iso));
    assert_string_equal(iso, "");
}

static void test_visionone_already_isolated_is_confirmed_after_one_request(void **state)
{
    struct fixture *fx = *state;
    struct xf_response_conf c;
    struct xf_action a;
    char id[XF_ACTION_ID_LEN];
    struct xf_buf reqs;

    json_decref(ctl(fx, "/_mock/state", "{\"isolated\":[\"ws-02\"]}"));
    visionone_conf(fx, &c);
    service_start(fx, &c);
    isolate_id("inc-v2", "ws-02", "v1", id);
    incident(fx, "inc-v2", "ws-02", 95);
    wait_state(fx, id, XF_AS_CONFIRMED, &a);
    assert_int_equal(a.attempts, 1);
    mock_request_lines(fx, &reqs);
    assert_string_equal(reqs.data, "POST /v3.0/response/endpoints/isolate\n");
    xf_buf_close(&reqs);
}

/* ---- Cortex XDR ---------------------------------------------------------------------------- */

static void cortex_conf(const struct fixture *fx, struct xf_response_conf *c, const char *auth_type)
{
    struct xf_connector_conf *cc;

    conf_init(c, 0);
    cc = conn_add(c, "cx", "cortex");
    conf_add(cc, "base_url", fx->base);
    conf_add(cc, "key_env", "XF_TEST_CX_KEY");
    conf_add(cc, "key_id", "7");
    if (auth_type)
        conf_add(cc, "auth_type", auth_type);
}

static void cortex_isolates(struct fixture *fx, const char *auth_type)
{
    struct xf_response_conf c;
    struct xf_action a;
    char id[XF_ACTION_ID_LEN], iso[64];
    struct xf_buf reqs;

    cortex_conf(fx, &c, auth_type);
    service_start(fx, &c);
    isolate_id("inc-c1", "ws-01", "cx", id);
    incident(fx, "inc-c1", "ws-01", 95);
    wait_state(fx, id, XF_AS_CONFIRMED, &a);
    assert_string_equal(a.remote_id, "100");
    mock_isolated(fx, iso, sizeof(iso));
    assert_string_equal(iso, "ws-01");
    mock_request_lines(fx, &reqs);
    assert_string_equal(reqs.data, "POST /public_api/v1/endpoints/get_endpoint\n"
                                   "POST /public_api/v1/endpoints/isolate\n"
                                   "POST /public_api/v1/actions/get_action_status\n"
                                   "POST /public_api/v1/actions/get_action_status\n"
                                   "POST /public_api/v1/actions/get_action_status\n");
    xf_buf_close(&reqs);
}

static void test_cortex_standard_key_prechecks_isolates_and_polls(void **state)
{
    cortex_isolates(*state, NULL);
}

static void test_cortex_advanced_key_is_accepted_by_an_independent_hash(void **state)
{
    struct fixture *fx = *state;
    json_t *st, *v;
    size_t i;

    /* the mock recomputes sha256(key + nonce + timestamp) with Python's hashlib */
    json_decref(ctl(fx, "/_mock/state", "{\"require\":\"advanced\"}"));
    cortex_isolates(fx, "advanced");
    st = ctl(fx, "/_mock/state", NULL);
    assert_int_equal(json_array_size(json_object_get(st, "auth_seen")), 5);
    json_array_foreach(json_object_get(st, "auth_seen"), i, v)
    {
        assert_string_equal(json_string_value(v), "advanced");
    }
    json_decref(st);
}

static void test_cortex_already_isolated_endpoint_gets_no_isolate_request(void **state)
{
    struct fixture *fx = *state;
    struct xf_response_conf c;
    struct xf_action a;
    char id[XF_ACTION_ID_LEN];
    struct xf_buf reqs;

    json_decref(ctl(fx, "/_mock/state", "{\"isolated\":[\"ws-02\"]}"));
    cortex_conf(fx, &c, NULL);
    service_start(fx, &c);
    isolate_id("inc-c2", "ws-02", "cx", id);
    incident(fx, "inc-c2", "ws-02", 95);
    wait_state(fx, id, XF_AS_CONFIRMED, &a);
    mock_request_lines(fx, &reqs);
    assert_string_equal(reqs.data, "POST /public_api/v1/endpoints/get_endpoint\n");
    xf_buf_close(&reqs);
}

/* ---- SOAR ---------------------------------------------------------------------------------- */

static int soar_deliveries(const struct fixture *fx)
{
    json_t *j = ctl(fx, "/_mock/state", NULL);
    int n = (int)json_integer_value(json_object_get(j, "deliveries"));

    json_decref(j);
    return n;
}

static void wait_deliveries(const struct fixture *fx, int want)
{
    int64_t end = mono_ms() + 10000;

    while (mono_ms() < end && soar_deliveries(fx) < want)
        sleep_ms(10);
    assert_int_equal(soar_deliveries(fx), want);
}

static void test_soar_notifies_each_shape_once_per_incident_version(void **state)
{
    struct fixture *fx = *state;
    struct xf_response_conf c;
    struct xf_connector_conf *cc;
    char url[96];
    json_t *st;

    conf_init(&c, 1);
    snprintf(url, sizeof(url), "%s/hook", fx->base);
    cc = conn_add(&c, "generic", "soar");
    conf_add(cc, "url", url);
    conf_add(cc, "token_env", "XF_TEST_SOAR_TOKEN");
    cc = conn_add(&c, "splunk", "soar");
    conf_add(cc, "shape", "splunk_soar");
    conf_add(cc, "base_url", fx->base);
    conf_add(cc, "token_env", "XF_TEST_SOAR_TOKEN");
    cc = conn_add(&c, "hive", "soar");
    conf_add(cc, "shape", "thehive");
    conf_add(cc, "base_url", fx->base);
    conf_add(cc, "token_env", "XF_TEST_SOAR_TOKEN");
    service_start(fx, &c);

    incident(fx, "inc-s1", "ws-01", 90);
    wait_deliveries(fx, 3);
    incident(fx, "inc-s1", "ws-01", 90); /* the same version: nothing new */
    sleep_ms(200);
    assert_int_equal(soar_deliveries(fx), 3);
    incident(fx, "inc-s1", "ws-01", 97); /* an update: one more of each */
    wait_deliveries(fx, 6);
    st = ctl(fx, "/_mock/state", NULL);
    assert_int_equal(json_object_size(json_object_get(st, "containers")), 2);
    assert_int_equal(json_array_size(json_object_get(st, "alerts")), 2);
    assert_int_equal(json_array_size(json_object_get(st, "hooks")), 2);
    json_decref(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_visionone_isolates_polls_the_task_and_releases,
                                        setup_visionone, fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_visionone_already_isolated_is_confirmed_after_one_request, setup_visionone,
            fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cortex_standard_key_prechecks_isolates_and_polls,
                                        setup_cortex, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cortex_advanced_key_is_accepted_by_an_independent_hash,
                                        setup_cortex, fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_cortex_already_isolated_endpoint_gets_no_isolate_request, setup_cortex,
            fixture_teardown),
        cmocka_unit_test_setup_teardown(test_soar_notifies_each_shape_once_per_incident_version,
                                        setup_soar, fixture_teardown),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
