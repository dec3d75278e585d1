/*
 * cmd_demo.c - `xdrflow demo`: the newcomer's first command.
 *
 * Starts an in-process development broker, sends the bundled recording of an Emotet outbreak
 * into it (mail records to xdr.email, connections and DNS to xdr.network, the rest to
 * xdr.endpoint, keyed by host as `produce` does), runs the full daemon on a temporary database,
 * waits until every record is durable, prints the incidents, and serves /metrics, /healthz and
 * /readyz until Ctrl-C (--once: exits after printing). Nothing here is special-cased for the
 * demo: it is the same daemon an operator runs, fed through the real Kafka protocol, with an
 * allowed lateness wide enough for a recording that is read partition by partition.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "xf/correlate.h"
#include "xf/daemon.h"
#include "xf/ingest.h"
#include "xf/kafka.h"
#include "xf/store.h"

#ifndef XF_DEMO_DATA
#define XF_DEMO_DATA "tests/data/emotet-outbreak.ecs.jsonl"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: xdrflow demo [--once] [--api ADDR:PORT] [--input FILE] [--format text|json]\n\n"
            "Shows xdrflow end to end in one command: an embedded development Kafka broker,\n"
            "a recorded Emotet outbreak (phishing mail to three users, two open it, macro ->\n"
            "WMI -> PowerShell -> DLL -> C2, SMB spread to a file server, spam) sent into it,\n"
            "the daemon correlating it into RocksDB on a temporary database, and the incident\n"
            "printed. Then the daemon keeps serving its HTTP endpoints until Ctrl-C.\n\n"
            "options:\n"
            "  --once            exit after printing the incidents\n"
            "  --api ADDR:PORT   where to serve /metrics /healthz /readyz (default\n"
            "                    127.0.0.1:8080; 127.0.0.1:0 picks a free port)\n"
            "  --input FILE      another recording instead of the bundled one\n"
            "                    (default: $XDRFLOW_DEMO_DATA, else the bundled file)\n"
            "  --format F        text (default) or json, one incident per line\n"
            "  -h, --help        this text\n");
}

static const char *topic_for(const struct xf_event *ev)
{
    switch (ev->category) {
    case XF_CAT_EMAIL:
        return "xdr.email";
    case XF_CAT_NETWORK:
    case XF_CAT_DNS:
        return "xdr.network";
    case XF_CAT_ALERT:
        return "xdr.alerts";
    default:
        return "xdr.endpoint";
    }
}

/* Sends every record of path; returns the number sent or a negative error. */
static long produce_file(struct xf_kafka_producer *p, const char *path)
{
    struct xf_reader *r = NULL;
    struct xf_event ev;
    long sent = 0;
    int rc;

    if ((rc = xf_reader_open(path, XF_FMT_AUTO, &r)))
        return rc;
    xf_event_init(&ev);
    for (;;) {
        const char *data, *where;
        size_t len;
        char err[XF_ERRMSG_MAX];
        rc = xf_reader_next(r, &data, &len, &where);
        if (rc == 0)
            break;
        if (rc < 0) {
            if (rc == XF_ETOOBIG)
                continue;
            break;
        }
        const char *host = "", *topic = "xdr.endpoint";
        if (xf_decode(XF_FMT_AUTO, data, len, &ev, NULL, err) == 0) {
            host = xf_event_get(&ev, XF_F_HOST) ? xf_event_get(&ev, XF_F_HOST) : "";
            topic = topic_for(&ev);
        }
        rc = xf_kafka_producer_send(p, topic, -1, host, strlen(host), data, len, NULL, 0);
        if (rc)
            break;
        sent++;
    }
    xf_event_close(&ev);
    xf_reader_destroy(r);
    if (rc < 0)
        return rc;
    rc = xf_kafka_producer_flush(p, 30000);
    return rc ? rc : sent;
}

struct runner {
    struct xf_daemon *d;
    int rc;
};

static void *run_daemon(void *arg)
{
    struct runner *r = arg;

    r->rc = xf_daemon_run(r->d);
    return NULL;
}

struct print_ctx {
    int json;
    size_t n;
};

static int print_incident(const char *id, const char *json, size_t len, void *ud)
{
    struct print_ctx *pc = ud;
    struct xf_buf b;

    pc->n++;
    if (pc->json) {
        fwrite(json, 1, len, stdout);
        fputc('\n', stdout);
        return 0;
    }
    xf_buf_init(&b);
    if (xf_incident_render_text(json, len, &b) == 0) {
        fwrite(b.data, 1, b.len, stdout);
        fputc('\n', stdout);
    }
    xf_buf_close(&b);
    return 0;
}

static int print_incidents(const char *db, int json)
{
    struct xf_store *st = NULL;
    struct xf_store_opts so = {.read_only = 1};
    struct print_ctx pc = {.json = json};
    int rc = xf_store_open(db, &so, &st);

    if (rc)
        return -1;
    xf_store_incidents_scan(st, print_incident, &pc);
    xf_store_close(st);
    fflush(stdout);
    return (int)pc.n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int xf_cmd_demo(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"once", no_argument, NULL, 'O'},        {"api", required_argument, NULL, 'a'},
        {"input", required_argument, NULL, 'i'}, {"format", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *api = "127.0.0.1:8080";
    const char *input = getenv("XDRFLOW_DEMO_DATA");
    int once = 0, json = 0, c, status = 1;
    const char *topics[] = {"xdr.email", "xdr.endpoint", "xdr.network", "xdr.alerts",
                            "xdr.deadletter"};
    struct xf_devbroker *broker = NULL;
    struct xf_kafka_producer *prod = NULL;
    struct xf_config cfg;
    struct runner run = {0};
    pthread_t thr;
    int started = 0;
    char tmpdir[] = "/tmp/xdrflow-demo-XXXXXX";
    char db[sizeof tmpdir + 8];
    char why[256];

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'O':
            once = 1;
            break;
        case 'a':
            api = optarg;
            break;
        case 'i':
            input = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
                fprintf(stderr, "xdrflow demo: unknown format '%s'\n", optarg);
                return 2;
            }
            json = !strcmp(optarg, "json");
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!input)
        input =
            access(XF_DEMO_DATA, R_OK) == 0 ? XF_DEMO_DATA : "tests/data/emotet-outbreak.ecs.jsonl";
    if (xf_config_init(&cfg))
        return 1;
    if (!mkdtemp(tmpdir)) {
        perror("xdrflow demo: temporary directory");
        goto out;
    }
    snprintf(db, sizeof db, "%s/db", tmpdir);

    struct xf_devbroker_opts bo = {
        .brokers = 1, .partitions = 3, .topics = topics, .n_topics = XF_ARRAY_LEN(topics)};
    if (xf_devbroker_start(&bo, &broker)) {
        fprintf(stderr, "xdrflow demo: cannot start the development broker\n");
        goto out;
    }
    fprintf(stderr, "demo: development broker at %s\n", xf_devbroker_bootstraps(broker));
    if (xf_kafka_producer_create(xf_devbroker_bootstraps(broker), NULL, 0, &prod))
        goto out;
    long sent = produce_file(prod, input);
    if (sent < 0) {
        fprintf(stderr, "xdrflow demo: cannot send %s: %s\n", input, xf_strerror((int)sent));
        goto out;
    }
    fprintf(stderr, "demo: sent %ld records of %s, keyed by host\n", sent, input);

    if (xf_config_set(&cfg, "kafka.brokers", xf_devbroker_bootstraps(broker), why, sizeof why) ||
        xf_config_set(&cfg, "store.path", db, why, sizeof why) ||
        xf_config_set(&cfg, "api.listen", api, why, sizeof why) ||
        xf_config_set(&cfg, "kafka.group", "xdrflow-demo", why, sizeof why) ||
        /* a recording sent in bulk is read partition by partition: hosts arrive hours apart
         * in event time, far beyond the lateness a live stream needs */
        xf_config_set(&cfg, "correlation.lateness", "48h", why, sizeof why)) {
        fprintf(stderr, "xdrflow demo: %s\n", why);
        goto out;
    }
    if (xf_daemon_create(&cfg, &run.d)) {
        fprintf(stderr,
                "xdrflow demo: the daemon did not start (is %s in use? try --api "
                "127.0.0.1:0)\n",
                api);
        goto out;
    }
    xf_daemon_install_signals(run.d);
    if (pthread_create(&thr, NULL, run_daemon, &run))
        goto out;
    started = 1;

    /* wait until every record sent is durable (bounded: two minutes) */
    uint64_t done = 0, incidents = 0;
    for (int i = 0; i < 1200 && (long)done < sent; i++) {
        sleep_ms(100);
        xf_daemon_progress(run.d, &done, &incidents);
    }
    if ((long)done < sent) {
        fprintf(stderr, "xdrflow demo: only %llu of %ld records were processed in time\n",
                (unsigned long long)done, sent);
        goto out;
    }
    fprintf(stderr, "demo: %llu records correlated into %llu incident(s), stored in %s\n\n",
            (unsigned long long)done, (unsigned long long)incidents, db);
    if (print_incidents(db, json) < 1) {
        fprintf(stderr, "xdrflow demo: no incident found\n");
        goto out;
    }
    status = 0;
    if (!once) {
        int port = xf_daemon_api_port(run.d);
        fprintf(stderr,
                "demo: the daemon keeps running: http://127.0.0.1:%d/metrics, /healthz, "
                "/readyz\n"
                "      xdrflow incidents list --db %s   (from another terminal)\n"
                "      Ctrl-C to stop\n",
                port, db);
        pthread_join(thr, NULL);
        started = 0;
    }
out:
    if (started) {
        xf_daemon_stop(run.d);
        pthread_join(thr, NULL);
    }
    xf_daemon_destroy(run.d);
    xf_kafka_producer_destroy(prod);
    xf_devbroker_stop(broker);
    xf_config_close(&cfg);
    if (tmpdir[sizeof tmpdir - 2] != 'X') {
        char cmd[sizeof tmpdir + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "xdrflow demo: could not remove %s\n", tmpdir);
    }
    return status;
}
