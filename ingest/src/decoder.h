/*
 * decoder.h - what the decoder files share with the table in decoder.c (private to ingest/).
 *
 * JSON formats are probed and decoded from one parsed tree, so AUTO detection parses a record
 * once however many JSON formats there are. Each JSON decoder file exports a struct json_row;
 * decoder.c turns it into the public struct xf_decoder row.
 */
#ifndef XF_INGEST_DECODER_H
#define XF_INGEST_DECODER_H

#include "json.h"
#include "xf/ingest.h"

struct json_row {
    enum xf_format format;
    /* 0 = not mine .. 100 = certain, looking at the parsed root object */
    int (*probe)(const struct xj *root);
    /* fills ev (reset) from root; raw/len is the record, for content-hash ids */
    int (*decode)(const struct xj *root, const char *raw, size_t len, struct xf_event *ev,
                  char *err);
};

extern const struct json_row xf_dec_sysmon_row;
extern const struct json_row xf_dec_winevt_row;
extern const struct json_row xf_dec_ecs_row;

int xf_dec_proto_probe(const char *data, size_t len);
int xf_dec_proto_decode(const char *data, size_t len, struct xf_event *ev, char *err);

/* Stores s[0..len) unless it is empty or the Windows placeholder "-" (those mean absent). */
int xf_dec_set(struct xf_event *ev, enum xf_field f, const char *s, size_t len);
/* Same, lowercased (host names). */
int xf_dec_set_lower(struct xf_event *ev, enum xf_field f, const char *s, size_t len);
/* Finds a canonical field name fast (xf_field_lookup semantics: case-insensitive); -1 if none. */
int xf_dec_field_lookup(const char *name, size_t len);

#endif
