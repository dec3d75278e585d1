/*
 * alloc.c - the single allocation wrapper.
 *
 * Everything allocates through xf_malloc and friends so that a test can make the Nth
 * allocation fail (curl's torture mode) and check that every error path frees what it took.
 * The countdown is thread-local: a test arms it on its own thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "xf/core.h"

static _Thread_local long fail_countdown = -1;

void xf_alloc_fail_after(long n)
{
    fail_countdown = n;
}

static int should_fail(void)
{
    if (fail_countdown < 0)
        return 0;
    if (fail_countdown == 0)
        return 1;
    fail_countdown--;
    return 0;
}

void *xf_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *xf_calloc(size_t nmemb, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(nmemb ? nmemb : 1, size ? size : 1);
}

void *xf_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

int xf_array_grow(void *arrp, size_t *cap, size_t n, size_t elem, size_t first)
{
    size_t nc;
    void *old, *p;

    if (n < *cap)
        return 0;
    nc = *cap ? *cap * 2 : first;
    if (nc <= n)
        nc = n + 1;
    if (elem && nc > SIZE_MAX / elem)
        return XF_ENOMEM;
    memcpy(&old, arrp, sizeof old); /* the caller's pointer, whatever its element type */
    if (!(p = xf_realloc(old, nc * elem)))
        return XF_ENOMEM;
    memcpy(arrp, &p, sizeof p);
    *cap = nc;
    return 0;
}

void xf_free(void *p)
{
    free(p);
}

char *xf_strndup(const char *s, size_t n)
{
    char *d;

    if (!s)
        return NULL;
    d = xf_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *xf_strdup(const char *s)
{
    return s ? xf_strndup(s, strlen(s)) : NULL;
}
