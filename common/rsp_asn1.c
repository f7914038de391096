#include "rsp_asn1.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <ber_tlv_length.h>
#include <ber_tlv_tag.h>
#include <constraints.h>
#include <der_encoder.h>

#include "rsp_err.h"

/* Enough for any RSP or SAIP structure, and small enough that a hostile
 * nesting cannot exhaust the stack of a thread. */
#define RSP_ASN1_STACK_MAX 30000
#define RSP_DER_MAX_DEPTH 48

/* asn1c 0.9.28 takes non-const descriptors everywhere. */
#define TD(td) ((asn_TYPE_descriptor_t *)(uintptr_t)(td))

int rsp_tlv_parse(const uint8_t *p, size_t len, struct rsp_tlv *out)
{
    size_t i = 0, vlen = 0;

    if (len < 2)
        return RSP_ERR_DECODE;
    /* Tag: X.690 §8.1.2; high-tag-number form continues while bit 8 is set. */
    uint32_t tag = p[i++];
    if ((tag & 0x1F) == 0x1F) {
        if (p[1] == 0x80)   /* leading zero septet: not minimal (§8.1.2.4.2 c) */
            return RSP_ERR_DECODE;
        do {
            if (i >= len || i >= 4)
                return RSP_ERR_DECODE;
            tag = tag << 8 | p[i];
        } while (p[i++] & 0x80);
        if (i == 2 && p[1] < 0x1F)   /* would have fitted the short form */
            return RSP_ERR_DECODE;
    }
    if (i >= len)
        return RSP_ERR_DECODE;
    /* Length: DER (X.690 §10.1) - definite, minimal. */
    uint8_t l0 = p[i++];
    if (l0 < 0x80) {
        vlen = l0;
    } else {
        size_t n = l0 & 0x7F;
        if (n == 0 || n > 4 || n > len - i)   /* indefinite, or absurd */
            return RSP_ERR_DECODE;
        if (p[i] == 0)                        /* leading zero octet */
            return RSP_ERR_DECODE;
        for (size_t k = 0; k < n; k++)
            vlen = vlen << 8 | p[i++];
        if (vlen < 0x80)                      /* short form was possible */
            return RSP_ERR_DECODE;
    }
    if (vlen > len - i)
        return RSP_ERR_DECODE;
    out->tag = tag;
    out->constructed = (p[0] & 0x20) != 0;
    out->tlv = p;
    out->val = p + i;
    out->val_len = vlen;
    out->tlv_len = i + vlen;
    return RSP_OK;
}

int rsp_tlv_next(const uint8_t *p, size_t len, size_t *pos, struct rsp_tlv *out)
{
    if (*pos >= len)
        return 0;
    int rc = rsp_tlv_parse(p + *pos, len - *pos, out);
    if (rc)
        return rc;
    *pos += out->tlv_len;
    return 1;
}

int rsp_tlv_find(const uint8_t *p, size_t len, uint32_t tag, struct rsp_tlv *out)
{
    size_t pos = 0;
    int rc;
    struct rsp_tlv t;

    while ((rc = rsp_tlv_next(p, len, &pos, &t)) == 1) {
        if (t.tag == tag) {
            *out = t;
            return RSP_OK;
        }
    }
    return rc == 0 ? RSP_ERR_NOTFOUND : rc;
}

static int der_walk(const uint8_t *p, size_t len, int depth)
{
    size_t pos = 0;
    int rc;
    struct rsp_tlv t;

    if (depth <= 0)
        return RSP_ERR_DECODE;
    while ((rc = rsp_tlv_next(p, len, &pos, &t)) == 1) {
        if (t.constructed && (rc = der_walk(t.val, t.val_len, depth - 1)) != 0)
            return rc;
    }
    return rc;
}

int rsp_der_check(const uint8_t *p, size_t len, int max_depth)
{
    struct rsp_tlv t;
    int rc = rsp_tlv_parse(p, len, &t);

    if (rc)
        return rc;
    if (t.tlv_len != len)
        return RSP_ERR_DECODE;
    if (t.constructed)
        return der_walk(t.val, t.val_len, max_depth);
    return RSP_OK;
}

int rsp_tlv_put_header(struct rsp_buf *out, uint32_t tag, size_t vlen)
{
    uint8_t h[4 + 5];
    size_t n = 0;

    for (int s = 24; s > 0; s -= 8)
        if (tag >> s)
            h[n++] = (uint8_t)(tag >> s);
    h[n++] = (uint8_t)tag;
    if (vlen < 0x80) {
        h[n++] = (uint8_t)vlen;
    } else {
        int bytes = vlen > 0xFFFFFF ? 4 : vlen > 0xFFFF ? 3 : vlen > 0xFF ? 2 : 1;
        h[n++] = (uint8_t)(0x80 | bytes);
        for (int k = bytes - 1; k >= 0; k--)
            h[n++] = (uint8_t)(vlen >> (8 * k));
    }
    return rsp_buf_append(out, h, n);
}

int rsp_tlv_put(struct rsp_buf *out, uint32_t tag, const void *v, size_t vlen)
{
    int rc = rsp_tlv_put_header(out, tag, vlen);
    if (rc == 0 && vlen)
        rc = rsp_buf_append(out, v, vlen);
    return rc;
}

/* asn1c 0.9.28 takes the initial octet of a BIT STRING (the number of
 * unused bits) as it comes and shifts by it (OCTET_STRING.c: 0xff <<
 * bits_unused): a peer's value over 7 is undefined behaviour. Check every
 * BIT STRING, whatever its tag, before the runtime sees it: X.690 §8.6.2.2
 * (0..7), §8.6.2.3 (0 when there are no bits); a constructed (BER) one is
 * checked segment by segment. */
static int bits_ok(const uint8_t *p, size_t len, int depth)
{
    struct rsp_tlv t, c;
    size_t pos = 0;
    int rc;

    if (rsp_tlv_parse(p, len, &t))
        return 1;                       /* the runtime reports it */
    if (!t.constructed)
        return t.val_len >= 1 && t.val[0] <= 7 && (t.val_len > 1 || t.val[0] == 0);
    if (depth > 4)
        return 0;
    while ((rc = rsp_tlv_next(t.val, t.val_len, &pos, &c)) == 1)
        if (!bits_ok(c.tlv, c.tlv_len, depth + 1))
            return 0;
    return rc == 0;
}

static asn_dec_rval_t bit_string_decode_ber(asn_codec_ctx_t *ctx, asn_TYPE_descriptor_t *td,
                                            void **sptr, const void *buf, size_t size,
                                            int tag_mode)
{
    if (!bits_ok(buf, size, 0)) {
        asn_dec_rval_t r = { RC_FAIL, 0 };
        return r;
    }
    return OCTET_STRING_decode_ber(ctx, td, sptr, buf, size, tag_mode);
}

/* Derived BIT STRING types copy asn_DEF_BIT_STRING.ber_decoder on each use
 * (their *_inherit_TYPE_descriptor), so one hook covers them all. */
static void bit_string_hook(void)
{
    asn_DEF_BIT_STRING.ber_decoder = bit_string_decode_ber;
}

int rsp_asn1_decode(const asn_TYPE_descriptor_t *td, const uint8_t *p, size_t len,
                    size_t max, void **out)
{
    static pthread_once_t hook_once = PTHREAD_ONCE_INIT;
    asn_codec_ctx_t ctx = { .max_stack_size = RSP_ASN1_STACK_MAX };
    void *st = NULL;
    char errbuf[128];
    size_t errlen = sizeof(errbuf);
    int rc;

    *out = NULL;
    pthread_once(&hook_once, bit_string_hook);
    if (!p || len == 0)
        return RSP_ERR_DECODE;
    if (len > max)
        return RSP_ERR_TOOBIG;
    /* ber_decode takes BER; refuse anything that is not DER-shaped first. */
    rc = rsp_der_check(p, len, RSP_DER_MAX_DEPTH);
    if (rc)
        return rc;
    asn_dec_rval_t r = ber_decode(&ctx, TD(td), &st, p, len);
    if (r.code != RC_OK || r.consumed != len) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    if (asn_check_constraints(TD(td), st, errbuf, &errlen) != 0) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    *out = st;
    st = NULL;
    rc = RSP_OK;
out:
    if (st)
        TD(td)->free_struct(TD(td), st, 0);
    return rc;
}

struct enc_sink {
    struct rsp_buf *out;
    int err;
};

static int consume(const void *buf, size_t size, void *key)
{
    struct enc_sink *k = key;
    k->err = rsp_buf_append(k->out, buf, size);
    return k->err == RSP_OK ? 0 : -1;
}

int rsp_asn1_encode(const asn_TYPE_descriptor_t *td, const void *st, struct rsp_buf *out)
{
    char errbuf[128];
    size_t errlen = sizeof(errbuf);
    struct enc_sink sink = { .out = out, .err = RSP_OK };

    if (!st || asn_check_constraints(TD(td), st, errbuf, &errlen) != 0) {
        rsp_buf_free(out);
        return RSP_ERR_ENCODE;
    }
    asn_enc_rval_t r = der_encode(TD(td), (void *)(uintptr_t)st, consume, &sink);
    if (r.encoded < 0) {
        rsp_buf_free(out);
        return sink.err ? sink.err : RSP_ERR_ENCODE;
    }
    return RSP_OK;
}

void rsp_asn1_free(const asn_TYPE_descriptor_t *td, void *st)
{
    if (st)
        TD(td)->free_struct(TD(td), st, 0);
}

void rsp_asn1_free_contents(const asn_TYPE_descriptor_t *td, void *st)
{
    if (st)
        TD(td)->free_struct(TD(td), st, 1);
}

int rsp_asn1_named_bits_set(BIT_STRING_t *bs, uint32_t mask)
{
    int top = -1;
    uint8_t *buf;

    for (int i = 0; i < 32; i++)
        if (mask & (1u << i))
            top = i;
    size_t nbytes = top < 0 ? 0 : (size_t)top / 8 + 1;
    buf = calloc(1, nbytes ? nbytes : 1);
    if (!buf)
        return RSP_ERR_NOMEM;
    for (int i = 0; i <= top; i++)
        if (mask & (1u << i))
            buf[i / 8] |= (uint8_t)(0x80 >> (i % 8));
    free(bs->buf);
    bs->buf = buf;
    bs->size = (int)nbytes;
    bs->bits_unused = top < 0 ? 0 : 7 - (top % 8);
    return RSP_OK;
}

uint32_t rsp_asn1_named_bits_get(const BIT_STRING_t *bs)
{
    uint32_t mask = 0;
    size_t nbits;

    if (!bs || !bs->buf || bs->size <= 0)
        return 0;
    nbits = (size_t)bs->size * 8 - (size_t)(bs->bits_unused & 7);
    for (size_t i = 0; i < nbits && i < 32; i++)
        if (bs->buf[i / 8] & (0x80 >> (i % 8)))
            mask |= 1u << i;
    return mask;
}

int rsp_asn1_octets_set(OCTET_STRING_t *os, const void *p, size_t len)
{
    if (len > INT32_MAX)
        return RSP_ERR_TOOBIG;
    return OCTET_STRING_fromBuf(os, p, (int)len) == 0 ? RSP_OK : RSP_ERR_NOMEM;
}
