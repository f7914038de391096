/*
 * euicc_isdr.c - the ISD-R: one reassembled ES10 command to its handler by
 * its outer tag (SGP.22 §5.7, ASN.1 tags of RSPDefinitions).
 *
 * A command must be exactly one DER TLV with nothing after it, except the
 * segments of LoadBoundProfilePackage (SGP.22 §2.5.5), which arrive one
 * STORE DATA sequence each and are not whole TLVs: the first is the BF36
 * tag and length followed by InitialiseSecureChannelRequest; then A0
 * (whole), A1 header, each 88, A2 (whole), A3 header, each 86. Those go to
 * euicc_es8_load_segment() as received: the first by its tag BF36, the
 * others while the session is in the BPP phase.
 * A malformed TLV or a tag the ISD-R does not know -> 6A80 (GP Card Spec
 * v2.3 §11.11.3: incorrect values in the command data).
 */
#include "euicc.private.h"
#include "rsp_asn1.h"
#include "rsp_err.h"

typedef int (*es10_handler)(struct euicc *, const uint8_t *, size_t, struct rsp_buf *);

static const struct {
    uint32_t tag;
    es10_handler fn;
} handlers[] = {
    { 0xBF3C, euicc_es10a_get_addresses },        /* GetEuiccConfiguredAddresses */
    { 0xBF3F, euicc_es10a_set_default_dp },       /* SetDefaultDpAddress */
    { 0xBF2E, euicc_es10b_get_challenge },        /* GetEuiccChallenge */
    { 0xBF20, euicc_es10b_get_info1 },            /* GetEuiccInfo1 */
    { 0xBF22, euicc_es10b_get_info2 },            /* GetEuiccInfo2 */
    { 0xBF38, euicc_es10b_authenticate_server },  /* AuthenticateServer */
    { 0xBF21, euicc_es10b_prepare_download },     /* PrepareDownload */
    { 0xBF41, euicc_es10b_cancel_session },       /* CancelSession */
    { 0xBF28, euicc_es10b_list_notification },    /* ListNotification */
    { 0xBF2B, euicc_es10b_retrieve_notifications },/* RetrieveNotificationsList */
    { 0xBF30, euicc_es10b_remove_notification },  /* NotificationSent */
    { 0xBF43, euicc_es10b_get_rat },              /* GetRAT */
    { 0xBF35, euicc_es10b_load_crl },             /* LoadCRL */
    { 0xBF2D, euicc_es10c_get_profiles_info },    /* ProfileInfoListRequest */
    { 0xBF31, euicc_es10c_enable },               /* EnableProfile */
    { 0xBF32, euicc_es10c_disable },              /* DisableProfile */
    { 0xBF33, euicc_es10c_delete },               /* DeleteProfile */
    { 0xBF34, euicc_es10c_memory_reset },         /* EuiccMemoryReset */
    { 0xBF3E, euicc_es10c_get_eid },              /* GetEuiccData */
    { 0xBF29, euicc_es10c_set_nickname },         /* SetNicknameRequest */
};

int euicc_isdr_dispatch(struct euicc *e, const uint8_t *cmd, size_t len,
                        struct rsp_buf *resp)
{
    struct rsp_tlv t;

    if (!cmd || len < 2)
        return 0x6A80;
    if (cmd[0] == 0xBF && cmd[1] == 0x36)
        return euicc_es8_load_segment(e, cmd, len, resp);
    if (e->sess.phase == EUICC_SESS_BPP &&
        (cmd[0] == 0xA0 || cmd[0] == 0xA1 || cmd[0] == 0xA2 || cmd[0] == 0xA3 ||
         cmd[0] == 0x87 || cmd[0] == 0x88 || cmd[0] == 0x86))
        return euicc_es8_load_segment(e, cmd, len, resp);
    if (rsp_tlv_parse(cmd, len, &t) != 0 || t.tlv_len != len)
        return 0x6A80;
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (handlers[i].tag == t.tag)
            return handlers[i].fn(e, cmd, len, resp);
    return 0x6A80;
}
