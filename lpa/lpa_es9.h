/*
 * lpa_es9.h - liblpa: the ES9+ client (SGP.22 v2.5 §5.6) in the JSON
 * binding of §6.5 over a struct lpa_http_driver (lpa_rsp.h).
 *
 * Every request is POST https://<address>/gsma/rsp2/es9plus/<function> with
 * the header lines LPA_ES9_* of lpa_rsp.h and a JSON body without "header"
 * (ES9+ requests carry none, §6.5.1); binary values are base64 (RFC 4648,
 * strict) of complete DER TLVs, transactionId is hex. A response must be
 * HTTP 200 with a JSON object whose header.functionExecutionStatus.status
 * is "Executed-Success" or "Executed-WithWarning" (handleNotification: 204
 * without body, §6.5.2.9). Anything else is an error with the details in
 * the struct lpa_result given to the client:
 *   LPA_ERR_ES9     status "Failed"/"Expired" (status, subject_code,
 *                   reason_code, message copied) or another HTTP status;
 *   RSP_ERR_IO      the driver could not deliver (detail: its reason);
 *   RSP_ERR_DECODE  malformed JSON, missing field, bad base64/hex, a value
 *                   that is not the expected TLV, transactionId mismatch;
 *   RSP_ERR_TOOBIG  response over LPA_ES9_RESP_MAX.
 * JSON is parsed with JSON_REJECT_DUPLICATES.
 */
#ifndef LPA_ES9_H
#define LPA_ES9_H

#include <stddef.h>
#include <stdint.h>

#include "lpa_rsp.h"
#include "rsp_buf.h"

struct lpa_es9 {
    const struct lpa_http_driver *http;
    const char *address;           /* SM-DP+ address ("host[:port]") */
    struct lpa_result *res;        /* receives failure details (not cleared) */
};

/* ES9+.InitiateAuthentication response (§5.6.1): each value one TLV. */
struct lpa_es9_auth {
    uint8_t tid[16];
    size_t tid_len;
    struct rsp_buf server_signed1, server_sig1, ci_pkid, server_cert;
};
void lpa_es9_auth_free(struct lpa_es9_auth *a);

/* smdp_address: the SM-DP+ address as the LPA knows it (from the AC). */
int lpa_es9_initiate_authentication(struct lpa_es9 *c, const uint8_t challenge[16],
                                    const uint8_t *info1, size_t info1_len,
                                    const char *smdp_address, struct lpa_es9_auth *out);

/* ES9+.AuthenticateClient response (§5.6.3). */
struct lpa_es9_client {
    struct rsp_buf metadata;       /* StoreMetadataRequest BF25 */
    struct rsp_buf smdp_signed2, smdp_sig2, smdp_cert;
};
void lpa_es9_client_free(struct lpa_es9_client *cl);

int lpa_es9_authenticate_client(struct lpa_es9 *c, const uint8_t *tid, size_t tid_len,
                                const uint8_t *auth_resp, size_t auth_resp_len,
                                struct lpa_es9_client *out);

/* ES9+.GetBoundProfilePackage (§5.6.2): [out] bpp (BF36), initialised here. */
int lpa_es9_get_bpp(struct lpa_es9 *c, const uint8_t *tid, size_t tid_len,
                    const uint8_t *prep_resp, size_t prep_resp_len, struct rsp_buf *bpp);

/* ES9+.HandleNotification (§5.6.4) to address (overrides c->address). */
int lpa_es9_handle_notification(struct lpa_es9 *c, const char *address,
                                const uint8_t *pending, size_t pending_len);

/* ES9+.CancelSession (§5.6.5) with the eUICC's CancelSession response. */
int lpa_es9_cancel_session(struct lpa_es9 *c, const uint8_t *tid, size_t tid_len,
                           const uint8_t *cancel_resp, size_t cancel_resp_len);

#endif
