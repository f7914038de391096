/*
 * euiccd.c - socket transports of the simulated card (see euiccd.h): TCP,
 * vsmartcard vpcd (both directions), and the field-test link conditions
 * and faults. One struct euiccd_card is served by one thread at a time;
 * euiccd-main.c runs a thread per card, so a slow card delays only itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "euiccd.h"
#include "rsp_err.h"
#include "rsp_log.h"
#include "rsp_util.h"

#define LOG(level, ...) RSP_LOG(level, "euiccd", __VA_ARGS__)
#define POLL_MS 200
#define VPCD_CONNECT_TRIES 50   /* 10 s */

struct euiccd_card {
    struct euicc *e;
    char *path;                 /* owned card: its state file */
    struct euiccd_opts o;
    char eid[33];
    unsigned long apdus;        /* since open */
    unsigned long count;        /* numbering of the faults (see euiccd.h) */
    uint8_t atr[EUICC_ATR_MAX];
    size_t atr_len;
};

/* How a connection ended. */
enum conn_end { END_PEER = 1, END_FAULT, END_STOP, END_DEAD };   /* 0: go on */

static int parse_addr(const char *s, int allow_remote, struct sockaddr_in *sa)
{
    /* port 0 is allowed: the kernel picks one */
    if (rsp_ipv4_addr_parse(s, 0, sa))
        return RSP_ERR_INVAL;
    if (!allow_remote && (ntohl(sa->sin_addr.s_addr) >> 24) != 127) {
        LOG(RSP_LOG_ERROR, "%s is not a loopback address (see --allow-remote)", s);
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
static int wait_readable(int fd, atomic_int *stop)
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

static int read_full(int fd, uint8_t *p, size_t n, atomic_int *stop)
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
static int recv_frame(int fd, uint8_t *p, atomic_int *stop)
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

/* One APDU or R-APDU per frame, each answered before the next is sent:
 * Nagle's algorithm would hold a frame back until the peer's delayed ACK
 * (tens of ms per exchange), so it is switched off. */
static void nodelay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
        LOG(RSP_LOG_WARN, "TCP_NODELAY: %s", strerror(errno));
}

/* ---- options ---- */

static int parse_ulong(const char *s, unsigned long min, unsigned long max,
                       unsigned long *out, const char **rest)
{
    char *end;
    unsigned long v;

    if (!s || *s < '0' || *s > '9')
        return RSP_ERR_INVAL;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || v < min || v > max || (!rest && *end))
        return RSP_ERR_INVAL;
    if (rest)
        *rest = end;
    *out = v;
    return 0;
}

static const struct {
    const char *name;
    int takes_value;
} opt_names[] = {
    { "latency", 1 }, { "rate", 1 }, { "drop", 1 }, { "corrupt", 1 },
    { "power-loss", 1 }, { "per-connection", 0 },
};

int euiccd_opts_known(const char *name, int *takes_value)
{
    for (size_t i = 0; name && i < sizeof(opt_names) / sizeof(opt_names[0]); i++) {
        if (!strcmp(name, opt_names[i].name)) {
            if (takes_value)
                *takes_value = opt_names[i].takes_value;
            return 1;
        }
    }
    return 0;
}

int euiccd_opts_set(struct euiccd_opts *o, const char *name, const char *value)
{
    unsigned long v;
    const char *rest;

    if (!o || !name)
        return RSP_ERR_INVAL;
    if (!strcmp(name, "per-connection")) {
        o->per_connection = 1;
        return 0;
    }
    if (!strcmp(name, "latency")) {
        if (parse_ulong(value, 0, 600000, &v, NULL))
            return RSP_ERR_INVAL;
        o->latency_ms = (unsigned)v;
        return 0;
    }
    if (!strcmp(name, "rate")) {
        if (parse_ulong(value, 1, 1000000000UL, &v, NULL))
            return RSP_ERR_INVAL;
        o->rate = v;
        return 0;
    }
    if (!strcmp(name, "drop") || !strcmp(name, "corrupt")) {
        int drop = name[0] == 'd';
        unsigned *n = drop ? &o->n_drop : &o->n_corrupt;
        if (*n >= EUICCD_FAULTS_MAX || parse_ulong(value, 1, 4000000000UL, &v, NULL))
            return RSP_ERR_INVAL;
        (drop ? o->drop : o->corrupt)[(*n)++] = v;
        return 0;
    }
    if (!strcmp(name, "power-loss")) {
        int after = 0;
        if (o->n_power_loss >= EUICCD_FAULTS_MAX ||
            parse_ulong(value, 1, 4000000000UL, &v, &rest))
            return RSP_ERR_INVAL;
        if (!strcmp(rest, ":after"))
            after = 1;
        else if (*rest)
            return RSP_ERR_INVAL;
        o->power_loss[o->n_power_loss] = v;
        o->power_loss_after[o->n_power_loss++] = (unsigned char)after;
        return 0;
    }
    return RSP_ERR_INVAL;
}

static int in_list(const unsigned long *l, unsigned n, unsigned long v)
{
    for (unsigned i = 0; i < n; i++)
        if (l[i] == v)
            return (int)i + 1;
    return 0;
}

/* ---- cards ---- */

/* The EID from the card's state dump (the "EID: " line of
 * euicc_state_print): asking the card with APDUs would use up a fault
 * armed for its next ES10 command (env EUICC_FAULT=sw=...). */
static void read_eid(struct euiccd_card *c)
{
    char *text = NULL, *p;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    c->eid[0] = 0;
    if (!f)
        return;
    int bad = euicc_state_print(c->e, f) != 0;
    if (fclose(f) == 0 && !bad && text && (p = strstr(text, "EID: ")) &&
        (p == text || p[-1] == '\n')) {
        p += 5;
        size_t n = strspn(p, "0123456789ABCDEFabcdef");
        if (n == 32) {
            memcpy(c->eid, p, 32);
            c->eid[32] = 0;
        }
    }
    free(text);
}

static int card_new(struct euicc *e, const struct euiccd_opts *opts, struct euiccd_card **out)
{
    struct euiccd_card *c = calloc(1, sizeof(*c));

    if (!c)
        return RSP_ERR_NOMEM;
    c->e = e;
    if (opts)
        c->o = *opts;
    read_eid(c);
    euicc_reset(c->e, c->atr, &c->atr_len);
    *out = c;
    return 0;
}

int euiccd_card_open(const char *state_path, const struct euiccd_opts *opts,
                     struct euiccd_card **out)
{
    struct euicc *e = NULL;
    char *path;
    int rc;

    if (!out || !state_path)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!(path = strdup(state_path)))
        return RSP_ERR_NOMEM;
    if ((rc = euicc_open(state_path, &e)) || (rc = card_new(e, opts, out))) {
        euicc_free(e);
        free(path);
        return rc;
    }
    (*out)->path = path;
    return 0;
}

int euiccd_card_wrap(struct euicc *e, const struct euiccd_opts *opts, struct euiccd_card **out)
{
    if (!out)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!e || (opts && opts->n_power_loss))
        return RSP_ERR_INVAL;
    return card_new(e, opts, out);
}

void euiccd_card_free(struct euiccd_card *c)
{
    if (!c)
        return;
    if (c->path) {
        euicc_free(c->e);
        free(c->path);
    }
    free(c);
}

const char *euiccd_card_eid(const struct euiccd_card *c)
{
    return c ? c->eid : "";
}

struct euicc *euiccd_card_euicc(const struct euiccd_card *c)
{
    return c ? c->e : NULL;
}

unsigned long euiccd_card_apdus(const struct euiccd_card *c)
{
    return c ? c->apdus : 0;
}

/* What a power cut leaves: the RAM state is gone, the file is what the last
 * commit wrote. 0, or RSP_ERR_* when the file no longer loads. */
static int card_power_loss(struct euiccd_card *c)
{
    struct euicc *e = NULL;
    int rc;

    euicc_free(c->e);
    c->e = NULL;
    if ((rc = euicc_open(c->path, &e))) {
        LOG(RSP_LOG_ERROR, "card %s: reload after power loss: %s", c->eid, rsp_strerror(rc));
        return rc;
    }
    c->e = e;
    euicc_reset(c->e, c->atr, &c->atr_len);
    return 0;
}

/* ---- link conditions ---- */

/* Sleep us microseconds in slices, returning early once *stop is set. */
static void link_sleep(uint64_t us, atomic_int *stop)
{
    while (us && !(stop && *stop)) {
        uint64_t slice = us > POLL_MS * 1000ULL ? POLL_MS * 1000ULL : us;
        struct timespec ts = { .tv_sec = (time_t)(slice / 1000000),
                               .tv_nsec = (long)(slice % 1000000) * 1000 };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !(stop && *stop))
            ;
        us -= slice;
    }
}

static void link_delay(const struct euiccd_card *c, size_t clen, size_t rlen,
                       atomic_int *stop)
{
    uint64_t us = (uint64_t)c->o.latency_ms * 1000;

    if (c->o.rate)
        us += (uint64_t)(clen + rlen) * 1000000 / c->o.rate;
    link_sleep(us, stop);
}

/* ---- one connection ---- */

/* One command APDU with the faults armed for its number. Returns 0 when the
 * answer was sent, or how the connection ends. */
static int on_apdu(struct euiccd_card *c, int fd, const uint8_t *cmd, size_t n,
                   atomic_int *stop)
{
    uint8_t r[EUICC_RAPDU_MAX];
    size_t rlen = 0;
    unsigned long no;
    int pl, rc;

    c->apdus++;
    no = ++c->count;
    if (in_list(c->o.drop, c->o.n_drop, no)) {
        LOG(RSP_LOG_INFO, "card %s: APDU %lu dropped (fault): closing", c->eid, no);
        return END_FAULT;
    }
    pl = in_list(c->o.power_loss, c->o.n_power_loss, no);
    if (pl && !c->o.power_loss_after[pl - 1]) {
        LOG(RSP_LOG_INFO, "card %s: power loss at APDU %lu, before it (fault)", c->eid, no);
        goto power_loss;
    }
    rc = euicc_transmit(c->e, cmd, n, r, &rlen);
    if (rc != 0) {
        LOG(RSP_LOG_ERROR, "card failure: %s", rsp_strerror(rc));
        if (rlen < 2) {
            r[0] = 0x6F;
            r[1] = 0x00;
            rlen = 2;
        }
    }
    if (pl) {
        LOG(RSP_LOG_INFO, "card %s: power loss at APDU %lu, after it (fault)", c->eid, no);
        goto power_loss;
    }
    if (in_list(c->o.corrupt, c->o.n_corrupt, no)) {
        /* the last data byte (inside a signature or a TLV value, most
         * often), or SW1 when there is no data: 90 00 becomes 6F 00 */
        size_t at = rlen > 2 ? rlen - 3 : rlen - 2;
        r[at] ^= 0xFF;
        LOG(RSP_LOG_INFO, "card %s: APDU %lu answer byte %zu flipped (fault)", c->eid, no, at);
    }
    link_delay(c, n, rlen, stop);
    if (stop && *stop)
        return END_STOP;
    return send_frame(fd, r, rlen) ? END_PEER : 0;

power_loss:
    shutdown(fd, SHUT_RDWR);
    return card_power_loss(c) ? END_DEAD : END_FAULT;
}

/* Serve one connection until it ends; vpcd: vpcd's control answers. */
static int serve_conn(struct euiccd_card *c, int fd, int vpcd, atomic_int *stop)
{
    uint8_t msg[EUICCD_FRAME_MAX];
    int n;

    nodelay(fd);
    euicc_reset(c->e, c->atr, &c->atr_len);
    if (c->o.per_connection)
        c->count = 0;
    for (;;) {
        int rc = 0;
        if ((n = recv_frame(fd, msg, stop)) < 0)
            return stop && *stop ? END_STOP : END_PEER;
        if (n == 1) {
            switch (msg[0]) {
            case 0x00:
                euicc_reset(c->e, c->atr, &c->atr_len);
                if (!vpcd)
                    rc = send_frame(fd, NULL, 0);
                break;
            case 0x01:
            case 0x02:
                euicc_reset(c->e, c->atr, &c->atr_len);
                if (!vpcd)
                    rc = send_frame(fd, c->atr, c->atr_len);
                break;
            case 0x04:
                rc = send_frame(fd, c->atr, c->atr_len);
                break;
            default:
                LOG(RSP_LOG_WARN, "control code %02X: closing", msg[0]);
                rc = -1;
                break;
            }
            if (rc)
                return END_PEER;
        } else if (n == 0) {
            /* an empty message is neither a control code nor an APDU */
            LOG(RSP_LOG_WARN, "empty message: closing");
            return END_PEER;
        } else if ((rc = on_apdu(c, fd, msg, (size_t)n, stop)) != 0) {
            return rc;
        }
    }
}

/* Wait for the next connection on listen_fd and accept it into *fd:
 * 1 accepted, 0 stopped, RSP_ERR_IO. */
static int accept_next(int listen_fd, atomic_int *stop, int *fd)
{
    for (;;) {
        int w = wait_readable(listen_fd, stop);
        if (w == 0)
            return 0;
        if (w < 0)
            return RSP_ERR_IO;
        *fd = accept(listen_fd, NULL, NULL);
        if (*fd >= 0)
            return 1;
        if (errno != EINTR && errno != ECONNABORTED)
            return RSP_ERR_IO;
    }
}

/* Accept connections one at a time and serve each (vpcd: reverse mode). */
static int serve_listen(struct euiccd_card *c, int listen_fd, int vpcd,
                        atomic_int *stop)
{
    if (!c || listen_fd < 0)
        return RSP_ERR_INVAL;
    for (;;) {
        int fd, a = accept_next(listen_fd, stop, &fd);
        if (a <= 0)
            return a;
        LOG(RSP_LOG_INFO, "card %s: %s connected", c->eid, vpcd ? "vpcd" : "client");
        int end = serve_conn(c, fd, vpcd, stop);
        close(fd);
        LOG(RSP_LOG_INFO, "card %s: %s gone", c->eid, vpcd ? "vpcd" : "client");
        if (end == END_DEAD)
            return RSP_ERR_IO;
    }
}

int euiccd_card_serve_tcp(struct euiccd_card *c, int listen_fd, atomic_int *stop)
{
    return serve_listen(c, listen_fd, 0, stop);
}

int euiccd_card_serve_vpcd_listen(struct euiccd_card *c, int listen_fd,
                                  atomic_int *stop)
{
    return serve_listen(c, listen_fd, 1, stop);
}

int euiccd_serve_empty_slot(int listen_fd, atomic_int *stop)
{
    /* TS 3B, T0 00: direct convention, no interface or historical bytes
     * (ISO/IEC 7816-3 §8.2) */
    static const uint8_t atr[] = { 0x3B, 0x00 };
    uint8_t msg[EUICCD_FRAME_MAX];

    if (listen_fd < 0)
        return RSP_ERR_INVAL;
    for (;;) {
        int fd, a = accept_next(listen_fd, stop, &fd);
        if (a <= 0)
            return a;
        nodelay(fd);
        int n, rc = 0;
        while (rc == 0 && (n = recv_frame(fd, msg, stop)) >= 0) {
            if (n == 1) {
                if (msg[0] == 0x04)
                    rc = send_frame(fd, atr, sizeof(atr));
            } else if (n >= 4) {
                /* SELECT: no such application; anything else: no such
                 * instruction (ISO/IEC 7816-4 §5.6) */
                uint8_t sw[2] = { msg[1] == 0xA4 ? 0x6A : 0x6D, msg[1] == 0xA4 ? 0x82 : 0x00 };
                rc = send_frame(fd, sw, 2);
            } else {
                rc = -1;
            }
        }
        close(fd);
    }
}

static int vpcd_connect(const char *addr, const struct sockaddr_in *sa,
                        atomic_int *stop)
{
    /* vpcd opens its port only once pcscd has loaded the driver: retry a
     * refused connection for a bounded time (VPCD_CONNECT_TRIES * POLL_MS). */
    for (int tries = 0;; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
            return fd;
        int err = errno;
        close(fd);
        if (err != ECONNREFUSED || tries + 1 >= VPCD_CONNECT_TRIES || (stop && *stop)) {
            LOG(RSP_LOG_ERROR, "connect to vpcd %s: %s", addr, strerror(err));
            return -1;
        }
        poll(NULL, 0, POLL_MS);
    }
}

int euiccd_card_serve_vpcd(struct euiccd_card *c, const char *addr, int allow_remote,
                           atomic_int *stop)
{
    struct sockaddr_in sa;

    if (!c || parse_addr(addr, allow_remote, &sa))
        return RSP_ERR_INVAL;
    for (;;) {
        int fd = vpcd_connect(addr, &sa, stop);
        if (fd < 0)
            return stop && *stop ? 0 : RSP_ERR_IO;
        LOG(RSP_LOG_INFO, "card %s: connected to vpcd %s", c->eid, addr);
        int end = serve_conn(c, fd, 1, stop);
        close(fd);
        if (end == END_DEAD)
            return RSP_ERR_IO;
        if (end != END_FAULT)
            return 0;
        /* the fault closed the link: the card is re-inserted */
    }
}

int euiccd_serve_tcp(struct euicc *e, int listen_fd, atomic_int *stop)
{
    struct euiccd_card *c = NULL;
    int rc;

    if (!e || listen_fd < 0)
        return RSP_ERR_INVAL;
    if ((rc = euiccd_card_wrap(e, NULL, &c)))
        return rc;
    rc = euiccd_card_serve_tcp(c, listen_fd, stop);
    euiccd_card_free(c);
    return rc;
}

int euiccd_serve_vpcd(struct euicc *e, const char *addr, int allow_remote,
                      atomic_int *stop)
{
    struct euiccd_card *c = NULL;
    int rc;

    if (!e)
        return RSP_ERR_INVAL;
    if ((rc = euiccd_card_wrap(e, NULL, &c)))
        return rc;
    rc = euiccd_card_serve_vpcd(c, addr, allow_remote, stop);
    euiccd_card_free(c);
    return rc;
}
