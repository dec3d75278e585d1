/*
 * audit.h - private to response/: the audit log, one JSON object per line.
 *
 * Every decision of the response service (planned, blocked, approved, denied, sent, confirmed,
 * failed) and every state-changing API request is one line. Thread-safe: the loop and the API
 * threads write to the same sink.
 */
#ifndef XF_RESPONSE_AUDIT_H
#define XF_RESPONSE_AUDIT_H

#include "xf/response.h"

struct xf_audit;

/* One line of the audit log; NULL fields are left out. */
struct xf_audit_rec {
    const char *action;      /* event.action: isolate | release | notify | approve | deny | ... */
    const char *outcome;     /* event.outcome: success | failure | unknown */
    const char *host;        /* host.name */
    const char *action_id;   /* xdrflow.action.id */
    const char *state;       /* xdrflow.action.state: the state or decision (blocked, ...) */
    const char *connector;   /* xdrflow.action.connector */
    const char *incident;    /* xdrflow.incident */
    const char *actor;       /* xdrflow.actor: "policy" or the API token's name */
    const char *reason;      /* xdrflow.reason */
    const char *detail_json; /* xdrflow.detail: a JSON value (a string when it is not JSON) */
};

/* path NULL or "": lines go to the log at INFO. Otherwise the file is opened for appending
 * (created 0640). Returns 0 and *out, or XF_EIO (logged). */
int xf_audit_open(const char *path, struct xf_audit **out);
void xf_audit_close(struct xf_audit *au);
/* Writes one line (fsync'ed for a file). Returns 0 or XF_E*. */
int xf_audit_write(struct xf_audit *au, const struct xf_audit_rec *rec);

#endif
