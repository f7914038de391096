/*
 * smdpd.c - the SM-DP+ HTTPS server: listening sockets shared by N event
 * loops (libevent evhttp over bufferevent_openssl), TLS per SGP.22 v2.5
 * §2.6.6, ES2+ client authentication by certificate.
 *
 * TLS (§2.6.6): TLS 1.2 with TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 and
 * TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, and TLS 1.3
 * (TLS_AES_128_GCM_SHA256 first); groups P-256 and brainpoolP256r1. The
 * server certificate is CERT.DPtls (+ chain). ES2+ verifies the operator's
 * client certificate against the configured operator CA(s), then maps
 * SHA-256(client certificate DER) to an operator of the store.
 *
 * Threads: every worker has its own event_base, two evhttp and its own
 * store handle; the listening sockets are dup()ed into each evhttp (one
 * accept queue). Connections are dealt round robin: only one worker's
 * listener (per socket) is enabled; the worker that accepts a connection
 * disables its own and wakes the next worker to enable its one (each
 * listener is only touched by its own thread). Otherwise whichever loop
 * woke first took every connection, and a few keep-alive clients could
 * all land on one loop, leaving the other cores idle.
 *
 * Answers: one SSL_write per answer, run in the iteration that made it
 * (reply_now); epoll changes batched per iteration (base_new).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "rsp_err.h"
#include "rsp_log.h"
#include "smdpd.h"

#define LOG_DOM "smdpd"
#define JSON_CT "application/json;charset=UTF-8"
#define ADMIN_PROTOCOL_OURS "gsma/rsp/v2.5.0"
/* Largest answer written by one SSL_write (a BPP answer: tens of KB). */
#define SMDPD_WRITE_MAX (128u * 1024u)
/* Room left in front of an answer's body for evhttp's status line and
 * headers (reply_now). */
#define SMDPD_HEADROOM 512u

struct smdpd_worker;

struct smdpd_lctx {
    struct smdpd_worker *w;
    int iface;            /* SMDP_IFACE_* bits served */
    SSL_CTX *ctx;
    struct evhttp_bound_socket *bs;   /* this worker's listener on the socket */
    struct event *take;   /* activated by the previous worker: our turn */
};

struct smdpd_worker {
    struct smdpd *d;
    pthread_t tid;
    int started;
    struct event_base *base;
    struct evhttp *http9, *http2;
    struct smdp_store *st;
    struct smdpd_lctx l9, l2;
};

/* One registered operator certificate (SHA-256 of its DER). */
struct op_entry {
    uint8_t h[32];
    char id[SMDP_ID_MAX + 1];
};

struct smdpd {
    struct smdp *s;
    pthread_mutex_t op_mu;   /* guards the operator map below */
    int op_mu_init;
    struct op_entry *ops;
    size_t n_ops;
    int op_reloaded;         /* a miss has reloaded the map once */
    int64_t op_reload_ms;    /* when (CLOCK_MONOTONIC) */
    unsigned op_refresh_ms;
    int fd9, fd2;         /* fd2 == -1 when combined into fd9 or not served */
    int port9, port2;
    int combined;
    SSL_CTX *ctx9, *ctx2;
    unsigned n;
    struct smdpd_worker *w;
};

static pthread_once_t process_once = PTHREAD_ONCE_INIT;
static void process_init(void)
{
    evthread_use_pthreads();
}

/* ---- sockets ---- */

static int listen_on(const char *spec, int *port_out)
{
    char host[256];
    const char *colon, *port;
    struct addrinfo hints, *ai = NULL;
    int fd = -1, one = 1;

    if (!spec || strlen(spec) >= sizeof(host))
        return RSP_ERR_INVAL;
    colon = strrchr(spec, ':');
    if (!colon || colon == spec)
        return RSP_ERR_INVAL;
    if (spec[0] == '[') {
        if (colon[-1] != ']')
            return RSP_ERR_INVAL;
        memcpy(host, spec + 1, (size_t)(colon - spec - 2));
        host[colon - spec - 2] = '\0';
    } else {
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
    }
    port = colon + 1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
        return RSP_ERR_INVAL;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    /* TCP_NODELAY on the listener is inherited by accepted sockets (Linux):
     * an answer's headers and body never wait for a delayed ACK */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1024)) {
        RSP_LOG(RSP_LOG_ERROR, LOG_DOM, "listen %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return RSP_ERR_IO;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            *port_out = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else
            *port_out = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return fd;
}

/* ---- TLS ---- */

static X509 *x509_load(const char *path)
{
    X509 *x = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    x = PEM_read_X509(f, NULL, NULL, NULL);
    if (!x) {
        ERR_clear_error();
        rewind(f);
        x = d2i_X509_fp(f, NULL);
    }
    fclose(f);
    return x;
}

static SSL_CTX *tls_ctx(const struct smdpd_config *cfg, int verify_mode)
{
    static const unsigned char sid_ctx[] = "smdpd";
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    FILE *f;

    if (!ctx)
        return NULL;
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256") ||
        !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                       "TLS_CHACHA20_POLY1305_SHA256"))
        goto err;
    if (!SSL_CTX_set1_groups_list(ctx, "P-256:brainpoolP256r1:brainpoolP256r1tls13") &&
        !SSL_CTX_set1_groups_list(ctx, "P-256:brainpoolP256r1"))
        ERR_clear_error();   /* keep the library's defaults */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (!(x = x509_load(cfg->tls_cert))) {
        RSP_LOG(RSP_LOG_ERROR, LOG_DOM, "%s: cannot read certificate", cfg->tls_cert);
        goto err;
    }
    if (!(f = fopen(cfg->tls_key, "rb"))) {
        RSP_LOG(RSP_LOG_ERROR, LOG_DOM, "%s: %s", cfg->tls_key, strerror(errno));
        goto err;
    }
    k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!k || !SSL_CTX_use_certificate(ctx, x) || !SSL_CTX_use_PrivateKey(ctx, k) ||
        !SSL_CTX_check_private_key(ctx)) {
        RSP_LOG(RSP_LOG_ERROR, LOG_DOM, "%s / %s: certificate and key unusable", cfg->tls_cert,
                cfg->tls_key);
        goto err;
    }
    X509_free(x);
    x = NULL;
    EVP_PKEY_free(k);
    k = NULL;
    if (cfg->tls_chain) {
        if (!(f = fopen(cfg->tls_chain, "rb")))
            goto err;
        while ((x = PEM_read_X509(f, NULL, NULL, NULL))) {
            if (!SSL_CTX_add0_chain_cert(ctx, x)) {
                fclose(f);
                goto err;
            }
            x = NULL;
        }
        ERR_clear_error();
        fclose(f);
    }
    if (verify_mode != SSL_VERIFY_NONE) {
        X509_STORE *xs = SSL_CTX_get_cert_store(ctx);
        int n = 0;
        for (int i = 0; i < SMDPD_CA_MAX && cfg->operator_ca[i]; i++) {
            X509 *ca = x509_load(cfg->operator_ca[i]);
            if (!ca || !X509_STORE_add_cert(xs, ca)) {
                RSP_LOG(RSP_LOG_ERROR, LOG_DOM, "%s: cannot load operator CA",
                        cfg->operator_ca[i]);
                X509_free(ca);
                goto err;
            }
            X509_free(ca);
            n++;
        }
        if (n == 0) {
            RSP_LOG(RSP_LOG_ERROR, LOG_DOM, "ES2+ needs at least one operator CA");
            goto err;
        }
        SSL_CTX_set_verify(ctx, verify_mode, NULL);
        SSL_CTX_set_verify_depth(ctx, 4);
        SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    }
    return ctx;
err:
    X509_free(x);
    EVP_PKEY_free(k);
    SSL_CTX_free(ctx);
    return NULL;
}

/* The round robin of accepts (see the top): our turn to accept. */
static void take_cb(evutil_socket_t fd, short what, void *arg)
{
    struct smdpd_lctx *l = arg;
    (void)fd;
    (void)what;
    evconnlistener_enable(evhttp_bound_socket_get_listener(l->bs));
}

/* A connection was accepted on l: hand the next one to the next worker. */
static void accept_pass(struct smdpd_lctx *l)
{
    struct smdpd *d = l->w->d;
    if (d->n < 2 || !l->bs)
        return;
    size_t i = (size_t)(l->w - d->w);
    struct smdpd_worker *nx = &d->w[(i + 1) % d->n];
    struct smdpd_lctx *nl = l == &l->w->l9 ? &nx->l9 : &nx->l2;
    if (!nl->take)
        return;
    evconnlistener_disable(evhttp_bound_socket_get_listener(l->bs));
    event_active(nl->take, EV_READ, 0);
}

static struct bufferevent *bevcb(struct event_base *base, void *arg)
{
    struct smdpd_lctx *l = arg;
    accept_pass(l);
    SSL *ssl = SSL_new(l->ctx);
    struct bufferevent *bev;
    if (!ssl)
        return NULL;
    bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    /* a whole response in one SSL_write (libevent's default is 16 KB) */
    bufferevent_set_max_single_write(bev, SMDPD_WRITE_MAX);
    return bev;
}

/* ---- requests ---- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct op_load {
    struct op_entry *v;
    size_t n, cap;
    int err;
};

static int op_load_cb(const struct smdp_operator *op, void *arg)
{
    struct op_load *l = arg;
    if (!op->has_cert)
        return 0;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        struct op_entry *nv = realloc(l->v, ncap * sizeof(*nv));
        if (!nv) {
            l->err = RSP_ERR_NOMEM;
            return 1;
        }
        l->v = nv;
        l->cap = ncap;
    }
    memcpy(l->v[l->n].h, op->cert_sha256, 32);
    memcpy(l->v[l->n].id, op->id, sizeof(l->v[l->n].id));
    l->n++;
    return 0;
}

/* Replace the operator map with the store's operators (op_mu held). On
 * failure the old map stays. */
static int op_map_load(struct smdpd *d, struct smdp_store *st)
{
    struct op_load l;
    int rc;

    memset(&l, 0, sizeof(l));
    rc = smdp_store_operator_list(st, op_load_cb, &l);
    if (rc == 0 || l.err)
        rc = l.err;
    if (rc) {
        free(l.v);
        return rc < 0 ? rc : RSP_ERR_NOMEM;
    }
    free(d->ops);
    d->ops = l.v;
    d->n_ops = l.n;
    return RSP_OK;
}

static int op_map_find(const struct smdpd *d, const uint8_t h[32], char id[SMDP_ID_MAX + 1])
{
    for (size_t i = 0; i < d->n_ops; i++) {
        if (CRYPTO_memcmp(d->ops[i].h, h, 32) == 0) {
            memcpy(id, d->ops[i].id, SMDP_ID_MAX + 1);
            return 1;
        }
    }
    return 0;
}

/* The operator whose certificate authenticated this connection, "" if none. */
static void peer_operator(struct smdpd_worker *w, struct evhttp_request *req,
                          char id[SMDP_ID_MAX + 1])
{
    struct evhttp_connection *con = evhttp_request_get_connection(req);
    struct bufferevent *bev = con ? evhttp_connection_get_bufferevent(con) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    struct smdpd *d = w->d;
    X509 *peer;
    uint8_t h[32];
    unsigned n = 0;

    id[0] = '\0';
    if (!ssl || !(peer = SSL_get0_peer_certificate(ssl)) || SSL_get_verify_result(ssl) != X509_V_OK)
        return;
    if (X509_digest(peer, EVP_sha256(), h, &n) != 1 || n != 32)
        return;
    pthread_mutex_lock(&d->op_mu);
    if (!op_map_find(d, h, id)) {
        /* unknown: perhaps added since; reload, but a client with a
         * certificate of no operator cannot make every request a table
         * scan */
        int64_t now = mono_ms();
        if (!d->op_reloaded || now - d->op_reload_ms >= (int64_t)d->op_refresh_ms) {
            d->op_reloaded = 1;
            d->op_reload_ms = now;
            if (op_map_load(d, w->st) == RSP_OK)
                op_map_find(d, h, id);
            else
                RSP_LOG(RSP_LOG_WARN, LOG_DOM, "operator map reload failed");
        }
    }
    pthread_mutex_unlock(&d->op_mu);
}

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "?";
    }
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    default: return "Internal Server Error";
    }
}

/* evhttp leaves an answer in the output buffer as its header chain and the
 * body's chain, and bufferevent_openssl writes it when the socket next
 * polls writable, one SSL_write (one TLS record, one write()) per chain.
 * gencb puts the body in a chain with SMDPD_HEADROOM free bytes in front
 * of it: the headers are moved there (no new block, no second copy of the
 * body, as evbuffer_pullup would make), and the writer runs now, in this
 * loop iteration: one SSL_write per answer and no epoll round trip. Data
 * already queued before (a client not reading) keeps its order: only the
 * front is taken out and put back. */
static void reply_now(struct bufferevent *bev)
{
    struct evbuffer *o = bufferevent_get_output(bev);
    size_t n = evbuffer_get_length(o);
    size_t h = evbuffer_get_contiguous_space(o);
    char hdr[SMDPD_HEADROOM];

    if (n == 0)
        return;
    if (h < n && h <= sizeof(hdr) && evbuffer_remove(o, hdr, h) == (int)h)
        evbuffer_prepend(o, hdr, h);   /* into the headroom; else a new chain */
    event_active(&bev->ev_write, EV_WRITE, 1);
}

/* The body, with SMDPD_HEADROOM bytes free in front of it in its chain. */
static void body_add(struct evbuffer *ob, const char *body, size_t len)
{
    struct evbuffer_iovec v;

    if (evbuffer_get_length(ob) == 0 && len <= SIZE_MAX - SMDPD_HEADROOM &&
        evbuffer_reserve_space(ob, (ev_ssize_t)(SMDPD_HEADROOM + len), &v, 1) == 1 &&
        v.iov_len >= SMDPD_HEADROOM + len) {
        memcpy((char *)v.iov_base + SMDPD_HEADROOM, body, len);
        v.iov_len = SMDPD_HEADROOM + len;
        if (evbuffer_commit_space(ob, &v, 1) == 0 && evbuffer_drain(ob, SMDPD_HEADROOM) == 0)
            return;
        evbuffer_drain(ob, evbuffer_get_length(ob));
    }
    evbuffer_add(ob, body, len);
}

static void gencb(struct evhttp_request *req, void *arg)
{
    struct smdpd_lctx *l = arg;
    struct smdpd_worker *w = l->w;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    struct evbuffer *ib = evhttp_request_get_input_buffer(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    struct evbuffer *ob;
    struct evhttp_connection *con;
    struct bufferevent *bev;
    char opid[SMDP_ID_MAX + 1] = "";
    struct smdp_req r;
    struct smdp_resp resp;

    memset(&r, 0, sizeof(r));
    r.iface = l->iface;
    r.method = method_name(evhttp_request_get_command(req));
    r.path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!r.path)
        r.path = "";
    r.admin_protocol = evhttp_find_header(in, "X-Admin-Protocol");
    r.content_type = evhttp_find_header(in, "Content-Type");
    r.body_len = evbuffer_get_length(ib);
    r.body = r.body_len ? evbuffer_pullup(ib, -1) : NULL;
    if (l->iface & SMDP_IFACE_ES2) {
        peer_operator(w, req, opid);
        r.operator_id = opid[0] ? opid : NULL;
    }
    smdp_handle(w->d->s, w->st, &r, &resp);

    evhttp_add_header(out, "X-Admin-Protocol",
                      smdp_admin_protocol_ok(r.admin_protocol) ? r.admin_protocol
                                                               : ADMIN_PROTOCOL_OURS);
    if (resp.content_type)
        evhttp_add_header(out, "Content-Type", resp.content_type);
    ob = evhttp_request_get_output_buffer(req);
    if (resp.body && resp.body_len)
        body_add(ob, resp.body, resp.body_len);
    smdp_resp_free(&resp);
    RSP_LOG(RSP_LOG_DEBUG, LOG_DOM, "%s %s -> %d", r.method, r.path, resp.status);
    con = evhttp_request_get_connection(req);
    bev = con ? evhttp_connection_get_bufferevent(con) : NULL;
    evhttp_send_reply(req, resp.status, reason_phrase(resp.status), NULL);
    if (bev)
        reply_now(bev);
}

/* ---- workers ---- */

static void *worker_main(void *arg)
{
    struct smdpd_worker *w = arg;
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static struct evhttp *http_new(struct smdpd_worker *w, struct smdpd_lctx *l, int fd,
                               unsigned timeout)
{
    struct evhttp *h = evhttp_new(w->base);
    int dfd;
    if (!h)
        return NULL;
    evhttp_set_bevcb(h, bevcb, l);
    evhttp_set_gencb(h, gencb, l);
    evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                  EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                  EVHTTP_REQ_PATCH);
    /* above SMDP_BODY_MAX smdp_handle answers 413 in JSON; libevent's own
     * (HTML) 413 is left for what exceeds the hard cap */
    evhttp_set_max_body_size(h, SMDPD_BODY_HARD_MAX);
    evhttp_set_max_headers_size(h, 16384);
    evhttp_set_timeout(h, (int)timeout);
    dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dfd < 0 || !(l->bs = evhttp_accept_socket_with_handle(h, dfd)) ||
        !(l->take = event_new(w->base, -1, 0, take_cb, l))) {
        if (dfd >= 0 && !l->bs)
            close(dfd);
        l->bs = NULL;
        evhttp_free(h);
        return NULL;
    }
    /* the round robin starts at worker 0 */
    if (w != &w->d->w[0])
        evconnlistener_disable(evhttp_bound_socket_get_listener(l->bs));
    return h;
}

/* An event_base whose epoll changes are applied once per loop iteration:
 * answering a request disables reading, adds and removes the write event
 * and re-enables reading, all in one iteration (reply_now), which then
 * cost no epoll_ctl at all. libevent warns against the flag when fds
 * cloned by dup() share one base; each base here holds one dup of a
 * listening socket, and the accepted sockets are not dup()ed. */
static struct event_base *base_new(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *b;

    if (!cfg)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    b = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return b;
}

int smdpd_port_es9(const struct smdpd *d)
{
    return d ? d->port9 : 0;
}

int smdpd_port_es2(const struct smdpd *d)
{
    return d ? (d->combined ? d->port9 : d->port2) : 0;
}

void smdpd_stop(struct smdpd *d)
{
    if (!d)
        return;
    for (unsigned i = 0; i < d->n; i++)
        if (d->w[i].base)
            event_base_loopexit(d->w[i].base, NULL);
}

void smdpd_free(struct smdpd *d)
{
    if (!d)
        return;
    smdpd_stop(d);
    for (unsigned i = 0; i < d->n; i++) {
        struct smdpd_worker *w = &d->w[i];
        if (w->started)
            pthread_join(w->tid, NULL);
        if (w->http9)
            evhttp_free(w->http9);
        if (w->http2)
            evhttp_free(w->http2);
        if (w->l9.take)
            event_free(w->l9.take);
        if (w->l2.take)
            event_free(w->l2.take);
        if (w->base)
            event_base_free(w->base);
        smdp_store_close(w->st);
    }
    free(d->w);
    free(d->ops);
    if (d->op_mu_init)
        pthread_mutex_destroy(&d->op_mu);
    if (d->fd9 >= 0)
        close(d->fd9);
    if (d->fd2 >= 0)
        close(d->fd2);
    SSL_CTX_free(d->ctx9);
    SSL_CTX_free(d->ctx2);
    free(d);
}

int smdpd_start(struct smdp *s, const struct smdpd_config *cfg, struct smdpd **out)
{
    struct smdpd *d;
    int rc = RSP_ERR_INVAL;
    unsigned n, timeout;

    if (out)
        *out = NULL;
    if (!s || !cfg || !out || !cfg->tls_cert || !cfg->tls_key || !cfg->db ||
        (!cfg->es9_listen && !cfg->es2_listen))
        return RSP_ERR_INVAL;
    pthread_once(&process_once, process_init);
    n = cfg->threads;
    if (n == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (unsigned)c : 1;
    }
    if (n > SMDPD_THREADS_MAX)
        n = SMDPD_THREADS_MAX;
    timeout = cfg->timeout ? cfg->timeout : 30;
    if (!(d = calloc(1, sizeof(*d))))
        return RSP_ERR_NOMEM;
    d->s = s;
    d->fd9 = d->fd2 = -1;
    d->op_refresh_ms = cfg->op_refresh_ms ? cfg->op_refresh_ms : 1000;
    pthread_mutex_init(&d->op_mu, NULL);
    d->op_mu_init = 1;
    /* the same HOST:PORT (not port 0, which asks for two free ports): one listener */
    d->combined = cfg->es9_listen && cfg->es2_listen &&
                  strcmp(cfg->es9_listen, cfg->es2_listen) == 0 &&
                  !(strlen(cfg->es9_listen) >= 2 &&
                    strcmp(cfg->es9_listen + strlen(cfg->es9_listen) - 2, ":0") == 0);

    if (cfg->es9_listen) {
        d->ctx9 = tls_ctx(cfg, d->combined ? SSL_VERIFY_PEER : SSL_VERIFY_NONE);
        if (!d->ctx9) {
            rc = RSP_ERR_CRYPTO;
            goto err;
        }
        if ((d->fd9 = listen_on(cfg->es9_listen, &d->port9)) < 0) {
            rc = d->fd9;
            goto err;
        }
    }
    if (cfg->es2_listen && !d->combined) {
        d->ctx2 = tls_ctx(cfg, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
        if (!d->ctx2) {
            rc = RSP_ERR_CRYPTO;
            goto err;
        }
        if ((d->fd2 = listen_on(cfg->es2_listen, &d->port2)) < 0) {
            rc = d->fd2;
            goto err;
        }
    }
    if (!(d->w = calloc(n, sizeof(*d->w)))) {
        rc = RSP_ERR_NOMEM;
        goto err;
    }
    d->n = n;
    for (unsigned i = 0; i < n; i++) {
        struct smdpd_worker *w = &d->w[i];
        w->d = d;
        if ((rc = smdp_store_open_sqlite(cfg->db, &w->st)) ||
            (cfg->sync_normal && (rc = smdp_store_sqlite_synchronous(w->st, 0))))
            goto err;
        rc = RSP_ERR_NOMEM;
        if (!(w->base = base_new()))
            goto err;
        if (d->fd9 >= 0) {
            w->l9 = (struct smdpd_lctx){
                .w = w, .ctx = d->ctx9,
                .iface = d->combined ? (SMDP_IFACE_ES9 | SMDP_IFACE_ES2) : SMDP_IFACE_ES9,
            };
            if (!(w->http9 = http_new(w, &w->l9, d->fd9, timeout)))
                goto err;
        }
        if (d->fd2 >= 0) {
            w->l2 = (struct smdpd_lctx){ .w = w, .iface = SMDP_IFACE_ES2, .ctx = d->ctx2 };
            if (!(w->http2 = http_new(w, &w->l2, d->fd2, timeout)))
                goto err;
        }
    }
    if ((rc = op_map_load(d, d->w[0].st))) {
        RSP_LOG(RSP_LOG_ERROR, LOG_DOM, "operators: %s", smdp_strerror(rc));
        goto err;
    }
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&d->w[i].tid, NULL, worker_main, &d->w[i]) != 0) {
            rc = RSP_ERR_NOMEM;
            goto err;
        }
        d->w[i].started = 1;
    }
    RSP_LOG(RSP_LOG_INFO, LOG_DOM, "%u threads, es9 port %d, es2 port %d", n, d->port9,
            smdpd_port_es2(d));
    *out = d;
    return RSP_OK;
err:
    smdpd_free(d);
    return rc;
}
