/*
 * rsp_bsp.h - a keyed BSP context: unwrap for the eUICC side, wrap for the
 * SM-DP+ (SGP.22 v2.5 §2.6.4.4 / Annex G; wire format and struct rsp_bsp
 * in rsp_crypto.h).
 *
 * rsp_bsp_unwrap builds a fresh CMAC and cipher context for every segment.
 * A card receiving a whole BPP can instead keep one struct rsp_bsp_ctx per
 * session: the CMAC and the two AES contexts are keyed once (at creation
 * and at ReplaceSessionKeys); per segment only the CMAC is restarted
 * (spec-notes/crypto.md "Keyed unwrap context"). The checks
 * and the outputs are exactly those of rsp_bsp_unwrap (same MAC-first
 * order, same padding rule, same error codes, chaining value and counter
 * advance only on success).
 */
#ifndef RSP_BSP_H
#define RSP_BSP_H

#include <stddef.h>
#include <stdint.h>

#include "rsp_buf.h"
#include "rsp_crypto.h"

struct rsp_bsp_ctx;

/* A context holding a copy of bsp (keys, chaining value, counter). bsp
 * must be usable (initialised, counter not exhausted).
 * Errors: RSP_ERR_INVAL, RSP_ERR_STATE, RSP_ERR_NOMEM, RSP_ERR_CRYPTO. */
int rsp_bsp_ctx_new(const struct rsp_bsp *bsp, struct rsp_bsp_ctx **out);

/* ReplaceSessionKeys on the context: new keys and chaining value, block
 * counter 1. On failure the context is wiped and refuses every later
 * unwrap (RSP_ERR_STATE). Errors: RSP_ERR_INVAL, RSP_ERR_CRYPTO. */
int rsp_bsp_ctx_replace_keys(struct rsp_bsp_ctx *c,
                             const uint8_t ppk_enc[RSP_AES_KEY_LEN],
                             const uint8_t ppk_mac[RSP_AES_KEY_LEN],
                             const uint8_t initial_mcv[RSP_AES_BLOCK]);

/* As rsp_bsp_unwrap, with the context's state. */
int rsp_bsp_ctx_unwrap(struct rsp_bsp_ctx *c, int prot, const uint8_t *seg,
                       size_t len, uint8_t *tag, struct rsp_buf *out);

/* As rsp_bsp_wrap / rsp_bsp_wrap_all (SM-DP+ side), with the context's
 * keyed contexts: same segments byte for byte, same errors, chaining value
 * and counter advance only on success. A failure inside the cipher wipes
 * the context (later calls: RSP_ERR_STATE). */
int rsp_bsp_ctx_wrap(struct rsp_bsp_ctx *c, uint8_t tag, int prot,
                     const uint8_t *in, size_t len, struct rsp_buf *out);
int rsp_bsp_ctx_wrap_all(struct rsp_bsp_ctx *c, uint8_t tag, int prot,
                         const uint8_t *in, size_t len, struct rsp_buf *out);

/* Wipe the keys and free; NULL is fine. */
void rsp_bsp_ctx_free(struct rsp_bsp_ctx *c);

#endif
