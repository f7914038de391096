/*
 * smdp_core.c - the shared SM-DP+ context: configuration, the SM-DP+
 * credentials per curve (CERT.DPauth.ECDSA signs serverSigned1,
 * CERT.DPpb.ECDSA signs smdpSigned2 and the BPP, SGP.22 v2.5 §4.5.2.1.0.4),
 * the trusted CIs and the RSP session table (§3.1.2, §3.1.3).
 *
 * Everything a request needs is parsed once here: certificates, keys, DER
 * bytes, the CI PKID of each CERT.DPauth (its AKI) and the SM-DP+ OID (the
 * SAN registeredID), so a download costs only its public-key operations.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "rsp_err.h"
#include "rsp_log.h"
#include "rsp_pki.h"
#include "rsp_util.h"
#include "rsp_x509.h"
#include "smdp.h"
#include "smdp_session.h"

#define SESS_BUCKETS 1024u

struct smdp {
    struct smdp_config cfg;
    char *fqdn;
    struct smdp_cred cred[SMDP_CRED_N];
    struct rsp_x509_store *ci;
    struct rsp_x509_eum_cache *eums;   /* verified EUM certificates */
    pthread_mutex_t lock;              /* the session table */
    struct smdp_sess *bucket[SESS_BUCKETS];
    size_t n_sess;
    size_t sess_cap;                   /* SMDP_SESSIONS_MAX, or a test's */
};

static void cred_free(struct smdp_cred *c)
{
    X509_free(c->auth_cert);
    X509_free(c->pb_cert);
    EVP_PKEY_free(c->auth_key);
    EVP_PKEY_free(c->pb_key);
    free(c->auth_der);
    free(c->pb_der);
    memset(c, 0, sizeof(*c));
}

static int cert_der(X509 *x, uint8_t **der, size_t *len)
{
    struct rsp_buf b;
    int rc;
    rsp_buf_init(&b, RSP_X509_DER_MAX);
    if ((rc = rsp_x509_to_der(x, &b)))
        return rc;
    *der = rsp_buf_steal(&b, len);
    return *der ? RSP_OK : RSP_ERR_NOMEM;
}

static int cred_load(const struct smdp_cred_paths *p, int want_curve, struct smdp_cred *c)
{
    struct rsp_pki_cred auth = {0}, pb = {0};
    int rc, n;

    memset(c, 0, sizeof(*c));
    if (!p->auth_cert && !p->auth_key && !p->pb_cert && !p->pb_key)
        return RSP_OK;                       /* curve not served */
    if (!p->auth_cert || !p->auth_key || !p->pb_cert || !p->pb_key)
        return RSP_ERR_INVAL;
    if ((rc = rsp_pki_load_cred(p->auth_cert, p->auth_key, &auth)) ||
        (rc = rsp_pki_load_cred(p->pb_cert, p->pb_key, &pb)))
        goto fail;
    c->auth_cert = auth.cert;
    c->auth_key = auth.key;
    c->pb_cert = pb.cert;
    c->pb_key = pb.key;
    if (rsp_x509_get_curve(c->auth_cert) != want_curve ||
        rsp_x509_get_curve(c->pb_cert) != want_curve ||
        rsp_x509_get_role(c->auth_cert) != RSP_X509_ROLE_DP_AUTH ||
        rsp_x509_get_role(c->pb_cert) != RSP_X509_ROLE_DP_PB) {
        rc = RSP_ERR_INVAL;
        goto fail_c;
    }
    n = rsp_x509_get_aki(c->auth_cert, c->ci_pkid, sizeof(c->ci_pkid));
    if (n <= 0) {
        rc = RSP_ERR_DECODE;
        goto fail_c;
    }
    c->ci_pkid_len = (size_t)n;
    if ((rc = cert_der(c->auth_cert, &c->auth_der, &c->auth_der_len)) ||
        (rc = cert_der(c->pb_cert, &c->pb_der, &c->pb_der_len)))
        goto fail_c;
    c->oid_len = rsp_x509_get_smdp_oid(c->auth_cert, c->oid);
    c->curve = want_curve;
    c->present = 1;
    return RSP_OK;
fail:
    rsp_pki_cred_free(&auth);
    rsp_pki_cred_free(&pb);
    return rc;
fail_c:
    cred_free(c);
    return rc;
}

int smdp_create(const struct smdp_config *cfg, struct smdp **out)
{
    struct smdp *s;
    int rc;

    if (out)
        *out = NULL;
    if (!cfg || !out || !cfg->fqdn || !*cfg->fqdn)
        return RSP_ERR_INVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return RSP_ERR_NOMEM;
    if (pthread_mutex_init(&s->lock, NULL)) {
        free(s);
        return RSP_ERR_NOMEM;
    }
    s->cfg = *cfg;
    s->sess_cap = SMDP_SESSIONS_MAX;
    s->fqdn = strdup(cfg->fqdn);
    if (!s->fqdn) {
        rc = RSP_ERR_NOMEM;
        goto fail;
    }
    s->cfg.fqdn = s->fqdn;
    /* The paths are only used here: do not keep the caller's pointers. */
    memset(&s->cfg.nist, 0, sizeof(s->cfg.nist));
    memset(&s->cfg.brp, 0, sizeof(s->cfg.brp));
    s->cfg.ci_dir = NULL;
    memset(s->cfg.ci_files, 0, sizeof(s->cfg.ci_files));
    if (!s->cfg.session_timeout)
        s->cfg.session_timeout = 300;
    if (!s->cfg.order_ttl)
        s->cfg.order_ttl = 7u * 24u * 3600u;
    if (!s->cfg.cc_limit)
        s->cfg.cc_limit = 5;
    if (!s->cfg.download_limit)
        s->cfg.download_limit = 5;
    if ((rc = cred_load(&cfg->nist, RSP_CURVE_P256, &s->cred[SMDP_CRED_NIST])) ||
        (rc = cred_load(&cfg->brp, RSP_CURVE_BRAINPOOLP256R1, &s->cred[SMDP_CRED_BRP])))
        goto fail;
    if (!s->cred[SMDP_CRED_NIST].present && !s->cred[SMDP_CRED_BRP].present) {
        rc = RSP_ERR_INVAL;
        goto fail;
    }
    if ((rc = rsp_x509_store_new(&s->ci)))
        goto fail;
    if (cfg->ci_dir) {
        rc = rsp_x509_store_add_dir(s->ci, cfg->ci_dir);
        if (rc < 0 && rc != RSP_ERR_NOTFOUND)
            goto fail;
    }
    for (size_t i = 0; i < 4 && cfg->ci_files[i]; i++)
        if ((rc = rsp_x509_store_add_file(s->ci, cfg->ci_files[i])) < 0)
            goto fail;
    if (rsp_x509_store_count(s->ci) == 0) {
        rc = RSP_ERR_INVAL;
        goto fail;
    }
    if ((rc = rsp_x509_eum_cache_new(SMDP_EUM_CACHE_MAX, &s->eums)))
        goto fail;
    *out = s;
    return RSP_OK;
fail:
    smdp_free(s);
    return rc;
}

void smdp_free(struct smdp *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < SESS_BUCKETS; i++) {
        struct smdp_sess *ss = s->bucket[i];
        while (ss) {
            struct smdp_sess *n = ss->next;
            smdp_sess_free(ss);
            ss = n;
        }
    }
    for (int i = 0; i < SMDP_CRED_N; i++)
        cred_free(&s->cred[i]);
    rsp_x509_store_free(s->ci);
    rsp_x509_eum_cache_free(s->eums);
    pthread_mutex_destroy(&s->lock);
    free(s->fqdn);
    free(s);
}

const char *smdp_fqdn(const struct smdp *s)
{
    return s ? s->fqdn : NULL;
}

const struct smdp_config *smdp_config_of(const struct smdp *s)
{
    return s ? &s->cfg : NULL;
}

void smdp_progress_emit(struct smdp *s, const struct smdp_progress *ev)
{
    if (s && ev && s->cfg.progress)
        s->cfg.progress(s->cfg.progress_arg, ev);
}

const struct smdp_cred *smdp_cred_get(const struct smdp *s, int i)
{
    if (!s || i < 0 || i >= SMDP_CRED_N || !s->cred[i].present)
        return NULL;
    return &s->cred[i];
}

const struct rsp_x509_store *smdp_ci_store(const struct smdp *s)
{
    return s ? s->ci : NULL;
}

struct rsp_x509_eum_cache *smdp_eum_cache(const struct smdp *s)
{
    return s ? s->eums : NULL;
}

/* ---- session table ------------------------------------------------------ */

static unsigned tid_bucket(const uint8_t tid[SMDP_TID_LEN])
{
    /* The transactionId is random: its first bytes are a fine hash. */
    return ((unsigned)tid[0] << 8 | tid[1]) % SESS_BUCKETS;
}

void smdp_sess_free(struct smdp_sess *ss)
{
    if (!ss)
        return;
    EVP_PKEY_free(ss->euicc_key);
    OPENSSL_cleanse(ss, sizeof(*ss));
    free(ss);
}

/* Drop expired sessions of one chain (lock held). */
static void bucket_sweep(struct smdp *s, unsigned b, int64_t now)
{
    struct smdp_sess **pp = &s->bucket[b];
    while (*pp) {
        struct smdp_sess *ss = *pp;
        if (ss->expires <= now) {
            *pp = ss->next;
            smdp_sess_free(ss);
            s->n_sess--;
        } else {
            pp = &ss->next;
        }
    }
}

int smdp_sess_new(struct smdp *s, int cred, int64_t now, const char *addr,
                  char tid_hex[33], uint8_t challenge[16])
{
    struct smdp_sess *ss = calloc(1, sizeof(*ss));
    if (!ss)
        return RSP_ERR_NOMEM;
    if (RAND_bytes(ss->tid, SMDP_TID_LEN) != 1 ||
        RAND_bytes(ss->server_challenge, sizeof(ss->server_challenge)) != 1) {
        free(ss);
        return RSP_ERR_CRYPTO;
    }
    rsp_hex_encode(ss->tid, SMDP_TID_LEN, ss->tid_hex);
    ss->cred = cred;
    ss->state = SMDP_SESS_INITIATED;
    snprintf(ss->smdp_addr, sizeof(ss->smdp_addr), "%s", addr ? addr : "");
    ss->expires = now + (int64_t)s->cfg.session_timeout;
    memcpy(tid_hex, ss->tid_hex, sizeof(ss->tid_hex));
    memcpy(challenge, ss->server_challenge, 16);
    unsigned b = tid_bucket(ss->tid);
    pthread_mutex_lock(&s->lock);
    bucket_sweep(s, b, now);
    /* Full: sweep every chain once before refusing (rare; O(table)). */
    if (s->n_sess >= s->sess_cap) {
        for (unsigned i = 0; i < SESS_BUCKETS; i++)
            bucket_sweep(s, i, now);
    }
    if (s->n_sess >= s->sess_cap) {
        pthread_mutex_unlock(&s->lock);
        smdp_sess_free(ss);
        return RSP_ERR_TOOBIG;
    }
    ss->next = s->bucket[b];
    s->bucket[b] = ss;
    s->n_sess++;
    pthread_mutex_unlock(&s->lock);
    return RSP_OK;
}

int smdp_sess_take(struct smdp *s, const char *tid_hex, int64_t now,
                   struct smdp_sess **out)
{
    uint8_t tid[SMDP_TID_LEN];
    struct smdp_sess **pp, *ss = NULL;
    int rc = RSP_ERR_NOTFOUND;

    *out = NULL;
    if (!tid_hex || strlen(tid_hex) != 2 * SMDP_TID_LEN ||
        rsp_hex_decode(tid_hex, 2 * SMDP_TID_LEN, tid, sizeof(tid)) != SMDP_TID_LEN)
        return RSP_ERR_NOTFOUND;
    unsigned b = tid_bucket(tid);
    pthread_mutex_lock(&s->lock);
    for (pp = &s->bucket[b]; *pp; pp = &(*pp)->next) {
        if (!CRYPTO_memcmp((*pp)->tid, tid, SMDP_TID_LEN)) {
            ss = *pp;
            *pp = ss->next;
            ss->next = NULL;
            s->n_sess--;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (!ss)
        return rc;
    if (ss->expires <= now) {
        smdp_sess_free(ss);
        return RSP_ERR_EXPIRED;
    }
    *out = ss;
    return RSP_OK;
}

void smdp_sess_put(struct smdp *s, struct smdp_sess *ss, int64_t now)
{
    unsigned b = tid_bucket(ss->tid);
    ss->expires = now + (int64_t)s->cfg.session_timeout;
    pthread_mutex_lock(&s->lock);
    ss->next = s->bucket[b];
    s->bucket[b] = ss;
    s->n_sess++;
    pthread_mutex_unlock(&s->lock);
}

void smdp_sess_cap_set(struct smdp *s, size_t cap)
{
    pthread_mutex_lock(&s->lock);
    s->sess_cap = cap && cap < SMDP_SESSIONS_MAX ? cap : SMDP_SESSIONS_MAX;
    pthread_mutex_unlock(&s->lock);
}

size_t smdp_sess_count(struct smdp *s)
{
    size_t n;
    pthread_mutex_lock(&s->lock);
    n = s->n_sess;
    pthread_mutex_unlock(&s->lock);
    return n;
}
