/*
 * rsp_asn1.h - the one wrapper around the asn1c 0.9.28 runtime.
 *
 * Only rsp_asn1.c calls ber_decode/der_encode. It makes up for what asn1c
 * does not check (see spec-notes/asn1.md):
 *   decode = size cap + strict DER tag/length walk (no indefinite or
 *            non-minimal lengths, minimal tag numbers, ITU-T X.690 §8.1.2,
 *            §10.1) + ber_decode + consumed == len + asn_check_constraints.
 *            Contents are checked as BER, not DER: a constructed OCTET
 *            STRING, BOOLEAN 01, a non-minimal INTEGER or non-zero unused
 *            bits of a BIT STRING are accepted (asn1c cannot tell, and a
 *            re-encode comparison would also reject newer peers' unknown
 *            extension fields). Signatures are always verified over the
 *            received bytes, so this is malleability, never forgery;
 *   encode = asn_check_constraints + der_encode into a capped buffer.
 * Generated types (RSP_*, PE types) may be used inside a component's .c
 * files through this header, never in a component's public header.
 *
 * The TLV helpers locate the exact bytes of a signed structure
 * (serverSigned1, euiccSigned1, smdpSigned2, ...) inside a received message,
 * so that signatures are verified over what was received, never over a
 * re-encoding.
 */
#ifndef RSP_ASN1_H
#define RSP_ASN1_H

#include <stddef.h>
#include <stdint.h>

#include <asn_application.h>
#include <BIT_STRING.h>
#include <OCTET_STRING.h>

#include "rsp_buf.h"

/* Decode exactly one DER value of type td from p[0..len).
 * [in]  max   cap on len (RSP_ERR_TOOBIG above it)
 * [out] out   the decoded structure, to be freed with rsp_asn1_free();
 *             NULL on failure.
 * Errors: RSP_ERR_TOOBIG, RSP_ERR_DECODE (lengths not DER, not of this
 * type, trailing bytes, constraint violated), RSP_ERR_NOMEM. */
int rsp_asn1_decode(const asn_TYPE_descriptor_t *td, const uint8_t *p, size_t len,
                    size_t max, void **out);

/* DER-encode st (type td), appending to out; out->max is the cap.
 * Errors: RSP_ERR_ENCODE (constraint violated), RSP_ERR_TOOBIG, RSP_ERR_NOMEM;
 * on error out is freed (rsp_buf semantics). */
int rsp_asn1_encode(const asn_TYPE_descriptor_t *td, const void *st, struct rsp_buf *out);

/* Free a structure returned by rsp_asn1_decode or built by the caller on the
 * heap; NULL is fine. */
void rsp_asn1_free(const asn_TYPE_descriptor_t *td, void *st);

/* Free only the members of a structure that lives on the stack or inside
 * another (ASN_STRUCT_FREE_CONTENTS_ONLY). The structure's pointers are left
 * dangling: memset it to zero before reuse. */
void rsp_asn1_free_contents(const asn_TYPE_descriptor_t *td, void *st);

/* One BER-TLV as found in a buffer. tag is the raw tag bytes read as a
 * big-endian number (0x5A, 0x80, 0xA0, 0xBF38, 0x9F7F ...). */
struct rsp_tlv {
    uint32_t tag;
    int constructed;
    const uint8_t *tlv;   /* start of the tag */
    size_t tlv_len;       /* tag + length + value */
    const uint8_t *val;
    size_t val_len;
};

/* Parse the TLV at the start of p[0..len) with DER length rules (definite,
 * minimal; tags of at most 4 bytes). Trailing bytes after it are allowed
 * (see rsp_tlv_next). Errors: RSP_ERR_DECODE. */
int rsp_tlv_parse(const uint8_t *p, size_t len, struct rsp_tlv *out);

/* Iterate the TLVs of a constructed value: *pos starts at 0; returns 1 with
 * *out filled, 0 at the end, RSP_ERR_DECODE on malformed data. */
int rsp_tlv_next(const uint8_t *p, size_t len, size_t *pos, struct rsp_tlv *out);

/* Find the first direct child with this tag in p[0..len) (a constructed
 * value's contents). Returns RSP_OK, RSP_ERR_NOTFOUND or RSP_ERR_DECODE. */
int rsp_tlv_find(const uint8_t *p, size_t len, uint32_t tag, struct rsp_tlv *out);

/* Check that p[0..len) is exactly one TLV tree with DER lengths throughout:
 * every constructed value is walked to max_depth. RSP_OK or RSP_ERR_DECODE. */
int rsp_der_check(const uint8_t *p, size_t len, int max_depth);

/* Append a TLV header (tag bytes + DER length) for a value of vlen bytes. */
int rsp_tlv_put_header(struct rsp_buf *out, uint32_t tag, size_t vlen);
/* Append a whole primitive TLV: the header, then v[0..vlen). */
int rsp_tlv_put(struct rsp_buf *out, uint32_t tag, const void *v, size_t vlen);

/* Named BIT STRINGs (X.690 §11.2.2: trailing zero bits removed).
 * Bit i of mask is named bit i (bit 0 = MSB of the first octet). Fills bs,
 * freeing its previous contents. */
int rsp_asn1_named_bits_set(BIT_STRING_t *bs, uint32_t mask);
/* Read back named bits 0..31 as a mask; bits beyond the value read as 0. */
uint32_t rsp_asn1_named_bits_get(const BIT_STRING_t *bs);

/* Set an OCTET STRING's contents (copy). */
int rsp_asn1_octets_set(OCTET_STRING_t *os, const void *p, size_t len);

#endif
