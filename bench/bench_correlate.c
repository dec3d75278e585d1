/*
 * bench_correlate.c - xf-bench-correlate: events/s and memory of the correlator alone, fed as
 * the engine feeds it (add per event; drain_edges and flush every 4,096 events; incidents at
 * the end), with no decoding and no store in the timed part.
 *
 * The one thing to know: the file is decoded once and held in memory in the packed form of
 * xf_event_encode (untimed), because a million unpacked events would not fit; the timed loop
 * unpacks each event before adding it, so an unpack-only pass is timed too and subtracted
 * ("corr_s"). Peak RSS includes the packed input, so the RSS before the timed loop is printed
 * beside it.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "xf/core.h"
#include "xf/correlate.h"
#include "xf/event.h"
#include "xf/ingest.h"
#include "xf/rules.h"

#define FLUSH_EVERY 4096

struct counts {
    uint64_t edges;
    uint64_t reported;
    uint64_t gone;
    uint64_t incidents;
    uint64_t bytes;
    uint64_t digest; /* over every JSON reported and listed, in order: equal runs, equal output */
};

static void mix(struct counts *n, const struct xf_incident_view *v)
{
    n->digest = xf_hash64_seed(v->id, strlen(v->id), n->digest);
    if (v->json)
        n->digest = xf_hash64_seed(v->json, v->len, n->digest);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resident set now, from /proc/self/statm (ru_maxrss only gives the peak). */
static double rss_now_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;

    if (!f)
        return 0.0;
    if (fscanf(f, "%ld %ld", &pages, &res) != 2)
        res = 0;
    fclose(f);
    return (double)res * (double)sysconf(_SC_PAGESIZE) / 1e6;
}

/* CPU seconds of this process: less sensitive than wall time to a machine shared with
 * other jobs. */
static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double rss_peak_mb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1e3;
}

static int on_edge(const struct xf_graph_edge *e, void *ud)
{
    (void)e;
    ((struct counts *)ud)->edges++;
    return 0;
}

static int on_reported(const struct xf_incident_view *v, void *ud)
{
    ((struct counts *)ud)->reported++;
    mix(ud, v);
    return 0;
}

static int on_gone(const struct xf_incident_view *v, void *ud)
{
    ((struct counts *)ud)->gone++;
    mix(ud, v);
    return 0;
}

static int on_incident(const struct xf_incident_view *v, void *ud)
{
    struct counts *n = ud;

    n->incidents++;
    n->bytes += v->len;
    mix(n, v);
    return 0;
}

/* Decodes the whole file into packed events; offs[i]..offs[i+1] is event i. */
static int load(const char *path, struct xf_buf *packed, size_t **offs_out, size_t *n_out)
{
    struct xf_reader *rd = NULL;
    struct xf_event ev;
    enum xf_format fmt = XF_FMT_PROTO;
    size_t *offs = NULL, n = 0, cap = 0;
    size_t plen = strlen(path);
    uint64_t bad = 0;
    int rc;

    if (plen < 3 || strcmp(path + plen - 3, ".pb") != 0)
        fmt = XF_FMT_ECS;
    xf_event_init(&ev);
    if ((rc = xf_reader_open(path, fmt, &rd)))
        goto out;
    for (;;) {
        const char *data, *where;
        size_t len;
        char err[XF_ERRMSG_MAX];
        rc = xf_reader_next(rd, &data, &len, &where);
        if (rc == 0)
            break;
        if (rc < 0 || xf_decode(fmt, data, len, &ev, NULL, err)) {
            bad++;
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 65536;
            size_t *p = xf_realloc(offs, (nc + 1) * sizeof(*p));
            if (!p) {
                rc = XF_ENOMEM;
                goto out;
            }
            offs = p;
            cap = nc;
        }
        offs[n++] = packed->len;
        if ((rc = xf_event_encode(&ev, packed)))
            goto out;
    }
    rc = 0;
    if (!offs) {
        rc = XF_EINVAL;
        goto out;
    }
    offs[n] = packed->len;
    if (bad)
        fprintf(stderr, "%" PRIu64 " records did not decode\n", bad);
out:
    xf_reader_destroy(rd);
    xf_event_close(&ev);
    *offs_out = offs;
    *n_out = n;
    return rc;
}

int main(int argc, char **argv)
{
    struct xf_ruleset *rules = NULL;
    struct xf_correlator *c = NULL;
    struct xf_buf packed;
    struct xf_event ev;
    struct counts cnt = {0};
    struct xf_correlate_stats st;
    size_t *offs = NULL, n = 0;
    const char *file = NULL;
    int use_rules = 1;
    double t0, c0, t_unpack, t_all, cpu_all, rss0;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-rules") == 0)
            use_rules = 0;
        else if (argv[i][0] != '-' && !file)
            file = argv[i];
        else {
            file = NULL;
            break;
        }
    }
    if (!file) {
        fprintf(stderr, "usage: xf-bench-correlate FILE(.pb = proto, else ECS) [--no-rules]\n");
        return 2;
    }
    xf_buf_init(&packed);
    xf_event_init(&ev);
    if ((rc = load(file, &packed, &offs, &n))) {
        fprintf(stderr, "cannot read %s: %s\n", file, xf_strerror(rc));
        goto out;
    }
    if (use_rules) {
        const char *dir = xf_rules_default_dir();
        struct xf_rule_errors errs = {0};
        rc = xf_ruleset_load(&dir, 1, &rules, &errs);
        xf_rule_errors_close(&errs);
        if (rc) {
            fprintf(stderr, "cannot load rules: %s\n", xf_strerror(rc));
            goto out;
        }
    }

    t0 = now_s();
    for (size_t i = 0; i < n && !rc; i++)
        rc = xf_event_decode(&ev, packed.data + offs[i], offs[i + 1] - offs[i]);
    t_unpack = now_s() - t0;
    if (rc)
        goto out;

    struct xf_correlate_opts co = {.rules = rules};
    if ((rc = xf_correlator_create(&co, &c)))
        goto out;
    rss0 = rss_now_mb();
    t0 = now_s();
    c0 = cpu_s();
    for (size_t i = 0; i < n; i++) {
        if ((rc = xf_event_decode(&ev, packed.data + offs[i], offs[i + 1] - offs[i])))
            goto out;
        rc = xf_correlator_add(c, &ev);
        if (rc < 0)
            goto out;
        if ((i + 1) % FLUSH_EVERY == 0 &&
            ((rc = xf_correlator_drain_edges(c, on_edge, &cnt)) ||
             (rc = xf_correlator_flush(c, on_reported, on_gone, &cnt))))
            goto out;
    }
    if ((rc = xf_correlator_drain_edges(c, on_edge, &cnt)) ||
        (rc = xf_correlator_flush(c, on_reported, on_gone, &cnt)) ||
        (rc = xf_correlator_incidents(c, on_incident, &cnt)))
        goto out;
    t_all = now_s() - t0;
    cpu_all = cpu_s() - c0;
    xf_correlator_get_stats(c, &st);

    double corr_s = t_all - t_unpack;
    printf("file %s, %zu events, rules %s\n", file, n, use_rules ? "bundled" : "none");
    printf("total_s %.2f  unpack_s %.2f  corr_s %.2f  events/s %.0f (corr only %.0f)\n", t_all,
           t_unpack, corr_s, (double)n / t_all, corr_s > 0 ? (double)n / corr_s : 0.0);
    printf("cpu_s %.2f (%.0f events per CPU second)\n", cpu_all, (double)n / cpu_all);
    printf("rss_before_MB %.1f  peak_rss_MB %.1f  (packed input %.1f MB)\n", rss0, rss_peak_mb(),
           (double)packed.len / 1e6);
    printf("nodes %" PRIu64 "  edges %" PRIu64 "  hubs %" PRIu64 "  pending %" PRIu64
           "  evicted %" PRIu64 "  detections %" PRIu64 "  duplicates %" PRIu64 "\n",
           st.nodes, st.edges, st.hubs, st.pending, st.evicted, st.detections, st.duplicates);
    printf("incidents %" PRIu64 " (%" PRIu64 " JSON bytes)  reported %" PRIu64 "  gone %" PRIu64
           "  edges drained %" PRIu64 "\n",
           cnt.incidents, cnt.bytes, cnt.reported, cnt.gone, cnt.edges);
    printf("output digest %016" PRIx64 "\n", cnt.digest);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "error: %s\n", xf_strerror(rc));
    xf_correlator_destroy(c);
    xf_ruleset_destroy(rules);
    xf_event_close(&ev);
    xf_buf_close(&packed);
    xf_free(offs);
    return rc ? 1 : 0;
}
