/*
 * test_correlate_data.c - the correlator on recorded telemetry with the bundled Sigma pack:
 * the Emotet outbreak scenario (tests/data, with its golden expectation) and an OTRF
 * Security-Datasets lateral-movement recording. These are the answers that matter: one
 * incident per attack, every attack record in it, no background record.
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

#include "xf/correlate.h"
#include "xf/ingest.h"
#include "xf/rules.h"

struct recs {
    char **line;
    size_t *len;
    size_t n, cap;
};

static void recs_read(struct recs *r, const char *path)
{
    struct xf_reader *rd = NULL;
    const char *d, *where;
    size_t len;
    int rc;

    assert_int_equal(xf_reader_open(path, XF_FMT_AUTO, &rd), 0);
    while ((rc = xf_reader_next(rd, &d, &len, &where)) != 0) {
        if (rc < 0)
            continue;
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 1024;
            r->line = xf_realloc(r->line, r->cap * sizeof(*r->line));
            r->len = xf_realloc(r->len, r->cap * sizeof(*r->len));
            assert_non_null(r->line);
            assert_non_null(r->len);
        }
        r->line[r->n] = xf_strndup(d, len);
        r->len[r->n++] = len;
    }
    xf_reader_destroy(rd);
}

static void recs_free(struct recs *r)
{
    for (size_t i = 0; i < r->n; i++)
        xf_free(r->line[i]);
    xf_free(r->line);
    xf_free(r->len);
}

struct out {
    struct xf_buf all;
    size_t n;
};

static int collect(const struct xf_incident_view *v, void *ud)
{
    struct out *o = ud;
    xf_buf_append(&o->all, v->json, v->len);
    xf_buf_append(&o->all, "\n", 1);
    o->n++;
    return 0;
}

/* The matches of one event, gathered as an engine decode thread would. */
struct given {
    const struct xf_rule_info *a[64];
    size_t n;
};

static void give(const struct xf_rule_info *ri, void *ud)
{
    struct given *g = ud;
    if (g->n < 64)
        g->a[g->n++] = ri;
}

/* Correlates the records in the order given by idx (NULL: file order). given: match each
 * event outside the correlator and hand it the matches (xf_correlator_add_matched). */
static void correlate_as(const struct recs *r, const size_t *idx, int given, struct out *o)
{
    const char *rp[] = {xf_rules_default_dir()};
    struct xf_ruleset *rs = NULL;
    struct xf_correlator *c = NULL;
    struct xf_event ev;
    char err[256];

    assert_int_equal(xf_ruleset_load(rp, 1, &rs, NULL), 0);
    struct xf_correlate_opts opts = {.links_path = XF_TEST_LINKS, .rules = given ? NULL : rs};
    assert_int_equal(xf_correlator_create(&opts, &c), 0);
    xf_event_init(&ev);
    for (size_t i = 0; i < r->n; i++) {
        size_t k = idx ? idx[i] : i;
        if (xf_decode(XF_FMT_AUTO, r->line[k], r->len[k], &ev, NULL, err) != 0)
            continue;
        if (given) {
            struct given g = {.n = 0};
            xf_ruleset_match(rs, &ev, give, &g);
            assert_true(g.n < 64);
            assert_true(xf_correlator_add_matched(c, &ev, g.a, g.n) >= 0);
        } else {
            assert_true(xf_correlator_add(c, &ev) >= 0);
        }
        if (i % 500 == 499) {
            assert_int_equal(xf_correlator_flush(c, NULL, NULL, NULL), 0);
            assert_int_equal(xf_correlator_drain_edges(c, NULL, NULL), 0);
        }
    }
    assert_int_equal(xf_correlator_flush(c, NULL, NULL, NULL), 0);
    xf_buf_init(&o->all);
    o->n = 0;
    assert_int_equal(xf_correlator_incidents(c, collect, o), 0);
    xf_event_close(&ev);
    xf_correlator_destroy(c);
    xf_ruleset_destroy(rs);
}

static void correlate(const struct recs *r, const size_t *idx, struct out *o)
{
    correlate_as(r, idx, 0, o);
}

/* Does the incident list this event id on one of its nodes ("ecs:<id>" or "<id>")? */
static int has_event(json_t *inc, const char *id)
{
    size_t i, j;
    json_t *n, *v;

    json_array_foreach(json_object_get(inc, "nodes"), i, n)
    {
        json_array_foreach(json_object_get(n, "event_ids"), j, v)
        {
            const char *s = json_string_value(v);
            const char *colon = strchr(s, ':');
            if (strcmp(s, id) == 0 || (colon && strcmp(colon + 1, id) == 0))
                return 1;
        }
    }
    return 0;
}

static void test_emotet_outbreak_is_one_incident_with_every_attack_record(void **state)
{
    struct recs r = {0};
    struct out o;
    (void)state;

    recs_read(&r, XF_TEST_DATA "/emotet-outbreak.ecs.jsonl");
    correlate(&r, NULL, &o);
    assert_int_equal(o.n, 1);
    json_t *inc = json_loads(o.all.data, 0, NULL);
    json_t *exp = json_load_file(XF_TEST_DATA "/emotet-outbreak.expected.json", 0, NULL);
    assert_non_null(inc);
    assert_non_null(exp);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(exp, "must_include"), i, v)
    {
        if (!has_event(inc, json_string_value(v)))
            fail_msg("missing attack record %s", json_string_value(v));
    }
    json_array_foreach(json_object_get(exp, "attack_event_ids"), i, v)
        assert_true(has_event(inc, json_string_value(v)));
    json_array_foreach(json_object_get(exp, "benign_event_ids"), i, v)
    {
        if (has_event(inc, json_string_value(v)))
            fail_msg("background record %s in the incident", json_string_value(v));
    }
    char *hosts = json_dumps(json_object_get(inc, "hosts"), JSON_COMPACT);
    assert_string_equal(hosts, "[\"fs-01.corp.example\",\"ws-011.corp.example\","
                               "\"ws-012.corp.example\"]");
    char *stages = json_dumps(json_object_get(inc, "stages"), JSON_COMPACT);
    assert_string_equal(stages, "[\"delivery\",\"execution\",\"download\",\"c2\","
                                "\"lateral_movement\",\"spam\"]");
    assert_string_equal(json_string_value(json_object_get(inc, "severity")), "critical");
    free(hosts);
    free(stages);
    json_decref(inc);
    json_decref(exp);
    xf_buf_close(&o.all);
    recs_free(&r);
}

static void test_emotet_outbreak_json_does_not_depend_on_arrival_order(void **state)
{
    struct recs r = {0};
    struct out a, b;
    (void)state;

    recs_read(&r, XF_TEST_DATA "/emotet-outbreak.ecs.jsonl");
    /* Reverse every block of 200 records: out of order, but within the allowed lateness. */
    size_t *idx = xf_malloc(r.n * sizeof(*idx));
    assert_non_null(idx);
    for (size_t s = 0; s < r.n; s += 200) {
        size_t e = s + 200 < r.n ? s + 200 : r.n;
        for (size_t i = s; i < e; i++)
            idx[i] = e - 1 - (i - s);
    }
    correlate(&r, NULL, &a);
    correlate(&r, idx, &b);
    assert_string_equal(a.all.data, b.all.data);
    xf_free(idx);
    xf_buf_close(&a.all);
    xf_buf_close(&b.all);
    recs_free(&r);
}

static void test_matches_given_by_the_caller_make_the_same_incidents_as_the_ruleset(void **state)
{
    struct recs r = {0};
    struct out a, b;
    (void)state;

    recs_read(&r, XF_TEST_DATA "/emotet-outbreak.ecs.jsonl");
    correlate_as(&r, NULL, 0, &a);
    correlate_as(&r, NULL, 1, &b);
    assert_true(a.n > 0);
    assert_int_equal(a.n, b.n);
    assert_string_equal(a.all.data, b.all.data);
    xf_buf_close(&a.all);
    xf_buf_close(&b.all);
    recs_free(&r);
}

static void test_otrf_smbexec_is_one_incident_across_both_workstations(void **state)
{
    struct recs r = {0};
    struct out o;
    (void)state;

    recs_read(&r, XF_OTRF_DIR
              "/atomic_windows_lateral_movement_host_empire_smbexec_dcerpc_smb_svcctl.zip");
    correlate(&r, NULL, &o);
    assert_int_equal(o.n, 1);
    assert_non_null(strstr(o.all.data, "\"hosts\":[\"workstation5.theshire.local\","
                                       "\"workstation6.theshire.local\"]"));
    assert_non_null(strstr(o.all.data, "\"relation\":\"spawned\",\"key\":\"image path\""));
    assert_non_null(strstr(o.all.data, "\"relation\":\"lateral\",\"key\":\"ip\""));
    xf_buf_close(&o.all);
    recs_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emotet_outbreak_is_one_incident_with_every_attack_record),
        cmocka_unit_test(test_emotet_outbreak_json_does_not_depend_on_arrival_order),
        cmocka_unit_test(test_otrf_smbexec_is_one_incident_across_both_workstations),
        cmocka_unit_test(test_matches_given_by_the_caller_make_the_same_incidents_as_the_ruleset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
