/*
 * render.c - human (text timeline) and Graphviz views of an incident, from its JSON.
 *
 * The one thing to know: it works from the incident JSON alone (jansson), so stored
 * incidents render exactly like live ones. Nodes in the JSON are already in time order, so
 * the timeline is the node list; under each node go its incoming edges, which is the "why was
 * this step linked" an analyst reads.
 */
#include <jansson.h>
#include <string.h>

#include "xf/correlate.h"

static const char *str_of(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int join_array(struct xf_buf *out, json_t *arr)
{
    size_t i;
    json_t *v;
    int rc = 0;

    json_array_foreach(arr, i, v)
    {
        if (i)
            rc = xf_buf_appends(out, ", ");
        if (!rc)
            rc = xf_buf_appends(out, json_string_value(v) ? json_string_value(v) : "");
        if (rc)
            break;
    }
    return rc;
}

static json_t *load(const char *json, size_t len)
{
    json_t *root = json_loadb(json, len, 0, NULL);

    if (root && (!json_is_object(root) || !json_is_array(json_object_get(root, "nodes")) ||
                 !json_is_array(json_object_get(root, "edges")))) {
        json_decref(root);
        root = NULL;
    }
    return root;
}

static json_t *node_by_id(json_t *nodes, const char *id)
{
    size_t i;
    json_t *n;

    json_array_foreach(nodes, i, n)
    {
        if (strcmp(str_of(n, "id"), id) == 0)
            return n;
    }
    return NULL;
}

int xf_incident_render_text(const char *json, size_t len, struct xf_buf *out)
{
    json_t *root = load(json, len);
    json_t *nodes, *edges, *n, *e;
    size_t i, j;
    int rc = 0;

    if (!root)
        return XF_EPARSE;
    nodes = json_object_get(root, "nodes");
    edges = json_object_get(root, "edges");
    rc = xf_buf_appendf(out, "incident %s  %s (score %lld)\n", str_of(root, "id"),
                        str_of(root, "severity"),
                        (long long)json_integer_value(json_object_get(root, "score")));
    if (!rc)
        rc = xf_buf_appendf(out, "  seen:       %s .. %s\n", str_of(root, "first_seen"),
                            str_of(root, "last_seen"));
    static const char *const lists[][2] = {{"hosts", "hosts:     "},
                                           {"users", "users:     "},
                                           {"stages", "stages:    "},
                                           {"techniques", "techniques:"}};
    for (size_t k = 0; k < XF_ARRAY_LEN(lists) && !rc; k++) {
        rc = xf_buf_appendf(out, "  %s ", lists[k][1]);
        if (!rc)
            rc = join_array(out, json_object_get(root, lists[k][0]));
        if (!rc)
            rc = xf_buf_appends(out, "\n");
    }
    json_t *alerts = json_object_get(root, "alerts");
    if (!rc)
        rc = xf_buf_appendf(out, "  alerts:     %zu\n", json_array_size(alerts));
    /* One line per rule, in order of first firing: an analyst reads "which behaviours", not
     * 133 lines; the event ids are in the JSON. */
    json_array_foreach(alerts, i, n)
    {
        size_t k, count = 0;
        json_t *m;
        int seen = 0;
        if (rc)
            break;
        json_array_foreach(alerts, k, m)
        {
            if (strcmp(str_of(m, "rule_id"), str_of(n, "rule_id")) != 0)
                continue;
            if (k < i) {
                seen = 1;
                break;
            }
            count++;
        }
        if (seen)
            continue;
        rc = xf_buf_appendf(out, "    [%s] %s x%zu (first: event %s)\n", str_of(n, "level"),
                            str_of(n, "title"), count, str_of(n, "event_id"));
    }
    if (!rc)
        rc = xf_buf_appends(out, "timeline:\n");
    json_array_foreach(nodes, i, n)
    {
        if (rc)
            break;
        const char *t = str_of(n, "time");
        /* "2026-11-21T09:00:03.120Z" -> "09:00:03" */
        char hms[9] = "--:--:--";
        if (strlen(t) >= 19) {
            memcpy(hms, t + 11, 8);
            hms[8] = '\0';
        }
        rc = xf_buf_appendf(out, "%s %-24s %-8s %s\n", hms, str_of(n, "host"), str_of(n, "kind"),
                            str_of(n, "label"));
        const char *id = str_of(n, "id");
        json_array_foreach(edges, j, e)
        {
            if (rc)
                break;
            if (strcmp(str_of(e, "to"), id) != 0)
                continue;
            json_t *from = node_by_id(nodes, str_of(e, "from"));
            const char *fh = from ? str_of(from, "host") : "";
            /* name the host when the step crossed to another one (or came from a shared
             * entity such as a mail), so two powershell.exe on two hosts are told apart */
            int other = from && *fh && strcmp(fh, str_of(n, "host")) != 0;
            rc = xf_buf_appendf(out, "           <- %s from %s%s%s (%s, %.2f)\n",
                                str_of(e, "relation"), from ? str_of(from, "label") : "?",
                                other ? " on " : "", other ? fh : "", str_of(e, "key"),
                                json_number_value(json_object_get(e, "confidence")));
        }
    }
    json_decref(root);
    return rc;
}

/* Writes s as the inside of a dot double-quoted string. */
static int dot_str(struct xf_buf *out, const char *s)
{
    int rc = 0;

    for (; *s && !rc; s++) {
        if (*s == '"' || *s == '\\')
            rc = xf_buf_append(out, "\\", 1);
        if (!rc)
            rc = xf_buf_append(out, *s == '\n' ? " " : s, 1);
    }
    return rc;
}

int xf_incident_render_dot(const char *json, size_t len, struct xf_buf *out)
{
    json_t *root = load(json, len);
    json_t *n;
    size_t i;
    int rc;

    if (!root)
        return XF_EPARSE;
    rc = xf_buf_appends(out, "digraph \"");
    if (!rc)
        rc = dot_str(out, str_of(root, "id"));
    if (!rc)
        rc = xf_buf_appends(out, "\" {\n  rankdir=LR;\n  node [shape=box];\n");
    json_array_foreach(json_object_get(root, "nodes"), i, n)
    {
        if (rc)
            break;
        rc = xf_buf_appends(out, "  \"");
        if (!rc)
            rc = dot_str(out, str_of(n, "id"));
        if (!rc)
            rc = xf_buf_appends(out, "\" [label=\"");
        if (!rc)
            rc = dot_str(out, str_of(n, "kind"));
        if (!rc)
            rc = xf_buf_appends(out, ": ");
        if (!rc)
            rc = dot_str(out, str_of(n, "label"));
        if (!rc && *str_of(n, "host")) {
            rc = xf_buf_appends(out, "\\n");
            if (!rc)
                rc = dot_str(out, str_of(n, "host"));
        }
        if (!rc)
            rc = xf_buf_appends(out, "\"];\n");
    }
    json_array_foreach(json_object_get(root, "edges"), i, n)
    {
        if (rc)
            break;
        rc = xf_buf_appends(out, "  \"");
        if (!rc)
            rc = dot_str(out, str_of(n, "from"));
        if (!rc)
            rc = xf_buf_appends(out, "\" -> \"");
        if (!rc)
            rc = dot_str(out, str_of(n, "to"));
        if (!rc)
            rc = xf_buf_appends(out, "\" [label=\"");
        if (!rc)
            rc = dot_str(out, str_of(n, "relation"));
        if (!rc)
            rc = xf_buf_appendf(out, " (%.2f)\"];\n",
                                json_number_value(json_object_get(n, "confidence")));
    }
    if (!rc)
        rc = xf_buf_appends(out, "}\n");
    json_decref(root);
    return rc;
}
