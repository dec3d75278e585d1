/*
 * devbroker.c - the development broker: librdkafka's mock cluster on loopback, for local work
 * and tests. Not for production.
 *
 * The one thing to know: the mock cluster in librdkafka 2.0.2 keeps at most about 5 MiB (and
 * 100,000 batches) per partition and silently deletes the oldest batches past that. A consumer
 * that falls further behind than that loses records (it sees an offset jump; the consumer
 * counts it as offset_gaps). Size tests to it: more partitions, or a consumer that keeps up.
 *
 * The mock brokers always listen on ephemeral ports. For a fixed address (opts.port) a small
 * TCP forwarder listens there and relays each connection to the first broker that accepts.
 * That is enough for any Kafka client: the bootstrap address is used only to fetch metadata,
 * which names the real broker ports, and every later connection goes to those directly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "xf/kafka.h"

#define FWD_BUF (64u * 1024)
#define FWD_MAX_CONN 256

/* One client connection relayed to a broker: two half-duplex pipes with a buffer each. */
struct fwd_pipe {
    int from, to;
    char *buf;
    size_t off, len;
    int eof;
};

struct fwd_conn {
    struct fwd_pipe up;   /* client -> broker */
    struct fwd_pipe down; /* broker -> client */
};

struct xf_devbroker {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    char *bootstraps;      /* what clients are told */
    char *real_bootstraps; /* the brokers' own addresses */
    /* forwarder */
    int lfd;
    int wake[2];
    pthread_t thr;
    int thr_started;
    struct fwd_conn *conns[FWD_MAX_CONN];
    size_t n_conns;
};

static void mock_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= LOG_WARNING)
        XF_WARN("devbroker: %s: %s", fac, buf);
    else
        XF_DEBUG("devbroker: %s: %s", fac, buf);
}

/* ---- forwarder ----------------------------------------------------------------------------- */

static void conn_free(struct fwd_conn *c)
{
    if (!c)
        return;
    if (c->up.from >= 0)
        close(c->up.from);
    if (c->up.to >= 0)
        close(c->up.to);
    xf_free(c->up.buf);
    xf_free(c->down.buf);
    xf_free(c);
}

/* Connects to the first broker of the real list that accepts. Returns a socket or -1. */
static int connect_broker(const char *list)
{
    const char *p = list;

    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', n);

        if (colon) {
            struct sockaddr_in sa;
            long port = strtol(colon + 1, NULL, 10);
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

            memset(&sa, 0, sizeof(sa));
            sa.sin_family = AF_INET;
            sa.sin_port = htons((uint16_t)port);
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                return fd;
            }
            if (fd >= 0)
                close(fd);
        }
        p = end ? end + 1 : NULL;
    }
    return -1;
}

static void fwd_accept(struct xf_devbroker *d)
{
    struct fwd_conn *c = NULL;
    int cfd = accept(d->lfd, NULL, NULL);
    int bfd = -1;

    if (cfd < 0)
        return;
    fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK);
    fcntl(cfd, F_SETFD, FD_CLOEXEC);
    if (d->n_conns == FWD_MAX_CONN)
        goto fail;
    bfd = connect_broker(d->real_bootstraps);
    if (bfd < 0)
        goto fail; /* every broker is down: the client retries, as with a real cluster */
    c = xf_calloc(1, sizeof(*c));
    if (!c)
        goto fail;
    c->up.buf = xf_malloc(FWD_BUF);
    c->down.buf = xf_malloc(FWD_BUF);
    c->up.from = c->down.to = cfd;
    c->up.to = c->down.from = bfd;
    if (!c->up.buf || !c->down.buf) {
        conn_free(c);
        return;
    }
    d->conns[d->n_conns++] = c;
    return;
fail:
    xf_free(c);
    if (bfd >= 0)
        close(bfd);
    close(cfd);
}

/* Moves bytes along one pipe. Returns -1 when the connection should close. */
static int pipe_pump(struct fwd_pipe *p, short rev_from, short rev_to)
{
    if (p->len == 0 && !p->eof && (rev_from & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = read(p->from, p->buf, FWD_BUF);

        if (n > 0) {
            p->off = 0;
            p->len = (size_t)n;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            p->eof = 1;
        }
    }
    if (p->len > 0 && (rev_to & POLLOUT)) {
        ssize_t n = write(p->to, p->buf + p->off, p->len);

        if (n > 0) {
            p->off += (size_t)n;
            p->len -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return -1;
        }
    }
    return p->eof && p->len == 0 ? -1 : 0;
}

static void *fwd_main(void *arg)
{
    struct xf_devbroker *d = arg;
    struct pollfd pf[2 + 2 * FWD_MAX_CONN];

    xf_thread_name("xf-devbroker");
    for (;;) {
        nfds_t n = 0;

        pf[n++] = (struct pollfd){.fd = d->wake[0], .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = d->lfd, .events = POLLIN};
        for (size_t i = 0; i < d->n_conns; i++) {
            struct fwd_conn *c = d->conns[i];

            /* read a side only when its buffer is empty; write a side when the other has data */
            pf[n++] = (struct pollfd){
                .fd = c->up.from,
                .events = (short)((c->up.len == 0 ? POLLIN : 0) | (c->down.len ? POLLOUT : 0))};
            pf[n++] = (struct pollfd){
                .fd = c->up.to,
                .events = (short)((c->down.len == 0 ? POLLIN : 0) | (c->up.len ? POLLOUT : 0))};
        }
        if (poll(pf, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[0].revents)
            break;
        for (size_t i = 0; i < d->n_conns;) {
            struct fwd_conn *c = d->conns[i];
            short rc_ = pf[2 + 2 * i].revents, rb = pf[3 + 2 * i].revents;
            int dead = pipe_pump(&c->up, rc_, rb) < 0;

            dead |= pipe_pump(&c->down, rb, rc_) < 0;
            /* the broker closed (e.g. taken down): close the client so it reconnects */
            if (dead) {
                conn_free(c);
                d->conns[i] = d->conns[--d->n_conns];
                /* the pollfd slots no longer match: finish this round, poll again */
                break;
            }
            i++;
        }
        if (pf[1].revents & POLLIN)
            fwd_accept(d);
    }
    return NULL;
}

static int fwd_start(struct xf_devbroker *d, int port)
{
    struct sockaddr_in sa;
    int one = 1;

    d->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->lfd < 0)
        return XF_EIO;
    setsockopt(d->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(d->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(d->lfd, 64) < 0) {
        XF_ERROR("devbroker: cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
        return XF_EIO;
    }
    if (pipe(d->wake) < 0)
        return XF_EIO;
    if (pthread_create(&d->thr, NULL, fwd_main, d) != 0)
        return XF_EIO;
    d->thr_started = 1;
    return 0;
}

/* ---- the cluster --------------------------------------------------------------------------- */

int xf_devbroker_start(const struct xf_devbroker_opts *opts, struct xf_devbroker **out)
{
    struct xf_devbroker *d = NULL;
    rd_kafka_conf_t *conf = NULL;
    int brokers = opts && opts->brokers > 0 ? opts->brokers : 1;
    int partitions = opts && opts->partitions > 0 ? opts->partitions : 1;
    int port = opts ? opts->port : 0;
    char errstr[512];
    int rc = XF_EINVAL;

    *out = NULL;
    if (brokers > 64 || partitions > 10000 || port < 0 || port > 65535)
        goto out;
    rc = XF_ENOMEM;
    d = xf_calloc(1, sizeof(*d));
    conf = rd_kafka_conf_new();
    if (!d || !conf)
        goto out;
    d->lfd = d->wake[0] = d->wake[1] = -1;
    rd_kafka_conf_set_log_cb(conf, mock_log_cb);
    rc = XF_EIO;
    /* the mock cluster needs a client handle to live in; this one never connects anywhere */
    d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!d->rk) {
        XF_ERROR("devbroker: %s", errstr);
        goto out;
    }
    conf = NULL;
    d->mc = rd_kafka_mock_cluster_new(d->rk, brokers);
    if (!d->mc) {
        XF_ERROR("devbroker: cannot start the mock cluster");
        goto out;
    }
    for (size_t i = 0; opts && i < opts->n_topics; i++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(d->mc, opts->topics[i], partitions,
                                                             brokers < 3 ? brokers : 3);

        if (err) {
            XF_ERROR("devbroker: topic %s: %s", opts->topics[i], rd_kafka_err2str(err));
            goto out;
        }
    }
    rc = XF_ENOMEM;
    d->real_bootstraps = xf_strdup(rd_kafka_mock_cluster_bootstraps(d->mc));
    if (!d->real_bootstraps)
        goto out;
    if (port > 0) {
        char buf[32];

        rc = fwd_start(d, port);
        if (rc < 0)
            goto out;
        snprintf(buf, sizeof(buf), "127.0.0.1:%d", port);
        d->bootstraps = xf_strdup(buf);
    } else {
        d->bootstraps = xf_strdup(d->real_bootstraps);
    }
    rc = XF_ENOMEM;
    if (!d->bootstraps)
        goto out;
    *out = d;
    d = NULL;
    rc = 0;
out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    xf_devbroker_stop(d);
    return rc;
}

const char *xf_devbroker_bootstraps(const struct xf_devbroker *d)
{
    return d->bootstraps;
}

int xf_devbroker_set_down(struct xf_devbroker *d, int broker_id, int down)
{
    rd_kafka_resp_err_t err = down ? rd_kafka_mock_broker_set_down(d->mc, broker_id)
                                   : rd_kafka_mock_broker_set_up(d->mc, broker_id);

    if (err) {
        XF_WARN("devbroker: broker %d %s: %s", broker_id, down ? "down" : "up",
                rd_kafka_err2str(err));
        return XF_EINVAL;
    }
    return 0;
}

int xf_devbroker_push_errors(struct xf_devbroker *d, int api, int kafka_err, size_t n)
{
    rd_kafka_resp_err_t *errs;

    if (api < 0 || n == 0 || n > 100000)
        return XF_EINVAL;
    errs = xf_malloc(n * sizeof(*errs));
    if (!errs)
        return XF_ENOMEM;
    for (size_t i = 0; i < n; i++)
        errs[i] = (rd_kafka_resp_err_t)kafka_err;
    rd_kafka_mock_push_request_errors_array(d->mc, (int16_t)api, n, errs);
    xf_free(errs);
    return 0;
}

void xf_devbroker_stop(struct xf_devbroker *d)
{
    if (!d)
        return;
    if (d->thr_started) {
        ssize_t w = write(d->wake[1], "x", 1);

        (void)w;
        pthread_join(d->thr, NULL);
    }
    for (size_t i = 0; i < d->n_conns; i++)
        conn_free(d->conns[i]);
    if (d->wake[0] >= 0)
        close(d->wake[0]);
    if (d->wake[1] >= 0)
        close(d->wake[1]);
    if (d->lfd >= 0)
        close(d->lfd);
    if (d->mc)
        rd_kafka_mock_cluster_destroy(d->mc);
    if (d->rk)
        rd_kafka_destroy(d->rk);
    xf_free(d->bootstraps);
    xf_free(d->real_bootstraps);
    xf_free(d);
}
