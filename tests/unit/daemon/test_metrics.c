/*
 * test_metrics.c - the Prometheus text format the daemon's /metrics writes: HELP and TYPE
 * lines, integer and fractional samples, and label values escaped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"

static void test_counter_has_help_type_and_integer_sample(void **state)
{
    struct xf_buf b;

    xf_buf_init(&b);
    assert_int_equal(xf_prom_metric(&b, "xdrflow_records_in_total", "counter", "Records.", 42), 0);
    assert_string_equal(b.data, "# HELP xdrflow_records_in_total Records.\n"
                                "# TYPE xdrflow_records_in_total counter\n"
                                "xdrflow_records_in_total 42\n");
    xf_buf_close(&b);
}

static void test_gauge_fraction_and_negative(void **state)
{
    struct xf_buf b;

    xf_buf_init(&b);
    assert_int_equal(xf_prom_sample(&b, "age", NULL, 0, 1.25), 0);
    assert_int_equal(xf_prom_sample(&b, "lag", NULL, 0, -1), 0);
    assert_string_equal(b.data, "age 1.25\nlag -1\n");
    xf_buf_close(&b);
}

static void test_labels_are_escaped(void **state)
{
    struct xf_buf b;
    const char *labels[4] = {"topic", "a\"b\\c\nd", "partition", "3"};

    xf_buf_init(&b);
    assert_int_equal(xf_prom_sample(&b, "xdrflow_consumer_lag", labels, 2, 7), 0);
    assert_string_equal(b.data,
                        "xdrflow_consumer_lag{topic=\"a\\\"b\\\\c\\nd\",partition=\"3\"} 7\n");
    xf_buf_close(&b);
}

/* The process metrics as Prometheus client libraries name them, and CPU per thread name. */
static void test_process_metrics(void **state)
{
    struct xf_buf b;
    double rss = 0;

    if (access("/proc/self/stat", R_OK) != 0)
        skip(); /* not Linux */
    xf_buf_init(&b);
    xf_thread_name("metrics-test");
    assert_int_equal(xf_prom_process(&b), 0);
    assert_non_null(strstr(b.data, "# TYPE process_cpu_seconds_total counter\n"));
    const char *p = strstr(b.data, "\nprocess_resident_memory_bytes ");
    assert_non_null(p);
    rss = strtod(p + strlen("\nprocess_resident_memory_bytes "), NULL);
    assert_true(rss > 1e5);
    assert_non_null(strstr(b.data, "\nprocess_virtual_memory_bytes "));
    assert_non_null(strstr(b.data, "\nprocess_start_time_seconds "));
    assert_non_null(strstr(b.data, "\nprocess_open_fds "));
    assert_non_null(strstr(b.data, "xdrflow_thread_cpu_seconds_total{thread=\"metrics-test\"} "));
    xf_buf_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_has_help_type_and_integer_sample),
        cmocka_unit_test(test_gauge_fraction_and_negative),
        cmocka_unit_test(test_labels_are_escaped),
        cmocka_unit_test(test_process_metrics),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
