/*
 * test_webhook.c - the generic webhook connector fed by hand: the exact request it builds
 * (Standard Webhooks headers and a signature checked against an independent implementation)
 * and how it reads each answer.
 *
 * The fixed signature vectors were computed with Python's standard library, not with our code:
 *
 *   import hmac, hashlib, base64
 *   msg = b"act-0123456789abcdef.1700000000." + b'{"id":"inc-1","severity":"high"}'
 *   key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")   # whsec_ secret
 *   base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest())
 *     -> VWj8xiDtrDvUVHay+vQG2levw1K4x07pZhL8c6/MhWg=
 *   base64.b64encode(hmac.new(b"plain-secret", msg, hashlib.sha256).digest())
 *     -> IQgubvMVbMCmgOdXZszk7R4KmWODE5OyukHh7EIjA9s=
 *   base64.b64encode(b"alice:s3cret") -> YWxpY2U6czNjcmV0
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

#define BODY "{\"id\":\"inc-1\",\"severity\":\"high\"}"

static struct xf_connector_conf conf;

static void conf_set(const char *name, const char *key, const char *value)
{
    conf.name = (char *)name;
    conf.type = (char *)"webhook";
    conf.params[conf.n_params].key = (char *)key;
    conf.params[conf.n_params].value = (char *)value;
    conf.n_params++;
}

static int setup(void **st)
{
    (void)st;
    memset(&conf, 0, sizeof(conf));
    setenv("XF_TEST_WHSEC", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
    setenv("XF_TEST_RAWSEC", "plain-secret", 1);
    setenv("XF_TEST_TOKEN", "tok-123", 1);
    setenv("XF_TEST_PASS", "s3cret", 1);
    return 0;
}

static const char *header(const struct xf_conn_request *rq, const char *name)
{
    size_t nl = strlen(name);

    for (size_t i = 0; i < rq->n_headers; i++) {
        if (strncmp(rq->headers[i], name, nl) == 0 && rq->headers[i][nl] == ':')
            return rq->headers[i] + nl + 2;
    }
    return NULL;
}

/* A webhook connector "hook" posting to url, with the NULL-terminated key/value pairs kv, and a
 * NOTIFY action of incident inc-1 whose payload is BODY; the caller asks for the request. */
static struct fx *hook_open(const char *url, const char *const *kv)
{
    struct fx *f = fx_open("hook", "webhook");

    conf_add(&f->conf, "url", url);
    for (size_t i = 0; kv[i]; i += 2)
        conf_add(&f->conf, kv[i], kv[i + 1]);
    fx_create(f);
    snprintf(f->a.id, sizeof(f->a.id), "act-0123456789abcdef");
    f->a.kind = XF_ACT_NOTIFY;
    snprintf(f->a.incident, sizeof(f->a.incident), "inc-1");
    f->ctx.payload = BODY;
    f->ctx.payload_len = strlen(BODY);
    f->ctx.now_s = 1700000000;
    return f;
}

static void test_signature_with_whsec_secret_matches_python_hmac(void **st)
{
    static const char *const kv[] = {"secret_env", "XF_TEST_WHSEC", NULL};
    struct fx *f = hook_open("http://127.0.0.1:1/hook", kv);

    (void)st;
    fx_next(f);
    assert_string_equal(f->rq.method, "POST");
    assert_string_equal(f->rq.url, "http://127.0.0.1:1/hook");
    assert_int_equal(f->rq.body.len, strlen(BODY));
    assert_memory_equal(f->rq.body.data, BODY, strlen(BODY));
    assert_string_equal(header(&f->rq, "webhook-signature"),
                        "v1,VWj8xiDtrDvUVHay+vQG2levw1K4x07pZhL8c6/MhWg=");
    fx_close(f);
}

static void test_signature_with_raw_secret_matches_python_hmac(void **st)
{
    static const char *const kv[] = {"secret_env", "XF_TEST_RAWSEC", NULL};
    struct fx *f = hook_open("https://soar.example/hook", kv);

    (void)st;
    fx_next(f);
    assert_string_equal(header(&f->rq, "webhook-signature"),
                        "v1,IQgubvMVbMCmgOdXZszk7R4KmWODE5OyukHh7EIjA9s=");
    fx_close(f);
}

static void test_standard_webhook_headers_carry_action_id_and_timestamp(void **st)
{
    static const char *const kv[] = {"secret_env", "XF_TEST_WHSEC", NULL};
    struct fx *f = hook_open("http://127.0.0.1:1/hook", kv);

    (void)st;
    fx_next(f);
    assert_int_equal(f->rq.n_headers, 5);
    assert_string_equal(header(&f->rq, "Content-Type"), "application/json");
    assert_string_equal(header(&f->rq, "webhook-id"), "act-0123456789abcdef");
    assert_string_equal(header(&f->rq, "webhook-timestamp"), "1700000000");
    assert_string_equal(header(&f->rq, "Idempotency-Key"), "act-0123456789abcdef");
    assert_null(header(&f->rq, "Authorization"));
    fx_close(f);
}

static void test_bearer_token_header_from_env(void **st)
{
    static const char *const kv[] = {"token_env", "XF_TEST_TOKEN", NULL};
    struct fx *f = hook_open("http://127.0.0.1:1/hook", kv);

    (void)st;
    fx_next(f);
    assert_string_equal(header(&f->rq, "Authorization"), "Bearer tok-123");
    assert_null(header(&f->rq, "webhook-signature"));
    fx_close(f);
}

static void test_basic_auth_header_from_username_and_password_env(void **st)
{
    static const char *const kv[] = {"username", "alice", "password_env", "XF_TEST_PASS", NULL};
    struct fx *f = hook_open("http://127.0.0.1:1/hook", kv);

    (void)st;
    fx_next(f);
    assert_string_equal(header(&f->rq, "Authorization"), "Basic YWxpY2U6czNjcmV0");
    fx_close(f);
}

static void test_isolate_body_holds_only_stable_action_fields(void **st)
{
    static const char *const kv[] = {NULL};
    struct fx *f = hook_open("http://127.0.0.1:1/hook", kv);
    struct xf_action *a = &f->a;

    (void)st;
    memset(a, 0, sizeof(*a));
    snprintf(a->id, sizeof(a->id), "act-00000000000000aa");
    a->kind = XF_ACT_ISOLATE;
    a->state = XF_AS_APPROVED;
    a->attempts = 3;
    a->created_ms = 1700000000123;
    snprintf(a->incident, sizeof(a->incident), "inc-9");
    snprintf(a->host, sizeof(a->host), "ws-017");
    snprintf(a->connector, sizeof(a->connector), "hook");
    snprintf(a->requested_by, sizeof(a->requested_by), "policy");
    snprintf(a->reason, sizeof(a->reason), "critical");
    fx_next(f);
    assert_string_equal(f->rq.body.data,
                        "{\"type\":\"isolate\",\"action\":{\"id\":\"act-00000000000000aa\","
                        "\"kind\":\"isolate\",\"host\":\"ws-017\",\"incident\":\"inc-9\","
                        "\"connector\":\"hook\",\"requested_by\":\"policy\",\"reason\":"
                        "\"critical\",\"created_ms\":1700000000123},\"host\":\"ws-017\","
                        "\"incident\":\"inc-9\"}");
    fx_close(f);
}

static enum xf_conn_step classify(long status, const char *retry_after, int64_t *ra_ms)
{
    const struct xf_connector_ops *ops = xf_connector_find("webhook");
    char hdr[64];
    const char *hdrs[1] = {hdr};
    struct xf_conn_reply r = {.status = status, .body = "", .headers = hdrs};
    struct xf_conn_ctx ctx = {.now_s = 1700000000};
    struct xf_conn_outcome out;
    struct xf_action a;

    memset(&a, 0, sizeof(a));
    if (retry_after) {
        snprintf(hdr, sizeof(hdr), "Retry-After: %s", retry_after);
        r.n_headers = 1;
    }
    if (status == 0)
        r.error = "Timeout was reached";
    assert_int_equal(ops->on_reply(NULL, &a, &ctx, &r, &out), 0);
    if (ra_ms)
        *ra_ms = out.retry_after_ms;
    return out.step;
}

static void test_answers_classify_as_confirmed_retry_or_failed(void **st)
{
    int64_t ra = -1;

    (void)st;
    assert_int_equal(classify(200, NULL, NULL), XF_STEP_CONFIRMED);
    assert_int_equal(classify(204, NULL, NULL), XF_STEP_CONFIRMED);
    assert_int_equal(classify(409, NULL, NULL), XF_STEP_CONFIRMED);
    assert_int_equal(classify(429, "7", &ra), XF_STEP_RETRY);
    assert_int_equal(ra, 7000);
    assert_int_equal(classify(503, NULL, &ra), XF_STEP_RETRY);
    assert_int_equal(ra, 0);
    assert_int_equal(classify(0, NULL, NULL), XF_STEP_RETRY);
    assert_int_equal(classify(400, NULL, NULL), XF_STEP_FAILED);
    assert_int_equal(classify(401, NULL, NULL), XF_STEP_FAILED);
}

static void expect_config_error(const char *substring)
{
    const struct xf_connector_ops *ops = xf_connector_find("webhook");
    char why[256] = "";
    void *state = NULL;

    assert_int_equal(ops->create(&conf, &state, why, sizeof(why)), XF_ECONFIG);
    assert_null(state);
    assert_non_null(strstr(why, substring));
}

static void test_literal_secret_in_config_is_refused(void **st)
{
    (void)st;
    conf_set("hook", "url", "http://127.0.0.1:1/hook");
    conf_set("hook", "secret", "whsec_AAAA");
    expect_config_error("secret must not be written in the config");
}

static void test_missing_url_and_unknown_key_are_refused(void **st)
{
    (void)st;
    conf_set("hook", "secret_env", "XF_TEST_WHSEC");
    expect_config_error("url");
    memset(&conf, 0, sizeof(conf));
    conf_set("hook", "url", "http://127.0.0.1:1/hook");
    conf_set("hook", "colour", "blue");
    expect_config_error("unknown key colour");
}

static void test_unset_secret_env_is_refused(void **st)
{
    (void)st;
    unsetenv("XF_TEST_NOPE");
    conf_set("hook", "url", "http://127.0.0.1:1/hook");
    conf_set("hook", "secret_env", "XF_TEST_NOPE");
    expect_config_error("XF_TEST_NOPE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_signature_with_whsec_secret_matches_python_hmac, setup),
        cmocka_unit_test_setup(test_signature_with_raw_secret_matches_python_hmac, setup),
        cmocka_unit_test_setup(test_standard_webhook_headers_carry_action_id_and_timestamp, setup),
        cmocka_unit_test_setup(test_bearer_token_header_from_env, setup),
        cmocka_unit_test_setup(test_basic_auth_header_from_username_and_password_env, setup),
        cmocka_unit_test_setup(test_isolate_body_holds_only_stable_action_fields, setup),
        cmocka_unit_test_setup(test_answers_classify_as_confirmed_retry_or_failed, setup),
        cmocka_unit_test_setup(test_literal_secret_in_config_is_refused, setup),
        cmocka_unit_test_setup(test_missing_url_and_unknown_key_are_refused, setup),
        cmocka_unit_test_setup(test_unset_secret_env_is_refused, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
