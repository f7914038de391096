/*
 * lpa_drivers.h - the APDU drivers of liblpa-drivers (struct lpa_apdu_driver,
 * lpa.h): an in-process simulated eUICC, euiccd over TCP, and PC/SC.
 *
 * Every driver opens the ISD-R's logical channel with real APDUs:
 *   MANAGE CHANNEL open  00 70 00 00 01 -> channel number (ISO/IEC 7816-4
 *                        §11.1.2), then
 *   SELECT by DF name    0x A4 04 00 Lc AID 00 on that channel (§11.2.2;
 *                        SGP.22 v2.5 §2.2.3 ISD-R AID); 61xx is drained with
 *                        GET RESPONSE (T=0 cards),
 * and closes it with MANAGE CHANNEL close 00 70 80 nn. The core sets the
 * channel bits of every later command itself (lpa.h).
 *
 * Each constructor fills *drv (drv->ctx = the driver object) and returns the
 * object through *out; free it with the matching *_free() after lpa_close().
 * Nothing is contacted before lpa_open() calls drv->connect.
 */
#ifndef LPA_DRIVERS_H
#define LPA_DRIVERS_H

#include <stddef.h>
#include <stdint.h>

#include "lpa.h"

struct euicc;

/* ---- shared helpers (used by the three drivers, usable by others) ---- */

/* One raw exchange: same contract as lpa_apdu_driver.transmit. */
typedef int (*lpa_drv_xfer_fn)(void *ctx, const uint8_t *capdu, size_t len,
                               uint8_t *rapdu, size_t *rlen);

/* MANAGE CHANNEL open + SELECT aid on it. [out] *channel (1..19), *sw the
 * last status word (0 if none). Errors: RSP_ERR_IO (transport, malformed
 * answer, channel number out of range), LPA_ERR_SW (the card refused: *sw).
 * The channel is closed again if the SELECT fails. */
int lpa_drv_channel_open(lpa_drv_xfer_fn xfer, void *ctx, const uint8_t *aid,
                         size_t aid_len, int *channel, uint16_t *sw);
/* MANAGE CHANNEL close (no-op for channel 0). */
int lpa_drv_channel_close(lpa_drv_xfer_fn xfer, void *ctx, int channel);

/* ---- in-process: a libeuicc card in this process ---- */
struct lpa_drv_inproc;

/* Open the card's state file at connect time and free it at disconnect, so
 * every lpa_open() sees the file as it is on disk.
 * Errors: RSP_ERR_INVAL (NULL path), RSP_ERR_NOMEM. */
int lpa_drv_inproc_new(const char *state_path, struct lpa_drv_inproc **out,
                       struct lpa_apdu_driver *drv);
/* Use an already open card (not owned, not freed). */
int lpa_drv_inproc_wrap(struct euicc *card, struct lpa_drv_inproc **out,
                        struct lpa_apdu_driver *drv);
void lpa_drv_inproc_free(struct lpa_drv_inproc *d);

/* ---- euiccd TCP (euicc/euiccd.h framing) ---- */
struct lpa_drv_tcp;

#define LPA_DRV_TCP_DEFAULT "127.0.0.1:4000"

/* addr: IPv4 "a.b.c.d:port" (NULL: LPA_DRV_TCP_DEFAULT); only loopback
 * (127.0.0.0/8). timeout_ms bounds connect and every answer (0: 10000).
 * Errors: RSP_ERR_INVAL (bad or non-loopback address), RSP_ERR_NOMEM. */
int lpa_drv_tcp_new(const char *addr, int timeout_ms, struct lpa_drv_tcp **out,
                    struct lpa_apdu_driver *drv);
void lpa_drv_tcp_free(struct lpa_drv_tcp *d);

/* ---- PC/SC (pcsc-lite) ---- */
struct lpa_drv_pcsc;

/* reader: a substring of the reader name, NULL: the first reader with a
 * card. At connect: SCardEstablishContext, SCardListReaders, SCardConnect
 * (shared, T=1 or T=0). Errors: RSP_ERR_NOMEM. */
int lpa_drv_pcsc_new(const char *reader, struct lpa_drv_pcsc **out,
                     struct lpa_apdu_driver *drv);
void lpa_drv_pcsc_free(struct lpa_drv_pcsc *d);
/* The last PC/SC failure as one line ("SCardConnect: Card is unpowered."),
 * "" if none; and the reader name chosen ("" before connect). */
const char *lpa_drv_pcsc_error(const struct lpa_drv_pcsc *d);
const char *lpa_drv_pcsc_reader(const struct lpa_drv_pcsc *d);

/* The last transport failure of a TCP driver as one line, "" if none. */
const char *lpa_drv_tcp_error(const struct lpa_drv_tcp *d);

#endif
