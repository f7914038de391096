/* euicc_dp.c - see euicc_dp.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <AuthenticateResponseError.h>
#include <AuthenticateServerResponse.h>
#include <ErrorResult.h>
#include <PrepareDownloadResponse.h>
#include <PrepareDownloadResponseError.h>
#include <ProfileInstallationResult.h>

#include "euicc_dp.h"
#include "rsp_asn1.h"
#include "rsp_bpp.h"
#include "rsp_err.h"
#include "rsp_saip.h"
#include "rsp_test.h"
#include "rsp_util.h"
#include "rsp_x509.h"

static int put(struct rsp_buf *b, uint32_t tag, const void *v, size_t n)
{
    int rc = rsp_tlv_put_header(b, tag, n);
    if (rc == 0 && n)
        rc = rsp_buf_append(b, v, n);
    return rc;
}



int euicc_dp_load(struct euicc_dp *d, const char *pki, const char *curve, int foreign)
{
    char c[700], k[700];
    int rc;
    memset(d, 0, sizeof(*d));
    d->pki = pki;
    if (foreign) {
        snprintf(c, sizeof(c), "%s/Negative/CERT_S_SM_DPauth_ECDSA_%s_FOREIGN_CI.der", pki, curve);
        snprintf(k, sizeof(k), "%s/Negative/SK_S_SM_DPauth_ECDSA_%s_FOREIGN_CI.pem", pki, curve);
    } else {
        snprintf(c, sizeof(c), "%s/DPauth/CERT_S_SM_DPauth_ECDSA_%s.der", pki, curve);
        snprintf(k, sizeof(k), "%s/DPauth/SK_S_SM_DPauth_ECDSA_%s.pem", pki, curve);
    }
    if ((rc = rsp_pki_load_cred(c, k, &d->auth)))
        return rc;
    snprintf(c, sizeof(c), "%s/DPpb/CERT_S_SM_DPpb_ECDSA_%s.der", pki, curve);
    snprintf(k, sizeof(k), "%s/DPpb/SK_S_SM_DPpb_ECDSA_%s.pem", pki, curve);
    return rsp_pki_load_cred(c, k, &d->pb);
}

void euicc_dp_free(struct euicc_dp *d)
{
    rsp_pki_cred_free(&d->auth);
    rsp_pki_cred_free(&d->pb);
    X509_free(d->euicc_cert);
    d->euicc_cert = NULL;
}

/* Send cmd; [out] resp (caller frees). */
uint8_t *euicc_dp_es10(struct euicc_fixture *f, struct euicc_dp *d, const uint8_t *cmd, size_t len,
                     size_t *rlen)
{
    uint8_t *r = NULL;
    *rlen = 0;
    d->sw = 0;
    if (euicc_fixture_es10(f, cmd, len, &r, rlen, &d->sw))
        return NULL;
    return r;
}

/* GetEUICCChallenge + AuthenticateServer. Returns the AuthenticateServer
 * response (malloc'd) or NULL. */
uint8_t *euicc_dp_authenticate(struct euicc_fixture *f, struct euicc_dp *d, enum euicc_dp_fault fault,
                             size_t *rlen)
{
    static const uint8_t chal_cmd[] = {0xBF, 0x2E, 0x00};
    static const char addr[] = RSP_PKI_DEFAULT_HOST;
    /* ctxParams1: matchingId "MATCH-1", deviceInfo { tac, deviceCapabilities {} } */
    static const uint8_t ctx[] = {0xA0, 0x13, 0x80, 0x07, 'M', 'A', 'T', 'C', 'H', '-', '1',
                                  0xA1, 0x08, 0x80, 0x04, 0x35, 0x29, 0x06, 0x11, 0xA1, 0x00};
    uint8_t chal[16], schal[16], sig[RSP_ECDSA_SIG_LEN], pkid[64];
    struct rsp_buf v, ss1, req;
    struct rsp_tlv t, c;
    uint8_t *r, *out = NULL;
    size_t n;
    int pl;

    r = euicc_dp_es10(f, d, chal_cmd, sizeof(chal_cmd), &n);
    if (!r || rsp_tlv_parse(r, n, &t) || t.tag != 0xBF2E || rsp_tlv_find(t.val, t.val_len, 0x80, &c) ||
        c.val_len != 16) {
        free(r);
        return NULL;
    }
    memcpy(chal, c.val, 16);
    free(r);
    if (fault == DP_F_CHALLENGE)
        chal[0] ^= 1;
    for (int i = 0; i < 16; i++) {
        d->tid[i] = (uint8_t)(0xA0 + i);
        schal[i] = (uint8_t)(0x30 + i);
    }
    rsp_buf_init(&v, 4096);
    rsp_buf_init(&ss1, 4096);
    rsp_buf_init(&req, 8192);
    put(&v, 0x80, d->tid, 16);
    put(&v, 0x81, chal, 16);
    put(&v, 0x83, addr, strlen(addr));
    put(&v, 0x84, schal, 16);
    put(&ss1, 0x30, v.data, v.len);
    if (rsp_ecdsa_sign(d->auth.key, ss1.data, ss1.len, sig))
        goto out;
    if (fault == DP_F_SERVER_SIG)
        sig[10] ^= 0x01;
    pl = rsp_x509_get_aki(d->auth.cert, pkid, sizeof(pkid));
    if (pl <= 0)
        goto out;
    if (fault == DP_F_FOREIGN_CI) {
        /* Ask for the card's real CI: that of the DPpb of the same PKI. */
        pl = rsp_x509_get_aki(d->pb.cert, pkid, sizeof(pkid));
    }
    rsp_buf_reset(&v);
    rsp_buf_append(&v, ss1.data, ss1.len);
    put(&v, 0x5F37, sig, sizeof(sig));
    put(&v, 0x04, pkid, (size_t)pl);
    rsp_x509_to_der(d->auth.cert, &v);
    rsp_buf_append(&v, ctx, sizeof(ctx));
    put(&req, 0xBF38, v.data, v.len);
    out = euicc_dp_es10(f, d, req.data, req.len, rlen);
out:
    rsp_buf_free(&v);
    rsp_buf_free(&ss1);
    rsp_buf_free(&req);
    return out;
}

/* Check an AuthenticateServer response: OK with a valid euiccSignature1.
 * Keeps sig1 and the eUICC certificate. Returns 0 or the error code (>0). */
int euicc_dp_check_auth(struct euicc_dp *d, const uint8_t *r, size_t n)
{
    AuthenticateServerResponse_t *resp = NULL;
    struct rsp_tlv t, a, es1, sig, cert;
    EVP_PKEY *k = NULL;
    int res = -1;

    if (rsp_asn1_decode(&asn_DEF_AuthenticateServerResponse, r, n, 65536, (void **)&resp))
        return -1;
    if (resp->present == AuthenticateServerResponse_PR_authenticateResponseError) {
        res = (int)resp->choice.authenticateResponseError->authenticateErrorCode;
        goto out;
    }
    size_t pos = 0;
    if (rsp_tlv_parse(r, n, &t) || rsp_tlv_parse(t.val, t.val_len, &a) || a.tag != 0xA0 ||
        rsp_tlv_next(a.val, a.val_len, &pos, &es1) != 1 ||
        rsp_tlv_next(a.val, a.val_len, &pos, &sig) != 1 ||
        rsp_tlv_next(a.val, a.val_len, &pos, &cert) != 1)
        goto out;
    X509_free(d->euicc_cert);
    d->euicc_cert = NULL;
    if (rsp_x509_from_der(cert.tlv, cert.tlv_len, &d->euicc_cert) ||
        rsp_x509_get_pubkey(d->euicc_cert, &k) || rsp_x509_get_eid(d->euicc_cert, d->eid))
        goto out;
    if (rsp_ecdsa_verify(k, es1.tlv, es1.tlv_len, sig.val, sig.val_len))
        goto out;
    memcpy(d->sig1, sig.val, sizeof(d->sig1));
    res = 0;
out:
    EVP_PKEY_free(k);
    rsp_asn1_free(&asn_DEF_AuthenticateServerResponse, resp);
    return res;
}

/* PrepareDownload; returns 0 (otpk kept), the DownloadErrorCode, or -1. */
int euicc_dp_prepare(struct euicc_fixture *f, struct euicc_dp *d, enum euicc_dp_fault fault)
{
    PrepareDownloadResponse_t *resp = NULL;
    struct rsp_buf v, ss2, req, msg;
    uint8_t sig[RSP_ECDSA_SIG_LEN];
    static const uint8_t no_cc[] = {0x01, 0x01, 0x00};
    struct rsp_tlv t, a, es2, esig, otpk;
    EVP_PKEY *k = NULL;
    uint8_t *r = NULL;
    size_t n, pos = 0;
    int res = -1;

    rsp_buf_init(&v, 4096);
    rsp_buf_init(&ss2, 256);
    rsp_buf_init(&req, 4096);
    rsp_buf_init(&msg, 512);
    uint8_t tid[16];
    memcpy(tid, d->tid, 16);
    if (fault == DP_F_TID_PD)
        tid[15] ^= 0xFF;
    put(&v, 0x80, tid, 16);
    rsp_buf_append(&v, no_cc, sizeof(no_cc));
    if (d->bpp_otpk_len)
        put(&v, 0x5F49, d->bpp_otpk, d->bpp_otpk_len);
    put(&ss2, 0x30, v.data, v.len);
    rsp_buf_append(&msg, ss2.data, ss2.len);
    put(&msg, 0x5F37, d->sig1, sizeof(d->sig1));
    if (rsp_ecdsa_sign(d->pb.key, msg.data, msg.len, sig))
        goto out;
    rsp_buf_reset(&v);
    rsp_buf_append(&v, ss2.data, ss2.len);
    put(&v, 0x5F37, sig, sizeof(sig));
    rsp_x509_to_der(d->pb.cert, &v);
    put(&req, 0xBF21, v.data, v.len);
    r = euicc_dp_es10(f, d, req.data, req.len, &n);
    if (!r || rsp_asn1_decode(&asn_DEF_PrepareDownloadResponse, r, n, 65536, (void **)&resp))
        goto out;
    if (resp->present == PrepareDownloadResponse_PR_downloadResponseError) {
        res = (int)resp->choice.downloadResponseError->downloadErrorCode;
        goto out;
    }
    if (rsp_tlv_parse(r, n, &t) || rsp_tlv_parse(t.val, t.val_len, &a) ||
        rsp_tlv_next(a.val, a.val_len, &pos, &es2) != 1 ||
        rsp_tlv_next(a.val, a.val_len, &pos, &esig) != 1 ||
        rsp_tlv_find(es2.val, es2.val_len, 0x5F49, &otpk) || otpk.val_len != RSP_EC_POINT_LEN)
        goto out;
    /* euiccSignature2 over euiccSigned2 || 5F37 40 smdpSignature2 */
    rsp_buf_reset(&msg);
    rsp_buf_append(&msg, es2.tlv, es2.tlv_len);
    put(&msg, 0x5F37, sig, sizeof(sig));
    if (rsp_x509_get_pubkey(d->euicc_cert, &k) ||
        rsp_ecdsa_verify(k, msg.data, msg.len, esig.val, esig.val_len))
        goto out;
    memcpy(d->otpk, otpk.val, RSP_EC_POINT_LEN);
    res = 0;
out:
    EVP_PKEY_free(k);
    rsp_asn1_free(&asn_DEF_PrepareDownloadResponse, resp);
    free(r);
    rsp_buf_free(&v);
    rsp_buf_free(&ss2);
    rsp_buf_free(&req);
    rsp_buf_free(&msg);
    return res;
}


void euicc_dp_check_pir(struct euicc_dp *d, const uint8_t *r, size_t n, struct euicc_dp_pir *p)
{
    ProfileInstallationResult_t *res = NULL;
    struct rsp_tlv t, data, sig;
    EVP_PKEY *k = NULL;

    memset(p, 0, sizeof(*p));
    p->cmd = p->reason = -1;
    if (!r || rsp_asn1_decode(&asn_DEF_ProfileInstallationResult, r, n, 65536, (void **)&res))
        return;
    p->present = 1;
    const ProfileInstallationResultData_t *pd = &res->profileInstallationResultData;
    if (pd->finalResult.present == ProfileInstallationResultData__finalResult_PR_successResult)
        p->ok = 1;
    else if (pd->finalResult.present == ProfileInstallationResultData__finalResult_PR_errorResult) {
        p->cmd = (int)pd->finalResult.choice.errorResult->bppCommandId;
        p->reason = (int)pd->finalResult.choice.errorResult->errorReason;
    }
    if (rsp_tlv_parse(r, n, &t) == 0 && rsp_tlv_find(t.val, t.val_len, 0xBF27, &data) == 0 &&
        rsp_tlv_find(t.val, t.val_len, 0x5F37, &sig) == 0 &&
        rsp_x509_get_pubkey(d->euicc_cert, &k) == 0 &&
        rsp_ecdsa_verify(k, data.tlv, data.tlv_len, sig.val, sig.val_len) == 0)
        p->sig_ok = 1;
    EVP_PKEY_free(k);
    rsp_asn1_free(&asn_DEF_ProfileInstallationResult, res);
}

/* Build the BPP of upp and send it; the last response's PIR into *p. */
/* DP_F_OTPK_OFF_CURVE: in segment 0 (BF36 header + BF23), flip the last
 * byte of smdpOtpk (5F49 41 04 x y: off the curve) and sign the ISC again
 * with the DPpb key, so that only the point is wrong. */
static int isc_otpk_off_curve(struct euicc_dp *d, uint8_t *seg, size_t len)
{
    struct rsp_tlv isc, el;
    struct rsp_buf sd;
    uint8_t sig[RSP_ECDSA_SIG_LEN];
    size_t i;
    int found = 0, rc;

    for (i = 0; i + 1 < len && !(seg[i] == 0xBF && seg[i + 1] == 0x23); i++)
        ;
    if (i + 1 >= len || rsp_tlv_parse(seg + i, len - i, &isc))
        return RSP_ERR_DECODE;
    uint8_t *v = (uint8_t *)isc.val;
    for (size_t off = 0; off < isc.val_len && rsp_tlv_parse(v + off, isc.val_len - off, &el) == 0;
         off += el.tlv_len) {
        if (el.tag == 0x5F49 && el.val_len == RSP_EC_POINT_LEN) {
            ((uint8_t *)el.val)[RSP_EC_POINT_LEN - 1] ^= 0x01;
            found = 1;
        } else if (el.tag == 0x5F37 && el.val_len == RSP_ECDSA_SIG_LEN && found) {
            rsp_buf_init(&sd, 1024);
            rc = rsp_bpp_isc_signed_data(isc.val, isc.val_len, d->otpk, &sd);
            if (!rc)
                rc = rsp_ecdsa_sign(d->pb.key, sd.data, sd.len, sig);
            rsp_buf_free(&sd);
            if (!rc)
                memcpy((uint8_t *)el.val, sig, sizeof(sig));
            return rc;
        }
    }
    return RSP_ERR_DECODE;
}

void euicc_dp_load_bpp(struct euicc_fixture *f, struct euicc_dp *d, const uint8_t *upp, size_t upp_len,
                     const char *iccid, enum euicc_dp_fault fault, int use_ppk, struct euicc_dp_pir *p)
{
    static const uint8_t host[] = "hostid01";
    static const uint8_t ppk_enc[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static const uint8_t ppk_mac[16] = {2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static const uint8_t ppk_mcv[16] = {3, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    struct rsp_bpp_notif nt = {0xF, RSP_PKI_DEFAULT_HOST};
    struct rsp_bpp_metadata md = {
        .iccid = iccid, .service_provider = "Test SP", .profile_name = "TS.48 test",
        .profile_class = 2, .notifs = &nt, .n_notifs = 1, .ppr = 0,
    };
    struct rsp_bpp_params bp = {
        .dp_pb_key = d->pb.key, .euicc_otpk = d->otpk, .transaction_id = d->tid,
        .transaction_id_len = 16, .host_id = host, .host_id_len = 8, .upp = upp,
        .upp_len = upp_len, .md = &md,
    };
    uint8_t eid[16], tid2[16];
    struct rsp_buf bpp;
    struct rsp_bpp_seg *segs = NULL;
    size_t nsegs = 0;
    uint8_t *last = NULL;
    size_t last_len = 0;

    memset(p, 0, sizeof(*p));
    p->cmd = p->reason = -1;
    if (use_ppk) {
        bp.ppk_enc = ppk_enc;
        bp.ppk_mac = ppk_mac;
        bp.ppk_mcv = ppk_mcv;
    }
    if (fault == DP_F_TID_ISC) {
        memcpy(tid2, d->tid, 16);
        tid2[0] ^= 1;
        bp.transaction_id = tid2;
    }
    CU_ASSERT_RC(rsp_eid_to_bytes(d->eid, eid), 0);
    bp.eid = eid;
    rsp_buf_init(&bpp, RSP_BPP_MAX);
    CU_ASSERT_RC(rsp_bpp_build(&bp, &bpp), 0);
    CU_ASSERT_RC(rsp_bpp_split(bpp.data, bpp.len, &segs, &nsegs), 0);
    if (!segs) {
        rsp_buf_free(&bpp);
        return;
    }
    /* One level only: A0 L 87 ... */
    CU_ASSERT(nsegs >= 5);
    CU_ASSERT(nsegs >= 2 && bpp.data[segs[1].off] == 0xA0);
    CU_ASSERT(nsegs >= 2 && segs[1].len > 3 &&
              bpp.data[segs[1].off + 2] == 0x87);
    if (fault == DP_F_MAC86)
        bpp.data[segs[nsegs - 1].off + segs[nsegs - 1].len - 1] ^= 0x01;
    if (fault == DP_F_SMDP_SIGN)
        bpp.data[segs[0].off + segs[0].len - 1] ^= 0x01;
    if (fault == DP_F_OTPK_OFF_CURVE)
        CU_ASSERT_RC(isc_otpk_off_curve(d, bpp.data + segs[0].off, segs[0].len), 0);
    for (size_t i = 0; i < nsegs; i++) {
        const uint8_t *sp = bpp.data + segs[i].off;
        size_t sl = segs[i].len;
        uint8_t garbage[8] = {0x86, 0x06, 1, 2, 3, 4, 5, 6};
        if (fault == DP_F_TRUNCATED && i == 3)
            sl -= 5;
        if (fault == DP_F_STOP_BPP && i == 2)
            break;
        if (fault == DP_F_GARBAGE && i == 3) {
            sp = garbage;
            sl = sizeof(garbage);
        }
        free(last);
        last = euicc_dp_es10(f, d, sp, sl, &last_len);
        if (d->sw != 0x9000 || last_len)
            break;     /* the card answered: an error (or the end) */
    }
    euicc_dp_check_pir(d, last, last_len, p);
    free(last);
    free(segs);
    rsp_buf_free(&bpp);
}

uint8_t *euicc_dp_read_profile(const char *name, size_t *len, char *iccid)
{
    char path[700];
    struct rsp_saip_info *info = NULL;
    snprintf(path, sizeof(path), "%s/ts48/%s", test_shared_dir(), name);
    uint8_t *p = test_read_file(path, len);
    if (!p)
        return NULL;
    if (rsp_saip_parse(p, *len, &info)) {
        free(p);
        return NULL;
    }
    strcpy(iccid, info->iccid);
    rsp_saip_info_free(info);
    return p;
}

/* Whole flow up to the PIR. Returns the PIR in *p; auth/prepare results. */
int euicc_dp_run(struct euicc_fixture *f, struct euicc_dp *d, const uint8_t *upp, size_t upp_len,
               const char *iccid, enum euicc_dp_fault fault, int use_ppk, struct euicc_dp_pir *p)
{
    size_t n;
    uint8_t *r = euicc_dp_authenticate(f, d, fault, &n);
    int rc = r ? euicc_dp_check_auth(d, r, n) : -1;
    free(r);
    memset(p, 0, sizeof(*p));
    if (rc)
        return rc;
    rc = euicc_dp_prepare(f, d, fault);
    if (rc)
        return 100 + rc;
    euicc_dp_load_bpp(f, d, upp, upp_len, iccid, fault, use_ppk, p);
    return 0;
}

int euicc_dp_session_prepare(struct euicc_fixture *f, struct euicc_dp *d, const uint8_t *otpk,
                             size_t len)
{
    size_t n;
    uint8_t *r = euicc_dp_authenticate(f, d, DP_F_NONE, &n);
    int rc = r ? euicc_dp_check_auth(d, r, n) : -1;

    free(r);
    if (rc)
        return 1000 + rc;
    if (otpk && len > sizeof(d->bpp_otpk))
        return -1;
    d->bpp_otpk_len = otpk ? len : 0;
    if (otpk)
        memcpy(d->bpp_otpk, otpk, len);
    rc = euicc_dp_prepare(f, d, DP_F_NONE);
    d->bpp_otpk_len = 0;
    return rc;
}
