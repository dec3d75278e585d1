/*
 * cmd_run.c - `xdrflow run`: the daemon (Kafka -> decode -> correlate -> RocksDB, plus /metrics,
 * /healthz and /readyz).
 *
 * Precedence, lowest first: the defaults of the config table, the YAML file (-c), XDRFLOW_*
 * environment variables, then flags. The option help and docs/config.md come from the same
 * table (xf_config_write_reference), so they cannot drift from what the parser accepts.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "xf/daemon.h"

static void usage(FILE *out)
{
    struct xf_buf ref;

    fprintf(out,
            "usage: xdrflow run [-c xdrflow.yaml] [--brokers HOST:PORT] [--db DIR] [--api ADDR]\n"
            "                   [--check-config] [--config-reference]\n\n"
            "Runs the daemon: consumes the configured Kafka topics in a consumer group, decodes,\n"
            "correlates and stores in RocksDB, and commits an offset only once everything up to\n"
            "it is durable. SIGTERM/SIGINT finish in-flight work, commit and exit 0; SIGHUP\n"
            "reloads the rules (a bad rule file keeps the old ones). With `xdrflow devbroker`\n"
            "remember that the development broker keeps only about the newest 5 MiB per\n"
            "partition: keep the daemon running while producing, or use more partitions.\n\n"
            "options:\n"
            "  -c, --config FILE      YAML configuration (see docs/config.md)\n"
            "      --brokers LIST     kafka.brokers (overrides file and XDRFLOW_BROKERS)\n"
            "      --db DIR           store.path (overrides file and XDRFLOW_DB)\n"
            "      --api ADDR:PORT    api.listen (overrides file and XDRFLOW_API_LISTEN;\n"
            "                         \"\" turns the listener off)\n"
            "      --group NAME       kafka.group\n"
            "      --check-config     check the configuration, print \"config OK\" or the errors\n"
            "      --config-reference print the Markdown reference of every key and exit\n"
            "  -h, --help             this text\n\n");
    xf_buf_init(&ref);
    if (xf_config_write_reference(&ref, 0) == 0 && ref.len)
        fputs(ref.data, out);
    xf_buf_close(&ref);
    fprintf(out, "\nExit status: 0 clean shutdown or config OK, 1 failure, 2 usage error.\n");
}

/* A flag given on the command line, applied after the file and the environment. */
struct flag {
    const char *key;
    const char *value;
};

static int apply_log(const struct xf_config *cfg)
{
    if (xf_cli_set_log_level(cfg->log_level) || xf_cli_set_log_format(cfg->log_format))
        return 1;
    return 0;
}

int xf_cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"brokers", required_argument, NULL, 'B'},
        {"db", required_argument, NULL, 'd'},
        {"api", required_argument, NULL, 'a'},
        {"group", required_argument, NULL, 'g'},
        {"check-config", no_argument, NULL, 'C'},
        {"config-reference", no_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct xf_config cfg;
    struct flag flags[8];
    size_t n_flags = 0;
    const char *file = NULL;
    int check = 0, reference = 0, opt, rc = 1, inited = 0;
    struct xf_daemon *d = NULL;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            file = optarg;
            break;
        case 'B':
            flags[n_flags++] = (struct flag){"kafka.brokers", optarg};
            break;
        case 'd':
            flags[n_flags++] = (struct flag){"store.path", optarg};
            break;
        case 'a':
            flags[n_flags++] = (struct flag){"api.listen", optarg};
            break;
        case 'g':
            flags[n_flags++] = (struct flag){"kafka.group", optarg};
            break;
        case 'C':
            check = 1;
            break;
        case 'R':
            reference = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (n_flags == XF_ARRAY_LEN(flags)) {
            fprintf(stderr, "xdrflow run: too many flags\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "xdrflow run: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (reference) {
        struct xf_buf ref;
        xf_buf_init(&ref);
        rc = xf_config_write_reference(&ref, 1);
        if (rc == 0 && ref.len)
            fwrite(ref.data, 1, ref.len, stdout);
        xf_buf_close(&ref);
        return rc ? 1 : 0;
    }

    if (xf_config_init(&cfg))
        return 1;
    inited = 1;
    if (file && xf_config_load_file(&cfg, file))
        goto out;
    if (xf_config_apply_env(&cfg))
        goto out;
    for (size_t i = 0; i < n_flags; i++) {
        char why[XF_ERRMSG_MAX];
        if (xf_config_set(&cfg, flags[i].key, flags[i].value, why, sizeof why)) {
            fprintf(stderr, "xdrflow run: %s\n", why);
            goto out;
        }
    }
    if (xf_config_validate(&cfg))
        goto out;
    if (check) {
        printf("config OK\n");
        rc = 0;
        goto out;
    }
    if (apply_log(&cfg))
        goto out;
    if (xf_daemon_create(&cfg, &d))
        goto out;
    if (xf_daemon_install_signals(d))
        goto out;
    rc = xf_daemon_run(d) ? 1 : 0;
out:
    xf_daemon_destroy(d);
    if (inited)
        xf_config_close(&cfg);
    return rc;
}
