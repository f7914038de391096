/*
 * rsp_util.h - encodings and identifiers shared by the stack: hex, base64,
 * EID (SGP.29 / ISO/IEC 7064 MOD 97-10), ICCID (ITU-T E.118: Luhn check
 * digit; BCD as in EF.ICCID, ETSI TS 102 221 §13.2, or plain as in the SAIP
 * ProfileHeader); reading a whole file; parsing an IPv4 address:port.
 */
#ifndef RSP_UTIL_H
#define RSP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "rsp_buf.h"

/* Hex: upper-case output. rsp_hex_encode writes 2*len+1 bytes to out. */
void rsp_hex_encode(const uint8_t *p, size_t len, char *out);

/* Decode hex text (either case, no separators, even length) into out, which
 * must hold len/2 bytes. Returns the number of bytes, or RSP_ERR_DECODE. */
int rsp_hex_decode(const char *s, size_t len, uint8_t *out, size_t outmax);

/* Base64 (RFC 4648 §4, with padding), as the SGP.22 JSON binding uses.
 * Encode appends to out. Decode is strict: length a multiple of 4, no
 * whitespace, '=' only as final padding; appends to out. */
int rsp_base64_encode(const uint8_t *p, size_t len, struct rsp_buf *out);
int rsp_base64_decode(const char *s, size_t len, struct rsp_buf *out);

/* EID: 32 decimal digits whose value mod 97 == 1 (ISO/IEC 7064 MOD 97-10,
 * SGP.29 §2.2). Returns RSP_OK or RSP_ERR_EID. */
int rsp_eid_check(const char *eid);

/* Fill digits 31-32 of eid (32 digits, the last two ignored) with the check
 * digits 98 - (n*100 mod 97). Returns RSP_OK or RSP_ERR_EID. */
int rsp_eid_set_check_digits(char *eid);

/* EID <-> 16 bytes of BCD (as in GetEID's eidValue, SGP.22 §5.7.20). */
int rsp_eid_to_bytes(const char *eid, uint8_t out[16]);
void rsp_eid_from_bytes(const uint8_t in[16], char out[33]);

/* Luhn check digit over digits[0..n). Returns 0..9, or -1 for a non-digit. */
int rsp_luhn_digit(const char *digits, size_t n);

/* ICCID (18-20 digits; the last one the Luhn check digit when the ICCID has
 * 19 or 20 digits) to 10 bytes of BCD padded with F.
 * swapped != 0: nibble-swapped as in EF.ICCID and SGP.22 Iccid;
 * swapped == 0: plain BCD as in the SAIP ProfileHeader.
 * Does not check the Luhn digit (see rsp_iccid_check). */
int rsp_iccid_to_bcd(const char *iccid, int swapped, uint8_t out[10]);

/* 10 bytes of BCD to text (out holds 21 bytes). RSP_ERR_DECODE if a nibble
 * is not a digit before the F padding. */
int rsp_iccid_from_bcd(const uint8_t in[10], int swapped, char out[21]);

/* RSP_OK if iccid is 19 or 20 digits with a valid Luhn check digit. */
int rsp_iccid_check(const char *iccid);

/* The whole file at path (any kind: regular, pipe) into a malloc'd *buf of
 * *len bytes, freed by the caller; an empty file gives *len 0. RSP_OK,
 * RSP_ERR_IO, RSP_ERR_TOOBIG (over max bytes) or RSP_ERR_NOMEM. */
int rsp_file_read(const char *path, size_t max, uint8_t **buf, size_t *len);

/* "A.B.C.D:port" (IPv4 dotted quad, decimal port in port_min..65535) into
 * *sa. RSP_OK or RSP_ERR_INVAL. Whether the address may be other than
 * loopback is the caller's policy. */
struct sockaddr_in;
int rsp_ipv4_addr_parse(const char *s, long port_min, struct sockaddr_in *sa);

#endif
