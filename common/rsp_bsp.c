/*
 * rsp_bsp.c - X9.63 KDF, AES-CMAC and the BSP segment protection of SGP.22
 * (see rsp_crypto.h for the wire format), and the keyed context of
 * rsp_bsp.h: unwrap for the eUICC, wrap for the SM-DP+'s BPP (SGP.22 v2.5
 * §2.6.4.4, §2.5.5, Annex G).
 */
#include "rsp_crypto.h"
#include "rsp_bsp.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "rsp_err.h"

static int done(int rc)
{
    if (rc != RSP_OK)
        ERR_clear_error();
    return rc;
}

/* The X9.63 KDF implementation, fetched once per process (a fetch costs
 * about as much as the derivation); never freed, like rsp_crypto.c's. */
static pthread_once_t x963_once = PTHREAD_ONCE_INIT;
static EVP_KDF *x963;

static void x963_fetch(void)
{
    x963 = EVP_KDF_fetch(NULL, "X963KDF", NULL);
}

int rsp_x963_kdf_sha256(const uint8_t *z, size_t zlen, const uint8_t *info,
                        size_t infolen, uint8_t *out, size_t outlen)
{
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[4], *p = params;
    int rc = RSP_ERR_CRYPTO;

    if (!out || outlen == 0 || outlen > 1024)
        return RSP_ERR_INVAL;
    memset(out, 0, outlen);
    if (!z || zlen == 0 || (!info && infolen))
        return RSP_ERR_INVAL;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                            (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z,
                                             zlen);
    if (infolen)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                 (void *)info, infolen);
    *p = OSSL_PARAM_construct_end();
    pthread_once(&x963_once, x963_fetch);
    kctx = x963 ? EVP_KDF_CTX_new(x963) : NULL;
    if (!kctx || EVP_KDF_derive(kctx, out, outlen, params) != 1) {
        OPENSSL_cleanse(out, outlen);
        goto out;
    }
    rc = RSP_OK;
out:
    EVP_KDF_CTX_free(kctx);
    return done(rc);
}

int rsp_bsp_kdf(const uint8_t shs[RSP_ECKA_SHS_LEN], uint8_t key_type,
                uint8_t key_len, const uint8_t *host_id, size_t host_id_len,
                const uint8_t eid[16], struct rsp_bsp_keys *out)
{
    uint8_t info[2 + 1 + 127 + 1 + 16];
    uint8_t km[3 * RSP_AES_KEY_LEN];
    size_t n = 0;
    int rc;

    if (!out)
        return RSP_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    if (!shs || !eid || !host_id || host_id_len == 0 || host_id_len > 127)
        return RSP_ERR_INVAL;
    if (key_type != RSP_BSP_KEY_TYPE_AES || key_len != RSP_AES_KEY_LEN)
        return RSP_ERR_UNSUPPORTED;
    info[n++] = key_type;
    info[n++] = key_len;
    info[n++] = (uint8_t)host_id_len;
    memcpy(info + n, host_id, host_id_len);
    n += host_id_len;
    info[n++] = 16;
    memcpy(info + n, eid, 16);
    n += 16;
    rc = rsp_x963_kdf_sha256(shs, RSP_ECKA_SHS_LEN, info, n, km, sizeof(km));
    if (rc == RSP_OK) {
        memcpy(out->mcv, km, RSP_AES_BLOCK);
        memcpy(out->s_enc, km + RSP_AES_BLOCK, RSP_AES_KEY_LEN);
        memcpy(out->s_mac, km + RSP_AES_BLOCK + RSP_AES_KEY_LEN, RSP_AES_KEY_LEN);
    }
    OPENSSL_cleanse(km, sizeof(km));
    return rc;
}

void rsp_bsp_keys_wipe(struct rsp_bsp_keys *k)
{
    if (k)
        OPENSSL_cleanse(k, sizeof(*k));
}

/* AES-128-CMAC of a || b (the BSP MACs chaining value || segment without
 * copying the segment). */
static int cmac2(const uint8_t key[RSP_AES_KEY_LEN], const uint8_t *a,
                 size_t alen, const uint8_t *b, size_t blen,
                 uint8_t mac[RSP_AES_BLOCK])
{
    EVP_MAC *m = rsp_crypto_cmac();
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[2];
    size_t maclen = 0;
    int rc = RSP_ERR_CRYPTO;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
                                                 (char *)"AES-128-CBC", 0);
    params[1] = OSSL_PARAM_construct_end();
    ctx = m ? EVP_MAC_CTX_new(m) : NULL;
    if (!ctx || EVP_MAC_init(ctx, key, RSP_AES_KEY_LEN, params) != 1 ||
        (alen && EVP_MAC_update(ctx, a, alen) != 1) ||
        (blen && EVP_MAC_update(ctx, b, blen) != 1) ||
        EVP_MAC_final(ctx, mac, &maclen, RSP_AES_BLOCK) != 1 ||
        maclen != RSP_AES_BLOCK) {
        OPENSSL_cleanse(mac, RSP_AES_BLOCK);
        goto out;
    }
    rc = RSP_OK;
out:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

int rsp_aes_cmac(const uint8_t key[RSP_AES_KEY_LEN], const uint8_t *data,
                 size_t len, uint8_t mac[RSP_AES_BLOCK])
{
    if (!mac)
        return RSP_ERR_INVAL;
    memset(mac, 0, RSP_AES_BLOCK);
    if (!key || (!data && len))
        return RSP_ERR_INVAL;
    return done(cmac2(key, data, len, NULL, 0, mac));
}

/* AES-128-CBC without padding over whole blocks; in == out is allowed. */
static int aes_cbc(int enc, const uint8_t key[RSP_AES_KEY_LEN],
                   const uint8_t iv[RSP_AES_BLOCK], const uint8_t *in,
                   size_t len, uint8_t *out)
{
    const EVP_CIPHER *c = rsp_crypto_aes128_cbc();
    EVP_CIPHER_CTX *ctx = c ? EVP_CIPHER_CTX_new() : NULL;
    int n = 0, fin = 0, rc = RSP_ERR_CRYPTO;

    if (!ctx || len % RSP_AES_BLOCK || len > RSP_BSP_SEG_MAX ||
        EVP_CipherInit_ex2(ctx, c, key, iv, enc, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
        EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1 ||
        EVP_CipherFinal_ex(ctx, out + n, &fin) != 1 || (size_t)(n + fin) != len)
        goto out;
    rc = RSP_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* ICV = AES(S-ENC, counter as a 16-byte big-endian block): one CBC block
 * under a zero IV is the same as ECB. */
/* The block the ICV encrypts: 0^12 || counter (big-endian). */
static void counter_block(uint32_t counter, uint8_t blk[RSP_AES_BLOCK])
{
    memset(blk, 0, RSP_AES_BLOCK);
    blk[12] = (uint8_t)(counter >> 24);
    blk[13] = (uint8_t)(counter >> 16);
    blk[14] = (uint8_t)(counter >> 8);
    blk[15] = (uint8_t)counter;
}

static int bsp_icv(const struct rsp_bsp *bsp, uint8_t icv[RSP_AES_BLOCK])
{
    static const uint8_t zero[RSP_AES_BLOCK];
    uint8_t blk[RSP_AES_BLOCK];

    counter_block(bsp->counter, blk);
    return aes_cbc(1, bsp->s_enc, zero, blk, sizeof(blk), icv);
}

void rsp_bsp_init(struct rsp_bsp *bsp, const uint8_t s_enc[RSP_AES_KEY_LEN],
                  const uint8_t s_mac[RSP_AES_KEY_LEN],
                  const uint8_t mcv[RSP_AES_BLOCK])
{
    if (!bsp)
        return;
    if (!s_enc || !s_mac || !mcv) {
        /* counter 0: every later call fails with RSP_ERR_STATE */
        OPENSSL_cleanse(bsp, sizeof(*bsp));
        return;
    }
    memcpy(bsp->s_enc, s_enc, RSP_AES_KEY_LEN);
    memcpy(bsp->s_mac, s_mac, RSP_AES_KEY_LEN);
    memcpy(bsp->mcv, mcv, RSP_AES_BLOCK);
    bsp->counter = 1;
}

void rsp_bsp_init_keys(struct rsp_bsp *bsp, const struct rsp_bsp_keys *k)
{
    if (k)
        rsp_bsp_init(bsp, k->s_enc, k->s_mac, k->mcv);
    else
        rsp_bsp_init(bsp, NULL, NULL, NULL);
}

void rsp_bsp_replace_keys(struct rsp_bsp *bsp,
                          const uint8_t ppk_enc[RSP_AES_KEY_LEN],
                          const uint8_t ppk_mac[RSP_AES_KEY_LEN],
                          const uint8_t initial_mcv[RSP_AES_BLOCK])
{
    rsp_bsp_init(bsp, ppk_enc, ppk_mac, initial_mcv);
}

void rsp_bsp_wipe(struct rsp_bsp *bsp)
{
    if (bsp)
        OPENSSL_cleanse(bsp, sizeof(*bsp));
}

size_t rsp_bsp_plain_max(int prot)
{
    switch (prot) {
    case RSP_BSP_ENC_MAC:  return RSP_BSP_ENC_PLAIN_MAX;
    case RSP_BSP_MAC_ONLY: return RSP_BSP_MAC_PLAIN_MAX;
    }
    return 0;
}

/* Counter 0 means "never initialised" (a zeroed or wiped context); the top
 * value is kept back so that the increment cannot wrap to a reused ICV. */
static int bsp_usable(const struct rsp_bsp *bsp)
{
    return bsp->counter != 0 && bsp->counter != UINT32_MAX;
}

/* tag || BER length of n into h; returns the header size. */
static size_t put_header(uint8_t *h, uint8_t tag, size_t n)
{
    h[0] = tag;
    if (n < 0x80) {
        h[1] = (uint8_t)n;
        return 2;
    }
    if (n < 0x100) {
        h[1] = 0x81;
        h[2] = (uint8_t)n;
        return 3;
    }
    h[1] = 0x82;
    h[2] = (uint8_t)(n >> 8);
    h[3] = (uint8_t)n;
    return 4;
}

static int wrap_core(struct rsp_bsp_ctx *c, struct rsp_bsp *bsp, uint8_t tag,
                     int prot, const uint8_t *in, size_t len,
                     struct rsp_buf *out);

int rsp_bsp_wrap(struct rsp_bsp *bsp, uint8_t tag, int prot,
                 const uint8_t *in, size_t len, struct rsp_buf *out)
{
    return wrap_core(NULL, bsp, tag, prot, in, len, out);
}

/* in[0..len) as segments of at most rsp_bsp_plain_max(prot) bytes, through
 * the keyed context c if there is one, else through bsp. */
static int wrap_all(struct rsp_bsp_ctx *c, struct rsp_bsp *bsp, uint8_t tag, int prot,
                    const uint8_t *in, size_t len, struct rsp_buf *out)
{
    size_t max = rsp_bsp_plain_max(prot);

    if (!in || len == 0 || !max)
        return RSP_ERR_INVAL;
    for (size_t off = 0; off < len;) {
        size_t n = len - off < max ? len - off : max;
        int rc = c ? rsp_bsp_ctx_wrap(c, tag, prot, in + off, n, out)
                   : rsp_bsp_wrap(bsp, tag, prot, in + off, n, out);
        if (rc != RSP_OK)
            return rc;
        off += n;
    }
    return RSP_OK;
}

int rsp_bsp_wrap_all(struct rsp_bsp *bsp, uint8_t tag, int prot,
                     const uint8_t *in, size_t len, struct rsp_buf *out)
{
    return wrap_all(NULL, bsp, tag, prot, in, len, out);
}

/* The keyed contexts of rsp_bsp.h: CMAC under S-MAC (restarted per
 * segment), AES-128-ECB encryption under S-ENC (the ICV) and AES-128-CBC
 * decryption under S-ENC (never restarted, see seg_decrypt); all keyed
 * once per key set. */
struct rsp_bsp_ctx {
    struct rsp_bsp bsp;
    EVP_MAC_CTX *mac;
    EVP_CIPHER_CTX *enc;
    EVP_CIPHER_CTX *dec;
    /* SM-DP+ side only (rsp_bsp_ctx_wrap): AES-128-CBC encryption under
     * S-ENC, made on first use, and its chaining block (the last
     * ciphertext block it produced, zero after keying). */
    EVP_CIPHER_CTX *cbce;
    uint8_t chain[RSP_AES_BLOCK];
};

/* CMAC of mcv || seg: with c, the keyed context restarted (EVP_MAC_init
 * without a key keeps it); without, a fresh one. */
static int seg_cmac(struct rsp_bsp_ctx *c, const struct rsp_bsp *bsp,
                    const uint8_t *seg, size_t len, uint8_t mac[RSP_AES_BLOCK])
{
    size_t maclen = 0;

    if (!c)
        return cmac2(bsp->s_mac, bsp->mcv, RSP_AES_BLOCK, seg, len, mac);
    if (EVP_MAC_init(c->mac, NULL, 0, NULL) != 1 ||
        EVP_MAC_update(c->mac, bsp->mcv, RSP_AES_BLOCK) != 1 ||
        (len && EVP_MAC_update(c->mac, seg, len) != 1) ||
        EVP_MAC_final(c->mac, mac, &maclen, RSP_AES_BLOCK) != 1 ||
        maclen != RSP_AES_BLOCK) {
        OPENSSL_cleanse(mac, RSP_AES_BLOCK);
        return RSP_ERR_CRYPTO;
    }
    return RSP_OK;
}

/* AES-128-ECB, fetched once per process like rsp_crypto.c's algorithms:
 * the ICV is one ECB block, so the context needs no IV and no restart. */
static pthread_once_t ecb_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *aes128_ecb;

static void ecb_fetch(void)
{
    aes128_ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
}

/* The ICV of the segment with this counter through the keyed ECB context:
 * E(S-ENC, 0^12 || counter). */
static int ctx_icv(struct rsp_bsp_ctx *c, uint32_t counter, uint8_t icv[RSP_AES_BLOCK])
{
    uint8_t blk[RSP_AES_BLOCK];
    int n = 0;

    counter_block(counter, blk);
    return EVP_CipherUpdate(c->enc, icv, &n, blk, sizeof(blk)) == 1 && n == RSP_AES_BLOCK
               ? RSP_OK
               : RSP_ERR_CRYPTO;
}

/* ICV, then CBC decryption of data[0..dlen) into plain. With c, no context
 * is re-initialised: the ICV comes from the ECB context, and the CBC
 * context, whose chaining block is whatever it last saw, is given the ICV
 * as one extra leading ciphertext block; every following block is then
 * chained on the ICV exactly as with IV = ICV, and the first output block
 * (not plaintext) is dropped. */
static int seg_decrypt(struct rsp_bsp_ctx *c, const struct rsp_bsp *bsp,
                       const uint8_t *data, size_t dlen, uint8_t *plain)
{
    uint8_t icv[RSP_AES_BLOCK], junk[RSP_AES_BLOCK];
    int rc = RSP_ERR_CRYPTO, n = 0;

    if (!c) {
        if ((rc = bsp_icv(bsp, icv)) == RSP_OK)
            rc = aes_cbc(0, bsp->s_enc, icv, data, dlen, plain);
        OPENSSL_cleanse(icv, sizeof(icv));
        return rc;
    }
    if (dlen % RSP_AES_BLOCK || dlen > RSP_BSP_SEG_MAX)
        return RSP_ERR_CRYPTO;
    if (ctx_icv(c, bsp->counter, icv) != RSP_OK ||
        EVP_CipherUpdate(c->dec, junk, &n, icv, sizeof(icv)) != 1 ||
        n != RSP_AES_BLOCK ||
        EVP_CipherUpdate(c->dec, plain, &n, data, (int)dlen) != 1 ||
        (size_t)n != dlen)
        goto out;
    rc = RSP_OK;
out:
    OPENSSL_cleanse(icv, sizeof(icv));
    OPENSSL_cleanse(junk, sizeof(junk));
    return rc;
}

/* ICV, then CBC encryption of plain[0..dlen) in place. With c, the keyed
 * CBC context is not re-initialised: its chaining block is c->chain (the
 * last ciphertext block it produced), so the first plaintext block is
 * XORed with chain ^ ICV, which makes the first ciphertext block
 * E(P1 ^ ICV) exactly as with IV = ICV; the rest chains as usual. A
 * failure inside the cipher leaves its state unknown: the context is then
 * wiped and refuses every later call (RSP_ERR_STATE). */
static int seg_encrypt(struct rsp_bsp_ctx *c, struct rsp_bsp *bsp,
                       uint8_t *data, size_t dlen)
{
    uint8_t icv[RSP_AES_BLOCK];
    int rc = RSP_ERR_CRYPTO, n = 0;

    if (!c) {
        if ((rc = bsp_icv(bsp, icv)) == RSP_OK)
            rc = aes_cbc(1, bsp->s_enc, icv, data, dlen, data);
        OPENSSL_cleanse(icv, sizeof(icv));
        return rc;
    }
    if (dlen == 0 || dlen % RSP_AES_BLOCK || dlen > RSP_BSP_SEG_MAX)
        return RSP_ERR_CRYPTO;
    if (ctx_icv(c, bsp->counter, icv) != RSP_OK)
        goto out;
    for (size_t i = 0; i < RSP_AES_BLOCK; i++)
        data[i] ^= icv[i] ^ c->chain[i];
    if (EVP_CipherUpdate(c->cbce, data, &n, data, (int)dlen) != 1 ||
        (size_t)n != dlen) {
        rsp_bsp_wipe(&c->bsp);
        goto out;
    }
    memcpy(c->chain, data + dlen - RSP_AES_BLOCK, RSP_AES_BLOCK);
    rc = RSP_OK;
out:
    OPENSSL_cleanse(icv, sizeof(icv));
    return rc;
}

/* rsp_bsp_wrap's body; c is NULL (fresh contexts) or bsp's keyed ctx. */
static int wrap_core(struct rsp_bsp_ctx *c, struct rsp_bsp *bsp, uint8_t tag,
                     int prot, const uint8_t *in, size_t len,
                     struct rsp_buf *out)
{
    uint8_t seg[RSP_BSP_SEG_MAX];
    uint8_t cmac[RSP_AES_BLOCK];
    size_t hdr, dlen;
    int rc;

    if (!bsp || !out || (!in && len) || !rsp_bsp_plain_max(prot) ||
        (tag & 0x1F) == 0x1F)
        return RSP_ERR_INVAL;
    if (!bsp_usable(bsp))
        return RSP_ERR_STATE;
    if (len > rsp_bsp_plain_max(prot))
        return RSP_ERR_TOOBIG;

    /* 80 then zeros up to the next multiple of 16: always 1..16 bytes. */
    dlen = len;
    if (prot == RSP_BSP_ENC_MAC)
        dlen = (len / RSP_AES_BLOCK + 1) * RSP_AES_BLOCK;
    hdr = put_header(seg, tag, dlen + RSP_BSP_MAC_LEN);
    if (len)
        memcpy(seg + hdr, in, len);
    if (prot == RSP_BSP_ENC_MAC) {
        seg[hdr + len] = 0x80;
        memset(seg + hdr + len + 1, 0, dlen - len - 1);
        if ((rc = seg_encrypt(c, bsp, seg + hdr, dlen)) != RSP_OK)
            goto out;
    }
    if ((rc = seg_cmac(c, bsp, seg, hdr + dlen, cmac)) != RSP_OK)
        goto out;
    memcpy(seg + hdr + dlen, cmac, RSP_BSP_MAC_LEN);
    if ((rc = rsp_buf_append(out, seg, hdr + dlen + RSP_BSP_MAC_LEN)) != RSP_OK)
        goto out;
    memcpy(bsp->mcv, cmac, RSP_AES_BLOCK);
    bsp->counter++;
out:
    OPENSSL_cleanse(seg, hdr + dlen + RSP_BSP_MAC_LEN);
    OPENSSL_cleanse(cmac, sizeof(cmac));
    return done(rc);
}

/* rsp_bsp_unwrap's body; c is NULL (fresh contexts) or bsp's keyed ctx. */
static int unwrap_core(struct rsp_bsp_ctx *c, struct rsp_bsp *bsp, int prot,
                       const uint8_t *seg, size_t len, uint8_t *tag,
                       struct rsp_buf *out)
{
    uint8_t plain[RSP_BSP_SEG_MAX];
    uint8_t cmac[RSP_AES_BLOCK];
    const uint8_t *data, *res;
    size_t hdr, clen, dlen, rlen;
    int rc;

    if (tag)
        *tag = 0;
    if (!bsp || !out || !tag || (!seg && len) || !rsp_bsp_plain_max(prot))
        return RSP_ERR_INVAL;
    if (!bsp_usable(bsp))
        return RSP_ERR_STATE;
    if (len > RSP_BSP_SEG_MAX)
        return RSP_ERR_TOOBIG;

    /* One-byte tag, minimal definite length, nothing after the value. */
    if (len < 2 || (seg[0] & 0x1F) == 0x1F)
        return RSP_ERR_DECODE;
    if (seg[1] < 0x80) {
        hdr = 2;
        clen = seg[1];
    } else if (seg[1] == 0x81 && len >= 3 && seg[2] >= 0x80) {
        hdr = 3;
        clen = seg[2];
    } else if (seg[1] == 0x82 && len >= 4 && seg[2] != 0) {
        hdr = 4;
        clen = (size_t)seg[2] << 8 | seg[3];
    } else {
        return RSP_ERR_DECODE;
    }
    if (hdr + clen != len || clen < RSP_BSP_MAC_LEN)
        return RSP_ERR_DECODE;
    dlen = clen - RSP_BSP_MAC_LEN;
    data = seg + hdr;
    if (prot == RSP_BSP_ENC_MAC && (dlen == 0 || dlen % RSP_AES_BLOCK))
        return RSP_ERR_DECODE;

    /* MAC first: nothing is decrypted (no padding oracle) until the
     * segment is known to come from the holder of S-MAC. */
    if ((rc = seg_cmac(c, bsp, seg, hdr + dlen, cmac)) != RSP_OK)
        goto out;
    if (CRYPTO_memcmp(cmac, data + dlen, RSP_BSP_MAC_LEN) != 0) {
        rc = RSP_ERR_VERIFY;
        goto out;
    }
    res = data;
    rlen = dlen;
    if (prot == RSP_BSP_ENC_MAC) {
        size_t i;

        if ((rc = seg_decrypt(c, bsp, data, dlen, plain)) != RSP_OK)
            goto out;
        /* Padding: 80 then 0..15 zeros, within the last block. */
        i = dlen - 1;
        while (i > dlen - RSP_AES_BLOCK && plain[i] == 0x00)
            i--;
        if (plain[i] != 0x80) {
            rc = RSP_ERR_DECODE;
            goto out;
        }
        res = plain;
        rlen = i;
    }
    if ((rc = rsp_buf_append(out, res, rlen)) != RSP_OK)
        goto out;
    *tag = seg[0];
    memcpy(bsp->mcv, cmac, RSP_AES_BLOCK);
    bsp->counter++;
out:
    OPENSSL_cleanse(plain, prot == RSP_BSP_ENC_MAC ? dlen : 0);
    OPENSSL_cleanse(cmac, sizeof(cmac));
    return done(rc);
}

int rsp_bsp_unwrap(struct rsp_bsp *bsp, int prot, const uint8_t *seg,
                   size_t len, uint8_t *tag, struct rsp_buf *out)
{
    return unwrap_core(NULL, bsp, prot, seg, len, tag, out);
}

/* (Re)key the three contexts from c->bsp. */
/* (Re)key the SM-DP+'s CBC encryption context under S-ENC, chaining block
 * zero. */
static int cbce_key(struct rsp_bsp_ctx *c)
{
    static const uint8_t zero[RSP_AES_BLOCK];
    const EVP_CIPHER *aes = rsp_crypto_aes128_cbc();

    memset(c->chain, 0, sizeof(c->chain));
    return aes && EVP_CipherInit_ex2(c->cbce, aes, c->bsp.s_enc, zero, 1, NULL) == 1 &&
                   EVP_CIPHER_CTX_set_padding(c->cbce, 0) == 1
               ? RSP_OK
               : RSP_ERR_CRYPTO;
}

static int ctx_key(struct rsp_bsp_ctx *c)
{
    static const uint8_t zero[RSP_AES_BLOCK];
    const EVP_CIPHER *aes = rsp_crypto_aes128_cbc();
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
                                                 (char *)"AES-128-CBC", 0);
    params[1] = OSSL_PARAM_construct_end();
    pthread_once(&ecb_once, ecb_fetch);
    if (!aes || !aes128_ecb ||
        EVP_MAC_init(c->mac, c->bsp.s_mac, RSP_AES_KEY_LEN, params) != 1 ||
        EVP_CipherInit_ex2(c->enc, aes128_ecb, c->bsp.s_enc, NULL, 1, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(c->enc, 0) != 1 ||
        EVP_CipherInit_ex2(c->dec, aes, c->bsp.s_enc, zero, 0, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(c->dec, 0) != 1)
        return RSP_ERR_CRYPTO;
    return c->cbce ? cbce_key(c) : RSP_OK;
}

int rsp_bsp_ctx_new(const struct rsp_bsp *bsp, struct rsp_bsp_ctx **out)
{
    EVP_MAC *m = rsp_crypto_cmac();
    struct rsp_bsp_ctx *c;
    int rc;

    if (!out)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!bsp)
        return RSP_ERR_INVAL;
    if (!bsp_usable(bsp))
        return RSP_ERR_STATE;
    if (!(c = OPENSSL_zalloc(sizeof(*c))))
        return RSP_ERR_NOMEM;
    c->bsp = *bsp;
    c->mac = m ? EVP_MAC_CTX_new(m) : NULL;
    c->enc = EVP_CIPHER_CTX_new();
    c->dec = EVP_CIPHER_CTX_new();
    if (!c->mac || !c->enc || !c->dec)
        rc = RSP_ERR_NOMEM;
    else
        rc = ctx_key(c);
    if (rc != RSP_OK) {
        rsp_bsp_ctx_free(c);
        return done(rc);
    }
    *out = c;
    return RSP_OK;
}

int rsp_bsp_ctx_replace_keys(struct rsp_bsp_ctx *c,
                             const uint8_t ppk_enc[RSP_AES_KEY_LEN],
                             const uint8_t ppk_mac[RSP_AES_KEY_LEN],
                             const uint8_t initial_mcv[RSP_AES_BLOCK])
{
    int rc;

    if (!c)
        return RSP_ERR_INVAL;
    rsp_bsp_replace_keys(&c->bsp, ppk_enc, ppk_mac, initial_mcv);
    if (!bsp_usable(&c->bsp))
        return RSP_ERR_INVAL;
    if ((rc = ctx_key(c)) != RSP_OK)
        rsp_bsp_wipe(&c->bsp);
    return done(rc);
}

int rsp_bsp_ctx_unwrap(struct rsp_bsp_ctx *c, int prot, const uint8_t *seg,
                       size_t len, uint8_t *tag, struct rsp_buf *out)
{
    if (!c) {
        if (tag)
            *tag = 0;
        return RSP_ERR_INVAL;
    }
    return unwrap_core(c, &c->bsp, prot, seg, len, tag, out);
}

void rsp_bsp_ctx_free(struct rsp_bsp_ctx *c)
{
    if (!c)
        return;
    /* the _free calls cleanse the key schedules and CMAC state */
    EVP_MAC_CTX_free(c->mac);
    EVP_CIPHER_CTX_free(c->enc);
    EVP_CIPHER_CTX_free(c->dec);
    EVP_CIPHER_CTX_free(c->cbce);
    OPENSSL_clear_free(c, sizeof(*c));
}

int rsp_bsp_ctx_wrap(struct rsp_bsp_ctx *c, uint8_t tag, int prot,
                     const uint8_t *in, size_t len, struct rsp_buf *out)
{
    if (!c)
        return RSP_ERR_INVAL;
    if (!c->cbce && bsp_usable(&c->bsp)) {
        if (!(c->cbce = EVP_CIPHER_CTX_new()))
            return RSP_ERR_NOMEM;
        if (cbce_key(c) != RSP_OK) {
            EVP_CIPHER_CTX_free(c->cbce);
            c->cbce = NULL;
            return done(RSP_ERR_CRYPTO);
        }
    }
    return wrap_core(c, &c->bsp, tag, prot, in, len, out);
}

int rsp_bsp_ctx_wrap_all(struct rsp_bsp_ctx *c, uint8_t tag, int prot,
                         const uint8_t *in, size_t len, struct rsp_buf *out)
{
    return c ? wrap_all(c, &c->bsp, tag, prot, in, len, out) : RSP_ERR_INVAL;
}
