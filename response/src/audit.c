/*
 * audit.c - the audit log of containment decisions: JSON lines, ECS-style names.
 *
 *   {"@timestamp":"2026-11-21T09:00:03.120Z",
 *    "event":{"kind":"event","category":["host"],"action":"isolate","outcome":"success"},
 *    "host":{"name":"ws-017"},
 *    "xdrflow":{"action":{"id":"act-...","state":"confirmed","connector":"hook"},
 *               "incident":"inc-...","actor":"policy","reason":"...","detail":{...}}}
 *
 * What a reader must know: a line is written with one write(2) on an O_APPEND descriptor and
 * fsync'ed before the call returns, so a line is either whole on disk or absent, and the
 * decision it records is durable before the loop acts further (volume is a few lines per
 * action, so the fsync costs nothing that matters).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"

struct xf_audit {
    int fd; /* -1: the log */
    pthread_mutex_t mu;
};

int xf_audit_open(const char *path, struct xf_audit **out)
{
    struct xf_audit *au;

    *out = NULL;
    if (!(au = xf_calloc(1, sizeof(*au))))
        return XF_ENOMEM;
    au->fd = -1;
    if (path && *path) {
        au->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (au->fd < 0) {
            XF_ERROR("response: cannot open the audit log %s: %s", path, strerror(errno));
            xf_free(au);
            return XF_EIO;
        }
    }
    pthread_mutex_init(&au->mu, NULL);
    *out = au;
    return 0;
}

void xf_audit_close(struct xf_audit *au)
{
    if (!au)
        return;
    if (au->fd >= 0)
        close(au->fd);
    pthread_mutex_destroy(&au->mu);
    xf_free(au);
}

static int set_str(json_t *obj, const char *key, const char *v)
{
    if (!v)
        return 0;
    return json_object_set_new(obj, key, json_string(v)) == 0 ? 0 : XF_ENOMEM;
}

static json_t *build(const struct xf_audit_rec *rec)
{
    json_t *root = json_object(), *ev = json_object(), *xf = json_object();
    json_t *act = json_object(), *host = NULL;
    struct timespec ts;
    char tbuf[XF_TIME_BUFSZ];
    int rc = 0;

    if (!root || !ev || !xf || !act)
        goto fail;
    clock_gettime(CLOCK_REALTIME, &ts);
    xf_time_format_ms((xf_time_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, tbuf);
    rc |= set_str(root, "@timestamp", tbuf);
    rc |= set_str(ev, "kind", "event");
    rc |= json_object_set_new(ev, "category", json_pack("[s]", "host")) ? XF_ENOMEM : 0;
    rc |= set_str(ev, "action", rec->action);
    rc |= set_str(ev, "outcome", rec->outcome ? rec->outcome : "unknown");
    rc |= json_object_set(root, "event", ev) ? XF_ENOMEM : 0;
    if (rec->host) {
        if (!(host = json_pack("{s:s}", "name", rec->host)))
            goto fail;
        rc |= json_object_set_new(root, "host", host) ? XF_ENOMEM : 0;
    }
    rc |= set_str(act, "id", rec->action_id);
    rc |= set_str(act, "state", rec->state);
    rc |= set_str(act, "connector", rec->connector);
    if (json_object_size(act))
        rc |= json_object_set(xf, "action", act) ? XF_ENOMEM : 0;
    rc |= set_str(xf, "incident", rec->incident && *rec->incident ? rec->incident : NULL);
    rc |= set_str(xf, "actor", rec->actor);
    rc |= set_str(xf, "reason", rec->reason && *rec->reason ? rec->reason : NULL);
    if (rec->detail_json) {
        json_t *d = json_loads(rec->detail_json, JSON_DECODE_ANY, NULL);

        if (!d)
            d = json_string(rec->detail_json);
        rc |= json_object_set_new(xf, "detail", d) ? XF_ENOMEM : 0;
    }
    rc |= json_object_set(root, "xdrflow", xf) ? XF_ENOMEM : 0;
    if (rc)
        goto fail;
    json_decref(ev);
    json_decref(xf);
    json_decref(act);
    return root;
fail:
    json_decref(root);
    json_decref(ev);
    json_decref(xf);
    json_decref(act);
    return NULL;
}

int xf_audit_write(struct xf_audit *au, const struct xf_audit_rec *rec)
{
    json_t *root = NULL;
    char *line = NULL;
    size_t len, off = 0;
    int rc = XF_ENOMEM;

    if (!au)
        return XF_EINVAL;
    if (!(root = build(rec)) ||
        !(line = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)))
        goto out;
    if (au->fd < 0) {
        XF_INFO("audit: %s", line);
        rc = 0;
        goto out;
    }
    len = strlen(line);
    line[len] = '\n'; /* json_dumps' NUL becomes the newline; len + 1 bytes go out in one write */
    rc = 0;
    pthread_mutex_lock(&au->mu);
    while (off < len + 1) {
        ssize_t n = write(au->fd, line + off, len + 1 - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            XF_ERROR("response: audit log write failed: %s", strerror(errno));
            rc = XF_EIO;
            break;
        }
        off += (size_t)n;
    }
    if (!rc && fdatasync(au->fd) != 0) {
        XF_ERROR("response: audit log sync failed: %s", strerror(errno));
        rc = XF_EIO;
    }
    pthread_mutex_unlock(&au->mu);
out:
    free(line); /* jansson's allocation */
    json_decref(root);
    return rc;
}
