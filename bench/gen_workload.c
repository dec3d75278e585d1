/*
 * gen_workload.c - xf-gen-workload: a deterministic synthetic telemetry workload for the
 * replay benchmark, written as ECS JSON lines or length-delimited protobuf.
 *
 * Every record is first built as an xf_event (the normalized model), then written either by
 * xf_proto_encode or by the ECS writer below, which nests the same fields the way Winlogbeat
 * does (agent, ecs, host{os}, event, process{parent}, user, winlog{event_data}) so a record is
 * about 900 bytes. The one thing to know: the output depends only on (--events, --seed); the
 * random generator is a local splitmix64 and event time is base + i * step, never the clock,
 * so the ECS and proto files of one seed describe the same events and a cached file can be
 * reused across runs.
 *
 * Workload: N hosts (default 2,000) with one user each; per host a small ring of live
 * processes (explorer.exe and svchost.exe first, so every parent GUID was itself emitted);
 * background process starts, file creates, connections, DNS queries and network logons; and
 * every --chain-every events one Emotet-like chain (gateway mail -> Outlook writes the .docm ->
 * WINWORD -> wmiprvse -> powershell -enc -> DNS + download -> DLL write -> regsvr32 -> three C2
 * beacons) so join specs and Sigma rules do real work. 1M events span 2 hours of event time.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xf/core.h"
#include "xf/event.h"
#include "xf/proto.h"

#define RING 16
#define BASE_TIME_MS INT64_C(1795165200000) /* 2026-11-20T09:00:00Z */
#define STEP_US 7200                        /* 1M events = 2 h of event time */

enum out_format { OUT_ECS, OUT_PROTO };

struct proc {
    char guid[40];
    const char *image;
    char cmdline[480];
    uint32_t pid;
};

struct host {
    char name[48]; /* FQDN, lowercase */
    char short_[24];
    char ip[48];
    char user[32];
    struct proc ring[RING]; /* [0] explorer.exe, [1] svchost.exe, rest recycled */
    int started;
    uint32_t next_pid;
    uint64_t record_id;
};

struct gen {
    uint64_t rng;
    uint64_t seq; /* events written so far */
    uint64_t n_events;
    uint64_t chain_every;
    uint64_t chains;
    size_t n_hosts;
    struct host *hosts;
    enum out_format fmt;
    FILE *out;
    struct xf_event ev;
    struct xf_buf buf;
    uint64_t bytes;
    /* per-record ECS extras that have no xf_event field */
    const char *ecs_type;
};

static const char *const benign_images[] = {
    "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
    "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
    "C:\\Windows\\System32\\notepad.exe",
    "C:\\Windows\\System32\\conhost.exe",
    "C:\\Windows\\System32\\SearchProtocolHost.exe",
    "C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe",
    "C:\\Windows\\System32\\taskhostw.exe",
    "C:\\Program Files\\Mozilla Firefox\\firefox.exe",
    "C:\\Windows\\System32\\RuntimeBroker.exe",
    "C:\\Program Files\\Microsoft VS Code\\Code.exe",
};

static const char *const domains[] = {
    "www.google.com",
    "login.microsoftonline.com",
    "outlook.office365.com",
    "cdn.jsdelivr.net",
    "github.com",
    "update.googleapis.com",
    "www.bing.com",
    "teams.microsoft.com",
    "settings-win.data.microsoft.com",
    "fonts.gstatic.com",
    "slack.com",
    "intranet.corp.example",
};

/* ---- deterministic randomness ------------------------------------------------------------- */

static uint64_t rnd(struct gen *g)
{
    uint64_t z = (g->rng += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint32_t rnd_below(struct gen *g, uint32_t n)
{
    return (uint32_t)(rnd(g) % n);
}

static void make_guid(struct gen *g, char out[40])
{
    uint64_t a = rnd(g), b = rnd(g);

    snprintf(out, 40, "{%08" PRIX32 "-%04" PRIX32 "-%04" PRIX32 "-%04" PRIX32 "-%012" PRIX64 "}",
             (uint32_t)a, (uint32_t)(a >> 32) & 0xffff, (uint32_t)(a >> 48), (uint32_t)b & 0xffff,
             (b >> 16) & UINT64_C(0xffffffffffff));
}

static void make_sha256(struct gen *g, char out[65])
{
    for (int i = 0; i < 4; i++)
        snprintf(out + i * 16, 17, "%016" PRIx64, rnd(g));
}

static void make_ip(struct gen *g, char out[16], const char *prefix)
{
    snprintf(out, 16, "%s.%u.%u", prefix, 1 + rnd_below(g, 250), 1 + rnd_below(g, 250));
}

/* ---- ECS writer ---------------------------------------------------------------------------- */

static int put_str(struct xf_buf *b, const char *s)
{
    char tmp[256];
    size_t n = 0;
    int rc = xf_buf_append(b, "\"", 1);

    for (; !rc && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (n + 8 > sizeof tmp) {
            rc = xf_buf_append(b, tmp, n);
            n = 0;
        }
        if (c == '"' || c == '\\') {
            tmp[n++] = '\\';
            tmp[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(tmp + n, sizeof tmp - n, "\\u%04x", c);
        } else {
            tmp[n++] = (char)c;
        }
    }
    if (!rc)
        rc = xf_buf_append(b, tmp, n);
    return rc ? rc : xf_buf_append(b, "\"", 1);
}

/* "key":"value" with a leading comma unless first; skipped when the field is absent. */
static int put_kv(struct xf_buf *b, int *first, const char *key, const char *val)
{
    int rc;

    if (!val)
        return 0;
    if ((rc = xf_buf_appendf(b, "%s\"%s\":", *first ? "" : ",", key)))
        return rc;
    *first = 0;
    return put_str(b, val);
}

static int put_kf(struct xf_buf *b, int *first, const char *key, const struct xf_event *ev,
                  enum xf_field f)
{
    return put_kv(b, first, key, xf_event_get(ev, f));
}

/* A number-valued key (pid, port) written as a JSON number, as Winlogbeat does. */
static int put_kn(struct xf_buf *b, int *first, const char *key, const struct xf_event *ev,
                  enum xf_field f)
{
    const char *v = xf_event_get(ev, f);
    int rc;

    if (!v)
        return 0;
    rc = xf_buf_appendf(b, "%s\"%s\":%s", *first ? "" : ",", key, v);
    *first = 0;
    return rc;
}

static int put_process(struct xf_buf *b, const struct xf_event *ev, int full)
{
    int first = 1, rc = xf_buf_appends(b, ",\"process\":{");
    const char *img = xf_event_get(ev, XF_F_IMAGE);

    rc = rc ? rc : put_kf(b, &first, "entity_id", ev, XF_F_PROCESS_GUID);
    rc = rc ? rc : put_kn(b, &first, "pid", ev, XF_F_PROCESS_ID);
    rc = rc ? rc : put_kv(b, &first, "executable", img);
    rc = rc ? rc : put_kv(b, &first, "name", img ? xf_path_basename(img) : NULL);
    if (full) {
        const char *pimg = xf_event_get(ev, XF_F_PARENT_IMAGE);
        rc = rc ? rc : put_kf(b, &first, "command_line", ev, XF_F_COMMAND_LINE);
        rc = rc ? rc : put_kf(b, &first, "working_directory", ev, XF_F_CURRENT_DIRECTORY);
        if (!rc && xf_event_get(ev, XF_F_SHA256)) {
            rc = xf_buf_appends(b, ",\"hash\":{");
            int f2 = 1;
            rc = rc ? rc : put_kf(b, &f2, "sha256", ev, XF_F_SHA256);
            rc = rc ? rc : xf_buf_appends(b, "}");
        }
        rc = rc ? rc : xf_buf_appends(b, ",\"parent\":{");
        int f3 = 1;
        rc = rc ? rc : put_kf(b, &f3, "entity_id", ev, XF_F_PARENT_PROCESS_GUID);
        rc = rc ? rc : put_kn(b, &f3, "pid", ev, XF_F_PARENT_PROCESS_ID);
        rc = rc ? rc : put_kv(b, &f3, "executable", pimg);
        rc = rc ? rc : put_kv(b, &f3, "name", pimg ? xf_path_basename(pimg) : NULL);
        rc = rc ? rc : put_kf(b, &f3, "command_line", ev, XF_F_PARENT_COMMAND_LINE);
        rc = rc ? rc : xf_buf_appends(b, "}");
    }
    return rc ? rc : xf_buf_appends(b, "}");
}

static const char *ecs_category(const struct xf_event *ev, const char **type)
{
    switch (ev->category) {
    case XF_CAT_PROCESS:
        *type = "[\"start\"]";
        return "[\"process\"]";
    case XF_CAT_FILE:
        *type = "[\"creation\"]";
        return "[\"file\"]";
    case XF_CAT_NETWORK:
        *type = "[\"connection\",\"start\"]";
        return "[\"network\"]";
    case XF_CAT_DNS:
        *type = "[\"protocol\",\"info\"]";
        return "[\"network\"]";
    case XF_CAT_LOGON:
        *type = "[\"start\"]";
        return "[\"authentication\"]";
    case XF_CAT_EMAIL:
        *type = "[\"info\"]";
        return "[\"email\"]";
    default:
        *type = "[\"info\"]";
        return "[\"host\"]";
    }
}

/* Writes ev as one Winlogbeat-shaped ECS line (nested objects). */
static int write_ecs(struct gen *g, const struct host *h, const struct xf_event *ev)
{
    struct xf_buf *b = &g->buf;
    char ts[XF_TIME_BUFSZ];
    const char *type, *cat = ecs_category(ev, &type);
    const char *user = xf_event_get(ev, XF_F_USER);
    const char *uname = user ? xf_path_basename(user) : NULL;
    int email = ev->category == XF_CAT_EMAIL;
    int first, rc;

    xf_buf_reset(b);
    xf_time_format_ms(ev->time, ts);
    rc = xf_buf_appendf(b,
                        "{\"@timestamp\":\"%s\",\"agent\":{\"type\":\"%s\",\"version\":\"8.11.0\","
                        "\"name\":\"%s\"},\"ecs\":{\"version\":\"8.11.0\"},",
                        ts, email ? "filebeat" : "winlogbeat", h->short_);
    rc = rc ? rc
            : xf_buf_appendf(b,
                             "\"host\":{\"name\":\"%s\",\"ip\":[\"%s\"],\"os\":{\"family\":"
                             "\"windows\",\"name\":\"Windows 10 Enterprise\"}},",
                             h->name, h->ip);
    rc = rc ? rc
            : xf_buf_appendf(b,
                             "\"event\":{\"id\":\"%s\",\"kind\":\"event\",\"category\":%s,"
                             "\"type\":%s",
                             xf_event_get(ev, XF_F_RECORD_ID), cat, type);
    first = 0;
    rc = rc ? rc : put_kf(b, &first, "code", ev, XF_F_EVENT_ID);
    rc = rc ? rc : put_kf(b, &first, "provider", ev, XF_F_PROVIDER);
    rc = rc ? rc : put_kf(b, &first, "action", ev, XF_F_ACTION);
    rc = rc ? rc : put_kf(b, &first, "outcome", ev, XF_F_VERDICT);
    rc = rc ? rc
            : xf_buf_appendf(b, ",\"module\":\"%s\"}",
                             email                          ? "email"
                             : ev->category == XF_CAT_LOGON ? "security"
                                                            : "sysmon");
    if (!rc && uname) {
        rc = xf_buf_appends(b, ",\"user\":{");
        first = 1;
        rc = rc ? rc : put_kv(b, &first, "name", uname);
        rc = rc ? rc : put_kv(b, &first, "domain", uname != user ? "CORP" : NULL);
        rc = rc ? rc : xf_buf_appends(b, "}");
    }

    switch (ev->category) {
    case XF_CAT_PROCESS:
        rc = rc ? rc : put_process(b, ev, 1);
        break;
    case XF_CAT_FILE:
        rc = rc ? rc : put_process(b, ev, 0);
        rc = rc ? rc : xf_buf_appends(b, ",\"file\":{");
        first = 1;
        rc = rc ? rc : put_kf(b, &first, "path", ev, XF_F_TARGET_FILENAME);
        rc = rc ? rc
                : put_kv(b, &first, "name",
                         xf_path_basename(xf_event_get(ev, XF_F_TARGET_FILENAME)));
        if (!rc && xf_event_get(ev, XF_F_SHA256)) {
            rc = xf_buf_appends(b, ",\"hash\":{");
            int f2 = 1;
            rc = rc ? rc : put_kf(b, &f2, "sha256", ev, XF_F_SHA256);
            rc = rc ? rc : xf_buf_appends(b, "}");
        }
        rc = rc ? rc : xf_buf_appends(b, "}");
        break;
    case XF_CAT_NETWORK:
        rc = rc ? rc : put_process(b, ev, 0);
        rc = rc ? rc : xf_buf_appends(b, ",\"source\":{");
        first = 1;
        rc = rc ? rc : put_kf(b, &first, "ip", ev, XF_F_SOURCE_IP);
        rc = rc ? rc : put_kn(b, &first, "port", ev, XF_F_SOURCE_PORT);
        rc = rc ? rc : xf_buf_appends(b, "},\"destination\":{");
        first = 1;
        rc = rc ? rc : put_kf(b, &first, "ip", ev, XF_F_DESTINATION_IP);
        rc = rc ? rc : put_kn(b, &first, "port", ev, XF_F_DESTINATION_PORT);
        rc = rc ? rc : put_kf(b, &first, "domain", ev, XF_F_DESTINATION_HOSTNAME);
        rc = rc ? rc
                : xf_buf_appends(b, "},\"network\":{\"transport\":\"tcp\",\"direction\":"
                                    "\"egress\",\"type\":\"ipv4\"}");
        if (!rc && xf_event_get(ev, XF_F_URL)) {
            rc = xf_buf_appends(b, ",\"url\":{");
            first = 1;
            rc = rc ? rc : put_kf(b, &first, "full", ev, XF_F_URL);
            rc = rc ? rc : xf_buf_appends(b, "}");
        }
        break;
    case XF_CAT_DNS:
        rc = rc ? rc : put_process(b, ev, 0);
        rc = rc ? rc : xf_buf_appends(b, ",\"dns\":{\"question\":{");
        first = 1;
        rc = rc ? rc : put_kf(b, &first, "name", ev, XF_F_QUERY_NAME);
        rc = rc ? rc : xf_buf_appends(b, ",\"type\":\"A\"},\"answers\":[");
        for (size_t i = 0; !rc && i < xf_event_count(ev, XF_F_QUERY_RESULTS); i++) {
            rc = xf_buf_appends(b, i ? ",{\"type\":\"A\",\"data\":" : "{\"type\":\"A\",\"data\":");
            rc = rc ? rc : put_str(b, xf_event_get_nth(ev, XF_F_QUERY_RESULTS, i));
            rc = rc ? rc : xf_buf_appends(b, "}");
        }
        rc = rc ? rc : xf_buf_appends(b, "]}");
        break;
    case XF_CAT_LOGON:
        rc = rc ? rc : xf_buf_appends(b, ",\"source\":{");
        first = 1;
        rc = rc ? rc : put_kf(b, &first, "ip", ev, XF_F_IP_ADDRESS);
        rc = rc ? rc : put_kf(b, &first, "domain", ev, XF_F_WORKSTATION_NAME);
        rc = rc ? rc : xf_buf_appends(b, "}");
        break;
    case XF_CAT_EMAIL:
        rc = rc ? rc : xf_buf_appends(b, ",\"email\":{");
        first = 1;
        rc = rc ? rc : put_kf(b, &first, "message_id", ev, XF_F_MESSAGE_ID);
        rc = rc ? rc : put_kf(b, &first, "subject", ev, XF_F_SUBJECT);
        rc = rc ? rc : put_kf(b, &first, "direction", ev, XF_F_EMAIL_DIRECTION);
        rc = rc ? rc : xf_buf_appends(b, ",\"from\":{");
        first = 1;
        rc = rc ? rc : put_kf(b, &first, "address", ev, XF_F_SENDER);
        rc = rc ? rc : xf_buf_appends(b, "},\"to\":{\"address\":[");
        for (size_t i = 0; !rc && i < xf_event_count(ev, XF_F_RECIPIENT); i++) {
            rc = i ? xf_buf_appends(b, ",") : 0;
            rc = rc ? rc : put_str(b, xf_event_get_nth(ev, XF_F_RECIPIENT, i));
        }
        rc = rc ? rc : xf_buf_appends(b, "]},\"attachments\":[");
        for (size_t i = 0; !rc && i < xf_event_count(ev, XF_F_ATTACHMENT_NAME); i++) {
            rc = xf_buf_appends(b, i ? ",{\"file\":{" : "{\"file\":{");
            first = 1;
            rc = rc ? rc : put_kv(b, &first, "name", xf_event_get_nth(ev, XF_F_ATTACHMENT_NAME, i));
            rc = rc ? rc
                    : put_kv(b, &first, "mime_type", xf_event_get_nth(ev, XF_F_ATTACHMENT_TYPE, i));
            rc = rc ? rc
                    : xf_buf_appendf(b, ",\"size\":%s,\"hash\":{\"sha256\":",
                                     xf_event_get_nth(ev, XF_F_ATTACHMENT_SIZE, i));
            rc = rc ? rc : put_str(b, xf_event_get_nth(ev, XF_F_ATTACHMENT_SHA256, i));
            rc = rc ? rc : xf_buf_appends(b, "}}}");
        }
        rc = rc ? rc : xf_buf_appends(b, "]}");
        break;
    default:
        break;
    }

    /* winlog: what Winlogbeat adds around every Windows record; event_data carries the
     * Sysmon/Security fields ECS has no slot for */
    if (!rc && !email) {
        rc = xf_buf_appendf(b,
                            ",\"winlog\":{\"channel\":\"%s\",\"record_id\":%" PRIu64 ","
                            "\"event_id\":\"%s\"",
                            xf_event_get(ev, XF_F_CHANNEL), h->record_id,
                            xf_event_get(ev, XF_F_EVENT_ID));
        if (!rc && ev->category == XF_CAT_LOGON)
            rc = xf_buf_appends(b, ",\"logon\":{\"type\":\"Network\"}");
        rc = rc ? rc : xf_buf_appends(b, ",\"event_data\":{");
        first = 1;
        rc = rc ? rc : put_kf(b, &first, "LogonId", ev, XF_F_LOGON_ID);
        rc = rc ? rc : put_kf(b, &first, "IntegrityLevel", ev, XF_F_INTEGRITY_LEVEL);
        rc = rc ? rc : put_kf(b, &first, "LogonType", ev, XF_F_LOGON_TYPE);
        rc = rc ? rc : put_kf(b, &first, "TargetLogonId", ev, XF_F_TARGET_LOGON_ID);
        rc = rc ? rc : xf_buf_appends(b, "}}");
    }
    rc = rc ? rc : xf_buf_appends(b, "}\n");
    if (!rc && fwrite(b->data, 1, b->len, g->out) != b->len)
        rc = XF_EIO;
    g->bytes += b->len;
    return rc;
}

/* ---- the model ------------------------------------------------------------------------------ */

static xf_time_t now_ms(const struct gen *g)
{
    return BASE_TIME_MS + (xf_time_t)(g->seq * STEP_US / 1000);
}

/* Starts ev as the next event on host h (envelope fields set). */
static void begin(struct gen *g, struct host *h, enum xf_category cat, const char *code,
                  const char *action)
{
    struct xf_event *ev = &g->ev;
    char id[XF_EVENT_ID_MAX];
    int sysmon = cat != XF_CAT_LOGON && cat != XF_CAT_EMAIL;

    xf_event_reset(ev);
    ev->category = cat;
    ev->time = now_ms(g);
    h->record_id++;
    /* the ECS decoder's id rule ("ecs:" + event.id), so both formats carry the same ids */
    snprintf(id, sizeof id, "ecs:wl-%s-%012" PRIu64, h->short_, g->seq);
    xf_event_set_id(ev, id);
    xf_event_set(ev, XF_F_RECORD_ID, id + 4, (size_t)-1);
    xf_event_set(ev, XF_F_HOST, h->name, (size_t)-1);
    if (code)
        xf_event_set(ev, XF_F_EVENT_ID, code, (size_t)-1);
    xf_event_set(ev, XF_F_ACTION, action, (size_t)-1);
    if (cat != XF_CAT_EMAIL) {
        char user[40];
        snprintf(user, sizeof user, "CORP\\%s", h->user);
        xf_event_set(ev, XF_F_USER, user, (size_t)-1);
        xf_event_set(ev, XF_F_CHANNEL, sysmon ? "Microsoft-Windows-Sysmon/Operational" : "Security",
                     (size_t)-1);
        xf_event_set(ev, XF_F_PROVIDER,
                     sysmon ? "Microsoft-Windows-Sysmon" : "Microsoft-Windows-Security-Auditing",
                     (size_t)-1);
    }
}

static int finish(struct gen *g, struct host *h)
{
    int rc;

    if (g->fmt == OUT_PROTO) {
        xf_buf_reset(&g->buf);
        rc = xf_proto_encode(&g->ev, &g->buf, 1);
        if (!rc && fwrite(g->buf.data, 1, g->buf.len, g->out) != g->buf.len)
            rc = XF_EIO;
        g->bytes += g->buf.len;
    } else {
        rc = write_ecs(g, h, &g->ev);
    }
    g->seq++;
    return rc;
}

static void set_num(struct xf_event *ev, enum xf_field f, uint64_t v)
{
    char tmp[24];

    snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    xf_event_set(ev, f, tmp, (size_t)-1);
}

/* A process start on h; parent is a ring slot, the new process goes into slot `into`. */
static int emit_process(struct gen *g, struct host *h, const struct proc *parent, int into,
                        const char *image, const char *cmdline, const char *sha256)
{
    struct xf_event *ev = &g->ev;
    struct proc np;
    char cwd[64], logon[16];

    make_guid(g, np.guid);
    np.image = image;
    np.pid = h->next_pid += 4 + rnd_below(g, 60);
    snprintf(np.cmdline, sizeof np.cmdline, "%s", cmdline);
    begin(g, h, XF_CAT_PROCESS, "1", "Process Create (rule: ProcessCreate)");
    xf_event_set(ev, XF_F_PROCESS_GUID, np.guid, (size_t)-1);
    set_num(ev, XF_F_PROCESS_ID, np.pid);
    xf_event_set(ev, XF_F_IMAGE, image, (size_t)-1);
    xf_event_set(ev, XF_F_COMMAND_LINE, cmdline, (size_t)-1);
    snprintf(cwd, sizeof cwd, "C:\\Users\\%s\\", h->user);
    xf_event_set(ev, XF_F_CURRENT_DIRECTORY, cwd, (size_t)-1);
    snprintf(logon, sizeof logon, "0x%" PRIx32, 0x3a0000u + (uint32_t)(h - g->hosts));
    xf_event_set(ev, XF_F_LOGON_ID, logon, (size_t)-1);
    xf_event_set(ev, XF_F_INTEGRITY_LEVEL, "Medium", (size_t)-1);
    if (sha256)
        xf_event_set(ev, XF_F_SHA256, sha256, (size_t)-1);
    if (parent) {
        xf_event_set(ev, XF_F_PARENT_PROCESS_GUID, parent->guid, (size_t)-1);
        set_num(ev, XF_F_PARENT_PROCESS_ID, parent->pid);
        xf_event_set(ev, XF_F_PARENT_IMAGE, parent->image, (size_t)-1);
        xf_event_set(ev, XF_F_PARENT_COMMAND_LINE, parent->cmdline, (size_t)-1);
    }
    h->ring[into] = np;
    return finish(g, h);
}

static void set_proc_ref(struct xf_event *ev, const struct proc *p)
{
    xf_event_set(ev, XF_F_PROCESS_GUID, p->guid, (size_t)-1);
    set_num(ev, XF_F_PROCESS_ID, p->pid);
    xf_event_set(ev, XF_F_IMAGE, p->image, (size_t)-1);
}

static int emit_file(struct gen *g, struct host *h, const struct proc *p, const char *path,
                     const char *sha256)
{
    begin(g, h, XF_CAT_FILE, "11", "File created (rule: FileCreate)");
    set_proc_ref(&g->ev, p);
    xf_event_set(&g->ev, XF_F_TARGET_FILENAME, path, (size_t)-1);
    xf_event_set(&g->ev, XF_F_FILE_OPERATION, "create", (size_t)-1);
    if (sha256)
        xf_event_set(&g->ev, XF_F_SHA256, sha256, (size_t)-1);
    return finish(g, h);
}

static int emit_network(struct gen *g, struct host *h, const struct proc *p, const char *dst,
                        unsigned port, const char *domain, const char *url)
{
    struct xf_event *ev = &g->ev;

    begin(g, h, XF_CAT_NETWORK, "3", "Network connection detected (rule: NetworkConnect)");
    set_proc_ref(ev, p);
    xf_event_set(ev, XF_F_SOURCE_IP, h->ip, (size_t)-1);
    set_num(ev, XF_F_SOURCE_PORT, 49152 + rnd_below(g, 16000));
    xf_event_set(ev, XF_F_DESTINATION_IP, dst, (size_t)-1);
    set_num(ev, XF_F_DESTINATION_PORT, port);
    xf_event_set(ev, XF_F_PROTOCOL, "tcp", (size_t)-1);
    xf_event_set(ev, XF_F_INITIATED, "true", (size_t)-1);
    if (domain)
        xf_event_set(ev, XF_F_DESTINATION_HOSTNAME, domain, (size_t)-1);
    if (url)
        xf_event_add(ev, XF_F_URL, url, (size_t)-1);
    return finish(g, h);
}

static int emit_dns(struct gen *g, struct host *h, const struct proc *p, const char *name,
                    const char *answer)
{
    begin(g, h, XF_CAT_DNS, "22", "Dns query (rule: DnsQuery)");
    set_proc_ref(&g->ev, p);
    xf_event_set(&g->ev, XF_F_QUERY_NAME, name, (size_t)-1);
    xf_event_add(&g->ev, XF_F_QUERY_RESULTS, answer, (size_t)-1);
    return finish(g, h);
}

static int emit_logon(struct gen *g, struct host *h, const struct host *from)
{
    struct xf_event *ev = &g->ev;
    char lid[16];

    begin(g, h, XF_CAT_LOGON, "4624", "logged-in");
    xf_event_set(ev, XF_F_LOGON_TYPE, "3", (size_t)-1);
    xf_event_set(ev, XF_F_IP_ADDRESS, from->ip, (size_t)-1);
    xf_event_set(ev, XF_F_WORKSTATION_NAME, from->short_, (size_t)-1);
    snprintf(lid, sizeof lid, "0x%" PRIx32, (uint32_t)rnd(g) & 0xffffff);
    xf_event_set(ev, XF_F_TARGET_LOGON_ID, lid, (size_t)-1);
    return finish(g, h);
}

static int host_start(struct gen *g, struct host *h)
{
    struct proc userinit = {.image = "C:\\Windows\\System32\\userinit.exe", .pid = 600};
    struct proc services = {.image = "C:\\Windows\\System32\\services.exe", .pid = 640};
    int rc;

    h->started = 1;
    make_guid(g, userinit.guid);
    snprintf(userinit.cmdline, sizeof userinit.cmdline, "C:\\Windows\\system32\\userinit.exe");
    make_guid(g, services.guid);
    snprintf(services.cmdline, sizeof services.cmdline, "C:\\Windows\\system32\\services.exe");
    rc = emit_process(g, h, &userinit, 0, "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE",
                      NULL);
    h->ring[1] = h->ring[0];
    /* stop at exactly --events so the file's event count is known without reading it */
    if (!rc && g->seq < g->n_events)
        rc = emit_process(g, h, &services, 1, "C:\\Windows\\System32\\svchost.exe",
                          "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p", NULL);
    for (int i = 2; i < RING; i++)
        h->ring[i] = h->ring[0];
    return rc;
}

/* One background event on h. */
static int emit_background(struct gen *g, struct host *h)
{
    uint32_t r = rnd_below(g, 100);
    const struct proc *p = &h->ring[rnd_below(g, RING)];
    char a[160], ip[16];

    if (r < 30) {
        const char *img = benign_images[rnd_below(g, XF_ARRAY_LEN(benign_images))];
        int slot = 2 + (int)rnd_below(g, RING - 2);
        snprintf(a, sizeof a, "\"%s\" /prefetch:%" PRIu32, img, rnd_below(g, 10));
        return emit_process(g, h, p, slot, img, a, NULL);
    }
    if (r < 55) {
        char sha[65];
        snprintf(a, sizeof a, "C:\\Users\\%s\\AppData\\Local\\Temp\\%08" PRIx32 ".tmp", h->user,
                 (uint32_t)rnd(g));
        make_sha256(g, sha);
        return emit_file(g, h, p, a, rnd_below(g, 4) == 0 ? sha : NULL);
    }
    if (r < 80) {
        make_ip(g, ip, rnd_below(g, 2) ? "52.96" : "142.250");
        return emit_network(g, h, p, ip, rnd_below(g, 5) ? 443 : 80, NULL, NULL);
    }
    if (r < 95) {
        make_ip(g, ip, "52.97");
        return emit_dns(g, h, p, domains[rnd_below(g, XF_ARRAY_LEN(domains))], ip);
    }
    return emit_logon(g, h, &g->hosts[rnd_below(g, (uint32_t)g->n_hosts)]);
}

/* The Emotet chain of BRIEF §1 on host h: 14 events in a few hundred ms of event time. */
static int emit_chain(struct gen *g, struct host *h)
{
    struct xf_event *ev = &g->ev;
    char doc_sha[65], dll_sha[65], mid[80], rcpt[48], name[48], path[200], cmd[480];
    char domain[64], url[160], dll[160], c2[16];
    struct host *mx = &g->hosts[0];
    uint64_t n = g->chains++;
    int rc;

    make_sha256(g, doc_sha);
    make_sha256(g, dll_sha);
    snprintf(mid, sizeof mid, "<%016" PRIx64 "@mail.partner-%" PRIu64 ".test>", rnd(g), n % 97);
    snprintf(rcpt, sizeof rcpt, "%s@corp.example", h->user);
    snprintf(name, sizeof name, "Invoice_%05" PRIu64 ".docm", n);

    /* the gateway record (mx host, no user/channel) */
    begin(g, mx, XF_CAT_EMAIL, NULL, "delivered");
    xf_event_set(ev, XF_F_MESSAGE_ID, mid, (size_t)-1);
    xf_event_set(ev, XF_F_SENDER, "accounts@partner-billing.test", (size_t)-1);
    xf_event_add(ev, XF_F_RECIPIENT, rcpt, (size_t)-1);
    xf_event_set(ev, XF_F_SUBJECT, "RE: Invoice 2026-11", (size_t)-1);
    xf_event_set(ev, XF_F_EMAIL_DIRECTION, "inbound", (size_t)-1);
    xf_event_set(ev, XF_F_VERDICT, "success", (size_t)-1);
    xf_event_add(ev, XF_F_ATTACHMENT_NAME, name, (size_t)-1);
    xf_event_add(ev, XF_F_ATTACHMENT_TYPE, "application/vnd.ms-word.document.macroEnabled.12",
                 (size_t)-1);
    xf_event_add(ev, XF_F_ATTACHMENT_SIZE, "184320", (size_t)-1);
    xf_event_add(ev, XF_F_ATTACHMENT_SHA256, doc_sha, (size_t)-1);
    if ((rc = finish(g, mx)))
        return rc;

    static const char outlook[] =
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE";
    static const char winword[] =
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE";
    static const char wmiprvse[] = "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe";
    static const char pwsh[] = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe";
    static const char regsvr32[] = "C:\\Windows\\System32\\regsvr32.exe";
    struct proc *ol = &h->ring[2], *wmi = &h->ring[4], *ps = &h->ring[5];
    struct proc *rs = &h->ring[6];

    rc = emit_process(g, h, &h->ring[0], 2, outlook, "\"OUTLOOK.EXE\" ", NULL);
    snprintf(path, sizeof path,
             "C:\\Users\\%s\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook\\"
             "Q4ZK2M1B\\%s",
             h->user, name);
    rc = rc ? rc : emit_file(g, h, ol, path, doc_sha);
    snprintf(cmd, sizeof cmd, "\"%s\" /n \"%s\" /o \"\"", winword, path);
    rc = rc ? rc : emit_process(g, h, ol, 3, winword, cmd, NULL);
    rc = rc ? rc
            : emit_process(g, h, &h->ring[1], 4, wmiprvse,
                           "C:\\Windows\\system32\\wbem\\wmiprvse.exe -secured -Embedding", NULL);
    rc = rc ? rc
            : emit_process(g, h, wmi, 5, pwsh,
                           "powershell.exe -nop -w hidden -enc JABiAD0AJwBoAHQAdABwADoALwAvAHMA"
                           "aABvAHAALgBlAHgAYQBtAHAAbABlAC0AYgBhAGQA",
                           NULL);
    snprintf(domain, sizeof domain, "shop-%" PRIu64 ".example-bad.test", n % 50);
    snprintf(c2, sizeof c2, "198.51.100.%u", (unsigned)(1 + n % 200));
    rc = rc ? rc : emit_dns(g, h, ps, domain, c2);
    snprintf(url, sizeof url, "http://%s/wp-content/x/%08" PRIx64 ".dll", domain, rnd(g) >> 32);
    rc = rc ? rc : emit_network(g, h, ps, c2, 80, domain, url);
    snprintf(dll, sizeof dll, "C:\\Users\\%s\\AppData\\Local\\Temp\\x%05" PRIu64 "\\pl.dll",
             h->user, n);
    rc = rc ? rc : emit_file(g, h, ps, dll, dll_sha);
    snprintf(cmd, sizeof cmd, "regsvr32.exe /s \"%s\"", dll);
    rc = rc ? rc : emit_process(g, h, ps, 6, regsvr32, cmd, NULL);
    static const unsigned ports[] = {8080, 7080, 443};
    for (int i = 0; i < 3 && !rc; i++) {
        snprintf(c2, sizeof c2, "203.0.113.%u", (unsigned)(1 + (n * 3 + (uint64_t)i) % 250));
        rc = emit_network(g, h, rs, c2, ports[i], NULL, NULL);
    }
    /* the ring slots the chain used are normal processes from now on */
    return rc;
}

static int generate(struct gen *g)
{
    int rc = 0;

    while (!rc && g->seq < g->n_events) {
        struct host *h = &g->hosts[1 + rnd_below(g, (uint32_t)g->n_hosts - 1)];
        if (!h->started)
            rc = host_start(g, h);
        else if (g->chain_every && g->seq / g->chain_every != (g->seq + 1) / g->chain_every &&
                 g->n_events - g->seq > 20)
            rc = emit_chain(g, h);
        else
            rc = emit_background(g, h);
    }
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: xf-gen-workload --events N --format ecs|proto [--seed S] [--hosts H]\n"
                 "                       [--chain-every K] --out FILE\n"
                 "Writes exactly N events of a deterministic synthetic workload for the\n"
                 "replay benchmark.\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return XF_EINVAL;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"events", required_argument, NULL, 'n'},
        {"format", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 's'},
        {"hosts", required_argument, NULL, 'H'},
        {"chain-every", required_argument, NULL, 'c'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct gen g = {.n_events = 1000000, .chain_every = 10000, .n_hosts = 2000, .rng = 1};
    uint64_t v;
    const char *out = NULL;
    int c, rc = 0, status = 1;

    while ((c = getopt_long(argc, argv, "n:f:s:H:c:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
        case 's':
        case 'H':
        case 'c':
            if (parse_u64(optarg, &v) || (c == 'H' && (v < 2 || v > 60000))) {
                fprintf(stderr, "xf-gen-workload: bad value '%s'\n", optarg);
                return 2;
            }
            if (c == 'n')
                g.n_events = v;
            else if (c == 's')
                g.rng = v;
            else if (c == 'H')
                g.n_hosts = (size_t)v;
            else
                g.chain_every = v;
            break;
        case 'f':
            if (!strcmp(optarg, "ecs"))
                g.fmt = OUT_ECS;
            else if (!strcmp(optarg, "proto"))
                g.fmt = OUT_PROTO;
            else {
                fprintf(stderr, "xf-gen-workload: unknown format '%s'\n", optarg);
                return 2;
            }
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!out) {
        usage(stderr);
        return 2;
    }
    xf_event_init(&g.ev);
    xf_buf_init(&g.buf);
    g.hosts = xf_calloc(g.n_hosts, sizeof *g.hosts);
    if (!g.hosts)
        goto out;
    for (size_t i = 0; i < g.n_hosts; i++) {
        struct host *h = &g.hosts[i];
        if (i == 0) {
            snprintf(h->short_, sizeof h->short_, "mx1");
        } else {
            snprintf(h->short_, sizeof h->short_, "ws-%05zu", i);
            snprintf(h->user, sizeof h->user, "user%05zu", i);
        }
        snprintf(h->name, sizeof h->name, "%s.corp.example", h->short_);
        snprintf(h->ip, sizeof h->ip, "10.%zu.%zu.%zu", 1 + i / 62500, (i / 250) % 250,
                 1 + i % 250);
        h->next_pid = 1000;
    }
    g.out = fopen(out, "wb");
    if (!g.out) {
        fprintf(stderr, "xf-gen-workload: cannot write %s: %s\n", out, strerror(errno));
        goto out;
    }
    rc = generate(&g);
    if (fclose(g.out) && !rc)
        rc = XF_EIO;
    g.out = NULL;
    if (rc) {
        fprintf(stderr, "xf-gen-workload: %s\n", xf_strerror(rc));
        goto out;
    }
    fprintf(stderr,
            "xf-gen-workload: %" PRIu64 " events (%" PRIu64 " attack chains), %" PRIu64
            " bytes, %.0f bytes/event -> %s\n",
            g.seq, g.chains, g.bytes, g.seq ? (double)g.bytes / (double)g.seq : 0.0, out);
    status = 0;
out:
    xf_free(g.hosts);
    xf_buf_close(&g.buf);
    xf_event_close(&g.ev);
    return status;
}
