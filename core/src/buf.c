/*
 * buf.c - a growable byte buffer. Growth doubles, so appends are amortized O(1).
 */
#include <stdio.h>
#include <string.h>

#include "xf/core.h"

void xf_buf_init(struct xf_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void xf_buf_close(struct xf_buf *b)
{
    xf_free(b->data);
    xf_buf_init(b);
}

void xf_buf_reset(struct xf_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int xf_buf_reserve(struct xf_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t cap;
    char *p;

    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    p = xf_realloc(b->data, cap);
    if (!p)
        return XF_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int xf_buf_append(struct xf_buf *b, const void *data, size_t len)
{
    int rc = xf_buf_reserve(b, len);

    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int xf_buf_appends(struct xf_buf *b, const char *s)
{
    return xf_buf_append(b, s, strlen(s));
}

int xf_buf_appendf(struct xf_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    int rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return XF_EINVAL;
    rc = xf_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *xf_buf_steal(struct xf_buf *b, size_t *len)
{
    char *p = b->data;

    if (len)
        *len = b->len;
    xf_buf_init(b);
    return p;
}
