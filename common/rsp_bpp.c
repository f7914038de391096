#include "rsp_bpp.h"
#include "rsp_bsp.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <ConfigureISDPRequest.h>
#include <DpProprietaryData.h>
#include <NotificationConfigurationInformation.h>
#include <ReplaceSessionKeysRequest.h>
#include <StoreMetadataRequest.h>

#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_util.h"

#define ISC_MAX 512

static int tlv_put(struct rsp_buf *out, uint32_t tag, const uint8_t *v, size_t n)
{
    int rc = rsp_tlv_put_header(out, tag, n);
    if (rc == 0 && n)
        rc = rsp_buf_append(out, v, n);
    return rc;
}

static int utf8_set(UTF8String_t *s, const char *v, size_t max)
{
    size_t n = v ? strlen(v) : 0;
    if (n > max)
        return RSP_ERR_INVAL;
    return rsp_asn1_octets_set(s, v ? v : "", n);
}

int rsp_bpp_otpk_import(int curve, const uint8_t *pt, size_t len, EVP_PKEY **out)
{
    return rsp_ec_pubkey_from_point_quick(curve, pt, len, out);
}

/* The uncompressed point of a key of ours (otPK.DP.ECKA): the encoded
 * public key as OpenSSL keeps it, else through the affine coordinates. */
static int own_point(EVP_PKEY *k, uint8_t pt[RSP_EC_POINT_LEN])
{
    size_t n = 0;

    ERR_set_mark();
    int ok = EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, RSP_EC_POINT_LEN,
                                             &n) == 1 && n == RSP_EC_POINT_LEN && pt[0] == 0x04;
    ERR_pop_to_mark();
    return ok ? RSP_OK : rsp_ec_pubkey_to_point(k, pt);
}

int rsp_bpp_metadata_encode(const struct rsp_bpp_metadata *md, struct rsp_buf *out)
{
    StoreMetadataRequest_t smr;
    uint8_t iccid[10];
    int rc;

    if (!md || !out || !md->iccid)
        return RSP_ERR_INVAL;
    memset(&smr, 0, sizeof(smr));
    rc = rsp_iccid_to_bcd(md->iccid, 1, iccid);
    if (rc)
        return RSP_ERR_INVAL;
    if ((rc = rsp_asn1_octets_set(&smr.iccid, iccid, sizeof(iccid))) ||
        (rc = utf8_set(&smr.serviceProviderName, md->service_provider, 32)) ||
        (rc = utf8_set(&smr.profileName, md->profile_name, 64)))
        goto out;
    if (md->icon) {
        if (md->icon_len > 1024 || md->icon_type < 0 || md->icon_type > 1) {
            rc = RSP_ERR_INVAL;
            goto out;
        }
        smr.iconType = calloc(1, sizeof(*smr.iconType));
        smr.icon = calloc(1, sizeof(*smr.icon));
        if (!smr.iconType || !smr.icon) {
            rc = RSP_ERR_NOMEM;
            goto out;
        }
        *smr.iconType = md->icon_type;
        if ((rc = rsp_asn1_octets_set(smr.icon, md->icon, md->icon_len)))
            goto out;
    }
    /* DER: a DEFAULT value is never encoded (X.690 §11.5). */
    if (md->profile_class >= 0 && md->profile_class != 2) {
        if (md->profile_class > 2) {
            rc = RSP_ERR_INVAL;
            goto out;
        }
        smr.profileClass = calloc(1, sizeof(*smr.profileClass));
        if (!smr.profileClass) {
            rc = RSP_ERR_NOMEM;
            goto out;
        }
        *smr.profileClass = md->profile_class;
    }
    if (md->n_notifs) {
        smr.notificationConfigurationInfo = calloc(1, sizeof(*smr.notificationConfigurationInfo));
        if (!smr.notificationConfigurationInfo) {
            rc = RSP_ERR_NOMEM;
            goto out;
        }
        for (size_t i = 0; i < md->n_notifs; i++) {
            NotificationConfigurationInformation_t *n = calloc(1, sizeof(*n));
            if (!n) {
                rc = RSP_ERR_NOMEM;
                goto out;
            }
            if (ASN_SEQUENCE_ADD(&smr.notificationConfigurationInfo->list, n)) {
                free(n);
                rc = RSP_ERR_NOMEM;
                goto out;
            }
            if ((rc = rsp_asn1_named_bits_set(&n->profileManagementOperation,
                                              md->notifs[i].events)) ||
                (rc = utf8_set(&n->notificationAddress, md->notifs[i].address, 255)))
                goto out;
        }
    }
    if (md->ppr) {
        smr.profilePolicyRules = calloc(1, sizeof(*smr.profilePolicyRules));
        if (!smr.profilePolicyRules) {
            rc = RSP_ERR_NOMEM;
            goto out;
        }
        if ((rc = rsp_asn1_named_bits_set(smr.profilePolicyRules, md->ppr)))
            goto out;
    }
    rc = rsp_asn1_encode(&asn_DEF_StoreMetadataRequest, &smr, out);
out:
    rsp_asn1_free_contents(&asn_DEF_StoreMetadataRequest, &smr);
    return rc;
}

int rsp_bpp_isc_signed_data(const uint8_t *isc_val, size_t isc_len,
                            const uint8_t euicc_otpk[RSP_EC_POINT_LEN],
                            struct rsp_buf *out)
{
    size_t pos = 0, end = 0;
    struct rsp_tlv t;
    int r;

    if (!isc_val || !euicc_otpk || !out)
        return RSP_ERR_INVAL;
    while ((r = rsp_tlv_next(isc_val, isc_len, &pos, &t)) == 1) {
        if (t.tag == 0x5F37)
            break;
        end = pos;
    }
    if (r < 0)
        return r;
    r = rsp_buf_append(out, isc_val, end);
    if (r == 0)
        r = tlv_put(out, 0x5F49, euicc_otpk, RSP_EC_POINT_LEN);
    return r;
}

/* InitialiseSecureChannelRequest (SGP.22 §5.5.1), appended to out. */
static int build_isc(const struct rsp_bpp_params *p, const uint8_t smdp_otpk[RSP_EC_POINT_LEN],
                     struct rsp_buf *out)
{
    struct rsp_buf v, crt, sd;
    uint8_t sig[RSP_ECDSA_SIG_LEN];
    static const uint8_t op[] = {0x01};      /* installBoundProfilePackage(1) */
    static const uint8_t kt[] = {RSP_BSP_KEY_TYPE_AES};
    static const uint8_t kl[] = {RSP_AES_KEY_LEN};
    int rc;

    rsp_buf_init(&v, ISC_MAX);
    rsp_buf_init(&crt, 64);
    rsp_buf_init(&sd, ISC_MAX);
    if ((rc = tlv_put(&crt, 0x80, kt, 1)) || (rc = tlv_put(&crt, 0x81, kl, 1)) ||
        (rc = tlv_put(&crt, 0x84, p->host_id, p->host_id_len)))
        goto out;
    if ((rc = tlv_put(&v, 0x82, op, 1)) ||
        (rc = tlv_put(&v, 0x80, p->transaction_id, p->transaction_id_len)) ||
        (rc = tlv_put(&v, 0xA6, crt.data, crt.len)) ||
        (rc = tlv_put(&v, 0x5F49, smdp_otpk, RSP_EC_POINT_LEN)))
        goto out;
    if ((rc = rsp_bpp_isc_signed_data(v.data, v.len, p->euicc_otpk, &sd)) ||
        (rc = rsp_ecdsa_sign(p->dp_pb_key, sd.data, sd.len, sig)) ||
        (rc = tlv_put(&v, 0x5F37, sig, sizeof(sig))))
        goto out;
    rc = tlv_put(out, 0xBF23, v.data, v.len);
out:
    rsp_buf_free(&v);
    rsp_buf_free(&crt);
    rsp_buf_free(&sd);
    return rc;
}

static int build_configure_isdp(const struct rsp_bpp_params *p, struct rsp_buf *out)
{
    ConfigureISDPRequest_t req;
    int rc = 0;

    memset(&req, 0, sizeof(req));
    if (p->dp_oid_der) {
        if (p->dp_oid_len == 0 || p->dp_oid_len > 100)
            return RSP_ERR_INVAL;
        req.dpProprietaryData = calloc(1, sizeof(*req.dpProprietaryData));
        if (!req.dpProprietaryData)
            return RSP_ERR_NOMEM;
        req.dpProprietaryData->dpOid.buf = malloc(p->dp_oid_len);
        if (!req.dpProprietaryData->dpOid.buf) {
            rc = RSP_ERR_NOMEM;
        } else {
            memcpy(req.dpProprietaryData->dpOid.buf, p->dp_oid_der, p->dp_oid_len);
            req.dpProprietaryData->dpOid.size = (int)p->dp_oid_len;
        }
    }
    if (rc == 0)
        rc = rsp_asn1_encode(&asn_DEF_ConfigureISDPRequest, &req, out);
    rsp_asn1_free_contents(&asn_DEF_ConfigureISDPRequest, &req);
    return rc;
}

static int build_rsk(const struct rsp_bpp_params *p, struct rsp_buf *out)
{
    ReplaceSessionKeysRequest_t req;
    int rc;

    memset(&req, 0, sizeof(req));
    if ((rc = rsp_asn1_octets_set(&req.initialMacChainingValue, p->ppk_mcv, 16)) == 0 &&
        (rc = rsp_asn1_octets_set(&req.ppkEnc, p->ppk_enc, 16)) == 0 &&
        (rc = rsp_asn1_octets_set(&req.ppkCmac, p->ppk_mac, 16)) == 0)
        rc = rsp_asn1_encode(&asn_DEF_ReplaceSessionKeysRequest, &req, out);
    rsp_asn1_free_contents(&asn_DEF_ReplaceSessionKeysRequest, &req);
    return rc;
}

/* Protect plain as segments with tag and append "seqtag L segments". */
static int put_seq(struct rsp_bsp_ctx *bsp, uint32_t seqtag, uint8_t tag, int prot,
                   const uint8_t *plain, size_t n, struct rsp_buf *out)
{
    struct rsp_buf segs;
    int rc;

    rsp_buf_init(&segs, RSP_BPP_MAX);
    rc = rsp_bsp_ctx_wrap_all(bsp, tag, prot, plain, n, &segs);
    if (rc == 0)
        rc = tlv_put(out, seqtag, segs.data, segs.len);
    rsp_buf_free(&segs);
    return rc;
}

int rsp_bpp_build(const struct rsp_bpp_params *p, struct rsp_buf *out)
{
    EVP_PKEY *ot = NULL, *peer = NULL;
    uint8_t otpk[RSP_EC_POINT_LEN], shs[RSP_ECKA_SHS_LEN];
    struct rsp_bsp_keys keys;
    struct rsp_bsp bsp;
    struct rsp_bsp_ctx *bc = NULL;
    struct rsp_buf body, tmp;
    int curve, pc, rc;
    int ppk;

    memset(&keys, 0, sizeof(keys));
    memset(&bsp, 0, sizeof(bsp));
    if (!p || !out || !p->dp_pb_key || !p->euicc_otpk || !p->transaction_id ||
        p->transaction_id_len < 1 || p->transaction_id_len > 16 || !p->eid ||
        !p->host_id || p->host_id_len < 1 || p->host_id_len > 16 ||
        !p->upp || p->upp_len == 0 || !p->md)
        return RSP_ERR_INVAL;
    ppk = p->ppk_enc || p->ppk_mac || p->ppk_mcv;
    if (ppk && !(p->ppk_enc && p->ppk_mac && p->ppk_mcv))
        return RSP_ERR_INVAL;
    rsp_buf_init(&body, RSP_BPP_MAX);
    rsp_buf_init(&tmp, RSP_BPP_MAX);
    if ((rc = rsp_ec_key_curve(p->dp_pb_key, &curve)))
        goto out;
    if (p->euicc_otpk_key) {
        /* the caller's import of euicc_otpk: one reference more */
        if ((rc = rsp_ec_key_curve(p->euicc_otpk_key, &pc)))
            goto out;
        if (pc != curve) {
            rc = RSP_ERR_INVAL;
            goto out;
        }
        if (!EVP_PKEY_up_ref(p->euicc_otpk_key)) {
            rc = RSP_ERR_CRYPTO;
            goto out;
        }
        peer = p->euicc_otpk_key;
    } else if ((rc = rsp_bpp_otpk_import(curve, p->euicc_otpk, RSP_EC_POINT_LEN, &peer))) {
        goto out;
    }
    if ((rc = rsp_ec_key_generate(curve, &ot)) ||
        (rc = own_point(ot, otpk)) ||
        (rc = rsp_ecka_derive_checked(ot, peer, shs)) ||
        (rc = rsp_bsp_kdf(shs, RSP_BSP_KEY_TYPE_AES, RSP_AES_KEY_LEN, p->host_id,
                          p->host_id_len, p->eid, &keys)))
        goto out;
    rsp_bsp_init_keys(&bsp, &keys);
    /* one keyed CMAC/AES context set for all segments (rsp_bsp.h) */
    if ((rc = rsp_bsp_ctx_new(&bsp, &bc)))
        goto out;

    if ((rc = build_isc(p, otpk, &body)))
        goto out;
    if ((rc = build_configure_isdp(p, &tmp)) ||
        (rc = put_seq(bc, 0xA0, RSP_BSP_TAG_ENC_MAC, RSP_BSP_ENC_MAC, tmp.data, tmp.len, &body)))
        goto out;
    rsp_buf_reset(&tmp);
    if ((rc = rsp_bpp_metadata_encode(p->md, &tmp)) ||
        (rc = put_seq(bc, 0xA1, RSP_BSP_TAG_MAC_ONLY, RSP_BSP_MAC_ONLY, tmp.data, tmp.len, &body)))
        goto out;
    rsp_buf_reset(&tmp);
    if (ppk) {
        if ((rc = build_rsk(p, &tmp)) ||
            (rc = put_seq(bc, 0xA2, RSP_BSP_TAG_ENC_MAC, RSP_BSP_ENC_MAC, tmp.data, tmp.len, &body)))
            goto out;
        rsp_buf_reset(&tmp);
        /* The PPP is protected under the PPK with a fresh counter
         * (see spec-notes/crypto.md, ReplaceSessionKeys). */
        if ((rc = rsp_bsp_ctx_replace_keys(bc, p->ppk_enc, p->ppk_mac, p->ppk_mcv)))
            goto out;
    }
    if ((rc = put_seq(bc, 0xA3, RSP_BSP_TAG_PROFILE_ELEMENT, RSP_BSP_ENC_MAC,
                      p->upp, p->upp_len, &body)))
        goto out;
    rc = tlv_put(out, 0xBF36, body.data, body.len);
out:
    OPENSSL_cleanse(shs, sizeof(shs));
    rsp_bsp_keys_wipe(&keys);
    rsp_bsp_wipe(&bsp);
    rsp_bsp_ctx_free(bc);
    rsp_ec_key_free(ot);
    rsp_ec_key_free(peer);
    rsp_buf_free(&body);
    rsp_buf_free(&tmp);
    return rc;
}

/* Tag + length of the TLV at p (the value may extend past len). */
static int hdr_len(const uint8_t *p, size_t len, uint32_t *tag, size_t *hl, size_t *vl)
{
    struct rsp_tlv t;
    int rc = rsp_tlv_parse(p, len, &t);
    if (rc)
        return rc;
    *tag = t.tag;
    *hl = t.tlv_len - t.val_len;
    *vl = t.val_len;
    return 0;
}

static int seg_add(struct rsp_bpp_seg **v, size_t *n, size_t *cap, size_t off, size_t len)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        struct rsp_bpp_seg *nv = realloc(*v, nc * sizeof(**v));
        if (!nv)
            return RSP_ERR_NOMEM;
        *v = nv;
        *cap = nc;
    }
    (*v)[*n].off = off;
    (*v)[(*n)++].len = len;
    return 0;
}

int rsp_bpp_split(const uint8_t *bpp, size_t len, struct rsp_bpp_seg **segs, size_t *n)
{
    struct rsp_bpp_seg *v = NULL;
    size_t nv = 0, cap = 0, pos, hl, vl, end;
    uint32_t tag;
    struct rsp_tlv t;
    int rc;

    if (!bpp || !segs || !n)
        return RSP_ERR_INVAL;
    *segs = NULL;
    *n = 0;
    if (len > RSP_BPP_MAX)
        return RSP_ERR_TOOBIG;
    if ((rc = hdr_len(bpp, len, &tag, &hl, &vl)))
        return rc;
    if (tag != 0xBF36 || hl + vl != len)
        return RSP_ERR_DECODE;
    pos = hl;
    /* BF36 header + BF23 */
    if ((rc = rsp_tlv_parse(bpp + pos, len - pos, &t)))
        goto out;
    if (t.tag != 0xBF23) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    if ((rc = seg_add(&v, &nv, &cap, 0, pos + t.tlv_len)))
        goto out;
    pos += t.tlv_len;
    static const uint32_t seqs[] = {0xA0, 0xA1, 0xA2, 0xA3};
    static const uint8_t inner[] = {0x87, 0x88, 0x87, 0x86};
    for (int s = 0; s < 4; s++) {
        if (pos >= len) {
            rc = RSP_ERR_DECODE;
            goto out;
        }
        if ((rc = hdr_len(bpp + pos, len - pos, &tag, &hl, &vl)))
            goto out;
        if (tag != seqs[s]) {
            if (s == 2)     /* secondSequenceOf87 is optional */
                continue;
            rc = RSP_ERR_DECODE;
            goto out;
        }
        size_t start = pos;
        end = pos + hl + vl;
        pos += hl;
        int first = 1;
        /* A0/A2: header goes with the first '87'; A1/A3: header alone. */
        if (s == 1 || s == 3) {
            if ((rc = seg_add(&v, &nv, &cap, start, hl)))
                goto out;
            first = 0;
        }
        if (pos == end) {
            rc = RSP_ERR_DECODE;   /* every sequence holds at least one */
            goto out;
        }
        while (pos < end) {
            if ((rc = rsp_tlv_parse(bpp + pos, end - pos, &t)))
                goto out;
            if (t.tag != inner[s]) {
                rc = RSP_ERR_DECODE;
                goto out;
            }
            if (first)
                rc = seg_add(&v, &nv, &cap, start, hl + t.tlv_len);
            else
                rc = seg_add(&v, &nv, &cap, pos, t.tlv_len);
            if (rc)
                goto out;
            first = 0;
            pos += t.tlv_len;
        }
    }
    if (pos != len) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    *segs = v;
    *n = nv;
    return 0;
out:
    free(v);
    return rc;
}
