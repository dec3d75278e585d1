/*
 * test_store.c - unit tests of the RocksDB store (store/src/store.c).
 *
 * Each test makes its own database under a fresh mkdtemp directory and removes it at the end,
 * so tests are independent and can run in parallel. The torture test fails our allocations
 * one by one (RocksDB's own are not ours) and relies on ASan to catch leaks.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <rocksdb/c.h> /* only to fake a database from an older release */

#include "xf/store.h"

/* ---- fixtures ----------------------------------------------------------------------------- */

struct fx {
    char dir[256];
    char db[300];
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR");

    if (!fx)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "%s/xf-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    snprintf(fx->db, sizeof fx->db, "%s/db", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

static void make_event(struct xf_event *ev, const char *id, xf_time_t t, const char *cmd)
{
    xf_event_reset(ev);
    ev->category = XF_CAT_PROCESS;
    ev->time = t;
    xf_event_set_id(ev, id);
    assert_int_equal(xf_event_set(ev, XF_F_IMAGE, "C:\\Windows\\System32\\cmd.exe", (size_t)-1), 0);
    assert_int_equal(xf_event_set(ev, XF_F_COMMAND_LINE, cmd, (size_t)-1), 0);
}

static void put_events(struct xf_store *st, const char *const *ids, const xf_time_t *times,
                       size_t n)
{
    struct xf_store_batch *b = NULL;
    struct xf_event ev;

    xf_event_init(&ev);
    assert_int_equal(xf_store_batch_create(&b), 0);
    for (size_t i = 0; i < n; i++) {
        make_event(&ev, ids[i], times[i], ids[i]);
        assert_int_equal(xf_store_batch_put_event(b, &ev), 0);
    }
    assert_int_equal(xf_store_batch_commit(st, b), 0);
    assert_int_equal(xf_store_batch_count(b), 0);
    xf_store_batch_destroy(b);
    xf_event_close(&ev);
}

#define MAX_SEEN 32
struct seen {
    size_t n;
    char id[MAX_SEEN][XF_EVENT_ID_MAX];
    xf_time_t time[MAX_SEEN];
    char cmd[MAX_SEEN][128];
};

static int collect_event(const struct xf_event *ev, void *ud)
{
    struct seen *s = ud;
    const char *cmd = xf_event_get(ev, XF_F_COMMAND_LINE);

    assert_true(s->n < MAX_SEEN);
    snprintf(s->id[s->n], sizeof s->id[0], "%s", ev->id);
    snprintf(s->cmd[s->n], sizeof s->cmd[0], "%s", cmd ? cmd : "");
    s->time[s->n] = ev->time;
    s->n++;
    return 0;
}

static void scan_events(struct xf_store *st, struct seen *s)
{
    memset(s, 0, sizeof *s);
    assert_int_equal(xf_store_events_scan(st, collect_event, s), 0);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_reopen_keeps_committed_events(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    const char *ids[] = {"rec-1", "rec-2", "rec-3"};
    const xf_time_t times[] = {1000, 2000, 3000};
    struct seen s;

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    put_events(st, ids, times, 3);
    xf_store_close(st);
    st = NULL;

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    scan_events(st, &s);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.id[0], "rec-1");
    assert_string_equal(s.id[1], "rec-2");
    assert_string_equal(s.id[2], "rec-3");
    assert_string_equal(s.cmd[1], "rec-2");
    assert_int_equal(s.time[2], 3000);
    xf_store_close(st);
}

static void test_events_scan_is_in_arrival_order_across_reopens(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    const char *ids1[] = {"late", "early", "neg"};
    const xf_time_t t1[] = {1600000005000, 1600000001000, -5};
    const char *ids2[] = {"middle", "second"};
    const xf_time_t t2[] = {1600000003000, 1600000002000};
    struct seen s;

    /* Recovery re-feeds the correlator in exactly the order events first arrived, so the
     * rebuilt state equals the state before the crash, eviction included. */
    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    put_events(st, ids1, t1, 3);
    xf_store_close(st);
    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    put_events(st, ids2, t2, 2);
    scan_events(st, &s);
    assert_int_equal(s.n, 5);
    assert_string_equal(s.id[0], "late");
    assert_string_equal(s.id[1], "early");
    assert_string_equal(s.id[2], "neg");
    assert_int_equal(s.time[2], -5);
    assert_string_equal(s.id[3], "middle");
    assert_string_equal(s.id[4], "second");
    xf_store_close(st);
}

static void test_exists_is_true_only_for_the_stored_time_and_id(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    const char *ids[] = {"rec-7"};
    const xf_time_t times[] = {7000};
    struct xf_event ev;
    struct xf_store_stats stats;

    xf_event_init(&ev);
    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    put_events(st, ids, times, 1);

    make_event(&ev, "rec-7", 7000, "other content, same record");
    assert_int_equal(xf_store_event_exists(st, &ev), 1);
    make_event(&ev, "rec-8", 7000, "x");
    assert_int_equal(xf_store_event_exists(st, &ev), 0);
    make_event(&ev, "rec-7", 7001, "x");
    assert_int_equal(xf_store_event_exists(st, &ev), 0);

    xf_store_get_stats(st, &stats);
    assert_int_equal(stats.duplicates, 1);
    assert_int_equal(stats.events_written, 1);

    /* Still true after the memtable went to an SST file at close. */
    xf_store_close(st);
    st = NULL;
    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    make_event(&ev, "rec-7", 7000, "x");
    assert_int_equal(xf_store_event_exists(st, &ev), 1);
    make_event(&ev, "rec-9", 7000, "x");
    assert_int_equal(xf_store_event_exists(st, &ev), 0);
    xf_store_close(st);
    xf_event_close(&ev);
}

/* The commit adds a batch's ids rows in key order (time first) while the events keep their
 * arrival order: both must hold for a batch whose times go back and forth. */
static void test_a_batch_out_of_time_order_keeps_arrival_order_and_every_id(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    const xf_time_t times[] = {9000, 1000, 5000, 1000, 7000, 3000, 9000, 2000};
    const char *ids[] = {"e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7"};
    struct xf_event ev;
    struct seen s;

    xf_event_init(&ev);
    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    put_events(st, ids, times, XF_ARRAY_LEN(ids));
    for (size_t i = 0; i < XF_ARRAY_LEN(ids); i++) {
        make_event(&ev, ids[i], times[i], "x");
        assert_int_equal(xf_store_event_exists(st, &ev), 1);
        make_event(&ev, ids[i], times[i] + 1, "x");
        assert_int_equal(xf_store_event_exists(st, &ev), 0);
    }
    scan_events(st, &s);
    assert_int_equal(s.n, XF_ARRAY_LEN(ids));
    for (size_t i = 0; i < XF_ARRAY_LEN(ids); i++) {
        assert_string_equal(s.id[i], ids[i]);
        assert_int_equal(s.time[i], times[i]);
    }
    xf_store_close(st);
    xf_event_close(&ev);
}

static void test_exists_finds_an_event_committed_before_a_reopen(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    const char *ids[] = {"dup", "other"};
    const xf_time_t times[] = {4000, 5000};
    struct xf_event ev;

    /* Dedup is the caller's exists() check before put (the engine does it per event); the
     * put itself appends, so the events family stays an exact log of what was accepted. */
    xf_event_init(&ev);
    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    put_events(st, ids, times, 2);
    xf_store_close(st);
    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    make_event(&ev, "dup", 4000, "x");
    assert_int_equal(xf_store_event_exists(st, &ev), 1);
    make_event(&ev, "dup", 4001, "x");
    assert_int_equal(xf_store_event_exists(st, &ev), 0);
    xf_store_close(st);
    xf_event_close(&ev);
}

#define MAX_INC 8
struct inc_seen {
    size_t n;
    char id[MAX_INC][32];
    char json[MAX_INC][64];
};

static int collect_incident(const char *id, const char *json, size_t len, void *ud)
{
    struct inc_seen *s = ud;

    assert_true(s->n < MAX_INC);
    assert_int_equal(strlen(json), len);
    snprintf(s->id[s->n], sizeof s->id[0], "%s", id);
    snprintf(s->json[s->n], sizeof s->json[0], "%s", json);
    s->n++;
    return 0;
}

static void put_incident(struct xf_store *st, const char *id, const char *json)
{
    struct xf_store_batch *b = NULL;

    assert_int_equal(xf_store_batch_create(&b), 0);
    assert_int_equal(xf_store_batch_put_incident(b, id, json, strlen(json)), 0);
    assert_int_equal(xf_store_batch_commit(st, b), 0);
    xf_store_batch_destroy(b);
}

static void test_incidents_put_get_replace_scan_delete(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    struct xf_store_batch *b = NULL;
    struct inc_seen s;
    char *json = NULL;
    size_t len = 0;

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    assert_int_equal(xf_store_incident_get(st, "inc-a", &json, &len), XF_ENOTFOUND);
    put_incident(st, "inc-b", "{\"id\":\"inc-b\",\"score\":10}");
    put_incident(st, "inc-a", "{\"id\":\"inc-a\",\"score\":50}");

    assert_int_equal(xf_store_incident_get(st, "inc-a", &json, &len), 0);
    assert_string_equal(json, "{\"id\":\"inc-a\",\"score\":50}");
    assert_int_equal(len, strlen(json));
    xf_free(json);

    put_incident(st, "inc-a", "{\"id\":\"inc-a\",\"score\":92}");
    assert_int_equal(xf_store_incident_get(st, "inc-a", &json, &len), 0);
    assert_string_equal(json, "{\"id\":\"inc-a\",\"score\":92}");
    xf_free(json);

    memset(&s, 0, sizeof s);
    assert_int_equal(xf_store_incidents_scan(st, collect_incident, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.id[0], "inc-a");
    assert_string_equal(s.json[0], "{\"id\":\"inc-a\",\"score\":92}");
    assert_string_equal(s.id[1], "inc-b");
    assert_string_equal(s.json[1], "{\"id\":\"inc-b\",\"score\":10}");

    assert_int_equal(xf_store_batch_create(&b), 0);
    assert_int_equal(xf_store_batch_delete_incident(b, "inc-a"), 0);
    assert_int_equal(xf_store_batch_count(b), 1);
    assert_int_equal(xf_store_batch_commit(st, b), 0);
    xf_store_batch_destroy(b);
    assert_int_equal(xf_store_incident_get(st, "inc-a", &json, &len), XF_ENOTFOUND);
    memset(&s, 0, sizeof s);
    assert_int_equal(xf_store_incidents_scan(st, collect_incident, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.id[0], "inc-b");
    xf_store_close(st);
}

struct edge_seen {
    size_t n;
    char from[4][64], to[4][64], rel[4][32], key[4][32], ev[4][32];
    int key_null[4];
    double conf[4];
    xf_time_t time[4];
};

static int collect_edge(const struct xf_store_edge *e, void *ud)
{
    struct edge_seen *s = ud;

    assert_true(s->n < 4);
    snprintf(s->from[s->n], sizeof s->from[0], "%s", e->from);
    snprintf(s->to[s->n], sizeof s->to[0], "%s", e->to);
    snprintf(s->rel[s->n], sizeof s->rel[0], "%s", e->relation);
    s->key_null[s->n] = e->key == NULL;
    snprintf(s->key[s->n], sizeof s->key[0], "%s", e->key ? e->key : "");
    snprintf(s->ev[s->n], sizeof s->ev[0], "%s", e->event_id);
    s->conf[s->n] = e->confidence;
    s->time[s->n] = e->time;
    s->n++;
    return 0;
}

static void test_edges_round_trip_in_time_order(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    struct xf_store_batch *b = NULL;
    struct edge_seen s;
    struct xf_store_edge late = {
        "process:{guid-1}", "process:{guid-2}", "spawned", "guid", 1.0, 1600000009000, "rec-2"};
    struct xf_store_edge early = {"email:<m1@example>", "file:ab12", "delivered", NULL, 0.25,
                                  1600000001000,        "rec-1"};

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    assert_int_equal(xf_store_batch_create(&b), 0);
    assert_int_equal(xf_store_batch_put_edge(b, &late), 0);
    assert_int_equal(xf_store_batch_put_edge(b, &early), 0);
    assert_int_equal(xf_store_batch_commit(st, b), 0);
    xf_store_batch_destroy(b);
    xf_store_close(st);
    st = NULL;

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(xf_store_edges_scan(st, collect_edge, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.from[0], "email:<m1@example>");
    assert_string_equal(s.to[0], "file:ab12");
    assert_string_equal(s.rel[0], "delivered");
    assert_true(s.key_null[0]);
    assert_string_equal(s.ev[0], "rec-1");
    assert_true(s.conf[0] == 0.25);
    assert_int_equal(s.time[0], 1600000001000);
    assert_string_equal(s.from[1], "process:{guid-1}");
    assert_string_equal(s.to[1], "process:{guid-2}");
    assert_string_equal(s.rel[1], "spawned");
    assert_false(s.key_null[1]);
    assert_string_equal(s.key[1], "guid");
    assert_string_equal(s.ev[1], "rec-2");
    assert_true(s.conf[1] == 1.0);
    assert_int_equal(s.time[1], 1600000009000);
    xf_store_close(st);
}

static void test_meta_put_get_and_missing_key(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    struct xf_store_batch *b = NULL;
    char *val = NULL;
    size_t len = 0;

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    assert_int_equal(xf_store_meta_get(st, "schema_version", &val, &len), 0);
    assert_string_equal(val, "2");
    xf_free(val);
    assert_int_equal(xf_store_meta_get(st, "offset:xdr.endpoint:0", &val, &len), XF_ENOTFOUND);
    assert_int_equal(xf_store_batch_create(&b), 0);
    assert_int_equal(xf_store_batch_put_meta(b, "offset:xdr.endpoint:0", "\x00\x01\x02", 3), 0);
    assert_int_equal(xf_store_batch_commit(st, b), 0);
    xf_store_batch_destroy(b);
    assert_int_equal(xf_store_meta_get(st, "offset:xdr.endpoint:0", &val, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(val, "\x00\x01\x02", 3);
    xf_free(val);
    xf_store_close(st);
}

static void test_schema_version_mismatch_gives_eschema(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    struct xf_store_batch *b = NULL;
    struct xf_store_opts ro = {.read_only = 1};

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    assert_int_equal(xf_store_batch_create(&b), 0);
    assert_int_equal(xf_store_batch_put_meta(b, "schema_version", "999", 3), 0);
    assert_int_equal(xf_store_batch_commit(st, b), 0);
    xf_store_batch_destroy(b);
    xf_store_close(st);
    st = NULL;

    assert_int_equal(xf_store_open(fx->db, NULL, &st), XF_ESCHEMA);
    assert_null(st);
    assert_int_equal(xf_store_open(fx->db, &ro, &st), XF_ESCHEMA);
    assert_null(st);
}

struct sourced {
    size_t n;
    char id[MAX_SEEN][XF_EVENT_ID_MAX];
    uint64_t source[MAX_SEEN];
};

static int collect_sourced(const struct xf_event *ev, uint64_t source, void *ud)
{
    struct sourced *s = ud;

    assert_true(s->n < MAX_SEEN);
    snprintf(s->id[s->n], sizeof s->id[0], "%s", ev->id);
    s->source[s->n++] = source;
    return 0;
}

static void set_schema(struct xf_store *st, const char *v)
{
    struct xf_store_batch *b = NULL;

    assert_int_equal(xf_store_batch_create(&b), 0);
    assert_int_equal(xf_store_batch_put_meta(b, "schema_version", v, strlen(v)), 0);
    assert_int_equal(xf_store_batch_commit(st, b), 0);
    xf_store_batch_destroy(b);
}

/* Events keep their input source, in arrival order with the ones stored without one (source 0,
 * the only kind a version 1 database has); a version 1 database is read and written as it is
 * and becomes version 2 with the first commit that stores a source. */
static void test_event_sources_round_trip_and_version_1_upgrades(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    struct xf_store_batch *b = NULL;
    struct xf_store_opts ro = {.read_only = 1};
    struct xf_event ev;
    struct sourced got = {0};
    struct seen plain;
    char *val = NULL;
    size_t len = 0;

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    put_events(st, (const char *[]){"old-1"}, (const xf_time_t[]){5}, 1);
    set_schema(st, "1"); /* what a version 1 database holds: 8-byte events keys only */
    xf_store_close(st);

    assert_int_equal(xf_store_open(fx->db, &ro, &st), 0);
    assert_int_equal(xf_store_meta_get(st, "schema_version", &val, &len), 0);
    assert_string_equal(val, "1");
    xf_free(val);
    xf_store_close(st);

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    put_events(st, (const char *[]){"old-2"}, (const xf_time_t[]){6}, 1);
    assert_int_equal(xf_store_meta_get(st, "schema_version", &val, &len), 0);
    assert_string_equal(val, "1"); /* nothing a version 1 reader would misread yet */
    xf_free(val);
    xf_event_init(&ev);
    assert_int_equal(xf_store_batch_create(&b), 0);
    make_event(&ev, "new-1", 7, "a");
    assert_int_equal(xf_store_batch_put_event_src(b, &ev, 0x8000000000000001ull), 0);
    make_event(&ev, "new-2", 6, "b");
    assert_int_equal(xf_store_batch_put_event(b, &ev), 0);
    make_event(&ev, "new-3", 9, "c");
    assert_int_equal(xf_store_batch_put_event_src(b, &ev, 42), 0);
    assert_int_equal(xf_store_batch_commit(st, b), 0);
    xf_store_batch_destroy(b);
    xf_event_close(&ev);
    assert_int_equal(xf_store_meta_get(st, "schema_version", &val, &len), 0);
    assert_string_equal(val, "2");
    xf_free(val);
    xf_store_close(st);

    /* the sequence goes on after the newest row, whatever its key length */
    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    put_events(st, (const char *[]){"new-4"}, (const xf_time_t[]){1}, 1);
    assert_int_equal(xf_store_events_scan_src(st, collect_sourced, &got), 0);
    assert_int_equal(got.n, 6);
    const char *ids[] = {"old-1", "old-2", "new-1", "new-2", "new-3", "new-4"};
    const uint64_t srcs[] = {0, 0, 0x8000000000000001ull, 0, 42, 0};
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(got.id[i], ids[i]);
        assert_true(got.source[i] == srcs[i]);
    }
    scan_events(st, &plain);
    assert_int_equal(plain.n, 6);
    assert_string_equal(plain.cmd[4], "c");
    xf_store_close(st);
}

static void test_read_only_open_reads_but_refuses_writes(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    struct xf_store_batch *b = NULL;
    struct xf_store_opts ro = {.read_only = 1};
    const char *ids[] = {"rec-1", "rec-2"};
    const xf_time_t times[] = {10, 20};
    struct xf_event ev;
    struct seen s;

    xf_event_init(&ev);
    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    put_events(st, ids, times, 2);
    put_incident(st, "inc-1", "{}");
    xf_store_close(st);
    st = NULL;

    assert_int_equal(xf_store_open(fx->db, &ro, &st), 0);
    scan_events(st, &s);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.id[1], "rec-2");
    make_event(&ev, "rec-3", 30, "x");
    assert_int_equal(xf_store_batch_create(&b), 0);
    assert_int_equal(xf_store_batch_put_event(b, &ev), 0);
    assert_int_equal(xf_store_batch_commit(st, b), XF_ESTORE);
    /* A refused batch is kept for a retry elsewhere. */
    assert_int_equal(xf_store_batch_count(b), 1);
    xf_store_batch_destroy(b);
    scan_events(st, &s);
    assert_int_equal(s.n, 2);
    xf_store_close(st);
    xf_event_close(&ev);
}

/* The WAL is written (not fsynced) before commit returns, so a process killed right after a
 * commit loses nothing: the child commits and SIGKILLs itself without closing. */
static void test_committed_events_survive_kill_9(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    const char *ids[] = {"k-1", "k-2"};
    const xf_time_t times[] = {11, 22};
    struct seen s;
    int status = 0;
    pid_t pid;

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (xf_store_open(fx->db, NULL, &st) == 0) {
            put_events(st, ids, times, 2);
            raise(SIGKILL);
        }
        _exit(1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    scan_events(st, &s);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.id[0], "k-1");
    assert_string_equal(s.id[1], "k-2");
    xf_store_close(st);
}

static void test_read_only_open_of_missing_database_fails(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    struct xf_store_opts ro = {.read_only = 1};

    assert_int_equal(xf_store_open(fx->db, &ro, &st), XF_ESTORE);
    assert_null(st);
    assert_int_equal(access(fx->db, F_OK), -1);
}

static void test_batch_is_invisible_until_commit(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    struct xf_store_batch *b = NULL;
    struct xf_event ev;
    struct seen s;
    char *json = NULL;

    xf_event_init(&ev);
    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    assert_int_equal(xf_store_batch_create(&b), 0);
    make_event(&ev, "a", 100, "a");
    assert_int_equal(xf_store_batch_put_event(b, &ev), 0);
    make_event(&ev, "b", 200, "b");
    assert_int_equal(xf_store_batch_put_event(b, &ev), 0);
    assert_int_equal(xf_store_batch_put_incident(b, "inc-1", "{}", 2), 0);
    assert_int_equal(xf_store_batch_count(b), 3);

    scan_events(st, &s);
    assert_int_equal(s.n, 0);
    assert_int_equal(xf_store_event_exists(st, &ev), 0);
    assert_int_equal(xf_store_incident_get(st, "inc-1", &json, NULL), XF_ENOTFOUND);

    assert_int_equal(xf_store_batch_commit(st, b), 0);
    scan_events(st, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(xf_store_event_exists(st, &ev), 1);
    assert_int_equal(xf_store_incident_get(st, "inc-1", &json, NULL), 0);
    assert_string_equal(json, "{}");
    xf_free(json);

    /* clear drops queued writes. */
    make_event(&ev, "c", 300, "c");
    assert_int_equal(xf_store_batch_put_event(b, &ev), 0);
    xf_store_batch_clear(b);
    assert_int_equal(xf_store_batch_count(b), 0);
    assert_int_equal(xf_store_batch_commit(st, b), 0);
    scan_events(st, &s);
    assert_int_equal(s.n, 2);

    xf_store_batch_destroy(b);
    xf_store_close(st);
    xf_event_close(&ev);
}

static int stop_at_second(const struct xf_event *ev, void *ud)
{
    int *n = ud;

    (void)ev;
    return ++*n == 2 ? 42 : 0;
}

static void test_scan_stops_with_the_callback_value(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    const char *ids[] = {"a", "b", "c"};
    const xf_time_t times[] = {1, 2, 3};
    int n = 0;

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    put_events(st, ids, times, 3);
    assert_int_equal(xf_store_events_scan(st, stop_at_second, &n), 42);
    assert_int_equal(n, 2);
    xf_store_close(st);
}

static void test_stats_count_written_events_and_keys(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    const char *ids[] = {"a", "b", "c", "d"};
    const xf_time_t times[] = {1, 2, 3, 4};
    struct xf_store_stats stats;

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    put_events(st, ids, times, 4);
    xf_store_get_stats(st, &stats);
    assert_int_equal(stats.events_written, 4);
    assert_int_equal(stats.duplicates, 0);
    /* 4 events (an ids row and an events row each) + the schema_version row; an estimate,
     * but exact while all is in memtables. */
    assert_int_equal(stats.estimate_num_keys, 9);
    xf_store_close(st);
    st = NULL;
    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    xf_store_get_stats(st, &stats);
    assert_int_equal(stats.events_written, 0);
    assert_true(stats.sst_bytes > 0);
    xf_store_close(st);
}

/* For n = 0, 1, 2, ... fail our n-th allocation inside open + put + commit + close: each run
 * must either fail cleanly or work, and ASan must find no leak. Ends at the first n that
 * completes without hitting the failure. */
static void test_torture_alloc_failures_never_leak(void **state)
{
    struct fx *fx = *state;
    struct xf_event ev;
    int completed = 0;
    long n;

    xf_event_init(&ev);
    make_event(&ev, "torture", 1234, "powershell -enc AAAA");
    for (n = 0; n < 500 && !completed; n++) {
        char db[400];
        struct xf_store *st = NULL;
        struct xf_store_batch *b = NULL;
        struct xf_store_edge e = {"a", "b", "spawned", "guid", 1.0, 5, "torture"};
        int rc;

        snprintf(db, sizeof db, "%s/t%ld", fx->dir, n);
        xf_alloc_fail_after(n);
        rc = xf_store_open(db, NULL, &st);
        if (!rc)
            rc = xf_store_batch_create(&b);
        if (!rc)
            rc = xf_store_batch_put_event(b, &ev);
        if (!rc)
            rc = xf_store_batch_put_edge(b, &e);
        if (!rc)
            rc = xf_store_batch_put_incident(b, "inc-1", "{}", 2);
        if (!rc)
            rc = xf_store_batch_commit(st, b);
        if (!rc)
            rc = xf_store_event_exists(st, &ev) == 1 ? 0 : XF_EINTERNAL;
        xf_store_batch_destroy(b);
        xf_store_close(st);
        xf_alloc_fail_after(-1);
        if (rc)
            assert_true(rc == XF_ENOMEM || rc == XF_ESTORE);
        else
            completed = 1;
    }
    assert_true(completed);
    assert_true(n > 3);
    xf_event_close(&ev);
}

static int count_event(const struct xf_event *ev, void *ud)
{
    (void)ev;
    ++*(int *)ud;
    return 0;
}

static int count_incident(const char *id, const char *json, size_t len, void *ud)
{
    (void)id;
    (void)json;
    (void)len;
    ++*(int *)ud;
    return 0;
}

static int count_edge(const struct xf_store_edge *e, void *ud)
{
    (void)e;
    ++*(int *)ud;
    return 0;
}

/* The read side under allocation failure: reopen (schema check), every scan and point get. */
static void test_torture_reads_never_leak(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    struct xf_store_batch *b = NULL;
    struct xf_store_edge e = {"a", "b", "spawned", "guid", 1.0, 5, "rec-1"};
    const char *ids[] = {"rec-1", "rec-2"};
    const xf_time_t times[] = {1, 2};
    int completed = 0;
    long n;

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    put_events(st, ids, times, 2);
    put_incident(st, "inc-1", "{\"id\":\"inc-1\"}");
    assert_int_equal(xf_store_batch_create(&b), 0);
    assert_int_equal(xf_store_batch_put_edge(b, &e), 0);
    assert_int_equal(xf_store_batch_commit(st, b), 0);
    xf_store_batch_destroy(b);
    xf_store_close(st);

    for (n = 0; n < 500 && !completed; n++) {
        int nev = 0, ninc = 0, nedge = 0;
        char *val = NULL;
        int rc;

        st = NULL;
        xf_alloc_fail_after(n);
        rc = xf_store_open(fx->db, NULL, &st);
        if (!rc)
            rc = xf_store_events_scan(st, count_event, &nev);
        if (!rc)
            rc = xf_store_incidents_scan(st, count_incident, &ninc);
        if (!rc)
            rc = xf_store_edges_scan(st, count_edge, &nedge);
        if (!rc)
            rc = xf_store_incident_get(st, "inc-1", &val, NULL);
        xf_free(val);
        val = NULL;
        if (!rc)
            rc = xf_store_meta_get(st, "schema_version", &val, NULL);
        xf_free(val);
        xf_store_close(st);
        xf_alloc_fail_after(-1);
        if (rc) {
            assert_int_equal(rc, XF_ENOMEM);
        } else {
            assert_int_equal(nev, 2);
            assert_int_equal(ninc, 1);
            assert_int_equal(nedge, 1);
            completed = 1;
        }
    }
    assert_true(completed);
    assert_true(n > 3);
}

/* ---- actions (the response outbox) ------------------------------------------------------- */

static void test_actions_put_get_replace_and_scan_in_id_order(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    struct inc_seen s;
    char *json = NULL;
    size_t len = 0;

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    assert_int_equal(xf_store_action_get(st, "act-b", &json, &len), XF_ENOTFOUND);
    assert_int_equal(xf_store_action_put(st, "act-b", "{\"s\":\"planned\"}", 15), 0);
    assert_int_equal(xf_store_action_put(st, "act-a", "{\"s\":\"sent\"}", 12), 0);
    assert_int_equal(xf_store_action_put(st, "act-b", "{\"s\":\"approved\"}", 16), 0);
    assert_int_equal(xf_store_action_get(st, "act-b", &json, &len), 0);
    assert_string_equal(json, "{\"s\":\"approved\"}");
    assert_int_equal(len, 16);
    xf_free(json);
    memset(&s, 0, sizeof s);
    assert_int_equal(xf_store_actions_scan(st, collect_incident, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.id[0], "act-a");
    assert_string_equal(s.json[0], "{\"s\":\"sent\"}");
    assert_string_equal(s.id[1], "act-b");
    assert_string_equal(s.json[1], "{\"s\":\"approved\"}");
    /* Actions are their own family: incidents do not see them. */
    memset(&s, 0, sizeof s);
    assert_int_equal(xf_store_incidents_scan(st, collect_incident, &s), 0);
    assert_int_equal(s.n, 0);
    xf_store_close(st);
}

static void test_action_put_is_refused_on_a_read_only_store(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    struct xf_store_opts ro = {.read_only = 1};
    char *json = NULL;

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    assert_int_equal(xf_store_action_put(st, "act-a", "{}", 2), 0);
    xf_store_close(st);
    assert_int_equal(xf_store_open(fx->db, &ro, &st), 0);
    assert_int_equal(xf_store_action_put(st, "act-b", "{}", 2), XF_ESTORE);
    assert_int_equal(xf_store_action_get(st, "act-a", &json, NULL), 0);
    assert_string_equal(json, "{}");
    xf_free(json);
    xf_store_close(st);
}

/* Makes fx->db look like a database written before the actions family existed. The test
 * needs RocksDB itself for that; the store never drops a family. */
static void drop_actions_family(const char *path)
{
    const char *names[] = {"default",   "events", "entities", "edges",
                           "incidents", "meta",   "ids",      "actions"};
    const rocksdb_options_t *cfopts[8];
    rocksdb_column_family_handle_t *cf[8] = {0};
    rocksdb_options_t *o = rocksdb_options_create();
    char *err = NULL;
    rocksdb_t *db;

    for (int i = 0; i < 8; i++)
        cfopts[i] = o;
    db = rocksdb_open_column_families(o, path, 8, names, cfopts, cf, &err);
    assert_null(err);
    rocksdb_drop_column_family(db, cf[7], &err);
    assert_null(err);
    for (int i = 0; i < 8; i++)
        rocksdb_column_family_handle_destroy(cf[i]);
    rocksdb_close(db);
    rocksdb_options_destroy(o);
}

static void test_a_database_from_before_actions_opens_and_gains_the_family(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    struct xf_store_opts ro = {.read_only = 1};
    const char *ids[] = {"old-1"};
    const xf_time_t times[] = {10};
    struct inc_seen s;
    struct seen ev;
    char *json = NULL;

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    put_events(st, ids, times, 1);
    xf_store_close(st);
    drop_actions_family(fx->db);

    /* Read-only: everything else readable, no actions. */
    assert_int_equal(xf_store_open(fx->db, &ro, &st), 0);
    scan_events(st, &ev);
    assert_int_equal(ev.n, 1);
    memset(&s, 0, sizeof s);
    assert_int_equal(xf_store_actions_scan(st, collect_incident, &s), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(xf_store_action_get(st, "act-a", &json, NULL), XF_ENOTFOUND);
    xf_store_close(st);

    /* Writable: the family is created, same schema version, old rows intact. */
    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    assert_int_equal(xf_store_action_put(st, "act-a", "{}", 2), 0);
    scan_events(st, &ev);
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.id[0], "old-1");
    xf_store_close(st);
    assert_int_equal(xf_store_open(fx->db, &ro, &st), 0);
    assert_int_equal(xf_store_action_get(st, "act-a", &json, NULL), 0);
    xf_free(json);
    xf_store_close(st);
}

/* The API serves incidents from its own threads while the owner commits: readers must see
 * whole values and never an error. */
struct reader {
    struct xf_store *st;
    atomic_int stop;
    int errors;
    atomic_long reads;
};

static int check_incident_row(const char *id, const char *json, size_t len, void *ud)
{
    struct reader *r = ud;

    if (strncmp(id, "inc-", 4) != 0 || strlen(json) != len || json[0] != '{' ||
        json[len - 1] != '}')
        r->errors++;
    return 0;
}

static void *read_incidents(void *ud)
{
    struct reader *r = ud;

    while (!r->stop) {
        char *json = NULL;
        size_t len = 0;
        int rc = xf_store_incident_get(r->st, "inc-0", &json, &len);
        if (rc == 0 && (strlen(json) != len || json[0] != '{'))
            r->errors++;
        else if (rc && rc != XF_ENOTFOUND)
            r->errors++;
        xf_free(json);
        if (xf_store_incidents_scan(r->st, check_incident_row, r))
            r->errors++;
        if (xf_store_actions_scan(r->st, check_incident_row, r))
            r->errors++;
        r->reads++;
    }
    return NULL;
}

static void
test_incidents_and_actions_read_from_another_thread_while_the_owner_commits(void **state)
{
    struct fx *fx = *state;
    struct xf_store *st = NULL;
    struct xf_store_batch *b = NULL;
    struct reader r;
    pthread_t t;

    assert_int_equal(xf_store_open(fx->db, NULL, &st), 0);
    memset(&r, 0, sizeof r);
    r.st = st;
    assert_int_equal(pthread_create(&t, NULL, read_incidents, &r), 0);
    /* Let the reader get going first, so the commits overlap its reads even on a busy box. */
    while (atomic_load(&r.reads) < 1)
        usleep(1000);
    assert_int_equal(xf_store_batch_create(&b), 0);
    for (int i = 0; i < 300; i++) {
        char id[32];
        char json[96];
        snprintf(id, sizeof id, "inc-%d", i % 7);
        snprintf(json, sizeof json, "{\"id\":\"%s\",\"score\":%d,\"pad\":\"%0*d\"}", id, i, i % 40,
                 0);
        assert_int_equal(xf_store_batch_put_incident(b, id, json, strlen(json)), 0);
        assert_int_equal(xf_store_batch_commit(st, b), 0);
    }
    r.stop = 1;
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.errors, 0);
    xf_store_batch_destroy(b);
    xf_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reopen_keeps_committed_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_scan_is_in_arrival_order_across_reopens, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_exists_is_true_only_for_the_stored_time_and_id, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_batch_out_of_time_order_keeps_arrival_order_and_every_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exists_finds_an_event_committed_before_a_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_incidents_put_get_replace_scan_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_edges_round_trip_in_time_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_put_get_and_missing_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_version_mismatch_gives_eschema, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_event_sources_round_trip_and_version_1_upgrades, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_only_open_reads_but_refuses_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_only_open_of_missing_database_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batch_is_invisible_until_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_stops_with_the_callback_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_count_written_events_and_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_committed_events_survive_kill_9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torture_alloc_failures_never_leak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torture_reads_never_leak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_actions_put_get_replace_and_scan_in_id_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_action_put_is_refused_on_a_read_only_store, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_database_from_before_actions_opens_and_gains_the_family, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_incidents_and_actions_read_from_another_thread_while_the_owner_commits, setup,
            teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
