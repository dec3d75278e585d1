/*
 * xf/core.h - the types and helpers every xdrflow module shares.
 *
 * Error codes, the allocation wrapper (with a torture hook that fails the Nth allocation),
 * logging, event time, hashing and a growable byte buffer. Nothing here knows about Kafka,
 * RocksDB or any input format. The normalized event lives in xf/event.h.
 */
#ifndef XF_CORE_H
#define XF_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors -------------------------------------------------------------------------------- */

/* One list generates the codes and xf_strerror(). Functions return 0 or a negative XF_E*. */
#define XF_ERRNO_MAP(X)                                                                            \
    X(NOMEM, -1, "out of memory")                                                                  \
    X(INVAL, -2, "invalid argument")                                                               \
    X(IO, -3, "input/output error")                                                                \
    X(PARSE, -4, "malformed input")                                                                \
    X(NOTFOUND, -5, "not found")                                                                   \
    X(EXIST, -6, "already exists")                                                                 \
    X(TOOBIG, -7, "too large")                                                                     \
    X(FORMAT, -8, "unknown or unsupported format")                                                 \
    X(STORE, -9, "storage error")                                                                  \
    X(AGAIN, -10, "try again")                                                                     \
    X(CONFIG, -11, "configuration error")                                                          \
    X(RULE, -12, "rule error")                                                                     \
    X(SCHEMA, -13, "incompatible schema version")                                                  \
    X(INTERNAL, -14, "internal error")

enum xf_errno {
#define XF_ERR_ENUM(name, val, msg) XF_E##name = (val),
    XF_ERRNO_MAP(XF_ERR_ENUM)
#undef XF_ERR_ENUM
};

/* Returns a static string for an XF_E* code (or "unknown error"). */
const char *xf_strerror(int err);

/* ---- allocation ---------------------------------------------------------------------------- */

/* All allocation goes through these so a test build can fail the Nth call (see
 * xf_alloc_fail_after). They behave like the libc functions; xf_free(NULL) is a no-op. */
void *xf_malloc(size_t n);
void *xf_calloc(size_t nmemb, size_t size);
void *xf_realloc(void *p, size_t n);
void xf_free(void *p);
/* Makes room for one more element in a growing array: when n == *cap, *arrp (a pointer to the
 * array pointer, any element type) is reallocated to twice *cap, or `first` elements when
 * empty, and *cap updated. Returns 0 or XF_ENOMEM (the array unchanged). */
int xf_array_grow(void *arrp, size_t *cap, size_t n, size_t elem, size_t first);
/* Returns a heap copy for the caller to xf_free, or NULL (s NULL or out of memory). */
char *xf_strdup(const char *s);
char *xf_strndup(const char *s, size_t n);

/* Torture mode: after n more successful allocations every allocation fails. n < 0 disables.
 * The counter is per thread, so one test thread does not disturb another. */
void xf_alloc_fail_after(long n);

/* ---- logging ------------------------------------------------------------------------------- */

enum xf_log_level { XF_LOG_ERROR = 0, XF_LOG_WARN, XF_LOG_INFO, XF_LOG_DEBUG };

void xf_log_set_level(enum xf_log_level level);
enum xf_log_level xf_log_get_level(void);
/* 1: one JSON object per line ({"ts","level","msg"}); 0: plain text. */
void xf_log_set_json(int on);
/* Writes one line to stderr. Thread safe (one write(2) per line). */
void xf_log(enum xf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Names the calling thread (Linux keeps the first 15 bytes), as `top -H`, `ps -L`, perf and
 * /proc/<pid>/task/<tid>/comm show it: "xf-writer", "xf-decode", ... No-op elsewhere. */
void xf_thread_name(const char *name);

/* What /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat says of a process or thread. */
struct xf_proc_stat {
    char name[16];        /* comm: the thread name */
    double cpu_seconds;   /* user + system */
    double start_seconds; /* since boot */
    uint64_t vsize;       /* virtual memory, bytes */
    uint64_t rss;         /* resident, bytes */
};
/* Reads one such file (path). Returns 0, or XF_EIO when it is gone or unreadable (a thread
 * that exited meanwhile), XF_EPARSE when it does not parse. */
int xf_proc_stat_read(const char *path, struct xf_proc_stat *out);

#define XF_ERROR(...) xf_log(XF_LOG_ERROR, __VA_ARGS__)
#define XF_WARN(...) xf_log(XF_LOG_WARN, __VA_ARGS__)
#define XF_INFO(...) xf_log(XF_LOG_INFO, __VA_ARGS__)
#define XF_DEBUG(...)                                                                              \
    do {                                                                                           \
        if (xf_log_get_level() >= XF_LOG_DEBUG)                                                    \
            xf_log(XF_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)

/* ---- time ---------------------------------------------------------------------------------- */

/* Event time is milliseconds since the Unix epoch, UTC. */
typedef int64_t xf_time_t;

/* Parses "2020-09-04T20:09:40.845Z", "2020-09-04 20:09:38.123", "2020-09-04T20:09:40+02:00",
 * "2020-09-04T20:09:40.1234567Z" (fractions beyond ms are dropped). A time without a zone is
 * UTC. Returns 0 or XF_EPARSE. */
int xf_time_parse(const char *s, size_t len, xf_time_t *out);
/* Writes "2026-11-21T09:00:03Z" (second precision, as the incident JSON wants) into buf, which
 * must hold at least XF_TIME_BUFSZ bytes. Returns buf. */
#define XF_TIME_BUFSZ 32
char *xf_time_format(xf_time_t t, char *buf);
/* Same with milliseconds: "2026-11-21T09:00:03.120Z". */
char *xf_time_format_ms(xf_time_t t, char *buf);

/* Parses a duration such as "90s", "5m", "1h", "500ms", "2d" into milliseconds. */
int xf_duration_parse(const char *s, int64_t *out_ms);

/* ---- hashing (xxHash) ---------------------------------------------------------------------- */

uint64_t xf_hash64(const void *data, size_t len);
uint64_t xf_hash64_seed(const void *data, size_t len, uint64_t seed);
/* 128-bit hash as 32 lowercase hex digits plus NUL into out[33]. */
void xf_hash128_hex(const void *data, size_t len, char out[33]);

/* ---- byte buffer --------------------------------------------------------------------------- */

/* A growable buffer; data is always NUL-terminated when len > 0. Embed it and xf_buf_init it. */
struct xf_buf {
    char *data;
    size_t len;
    size_t cap;
};

void xf_buf_init(struct xf_buf *b);
void xf_buf_close(struct xf_buf *b);
void xf_buf_reset(struct xf_buf *b); /* len = 0, keeps memory */
int xf_buf_reserve(struct xf_buf *b, size_t extra);
int xf_buf_append(struct xf_buf *b, const void *data, size_t len);
int xf_buf_appends(struct xf_buf *b, const char *s);
int xf_buf_appendf(struct xf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the data to the caller (to xf_free) and leaves b empty. */
char *xf_buf_steal(struct xf_buf *b, size_t *len);

/* ---- small string helpers ------------------------------------------------------------------ */

/* ASCII case-insensitive comparisons (Windows paths and Sigma matching are case-insensitive). */
int xf_strcaseeq(const char *a, const char *b);
int xf_strncaseeq(const char *a, const char *b, size_t n);
/* Lowercases ASCII in place. */
void xf_str_lower(char *s);
/* Returns the last path component after '\\' or '/' (borrowed pointer into s). */
const char *xf_path_basename(const char *s);
/* A bundled data file or directory (Sigma pack, join specs, demo recording): the source
 * tree's copy when it is there (a build run in place), else the installed one (`cmake
 * --install`, packages, the container image). Returns `built` when neither can be read, so
 * an error names the first place looked at. `installed` may be NULL. */
const char *xf_data_path(const char *built, const char *installed);
/* Checks that s[0..len) is valid UTF-8. Returns 1 if valid. */
int xf_utf8_valid(const char *s, size_t len);

#define XF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
