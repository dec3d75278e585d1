/*
 * dec_proto.c - the protobuf row of the decoder table: xdrflow.v1.Event via xf_proto.
 *
 * Protobuf has no magic bytes, so the probe is weak on purpose: AUTO mode only tries protobuf
 * for records that do not start like JSON. The decoding itself lives in proto/, the only module
 * that includes protobuf-c.
 */
#include <stdio.h>

#include "decoder.h"
#include "xf/proto.h"

int xf_dec_proto_probe(const char *data, size_t len)
{
    /* A serialized Event starts with a field key of wire type 0 or 2; '{' never is one we use */
    if (len == 0 || data[0] == '{')
        return 0;
    return ((unsigned char)data[0] & 7) <= 2 ? 10 : 0;
}

int xf_dec_proto_decode(const char *data, size_t len, struct xf_event *ev, char *err)
{
    return xf_proto_decode(data, len, ev, err);
}
