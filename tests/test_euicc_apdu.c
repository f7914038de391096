/*
 * test_euicc_apdu.c - the card core: ISO/IEC 7816-4 layer (channels,
 * SELECT, STORE DATA, GET RESPONSE, status words), the state file, card
 * creation, fault injection, euiccd over TCP.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/evp.h>

#include "euicc.private.h"
#include "euicc_fixture.h"
#include "euiccd.h"
#include "rsp_err.h"
#include "rsp_test.h"
#include "rsp_util.h"

#define ISDR "A0000005591010FFFFFFFF8900000100"

/* Send capdu_hex, check the SW and (if want_hex) the data. */
static void apdu_expect(struct euicc_fixture *f, const char *capdu_hex, const char *want_hex,
                        int want_sw, int line)
{
    uint8_t r[EUICC_RAPDU_MAX];
    size_t rlen = 0;
    int sw = euicc_fixture_apdu_hex(f, capdu_hex, r, &rlen);

    if (sw != want_sw)
        fprintf(stderr, "\n  line %d: %s -> SW %04X, want %04X\n", line, capdu_hex,
                (unsigned)sw, (unsigned)want_sw);
    CU_ASSERT_EQUAL(sw, want_sw);
    if (want_hex && sw >= 0) {
        size_t n;
        uint8_t *w = test_hex(want_hex, &n);
        CU_ASSERT_BYTES(capdu_hex, r, rlen - 2, w, n);
        free(w);
    }
}
#define EXPECT(f, c, d, sw) apdu_expect((f), (c), (d), (sw), __LINE__)

static int open_fixture(struct euicc_fixture *f)
{
    int rc = euicc_fixture_open(f, NULL);
    CU_ASSERT_RC(rc, 0);
    return rc;
}

/* ---- channels ----------------------------------------------------------- */

static void test_manage_channel(void)
{
    struct euicc_fixture f;

    if (open_fixture(&f))
        return;
    EXPECT(&f, "0070000001", "01", 0x9000);      /* card assigns 1 */
    EXPECT(&f, "0070000001", "02", 0x9000);
    EXPECT(&f, "00700005", "", 0x9000);          /* explicit 5 */
    EXPECT(&f, "00700005", NULL, 0x6A86);        /* already open */
    EXPECT(&f, "00700014", NULL, 0x6A86);        /* 20 > 19 */
    EXPECT(&f, "0070000002", NULL, 0x6700);      /* Le must be 1 */
    EXPECT(&f, "00708005", "", 0x9000);          /* close 5 */
    EXPECT(&f, "00708005", NULL, 0x6881);        /* closed already */
    EXPECT(&f, "00708000", NULL, 0x6A81);        /* basic cannot close */
    EXPECT(&f, "00704000", NULL, 0x6A86);        /* P1 */
    EXPECT(&f, "03A4040C10" ISDR, NULL, 0x6881); /* channel 3 not open */
    EXPECT(&f, "80700000", NULL, 0x6E00);        /* GP class for ISO cmd */
    /* extended range: channel 4 = CLA 40, channel 19 = CLA 4F */
    EXPECT(&f, "40A4040C10" ISDR, NULL, 0x6881);
    EXPECT(&f, "00700004", "", 0x9000);
    EXPECT(&f, "40A4040C10" ISDR, "", 0x9000);
    EXPECT(&f, "00700013", "", 0x9000);
    EXPECT(&f, "4FA4040C10" ISDR, "", 0x9000);
    EXPECT(&f, "01708000", "", 0x9000);          /* close own channel 1 */
    EXPECT(&f, "01A4040C10" ISDR, NULL, 0x6881);
    /* fill every channel: 1, 3, 5..18 left */
    for (int i = 0; i < 16; i++)
        EXPECT(&f, "0070000001", NULL, 0x9000);
    EXPECT(&f, "0070000001", NULL, 0x6A81);      /* none free */
    EXPECT(&f, "0CA4040C10" ISDR, NULL, 0x6882); /* secure messaging */
    EXPECT(&f, "10A4040C10" ISDR, NULL, 0x6884); /* command chaining */
    EXPECT(&f, "FFA4040C10" ISDR, NULL, 0x6E00);
    EXPECT(&f, "20A4040C10" ISDR, NULL, 0x6E00);
    EXPECT(&f, "00", NULL, 0x6700);
    EXPECT(&f, "00CA0000", NULL, 0x6D00);        /* INS unknown */
    /* reset closes logical channels */
    {
        uint8_t atr[EUICC_ATR_MAX];
        size_t n;
        CU_ASSERT_RC(euicc_reset(f.card, atr, &n), 0);
        CU_ASSERT_EQUAL(n, 22);
        CU_ASSERT_EQUAL(atr[0], 0x3B);
        uint8_t x = 0;
        for (size_t i = 1; i < n; i++)
            x ^= atr[i];
        CU_ASSERT_EQUAL(x, 0);                   /* TCK */
        EXPECT(&f, "02A4040C10" ISDR, NULL, 0x6881);
        EXPECT(&f, "80E29100035C015A", NULL, 0x6985); /* ISD-R deselected */
    }
    euicc_fixture_close(&f);
}

/* ---- SELECT, GET RESPONSE ---------------------------------------------- */

static void test_select(void)
{
    struct euicc_fixture f;
    const char *fci = "6F188410" ISDR "A5049F6501FF";

    if (open_fixture(&f))
        return;
    EXPECT(&f, "00A4040010" ISDR "00", fci, 0x9000);
    EXPECT(&f, "00A4040C10A0000005591010FFFFFFFF8900000200", "", 0x9000); /* ECASD */
    EXPECT(&f, "00A4040C10A0000005591010FFFFFFFF8900000300", NULL, 0x6A82);
    EXPECT(&f, "00A4040C05A000000559", NULL, 0x6A82);
    EXPECT(&f, "00A4000C023F00", NULL, 0x6A86);
    EXPECT(&f, "00A4040410" ISDR, NULL, 0x6A86);
    EXPECT(&f, "00A4040C00", NULL, 0x6700);      /* extended form */
    EXPECT(&f, "00A4040C03A00000", NULL, 0x6A80);
    EXPECT(&f, "00A4040C10" ISDR "0000", NULL, 0x6700); /* length mismatch */
    /* STORE DATA with ECASD selected */
    EXPECT(&f, "80E29100035C015A", NULL, 0x6985);
    /* FCI via GET RESPONSE: 61 18, then Le too large -> 6C, then pieces */
    EXPECT(&f, "00A4040010" ISDR, "", 0x611A);
    EXPECT(&f, "00C0000020", "", 0x6C1A);
    EXPECT(&f, "00C0000004", "6F188410", 0x6116);
    EXPECT(&f, "00C0010016", NULL, 0x6A86);      /* P1P2; drops nothing */
    EXPECT(&f, "00C0000016", ISDR "A5049F6501FF", 0x9000);
    EXPECT(&f, "00C0000010", NULL, 0x6985);      /* nothing pending */
    EXPECT(&f, "00C00000", NULL, 0x6700);        /* no Le */
    /* any other command drops the pending response */
    EXPECT(&f, "00A4040010" ISDR, "", 0x611A);
    EXPECT(&f, "00A4040C10" ISDR, "", 0x9000);
    EXPECT(&f, "00C000001A", NULL, 0x6985);
    euicc_fixture_close(&f);
}

/* ---- STORE DATA ----------------------------------------------------------- */

static void test_store_data(void)
{
    struct euicc_fixture f;
    uint8_t *resp = NULL;
    size_t rlen = 0;
    uint16_t sw = 0;

    if (open_fixture(&f))
        return;
    EXPECT(&f, "00E29100035C015A", NULL, 0x6E00);   /* ISO class */
    EXPECT(&f, "80E2910003", NULL, 0x6700);         /* Lc 0 / extended */
    EXPECT(&f, "80E29100", NULL, 0x6700);           /* no data */
    EXPECT(&f, "80E20100035C015A", NULL, 0x6A86);   /* P1 not BER-TLV */
    EXPECT(&f, "80E2F100035C015A", NULL, 0x6A86);   /* encryption bits */
    EXPECT(&f, "80E29101035C015A", NULL, 0x6A86);   /* P2 must start at 0 */
    /* unknown ES10 tag / malformed TLV / trailing bytes -> 6A80 */
    EXPECT(&f, "80E2910003BF7F00", NULL, 0x6A80);
    EXPECT(&f, "80E2910003BF3E05", NULL, 0x6A80);
    EXPECT(&f, "80E2910004BF3E0000", NULL, 0x6A80);
    /* multi-block: blocks 0, 1, 2 */
    EXPECT(&f, "80E2110002BF7F", "", 0x9000);
    EXPECT(&f, "80E211010101", "", 0x9000);
    EXPECT(&f, "80E2910201" "00", NULL, 0x6A80);   /* BF7F 01 00: unknown */
    /* P2 out of order drops the sequence */
    EXPECT(&f, "80E2110002BF3E", "", 0x9000);
    EXPECT(&f, "80E2910203035C015A", NULL, 0x6A86);
    EXPECT(&f, "80E2910103035C015A", NULL, 0x6A86); /* sequence was dropped */
    /* another command in between drops it as well */
    EXPECT(&f, "80E2110002BF3E", "", 0x9000);
    EXPECT(&f, "00A4040C10" ISDR, "", 0x9000);
    EXPECT(&f, "80E2910103035C015A", NULL, 0x6A86);
    /* a logical channel needs its own SELECT */
    EXPECT(&f, "0070000001", "01", 0x9000);
    EXPECT(&f, "81E2910003BF7F00", NULL, 0x6985);
    EXPECT(&f, "01A4040C10" ISDR, "", 0x9000);
    EXPECT(&f, "81E2910003BF7F00", NULL, 0x6A80);
    EXPECT(&f, "C0E2910003BF7F00", NULL, 0x6881);   /* channel 4 closed */

    /* the fixture's own path: a too-long command is refused, not crashed */
    {
        size_t n = EUICC_ES10_MAX + 300;
        uint8_t *big = calloc(1, n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(big);
        big[0] = 0xBF;
        big[1] = 0x3E;
        CU_ASSERT_RC(euicc_fixture_es10(&f, big, n, &resp, &rlen, &sw), 0);
        CU_ASSERT_EQUAL(sw, 0x6A84);
        free(resp);
        resp = NULL;
        free(big);
    }
    /* GetEID in two blocks (SGP.22 §5.7.20), then in one */
    EXPECT(&f, "80E2110003BF3E03", "", 0x9000);
    {
        uint8_t r[EUICC_RAPDU_MAX];
        size_t n;
        int s = euicc_fixture_apdu_hex(&f, "80E29101035C015A00", r, &n);
        char want[64];
        CU_ASSERT_EQUAL(s, 0x9000);
        snprintf(want, sizeof(want), "BF3E125A10%s", euicc_fixture_eid());
        size_t wl;
        uint8_t *w = test_hex(want, &wl);
        CU_ASSERT_BYTES("GetEID", r, n - 2, w, wl);
        CU_ASSERT_RC(euicc_fixture_es10_hex(&f, "BF3E035C015A", &resp, &rlen, &sw), 0);
        CU_ASSERT_EQUAL(sw, 0x9000);
        CU_ASSERT_BYTES("GetEID via 61xx", resp, rlen, w, wl);
        free(w);
        free(resp);
        resp = NULL;
    }
    euicc_fixture_close(&f);
}

/* Response data with Le (SGP.22 STORE DATA case 4), and a response longer
 * than 256 bytes in pieces (61 00 ... 61 xx, ISO/IEC 7816-4 §5.1.3). */
static void test_long_response(void)
{
    struct euicc_fixture f;
    uint8_t r[EUICC_RAPDU_MAX], *resp = NULL, big[700];
    size_t rlen = 0, n;
    uint16_t sw;
    struct rsp_buf all;

    if (open_fixture(&f))
        return;
    CU_ASSERT_RC(euicc_fixture_es10_hex(&f, "BF2000", &resp, &rlen, &sw), 0);
    CU_ASSERT_EQUAL(sw, 0x9000);
    CU_ASSERT_FATAL(rlen > 16 && rlen < 256 && resp[0] == 0xBF && resp[1] == 0x20);
    /* Le = 00: everything at once */
    CU_ASSERT_EQUAL(euicc_fixture_apdu_hex(&f, "80E2910003BF200000", r, &n), 0x9000);
    CU_ASSERT_BYTES("EUICCInfo1 Le 00", r, n - 2, resp, rlen);
    /* Le = 10: 16 bytes, then the rest */
    CU_ASSERT_EQUAL(euicc_fixture_apdu_hex(&f, "80E2910003BF200010", r, &n),
                    (int)(0x6100 | (rlen - 16)));
    CU_ASSERT_BYTES("EUICCInfo1 Le 10", r, n - 2, resp, 16);
    free(resp);
    resp = NULL;

    /* 700 bytes pending on channel 0 */
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    rsp_buf_free(&f.card->ch[0].resp);
    CU_ASSERT_RC(rsp_buf_append(&f.card->ch[0].resp, big, sizeof(big)), 0);
    f.card->ch[0].resp_off = 0;
    rsp_buf_init(&all, 4096);
    CU_ASSERT_EQUAL(euicc_fixture_apdu_hex(&f, "00C0000000", r, &n), 0x6100);
    CU_ASSERT_EQUAL(n, 258);
    rsp_buf_append(&all, r, n - 2);
    CU_ASSERT_EQUAL(euicc_fixture_apdu_hex(&f, "00C0000000", r, &n), 0x61BC);
    rsp_buf_append(&all, r, n - 2);
    CU_ASSERT_EQUAL(euicc_fixture_apdu_hex(&f, "00C00000BD", r, &n), 0x6CBC);
    CU_ASSERT_EQUAL(euicc_fixture_apdu_hex(&f, "00C00000BC", r, &n), 0x9000);
    rsp_buf_append(&all, r, n - 2);
    CU_ASSERT_BYTES("700 bytes chained", all.data, all.len, big, sizeof(big));
    rsp_buf_free(&all);
    euicc_fixture_close(&f);
}

/* ---- state file, creation ------------------------------------------------ */

static void test_state_roundtrip(void)
{
    struct euicc_fixture f;
    struct euicc_state st;
    struct euicc_profile *p;
    struct euicc_notif *nt;

    if (open_fixture(&f))
        return;
    CU_ASSERT_EQUAL(f.card->st.n_creds, 2);
    CU_ASSERT_EQUAL(f.card->st.n_cis, 2);
    CU_ASSERT_STRING_EQUAL(f.card->st.eid, euicc_fixture_eid());
    p = &f.card->st.profiles[f.card->st.n_profiles++];
    memcpy(p->aid, "\xA0\x00\x00\x05\x59\x10\x10\x01", 8);
    p->aid_len = 8;
    strcpy(p->iccid, "8944123456789012340");
    p->state = EUICC_PROFILE_ENABLED;
    strcpy(p->nickname, "n\xC3\xA9");
    p->metadata = malloc(3);
    memcpy(p->metadata, "\xBF\x25\x00", 3);
    p->metadata_len = 3;
    p->ppr = 2;
    p->profile_class = 2;
    p->n_pes = 7;
    nt = &f.card->st.notifs[f.card->st.n_notifs++];
    nt->seq = 42;
    nt->event = 1;
    strcpy(nt->address, "smdp.example.test");
    nt->der = malloc(2);
    memcpy(nt->der, "\x30\x00", 2);
    nt->der_len = 2;
    strcpy(f.card->st.default_dp, "dp.example");
    CU_ASSERT_RC(euicc_commit(f.card), 0);
    CU_ASSERT_RC(euicc_state_load(f.state_path, &st), 0);
    CU_ASSERT_STRING_EQUAL(st.eid, f.card->st.eid);
    CU_ASSERT_STRING_EQUAL(st.default_dp, "dp.example");
    CU_ASSERT_EQUAL(st.n_profiles, 1);
    CU_ASSERT_EQUAL(st.n_notifs, 1);
    CU_ASSERT_BYTES("sk", st.creds[1].sk, 32, f.card->st.creds[1].sk, 32);
    CU_ASSERT_BYTES("cert", st.creds[0].euicc_cert, st.creds[0].euicc_cert_len,
                    f.card->st.creds[0].euicc_cert, f.card->st.creds[0].euicc_cert_len);
    CU_ASSERT_BYTES("pkid", st.cis[1].pkid, st.cis[1].pkid_len, f.card->st.cis[1].pkid,
                    f.card->st.cis[1].pkid_len);
    CU_ASSERT_BYTES("aid", st.profiles[0].aid, st.profiles[0].aid_len, p->aid, 8);
    CU_ASSERT_STRING_EQUAL(st.profiles[0].iccid, p->iccid);
    CU_ASSERT_STRING_EQUAL(st.profiles[0].nickname, p->nickname);
    CU_ASSERT_EQUAL(st.profiles[0].state, EUICC_PROFILE_ENABLED);
    CU_ASSERT_EQUAL(st.profiles[0].n_pes, 7);
    CU_ASSERT_EQUAL(st.profiles[0].ppr, 2);
    CU_ASSERT_PTR_NULL(st.profiles[0].package);
    CU_ASSERT_BYTES("metadata", st.profiles[0].metadata, st.profiles[0].metadata_len,
                    p->metadata, 3);
    CU_ASSERT_EQUAL(st.notifs[0].seq, 42);
    CU_ASSERT_BYTES("notif", st.notifs[0].der, st.notifs[0].der_len, nt->der, 2);
    CU_ASSERT_EQUAL(euicc_find_profile_by_iccid(f.card, "8944123456789012340"), 0);
    CU_ASSERT_EQUAL(euicc_find_profile_by_iccid(f.card, "8944123456789012341"), -1);
    CU_ASSERT_EQUAL(euicc_find_profile_by_aid(f.card, p->aid, 8), 0);
    euicc_state_drop_profile(&st, 0);
    euicc_state_drop_notif(&st, 0);
    CU_ASSERT_EQUAL(st.n_profiles, 0);
    CU_ASSERT_EQUAL(st.n_notifs, 0);
    euicc_state_clear(&st);
    /* survives a reopen; the key works */
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 1);
    {
        EVP_PKEY *k = NULL;
        CU_ASSERT_RC(euicc_cred_key(f.card, 0, &k), 0);
        CU_ASSERT_PTR_NOT_NULL(k);
        EVP_PKEY_free(k);
        CU_ASSERT_RC(euicc_cred_key(f.card, 2, &k), RSP_ERR_INVAL);
    }
    {
        FILE *out = fopen("/dev/null", "w");
        CU_ASSERT_RC(euicc_state_print(f.card, out), 0);
        fclose(out);
    }
    euicc_fixture_close(&f);
}

static void write_text(const char *path, const char *s, size_t n)
{
    FILE *fp = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fwrite(s, 1, n, fp);
    fclose(fp);
}

static void test_state_corrupt(void)
{
    struct euicc_fixture f;
    struct euicc_state st;
    char path[700];
    uint8_t *good;
    size_t len;
    struct euicc *e = NULL;

    if (open_fixture(&f))
        return;
    good = test_read_file(f.state_path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(good);
    snprintf(path, sizeof(path), "%s/bad.json", f.dir);
    CU_ASSERT_RC(euicc_state_load(path, &st), RSP_ERR_IO);   /* missing */
    /* every truncation of a good file is refused */
    for (size_t n = 0; n < len - 2; n += 1 + n / 8) {
        write_text(path, (const char *)good, n);
        CU_ASSERT_RC(euicc_state_load(path, &st), RSP_ERR_DECODE);
    }
    static const char *bad[] = {
        "[]", "{}", "null", "\x01\x02",
        "{\"version\":2}",
        "{\"version\":1,\"eid\":\"89049032123451234512345678901234\",\"default_dp\":\"\","
        "\"root_ds\":\"\",\"next_seq\":1,\"next_isdp\":1,\"creds\":[],\"cis\":[],"
        "\"profiles\":[],\"notifs\":[]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_text(path, bad[i], strlen(bad[i]));
        CU_ASSERT_RC(euicc_state_load(path, &st), RSP_ERR_DECODE);
    }
    /* a flipped byte inside base64 / hex / a count beyond the limit */
    {
        char *t = malloc(len + 1);
        memcpy(t, good, len);
        t[len] = 0;
        char *sk = strstr(t, "\"sk\": \"");
        CU_ASSERT_PTR_NOT_NULL_FATAL(sk);
        sk[8] = 'X';
        write_text(path, t, len);
        CU_ASSERT_RC(euicc_state_load(path, &st), RSP_ERR_DECODE);
        memcpy(t, good, len);
        char *cert = strstr(t, "\"euicc_cert\": \"");
        CU_ASSERT_PTR_NOT_NULL_FATAL(cert);
        cert[20] = '!';
        write_text(path, t, len);
        CU_ASSERT_RC(euicc_state_load(path, &st), RSP_ERR_DECODE);
        free(t);
    }
    {
        struct rsp_buf b;
        rsp_buf_init(&b, 1 << 20);
        const char *head = "{\"version\":1,\"eid\":\"89049032123451234512345678901235\","
                           "\"default_dp\":\"\",\"root_ds\":\"\",\"next_seq\":1,"
                           "\"next_isdp\":1,\"creds\":[],\"cis\":[],\"notifs\":[],\"profiles\":[";
        rsp_buf_append(&b, head, strlen(head));
        for (int i = 0; i <= EUICC_MAX_PROFILES; i++)
            rsp_buf_append(&b, i ? ",{}" : "{}", i ? 3 : 2);
        rsp_buf_append(&b, "]}", 2);
        write_text(path, (const char *)b.data, b.len);
        CU_ASSERT_RC(euicc_state_load(path, &st), RSP_ERR_DECODE);
        rsp_buf_free(&b);
    }
    CU_ASSERT_RC(euicc_open(path, &e), RSP_ERR_DECODE);
    CU_ASSERT_PTR_NULL(e);
    /* the good file still loads */
    write_text(path, (const char *)good, len);
    CU_ASSERT_RC(euicc_state_load(path, &st), 0);
    euicc_state_clear(&st);
    free(good);
    euicc_fixture_close(&f);
}

static void test_create(void)
{
    struct euicc_fixture f;
    struct euicc_identity id;
    char sgp26[512], path[700];

    snprintf(sgp26, sizeof(sgp26), "%s/sgp26", test_shared_dir());
    if (euicc_fixture_open(&f, sgp26) != 0) {
        CU_FAIL("card from SGP.26");
        return;
    }
    CU_ASSERT_STRING_EQUAL(f.card->st.eid, "89049032123451234512345678901235");
    CU_ASSERT_EQUAL(f.card->st.n_creds, 2);
    CU_ASSERT_EQUAL(f.card->st.creds[0].curve, RSP_CURVE_P256);
    CU_ASSERT_EQUAL(f.card->st.creds[1].curve, RSP_CURVE_BRAINPOOLP256R1);
    CU_ASSERT_EQUAL(f.card->st.n_cis, 2);
    memset(&id, 0, sizeof(id));
    id.pki_dir = sgp26;
    CU_ASSERT_RC(euicc_create(f.state_path, &id), RSP_ERR_IO);   /* exists */
    snprintf(path, sizeof(path), "%s/other.json", f.dir);
    id.euicc_cert_path = "/nonexistent";
    CU_ASSERT_RC(euicc_create(path, &id), RSP_ERR_INVAL);        /* no key */
    id.euicc_key_path = "/nonexistent";
    CU_ASSERT(euicc_create(path, &id) < 0);
    /* a minted-style identity: the generated eUICC cert with the SGP.26 CI
     * does not chain */
    {
        char c[700], k[700];
        const char *pki = euicc_fixture_pki_dir();
        snprintf(c, sizeof(c), "%s/eUICC/CERT_EUICC_ECDSA_NIST.der", pki);
        snprintf(k, sizeof(k), "%s/eUICC/SK_EUICC_ECDSA_NIST.pem", pki);
        id.euicc_cert_path = c;
        id.euicc_key_path = k;
        CU_ASSERT(euicc_create(path, &id) < 0);
        id.pki_dir = pki;
        id.default_dp = "smdp.example.test";
        CU_ASSERT_RC(euicc_create(path, &id), 0);
        struct euicc *e = NULL;
        CU_ASSERT_RC(euicc_open(path, &e), 0);
        if (e) {
            CU_ASSERT_EQUAL(e->st.n_creds, 1);
            CU_ASSERT_STRING_EQUAL(e->st.eid, euicc_fixture_eid());
            CU_ASSERT_STRING_EQUAL(e->st.default_dp, "smdp.example.test");
        }
        euicc_free(e);
        /* a key that does not match the certificate */
        snprintf(k, sizeof(k), "%s/EUM/SK_EUM_ECDSA_NIST.pem", pki);
        snprintf(path, sizeof(path), "%s/third.json", f.dir);
        CU_ASSERT_RC(euicc_create(path, &id), RSP_ERR_CERT);
    }
    euicc_fixture_close(&f);
}

/* EUICC_CRASH_AT=N ends the process with 99 at the N-th crash point. */
static void test_crash_point(void)
{
    struct euicc_fixture f;
    int status = 0;
    pid_t pid;

    if (open_fixture(&f))
        return;
    pid = fork();
    if (pid == 0) {
        struct euicc *e = NULL;
        char v[32];
        snprintf(v, sizeof(v), "%ld", euicc_crash_points_passed() + 2);
        setenv("EUICC_CRASH_AT", v, 1);
        if (euicc_open(f.state_path, &e) != 0)
            _exit(1);
        euicc_commit(e);   /* points 1 (before), 2 (after) */
        _exit(0);
    }
    CU_ASSERT_FATAL(pid > 0);
    waitpid(pid, &status, 0);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 99);
    euicc_fixture_close(&f);
}

/* ---- euiccd over TCP -------------------------------------------------- */

static int tcp_xfer(int fd, const uint8_t *msg, size_t n, uint8_t *out, size_t *out_len)
{
    uint8_t hdr[2] = { (uint8_t)(n >> 8), (uint8_t)n };
    size_t got = 0, want;

    if (send(fd, hdr, 2, 0) != 2 || (n && send(fd, msg, n, 0) != (ssize_t)n))
        return -1;
    while (got < 2) {
        ssize_t r = recv(fd, hdr + got, 2 - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    want = ((size_t)hdr[0] << 8) | hdr[1];
    for (got = 0; got < want;) {
        ssize_t r = recv(fd, out + got, want - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    *out_len = want;
    return 0;
}

static void test_euiccd_tcp(void)
{
    struct euicc_fixture f;
    struct sockaddr_in sa;
    uint8_t r[300];
    size_t n = 0;
    uint16_t port = 0;
    int lfd = -1, fd, status;
    pid_t pid;

    CU_ASSERT_RC(euiccd_listen("10.1.2.3:0", 0, &lfd, &port), RSP_ERR_INVAL);
    CU_ASSERT_RC(euiccd_listen("localhost", 0, &lfd, &port), RSP_ERR_INVAL);
    if (open_fixture(&f))
        return;
    if (euiccd_listen("127.0.0.1:0", 0, &lfd, &port) != 0) {
        CU_FAIL("listen");
        euicc_fixture_close(&f);
        return;
    }
    pid = fork();
    if (pid == 0) {
        euiccd_serve_tcp(f.card, lfd, NULL);
        _exit(0);
    }
    close(lfd);
    CU_ASSERT_FATAL(pid > 0);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    {
        const uint8_t on = 0x01;
        CU_ASSERT(tcp_xfer(fd, &on, 1, r, &n) == 0);
        CU_ASSERT(n == 22 && r[0] == 0x3B);
    }
    {
        size_t cl;
        uint8_t *c = test_hex("00A4040C10" ISDR, &cl);
        CU_ASSERT(tcp_xfer(fd, c, cl, r, &n) == 0);
        CU_ASSERT(n == 2 && r[0] == 0x90 && r[1] == 0x00);
        free(c);
        c = test_hex("80E2910006BF3E035C015A00", &cl);
        CU_ASSERT(tcp_xfer(fd, c, cl, r, &n) == 0);
        free(c);
        char want[64];
        snprintf(want, sizeof(want), "BF3E125A10%s9000", euicc_fixture_eid());
        uint8_t *w = test_hex(want, &cl);
        CU_ASSERT_BYTES("GetEID over TCP", r, n, w, cl);
        free(w);
    }
    {
        const uint8_t off = 0x00;
        CU_ASSERT(tcp_xfer(fd, &off, 1, r, &n) == 0);
        CU_ASSERT_EQUAL(n, 0);
    }
    close(fd);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    euicc_fixture_close(&f);
}

CU_TestInfo euicc_apdu_tests[] = {
    { "manage_channel", test_manage_channel },
    { "select_get_response", test_select },
    { "store_data", test_store_data },
    { "long_response", test_long_response },
    { "state_roundtrip", test_state_roundtrip },
    { "state_corrupt", test_state_corrupt },
    { "create", test_create },
    { "crash_point", test_crash_point },
    { "euiccd_tcp", test_euiccd_tcp },
    CU_TEST_INFO_NULL,
};
