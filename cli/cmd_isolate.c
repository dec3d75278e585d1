/*
 * cmd_isolate.c - `xdrflow isolate HOST`, `xdrflow release HOST` and `xdrflow actions ...`:
 * an analyst's or a script's handle on a running daemon's response API (/api/v1).
 *
 * These commands never touch the database or a vendor: they ask the daemon, which applies its
 * policy (protected hosts, one pending action per host) and its audit log. So the CLI needs
 * the API's address (--api, $XDRFLOW_API) and a token with the right role ($XDRFLOW_TOKEN or
 * --token-file; never on the command line, where `ps` would show it).
 *
 * The one thing to know: the exit code tells a script what happened without parsing text:
 *   0 done (2xx)     1 the daemon failed or answered something unexpected     2 usage
 *   3 not allowed (401 no/wrong token, 403 role too low)
 *   4 refused by policy (409 protected host or an action already pending, 429, 503 off)
 *   5 no daemon answered at that address        6 not found (404: no such action)
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "xf/core.h"
#include "xf/response.h"

#define EXIT_DONE 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_AUTH 3
#define EXIT_REFUSED 4
#define EXIT_UNREACHABLE 5
#define EXIT_NOTFOUND 6

#define DEFAULT_API "http://127.0.0.1:8080"

static const char common_opts[] =
    "connection:\n"
    "  --api URL          the daemon's API (default $XDRFLOW_API, else " DEFAULT_API ")\n"
    "  --token-file FILE  read the bearer token from FILE (default: $XDRFLOW_TOKEN)\n"
    "  --format F         text (default) or json (the API's answer as it came)\n"
    "  -h, --help         this text\n\n"
    "exit codes: 0 done, 1 failure, 2 usage, 3 not allowed (401/403), 4 refused by\n"
    "policy (409 protected or pending, 429 rate limited, 503 response off), 5 no daemon\n"
    "answered, 6 not found.\n";

static void usage_isolate(FILE *out, const char *verb)
{
    int iso = !strcmp(verb, "isolate");

    fprintf(out,
            "usage: xdrflow %s HOST [--reason TEXT] [--api URL] [--token-file FILE]\n"
            "                       [--format text|json]\n\n"
            "%s\n"
            "The daemon applies its policy: a protected host is refused (exit 4), and so is a\n"
            "host that already has an action pending. Needs a token with role respond.\n\n"
            "options:\n"
            "  --reason TEXT      why (kept in the action and the audit log)\n"
            "%s",
            verb,
            iso ? "Asks a running daemon to isolate HOST through its configured connectors\n"
                  "(EDR, webhook). The action is approved at once (an analyst asked)."
                : "Asks a running daemon to lift the isolation of HOST through its configured\n"
                  "connectors.",
            common_opts);
}

static void usage_actions(FILE *out)
{
    fprintf(out,
            "usage: xdrflow actions [list] [--state S] [--host H] [options]\n"
            "       xdrflow actions show ID [options]\n"
            "       xdrflow actions approve ID [options]\n"
            "       xdrflow actions deny ID [--reason TEXT] [options]\n\n"
            "Lists and decides the response actions of a running daemon: isolations planned by\n"
            "policy (in approve mode they wait as 'planned' until approved), manual isolations\n"
            "and releases, notifications. approve/deny need a token with role respond; list\n"
            "and show need role read.\n\n"
            "options:\n"
            "  --state S          list only actions in state S (planned, approved, sent,\n"
            "                     confirmed, failed, denied, dry_run, released)\n"
            "  --host H           list only actions for host H\n"
            "  --reason TEXT      deny: why (kept in the audit log)\n"
            "%s",
            common_opts);
}

struct opts {
    const char *api;
    const char *token_file;
    const char *reason;
    const char *state;
    const char *host;
    int json;
};

/* Percent-encodes everything but RFC 3986 unreserved characters, so a host or an id can never
 * change the path or the query it is put into. */
static int append_escaped(struct xf_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int rc = (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~')
                     ? xf_buf_append(b, s, 1)
                     : xf_buf_appendf(b, "%%%02X", ch);
        if (rc)
            return rc;
    }
    return 0;
}

/* The token: --token-file (first line, trimmed) or $XDRFLOW_TOKEN. NULL with a message when the
 * file cannot be read; "" when there is none (the daemon then answers 401, which we explain). */
static char *load_token(const char *file)
{
    char line[4096];
    FILE *f;
    size_t n;

    if (!file) {
        const char *t = getenv("XDRFLOW_TOKEN");
        return xf_strdup(t ? t : "");
    }
    if (!(f = fopen(file, "r"))) {
        fprintf(stderr, "xdrflow: cannot read the token file %s\n", file);
        return NULL;
    }
    if (!fgets(line, sizeof line, f))
        line[0] = 0;
    fclose(f);
    n = strlen(line);
    while (n && isspace((unsigned char)line[n - 1]))
        line[--n] = 0;
    char *t = xf_strdup(line);
    memset(line, 0, sizeof line);
    return t;
}

/* The "message" of an {"error":{...}} answer, or NULL. */
static const char *error_message(json_t *root)
{
    json_t *e = json_object_get(root, "error");
    json_t *m = e ? json_object_get(e, "message") : NULL;
    return json_is_string(m) ? json_string_value(m) : NULL;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

static void print_action_line(json_t *a)
{
    const char *err = jstr(a, "last_error");
    const char *why = *err ? err : jstr(a, "reason");
    json_t *att = json_object_get(a, "attempts");

    printf("%-22s %-9s %-8s %-28s %-14s %3lld  %s\n", jstr(a, "id"), jstr(a, "state"),
           jstr(a, "kind"), jstr(a, "host"), jstr(a, "connector"),
           json_is_integer(att) ? (long long)json_integer_value(att) : 0LL, why);
}

static void print_action_detail(json_t *a)
{
    const char *key;
    json_t *v;

    json_object_foreach(a, key, v)
    {
        if (json_is_string(v) && !*json_string_value(v))
            continue;
        char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        printf("%-14s %s\n", key, s ? s : json_string_value(v));
        free(s);
    }
}

/* Maps an answer to text and an exit code. what names the request for messages. */
static int report(const char *cmd, long status, const struct xf_buf *body, int json_out, int detail)
{
    json_error_t jerr;
    json_t *root = body->len ? json_loadb(body->data, body->len, 0, &jerr) : NULL;
    const char *msg = root ? error_message(root) : NULL;
    int code;

    if (status >= 200 && status < 300)
        code = EXIT_DONE;
    else if (status == 401 || status == 403)
        code = EXIT_AUTH;
    else if (status == 409 || status == 429 || status == 503)
        code = EXIT_REFUSED;
    else if (status == 404)
        code = EXIT_NOTFOUND;
    else
        code = EXIT_FAIL;

    if (json_out && body->len) {
        fwrite(body->data, 1, body->len, stdout);
        if (body->data[body->len - 1] != '\n')
            fputc('\n', stdout);
    }
    if (code != EXIT_DONE) {
        if (status == 401)
            fprintf(stderr,
                    "xdrflow %s: not authenticated (401): %s\n"
                    "  set XDRFLOW_TOKEN or pass --token-file with a token the daemon knows\n",
                    cmd, msg ? msg : "no or unknown token");
        else if (status == 403)
            fprintf(stderr,
                    "xdrflow %s: not allowed (403): %s\n"
                    "  this token's role is too low (isolate, release, approve and deny need "
                    "respond)\n",
                    cmd, msg ? msg : "role too low");
        else if (status == 409)
            fprintf(stderr, "xdrflow %s: refused (409): %s\n", cmd,
                    msg ? msg : "host protected or an action is already pending");
        else
            fprintf(stderr, "xdrflow %s: the daemon answered %ld: %s\n", cmd, status,
                    msg ? msg : (body->len ? body->data : "(empty body)"));
        /* a 409 for a pending action carries that action: show it */
        json_t *pend = root ? json_object_get(root, "action") : NULL;
        if (!json_out && json_is_object(pend)) {
            fprintf(stderr, "  pending: ");
            fflush(stderr);
            print_action_line(pend);
        }
        goto out;
    }
    if (json_out)
        goto out;
    if (!root) {
        fprintf(stderr, "xdrflow %s: the daemon's answer is not JSON\n", cmd);
        code = EXIT_FAIL;
        goto out;
    }
    json_t *list = json_object_get(root, "actions");
    if (json_is_array(list)) {
        size_t i;
        json_t *a;
        if (!json_array_size(list) && !strcmp(cmd, "actions")) {
            printf("no actions\n");
            goto out;
        }
        printf("%-22s %-9s %-8s %-28s %-14s %3s  %s\n", "ID", "STATE", "KIND", "HOST", "CONNECTOR",
               "TRY", "REASON / LAST ERROR");
        json_array_foreach(list, i, a) print_action_line(a);
    } else if (detail) {
        print_action_detail(root);
    } else {
        printf("%s %s: action %s %s (connector %s)\n", jstr(root, "kind"), jstr(root, "host"),
               jstr(root, "id"), jstr(root, "state"), jstr(root, "connector"));
    }
out:
    json_decref(root);
    return code;
}

/* Sends one request and reports; returns the exit code. */
static int call(const char *cmd, const struct opts *o, const char *method, const char *path,
                const char *body, int detail)
{
    struct xf_buf out;
    char *token = load_token(o->token_file);
    long status = 0;
    int rc, code;

    if (!token)
        return EXIT_USAGE;
    xf_buf_init(&out);
    rc = xf_api_client_call(o->api, token, method, path, body, &status, &out);
    if (rc == XF_EIO) {
        fprintf(stderr,
                "xdrflow %s: no daemon answered at %s (%s)\n"
                "  is `xdrflow run` running with its API there? set --api or XDRFLOW_API\n",
                cmd, o->api, out.len ? out.data : "no answer");
        code = EXIT_UNREACHABLE;
    } else if (rc) {
        fprintf(stderr, "xdrflow %s: %s\n", cmd, xf_strerror(rc));
        code = EXIT_FAIL;
    } else {
        code = report(cmd, status, &out, o->json, detail);
    }
    memset(token, 0, strlen(token));
    xf_free(token);
    xf_buf_close(&out);
    return code;
}

/* Parses the shared options; returns -1 to go on, else the exit code (help, usage error).
 * Positional arguments are left in argv[optind..]. */
static int parse_opts(int argc, char **argv, struct opts *o, void (*help)(FILE *, const char *),
                      const char *verb)
{
    static const struct option longopts[] = {
        {"api", required_argument, NULL, 'a'},    {"token-file", required_argument, NULL, 't'},
        {"reason", required_argument, NULL, 'r'}, {"state", required_argument, NULL, 's'},
        {"host", required_argument, NULL, 'H'},   {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int c;

    o->api = getenv("XDRFLOW_API") && *getenv("XDRFLOW_API") ? getenv("XDRFLOW_API") : DEFAULT_API;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            o->api = optarg;
            break;
        case 't':
            o->token_file = optarg;
            break;
        case 'r':
            o->reason = optarg;
            break;
        case 's':
            o->state = optarg;
            break;
        case 'H':
            o->host = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
                fprintf(stderr, "xdrflow %s: unknown format '%s' (text, json)\n", verb, optarg);
                return EXIT_USAGE;
            }
            o->json = !strcmp(optarg, "json");
            break;
        case 'h':
            help(stdout, verb);
            return EXIT_DONE;
        default:
            help(stderr, verb);
            return EXIT_USAGE;
        }
    }
    return -1;
}

/* {"reason":"..."} or NULL when there is none (the API takes an empty body too). */
static char *reason_body(const char *reason)
{
    json_t *o;
    char *s, *copy;

    if (!reason)
        return NULL;
    o = json_pack("{s:s}", "reason", reason);
    s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    copy = xf_strdup(s);
    free(s);
    return copy;
}

static int host_request(int argc, char **argv, const char *verb)
{
    struct opts o = {0};
    struct xf_buf path;
    char *body = NULL;
    int code = parse_opts(argc, argv, &o, usage_isolate, verb);

    if (code >= 0)
        return code;
    if (optind + 1 != argc || !*argv[optind]) {
        fprintf(stderr, "xdrflow %s: expected exactly one HOST\n\n", verb);
        usage_isolate(stderr, verb);
        return EXIT_USAGE;
    }
    if (o.state || o.host) {
        fprintf(stderr, "xdrflow %s: --state and --host belong to `xdrflow actions`\n", verb);
        return EXIT_USAGE;
    }
    xf_buf_init(&path);
    if (xf_buf_appends(&path, "/api/v1/hosts/") || append_escaped(&path, argv[optind]) ||
        xf_buf_appendf(&path, "/%s", verb)) {
        code = EXIT_FAIL;
        goto out;
    }
    body = reason_body(o.reason);
    if (o.reason && !body) {
        code = EXIT_FAIL;
        goto out;
    }
    code = call(verb, &o, "POST", path.data, body, 0);
out:
    xf_free(body);
    xf_buf_close(&path);
    return code;
}

int xf_cmd_isolate(int argc, char **argv)
{
    return host_request(argc, argv, "isolate");
}

int xf_cmd_release(int argc, char **argv)
{
    return host_request(argc, argv, "release");
}

static void usage_actions_v(FILE *out, const char *verb)
{
    (void)verb;
    usage_actions(out);
}

int xf_cmd_actions(int argc, char **argv)
{
    struct opts o = {0};
    struct xf_buf path;
    const char *sub = "list", *id = NULL;
    char *body = NULL;
    int code = parse_opts(argc, argv, &o, usage_actions_v, "actions");
    int npos;

    if (code >= 0)
        return code;
    npos = argc - optind;
    if (npos >= 1)
        sub = argv[optind];
    if (!strcmp(sub, "list")) {
        if (npos > 1) {
            fprintf(stderr, "xdrflow actions list: unexpected argument '%s'\n", argv[optind + 1]);
            return EXIT_USAGE;
        }
    } else if (!strcmp(sub, "show") || !strcmp(sub, "approve") || !strcmp(sub, "deny")) {
        if (npos != 2 || !*argv[optind + 1]) {
            fprintf(stderr, "xdrflow actions %s: expected exactly one action ID\n\n", sub);
            usage_actions(stderr);
            return EXIT_USAGE;
        }
        id = argv[optind + 1];
        if (o.state || o.host) {
            fprintf(stderr, "xdrflow actions %s: --state and --host filter `actions list`\n", sub);
            return EXIT_USAGE;
        }
    } else {
        fprintf(stderr, "xdrflow actions: unknown subcommand '%s' (list, show, approve, deny)\n\n",
                sub);
        usage_actions(stderr);
        return EXIT_USAGE;
    }
    if (o.reason && strcmp(sub, "deny")) {
        fprintf(stderr, "xdrflow actions %s: --reason belongs to deny\n", sub);
        return EXIT_USAGE;
    }
    if (o.state && xf_action_state_parse(o.state) < 0) {
        fprintf(stderr,
                "xdrflow actions: unknown state '%s' (planned, approved, sent, confirmed, "
                "failed, denied, dry_run, released)\n",
                o.state);
        return EXIT_USAGE;
    }

    xf_buf_init(&path);
    if (xf_buf_appends(&path, "/api/v1/actions")) {
        code = EXIT_FAIL;
        goto out;
    }
    if (!id) {
        char sep = '?';
        if (o.state && (xf_buf_appends(&path, "?state=") || append_escaped(&path, o.state))) {
            code = EXIT_FAIL;
            goto out;
        }
        if (o.state)
            sep = '&';
        if (o.host && (xf_buf_appendf(&path, "%chost=", sep) || append_escaped(&path, o.host))) {
            code = EXIT_FAIL;
            goto out;
        }
        code = call("actions", &o, "GET", path.data, NULL, 0);
        goto out;
    }
    if (xf_buf_appends(&path, "/") || append_escaped(&path, id)) {
        code = EXIT_FAIL;
        goto out;
    }
    if (!strcmp(sub, "show")) {
        code = call("actions show", &o, "GET", path.data, NULL, 1);
        goto out;
    }
    if (xf_buf_appendf(&path, "/%s", sub)) {
        code = EXIT_FAIL;
        goto out;
    }
    body = reason_body(o.reason);
    if (o.reason && !body) {
        code = EXIT_FAIL;
        goto out;
    }
    code = call(!strcmp(sub, "approve") ? "actions approve" : "actions deny", &o, "POST", path.data,
                body, 0);
out:
    xf_free(body);
    xf_buf_close(&path);
    return code;
}
