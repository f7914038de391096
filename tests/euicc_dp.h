/*
 * euicc_dp.h - the SM-DP+ side of a download, played by hand for the euicc
 * test suites (moved out of test_euicc_es10b.c so the tear test can share
 * it): signs serverSigned1 with the DPauth key, smdpSigned2 with the DPpb
 * key, builds the BPP with rsp_bpp and sends it in the segments of SGP.22
 * §2.5.5 through euicc_fixture_es10().
 */
#ifndef EUICC_DP_H
#define EUICC_DP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "euicc_fixture.h"
#include "rsp_crypto.h"
#include "rsp_pki.h"

/* What can go wrong on purpose. */
enum euicc_dp_fault {
    DP_F_NONE = 0, DP_F_CHALLENGE, DP_F_SERVER_SIG, DP_F_FOREIGN_CI, DP_F_TID_PD, DP_F_MAC86,
    DP_F_ICCID_MISMATCH, DP_F_TRUNCATED, DP_F_GARBAGE, DP_F_SMDP_SIGN, DP_F_TID_ISC,
    DP_F_STOP_BPP,      /* send only the first two BPP segments (ISC, A0), as
                         * an LPA whose session dies mid-install */
    DP_F_OTPK_OFF_CURVE, /* smdpOtpk in the ISC moved off the curve, smdpSign
                          * made again over it with the DPpb key */
};

/* The SM-DP+ of a test and its session. */
struct euicc_dp {
    const char *pki;
    struct rsp_pki_cred auth, pb;
    uint8_t tid[16];
    uint8_t sig1[RSP_ECDSA_SIG_LEN];
    uint8_t otpk[RSP_EC_POINT_LEN];
    /* bppEuiccOtpk for the next euicc_dp_prepare (SGP.22 §3.1.3 retry):
     * sent in smdpSigned2 when bpp_otpk_len > 0 (any length, to test a
     * malformed one). */
    uint8_t bpp_otpk[RSP_EC_POINT_LEN];
    size_t bpp_otpk_len;
    X509 *euicc_cert;
    char eid[33];
    uint16_t sw;
};

/* The PIR of a download. */
struct euicc_dp_pir {
    int ok;             /* successResult */
    int cmd, reason;    /* errorResult */
    int sig_ok;
    int present;        /* a PIR came back */
};

/* Load the DPauth (or, foreign, the Negative/ *_FOREIGN_CI DPauth) and DPpb
 * credentials of curve ("NIST"/"BRP") from pki. Returns 0 or rsp_err. */
int euicc_dp_load(struct euicc_dp *d, const char *pki, const char *curve, int foreign);

/* Free what euicc_dp_load and the flow kept. */
void euicc_dp_free(struct euicc_dp *d);

/* Send cmd; [out] resp (caller frees). */
uint8_t *euicc_dp_es10(struct euicc_fixture *f, struct euicc_dp *d, const uint8_t *cmd, size_t len,
                     size_t *rlen);

/* GetEUICCChallenge + AuthenticateServer. Returns the AuthenticateServer
 * response (malloc'd) or NULL. */
uint8_t *euicc_dp_authenticate(struct euicc_fixture *f, struct euicc_dp *d, enum euicc_dp_fault fault,
                             size_t *rlen);

/* Check an AuthenticateServer response: OK with a valid euiccSignature1.
 * Keeps sig1 and the eUICC certificate. Returns 0 or the error code (>0). */
int euicc_dp_check_auth(struct euicc_dp *d, const uint8_t *r, size_t n);

/* PrepareDownload; returns 0 (otpk kept), the DownloadErrorCode, or -1. */
int euicc_dp_prepare(struct euicc_fixture *f, struct euicc_dp *d, enum euicc_dp_fault fault);

/* Decode a ProfileInstallationResult and verify its signature. */
void euicc_dp_check_pir(struct euicc_dp *d, const uint8_t *r, size_t n, struct euicc_dp_pir *p);

/* Build the BPP of upp and send it; the last response's PIR into *p. */
void euicc_dp_load_bpp(struct euicc_fixture *f, struct euicc_dp *d, const uint8_t *upp, size_t upp_len,
                     const char *iccid, enum euicc_dp_fault fault, int use_ppk, struct euicc_dp_pir *p);

/* Read ../shared/ts48/name; [out] its ICCID (21 bytes). malloc'd or NULL. */
uint8_t *euicc_dp_read_profile(const char *name, size_t *len, char *iccid);

/* Whole flow up to the PIR. Returns the PIR in *p; auth/prepare results. */
int euicc_dp_run(struct euicc_fixture *f, struct euicc_dp *d, const uint8_t *upp, size_t upp_len,
               const char *iccid, enum euicc_dp_fault fault, int use_ppk, struct euicc_dp_pir *p);

/* A new session (challenge, AuthenticateServer checked) and PrepareDownload;
 * the SM-DP+ names otpk (len bytes, any length) as bppEuiccOtpk when otpk is
 * not NULL (SGP.22 §3.1.3 retry). Returns euicc_dp_prepare's result, or
 * 1000 + the AuthenticateServer error; the otPK the card answered is in
 * d->otpk. */
int euicc_dp_session_prepare(struct euicc_fixture *f, struct euicc_dp *d, const uint8_t *otpk,
                             size_t len);

#endif
