/*
 * test_proto.c - xdrflow.v1.Event encoding and decoding: every category survives a round
 * trip, fields without a typed slot travel in Event.fields, and bad bytes are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "xf/proto.h"

static void assert_same(const struct xf_event *a, const struct xf_event *b)
{
    assert_int_equal(a->category, b->category);
    assert_int_equal(a->time, b->time);
    assert_string_equal(a->id, b->id);
    for (unsigned f = 0; f < XF_F__COUNT; f++) {
        size_t n = xf_event_count(a, (enum xf_field)f);
        if (n != xf_event_count(b, (enum xf_field)f))
            fail_msg("field %s: %zu vs %zu values", xf_field_name((enum xf_field)f), n,
                     xf_event_count(b, (enum xf_field)f));
        for (size_t i = 0; i < n; i++)
            assert_string_equal(xf_event_get_nth(a, (enum xf_field)f, i),
                                xf_event_get_nth(b, (enum xf_field)f, i));
    }
}

static void round_trip(const struct xf_event *a)
{
    struct xf_buf out;
    struct xf_event b;
    char err[256];

    xf_buf_init(&out);
    xf_event_init(&b);
    assert_int_equal(xf_proto_encode(a, &out, 0), 0);
    if (xf_proto_decode(out.data, out.len, &b, err) != 0)
        fail_msg("%s", err);
    assert_same(a, &b);
    xf_event_close(&b);
    xf_buf_close(&out);
}

static void email_with_attachments_round_trips(void **state)
{
    struct xf_event ev;

    xf_event_init(&ev);
    ev.category = XF_CAT_EMAIL;
    ev.time = 1795251603000LL;
    xf_event_set_id(&ev, "mail:1");
    xf_event_set(&ev, XF_F_MESSAGE_ID, "<a@b>", (size_t)-1);
    xf_event_set(&ev, XF_F_SENDER, "x@example.net", (size_t)-1);
    xf_event_add(&ev, XF_F_RECIPIENT, "akiko@corp.example", (size_t)-1);
    xf_event_add(&ev, XF_F_RECIPIENT, "li@corp.example", (size_t)-1);
    xf_event_add(&ev, XF_F_ATTACHMENT_NAME, "a.docm", (size_t)-1);
    xf_event_add(&ev, XF_F_ATTACHMENT_TYPE, "", 0);
    xf_event_add(&ev, XF_F_ATTACHMENT_SIZE, "1024", (size_t)-1);
    xf_event_add(&ev, XF_F_ATTACHMENT_SHA256, "ab", (size_t)-1);
    xf_event_add(&ev, XF_F_ATTACHMENT_NAME, "b.txt", (size_t)-1);
    xf_event_add(&ev, XF_F_ATTACHMENT_TYPE, "text/plain", (size_t)-1);
    xf_event_add(&ev, XF_F_ATTACHMENT_SIZE, "", 0);
    xf_event_add(&ev, XF_F_ATTACHMENT_SHA256, "", 0);
    xf_event_set(&ev, XF_F_HOST, "mx1", (size_t)-1);
    round_trip(&ev);
    xf_event_close(&ev);
}

static void network_direction_and_ports_round_trip(void **state)
{
    struct xf_event ev;

    xf_event_init(&ev);
    ev.category = XF_CAT_NETWORK;
    ev.time = 1;
    xf_event_set_id(&ev, "n:1");
    xf_event_set(&ev, XF_F_INITIATED, "true", (size_t)-1);
    xf_event_set(&ev, XF_F_DESTINATION_PORT, "8080", (size_t)-1);
    xf_event_set(&ev, XF_F_SOURCE_PORT, "not-a-number", (size_t)-1); /* goes to Event.fields */
    xf_event_set(&ev, XF_F_DESTINATION_IP, "203.0.113.7", (size_t)-1);
    xf_event_add(&ev, XF_F_URL, "http://a/", (size_t)-1);
    xf_event_add(&ev, XF_F_URL, "http://b/", (size_t)-1);
    round_trip(&ev);
    xf_event_close(&ev);
}

static void registry_event_without_payload_round_trips(void **state)
{
    struct xf_event ev;

    xf_event_init(&ev);
    ev.category = XF_CAT_REGISTRY;
    ev.time = 99;
    xf_event_set_id(&ev, "win:h|sysmon|5");
    xf_event_set(&ev, XF_F_TARGET_OBJECT, "HKLM\\Software\\x", (size_t)-1);
    xf_event_set(&ev, XF_F_DETAILS, "DWORD (0x00000001)", (size_t)-1);
    xf_event_set(&ev, XF_F_USER, "CORP\\akiko", (size_t)-1);
    round_trip(&ev);
    xf_event_close(&ev);
}

static void process_end_keeps_its_category(void **state)
{
    struct xf_event ev;

    xf_event_init(&ev);
    ev.category = XF_CAT_PROCESS_END;
    ev.time = 5;
    xf_event_set_id(&ev, "p:1");
    xf_event_set(&ev, XF_F_PROCESS_GUID, "{g}", (size_t)-1);
    xf_event_set(&ev, XF_F_PROCESS_ID, "4412", (size_t)-1);
    xf_event_set(&ev, XF_F_USER, "CORP\\akiko", (size_t)-1);
    round_trip(&ev);
    xf_event_close(&ev);
}

static void delimited_encoding_starts_with_the_varint_length(void **state)
{
    struct xf_event ev;
    struct xf_buf plain, delim;

    xf_event_init(&ev);
    xf_buf_init(&plain);
    xf_buf_init(&delim);
    ev.category = XF_CAT_DNS;
    ev.time = 7;
    xf_event_set_id(&ev, "d:1");
    xf_event_set(&ev, XF_F_QUERY_NAME, "bad.example", (size_t)-1);
    assert_int_equal(xf_proto_encode(&ev, &plain, 0), 0);
    assert_int_equal(xf_proto_encode(&ev, &delim, 1), 0);
    assert_true(plain.len < 128);
    assert_int_equal(delim.len, plain.len + 1);
    assert_int_equal((unsigned char)delim.data[0], plain.len);
    assert_memory_equal(delim.data + 1, plain.data, plain.len);
    xf_buf_close(&plain);
    xf_buf_close(&delim);
    xf_event_close(&ev);
}

static void event_without_id_gets_content_hash_id(void **state)
{
    struct xf_event ev, got;
    struct xf_buf out;
    char err[256], hex[33], want[40];

    xf_event_init(&ev);
    xf_event_init(&got);
    xf_buf_init(&out);
    ev.category = XF_CAT_FILE;
    ev.time = 3;
    xf_event_set(&ev, XF_F_TARGET_FILENAME, "C:\\x.doc", (size_t)-1);
    assert_int_equal(xf_proto_encode(&ev, &out, 0), 0);
    assert_int_equal(xf_proto_decode(out.data, out.len, &got, err), 0);
    xf_hash128_hex(out.data, out.len, hex);
    snprintf(want, sizeof want, "h:%s", hex);
    assert_string_equal(got.id, want);
    assert_int_equal(got.category, XF_CAT_FILE);
    xf_buf_close(&out);
    xf_event_close(&ev);
    xf_event_close(&got);
}

static void garbage_and_missing_time_are_parse_errors(void **state)
{
    struct xf_event ev;
    char err[256];

    xf_event_init(&ev);
    assert_int_equal(xf_proto_decode("\x0a\xff\xff\xff", 4, &ev, err), XF_EPARSE);
    assert_non_null(strstr(err, "not a valid xdrflow.v1.Event"));
    xf_event_reset(&ev);
    assert_int_equal(xf_proto_decode("\x0a\x01x", 3, &ev, err), XF_EPARSE);
    assert_string_equal(err, "no event time (time_unix_ms)");
    xf_event_close(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(email_with_attachments_round_trips),
        cmocka_unit_test(network_direction_and_ports_round_trip),
        cmocka_unit_test(registry_event_without_payload_round_trips),
        cmocka_unit_test(process_end_keeps_its_category),
        cmocka_unit_test(delimited_encoding_starts_with_the_varint_length),
        cmocka_unit_test(event_without_id_gets_content_hash_id),
        cmocka_unit_test(garbage_and_missing_time_are_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
