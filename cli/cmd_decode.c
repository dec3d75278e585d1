/*
 * cmd_decode.c - `xdrflow decode`: shows how xdrflow reads telemetry, one normalized event per
 * line as JSON (id, category, event time, fields by their canonical names). For detection
 * engineers writing rules and join specs, and for tests that pick golden event ids.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "xf/ingest.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: xdrflow decode [--input-format F] FILE...\n\n"
        "Prints each record of FILE as xdrflow's normalized event, one JSON object per\n"
        "line: {\"id\",\"category\",\"time\",\"format\",\"where\",\"fields\":{...}}. Bad records\n"
        "are reported on stderr as FILE:LINE: reason.\n\n"
        "options:\n"
        "  -f, --input-format F  auto|ecs|sysmon|winevt|proto (default auto)\n"
        "  -h, --help            this text\n");
}

static void print_event(const struct xf_event *ev, enum xf_format used, const char *where)
{
    char ts[XF_TIME_BUFSZ];
    json_t *o = json_object();
    json_t *fields = json_object();

    json_object_set_new(o, "id", json_string(ev->id));
    json_object_set_new(o, "category", json_string(xf_category_name(ev->category)));
    json_object_set_new(o, "time", json_string(xf_time_format_ms(ev->time, ts)));
    json_object_set_new(o, "format", json_string(xf_format_name(used)));
    json_object_set_new(o, "where", json_string(where));
    for (unsigned f = 0; f < XF_F__COUNT; f++) {
        size_t n = xf_event_count(ev, (enum xf_field)f);
        if (!n)
            continue;
        if (xf_field_is_multi((enum xf_field)f)) {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, json_string(xf_event_get_nth(ev, (enum xf_field)f, i)));
            json_object_set_new(fields, xf_field_name((enum xf_field)f), arr);
        } else {
            json_object_set_new(fields, xf_field_name((enum xf_field)f),
                                json_string(xf_event_get(ev, (enum xf_field)f)));
        }
    }
    json_object_set_new(o, "fields", fields);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(o);
}

int xf_cmd_decode(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input-format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    enum xf_format fmt = XF_FMT_AUTO;
    struct xf_event ev;
    int c, status = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (xf_format_from_name(optarg, &fmt)) {
                fprintf(stderr, "xdrflow decode: unknown input format '%s'\n", optarg);
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
    xf_event_init(&ev);
    for (int i = optind; i < argc; i++) {
        struct xf_reader *r = NULL;
        int rc = xf_reader_open(argv[i], fmt, &r);
        if (rc) {
            fprintf(stderr, "%s: cannot read file: %s\n", argv[i], xf_strerror(rc));
            status = 1;
            continue;
        }
        for (;;) {
            const char *data, *where;
            size_t len;
            char err[XF_ERRMSG_MAX] = "";
            enum xf_format used = XF_FMT_AUTO;
            rc = xf_reader_next(r, &data, &len, &where);
            if (rc == 0)
                break;
            if (rc < 0) {
                fprintf(stderr, "%s: %s\n", where ? where : argv[i], xf_strerror(rc));
                if (rc == XF_ETOOBIG)
                    continue;
                status = 1;
                break;
            }
            rc = xf_decode(fmt, data, len, &ev, &used, err);
            if (rc) {
                fprintf(stderr, "%s: %s\n", where, err[0] ? err : xf_strerror(rc));
                continue;
            }
            print_event(&ev, used, where);
        }
        xf_reader_destroy(r);
    }
    xf_event_close(&ev);
    return status;
}
