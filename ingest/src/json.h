/*
 * json.h - the JSON tree the JSON decoders read (private to ingest/).
 *
 * A deliberately small read-only view: parse, look a member up, read a scalar, walk objects
 * and arrays. Only json.c knows which parser sits underneath (jansson today), so a faster
 * parser can replace it by rewriting that one file.
 */
#ifndef XF_INGEST_JSON_H
#define XF_INGEST_JSON_H

#include <stddef.h>

struct xj; /* one JSON value; borrowed from its document */

enum xj_type { XJ_NULL, XJ_BOOL, XJ_NUMBER, XJ_STRING, XJ_OBJECT, XJ_ARRAY };

/* Parses one JSON document. Returns the root (free with xj_free) or NULL with a reason in err
 * (XF_ERRMSG_MAX bytes) that names the byte offset: "truncated JSON at byte 812: ...",
 * "invalid UTF-8 at byte 17: ...", "malformed JSON at byte 3: ...". */
struct xj *xj_parse(const char *data, size_t len, char *err);
void xj_free(struct xj *root);

enum xj_type xj_type(const struct xj *v);
/* "an object", "a string", ...: for error messages. */
const char *xj_type_name(const struct xj *v);

/* Member key[0..klen) of an object, or NULL (absent, or v is not an object). */
const struct xj *xj_getn(const struct xj *v, const char *key, size_t klen);
const struct xj *xj_get(const struct xj *v, const char *key);

/* A string's bytes (NUL-terminated) and length, or NULL when v is not a string. */
const char *xj_string(const struct xj *v, size_t *len);

/* Any scalar as text: strings as they are, integers and reals in decimal, booleans as
 * "true"/"false". num is scratch space for numbers (at least 32 bytes). Returns NULL for null,
 * objects and arrays. */
#define XJ_NUMBUF 32
const char *xj_scalar(const struct xj *v, char *num, size_t *len);

size_t xj_array_size(const struct xj *v); /* 0 when not an array */
const struct xj *xj_array_get(const struct xj *v, size_t i);

/* Object iteration: for (it = xj_iter(o); it; it = xj_iter_next(o, it)) */
void *xj_iter(const struct xj *obj);
void *xj_iter_next(const struct xj *obj, void *it);
const char *xj_iter_key(void *it, size_t *klen);
const struct xj *xj_iter_value(void *it);

#endif
