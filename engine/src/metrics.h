/*
 * metrics.h - private to engine/: writing the Prometheus text exposition format (0.0.4).
 *
 * Each metric is one "# HELP" and one "# TYPE" line followed by its samples; counters end in
 * _total. Label values are escaped (backslash, double quote, newline) as the format requires.
 */
#ifndef XF_ENGINE_METRICS_H
#define XF_ENGINE_METRICS_H

#include <stdint.h>

#include "xf/core.h"

/* type: "counter" or "gauge". */
int xf_prom_header(struct xf_buf *b, const char *name, const char *type, const char *help);
/* One sample; labels is an array of n name/value pairs (may be NULL when n is 0). */
int xf_prom_sample(struct xf_buf *b, const char *name, const char *const *labels, size_t n,
                   double value);
/* Header plus one unlabelled sample. */
int xf_prom_metric(struct xf_buf *b, const char *name, const char *type, const char *help,
                   double value);
/* The process as Prometheus client libraries export it (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes, process_start_time_seconds,
 * process_open_fds, process_max_fds; from /proc, Linux only) and
 * xdrflow_thread_cpu_seconds_total{thread} per thread name. */
int xf_prom_process(struct xf_buf *b);

#endif
