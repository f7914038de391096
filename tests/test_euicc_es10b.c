/*
 * test_euicc_es10b.c - ES10b (AuthenticateServer, PrepareDownload,
 * CancelSession, info, RAT) and ES8+ LoadBoundProfilePackage on the
 * simulated card, with the test playing the SM-DP+: it signs serverSigned1
 * with the DPauth key, smdpSigned2 with the DPpb key, builds the BPP with
 * rsp_bpp and sends it in the segments of SGP.22 §2.5.5.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <AuthenticateResponseError.h>
#include <AuthenticateServerResponse.h>
#include <CancelSessionResponse.h>
#include <EUICCInfo1.h>
#include <EUICCInfo2.h>
#include <GetRatResponse.h>
#include <PrepareDownloadResponse.h>
#include <PrepareDownloadResponseError.h>
#include <ErrorResult.h>
#include <ProfileInstallationResult.h>

#include "euicc.private.h"
#include "euicc_dp.h"
#include "euicc_fixture.h"
#include "rsp_asn1.h"
#include "rsp_bpp.h"
#include "rsp_err.h"
#include "rsp_pki.h"
#include "rsp_saip.h"
#include "rsp_test.h"
#include "rsp_util.h"
#include "rsp_x509.h"

static const char *TS48[] = {
    "TS48v1_A.der", "TS48v2_SAIP2.1_BERTLV.der", "TS48v2_SAIP2.3_NoBERTLV.der",
    "TS48v4_SAIP2.1A_NoBERTLV.der",
};

static int put(struct rsp_buf *b, uint32_t tag, const void *v, size_t n)
{
    int rc = rsp_tlv_put_header(b, tag, n);
    if (rc == 0 && n)
        rc = rsp_buf_append(b, v, n);
    return rc;
}

/* A fresh card and the NIST SM-DP+ of the generated PKI. */
static void card_and_dp_open(struct euicc_fixture *f, struct euicc_dp *d)
{
    CU_ASSERT_RC(euicc_fixture_open(f, NULL), 0);
    CU_ASSERT_RC(euicc_dp_load(d, euicc_fixture_pki_dir(), "NIST", 0), 0);
}

static void card_and_dp_close(struct euicc_fixture *f, struct euicc_dp *d)
{
    euicc_dp_free(d);
    euicc_fixture_close(f);
}

static void install_all(const char *pki, const char *curve, int use_ppk)
{
    for (size_t i = 0; i < sizeof(TS48) / sizeof(TS48[0]); i++) {
        struct euicc_fixture f;
        struct euicc_dp d;
        struct euicc_dp_pir p;
        char iccid[21];
        size_t len;
        uint8_t *upp = euicc_dp_read_profile(TS48[i], &len, iccid);
        CU_ASSERT_PTR_NOT_NULL_FATAL(upp);
        CU_ASSERT_RC(euicc_fixture_open(&f, pki), 0);
        CU_ASSERT_RC(euicc_dp_load(&d, pki ? pki : euicc_fixture_pki_dir(), curve, 0), 0);
        CU_ASSERT_RC(euicc_dp_run(&f, &d, upp, len, iccid, DP_F_NONE, use_ppk, &p), 0);
        if (!p.ok)
            fprintf(stderr, "\n  %s: PIR cmd %d reason %d\n", TS48[i], p.cmd, p.reason);
        CU_ASSERT(p.ok);
        CU_ASSERT(p.sig_ok);
        CU_ASSERT_EQUAL(f.card->st.n_profiles, 1);
        CU_ASSERT(f.card->st.n_profiles == 1 && !strcmp(f.card->st.profiles[0].iccid, iccid));
        CU_ASSERT(f.card->st.n_notifs >= 1);
        CU_ASSERT_EQUAL(f.card->sess.phase, EUICC_SESS_NONE);
        CU_ASSERT_PTR_NULL(f.card->sess.bspc);
        /* persisted */
        CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
        CU_ASSERT(f.card && f.card->st.n_profiles == 1 &&
                  !strcmp(f.card->st.profiles[0].iccid, iccid));
        euicc_dp_free(&d);
        euicc_fixture_close(&f);
        free(upp);
    }
}

static void test_install_ts48_nist(void) { install_all(NULL, "NIST", 0); }
static void test_install_ts48_brp(void) { install_all(NULL, "BRP", 0); }
static void test_install_ts48_ppk(void) { install_all(NULL, "NIST", 1); }

static void test_install_sgp26(void)
{
    char pki[600];
    snprintf(pki, sizeof(pki), "%s/sgp26", test_shared_dir());
    struct euicc_fixture f;
    struct euicc_dp d;
    struct euicc_dp_pir p;
    char iccid[21];
    size_t len;
    uint8_t *upp = euicc_dp_read_profile(TS48[0], &len, iccid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(upp);
    CU_ASSERT_RC(euicc_fixture_open(&f, pki), 0);
    CU_ASSERT_RC(euicc_dp_load(&d, pki, "NIST", 0), 0);
    CU_ASSERT_RC(euicc_dp_run(&f, &d, upp, len, iccid, DP_F_NONE, 0, &p), 0);
    CU_ASSERT(p.ok && p.sig_ok);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 1);
    card_and_dp_close(&f, &d);
    free(upp);
}

/* One negative case: expected auth code, download code, or PIR error. */
static void negative(enum euicc_dp_fault fault, int want_run, int want_cmd, int want_reason,
                     const char *iccid_override)
{
    struct euicc_fixture f;
    struct euicc_dp d;
    struct euicc_dp_pir p;
    char iccid[21];
    size_t len;
    uint8_t *upp = euicc_dp_read_profile(TS48[1], &len, iccid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(upp);
    CU_ASSERT_RC(euicc_fixture_open(&f, NULL), 0);
    CU_ASSERT_RC(euicc_dp_load(&d, euicc_fixture_pki_dir(), "NIST", fault == DP_F_FOREIGN_CI), 0);
    CU_ASSERT_RC(euicc_dp_run(&f, &d, upp, len, iccid_override ? iccid_override : iccid, fault, 0, &p),
                 want_run);
    if (want_run == 0) {
        CU_ASSERT(p.present && !p.ok && p.sig_ok);
        CU_ASSERT_EQUAL(p.cmd, want_cmd);
        CU_ASSERT_EQUAL(p.reason, want_reason);
        if (p.cmd != want_cmd || p.reason != want_reason)
            fprintf(stderr, "\n  fault %d: PIR cmd %d reason %d\n", fault, p.cmd, p.reason);
    }
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 0);
    CU_ASSERT_EQUAL(f.card->sess.phase, EUICC_SESS_NONE);
    CU_ASSERT_PTR_NULL(f.card->sess.bspc);      /* BSP keys gone with the session */
    card_and_dp_close(&f, &d);
    free(upp);
}

static void test_wrong_challenge(void) { negative(DP_F_CHALLENGE, 6, 0, 0, NULL); }
static void test_bad_server_sig(void) { negative(DP_F_SERVER_SIG, 2, 0, 0, NULL); }
static void test_foreign_ci(void) { negative(DP_F_FOREIGN_CI, 1, 0, 0, NULL); }
static void test_wrong_tid_prepare(void) { negative(DP_F_TID_PD, 100 + 5, 0, 0, NULL); }
static void test_wrong_tid_isc(void) { negative(DP_F_TID_ISC, 0, 0, 3, NULL); }
static void test_bad_smdp_sign(void) { negative(DP_F_SMDP_SIGN, 0, 0, 2, NULL); }
/* smdpOtpk not on the curve (validly signed): ISC incorrectInputValues(1) */
static void test_otpk_off_curve(void) { negative(DP_F_OTPK_OFF_CURVE, 0, 0, 1, NULL); }
static void test_tampered_mac86(void) { negative(DP_F_MAC86, 0, 5, 8, NULL); }
static void test_iccid_mismatch(void) { negative(DP_F_NONE, 0, 5, 13, "8949449999999990023"); }
static void test_truncated_segment(void) { negative(DP_F_TRUNCATED, 0, 2, 1, NULL); }
static void test_garbage_segment(void) { negative(DP_F_GARBAGE, 0, 2, 7, NULL); }

static void test_iccid_twice(void)
{
    struct euicc_fixture f;
    struct euicc_dp d;
    struct euicc_dp_pir p;
    char iccid[21];
    size_t len;
    uint8_t *upp = euicc_dp_read_profile(TS48[2], &len, iccid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(upp);
    card_and_dp_open(&f, &d);
    CU_ASSERT_RC(euicc_dp_run(&f, &d, upp, len, iccid, DP_F_NONE, 0, &p), 0);
    CU_ASSERT(p.ok);
    CU_ASSERT_RC(euicc_dp_run(&f, &d, upp, len, iccid, DP_F_NONE, 0, &p), 0);
    CU_ASSERT(!p.ok && p.sig_ok);
    CU_ASSERT_EQUAL(p.cmd, 2);
    CU_ASSERT_EQUAL(p.reason, 9);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 1);
    card_and_dp_close(&f, &d);
    free(upp);
}

/* No session: AuthenticateServer without a challenge -> noSessionContext;
 * a BPP segment without PrepareDownload -> 6985. */
static void test_no_session(void)
{
    struct euicc_fixture f;
    struct euicc_dp d;
    uint8_t *r;
    size_t n;
    static const uint8_t bf36[] = {0xBF, 0x36, 0x03, 0xBF, 0x23, 0x00};
    card_and_dp_open(&f, &d);
    r = euicc_dp_es10(&f, &d, bf36, sizeof(bf36), &n);
    CU_ASSERT_EQUAL(d.sw, 0x6985);
    free(r);
    /* CancelSession without a session: invalidTransactionId (BF41 03 81 01 05) */
    static const uint8_t cancel[] = {0xBF, 0x41, 0x06, 0x80, 0x01, 0x01, 0x81, 0x01, 0x00};
    static const uint8_t want[] = {0xBF, 0x41, 0x03, 0x81, 0x01, 0x05};
    r = euicc_dp_es10(&f, &d, cancel, sizeof(cancel), &n);
    CU_ASSERT_BYTES("cancel", r, n, want, sizeof(want));
    free(r);
    card_and_dp_close(&f, &d);
}

static void test_cancel_session(void)
{
    struct euicc_fixture f;
    struct euicc_dp d;
    size_t n;
    card_and_dp_open(&f, &d);
    uint8_t *r = euicc_dp_authenticate(&f, &d, DP_F_NONE, &n);
    CU_ASSERT_RC(r ? euicc_dp_check_auth(&d, r, n) : -1, 0);
    free(r);
    struct rsp_buf v, req;
    rsp_buf_init(&v, 64);
    rsp_buf_init(&req, 64);
    put(&v, 0x80, d.tid, 16);
    put(&v, 0x81, "\x01", 1);     /* postponed */
    put(&req, 0xBF41, v.data, v.len);
    r = euicc_dp_es10(&f, &d, req.data, req.len, &n);
    CancelSessionResponse_t *cs = NULL;
    CU_ASSERT_RC(r ? rsp_asn1_decode(&asn_DEF_CancelSessionResponse, r, n, 4096, (void **)&cs) : -1, 0);
    CU_ASSERT(cs && cs->present == CancelSessionResponse_PR_cancelSessionResponseOk);
    if (cs && cs->present == CancelSessionResponse_PR_cancelSessionResponseOk) {
        struct rsp_tlv t, a, sgd, sig;
        EVP_PKEY *k = NULL;
        size_t pos = 0;
        CU_ASSERT(rsp_tlv_parse(r, n, &t) == 0 && rsp_tlv_parse(t.val, t.val_len, &a) == 0 &&
                  rsp_tlv_next(a.val, a.val_len, &pos, &sgd) == 1 &&
                  rsp_tlv_next(a.val, a.val_len, &pos, &sig) == 1 &&
                  rsp_x509_get_pubkey(d.euicc_cert, &k) == 0 &&
                  rsp_ecdsa_verify(k, sgd.tlv, sgd.tlv_len, sig.val, sig.val_len) == 0);
        EVP_PKEY_free(k);
    }
    rsp_asn1_free(&asn_DEF_CancelSessionResponse, cs);
    free(r);
    CU_ASSERT_EQUAL(f.card->sess.phase, EUICC_SESS_NONE);
    rsp_buf_free(&v);
    rsp_buf_free(&req);
    card_and_dp_close(&f, &d);
}

/* The keyed BSP context lives from InitialiseSecureChannel to the end of
 * the session: a BPP cut after ISC and ConfigureISDP, then CancelSession
 * (SGP.22 §5.7.14), frees and wipes it (ASan sees a leak otherwise). */
static void test_bpp_cancel_mid(void)
{
    struct euicc_fixture f;
    struct euicc_dp d;
    struct euicc_dp_pir p;
    struct rsp_buf v, req;
    char iccid[21];
    size_t len, n;
    uint8_t *r, *upp = euicc_dp_read_profile(TS48[2], &len, iccid);

    CU_ASSERT_PTR_NOT_NULL_FATAL(upp);
    card_and_dp_open(&f, &d);
    CU_ASSERT_RC(euicc_dp_session_prepare(&f, &d, NULL, 0), 0);
    CU_ASSERT_PTR_NULL(f.card->sess.bspc);
    euicc_dp_load_bpp(&f, &d, upp, len, iccid, DP_F_STOP_BPP, 0, &p);
    CU_ASSERT(!p.present);
    CU_ASSERT_EQUAL(f.card->sess.phase, EUICC_SESS_BPP);
    CU_ASSERT_PTR_NOT_NULL(f.card->sess.bspc);
    rsp_buf_init(&v, 64);
    rsp_buf_init(&req, 64);
    put(&v, 0x80, d.tid, 16);
    put(&v, 0x81, "\x00", 1);     /* endUserRejection */
    put(&req, 0xBF41, v.data, v.len);
    r = euicc_dp_es10(&f, &d, req.data, req.len, &n);
    CU_ASSERT(r && n > 4 && r[0] == 0xBF && r[1] == 0x41);
    free(r);
    CU_ASSERT_EQUAL(f.card->sess.phase, EUICC_SESS_NONE);
    CU_ASSERT_PTR_NULL(f.card->sess.bspc);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 0);
    rsp_buf_free(&v);
    rsp_buf_free(&req);
    card_and_dp_close(&f, &d);
    free(upp);
}

/* GetEUICCInfo1/2 and GetRAT decode as their ASN.1 types. */
static void test_info_rat(void)
{
    struct euicc_fixture f;
    uint8_t *r = NULL;
    size_t n;
    uint16_t sw;
    void *st = NULL;
    CU_ASSERT_RC(euicc_fixture_open(&f, NULL), 0);
    CU_ASSERT_RC(euicc_fixture_es10_hex(&f, "BF2000", &r, &n, &sw), 0);
    CU_ASSERT_RC(rsp_asn1_decode(&asn_DEF_EUICCInfo1, r, n, 4096, &st), 0);
    if (st)
        CU_ASSERT(((EUICCInfo1_t *)st)->euiccCiPKIdListForVerification.list.count >= 1);
    rsp_asn1_free(&asn_DEF_EUICCInfo1, st);
    st = NULL;
    free(r);
    CU_ASSERT_RC(euicc_fixture_es10_hex(&f, "BF2200", &r, &n, &sw), 0);
    CU_ASSERT_RC(rsp_asn1_decode(&asn_DEF_EUICCInfo2, r, n, 4096, &st), 0);
    rsp_asn1_free(&asn_DEF_EUICCInfo2, st);
    st = NULL;
    free(r);
    CU_ASSERT_RC(euicc_fixture_es10_hex(&f, "BF4300", &r, &n, &sw), 0);
    CU_ASSERT_RC(rsp_asn1_decode(&asn_DEF_GetRatResponse, r, n, 4096, &st), 0);
    rsp_asn1_free(&asn_DEF_GetRatResponse, st);
    free(r);
    euicc_fixture_close(&f);
}

/* ---- download retry: bppEuiccOtpk (SGP.22 §3.1.3, §5.7.14) ------------- */

/* A first session up to PrepareDownload; [out] otpk1: the otPK the card
 * answered. */
static void first_prepare(struct euicc_fixture *f, struct euicc_dp *d,
                          uint8_t otpk1[RSP_EC_POINT_LEN])
{
    CU_ASSERT_RC(euicc_dp_session_prepare(f, d, NULL, 0), 0);
    memcpy(otpk1, d->otpk, RSP_EC_POINT_LEN);
}

/* A retry whose smdpSigned2 names otpk1: the card must answer otpk1 again
 * (what: the label printed on a mismatch). */
static void retry_expect_same(struct euicc_fixture *f, struct euicc_dp *d, const uint8_t *otpk1,
                              const char *what)
{
    CU_ASSERT_RC(euicc_dp_session_prepare(f, d, otpk1, RSP_EC_POINT_LEN), 0);
    CU_ASSERT_BYTES(what, d->otpk, sizeof(d->otpk), otpk1, RSP_EC_POINT_LEN);
}

/* The card retains exactly this otPK (or none when otpk is NULL). */
static void assert_retained(struct euicc *card, const uint8_t *otpk)
{
    if (!otpk) {
        CU_ASSERT_EQUAL(card->st.otk.present, 0);
        return;
    }
    CU_ASSERT_EQUAL_FATAL(card->st.otk.present, 1);
    CU_ASSERT_BYTES("retained otPK", card->st.otk.pk, RSP_EC_POINT_LEN, otpk, RSP_EC_POINT_LEN);
}

/* The same order twice: the first session dies after InitialiseSecureChannel
 * and ConfigureISDP of a BPP bound to otPK1; the retry's smdpSigned2 carries
 * bppEuiccOtpk = otPK1, the card answers otPK1 again and the BPP bound to
 * it installs. Afterwards the pair is gone: the old otPK gets a fresh one. */
static void test_retry_same_otpk(void)
{
    struct euicc_fixture f;
    struct euicc_dp d;
    struct euicc_dp_pir p;
    uint8_t otpk1[RSP_EC_POINT_LEN];
    char iccid[21];
    size_t len;
    uint8_t *upp = euicc_dp_read_profile(TS48[2], &len, iccid);

    CU_ASSERT_PTR_NOT_NULL_FATAL(upp);
    card_and_dp_open(&f, &d);
    assert_retained(f.card, NULL);
    first_prepare(&f, &d, otpk1);
    assert_retained(f.card, otpk1);
    euicc_dp_load_bpp(&f, &d, upp, len, iccid, DP_F_STOP_BPP, 0, &p);
    CU_ASSERT(!p.present);
    CU_ASSERT_EQUAL(f.card->sess.phase, EUICC_SESS_BPP);

    retry_expect_same(&f, &d, otpk1, "otPK of the retry");
    assert_retained(f.card, otpk1);
    euicc_dp_load_bpp(&f, &d, upp, len, iccid, DP_F_NONE, 0, &p);
    if (!p.ok)
        fprintf(stderr, "\n  retry: PIR cmd %d reason %d\n", p.cmd, p.reason);
    CU_ASSERT(p.ok && p.sig_ok);
    CU_ASSERT(f.card->st.n_profiles == 1 && !strcmp(f.card->st.profiles[0].iccid, iccid));
    assert_retained(f.card, NULL);

    /* installed: otPK1 is forgotten, in the card and in its file */
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    assert_retained(f.card, NULL);
    CU_ASSERT_RC(euicc_dp_session_prepare(&f, &d, otpk1, sizeof(otpk1)), 0);
    CU_ASSERT(memcmp(d.otpk, otpk1, sizeof(otpk1)) != 0);
    assert_retained(f.card, d.otpk);
    card_and_dp_close(&f, &d);
    free(upp);
}

/* The retained pair survives euicc_free/euicc_open (euiccd restarted) and an
 * installation that failed (error PIR): the retry still reuses it. */
static void test_retry_after_restart(void)
{
    struct euicc_fixture f;
    struct euicc_dp d;
    struct euicc_dp_pir p;
    uint8_t otpk1[RSP_EC_POINT_LEN];
    char iccid[21];
    size_t len;
    uint8_t *upp = euicc_dp_read_profile(TS48[1], &len, iccid);

    CU_ASSERT_PTR_NOT_NULL_FATAL(upp);
    card_and_dp_open(&f, &d);
    first_prepare(&f, &d, otpk1);
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    assert_retained(f.card, otpk1);

    /* a tampered last segment: errorResult, nothing installed, pair kept */
    retry_expect_same(&f, &d, otpk1, "otPK after restart");
    euicc_dp_load_bpp(&f, &d, upp, len, iccid, DP_F_MAC86, 0, &p);
    CU_ASSERT(p.present && !p.ok);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 0);
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    assert_retained(f.card, otpk1);

    retry_expect_same(&f, &d, otpk1, "otPK after error PIR");
    euicc_dp_load_bpp(&f, &d, upp, len, iccid, DP_F_NONE, 0, &p);
    CU_ASSERT(p.ok && p.sig_ok);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 1);
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    assert_retained(f.card, NULL);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 1);
    card_and_dp_close(&f, &d);
    free(upp);
}

/* bppEuiccOtpk that names nothing this card holds - another key, a
 * malformed one, one on the other curve, or a pair since replaced: a fresh
 * pair, no error (otk_select in euicc_es10b.c), and that fresh pair is the
 * one retained. */
static void test_retry_unknown_otpk(void)
{
    struct euicc_fixture f;
    struct euicc_dp d, b;
    EVP_PKEY *other = NULL;
    uint8_t other_pk[RSP_EC_POINT_LEN], otpk1[RSP_EC_POINT_LEN], otpk2[RSP_EC_POINT_LEN];
    static const uint8_t short_pk[10] = {0x04, 1, 2, 3, 4, 5, 6, 7, 8, 9};

    card_and_dp_open(&f, &d);
    CU_ASSERT_RC(rsp_ec_key_generate(RSP_CURVE_P256, &other), 0);
    CU_ASSERT_RC(rsp_ec_pubkey_to_point(other, other_pk), 0);

    /* nothing retained yet */
    CU_ASSERT_RC(euicc_dp_session_prepare(&f, &d, other_pk, sizeof(other_pk)), 0);
    CU_ASSERT(memcmp(d.otpk, other_pk, sizeof(other_pk)) != 0);
    memcpy(otpk1, d.otpk, sizeof(otpk1));
    assert_retained(f.card, otpk1);

    /* otPK1 retained, another key named: fresh otPK2 replaces otPK1 */
    CU_ASSERT_RC(euicc_dp_session_prepare(&f, &d, other_pk, sizeof(other_pk)), 0);
    CU_ASSERT(memcmp(d.otpk, other_pk, sizeof(other_pk)) != 0);
    CU_ASSERT(memcmp(d.otpk, otpk1, sizeof(otpk1)) != 0);
    memcpy(otpk2, d.otpk, sizeof(otpk2));
    assert_retained(f.card, otpk2);
    CU_ASSERT_RC(euicc_dp_session_prepare(&f, &d, otpk1, sizeof(otpk1)), 0);
    CU_ASSERT(memcmp(d.otpk, otpk1, sizeof(otpk1)) != 0);
    CU_ASSERT(memcmp(d.otpk, otpk2, sizeof(otpk2)) != 0);
    memcpy(otpk2, d.otpk, sizeof(otpk2));

    /* a malformed bppEuiccOtpk (10 bytes) is no match either */
    CU_ASSERT_RC(euicc_dp_session_prepare(&f, &d, short_pk, sizeof(short_pk)), 0);
    CU_ASSERT(memcmp(d.otpk, otpk2, sizeof(otpk2)) != 0);
    memcpy(otpk2, d.otpk, sizeof(otpk2));

    /* the retained P-256 point named by a brainpool SM-DP+: a fresh
     * brainpoolP256r1 pair */
    CU_ASSERT_RC(euicc_dp_load(&b, euicc_fixture_pki_dir(), "BRP", 0), 0);
    CU_ASSERT_RC(euicc_dp_session_prepare(&f, &b, otpk2, sizeof(otpk2)), 0);
    CU_ASSERT(memcmp(b.otpk, otpk2, sizeof(otpk2)) != 0);
    CU_ASSERT(f.card->st.otk.present && f.card->st.otk.curve == RSP_CURVE_BRAINPOOLP256R1);
    assert_retained(f.card, b.otpk);
    CU_ASSERT_RC(rsp_ec_point_check(RSP_CURVE_BRAINPOOLP256R1, b.otpk, sizeof(b.otpk)), 0);

    EVP_PKEY_free(other);
    euicc_dp_free(&b);
    card_and_dp_close(&f, &d);
}

/* A retained pair whose scalar does not give its point (a corrupted state
 * file) is never used: a fresh pair comes back. */
static void test_retry_corrupt_otk(void)
{
    struct euicc_fixture f;
    struct euicc_dp d;
    uint8_t otpk1[RSP_EC_POINT_LEN];

    card_and_dp_open(&f, &d);
    first_prepare(&f, &d, otpk1);
    {
        /* the retained pair lives in the .otk sidecar: store it damaged */
        struct euicc_otk bad = f.card->st.otk;
        bad.sk[31] ^= 0x01;
        CU_ASSERT_RC(euicc_commit_otk(f.card, &bad), 0);
    }
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    assert_retained(f.card, otpk1);
    CU_ASSERT_RC(euicc_dp_session_prepare(&f, &d, otpk1, sizeof(otpk1)), 0);
    CU_ASSERT(memcmp(d.otpk, otpk1, sizeof(otpk1)) != 0);
    assert_retained(f.card, d.otpk);
    card_and_dp_close(&f, &d);
}

/* PrepareDownload whose commit of the fresh pair fails: no response (the
 * otPK never leaves the card), the pair retained before stays and is still
 * reused (euicc.h durability contract). */
static void test_retry_prepare_savefail(void)
{
    struct euicc_fixture f;
    struct euicc_dp d;
    uint8_t otpk1[RSP_EC_POINT_LEN];

    card_and_dp_open(&f, &d);
    first_prepare(&f, &d, otpk1);
    CU_ASSERT_RC(euicc_fault_set(f.card, "savefail"), 0);
    CU_ASSERT_RC(euicc_dp_session_prepare(&f, &d, NULL, 0), -1);
    CU_ASSERT_EQUAL(f.card->sess.phase, EUICC_SESS_NONE);
    assert_retained(f.card, otpk1);
    retry_expect_same(&f, &d, otpk1, "otPK after a failed save");
    card_and_dp_close(&f, &d);
}

/* The retained pair's sidecar (<state>.otk, two records, euicc_state.c):
 * a torn write of the newest record leaves the one before, which is the
 * state before that PrepareDownload; a record of the newest generation but
 * dropped (installed) is no pair. */
static void test_otk_sidecar_torn(void)
{
    struct euicc_fixture f;
    struct euicc_dp d;
    uint8_t otpk1[RSP_EC_POINT_LEN], otpk2[RSP_EC_POINT_LEN], *file;
    char sp[700];
    size_t len = 0;
    FILE *fp;

    card_and_dp_open(&f, &d);
    snprintf(sp, sizeof(sp), "%s.otk", f.state_path);
    first_prepare(&f, &d, otpk1);
    CU_ASSERT_RC(euicc_dp_session_prepare(&f, &d, NULL, 0), 0);
    memcpy(otpk2, d.otpk, sizeof(otpk2));
    CU_ASSERT(memcmp(otpk1, otpk2, sizeof(otpk1)) != 0);
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    assert_retained(f.card, otpk2);

    /* tear the newest record (its slot is its generation's parity) */
    file = test_read_file(sp, &len);
    CU_ASSERT_FATAL(file != NULL && len == 512);
    file[(f.card->st.otk.gen & 1) * 256 + 100] ^= 0x5A;
    fp = fopen(sp, "wb");
    CU_ASSERT_FATAL(fp != NULL);
    CU_ASSERT(fwrite(file, 1, len, fp) == len);
    fclose(fp);
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    assert_retained(f.card, otpk1);

    /* both records damaged: no pair, a fresh one, and the sidecar works */
    file[0] ^= 0xFF;
    file[256] ^= 0xFF;
    fp = fopen(sp, "wb");
    CU_ASSERT_FATAL(fp != NULL);
    CU_ASSERT(fwrite(file, 1, len, fp) == len);
    fclose(fp);
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    assert_retained(f.card, NULL);
    CU_ASSERT_RC(euicc_dp_session_prepare(&f, &d, otpk1, sizeof(otpk1)), 0);
    CU_ASSERT(memcmp(d.otpk, otpk1, sizeof(otpk1)) != 0);
    memcpy(otpk2, d.otpk, sizeof(otpk2));
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    assert_retained(f.card, otpk2);

    /* dropped in a JSON commit (as an install or eUICCMemoryReset does):
     * the record stays in the sidecar but is no pair any more */
    euicc_state_drop_otk(&f.card->st);
    CU_ASSERT_RC(euicc_commit(f.card), 0);
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    assert_retained(f.card, NULL);
    free(file);
    card_and_dp_close(&f, &d);
}

/* The eUICC's reading of a package (RSP_SAIP_FS_WALK) finds what the full
 * decode finds, and still refuses a damaged non-file-system element. */
static void test_saip_fs_walk(void)
{
    struct rsp_saip_info *a = NULL, *b = NULL;
    char iccid[21];
    size_t len = 0;
    uint8_t *upp = euicc_dp_read_profile("TS48v2_SAIP2.3_NoBERTLV.der", &len, iccid);

    CU_ASSERT_PTR_NOT_NULL_FATAL(upp);
    CU_ASSERT_RC(rsp_saip_parse(upp, len, &a), 0);
    CU_ASSERT_RC(rsp_saip_parse_ex(upp, len, RSP_SAIP_FS_WALK, &b), 0);
    CU_ASSERT_FATAL(a && b);
    CU_ASSERT_EQUAL(a->n_pes, b->n_pes);
    CU_ASSERT_STRING_EQUAL(a->iccid, b->iccid);
    for (size_t i = 0; i < a->n_pes && i < b->n_pes; i++) {
        CU_ASSERT_EQUAL(a->pes[i].kind, b->pes[i].kind);
        CU_ASSERT_EQUAL(a->pes[i].offset, b->pes[i].offset);
        CU_ASSERT_EQUAL(a->pes[i].len, b->pes[i].len);
        CU_ASSERT_STRING_EQUAL(a->pes[i].name, b->pes[i].name);
    }
    /* the first pinCodes element: its first inner byte becomes a tag the
     * type does not have, DER shape intact */
    for (size_t i = 0; i < a->n_pes; i++) {
        if (strcmp(a->pes[i].name, "pinCodes") != 0)
            continue;
        uint8_t *p = upp + a->pes[i].offset;
        size_t h = (p[1] & 0x80) ? 2 + (p[1] & 0x7F) : 2;
        rsp_saip_info_free(b);
        b = NULL;
        p[h] = 0x1E;   /* UNIVERSAL 30, primitive: not in PE-PINCodes */
        CU_ASSERT_NOT_EQUAL(rsp_saip_parse_ex(upp, len, RSP_SAIP_FS_WALK, &b), 0);
        CU_ASSERT_PTR_NULL(b);
        break;
    }
    rsp_saip_info_free(a);
    rsp_saip_info_free(b);
    free(upp);
}

CU_TestInfo euicc_es10b_tests[] = {
    {"install_ts48_nist", test_install_ts48_nist},
    {"otk_sidecar_torn", test_otk_sidecar_torn},
    {"saip_fs_walk", test_saip_fs_walk},
    {"install_ts48_brp", test_install_ts48_brp},
    {"install_ts48_ppk", test_install_ts48_ppk},
    {"install_sgp26", test_install_sgp26},
    {"wrong_challenge", test_wrong_challenge},
    {"bad_server_sig", test_bad_server_sig},
    {"foreign_ci", test_foreign_ci},
    {"wrong_tid_prepare", test_wrong_tid_prepare},
    {"wrong_tid_isc", test_wrong_tid_isc},
    {"bad_smdp_sign", test_bad_smdp_sign},
    {"otpk_off_curve", test_otpk_off_curve},
    {"tampered_mac86", test_tampered_mac86},
    {"iccid_mismatch", test_iccid_mismatch},
    {"iccid_twice", test_iccid_twice},
    {"truncated_segment", test_truncated_segment},
    {"garbage_segment", test_garbage_segment},
    {"no_session", test_no_session},
    {"cancel_session", test_cancel_session},
    {"bpp_cancel_mid", test_bpp_cancel_mid},
    {"info_rat", test_info_rat},
    {"retry_same_otpk", test_retry_same_otpk},
    {"retry_after_restart", test_retry_after_restart},
    {"retry_unknown_otpk", test_retry_unknown_otpk},
    {"retry_corrupt_otk", test_retry_corrupt_otk},
    {"retry_prepare_savefail", test_retry_prepare_savefail},
    CU_TEST_INFO_NULL,
};
