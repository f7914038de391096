/*
 * euicc_notif.c - the pending notification queue (SGP.22 v2.5 §3.5) and the
 * ES10b functions that read it: ListNotification (§5.7.9),
 * RetrieveNotificationsList (§5.7.10), RemoveNotificationFromList (§5.7.11).
 *
 * Each entry keeps the PendingNotification exactly as it is returned: the
 * ProfileInstallationResult (BF37) for installs, an OtherSignedNotification
 * (30) for enable/disable/delete. The latter is signed when queued, so the
 * state file never holds anything that still needs the key.
 *
 * Policy choices the spec leaves open:
 *   - signing credential: the eUICC has no record of which of its
 *     credentials (curves) a profile was downloaded with, so every
 *     OtherSignedNotification is signed with credential 0 and carries its
 *     certificate chain;
 *   - a full queue (EUICC_MAX_NOTIFS) drops its oldest entry to make room:
 *     SGP.22 does not bound the list, and refusing the profile operation
 *     because the LPA did not collect notifications would be worse;
 *   - RetrieveNotificationsList with a seqNumber or event that matches
 *     nothing returns an empty list, not notificationsListResultError.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "euicc.private.h"
#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_log.h"
#include "rsp_util.h"

#include "ListNotificationRequest.h"
#include "NotificationConfigurationInformation.h"
#include "NotificationMetadata.h"
#include "NotificationSentRequest.h"
#include "ProfileInstallationResult.h"
#include "RetrieveNotificationsListRequest.h"
#include "StoreMetadataRequest.h"

#define SW_WRONG_DATA 0x6A80
#define LOGW(...) RSP_LOG(RSP_LOG_WARN, "euicc", __VA_ARGS__)

/* DER of NotificationMetadata (BF2F) for one entry. */
static int metadata_encode(uint32_t seq, uint32_t event, const char *address,
                           const char *iccid, struct rsp_buf *out)
{
    NotificationMetadata_t nm;
    uint8_t bcd[10];
    int rc;

    memset(&nm, 0, sizeof(nm));
    nm.seqNumber = (long)seq;
    /* only one bit set (SGP.22 NotificationMetadata), trimmed (X.690 §11.2.2) */
    rc = rsp_asn1_named_bits_set(&nm.profileManagementOperation, 1u << event);
    if (rc == 0)
        rc = rsp_asn1_octets_set(&nm.notificationAddress, address, strlen(address));
    if (rc == 0 && iccid[0] && rsp_iccid_to_bcd(iccid, 1, bcd) == 0) {
        nm.iccid = calloc(1, sizeof(*nm.iccid));
        rc = nm.iccid ? rsp_asn1_octets_set(nm.iccid, bcd, sizeof(bcd)) : RSP_ERR_NOMEM;
    }
    if (rc == 0)
        rc = rsp_asn1_encode(&asn_DEF_NotificationMetadata, &nm, out);
    rsp_asn1_free_contents(&asn_DEF_NotificationMetadata, &nm);
    return rc;
}

/* The notificationAddress p's metadata configures for event, if any.
 * Returns 1 (found, copied to addr), 0 (not configured). */
static int configured_address(const struct euicc_profile *p, uint32_t event,
                              char addr[EUICC_ADDR_MAX + 1])
{
    StoreMetadataRequest_t *m = NULL;
    int found = 0;

    if (!p->metadata || !p->metadata_len ||
        rsp_asn1_decode(&asn_DEF_StoreMetadataRequest, p->metadata, p->metadata_len,
                        EUICC_ES10_MAX, (void **)&m) != 0)
        return 0;
    for (int i = 0; m->notificationConfigurationInfo &&
                    i < m->notificationConfigurationInfo->list.count; i++) {
        const NotificationConfigurationInformation_t *c =
            m->notificationConfigurationInfo->list.array[i];
        const UTF8String_t *a = &c->notificationAddress;
        if (!(rsp_asn1_named_bits_get(&c->profileManagementOperation) & (1u << event)))
            continue;
        if (!euicc_text_ok(a->buf, a->size, EUICC_ADDR_MAX, 0)) {
            LOGW("notif: unusable notificationAddress for event %u", event);
            continue;
        }
        memcpy(addr, a->buf, (size_t)a->size);
        addr[a->size] = 0;
        found = 1;
        break;
    }
    rsp_asn1_free(&asn_DEF_StoreMetadataRequest, m);
    return found;
}

/* Append an entry (taking der), dropping the oldest one if the queue is full. */
static void queue_push(struct euicc *e, uint32_t seq, uint32_t event, const char *address,
                       const char *iccid, uint8_t *der, size_t der_len)
{
    struct euicc_notif *n;

    if (e->st.n_notifs >= EUICC_MAX_NOTIFS) {
        LOGW("notif: queue full, dropping seqNumber %u", e->st.notifs[0].seq);
        euicc_state_drop_notif(&e->st, 0);
    }
    n = &e->st.notifs[e->st.n_notifs++];
    memset(n, 0, sizeof(*n));
    n->seq = seq;
    n->event = event;
    snprintf(n->address, sizeof(n->address), "%s", address);
    snprintf(n->iccid, sizeof(n->iccid), "%s", iccid);
    n->der = der;
    n->der_len = der_len;
}

int euicc_notif_queue_other(struct euicc *e, const struct euicc_profile *p, int event)
{
    char addr[EUICC_ADDR_MAX + 1];
    struct rsp_buf tbs, der;
    uint8_t sig[RSP_ECDSA_SIG_LEN];
    EVP_PKEY *key = NULL;
    const struct euicc_cred *c = &e->st.creds[0];
    uint8_t *bytes;
    size_t n;
    int rc;

    if (event < 1 || event > 3)
        return RSP_ERR_INVAL;
    if (!configured_address(p, (uint32_t)event, addr))
        return 0;
    if (e->st.n_creds == 0)
        return RSP_ERR_STATE;
    rsp_buf_init(&tbs, 4096);
    rsp_buf_init(&der, 16384);
    rc = metadata_encode(e->st.next_seq, (uint32_t)event, addr, p->iccid, &tbs);
    /* euiccNotificationSignature: the eUICC's signature over the DER of
     * tbsOtherNotification, tag and length included (SGP.22 §5.7.10 / §3.5) */
    if (rc == 0)
        rc = euicc_cred_key(e, 0, &key);
    if (rc == 0)
        rc = rsp_ecdsa_sign(key, tbs.data, tbs.len, sig);
    if (rc == 0)
        rc = rsp_tlv_put_header(&der, 0x30, tbs.len + 3 + sizeof(sig) + c->euicc_cert_len +
                                                c->eum_cert_len);
    if (rc == 0)
        rc = rsp_buf_append(&der, tbs.data, tbs.len);
    if (rc == 0)
        rc = rsp_tlv_put_header(&der, 0x5F37, sizeof(sig));
    if (rc == 0)
        rc = rsp_buf_append(&der, sig, sizeof(sig));
    if (rc == 0)
        rc = rsp_buf_append(&der, c->euicc_cert, c->euicc_cert_len);
    if (rc == 0)
        rc = rsp_buf_append(&der, c->eum_cert, c->eum_cert_len);
    if (rc == 0) {
        bytes = rsp_buf_steal(&der, &n);
        queue_push(e, e->st.next_seq, (uint32_t)event, addr, p->iccid, bytes, n);
        e->st.next_seq++;
    }
    rsp_ec_key_free(key);
    rsp_buf_free(&tbs);
    rsp_buf_free(&der);
    return rc;
}

int euicc_notif_queue_install(struct euicc *e, const char *address, const char *iccid,
                              const uint8_t *pir, size_t pir_len)
{
    ProfileInstallationResult_t *r = NULL;
    uint8_t *copy;
    long seq;
    int rc;

    if (!address || !pir || strlen(address) > EUICC_ADDR_MAX)
        return RSP_ERR_INVAL;
    if (!iccid || strlen(iccid) > 20)
        iccid = "";
    /* The seqNumber is the one the PIR carries (its builder took
     * st.next_seq); the queue keeps the PIR byte for byte. */
    rc = rsp_asn1_decode(&asn_DEF_ProfileInstallationResult, pir, pir_len, EUICC_ES10_MAX,
                         (void **)&r);
    if (rc != 0)
        return rc;
    seq = r->profileInstallationResultData.notificationMetadata.seqNumber;
    rsp_asn1_free(&asn_DEF_ProfileInstallationResult, r);
    if (seq < 0 || (unsigned long)seq > UINT32_MAX - 1)
        return RSP_ERR_INVAL;
    copy = malloc(pir_len);
    if (!copy)
        return RSP_ERR_NOMEM;
    memcpy(copy, pir, pir_len);
    queue_push(e, (uint32_t)seq, 0, address, iccid, copy, pir_len);
    if (e->st.next_seq <= (uint32_t)seq)
        e->st.next_seq = (uint32_t)seq + 1;
    return 0;
}

/* ---- ES10b --------------------------------------------------------------- */

/* tag { A0 { inner } }: the list alternative of a List/Retrieve response */
static int put_list(struct rsp_buf *resp, uint32_t tag, const struct rsp_buf *inner)
{
    size_t l = inner->len;
    size_t a0 = 1 + (l < 128 ? 1 : l < 256 ? 2 : l < 65536 ? 3 : 4) + l;
    int rc = rsp_tlv_put_header(resp, tag, a0);

    if (rc == 0)
        rc = rsp_tlv_put_header(resp, 0xA0, l);
    if (rc == 0 && l)
        rc = rsp_buf_append(resp, inner->data, l);
    return rc;
}

int euicc_es10b_list_notification(struct euicc *e, const uint8_t *cmd, size_t len,
                                  struct rsp_buf *resp)
{
    ListNotificationRequest_t *req = NULL;
    struct rsp_buf inner;
    uint32_t mask = 0xFFFFFFFFu;
    int rc = 0;

    if (rsp_asn1_decode(&asn_DEF_ListNotificationRequest, cmd, len, EUICC_ES10_MAX,
                        (void **)&req) != 0)
        return SW_WRONG_DATA;
    if (req->profileManagementOperation)
        mask = rsp_asn1_named_bits_get(req->profileManagementOperation);
    rsp_asn1_free(&asn_DEF_ListNotificationRequest, req);
    rsp_buf_init(&inner, resp->max);
    for (size_t i = 0; rc == 0 && i < e->st.n_notifs; i++) {
        const struct euicc_notif *n = &e->st.notifs[i];
        if (n->event < 32 && (mask & (1u << n->event)))
            rc = metadata_encode(n->seq, n->event, n->address, n->iccid, &inner);
    }
    if (rc == 0)
        rc = put_list(resp, 0xBF28, &inner);
    if (rc == RSP_ERR_TOOBIG) {
        rsp_buf_reset(resp);
        rc = euicc_resp_result(resp, 0xBF28, 127);
        /* listNotificationsResultError is [1]: 81, not 80 */
        if (rc == 0)
            resp->data[resp->len - 3] = 0x81;
    }
    rsp_buf_free(&inner);
    return rc;
}

int euicc_es10b_retrieve_notifications(struct euicc *e, const uint8_t *cmd, size_t len,
                                       struct rsp_buf *resp)
{
    RetrieveNotificationsListRequest_t *req = NULL;
    struct rsp_buf inner;
    uint32_t mask = 0xFFFFFFFFu;
    long seq = -1;
    size_t budget;
    int rc = 0;

    if (rsp_asn1_decode(&asn_DEF_RetrieveNotificationsListRequest, cmd, len, EUICC_ES10_MAX,
                        (void **)&req) != 0)
        return SW_WRONG_DATA;
    if (req->searchCriteria) {
        switch (req->searchCriteria->present) {
        case RetrieveNotificationsListRequest__searchCriteria_PR_seqNumber:
            seq = req->searchCriteria->choice.seqNumber;
            if (seq < 0)
                mask = 0;
            break;
        case RetrieveNotificationsListRequest__searchCriteria_PR_profileManagementOperation:
            mask = rsp_asn1_named_bits_get(
                &req->searchCriteria->choice.profileManagementOperation);
            break;
        default:
            mask = 0;
            break;
        }
    }
    rsp_asn1_free(&asn_DEF_RetrieveNotificationsListRequest, req);
    /* Return as many as fit in the response; the LPA removes what it has
     * delivered and asks again. 12 = room for both headers. */
    budget = resp->max > resp->len + 12 ? resp->max - resp->len - 12 : 0;
    rsp_buf_init(&inner, budget);
    for (size_t i = 0; i < e->st.n_notifs; i++) {
        const struct euicc_notif *n = &e->st.notifs[i];
        if (n->event >= 32 || !(mask & (1u << n->event)))
            continue;
        if (seq >= 0 && (unsigned long)seq != n->seq)
            continue;
        if (n->der_len > budget - inner.len)
            break;
        rc = rsp_buf_append(&inner, n->der, n->der_len);
        if (rc != 0)
            goto out;
    }
    rc = put_list(resp, 0xBF2B, &inner);
out:
    rsp_buf_free(&inner);
    return rc;
}

int euicc_es10b_remove_notification(struct euicc *e, const uint8_t *cmd, size_t len,
                                    struct rsp_buf *resp)
{
    NotificationSentRequest_t *req = NULL;
    long seq, result = 1; /* nothingToDelete */
    int rc;

    if (rsp_asn1_decode(&asn_DEF_NotificationSentRequest, cmd, len, EUICC_ES10_MAX,
                        (void **)&req) != 0)
        return SW_WRONG_DATA;
    seq = req->seqNumber;
    rsp_asn1_free(&asn_DEF_NotificationSentRequest, req);
    for (size_t i = 0; seq >= 0 && i < e->st.n_notifs; i++) {
        if (e->st.notifs[i].seq == (unsigned long)seq) {
            euicc_state_drop_notif(&e->st, i);
            rc = euicc_commit(e);
            if (rc != 0)
                return rc;
            result = 0;
            break;
        }
    }
    return euicc_resp_result(resp, 0xBF30, result);
}
