/*
 * euicc_apdu.c - the ISO/IEC 7816-4 layer of the card.
 *
 * CLA (ISO/IEC 7816-4 §5.4.1; GlobalPlatform Card Spec v2.3 §11.1.4):
 *   0x00-0x0F  first interindustry: b4-b3 secure messaging, b2-b1 channel 0-3
 *              (b5 = command chaining, not supported)
 *   0x40-0x7F  further interindustry: b6 secure messaging, b5 chaining,
 *              b4-b1 = channel - 4 (channels 4-19)
 *   0x80-0x8F, 0xC0-0xFE  the same with b8 set: GlobalPlatform proprietary
 *              class (STORE DATA is sent as 80-83 / C0-CF, SGP.22 §5.7.2)
 *   0xFF       invalid (reserved for PPS)                     -> 6E00
 * Secure messaging indicated -> 6882, chaining indicated -> 6884, a closed
 * or out-of-range channel -> 6881 (ISO/IEC 7816-4 §5.1.3 table 6).
 *
 * Only short APDUs (ISO/IEC 7816-4 §5.1, cases 1, 2S, 3S, 4S); an
 * extended or inconsistent length -> 6700.
 *
 * Commands:
 *   MANAGE CHANNEL (INS 70, ISO/IEC 7816-4 §11.1.2): P1 00 open, P2 00 =
 *     the card assigns and returns the number (1 byte), P2 01-13 = that
 *     channel; P1 80 close, P2 = channel (00 = the channel of CLA). The
 *     basic channel cannot be closed (6A81). No free channel -> 6A81; P2
 *     naming a channel already open or > 19 -> 6A86. A channel opened from
 *     a logical channel inherits its selected application, from the basic
 *     channel none (ETSI TS 102 221 §11.1.17).
 *   SELECT (INS A4, ISO/IEC 7816-4 §11.2.2): P1 04 by DF name (AID), P2 00
 *     (FCI returned) or 0C (nothing); exact AID of the ISD-R or ECASD
 *     (SGP.22 §2.2.3); unknown AID -> 6A82, other P1/P2 -> 6A86.
 *   STORE DATA (INS E2, GP Card Spec v2.3 §11.11; SGP.22 §5.7.2): P1 b8
 *     last block, b5-b4 = 10 BER-TLV structure, b7-b6 = 00 no encryption
 *     (so P1 = 11 / 91; b1 is ignored: 10/90 accepted); P2 = block number
 *     00, 01, ... (out of order -> 6A86 and the command is dropped). The
 *     ISD-R must be selected on that channel (else 6985). The reassembled
 *     command (at most EUICC_ES10_MAX, else 6A84) goes to
 *     euicc_isdr_dispatch().
 *   GET RESPONSE (INS C0, ISO/IEC 7816-4 §11.7.1 (7.6.1 in 2005)): P1P2
 *     0000; Le 00 = up to 256 bytes; Le larger than what remains -> 6Cxx
 *     (xx = what remains); nothing pending -> 6985.
 * Response data: when Le is absent (case 3 STORE DATA, as over T=0) the
 * card answers 61xx and the data comes with GET RESPONSE; when present, up
 * to Le bytes come at once and 61xx says how many remain (00 = 256 or
 * more). Any other command on the same channel drops a pending response.
 * Unknown INS -> 6D00; a handler failure the card cannot express -> 6F00.
 */
#include <string.h>

#include "euicc.private.h"
#include "rsp_err.h"
#include "rsp_log.h"

#define LOG(level, ...) RSP_LOG(level, "euicc", __VA_ARGS__)

#define RESP_MAX (1u << 20)   /* one ES10 response */

static const uint8_t aid_isdr[16] = {
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
    0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00,
};
static const uint8_t aid_ecasd[16] = {
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
    0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x02, 0x00,
};

/* One parsed command APDU. */
struct apdu {
    uint8_t cla, ins, p1, p2;
    const uint8_t *data;
    size_t lc;
    size_t le;       /* Ne: 1..256 */
    int has_le;
    int channel;
    int proprietary; /* CLA b8 set (GlobalPlatform) */
};

static void channel_init(struct euicc_channel *ch, int open)
{
    memset(ch, 0, sizeof(*ch));
    ch->open = open;
    rsp_buf_init(&ch->cmd, EUICC_ES10_MAX);
    rsp_buf_init(&ch->resp, RESP_MAX);
}

static void channel_drop_data(struct euicc_channel *ch)
{
    rsp_buf_free(&ch->cmd);
    rsp_buf_free(&ch->resp);
    ch->expect_block = 0;
    ch->resp_off = 0;
}

void euicc_channels_init(struct euicc *e)
{
    for (int i = 0; i < EUICC_CHANNELS; i++)
        channel_init(&e->ch[i], i == 0);
}

void euicc_channels_free(struct euicc *e)
{
    for (int i = 0; i < EUICC_CHANNELS; i++) {
        channel_drop_data(&e->ch[i]);
        channel_init(&e->ch[i], i == 0);
    }
}

static size_t put_sw(uint8_t *r, size_t n, unsigned sw)
{
    r[n] = (uint8_t)(sw >> 8);
    r[n + 1] = (uint8_t)sw;
    return n + 2;
}

/* Parse the CLA byte; returns 0 or a status word. */
static unsigned parse_cla(struct apdu *a)
{
    uint8_t cla = a->cla;

    if (cla == 0xFF)
        return 0x6E00;
    a->proprietary = (cla & 0x80) != 0;
    if ((cla & 0x40) == 0) {
        /* first interindustry range: b7-b6 must be 00 */
        if ((cla & 0x60) != 0)
            return 0x6E00;
        if (cla & 0x10)
            return 0x6884;
        if (cla & 0x0C)
            return 0x6882;
        a->channel = cla & 0x03;
    } else {
        if (cla & 0x10)
            return 0x6884;
        if (cla & 0x20)
            return 0x6882;
        a->channel = 4 + (cla & 0x0F);
    }
    return 0;
}

/* Short APDU cases (ISO/IEC 7816-4 §5.1): returns 0 or 0x6700. */
static unsigned parse_lengths(struct apdu *a, const uint8_t *c, size_t clen)
{
    if (clen == 4)
        return 0;
    if (clen == 5) {
        a->has_le = 1;
        a->le = c[4] ? c[4] : 256;
        return 0;
    }
    if (c[4] == 0)
        return 0x6700;   /* extended length: not supported */
    a->lc = c[4];
    a->data = c + 5;
    if (clen == 5 + a->lc)
        return 0;
    if (clen == 6 + a->lc) {
        a->has_le = 1;
        a->le = c[clen - 1] ? c[clen - 1] : 256;
        return 0;
    }
    return 0x6700;
}

/* Send response data from ch->resp starting at resp_off, at most max
 * bytes, with 61xx if more remains. */
static size_t send_pending(struct euicc_channel *ch, size_t max, uint8_t *r)
{
    size_t left = ch->resp.len - ch->resp_off;
    size_t n = left < max ? left : max;

    memcpy(r, ch->resp.data + ch->resp_off, n);
    ch->resp_off += n;
    left -= n;
    if (left == 0) {
        rsp_buf_reset(&ch->resp);   /* wiped; the block serves the next answer */
        ch->resp_off = 0;
        return put_sw(r, n, 0x9000);
    }
    return put_sw(r, n, 0x6100 | (left >= 256 ? 0 : (unsigned)left));
}

static size_t do_manage_channel(struct euicc *e, const struct apdu *a, uint8_t *r)
{
    int target;

    if (a->p1 == 0x00) {
        if (a->lc)
            return put_sw(r, 0, 0x6700);
        if (a->p2 == 0x00) {
            if (!a->has_le || a->le != 1)
                return put_sw(r, 0, 0x6700);
            for (target = 1; target < EUICC_CHANNELS && e->ch[target].open; target++)
                ;
            if (target == EUICC_CHANNELS)
                return put_sw(r, 0, 0x6A81);
        } else {
            target = a->p2;
            if (a->has_le)
                return put_sw(r, 0, 0x6700);
            if (target >= EUICC_CHANNELS || e->ch[target].open)
                return put_sw(r, 0, 0x6A86);
        }
        channel_init(&e->ch[target], 1);
        e->ch[target].selected = a->channel ? e->ch[a->channel].selected : EUICC_APP_NONE;
        if (a->p2 == 0x00) {
            r[0] = (uint8_t)target;
            return put_sw(r, 1, 0x9000);
        }
        return put_sw(r, 0, 0x9000);
    }
    if (a->p1 == 0x80) {
        if (a->lc || a->has_le)
            return put_sw(r, 0, 0x6700);
        target = a->p2 ? a->p2 : a->channel;
        if (target >= EUICC_CHANNELS)
            return put_sw(r, 0, 0x6A86);
        if (target == 0)
            return put_sw(r, 0, 0x6A81);
        if (!e->ch[target].open)
            return put_sw(r, 0, 0x6881);
        channel_drop_data(&e->ch[target]);
        channel_init(&e->ch[target], 0);
        return put_sw(r, 0, 0x9000);
    }
    return put_sw(r, 0, 0x6A86);
}

static size_t do_select(struct euicc *e, const struct apdu *a, uint8_t *r)
{
    struct euicc_channel *ch = &e->ch[a->channel];
    const uint8_t *aid;
    int app;

    if (a->p1 != 0x04 || (a->p2 != 0x00 && a->p2 != 0x0C))
        return put_sw(r, 0, 0x6A86);
    if (a->lc < 5 || a->lc > 16)
        return put_sw(r, 0, a->lc ? 0x6A80 : 0x6700);
    if (a->lc == sizeof(aid_isdr) && memcmp(a->data, aid_isdr, sizeof(aid_isdr)) == 0) {
        app = EUICC_APP_ISDR;
        aid = aid_isdr;
    } else if (a->lc == sizeof(aid_ecasd) && memcmp(a->data, aid_ecasd, sizeof(aid_ecasd)) == 0) {
        app = EUICC_APP_ECASD;
        aid = aid_ecasd;
    } else {
        return put_sw(r, 0, 0x6A82);
    }
    ch->selected = app;
    rsp_buf_free(&ch->cmd);
    ch->expect_block = 0;
    if (a->p2 == 0x0C)
        return put_sw(r, 0, 0x9000);
    /* FCI (GP Card Spec v2.3 §11.9.3.1): 6F { 84 AID, A5 { 9F65 01 FF } }:
     * maximum length of data field in a command message = 255. */
    {
        uint8_t fci[2 + 18 + 6];
        size_t n = 0;
        fci[n++] = 0x6F;
        fci[n++] = 18 + 6;
        fci[n++] = 0x84;
        fci[n++] = 16;
        memcpy(fci + n, aid, 16);
        n += 16;
        fci[n++] = 0xA5;
        fci[n++] = 4;
        fci[n++] = 0x9F;
        fci[n++] = 0x65;
        fci[n++] = 0x01;
        fci[n++] = 0xFF;
        if (rsp_buf_append(&ch->resp, fci, n) != 0)
            return put_sw(r, 0, 0x6F00);
        ch->resp_off = 0;
        if (!a->has_le)
            return put_sw(r, 0, 0x6100 | (unsigned)n);
        return send_pending(ch, a->le, r);
    }
}

/* The first tag of an ES10 command (1 or 2 bytes), 0 if none. */
static uint32_t cmd_tag(const struct rsp_buf *c)
{
    if (c->len == 0)
        return 0;
    if ((c->data[0] & 0x1F) == 0x1F)
        return c->len >= 2 ? (uint32_t)c->data[0] << 8 | c->data[1] : 0;
    return c->data[0];
}

static size_t do_store_data(struct euicc *e, const struct apdu *a, uint8_t *r, int *err)
{
    struct euicc_channel *ch = &e->ch[a->channel];
    int rc;

    if (ch->selected != EUICC_APP_ISDR)
        return put_sw(r, 0, 0x6985);
    if ((a->p1 & 0x7E) != 0x10)
        goto wrong_p1p2;
    if (a->p2 == 0x00 && ch->expect_block != 0) {
        /* Block 00 starts a new command (GP Card Spec §11.11.2.2): the
         * sender gave up on the previous one after a transport error and
         * e.g. wants to CancelSession (SGP.22 §5.7.14); drop the rest. */
        rsp_buf_free(&ch->cmd);
        ch->expect_block = 0;
    }
    if (a->p2 != ch->expect_block)
        goto wrong_p1p2;
    if (a->lc == 0)
        return put_sw(r, 0, 0x6700);
    if (rsp_buf_append(&ch->cmd, a->data, a->lc) != 0) {
        ch->expect_block = 0;
        return put_sw(r, 0, 0x6A84);
    }
    if (!(a->p1 & 0x80)) {
        if (ch->expect_block == 0xFF) {
            rsp_buf_free(&ch->cmd);
            ch->expect_block = 0;
            return put_sw(r, 0, 0x6A84);
        }
        ch->expect_block++;
        return put_sw(r, 0, 0x9000);
    }
    ch->expect_block = 0;
    rsp_log_hex("euicc", "ES10 command", ch->cmd.data, ch->cmd.len);
    rsp_buf_reset(&ch->resp);
    ch->resp_off = 0;
    if (e->fault_sw && (!e->fault_sw_tag || cmd_tag(&ch->cmd) == e->fault_sw_tag)) {
        unsigned sw = e->fault_sw;            /* euicc_fault_set: once */
        e->fault_sw = 0;
        e->fault_sw_tag = 0;
        rsp_buf_free(&ch->cmd);
        LOG(RSP_LOG_INFO, "injected fault: SW %04X", sw);
        return put_sw(r, 0, sw);
    }
    rc = euicc_isdr_dispatch(e, ch->cmd.data, ch->cmd.len, &ch->resp);
    /* wiped, the block kept for the next command's blocks (freed with the
     * channel): no regrowth by doubling per command */
    rsp_buf_reset(&ch->cmd);
    if (rc < 0) {
        LOG(RSP_LOG_ERROR, "ES10 command failed: %s", rsp_strerror(rc));
        rsp_buf_free(&ch->resp);
        *err = rc;
        return put_sw(r, 0, 0x6F00);
    }
    if (rc > 0) {
        rsp_buf_free(&ch->resp);
        return put_sw(r, 0, (unsigned)rc & 0xFFFF);
    }
    rsp_log_hex("euicc", "ES10 response", ch->resp.data, ch->resp.len);
    if (ch->resp.len == 0)
        return put_sw(r, 0, 0x9000);
    if (!a->has_le)
        return put_sw(r, 0, 0x6100 | (ch->resp.len >= 256 ? 0 : (unsigned)ch->resp.len));
    return send_pending(ch, a->le, r);

wrong_p1p2:
    rsp_buf_free(&ch->cmd);
    ch->expect_block = 0;
    return put_sw(r, 0, 0x6A86);
}

static size_t do_get_response(struct euicc *e, const struct apdu *a, uint8_t *r)
{
    struct euicc_channel *ch = &e->ch[a->channel];
    size_t left;

    if (a->p1 != 0 || a->p2 != 0)
        return put_sw(r, 0, 0x6A86);
    if (a->lc || !a->has_le)
        return put_sw(r, 0, 0x6700);
    if (ch->resp.len == 0)
        return put_sw(r, 0, 0x6985);
    left = ch->resp.len - ch->resp_off;
    if (a->le != 256 && a->le > left)
        return put_sw(r, 0, 0x6C00 | (unsigned)left);
    return send_pending(ch, a->le, r);
}

int euicc_apdu_process(struct euicc *e, const uint8_t *c, size_t clen,
                       uint8_t *r, size_t *rlen)
{
    struct apdu a;
    unsigned sw;
    int err = 0;

    memset(&a, 0, sizeof(a));
    *rlen = 0;
    rsp_log_hex("euicc", "C-APDU", c, clen);
    if (clen < 4 || clen > 5 + 255 + 1) {
        *rlen = put_sw(r, 0, 0x6700);
        goto out;
    }
    a.cla = c[0];
    a.ins = c[1];
    a.p1 = c[2];
    a.p2 = c[3];
    if ((sw = parse_cla(&a)) != 0) {
        *rlen = put_sw(r, 0, sw);
        goto out;
    }
    if (a.channel >= EUICC_CHANNELS || !e->ch[a.channel].open) {
        *rlen = put_sw(r, 0, 0x6881);
        goto out;
    }
    if ((sw = parse_lengths(&a, c, clen)) != 0) {
        *rlen = put_sw(r, 0, sw);
        goto out;
    }
    if (a.ins != 0xC0) {
        /* GET RESPONSE must follow at once (ISO/IEC 7816-4 §11.7.1) */
        rsp_buf_reset(&e->ch[a.channel].resp);
        e->ch[a.channel].resp_off = 0;
    }
    if (a.ins != 0xE2 && e->ch[a.channel].cmd.len) {
        /* an interrupted STORE DATA sequence is abandoned */
        rsp_buf_free(&e->ch[a.channel].cmd);
        e->ch[a.channel].expect_block = 0;
    }
    switch (a.ins) {
    case 0x70:
        *rlen = a.proprietary ? put_sw(r, 0, 0x6E00) : do_manage_channel(e, &a, r);
        break;
    case 0xA4:
        *rlen = a.proprietary ? put_sw(r, 0, 0x6E00) : do_select(e, &a, r);
        break;
    case 0xE2:
        *rlen = !a.proprietary ? put_sw(r, 0, 0x6E00) : do_store_data(e, &a, r, &err);
        break;
    case 0xC0:
        *rlen = do_get_response(e, &a, r);
        break;
    default:
        *rlen = put_sw(r, 0, 0x6D00);
        break;
    }
out:
    rsp_log_hex("euicc", "R-APDU", r, *rlen);
    return err;
}
