/*
 * winmap.h - Windows event mapping shared by the flat Sysmon and the winevt decoders.
 *
 * Both formats carry the same EventData names; only the envelope (where EventID, host,
 * channel, record number and time live) differs. Each decoder extracts the envelope into a
 * struct win_sys and hands the data object here, so the two can never drift apart.
 */
#ifndef XF_INGEST_WINMAP_H
#define XF_INGEST_WINMAP_H

#include "json.h"
#include "xf/event.h"

struct win_sys {
    const char *eid; /* EventID as decimal text (never NULL) */
    size_t eid_len;
    const char *channel; /* may be NULL */
    size_t channel_len;
    const char *host; /* may be NULL */
    size_t host_len;
    const char *record; /* record number as text, may be NULL */
    size_t record_len;
    xf_time_t time;
};

/* Reads the scalar member name of obj into *out and *len (num: XJ_NUMBUF scratch). Returns 1 when
 * present, 0 when absent/null/empty/"-", XF_EPARSE with a reason naming the field when it is an
 * object or array. */
int xf_win_scalar(const struct xj *obj, const char *name, char *num, const char **out, size_t *len,
                  char *err);

/* Parses the time in member name of obj. Returns 1 and *t, 0 when absent, XF_EPARSE. */
int xf_win_time(const struct xj *obj, const char *name, xf_time_t *t, char *err);

/* Fills ev from the envelope and the data object (category, fields, time, stable id).
 * raw/len is the whole record, hashed for the id when there is no record number. */
int xf_win_map(const struct xj *data, const struct win_sys *sys, const char *raw, size_t len,
               struct xf_event *ev, char *err);

#endif
