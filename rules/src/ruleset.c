/*
 * ruleset.c - loading rule files and directories, the error list, and matching.
 *
 * The one thing to know: a file is all or nothing. Its rules are added, and if any error was
 * recorded while reading it they are removed again, so `rules check` and the engine agree on
 * what a broken file contributes (nothing) while the other files still load.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rules_int.h"

#define RULE_FILE_MAX (16u << 20)
#define DIR_DEPTH_MAX 32

const char *xf_level_name(enum xf_level l)
{
    switch (l) {
    case XF_LEVEL_INFORMATIONAL:
        return "informational";
    case XF_LEVEL_LOW:
        return "low";
    case XF_LEVEL_MEDIUM:
        return "medium";
    case XF_LEVEL_HIGH:
        return "high";
    case XF_LEVEL_CRITICAL:
        return "critical";
    }
    return "unknown";
}

const char *xf_rules_default_dir(void)
{
    const char *env = getenv("XDRFLOW_RULES_DIR");

    if (env && *env)
        return env;
#ifdef XF_RULES_DIR_INSTALLED
    return xf_data_path(XF_RULES_DIR, XF_RULES_DIR_INSTALLED);
#else
    return XF_RULES_DIR;
#endif
}

/* ---- errors -------------------------------------------------------------------------------- */

void xf_rule_errors_close(struct xf_rule_errors *errs)
{
    if (!errs)
        return;
    xf_free(errs->items);
    errs->items = NULL;
    errs->count = 0;
}

void load_error(struct load_ctx *lc, int line, const char *fmt, ...)
{
    struct xf_rule_error *items;
    struct xf_rule_error *e;
    va_list ap;

    lc->n_errors++;
    lc->total_errors++;
    if (!lc->errs)
        return;
    items = xf_realloc(lc->errs->items, (lc->errs->count + 1) * sizeof *items);
    if (!items) {
        lc->nomem = 1;
        return;
    }
    lc->errs->items = items;
    e = &items[lc->errs->count++];
    snprintf(e->file, sizeof e->file, "%s", lc->file ? lc->file : "");
    e->line = line;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* ---- the ruleset --------------------------------------------------------------------------- */

void rule_destroy(struct rule *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_regexes; i++)
        pcre2_code_free(r->regexes[i]);
    xf_free(r->regexes);
    pool_close(&r->pool);
    xf_free(r);
}

int ruleset_add(struct xf_ruleset *rs, struct rule *r)
{
    if (xf_array_grow(&rs->rules, &rs->cap, rs->n, sizeof(*rs->rules), 64))
        return XF_ENOMEM;
    rs->rules[rs->n++] = r;
    return 0;
}

void xf_ruleset_destroy(struct xf_ruleset *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++)
        rule_destroy(rs->rules[i]);
    for (size_t c = 0; c < XF_CAT__COUNT; c++)
        xf_free(rs->by_cat[c]);
    xf_free(rs->rules);
    xf_free(rs);
}

size_t xf_ruleset_count(const struct xf_ruleset *rs)
{
    return rs ? rs->n : 0;
}

/* The fast path: an event only meets the rules of its category plus the uncategorized ones,
 * kept in load order so matches come out in the documented order. */
static int build_index(struct xf_ruleset *rs)
{
    for (size_t c = 0; c < XF_CAT__COUNT; c++) {
        size_t n = 0;

        xf_free(rs->by_cat[c]);
        rs->by_cat[c] = NULL;
        rs->n_by_cat[c] = 0;
        for (size_t i = 0; i < rs->n; i++)
            if (rs->rules[i]->any_category || rs->rules[i]->category == (enum xf_category)c)
                n++;
        if (!n)
            continue;
        rs->by_cat[c] = xf_malloc(n * sizeof *rs->by_cat[c]);
        if (!rs->by_cat[c])
            return XF_ENOMEM;
        for (size_t i = 0; i < rs->n; i++)
            if (rs->rules[i]->any_category || rs->rules[i]->category == (enum xf_category)c)
                rs->by_cat[c][rs->n_by_cat[c]++] = i;
    }
    return 0;
}

size_t xf_ruleset_match(const struct xf_ruleset *rs, const struct xf_event *ev, xf_rule_match_cb cb,
                        void *ud)
{
    size_t matches = 0;
    unsigned c;

    if (!rs || !ev)
        return 0;
    c = (unsigned)ev->category;
    if (c >= XF_CAT__COUNT)
        return 0;
    for (size_t i = 0; i < rs->n_by_cat[c]; i++) {
        const struct rule *r = rs->rules[rs->by_cat[c][i]];

        if (cond_eval(r, r->cond, ev)) {
            matches++;
            if (cb)
                cb(&r->info, ud);
        }
    }
    return matches;
}

/* ---- loading ------------------------------------------------------------------------------- */

/* Loads one buffer as one file: on any error its rules are taken out again. */
static int load_file_buffer(struct xf_ruleset *rs, struct load_ctx *lc, const char *yaml,
                            size_t len)
{
    size_t first = rs->n;
    int rc;

    lc->n_errors = 0;
    rc = rules_load_yaml(rs, lc, yaml, len);
    if (rc == XF_ENOMEM || lc->nomem)
        rc = XF_ENOMEM;
    if (rc || lc->n_errors) {
        while (rs->n > first)
            rule_destroy(rs->rules[--rs->n]);
    }
    return rc == XF_ENOMEM ? XF_ENOMEM : 0;
}

static int load_file(struct xf_ruleset *rs, struct load_ctx *lc, const char *path)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    int rc = 0;

    lc->file = path;
    f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &st) != 0) {
        load_error(lc, 0, "cannot open: %s", strerror(errno));
        goto out;
    }
    if (st.st_size > (off_t)RULE_FILE_MAX) {
        load_error(lc, 0, "file too large (over %u bytes)", RULE_FILE_MAX);
        goto out;
    }
    buf = xf_malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = XF_ENOMEM;
        goto out;
    }
    len = fread(buf, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        load_error(lc, 0, "cannot read: %s", strerror(errno));
        goto out;
    }
    buf[len] = '\0';
    rc = load_file_buffer(rs, lc, buf, len);
out:
    xf_free(buf);
    if (f)
        fclose(f);
    return rc;
}

static int has_rule_ext(const char *name)
{
    size_t n = strlen(name);

    return (n > 4 && xf_strcaseeq(name + n - 4, ".yml")) ||
           (n > 5 && xf_strcaseeq(name + n - 5, ".yaml"));
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_path(struct xf_ruleset *rs, struct load_ctx *lc, const char *path, int depth,
                     int explicit);

static int load_dir(struct xf_ruleset *rs, struct load_ctx *lc, const char *path, int depth)
{
    DIR *d = NULL;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    char *child = NULL;
    int rc = 0;

    d = opendir(path);
    if (!d) {
        lc->file = path;
        load_error(lc, 0, "cannot open directory: %s", strerror(errno));
        goto out;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            char **nn = xf_realloc(names, ncap * sizeof *nn);

            if (!nn) {
                rc = XF_ENOMEM;
                goto out;
            }
            names = nn;
            cap = ncap;
        }
        names[n] = xf_strdup(de->d_name);
        if (!names[n]) {
            rc = XF_ENOMEM;
            goto out;
        }
        n++;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = strlen(path) + strlen(names[i]) + 2;

        child = xf_malloc(len);
        if (!child) {
            rc = XF_ENOMEM;
            goto out;
        }
        snprintf(child, len, "%s/%s", path, names[i]);
        rc = load_path(rs, lc, child, depth + 1, 0);
        xf_free(child);
        child = NULL;
    }
out:
    xf_free(child);
    for (size_t i = 0; i < n; i++)
        xf_free(names[i]);
    xf_free(names);
    if (d)
        closedir(d);
    return rc;
}

/* explicit: named by the caller, so loaded whatever its extension. */
static int load_path(struct xf_ruleset *rs, struct load_ctx *lc, const char *path, int depth,
                     int explicit)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        lc->file = path;
        load_error(lc, 0, "cannot open: %s", strerror(errno));
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        if (depth >= DIR_DEPTH_MAX) {
            lc->file = path;
            load_error(lc, 0, "directories nested deeper than %d", DIR_DEPTH_MAX);
            return 0;
        }
        return load_dir(rs, lc, path, depth);
    }
    if (!explicit && (!S_ISREG(st.st_mode) || !has_rule_ext(path)))
        return 0;
    return load_file(rs, lc, path);
}

static int finish_load(struct xf_ruleset *rs, struct load_ctx *lc, int rc, struct xf_ruleset **out)
{
    if (rc == 0 && lc->nomem)
        rc = XF_ENOMEM;
    if (rc == 0)
        rc = build_index(rs);
    if (rc == 0 && rs->n == 0 && lc->total_errors)
        rc = XF_ERULE;
    if (rc) {
        xf_ruleset_destroy(rs);
        return rc;
    }
    *out = rs;
    return 0;
}

int xf_ruleset_load(const char *const *paths, size_t n_paths, struct xf_ruleset **out,
                    struct xf_rule_errors *errs)
{
    struct load_ctx lc = {.errs = errs};
    struct xf_ruleset *rs;
    int rc = 0;

    if (!out || (n_paths && !paths))
        return XF_EINVAL;
    *out = NULL;
    rs = xf_calloc(1, sizeof *rs);
    if (!rs)
        return XF_ENOMEM;
    for (size_t i = 0; i < n_paths && rc == 0; i++)
        rc = load_path(rs, &lc, paths[i], 0, 1);
    return finish_load(rs, &lc, rc, out);
}

int xf_ruleset_load_buffer(const char *name, const char *yaml, size_t len, struct xf_ruleset **out,
                           struct xf_rule_errors *errs)
{
    struct load_ctx lc = {.errs = errs, .file = name ? name : "<buffer>"};
    struct xf_ruleset *rs;
    int rc;

    if (!out || (!yaml && len))
        return XF_EINVAL;
    *out = NULL;
    rs = xf_calloc(1, sizeof *rs);
    if (!rs)
        return XF_ENOMEM;
    rc = load_file_buffer(rs, &lc, yaml ? yaml : "", len);
    return finish_load(rs, &lc, rc, out);
}
