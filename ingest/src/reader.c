/*
 * reader.c - records out of recorded telemetry files: plain, gzip or zip; JSON lines or
 * varint length-delimited protobuf.
 *
 * Everything streams through one bounded buffer (at most XF_RECORD_MAX plus a margin), so a
 * 20 MB zip member or a 10 MB garbage line never sits in memory whole. The one thing to know:
 * an over-long line is skipped *while* it is read (the bytes are dropped as they arrive) and
 * reported once as XF_ETOOBIG; the reader then carries on with the next line.
 *
 *   source bytes --(fread | inflate | zip_fread)--> buf [start .. end) --> record
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zip.h>
#include <zlib.h>

#include "xf/ingest.h"

#define BUF_START (64u * 1024)
#define BUF_MAX (XF_RECORD_MAX + 64u * 1024)
#define ZIN_SIZE (64u * 1024)

enum src_kind { SRC_PLAIN, SRC_GZIP, SRC_ZIP };
enum framing { FR_UNDECIDED, FR_LINES, FR_DELIM };

struct member {
    zip_uint64_t index;
    const char *name; /* owned by the zip archive */
};

struct xf_reader {
    char *path;
    enum xf_format fmt;
    enum src_kind kind;
    FILE *fp;
    uint64_t total;
    uint64_t raw_done;
    /* gzip */
    z_stream zs;
    int zinit;  /* inside a gzip member (0 between concatenated members) */
    int zready; /* inflateInit2 succeeded: inflateEnd is owed */
    unsigned char *zin;
    int zin_eof;
    /* zip */
    zip_t *za;
    struct member *members;
    size_t nmembers;
    size_t next_member;
    zip_file_t *zf;
    const char *mname;
    uint64_t comp_done, cur_comp, cur_size, cur_read;
    /* the current stream (the file, or one zip member) */
    int open;   /* a stream is open */
    int eof;    /* its source has no more bytes */
    int broken; /* a stream error was reported: drop the rest of it */
    int skipping;
    uint64_t skip_bytes; /* protobuf: bytes of an over-long message still to drop */
    enum framing fr;
    char *buf;
    size_t cap, start, end, scan;
    uint64_t line, nrec;
    struct xf_buf where;
};

/* ---- sources -------------------------------------------------------------------------------- */

/* Reads up to n decompressed bytes. Returns bytes read, 0 at the end, or XF_EIO/XF_EPARSE. */
static long src_read(struct xf_reader *r, char *dst, size_t n)
{
    if (r->kind == SRC_PLAIN) {
        size_t got = fread(dst, 1, n, r->fp);
        if (got == 0 && ferror(r->fp)) {
            XF_ERROR("%s: read error: %s", r->path, strerror(errno));
            return XF_EIO;
        }
        r->raw_done += got;
        return (long)got;
    }
    if (r->kind == SRC_ZIP) {
        zip_int64_t got = zip_fread(r->zf, dst, n);
        if (got < 0) {
            XF_ERROR("%s:%s: %s", r->path, r->mname, zip_file_strerror(r->zf));
            return XF_EIO;
        }
        r->cur_read += (uint64_t)got;
        return (long)got;
    }
    r->zs.next_out = (unsigned char *)dst;
    r->zs.avail_out = (uInt)n;
    while (r->zs.avail_out == n) {
        int zr;
        if (r->zs.avail_in == 0 && !r->zin_eof) {
            size_t got = fread(r->zin, 1, ZIN_SIZE, r->fp);
            if (got == 0 && ferror(r->fp)) {
                XF_ERROR("%s: read error: %s", r->path, strerror(errno));
                return XF_EIO;
            }
            if (got == 0)
                r->zin_eof = 1;
            r->raw_done += got;
            r->zs.next_in = r->zin;
            r->zs.avail_in = (uInt)got;
        }
        if (r->zs.avail_in == 0 && r->zin_eof) {
            if (!r->zinit)
                return 0; /* clean end after the last gzip member */
            XF_ERROR("%s: gzip stream is truncated", r->path);
            return XF_EPARSE;
        }
        if (!r->zinit) {
            /* the next member of a concatenated gzip file */
            if (inflateReset(&r->zs) != Z_OK)
                return XF_EPARSE;
            r->zinit = 1;
        }
        zr = inflate(&r->zs, Z_NO_FLUSH);
        if (zr == Z_STREAM_END) {
            r->zinit = 0;
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            XF_ERROR("%s: gzip data error: %s", r->path, r->zs.msg ? r->zs.msg : "?");
            return XF_EPARSE;
        }
    }
    return (long)(n - r->zs.avail_out);
}

/* Reads more bytes into buf after end, growing buf up to BUF_MAX. Returns bytes read (0 at
 * the end of the stream) or a negative error. Keeps one byte free for a terminating NUL. */
static long fill(struct xf_reader *r)
{
    long got;

    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end + 1 >= r->cap && r->cap < BUF_MAX) {
        size_t cap = r->cap * 2 > BUF_MAX ? BUF_MAX : r->cap * 2;
        char *p = xf_realloc(r->buf, cap);
        if (!p)
            return XF_ENOMEM;
        r->buf = p;
        r->cap = cap;
    }
    if (r->end + 1 >= r->cap)
        return 0; /* full: the caller handles an over-long record */
    got = src_read(r, r->buf + r->end, r->cap - r->end - 1);
    if (got > 0)
        r->end += (size_t)got;
    else if (got == 0)
        r->eof = 1;
    return got;
}

/* ---- streams (the file, or each zip member in name order) ---------------------------------- */

static void stream_close(struct xf_reader *r)
{
    if (r->zf) {
        zip_fclose(r->zf);
        r->zf = NULL;
        r->comp_done += r->cur_comp;
        r->cur_comp = r->cur_size = r->cur_read = 0;
    }
    r->open = 0;
}

static void stream_reset(struct xf_reader *r)
{
    r->open = 1;
    r->eof = 0;
    r->broken = 0;
    r->skipping = 0;
    r->skip_bytes = 0;
    r->fr = FR_UNDECIDED;
    r->start = r->end = r->scan = 0;
    r->line = r->nrec = 0;
}

/* Opens the next stream. Returns 1, 0 when there is none, or a negative error (that member is
 * skipped; call again). */
static int stream_next(struct xf_reader *r)
{
    if (r->kind != SRC_ZIP) {
        if (r->next_member++ > 0)
            return 0;
        stream_reset(r);
        return 1;
    }
    while (r->next_member < r->nmembers) {
        struct member *m = &r->members[r->next_member++];
        zip_stat_t st;
        r->mname = m->name;
        r->zf = zip_fopen_index(r->za, m->index, 0);
        if (!r->zf) {
            XF_ERROR("%s:%s: cannot open zip member: %s", r->path, m->name, zip_strerror(r->za));
            return XF_EIO;
        }
        zip_stat_init(&st);
        if (zip_stat_index(r->za, m->index, 0, &st) == 0) {
            r->cur_comp = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : 0;
            r->cur_size = (st.valid & ZIP_STAT_SIZE) ? st.size : 0;
        }
        stream_reset(r);
        return 1;
    }
    return 0;
}

static const char *set_where(struct xf_reader *r, int delim)
{
    xf_buf_reset(&r->where);
    if (xf_buf_appends(&r->where, r->path) != 0)
        return "?";
    if (r->kind == SRC_ZIP)
        xf_buf_appendf(&r->where, ":%s", r->mname);
    if (delim)
        xf_buf_appendf(&r->where, ":#%llu", (unsigned long long)r->nrec);
    else
        xf_buf_appendf(&r->where, ":%llu", (unsigned long long)r->line);
    return r->where.data ? r->where.data : "?";
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Text (JSON lines) never holds raw control characters other than tab, CR and LF; protobuf
 * field tags (0x12, 0x1a, ...) and small length prefixes are exactly such bytes. Looking at
 * the whole buffered prefix, not just the first byte, keeps one cut-off or junk first line
 * from turning a JSON file into "protobuf". */
static int looks_like_text(struct xf_reader *r)
{
    size_t n = r->end - r->start;
    const unsigned char *p = (const unsigned char *)r->buf + r->start;

    if (n > 4096)
        n = 4096;
    if (p[0] == '{' || p[0] == '[')
        return 1;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 && !is_space((char)p[i]))
            return 0;
    return 1;
}

/* Picks the framing from the first bytes of the stream (after a UTF-8 BOM). Returns 1 when
 * decided, 0 for an empty stream, or a negative error. */
static int decide_framing(struct xf_reader *r)
{
    while (r->end - r->start < 3 && !r->eof) {
        long got = fill(r);
        if (got < 0)
            return (int)got;
    }
    if (r->end - r->start >= 3 && memcmp(r->buf + r->start, "\xEF\xBB\xBF", 3) == 0)
        r->start += 3;
    if (r->end == r->start)
        return 0;
    if (r->fmt == XF_FMT_PROTO)
        r->fr = FR_DELIM;
    else if (r->fmt != XF_FMT_AUTO)
        r->fr = FR_LINES;
    else
        r->fr = looks_like_text(r) ? FR_LINES : FR_DELIM;
    return 1;
}

/* One JSON line. Returns 1 (record), 0 (end of stream), XF_ETOOBIG, or a negative error. */
static int next_line(struct xf_reader *r, const char **data, size_t *len, const char **where)
{
    for (;;) {
        char *nl;
        if (r->skipping) {
            nl = memchr(r->buf + r->start, '\n', r->end - r->start);
            if (nl) {
                r->start = (size_t)(nl - r->buf) + 1;
                r->skipping = 0;
                continue;
            }
            r->start = r->end = 0; /* drop what we have of the over-long line */
            if (r->eof)
                return 0;
            long got = fill(r);
            if (got < 0)
                return (int)got;
            continue;
        }
        nl = memchr(r->buf + r->start + r->scan, '\n', r->end - r->start - r->scan);
        if (nl || (r->eof && r->end > r->start)) {
            size_t n = nl ? (size_t)(nl - (r->buf + r->start)) : r->end - r->start;
            char *rec = r->buf + r->start;
            r->start += n + (nl ? 1 : 0);
            r->scan = 0;
            r->line++;
            rec[n] = '\0'; /* the '\n', or the byte fill() keeps free */
            if (n && rec[n - 1] == '\r')
                rec[--n] = '\0';
            if (n > XF_RECORD_MAX) {
                *where = set_where(r, 0);
                return XF_ETOOBIG;
            }
            size_t i = 0;
            while (i < n && is_space(rec[i]))
                i++;
            if (i == n)
                continue; /* empty line */
            *data = rec;
            *len = n;
            *where = set_where(r, 0);
            return 1;
        }
        if (r->eof)
            return 0;
        if (r->end - r->start > XF_RECORD_MAX) {
            r->line++;
            r->skipping = 1;
            r->start = r->end = r->scan = 0;
            *where = set_where(r, 0);
            return XF_ETOOBIG;
        }
        r->scan = r->end - r->start;
        long got = fill(r);
        if (got < 0)
            return (int)got;
    }
}

/* Ensures at least want bytes after start (or the end of the stream). */
static int need(struct xf_reader *r, size_t want)
{
    while (r->end - r->start < want && !r->eof) {
        long got = fill(r);
        if (got < 0)
            return (int)got;
    }
    return 0;
}

/* One varint length-delimited message. Same returns as next_line. */
static int next_delim(struct xf_reader *r, const char **data, size_t *len, const char **where)
{
    uint64_t n = 0;
    size_t vlen = 0;
    int rc;

    while (r->skip_bytes) {
        size_t have = r->end - r->start;
        size_t drop = have < r->skip_bytes ? have : (size_t)r->skip_bytes;
        r->start += drop;
        r->skip_bytes -= drop;
        if (r->skip_bytes == 0)
            break;
        if (r->eof)
            return 0;
        r->start = r->end = 0;
        long got = fill(r);
        if (got < 0)
            return (int)got;
    }
    if ((rc = need(r, 10)) < 0)
        return rc;
    if (r->end == r->start)
        return 0;
    r->nrec++;
    for (;;) {
        unsigned char b;
        if (vlen == 10 || r->start + vlen >= r->end) {
            *where = set_where(r, 1);
            XF_ERROR("%s: %s length prefix", *where, vlen == 10 ? "malformed" : "truncated");
            return XF_EPARSE;
        }
        b = (unsigned char)r->buf[r->start + vlen];
        n |= (uint64_t)(b & 0x7f) << (7 * vlen);
        vlen++;
        if (!(b & 0x80))
            break;
    }
    r->start += vlen;
    *where = set_where(r, 1);
    if (n > XF_RECORD_MAX) {
        r->skip_bytes = n;
        return XF_ETOOBIG;
    }
    if ((rc = need(r, (size_t)n)) < 0)
        return rc;
    if (r->end - r->start < n) {
        XF_ERROR("%s: truncated message (%llu of %llu bytes)", *where,
                 (unsigned long long)(r->end - r->start), (unsigned long long)n);
        return XF_EPARSE;
    }
    *data = r->buf + r->start;
    *len = (size_t)n;
    r->start += (size_t)n;
    return 1;
}

int xf_reader_next(struct xf_reader *r, const char **data, size_t *len, const char **where)
{
    int rc;

    for (;;) {
        if (!r->open) {
            rc = stream_next(r);
            if (rc <= 0) {
                if (rc < 0)
                    *where = r->mname ? r->mname : r->path;
                return rc;
            }
        }
        if (r->broken) {
            stream_close(r);
            continue;
        }
        if (r->fr == FR_UNDECIDED) {
            rc = decide_framing(r);
            if (rc == 0) {
                stream_close(r);
                continue;
            }
            if (rc < 0)
                goto broken;
        }
        rc = r->fr == FR_LINES ? next_line(r, data, len, where) : next_delim(r, data, len, where);
        if (rc == 0) {
            stream_close(r);
            continue;
        }
        if (rc == 1 || rc == XF_ETOOBIG)
            return rc;
        goto broken;
    }
broken:
    r->broken = 1;
    *where = set_where(r, r->fr == FR_DELIM);
    return rc;
}

/* ---- open / close ------------------------------------------------------------------------- */

static int member_cmp(const void *a, const void *b)
{
    return strcmp(((const struct member *)a)->name, ((const struct member *)b)->name);
}

static int open_zip(struct xf_reader *r)
{
    int zerr = 0;
    zip_int64_t n;

    r->za = zip_open(r->path, ZIP_RDONLY, &zerr);
    if (!r->za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        XF_ERROR("%s: cannot open zip: %s", r->path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return XF_EFORMAT;
    }
    n = zip_get_num_entries(r->za, 0);
    if (n < 0)
        return XF_EFORMAT;
    r->members = xf_calloc((size_t)n + 1, sizeof *r->members);
    if (!r->members)
        return XF_ENOMEM;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *name = zip_get_name(r->za, (zip_uint64_t)i, 0);
        size_t l = name ? strlen(name) : 0;
        if (!name || l == 0 || name[l - 1] == '/')
            continue; /* directories carry no records */
        r->members[r->nmembers].index = (zip_uint64_t)i;
        r->members[r->nmembers].name = name;
        r->nmembers++;
    }
    qsort(r->members, r->nmembers, sizeof *r->members, member_cmp);
    return 0;
}

int xf_reader_open(const char *path, enum xf_format fmt, struct xf_reader **out)
{
    struct xf_reader *r = NULL;
    unsigned char magic[4] = {0};
    struct stat st;
    size_t got;
    int rc = 0;

    *out = NULL;
    if (!path)
        return XF_EINVAL;
    r = xf_calloc(1, sizeof *r);
    if (!r)
        return XF_ENOMEM;
    xf_buf_init(&r->where);
    r->fmt = fmt;
    r->path = xf_strdup(path);
    r->buf = xf_malloc(BUF_START);
    if (!r->path || !r->buf) {
        rc = XF_ENOMEM;
        goto fail;
    }
    r->cap = BUF_START;
    r->fp = fopen(path, "rb");
    if (!r->fp) {
        rc = errno == ENOENT ? XF_ENOTFOUND : XF_EIO;
        XF_ERROR("%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(fileno(r->fp), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            rc = XF_EINVAL;
            XF_ERROR("%s: is a directory (name the files in it)", path);
            goto fail;
        }
        r->total = (uint64_t)st.st_size;
    }
    got = fread(magic, 1, sizeof magic, r->fp);
    rewind(r->fp);
    if (got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        r->kind = SRC_GZIP;
        r->zin = xf_malloc(ZIN_SIZE);
        if (!r->zin) {
            rc = XF_ENOMEM;
            goto fail;
        }
        /* 15 + 32: a zlib or gzip header, detected automatically */
        if (inflateInit2(&r->zs, 15 + 32) != Z_OK) {
            rc = XF_ENOMEM;
            goto fail;
        }
        r->zinit = 1;
        r->zready = 1;
    } else if (got == 4 && magic[0] == 'P' && magic[1] == 'K' &&
               ((magic[2] == 3 && magic[3] == 4) || (magic[2] == 5 && magic[3] == 6))) {
        r->kind = SRC_ZIP;
        fclose(r->fp);
        r->fp = NULL;
        rc = open_zip(r);
        if (rc)
            goto fail;
    } else {
        r->kind = SRC_PLAIN;
    }
    *out = r;
    return 0;
fail:
    xf_reader_destroy(r);
    return rc;
}

void xf_reader_progress(const struct xf_reader *r, uint64_t *done, uint64_t *total)
{
    uint64_t d = r->raw_done;

    if (r->kind == SRC_ZIP) {
        d = r->comp_done;
        if (r->cur_size)
            d +=
                r->cur_comp * (r->cur_read > r->cur_size ? r->cur_size : r->cur_read) / r->cur_size;
    }
    *done = d > r->total ? r->total : d;
    *total = r->total;
}

void xf_reader_destroy(struct xf_reader *r)
{
    if (!r)
        return;
    if (r->zf)
        zip_fclose(r->zf);
    if (r->za)
        zip_discard(r->za);
    if (r->zready)
        inflateEnd(&r->zs);
    if (r->fp)
        fclose(r->fp);
    xf_free(r->members);
    xf_free(r->zin);
    xf_free(r->buf);
    xf_free(r->path);
    xf_buf_close(&r->where);
    xf_free(r);
}
