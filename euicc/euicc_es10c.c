/*
 * euicc_es10c.c - ES10c, local profile management (SGP.22 v2.5 §5.7.14 -
 * §5.7.21) and the profile policy (PPR1/PPR2, SGP.22 §2.9.1).
 *
 * Requests are decoded strictly with rsp_asn1_decode: a request that is not
 * the DER of its type is answered with SW 6A80 (ISO/IEC 7816-4 §5.6, wrong
 * data). A request that decodes but names nothing (unknown ICCID/AID) gets
 * the function's result code. Every state change is one euicc_commit(), and
 * the notifications it causes are queued before that commit so they reach
 * the state file together with the change.
 */
#include <stdlib.h>
#include <string.h>

#include "euicc.private.h"
#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_log.h"
#include "rsp_util.h"

#include "DeleteProfileRequest.h"
#include "DisableProfileRequest.h"
#include "EnableProfileRequest.h"
#include "EuiccMemoryResetRequest.h"
#include "GetEuiccDataRequest.h"
#include "NotificationConfigurationInformation.h"
#include "OperatorId.h"
#include "ProfileInfo.h"
#include "ProfileInfoListRequest.h"
#include "ProfileInfoListResponse.h"
#include "SetNicknameRequest.h"
#include "StoreMetadataRequest.h"

#define SW_WRONG_DATA 0x6A80
#define LOGE(...) RSP_LOG(RSP_LOG_ERROR, "euicc", __VA_ARGS__)

/* Result codes shared by Enable/Disable/DeleteProfile (SGP.22 §5.7.16-18). */
enum {
    RES_OK = 0,
    RES_NOT_FOUND = 1,        /* iccidOrAidNotFound / iccidNotFound */
    RES_WRONG_STATE = 2,      /* profileNotIn{Disabled,Enabled}State */
    RES_POLICY = 3,           /* disallowedByPolicy */
    RES_UNDEFINED = 127,
};

/* NotificationEvent named bits (SGP.22 §5.7.x NotificationEvent). */
enum { EV_INSTALL = 0, EV_ENABLE = 1, EV_DISABLE = 2, EV_DELETE = 3 };

#define PPR1 (1u << 1)  /* disabling not allowed */
#define PPR2 (1u << 2)  /* deletion not allowed */

int euicc_text_ok(const uint8_t *p, long n, size_t max, int allow_empty)
{
    size_t i = 0, len = n > 0 ? (size_t)n : 0;

    if (n < 0 || len > max || (len == 0 && !allow_empty))
        return 0;
    while (i < len) {
        uint8_t c = p[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7F)
                return 0;
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            k = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            k = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            k = 3, cp = c & 0x07;
        else
            return 0;
        if (k > len - i - 1)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + j] & 0x3F);
        }
        /* overlong forms, surrogates, beyond U+10FFFF (RFC 3629 §3) */
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

int euicc_resp_result(struct rsp_buf *resp, uint32_t tag, long code)
{
    /* tag { [0] INTEGER code }: every result here is 0..127, one octet */
    uint8_t v[3] = { 0x80, 0x01, (uint8_t)code };
    int rc;

    if (code < 0 || code > 127)
        return RSP_ERR_INVAL;
    rc = rsp_tlv_put_header(resp, tag, sizeof(v));
    if (rc == 0)
        rc = rsp_buf_append(resp, v, sizeof(v));
    return rc;
}

/* Put e->st back as it is in the state file. */
static int state_restore(struct euicc *e)
{
    struct euicc_state tmp;
    int rc;

    memset(&tmp, 0, sizeof(tmp));
    rc = euicc_state_load(e->path, &tmp);
    if (rc != 0) {
        euicc_state_clear(&tmp);
        return rc;
    }
    euicc_state_clear(&e->st);
    e->st = tmp;
    return 0;
}

/* Index of the profile an Iccid (10 bytes BCD, nibble-swapped as EF.ICCID)
 * or ISD-P AID designates; -1 if none. */
static int find_by_iccid_bcd(const struct euicc *e, const OCTET_STRING_t *os)
{
    char digits[21];

    if (os->size != 10 || rsp_iccid_from_bcd(os->buf, 1, digits) != 0)
        return -1;
    return euicc_find_profile_by_iccid(e, digits);
}

static int find_by_aid(const struct euicc *e, const OCTET_STRING_t *os)
{
    if (os->size < 1 || os->size > 16)
        return -1;
    return euicc_find_profile_by_aid(e, os->buf, (size_t)os->size);
}

static int enabled_index(const struct euicc *e)
{
    for (size_t i = 0; i < e->st.n_profiles; i++)
        if (e->st.profiles[i].state == EUICC_PROFILE_ENABLED)
            return (int)i;
    return -1;
}

/* Commit; when queuing a notification failed before, put the card back as
 * it is in its file instead. Returns 0 or a negative rsp_err. */
static int finish(struct euicc *e, int rc)
{
    if (rc != 0) {
        int rc2 = state_restore(e);
        LOGE("es10c: operation failed (%s), state restored (%s)",
                    rsp_strerror(rc), rsp_strerror(rc2));
        return rc;
    }
    return euicc_commit(e);
}

/* ---- GetProfilesInfo (SGP.22 §5.7.15) ----------------------------------- */

enum {
    F_ICCID = 1u << 0, F_AID = 1u << 1, F_STATE = 1u << 2, F_NICK = 1u << 3,
    F_SPN = 1u << 4, F_NAME = 1u << 5, F_ICONTYPE = 1u << 6, F_ICON = 1u << 7,
    F_CLASS = 1u << 8, F_NCI = 1u << 9, F_OWNER = 1u << 10, F_DPDATA = 1u << 11,
    F_PPR = 1u << 12, F_SSD = 1u << 13,
};
#define F_ALL 0x3FFFu

static const struct {
    uint32_t tag;
    uint32_t field;
} tag_fields[] = {
    { 0x5A, F_ICCID }, { 0x4F, F_AID }, { 0x9F70, F_STATE }, { 0x90, F_NICK },
    { 0x91, F_SPN }, { 0x92, F_NAME }, { 0x93, F_ICONTYPE }, { 0x94, F_ICON },
    { 0x95, F_CLASS }, { 0xB6, F_NCI }, { 0xB7, F_OWNER }, { 0xB8, F_DPDATA },
    { 0x99, F_PPR }, { 0xBF22, F_SSD },
};

/* tagList: a concatenation of BER tags (ISO/IEC 7816-4 §8.5.1 tag list).
 * Unknown tags are ignored; a truncated multi-byte tag is an error. */
static int parse_tag_list(const uint8_t *p, size_t n, uint32_t *want)
{
    size_t i = 0;

    *want = 0;
    while (i < n) {
        uint32_t tag = p[i++];
        if ((tag & 0x1F) == 0x1F) {
            int more = 1, k = 0;
            while (more) {
                if (i >= n || ++k > 3)
                    return RSP_ERR_DECODE;
                more = p[i] & 0x80;
                tag = tag << 8 | p[i++];
            }
        }
        for (size_t j = 0; j < sizeof(tag_fields) / sizeof(tag_fields[0]); j++)
            if (tag_fields[j].tag == tag)
                *want |= tag_fields[j].field;
    }
    return 0;
}

static int os_new(OCTET_STRING_t **dst, const void *p, size_t n)
{
    *dst = calloc(1, sizeof(**dst));
    if (!*dst)
        return RSP_ERR_NOMEM;
    return rsp_asn1_octets_set(*dst, p, n);
}

/* Move a mandatory string of the decoded metadata into an OPTIONAL member. */
static int os_move(OCTET_STRING_t *src, OCTET_STRING_t **dst)
{
    *dst = calloc(1, sizeof(**dst));
    if (!*dst)
        return RSP_ERR_NOMEM;
    (*dst)->buf = src->buf;
    (*dst)->size = src->size;
    src->buf = NULL;
    src->size = 0;
    return 0;
}

static int long_new(long **dst, long v)
{
    *dst = malloc(sizeof(**dst));
    if (!*dst)
        return RSP_ERR_NOMEM;
    **dst = v;
    return 0;
}

/* Build one ProfileInfo with the fields in want. Service provider, name,
 * icon, notification configuration and owner come from the stored
 * StoreMetadataRequest; class and PPRs from the profile record (they are
 * what the policy enforces). dpProprietaryData is not kept by the ISD-P
 * record, so it is never returned. */
static int profile_info_build(const struct euicc_profile *p, uint32_t want, ProfileInfo_t **out)
{
    ProfileInfo_t *pi = calloc(1, sizeof(*pi));
    StoreMetadataRequest_t *m = NULL;
    uint8_t bcd[10];
    int rc = 0;

    *out = NULL;
    if (!pi)
        return RSP_ERR_NOMEM;
    if (p->metadata && p->metadata_len &&
        rsp_asn1_decode(&asn_DEF_StoreMetadataRequest, p->metadata, p->metadata_len,
                        EUICC_ES10_MAX, (void **)&m) != 0) {
        LOGE("es10c: stored metadata of %s does not decode", p->iccid);
        m = NULL;
    }
    if ((want & F_ICCID) && rsp_iccid_to_bcd(p->iccid, 1, bcd) == 0)
        rc = os_new(&pi->iccid, bcd, sizeof(bcd));
    if (rc == 0 && (want & F_AID) && p->aid_len)
        rc = os_new(&pi->isdpAid, p->aid, p->aid_len);
    if (rc == 0 && (want & F_STATE))
        rc = long_new(&pi->profileState, p->state == EUICC_PROFILE_ENABLED ? 1 : 0);
    if (rc == 0 && (want & F_NICK) && p->nickname[0])
        rc = os_new(&pi->profileNickname, p->nickname, strlen(p->nickname));
    if (rc == 0 && (want & F_SPN) && m)
        rc = os_move(&m->serviceProviderName, &pi->serviceProviderName);
    if (rc == 0 && (want & F_NAME) && m)
        rc = os_move(&m->profileName, &pi->profileName);
    if (rc == 0 && (want & F_ICONTYPE) && m) {
        pi->iconType = m->iconType;
        m->iconType = NULL;
    }
    if (rc == 0 && (want & F_ICON) && m) {
        pi->icon = m->icon;
        m->icon = NULL;
    }
    if (rc == 0 && (want & F_CLASS))
        rc = long_new(&pi->profileClass, p->profile_class);
    if (rc == 0 && (want & F_NCI) && m && m->notificationConfigurationInfo) {
        pi->notificationConfigurationInfo = calloc(1, sizeof(*pi->notificationConfigurationInfo));
        if (!pi->notificationConfigurationInfo)
            rc = RSP_ERR_NOMEM;
        for (int i = 0; rc == 0 && i < m->notificationConfigurationInfo->list.count; i++) {
            NotificationConfigurationInformation_t *c =
                m->notificationConfigurationInfo->list.array[i];
            if (ASN_SEQUENCE_ADD(&pi->notificationConfigurationInfo->list, c) != 0)
                rc = RSP_ERR_NOMEM;
            else
                m->notificationConfigurationInfo->list.array[i] = NULL;
        }
    }
    if (rc == 0 && (want & F_OWNER) && m) {
        pi->profileOwner = m->profileOwner;
        m->profileOwner = NULL;
    }
    if (rc == 0 && (want & F_PPR) && (p->ppr || (m && m->profilePolicyRules))) {
        pi->profilePolicyRules = calloc(1, sizeof(*pi->profilePolicyRules));
        rc = pi->profilePolicyRules
                 ? rsp_asn1_named_bits_set(pi->profilePolicyRules, p->ppr & 0x7)
                 : RSP_ERR_NOMEM;
    }
    if (rc == 0 && (want & F_SSD) && m) {
        pi->serviceSpecificDataStoredInEuicc = m->serviceSpecificDataStoredInEuicc;
        m->serviceSpecificDataStoredInEuicc = NULL;
    }
    rsp_asn1_free(&asn_DEF_StoreMetadataRequest, m);
    if (rc != 0) {
        rsp_asn1_free(&asn_DEF_ProfileInfo, pi);
        return rc;
    }
    *out = pi;
    return 0;
}

static int profile_matches(const struct euicc *e, size_t i,
                           const struct ProfileInfoListRequest__searchCriteria *sc)
{
    const struct euicc_profile *p = &e->st.profiles[i];

    if (!sc)
        return 1;
    switch (sc->present) {
    case ProfileInfoListRequest__searchCriteria_PR_isdpAid:
        return find_by_aid(e, &sc->choice.isdpAid) == (int)i;
    case ProfileInfoListRequest__searchCriteria_PR_iccid:
        return find_by_iccid_bcd(e, &sc->choice.iccid) == (int)i;
    case ProfileInfoListRequest__searchCriteria_PR_profileClass:
        return p->profile_class == sc->choice.profileClass;
    default:
        return 0;
    }
}

int euicc_es10c_get_profiles_info(struct euicc *e, const uint8_t *cmd, size_t len,
                                  struct rsp_buf *resp)
{
    ProfileInfoListRequest_t *req = NULL;
    ProfileInfoListResponse_t rsp;
    uint32_t want = F_ALL;
    int rc;

    memset(&rsp, 0, sizeof(rsp));
    if (rsp_asn1_decode(&asn_DEF_ProfileInfoListRequest, cmd, len, EUICC_ES10_MAX,
                        (void **)&req) != 0)
        return SW_WRONG_DATA;
    /* Without a tagList every field is returned (SGP.22 §5.7.15); with
     * one, only those it names. */
    if (req->tagList && parse_tag_list(req->tagList->buf, (size_t)req->tagList->size, &want) != 0) {
        rsp.present = ProfileInfoListResponse_PR_profileInfoListError;
        rsp.choice.profileInfoListError = ProfileInfoListError_incorrectInputValues;
        goto encode;
    }
    if (req->searchCriteria &&
        req->searchCriteria->present == ProfileInfoListRequest__searchCriteria_PR_NOTHING) {
        rsp.present = ProfileInfoListResponse_PR_profileInfoListError;
        rsp.choice.profileInfoListError = ProfileInfoListError_incorrectInputValues;
        goto encode;
    }
    rsp.present = ProfileInfoListResponse_PR_profileInfoListOk;
    rsp.choice.profileInfoListOk = calloc(1, sizeof(*rsp.choice.profileInfoListOk));
    if (!rsp.choice.profileInfoListOk) {
        rc = RSP_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < e->st.n_profiles; i++) {
        ProfileInfo_t *pi;
        if (!profile_matches(e, i, req->searchCriteria))
            continue;
        rc = profile_info_build(&e->st.profiles[i], want, &pi);
        if (rc != 0)
            goto out;
        if (ASN_SEQUENCE_ADD(&rsp.choice.profileInfoListOk->list, pi) != 0) {
            rsp_asn1_free(&asn_DEF_ProfileInfo, pi);
            rc = RSP_ERR_NOMEM;
            goto out;
        }
    }
encode:
    rc = rsp_asn1_encode(&asn_DEF_ProfileInfoListResponse, &rsp, resp);
    if (rc == RSP_ERR_TOOBIG || rc == RSP_ERR_ENCODE) {
        /* e.g. too many icons for the response cap */
        LOGE("es10c: ProfileInfoListResponse: %s", rsp_strerror(rc));
        rsp_buf_reset(resp);
        rc = rsp_tlv_put_header(resp, 0xBF2D, 3);
        if (rc == 0)
            rc = rsp_buf_append(resp, "\x81\x01\x7F", 3);
    }
out:
    rsp_asn1_free_contents(&asn_DEF_ProfileInfoListResponse, &rsp);
    rsp_asn1_free(&asn_DEF_ProfileInfoListRequest, req);
    return rc;
}

/* ---- Enable / Disable / Delete (SGP.22 §5.7.16 - §5.7.18) --------------- */

static int find_identifier(const struct euicc *e, int is_aid, const OCTET_STRING_t *os)
{
    return is_aid ? find_by_aid(e, os) : find_by_iccid_bcd(e, os);
}

int euicc_es10c_enable(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp)
{
    EnableProfileRequest_t *req = NULL;
    long result = RES_UNDEFINED;
    int rc = 0, i, cur;

    if (rsp_asn1_decode(&asn_DEF_EnableProfileRequest, cmd, len, EUICC_ES10_MAX,
                        (void **)&req) != 0)
        return SW_WRONG_DATA;
    switch (req->profileIdentifier.present) {
    case EnableProfileRequest__profileIdentifier_PR_isdpAid:
        i = find_identifier(e, 1, &req->profileIdentifier.choice.isdpAid);
        break;
    case EnableProfileRequest__profileIdentifier_PR_iccid:
        i = find_identifier(e, 0, &req->profileIdentifier.choice.iccid);
        break;
    default:
        i = -1;
        break;
    }
    cur = enabled_index(e);
    if (i < 0) {
        result = RES_NOT_FOUND;
    } else if (e->st.profiles[i].state == EUICC_PROFILE_ENABLED) {
        result = RES_WRONG_STATE;
    } else if (cur >= 0 && (e->st.profiles[cur].ppr & PPR1)) {
        /* enabling i would disable cur, which its PPR1 forbids (§2.9.1) */
        result = RES_POLICY;
    } else {
        /* Only one enabled profile (SGP.22 §2.4.5 / §3.2.1): the current
         * one is disabled first, with its own notification. */
        if (cur >= 0)
            rc = euicc_notif_queue_other(e, &e->st.profiles[cur], EV_DISABLE);
        if (rc == 0)
            rc = euicc_notif_queue_other(e, &e->st.profiles[i], EV_ENABLE);
        if (rc == 0) {
            if (cur >= 0)
                e->st.profiles[cur].state = EUICC_PROFILE_DISABLED;
            e->st.profiles[i].state = EUICC_PROFILE_ENABLED;
        }
        rc = finish(e, rc);
        if (rc != 0)
            goto out;
        result = RES_OK;
    }
    rc = euicc_resp_result(resp, 0xBF31, result);
out:
    rsp_asn1_free(&asn_DEF_EnableProfileRequest, req);
    return rc;
}

int euicc_es10c_disable(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp)
{
    DisableProfileRequest_t *req = NULL;
    long result;
    int rc = 0, i;

    if (rsp_asn1_decode(&asn_DEF_DisableProfileRequest, cmd, len, EUICC_ES10_MAX,
                        (void **)&req) != 0)
        return SW_WRONG_DATA;
    switch (req->profileIdentifier.present) {
    case DisableProfileRequest__profileIdentifier_PR_isdpAid:
        i = find_identifier(e, 1, &req->profileIdentifier.choice.isdpAid);
        break;
    case DisableProfileRequest__profileIdentifier_PR_iccid:
        i = find_identifier(e, 0, &req->profileIdentifier.choice.iccid);
        break;
    default:
        i = -1;
        break;
    }
    if (i < 0) {
        result = RES_NOT_FOUND;
    } else if (e->st.profiles[i].state != EUICC_PROFILE_ENABLED) {
        result = RES_WRONG_STATE;
    } else if (e->st.profiles[i].ppr & PPR1) {
        result = RES_POLICY;
    } else {
        rc = euicc_notif_queue_other(e, &e->st.profiles[i], EV_DISABLE);
        if (rc == 0)
            e->st.profiles[i].state = EUICC_PROFILE_DISABLED;
        rc = finish(e, rc);
        if (rc != 0)
            goto out;
        result = RES_OK;
    }
    rc = euicc_resp_result(resp, 0xBF32, result);
out:
    rsp_asn1_free(&asn_DEF_DisableProfileRequest, req);
    return rc;
}

int euicc_es10c_delete(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp)
{
    DeleteProfileRequest_t *req = NULL;
    long result;
    int rc = 0, i;

    if (rsp_asn1_decode(&asn_DEF_DeleteProfileRequest, cmd, len, EUICC_ES10_MAX,
                        (void **)&req) != 0)
        return SW_WRONG_DATA;
    switch (req->present) {
    case DeleteProfileRequest_PR_isdpAid:
        i = find_identifier(e, 1, &req->choice.isdpAid);
        break;
    case DeleteProfileRequest_PR_iccid:
        i = find_identifier(e, 0, &req->choice.iccid);
        break;
    default:
        i = -1;
        break;
    }
    if (i < 0) {
        result = RES_NOT_FOUND;
    } else if (e->st.profiles[i].state != EUICC_PROFILE_DISABLED) {
        result = RES_WRONG_STATE;
    } else if (e->st.profiles[i].ppr & PPR2) {
        result = RES_POLICY;
    } else {
        /* the notification is built from the profile: before it goes */
        rc = euicc_notif_queue_other(e, &e->st.profiles[i], EV_DELETE);
        if (rc == 0)
            euicc_state_drop_profile(&e->st, (size_t)i);
        rc = finish(e, rc);
        if (rc != 0)
            goto out;
        result = RES_OK;
    }
    rc = euicc_resp_result(resp, 0xBF33, result);
out:
    rsp_asn1_free(&asn_DEF_DeleteProfileRequest, req);
    return rc;
}

/* ---- eUICCMemoryReset (SGP.22 §5.7.19) ---------------------------------- */

int euicc_es10c_memory_reset(struct euicc *e, const uint8_t *cmd, size_t len,
                             struct rsp_buf *resp)
{
    EuiccMemoryResetRequest_t *req = NULL;
    uint32_t opts;
    int changed = 0, rc;

    if (rsp_asn1_decode(&asn_DEF_EuiccMemoryResetRequest, cmd, len, EUICC_ES10_MAX,
                        (void **)&req) != 0)
        return SW_WRONG_DATA;
    opts = rsp_asn1_named_bits_get(&req->resetOptions);
    /* Memory reset deletes whatever the state and the PPRs (it is the
     * user's factory reset, SGP.21 / SGP.22 §3.3.3) and queues no Delete
     * notifications. Every test profile in this card was field-loaded
     * (there is no pre-loading), so bit 1 deletes all class test(0). */
    for (size_t i = e->st.n_profiles; i-- > 0;) {
        int cls = e->st.profiles[i].profile_class;
        if (((opts & 1u) && cls == 2) || ((opts & 2u) && cls == 0)) {
            euicc_state_drop_profile(&e->st, i);
            changed = 1;
        }
    }
    if (opts & 4u) {
        /* The initial default address is not kept: reset means none. */
        e->st.default_dp[0] = 0;
        changed = 1;
    }
    /* A retained download key pair (§3.1.3 retry) does not survive a
     * reset; dropping it alone is not "something deleted". */
    int drop_otk = e->st.otk.present;
    if (drop_otk)
        euicc_state_drop_otk(&e->st);
    rc = changed || drop_otk ? euicc_commit(e) : 0;
    if (rc == 0)
        rc = euicc_resp_result(resp, 0xBF34, changed ? 0 : 1 /* nothingToDelete */);
    rsp_asn1_free(&asn_DEF_EuiccMemoryResetRequest, req);
    return rc;
}

/* ---- GetEID (SGP.22 §5.7.20) -------------------------------------------- */

int euicc_es10c_get_eid(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp)
{
    GetEuiccDataRequest_t *req = NULL;
    uint8_t eid[16];
    int rc;

    if (rsp_asn1_decode(&asn_DEF_GetEuiccDataRequest, cmd, len, EUICC_ES10_MAX,
                        (void **)&req) != 0)
        return SW_WRONG_DATA;
    /* tagList SHALL be '5A'; GetEuiccDataResponse has no error value */
    if (req->tagList.size != 1 || req->tagList.buf[0] != 0x5A) {
        rc = SW_WRONG_DATA;
        goto out;
    }
    rc = rsp_eid_to_bytes(e->st.eid, eid);
    if (rc != 0)
        goto out;
    rc = rsp_tlv_put_header(resp, 0xBF3E, 2 + sizeof(eid));
    if (rc == 0)
        rc = rsp_tlv_put_header(resp, 0x5A, sizeof(eid));
    if (rc == 0)
        rc = rsp_buf_append(resp, eid, sizeof(eid));
out:
    rsp_asn1_free(&asn_DEF_GetEuiccDataRequest, req);
    return rc;
}

/* ---- SetNickname (SGP.22 §5.7.21) --------------------------------------- */

int euicc_es10c_set_nickname(struct euicc *e, const uint8_t *cmd, size_t len,
                             struct rsp_buf *resp)
{
    SetNicknameRequest_t *req = NULL;
    long result;
    int rc = 0, i;

    if (rsp_asn1_decode(&asn_DEF_SetNicknameRequest, cmd, len, EUICC_ES10_MAX,
                        (void **)&req) != 0)
        return SW_WRONG_DATA;
    i = find_by_iccid_bcd(e, &req->iccid);
    if (i < 0) {
        result = 1; /* iccidNotFound */
    } else if (!euicc_text_ok(req->profileNickname.buf, req->profileNickname.size, 64, 1)) {
        /* SIZE(0..64) of UTF-8 the state file can reload (no control
         * characters): anything else would be saved and brick the card */
        result = RES_UNDEFINED;
    } else {
        struct euicc_profile *p = &e->st.profiles[i];
        if (req->profileNickname.size > 0)
            memcpy(p->nickname, req->profileNickname.buf, (size_t)req->profileNickname.size);
        p->nickname[req->profileNickname.size] = 0;
        rc = euicc_commit(e);
        if (rc != 0)
            goto out;
        result = RES_OK;
    }
    rc = euicc_resp_result(resp, 0xBF29, result);
out:
    rsp_asn1_free(&asn_DEF_SetNicknameRequest, req);
    return rc;
}
