/*
 * drv_inproc.c - APDU driver for a libeuicc card living in this process
 * (euicc.h). The card's own ISO/IEC 7816-4 layer sees exactly the bytes a
 * reader would carry: MANAGE CHANNEL + SELECT ISD-R (SGP.22 v2.5 §2.2.3),
 * then STORE DATA (§5.7.1) on that channel.
 */
#include <stdlib.h>
#include <string.h>

#include "euicc.h"
#include "lpa_drivers.h"
#include "rsp_err.h"

struct lpa_drv_inproc {
    char *path;            /* NULL when wrapping */
    struct euicc *card;
    int owned;
};

static int inproc_transmit(void *ctx, const uint8_t *capdu, size_t len,
                           uint8_t *rapdu, size_t *rlen)
{
    struct lpa_drv_inproc *d = ctx;
    uint8_t r[EUICC_RAPDU_MAX];
    size_t n = 0;
    int rc;

    if (!d->card || !rlen)
        return RSP_ERR_STATE;
    rc = euicc_transmit(d->card, capdu, len, r, &n);
    if (rc || n < 2 || n > *rlen)
        return rc ? rc : RSP_ERR_IO;
    memcpy(rapdu, r, n);
    *rlen = n;
    return 0;
}

static int inproc_connect(void *ctx)
{
    struct lpa_drv_inproc *d = ctx;
    uint8_t atr[EUICC_ATR_MAX];
    size_t atr_len;
    int rc;

    if (d->owned && !d->card && (rc = euicc_open(d->path, &d->card)))
        return rc;
    return euicc_reset(d->card, atr, &atr_len);
}

static void inproc_disconnect(void *ctx)
{
    struct lpa_drv_inproc *d = ctx;

    if (d->owned) {
        euicc_free(d->card);
        d->card = NULL;
    }
}

static int inproc_open_channel(void *ctx, const uint8_t *aid, size_t aid_len, int *channel)
{
    return lpa_drv_channel_open(inproc_transmit, ctx, aid, aid_len, channel, NULL);
}

static int inproc_close_channel(void *ctx, int channel)
{
    return lpa_drv_channel_close(inproc_transmit, ctx, channel);
}

static int make(struct lpa_drv_inproc *d, struct lpa_drv_inproc **out,
                struct lpa_apdu_driver *drv)
{
    memset(drv, 0, sizeof(*drv));
    drv->ctx = d;
    drv->connect = inproc_connect;
    drv->disconnect = inproc_disconnect;
    drv->open_channel = inproc_open_channel;
    drv->close_channel = inproc_close_channel;
    drv->transmit = inproc_transmit;
    *out = d;
    return 0;
}

int lpa_drv_inproc_new(const char *state_path, struct lpa_drv_inproc **out,
                       struct lpa_apdu_driver *drv)
{
    struct lpa_drv_inproc *d;

    if (!out || !drv)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!state_path || !*state_path)
        return RSP_ERR_INVAL;
    if (!(d = calloc(1, sizeof(*d))) || !(d->path = strdup(state_path))) {
        free(d);
        return RSP_ERR_NOMEM;
    }
    d->owned = 1;
    return make(d, out, drv);
}

int lpa_drv_inproc_wrap(struct euicc *card, struct lpa_drv_inproc **out,
                        struct lpa_apdu_driver *drv)
{
    struct lpa_drv_inproc *d;

    if (!out || !drv)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!card)
        return RSP_ERR_INVAL;
    if (!(d = calloc(1, sizeof(*d))))
        return RSP_ERR_NOMEM;
    d->card = card;
    return make(d, out, drv);
}

void lpa_drv_inproc_free(struct lpa_drv_inproc *d)
{
    if (!d)
        return;
    if (d->owned)
        euicc_free(d->card);
    free(d->path);
    free(d);
}
