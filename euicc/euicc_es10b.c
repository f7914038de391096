/*
 * euicc_es10b.c - ES10b functions of the ISD-R (SGP.22 v2.5 §5.7): the
 * eUICC side of common mutual authentication (§3.1.2) and of the download
 * preparation (§3.1.3), plus GetRAT and LoadCRL. The notification functions
 * of ES10b live in euicc_notif.c.
 *
 * Requests are decoded strictly (rsp_asn1_decode); signatures are verified
 * over the exact bytes received (sliced with rsp_tlv_*), never over a
 * re-encoding. Responses are assembled as TLVs around those slices; their
 * encodings are checked against the ASN.1 module by the tests, which decode
 * every response with the generated types.
 *
 * Fixed values this card reports in EUICCInfo1/EUICCInfo2 (§5.7.8, §5.7.10)
 * are listed at info2_build().
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <AuthenticateServerRequest.h>
#include <CancelSessionRequest.h>
#include <CtxParams1.h>
#include <CtxParamsForCommonAuthentication.h>
#include <EUICCInfo2.h>
#include <LoadCRLRequest.h>
#include <PrepareDownloadRequest.h>

#include "euicc.private.h"
#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_x509.h"

/* AuthenticateErrorCode (SGP.22 §5.7.13, RSPDefinitions). */
enum {
    AUTH_INVALID_CERT = 1, AUTH_INVALID_SIG = 2, AUTH_UNSUPPORTED_CURVE = 3,
    AUTH_NO_SESSION = 4, AUTH_INVALID_OID = 5, AUTH_CHALLENGE_MISMATCH = 6,
    AUTH_CI_PK_UNKNOWN = 7, AUTH_UNDEFINED = 127,
};
/* DownloadErrorCode (SGP.22 §5.7.14). */
enum {
    DL_INVALID_CERT = 1, DL_INVALID_SIG = 2, DL_UNSUPPORTED_CURVE = 3,
    DL_NO_SESSION = 4, DL_INVALID_TID = 5, DL_UNDEFINED = 127,
};

#define SW_WRONG_DATA 0x6A80

/* An ES10 request that must be exactly "tag 00" (no input data). */
static int empty_request(const uint8_t *cmd, size_t len, uint32_t tag)
{
    struct rsp_tlv t;
    if (rsp_tlv_parse(cmd, len, &t) || t.tag != tag || t.tlv_len != len)
        return SW_WRONG_DATA;
    return 0;   /* extensible types: unknown content is tolerated */
}

/* ---- GetEUICCChallenge (§5.7.7) --------------------------------------- */

int euicc_es10b_get_challenge(struct euicc *e, const uint8_t *cmd, size_t len,
                              struct rsp_buf *resp)
{
    uint8_t v[2 + 16];
    int rc = empty_request(cmd, len, 0xBF2E);
    if (rc)
        return rc;
    /* A new challenge starts a new session: anything before is dropped. */
    euicc_session_clear(&e->sess);
    if (RAND_bytes(e->sess.euicc_challenge, 16) != 1)
        return 0x6F00;
    e->sess.phase = EUICC_SESS_CHALLENGE;
    v[0] = 0x80;
    v[1] = 16;
    memcpy(v + 2, e->sess.euicc_challenge, 16);
    return rsp_tlv_put(resp, 0xBF2E, v, sizeof(v)) ? 0x6F00 : 0;
}

/* ---- EUICCInfo1 / EUICCInfo2 (§5.7.8, §5.7.10) ------------------------ */

/* SVN: SGP.22 v2.5.0. */
static const uint8_t SVN[3] = {0x02, 0x05, 0x00};

/* PKID lists as "tag L (04 L pkid)*". Verification: every trusted CI;
 * signing: the CIs of our credentials (one per curve). */
static int put_pkids(const struct euicc *e, struct rsp_buf *b, uint32_t tag, int signing)
{
    struct rsp_buf v;
    int rc = 0;

    rsp_buf_init(&v, 1024);
    if (!signing) {
        for (size_t i = 0; i < e->st.n_cis && !rc; i++)
            rc = rsp_tlv_put(&v, 0x04, e->st.cis[i].pkid, e->st.cis[i].pkid_len);
    } else {
        for (size_t i = 0; i < e->st.n_creds && !rc; i++) {
            int dup = 0;
            for (size_t j = 0; j < i; j++)
                if (e->st.creds[j].ci_pkid_len == e->st.creds[i].ci_pkid_len &&
                    !memcmp(e->st.creds[j].ci_pkid, e->st.creds[i].ci_pkid,
                            e->st.creds[i].ci_pkid_len))
                    dup = 1;
            if (!dup)
                rc = rsp_tlv_put(&v, 0x04, e->st.creds[i].ci_pkid, e->st.creds[i].ci_pkid_len);
        }
    }
    if (rc == 0)
        rc = rsp_tlv_put(b, tag, v.data, v.len);
    rsp_buf_free(&v);
    return rc;
}

/*
 * EUICCInfo2 (BF22). Values reported by this simulated card:
 *   profileVersion 2.3.1 (SAIP v2.3.1), svn 2.5.0, euiccFirmwareVer 1.0.0;
 *   extCardResource (ETSI TS 102 226 §8.2.1.7.2): 81 installed applications
 *     (the number of profiles), 82 free NVM 1 000 000 bytes, 83 free RAM
 *     8192 bytes;
 *   uiccCapability: usim, isim, akaMilenage, akaTuak128, akaTuak256,
 *     usimTestAlgorithm (bits 1 2 4 6 7 8);
 *   ts102241Version 9.2.0, globalplatformVersion 2.3.0;
 *   rspCapability: additionalProfile, crlSupport, testProfileSupport;
 *   PKID lists as in EUICCInfo1; euiccCategory mediumEuicc(2);
 *   ppVersion 1.0.0 (SGP.25), sasAcreditationNumber "RSP-SIM-TEST-0000"
 *   (a placeholder: a simulator has no SAS accreditation).
 */
static int info2_build(const struct euicc *e, struct rsp_buf *out)
{
    static const uint8_t pv[3] = {2, 3, 1}, fw[3] = {1, 0, 0};
    static const uint8_t t241[3] = {9, 2, 0}, gp[3] = {2, 3, 0}, pp[3] = {1, 0, 0};
    /* BIT STRINGs: first octet = unused bits (X.690 §8.6.2). */
    static const uint8_t uicc_cap[] = {0x07, 0x6B, 0x80};   /* 1 2 4 6 7 | 8 */
    static const uint8_t rsp_cap[] = {0x04, 0xD0};          /* 0 1 3 */
    static const uint8_t cat[] = {0x02};
    static const char sas[] = "RSP-SIM-TEST-0000";
    uint8_t ecr[] = {0x81, 0x01, 0x00, 0x82, 0x04, 0x00, 0x0F, 0x42, 0x40,
                     0x83, 0x02, 0x20, 0x00};
    struct rsp_buf v;
    int rc;

    ecr[2] = (uint8_t)e->st.n_profiles;
    rsp_buf_init(&v, 4096);
    if ((rc = rsp_tlv_put(&v, 0x81, pv, 3)) || (rc = rsp_tlv_put(&v, 0x82, SVN, 3)) ||
        (rc = rsp_tlv_put(&v, 0x83, fw, 3)) || (rc = rsp_tlv_put(&v, 0x84, ecr, sizeof(ecr))) ||
        (rc = rsp_tlv_put(&v, 0x85, uicc_cap, sizeof(uicc_cap))) ||
        (rc = rsp_tlv_put(&v, 0x86, t241, 3)) || (rc = rsp_tlv_put(&v, 0x87, gp, 3)) ||
        (rc = rsp_tlv_put(&v, 0x88, rsp_cap, sizeof(rsp_cap))) ||
        (rc = put_pkids(e, &v, 0xA9, 0)) || (rc = put_pkids(e, &v, 0xAA, 1)) ||
        (rc = rsp_tlv_put(&v, 0x8B, cat, 1)) || (rc = rsp_tlv_put(&v, 0x04, pp, 3)) ||
        (rc = rsp_tlv_put(&v, 0x0C, sas, sizeof(sas) - 1)))
        goto out;
    rc = rsp_tlv_put(out, 0xBF22, v.data, v.len);
out:
    rsp_buf_free(&v);
    return rc;
}

int euicc_es10b_get_info1(struct euicc *e, const uint8_t *cmd, size_t len,
                          struct rsp_buf *resp)
{
    struct rsp_buf v;
    int rc = empty_request(cmd, len, 0xBF20);
    if (rc)
        return rc;
    rsp_buf_init(&v, 2048);
    if ((rc = rsp_tlv_put(&v, 0x82, SVN, 3)) == 0 && (rc = put_pkids(e, &v, 0xA9, 0)) == 0 &&
        (rc = put_pkids(e, &v, 0xAA, 1)) == 0)
        rc = rsp_tlv_put(resp, 0xBF20, v.data, v.len);
    rsp_buf_free(&v);
    return rc ? 0x6F00 : 0;
}

int euicc_es10b_get_info2(struct euicc *e, const uint8_t *cmd, size_t len,
                          struct rsp_buf *resp)
{
    int rc = empty_request(cmd, len, 0xBF22);
    if (rc)
        return rc;
    return info2_build(e, resp) ? 0x6F00 : 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* The index of the credential whose CI has this PKID, or -1. */
static int cred_for_ci(const struct euicc *e, const uint8_t *pkid, size_t n)
{
    for (size_t i = 0; i < e->st.n_creds; i++)
        if (e->st.creds[i].ci_pkid_len == n && !memcmp(e->st.creds[i].ci_pkid, pkid, n))
            return (int)i;
    return -1;
}

/* The i-th direct child TLV of a constructed value. */
static int child(const uint8_t *v, size_t n, int idx, struct rsp_tlv *t)
{
    size_t pos = 0;
    for (int i = 0; i <= idx; i++)
        if (rsp_tlv_next(v, n, &pos, t) != 1)
            return RSP_ERR_DECODE;
    return 0;
}

/* Sign msg with credential i into sig. */
static int cred_sign(struct euicc *e, int i, const uint8_t *msg, size_t n,
                     uint8_t sig[RSP_ECDSA_SIG_LEN])
{
    EVP_PKEY *k = NULL;
    int rc = euicc_cred_key(e, (size_t)i, &k);
    if (rc == 0)
        rc = rsp_ecdsa_sign(k, msg, n, sig);
    EVP_PKEY_free(k);
    return rc;
}

/* "outer L { [err_tag] L { 80 tid, 02 code } }" - the error alternative of
 * the AuthenticateServer / PrepareDownload responses. */
static int error_response(struct rsp_buf *resp, uint32_t outer, const uint8_t *tid,
                          size_t tid_len, int code)
{
    struct rsp_buf v, w;
    uint8_t c = (uint8_t)code;
    int rc;

    rsp_buf_init(&v, 64);
    rsp_buf_init(&w, 64);
    if ((rc = rsp_tlv_put(&v, 0x80, tid, tid_len)) == 0 &&
        (rc = rsp_tlv_put(&v, 0x02, &c, 1)) == 0 &&
        (rc = rsp_tlv_put(&w, 0xA1, v.data, v.len)) == 0)
        rc = rsp_tlv_put(resp, outer, w.data, w.len);
    rsp_buf_free(&v);
    rsp_buf_free(&w);
    return rc ? 0x6F00 : 0;
}

static int x509_err_to_code(int rc)
{
    return rc == RSP_ERR_UNSUPPORTED ? AUTH_UNSUPPORTED_CURVE : AUTH_INVALID_CERT;
}

/* ---- AuthenticateServer (§5.7.13) --------------------------------------- */

int euicc_es10b_authenticate_server(struct euicc *e, const uint8_t *cmd, size_t len,
                                    struct rsp_buf *resp)
{
    AuthenticateServerRequest_t *req = NULL;
    struct rsp_x509_chain_info info;
    struct rsp_tlv outer, ss1, sig, pkid, cert, ctx;
    struct rsp_buf es1, v, body;
    EVP_PKEY *dpauth = NULL;
    X509 *cx = NULL;
    uint8_t esig[RSP_ECDSA_SIG_LEN];
    int code = 0, rc, sw = 0, credi = -1;
    const ServerSigned1_t *s1;

    rsp_buf_init(&es1, 8192);
    rsp_buf_init(&v, 16384);
    rsp_buf_init(&body, 16384);
    if (rsp_asn1_decode(&asn_DEF_AuthenticateServerRequest, cmd, len, EUICC_ES10_MAX,
                        (void **)&req) ||
        rsp_tlv_parse(cmd, len, &outer) ||
        child(outer.val, outer.val_len, 0, &ss1) || ss1.tag != 0x30 ||
        child(outer.val, outer.val_len, 1, &sig) || sig.tag != 0x5F37 ||
        child(outer.val, outer.val_len, 2, &pkid) || pkid.tag != 0x04 ||
        child(outer.val, outer.val_len, 3, &cert) || cert.tag != 0x30 ||
        child(outer.val, outer.val_len, 4, &ctx)) {
        sw = SW_WRONG_DATA;
        goto out;
    }
    s1 = &req->serverSigned1;

    if (e->sess.phase != EUICC_SESS_CHALLENGE) {
        code = AUTH_NO_SESSION;
        goto fail;
    }
    /* The CI to use must be one we can sign with (euiccCiPKIdListForSigning). */
    credi = cred_for_ci(e, pkid.val, pkid.val_len);
    if (credi < 0) {
        code = AUTH_CI_PK_UNKNOWN;
        goto fail;
    }
    /* CERT.DPauth (or CERT.DSauth for an SM-DS) chaining to that CI. The
     * eUICC has no reliable clock: no validity check (SGP.22 §4.5.2.2).
     * Parsed once (rsp_x509_verify_leaf_der: the fast path without
     * OpenSSL's key decoder when it can): key and SM-DP+ OID come from cx. */
    rc = rsp_x509_verify_leaf_der(e->cache.ci_store, RSP_X509_ROLE_DP_AUTH, cert.tlv,
                                  cert.tlv_len, RSP_X509_NO_TIME, &info, &cx);
    if (rc == RSP_ERR_CERT)
        rc = rsp_x509_verify_leaf_der(e->cache.ci_store, RSP_X509_ROLE_DS_AUTH, cert.tlv,
                                      cert.tlv_len, RSP_X509_NO_TIME, &info, &cx);
    if (rc) {
        code = x509_err_to_code(rc);   /* malformed (RSP_ERR_DECODE...): invalid */
        goto fail;
    }
    if (info.ci_pkid_len != pkid.val_len || memcmp(info.ci_pkid, pkid.val, pkid.val_len)) {
        code = AUTH_INVALID_CERT;   /* chains to another of our CIs */
        goto fail;
    }
    if (rsp_x509_get_pubkey(cx, &dpauth)) {
        code = AUTH_INVALID_CERT;
        goto fail;
    }
    if (rsp_ecdsa_verify(dpauth, ss1.tlv, ss1.tlv_len, sig.val, sig.val_len)) {
        code = AUTH_INVALID_SIG;
        goto fail;
    }
    if (s1->euiccChallenge.size != 16 ||
        CRYPTO_memcmp(s1->euiccChallenge.buf, e->sess.euicc_challenge, 16)) {
        code = AUTH_CHALLENGE_MISMATCH;
        goto fail;
    }
    /* SGP.22 v2.5 has no eUICC-side serverAddress rule (the LPA compares
     * it with the activation code / default address); it is echoed in
     * euiccSigned1 and kept for the notifications, so it must be text the
     * state file can hold. */
    if (!euicc_text_ok(s1->serverAddress.buf, s1->serverAddress.size, EUICC_ADDR_MAX, 0)) {
        code = AUTH_UNDEFINED;
        goto fail;
    }

    /* euiccSigned1 = 30 { 80 tid, 83 addr, 84 serverChallenge, BF22 info2,
     * ctxParams1 as received }. */
    {
        struct rsp_tlv tid, addr, sch;
        if (rsp_tlv_find(ss1.val, ss1.val_len, 0x80, &tid) ||
            rsp_tlv_find(ss1.val, ss1.val_len, 0x83, &addr) ||
            rsp_tlv_find(ss1.val, ss1.val_len, 0x84, &sch)) {
            code = AUTH_UNDEFINED;
            goto fail;
        }
        if ((rc = rsp_buf_append(&v, tid.tlv, tid.tlv_len)) ||
            (rc = rsp_buf_append(&v, addr.tlv, addr.tlv_len)) ||
            (rc = rsp_buf_append(&v, sch.tlv, sch.tlv_len)) ||
            (rc = info2_build(e, &v)) ||
            (rc = rsp_buf_append(&v, ctx.tlv, ctx.tlv_len)) ||
            (rc = rsp_tlv_put(&es1, 0x30, v.data, v.len)) ||
            (rc = cred_sign(e, credi, es1.data, es1.len, esig))) {
            sw = 0x6F00;
            goto out;
        }
    }
    rsp_buf_reset(&v);
    {
        const struct euicc_cred *c = &e->st.creds[credi];
        if ((rc = rsp_buf_append(&v, es1.data, es1.len)) ||
            (rc = rsp_tlv_put(&v, 0x5F37, esig, sizeof(esig))) ||
            (rc = rsp_buf_append(&v, c->euicc_cert, c->euicc_cert_len)) ||
            (rc = rsp_buf_append(&v, c->eum_cert, c->eum_cert_len)) ||
            (rc = rsp_tlv_put(&body, 0xA0, v.data, v.len)) ||
            (rc = rsp_tlv_put(resp, 0xBF38, body.data, body.len))) {
            sw = 0x6F00;
            goto out;
        }
    }
    /* Session: authenticated with this credential. */
    e->sess.phase = EUICC_SESS_AUTHENTICATED;
    e->sess.cred = credi;
    memcpy(e->sess.transaction_id, s1->transactionId.buf, (size_t)s1->transactionId.size);
    e->sess.transaction_id_len = (size_t)s1->transactionId.size;
    memcpy(e->sess.server_address, s1->serverAddress.buf, (size_t)s1->serverAddress.size);
    e->sess.server_address[s1->serverAddress.size] = 0;
    memcpy(e->sess.euicc_sig1, esig, sizeof(esig));
    e->sess.smdp_oid_len = rsp_x509_get_smdp_oid(cx, e->sess.smdp_oid);
    e->sess.matching_id_len = 0;
    if (req->ctxParams1.present == CtxParams1_PR_ctxParamsForCommonAuthentication &&
        req->ctxParams1.choice.ctxParamsForCommonAuthentication->matchingId) {
        const UTF8String_t *m = req->ctxParams1.choice.ctxParamsForCommonAuthentication->matchingId;
        if (m->size > 0 && (size_t)m->size <= sizeof(e->sess.matching_id)) {
            memcpy(e->sess.matching_id, m->buf, (size_t)m->size);
            e->sess.matching_id_len = (size_t)m->size;
        }
    }
    goto out;

fail:
    /* Any failure ends the session (the challenge is single-use). */
    euicc_session_clear(&e->sess);
    sw = error_response(resp, 0xBF38, s1->transactionId.buf, (size_t)s1->transactionId.size,
                        code);
out:
    OPENSSL_cleanse(esig, sizeof(esig));
    rsp_asn1_free(&asn_DEF_AuthenticateServerRequest, req);
    EVP_PKEY_free(dpauth);
    X509_free(cx);
    rsp_buf_free(&es1);
    rsp_buf_free(&v);
    rsp_buf_free(&body);
    return sw;
}

/* ---- PrepareDownload (§5.7.14) ------------------------------------------ */

/*
 * otSK/otPK.EUICC.ECKA for this download (SGP.22 v2.5 §3.1.3 download retry,
 * §5.7.14). When smdpSigned2 carries bppEuiccOtpk equal to the otPK this card
 * retained (state.otk: the SM-DP+ already bound a BPP to it, and the
 * session that should have installed it was lost), that pair is reused.
 * Otherwise - bppEuiccOtpk absent, or matching nothing: another card's key,
 * a pair since replaced, or dropped after its profile was installed - a
 * fresh pair is generated on the curve of CERT.DPpb (*fresh = 1); it is
 * not an error: the SM-DP+ sees a new otPK and rebinds the profile or
 * refuses (ES9+ 8.2/3.7), which is its decision, not the card's. osmocom
 * pySim's SM-DP+ and lpac treat bppEuiccOtpk as opaque; nothing in the
 * peers reads a mismatch as an eUICC error.
 * A retained pair whose scalar does not give its point (a corrupted state
 * file) is never used.
 */
static int otk_select(const struct euicc *e, int curve, const OCTET_STRING_t *bpp_otpk,
                      EVP_PKEY **ot, uint8_t otpk[RSP_EC_POINT_LEN], int *fresh)
{
    const struct euicc_otk *k = &e->st.otk;
    int rc;

    *fresh = 0;
    if (bpp_otpk && k->present && k->curve == curve &&
        (size_t)bpp_otpk->size == sizeof(k->pk) &&
        CRYPTO_memcmp(bpp_otpk->buf, k->pk, sizeof(k->pk)) == 0) {
        if (rsp_ec_key_from_scalar(curve, k->sk, ot) == 0 &&
            rsp_ec_pubkey_to_point(*ot, otpk) == 0 &&
            CRYPTO_memcmp(otpk, k->pk, sizeof(k->pk)) == 0)
            return 0;
        EVP_PKEY_free(*ot);
        *ot = NULL;
    }
    *fresh = 1;
    if ((rc = rsp_ec_key_generate(curve, ot)) == 0)
        rc = rsp_ec_pubkey_to_point(*ot, otpk);
    return rc;
}

/* Retain a freshly generated pair in the state (it replaces the one
 * before) and commit it: it must be durable before its otPK leaves the
 * card, or a tear after the response would lose a key an SM-DP+ may have
 * bound a BPP to. The commit is one in-place write of the .otk sidecar,
 * not of the whole state (euicc_commit_otk). Errors: RSP_ERR_IO (old pair
 * kept). */
static int otk_retain(struct euicc *e, int curve, EVP_PKEY *ot,
                      const uint8_t otpk[RSP_EC_POINT_LEN])
{
    struct euicc_otk k;
    int rc;

    memset(&k, 0, sizeof(k));
    rc = rsp_ec_key_to_scalar(ot, k.sk);
    if (rc == 0) {
        memcpy(k.pk, otpk, sizeof(k.pk));
        k.curve = curve;
        rc = euicc_commit_otk(e, &k);
    }
    OPENSSL_cleanse(&k, sizeof(k));
    return rc;
}

int euicc_es10b_prepare_download(struct euicc *e, const uint8_t *cmd, size_t len,
                                 struct rsp_buf *resp)
{
    PrepareDownloadRequest_t *req = NULL;
    struct rsp_x509_chain_info info;
    struct rsp_tlv outer, ss2, sig, cert;
    struct rsp_buf msg, es2, v, body;
    EVP_PKEY *dppb = NULL, *ot = NULL;
    X509 *cx = NULL;
    uint8_t esig[RSP_ECDSA_SIG_LEN], otpk[RSP_EC_POINT_LEN];
    int code = 0, rc, sw = 0, curve, fresh = 0;
    const SmdpSigned2_t *s2;

    rsp_buf_init(&msg, 4096);
    rsp_buf_init(&es2, 1024);
    rsp_buf_init(&v, 1024);
    rsp_buf_init(&body, 1024);
    if (rsp_asn1_decode(&asn_DEF_PrepareDownloadRequest, cmd, len, EUICC_ES10_MAX,
                        (void **)&req) ||
        rsp_tlv_parse(cmd, len, &outer) ||
        child(outer.val, outer.val_len, 0, &ss2) || ss2.tag != 0x30 ||
        child(outer.val, outer.val_len, 1, &sig) || sig.tag != 0x5F37 ||
        rsp_tlv_find(outer.val, outer.val_len, 0x5F37, &sig)) {
        sw = SW_WRONG_DATA;
        goto out;
    }
    /* The certificate is the last child (hashCc, an OCTET STRING, may sit
     * between the signature and it). */
    {
        size_t pos = 0;
        struct rsp_tlv t;
        memset(&cert, 0, sizeof(cert));
        while (rsp_tlv_next(outer.val, outer.val_len, &pos, &t) == 1)
            cert = t;
        if (cert.tag != 0x30) {
            sw = SW_WRONG_DATA;
            goto out;
        }
    }
    s2 = &req->smdpSigned2;

    if (e->sess.phase != EUICC_SESS_AUTHENTICATED) {
        code = DL_NO_SESSION;
        goto fail;
    }
    rc = rsp_x509_verify_leaf_der(e->cache.ci_store, RSP_X509_ROLE_DP_PB, cert.tlv,
                                  cert.tlv_len, RSP_X509_NO_TIME, &info, &cx);
    if (rc) {
        code = rc == RSP_ERR_UNSUPPORTED ? DL_UNSUPPORTED_CURVE : DL_INVALID_CERT;
        goto fail;
    }
    /* CERT.DPpb must come from the CI of the session (the one CERT.DPauth
     * and our eUICC certificate chain to). */
    {
        const struct euicc_cred *c = &e->st.creds[e->sess.cred];
        if (info.ci_pkid_len != c->ci_pkid_len ||
            memcmp(info.ci_pkid, c->ci_pkid, c->ci_pkid_len)) {
            code = DL_INVALID_CERT;
            goto fail;
        }
    }
    if (rsp_x509_get_pubkey(cx, &dppb)) {
        code = DL_INVALID_CERT;
        goto fail;
    }
    /* smdpSignature2 covers smdpSigned2 || the TLV 5F37 40 euiccSignature1
     * (SGP.22 §5.6.2 / §5.7.14; as osmocom pySim's SM-DP+ signs). */
    if ((rc = rsp_buf_append(&msg, ss2.tlv, ss2.tlv_len)) ||
        (rc = rsp_tlv_put(&msg, 0x5F37, e->sess.euicc_sig1, sizeof(e->sess.euicc_sig1)))) {
        sw = 0x6F00;
        goto out;
    }
    if (rsp_ecdsa_verify(dppb, msg.data, msg.len, sig.val, sig.val_len)) {
        code = DL_INVALID_SIG;
        goto fail;
    }
    if ((size_t)s2->transactionId.size != e->sess.transaction_id_len ||
        memcmp(s2->transactionId.buf, e->sess.transaction_id, e->sess.transaction_id_len)) {
        code = DL_INVALID_TID;
        goto fail;
    }
    /* hashCc present iff ccRequiredFlag; the eUICC only checks presence
     * (the SM-DP+ verifies SHA256(SHA256(CC) || transactionId)). */
    if ((s2->ccRequiredFlag != 0) != (req->hashCc != NULL)) {
        code = DL_UNDEFINED;
        goto fail;
    }
    /* otSK/otPK.EUICC.ECKA on the curve of CERT.DPpb: the retained pair
     * when bppEuiccOtpk names it, else a fresh one. */
    if (rsp_ec_key_curve(dppb, &curve) ||
        otk_select(e, curve, s2->bppEuiccOtpk, &ot, otpk, &fresh)) {
        code = DL_UNSUPPORTED_CURVE;
        goto fail;
    }
    if ((rc = rsp_tlv_put(&v, 0x80, s2->transactionId.buf, (size_t)s2->transactionId.size)) ||
        (rc = rsp_tlv_put(&v, 0x5F49, otpk, sizeof(otpk))) ||
        (req->hashCc &&
         (rc = rsp_tlv_put(&v, 0x04, req->hashCc->buf, (size_t)req->hashCc->size))) ||
        (rc = rsp_tlv_put(&es2, 0x30, v.data, v.len))) {
        sw = 0x6F00;
        goto out;
    }
    /* euiccSignature2 covers euiccSigned2 || the TLV 5F37 40 smdpSignature2. */
    rsp_buf_reset(&msg);
    if ((rc = rsp_buf_append(&msg, es2.data, es2.len)) ||
        (rc = rsp_buf_append(&msg, sig.tlv, sig.tlv_len)) ||
        (rc = cred_sign(e, e->sess.cred, msg.data, msg.len, esig))) {
        sw = 0x6F00;
        goto out;
    }
    rsp_buf_reset(&v);
    if ((rc = rsp_buf_append(&v, es2.data, es2.len)) ||
        (rc = rsp_tlv_put(&v, 0x5F37, esig, sizeof(esig))) ||
        (rc = rsp_tlv_put(&body, 0xA0, v.data, v.len))) {
        sw = 0x6F00;
        goto out;
    }
    if (fresh && (rc = otk_retain(e, curve, ot, otpk)) != 0) {
        euicc_session_clear(&e->sess);
        sw = rc < 0 ? rc : 0x6F00;
        goto out;
    }
    if ((rc = rsp_tlv_put(resp, 0xBF21, body.data, body.len))) {
        sw = 0x6F00;
        goto out;
    }
    EVP_PKEY_free(e->sess.dp_pb);
    e->sess.dp_pb = dppb;
    dppb = NULL;
    EVP_PKEY_free(e->sess.ot_sk);
    e->sess.ot_sk = ot;
    ot = NULL;
    memcpy(e->sess.ot_pk, otpk, sizeof(otpk));
    e->sess.ccRequired = s2->ccRequiredFlag != 0;
    {
        uint8_t oid[RSP_X509_OID_MAX];
        size_t n = rsp_x509_get_smdp_oid(cx, oid);
        if (n) {
            memcpy(e->sess.smdp_oid, oid, n);
            e->sess.smdp_oid_len = n;
        }
    }
    e->sess.phase = EUICC_SESS_PREPARED;
    e->sess.bpp_step = 0;
    goto out;

fail:
    euicc_session_clear(&e->sess);
    sw = error_response(resp, 0xBF21, s2->transactionId.buf, (size_t)s2->transactionId.size,
                        code);
out:
    OPENSSL_cleanse(esig, sizeof(esig));
    rsp_asn1_free(&asn_DEF_PrepareDownloadRequest, req);
    EVP_PKEY_free(dppb);
    EVP_PKEY_free(ot);
    X509_free(cx);
    rsp_buf_free(&msg);
    rsp_buf_free(&es2);
    rsp_buf_free(&v);
    rsp_buf_free(&body);
    return sw;
}

/* ---- CancelSession (§5.7.14a / §3.1.3 / §5.7.x) -------------------------- */

int euicc_es10b_cancel_session(struct euicc *e, const uint8_t *cmd, size_t len,
                               struct rsp_buf *resp)
{
    CancelSessionRequest_t *req = NULL;
    struct rsp_buf v, ecs, body;
    uint8_t esig[RSP_ECDSA_SIG_LEN], r;
    int rc, sw = 0;

    rsp_buf_init(&v, 256);
    rsp_buf_init(&ecs, 256);
    rsp_buf_init(&body, 512);
    if (rsp_asn1_decode(&asn_DEF_CancelSessionRequest, cmd, len, EUICC_ES10_MAX,
                        (void **)&req) || req->reason < 0 || req->reason > 127) {
        sw = SW_WRONG_DATA;
        goto out;
    }
    /* A session exists once AuthenticateServer succeeded; the transactionId
     * must be its own. Otherwise cancelSessionResponseError
     * invalidTransactionId(5). */
    if (e->sess.phase < EUICC_SESS_AUTHENTICATED ||
        (size_t)req->transactionId.size != e->sess.transaction_id_len ||
        memcmp(req->transactionId.buf, e->sess.transaction_id, e->sess.transaction_id_len)) {
        static const uint8_t err[] = {0x81, 0x01, 0x05};
        sw = rsp_tlv_put(resp, 0xBF41, err, sizeof(err)) ? 0x6F00 : 0;
        goto out;
    }
    /* EuiccCancelSessionSigned (automatic tags): 80 tid, 81 smdpOid, 82 reason. */
    r = (uint8_t)req->reason;
    if ((rc = rsp_tlv_put(&v, 0x80, e->sess.transaction_id, e->sess.transaction_id_len)) ||
        (rc = rsp_tlv_put(&v, 0x81, e->sess.smdp_oid, e->sess.smdp_oid_len)) ||
        (rc = rsp_tlv_put(&v, 0x82, &r, 1)) || (rc = rsp_tlv_put(&ecs, 0x30, v.data, v.len)) ||
        (rc = cred_sign(e, e->sess.cred, ecs.data, ecs.len, esig))) {
        sw = 0x6F00;
        goto out;
    }
    rsp_buf_reset(&v);
    if ((rc = rsp_buf_append(&v, ecs.data, ecs.len)) ||
        (rc = rsp_tlv_put(&v, 0x5F37, esig, sizeof(esig))) ||
        (rc = rsp_tlv_put(&body, 0xA0, v.data, v.len)) ||
        (rc = rsp_tlv_put(resp, 0xBF41, body.data, body.len))) {
        sw = 0x6F00;
        goto out;
    }
    /* The session ends; a pending ISD-P (never in state.profiles before the
     * end of the installation) goes with it. */
    euicc_session_clear(&e->sess);
out:
    OPENSSL_cleanse(esig, sizeof(esig));
    rsp_asn1_free(&asn_DEF_CancelSessionRequest, req);
    rsp_buf_free(&v);
    rsp_buf_free(&ecs);
    rsp_buf_free(&body);
    return sw;
}

/* ---- GetRAT (§5.7.22) --------------------------------------------------- */

/*
 * The RAT of this card: one ProfilePolicyAuthorisationRule allowing PPR1 and
 * PPR2 for any operator (mccMnc EEEEEE, 'E' being the wildcard digit of
 * SGP.22 §2.9.2.2), without end-user consent:
 *   BF43 { A0 { 30 { 80 02 05 60            pprIds ppr1 ppr2
 *                    A1 { 30 { 80 03 EEEEEE } }  allowedOperators
 *                    82 01 00 } } }          pprFlags {}
 * euicc_es8.c applies the same rule when installing a profile.
 */
int euicc_es10b_get_rat(struct euicc *e, const uint8_t *cmd, size_t len,
                        struct rsp_buf *resp)
{
    static const uint8_t rat[] = {
        0xA0, 0x12, 0x30, 0x10, 0x80, 0x02, 0x05, 0x60, 0xA1, 0x07, 0x30, 0x05,
        0x80, 0x03, 0xEE, 0xEE, 0xEE, 0x82, 0x01, 0x00,
    };
    (void)e;
    int rc = empty_request(cmd, len, 0xBF43);
    if (rc)
        return rc;
    return rsp_tlv_put(resp, 0xBF43, rat, sizeof(rat)) ? 0x6F00 : 0;
}

/* ---- LoadCRL (§5.7.11) -------------------------------------------------- */

/*
 * Minimal: the CRL must decode strictly as a LoadCRLRequest
 * (CertificateList); it is then accepted and ignored - this card keeps no
 * CRL, since SGP.22 v2.5 makes CRL handling optional for the eUICC
 * (rspCapability crlSupport is advertised only so LPAs exercise the path).
 * Answer: loadCRLResponseOk without missingParts (BF35 02 A0 00), or
 * loadCRLResponseError invalidCRLFormat(2) (BF35 03 81 01 02).
 */
int euicc_es10b_load_crl(struct euicc *e, const uint8_t *cmd, size_t len,
                         struct rsp_buf *resp)
{
    static const uint8_t ok[] = {0xA0, 0x00}, bad[] = {0x81, 0x01, 0x02};
    LoadCRLRequest_t *req = NULL;
    (void)e;
    int rc = rsp_asn1_decode(&asn_DEF_LoadCRLRequest, cmd, len, EUICC_ES10_MAX, (void **)&req);
    rsp_asn1_free(&asn_DEF_LoadCRLRequest, req);
    if (rc == 0)
        rc = rsp_tlv_put(resp, 0xBF35, ok, sizeof(ok));
    else
        rc = rsp_tlv_put(resp, 0xBF35, bad, sizeof(bad));
    return rc ? 0x6F00 : 0;
}
