/* euiccd.c - socket transports of the simulated card (see euiccd.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "euiccd.h"
#include "rsp_err.h"
#include "rsp_log.h"

#define LOG(level, ...) RSP_LOG(level, "euiccd", __VA_ARGS__)
#define POLL_MS 200
#define VPCD_CONNECT_TRIES 50   /* 10 s */

static int parse_addr(const char *s, int allow_remote, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = s ? strrchr(s, ':') : NULL;
    char *end;
    long port;

    if (!colon || (size_t)(colon - s) >= sizeof(host) || colon == s)
        return RSP_ERR_INVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    port = strtol(colon + 1, &end, 10);
    if (colon[1] == 0 || *end || port < 0 || port > 65535)
        return RSP_ERR_INVAL;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return RSP_ERR_INVAL;
    if (!allow_remote && (ntohl(sa->sin_addr.s_addr) >> 24) != 127) {
        LOG(RSP_LOG_ERROR, "%s is not a loopback address (see --allow-remote)", host);
        return RSP_ERR_INVAL;
    }
    return 0;
}

int euiccd_listen(const char *addr, int allow_remote, int *fd, uint16_t *port)
{
    struct sockaddr_in sa;
    socklen_t slen = sizeof(sa);
    int s, one = 1, rc = RSP_ERR_INVAL;

    if (!fd || (rc = parse_addr(addr, allow_remote, &sa)))
        return rc ? rc : RSP_ERR_INVAL;
    s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return RSP_ERR_IO;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(s, 4) != 0 ||
        getsockname(s, (struct sockaddr *)&sa, &slen) != 0) {
        LOG(RSP_LOG_ERROR, "listen on %s: %s", addr, strerror(errno));
        close(s);
        return RSP_ERR_IO;
    }
    *fd = s;
    if (port)
        *port = ntohs(sa.sin_port);
    return 0;
}

/* Wait until fd is readable; 1 ready, 0 stopped, -1 error. */
static int wait_readable(int fd, volatile sig_atomic_t *stop)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    for (;;) {
        if (stop && *stop)
            return 0;
        int n = poll(&p, 1, POLL_MS);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n > 0)
            return 1;
    }
}

static int read_full(int fd, uint8_t *p, size_t n, volatile sig_atomic_t *stop)
{
    while (n) {
        int w = wait_readable(fd, stop);
        if (w <= 0)
            return -1;
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
#ifdef TCP_QUICKACK
        /* vsmartcard's vpcd sends frames that get no answer (power on/off,
         * reset) and does not set TCP_NODELAY, so Nagle holds its next frame
         * until the previous one is ACKed: ACK at once instead of after the
         * delayed-ACK timer (~40 ms per exchange through pcscd otherwise;
         * Linux clears TCP_QUICKACK again, so it is set per read). */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
#endif
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int send_frame(int fd, const uint8_t *p, size_t n)
{
    uint8_t buf[2 + EUICCD_FRAME_MAX];
    size_t off = 0, total = 2 + n;

    if (n > EUICCD_FRAME_MAX)
        return -1;
    buf[0] = (uint8_t)(n >> 8);
    buf[1] = (uint8_t)n;
    if (n)
        memcpy(buf + 2, p, n);
    while (off < total) {
        ssize_t w = send(fd, buf + off, total - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

/* Read one frame; returns its length, or -1 (closed, oversized, stopped). */
static int recv_frame(int fd, uint8_t *p, volatile sig_atomic_t *stop)
{
    uint8_t hdr[2];
    size_t n;

    if (read_full(fd, hdr, 2, stop) != 0)
        return -1;
    n = ((size_t)hdr[0] << 8) | hdr[1];
    if (n > EUICCD_FRAME_MAX) {
        LOG(RSP_LOG_WARN, "frame of %zu bytes: closing", n);
        return -1;
    }
    if (n && read_full(fd, p, n, stop) != 0)
        return -1;
    return (int)n;
}

static int answer_apdu(struct euicc *e, int fd, const uint8_t *c, size_t n)
{
    uint8_t r[EUICC_RAPDU_MAX];
    size_t rlen = 0;
    int rc = euicc_transmit(e, c, n, r, &rlen);

    if (rc != 0) {
        LOG(RSP_LOG_ERROR, "card failure: %s", rsp_strerror(rc));
        if (rlen < 2) {
            r[0] = 0x6F;
            r[1] = 0x00;
            rlen = 2;
        }
    }
    return send_frame(fd, r, rlen);
}

static void serve_client(struct euicc *e, int fd, volatile sig_atomic_t *stop)
{
    uint8_t msg[EUICCD_FRAME_MAX], atr[EUICC_ATR_MAX];
    size_t atr_len;
    int n;

    while ((n = recv_frame(fd, msg, stop)) >= 0) {
        int rc;
        if (n == 1) {
            switch (msg[0]) {
            case 0x00:
                euicc_reset(e, atr, &atr_len);
                rc = send_frame(fd, NULL, 0);
                break;
            case 0x01:
            case 0x02:
                euicc_reset(e, atr, &atr_len);
                rc = send_frame(fd, atr, atr_len);
                break;
            default:
                rc = -1;
                break;
            }
        } else {
            rc = answer_apdu(e, fd, msg, (size_t)n);
        }
        if (rc != 0)
            break;
    }
}

/* One APDU or R-APDU per frame, each answered before the next is sent:
 * Nagle's algorithm would hold a frame back until the peer's delayed ACK
 * (tens of ms per exchange), so it is switched off. */
static void nodelay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
        LOG(RSP_LOG_WARN, "TCP_NODELAY: %s", strerror(errno));
}

int euiccd_serve_tcp(struct euicc *e, int listen_fd, volatile sig_atomic_t *stop)
{
    uint8_t atr[EUICC_ATR_MAX];
    size_t atr_len;

    if (!e || listen_fd < 0)
        return RSP_ERR_INVAL;
    for (;;) {
        int w = wait_readable(listen_fd, stop);
        if (w == 0)
            return 0;
        if (w < 0)
            return RSP_ERR_IO;
        int c = accept(listen_fd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return RSP_ERR_IO;
        }
        LOG(RSP_LOG_INFO, "client connected");
        nodelay(c);
        euicc_reset(e, atr, &atr_len);
        serve_client(e, c, stop);
        close(c);
        LOG(RSP_LOG_INFO, "client gone");
    }
}

int euiccd_serve_vpcd(struct euicc *e, const char *addr, int allow_remote,
                      volatile sig_atomic_t *stop)
{
    struct sockaddr_in sa;
    uint8_t msg[EUICCD_FRAME_MAX], atr[EUICC_ATR_MAX];
    size_t atr_len;
    int fd, n, rc;

    if (!e || (rc = parse_addr(addr, allow_remote, &sa)))
        return RSP_ERR_INVAL;
    /* vpcd opens its port only once pcscd has loaded the driver: retry a
     * refused connection for a bounded time (VPCD_CONNECT_TRIES * POLL_MS). */
    for (int tries = 0;; tries++) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return RSP_ERR_IO;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            break;
        int err = errno;
        close(fd);
        if (err != ECONNREFUSED || tries + 1 >= VPCD_CONNECT_TRIES || (stop && *stop)) {
            LOG(RSP_LOG_ERROR, "connect to vpcd %s: %s", addr, strerror(err));
            return RSP_ERR_IO;
        }
        poll(NULL, 0, POLL_MS);
    }
    LOG(RSP_LOG_INFO, "connected to vpcd %s", addr);
    nodelay(fd);
    euicc_reset(e, atr, &atr_len);
    rc = 0;
    while ((n = recv_frame(fd, msg, stop)) >= 0) {
        if (n == 1) {
            if (msg[0] == 0x00 || msg[0] == 0x01 || msg[0] == 0x02)
                euicc_reset(e, atr, &atr_len);
            else if (msg[0] == 0x04 && send_frame(fd, atr, atr_len) != 0)
                break;
            continue;
        }
        if (answer_apdu(e, fd, msg, (size_t)n) != 0)
            break;
    }
    close(fd);
    return rc;
}
