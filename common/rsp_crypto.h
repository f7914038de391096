/*
 * rsp_crypto.h - the OpenSSL 3 crypto core of the stack: EC keys, ECDSA in
 * the SGP.22 signature format, ECKA (ECDH), the X9.63 KDF and the BSP
 * (Bound Profile Package protection, "SCP03t") of SGP.22 v2.5.
 *
 * References (see spec-notes/crypto.md for the clause-by-clause map and
 * for which clause numbers are confirmed):
 *   SGP.22 §2.6 security overview: ECDSA and ECKA per BSI TR-03111, the
 *     BSP ("SCP03t" in v2.x): key derivation (§2.6.4.2 in v3.0 numbering),
 *     padding and encryption (§2.6.4.4), C-MAC chaining; §2.5 BPP
 *     segmentation (1020-byte segments); §5.5 ES8+ (ConfigureISDP,
 *     StoreMetadata, ReplaceSessionKeys, LoadProfileElements);
 *   GlobalPlatform Card Specification v2.3 Amendment F (SCP11: X9.63 key
 *     derivation) and Amendment D (SCP03: ICV from a counter, C-MAC
 *     chaining), which the BSP reuses on TLV segments;
 *   BSI TR-03111 v2.10: ECDSA, ECKA-DH, public key validation and the
 *     plain signature format r||s (section "Encoding of signatures");
 *   ANSI X9.63 / SEC 1 §3.6.1 (KDF with SHA-256);
 *   NIST SP 800-38B (AES-CMAC), SP 800-38A (AES-CBC).
 *
 * Curves: NIST P-256 and brainpoolP256r1, everywhere. Keys are OpenSSL
 * EVP_PKEY objects (so certificates' keys from rsp_x509_get_pubkey plug in
 * directly); free them with rsp_ec_key_free() or EVP_PKEY_free().
 *
 * Every function returns 0 (RSP_OK) or a negative rsp_err. On failure
 * out-pointers are set to NULL and fixed-size outputs are zeroed. Nothing
 * here logs, asserts on input or keeps global state; the BSP context is
 * caller-owned and holds no pointers (it may be copied, e.g. to persist a
 * session). A signature or MAC that does not verify is RSP_ERR_VERIFY; a
 * failure inside OpenSSL is RSP_ERR_CRYPTO.
 */
#ifndef RSP_CRYPTO_H
#define RSP_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "rsp_buf.h"

/* ---- curves and EC keys ------------------------------------------------- */

/* The curves for RSP keys that this stack supports (SGP.22 §2.6). */
enum rsp_curve {
    RSP_CURVE_NONE = 0,
    RSP_CURVE_P256 = 1,             /* NIST P-256 = secp256r1 = prime256v1 */
    RSP_CURVE_BRAINPOOLP256R1 = 2,  /* RFC 5639 brainpoolP256r1 */
};

#define RSP_EC_SCALAR_LEN  32   /* private key, field element, r, s */
#define RSP_EC_POINT_LEN   65   /* uncompressed point 04 || X || Y */

/* OpenSSL group name of a curve ("prime256v1", "brainpoolP256r1"), or NULL. */
const char *rsp_curve_name(int curve);

/* Curve from an OpenSSL group name; accepts "prime256v1", "P-256",
 * "secp256r1", "brainpoolP256r1". [out] *curve (RSP_CURVE_NONE on error).
 * Errors: RSP_ERR_UNSUPPORTED, RSP_ERR_INVAL. */
int rsp_curve_from_name(const char *name, int *curve);

/* Curve of an EC key (by its named group). Explicit-parameter keys and
 * non-EC keys are RSP_ERR_UNSUPPORTED. */
int rsp_ec_key_curve(const EVP_PKEY *key, int *curve);

/* Fresh key pair on curve, e.g. the one-time keys otSK/otPK.EUICC.ECKA and
 * otSK/otPK.DP.ECKA of the profile download (SGP.22 §3.1.3). [out] *out. */
int rsp_ec_key_generate(int curve, EVP_PKEY **out);

/* Private EC key from PEM text ("EC PRIVATE KEY" (RFC 5915) or unencrypted
 * "PRIVATE KEY" (PKCS#8)); other PEM blocks before it, such as the
 * "EC PARAMETERS" block of the SGP.26 key files, are skipped. The curve must
 * be a supported named curve, and the key passes OpenSSL's full check
 * (scalar range, public point, pair consistency). Encrypted keys are not
 * supported. [out] *out.
 * Errors: RSP_ERR_DECODE (no usable private key block; malformed,
 * inconsistent or non-EC key), RSP_ERR_UNSUPPORTED (an EC key on another
 * curve), RSP_ERR_INVAL. */
int rsp_ec_key_from_pem(const uint8_t *pem, size_t len, EVP_PKEY **out);

/* Private key from its big-endian scalar d (1 <= d < n), with the public
 * key computed. [out] *out. Errors: RSP_ERR_DECODE (d out of range),
 * RSP_ERR_UNSUPPORTED (curve). */
int rsp_ec_key_from_scalar(int curve, const uint8_t d[RSP_EC_SCALAR_LEN],
                           EVP_PKEY **out);

/* The private scalar of key, big-endian, left-padded (for persisting a
 * one-time key; the caller wipes d). Errors: RSP_ERR_INVAL (no private
 * part), RSP_ERR_UNSUPPORTED. */
int rsp_ec_key_to_scalar(const EVP_PKEY *key, uint8_t d[RSP_EC_SCALAR_LEN]);

/*
 * Public key from an uncompressed point 04 || X || Y (65 bytes), as carried
 * by euiccOtpk / smdpOtpk (tag 5F49: PrepareDownloadResponse,
 * InitialiseSecureChannelRequest) and the certificates' subjectPublicKey.
 * The point is fully validated against curve (BSI TR-03111 /
 * SP 800-56A rev3 §5.6.2.3.3): coordinates < p, on
 * the curve, not the point at infinity, of order n. Compressed and hybrid
 * encodings are refused (SGP.22 uses uncompressed points only).
 * [out] *out. Errors: RSP_ERR_DECODE (wrong length or prefix, invalid
 * point), RSP_ERR_UNSUPPORTED (curve).
 */
int rsp_ec_pubkey_from_point(int curve, const uint8_t *pt, size_t len,
                             EVP_PKEY **out);
/* The same with OpenSSL's quick check (coordinates < p, on the curve, not
 * infinity): complete for cofactor-1 curves such as both SGP.22 ones,
 * without the n*Q multiplication. Also RSP_ERR_INVAL for pt NULL. See
 * rsp_bpp_otpk_import. */
int rsp_ec_pubkey_from_point_quick(int curve, const uint8_t *pt, size_t len, EVP_PKEY **out);

/* The same validation without keeping a key: RSP_OK if pt is a valid
 * uncompressed point on curve. */
int rsp_ec_point_check(int curve, const uint8_t *pt, size_t len);

/* The public key of key (private or public) as 04 || X || Y. */
int rsp_ec_pubkey_to_point(const EVP_PKEY *key, uint8_t pt[RSP_EC_POINT_LEN]);

/* Free a key (NULL is fine); same as EVP_PKEY_free. */
void rsp_ec_key_free(EVP_PKEY *key);

/* ---- ECDSA with SHA-256 ------------------------------------------------ */

#define RSP_ECDSA_SIG_LEN  64   /* plain r || s */
#define RSP_ECDSA_DER_MAX  72   /* SEQUENCE { INTEGER r, INTEGER s } */

/*
 * ECDSA-SHA256 signature over msg[0..len) in the plain format of BSI
 * TR-03111: r || s, each 32 bytes big-endian. This is the format of
 * every signature SGP.22 carries in its ASN.1 messages (euiccSignature1/2,
 * serverSignature1, smdpSignature2, smdpSign: SGP.22 §2.6, "ECDSA as in
 * BSI TR-03111", plain format). msg is the exact byte string signed (e.g.
 * the DER of euiccSigned1); it is hashed here. key must hold a private key.
 */
int rsp_ecdsa_sign(EVP_PKEY *key, const uint8_t *msg, size_t len,
                   uint8_t sig[RSP_ECDSA_SIG_LEN]);

/*
 * Verify an r || s signature over msg[0..len) with key (public or private).
 * Before any arithmetic the signature must be exactly 64 bytes with
 * 1 <= r, s <= n - 1 (no reduction mod n, no short or padded forms).
 * Returns RSP_OK, RSP_ERR_VERIFY (bad or non-canonical signature),
 * RSP_ERR_UNSUPPORTED (key curve), RSP_ERR_INVAL, RSP_ERR_CRYPTO.
 */
int rsp_ecdsa_verify(EVP_PKEY *key, const uint8_t *msg, size_t len,
                     const uint8_t *sig, size_t siglen);

/* r || s -> DER ECDSA-Sig-Value (RFC 5480 / X9.62), the format of X.509
 * and TLS. r and s must lie in [1, n-1] of curve. [out] der[0..*derlen).
 * Errors: RSP_ERR_DECODE (out of range), RSP_ERR_UNSUPPORTED. */
int rsp_ecdsa_sig_to_der(int curve, const uint8_t rs[RSP_ECDSA_SIG_LEN],
                         uint8_t der[RSP_ECDSA_DER_MAX], size_t *derlen);

/* DER ECDSA-Sig-Value -> r || s. Strict DER: the input must be exactly one
 * SEQUENCE of two minimal, positive INTEGERs with nothing after it, and
 * 1 <= r, s <= n - 1 of curve. Errors: RSP_ERR_DECODE, RSP_ERR_UNSUPPORTED. */
int rsp_ecdsa_sig_from_der(int curve, const uint8_t *der, size_t len,
                           uint8_t rs[RSP_ECDSA_SIG_LEN]);

/* ---- ECKA ---------------------------------------------------------------- */

#define RSP_ECKA_SHS_LEN 32

/*
 * ECKA-DH (BSI TR-03111, as SGP.22 §2.6 / §3.1.3 use it): the
 * shared secret ShS = x-coordinate of d_own * Q_peer, 32 bytes big-endian.
 * own holds a private key, peer a public key on the same curve (validated
 * again here). The cofactor is 1 on both curves, so this equals ECDH.
 * Errors: RSP_ERR_INVAL (different curves, own without private key),
 * RSP_ERR_DECODE (invalid peer key), RSP_ERR_UNSUPPORTED, RSP_ERR_CRYPTO.
 * The caller wipes shs after use.
 */
int rsp_ecka_derive(EVP_PKEY *own, EVP_PKEY *peer,
                    uint8_t shs[RSP_ECKA_SHS_LEN]);
/* The same with a peer checked when it was imported
 * (rsp_ec_pubkey_from_point or _quick): not checked a second time. */
int rsp_ecka_derive_checked(EVP_PKEY *own, EVP_PKEY *peer, uint8_t shs[RSP_ECKA_SHS_LEN]);

/* ---- key derivation ----------------------------------------------------- */

#define RSP_AES_KEY_LEN 16
#define RSP_AES_BLOCK   16

/* ANSI X9.63 KDF (SEC 1 §3.6.1) with SHA-256:
 * out = SHA256(z || 00000001 || info) || SHA256(z || 00000002 || info) ...
 * truncated to outlen (1..1024). Errors: RSP_ERR_INVAL, RSP_ERR_CRYPTO. */
int rsp_x963_kdf_sha256(const uint8_t *z, size_t zlen, const uint8_t *info,
                        size_t infolen, uint8_t *out, size_t outlen);

/* BSP session keys, in the order the KDF produces them. */
struct rsp_bsp_keys {
    uint8_t mcv[RSP_AES_BLOCK];       /* initial MAC chaining value */
    uint8_t s_enc[RSP_AES_KEY_LEN];   /* S-ENC */
    uint8_t s_mac[RSP_AES_KEY_LEN];   /* S-MAC */
};

#define RSP_BSP_KEY_TYPE_AES 0x88     /* keyType of the ControlRefTemplate */

/*
 * Session keys of the BSP (SGP.22 BSP key derivation, §2.6.4.2 in v3.0;
 * GP Amd F): X9.63 KDF with SHA-256 over ShS with
 *   SharedInfo = keyType || keyLength || LV(hostId) || LV(eidValue)
 * where keyType (0x88 = AES), keyLength (0x10) and hostId are those of the
 * ControlRefTemplate of InitialiseSecureChannelRequest (tags 80, 81, 84)
 * and eidValue is the 16-byte EID (tag 5A); each LV is one length byte and
 * the value. 3 * keyLength bytes of output give, in this order, the initial
 * MAC chaining value, S-ENC and S-MAC.
 * Only keyLength 16 (AES-128) is supported (RSP_ERR_UNSUPPORTED otherwise);
 * host_id_len must be 1..127. The caller wipes out (rsp_bsp_keys_wipe).
 */
int rsp_bsp_kdf(const uint8_t shs[RSP_ECKA_SHS_LEN], uint8_t key_type,
                uint8_t key_len, const uint8_t *host_id, size_t host_id_len,
                const uint8_t eid[16], struct rsp_bsp_keys *out);

void rsp_bsp_keys_wipe(struct rsp_bsp_keys *k);

/* The OpenSSL algorithms the BSP uses, fetched once per process from the
 * default library context (an explicit fetch per call costs a provider
 * lookup under a lock; OpenSSL 3 "Performance" notes). Owned by the
 * library, never freed by the caller; NULL if the provider lacks them. */
const EVP_CIPHER *rsp_crypto_aes128_cbc(void);
EVP_MAC *rsp_crypto_cmac(void);

/* AES-128-CMAC (NIST SP 800-38B) of data[0..len) under key: 16 bytes. */
int rsp_aes_cmac(const uint8_t key[RSP_AES_KEY_LEN], const uint8_t *data,
                 size_t len, uint8_t mac[RSP_AES_BLOCK]);

/* ---- BSP segment protection ---------------------------------------------- */

/*
 * The BSP (SGP.22 §2.6.4 in v3.0 numbering, "SCP03t" in v2.x; segments
 * per §2.5) protects each TLV segment of a Bound Profile Package -
 * ConfigureISDP and ReplaceSessionKeys ('87'), StoreMetadata ('88'),
 * profile elements ('86') - as
 *
 *   tag || L || data || C-MAC
 *
 * encrypted segments ('86', '87'):
 *   data  = AES-128-CBC(S-ENC, ICV, plaintext || 80 00..00), padded to a
 *           multiple of 16 with at least one byte;
 *   ICV   = AES-128(S-ENC, block counter as 16 bytes big-endian);
 * MAC-only segments ('88'):
 *   data  = plaintext;
 * both:
 *   L     = BER length of data || C-MAC;
 *   CMAC  = AES-CMAC(S-MAC, MAC chaining value || tag || L || data);
 *   C-MAC = CMAC[0..8); the full CMAC becomes the next MAC chaining value.
 * The block counter starts at 1 and is incremented for every segment,
 * MAC-only ones included. A segment, tag and MAC included, is at most 1020
 * bytes, so a segment carries at most 1007 bytes of plaintext when
 * encrypted and 1008 when MAC-only.
 *
 * ES8+.ReplaceSessionKeys: the SM-DP+ sends PPK-ENC, PPK-MAC and an
 * initial MAC chaining value in a protected '87' segment; from then on both
 * sides use those keys and chaining value with the block counter restarted
 * at 1 (rsp_bsp_replace_keys; see spec-notes/crypto.md).
 */
#define RSP_BSP_SEG_MAX        1020
#define RSP_BSP_MAC_LEN        8
#define RSP_BSP_ENC_PLAIN_MAX  1007
#define RSP_BSP_MAC_PLAIN_MAX  1008

#define RSP_BSP_TAG_PROFILE_ELEMENT 0x86
#define RSP_BSP_TAG_ENC_MAC         0x87   /* ConfigureISDP, ReplaceSessionKeys */
#define RSP_BSP_TAG_MAC_ONLY        0x88   /* StoreMetadata */

enum rsp_bsp_prot {
    RSP_BSP_MAC_ONLY = 0,   /* '88' segments */
    RSP_BSP_ENC_MAC  = 1,   /* '86' and '87' segments */
};

/* Caller-owned state of one direction of a BSP session: plain data, no
 * pointers. Wipe it with rsp_bsp_wipe. */
struct rsp_bsp {
    uint8_t s_enc[RSP_AES_KEY_LEN];
    uint8_t s_mac[RSP_AES_KEY_LEN];
    uint8_t mcv[RSP_AES_BLOCK];   /* MAC chaining value */
    uint32_t counter;             /* block counter of the next segment */
};

/* Start a session: keys, initial chaining value, block counter 1. NULL
 * arrays leave bsp zeroed, which every later call refuses (RSP_ERR_STATE),
 * as it refuses a zeroed or wiped context. */
void rsp_bsp_init(struct rsp_bsp *bsp, const uint8_t s_enc[RSP_AES_KEY_LEN],
                  const uint8_t s_mac[RSP_AES_KEY_LEN],
                  const uint8_t mcv[RSP_AES_BLOCK]);

/* Same from the KDF output. */
void rsp_bsp_init_keys(struct rsp_bsp *bsp, const struct rsp_bsp_keys *k);

/* ReplaceSessionKeys: switch to ppkEnc / ppkCmac / initialMacChainingValue
 * and restart the block counter at 1. */
void rsp_bsp_replace_keys(struct rsp_bsp *bsp,
                          const uint8_t ppk_enc[RSP_AES_KEY_LEN],
                          const uint8_t ppk_mac[RSP_AES_KEY_LEN],
                          const uint8_t initial_mcv[RSP_AES_BLOCK]);

void rsp_bsp_wipe(struct rsp_bsp *bsp);

/* Largest plaintext of one segment for prot (1007 or 1008). */
size_t rsp_bsp_plain_max(int prot);

/*
 * SM-DP+ side: protect in[0..len) (len <= rsp_bsp_plain_max(prot)) as one
 * segment with tag (a one-byte tag, e.g. 0x86/0x87/0x88) and append it to
 * out. The chaining value and counter advance only on success.
 * Errors: RSP_ERR_TOOBIG (len, or out's cap: out is then freed),
 * RSP_ERR_INVAL (multi-byte tag, bad prot), RSP_ERR_STATE (counter
 * exhausted), RSP_ERR_NOMEM, RSP_ERR_CRYPTO.
 */
int rsp_bsp_wrap(struct rsp_bsp *bsp, uint8_t tag, int prot,
                 const uint8_t *in, size_t len, struct rsp_buf *out);

/* Split in[0..len) (len >= 1) into as few segments as possible, each
 * protected as by rsp_bsp_wrap, appended to out in order. On error the
 * session must be abandoned. */
int rsp_bsp_wrap_all(struct rsp_bsp *bsp, uint8_t tag, int prot,
                     const uint8_t *in, size_t len, struct rsp_buf *out);

/*
 * eUICC side: seg[0..len) must be exactly one segment tag || L || data ||
 * C-MAC (minimal BER length, len <= 1020). The C-MAC is checked in constant
 * time before anything is decrypted; then, for RSP_BSP_ENC_MAC, data is
 * decrypted and its padding checked (80 followed by 0..15 zero bytes, all
 * in the last block). The plaintext is appended to out; [out] *tag is the
 * segment's tag (the caller checks it is the one expected).
 * The chaining value and counter advance only on success, so a rejected
 * segment leaves the session as it was (SGP.22 then aborts the download);
 * on failure *tag is 0 and nothing is appended (a cap failure frees out,
 * as rsp_buf_append does).
 * Errors: RSP_ERR_DECODE (not a well-formed segment, data length not a
 * multiple of 16, bad padding), RSP_ERR_VERIFY (MAC mismatch),
 * RSP_ERR_TOOBIG (segment over 1020 bytes, or out's cap),
 * RSP_ERR_STATE, RSP_ERR_INVAL, RSP_ERR_NOMEM, RSP_ERR_CRYPTO.
 */
int rsp_bsp_unwrap(struct rsp_bsp *bsp, int prot, const uint8_t *seg,
                   size_t len, uint8_t *tag, struct rsp_buf *out);

#endif
