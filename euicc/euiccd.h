/*
 * euiccd.h - serve simulated cards over sockets (part of libeuicc), with
 * the link conditions and faults of a field test.
 *
 * Framing, every mode, both ways: a 2-byte big-endian length + payload.
 * A payload of 1 byte is a control code from the reader side:
 *   0x00 power off, 0x01 power on (cold reset), 0x02 warm reset,
 *   0x04 get ATR.
 * Any other payload of 4..261 bytes is a command APDU (ISO/IEC 7816-4
 * §5.1), answered with the response APDU (data + SW1 SW2). A length above
 * 261 closes the connection. The card starts powered and reset; every new
 * connection resets it (a card freshly inserted in a reader).
 *
 * TCP mode (euiccd_card_serve_tcp; LPA tcp driver lpa/drv_tcp.c): the card
 *   listens, one client at a time. Control codes are all answered: 00 with
 *   an empty message, 01/02/04 with the ATR.
 *
 * vpcd mode (euiccd_card_serve_vpcd; vsmartcard's virtual reader, protocol
 *   of virtualsmartcard/src/vpcd/vpcd.h): euiccd connects to pcscd's vpcd
 *   driver, which listens on 35963 + slot. Only 04 is answered (with the
 *   ATR); 00/01/02 get no answer. When vpcd closes the connection the
 *   function returns; after a fault that closed it (drop, power loss) it
 *   connects again, as a card re-inserted.
 *
 * Reverse vpcd mode (euiccd_card_serve_vpcd_listen): vpcd configured with a
 *   host name (reader.conf DEVICENAME 127.0.0.1:0x8C7B) connects to the
 *   card, which listens on 35963 + slot; same messages as vpcd mode.
 *   Debian 12's vpcd (vsmartcard-vpcd 3.3, driver 0.8) in this mode connects to both of
 *   its slot ports (35963, 35964) and aborts pcscd ("bit out of range 0 -
 *   FD_SETSIZE") when a slot's connection is refused or closed - and it
 *   closes it when get ATR is answered empty (its "no card"). So a slot
 *   without an eUICC is served by euiccd_serve_empty_slot: a blank card,
 *   ATR 3B 00, SELECT answered 6A82, any other APDU 6D00.
 *
 * APDU numbering for the field-test options (struct euiccd_opts): command
 * APDUs only (not control codes), from 1, counted from the card's start
 * (across connections: each fault fires once) or, with per_connection, from
 * each new connection (each fault fires on every connection).
 *
 * Addresses are IPv4 "a.b.c.d:port"; only loopback (127.0.0.0/8) unless
 * allow_remote. Not SGP.22 itself: the transport below SGP.22 §2.2.3 (ISD-R
 * selection) and §5.7 (ES10 over STORE DATA), as a reader provides it.
 */
#ifndef EUICCD_H
#define EUICCD_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "euicc.h"

#define EUICCD_FRAME_MAX 261   /* 5 + 255 + 1: a short case 4 APDU */
#define EUICCD_VPCD_PORT 35963 /* vpcd's default port, slot 0 */
#define EUICCD_FAULTS_MAX 16   /* per kind (drop, corrupt, power loss) */

/* Link conditions and faults of one card (zeroed: none). */
struct euiccd_opts {
    unsigned latency_ms;          /* added before each R-APDU */
    unsigned long rate;           /* link bytes/s, 0 = unlimited: a delay of
                                   * (C-APDU + R-APDU bytes) / rate per APDU */
    unsigned long drop[EUICCD_FAULTS_MAX];     /* APDU numbers: not delivered
                                                * to the card, connection closed */
    unsigned n_drop;
    unsigned long corrupt[EUICCD_FAULTS_MAX];  /* APDU numbers: processed, the
                                                * answer has one byte flipped */
    unsigned n_corrupt;
    /* APDU numbers: the card loses power. Before the command (default) it
     * has no effect; "after" (N:after) it is processed and may commit, the
     * answer is lost. Then the connection is closed and the card reloaded
     * from its state file (euicc_free + euicc_open: what a crash leaves). */
    unsigned long power_loss[EUICCD_FAULTS_MAX];
    unsigned char power_loss_after[EUICCD_FAULTS_MAX];
    unsigned n_power_loss;
    int per_connection;           /* count APDUs from each connection */
};

/* Set one option by its command-line name (without "--"):
 *   latency MS (0..600000), rate BYTES_PER_S (1..1000000000),
 *   drop N, corrupt N, power-loss N[:after] (N >= 1, repeatable up to
 *   EUICCD_FAULTS_MAX each), per-connection (value ignored).
 * Errors: RSP_ERR_INVAL (unknown name, bad value, too many; o unchanged). */
int euiccd_opts_set(struct euiccd_opts *o, const char *name, const char *value);

/* Is name one of euiccd_opts_set's names? 1 yes (*takes_value set), 0 no. */
int euiccd_opts_known(const char *name, int *takes_value);

struct euiccd_card;

/* A card loaded from its state file, served with opts (NULL: none); it
 * owns the struct euicc. [out] *out, freed with euiccd_card_free().
 * Errors: those of euicc_open, RSP_ERR_NOMEM. */
int euiccd_card_open(const char *state_path, const struct euiccd_opts *opts,
                     struct euiccd_card **out);

/* A card the caller owns (not freed, never reloaded): power-loss faults
 * are refused (RSP_ERR_INVAL). */
int euiccd_card_wrap(struct euicc *e, const struct euiccd_opts *opts,
                     struct euiccd_card **out);

void euiccd_card_free(struct euiccd_card *c);

/* The card's EID (32 hex digits, from its state when opened; "" if
 * unreadable). */
const char *euiccd_card_eid(const struct euiccd_card *c);

/* The struct euicc currently behind c (a power loss replaces it). Only
 * while c is not being served. */
struct euicc *euiccd_card_euicc(const struct euiccd_card *c);

/* Command APDUs the card has received since it was opened. */
unsigned long euiccd_card_apdus(const struct euiccd_card *c);

/* Listen on addr (port 0: any free port). [out] *fd, *port (optional).
 * Errors: RSP_ERR_INVAL (bad or non-loopback address), RSP_ERR_IO. */
int euiccd_listen(const char *addr, int allow_remote, int *fd, uint16_t *port);

/* stop: set non-zero by another thread or a signal handler (a lock-free
 * atomic_int may be stored from a handler, C11 7.14.1.1; every serving
 * thread reads it without a data race). */
/* Serve TCP clients of a listening socket until *stop becomes non-zero.
 * Returns 0 when stopped, RSP_ERR_IO on a listening socket failure or when
 * the card cannot be reloaded after a power loss. */
int euiccd_card_serve_tcp(struct euiccd_card *c, int listen_fd,
                          atomic_int *stop);

/* Connect to vpcd at addr and serve it until it closes or *stop.
 * Errors: RSP_ERR_INVAL, RSP_ERR_IO. */
int euiccd_card_serve_vpcd(struct euiccd_card *c, const char *addr, int allow_remote,
                           atomic_int *stop);

/* Reverse vpcd: serve vpcd connecting to a listening socket until *stop.
 * Returns as euiccd_card_serve_tcp. */
int euiccd_card_serve_vpcd_listen(struct euiccd_card *c, int listen_fd,
                                  atomic_int *stop);

/* Reverse vpcd: the blank card of a slot without an eUICC, until *stop. */
int euiccd_serve_empty_slot(int listen_fd, atomic_int *stop);

/* Without options, on a caller-owned card (as before struct euiccd_card). */
int euiccd_serve_tcp(struct euicc *e, int listen_fd, atomic_int *stop);
int euiccd_serve_vpcd(struct euicc *e, const char *addr, int allow_remote,
                      atomic_int *stop);

#endif
