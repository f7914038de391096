/*
 * x509 suite: SGP.22 certificate profiles and chains, on the real GSMA
 * SGP.26 test certificates (../shared/sgp26, read-only).
 */
#include <stdlib.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "rsp_err.h"
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
    CU_TEST_INFO_NULL,
};
