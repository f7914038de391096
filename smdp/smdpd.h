/*
 * smdpd.h - the SM-DP+ HTTPS server as a library: listeners, event-loop
 * threads, TLS (SGP.22 v2.5 §2.6.6 TLS profile, §6.2 HTTPS binding).
 *
 * N threads, each with its own event_base, two evhttp (ES9+, ES2+) and its
 * own struct smdp_store, all accepting on the same listening sockets. ES9+
 * is server-authenticated TLS (DPtls); ES2+ is mutual TLS: the operator's
 * client certificate must chain to a configured operator CA, and SHA-256 of
 * its DER selects the operator (smdp_operator.cert_sha256). When both are
 * given the same address (not port 0), one listener serves both: the client certificate
 * is then requested but optional, and ES2+ calls without one are refused.
 *
 * The certificate-hash -> operator map is loaded once at start and kept in
 * memory (shared by the threads); a hash it does not know reloads it from
 * the store, at most once per op_refresh_ms, so an operator added with
 * smdp-admin while smdpd runs is served without a restart.
 *
 * Request bodies: evhttp buffers up to SMDPD_BODY_HARD_MAX; smdp_handle
 * answers bodies above SMDP_BODY_MAX with 413 and a JSON body. Above the
 * hard cap libevent 2.1 itself answers 413 with its own HTML page (it checks
 * Content-Length before reading the body, and offers no hook to answer it
 * ourselves).
 */
#ifndef SMDPD_H
#define SMDPD_H

#include "smdp.h"

#define SMDPD_THREADS_MAX 64
#define SMDPD_CA_MAX 8
/* What evhttp buffers at most (see above). */
#define SMDPD_BODY_HARD_MAX (4u * SMDP_BODY_MAX)

struct smdpd_config {
    const char *es9_listen;            /* "HOST:PORT" (port 0: any), NULL: none */
    const char *es2_listen;            /* idem; equal to es9_listen: one listener */
    const char *tls_cert, *tls_key;    /* DPtls certificate (DER or PEM) and PEM key */
    const char *tls_chain;             /* PEM intermediates, or NULL */
    const char *operator_ca[SMDPD_CA_MAX];  /* trusted roots for ES2+ clients */
    const char *db;                    /* SQLite store path (opened per thread) */
    int sync_normal;                   /* [store] synchronous = normal: commits not
                                        * fsynced one by one (see smdp_store.h) */
    unsigned threads;                  /* 0: one per online CPU */
    unsigned timeout;                  /* per-connection idle timeout, s; 0: 30 */
    unsigned op_refresh_ms;            /* least time between two operator map
                                        * reloads on a miss; 0: 1000 */
};

struct smdpd;

/* Bind, load TLS, open a store per thread and start the threads. [out]
 * *out, stopped and freed with smdpd_free(). Errors: RSP_ERR_INVAL,
 * RSP_ERR_IO (bind, file), RSP_ERR_CRYPTO (TLS setup), SMDP_ERR_DB. */
int smdpd_start(struct smdp *s, const struct smdpd_config *cfg, struct smdpd **out);

/* Bound ports (0 if not served). */
int smdpd_port_es9(const struct smdpd *d);
int smdpd_port_es2(const struct smdpd *d);

/* Ask every loop to finish (thread-safe); smdpd_free() then joins. */
void smdpd_stop(struct smdpd *d);
void smdpd_free(struct smdpd *d);

#endif
