/*
 * cmd_incidents.c - `xdrflow incidents list|show` over a database written by replay (or,
 * later, the daemon). Opens the store read-only, so it can run beside a writer.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "xf/correlate.h"
#include "xf/store.h"

enum out_format { OUT_TEXT, OUT_JSON, OUT_DOT };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: xdrflow incidents list [--db DIR] [--format text|json]\n"
            "       xdrflow incidents show ID [--db DIR] [--format text|json|dot]\n\n"
            "Reads incidents from a database written by 'xdrflow replay --db DIR'.\n"
            "list --format json prints one whole incident per line, as replay does;\n"
            "show --format dot prints a Graphviz graph (xdrflow incidents show ID --format dot\n"
            "| dot -Tsvg > incident.svg).\n\n"
            "options:\n"
            "  -d, --db DIR       the database (default: $XDRFLOW_DB, else ./xdrflow-db)\n"
            "  -o, --format F     output format\n"
            "  -h, --help         this text\n");
}

/* One line of the list view: id, severity/score, first seen, hosts, stages. */
static void print_row(const char *id, const char *json, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    char hosts[256] = "", stages[256] = "";
    size_t i;
    json_t *v;

    if (!root) {
        printf("%-21s (unreadable: %s)\n", id, jerr.text);
        return;
    }
    json_array_foreach(json_object_get(root, "hosts"), i, v)
    {
        size_t n = strlen(hosts);
        snprintf(hosts + n, sizeof hosts - n, "%s%s", i ? "," : "", json_string_value(v));
    }
    json_array_foreach(json_object_get(root, "stages"), i, v)
    {
        size_t n = strlen(stages);
        snprintf(stages + n, sizeof stages - n, "%s%s", i ? "," : "", json_string_value(v));
    }
    const char *sev = json_string_value(json_object_get(root, "severity"));
    const char *first = json_string_value(json_object_get(root, "first_seen"));
    printf("%-21s %-8s %3lld  %-20s %5zu  %-40s %s\n", id, sev ? sev : "?",
           (long long)json_integer_value(json_object_get(root, "score")), first ? first : "?",
           json_array_size(json_object_get(root, "nodes")), hosts, stages);
    json_decref(root);
}

struct list_ctx {
    enum out_format fmt;
    size_t n;
};

static int list_cb(const char *id, const char *json, size_t len, void *ud)
{
    struct list_ctx *l = ud;

    l->n++;
    if (l->fmt == OUT_JSON) {
        fwrite(json, 1, len, stdout);
        fputc('\n', stdout);
    } else {
        print_row(id, json, len);
    }
    return 0;
}

int xf_cmd_incidents(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"format", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = getenv("XDRFLOW_DB");
    enum out_format fmt = OUT_TEXT;
    struct xf_store *st = NULL;
    struct xf_store_opts sopts = {.read_only = 1};
    const char *verb, *id = NULL;
    int c, rc, status = 1;

    if (!db)
        db = "xdrflow-db";
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'o':
            if (!strcmp(optarg, "text"))
                fmt = OUT_TEXT;
            else if (!strcmp(optarg, "json"))
                fmt = OUT_JSON;
            else if (!strcmp(optarg, "dot"))
                fmt = OUT_DOT;
            else {
                fprintf(stderr, "xdrflow incidents: unknown format '%s'\n", optarg);
                return 2;
            }
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
        usage(stderr);
        return 2;
    }
    verb = argv[optind];
    if (!strcmp(verb, "show")) {
        if (optind + 1 >= argc) {
            fprintf(stderr, "xdrflow incidents show: which incident? (an id from 'list')\n");
            return 2;
        }
        id = argv[optind + 1];
    } else if (strcmp(verb, "list")) {
        fprintf(stderr, "xdrflow incidents: unknown verb '%s' (list, show)\n", verb);
        return 2;
    }
    if (!strcmp(verb, "list") && fmt == OUT_DOT) {
        fprintf(stderr, "xdrflow incidents list: --format dot is for 'show'\n");
        return 2;
    }
    if ((rc = xf_store_open(db, &sopts, &st))) {
        fprintf(stderr, "xdrflow incidents: cannot open database '%s': %s\n", db, xf_strerror(rc));
        return 1;
    }
    if (!id) {
        struct list_ctx l = {.fmt = fmt};
        if (fmt == OUT_TEXT)
            printf("%-21s %-8s %3s  %-20s %5s  %-40s %s\n", "ID", "SEVERITY", "SCR", "FIRST SEEN",
                   "NODES", "HOSTS", "STAGES");
        rc = xf_store_incidents_scan(st, list_cb, &l);
        status = rc ? 1 : 0;
    } else {
        char *json = NULL;
        size_t len = 0;
        struct xf_buf out;
        rc = xf_store_incident_get(st, id, &json, &len);
        if (rc == XF_ENOTFOUND) {
            fprintf(stderr, "xdrflow incidents show: no incident '%s' in '%s'\n", id, db);
            goto out;
        } else if (rc) {
            fprintf(stderr, "xdrflow incidents show: %s\n", xf_strerror(rc));
            goto out;
        }
        xf_buf_init(&out);
        if (fmt == OUT_JSON)
            rc = xf_buf_append(&out, json, len);
        else if (fmt == OUT_DOT)
            rc = xf_incident_render_dot(json, len, &out);
        else
            rc = xf_incident_render_text(json, len, &out);
        if (!rc) {
            fwrite(out.data, 1, out.len, stdout);
            if (!out.len || out.data[out.len - 1] != '\n')
                fputc('\n', stdout);
            status = 0;
        } else {
            fprintf(stderr, "xdrflow incidents show: stored incident is unreadable: %s\n",
                    xf_strerror(rc));
        }
        xf_buf_close(&out);
        xf_free(json);
    }
out:
    xf_store_close(st);
    return status;
}
