/*
 * xf/ingest.h - turning raw telemetry records into xf_event.
 *
 * Two parts: the decoder table (one row per input format: ECS JSON, flat Sysmon JSON, Windows
 * event JSON, protobuf) with per-record auto-detection, and a record reader over files (plain,
 * .gz, .zip; JSON lines or varint length-delimited protobuf). The Kafka consumer (later) lives
 * here too; nothing outside ingest/ sees a decoder's internals or a file handle.
 */
#ifndef XF_INGEST_H
#define XF_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "xf/event.h"

enum xf_format {
    XF_FMT_AUTO = 0,
    XF_FMT_ECS,
    XF_FMT_SYSMON,
    XF_FMT_WINEVT,
    XF_FMT_PROTO,
    XF_FMT__COUNT
};

/* "auto", "ecs", "sysmon", "winevt", "proto". */
const char *xf_format_name(enum xf_format fmt);
/* Returns 0 and sets *out, or XF_EFORMAT for an unknown name. */
int xf_format_from_name(const char *name, enum xf_format *out);

/* Room for a decode error's reason; callers pass a buffer at least this large. */
#define XF_ERRMSG_MAX 256

/*
 * A decoder: one row of the table. probe() says how sure it is that a record is its format
 * (0 = not mine, 100 = certain); decode() fills ev (already reset by the caller) and on
 * failure writes a one-line reason into err (XF_ERRMSG_MAX bytes) and returns XF_EPARSE.
 * Decoders are stateless and thread safe: workers call them concurrently.
 */
struct xf_decoder {
    const char *name;
    enum xf_format format;
    int (*probe)(const char *data, size_t len);
    int (*decode)(const char *data, size_t len, struct xf_event *ev, char *err);
};

/* Returns the table row for fmt (not AUTO), or NULL. */
const struct xf_decoder *xf_decoder_get(enum xf_format fmt);

/*
 * Decodes one record. fmt AUTO probes the record (JSON shapes by their keys; anything that
 * does not start with '{' is tried as protobuf). ev must be initialized; it is reset first.
 * On success *used (if not NULL) is the format that decoded it. Never crashes on any input:
 * errors return XF_EPARSE (or XF_ETOOBIG, XF_ENOMEM) with a reason in err.
 */
int xf_decode(enum xf_format fmt, const char *data, size_t len, struct xf_event *ev,
              enum xf_format *used, char *err);

/* ---- file reader --------------------------------------------------------------------------- */

/* Largest record a reader returns; longer lines are skipped and reported as XF_ETOOBIG. */
#define XF_RECORD_MAX (4u * 1024 * 1024)

struct xf_reader;

/*
 * Opens path for reading records. Compression is detected from the content (gzip magic, zip
 * magic), not the name. A zip yields the records of every file inside, in name order. fmt
 * decides the framing: PROTO means varint length-delimited messages; anything else means one
 * JSON record per line, except that AUTO switches to length-delimited when the first byte of
 * the (decompressed) content is not '{', '[' or whitespace.
 * Returns 0 and *out (caller destroys), or XF_EIO / XF_ENOTFOUND / XF_EFORMAT with the reason
 * logged.
 */
int xf_reader_open(const char *path, enum xf_format fmt, struct xf_reader **out);

/*
 * Reads the next record. Returns 1 and sets *data, *len (borrowed, valid until the next call;
 * NUL-terminated for JSON lines) and *where (a description "file.zip:inner.json:LINE" or
 * "file.pb:#N" valid until the next call); 0 at end; XF_ETOOBIG for an over-long record (it was
 * skipped, *where says which; call again to go on); XF_EIO / XF_EPARSE for a broken stream
 * (the rest of that file is lost, reported once). Empty lines are skipped silently.
 */
int xf_reader_next(struct xf_reader *r, const char **data, size_t *len, const char **where);

/* Bytes of compressed input consumed so far and the total size on disk (for progress). */
void xf_reader_progress(const struct xf_reader *r, uint64_t *done, uint64_t *total);

void xf_reader_destroy(struct xf_reader *r);

#endif
