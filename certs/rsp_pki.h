/*
 * rsp_pki.h - generator of a private GSMA-style test PKI (librsppki).
 *
 * Test tooling only: the stack never links it. It issues certificates with
 * the SGP.22 v2.5 §4.5.2.1.0 profiles, extension for extension like the
 * GSMA SGP.26 test set, so that rsp_x509 and every peer accept both sets the
 * same way. The repository holds no private keys: tests and demos generate
 * them into build/.
 *
 * Output of rsp_pki_generate (<C> is NIST or BRP, one set per curve; every
 * certificate as CERT_<stem>.der and .pem, its key as SK_<stem>.pem (PKCS#8,
 * mode 0600) and PK_<stem>.pem; names as in SGP.26 except the TLS ones):
 *
 *   DIR/CertificateIssuer/ CERT_CI_ECDSA_<C>            CI, self-signed
 *   DIR/EUM/               CERT_EUM_ECDSA_<C>           EUM, nameConstraints
 *                                                       O + serialNumber=EIN
 *   DIR/eUICC/             CERT_EUICC_ECDSA_<C>         eUICC (subject
 *                                                       serialNumber = EID)
 *   DIR/DPauth/            CERT_S_SM_DPauth_ECDSA_<C>   SM-DP+ authentication
 *   DIR/DPpb/              CERT_S_SM_DPpb_ECDSA_<C>     SM-DP+ profile binding
 *   DIR/DPtls/             CERT_S_SM_DP_TLS_<C>         SM-DP+ TLS server
 *                                                       (SGP.26: ..._VARO_TLS_<C>)
 *   with dp2:              CERT_S_SM_DP2auth_ECDSA_<C>, CERT_S_SM_DP2pb_ECDSA_<C>,
 *                          CERT_S_SM_DP2_TLS_<C>       a second SM-DP+
 *   DIR/Operator/          CERT_OP_<NAME>_TLS_<C>       ES2+ client (mutual TLS)
 *   with negative (DIR/Negative/):
 *     CERT_EUICC_ECDSA_<C>_OUT_OF_RANGE    EID outside the EUM prefix
 *     CERT_S_SM_DPauth_ECDSA_<C>_EXPIRED   validity ended a year ago
 *     CERT_S_SM_DP_TLS_<C>_EXPIRED         same, TLS
 *     CERT_EUM_ECDSA_<C>_EXPIRED           the EUM's key and subject, validity
 *                                          ended a year ago
 *     CERT_EUICC_ECDSA_<C>_EXPIRED         the eUICC's key and EID, same
 *     CERT_CI_ECDSA_<C>_FOREIGN            another CI (not to be trusted)
 *     CERT_S_SM_DPauth_ECDSA_<C>_FOREIGN_CI  a DPauth signed by that CI
 *
 * rsp_pki_mint_euicc writes OUT/CERT_EUICC_<EID>.der, OUT/SK_EUICC_<EID>.pem
 * and OUT/eids.txt (one EID a line) under DIR/EUM/CERT_EUM_ECDSA_<C>.der +
 * SK_EUM_ECDSA_<C>.pem, so it also mints under the SGP.26 EUM.
 */
#ifndef RSP_PKI_H
#define RSP_PKI_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/types.h>

#include "rsp_x509.h"

#define RSP_PKI_DEFAULT_HOST "smdp.example.test"
#define RSP_PKI_DEFAULT_DP2_HOST "smdp2.example.test"
#define RSP_PKI_DEFAULT_EUM_PREFIX "89049032"   /* as SGP.26 */
#define RSP_PKI_DEFAULT_EUM_ORG "RSP Test EUM"
/* Pass as not_after for "no well-defined expiration" (99991231235959Z,
 * RFC 5280 §4.1.2.5); the default of eUICC certificates. */
#define RSP_PKI_NOT_AFTER_NONE ((time_t)-1)

/* A certificate and its private key. */
struct rsp_pki_cred {
    X509 *cert;
    EVP_PKEY *key;
};

/* Free both members (NULL-safe) and zero the struct. */
void rsp_pki_cred_free(struct rsp_pki_cred *c);

/* New key pair on curve (enum rsp_curve). [out] *out, EVP_PKEY_free. */
int rsp_pki_keygen(int curve, EVP_PKEY **out);

/* One attribute of a subject name, in order (e.g. NID_commonName). */
struct rsp_pki_rdn {
    int nid;
    const char *value;
};

struct rsp_pki_cert_params {
    int role;               /* enum rsp_x509_role: the extension profile */
    int curve;              /* curve of the new key */
    EVP_PKEY *key;          /* certify this key (borrowed) instead of a new one */
    const struct rsp_pki_rdn *subject;  /* required */
    size_t n_subject;
    const char *eum_org;    /* EUM: nameConstraints permitted O ... */
    const char *eum_prefix; /* ... and serialNumber (the EIN prefix) */
    const char *const *dns; /* TLS: SAN dNSNames (at least one) */
    size_t n_dns;
    const char *rid;        /* SAN registeredID (dotted OID), NULL for none */
    time_t now;             /* 0: time(NULL) */
    time_t not_before;      /* 0: now - 1 hour */
    time_t not_after;       /* 0: the role default; RSP_PKI_NOT_AFTER_NONE */
    uint64_t serial;        /* 0: random */
};

/*
 * Issue a certificate of p->role signed by issuer (NULL: self-signed, for a
 * CI), with the SGP.26 extension set of that role:
 *   CI     SKI, basicConstraints cA (crit), certificatePolicies ci (crit),
 *          keyUsage keyCertSign+cRLSign (crit), SAN rid, CRL DPs
 *   EUM    AKI, SKI, keyUsage keyCertSign (crit), policies eum (crit), SAN
 *          rid, basicConstraints cA pathLen 0 (crit), CRL DP,
 *          nameConstraints permitted dirName O + serialNumber (crit)
 *   eUICC  AKI, SKI, keyUsage digitalSignature (crit), policies euicc (crit)
 *   DPauth/DPpb/DSauth  AKI, SKI, SAN rid, keyUsage digitalSignature
 *          (crit), policies dp-auth/dp-pb/ds-auth (crit), CRL DPs
 *   DPtls/DStls  keyUsage digitalSignature (crit), EKU serverAuth+clientAuth
 *          (crit), policies dp-tls/ds-tls, SKI, AKI, SAN dNSName* + rid,
 *          CRL DPs
 *   operator  keyUsage digitalSignature (crit), EKU clientAuth (crit),
 *          SKI, AKI (no id-rspRole: ES2+ credentials are outside SGP.22)
 * Default validity: CI 35 years, EUM 34, DP 10, TLS/operator 1, eUICC none.
 * Errors: RSP_ERR_INVAL (missing parameter), RSP_ERR_CRYPTO, RSP_ERR_NOMEM.
 * [out] out: on success a new cert and key, else zeroed.
 */
int rsp_pki_issue(const struct rsp_pki_cert_params *p, const struct rsp_pki_cred *issuer,
                  struct rsp_pki_cred *out);

/* Write CERT_<stem>.der/.pem, SK_<stem>.pem (0600), PK_<stem>.pem into dir
 * (created with parents). RSP_ERR_IO, RSP_ERR_INVAL. */
int rsp_pki_write_cred(const char *dir, const char *stem, const struct rsp_pki_cred *c);

/* Load a certificate (DER or PEM) and its PEM private key; RSP_ERR_CERT if
 * they do not match. */
int rsp_pki_load_cred(const char *cert_path, const char *key_path,
                      struct rsp_pki_cred *out);

/* EID = prefix (1..29 digits) + n as zero-padded digits (modulo the room
 * left) + check digits (SGP.29). eid holds 33 bytes. RSP_ERR_EID if the
 * prefix is not digits. rsp_pki_eid_random draws n at random. */
int rsp_pki_eid_make(const char *prefix, uint64_t n, char *eid);
int rsp_pki_eid_random(const char *prefix, char *eid);

/* Bits of rsp_pki_opts.curves */
#define RSP_PKI_CURVE_BIT(curve) (1u << (curve))
#define RSP_PKI_CURVES_BOTH \
    (RSP_PKI_CURVE_BIT(RSP_CURVE_P256) | \
     RSP_PKI_CURVE_BIT(RSP_CURVE_BRAINPOOLP256R1))

struct rsp_pki_opts {
    const char *dir;            /* output directory (created) */
    unsigned curves;            /* RSP_PKI_CURVE_BIT mask; 0 = both */
    const char *host;           /* SM-DP+ FQDN; NULL = RSP_PKI_DEFAULT_HOST */
    const char *eid;            /* eUICC EID; NULL = random under the prefix */
    const char *eum_prefix;     /* NULL = RSP_PKI_DEFAULT_EUM_PREFIX */
    int dp2;                    /* also a second SM-DP+ */
    const char *dp2_host;       /* NULL = RSP_PKI_DEFAULT_DP2_HOST */
    const char *const *operators; /* ES2+ client names ([A-Za-z0-9_-]{1,32}) */
    size_t n_operators;
    int negative;               /* also the Negative/ set */
    time_t now;                 /* 0 = time(NULL) */
    char eid_out[33];           /* [out] the eUICC EID used */
};

/* Generate the whole PKI into o->dir (layout above). RSP_ERR_EID if o->eid
 * is malformed or outside the prefix; RSP_ERR_INVAL, RSP_ERR_IO, ... */
int rsp_pki_generate(struct rsp_pki_opts *o);

struct rsp_pki_mint_opts {
    const char *pki_dir;        /* holds EUM/CERT_EUM_ECDSA_<C>.der + SK_ */
    const char *out_dir;        /* created */
    int curve;                  /* enum rsp_curve */
    size_t count;               /* 1..1000000 */
    uint64_t first;             /* EID serial of the first; 0 = random */
    time_t now;                 /* 0 = time(NULL) */
    char (*eids)[33];           /* optional [out]: count EIDs */
};

/* Mint count eUICC identities (key, certificate) under the EUM of pki_dir,
 * with consecutive EIDs under the EUM's first permitted prefix and the O of
 * its name constraint. RSP_ERR_NOTFOUND if the EUM files are missing. */
int rsp_pki_mint_euicc(const struct rsp_pki_mint_opts *o);

#endif
