/*
 * x509 suite: SGP.22 certificate profiles and chains, on the real GSMA
 * SGP.26 test certificates (../shared/sgp26, read-only).
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "rsp_err.h"
#include "rsp_pki.h"
#include "rsp_test.h"
#include "rsp_x509.h"

/* snprintf that must not truncate (the paths are ours) */
#define FMT(buf, ...)                                                      \
    do {                                                                   \
        if ((size_t)snprintf((buf), sizeof(buf), __VA_ARGS__) >= sizeof(buf)) \
            abort();                                                       \
    } while (0)

/* 2026-12-01T00:00:00Z: inside the validity of every SGP.26 certificate
 * but the expired DP2/DP4/DP8 TLS ones (VARO TLS runs Jul 2026 - Feb 2027). */
#define T_2026_12 ((time_t)1796083200)
#define T_2026_01 ((time_t)1767225600)  /* before VARO TLS notBefore */
#define T_2056_01 ((time_t)2713910400)  /* after the EUM and CI notAfter */

#define PKID_NIST "F54172BDF98A95D65CBEB88A38A1C11D800A85C3"
#define PKID_BRP  "C0BC70BA36929D43B467FF57570530E57AB8FCD8"
#define SGP26_EID "89049032123451234512345678901235"

static char *sgp26_path(const char *rel)
{
    static char path[1024];
    FMT(path, "%s/sgp26/%s", test_shared_dir(), rel);
    return path;
}

static X509 *load(const char *rel)
{
    X509 *c = NULL;
    int rc = rsp_x509_load_file(sgp26_path(rel), &c);
    if (rc)
        fprintf(stderr, "\n  cannot load %s: %d\n", rel, rc);
    CU_ASSERT_PTR_NOT_NULL(c);
    return c;
}

static uint8_t *load_der(const char *rel, size_t *len)
{
    uint8_t *p = test_read_file(sgp26_path(rel), len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

/* Store with both SGP.26 CIs, loaded from the directory (keys skipped). */
static struct rsp_x509_store *both_cis(void)
{
    struct rsp_x509_store *s = NULL;
    CU_ASSERT_RC(rsp_x509_store_new(&s), RSP_OK);
    CU_ASSERT_RC(rsp_x509_store_add_dir(s, sgp26_path("CertificateIssuer")), 2);
    CU_ASSERT_EQUAL(rsp_x509_store_count(s), 2);   /* .der and .pem: the same CIs */
    return s;
}

static struct rsp_x509_store *one_ci(const char *rel)
{
    struct rsp_x509_store *s = NULL;
    CU_ASSERT_RC(rsp_x509_store_new(&s), RSP_OK);
    CU_ASSERT_RC(rsp_x509_store_add_file(s, sgp26_path(rel)), RSP_OK);
    CU_ASSERT_EQUAL(rsp_x509_store_count(s), 1);
    return s;
}

static void euicc_chain(const char *euicc, const char *eum, int curve, const char *pkid_hex)
{
    struct rsp_x509_store *s = both_cis();
    struct rsp_x509_chain_info info;
    X509 *leaf = load(euicc), *ic = load(eum);
    size_t plen;
    uint8_t *pkid = test_hex(pkid_hex, &plen);

    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, leaf, &ic, 1, T_2026_12, &info),
                 RSP_OK);
    CU_ASSERT_STRING_EQUAL(info.eid, SGP26_EID);
    CU_ASSERT_EQUAL(info.curve, curve);
    CU_ASSERT_EQUAL(info.role, RSP_X509_ROLE_EUICC);
    CU_ASSERT_BYTES("CI PKID", info.ci_pkid, info.ci_pkid_len, pkid, plen);
    /* without a clock (SGP.26 validity ends: EUM 2054, DPauth/DPpb 2030, so
     * only the expired-TLS tests use the current time) */
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, leaf, &ic, 1, RSP_X509_NO_TIME,
                                 NULL), RSP_OK);
    /* the EUM expires in 2054 */
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, leaf, &ic, 1, T_2056_01, &info),
                 RSP_ERR_EXPIRED);
    CU_ASSERT_EQUAL(info.eid[0], 0);
    /* no EUM: the eUICC AKI names no trusted CI */
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, leaf, NULL, 0, T_2026_12, NULL),
                 RSP_ERR_UNKNOWN_CI);
    /* the EUM alone is not an eUICC */
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, ic, NULL, 0, T_2026_12, NULL),
                 RSP_ERR_CERT);
    free(pkid);
    X509_free(leaf);
    X509_free(ic);
    rsp_x509_store_free(s);
}

static void test_euicc_chain_nist(void)
{
    euicc_chain("eUICC/CERT_EUICC_ECDSA_NIST.der", "EUM/CERT_EUM_ECDSA_NIST.der",
                RSP_CURVE_P256, PKID_NIST);
}

static void test_euicc_chain_brp(void)
{
    euicc_chain("eUICC/CERT_EUICC_ECDSA_BRP.der", "EUM/CERT_EUM_ECDSA_BRP.der",
                RSP_CURVE_BRAINPOOLP256R1, PKID_BRP);
}

/* ES9+.AuthenticateClient path: DER in, the EUM as the one intermediate. */
static void test_euicc_chain_der(void)
{
    struct rsp_x509_store *s = both_cis();
    struct rsp_x509_chain_info info;
    size_t ln, in;
    uint8_t *leaf = load_der("eUICC/CERT_EUICC_ECDSA_NIST.der", &ln);
    uint8_t *eum = load_der("EUM/CERT_EUM_ECDSA_NIST.der", &in);

    CU_ASSERT_RC(rsp_x509_verify_der(s, RSP_X509_ROLE_EUICC, leaf, ln, eum, in, T_2026_12,
                                     &info), RSP_OK);
    CU_ASSERT_STRING_EQUAL(info.eid, SGP26_EID);
    /* one trailing byte: not exactly one certificate */
    uint8_t *longer = malloc(ln + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(longer);
    memcpy(longer, leaf, ln);
    longer[ln] = 0;
    CU_ASSERT_RC(rsp_x509_verify_der(s, RSP_X509_ROLE_EUICC, longer, ln + 1, eum, in,
                                     T_2026_12, &info), RSP_ERR_DECODE);
    CU_ASSERT_RC(rsp_x509_verify_der(s, RSP_X509_ROLE_EUICC, leaf, ln - 1, eum, in,
                                     T_2026_12, &info), RSP_ERR_DECODE);
    free(longer);
    free(leaf);
    free(eum);
    rsp_x509_store_free(s);
}

static void dp_chain(const char *rel, int role, int curve)
{
    struct rsp_x509_store *s = both_cis();
    struct rsp_x509_chain_info info;
    X509 *c = load(rel);

    CU_ASSERT_RC(rsp_x509_verify(s, role, c, NULL, 0, T_2026_12, &info), RSP_OK);
    CU_ASSERT_EQUAL(info.curve, curve);
    CU_ASSERT_EQUAL(info.eid[0], 0);
    CU_ASSERT_RC(rsp_x509_verify(s, role, c, NULL, 0, RSP_X509_NO_TIME, NULL), RSP_OK);
    CU_ASSERT_RC(rsp_x509_verify(s, role, c, NULL, 0, T_2056_01, NULL), RSP_ERR_EXPIRED);
    X509_free(c);
    rsp_x509_store_free(s);
}

static void test_dp_chains(void)
{
    dp_chain("DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der", RSP_X509_ROLE_DP_AUTH,
             RSP_CURVE_P256);
    dp_chain("DPauth/CERT_S_SM_DPauth_ECDSA_BRP.der", RSP_X509_ROLE_DP_AUTH,
             RSP_CURVE_BRAINPOOLP256R1);
    dp_chain("DPauth/CERT_S_SM_DP2auth_ECDSA_NIST.der", RSP_X509_ROLE_DP_AUTH,
             RSP_CURVE_P256);
    dp_chain("DPauth/CERT_S_SM_DP2auth_ECDSA_BRP.der", RSP_X509_ROLE_DP_AUTH,
             RSP_CURVE_BRAINPOOLP256R1);
    dp_chain("DPpb/CERT_S_SM_DPpb_ECDSA_NIST.der", RSP_X509_ROLE_DP_PB,
             RSP_CURVE_P256);
    dp_chain("DPpb/CERT_S_SM_DPpb_ECDSA_BRP.der", RSP_X509_ROLE_DP_PB,
             RSP_CURVE_BRAINPOOLP256R1);
    dp_chain("DPpb/CERT_S_SM_DP2pb_ECDSA_NIST.der", RSP_X509_ROLE_DP_PB,
             RSP_CURVE_P256);
    dp_chain("DPpb/CERT_S_SM_DP2pb_ECDSA_BRP.der", RSP_X509_ROLE_DP_PB,
             RSP_CURVE_BRAINPOOLP256R1);
}

static void test_tls_varo(void)
{
    static const char *const names[] = {
        "DPtls/CERT_S_SM_DP_VARO_TLS_NIST.der", "DPtls/CERT_S_SM_DP_VARO_TLS_BRP.der",
    };
    struct rsp_x509_store *s = both_cis();
    char dns[256];

    for (size_t i = 0; i < 2; i++) {
        X509 *c = load(names[i]);
        CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_DP_TLS, c, NULL, 0, T_2026_12, NULL),
                     RSP_OK);
        /* not yet valid is outside the validity period too */
        CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_DP_TLS, c, NULL, 0, T_2026_01, NULL),
                     RSP_ERR_EXPIRED);
        CU_ASSERT_RC(rsp_x509_get_dns_name(c, 0, dns, sizeof dns), 25);
        CU_ASSERT_STRING_EQUAL(dns, "testsmdpplus1.example.com");
        CU_ASSERT_RC(rsp_x509_get_dns_name(c, 1, dns, sizeof dns), RSP_ERR_NOTFOUND);
        CU_ASSERT_RC(rsp_x509_check_host(c, "testsmdpplus1.example.com"), RSP_OK);
        CU_ASSERT_RC(rsp_x509_check_host(c, "testsmdpplus2.example.com"), RSP_ERR_CERT);
        /* a TLS certificate is not an SM-DS one, nor an auth one */
        CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_DS_TLS, c, NULL, 0, T_2026_12, NULL),
                     RSP_ERR_CERT);
        CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_DP_AUTH, c, NULL, 0, T_2026_12, NULL),
                     RSP_ERR_CERT);
        X509_free(c);
    }
    rsp_x509_store_free(s);
}

/* CERT_S_SM_DP{2,4,8}_TLS expired in Aug 2025. */
static void test_tls_expired(void)
{
    static const char *const names[] = {
        "DPtls/CERT_S_SM_DP2_TLS.der", "DPtls/CERT_S_SM_DP4_TLS.der",
        "DPtls/CERT_S_SM_DP8_TLS.der",
    };
    struct rsp_x509_store *s = both_cis();
    struct rsp_x509_chain_info info;

    for (size_t i = 0; i < 3; i++) {
        X509 *c = load(names[i]);
        CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_DP_TLS, c, NULL, 0, time(NULL), &info),
                     RSP_ERR_EXPIRED);
        CU_ASSERT_EQUAL(info.ci_pkid_len, 0);
        /* the rest of the chain is fine */
        CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_DP_TLS, c, NULL, 0, (time_t)1735689600,
                                     NULL), RSP_OK);
        CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_DP_TLS, c, NULL, 0, RSP_X509_NO_TIME,
                                     NULL), RSP_OK);
        X509_free(c);
    }
    rsp_x509_store_free(s);
}

static void test_wrong_ci(void)
{
    struct rsp_x509_store *s = one_ci("CertificateIssuer/CERT_CI_ECDSA_NIST.der");
    X509 *eu = load("eUICC/CERT_EUICC_ECDSA_BRP.der"), *eum = load("EUM/CERT_EUM_ECDSA_BRP.der");
    X509 *dp = load("DPauth/CERT_S_SM_DPauth_ECDSA_BRP.der");
    X509 *eum_nist = load("EUM/CERT_EUM_ECDSA_NIST.der");

    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, eu, &eum, 1, T_2026_12, NULL),
                 RSP_ERR_UNKNOWN_CI);
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_DP_AUTH, dp, NULL, 0, T_2026_12, NULL),
                 RSP_ERR_UNKNOWN_CI);
    /* a BRP eUICC presented with the NIST EUM: AKI names no candidate */
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, eu, &eum_nist, 1, T_2026_12, NULL),
                 RSP_ERR_UNKNOWN_CI);
    X509_free(eu);
    X509_free(eum);
    X509_free(eum_nist);
    X509_free(dp);
    rsp_x509_store_free(s);
}

/* Flip the last byte of the signature (end of the DER). */
static X509 *tampered(const char *rel)
{
    size_t n;
    uint8_t *p = load_der(rel, &n);
    X509 *c = NULL;
    p[n - 1] ^= 0x01;
    CU_ASSERT_RC(rsp_x509_from_der(p, n, &c), RSP_OK);
    free(p);
    return c;
}

static void test_tampered_signature(void)
{
    struct rsp_x509_store *s = both_cis();
    X509 *dp = tampered("DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der");
    X509 *eu = tampered("eUICC/CERT_EUICC_ECDSA_BRP.der");
    X509 *eum_bad = tampered("EUM/CERT_EUM_ECDSA_BRP.der");
    X509 *eu_ok = load("eUICC/CERT_EUICC_ECDSA_BRP.der");
    X509 *eum = load("EUM/CERT_EUM_ECDSA_BRP.der");

    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_DP_AUTH, dp, NULL, 0, T_2026_12, NULL),
                 RSP_ERR_VERIFY);
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, eu, &eum, 1, T_2026_12, NULL),
                 RSP_ERR_VERIFY);
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, eu_ok, &eum_bad, 1, T_2026_12, NULL),
                 RSP_ERR_VERIFY);
    X509_free(dp);
    X509_free(eu);
    X509_free(eu_ok);
    X509_free(eum);
    X509_free(eum_bad);
    rsp_x509_store_free(s);
}

static void test_role_mismatch(void)
{
    struct rsp_x509_store *s = both_cis();
    X509 *auth = load("DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der");
    X509 *pb = load("DPpb/CERT_S_SM_DPpb_ECDSA_NIST.der");
    X509 *eu = load("eUICC/CERT_EUICC_ECDSA_NIST.der");
    X509 *eum = load("EUM/CERT_EUM_ECDSA_NIST.der");

    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, auth, &eum, 1, T_2026_12, NULL),
                 RSP_ERR_CERT);
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_DP_PB, auth, NULL, 0, T_2026_12, NULL),
                 RSP_ERR_CERT);
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_DP_AUTH, pb, NULL, 0, T_2026_12, NULL),
                 RSP_ERR_CERT);
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_DP_AUTH, eu, &eum, 1, T_2026_12, NULL),
                 RSP_ERR_CERT);
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_DS_AUTH, auth, NULL, 0, T_2026_12, NULL),
                 RSP_ERR_CERT);
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_OPERATOR, auth, NULL, 0, T_2026_12, NULL),
                 RSP_ERR_CERT);
    /* an EUM verifies on its own (CI -> EUM); the CI is no leaf */
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUM, eum, NULL, 0, T_2026_12, NULL),
                 RSP_OK);
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUM, eu, &eum, 1, T_2026_12, NULL),
                 RSP_ERR_CERT);
    CU_ASSERT_RC(rsp_x509_check_profile(eum, RSP_X509_ROLE_EUM), RSP_OK);
    CU_ASSERT_RC(rsp_x509_check_profile(eum, RSP_X509_ROLE_CI), RSP_ERR_CERT);
    CU_ASSERT_RC(rsp_x509_check_profile(eu, RSP_X509_ROLE_EUM), RSP_ERR_CERT);
    CU_ASSERT_EQUAL(rsp_x509_get_role(auth), RSP_X509_ROLE_DP_AUTH);
    CU_ASSERT_EQUAL(rsp_x509_get_role(pb), RSP_X509_ROLE_DP_PB);
    CU_ASSERT_EQUAL(rsp_x509_get_role(eu), RSP_X509_ROLE_EUICC);
    CU_ASSERT_EQUAL(rsp_x509_get_role(eum), RSP_X509_ROLE_EUM);
    X509_free(auth);
    X509_free(pb);
    X509_free(eu);
    X509_free(eum);
    rsp_x509_store_free(s);
}

static void test_store(void)
{
    struct rsp_x509_store *s = NULL;
    X509 *ci = load("CertificateIssuer/CERT_CI_ECDSA_BRP.der");
    X509 *eum = load("EUM/CERT_EUM_ECDSA_NIST.der");
    size_t plen;
    uint8_t *pkid = test_hex(PKID_BRP, &plen);
    uint8_t der[16];

    CU_ASSERT_RC(rsp_x509_store_new(&s), RSP_OK);
    CU_ASSERT_RC(rsp_x509_store_add(s, eum), RSP_ERR_CERT);        /* not a CI */
    CU_ASSERT_RC(rsp_x509_store_add_file(s, sgp26_path("CertificateIssuer/SK_CI_ECDSA_BRP.pem")),
                 RSP_ERR_DECODE);                                    /* a key */
    CU_ASSERT_RC(rsp_x509_store_add_file(s, sgp26_path("nonexistent.der")), RSP_ERR_IO);
    CU_ASSERT_RC(rsp_x509_store_add_dir(s, sgp26_path("EUM")), RSP_ERR_NOTFOUND);
    CU_ASSERT_RC(rsp_x509_store_add_dir(s, sgp26_path("no-such-dir")), RSP_ERR_IO);
    CU_ASSERT_EQUAL(rsp_x509_store_count(s), 0);
    CU_ASSERT_RC(rsp_x509_store_add_file(s, sgp26_path("CertificateIssuer/CERT_CI_ECDSA_BRP.pem")),
                 RSP_OK);
    CU_ASSERT_RC(rsp_x509_store_add(s, ci), RSP_OK);                /* same: no-op */
    CU_ASSERT_EQUAL(rsp_x509_store_count(s), 1);
    CU_ASSERT_PTR_NOT_NULL(rsp_x509_store_find(s, pkid, plen));
    CU_ASSERT_EQUAL(X509_cmp(rsp_x509_store_get(s, 0), ci), 0);
    CU_ASSERT_PTR_NULL(rsp_x509_store_get(s, 1));
    CU_ASSERT_PTR_NULL(rsp_x509_store_find(s, pkid, plen - 1));
    memset(der, 0x30, sizeof der);
    CU_ASSERT_RC(rsp_x509_store_add_der(s, der, sizeof der), RSP_ERR_DECODE);
    /* the directory adds only the NIST CI, then nothing */
    CU_ASSERT_RC(rsp_x509_store_add_dir(s, sgp26_path("CertificateIssuer")), 1);
    CU_ASSERT_RC(rsp_x509_store_add_dir(s, sgp26_path("CertificateIssuer")), 0);
    CU_ASSERT_EQUAL(rsp_x509_store_count(s), 2);
    free(pkid);
    X509_free(ci);
    X509_free(eum);
    rsp_x509_store_free(s);
    rsp_x509_store_free(NULL);
}

static void test_helpers(void)
{
    X509 *ci = load("CertificateIssuer/CERT_CI_ECDSA_NIST.pem");
    X509 *eum = load("EUM/CERT_EUM_ECDSA_NIST.der");
    X509 *eu = load("eUICC/CERT_EUICC_ECDSA_NIST.der");
    X509 *dp = load("DPauth/CERT_S_SM_DPauth_ECDSA_BRP.der");
    EVP_PKEY *pk = NULL, *want = NULL;
    uint8_t kid[RSP_X509_PKID_MAX];
    char text[64], org[64], eid[33];
    size_t plen, elen;
    uint8_t *pkid = test_hex(PKID_NIST, &plen);
    uint8_t *eum_ski = test_hex("DD3DA24D350C1CC5D0AF0965F40EC34C5EE409F1", &elen);
    struct rsp_buf b;

    CU_ASSERT_RC(rsp_x509_get_ski(ci, kid, sizeof kid), 20);
    CU_ASSERT_BYTES("CI SKI", kid, 20, pkid, plen);
    CU_ASSERT_RC(rsp_x509_get_aki(ci, kid, sizeof kid), RSP_ERR_NOTFOUND);
    CU_ASSERT_RC(rsp_x509_get_aki(eum, kid, sizeof kid), 20);
    CU_ASSERT_BYTES("EUM AKI", kid, 20, pkid, plen);
    CU_ASSERT_RC(rsp_x509_get_aki(eu, kid, sizeof kid), 20);
    CU_ASSERT_BYTES("eUICC AKI", kid, 20, eum_ski, elen);
    CU_ASSERT_RC(rsp_x509_get_ski(eum, kid, 19), RSP_ERR_TOOBIG);

    CU_ASSERT_RC(rsp_x509_get_subject_cn(dp, text, sizeof text), 11);
    CU_ASSERT_STRING_EQUAL(text, "TEST SM-DP+");
    CU_ASSERT_RC(rsp_x509_get_subject_cn(dp, text, 11), RSP_ERR_TOOBIG);
    CU_ASSERT_RC(rsp_x509_get_subject_serial(dp, text, sizeof text), RSP_ERR_NOTFOUND);
    CU_ASSERT_RC(rsp_x509_get_subject_serial(eu, text, sizeof text), 32);
    CU_ASSERT_RC(rsp_x509_get_subject_org(eu, text, sizeof text), 12);
    CU_ASSERT_STRING_EQUAL(text, "RSP Test EUM");
    CU_ASSERT_RC(rsp_x509_get_eid(eu, eid), RSP_OK);
    CU_ASSERT_STRING_EQUAL(eid, SGP26_EID);
    CU_ASSERT_RC(rsp_x509_get_eid(dp, eid), RSP_ERR_EID);
    CU_ASSERT_RC(rsp_x509_get_dns_name(dp, 0, text, sizeof text), RSP_ERR_NOTFOUND);

    CU_ASSERT_EQUAL(rsp_x509_get_curve(ci), RSP_CURVE_P256);
    CU_ASSERT_EQUAL(rsp_x509_get_curve(dp), RSP_CURVE_BRAINPOOLP256R1);

    CU_ASSERT_RC(rsp_x509_eum_permitted(eum, 0, org, sizeof org, text, sizeof text), RSP_OK);
    CU_ASSERT_STRING_EQUAL(org, "RSP Test EUM");
    CU_ASSERT_STRING_EQUAL(text, "89049032");
    CU_ASSERT_RC(rsp_x509_eum_permitted(eum, 1, org, sizeof org, text, sizeof text),
                 RSP_ERR_NOTFOUND);
    CU_ASSERT_RC(rsp_x509_check_eid(eum, eu, eid), RSP_OK);
    CU_ASSERT_STRING_EQUAL(eid, SGP26_EID);
    CU_ASSERT_RC(rsp_x509_check_eid(eum, dp, eid), RSP_ERR_EID);

    CU_ASSERT_RC(rsp_x509_get_pubkey(eu, &pk), RSP_OK);
    {
        FILE *f = fopen(sgp26_path("eUICC/PK_EUICC_ECDSA_NIST.pem"), "r");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        want = PEM_read_PUBKEY(f, NULL, NULL, NULL);
        fclose(f);
    }
    CU_ASSERT_EQUAL(EVP_PKEY_eq(pk, want), 1);

    rsp_buf_init(&b, 4096);
    CU_ASSERT_RC(rsp_x509_to_der(eu, &b), RSP_OK);
    {
        size_t n;
        uint8_t *der = load_der("eUICC/CERT_EUICC_ECDSA_NIST.der", &n);
        CU_ASSERT_BYTES("DER round trip", b.data, b.len, der, n);
        free(der);
    }
    rsp_buf_free(&b);

    EVP_PKEY_free(pk);
    EVP_PKEY_free(want);
    free(pkid);
    free(eum_ski);
    X509_free(ci);
    X509_free(eum);
    X509_free(eu);
    X509_free(dp);
}

/* The verified-EUM cache: a hit gives what the full verification gives
 * (info, the parsed leaf); failures are those of rsp_x509_verify_der; the
 * EUM's validity is still enforced; LRU bound. */
static void test_eum_cache(void)
{
    struct rsp_x509_store *s = both_cis();
    struct rsp_x509_eum_cache *c = NULL;
    struct rsp_x509_chain_info info, ref;
    size_t ln, in, bln, bin, n;
    unsigned long hits, misses;
    X509 *leaf_x = NULL;
    uint8_t *leaf = load_der("eUICC/CERT_EUICC_ECDSA_NIST.der", &ln);
    uint8_t *eum = load_der("EUM/CERT_EUM_ECDSA_NIST.der", &in);
    uint8_t *bleaf = load_der("eUICC/CERT_EUICC_ECDSA_BRP.der", &bln);
    uint8_t *beum = load_der("EUM/CERT_EUM_ECDSA_BRP.der", &bin);

    CU_ASSERT_RC(rsp_x509_eum_cache_new(0, &c), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_x509_eum_cache_new(1, &c), RSP_OK);
    CU_ASSERT_RC(rsp_x509_verify_der(s, RSP_X509_ROLE_EUICC, leaf, ln, eum, in, T_2026_12,
                                     &ref), RSP_OK);
    for (int i = 0; i < 2; i++) {   /* miss, then hit */
        CU_ASSERT_RC(rsp_x509_verify_euicc_der(s, c, leaf, ln, eum, in, T_2026_12, &info,
                                               &leaf_x), RSP_OK);
        CU_ASSERT_PTR_NOT_NULL(leaf_x);
        CU_ASSERT_EQUAL(info.role, ref.role);
        CU_ASSERT_EQUAL(info.curve, ref.curve);
        CU_ASSERT_BYTES("ci_pkid", info.ci_pkid, info.ci_pkid_len, ref.ci_pkid, ref.ci_pkid_len);
        CU_ASSERT_STRING_EQUAL(info.eid, ref.eid);
        X509_free(leaf_x);
        leaf_x = NULL;
    }
    rsp_x509_eum_cache_stats(c, &n, &hits, &misses);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(hits, 1);
    CU_ASSERT_EQUAL(misses, 1);
    /* the eUICC certificate is still verified under the cached EUM */
    leaf[ln - 1] ^= 0x01;
    CU_ASSERT_RC(rsp_x509_verify_euicc_der(s, c, leaf, ln, eum, in, T_2026_12, &info,
                                           &leaf_x), RSP_ERR_VERIFY);
    CU_ASSERT_PTR_NULL(leaf_x);
    leaf[ln - 1] ^= 0x01;
    /* a leaf of another EUM: the same code as without the cache */
    int want = rsp_x509_verify_der(s, RSP_X509_ROLE_EUICC, bleaf, bln, eum, in, T_2026_12,
                                   NULL);
    CU_ASSERT(want < 0);
    CU_ASSERT_RC(rsp_x509_verify_euicc_der(s, c, bleaf, bln, eum, in, T_2026_12, &info, NULL),
                 want);
    /* expiry still enforced with the EUM cached */
    CU_ASSERT_RC(rsp_x509_verify_euicc_der(s, c, leaf, ln, eum, in, T_2056_01, &info, NULL),
                 RSP_ERR_EXPIRED);
    /* bounded: the BRP EUM evicts the NIST one */
    CU_ASSERT_RC(rsp_x509_verify_euicc_der(s, c, bleaf, bln, beum, bin, T_2026_12, &info,
                                           NULL), RSP_OK);
    rsp_x509_eum_cache_stats(c, &n, &hits, &misses);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_RC(rsp_x509_verify_euicc_der(s, c, leaf, ln, eum, in, T_2026_12, &info, NULL),
                 RSP_OK);
    unsigned long m2;
    rsp_x509_eum_cache_stats(c, &n, NULL, &m2);
    CU_ASSERT_EQUAL(m2, misses + 1);
    /* no cache: same results */
    CU_ASSERT_RC(rsp_x509_verify_euicc_der(s, NULL, leaf, ln, eum, in, T_2026_12, &info, NULL),
                 RSP_OK);
    CU_ASSERT_STRING_EQUAL(info.eid, SGP26_EID);
    rsp_x509_eum_cache_free(c);
    free(leaf);
    free(eum);
    free(bleaf);
    free(beum);
    rsp_x509_store_free(s);
}

static void test_bad_args(void)
{
    X509 *c = NULL;
    struct rsp_x509_chain_info info;
    uint8_t b[4] = { 0 };

    CU_ASSERT_RC(rsp_x509_from_der(NULL, 0, &c), RSP_ERR_INVAL);
    CU_ASSERT_PTR_NULL(c);
    c = (X509 *)1;
    CU_ASSERT_RC(rsp_x509_from_der(b, sizeof b, &c), RSP_ERR_DECODE);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_RC(rsp_x509_from_der(b, RSP_X509_DER_MAX + 1, &c), RSP_ERR_TOOBIG);
    CU_ASSERT_RC(rsp_x509_verify(NULL, RSP_X509_ROLE_DP_AUTH, NULL, NULL, 0, 0, &info),
                 RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_x509_verify_der(NULL, RSP_X509_ROLE_DP_AUTH, b, 4, NULL, 0, 0, &info),
                 RSP_ERR_INVAL);
    CU_ASSERT_STRING_EQUAL(rsp_x509_role_name(RSP_X509_ROLE_DP_PB), "dp-pb");
    CU_ASSERT_STRING_EQUAL(rsp_x509_role_name(42), "?");
}

/* ---- fast path vs full path (rsp_x509_verify_leaf_der, the EUM cache) ---- */

/* Every certificate the tests have: SGP.26, a generated PKI (both curves,
 * second SM-DP+, operators, the negative set), hand-made negatives, and
 * for each of them a copy with a flipped signature byte and one with a
 * flipped TBS byte. The fast path must never accept what the full path
 * refuses, and the combined entry points must answer exactly as the full
 * path: same code, same info, same key. */

#define DIFF_MAX 512

struct diff_cert {
    char name[160];
    uint8_t *der;
    size_t len;
};

static struct diff_cert diff_certs[DIFF_MAX];
static size_t diff_n;
static char diff_root[1024];
static const char *diff_prefix;

static void diff_add(const char *name, const uint8_t *der, size_t len)
{
    struct diff_cert *d;
    if (diff_n == DIFF_MAX || !len)
        return;
    d = &diff_certs[diff_n++];
    FMT(d->name, "%s", name);
    d->der = malloc(len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d->der);
    memcpy(d->der, der, len);
    d->len = len;
}

/* A certificate with its variants: signature byte flipped, a TBS byte
 * flipped (in the middle of the TBS: names, validity or extensions). */
static void diff_add_variants(const char *name, const uint8_t *der, size_t len)
{
    char vn[200];
    uint8_t *m;
    X509 *c = NULL;

    diff_add(name, der, len);
    if (rsp_x509_from_der(der, len, &c))
        return;
    X509_free(c);
    m = malloc(len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    memcpy(m, der, len);
    m[len - 3] ^= 0x01;
    FMT(vn, "%s+sigflip", name);
    diff_add(vn, m, len);
    memcpy(m, der, len);
    m[len / 2] ^= 0x01;
    FMT(vn, "%s+tbsflip", name);
    diff_add(vn, m, len);
    free(m);
}

static int diff_walk(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    size_t n = strlen(path), len;
    uint8_t *p;
    (void)st, (void)ftw;
    if (flag != FTW_F || n < 4 || strcmp(path + n - 4, ".der"))
        return 0;
    p = test_read_file(path, &len);
    if (p) {
        char name[160];
        FMT(name, "%s%s", diff_prefix, path + strlen(diff_root));
        diff_add_variants(name, p, len);
        free(p);
    }
    return 0;
}

static int rm_walk(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static char gen_root[1024];

static void gen_cleanup(void)
{
    if (gen_root[0])
        nftw(gen_root, rm_walk, 16, FTW_DEPTH | FTW_PHYS);
    for (size_t i = 0; i < diff_n; i++)
        free(diff_certs[i].der);
    diff_n = 0;
}

static const char *gen_path(const char *rel)
{
    static char path[4][1200];
    static int k;
    k = (k + 1) % 4;
    FMT(path[k], "%s/gen/%s", gen_root, rel);
    return path[k];
}

/* Re-sign a copy of c with key, after adding an extension (oid NULL:
 * none). */
static void diff_add_resigned(const char *name, X509 *c, EVP_PKEY *key, const char *oid,
                              int crit)
{
    X509 *x = X509_dup(c);
    unsigned char *der = NULL;
    int n;

    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    if (oid) {
        ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
        ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
        X509_EXTENSION *e = NULL;
        CU_ASSERT_FATAL(o && v && ASN1_OCTET_STRING_set(v, (const unsigned char *)"\x05\x00", 2));
        e = X509_EXTENSION_create_by_OBJ(NULL, o, crit, v);
        CU_ASSERT_FATAL(e && X509_add_ext(x, e, -1));
        X509_EXTENSION_free(e);
        ASN1_OCTET_STRING_free(v);
        ASN1_OBJECT_free(o);
    }
    CU_ASSERT_FATAL(X509_sign(x, key, EVP_sha256()) > 0);
    n = i2d_X509(x, &der);
    CU_ASSERT_FATAL(n > 0);
    diff_add_variants(name, der, (size_t)n);
    OPENSSL_free(der);
    X509_free(x);
}

static int diff_ready(void)
{
    static int done, failed;
    struct rsp_pki_opts o = { .dp2 = 1, .negative = 1 };
    static const char *const ops[] = { "op1" };

    if (done)
        return !failed;
    done = 1;
    failed = 1;
    FMT(gen_root, "%s/test-x509-XXXXXX", test_build_dir());
    if (!mkdtemp(gen_root)) {
        gen_root[0] = 0;
        return 0;
    }
    atexit(gen_cleanup);
    o.dir = gen_path("");
    o.operators = ops;
    o.n_operators = 1;
    if (rsp_pki_generate(&o) != RSP_OK)
        return 0;

    FMT(diff_root, "%s/sgp26", test_shared_dir());
    diff_prefix = "sgp26";
    nftw(diff_root, diff_walk, 16, FTW_PHYS);
    FMT(diff_root, "%s/gen", gen_root);
    diff_prefix = "gen";
    nftw(diff_root, diff_walk, 16, FTW_PHYS);

    /* Hand-made: an unknown critical / non-critical extension (signed by
     * the right CI), a DPauth and an eUICC certificate re-signed by a
     * stranger's key (AKI still names the trusted issuer). */
    for (int k = 0; k < 2; k++) {
        const char *cn = k ? "BRP" : "NIST";
        struct rsp_pki_cred ci = { 0 }, eum = { 0 };
        X509 *dp = NULL, *eu = NULL;
        EVP_PKEY *stranger = NULL;
        char a[256], b[256], n[160];
        FMT(a, "CertificateIssuer/CERT_CI_ECDSA_%s.der", cn);
        FMT(b, "CertificateIssuer/SK_CI_ECDSA_%s.pem", cn);
        CU_ASSERT_RC(rsp_pki_load_cred(gen_path(a), gen_path(b), &ci), RSP_OK);
        FMT(a, "EUM/CERT_EUM_ECDSA_%s.der", cn);
        FMT(b, "EUM/SK_EUM_ECDSA_%s.pem", cn);
        CU_ASSERT_RC(rsp_pki_load_cred(gen_path(a), gen_path(b), &eum), RSP_OK);
        FMT(a, "DPauth/CERT_S_SM_DPauth_ECDSA_%s.der", cn);
        CU_ASSERT_RC(rsp_x509_load_file(gen_path(a), &dp), RSP_OK);
        FMT(a, "eUICC/CERT_EUICC_ECDSA_%s.der", cn);
        CU_ASSERT_RC(rsp_x509_load_file(gen_path(a), &eu), RSP_OK);
        CU_ASSERT_RC(rsp_pki_keygen(k ? RSP_CURVE_BRAINPOOLP256R1 : RSP_CURVE_P256, &stranger),
                     RSP_OK);
        if (ci.key && eum.key && dp && eu && stranger) {
            FMT(n, "hand/DPauth_%s_crit_unknown_ext", cn);
            diff_add_resigned(n, dp, ci.key, "1.3.6.1.4.1.55555.1", 1);
            FMT(n, "hand/DPauth_%s_noncrit_unknown_ext", cn);
            diff_add_resigned(n, dp, ci.key, "1.3.6.1.4.1.55555.1", 0);
            FMT(n, "hand/DPauth_%s_forged_aki", cn);
            diff_add_resigned(n, dp, stranger, NULL, 0);
            FMT(n, "hand/eUICC_%s_crit_unknown_ext", cn);
            diff_add_resigned(n, eu, eum.key, "1.3.6.1.4.1.55555.1", 1);
            FMT(n, "hand/eUICC_%s_forged_aki", cn);
            diff_add_resigned(n, eu, stranger, NULL, 0);
            FMT(n, "hand/eUICC_%s_permittedEins_crit", cn);
            diff_add_resigned(n, eu, eum.key, "2.23.146.1.2.2.0", 1);
        }
        EVP_PKEY_free(stranger);
        X509_free(dp);
        X509_free(eu);
        rsp_pki_cred_free(&ci);
        rsp_pki_cred_free(&eum);
    }
    CU_ASSERT(diff_n > 150 && diff_n < DIFF_MAX);   /* nothing left out */
    failed = 0;
    return 1;
}

static struct rsp_x509_store *diff_store(int gen)
{
    struct rsp_x509_store *s = NULL;
    CU_ASSERT_RC(rsp_x509_store_new(&s), RSP_OK);
    if (gen)
        CU_ASSERT_RC(rsp_x509_store_add_dir(s, gen_path("CertificateIssuer")), 2);
    else
        CU_ASSERT_RC(rsp_x509_store_add_dir(s, sgp26_path("CertificateIssuer")), 2);
    return s;
}

/* Same verdict, same info, same key bytes; both sides printed if not. */
static int diff_same(const char *what, const char *name, int role, time_t at, int rc_a,
                     const struct rsp_x509_chain_info *ia, X509 *ca, int rc_b,
                     const struct rsp_x509_chain_info *ib, X509 *cb)
{
    uint8_t pa[RSP_EC_POINT_LEN], pb[RSP_EC_POINT_LEN];
    EVP_PKEY *ka = NULL, *kb = NULL;
    int ok = rc_a == rc_b;

    if (ok && rc_a == RSP_OK) {
        ok = ia->role == ib->role && ia->curve == ib->curve &&
             ia->ci_pkid_len == ib->ci_pkid_len &&
             !memcmp(ia->ci_pkid, ib->ci_pkid, ia->ci_pkid_len) && !strcmp(ia->eid, ib->eid);
        if (ok && ca && cb)
            ok = !rsp_x509_get_pubkey(ca, &ka) && !rsp_x509_get_pubkey(cb, &kb) &&
                 !rsp_ec_pubkey_to_point(ka, pa) && !rsp_ec_pubkey_to_point(kb, pb) &&
                 !memcmp(pa, pb, sizeof pa);
    }
    if (!ok)
        fprintf(stderr, "\n  %s: %s role %s at %lld: %d (eid %s curve %d) vs full %d "
                "(eid %s curve %d)\n", what, name, rsp_x509_role_name(role), (long long)at,
                rc_a, ia->eid, ia->curve, rc_b, ib->eid, ib->curve);
    EVP_PKEY_free(ka);
    EVP_PKEY_free(kb);
    return ok;
}

static const time_t diff_times[] = { RSP_X509_NO_TIME, T_2026_01, T_2026_12, T_2056_01, 0 };

static void test_fast_leaf_same_as_full(void)
{
    static const int roles[] = { RSP_X509_ROLE_DP_AUTH, RSP_X509_ROLE_DP_PB,
                                 RSP_X509_ROLE_DP_TLS, RSP_X509_ROLE_DS_AUTH,
                                 RSP_X509_ROLE_OPERATOR };
    size_t fast_ok = 0, full_ok = 0;

    CU_ASSERT_FATAL(diff_ready());
    for (int g = 0; g < 2; g++) {
        struct rsp_x509_store *s = diff_store(g);
        for (size_t i = 0; i < diff_n; i++) {
            const struct diff_cert *d = &diff_certs[i];
            for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++) {
                for (size_t t = 0; t < sizeof diff_times / sizeof diff_times[0]; t++) {
                    struct rsp_x509_chain_info ifull, ifast, icomb;
                    time_t at = diff_times[t] ? diff_times[t] : time(NULL);
                    X509 *cfull = NULL, *cfast = NULL, *ccomb = NULL;
                    int rfull, rfast, rcomb;

                    memset(&ifull, 0, sizeof ifull);
                    rfull = rsp_x509_from_der(d->der, d->len, &cfull);
                    if (rfull == RSP_OK)
                        rfull = rsp_x509_verify(s, roles[r], cfull, NULL, 0, at, &ifull);
                    rfast = rsp_x509_fast_verify_leaf_der(s, roles[r], d->der, d->len, at,
                                                          &ifast, &cfast);
                    rcomb = rsp_x509_verify_leaf_der(s, roles[r], d->der, d->len, at, &icomb,
                                                     &ccomb);
                    CU_ASSERT(rfast == RSP_OK || rfast == RSP_ERR_STATE);
                    if (rfast == RSP_OK) {
                        fast_ok++;
                        CU_ASSERT(diff_same("fast", d->name, roles[r], at, rfast, &ifast,
                                            cfast, rfull, &ifull, cfull));
                    }
                    full_ok += rfull == RSP_OK;
                    CU_ASSERT(diff_same("combined", d->name, roles[r], at, rcomb, &icomb,
                                        ccomb, rfull, &ifull, cfull));
                    X509_free(cfull);
                    X509_free(cfast);
                    X509_free(ccomb);
                }
            }
        }
        rsp_x509_store_free(s);
    }
    /* the fast path does take the common case */
    if (fast_ok != full_ok)
        fprintf(stderr, "\n  fast path accepted %zu of the %zu the full path accepts\n",
                fast_ok, full_ok);
    CU_ASSERT(full_ok > 40);
    CU_ASSERT_EQUAL(fast_ok, full_ok);
}

static void test_fast_euicc_same_as_full(void)
{
    size_t fast_ok = 0, full_ok = 0, hits_ok = 0;

    CU_ASSERT_FATAL(diff_ready());
    for (int g = 0; g < 2; g++) {
        struct rsp_x509_store *s = diff_store(g);
        struct rsp_x509_eum_cache *cache = NULL;
        CU_ASSERT_RC(rsp_x509_eum_cache_new(64, &cache), RSP_OK);
        for (size_t j = 0; j < diff_n; j++) {
            const struct diff_cert *ed = &diff_certs[j];
            X509 *eum = NULL;
            if (!strstr(ed->name, "EUM") || rsp_x509_from_der(ed->der, ed->len, &eum))
                continue;
            for (size_t i = 0; i < diff_n; i++) {
                const struct diff_cert *d = &diff_certs[i];
                if (!strstr(d->name, "EUICC") && !strstr(d->name, "eUICC"))
                    continue;
                for (size_t t = 0; t < sizeof diff_times / sizeof diff_times[0]; t++) {
                    struct rsp_x509_chain_info ifull, ifast, ic1, ic2;
                    time_t at = diff_times[t] ? diff_times[t] : time(NULL);
                    X509 *cfull = NULL, *cfast = NULL, *c1 = NULL, *c2 = NULL;
                    int rfull, rfast, r1, r2;

                    memset(&ifull, 0, sizeof ifull);
                    rfull = rsp_x509_from_der(d->der, d->len, &cfull);
                    if (rfull == RSP_OK)
                        rfull = rsp_x509_verify(s, RSP_X509_ROLE_EUICC, cfull, &eum, 1, at,
                                                &ifull);
                    rfast = rsp_x509_fast_verify_euicc_der(s, eum, d->der, d->len, at, &ifast,
                                                           &cfast);
                    CU_ASSERT(rfast == RSP_OK || rfast == RSP_ERR_STATE);
                    if (rfast == RSP_OK) {
                        fast_ok++;
                        CU_ASSERT(diff_same("fast-euicc", d->name, RSP_X509_ROLE_EUICC, at,
                                            rfast, &ifast, cfast, rfull, &ifull, cfull));
                    }
                    full_ok += rfull == RSP_OK;
                    /* twice through the cache: the second is a hit when the
                     * EUM verified before (in this or an earlier pair) */
                    r1 = rsp_x509_verify_euicc_der(s, cache, d->der, d->len, ed->der, ed->len,
                                                   at, &ic1, &c1);
                    r2 = rsp_x509_verify_euicc_der(s, cache, d->der, d->len, ed->der, ed->len,
                                                   at, &ic2, &c2);
                    hits_ok += r2 == RSP_OK;
                    CU_ASSERT(diff_same("cache-1", d->name, RSP_X509_ROLE_EUICC, at, r1, &ic1,
                                        c1, rfull, &ifull, cfull));
                    CU_ASSERT(diff_same("cache-2", d->name, RSP_X509_ROLE_EUICC, at, r2, &ic2,
                                        c2, rfull, &ifull, cfull));
                    X509_free(cfull);
                    X509_free(cfast);
                    X509_free(c1);
                    X509_free(c2);
                }
            }
            X509_free(eum);
        }
        rsp_x509_eum_cache_free(cache);
        rsp_x509_store_free(s);
    }
    if (fast_ok != full_ok)
        fprintf(stderr, "\n  fast path accepted %zu of the %zu the full path accepts\n",
                fast_ok, full_ok);
    CU_ASSERT(full_ok > 8);
    CU_ASSERT_EQUAL(hits_ok, full_ok);
    CU_ASSERT(fast_ok > 0);
}

/* The lite decode: same certificate, same key, strict length. */
static void test_from_der_lite(void)
{
    size_t len;
    uint8_t *der = load_der("DPauth/CERT_S_SM_DPauth_ECDSA_BRP.der", &len);
    uint8_t pa[RSP_EC_POINT_LEN], pb[RSP_EC_POINT_LEN];
    X509 *a = NULL, *b = NULL;
    EVP_PKEY *ka = NULL, *kb = NULL;

    CU_ASSERT_RC(rsp_x509_from_der_lite(der, len, &a), RSP_OK);
    CU_ASSERT_RC(rsp_x509_from_der(der, len, &b), RSP_OK);
    CU_ASSERT_RC(rsp_x509_get_curve(a), RSP_CURVE_BRAINPOOLP256R1);
    CU_ASSERT_RC(rsp_x509_get_pubkey(a, &ka), RSP_OK);
    CU_ASSERT_RC(rsp_x509_get_pubkey(b, &kb), RSP_OK);
    CU_ASSERT_RC(rsp_ec_pubkey_to_point(ka, pa), RSP_OK);
    CU_ASSERT_RC(rsp_ec_pubkey_to_point(kb, pb), RSP_OK);
    CU_ASSERT_BYTES("lite key", pa, sizeof pa, pb, sizeof pb);
    CU_ASSERT_EQUAL(X509_cmp(a, b), 0);
    /* a copy keeps its key (ex_data duplicated with a reference) */
    {
        X509 *d = X509_dup(a);
        EVP_PKEY *kd = NULL;
        CU_ASSERT_PTR_NOT_NULL(d);
        X509_free(a);
        a = NULL;
        if (d && rsp_x509_get_pubkey(d, &kd) == RSP_OK)
            EVP_PKEY_free(kd);
        X509_free(d);
    }
    X509 *c = NULL;
    CU_ASSERT_RC(rsp_x509_from_der_lite(der, len - 1, &c), RSP_ERR_DECODE);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_RC(rsp_x509_from_der_lite(der, 0, &c), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_x509_from_der_lite(der, RSP_X509_DER_MAX + 1, &c), RSP_ERR_TOOBIG);
    EVP_PKEY_free(ka);
    EVP_PKEY_free(kb);
    X509_free(a);
    X509_free(b);
    free(der);
}

/* The hand-made ones answer as they should (through the combined path). */
static void test_fast_hand_made(void)
{
    static const struct {
        const char *name;
        int role, want;
    } v[] = {
        { "hand/DPauth_NIST_crit_unknown_ext", RSP_X509_ROLE_DP_AUTH, RSP_ERR_CERT },
        { "hand/DPauth_BRP_noncrit_unknown_ext", RSP_X509_ROLE_DP_AUTH, RSP_OK },
        { "hand/DPauth_NIST_forged_aki", RSP_X509_ROLE_DP_AUTH, RSP_ERR_VERIFY },
        { "hand/DPauth_BRP_forged_aki+sigflip", RSP_X509_ROLE_DP_AUTH, RSP_ERR_VERIFY },
        { "gen/DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der+sigflip", RSP_X509_ROLE_DP_AUTH,
          RSP_ERR_VERIFY },
        { "gen/DPpb/CERT_S_SM_DPpb_ECDSA_BRP.der", RSP_X509_ROLE_DP_PB, RSP_OK },
        { "gen/DPpb/CERT_S_SM_DPpb_ECDSA_BRP.der", RSP_X509_ROLE_DP_AUTH, RSP_ERR_CERT },
        { "gen/Negative/CERT_S_SM_DPauth_ECDSA_NIST_FOREIGN_CI.der", RSP_X509_ROLE_DP_AUTH,
          RSP_ERR_UNKNOWN_CI },
    };
    struct rsp_x509_store *s;

    CU_ASSERT_FATAL(diff_ready());
    s = diff_store(1);
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        size_t i;
        for (i = 0; i < diff_n && strcmp(diff_certs[i].name, v[k].name); i++)
            ;
        if (i == diff_n) {
            fprintf(stderr, "\n  no certificate %s\n", v[k].name);
            CU_FAIL("certificate missing");
            continue;
        }
        X509 *c = NULL;
        int rc = rsp_x509_verify_leaf_der(s, v[k].role, diff_certs[i].der, diff_certs[i].len,
                                          RSP_X509_NO_TIME, NULL, &c);
        if (rc != v[k].want)
            fprintf(stderr, "\n  %s as %s: %d, want %d\n", v[k].name,
                    rsp_x509_role_name(v[k].role), rc, v[k].want);
        CU_ASSERT_EQUAL(rc, v[k].want);
        X509_free(c);
    }
    rsp_x509_store_free(s);
}

CU_TestInfo x509_tests[] = {
    { "euicc_chain_nist", test_euicc_chain_nist },
    { "euicc_chain_brp", test_euicc_chain_brp },
    { "euicc_chain_der", test_euicc_chain_der },
    { "dp_chains", test_dp_chains },
    { "tls_varo", test_tls_varo },
    { "tls_expired", test_tls_expired },
    { "wrong_ci", test_wrong_ci },
    { "tampered_signature", test_tampered_signature },
    { "role_mismatch", test_role_mismatch },
    { "store", test_store },
    { "helpers", test_helpers },
    { "bad_args", test_bad_args },
    { "eum_cache", test_eum_cache },
    { "from_der_lite", test_from_der_lite },
    { "fast_leaf_same_as_full", test_fast_leaf_same_as_full },
    { "fast_euicc_same_as_full", test_fast_euicc_same_as_full },
    { "fast_hand_made", test_fast_hand_made },
    CU_TEST_INFO_NULL,
};
