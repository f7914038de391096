/*
 * smdp_ac.h - activation codes, matching IDs and confirmation codes
 * (SGP.22 v2.5 §4.1 Activation Code; §3.1.3 and §5.6.x hashCc).
 */
#ifndef SMDP_AC_H
#define SMDP_AC_H

#include <stddef.h>
#include <stdint.h>

/* Generated matching IDs: 4 groups of 5 symbols from a 32-symbol subset of
 * [0-9A-Z] (no 0/O/1/I), '-' between groups: 100 bits from RAND_bytes,
 * e.g. "K7Q2M-9XZ4D-..."; 23 characters. SGP.22 §4.1 allows upper-case
 * alphanumerics and '-' in the AC_Token. */
#define SMDP_MATCHING_ID_LEN 23

/* [out] out (SMDP_MATCHING_ID_LEN + 1 bytes). RSP_ERR_CRYPTO if the RNG
 * fails. */
int smdp_matching_id_generate(char out[SMDP_MATCHING_ID_LEN + 1]);

/* 1 if s is a non-empty matching ID of at most 64 characters from
 * [0-9A-Z-]. */
int smdp_matching_id_valid(const char *s);

/* 1 if s looks like an FQDN we may put in an activation code: letters,
 * digits, '-', '.', no '$', 1..255 characters. */
int smdp_fqdn_valid(const char *s);

/* Write "LPA:1$<fqdn>$<matching id>" and, when cc_required, "$$1" (empty
 * SM-DP+ OID, Confirmation Code Required Flag "1"), NUL-terminated.
 * Returns the length, RSP_ERR_INVAL for bad fields, RSP_ERR_TOOBIG if out
 * is too small. */
int smdp_activation_code(const char *fqdn, const char *matching_id, int cc_required,
                         char *out, size_t outlen);

/* SHA-256 of the confirmation code as typed (what the SM-DP+ stores). */
int smdp_cc_hash(const char *code, uint8_t out[32]);

/* hashCc check: 1 if hash_cc == SHA-256(cc_hash | transactionId), the
 * value the LPA sends (SGP.22 §3.1.3 / ES9+.GetBoundProfilePackage),
 * compared in constant time; 0 if not, negative on error. */
int smdp_cc_check(const uint8_t cc_hash[32], const uint8_t *tid, size_t tid_len,
                  const uint8_t *hash_cc, size_t hash_cc_len);

#endif
