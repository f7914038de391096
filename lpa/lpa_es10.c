/* lpa_es10.c - ES10a/b/c helpers (SGP.22 §5.7): encode the request, run
 * it through lpa_es10_transact, decode the response into plain structs. */
#include <stdlib.h>
#include <string.h>

#include "lpa.h"
#include "lpa.private.h"
#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_util.h"

#include <DeleteProfileRequest.h>
#include <DeleteProfileResponse.h>
#include <DisableProfileRequest.h>
#include <DisableProfileResponse.h>
#include <EnableProfileRequest.h>
#include <EnableProfileResponse.h>
#include <EuiccConfiguredAddressesRequest.h>
#include <EuiccConfiguredAddressesResponse.h>
#include <EuiccMemoryResetRequest.h>
#include <EuiccMemoryResetResponse.h>
#include <GetEuiccChallengeRequest.h>
#include <GetEuiccChallengeResponse.h>
#include <GetEuiccDataRequest.h>
#include <GetEuiccDataResponse.h>
#include <GetEuiccInfo1Request.h>
#include <ListNotificationRequest.h>
#include <ListNotificationResponse.h>
#include <NotificationMetadata.h>
#include <NotificationSentRequest.h>
#include <NotificationSentResponse.h>
#include <ProfileInfo.h>
#include <ProfileInfoListRequest.h>
#include <ProfileInfoListResponse.h>
#include <SetDefaultDpAddressRequest.h>
#include <SetDefaultDpAddressResponse.h>
#include <SetNicknameRequest.h>
#include <SetNicknameResponse.h>

int lpa_es10_exchange(struct lpa_ctx *ctx, const uint8_t *cmd, size_t len,
                      const asn_TYPE_descriptor_t *td_resp, void **out, struct rsp_buf *raw)
{
    struct rsp_buf r;
    int rc;

    *out = NULL;
    rsp_buf_init(&r, 0);
    rc = lpa_es10_transact(ctx, cmd, len, &r);
    if (rc == RSP_OK && !r.data)
        rc = RSP_ERR_DECODE;
    if (rc == RSP_OK) {
        /* the response is already within max_response: only DECODE/NOMEM */
        rc = rsp_asn1_decode(td_resp, r.data, r.len, ctx->max_response, out);
        if (rc < 0 && rc != RSP_ERR_NOMEM)
            rc = RSP_ERR_DECODE;
    }
    if (raw && rc == RSP_OK)
        *raw = r;
    else
        rsp_buf_free(&r);
    if (raw && rc < 0)
        rsp_buf_init(raw, 0);
    return rc;
}

int lpa_es10_call(struct lpa_ctx *ctx, const asn_TYPE_descriptor_t *td_req, const void *req,
                  const asn_TYPE_descriptor_t *td_resp, void **out, struct rsp_buf *raw)
{
    struct rsp_buf q;
    int rc;

    *out = NULL;
    if (raw)
        rsp_buf_init(raw, 0);
    rsp_buf_init(&q, LPA_ES10_REQ_MAX);
    rc = rsp_asn1_encode(td_req, req, &q);
    if (rc == RSP_OK)
        rc = lpa_es10_exchange(ctx, q.data, q.len, td_resp, out, raw);
    rsp_buf_free(&q);
    return rc;
}

int lpa_es10_get_tlv(struct lpa_ctx *ctx, const asn_TYPE_descriptor_t *td_req, const void *req,
                     uint32_t tag, struct rsp_buf *out)
{
    struct rsp_buf q;
    struct rsp_tlv t;
    int rc;

    if (!out)
        return RSP_ERR_INVAL;
    rsp_buf_init(out, 0);
    rsp_buf_init(&q, 64);
    rc = rsp_asn1_encode(td_req, req, &q);
    if (rc == RSP_OK)
        rc = lpa_es10_transact(ctx, q.data, q.len, out);
    if (rc == RSP_OK && (!out->data || rsp_tlv_parse(out->data, out->len, &t) < 0 ||
                         t.tag != tag || t.tlv_len != out->len)) {
        rsp_buf_free(out);
        rc = RSP_ERR_DECODE;
    }
    rsp_buf_free(&q);
    return rc;
}

/* Copy an OCTET STRING / UTF8String into a fresh NUL-terminated string. */
static int dup_string(const OCTET_STRING_t *os, char **out)
{
    *out = malloc(os->size + 1);
    if (!*out)
        return RSP_ERR_NOMEM;
    if (os->size)
        memcpy(*out, os->buf, os->size);
    (*out)[os->size] = '\0';
    return RSP_OK;
}

static int iccid_text(const OCTET_STRING_t *os, char out[21])
{
    if (os->size != 10)
        return RSP_ERR_DECODE;
    return rsp_iccid_from_bcd(os->buf, 1, out) < 0 ? RSP_ERR_DECODE : RSP_OK;
}

int lpa_get_eid(struct lpa_ctx *ctx, char eid[33])
{
    GetEuiccDataRequest_t req;
    GetEuiccDataResponse_t *resp = NULL;
    uint8_t tag = 0x5A;  /* tagList: the EID (SGP.22 §5.7.20) */
    int rc;

    if (!eid)
        return RSP_ERR_INVAL;
    eid[0] = '\0';
    memset(&req, 0, sizeof(req));
    rc = rsp_asn1_octets_set(&req.tagList, &tag, 1);
    if (rc < 0)
        goto out;
    rc = lpa_es10_call(ctx, &asn_DEF_GetEuiccDataRequest, &req,
                   &asn_DEF_GetEuiccDataResponse, (void **)&resp, NULL);
    if (rc < 0)
        goto out;
    if (resp->eidValue.size != 16) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    rsp_eid_from_bytes(resp->eidValue.buf, eid);
out:
    rsp_asn1_free_contents(&asn_DEF_GetEuiccDataRequest, &req);
    rsp_asn1_free(&asn_DEF_GetEuiccDataResponse, resp);
    return rc;
}

int lpa_get_euicc_challenge(struct lpa_ctx *ctx, uint8_t challenge[16])
{
    GetEuiccChallengeRequest_t req;
    GetEuiccChallengeResponse_t *resp = NULL;
    int rc;

    if (!challenge)
        return RSP_ERR_INVAL;
    memset(&req, 0, sizeof(req));
    rc = lpa_es10_call(ctx, &asn_DEF_GetEuiccChallengeRequest, &req,
                   &asn_DEF_GetEuiccChallengeResponse, (void **)&resp, NULL);
    if (rc < 0)
        goto out;
    if (resp->euiccChallenge.size != 16) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    memcpy(challenge, resp->euiccChallenge.buf, 16);
out:
    rsp_asn1_free(&asn_DEF_GetEuiccChallengeResponse, resp);
    return rc;
}

int lpa_get_euicc_info1(struct lpa_ctx *ctx, struct rsp_buf *out)
{
    GetEuiccInfo1Request_t req;

    memset(&req, 0, sizeof(req));
    /* Raw bytes are handed on (to ES9+ InitiateAuthentication), but they
     * must at least be one EUICCInfo1 TLV. */
    return lpa_es10_get_tlv(ctx, &asn_DEF_GetEuiccInfo1Request, &req, 0xBF20, out);
}

void lpa_profile_list_free(struct lpa_profile_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].nickname);
        free(list->items[i].spn);
        free(list->items[i].name);
    }
    free(list->items);
    memset(list, 0, sizeof(*list));
}

static int profile_from_asn1(const ProfileInfo_t *pi, struct lpa_profile *p)
{
    int rc;

    p->state = LPA_PROFILE_STATE_ABSENT;
    p->profile_class = LPA_PROFILE_CLASS_ABSENT;
    if (pi->iccid && (rc = iccid_text(pi->iccid, p->iccid)) < 0)
        return rc;
    if (pi->isdpAid) {
        if (pi->isdpAid->size > 16)
            return RSP_ERR_DECODE;
        rsp_hex_encode(pi->isdpAid->buf, pi->isdpAid->size, p->isdp_aid);
    }
    if (pi->profileState)
        p->state = (int)*pi->profileState;
    if (pi->profileClass)
        p->profile_class = (int)*pi->profileClass;
    if (pi->profileNickname && (rc = dup_string(pi->profileNickname, &p->nickname)) < 0)
        return rc;
    if (pi->serviceProviderName && (rc = dup_string(pi->serviceProviderName, &p->spn)) < 0)
        return rc;
    if (pi->profileName && (rc = dup_string(pi->profileName, &p->name)) < 0)
        return rc;
    return RSP_OK;
}

/* Fill an ISD-P AID or ICCID identifier; returns the CHOICE index taken. */
static int set_profile_id(enum lpa_profile_id_kind kind, const char *id,
                          OCTET_STRING_t *aid, OCTET_STRING_t *iccid, int *is_aid)
{
    uint8_t b[16];
    size_t n;

    if (!id)
        return RSP_ERR_INVAL;
    n = strlen(id);
    if (kind == LPA_ID_AID) {
        if (n < 10 || n > 32 || n % 2)
            return RSP_ERR_INVAL;
        if (rsp_hex_decode(id, n, b, sizeof(b)) < 0)
            return RSP_ERR_INVAL;
        *is_aid = 1;
        return rsp_asn1_octets_set(aid, b, n / 2);
    }
    if (kind != LPA_ID_ICCID || rsp_iccid_to_bcd(id, 1, b) < 0)
        return RSP_ERR_INVAL;
    *is_aid = 0;
    return rsp_asn1_octets_set(iccid, b, 10);
}

/* The ProfileInfo tags of the LPA_PI_* bits, in bit order (§5.7.15). */
static const struct {
    uint8_t len, tag[2];
} pi_tags[] = {
    { 1, { 0x5A } }, { 1, { 0x4F } }, { 2, { 0x9F, 0x70 } }, { 1, { 0x90 } },
    { 1, { 0x91 } }, { 1, { 0x92 } }, { 1, { 0x95 } },
};
#define PI_ALL ((1u << (sizeof(pi_tags) / sizeof(pi_tags[0]))) - 1u)

/* searchCriteria and tagList of a ProfileInfoListRequest from q. */
static int profiles_request(const struct lpa_profile_query *q, ProfileInfoListRequest_t *req)
{
    struct ProfileInfoListRequest__searchCriteria *sc;
    uint8_t tags[2 * sizeof(pi_tags) / sizeof(pi_tags[0])];
    size_t n = 0;
    int is_aid = 0, rc;

    if (!q)
        return RSP_OK;
    if (q->fields & ~PI_ALL)
        return RSP_ERR_INVAL;
    if (q->search != LPA_SEARCH_ALL) {
        sc = req->searchCriteria = calloc(1, sizeof(*sc));
        if (!sc)
            return RSP_ERR_NOMEM;
        switch (q->search) {
        case LPA_SEARCH_ICCID:
        case LPA_SEARCH_AID:
            rc = set_profile_id(q->search == LPA_SEARCH_AID ? LPA_ID_AID : LPA_ID_ICCID, q->id,
                                &sc->choice.isdpAid, &sc->choice.iccid, &is_aid);
            if (rc < 0)
                return rc;
            sc->present = is_aid ? ProfileInfoListRequest__searchCriteria_PR_isdpAid
                                 : ProfileInfoListRequest__searchCriteria_PR_iccid;
            break;
        case LPA_SEARCH_CLASS:
            if (q->profile_class < LPA_PROFILE_CLASS_TEST ||
                q->profile_class > LPA_PROFILE_CLASS_OPERATIONAL)
                return RSP_ERR_INVAL;
            sc->present = ProfileInfoListRequest__searchCriteria_PR_profileClass;
            sc->choice.profileClass = q->profile_class;
            break;
        default:
            return RSP_ERR_INVAL;
        }
    }
    if (!q->fields)
        return RSP_OK;
    for (size_t i = 0; i < sizeof(pi_tags) / sizeof(pi_tags[0]); i++) {
        if (!(q->fields & (1u << i)))
            continue;
        memcpy(tags + n, pi_tags[i].tag, pi_tags[i].len);
        n += pi_tags[i].len;
    }
    req->tagList = calloc(1, sizeof(*req->tagList));
    if (!req->tagList)
        return RSP_ERR_NOMEM;
    return rsp_asn1_octets_set(req->tagList, tags, n);
}

int lpa_get_profiles_info_query(struct lpa_ctx *ctx, const struct lpa_profile_query *q,
                                struct lpa_profile_list *out)
{
    ProfileInfoListRequest_t req;
    ProfileInfoListResponse_t *resp = NULL;
    int rc;

    if (!out)
        return RSP_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    memset(&req, 0, sizeof(req));
    rc = profiles_request(q, &req);
    if (rc < 0)
        goto out;
    rc = lpa_es10_call(ctx, &asn_DEF_ProfileInfoListRequest, &req,
                       &asn_DEF_ProfileInfoListResponse, (void **)&resp, NULL);
    if (rc < 0)
        goto out;
    if (resp->present == ProfileInfoListResponse_PR_profileInfoListError) {
        /* An error of 0 would read as success; the card sent some error. */
        out->error = resp->choice.profileInfoListError ? (int)resp->choice.profileInfoListError : 127;
        goto out;
    }
    if (resp->present != ProfileInfoListResponse_PR_profileInfoListOk ||
        !resp->choice.profileInfoListOk) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    size_t n = (size_t)resp->choice.profileInfoListOk->list.count;
    out->items = n ? calloc(n, sizeof(*out->items)) : NULL;
    if (n && !out->items) {
        rc = RSP_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        out->count = i + 1;
        rc = profile_from_asn1(resp->choice.profileInfoListOk->list.array[i], &out->items[i]);
        if (rc < 0)
            goto out;
    }
out:
    if (rc < 0)
        lpa_profile_list_free(out);
    rsp_asn1_free_contents(&asn_DEF_ProfileInfoListRequest, &req);
    rsp_asn1_free(&asn_DEF_ProfileInfoListResponse, resp);
    return rc;
}

int lpa_get_profiles_info(struct lpa_ctx *ctx, struct lpa_profile_list *out)
{
    return lpa_get_profiles_info_query(ctx, NULL, out);
}


int lpa_enable_profile(struct lpa_ctx *ctx, enum lpa_profile_id_kind kind,
                       const char *id, int refresh, int *result)
{
    EnableProfileRequest_t req;
    EnableProfileResponse_t *resp = NULL;
    int rc, is_aid = 0;

    if (!result)
        return RSP_ERR_INVAL;
    memset(&req, 0, sizeof(req));
    rc = set_profile_id(kind, id, &req.profileIdentifier.choice.isdpAid,
                        &req.profileIdentifier.choice.iccid, &is_aid);
    if (rc < 0)
        goto out;
    req.profileIdentifier.present = is_aid ? EnableProfileRequest__profileIdentifier_PR_isdpAid
                                           : EnableProfileRequest__profileIdentifier_PR_iccid;
    req.refreshFlag = refresh ? 1 : 0;
    rc = lpa_es10_call(ctx, &asn_DEF_EnableProfileRequest, &req,
                   &asn_DEF_EnableProfileResponse, (void **)&resp, NULL);
    if (rc == RSP_OK)
        *result = (int)resp->enableResult;
out:
    rsp_asn1_free_contents(&asn_DEF_EnableProfileRequest, &req);
    rsp_asn1_free(&asn_DEF_EnableProfileResponse, resp);
    return rc;
}

int lpa_disable_profile(struct lpa_ctx *ctx, enum lpa_profile_id_kind kind,
                        const char *id, int refresh, int *result)
{
    DisableProfileRequest_t req;
    DisableProfileResponse_t *resp = NULL;
    int rc, is_aid = 0;

    if (!result)
        return RSP_ERR_INVAL;
    memset(&req, 0, sizeof(req));
    rc = set_profile_id(kind, id, &req.profileIdentifier.choice.isdpAid,
                        &req.profileIdentifier.choice.iccid, &is_aid);
    if (rc < 0)
        goto out;
    req.profileIdentifier.present = is_aid ? DisableProfileRequest__profileIdentifier_PR_isdpAid
                                           : DisableProfileRequest__profileIdentifier_PR_iccid;
    req.refreshFlag = refresh ? 1 : 0;
    rc = lpa_es10_call(ctx, &asn_DEF_DisableProfileRequest, &req,
                   &asn_DEF_DisableProfileResponse, (void **)&resp, NULL);
    if (rc == RSP_OK)
        *result = (int)resp->disableResult;
out:
    rsp_asn1_free_contents(&asn_DEF_DisableProfileRequest, &req);
    rsp_asn1_free(&asn_DEF_DisableProfileResponse, resp);
    return rc;
}

int lpa_delete_profile(struct lpa_ctx *ctx, enum lpa_profile_id_kind kind,
                       const char *id, int *result)
{
    DeleteProfileRequest_t req;
    DeleteProfileResponse_t *resp = NULL;
    int rc, is_aid = 0;

    if (!result)
        return RSP_ERR_INVAL;
    memset(&req, 0, sizeof(req));
    rc = set_profile_id(kind, id, &req.choice.isdpAid, &req.choice.iccid, &is_aid);
    if (rc < 0)
        goto out;
    req.present = is_aid ? DeleteProfileRequest_PR_isdpAid : DeleteProfileRequest_PR_iccid;
    rc = lpa_es10_call(ctx, &asn_DEF_DeleteProfileRequest, &req,
                   &asn_DEF_DeleteProfileResponse, (void **)&resp, NULL);
    if (rc == RSP_OK)
        *result = (int)resp->deleteResult;
out:
    rsp_asn1_free_contents(&asn_DEF_DeleteProfileRequest, &req);
    rsp_asn1_free(&asn_DEF_DeleteProfileResponse, resp);
    return rc;
}

int lpa_set_nickname(struct lpa_ctx *ctx, const char *iccid, const char *nickname,
                     int *result)
{
    SetNicknameRequest_t req;
    SetNicknameResponse_t *resp = NULL;
    uint8_t b[10];
    int rc;

    if (!iccid || !nickname || !result || strlen(nickname) > 64)
        return RSP_ERR_INVAL;
    if (rsp_iccid_to_bcd(iccid, 1, b) < 0)
        return RSP_ERR_INVAL;
    memset(&req, 0, sizeof(req));
    rc = rsp_asn1_octets_set(&req.iccid, b, sizeof(b));
    if (rc == RSP_OK)
        rc = rsp_asn1_octets_set(&req.profileNickname, nickname, strlen(nickname));
    if (rc < 0)
        goto out;
    rc = lpa_es10_call(ctx, &asn_DEF_SetNicknameRequest, &req,
                   &asn_DEF_SetNicknameResponse, (void **)&resp, NULL);
    if (rc == RSP_OK)
        *result = (int)resp->setNicknameResult;
out:
    rsp_asn1_free_contents(&asn_DEF_SetNicknameRequest, &req);
    rsp_asn1_free(&asn_DEF_SetNicknameResponse, resp);
    return rc;
}

void lpa_notification_list_free(struct lpa_notification_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i].address);
    free(list->items);
    memset(list, 0, sizeof(*list));
}

int lpa_list_notifications(struct lpa_ctx *ctx, struct lpa_notification_list *out)
{
    ListNotificationRequest_t req;
    ListNotificationResponse_t *resp = NULL;
    int rc;

    if (!out)
        return RSP_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    memset(&req, 0, sizeof(req));
    rc = lpa_es10_call(ctx, &asn_DEF_ListNotificationRequest, &req,
                   &asn_DEF_ListNotificationResponse, (void **)&resp, NULL);
    if (rc < 0)
        goto out;
    if (resp->present == ListNotificationResponse_PR_listNotificationsResultError) {
        out->error = resp->choice.listNotificationsResultError ?
                     (int)resp->choice.listNotificationsResultError : 127;
        goto out;
    }
    if (resp->present != ListNotificationResponse_PR_notificationMetadataList ||
        !resp->choice.notificationMetadataList) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    size_t n = (size_t)resp->choice.notificationMetadataList->list.count;
    out->items = n ? calloc(n, sizeof(*out->items)) : NULL;
    if (n && !out->items) {
        rc = RSP_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const NotificationMetadata_t *m = resp->choice.notificationMetadataList->list.array[i];
        struct lpa_notification *o = &out->items[i];
        out->count = i + 1;
        o->seq = m->seqNumber;
        o->event = rsp_asn1_named_bits_get(&m->profileManagementOperation);
        rc = dup_string(&m->notificationAddress, &o->address);
        if (rc == RSP_OK && m->iccid)
            rc = iccid_text(m->iccid, o->iccid);
        if (rc < 0)
            goto out;
    }
out:
    if (rc < 0)
        lpa_notification_list_free(out);
    rsp_asn1_free(&asn_DEF_ListNotificationResponse, resp);
    return rc;
}

int lpa_remove_notification(struct lpa_ctx *ctx, long seq, int *result)
{
    NotificationSentRequest_t req;
    NotificationSentResponse_t *resp = NULL;
    int rc;

    if (!result || seq < 0)
        return RSP_ERR_INVAL;
    memset(&req, 0, sizeof(req));
    req.seqNumber = seq;
    rc = lpa_es10_call(ctx, &asn_DEF_NotificationSentRequest, &req,
                   &asn_DEF_NotificationSentResponse, (void **)&resp, NULL);
    if (rc == RSP_OK)
        *result = (int)resp->deleteNotificationStatus;
    rsp_asn1_free(&asn_DEF_NotificationSentResponse, resp);
    return rc;
}

void lpa_addresses_free(struct lpa_addresses *a)
{
    if (!a)
        return;
    free(a->default_dp);
    free(a->root_ds);
    memset(a, 0, sizeof(*a));
}

int lpa_get_configured_addresses(struct lpa_ctx *ctx, struct lpa_addresses *out)
{
    EuiccConfiguredAddressesRequest_t req;
    EuiccConfiguredAddressesResponse_t *resp = NULL;
    int rc;

    if (!out)
        return RSP_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    memset(&req, 0, sizeof(req));
    rc = lpa_es10_call(ctx, &asn_DEF_EuiccConfiguredAddressesRequest, &req,
                   &asn_DEF_EuiccConfiguredAddressesResponse, (void **)&resp, NULL);
    if (rc < 0)
        goto out;
    if (resp->defaultDpAddress)
        rc = dup_string(resp->defaultDpAddress, &out->default_dp);
    if (rc == RSP_OK)
        rc = dup_string(&resp->rootDsAddress, &out->root_ds);
    if (rc < 0)
        lpa_addresses_free(out);
out:
    rsp_asn1_free(&asn_DEF_EuiccConfiguredAddressesResponse, resp);
    return rc;
}

int lpa_set_default_dp_address(struct lpa_ctx *ctx, const char *address, int *result)
{
    SetDefaultDpAddressRequest_t req;
    SetDefaultDpAddressResponse_t *resp = NULL;
    int rc;

    if (!address || !result || strlen(address) > 255)
        return RSP_ERR_INVAL;
    memset(&req, 0, sizeof(req));
    rc = rsp_asn1_octets_set(&req.defaultDpAddress, address, strlen(address));
    if (rc < 0)
        goto out;
    rc = lpa_es10_call(ctx, &asn_DEF_SetDefaultDpAddressRequest, &req,
                   &asn_DEF_SetDefaultDpAddressResponse, (void **)&resp, NULL);
    if (rc == RSP_OK)
        *result = (int)resp->setDefaultDpAddressResult;
out:
    rsp_asn1_free_contents(&asn_DEF_SetDefaultDpAddressRequest, &req);
    rsp_asn1_free(&asn_DEF_SetDefaultDpAddressResponse, resp);
    return rc;
}

int lpa_euicc_memory_reset(struct lpa_ctx *ctx, unsigned options, int *result)
{
    EuiccMemoryResetRequest_t req;
    EuiccMemoryResetResponse_t *resp = NULL;
    int rc;

    if (!result || options == 0 || options > 7)
        return RSP_ERR_INVAL;
    memset(&req, 0, sizeof(req));
    rc = rsp_asn1_named_bits_set(&req.resetOptions, options);
    if (rc < 0)
        goto out;
    rc = lpa_es10_call(ctx, &asn_DEF_EuiccMemoryResetRequest, &req,
                   &asn_DEF_EuiccMemoryResetResponse, (void **)&resp, NULL);
    if (rc == RSP_OK)
        *result = (int)resp->resetResult;
out:
    rsp_asn1_free_contents(&asn_DEF_EuiccMemoryResetRequest, &req);
    rsp_asn1_free(&asn_DEF_EuiccMemoryResetResponse, resp);
    return rc;
}
