/*
 * load.c - from YAML documents (libyaml's document API) to compiled rules.
 *
 * A file may hold several documents; each one with a `detection` is a rule, correlation and
 * `action:` documents are skipped. The one thing to know: every error names the line of the
 * YAML node it is about (libyaml marks are 0-based; ours are 1-based), because the detection
 * engineer reads them in `xdrflow rules check`.
 */
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "rules_int.h"

struct doc {
    yaml_document_t *y;
    struct load_ctx *lc;
    struct rule *r;
};

static int line_of(const yaml_node_t *n)
{
    return n ? (int)n->start_mark.line + 1 : 0;
}

static const char *type_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a map";
    default:
        return "nothing";
    }
}

static int wrong_type(struct doc *d, const yaml_node_t *n, const char *what, const char *want)
{
    load_error(d->lc, line_of(n), "'%s' must be %s, not %s", what, want, type_name(n));
    return XF_ERULE;
}

static yaml_node_t *node(struct doc *d, int idx)
{
    return yaml_document_get_node(d->y, idx);
}

/* A scalar as a NUL-terminated string (libyaml keeps a terminator after each scalar). */
static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static int scalar_is(const yaml_node_t *n, const char *s)
{
    return n && n->type == YAML_SCALAR_NODE && strcmp(scalar(n), s) == 0;
}

/* YAML null: a plain (unquoted) ~, null, Null, NULL or nothing at all. */
static int is_null(const yaml_node_t *n)
{
    const char *s;

    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    s = scalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* Looks key up in a map node; reports a duplicate key as an error (*dup set). */
static yaml_node_t *map_get(struct doc *d, const yaml_node_t *map, const char *key, int *dup)
{
    yaml_node_t *found = NULL;

    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(d, p->key);

        if (!scalar_is(k, key))
            continue;
        if (found) {
            load_error(d->lc, line_of(k), "duplicate key '%s'", key);
            *dup = 1;
            return NULL;
        }
        found = node(d, p->value);
    }
    return found;
}

/* ---- metadata ------------------------------------------------------------------------------ */

static int get_string(struct doc *d, const yaml_node_t *map, const char *key, const char **out,
                      int required)
{
    int dup = 0;
    yaml_node_t *n = map_get(d, map, key, &dup);

    if (dup)
        return XF_ERULE;
    if (!n) {
        if (required) {
            load_error(d->lc, line_of(map), "missing '%s'", key);
            return XF_ERULE;
        }
        *out = NULL;
        return 0;
    }
    if (n->type != YAML_SCALAR_NODE)
        return wrong_type(d, n, key, "a string");
    *out = pool_strndup(&d->r->pool, scalar(n), n->data.scalar.length);
    return *out ? 0 : XF_ENOMEM;
}

static const char *const tactic_names[] = {
    "reconnaissance",  "resource_development",
    "initial_access",  "execution",
    "persistence",     "privilege_escalation",
    "defense_evasion", "credential_access",
    "discovery",       "lateral_movement",
    "collection",      "command_and_control",
    "exfiltration",    "impact",
};

static int is_technique(const char *t)
{
    /* t1059 or t1059.001 (after "attack.") */
    if ((t[0] != 't' && t[0] != 'T') || strlen(t) < 5)
        return 0;
    for (int i = 1; i <= 4; i++)
        if (t[i] < '0' || t[i] > '9')
            return 0;
    if (!t[5])
        return 1;
    if (t[5] != '.' || strlen(t) != 9)
        return 0;
    for (int i = 6; i <= 8; i++)
        if (t[i] < '0' || t[i] > '9')
            return 0;
    return 1;
}

static int add_unique(struct pool *pool, const char **list, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], s) == 0)
            return 0;
    list[*n] = pool_strndup(pool, s, strlen(s));
    if (!list[*n])
        return XF_ENOMEM;
    (*n)++;
    return 0;
}

static int load_tags(struct doc *d, const yaml_node_t *root)
{
    struct rule *r = d->r;
    int dup = 0;
    yaml_node_t *tags = map_get(d, root, "tags", &dup);
    const char **tech, **tact;
    size_t count;
    int rc;

    if (dup)
        return XF_ERULE;
    if (!tags)
        return 0;
    if (tags->type != YAML_SEQUENCE_NODE)
        return wrong_type(d, tags, "tags", "a list");
    count = (size_t)(tags->data.sequence.items.top - tags->data.sequence.items.start);
    tech = pool_alloc(&r->pool, (count + 1) * sizeof *tech);
    tact = pool_alloc(&r->pool, (count + 1) * sizeof *tact);
    if (!tech || !tact)
        return XF_ENOMEM;
    r->info.techniques = tech;
    r->info.tactics = tact;
    for (yaml_node_item_t *it = tags->data.sequence.items.start; it < tags->data.sequence.items.top;
         it++) {
        yaml_node_t *t = node(d, *it);
        const char *s;

        if (t->type != YAML_SCALAR_NODE)
            return wrong_type(d, t, "tags", "a list of strings");
        s = scalar(t);
        if (strncmp(s, "attack.", 7) != 0)
            continue;
        s += 7;
        if (is_technique(s)) {
            char buf[10];

            snprintf(buf, sizeof buf, "T%s", s + 1);
            rc = add_unique(&r->pool, tech, &r->info.n_techniques, buf);
            if (rc)
                return rc;
            continue;
        }
        for (size_t k = 0; k < XF_ARRAY_LEN(tactic_names); k++) {
            if (strcmp(s, tactic_names[k]) == 0) {
                rc = add_unique(&r->pool, tact, &r->info.n_tactics, s);
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}

static int load_level(struct doc *d, const yaml_node_t *root)
{
    static const char *const names[] = {"informational", "low", "medium", "high", "critical"};
    const char *s = NULL;
    int rc = get_string(d, root, "level", &s, 0);
    int dup = 0;

    if (rc)
        return rc;
    /* No level: medium, the middle of the scale, so an unlabeled rule is neither lost in the
     * noise nor paging anyone. */
    d->r->info.level = XF_LEVEL_MEDIUM;
    if (!s)
        return 0;
    for (size_t i = 0; i < XF_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            d->r->info.level = (enum xf_level)i;
            return 0;
        }
    }
    load_error(d->lc, line_of(map_get(d, root, "level", &dup)), "unknown level '%.32s'", s);
    return XF_ERULE;
}

static const struct {
    const char *name;
    enum xf_category cat;
} category_map[] = {
    {"process_creation", XF_CAT_PROCESS},
    {"process_termination", XF_CAT_PROCESS_END},
    {"file_event", XF_CAT_FILE},
    {"file_change", XF_CAT_FILE},
    {"file_delete", XF_CAT_FILE},
    {"file_rename", XF_CAT_FILE},
    {"network_connection", XF_CAT_NETWORK},
    {"dns_query", XF_CAT_DNS},
    {"dns", XF_CAT_DNS},
    {"registry_add", XF_CAT_REGISTRY},
    {"registry_set", XF_CAT_REGISTRY},
    {"registry_delete", XF_CAT_REGISTRY},
    {"registry_event", XF_CAT_REGISTRY},
    {"registry_rename", XF_CAT_REGISTRY},
    {"image_load", XF_CAT_IMAGE_LOAD},
    {"process_access", XF_CAT_PROCESS_ACCESS},
};

static int load_logsource(struct doc *d, const yaml_node_t *root)
{
    int dup = 0;
    yaml_node_t *ls = map_get(d, root, "logsource", &dup);
    yaml_node_t *cat;
    const char *c;

    if (dup)
        return XF_ERULE;
    /* No category (e.g. product windows, service system/security): EventID in the detection
     * does the restricting, so the rule sees every event. */
    d->r->any_category = 1;
    if (!ls)
        return 0;
    if (ls->type != YAML_MAPPING_NODE)
        return wrong_type(d, ls, "logsource", "a map");
    cat = map_get(d, ls, "category", &dup);
    if (dup)
        return XF_ERULE;
    if (!cat || is_null(cat))
        return 0;
    if (cat->type != YAML_SCALAR_NODE)
        return wrong_type(d, cat, "category", "a string");
    c = scalar(cat);
    for (size_t i = 0; i < XF_ARRAY_LEN(category_map); i++) {
        if (strcmp(c, category_map[i].name) == 0) {
            d->r->any_category = 0;
            d->r->category = category_map[i].cat;
            return 0;
        }
    }
    load_error(d->lc, line_of(cat), "unknown logsource category '%.64s'", c);
    return XF_ERULE;
}

/* ---- detection ----------------------------------------------------------------------------- */

/* Other spellings of our fields seen in Sigma rules (Security log, older rules, Zeek). */
static const struct {
    const char *alias;
    enum xf_field field;
} field_aliases[] = {
    {"NewProcessName", XF_F_IMAGE},
    {"ProcessName", XF_F_IMAGE},
    {"ParentProcessName", XF_F_PARENT_IMAGE},
    {"ProcessCommandLine", XF_F_COMMAND_LINE},
    {"DestPort", XF_F_DESTINATION_PORT},
    {"dst_port", XF_F_DESTINATION_PORT},
    {"DestAddress", XF_F_DESTINATION_IP},
    {"dst_ip", XF_F_DESTINATION_IP},
    {"SourceAddress", XF_F_SOURCE_IP},
    {"src_ip", XF_F_SOURCE_IP},
    {"ServiceFileName", XF_F_IMAGE_PATH},
    {"Computer", XF_F_HOST},
    {"ComputerName", XF_F_HOST},
    {"query", XF_F_QUERY_NAME},
    {"SubjectUserName", XF_F_USER},
};

static int field_resolve(const char *name)
{
    int f = xf_field_lookup(name);

    if (f >= 0)
        return f;
    for (size_t i = 0; i < XF_ARRAY_LEN(field_aliases); i++)
        if (xf_strcaseeq(field_aliases[i].alias, name))
            return (int)field_aliases[i].field;
    return -1;
}

static int compile_values(struct doc *d, const yaml_node_t *vn, const struct modifiers *mods,
                          struct matcher *m)
{
    int rc;

    if (vn->type == YAML_SCALAR_NODE) {
        m->values = pool_alloc(&d->r->pool, sizeof *m->values);
        if (!m->values)
            return XF_ENOMEM;
        m->n_values = 1;
        return value_compile(d->lc, line_of(vn), d->r, mods, scalar(vn), vn->data.scalar.length,
                             m->values);
    }
    if (vn->type != YAML_SEQUENCE_NODE)
        return wrong_type(d, vn, "a field value", "a string or a list of strings");
    m->n_values = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
    if (m->n_values == 0) {
        load_error(d->lc, line_of(vn), "empty value list");
        return XF_ERULE;
    }
    m->values = pool_alloc(&d->r->pool, m->n_values * sizeof *m->values);
    if (!m->values)
        return XF_ENOMEM;
    for (size_t i = 0; i < m->n_values; i++) {
        yaml_node_t *it = node(d, vn->data.sequence.items.start[i]);

        if (it->type != YAML_SCALAR_NODE)
            return wrong_type(d, it, "a list value", "a string");
        if (is_null(it)) {
            load_error(d->lc, line_of(it), "null inside a value list is not supported");
            return XF_ERULE;
        }
        rc = value_compile(d->lc, line_of(it), d->r, mods, scalar(it), it->data.scalar.length,
                           &m->values[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* One "Field|mod|mod: value(s)" entry. */
static int compile_matcher(struct doc *d, const yaml_node_t *kn, const yaml_node_t *vn,
                           struct matcher *m)
{
    const char *key = scalar(kn);
    const char *bar = strchr(key, '|');
    size_t flen = bar ? (size_t)(bar - key) : strlen(key);
    struct modifiers *mods = NULL;
    char fname[128];
    int rc;

    if (flen >= sizeof fname) {
        load_error(d->lc, line_of(kn), "unknown field '%.64s...'", key);
        return XF_ERULE;
    }
    memcpy(fname, key, flen);
    fname[flen] = '\0';
    rc = modifiers_parse(d->lc, line_of(kn), bar ? bar + 1 : "", &mods, &d->r->pool);
    if (rc)
        return rc;
    if (flen == 0) {
        m->field = FIELD_KEYWORDS;
    } else {
        m->field = field_resolve(fname);
        if (m->field < 0) {
            load_error(d->lc, line_of(kn), "unknown field '%s'", fname);
            return XF_ERULE;
        }
    }
    m->all = modifiers_is_all(mods);
    if (modifiers_exists(mods)) {
        if (m->field == FIELD_KEYWORDS || vn->type != YAML_SCALAR_NODE ||
            (strcmp(scalar(vn), "true") != 0 && strcmp(scalar(vn), "false") != 0)) {
            load_error(d->lc, line_of(vn), "'exists' needs a field and true or false");
            return XF_ERULE;
        }
        m->kind = MATCH_EXISTS;
        m->exists = strcmp(scalar(vn), "true") == 0;
        return 0;
    }
    if (is_null(vn)) {
        if (m->field == FIELD_KEYWORDS || bar) {
            load_error(d->lc, line_of(vn), "null needs a field and no modifiers");
            return XF_ERULE;
        }
        m->kind = MATCH_NULL;
        return 0;
    }
    m->kind = MATCH_VALUES;
    return compile_values(d, vn, mods, m);
}

static int compile_group(struct doc *d, const yaml_node_t *map, struct group *g)
{
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    int rc;

    if (n == 0) {
        load_error(d->lc, line_of(map), "empty selection");
        return XF_ERULE;
    }
    g->m = pool_alloc(&d->r->pool, n * sizeof *g->m);
    if (!g->m)
        return XF_ENOMEM;
    g->n = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &map->data.mapping.pairs.start[i];
        yaml_node_t *k = node(d, p->key);

        if (k->type != YAML_SCALAR_NODE)
            return wrong_type(d, k, "a field name", "a string");
        rc = compile_matcher(d, k, node(d, p->value), &g->m[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* A list of plain strings: keywords, searched in the keyword fields with contains. */
static int compile_keywords(struct doc *d, const yaml_node_t *seq, struct group *g)
{
    struct modifiers *mods = NULL;
    int rc = modifiers_parse(d->lc, line_of(seq), "contains", &mods, &d->r->pool);

    if (rc)
        return rc;
    g->m = pool_alloc(&d->r->pool, sizeof *g->m);
    if (!g->m)
        return XF_ENOMEM;
    g->n = 1;
    g->m->kind = MATCH_VALUES;
    g->m->field = FIELD_KEYWORDS;
    return compile_values(d, seq, mods, g->m);
}

static int compile_selection(struct doc *d, const yaml_node_t *kn, const yaml_node_t *vn,
                             struct selection *s)
{
    int rc;

    s->name = pool_strndup(&d->r->pool, scalar(kn), kn->data.scalar.length);
    if (!s->name)
        return XF_ENOMEM;
    if (vn->type == YAML_MAPPING_NODE) {
        s->groups = pool_alloc(&d->r->pool, sizeof *s->groups);
        if (!s->groups)
            return XF_ENOMEM;
        s->n_groups = 1;
        return compile_group(d, vn, s->groups);
    }
    if (vn->type == YAML_SCALAR_NODE && !is_null(vn)) {
        s->groups = pool_alloc(&d->r->pool, sizeof *s->groups);
        if (!s->groups)
            return XF_ENOMEM;
        s->n_groups = 1;
        return compile_keywords(d, vn, s->groups);
    }
    if (vn->type != YAML_SEQUENCE_NODE ||
        vn->data.sequence.items.top == vn->data.sequence.items.start)
        return wrong_type(d, vn, scalar(kn), "a map, a list of maps or a list of keywords");
    if (node(d, vn->data.sequence.items.start[0])->type == YAML_SCALAR_NODE) {
        s->groups = pool_alloc(&d->r->pool, sizeof *s->groups);
        if (!s->groups)
            return XF_ENOMEM;
        s->n_groups = 1;
        return compile_keywords(d, vn, s->groups);
    }
    s->n_groups = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
    s->groups = pool_alloc(&d->r->pool, s->n_groups * sizeof *s->groups);
    if (!s->groups)
        return XF_ENOMEM;
    for (size_t i = 0; i < s->n_groups; i++) {
        yaml_node_t *it = node(d, vn->data.sequence.items.start[i]);

        if (it->type != YAML_MAPPING_NODE)
            return wrong_type(d, it, scalar(kn), "a list of maps (not mixed with keywords)");
        rc = compile_group(d, it, &s->groups[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int load_detection(struct doc *d, const yaml_node_t *det)
{
    struct rule *r = d->r;
    size_t npairs = (size_t)(det->data.mapping.pairs.top - det->data.mapping.pairs.start);
    yaml_node_t *cond = NULL;
    int rc;

    r->sels = pool_alloc(&r->pool, (npairs ? npairs : 1) * sizeof *r->sels);
    if (!r->sels)
        return XF_ENOMEM;
    for (size_t i = 0; i < npairs; i++) {
        yaml_node_pair_t *p = &det->data.mapping.pairs.start[i];
        yaml_node_t *k = node(d, p->key);

        if (k->type != YAML_SCALAR_NODE)
            return wrong_type(d, k, "a selection name", "a string");
        if (strcmp(scalar(k), "condition") == 0) {
            if (cond) {
                load_error(d->lc, line_of(k), "duplicate key 'condition'");
                return XF_ERULE;
            }
            cond = node(d, p->value);
            continue;
        }
        if (strcmp(scalar(k), "timeframe") == 0)
            continue;
        for (size_t j = 0; j < r->n_sels; j++) {
            if (strcmp(r->sels[j].name, scalar(k)) == 0) {
                load_error(d->lc, line_of(k), "duplicate key '%.64s'", scalar(k));
                return XF_ERULE;
            }
        }
        rc = compile_selection(d, k, node(d, p->value), &r->sels[r->n_sels]);
        if (rc)
            return rc;
        r->n_sels++;
    }
    if (!cond) {
        load_error(d->lc, line_of(det), "missing 'condition' in detection");
        return XF_ERULE;
    }
    if (cond->type == YAML_SCALAR_NODE)
        return cond_compile(d->lc, line_of(cond), r, scalar(cond));
    if (cond->type != YAML_SEQUENCE_NODE ||
        cond->data.sequence.items.top == cond->data.sequence.items.start)
        return wrong_type(d, cond, "condition", "a string or a list of strings");
    for (yaml_node_item_t *it = cond->data.sequence.items.start; it < cond->data.sequence.items.top;
         it++) {
        yaml_node_t *c = node(d, *it);

        if (c->type != YAML_SCALAR_NODE)
            return wrong_type(d, c, "condition", "a string or a list of strings");
        rc = cond_compile(d->lc, line_of(c), r, scalar(c));
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- documents ----------------------------------------------------------------------------- */

static int load_rule(struct xf_ruleset *rs, struct doc *d, const yaml_node_t *root)
{
    struct rule *r = d->r;
    int dup = 0;
    yaml_node_t *det;
    int rc;

    if ((rc = get_string(d, root, "title", &r->info.title, 1)) != 0 ||
        (rc = get_string(d, root, "id", &r->info.id, 0)) != 0 || (rc = load_level(d, root)) ||
        (rc = load_tags(d, root)) != 0 || (rc = load_logsource(d, root)) != 0)
        return rc;
    if (!r->info.id)
        r->info.id = "";
    if (*r->info.id) {
        for (size_t i = 0; i < rs->n; i++) {
            if (strcmp(rs->rules[i]->info.id, r->info.id) == 0) {
                load_error(d->lc, line_of(map_get(d, root, "id", &dup)),
                           "duplicate rule id '%.64s' (also '%.64s')", r->info.id,
                           rs->rules[i]->info.title);
                return XF_ERULE;
            }
        }
    }
    det = map_get(d, root, "detection", &dup);
    if (dup)
        return XF_ERULE;
    if (det->type != YAML_MAPPING_NODE)
        return wrong_type(d, det, "detection", "a map");
    return load_detection(d, det);
}

static int load_document(struct xf_ruleset *rs, struct load_ctx *lc, yaml_document_t *y,
                         int *n_docs)
{
    struct doc d = {.y = y, .lc = lc};
    yaml_node_t *root = yaml_document_get_root_node(y);
    int dup = 0;
    int rc;

    (*n_docs)++;
    if (root->type != YAML_MAPPING_NODE)
        return wrong_type(&d, root, "a rule document", "a map");
    if (!map_get(&d, root, "detection", &dup)) {
        if (dup)
            return XF_ERULE;
        /* Correlation rules and Sigma 1 action documents: not ours yet, not an error. */
        if (map_get(&d, root, "correlation", &dup) || map_get(&d, root, "action", &dup))
            return dup ? XF_ERULE : 0;
        load_error(lc, line_of(root), "missing 'detection'");
        return XF_ERULE;
    }
    d.r = xf_calloc(1, sizeof *d.r);
    if (!d.r)
        return XF_ENOMEM;
    pool_init(&d.r->pool);
    rc = load_rule(rs, &d, root);
    if (rc == 0)
        rc = ruleset_add(rs, d.r);
    if (rc)
        rule_destroy(d.r);
    return rc;
}

int rules_load_yaml(struct xf_ruleset *rs, struct load_ctx *lc, const char *yaml, size_t len)
{
    yaml_parser_t parser;
    int n_docs = 0;
    int rc = 0;

    if (!yaml_parser_initialize(&parser))
        return XF_ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    for (;;) {
        yaml_document_t y;

        if (!yaml_parser_load(&parser, &y)) {
            if (parser.error == YAML_MEMORY_ERROR) {
                rc = XF_ENOMEM;
            } else {
                load_error(lc, (int)parser.problem_mark.line + 1, "YAML: %s%s%s",
                           parser.problem ? parser.problem : "syntax error",
                           parser.context ? " " : "", parser.context ? parser.context : "");
            }
            break;
        }
        if (!yaml_document_get_root_node(&y)) {
            yaml_document_delete(&y);
            break;
        }
        rc = load_document(rs, lc, &y, &n_docs);
        yaml_document_delete(&y);
        /* A rule error is recorded; keep checking the file's other documents. */
        if (rc == XF_ERULE)
            rc = 0;
        if (rc)
            break;
    }
    if (rc == 0 && n_docs == 0 && lc->n_errors == 0)
        load_error(lc, 0, "no rule in file");
    yaml_parser_delete(&parser);
    return rc;
}
