/* common/: rsp_buf, hex, base64, EID and ICCID helpers. */
#include <stdlib.h>

#include "rsp_buf.h"
#include "rsp_err.h"
#include "rsp_test.h"
#include "rsp_util.h"

static void test_buf_cap(void)
{
    struct rsp_buf b;
    rsp_buf_init(&b, 10);
    CU_ASSERT_RC(rsp_buf_append(&b, "12345", 5), RSP_OK);
    CU_ASSERT_RC(rsp_buf_append(&b, "67890", 5), RSP_OK);
    CU_ASSERT_EQUAL(b.len, 10);
    /* one byte over the cap frees everything */
    CU_ASSERT_RC(rsp_buf_append_byte(&b, 'x'), RSP_ERR_TOOBIG);
    CU_ASSERT_PTR_NULL(b.data);
    CU_ASSERT_EQUAL(b.len, 0);
    /* the buffer stays usable with the same cap */
    CU_ASSERT_RC(rsp_buf_append(&b, "abc", 3), RSP_OK);
    size_t n;
    uint8_t *p = rsp_buf_steal(&b, &n);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT(p && memcmp(p, "abc", 3) == 0);
    free(p);
    CU_ASSERT_PTR_NULL(rsp_buf_steal(&b, &n));
    CU_ASSERT_EQUAL(n, 0);
    /* a size_t-overflowing length is refused, not wrapped */
    rsp_buf_init(&b, SIZE_MAX);
    CU_ASSERT_RC(rsp_buf_append(&b, "a", 1), RSP_OK);
    CU_ASSERT_RC(rsp_buf_append(&b, "a", SIZE_MAX), RSP_ERR_TOOBIG);
    rsp_buf_free(&b);
}

static void test_hex_codec(void)
{
    uint8_t out[4];
    char s[9];
    CU_ASSERT_RC(rsp_hex_decode("0aFf10", 6, out, sizeof(out)), 3);
    CU_ASSERT(out[0] == 0x0A && out[1] == 0xFF && out[2] == 0x10);
    rsp_hex_encode(out, 3, s);
    CU_ASSERT_STRING_EQUAL(s, "0AFF10");
    CU_ASSERT_RC(rsp_hex_decode("0aF", 3, out, sizeof(out)), RSP_ERR_DECODE);
    CU_ASSERT_RC(rsp_hex_decode("0g", 2, out, sizeof(out)), RSP_ERR_DECODE);
    CU_ASSERT_RC(rsp_hex_decode("0011223344", 10, out, sizeof(out)), RSP_ERR_TOOBIG);
}

/* RFC 4648 §10 test vectors. */
static void test_base64_rfc4648(void)
{
    static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    for (size_t i = 0; i < 7; i++) {
        struct rsp_buf b;
        rsp_buf_init(&b, 64);
        CU_ASSERT_RC(rsp_base64_encode((const uint8_t *)plain[i], strlen(plain[i]), &b), RSP_OK);
        CU_ASSERT_BYTES(enc[i], b.data, b.len, (const uint8_t *)enc[i], strlen(enc[i]));
        rsp_buf_free(&b);
        CU_ASSERT_RC(rsp_base64_decode(enc[i], strlen(enc[i]), &b), RSP_OK);
        CU_ASSERT_BYTES(plain[i], b.data, b.len, (const uint8_t *)plain[i], strlen(plain[i]));
        rsp_buf_free(&b);
    }
}

static void test_base64_strict(void)
{
    static const char *const bad[] = {
        "Zg=", "Zg", "Z===", "Zm9v\nYmFy", "Zm 9v", "Zg==Zg==", "Zm=v", "====", "Zm9v!A==",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rsp_buf b;
        rsp_buf_init(&b, 64);
        int rc = rsp_base64_decode(bad[i], strlen(bad[i]), &b);
        if (rc != RSP_ERR_DECODE)
            fprintf(stderr, "\n  accepted bad base64 \"%s\" (rc %d)\n", bad[i], rc);
        CU_ASSERT_EQUAL(rc, RSP_ERR_DECODE);
        rsp_buf_free(&b);
    }
    /* a long input crosses the internal chunking boundary */
    struct rsp_buf e, d;
    uint8_t big[10000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    rsp_buf_init(&e, 20000);
    rsp_buf_init(&d, 20000);
    CU_ASSERT_RC(rsp_base64_encode(big, sizeof(big), &e), RSP_OK);
    CU_ASSERT_RC(rsp_base64_decode((const char *)e.data, e.len, &d), RSP_OK);
    CU_ASSERT_BYTES("10000-byte round trip", d.data, d.len, big, sizeof(big));
    rsp_buf_free(&e);
    rsp_buf_free(&d);
    /* cap applies */
    rsp_buf_init(&d, 10);
    CU_ASSERT_RC(rsp_base64_decode("Zm9vYmFyZm9vYmFy", 16, &d), RSP_ERR_TOOBIG);
    rsp_buf_free(&d);
}

static void test_eid(void)
{
    /* SGP.26 v3 test eUICC */
    CU_ASSERT_RC(rsp_eid_check("89049032123451234512345678901235"), RSP_OK);
    CU_ASSERT_RC(rsp_eid_check("89049032123451234512345678901236"), RSP_ERR_EID);
    CU_ASSERT_RC(rsp_eid_check("8904903212345123451234567890123"), RSP_ERR_EID);
    CU_ASSERT_RC(rsp_eid_check("8904903212345123451234567890123A"), RSP_ERR_EID);
    CU_ASSERT_RC(rsp_eid_check(NULL), RSP_ERR_EID);
    char eid[] = "89049032123451234512345678901200";
    CU_ASSERT_RC(rsp_eid_set_check_digits(eid), RSP_OK);
    CU_ASSERT_STRING_EQUAL(eid, "89049032123451234512345678901235");
    uint8_t b[16];
    char back[33];
    CU_ASSERT_RC(rsp_eid_to_bytes(eid, b), RSP_OK);
    CU_ASSERT(b[0] == 0x89 && b[15] == 0x35);
    rsp_eid_from_bytes(b, back);
    CU_ASSERT_STRING_EQUAL(back, eid);
}

static void test_iccid(void)
{
    /* Luhn: the textbook example 7992739871 -> 3 */
    CU_ASSERT_EQUAL(rsp_luhn_digit("7992739871", 10), 3);
    CU_ASSERT_RC(rsp_iccid_check("89494499999999900236"), RSP_OK);
    CU_ASSERT_RC(rsp_iccid_check("89494499999999900237"), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_iccid_check("8949449999999990023"), RSP_OK); /* 19 digits */
    CU_ASSERT_RC(rsp_iccid_check("8949449999999990024"), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_iccid_check("894944999999999002"), RSP_ERR_INVAL);

    uint8_t bcd[10];
    char s[21];
    size_t n;
    uint8_t *want = test_hex("98944499999999092063", &n);
    CU_ASSERT_RC(rsp_iccid_to_bcd("89494499999999900236", 1, bcd), RSP_OK);
    CU_ASSERT_BYTES("swapped BCD", bcd, 10, want, n);
    free(want);
    CU_ASSERT_RC(rsp_iccid_from_bcd(bcd, 1, s), RSP_OK);
    CU_ASSERT_STRING_EQUAL(s, "89494499999999900236");

    want = test_hex("8949449999999990023F", &n);
    CU_ASSERT_RC(rsp_iccid_to_bcd("8949449999999990023", 0, bcd), RSP_OK);
    CU_ASSERT_BYTES("plain BCD, 19 digits", bcd, 10, want, n);
    free(want);
    CU_ASSERT_RC(rsp_iccid_from_bcd(bcd, 0, s), RSP_OK);
    CU_ASSERT_STRING_EQUAL(s, "8949449999999990023");

    /* a digit after the F padding, or a nibble A-E, is malformed */
    uint8_t bad[10] = { 0x89, 0x49, 0x44, 0x99, 0x99, 0x99, 0x99, 0x90, 0x02, 0xF3 };
    CU_ASSERT_RC(rsp_iccid_from_bcd(bad, 0, s), RSP_ERR_DECODE);
    bad[9] = 0x3A;
    CU_ASSERT_RC(rsp_iccid_from_bcd(bad, 0, s), RSP_ERR_DECODE);
    CU_ASSERT_RC(rsp_iccid_to_bcd("89494499999", 0, bcd), RSP_ERR_INVAL);
}

CU_TestInfo util_tests[] = {
    { "buf_cap", test_buf_cap },
    { "hex", test_hex_codec },
    { "base64_rfc4648", test_base64_rfc4648 },
    { "base64_strict", test_base64_strict },
    { "eid", test_eid },
    { "iccid", test_iccid },
    CU_TEST_INFO_NULL,
};
