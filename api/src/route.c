/*
 * route.c - the route table: patterns compiled into segments, and the matcher.
 *
 * A pattern is a list of '/'-separated segments, each either literal text or a whole-segment
 * {param}. Matching never allocates: the caller's copy of the path is cut in place and the
 * parameter values point into it. What a reader must know: the most specific match wins
 * (literal before {param} at the first segment where two patterns differ), not table order,
 * and a path that matches some pattern under another method is a 405, not a 404.
 */
#include <string.h>

#include "api_int.h"

/* Cuts s (which starts with '/') into segments in place. "/" has zero segments; an empty
 * segment ("//", a trailing '/') is kept as "" so it can never match a literal or a param.
 * Returns the number of segments or -1 when there are more than max. */
static int split_path(char *s, char **segs, size_t max)
{
    size_t n = 0;
    char *p = s + 1;

    if (*p == '\0')
        return 0;
    for (;;) {
        char *slash = strchr(p, '/');

        if (n == max)
            return -1;
        segs[n++] = p;
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    return (int)n;
}

static int is_param(const char *seg)
{
    size_t len = strlen(seg);

    return len >= 3 && seg[0] == '{' && seg[len - 1] == '}';
}

static int valid_method(const char *m)
{
    const char *p;

    if (!m || !*m)
        return 0;
    for (p = m; *p; p++) {
        if (*p < 'A' || *p > 'Z')
            return 0;
    }
    return 1;
}

static void route_close(struct xf_api_route *rt)
{
    xf_free(rt->method);
    xf_free(rt->pattern);
    xf_free(rt->split);
    memset(rt, 0, sizeof(*rt));
}

/* Same method and the same sequence of literals and params: the second could never win. */
static int same_shape(const struct xf_api_route *a, const struct xf_api_route *b)
{
    size_t i;

    if (strcmp(a->method, b->method) != 0 || a->n_segs != b->n_segs ||
        a->param_mask != b->param_mask)
        return 0;
    for (i = 0; i < a->n_segs; i++) {
        if (!(a->param_mask & (1u << i)) && strcmp(a->segs[i], b->segs[i]) != 0)
            return 0;
    }
    return 1;
}

static int route_init(struct xf_api_route *rt, const struct xf_http_route *src)
{
    size_t i;
    size_t n_params = 0;
    int n;
    int rc = XF_EINVAL;

    memset(rt, 0, sizeof(*rt));
    if (!valid_method(src->method) || !src->pattern || src->pattern[0] != '/' || !src->fn) {
        XF_ERROR("api: route %s %s: needs an upper-case method, a pattern starting with '/' "
                 "and a handler",
                 src->method ? src->method : "(null)", src->pattern ? src->pattern : "(null)");
        goto out;
    }
    rt->method = xf_strdup(src->method);
    rt->pattern = xf_strdup(src->pattern);
    rt->split = xf_strdup(src->pattern);
    if (!rt->method || !rt->pattern || !rt->split) {
        rc = XF_ENOMEM;
        goto out;
    }
    n = split_path(rt->split, rt->segs, XF_API_MAX_SEGMENTS);
    if (n < 0) {
        XF_ERROR("api: route %s: more than %d segments", src->pattern, XF_API_MAX_SEGMENTS);
        goto out;
    }
    rt->n_segs = (size_t)n;
    for (i = 0; i < rt->n_segs; i++) {
        char *seg = rt->segs[i];

        if (*seg == '\0' || (strchr(seg, '{') || strchr(seg, '}')) != is_param(seg)) {
            XF_ERROR("api: route %s: segment %zu is empty or has a brace outside a whole "
                     "{param}",
                     src->pattern, i + 1);
            goto out;
        }
        if (!is_param(seg))
            continue;
        if (n_params == XF_HTTP_MAX_PARAMS) {
            XF_ERROR("api: route %s: more than %d parameters", src->pattern, XF_HTTP_MAX_PARAMS);
            goto out;
        }
        /* keep only the name: "{id}" -> "id" */
        seg[strlen(seg) - 1] = '\0';
        rt->segs[i] = seg + 1;
        rt->param_mask |= 1u << i;
        n_params++;
    }
    rt->fn = src->fn;
    rt->ud = src->ud;
    rt->role = src->role;
    rt->flags = src->flags;
    rc = 0;
out:
    if (rc)
        route_close(rt);
    return rc;
}

int xf_api_router_init(struct xf_api_router *r, const struct xf_http_route *routes, size_t n)
{
    size_t i;
    size_t j;
    int rc = 0;

    r->routes = NULL;
    r->n = 0;
    if (n == 0)
        goto out;
    if (!routes) {
        rc = XF_EINVAL;
        goto out;
    }
    r->routes = xf_calloc(n, sizeof(*r->routes));
    if (!r->routes) {
        rc = XF_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        rc = route_init(&r->routes[i], &routes[i]);
        if (rc)
            goto out;
        r->n++;
        for (j = 0; j < i; j++) {
            if (same_shape(&r->routes[j], &r->routes[i])) {
                XF_ERROR("api: route %s %s duplicates %s", r->routes[i].method,
                         r->routes[i].pattern, r->routes[j].pattern);
                rc = XF_EINVAL;
                goto out;
            }
        }
    }
out:
    if (rc)
        xf_api_router_close(r);
    return rc;
}

void xf_api_router_close(struct xf_api_router *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        route_close(&r->routes[i]);
    xf_free(r->routes);
    r->routes = NULL;
    r->n = 0;
}

static int path_matches(const struct xf_api_route *rt, char **segs, size_t n_segs)
{
    size_t i;

    if (rt->n_segs != n_segs)
        return 0;
    for (i = 0; i < n_segs; i++) {
        if (rt->param_mask & (1u << i)) {
            if (segs[i][0] == '\0')
                return 0;
        } else if (strcmp(rt->segs[i], segs[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

/* 1 when a is more specific than b: at the first segment where one is a param and the other
 * literal, a is the literal. Both match the same path, so they have the same length. */
static int more_specific(const struct xf_api_route *a, const struct xf_api_route *b)
{
    uint32_t diff = a->param_mask ^ b->param_mask;

    if (!diff)
        return 0;
    /* lowest differing bit = first differing segment */
    return (b->param_mask & (diff & -diff)) != 0;
}

static int method_matches(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

/* Adds a method to the Allow list once (GET brings HEAD along). */
static void allow_add(char *allow, size_t cap, const char *method)
{
    const char *add[2] = {method, strcmp(method, "GET") == 0 ? "HEAD" : NULL};
    size_t k;

    for (k = 0; k < 2 && add[k]; k++) {
        size_t len = strlen(allow);
        size_t mlen = strlen(add[k]);
        const char *p = allow;
        int seen = 0;

        while (*p) {
            const char *end = strchr(p, ',');
            size_t plen = end ? (size_t)(end - p) : strlen(p);

            if (plen == mlen && memcmp(p, add[k], mlen) == 0)
                seen = 1;
            p += plen;
            while (*p == ',' || *p == ' ')
                p++;
        }
        if (seen)
            continue;
        if (len + (len ? 2 : 0) + mlen + 1 > cap)
            return; /* the header is advisory; a very long list is cut, never overflowed */
        if (len) {
            memcpy(allow + len, ", ", 2);
            len += 2;
        }
        memcpy(allow + len, add[k], mlen + 1);
    }
}

enum xf_api_match_result xf_api_router_match(const struct xf_api_router *r, const char *method,
                                             char *path, struct xf_api_match *m)
{
    char *segs[XF_API_MAX_SEGMENTS];
    const struct xf_api_route *best = NULL;
    int path_known = 0;
    int n;
    size_t i;

    memset(m, 0, sizeof(*m));
    if (!path || path[0] != '/' || !method)
        return XF_API_MATCH_NOT_FOUND;
    n = split_path(path, segs, XF_API_MAX_SEGMENTS);
    if (n < 0)
        return XF_API_MATCH_NOT_FOUND;
    for (i = 0; i < r->n; i++) {
        const struct xf_api_route *rt = &r->routes[i];

        if (!path_matches(rt, segs, (size_t)n))
            continue;
        path_known = 1;
        if (!method_matches(rt->method, method)) {
            allow_add(m->allow, sizeof(m->allow), rt->method);
            continue;
        }
        if (!best || more_specific(rt, best))
            best = rt;
    }
    if (!best)
        return path_known ? XF_API_MATCH_BAD_METHOD : XF_API_MATCH_NOT_FOUND;
    m->route = best;
    for (i = 0; i < best->n_segs; i++) {
        if (!(best->param_mask & (1u << i)))
            continue;
        m->param_names[m->n_params] = best->segs[i];
        m->param_values[m->n_params] = segs[i];
        m->n_params++;
    }
    m->allow[0] = '\0';
    return XF_API_MATCH_OK;
}
