/*
 * conf.c - the response configuration as one owned value: init with the documented defaults,
 * close, deep copy.
 *
 * The daemon's configuration table fills a struct xf_response_conf from YAML; the daemon keeps
 * its own copy and hands it to xf_response_create, which copies again for its thread. What a
 * reader must know: every string here is owned by the struct that holds it (never shared
 * between copies), so close frees each and a copy duplicates each; a copy that fails half-way
 * is closed, never left half-owned.
 */
#include <string.h>

#include "xf/response.h"

static void connector_free(struct xf_connector_conf *c)
{
    xf_free(c->name);
    xf_free(c->type);
    for (size_t i = 0; i < c->n_params; i++) {
        xf_free(c->params[i].key);
        xf_free(c->params[i].value);
    }
    for (size_t i = 0; i < c->n_devices; i++) {
        xf_free(c->devices[i].host);
        xf_free(c->devices[i].device_id);
    }
    memset(c, 0, sizeof(*c));
}

void xf_response_conf_init(struct xf_response_conf *c)
{
    memset(c, 0, sizeof(*c));
    xf_policy_conf_init(&c->policy);
}

void xf_response_conf_close(struct xf_response_conf *c)
{
    if (!c)
        return;
    xf_policy_conf_close(&c->policy);
    for (size_t i = 0; i < c->n_connectors; i++)
        connector_free(&c->connectors[i]);
    c->n_connectors = 0;
    xf_free(c->audit_log);
    c->audit_log = NULL;
}

/* *dst = a copy of src (NULL stays NULL). */
static int dup(char **dst, const char *src)
{
    *dst = NULL;
    if (src && !(*dst = xf_strdup(src)))
        return XF_ENOMEM;
    return 0;
}

static int connector_copy(struct xf_connector_conf *d, const struct xf_connector_conf *s)
{
    memset(d, 0, sizeof(*d));
    if (dup(&d->name, s->name) || dup(&d->type, s->type))
        return XF_ENOMEM;
    for (size_t i = 0; i < s->n_params; i++) {
        d->n_params++;
        if (dup(&d->params[i].key, s->params[i].key) ||
            dup(&d->params[i].value, s->params[i].value))
            return XF_ENOMEM;
    }
    for (size_t i = 0; i < s->n_devices; i++) {
        d->n_devices++;
        if (dup(&d->devices[i].host, s->devices[i].host) ||
            dup(&d->devices[i].device_id, s->devices[i].device_id))
            return XF_ENOMEM;
    }
    return 0;
}

int xf_response_conf_copy(struct xf_response_conf *dst, const struct xf_response_conf *src)
{
    int rc;

    memset(dst, 0, sizeof(*dst));
    /* the policy's own copy: it knows which of its fields are owned (compiled starts NULL) */
    rc = xf_policy_conf_copy(&dst->policy, &src->policy);
    if (rc)
        goto out; /* dst->policy is left as after init */
    rc = XF_ENOMEM;
    for (size_t i = 0; i < src->n_connectors; i++) {
        dst->n_connectors++;
        if (connector_copy(&dst->connectors[i], &src->connectors[i]))
            goto out;
    }
    if (dup(&dst->audit_log, src->audit_log))
        goto out;
    rc = 0;
out:
    if (rc)
        xf_response_conf_close(dst);
    return rc;
}
