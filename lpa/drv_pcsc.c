/*
 * drv_pcsc.c - APDU driver over PC/SC (pcsc-lite's libpcsclite).
 *
 * connect: SCardEstablishContext, SCardListReaders, the reader whose name
 * contains the requested substring (or the first one holding a card),
 * SCardConnect shared with T=1 or T=0; open_channel: MANAGE CHANNEL +
 * SELECT ISD-R on it (SGP.22 v2.5 §2.2.3; ISO/IEC 7816-4 §11.1.2, §11.2.2);
 * transmit: SCardTransmit with the PCI of the negotiated protocol;
 * disconnect: MANAGE CHANNEL close then SCardDisconnect(SCARD_LEAVE_CARD)
 * and SCardReleaseContext. Failures are kept as one line with
 * pcsc_stringify_error() for lpa_drv_pcsc_error().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>
#include <PCSC/pcsclite.h>

#include "lpa_drivers.h"
#include "rsp_err.h"

#define READERS_MAX 65536   /* bound on the multi-string of reader names */

struct lpa_drv_pcsc {
    char *want;              /* substring, NULL: first reader with a card */
    SCARDCONTEXT sc;
    SCARDHANDLE card;
    DWORD proto;
    int have_ctx, have_card;
    char reader[256];
    char err[256];
};

static void set_err(struct lpa_drv_pcsc *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_err(struct lpa_drv_pcsc *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(d->err, sizeof(d->err), fmt, ap);
    va_end(ap);
}

static void pcsc_disconnect(void *ctx)
{
    struct lpa_drv_pcsc *d = ctx;

    if (d->have_card)
        SCardDisconnect(d->card, SCARD_LEAVE_CARD);
    if (d->have_ctx)
        SCardReleaseContext(d->sc);
    d->have_card = d->have_ctx = 0;
}

/* Is a card present in reader r? */
static int card_present(struct lpa_drv_pcsc *d, const char *r)
{
    SCARD_READERSTATE st;

    memset(&st, 0, sizeof(st));
    st.szReader = r;
    st.dwCurrentState = SCARD_STATE_UNAWARE;
    if (SCardGetStatusChange(d->sc, 0, &st, 1) != SCARD_S_SUCCESS)
        return 0;
    return (st.dwEventState & SCARD_STATE_PRESENT) != 0;
}

static int pcsc_connect(void *ctx)
{
    struct lpa_drv_pcsc *d = ctx;
    char *names = NULL;
    const char *pick = NULL;
    DWORD len = 0;
    LONG rv;
    int rc = RSP_ERR_IO;

    pcsc_disconnect(d);
    d->err[0] = 0;
    d->reader[0] = 0;
    rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &d->sc);
    if (rv != SCARD_S_SUCCESS) {
        set_err(d, "SCardEstablishContext: %s (is pcscd running?)", pcsc_stringify_error(rv));
        return RSP_ERR_IO;
    }
    d->have_ctx = 1;
    rv = SCardListReaders(d->sc, NULL, NULL, &len);
    if (rv == SCARD_E_NO_READERS_AVAILABLE || (rv == SCARD_S_SUCCESS && len <= 1)) {
        set_err(d, "SCardListReaders: no reader");
        goto out;
    }
    if (rv != SCARD_S_SUCCESS || len > READERS_MAX) {
        set_err(d, "SCardListReaders: %s", pcsc_stringify_error(rv));
        goto out;
    }
    if (!(names = calloc(1, (size_t)len + 1))) {
        rc = RSP_ERR_NOMEM;
        goto out;
    }
    rv = SCardListReaders(d->sc, NULL, names, &len);
    if (rv != SCARD_S_SUCCESS) {
        set_err(d, "SCardListReaders: %s", pcsc_stringify_error(rv));
        goto out;
    }
    /* Multi-string: names separated by NUL, ended by an empty one. */
    for (const char *r = names; *r && r < names + len; r += strlen(r) + 1) {
        if (d->want ? strstr(r, d->want) != NULL : card_present(d, r)) {
            pick = r;
            break;
        }
    }
    if (!pick) {
        set_err(d, d->want ? "no reader matching \"%s\"" : "no reader with a card%s",
                d->want ? d->want : "");
        goto out;
    }
    snprintf(d->reader, sizeof(d->reader), "%s", pick);
    rv = SCardConnect(d->sc, pick, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_T0,
                      &d->card, &d->proto);
    if (rv != SCARD_S_SUCCESS) {
        set_err(d, "SCardConnect(%s): %s", d->reader, pcsc_stringify_error(rv));
        goto out;
    }
    d->have_card = 1;
    rc = 0;
out:
    free(names);
    if (rc)
        pcsc_disconnect(d);
    return rc;
}

static int pcsc_transmit(void *ctx, const uint8_t *capdu, size_t len,
                         uint8_t *rapdu, size_t *rlen)
{
    struct lpa_drv_pcsc *d = ctx;
    const SCARD_IO_REQUEST *pci = d->proto == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1 : SCARD_PCI_T0;
    DWORD n;
    LONG rv;

    if (!d->have_card) {
        set_err(d, "PC/SC: not connected");
        return RSP_ERR_STATE;
    }
    if (!capdu || len < 4 || len > LPA_CAPDU_MAX || !rapdu || !rlen || *rlen < 2)
        return RSP_ERR_INVAL;
    n = (DWORD)*rlen;
    rv = SCardTransmit(d->card, pci, capdu, (DWORD)len, NULL, rapdu, &n);
    if (rv != SCARD_S_SUCCESS) {
        set_err(d, "SCardTransmit(%s): %s", d->reader, pcsc_stringify_error(rv));
        return RSP_ERR_IO;
    }
    if (n < 2 || n > *rlen) {
        set_err(d, "SCardTransmit(%s): answer of %lu bytes", d->reader, (unsigned long)n);
        return RSP_ERR_IO;
    }
    *rlen = n;
    return 0;
}

static int pcsc_open_channel(void *ctx, const uint8_t *aid, size_t aid_len, int *channel)
{
    struct lpa_drv_pcsc *d = ctx;
    uint16_t sw = 0;
    int rc = lpa_drv_channel_open(pcsc_transmit, ctx, aid, aid_len, channel, &sw);

    if (rc == LPA_ERR_SW)
        set_err(d, "open ISD-R channel on %s: SW %04X", d->reader, sw);
    return rc;
}

static int pcsc_close_channel(void *ctx, int channel)
{
    return lpa_drv_channel_close(pcsc_transmit, ctx, channel);
}

int lpa_drv_pcsc_new(const char *reader, struct lpa_drv_pcsc **out,
                     struct lpa_apdu_driver *drv)
{
    struct lpa_drv_pcsc *d;

    if (!out || !drv)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!(d = calloc(1, sizeof(*d))))
        return RSP_ERR_NOMEM;
    if (reader && *reader && !(d->want = strdup(reader))) {
        free(d);
        return RSP_ERR_NOMEM;
    }
    memset(drv, 0, sizeof(*drv));
    drv->ctx = d;
    drv->connect = pcsc_connect;
    drv->disconnect = pcsc_disconnect;
    drv->open_channel = pcsc_open_channel;
    drv->close_channel = pcsc_close_channel;
    drv->transmit = pcsc_transmit;
    *out = d;
    return 0;
}

void lpa_drv_pcsc_free(struct lpa_drv_pcsc *d)
{
    if (!d)
        return;
    pcsc_disconnect(d);
    free(d->want);
    free(d);
}

const char *lpa_drv_pcsc_error(const struct lpa_drv_pcsc *d)
{
    return d ? d->err : "";
}

const char *lpa_drv_pcsc_reader(const struct lpa_drv_pcsc *d)
{
    return d ? d->reader : "";
}
