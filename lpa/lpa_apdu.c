/* lpa_apdu.c - context, logical channel and the ES10 STORE DATA transport. */
#include <string.h>

#include "lpa.h"
#include "rsp_err.h"

static const uint8_t default_isdr_aid[16] = {
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
    0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00,
};

#define DEFAULT_BLOCK 120
#define DEFAULT_MAX_RESPONSE (64u * 1024)
#define LIMIT_MAX_RESPONSE (1024u * 1024)
/* A card that keeps answering 61xx without data would loop forever. */
#define MAX_EMPTY_61XX 4

int lpa_ctx_init(struct lpa_ctx *ctx, const struct lpa_apdu_driver *drv,
                 const struct lpa_options *opt)
{
    if (!ctx || !drv || !drv->connect || !drv->open_channel || !drv->transmit)
        return RSP_ERR_INVAL;
    memset(ctx, 0, sizeof(*ctx));
    ctx->drv = *drv;
    ctx->channel = -1;
    memcpy(ctx->aid, default_isdr_aid, sizeof(default_isdr_aid));
    ctx->aid_len = sizeof(default_isdr_aid);
    ctx->block_size = DEFAULT_BLOCK;
    ctx->max_response = DEFAULT_MAX_RESPONSE;
    if (!opt)
        return RSP_OK;
    if (opt->isdr_aid) {
        if (opt->isdr_aid_len < 5 || opt->isdr_aid_len > sizeof(ctx->aid))
            goto inval;
        memcpy(ctx->aid, opt->isdr_aid, opt->isdr_aid_len);
        ctx->aid_len = opt->isdr_aid_len;
    }
    if (opt->block_size) {
        if (opt->block_size > 255)
            goto inval;
        ctx->block_size = opt->block_size;
    }
    if (opt->max_response) {
        if (opt->max_response > LIMIT_MAX_RESPONSE)
            goto inval;
        ctx->max_response = opt->max_response;
    }
    ctx->progress = opt->progress;
    ctx->progress_arg = opt->progress_arg;
    return RSP_OK;
inval:
    memset(ctx, 0, sizeof(*ctx));
    ctx->channel = -1;
    return RSP_ERR_INVAL;
}

int lpa_open(struct lpa_ctx *ctx)
{
    int rc, ch = -1;

    if (!ctx)
        return RSP_ERR_INVAL;
    if (ctx->connected)
        return RSP_ERR_STATE;
    rc = ctx->drv.connect(ctx->drv.ctx);
    if (rc < 0)
        return rc;
    ctx->connected = 1;
    rc = ctx->drv.open_channel(ctx->drv.ctx, ctx->aid, ctx->aid_len, &ch);
    if (rc < 0)
        goto fail;
    if (ch < 0 || ch > LPA_CHANNEL_MAX) {
        /* Not a channel we can address in CLA; give it back if we can. */
        if (ch > 0 && ctx->drv.close_channel)
            ctx->drv.close_channel(ctx->drv.ctx, ch);
        rc = RSP_ERR_IO;
        goto fail;
    }
    ctx->channel = ch;
    return RSP_OK;
fail:
    if (ctx->drv.disconnect)
        ctx->drv.disconnect(ctx->drv.ctx);
    ctx->connected = 0;
    return rc;
}

void lpa_close(struct lpa_ctx *ctx)
{
    if (!ctx || !ctx->connected)
        return;
    if (ctx->channel > 0 && ctx->drv.close_channel)
        ctx->drv.close_channel(ctx->drv.ctx, ctx->channel);
    ctx->channel = -1;
    if (ctx->drv.disconnect)
        ctx->drv.disconnect(ctx->drv.ctx);
    ctx->connected = 0;
}

uint16_t lpa_last_sw(const struct lpa_ctx *ctx)
{
    return ctx ? ctx->last_sw : 0;
}

const char *lpa_strerror(int err)
{
    if (err == LPA_ERR_SW)
        return "card returned an error status word";
    return rsp_strerror(err);
}

/* CLA for a proprietary (GlobalPlatform) command on a logical channel,
 * ISO/IEC 7816-4 §5.4.1: channels 0..3 in bits 1-2 of the first
 * interindustry form; 4..19 as channel-4 in bits 1-4 with bit 7 set. The
 * 0x80 bit marks the proprietary class in both. */
static uint8_t cla_for_channel(int ch)
{
    if (ch < 4)
        return (uint8_t)(0x80 | ch);
    return (uint8_t)(0xC0 | (ch - 4));
}

/* Send capdu, handle 61xx/6Cxx, append response data to resp. */
static int exchange(struct lpa_ctx *ctx, uint8_t *capdu, size_t clen,
                    struct rsp_buf *resp)
{
    uint8_t r[LPA_RAPDU_MAX];
    int retried_6c = 0, empty = 0;

    for (;;) {
        size_t rlen = sizeof(r);
        int rc = ctx->drv.transmit(ctx->drv.ctx, capdu, clen, r, &rlen);
        if (rc < 0)
            return rc;
        if (rlen < 2 || rlen > sizeof(r))
            return RSP_ERR_IO;
        uint8_t sw1 = r[rlen - 2], sw2 = r[rlen - 1];
        ctx->last_sw = (uint16_t)(sw1 << 8 | sw2);
        if (sw1 == 0x6C && !retried_6c) {
            /* Wrong Le: re-issue the same command with Le = SW2. A case 2
             * command (GET RESPONSE, 5 bytes) has its Le replaced; a case 3
             * one (STORE DATA) gets one appended. */
            size_t lc_end = clen == 5 ? 4 : 5 + (size_t)capdu[4];
            if (clen > lc_end + 1 || lc_end + 1 > LPA_CAPDU_MAX)
                return RSP_ERR_IO;
            capdu[lc_end] = sw2;
            clen = lc_end + 1;
            retried_6c = 1;
            continue;
        }
        if (rlen > 2) {
            rc = rsp_buf_append(resp, r, rlen - 2);
            if (rc < 0)
                return rc;
        }
        /* 9000, and 91xx (normal ending with a proactive command pending,
         * ETSI TS 102 221 §10.2.1.1). */
        if (ctx->last_sw == 0x9000 || sw1 == 0x91)
            return RSP_OK;
        if (sw1 != 0x61)
            return LPA_ERR_SW;
        if (rlen == 2 && ++empty > MAX_EMPTY_61XX)
            return RSP_ERR_IO;
        capdu[0] = cla_for_channel(ctx->channel);
        capdu[1] = 0xC0;
        capdu[2] = 0x00;
        capdu[3] = 0x00;
        capdu[4] = sw2;
        clen = 5;
        retried_6c = 0;
    }
}

int lpa_es10_transact(struct lpa_ctx *ctx, const uint8_t *cmd, size_t len,
                      struct rsp_buf *resp)
{
    uint8_t capdu[LPA_CAPDU_MAX];
    size_t off = 0, blocks;
    unsigned n = 0;
    int rc;

    if (!ctx || !resp)
        return RSP_ERR_INVAL;
    rsp_buf_init(resp, ctx->max_response);
    if (!cmd || len == 0 || ctx->block_size == 0 || ctx->block_size > 255)
        return RSP_ERR_INVAL;
    if (!ctx->connected || ctx->channel < 0)
        return RSP_ERR_STATE;
    blocks = (len + ctx->block_size - 1) / ctx->block_size;
    /* P2 is one byte. */
    if (blocks > 256)
        return RSP_ERR_TOOBIG;
    while (off < len) {
        size_t chunk = len - off > ctx->block_size ? ctx->block_size : len - off;
        int last = off + chunk == len;
        capdu[0] = cla_for_channel(ctx->channel);
        capdu[1] = 0xE2;
        capdu[2] = last ? 0x91 : 0x11;
        capdu[3] = (uint8_t)n;
        capdu[4] = (uint8_t)chunk;
        memcpy(capdu + 5, cmd + off, chunk);
        rc = exchange(ctx, capdu, 5 + chunk, resp);
        if (rc < 0)
            goto fail;
        off += chunk;
        n++;
        if (ctx->progress)
            ctx->progress(ctx->progress_arg, n, (unsigned)blocks);
    }
    return RSP_OK;
fail:
    rsp_buf_free(resp);
    return rc;
}
