/*
 * auth.c - bearer tokens with roles, compared in constant time.
 *
 * The one thing to know: what is compared is never the token itself but its SHA-256 digest,
 * always 32 bytes, with CRYPTO_memcmp, and the presented token is compared with every
 * configured one before the answer is chosen. So the time a request takes says nothing about
 * how long a configured token is, how many leading bytes were right, or which token matched.
 * The server keeps only the digests; the secrets stay with whoever configured them.
 */
#include <ctype.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api_int.h"

static const char *const role_names[] = {"none", "read", "respond", "admin"};

const char *xf_api_role_name(enum xf_api_role r)
{
    if ((unsigned)r >= XF_ARRAY_LEN(role_names))
        return "?";
    return role_names[r];
}

int xf_api_role_parse(const char *s)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < XF_ARRAY_LEN(role_names); i++)
        if (strcmp(s, role_names[i]) == 0)
            return (int)i;
    return -1;
}

/* SHA-256 of data into out; 0 or XF_EINTERNAL (libcrypto refused, which it does not). */
static int digest(const void *data, size_t len, unsigned char out[XF_API_DIGEST_LEN])
{
    unsigned int n = 0;

    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != XF_API_DIGEST_LEN)
        return XF_EINTERNAL;
    return 0;
}

int xf_api_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    unsigned char da[XF_API_DIGEST_LEN];
    unsigned char db[XF_API_DIGEST_LEN];

    if (digest(a, alen, da) || digest(b, blen, db))
        return 0;
    return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
}

void xf_api_auth_close(struct xf_api_auth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        xf_free(a->tokens[i].name);
        OPENSSL_cleanse(a->tokens[i].digest, sizeof(a->tokens[i].digest));
    }
    xf_free(a->tokens);
    a->tokens = NULL;
    a->n = 0;
}

int xf_api_auth_init(struct xf_api_auth *a, const struct xf_api_token *tokens, size_t n)
{
    int rc = 0;

    memset(a, 0, sizeof(*a));
    if (n == 0)
        goto out;
    a->tokens = xf_calloc(n, sizeof(*a->tokens));
    if (!a->tokens) {
        rc = XF_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct xf_api_token *t = &tokens[i];
        struct xf_api_auth_token *d = &a->tokens[i];

        if (!t->name || !t->name[0] || !t->secret || !t->secret[0] || t->role <= XF_ROLE_NONE ||
            t->role > XF_ROLE_ADMIN) {
            XF_ERROR("api: token %zu (%s): needs a name, a non-empty secret and a role", i + 1,
                     t->name && t->name[0] ? t->name : "unnamed");
            rc = XF_EINVAL;
            goto out;
        }
        if (!(d->name = xf_strdup(t->name))) {
            rc = XF_ENOMEM;
            goto out;
        }
        a->n++;
        d->role = t->role;
        if ((rc = digest(t->secret, strlen(t->secret), d->digest)))
            goto out;
    }
out:
    if (rc)
        xf_api_auth_close(a);
    return rc;
}

/* The token of "Bearer <token>" (scheme case-insensitive, RFC 6750), or NULL. *len excludes
 * trailing blanks. A token holds no blank, so "Bearer a b" is malformed. */
static const char *bearer_token(const char *h, size_t *len)
{
    const char *t;
    size_t n;

    if (!h)
        return NULL;
    while (*h == ' ' || *h == '\t')
        h++;
    if (!xf_strncaseeq(h, "Bearer", 6) || (h[6] != ' ' && h[6] != '\t'))
        return NULL;
    t = h + 6;
    while (*t == ' ' || *t == '\t')
        t++;
    n = strcspn(t, " \t");
    if (n == 0)
        return NULL;
    for (const char *p = t + n; *p; p++)
        if (*p != ' ' && *p != '\t')
            return NULL;
    *len = n;
    return t;
}

int xf_api_auth_check(const struct xf_api_auth *a, const char *header, enum xf_api_role need,
                      const char **actor, enum xf_api_role *role)
{
    unsigned char d[XF_API_DIGEST_LEN];
    const char *tok;
    size_t len = 0;
    size_t found = (size_t)-1;

    *actor = NULL;
    *role = XF_ROLE_NONE;
    if (need == XF_ROLE_NONE)
        return 0;
    tok = bearer_token(header, &len);
    if (!tok || digest(tok, len, d))
        return 401;
    /* no early exit: every token costs one comparison whichever matches */
    for (size_t i = 0; i < a->n; i++) {
        int eq = CRYPTO_memcmp(d, a->tokens[i].digest, sizeof(d)) == 0;

        if (eq && found == (size_t)-1)
            found = i;
    }
    OPENSSL_cleanse(d, sizeof(d));
    if (found == (size_t)-1)
        return 401;
    *actor = a->tokens[found].name;
    *role = a->tokens[found].role;
    return a->tokens[found].role >= need ? 0 : 403;
}
