/*
 * kafka_bench.c - xf-bench-kafka: the measuring half of bench/kafka.sh (the daemon end to end).
 *
 *   xf-bench-kafka raw     --brokers B --topic T --records N
 *       count-only group consumer (xdrflow's tuned settings) over an already filled topic:
 *       records/s from the first record to the N-th, and the consumer's offset_gaps.
 *   xf-bench-kafka wait    --api HOST:PORT --topic T --records N [--pid PID] [--timeout S]
 *       polls a running daemon's /metrics until the committed offsets of T add up to N (every
 *       record durable: the daemon commits an offset only after the records before it, their
 *       graph updates and the incidents they changed are in RocksDB), then prints the rates and
 *       the daemon's peak RSS (VmHWM of PID).
 *   xf-bench-kafka latency --brokers B --topic T --partitions P --api HOST:PORT
 *                          [--rate R] [--seconds S] [--timeout S] [--scrape-ms M] FILE.pb
 *       sends the proto workload at a steady R records/s into T (keyed by host, partition
 *       chosen here) while a daemon consumes it, and reports event-to-incident latency per
 *       attack chain (see below); a chain not durable --timeout s (default 180) after the last
 *       send counts with that wait as its latency and is reported as censored.
 *
 * The one thing to know: "durable" is observed from outside, through the daemon's per-partition
 * xdrflow_committed_offset. A record at (partition, offset) is durable, and any incident it
 * changed is in the store, once that partition's committed offset is > offset. The latency
 * tool learns each sent record's offset from the delivery reports (in order per partition), so
 * it needs no change to the records themselves.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "xf/kafka.h"

#define MAX_PARTS 4096
#define CHAIN_LEN 14 /* xf-gen-workload's Emotet chain: the mail record and 13 on one host */
#define MAX_CHAINS 4096

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- /metrics ------------------------------------------------------------------------------ */

/* GET /metrics over HTTP/1.0 (the server closes after the answer). 0 or -1. */
static int http_get_metrics(const char *host, int port, char **text, size_t *cap)
{
    struct sockaddr_in sa = {0};
    static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    size_t len = 0;
    int fd, rc = -1;

    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
        goto out;
    for (;;) {
        ssize_t k;

        if (len + 65536 + 1 > *cap) {
            size_t ncap = (*cap ? *cap * 2 : 1 << 20);
            char *nt = realloc(*text, ncap);
            if (!nt)
                goto out;
            *text = nt;
            *cap = ncap;
        }
        k = read(fd, *text + len, *cap - len - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            goto out;
        if (k == 0)
            break;
        len += (size_t)k;
    }
    (*text)[len] = '\0';
    rc = strstr(*text, " 200 ") ? 0 : -1;
out:
    close(fd);
    return rc;
}

struct scrape {
    int64_t committed[MAX_PARTS]; /* next offset committed, -1 none yet */
    double records_in, gaps, written, duplicates, decode_errors, incidents, detections, dead;
    double assigned, pauses;
};

static double metric(const char *text, const char *name)
{
    size_t nl = strlen(name);

    for (const char *p = text; (p = strstr(p, name)); p += nl)
        if ((p == text || p[-1] == '\n') && p[nl] == ' ')
            return strtod(p + nl + 1, NULL);
    return -1;
}

static void parse_scrape(const char *text, const char *topic, struct scrape *s)
{
    static const char name[] = "xdrflow_committed_offset{topic=\"";
    size_t tl = strlen(topic);

    for (size_t i = 0; i < MAX_PARTS; i++)
        s->committed[i] = -1;
    for (const char *p = text; (p = strstr(p, name)); p += sizeof name - 1) {
        const char *q = p + sizeof name - 1;
        char *end;
        long part;

        if (strncmp(q, topic, tl) != 0 || strncmp(q + tl, "\",partition=\"", 13) != 0)
            continue;
        part = strtol(q + tl + 13, &end, 10);
        if (part < 0 || part >= MAX_PARTS || strncmp(end, "\"} ", 3) != 0)
            continue;
        s->committed[part] = (int64_t)strtod(end + 3, NULL);
    }
    s->records_in = metric(text, "xdrflow_records_in_total");
    s->gaps = metric(text, "xdrflow_offset_gaps_total");
    s->written = metric(text, "xdrflow_store_events_written_total");
    s->duplicates = metric(text, "xdrflow_duplicates_total");
    s->decode_errors = metric(text, "xdrflow_decode_errors_total");
    s->incidents = metric(text, "xdrflow_incidents");
    s->detections = metric(text, "xdrflow_detections_total");
    s->dead = metric(text, "xdrflow_dead_letters_total");
    s->assigned = metric(text, "xdrflow_assigned_partitions");
    s->pauses = metric(text, "xdrflow_pauses_total");
}

static int split_hostport(const char *hp, char *host, size_t cap, int *port)
{
    const char *c = strrchr(hp, ':');

    if (!c || (size_t)(c - hp) >= cap)
        return -1;
    memcpy(host, hp, (size_t)(c - hp));
    host[c - hp] = '\0';
    *port = (int)strtol(c + 1, NULL, 10);
    return *port > 0 ? 0 : -1;
}

/* VmHWM of pid in MB, or -1. */
static double peak_rss_mb(long pid)
{
    char path[64], line[256];
    double mb = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            mb = strtod(line + 6, NULL) / 1024.0;
    fclose(f);
    return mb;
}

/* User + system CPU seconds of a process (all its threads), or -1. */
static double cpu_seconds(long pid)
{
    char path[64];
    struct xf_proc_stat ps;

    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    return xf_proc_stat_read(path, &ps) ? -1 : ps.cpu_seconds;
}

/* CPU seconds per thread (/proc/<pid>/task/<tid>/stat), summed by thread name for the report:
 * the daemon names its threads (xf-writer, xf-decode, ...), RocksDB and librdkafka theirs. */
#define MAX_TIDS 256
struct tcpu {
    size_t n;
    long tid[MAX_TIDS];
    char name[MAX_TIDS][16];
    double s[MAX_TIDS];
};

static void thread_cpu(long pid, struct tcpu *out)
{
    char path[96];
    DIR *d;
    struct dirent *de;

    memset(out, 0, sizeof(*out));
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    if (!(d = opendir(path)))
        return;
    while ((de = readdir(d)) && out->n < MAX_TIDS) {
        char *name = out->name[out->n];
        struct xf_proc_stat ps;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/%ld/task/%.20s/stat", pid, de->d_name);
        if (xf_proc_stat_read(path, &ps))
            continue; /* gone meanwhile */
        memcpy(name, ps.name, sizeof out->name[0]);
        double sec = ps.cpu_seconds;
        /* "rocksdb:high" and "rocksdb:low" stay apart; numbered librdkafka threads do not */
        for (char *p = name; *p; p++)
            if (*p == ' ')
                *p = '_';
            else if (*p >= '0' && *p <= '9' && strncmp(name, "rdk:", 4) == 0)
                *p = 'N';
        out->tid[out->n] = atol(de->d_name);
        out->s[out->n++] = sec;
    }
    closedir(d);
}

/* " name=seconds ..." of what the threads of each name used between the two samples, biggest
 * first. A thread started in between counts from its start; one that exited in between is
 * missing from the second sample and counted as 0 (its name then gets a '+', the figure being
 * a lower bound). */
/* The index of nm in name[0..*n), added (with used 0) if new; *n when the table is full. */
static size_t name_slot(char name[][16], double *used, size_t *n, const char *nm)
{
    size_t k = 0;

    while (k < *n && strcmp(name[k], nm) != 0)
        k++;
    if (k == *n && *n < MAX_TIDS) {
        snprintf(name[k], 16, "%s", nm);
        used[(*n)++] = 0;
    }
    return k;
}

static void print_thread_cpu(const struct tcpu *a, const struct tcpu *b)
{
    char name[MAX_TIDS][16];
    double used[MAX_TIDS];
    int partial[MAX_TIDS] = {0}, done[MAX_TIDS] = {0};
    size_t n = 0;

    for (size_t i = 0; i < b->n; i++) {
        double u = b->s[i];
        for (size_t j = 0; j < a->n; j++)
            if (a->tid[j] == b->tid[i])
                u -= a->s[j];
        size_t k = name_slot(name, used, &n, b->name[i]);
        if (k < n)
            used[k] += u;
    }
    for (size_t j = 0; j < a->n; j++) {
        int alive = 0;
        for (size_t i = 0; i < b->n && !alive; i++)
            alive = a->tid[j] == b->tid[i];
        if (alive)
            continue;
        size_t k = name_slot(name, used, &n, a->name[j]);
        if (k < n)
            partial[k] = 1;
    }
    printf("daemon_threads");
    for (size_t r = 0; r < n; r++) {
        size_t best = SIZE_MAX;
        for (size_t k = 0; k < n; k++)
            if (!done[k] && (best == SIZE_MAX || used[k] > used[best]))
                best = k;
        done[best] = 1;
        if (used[best] >= 0.005 || partial[best])
            printf(" %s%s=%.2f", name[best], partial[best] ? "+" : "", used[best]);
    }
    printf("\n");
}

/* ---- raw ----------------------------------------------------------------------------------- */

static int cmd_raw(const char *bs, const char *topic, uint64_t n)
{
    const char *topics[] = {topic};
    struct xf_kafka_consumer_opts o = {0};
    struct xf_kafka_consumer *c = NULL;
    struct xf_kafka_record *recs = malloc(8192 * sizeof(*recs));
    struct xf_kafka_consumer_stats st;
    char group[64];
    uint64_t got = 0, bytes = 0;
    double t0 = 0, t1, start = now_s(), idle_since = now_s();

    snprintf(group, sizeof group, "bench-raw-%ld", (long)time(NULL));
    o.brokers = bs;
    o.group = group;
    o.topics = topics;
    o.n_topics = 1;
    if (!recs || xf_kafka_consumer_create(&o, &c) < 0) {
        free(recs);
        return 1;
    }
    while (got < n) {
        size_t k = 0;

        if (xf_kafka_consumer_poll(c, recs, 8192, &k, 100) < 0)
            break;
        if (k && !t0)
            t0 = now_s(); /* the group join (~3 s on the devbroker) is not reading */
        for (size_t i = 0; i < k; i++)
            bytes += recs[i].len;
        got += k;
        if (k)
            idle_since = now_s();
        else if (now_s() - idle_since > 20)
            break;
    }
    t1 = now_s();
    xf_kafka_consumer_get_stats(c, &st);
    xf_kafka_consumer_destroy(c);
    free(recs);
    printf("raw_consumer records=%" PRIu64 " bytes=%" PRIu64 " seconds=%.2f rate=%.0f "
           "with_join_seconds=%.2f offset_gaps=%" PRIu64 "\n",
           got, bytes, t1 - t0, t0 ? (double)got / (t1 - t0) : 0.0, t1 - start, st.offset_gaps);
    return got == n && st.offset_gaps == 0 ? 0 : 1;
}

/* ---- wait ---------------------------------------------------------------------------------- */

static int cmd_wait(const char *api, const char *topic, uint64_t n, long pid, double timeout)
{
    char host[64];
    int port;
    char *text = NULL;
    size_t cap = 0;
    struct scrape *s = calloc(1, sizeof *s);
    double t0 = now_s(), t_first = 0, t_done = 0, rss = -1, cpu0 = -1, cpu = -1;
    struct tcpu tc0 = {0}, tc1 = {0};
    int status = 1;

    if (!s || split_hostport(api, host, sizeof host, &port))
        goto out;
    while (now_s() - t0 < timeout) {
        uint64_t sum = 0;

        if (pid > 0) {
            double r = peak_rss_mb(pid);
            if (r > rss)
                rss = r;
        }
        if (http_get_metrics(host, port, &text, &cap) == 0) {
            parse_scrape(text, topic, s);
            for (size_t i = 0; i < MAX_PARTS; i++)
                sum += s->committed[i] > 0 ? (uint64_t)s->committed[i] : 0;
            if (!t_first && s->records_in > 0) {
                t_first = now_s();
                cpu0 = pid > 0 ? cpu_seconds(pid) : -1;
                if (pid > 0)
                    thread_cpu(pid, &tc0);
            }
            if (sum >= n) {
                t_done = now_s();
                break;
            }
        }
        usleep(50000);
    }
    if (!t_done) {
        fprintf(stderr, "xf-bench-kafka wait: not all %" PRIu64 " records durable after %.0f s\n",
                n, timeout);
        goto out;
    }
    if (pid > 0) {
        double r = peak_rss_mb(pid);
        if (r > rss)
            rss = r;
        cpu = cpu_seconds(pid);
        thread_cpu(pid, &tc1);
    }
    /* CPU the daemon spent from its first record to the last one durable, per record: the
     * figure a machine shared with the broker and the producer changes least */
    printf("daemon_end_to_end records=%" PRIu64 " seconds=%.2f rate=%.0f "
           "from_first_record_seconds=%.2f rate_from_first=%.0f peak_rss_mb=%.1f "
           "cpu_seconds=%.2f cpu_us_per_record=%.1f "
           "records_in=%.0f events_written=%.0f duplicates=%.0f decode_errors=%.0f "
           "dead_letters=%.0f offset_gaps=%.0f incidents=%.0f detections=%.0f pauses=%.0f\n",
           n, t_done - t0, (double)n / (t_done - t0), t_done - t_first,
           (double)n / (t_done - t_first), rss, cpu >= 0 && cpu0 >= 0 ? cpu - cpu0 : -1.0,
           cpu >= 0 && cpu0 >= 0 ? (cpu - cpu0) * 1e6 / (double)n : -1.0, s->records_in, s->written,
           s->duplicates, s->decode_errors, s->dead, s->gaps, s->incidents, s->detections,
           s->pauses);
    if (pid > 0)
        print_thread_cpu(&tc0, &tc1);
    status = s->gaps == 0 ? 0 : 1;
out:
    free(text);
    free(s);
    return status;
}

/* ---- latency ------------------------------------------------------------------------------- */

struct rec_ref {
    int32_t part;
    uint32_t k; /* the k-th record sent to that partition (0-based) */
};

struct chain {
    struct rec_ref recs[CHAIN_LEN];
    int n;
    double sent; /* when its last (completing) record was handed to the producer */
    double done; /* first scrape that showed every record of it committed; 0 not yet */
};

struct lat {
    pthread_mutex_t mu;
    int32_t parts;
    int64_t *off[MAX_PARTS]; /* off[p][k]: offset of the k-th record delivered to p */
    uint32_t cap[MAX_PARTS], delivered[MAX_PARTS], sent[MAX_PARTS];
    struct chain chains[MAX_CHAINS];
    size_t n_chains;
    int stop;
    char host[64];
    int port;
    const char *topic;
    uint64_t scrapes, failed;
    int scrape_ms;
};

static void on_delivery(const char *topic, int32_t partition, int64_t offset, int err, void *ud)
{
    struct lat *l = ud;
    uint32_t k;

    (void)topic;
    if (err || partition < 0 || partition >= l->parts) {
        l->failed++;
        return;
    }
    pthread_mutex_lock(&l->mu);
    k = l->delivered[partition]++;
    if (k >= l->cap[partition]) {
        uint32_t ncap = l->cap[partition] ? l->cap[partition] * 2 : 4096;
        int64_t *no = realloc(l->off[partition], ncap * sizeof(*no));
        if (no) {
            l->off[partition] = no;
            l->cap[partition] = ncap;
        }
    }
    if (k < l->cap[partition])
        l->off[partition][k] = offset;
    pthread_mutex_unlock(&l->mu);
}

/* The scraping thread: every scrape_ms (default 50), marks the chains whose records are all
 * committed. Each scrape makes the daemon render /metrics (hundreds of partitions), so a
 * tight interval loads the very thing measured: 10 ms took ~10 % of a CPU on this VM. */
static void *scraper(void *ud)
{
    struct lat *l = ud;
    struct scrape *s = calloc(1, sizeof *s);
    char *text = NULL;
    size_t cap = 0;

    while (s) {
        int stop;
        double t;

        pthread_mutex_lock(&l->mu);
        stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (stop)
            break;
        if (http_get_metrics(l->host, l->port, &text, &cap) == 0) {
            t = now_s(); /* the answer reflects a moment before this: an upper bound */
            parse_scrape(text, l->topic, s);
            pthread_mutex_lock(&l->mu);
            l->scrapes++;
            for (size_t c = 0; c < l->n_chains; c++) {
                struct chain *ch = &l->chains[c];
                int all = ch->n == CHAIN_LEN;

                for (int i = 0; all && i < ch->n; i++) {
                    const struct rec_ref *r = &ch->recs[i];
                    all = r->k < l->delivered[r->part] &&
                          s->committed[r->part] > l->off[r->part][r->k];
                }
                if (all && !ch->done)
                    ch->done = t;
            }
            pthread_mutex_unlock(&l->mu);
        }
        usleep((useconds_t)l->scrape_ms * 1000);
    }
    free(text);
    free(s);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static int cmd_latency(const char *bs, const char *topic, int parts, const char *api, double rate,
                       double seconds, double wait_s, int scrape_ms, const char *file)
{
    struct lat *l = calloc(1, sizeof *l);
    struct xf_kafka_producer *p = NULL;
    struct xf_reader *r = NULL;
    struct xf_event ev;
    pthread_t th;
    int th_ok = 0, status = 1, in_chain = 0;
    uint64_t n = 0, limit = (uint64_t)(rate * seconds);
    double t0, t_end, t_giveup, lag_max = 0;
    size_t censored = 0;
    double *lat = NULL;
    size_t n_lat = 0;
    struct xf_kafka_producer_stats ps;

    xf_event_init(&ev);
    if (!l || parts < 1 || parts > MAX_PARTS ||
        split_hostport(api, l->host, sizeof l->host, &l->port))
        goto out;
    pthread_mutex_init(&l->mu, NULL);
    l->parts = parts;
    l->topic = topic;
    l->scrape_ms = scrape_ms;
    if (xf_kafka_producer_create(bs, NULL, 0, &p) < 0 || xf_reader_open(file, XF_FMT_PROTO, &r) < 0)
        goto out;
    xf_kafka_producer_on_delivery(p, on_delivery, l);
    th_ok = pthread_create(&th, NULL, scraper, l) == 0;
    t0 = now_s();
    while (n < limit) {
        const char *data, *where, *host = "";
        char err[XF_ERRMSG_MAX];
        size_t len;
        int32_t part;
        double due = t0 + (double)n / rate, t;
        int rc = xf_reader_next(r, &data, &len, &where);

        if (rc <= 0)
            break;
        /* steady rate: wait for this record's slot (1 ms granularity); never burst to catch
         * up by more than what the sleep overshot */
        while ((t = now_s()) < due) {
            struct timespec ts = {0, 1000000};
            if (due - t < 0.001)
                ts.tv_nsec = (long)((due - t) * 1e9);
            nanosleep(&ts, NULL);
        }
        if (t - due > lag_max)
            lag_max = t - due;
        if (xf_decode(XF_FMT_PROTO, data, len, &ev, NULL, err) == 0) {
            const char *h = xf_event_get(&ev, XF_F_HOST);
            if (h)
                host = h;
            if (ev.category == XF_CAT_EMAIL)
                in_chain = 1; /* only the chains carry mail: it opens one */
        } else {
            in_chain = 0;
        }
        part = (int32_t)(crc32(0L, (const Bytef *)host, (uInt)strlen(host)) % (uLong)parts);
        pthread_mutex_lock(&l->mu);
        if (in_chain && l->n_chains < MAX_CHAINS) {
            struct chain *ch = &l->chains[l->n_chains];
            ch->recs[ch->n].part = part;
            ch->recs[ch->n].k = l->sent[part];
            if (++ch->n == CHAIN_LEN) {
                ch->sent = t;
                l->n_chains++;
                in_chain = 0;
            }
        }
        l->sent[part]++;
        pthread_mutex_unlock(&l->mu);
        if (xf_kafka_producer_send(p, topic, part, host, strlen(host), data, len, NULL, 0) < 0)
            goto out;
        n++;
    }
    t_end = now_s();
    while (xf_kafka_producer_flush(p, 1000) == XF_EAGAIN)
        ;
    fprintf(stderr,
            "latency: sent %" PRIu64 " records in %.2f s (%.0f/s), %zu chains; waiting "
            "for the last chains to become durable\n",
            n, t_end - t0, (double)n / (t_end - t0), l->n_chains);
    /* wait (bounded) until every chain is done */
    for (double w0 = now_s(); now_s() - w0 < wait_s;) {
        size_t done = 0;

        pthread_mutex_lock(&l->mu);
        for (size_t c = 0; c < l->n_chains; c++)
            done += l->chains[c].done > 0;
        pthread_mutex_unlock(&l->mu);
        if (done == l->n_chains)
            break;
        usleep(100000);
    }
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_mutex_unlock(&l->mu);
    if (th_ok)
        pthread_join(th, NULL);
    th_ok = 0;
    lat = calloc(l->n_chains + 1, sizeof *lat);
    if (!lat)
        goto out;
    /* a chain not durable when the wait ended counts with the wait as its latency: every
     * figure it enters is then a lower bound, which the output says (censored=K) */
    t_giveup = now_s();
    for (size_t c = 0; c < l->n_chains; c++) {
        const struct chain *ch = &l->chains[c];
        lat[n_lat++] = ((ch->done > 0 ? ch->done : t_giveup) - ch->sent) * 1000.0;
        censored += ch->done <= 0;
    }
    xf_kafka_producer_get_stats(p, &ps);
    if (n_lat) {
        double first = lat[0], last = lat[n_lat - 1];
        qsort(lat, n_lat, sizeof *lat, cmp_double);
        printf("latency records=%" PRIu64 " seconds=%.2f rate=%.0f chains=%zu measured=%zu "
               "p50_ms=%.0f p90_ms=%.0f p99_ms=%.0f max_ms=%.0f min_ms=%.0f first_chain_ms=%.0f "
               "last_chain_ms=%.0f scrapes=%" PRIu64 " scrape_ms=%d send_behind_max_ms=%.1f "
               "delivered=%" PRIu64 " failed=%" PRIu64 " censored=%zu\n",
               n, t_end - t0, (double)n / (t_end - t0), l->n_chains, n_lat, lat[(n_lat - 1) / 2],
               lat[(size_t)((double)(n_lat - 1) * 0.90)], lat[(size_t)((double)(n_lat - 1) * 0.99)],
               lat[n_lat - 1], lat[0], first, last, l->scrapes, l->scrape_ms, lag_max * 1000,
               ps.delivered, ps.failed, censored);
    }
    status = censored == 0 && n_lat > 0 && ps.failed == 0 ? 0 : 1;
out:
    if (th_ok) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_mutex_unlock(&l->mu);
        pthread_join(th, NULL);
    }
    xf_reader_destroy(r);
    xf_kafka_producer_destroy(p);
    xf_event_close(&ev);
    for (int i = 0; l && i < MAX_PARTS; i++)
        free(l->off[i]);
    free(lat);
    free(l);
    return status;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"records", required_argument, NULL, 'n'},
        {"api", required_argument, NULL, 'a'},
        {"pid", required_argument, NULL, 'P'},
        {"timeout", required_argument, NULL, 'T'},
        {"partitions", required_argument, NULL, 'p'},
        {"rate", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'},
        {"scrape-ms", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    const char *bs = NULL, *topic = NULL, *api = NULL, *cmd;
    uint64_t n = 0;
    long pid = 0;
    int parts = 0, opt, scrape_ms = 50;
    double timeout = -1, rate = 50000, seconds = 60;

    if (argc < 2) {
        fprintf(stderr,
                "usage: xf-bench-kafka raw|wait|latency [options] (see bench/kafka_bench.c)\n");
        return 2;
    }
    cmd = argv[1];
    optind = 2;
    while ((opt = getopt_long(argc, argv, "b:t:n:a:P:T:p:r:s:S:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            bs = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'n':
            n = strtoull(optarg, NULL, 10);
            break;
        case 'a':
            api = optarg;
            break;
        case 'P':
            pid = strtol(optarg, NULL, 10);
            break;
        case 'T':
            timeout = strtod(optarg, NULL);
            break;
        case 'p':
            parts = (int)strtol(optarg, NULL, 10);
            break;
        case 'r':
            rate = strtod(optarg, NULL);
            break;
        case 's':
            seconds = strtod(optarg, NULL);
            break;
        case 'S':
            scrape_ms = (int)strtol(optarg, NULL, 10);
            if (scrape_ms < 1 || scrape_ms > 10000)
                return 2;
            break;
        default:
            return 2;
        }
    }
    xf_log_set_level(XF_LOG_ERROR);
    if (strcmp(cmd, "raw") == 0 && bs && topic && n)
        return cmd_raw(bs, topic, n);
    if (strcmp(cmd, "wait") == 0 && api && topic && n)
        return cmd_wait(api, topic, n, pid, timeout > 0 ? timeout : 1800);
    if (strcmp(cmd, "latency") == 0 && bs && topic && api && parts > 0 && optind < argc &&
        rate > 0 && seconds > 0)
        return cmd_latency(bs, topic, parts, api, rate, seconds, timeout > 0 ? timeout : 180,
                           scrape_ms, argv[optind]);
    fprintf(stderr, "xf-bench-kafka: bad arguments for '%s'\n", cmd);
    return 2;
}
