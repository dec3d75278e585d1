/*
 * derive.c - the derived-value functions the join specs name (basename, cmdline_paths, ...).
 *
 * The one thing to know: these run for every event, so they write into a reused scratch
 * buffer (struct vals) and never allocate once it has grown. They return raw case; whoever
 * builds a key lowercases it. Placeholders ("" and Windows' "-") are never values.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "corr_int.h"

void vals_init(struct vals *v)
{
    xf_buf_init(&v->b);
    v->n = 0;
}

void vals_close(struct vals *v)
{
    xf_buf_close(&v->b);
}

void vals_reset(struct vals *v)
{
    xf_buf_reset(&v->b);
    v->n = 0;
}

const char *vals_get(const struct vals *v, size_t i)
{
    return v->b.data + v->off[i];
}

static int is_placeholder(const char *s, size_t len)
{
    return len == 0 || (len == 1 && s[0] == '-');
}

int vals_push(struct vals *v, const char *s, size_t len)
{
    int rc;

    if (is_placeholder(s, len) || v->n >= VALS_MAX)
        return 0;
    /* Offsets, not pointers: the buffer may move while it grows. */
    v->off[v->n] = (uint32_t)v->b.len;
    rc = xf_buf_append(&v->b, s, len);
    if (!rc)
        rc = xf_buf_append(&v->b, "", 1);
    if (!rc)
        v->n++;
    return rc;
}

int corr_is_ip(const char *s)
{
    int dots = 0, colons = 0;

    if (!*s)
        return 0;
    for (const char *p = s; *p; p++) {
        if (*p == '.')
            dots++;
        else if (*p == ':')
            colons++;
        else if (!isxdigit((unsigned char)*p))
            return 0;
    }
    if (colons >= 2)
        return 1;
    if (dots != 3)
        return 0;
    for (const char *p = s; *p; p++)
        if (*p != '.' && !isdigit((unsigned char)*p))
            return 0;
    return 1;
}

void corr_host_norm(const char *host, char *out, size_t outsz)
{
    size_t i = 0;
    int ip = corr_is_ip(host);

    for (; host[i] && i + 1 < outsz; i++) {
        if (!ip && host[i] == '.')
            break;
        out[i] = (char)tolower((unsigned char)host[i]);
    }
    out[i] = '\0';
}

/* Windows paths in a command line: tokens (quoted or not) that hold ":\" or start with "\\",
 * quotes stripped, cut at a ',' (rundll32 "x.dll,Entry"). The process image is skipped: it
 * already has its own "executed" link. */
static int cmdline_paths(const struct xf_event *ev, const char *s, struct vals *out)
{
    const char *image = xf_event_get(ev, XF_F_IMAGE);
    int rc = 0;

    while (*s && rc == 0) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        const char *b, *e;
        if (*s == '"' || *s == '\'') {
            char q = *s++;
            b = s;
            while (*s && *s != q)
                s++;
            e = s;
            if (*s)
                s++;
        } else {
            b = s;
            while (*s && *s != ' ' && *s != '\t')
                s++;
            e = s;
        }
        const char *start = NULL;
        for (const char *p = b; p + 1 < e; p++) {
            if (p[0] == ':' && p[1] == '\\' && p > b && isalpha((unsigned char)p[-1])) {
                start = p - 1;
                break;
            }
        }
        if (!start && e - b > 2 && b[0] == '\\' && b[1] == '\\')
            start = b;
        if (!start)
            continue;
        const char *end = start;
        while (end < e && *end != ',' && *end != '"')
            end++;
        size_t len = (size_t)(end - start);
        if (image && strlen(image) == len && xf_strncaseeq(image, start, len))
            continue;
        rc = vals_push(out, start, len);
    }
    return rc;
}

static int url_host(const char *s, struct vals *out)
{
    const char *p = strstr(s, "://");
    const char *b = p ? p + 3 : s;
    const char *e = b;

    while (*e && *e != '/' && *e != ':' && *e != '?' && *e != '#')
        e++;
    const char *at = memchr(b, '@', (size_t)(e - b));
    if (at)
        b = at + 1;
    return vals_push(out, b, (size_t)(e - b));
}

/* The program of a command line: basename of the first token without ".exe", so
 * "%COMSPEC% /c x", "C:\Windows\system32\cmd.exe /c x" and "cmd /c x" all give "cmd". With
 * rest != 0, the rest of the line follows ("cmd /c x"): what a service ImagePath and the
 * command line of the process it started have in common. */
static int cmd_prog(const char *raw, int rest, struct vals *out)
{
    static const struct {
        const char *var, *val;
    } env[] = {{"%comspec%", "c:\\windows\\system32\\cmd.exe"},
               {"%systemroot%", "c:\\windows"},
               {"%windir%", "c:\\windows"}};
    const char *b, *e, *r, *s;
    char buf[4096], ex[4096];
    size_t n = 0, m = 0;

    /* Lowercase and expand the variables services use, everywhere in the line: the process
     * services.exe starts shows them expanded, nested commands included. */
    for (const char *p = raw; *p && m + 1 < sizeof(ex);) {
        size_t k = 0;
        for (; k < XF_ARRAY_LEN(env); k++) {
            size_t vl = strlen(env[k].var);
            if (xf_strncaseeq(p, env[k].var, vl)) {
                size_t xl = strlen(env[k].val);
                if (m + xl + 1 >= sizeof(ex))
                    return 0;
                memcpy(ex + m, env[k].val, xl);
                m += xl;
                p += vl;
                break;
            }
        }
        if (k == XF_ARRAY_LEN(env))
            ex[m++] = (char)tolower((unsigned char)*p++);
    }
    ex[m] = '\0';
    s = ex;

    while (*s == ' ')
        s++;
    if (*s == '"') {
        b = ++s;
        while (*s && *s != '"')
            s++;
        e = s;
        r = *s ? s + 1 : s;
    } else {
        b = s;
        while (*s && *s != ' ')
            s++;
        e = s;
        r = s;
    }
    for (const char *p = b; p < e; p++)
        if (*p == '\\' || *p == '/')
            b = p + 1;
    size_t len = (size_t)(e - b);
    if (len > 4 && xf_strncaseeq(e - 4, ".exe", 4))
        len -= 4;
    if (len >= sizeof(buf))
        return 0;
    memcpy(buf, b, len);
    n = len;
    if (rest) {
        while (*r == ' ')
            r++;
        size_t rl = strlen(r);
        while (rl && (r[rl - 1] == ' ' || r[rl - 1] == '\r' || r[rl - 1] == '\n'))
            rl--;
        if (n + 1 + rl >= sizeof(buf))
            rl = sizeof(buf) - n - 2;
        buf[n++] = ' ';
        memcpy(buf + n, r, rl);
        n += rl;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)tolower((unsigned char)buf[i]);
    return vals_push(out, buf, n);
}

static int sha256_of(const struct xf_event *ev, struct vals *out)
{
    const char *s = xf_event_get(ev, XF_F_SHA256);

    if (s && *s)
        return vals_push(out, s, strlen(s));
    s = xf_event_get(ev, XF_F_HASHES);
    if (!s)
        return 0;
    for (const char *p = s; *p; p++) {
        if ((p == s || p[-1] == ',') && xf_strncaseeq(p, "SHA256=", 7)) {
            const char *b = p + 7, *e = b;
            while (*e && *e != ',')
                e++;
            return vals_push(out, b, (size_t)(e - b));
        }
    }
    return 0;
}

static int alert_level(const struct xf_event *ev, struct vals *out)
{
    static const char *const names[] = {"informational", "low", "medium", "high", "critical"};
    const char *s = xf_event_get(ev, XF_F_ALERT_SEVERITY);
    const char *lvl = "medium";

    if (s) {
        for (size_t i = 0; i < XF_ARRAY_LEN(names); i++)
            if (xf_strcaseeq(s, names[i]))
                lvl = names[i];
        if (xf_strcaseeq(s, "info"))
            lvl = "informational";
        else if (isdigit((unsigned char)s[0])) {
            /* Numeric severities: 0..100 scales (CrowdStrike, ECS) in bands. */
            long n = strtol(s, NULL, 10);
            lvl = n >= 90 ? "critical" : n >= 70 ? "high" : n >= 40 ? "medium" : "low";
            if (n <= 5)
                lvl = names[n < 0 ? 0 : n > 4 ? 4 : n];
        }
    }
    return vals_push(out, lvl, strlen(lvl));
}

static int eval_one(struct xf_correlator *c, const struct expr *e, const struct xf_event *ev,
                    const char *s, struct vals *out)
{
    const char *p;

    switch (e->fn) {
    case FN_FIELD:
    case FN_LOWER:
        return vals_push(out, s, strlen(s));
    case FN_BASENAME:
        p = xf_path_basename(s);
        return vals_push(out, p, strlen(p));
    case FN_CMDLINE_PATHS:
        return cmdline_paths(ev, s, out);
    case FN_USER_SHORT:
        p = strrchr(s, '\\');
        p = p ? p + 1 : s;
        return vals_push(out, p, strcspn(p, "@"));
    case FN_EMAIL_LOCAL:
        return vals_push(out, s, strcspn(s, "@"));
    case FN_URL_HOST:
        return url_host(s, out);
    case FN_HOST_OF_IP:
        p = corr_ip_host(c, s);
        if (!p) {
            c->unresolved = 1;
            return 0;
        }
        return vals_push(out, p, strlen(p));
    case FN_CMD_NORM:
        return cmd_prog(s, 1, out);
    case FN_CMD_PROG:
        return cmd_prog(s, 0, out);
    default:
        break;
    }
    return 0;
}

int corr_eval(struct xf_correlator *c, const struct expr *e, const struct xf_event *ev,
              struct vals *out)
{
    char hk[256];
    const char *h;
    int rc = 0;

    switch (e->fn) {
    case FN_HOST:
        h = xf_event_get(ev, XF_F_HOST);
        if (!h)
            return 0;
        corr_host_norm(h, hk, sizeof(hk));
        return vals_push(out, hk, strlen(hk));
    case FN_IPS_OF_HOST: {
        const char *ips[16];
        h = xf_event_get(ev, XF_F_HOST);
        if (!h)
            return 0;
        corr_host_norm(h, hk, sizeof(hk));
        size_t n = corr_host_ips(c, hk, ips, XF_ARRAY_LEN(ips));
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = vals_push(out, ips[i], strlen(ips[i]));
        return rc;
    }
    case FN_SHA256:
        return sha256_of(ev, out);
    case FN_EVENT_ID:
        return vals_push(out, ev->id, strlen(ev->id));
    case FN_ALERT_LEVEL:
        return alert_level(ev, out);
    case FN_PROC_USER: {
        const char *u = xf_event_get(ev, XF_F_USER);
        if (!u || !*u || strcmp(u, "-") == 0) {
            const char *g = xf_event_get(ev, XF_F_PROCESS_GUID);
            h = xf_event_get(ev, XF_F_HOST);
            if (!g || !h)
                return 0;
            corr_host_norm(h, hk, sizeof(hk));
            u = corr_proc_user(c, hk, g);
            if (!u)
                return 0;
        }
        const char *p = strrchr(u, '\\');
        p = p ? p + 1 : u;
        return vals_push(out, p, strcspn(p, "@"));
    }
    default:
        break;
    }
    if (e->field < 0)
        return 0;
    size_t n = xf_event_count(ev, (enum xf_field)e->field);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *s = xf_event_get_nth(ev, (enum xf_field)e->field, i);
        if (s && *s)
            rc = eval_one(c, e, ev, s, out);
    }
    return rc;
}
