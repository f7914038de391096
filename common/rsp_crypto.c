/*
 * rsp_crypto.c - curves, EC keys, ECDSA in the plain r||s format, ECKA.
 * The symmetric part (KDF, CMAC, BSP) is in rsp_bsp.c.
 */
#include "rsp_crypto.h"

#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>

#include "rsp_err.h"

struct curve_info {
    int id;
    const char *name;                   /* OpenSSL group name */
    int nid;
    uint8_t order[RSP_EC_SCALAR_LEN];   /* n, big-endian */
};

static const struct curve_info curves[] = {
    {
        RSP_CURVE_P256, "prime256v1", NID_X9_62_prime256v1,
        { 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00,
          0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
          0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84,
          0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51 },
    },
    {
        RSP_CURVE_BRAINPOOLP256R1, "brainpoolP256r1", NID_brainpoolP256r1,
        { 0xA9, 0xFB, 0x57, 0xDB, 0xA1, 0xEE, 0xA9, 0xBC,
          0x3E, 0x66, 0x0A, 0x90, 0x9D, 0x83, 0x8D, 0x71,
          0x8C, 0x39, 0x7A, 0xA3, 0xB5, 0x61, 0xA6, 0xF7,
          0x90, 0x1E, 0x0E, 0x82, 0x97, 0x48, 0x56, 0xA7 },
    },
};

static const struct curve_info *curve_get(int id)
{
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
        if (curves[i].id == id)
            return &curves[i];
    return NULL;
}

/*
 * Per-curve parameter templates. OpenSSL 3.0 builds a new EC_GROUP (field
 * and order Montgomery contexts, generator) for every key made from a
 * group name: EVP_PKEY_fromdata took ~18 us for a public key, keygen by
 * name ~26 us. A key made from a params-only template shares nothing
 * mutable with it (EVP_PKEY_dup copies the group; a keygen context from the
 * template reads it): 4.6 and 12-14 us. Built once per process and curve,
 * read-only afterwards; NULL if it could not be made (callers fall back to
 * the group name).
 */
static EVP_PKEY *tmpl_key[sizeof(curves) / sizeof(curves[0])];
static CRYPTO_ONCE tmpl_once = CRYPTO_ONCE_STATIC_INIT;

static void tmpl_init(void)
{
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        OSSL_PARAM params[2];
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);

        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                     (char *)curves[i].name, 0);
        params[1] = OSSL_PARAM_construct_end();
        if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &tmpl_key[i], EVP_PKEY_KEY_PARAMETERS, params) != 1) {
            EVP_PKEY_free(tmpl_key[i]);
            tmpl_key[i] = NULL;
        }
        EVP_PKEY_CTX_free(ctx);
    }
    ERR_clear_error();
}

static EVP_PKEY *curve_template(const struct curve_info *ci)
{
    if (!CRYPTO_THREAD_run_once(&tmpl_once, tmpl_init))
        return NULL;
    return tmpl_key[ci - curves];
}

/* 1 if 1 <= v <= n-1. No early exit: v may be a private scalar. */
static int scalar_in_range(const struct curve_info *ci, const uint8_t *v)
{
    unsigned borrow = 0, nonzero = 0;

    for (size_t i = RSP_EC_SCALAR_LEN; i-- > 0;) {
        unsigned d = (unsigned)v[i] - ci->order[i] - borrow;
        borrow = (d >> 8) & 1;
        nonzero |= v[i];
    }
    return (nonzero != 0) & (borrow == 1);
}

/* Finish a function: OpenSSL leaves its reasons on a per-thread queue that
 * TLS code reads later (SSL_get_error); drop ours on failure. */
static int done(int rc)
{
    if (rc != RSP_OK)
        ERR_clear_error();
    return rc;
}

const char *rsp_curve_name(int curve)
{
    const struct curve_info *ci = curve_get(curve);
    return ci ? ci->name : NULL;
}

int rsp_curve_from_name(const char *name, int *curve)
{
    if (curve)
        *curve = RSP_CURVE_NONE;
    if (!name || !curve)
        return RSP_ERR_INVAL;
    if (!strcmp(name, "prime256v1") || !strcmp(name, "P-256") ||
        !strcmp(name, "secp256r1"))
        *curve = RSP_CURVE_P256;
    else if (!strcmp(name, "brainpoolP256r1"))
        *curve = RSP_CURVE_BRAINPOOLP256R1;
    else
        return RSP_ERR_UNSUPPORTED;
    return RSP_OK;
}

int rsp_ec_key_curve(const EVP_PKEY *key, int *curve)
{
    char name[64];
    size_t len = 0;

    if (curve)
        *curve = RSP_CURVE_NONE;
    if (!key || !curve)
        return RSP_ERR_INVAL;
    if (!EVP_PKEY_is_a(key, "EC") ||
        EVP_PKEY_get_group_name(key, name, sizeof(name), &len) != 1)
        return done(RSP_ERR_UNSUPPORTED);
    return rsp_curve_from_name(name, curve);
}

static int has_private(const EVP_PKEY *key)
{
    BIGNUM *d = NULL;
    int ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1;

    BN_clear_free(d);
    if (!ok)
        ERR_clear_error();
    return ok;
}

int rsp_ec_key_generate(int curve, EVP_PKEY **out)
{
    const struct curve_info *ci = curve_get(curve);
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *k = NULL;
    int rc = RSP_ERR_CRYPTO;

    if (!out)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!ci)
        return RSP_ERR_UNSUPPORTED;
    EVP_PKEY *t = curve_template(ci);
    if (t) {
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, t, NULL);
        if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_generate(ctx, &k) != 1)
            goto out;
    } else {
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 ||
            EVP_PKEY_CTX_set_group_name(ctx, ci->name) != 1 ||
            EVP_PKEY_generate(ctx, &k) != 1)
            goto out;
    }
    *out = k;
    k = NULL;
    rc = RSP_OK;
out:
    EVP_PKEY_free(k);
    EVP_PKEY_CTX_free(ctx);
    return done(rc);
}

/* First occurrence of needle in hay[0..hlen), or NULL (no memmem in C11). */
static const uint8_t *find(const uint8_t *hay, size_t hlen, const char *needle)
{
    size_t nlen = strlen(needle);

    for (size_t i = 0; nlen <= hlen && i <= hlen - nlen; i++)
        if (hay[i] == (uint8_t)needle[0] && !memcmp(hay + i, needle, nlen))
            return hay + i;
    return NULL;
}

int rsp_ec_key_from_pem(const uint8_t *pem, size_t len, EVP_PKEY **out)
{
    /* OSSL_DECODER stops at the first PEM block it cannot use, so start at
     * the key block itself (SGP.26 files begin with "EC PARAMETERS"). */
    static const char *const labels[] = {
        "-----BEGIN EC PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----",
    };
    const uint8_t *start = NULL;
    const unsigned char *p;
    size_t left;
    OSSL_DECODER_CTX *dctx = NULL;
    EVP_PKEY_CTX *cctx = NULL;
    EVP_PKEY *k = NULL;
    int curve, rc;

    if (!out)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!pem || !len)
        return RSP_ERR_INVAL;
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
        const uint8_t *s = find(pem, len, labels[i]);
        if (s && (!start || s < start))
            start = s;
    }
    if (!start)
        return RSP_ERR_DECODE;
    p = start;
    left = len - (size_t)(start - pem);
    dctx = OSSL_DECODER_CTX_new_for_pkey(&k, "PEM", NULL, "EC",
                                         EVP_PKEY_KEYPAIR, NULL, NULL);
    if (!dctx) {
        rc = RSP_ERR_CRYPTO;
        goto out;
    }
    if (OSSL_DECODER_from_data(dctx, &p, &left) != 1 || !k) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    if ((rc = rsp_ec_key_curve(k, &curve)) != RSP_OK)
        goto out;
    /* Full key check (scalar range, public point, pairwise consistency):
     * a configuration file is not trusted to be coherent. */
    cctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
    if (!cctx || !has_private(k) || EVP_PKEY_check(cctx) != 1) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    *out = k;
    k = NULL;
    rc = RSP_OK;
out:
    EVP_PKEY_CTX_free(cctx);
    EVP_PKEY_free(k);
    OSSL_DECODER_CTX_free(dctx);
    return done(rc);
}

int rsp_ec_key_from_scalar(int curve, const uint8_t d[RSP_EC_SCALAR_LEN],
                           EVP_PKEY **out)
{
    const struct curve_info *ci = curve_get(curve);
    uint8_t dnat[RSP_EC_SCALAR_LEN];    /* d in native byte order */
    uint8_t pub[RSP_EC_POINT_LEN];
    BIGNUM *bn = NULL;
    BN_CTX *bctx = NULL;
    EC_GROUP *g = NULL;
    EC_POINT *q = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *k = NULL;
    OSSL_PARAM params[4];
    int rc = RSP_ERR_CRYPTO;

    if (!out)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!d)
        return RSP_ERR_INVAL;
    if (!ci)
        return RSP_ERR_UNSUPPORTED;
    if (!scalar_in_range(ci, d))
        return RSP_ERR_DECODE;

    /* The provider wants the public point too: Q = d*G. */
    bn = BN_secure_new();
    bctx = BN_CTX_secure_new();
    g = EC_GROUP_new_by_curve_name(ci->nid);
    q = g ? EC_POINT_new(g) : NULL;
    if (!bn || !bctx || !q)
        goto out;
    BN_set_flags(bn, BN_FLG_CONSTTIME);
    if (!BN_bin2bn(d, RSP_EC_SCALAR_LEN, bn) ||
        EC_POINT_mul(g, q, bn, NULL, NULL, bctx) != 1 ||
        EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, pub,
                           sizeof(pub), bctx) != sizeof(pub))
        goto out;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)ci->name, 0);
    params[1] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, dnat,
                                        sizeof(dnat));
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  pub, sizeof(pub));
    params[3] = OSSL_PARAM_construct_end();
    if (OSSL_PARAM_set_BN(&params[1], bn) != 1)
        goto out;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, params) != 1)
        goto out;
    *out = k;
    k = NULL;
    rc = RSP_OK;
out:
    OPENSSL_cleanse(dnat, sizeof(dnat));
    EVP_PKEY_free(k);
    EVP_PKEY_CTX_free(ctx);
    EC_POINT_free(q);
    EC_GROUP_free(g);
    BN_CTX_free(bctx);
    BN_clear_free(bn);
    return done(rc);
}

int rsp_ec_key_to_scalar(const EVP_PKEY *key, uint8_t d[RSP_EC_SCALAR_LEN])
{
    BIGNUM *bn = NULL;
    int curve, rc;

    if (!d)
        return RSP_ERR_INVAL;
    memset(d, 0, RSP_EC_SCALAR_LEN);
    if ((rc = rsp_ec_key_curve(key, &curve)) != RSP_OK)
        return rc;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &bn) != 1) {
        rc = RSP_ERR_INVAL;
        goto out;
    }
    if (BN_bn2binpad(bn, d, RSP_EC_SCALAR_LEN) != RSP_EC_SCALAR_LEN) {
        rc = RSP_ERR_CRYPTO;
        goto out;
    }
    rc = RSP_OK;
out:
    BN_clear_free(bn);
    return done(rc);
}

/* Import an uncompressed point (already checked: RSP_EC_POINT_LEN bytes,
 * prefix 04) on the named curve. The import refuses coordinates >= p and
 * points off the curve; the check adds infinity (quick) and the order
 * (full). The caller's OpenSSL error queue is left as it was. */
static int point_import(const struct curve_info *ci, const uint8_t *pt, int full,
                        EVP_PKEY **out)
{
    EVP_PKEY_CTX *ctx = NULL, *vctx = NULL;
    EVP_PKEY *k = NULL, *t = curve_template(ci);
    OSSL_PARAM params[3];
    int rc;

    ERR_set_mark();
    if (t) {
        /* the template's group; the point decoded (coordinates < p, on the
         * curve) by EC_POINT_oct2point inside the encoded-public-key set */
        rc = RSP_ERR_CRYPTO;
        if (!(k = EVP_PKEY_dup(t)))
            goto out;
        rc = RSP_ERR_DECODE;
        if (EVP_PKEY_set1_encoded_public_key(k, pt, RSP_EC_POINT_LEN) != 1)
            goto out;
    } else {
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                     (char *)ci->name, 0);
        params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                      (void *)pt, RSP_EC_POINT_LEN);
        params[2] = OSSL_PARAM_construct_end();
        rc = RSP_ERR_CRYPTO;
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1)
            goto out;
        rc = RSP_ERR_DECODE;
        if (EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
            goto out;
    }
    rc = RSP_ERR_CRYPTO;
    if (!(vctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL)))
        goto out;
    rc = RSP_ERR_DECODE;
    if ((full ? EVP_PKEY_public_check(vctx) : EVP_PKEY_public_check_quick(vctx)) != 1)
        goto out;
    *out = k;
    k = NULL;
    rc = RSP_OK;
out:
    ERR_pop_to_mark();
    EVP_PKEY_CTX_free(vctx);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(k);
    return rc;
}

int rsp_ec_pubkey_from_point(int curve, const uint8_t *pt, size_t len,
                             EVP_PKEY **out)
{
    const struct curve_info *ci = curve_get(curve);

    if (!out)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!pt && len)
        return RSP_ERR_INVAL;
    if (!ci)
        return RSP_ERR_UNSUPPORTED;
    if (len != RSP_EC_POINT_LEN || pt[0] != 0x04)
        return RSP_ERR_DECODE;
    return done(point_import(ci, pt, 1, out));
}

int rsp_ec_pubkey_from_point_quick(int curve, const uint8_t *pt, size_t len, EVP_PKEY **out)
{
    const struct curve_info *ci = curve_get(curve);

    if (!out)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!pt)
        return RSP_ERR_INVAL;
    if (!ci)
        return RSP_ERR_UNSUPPORTED;
    if (len != RSP_EC_POINT_LEN || pt[0] != 0x04)
        return RSP_ERR_DECODE;
    return point_import(ci, pt, 0, out);
}

int rsp_ec_point_check(int curve, const uint8_t *pt, size_t len)
{
    EVP_PKEY *k = NULL;
    int rc = rsp_ec_pubkey_from_point(curve, pt, len, &k);

    EVP_PKEY_free(k);
    return rc;
}

int rsp_ec_pubkey_to_point(const EVP_PKEY *key, uint8_t pt[RSP_EC_POINT_LEN])
{
    BIGNUM *x = NULL, *y = NULL;
    size_t len = 0;
    int curve, rc;

    if (!pt)
        return RSP_ERR_INVAL;
    memset(pt, 0, RSP_EC_POINT_LEN);
    if ((rc = rsp_ec_key_curve(key, &curve)) != RSP_OK)
        return rc;
    /* The encoded key when it is uncompressed (04 || X || Y: the affine
     * coordinates themselves), one export without big numbers: a third of
     * the cost of the two coordinate queries below. */
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pt,
                                        RSP_EC_POINT_LEN, &len) == 1 &&
        len == RSP_EC_POINT_LEN && pt[0] == 0x04)
        return RSP_OK;
    ERR_clear_error();
    memset(pt, 0, RSP_EC_POINT_LEN);
    /* Otherwise the affine coordinates: independent of the point
     * conversion form the key was loaded with (compressed, hybrid). */
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1) {
        rc = RSP_ERR_INVAL;
        goto out;
    }
    pt[0] = 0x04;
    if (BN_bn2binpad(x, pt + 1, RSP_EC_SCALAR_LEN) != RSP_EC_SCALAR_LEN ||
        BN_bn2binpad(y, pt + 1 + RSP_EC_SCALAR_LEN, RSP_EC_SCALAR_LEN) !=
            RSP_EC_SCALAR_LEN) {
        memset(pt, 0, RSP_EC_POINT_LEN);
        rc = RSP_ERR_CRYPTO;
        goto out;
    }
    rc = RSP_OK;
out:
    BN_free(x);
    BN_free(y);
    return done(rc);
}

void rsp_ec_key_free(EVP_PKEY *key)
{
    EVP_PKEY_free(key);
}

/* ---- ECDSA --------------------------------------------------------------- */

int rsp_ecdsa_sig_to_der(int curve, const uint8_t rs[RSP_ECDSA_SIG_LEN],
                         uint8_t der[RSP_ECDSA_DER_MAX], size_t *derlen)
{
    const struct curve_info *ci = curve_get(curve);
    ECDSA_SIG *sig = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *p = der;
    int n, rc = RSP_ERR_CRYPTO;

    if (derlen)
        *derlen = 0;
    if (!rs || !der || !derlen)
        return RSP_ERR_INVAL;
    if (!ci)
        return RSP_ERR_UNSUPPORTED;
    if (!scalar_in_range(ci, rs) || !scalar_in_range(ci, rs + RSP_EC_SCALAR_LEN))
        return RSP_ERR_DECODE;
    r = BN_bin2bn(rs, RSP_EC_SCALAR_LEN, NULL);
    s = BN_bin2bn(rs + RSP_EC_SCALAR_LEN, RSP_EC_SCALAR_LEN, NULL);
    sig = ECDSA_SIG_new();
    if (!r || !s || !sig || ECDSA_SIG_set0(sig, r, s) != 1)
        goto out;
    r = s = NULL;   /* owned by sig now */
    n = i2d_ECDSA_SIG(sig, NULL);
    if (n <= 0 || n > RSP_ECDSA_DER_MAX || i2d_ECDSA_SIG(sig, &p) != n)
        goto out;
    *derlen = (size_t)n;
    rc = RSP_OK;
out:
    ECDSA_SIG_free(sig);
    BN_free(r);
    BN_free(s);
    return done(rc);
}

int rsp_ecdsa_sig_from_der(int curve, const uint8_t *der, size_t len,
                           uint8_t rs[RSP_ECDSA_SIG_LEN])
{
    const struct curve_info *ci = curve_get(curve);
    uint8_t again[RSP_ECDSA_DER_MAX];
    unsigned char *q = again;
    const unsigned char *p = der;
    const BIGNUM *r, *s;
    ECDSA_SIG *sig = NULL;
    int rc = RSP_ERR_DECODE;

    if (!rs)
        return RSP_ERR_INVAL;
    memset(rs, 0, RSP_ECDSA_SIG_LEN);
    if (!der && len)
        return RSP_ERR_INVAL;
    if (!ci)
        return RSP_ERR_UNSUPPORTED;
    /* 30 06 02 01 r 02 01 s is the shortest, 72 bytes the longest. */
    if (len < 8 || len > RSP_ECDSA_DER_MAX)
        return RSP_ERR_DECODE;
    sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    if (!sig || p != der + len)
        goto out;
    /* DER is canonical: re-encoding must give the input back, which
     * rejects long-form lengths, padded or empty INTEGERs and BER. */
    if (i2d_ECDSA_SIG(sig, NULL) != (int)len ||
        i2d_ECDSA_SIG(sig, &q) != (int)len || memcmp(again, der, len) != 0)
        goto out;
    ECDSA_SIG_get0(sig, &r, &s);
    /* bn2binpad fails (-1) on values longer than 32 bytes */
    if (BN_is_negative(r) || BN_is_negative(s) ||
        BN_bn2binpad(r, rs, RSP_EC_SCALAR_LEN) != RSP_EC_SCALAR_LEN ||
        BN_bn2binpad(s, rs + RSP_EC_SCALAR_LEN, RSP_EC_SCALAR_LEN) !=
            RSP_EC_SCALAR_LEN)
        goto out;
    if (!scalar_in_range(ci, rs) || !scalar_in_range(ci, rs + RSP_EC_SCALAR_LEN))
        goto out;
    rc = RSP_OK;
out:
    if (rc != RSP_OK)
        memset(rs, 0, RSP_ECDSA_SIG_LEN);
    ECDSA_SIG_free(sig);
    return done(rc);
}

int rsp_ecdsa_sign(EVP_PKEY *key, const uint8_t *msg, size_t len,
                   uint8_t sig[RSP_ECDSA_SIG_LEN])
{
    static const uint8_t empty[1];
    uint8_t der[RSP_ECDSA_DER_MAX];
    size_t derlen = sizeof(der);
    EVP_MD_CTX *md = NULL;
    int curve, rc;

    if (!sig)
        return RSP_ERR_INVAL;
    memset(sig, 0, RSP_ECDSA_SIG_LEN);
    if (!key || (!msg && len))
        return RSP_ERR_INVAL;
    if ((rc = rsp_ec_key_curve(key, &curve)) != RSP_OK)
        return rc;
    if (!has_private(key))
        return RSP_ERR_INVAL;
    rc = RSP_ERR_CRYPTO;
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, key, NULL) != 1 ||
        EVP_DigestSign(md, der, &derlen, msg ? msg : empty, len) != 1)
        goto out;
    if (rsp_ecdsa_sig_from_der(curve, der, derlen, sig) != RSP_OK)
        goto out;
    rc = RSP_OK;
out:
    EVP_MD_CTX_free(md);
    return done(rc);
}

int rsp_ecdsa_verify(EVP_PKEY *key, const uint8_t *msg, size_t len,
                     const uint8_t *sig, size_t siglen)
{
    static const uint8_t empty[1];
    uint8_t der[RSP_ECDSA_DER_MAX];
    size_t derlen = 0;
    EVP_MD_CTX *md = NULL;
    int curve, rc, v;

    if (!key || (!msg && len) || (!sig && siglen))
        return RSP_ERR_INVAL;
    if ((rc = rsp_ec_key_curve(key, &curve)) != RSP_OK)
        return rc;
    /* Range checks on r and s happen here, before OpenSSL sees them. */
    if (siglen != RSP_ECDSA_SIG_LEN)
        return RSP_ERR_VERIFY;
    rc = rsp_ecdsa_sig_to_der(curve, sig, der, &derlen);
    if (rc != RSP_OK)
        return rc == RSP_ERR_DECODE ? RSP_ERR_VERIFY : rc;
    rc = RSP_ERR_CRYPTO;
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, key, NULL) != 1)
        goto out;
    v = EVP_DigestVerify(md, der, derlen, msg ? msg : empty, len);
    rc = v == 1 ? RSP_OK : v == 0 ? RSP_ERR_VERIFY : RSP_ERR_CRYPTO;
out:
    EVP_MD_CTX_free(md);
    return done(rc);
}

/* ---- ECKA ---------------------------------------------------------------- */

static int ecka(EVP_PKEY *own, EVP_PKEY *peer, int validate, uint8_t shs[RSP_ECKA_SHS_LEN]);

int rsp_ecka_derive(EVP_PKEY *own, EVP_PKEY *peer,
                    uint8_t shs[RSP_ECKA_SHS_LEN])
{
    return ecka(own, peer, 1, shs);
}

int rsp_ecka_derive_checked(EVP_PKEY *own, EVP_PKEY *peer, uint8_t shs[RSP_ECKA_SHS_LEN])
{
    return ecka(own, peer, 0, shs);
}

static int ecka(EVP_PKEY *own, EVP_PKEY *peer, int validate, uint8_t shs[RSP_ECKA_SHS_LEN])
{
    EVP_PKEY_CTX *ctx = NULL;
    size_t outlen = RSP_ECKA_SHS_LEN;
    int c_own, c_peer, rc;

    if (!shs)
        return RSP_ERR_INVAL;
    memset(shs, 0, RSP_ECKA_SHS_LEN);
    if (!own || !peer)
        return RSP_ERR_INVAL;
    if ((rc = rsp_ec_key_curve(own, &c_own)) != RSP_OK ||
        (rc = rsp_ec_key_curve(peer, &c_peer)) != RSP_OK)
        return rc;
    if (c_own != c_peer || !has_private(own))
        return RSP_ERR_INVAL;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, own, NULL);
    if (!ctx || EVP_PKEY_derive_init(ctx) != 1) {
        rc = RSP_ERR_CRYPTO;
        goto out;
    }
    /* validate: full public key check of the peer's point (else done at
     * its import) */
    if (EVP_PKEY_derive_set_peer_ex(ctx, peer, validate) != 1) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    if (EVP_PKEY_derive(ctx, shs, &outlen) != 1 || outlen != RSP_ECKA_SHS_LEN) {
        OPENSSL_cleanse(shs, RSP_ECKA_SHS_LEN);
        rc = RSP_ERR_CRYPTO;
        goto out;
    }
    rc = RSP_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    return done(rc);
}

/* ---- cached algorithm fetches ---------------------------------------------- */

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *aes128_cbc;
static EVP_MAC *cmac;

static void fetch_all(void)
{
    aes128_cbc = EVP_CIPHER_fetch(NULL, "AES-128-CBC", NULL);
    cmac = EVP_MAC_fetch(NULL, "CMAC", NULL);
}

const EVP_CIPHER *rsp_crypto_aes128_cbc(void)
{
    pthread_once(&fetch_once, fetch_all);
    return aes128_cbc;
}

EVP_MAC *rsp_crypto_cmac(void)
{
    pthread_once(&fetch_once, fetch_all);
    return cmac;
}
