/*
 * cmd_replay.c - `xdrflow replay`: correlate recorded telemetry offline.
 *
 * Incidents go to stdout (text, or one JSON object per line); everything else (bad records,
 * the summary, the progress bar) goes to stderr, so stdout can be diffed byte for byte.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "xf/engine.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: xdrflow replay [options] FILE...\n\n"
            "Correlates recorded telemetry (plain, .gz or .zip; JSON lines or length-delimited\n"
            "protobuf) and prints the incidents found. Bad records are reported on stderr as\n"
            "FILE:LINE: reason, counted and skipped.\n\n"
            "options:\n"
            "  -f, --input-format F  auto|ecs|sysmon|winevt|proto (default auto, per record)\n"
            "  -r, --rules DIR       Sigma rules (repeatable; default: the bundled pack)\n"
            "  -l, --links FILE      join specs (default: the bundled rules/links.yaml)\n"
            "  -d, --db DIR          persist events, graph and incidents in this RocksDB\n"
            "                        directory; replaying into it again is idempotent\n"
            "  -o, --format F        text|json (json: one incident per line)\n"
            "  -j, --threads N       decode threads (default: number of CPUs)\n"
            "      --sync            fsync every store commit\n"
            "      --store-edges     with --db, also write every graph edge to the edges\n"
            "                        column family (incidents carry their graph without it)\n"
            "      --no-progress     no progress bar even on a terminal\n"
            "  -q, --quiet           no summary line\n"
            "  -h, --help            this text\n\n"
            "Exit status: 0 done (even if some records were bad), 1 a file could not be read\n"
            "or a fatal error, 2 usage error.\n");
}

struct out_ctx {
    int json;
    size_t count;
    struct xf_buf buf;
};

static int print_incident(const struct xf_incident_view *inc, void *ud)
{
    struct out_ctx *o = ud;

    o->count++;
    if (o->json) {
        fwrite(inc->json, 1, inc->len, stdout);
        fputc('\n', stdout);
        return 0;
    }
    xf_buf_reset(&o->buf);
    if (xf_incident_render_text(inc->json, inc->len, &o->buf) == 0) {
        fwrite(o->buf.data, 1, o->buf.len, stdout);
        fputc('\n', stdout);
    }
    return 0;
}

int xf_cmd_replay(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input-format", required_argument, NULL, 'f'},
        {"rules", required_argument, NULL, 'r'},
        {"links", required_argument, NULL, 'l'},
        {"db", required_argument, NULL, 'd'},
        {"format", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 'j'},
        {"sync", no_argument, NULL, 'S'},
        {"store-edges", no_argument, NULL, 'E'},
        {"no-progress", no_argument, NULL, 'P'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct xf_engine_opts opts = {0};
    const char *rules[32];
    size_t n_rules = 0;
    struct out_ctx out = {0};
    struct xf_engine *e = NULL;
    int quiet = 0, progress = isatty(STDERR_FILENO);
    int c, rc, status = 1;
    struct timespec t0, t1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "f:r:l:d:o:j:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (xf_format_from_name(optarg, &opts.format)) {
                fprintf(stderr, "xdrflow replay: unknown input format '%s'\n", optarg);
                return 2;
            }
            break;
        case 'r':
            if (n_rules == XF_ARRAY_LEN(rules)) {
                fprintf(stderr, "xdrflow replay: too many --rules\n");
                return 2;
            }
            rules[n_rules++] = optarg;
            break;
        case 'l':
            opts.links_path = optarg;
            break;
        case 'd':
            opts.db_path = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
                fprintf(stderr, "xdrflow replay: unknown output format '%s'\n", optarg);
                return 2;
            }
            out.json = !strcmp(optarg, "json");
            break;
        case 'j': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 64) {
                fprintf(stderr, "xdrflow replay: --threads takes 1..64\n");
                return 2;
            }
            opts.decode_threads = (int)n;
            break;
        }
        case 'S':
            opts.sync = 1;
            break;
        case 'E':
            opts.store_edges = 1;
            break;
        case 'P':
            progress = 0;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "xdrflow replay: no input files\n\n");
        usage(stderr);
        return 2;
    }
    opts.rule_paths = n_rules ? rules : NULL;
    opts.n_rule_paths = n_rules;
    opts.progress = progress;
    opts.errors = stderr;
    xf_buf_init(&out.buf);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((rc = xf_engine_create(&opts, &e))) {
        fprintf(stderr, "xdrflow replay: cannot start: %s\n", xf_strerror(rc));
        goto out;
    }
    rc = xf_engine_replay_files(e, (const char *const *)argv + optind, (size_t)(argc - optind));
    if (rc) {
        fprintf(stderr, "xdrflow replay: failed: %s\n", xf_strerror(rc));
        goto out;
    }
    xf_engine_incidents(e, print_incident, &out);
    fflush(stdout);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!quiet) {
        struct xf_engine_stats st;
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        xf_engine_get_stats(e, &st);
        fprintf(stderr,
                "replayed %llu records from %d file(s) in %.2f s (%.0f records/s): %llu events, "
                "%llu bad, %llu duplicates, %zu incident(s)%s\n",
                (unsigned long long)st.records, argc - optind, secs,
                secs > 0 ? (double)st.records / secs : 0.0, (unsigned long long)st.decoded,
                (unsigned long long)(st.decode_errors), (unsigned long long)st.duplicates,
                out.count, st.file_errors ? "; some files could not be read" : "");
    }
    /* bad records are data (exit 0); a file that could not be read is a failed replay */
    struct xf_engine_stats fin;
    xf_engine_get_stats(e, &fin);
    status = fin.file_errors ? 1 : 0;
out:
    xf_engine_destroy(e);
    xf_buf_close(&out.buf);
    return status;
}
