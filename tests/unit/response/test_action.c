/*
 * test_action.c - unit tests of the action record (response/src/action.c): names, the
 * idempotency key and the JSON form.
 *
 * The expected ids were computed by an independent XXH64 (a few lines of Python over
 * "incident\0host\0kind\0connector\0salt\0"), so a change of the hash or of its input order
 * shows up here: every stored outbox and every receiver's dedup depend on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "xf/response.h"

static void base_action(struct xf_action *a)
{
    memset(a, 0, sizeof *a);
    a->kind = XF_ACT_ISOLATE;
    a->state = XF_AS_PLANNED;
    snprintf(a->incident, sizeof a->incident, "inc-0001");
    snprintf(a->host, sizeof a->host, "ws-017.corp.example");
    snprintf(a->connector, sizeof a->connector, "hook");
}

/* Every field set to a distinct, non-default value. */
static void full_action(struct xf_action *a)
{
    base_action(a);
    a->kind = XF_ACT_NOTIFY;
    a->state = XF_AS_SENT;
    snprintf(a->requested_by, sizeof a->requested_by, "soar");
    snprintf(a->reason, sizeof a->reason, "analyst said \"go\"\n\tnow \\ \xc3\xa9");
    a->attempts = 3;
    a->polls = 17;
    a->created_ms = 1795597203120;
    a->updated_ms = 1795597204000;
    a->next_at_ms = -5;
    a->phase = 2;
    snprintf(a->device_id, sizeof a->device_id, "0b1c2d3e4f");
    snprintf(a->remote_id, sizeof a->remote_id, "https://vendor.example/ops/77?x=1&y=2");
    snprintf(a->last_error, sizeof a->last_error, "HTTP 503: busy");
    a->payload_hash = 0xfedcba9876543210u; /* above INT64_MAX on purpose */
    xf_action_make_id(a, "");
}

static void round_trip(const struct xf_action *in, struct xf_action *out)
{
    struct xf_buf b;

    xf_buf_init(&b);
    assert_int_equal(xf_action_to_json(in, &b), 0);
    memset(out, 0xa5, sizeof *out);
    assert_int_equal(xf_action_from_json(b.data, b.len, out), 0);
    xf_buf_close(&b);
}

/* ---- names -------------------------------------------------------------------------------- */

static void test_kind_and_state_names_parse_back(void **state)
{
    (void)state;
    assert_string_equal(xf_action_kind_name(XF_ACT_ISOLATE), "isolate");
    assert_string_equal(xf_action_kind_name(XF_ACT_RELEASE), "release");
    assert_string_equal(xf_action_kind_name(XF_ACT_NOTIFY), "notify");
    for (int k = XF_ACT_ISOLATE; k <= XF_ACT_NOTIFY; k++)
        assert_int_equal(xf_action_kind_parse(xf_action_kind_name(k)), k);
    assert_string_equal(xf_action_state_name(XF_AS_PLANNED), "planned");
    assert_string_equal(xf_action_state_name(XF_AS_DRY_RUN), "dry_run");
    assert_string_equal(xf_action_state_name(XF_AS_RELEASED), "released");
    for (int s = XF_AS_PLANNED; s <= XF_AS_RELEASED; s++)
        assert_int_equal(xf_action_state_parse(xf_action_state_name(s)), s);
}

static void test_unknown_or_null_names_parse_to_minus_one(void **state)
{
    (void)state;
    assert_int_equal(xf_action_kind_parse(NULL), -1);
    assert_int_equal(xf_action_kind_parse("Isolate"), -1);
    assert_int_equal(xf_action_kind_parse(""), -1);
    assert_int_equal(xf_action_state_parse(NULL), -1);
    assert_int_equal(xf_action_state_parse("pending"), -1);
    assert_string_equal(xf_action_kind_name((enum xf_action_kind)99), "unknown");
    assert_string_equal(xf_action_state_name((enum xf_action_state)99), "unknown");
}

static void test_only_planned_approved_sent_are_pending(void **state)
{
    (void)state;
    assert_true(xf_action_state_pending(XF_AS_PLANNED));
    assert_true(xf_action_state_pending(XF_AS_APPROVED));
    assert_true(xf_action_state_pending(XF_AS_SENT));
    assert_false(xf_action_state_pending(XF_AS_CONFIRMED));
    assert_false(xf_action_state_pending(XF_AS_FAILED));
    assert_false(xf_action_state_pending(XF_AS_DENIED));
    assert_false(xf_action_state_pending(XF_AS_DRY_RUN));
    assert_false(xf_action_state_pending(XF_AS_RELEASED));
}

/* ---- ids ---------------------------------------------------------------------------------- */

static void test_make_id_is_xxh64_of_the_nul_separated_fields(void **state)
{
    struct xf_action a;

    (void)state;
    base_action(&a);
    xf_action_make_id(&a, "");
    assert_string_equal(a.id, "act-fcc826f447aeac9e");

    memset(&a, 0, sizeof a);
    a.kind = XF_ACT_ISOLATE;
    snprintf(a.host, sizeof a.host, "ws-017.corp.example");
    snprintf(a.connector, sizeof a.connector, "falcon");
    xf_action_make_id(&a, "idem-42");
    assert_string_equal(a.id, "act-f17b1a037dfa3f4d");
}

static void test_make_id_ignores_state_counters_and_times(void **state)
{
    struct xf_action a;
    struct xf_action b;

    (void)state;
    base_action(&a);
    xf_action_make_id(&a, "");
    base_action(&b);
    b.state = XF_AS_CONFIRMED;
    b.attempts = 4;
    b.created_ms = 123456;
    b.next_at_ms = 99;
    snprintf(b.reason, sizeof b.reason, "other reason");
    snprintf(b.remote_id, sizeof b.remote_id, "task-9");
    xf_action_make_id(&b, "");
    assert_string_equal(a.id, b.id);
}

static void test_make_id_differs_when_any_keyed_field_differs(void **state)
{
    struct xf_action v[7];

    (void)state;
    for (size_t i = 0; i < XF_ARRAY_LEN(v); i++)
        base_action(&v[i]);
    xf_action_make_id(&v[0], "");
    snprintf(v[1].incident, sizeof v[1].incident, "inc-0002");
    xf_action_make_id(&v[1], "");
    snprintf(v[2].host, sizeof v[2].host, "ws-018.corp.example");
    xf_action_make_id(&v[2], "");
    v[3].kind = XF_ACT_RELEASE;
    xf_action_make_id(&v[3], "");
    snprintf(v[4].connector, sizeof v[4].connector, "falcon");
    xf_action_make_id(&v[4], "");
    xf_action_make_id(&v[5], "k1");
    /* Moving a byte across a field boundary is another key. */
    snprintf(v[6].incident, sizeof v[6].incident, "inc-0001w");
    snprintf(v[6].host, sizeof v[6].host, "s-017.corp.example");
    xf_action_make_id(&v[6], "");
    for (size_t i = 0; i < XF_ARRAY_LEN(v); i++) {
        assert_int_equal(strlen(v[i].id), 20);
        assert_memory_equal(v[i].id, "act-", 4);
        for (size_t j = i + 1; j < XF_ARRAY_LEN(v); j++)
            assert_string_not_equal(v[i].id, v[j].id);
    }
}

/* ---- JSON --------------------------------------------------------------------------------- */

static void test_to_json_writes_every_key_in_a_stable_order(void **state)
{
    struct xf_action a;
    struct xf_buf b;

    (void)state;
    base_action(&a);
    xf_action_make_id(&a, "");
    a.attempts = 1;
    a.created_ms = 1000;
    a.updated_ms = 2000;
    a.next_at_ms = 3000;
    a.payload_hash = 0xab;
    xf_buf_init(&b);
    assert_int_equal(xf_action_to_json(&a, &b), 0);
    assert_string_equal(b.data, "{\"id\":\"act-fcc826f447aeac9e\",\"kind\":\"isolate\","
                                "\"state\":\"planned\",\"incident\":\"inc-0001\","
                                "\"host\":\"ws-017.corp.example\",\"connector\":\"hook\","
                                "\"requested_by\":\"\",\"reason\":\"\",\"device_id\":\"\","
                                "\"remote_id\":\"\",\"last_error\":\"\",\"attempts\":1,"
                                "\"polls\":0,\"phase\":0,\"created_ms\":1000,"
                                "\"updated_ms\":2000,\"next_at_ms\":3000,"
                                "\"payload_hash\":\"00000000000000ab\"}");
    xf_buf_close(&b);
}

static void test_to_json_appends_to_what_the_buffer_holds(void **state)
{
    struct xf_action a;
    struct xf_buf b;

    (void)state;
    base_action(&a);
    xf_buf_init(&b);
    assert_int_equal(xf_buf_appends(&b, "[1,"), 0);
    assert_int_equal(xf_action_to_json(&a, &b), 0);
    assert_memory_equal(b.data, "[1,{\"id\":\"\",\"kind\":\"isolate\"", 28);
    xf_buf_close(&b);
}

static void test_json_round_trip_keeps_every_field(void **state)
{
    struct xf_action a;
    struct xf_action b;

    (void)state;
    full_action(&a);
    round_trip(&a, &b);
    assert_string_equal(b.id, a.id);
    assert_int_equal(b.kind, XF_ACT_NOTIFY);
    assert_int_equal(b.state, XF_AS_SENT);
    assert_string_equal(b.incident, "inc-0001");
    assert_string_equal(b.host, "ws-017.corp.example");
    assert_string_equal(b.connector, "hook");
    assert_string_equal(b.requested_by, "soar");
    assert_string_equal(b.reason, "analyst said \"go\"\n\tnow \\ \xc3\xa9");
    assert_int_equal(b.attempts, 3);
    assert_int_equal(b.polls, 17);
    assert_int_equal(b.created_ms, 1795597203120);
    assert_int_equal(b.updated_ms, 1795597204000);
    assert_int_equal(b.next_at_ms, -5);
    assert_int_equal(b.phase, 2);
    assert_string_equal(b.device_id, "0b1c2d3e4f");
    assert_string_equal(b.remote_id, "https://vendor.example/ops/77?x=1&y=2");
    assert_string_equal(b.last_error, "HTTP 503: busy");
    assert_true(b.payload_hash == 0xfedcba9876543210u);
    /* Nothing else either: the decoded struct is byte-equal (both zero-filled). */
    assert_memory_equal(&a, &b, sizeof a);
}

static void test_json_round_trip_keeps_values_of_maximum_length(void **state)
{
    struct xf_action a;
    struct xf_action b;

    (void)state;
    full_action(&a);
    memset(a.host, 'h', sizeof a.host - 1);
    memset(a.remote_id, 'r', sizeof a.remote_id - 1);
    memset(a.incident, 'i', sizeof a.incident - 1);
    a.created_ms = INT64_MIN;
    a.updated_ms = INT64_MAX;
    a.attempts = INT32_MAX;
    a.phase = 0; /* counters are never negative; from_json refuses them */
    round_trip(&a, &b);
    assert_memory_equal(&a, &b, sizeof a);
}

static void test_from_json_ignores_unknown_keys_and_defaults_missing_ones(void **state)
{
    const char *j = "{\"id\":\"act-1\",\"kind\":\"release\",\"state\":\"approved\","
                    "\"future\":{\"x\":[1,2]},\"host\":\"h1\",\"also_new\":null}";
    struct xf_action a;

    (void)state;
    assert_int_equal(xf_action_from_json(j, strlen(j), &a), 0);
    assert_string_equal(a.id, "act-1");
    assert_int_equal(a.kind, XF_ACT_RELEASE);
    assert_int_equal(a.state, XF_AS_APPROVED);
    assert_string_equal(a.host, "h1");
    assert_string_equal(a.incident, "");
    assert_int_equal(a.attempts, 0);
    assert_int_equal(a.next_at_ms, 0);
    assert_true(a.payload_hash == 0);
}

/* Each document differs from a valid one in one place; all must be XF_EPARSE. */
static void test_from_json_rejects_wrong_types(void **state)
{
    static const char *const bad[] = {
        "{\"id\":1,\"kind\":\"isolate\",\"state\":\"planned\"}",
        "{\"id\":\"act-1\",\"kind\":0,\"state\":\"planned\"}",
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":true}",
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\",\"host\":5}",
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\",\"host\":null}",
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\",\"reason\":[\"x\"]}",
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\",\"attempts\":\"3\"}",
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\",\"attempts\":1.5}",
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\",\"created_ms\":{}}",
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\",\"payload_hash\":12}",
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\",\"payload_hash\":\"xyz\"}",
    };
    struct xf_action a;

    (void)state;
    for (size_t i = 0; i < XF_ARRAY_LEN(bad); i++) {
        if (xf_action_from_json(bad[i], strlen(bad[i]), &a) != XF_EPARSE)
            fail_msg("accepted: %s", bad[i]);
    }
}

static void test_from_json_rejects_unknown_names_and_missing_required_keys(void **state)
{
    static const char *const bad[] = {
        "{\"id\":\"act-1\",\"kind\":\"reboot\",\"state\":\"planned\"}",
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"pending\"}",
        "{\"kind\":\"isolate\",\"state\":\"planned\"}",
        "{\"id\":\"\",\"kind\":\"isolate\",\"state\":\"planned\"}",
        "{\"id\":\"act-1\",\"state\":\"planned\"}",
        "{\"id\":\"act-1\",\"kind\":\"isolate\"}",
        "[]",
        "\"act-1\"",
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\"",
        "{\"id\":\"act-1\",\"id\":\"act-2\",\"kind\":\"isolate\",\"state\":\"planned\"}",
    };
    struct xf_action a;

    (void)state;
    for (size_t i = 0; i < XF_ARRAY_LEN(bad); i++) {
        if (xf_action_from_json(bad[i], strlen(bad[i]), &a) != XF_EPARSE)
            fail_msg("accepted: %s", bad[i]);
    }
}

static void test_from_json_rejects_a_value_too_long_for_its_field(void **state)
{
    struct xf_action a;
    struct xf_action b;
    struct xf_buf j;
    char host[300];

    (void)state;
    full_action(&a);
    /* 255 characters fit host[256]; 256 would need truncation, which would change the id. */
    memset(host, 'h', sizeof host);
    xf_buf_init(&j);
    assert_int_equal(xf_buf_appendf(&j,
                                    "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\","
                                    "\"host\":\"%.*s\"}",
                                    255, host),
                     0);
    assert_int_equal(xf_action_from_json(j.data, j.len, &b), 0);
    assert_int_equal(strlen(b.host), 255);
    xf_buf_reset(&j);
    assert_int_equal(xf_buf_appendf(&j,
                                    "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\","
                                    "\"host\":\"%.*s\"}",
                                    256, host),
                     0);
    memcpy(&b, &a, sizeof b);
    assert_int_equal(xf_action_from_json(j.data, j.len, &b), XF_EPARSE);
    /* On error the caller's action is left as it was. */
    assert_memory_equal(&a, &b, sizeof a);
    xf_buf_reset(&j);
    assert_int_equal(xf_buf_appendf(&j,
                                    "{\"id\":\"act-%.*s\",\"kind\":\"isolate\","
                                    "\"state\":\"planned\"}",
                                    (int)XF_ACTION_ID_LEN, host),
                     0);
    assert_int_equal(xf_action_from_json(j.data, j.len, &b), XF_EPARSE);
    xf_buf_close(&j);
}

static void
test_from_json_rejects_an_embedded_nul_and_out_of_range_or_negative_integers(void **state)
{
    static const char *const bad[] = {
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\",\"host\":\"a\\u0000b\"}",
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\",\"attempts\":2147483648}",
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\",\"phase\":-2147483649}",
        /* a negative count read back would allow ~2^31 more attempts */
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\",\"attempts\":-1}",
        "{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"sent\",\"polls\":-5}",
        ("{\"id\":\"act-1\",\"kind\":\"isolate\",\"state\":\"planned\","
         "\"payload_hash\":\"00000000000000001\"}"),
    };
    struct xf_action a;

    (void)state;
    for (size_t i = 0; i < XF_ARRAY_LEN(bad); i++) {
        if (xf_action_from_json(bad[i], strlen(bad[i]), &a) != XF_EPARSE)
            fail_msg("accepted: %s", bad[i]);
    }
}

static void test_to_json_under_allocation_failures_leaves_the_buffer_as_it_was(void **state)
{
    struct xf_action a;
    struct xf_buf b;
    int rc = XF_ENOMEM;

    (void)state;
    full_action(&a);
    for (long n = 0; rc == XF_ENOMEM && n < 1000; n++) {
        xf_buf_init(&b);
        assert_int_equal(xf_buf_appends(&b, "x"), 0);
        xf_alloc_fail_after(n);
        rc = xf_action_to_json(&a, &b);
        xf_alloc_fail_after(-1);
        if (rc) {
            assert_int_equal(rc, XF_ENOMEM);
            assert_int_equal(b.len, 1);
            assert_string_equal(b.data, "x");
        }
        xf_buf_close(&b);
    }
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_and_state_names_parse_back),
        cmocka_unit_test(test_unknown_or_null_names_parse_to_minus_one),
        cmocka_unit_test(test_only_planned_approved_sent_are_pending),
        cmocka_unit_test(test_make_id_is_xxh64_of_the_nul_separated_fields),
        cmocka_unit_test(test_make_id_ignores_state_counters_and_times),
        cmocka_unit_test(test_make_id_differs_when_any_keyed_field_differs),
        cmocka_unit_test(test_to_json_writes_every_key_in_a_stable_order),
        cmocka_unit_test(test_to_json_appends_to_what_the_buffer_holds),
        cmocka_unit_test(test_json_round_trip_keeps_every_field),
        cmocka_unit_test(test_json_round_trip_keeps_values_of_maximum_length),
        cmocka_unit_test(test_from_json_ignores_unknown_keys_and_defaults_missing_ones),
        cmocka_unit_test(test_from_json_rejects_wrong_types),
        cmocka_unit_test(test_from_json_rejects_unknown_names_and_missing_required_keys),
        cmocka_unit_test(test_from_json_rejects_a_value_too_long_for_its_field),
        cmocka_unit_test(
            test_from_json_rejects_an_embedded_nul_and_out_of_range_or_negative_integers),
        cmocka_unit_test(test_to_json_under_allocation_failures_leaves_the_buffer_as_it_was),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
