/*
 * response.c - the response service: one thread running a libuv loop that plans actions from
 * incidents and API requests, keeps them in the outbox, and drives each through its connector.
 *
 * Other threads only queue work (an incident JSON, or a request they wait for on a condition
 * variable) and wake the loop with uv_async_send. The loop keeps in memory every pending
 * action (a `job`, with its timer) and every confirmed isolation not yet released (to refuse a
 * second isolation of the same host and to mark it released later); the outbox holds the
 * truth and rebuilds both at start.
 *
 * What a reader must know: every transition is written to the outbox (a synced put) BEFORE
 * the loop acts on it - an attempt is counted before its request leaves, "sent" is stored
 * before the first poll is scheduled, a release marks the isolations released before it is
 * itself confirmed. So after a kill -9 an approved action is sent again under the same id
 * (the receiver deduplicates by it) and a sent one resumes by polling, never by sending.
 *
 * Auto release (response.auto_release_after): one timer, armed for the earliest due entry of
 * the isolated list, plans a RELEASE for a confirmed policy isolation that long after its
 * confirmation (the isolate's updated_ms, so a restart finds the same due time). Its id is
 * salted with the isolate's id, so planning it again after a restart finds the stored one.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <uv.h>

#include "audit.h"
#include "connector.h"
#include "incindex.h"
#include "transport.h"
#include "xf/response.h"
#include "xf/store.h"

#define MAX_QUEUED 65536  /* incidents waiting for the loop; beyond, new ones are dropped */
#define BLOCKED_SEEN 1024 /* (incident, host) pairs whose "blocked" line was written */
#define PERSIST_RETRY_MS 1000
#define MAX_IDEM_KEY 128 /* bytes of an Idempotency-Key, as the API checks them */
#define AUTO_RELEASE_BY "policy:auto_release"
#define AUTO_RELEASE_WAIT_MS 1000 /* another action is pending for the host: look again then */

struct conn {
    const struct xf_connector_ops *ops;
    void *state;
    const struct xf_connector_conf *conf; /* in r->conf */
    unsigned kinds;                       /* ops->kinds narrowed by the `actions` key */
    struct xf_transport_opts topts;
};

/* A pending action. Freed in its timer's close callback once the timer was initialised. */
struct job {
    struct job *next;
    struct xf_response *r;
    struct xf_action a;
    struct conn *c; /* NULL: its connector is no longer configured; the job only waits */
    uv_timer_t timer;
    int in_flight;
    int counted;   /* this attempt's first request was counted in a.attempts */
    int unstored;  /* a's current state failed to reach the outbox: store it before acting */
    char *payload; /* NOTIFY: the incident JSON to send */
    size_t payload_len;
    char *next_payload; /* NOTIFY: a newer version, planned once this one is done */
    size_t next_payload_len;
};

/* A confirmed isolation, until a confirmed release of the same host and connector. */
struct isolated {
    struct isolated *next;
    char id[XF_ACTION_ID_LEN];
    char incident[32];
    char host[256];
    char connector[64];
    int64_t confirmed_ms;  /* the isolate's updated_ms when it was confirmed */
    int64_t release_at_ms; /* auto release due (wall clock); 0: never, or planned already */
};

enum item_type { ITEM_INCIDENT, ITEM_REQUEST };

struct item {
    struct item *next;
    enum item_type type;
    char *json; /* ITEM_INCIDENT, owned */
    size_t len;
    const struct xf_resp_request *req; /* ITEM_REQUEST: the caller's, it waits for done */
    int status;
    struct xf_buf *body;
    int rc;
    int done;
};

struct xf_response {
    struct xf_response_conf conf;
    struct xf_store *st;
    struct xf_outbox *ob;
    struct xf_incindex *ix; /* incident -> its actions, for the API (any thread) */
    struct xf_audit *audit;
    struct conn conns[XF_RESP_MAX_CONNECTORS];
    size_t n_conns;

    uv_loop_t loop;
    uv_async_t wake;
    struct xf_transport *tp;
    pthread_t thread;
    int wake_ready, thread_started;

    pthread_mutex_t mu; /* guards the queue, stopping and stats */
    pthread_cond_t cv;
    struct item *head, *tail;
    size_t queued;
    int stopping;
    struct xf_response_stats stats;

    /* loop thread only */
    struct job *jobs;
    size_t n_jobs;
    struct isolated *isolated;
    uv_timer_t autorel; /* auto release: armed for the earliest release_at_ms */
    int autorel_ready;
    struct xf_rate rate;
    uint64_t blocked_seen[BLOCKED_SEEN];
    size_t blocked_next;
    uint64_t seq;
};

#define STAT_ADD(r, field, n)                                                                      \
    do {                                                                                           \
        pthread_mutex_lock(&(r)->mu);                                                              \
        (r)->stats.field += (n);                                                                   \
        pthread_mutex_unlock(&(r)->mu);                                                            \
    } while (0)

static void job_step(struct job *j);

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double rnd01(struct xf_response *r)
{
    /* jitter only: a cheap generator seeded per service is enough */
    r->seq = r->seq * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(r->seq >> 11) / (double)(1ULL << 53);
}

/* ---- audit ------------------------------------------------------------------------------- */

static void audit_action(struct xf_response *r, const struct xf_action *a, const char *verb,
                         const char *outcome, const char *state, const char *actor,
                         const char *reason)
{
    struct xf_audit_rec rec = {
        .action = verb ? verb : xf_action_kind_name(a->kind),
        .outcome = outcome,
        .host = a->host[0] ? a->host : NULL,
        .action_id = a->id[0] ? a->id : NULL,
        .state = state ? state : xf_action_state_name(a->state),
        .connector = a->connector[0] ? a->connector : NULL,
        .incident = a->incident,
        .actor = actor ? actor : a->requested_by,
        .reason = reason ? reason : a->reason,
    };

    xf_audit_write(r->audit, &rec);
}

int xf_response_audit(struct xf_response *r, const char *action, const char *outcome,
                      const char *actor, const char *detail_json)
{
    struct xf_audit_rec rec = {
        .action = action,
        .outcome = outcome,
        .actor = actor,
        .detail_json = detail_json,
    };

    if (!r || !action)
        return XF_EINVAL;
    return xf_audit_write(r->audit, &rec);
}

/* ---- jobs -------------------------------------------------------------------------------- */

static void on_job_closed(uv_handle_t *h)
{
    struct job *j = h->data;

    xf_free(j->payload);
    xf_free(j->next_payload);
    xf_free(j);
}

static void job_unlink(struct job *j)
{
    struct xf_response *r = j->r;

    for (struct job **p = &r->jobs; *p; p = &(*p)->next) {
        if (*p == j) {
            *p = j->next;
            r->n_jobs--;
            break;
        }
    }
    j->next = NULL;
    pthread_mutex_lock(&r->mu);
    r->stats.pending = r->n_jobs;
    pthread_mutex_unlock(&r->mu);
}

/* Unlinks and frees (through the timer's close callback). */
static void job_drop(struct job *j)
{
    job_unlink(j);
    uv_timer_stop(&j->timer);
    uv_close((uv_handle_t *)&j->timer, on_job_closed);
}

static struct conn *conn_by_name(struct xf_response *r, const char *name)
{
    for (size_t i = 0; i < r->n_conns; i++) {
        if (strcmp(r->conns[i].conf->name, name) == 0)
            return &r->conns[i];
    }
    return NULL;
}

static struct job *job_add(struct xf_response *r, const struct xf_action *a)
{
    struct job *j = xf_calloc(1, sizeof(*j));

    if (!j)
        return NULL;
    j->r = r;
    j->a = *a;
    j->c = conn_by_name(r, a->connector);
    if (!j->c)
        XF_WARN("response: action %s names connector %s, which is not configured; it stays "
                "%s",
                a->id, a->connector, xf_action_state_name(a->state));
    uv_timer_init(&r->loop, &j->timer);
    j->timer.data = j;
    j->next = r->jobs;
    r->jobs = j;
    r->n_jobs++;
    pthread_mutex_lock(&r->mu);
    r->stats.pending = r->n_jobs;
    pthread_mutex_unlock(&r->mu);
    return j;
}

static struct job *job_find(struct xf_response *r, const char *id)
{
    for (struct job *j = r->jobs; j; j = j->next) {
        if (strcmp(j->a.id, id) == 0)
            return j;
    }
    return NULL;
}

/* Length of host without one trailing dot ("ws01." is the root-anchored "ws01"). */
static size_t host_len(const char *h)
{
    size_t n = strlen(h);

    return n > 0 && h[n - 1] == '.' ? n - 1 : n;
}

/* Case, one trailing dot aside, the same name: what a vendor resolves to one device. */
static int host_eq(const char *x, const char *y)
{
    size_t nx = host_len(x), ny = host_len(y);

    return nx == ny && strncasecmp(x, y, nx) == 0;
}

/* Could x and y name one machine? Also a short name and an FQDN whose first label it is
 * ("ws01" and "WS01.corp.example."). Used to refuse a second action for a host, so it errs
 * towards "the same". */
static int host_same(const char *x, const char *y)
{
    size_t nx = host_len(x), ny = host_len(y);
    const char *dx = memchr(x, '.', nx), *dy = memchr(y, '.', ny);

    if (host_eq(x, y))
        return 1;
    if (!dx && dy)
        return (size_t)(dy - y) == nx && strncasecmp(x, y, nx) == 0;
    if (dx && !dy)
        return (size_t)(dx - x) == ny && strncasecmp(x, y, ny) == 0;
    return 0;
}

/* A name a vendor query cannot widen: letters, digits, '.', '-', '_', ':' (IPv6), at most 253
 * bytes. A '*', a quote or a space could turn a host lookup (CrowdStrike FQL, Vision One
 * endpointName) into a pattern that resolves to some other, maybe protected, machine. */
static int host_name_ok(const char *h)
{
    size_t n = strlen(h);

    if (n == 0 || n > 253 || h[0] == '.' || h[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == ':'))
            return 0;
    }
    return 1;
}

/* A pending isolate or release of host (or of another name of it), or NULL. */
static struct job *job_pending_host(struct xf_response *r, const char *host)
{
    for (struct job *j = r->jobs; j; j = j->next) {
        if (j->a.kind != XF_ACT_NOTIFY && host_same(j->a.host, host))
            return j;
    }
    return NULL;
}

static int persist(struct xf_response *r, struct xf_action *a);
static void job_retry_later(struct job *j);

static void on_job_timer(uv_timer_t *h)
{
    struct job *j = h->data;

    /* never send on the strength of a state the outbox does not hold: a crash would then
     * resume from an older state than the vendor saw */
    if (j->unstored) {
        if (persist(j->r, &j->a) != 0) {
            job_retry_later(j);
            return;
        }
        j->unstored = 0;
    }
    job_step(j);
}

/* Arms the timer for what the job waits for: a send or a poll at a.next_at_ms. */
static void job_schedule(struct job *j)
{
    int64_t delay;

    if (!j->c || (j->a.state != XF_AS_APPROVED && j->a.state != XF_AS_SENT))
        return;
    delay = j->a.next_at_ms - now_ms();
    uv_timer_start(&j->timer, on_job_timer, delay > 0 ? (uint64_t)delay : 0, 0);
}

static int persist(struct xf_response *r, struct xf_action *a)
{
    int rc;

    a->updated_ms = now_ms();
    if ((rc = xf_outbox_put(r->ob, a)))
        XF_ERROR("response: cannot store action %s (%s): %s", a->id, xf_action_state_name(a->state),
                 xf_strerror(rc));
    else if (xf_incindex_add(r->ix, a->incident, a->id))
        XF_WARN("response: out of memory indexing action %s", a->id); /* only the API view */
    return rc;
}

/* The outbox could not take a transition: store it again, then act, later. */
static void job_retry_later(struct job *j)
{
    j->unstored = 1;
    j->a.next_at_ms = now_ms() + PERSIST_RETRY_MS;
    uv_timer_start(&j->timer, on_job_timer, PERSIST_RETRY_MS, 0);
}

static void autorel_arm(struct xf_response *r);

static void isolated_add(struct xf_response *r, const struct xf_action *a)
{
    const struct xf_policy_conf *p = &r->conf.policy;
    struct isolated *s = xf_calloc(1, sizeof(*s));

    if (!s)
        return;
    snprintf(s->id, sizeof(s->id), "%s", a->id);
    snprintf(s->incident, sizeof(s->incident), "%s", a->incident);
    snprintf(s->host, sizeof(s->host), "%s", a->host);
    snprintf(s->connector, sizeof(s->connector), "%s", a->connector);
    s->confirmed_ms = a->updated_ms;
    /* only what the policy decided is undone by the policy: an analyst's isolation stays
     * until an analyst releases it */
    if (p->auto_release_after_ms > 0 && p->mode != XF_MODE_OFF &&
        strcmp(a->requested_by, "policy") == 0) {
        int64_t at = a->updated_ms > 0 ? a->updated_ms : 0;

        s->release_at_ms =
            at > INT64_MAX - p->auto_release_after_ms ? INT64_MAX : at + p->auto_release_after_ms;
    }
    s->next = r->isolated;
    r->isolated = s;
    if (s->release_at_ms)
        autorel_arm(r);
}

static int host_isolated(struct xf_response *r, const char *host)
{
    for (struct isolated *s = r->isolated; s; s = s->next) {
        if (host_same(s->host, host))
            return 1;
    }
    return 0;
}

/* A confirmed release undoes the confirmed isolations of its host by its connector. */
static void mark_released(struct xf_response *r, const struct xf_action *rel)
{
    struct isolated **p = &r->isolated;

    while (*p) {
        struct isolated *s = *p;
        struct xf_action a;

        if (!host_eq(s->host, rel->host) || strcmp(s->connector, rel->connector) != 0) {
            p = &s->next;
            continue;
        }
        if (xf_outbox_get(r->ob, s->id, &a) == 0 && a.state == XF_AS_CONFIRMED) {
            a.state = XF_AS_RELEASED;
            snprintf(a.last_error, sizeof(a.last_error), "released by %s", rel->id);
            if (persist(r, &a) == 0)
                audit_action(r, &a, "release", "success", NULL, rel->requested_by, NULL);
        }
        *p = s->next;
        xf_free(s);
    }
}

static void notify_plan(struct xf_response *r, struct conn *c, const char *incident,
                        const char *json, size_t len);

/* A job reached CONFIRMED or FAILED: store it, tell the audit log, forget it. */
static void job_finish(struct job *j, enum xf_action_state state, const char *why)
{
    struct xf_response *r = j->r;
    struct xf_action *a = &j->a;
    struct conn *c = j->c;

    if (state == XF_AS_CONFIRMED && a->kind == XF_ACT_RELEASE)
        mark_released(r, a);
    a->state = state;
    if (why)
        snprintf(a->last_error, sizeof(a->last_error), "%s", why);
    /* a failed put leaves the older state stored: after a restart the action is resumed and the
     * receiver sees the same id again, which it honours */
    persist(r, a);
    if (state == XF_AS_CONFIRMED) {
        STAT_ADD(r, confirmed, 1);
        audit_action(r, a, NULL, "success", NULL, NULL, NULL);
        XF_INFO("response: %s %s via %s confirmed (%s)", xf_action_kind_name(a->kind),
                a->kind == XF_ACT_NOTIFY ? a->incident : a->host, a->connector, a->id);
        if (a->kind == XF_ACT_ISOLATE)
            isolated_add(r, a);
    } else {
        STAT_ADD(r, failed, 1);
        audit_action(r, a, NULL, "failure", NULL, NULL, a->last_error);
        XF_ERROR("response: ALERT: %s %s via %s failed after %d attempts: %s (%s)",
                 xf_action_kind_name(a->kind), a->kind == XF_ACT_NOTIFY ? a->incident : a->host,
                 a->connector, a->attempts, a->last_error, a->id);
    }
    if (a->kind == XF_ACT_NOTIFY && j->next_payload && c) {
        char *np = j->next_payload;
        size_t nl = j->next_payload_len;
        char inc[sizeof(a->incident)];

        j->next_payload = NULL;
        memcpy(inc, a->incident, sizeof(inc));
        job_drop(j);
        notify_plan(r, c, inc, np, nl);
        xf_free(np);
        return;
    }
    job_drop(j);
}

/* A transient failure: again after a back-off, or FAILED when the attempts are used up. */
static void job_retry(struct job *j, int64_t retry_after_ms, const char *why)
{
    struct xf_response *r = j->r;
    struct xf_action *a = &j->a;
    int64_t delay;

    snprintf(a->last_error, sizeof(a->last_error), "%s", why);
    if (a->attempts >= r->conf.policy.max_attempts) {
        job_finish(j, XF_AS_FAILED, why);
        return;
    }
    STAT_ADD(r, retries, 1);
    delay = xf_backoff_ms(&r->conf.policy, a->attempts, rnd01(r));
    if (retry_after_ms > delay)
        delay = retry_after_ms;
    a->state = XF_AS_APPROVED;
    a->phase = 0;
    a->polls = 0;
    a->next_at_ms = now_ms() + delay;
    j->counted = 0;
    XF_WARN("response: %s %s via %s: attempt %d: %s; again in %lld ms (%s)",
            xf_action_kind_name(a->kind), a->kind == XF_ACT_NOTIFY ? a->incident : a->host,
            a->connector, a->attempts, why, (long long)delay, a->id);
    if (persist(r, a) != 0) {
        job_retry_later(j);
        return;
    }
    job_schedule(j);
}

static void on_job_reply(const struct xf_conn_reply *reply, void *ud)
{
    struct job *j = ud;
    struct xf_response *r = j->r;
    struct xf_policy_conf *p = &r->conf.policy;
    struct xf_conn_ctx ctx = {j->payload, j->payload_len, now_ms() / 1000};
    struct xf_conn_outcome out;
    struct xf_action *a = &j->a;
    int rc;

    j->in_flight = 0;
    memset(&out, 0, sizeof(out));
    if ((rc = j->c->ops->on_reply(j->c->state, a, &ctx, reply, &out))) {
        out.step = XF_STEP_FAILED;
        snprintf(out.why, sizeof(out.why), "connector could not read the answer: %s",
                 xf_strerror(rc));
    }
    switch (out.step) {
    case XF_STEP_NEXT:
        if (persist(r, a) != 0) {
            job_retry_later(j);
            return;
        }
        uv_timer_start(&j->timer, on_job_timer, 0, 0);
        return;
    case XF_STEP_POLL:
        if (a->state != XF_AS_SENT) {
            a->state = XF_AS_SENT;
            a->polls = 0;
        } else if (++a->polls >= p->max_polls) {
            job_retry(j, 0, "status polls exhausted");
            return;
        }
        a->next_at_ms = now_ms() + p->poll_interval_ms;
        if (persist(r, a) != 0) {
            job_retry_later(j);
            return;
        }
        job_schedule(j);
        return;
    case XF_STEP_CONFIRMED:
        job_finish(j, XF_AS_CONFIRMED, NULL);
        return;
    case XF_STEP_RETRY:
        if (a->state == XF_AS_SENT && ++a->polls < p->max_polls) {
            /* the action is with the vendor: a failed status poll is polled again, not resent */
            int64_t delay =
                out.retry_after_ms > p->poll_interval_ms ? out.retry_after_ms : p->poll_interval_ms;

            STAT_ADD(r, retries, 1);
            snprintf(a->last_error, sizeof(a->last_error), "%s", out.why);
            a->next_at_ms = now_ms() + delay;
            if (persist(r, a) != 0) {
                job_retry_later(j);
                return;
            }
            job_schedule(j);
            return;
        }
        job_retry(j, out.retry_after_ms, out.why);
        return;
    case XF_STEP_FAILED:
    default:
        job_finish(j, XF_AS_FAILED, out.why);
        return;
    }
}

/* The NOTIFY payload after a restart: the incident as stored now. */
static int job_load_payload(struct job *j)
{
    char *json = NULL;
    size_t len = 0;
    int rc;

    if (j->payload)
        return 0;
    if ((rc = xf_store_incident_get(j->r->st, j->a.incident, &json, &len)))
        return rc;
    j->payload = json;
    j->payload_len = len;
    return 0;
}

static void job_step(struct job *j)
{
    struct xf_response *r = j->r;
    struct xf_action *a = &j->a;
    struct xf_conn_request rq;
    struct xf_conn_ctx ctx;
    int rc;

    if (j->in_flight || !j->c || (a->state != XF_AS_APPROVED && a->state != XF_AS_SENT))
        return;
    /* checked again before every send, not only when planned: the protected list may have
     * grown since (a restart with a new config resumes approved actions from the outbox) */
    if (a->kind == XF_ACT_ISOLATE && a->state == XF_AS_APPROVED &&
        (xf_policy_host_protected(&r->conf.policy, a->host) || !host_name_ok(a->host))) {
        STAT_ADD(r, blocked_protected, 1);
        job_finish(j, XF_AS_FAILED,
                   host_name_ok(a->host) ? "the host is protected" : "not a plain host name");
        return;
    }
    if (a->kind == XF_ACT_NOTIFY && (rc = job_load_payload(j))) {
        job_finish(j, XF_AS_FAILED, "the incident is not in the store");
        return;
    }
    ctx.payload = j->payload;
    ctx.payload_len = j->payload_len;
    ctx.now_s = now_ms() / 1000;
    memset(&rq, 0, sizeof(rq));
    xf_buf_init(&rq.body);
    if ((rc = j->c->ops->next(j->c->state, a, &ctx, &rq)) == XF_EAGAIN) {
        /* the connector's own rate limit: later, no attempt counted, phase kept */
        int64_t defer = rq.defer_ms > 0 ? rq.defer_ms : PERSIST_RETRY_MS;

        xf_conn_request_reset(&rq);
        a->next_at_ms = now_ms() + defer;
        uv_timer_start(&j->timer, on_job_timer, (uint64_t)defer, 0);
        return;
    }
    if (rc) {
        char why[128];

        xf_conn_request_reset(&rq);
        snprintf(why, sizeof(why), "connector could not build the request: %s", xf_strerror(rc));
        job_finish(j, XF_AS_FAILED, why);
        return;
    }
    if (!rq.is_token && a->state == XF_AS_APPROVED && !j->counted) {
        /* counted and stored before the request leaves, so a crash loop cannot send forever */
        a->attempts++;
        j->counted = 1;
        if (persist(r, a) != 0) {
            a->attempts--;
            j->counted = 0;
            xf_conn_request_reset(&rq);
            job_retry_later(j);
            return;
        }
        STAT_ADD(r, sent, 1);
        if (a->attempts == 1)
            audit_action(r, a, NULL, "unknown", "sending", NULL, NULL);
    }
    rc = xf_transport_send(r->tp, &rq, &j->c->topts, on_job_reply, j);
    xf_conn_request_reset(&rq);
    if (rc) {
        XF_ERROR("response: cannot start a request for %s: %s", a->id, xf_strerror(rc));
        job_retry_later(j);
        return;
    }
    j->in_flight = 1;
    STAT_ADD(r, http_requests, 1);
}

/* ---- planning ---------------------------------------------------------------------------- */

/* Plans one action: nothing when its id is already in the outbox (*existed = 1, *out filled).
 * Otherwise stores it in `state`, audits it, and starts driving it if it is approved. */
static int plan(struct xf_response *r, struct xf_action *a, const char *salt,
                enum xf_action_state state, struct job **job_out, int *existed)
{
    struct job *j;
    int rc;

    *existed = 0;
    if (job_out)
        *job_out = NULL;
    xf_action_make_id(a, salt);
    rc = xf_outbox_get(r->ob, a->id, a);
    if (rc == 0) {
        *existed = 1;
        return 0;
    }
    if (rc != XF_ENOTFOUND)
        return rc;
    a->state = state;
    a->created_ms = now_ms();
    a->next_at_ms = a->created_ms;
    if ((rc = persist(r, a)))
        return rc;
    if (state == XF_AS_DRY_RUN)
        STAT_ADD(r, dry_run, 1);
    else
        STAT_ADD(r, planned, 1);
    audit_action(r, a, NULL, "unknown", NULL, NULL, NULL);
    if (!xf_action_state_pending(state))
        return 0;
    if (!(j = job_add(r, a)))
        return XF_ENOMEM;
    if (job_out)
        *job_out = j;
    job_schedule(j);
    return 0;
}

static void fill_action(struct xf_action *a, enum xf_action_kind kind, const char *incident,
                        const char *host, const struct conn *c, const char *by, const char *reason)
{
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    snprintf(a->incident, sizeof(a->incident), "%s", incident ? incident : "");
    snprintf(a->host, sizeof(a->host), "%s", host ? host : "");
    snprintf(a->connector, sizeof(a->connector), "%s", c->conf->name);
    snprintf(a->requested_by, sizeof(a->requested_by), "%s", by ? by : "policy");
    snprintf(a->reason, sizeof(a->reason), "%s", reason ? reason : "");
}

/* One notification per incident version and connector, at most one of them in flight; a
 * newer version waits on the pending one and is planned when it is done. */
static void notify_plan(struct xf_response *r, struct conn *c, const char *incident,
                        const char *json, size_t len)
{
    struct xf_action a;
    struct job *j;
    char salt[17];
    uint64_t h = xf_hash64(json, len);
    int existed;

    snprintf(salt, sizeof(salt), "%016llx", (unsigned long long)h);
    for (j = r->jobs; j; j = j->next) {
        if (j->a.kind == XF_ACT_NOTIFY && j->c == c && strcmp(j->a.incident, incident) == 0)
            break;
    }
    if (j) {
        if (j->a.payload_hash == h)
            return;
        xf_free(j->next_payload);
        j->next_payload = xf_strndup(json, len);
        j->next_payload_len = j->next_payload ? len : 0;
        return;
    }
    fill_action(&a, XF_ACT_NOTIFY, incident, "", c, "policy", "incident new or updated");
    a.payload_hash = h;
    if (plan(r, &a, salt, XF_AS_APPROVED, &j, &existed) != 0 || !j)
        return;
    if ((j->payload = xf_strndup(json, len)))
        j->payload_len = len;
}

static int blocked_seen(struct xf_response *r, const char *incident, const char *host)
{
    uint64_t h = xf_hash64_seed(host, strlen(host), xf_hash64(incident, strlen(incident)));

    for (size_t i = 0; i < BLOCKED_SEEN; i++) {
        if (r->blocked_seen[i] == h)
            return 1;
    }
    r->blocked_seen[r->blocked_next++ % BLOCKED_SEEN] = h;
    return 0;
}

static enum xf_action_state policy_state(const struct xf_response *r)
{
    switch (r->conf.policy.mode) {
    case XF_MODE_AUTO:
        return XF_AS_APPROVED;
    case XF_MODE_DRY_RUN:
        return XF_AS_DRY_RUN;
    default:
        return XF_AS_PLANNED;
    }
}

static void isolate_host(struct xf_response *r, const struct xf_incident_summary *s,
                         const char *host)
{
    struct xf_policy_conf *p = &r->conf.policy;
    struct xf_action acts[XF_RESP_MAX_CONNECTORS];
    size_t n = 0;
    char reason[256];
    struct xf_action probe;

    snprintf(reason, sizeof(reason), "incident %s severity rank %d score %d", s->id, s->severity,
             s->score);
    if (xf_policy_host_protected(p, host) || !host_name_ok(host)) {
        if (!blocked_seen(r, s->id, host)) {
            struct xf_audit_rec rec = {.action = "isolate",
                                       .outcome = "failure",
                                       .host = host,
                                       .state = "blocked",
                                       .incident = s->id,
                                       .actor = "policy",
                                       .reason = host_name_ok(host) ? "protected host"
                                                                    : "not a plain host name"};

            STAT_ADD(r, blocked_protected, 1);
            xf_audit_write(r->audit, &rec);
            XF_WARN("response: %s of %s is protected or not a plain host name: not isolated", host,
                    s->id);
        }
        return;
    }
    for (size_t i = 0; i < r->n_conns; i++) {
        struct conn *c = &r->conns[i];

        if (!(c->kinds & (1u << XF_ACT_ISOLATE)))
            continue;
        fill_action(&acts[n], XF_ACT_ISOLATE, s->id, host, c, "policy", reason);
        probe = acts[n];
        xf_action_make_id(&probe, "");
        if (xf_outbox_get(r->ob, probe.id, &probe) == 0)
            continue; /* planned before (a restart hands every incident over again) */
        n++;
    }
    if (!n)
        return;
    if (job_pending_host(r, host)) {
        XF_DEBUG("response: %s already has a pending action; %s plans none", host, s->id);
        return;
    }
    if (host_isolated(r, host)) {
        XF_DEBUG("response: %s is isolated already; %s plans none", host, s->id);
        return;
    }
    if (!xf_rate_take(&r->rate, p, now_ms())) {
        if (!blocked_seen(r, s->id, host)) {
            struct xf_audit_rec rec = {.action = "isolate",
                                       .outcome = "failure",
                                       .host = host,
                                       .state = "rate_limited",
                                       .incident = s->id,
                                       .actor = "policy",
                                       .reason = "action rate limit"};

            STAT_ADD(r, rate_limited, 1);
            xf_audit_write(r->audit, &rec);
            XF_WARN("response: rate limit: %s of %s not isolated now", host, s->id);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int existed;

        plan(r, &acts[i], "", policy_state(r), NULL, &existed);
    }
}

/* ---- auto release ------------------------------------------------------------------------ */

static void on_autorel(uv_timer_t *h);

/* Arms the one auto-release timer for the earliest due isolation (or stops it: none due). */
static void autorel_arm(struct xf_response *r)
{
    int64_t next = INT64_MAX, delay;

    if (!r->autorel_ready || uv_is_closing((uv_handle_t *)&r->autorel))
        return;
    for (struct isolated *s = r->isolated; s; s = s->next) {
        if (s->release_at_ms && s->release_at_ms < next)
            next = s->release_at_ms;
    }
    if (next == INT64_MAX) {
        uv_timer_stop(&r->autorel);
        return;
    }
    delay = next - now_ms();
    uv_timer_start(&r->autorel, on_autorel, delay > 0 ? (uint64_t)delay : 0, 0);
}

/* A pending action that should hold an auto release of host back: any but another auto
 * release (the same host isolated through two connectors is released through both). */
static int autorel_blocked(struct xf_response *r, const char *host)
{
    for (struct job *j = r->jobs; j; j = j->next) {
        if (j->a.kind != XF_ACT_NOTIFY && host_same(j->a.host, host) &&
            strcmp(j->a.requested_by, AUTO_RELEASE_BY) != 0)
            return 1;
    }
    return 0;
}

/* Plans the release of one due isolation through the connector that isolated it. Returns 0
 * when it is settled (planned now or before, or impossible), 1 to look again later. */
static int autorel_plan(struct xf_response *r, struct isolated *s, int64_t now)
{
    struct conn *c = conn_by_name(r, s->connector);
    struct xf_action a;
    char salt[8 + XF_ACTION_ID_LEN], reason[256];
    int existed, rc;

    if (!c || !(c->kinds & (1u << XF_ACT_RELEASE))) {
        XF_WARN("response: %s (isolated by %s) is due for auto release, but connector %s %s; "
                "release it by hand",
                s->host, s->id, s->connector, c ? "does not release hosts" : "is not configured");
        return 0;
    }
    snprintf(reason, sizeof(reason),
             "auto release: isolation %s (incident %s) confirmed %llds ago, "
             "response.auto_release_after %llds",
             s->id, s->incident[0] ? s->incident : "-", (long long)((now - s->confirmed_ms) / 1000),
             (long long)(r->conf.policy.auto_release_after_ms / 1000));
    fill_action(&a, XF_ACT_RELEASE, s->incident, s->host, c, AUTO_RELEASE_BY, reason);
    snprintf(salt, sizeof(salt), "auto:%s", s->id);
    /* planned before (a restart): whatever became of it (pending, denied, failed), it is not
     * planned twice; an analyst can still release by hand */
    xf_action_make_id(&a, salt);
    if (xf_outbox_get(r->ob, a.id, &a) == 0)
        return 0;
    if (autorel_blocked(r, s->host))
        return 1;
    fill_action(&a, XF_ACT_RELEASE, s->incident, s->host, c, AUTO_RELEASE_BY, reason);
    if ((rc = plan(r, &a, salt, policy_state(r), NULL, &existed))) {
        XF_ERROR("response: cannot plan the auto release of %s: %s", s->host, xf_strerror(rc));
        return 1;
    }
    XF_INFO("response: auto release of %s via %s planned (%s, %s)", s->host, s->connector, a.id,
            xf_action_state_name(a.state));
    return 0;
}

static void on_autorel(uv_timer_t *h)
{
    struct xf_response *r = h->data;
    int64_t now = now_ms();

    if (r->conf.policy.mode == XF_MODE_OFF)
        return;
    for (struct isolated *s = r->isolated; s; s = s->next) {
        if (!s->release_at_ms || s->release_at_ms > now)
            continue;
        /* plan() may confirm nothing synchronously, so the list does not change under us */
        if (autorel_plan(r, s, now))
            s->release_at_ms = now + AUTO_RELEASE_WAIT_MS;
        else
            s->release_at_ms = 0;
    }
    autorel_arm(r);
}

static void handle_incident(struct xf_response *r, const char *json, size_t len)
{
    struct xf_incident_summary s;

    if (r->conf.policy.mode == XF_MODE_OFF)
        return;
    memset(&s, 0, sizeof(s));
    if (xf_incident_summary_parse(json, len, &s) != 0) {
        XF_WARN("response: an incident that does not parse was ignored");
        return;
    }
    if (r->conf.policy.notify_incidents) {
        for (size_t i = 0; i < r->n_conns; i++) {
            if (r->conns[i].kinds & (1u << XF_ACT_NOTIFY))
                notify_plan(r, &r->conns[i], s.id, json, len);
        }
    }
    if (xf_policy_incident_qualifies(&r->conf.policy, &s)) {
        for (size_t i = 0; i < s.n_hosts; i++)
            isolate_host(r, &s, s.hosts[i]);
    }
    xf_incident_summary_close(&s);
}

/* ---- requests ---------------------------------------------------------------------------- */

static int error_body(struct xf_buf *b, const char *code, const char *msg,
                      const struct xf_action *a)
{
    json_t *o = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
    char *s;
    int rc;

    if (!o)
        return XF_ENOMEM;
    s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s)
        return XF_ENOMEM;
    if (a) {
        /* {"error":{...},"action":{...}} */
        s[strlen(s) - 1] = '\0';
        rc = xf_buf_appends(b, s);
        rc = rc ? rc : xf_buf_appends(b, ",\"action\":");
        rc = rc ? rc : xf_action_to_json(a, b);
        rc = rc ? rc : xf_buf_appends(b, "}");
    } else {
        rc = xf_buf_appends(b, s);
    }
    free(s);
    return rc;
}

static void manual(struct xf_response *r, struct item *it, enum xf_action_kind kind)
{
    const struct xf_resp_request *q = it->req;
    struct xf_action first, a;
    struct job *pend;
    char salt[160];
    int n = 0, created = 0, existed;

    memset(&first, 0, sizeof(first));
    if (!q->host || !*q->host || strlen(q->host) >= sizeof(a.host)) {
        it->status = 400;
        it->rc = error_body(it->body, "bad_request", "a host name is required", NULL);
        return;
    }
    if (!host_name_ok(q->host)) {
        it->status = 400;
        it->rc = error_body(it->body, "bad_request",
                            "a host name has only letters, digits, '.', '-', '_' and ':'", NULL);
        return;
    }
    /* the API lets keys of up to 128 bytes through; the id is a hash, so any length fits */
    if (q->idem_key && strlen(q->idem_key) > MAX_IDEM_KEY) {
        it->status = 400;
        it->rc = error_body(it->body, "bad_request", "Idempotency-Key is too long", NULL);
        return;
    }
    if (q->idem_key)
        snprintf(salt, sizeof(salt), "%s", q->idem_key);
    else
        snprintf(salt, sizeof(salt), "manual-%lld-%llu", (long long)now_ms(),
                 (unsigned long long)++r->seq);
    if (kind == XF_ACT_ISOLATE && xf_policy_host_protected(&r->conf.policy, q->host)) {
        struct xf_audit_rec rec = {.action = "isolate",
                                   .outcome = "failure",
                                   .host = q->host,
                                   .state = "blocked",
                                   .actor = q->actor,
                                   .reason = "protected host"};

        STAT_ADD(r, blocked_protected, 1);
        xf_audit_write(r->audit, &rec);
        it->status = 409;
        it->rc = error_body(it->body, "host_protected", "the host is protected", NULL);
        return;
    }
    /* the same Idempotency-Key again: the action it made, whatever happened since */
    for (size_t i = 0; i < r->n_conns && q->idem_key; i++) {
        if (!(r->conns[i].kinds & (1u << kind)))
            continue;
        fill_action(&a, kind, "", q->host, &r->conns[i], q->actor, q->reason);
        xf_action_make_id(&a, salt);
        if (xf_outbox_get(r->ob, a.id, &a) == 0) {
            it->status = 200;
            it->rc = xf_action_to_json(&a, it->body);
            return;
        }
        break;
    }
    if ((pend = job_pending_host(r, q->host))) {
        it->status = 409;
        it->rc =
            error_body(it->body, "action_pending", "an action is pending for this host", &pend->a);
        return;
    }
    for (size_t i = 0; i < r->n_conns; i++) {
        struct conn *c = &r->conns[i];

        if (!(c->kinds & (1u << kind)))
            continue;
        fill_action(&a, kind, "", q->host, c, q->actor ? q->actor : "api", q->reason);
        if (plan(r, &a, salt,
                 r->conf.policy.mode == XF_MODE_DRY_RUN ? XF_AS_DRY_RUN : XF_AS_APPROVED, NULL,
                 &existed) != 0)
            continue;
        if (n++ == 0)
            first = a;
        created |= !existed;
    }
    if (!n) {
        it->status = 503;
        it->rc = error_body(it->body, "no_connector",
                            kind == XF_ACT_ISOLATE ? "no connector isolates hosts"
                                                   : "no connector releases hosts",
                            NULL);
        return;
    }
    it->status = created ? 201 : 200;
    it->rc = xf_action_to_json(&first, it->body);
}

static void decide(struct xf_response *r, struct item *it, int approve)
{
    const struct xf_resp_request *q = it->req;
    struct job *j = q->action_id ? job_find(r, q->action_id) : NULL;
    struct xf_action a;

    if (!j || j->a.state != XF_AS_PLANNED) {
        if (!q->action_id || xf_outbox_get(r->ob, q->action_id, &a) != 0) {
            it->status = 404;
            it->rc = error_body(it->body, "not_found", "no such action", NULL);
        } else {
            it->status = 409;
            it->rc = error_body(it->body, "conflict", "the action is not waiting for approval",
                                j ? &j->a : &a);
        }
        return;
    }
    if (approve && j->a.kind == XF_ACT_ISOLATE &&
        (xf_policy_host_protected(&r->conf.policy, j->a.host) || !host_name_ok(j->a.host))) {
        /* planned before the host became protected: it stays planned, for a deny */
        struct xf_audit_rec rec = {.action = "approve",
                                   .outcome = "failure",
                                   .host = j->a.host,
                                   .action_id = j->a.id,
                                   .state = "blocked",
                                   .incident = j->a.incident,
                                   .actor = q->actor,
                                   .reason = "protected host"};

        STAT_ADD(r, blocked_protected, 1);
        xf_audit_write(r->audit, &rec);
        it->status = 409;
        it->rc = error_body(it->body, "host_protected", "the host is protected", &j->a);
        return;
    }
    a = j->a;
    a.state = approve ? XF_AS_APPROVED : XF_AS_DENIED;
    a.next_at_ms = now_ms();
    if (q->reason && !approve)
        snprintf(a.reason, sizeof(a.reason), "%s", q->reason);
    if (persist(r, &a) != 0) {
        it->status = 503;
        it->rc = error_body(it->body, "store", "the outbox cannot be written", NULL);
        return;
    }
    j->a = a;
    audit_action(r, &a, approve ? "approve" : "deny", "success", NULL, q->actor,
                 q->reason ? q->reason : NULL);
    it->status = 200;
    it->rc = xf_action_to_json(&a, it->body);
    if (approve) {
        job_schedule(j);
    } else {
        STAT_ADD(r, denied, 1);
        job_drop(j);
    }
}

struct list_ctx {
    struct xf_buf *b;
    int state;                   /* -1: any */
    const char *host;            /* NULL: any */
    const char *incident;        /* NULL: any */
    int summary;                 /* the incident JSON's short form */
    const char *after;           /* skip ids up to this one */
    size_t limit;                /* 0: no limit */
    char next[XF_ACTION_ID_LEN]; /* set when a page stopped with more to come */
    size_t n;
    int rc;
};

static const char *short_status(enum xf_action_state s)
{
    switch (s) {
    case XF_AS_PLANNED:
    case XF_AS_APPROVED:
        return "pending";
    default:
        return xf_action_state_name(s);
    }
}

static int list_one(const struct xf_action *a, void *ud)
{
    struct list_ctx *lc = ud;

    if ((lc->state >= 0 && (int)a->state != lc->state) ||
        (lc->host && strcasecmp(lc->host, a->host) != 0) ||
        (lc->incident && strcmp(lc->incident, a->incident) != 0) ||
        (lc->after && strcmp(a->id, lc->after) <= 0))
        return 0;
    if (lc->limit && lc->n == lc->limit)
        return 1; /* one more matches: the page is full and lc->next says where to go on */
    if (lc->limit)
        snprintf(lc->next, sizeof(lc->next), "%s", a->id);
    if (lc->n++ && (lc->rc = xf_buf_appends(lc->b, ",")))
        return 1;
    if (lc->summary) {
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", a->id, "kind",
                      xf_action_kind_name(a->kind), "host", a->host, "connector", a->connector,
                      "status", short_status(a->state), "state", xf_action_state_name(a->state));
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

        lc->rc = s ? xf_buf_appends(lc->b, s) : XF_ENOMEM;
        free(s);
        json_decref(o);
    } else {
        lc->rc = xf_action_to_json(a, lc->b);
    }
    return lc->rc ? 1 : 0;
}

static void list(struct xf_response *r, struct item *it)
{
    const struct xf_resp_request *q = it->req;
    struct list_ctx lc = {.b = it->body,
                          .state = -1,
                          .host = q->host,
                          .after = q->after && *q->after ? q->after : NULL,
                          .limit = q->limit ? q->limit : 100};
    int more;

    if (lc.limit > 1000)
        lc.limit = 1000;
    if (q->state && *q->state && (lc.state = xf_action_state_parse(q->state)) < 0) {
        it->status = 400;
        it->rc = error_body(it->body, "bad_request", "unknown action state", NULL);
        return;
    }
    if ((it->rc = xf_buf_appends(it->body, "{\"actions\":[")))
        return;
    more = xf_outbox_scan(r->ob, list_one, &lc) == 1 && !lc.rc;
    if (lc.rc) {
        it->rc = lc.rc;
        return;
    }
    if (more)
        it->rc = xf_buf_appendf(it->body, "],\"next\":\"%s\"}", lc.next);
    else
        it->rc = xf_buf_appends(it->body, "]}");
    it->status = 200;
}

static void handle_request(struct xf_response *r, struct item *it)
{
    const struct xf_resp_request *q = it->req;
    struct xf_action a;

    if (r->conf.policy.mode == XF_MODE_OFF && q->op != XF_RESP_LIST && q->op != XF_RESP_GET) {
        it->status = 503;
        it->rc = error_body(it->body, "response_off", "response is off", NULL);
        return;
    }
    switch (q->op) {
    case XF_RESP_ISOLATE:
        manual(r, it, XF_ACT_ISOLATE);
        break;
    case XF_RESP_RELEASE:
        manual(r, it, XF_ACT_RELEASE);
        break;
    case XF_RESP_APPROVE:
        decide(r, it, 1);
        break;
    case XF_RESP_DENY:
        decide(r, it, 0);
        break;
    case XF_RESP_LIST:
        list(r, it);
        break;
    case XF_RESP_GET:
        if (q->action_id && xf_outbox_get(r->ob, q->action_id, &a) == 0) {
            it->status = 200;
            it->rc = xf_action_to_json(&a, it->body);
        } else {
            it->status = 404;
            it->rc = error_body(it->body, "not_found", "no such action", NULL);
        }
        break;
    default:
        it->status = 400;
        it->rc = error_body(it->body, "bad_request", "unknown operation", NULL);
        break;
    }
}

/* ---- the loop ---------------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

/* Closes every handle; uv_run returns once their callbacks ran. */
static void loop_shutdown(struct xf_response *r)
{
    struct job *j;

    xf_transport_close(r->tp);
    r->tp = NULL;
    while ((j = r->jobs))
        job_drop(j);
    if (r->autorel_ready && !uv_is_closing((uv_handle_t *)&r->autorel))
        uv_close((uv_handle_t *)&r->autorel, on_handle_closed);
    if (r->wake_ready && !uv_is_closing((uv_handle_t *)&r->wake))
        uv_close((uv_handle_t *)&r->wake, on_handle_closed);
}

static void on_wake(uv_async_t *h)
{
    struct xf_response *r = h->data;
    struct item *batch, *it, *next;
    int stopping;

    pthread_mutex_lock(&r->mu);
    batch = r->head;
    r->head = r->tail = NULL;
    r->queued = 0;
    stopping = r->stopping;
    pthread_mutex_unlock(&r->mu);
    for (it = batch; it; it = next) {
        next = it->next;
        if (it->type == ITEM_INCIDENT) {
            if (!stopping)
                handle_incident(r, it->json, it->len);
            xf_free(it->json);
            xf_free(it);
            continue;
        }
        if (stopping) {
            it->status = 503;
            it->rc = error_body(it->body, "stopping", "the response service is stopping", NULL);
        } else {
            handle_request(r, it);
        }
        pthread_mutex_lock(&r->mu);
        it->done = 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
    if (stopping)
        loop_shutdown(r);
}

static void *loop_main(void *arg)
{
    struct xf_response *r = arg;

    xf_thread_name("xf-response");
    uv_run(&r->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ---- rebuild at start -------------------------------------------------------------------- */

static int rebuild_one(const struct xf_action *a, void *ud)
{
    struct xf_response *r = ud;
    struct job *j;

    if (xf_incindex_add(r->ix, a->incident, a->id))
        return XF_ENOMEM;
    if (a->kind == XF_ACT_ISOLATE && a->state == XF_AS_CONFIRMED) {
        isolated_add(r, a);
        return 0;
    }
    if (!xf_action_state_pending(a->state))
        return 0;
    if (!(j = job_add(r, a)))
        return XF_ENOMEM;
    if (a->state != XF_AS_PLANNED)
        XF_INFO("response: resuming %s %s via %s (%s, attempt %d)", xf_action_kind_name(a->kind),
                a->kind == XF_ACT_NOTIFY ? a->incident : a->host, a->connector,
                xf_action_state_name(a->state), a->attempts);
    job_schedule(j);
    return 0;
}

/* ---- connectors -------------------------------------------------------------------------- */

static int bool_param(const char *v, int dflt)
{
    if (!v)
        return dflt;
    if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcmp(v, "0"))
        return 0;
    return 1;
}

/* `actions: [isolate, release, notify]` (or "isolate,notify") narrows what a connector does. */
static int parse_kinds(const struct xf_connector_conf *cc, unsigned supported, unsigned *out,
                       char *why, size_t why_len)
{
    const char *v = xf_connector_conf_get(cc, "actions");
    char word[32];
    unsigned kinds = 0;

    *out = supported;
    if (!v)
        return 0;
    while (*v) {
        size_t n = 0;
        int k;

        while (*v && strchr("[], \t", *v))
            v++;
        while (v[n] && !strchr("[], \t", v[n]))
            n++;
        if (!n)
            break;
        snprintf(word, sizeof(word), "%.*s", (int)(n < sizeof(word) - 1 ? n : sizeof(word) - 1), v);
        k = xf_action_kind_parse(word);
        if (k < 0 || !(supported & (1u << k))) {
            snprintf(why, why_len, "connector %s: type %s cannot do action %s", cc->name, cc->type,
                     word);
            return XF_ECONFIG;
        }
        kinds |= 1u << k;
        v += n;
    }
    *out = kinds;
    return 0;
}

static int conns_create(struct xf_response *r)
{
    char why[512];

    for (size_t i = 0; i < r->conf.n_connectors; i++) {
        const struct xf_connector_conf *cc = &r->conf.connectors[i];
        struct conn *c = &r->conns[r->n_conns];
        int rc;

        why[0] = '\0';
        for (size_t k = 0; k < i; k++) {
            if (strcmp(r->conf.connectors[k].name, cc->name) == 0) {
                XF_ERROR("response: two connectors are named %s", cc->name);
                return XF_ECONFIG;
            }
        }
        if (!(c->ops = xf_connector_find(cc->type))) {
            XF_ERROR("response: connector %s: unknown type %s", cc->name,
                     cc->type ? cc->type : "(none)");
            return XF_ECONFIG;
        }
        c->conf = cc;
        if ((rc = parse_kinds(cc, c->ops->kinds, &c->kinds, why, sizeof(why))) ||
            (rc = c->ops->create(cc, &c->state, why, sizeof(why)))) {
            XF_ERROR("response: %s", why[0] ? why : xf_strerror(rc));
            return rc;
        }
        c->topts.timeout_ms = r->conf.policy.timeout_ms;
        c->topts.tls_verify = bool_param(xf_connector_conf_get(cc, "tls_verify"), 1);
        c->topts.ca_file = xf_connector_conf_get(cc, "ca_file");
        if (!c->topts.tls_verify)
            XF_WARN("response: connector %s does not verify TLS certificates", cc->name);
        r->n_conns++;
    }
    return 0;
}

/* ---- public ------------------------------------------------------------------------------ */

static void response_free(struct xf_response *r)
{
    struct isolated *s;

    while ((s = r->isolated)) {
        r->isolated = s->next;
        xf_free(s);
    }
    for (size_t i = 0; i < r->n_conns; i++)
        r->conns[i].ops->destroy(r->conns[i].state);
    xf_outbox_close(r->ob);
    xf_incindex_destroy(r->ix);
    xf_audit_close(r->audit);
    xf_response_conf_close(&r->conf);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    xf_free(r);
}

int xf_response_create(const struct xf_response_conf *conf, struct xf_store *st,
                       struct xf_response **out)
{
    struct xf_response *r = NULL;
    char why[256];
    int rc = XF_ENOMEM;

    *out = NULL;
    if (!conf || !st)
        return XF_EINVAL;
    if (!(r = xf_calloc(1, sizeof(*r))))
        return XF_ENOMEM;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->st = st;
    r->seq = (uint64_t)now_ms() ^ (uint64_t)(uintptr_t)r;
    xf_response_conf_init(&r->conf);
    if ((rc = xf_response_conf_copy(&r->conf, conf)))
        goto fail;
    if ((rc = xf_policy_conf_check(&r->conf.policy, why, sizeof(why)))) {
        XF_ERROR("response: %s", why);
        goto fail;
    }
    if ((rc = xf_audit_open(r->conf.audit_log, &r->audit)) || (rc = xf_outbox_open(st, &r->ob)) ||
        (rc = xf_incindex_create(&r->ix)) || (rc = conns_create(r)))
        goto fail;
    if (uv_loop_init(&r->loop) != 0) {
        rc = XF_EINTERNAL;
        goto fail;
    }
    if (uv_async_init(&r->loop, &r->wake, on_wake) != 0) {
        rc = XF_EINTERNAL;
        goto fail_loop;
    }
    r->wake_ready = 1;
    r->wake.data = r;
    uv_timer_init(&r->loop, &r->autorel);
    r->autorel.data = r;
    r->autorel_ready = 1;
    if ((rc = xf_transport_create(&r->loop, &r->tp)))
        goto fail_loop;
    if ((rc = xf_outbox_scan(r->ob, rebuild_one, r))) {
        XF_ERROR("response: cannot read the outbox: %s", xf_strerror(rc));
        goto fail_loop;
    }
    if (pthread_create(&r->thread, NULL, loop_main, r) != 0) {
        rc = XF_EINTERNAL;
        goto fail_loop;
    }
    r->thread_started = 1;
    XF_INFO("response: mode %s, %zu connectors, %zu pending actions resumed",
            xf_resp_mode_name(r->conf.policy.mode), r->n_conns, r->n_jobs);
    *out = r;
    return 0;
fail_loop:
    /* nothing else runs the loop yet: close the handles here and let it finish */
    loop_shutdown(r);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
fail:
    response_free(r);
    return rc;
}

void xf_response_destroy(struct xf_response *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    pthread_mutex_unlock(&r->mu);
    uv_async_send(&r->wake);
    pthread_join(r->thread, NULL);
    if (uv_loop_close(&r->loop) != 0)
        XF_WARN("response: the loop closed with handles open");
    response_free(r);
}

static int enqueue(struct xf_response *r, struct item *it)
{
    pthread_mutex_lock(&r->mu);
    if (r->stopping) {
        pthread_mutex_unlock(&r->mu);
        return XF_EAGAIN;
    }
    if (it->type == ITEM_INCIDENT && r->queued >= MAX_QUEUED) {
        pthread_mutex_unlock(&r->mu);
        return XF_EAGAIN;
    }
    if (r->tail)
        r->tail->next = it;
    else
        r->head = it;
    r->tail = it;
    r->queued++;
    pthread_mutex_unlock(&r->mu);
    uv_async_send(&r->wake);
    return 0;
}

int xf_response_incident(struct xf_response *r, const char *json, size_t len)
{
    struct item *it;
    int rc;

    if (!r || !json)
        return XF_EINVAL;
    if (!(it = xf_calloc(1, sizeof(*it))))
        return XF_ENOMEM;
    it->type = ITEM_INCIDENT;
    if (!(it->json = xf_strndup(json, len))) {
        xf_free(it);
        return XF_ENOMEM;
    }
    it->len = len;
    if ((rc = enqueue(r, it))) {
        XF_WARN("response: incident dropped: the queue is full or the service stops");
        xf_free(it->json);
        xf_free(it);
    }
    return rc;
}

int xf_response_request(struct xf_response *r, const struct xf_resp_request *req, int *status,
                        struct xf_buf *body)
{
    struct item it;
    int rc;

    if (!r || !req || !status || !body)
        return XF_EINVAL;
    memset(&it, 0, sizeof(it));
    it.type = ITEM_REQUEST;
    it.req = req;
    it.body = body;
    if ((rc = enqueue(r, &it))) {
        *status = 503;
        return error_body(body, "stopping", "the response service is stopping", NULL);
    }
    pthread_mutex_lock(&r->mu);
    while (!it.done)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    *status = it.status;
    return it.rc;
}

int xf_response_incident_actions(struct xf_response *r, const char *incident_id, struct xf_buf *out)
{
    struct list_ctx lc = {.b = out, .state = -1, .incident = incident_id, .summary = 1};
    char(*ids)[XF_ACTION_ID_LEN] = NULL;
    struct xf_action a;
    size_t n = 0;
    int rc;

    if (!r || !incident_id || !out)
        return XF_EINVAL;
    /* the index and the outbox are safe to read from any thread: no round trip through the
     * loop, and only this incident's records are read */
    if ((rc = xf_incindex_get(r->ix, incident_id, &ids, &n)) || (rc = xf_buf_appends(out, "[")))
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (xf_outbox_get(r->ob, ids[i], &a) == 0 && list_one(&a, &lc)) {
            rc = lc.rc;
            goto out;
        }
    }
    rc = xf_buf_appends(out, "]");
out:
    xf_free(ids);
    return rc;
}

void xf_response_get_stats(struct xf_response *r, struct xf_response_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    *out = r->stats;
    pthread_mutex_unlock(&r->mu);
}
