/*
 * euiccd.h - serve one simulated card over a socket (part of libeuicc).
 *
 * TCP mode (--tcp HOST:PORT, euiccd listens, one client at a time):
 *   every message, both ways, is a 2-byte big-endian length + payload.
 *   A payload of 1 byte is a control message from the client:
 *     0x00 power off -> answered with an empty message (length 0)
 *     0x01 power on  -> answered with the ATR (cold reset)
 *     0x02 reset     -> answered with the ATR (warm reset)
 *   Any other payload of 4..261 bytes is a command APDU, answered with the
 *   response APDU (data + SW1 SW2). A length above 261 closes the
 *   connection. The card starts powered and reset.
 *
 * vpcd mode (--vpcd HOST:PORT, euiccd connects to the vsmartcard virtual
 *   reader as its card; protocol of virtualsmartcard/src/vpcd/vpcd.h and
 *   vpicc VirtualSmartcard.py): the same 2-byte big-endian length framing;
 *   a 1-byte message is a control byte (0 power off, 1 power on, 2 reset,
 *   4 get ATR) and only "get ATR" is answered (with the ATR); any other
 *   message is an APDU answered with the response APDU.
 *
 * Addresses are IPv4 "a.b.c.d:port"; only loopback (127.0.0.0/8) unless
 * allow_remote.
 */
#ifndef EUICCD_H
#define EUICCD_H

#include <signal.h>
#include <stdint.h>

#include "euicc.h"

#define EUICCD_FRAME_MAX 261   /* 5 + 255 + 1: a short case 4 APDU */

/* Listen on addr (port 0: any free port). [out] *fd, *port (optional).
 * Errors: RSP_ERR_INVAL (bad or non-loopback address), RSP_ERR_IO. */
int euiccd_listen(const char *addr, int allow_remote, int *fd, uint16_t *port);

/* Serve clients of a listening socket until *stop becomes non-zero.
 * Returns 0 when stopped, RSP_ERR_IO on a listening socket failure. */
int euiccd_serve_tcp(struct euicc *e, int listen_fd, volatile sig_atomic_t *stop);

/* Connect to vpcd at addr and serve it until it closes or *stop.
 * Errors: RSP_ERR_INVAL, RSP_ERR_IO. */
int euiccd_serve_vpcd(struct euicc *e, const char *addr, int allow_remote,
                      volatile sig_atomic_t *stop);

#endif
