/*
 * store.c - xdrflow's durable state in RocksDB (the only file that includes rocksdb/c.h).
 *
 * The one thing to know: the events column family is the source of truth and its keys are
 * the arrival sequence (be64), so the write path appends at the end of the key space and
 * recovery is one forward scan that re-feeds the correlator in the original order. Dedup uses
 * the ids family, keyed time first (be64 time | be64 idhash): near-sequential puts, and an
 * exact-key Get behind a bloom filter.
 * Everything else (edges, entities, incidents) is a materialized view for queries. The actions
 * family (the response outbox) is written by another thread than the store's owner, one synced
 * put at a time: those functions touch only objects fixed at open (handles, options), never the
 * owner's scratch (the write batch, counters).
 *
 * A batch is our own op log, not a rocksdb_writebatch_t: xf_store_batch_create() has no store,
 * so it cannot know column family handles. Commit replays the log into the store's one reused
 * rocksdb_writebatch_t and writes it atomically. The extra copy is a memcpy per op; it keeps the
 * batch usable on another thread and keeps every batch allocation inside xf_malloc's torture
 * hook. RocksDB's char **errptr strings become XF_ESTORE plus a log line, in this file only.
 * Key and value layouts are drawn in docs/storage.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "xf/store.h"

enum store_cf {
    CF_DEFAULT,
    CF_EVENTS,
    CF_ENTITIES,
    CF_EDGES,
    CF_INCIDENTS,
    CF_META,
    CF_IDS,
    CF_ACTIONS, /* last: a read-only open of a database from before it opens the others */
    CF__COUNT
};

static const char *const cf_names[CF__COUNT] = {
    "default", "events", "entities", "edges", "incidents", "meta", "ids", "actions",
};

#define SCHEMA_KEY "schema_version"
#define DEFAULT_CACHE_MB 64
#define WRITE_BUFFER_BYTES (64u << 20)
/* With several column families a WAL file lives until every family with data in it has
 * flushed; a rarely written family (meta) would pin old WALs forever without this cap. */
#define MAX_TOTAL_WAL_BYTES (256u << 20)
#define SCAN_READAHEAD_BYTES (2u << 20)

#define EDGE_VERSION 1
#define EDGE_NSTR 5
#define EDGE_HDR 18 /* version, mask, f64 confidence, i64 time */

struct xf_store {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_cache_t *cache;
    rocksdb_column_family_handle_t *cf[CF__COUNT];
    int schema; /* the database's schema version (1 until a 16-byte events key is written) */
    rocksdb_writeoptions_t *wopts;
    rocksdb_writeoptions_t *action_wopts; /* always sync: an outbox transition is durable */
    /* Read options are set at open and never changed after, so readers on other threads
     * (the API, the response thread) share them safely: RocksDB only reads them. */
    rocksdb_readoptions_t *get_ropts;
    rocksdb_readoptions_t *scan_ropts;
    rocksdb_writebatch_t *wb;
    char *path;
    int read_only;
    uint64_t events_written;
    uint64_t duplicates;
    uint64_t next_seq;       /* key of the next event row: arrival order */
    const char **ids_sorted; /* commit scratch: the batch's ids rows in key order */
    size_t cap_ids_sorted;
};

/*
 * The batch op log, one record per queued write (native byte order: it never leaves memory):
 *
 *   +----+----+---------+---------+-----------+-----------+
 *   | cf | op | u32 klen| u32 vlen| key bytes | val bytes | ...
 *   +----+----+---------+---------+-----------+-----------+
 */
enum batch_op { OP_PUT = 1, OP_DELETE = 2 };
#define OP_HDR 10

struct xf_store_batch {
    struct xf_buf ops;
    size_t count;   /* ops queued */
    size_t nevents; /* of which event puts, for the events_written counter */
};

/* ---- small helpers ------------------------------------------------------------------------ */

/* Converts a RocksDB error string into XF_ESTORE, logs it and frees it. */
static int rdb_error(char *err, const char *what, const char *path)
{
    XF_ERROR("store %s: %s: %s", path ? path : "?", what, err ? err : "unknown error");
    rocksdb_free(err);
    return XF_ESTORE;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
    uint32_t v = 0;

    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Negative times (bad clocks, parse fallbacks) sort first rather than wrapping to the end. */
static uint64_t key_time(xf_time_t t)
{
    return t < 0 ? 0 : (uint64_t)t;
}

/* ids key (dedup): be64 time | be64 idhash (16 bytes). A duplicate record has the same
 * time and id, so an exact-key Get finds it; time first keeps these puts near-sequential. */
static void event_key(const struct xf_event *ev, unsigned char key[16])
{
    put_be64(key, key_time(ev->time));
    put_be64(key + 8, ev->idhash);
}

/* ---- opening ------------------------------------------------------------------------------ */

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* The sequence number of the newest event row, 0 when there is none (rows start at 1). */
static uint64_t last_event_seq(struct xf_store *st)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->get_ropts, st->cf[CF_EVENTS]);
    uint64_t seq = 0;

    rocksdb_iter_seek_to_last(it);
    if (rocksdb_iter_valid(it)) {
        size_t klen = 0;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen >= 8)
            seq = get_be64((const unsigned char *)k);
    }
    rocksdb_iter_destroy(it);
    return seq;
}

static void store_free(struct xf_store *st)
{
    if (!st)
        return;
    for (int i = 0; i < CF__COUNT; i++) {
        if (st->cf[i])
            rocksdb_column_family_handle_destroy(st->cf[i]);
    }
    if (st->db)
        rocksdb_close(st->db);
    if (st->wb)
        rocksdb_writebatch_destroy(st->wb);
    if (st->scan_ropts)
        rocksdb_readoptions_destroy(st->scan_ropts);
    if (st->get_ropts)
        rocksdb_readoptions_destroy(st->get_ropts);
    if (st->wopts)
        rocksdb_writeoptions_destroy(st->wopts);
    if (st->action_wopts)
        rocksdb_writeoptions_destroy(st->action_wopts);
    if (st->opts)
        rocksdb_options_destroy(st->opts);
    if (st->cache)
        rocksdb_cache_destroy(st->cache);
    xf_free(st->ids_sorted);
    xf_free(st->path);
    xf_free(st);
}

/* One options object serves the DB and every column family: the block cache and the bloom
 * filter are shared, and a memtable only takes memory as it fills, so an idle family costs
 * nothing for its 64 MB write buffer. */
static void build_options(struct xf_store *st, const struct xf_store_opts *o, int compression)
{
    rocksdb_block_based_table_options_t *topts = rocksdb_block_based_options_create();
    size_t cache_mb = o && o->cache_mb ? o->cache_mb : DEFAULT_CACHE_MB;

    st->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(st->opts, !st->read_only);
    rocksdb_options_set_create_missing_column_families(st->opts, !st->read_only);
    rocksdb_options_set_write_buffer_size(st->opts, WRITE_BUFFER_BYTES);
    rocksdb_options_set_max_background_jobs(st->opts, 2);
    rocksdb_options_set_max_total_wal_size(st->opts, MAX_TOTAL_WAL_BYTES);
    rocksdb_options_set_compaction_style(st->opts, rocksdb_level_compaction);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(st->opts, 1);
    rocksdb_options_set_compression(st->opts, compression);
    rocksdb_options_set_bytes_per_sync(st->opts, 1u << 20);
    rocksdb_options_set_keep_log_file_num(st->opts, 4);
    /* exists() on a key still in the memtable: a whole-key memtable bloom answers misses
     * without walking the skiplist. */
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(st->opts, 0.02);
    rocksdb_options_set_memtable_whole_key_filtering(st->opts, 1);

    st->cache = rocksdb_cache_create_lru(cache_mb << 20);
    rocksdb_block_based_options_set_block_cache(topts, st->cache);
    /* The table options take ownership of the filter policy. */
    rocksdb_block_based_options_set_filter_policy(topts,
                                                  rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_block_based_options_set_whole_key_filtering(topts, 1);
    rocksdb_options_set_block_based_table_factory(st->opts, topts);
    rocksdb_block_based_options_destroy(topts);
}

/* Lists the existing column families. *fresh is set when there is no database yet.
 * Returns 0, XF_ESCHEMA (a family we do not know, writable open) or XF_ESTORE. */
static int check_families(struct xf_store *st, int *fresh, int *n_open)
{
    char *err = NULL;
    size_t n = 0;
    char **names = rocksdb_list_column_families(st->opts, st->path, &n, &err);
    int have[CF__COUNT] = {0};
    int rc = 0;

    *fresh = 0;
    *n_open = CF__COUNT;
    if (err) {
        /* Even on error the C API returns a malloc(0) list that must be freed. */
        rocksdb_list_column_families_destroy(names, n);
        if (st->read_only)
            return rdb_error(err, "cannot open for reading", st->path);
        /* No database here yet (or unreadable: the open below reports that). */
        rocksdb_free(err);
        *fresh = 1;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        int known = 0;
        for (int c = 0; c < CF__COUNT; c++) {
            if (strcmp(names[i], cf_names[c]) == 0) {
                have[c] = 1;
                known = 1;
            }
        }
        /* A writable open must name every family; one we do not know means a newer or
         * foreign layout. A read-only open may leave it closed. */
        if (!known && !st->read_only) {
            XF_ERROR("store %s: unknown column family '%s' (written by a newer xdrflow?)", st->path,
                     names[i]);
            rc = XF_ESCHEMA;
            goto out;
        }
    }
    if (!have[CF_EVENTS])
        *fresh = 1;
    if (st->read_only) {
        /* A database written before the outbox existed has no actions family; reading it
         * must still work, with no actions in it. */
        if (!have[CF_ACTIONS])
            *n_open = CF_ACTIONS;
        for (int c = 0; c < *n_open; c++) {
            if (!have[c]) {
                XF_ERROR("store %s: not an xdrflow database (no column family '%s')", st->path,
                         cf_names[c]);
                rc = XF_ESTORE;
                goto out;
            }
        }
    }
out:
    rocksdb_list_column_families_destroy(names, n);
    return rc;
}

static int open_db(struct xf_store *st, int n_open, char **err)
{
    const rocksdb_options_t *cfopts[CF__COUNT];

    for (int i = 0; i < CF__COUNT; i++)
        cfopts[i] = st->opts;
    if (st->read_only)
        st->db = rocksdb_open_for_read_only_column_families(st->opts, st->path, n_open, cf_names,
                                                            cfopts, st->cf, 0, err);
    else
        st->db = rocksdb_open_column_families(st->opts, st->path, CF__COUNT, cf_names, cfopts,
                                              st->cf, err);
    return st->db ? 0 : XF_ESTORE;
}

static int get_cf(struct xf_store *st, enum store_cf cf, const char *key, size_t klen, char **val,
                  size_t *len);

/* 1 when no family holds a row: a database whose creator died before writing the schema
 * version is still new, not foreign. */
static int db_is_empty(struct xf_store *st)
{
    for (int i = CF_EVENTS; i < CF__COUNT; i++) {
        rocksdb_iterator_t *it;
        int valid;

        if (!st->cf[i])
            continue;
        it = rocksdb_create_iterator_cf(st->db, st->get_ropts, st->cf[i]);

        rocksdb_iter_seek_to_first(it);
        valid = rocksdb_iter_valid(it);
        rocksdb_iter_destroy(it);
        if (valid)
            return 0;
    }
    return 1;
}

/* Writes the schema version into a new database, or checks the one already there. */
static int check_schema(struct xf_store *st, int fresh)
{
    char want[24];
    char *have = NULL;
    size_t hlen = 0;
    char *end = NULL;
    long v;
    int rc;

    snprintf(want, sizeof want, "%d", XF_STORE_SCHEMA_VERSION);
    rc = get_cf(st, CF_META, SCHEMA_KEY, strlen(SCHEMA_KEY), &have, &hlen);
    if (rc == XF_ENOTFOUND && !st->read_only && (fresh || db_is_empty(st))) {
        char *err = NULL;
        rocksdb_put_cf(st->db, st->wopts, st->cf[CF_META], SCHEMA_KEY, strlen(SCHEMA_KEY), want,
                       strlen(want), &err);
        rc = err ? rdb_error(err, "writing schema version", st->path) : 0;
        st->schema = XF_STORE_SCHEMA_VERSION;
        goto out;
    }
    if (rc == XF_ENOTFOUND) {
        XF_ERROR("store %s: no schema_version in meta; not an xdrflow database", st->path);
        rc = XF_ESCHEMA;
        goto out;
    }
    if (rc)
        goto out;
    errno = 0;
    v = strtol(have, &end, 10);
    /* Version 1 differs only in lacking 16-byte events keys: it is read as it is, and the
     * commit that first writes such a key also sets version 2 (so an older xdrflow keeps
     * working on a database until then, and refuses it after). */
    if (errno || end == have || *end || (v != XF_STORE_SCHEMA_VERSION && v != 1)) {
        XF_ERROR("store %s: schema version is '%s' but this build reads version %s; "
                 "use a new database directory or a matching xdrflow",
                 st->path, have, want);
        rc = XF_ESCHEMA;
        goto out;
    }
    st->schema = (int)v;
    rc = 0;
out:
    xf_free(have);
    return rc;
}

int xf_store_open(const char *path, const struct xf_store_opts *opts, struct xf_store **out)
{
    struct xf_store *st = NULL;
    char *err = NULL;
    int fresh = 0;
    int n_open = CF__COUNT;
    int rc;

    if (!path || !*path || !out)
        return XF_EINVAL;
    *out = NULL;
    st = xf_calloc(1, sizeof *st);
    if (!st)
        return XF_ENOMEM;
    st->read_only = opts ? opts->read_only : 0;
    st->path = xf_strdup(path);
    if (!st->path) {
        rc = XF_ENOMEM;
        goto fail;
    }
    build_options(st, opts, rocksdb_lz4_compression);
    if ((rc = check_families(st, &fresh, &n_open)))
        goto fail;
    rc = open_db(st, n_open, &err);
    if (rc && err && strstr(err, "ompression")) {
        /* A librocksdb built without LZ4 refuses the option at open: fall back to none. */
        XF_WARN("store %s: LZ4 unavailable (%s); storing uncompressed", path, err);
        rocksdb_free(err);
        err = NULL;
        rocksdb_options_set_compression(st->opts, rocksdb_no_compression);
        rc = open_db(st, n_open, &err);
    }
    if (rc) {
        rc = rdb_error(err, st->read_only ? "open (read-only)" : "open", path);
        goto fail;
    }
    st->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(st->wopts, opts ? (opts->sync != 0) : 0);
    rocksdb_writeoptions_disable_WAL(st->wopts, 0);
    st->action_wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(st->action_wopts, 1);
    st->get_ropts = rocksdb_readoptions_create();
    st->scan_ropts = rocksdb_readoptions_create();
    /* A recovery or export scan reads everything once: do not evict the hot blocks for it. */
    rocksdb_readoptions_set_fill_cache(st->scan_ropts, 0);
    rocksdb_readoptions_set_readahead_size(st->scan_ropts, SCAN_READAHEAD_BYTES);
    st->wb = rocksdb_writebatch_create();
    if ((rc = check_schema(st, fresh)))
        goto fail;
    st->next_seq = last_event_seq(st) + 1;
    *out = st;
    return 0;
fail:
    store_free(st);
    return rc;
}

void xf_store_close(struct xf_store *st)
{
    if (!st)
        return;
    if (st->db && !st->read_only) {
        /* Not needed for durability (the WAL has it all); it makes the next open skip the WAL
         * replay. A failure here only costs that replay. */
        rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
        rocksdb_flushoptions_set_wait(fo, 1);
        for (int i = 0; i < CF__COUNT; i++) {
            char *err = NULL;
            if (!st->cf[i])
                continue;
            rocksdb_flush_cf(st->db, fo, st->cf[i], &err);
            if (err) {
                XF_WARN("store %s: flush of %s at close: %s", st->path, cf_names[i], err);
                rocksdb_free(err);
            }
        }
        rocksdb_flushoptions_destroy(fo);
    }
    store_free(st);
}

/* ---- point reads -------------------------------------------------------------------------- */

/* Reads key from cf into a fresh NUL-terminated xf_malloc copy. 0 / XF_ENOTFOUND / error. */
static int get_cf(struct xf_store *st, enum store_cf cf, const char *key, size_t klen, char **val,
                  size_t *len)
{
    char *err = NULL;
    rocksdb_pinnableslice_t *ps;
    const char *v;
    size_t vlen = 0;
    char *copy;
    int rc;

    ps = rocksdb_get_pinned_cf(st->db, st->get_ropts, st->cf[cf], key, klen, &err);
    if (err)
        return rdb_error(err, "get", st->path);
    if (!ps)
        return XF_ENOTFOUND;
    v = rocksdb_pinnableslice_value(ps, &vlen);
    copy = xf_malloc(vlen + 1);
    if (!copy) {
        rc = XF_ENOMEM;
        goto out;
    }
    if (vlen)
        memcpy(copy, v, vlen);
    copy[vlen] = '\0';
    *val = copy;
    if (len)
        *len = vlen;
    rc = 0;
out:
    rocksdb_pinnableslice_destroy(ps);
    return rc;
}

int xf_store_event_exists(struct xf_store *st, const struct xf_event *ev)
{
    unsigned char key[16];
    char *err = NULL;
    rocksdb_pinnableslice_t *ps;

    if (!st || !ev)
        return XF_EINVAL;
    event_key(ev, key);
    ps = rocksdb_get_pinned_cf(st->db, st->get_ropts, st->cf[CF_IDS], (const char *)key, sizeof key,
                               &err);
    if (err)
        return rdb_error(err, "event lookup", st->path);
    if (!ps)
        return 0;
    rocksdb_pinnableslice_destroy(ps);
    st->duplicates++;
    return 1;
}

int xf_store_meta_get(struct xf_store *st, const char *key, char **val, size_t *len)
{
    if (!st || !key || !val)
        return XF_EINVAL;
    return get_cf(st, CF_META, key, strlen(key), val, len);
}

int xf_store_incident_get(struct xf_store *st, const char *id, char **json, size_t *len)
{
    if (!st || !id || !json)
        return XF_EINVAL;
    return get_cf(st, CF_INCIDENTS, id, strlen(id), json, len);
}

/* ---- batches ------------------------------------------------------------------------------ */

int xf_store_batch_create(struct xf_store_batch **out)
{
    struct xf_store_batch *b;

    if (!out)
        return XF_EINVAL;
    b = xf_calloc(1, sizeof *b);
    if (!b)
        return XF_ENOMEM;
    xf_buf_init(&b->ops);
    *out = b;
    return 0;
}

void xf_store_batch_destroy(struct xf_store_batch *b)
{
    if (!b)
        return;
    xf_buf_close(&b->ops);
    xf_free(b);
}

void xf_store_batch_clear(struct xf_store_batch *b)
{
    if (!b)
        return;
    xf_buf_reset(&b->ops);
    b->count = 0;
    b->nevents = 0;
}

size_t xf_store_batch_count(const struct xf_store_batch *b)
{
    return b ? b->count : 0;
}

/* Starts an op record; the caller appends the value and then calls op_end. Returns the offset
 * of the record for op_end, or a negative error with the buffer unchanged. */
static int op_begin(struct xf_store_batch *b, enum store_cf cf, enum batch_op op, const void *key,
                    size_t klen, size_t *start)
{
    unsigned char hdr[OP_HDR];
    uint32_t k32 = (uint32_t)klen;
    uint32_t zero = 0;
    int rc;

    if (klen > UINT32_MAX)
        return XF_ETOOBIG;
    hdr[0] = (unsigned char)cf;
    hdr[1] = (unsigned char)op;
    memcpy(hdr + 2, &k32, 4);
    memcpy(hdr + 6, &zero, 4);
    *start = b->ops.len;
    if ((rc = xf_buf_reserve(&b->ops, OP_HDR + klen)))
        return rc;
    xf_buf_append(&b->ops, hdr, OP_HDR); /* cannot fail: reserved */
    xf_buf_append(&b->ops, key, klen);
    return 0;
}

/* Patches the value length of the record at start, or drops the record when rc != 0. */
static int op_end(struct xf_store_batch *b, size_t start, int rc)
{
    uint32_t klen;
    uint32_t v32;
    size_t vlen;

    memcpy(&klen, b->ops.data + start + 2, 4);
    vlen = b->ops.len - start - OP_HDR - klen;
    if (!rc && vlen > UINT32_MAX)
        rc = XF_ETOOBIG;
    if (rc) {
        b->ops.len = start;
        if (b->ops.data)
            b->ops.data[start] = '\0';
        return rc;
    }
    v32 = (uint32_t)vlen;
    memcpy(b->ops.data + start + 6, &v32, 4);
    b->count++;
    return 0;
}

static int batch_put(struct xf_store_batch *b, enum store_cf cf, const void *key, size_t klen,
                     const void *val, size_t vlen)
{
    size_t start;
    int rc;

    if ((rc = op_begin(b, cf, OP_PUT, key, klen, &start)))
        return rc;
    return op_end(b, start, xf_buf_append(&b->ops, val, vlen));
}

int xf_store_batch_put_event_src(struct xf_store_batch *b, const struct xf_event *ev,
                                 uint64_t source)
{
    unsigned char key[16];
    size_t start;
    int rc;

    if (!b || !ev)
        return XF_EINVAL;
    event_key(ev, key);
    if ((rc = batch_put(b, CF_IDS, key, sizeof key, "", 0)))
        return rc;
    /* The events key is the arrival sequence number, which only the store knows: a
     * placeholder here, filled in at commit; then the source, if any. */
    memset(key, 0, 8);
    put_be64(key + 8, source);
    if ((rc = op_begin(b, CF_EVENTS, OP_PUT, key, source ? 16 : 8, &start))) {
        /* keep the pair whole: drop the ids row just queued */
        b->ops.len -= OP_HDR + sizeof key;
        b->count--;
        return rc;
    }
    /* Encode straight into the op log: no intermediate copy on the hot path. */
    if ((rc = op_end(b, start, xf_event_encode(ev, &b->ops)))) {
        b->ops.len -= OP_HDR + sizeof key;
        b->count--;
        return rc;
    }
    b->count--; /* the ids row and the event row count as one write */
    b->nevents++;
    return 0;
}

int xf_store_batch_put_event(struct xf_store_batch *b, const struct xf_event *ev)
{
    return xf_store_batch_put_event_src(b, ev, 0);
}

/* Hash of the edge identity for its key; chaining seeds keeps ("ab","c") apart from ("a","bc")
 * because the first hash already differs. */
static uint64_t edge_hash(const struct xf_store_edge *e)
{
    const char *from = e->from ? e->from : "";
    const char *to = e->to ? e->to : "";
    const char *rel = e->relation ? e->relation : "";
    uint64_t h = xf_hash64(from, strlen(from) + 1);

    h = xf_hash64_seed(to, strlen(to) + 1, h);
    return xf_hash64_seed(rel, strlen(rel) + 1, h);
}

int xf_store_batch_put_edge(struct xf_store_batch *b, const struct xf_store_edge *e)
{
    const char *strs[EDGE_NSTR];
    unsigned char key[16];
    unsigned char hdr[EDGE_HDR];
    uint64_t cbits;
    size_t start;
    int rc = 0;

    if (!b || !e)
        return XF_EINVAL;
    strs[0] = e->from;
    strs[1] = e->to;
    strs[2] = e->relation;
    strs[3] = e->key;
    strs[4] = e->event_id;
    put_be64(key, key_time(e->time));
    put_be64(key + 8, edge_hash(e));
    hdr[0] = EDGE_VERSION;
    hdr[1] = 0;
    for (int i = 0; i < EDGE_NSTR; i++)
        hdr[1] |= (unsigned char)(strs[i] ? 1u << i : 0);
    memcpy(&cbits, &e->confidence, sizeof cbits);
    put_le64(hdr + 2, cbits);
    put_le64(hdr + 10, (uint64_t)e->time);
    if ((rc = op_begin(b, CF_EDGES, OP_PUT, key, sizeof key, &start)))
        return rc;
    rc = xf_buf_append(&b->ops, hdr, sizeof hdr);
    for (int i = 0; i < EDGE_NSTR && !rc; i++) {
        unsigned char l[4];
        size_t n;
        if (!strs[i])
            continue;
        n = strlen(strs[i]);
        if (n > UINT32_MAX) {
            rc = XF_ETOOBIG;
            break;
        }
        put_le32(l, (uint32_t)n);
        /* The stored NUL lets a scan hand out pointers into RocksDB's buffer, no copy. */
        if (!(rc = xf_buf_append(&b->ops, l, sizeof l)))
            rc = xf_buf_append(&b->ops, strs[i], n + 1);
    }
    return op_end(b, start, rc);
}

int xf_store_batch_put_entity(struct xf_store_batch *b, const char *node_key, const char *val,
                              size_t len)
{
    if (!b || !node_key || (!val && len))
        return XF_EINVAL;
    return batch_put(b, CF_ENTITIES, node_key, strlen(node_key), val, len);
}

int xf_store_batch_put_incident(struct xf_store_batch *b, const char *id, const char *json,
                                size_t len)
{
    if (!b || !id || !*id || (!json && len))
        return XF_EINVAL;
    return batch_put(b, CF_INCIDENTS, id, strlen(id), json, len);
}

int xf_store_batch_delete_incident(struct xf_store_batch *b, const char *id)
{
    size_t start;
    int rc;

    if (!b || !id || !*id)
        return XF_EINVAL;
    if ((rc = op_begin(b, CF_INCIDENTS, OP_DELETE, id, strlen(id), &start)))
        return rc;
    return op_end(b, start, 0);
}

int xf_store_batch_put_meta(struct xf_store_batch *b, const char *key, const void *val, size_t len)
{
    if (!b || !key || !*key || (!val && len))
        return XF_EINVAL;
    return batch_put(b, CF_META, key, strlen(key), val, len);
}

static int cmp_id_key(const void *a, const void *b)
{
    return memcmp(*(const char *const *)a, *(const char *const *)b, 16);
}

int xf_store_batch_commit(struct xf_store *st, struct xf_store_batch *b)
{
    char *err = NULL;
    size_t pos = 0;

    if (!st || !b)
        return XF_EINVAL;
    if (!b->count)
        return 0;
    if (st->read_only) {
        XF_ERROR("store %s: write refused: opened read-only", st->path);
        return XF_ESTORE;
    }
    uint64_t seq = st->next_seq;
    int upgrade = 0;
    size_t n_ids = 0;
    rocksdb_writebatch_clear(st->wb);
    while (pos < b->ops.len) {
        char *rec = b->ops.data + pos;
        uint32_t klen;
        uint32_t vlen;
        rocksdb_column_family_handle_t *cf = st->cf[(unsigned char)rec[0]];

        memcpy(&klen, rec + 2, 4);
        memcpy(&vlen, rec + 6, 4);
        if (rec[0] == CF_IDS && rec[1] == OP_PUT && klen == 16 && vlen == 0 &&
            xf_array_grow(&st->ids_sorted, &st->cap_ids_sorted, n_ids, sizeof(*st->ids_sorted),
                          4096) == 0) {
            /* queued, and added below in key order */
            st->ids_sorted[n_ids++] = rec + OP_HDR;
            pos += OP_HDR + (size_t)klen;
            continue;
        }
        if (rec[0] == CF_EVENTS && rec[1] == OP_PUT && klen >= 8)
            put_be64((unsigned char *)rec + OP_HDR, seq++);
        if (rec[0] == CF_EVENTS && klen == 16 && st->schema < 2)
            upgrade = 1;
        if (rec[1] == OP_PUT)
            rocksdb_writebatch_put_cf(st->wb, cf, rec + OP_HDR, klen, rec + OP_HDR + klen, vlen);
        else
            rocksdb_writebatch_delete_cf(st->wb, cf, rec + OP_HDR, klen);
        pos += OP_HDR + (size_t)klen + vlen;
    }
    /* Ids rows are keyed by event time: the rows of events read from many partitions at once
     * land all over the memtable's skiplist, each insert a fresh walk from its top. In key
     * order each insert starts near where the previous one ended (RocksDB keeps that splice):
     * the daemon's catch-up of 2M events over 384 partitions (bench/kafka.sh) went from
     * 21.4-22.0 to 17.1-19.2 us of CPU per record in paired runs. */
    if (n_ids > 1)
        qsort(st->ids_sorted, n_ids, sizeof(*st->ids_sorted), cmp_id_key);
    for (size_t i = 0; i < n_ids; i++)
        rocksdb_writebatch_put_cf(st->wb, st->cf[CF_IDS], st->ids_sorted[i], 16, "", 0);
    if (upgrade) {
        char want[24];
        snprintf(want, sizeof want, "%d", XF_STORE_SCHEMA_VERSION);
        rocksdb_writebatch_put_cf(st->wb, st->cf[CF_META], SCHEMA_KEY, strlen(SCHEMA_KEY), want,
                                  strlen(want));
    }
    rocksdb_write(st->db, st->wopts, st->wb, &err);
    rocksdb_writebatch_clear(st->wb);
    /* On failure the batch is kept, so the caller may retry it as a whole. */
    if (err)
        return rdb_error(err, "batch commit", st->path);
    if (upgrade) {
        XF_INFO("store %s: schema version %d -> %d (events keys with a source)", st->path,
                st->schema, XF_STORE_SCHEMA_VERSION);
        st->schema = XF_STORE_SCHEMA_VERSION;
    }
    st->events_written += b->nevents;
    st->next_seq = seq;
    xf_store_batch_clear(b);
    return 0;
}

/* ---- scans -------------------------------------------------------------------------------- */

/* Called per row in key order; returns 0 to go on, non-zero to stop with that value. */
typedef int (*row_fn)(struct xf_store *st, const char *k, size_t klen, const char *v, size_t vlen,
                      void *ctx);

static int scan_cf(struct xf_store *st, enum store_cf cf, row_fn fn, void *ctx)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->scan_ropts, st->cf[cf]);
    char *err = NULL;
    int rc = 0;

    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen = 0;
        size_t vlen = 0;
        const char *k = rocksdb_iter_key(it, &klen);
        const char *v = rocksdb_iter_value(it, &vlen);
        if ((rc = fn(st, k, klen, v, vlen, ctx)))
            goto out;
    }
    rocksdb_iter_get_error(it, &err);
    if (err)
        rc = rdb_error(err, "scan", st->path);
out:
    rocksdb_iter_destroy(it);
    return rc;
}

static void log_bad_row(struct xf_store *st, enum store_cf cf, const char *k, size_t klen,
                        const char *why)
{
    char hex[2 * 16 + 1];
    size_t n = klen < 16 ? klen : 16;

    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)k[i]);
    hex[2 * n] = '\0';
    XF_WARN("store %s: skipping corrupt %s row (key %s%s): %s", st->path, cf_names[cf], hex,
            klen > 16 ? "..." : "", why);
}

struct event_scan {
    struct xf_event ev;
    xf_store_event_cb cb;
    xf_store_event_src_cb src_cb;
    void *ud;
};

static int event_row(struct xf_store *st, const char *k, size_t klen, const char *v, size_t vlen,
                     void *ctx)
{
    struct event_scan *es = ctx;
    int rc = xf_event_decode(&es->ev, v, vlen);

    if (rc == XF_ENOMEM)
        return rc;
    if (rc) {
        log_bad_row(st, CF_EVENTS, k, klen, xf_strerror(rc));
        return 0;
    }
    if (es->src_cb)
        return es->src_cb(&es->ev, klen == 16 ? get_be64((const unsigned char *)k + 8) : 0, es->ud);
    return es->cb(&es->ev, es->ud);
}

static int events_scan(struct xf_store *st, xf_store_event_cb cb, xf_store_event_src_cb src_cb,
                       void *ud)
{
    struct event_scan es;
    int rc;

    if (!st || (!cb && !src_cb))
        return XF_EINVAL;
    xf_event_init(&es.ev);
    es.cb = cb;
    es.src_cb = src_cb;
    es.ud = ud;
    rc = scan_cf(st, CF_EVENTS, event_row, &es);
    xf_event_close(&es.ev);
    return rc;
}

int xf_store_events_scan(struct xf_store *st, xf_store_event_cb cb, void *ud)
{
    return events_scan(st, cb, NULL, ud);
}

int xf_store_events_scan_src(struct xf_store *st, xf_store_event_src_cb cb, void *ud)
{
    return events_scan(st, NULL, cb, ud);
}

/* Incidents and actions share this: a string key and a JSON value, handed out as C strings. */
struct incident_scan {
    struct xf_buf buf;
    xf_store_incident_cb cb;
    void *ud;
};

static int incident_row(struct xf_store *st, const char *k, size_t klen, const char *v, size_t vlen,
                        void *ctx)
{
    struct incident_scan *is = ctx;
    int rc;

    /* RocksDB slices are not NUL-terminated; callers get C strings. */
    xf_buf_reset(&is->buf);
    if ((rc = xf_buf_reserve(&is->buf, klen + vlen + 2)))
        return rc;
    xf_buf_append(&is->buf, k, klen);
    xf_buf_append(&is->buf, "", 1);
    xf_buf_append(&is->buf, v, vlen);
    return is->cb(is->buf.data, is->buf.data + klen + 1, vlen, is->ud);
}

int xf_store_incidents_scan(struct xf_store *st, xf_store_incident_cb cb, void *ud)
{
    struct incident_scan is;
    int rc;

    if (!st || !cb)
        return XF_EINVAL;
    xf_buf_init(&is.buf);
    is.cb = cb;
    is.ud = ud;
    rc = scan_cf(st, CF_INCIDENTS, incident_row, &is);
    xf_buf_close(&is.buf);
    return rc;
}

/* ---- actions (the response outbox) -------------------------------------------------------- */

int xf_store_action_put(struct xf_store *st, const char *id, const char *json, size_t len)
{
    char *err = NULL;

    if (!st || !id || !*id || (!json && len))
        return XF_EINVAL;
    if (st->read_only || !st->cf[CF_ACTIONS]) {
        XF_ERROR("store %s: action write refused: opened read-only", st->path);
        return XF_ESTORE;
    }
    /* A single put with its own always-sync options: atomic, durable on return, and
     * independent of the owner thread's batch and write options. */
    rocksdb_put_cf(st->db, st->action_wopts, st->cf[CF_ACTIONS], id, strlen(id), json ? json : "",
                   len, &err);
    if (err)
        return rdb_error(err, "action put", st->path);
    return 0;
}

int xf_store_action_get(struct xf_store *st, const char *id, char **json, size_t *len)
{
    if (!st || !id || !json)
        return XF_EINVAL;
    if (!st->cf[CF_ACTIONS])
        return XF_ENOTFOUND;
    return get_cf(st, CF_ACTIONS, id, strlen(id), json, len);
}

int xf_store_actions_scan(struct xf_store *st, xf_store_action_cb cb, void *ud)
{
    struct incident_scan is;
    int rc;

    if (!st || !cb)
        return XF_EINVAL;
    if (!st->cf[CF_ACTIONS])
        return 0;
    xf_buf_init(&is.buf);
    is.cb = cb;
    is.ud = ud;
    rc = scan_cf(st, CF_ACTIONS, incident_row, &is);
    xf_buf_close(&is.buf);
    return rc;
}

/* Decodes an edge value; strings point into v (each stored with its NUL). */
static int edge_decode(const char *v, size_t vlen, struct xf_store_edge *e)
{
    const unsigned char *p = (const unsigned char *)v;
    const char **strs[EDGE_NSTR] = {&e->from, &e->to, &e->relation, &e->key, &e->event_id};
    uint64_t cbits;
    size_t pos = EDGE_HDR;

    if (vlen < EDGE_HDR || p[0] != EDGE_VERSION || (p[1] >> EDGE_NSTR))
        return XF_EPARSE;
    cbits = get_le64(p + 2);
    memcpy(&e->confidence, &cbits, sizeof cbits);
    e->time = (xf_time_t)get_le64(p + 10);
    for (int i = 0; i < EDGE_NSTR; i++) {
        uint32_t n;
        *strs[i] = NULL;
        if (!(p[1] & (1u << i)))
            continue;
        if (vlen - pos < 4)
            return XF_EPARSE;
        n = get_le32(p + pos);
        pos += 4;
        if (vlen - pos < (size_t)n + 1 || p[pos + n] != '\0')
            return XF_EPARSE;
        *strs[i] = v + pos;
        pos += (size_t)n + 1;
    }
    return pos == vlen ? 0 : XF_EPARSE;
}

struct edge_scan {
    xf_store_edge_cb cb;
    void *ud;
};

static int edge_row(struct xf_store *st, const char *k, size_t klen, const char *v, size_t vlen,
                    void *ctx)
{
    struct edge_scan *es = ctx;
    struct xf_store_edge e;

    if (edge_decode(v, vlen, &e)) {
        log_bad_row(st, CF_EDGES, k, klen, "bad edge encoding");
        return 0;
    }
    return es->cb(&e, es->ud);
}

int xf_store_edges_scan(struct xf_store *st, xf_store_edge_cb cb, void *ud)
{
    struct edge_scan es;

    if (!st || !cb)
        return XF_EINVAL;
    es.cb = cb;
    es.ud = ud;
    return scan_cf(st, CF_EDGES, edge_row, &es);
}

/* ---- statistics --------------------------------------------------------------------------- */

void xf_store_get_stats(struct xf_store *st, struct xf_store_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!st)
        return;
    out->events_written = st->events_written;
    out->duplicates = st->duplicates;
    for (int i = 0; i < CF__COUNT; i++) {
        uint64_t v = 0;
        if (!st->cf[i])
            continue;
        if (rocksdb_property_int_cf(st->db, st->cf[i], "rocksdb.estimate-num-keys", &v) == 0)
            out->estimate_num_keys += v;
        v = 0;
        if (rocksdb_property_int_cf(st->db, st->cf[i], "rocksdb.total-sst-files-size", &v) == 0)
            out->sst_bytes += v;
    }
}
