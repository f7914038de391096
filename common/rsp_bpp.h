/*
 * rsp_bpp.h - the Bound Profile Package, SM-DP+ side (SGP.22 v2.5 §2.5):
 * bind an unprotected profile package to one eUICC and one download session,
 * and split a BPP into the segments the LPA sends (§2.5.5).
 *
 * A BPP is (SGP.22 §2.5.4, ASN.1 BoundProfilePackage, tag BF36):
 *   BF36 L
 *     BF23 L InitialiseSecureChannelRequest             (§5.5.1)
 *     A0 L  87 ..                  ConfigureISDP         (§5.5.2, enc+MAC)
 *     A1 L  88 .. 88 ..            StoreMetadata BF25    (§5.5.3, MAC only)
 *     [A2 L 87 ..]                 ReplaceSessionKeys    (§5.5.4, enc+MAC)
 *     A3 L  86 .. 86 ..            profile elements      (§5.5.5, enc+MAC)
 * Each [7]/[8]/[6] OCTET STRING element of the sequences IS the BSP segment:
 * its value is the ciphertext (or plaintext) || C-MAC, so on the wire there
 * is one level, `A0 L 87 L' ...`, exactly the segment rsp_bsp_unwrap takes.
 *
 * Session keys: ShS = ECKA(otSK.DP.ECKA, otPK.EUICC.ECKA), then the BSP KDF
 * with the ControlRefTemplate (keyType 88, keyLen 10, hostId) and the EID
 * (rsp_bsp_kdf; SGP.22 §2.6.4 / Annex G).
 *
 * smdpSign (SGP.22 §5.5.1, as done by osmocom pySim es8p.py): ECDSA with
 * SK.DPpb over the value of BF23 up to smdpSign - the data objects
 * remoteOpId (82), transactionId (80), controlRefTemplate (A6), smdpOtpk
 * (5F49), exactly as encoded - followed by the TLV 5F49 41 otPK.EUICC.ECKA.
 * rsp_bpp_isc_signed_data() builds that string for both sides.
 *
 * No generated (asn1c) type appears here. Functions return 0 or a negative
 * rsp_err; outputs are appended to caller buffers (freed on failure, as
 * rsp_buf does). Nothing logs; keys are wiped.
 */
#ifndef RSP_BPP_H
#define RSP_BPP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "rsp_buf.h"
#include "rsp_crypto.h"

/* Largest BPP we build or split (a TS.48 profile is ~12 KB). */
#define RSP_BPP_MAX (1024u * 1024u)

/* One NotificationConfigurationInformation (SGP.22 §5.5.3). */
struct rsp_bpp_notif {
    uint32_t events;        /* NotificationEvent mask: bit 0 install,
                             * 1 enable, 2 disable, 3 delete */
    const char *address;    /* notificationAddress (FQDN) */
};

/* The profile metadata: StoreMetadataRequest (SGP.22 §5.5.3, tag BF25). */
struct rsp_bpp_metadata {
    const char *iccid;              /* 18-20 digits (encoded swapped BCD, 5A) */
    const char *service_provider;   /* serviceProviderName (0..32 bytes) */
    const char *profile_name;       /* profileName (0..64 bytes) */
    int profile_class;              /* ProfileClass 0 test, 1 provisioning,
                                     * 2 operational (the DEFAULT, so not
                                     * encoded); -1: omit */
    const struct rsp_bpp_notif *notifs;
    size_t n_notifs;
    uint32_t ppr;                   /* PprIds mask (bit 1 ppr1, bit 2 ppr2);
                                     * 0: profilePolicyRules absent */
    int icon_type;                  /* IconType 0 jpg, 1 png (with icon) */
    const uint8_t *icon;            /* NULL: no icon; at most 1024 bytes */
    size_t icon_len;
};

/* DER StoreMetadataRequest (BF25) of md, appended to out.
 * Errors: RSP_ERR_INVAL (ICCID, string sizes), RSP_ERR_TOOBIG, RSP_ERR_NOMEM. */
int rsp_bpp_metadata_encode(const struct rsp_bpp_metadata *md, struct rsp_buf *out);

/* The byte string smdpSign covers (see above), appended to out.
 * isc_val[0..isc_len) is the value of BF23 (its smdpSign TLV, if present,
 * and anything after it are ignored); euicc_otpk is the 65-byte point. */
int rsp_bpp_isc_signed_data(const uint8_t *isc_val, size_t isc_len,
                            const uint8_t euicc_otpk[RSP_EC_POINT_LEN],
                            struct rsp_buf *out);

/* otPK.EUICC.ECKA (an uncompressed point, RSP_EC_POINT_LEN bytes) as a key
 * on curve, checked: coordinates below p, on the curve, not the point at
 * infinity (OpenSSL's quick public key check). Both SGP.22 curves (P-256,
 * brainpoolP256r1) have cofactor 1, so such a point has order n: the
 * complete check, without the n*Q scalar multiplication that
 * rsp_ec_pubkey_from_point adds. RSP_ERR_DECODE (not a valid point),
 * RSP_ERR_UNSUPPORTED (curve), RSP_ERR_INVAL, RSP_ERR_CRYPTO. */
int rsp_bpp_otpk_import(int curve, const uint8_t *pt, size_t len, EVP_PKEY **out);

struct rsp_bpp_params {
    EVP_PKEY *dp_pb_key;            /* SK.DPpb.ECDSA (signs smdpSign) */
    const uint8_t *euicc_otpk;      /* otPK.EUICC.ECKA, 65 bytes, from
                                     * PrepareDownload's euiccSigned2 */
    EVP_PKEY *euicc_otpk_key;       /* optional: the same point already
                                     * imported and checked by the caller
                                     * (rsp_bpp_otpk_import or
                                     * rsp_ec_pubkey_from_point on the curve
                                     * of dp_pb_key), so it is neither
                                     * imported nor checked again; NULL:
                                     * imported from euicc_otpk */
    const uint8_t *transaction_id;  /* 1..16 bytes */
    size_t transaction_id_len;
    const uint8_t *eid;             /* 16 bytes (BCD) */
    const uint8_t *host_id;         /* ControlRefTemplate hostId, 1..16 */
    size_t host_id_len;
    const uint8_t *upp;             /* unprotected profile package: the DER
                                     * profile elements PE-Header .. PE-End */
    size_t upp_len;
    const struct rsp_bpp_metadata *md;
    const uint8_t *dp_oid_der;      /* optional: ConfigureISDP dpProprietaryData
                                     * dpOid, the OID's content octets; NULL
                                     * for an empty ConfigureISDPRequest */
    size_t dp_oid_len;
    /* Optional PPK (SGP.22 §2.5.3 protected profile package): all three or
     * none. With them, secondSequenceOf87 carries ReplaceSessionKeys and the
     * '86' segments are protected with the PPK. */
    const uint8_t *ppk_enc;         /* 16 bytes */
    const uint8_t *ppk_mac;         /* 16 bytes */
    const uint8_t *ppk_mcv;         /* 16 bytes initialMacChainingValue */
};

/* Build the BPP (BF36) for p, appended to out (cap at most RSP_BPP_MAX is
 * the caller's choice). A fresh otSK/otPK.DP.ECKA is generated on the curve
 * of dp_pb_key and wiped afterwards.
 * Errors: RSP_ERR_INVAL, RSP_ERR_DECODE (euicc_otpk not a valid point on
 * that curve), RSP_ERR_TOOBIG, RSP_ERR_NOMEM, RSP_ERR_CRYPTO. */
int rsp_bpp_build(const struct rsp_bpp_params *p, struct rsp_buf *out);

/* One transmission segment of SGP.22 §2.5.5 (a slice of the BPP). */
struct rsp_bpp_seg {
    size_t off;
    size_t len;
};

/*
 * Split bpp[0..len) into the LoadBoundProfilePackage segments (SGP.22
 * §2.5.5), in order:
 *   BF36 tag+length + the BF23 TLV;
 *   A0 tag+length + its first '87' (each further '87' alone);
 *   A1 tag+length; each '88';
 *   A2 tag+length + its first '87' (each further '87' alone), if present;
 *   A3 tag+length; each '86'.
 * [out] *segs (malloc'd, free()), *n. The structure is checked (tags,
 * nesting, DER lengths, nothing trailing) but nothing is verified.
 * Errors: RSP_ERR_DECODE, RSP_ERR_TOOBIG, RSP_ERR_NOMEM, RSP_ERR_INVAL.
 */
int rsp_bpp_split(const uint8_t *bpp, size_t len, struct rsp_bpp_seg **segs, size_t *n);

#endif
