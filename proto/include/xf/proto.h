/*
 * xf/proto.h - the protobuf wire form of an event (proto/xdrflow/v1/telemetry.proto).
 *
 * The only module that includes protobuf-c. Decoding maps an xdrflow.v1.Event onto xf_event;
 * encoding does the reverse, used by `xdrflow produce`, benchmarks and tests to write proto.
 */
#ifndef XF_PROTO_H
#define XF_PROTO_H

#include <stddef.h>

#include "xf/core.h"
#include "xf/event.h"

/* Decodes one serialized Event (no length prefix) into ev (already reset). On failure writes a
 * reason into err (256 bytes) and returns XF_EPARSE. */
int xf_proto_decode(const void *data, size_t len, struct xf_event *ev, char *err);

/* Appends the serialized Event for ev to out; when delimited, prefixed by its varint length. */
int xf_proto_encode(const struct xf_event *ev, struct xf_buf *out, int delimited);

#endif
