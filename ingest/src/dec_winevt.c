/*
 * dec_winevt.c - Windows event JSON as EVTX converters render it:
 *   {"Event":{"System":{"EventID":..,"Computer":..,"Channel":..,"EventRecordID":..,
 *             "TimeCreated":{"#attributes":{"SystemTime":..}}},"EventData":{...}}}
 *
 * Only the envelope is read here; EventData goes through winmap.c exactly like the flat Sysmon
 * shape. The one thing to know: converters disagree on scalars, so EventID may be a number, a
 * string, or an object holding "#text" or "Value" (when the XML element had attributes).
 */
#include <stdio.h>

#include "decoder.h"
#include "winmap.h"

static int winevt_probe(const struct xj *root)
{
    return xj_get(xj_get(root, "Event"), "System") ? 100 : 0;
}

/* EventID as number, string, {"#text": ..} or {"Value": ..}. */
static int event_id(const struct xj *sys, char *num, struct win_sys *ws, char *err)
{
    const struct xj *v = xj_get(sys, "EventID");
    int rc;

    if (v && xj_type(v) == XJ_OBJECT) {
        const char *key = xj_get(v, "#text") ? "#text" : "Value";
        rc = xf_win_scalar(v, key, num, &ws->eid, &ws->eid_len, err);
        if (rc == 0) {
            snprintf(err, XF_ERRMSG_MAX,
                     "field 'System.EventID' is an object without \"#text\" or \"Value\"");
            return XF_EPARSE;
        }
        return rc < 0 ? rc : 0;
    }
    rc = xf_win_scalar(sys, "EventID", num, &ws->eid, &ws->eid_len, err);
    if (rc == 0) {
        snprintf(err, XF_ERRMSG_MAX, "no 'System.EventID' field");
        return XF_EPARSE;
    }
    return rc < 0 ? rc : 0;
}

static int winevt_decode(const struct xj *root, const char *raw, size_t len, struct xf_event *ev,
                         char *err)
{
    char n_eid[XJ_NUMBUF], n_ch[XJ_NUMBUF], n_host[XJ_NUMBUF], n_rec[XJ_NUMBUF];
    const struct xj *e = xj_get(root, "Event");
    const struct xj *sys = xj_get(e, "System");
    const struct xj *data = xj_get(e, "EventData");
    const struct xj *tc;
    struct win_sys ws = {0};
    int rc;

    if (!sys || xj_type(sys) != XJ_OBJECT) {
        snprintf(err, XF_ERRMSG_MAX, "no 'Event.System' object");
        return XF_EPARSE;
    }
    if (data && xj_type(data) != XJ_OBJECT && xj_type(data) != XJ_NULL) {
        snprintf(err, XF_ERRMSG_MAX, "field 'Event.EventData' is %s, expected an object",
                 xj_type_name(data));
        return XF_EPARSE;
    }
    if ((rc = event_id(sys, n_eid, &ws, err)) < 0)
        return rc;
    if ((rc = xf_win_scalar(sys, "Channel", n_ch, &ws.channel, &ws.channel_len, err)) < 0 ||
        (rc = xf_win_scalar(sys, "Computer", n_host, &ws.host, &ws.host_len, err)) < 0 ||
        (rc = xf_win_scalar(sys, "EventRecordID", n_rec, &ws.record, &ws.record_len, err)) < 0)
        return rc;
    /* UtcTime (Sysmon's own clock) wins over the log's TimeCreated */
    rc = xf_win_time(data, "UtcTime", &ws.time, err);
    if (rc == 0) {
        tc = xj_get(sys, "TimeCreated");
        if (tc && xj_type(tc) == XJ_STRING)
            rc = xf_win_time(sys, "TimeCreated", &ws.time, err);
        else if (xj_get(tc, "#attributes"))
            rc = xf_win_time(xj_get(tc, "#attributes"), "SystemTime", &ws.time, err);
        else
            rc = xf_win_time(tc, "SystemTime", &ws.time, err);
    }
    if (rc < 0)
        return rc;
    if (rc == 0) {
        snprintf(err, XF_ERRMSG_MAX, "no event time (EventData.UtcTime/System.TimeCreated)");
        return XF_EPARSE;
    }
    return xf_win_map(data, &ws, raw, len, ev, err);
}

const struct json_row xf_dec_winevt_row = {XF_FMT_WINEVT, winevt_probe, winevt_decode};
