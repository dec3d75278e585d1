/*
 * main.c - the xdrflow binary: a thin dispatcher over the engine library.
 *
 * Every subcommand lives in its own cmd_*.c and has --help. Global options go before the
 * subcommand name.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "xf/core.h"

#ifndef XF_VERSION
#define XF_VERSION "dev"
#endif

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"run", xf_cmd_run, "the daemon: Kafka -> correlation -> RocksDB, with metrics"},
    {"demo", xf_cmd_demo, "see a whole Emotet outbreak reconstructed, on an embedded broker"},
    {"replay", xf_cmd_replay, "correlate recorded telemetry files offline"},
    {"incidents", xf_cmd_incidents, "list or show incidents stored in a database"},
    {"rules", xf_cmd_rules, "check a Sigma rule directory"},
    {"decode", xf_cmd_decode, "print records as normalized events (JSON lines)"},
    {"produce", xf_cmd_produce, "send recorded telemetry to Kafka, keyed by host"},
    {"devbroker", xf_cmd_devbroker, "run a development Kafka broker (not for production)"},
    {"isolate", xf_cmd_isolate, "ask a running daemon to isolate a host (response API)"},
    {"release", xf_cmd_release, "ask a running daemon to lift a host's isolation"},
    {"actions", xf_cmd_actions, "list, show, approve or deny a daemon's response actions"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: xdrflow [--log-level error|warn|info|debug] [--log-format text|json]\n"
            "               <command> [options]\n\n"
            "xdrflow joins email, endpoint and network telemetry into one incident per attack,\n"
            "with the graph of how it spread.\n\ncommands:\n");
    for (size_t i = 0; i < XF_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'xdrflow <command> --help' describes a command. Version %s.\n", XF_VERSION);
}

int xf_cli_set_log_level(const char *s)
{
    static const char *names[] = {"error", "warn", "info", "debug"};

    for (size_t i = 0; i < XF_ARRAY_LEN(names); i++) {
        if (!strcmp(s, names[i])) {
            xf_log_set_level((enum xf_log_level)i);
            return 0;
        }
    }
    fprintf(stderr, "xdrflow: unknown log level '%s' (error, warn, info, debug)\n", s);
    return 2;
}

int xf_cli_set_log_format(const char *s)
{
    if (!strcmp(s, "json") || !strcmp(s, "text")) {
        xf_log_set_json(!strcmp(s, "json"));
        return 0;
    }
    fprintf(stderr, "xdrflow: unknown log format '%s' (text, json)\n", s);
    return 2;
}

int main(int argc, char **argv)
{
    int i = 1;

    xf_log_set_level(XF_LOG_WARN);
    while (i < argc && argv[i][0] == '-') {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("xdrflow %s\n", XF_VERSION);
            return 0;
        } else if (!strcmp(a, "--log-level") && i + 1 < argc) {
            if (xf_cli_set_log_level(argv[i + 1]))
                return 2;
            i += 2;
        } else if (!strcmp(a, "--log-format") && i + 1 < argc) {
            if (xf_cli_set_log_format(argv[i + 1]))
                return 2;
            i += 2;
        } else {
            fprintf(stderr, "xdrflow: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[i], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t k = 0; k < XF_ARRAY_LEN(commands); k++)
        if (!strcmp(argv[i], commands[k].name))
            return commands[k].run(argc - i, argv + i);
    fprintf(stderr, "xdrflow: unknown command '%s'\n\n", argv[i]);
    usage(stderr);
    return 2;
}
