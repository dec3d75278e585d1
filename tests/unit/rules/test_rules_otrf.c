/*
 * test_rules_otrf.c - the bundled rule pack against real attacks (OTRF Security-Datasets).
 *
 * Each recording is read straight from its zip, and every record becomes an xf_event through a
 * deliberately small flat-JSON mapping (top-level keys that are xf_event field names, plus the
 * Security-log spellings). The decoders proper live in ingest/; this test only needs the fields
 * rules look at. Each test asserts the exact set of (rule, event) matches: the attack's events
 * fire the intended rules and the thousands of background events fire nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <zip.h>

#include "xf/rules.h"

static struct xf_ruleset *pack;

static int setup(void **state)
{
    const char *dir = XF_TEST_PACK_DIR;
    struct xf_rule_errors errs = {0};

    (void)state;
    assert_int_equal(xf_ruleset_load(&dir, 1, &pack, &errs), 0);
    assert_int_equal(errs.count, 0);
    xf_rule_errors_close(&errs);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    xf_ruleset_destroy(pack);
    return 0;
}

static enum xf_category category_of(const char *channel, long eid)
{
    if (xf_strcaseeq(channel, "Microsoft-Windows-Sysmon/Operational")) {
        switch (eid) {
        case 1:
            return XF_CAT_PROCESS;
        case 3:
            return XF_CAT_NETWORK;
        case 5:
            return XF_CAT_PROCESS_END;
        case 7:
            return XF_CAT_IMAGE_LOAD;
        case 10:
            return XF_CAT_PROCESS_ACCESS;
        case 11:
        case 23:
            return XF_CAT_FILE;
        case 12:
        case 13:
        case 14:
            return XF_CAT_REGISTRY;
        case 22:
            return XF_CAT_DNS;
        default:
            return XF_CAT_OTHER;
        }
    }
    if (xf_strcaseeq(channel, "System") && eid == 7045)
        return XF_CAT_SERVICE;
    if (xf_strcaseeq(channel, "Security")) {
        if (eid == 4688)
            return XF_CAT_PROCESS;
        if (eid == 5156)
            return XF_CAT_NETWORK;
        if (eid == 4697)
            return XF_CAT_SERVICE;
        if (eid == 4624)
            return XF_CAT_LOGON;
    }
    return XF_CAT_OTHER;
}

static const struct {
    const char *key;
    enum xf_field field;
} security_names[] = {
    {"NewProcessName", XF_F_IMAGE},      {"ParentProcessName", XF_F_PARENT_IMAGE},
    {"Application", XF_F_IMAGE},         {"DestAddress", XF_F_DESTINATION_IP},
    {"DestPort", XF_F_DESTINATION_PORT}, {"SourceAddress", XF_F_SOURCE_IP},
};

static void to_event(json_t *rec, size_t lineno, struct xf_event *ev)
{
    const char *key;
    json_t *val;
    const char *channel = json_string_value(json_object_get(rec, "Channel"));
    long eid = (long)json_integer_value(json_object_get(rec, "EventID"));
    char num[32];

    xf_event_reset(ev);
    ev->category = category_of(channel ? channel : "", eid);
    /* Not every recording has RecordNumber; the line in the file names the record. */
    snprintf(num, sizeof num, "line %zu eid %ld", lineno, eid);
    xf_event_set_id(ev, num);
    json_object_foreach(rec, key, val)
    {
        int f = xf_field_lookup(key);
        const char *s = NULL;

        for (size_t i = 0; f < 0 && i < XF_ARRAY_LEN(security_names); i++)
            if (strcmp(key, security_names[i].key) == 0)
                f = (int)security_names[i].field;
        if (f < 0)
            continue;
        if (json_is_string(val)) {
            s = json_string_value(val);
        } else if (json_is_integer(val)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(val));
            s = num;
        }
        if (s)
            assert_int_equal(xf_event_set(ev, (enum xf_field)f, s, (size_t)-1), 0);
    }
}

struct hits {
    char lines[64][160];
    size_t n;
    const struct xf_event *ev;
};

static void on_match(const struct xf_rule_info *rule, void *ud)
{
    struct hits *h = ud;

    assert_true(h->n < XF_ARRAY_LEN(h->lines));
    snprintf(h->lines[h->n++], sizeof h->lines[0], "%s | %s", h->ev->id, rule->title);
}

/* Replays one recording through the pack and compares the matches, in file order. */
static void replay(const char *zipname, const char *const *expected, size_t n_expected)
{
    static struct hits hits;
    struct hits *h = &hits;
    char path[512];
    struct xf_event ev;
    zip_t *z;
    zip_file_t *zf;
    zip_stat_t st;
    char *data;
    char *line;
    size_t lineno = 0;

    memset(h, 0, sizeof *h);
    snprintf(path, sizeof path, "%s/%s", XF_TEST_OTRF_DIR, zipname);
    z = zip_open(path, ZIP_RDONLY, NULL);
    if (!z)
        skip();
    assert_int_equal(zip_stat_index(z, 0, 0, &st), 0);
    data = xf_malloc(st.size + 1);
    assert_non_null(data);
    zf = zip_fopen_index(z, 0, 0);
    assert_non_null(zf);
    assert_int_equal(zip_fread(zf, data, st.size), (zip_int64_t)st.size);
    data[st.size] = '\0';
    zip_fclose(zf);
    zip_close(z);

    xf_event_init(&ev);
    h->ev = &ev;
    line = data;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        json_t *rec;

        if (nl)
            *nl = '\0';
        lineno++;
        rec = json_loads(line, 0, NULL);
        if (rec) {
            to_event(rec, lineno, &ev);
            xf_ruleset_match(pack, &ev, on_match, h);
            json_decref(rec);
        }
        line = nl ? nl + 1 : NULL;
    }
    xf_event_close(&ev);
    xf_free(data);
    /* On a difference, print what fired in the form of the expected list, for review. */
    int same = h->n == n_expected;
    for (size_t i = 0; same && i < n_expected; i++)
        same = strcmp(h->lines[i], expected[i]) == 0;
    for (size_t i = 0; !same && i < h->n; i++)
        printf("    \"%s\",\n", h->lines[i]);
    assert_int_equal(h->n, n_expected);
    for (size_t i = 0; i < n_expected; i++)
        assert_string_equal(h->lines[i], expected[i]);
}

static void test_otrf_wscript_launcher_fires_wscript_and_encoded_rules(void **state)
{
    static const char *const want[] = {
        "line 259 eid 1 | PowerShell With Encoded Command",
        "line 259 eid 1 | Windows Script Host Spawns PowerShell",
        "line 328 eid 4688 | PowerShell With Encoded Command",
        "line 328 eid 4688 | Windows Script Host Spawns PowerShell",
    };

    (void)state;
    replay("atomic_windows_execution_host_empire_launcher_vbs.zip", want, XF_ARRAY_LEN(want));
}

static void test_otrf_wmi_exec_fires_wmiprvse_and_encoded_rules(void **state)
{
    static const char *const want[] = {
        "line 369 eid 1 | PowerShell With Encoded Command",
        "line 369 eid 1 | WMI Provider Host Spawns Shell or Script Host",
        "line 552 eid 4688 | PowerShell With Encoded Command",
        "line 552 eid 4688 | WMI Provider Host Spawns Shell or Script Host",
    };

    (void)state;
    replay(
        "atomic_windows_lateral_movement_host_empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod.zip",
        want, XF_ARRAY_LEN(want));
}

static void test_otrf_regsvr32_sct_fires_scriptlet_and_encoded_rules(void **state)
{
    static const char *const want[] = {
        "line 97 eid 1 | Regsvr32 Loads Remote Scriptlet (Squiblydoo)",
        "line 219 eid 4688 | Regsvr32 Loads Remote Scriptlet (Squiblydoo)",
        "line 224 eid 1 | PowerShell With Encoded Command",
        "line 283 eid 4688 | PowerShell With Encoded Command",
    };

    (void)state;
    replay("atomic_windows_defense_evasion_host_empire_launcher_sct_regsvr32.zip", want,
           XF_ARRAY_LEN(want));
}

static void test_otrf_smbexec_fires_service_smb_and_encoded_rules(void **state)
{
    static const char *const want[] = {
        "line 523 eid 5156 | SMB Connection From PowerShell or Proxy-Execution Binary",
        "line 772 eid 1 | PowerShell With Encoded Command",
        "line 772 eid 1 | Services Spawns Shell (Smbexec-Style Service)",
        "line 812 eid 4688 | PowerShell With Encoded Command",
        "line 812 eid 4688 | Services Spawns Shell (Smbexec-Style Service)",
        "line 844 eid 4688 | PowerShell With Encoded Command",
        "line 851 eid 1 | PowerShell With Encoded Command",
        "line 876 eid 3 | SMB Connection From PowerShell or Proxy-Execution Binary",
        "line 912 eid 4688 | PowerShell With Encoded Command",
        "line 1029 eid 1 | PowerShell With Encoded Command",
        "line 1088 eid 7045 | Service Installed With Shell Command As Image Path",
    };

    (void)state;
    replay("atomic_windows_lateral_movement_host_empire_smbexec_dcerpc_smb_svcctl.zip", want,
           XF_ARRAY_LEN(want));
}

static void test_otrf_bitsadmin_fires_transfer_rule(void **state)
{
    static const char *const want[] = {
        "line 3 eid 4688 | Bitsadmin Transfer Download",
        "line 118 eid 1 | Bitsadmin Transfer Download",
    };

    (void)state;
    replay("atomic_windows_defense_evasion_host_cmd_bitsadmin_download_psh_script.zip", want,
           XF_ARRAY_LEN(want));
}

static void test_otrf_mshta_vbscript_fires_mshta_rule(void **state)
{
    static const char *const want[] = {
        "line 4 eid 4688 | Mshta Runs Inline Script or Remote HTA",
        "line 275 eid 1 | Mshta Runs Inline Script or Remote HTA",
    };

    (void)state;
    replay("atomic_windows_defense_evasion_host_cmd_mshta_vbscript_execute_psh.zip", want,
           XF_ARRAY_LEN(want));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_otrf_wscript_launcher_fires_wscript_and_encoded_rules),
        cmocka_unit_test(test_otrf_wmi_exec_fires_wmiprvse_and_encoded_rules),
        cmocka_unit_test(test_otrf_regsvr32_sct_fires_scriptlet_and_encoded_rules),
        cmocka_unit_test(test_otrf_smbexec_fires_service_smb_and_encoded_rules),
        cmocka_unit_test(test_otrf_bitsadmin_fires_transfer_rule),
        cmocka_unit_test(test_otrf_mshta_vbscript_fires_mshta_rule),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
