/*
 * smdp_session.h - internals of the SM-DP+ core shared by smdp_core.c and
 * smdp_es9.c (not installed): the credentials loaded once per curve, the
 * trust store and the RSP session table (SGP.22 v2.5 §3.1.2 common mutual
 * authentication, §3.1.3 download, §5.6 ES9+).
 *
 * Sessions live in memory only and are small (no BPP, no certificate
 * chain: the eUICC public key is kept as one EVP_PKEY reference). What must
 * survive a restart - the order, its transactionId, otPK.EUICC.ECKA, the
 * download counter and, once a BPP is bound, PK.EUICC.SIG and the EID for
 * the ProfileInstallationResult - is in the store
 * (smdp_store_session_create/_bind): after a restart a PIR is still
 * verified and acted on, and any other call makes the LPA start a new
 * session.
 *
 * Memory: expired sessions are freed when a new session lands in their
 * hash chain, and all chains are swept before the cap refuses a session
 * (InitiateAuthentication then answers 1.2/4.4 "Busy").
 *
 * Locking: a request takes its session out of the table
 * (smdp_sess_take), works on it alone and puts it back (smdp_sess_put) or
 * frees it; the table lock is held only for the list operations.
 */
#ifndef SMDP_SESSION_H
#define SMDP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "rsp_crypto.h"
#include "rsp_x509.h"
#include "smdp.h"

/* Curves served, as indices of struct smdp.cred. */
enum { SMDP_CRED_NIST = 0, SMDP_CRED_BRP = 1, SMDP_CRED_N = 2 };

/* One curve's credentials, parsed once at smdp_create. */
struct smdp_cred {
    int present;
    int curve;                         /* enum rsp_curve */
    X509 *auth_cert, *pb_cert;
    EVP_PKEY *auth_key, *pb_key;
    uint8_t *auth_der, *pb_der;        /* certificate DER (response fields) */
    size_t auth_der_len, pb_der_len;
    uint8_t ci_pkid[RSP_X509_PKID_MAX];   /* AKI of CERT.DPauth = its CI PKID */
    size_t ci_pkid_len;
    uint8_t oid[32];                   /* SM-DP+ OID (SAN registeredID), content octets */
    size_t oid_len;
};

/* Session states (§3.1.2 / §3.1.3). */
enum smdp_sess_state {
    SMDP_SESS_INITIATED = 1,       /* after InitiateAuthentication */
    SMDP_SESS_AUTHENTICATED = 2,   /* after AuthenticateClient */
    SMDP_SESS_BPP_BUILT = 3,       /* after GetBoundProfilePackage */
};

#define SMDP_TID_LEN 16
#define SMDP_SESSIONS_MAX 100000u  /* hard cap on sessions in memory */

struct smdp_sess {
    struct smdp_sess *next;            /* table chain */
    uint8_t tid[SMDP_TID_LEN];
    char tid_hex[2 * SMDP_TID_LEN + 1];
    uint8_t server_challenge[16];
    int cred;                          /* SMDP_CRED_* chosen */
    int state;                         /* enum smdp_sess_state */
    int64_t expires;
    /* our FQDN with the ":port" of the SM-DP+ address the LPA used in
     * InitiateAuthentication, if any: the default notificationAddress, so
     * that notifications reach the listener the LPA reached */
    char smdp_addr[SMDP_FQDN_MAX + 1];
    /* known after AuthenticateClient */
    char matching_id[SMDP_MID_MAX + 1];
    char iccid[21];
    char operator_id[SMDP_ID_MAX + 1];
    char eid[33];
    EVP_PKEY *euicc_key;               /* PK.EUICC.SIG (own reference) */
    uint8_t euicc_spki[SMDP_EUICC_PK_MAX]; /* the same key as in the eUICC
                                        * certificate (SubjectPublicKeyInfo
                                        * DER), stored with the BPP binding */
    size_t euicc_spki_len;
    uint8_t smdp_sig2[RSP_ECDSA_SIG_LEN];
    int cc_required;
};

struct smdp;

/* The credentials of curve index i (NULL if not served). */
const struct smdp_cred *smdp_cred_get(const struct smdp *s, int i);
/* The trusted CI store. */
const struct rsp_x509_store *smdp_ci_store(const struct smdp *s);
/* Verified EUM certificates (rsp_x509_verify_euicc_der): few EUMs sign
 * the eUICCs of a fleet; bounded, expiry still enforced per call. */
#define SMDP_EUM_CACHE_MAX 64
struct rsp_x509_eum_cache *smdp_eum_cache(const struct smdp *s);

/* New session with a fresh random transactionId and serverChallenge, put in
 * the table; addr (may be NULL; truncated to SMDP_FQDN_MAX) is kept as
 * smdp_addr. [out] copies of tid (hex) and challenge through *out (borrowed:
 * valid only until the next take of that tid; callers copy what they need).
 * Errors: RSP_ERR_NOMEM, RSP_ERR_TOOBIG (table full), RSP_ERR_CRYPTO. */
int smdp_sess_new(struct smdp *s, int cred, int64_t now, const char *addr,
                  char tid_hex[33], uint8_t challenge[16]);

/* Take the session of tid_hex out of the table. RSP_ERR_NOTFOUND if
 * unknown, RSP_ERR_EXPIRED if it expired (it is then freed). */
int smdp_sess_take(struct smdp *s, const char *tid_hex, int64_t now,
                   struct smdp_sess **out);
/* Put a taken session back (with a renewed expiry). */
void smdp_sess_put(struct smdp *s, struct smdp_sess *ss, int64_t now);
/* Free a taken session. */
void smdp_sess_free(struct smdp_sess *ss);
/* Number of sessions in memory (tests). */
size_t smdp_sess_count(struct smdp *s);
/* Test hook: lower the session cap (0 or anything above SMDP_SESSIONS_MAX:
 * back to SMDP_SESSIONS_MAX). */
void smdp_sess_cap_set(struct smdp *s, size_t cap);

#endif
