/* Unit tests for core/: time parsing, the event arena and its binary encoding, torture mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "xf/core.h"
#include "xf/event.h"

static void time_parse_accepts_the_formats_real_producers_write(void **state)
{
    xf_time_t t;
    char buf[XF_TIME_BUFSZ];

    assert_int_equal(xf_time_parse("2020-09-04T20:09:40.845Z", 24, &t), 0);
    assert_string_equal(xf_time_format_ms(t, buf), "2020-09-04T20:09:40.845Z");
    assert_int_equal(xf_time_parse("2020-09-04 20:09:38.123", 23, &t), 0);
    assert_string_equal(xf_time_format_ms(t, buf), "2020-09-04T20:09:38.123Z");
    assert_int_equal(xf_time_parse("2020-09-04T22:09:40+02:00", 25, &t), 0);
    assert_string_equal(xf_time_format(t, buf), "2020-09-04T20:09:40Z");
    assert_int_equal(xf_time_parse("2020-09-04T20:09:40.1234567Z", 28, &t), 0);
    assert_string_equal(xf_time_format_ms(t, buf), "2020-09-04T20:09:40.123Z");
}

static void time_parse_rejects_garbage(void **state)
{
    xf_time_t t;
    const char *bad[] = {"",
                         "2020",
                         "2020-13-01",
                         "2020-01-01T25:00",
                         "yesterday",
                         "2020-01-01T10:00:00Zjunk",
                         "2021-02-31",
                         "2100-02-29",
                         "2021-04-31T00:00:00Z",
                         "2020-01-01T10:00:00+99:99"};
    assert_int_equal(xf_time_parse("2000-02-29", 10, &t), 0);
    assert_int_equal(xf_time_parse("2024-02-29T00:00:00+14:00", 25, &t), 0);
    for (size_t i = 0; i < XF_ARRAY_LEN(bad); i++)
        assert_int_equal(xf_time_parse(bad[i], strlen(bad[i]), &t), XF_EPARSE);
}

static void event_multi_values_stay_together_when_fields_interleave(void **state)
{
    struct xf_event ev;

    xf_event_init(&ev);
    assert_int_equal(xf_event_add(&ev, XF_F_RECIPIENT, "a@x", (size_t)-1), 0);
    assert_int_equal(xf_event_set(&ev, XF_F_SUBJECT, "hello", (size_t)-1), 0);
    assert_int_equal(xf_event_add(&ev, XF_F_RECIPIENT, "b@x", (size_t)-1), 0);
    assert_int_equal(xf_event_add(&ev, XF_F_RECIPIENT, "c@x", (size_t)-1), 0);
    assert_int_equal(xf_event_count(&ev, XF_F_RECIPIENT), 3);
    assert_string_equal(xf_event_get_nth(&ev, XF_F_RECIPIENT, 0), "a@x");
    assert_string_equal(xf_event_get_nth(&ev, XF_F_RECIPIENT, 2), "c@x");
    assert_null(xf_event_get_nth(&ev, XF_F_RECIPIENT, 3));
    assert_string_equal(xf_event_get(&ev, XF_F_SUBJECT), "hello");
    assert_null(xf_event_get(&ev, XF_F_IMAGE));
    xf_event_close(&ev);
}

static void event_encoding_round_trips(void **state)
{
    struct xf_event a, b;
    struct xf_buf buf;

    xf_event_init(&a);
    xf_event_init(&b);
    xf_buf_init(&buf);
    a.category = XF_CAT_PROCESS;
    a.time = 1600000000123;
    xf_event_set_id(&a, "ws1|Security|42");
    xf_event_set(&a, XF_F_IMAGE, "C:\\Windows\\System32\\cmd.exe", (size_t)-1);
    xf_event_add(&a, XF_F_URL, "http://a/", (size_t)-1);
    xf_event_add(&a, XF_F_URL, "http://b/", (size_t)-1);
    assert_int_equal(xf_event_encode(&a, &buf), 0);
    assert_int_equal(xf_event_decode(&b, buf.data, buf.len), 0);
    assert_int_equal(b.category, XF_CAT_PROCESS);
    assert_int_equal(b.time, a.time);
    assert_string_equal(b.id, a.id);
    assert_true(b.idhash == a.idhash);
    assert_string_equal(xf_event_get(&b, XF_F_IMAGE), "C:\\Windows\\System32\\cmd.exe");
    assert_string_equal(xf_event_get_nth(&b, XF_F_URL, 1), "http://b/");
    /* a truncated header is rejected; a cut inside a field is rejected; never read past
     * (ASan watches). A cut exactly between fields is a shorter valid event. */
    size_t hdr = 11 + strlen(a.id);
    for (size_t n = 0; n < buf.len; n++) {
        int rc = xf_event_decode(&b, buf.data, n);
        if (n < hdr)
            assert_int_equal(rc, XF_EPARSE);
        else if (rc == 0 && xf_event_get(&b, XF_F_IMAGE))
            assert_string_equal(xf_event_get(&b, XF_F_IMAGE), "C:\\Windows\\System32\\cmd.exe");
    }
    xf_buf_close(&buf);
    xf_event_close(&a);
    xf_event_close(&b);
}

static void event_add_fails_cleanly_when_allocation_fails(void **state)
{
    for (long n = 0; n < 6; n++) {
        struct xf_event ev;
        xf_event_init(&ev);
        xf_alloc_fail_after(n);
        int rc = xf_event_add(&ev, XF_F_RECIPIENT, "a", 1);
        if (rc == 0)
            rc = xf_event_set(&ev, XF_F_SUBJECT, "s", 1);
        if (rc == 0)
            rc = xf_event_add(&ev, XF_F_RECIPIENT, "b", 1);
        xf_alloc_fail_after(-1);
        assert_true(rc == 0 || rc == XF_ENOMEM);
        xf_event_close(&ev);
    }
}

static void field_lookup_is_case_insensitive(void **state)
{
    assert_int_equal(xf_field_lookup("commandline"), XF_F_COMMAND_LINE);
    assert_int_equal(xf_field_lookup("ParentImage"), XF_F_PARENT_IMAGE);
    assert_int_equal(xf_field_lookup("NoSuchField"), -1);
    assert_string_equal(xf_strerror(XF_EPARSE), "malformed input");
}

/* Grows by doubling from `first`, keeps what was there, and leaves the array as it was when
 * the allocation fails. */
static void array_grow_doubles_keeps_contents_and_survives_failure(void **state)
{
    uint64_t *a = NULL;
    size_t n = 0, cap = 0;
    (void)state;

    for (uint64_t i = 0; i < 100; i++) {
        assert_int_equal(xf_array_grow(&a, &cap, n, sizeof(*a), 4), 0);
        a[n++] = i * 7;
    }
    assert_int_equal(cap, 128);                                       /* 4, 8, ..., 128 */
    assert_int_equal(xf_array_grow(&a, &cap, 100, sizeof(*a), 4), 0); /* room: no change */
    assert_int_equal(cap, 128);
    uint64_t *before = a;
    xf_alloc_fail_after(0);
    assert_int_equal(xf_array_grow(&a, &cap, 128, sizeof(*a), 4), XF_ENOMEM);
    xf_alloc_fail_after(-1);
    assert_ptr_equal(a, before);
    assert_int_equal(cap, 128);
    for (uint64_t i = 0; i < 100; i++)
        assert_true(a[i] == i * 7);
    xf_free(a);
}

/* What `top -H` and /proc show for the calling thread: the name, cut at 15 bytes. */
static void thread_name_shows_in_proc(void **state)
{
    char buf[64] = "";
    FILE *f;

    (void)state;
    xf_thread_name("xf-a-name-longer-than-fifteen");
    f = fopen("/proc/thread-self/comm", "r");
    if (!f)
        skip(); /* not Linux */
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "xf-a-name-longe\n");
    xf_thread_name("unit.core");
}

/* /proc/<pid>/stat: this process's own, a thread's name with spaces and ')' in it, a missing
 * file and garbage. */
static void proc_stat_reads_cpu_memory_and_name(void **state)
{
    struct xf_proc_stat ps;
    char path[64];
    FILE *f;

    (void)state;
    if (xf_proc_stat_read("/proc/self/stat", &ps) == XF_EIO)
        skip(); /* not Linux */
    xf_thread_name("unit core");
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", (long)getpid());
    assert_int_equal(xf_proc_stat_read(path, &ps), 0);
    assert_string_equal(ps.name, "unit core");
    assert_true(ps.cpu_seconds >= 0);
    assert_true(ps.rss > 0 && ps.vsize >= ps.rss);
    assert_true(ps.start_seconds > 0);
    xf_thread_name("unit.core");

    char tmpl[] = "/tmp/xf-proc-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_non_null(f = fdopen(fd, "w"));
    /* a name like "a) (b": only the last ')' ends it; utime 150 + stime 50 ticks */
    fprintf(f, "42 (a) (b) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 3 0 1000 "
               "8192000 500 18446744073709551615\n");
    fclose(f);
    assert_int_equal(xf_proc_stat_read(tmpl, &ps), 0);
    assert_string_equal(ps.name, "a) (b");
    assert_true(ps.cpu_seconds == 200.0 / (double)sysconf(_SC_CLK_TCK));
    assert_true(ps.vsize == 8192000);
    assert_true(ps.rss == 500u * (uint64_t)sysconf(_SC_PAGESIZE));
    assert_non_null(f = fopen(tmpl, "w"));
    fputs("42 (x) S 1 2\n", f);
    fclose(f);
    assert_int_equal(xf_proc_stat_read(tmpl, &ps), XF_EPARSE);
    unlink(tmpl);
    assert_int_equal(xf_proc_stat_read(tmpl, &ps), XF_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(array_grow_doubles_keeps_contents_and_survives_failure),
        cmocka_unit_test(time_parse_accepts_the_formats_real_producers_write),
        cmocka_unit_test(time_parse_rejects_garbage),
        cmocka_unit_test(event_multi_values_stay_together_when_fields_interleave),
        cmocka_unit_test(event_encoding_round_trips),
        cmocka_unit_test(event_add_fails_cleanly_when_allocation_fails),
        cmocka_unit_test(field_lookup_is_case_insensitive),
        cmocka_unit_test(thread_name_shows_in_proc),
        cmocka_unit_test(proc_stat_reads_cpu_memory_and_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
