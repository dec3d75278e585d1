/*
 * test_correlate.c - unit tests of the correlator: graph building, joins, closure incidents,
 * determinism, eviction and rendering. Events are built by hand; detections come from
 * third-party alert events (a detection by themselves), so no Sigma rule is needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "xf/correlate.h"

#define T0 1795251600000LL /* 2026-11-21T09:00:00Z */
#define SEC 1000LL
#define END (-1)

/* ---- helpers ------------------------------------------------------------------------------ */

struct evs {
    struct xf_event e[256];
    size_t n;
};

/* mk(list, category, id, time, field, value, ..., END) */
static struct xf_event *mk(struct evs *l, enum xf_category cat, const char *id, int64_t t, ...)
{
    struct xf_event *ev = &l->e[l->n++];
    va_list ap;
    int f;

    xf_event_init(ev);
    ev->category = cat;
    ev->time = t;
    xf_event_set_id(ev, id);
    va_start(ap, t);
    while ((f = va_arg(ap, int)) != END) {
        const char *v = va_arg(ap, const char *);
        if (xf_field_is_multi((enum xf_field)f))
            assert_int_equal(xf_event_add(ev, (enum xf_field)f, v, (size_t)-1), 0);
        else
            assert_int_equal(xf_event_set(ev, (enum xf_field)f, v, (size_t)-1), 0);
    }
    va_end(ap);
    return ev;
}

static void evs_free(struct evs *l)
{
    for (size_t i = 0; i < l->n; i++)
        xf_event_close(&l->e[i]);
    l->n = 0;
}

struct out {
    char *json[64];
    size_t n;
};

static int collect(const struct xf_incident_view *v, void *ud)
{
    struct out *o = ud;
    assert_true(o->n < 64);
    o->json[o->n++] = xf_strndup(v->json, v->len);
    return 0;
}

static void out_free(struct out *o)
{
    for (size_t i = 0; i < o->n; i++)
        xf_free(o->json[i]);
    o->n = 0;
}

static struct xf_correlator *mkcorr(size_t hub_cap)
{
    struct xf_correlate_opts o = {.links_path = XF_TEST_LINKS, .hub_cap = hub_cap};
    struct xf_correlator *c = NULL;
    assert_int_equal(xf_correlator_create(&o, &c), 0);
    return c;
}

/* Runs events in the given order and returns all incidents as one string. */
static char *run(struct xf_event **evs, size_t n, size_t hub_cap)
{
    struct xf_correlator *c = mkcorr(hub_cap);
    struct out o = {0};
    struct xf_buf b;

    for (size_t i = 0; i < n; i++)
        assert_true(xf_correlator_add(c, evs[i]) >= 0);
    assert_int_equal(xf_correlator_flush(c, NULL, NULL, NULL), 0);
    assert_int_equal(xf_correlator_incidents(c, collect, &o), 0);
    xf_buf_init(&b);
    for (size_t i = 0; i < o.n; i++) {
        xf_buf_appends(&b, o.json[i]);
        xf_buf_appends(&b, "\n");
    }
    out_free(&o);
    xf_correlator_destroy(c);
    if (!b.data)
        return xf_strdup("");
    return xf_buf_steal(&b, NULL);
}

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static struct xf_event *proc(struct evs *l, const char *id, int64_t t, const char *host,
                             const char *guid, const char *pguid, const char *image,
                             const char *pimage, const char *cmd, const char *user)
{
    return mk(l, XF_CAT_PROCESS, id, t, XF_F_HOST, host, XF_F_PROCESS_GUID, guid,
              XF_F_PARENT_PROCESS_GUID, pguid, XF_F_IMAGE, image, XF_F_PARENT_IMAGE, pimage,
              XF_F_COMMAND_LINE, cmd, XF_F_USER, user, END);
}

static struct xf_event *alert(struct evs *l, const char *id, int64_t t, const char *host,
                              const char *guid, const char *rule)
{
    return mk(l, XF_CAT_ALERT, id, t, XF_F_HOST, host, XF_F_PROCESS_GUID, guid, XF_F_ALERT_PRODUCT,
              "edr", XF_F_ALERT_RULE, rule, XF_F_ALERT_SEVERITY, "high", END);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_child_first_gives_same_json_as_parent_first(void **state)
{
    struct evs l = {0};
    (void)state;
    struct xf_event *a = proc(&l, "e1", T0, "ws1", "{AAAA}", "{EXPL}", "C:\\Windows\\explorer.exe",
                              "C:\\Windows\\userinit.exe", "explorer.exe", "CORP\\bob");
    struct xf_event *b =
        proc(&l, "e2", T0 + SEC, "ws1", "{BBBB}", "{AAAA}", "C:\\Windows\\System32\\cmd.exe",
             "C:\\Windows\\explorer.exe", "cmd.exe /c whoami", "CORP\\bob");
    struct xf_event *d =
        proc(&l, "e3", T0 + 2 * SEC, "ws1", "{CCCC}", "{BBBB}", "C:\\Windows\\System32\\whoami.exe",
             "C:\\Windows\\System32\\cmd.exe", "whoami", "CORP\\bob");
    struct xf_event *al = alert(&l, "e4", T0 + 3 * SEC, "ws1", "{CCCC}", "Recon");
    struct xf_event *fwd[] = {a, b, d, al};
    struct xf_event *rev[] = {al, d, b, a};
    char *x = run(fwd, 4, 0), *y = run(rev, 4, 0);

    assert_string_equal(x, y);
    assert_non_null(strstr(x, "\"label\":\"cmd.exe\""));
    assert_int_equal(count(x, "\"relation\":\"spawned\""), 3);
    xf_free(x);
    xf_free(y);
    evs_free(&l);
}

static void test_same_event_twice_is_counted_as_duplicate(void **state)
{
    struct evs l = {0};
    struct xf_correlate_stats st;
    (void)state;
    struct xf_event *a = proc(&l, "dup-1", T0, "ws1", "{AAAA}", "{PPPP}", "C:\\a.exe", "C:\\p.exe",
                              "a.exe", "CORP\\bob");
    struct xf_event *al = alert(&l, "dup-2", T0, "ws1", "{AAAA}", "Bad");
    struct xf_correlator *c = mkcorr(0);
    struct out o = {0};

    assert_int_equal(xf_correlator_add(c, a), 0);
    assert_int_equal(xf_correlator_add(c, a), 1);
    assert_int_equal(xf_correlator_add(c, al), 0);
    xf_correlator_get_stats(c, &st);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(st.events, 2);
    assert_int_equal(xf_correlator_incidents(c, collect, &o), 0);
    assert_int_equal(o.n, 1);
    assert_int_equal(count(o.json[0], "\"dup-1\""), 1);
    out_free(&o);
    xf_correlator_destroy(c);
    evs_free(&l);
}

static void test_hub_children_without_detection_stay_out(void **state)
{
    struct evs l = {0};
    struct xf_event *all[64];
    size_t n = 0;
    char id[32], guid[32];
    (void)state;

    all[n++] = proc(&l, "x0", T0, "ws1", "{EXPL}", "{USRI}", "C:\\Windows\\explorer.exe",
                    "C:\\Windows\\userinit.exe", "explorer.exe", "CORP\\bob");
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof(id), "c%02d", i);
        snprintf(guid, sizeof(guid), "{CH%02d}", i);
        all[n++] = proc(&l, id, T0 + (i + 1) * SEC, "ws1", guid, "{EXPL}", "C:\\app.exe",
                        "C:\\Windows\\explorer.exe", "app.exe", "CORP\\bob");
    }
    all[n++] = alert(&l, "al1", T0 + 30 * SEC, "ws1", "{CH03}", "Bad child");
    char *x = run(all, n, 10); /* cap 10: explorer with 21 links is a hub */

    assert_int_equal(count(x, "\n"), 1);
    assert_non_null(strstr(x, "\"c03\""));
    assert_null(strstr(x, "\"c04\""));
    assert_null(strstr(x, "\"c00\""));
    /* explorer is there as a leaf */
    assert_non_null(strstr(x, "\"label\":\"explorer.exe\""));
    xf_free(x);
    evs_free(&l);
}

static struct xf_event *wmi_events(struct evs *l, struct xf_event **all, int64_t gap)
{
    all[0] = proc(l, "w1", T0, "ws1", "{WORD}", "{EXPL}",
                  "C:\\Program Files\\Microsoft Office\\WINWORD.EXE", "C:\\Windows\\explorer.exe",
                  "WINWORD.EXE", "CORP\\bob");
    all[1] = proc(l, "w2", T0 + gap, "ws1", "{PSHL}", "{WMIP}",
                  "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                  "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe", "powershell -enc AAAA", "CORP\\bob");
    all[2] = alert(l, "w3", T0 + gap + SEC, "ws1", "{PSHL}", "Encoded PowerShell");
    return all[0];
}

static struct xf_event *wmi_case_events(struct evs *l, struct xf_event **all)
{
    return wmi_events(l, all, 20 * SEC);
}

static char *wmi_case(int64_t gap)
{
    struct evs l = {0};
    struct xf_event *all[4];
    wmi_events(&l, all, gap);
    char *x = run(all, 3, 0);
    evs_free(&l);
    return x;
}

static void test_wmi_break_links_office_to_shell_within_60s(void **state)
{
    (void)state;
    char *x = wmi_case(20 * SEC);
    assert_non_null(strstr(x, "\"relation\":\"spawned\",\"key\":\"wmi\",\"confidence\":0.6"));
    assert_non_null(strstr(x, "\"label\":\"WINWORD.EXE\""));
    assert_non_null(strstr(x, "T1047"));
    xf_free(x);
}

static void test_wmi_break_does_not_link_after_5_minutes(void **state)
{
    (void)state;
    char *x = wmi_case(300 * SEC);
    assert_null(strstr(x, "\"key\":\"wmi\""));
    assert_null(strstr(x, "WINWORD.EXE"));
    xf_free(x);
}

#define SHA_DOC "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static void test_mail_attachment_links_by_sha256_even_when_mail_arrives_last(void **state)
{
    struct evs l = {0};
    struct xf_event *all[5];
    (void)state;
    all[0] = mk(&l, XF_CAT_FILE, "f1", T0 + 60 * SEC, XF_F_HOST, "ws1", XF_F_PROCESS_GUID, "{OUTL}",
                XF_F_IMAGE, "C:\\outlook.exe", XF_F_TARGET_FILENAME, "C:\\Users\\bob\\Invoice.doc",
                XF_F_SHA256, SHA_DOC, XF_F_USER, "CORP\\bob", END);
    all[1] = proc(&l, "p1", T0 + 70 * SEC, "ws1", "{WORD}", "{EXPL}", "C:\\Office\\WINWORD.EXE",
                  "C:\\Windows\\explorer.exe", "WINWORD.EXE /n \"C:\\Users\\bob\\Invoice.doc\"",
                  "CORP\\bob");
    all[2] = alert(&l, "a1", T0 + 80 * SEC, "ws1", "{WORD}", "Macro");
    all[3] = mk(&l, XF_CAT_EMAIL, "m1", T0, XF_F_MESSAGE_ID, "<msg1@evil>", XF_F_SUBJECT, "Invoice",
                XF_F_RECIPIENT, "bob@corp.example", XF_F_ATTACHMENT_NAME, "Invoice.doc",
                XF_F_ATTACHMENT_SHA256, SHA_DOC, END);
    char *x = run(all, 4, 0);
    assert_non_null(strstr(x, "\"kind\":\"email\""));
    assert_non_null(strstr(x, "\"relation\":\"delivered\",\"key\":\"sha256\""));
    assert_non_null(strstr(x, "\"relation\":\"opened\""));
    assert_non_null(strstr(x, "\"stages\":[\"delivery\""));
    xf_free(x);
    evs_free(&l);
}

static void test_mail_attachment_links_by_name_when_no_hash(void **state)
{
    struct evs l = {0};
    struct xf_event *all[5];
    (void)state;
    all[0] = mk(&l, XF_CAT_FILE, "f1", T0 + 60 * SEC, XF_F_HOST, "ws1", XF_F_PROCESS_GUID, "{OUTL}",
                XF_F_IMAGE, "C:\\outlook.exe", XF_F_TARGET_FILENAME, "C:\\Users\\bob\\Invoice.doc",
                XF_F_USER, "CORP\\Bob", END);
    all[1] = proc(&l, "p1", T0 + 70 * SEC, "ws1", "{WORD}", "{EXPL}", "C:\\Office\\WINWORD.EXE",
                  "C:\\Windows\\explorer.exe", "WINWORD.EXE /n \"C:\\Users\\bob\\Invoice.doc\"",
                  "CORP\\bob");
    all[2] = alert(&l, "a1", T0 + 80 * SEC, "ws1", "{WORD}", "Macro");
    all[3] = mk(&l, XF_CAT_EMAIL, "m1", T0, XF_F_MESSAGE_ID, "<msg1@evil>", XF_F_SUBJECT, "Invoice",
                XF_F_RECIPIENT, "carol@corp.example", XF_F_RECIPIENT, "bob@corp.example",
                XF_F_ATTACHMENT_NAME, "invoice.DOC", END);
    struct xf_event *rev[] = {all[3], all[2], all[1], all[0]};
    char *x = run(all, 4, 0), *y = run(rev, 4, 0);
    assert_string_equal(x, y);
    assert_non_null(strstr(x, "\"relation\":\"delivered\",\"key\":\"file name\","
                              "\"confidence\":0.7"));
    xf_free(x);
    xf_free(y);
    evs_free(&l);
}

static void test_lateral_movement_makes_one_incident_across_hosts(void **state)
{
    struct evs l = {0};
    struct xf_event *all[8];
    size_t n = 0;
    (void)state;
    /* host B's own traffic teaches B's address */
    all[n++] = mk(&l, XF_CAT_NETWORK, "n0", T0, XF_F_HOST, "wsb.corp.example", XF_F_PROCESS_GUID,
                  "{BSVC}", XF_F_INITIATED, "true", XF_F_SOURCE_IP, "10.0.0.2", XF_F_DESTINATION_IP,
                  "10.0.0.9", XF_F_DESTINATION_PORT, "53", END);
    all[n++] =
        proc(&l, "a0", T0 + SEC, "wsa.corp.example", "{APSH}", "{AEXP}",
             "C:\\Windows\\powershell.exe", "C:\\Windows\\explorer.exe", "powershell", "CORP\\eve");
    all[n++] = alert(&l, "a1", T0 + 2 * SEC, "wsa.corp.example", "{APSH}", "Attack tool");
    all[n++] = mk(&l, XF_CAT_NETWORK, "n1", T0 + 10 * SEC, XF_F_HOST, "wsa.corp.example",
                  XF_F_PROCESS_GUID, "{APSH}", XF_F_INITIATED, "true", XF_F_SOURCE_IP, "10.0.0.1",
                  XF_F_DESTINATION_IP, "10.0.0.2", XF_F_DESTINATION_PORT, "445", END);
    all[n++] = mk(&l, XF_CAT_LOGON, "l1", T0 + 11 * SEC, XF_F_HOST, "wsb.corp.example",
                  XF_F_LOGON_TYPE, "3", XF_F_IP_ADDRESS, "10.0.0.1", XF_F_TARGET_USER_NAME, "eve",
                  XF_F_TARGET_LOGON_ID, "0x1234", END);
    all[n++] = mk(&l, XF_CAT_PROCESS, "b1", T0 + 12 * SEC, XF_F_HOST, "wsb.corp.example",
                  XF_F_PROCESS_GUID, "{BCMD}", XF_F_PARENT_PROCESS_GUID, "{BSRV}", XF_F_IMAGE,
                  "C:\\Windows\\System32\\cmd.exe", XF_F_PARENT_IMAGE,
                  "C:\\Windows\\System32\\services.exe", XF_F_COMMAND_LINE, "cmd /c x",
                  XF_F_LOGON_ID, "0x1234", XF_F_USER, "CORP\\eve", END);
    all[n++] = proc(&l, "b2", T0 + 13 * SEC, "wsb.corp.example", "{BCHD}", "{BCMD}",
                    "C:\\Windows\\System32\\whoami.exe", "C:\\Windows\\System32\\cmd.exe", "whoami",
                    "CORP\\eve");
    char *x = run(all, n, 0);
    assert_int_equal(count(x, "\n"), 1);
    assert_non_null(strstr(x, "\"hosts\":[\"wsa.corp.example\",\"wsb.corp.example\"]"));
    assert_non_null(strstr(x, "\"relation\":\"lateral\",\"key\":\"ip\",\"confidence\":0.9"));
    assert_non_null(strstr(x, "\"b2\""));
    assert_non_null(strstr(x, "lateral_movement"));
    /* any order gives the same answer */
    struct xf_event *rev[8];
    for (size_t i = 0; i < n; i++)
        rev[i] = all[n - 1 - i];
    char *y = run(rev, n, 0);
    if (strcmp(x, y))
        fprintf(stderr, "%s\n%s\n", x, y);
    assert_string_equal(x, y);
    xf_free(x);
    xf_free(y);
    evs_free(&l);
}

static void test_old_background_nodes_are_evicted(void **state)
{
    struct xf_correlator *c = mkcorr(0);
    struct xf_correlate_stats st;
    struct xf_event ev;
    char id[32], guid[48], pguid[48];
    uint64_t max_nodes = 0;
    (void)state;

    xf_event_init(&ev);
    for (int i = 0; i < 100000; i++) {
        xf_event_reset(&ev);
        ev.category = XF_CAT_PROCESS;
        ev.time = T0 + (int64_t)i * 500; /* 100k events over ~14 hours */
        snprintf(id, sizeof(id), "bg-%d", i);
        snprintf(guid, sizeof(guid), "{G%d}", i);
        snprintf(pguid, sizeof(pguid), "{G%d}", i - 1);
        xf_event_set_id(&ev, id);
        xf_event_set(&ev, XF_F_HOST, "ws1", (size_t)-1);
        xf_event_set(&ev, XF_F_PROCESS_GUID, guid, (size_t)-1);
        xf_event_set(&ev, XF_F_PARENT_PROCESS_GUID, pguid, (size_t)-1);
        xf_event_set(&ev, XF_F_IMAGE, "C:\\bg.exe", (size_t)-1);
        assert_int_equal(xf_correlator_add(c, &ev), 0);
        if (i % 1000 == 999) {
            assert_int_equal(xf_correlator_flush(c, NULL, NULL, NULL), 0);
            assert_int_equal(xf_correlator_drain_edges(c, NULL, NULL), 0);
            xf_correlator_get_stats(c, &st);
            if (st.nodes > max_nodes)
                max_nodes = st.nodes;
        }
    }
    xf_correlator_get_stats(c, &st);
    assert_true(st.evicted > 50000);
    /* about 2 h 10 min of background (retention + lateness) at 2 events/s, not 100k */
    assert_true(max_nodes < 20000);
    xf_event_close(&ev);
    xf_correlator_destroy(c);
}

/* ---- the eviction sweep's bookkeeping --------------------------------------------------------
 * With the bundled specs the retention is 2 h (longest window 1 h + 1 h) and the default
 * lateness 10 min. A sweep runs inside add when the watermark has moved 60 s since the last
 * one (and at the first event). Ticks are events every 10 s that name no entity, so the tick
 * at T0 + 10 s * k takes the watermark to T0 - 600 s + 10 s * k and sweeps when k % 6 == 0.
 * A node last named at t goes at the first sweep whose watermark - 2 h is past t. */

struct clock {
    struct xf_correlator *c;
    struct xf_event ev;
};

static void tick(struct clock *k, int i)
{
    char id[32];

    xf_event_reset(&k->ev);
    k->ev.category = XF_CAT_PROCESS;
    k->ev.time = T0 + (int64_t)i * 10 * SEC;
    snprintf(id, sizeof(id), "tick-%d", i);
    xf_event_set_id(&k->ev, id);
    xf_event_set(&k->ev, XF_F_HOST, "clock", (size_t)-1);
    assert_int_equal(xf_correlator_add(k->c, &k->ev), 0);
}

static uint64_t live_nodes(struct xf_correlator *c)
{
    struct xf_correlate_stats st;

    xf_correlator_get_stats(c, &st);
    return st.nodes;
}

/* Ticks from..to and returns the first tick after which the correlator holds `want` nodes. */
static int ticks_until_nodes(struct clock *k, int from, int to, uint64_t want)
{
    for (int i = from; i <= to; i++) {
        tick(k, i);
        if (live_nodes(k->c) == want)
            return i;
    }
    return -1;
}

static void test_untouched_node_is_evicted_at_the_sweep_past_its_retention(void **state)
{
    struct evs l = {0};
    struct clock k = {.c = mkcorr(0)};
    struct xf_correlate_stats st;
    (void)state;

    xf_event_init(&k.ev);
    mk(&l, XF_CAT_PROCESS, "a1", T0, XF_F_HOST, "ws1", XF_F_PROCESS_GUID, "{A}", END);
    assert_int_equal(xf_correlator_add(k.c, &l.e[0]), 0);
    assert_int_equal(live_nodes(k.c), 1);
    /* watermark - 2 h > T0 first at the sweep of watermark T0 - 600 s + 131 * 60 s: tick 786 */
    assert_int_equal(ticks_until_nodes(&k, 1, 785, 0), -1);
    assert_int_equal(live_nodes(k.c), 1);
    /* its id is still known one tick before, so the same event is a duplicate */
    assert_int_equal(xf_correlator_add(k.c, &l.e[0]), 1);
    tick(&k, 786);
    xf_correlator_get_stats(k.c, &st);
    assert_int_equal(st.nodes, 0);
    assert_int_equal(st.evicted, 1);
    /* the dedup id went with it: the same event builds the node again */
    assert_int_equal(xf_correlator_add(k.c, &l.e[0]), 0);
    assert_int_equal(live_nodes(k.c), 1);
    xf_event_close(&k.ev);
    xf_correlator_destroy(k.c);
    evs_free(&l);
}

/* What the engine's store relies on to skip its own lookup: an id the correlator does not know
 * is new, unless its time is older than what the dedup set still covers. */
static void test_seen_tells_known_new_and_too_old_to_tell(void **state)
{
    struct evs l = {0};
    struct clock k = {.c = mkcorr(0)};
    (void)state;

    xf_event_init(&k.ev);
    mk(&l, XF_CAT_PROCESS, "a1", T0, XF_F_HOST, "ws1", XF_F_PROCESS_GUID, "{A}", END);
    mk(&l, XF_CAT_PROCESS, "a1", T0 + SEC, XF_F_HOST, "ws1", XF_F_PROCESS_GUID, "{A}", END);
    mk(&l, XF_CAT_PROCESS, "b1", T0, XF_F_HOST, "ws1", XF_F_PROCESS_GUID, "{B}", END);
    assert_int_equal(xf_correlator_seen(k.c, &l.e[2]), 0);
    assert_int_equal(xf_correlator_add(k.c, &l.e[0]), 0);
    assert_int_equal(xf_correlator_seen(k.c, &l.e[0]), 1);
    assert_int_equal(xf_correlator_seen(k.c, &l.e[1]), 1); /* same id, another time */
    assert_int_equal(xf_correlator_seen(k.c, &l.e[2]), 0);
    /* the sweep at tick 786 forgets ids from before T0 + 10 s * 786 - 600 s - 2 h */
    assert_int_equal(ticks_until_nodes(&k, 1, 786, 0), 786);
    assert_int_equal(xf_correlator_seen(k.c, &l.e[0]), -1);
    assert_int_equal(xf_correlator_seen(k.c, &l.e[2]), -1);
    assert_int_equal(xf_correlator_seen(k.c, &k.ev), 1); /* the last tick */
    k.ev.time += SEC;
    xf_event_set_id(&k.ev, "new-after-the-sweep");
    assert_int_equal(xf_correlator_seen(k.c, &k.ev), 0);
    xf_event_close(&k.ev);
    xf_correlator_destroy(k.c);
    evs_free(&l);
}

static void test_node_touched_after_its_bucket_was_swept_survives(void **state)
{
    struct evs l = {0};
    struct clock k = {.c = mkcorr(0)};
    (void)state;

    xf_event_init(&k.ev);
    mk(&l, XF_CAT_PROCESS, "a1", T0, XF_F_HOST, "ws1", XF_F_PROCESS_GUID, "{A}", END);
    mk(&l, XF_CAT_PROCESS, "a2", T0 + 1800 * SEC, XF_F_HOST, "ws1", XF_F_PROCESS_GUID, "{A}", END);
    mk(&l, XF_CAT_PROCESS, "a3", T0 + 9000 * SEC, XF_F_HOST, "ws1", XF_F_PROCESS_GUID, "{A}", END);
    assert_int_equal(xf_correlator_add(k.c, &l.e[0]), 0);
    assert_int_equal(ticks_until_nodes(&k, 1, 179, 0), -1);
    assert_int_equal(xf_correlator_add(k.c, &l.e[1]), 0); /* named again at T0 + 30 min */
    /* tick 786 sweeps the time A was first queued under; named since, it stays */
    assert_int_equal(ticks_until_nodes(&k, 180, 899, 0), -1);
    /* named again at T0 + 2.5 h, after that sweep moved it; the sweep at tick 966 (which
     * would have evicted it as last named at T0 + 30 min) keeps it too */
    assert_int_equal(xf_correlator_add(k.c, &l.e[2]), 0);
    assert_int_equal(live_nodes(k.c), 1);
    /* watermark - 2 h > T0 + 9000 s first at the sweep of tick 1686 */
    assert_int_equal(ticks_until_nodes(&k, 900, 2000, 0), 1686);
    xf_event_close(&k.ev);
    xf_correlator_destroy(k.c);
    evs_free(&l);
}

/* ---- one watermark over several sources (Kafka partitions) ------------------------------ */

static xf_time_t watermark(struct xf_correlator *c)
{
    struct xf_correlate_stats st;

    xf_correlator_get_stats(c, &st);
    return st.watermark;
}

static void add_tick_from(struct xf_correlator *c, struct xf_event *ev, uint64_t src, int i,
                          xf_time_t t)
{
    char id[32];

    xf_event_reset(ev);
    ev->category = XF_CAT_PROCESS;
    ev->time = t;
    snprintf(id, sizeof(id), "s%llu-%d", (unsigned long long)src, i);
    xf_event_set_id(ev, id);
    xf_event_set(ev, XF_F_HOST, "clock", (size_t)-1);
    assert_int_equal(xf_correlator_add_from(c, ev, src), 0);
}

static uint64_t active_sources(struct xf_correlator *c)
{
    struct xf_correlate_stats st;

    xf_correlator_get_stats(c, &st);
    return st.sources_active;
}

static void test_watermark_follows_the_slowest_source_until_it_goes_idle(void **state)
{
    /* idle after 5,000 events from others (the watermark is recomputed every 4,096); a skew
     * cap wider than the 3 h between the sources */
    struct xf_correlate_opts o = {
        .links_path = XF_TEST_LINKS, .source_idle_events = 5000, .max_skew_ms = 24 * 3600 * SEC};
    struct xf_correlator *c = NULL;
    struct xf_event ev;
    const xf_time_t late = 600 * SEC, ahead = T0 + 3 * 3600 * SEC;
    int i;
    (void)state;

    assert_int_equal(xf_correlator_create(&o, &c), 0);
    xf_event_init(&ev);
    add_tick_from(c, &ev, 1, 0, ahead);
    assert_true(watermark(c) == ahead - late);
    add_tick_from(c, &ev, 2, 0, T0); /* a partition with a backlog joins */
    assert_true(watermark(c) == T0 - late);
    assert_int_equal(active_sources(c), 2);
    /* 4,500 events of the other source: past a recomputation, within the idle span */
    for (i = 1; i <= 4500; i++)
        add_tick_from(c, &ev, 1, i, ahead + i * SEC);
    assert_true(watermark(c) == T0 - late);
    assert_int_equal(active_sources(c), 2);
    /* past 5,000: idle from the next recomputation on, and the watermark follows source 1 */
    for (; i < 9000; i++)
        add_tick_from(c, &ev, 1, i, ahead + i * SEC);
    assert_int_equal(active_sources(c), 1);
    assert_true(watermark(c) == ahead + 8999 * SEC - late);
    add_tick_from(c, &ev, 2, 1, T0 + 60 * SEC); /* back: holds the watermark again */
    assert_true(watermark(c) == T0 + 60 * SEC - late);
    assert_int_equal(active_sources(c), 2);
    add_tick_from(c, &ev, 2, 2, T0 + 120 * SEC);
    assert_true(watermark(c) == T0 + 120 * SEC - late);
    xf_event_close(&ev);
    xf_correlator_destroy(c);
}

/* A source further behind than max_skew_ms holds the watermark only that far behind the
 * newest time seen; the cap follows the newest time, and lets go once the source catches up. */
static void test_a_source_far_behind_holds_the_watermark_only_up_to_the_skew_cap(void **state)
{
    struct xf_correlate_opts o = {.links_path = XF_TEST_LINKS, .max_skew_ms = 3600 * SEC};
    struct xf_correlator *c = NULL;
    struct xf_event ev;
    const xf_time_t late = 600 * SEC, ahead = T0 + 3 * 3600 * SEC;
    (void)state;

    assert_int_equal(xf_correlator_create(&o, &c), 0);
    xf_event_init(&ev);
    add_tick_from(c, &ev, 1, 0, ahead);
    add_tick_from(c, &ev, 2, 0, T0); /* 3 h behind: held 1 h behind the newest time */
    assert_true(watermark(c) == ahead - 3600 * SEC - late);
    add_tick_from(c, &ev, 1, 1, ahead + 10 * SEC); /* the cap moves with the newest time */
    assert_true(watermark(c) == ahead + 10 * SEC - 3600 * SEC - late);
    add_tick_from(c, &ev, 2, 1, T0 + 9000 * SEC); /* within the hour now: holds it itself */
    assert_true(watermark(c) == T0 + 9000 * SEC - late);
    xf_event_close(&ev);
    xf_correlator_destroy(c);
}

/* A parent process seen on a partition that then falls 3 h behind another (a backlog after a
 * restart), and an alert on its child: the incident still holds the parent's own event,
 * because that partition holds the watermark back. Through one source (the old global
 * watermark) the parent was evicted before the child came, and the incident only knows the
 * parent by the child's naming of it. */
static int parent_event_kept_after_backlog(int per_partition)
{
    struct xf_correlator *c = mkcorr(0);
    struct evs l = {0};
    struct xf_event ev;
    struct out o = {0};
    uint64_t slow = per_partition ? 2 : 0, fast = per_partition ? 1 : 0;
    int kept;

    xf_event_init(&ev);
    proc(&l, "parent-ev", T0, "ws2", "{P}", "{X}", "C:\\p.exe", "C:\\x.exe", "p", "u");
    proc(&l, "child-ev", T0 + 300 * SEC, "ws2", "{C}", "{P}", "C:\\c.exe", "C:\\p.exe", "c", "u");
    alert(&l, "alert-ev", T0 + 301 * SEC, "ws2", "{C}", "Bad child");
    assert_int_equal(xf_correlator_add_from(c, &l.e[0], slow), 0);
    for (int i = 0; i < 1100; i++) /* the other partition: 3 h of ticks */
        add_tick_from(c, &ev, fast, i, T0 + (xf_time_t)i * 10 * SEC);
    assert_int_equal(xf_correlator_add_from(c, &l.e[1], slow), 0);
    assert_int_equal(xf_correlator_add_from(c, &l.e[2], slow), 0);
    assert_int_equal(xf_correlator_flush(c, NULL, NULL, NULL), 0);
    assert_int_equal(xf_correlator_incidents(c, collect, &o), 0);
    assert_int_equal(o.n, 1);
    assert_non_null(strstr(o.json[0], "\"child-ev\""));
    kept = strstr(o.json[0], "\"parent-ev\"") != NULL;
    out_free(&o);
    xf_event_close(&ev);
    evs_free(&l);
    xf_correlator_destroy(c);
    return kept;
}

static void test_a_partition_behind_the_others_keeps_its_joins(void **state)
{
    (void)state;
    assert_false(parent_event_kept_after_backlog(0));
    assert_true(parent_event_kept_after_backlog(1));
}

static void test_join_entries_are_dropped_at_the_sweep_past_their_window(void **state)
{
    struct evs l = {0};
    struct clock k = {.c = mkcorr(0)};
    struct xf_correlate_stats st;
    int gone_old = -1, gone_new = -1;
    (void)state;

    xf_event_init(&k.ev);
    /* two Office starts with the same wmi_break key (host, user), the later one first: the
     * list is queued under the first entry, then earlier under the older one */
    proc(&l, "w1", T0 + 300 * SEC, "ws1", "{W1}", "{E}", "C:\\Office\\WINWORD.EXE",
         "C:\\Windows\\explorer.exe", "winword", "CORP\\bob");
    proc(&l, "w2", T0, "ws1", "{W2}", "{E}", "C:\\Office\\WINWORD.EXE", "C:\\Windows\\explorer.exe",
         "winword", "CORP\\bob");
    assert_int_equal(xf_correlator_add(k.c, &l.e[0]), 0);
    assert_int_equal(xf_correlator_add(k.c, &l.e[1]), 0);
    xf_correlator_get_stats(k.c, &st);
    assert_int_equal(st.pending, 2);
    for (int i = 31; i <= 200 && gone_new < 0; i++) {
        tick(&k, i);
        xf_correlator_get_stats(k.c, &st);
        if (st.pending == 1 && gone_old < 0)
            gone_old = i;
        if (st.pending == 0)
            gone_new = i;
    }
    /* an entry at t goes at the first sweep with watermark - 60 s > t: ticks from 31 on take
     * the watermark to T0 - 600 s + 10 s * k, sweeping at k % 6 == 0 (the adds above swept
     * at T0 - 300 s; 36 is the next). T0: k = 72; T0 + 300 s: k = 102. */
    assert_int_equal(gone_old, 72);
    assert_int_equal(gone_new, 102);
    xf_event_close(&k.ev);
    xf_correlator_destroy(k.c);
    evs_free(&l);
}

static const char golden[] =
    "{\"id\":\"inc-@ID@\",\"tenant\":\"default\",\"severity\":\"high\",\"score\":70,"
    "\"first_seen\":\"2026-11-21T09:00:00Z\",\"last_seen\":\"2026-11-21T09:00:02Z\","
    "\"hosts\":[\"ws1.corp.example\"],\"users\":[\"CORP\\\\bob\"],\"techniques\":[],"
    "\"stages\":[\"execution\"],"
    "\"alerts\":[{\"rule_id\":\"edr:Bad\",\"title\":\"Bad\",\"level\":\"high\","
    "\"event_id\":\"g3\"}],"
    "\"nodes\":["
    "{\"id\":\"n1\",\"kind\":\"process\",\"entity\":\"pppp\",\"host\":\"ws1.corp.example\","
    "\"label\":\"cmd.exe\",\"time\":\"2026-11-21T09:00:00.000Z\",\"event_ids\":[\"g1\"]},"
    "{\"id\":\"n2\",\"kind\":\"process\",\"entity\":\"cccc\",\"host\":\"ws1.corp.example\","
    "\"label\":\"evil.exe\",\"time\":\"2026-11-21T09:00:01.000Z\",\"event_ids\":[\"g2\"]},"
    "{\"id\":\"n3\",\"kind\":\"alert\",\"entity\":\"g3\",\"host\":\"ws1.corp.example\","
    "\"label\":\"Bad\",\"time\":\"2026-11-21T09:00:02.000Z\",\"event_ids\":[\"g3\"]}],"
    "\"edges\":["
    "{\"from\":\"n1\",\"to\":\"n2\",\"relation\":\"spawned\",\"key\":\"guid\","
    "\"confidence\":1.0},"
    "{\"from\":\"n3\",\"to\":\"n2\",\"relation\":\"alerted\",\"key\":\"guid\","
    "\"confidence\":1.0}],"
    "\"actions\":[]}\n";

static void test_incident_json_has_documented_keys_and_content(void **state)
{
    struct evs l = {0};
    struct xf_event *all[3];
    char idhex[17], want[sizeof(golden) + 16];
    (void)state;
    all[0] =
        mk(&l, XF_CAT_PROCESS, "g1", T0, XF_F_HOST, "ws1.corp.example", XF_F_PROCESS_GUID, "{PPPP}",
           XF_F_IMAGE, "C:\\Windows\\System32\\cmd.exe", XF_F_USER, "CORP\\bob", END);
    all[1] = proc(&l, "g2", T0 + SEC, "ws1.corp.example", "{CCCC}", "{PPPP}", "C:\\t\\evil.exe",
                  "C:\\Windows\\System32\\cmd.exe", "evil.exe", "CORP\\bob");
    all[2] = alert(&l, "g3", T0 + 2 * SEC, "ws1.corp.example", "{CCCC}", "Bad");
    char *x = run(all, 3, 0);
    snprintf(idhex, sizeof(idhex), "%016llx", (unsigned long long)xf_hash64("g3", 2));
    const char *at = strstr(golden, "@ID@");
    snprintf(want, sizeof(want), "%.*s%s%s", (int)(at - golden), golden, idhex, at + 4);
    assert_string_equal(x, want);
    xf_free(x);
    evs_free(&l);
}

static void test_render_text_explains_each_link(void **state)
{
    struct evs l = {0};
    struct xf_event *all[3];
    struct xf_buf b;
    (void)state;
    wmi_case_events(&l, all);
    char *x = run(all, 3, 0);
    xf_buf_init(&b);
    assert_int_equal(xf_incident_render_text(x, strlen(x), &b), 0);
    assert_non_null(strstr(b.data, "incident inc-"));
    assert_non_null(strstr(b.data, "timeline:\n"));
    assert_non_null(strstr(b.data, "09:00:20 ws1                      process  powershell.exe\n"
                                   "           <- spawned from WINWORD.EXE (wmi, 0.60)\n"));
    xf_buf_reset(&b);
    assert_int_equal(xf_incident_render_dot(x, strlen(x), &b), 0);
    assert_non_null(strstr(b.data, "\"n2\" -> \"n3\" [label=\"spawned (0.60)\"];"));
    assert_int_equal(xf_incident_render_text("[1]", 3, &b), XF_EPARSE);
    xf_buf_close(&b);
    xf_free(x);
    evs_free(&l);
}

static void test_mailed_url_links_to_the_recipient_process_that_resolves_it(void **state)
{
    struct evs l = {0};
    struct xf_event *all[5];
    (void)state;
    all[0] = mk(&l, XF_CAT_EMAIL, "u1", T0, XF_F_MESSAGE_ID, "<m2@evil>", XF_F_SUBJECT, "Doc",
                XF_F_RECIPIENT, "Bob@corp.example", XF_F_URL, "https://Bad.Example/x.zip", END);
    all[1] = proc(&l, "u2", T0 + 60 * SEC, "ws1", "{EDGE}", "{EXPL}", "C:\\msedge.exe",
                  "C:\\Windows\\explorer.exe", "msedge.exe", "CORP\\bob");
    /* the DNS record has no user: it comes from the process */
    all[2] = mk(&l, XF_CAT_DNS, "u3", T0 + 61 * SEC, XF_F_HOST, "ws1", XF_F_PROCESS_GUID, "{EDGE}",
                XF_F_QUERY_NAME, "bad.example", END);
    all[3] = alert(&l, "u4", T0 + 70 * SEC, "ws1", "{EDGE}", "Download");
    /* another user's lookup of the same host does not link */
    all[4] = mk(&l, XF_CAT_DNS, "u5", T0 + 62 * SEC, XF_F_HOST, "ws2", XF_F_PROCESS_GUID, "{OTHR}",
                XF_F_QUERY_NAME, "bad.example", XF_F_USER, "CORP\\eve", END);
    char *x = run(all, 5, 0);
    assert_int_equal(count(x, "\n"), 1);
    assert_non_null(strstr(x, "\"relation\":\"clicked\",\"key\":\"url host\","
                              "\"confidence\":0.7"));
    assert_non_null(strstr(x, "\"u1\""));
    assert_null(strstr(x, "\"u5\""));
    assert_non_null(strstr(x, "T1566.002"));
    xf_free(x);
    evs_free(&l);
}

struct flush_log {
    size_t changed, gone;
    char gone_id[32];
};

static int on_changed(const struct xf_incident_view *v, void *ud)
{
    (void)v;
    ((struct flush_log *)ud)->changed++;
    return 0;
}

static int on_gone(const struct xf_incident_view *v, void *ud)
{
    struct flush_log *f = ud;
    f->gone++;
    snprintf(f->gone_id, sizeof(f->gone_id), "%s", v->id);
    return 0;
}

static void test_flush_reports_the_id_that_disappears_when_two_incidents_merge(void **state)
{
    struct evs l = {0};
    struct xf_correlator *c = mkcorr(0);
    struct flush_log f = {0};
    struct out o = {0};
    char late_id[32];
    (void)state;

    /* two detections on two processes whose link is not known yet */
    proc(&l, "m1", T0, "ws1", "{PARENT}", "{X}", "C:\\a.exe", "C:\\x.exe", "a", "CORP\\bob");
    alert(&l, "m2", T0 + SEC, "ws1", "{PARENT}", "First");
    alert(&l, "m3", T0 + 5 * SEC, "ws1", "{CHILD}", "Second");
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(xf_correlator_add(c, &l.e[i]), 0);
    assert_int_equal(xf_correlator_flush(c, on_changed, on_gone, &f), 0);
    assert_int_equal(f.changed, 2);
    assert_int_equal(f.gone, 0);
    /* nothing new: nothing reported */
    assert_int_equal(xf_correlator_flush(c, on_changed, on_gone, &f), 0);
    assert_int_equal(f.changed, 2);
    /* the child's start event links them: one incident, the later one's id is gone */
    proc(&l, "m4", T0 + 2 * SEC, "ws1", "{CHILD}", "{PARENT}", "C:\\b.exe", "C:\\a.exe", "b",
         "CORP\\bob");
    assert_int_equal(xf_correlator_add(c, &l.e[3]), 0);
    assert_int_equal(xf_correlator_flush(c, on_changed, on_gone, &f), 0);
    assert_int_equal(f.changed, 3);
    assert_int_equal(f.gone, 1);
    snprintf(late_id, sizeof(late_id), "inc-%016llx", (unsigned long long)xf_hash64("m3", 2));
    assert_string_equal(f.gone_id, late_id);
    assert_int_equal(xf_correlator_incidents(c, collect, &o), 0);
    assert_int_equal(o.n, 1);
    out_free(&o);
    xf_correlator_destroy(c);
    evs_free(&l);
}

static void test_idle_incident_is_closed_but_still_listed(void **state)
{
    struct evs l = {0};
    struct xf_correlate_opts opts = {.links_path = XF_TEST_LINKS, .incident_idle_ms = 3600 * SEC};
    struct xf_correlator *c = NULL;
    struct xf_correlate_stats st;
    struct out o = {0};
    (void)state;

    assert_int_equal(xf_correlator_create(&opts, &c), 0);
    proc(&l, "i1", T0, "ws1", "{A}", "{X}", "C:\\a.exe", "C:\\x.exe", "a", "CORP\\bob");
    alert(&l, "i2", T0 + SEC, "ws1", "{A}", "Bad");
    /* background six hours later moves the watermark past the idle time */
    proc(&l, "i3", T0 + 6 * 3600 * SEC, "ws2", "{B}", "{Y}", "C:\\b.exe", "C:\\y.exe", "b",
         "CORP\\eve");
    assert_int_equal(xf_correlator_add(c, &l.e[0]), 0);
    assert_int_equal(xf_correlator_add(c, &l.e[1]), 0);
    assert_int_equal(xf_correlator_flush(c, NULL, NULL, NULL), 0);
    assert_int_equal(xf_correlator_add(c, &l.e[2]), 0);
    assert_int_equal(xf_correlator_flush(c, NULL, NULL, NULL), 0);
    /* an event for the closed incident's process no longer reopens it */
    alert(&l, "i4", T0 + 6 * 3600 * SEC, "ws1", "{A}", "Bad again");
    assert_int_equal(xf_correlator_add(c, &l.e[3]), 0);
    assert_int_equal(xf_correlator_flush(c, NULL, NULL, NULL), 0);
    assert_int_equal(xf_correlator_incidents(c, collect, &o), 0);
    assert_int_equal(o.n, 2);
    assert_non_null(strstr(o.json[0], "\"event_id\":\"i2\""));
    assert_null(strstr(o.json[0], "\"i4\""));
    xf_correlator_get_stats(c, &st);
    assert_int_equal(st.incidents, 2);
    out_free(&o);
    xf_correlator_destroy(c);
    evs_free(&l);
}

static void test_bad_join_spec_fails_to_load(void **state)
{
    static const char *const bad[] = {
        "version: 1\ndirect:\n  - {name: x, category: process, relation: r, key: k,\n"
        "     from: {kind: proc, value: NoSuchField}, to: {kind: proc, value: ProcessGuid}}\n",
        "version: 1\nnodes:\n  - {name: x, category: nope, node: {kind: proc, value: Image}}\n",
        "version: 2\n",
        "version: 1\nwindowed:\n  - {name: w, window: soon, relation: r, key: k}\n",
        "version: 1\nnodes: [\n",
        "version: 1\ndirect:\n  - {name: x, category: process, relation: r, key: k,\n"
        "     from: {kind: proc, value: basename(Image}, to: {kind: proc, value: Image}}\n",
    };
    char path[] = "/tmp/xf-links-XXXXXX";
    (void)state;

    for (size_t i = 0; i < XF_ARRAY_LEN(bad); i++) {
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        FILE *f = fdopen(fd, "w");
        fputs(bad[i], f);
        fclose(f);
        struct xf_correlate_opts o = {.links_path = path};
        struct xf_correlator *c = NULL;
        assert_int_equal(xf_correlator_create(&o, &c), XF_ECONFIG);
        assert_null(c);
        unlink(path);
        memcpy(path + strlen(path) - 6, "XXXXXX", 6);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_child_first_gives_same_json_as_parent_first),
        cmocka_unit_test(test_same_event_twice_is_counted_as_duplicate),
        cmocka_unit_test(test_hub_children_without_detection_stay_out),
        cmocka_unit_test(test_wmi_break_links_office_to_shell_within_60s),
        cmocka_unit_test(test_wmi_break_does_not_link_after_5_minutes),
        cmocka_unit_test(test_mail_attachment_links_by_sha256_even_when_mail_arrives_last),
        cmocka_unit_test(test_mail_attachment_links_by_name_when_no_hash),
        cmocka_unit_test(test_lateral_movement_makes_one_incident_across_hosts),
        cmocka_unit_test(test_old_background_nodes_are_evicted),
        cmocka_unit_test(test_untouched_node_is_evicted_at_the_sweep_past_its_retention),
        cmocka_unit_test(test_seen_tells_known_new_and_too_old_to_tell),
        cmocka_unit_test(test_watermark_follows_the_slowest_source_until_it_goes_idle),
        cmocka_unit_test(test_a_partition_behind_the_others_keeps_its_joins),
        cmocka_unit_test(test_a_source_far_behind_holds_the_watermark_only_up_to_the_skew_cap),
        cmocka_unit_test(test_node_touched_after_its_bucket_was_swept_survives),
        cmocka_unit_test(test_join_entries_are_dropped_at_the_sweep_past_their_window),
        cmocka_unit_test(test_incident_json_has_documented_keys_and_content),
        cmocka_unit_test(test_render_text_explains_each_link),
        cmocka_unit_test(test_mailed_url_links_to_the_recipient_process_that_resolves_it),
        cmocka_unit_test(test_flush_reports_the_id_that_disappears_when_two_incidents_merge),
        cmocka_unit_test(test_idle_incident_is_closed_but_still_listed),
        cmocka_unit_test(test_bad_join_spec_fails_to_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
