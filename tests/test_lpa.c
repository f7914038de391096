/* liblpa: ES10 STORE DATA transport against a scripted fake card, ES10
 * decoders on canned responses, Activation Code parsing. */
#include <stdlib.h>

#include "rsp_test.h"
#include "lpa.h"
#include "lpa_es10b.h"
#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_util.h"

#include <GetEuiccDataResponse.h>
#include <ProfileInfo.h>
#include <ProfileInfoListResponse.h>

/* ---- scripted fake card ---- */

#define SCRIPT_MAX 64

struct step {
    uint8_t *c;     /* expected C-APDU; NULL accepts any */
    size_t clen;
    uint8_t *r;     /* canned R-APDU */
    size_t rlen;
};

struct fake {
    struct step s[SCRIPT_MAX];
    size_t n, pos;
    int channel;        /* returned by open_channel */
    int opens, closes, connects, disconnects;
    int bad;            /* an unexpected APDU was seen */
    unsigned progress_calls, last_block, last_blocks;
};

static void dump(const char *what, const uint8_t *p, size_t n)
{
    fprintf(stderr, "    %s (%zu):", what, n);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%02X", p[i]);
    fprintf(stderr, "\n");
}

static void fake_add(struct fake *f, const uint8_t *c, size_t clen, const uint8_t *r, size_t rlen)
{
    struct step *s;

    if (f->n == SCRIPT_MAX) {
        fprintf(stderr, "script too long\n");
        abort();
    }
    s = &f->s[f->n++];
    s->c = NULL;
    s->clen = clen;
    if (c) {
        s->c = malloc(clen);
        memcpy(s->c, c, clen);
    }
    s->r = malloc(rlen);
    memcpy(s->r, r, rlen);
    s->rlen = rlen;
}

/* Hex form: cmd may be NULL (any command). */
static void fake_addh(struct fake *f, const char *chex, const char *rhex)
{
    size_t cl = 0, rl = 0;
    uint8_t *c = chex ? test_hex(chex, &cl) : NULL;
    uint8_t *r = test_hex(rhex, &rl);
    fake_add(f, c, cl, r, rl);
    free(c);
    free(r);
}

/* One STORE DATA block with the given data. */
static void fake_add_sd(struct fake *f, uint8_t cla, uint8_t p1, uint8_t p2,
                        const uint8_t *d, size_t n, const char *rhex)
{
    uint8_t c[LPA_CAPDU_MAX];
    size_t rl;
    uint8_t *r = test_hex(rhex, &rl);
    c[0] = cla; c[1] = 0xE2; c[2] = p1; c[3] = p2; c[4] = (uint8_t)n;
    memcpy(c + 5, d, n);
    fake_add(f, c, 5 + n, r, rl);
    free(r);
}

static void fake_free(struct fake *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->s[i].c);
        free(f->s[i].r);
    }
    f->n = 0;
}

static int fk_connect(void *ctx) { ((struct fake *)ctx)->connects++; return 0; }
static void fk_disconnect(void *ctx) { ((struct fake *)ctx)->disconnects++; }

static int fk_open(void *ctx, const uint8_t *aid, size_t aid_len, int *ch)
{
    struct fake *f = ctx;
    static const uint8_t isdr[] = { 0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
                                    0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00 };
    if (aid_len != sizeof(isdr) || memcmp(aid, isdr, aid_len)) {
        dump("unexpected AID", aid, aid_len);
        f->bad = 1;
    }
    f->opens++;
    *ch = f->channel;
    return 0;
}

static int fk_close(void *ctx, int ch)
{
    struct fake *f = ctx;
    if (ch != f->channel)
        f->bad = 1;
    f->closes++;
    return 0;
}

static int fk_transmit(void *ctx, const uint8_t *c, size_t clen, uint8_t *r, size_t *rlen)
{
    struct fake *f = ctx;
    struct step *s;

    if (f->pos == f->n) {
        fprintf(stderr, "\n  fake card: APDU after the end of the script\n");
        dump("got ", c, clen);
        f->bad = 1;
        return RSP_ERR_IO;
    }
    s = &f->s[f->pos++];
    if (s->c && (clen != s->clen || memcmp(c, s->c, clen))) {
        fprintf(stderr, "\n  fake card: unexpected APDU at step %zu\n", f->pos - 1);
        dump("got ", c, clen);
        dump("want", s->c, s->clen);
        f->bad = 1;
        return RSP_ERR_IO;
    }
    if (s->rlen > *rlen)
        return RSP_ERR_IO;
    memcpy(r, s->r, s->rlen);
    *rlen = s->rlen;
    return 0;
}

static void fk_progress(void *arg, unsigned block, unsigned blocks)
{
    struct fake *f = arg;
    f->progress_calls++;
    f->last_block = block;
    f->last_blocks = blocks;
}

static int open_fake(struct lpa_ctx *ctx, struct fake *f, int channel, size_t block,
                     size_t max_response)
{
    struct lpa_apdu_driver d = {
        .ctx = f, .connect = fk_connect, .disconnect = fk_disconnect,
        .open_channel = fk_open, .close_channel = fk_close, .transmit = fk_transmit,
    };
    struct lpa_options o = {
        .block_size = block, .max_response = max_response,
        .progress = fk_progress, .progress_arg = f,
    };
    f->channel = channel;
    int rc = lpa_ctx_init(ctx, &d, &o);
    if (rc == 0)
        rc = lpa_open(ctx);
    return rc;
}

/* The script must have been consumed exactly, without surprises. */
static void fake_done(struct fake *f)
{
    if (f->pos != f->n)
        fprintf(stderr, "\n  fake card: %zu of %zu APDUs used\n", f->pos, f->n);
    CU_ASSERT(f->pos == f->n);
    CU_ASSERT(!f->bad);
    fake_free(f);
}

static uint8_t *pattern(size_t n)
{
    uint8_t *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7 + 3);
    return p;
}

/* ---- transport ---- */

static void segmented(size_t len, size_t block)
{
    struct fake f = { 0 };
    struct lpa_ctx ctx;
    struct rsp_buf resp;
    uint8_t *cmd = pattern(len);
    size_t blocks = (len + block - 1) / block, off = 0;

    for (size_t i = 0; i < blocks; i++) {
        size_t n = len - off > block ? block : len - off;
        int last = i + 1 == blocks;
        fake_add_sd(&f, 0x81, last ? 0x91 : 0x11, (uint8_t)i, cmd + off, n,
                    last ? "AABB9000" : "9000");
        off += n;
    }
    CU_ASSERT_RC(open_fake(&ctx, &f, 1, block == 120 ? 0 : block, 0), 0);
    CU_ASSERT_RC(lpa_es10_transact(&ctx, cmd, len, &resp), 0);
    CU_ASSERT_BYTES("response", resp.data, resp.len, (const uint8_t *)"\xAA\xBB", 2);
    CU_ASSERT(f.progress_calls == blocks && f.last_block == blocks && f.last_blocks == blocks);
    rsp_buf_free(&resp);
    lpa_close(&ctx);
    CU_ASSERT(f.opens == 1 && f.closes == 1 && f.connects == 1 && f.disconnects == 1);
    fake_done(&f);
    free(cmd);
}

static void test_segment_120(void) { segmented(250, 120); segmented(240, 120); }
static void test_segment_255(void) { segmented(600, 255); segmented(255 * 3, 255); }

static void test_single_block(void)
{
    struct fake f = { 0 };
    struct lpa_ctx ctx;
    struct rsp_buf resp;

    fake_addh(&f, "81E2910003BF3E00", "BF3E009000");
    CU_ASSERT_RC(open_fake(&ctx, &f, 1, 0, 0), 0);
    CU_ASSERT_RC(lpa_es10_transact(&ctx, (const uint8_t *)"\xBF\x3E\x00", 3, &resp), 0);
    CU_ASSERT_BYTES("response", resp.data, resp.len, (const uint8_t *)"\xBF\x3E\x00", 3);
    CU_ASSERT(lpa_last_sw(&ctx) == 0x9000);
    rsp_buf_free(&resp);
    lpa_close(&ctx);
    fake_done(&f);
}

/* 61xx across three GET RESPONSEs, one with Le = 00 (256 bytes). */
static void test_61xx_chain(void)
{
    struct fake f = { 0 };
    struct lpa_ctx ctx;
    struct rsp_buf resp;
    uint8_t *want = pattern(128 + 256 + 5 + 2);
    uint8_t r[LPA_RAPDU_MAX];

    fake_addh(&f, "82E2910003BF2D00", "6180");
    memcpy(r, want, 128); r[128] = 0x61; r[129] = 0x00;
    fake_add(&f, (const uint8_t *)"\x82\xC0\x00\x00\x80", 5, r, 130);
    memcpy(r, want + 128, 256); r[256] = 0x61; r[257] = 0x05;
    fake_add(&f, (const uint8_t *)"\x82\xC0\x00\x00\x00", 5, r, 258);
    memcpy(r, want + 384, 5); r[5] = 0x61; r[6] = 0x02;
    fake_add(&f, (const uint8_t *)"\x82\xC0\x00\x00\x05", 5, r, 7);
    memcpy(r, want + 389, 2); r[2] = 0x90; r[3] = 0x00;
    fake_add(&f, (const uint8_t *)"\x82\xC0\x00\x00\x02", 5, r, 4);
    CU_ASSERT_RC(open_fake(&ctx, &f, 2, 0, 0), 0);
    CU_ASSERT_RC(lpa_es10_transact(&ctx, (const uint8_t *)"\xBF\x2D\x00", 3, &resp), 0);
    CU_ASSERT_BYTES("response", resp.data, resp.len, want, 391);
    rsp_buf_free(&resp);
    lpa_close(&ctx);
    fake_done(&f);
    free(want);
}

static void test_6cxx(void)
{
    struct fake f = { 0 };
    struct lpa_ctx ctx;
    struct rsp_buf resp;

    /* on GET RESPONSE: re-issued with the Le the card asked for */
    fake_addh(&f, "80E2910003BF2E00", "6110");
    fake_addh(&f, "80C0000010", "6C08");
    fake_addh(&f, "80C0000008", "01020304050607089000");
    /* on STORE DATA itself: the same block again, now with Le */
    fake_addh(&f, "80E2910003BF2E00", "6C03");
    fake_addh(&f, "80E2910003BF2E0003", "0A0B0C9000");
    CU_ASSERT_RC(open_fake(&ctx, &f, 0, 0, 0), 0);
    CU_ASSERT_RC(lpa_es10_transact(&ctx, (const uint8_t *)"\xBF\x2E\x00", 3, &resp), 0);
    CU_ASSERT_BYTES("response", resp.data, resp.len,
                    (const uint8_t *)"\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    rsp_buf_free(&resp);
    CU_ASSERT_RC(lpa_es10_transact(&ctx, (const uint8_t *)"\xBF\x2E\x00", 3, &resp), 0);
    CU_ASSERT_BYTES("response", resp.data, resp.len, (const uint8_t *)"\x0A\x0B\x0C", 3);
    rsp_buf_free(&resp);
    /* a second 6Cxx in a row is an error carrying the SW */
    fake_addh(&f, "80E2910003BF2E00", "6C03");
    fake_addh(&f, "80E2910003BF2E0003", "6C04");
    CU_ASSERT_RC(lpa_es10_transact(&ctx, (const uint8_t *)"\xBF\x2E\x00", 3, &resp), LPA_ERR_SW);
    CU_ASSERT(lpa_last_sw(&ctx) == 0x6C04);
    CU_ASSERT(resp.data == NULL && resp.len == 0);
    lpa_close(&ctx);
    /* channel 0 is never closed */
    CU_ASSERT(f.closes == 0);
    fake_done(&f);
}

static void test_error_sw_mid_sequence(void)
{
    struct fake f = { 0 };
    struct lpa_ctx ctx;
    struct rsp_buf resp;
    uint8_t *cmd = pattern(300);

    fake_add_sd(&f, 0x81, 0x11, 0, cmd, 120, "9000");
    fake_add_sd(&f, 0x81, 0x11, 1, cmd + 120, 120, "6A80");
    CU_ASSERT_RC(open_fake(&ctx, &f, 1, 0, 0), 0);
    CU_ASSERT_RC(lpa_es10_transact(&ctx, cmd, 300, &resp), LPA_ERR_SW);
    CU_ASSERT(lpa_last_sw(&ctx) == 0x6A80);
    CU_ASSERT(resp.data == NULL);
    CU_ASSERT(f.progress_calls == 1);
    /* error during GET RESPONSE, after data was collected: freed */
    fake_addh(&f, "81E2910001AA", "6104");
    fake_addh(&f, "81C0000004", "6F00");
    CU_ASSERT_RC(lpa_es10_transact(&ctx, (const uint8_t *)"\xAA", 1, &resp), LPA_ERR_SW);
    CU_ASSERT(lpa_last_sw(&ctx) == 0x6F00);
    /* a short R-APDU is a transport error */
    fake_addh(&f, "81E2910001AA", "90");
    CU_ASSERT_RC(lpa_es10_transact(&ctx, (const uint8_t *)"\xAA", 1, &resp), RSP_ERR_IO);
    lpa_close(&ctx);
    fake_done(&f);
    free(cmd);
}

/* ISO/IEC 7816-4 §5.4.1: 1..3 in bits 1-2; 4..19 as 0x40 | (ch - 4),
 * here with the proprietary bit 0x80. GET RESPONSE uses the same CLA. */
static void test_channel_cla(void)
{
    for (int ch = 1; ch <= LPA_CHANNEL_MAX; ch++) {
        struct fake f = { 0 };
        struct lpa_ctx ctx;
        struct rsp_buf resp;
        uint8_t cla = ch < 4 ? (uint8_t)(0x80 | ch) : (uint8_t)(0xC0 | (ch - 4));
        uint8_t gr[5] = { cla, 0xC0, 0x00, 0x00, 0x01 };

        fake_add_sd(&f, cla, 0x91, 0, (const uint8_t *)"\xBF\x20\x00", 3, "6101");
        fake_add(&f, gr, 5, (const uint8_t *)"\x55\x90\x00", 3);
        CU_ASSERT_RC(open_fake(&ctx, &f, ch, 0, 0), 0);
        CU_ASSERT_RC(lpa_es10_transact(&ctx, (const uint8_t *)"\xBF\x20\x00", 3, &resp), 0);
        CU_ASSERT(resp.len == 1 && resp.data && resp.data[0] == 0x55);
        rsp_buf_free(&resp);
        lpa_close(&ctx);
        fake_done(&f);
    }
    /* a channel the CLA cannot address */
    struct fake f = { 0 };
    struct lpa_ctx ctx;
    CU_ASSERT_RC(open_fake(&ctx, &f, 20, 0, 0), RSP_ERR_IO);
    CU_ASSERT(f.closes == 1 && f.disconnects == 1);
    fake_done(&f);
}

static void test_limits(void)
{
    struct fake f = { 0 };
    struct lpa_ctx ctx;
    struct rsp_buf resp;
    struct lpa_options o = { .block_size = 256 };
    struct lpa_apdu_driver d = { .ctx = &f, .connect = fk_connect,
                                 .open_channel = fk_open, .transmit = fk_transmit };
    uint8_t *big = pattern(257 * 255);

    CU_ASSERT_RC(lpa_ctx_init(&ctx, &d, &o), RSP_ERR_INVAL);
    o.block_size = 0;
    o.max_response = 2 * 1024 * 1024;
    CU_ASSERT_RC(lpa_ctx_init(&ctx, &d, &o), RSP_ERR_INVAL);
    CU_ASSERT_RC(lpa_ctx_init(&ctx, &d, NULL), 0);
    /* not open */
    CU_ASSERT_RC(lpa_es10_transact(&ctx, big, 3, &resp), RSP_ERR_STATE);

    /* response over the cap */
    fake_addh(&f, "81E2910001AA", "6110");
    fake_addh(&f, "81C0000010", "000102030405060708090A0B0C0D0E0F9000");
    CU_ASSERT_RC(open_fake(&ctx, &f, 1, 0, 8), 0);
    CU_ASSERT_RC(lpa_es10_transact(&ctx, (const uint8_t *)"\xAA", 1, &resp), RSP_ERR_TOOBIG);
    CU_ASSERT(resp.data == NULL);
    /* more blocks than P2 can number */
    CU_ASSERT_RC(lpa_es10_transact(&ctx, big, 257 * 120, &resp), RSP_ERR_TOOBIG);
    CU_ASSERT_RC(lpa_es10_transact(&ctx, big, 0, &resp), RSP_ERR_INVAL);
    /* a card answering 61xx without data forever */
    fake_addh(&f, "81E2910001AA", "6100");
    for (int i = 0; i < 4; i++)
        fake_addh(&f, "81C0000000", "6100");
    CU_ASSERT_RC(lpa_es10_transact(&ctx, (const uint8_t *)"\xAA", 1, &resp), RSP_ERR_IO);
    CU_ASSERT_RC(lpa_open(&ctx), RSP_ERR_STATE);
    lpa_close(&ctx);
    lpa_close(&ctx);
    CU_ASSERT(f.opens == 1 && f.closes == 1);
    fake_done(&f);
    free(big);
}

/* ---- ES10 helpers ---- */

/* Encode with rsp_asn1 and queue as a response (split by 61xx when long). */
static void queue_encoded(struct fake *f, const char *cmd_hex, const asn_TYPE_descriptor_t *td,
                          const void *st)
{
    struct rsp_buf b;
    uint8_t r[LPA_RAPDU_MAX];
    rsp_buf_init(&b, 65536);
    CU_ASSERT_RC(rsp_asn1_encode(td, st, &b), 0);
    if (b.len <= 200) {
        memcpy(r, b.data, b.len);
        r[b.len] = 0x90; r[b.len + 1] = 0x00;
        fake_addh(f, cmd_hex, "6100");
        fake_add(f, (const uint8_t *)"\x81\xC0\x00\x00\x00", 5, r, b.len + 2);
    } else {
        size_t first = b.len - 100;
        memcpy(r, b.data, first > 256 ? 256 : first);
        /* keep it simple: the tests' lists fit in 256 + 100 bytes */
        CU_ASSERT(first <= 256);
        r[first] = 0x61; r[first + 1] = 100;
        fake_addh(f, cmd_hex, "6100");
        fake_add(f, (const uint8_t *)"\x81\xC0\x00\x00\x00", 5, r, first + 2);
        memcpy(r, b.data + first, 100);
        r[100] = 0x90; r[101] = 0x00;
        fake_add(f, (const uint8_t *)"\x81\xC0\x00\x00\x64", 5, r, 102);
    }
    rsp_buf_free(&b);
}

static void test_get_eid(void)
{
    struct fake f = { 0 };
    struct lpa_ctx ctx;
    GetEuiccDataResponse_t r;
    const char *eid = "89049032123451234512345678901235";
    uint8_t b[16];
    char got[33];

    memset(&r, 0, sizeof(r));
    CU_ASSERT_RC(rsp_eid_to_bytes(eid, b), 0);
    CU_ASSERT_RC(rsp_asn1_octets_set(&r.eidValue, b, 16), 0);
    queue_encoded(&f, "81E2910006BF3E035C015A", &asn_DEF_GetEuiccDataResponse, &r);
    rsp_asn1_free_contents(&asn_DEF_GetEuiccDataResponse, &r);
    /* a truncated EID is a decode error */
    fake_addh(&f, "81E2910006BF3E035C015A", "BF3E035A01899000");
    CU_ASSERT_RC(open_fake(&ctx, &f, 1, 0, 0), 0);
    CU_ASSERT_RC(lpa_get_eid(&ctx, got), 0);
    CU_ASSERT_STRING_EQUAL(got, eid);
    CU_ASSERT_RC(lpa_get_eid(&ctx, got), RSP_ERR_DECODE);
    CU_ASSERT(got[0] == '\0');
    lpa_close(&ctx);
    fake_done(&f);
}

static OCTET_STRING_t *os_new(const void *p, size_t n)
{
    OCTET_STRING_t *o = calloc(1, sizeof(*o));
    rsp_asn1_octets_set(o, p, n);
    return o;
}

static long *long_new(long v)
{
    long *p = malloc(sizeof(*p));
    *p = v;
    return p;
}

static void test_get_profiles_info(void)
{
    struct fake f = { 0 };
    struct lpa_ctx ctx;
    ProfileInfoListResponse_t *r = calloc(1, sizeof(*r));
    struct lpa_profile_list list;
    static const uint8_t aid1[16] = { 0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
                                      0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x10, 0x00 };
    uint8_t iccid[10];

    r->present = ProfileInfoListResponse_PR_profileInfoListOk;
    r->choice.profileInfoListOk = calloc(1, sizeof(*r->choice.profileInfoListOk));
    ProfileInfo_t *p1 = calloc(1, sizeof(*p1)), *p2 = calloc(1, sizeof(*p2));
    rsp_iccid_to_bcd("8944476500001224158", 1, iccid);
    p1->iccid = os_new(iccid, 10);
    p1->isdpAid = os_new(aid1, 16);
    p1->profileState = long_new(1);
    p1->profileNickname = os_new("work", 4);
    p1->serviceProviderName = os_new("Operator", 8);
    p1->profileName = os_new("Op Profile 1", 12);
    p1->profileClass = long_new(2);
    rsp_iccid_to_bcd("89000123456789012341", 1, iccid);
    p2->iccid = os_new(iccid, 10);
    p2->profileState = long_new(0);
    p2->profileName = os_new("Test", 4);
    ASN_SEQUENCE_ADD(&r->choice.profileInfoListOk->list, p1);
    ASN_SEQUENCE_ADD(&r->choice.profileInfoListOk->list, p2);
    queue_encoded(&f, "81E2910003BF2D00", &asn_DEF_ProfileInfoListResponse, r);
    rsp_asn1_free(&asn_DEF_ProfileInfoListResponse, r);
    /* profileInfoListError (ProfileInfoListError = 1, incorrectInputValues) */
    fake_addh(&f, "81E2910003BF2D00", "BF2D03810101" "9000");

    CU_ASSERT_RC(open_fake(&ctx, &f, 1, 0, 0), 0);
    CU_ASSERT_RC(lpa_get_profiles_info(&ctx, &list), 0);
    CU_ASSERT(list.error == 0);
    CU_ASSERT_FATAL(list.count == 2);
    CU_ASSERT_STRING_EQUAL(list.items[0].iccid, "8944476500001224158");
    CU_ASSERT_STRING_EQUAL(list.items[0].isdp_aid, "A0000005591010FFFFFFFF8900001000");
    CU_ASSERT(list.items[0].state == LPA_PROFILE_STATE_ENABLED);
    CU_ASSERT(list.items[0].profile_class == LPA_PROFILE_CLASS_OPERATIONAL);
    CU_ASSERT_STRING_EQUAL(list.items[0].nickname, "work");
    CU_ASSERT_STRING_EQUAL(list.items[0].spn, "Operator");
    CU_ASSERT_STRING_EQUAL(list.items[0].name, "Op Profile 1");
    CU_ASSERT_STRING_EQUAL(list.items[1].iccid, "89000123456789012341");
    CU_ASSERT_STRING_EQUAL(list.items[1].isdp_aid, "");
    CU_ASSERT(list.items[1].state == LPA_PROFILE_STATE_DISABLED);
    CU_ASSERT(list.items[1].profile_class == LPA_PROFILE_CLASS_ABSENT);
    CU_ASSERT(list.items[1].nickname == NULL && list.items[1].spn == NULL);
    lpa_profile_list_free(&list);
    CU_ASSERT(list.items == NULL && list.count == 0);
    CU_ASSERT_RC(lpa_get_profiles_info(&ctx, &list), 0);
    CU_ASSERT(list.error == 1 && list.count == 0);
    lpa_profile_list_free(&list);
    lpa_close(&ctx);
    fake_done(&f);
}

/* GetProfilesInfo searchCriteria (§5.7.15): the exact request for each
 * kind - [0] CHOICE explicit (A0) around 4F / 5A / 95 - and the tagList
 * (5C); the card's answer holds only the fields asked for. */
static void test_profiles_query(void)
{
    struct fake f = { 0 };
    struct lpa_ctx ctx;
    struct lpa_profile_list list;
    struct lpa_profile_query q = { 0 };

    /* ICCID 8944476500001224158 (BCD, nibbles swapped, F filler) */
    fake_addh(&f, "81E2910011" "BF2D0E" "A00C" "5A0A984474560000214251F8", "BF2D02A0009000");
    /* ISD-P AID */
    fake_addh(&f, "81E2910017" "BF2D14" "A012" "4F10A0000005591010FFFFFFFF8900001000",
              "BF2D02A0009000");
    /* profileClass operational (2) */
    fake_addh(&f, "81E2910008" "BF2D05" "A003" "950102", "BF2D02A0009000");
    /* profileClass test (0) with a tagList: iccid, profileState, profileName;
     * the answer: one ProfileInfo (E3) with just those */
    fake_addh(&f, "81E291000E" "BF2D0B" "A003" "950100" "5C045A9F7092",
              "BF2D1A" "A018" "E316" "5A0A98001032547698103214" "9F700101" "920454657374"
              "9000");
    /* a tagList alone, every field in bit order */
    fake_addh(&f, "81E291000D" "BF2D0A" "5C085A4F9F7090919295", "BF2D03810101" "9000");

    CU_ASSERT_RC(open_fake(&ctx, &f, 1, 0, 0), 0);
    q.search = LPA_SEARCH_ICCID;
    q.id = "8944476500001224158";
    CU_ASSERT_RC(lpa_get_profiles_info_query(&ctx, &q, &list), 0);
    CU_ASSERT(list.error == 0 && list.count == 0 && list.items == NULL);
    lpa_profile_list_free(&list);
    q.search = LPA_SEARCH_AID;
    q.id = "A0000005591010FFFFFFFF8900001000";
    CU_ASSERT_RC(lpa_get_profiles_info_query(&ctx, &q, &list), 0);
    lpa_profile_list_free(&list);
    q.search = LPA_SEARCH_CLASS;
    q.id = NULL;
    q.profile_class = LPA_PROFILE_CLASS_OPERATIONAL;
    CU_ASSERT_RC(lpa_get_profiles_info_query(&ctx, &q, &list), 0);
    lpa_profile_list_free(&list);

    q.profile_class = LPA_PROFILE_CLASS_TEST;
    q.fields = LPA_PI_ICCID | LPA_PI_STATE | LPA_PI_NAME;
    CU_ASSERT_RC(lpa_get_profiles_info_query(&ctx, &q, &list), 0);
    CU_ASSERT(list.error == 0);
    CU_ASSERT_FATAL(list.count == 1);
    CU_ASSERT_STRING_EQUAL(list.items[0].iccid, "89000123456789012341");
    CU_ASSERT(list.items[0].state == LPA_PROFILE_STATE_ENABLED);
    CU_ASSERT_STRING_EQUAL(list.items[0].name, "Test");
    CU_ASSERT_STRING_EQUAL(list.items[0].isdp_aid, "");
    CU_ASSERT(list.items[0].profile_class == LPA_PROFILE_CLASS_ABSENT);
    CU_ASSERT(list.items[0].nickname == NULL && list.items[0].spn == NULL);
    lpa_profile_list_free(&list);

    q.search = LPA_SEARCH_ALL;
    q.fields = LPA_PI_ICCID | LPA_PI_ISDP_AID | LPA_PI_STATE | LPA_PI_NICKNAME | LPA_PI_SPN |
               LPA_PI_NAME | LPA_PI_CLASS;
    CU_ASSERT_RC(lpa_get_profiles_info_query(&ctx, &q, &list), 0);
    CU_ASSERT(list.error == 1 && list.count == 0);   /* incorrectInputValues, as data */
    lpa_profile_list_free(&list);

    /* malformed queries never reach the card */
    struct lpa_profile_query bad[] = {
        { .search = LPA_SEARCH_ICCID, .id = "89ABC" },
        { .search = LPA_SEARCH_ICCID, .id = NULL },
        { .search = LPA_SEARCH_AID, .id = "A000" },
        { .search = LPA_SEARCH_AID, .id = "A0000005591010FFFFFFFF890000100" },   /* odd */
        { .search = LPA_SEARCH_CLASS, .profile_class = 3 },
        { .search = LPA_SEARCH_CLASS, .profile_class = -1 },
        { .search = (enum lpa_profile_search)99 },
        { .fields = 1u << 7 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        list.count = 99;
        CU_ASSERT_RC(lpa_get_profiles_info_query(&ctx, &bad[i], &list), RSP_ERR_INVAL);
        CU_ASSERT(list.count == 0 && list.items == NULL);
    }
    CU_ASSERT_RC(lpa_get_profiles_info_query(&ctx, &q, NULL), RSP_ERR_INVAL);
    lpa_close(&ctx);
    fake_done(&f);
}

/* LoadCRL (§5.7.12): crl is [0] CertificateList (automatic tags), so the
 * card gets BF35 { A0 <the CRL's contents byte for byte> } (the signature
 * BIT STRING ends in 00: nothing trimmed); the kinds of answer; input that
 * is no CertificateList never reaches the card. */
static void test_load_crl(void)
{
    static const char crl_body[] = "3003020101" "300A06082A8648CE3D040302" "030300FF00";
    static const char crl_hex[] = "3016" "3003020101" "300A06082A8648CE3D040302" "030300FF00";
    struct fake f = { 0 };
    struct lpa_ctx ctx;
    struct lpa_crl_result r;
    size_t n;
    uint8_t *crl = test_hex(crl_hex, &n);
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "81E291001B" "BF3518" "A016%s", crl_body);
    fake_addh(&f, cmd, "BF3502A000" "9000");                      /* ok */
    fake_addh(&f, cmd, "BF350AA008A006020102020103" "9000");      /* ok, parts 2 3 missing */
    fake_addh(&f, cmd, "BF3503810105" "9000");                    /* fresherCrlAlreadyLoaded */
    fake_addh(&f, cmd, "BF3503810100" "9000");                    /* error 0: still an error */
    fake_addh(&f, cmd, "BF350105" "9000");                        /* no LoadCRLResponse */
    fake_addh(&f, cmd, "6A80");
    CU_ASSERT_RC(open_fake(&ctx, &f, 1, 0, 0), 0);

    CU_ASSERT_RC(lpa_es10b_load_crl(&ctx, crl, n, &r), 0);
    CU_ASSERT(r.error == 0 && r.n_missing == 0);
    CU_ASSERT_RC(lpa_es10b_load_crl(&ctx, crl, n, &r), 0);
    CU_ASSERT(r.error == 0);
    CU_ASSERT_FATAL(r.n_missing == 2);
    CU_ASSERT(r.missing[0] == 2 && r.missing[1] == 3);
    CU_ASSERT_RC(lpa_es10b_load_crl(&ctx, crl, n, &r), 0);
    CU_ASSERT(r.error == 5);
    CU_ASSERT_RC(lpa_es10b_load_crl(&ctx, crl, n, &r), 0);
    CU_ASSERT(r.error == 127);
    CU_ASSERT_RC(lpa_es10b_load_crl(&ctx, crl, n, &r), RSP_ERR_DECODE);
    CU_ASSERT(r.error == 0 && r.n_missing == 0);
    CU_ASSERT_RC(lpa_es10b_load_crl(&ctx, crl, n, &r), LPA_ERR_SW);
    CU_ASSERT(lpa_last_sw(&ctx) == 0x6A80);

    /* not a CRL: a truncated one, trailing bytes, no input */
    CU_ASSERT_RC(lpa_es10b_load_crl(&ctx, crl, n - 1, &r), RSP_ERR_INVAL);
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, crl, n);
    longer[n] = 0x00;
    CU_ASSERT_RC(lpa_es10b_load_crl(&ctx, longer, n + 1, &r), RSP_ERR_INVAL);
    CU_ASSERT_RC(lpa_es10b_load_crl(&ctx, (const uint8_t *)"\x04\x01\x00", 3, &r),
                 RSP_ERR_INVAL);
    CU_ASSERT_RC(lpa_es10b_load_crl(&ctx, NULL, 0, &r), RSP_ERR_INVAL);
    CU_ASSERT_RC(lpa_es10b_load_crl(&ctx, crl, n, NULL), RSP_ERR_INVAL);
    free(longer);
    free(crl);
    lpa_close(&ctx);
    fake_done(&f);
}

/* Result codes come back as data, not as C errors. */
static void test_result_codes(void)
{
    struct fake f = { 0 };
    struct lpa_ctx ctx;
    int result = -1;

    fake_addh(&f, NULL, "BF3103800102" "9000");    /* profileNotInDisabledState */
    fake_addh(&f, NULL, "BF3203800100" "9000");
    fake_addh(&f, NULL, "BF3303800101" "9000");
    fake_addh(&f, NULL, "BF300380017F" "9000");
    fake_addh(&f, "81E2910003BF3C00", "BF3C03800161" "9000");  /* malformed: rootDs missing */
    CU_ASSERT_RC(open_fake(&ctx, &f, 1, 0, 0), 0);
    CU_ASSERT_RC(lpa_enable_profile(&ctx, LPA_ID_ICCID, "8944476500001224158", 1, &result), 0);
    CU_ASSERT(result == 2);
    CU_ASSERT_RC(lpa_disable_profile(&ctx, LPA_ID_AID, "A0000005591010FFFFFFFF8900001000", 0,
                                     &result), 0);
    CU_ASSERT(result == 0);
    CU_ASSERT_RC(lpa_delete_profile(&ctx, LPA_ID_ICCID, "8944476500001224158", &result), 0);
    CU_ASSERT(result == 1);
    CU_ASSERT_RC(lpa_remove_notification(&ctx, 5, &result), 0);
    CU_ASSERT(result == 127);
    struct lpa_addresses a;
    CU_ASSERT_RC(lpa_get_configured_addresses(&ctx, &a), RSP_ERR_DECODE);
    CU_ASSERT(a.default_dp == NULL && a.root_ds == NULL);
    /* bad identifiers never reach the card */
    CU_ASSERT_RC(lpa_enable_profile(&ctx, LPA_ID_AID, "A0", 0, &result), RSP_ERR_INVAL);
    CU_ASSERT_RC(lpa_delete_profile(&ctx, LPA_ID_ICCID, "89ABC", &result), RSP_ERR_INVAL);
    lpa_close(&ctx);
    fake_done(&f);
}

/* ---- Activation Code ---- */

struct ac_case {
    const char *in;
    int rc;
    const char *address, *matching_id, *oid;
    int cc;
};

static void test_activation_code(void)
{
    static const struct ac_case cases[] = {
        { "LPA:1$smdp.example.com$04386-AGYFT-A74Y8-3F815", 0,
          "smdp.example.com", "04386-AGYFT-A74Y8-3F815", "", 0 },
        { "1$smdp.example.com$", 0, "smdp.example.com", "", "", 0 },
        { "LPA:1$SMDP.EXAMPLE.COM$$1.3.6.1.4.1.31746", 0,
          "SMDP.EXAMPLE.COM", "", "1.3.6.1.4.1.31746", 0 },
        { "LPA:1$smdp.example.com$MID-1$1.3.6.1.4.1.31746$1", 0,
          "smdp.example.com", "MID-1", "1.3.6.1.4.1.31746", 1 },
        { "LPA:1$smdp.example.com$MID-1$$1", 0, "smdp.example.com", "MID-1", "", 1 },
        { "LPA:1$smdp.example.com$MID$", 0, "smdp.example.com", "MID", "", 0 },
        { "lpa:1$smdp.example.com$abc", 0, "smdp.example.com", "abc", "", 0 },
        { "LPA:1$smdp.example.com:8443$X", 0, "smdp.example.com:8443", "X", "", 0 },
        { "LPA:1$localhost$X", 0, "localhost", "X", "", 0 },
        /* malformed */
        { "LPA:1$smdp.example.com", RSP_ERR_DECODE, 0, 0, 0, 0 },      /* no token field */
        { "LPA:smdp.example.com$X", RSP_ERR_DECODE, 0, 0, 0, 0 },      /* missing "1$" */
        { "LPA:2$smdp.example.com$X", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:11$smdp.example.com$X", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "$smdp.example.com$X", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$$X", RSP_ERR_DECODE, 0, 0, 0, 0 },                     /* empty address */
        { "LPA:1$a$X$1.2$1$extra", RSP_ERR_DECODE, 0, 0, 0, 0 },        /* extra field */
        { "LPA:1$a$X$1.2$0", RSP_ERR_DECODE, 0, 0, 0, 0 },              /* flag not "1" */
        { "LPA:1$a$X$1.2$", RSP_ERR_DECODE, 0, 0, 0, 0 },               /* empty flag */
        { "LPA:1$a$X$$11", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$a$X$1.3.$1", RSP_ERR_DECODE, 0, 0, 0, 0 },             /* bad OID */
        { "LPA:1$a$X$3.1", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$a$X$1", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$a$X$1..2", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$a$X$1.2a", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$smdp example.com$X", RSP_ERR_DECODE, 0, 0, 0, 0 },   /* bad characters */
        { "LPA:1$https://smdp.example.com$X", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$.example.com$X", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$example..com$X", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$example.com.$X", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$-example.com$X", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$example.com:$X", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$example.com:123456$X", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$example.com:80a$X", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$example.com$MID 1", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$example.com$MID\n", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:1$example.com$M\xC3\xA9", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { " LPA:1$example.com$X", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:LPA:1$example.com$X", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA:", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "", RSP_ERR_DECODE, 0, 0, 0, 0 },
        { "LPA", RSP_ERR_DECODE, 0, 0, 0, 0 },
    };
    struct lpa_activation_code ac;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct ac_case *c = &cases[i];
        int rc = lpa_ac_parse(c->in, &ac);
        if (rc != c->rc)
            fprintf(stderr, "\n  AC \"%s\": rc %d, want %d\n", c->in, rc, c->rc);
        CU_ASSERT(rc == c->rc);
        if (rc == 0 && c->rc == 0) {
            CU_ASSERT_STRING_EQUAL(ac.address, c->address);
            CU_ASSERT_STRING_EQUAL(ac.matching_id, c->matching_id);
            CU_ASSERT_STRING_EQUAL(ac.oid, c->oid);
            CU_ASSERT(ac.cc_required == c->cc);
        } else {
            CU_ASSERT(ac.address[0] == '\0' && ac.cc_required == 0);
        }
    }

    /* length: 255 characters after "LPA:" is the maximum */
    char s[300];
    strcpy(s, "LPA:1$smdp.example.com$");
    size_t base = strlen(s) - 4;
    memset(s + strlen(s), 'A', 255 - base);
    s[4 + 255] = '\0';
    CU_ASSERT_RC(lpa_ac_parse(s, &ac), 0);
    CU_ASSERT(strlen(ac.matching_id) == 255 - base);
    s[4 + 255] = 'A';
    s[4 + 256] = '\0';
    CU_ASSERT_RC(lpa_ac_parse(s, &ac), RSP_ERR_TOOBIG);
    /* a 64-character label is too long for DNS */
    memset(s, 0, sizeof(s));
    strcpy(s, "1$");
    memset(s + 2, 'a', 64);
    strcat(s, ".com$X");
    CU_ASSERT_RC(lpa_ac_parse(s, &ac), RSP_ERR_DECODE);
    memset(s, 0, sizeof(s));
    strcpy(s, "1$");
    memset(s + 2, 'a', 63);
    strcat(s, ".com$X");
    CU_ASSERT_RC(lpa_ac_parse(s, &ac), 0);
    CU_ASSERT_RC(lpa_ac_parse(NULL, &ac), RSP_ERR_INVAL);
    CU_ASSERT_RC(lpa_ac_parse("1$a$b", NULL), RSP_ERR_INVAL);
}

CU_TestInfo lpa_tests[] = {
    { "segment_120", test_segment_120 },
    { "segment_255", test_segment_255 },
    { "single_block", test_single_block },
    { "61xx_chain", test_61xx_chain },
    { "6cxx", test_6cxx },
    { "error_sw_mid_sequence", test_error_sw_mid_sequence },
    { "channel_cla", test_channel_cla },
    { "limits", test_limits },
    { "get_eid", test_get_eid },
    { "get_profiles_info", test_get_profiles_info },
    { "profiles_query", test_profiles_query },
    { "load_crl", test_load_crl },
    { "result_codes", test_result_codes },
    { "activation_code", test_activation_code },
    CU_TEST_INFO_NULL,
};
