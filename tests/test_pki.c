/*
 * pki suite: the private test PKI generator (certs/rsp_pki), checked with
 * rsp_x509. Everything is generated at test time into a fresh directory
 * below the build tree and removed at exit.
 */
#define _XOPEN_SOURCE 700   /* nftw */
#include <ftw.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "rsp_err.h"
#include "rsp_pki.h"
#include "rsp_test.h"
#include "rsp_util.h"
#include "rsp_x509.h"

/* snprintf that must not truncate (the paths are ours) */
#define FMT(buf, ...)                                                      \
    do {                                                                   \
        if ((size_t)snprintf((buf), sizeof(buf), __VA_ARGS__) >= sizeof(buf)) \
            abort();                                                       \
    } while (0)

static char pki_root[1024];        /* "" until generated */
static char pki_eid[33];
static int pki_failed;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    if (pki_root[0])
        nftw(pki_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *path_in(const char *rel)
{
    static char path[8][1200];   /* a ring: several may be live at once */
    static int k;
    k = (k + 1) % 8;
    FMT(path[k], "%s/%s", pki_root, rel);
    return path[k];
}

/* Generate the PKI once per process: both curves, a second SM-DP+, two
 * operators, the negative set. */
static int ensure_pki(void)
{
    static const char *const ops[] = { "OperatorA", "op-b" };
    struct rsp_pki_opts o = {
        .dp2 = 1, .operators = ops, .n_operators = 2, .negative = 1,
    };
    int rc;

    if (pki_root[0] || pki_failed)
        return !pki_failed;
    FMT(pki_root, "%s/test-pki-XXXXXX", test_build_dir());
    if (!mkdtemp(pki_root)) {
        fprintf(stderr, "\n  mkdtemp %s failed\n", pki_root);
        pki_root[0] = 0;
        pki_failed = 1;
        return 0;
    }
    atexit(cleanup);
    o.dir = path_in("gen");
    rc = rsp_pki_generate(&o);
    if (rc) {
        fprintf(stderr, "\n  rsp_pki_generate: %d\n", rc);
        pki_failed = 1;
        return 0;
    }
    memcpy(pki_eid, o.eid_out, sizeof pki_eid);
    return 1;
}

static X509 *load(const char *rel)
{
    X509 *c = NULL;
    char sub[512];
    FMT(sub, "gen/%s", rel);
    CU_ASSERT_RC(rsp_x509_load_file(path_in(sub), &c), RSP_OK);
    return c;
}

static struct rsp_x509_store *gen_store(void)
{
    struct rsp_x509_store *s = NULL;
    CU_ASSERT_RC(rsp_x509_store_new(&s), RSP_OK);
    /* .der and .pem of both CIs */
    CU_ASSERT_RC(rsp_x509_store_add_dir(s, path_in("gen/CertificateIssuer")), 2);
    CU_ASSERT_EQUAL(rsp_x509_store_count(s), 2);
    return s;
}

static int verify_file(struct rsp_x509_store *s, int role, const char *rel,
                       const char *issuer_rel, time_t at, struct rsp_x509_chain_info *info)
{
    X509 *leaf = load(rel), *ic = issuer_rel ? load(issuer_rel) : NULL;
    int rc = leaf ? rsp_x509_verify(s, role, leaf, &ic, ic ? 1 : 0, at, info) : -999;
    X509_free(leaf);
    X509_free(ic);
    return rc;
}

static void test_generate_verify(void)
{
    static const char *const tags[] = { "NIST", "BRP" };
    static const int curves[] = { RSP_CURVE_P256, RSP_CURVE_BRAINPOOLP256R1 };
    struct rsp_x509_store *s;
    struct rsp_x509_chain_info info;
    char a[256], b[256];
    time_t now = time(NULL);

    CU_ASSERT_FATAL(ensure_pki());
    CU_ASSERT_RC(rsp_eid_check(pki_eid), RSP_OK);
    CU_ASSERT_EQUAL(strncmp(pki_eid, RSP_PKI_DEFAULT_EUM_PREFIX, 8), 0);
    s = gen_store();
    for (int i = 0; i < 2; i++) {
        const char *t = tags[i];
        FMT(a, "eUICC/CERT_EUICC_ECDSA_%s.der", t);
        FMT(b, "EUM/CERT_EUM_ECDSA_%s.der", t);
        CU_ASSERT_RC(verify_file(s, RSP_X509_ROLE_EUICC, a, b, now, &info), RSP_OK);
        CU_ASSERT_STRING_EQUAL(info.eid, pki_eid);
        CU_ASSERT_EQUAL(info.curve, curves[i]);
        CU_ASSERT_RC(verify_file(s, RSP_X509_ROLE_EUICC, a, b, RSP_X509_NO_TIME, NULL), RSP_OK);

        static const char *const dps[] = { "DP", "DP2" };
        for (int d = 0; d < 2; d++) {
            FMT(a, "DPauth/CERT_S_SM_%sauth_ECDSA_%s.der", dps[d], t);
            CU_ASSERT_RC(verify_file(s, RSP_X509_ROLE_DP_AUTH, a, NULL, now, &info), RSP_OK);
            CU_ASSERT_EQUAL(info.curve, curves[i]);
            CU_ASSERT_RC(verify_file(s, RSP_X509_ROLE_DP_PB, a, NULL, now, NULL), RSP_ERR_CERT);
            FMT(a, "DPpb/CERT_S_SM_%spb_ECDSA_%s.pem", dps[d], t);
            CU_ASSERT_RC(verify_file(s, RSP_X509_ROLE_DP_PB, a, NULL, now, NULL), RSP_OK);
            FMT(a, "DPtls/CERT_S_SM_%s_TLS_%s.der", dps[d], t);
            CU_ASSERT_RC(verify_file(s, RSP_X509_ROLE_DP_TLS, a, NULL, now, NULL), RSP_OK);
            X509 *tls = load(a);
            CU_ASSERT_RC(rsp_x509_check_host(tls, d ? RSP_PKI_DEFAULT_DP2_HOST
                                                    : RSP_PKI_DEFAULT_HOST), RSP_OK);
            CU_ASSERT_RC(rsp_x509_check_host(tls, d ? RSP_PKI_DEFAULT_HOST
                                                    : RSP_PKI_DEFAULT_DP2_HOST), RSP_ERR_CERT);
            X509_free(tls);
        }
        FMT(a, "Operator/CERT_OP_OperatorA_TLS_%s.der", t);
        CU_ASSERT_RC(verify_file(s, RSP_X509_ROLE_OPERATOR, a, NULL, now, NULL), RSP_OK);
        CU_ASSERT_RC(verify_file(s, RSP_X509_ROLE_DP_TLS, a, NULL, now, NULL), RSP_ERR_CERT);
        FMT(a, "Operator/CERT_OP_op-b_TLS_%s.pem", t);
        CU_ASSERT_RC(verify_file(s, RSP_X509_ROLE_OPERATOR, a, NULL, now, NULL), RSP_OK);

        /* every key file matches its certificate */
        struct rsp_pki_cred c;
        FMT(a, "gen/DPtls/CERT_S_SM_DP_TLS_%s.pem", t);
        FMT(b, "gen/DPtls/SK_S_SM_DP_TLS_%s.pem", t);
        CU_ASSERT_RC(rsp_pki_load_cred(path_in(a), path_in(b), &c), RSP_OK);
        rsp_pki_cred_free(&c);
        FMT(b, "gen/DPauth/SK_S_SM_DPauth_ECDSA_%s.pem", t);
        CU_ASSERT_RC(rsp_pki_load_cred(path_in(a), path_in(b), &c), RSP_ERR_CERT);
        CU_ASSERT_PTR_NULL(c.cert);
    }
    rsp_x509_store_free(s);
}

/* The generated set is not the SGP.26 one: its CIs do not vouch for it. */
static void test_not_sgp26(void)
{
    struct rsp_x509_store *s = NULL;
    char dir[1200];

    CU_ASSERT_FATAL(ensure_pki());
    FMT(dir, "%s/sgp26/CertificateIssuer", test_shared_dir());
    CU_ASSERT_RC(rsp_x509_store_new(&s), RSP_OK);
    CU_ASSERT_RC(rsp_x509_store_add_dir(s, dir), 2);
    CU_ASSERT_RC(verify_file(s, RSP_X509_ROLE_EUICC, "eUICC/CERT_EUICC_ECDSA_NIST.der",
                             "EUM/CERT_EUM_ECDSA_NIST.der", time(NULL), NULL),
                 RSP_ERR_UNKNOWN_CI);
    rsp_x509_store_free(s);
}

static void test_eum_range(void)
{
    struct rsp_x509_store *s;
    X509 *eum, *own, *out;
    char eid[33];

    CU_ASSERT_FATAL(ensure_pki());
    s = gen_store();
    eum = load("EUM/CERT_EUM_ECDSA_BRP.der");
    own = load("eUICC/CERT_EUICC_ECDSA_BRP.der");
    out = load("Negative/CERT_EUICC_ECDSA_BRP_OUT_OF_RANGE.der");
    CU_ASSERT_RC(rsp_x509_check_eid(eum, own, eid), RSP_OK);
    CU_ASSERT_STRING_EQUAL(eid, pki_eid);
    CU_ASSERT_RC(rsp_x509_check_eid(eum, out, eid), RSP_ERR_EID);
    CU_ASSERT_EQUAL(eid[0], 0);
    /* the out-of-range EID itself is well-formed: only the range is wrong */
    CU_ASSERT_RC(rsp_x509_get_eid(out, eid), RSP_OK);
    CU_ASSERT_NOT_EQUAL(strncmp(eid, RSP_PKI_DEFAULT_EUM_PREFIX, 8), 0);
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, out, &eum, 1, time(NULL), NULL),
                 RSP_ERR_EID);
    CU_ASSERT_RC(verify_file(s, RSP_X509_ROLE_EUICC, "Negative/CERT_EUICC_ECDSA_NIST_OUT_OF_RANGE.der",
                             "EUM/CERT_EUM_ECDSA_NIST.der", time(NULL), NULL), RSP_ERR_EID);
    X509_free(eum);
    X509_free(own);
    X509_free(out);
    rsp_x509_store_free(s);
}

/* Library-level negatives: another organisation, bad check digits, a
 * permittedEins EUM. */
static void test_eum_rules(void)
{
    struct rsp_pki_cred ci, eum, eu = { 0 };
    struct rsp_x509_store *s;
    char eid[33];
    struct rsp_pki_rdn eu_subj[] = {
        { NID_countryName, "ES" }, { NID_organizationName, "Another EUM" },
        { NID_serialNumber, eid }, { NID_commonName, "Test eUICC" },
    };
    struct rsp_pki_cert_params p = {
        .role = RSP_X509_ROLE_EUICC, .curve = RSP_CURVE_P256,
        .subject = eu_subj, .n_subject = 4,
    };

    CU_ASSERT_FATAL(ensure_pki());
    s = gen_store();
    CU_ASSERT_RC(rsp_pki_load_cred(path_in("gen/CertificateIssuer/CERT_CI_ECDSA_NIST.der"),
                                   path_in("gen/CertificateIssuer/SK_CI_ECDSA_NIST.pem"), &ci),
                 RSP_OK);
    CU_ASSERT_RC(rsp_pki_load_cred(path_in("gen/EUM/CERT_EUM_ECDSA_NIST.der"),
                                   path_in("gen/EUM/SK_EUM_ECDSA_NIST.pem"), &eum), RSP_OK);

    /* right prefix, wrong O */
    CU_ASSERT_RC(rsp_pki_eid_make(RSP_PKI_DEFAULT_EUM_PREFIX, 7, eid), RSP_OK);
    CU_ASSERT_RC(rsp_pki_issue(&p, &eum, &eu), RSP_OK);
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, eu.cert, &eum.cert, 1, time(NULL),
                                 NULL), RSP_ERR_CERT);
    rsp_pki_cred_free(&eu);

    /* right O, bad check digits */
    eu_subj[1].value = RSP_PKI_DEFAULT_EUM_ORG;
    eid[31] = eid[31] == '9' ? '0' : (char)(eid[31] + 1);
    CU_ASSERT_RC(rsp_pki_issue(&p, &eum, &eu), RSP_OK);
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, eu.cert, &eum.cert, 1, time(NULL),
                                 NULL), RSP_ERR_EID);
    rsp_pki_cred_free(&eu);

    /* a valid one made by hand */
    CU_ASSERT_RC(rsp_pki_eid_make(RSP_PKI_DEFAULT_EUM_PREFIX, 123456789, eid), RSP_OK);
    CU_ASSERT_RC(rsp_pki_issue(&p, &eum, &eu), RSP_OK);
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, eu.cert, &eum.cert, 1, time(NULL),
                                 NULL), RSP_OK);
    /* the eUICC key is not a CA: a certificate "issued" by it fails */
    {
        struct rsp_pki_cred eu2 = { 0 };
        CU_ASSERT_RC(rsp_pki_issue(&p, &eu, &eu2), RSP_OK);
        X509 *inter[2] = { eum.cert, eu.cert };
        CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, eu2.cert, inter, 2, time(NULL),
                                     NULL), RSP_ERR_CERT);
        rsp_pki_cred_free(&eu2);
    }
    rsp_pki_cred_free(&eu);

    /* an EUM issued straight under a DPauth key is no EUM */
    {
        struct rsp_pki_rdn dsubj[] = { { NID_commonName, "x" } };
        struct rsp_pki_cert_params dp = {
            .role = RSP_X509_ROLE_DP_AUTH, .curve = RSP_CURVE_P256,
            .subject = dsubj, .n_subject = 1,
        };
        struct rsp_pki_cred d = { 0 };
        CU_ASSERT_RC(rsp_pki_issue(&dp, &ci, &d), RSP_OK);
        CU_ASSERT_RC(rsp_x509_check_profile(d.cert, RSP_X509_ROLE_DP_AUTH), RSP_OK);
        CU_ASSERT_RC(rsp_x509_check_profile(d.cert, RSP_X509_ROLE_EUM), RSP_ERR_CERT);
        rsp_pki_cred_free(&d);
    }
    rsp_pki_cred_free(&ci);
    rsp_pki_cred_free(&eum);
    rsp_x509_store_free(s);
}

static void test_expired(void)
{
    struct rsp_x509_store *s;
    time_t now = time(NULL);
    static const char *const files[] = {
        "Negative/CERT_S_SM_DPauth_ECDSA_NIST_EXPIRED.der",
        "Negative/CERT_S_SM_DPauth_ECDSA_BRP_EXPIRED.der",
        "Negative/CERT_S_SM_DP_TLS_NIST_EXPIRED.der",
        "Negative/CERT_S_SM_DP_TLS_BRP_EXPIRED.der",
    };
    static const int roles[] = {
        RSP_X509_ROLE_DP_AUTH, RSP_X509_ROLE_DP_AUTH, RSP_X509_ROLE_DP_TLS, RSP_X509_ROLE_DP_TLS,
    };

    CU_ASSERT_FATAL(ensure_pki());
    s = gen_store();
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_RC(verify_file(s, roles[i], files[i], NULL, now, NULL), RSP_ERR_EXPIRED);
        /* only the validity is wrong (the CI itself dates from today) */
        CU_ASSERT_RC(verify_file(s, roles[i], files[i], NULL, RSP_X509_NO_TIME, NULL), RSP_OK);
    }
    /* nor is a fresh certificate valid before the CI existed */
    CU_ASSERT_RC(verify_file(s, RSP_X509_ROLE_DP_AUTH, "DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der",
                             NULL, now - 86400, NULL), RSP_ERR_EXPIRED);
    rsp_x509_store_free(s);
}

static void test_foreign_ci(void)
{
    struct rsp_x509_store *s, *fs = NULL;
    struct rsp_pki_cred ci, foreign, forged = { 0 };
    struct rsp_pki_rdn subj[] = { { NID_organizationName, "ACME" },
                                  { NID_commonName, "TEST SM-DP+" } };
    struct rsp_pki_cert_params p = {
        .role = RSP_X509_ROLE_DP_AUTH, .curve = RSP_CURVE_BRAINPOOLP256R1,
        .subject = subj, .n_subject = 2,
    };

    CU_ASSERT_FATAL(ensure_pki());
    s = gen_store();
    CU_ASSERT_RC(verify_file(s, RSP_X509_ROLE_DP_AUTH,
                             "Negative/CERT_S_SM_DPauth_ECDSA_BRP_FOREIGN_CI.der", NULL,
                             time(NULL), NULL), RSP_ERR_UNKNOWN_CI);
    CU_ASSERT_RC(verify_file(s, RSP_X509_ROLE_DP_AUTH,
                             "Negative/CERT_S_SM_DPauth_ECDSA_NIST_FOREIGN_CI.der", NULL,
                             time(NULL), NULL), RSP_ERR_UNKNOWN_CI);
    /* trusting the foreign CI instead makes it valid */
    CU_ASSERT_RC(rsp_x509_store_new(&fs), RSP_OK);
    CU_ASSERT_RC(rsp_x509_store_add_file(fs, path_in("gen/Negative/CERT_CI_ECDSA_BRP_FOREIGN.pem")),
                 RSP_OK);
    CU_ASSERT_RC(verify_file(fs, RSP_X509_ROLE_DP_AUTH,
                             "Negative/CERT_S_SM_DPauth_ECDSA_BRP_FOREIGN_CI.der", NULL,
                             time(NULL), NULL), RSP_OK);

    /* forged: names the trusted CI (issuer, AKI) but signed by the foreign
     * CI key */
    CU_ASSERT_RC(rsp_pki_load_cred(path_in("gen/CertificateIssuer/CERT_CI_ECDSA_BRP.der"),
                                   path_in("gen/CertificateIssuer/SK_CI_ECDSA_BRP.pem"), &ci),
                 RSP_OK);
    CU_ASSERT_RC(rsp_pki_load_cred(path_in("gen/Negative/CERT_CI_ECDSA_BRP_FOREIGN.der"),
                                   path_in("gen/Negative/SK_CI_ECDSA_BRP_FOREIGN.pem"), &foreign),
                 RSP_OK);
    {
        struct rsp_pki_cred mixed = { .cert = ci.cert, .key = foreign.key };
        CU_ASSERT_RC(rsp_pki_issue(&p, &mixed, &forged), RSP_OK);
    }
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_DP_AUTH, forged.cert, NULL, 0, time(NULL),
                                 NULL), RSP_ERR_VERIFY);
    rsp_pki_cred_free(&forged);
    /* a foreign CI in the store beside the real one changes nothing */
    CU_ASSERT_RC(rsp_x509_store_add(s, foreign.cert), RSP_OK);
    CU_ASSERT_EQUAL(rsp_x509_store_count(s), 3);
    CU_ASSERT_RC(verify_file(s, RSP_X509_ROLE_DP_AUTH, "DPauth/CERT_S_SM_DPauth_ECDSA_BRP.der",
                             NULL, time(NULL), NULL), RSP_OK);
    rsp_pki_cred_free(&ci);
    rsp_pki_cred_free(&foreign);
    rsp_x509_store_free(fs);
    rsp_x509_store_free(s);
}

static int eid_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void mint_check(const char *pki, const char *out_rel, int curve, size_t n,
                       struct rsp_x509_store *s, const char *eum_path)
{
    char (*eids)[33] = calloc(n, 33);
    struct rsp_pki_mint_opts m = {
        .pki_dir = pki, .out_dir = path_in(out_rel), .curve = curve, .count = n, .eids = eids,
    };
    X509 *eum = NULL;

    CU_ASSERT_PTR_NOT_NULL_FATAL(eids);
    CU_ASSERT_RC(rsp_pki_mint_euicc(&m), RSP_OK);
    CU_ASSERT_RC(rsp_x509_load_file(eum_path, &eum), RSP_OK);
    for (size_t i = 0; i < n; i++) {
        char cert[256], key[256];
        struct rsp_pki_cred c;
        struct rsp_x509_chain_info info;
        FMT(cert, "%s/CERT_EUICC_%s.der", out_rel, eids[i]);
        FMT(key, "%s/SK_EUICC_%s.pem", out_rel, eids[i]);
        CU_ASSERT_RC(rsp_pki_load_cred(path_in(cert), path_in(key), &c), RSP_OK);
        if (!c.cert)
            continue;
        CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, c.cert, &eum, 1, time(NULL), &info),
                     RSP_OK);
        CU_ASSERT_STRING_EQUAL(info.eid, eids[i]);
        CU_ASSERT_EQUAL(rsp_x509_get_curve(c.cert), curve);
        rsp_pki_cred_free(&c);
    }
    qsort(eids, n, 33, eid_cmp);
    for (size_t i = 1; i < n; i++)
        CU_ASSERT_NOT_EQUAL(strcmp(eids[i - 1], eids[i]), 0);
    {
        char list[300];
        size_t len;
        FMT(list, "%s/eids.txt", out_rel);
        uint8_t *txt = test_read_file(path_in(list), &len);
        CU_ASSERT_PTR_NOT_NULL(txt);
        CU_ASSERT_EQUAL(len, n * 33);
        free(txt);
    }
    X509_free(eum);
    free(eids);
}

static void test_mint(void)
{
    struct rsp_x509_store *s;

    CU_ASSERT_FATAL(ensure_pki());
    s = gen_store();
    mint_check(path_in("gen"), "fleet-nist", RSP_CURVE_P256, 20, s,
               path_in("gen/EUM/CERT_EUM_ECDSA_NIST.der"));
    mint_check(path_in("gen"), "fleet-brp", RSP_CURVE_BRAINPOOLP256R1, 20, s,
               path_in("gen/EUM/CERT_EUM_ECDSA_BRP.der"));
    rsp_x509_store_free(s);
}

/* Minting under the SGP.26 EUM (its key is public): chains to the GSMA test
 * CI, EIDs under 89049032. */
static void test_mint_sgp26(void)
{
    struct rsp_x509_store *s = NULL;
    char dir[1200], ci[1300], eum[1300];

    CU_ASSERT_FATAL(ensure_pki());
    FMT(dir, "%s/sgp26", test_shared_dir());
    FMT(ci, "%s/CertificateIssuer/CERT_CI_ECDSA_NIST.der", dir);
    FMT(eum, "%s/EUM/CERT_EUM_ECDSA_NIST.der", dir);
    CU_ASSERT_RC(rsp_x509_store_new(&s), RSP_OK);
    CU_ASSERT_RC(rsp_x509_store_add_file(s, ci), RSP_OK);
    mint_check(dir, "fleet-sgp26", RSP_CURVE_P256, 3, s, eum);
    rsp_x509_store_free(s);
}

static void test_given_eid(void)
{
    struct rsp_pki_opts o = {
        .curves = RSP_PKI_CURVE_BIT(RSP_CURVE_P256),
        .eid = "89049032123451234512345678901235", .host = "localhost",
    };
    struct rsp_x509_store *s = NULL;
    X509 *eu = NULL, *eum = NULL, *tls = NULL;
    struct rsp_x509_chain_info info;

    CU_ASSERT_FATAL(ensure_pki());
    o.dir = path_in("given");
    CU_ASSERT_RC(rsp_pki_generate(&o), RSP_OK);
    CU_ASSERT_STRING_EQUAL(o.eid_out, o.eid);
    CU_ASSERT_RC(rsp_x509_store_new(&s), RSP_OK);
    CU_ASSERT_RC(rsp_x509_store_add_dir(s, path_in("given/CertificateIssuer")), 1);
    CU_ASSERT_RC(rsp_x509_load_file(path_in("given/eUICC/CERT_EUICC_ECDSA_NIST.der"), &eu),
                 RSP_OK);
    CU_ASSERT_RC(rsp_x509_load_file(path_in("given/EUM/CERT_EUM_ECDSA_NIST.der"), &eum),
                 RSP_OK);
    CU_ASSERT_RC(rsp_x509_load_file(path_in("given/DPtls/CERT_S_SM_DP_TLS_NIST.der"), &tls),
                 RSP_OK);
    CU_ASSERT_RC(rsp_x509_verify(s, RSP_X509_ROLE_EUICC, eu, &eum, 1, time(NULL), &info), RSP_OK);
    CU_ASSERT_STRING_EQUAL(info.eid, o.eid);
    CU_ASSERT_RC(rsp_x509_check_host(tls, "localhost"), RSP_OK);
    /* no BRP set was asked for */
    CU_ASSERT_EQUAL(access(path_in("given/EUM/CERT_EUM_ECDSA_BRP.der"), F_OK), -1);

    /* EIDs the EUM cannot issue are refused up front */
    o.eid = "89049033123451234512345678901235";
    CU_ASSERT_RC(rsp_pki_generate(&o), RSP_ERR_EID);
    o.eid = "89049032123451234512345678901234";
    CU_ASSERT_RC(rsp_pki_generate(&o), RSP_ERR_EID);
    X509_free(eu);
    X509_free(eum);
    X509_free(tls);
    rsp_x509_store_free(s);
}

static void test_eid_make(void)
{
    char eid[33];

    CU_ASSERT_RC(rsp_pki_eid_make("89049032", 42, eid), RSP_OK);
    CU_ASSERT_STRING_EQUAL(eid, "89049032000000000000000000004237");
    CU_ASSERT_RC(rsp_eid_check(eid), RSP_OK);
    CU_ASSERT_RC(rsp_pki_eid_make("8904903212345678901234567890", 12345, eid), RSP_OK);
    CU_ASSERT_EQUAL(strncmp(eid, "890490321234567890123456789045", 30), 0);
    CU_ASSERT_RC(rsp_eid_check(eid), RSP_OK);
    CU_ASSERT_RC(rsp_pki_eid_make("89x", 1, eid), RSP_ERR_EID);
    CU_ASSERT_RC(rsp_pki_eid_make("", 1, eid), RSP_ERR_EID);
    for (int i = 0; i < 50; i++) {
        CU_ASSERT_RC(rsp_pki_eid_random("8904", eid), RSP_OK);
        CU_ASSERT_RC(rsp_eid_check(eid), RSP_OK);
    }
}

static void test_bad_params(void)
{
    struct rsp_pki_cred out = { 0 }, fake = { 0 };
    struct rsp_pki_rdn subj[] = { { NID_commonName, "x" } };
    struct rsp_pki_cert_params p = {
        .role = RSP_X509_ROLE_DP_AUTH, .curve = RSP_CURVE_P256,
        .subject = subj, .n_subject = 1,
    };
    struct rsp_pki_opts o = { 0 };
    struct rsp_pki_mint_opts m = { .pki_dir = "/nonexistent", .out_dir = "/tmp",
                                   .curve = RSP_CURVE_P256, .count = 1 };
    static const char *const bad_op[] = { "bad name" };
    EVP_PKEY *k = NULL;

    CU_ASSERT_FATAL(ensure_pki());
    /* below a regular file: cannot be created */
    o.dir = path_in("gen/EUM/CERT_EUM_ECDSA_NIST.der/x");
    CU_ASSERT_RC(rsp_pki_issue(&p, NULL, &out), RSP_ERR_INVAL);   /* only a CI self-signs */
    CU_ASSERT_RC(rsp_pki_issue(&p, &fake, &out), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_pki_issue(NULL, NULL, &out), RSP_ERR_INVAL);
    p.role = RSP_X509_ROLE_CI;
    p.curve = 7;
    CU_ASSERT_RC(rsp_pki_issue(&p, NULL, &out), RSP_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NULL(out.cert);
    CU_ASSERT_RC(rsp_pki_keygen(0, &k), RSP_ERR_UNSUPPORTED);
    CU_ASSERT_RC(rsp_pki_generate(&o), RSP_ERR_IO);
    o.operators = bad_op;
    o.n_operators = 1;
    CU_ASSERT_RC(rsp_pki_generate(&o), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_pki_mint_euicc(&m), RSP_ERR_NOTFOUND);
    m.count = 0;
    CU_ASSERT_RC(rsp_pki_mint_euicc(&m), RSP_ERR_INVAL);
}

CU_TestInfo pki_tests[] = {
    { "generate_verify", test_generate_verify },
    { "not_sgp26", test_not_sgp26 },
    { "eum_range", test_eum_range },
    { "eum_rules", test_eum_rules },
    { "expired", test_expired },
    { "foreign_ci", test_foreign_ci },
    { "mint", test_mint },
    { "mint_sgp26", test_mint_sgp26 },
    { "given_eid", test_given_eid },
    { "eid_make", test_eid_make },
    { "bad_params", test_bad_params },
    CU_TEST_INFO_NULL,
};
