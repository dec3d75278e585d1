/*
 * metrics.c - the Prometheus text format (version 0.0.4) for the daemon's /metrics.
 *
 * The one thing to know: label values are escaped here, so a topic name can never break the
 * exposition; everything else is written as given, and the callers use fixed metric names.
 */
#include <math.h>
#include <stdio.h>

#include "metrics.h"

int xf_prom_header(struct xf_buf *b, const char *name, const char *type, const char *help)
{
    return xf_buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int append_escaped(struct xf_buf *b, const char *s)
{
    int rc = 0;

    for (; *s && !rc; s++) {
        if (*s == '\\')
            rc = xf_buf_appends(b, "\\\\");
        else if (*s == '"')
            rc = xf_buf_appends(b, "\\\"");
        else if (*s == '\n')
            rc = xf_buf_appends(b, "\\n");
        else
            rc = xf_buf_append(b, s, 1);
    }
    return rc;
}

int xf_prom_sample(struct xf_buf *b, const char *name, const char *const *labels, size_t n,
                   double value)
{
    int rc = xf_buf_appends(b, name);

    if (n && !rc) {
        rc = xf_buf_appends(b, "{");
        for (size_t i = 0; i < n && !rc; i++) {
            rc = xf_buf_appendf(b, "%s%s=\"", i ? "," : "", labels[2 * i]);
            if (!rc)
                rc = append_escaped(b, labels[2 * i + 1]);
            if (!rc)
                rc = xf_buf_appends(b, "\"");
        }
        if (!rc)
            rc = xf_buf_appends(b, "}");
    }
    if (rc)
        return rc;
    if (value == floor(value) && fabs(value) < 9.0e15)
        return xf_buf_appendf(b, " %lld\n", (long long)value);
    return xf_buf_appendf(b, " %.6g\n", value);
}

int xf_prom_metric(struct xf_buf *b, const char *name, const char *type, const char *help,
                   double value)
{
    int rc = xf_prom_header(b, name, type, help);

    return rc ? rc : xf_prom_sample(b, name, NULL, 0, value);
}
