/*
 * metrics.c - the Prometheus text format (version 0.0.4) for the daemon's /metrics.
 *
 * The one thing to know: label values are escaped here, so a topic name can never break the
 * exposition; everything else is written as given, and the callers use fixed metric names.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "metrics.h"

int xf_prom_header(struct xf_buf *b, const char *name, const char *type, const char *help)
{
    return xf_buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int append_escaped(struct xf_buf *b, const char *s)
{
    int rc = 0;

    for (; *s && !rc; s++) {
        if (*s == '\\')
            rc = xf_buf_appends(b, "\\\\");
        else if (*s == '"')
            rc = xf_buf_appends(b, "\\\"");
        else if (*s == '\n')
            rc = xf_buf_appends(b, "\\n");
        else
            rc = xf_buf_append(b, s, 1);
    }
    return rc;
}

int xf_prom_sample(struct xf_buf *b, const char *name, const char *const *labels, size_t n,
                   double value)
{
    int rc = xf_buf_appends(b, name);

    if (n && !rc) {
        rc = xf_buf_appends(b, "{");
        for (size_t i = 0; i < n && !rc; i++) {
            rc = xf_buf_appendf(b, "%s%s=\"", i ? "," : "", labels[2 * i]);
            if (!rc)
                rc = append_escaped(b, labels[2 * i + 1]);
            if (!rc)
                rc = xf_buf_appends(b, "\"");
        }
        if (!rc)
            rc = xf_buf_appends(b, "}");
    }
    if (rc)
        return rc;
    if (value == floor(value) && fabs(value) < 9.0e15)
        return xf_buf_appendf(b, " %lld\n", (long long)value);
    return xf_buf_appendf(b, " %.6g\n", value);
}

int xf_prom_metric(struct xf_buf *b, const char *name, const char *type, const char *help,
                   double value)
{
    int rc = xf_prom_header(b, name, type, help);

    return rc ? rc : xf_prom_sample(b, name, NULL, 0, value);
}

/* ---- the process itself ------------------------------------------------------------------ */

#define THREAD_NAMES_MAX 64

/* Seconds since the epoch at boot, from /proc/stat's btime (0 when unknown). */
static double boot_time(void)
{
    char line[256];
    double bt = 0;
    FILE *f = fopen("/proc/stat", "r");

    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lf", &bt) == 1)
            break;
    fclose(f);
    return bt;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int n = 0;

    if (!d)
        return -1;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory stream's own */
}

int xf_prom_process(struct xf_buf *b)
{
    struct xf_proc_stat ps;
    struct rlimit rl;
    int rc = 0;

    if (xf_proc_stat_read("/proc/self/stat", &ps) == 0) {
        rc |= xf_prom_metric(b, "process_cpu_seconds_total", "counter",
                             "Total user and system CPU time spent in seconds.", ps.cpu_seconds);
        rc |= xf_prom_metric(b, "process_resident_memory_bytes", "gauge",
                             "Resident memory size in bytes.", (double)ps.rss);
        rc |= xf_prom_metric(b, "process_virtual_memory_bytes", "gauge",
                             "Virtual memory size in bytes.", (double)ps.vsize);
        double bt = boot_time();
        if (bt > 0)
            rc |= xf_prom_metric(b, "process_start_time_seconds", "gauge",
                                 "Start time of the process since unix epoch in seconds.",
                                 bt + ps.start_seconds);
    }
    int fds = count_fds();
    if (fds >= 0)
        rc |=
            xf_prom_metric(b, "process_open_fds", "gauge", "Number of open file descriptors.", fds);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        rc |= xf_prom_metric(b, "process_max_fds", "gauge",
                             "Maximum number of open file descriptors.", (double)rl.rlim_cur);

    /* CPU per thread name: which stage is busy (xf-input, xf-decode, xf-writer, the main
     * thread correlating, RocksDB's and librdkafka's own). Threads of one name add up. */
    char names[THREAD_NAMES_MAX][16];
    double secs[THREAD_NAMES_MAX];
    size_t n = 0;
    DIR *d = opendir("/proc/self/task");
    struct dirent *de;
    if (!d)
        return rc;
    while ((de = readdir(d))) {
        char path[64];
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%.20s/stat", de->d_name);
        if (xf_proc_stat_read(path, &ps))
            continue; /* exited meanwhile */
        size_t i = 0;
        while (i < n && strcmp(names[i], ps.name) != 0)
            i++;
        if (i == n) {
            if (n == THREAD_NAMES_MAX)
                continue;
            memcpy(names[n], ps.name, sizeof names[n]);
            secs[n++] = 0;
        }
        secs[i] += ps.cpu_seconds;
    }
    closedir(d);
    rc |= xf_prom_header(b, "xdrflow_thread_cpu_seconds_total", "counter",
                         "CPU seconds of the live threads of each name (a thread that exited "
                         "no longer counts).");
    for (size_t i = 0; i < n; i++) {
        const char *labels[2] = {"thread", names[i]};
        rc |= xf_prom_sample(b, "xdrflow_thread_cpu_seconds_total", labels, 1, secs[i]);
    }
    return rc;
}
