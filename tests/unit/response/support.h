/*
 * support.h - the fixture the response service tests share: a fresh store in a temporary
 * directory, one mock vendor process (tests/mockvendor/server.py, started on a free port) and
 * its /_mock control endpoints over libcurl, and waiting for an action to reach a state.
 *
 * What a reader must know: every helper asserts (cmocka) instead of returning errors, so a
 * test reads as its steps; fixture_close undoes whatever fixture_open and mock_start did.
 */
#ifndef XF_TEST_RESPONSE_SUPPORT_H
#define XF_TEST_RESPONSE_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "connector.h"
#include "xf/response.h"
#include "xf/store.h"

struct fixture {
    char dir[64];
    char db[96];
    char audit[96];
    struct xf_store *st;
    struct xf_response *r;
    pid_t mock; /* 0: no mock started */
    int port;
    char base[64]; /* the mock's http://127.0.0.1:<port> */
    int wait_ms;   /* how long wait_state waits; fixture_open sets 10 s */
};

/* A fixture with a fresh /tmp/xf-<tag>-XXXXXX holding the store (db) and audit path. */
struct fixture *fixture_open(const char *tag);
/* Stops the service and the mock, closes the store, removes the directory, frees fx. */
void fixture_close(struct fixture *fx);
/* fixture_close as a cmocka teardown. */
int fixture_teardown(void **state);
/* A fixture with the webhook receiver started, checking signatures with secret, which is also
 * put in the environment variable secret_env for the service's connector; waits up to 5 s. */
struct fixture *webhook_fixture_open(const char *tag, const char *secret_env, const char *secret);

/* Starts server.py --vendor vendor on a free port; fills port and base. */
void mock_start(struct fixture *fx, const char *vendor);
/* GET path when body is NULL, else POST body; the answer into out (caller xf_buf_close). */
void ctl_raw(const struct fixture *fx, const char *path, const char *body, struct xf_buf *out);
/* The same, the answer parsed as JSON (caller json_decref). */
json_t *ctl(const struct fixture *fx, const char *path, const char *body);
/* The same, the answer dropped. */
void ctl_post(const struct fixture *fx, const char *path, const char *body);
/* The mock's state (caller json_decref). */
json_t *mock_state(const struct fixture *fx);
/* How many requests the mock received (control requests aside). */
size_t mock_requests(const struct fixture *fx);
/* An integer of the mock's state, and the deliveries it counted for one webhook-id. */
int mock_int(const struct fixture *fx, const char *key);
int mock_deliveries_of(const struct fixture *fx, const char *id);
/* The mock's "isolated" list as "a,b" ("" when none). */
void mock_isolated(const struct fixture *fx, char *out, size_t len);

/* The id xf_action_make_id derives for kind on (incident, host) through conn, with salt. */
void make_action_id(enum xf_action_kind kind, const char *inc, const char *host, const char *conn,
                    const char *salt, char *id);
/* Destroys the running service (the store stays open for the next one). */
void service_stop(struct fixture *fx);
/* The action as the service reports it; 0 when it answers 404. */
int get_action(struct fixture *fx, const char *id, struct xf_action *a);
/* Hands the service a critical incident (stages execution, c2) over hosts_json, a JSON array. */
void send_critical_incident(struct fixture *fx, const char *id, const char *hosts_json);
/* Waits (fx->wait_ms at most) for the action to reach want; fails the test otherwise. */
void wait_state(struct fixture *fx, const char *id, enum xf_action_state want, struct xf_action *a);

void sleep_ms(int ms);
int64_t mono_ms(void);
int64_t wall_ms(void);

/* ---- a connector fed canned replies (test_conn_<vendor>.c) ----------------------------------- */

struct fx {
    struct xf_connector_conf conf;
    const struct xf_connector_ops *ops;
    void *st;
    struct xf_action a;
    struct xf_conn_ctx ctx; /* what next and on_reply see; expect_req and reply set its now_s */
    struct xf_conn_request rq;
    struct xf_conn_outcome oc; /* the last reply's outcome */
};

/* Empties c and names it (name, type); conf_add, conf_dev append; conf_free releases all of c. */
void fx_conf(struct xf_connector_conf *c, const char *name, const char *type);
void conf_add(struct xf_connector_conf *c, const char *k, const char *v);
void conf_dev(struct xf_connector_conf *c, const char *host, const char *id);
void conf_free(struct xf_connector_conf *c);
/* A harness whose conf is fx_conf(name, type); the connector is not created yet. */
struct fx *fx_open(const char *name, const char *type);
/* Creates the connector of f->conf's type from f->conf; fails the test if it refuses. */
void fx_create(struct fx *f);
/* Destroys the connector state, the last request and the conf; frees f. */
void fx_close(struct fx *f);
/* fx_close(*state), as a cmocka teardown. */
int fx_teardown(void **state);
/* Asks for the next request (f->ctx) into f->rq, unchecked. */
void fx_next(struct fx *f);
/* Feeds a reply (status 0: no answer; hdr: one header or NULL); the outcome into f->oc, its
 * step returned. */
enum xf_conn_step fx_reply(struct fx *f, long status, const char *hdr, const char *body);
/* At now: asks for the next request and checks it exactly; headers joined with '\n'. */
void expect_req(struct fx *f, int64_t now, const char *method, const char *url, const char *headers,
                const char *body);
/* At now: expects the OAuth token request (POST url, the form body) and answers it with status
 * and {"access_token":tok,"expires_in":expires_in}, which leads to the next request. */
void expect_token(struct fx *f, int64_t now, const char *url, const char *form, long status,
                  int expires_in, const char *tok);
/* At now: fx_reply, checking the step is want; the outcome also into out unless NULL. */
void reply(struct fx *f, int64_t now, long status, const char *hdr, const char *body,
           enum xf_conn_step want, struct xf_conn_outcome *out);

#endif
