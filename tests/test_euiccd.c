/*
 * test_euiccd.c - euiccd (euicc/euiccd.h): several cards served at once,
 * the field-test link conditions and faults (latency, rate, drop, corrupt,
 * power loss), vsmartcard vpcd in both directions (a test-side peer speaks
 * vpcd's framing: 2-byte big-endian length + payload, control codes
 * 00/01/02/04), and the euiccd program's options.
 * Servers run in threads on free loopback ports. Timing is only checked by
 * lower bounds (a delay cannot be shorter than configured), never upper.
 * Cards: SGP.22 v2.5 §2.2.3 (ISD-R selection), §5.7.20 (GetEuiccData),
 * §5.7.16 (EnableProfile).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "euicc.private.h"
#include "euicc_fixture.h"
#include "euiccd.h"
#include "lpa.h"
#include "lpa_drivers.h"
#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_pki.h"
#include "rsp_test.h"
#include "rsp_util.h"

#include "StoreMetadataRequest.h"

#define ICCID_A "8944476500000000017"
#define SELECT_ISDR "00A4040010A0000005591010FFFFFFFF890000010000"
#define SELECT_ISDR_NOFCI "00A4040C10A0000005591010FFFFFFFF8900000100"
#define GET_EID "80E2910006BF3E035C015A00"
/* EnableProfile by ICCID 89 44 47 65 00 00 00 00 01 7F (BCD, nibbles
 * swapped), refreshFlag TRUE: BF31 11 A0 0C 5A 0A <iccid> 81 01 FF */
#define ENABLE_A "80E2910014BF3111A00C5A0A984474560000000010F78101FF00"

/* ---- cards ---- */

/* A disabled profile straight into the state (no download). */
static void add_profile(struct euicc *e, const char *iccid)
{
    const struct euicc_fixture_profile p = {
        .iccid = iccid, .aid_last = 0x01, .state = EUICC_PROFILE_DISABLED,
        .name = "Profile A", .cls = 2,
    };
    euicc_fixture_add_profile(e, &p);
}

/* A fixture card (the generated PKI's EID), released so euiccd opens its
 * state file; with_profile: one disabled profile ICCID_A. */
static int card_file(struct euicc_fixture *f, int with_profile)
{
    int rc = euicc_fixture_open(f, NULL);

    CU_ASSERT_RC(rc, 0);
    if (rc)
        return rc;
    if (with_profile)
        add_profile(f->card, ICCID_A);
    euicc_free(f->card);
    f->card = NULL;
    return 0;
}

/* A second card with a minted identity (another EID) in f's directory.
 * [out] eid. */
static int card_file_minted(struct euicc_fixture *f, char eid[33])
{
    char out[700], cert[800], key[800];
    char eids[1][33];
    struct rsp_pki_mint_opts m = { .pki_dir = euicc_fixture_pki_dir(), .out_dir = out,
                                   .curve = RSP_CURVE_P256, .count = 1, .eids = eids };
    struct euicc_identity id = { .pki_dir = euicc_fixture_pki_dir(),
                                 .euicc_cert_path = cert, .euicc_key_path = key };

    if (card_file(f, 0))
        return -1;
    snprintf(out, sizeof(out), "%s/mint", f->dir);
    CU_ASSERT_RC(rsp_pki_mint_euicc(&m), 0);
    snprintf(cert, sizeof(cert), "%s/CERT_EUICC_%s.der", out, eids[0]);
    snprintf(key, sizeof(key), "%s/SK_EUICC_%s.pem", out, eids[0]);
    snprintf(eid, 33, "%s", eids[0]);
    unlink(f->state_path);
    CU_ASSERT_RC(euicc_create(f->state_path, &id), 0);
    return 0;
}

static int profile_state_on_disk(const char *path)
{
    struct euicc *e = NULL;
    int st = -1;

    CU_ASSERT_RC(euicc_open(path, &e), 0);
    if (e) {
        int i = euicc_find_profile_by_iccid(e, ICCID_A);
        st = i < 0 ? -1 : e->st.profiles[i].state;
    }
    euicc_free(e);
    return st;
}

/* ---- servers in threads ---- */

enum srv_mode { SRV_TCP, SRV_VPCD_LISTEN, SRV_EMPTY };

struct srv {
    struct euiccd_card *card;
    enum srv_mode mode;
    int fd;
    uint16_t port;
    atomic_int stop;
    int rc;
    pthread_t th;
};

static void *srv_main(void *arg)
{
    struct srv *s = arg;

    if (s->mode == SRV_TCP)
        s->rc = euiccd_card_serve_tcp(s->card, s->fd, &s->stop);
    else if (s->mode == SRV_VPCD_LISTEN)
        s->rc = euiccd_card_serve_vpcd_listen(s->card, s->fd, &s->stop);
    else
        s->rc = euiccd_serve_empty_slot(s->fd, &s->stop);
    return NULL;
}

static int srv_start(struct srv *s, struct euiccd_card *c, enum srv_mode mode)
{
    memset(s, 0, sizeof(*s));
    s->card = c;
    s->mode = mode;
    s->fd = -1;
    CU_ASSERT_RC(euiccd_listen("127.0.0.1:0", 0, &s->fd, &s->port), 0);
    if (s->fd < 0)
        return -1;
    if (pthread_create(&s->th, NULL, srv_main, s)) {
        close(s->fd);
        s->fd = -1;
        return -1;
    }
    return 0;
}

static void srv_stop(struct srv *s)
{
    if (s->fd < 0)
        return;
    s->stop = 1;
    pthread_join(s->th, NULL);
    close(s->fd);
    s->fd = -1;
    CU_ASSERT_RC(s->rc, 0);
}

/* ---- a client speaking the framing ---- */

static int cli_connect(uint16_t port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        fd = -1;
    }
    CU_ASSERT(fd >= 0);
    return fd;
}

static int cli_send(int fd, const uint8_t *p, size_t n)
{
    uint8_t b[2 + 300];

    if (n > 300)
        return -1;
    b[0] = (uint8_t)(n >> 8);
    b[1] = (uint8_t)n;
    memcpy(b + 2, p, n);
    return send(fd, b, n + 2, MSG_NOSIGNAL) == (ssize_t)(n + 2) ? 0 : -1;
}

static int cli_read(int fd, uint8_t *p, size_t n, int timeout_ms)
{
    while (n) {
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        int w = poll(&pf, 1, timeout_ms);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -2;   /* timeout */
        ssize_t r = recv(fd, p, n, 0);
        if (r <= 0)
            return -1;   /* closed */
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* One frame: its length, -1 closed, -2 nothing within timeout_ms. */
static int cli_recv(int fd, uint8_t *p, size_t max, int timeout_ms)
{
    uint8_t h[2];
    int rc = cli_read(fd, h, 2, timeout_ms);
    size_t n;

    if (rc)
        return rc;
    n = ((size_t)h[0] << 8) | h[1];
    if (n > max)
        return -3;
    if (n && (rc = cli_read(fd, p, n, timeout_ms)))
        return rc;
    return (int)n;
}

/* Send hex, receive the answer (10 s bound). */
static int cli_x(int fd, const char *hex, uint8_t *r, size_t max)
{
    size_t n;
    uint8_t *c = test_hex(hex, &n);
    int rc = cli_send(fd, c, n);

    free(c);
    return rc ? -1 : cli_recv(fd, r, max, 10000);
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---- options ---- */

static void test_opts(void)
{
    struct euiccd_opts o;
    int tv = -1;

    memset(&o, 0, sizeof(o));
    CU_ASSERT_RC(euiccd_opts_set(&o, "latency", "20"), 0);
    CU_ASSERT_EQUAL(o.latency_ms, 20);
    CU_ASSERT_RC(euiccd_opts_set(&o, "rate", "9600"), 0);
    CU_ASSERT_EQUAL(o.rate, 9600);
    CU_ASSERT_RC(euiccd_opts_set(&o, "drop", "3"), 0);
    CU_ASSERT_RC(euiccd_opts_set(&o, "drop", "7"), 0);
    CU_ASSERT_EQUAL(o.n_drop, 2);
    CU_ASSERT_EQUAL(o.drop[1], 7);
    CU_ASSERT_RC(euiccd_opts_set(&o, "corrupt", "1"), 0);
    CU_ASSERT_RC(euiccd_opts_set(&o, "power-loss", "5"), 0);
    CU_ASSERT_RC(euiccd_opts_set(&o, "power-loss", "6:after"), 0);
    CU_ASSERT_EQUAL(o.n_power_loss, 2);
    CU_ASSERT_EQUAL(o.power_loss_after[0], 0);
    CU_ASSERT_EQUAL(o.power_loss_after[1], 1);
    CU_ASSERT_RC(euiccd_opts_set(&o, "per-connection", NULL), 0);
    CU_ASSERT_EQUAL(o.per_connection, 1);

    static const char *const bad[][2] = {
        { "latency", "" }, { "latency", "-1" }, { "latency", "600001" }, { "latency", "2x" },
        { "latency", NULL }, { "rate", "0" }, { "rate", "1000000001" }, { "rate", " 5" },
        { "drop", "0" }, { "drop", "+3" }, { "corrupt", "abc" }, { "power-loss", "0" },
        { "power-loss", "3:before" }, { "power-loss", "3:" }, { "power-loss", ":after" },
        { "jitter", "5" }, { "drop", "99999999999999999999" },
    };
    struct euiccd_opts before = o;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = euiccd_opts_set(&o, bad[i][0], bad[i][1]);
        if (rc != RSP_ERR_INVAL)
            fprintf(stderr, "\n  --%s %s accepted\n", bad[i][0], bad[i][1] ? bad[i][1] : "(null)");
        CU_ASSERT_EQUAL(rc, RSP_ERR_INVAL);
    }
    CU_ASSERT(memcmp(&before, &o, sizeof(o)) == 0);
    /* at most EUICCD_FAULTS_MAX of a kind */
    memset(&o, 0, sizeof(o));
    for (int i = 0; i < EUICCD_FAULTS_MAX; i++)
        CU_ASSERT_RC(euiccd_opts_set(&o, "corrupt", "2"), 0);
    CU_ASSERT_RC(euiccd_opts_set(&o, "corrupt", "2"), RSP_ERR_INVAL);
    CU_ASSERT(euiccd_opts_known("power-loss", &tv) && tv == 1);
    CU_ASSERT(euiccd_opts_known("per-connection", &tv) && tv == 0);
    CU_ASSERT(!euiccd_opts_known("state", &tv));
    /* a caller-owned card cannot be reloaded: no power loss */
    {
        struct euiccd_card *c = (struct euiccd_card *)1;
        struct euiccd_opts p = { .n_power_loss = 1, .power_loss = { 1 } };
        struct euicc_fixture f;
        if (euicc_fixture_open(&f, NULL) == 0) {
            CU_ASSERT_RC(euiccd_card_wrap(f.card, &p, &c), RSP_ERR_INVAL);
            CU_ASSERT_PTR_NULL(c);
            euicc_fixture_close(&f);
        }
    }
}

/* ---- two cards at once ---- */

static void eid_over_tcp(uint16_t port, char eid[33])
{
    struct lpa_drv_tcp *d = NULL;
    struct lpa_apdu_driver drv;
    struct lpa_ctx ctx;
    char addr[32];

    eid[0] = 0;
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
    CU_ASSERT_RC(lpa_drv_tcp_new(addr, 10000, &d, &drv), 0);
    if (!d)
        return;
    CU_ASSERT_RC(lpa_ctx_init(&ctx, &drv, NULL), 0);
    CU_ASSERT_RC(lpa_open(&ctx), 0);
    CU_ASSERT_RC(lpa_get_eid(&ctx, eid), 0);
    lpa_close(&ctx);
    lpa_drv_tcp_free(d);
}

static void test_two_cards(void)
{
    struct euicc_fixture fa, fb;
    struct euiccd_card *a = NULL, *b = NULL;
    struct srv sa, sb;
    char eid_b[33] = "", got_a[33], got_b[33];
    /* card A is slow: card B must still answer (a thread per card) */
    struct euiccd_opts slow = { .latency_ms = 50 };

    if (card_file(&fa, 0))
        return;
    if (card_file_minted(&fb, eid_b)) {
        euicc_fixture_close(&fa);
        return;
    }
    CU_ASSERT_RC(euiccd_card_open(fa.state_path, &slow, &a), 0);
    CU_ASSERT_RC(euiccd_card_open(fb.state_path, NULL, &b), 0);
    if (a && b && srv_start(&sa, a, SRV_TCP) == 0) {
        if (srv_start(&sb, b, SRV_TCP) == 0) {
            CU_ASSERT_STRING_EQUAL(euiccd_card_eid(a), euicc_fixture_eid());
            CU_ASSERT_STRING_EQUAL(euiccd_card_eid(b), eid_b);
            CU_ASSERT(strcmp(eid_b, euicc_fixture_eid()) != 0);
            /* both connected at the same time */
            int ca = cli_connect(sa.port), cb = cli_connect(sb.port);
            uint8_t r[300];
            CU_ASSERT_EQUAL(cli_x(ca, SELECT_ISDR, r, sizeof(r)), 28);
            CU_ASSERT_EQUAL(cli_x(cb, SELECT_ISDR, r, sizeof(r)), 28);
            CU_ASSERT_EQUAL(cli_x(cb, GET_EID, r, sizeof(r)), 23);
            char hex[33];
            rsp_hex_encode(r + 5, 16, hex);
            CU_ASSERT_STRING_EQUAL(hex, eid_b);
            CU_ASSERT_EQUAL(cli_x(ca, GET_EID, r, sizeof(r)), 23);
            rsp_hex_encode(r + 5, 16, hex);
            CU_ASSERT_STRING_EQUAL(hex, euicc_fixture_eid());
            close(ca);
            close(cb);
            /* and through the LPA's tcp driver */
            eid_over_tcp(sa.port, got_a);
            eid_over_tcp(sb.port, got_b);
            CU_ASSERT_STRING_EQUAL(got_a, euicc_fixture_eid());
            CU_ASSERT_STRING_EQUAL(got_b, eid_b);
            srv_stop(&sb);
        }
        srv_stop(&sa);
    }
    euiccd_card_free(a);
    euiccd_card_free(b);
    euicc_fixture_close(&fa);
    euicc_fixture_close(&fb);
}

/* ---- latency and rate (lower bounds only) ---- */

static long timed_selects(const struct euiccd_opts *o, int n)
{
    struct euicc_fixture f;
    struct euiccd_card *c = NULL;
    struct srv s;
    long t = -1;

    if (card_file(&f, 0))
        return -1;
    CU_ASSERT_RC(euiccd_card_open(f.state_path, o, &c), 0);
    if (c && srv_start(&s, c, SRV_TCP) == 0) {
        int fd = cli_connect(s.port);
        uint8_t r[300];
        long t0 = now_ms();
        for (int i = 0; i < n; i++)
            CU_ASSERT_EQUAL(cli_x(fd, SELECT_ISDR, r, sizeof(r)), 28);
        t = now_ms() - t0;
        close(fd);
        srv_stop(&s);
    }
    euiccd_card_free(c);
    euicc_fixture_close(&f);
    return t;
}

static void test_latency_rate(void)
{
    struct euiccd_opts lat = { .latency_ms = 20 };
    /* 10 x (22 C-APDU + 28 R-APDU bytes) = 500 bytes at 2000 B/s: 250 ms */
    struct euiccd_opts rate = { .rate = 2000 };
    long t;

    t = timed_selects(&lat, 10);
    if (t < 200)
        fprintf(stderr, "\n  10 APDUs at 20 ms latency took %ld ms\n", t);
    CU_ASSERT(t >= 200);
    t = timed_selects(&rate, 10);
    if (t < 250)
        fprintf(stderr, "\n  500 bytes at 2000 B/s took %ld ms\n", t);
    CU_ASSERT(t >= 250);
}

/* ---- drop ---- */

static void test_drop(void)
{
    struct euicc_fixture f;
    struct euiccd_card *c = NULL;
    struct euiccd_opts o = { .drop = { 3 }, .n_drop = 1 };
    struct srv s;
    uint8_t r[300];

    if (card_file(&f, 0))
        return;
    CU_ASSERT_RC(euiccd_card_open(f.state_path, &o, &c), 0);
    if (c && srv_start(&s, c, SRV_TCP) == 0) {
        int fd = cli_connect(s.port);
        /* control codes are not counted */
        CU_ASSERT(cli_x(fd, "01", r, sizeof(r)) > 0);
        CU_ASSERT_EQUAL(cli_x(fd, SELECT_ISDR, r, sizeof(r)), 28);
        CU_ASSERT(cli_x(fd, "04", r, sizeof(r)) > 0);
        CU_ASSERT_EQUAL(cli_x(fd, GET_EID, r, sizeof(r)), 23);
        /* the 3rd APDU: no answer, the link goes down */
        CU_ASSERT_EQUAL(cli_x(fd, GET_EID, r, sizeof(r)), -1);
        close(fd);
        /* counted from startup: the next connection's APDUs are 4, 5, ... */
        fd = cli_connect(s.port);
        for (int i = 0; i < 4; i++)
            CU_ASSERT_EQUAL(cli_x(fd, SELECT_ISDR, r, sizeof(r)), 28);
        close(fd);
        srv_stop(&s);
        CU_ASSERT_EQUAL(euiccd_card_apdus(c), 7);
    }
    euiccd_card_free(c);
    c = NULL;

    /* per connection: the 2nd APDU of every connection */
    o.drop[0] = 2;
    o.per_connection = 1;
    CU_ASSERT_RC(euiccd_card_open(f.state_path, &o, &c), 0);
    if (c && srv_start(&s, c, SRV_TCP) == 0) {
        for (int k = 0; k < 3; k++) {
            int fd = cli_connect(s.port);
            CU_ASSERT_EQUAL(cli_x(fd, SELECT_ISDR, r, sizeof(r)), 28);
            CU_ASSERT_EQUAL(cli_x(fd, SELECT_ISDR, r, sizeof(r)), -1);
            close(fd);
        }
        srv_stop(&s);
    }
    euiccd_card_free(c);
    euicc_fixture_close(&f);
}

/* ---- corrupt ---- */

static void test_corrupt(void)
{
    struct euicc_fixture f;
    struct euiccd_card *c = NULL;
    struct euiccd_opts o = { .corrupt = { 2, 4 }, .n_corrupt = 2 };
    struct srv s;
    uint8_t r1[300], r2[300], r3[300], r4[300], r5[300];

    if (card_file(&f, 0))
        return;
    CU_ASSERT_RC(euiccd_card_open(f.state_path, &o, &c), 0);
    if (c && srv_start(&s, c, SRV_TCP) == 0) {
        int fd = cli_connect(s.port);
        int n1 = cli_x(fd, SELECT_ISDR, r1, sizeof(r1));
        int n2 = cli_x(fd, GET_EID, r2, sizeof(r2));        /* corrupted */
        int n3 = cli_x(fd, GET_EID, r3, sizeof(r3));        /* clean */
        int n4 = cli_x(fd, SELECT_ISDR_NOFCI, r4, sizeof(r4));  /* corrupted SW */
        int n5 = cli_x(fd, SELECT_ISDR_NOFCI, r5, sizeof(r5));  /* clean */
        close(fd);
        srv_stop(&s);
        CU_ASSERT_EQUAL(n1, 28);
        CU_ASSERT_EQUAL(r1[26], 0x90);
        CU_ASSERT_EQUAL_FATAL(n2, 23);
        CU_ASSERT_EQUAL_FATAL(n3, 23);
        /* exactly one byte differs: the last data byte, flipped */
        r3[20] ^= 0xFF;
        CU_ASSERT_BYTES("corrupted GetEuiccData", r2, (size_t)n2, r3, (size_t)n3);
        /* no data: SW1 flipped, 90 00 -> 6F 00 */
        CU_ASSERT_BYTES("clean SELECT (no FCI)", r5, (size_t)n5, (const uint8_t *)"\x90\x00", 2);
        CU_ASSERT_BYTES("corrupted SELECT (no FCI)", r4, (size_t)n4,
                        (const uint8_t *)"\x6F\x00", 2);
    }
    euiccd_card_free(c);
    euicc_fixture_close(&f);
}

/* ---- power loss in the middle of an enable ---- */

/* SELECT ISD-R, then EnableProfile (APDU 2); the power loss is at APDU 2.
 * Returns the state of profile A on disk afterwards. */
static int enable_with_power_loss(struct euicc_fixture *f, const char *spec)
{
    struct euiccd_card *c = NULL;
    struct euiccd_opts o;
    struct srv s;
    uint8_t r[300];
    int st = -2;

    memset(&o, 0, sizeof(o));
    CU_ASSERT_RC(euiccd_opts_set(&o, "power-loss", spec), 0);
    CU_ASSERT_RC(euiccd_card_open(f->state_path, &o, &c), 0);
    if (c && srv_start(&s, c, SRV_TCP) == 0) {
        int fd = cli_connect(s.port);
        CU_ASSERT_EQUAL(cli_x(fd, SELECT_ISDR, r, sizeof(r)), 28);
        /* the client sees the link drop */
        CU_ASSERT_EQUAL(cli_x(fd, ENABLE_A, r, sizeof(r)), -1);
        close(fd);
        /* the card came back from its file: a new session answers */
        fd = cli_connect(s.port);
        CU_ASSERT_EQUAL(cli_x(fd, SELECT_ISDR, r, sizeof(r)), 28);
        CU_ASSERT_EQUAL(cli_x(fd, GET_EID, r, sizeof(r)), 23);
        close(fd);
        srv_stop(&s);
        /* the reloaded card holds what the disk holds */
        struct euicc *e = euiccd_card_euicc(c);
        int i = e ? euicc_find_profile_by_iccid(e, ICCID_A) : -1;
        st = profile_state_on_disk(f->state_path);
        CU_ASSERT(i >= 0 && e->st.profiles[i].state == st);
    }
    euiccd_card_free(c);
    return st;
}

static void test_power_loss(void)
{
    struct euicc_fixture f;
    struct euiccd_card *c = NULL;
    struct srv s;
    uint8_t r[300];

    if (card_file(&f, 1))
        return;
    CU_ASSERT_EQUAL(profile_state_on_disk(f.state_path), EUICC_PROFILE_DISABLED);
    /* before the command: no effect, the old state */
    CU_ASSERT_EQUAL(enable_with_power_loss(&f, "2"), EUICC_PROFILE_DISABLED);
    /* after it: the enable committed, only its answer was lost */
    CU_ASSERT_EQUAL(enable_with_power_loss(&f, "2:after"), EUICC_PROFILE_ENABLED);
    /* without a fault the same exchange is answered: enabling again gives
     * profileNotInDisabledState(2) (SGP.22 §5.7.16) */
    CU_ASSERT_RC(euiccd_card_open(f.state_path, NULL, &c), 0);
    if (c && srv_start(&s, c, SRV_TCP) == 0) {
        int fd = cli_connect(s.port);
        CU_ASSERT_EQUAL(cli_x(fd, SELECT_ISDR, r, sizeof(r)), 28);
        int n = cli_x(fd, ENABLE_A, r, sizeof(r));
        CU_ASSERT_BYTES("EnableProfile again", r, n > 0 ? (size_t)n : 0,
                        (const uint8_t *)"\xBF\x31\x03\x80\x01\x02\x90\x00", 8);
        close(fd);
        srv_stop(&s);
    }
    euiccd_card_free(c);
    euicc_fixture_close(&f);
}

/* ---- vpcd, both directions ---- */

static void test_vpcd_listen(void)
{
    struct euicc_fixture f;
    struct euiccd_card *c = NULL;
    struct srv s, e;
    uint8_t atr[64], atr2[64], r[300];

    if (card_file(&f, 0))
        return;
    CU_ASSERT_RC(euiccd_card_open(f.state_path, NULL, &c), 0);
    if (c && srv_start(&s, c, SRV_VPCD_LISTEN) == 0) {
        /* vpcd connects (reverse mode) and polls the ATR */
        int fd = cli_connect(s.port);
        int na = cli_x(fd, "04", atr, sizeof(atr));
        CU_ASSERT(na >= 2 && (atr[0] == 0x3B || atr[0] == 0x3F));
        /* power on / off / reset get no answer: the next frame read is the
         * R-APDU of the APDU that follows */
        static const char *const ctl[] = { "01", "00", "01", "02" };
        for (int i = 0; i < 4; i++) {
            size_t l;
            uint8_t *b = test_hex(ctl[i], &l);
            CU_ASSERT_RC(cli_send(fd, b, l), 0);
            free(b);
            int n = cli_x(fd, SELECT_ISDR, r, sizeof(r));
            CU_ASSERT_EQUAL(n, 28);
            if (n == 28)
                CU_ASSERT(r[26] == 0x90 && r[27] == 0x00);
        }
        CU_ASSERT_EQUAL(cli_x(fd, GET_EID, r, sizeof(r)), 23);
        CU_ASSERT_BYTES("ATR again", atr2, (size_t)cli_x(fd, "04", atr2, sizeof(atr2)),
                        atr, na > 0 ? (size_t)na : 0);
        /* an unknown control code ends the connection */
        CU_ASSERT_EQUAL(cli_x(fd, "07", r, sizeof(r)), -1);
        close(fd);
        /* vpcd reconnects: served again */
        fd = cli_connect(s.port);
        CU_ASSERT_EQUAL(cli_x(fd, SELECT_ISDR, r, sizeof(r)), 28);
        close(fd);
        srv_stop(&s);
    }
    /* the second slot without an eUICC: a blank card */
    if (srv_start(&e, NULL, SRV_EMPTY) == 0) {
        int fd = cli_connect(e.port);
        size_t l;
        uint8_t *b = test_hex("01", &l);
        CU_ASSERT_RC(cli_send(fd, b, l), 0);
        free(b);
        int n = cli_x(fd, "04", r, sizeof(r));
        CU_ASSERT_BYTES("blank ATR", r, n > 0 ? (size_t)n : 0, (const uint8_t *)"\x3B\x00", 2);
        n = cli_x(fd, SELECT_ISDR, r, sizeof(r));
        CU_ASSERT_BYTES("blank SELECT", r, n > 0 ? (size_t)n : 0, (const uint8_t *)"\x6A\x82", 2);
        n = cli_x(fd, GET_EID, r, sizeof(r));
        CU_ASSERT_BYTES("blank STORE DATA", r, n > 0 ? (size_t)n : 0,
                        (const uint8_t *)"\x6D\x00", 2);
        close(fd);
        srv_stop(&e);
    }
    euiccd_card_free(c);
    euicc_fixture_close(&f);
}

struct vpcd_client {
    struct euiccd_card *c;
    char addr[32];
    atomic_int stop;
    int rc;
};

static void *vpcd_client_main(void *arg)
{
    struct vpcd_client *v = arg;

    v->rc = euiccd_card_serve_vpcd(v->c, v->addr, 0, &v->stop);
    return NULL;
}

/* The card connects to a vpcd (played here); a dropped link makes it
 * connect again, vpcd closing ends it. */
static void test_vpcd_connect(void)
{
    struct euicc_fixture f;
    struct euiccd_opts o = { .drop = { 2 }, .n_drop = 1 };
    struct vpcd_client v;
    pthread_t th;
    uint8_t r[300];
    uint16_t port = 0;
    int lfd = -1;

    memset(&v, 0, sizeof(v));
    if (card_file(&f, 0))
        return;
    CU_ASSERT_RC(euiccd_card_open(f.state_path, &o, &v.c), 0);
    CU_ASSERT_RC(euiccd_listen("127.0.0.1:0", 0, &lfd, &port), 0);
    snprintf(v.addr, sizeof(v.addr), "127.0.0.1:%u", port);
    if (v.c && lfd >= 0 && pthread_create(&th, NULL, vpcd_client_main, &v) == 0) {
        for (int k = 0; k < 2; k++) {
            struct pollfd pf = { .fd = lfd, .events = POLLIN };
            CU_ASSERT_EQUAL_FATAL(poll(&pf, 1, 10000), 1);
            int fd = accept(lfd, NULL, NULL);
            CU_ASSERT_FATAL(fd >= 0);
            CU_ASSERT(cli_x(fd, "04", r, sizeof(r)) >= 2);
            CU_ASSERT_EQUAL(cli_x(fd, SELECT_ISDR, r, sizeof(r)), 28);
            /* APDU 2 is dropped; after it, APDU 3 is answered */
            CU_ASSERT_EQUAL(cli_x(fd, GET_EID, r, sizeof(r)), k == 0 ? -1 : 23);
            close(fd);
        }
        pthread_join(th, NULL);
        CU_ASSERT_RC(v.rc, 0);
    }
    if (lfd >= 0)
        close(lfd);
    /* only loopback */
    CU_ASSERT_RC(euiccd_card_serve_vpcd(v.c, "192.0.2.1:35963", 0, NULL), RSP_ERR_INVAL);
    euiccd_card_free(v.c);
    euicc_fixture_close(&f);
}

/* ---- the program ---- */

static char *bin_path(char *buf, size_t max)
{
    struct stat st;

    snprintf(buf, max, "%s/bin/euiccd", test_build_dir());
    return stat(buf, &st) == 0 ? buf : NULL;
}

/* Run euiccd with argv (NULL-terminated after argv[0]); stderr to log.
 * Returns the pid. */
static pid_t spawn(const char *const *argv, const char *log)
{
    pid_t pid = fork();

    if (pid == 0) {
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid, int timeout_ms)
{
    int st;

    for (int i = 0; i < timeout_ms / 20; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(20000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

/* The port file pf once euiccd has written it (polled every 20 ms, up to
 * tries times), NUL-terminated, length in *len; NULL if it never came. */
static char *wait_port_file(const char *pf, size_t *len, int tries)
{
    char *txt = NULL, *t;

    for (int i = 0; i < tries && !txt; i++) {
        txt = (char *)test_read_file(pf, len);
        if (!txt)
            usleep(20000);
    }
    if (txt && !(t = realloc(txt, *len + 1))) {
        free(txt);
        return NULL;
    }
    if (txt) {
        txt = t;
        txt[*len] = 0;
    }
    return txt;
}

static void test_cli(void)
{
    char bin[600], log[700], pf[700];
    struct euicc_fixture fa, fb;
    char eid_b[33] = "";

    if (!bin_path(bin, sizeof(bin))) {
        fprintf(stderr, "\n  %s/bin/euiccd missing: skipped\n", test_build_dir());
        return;
    }
    if (card_file(&fa, 0))
        return;
    if (card_file_minted(&fb, eid_b)) {
        euicc_fixture_close(&fa);
        return;
    }
    snprintf(log, sizeof(log), "%s/euiccd.log", fa.dir);
    snprintf(pf, sizeof(pf), "%s/ports", fa.dir);

    /* invalid: usage, exit 2 */
    static const char *const bad[][8] = {
        { "--tcp", "127.0.0.1:0" },
        { "--state", "S" },
        { "--state", "S", "--tcp", "127.0.0.1:0", "--latency", "x" },
        { "--state", "S", "--tcp", "127.0.0.1:0", "--drop", "0" },
        { "--state", "S", "--tcp", "127.0.0.1:0", "--power-loss", "1:later" },
        { "--state", "S", "--tcp", "127.0.0.1:0", "--rate" },
        { "--state", "S", "--tcp", "127.0.0.1:0", "--vpcd", "127.0.0.1:35963" },
        { "--state", "S", "--tcp", "127.0.0.1:65535", "--state", "S" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *argv[12] = { bin };
        int n = 1;
        for (int j = 0; j < 8 && bad[i][j]; j++)
            argv[n++] = !strcmp(bad[i][j], "S") ? fa.state_path : bad[i][j];
        int rc = wait_exit(spawn(argv, log), 20000);
        if (rc != 2)
            fprintf(stderr, "\n  bad case %zu: exit %d, want 2\n", i, rc);
        CU_ASSERT_EQUAL(rc, 2);
    }

    /* two cards, a free port each, "EID PORT" lines */
    const char *argv[] = { bin, "--latency", "1", "--state", fa.state_path, "--state",
                           fb.state_path, "--drop", "100", "--tcp", "127.0.0.1:0",
                           "--port-file", pf, NULL };
    pid_t pid = spawn(argv, log);
    size_t len = 0;
    char *txt = wait_port_file(pf, &len, 500);
    CU_ASSERT_PTR_NOT_NULL(txt);
    if (txt) {
        char e1[40], e2[40], got[33];
        unsigned p1 = 0, p2 = 0;
        CU_ASSERT_EQUAL(sscanf(txt, "%39s %u %39s %u", e1, &p1, e2, &p2), 4);
        CU_ASSERT_STRING_EQUAL(e1, euicc_fixture_eid());
        CU_ASSERT_STRING_EQUAL(e2, eid_b);
        eid_over_tcp((uint16_t)p1, got);
        CU_ASSERT_STRING_EQUAL(got, euicc_fixture_eid());
        eid_over_tcp((uint16_t)p2, got);
        CU_ASSERT_STRING_EQUAL(got, eid_b);
        free(txt);
    }
    kill(pid, SIGTERM);
    CU_ASSERT_EQUAL(wait_exit(pid, 20000), 0);

    /* one --state card: the port file is the bare port, as before */
    unlink(pf);
    const char *argv1[] = { bin, "--state", fa.state_path, "--tcp", "127.0.0.1:0",
                            "--port-file", pf, NULL };
    pid = spawn(argv1, log);
    txt = wait_port_file(pf, &len, 500);
    CU_ASSERT_PTR_NOT_NULL(txt);
    if (txt) {
        CU_ASSERT(len >= 2 && len <= 6 && txt[0] >= '1' && txt[0] <= '9' && txt[len - 1] == '\n');
        free(txt);
    }
    kill(pid, SIGTERM);
    CU_ASSERT_EQUAL(wait_exit(pid, 20000), 0);
    euicc_fixture_close(&fa);
    euicc_fixture_close(&fb);
}


/* ---- a fleet: more cards than the first euiccd allowed (128) ---- */

#define FLEET 300

static void test_fleet(void)
{
    char bin[600], log[700], pf[700], dir[700], mint[700];
    struct euicc_fixture f;
    char (*eids)[33] = calloc(FLEET, 33);
    int made = 0;

    if (!eids)
        return;
    if (!bin_path(bin, sizeof(bin))) {
        fprintf(stderr, "\n  %s/bin/euiccd missing: skipped\n", test_build_dir());
        free(eids);
        return;
    }
    if (card_file(&f, 0)) {
        free(eids);
        return;
    }
    snprintf(dir, sizeof(dir), "%s/fleet", f.dir);
    snprintf(mint, sizeof(mint), "%s/mint", f.dir);
    snprintf(log, sizeof(log), "%s/euiccd.log", f.dir);
    snprintf(pf, sizeof(pf), "%s/ports", f.dir);
    CU_ASSERT_EQUAL(mkdir(dir, 0700), 0);
    struct rsp_pki_mint_opts m = { .pki_dir = euicc_fixture_pki_dir(), .out_dir = mint,
                                   .curve = RSP_CURVE_P256, .count = FLEET, .eids = eids };
    CU_ASSERT_RC(rsp_pki_mint_euicc(&m), 0);
    for (int i = 0; i < FLEET; i++) {
        char cert[800], key[800], st[800];
        struct euicc_identity id = { .pki_dir = euicc_fixture_pki_dir(),
                                     .euicc_cert_path = cert, .euicc_key_path = key };
        snprintf(cert, sizeof(cert), "%s/CERT_EUICC_%s.der", mint, eids[i]);
        snprintf(key, sizeof(key), "%s/SK_EUICC_%s.pem", mint, eids[i]);
        snprintf(st, sizeof(st), "%s/%s.json", dir, eids[i]);
        if (euicc_create(st, &id) != 0)
            break;
        made++;
    }
    CU_ASSERT_EQUAL(made, FLEET);

    /* every card listens on its own port; each answers GetEID with its EID */
    const char *argv[] = { bin, "--cards", dir, "--tcp", "127.0.0.1:0", "--port-file", pf, NULL };
    pid_t pid = spawn(argv, log);
    size_t len = 0;
    char *txt = wait_port_file(pf, &len, 1500);
    CU_ASSERT_PTR_NOT_NULL(txt);
    if (txt) {
        char *line, *save = NULL;
        int lines = 0, ok = 0;
        for (line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char e[40], got[33] = "";
            unsigned port = 0;
            lines++;
            if (sscanf(line, "%39s %u", e, &port) != 2 || port == 0 || port > 65535)
                continue;
            eid_over_tcp((uint16_t)port, got);
            if (!strcmp(got, e))
                ok++;
            else
                fprintf(stderr, "\n  port %u: EID %s, want %s\n", port, got, e);
        }
        CU_ASSERT_EQUAL(lines, FLEET);
        CU_ASSERT_EQUAL(ok, FLEET);
        free(txt);
    }
    kill(pid, SIGTERM);
    CU_ASSERT_EQUAL(wait_exit(pid, 20000), 0);
    euicc_fixture_close(&f);
    free(eids);
}

CU_TestInfo euiccd_tests[] = {
    { "opts", test_opts },
    { "fleet", test_fleet },
    { "two_cards", test_two_cards },
    { "latency_rate", test_latency_rate },
    { "drop", test_drop },
    { "corrupt", test_corrupt },
    { "power_loss", test_power_loss },
    { "vpcd_listen", test_vpcd_listen },
    { "vpcd_connect", test_vpcd_connect },
    { "cli", test_cli },
    CU_TEST_INFO_NULL,
};
