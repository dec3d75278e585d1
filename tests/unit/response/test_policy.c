/*
 * test_policy.c - unit tests of the response policy (response/src/policy.c): names, protected
 * hosts, which incidents qualify, the rate bucket and the backoff.
 *
 * Protection is the safety property of the issue ("never isolate a domain controller"), so
 * each matcher (exact, glob, regex, tag) is tested on its own, with case and FQDN variants,
 * and with a host that must stay unprotected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "xf/response.h"

static void add_protected(struct xf_policy_conf *p, const char *e)
{
    assert_true(p->n_protected < XF_RESP_MAX_LIST);
    p->protected_hosts[p->n_protected] = xf_strdup(e);
    assert_non_null(p->protected_hosts[p->n_protected]);
    p->n_protected++;
}

static void add_stage(struct xf_policy_conf *p, const char *e)
{
    p->stages[p->n_stages] = xf_strdup(e);
    assert_non_null(p->stages[p->n_stages]);
    p->n_stages++;
}

static void add_tag(struct xf_policy_conf *p, const char *host, const char *tag)
{
    struct xf_host_tag *t = &p->host_tags[p->n_host_tags++];

    t->host = xf_strdup(host);
    t->tags[0] = xf_strdup(tag);
    t->n_tags = 1;
}

/* ---- names and conf ----------------------------------------------------------------------- */

static void test_init_sets_the_documented_defaults(void **state)
{
    struct xf_policy_conf p;

    (void)state;
    xf_policy_conf_init(&p);
    assert_int_equal(p.mode, XF_MODE_APPROVE);
    assert_int_equal(p.min_severity, 2);
    assert_int_equal(p.min_score, 0);
    assert_true(p.max_actions_per_min == 10.0);
    assert_int_equal(p.burst, 5);
    assert_int_equal(p.auto_release_after_ms, 0);
    assert_int_equal(p.max_attempts, 5);
    assert_int_equal(p.backoff_base_ms, 1000);
    assert_int_equal(p.backoff_max_ms, 60000);
    assert_int_equal(p.poll_interval_ms, 2000);
    assert_int_equal(p.max_polls, 150);
    assert_int_equal(p.timeout_ms, 10000);
    assert_int_equal(p.notify_incidents, 1);
    assert_int_equal(p.n_protected, 0);
    assert_null(p.compiled);
    assert_int_equal(xf_policy_conf_check(&p, NULL, 0), 0);
    xf_policy_conf_close(&p);
}

static void test_mode_and_severity_names_parse_case_insensitively(void **state)
{
    (void)state;
    assert_string_equal(xf_resp_mode_name(XF_MODE_OFF), "off");
    assert_string_equal(xf_resp_mode_name(XF_MODE_DRY_RUN), "dry_run");
    assert_string_equal(xf_resp_mode_name(XF_MODE_APPROVE), "approve");
    assert_string_equal(xf_resp_mode_name(XF_MODE_AUTO), "auto");
    assert_int_equal(xf_resp_mode_parse("dry_run"), XF_MODE_DRY_RUN);
    assert_int_equal(xf_resp_mode_parse("AUTO"), XF_MODE_AUTO);
    assert_int_equal(xf_resp_mode_parse("manual"), -1);
    assert_int_equal(xf_resp_mode_parse(NULL), -1);
    assert_int_equal(xf_severity_rank("low"), 0);
    assert_int_equal(xf_severity_rank("medium"), 1);
    assert_int_equal(xf_severity_rank("High"), 2);
    assert_int_equal(xf_severity_rank("CRITICAL"), 3);
    assert_int_equal(xf_severity_rank("severe"), -1);
    assert_int_equal(xf_severity_rank(NULL), -1);
}

static void test_check_rejects_out_of_range_values_with_a_reason(void **state)
{
    struct xf_policy_conf p;
    char why[160];

    (void)state;
    xf_policy_conf_init(&p);
    p.min_severity = 4;
    assert_int_equal(xf_policy_conf_check(&p, why, sizeof why), XF_ECONFIG);
    assert_string_equal(why, "min_severity: must be low, medium, high or critical");
    xf_policy_conf_init(&p);
    p.burst = 0;
    assert_int_equal(xf_policy_conf_check(&p, why, sizeof why), XF_ECONFIG);
    assert_string_equal(why, "burst: must be >= 1");
    xf_policy_conf_init(&p);
    p.max_actions_per_min = 0;
    assert_int_equal(xf_policy_conf_check(&p, why, sizeof why), XF_ECONFIG);
    assert_string_equal(why, "max_actions_per_min: must be > 0");
    xf_policy_conf_init(&p);
    p.backoff_max_ms = 10;
    assert_int_equal(xf_policy_conf_check(&p, why, sizeof why), XF_ECONFIG);
    assert_string_equal(why, "backoff: need 0 <= backoff_base_ms <= backoff_max_ms");
    xf_policy_conf_init(&p);
    p.max_attempts = 0;
    assert_int_equal(xf_policy_conf_check(&p, why, sizeof why), XF_ECONFIG);
    assert_string_equal(why, "max_attempts: must be >= 1");
    xf_policy_conf_init(&p);
    p.auto_release_after_ms = -1;
    assert_int_equal(xf_policy_conf_check(&p, why, sizeof why), XF_ECONFIG);
    assert_string_equal(why, "auto_release_after: must be from 0 (never) to 366d");
    p.auto_release_after_ms = XF_RESP_MAX_AUTO_RELEASE + 1;
    assert_int_equal(xf_policy_conf_check(&p, why, sizeof why), XF_ECONFIG);
    assert_string_equal(why, "auto_release_after: must be from 0 (never) to 366d");
    p.auto_release_after_ms = XF_RESP_MAX_AUTO_RELEASE;
    assert_int_equal(xf_policy_conf_check(&p, why, sizeof why), 0);
    xf_policy_conf_init(&p);
    add_protected(&p, "tag:");
    assert_int_equal(xf_policy_conf_check(&p, why, sizeof why), XF_ECONFIG);
    assert_string_equal(why, "protected_hosts: 're:' or 'tag:' with nothing after it");
    xf_policy_conf_close(&p);
}

static void test_check_and_compile_reject_a_bad_regex(void **state)
{
    struct xf_policy_conf p;
    char why[160];

    (void)state;
    xf_policy_conf_init(&p);
    add_protected(&p, "dc-*");
    add_protected(&p, "re:^dc(\\d+$");
    assert_int_equal(xf_policy_conf_check(&p, why, sizeof why), XF_ECONFIG);
    assert_memory_equal(why, "protected_hosts: bad regex '^dc(\\d+$' at offset",
                        strlen("protected_hosts: bad regex '^dc(\\d+$' at offset"));
    assert_int_equal(xf_policy_conf_compile(&p, why, sizeof why), XF_ECONFIG);
    assert_null(p.compiled);
    xf_policy_conf_close(&p);
}

static void test_copy_is_deep_and_starts_uncompiled(void **state)
{
    struct xf_policy_conf p;
    struct xf_policy_conf q;

    (void)state;
    xf_policy_conf_init(&p);
    p.mode = XF_MODE_AUTO;
    p.min_score = 40;
    add_protected(&p, "re:^dc\\d+$");
    add_stage(&p, "c2");
    add_tag(&p, "mail-01", "mail_server");
    assert_int_equal(xf_policy_conf_compile(&p, NULL, 0), 0);
    assert_non_null(p.compiled);
    assert_int_equal(xf_policy_conf_copy(&q, &p), 0);
    assert_null(q.compiled);
    assert_int_equal(q.mode, XF_MODE_AUTO);
    assert_int_equal(q.min_score, 40);
    assert_ptr_not_equal(q.protected_hosts[0], p.protected_hosts[0]);
    assert_string_equal(q.protected_hosts[0], "re:^dc\\d+$");
    assert_string_equal(q.stages[0], "c2");
    assert_string_equal(q.host_tags[0].host, "mail-01");
    assert_string_equal(q.host_tags[0].tags[0], "mail_server");
    xf_policy_conf_close(&p);
    /* The copy stands alone once the original is gone. */
    assert_true(xf_policy_host_protected(&q, "DC01"));
    xf_policy_conf_close(&q);
}

/* ---- protected hosts ---------------------------------------------------------------------- */

static void test_protected_by_exact_name_ignoring_case(void **state)
{
    struct xf_policy_conf p;

    (void)state;
    xf_policy_conf_init(&p);
    add_protected(&p, "fileserver01");
    assert_int_equal(xf_policy_host_protected(&p, "fileserver01"), 1);
    assert_int_equal(xf_policy_host_protected(&p, "FileServer01"), 1);
    assert_int_equal(xf_policy_host_protected(&p, "fileserver01.corp.example"), 1);
    assert_int_equal(xf_policy_host_protected(&p, "fileserver011"), 0);
    assert_int_equal(xf_policy_host_protected(&p, "ws-fileserver01"), 0);
    xf_policy_conf_close(&p);
}

static void test_protected_by_glob_ignoring_case(void **state)
{
    struct xf_policy_conf p;

    (void)state;
    xf_policy_conf_init(&p);
    add_protected(&p, "dc-*");
    add_protected(&p, "mail-??.corp.example");
    assert_int_equal(xf_policy_host_protected(&p, "dc-01"), 1);
    assert_int_equal(xf_policy_host_protected(&p, "DC-02.corp.example"), 1);
    assert_int_equal(xf_policy_host_protected(&p, "MAIL-07.CORP.EXAMPLE"), 1);
    assert_int_equal(xf_policy_host_protected(&p, "mail-123.corp.example"), 0);
    assert_int_equal(xf_policy_host_protected(&p, "ws-dc-01"), 0);
    xf_policy_conf_close(&p);
}

static void test_protected_by_regex_compiled_or_not(void **state)
{
    struct xf_policy_conf p;

    (void)state;
    xf_policy_conf_init(&p);
    add_protected(&p, "re:^dc\\d+$");
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(xf_policy_host_protected(&p, "dc01"), 1);
        assert_int_equal(xf_policy_host_protected(&p, "DC7"), 1);
        assert_int_equal(xf_policy_host_protected(&p, "dc01.corp.example"), 1);
        assert_int_equal(xf_policy_host_protected(&p, "dc01x"), 0);
        assert_int_equal(xf_policy_host_protected(&p, "ws-017"), 0);
        assert_int_equal(xf_policy_conf_compile(&p, NULL, 0), 0);
        assert_non_null(p.compiled);
    }
    xf_policy_conf_close(&p);
}

static void test_protected_by_tag(void **state)
{
    struct xf_policy_conf p;

    (void)state;
    xf_policy_conf_init(&p);
    add_protected(&p, "tag:domain_controller");
    add_tag(&p, "ad-core-1.corp.example", "domain_controller");
    add_tag(&p, "ws-017", "finance");
    assert_int_equal(xf_policy_host_protected(&p, "ad-core-1.corp.example"), 1);
    assert_int_equal(xf_policy_host_protected(&p, "AD-CORE-1.corp.example"), 1);
    assert_int_equal(xf_policy_host_protected(&p, "ws-017"), 0);
    assert_int_equal(xf_policy_host_protected(&p, "ad-core-2.corp.example"), 0);
    xf_policy_conf_close(&p);
}

static void test_nothing_is_protected_by_an_empty_list(void **state)
{
    struct xf_policy_conf p;

    (void)state;
    xf_policy_conf_init(&p);
    assert_int_equal(xf_policy_host_protected(&p, "dc-01"), 0);
    assert_int_equal(xf_policy_host_protected(&p, ""), 0);
    assert_int_equal(xf_policy_host_protected(&p, NULL), 0);
    xf_policy_conf_close(&p);
}

static void test_a_regex_that_does_not_compile_protects_every_host(void **state)
{
    struct xf_policy_conf p;

    (void)state;
    xf_policy_conf_init(&p);
    add_protected(&p, "re:(");
    assert_int_equal(xf_policy_host_protected(&p, "ws-017"), 1);
    xf_policy_conf_close(&p);
}

/* ---- incidents ---------------------------------------------------------------------------- */

static const char incident_json[] =
    "{\"id\":\"inc-7f3a\",\"tenant\":\"default\",\"severity\":\"critical\",\"score\":92,"
    "\"hosts\":[\"ws-017.corp.example\",\"dc-01.corp.example\"],\"users\":[\"corp\\\\akiko\"],"
    "\"stages\":[\"delivery\",\"execution\",\"c2\"],\"nodes\":[{\"id\":\"n1\"}],\"edges\":[]}";

static void test_summary_parse_reads_id_severity_score_stages_hosts(void **state)
{
    struct xf_incident_summary s;

    (void)state;
    assert_int_equal(xf_incident_summary_parse(incident_json, strlen(incident_json), &s), 0);
    assert_string_equal(s.id, "inc-7f3a");
    assert_int_equal(s.severity, 3);
    assert_int_equal(s.score, 92);
    assert_int_equal(s.n_stages, 3);
    assert_string_equal(s.stages[0], "delivery");
    assert_string_equal(s.stages[2], "c2");
    assert_int_equal(s.n_hosts, 2);
    assert_string_equal(s.hosts[0], "ws-017.corp.example");
    assert_string_equal(s.hosts[1], "dc-01.corp.example");
    xf_incident_summary_close(&s);
}

static void test_summary_parse_rejects_wrong_types_and_a_missing_id(void **state)
{
    static const char *const bad[] = {
        "{\"severity\":\"high\"}",
        "{\"id\":7}",
        "{\"id\":\"inc-1\",\"severity\":3}",
        "{\"id\":\"inc-1\",\"score\":\"92\"}",
        "{\"id\":\"inc-1\",\"hosts\":\"ws-017\"}",
        "{\"id\":\"inc-1\",\"stages\":[\"c2\",4]}",
        "{\"id\":\"inc-0123456789012345678901234567\"}",
        "[]",
        "{",
    };
    struct xf_incident_summary s;

    (void)state;
    for (size_t i = 0; i < XF_ARRAY_LEN(bad); i++) {
        if (xf_incident_summary_parse(bad[i], strlen(bad[i]), &s) != XF_EPARSE)
            fail_msg("accepted: %s", bad[i]);
        assert_null(s.hosts);
        assert_int_equal(s.n_stages, 0);
    }
}

static int qualifies(const struct xf_policy_conf *p, const char *json)
{
    struct xf_incident_summary s;
    int q;

    assert_int_equal(xf_incident_summary_parse(json, strlen(json), &s), 0);
    q = xf_policy_incident_qualifies(p, &s);
    xf_incident_summary_close(&s);
    return q;
}

static void test_qualifies_from_the_minimum_severity_up(void **state)
{
    struct xf_policy_conf p;

    (void)state;
    xf_policy_conf_init(&p); /* min high */
    assert_int_equal(qualifies(&p, "{\"id\":\"i\",\"severity\":\"medium\"}"), 0);
    assert_int_equal(qualifies(&p, "{\"id\":\"i\",\"severity\":\"high\"}"), 1);
    assert_int_equal(qualifies(&p, "{\"id\":\"i\",\"severity\":\"critical\"}"), 1);
    assert_int_equal(qualifies(&p, "{\"id\":\"i\",\"severity\":\"bogus\"}"), 0);
    assert_int_equal(qualifies(&p, "{\"id\":\"i\"}"), 0);
    xf_policy_conf_close(&p);
}

static void test_qualifies_from_the_minimum_score_up(void **state)
{
    struct xf_policy_conf p;

    (void)state;
    xf_policy_conf_init(&p);
    p.min_score = 70;
    assert_int_equal(qualifies(&p, "{\"id\":\"i\",\"severity\":\"critical\",\"score\":69}"), 0);
    assert_int_equal(qualifies(&p, "{\"id\":\"i\",\"severity\":\"critical\",\"score\":70}"), 1);
    xf_policy_conf_close(&p);
}

static void test_qualifies_only_with_one_of_the_listed_stages(void **state)
{
    struct xf_policy_conf p;

    (void)state;
    xf_policy_conf_init(&p);
    add_stage(&p, "c2");
    add_stage(&p, "lateral_movement");
    assert_int_equal(qualifies(&p, "{\"id\":\"i\",\"severity\":\"critical\","
                                   "\"stages\":[\"delivery\",\"execution\"]}"),
                     0);
    assert_int_equal(qualifies(&p, "{\"id\":\"i\",\"severity\":\"critical\","
                                   "\"stages\":[\"delivery\",\"C2\"]}"),
                     1);
    assert_int_equal(qualifies(&p, "{\"id\":\"i\",\"severity\":\"critical\"}"), 0);
    /* The stage never outweighs the severity. */
    assert_int_equal(qualifies(&p, "{\"id\":\"i\",\"severity\":\"low\",\"stages\":[\"c2\"]}"), 0);
    xf_policy_conf_close(&p);
    xf_policy_conf_init(&p);
    assert_int_equal(qualifies(&p, "{\"id\":\"i\",\"severity\":\"high\",\"stages\":[]}"), 1);
    xf_policy_conf_close(&p);
}

/* ---- rate and backoff --------------------------------------------------------------------- */

static void test_rate_allows_a_burst_then_refills_at_the_rate(void **state)
{
    struct xf_policy_conf p;
    struct xf_rate r = {0};

    (void)state;
    xf_policy_conf_init(&p);
    p.burst = 3;
    p.max_actions_per_min = 6; /* one token every 10 s */
    assert_int_equal(xf_rate_take(&r, &p, 0), 1);
    assert_int_equal(xf_rate_take(&r, &p, 0), 1);
    assert_int_equal(xf_rate_take(&r, &p, 0), 1);
    assert_int_equal(xf_rate_take(&r, &p, 0), 0);
    assert_int_equal(xf_rate_take(&r, &p, 9999), 0);
    assert_int_equal(xf_rate_take(&r, &p, 10000), 1);
    assert_int_equal(xf_rate_take(&r, &p, 10001), 0);
    /* A long quiet spell refills only up to the burst. */
    assert_int_equal(xf_rate_take(&r, &p, 10000000), 1);
    assert_int_equal(xf_rate_take(&r, &p, 10000000), 1);
    assert_int_equal(xf_rate_take(&r, &p, 10000000), 1);
    assert_int_equal(xf_rate_take(&r, &p, 10000000), 0);
    /* A clock stepping back refills nothing. */
    assert_int_equal(xf_rate_take(&r, &p, 5000), 0);
}

static void test_backoff_doubles_up_to_the_cap_with_full_jitter(void **state)
{
    struct xf_policy_conf p;

    (void)state;
    xf_policy_conf_init(&p); /* base 1000, max 60000 */
    assert_int_equal(xf_backoff_ms(&p, 1, 0.5), 500);
    assert_int_equal(xf_backoff_ms(&p, 2, 0.5), 1000);
    assert_int_equal(xf_backoff_ms(&p, 3, 0.5), 2000);
    assert_int_equal(xf_backoff_ms(&p, 6, 0.5), 16000);
    assert_int_equal(xf_backoff_ms(&p, 7, 0.5), 30000); /* 64000 capped to 60000 */
    assert_int_equal(xf_backoff_ms(&p, 100000, 0.5), 30000);
    assert_int_equal(xf_backoff_ms(&p, 0, 0.5), 500); /* attempt < 1 counts as the first */
    assert_int_equal(xf_backoff_ms(&p, 3, 0.0), 0);
    /* rnd is clamped into [0,1): never the cap itself, never negative. */
    assert_int_equal(xf_backoff_ms(&p, 1, 1.0), 999);
    assert_int_equal(xf_backoff_ms(&p, 50, 7.0), 59999);
    assert_int_equal(xf_backoff_ms(&p, 2, -3.0), 0);
    for (int a = 1; a <= 64; a++) {
        int64_t d = xf_backoff_ms(&p, a, 0.999999);
        assert_true(d >= 0 && d < 60000);
    }
    p.backoff_base_ms = 0;
    assert_int_equal(xf_backoff_ms(&p, 2000000000, 0.9), 0);
}

static void test_copy_and_summary_under_allocation_failures_never_leak(void **state)
{
    struct xf_policy_conf p;
    struct xf_policy_conf q;
    struct xf_incident_summary s;
    int rc = XF_ENOMEM;

    (void)state;
    xf_policy_conf_init(&p);
    add_protected(&p, "re:^dc\\d+$");
    add_protected(&p, "mail-*");
    add_stage(&p, "c2");
    add_tag(&p, "mail-01", "mail_server");
    for (long n = 0; rc == XF_ENOMEM && n < 1000; n++) {
        xf_alloc_fail_after(n);
        rc = xf_policy_conf_copy(&q, &p);
        if (!rc)
            rc = xf_policy_conf_compile(&q, NULL, 0);
        xf_alloc_fail_after(-1);
        if (rc)
            assert_int_equal(rc, XF_ENOMEM);
        xf_policy_conf_close(&q);
    }
    assert_int_equal(rc, 0);
    rc = XF_ENOMEM;
    for (long n = 0; rc == XF_ENOMEM && n < 1000; n++) {
        xf_alloc_fail_after(n);
        rc = xf_incident_summary_parse(incident_json, strlen(incident_json), &s);
        xf_alloc_fail_after(-1);
        if (rc)
            assert_int_equal(rc, XF_ENOMEM);
        xf_incident_summary_close(&s);
    }
    assert_int_equal(rc, 0);
    xf_policy_conf_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_sets_the_documented_defaults),
        cmocka_unit_test(test_mode_and_severity_names_parse_case_insensitively),
        cmocka_unit_test(test_check_rejects_out_of_range_values_with_a_reason),
        cmocka_unit_test(test_check_and_compile_reject_a_bad_regex),
        cmocka_unit_test(test_copy_is_deep_and_starts_uncompiled),
        cmocka_unit_test(test_protected_by_exact_name_ignoring_case),
        cmocka_unit_test(test_protected_by_glob_ignoring_case),
        cmocka_unit_test(test_protected_by_regex_compiled_or_not),
        cmocka_unit_test(test_protected_by_tag),
        cmocka_unit_test(test_nothing_is_protected_by_an_empty_list),
        cmocka_unit_test(test_a_regex_that_does_not_compile_protects_every_host),
        cmocka_unit_test(test_summary_parse_reads_id_severity_score_stages_hosts),
        cmocka_unit_test(test_summary_parse_rejects_wrong_types_and_a_missing_id),
        cmocka_unit_test(test_qualifies_from_the_minimum_severity_up),
        cmocka_unit_test(test_qualifies_from_the_minimum_score_up),
        cmocka_unit_test(test_qualifies_only_with_one_of_the_listed_stages),
        cmocka_unit_test(test_rate_allows_a_burst_then_refills_at_the_rate),
        cmocka_unit_test(test_backoff_doubles_up_to_the_cap_with_full_jitter),
        cmocka_unit_test(test_copy_and_summary_under_allocation_failures_never_leak),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
