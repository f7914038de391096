/*
 * lpa.private.h - liblpa internals shared by lpa_es10.c and lpa_es10b.c:
 * the one ES10 request/response path (SGP.22 v2.5 §5.7.1 transport, asn1c
 * codecs through rsp_asn1). Not installed, not part of the API (lpa.h,
 * lpa_es10b.h are).
 */
#ifndef LPA_PRIVATE_H
#define LPA_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "lpa.h"
#include "rsp_buf.h"

struct asn_TYPE_descriptor_s;

/* Cap on one asn1c-encoded ES10 request: what 256 STORE DATA blocks of 255
 * bytes carry (lpa_es10_transact refuses more for the block size in use). */
#define LPA_ES10_REQ_MAX (256u * 255u)

/*
 * Send cmd (one DER ES10 request) and decode the response as td_resp.
 * [out] *out  the decoded response (rsp_asn1_free by the caller); NULL on
 *             failure.
 * [out] raw   NULL, or the raw response bytes (for responses the LPA
 *             forwards, signed by the card): initialised here, freed on
 *             failure, rsp_buf_free by the caller.
 * Errors: lpa_es10_transact's; RSP_ERR_DECODE for an empty response or one
 * that is not td_resp; RSP_ERR_NOMEM.
 */
int lpa_es10_exchange(struct lpa_ctx *ctx, const uint8_t *cmd, size_t len,
                      const struct asn_TYPE_descriptor_s *td_resp, void **out,
                      struct rsp_buf *raw);

/* Encode req (type td_req) with asn1c, then lpa_es10_exchange. Encoding
 * errors (RSP_ERR_ENCODE, RSP_ERR_TOOBIG) as rsp_asn1_encode returns them. */
int lpa_es10_call(struct lpa_ctx *ctx, const struct asn_TYPE_descriptor_s *td_req,
                  const void *req, const struct asn_TYPE_descriptor_s *td_resp, void **out,
                  struct rsp_buf *raw);

/* GetEUICCInfo1 / GetEUICCInfo2 (§5.7.8): send req (the empty td_req) and
 * return the raw response in *out (initialised here, freed on failure),
 * checked to be exactly one TLV with this tag (BF20 / BF22): the bytes are
 * handed on unchanged (to ES9+, or decoded by the caller). */
int lpa_es10_get_tlv(struct lpa_ctx *ctx, const struct asn_TYPE_descriptor_s *td_req,
                     const void *req, uint32_t tag, struct rsp_buf *out);

#endif
