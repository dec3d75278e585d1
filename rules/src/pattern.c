/*
 * pattern.c - Sigma value modifiers, compiled into patterns, and matching one string.
 *
 * Modifiers are a table (one row each, with the ones it cannot be combined with), so adding
 * one is a row plus its transform. Values become patterns at load time: wildcards are resolved,
 * contains/startswith/endswith become a literal with a position, windash and base64offset
 * become alternatives. The one thing to know: matching never allocates. A regex match borrows
 * its pcre2 match data from a stack arena (pcre2's JIT path needs nothing more).
 */
#include <arpa/inet.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rules_int.h"

enum {
    MOD_CONTAINS = 1u << 0,
    MOD_STARTSWITH = 1u << 1,
    MOD_ENDSWITH = 1u << 2,
    MOD_ALL = 1u << 3,
    MOD_RE = 1u << 4,
    MOD_RE_I = 1u << 5,
    MOD_RE_M = 1u << 6,
    MOD_RE_S = 1u << 7,
    MOD_CIDR = 1u << 8,
    MOD_WINDASH = 1u << 9,
    MOD_BASE64 = 1u << 10,
    MOD_BASE64OFFSET = 1u << 11,
    MOD_WIDE = 1u << 12,
    MOD_CASED = 1u << 13,
    MOD_EXISTS = 1u << 14,
};

#define MOD_KIND (MOD_CONTAINS | MOD_STARTSWITH | MOD_ENDSWITH | MOD_RE | MOD_CIDR | MOD_EXISTS)
#define MOD_XFORM (MOD_WINDASH | MOD_BASE64 | MOD_BASE64OFFSET | MOD_WIDE | MOD_CASED)
#define MOD_RE_SUB (MOD_RE_I | MOD_RE_M | MOD_RE_S)

struct modifiers {
    unsigned bits;
};

static const struct mod_def {
    const char *name;
    unsigned bit;
    unsigned conflicts;
} mod_table[] = {
    {"contains", MOD_CONTAINS, MOD_KIND & ~MOD_CONTAINS},
    {"startswith", MOD_STARTSWITH, MOD_KIND & ~MOD_STARTSWITH},
    {"endswith", MOD_ENDSWITH, MOD_KIND & ~MOD_ENDSWITH},
    {"all", MOD_ALL, MOD_EXISTS},
    {"re", MOD_RE, (MOD_KIND | MOD_XFORM) & ~MOD_RE},
    {"i", MOD_RE_I, 0},
    {"m", MOD_RE_M, 0},
    {"s", MOD_RE_S, 0},
    {"cidr", MOD_CIDR, (MOD_KIND | MOD_XFORM) & ~MOD_CIDR},
    {"windash", MOD_WINDASH, MOD_BASE64 | MOD_BASE64OFFSET | MOD_WIDE},
    {"base64", MOD_BASE64, MOD_BASE64OFFSET},
    {"base64offset", MOD_BASE64OFFSET, MOD_BASE64},
    {"wide", MOD_WIDE, 0},
    {"utf16le", MOD_WIDE, 0},
    {"cased", MOD_CASED, 0},
    {"exists", MOD_EXISTS, ~MOD_EXISTS},
};

static const struct mod_def *mod_find(const char *name, size_t len)
{
    for (size_t i = 0; i < XF_ARRAY_LEN(mod_table); i++)
        if (strlen(mod_table[i].name) == len && memcmp(mod_table[i].name, name, len) == 0)
            return &mod_table[i];
    return NULL;
}

static const char *mod_name(unsigned bit)
{
    for (size_t i = 0; i < XF_ARRAY_LEN(mod_table); i++)
        if (mod_table[i].bit == bit)
            return mod_table[i].name;
    return "?";
}

int modifiers_parse(struct load_ctx *lc, int line, const char *spec, struct modifiers **out,
                    struct pool *pool)
{
    struct modifiers *m = pool_alloc(pool, sizeof *m);
    const char *p = spec;

    if (!m)
        return XF_ENOMEM;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        const struct mod_def *d = mod_find(p, len);

        if (!d) {
            load_error(lc, line, "unknown modifier '%.*s'", (int)(len > 64 ? 64 : len), p);
            return XF_ERULE;
        }
        for (unsigned b = 1; b; b <<= 1) {
            const struct mod_def *other;

            if (!(m->bits & b) || b == d->bit)
                continue;
            other = mod_find(mod_name(b), strlen(mod_name(b)));
            if ((d->conflicts & b) || (other && (other->conflicts & d->bit))) {
                load_error(lc, line, "modifier '%s' cannot be combined with '%s'", d->name,
                           mod_name(b));
                return XF_ERULE;
            }
        }
        if ((d->bit & MOD_RE_SUB) && !(m->bits & MOD_RE)) {
            load_error(lc, line, "modifier '%s' must follow 're'", d->name);
            return XF_ERULE;
        }
        m->bits |= d->bit;
        p = bar ? bar + 1 : NULL;
    }
    *out = m;
    return 0;
}

int modifiers_is_all(const struct modifiers *m)
{
    return (m->bits & MOD_ALL) != 0;
}

int modifiers_exists(const struct modifiers *m)
{
    return (m->bits & MOD_EXISTS) != 0;
}

/* ---- compile ------------------------------------------------------------------------------- */

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static int is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/*
 * Builds one string pattern. literal: take text as bytes (base64 output); otherwise resolve
 * Sigma escapes: \* \? \\ are the plain character, any other backslash is itself.
 */
static int string_pattern(struct pool *pool, const unsigned char *text, size_t len, int literal,
                          unsigned bits, struct pattern *pat)
{
    unsigned char *out = pool_alloc(pool, len + 3);
    unsigned char *wild = pool_alloc(pool, len + 3);
    size_t n = 0, start, end;
    int interior = 0;

    if (!out || !wild)
        return XF_ENOMEM;
    if (bits & (MOD_CONTAINS | MOD_ENDSWITH))
        wild[n++] = WILD_STAR;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = text[i];

        if (!literal && c == '\\' && i + 1 < len &&
            (text[i + 1] == '*' || text[i + 1] == '?' || text[i + 1] == '\\')) {
            out[n++] = text[++i];
        } else if (!literal && c == '*') {
            wild[n++] = WILD_STAR;
        } else if (!literal && c == '?') {
            wild[n++] = WILD_ONE;
        } else {
            out[n++] = c;
        }
    }
    if (bits & (MOD_CONTAINS | MOD_STARTSWITH))
        wild[n++] = WILD_STAR;

    /* Leading and trailing stars become a position; anything inside needs the glob. */
    start = 0;
    while (start < n && wild[start] == WILD_STAR)
        start++;
    end = n;
    while (end > start && wild[end - 1] == WILD_STAR)
        end--;
    for (size_t i = start; i < end; i++)
        if (wild[i] != WILD_LIT)
            interior = 1;

    pat->cased = (bits & MOD_CASED) != 0;
    if (!pat->cased)
        for (size_t i = 0; i < n; i++)
            out[i] = lower(out[i]);
    if (interior) {
        pat->kind = PAT_GLOB;
        pat->lit = (const char *)out;
        pat->wild = wild;
        pat->len = n;
        return 0;
    }
    if (start > 0 && end < n)
        pat->kind = PAT_CONTAINS;
    else if (start > 0)
        pat->kind = PAT_SUFFIX;
    else if (end < n)
        pat->kind = PAT_PREFIX;
    else
        pat->kind = PAT_EQ;
    pat->lit = (const char *)out + start;
    pat->len = end - start;
    return 0;
}

static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    if (s[0] < 0x80)
        goto single;
    if ((s[0] & 0xe0) == 0xc0 && len >= 2 && (s[1] & 0xc0) == 0x80) {
        *cp = ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
        return 2;
    }
    if ((s[0] & 0xf0) == 0xe0 && len >= 3 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80) {
        *cp = ((uint32_t)(s[0] & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
        return 3;
    }
    if ((s[0] & 0xf8) == 0xf0 && len >= 4 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 &&
        (s[3] & 0xc0) == 0x80) {
        *cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
              ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
        return 4;
    }
single:
    /* Not UTF-8: take the byte as Latin-1, as a Windows tool would have written it. */
    *cp = s[0];
    return 1;
}

/* UTF-16LE of a UTF-8 string (the |wide modifier: PowerShell -enc payloads are UTF-16LE). */
static unsigned char *to_wide(struct pool *pool, const unsigned char *s, size_t len,
                              size_t *out_len)
{
    unsigned char *w = pool_alloc(pool, len * 4 + 1);
    size_t n = 0;

    if (!w)
        return NULL;
    for (size_t i = 0; i < len;) {
        uint32_t cp;

        i += utf8_decode(s + i, len - i, &cp);
        if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000;
            uint32_t hi = 0xd800 + (v >> 10), lo = 0xdc00 + (v & 0x3ff);

            w[n++] = (unsigned char)(hi & 0xff);
            w[n++] = (unsigned char)(hi >> 8);
            w[n++] = (unsigned char)(lo & 0xff);
            w[n++] = (unsigned char)(lo >> 8);
        } else {
            w[n++] = (unsigned char)(cp & 0xff);
            w[n++] = (unsigned char)(cp >> 8);
        }
    }
    *out_len = n;
    return w;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encode(const unsigned char *in, size_t len, unsigned char *out)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;

        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[n++] = (unsigned char)b64chars[(v >> 18) & 63];
        out[n++] = (unsigned char)b64chars[(v >> 12) & 63];
        out[n++] = i + 1 < len ? (unsigned char)b64chars[(v >> 6) & 63] : '=';
        out[n++] = i + 2 < len ? (unsigned char)b64chars[v & 63] : '=';
    }
    return n;
}

static int add_regex(struct rule *r, pcre2_code *re)
{
    if (xf_array_grow(&r->regexes, &r->cap_regexes, r->n_regexes, sizeof(*r->regexes), 4))
        return XF_ENOMEM;
    r->regexes[r->n_regexes++] = re;
    return 0;
}

static int compile_re(struct load_ctx *lc, int line, struct rule *r, unsigned bits,
                      const char *text, size_t len, struct pattern *pat)
{
    uint32_t opts = 0;
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *re;

    if (bits & MOD_RE_I)
        opts |= PCRE2_CASELESS;
    if (bits & MOD_RE_M)
        opts |= PCRE2_MULTILINE;
    if (bits & MOD_RE_S)
        opts |= PCRE2_DOTALL;
    re = pcre2_compile((PCRE2_SPTR)text, len, opts, &errcode, &erroff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[128];

        if (errcode == PCRE2_ERROR_NOMEMORY)
            return XF_ENOMEM;
        pcre2_get_error_message(errcode, msg, sizeof msg);
        load_error(lc, line, "bad regex '%.64s' at offset %zu: %s", text, (size_t)erroff,
                   (const char *)msg);
        return XF_ERULE;
    }
    /* JIT is an optimization (and keeps matching off the heap); without it pcre2_match works. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    if (add_regex(r, re) != 0) {
        pcre2_code_free(re);
        return XF_ENOMEM;
    }
    pat->kind = PAT_RE;
    pat->re = re;
    return 0;
}

static int compile_cidr(struct load_ctx *lc, int line, const char *text, size_t len,
                        struct pattern *pat)
{
    char buf[64];
    char *slash, *end;
    long bits;
    int maxbits;

    if (len == 0 || len >= sizeof buf)
        goto bad;
    memcpy(buf, text, len);
    buf[len] = '\0';
    slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    if (strchr(buf, ':')) {
        pat->family = 6;
        maxbits = 128;
        if (inet_pton(AF_INET6, buf, pat->addr) != 1)
            goto bad;
    } else {
        pat->family = 4;
        maxbits = 32;
        if (inet_pton(AF_INET, buf, pat->addr) != 1)
            goto bad;
    }
    bits = maxbits;
    if (slash) {
        if (slash[1] < '0' || slash[1] > '9')
            goto bad;
        bits = strtol(slash + 1, &end, 10);
        if (*end || bits > maxbits)
            goto bad;
    }
    pat->kind = PAT_CIDR;
    pat->bits = (int)bits;
    return 0;
bad:
    load_error(lc, line, "bad cidr '%.*s'", (int)(len > 64 ? 64 : len), text);
    return XF_ERULE;
}

/* windash: a '-' or '/' starting a word (\B[-/]\b, as pySigma has it) may be any of these. */
static const char *const dashes[] = {"-", "/", "\xe2\x80\x93", "\xe2\x80\x94", "\xe2\x80\x95"};

static int windash_at(const unsigned char *t, size_t len, size_t i)
{
    return (t[i] == '-' || t[i] == '/') && (i == 0 || !is_word(t[i - 1])) && i + 1 < len &&
           is_word(t[i + 1]);
}

int value_compile(struct load_ctx *lc, int line, struct rule *r, const struct modifiers *m,
                  const char *text, size_t len, struct value *v)
{
    const unsigned char *t = (const unsigned char *)text;
    unsigned bits = m->bits;
    int rc;

    if (bits & (MOD_RE | MOD_CIDR)) {
        v->variants = pool_alloc(&r->pool, sizeof *v->variants);
        if (!v->variants)
            return XF_ENOMEM;
        v->n_variants = 1;
        if (bits & MOD_RE)
            return compile_re(lc, line, r, bits, text, len, v->variants);
        return compile_cidr(lc, line, text, len, v->variants);
    }
    if (bits & MOD_WIDE) {
        t = to_wide(&r->pool, t, len, &len);
        if (!t)
            return XF_ENOMEM;
    }
    if (bits & (MOD_BASE64 | MOD_BASE64OFFSET)) {
        /* base64offset: the value may sit at any of three byte offsets in the encoded data;
         * keep only the characters that do not depend on its neighbours. */
        static const size_t start_off[3] = {0, 2, 3};
        static const size_t end_cut[3] = {0, 3, 2};
        size_t n = (bits & MOD_BASE64) ? 1 : 3;
        unsigned char *in = pool_alloc(&r->pool, len + 2);
        unsigned char *enc = pool_alloc(&r->pool, (len + 4) / 3 * 4 + 4);

        v->variants = pool_alloc(&r->pool, n * sizeof *v->variants);
        if (!in || !enc || !v->variants)
            return XF_ENOMEM;
        v->n_variants = n;
        for (size_t i = 0; i < n; i++) {
            size_t elen, s, e;

            memset(in, ' ', i);
            memcpy(in + i, t, len);
            elen = b64_encode(in, len + i, enc);
            if (n == 1) {
                s = 0;
                e = elen;
            } else {
                s = start_off[i];
                e = elen - end_cut[(len + i) % 3];
                if (e < s)
                    e = s;
            }
            /* base64 text is case-sensitive whatever the value said. */
            rc = string_pattern(&r->pool, enc + s, e - s, 1, bits | MOD_CASED, &v->variants[i]);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (bits & MOD_WINDASH) {
        size_t ndash = 0;

        for (size_t i = 0; i < len; i++)
            ndash += (size_t)windash_at(t, len, i);
        if (ndash) {
            unsigned char *buf = pool_alloc(&r->pool, len + ndash * 2 + 1);

            v->variants = pool_alloc(&r->pool, XF_ARRAY_LEN(dashes) * sizeof *v->variants);
            if (!buf || !v->variants)
                return XF_ENOMEM;
            v->n_variants = XF_ARRAY_LEN(dashes);
            for (size_t k = 0; k < XF_ARRAY_LEN(dashes); k++) {
                size_t n = 0, dl = strlen(dashes[k]);

                for (size_t i = 0; i < len; i++) {
                    if (windash_at(t, len, i)) {
                        memcpy(buf + n, dashes[k], dl);
                        n += dl;
                    } else {
                        buf[n++] = t[i];
                    }
                }
                rc = string_pattern(&r->pool, buf, n, 0, bits, &v->variants[k]);
                if (rc)
                    return rc;
            }
            return 0;
        }
    }
    v->variants = pool_alloc(&r->pool, sizeof *v->variants);
    if (!v->variants)
        return XF_ENOMEM;
    v->n_variants = 1;
    return string_pattern(&r->pool, t, len, (bits & MOD_WIDE) != 0, bits, v->variants);
}

/* ---- match --------------------------------------------------------------------------------- */

static int mem_eq(const unsigned char *s, const unsigned char *lit, size_t n, int cased)
{
    if (cased)
        return memcmp(s, lit, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != lit[i])
            return 0;
    return 1;
}

static int glob_match(const struct pattern *p, const unsigned char *s, size_t n)
{
    const unsigned char *lit = (const unsigned char *)p->lit;
    size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;

    while (si < n) {
        if (pi < p->len && p->wild[pi] == WILD_ONE) {
            /* ? is one character: step over a whole UTF-8 sequence. */
            si++;
            while (si < n && (s[si] & 0xc0) == 0x80)
                si++;
            pi++;
        } else if (pi < p->len && p->wild[pi] == WILD_STAR) {
            star_p = pi++;
            star_s = si;
        } else if (pi < p->len && (p->cased ? s[si] == lit[pi] : lower(s[si]) == lit[pi])) {
            pi++;
            si++;
        } else if (star_p != (size_t)-1) {
            pi = star_p + 1;
            si = ++star_s;
        } else {
            return 0;
        }
    }
    while (pi < p->len && p->wild[pi] == WILD_STAR)
        pi++;
    return pi == p->len;
}

/* A bump arena on the caller's stack for pcre2's match data; falls back to the heap only if
 * pcre2 wants more (the interpreter without JIT). */
struct re_arena {
    alignas(max_align_t) unsigned char buf[1024];
    size_t used;
};

static void *arena_malloc(PCRE2_SIZE n, void *ud)
{
    struct re_arena *a = ud;
    const size_t align = alignof(max_align_t);
    size_t need = (n + align - 1) / align * align;

    if (need <= sizeof a->buf - a->used) {
        void *p = a->buf + a->used;
        a->used += need;
        return p;
    }
    return xf_malloc(n);
}

static void arena_free(void *p, void *ud)
{
    struct re_arena *a = ud;

    if (p && ((unsigned char *)p < a->buf || (unsigned char *)p >= a->buf + sizeof a->buf))
        xf_free(p);
}

static int re_match(const struct pattern *p, const char *s, size_t n)
{
    struct re_arena arena;
    pcre2_general_context *gc;
    pcre2_match_data *md;
    int rc;

    arena.used = 0;
    gc = pcre2_general_context_create(arena_malloc, arena_free, &arena);
    if (!gc)
        return 0;
    md = pcre2_match_data_create(1, gc);
    if (!md) {
        pcre2_general_context_free(gc);
        return 0;
    }
    rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_general_context_free(gc);
    return rc >= 0;
}

static int cidr_match(const struct pattern *p, const char *s)
{
    unsigned char addr[16];
    const unsigned char *a = addr;
    int full, rest;

    if (strchr(s, ':')) {
        char buf[64];
        const char *pct = strchr(s, '%');
        size_t len = pct ? (size_t)(pct - s) : strlen(s);

        /* Drop a zone index (fe80::1%12); inet_pton does not take one. */
        if (len >= sizeof buf)
            return 0;
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (inet_pton(AF_INET6, buf, addr) != 1)
            return 0;
        if (p->family == 4) {
            static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

            if (memcmp(addr, mapped, sizeof mapped) != 0)
                return 0;
            a = addr + 12;
        }
    } else {
        if (p->family != 4 || inet_pton(AF_INET, s, addr) != 1)
            return 0;
    }
    full = p->bits / 8;
    rest = p->bits % 8;
    if (memcmp(a, p->addr, (size_t)full) != 0)
        return 0;
    if (rest) {
        unsigned char mask = (unsigned char)(0xff << (8 - rest));

        if ((a[full] & mask) != (p->addr[full] & mask))
            return 0;
    }
    return 1;
}

static int pattern_match(const struct pattern *p, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    const unsigned char *lit = (const unsigned char *)p->lit;
    size_t n = strlen(str);

    switch (p->kind) {
    case PAT_EQ:
        return n == p->len && mem_eq(s, lit, n, p->cased);
    case PAT_PREFIX:
        return n >= p->len && mem_eq(s, lit, p->len, p->cased);
    case PAT_SUFFIX:
        return n >= p->len && mem_eq(s + n - p->len, lit, p->len, p->cased);
    case PAT_CONTAINS:
        if (p->len == 0)
            return 1;
        for (size_t i = 0; i + p->len <= n; i++)
            if (mem_eq(s + i, lit, p->len, p->cased))
                return 1;
        return 0;
    case PAT_GLOB:
        return glob_match(p, s, n);
    case PAT_RE:
        return re_match(p, str, n);
    case PAT_CIDR:
        return cidr_match(p, str);
    }
    return 0;
}

int value_match(const struct value *v, const char *s)
{
    for (size_t i = 0; i < v->n_variants; i++)
        if (pattern_match(&v->variants[i], s))
            return 1;
    return 0;
}
