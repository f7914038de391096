/*
 * smdp_conf.h - smdpd configuration: INI file (libinih), command-line
 * overrides, and the --pki shortcut that fills every path from a directory
 * in the SGP.26 / rsp-pki layout (SGP.22 v2.5 §4.5.2 certificates).
 *
 *   [server]  es9_listen, es2_listen (HOST:PORT, port 0 = any), fqdn,
 *             threads, timeout (per-connection idle, s), log_level,
 *             port_file
 *   [tls]     cert, key, chain            (CERT.DPtls and its key)
 *   [nist]    dpauth_cert, dpauth_key, dppb_cert, dppb_key
 *   [brp]     idem for brainpoolP256r1
 *   [trust]   ci_dir, ci (one CI file; repeatable), operator_ca (repeatable)
 *   [store]   db
 *   [session] timeout, order_ttl, cc_limit, download_limit
 *   [notify]  attempts, queue, backoff_ms, ca, cert, key (operator callbacks)
 */
#ifndef SMDP_CONF_H
#define SMDP_CONF_H

#include "smdpd.h"

#define SMDP_CONF_CI_MAX 4

struct smdp_conf {
    char *es9_listen, *es2_listen, *fqdn, *log_level, *port_file;
    unsigned threads, timeout;
    char *tls_cert, *tls_key, *tls_chain;
    char *nist[4], *brp[4];            /* auth_cert, auth_key, pb_cert, pb_key */
    char *ci_dir;
    char *ci[SMDP_CONF_CI_MAX];
    char *operator_ca[SMDPD_CA_MAX];
    char *db;
    int sync_normal;                   /* [store] synchronous = normal (default full) */
    unsigned session_timeout, order_ttl, cc_limit, download_limit;
    unsigned notify_attempts, notify_queue, notify_backoff_ms;
    char *notify_ca, *notify_cert, *notify_key;
};

/* Set one key ("section", "key"): RSP_ERR_INVAL for an unknown key or a bad
 * number, RSP_ERR_TOOBIG when a list is full. Later values replace earlier
 * ones (lists append). */
int smdp_conf_set(struct smdp_conf *c, const char *section, const char *key, const char *value);

/* Read an INI file; [out] *line the failing line (0 if the file could not
 * be opened). RSP_ERR_IO, RSP_ERR_INVAL. */
int smdp_conf_load(struct smdp_conf *c, const char *path, int *line);

/* Fill unset paths from dir (rsp-pki generate output or the GSMA SGP.26
 * set): DPauth/DPpb per curve, DPtls (CERT_S_SM_DP_TLS_NIST, else SGP.26
 * CERT_S_SM_DP_VARO_TLS_NIST with SK_S_SM_DP_TLS_NIST.pem), the CI
 * certificates as trust anchors and as operator CAs, and the fqdn from the
 * TLS certificate's first dNSName. RSP_ERR_NOTFOUND if no TLS pair. */
int smdp_conf_pki(struct smdp_conf *c, const char *dir);

/* The smdp_config / smdpd_config views (borrowing c's strings). */
void smdp_conf_core(const struct smdp_conf *c, struct smdp_config *out);
void smdp_conf_server(const struct smdp_conf *c, struct smdpd_config *out);

void smdp_conf_free(struct smdp_conf *c);

#endif
