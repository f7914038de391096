/*
 * euicc_es8.c - ES8+ on the eUICC: LoadBoundProfilePackage (SGP.22 v2.5
 * §3.1.3.3 profile installation, §5.5 ES8+ functions, §2.5 BPP).
 *
 * The LPA sends the BPP in segments (§2.5.5); each arrives here as one
 * STORE DATA sequence. A segment is a run of whole items, where an item is
 * either the tag and length of a container (BF36, A0, A1, A2, A3) or one
 * whole TLV (BF23, 87, 88, 86); any cut at item boundaries is accepted, a
 * TLV split across segments is not. Progress lives in the session:
 *   bpp_step          what comes next (enum below)
 *   bpp_remaining     bytes of the BF36 value not yet seen
 *   bpp_seq_remaining bytes of the current A0..A3 value not yet seen
 * Segments before the last get an empty response; the last one, or the
 * first that fails, gets the ProfileInstallationResult (BF37), signed with
 * the session's eUICC credential over the exact ProfileInstallationResultData
 * (BF27) bytes, and the session ends.
 *
 * Crash points (tear tests, euicc_fault_set crash=N): after ConfigureISDP
 * (bpp:isdp), after StoreMetadata (bpp:metadata), after each 86 segment
 * (bpp:pe), after the PIR is built and queued in memory (bpp:pir), then the
 * two of euicc_commit.
 *
 * The ISD-P under construction stays in sess.pending; only a complete,
 * consistent installation moves it into state.profiles, together with the
 * install notification (the PIR), in ONE commit. A failed installation
 * leaves no trace of the ISD-P; its PIR (errorResult) is still queued as the
 * install notification for the SM-DP+ (SGP.22 §3.1.3.3 / §3.5), committed.
 * The one-time key pair retained for a download retry (state.otk, SGP.22
 * §3.1.3 / §5.7.14 bppEuiccOtpk) is dropped in the commit of a successful
 * installation only: after an error PIR or a tear the SM-DP+ may retry with
 * the same BPP.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <ConfigureISDPRequest.h>
#include <InitialiseSecureChannelRequest.h>
#include <ReplaceSessionKeysRequest.h>
#include <StoreMetadataRequest.h>

#include "euicc.private.h"
#include "rsp_asn1.h"
#include "rsp_bpp.h"
#include "rsp_err.h"
#include "rsp_saip.h"
#include "rsp_util.h"

enum {
    STEP_BF36 = 0, STEP_ISC, STEP_A0, STEP_IN_A0, STEP_A1, STEP_IN_A1,
    STEP_A2_OR_A3, STEP_IN_A2, STEP_A3, STEP_IN_A3, STEP_DONE,
};

/* BppCommandId and ErrorReason (SGP.22 §5.5.x, RSPDefinitions). */
enum {
    CMD_ISC = 0, CMD_CONFIGURE_ISDP = 1, CMD_STORE_METADATA = 2,
    CMD_STORE_METADATA2 = 3, CMD_REPLACE_KEYS = 4, CMD_LOAD_PE = 5,
};
enum {
    ER_INCORRECT_INPUT = 1, ER_INVALID_SIG = 2, ER_INVALID_TID = 3, ER_UNSUPPORTED_CRT = 4,
    ER_UNSUPPORTED_OP = 5, ER_UNSUPPORTED_CLASS = 6, ER_STRUCTURE = 7, ER_SECURITY = 8,
    ER_ICCID_EXISTS = 9, ER_NO_MEMORY = 10, ER_INTERRUPTION = 11, ER_PE_PROCESSING = 12,
    ER_DATA_MISMATCH = 13, ER_INVALID_NAA_KEY = 14, ER_PPR_NOT_ALLOWED = 15,
    ER_UNKNOWN = 127,
};

#define METADATA_MAX (16u * 1024u)

/* ISD-P AIDs: A0 00 00 05 59 10 10 FF FF FF FF 89 || 00 00 1n 00, the
 * range real eUICCs use after the ISD-R (..89 00 00 01 00) and ECASD
 * (..89 00 00 02 00) AIDs of SGP.02 §2.2.3 / SGP.22 §2.4; n grows with
 * state.next_isdp and is never reused. */
static void isdp_aid(uint32_t n, uint8_t aid[16])
{
    static const uint8_t prefix[12] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10,
                                       0xFF, 0xFF, 0xFF, 0xFF, 0x89};
    uint32_t v = 0x00001000u + (n << 8);
    memcpy(aid, prefix, 12);
    aid[12] = (uint8_t)(v >> 24);
    aid[13] = (uint8_t)(v >> 16);
    aid[14] = (uint8_t)(v >> 8);
    aid[15] = (uint8_t)v;
}

/* INTEGER content octets of a non-negative value (X.690 §8.3). */
static size_t int_bytes(uint32_t v, uint8_t out[5])
{
    uint8_t t[5] = {0, (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    size_t i = 0;
    while (i < 4 && t[i] == 0 && !(t[i + 1] & 0x80))
        i++;
    memcpy(out, t + i, 5 - i);
    return 5 - i;
}

/* Tag and length of the TLV at p; the value may lie beyond len. DER rules
 * (tags of 1 or 2 bytes are all a BPP uses). */
static int parse_hdr(const uint8_t *p, size_t len, uint32_t *tag, size_t *hl, size_t *vl)
{
    size_t i = 0, v = 0;
    if (len < 2)
        return RSP_ERR_DECODE;
    *tag = p[i++];
    if ((*tag & 0x1F) == 0x1F) {
        if (p[1] < 0x1F || (p[1] & 0x80))
            return RSP_ERR_DECODE;
        *tag = *tag << 8 | p[i++];
    }
    if (i >= len)
        return RSP_ERR_DECODE;
    uint8_t l0 = p[i++];
    if (l0 < 0x80) {
        v = l0;
    } else {
        size_t n = l0 & 0x7F;
        if (n == 0 || n > 3 || n > len - i || p[i] == 0)
            return RSP_ERR_DECODE;
        for (size_t k = 0; k < n; k++)
            v = v << 8 | p[i++];
        if (v < 0x80)
            return RSP_ERR_DECODE;
    }
    *hl = i;
    *vl = v;
    return 0;
}

/* ---- ProfileInstallationResult ------------------------------------------- */

/* Build the signed PIR into out: success (aid) when bpp_cmd < 0, else
 * errorResult(bpp_cmd, reason). iccid: digits or "" (then absent). */
static int pir_build(struct euicc *e, int bpp_cmd, int reason, const char *iccid,
                     struct rsp_buf *out)
{
    struct euicc_session *s = &e->sess;
    struct rsp_buf nm, v, fr, alt, data, body;
    uint8_t seq[5], sig[RSP_ECDSA_SIG_LEN], bcd[10];
    static const uint8_t install_bit[] = {0x07, 0x80};   /* notificationInstall */
    /* simaResponse: one EUICCResponse (SAIP §8.x) { peStatus { { status ok } } } */
    static const uint8_t sima_ok[] = {0x30, 0x07, 0xA0, 0x05, 0x30, 0x03, 0x80, 0x01, 0x00};
    EVP_PKEY *k = NULL;
    int rc;

    rsp_buf_init(&nm, 512);
    rsp_buf_init(&v, 1024);
    rsp_buf_init(&fr, 256);
    rsp_buf_init(&alt, 256);
    rsp_buf_init(&data, 1024);
    rsp_buf_init(&body, 1200);
    size_t seql = int_bytes(e->st.next_seq, seq);
    if ((rc = rsp_tlv_put(&nm, 0x80, seq, seql)) || (rc = rsp_tlv_put(&nm, 0x81, install_bit, 2)) ||
        (rc = rsp_tlv_put(&nm, 0x0C, s->server_address, strlen(s->server_address))))
        goto out;
    if (iccid && *iccid && rsp_iccid_to_bcd(iccid, 1, bcd) == 0 &&
        (rc = rsp_tlv_put(&nm, 0x5A, bcd, sizeof(bcd))))
        goto out;
    if (bpp_cmd < 0) {
        if ((rc = rsp_tlv_put(&alt, 0x4F, s->pending.aid, s->pending.aid_len)) ||
            (rc = rsp_tlv_put(&alt, 0x04, sima_ok, sizeof(sima_ok))) ||
            (rc = rsp_tlv_put(&fr, 0xA0, alt.data, alt.len)))
            goto out;
    } else {
        uint8_t c = (uint8_t)bpp_cmd, r = (uint8_t)reason;
        if ((rc = rsp_tlv_put(&alt, 0x80, &c, 1)) || (rc = rsp_tlv_put(&alt, 0x81, &r, 1)) ||
            (rc = rsp_tlv_put(&fr, 0xA1, alt.data, alt.len)))
            goto out;
    }
    if ((rc = rsp_tlv_put(&v, 0x80, s->transaction_id, s->transaction_id_len)) ||
        (rc = rsp_tlv_put(&v, 0xBF2F, nm.data, nm.len)) ||
        (rc = rsp_tlv_put(&v, 0x06, s->smdp_oid, s->smdp_oid_len)) ||
        (rc = rsp_tlv_put(&v, 0xA2, fr.data, fr.len)) ||
        (rc = rsp_tlv_put(&data, 0xBF27, v.data, v.len)))
        goto out;
    if ((rc = euicc_cred_key(e, (size_t)s->cred, &k)) ||
        (rc = rsp_ecdsa_sign(k, data.data, data.len, sig)))
        goto out;
    if ((rc = rsp_buf_append(&body, data.data, data.len)) ||
        (rc = rsp_tlv_put(&body, 0x5F37, sig, sizeof(sig))))
        goto out;
    rc = rsp_tlv_put(out, 0xBF37, body.data, body.len);
out:
    EVP_PKEY_free(k);
    rsp_buf_free(&nm);
    rsp_buf_free(&v);
    rsp_buf_free(&fr);
    rsp_buf_free(&alt);
    rsp_buf_free(&data);
    rsp_buf_free(&body);
    return rc;
}

/* End the download: answer the PIR, queue it as the install notification,
 * commit once. bpp_cmd < 0: success, pending moves into the state. */
static int finish(struct euicc *e, int bpp_cmd, int reason, struct rsp_buf *resp)
{
    struct euicc_session *s = &e->sess;
    char iccid[21];
    char addr[EUICC_ADDR_MAX + 1];
    int rc;

    memcpy(iccid, s->pending.iccid, sizeof(iccid));
    memcpy(addr, s->server_address, sizeof(addr));
    rsp_buf_reset(resp);
    rc = pir_build(e, bpp_cmd, reason, iccid, resp);
    if (rc == 0 && bpp_cmd < 0) {
        struct euicc_profile *p = &e->st.profiles[e->st.n_profiles];
        *p = s->pending;                         /* ownership moves */
        memset(&s->pending, 0, sizeof(s->pending));
        p->state = EUICC_PROFILE_DISABLED;
        p->package = rsp_buf_steal(&s->pe_data, &p->package_len);
        e->st.n_profiles++;
        e->st.next_isdp++;
        /* Installed: the otSK/otPK.EUICC.ECKA retained for a retry
         * (euicc_es10b.c, §3.1.3) goes in the same commit. */
        euicc_state_drop_otk(&e->st);
    }
    if (rc == 0)
        rc = euicc_notif_queue_install(e, addr, iccid, resp->data, resp->len);
    euicc_session_clear(s);
    /* PIR built and queued in memory only: a tear here loses both */
    euicc_crash_point(e, "bpp:pir");
    if (rc == 0)
        rc = euicc_commit(e);
    else
        rsp_buf_free(resp);
    return rc < 0 ? rc : 0;
}

/* ---- the BPP items ------------------------------------------------------- */

struct item_err {
    int cmd, reason;
};

static int do_isc(struct euicc *e, const uint8_t *tlv, size_t len, struct item_err *err)
{
    struct euicc_session *s = &e->sess;
    InitialiseSecureChannelRequest_t *req = NULL;
    struct rsp_buf sd;
    struct rsp_tlv t;
    struct rsp_bsp_keys keys;
    EVP_PKEY *peer = NULL;
    uint8_t shs[RSP_ECKA_SHS_LEN], eid[16];
    int curve, rc = -1;

    memset(&keys, 0, sizeof(keys));
    rsp_buf_init(&sd, 1024);
    err->cmd = CMD_ISC;
    err->reason = ER_INCORRECT_INPUT;
    if (rsp_asn1_decode(&asn_DEF_InitialiseSecureChannelRequest, tlv, len, 4096,
                        (void **)&req) || rsp_tlv_parse(tlv, len, &t))
        goto out;
    if (req->remoteOpId != 1) {
        err->reason = ER_UNSUPPORTED_OP;
        goto out;
    }
    if ((size_t)req->transactionId.size != s->transaction_id_len ||
        memcmp(req->transactionId.buf, s->transaction_id, s->transaction_id_len)) {
        err->reason = ER_INVALID_TID;
        goto out;
    }
    const ControlRefTemplate_t *crt = &req->controlRefTemplate;
    if (crt->keyType.size != 1 || crt->keyType.buf[0] != RSP_BSP_KEY_TYPE_AES ||
        crt->keyLen.size != 1 || crt->keyLen.buf[0] != RSP_AES_KEY_LEN) {
        err->reason = ER_UNSUPPORTED_CRT;
        goto out;
    }
    if (rsp_bpp_isc_signed_data(t.val, t.val_len, s->ot_pk, &sd) ||
        rsp_ecdsa_verify(s->dp_pb, sd.data, sd.len, req->smdpSign.buf,
                         (size_t)req->smdpSign.size)) {
        err->reason = ER_INVALID_SIG;
        goto out;
    }
    if (rsp_ec_key_curve(s->ot_sk, &curve) ||
        rsp_ec_pubkey_from_point_quick(curve, req->smdpOtpk.buf, (size_t)req->smdpOtpk.size,
                                       &peer))
        goto out;
    /* otPK.DP.ECKA: coordinates < p, on the curve, not infinity (complete
     * on the cofactor-1 SGP.22 curves), checked once at its import */
    if (rsp_eid_to_bytes(e->st.eid, eid) || rsp_ecka_derive_checked(s->ot_sk, peer, shs) ||
        rsp_bsp_kdf(shs, crt->keyType.buf[0], crt->keyLen.buf[0], crt->hostId.buf,
                    (size_t)crt->hostId.size, eid, &keys)) {
        err->reason = ER_UNKNOWN;
        goto out;
    }
    /* One keyed BSP context for the whole BPP (rsp_bsp.h); a second ISC
     * in a session cannot happen (bpp_step), but would replace it. */
    rsp_bsp_init_keys(&s->bsp, &keys);
    rsp_bsp_ctx_free(s->bspc);
    s->bspc = NULL;
    rc = rsp_bsp_ctx_new(&s->bsp, &s->bspc);
    rsp_bsp_wipe(&s->bsp);
    if (rc) {
        err->reason = rc == RSP_ERR_NOMEM ? ER_NO_MEMORY : ER_UNKNOWN;
        rc = -1;
        goto out;
    }
    /* The session's copy of otSK.EUICC.ECKA has served. The pair retained
     * in the state for a download retry (§3.1.3) stays until the profile
     * is installed (finish) or a new PrepareDownload replaces it. */
    EVP_PKEY_free(s->ot_sk);
    s->ot_sk = NULL;
    rc = 0;
out:
    OPENSSL_cleanse(shs, sizeof(shs));
    rsp_bsp_keys_wipe(&keys);
    rsp_buf_free(&sd);
    EVP_PKEY_free(peer);
    rsp_asn1_free(&asn_DEF_InitialiseSecureChannelRequest, req);
    return rc;
}

/* Unwrap one BSP segment of the expected tag into out. */
static int unwrap(struct euicc *e, int prot, uint8_t want, const uint8_t *seg, size_t len,
                  struct rsp_buf *out, struct item_err *err)
{
    uint8_t tag = 0;
    int rc = rsp_bsp_ctx_unwrap(e->sess.bspc, prot, seg, len, &tag, out);
    if (rc == RSP_ERR_VERIFY) {
        err->reason = ER_SECURITY;
        return rc;
    }
    if (rc == RSP_ERR_TOOBIG && len <= RSP_BSP_SEG_MAX) {   /* out's cap */
        err->reason = ER_NO_MEMORY;
        return rc;
    }
    if (rc || tag != want) {
        err->reason = ER_STRUCTURE;
        return rc ? rc : RSP_ERR_DECODE;
    }
    return 0;
}

static int do_configure_isdp(struct euicc *e, const uint8_t *seg, size_t len,
                             struct item_err *err)
{
    struct rsp_buf plain;
    ConfigureISDPRequest_t *req = NULL;
    int rc;

    err->cmd = CMD_CONFIGURE_ISDP;
    rsp_buf_init(&plain, 1024);
    rc = unwrap(e, RSP_BSP_ENC_MAC, 0x87, seg, len, &plain, err);
    if (rc)
        goto out;
    rc = rsp_asn1_decode(&asn_DEF_ConfigureISDPRequest, plain.data, plain.len, 1024,
                         (void **)&req);
    if (rc) {
        err->reason = ER_INCORRECT_INPUT;
        goto out;
    }
    if (e->st.n_profiles >= EUICC_MAX_PROFILES) {
        err->reason = ER_NO_MEMORY;
        rc = RSP_ERR_TOOBIG;
        goto out;
    }
    isdp_aid(e->st.next_isdp, e->sess.pending.aid);
    e->sess.pending.aid_len = 16;
out:
    rsp_asn1_free(&asn_DEF_ConfigureISDPRequest, req);
    rsp_buf_free(&plain);
    return rc;
}

static int do_metadata_segment(struct euicc *e, const uint8_t *seg, size_t len,
                               struct item_err *err)
{
    struct euicc_profile *p = &e->sess.pending;
    struct rsp_buf plain;
    int rc;

    err->cmd = CMD_STORE_METADATA;
    rsp_buf_init(&plain, RSP_BSP_MAC_PLAIN_MAX);
    rc = unwrap(e, RSP_BSP_MAC_ONLY, 0x88, seg, len, &plain, err);
    if (rc == 0) {
        if (p->metadata_len + plain.len > METADATA_MAX) {
            err->reason = ER_INCORRECT_INPUT;
            rc = RSP_ERR_TOOBIG;
        } else {
            uint8_t *n = realloc(p->metadata, p->metadata_len + plain.len);
            if (!n) {
                err->reason = ER_NO_MEMORY;
                rc = RSP_ERR_NOMEM;
            } else {
                memcpy(n + p->metadata_len, plain.data, plain.len);
                p->metadata = n;
                p->metadata_len += plain.len;
            }
        }
    }
    rsp_buf_free(&plain);
    return rc;
}

/* PPRs against the RAT of this card (euicc_es10b.c GetRAT: PPR1 and PPR2
 * allowed for every operator, no consent): pprUpdateControl needs no
 * rule, so every PprIds value passes. Kept as the place to tighten it. */
static int ppr_allowed(uint32_t ppr)
{
    const uint32_t allowed = 1u << 0 | 1u << 1 | 1u << 2;
    return (ppr & ~allowed) == 0;
}

/* StoreMetadata complete (end of A1): decode and check (SGP.22 §5.5.3). */
static int do_metadata_end(struct euicc *e, struct item_err *err)
{
    struct euicc_profile *p = &e->sess.pending;
    StoreMetadataRequest_t *md = NULL;
    int rc;

    err->cmd = CMD_STORE_METADATA;
    err->reason = ER_INCORRECT_INPUT;
    rc = rsp_asn1_decode(&asn_DEF_StoreMetadataRequest, p->metadata, p->metadata_len,
                         METADATA_MAX, (void **)&md);
    if (rc)
        goto out;
    if (md->iccid.size != 10 || rsp_iccid_from_bcd(md->iccid.buf, 1, p->iccid)) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    if (euicc_find_profile_by_iccid(e, p->iccid) >= 0) {
        err->reason = ER_ICCID_EXISTS;
        rc = RSP_ERR_STATE;
        goto out;
    }
    p->profile_class = md->profileClass ? (int)*md->profileClass : 2;
    if (p->profile_class < 0 || p->profile_class > 2) {
        err->reason = ER_UNSUPPORTED_CLASS;
        rc = RSP_ERR_UNSUPPORTED;
        goto out;
    }
    p->ppr = md->profilePolicyRules ? rsp_asn1_named_bits_get(md->profilePolicyRules) : 0;
    if (!ppr_allowed(p->ppr)) {
        err->reason = ER_PPR_NOT_ALLOWED;
        rc = RSP_ERR_STATE;
        goto out;
    }
out:
    if (rc)
        p->iccid[0] = 0;   /* not reported in the error PIR */
    rsp_asn1_free(&asn_DEF_StoreMetadataRequest, md);
    return rc;
}

static int do_replace_keys(struct euicc *e, const uint8_t *seg, size_t len,
                           struct item_err *err)
{
    struct rsp_buf plain;
    ReplaceSessionKeysRequest_t *req = NULL;
    int rc;

    err->cmd = CMD_REPLACE_KEYS;
    rsp_buf_init(&plain, 1024);
    rc = unwrap(e, RSP_BSP_ENC_MAC, 0x87, seg, len, &plain, err);
    if (rc)
        goto out;
    rc = rsp_asn1_decode(&asn_DEF_ReplaceSessionKeysRequest, plain.data, plain.len, 1024,
                         (void **)&req);
    if (rc || req->ppkEnc.size != 16 || req->ppkCmac.size != 16 ||
        req->initialMacChainingValue.size != 16) {
        err->reason = ER_INCORRECT_INPUT;
        rc = rc ? rc : RSP_ERR_DECODE;
        goto out;
    }
    if (rsp_bsp_ctx_replace_keys(e->sess.bspc, req->ppkEnc.buf, req->ppkCmac.buf,
                                 req->initialMacChainingValue.buf)) {
        err->reason = ER_UNKNOWN;
        rc = RSP_ERR_CRYPTO;
    }
out:
    if (req) {
        OPENSSL_cleanse(req->ppkEnc.buf, (size_t)req->ppkEnc.size);
        OPENSSL_cleanse(req->ppkCmac.buf, (size_t)req->ppkCmac.size);
    }
    rsp_asn1_free(&asn_DEF_ReplaceSessionKeysRequest, req);
    rsp_buf_free(&plain);
    return rc;
}

/* All profile elements received: interpret them (SGP.22 §3.1.3.3). */
static int do_install_end(struct euicc *e, struct item_err *err)
{
    struct rsp_saip_info *info = NULL;
    int rc;

    err->cmd = CMD_LOAD_PE;
    rc = rsp_saip_parse_ex(e->sess.pe_data.data, e->sess.pe_data.len, RSP_SAIP_FS_WALK, &info);
    if (rc) {
        err->reason = ER_PE_PROCESSING;
        return rc;
    }
    /* PE-Header iccid is plain BCD, the metadata Iccid nibble-swapped: both
     * are compared as digits. */
    if (strcmp(info->iccid, e->sess.pending.iccid) != 0) {
        err->reason = ER_DATA_MISMATCH;
        rc = RSP_ERR_STATE;
    } else if (e->st.n_profiles >= EUICC_MAX_PROFILES) {
        err->reason = ER_NO_MEMORY;
        rc = RSP_ERR_TOOBIG;
    } else {
        e->sess.pending.n_pes = info->n_pes;
    }
    rsp_saip_info_free(info);
    return rc;
}

/* ---- the segment walker ------------------------------------------------- */

int euicc_es8_load_segment(struct euicc *e, const uint8_t *seg, size_t len, struct rsp_buf *resp)
{
    struct euicc_session *s = &e->sess;
    struct item_err err = {CMD_ISC, ER_INCORRECT_INPUT};
    size_t pos = 0;
    int rc = 0;

    if (s->phase == EUICC_SESS_PREPARED && s->bpp_step == STEP_BF36) {
        rsp_buf_free(&s->pe_data);
        rsp_buf_init(&s->pe_data, RSP_SAIP_MAX);
    } else if (s->phase != EUICC_SESS_BPP) {
        return 0x6985;   /* no download session: conditions of use not satisfied */
    }
    s->phase = EUICC_SESS_BPP;

    while (pos < len && rc == 0) {
        const uint8_t *p = seg + pos;
        size_t n = len - pos, hl, vl;
        uint32_t tag;

        err.cmd = s->bpp_step <= STEP_ISC ? CMD_ISC
                : s->bpp_step <= STEP_IN_A0 ? CMD_CONFIGURE_ISDP
                : s->bpp_step <= STEP_IN_A1 ? CMD_STORE_METADATA
                : s->bpp_step == STEP_IN_A2 ? CMD_REPLACE_KEYS : CMD_LOAD_PE;
        err.reason = ER_INCORRECT_INPUT;
        if (parse_hdr(p, n, &tag, &hl, &vl)) {
            rc = RSP_ERR_DECODE;
            break;
        }
        int container = s->bpp_step == STEP_BF36 || s->bpp_step == STEP_A0 ||
                        s->bpp_step == STEP_A1 || s->bpp_step == STEP_A2_OR_A3 ||
                        s->bpp_step == STEP_A3;
        size_t take = container ? hl : hl + vl;
        if (take > n) {             /* an item cut in two */
            rc = RSP_ERR_DECODE;
            break;
        }
        if (s->bpp_step != STEP_BF36) {
            if (take > s->bpp_remaining) {
                rc = RSP_ERR_DECODE;
                break;
            }
            s->bpp_remaining -= take;
        }
        if (!container && s->bpp_step != STEP_ISC) {
            if (take > s->bpp_seq_remaining) {
                rc = RSP_ERR_DECODE;
                break;
            }
            s->bpp_seq_remaining -= take;
        }
        switch (s->bpp_step) {
        case STEP_BF36:
            if (tag != 0xBF36)
                rc = RSP_ERR_DECODE;
            s->bpp_remaining = vl;
            s->bpp_step = STEP_ISC;
            break;
        case STEP_ISC:
            if (tag != 0xBF23)
                rc = RSP_ERR_DECODE;
            else
                rc = do_isc(e, p, take, &err);
            s->bpp_step = STEP_A0;
            break;
        case STEP_A0:
        case STEP_A1:
        case STEP_A2_OR_A3:
        case STEP_A3: {
            uint32_t want = s->bpp_step == STEP_A0 ? 0xA0 : s->bpp_step == STEP_A1 ? 0xA1
                          : s->bpp_step == STEP_A3 ? 0xA3 : 0;
            if ((want && tag != want) || (!want && tag != 0xA2 && tag != 0xA3) || vl == 0 ||
                vl > s->bpp_remaining) {
                rc = RSP_ERR_DECODE;
                break;
            }
            s->bpp_seq_remaining = vl;
            s->bpp_seq_tag = tag;
            s->bpp_step = tag == 0xA0 ? STEP_IN_A0 : tag == 0xA1 ? STEP_IN_A1
                        : tag == 0xA2 ? STEP_IN_A2 : STEP_IN_A3;
            break;
        }
        case STEP_IN_A0:
            rc = do_configure_isdp(e, p, take, &err);
            euicc_crash_point(e, "bpp:isdp");
            if (rc == 0 && s->bpp_seq_remaining == 0)
                s->bpp_step = STEP_A1;
            else if (rc == 0) {
                err.reason = ER_INCORRECT_INPUT;   /* one ConfigureISDP only */
                rc = RSP_ERR_DECODE;
            }
            break;
        case STEP_IN_A1:
            rc = do_metadata_segment(e, p, take, &err);
            if (rc == 0 && s->bpp_seq_remaining == 0) {
                rc = do_metadata_end(e, &err);
                euicc_crash_point(e, "bpp:metadata");
                s->bpp_step = STEP_A2_OR_A3;
            }
            break;
        case STEP_IN_A2:
            rc = do_replace_keys(e, p, take, &err);
            if (rc == 0 && s->bpp_seq_remaining == 0)
                s->bpp_step = STEP_A3;
            break;
        case STEP_IN_A3:
            err.cmd = CMD_LOAD_PE;
            rc = unwrap(e, RSP_BSP_ENC_MAC, 0x86, p, take, &s->pe_data, &err);
            euicc_crash_point(e, "bpp:pe");
            if (rc == 0 && s->bpp_seq_remaining == 0)
                s->bpp_step = STEP_DONE;
            break;
        default:
            rc = RSP_ERR_DECODE;
            break;
        }
        pos += take;
    }
    if (rc == 0 && s->bpp_step == STEP_DONE) {
        if (pos != len || s->bpp_remaining != 0) {
            err.cmd = CMD_LOAD_PE;
            err.reason = ER_INCORRECT_INPUT;
            rc = RSP_ERR_DECODE;
        } else {
            if (do_install_end(e, &err) == 0)
                return finish(e, -1, 0, resp);
            rc = RSP_ERR_STATE;
        }
    }
    if (rc == 0)
        return 0;       /* more segments to come */
    return finish(e, err.cmd, err.reason, resp);
}
