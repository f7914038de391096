/*
 * drv_channel.c - opening the ISD-R's logical channel with real APDUs, for
 * the drivers of liblpa-drivers (see lpa_drivers.h).
 *
 * ISO/IEC 7816-4 §11.1.2 MANAGE CHANNEL (open: P1 00, P2 00, Le 01; close:
 * P1 80, P2 = channel), §11.2.2 SELECT by DF name (P1 04, P2 00: FCI
 * returned), §5.4.1 channel bits in CLA; SGP.22 v2.5 §2.2.3 (the ISD-R is
 * selected by AID on a logical channel, §5.7.1).
 */
#include <string.h>

#include "lpa_drivers.h"
#include "rsp_err.h"

static uint8_t cla_of(int channel)
{
    return channel < 4 ? (uint8_t)channel : (uint8_t)(0x40 | (channel - 4));
}

static int xfer_sw(lpa_drv_xfer_fn xfer, void *ctx, const uint8_t *c, size_t clen,
                   uint8_t *r, size_t *rlen, uint16_t *sw)
{
    int rc;

    *rlen = LPA_RAPDU_MAX;
    if ((rc = xfer(ctx, c, clen, r, rlen)))
        return rc;
    if (*rlen < 2 || *rlen > LPA_RAPDU_MAX)
        return RSP_ERR_IO;
    *sw = (uint16_t)((r[*rlen - 2] << 8) | r[*rlen - 1]);
    return 0;
}

int lpa_drv_channel_close(lpa_drv_xfer_fn xfer, void *ctx, int channel)
{
    uint8_t c[4] = { 0x00, 0x70, 0x80, 0x00 }, r[LPA_RAPDU_MAX];
    size_t rlen;
    uint16_t sw = 0;
    int rc;

    if (!xfer || channel < 0 || channel > LPA_CHANNEL_MAX)
        return RSP_ERR_INVAL;
    if (channel == 0)
        return 0;
    c[3] = (uint8_t)channel;
    if ((rc = xfer_sw(xfer, ctx, c, sizeof(c), r, &rlen, &sw)))
        return rc;
    return sw == 0x9000 ? 0 : LPA_ERR_SW;
}

int lpa_drv_channel_open(lpa_drv_xfer_fn xfer, void *ctx, const uint8_t *aid,
                         size_t aid_len, int *channel, uint16_t *sw)
{
    static const uint8_t open[5] = { 0x00, 0x70, 0x00, 0x00, 0x01 };
    uint8_t c[5 + 16 + 1], r[LPA_RAPDU_MAX];
    size_t rlen;
    uint16_t s = 0;
    int rc, ch, rounds;

    if (sw)
        *sw = 0;
    if (!xfer || !aid || aid_len < 5 || aid_len > 16 || !channel)
        return RSP_ERR_INVAL;
    *channel = -1;
    if ((rc = xfer_sw(xfer, ctx, open, sizeof(open), r, &rlen, &s)))
        return rc;
    if (sw)
        *sw = s;
    if (s != 0x9000)
        return LPA_ERR_SW;
    if (rlen != 3 || r[0] < 1 || r[0] > LPA_CHANNEL_MAX)
        return RSP_ERR_IO;
    ch = r[0];

    c[0] = cla_of(ch);
    c[1] = 0xA4;
    c[2] = 0x04;
    c[3] = 0x00;
    c[4] = (uint8_t)aid_len;
    memcpy(c + 5, aid, aid_len);
    c[5 + aid_len] = 0x00;
    if ((rc = xfer_sw(xfer, ctx, c, 6 + aid_len, r, &rlen, &s)))
        goto fail;
    /* T=0: the FCI waits behind 61xx; fetch it so nothing stays pending on
     * the channel (a bounded number of rounds). */
    for (rounds = 0; (s >> 8) == 0x61 && rounds < 8; rounds++) {
        uint8_t gr[5] = { cla_of(ch), 0xC0, 0x00, 0x00, (uint8_t)(s & 0xFF) };
        if ((rc = xfer_sw(xfer, ctx, gr, sizeof(gr), r, &rlen, &s)))
            goto fail;
    }
    if (sw)
        *sw = s;
    if (s != 0x9000) {
        rc = LPA_ERR_SW;
        goto fail;
    }
    *channel = ch;
    return 0;

fail:
    lpa_drv_channel_close(xfer, ctx, ch);
    return rc;
}
