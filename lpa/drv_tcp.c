/*
 * drv_tcp.c - APDU driver for euiccd's TCP mode (framing in
 * euicc/euiccd.h: 2-byte big-endian length + payload both ways; 1-byte
 * control payloads 00 power off / 01 power on / 02 reset). The ISD-R is
 * reached as on a real card: MANAGE CHANNEL + SELECT (SGP.22 v2.5 §2.2.3),
 * then the core's STORE DATA (§5.7.1). Loopback only; every wait bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lpa_drivers.h"
#include "rsp_err.h"
#include "rsp_util.h"

#define FRAME_MAX 261   /* EUICCD_FRAME_MAX */

struct lpa_drv_tcp {
    struct sockaddr_in sa;
    int fd;
    int timeout_ms;
    char err[160];
};

static void set_err(struct lpa_drv_tcp *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_err(struct lpa_drv_tcp *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(d->err, sizeof(d->err), fmt, ap);
    va_end(ap);
}

/* A loopback IPv4 address:port (the card is never reached off-host). */
static int parse_addr(const char *s, struct sockaddr_in *sa)
{
    if (rsp_ipv4_addr_parse(s, 1, sa) || (ntohl(sa->sin_addr.s_addr) >> 24) != 127)
        return RSP_ERR_INVAL;
    return 0;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Wait for events on fd until deadline; 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, long deadline)
{
    struct pollfd p = { .fd = fd, .events = events };

    for (;;) {
        long left = deadline - now_ms();
        if (left <= 0)
            return 0;
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        return n > 0;
    }
}

static int io_full(struct lpa_drv_tcp *d, uint8_t *p, size_t n, int sending, long deadline)
{
    while (n) {
        int w = wait_fd(d->fd, sending ? POLLOUT : POLLIN, deadline);
        if (w <= 0) {
            set_err(d, "euiccd %s: %s", sending ? "send" : "receive",
                    w == 0 ? "timed out" : strerror(errno));
            return RSP_ERR_IO;
        }
        ssize_t r = sending ? send(d->fd, p, n, MSG_NOSIGNAL) : recv(d->fd, p, n, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            set_err(d, "euiccd %s: %s", sending ? "send" : "receive",
                    r == 0 ? "connection closed" : strerror(errno));
            return RSP_ERR_IO;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Send one frame and read the answer frame into r (cap *rlen). */
static int exchange(struct lpa_drv_tcp *d, const uint8_t *c, size_t clen,
                    uint8_t *r, size_t *rlen)
{
    uint8_t buf[2 + FRAME_MAX], hdr[2];
    long deadline = now_ms() + d->timeout_ms;
    size_t n;
    int rc;

    if (d->fd < 0) {
        set_err(d, "euiccd: not connected");
        return RSP_ERR_STATE;
    }
    if (clen == 0 || clen > FRAME_MAX)
        return RSP_ERR_INVAL;
    buf[0] = (uint8_t)(clen >> 8);
    buf[1] = (uint8_t)clen;
    memcpy(buf + 2, c, clen);
    if ((rc = io_full(d, buf, 2 + clen, 1, deadline)) ||
        (rc = io_full(d, hdr, 2, 0, deadline)))
        return rc;
    n = ((size_t)hdr[0] << 8) | hdr[1];
    if (n > *rlen || n > FRAME_MAX) {
        set_err(d, "euiccd: answer of %zu bytes", n);
        return RSP_ERR_IO;
    }
    if (n && (rc = io_full(d, r, n, 0, deadline)))
        return rc;
    *rlen = n;
    return 0;
}

static int tcp_transmit(void *ctx, const uint8_t *capdu, size_t len,
                        uint8_t *rapdu, size_t *rlen)
{
    struct lpa_drv_tcp *d = ctx;
    int rc;

    if (len < 4)
        return RSP_ERR_INVAL;
    if ((rc = exchange(d, capdu, len, rapdu, rlen)))
        return rc;
    if (*rlen < 2) {
        set_err(d, "euiccd: answer of %zu bytes", *rlen);
        return RSP_ERR_IO;
    }
    return 0;
}

static void tcp_disconnect(void *ctx)
{
    struct lpa_drv_tcp *d = ctx;

    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
}

static int tcp_connect(void *ctx)
{
    struct lpa_drv_tcp *d = ctx;
    uint8_t on = 0x01, atr[FRAME_MAX];
    size_t atr_len = sizeof(atr);
    long deadline = now_ms() + d->timeout_ms;
    int fl, rc, soerr = 0, one = 1;
    socklen_t sl = sizeof(soerr);
    char a[INET_ADDRSTRLEN];

    inet_ntop(AF_INET, &d->sa.sin_addr, a, sizeof(a));
    tcp_disconnect(d);
    d->err[0] = 0;
    d->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (d->fd < 0) {
        set_err(d, "socket: %s", strerror(errno));
        return RSP_ERR_IO;
    }
    /* Non-blocking connect so that the timeout bounds it too. */
    fl = fcntl(d->fd, F_GETFL);
    fcntl(d->fd, F_SETFL, fl | O_NONBLOCK);
    setsockopt(d->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(d->fd, (struct sockaddr *)&d->sa, sizeof(d->sa)) != 0) {
        if (errno != EINPROGRESS) {
            soerr = errno;
        } else if ((rc = wait_fd(d->fd, POLLOUT, deadline)) <= 0) {
            soerr = rc == 0 ? ETIMEDOUT : errno;
        } else if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
            soerr = errno;
        }
        if (soerr) {
            set_err(d, "connect to euiccd %s:%u: %s", a, ntohs(d->sa.sin_port),
                    strerror(soerr));
            tcp_disconnect(d);
            return RSP_ERR_IO;
        }
    }
    /* Power on: euiccd answers with the ATR (cold reset). */
    if ((rc = exchange(d, &on, 1, atr, &atr_len)) || atr_len < 2) {
        if (!rc)
            set_err(d, "euiccd: no ATR");
        tcp_disconnect(d);
        return rc ? rc : RSP_ERR_IO;
    }
    return 0;
}

static int tcp_open_channel(void *ctx, const uint8_t *aid, size_t aid_len, int *channel)
{
    struct lpa_drv_tcp *d = ctx;
    uint16_t sw = 0;
    int rc = lpa_drv_channel_open(tcp_transmit, ctx, aid, aid_len, channel, &sw);

    if (rc == LPA_ERR_SW)
        set_err(d, "open ISD-R channel: SW %04X", sw);
    return rc;
}

static int tcp_close_channel(void *ctx, int channel)
{
    return lpa_drv_channel_close(tcp_transmit, ctx, channel);
}

int lpa_drv_tcp_new(const char *addr, int timeout_ms, struct lpa_drv_tcp **out,
                    struct lpa_apdu_driver *drv)
{
    struct lpa_drv_tcp *d;
    struct sockaddr_in sa;

    if (!out || !drv)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (timeout_ms < 0 || parse_addr(addr ? addr : LPA_DRV_TCP_DEFAULT, &sa))
        return RSP_ERR_INVAL;
    if (!(d = calloc(1, sizeof(*d))))
        return RSP_ERR_NOMEM;
    d->sa = sa;
    d->fd = -1;
    d->timeout_ms = timeout_ms ? timeout_ms : 10000;
    memset(drv, 0, sizeof(*drv));
    drv->ctx = d;
    drv->connect = tcp_connect;
    drv->disconnect = tcp_disconnect;
    drv->open_channel = tcp_open_channel;
    drv->close_channel = tcp_close_channel;
    drv->transmit = tcp_transmit;
    *out = d;
    return 0;
}

void lpa_drv_tcp_free(struct lpa_drv_tcp *d)
{
    if (!d)
        return;
    tcp_disconnect(d);
    free(d);
}

const char *lpa_drv_tcp_error(const struct lpa_drv_tcp *d)
{
    return d ? d->err : "";
}
