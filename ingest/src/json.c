/*
 * json.c - the JSON decoders' view of jansson (see json.h).
 *
 * The only file in ingest/ that includes jansson. A struct xj is a json_t in disguise. The one
 * thing to know: parse errors are rewritten so every reason names the byte offset, because a
 * dead-lettered record is only useful if the operator can see where it broke.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "json.h"
#include "xf/ingest.h"

#define J(v) ((json_t *)(v))

struct xj *xj_parse(const char *data, size_t len, char *err)
{
    json_error_t je;
    json_t *root;
    const char *what;

    /* Duplicate keys are allowed (last wins) because real exporters emit them. */
    root = json_loadb(data, len, 0, &je);
    if (root)
        return (struct xj *)root;
    switch (json_error_code(&je)) {
    case json_error_premature_end_of_input:
        what = "truncated JSON";
        break;
    case json_error_invalid_utf8:
        what = "invalid UTF-8";
        break;
    case json_error_out_of_memory:
        what = "out of memory parsing JSON";
        break;
    case json_error_stack_overflow:
        what = "JSON nested too deeply";
        break;
    default:
        what = "malformed JSON";
        break;
    }
    snprintf(err, XF_ERRMSG_MAX, "%s at byte %d: %s", what, je.position, je.text);
    return NULL;
}

void xj_free(struct xj *root)
{
    json_decref(J(root));
}

enum xj_type xj_type(const struct xj *v)
{
    switch (json_typeof(J(v))) {
    case JSON_OBJECT:
        return XJ_OBJECT;
    case JSON_ARRAY:
        return XJ_ARRAY;
    case JSON_STRING:
        return XJ_STRING;
    case JSON_INTEGER:
    case JSON_REAL:
        return XJ_NUMBER;
    case JSON_TRUE:
    case JSON_FALSE:
        return XJ_BOOL;
    default:
        return XJ_NULL;
    }
}

const char *xj_type_name(const struct xj *v)
{
    static const char *const names[] = {"null",     "a boolean", "a number",
                                        "a string", "an object", "an array"};
    return names[xj_type(v)];
}

const struct xj *xj_getn(const struct xj *v, const char *key, size_t klen)
{
    if (!v || !json_is_object(J(v)))
        return NULL;
    return (const struct xj *)json_object_getn(J(v), key, klen);
}

const struct xj *xj_get(const struct xj *v, const char *key)
{
    return xj_getn(v, key, strlen(key));
}

const char *xj_string(const struct xj *v, size_t *len)
{
    if (!v || !json_is_string(J(v)))
        return NULL;
    if (len)
        *len = json_string_length(J(v));
    return json_string_value(J(v));
}

const char *xj_scalar(const struct xj *v, char *num, size_t *len)
{
    int n;

    if (!v)
        return NULL;
    switch (json_typeof(J(v))) {
    case JSON_STRING:
        *len = json_string_length(J(v));
        return json_string_value(J(v));
    case JSON_INTEGER:
        n = snprintf(num, XJ_NUMBUF, "%" JSON_INTEGER_FORMAT, json_integer_value(J(v)));
        break;
    case JSON_REAL:
        n = snprintf(num, XJ_NUMBUF, "%.17g", json_real_value(J(v)));
        break;
    case JSON_TRUE:
        *len = 4;
        return "true";
    case JSON_FALSE:
        *len = 5;
        return "false";
    default:
        return NULL;
    }
    if (n < 0 || n >= XJ_NUMBUF)
        return NULL;
    *len = (size_t)n;
    return num;
}

size_t xj_array_size(const struct xj *v)
{
    return v && json_is_array(J(v)) ? json_array_size(J(v)) : 0;
}

const struct xj *xj_array_get(const struct xj *v, size_t i)
{
    return (const struct xj *)json_array_get(J(v), i);
}

void *xj_iter(const struct xj *obj)
{
    return obj && json_is_object(J(obj)) ? json_object_iter(J(obj)) : NULL;
}

void *xj_iter_next(const struct xj *obj, void *it)
{
    return json_object_iter_next(J(obj), it);
}

const char *xj_iter_key(void *it, size_t *klen)
{
    if (klen)
        *klen = json_object_iter_key_len(it);
    return json_object_iter_key(it);
}

const struct xj *xj_iter_value(void *it)
{
    return (const struct xj *)json_object_iter_value(it);
}
