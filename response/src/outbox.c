/*
 * outbox.c - the durable outbox: actions as JSON in the store's `actions` column family.
 *
 * The one thing to know: xf_outbox_put returns only after a synced RocksDB write, so the
 * response loop persists a transition (approved, sent, confirmed ...) and only then acts on
 * it. After a kill -9 the outbox holds every action in the last state the loop committed to;
 * the worst case is one resend of the same id, which receivers dedup on.
 *
 * The outbox keeps no scratch of its own: each call encodes into a local buffer, so it holds
 * nothing another call could trample.
 */
#include <string.h>

#include "xf/response.h"
#include "xf/store.h"

struct xf_outbox {
    struct xf_store *st; /* borrowed */
};

int xf_outbox_open(struct xf_store *st, struct xf_outbox **out)
{
    struct xf_outbox *ob;

    if (!st || !out)
        return XF_EINVAL;
    *out = NULL;
    ob = xf_calloc(1, sizeof *ob);
    if (!ob)
        return XF_ENOMEM;
    ob->st = st;
    *out = ob;
    return 0;
}

void xf_outbox_close(struct xf_outbox *ob)
{
    xf_free(ob);
}

int xf_outbox_put(struct xf_outbox *ob, const struct xf_action *a)
{
    struct xf_buf buf;
    int rc;

    if (!ob || !a || !a->id[0] || !memchr(a->id, '\0', sizeof a->id))
        return XF_EINVAL;
    xf_buf_init(&buf);
    if ((rc = xf_action_to_json(a, &buf)))
        goto out;
    rc = xf_store_action_put(ob->st, a->id, buf.data, buf.len);
out:
    xf_buf_close(&buf);
    return rc;
}

int xf_outbox_get(struct xf_outbox *ob, const char *id, struct xf_action *a)
{
    char *json = NULL;
    size_t len = 0;
    int rc;

    if (!ob || !id || !a)
        return XF_EINVAL;
    if ((rc = xf_store_action_get(ob->st, id, &json, &len)))
        goto out;
    if ((rc = xf_action_from_json(json, len, a)))
        XF_ERROR("outbox: stored action %s does not decode: %s", id, xf_strerror(rc));
out:
    xf_free(json);
    return rc;
}

struct scan_ctx {
    xf_action_cb cb;
    void *ud;
};

static int scan_row(const char *id, const char *json, size_t len, void *ud)
{
    struct scan_ctx *sc = ud;
    struct xf_action a;
    int rc = xf_action_from_json(json, len, &a);

    if (rc == XF_ENOMEM)
        return rc;
    /* One bad record must not stop every other action from resuming: log it and go on. */
    if (rc || strcmp(a.id, id) != 0) {
        XF_WARN("outbox: skipping stored action %s: %s", id,
                rc ? xf_strerror(rc) : "id differs from its key");
        return 0;
    }
    return sc->cb(&a, sc->ud);
}

int xf_outbox_scan(struct xf_outbox *ob, xf_action_cb cb, void *ud)
{
    struct scan_ctx sc;

    if (!ob || !cb)
        return XF_EINVAL;
    sc.cb = cb;
    sc.ud = ud;
    return xf_store_actions_scan(ob->st, scan_row, &sc);
}
