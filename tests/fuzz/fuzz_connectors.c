/*
 * fuzz_connectors.c - libFuzzer target for every connector's on_reply (vendor answers are
 * untrusted bytes), driven the way the response loop drives them.
 *
 * Input: byte 0 picks a connector config (each type in the table, some with a device map),
 * byte 1 the action kind and the starting phase/state (a resumed action). The rest is a list
 * of replies, each [status pick][header bits][len hi][len lo][body]. For each reply the
 * connector builds its next request (next), gets the reply (on_reply), and the outcome moves
 * the action on as the loop would: NEXT again, POLL as sent, RETRY back to phase 0, CONFIRMED
 * or FAILED ends it.
 *
 * The one thing to know: beyond memory errors, two safety properties abort: every request
 * goes to the connector's own origin (the secret never leaves it), and a SentinelOne action
 * request carries exactly one agent id.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../response/src/connector.h"

#define MAX_STEPS 12

struct fz_conf {
    const char *type;
    const char *params[12][2];
    const char *origins[2]; /* a request URL must start with one of these */
    int mapped;             /* ws01 -> a device id */
};

static const struct fz_conf confs[] = {
    {"webhook",
     {{"url", "https://hook.example/in"}, {"secret_env", "FZ_WH_SECRET"}},
     {"https://hook.example", NULL},
     0},
    {"webhook",
     {{"url", "https://hook.example/in"}, {"username", "u"}, {"password_env", "FZ_PASSWORD"}},
     {"https://hook.example", NULL},
     0},
    {"crowdstrike",
     {{"base_url", "https://cs.example"},
      {"client_id", "cid"},
      {"client_secret_env", "FZ_CLIENT_SECRET"}},
     {"https://cs.example", NULL},
     0},
    {"crowdstrike",
     {{"base_url", "https://cs.example"},
      {"client_id", "cid"},
      {"client_secret_env", "FZ_CLIENT_SECRET"}},
     {"https://cs.example", NULL},
     1},
    {"defender",
     {{"base_url", "https://df.example"},
      {"login_url", "https://login.example"},
      {"tenant_id", "t"},
      {"client_id", "cid"},
      {"client_secret_env", "FZ_CLIENT_SECRET"}},
     {"https://df.example", "https://login.example"},
     0},
    {"defender",
     {{"base_url", "https://df.example"},
      {"login_url", "https://login.example"},
      {"tenant_id", "t"},
      {"client_id", "cid"},
      {"client_secret_env", "FZ_CLIENT_SECRET"}},
     {"https://df.example", "https://login.example"},
     1},
    {"sentinelone",
     {{"base_url", "https://s1.example"}, {"token_env", "FZ_TOKEN"}},
     {"https://s1.example", NULL},
     0},
    {"sentinelone",
     {{"base_url", "https://s1.example"}, {"token_env", "FZ_TOKEN"}},
     {"https://s1.example", NULL},
     1},
    {"visionone",
     {{"base_url", "https://v1.example"}, {"token_env", "FZ_TOKEN"}},
     {"https://v1.example", NULL},
     0},
    {"visionone",
     {{"base_url", "https://v1.example"}, {"token_env", "FZ_TOKEN"}},
     {"https://v1.example", NULL},
     1},
    {"cortex",
     {{"base_url", "https://cx.example"}, {"key_env", "FZ_TOKEN"}, {"key_id", "7"}},
     {"https://cx.example", NULL},
     0},
    {"cortex",
     {{"base_url", "https://cx.example"},
      {"key_env", "FZ_TOKEN"},
      {"key_id", "7"},
      {"auth_type", "advanced"}},
     {"https://cx.example", NULL},
     1},
    {"soar",
     {{"shape", "generic"}, {"url", "https://soar.example/in"}},
     {"https://soar.example", NULL},
     0},
    {"soar",
     {{"shape", "splunk_soar"}, {"base_url", "https://soar.example"}, {"token_env", "FZ_TOKEN"}},
     {"https://soar.example", NULL},
     0},
    {"soar",
     {{"shape", "thehive"}, {"base_url", "https://soar.example"}, {"token_env", "FZ_TOKEN"}},
     {"https://soar.example", NULL},
     0},
};

static const long statuses[] = {0,   200, 201, 202, 204, 207, 302, 400, 401,
                                403, 404, 409, 429, 500, 502, 503, 100, 299};

static const char *const header_pool[] = {
    "Retry-After: 3",
    "Retry-After: Fri, 01 Jan 2100 00:00:00 GMT",
    "Operation-Location: https://v1.example/v3.0/response/tasks/1",
    "Operation-Location: https://v1.example.evil.test/v3.0/response/tasks/1",
    "Content-Type: application/json",
    "Location: https://evil.test/x",
    "X-RateLimit-Reset: 99999999999",
    "Retry-After: -1",
};

static const char incident[] =
    "{\"id\":\"inc-0123456789abcdef\",\"severity\":\"critical\",\"score\":90,"
    "\"stages\":[\"c2\"],\"hosts\":[\"ws01.corp.example\"],\"title\":\"t\"}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("FZ_WH_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
    setenv("FZ_PASSWORD", "fuzz-password", 1);
    setenv("FZ_CLIENT_SECRET", "fuzz-client-secret", 1);
    setenv("FZ_TOKEN", "fuzz-token", 1);
    xf_log_set_level(XF_LOG_ERROR);
    return 0;
}

static void check_request(const struct fz_conf *fc, const struct xf_conn_request *rq,
                          const struct xf_action *a)
{
    int ok = 0;

    if (!rq->url || !rq->method)
        abort();
    for (size_t i = 0; i < 2; i++) {
        /* scheme and host name compare without case, as the connectors do; what follows
         * the origin is a path, a query or a fragment, never more host */
        size_t n = fc->origins[i] ? strlen(fc->origins[i]) : 0;

        if (n && strncasecmp(rq->url, fc->origins[i], n) == 0 && strchr("/?#", rq->url[n]))
            ok = 1;
    }
    if (!ok) {
        fprintf(stderr, "request to %s outside the connector's origin\n", rq->url);
        abort();
    }
    if (strcmp(fc->type, "sentinelone") == 0 && strstr(rq->url, "/agents/actions/")) {
        char want[160];

        snprintf(want, sizeof(want), "\"ids\":[\"%s\"]", a->device_id);
        if (!a->device_id[0] || !rq->body.data || !strstr(rq->body.data, want)) {
            fprintf(stderr, "sentinelone action without exactly one id: %s\n",
                    rq->body.data ? rq->body.data : "");
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct fz_conf *fc;
    const struct xf_connector_ops *ops;
    struct xf_connector_conf conf;
    struct xf_action a;
    struct xf_conn_ctx ctx;
    char why[512];
    void *st = NULL;
    size_t off = 2;

    if (size < 2)
        return 0;
    fc = &confs[data[0] % XF_ARRAY_LEN(confs)];
    if (!(ops = xf_connector_find(fc->type)))
        abort();
    memset(&conf, 0, sizeof(conf));
    conf.name = "fz";
    conf.type = (char *)fc->type;
    for (size_t i = 0; i < 12 && fc->params[i][0]; i++) {
        conf.params[i].key = (char *)fc->params[i][0];
        conf.params[i].value = (char *)fc->params[i][1];
        conf.n_params++;
    }
    if (fc->mapped) {
        conf.devices[0].host = "ws01.corp.example";
        conf.devices[0].device_id = "1234567890";
        conf.n_devices = 1;
    }
    if (ops->create(&conf, &st, why, sizeof(why)) != 0) {
        fprintf(stderr, "create %s: %s\n", fc->type, why);
        abort();
    }

    memset(&a, 0, sizeof(a));
    {
        unsigned k = data[1] & 3;
        unsigned kinds[3] = {XF_ACT_ISOLATE, XF_ACT_RELEASE, XF_ACT_NOTIFY};
        unsigned kind = kinds[k % 3];

        /* the first kind this connector does, from the one asked for */
        for (unsigned t = 0; t < 3 && !(ops->kinds & (1u << kind)); t++)
            kind = kinds[(k + t + 1) % 3];
        a.kind = (enum xf_action_kind)kind;
    }
    a.state = (data[1] & 4) ? XF_AS_SENT : XF_AS_APPROVED;
    a.phase = (data[1] >> 3) & 3; /* a resumed action in a later phase */
    snprintf(a.incident, sizeof(a.incident), "inc-0123456789abcdef");
    snprintf(a.host, sizeof(a.host), "%s", (data[1] & 32) ? "WS01.corp.example" : "ws02");
    snprintf(a.connector, sizeof(a.connector), "fz");
    snprintf(a.requested_by, sizeof(a.requested_by), "policy");
    snprintf(a.reason, sizeof(a.reason), "fuzz");
    if (data[1] & 64)
        snprintf(a.device_id, sizeof(a.device_id), "1234567890");
    if (data[1] & 128)
        snprintf(a.remote_id, sizeof(a.remote_id), "https://v1.example/v3.0/response/tasks/9");
    xf_action_make_id(&a, "");
    ctx.payload = a.kind == XF_ACT_NOTIFY ? incident : NULL;
    ctx.payload_len = a.kind == XF_ACT_NOTIFY ? sizeof(incident) - 1 : 0;
    ctx.now_s = 1700000000;

    for (int step = 0; step < MAX_STEPS && off + 4 <= size; step++) {
        struct xf_conn_request rq;
        struct xf_conn_reply rep;
        struct xf_conn_outcome out;
        const char *hdrs[XF_ARRAY_LEN(header_pool)];
        size_t nh = 0, blen;
        uint8_t hbits;
        char *body;
        int rc;

        memset(&rq, 0, sizeof(rq));
        xf_buf_init(&rq.body);
        rc = ops->next(st, &a, &ctx, &rq);
        if (rc == XF_EAGAIN) {
            xf_conn_request_reset(&rq);
            ctx.now_s += rq.defer_ms / 1000 + 1;
            continue;
        }
        if (rc) {
            xf_conn_request_reset(&rq);
            break;
        }
        check_request(fc, &rq, &a);
        xf_conn_request_reset(&rq);

        memset(&rep, 0, sizeof(rep));
        rep.status = statuses[data[off] % XF_ARRAY_LEN(statuses)];
        if (data[off] >= 0xF0) /* any status at all */
            rep.status = (long)data[off] * 3 - 200;
        hbits = data[off + 1];
        blen = ((size_t)data[off + 2] << 8) | data[off + 3];
        off += 4;
        if (blen > size - off)
            blen = size - off;
        for (size_t i = 0; i < XF_ARRAY_LEN(header_pool) && i < 8; i++) {
            if (hbits & (1u << i))
                hdrs[nh++] = header_pool[i];
        }
        /* a body in its own allocation, NUL-terminated as the transport's always is */
        body = malloc(blen + 1);
        if (blen)
            memcpy(body, data + off, blen);
        body[blen] = '\0';
        off += blen;
        rep.body = body;
        rep.body_len = blen;
        rep.headers = hdrs;
        rep.n_headers = nh;
        rep.error = rep.status == 0 ? "fuzz: no answer" : NULL;
        memset(&out, 0, sizeof(out));
        rc = ops->on_reply(st, &a, &ctx, &rep, &out);
        free(body);
        if (rc)
            break;
        if (strnlen(out.why, sizeof(out.why)) == sizeof(out.why))
            abort();
        ctx.now_s += 2;
        if (out.step == XF_STEP_CONFIRMED || out.step == XF_STEP_FAILED)
            break;
        if (out.step == XF_STEP_POLL) {
            a.state = XF_AS_SENT;
        } else if (out.step == XF_STEP_RETRY && a.state != XF_AS_SENT) {
            a.state = XF_AS_APPROVED;
            a.phase = 0;
            a.polls = 0;
        }
    }
    ops->destroy(st);
    return 0;
}
