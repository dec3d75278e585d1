/*
 * winmap.c - Windows EventData -> xf_event, for the Sysmon and winevt decoders.
 *
 * Two passes: first every key whose name is a canonical field (Image, ParentProcessGuid, ...)
 * is copied as it is, so new Sysmon fields need no code; then the per-EventID renames
 * (Security 4688 NewProcessName -> Image, 5156 DestAddress -> DestinationIp, ...) overwrite.
 * The one thing to know: Security events reuse canonical names with other meanings (4688's
 * ProcessId is the *creator*), so the rename pass must run after the generic copy.
 */
#include <stdio.h>
#include <string.h>

#include "decoder.h"
#include "winmap.h"

#define ID_HOST_MAX 200

int xf_win_scalar(const struct xj *obj, const char *name, char *num, const char **out, size_t *len,
                  char *err)
{
    const struct xj *v = xj_get(obj, name);
    const char *s;

    if (!v)
        return 0;
    if (xj_type(v) == XJ_OBJECT || xj_type(v) == XJ_ARRAY) {
        snprintf(err, XF_ERRMSG_MAX, "field '%s' is %s, expected number or string", name,
                 xj_type_name(v));
        return XF_EPARSE;
    }
    s = xj_scalar(v, num, len);
    if (!s || *len == 0 || (*len == 1 && s[0] == '-'))
        return 0;
    *out = s;
    return 1;
}

int xf_win_time(const struct xj *obj, const char *name, xf_time_t *t, char *err)
{
    const struct xj *v = xj_get(obj, name);
    const char *s;
    size_t len = 0;

    if (!v || xj_type(v) == XJ_NULL)
        return 0;
    s = xj_string(v, &len);
    if (!s) {
        snprintf(err, XF_ERRMSG_MAX, "field '%s' is %s, expected a time string", name,
                 xj_type_name(v));
        return XF_EPARSE;
    }
    if (len == 0)
        return 0;
    if (xf_time_parse(s, len, t) != 0) {
        snprintf(err, XF_ERRMSG_MAX, "field '%s' is not a time: \"%.64s\"", name, s);
        return XF_EPARSE;
    }
    return 1;
}

/* Copies the scalar member name of data into f (absent/"-"/"" skipped). */
static int copy(const struct xj *data, const char *name, struct xf_event *ev, enum xf_field f,
                char *err)
{
    char num[XJ_NUMBUF];
    const char *s = NULL;
    size_t len = 0;
    int rc = xf_win_scalar(data, name, num, &s, &len, err);

    if (rc <= 0)
        return rc;
    return xf_event_set(ev, f, s, len);
}

/* "DOMAIN\user" from two members (either may be missing). */
static int copy_qualified(const struct xj *data, const char *dom, const char *user,
                          struct xf_event *ev, enum xf_field f, char *err)
{
    char n1[XJ_NUMBUF], n2[XJ_NUMBUF], buf[512];
    const char *d = NULL, *u = NULL;
    size_t dl = 0, ul = 0;
    int rd = xf_win_scalar(data, dom, n1, &d, &dl, err);
    int ru;

    if (rd < 0)
        return rd;
    ru = xf_win_scalar(data, user, n2, &u, &ul, err);
    if (ru <= 0)
        return ru;
    if (rd == 0 || dl + ul + 2 > sizeof buf)
        return xf_event_set(ev, f, u, ul);
    memcpy(buf, d, dl);
    buf[dl] = '\\';
    memcpy(buf + dl + 1, u, ul);
    return xf_event_set(ev, f, buf, dl + 1 + ul);
}

/* Pulls SHA256=... out of "SHA1=..,MD5=..,SHA256=..,IMPHASH=..". */
static int hashes_to_sha256(struct xf_event *ev)
{
    const char *h = xf_event_get(ev, XF_F_HASHES);
    const char *p = h;

    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 7 && xf_strncaseeq(p, "SHA256=", 7)) {
            char tmp[80];
            if (n - 7 >= sizeof tmp)
                return 0;
            memcpy(tmp, p + 7, n - 7);
            return xf_event_set(ev, XF_F_SHA256, tmp, n - 7);
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* Sysmon 22 QueryResults "type:  5 x.com;::ffff:10.0.0.1;" -> one value per answer, with the
 * IPv4-mapped prefix dropped so answers compare equal to DestinationIp. */
static int split_query_results(struct xf_event *ev)
{
    const char *all = xf_event_get(ev, XF_F_QUERY_RESULTS);
    char *copy_s;
    char *p;
    int rc = 0, first = 1;

    if (!all)
        return 0;
    copy_s = xf_strdup(all);
    if (!copy_s)
        return XF_ENOMEM;
    ev->nval[XF_F_QUERY_RESULTS] = 0;
    ev->off[XF_F_QUERY_RESULTS] = 0;
    p = copy_s;
    while (*p && rc == 0) {
        char *end = strchr(p, ';');
        size_t n;
        if (end)
            *end = '\0';
        while (*p == ' ')
            p++;
        n = strlen(p);
        while (n && p[n - 1] == ' ')
            n--;
        if (n > 7 && strncmp(p, "::ffff:", 7) == 0) {
            p += 7;
            n -= 7;
        }
        if (n) {
            rc = first ? xf_event_set(ev, XF_F_QUERY_RESULTS, p, n)
                       : xf_event_add(ev, XF_F_QUERY_RESULTS, p, n);
            first = 0;
        }
        if (!end)
            break;
        p = end + 1;
    }
    xf_free(copy_s);
    return rc;
}

static int contains_nocase(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = 0; s && i + n <= len; i++)
        if (xf_strncaseeq(s + i, needle, n))
            return 1;
    return 0;
}

static long eid_number(const struct win_sys *sys)
{
    long v = 0;

    if (sys->eid_len == 0 || sys->eid_len > 6)
        return -1;
    for (size_t i = 0; i < sys->eid_len; i++) {
        if (sys->eid[i] < '0' || sys->eid[i] > '9')
            return -1;
        v = v * 10 + (sys->eid[i] - '0');
    }
    return v;
}

static enum xf_category sysmon_category(long eid, struct xf_event *ev, int *rc)
{
    switch (eid) {
    case 1:
        return XF_CAT_PROCESS;
    case 3:
        return XF_CAT_NETWORK;
    case 5:
        return XF_CAT_PROCESS_END;
    case 7:
        return XF_CAT_IMAGE_LOAD;
    case 10:
        return XF_CAT_PROCESS_ACCESS;
    case 11:
        *rc = xf_event_set(ev, XF_F_FILE_OPERATION, "create", 6);
        return XF_CAT_FILE;
    case 23:
    case 26:
        *rc = xf_event_set(ev, XF_F_FILE_OPERATION, "delete", 6);
        return XF_CAT_FILE;
    case 12:
    case 13:
    case 14:
        return XF_CAT_REGISTRY;
    case 22:
        *rc = split_query_results(ev);
        return XF_CAT_DNS;
    default:
        return XF_CAT_OTHER;
    }
}

/* Security/System events that name things differently from Sysmon. */
static int security_map(long eid, const struct xj *d, struct xf_event *ev, enum xf_category *cat,
                        char *err)
{
    int rc = 0;
    char num[XJ_NUMBUF];
    const char *s = NULL;
    size_t len = 0;

    switch (eid) {
    case 4688:
        *cat = XF_CAT_PROCESS;
        /* 4688's ProcessId is the creator's pid: move it before NewProcessId takes its place */
        ev->nval[XF_F_PROCESS_ID] = 0;
        ev->off[XF_F_PROCESS_ID] = 0;
        if ((rc = copy(d, "ProcessId", ev, XF_F_PARENT_PROCESS_ID, err)) ||
            (rc = copy(d, "NewProcessName", ev, XF_F_IMAGE, err)) ||
            (rc = copy(d, "NewProcessId", ev, XF_F_PROCESS_ID, err)) ||
            (rc = copy(d, "ParentProcessName", ev, XF_F_PARENT_IMAGE, err)) ||
            (rc = copy(d, "SubjectLogonId", ev, XF_F_LOGON_ID, err)) ||
            (rc = copy_qualified(d, "SubjectDomainName", "SubjectUserName", ev, XF_F_USER, err)))
            return rc;
        return 0;
    case 4624:
    case 4625:
    case 4648:
        *cat = XF_CAT_LOGON;
        if ((rc = copy_qualified(d, "TargetDomainName", "TargetUserName", ev, XF_F_TARGET_USER_NAME,
                                 err)) ||
            (rc = copy(d, "SubjectLogonId", ev, XF_F_LOGON_ID, err)))
            return rc;
        /* the account that logged on is the event's user, for host/user joins (read from
         * the record again: a value in the arena must not be copied into the same arena) */
        if (!xf_event_get(ev, XF_F_USER))
            rc = copy_qualified(d, "TargetDomainName", "TargetUserName", ev, XF_F_USER, err);
        return rc;
    case 5156:
        *cat = XF_CAT_NETWORK;
        if ((rc = copy(d, "Application", ev, XF_F_IMAGE, err)) ||
            (rc = copy(d, "SourceAddress", ev, XF_F_SOURCE_IP, err)) ||
            (rc = copy(d, "DestAddress", ev, XF_F_DESTINATION_IP, err)) ||
            (rc = copy(d, "DestPort", ev, XF_F_DESTINATION_PORT, err)))
            return rc;
        rc = xf_win_scalar(d, "Direction", num, &s, &len, err);
        if (rc < 0)
            return rc;
        if (rc == 1 && len == 7 && memcmp(s, "%%14593", 7) == 0)
            rc = xf_event_set(ev, XF_F_INITIATED, "true", 4);
        else if (rc == 1 && len == 7 && memcmp(s, "%%14592", 7) == 0)
            rc = xf_event_set(ev, XF_F_INITIATED, "false", 5);
        else
            rc = 0;
        if (rc)
            return rc;
        /* WFP writes IANA protocol numbers; Sysmon writes names */
        s = xf_event_get(ev, XF_F_PROTOCOL);
        if (s && strcmp(s, "6") == 0)
            rc = xf_event_set(ev, XF_F_PROTOCOL, "tcp", 3);
        else if (s && strcmp(s, "17") == 0)
            rc = xf_event_set(ev, XF_F_PROTOCOL, "udp", 3);
        return rc;
    case 7045:
        *cat = XF_CAT_SERVICE;
        return 0;
    case 4697:
        *cat = XF_CAT_SERVICE;
        if ((rc = copy(d, "ServiceFileName", ev, XF_F_IMAGE_PATH, err)) ||
            (rc = copy_qualified(d, "SubjectDomainName", "SubjectUserName", ev, XF_F_USER, err)))
            return rc;
        return 0;
    default:
        return 0;
    }
}

/* Stable id: "win:" + host + "|" + channel + "|" + record, lowercased. The Sysmon channel is
 * abbreviated "sysmon" and an id that still does not fit replaces host|channel with its hash,
 * so the record number (the part that makes it unique) is never cut off. */
static void set_id(const struct win_sys *sys, const char *raw, size_t len, struct xf_event *ev)
{
    char id[ID_HOST_MAX * 2];
    char key[ID_HOST_MAX * 2];
    const char *ch = sys->channel ? sys->channel : "";
    size_t chl = sys->channel ? sys->channel_len : 0;
    size_t hl = sys->host ? sys->host_len : 0;
    int n;

    if (!sys->record || sys->record_len > 20) {
        xf_event_set_content_id(ev, raw, len);
        return;
    }
    if (chl == 36 && xf_strncaseeq(ch, "Microsoft-Windows-Sysmon/Operational", 36)) {
        ch = "sysmon";
        chl = 6;
    }
    if (hl > ID_HOST_MAX / 2)
        hl = ID_HOST_MAX / 2;
    if (chl > ID_HOST_MAX / 2)
        chl = ID_HOST_MAX / 2;
    n = snprintf(key, sizeof key, "%.*s|%.*s", (int)hl, hl ? sys->host : "", (int)chl, ch);
    xf_str_lower(key);
    n = snprintf(id, sizeof id, "win:%s|%.*s", key, (int)sys->record_len, sys->record);
    if (n < 0 || n >= XF_EVENT_ID_MAX) {
        snprintf(id, sizeof id, "win:%016llx|%.*s", (unsigned long long)xf_hash64(key, strlen(key)),
                 (int)sys->record_len, sys->record);
    }
    xf_event_set_id(ev, id);
}

int xf_win_map(const struct xj *data, const struct win_sys *sys, const char *raw, size_t len,
               struct xf_event *ev, char *err)
{
    enum xf_category cat;
    long eid = eid_number(sys);
    int rc = 0;

    /* pass 1: every canonical key, copied as seen */
    for (void *it = xj_iter(data); it; it = xj_iter_next(data, it)) {
        size_t klen = 0, vlen = 0;
        const char *k = xj_iter_key(it, &klen);
        const struct xj *v = xj_iter_value(it);
        char num[XJ_NUMBUF];
        const char *s;
        int f = xf_dec_field_lookup(k, klen);
        if (f < 0 || f == XF_F_HOST || f == XF_F_EVENT_ID || f == XF_F_CHANNEL)
            continue;
        s = xj_scalar(v, num, &vlen);
        if (!s)
            continue; /* objects/arrays under a canonical name carry nothing we can use */
        rc = xf_dec_set(ev, (enum xf_field)f, s, vlen);
        if (rc)
            goto out;
    }
    if ((rc = xf_event_set(ev, XF_F_EVENT_ID, sys->eid, sys->eid_len)))
        goto out;
    if (sys->channel && (rc = xf_dec_set(ev, XF_F_CHANNEL, sys->channel, sys->channel_len)))
        goto out;
    if (sys->host && (rc = xf_dec_set_lower(ev, XF_F_HOST, sys->host, sys->host_len)))
        goto out;
    if (sys->record && (rc = xf_dec_set(ev, XF_F_RECORD_ID, sys->record, sys->record_len)))
        goto out;

    /* pass 2: per-event renames */
    cat = XF_CAT_OTHER;
    if (eid >= 1 && eid <= 255 &&
        (!sys->channel || contains_nocase(sys->channel, sys->channel_len, "sysmon")))
        cat = sysmon_category(eid, ev, &rc);
    else
        rc = security_map(eid, data, ev, &cat, err);
    if (rc)
        goto out;
    if (xf_event_get(ev, XF_F_HASHES) && !xf_event_get(ev, XF_F_SHA256))
        rc = hashes_to_sha256(ev);
    if (rc)
        goto out;
    ev->category = cat;
    ev->time = sys->time;
    set_id(sys, raw, len, ev);
out:
    if (rc && rc != XF_EPARSE)
        snprintf(err, XF_ERRMSG_MAX, "mapping Windows event %.*s: %s", (int)sys->eid_len, sys->eid,
                 xf_strerror(rc));
    return rc;
}
