/* lpa_download.c - the profile download of SGP.22 v2.5 §3.1 driven by the
 * LPA: §3.1.1 the SM-DP+ address (Activation Code §4.1, or the eUICC's
 * default SM-DP+ address, GetEuiccConfiguredAddresses §5.7.3), §3.1.2
 * common mutual authentication, §3.1.3 download and installation
 * (user consent §3.1.3.1 / §2.9.2.2 for PPRs, Confirmation Code hash
 * §2.10/§3.1.3, BPP loading §2.5.5), the PIR notification (§3.5), session
 * cancellation (§3.1.3 "Sub-procedure Download Cancellation", ES10b
 * CancelSession §5.7.14 then ES9+.CancelSession §5.6.5), and the delivery
 * of pending notifications (§3.5, ES10b RetrieveNotificationsList §5.7.10,
 * ES9+.HandleNotification §5.6.4, RemoveNotificationFromList §5.7.11).
 *
 * The PPR check against the eUICC's Rules Authorisation Table (§2.9.2.2,
 * GetRAT §5.7.22) comes before the consent hook; a lost answer to a BPP
 * segment is recovered from the card's pending PIR (§3.1.3.3 / §3.5).
 *
 * Cancel reasons (spec-notes/lpa.md has the table): refused consent 0,
 * postponed consent or no Confirmation Code 1, SM-DP+ unreachable 2, PPR
 * not allowed by the RAT or without the consent the RAT asks for 3,
 * profileMetadata that does not decode 4, a BPP that does not load (no
 * PIR, bad BPP) 5, anything else 127. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <OperatorId.h>
#include <StoreMetadataRequest.h>

#include "lpa_es10b.h"
#include "lpa_es9.h"
#include "lpa_rsp.h"
#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_log.h"
#include "rsp_util.h"

/* deviceInfo.tac when the caller gives no IMEI: a neutral test TAC. */
static const uint8_t DEFAULT_TAC[4] = {0x35, 0x29, 0x06, 0x11};
#define DL_STEPS 9u

const char *lpa_step_name(int step)
{
    switch (step) {
    case LPA_STEP_NONE: return "none";
    case LPA_STEP_ACTIVATION_CODE: return "activationCode";
    case LPA_STEP_EUICC_INFO: return "getEuiccInfo";
    case LPA_STEP_INITIATE_AUTHENTICATION: return "initiateAuthentication";
    case LPA_STEP_AUTHENTICATE_SERVER: return "authenticateServer";
    case LPA_STEP_AUTHENTICATE_CLIENT: return "authenticateClient";
    case LPA_STEP_USER_CONSENT: return "userConsent";
    case LPA_STEP_PREPARE_DOWNLOAD: return "prepareDownload";
    case LPA_STEP_GET_BPP: return "getBoundProfilePackage";
    case LPA_STEP_LOAD_BPP: return "loadBoundProfilePackage";
    case LPA_STEP_HANDLE_NOTIFICATION: return "handleNotification";
    case LPA_STEP_CANCEL_SESSION: return "cancelSession";
    }
    return "unknown";
}

const char *lpa_rsp_strerror(int err)
{
    switch (err) {
    case LPA_ERR_ES9: return "the SM-DP+ answered a failure";
    case LPA_ERR_EUICC: return "the eUICC answered an error result";
    case LPA_ERR_REJECTED: return "refused or postponed by the user";
    case LPA_ERR_PPR: return "a profile policy rule is not allowed by the eUICC's RAT";
    }
    return lpa_strerror(err);
}

static void result_init(struct lpa_result *res)
{
    memset(res, 0, sizeof(*res));
    res->bpp_command_id = -1;
    res->bpp_error_reason = -1;
    res->notification_seq = -1;
    res->cancel_reason = -1;
}

/* One download in progress. */
struct dl {
    struct lpa_ctx *ctx;
    const struct lpa_download_opts *opt;
    struct lpa_result *res;
    struct lpa_es9 es9;
    char address[LPA_AC_MAX + 1];
    char matching_id[LPA_AC_MAX + 1];
    int ac_cc_required;
    uint8_t tid[16];
    size_t tid_len;
    unsigned done;
};

static void dl_step(struct dl *d, int step)
{
    d->res->step = step;
    if (d->opt->on_step && step != LPA_STEP_NONE)
        d->opt->on_step(d->opt->step_arg, step, d->done, DL_STEPS);
}

static void dl_done(struct dl *d)
{
    d->done++;
}

/* Record a card-side failure of the current step. */
static int card_fail(struct dl *d, int rc, const char *what)
{
    if (rc == LPA_ERR_SW) {
        d->res->sw = lpa_last_sw(d->ctx);
        snprintf(d->res->detail, sizeof(d->res->detail), "%s: status word %04X", what,
                 d->res->sw);
    } else {
        snprintf(d->res->detail, sizeof(d->res->detail), "%s: %s", what, lpa_rsp_strerror(rc));
    }
    return rc;
}

/* A copy of the session's ES9+ client that records into *scratch: for the
 * calls whose outcome must not overwrite the failure already in d->res. */
static struct lpa_es9 es9_quiet(const struct dl *d, struct lpa_result *scratch)
{
    struct lpa_es9 es9 = d->es9;

    result_init(scratch);
    es9.res = scratch;
    return es9;
}

/* Cancel the session on the eUICC with reason, then on the SM-DP+ with the
 * card's signed answer. Best effort: the failure that led here stays the
 * result; cancellation problems are only appended to the detail line. */
static void dl_cancel(struct dl *d, int reason)
{
    struct lpa_result scratch;
    struct lpa_es9 es9;
    struct rsp_buf cs;
    int err = 0, rc;
    size_t n;

    d->res->cancel_reason = reason;
    rc = lpa_es10b_cancel_session(d->ctx, d->tid, d->tid_len, reason, &cs, &err);
    n = strlen(d->res->detail);
    if (rc < 0 || err) {
        snprintf(d->res->detail + n, sizeof(d->res->detail) - n,
                 " [eUICC CancelSession(%d): %s]", reason,
                 rc < 0 ? lpa_rsp_strerror(rc) : "error result");
        rsp_buf_free(&cs);
        return;
    }
    es9 = es9_quiet(d, &scratch);
    rc = lpa_es9_cancel_session(&es9, d->tid, d->tid_len, cs.data, cs.len);
    if (rc < 0)
        snprintf(d->res->detail + n, sizeof(d->res->detail) - n,
                 " [ES9+ cancelSession: %s]", scratch.detail[0] ? scratch.detail : lpa_rsp_strerror(rc));
    rsp_buf_free(&cs);
}

/* An ES10b command of the session failed on the card's side (transport,
 * status word, undecodable answer): record it, cancel the session. */
static int card_abort(struct dl *d, int rc, const char *what)
{
    card_fail(d, rc, what);
    dl_cancel(d, LPA_CANCEL_UNDEFINED_REASON);
    return rc;
}

/* The card answered an error result to what: the result is the card's
 * error. The caller forwards the card's answer to the SM-DP+ through
 * *es9 (recording into *scratch), which ends the session there. */
static int card_refused(struct dl *d, int err, const char *what, struct lpa_es9 *es9,
                        struct lpa_result *scratch)
{
    *es9 = es9_quiet(d, scratch);
    d->res->euicc_error = err;
    snprintf(d->res->detail, sizeof(d->res->detail), "%s: eUICC error %d", what, err);
    return LPA_ERR_EUICC;
}

/* The ES9+ failure reason as a cancel reason: unreachable = timeout. */
static int es9_cancel_reason(int rc)
{
    return rc == RSP_ERR_IO ? LPA_CANCEL_TIMEOUT : LPA_CANCEL_UNDEFINED_REASON;
}

static int resolve_address(struct dl *d)
{
    const struct lpa_download_opts *o = d->opt;

    if (o->activation_code) {
        struct lpa_activation_code ac;
        int rc = lpa_ac_parse(o->activation_code, &ac);
        if (rc < 0) {
            snprintf(d->res->detail, sizeof(d->res->detail),
                     "activation code: %s", lpa_rsp_strerror(rc));
            return rc;
        }
        memcpy(d->address, ac.address, sizeof(d->address));
        memcpy(d->matching_id, ac.matching_id, sizeof(d->matching_id));
        d->ac_cc_required = ac.cc_required;
    } else if (o->smdp_address) {
        if (!*o->smdp_address || strlen(o->smdp_address) > LPA_AC_MAX ||
            (o->matching_id && strlen(o->matching_id) > LPA_AC_MAX)) {
            snprintf(d->res->detail, sizeof(d->res->detail), "SM-DP+ address or matchingId invalid");
            return RSP_ERR_INVAL;
        }
        snprintf(d->address, sizeof(d->address), "%s", o->smdp_address);
        snprintf(d->matching_id, sizeof(d->matching_id), "%s", o->matching_id ? o->matching_id : "");
    } else {
        struct lpa_addresses a;
        int rc = lpa_get_configured_addresses(d->ctx, &a);
        if (rc < 0)
            return card_fail(d, rc, "GetEuiccConfiguredAddresses");
        if (!a.default_dp || !*a.default_dp || strlen(a.default_dp) > LPA_AC_MAX) {
            lpa_addresses_free(&a);
            snprintf(d->res->detail, sizeof(d->res->detail),
                     "no SM-DP+ address: no activation code and no default SM-DP+ address on the eUICC");
            return RSP_ERR_NOTFOUND;
        }
        snprintf(d->address, sizeof(d->address), "%s", a.default_dp);
        lpa_addresses_free(&a);
    }
    if (d->ac_cc_required && !o->confirmation_code) {
        snprintf(d->res->detail, sizeof(d->res->detail),
                 "the activation code requires a confirmation code");
        return RSP_ERR_INVAL;
    }
    return RSP_OK;
}

/* IMEI (15 digits) -> TAC (first 8 digits, BCD) and the 8-byte IMEI in the
 * TBCD of 3GPP TS 23.003 (digits nibble-swapped, F filler). */
static int imei_encode(const char *imei, uint8_t tac[4], uint8_t out[8])
{
    if (strlen(imei) != 15)
        return RSP_ERR_INVAL;
    for (int i = 0; i < 15; i++)
        if (imei[i] < '0' || imei[i] > '9')
            return RSP_ERR_INVAL;
    for (int i = 0; i < 4; i++)
        tac[i] = (uint8_t)(((imei[2 * i] - '0') << 4) | (imei[2 * i + 1] - '0'));
    for (int i = 0; i < 8; i++) {
        uint8_t lo = (uint8_t)(imei[2 * i] - '0');
        uint8_t hi = 2 * i + 1 < 15 ? (uint8_t)(imei[2 * i + 1] - '0') : 0xF;
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    return RSP_OK;
}

static int hex_field(const OCTET_STRING_t *o, char *out, size_t out_len)
{
    if (!o)
        return RSP_OK;
    if (o->size < 0 || (size_t)o->size * 2 >= out_len)
        return RSP_ERR_DECODE;
    rsp_hex_encode(o->buf, (size_t)o->size, out);
    return RSP_OK;
}

/* StoreMetadataRequest -> what the user sees; *owner / *has_owner the
 * profileOwner for the RAT check. */
static int metadata_decode(const uint8_t *p, size_t len, struct lpa_metadata *md,
                           struct lpa_operator_id *owner, int *has_owner)
{
    StoreMetadataRequest_t *m = NULL;
    int rc;

    memset(md, 0, sizeof(*md));
    memset(owner, 0, sizeof(*owner));
    *has_owner = 0;
    md->profile_class = LPA_PROFILE_CLASS_OPERATIONAL;   /* the DEFAULT */
    rc = rsp_asn1_decode(&asn_DEF_StoreMetadataRequest, p, len, 64 * 1024, (void **)&m);
    if (rc < 0)
        return rc;
    if (m->iccid.size != 10 || rsp_iccid_from_bcd(m->iccid.buf, 1, md->iccid) < 0 ||
        (size_t)m->serviceProviderName.size >= sizeof(md->spn) ||
        (size_t)m->profileName.size >= sizeof(md->name)) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    memcpy(md->spn, m->serviceProviderName.buf, m->serviceProviderName.size);
    memcpy(md->name, m->profileName.buf, m->profileName.size);
    if (m->profileClass)
        md->profile_class = (int)*m->profileClass;
    if (m->profilePolicyRules)
        md->ppr_mask = rsp_asn1_named_bits_get(m->profilePolicyRules);
    if (m->profileOwner) {
        const OperatorId_t *o = m->profileOwner;
        if (o->mccMnc.size != 3 || hex_field(&o->mccMnc, md->owner_mcc_mnc,
                                             sizeof(md->owner_mcc_mnc)) < 0 ||
            hex_field(o->gid1, md->owner_gid1, sizeof(md->owner_gid1)) < 0 ||
            hex_field(o->gid2, md->owner_gid2, sizeof(md->owner_gid2)) < 0 ||
            (o->gid1 && (size_t)o->gid1->size > LPA_GID_MAX) ||
            (o->gid2 && (size_t)o->gid2->size > LPA_GID_MAX)) {
            rc = RSP_ERR_DECODE;
            goto out;
        }
        memcpy(owner->mcc_mnc, o->mccMnc.buf, 3);
        owner->gid1_len = o->gid1 ? (int)o->gid1->size : -1;
        owner->gid2_len = o->gid2 ? (int)o->gid2->size : -1;
        if (o->gid1 && o->gid1->size)
            memcpy(owner->gid1, o->gid1->buf, (size_t)o->gid1->size);
        if (o->gid2 && o->gid2->size)
            memcpy(owner->gid2, o->gid2->buf, (size_t)o->gid2->size);
        *has_owner = 1;
    }
out:
    rsp_asn1_free(&asn_DEF_StoreMetadataRequest, m);
    return rc;
}

/* hashCc = SHA256(SHA256(cc) || transactionId) (SGP.22 §2.10 / §5.7.5). */
static int hash_cc(const char *cc, const uint8_t *tid, size_t tid_len, uint8_t out[32])
{
    uint8_t buf[32 + 16];
    unsigned len = 32;
    int ok;

    ok = EVP_Digest(cc, strlen(cc), buf, &len, EVP_sha256(), NULL) && len == 32;
    memcpy(buf + 32, tid, tid_len);
    ok = ok && EVP_Digest(buf, 32 + tid_len, out, &len, EVP_sha256(), NULL) && len == 32;
    OPENSSL_cleanse(buf, sizeof(buf));
    return ok ? RSP_OK : RSP_ERR_CRYPTO;
}

/* ccRequiredFlag of smdpSigned2 (30 { 80 tid, 01 flag, ... }). */
static int cc_required(const struct rsp_buf *ss2)
{
    struct rsp_tlv t, f;
    if (rsp_tlv_parse(ss2->data, ss2->len, &t) < 0 ||
        rsp_tlv_find(t.val, t.val_len, 0x01, &f) < 0 || f.val_len != 1)
        return -1;
    return f.val[0] ? 1 : 0;
}

/* Send a PIR to the SM-DP+ and remove it from the eUICC (§3.5). */
static void deliver_pir(struct dl *d, const struct rsp_buf *pir, long seq)
{
    struct lpa_result scratch;
    struct lpa_es9 es9;
    int rc, result = 0;
    size_t n = strlen(d->res->detail);

    if (d->opt->keep_notifications || seq < 0)
        return;
    es9 = es9_quiet(d, &scratch);
    /* To the SM-DP+ of this session (the same host as the download, which
     * is also what its notificationAddress names). */
    rc = lpa_es9_handle_notification(&es9, d->address, pir->data, pir->len);
    if (rc < 0) {
        snprintf(d->res->detail + n, sizeof(d->res->detail) - n,
                 "%snotification %ld not delivered (kept on the eUICC): %s", n ? "; " : "",
                 seq, scratch.detail);
        return;
    }
    rc = lpa_remove_notification(d->ctx, seq, &result);
    if (rc < 0 || result)
        snprintf(d->res->detail + n, sizeof(d->res->detail) - n,
                 "%snotification %ld delivered but not removed", n ? "; " : "", seq);
}

/* The PPRs of the metadata against the eUICC's RAT (SGP.22 §2.9.2.2). 0
 * to go on (md->ppr_consent_required set when the RAT wants the user's
 * consent), or the failure with the session cancelled. */
static int check_pprs(struct dl *d, struct lpa_metadata *md, const struct lpa_operator_id *owner)
{
    struct lpa_rat rat;
    unsigned bad = 0;
    int rc, consent = 0;

    if (!(md->ppr_mask & (LPA_PPR1 | LPA_PPR2)))
        return RSP_OK;
    rc = lpa_es10b_get_rat(d->ctx, &rat);
    if (rc < 0)
        return card_abort(d, rc, "GetRAT");
    lpa_rat_check(&rat, md->ppr_mask, owner, &bad, &consent);
    lpa_rat_free(&rat);
    if (bad) {
        d->res->ppr_not_allowed = bad;
        snprintf(d->res->detail, sizeof(d->res->detail),
                 "profile %s: %s%s%s not allowed by the eUICC's RAT for profile owner %s%s%s%s%s",
                 md->iccid, bad & LPA_PPR1 ? "PPR1" : "",
                 (bad & LPA_PPR1) && (bad & LPA_PPR2) ? " and " : "",
                 bad & LPA_PPR2 ? "PPR2" : "",
                 owner ? md->owner_mcc_mnc : "(none)",
                 md->owner_gid1[0] ? " gid1 " : "", md->owner_gid1,
                 md->owner_gid2[0] ? " gid2 " : "", md->owner_gid2);
        dl_cancel(d, LPA_CANCEL_PPR_NOT_ALLOWED);
        return LPA_ERR_PPR;
    }
    md->ppr_consent_required = consent;
    return RSP_OK;
}

/* The answer to a BPP segment was lost (transport error, status word): the
 * card may have finished all the same. Read its pending notifications once
 * and take the PIR of this transactionId as the outcome (§3.1.3.3). 0 when
 * found (*pir, *lr filled, the detail line rewritten), else negative and
 * the result untouched. */
static int recover_pir(struct dl *d, struct rsp_buf *pir, struct lpa_load_result *lr)
{
    struct lpa_pending_list pl;
    int rc = RSP_ERR_NOTFOUND;

    if (lpa_es10b_retrieve_notifications(d->ctx, -1, &pl) < 0)
        return RSP_ERR_IO;
    for (size_t i = 0; i < pl.count && !pl.error; i++) {
        struct lpa_load_result r;
        const struct lpa_pending_notification *n = &pl.items[i];

        if (n->der_len < 2 || n->der[0] != 0xBF || n->der[1] != 0x37 ||
            lpa_es10b_pir_decode(n->der, n->der_len, &r) < 0 || r.tid_len != d->tid_len ||
            memcmp(r.tid, d->tid, d->tid_len))
            continue;
        rsp_buf_free(pir);
        rsp_buf_init(pir, n->der_len);
        if ((rc = rsp_buf_append(pir, n->der, n->der_len)) < 0)
            break;
        r.segments_sent = lr->segments_sent;
        r.segments_total = lr->segments_total;
        *lr = r;
        char lost[160];
        snprintf(lost, sizeof(lost), "%.150s", d->res->detail);
        snprintf(d->res->detail, sizeof(d->res->detail),
                 "recovered: %.150s; the eUICC's installation result (notification %ld) read back",
                 lost, r.seq);
        d->res->recovered = 1;
        d->res->sw = 0;
        rc = RSP_OK;
        break;
    }
    lpa_pending_list_free(&pl);
    return rc;
}

static int download(struct dl *d)
{
    const struct lpa_download_opts *o = d->opt;
    struct lpa_result *res = d->res;
    struct rsp_buf info1, asr, pdr, bpp, pir;
    struct lpa_es9_auth auth;
    struct lpa_es9_client cl;
    struct lpa_load_result lr;
    struct lpa_metadata md;
    struct lpa_operator_id owner;
    struct lpa_auth_server_in in;
    struct lpa_es9 es9;          /* an ES9+ call after a card error */
    struct lpa_result scratch;   /* ... and where its outcome goes */
    uint8_t chal[16], imei[8], hcc[32];
    int rc, err = 0, need_cc, has_owner = 0;

    rsp_buf_init(&info1, 0);
    rsp_buf_init(&asr, 0);
    rsp_buf_init(&pdr, 0);
    rsp_buf_init(&bpp, 0);
    rsp_buf_init(&pir, 0);
    memset(&auth, 0, sizeof(auth));
    memset(&cl, 0, sizeof(cl));
    memset(&in, 0, sizeof(in));

    /* §3.1.1: where to go */
    dl_step(d, LPA_STEP_ACTIVATION_CODE);
    memcpy(in.tac, DEFAULT_TAC, 4);
    if (o->imei && imei_encode(o->imei, in.tac, imei) < 0) {
        snprintf(res->detail, sizeof(res->detail), "IMEI must be 15 digits");
        rc = RSP_ERR_INVAL;
        goto out;
    }
    if (o->imei)
        in.imei = imei;
    rc = resolve_address(d);
    if (rc < 0)
        goto out;
    d->es9.address = d->address;
    dl_done(d);

    /* §3.1.2 steps 1-4 */
    dl_step(d, LPA_STEP_EUICC_INFO);
    rc = lpa_get_euicc_challenge(d->ctx, chal);
    if (rc == RSP_OK)
        rc = lpa_get_euicc_info1(d->ctx, &info1);
    if (rc < 0) {
        card_fail(d, rc, "GetEUICCChallenge/GetEUICCInfo1");
        goto out;
    }
    dl_done(d);

    dl_step(d, LPA_STEP_INITIATE_AUTHENTICATION);
    rc = lpa_es9_initiate_authentication(&d->es9, chal, info1.data, info1.len, d->address, &auth);
    if (rc < 0)
        goto out;   /* no session on the card yet: nothing to cancel */
    memcpy(d->tid, auth.tid, auth.tid_len);
    d->tid_len = auth.tid_len;
    dl_done(d);

    /* §3.1.2 steps 10-11 */
    dl_step(d, LPA_STEP_AUTHENTICATE_SERVER);
    in.server_signed1 = auth.server_signed1.data;
    in.server_signed1_len = auth.server_signed1.len;
    in.server_sig1 = auth.server_sig1.data;
    in.server_sig1_len = auth.server_sig1.len;
    in.ci_pkid = auth.ci_pkid.data;
    in.ci_pkid_len = auth.ci_pkid.len;
    in.server_cert = auth.server_cert.data;
    in.server_cert_len = auth.server_cert.len;
    in.matching_id = d->matching_id;
    rc = lpa_es10b_authenticate_server(d->ctx, &in, &asr, &err);
    if (rc < 0) {
        card_abort(d, rc, "AuthenticateServer");
        goto out;
    }
    if (err) {
        /* The card refused the SM-DP+ and ended its session; the error goes
         * to the SM-DP+ in AuthenticateClient so it ends its own (§3.1.2). */
        rc = card_refused(d, err, "AuthenticateServer", &es9, &scratch);
        lpa_es9_authenticate_client(&es9, d->tid, d->tid_len, asr.data, asr.len, &cl);
        goto out;
    }
    dl_done(d);

    dl_step(d, LPA_STEP_AUTHENTICATE_CLIENT);
    rc = lpa_es9_authenticate_client(&d->es9, d->tid, d->tid_len, asr.data, asr.len, &cl);
    if (rc < 0) {
        dl_cancel(d, es9_cancel_reason(rc));
        goto out;
    }
    dl_done(d);

    /* §3.1.3.1: metadata to the user */
    dl_step(d, LPA_STEP_USER_CONSENT);
    rc = metadata_decode(cl.metadata.data, cl.metadata.len, &md, &owner, &has_owner);
    if (rc < 0) {
        snprintf(res->detail, sizeof(res->detail), "profileMetadata does not decode: %s",
                 lpa_rsp_strerror(rc));
        rc = RSP_ERR_DECODE;
        dl_cancel(d, LPA_CANCEL_METADATA_MISMATCH);
        goto out;
    }
    if ((rc = check_pprs(d, &md, has_owner ? &owner : NULL)) < 0)
        goto out;
    if (!o->consent && md.ppr_consent_required) {
        snprintf(res->detail, sizeof(res->detail),
                 "profile %s has PPRs (0x%x) the eUICC's RAT allows only with the end user's "
                 "consent: no consent hook", md.iccid, md.ppr_mask);
        rc = LPA_ERR_REJECTED;
        dl_cancel(d, LPA_CANCEL_PPR_NOT_ALLOWED);
        goto out;
    }
    if (o->consent) {
        int c = o->consent(o->consent_arg, &md);
        if (c <= 0) {
            snprintf(res->detail, sizeof(res->detail), "user %s profile %s",
                     c < 0 ? "postponed" : "refused", md.iccid);
            rc = LPA_ERR_REJECTED;
            dl_cancel(d, c < 0 ? LPA_CANCEL_POSTPONED : LPA_CANCEL_END_USER_REJECTION);
            goto out;
        }
    }
    dl_done(d);

    /* §3.1.3.2 */
    dl_step(d, LPA_STEP_PREPARE_DOWNLOAD);
    need_cc = cc_required(&cl.smdp_signed2);
    if (need_cc < 0) {
        snprintf(res->detail, sizeof(res->detail), "smdpSigned2 has no ccRequiredFlag");
        rc = RSP_ERR_DECODE;
        dl_cancel(d, LPA_CANCEL_UNDEFINED_REASON);
        goto out;
    }
    if (need_cc && !o->confirmation_code) {
        snprintf(res->detail, sizeof(res->detail), "the SM-DP+ requires a confirmation code");
        rc = LPA_ERR_REJECTED;
        dl_cancel(d, LPA_CANCEL_POSTPONED);
        goto out;
    }
    if (need_cc && (rc = hash_cc(o->confirmation_code, d->tid, d->tid_len, hcc)) < 0)
        goto out;
    rc = lpa_es10b_prepare_download(d->ctx, cl.smdp_signed2.data, cl.smdp_signed2.len,
                                    cl.smdp_sig2.data, cl.smdp_sig2.len, cl.smdp_cert.data,
                                    cl.smdp_cert.len, need_cc ? hcc : NULL, &pdr, &err);
    OPENSSL_cleanse(hcc, sizeof(hcc));
    if (rc < 0) {
        card_abort(d, rc, "PrepareDownload");
        goto out;
    }
    if (err) {
        /* The error response goes to the SM-DP+ in GetBoundProfilePackage,
         * which ends the session there (§3.1.3.2). */
        rc = card_refused(d, err, "PrepareDownload", &es9, &scratch);
        lpa_es9_get_bpp(&es9, d->tid, d->tid_len, pdr.data, pdr.len, &bpp);
        goto out;
    }
    dl_done(d);

    dl_step(d, LPA_STEP_GET_BPP);
    rc = lpa_es9_get_bpp(&d->es9, d->tid, d->tid_len, pdr.data, pdr.len, &bpp);
    if (rc < 0) {
        dl_cancel(d, rc == RSP_ERR_DECODE ? LPA_CANCEL_LOAD_BPP_EXECUTION_ERROR
                                          : es9_cancel_reason(rc));
        goto out;
    }
    dl_done(d);

    /* §3.1.3.3 */
    dl_step(d, LPA_STEP_LOAD_BPP);
    rc = lpa_es10b_load_bpp(d->ctx, bpp.data, bpp.len, &pir, &lr);
    if (rc < 0) {
        card_fail(d, rc, "LoadBoundProfilePackage");
        size_t n = strlen(res->detail);
        snprintf(res->detail + n, sizeof(res->detail) - n, " after segment %zu of %zu",
                 lr.segments_sent, lr.segments_total);
        if (lr.segments_sent > 0 && recover_pir(d, &pir, &lr) == RSP_OK) {
            rc = RSP_OK;
        } else {
            dl_cancel(d, LPA_CANCEL_LOAD_BPP_EXECUTION_ERROR);
            goto out;
        }
    }
    res->notification_seq = lr.seq;
    snprintf(res->iccid, sizeof(res->iccid), "%s", lr.iccid[0] ? lr.iccid : md.iccid);
    if (!lr.success) {
        /* A failed installation still ends with a PIR, which the SM-DP+
         * must get (§3.1.3.3); the card has ended the session itself. */
        res->bpp_command_id = lr.bpp_command_id;
        res->bpp_error_reason = lr.error_reason;
        res->iccid[0] = '\0';
        snprintf(res->detail, sizeof(res->detail),
                 "installation failed: bppCommandId %d errorReason %d", lr.bpp_command_id,
                 lr.error_reason);
        rc = LPA_ERR_EUICC;
    }
    dl_done(d);

    dl_step(d, LPA_STEP_HANDLE_NOTIFICATION);
    deliver_pir(d, &pir, lr.seq);
    if (rc == RSP_OK) {
        res->step = LPA_STEP_NONE;
        if (o->on_step)
            o->on_step(o->step_arg, LPA_STEP_NONE, DL_STEPS, DL_STEPS);
    } else {
        res->step = LPA_STEP_LOAD_BPP;
    }
out:
    rsp_buf_free(&info1);
    rsp_buf_free(&asr);
    rsp_buf_free(&pdr);
    rsp_buf_free(&bpp);
    rsp_buf_free(&pir);
    lpa_es9_auth_free(&auth);
    lpa_es9_client_free(&cl);
    OPENSSL_cleanse(chal, sizeof(chal));
    return rc;
}

int lpa_download(struct lpa_ctx *ctx, const struct lpa_http_driver *http,
                 const struct lpa_download_opts *opt, struct lpa_result *res)
{
    struct lpa_download_opts none;
    struct dl d;
    int rc;

    if (!res)
        return RSP_ERR_INVAL;
    result_init(res);
    if (!ctx || !http || !http->post) {
        snprintf(res->detail, sizeof(res->detail), "no eUICC context or HTTP driver");
        return RSP_ERR_INVAL;
    }
    if (!opt) {
        memset(&none, 0, sizeof(none));
        opt = &none;
    }
    memset(&d, 0, sizeof(d));
    d.ctx = ctx;
    d.opt = opt;
    d.res = res;
    d.es9.http = http;
    d.es9.res = res;
    rc = download(&d);
    if (rc < 0)
        RSP_LOG(RSP_LOG_INFO, "lpa", "download failed at %s: %s", lpa_step_name(res->step),
                res->detail);
    return rc;
}

int lpa_process_notifications(struct lpa_ctx *ctx, const struct lpa_http_driver *http,
                              long seq, unsigned *sent, struct lpa_result *res)
{
    struct lpa_notification_list list;
    struct lpa_es9 es9;
    int rc, first = RSP_OK;

    if (!res)
        return RSP_ERR_INVAL;
    result_init(res);
    if (sent)
        *sent = 0;
    if (!ctx || !http || !http->post)
        return RSP_ERR_INVAL;
    memset(&es9, 0, sizeof(es9));
    es9.http = http;
    es9.res = res;
    res->step = LPA_STEP_HANDLE_NOTIFICATION;
    rc = lpa_list_notifications(ctx, &list);
    if (rc < 0) {
        if (rc == LPA_ERR_SW)
            res->sw = lpa_last_sw(ctx);
        snprintf(res->detail, sizeof(res->detail), "ListNotification: %s", lpa_rsp_strerror(rc));
        return rc;
    }
    if (list.error) {
        res->euicc_error = list.error;
        snprintf(res->detail, sizeof(res->detail), "ListNotification: eUICC error %d", list.error);
        lpa_notification_list_free(&list);
        return LPA_ERR_EUICC;
    }
    for (size_t i = 0; i < list.count; i++) {
        struct lpa_pending_list pl;
        int result = 0;

        if (seq >= 0 && list.items[i].seq != seq)
            continue;
        rc = lpa_es10b_retrieve_notifications(ctx, list.items[i].seq, &pl);
        if (rc == RSP_OK && (pl.error || pl.count != 1 || pl.items[0].seq != list.items[i].seq))
            rc = RSP_ERR_DECODE;
        if (rc < 0) {
            if (rc == LPA_ERR_SW)
                res->sw = lpa_last_sw(ctx);
            snprintf(res->detail, sizeof(res->detail), "RetrieveNotificationsList(%ld): %s",
                     list.items[i].seq, lpa_rsp_strerror(rc));
            lpa_pending_list_free(&pl);
            if (first == RSP_OK)
                first = rc;
            continue;
        }
        res->notification_seq = pl.items[0].seq;
        rc = lpa_es9_handle_notification(&es9, pl.items[0].address, pl.items[0].der,
                                         pl.items[0].der_len);
        if (rc == RSP_OK) {
            if (sent)
                (*sent)++;
            rc = lpa_remove_notification(ctx, pl.items[0].seq, &result);
            if (rc == RSP_OK && result) {
                res->euicc_error = result;
                rc = LPA_ERR_EUICC;
            }
            if (rc < 0)
                snprintf(res->detail, sizeof(res->detail),
                         "notification %ld delivered but not removed: %s", pl.items[0].seq,
                         lpa_rsp_strerror(rc));
        }
        if (rc < 0 && first == RSP_OK)
            first = rc;
        lpa_pending_list_free(&pl);
    }
    lpa_notification_list_free(&list);
    if (first == RSP_OK)
        res->step = LPA_STEP_NONE;
    return first;
}
