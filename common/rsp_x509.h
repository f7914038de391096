/*
 * rsp_x509.h - X.509 certificates of the GSMA RSP PKI (SGP.22 v2.5 §4.5.2).
 *
 * A trust store holds the GSMA CI certificates the caller trusts, looked up
 * by their PKID (the SubjectKeyIdentifier, SGP.22 §4.5.2.1.0.1). Chains are
 * verified the SGP.22 way on top of OpenSSL's RFC 5280 path validation:
 *
 *   CI -> EUM -> eUICC        (§4.5.2.1.0.2, §4.5.2.1.0.3)
 *   CI -> SM-DP+ auth / pb     (§4.5.2.1.0.4)
 *   CI -> SM-DP+ TLS, SM-DS    (the TLS and SM-DS profiles of §4.5.2.1.0)
 *
 * and the verification rules of §4.5.2.2: signatures, validity against a
 * caller-given time, criticality, key usage, the role carried as a
 * certificate policy (id-rspRole-*, 2.23.146.1.2.1.x, RSPDefinitions in
 * Annex H), AKI -> SKI chaining, the key curve, and the EID of an eUICC
 * certificate against the range its EUM permits (nameConstraints
 * directoryName O + serialNumber, matched as a prefix; see spec-notes/pki.md).
 *
 * Everything is caller-owned and reentrant: no logging, no globals but the
 * fast path's process-wide decoder context (see rsp_x509_verify_leaf_der). A store
 * may be shared between threads once loaded (verification only reads it).
 * Every function returns 0 (RSP_OK) or a negative rsp_err; functions that
 * return a length return it as a non-negative int.
 */
#ifndef RSP_X509_H
#define RSP_X509_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/types.h>

#include "rsp_buf.h"
#include "rsp_crypto.h"

/* Largest PKID (key identifier) kept; SGP.22 PKIDs are 20 bytes (SHA-1). */
#define RSP_X509_PKID_MAX 64
/* Largest certificate accepted from DER (SGP.22 certificates are < 1 KiB). */
#define RSP_X509_DER_MAX 16384
/* Pass as `at` to skip validity-period checks (an eUICC has no reliable
 * clock, SGP.22 §4.5.2.2 note). */
#define RSP_X509_NO_TIME ((time_t)-1)

/* Roles: the value is the last arc of id-rspRole-* (2.23.146.1.2.1.<role>)
 * that the certificatePolicies extension of the certificate carries. */
enum rsp_x509_role {
    RSP_X509_ROLE_CI       = 0,  /* id-rspRole-ci */
    RSP_X509_ROLE_EUICC    = 1,  /* id-rspRole-euicc */
    RSP_X509_ROLE_EUM      = 2,  /* id-rspRole-eum */
    RSP_X509_ROLE_DP_TLS   = 3,  /* id-rspRole-dp-tls */
    RSP_X509_ROLE_DP_AUTH  = 4,  /* id-rspRole-dp-auth */
    RSP_X509_ROLE_DP_PB    = 5,  /* id-rspRole-dp-pb */
    RSP_X509_ROLE_DS_TLS   = 6,  /* id-rspRole-ds-tls */
    RSP_X509_ROLE_DS_AUTH  = 7,  /* id-rspRole-ds-auth */
    /* ES2+ client certificate of an operator (mutual TLS). SGP.22 leaves its
     * profile out of scope; ours: no id-rspRole policy, EKU clientAuth. */
    RSP_X509_ROLE_OPERATOR = 100,
};

/* Name of a role ("ci", "euicc", "dp-auth", ...) or "?"; never NULL. */
const char *rsp_x509_role_name(int role);

/* ---- trust store ------------------------------------------------------ */

struct rsp_x509_store;

/* New empty store. [out] *out, freed with rsp_x509_store_free. */
int rsp_x509_store_new(struct rsp_x509_store **out);
void rsp_x509_store_free(struct rsp_x509_store *s);

/* Add a CI certificate. It must pass the CI profile (rsp_x509_check_profile
 * with RSP_X509_ROLE_CI) and its own self-signature; its SKI is its PKID.
 * The store takes its own reference (the caller keeps ci).
 * Adding the same certificate again is a no-op; another certificate with an
 * already-present PKID is RSP_ERR_CERT. Errors: RSP_ERR_INVAL, RSP_ERR_CERT,
 * RSP_ERR_VERIFY (bad self-signature), RSP_ERR_UNSUPPORTED (curve),
 * RSP_ERR_NOMEM. */
int rsp_x509_store_add(struct rsp_x509_store *s, X509 *ci);

/* Same, from DER (strict: see rsp_x509_from_der). */
int rsp_x509_store_add_der(struct rsp_x509_store *s, const uint8_t *der, size_t len);

/* Same, from a file holding one DER certificate or PEM certificates (every
 * certificate of a PEM file is added; on a failure the ones before it stay).
 * RSP_ERR_IO if unreadable, RSP_ERR_DECODE if it holds no certificate. */
int rsp_x509_store_add_file(struct rsp_x509_store *s, const char *path);

/* Add every CI certificate found in the regular files *.der, *.pem, *.crt of
 * dir (not recursive), e.g. an SGP.26 CertificateIssuer folder. Files that
 * are not certificates (keys) or not valid CI certificates are skipped.
 * Returns the number of CIs new to the store (the same CI in .der and .pem
 * counts once; 0 if all were there already), RSP_ERR_NOTFOUND if no file
 * held a CI, RSP_ERR_IO if dir cannot be read. */
int rsp_x509_store_add_dir(struct rsp_x509_store *s, const char *dir);

/* Number of CIs, and the i-th CI (borrowed; NULL past the end), e.g. to
 * build euiccCiPKIdListForVerification (SGP.22 §5.7.8). */
size_t rsp_x509_store_count(const struct rsp_x509_store *s);
X509 *rsp_x509_store_get(const struct rsp_x509_store *s, size_t i);

/* The CI whose PKID is pkid[0..len), borrowed, or NULL. */
X509 *rsp_x509_store_find(const struct rsp_x509_store *s, const uint8_t *pkid,
                          size_t len);

/* ---- chain verification ------------------------------------------------ */

/* What a verified chain says. */
struct rsp_x509_chain_info {
    int role;                       /* enum rsp_x509_role verified */
    int curve;                      /* enum rsp_curve of every key */
    uint8_t ci_pkid[RSP_X509_PKID_MAX];
    size_t ci_pkid_len;             /* PKID of the CI the chain ends at */
    char eid[33];                   /* eUICC role: the EID, else "" */
};

/*
 * Verify leaf as a certificate of role (any role but CI) up to a trusted CI.
 * With RSP_X509_ROLE_EUM the EUM certificate is verified on its own
 * (CI -> EUM: profile, signature, validity), e.g. to tell which certificate
 * of a failed eUICC chain is at fault (SGP.22 §5.6.3 8.1.2 vs 8.1.3).
 * [in] untrusted[0..n_untrusted): candidate intermediates; the eUICC role
 *      needs the EUM certificate here (at most 4; order does not matter).
 * [in] at: the time for validity checks, or RSP_X509_NO_TIME.
 * [out] info (optional): filled on success, zeroed on failure.
 *
 * The CI is chosen by the AKI of the topmost certificate of the path (SGP.22
 * §4.5.2.2: path validation "using the Subject Key Identifier and Authority
 * Key Identifier fields"). Paths are CI -> leaf, or CI -> EUM -> eUICC:
 * SGP.22 v2.5 defines no sub-CA.
 * Checks, per certificate: signature (ecdsa-with-SHA256), validity,
 * critical extensions all understood, the profile of its role (see
 * rsp_x509_check_profile), SKI present and AKI = issuer SKI, key on the
 * curve of the CI; for the eUICC role, the EID of the leaf permitted by the
 * EUM (rsp_x509_check_eid).
 * Errors: RSP_ERR_UNKNOWN_CI (no trusted CI with that PKID),
 * RSP_ERR_EXPIRED (some certificate outside its validity at `at`),
 * RSP_ERR_VERIFY (a signature does not verify), RSP_ERR_EID (EID malformed
 * or outside the EUM range), RSP_ERR_UNSUPPORTED (curve), RSP_ERR_CERT
 * (anything else wrong: profile, role, extensions, chaining),
 * RSP_ERR_INVAL, RSP_ERR_NOMEM.
 */
int rsp_x509_verify(const struct rsp_x509_store *s, int role, X509 *leaf,
                    X509 *const *untrusted, size_t n_untrusted, time_t at,
                    struct rsp_x509_chain_info *info);

/* Same from DER. issuer (may be NULL/0) is the one intermediate: the EUM
 * certificate for the eUICC role (as in AuthenticateClient, SGP.22
 * §5.6.3: euiccCertificate + eumCertificate). RSP_ERR_DECODE if a DER
 * input is malformed. */
int rsp_x509_verify_der(const struct rsp_x509_store *s, int role,
                        const uint8_t *leaf, size_t leaf_len,
                        const uint8_t *issuer, size_t issuer_len, time_t at,
                        struct rsp_x509_chain_info *info);

/*
 * Verified EUM certificates, for a server that checks many eUICC chains
 * under few EUMs (the SM-DP+ in AuthenticateClient, SGP.22 §5.6.3): a
 * bounded LRU keyed by the SHA-256 of the EUM DER (and the trust store it
 * was verified under), safe to share between threads. An entry keeps the
 * parsed EUM and its validity period: a hit skips decoding the EUM and
 * verifying it under the CI, but the EUM's validity is still checked
 * against `at` (outside it the entry is not used and the full verification
 * reports the expiry) and the eUICC certificate is verified against the
 * EUM every time (signature, validity, profile, AKI, EID range).
 * rsp_x509_eum_cache_new: max entries 1..4096; RSP_ERR_INVAL, RSP_ERR_NOMEM.
 */
struct rsp_x509_eum_cache;
int rsp_x509_eum_cache_new(size_t max, struct rsp_x509_eum_cache **out);
void rsp_x509_eum_cache_free(struct rsp_x509_eum_cache *c);
/* Entries, hits and misses so far (any pointer may be NULL). */
void rsp_x509_eum_cache_stats(struct rsp_x509_eum_cache *c, size_t *n, unsigned long *hits,
                              unsigned long *misses);

/* rsp_x509_verify_der(s, RSP_X509_ROLE_EUICC, leaf.., eum.., at, info)
 * through cache (may be NULL: no caching); the EUM is cached once the
 * whole chain verified. [out] *leaf_out (optional): on success the parsed
 * eUICC certificate (X509_free), so that its key need not be decoded
 * again. Same errors as rsp_x509_verify_der. */
int rsp_x509_verify_euicc_der(const struct rsp_x509_store *s,
                              struct rsp_x509_eum_cache *cache,
                              const uint8_t *leaf, size_t leaf_len,
                              const uint8_t *eum, size_t eum_len, time_t at,
                              struct rsp_x509_chain_info *info, X509 **leaf_out);

/*
 * The one-step chains without OpenSSL 3.0's eager key decoding (d2i_X509
 * spends most of its time decoding the subject key through OSSL_DECODER):
 * a leaf issued directly by a CI of the store, e.g. CERT.DPauth, CERT.DPpb,
 * CERT.DSauth checked by an eUICC (SGP.22 §5.7.13, §5.7.14), and the
 * eUICC certificate under a cached EUM (rsp_x509_verify_euicc_der).
 * The fast path only accepts what the full path (rsp_x509_from_der +
 * rsp_x509_verify) accepts; whatever it is not sure of goes to the full
 * path, which decides with its own error codes. The first use creates one
 * process-wide OpenSSL library context holding only the "null" provider
 * (thread-safe, never freed, read-only afterwards).
 */

/* rsp_x509_from_der + rsp_x509_verify(s, role, cert, NULL, 0, at, info)
 * for any role but CI, EUM and eUICC (those need the full path: a chain of
 * one more step); same results and errors. [out] *cert_out (optional): the
 * certificate on success (X509_free); it may have been decoded without
 * OpenSSL's key, so take the key with rsp_x509_get_pubkey /
 * rsp_x509_get_curve, not X509_get0_pubkey. */
int rsp_x509_verify_leaf_der(const struct rsp_x509_store *s, int role,
                             const uint8_t *der, size_t len, time_t at,
                             struct rsp_x509_chain_info *info, X509 **cert_out);

/* For tests and benchmarks, the fast path alone: RSP_OK if it accepts
 * (then the full path accepts too), RSP_ERR_STATE if it cannot tell.
 * _euicc: the eUICC certificate der under eum (which must itself verify
 * under s at `at`, as a cached EUM has). */
int rsp_x509_fast_verify_leaf_der(const struct rsp_x509_store *s, int role,
                                  const uint8_t *der, size_t len, time_t at,
                                  struct rsp_x509_chain_info *info, X509 **cert_out);
int rsp_x509_fast_verify_euicc_der(const struct rsp_x509_store *s, X509 *eum,
                                   const uint8_t *der, size_t len, time_t at,
                                   struct rsp_x509_chain_info *info, X509 **cert_out);

/* The fast path's decode: rsp_x509_from_der without OpenSSL's key decoder;
 * the subject key (id-ecPublicKey, a supported named curve, an
 * uncompressed point on it) is imported with rsp_ec_pubkey_from_point_quick
 * and kept with the certificate for rsp_x509_get_pubkey / _get_curve.
 * Errors: those of rsp_x509_from_der, RSP_ERR_UNSUPPORTED (other key). */
int rsp_x509_from_der_lite(const uint8_t *der, size_t len, X509 **out);

/*
 * Check the single-certificate profile of role (no chain, no time):
 * - certificatePolicies holds id-rspRole-<role> and no other id-rspRole
 *   (operator: no id-rspRole at all);
 * - keyUsage present and critical: keyCertSign for CI/EUM,
 *   digitalSignature and not keyCertSign for end entities;
 * - basicConstraints cA for CI/EUM, not cA for end entities;
 * - SKI present; AKI present except on the CI;
 * - TLS roles: extendedKeyUsage with serverAuth and a dNSName in the SAN;
 *   operator: extendedKeyUsage with clientAuth;
 * - eUICC: subject serialNumber is a valid EID (rsp_eid_check);
 * - EUM: nameConstraints or permittedEins present;
 * - signature ecdsa-with-SHA256, EC key on a supported curve.
 * Errors: RSP_ERR_CERT, RSP_ERR_EID, RSP_ERR_UNSUPPORTED, RSP_ERR_INVAL.
 */
int rsp_x509_check_profile(X509 *c, int role);

/*
 * The EID of euicc permitted by eum (SGP.22 §4.5.2.1.0.2/.0.3, §4.5.2.2):
 * the eUICC subject serialNumber must be a valid EID and, for some
 * permittedSubtrees directoryName of the EUM nameConstraints, carry the same
 * O and start with its serialNumber (a prefix: the EIN/IIN, SGP.29); no
 * excluded directoryName may match likewise. When the EUM carries the
 * permittedEins extension (2.23.146.1.2.2.0, SEQUENCE OF PrintableString;
 * SGP.22 v3) the EID must also start with one of those prefixes.
 * [out] eid (optional, 33 bytes): the EID.
 * Errors: RSP_ERR_EID (malformed or outside the range), RSP_ERR_CERT
 * (organisation mismatch, no constraint at all), RSP_ERR_INVAL.
 */
int rsp_x509_check_eid(const X509 *eum, const X509 *euicc, char *eid);

/* The i-th permitted directoryName subtree of an EUM (O and serialNumber
 * prefix, NUL-terminated; org may be NULL). RSP_ERR_NOTFOUND past the end,
 * RSP_ERR_TOOBIG if a buffer is too small. */
int rsp_x509_eum_permitted(const X509 *eum, size_t i, char *org, size_t orgmax,
                           char *prefix, size_t prefixmax);

/* ---- helpers ------------------------------------------------------------ */

/* Certificate from DER; the whole input must be one certificate
 * (consumed == len), at most RSP_X509_DER_MAX bytes. [out] *out, freed with
 * X509_free. Errors: RSP_ERR_DECODE, RSP_ERR_TOOBIG, RSP_ERR_INVAL. */
int rsp_x509_from_der(const uint8_t *der, size_t len, X509 **out);

/* Append the DER encoding of c to out. */
int rsp_x509_to_der(const X509 *c, struct rsp_buf *out);

/* First certificate of a DER or PEM file. RSP_ERR_IO, RSP_ERR_DECODE. */
int rsp_x509_load_file(const char *path, X509 **out);

/* The subject public key (also of a certificate from
 * rsp_x509_from_der_lite); [out] *out is a new reference (EVP_PKEY_free). */
int rsp_x509_get_pubkey(const X509 *c, EVP_PKEY **out);

/* Curve of the subject key: an enum rsp_curve, or
 * RSP_ERR_UNSUPPORTED (not EC, or another curve). */
int rsp_x509_get_curve(const X509 *c);

/* Role named by the certificatePolicies (an enum rsp_x509_role), or
 * RSP_ERR_NOTFOUND (no id-rspRole policy), RSP_ERR_CERT (more than one). */
int rsp_x509_get_role(const X509 *c);

/* SubjectKeyIdentifier (the PKID) / AuthorityKeyIdentifier keyIdentifier
 * into out[0..outmax). Returns the length, RSP_ERR_NOTFOUND if absent,
 * RSP_ERR_TOOBIG if outmax is too small. */
int rsp_x509_get_ski(const X509 *c, uint8_t *out, size_t outmax);
int rsp_x509_get_aki(const X509 *c, uint8_t *out, size_t outmax);

/* Subject commonName / serialNumber / organizationName as UTF-8 text
 * (exactly one such attribute, no NUL inside). Returns strlen,
 * RSP_ERR_NOTFOUND, RSP_ERR_CERT (repeated or bad), RSP_ERR_TOOBIG. */
int rsp_x509_get_subject_cn(const X509 *c, char *out, size_t outmax);
int rsp_x509_get_subject_serial(const X509 *c, char *out, size_t outmax);
int rsp_x509_get_subject_org(const X509 *c, char *out, size_t outmax);

/* The EID of an eUICC certificate (subject serialNumber, 32 digits with
 * valid check digits). eid holds 33 bytes. RSP_ERR_EID if malformed. */
int rsp_x509_get_eid(const X509 *c, char *eid);

/* The SM-DP+ OID (SGP.22 §4.5.2.1.0.4): content octets of the first
 * registeredID of the subjectAltName into out. Returns its length; 0 if
 * there is none or it is longer than RSP_X509_OID_MAX. */
#define RSP_X509_OID_MAX 32
size_t rsp_x509_get_smdp_oid(const X509 *c, uint8_t out[RSP_X509_OID_MAX]);

/* The i-th dNSName of the subjectAltName (the SM-DP+ / SM-DS FQDN of a TLS
 * certificate). Returns strlen, RSP_ERR_NOTFOUND past the end. */
int rsp_x509_get_dns_name(const X509 *c, size_t i, char *out, size_t outmax);

/* RSP_OK if a SAN dNSName of c matches host (RFC 6125, no wildcard in the
 * SGP.22 profile, so none accepted), else RSP_ERR_CERT. */
int rsp_x509_check_host(X509 *c, const char *host);

#endif
