/*
 * log.c - one line per message on stderr, text or JSON.
 *
 * The line is formatted into a stack buffer and written with a single write(2), so lines from
 * several threads never interleave. Level and format are set once at start-up.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "xf/core.h"

static atomic_int log_level = XF_LOG_INFO;
static atomic_int log_json = 0;

void xf_log_set_level(enum xf_log_level level)
{
    atomic_store(&log_level, (int)level);
}

enum xf_log_level xf_log_get_level(void)
{
    return (enum xf_log_level)atomic_load(&log_level);
}

void xf_log_set_json(int on)
{
    atomic_store(&log_json, on ? 1 : 0);
}

static const char *level_names[] = {"error", "warn", "info", "debug"};

/* Appends s to out as JSON string content (no quotes), escaping what JSON requires. */
static size_t json_escape(char *out, size_t cap, const char *s)
{
    size_t n = 0;

    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
    return n;
}

void xf_log(enum xf_log_level level, const char *fmt, ...)
{
    char msg[2048];
    char line[4608];
    char ts[64];
    struct timespec now;
    struct tm tm;
    va_list ap;
    int n;

    if ((int)level > atomic_load(&log_level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now.tv_nsec / 1000000));
    if (atomic_load(&log_json)) {
        char esc[4200];
        json_escape(esc, sizeof esc, msg);
        n = snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", ts,
                     level_names[level], esc);
    } else {
        n = snprintf(line, sizeof line, "%s %-5s %s\n", ts, level_names[level], msg);
    }
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nothing sensible to do when stderr is gone */
    }
}

int xf_proc_stat_read(const char *path, struct xf_proc_stat *out)
{
    char buf[1024];
    unsigned long long ut, st, start, vsize;
    long long rss;
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return XF_EIO;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold spaces and ')', so cut at the last ')';
     * after it, state is field 3, utime 14, stime 15, starttime 22, vsize 23, rss 24 */
    const char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close || close <= open ||
        sscanf(close + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%llu %llu %lld",
               &ut, &st, &start, &vsize, &rss) != 5)
        return XF_EPARSE;
    double tick = (double)sysconf(_SC_CLK_TCK);
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof out->name, "%.*s", (int)(close - open - 1), open + 1);
    out->cpu_seconds = (double)(ut + st) / tick;
    out->start_seconds = (double)start / tick;
    out->vsize = vsize;
    out->rss = rss > 0 ? (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
    return 0;
}

void xf_thread_name(const char *name)
{
#ifdef __linux__
    char n[16];
    snprintf(n, sizeof n, "%s", name ? name : "");
    (void)prctl(PR_SET_NAME, (unsigned long)n, 0, 0, 0);
#else
    (void)name;
#endif
}
