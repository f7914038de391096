/*
 * lpa_es10b.h - liblpa: the ES10b functions of the profile download and of
 * notification delivery (SGP.22 v2.5 §5.7), as the download of §3.1 needs
 * them: the messages the SM-DP+ produced travel through the LPA unchanged,
 * so these functions take and return raw DER (complete TLVs, as the JSON
 * binding of §6.5.2 carries them in base64) and decode only what the LPA
 * must look at (error codes, the transaction id, the PIR).
 *
 *   GetEUICCInfo2              §5.7.8   BF22
 *   AuthenticateServer         §5.7.13  BF38 (ctxParams1 built here)
 *   PrepareDownload            §5.7.5   BF21
 *   LoadBoundProfilePackage    §5.7.6   the BPP segments of §2.5.5
 *   CancelSession              §5.7.14  BF41
 *   RetrieveNotificationsList  §5.7.10  BF2B
 *   GetRAT                     §5.7.22  BF43 (and the PPR check of §2.9.2.2)
 *   LoadCRL                    §5.7.12  BF35
 * GetEUICCChallenge / GetEUICCInfo1 / ListNotification /
 * RemoveNotificationFromList are in lpa.h.
 *
 * All return 0 or a negative error (lpa_es10_transact's, or RSP_ERR_DECODE
 * for a response that is not the expected DER). An ES10b error result the
 * card sent is data (*error), never a C error.
 */
#ifndef LPA_ES10B_H
#define LPA_ES10B_H

#include <stddef.h>
#include <stdint.h>

#include "lpa.h"
#include "rsp_buf.h"

/* CancelSessionReason (SGP.22 §5.7.14). */
enum lpa_cancel_reason {
    LPA_CANCEL_END_USER_REJECTION = 0,
    LPA_CANCEL_POSTPONED = 1,
    LPA_CANCEL_TIMEOUT = 2,
    LPA_CANCEL_PPR_NOT_ALLOWED = 3,
    LPA_CANCEL_METADATA_MISMATCH = 4,
    LPA_CANCEL_LOAD_BPP_EXECUTION_ERROR = 5,
    LPA_CANCEL_UNDEFINED_REASON = 127,
};

/* GetEUICCInfo2 (§5.7.8): the raw BF22 response in *out (initialised here,
 * rsp_buf_free by the caller). */
int lpa_es10b_get_euicc_info2(struct lpa_ctx *ctx, struct rsp_buf *out);

/* The parts of AuthenticateServerRequest (SGP.22 §5.7.13), each one complete
 * DER TLV exactly as ES9+.InitiateAuthentication returned it. */
struct lpa_auth_server_in {
    const uint8_t *server_signed1;  size_t server_signed1_len;   /* 30 .. */
    const uint8_t *server_sig1;     size_t server_sig1_len;      /* 5F37 .. */
    const uint8_t *ci_pkid;         size_t ci_pkid_len;          /* 04 .. */
    const uint8_t *server_cert;     size_t server_cert_len;      /* 30 .. */
    const char *matching_id;        /* NULL: absent; else at most 255 bytes */
    uint8_t tac[4];                 /* deviceInfo.tac */
    const uint8_t *imei;            /* NULL or 8 bytes (deviceInfo.imei) */
};

/*
 * AuthenticateServer (BF38). ctxParams1 = ctxParamsForCommonAuthentication
 * {matchingId, deviceInfo {tac, deviceCapabilities, imei}}.
 * [out] resp   the raw response (for ES9+.AuthenticateClient), initialised
 *              here; freed on failure.
 * [out] *error authenticateResponseError code, 0 on authenticateResponseOk.
 * Errors: RSP_ERR_INVAL (missing part, matchingId too long), transport,
 * RSP_ERR_DECODE.
 */
int lpa_es10b_authenticate_server(struct lpa_ctx *ctx, const struct lpa_auth_server_in *in,
                                  struct rsp_buf *resp, int *error);

/* PrepareDownload (BF21, §5.7.5): smdpSigned2 (30..), smdpSignature2
 * (5F37..), smdpCertificate (30..) as received; hash_cc NULL or 32 bytes.
 * [out] resp the raw response (for ES9+.GetBoundProfilePackage);
 * *error downloadErrorCode, 0 on downloadResponseOk. */
int lpa_es10b_prepare_download(struct lpa_ctx *ctx,
                               const uint8_t *smdp_signed2, size_t smdp_signed2_len,
                               const uint8_t *smdp_sig2, size_t smdp_sig2_len,
                               const uint8_t *smdp_cert, size_t smdp_cert_len,
                               const uint8_t *hash_cc, struct rsp_buf *resp, int *error);

/* What LoadBoundProfilePackage ended with. */
struct lpa_load_result {
    int pir_present;            /* the card answered a ProfileInstallationResult */
    int success;                /* finalResult = successResult */
    int bpp_command_id;         /* errorResult, -1 none */
    int error_reason;           /* errorResult, -1 none */
    long seq;                   /* notificationMetadata.seqNumber, -1 none */
    char iccid[21];             /* notificationMetadata.iccid, "" none */
    char address[256];          /* notificationMetadata.notificationAddress */
    size_t segments_sent;
    size_t segments_total;
    uint8_t tid[16];            /* ProfileInstallationResultData.transactionId */
    size_t tid_len;             /* 0 none */
};

/*
 * LoadBoundProfilePackage (§5.7.6 / ES8+ §5.5): split bpp with rsp_bpp_split
 * (§2.5.5) and send each segment as one ES10 transaction; stop as soon as
 * the card answers data (a ProfileInstallationResult, BF37).
 * [out] pir  the raw PIR (for ES9+.HandleNotification), initialised here;
 *            empty if the card never answered one.
 * Returns 0 when a PIR came back (success or not: see *out), RSP_ERR_DECODE
 * for a BPP that does not split or a response that is not a PIR, transport
 * errors (LPA_ERR_SW ...) as they came; *out is filled in every case.
 */
int lpa_es10b_load_bpp(struct lpa_ctx *ctx, const uint8_t *bpp, size_t bpp_len,
                       struct rsp_buf *pir, struct lpa_load_result *out);

/* Decode a raw ProfileInstallationResult (BF37) into *out (the segment
 * counters untouched). RSP_ERR_DECODE if it is not one. */
int lpa_es10b_pir_decode(const uint8_t *p, size_t len, struct lpa_load_result *out);

/* CancelSession (BF41, §5.7.14). tid 1..16 bytes.
 * [out] resp the raw response (for ES9+.CancelSession); *error
 * cancelSessionResponseError, 0 on cancelSessionResponseOk. */
int lpa_es10b_cancel_session(struct lpa_ctx *ctx, const uint8_t *tid, size_t tid_len,
                             int reason, struct rsp_buf *resp, int *error);

/* One pending notification as RetrieveNotificationsList returns it. */
struct lpa_pending_notification {
    long seq;
    uint32_t event;             /* NotificationEvent bits */
    char *address;              /* notificationAddress, NUL-terminated */
    uint8_t *der;               /* the PendingNotification TLV (BF37 or 30) */
    size_t der_len;
};

struct lpa_pending_list {
    int error;                  /* notificationsListResultError, 0 valid */
    size_t count;
    struct lpa_pending_notification *items;
};

/* RetrieveNotificationsList (BF2B, §5.7.10): seq >= 0 searches that
 * seqNumber, seq < 0 returns all. */
int lpa_es10b_retrieve_notifications(struct lpa_ctx *ctx, long seq,
                                     struct lpa_pending_list *out);
void lpa_pending_list_free(struct lpa_pending_list *l);

/* ---- Rules Authorisation Table (SGP.22 §2.9.2.2, GetRAT §5.7.22) ---- */

/* PprIds named bits (bit i = 1 << i, as rsp_asn1_named_bits_get). */
#define LPA_PPR_UPDATE_CONTROL (1u << 0)
#define LPA_PPR1               (1u << 1)
#define LPA_PPR2               (1u << 2)

/* OperatorId (mccMnc: 3 bytes, the 3GPP TS 24.008 PLMN coding; in a RAT a
 * nibble 'E' matches any digit). gid*_len -1: absent. */
#define LPA_GID_MAX 32
struct lpa_operator_id {
    uint8_t mcc_mnc[3];
    uint8_t gid1[LPA_GID_MAX], gid2[LPA_GID_MAX];
    int gid1_len, gid2_len;
};

/* One ProfilePolicyAuthorisationRule. */
struct lpa_ppar {
    unsigned ppr_ids;               /* PprIds bits */
    int consent_required;           /* pprFlags consentRequired */
    size_t n_ops;
    struct lpa_operator_id *ops;    /* allowedOperators */
};

struct lpa_rat {
    size_t count;
    struct lpa_ppar *rules;         /* in the card's order */
};

/* GetRAT (BF43): the card's RAT, decoded with asn1c (GetRatResponse).
 * RSP_ERR_DECODE for a response that is no GetRatResponse or an OperatorId
 * whose mccMnc is not 3 bytes / a GID over LPA_GID_MAX bytes. *out is
 * empty on failure; lpa_rat_free() in every case. */
int lpa_es10b_get_rat(struct lpa_ctx *ctx, struct lpa_rat *out);
void lpa_rat_free(struct lpa_rat *rat);

/* Does the RAT rule op (allowedOperators entry) cover the profile owner?
 * mccMnc nibble by nibble, 'E' in the rule matching any nibble; a GID the
 * rule names must be present and equal in the owner, a GID the rule leaves
 * out matches anything. */
int lpa_operator_match(const struct lpa_operator_id *rule, const struct lpa_operator_id *owner);

/*
 * The LPA's PPR check (SGP.22 §2.9.2.2, §3.1.3 step "the LPAd SHALL check
 * the PPRs against the RAT"): for each PPR in ppr_mask (ppr1, ppr2;
 * pprUpdateControl is no rule of its own and is not checked) the FIRST rule
 * of the RAT that lists the PPR and an operator matching owner decides: no
 * such rule = not allowed; its consentRequired flag = the end user must
 * confirm. owner NULL (metadata without profileOwner) matches no rule.
 * [out] *not_allowed the PPR bits no rule allows (0: all allowed),
 *       *consent 1 if a deciding rule requires end-user consent.
 */
void lpa_rat_check(const struct lpa_rat *rat, unsigned ppr_mask,
                   const struct lpa_operator_id *owner, unsigned *not_allowed, int *consent);

/* ---- LoadCRL (SGP.22 §5.7.12, BF35) ---- */

#define LPA_CRL_MISSING_MAX 32

struct lpa_crl_result {
    int error;                          /* loadCRLResponseError, 0 on loadCRLResponseOk
                                         * (1 invalidSignature, 2 invalidCRLFormat,
                                         * 3 notEnoughMemorySpace, 4 verificationKeyNotFound,
                                         * 5 fresherCrlAlreadyLoaded, 6 baseCrlMissing,
                                         * 127 undefinedError) */
    size_t n_missing;                   /* missingParts: partial CRL numbers still */
    long missing[LPA_CRL_MISSING_MAX];  /* to load (ok only) */
};

/*
 * LoadCRL: crl is one DER CertificateList (RFC 5280 §5.1), as the CI
 * published it; the card gets BF35 { A0 <its contents byte for byte> }
 * (LoadCRLRequest, crl [0] by automatic tagging), encoded with asn1c.
 * [out] *out the card's answer (zeroed on failure).
 * Errors: RSP_ERR_INVAL (NULL, or crl is not exactly one DER
 * CertificateList: nothing sent), RSP_ERR_TOOBIG (over LPA_ES10 request
 * size: 65280 bytes; fewer with a smaller block size), transport,
 * RSP_ERR_DECODE (no LoadCRLResponse, more than LPA_CRL_MISSING_MAX
 * missing parts).
 */
int lpa_es10b_load_crl(struct lpa_ctx *ctx, const uint8_t *crl, size_t crl_len,
                       struct lpa_crl_result *out);

#endif
