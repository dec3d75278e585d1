/*
 * test_decode.c - each decoder on real and hand-written records, and every kind of bad input.
 *
 * Expected values are copied from the sample files by hand (tests/data/samples), so a mapping
 * change shows up as a failing assertion that names the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "xf/ingest.h"
#include "xf/proto.h"

static char *slurp(const char *name, size_t *len)
{
    char path[512];
    FILE *f;
    long n;
    char *buf;

    snprintf(path, sizeof path, "%s/%s", XF_TEST_SAMPLES, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = xf_malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    /* the reader hands records without their newline */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* Decodes a sample file; asserts success and the format AUTO picked. */
static void decode_sample(const char *name, enum xf_format want, struct xf_event *ev)
{
    char err[XF_ERRMSG_MAX];
    enum xf_format used = XF_FMT__COUNT;
    size_t len;
    char *rec = slurp(name, &len);
    int rc = xf_decode(XF_FMT_AUTO, rec, len, ev, &used, err);

    if (rc)
        fail_msg("%s: %s", name, err);
    assert_int_equal(used, want);
    xf_free(rec);
}

#define FIELD(ev, f) xf_event_get(ev, XF_F_##f)

static void sysmon1_real_otrf_line_maps_process_fields(void **state)
{
    struct xf_event ev;

    xf_event_init(&ev);
    decode_sample("otrf_sysmon1_wscript_powershell.json", XF_FMT_SYSMON, &ev);
    assert_int_equal(ev.category, XF_CAT_PROCESS);
    assert_int_equal(ev.time, 1599250195760LL); /* UtcTime, not @timestamp or EventTime */
    assert_string_equal(ev.id, "win:workstation5.theshire.local|sysmon|251258");
    assert_string_equal(FIELD(&ev, IMAGE),
                        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe");
    assert_string_equal(FIELD(&ev, PARENT_IMAGE), "C:\\Windows\\System32\\wscript.exe");
    assert_string_equal(FIELD(&ev, PROCESS_GUID), "{860ba2e3-9f13-5f52-2703-000000000400}");
    assert_string_equal(FIELD(&ev, PARENT_PROCESS_GUID), "{860ba2e3-9f13-5f52-2603-000000000400}");
    assert_string_equal(FIELD(&ev, SHA256),
                        "908B64B1971A979C7E3E8CE4621945CBA84854CB98D76367B791A6E22B5F6D53");
    assert_string_equal(FIELD(&ev, PROCESS_ID), "2316");
    assert_string_equal(FIELD(&ev, PARENT_PROCESS_ID), "2440");
    assert_string_equal(FIELD(&ev, USER), "THESHIRE\\pgustavo");
    assert_string_equal(FIELD(&ev, HOST), "workstation5.theshire.local");
    assert_string_equal(FIELD(&ev, EVENT_ID), "1");
    assert_string_equal(FIELD(&ev, RECORD_ID), "251258");
    assert_string_equal(FIELD(&ev, CHANNEL), "Microsoft-Windows-Sysmon/Operational");
    assert_string_equal(FIELD(&ev, INTEGRITY_LEVEL), "Medium");
    xf_event_close(&ev);
}

static void sysmon3_real_otrf_line_maps_connection(void **state)
{
    struct xf_event ev;

    xf_event_init(&ev);
    decode_sample("otrf_sysmon3_powershell_c2.json", XF_FMT_SYSMON, &ev);
    assert_int_equal(ev.category, XF_CAT_NETWORK);
    assert_int_equal(ev.time, 1599250199621LL);
    assert_string_equal(ev.id, "win:workstation5.theshire.local|sysmon|251809");
    assert_string_equal(FIELD(&ev, PROCESS_GUID), "{860ba2e3-9f13-5f52-2703-000000000400}");
    assert_string_equal(FIELD(&ev, DESTINATION_IP), "10.10.10.5");
    assert_string_equal(FIELD(&ev, DESTINATION_PORT), "80");
    assert_string_equal(FIELD(&ev, SOURCE_IP), "172.18.39.5");
    assert_string_equal(FIELD(&ev, INITIATED), "true");
    assert_string_equal(FIELD(&ev, PROTOCOL), "tcp");
    xf_event_close(&ev);
}

static void sysmon22_splits_query_results_into_answers(void **state)
{
    struct xf_event ev;

    xf_event_init(&ev);
    decode_sample("otrf_sysmon22_dns.json", XF_FMT_SYSMON, &ev);
    assert_int_equal(ev.category, XF_CAT_DNS);
    assert_string_equal(FIELD(&ev, QUERY_NAME), "wdcp.microsoft.com");
    assert_int_equal(xf_event_count(&ev, XF_F_QUERY_RESULTS), 3);
    assert_string_equal(xf_event_get_nth(&ev, XF_F_QUERY_RESULTS, 0),
                        "type:  5 wd-prod-cp.trafficmanager.net");
    assert_string_equal(xf_event_get_nth(&ev, XF_F_QUERY_RESULTS, 2), "104.40.17.153");
    assert_string_equal(ev.id, "win:workstation5.theshire.local|sysmon|251377");
    xf_event_close(&ev);
}

static void sysmon11_is_a_file_create(void **state)
{
    struct xf_event ev;

    xf_event_init(&ev);
    decode_sample("otrf_sysmon11_file.json", XF_FMT_SYSMON, &ev);
    assert_int_equal(ev.category, XF_CAT_FILE);
    assert_string_equal(FIELD(&ev, FILE_OPERATION), "create");
    assert_string_equal(FIELD(&ev, TARGET_FILENAME), "C:\\Users\\pgustavo\\AppData\\Local\\Temp\\"
                                                     "__PSScriptPolicyTest_4jth5k1f.rm3.ps1");
    assert_string_equal(FIELD(&ev, PROCESS_GUID), "{860ba2e3-9f13-5f52-2703-000000000400}");
    assert_int_equal(ev.time, 1599250198627LL);
    xf_event_close(&ev);
}

static void security5156_maps_wfp_names_and_falls_back_to_timestamp(void **state)
{
    struct xf_event ev;

    xf_event_init(&ev);
    decode_sample("otrf_security5156.json", XF_FMT_SYSMON, &ev);
    assert_int_equal(ev.category, XF_CAT_NETWORK);
    assert_int_equal(ev.time, 1599250180845LL); /* no UtcTime: @timestamp */
    assert_string_equal(ev.id, "win:workstation5.theshire.local|security|66937");
    assert_string_equal(FIELD(&ev, IMAGE),
                        "\\device\\harddiskvolume2\\windowsazure\\guestagent_2.7.41491.993_2020"
                        "-09-04_183615\\guestagent\\windowsazureguestagent.exe");
    assert_string_equal(FIELD(&ev, SOURCE_IP), "172.18.39.5");
    assert_string_equal(FIELD(&ev, DESTINATION_IP), "168.63.129.16");
    assert_string_equal(FIELD(&ev, DESTINATION_PORT), "80");
    assert_string_equal(FIELD(&ev, INITIATED), "true");
    assert_string_equal(FIELD(&ev, PROTOCOL), "tcp");
    assert_string_equal(FIELD(&ev, PROCESS_ID), "3188");
    xf_event_close(&ev);
}

static void security4624_is_a_logon_with_qualified_target_user(void **state)
{
    struct xf_event ev;

    xf_event_init(&ev);
    decode_sample("otrf_security4624_network_logon.json", XF_FMT_SYSMON, &ev);
    assert_int_equal(ev.category, XF_CAT_LOGON);
    assert_int_equal(ev.time, 1600585043439LL);
    assert_string_equal(FIELD(&ev, LOGON_TYPE), "3");
    assert_string_equal(FIELD(&ev, TARGET_USER_NAME), "THESHIRE.LOCAL\\MORDORDC$");
    assert_string_equal(FIELD(&ev, USER), "THESHIRE.LOCAL\\MORDORDC$");
    assert_string_equal(FIELD(&ev, IP_ADDRESS), "::1");
    assert_null(FIELD(&ev, WORKSTATION_NAME)); /* "-" means absent */
    assert_string_equal(FIELD(&ev, TARGET_LOGON_ID), "0x4263209");
    assert_string_equal(FIELD(&ev, HOST), "mordordc.theshire.local");
    assert_string_equal(ev.id, "win:mordordc.theshire.local|security|1185688");
    xf_event_close(&ev);
}

/* Regression (found by fuzz_decode): User was copied from TargetUserName inside the arena
 * while the copy grew the arena, reading freed memory. Long names force the growth. */
static void logon_user_survives_arena_growth(void **state)
{
    char rec[2048], name[400];
    char err[XF_ERRMSG_MAX];
    struct xf_event ev;
    int n;

    memset(name, 'u', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    n = snprintf(rec, sizeof rec,
                 "{\"EventID\":4624,\"Channel\":\"Security\",\"Hostname\":\"DC1\","
                 "\"@timestamp\":\"2020-09-20T06:57:23.439Z\",\"TargetDomainName\":\"CORP\","
                 "\"TargetUserName\":\"%s\"}",
                 name);
    xf_event_init(&ev);
    assert_int_equal(xf_decode(XF_FMT_AUTO, rec, (size_t)n, &ev, NULL, err), 0);
    assert_int_equal(strlen(FIELD(&ev, USER)), 5 + sizeof name - 1);
    assert_string_equal(FIELD(&ev, USER), FIELD(&ev, TARGET_USER_NAME));
    assert_memory_equal(FIELD(&ev, USER), "CORP\\uuu", 8);
    xf_event_close(&ev);
}

static void system7045_is_a_service_install(void **state)
{
    struct xf_event ev;
    const char *ip;

    xf_event_init(&ev);
    decode_sample("otrf_system7045_service.json", XF_FMT_SYSMON, &ev);
    assert_int_equal(ev.category, XF_CAT_SERVICE);
    assert_string_equal(FIELD(&ev, SERVICE_NAME), "PGUJLOAKFQFVOMHGFQPX");
    ip = FIELD(&ev, IMAGE_PATH);
    assert_non_null(ip);
    assert_memory_equal(ip, "%COMSPEC% /C \"%COMSPEC% /C start /b C:\\Windows\\System32", 55);
    assert_string_equal(ev.id, "win:workstation6.theshire.local|system|1007");
    assert_int_equal(ev.time, 1600585069174LL);
    xf_event_close(&ev);
}

static void security4688_renames_new_process_and_creator(void **state)
{
    struct xf_event ev;

    xf_event_init(&ev);
    decode_sample("otrf_security4688_process.json", XF_FMT_SYSMON, &ev);
    assert_int_equal(ev.category, XF_CAT_PROCESS);
    assert_string_equal(FIELD(&ev, IMAGE), "C:\\WindowsAzure\\GuestAgent_2.7.41491.993_2020-09-17"
                                           "_150914\\CollectGuestLogs.exe");
    assert_string_equal(FIELD(&ev, PROCESS_ID), "0x1ec0");
    assert_string_equal(FIELD(&ev, PARENT_PROCESS_ID), "0xc80");
    assert_string_equal(FIELD(&ev, PARENT_IMAGE), "C:\\WindowsAzure\\GuestAgent_2.7.41491.993_"
                                                  "2020-09-17_150914\\WaAppAgent.exe");
    assert_string_equal(FIELD(&ev, USER), "THESHIRE\\WORKSTATION5$");
    assert_int_equal(ev.time, 1600585067847LL);
    xf_event_close(&ev);
}

static void sysmon_channel_case_does_not_change_the_id(void **state)
{
    static const char a[] = "{\"EventID\":4658,\"Channel\":\"Security\",\"Hostname\":\"WS1\","
                            "\"RecordNumber\":7,\"@timestamp\":\"2020-09-04T20:09:40.845Z\"}";
    static const char b[] = "{\"EventID\":\"4658\",\"Channel\":\"security\",\"Hostname\":\"ws1\","
                            "\"RecordNumber\":\"7\",\"@timestamp\":\"2020-09-04T20:09:41Z\"}";
    char err[XF_ERRMSG_MAX];
    struct xf_event e1, e2;

    xf_event_init(&e1);
    xf_event_init(&e2);
    assert_int_equal(xf_decode(XF_FMT_SYSMON, a, sizeof a - 1, &e1, NULL, err), 0);
    assert_int_equal(xf_decode(XF_FMT_SYSMON, b, sizeof b - 1, &e2, NULL, err), 0);
    assert_string_equal(e1.id, "win:ws1|security|7");
    assert_string_equal(e2.id, "win:ws1|security|7");
    assert_int_equal(e1.category, XF_CAT_OTHER);
    assert_string_equal(FIELD(&e1, EVENT_ID), "4658");
    xf_event_close(&e1);
    xf_event_close(&e2);
}

static void sysmon_without_record_number_gets_content_id(void **state)
{
    static const char a[] = "{\"EventID\":1,\"Hostname\":\"WS1\",\"UtcTime\":\"2020-09-04 "
                            "20:09:55.760\",\"Image\":\"C:\\\\a.exe\"}";
    char err[XF_ERRMSG_MAX];
    struct xf_event ev;
    char want[XF_EVENT_ID_MAX];
    char hex[33];

    xf_event_init(&ev);
    assert_int_equal(xf_decode(XF_FMT_AUTO, a, sizeof a - 1, &ev, NULL, err), 0);
    xf_hash128_hex(a, sizeof a - 1, hex);
    snprintf(want, sizeof want, "h:%s", hex);
    assert_string_equal(ev.id, want);
    xf_event_close(&ev);
}

static void winevt_sample_maps_like_sysmon(void **state)
{
    struct xf_event ev;

    xf_event_init(&ev);
    decode_sample("winevt_sysmon1.json", XF_FMT_WINEVT, &ev);
    assert_int_equal(ev.category, XF_CAT_PROCESS);
    assert_int_equal(ev.time, 1795251607500LL); /* EventData.UtcTime wins over TimeCreated */
    assert_string_equal(ev.id, "win:ws-017.corp.example|sysmon|48121");
    assert_string_equal(FIELD(&ev, HOST), "ws-017.corp.example");
    assert_string_equal(FIELD(&ev, IMAGE),
                        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe");
    assert_string_equal(FIELD(&ev, PARENT_IMAGE), "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe");
    assert_string_equal(FIELD(&ev, PARENT_PROCESS_GUID), "{5c1a2b3d-0001-6543-2900-000000000b00}");
    assert_string_equal(FIELD(&ev, PROCESS_ID), "4412");
    assert_string_equal(FIELD(&ev, SHA256),
                        "908B64B1971A979C7E3E8CE4621945CBA84854CB98D76367B791A6E22B5F6D53");
    assert_string_equal(FIELD(&ev, EVENT_ID), "1");
    assert_null(FIELD(&ev, DETAILS)); /* RuleName "-" is not a field anyway */
    xf_event_close(&ev);
}

static void winevt_event_id_object_and_time_created(void **state)
{
    static const char a[] =
        "{\"Event\":{\"System\":{\"EventID\":{\"#text\":\"4624\",\"#attributes\":{\"Qualifiers\":"
        "\"\"}},\"Computer\":\"DC1.corp.example\",\"Channel\":\"Security\",\"EventRecordID\":"
        "\"99\","
        "\"TimeCreated\":{\"#attributes\":{\"SystemTime\":\"2026-11-21T09:00:03.000Z\"}}},"
        "\"EventData\":{\"LogonType\":3,\"TargetUserName\":\"akiko\",\"TargetDomainName\":\"CORP\","
        "\"IpAddress\":\"10.1.2.3\"}}}";
    char err[XF_ERRMSG_MAX];
    struct xf_event ev;
    enum xf_format used;

    xf_event_init(&ev);
    assert_int_equal(xf_decode(XF_FMT_AUTO, a, sizeof a - 1, &ev, &used, err), 0);
    assert_int_equal(used, XF_FMT_WINEVT);
    assert_int_equal(ev.category, XF_CAT_LOGON);
    assert_int_equal(ev.time, 1795251603000LL);
    assert_string_equal(ev.id, "win:dc1.corp.example|security|99");
    assert_string_equal(FIELD(&ev, LOGON_TYPE), "3");
    assert_string_equal(FIELD(&ev, TARGET_USER_NAME), "CORP\\akiko");
    assert_string_equal(FIELD(&ev, IP_ADDRESS), "10.1.2.3");
    xf_event_close(&ev);
}

/* Every field of two events, compared one by one so a failure names the field. */
static void assert_events_equal(const struct xf_event *a, const struct xf_event *b)
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

static void ecs_nested_and_dotted_give_identical_events(void **state)
{
    struct xf_event n, d;

    xf_event_init(&n);
    xf_event_init(&d);
    decode_sample("ecs_process_nested.json", XF_FMT_ECS, &n);
    decode_sample("ecs_process_dotted.json", XF_FMT_ECS, &d);
    assert_events_equal(&n, &d);
    assert_int_equal(n.category, XF_CAT_PROCESS);
    assert_int_equal(n.time, 1795251607500LL);
    assert_string_equal(n.id, "b1946ac9-2b1c-4f1e-9d3c-4a7f1e2d0c11");
    assert_string_equal(FIELD(&n, HOST), "ws-017.corp.example");
    assert_string_equal(FIELD(&n, USER), "CORP\\akiko");
    assert_string_equal(FIELD(&n, PARENT_PROCESS_GUID), "{5c1a2b3d-0001-6543-2900-000000000b00}");
    assert_string_equal(FIELD(&n, PARENT_IMAGE), "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe");
    assert_string_equal(FIELD(&n, PROCESS_ID), "4412");
    assert_string_equal(FIELD(&n, EVENT_ID), "1");
    assert_string_equal(FIELD(&n, SHA256),
                        "908b64b1971a979c7e3e8ce4621945cba84854cb98d76367b791a6e22b5f6d53");
    assert_string_equal(FIELD(&n, LOGON_ID), "0x3e7a1");
    assert_string_equal(FIELD(&n, INTEGRITY_LEVEL), "Medium");
    xf_event_close(&n);
    xf_event_close(&d);
}

static void ecs_email_keeps_three_recipients_and_aligned_attachments(void **state)
{
    struct xf_event ev;

    xf_event_init(&ev);
    decode_sample("ecs_email.json", XF_FMT_ECS, &ev);
    assert_int_equal(ev.category, XF_CAT_EMAIL);
    assert_string_equal(ev.id, "mail-7f3a91");
    assert_int_equal(ev.time, 1795251603000LL);
    assert_string_equal(FIELD(&ev, MESSAGE_ID), "<CAK7tGQ2x8e@mail.example.net>");
    assert_string_equal(FIELD(&ev, SENDER), "billing@example.net");
    assert_string_equal(FIELD(&ev, SUBJECT), "RE: invoice 2026-1182");
    assert_string_equal(FIELD(&ev, EMAIL_DIRECTION), "inbound");
    assert_string_equal(FIELD(&ev, VERDICT), "delivered");
    assert_int_equal(xf_event_count(&ev, XF_F_RECIPIENT), 3);
    assert_string_equal(xf_event_get_nth(&ev, XF_F_RECIPIENT, 0), "akiko@corp.example");
    assert_string_equal(xf_event_get_nth(&ev, XF_F_RECIPIENT, 1), "li.wei@corp.example");
    assert_string_equal(xf_event_get_nth(&ev, XF_F_RECIPIENT, 2), "finance@corp.example");
    assert_int_equal(xf_event_count(&ev, XF_F_ATTACHMENT_NAME), 2);
    assert_int_equal(xf_event_count(&ev, XF_F_ATTACHMENT_TYPE), 2);
    assert_int_equal(xf_event_count(&ev, XF_F_ATTACHMENT_SIZE), 2);
    assert_int_equal(xf_event_count(&ev, XF_F_ATTACHMENT_SHA256), 2);
    assert_string_equal(xf_event_get_nth(&ev, XF_F_ATTACHMENT_NAME, 0), "Invoice_1182.docm");
    assert_string_equal(xf_event_get_nth(&ev, XF_F_ATTACHMENT_SIZE, 0), "184320");
    assert_string_equal(xf_event_get_nth(&ev, XF_F_ATTACHMENT_SHA256, 0),
                        "3f1c0b9a5e7d2c4b6a8f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6978695a4b");
    assert_string_equal(xf_event_get_nth(&ev, XF_F_ATTACHMENT_NAME, 1), "readme.txt");
    assert_string_equal(xf_event_get_nth(&ev, XF_F_ATTACHMENT_TYPE, 1), "");
    assert_string_equal(xf_event_get_nth(&ev, XF_F_ATTACHMENT_SIZE, 1), "42");
    assert_string_equal(xf_event_get_nth(&ev, XF_F_ATTACHMENT_SHA256, 1), "");
    assert_string_equal(FIELD(&ev, URL), "http://bad.example/payload.dll");
    assert_string_equal(FIELD(&ev, OBSERVER), "mx1.corp.example");
    xf_event_close(&ev);
}

static void ecs_dns_and_network_direction(void **state)
{
    static const char a[] =
        "{\"@timestamp\":\"2026-11-21T09:01:00Z\",\"event.category\":[\"network\"],"
        "\"dns\":{\"question\":{\"name\":\"bad.example\"},\"answers\":[{\"data\":\"203.0.113.7\"},"
        "{\"data\":\"203.0.113.8\"}]},\"network\":{\"direction\":\"egress\"},"
        "\"host\":{\"hostname\":\"WS-017\"}}";
    char err[XF_ERRMSG_MAX];
    struct xf_event ev;

    xf_event_init(&ev);
    assert_int_equal(xf_decode(XF_FMT_AUTO, a, sizeof a - 1, &ev, NULL, err), 0);
    assert_int_equal(ev.category, XF_CAT_DNS);
    assert_string_equal(FIELD(&ev, QUERY_NAME), "bad.example");
    assert_int_equal(xf_event_count(&ev, XF_F_QUERY_RESULTS), 2);
    assert_string_equal(xf_event_get_nth(&ev, XF_F_QUERY_RESULTS, 1), "203.0.113.8");
    assert_string_equal(FIELD(&ev, INITIATED), "true");
    assert_string_equal(FIELD(&ev, HOST), "ws-017");
    assert_memory_equal(ev.id, "h:", 2);
    xf_event_close(&ev);
}

static void proto_row_round_trips_through_decode(void **state)
{
    struct xf_event a, b;
    struct xf_buf out;
    char err[XF_ERRMSG_MAX];
    enum xf_format used;

    xf_event_init(&a);
    xf_event_init(&b);
    xf_buf_init(&out);
    decode_sample("otrf_sysmon1_wscript_powershell.json", XF_FMT_SYSMON, &a);
    assert_int_equal(xf_proto_encode(&a, &out, 0), 0);
    assert_int_equal(xf_decode(XF_FMT_AUTO, out.data, out.len, &b, &used, err), 0);
    assert_int_equal(used, XF_FMT_PROTO);
    assert_events_equal(&a, &b);
    xf_buf_close(&out);
    xf_event_close(&a);
    xf_event_close(&b);
}

/* ---- bad input: XF_EPARSE and a reason that says where ----------------------------------- */

static void expect_parse_error(enum xf_format fmt, const char *rec, size_t len,
                               const char *want_in_reason)
{
    char err[XF_ERRMSG_MAX];
    struct xf_event ev;
    int rc;

    xf_event_init(&ev);
    rc = xf_decode(fmt, rec, len, &ev, NULL, err);
    if (rc != XF_EPARSE)
        fail_msg("expected XF_EPARSE, got %d (%s)", rc, err);
    if (!strstr(err, want_in_reason))
        fail_msg("reason \"%s\" does not contain \"%s\"", err, want_in_reason);
    xf_event_close(&ev);
}

static void garbage_is_a_parse_error(void **state)
{
    static const char g[] = "{this is not json";

    expect_parse_error(XF_FMT_AUTO, g, sizeof g - 1, "malformed JSON at byte 5");
    expect_parse_error(XF_FMT_AUTO, "\xff\xfe\x01garbage", 10, "not a valid xdrflow.v1.Event");
}

static void truncated_json_names_the_byte(void **state)
{
    static const char t[] = "{\"EventID\":1,\"Hostname\":\"WS1\",\"Image\":\"C:\\\\a";

    expect_parse_error(XF_FMT_SYSMON, t, sizeof t - 1, "truncated JSON at byte 44");
}

static void event_id_object_is_a_type_error(void **state)
{
    static const char t[] = "{\"EventID\":{\"x\":1},\"Hostname\":\"WS1\",\"UtcTime\":\"2020-09-04 "
                            "20:09:55.760\"}";

    expect_parse_error(XF_FMT_AUTO, t, sizeof t - 1,
                       "field 'EventID' is an object, expected number or string");
}

static void invalid_utf8_names_the_byte(void **state)
{
    static const char t[] = "{\"EventID\":1,\"Image\":\"C:\\\\\xc3\x28.exe\",\"Hostname\":\"W\"}";

    expect_parse_error(XF_FMT_AUTO, t, sizeof t - 1, "invalid UTF-8 at byte");
}

static void missing_time_is_reported(void **state)
{
    static const char t[] = "{\"EventID\":1,\"Hostname\":\"WS1\"}";

    expect_parse_error(XF_FMT_AUTO, t, sizeof t - 1, "no event time (UtcTime/@timestamp)");
}

static void unknown_json_shape_is_reported(void **state)
{
    static const char t[] = "{\"hello\":\"world\"}";

    expect_parse_error(XF_FMT_AUTO, t, sizeof t - 1, "matches no known format");
}

static void empty_record_is_a_parse_error(void **state)
{
    expect_parse_error(XF_FMT_AUTO, "", 0, "empty record");
    expect_parse_error(XF_FMT_ECS, "", 0, "at byte 0");
}

static void huge_record_is_refused_before_parsing(void **state)
{
    size_t n = XF_RECORD_MAX + 1;
    char *big = xf_malloc(n);

    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    expect_parse_error(XF_FMT_AUTO, big, n, "over the 4194304-byte limit");
    xf_free(big);
}

static void ecs_bad_timestamp_type_is_reported(void **state)
{
    static const char t[] = "{\"@timestamp\":12,\"event\":{\"id\":\"x\"}}";

    expect_parse_error(XF_FMT_AUTO, t, sizeof t - 1,
                       "field '@timestamp' is a number, expected string");
}

static void failed_allocations_never_leak(void **state)
{
    char err[XF_ERRMSG_MAX];
    size_t len;
    char *rec = slurp("ecs_email.json", &len);

    /* fail the Nth allocation for every N until decoding succeeds: ASan catches leaks */
    for (long n = 0; n < 200; n++) {
        struct xf_event ev;
        int rc;
        xf_event_init(&ev);
        xf_alloc_fail_after(n);
        rc = xf_decode(XF_FMT_AUTO, rec, len, &ev, NULL, err);
        xf_alloc_fail_after(-1);
        xf_event_close(&ev);
        if (rc == 0)
            break;
        assert_true(rc == XF_ENOMEM || rc == XF_ETOOBIG || rc == XF_EPARSE);
    }
    xf_free(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sysmon1_real_otrf_line_maps_process_fields),
        cmocka_unit_test(sysmon3_real_otrf_line_maps_connection),
        cmocka_unit_test(sysmon22_splits_query_results_into_answers),
        cmocka_unit_test(sysmon11_is_a_file_create),
        cmocka_unit_test(security5156_maps_wfp_names_and_falls_back_to_timestamp),
        cmocka_unit_test(security4624_is_a_logon_with_qualified_target_user),
        cmocka_unit_test(logon_user_survives_arena_growth),
        cmocka_unit_test(system7045_is_a_service_install),
        cmocka_unit_test(security4688_renames_new_process_and_creator),
        cmocka_unit_test(sysmon_channel_case_does_not_change_the_id),
        cmocka_unit_test(sysmon_without_record_number_gets_content_id),
        cmocka_unit_test(winevt_sample_maps_like_sysmon),
        cmocka_unit_test(winevt_event_id_object_and_time_created),
        cmocka_unit_test(ecs_nested_and_dotted_give_identical_events),
        cmocka_unit_test(ecs_email_keeps_three_recipients_and_aligned_attachments),
        cmocka_unit_test(ecs_dns_and_network_direction),
        cmocka_unit_test(proto_row_round_trips_through_decode),
        cmocka_unit_test(garbage_is_a_parse_error),
        cmocka_unit_test(truncated_json_names_the_byte),
        cmocka_unit_test(event_id_object_is_a_type_error),
        cmocka_unit_test(invalid_utf8_names_the_byte),
        cmocka_unit_test(missing_time_is_reported),
        cmocka_unit_test(unknown_json_shape_is_reported),
        cmocka_unit_test(empty_record_is_a_parse_error),
        cmocka_unit_test(huge_record_is_refused_before_parsing),
        cmocka_unit_test(ecs_bad_timestamp_type_is_reported),
        cmocka_unit_test(failed_allocations_never_leak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
