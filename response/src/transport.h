/*
 * transport.h - private to response/: HTTP requests on the response thread's libuv loop.
 *
 * One transport per loop wraps one libcurl multi handle. A request is started with
 * xf_transport_send and ends with exactly one call of its callback (with an HTTP status, or
 * status 0 and an error) - unless the transport is closed first, which abandons it silently.
 * Everything runs on the loop thread; nothing here blocks.
 */
#ifndef XF_RESPONSE_TRANSPORT_H
#define XF_RESPONSE_TRANSPORT_H

#include <uv.h>

#include "connector.h"

#define XF_TRANSPORT_MAX_BODY ((size_t)1 << 20) /* a larger answer is cut here */

struct xf_transport;

struct xf_transport_opts {
    long timeout_ms;     /* whole request; 0: 10 s */
    int tls_verify;      /* 1 (default): verify peer and host name */
    const char *ca_file; /* borrowed for the call; NULL: the system store */
};

/* The reply is borrowed for the duration of the call. */
typedef void (*xf_transport_cb)(const struct xf_conn_reply *reply, void *ud);

/* Returns 0 and *out, XF_ENOMEM or XF_EINTERNAL (libcurl refused to start). */
int xf_transport_create(uv_loop_t *loop, struct xf_transport **out);
/* Abandons every request in flight (no callbacks), closes the handles; the memory goes when
 * the loop has run their close callbacks, so the caller runs the loop once more. NULL is a
 * no-op. */
void xf_transport_close(struct xf_transport *t);
/* Starts rq (copied: the caller may reset it right after). Returns 0 or XF_E*. */
int xf_transport_send(struct xf_transport *t, const struct xf_conn_request *rq,
                      const struct xf_transport_opts *opts, xf_transport_cb cb, void *ud);
/* Requests in flight. */
size_t xf_transport_active(const struct xf_transport *t);

#endif
