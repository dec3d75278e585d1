/*
 * cmd_devbroker.c - `xdrflow devbroker`: the development Kafka broker (librdkafka's mock
 * cluster) in the foreground, for local work and tests. Not for production.
 *
 * The one thing to know: stdout is a protocol. The first line is "bootstrap: ADDR[,ADDR...]",
 * flushed at once so a test can read it; after that every control command read on stdin gets
 * exactly one answer line ("ok ..." or "error ..."). Log lines go to stderr only.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "xf/kafka.h"

#define MAX_TOPICS 64

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: xdrflow devbroker [options]\n\n"
            "Runs a Kafka-protocol development broker (librdkafka's mock cluster) on 127.0.0.1\n"
            "in the foreground until SIGINT or SIGTERM. FOR DEVELOPMENT AND TESTS ONLY: it\n"
            "keeps everything in memory, and it keeps only about the newest 5 MiB (and\n"
            "100,000 batches) per partition, silently deleting older records. A consumer that\n"
            "falls further behind than that loses records (xdrflow logs and counts the gap).\n"
            "Use more partitions, or keep consumers up, for large volumes.\n\n"
            "Topics created: xdr.email xdr.endpoint xdr.network xdr.alerts (or --topics) and\n"
            "always xdr.deadletter. Other topics are created on first use.\n\n"
            "options:\n"
            "  -b, --brokers N     brokers in the cluster (default 1)\n"
            "  -p, --partitions N  partitions per topic (default 1)\n"
            "  -t, --topics LIST   comma-separated topics instead of the four defaults\n"
            "  -P, --port P        fixed bootstrap port: a forwarder on 127.0.0.1:P relays to the\n"
            "                      brokers, whose own ports stay ephemeral (clients learn them\n"
            "                      from the metadata, as with any Kafka cluster)\n"
            "  -h, --help          this text\n\n"
            "stdout: the first line is \"bootstrap: 127.0.0.1:PORT[,...]\". Then commands read\n"
            "on stdin, one per line, are answered with one line each, \"ok ...\" or\n"
            "\"error: ...\" (for fault injection from tests):\n"
            "  down ID             take broker ID (1-based) down: connections are closed and\n"
            "                      refused until \"up ID\"; its partitions are unavailable\n"
            "  up ID               bring broker ID back\n"
            "  errors API ERR N    fail the next N requests of Kafka API key API (a number, or\n"
            "                      produce, fetch, listoffsets, metadata, offsetcommit,\n"
            "                      offsetfetch, findcoordinator, joingroup, heartbeat,\n"
            "                      syncgroup, initproducerid) with Kafka error code ERR\n"
            "                      (e.g. 6 NOT_LEADER_FOR_PARTITION, 7 REQUEST_TIMED_OUT,\n"
            "                      15 COORDINATOR_NOT_AVAILABLE, 16 NOT_COORDINATOR)\n"
            "  bootstrap           print the bootstrap line again\n"
            "  ping                answers \"ok ping\"\n"
            "  quit                stop, as SIGTERM does\n\n"
            "Exit status: 0 stopped by a signal or quit, 1 could not start, 2 usage error.\n");
}

static const struct {
    const char *name;
    int key;
} api_names[] = {
    {"produce", 0},      {"fetch", 1},       {"listoffsets", 2},      {"metadata", 3},
    {"offsetcommit", 8}, {"offsetfetch", 9}, {"findcoordinator", 10}, {"joingroup", 11},
    {"heartbeat", 12},   {"leavegroup", 13}, {"syncgroup", 14},       {"initproducerid", 22},
};

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || !end || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_api(const char *s, long *out)
{
    for (size_t i = 0; i < XF_ARRAY_LEN(api_names); i++)
        if (xf_strcaseeq(s, api_names[i].name)) {
            *out = api_names[i].key;
            return 0;
        }
    return parse_int(s, 0, 1000, out);
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

/* Runs one control line. */
static void command(struct xf_devbroker *d, char *line)
{
    char *argv[5];
    int argc = 0;
    char *p = line;
    long a = 0, b = 0, c = 0;

    while (argc < 5) {
        while (*p == ' ' || *p == '\t' || *p == '\r')
            *p++ = '\0';
        if (!*p)
            break;
        argv[argc++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r')
            p++;
    }
    if (argc == 0)
        return;
    if (strcmp(argv[0], "ping") == 0) {
        reply("ok ping");
    } else if (strcmp(argv[0], "bootstrap") == 0) {
        reply("bootstrap: %s", xf_devbroker_bootstraps(d));
    } else if (strcmp(argv[0], "quit") == 0) {
        reply("ok quit");
        stop_requested = 1;
    } else if ((strcmp(argv[0], "down") == 0 || strcmp(argv[0], "up") == 0) && argc == 2 &&
               parse_int(argv[1], 1, 1000, &a) == 0) {
        int down = argv[0][0] == 'd';

        if (xf_devbroker_set_down(d, (int)a, down) == 0)
            reply("ok %s %ld", argv[0], a);
        else
            reply("error: no broker %ld", a);
    } else if (strcmp(argv[0], "errors") == 0 && argc == 4 && parse_api(argv[1], &a) == 0 &&
               parse_int(argv[2], -1000, 1000, &b) == 0 && parse_int(argv[3], 1, 100000, &c) == 0) {
        if (xf_devbroker_push_errors(d, (int)a, (int)b, (size_t)c) == 0)
            reply("ok errors %ld %ld %ld", a, b, c);
        else
            reply("error: cannot push errors");
    } else {
        reply("error: unknown command (down ID | up ID | errors API ERR N | bootstrap | ping "
              "| quit)");
    }
}

/* Reads what stdin has and runs every complete line. Returns -1 at end of input. */
static int read_commands(struct xf_devbroker *d, char *buf, size_t cap, size_t *len)
{
    ssize_t n = read(STDIN_FILENO, buf + *len, cap - 1 - *len);
    char *nl;

    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
        return -1;
    if (n < 0)
        return 0;
    *len += (size_t)n;
    buf[*len] = '\0';
    while ((nl = memchr(buf, '\n', *len)) != NULL) {
        size_t used = (size_t)(nl - buf) + 1;

        *nl = '\0';
        command(d, buf);
        memmove(buf, buf + used, *len - used);
        *len -= used;
        buf[*len] = '\0';
    }
    if (*len == cap - 1) {
        reply("error: line too long");
        *len = 0;
    }
    return 0;
}

int xf_cmd_devbroker(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'b'}, {"partitions", required_argument, NULL, 'p'},
        {"topics", required_argument, NULL, 't'},  {"port", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *topics[MAX_TOPICS + 1];
    char *topic_list = NULL;
    struct xf_devbroker_opts o = {0};
    struct xf_devbroker *d = NULL;
    struct sigaction sa;
    char line[4096];
    size_t line_len = 0;
    int stdin_open = 1;
    int opt, rc = 2;
    long v;

    o.brokers = 1;
    o.partitions = 1;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "b:p:t:P:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            if (parse_int(optarg, 1, 64, &v) < 0) {
                fprintf(stderr, "xdrflow devbroker: --brokers wants 1..64\n");
                goto out;
            }
            o.brokers = (int)v;
            break;
        case 'p':
            if (parse_int(optarg, 1, 10000, &v) < 0) {
                fprintf(stderr, "xdrflow devbroker: --partitions wants 1..10000\n");
                goto out;
            }
            o.partitions = (int)v;
            break;
        case 't':
            xf_free(topic_list);
            topic_list = xf_strdup(optarg);
            break;
        case 'P':
            if (parse_int(optarg, 1, 65535, &v) < 0) {
                fprintf(stderr, "xdrflow devbroker: --port wants 1..65535\n");
                goto out;
            }
            o.port = (int)v;
            break;
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        usage(stderr);
        goto out;
    }
    if (topic_list) {
        for (char *p = topic_list; p && *p && o.n_topics < MAX_TOPICS;) {
            char *comma = strchr(p, ',');

            if (comma)
                *comma = '\0';
            if (*p)
                topics[o.n_topics++] = p;
            p = comma ? comma + 1 : NULL;
        }
    } else {
        static const char *const defaults[] = {"xdr.email", "xdr.endpoint", "xdr.network",
                                               "xdr.alerts"};

        for (size_t i = 0; i < XF_ARRAY_LEN(defaults); i++)
            topics[o.n_topics++] = defaults[i];
    }
    {
        int have_dlq = 0;

        for (size_t i = 0; i < o.n_topics; i++)
            have_dlq |= strcmp(topics[i], "xdr.deadletter") == 0;
        if (!have_dlq)
            topics[o.n_topics++] = "xdr.deadletter";
    }
    o.topics = topics;

    rc = 1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (xf_devbroker_start(&o, &d) < 0) {
        fprintf(stderr, "xdrflow devbroker: cannot start the mock cluster\n");
        goto out;
    }
    reply("bootstrap: %s", xf_devbroker_bootstraps(d));
    fprintf(stderr,
            "xdrflow devbroker: %d broker(s), %d partition(s) per topic; development only: "
            "keeps ~5 MiB per partition\n",
            o.brokers, o.partitions);
    while (!stop_requested) {
        struct pollfd pf = {.fd = STDIN_FILENO, .events = POLLIN};

        if (!stdin_open) {
            /* no control input (stdin closed or /dev/null): just wait for a signal */
            poll(NULL, 0, 200);
            continue;
        }
        if (poll(&pf, 1, 200) > 0 && read_commands(d, line, sizeof(line), &line_len) < 0)
            stdin_open = 0;
    }
    fprintf(stderr, "xdrflow devbroker: stopping\n");
    rc = 0;
out:
    xf_devbroker_stop(d);
    xf_free(topic_list);
    return rc;
}
