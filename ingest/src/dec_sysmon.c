/*
 * dec_sysmon.c - flat Sysmon/Windows JSON (NXLog im_msvistalog, Winlogbeat raw), the shape of
 * the OTRF Security-Datasets: EventData keys flattened next to EventID, Channel, Hostname.
 *
 * The one thing to know: in this shape @timestamp is the *ingest* time; the event time is
 * UtcTime, and @timestamp is only the fallback for events that have no UtcTime (Security).
 * EventTime is local time and is never used. The mapping itself is shared with the winevt
 * decoder in winmap.c.
 */
#include <stdio.h>

#include "decoder.h"
#include "winmap.h"

static int sysmon_probe(const struct xj *root)
{
    if (!xj_get(root, "EventID"))
        return 0;
    if (xj_get(root, "Hostname") || xj_get(root, "Channel"))
        return 80;
    return 0;
}

static int sysmon_decode(const struct xj *root, const char *raw, size_t len, struct xf_event *ev,
                         char *err)
{
    char n_eid[XJ_NUMBUF], n_ch[XJ_NUMBUF], n_host[XJ_NUMBUF], n_rec[XJ_NUMBUF];
    struct win_sys sys = {0};
    int rc;

    if (xj_type(root) != XJ_OBJECT) {
        snprintf(err, XF_ERRMSG_MAX, "record is %s, expected a JSON object", xj_type_name(root));
        return XF_EPARSE;
    }
    rc = xf_win_scalar(root, "EventID", n_eid, &sys.eid, &sys.eid_len, err);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        snprintf(err, XF_ERRMSG_MAX, "no 'EventID' field");
        return XF_EPARSE;
    }
    if ((rc = xf_win_scalar(root, "Channel", n_ch, &sys.channel, &sys.channel_len, err)) < 0 ||
        (rc = xf_win_scalar(root, "Hostname", n_host, &sys.host, &sys.host_len, err)) < 0 ||
        (rc = xf_win_scalar(root, "RecordNumber", n_rec, &sys.record, &sys.record_len, err)) < 0)
        return rc;
    rc = xf_win_time(root, "UtcTime", &sys.time, err);
    if (rc == 0)
        rc = xf_win_time(root, "@timestamp", &sys.time, err);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        snprintf(err, XF_ERRMSG_MAX, "no event time (UtcTime/@timestamp)");
        return XF_EPARSE;
    }
    return xf_win_map(root, &sys, raw, len, ev, err);
}

const struct json_row xf_dec_sysmon_row = {XF_FMT_SYSMON, sysmon_probe, sysmon_decode};
