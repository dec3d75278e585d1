/*
 * test_outbox.c - unit tests of the durable outbox (response/src/outbox.c) over a real RocksDB
 * store in a fresh mkdtemp directory per test.
 *
 * The thread test is the contract that matters: the response thread puts actions while the
 * correlating thread commits event batches into the same store, and neither loses a write.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "xf/response.h"
#include "xf/store.h"

struct fx {
    char dir[256];
    char db[300];
    struct xf_store *st;
    struct xf_outbox *ob;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fx_open(struct fx *fx)
{
    assert_int_equal(xf_store_open(fx->db, NULL, &fx->st), 0);
    assert_int_equal(xf_outbox_open(fx->st, &fx->ob), 0);
}

static void fx_close(struct fx *fx)
{
    xf_outbox_close(fx->ob);
    fx->ob = NULL;
    xf_store_close(fx->st);
    fx->st = NULL;
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR");

    if (!fx)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "%s/xf-outbox-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    snprintf(fx->db, sizeof fx->db, "%s/db", fx->dir);
    fx_open(fx);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    fx_close(fx);
    nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

static void make_action(struct xf_action *a, const char *incident, const char *host)
{
    memset(a, 0, sizeof *a);
    a->kind = XF_ACT_ISOLATE;
    a->state = XF_AS_PLANNED;
    snprintf(a->incident, sizeof a->incident, "%s", incident);
    snprintf(a->host, sizeof a->host, "%s", host);
    snprintf(a->connector, sizeof a->connector, "hook");
    snprintf(a->requested_by, sizeof a->requested_by, "policy");
    a->created_ms = 1795597203120;
    xf_action_make_id(a, "");
}

#define MAX_IDS 512
struct seen {
    size_t n;
    char id[MAX_IDS][XF_ACTION_ID_LEN];
    int state[MAX_IDS];
    int stop_at; /* 1-based index at which the callback returns 7; 0: never */
};

static int collect(const struct xf_action *a, void *ud)
{
    struct seen *s = ud;

    assert_true(s->n < MAX_IDS);
    snprintf(s->id[s->n], sizeof s->id[0], "%s", a->id);
    s->state[s->n] = a->state;
    s->n++;
    return s->stop_at && (int)s->n == s->stop_at ? 7 : 0;
}

static void test_put_then_get_returns_the_same_action(void **state)
{
    struct fx *fx = *state;
    struct xf_action a;
    struct xf_action b;

    make_action(&a, "inc-0001", "ws-017");
    a.payload_hash = 0x8000000000000001u;
    snprintf(a.remote_id, sizeof a.remote_id, "task-1");
    assert_int_equal(xf_outbox_put(fx->ob, &a), 0);
    memset(&b, 0x5a, sizeof b);
    assert_int_equal(xf_outbox_get(fx->ob, a.id, &b), 0);
    assert_memory_equal(&a, &b, sizeof a);
}

static void test_get_of_an_unknown_id_is_enotfound(void **state)
{
    struct fx *fx = *state;
    struct xf_action b;

    assert_int_equal(xf_outbox_get(fx->ob, "act-0000000000000000", &b), XF_ENOTFOUND);
}

static void test_put_of_the_same_id_replaces_the_state(void **state)
{
    struct fx *fx = *state;
    struct xf_action a;
    struct xf_action b;
    struct seen s;

    make_action(&a, "inc-0001", "ws-017");
    assert_int_equal(xf_outbox_put(fx->ob, &a), 0);
    a.state = XF_AS_SENT;
    a.attempts = 1;
    assert_int_equal(xf_outbox_put(fx->ob, &a), 0);
    assert_int_equal(xf_outbox_get(fx->ob, a.id, &b), 0);
    assert_int_equal(b.state, XF_AS_SENT);
    assert_int_equal(b.attempts, 1);
    memset(&s, 0, sizeof s);
    assert_int_equal(xf_outbox_scan(fx->ob, collect, &s), 0);
    assert_int_equal(s.n, 1);
}

static void test_put_refuses_an_action_without_an_id(void **state)
{
    struct fx *fx = *state;
    struct xf_action a;

    make_action(&a, "inc-0001", "ws-017");
    a.id[0] = '\0';
    assert_int_equal(xf_outbox_put(fx->ob, &a), XF_EINVAL);
}

static int cmp_id(const void *x, const void *y)
{
    return strcmp(x, y);
}

static void test_scan_returns_every_action_in_id_order(void **state)
{
    struct fx *fx = *state;
    struct xf_action a[5];
    struct seen s;
    char sorted[5][XF_ACTION_ID_LEN];

    for (int i = 0; i < 5; i++) {
        char host[16];
        snprintf(host, sizeof host, "ws-%03d", i);
        make_action(&a[i], "inc-0001", host);
        assert_int_equal(xf_outbox_put(fx->ob, &a[i]), 0);
        snprintf(sorted[i], sizeof sorted[i], "%s", a[i].id);
    }
    qsort(sorted, 5, sizeof sorted[0], cmp_id);
    memset(&s, 0, sizeof s);
    assert_int_equal(xf_outbox_scan(fx->ob, collect, &s), 0);
    assert_int_equal(s.n, 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(s.id[i], sorted[i]);
}

static void test_scan_stops_with_the_callback_value(void **state)
{
    struct fx *fx = *state;
    struct xf_action a;
    struct seen s;

    for (int i = 0; i < 4; i++) {
        char host[16];
        snprintf(host, sizeof host, "ws-%03d", i);
        make_action(&a, "inc-0001", host);
        assert_int_equal(xf_outbox_put(fx->ob, &a), 0);
    }
    memset(&s, 0, sizeof s);
    s.stop_at = 2;
    assert_int_equal(xf_outbox_scan(fx->ob, collect, &s), 7);
    assert_int_equal(s.n, 2);
}

static void test_scan_skips_a_corrupt_record_and_get_reports_it(void **state)
{
    struct fx *fx = *state;
    struct xf_action a;
    struct xf_action b;
    struct seen s;
    static const char junk[] = "{\"id\":\"act-zz\",\"kind\":\"isolate\"";
    static const char other[] = "{\"id\":\"act-other\",\"kind\":\"isolate\",\"state\":\"sent\"}";

    make_action(&a, "inc-0001", "ws-017");
    assert_int_equal(xf_outbox_put(fx->ob, &a), 0);
    assert_int_equal(xf_store_action_put(fx->st, "act-zz", junk, sizeof junk - 1), 0);
    /* A record whose JSON names another id than its key is not trusted either. */
    assert_int_equal(xf_store_action_put(fx->st, "act-aa", other, sizeof other - 1), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(xf_outbox_scan(fx->ob, collect, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.id[0], a.id);
    assert_int_equal(xf_outbox_get(fx->ob, "act-zz", &b), XF_EPARSE);
}

static void test_actions_survive_close_and_reopen(void **state)
{
    struct fx *fx = *state;
    struct xf_action a;
    struct xf_action b;
    struct seen s;

    make_action(&a, "inc-0001", "ws-017");
    a.state = XF_AS_SENT;
    a.next_at_ms = 1795597205000;
    snprintf(a.remote_id, sizeof a.remote_id, "https://vendor.example/ops/1");
    assert_int_equal(xf_outbox_put(fx->ob, &a), 0);
    fx_close(fx);
    fx_open(fx);
    assert_int_equal(xf_outbox_get(fx->ob, a.id, &b), 0);
    assert_memory_equal(&a, &b, sizeof a);
    memset(&s, 0, sizeof s);
    assert_int_equal(xf_outbox_scan(fx->ob, collect, &s), 0);
    assert_int_equal(s.n, 1);
}

/* The child puts an action and dies by SIGKILL before any close or flush: the put returned,
 * so the record is there. */
static void test_an_acknowledged_put_survives_kill_9(void **state)
{
    struct fx *fx = *state;
    struct xf_action a;
    struct xf_action b;
    int status = 0;
    pid_t pid;

    fx_close(fx);
    make_action(&a, "inc-0009", "ws-099");
    a.state = XF_AS_APPROVED;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct xf_store *st = NULL;
        struct xf_outbox *ob = NULL;
        if (xf_store_open(fx->db, NULL, &st) || xf_outbox_open(st, &ob) || xf_outbox_put(ob, &a))
            _exit(3);
        kill(getpid(), SIGKILL);
        _exit(4);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    fx_open(fx);
    assert_int_equal(xf_outbox_get(fx->ob, a.id, &b), 0);
    assert_int_equal(b.state, XF_AS_APPROVED);
    assert_string_equal(b.host, "ws-099");
}

/* ---- a second thread ---------------------------------------------------------------------- */

#define THREAD_PUTS 200
#define OWNER_BATCHES 40
#define EVENTS_PER_BATCH 50

struct putter {
    struct xf_outbox *ob;
    int failures;
};

static void *put_many(void *ud)
{
    struct putter *p = ud;

    for (int i = 0; i < THREAD_PUTS; i++) {
        struct xf_action a;
        char host[32];
        snprintf(host, sizeof host, "host-%04d", i);
        make_action(&a, "inc-thread", host);
        if (xf_outbox_put(p->ob, &a))
            p->failures++;
        a.state = XF_AS_APPROVED; /* a second transition of the same record */
        if (xf_outbox_put(p->ob, &a))
            p->failures++;
    }
    return NULL;
}

static int count_event(const struct xf_event *ev, void *ud)
{
    (void)ev;
    (*(size_t *)ud)++;
    return 0;
}

static void test_put_from_a_second_thread_while_the_owner_commits_events(void **state)
{
    struct fx *fx = *state;
    struct putter p = {fx->ob, 0};
    struct xf_store_batch *b = NULL;
    struct xf_event ev;
    struct seen *s = calloc(1, sizeof *s);
    size_t nev = 0;
    pthread_t t;

    assert_non_null(s);
    xf_event_init(&ev);
    assert_int_equal(xf_store_batch_create(&b), 0);
    assert_int_equal(pthread_create(&t, NULL, put_many, &p), 0);
    for (int i = 0; i < OWNER_BATCHES; i++) {
        for (int j = 0; j < EVENTS_PER_BATCH; j++) {
            char id[32];
            xf_event_reset(&ev);
            ev.category = XF_CAT_PROCESS;
            ev.time = 1795597203000 + i * EVENTS_PER_BATCH + j;
            snprintf(id, sizeof id, "ev-%d-%d", i, j);
            xf_event_set_id(&ev, id);
            assert_int_equal(xf_store_batch_put_event(b, &ev), 0);
        }
        assert_int_equal(xf_store_batch_commit(fx->st, b), 0);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(p.failures, 0);
    assert_int_equal(xf_outbox_scan(fx->ob, collect, s), 0);
    assert_int_equal(s->n, THREAD_PUTS);
    for (size_t i = 0; i < s->n; i++)
        assert_int_equal(s->state[i], XF_AS_APPROVED);
    assert_int_equal(xf_store_events_scan(fx->st, count_event, &nev), 0);
    assert_int_equal(nev, OWNER_BATCHES * EVENTS_PER_BATCH);
    xf_store_batch_destroy(b);
    xf_event_close(&ev);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_then_get_returns_the_same_action, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_of_an_unknown_id_is_enotfound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_of_the_same_id_replaces_the_state, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_put_refuses_an_action_without_an_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_returns_every_action_in_id_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scan_stops_with_the_callback_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_skips_a_corrupt_record_and_get_reports_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_actions_survive_close_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_acknowledged_put_survives_kill_9, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_put_from_a_second_thread_while_the_owner_commits_events, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
