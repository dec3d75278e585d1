/*
 * cmd_demo.c - `xdrflow demo`: the newcomer's first command.
 *
 * Starts an in-process development broker, sends the bundled recording of an Emotet outbreak
 * into it (mail records to xdr.email, connections and DNS to xdr.network, the rest to
 * xdr.endpoint, keyed by host as `produce` does), runs the full daemon on a temporary database,
 * waits until every record is durable, prints the incidents, and serves /metrics, /healthz and
 * /readyz until Ctrl-C (--once: exits after printing). Nothing here is special-cased for the
 * demo: it is the same daemon an operator runs, fed through the real Kafka protocol, with an
 * allowed lateness wide enough for a recording that is read partition by partition.
 *
 * Response is on, in mode auto: the daemon isolates the compromised hosts through a "webhook"
 * connector pointed at a receiver served here (an xf_api listener on 127.0.0.1:0). The
 * receiver checks every delivery's Standard Webhooks signature itself, with OpenSSL, against a
 * random secret made for this run and handed to the daemon through an environment variable
 * (the way an operator passes secrets: never in the config). The demo then asks the daemon's
 * own API which isolations are confirmed and prints them; protected hosts (mail server, domain
 * controllers) are never isolated.
 */
#include <ctype.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <fnmatch.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "cli.h"
#include "xf/api.h"
#include "xf/correlate.h"
#include "xf/daemon.h"
#include "xf/ingest.h"
#include "xf/kafka.h"
#include "xf/response.h"
#include "xf/store.h"

#ifndef XF_DEMO_DATA
#define XF_DEMO_DATA "tests/data/emotet-outbreak.ecs.jsonl"
#endif
#ifndef XF_DEMO_DATA_INSTALLED
#define XF_DEMO_DATA_INSTALLED NULL
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: xdrflow demo [--once] [--api ADDR:PORT] [--input FILE] [--format text|json]\n\n"
            "Shows xdrflow end to end in one command: an embedded development Kafka broker,\n"
            "a recorded Emotet outbreak (phishing mail to three users, two open it, macro ->\n"
            "WMI -> PowerShell -> DLL -> C2, SMB spread to a file server, spam) sent into it,\n"
            "the daemon correlating it into RocksDB on a temporary database, and the incident\n"
            "printed. Response runs in mode auto: the compromised hosts are isolated through a\n"
            "signed webhook to a receiver inside the demo, which verifies each signature.\n"
            "Then the daemon keeps serving its HTTP endpoints until Ctrl-C.\n\n"
            "options:\n"
            "  --once            exit after printing the incidents\n"
            "  --api ADDR:PORT   where to serve /metrics /healthz /readyz (default\n"
            "                    127.0.0.1:8080; 127.0.0.1:0 picks a free port)\n"
            "  --input FILE      another recording instead of the bundled one\n"
            "                    (default: $XDRFLOW_DEMO_DATA, else the bundled file)\n"
            "  --format F        text (default) or json, one incident per line\n"
            "  -h, --help        this text\n");
}

static const char *topic_for(const struct xf_event *ev)
{
    switch (ev->category) {
    case XF_CAT_EMAIL:
        return "xdr.email";
    case XF_CAT_NETWORK:
    case XF_CAT_DNS:
        return "xdr.network";
    case XF_CAT_ALERT:
        return "xdr.alerts";
    default:
        return "xdr.endpoint";
    }
}

/* Sends every record of path; returns the number sent or a negative error. */
static long produce_file(struct xf_kafka_producer *p, const char *path)
{
    struct xf_reader *r = NULL;
    struct xf_event ev;
    long sent = 0;
    int rc;

    if ((rc = xf_reader_open(path, XF_FMT_AUTO, &r)))
        return rc;
    xf_event_init(&ev);
    for (;;) {
        const char *data, *where;
        size_t len;
        char err[XF_ERRMSG_MAX];
        rc = xf_reader_next(r, &data, &len, &where);
        if (rc == 0)
            break;
        if (rc < 0) {
            if (rc == XF_ETOOBIG)
                continue;
            break;
        }
        const char *host = "", *topic = "xdr.endpoint";
        if (xf_decode(XF_FMT_AUTO, data, len, &ev, NULL, err) == 0) {
            host = xf_event_get(&ev, XF_F_HOST) ? xf_event_get(&ev, XF_F_HOST) : "";
            topic = topic_for(&ev);
        }
        rc = xf_kafka_producer_send(p, topic, -1, host, strlen(host), data, len, NULL, 0);
        if (rc)
            break;
        sent++;
    }
    xf_event_close(&ev);
    xf_reader_destroy(r);
    if (rc < 0)
        return rc;
    rc = xf_kafka_producer_flush(p, 30000);
    return rc ? rc : sent;
}

struct runner {
    struct xf_daemon *d;
    int rc;
};

static void *run_daemon(void *arg)
{
    struct runner *r = arg;

    xf_thread_name("xf-daemon");
    r->rc = xf_daemon_run(r->d);
    return NULL;
}

struct print_ctx {
    int json;
    size_t n;
};

static int print_incident(const char *id, const char *json, size_t len, void *ud)
{
    struct print_ctx *pc = ud;
    struct xf_buf b;

    pc->n++;
    if (pc->json) {
        fwrite(json, 1, len, stdout);
        fputc('\n', stdout);
        return 0;
    }
    xf_buf_init(&b);
    if (xf_incident_render_text(json, len, &b) == 0) {
        fwrite(b.data, 1, b.len, stdout);
        fputc('\n', stdout);
    }
    xf_buf_close(&b);
    return 0;
}

static int collect_hosts(const char *id, const char *json, size_t len, void *ud);
struct host_list;

static int print_incidents(const char *db, int json, struct host_list *hl)
{
    struct xf_store *st = NULL;
    struct xf_store_opts so = {.read_only = 1};
    struct print_ctx pc = {.json = json};
    int rc = xf_store_open(db, &so, &st);

    if (rc)
        return -1;
    xf_store_incidents_scan(st, print_incident, &pc);
    xf_store_incidents_scan(st, collect_hosts, hl);
    xf_store_close(st);
    fflush(stdout);
    return (int)pc.n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the local webhook receiver ------------------------------------------------------------ */

#define HOOK_SECRET_ENV "XDRFLOW_DEMO_WEBHOOK_SECRET"
#define DEMO_TOKEN_ENV "XDRFLOW_DEMO_TOKEN"
#define HOOK_NAME "demo-hook"
#define HOOK_MAX 64
#define HOOK_TOLERANCE_S 300 /* Standard Webhooks: reject a timestamp older or newer than this */

/* the mail server and domain controllers of the outbreak's network: never isolated */
static const char *const demo_protected[] = {"dc-*", "mx*"};

struct hook_delivery {
    char id[XF_ACTION_ID_LEN];
    char kind[16];
    char host[256];
};

struct demo_hook {
    struct xf_api *api;
    unsigned char key[32];
    pthread_mutex_t mu;
    struct hook_delivery got[HOOK_MAX];
    size_t n;
    unsigned long duplicates, bad_signatures;
};

/* 1 when one "v1,<base64>" of header is HMAC-SHA256(key, id "." ts "." body). */
static int hook_signature_ok(const struct demo_hook *h, const char *id, const char *ts,
                             const char *header, const char *body, size_t body_len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned char expect[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    EVP_MAC_CTX *ctx = NULL;
    EVP_MAC *m = NULL;
    OSSL_PARAM params[2];
    size_t out_len = 0;
    char *end;
    int ok = 0;

    if (!id || !ts || !header || !*id)
        return 0;
    long long t = strtoll(ts, &end, 10);
    if (end == ts || *end || llabs((long long)time(NULL) - t) > HOOK_TOLERANCE_S)
        return 0;
    params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!(m = EVP_MAC_fetch(NULL, "HMAC", NULL)) || !(ctx = EVP_MAC_CTX_new(m)) ||
        !EVP_MAC_init(ctx, h->key, sizeof h->key, params) ||
        !EVP_MAC_update(ctx, (const unsigned char *)id, strlen(id)) ||
        !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
        !EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) ||
        !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
        !EVP_MAC_update(ctx, (const unsigned char *)body, body_len) ||
        !EVP_MAC_final(ctx, mac, &out_len, sizeof mac))
        goto out;
    int n = EVP_EncodeBlock(expect, mac, (int)out_len);
    /* the header may carry several space-separated signatures (key rotation) */
    for (const char *p = header; *p;) {
        while (*p == ' ')
            p++;
        const char *q = p;
        while (*q && *q != ' ')
            q++;
        if (q - p == n + 3 && !strncmp(p, "v1,", 3) && !CRYPTO_memcmp(p + 3, expect, (size_t)n))
            ok = 1;
        p = q;
    }
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    return ok;
}

static int hook_handler(const struct xf_http_request *req, struct xf_http_response *resp, void *ud)
{
    struct demo_hook *h = ud;
    const char *id = xf_http_header(req, "webhook-id");
    json_t *root = NULL;

    if (!hook_signature_ok(h, id, xf_http_header(req, "webhook-timestamp"),
                           xf_http_header(req, "webhook-signature"), req->body, req->body_len)) {
        pthread_mutex_lock(&h->mu);
        h->bad_signatures++;
        pthread_mutex_unlock(&h->mu);
        return xf_http_error(resp, 401, "bad_signature", "webhook signature does not verify");
    }
    root = json_loadb(req->body, req->body_len, 0, NULL);
    json_t *action = json_object_get(root, "action");
    const char *kind = json_string_value(json_object_get(root, "type"));
    const char *host = json_string_value(json_object_get(root, "host"));
    if (!kind)
        kind = json_string_value(json_object_get(action, "kind"));
    if (!host)
        host = json_string_value(json_object_get(action, "host"));
    pthread_mutex_lock(&h->mu);
    size_t i;
    for (i = 0; i < h->n && strcmp(h->got[i].id, id); i++)
        ;
    if (i < h->n) {
        h->duplicates++; /* a re-send with the same key: already done, say so again */
    } else if (h->n < HOOK_MAX) {
        struct hook_delivery *d = &h->got[h->n++];
        snprintf(d->id, sizeof d->id, "%s", id);
        snprintf(d->kind, sizeof d->kind, "%s", kind ? kind : "notify");
        snprintf(d->host, sizeof d->host, "%s", host ? host : "");
    }
    pthread_mutex_unlock(&h->mu);
    json_decref(root);
    return xf_buf_appends(&resp->body, "{\"ok\":true}");
}

/* 1 when the receiver verified a delivery with this webhook-id (= action id). */
static int hook_verified(struct demo_hook *h, const char *id)
{
    int found = 0;

    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n && !found; i++)
        found = !strcmp(h->got[i].id, id);
    pthread_mutex_unlock(&h->mu);
    return found;
}

/* Random bytes as lowercase hex into out[2n + 1]. */
static int random_hex(char *out, size_t n)
{
    unsigned char b[32];

    if (n > sizeof b || RAND_bytes(b, (int)n) != 1)
        return -1;
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return 0;
}

/* Starts the receiver with a fresh secret, exported as whsec_<base64> in HOOK_SECRET_ENV. */
static int hook_start(struct demo_hook *h)
{
    static const struct xf_http_route routes[] = {
        {.method = "POST", .pattern = "/hook", .fn = hook_handler},
    };
    struct xf_http_route r[1];
    struct xf_api_opts o = {.listen = "127.0.0.1:0", .threads = 1};
    unsigned char b64[4 * ((sizeof h->key + 2) / 3) + 1];
    char secret[sizeof b64 + 8];

    if (RAND_bytes(h->key, sizeof h->key) != 1)
        return -1;
    EVP_EncodeBlock(b64, h->key, sizeof h->key);
    snprintf(secret, sizeof secret, "whsec_%s", (const char *)b64);
    if (setenv(HOOK_SECRET_ENV, secret, 1))
        return -1;
    memcpy(r, routes, sizeof r);
    r[0].ud = h;
    return xf_api_start(&o, r, XF_ARRAY_LEN(r), &h->api) ? -1 : 0;
}

/* The demo's patterns are lowercase globs; host names compare case-insensitively (as the
 * policy's do), so the host is lowered first. */
static int demo_host_protected(const char *host)
{
    char low[256];
    size_t i;

    for (i = 0; host[i] && i + 1 < sizeof low; i++)
        low[i] = (char)tolower((unsigned char)host[i]);
    low[i] = 0;
    for (i = 0; i < XF_ARRAY_LEN(demo_protected); i++)
        if (!fnmatch(demo_protected[i], low, 0))
            return 1;
    return 0;
}

/* The response part of the demo's configuration: mode auto, the receiver as a webhook
 * connector, a token for the demo (and the user) to read the API with. */
static int demo_response_yaml(struct xf_buf *y, int hook_port)
{
    int rc = xf_buf_appendf(y,
                            "api:\n"
                            "  tokens:\n"
                            "    - {name: demo, role: respond, token_env: %s}\n"
                            "response:\n"
                            "  mode: auto\n"
                            "  min_severity: high\n"
                            "  notify_incidents: false\n"
                            "  protected_hosts: [",
                            DEMO_TOKEN_ENV);
    for (size_t i = 0; i < XF_ARRAY_LEN(demo_protected); i++)
        rc |= xf_buf_appendf(y, "%s\"%s\"", i ? ", " : "", demo_protected[i]);
    rc |= xf_buf_appendf(y,
                         "]\n"
                         "  connectors:\n"
                         "    - {name: " HOOK_NAME ", type: webhook, url: "
                         "\"http://127.0.0.1:%d/hook\", secret_env: " HOOK_SECRET_ENV "}\n",
                         hook_port);
    return rc;
}

struct host_list {
    char *hosts[HOOK_MAX];
    size_t n;
};

/* Collects the hosts of stored incidents of severity high or above (what policy isolates). */
static int collect_hosts(const char *id, const char *json, size_t len, void *ud)
{
    struct host_list *hl = ud;
    json_t *root = json_loadb(json, len, 0, NULL);
    const char *sev = json_string_value(json_object_get(root, "severity"));
    json_t *hosts = json_object_get(root, "hosts"), *v;
    size_t i, k;

    if (sev && xf_severity_rank(sev) >= 2) {
        json_array_foreach(hosts, i, v)
        {
            const char *host = json_string_value(v);
            if (!host || demo_host_protected(host))
                continue;
            for (k = 0; k < hl->n && strcmp(hl->hosts[k], host); k++)
                ;
            if (k == hl->n && hl->n < HOOK_MAX)
                hl->hosts[hl->n++] = xf_strdup(host);
        }
    }
    json_decref(root);
    return 0;
}

/* Waits (bounded) until the daemon's API shows a confirmed isolate action, verified by the
 * receiver, for every host of hl; prints one line per host. Returns the hosts not confirmed. */
static size_t wait_isolations(struct demo_hook *h, int api_port, const char *token,
                              const struct host_list *hl, FILE *out)
{
    char url[64], done[HOOK_MAX] = {0};
    char ids[HOOK_MAX][XF_ACTION_ID_LEN] = {{0}};
    struct xf_buf body;
    size_t left = hl->n;

    snprintf(url, sizeof url, "http://127.0.0.1:%d", api_port);
    xf_buf_init(&body);
    for (int tick = 0; tick < 200 && left; tick++) {
        long status = 0;
        xf_buf_reset(&body);
        if (xf_api_client_call(url, token, "GET", "/api/v1/actions?state=confirmed", NULL, &status,
                               &body) == 0 &&
            status == 200) {
            json_t *root = json_loadb(body.data, body.len, 0, NULL), *a;
            size_t i;
            json_array_foreach(json_object_get(root, "actions"), i, a)
            {
                const char *kind = json_string_value(json_object_get(a, "kind"));
                const char *host = json_string_value(json_object_get(a, "host"));
                const char *id = json_string_value(json_object_get(a, "id"));
                if (!kind || !host || !id || strcmp(kind, "isolate") || !hook_verified(h, id))
                    continue;
                for (size_t k = 0; k < hl->n; k++) {
                    if (done[k] || strcasecmp(hl->hosts[k], host))
                        continue;
                    done[k] = 1;
                    snprintf(ids[k], sizeof ids[k], "%s", id);
                    left--;
                    fprintf(out,
                            "isolated %s via webhook " HOOK_NAME
                            " (action %s, signature verified)\n",
                            hl->hosts[k], id);
                }
            }
            json_decref(root);
        }
        if (left)
            sleep_ms(100);
    }
    for (size_t k = 0; k < hl->n; k++)
        if (!done[k])
            fprintf(stderr, "xdrflow demo: %s was not isolated within 20 s\n", hl->hosts[k]);
    fflush(out);
    xf_buf_close(&body);
    return left;
}

int xf_cmd_demo(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"once", no_argument, NULL, 'O'},        {"api", required_argument, NULL, 'a'},
        {"input", required_argument, NULL, 'i'}, {"format", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *api = "127.0.0.1:8080";
    const char *input = getenv("XDRFLOW_DEMO_DATA");
    int once = 0, json = 0, c, status = 1;
    const char *topics[] = {"xdr.email", "xdr.endpoint", "xdr.network", "xdr.alerts",
                            "xdr.deadletter"};
    struct xf_devbroker *broker = NULL;
    struct xf_kafka_producer *prod = NULL;
    struct xf_config cfg;
    struct runner run = {0};
    pthread_t thr;
    int started = 0;
    char tmpdir[] = "/tmp/xdrflow-demo-XXXXXX";
    char db[sizeof tmpdir + 8];
    char token_file[sizeof tmpdir + 16];
    char why[256];
    char token[65];
    struct demo_hook hook = {0};
    struct host_list hl = {0};
    struct xf_buf yaml, yerr;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'O':
            once = 1;
            break;
        case 'a':
            api = optarg;
            break;
        case 'i':
            input = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
                fprintf(stderr, "xdrflow demo: unknown format '%s'\n", optarg);
                return 2;
            }
            json = !strcmp(optarg, "json");
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!input) /* the source tree's recording, else the installed one */
        input = xf_data_path(XF_DEMO_DATA, XF_DEMO_DATA_INSTALLED);
    if (xf_config_init(&cfg))
        return 1;
    xf_buf_init(&yaml);
    xf_buf_init(&yerr);
    pthread_mutex_init(&hook.mu, NULL);
    if (!mkdtemp(tmpdir)) {
        perror("xdrflow demo: temporary directory");
        goto out;
    }
    snprintf(db, sizeof db, "%s/db", tmpdir);

    struct xf_devbroker_opts bo = {
        .brokers = 1, .partitions = 3, .topics = topics, .n_topics = XF_ARRAY_LEN(topics)};
    if (xf_devbroker_start(&bo, &broker)) {
        fprintf(stderr, "xdrflow demo: cannot start the development broker\n");
        goto out;
    }
    fprintf(stderr, "demo: development broker at %s\n", xf_devbroker_bootstraps(broker));
    if (xf_kafka_producer_create(xf_devbroker_bootstraps(broker), NULL, 0, &prod))
        goto out;
    long sent = produce_file(prod, input);
    if (sent < 0) {
        fprintf(stderr, "xdrflow demo: cannot send %s: %s\n", input, xf_strerror((int)sent));
        goto out;
    }
    fprintf(stderr, "demo: sent %ld records of %s, keyed by host\n", sent, input);

    /* response: the receiver, its secret and the demo's API token, all fresh for this run */
    if (hook_start(&hook) || random_hex(token, 32) || setenv(DEMO_TOKEN_ENV, token, 1)) {
        fprintf(stderr, "xdrflow demo: cannot start the local webhook receiver\n");
        goto out;
    }
    fprintf(stderr, "demo: webhook receiver at http://127.0.0.1:%d/hook (Standard Webhooks)\n",
            xf_api_port(hook.api));
    if (demo_response_yaml(&yaml, xf_api_port(hook.api)) ||
        xf_config_load_buffer(&cfg, "demo", yaml.data, yaml.len, &yerr)) {
        fprintf(stderr, "xdrflow demo: response configuration: %s\n",
                yerr.len ? yerr.data : "out of memory");
        goto out;
    }
    if (xf_config_set(&cfg, "kafka.brokers", xf_devbroker_bootstraps(broker), why, sizeof why) ||
        xf_config_set(&cfg, "store.path", db, why, sizeof why) ||
        xf_config_set(&cfg, "api.listen", api, why, sizeof why) ||
        xf_config_set(&cfg, "kafka.group", "xdrflow-demo", why, sizeof why) ||
        /* a recording sent in bulk is read partition by partition: hosts arrive hours apart
         * in event time, far beyond the lateness a live stream needs */
        xf_config_set(&cfg, "correlation.lateness", "48h", why, sizeof why)) {
        fprintf(stderr, "xdrflow demo: %s\n", why);
        goto out;
    }
    if (xf_daemon_create(&cfg, &run.d)) {
        fprintf(stderr,
                "xdrflow demo: the daemon did not start (is %s in use? try --api "
                "127.0.0.1:0)\n",
                api);
        goto out;
    }
    xf_daemon_install_signals(run.d);
    if (pthread_create(&thr, NULL, run_daemon, &run))
        goto out;
    started = 1;

    /* wait until every record sent is durable (bounded: two minutes) */
    uint64_t done = 0, incidents = 0;
    for (int i = 0; i < 1200 && (long)done < sent; i++) {
        sleep_ms(100);
        xf_daemon_progress(run.d, &done, &incidents);
    }
    if ((long)done < sent) {
        fprintf(stderr, "xdrflow demo: only %llu of %ld records were processed in time\n",
                (unsigned long long)done, sent);
        goto out;
    }
    fprintf(stderr, "demo: %llu records correlated into %llu incident(s), stored in %s\n\n",
            (unsigned long long)done, (unsigned long long)incidents, db);
    if (print_incidents(db, json, &hl) < 1) {
        fprintf(stderr, "xdrflow demo: no incident found\n");
        goto out;
    }
    /* stdout stays one incident per line with --format json */
    if (wait_isolations(&hook, xf_daemon_api_port(run.d), token, &hl, json ? stderr : stdout))
        goto out;
    status = 0;
    if (!once) {
        int port = xf_daemon_api_port(run.d);
        FILE *tf;
        snprintf(token_file, sizeof token_file, "%s/token", tmpdir);
        if ((tf = fopen(token_file, "w"))) {
            fprintf(tf, "%s\n", token);
            fclose(tf);
        }
        fprintf(stderr,
                "demo: the daemon keeps running: http://127.0.0.1:%d/metrics, /healthz, "
                "/readyz\n"
                "      xdrflow incidents list --db %s   (from another terminal)\n"
                "      xdrflow actions --api http://127.0.0.1:%d --token-file %s\n"
                "      Ctrl-C to stop\n",
                port, db, port, token_file);
        pthread_join(thr, NULL);
        started = 0;
    }
out:
    if (started) {
        xf_daemon_stop(run.d);
        pthread_join(thr, NULL);
    }
    xf_daemon_destroy(run.d);
    xf_kafka_producer_destroy(prod);
    xf_devbroker_stop(broker);
    xf_api_stop(hook.api);
    pthread_mutex_destroy(&hook.mu);
    for (size_t i = 0; i < hl.n; i++)
        xf_free(hl.hosts[i]);
    xf_buf_close(&yaml);
    xf_buf_close(&yerr);
    xf_config_close(&cfg);
    if (tmpdir[sizeof tmpdir - 2] != 'X') {
        char cmd[sizeof tmpdir + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "xdrflow demo: could not remove %s\n", tmpdir);
    }
    return status;
}
