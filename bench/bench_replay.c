/*
 * bench_replay.c - xf-bench-replay: events/s of replay with persistence, next to the ceilings
 * that bound it (bare JSON parsing, decoding alone, RocksDB writes alone).
 *
 * Each measurement runs in its own forked child and sends its figures back over a pipe, so
 * the peak RSS printed for a line (getrusage ru_maxrss of that child) is that stage's own and
 * not the high-water mark of whatever ran before it. The one thing to know: every line times
 * one whole pass over the same file (or, for store_only, over the first --store-events events
 * held in memory), on a fresh temporary database, so the lines can be divided by each other.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xf/core.h"
#include "xf/engine.h"
#include "xf/event.h"
#include "xf/ingest.h"
#include "xf/store.h"

/* What one measurement sends back to the parent. */
struct result {
    int rc;
    uint64_t events;
    uint64_t errors; /* records that failed to decode */
    double seconds;
    long maxrss_kb;
    uint64_t db_bytes; /* size of the database directory afterwards */
    uint64_t incidents;
    char note[160];
};

struct opts {
    const char *file;
    enum xf_format fmt;
    const char *tmp;
    uint64_t store_events;
    int threads;
    const char *rules;
    const char *only;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int nthreads(const struct opts *o)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    if (o->threads > 0)
        return o->threads;
    return cpus > 0 ? (int)cpus : 2;
}

/* ---- temporary database directories -------------------------------------------------------- */

static uint64_t du_total;

static int du_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    if (type == FTW_F)
        du_total += (uint64_t)st->st_size;
    return 0;
}

static int rm_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

/* Size of the tree at path, then the tree removed. Runs in the child only. */
static uint64_t du_and_remove(const char *path)
{
    du_total = 0;
    nftw(path, du_cb, 16, FTW_PHYS);
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return du_total;
}

static int make_tmpdir(const char *base, const char *tag, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s/xf-bench-%s-XXXXXX", base, tag);
    if (!mkdtemp(out)) {
        fprintf(stderr, "xf-bench-replay: mkdtemp %s: %s\n", out, strerror(errno));
        return XF_EIO;
    }
    return 0;
}

/* ---- bare_jansson: the parse ceiling for ECS ----------------------------------------------- */

static void run_bare_jansson(const struct opts *o, struct result *r)
{
    FILE *f = fopen(o->file, "rb");
    struct xf_buf b;
    size_t start = 0;
    double t0;
    int rc = 0;

    xf_buf_init(&b);
    if (!f) {
        r->rc = XF_EIO;
        return;
    }
    t0 = now_s();
    /* big reads split at newlines: the cheapest way to get lines, so the figure is jansson */
    for (;;) {
        char *nl;
        if ((rc = xf_buf_reserve(&b, 1 << 20)))
            break;
        size_t got = fread(b.data + b.len, 1, 1 << 20, f);
        if (got == 0)
            break;
        b.len += got;
        while ((nl = memchr(b.data + start, '\n', b.len - start))) {
            size_t n = (size_t)(nl - (b.data + start));
            if (n) {
                json_error_t jerr;
                json_t *j = json_loadb(b.data + start, n, 0, &jerr);
                if (j)
                    r->events++;
                else
                    r->errors++;
                json_decref(j);
            }
            start += n + 1;
        }
        memmove(b.data, b.data + start, b.len - start);
        b.len -= start;
        start = 0;
    }
    r->seconds = now_s() - t0;
    r->rc = rc;
    xf_buf_close(&b);
    fclose(f);
}

/* ---- decode_only: reader + decoder on one thread, one reused event ------------------------- */

static void run_decode_only(const struct opts *o, struct result *r)
{
    struct xf_reader *rd = NULL;
    struct xf_event ev;
    double t0 = now_s();
    int rc;

    xf_event_init(&ev);
    if ((rc = xf_reader_open(o->file, o->fmt, &rd)))
        goto out;
    for (;;) {
        const char *data, *where;
        size_t len;
        char err[XF_ERRMSG_MAX];
        rc = xf_reader_next(rd, &data, &len, &where);
        if (rc == 0)
            break;
        if (rc < 0 && rc != XF_ETOOBIG)
            goto out;
        if (rc < 0) {
            r->errors++;
            continue;
        }
        if (xf_decode(o->fmt, data, len, &ev, NULL, err) == 0)
            r->events++;
        else if (r->errors++ == 0)
            snprintf(r->note, sizeof r->note, "first error: %s: %.100s", where, err);
    }
    rc = 0;
    r->seconds = now_s() - t0;
out:
    r->rc = rc;
    xf_reader_destroy(rd);
    xf_event_close(&ev);
}

/* ---- decode_parallel: reader thread + N decode workers, no correlation, no store ----------- */

#define PB_RECORDS 512
#define PB_POOL 16

struct pbatch {
    struct xf_buf raw;
    size_t off[PB_RECORDS];
    size_t len[PB_RECORDS];
    size_t n;
    int last;
};

struct pqueue {
    struct pbatch *items[PB_POOL + 1];
    size_t head, count;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

struct pctx {
    const struct opts *o;
    struct pqueue free_q, work_q;
    pthread_mutex_t mu;
    uint64_t decoded, errors;
};

static void pq_push(struct pqueue *q, struct pbatch *b)
{
    pthread_mutex_lock(&q->mu);
    q->items[(q->head + q->count) % XF_ARRAY_LEN(q->items)] = b;
    q->count++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static struct pbatch *pq_pop(struct pqueue *q)
{
    struct pbatch *b;

    pthread_mutex_lock(&q->mu);
    while (q->count == 0)
        pthread_cond_wait(&q->cv, &q->mu);
    b = q->items[q->head];
    q->head = (q->head + 1) % XF_ARRAY_LEN(q->items);
    q->count--;
    pthread_mutex_unlock(&q->mu);
    return b;
}

static void *pworker(void *arg)
{
    struct pctx *c = arg;
    struct xf_event ev;
    uint64_t ok = 0, bad = 0;

    xf_event_init(&ev);
    for (;;) {
        struct pbatch *b = pq_pop(&c->work_q);
        if (b->last) {
            pq_push(&c->work_q, b); /* let the other workers see the end too */
            break;
        }
        for (size_t i = 0; i < b->n; i++) {
            char err[XF_ERRMSG_MAX];
            if (xf_decode(c->o->fmt, b->raw.data + b->off[i], b->len[i], &ev, NULL, err) == 0)
                ok++;
            else
                bad++;
        }
        pq_push(&c->free_q, b);
    }
    pthread_mutex_lock(&c->mu);
    c->decoded += ok;
    c->errors += bad;
    pthread_mutex_unlock(&c->mu);
    xf_event_close(&ev);
    return NULL;
}

static void run_decode_parallel(const struct opts *o, struct result *r)
{
    static struct pbatch pool[PB_POOL];
    struct pctx c = {.o = o};
    pthread_t th[16];
    int n = nthreads(o), started = 0, rc;
    struct xf_reader *rd = NULL;
    struct pbatch *b;
    double t0 = now_s();

    if (n > (int)XF_ARRAY_LEN(th))
        n = (int)XF_ARRAY_LEN(th);
    pthread_mutex_init(&c.mu, NULL);
    pthread_mutex_init(&c.free_q.mu, NULL);
    pthread_cond_init(&c.free_q.cv, NULL);
    pthread_mutex_init(&c.work_q.mu, NULL);
    pthread_cond_init(&c.work_q.cv, NULL);
    for (size_t i = 0; i < PB_POOL; i++) {
        xf_buf_init(&pool[i].raw);
        pq_push(&c.free_q, &pool[i]);
    }
    for (; started < n; started++)
        if (pthread_create(&th[started], NULL, pworker, &c))
            break;
    rc = started ? xf_reader_open(o->file, o->fmt, &rd) : XF_EINTERNAL;
    b = pq_pop(&c.free_q);
    b->n = 0;
    xf_buf_reset(&b->raw);
    while (!rc) {
        const char *data, *where;
        size_t len;
        int got = xf_reader_next(rd, &data, &len, &where);
        if (got == 0)
            break;
        if (got < 0) {
            if (got != XF_ETOOBIG)
                rc = got;
            continue;
        }
        b->off[b->n] = b->raw.len;
        b->len[b->n] = len;
        if ((rc = xf_buf_append(&b->raw, data, len)) || (rc = xf_buf_append(&b->raw, "", 1)))
            break;
        if (++b->n == PB_RECORDS) {
            pq_push(&c.work_q, b);
            b = pq_pop(&c.free_q);
            b->n = 0;
            xf_buf_reset(&b->raw);
        }
    }
    if (b->n) {
        pq_push(&c.work_q, b);
        b = pq_pop(&c.free_q);
    }
    b->n = 0;
    b->last = 1;
    pq_push(&c.work_q, b);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    r->seconds = now_s() - t0;
    r->events = c.decoded;
    r->errors = c.errors;
    r->rc = rc;
    snprintf(r->note, sizeof r->note, "%d decode threads", started);
    xf_reader_destroy(rd);
    for (size_t i = 0; i < PB_POOL; i++)
        xf_buf_close(&pool[i].raw);
}

/* ---- store_only: RocksDB writes as the engine does them ------------------------------------ */

static void run_store_only(const struct opts *o, struct result *r)
{
    struct xf_reader *rd = NULL;
    struct xf_store *st = NULL;
    struct xf_store_batch *sb = NULL;
    struct xf_event ev;
    struct xf_buf packed;
    size_t *offs = NULL, n = 0, cap = 0;
    char dir[4096] = "";
    double t0, t_unpack;
    int rc;

    xf_event_init(&ev);
    xf_buf_init(&packed);
    if ((rc = xf_reader_open(o->file, o->fmt, &rd)))
        goto out;
    while (n < o->store_events) {
        const char *data, *where;
        size_t len;
        char err[XF_ERRMSG_MAX];
        rc = xf_reader_next(rd, &data, &len, &where);
        if (rc == 0)
            break;
        if (rc < 0 || xf_decode(o->fmt, data, len, &ev, NULL, err))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            size_t *p = xf_realloc(offs, (ncap + 1) * sizeof *p);
            if (!p) {
                rc = XF_ENOMEM;
                goto out;
            }
            offs = p;
            cap = ncap;
        }
        offs[n++] = packed.len;
        if ((rc = xf_event_encode(&ev, &packed)))
            goto out;
    }
    rc = 0;
    if (!offs)
        goto out;
    offs[n] = packed.len;

    /* how much of the figure below is only turning the packed form back into events */
    t0 = now_s();
    for (size_t i = 0; i < n && !rc; i++)
        rc = xf_event_decode(&ev, packed.data + offs[i], offs[i + 1] - offs[i]);
    t_unpack = now_s() - t0;

    if (rc || (rc = make_tmpdir(o->tmp, "store", dir, sizeof dir)))
        goto out;
    t0 = now_s();
    if ((rc = xf_store_open(dir, NULL, &st)) || (rc = xf_store_batch_create(&sb)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        if ((rc = xf_event_decode(&ev, packed.data + offs[i], offs[i + 1] - offs[i])))
            goto out;
        rc = xf_store_event_exists(st, &ev);
        if (rc < 0)
            goto out;
        if (rc == 1)
            continue;
        if ((rc = xf_store_batch_put_event(sb, &ev)))
            goto out;
        r->events++;
        if (xf_store_batch_count(sb) >= 4096 && (rc = xf_store_batch_commit(st, sb)))
            goto out;
    }
    if ((rc = xf_store_batch_commit(st, sb)))
        goto out;
    xf_store_batch_destroy(sb);
    sb = NULL;
    xf_store_close(st);
    st = NULL;
    r->seconds = now_s() - t0;
    snprintf(r->note, sizeof r->note, "incl. %.2fs unpacking events; %.0f MB packed in memory",
             t_unpack, (double)packed.len / 1e6);
out:
    r->rc = rc;
    xf_store_batch_destroy(sb);
    xf_store_close(st);
    if (dir[0])
        r->db_bytes = du_and_remove(dir);
    xf_reader_destroy(rd);
    xf_free(offs);
    xf_buf_close(&packed);
    xf_event_close(&ev);
}

/* ---- end_to_end: the engine as `xdrflow replay --db` runs it ------------------------------- */

static int count_incident(const struct xf_incident_view *inc, void *ud)
{
    (*(uint64_t *)ud)++;
    return 0;
}

static void run_engine(const struct opts *o, struct result *r, int persist)
{
    struct xf_engine_opts eo = {.format = o->fmt, .decode_threads = o->threads};
    struct xf_engine *e = NULL;
    struct xf_engine_stats s;
    const char *files[1] = {o->file};
    const char *rules[1] = {o->rules};
    char dir[4096] = "";
    double t0;
    int rc;

    if (o->rules) {
        eo.rule_paths = rules;
        eo.n_rule_paths = 1;
    }
    eo.max_errors_shown = 5;
    if (persist) {
        if ((rc = make_tmpdir(o->tmp, "e2e", dir, sizeof dir)))
            goto out;
        eo.db_path = dir;
    }
    t0 = now_s();
    if ((rc = xf_engine_create(&eo, &e)))
        goto out;
    if ((rc = xf_engine_replay_files(e, files, 1)))
        goto out;
    xf_engine_get_stats(e, &s);
    xf_engine_incidents(e, count_incident, &r->incidents);
    xf_engine_destroy(e);
    e = NULL;
    r->seconds = now_s() - t0;
    r->events = s.decoded;
    r->errors = s.decode_errors;
    snprintf(r->note, sizeof r->note,
             "%" PRIu64 " incidents, %" PRIu64 " detections, %" PRIu64 " nodes left, %" PRIu64
             " evicted",
             r->incidents, s.corr.detections, s.corr.nodes, s.corr.evicted);
out:
    r->rc = rc;
    xf_engine_destroy(e);
    if (dir[0])
        r->db_bytes = du_and_remove(dir);
}

/* ---- driver -------------------------------------------------------------------------------- */

struct bench {
    const char *name;
    int json_only;
    void (*run)(const struct opts *o, struct result *r);
};

static void run_correlate_nodb(const struct opts *o, struct result *r)
{
    run_engine(o, r, 0);
}

static void run_end_to_end(const struct opts *o, struct result *r)
{
    run_engine(o, r, 1);
}

static const struct bench benches[] = {
    {"bare_jansson", 1, run_bare_jansson},       {"decode_only", 0, run_decode_only},
    {"decode_parallel", 0, run_decode_parallel}, {"store_only", 0, run_store_only},
    {"engine_no_db", 0, run_correlate_nodb},     {"end_to_end", 0, run_end_to_end},
};

static int selected(const char *only, const char *name)
{
    size_t n = strlen(name);

    if (!only)
        return 1;
    for (const char *p = only; (p = strstr(p, name)); p += n)
        if ((p == only || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return 1;
    return 0;
}

/* Runs b in a child process and returns its result (rc < 0 when the child died). */
static void run_in_child(const struct bench *b, const struct opts *o, struct result *r)
{
    int fds[2];
    pid_t pid;
    int status;

    memset(r, 0, sizeof *r);
    if (pipe(fds)) {
        r->rc = XF_EIO;
        return;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        r->rc = XF_EIO;
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        struct rusage ru;
        close(fds[0]);
        b->run(o, r);
        getrusage(RUSAGE_SELF, &ru);
        r->maxrss_kb = ru.ru_maxrss;
        if (write(fds[1], r, sizeof *r) != (ssize_t)sizeof *r)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], r, sizeof *r) != (ssize_t)sizeof *r) {
        memset(r, 0, sizeof *r);
        r->rc = XF_EINTERNAL;
        snprintf(r->note, sizeof r->note, "child died");
    }
    close(fds[0]);
    waitpid(pid, &status, 0);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: xf-bench-replay --format ecs|proto [options] FILE\n\n"
                 "Prints one line per measurement: name, events, seconds, events/s, peak RSS.\n\n"
                 "  -f, --format F        input format of FILE (ecs, proto, sysmon, winevt, auto)\n"
                 "  -t, --tmp DIR         where temporary databases go (default $TMPDIR or /tmp)\n"
                 "  -n, --store-events N  events held in memory for store_only (default 1000000)\n"
                 "  -j, --threads N       decode threads (default: number of CPUs)\n"
                 "  -r, --rules DIR       Sigma rules for the engine runs (default: bundled pack)\n"
                 "  -o, --only LIST       comma-separated subset of: bare_jansson, decode_only,\n"
                 "                        decode_parallel, store_only, engine_no_db, end_to_end\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"tmp", required_argument, NULL, 't'},
        {"store-events", required_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 'j'},
        {"rules", required_argument, NULL, 'r'},
        {"only", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct opts o = {.fmt = XF_FMT_AUTO, .store_events = 1000000};
    int c, status = 0;
    char *end;

    o.tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    while ((c = getopt_long(argc, argv, "f:t:n:j:r:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (xf_format_from_name(optarg, &o.fmt)) {
                fprintf(stderr, "xf-bench-replay: unknown format '%s'\n", optarg);
                return 2;
            }
            break;
        case 't':
            o.tmp = optarg;
            break;
        case 'n':
            o.store_events = strtoull(optarg, &end, 10);
            if (*end || !o.store_events) {
                fprintf(stderr, "xf-bench-replay: bad --store-events\n");
                return 2;
            }
            break;
        case 'j':
            o.threads = (int)strtol(optarg, &end, 10);
            if (*end || o.threads < 1 || o.threads > 16) {
                fprintf(stderr, "xf-bench-replay: --threads takes 1..16\n");
                return 2;
            }
            break;
        case 'r':
            o.rules = optarg;
            break;
        case 'o':
            o.only = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    o.file = argv[optind];
    xf_log_set_level(XF_LOG_WARN);

    printf("# file=%s format=%s\n", xf_path_basename(o.file), xf_format_name(o.fmt));
    printf("%-16s %10s %9s %10s %8s %8s  %s\n", "measure", "events", "seconds", "events/s",
           "rss_MB", "db_MB", "note");
    for (size_t i = 0; i < XF_ARRAY_LEN(benches); i++) {
        const struct bench *b = &benches[i];
        struct result r;
        if (!selected(o.only, b->name))
            continue;
        if (b->json_only && o.fmt == XF_FMT_PROTO)
            continue;
        run_in_child(b, &o, &r);
        if (r.rc) {
            printf("%-16s FAILED: %s %s\n", b->name, xf_strerror(r.rc), r.note);
            status = 1;
            continue;
        }
        printf("%-16s %10" PRIu64 " %9.2f %10.0f %8.1f %8.1f  %s%s", b->name, r.events, r.seconds,
               r.seconds > 0 ? (double)r.events / r.seconds : 0.0, (double)r.maxrss_kb / 1024.0,
               (double)r.db_bytes / 1048576.0, r.note, r.errors ? "" : "\n");
        if (r.errors)
            printf("%s%" PRIu64 " bad records\n", r.note[0] ? "; " : "", r.errors);
        fflush(stdout);
    }
    return status;
}
