/*
 * rules_int.h - the compiled form of a Sigma rule, private to the rules module.
 *
 *   ruleset ── rule[] ── selection[] ── group[] (OR) ── matcher[] (AND) ── value[] ── variant[]
 *                   └─ cond: tree of AND/OR/NOT over selection indexes
 *
 * Everything a rule owns lives in the rule's pool, except compiled regexes, which the rule
 * lists separately so destroy can hand them back to pcre2. Matching reads this structure only,
 * so a ruleset can be shared by threads.
 */
#ifndef XF_RULES_INT_H
#define XF_RULES_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdarg.h>
#include <stddef.h>

#include "xf/rules.h"

/* ---- pool: bump allocation, freed all at once ---------------------------------------------- */

struct pool_block;
struct pool {
    struct pool_block *head;
};
void pool_init(struct pool *p);
void pool_close(struct pool *p);
/* Zeroed memory or NULL. */
void *pool_alloc(struct pool *p, size_t n);
char *pool_strndup(struct pool *p, const char *s, size_t n);

/* ---- errors -------------------------------------------------------------------------------- */

/* Where a load is and where its errors go. */
struct load_ctx {
    const char *file;
    struct xf_rule_errors *errs; /* borrowed, may be NULL */
    size_t n_errors;             /* errors recorded for the current file */
    size_t total_errors;         /* errors recorded in this load */
    int nomem;
};
void load_error(struct load_ctx *lc, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- patterns ------------------------------------------------------------------------------ */

enum pat_kind {
    PAT_EQ,
    PAT_PREFIX,
    PAT_SUFFIX,
    PAT_CONTAINS,
    PAT_GLOB, /* has unescaped * or ? */
    PAT_RE,
    PAT_CIDR
};

#define WILD_LIT 0
#define WILD_STAR 1
#define WILD_ONE 2

struct pattern {
    enum pat_kind kind;
    int cased;       /* 1: compare bytes exactly; else lit is lowercased */
    const char *lit; /* literal or glob bytes */
    size_t len;
    const unsigned char *wild; /* PAT_GLOB: one WILD_* per byte of lit */
    pcre2_code *re;            /* PAT_RE, owned by the rule's regex list */
    int family;                /* PAT_CIDR: 4 or 6 */
    unsigned char addr[16];
    int bits;
};

/* One value of a field matcher with its alternatives (windash, base64offset variants). */
struct value {
    struct pattern *variants;
    size_t n_variants;
};

enum matcher_kind { MATCH_VALUES, MATCH_NULL, MATCH_EXISTS };

#define FIELD_KEYWORDS (-1)

struct matcher {
    enum matcher_kind kind;
    int field;  /* enum xf_field, or FIELD_KEYWORDS */
    int all;    /* |all: every value must match */
    int exists; /* MATCH_EXISTS: wanted presence */
    struct value *values;
    size_t n_values;
};

struct group {
    struct matcher *m; /* AND */
    size_t n;
};

struct selection {
    const char *name;
    struct group *groups; /* OR */
    size_t n_groups;
};

enum cnode_kind { CN_SEL, CN_AND, CN_OR, CN_NOT };

struct cnode {
    enum cnode_kind kind;
    size_t sel;
    struct cnode **kids;
    size_t n;
};

struct rule {
    struct xf_rule_info info;
    int any_category;
    enum xf_category category;
    struct selection *sels;
    size_t n_sels;
    struct cnode *cond;
    pcre2_code **regexes;
    size_t n_regexes;
    size_t cap_regexes;
    struct pool pool;
};

struct xf_ruleset {
    struct rule **rules;
    size_t n;
    size_t cap;
    size_t *by_cat[XF_CAT__COUNT]; /* indexes into rules, in load order */
    size_t n_by_cat[XF_CAT__COUNT];
};

/* ---- compile and evaluate (pattern.c, cond.c) ---------------------------------------------- */

/*
 * Compiles one detection value (text[0..len)) with the modifiers of its key into v. null_value
 * says the YAML value was null. Returns 0, XF_ERULE (error recorded at line) or XF_ENOMEM.
 */
struct modifiers;
int modifiers_parse(struct load_ctx *lc, int line, const char *spec, struct modifiers **out,
                    struct pool *pool);
int modifiers_is_all(const struct modifiers *m);
int modifiers_exists(const struct modifiers *m);
int value_compile(struct load_ctx *lc, int line, struct rule *r, const struct modifiers *m,
                  const char *text, size_t len, struct value *v);
int value_match(const struct value *v, const char *s);

/* Parses a condition over r->sels into r->cond. Returns 0, XF_ERULE or XF_ENOMEM. */
int cond_compile(struct load_ctx *lc, int line, struct rule *r, const char *text);
int cond_eval(const struct rule *r, const struct cnode *n, const struct xf_event *ev);

/* Loads every rule document of one YAML buffer into rs. Errors go to lc. */
int rules_load_yaml(struct xf_ruleset *rs, struct load_ctx *lc, const char *yaml, size_t len);
int ruleset_add(struct xf_ruleset *rs, struct rule *r);
void rule_destroy(struct rule *r);

#endif
