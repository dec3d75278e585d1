/*
 * spec.c - loads the join specs (rules/links.yaml) into the tables of corr_int.h.
 *
 * The one thing to know: the YAML is data, the vocabulary is code. A value is written as a
 * field name ("TargetFilename") or as one of the derived-value functions of fn_table below
 * applied to a field ("basename(Image)", "host()"). Adding a join is a YAML edit; adding a
 * new kind of derived value is one row in fn_table plus its case in derive.c. Every error
 * names file:line and the load fails as a whole (XF_ECONFIG): half a join table is worse than
 * none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "corr_int.h"

const struct kind_info corr_kinds[K__COUNT] = {
    [K_PROC] = {"proc", "process", 1, 0}, [K_FILE] = {"file", "file", 1, 0},
    [K_HASH] = {"hash", "file", 0, 0},    [K_IP] = {"ip", "network", 0, 1},
    [K_DNS] = {"dns", "dns", 0, 1},       [K_URL] = {"url", "url", 0, 1},
    [K_MAIL] = {"mail", "email", 0, 0},   [K_LOGON] = {"logon", "user", 1, 0},
    [K_SVC] = {"svc", "process", 1, 0},   [K_HOST] = {"host", "host", 0, 1},
    [K_ALERT] = {"alert", "alert", 0, 0},
};

static const struct {
    const char *name;
    enum fn_id fn;
    int takes_field; /* 1 required, 0 none */
} fn_table[] = {
    {"lower", FN_LOWER, 1},
    {"basename", FN_BASENAME, 1},
    {"cmdline_paths", FN_CMDLINE_PATHS, 1},
    {"user_short", FN_USER_SHORT, 1},
    {"email_local", FN_EMAIL_LOCAL, 1},
    {"url_host", FN_URL_HOST, 1},
    {"host", FN_HOST, 0},
    {"host_of_ip", FN_HOST_OF_IP, 1},
    {"ips_of_host", FN_IPS_OF_HOST, 0},
    {"sha256", FN_SHA256, 0},
    {"cmd_norm", FN_CMD_NORM, 1},
    {"cmd_prog", FN_CMD_PROG, 1},
    {"proc_user", FN_PROC_USER, 0},
    {"event_id", FN_EVENT_ID, 0},
    {"alert_level", FN_ALERT_LEVEL, 0},
};

struct ld {
    const char *file;
    yaml_document_t doc;
    int err;
};

static void ld_error(struct ld *l, yaml_node_t *n, const char *fmt, const char *arg)
{
    char msg[256];

    snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
    XF_ERROR("%s:%d: %s", l->file, n ? (int)n->start_mark.line + 1 : 0, msg);
    l->err = XF_ECONFIG;
}

static yaml_node_t *ld_node(struct ld *l, int id)
{
    return yaml_document_get_node(&l->doc, id);
}

static const char *ld_scalar(struct ld *l, yaml_node_t *n, const char *what)
{
    if (!n || n->type != YAML_SCALAR_NODE) {
        ld_error(l, n, "%s must be a scalar", what);
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

static int parse_expr(struct ld *l, yaml_node_t *n, const char *s, struct expr *e)
{
    const char *open = strchr(s, '(');

    e->fn = FN_FIELD;
    e->field = -1;
    if (!open) {
        e->field = xf_field_lookup(s);
        if (e->field < 0) {
            ld_error(l, n, "unknown field '%s'", s);
            return XF_ECONFIG;
        }
        return 0;
    }
    size_t fl = (size_t)(open - s);
    const char *close = strchr(open, ')');
    if (!close || close[1] != '\0') {
        ld_error(l, n, "malformed value '%s' (want field or fn(field))", s);
        return XF_ECONFIG;
    }
    for (size_t i = 0; i < XF_ARRAY_LEN(fn_table); i++) {
        if (strlen(fn_table[i].name) != fl || strncmp(fn_table[i].name, s, fl) != 0)
            continue;
        e->fn = fn_table[i].fn;
        size_t al = (size_t)(close - open - 1);
        if (!fn_table[i].takes_field) {
            if (al) {
                ld_error(l, n, "function in '%s' takes no argument", s);
                return XF_ECONFIG;
            }
            return 0;
        }
        char arg[64];
        if (al == 0 || al >= sizeof(arg)) {
            ld_error(l, n, "function in '%s' needs a field argument", s);
            return XF_ECONFIG;
        }
        memcpy(arg, open + 1, al);
        arg[al] = '\0';
        e->field = xf_field_lookup(arg);
        if (e->field < 0) {
            ld_error(l, n, "unknown field '%s'", arg);
            return XF_ECONFIG;
        }
        return 0;
    }
    ld_error(l, n, "unknown function in '%s'", s);
    return XF_ECONFIG;
}

static int parse_expr_node(struct ld *l, yaml_node_t *n, struct expr *e)
{
    const char *s = ld_scalar(l, n, "a value");
    return s ? parse_expr(l, n, s, e) : XF_ECONFIG;
}

static int add_cond_val(struct cond *c, const char *s)
{
    char **nv = xf_realloc(c->vals, (c->n + 1) * sizeof(*nv));

    if (!nv)
        return XF_ENOMEM;
    c->vals = nv;
    c->vals[c->n] = xf_strdup(s);
    if (!c->vals[c->n])
        return XF_ENOMEM;
    xf_str_lower(c->vals[c->n]);
    c->n++;
    return 0;
}

static int parse_conds(struct ld *l, yaml_node_t *n, struct match *m, int negate)
{
    if (n->type != YAML_MAPPING_NODE) {
        ld_error(l, n, "where/unless must be a mapping", NULL);
        return XF_ECONFIG;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ld_node(l, p->key), *v = ld_node(l, p->value);
        struct cond *nc = xf_realloc(m->conds, (m->n_conds + 1) * sizeof(*nc));
        if (!nc)
            return XF_ENOMEM;
        m->conds = nc;
        struct cond *c = &m->conds[m->n_conds++];
        memset(c, 0, sizeof(*c));
        c->negate = negate;
        if (parse_expr_node(l, k, &c->e))
            return XF_ECONFIG;
        if (v->type == YAML_SCALAR_NODE) {
            if (add_cond_val(c, (const char *)v->data.scalar.value))
                return XF_ENOMEM;
        } else if (v->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++) {
                const char *s = ld_scalar(l, ld_node(l, *it), "a condition value");
                if (!s)
                    return XF_ECONFIG;
                if (add_cond_val(c, s))
                    return XF_ENOMEM;
            }
        } else {
            ld_error(l, v, "condition value must be a scalar or a list", NULL);
            return XF_ECONFIG;
        }
    }
    return 0;
}

static int parse_kind(struct ld *l, yaml_node_t *n, enum kind_id *out)
{
    const char *s = ld_scalar(l, n, "kind");

    if (!s)
        return XF_ECONFIG;
    for (int k = 0; k < K__COUNT; k++) {
        if (strcmp(corr_kinds[k].prefix, s) == 0) {
            *out = (enum kind_id)k;
            return 0;
        }
    }
    ld_error(l, n, "unknown node kind '%s'", s);
    return XF_ECONFIG;
}

static int parse_endpoint(struct ld *l, yaml_node_t *n, struct endpoint *ep)
{
    int have_kind = 0, have_value = 0;

    memset(ep, 0, sizeof(*ep));
    ep->label.field = -1;
    ep->user.field = -1;
    if (n->type != YAML_MAPPING_NODE) {
        ld_error(l, n, "a node must be a mapping {kind, value, ...}", NULL);
        return XF_ECONFIG;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = ld_node(l, p->key), *v = ld_node(l, p->value);
        const char *k = ld_scalar(l, kn, "key");
        if (!k)
            return XF_ECONFIG;
        if (strcmp(k, "kind") == 0) {
            if (parse_kind(l, v, &ep->kind))
                return XF_ECONFIG;
            have_kind = 1;
        } else if (strcmp(k, "value") == 0) {
            if (parse_expr_node(l, v, &ep->value))
                return XF_ECONFIG;
            have_value = 1;
        } else if (strcmp(k, "label") == 0) {
            if (parse_expr_node(l, v, &ep->label))
                return XF_ECONFIG;
            ep->has_label = 1;
        } else if (strcmp(k, "user") == 0) {
            if (parse_expr_node(l, v, &ep->user))
                return XF_ECONFIG;
            ep->has_user = 1;
        } else if (strcmp(k, "prio") == 0) {
            const char *s = ld_scalar(l, v, "prio");
            if (!s)
                return XF_ECONFIG;
            ep->prio = (int)strtol(s, NULL, 10);
        } else {
            ld_error(l, kn, "unknown key '%s' in a node", k);
            return XF_ECONFIG;
        }
    }
    if (!have_kind || !have_value) {
        ld_error(l, n, "a node needs kind and value", NULL);
        return XF_ECONFIG;
    }
    return 0;
}

static int parse_keys(struct ld *l, yaml_node_t *n, struct side_spec *s, int alts)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        ld_error(l, n, "key/keys must be a list", NULL);
        return XF_ECONFIG;
    }
    if (!alts) {
        s->n_alts = 1;
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            if (s->n_parts[0] >= KEYPART_MAX) {
                ld_error(l, n, "too many key parts", NULL);
                return XF_ECONFIG;
            }
            if (parse_expr_node(l, ld_node(l, *it), &s->keys[0][s->n_parts[0]++]))
                return XF_ECONFIG;
        }
        return 0;
    }
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *alt = ld_node(l, *it);
        if (s->n_alts >= KEYALT_MAX || alt->type != YAML_SEQUENCE_NODE) {
            ld_error(l, alt, "keys: a list of (at most 4) key lists", NULL);
            return XF_ECONFIG;
        }
        size_t a = s->n_alts++;
        for (yaml_node_item_t *j = alt->data.sequence.items.start; j < alt->data.sequence.items.top;
             j++) {
            if (s->n_parts[a] >= KEYPART_MAX) {
                ld_error(l, alt, "too many key parts", NULL);
                return XF_ECONFIG;
            }
            if (parse_expr_node(l, ld_node(l, *j), &s->keys[a][s->n_parts[a]++]))
                return XF_ECONFIG;
        }
    }
    return 0;
}

/* Keys shared by every row kind: name, category, where, unless. Returns 1 when handled. */
static int parse_common(struct ld *l, const char *k, yaml_node_t *v, char **name, struct match *m)
{
    if (strcmp(k, "name") == 0 && name) {
        const char *s = ld_scalar(l, v, "name");
        if (s) {
            xf_free(*name);
            if (!(*name = xf_strdup(s)))
                l->err = XF_ENOMEM;
        }
        return 1;
    }
    if (strcmp(k, "category") == 0) {
        const char *s = ld_scalar(l, v, "category");
        if (s) {
            m->cat = xf_category_from_name(s);
            if (m->cat == XF_CAT_UNKNOWN)
                ld_error(l, v, "unknown category '%s'", s);
        }
        return 1;
    }
    if (strcmp(k, "where") == 0 || strcmp(k, "unless") == 0) {
        int rc = parse_conds(l, v, m, k[0] == 'u');
        if (rc && !l->err)
            l->err = rc;
        return 1;
    }
    return 0;
}

static int parse_side(struct ld *l, yaml_node_t *n, struct side_spec *s)
{
    int have_node = 0;

    if (n->type != YAML_MAPPING_NODE) {
        ld_error(l, n, "left/right must be a mapping", NULL);
        return XF_ECONFIG;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = ld_node(l, p->key), *v = ld_node(l, p->value);
        const char *k = ld_scalar(l, kn, "key");
        if (!k)
            return XF_ECONFIG;
        if (parse_common(l, k, v, NULL, &s->m)) {
            if (l->err)
                return l->err;
        } else if (strcmp(k, "key") == 0 || strcmp(k, "keys") == 0) {
            if (parse_keys(l, v, s, k[3] == 's'))
                return XF_ECONFIG;
        } else if (strcmp(k, "node") == 0) {
            if (parse_endpoint(l, v, &s->node))
                return XF_ECONFIG;
            have_node = 1;
        } else {
            ld_error(l, kn, "unknown key '%s' in a join side", k);
            return XF_ECONFIG;
        }
    }
    if (!have_node || s->n_alts == 0 || s->m.cat == XF_CAT_UNKNOWN) {
        ld_error(l, n, "a join side needs category, key(s) and node", NULL);
        return XF_ECONFIG;
    }
    return 0;
}

static int parse_edge_attr(struct ld *l, const char *k, yaml_node_t *v, char **relation, char **key,
                           char **technique, double *conf)
{
    char **dst = NULL;
    const char *s;

    if (strcmp(k, "relation") == 0)
        dst = relation;
    else if (strcmp(k, "key") == 0)
        dst = key;
    else if (strcmp(k, "technique") == 0)
        dst = technique;
    else if (strcmp(k, "confidence") != 0)
        return 0;
    s = ld_scalar(l, v, k);
    if (!s)
        return 1;
    if (!dst) {
        char *end;
        *conf = strtod(s, &end);
        if (*end || *conf < 0 || *conf > 1)
            ld_error(l, v, "confidence must be a number in 0..1, not '%s'", s);
        return 1;
    }
    xf_free(*dst);
    *dst = xf_strdup(s);
    if (!*dst)
        l->err = XF_ENOMEM;
    return 1;
}

static int parse_node_row(struct ld *l, yaml_node_t *n, struct node_spec *r)
{
    int have_node = 0;

    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = ld_node(l, p->key), *v = ld_node(l, p->value);
        const char *k = ld_scalar(l, kn, "key");
        if (!k)
            return XF_ECONFIG;
        if (parse_common(l, k, v, &r->name, &r->m)) {
        } else if (strcmp(k, "node") == 0) {
            if (parse_endpoint(l, v, &r->node) == 0)
                have_node = 1;
        } else if (strcmp(k, "detect") == 0 || strcmp(k, "activity") == 0) {
            const char *s = ld_scalar(l, v, k);
            int on = s && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0);
            if (k[0] == 'd')
                r->detect = on;
            else
                r->activity = on;
        } else {
            ld_error(l, kn, "unknown key '%s' in a node row", k);
        }
        if (l->err)
            return l->err;
    }
    if (!r->name || !have_node || r->m.cat == XF_CAT_UNKNOWN) {
        ld_error(l, n, "a node row needs name, category and node", NULL);
        return XF_ECONFIG;
    }
    return 0;
}

static int parse_direct_row(struct ld *l, yaml_node_t *n, struct direct_spec *r)
{
    int have = 0;

    r->confidence = 1.0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = ld_node(l, p->key), *v = ld_node(l, p->value);
        const char *k = ld_scalar(l, kn, "key");
        if (!k)
            return XF_ECONFIG;
        if (parse_common(l, k, v, &r->name, &r->m) ||
            parse_edge_attr(l, k, v, &r->relation, &r->key, &r->technique, &r->confidence)) {
        } else if (strcmp(k, "from") == 0) {
            if (parse_endpoint(l, v, &r->from) == 0)
                have |= 1;
        } else if (strcmp(k, "to") == 0) {
            if (parse_endpoint(l, v, &r->to) == 0)
                have |= 2;
        } else {
            ld_error(l, kn, "unknown key '%s' in a direct row", k);
        }
        if (l->err)
            return l->err;
    }
    if (!r->name || have != 3 || !r->relation || !r->key || r->m.cat == XF_CAT_UNKNOWN) {
        ld_error(l, n, "a direct row needs name, category, from, to, relation and key", NULL);
        return XF_ECONFIG;
    }
    return 0;
}

static int parse_window_row(struct ld *l, yaml_node_t *n, struct window_spec *r)
{
    int have = 0;

    r->confidence = 0.5;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = ld_node(l, p->key), *v = ld_node(l, p->value);
        const char *k = ld_scalar(l, kn, "key");
        if (!k)
            return XF_ECONFIG;
        if (strcmp(k, "name") == 0) {
            const char *s = ld_scalar(l, v, "name");
            if (s) {
                xf_free(r->name);
                if (!(r->name = xf_strdup(s)))
                    return XF_ENOMEM;
            }
        } else if (parse_edge_attr(l, k, v, &r->relation, &r->key, &r->technique, &r->confidence)) {
        } else if (strcmp(k, "window") == 0) {
            const char *s = ld_scalar(l, v, "window");
            if (s && (xf_duration_parse(s, &r->window_ms) || r->window_ms <= 0))
                ld_error(l, v, "bad window '%s'", s);
            have |= 4;
        } else if (strcmp(k, "order") == 0) {
            const char *s = ld_scalar(l, v, "order");
            if (s && strcmp(s, "left_first") == 0)
                r->left_first = 1;
            else if (s && strcmp(s, "any") != 0)
                ld_error(l, v, "order must be left_first or any, not '%s'", s);
        } else if (strcmp(k, "left") == 0) {
            if (parse_side(l, v, &r->side[0]) == 0)
                have |= 1;
        } else if (strcmp(k, "right") == 0) {
            if (parse_side(l, v, &r->side[1]) == 0)
                have |= 2;
        } else {
            ld_error(l, kn, "unknown key '%s' in a windowed row", k);
        }
        if (l->err)
            return l->err;
    }
    if (!r->name || have != 7 || !r->relation || !r->key) {
        ld_error(l, n, "a windowed row needs name, window, left, right, relation and key", NULL);
        return XF_ECONFIG;
    }
    return 0;
}

static int parse_section(struct ld *l, yaml_node_t *seq, const char *name, struct specs *s)
{
    if (seq->type != YAML_SEQUENCE_NODE) {
        ld_error(l, seq, "'%s' must be a list", name);
        return XF_ECONFIG;
    }
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *row = ld_node(l, *it);
        if (row->type != YAML_MAPPING_NODE) {
            ld_error(l, row, "a %s row must be a mapping", name);
            return XF_ECONFIG;
        }
        int rc;
        if (name[0] == 'n') {
            struct node_spec *a = xf_realloc(s->nodes, (s->n_nodes + 1) * sizeof(*a));
            if (!a)
                return XF_ENOMEM;
            s->nodes = a;
            memset(&a[s->n_nodes], 0, sizeof(*a));
            rc = parse_node_row(l, row, &a[s->n_nodes++]);
        } else if (name[0] == 'd') {
            struct direct_spec *a = xf_realloc(s->direct, (s->n_direct + 1) * sizeof(*a));
            if (!a)
                return XF_ENOMEM;
            s->direct = a;
            memset(&a[s->n_direct], 0, sizeof(*a));
            rc = parse_direct_row(l, row, &a[s->n_direct++]);
        } else {
            struct window_spec *a = xf_realloc(s->windowed, (s->n_windowed + 1) * sizeof(*a));
            if (!a)
                return XF_ENOMEM;
            s->windowed = a;
            memset(&a[s->n_windowed], 0, sizeof(*a));
            rc = parse_window_row(l, row, &a[s->n_windowed++]);
            if (rc == 0 && a[s->n_windowed - 1].window_ms > s->max_window_ms)
                s->max_window_ms = a[s->n_windowed - 1].window_ms;
        }
        if (rc)
            return rc;
    }
    return 0;
}

int corr_specs_load_buffer(const char *name, const char *yaml, size_t len, struct specs *out)
{
    yaml_parser_t parser;
    struct ld l = {.file = name, .err = 0};
    int have_doc = 0, rc = 0;

    memset(out, 0, sizeof(*out));
    if (!yaml_parser_initialize(&parser))
        return XF_ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &l.doc)) {
        XF_ERROR("%s:%d: %s", name, (int)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "YAML error");
        rc = XF_ECONFIG;
        goto out;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&l.doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        ld_error(&l, root, "the join spec file must be a mapping", NULL);
        rc = XF_ECONFIG;
        goto out;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = ld_node(&l, p->key), *v = ld_node(&l, p->value);
        const char *k = ld_scalar(&l, kn, "key");
        if (!k) {
            rc = XF_ECONFIG;
            goto out;
        }
        if (strcmp(k, "version") == 0) {
            const char *s = ld_scalar(&l, v, "version");
            if (!s || strcmp(s, "1") != 0) {
                ld_error(&l, v, "unsupported version '%s'", s);
                rc = XF_ECONFIG;
                goto out;
            }
        } else if (strcmp(k, "nodes") == 0 || strcmp(k, "direct") == 0 ||
                   strcmp(k, "windowed") == 0) {
            rc = parse_section(&l, v, k, out);
            if (rc)
                goto out;
        } else {
            ld_error(&l, kn, "unknown top-level key '%s'", k);
            rc = XF_ECONFIG;
            goto out;
        }
    }
    if (l.err)
        rc = l.err;
    /* the arrays are final now: edges may point into them */
    for (size_t i = 0; i < out->n_direct && !rc; i++) {
        struct direct_spec *d = &out->direct[i];
        d->attr = (struct edge_attr){d->relation,   d->key,
                                     d->name,       d->technique,
                                     d->confidence, xf_hash64(d->relation, strlen(d->relation))};
    }
    for (size_t i = 0; i < out->n_windowed && !rc; i++) {
        struct window_spec *w = &out->windowed[i];
        w->attr = (struct edge_attr){w->relation,   w->key,
                                     w->name,       w->technique,
                                     w->confidence, xf_hash64(w->relation, strlen(w->relation))};
    }
out:
    if (have_doc)
        yaml_document_delete(&l.doc);
    yaml_parser_delete(&parser);
    if (rc)
        corr_specs_close(out);
    return rc;
}

int corr_specs_load_file(const char *path, struct specs *out)
{
    FILE *f = fopen(path, "rb");
    struct xf_buf b;
    char chunk[8192];
    size_t n;
    int rc = 0;

    xf_buf_init(&b);
    if (!f) {
        XF_ERROR("%s: cannot open join specs", path);
        return XF_ECONFIG;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = xf_buf_append(&b, chunk, n);
        if (rc)
            goto out;
    }
    if (ferror(f)) {
        XF_ERROR("%s: read error", path);
        rc = XF_ECONFIG;
        goto out;
    }
    rc = corr_specs_load_buffer(path, b.data ? b.data : "", b.len, out);
out:
    fclose(f);
    xf_buf_close(&b);
    return rc;
}

static void match_close(struct match *m)
{
    for (size_t i = 0; i < m->n_conds; i++) {
        for (size_t j = 0; j < m->conds[i].n; j++)
            xf_free(m->conds[i].vals[j]);
        xf_free(m->conds[i].vals);
    }
    xf_free(m->conds);
}

void corr_specs_close(struct specs *s)
{
    for (size_t i = 0; i < s->n_nodes; i++) {
        xf_free(s->nodes[i].name);
        match_close(&s->nodes[i].m);
    }
    for (size_t i = 0; i < s->n_direct; i++) {
        xf_free(s->direct[i].name);
        xf_free(s->direct[i].relation);
        xf_free(s->direct[i].key);
        xf_free(s->direct[i].technique);
        match_close(&s->direct[i].m);
    }
    for (size_t i = 0; i < s->n_windowed; i++) {
        xf_free(s->windowed[i].name);
        xf_free(s->windowed[i].relation);
        xf_free(s->windowed[i].key);
        xf_free(s->windowed[i].technique);
        match_close(&s->windowed[i].side[0].m);
        match_close(&s->windowed[i].side[1].m);
    }
    xf_free(s->nodes);
    xf_free(s->direct);
    xf_free(s->windowed);
    memset(s, 0, sizeof(*s));
}
