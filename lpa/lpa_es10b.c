/* lpa_es10b.c - ES10b functions of the download and of notification
 * delivery (SGP.22 v2.5 §5.7.5, §5.7.6, §5.7.8, §5.7.10, §5.7.13, §5.7.14,
 * GetRAT §5.7.22 with the PPR/RAT matching of §2.9.2.2, LoadCRL §5.7.12;
 * BPP segmentation §2.5.5). Messages the SM-DP+ signed are forwarded as
 * received (so the card verifies exactly what was signed); only the
 * LPA-built ctxParams1 and the small requests are encoded with asn1c. */
#include <stdlib.h>
#include <string.h>

#include "lpa.private.h"
#include "lpa_es10b.h"
#include "rsp_asn1.h"
#include "rsp_bpp.h"
#include "rsp_err.h"
#include "rsp_util.h"

#include <AuthenticateServerResponse.h>
#include <AuthenticateResponseError.h>
#include <CancelSessionRequest.h>
#include <CancelSessionResponse.h>
#include <CertificateList.h>
#include <CtxParams1.h>
#include <CtxParamsForCommonAuthentication.h>
#include <ErrorResult.h>
#include <GetEuiccInfo2Request.h>
#include <GetRatRequest.h>
#include <GetRatResponse.h>
#include <LoadCRLRequest.h>
#include <LoadCRLResponse.h>
#include <LoadCRLResponseOk.h>
#include <OperatorId.h>
#include <ProfilePolicyAuthorisationRule.h>
#include <OtherSignedNotification.h>
#include <PendingNotification.h>
#include <PrepareDownloadResponse.h>
#include <PrepareDownloadResponseError.h>
#include <ProfileInstallationResult.h>
#include <RetrieveNotificationsListRequest.h>
#include <RetrieveNotificationsListResponse.h>

/* AuthenticateServerRequest carries two certificates' worth at most. */
#define REQ_MAX (16u * 1024u)

static int put_tlv(struct rsp_buf *b, uint32_t tag, const uint8_t *v, size_t n)
{
    int rc = rsp_tlv_put_header(b, tag, n);
    if (rc == RSP_OK && n)
        rc = rsp_buf_append(b, v, n);
    return rc;
}

/* p must be exactly one TLV with this tag (0: any tag). */
static int one_tlv(const uint8_t *p, size_t len, uint32_t tag)
{
    struct rsp_tlv t;
    if (!p || !len || rsp_tlv_parse(p, len, &t) < 0 || t.tlv_len != len)
        return RSP_ERR_INVAL;
    if (tag && t.tag != tag)
        return RSP_ERR_INVAL;
    return RSP_OK;
}

int lpa_es10b_get_euicc_info2(struct lpa_ctx *ctx, struct rsp_buf *out)
{
    GetEuiccInfo2Request_t req;

    memset(&req, 0, sizeof(req));
    return lpa_es10_get_tlv(ctx, &asn_DEF_GetEuiccInfo2Request, &req, 0xBF22, out);
}

/* An ES10b error code as data: 0 would read as success, the card sent
 * some error. */
static int error_code(long c)
{
    return c ? (int)c : 127;
}

/* Read the outcome of a response CHOICE { ok, error }: RSP_OK with *error
 * set (0 for the ok arm), RSP_ERR_DECODE for anything else. */
typedef int (*error_of_fn)(const void *resp, int *error);

static int asr_error(const void *p, int *error)
{
    const AuthenticateServerResponse_t *r = p;

    if (r->present == AuthenticateServerResponse_PR_authenticateResponseError &&
        r->choice.authenticateResponseError) {
        *error = error_code(r->choice.authenticateResponseError->authenticateErrorCode);
        return RSP_OK;
    }
    return r->present == AuthenticateServerResponse_PR_authenticateResponseOk ? RSP_OK
                                                                              : RSP_ERR_DECODE;
}

static int pdr_error(const void *p, int *error)
{
    const PrepareDownloadResponse_t *r = p;

    if (r->present == PrepareDownloadResponse_PR_downloadResponseError &&
        r->choice.downloadResponseError) {
        *error = error_code(r->choice.downloadResponseError->downloadErrorCode);
        return RSP_OK;
    }
    return r->present == PrepareDownloadResponse_PR_downloadResponseOk ? RSP_OK
                                                                       : RSP_ERR_DECODE;
}

static int csr_error(const void *p, int *error)
{
    const CancelSessionResponse_t *r = p;

    if (r->present == CancelSessionResponse_PR_cancelSessionResponseError) {
        *error = error_code(r->choice.cancelSessionResponseError);
        return RSP_OK;
    }
    return r->present == CancelSessionResponse_PR_cancelSessionResponseOk ? RSP_OK
                                                                          : RSP_ERR_DECODE;
}

/* Send the request q; the card's answer is kept raw in resp (it goes to the
 * SM-DP+ as the card signed it) and decoded as td only for its error code.
 * resp is initialised here and freed on failure. */
static int signed_call(struct lpa_ctx *ctx, const struct rsp_buf *q,
                       const asn_TYPE_descriptor_t *td, error_of_fn error_of,
                       struct rsp_buf *resp, int *error)
{
    void *r = NULL;
    int rc = lpa_es10_exchange(ctx, q->data, q->len, td, &r, resp);

    if (rc == RSP_OK && (rc = error_of(r, error)) < 0)
        rsp_buf_free(resp);
    rsp_asn1_free(td, r);
    return rc;
}

/* ctxParams1 (SGP.22 §5.7.13): the one part of AuthenticateServer the LPA
 * makes itself; encoded with asn1c so its DER is right by construction. */
static int encode_ctx_params1(const struct lpa_auth_server_in *in, struct rsp_buf *out)
{
    CtxParams1_t cp;
    CtxParamsForCommonAuthentication_t *ca;
    int rc = RSP_ERR_NOMEM;

    memset(&cp, 0, sizeof(cp));
    ca = calloc(1, sizeof(*ca));
    if (!ca)
        return RSP_ERR_NOMEM;
    cp.present = CtxParams1_PR_ctxParamsForCommonAuthentication;
    cp.choice.ctxParamsForCommonAuthentication = ca;
    if (in->matching_id) {
        ca->matchingId = calloc(1, sizeof(*ca->matchingId));
        if (!ca->matchingId ||
            rsp_asn1_octets_set(ca->matchingId, in->matching_id, strlen(in->matching_id)) < 0)
            goto out;
    }
    if (rsp_asn1_octets_set(&ca->deviceInfo.tac, in->tac, 4) < 0)
        goto out;
    if (in->imei) {
        ca->deviceInfo.imei = calloc(1, sizeof(*ca->deviceInfo.imei));
        if (!ca->deviceInfo.imei || rsp_asn1_octets_set(ca->deviceInfo.imei, in->imei, 8) < 0)
            goto out;
    }
    rc = rsp_asn1_encode(&asn_DEF_CtxParams1, &cp, out);
out:
    rsp_asn1_free_contents(&asn_DEF_CtxParams1, &cp);
    return rc;
}

int lpa_es10b_authenticate_server(struct lpa_ctx *ctx, const struct lpa_auth_server_in *in,
                                  struct rsp_buf *resp, int *error)
{
    struct rsp_buf v, q;
    int rc;

    if (!resp || !error)
        return RSP_ERR_INVAL;
    rsp_buf_init(resp, 0);
    *error = 0;
    if (!in || one_tlv(in->server_signed1, in->server_signed1_len, 0x30) ||
        one_tlv(in->server_sig1, in->server_sig1_len, 0x5F37) ||
        one_tlv(in->ci_pkid, in->ci_pkid_len, 0x04) ||
        one_tlv(in->server_cert, in->server_cert_len, 0x30) ||
        (in->matching_id && strlen(in->matching_id) > 255))
        return RSP_ERR_INVAL;
    rsp_buf_init(&v, REQ_MAX);
    rsp_buf_init(&q, REQ_MAX);
    rc = rsp_buf_append(&v, in->server_signed1, in->server_signed1_len);
    if (rc == RSP_OK)
        rc = rsp_buf_append(&v, in->server_sig1, in->server_sig1_len);
    if (rc == RSP_OK)
        rc = rsp_buf_append(&v, in->ci_pkid, in->ci_pkid_len);
    if (rc == RSP_OK)
        rc = rsp_buf_append(&v, in->server_cert, in->server_cert_len);
    if (rc == RSP_OK)
        rc = encode_ctx_params1(in, &v);
    if (rc == RSP_OK)
        rc = put_tlv(&q, 0xBF38, v.data, v.len);
    if (rc == RSP_OK)
        rc = signed_call(ctx, &q, &asn_DEF_AuthenticateServerResponse, asr_error, resp, error);
    rsp_buf_free(&v);
    rsp_buf_free(&q);
    return rc;
}

int lpa_es10b_prepare_download(struct lpa_ctx *ctx,
                               const uint8_t *smdp_signed2, size_t smdp_signed2_len,
                               const uint8_t *smdp_sig2, size_t smdp_sig2_len,
                               const uint8_t *smdp_cert, size_t smdp_cert_len,
                               const uint8_t *hash_cc, struct rsp_buf *resp, int *error)
{
    struct rsp_buf v, q;
    int rc;

    if (!resp || !error)
        return RSP_ERR_INVAL;
    rsp_buf_init(resp, 0);
    *error = 0;
    if (one_tlv(smdp_signed2, smdp_signed2_len, 0x30) ||
        one_tlv(smdp_sig2, smdp_sig2_len, 0x5F37) ||
        one_tlv(smdp_cert, smdp_cert_len, 0x30))
        return RSP_ERR_INVAL;
    rsp_buf_init(&v, REQ_MAX);
    rsp_buf_init(&q, REQ_MAX);
    rc = rsp_buf_append(&v, smdp_signed2, smdp_signed2_len);
    if (rc == RSP_OK)
        rc = rsp_buf_append(&v, smdp_sig2, smdp_sig2_len);
    if (rc == RSP_OK && hash_cc)
        rc = put_tlv(&v, 0x04, hash_cc, 32);
    if (rc == RSP_OK)
        rc = rsp_buf_append(&v, smdp_cert, smdp_cert_len);
    if (rc == RSP_OK)
        rc = put_tlv(&q, 0xBF21, v.data, v.len);
    if (rc == RSP_OK)
        rc = signed_call(ctx, &q, &asn_DEF_PrepareDownloadResponse, pdr_error, resp, error);
    rsp_buf_free(&v);
    rsp_buf_free(&q);
    return rc;
}

static void meta_copy(const NotificationMetadata_t *m, long *seq, char iccid[21],
                      char *address, size_t address_len)
{
    *seq = m->seqNumber;
    if (m->iccid && m->iccid->size == 10 && rsp_iccid_from_bcd(m->iccid->buf, 1, iccid) < 0)
        iccid[0] = '\0';
    if (address && address_len) {
        size_t n = m->notificationAddress.size;
        if (n >= address_len)
            n = address_len - 1;
        if (n)
            memcpy(address, m->notificationAddress.buf, n);
        address[n] = '\0';
    }
}

int lpa_es10b_pir_decode(const uint8_t *p, size_t len, struct lpa_load_result *out)
{
    ProfileInstallationResult_t *r = NULL;
    int rc;

    out->pir_present = 0;
    out->success = 0;
    out->bpp_command_id = out->error_reason = -1;
    out->seq = -1;
    out->iccid[0] = out->address[0] = '\0';
    out->tid_len = 0;
    rc = rsp_asn1_decode(&asn_DEF_ProfileInstallationResult, p, len, 64 * 1024, (void **)&r);
    if (rc < 0)
        return rc == RSP_ERR_NOMEM ? rc : RSP_ERR_DECODE;
    const ProfileInstallationResultData_t *d = &r->profileInstallationResultData;
    out->pir_present = 1;
    out->tid_len = 0;
    if (d->transactionId.size > 0 && (size_t)d->transactionId.size <= sizeof(out->tid)) {
        memcpy(out->tid, d->transactionId.buf, (size_t)d->transactionId.size);
        out->tid_len = (size_t)d->transactionId.size;
    }
    meta_copy(&d->notificationMetadata, &out->seq, out->iccid, out->address,
              sizeof(out->address));
    if (d->finalResult.present == ProfileInstallationResultData__finalResult_PR_successResult) {
        out->success = 1;
    } else if (d->finalResult.present == ProfileInstallationResultData__finalResult_PR_errorResult &&
               d->finalResult.choice.errorResult) {
        out->bpp_command_id = (int)d->finalResult.choice.errorResult->bppCommandId;
        out->error_reason = (int)d->finalResult.choice.errorResult->errorReason;
    }
    rsp_asn1_free(&asn_DEF_ProfileInstallationResult, r);
    return RSP_OK;
}

int lpa_es10b_load_bpp(struct lpa_ctx *ctx, const uint8_t *bpp, size_t bpp_len,
                       struct rsp_buf *pir, struct lpa_load_result *out)
{
    struct rsp_bpp_seg *segs = NULL;
    size_t n = 0;
    int rc;

    if (!pir || !out)
        return RSP_ERR_INVAL;
    rsp_buf_init(pir, 0);
    memset(out, 0, sizeof(*out));
    out->bpp_command_id = out->error_reason = -1;
    out->seq = -1;
    if (!bpp || !bpp_len)
        return RSP_ERR_INVAL;
    rc = rsp_bpp_split(bpp, bpp_len, &segs, &n);
    if (rc < 0)
        return rc == RSP_ERR_NOMEM ? rc : RSP_ERR_DECODE;
    out->segments_total = n;
    for (size_t i = 0; i < n; i++) {
        rc = lpa_es10_transact(ctx, bpp + segs[i].off, segs[i].len, pir);
        out->segments_sent = i + 1;
        if (rc < 0)
            goto out;
        /* The card answers nothing until the end, or a PIR as soon as a
         * segment fails (SGP.22 §5.7.6): stop there either way. */
        if (pir->len)
            break;
    }
    if (!pir->len) {
        rc = RSP_ERR_DECODE;   /* the whole BPP went in and no PIR came back */
        goto out;
    }
    rc = lpa_es10b_pir_decode(pir->data, pir->len, out);
out:
    if (rc < 0)
        rsp_buf_free(pir);
    free(segs);
    return rc;
}

int lpa_es10b_cancel_session(struct lpa_ctx *ctx, const uint8_t *tid, size_t tid_len,
                             int reason, struct rsp_buf *resp, int *error)
{
    CancelSessionRequest_t req;
    struct rsp_buf q;
    int rc;

    if (!resp || !error)
        return RSP_ERR_INVAL;
    rsp_buf_init(resp, 0);
    *error = 0;
    if (!tid || tid_len < 1 || tid_len > 16 || reason < 0 || reason > 127)
        return RSP_ERR_INVAL;
    memset(&req, 0, sizeof(req));
    rsp_buf_init(&q, 256);
    rc = rsp_asn1_octets_set(&req.transactionId, tid, tid_len);
    req.reason = reason;
    if (rc == RSP_OK)
        rc = rsp_asn1_encode(&asn_DEF_CancelSessionRequest, &req, &q);
    if (rc == RSP_OK)
        rc = signed_call(ctx, &q, &asn_DEF_CancelSessionResponse, csr_error, resp, error);
    rsp_asn1_free_contents(&asn_DEF_CancelSessionRequest, &req);
    rsp_buf_free(&q);
    return rc;
}

void lpa_pending_list_free(struct lpa_pending_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i].address);
        free(l->items[i].der);
    }
    free(l->items);
    memset(l, 0, sizeof(*l));
}

int lpa_es10b_retrieve_notifications(struct lpa_ctx *ctx, long seq,
                                     struct lpa_pending_list *out)
{
    RetrieveNotificationsListRequest_t req;
    RetrieveNotificationsListResponse_t *r = NULL;
    struct rsp_buf resp;
    struct rsp_tlv top, lst, el;
    size_t pos = 0;
    int rc;

    if (!out)
        return RSP_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    memset(&req, 0, sizeof(req));
    rsp_buf_init(&resp, 0);
    if (seq >= 0) {
        req.searchCriteria = calloc(1, sizeof(*req.searchCriteria));
        if (!req.searchCriteria) {
            rc = RSP_ERR_NOMEM;
            goto out;
        }
        req.searchCriteria->present = RetrieveNotificationsListRequest__searchCriteria_PR_seqNumber;
        req.searchCriteria->choice.seqNumber = seq;
    }
    /* the raw elements go to the SM-DP+: keep the response bytes */
    rc = lpa_es10_call(ctx, &asn_DEF_RetrieveNotificationsListRequest, &req,
                       &asn_DEF_RetrieveNotificationsListResponse, (void **)&r, &resp);
    if (rc < 0)
        goto out;
    if (r->present == RetrieveNotificationsListResponse_PR_notificationsListResultError) {
        out->error = r->choice.notificationsListResultError ?
                     (int)r->choice.notificationsListResultError : 127;
        goto out;
    }
    if (r->present != RetrieveNotificationsListResponse_PR_notificationList ||
        !r->choice.notificationList) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    /* The raw element bytes go to the SM-DP+ (the card signed them): walk
     * the TLVs in step with the decoded list. */
    if (rsp_tlv_parse(resp.data, resp.len, &top) < 0 ||
        rsp_tlv_parse(top.val, top.val_len, &lst) < 0 || lst.tag != 0xA0) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    size_t n = (size_t)r->choice.notificationList->list.count;
    out->items = n ? calloc(n, sizeof(*out->items)) : NULL;
    if (n && !out->items) {
        rc = RSP_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const PendingNotification_t *pn = r->choice.notificationList->list.array[i];
        const NotificationMetadata_t *m = NULL;
        struct lpa_pending_notification *o = &out->items[i];
        char iccid[21] = "";

        out->count = i + 1;
        if (rsp_tlv_next(lst.val, lst.val_len, &pos, &el) != 1) {
            rc = RSP_ERR_DECODE;
            goto out;
        }
        if (pn->present == PendingNotification_PR_profileInstallationResult &&
            pn->choice.profileInstallationResult)
            m = &pn->choice.profileInstallationResult->profileInstallationResultData.notificationMetadata;
        else if (pn->present == PendingNotification_PR_otherSignedNotification &&
                 pn->choice.otherSignedNotification)
            m = &pn->choice.otherSignedNotification->tbsOtherNotification;
        if (!m) {
            rc = RSP_ERR_DECODE;
            goto out;
        }
        o->event = rsp_asn1_named_bits_get(&m->profileManagementOperation);
        o->address = malloc(m->notificationAddress.size + 1);
        o->der = malloc(el.tlv_len);
        if (!o->address || !o->der) {
            rc = RSP_ERR_NOMEM;
            goto out;
        }
        meta_copy(m, &o->seq, iccid, o->address, m->notificationAddress.size + 1);
        memcpy(o->der, el.tlv, el.tlv_len);
        o->der_len = el.tlv_len;
    }
out:
    if (rc < 0)
        lpa_pending_list_free(out);
    rsp_asn1_free_contents(&asn_DEF_RetrieveNotificationsListRequest, &req);
    rsp_asn1_free(&asn_DEF_RetrieveNotificationsListResponse, r);
    rsp_buf_free(&resp);
    return rc;
}

/* ---- GetRAT (§5.7.22) and the PPR check (§2.9.2.2) ---- */

void lpa_rat_free(struct lpa_rat *rat)
{
    if (!rat)
        return;
    for (size_t i = 0; i < rat->count; i++)
        free(rat->rules[i].ops);
    free(rat->rules);
    memset(rat, 0, sizeof(*rat));
}

static int gid_copy(const OCTET_STRING_t *g, uint8_t out[LPA_GID_MAX], int *len)
{
    *len = -1;
    if (!g)
        return RSP_OK;
    if (g->size < 0 || (size_t)g->size > LPA_GID_MAX)
        return RSP_ERR_DECODE;
    if (g->size)
        memcpy(out, g->buf, (size_t)g->size);
    *len = (int)g->size;
    return RSP_OK;
}

static int operator_copy(const OperatorId_t *o, struct lpa_operator_id *out)
{
    memset(out, 0, sizeof(*out));
    if (!o || o->mccMnc.size != 3)
        return RSP_ERR_DECODE;
    memcpy(out->mcc_mnc, o->mccMnc.buf, 3);
    if (gid_copy(o->gid1, out->gid1, &out->gid1_len) < 0 ||
        gid_copy(o->gid2, out->gid2, &out->gid2_len) < 0)
        return RSP_ERR_DECODE;
    return RSP_OK;
}

int lpa_es10b_get_rat(struct lpa_ctx *ctx, struct lpa_rat *out)
{
    GetRatRequest_t req;
    GetRatResponse_t *r = NULL;
    int rc;

    if (!out)
        return RSP_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    memset(&req, 0, sizeof(req));
    rc = lpa_es10_call(ctx, &asn_DEF_GetRatRequest, &req, &asn_DEF_GetRatResponse, (void **)&r,
                       NULL);
    if (rc < 0)
        goto out;
    size_t n = (size_t)r->rat.list.count;
    out->rules = n ? calloc(n, sizeof(*out->rules)) : NULL;
    if (n && !out->rules) {
        rc = RSP_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const ProfilePolicyAuthorisationRule_t *pr = r->rat.list.array[i];
        struct lpa_ppar *o = &out->rules[i];

        out->count = i + 1;
        if (!pr) {
            rc = RSP_ERR_DECODE;
            goto out;
        }
        o->ppr_ids = rsp_asn1_named_bits_get(&pr->pprIds);
        o->consent_required =
            (rsp_asn1_named_bits_get(&pr->pprFlags) &
             (1u << ProfilePolicyAuthorisationRule__pprFlags_consentRequired)) != 0;
        size_t k = (size_t)pr->allowedOperators.list.count;
        o->ops = k ? calloc(k, sizeof(*o->ops)) : NULL;
        if (k && !o->ops) {
            rc = RSP_ERR_NOMEM;
            goto out;
        }
        for (size_t j = 0; j < k; j++) {
            if ((rc = operator_copy(pr->allowedOperators.list.array[j], &o->ops[j])) < 0)
                goto out;
            o->n_ops = j + 1;
        }
    }
out:
    if (rc < 0)
        lpa_rat_free(out);
    rsp_asn1_free(&asn_DEF_GetRatResponse, r);
    return rc;
}

static int gid_match(const uint8_t *rule, int rule_len, const uint8_t *own, int own_len)
{
    if (rule_len < 0)
        return 1;
    return own_len == rule_len && (rule_len == 0 || !memcmp(rule, own, (size_t)rule_len));
}

int lpa_operator_match(const struct lpa_operator_id *rule, const struct lpa_operator_id *owner)
{
    if (!rule || !owner)
        return 0;
    for (int i = 0; i < 3; i++) {
        uint8_t rh = rule->mcc_mnc[i] >> 4, rl = rule->mcc_mnc[i] & 0x0F;
        uint8_t oh = owner->mcc_mnc[i] >> 4, ol = owner->mcc_mnc[i] & 0x0F;
        if ((rh != 0xE && rh != oh) || (rl != 0xE && rl != ol))
            return 0;
    }
    return gid_match(rule->gid1, rule->gid1_len, owner->gid1, owner->gid1_len) &&
           gid_match(rule->gid2, rule->gid2_len, owner->gid2, owner->gid2_len);
}

void lpa_rat_check(const struct lpa_rat *rat, unsigned ppr_mask,
                   const struct lpa_operator_id *owner, unsigned *not_allowed, int *consent)
{
    static const unsigned checked[] = { LPA_PPR1, LPA_PPR2 };

    *not_allowed = 0;
    *consent = 0;
    for (size_t b = 0; b < sizeof(checked) / sizeof(checked[0]); b++) {
        const struct lpa_ppar *hit = NULL;

        if (!(ppr_mask & checked[b]))
            continue;
        for (size_t i = 0; owner && rat && i < rat->count && !hit; i++) {
            const struct lpa_ppar *r = &rat->rules[i];
            if (!(r->ppr_ids & checked[b]))
                continue;
            for (size_t j = 0; j < r->n_ops && !hit; j++)
                if (lpa_operator_match(&r->ops[j], owner))
                    hit = r;
        }
        if (!hit)
            *not_allowed |= checked[b];
        else if (hit->consent_required)
            *consent = 1;
    }
}

/* ---- LoadCRL (§5.7.12) ---- */

static int crl_result(const LoadCRLResponse_t *r, struct lpa_crl_result *out)
{
    if (r->present == LoadCRLResponse_PR_loadCRLResponseError) {
        out->error = error_code(r->choice.loadCRLResponseError);
        return RSP_OK;
    }
    if (r->present != LoadCRLResponse_PR_loadCRLResponseOk || !r->choice.loadCRLResponseOk)
        return RSP_ERR_DECODE;
    const struct LoadCRLResponseOk__missingParts *mp = r->choice.loadCRLResponseOk->missingParts;
    if (!mp)
        return RSP_OK;
    if (mp->list.count < 0 || (size_t)mp->list.count > LPA_CRL_MISSING_MAX)
        return RSP_ERR_DECODE;
    for (int i = 0; i < mp->list.count; i++) {
        if (!mp->list.array[i])
            return RSP_ERR_DECODE;
        out->missing[i] = *mp->list.array[i];
        out->n_missing = (size_t)i + 1;
    }
    return RSP_OK;
}

int lpa_es10b_load_crl(struct lpa_ctx *ctx, const uint8_t *crl, size_t crl_len,
                       struct lpa_crl_result *out)
{
    LoadCRLRequest_t req;
    CertificateList_t *cl = NULL;
    LoadCRLResponse_t *r = NULL;
    int rc;

    if (!out)
        return RSP_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    if (!crl || !crl_len)
        return RSP_ERR_INVAL;
    /* Checked before the card sees it: exactly one DER CertificateList.
     * Its TBSCertList and AlgorithmIdentifier are ANY (kept as received)
     * and the signature BIT STRING re-encodes to the same DER, so the card
     * gets the CRL's contents byte for byte as the CI signed them, under
     * the [0] tag (A0) automatic tagging gives crl in LoadCRLRequest. */
    rc = rsp_asn1_decode(&asn_DEF_CertificateList, crl, crl_len, LPA_ES10_REQ_MAX, (void **)&cl);
    if (rc < 0)
        return rc == RSP_ERR_NOMEM || rc == RSP_ERR_TOOBIG ? rc : RSP_ERR_INVAL;
    memset(&req, 0, sizeof(req));
    req.crl = *cl;                /* moved: the shell is freed empty */
    memset(cl, 0, sizeof(*cl));
    rsp_asn1_free(&asn_DEF_CertificateList, cl);
    rc = lpa_es10_call(ctx, &asn_DEF_LoadCRLRequest, &req, &asn_DEF_LoadCRLResponse, (void **)&r,
                       NULL);
    if (rc == RSP_OK)
        rc = crl_result(r, out);
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    rsp_asn1_free_contents(&asn_DEF_LoadCRLRequest, &req);
    rsp_asn1_free(&asn_DEF_LoadCRLResponse, r);
    return rc;
}
