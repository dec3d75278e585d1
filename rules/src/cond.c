/*
 * cond.c - the Sigma condition language: parse to a tree at load time, evaluate per event.
 *
 *   expr    := and ('or' and)*
 *   and     := unary ('and' unary)*
 *   unary   := 'not' unary | primary
 *   primary := '(' expr ')' | ('1' | 'any' | 'all') 'of' (pattern | 'them') | name
 *
 * Precedence is not > and > or. "x of" expands to an OR/AND node over the selections the
 * pattern names ('them' leaves out names starting with '_', as the Sigma spec says). The one
 * thing to know: evaluation walks the tree and the compiled selections without allocating.
 */
#include <string.h>

#include "rules_int.h"

#define COND_DEPTH_MAX 64

enum tok_kind { T_END, T_NAME, T_AND, T_OR, T_NOT, T_LP, T_RP, T_OF, T_ONE, T_ALL, T_THEM };

struct parser {
    struct load_ctx *lc;
    int line;
    struct rule *r;
    const char *s;
    size_t pos;
    enum tok_kind tok;
    const char *tstart;
    size_t tlen;
    int depth;
};

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '*' || c == '.' || c == '-' || c == '?';
}

static int word_is(const struct parser *p, const char *w)
{
    return strlen(w) == p->tlen && xf_strncaseeq(p->tstart, w, p->tlen);
}

static int next(struct parser *p)
{
    const char *s = p->s;

    while (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' || s[p->pos] == '\r')
        p->pos++;
    p->tstart = s + p->pos;
    p->tlen = 0;
    if (!s[p->pos]) {
        p->tok = T_END;
        return 0;
    }
    if (s[p->pos] == '(' || s[p->pos] == ')') {
        p->tok = s[p->pos] == '(' ? T_LP : T_RP;
        p->tlen = 1;
        p->pos++;
        return 0;
    }
    if (s[p->pos] == '|') {
        load_error(p->lc, p->line, "condition: aggregations ('|') are not supported");
        return XF_ERULE;
    }
    if (!is_name_char(s[p->pos])) {
        load_error(p->lc, p->line, "condition: unexpected character '%c' at column %zu", s[p->pos],
                   p->pos + 1);
        return XF_ERULE;
    }
    while (is_name_char(s[p->pos]))
        p->pos++;
    p->tlen = (size_t)(s + p->pos - p->tstart);
    if (word_is(p, "and"))
        p->tok = T_AND;
    else if (word_is(p, "or"))
        p->tok = T_OR;
    else if (word_is(p, "not"))
        p->tok = T_NOT;
    else if (word_is(p, "of"))
        p->tok = T_OF;
    else if (word_is(p, "1") || word_is(p, "any"))
        p->tok = T_ONE;
    else if (word_is(p, "all"))
        p->tok = T_ALL;
    else if (word_is(p, "them"))
        p->tok = T_THEM;
    else
        p->tok = T_NAME;
    return 0;
}

static struct cnode *node_new(struct parser *p, enum cnode_kind kind, size_t n)
{
    struct cnode *c = pool_alloc(&p->r->pool, sizeof *c);

    if (!c)
        return NULL;
    c->kind = kind;
    if (n) {
        c->kids = pool_alloc(&p->r->pool, n * sizeof *c->kids);
        if (!c->kids)
            return NULL;
    }
    return c;
}

/* Case-sensitive glob of selection names: '*' any run, '?' one character. */
static int name_glob(const char *pat, size_t plen, const char *s)
{
    size_t pi = 0, si = 0, sp = (size_t)-1, ss = 0, n = strlen(s);

    while (si < n) {
        if (pi < plen && (pat[pi] == '?' || pat[pi] == s[si])) {
            pi++;
            si++;
        } else if (pi < plen && pat[pi] == '*') {
            sp = pi++;
            ss = si;
        } else if (sp != (size_t)-1) {
            pi = sp + 1;
            si = ++ss;
        } else {
            return 0;
        }
    }
    while (pi < plen && pat[pi] == '*')
        pi++;
    return pi == plen;
}

static int parse_or(struct parser *p, struct cnode **out);

/* Builds AND/OR over a list of sub-nodes gathered in a small growing array. */
static int join(struct parser *p, enum cnode_kind kind, struct cnode **items, size_t n,
                struct cnode **out)
{
    struct cnode *c;

    if (n == 1) {
        *out = items[0];
        return 0;
    }
    c = node_new(p, kind, n);
    if (!c)
        return XF_ENOMEM;
    memcpy(c->kids, items, n * sizeof *items);
    c->n = n;
    *out = c;
    return 0;
}

static int parse_of(struct parser *p, enum cnode_kind kind, struct cnode **out)
{
    int them, rc;
    const char *pat;
    size_t plen, n = 0;
    struct cnode *c;

    if ((rc = next(p)) != 0)
        return rc;
    if (p->tok != T_OF) {
        load_error(p->lc, p->line, "condition: expected 'of' after '%.*s'",
                   (int)(p->tlen > 32 ? 32 : p->tlen), p->tstart);
        return XF_ERULE;
    }
    if ((rc = next(p)) != 0)
        return rc;
    if (p->tok != T_THEM && p->tok != T_NAME) {
        load_error(p->lc, p->line, "condition: expected a selection pattern or 'them' after 'of'");
        return XF_ERULE;
    }
    them = p->tok == T_THEM;
    pat = p->tstart;
    plen = p->tlen;
    for (size_t i = 0; i < p->r->n_sels; i++) {
        const char *name = p->r->sels[i].name;

        if (them ? name[0] != '_' : name_glob(pat, plen, name))
            n++;
    }
    if (n == 0) {
        load_error(p->lc, p->line, "condition references unknown selection '%.*s'",
                   (int)(plen > 64 ? 64 : plen), pat);
        return XF_ERULE;
    }
    c = node_new(p, kind, n);
    if (!c)
        return XF_ENOMEM;
    for (size_t i = 0; i < p->r->n_sels; i++) {
        const char *name = p->r->sels[i].name;
        struct cnode *leaf;

        if (!(them ? name[0] != '_' : name_glob(pat, plen, name)))
            continue;
        leaf = node_new(p, CN_SEL, 0);
        if (!leaf)
            return XF_ENOMEM;
        leaf->sel = i;
        c->kids[c->n++] = leaf;
    }
    *out = c;
    return next(p);
}

static int parse_primary(struct parser *p, struct cnode **out)
{
    int rc;

    switch (p->tok) {
    case T_LP:
        if ((rc = next(p)) != 0 || (rc = parse_or(p, out)) != 0)
            return rc;
        if (p->tok != T_RP) {
            load_error(p->lc, p->line, "condition: missing ')'");
            return XF_ERULE;
        }
        return next(p);
    case T_ONE:
        return parse_of(p, CN_OR, out);
    case T_ALL:
        return parse_of(p, CN_AND, out);
    case T_NAME:
        for (size_t i = 0; i < p->r->n_sels; i++) {
            if (strlen(p->r->sels[i].name) == p->tlen &&
                memcmp(p->r->sels[i].name, p->tstart, p->tlen) == 0) {
                struct cnode *leaf = node_new(p, CN_SEL, 0);

                if (!leaf)
                    return XF_ENOMEM;
                leaf->sel = i;
                *out = leaf;
                return next(p);
            }
        }
        load_error(p->lc, p->line, "condition references unknown selection '%.*s'",
                   (int)(p->tlen > 64 ? 64 : p->tlen), p->tstart);
        return XF_ERULE;
    case T_END:
        load_error(p->lc, p->line, "condition: unexpected end");
        return XF_ERULE;
    default:
        load_error(p->lc, p->line, "condition: unexpected '%.*s' at column %zu",
                   (int)(p->tlen > 32 ? 32 : p->tlen), p->tstart, (size_t)(p->tstart - p->s) + 1);
        return XF_ERULE;
    }
}

static int parse_unary(struct parser *p, struct cnode **out)
{
    struct cnode *c, *kid = NULL;
    int rc;

    if (++p->depth > COND_DEPTH_MAX) {
        load_error(p->lc, p->line, "condition nested deeper than %d", COND_DEPTH_MAX);
        return XF_ERULE;
    }
    if (p->tok != T_NOT) {
        rc = parse_primary(p, out);
        p->depth--;
        return rc;
    }
    if ((rc = next(p)) != 0 || (rc = parse_unary(p, &kid)) != 0)
        return rc;
    c = node_new(p, CN_NOT, 1);
    if (!c)
        return XF_ENOMEM;
    c->kids[0] = kid;
    c->n = 1;
    *out = c;
    p->depth--;
    return 0;
}

/* Parses a run of sub-expressions joined by one operator into a flat node. */
static int parse_chain(struct parser *p, enum tok_kind op, enum cnode_kind kind,
                       int (*sub)(struct parser *, struct cnode **), struct cnode **out)
{
    struct cnode *stack_items[16];
    struct cnode **items = stack_items;
    size_t n = 0, cap = XF_ARRAY_LEN(stack_items);
    int rc;

    for (;;) {
        if (n == cap) {
            /* Long chains spill into the pool; it is freed with the rule. */
            struct cnode **more = pool_alloc(&p->r->pool, cap * 2 * sizeof *more);

            if (!more)
                return XF_ENOMEM;
            memcpy(more, items, n * sizeof *items);
            items = more;
            cap *= 2;
        }
        if ((rc = sub(p, &items[n])) != 0)
            return rc;
        n++;
        if (p->tok != op)
            break;
        if ((rc = next(p)) != 0)
            return rc;
    }
    return join(p, kind, items, n, out);
}

static int parse_and(struct parser *p, struct cnode **out)
{
    return parse_chain(p, T_AND, CN_AND, parse_unary, out);
}

static int parse_or(struct parser *p, struct cnode **out)
{
    int rc;

    if (++p->depth > COND_DEPTH_MAX) {
        load_error(p->lc, p->line, "condition nested deeper than %d", COND_DEPTH_MAX);
        return XF_ERULE;
    }
    rc = parse_chain(p, T_OR, CN_OR, parse_and, out);
    p->depth--;
    return rc;
}

int cond_compile(struct load_ctx *lc, int line, struct rule *r, const char *text)
{
    struct parser p = {.lc = lc, .line = line, .r = r, .s = text};
    struct cnode *root = NULL, *prev;
    int rc;

    if ((rc = next(&p)) != 0 || (rc = parse_or(&p, &root)) != 0)
        return rc;
    if (p.tok != T_END) {
        load_error(lc, line, "condition: unexpected '%.*s' at column %zu",
                   (int)(p.tlen > 32 ? 32 : p.tlen), p.tstart, (size_t)(p.tstart - text) + 1);
        return XF_ERULE;
    }
    /* A list of conditions is their OR: fold each new one into the existing root. */
    prev = r->cond;
    if (prev) {
        struct cnode *items[2] = {prev, root};
        return join(&p, CN_OR, items, 2, &r->cond);
    }
    r->cond = root;
    return 0;
}

/* ---- evaluation ---------------------------------------------------------------------------- */

static const enum xf_field keyword_fields[] = {XF_F_COMMAND_LINE,    XF_F_IMAGE,
                                               XF_F_TARGET_FILENAME, XF_F_QUERY_NAME,
                                               XF_F_DETAILS,         XF_F_IMAGE_PATH};

static int field_any(const struct value *v, const struct xf_event *ev, enum xf_field f)
{
    size_t n = xf_event_count(ev, f);

    for (size_t i = 0; i < n; i++) {
        const char *s = xf_event_get_nth(ev, f, i);

        if (s && value_match(v, s))
            return 1;
    }
    return 0;
}

static int value_on_event(const struct matcher *m, const struct value *v, const struct xf_event *ev)
{
    if (m->field != FIELD_KEYWORDS)
        return field_any(v, ev, (enum xf_field)m->field);
    for (size_t k = 0; k < XF_ARRAY_LEN(keyword_fields); k++)
        if (field_any(v, ev, keyword_fields[k]))
            return 1;
    return 0;
}

static int matcher_eval(const struct matcher *m, const struct xf_event *ev)
{
    switch (m->kind) {
    case MATCH_NULL: {
        const char *s = xf_event_get(ev, (enum xf_field)m->field);
        return !s || !*s;
    }
    case MATCH_EXISTS:
        return (xf_event_count(ev, (enum xf_field)m->field) > 0) == m->exists;
    case MATCH_VALUES:
        for (size_t i = 0; i < m->n_values; i++) {
            int hit = value_on_event(m, &m->values[i], ev);

            if (m->all && !hit)
                return 0;
            if (!m->all && hit)
                return 1;
        }
        return m->all;
    }
    return 0;
}

static int selection_eval(const struct selection *s, const struct xf_event *ev)
{
    for (size_t g = 0; g < s->n_groups; g++) {
        const struct group *grp = &s->groups[g];
        size_t i;

        for (i = 0; i < grp->n; i++)
            if (!matcher_eval(&grp->m[i], ev))
                break;
        if (i == grp->n)
            return 1;
    }
    return 0;
}

int cond_eval(const struct rule *r, const struct cnode *n, const struct xf_event *ev)
{
    switch (n->kind) {
    case CN_SEL:
        return selection_eval(&r->sels[n->sel], ev);
    case CN_NOT:
        return !cond_eval(r, n->kids[0], ev);
    case CN_AND:
        for (size_t i = 0; i < n->n; i++)
            if (!cond_eval(r, n->kids[i], ev))
                return 0;
        return 1;
    case CN_OR:
        for (size_t i = 0; i < n->n; i++)
            if (cond_eval(r, n->kids[i], ev))
                return 1;
        return 0;
    }
    return 0;
}
