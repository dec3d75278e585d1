/*
 * incindex.h - private to response/: which actions belong to which incident, in memory.
 *
 * The API shows an incident with its actions on every GET; the outbox is keyed by action id
 * and never trimmed, so finding them by scanning it would cost one read per action ever
 * planned. This index maps incident id -> action ids. Any thread may use it (own mutex).
 */
#ifndef XF_RESPONSE_INCINDEX_H
#define XF_RESPONSE_INCINDEX_H

#include <stddef.h>

#include "xf/response.h"

struct xf_incindex;

int xf_incindex_create(struct xf_incindex **out);
void xf_incindex_destroy(struct xf_incindex *ix);
/* Records that action id belongs to incident (nothing for "" or an id already there). */
int xf_incindex_add(struct xf_incindex *ix, const char *incident, const char *id);
/* A copy of the incident's action ids in the order they were added: *ids (caller frees with
 * xf_free; NULL when none) and *n. */
int xf_incindex_get(struct xf_incindex *ix, const char *incident, char (**ids)[XF_ACTION_ID_LEN],
                    size_t *n);

#endif
