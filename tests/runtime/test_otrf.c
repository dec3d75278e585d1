/*
 * Runtime tests on real recorded attacks (OTRF Security-Datasets): each recording replays
 * into incidents that hold the attack's records (must_include) and at most a few of the
 * host's background records (outside allowed). The golden files and how their ids were
 * chosen: tests/data/otrf-golden/make_golden.py.
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

#include "xf/engine.h"

static int collect(const struct xf_incident_view *inc, void *ud)
{
    json_t *ids = ud;
    json_error_t err;
    json_t *j = json_loadb(inc->json, inc->len, 0, &err);
    size_t i, k;
    json_t *node, *id;

    if (!j)
        return XF_EPARSE;
    json_array_foreach(json_object_get(j, "nodes"), i, node)
    {
        json_array_foreach(json_object_get(node, "event_ids"), k, id)
        {
            json_object_set_new(ids, json_string_value(id), json_true());
        }
    }
    json_decref(j);
    return 0;
}

static void check_dataset(const char *golden_name)
{
    char path[1024], data[1024];
    json_error_t err;
    json_t *g, *ids = json_object(), *allowed = json_object();
    struct xf_engine_opts opts = {.decode_threads = 2};
    struct xf_engine *e = NULL;
    size_t i;
    json_t *v;
    const char *key;

    snprintf(path, sizeof path, "%s/otrf-golden/%s", XF_TEST_DATA, golden_name);
    g = json_load_file(path, 0, &err);
    if (!g)
        fail_msg("%s: %s", path, err.text);
    snprintf(data, sizeof data, "%s/%s", XF_OTRF_DIR,
             json_string_value(json_object_get(g, "dataset")));
    const char *files[] = {data};
    assert_int_equal(xf_engine_create(&opts, &e), 0);
    assert_int_equal(xf_engine_replay_files(e, files, 1), 0);
    struct xf_engine_stats st;
    xf_engine_get_stats(e, &st);
    assert_int_equal(st.decode_errors, 0);
    assert_int_equal(st.records, json_integer_value(json_object_get(g, "records")));
    assert_int_equal(xf_engine_incidents(e, collect, ids), 0);
    xf_engine_destroy(e);

    json_array_foreach(json_object_get(g, "must_include"), i, v)
    {
        if (!json_object_get(ids, json_string_value(v)))
            fail_msg("%s: no incident holds attack record %s", golden_name, json_string_value(v));
    }
    json_array_foreach(json_object_get(g, "allowed"), i, v)
    {
        json_object_set_new(allowed, json_string_value(v), json_true());
    }
    size_t background = 0;
    json_object_foreach(ids, key, v)
    {
        if (!json_object_get(allowed, key)) {
            background++;
            print_message("%s: background record %s in an incident\n", golden_name, key);
        }
    }
    json_int_t max = json_integer_value(json_object_get(g, "max_background"));
    if ((json_int_t)background > max)
        fail_msg("%s: %zu background records in incidents (at most %lld)", golden_name, background,
                 (long long)max);
    json_decref(allowed);
    json_decref(ids);
    json_decref(g);
}

#define OTRF_TEST(fn, file)                                                                        \
    static void fn(void **state)                                                                   \
    {                                                                                              \
        check_dataset(file);                                                                       \
    }

OTRF_TEST(empire_launcher_vbs_incident_is_wscript_powershell_and_its_c2,
          "atomic_windows_execution_host_empire_launcher_vbs.json")
OTRF_TEST(
    empire_wmi_incident_is_the_wmi_hop_with_its_source_host,
    "atomic_windows_lateral_movement_host_empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod.json")
OTRF_TEST(empire_regsvr32_incident_is_the_scriptlet_proxy_execution,
          "atomic_windows_defense_evasion_host_empire_launcher_sct_regsvr32.json")
OTRF_TEST(empire_smbexec_incident_is_logon_service_and_process_tree,
          "atomic_windows_lateral_movement_host_empire_smbexec_dcerpc_smb_svcctl.json")
OTRF_TEST(bitsadmin_incident_is_the_download,
          "atomic_windows_defense_evasion_host_cmd_bitsadmin_download_psh_script.json")
OTRF_TEST(mshta_incident_is_script_host_to_powershell,
          "atomic_windows_defense_evasion_host_cmd_mshta_vbscript_execute_psh.json")

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empire_launcher_vbs_incident_is_wscript_powershell_and_its_c2),
        cmocka_unit_test(empire_wmi_incident_is_the_wmi_hop_with_its_source_host),
        cmocka_unit_test(empire_regsvr32_incident_is_the_scriptlet_proxy_execution),
        cmocka_unit_test(empire_smbexec_incident_is_logon_service_and_process_tree),
        cmocka_unit_test(bitsadmin_incident_is_the_download),
        cmocka_unit_test(mshta_incident_is_script_host_to_powershell),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
