/*
 * support.c - the fixture the response service tests share (see support.h).
 *
 * What a reader must know: this file is linked into every unit.response.* executable (it is
 * not named test_*.c, so the CMakeLists does not make it a test of its own); the mock is a
 * separate Python process that prints "PORT <n>" once it listens, which is all we wait for.
 */
#define _GNU_SOURCE /* mkdtemp, nftw */
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "support.h"

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

struct fixture *fixture_open(const char *tag)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    fx->wait_ms = 10000;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/xf-%s-XXXXXX", tag);
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->db, sizeof(fx->db), "%s/db", fx->dir);
    snprintf(fx->audit, sizeof(fx->audit), "%s/audit.jsonl", fx->dir);
    assert_int_equal(xf_store_open(fx->db, NULL, &fx->st), 0);
    return fx;
}

void fixture_close(struct fixture *fx)
{
    xf_response_destroy(fx->r);
    xf_store_close(fx->st);
    if (fx->mock > 0) {
        kill(fx->mock, SIGKILL);
        waitpid(fx->mock, NULL, 0);
    }
    nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(fx);
}

int fixture_teardown(void **state)
{
    fixture_close(*state);
    return 0;
}

struct fixture *webhook_fixture_open(const char *tag, const char *secret_env, const char *secret)
{
    struct fixture *fx = fixture_open(tag);
    char body[256];

    setenv(secret_env, secret, 1);
    fx->wait_ms = 5000;
    mock_start(fx, "webhook");
    snprintf(body, sizeof(body), "{\"secret\":\"%s\"}", secret);
    ctl_post(fx, "/_mock/state", body);
    return fx;
}

/* ---- the mock vendor ----------------------------------------------------------------------- */

void mock_start(struct fixture *fx, const char *vendor)
{
    int pfd[2];
    char line[64] = "";
    FILE *f;

    assert_int_equal(pipe(pfd), 0);
    fx->mock = fork();
    assert_true(fx->mock >= 0);
    if (fx->mock == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execlp("python3", "python3", XF_MOCKVENDOR, "--vendor", vendor, "--port", "0",
               (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    f = fdopen(pfd[0], "r");
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_int_equal(sscanf(line, "PORT %d", &fx->port), 1);
    snprintf(fx->base, sizeof(fx->base), "http://127.0.0.1:%d", fx->port);
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    return xf_buf_append(ud, p, sz * n) == 0 ? sz * n : 0;
}

void ctl_raw(const struct fixture *fx, const char *path, const char *body, struct xf_buf *out)
{
    CURL *c = curl_easy_init();
    char url[128];

    xf_buf_init(out);
    snprintf(url, sizeof(url), "%s%s", fx->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
}

json_t *ctl(const struct fixture *fx, const char *path, const char *body)
{
    struct xf_buf b;
    json_t *j;

    ctl_raw(fx, path, body, &b);
    j = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
    xf_buf_close(&b);
    assert_non_null(j);
    return j;
}

void ctl_post(const struct fixture *fx, const char *path, const char *body)
{
    struct xf_buf b;

    ctl_raw(fx, path, body, &b);
    xf_buf_close(&b);
}

json_t *mock_state(const struct fixture *fx)
{
    return ctl(fx, "/_mock/state", NULL);
}

size_t mock_requests(const struct fixture *fx)
{
    json_t *j = ctl(fx, "/_mock/requests", NULL);
    size_t n = json_array_size(j);

    json_decref(j);
    return n;
}

int mock_int(const struct fixture *fx, const char *key)
{
    json_t *j = mock_state(fx);
    int v = (int)json_integer_value(json_object_get(j, key));

    json_decref(j);
    return v;
}

int mock_deliveries_of(const struct fixture *fx, const char *id)
{
    json_t *j = mock_state(fx);
    int v = (int)json_integer_value(json_object_get(json_object_get(j, "deliveries"), id));

    json_decref(j);
    return v;
}

void mock_isolated(const struct fixture *fx, char *out, size_t len)
{
    json_t *ms = mock_state(fx), *arr = json_object_get(ms, "isolated");
    size_t n = 0;

    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(arr); i++)
        n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s", i ? "," : "",
                              json_string_value(json_array_get(arr, i)));
    json_decref(ms);
}

void make_action_id(enum xf_action_kind kind, const char *inc, const char *host, const char *conn,
                    const char *salt, char *id)
{
    struct xf_action a;

    memset(&a, 0, sizeof(a));
    a.kind = kind;
    snprintf(a.incident, sizeof(a.incident), "%s", inc);
    snprintf(a.host, sizeof(a.host), "%s", host);
    snprintf(a.connector, sizeof(a.connector), "%s", conn);
    xf_action_make_id(&a, salt);
    memcpy(id, a.id, sizeof(a.id));
}

void service_stop(struct fixture *fx)
{
    xf_response_destroy(fx->r);
    fx->r = NULL;
}

void send_critical_incident(struct fixture *fx, const char *id, const char *hosts_json)
{
    char json[512];

    snprintf(json, sizeof(json),
             "{\"id\":\"%s\",\"severity\":\"critical\",\"score\":95,\"hosts\":%s,"
             "\"stages\":[\"execution\",\"c2\"]}",
             id, hosts_json);
    assert_int_equal(xf_response_incident(fx->r, json, strlen(json)), 0);
}

int get_action(struct fixture *fx, const char *id, struct xf_action *a)
{
    struct xf_resp_request q = {.op = XF_RESP_GET, .action_id = id};
    struct xf_buf b;
    int status = 0;

    xf_buf_init(&b);
    assert_int_equal(xf_response_request(fx->r, &q, &status, &b), 0);
    if (status == 200)
        assert_int_equal(xf_action_from_json(b.data, b.len, a), 0);
    xf_buf_close(&b);
    return status == 200;
}

void wait_state(struct fixture *fx, const char *id, enum xf_action_state want, struct xf_action *a)
{
    int64_t end = mono_ms() + fx->wait_ms;
    int seen = 0;

    while (mono_ms() < end) {
        seen |= get_action(fx, id, a);
        if (seen && a->state == want)
            return;
        sleep_ms(10);
    }
    if (!seen)
        fail_msg("action %s is unknown, not %s", id, xf_action_state_name(want));
    fail_msg("action %s is %s, not %s (%s)", id, xf_action_state_name(a->state),
             xf_action_state_name(want), a->last_error);
}

/* ---- time ---------------------------------------------------------------------------------- */

void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- a connector fed canned replies --------------------------------------------------------- */

void fx_conf(struct xf_connector_conf *c, const char *name, const char *type)
{
    memset(c, 0, sizeof(*c));
    c->name = xf_strdup(name);
    c->type = xf_strdup(type);
}

void conf_add(struct xf_connector_conf *c, const char *k, const char *v)
{
    c->params[c->n_params].key = xf_strdup(k);
    c->params[c->n_params].value = xf_strdup(v);
    c->n_params++;
}

void conf_dev(struct xf_connector_conf *c, const char *host, const char *id)
{
    c->devices[c->n_devices].host = xf_strdup(host);
    c->devices[c->n_devices].device_id = xf_strdup(id);
    c->n_devices++;
}

void conf_free(struct xf_connector_conf *c)
{
    for (size_t i = 0; i < c->n_params; i++) {
        xf_free(c->params[i].key);
        xf_free(c->params[i].value);
    }
    for (size_t i = 0; i < c->n_devices; i++) {
        xf_free(c->devices[i].host);
        xf_free(c->devices[i].device_id);
    }
    xf_free(c->name);
    xf_free(c->type);
    memset(c, 0, sizeof(*c));
}

struct fx *fx_open(const char *name, const char *type)
{
    struct fx *f = xf_calloc(1, sizeof(*f));

    assert_non_null(f);
    fx_conf(&f->conf, name, type);
    return f;
}

void fx_create(struct fx *f)
{
    char why[256] = "";

    f->ops = xf_connector_find(f->conf.type);
    assert_non_null(f->ops);
    if (f->ops->create(&f->conf, &f->st, why, sizeof(why)) != 0)
        fail_msg("create refused: %s", why);
}

void fx_close(struct fx *f)
{
    xf_conn_request_reset(&f->rq);
    if (f->ops)
        f->ops->destroy(f->st);
    conf_free(&f->conf);
    xf_free(f);
}

int fx_teardown(void **state)
{
    fx_close(*state);
    return 0;
}

void fx_next(struct fx *f)
{
    xf_conn_request_reset(&f->rq);
    assert_int_equal(f->ops->next(f->st, &f->a, &f->ctx, &f->rq), 0);
}

enum xf_conn_step fx_reply(struct fx *f, long status, const char *hdr, const char *body)
{
    const char *hdrs[1] = {hdr};
    struct xf_conn_reply r = {.status = status,
                              .body = body,
                              .body_len = body ? strlen(body) : 0,
                              .headers = hdrs,
                              .n_headers = hdr ? 1 : 0,
                              .error = status ? NULL : "connection refused"};

    assert_int_equal(f->ops->on_reply(f->st, &f->a, &f->ctx, &r, &f->oc), 0);
    return f->oc.step;
}

void expect_req(struct fx *f, int64_t now, const char *method, const char *url, const char *headers,
                const char *body)
{
    char joined[4096] = "";
    size_t n = 0;

    f->ctx.now_s = now;
    fx_next(f);
    assert_string_equal(f->rq.method, method);
    assert_string_equal(f->rq.url, url);
    for (size_t i = 0; i < f->rq.n_headers; i++)
        n += (size_t)snprintf(joined + n, sizeof(joined) - n, "%s%s", i ? "\n" : "",
                              f->rq.headers[i]);
    assert_string_equal(joined, headers);
    assert_string_equal(f->rq.body.len ? f->rq.body.data : "", body);
}

void reply(struct fx *f, int64_t now, long status, const char *hdr, const char *body,
           enum xf_conn_step want, struct xf_conn_outcome *out)
{
    f->ctx.now_s = now;
    if (fx_reply(f, status, hdr, body) != want)
        fail_msg("step %d, wanted %d (%s)", f->oc.step, want, f->oc.why);
    if (out)
        *out = f->oc;
}

void expect_token(struct fx *f, int64_t now, const char *url, const char *form, long status,
                  int expires_in, const char *tok)
{
    char body[128];

    expect_req(f, now, "POST", url,
               "Content-Type: application/x-www-form-urlencoded\nAccept: application/json", form);
    assert_int_equal(f->rq.is_token, 1);
    snprintf(body, sizeof(body), "{\"access_token\":\"%s\",\"expires_in\":%d}", tok, expires_in);
    reply(f, now, status, NULL, body, XF_STEP_NEXT, NULL);
}
