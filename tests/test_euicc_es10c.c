/*
 * test_euicc_es10c.c - ES10a, ES10c and the notification queue (SGP.22 v2.5
 * §5.7.3-4, §5.7.9-11, §5.7.15-21) on a fixture card.
 *
 * Profiles are injected straight into the card's state (an ISD-P record plus
 * a StoreMetadataRequest encoded here), so these tests do not depend on a
 * profile download. Handlers are called directly with whole ES10 commands;
 * one test goes through APDUs (fixture) when the dispatcher routes them.
 */
#include <stdlib.h>
#include <string.h>

#include "euicc.private.h"
#include "euicc_fixture.h"
#include "rsp_asn1.h"
#include "rsp_crypto.h"
#include "rsp_err.h"
#include "rsp_test.h"
#include "rsp_util.h"
#include "rsp_x509.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ListNotificationResponse.h"
#include "NotificationMetadata.h"
#include "NotificationConfigurationInformation.h"
#include "PendingNotification.h"
#include "ProfileInfo.h"
#include "ProfileInfoListResponse.h"
#include "RetrieveNotificationsListResponse.h"
#include "StoreMetadataRequest.h"

typedef int (*handler_fn)(struct euicc *, const uint8_t *, size_t, struct rsp_buf *);

#define ICCID_A "8944476500000000017"
#define ICCID_B "8944476500000000025"
#define ICCID_C "8944476500000000033"
#define NOTIF_ADDR "notif.example.test"

/* Run a handler on a command given in hex. [out] resp (cap EUICC_ES10_MAX). */
static int run(struct euicc *e, handler_fn h, const char *hex, struct rsp_buf *resp)
{
    size_t n;
    uint8_t *cmd = test_hex(hex, &n);
    int rc;

    rsp_buf_init(resp, EUICC_ES10_MAX);
    rc = h(e, cmd, n, resp);
    free(cmd);
    return rc;
}

/* Run and compare the whole response with want_hex. */
static void expect(struct euicc *e, handler_fn h, const char *hex, const char *want_hex)
{
    struct rsp_buf r;
    size_t wn;
    uint8_t *want = test_hex(want_hex, &wn);

    CU_ASSERT_RC(run(e, h, hex, &r), 0);
    CU_ASSERT_BYTES(hex, r.data, r.len, want, wn);
    rsp_buf_free(&r);
    free(want);
}

static void expect_sw(struct euicc *e, handler_fn h, const char *hex, int sw)
{
    struct rsp_buf r;

    CU_ASSERT_RC(run(e, h, hex, &r), sw);
    rsp_buf_free(&r);
}

/* hex of the 10-byte Iccid (nibble-swapped BCD) */
static void iccid_hex(const char *iccid, char out[21])
{
    uint8_t b[10];

    CU_ASSERT_RC(rsp_iccid_to_bcd(iccid, 1, b), 0);
    rsp_hex_encode(b, sizeof(b), out);
}

/* Add a disabled (or enabled) profile with metadata (and an icon) to the
 * card and commit. events: NotificationEvent mask configured to NOTIF_ADDR
 * (0 = none). */
static void add_profile(struct euicc *e, const char *iccid, uint8_t aid_last, int state,
                        uint32_t ppr, int cls, uint32_t events)
{
    const struct euicc_fixture_profile p = {
        .iccid = iccid, .aid_last = aid_last, .state = state, .icon = 1, .cls = cls,
        .ppr = ppr, .events = events, .notif_addr = NOTIF_ADDR,
    };
    euicc_fixture_add_profile(e, &p);
}

static int profile_state(struct euicc *e, const char *iccid)
{
    int i = euicc_find_profile_by_iccid(e, iccid);
    return i < 0 ? -1 : e->st.profiles[i].state;
}

/* "BF31 11 5A0A <iccid> 0101FF"-style commands by ICCID or AID */
static void cmd_by_iccid(char *out, size_t max, const char *tag, const char *iccid,
                         int with_refresh)
{
    char h[21];

    iccid_hex(iccid, h);
    if (with_refresh)
        snprintf(out, max, "%s%02X%s%s%s", tag, 14 + 3, "A00C5A0A", h, "8101FF");
    else
        snprintf(out, max, "%s%02X%s%s", tag, 12, "5A0A", h);
}

static void result_is(struct euicc *e, handler_fn h, const char *cmd, const char *tag,
                      int code)
{
    char want[32];

    snprintf(want, sizeof(want), "%s038001%02X", tag, code);
    expect(e, h, cmd, want);
}

/* ---- GetEID / ES10a ------------------------------------------------------ */

static void test_get_eid(void)
{
    struct euicc_fixture f;
    char want[64];
    uint8_t eid[16];

    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    CU_ASSERT_RC(rsp_eid_to_bytes(euicc_fixture_eid(), eid), 0);
    strcpy(want, "BF3E125A10");
    rsp_hex_encode(eid, 16, want + strlen(want));
    expect(f.card, euicc_es10c_get_eid, "BF3E035C015A", want);
    expect_sw(f.card, euicc_es10c_get_eid, "BF3E035C014F", 0x6A80);   /* wrong tagList */
    expect_sw(f.card, euicc_es10c_get_eid, "BF3E045C025A5A", 0x6A80); /* Octet1 */
    expect_sw(f.card, euicc_es10c_get_eid, "BF3E035C", 0x6A80);       /* truncated */
    expect_sw(f.card, euicc_es10c_get_eid, "BF3E00", 0x6A80);         /* missing */
    euicc_fixture_close(&f);
}

static void test_addresses(void)
{
    struct euicc_fixture f;
    struct rsp_buf r;
    struct rsp_tlv t, a;
    char cmd[700];

    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    f.card->st.default_dp[0] = 0;
    snprintf(f.card->st.root_ds, sizeof(f.card->st.root_ds), "%s", "lpa.ds.example");
    /* no default: only rootDsAddress [1] */
    expect(f.card, euicc_es10a_get_addresses, "BF3C00",
           "BF3C10810E6C70612E64732E6578616D706C65");
    /* SetDefaultDpAddress "smdp.test" then read back, also after a reopen */
    result_is(f.card, euicc_es10a_set_default_dp, "BF3F0B8009736D64702E74657374", "BF3F", 0);
    CU_ASSERT_STRING_EQUAL(f.card->st.default_dp, "smdp.test");
    CU_ASSERT_FATAL(euicc_fixture_reopen(&f) == 0);
    CU_ASSERT_STRING_EQUAL(f.card->st.default_dp, "smdp.test");
    CU_ASSERT_RC(run(f.card, euicc_es10a_get_addresses, "BF3C00", &r), 0);
    CU_ASSERT_RC(rsp_tlv_parse(r.data, r.len, &t), 0);
    CU_ASSERT_RC(rsp_tlv_find(t.val, t.val_len, 0x80, &a), 0);
    CU_ASSERT_BYTES("defaultDpAddress", a.val, a.val_len, (const uint8_t *)"smdp.test", 9);
    rsp_buf_free(&r);
    /* empty clears it */
    result_is(f.card, euicc_es10a_set_default_dp, "BF3F028000", "BF3F", 0);
    CU_ASSERT_STRING_EQUAL(f.card->st.default_dp, "");
    /* 256 bytes: longer than an FQDN -> undefinedError */
    strcpy(cmd, "BF3F820104"); /* 80 82 0100 + 256 bytes = 0x104 */
    strcat(cmd, "80820100");
    for (int i = 0; i < 256; i++)
        strcat(cmd, "61");
    result_is(f.card, euicc_es10a_set_default_dp, cmd, "BF3F", 127);
    CU_ASSERT_STRING_EQUAL(f.card->st.default_dp, "");
    /* malformed */
    expect_sw(f.card, euicc_es10a_set_default_dp, "BF3F00", 0x6A80);
    expect_sw(f.card, euicc_es10a_set_default_dp, "BF3F038101", 0x6A80);
    expect_sw(f.card, euicc_es10a_get_addresses, "BF3C", 0x6A80);
    expect_sw(f.card, euicc_es10a_get_addresses, "BF3D00", 0x6A80);
    euicc_fixture_close(&f);
}

/* ---- Enable / Disable / Delete ------------------------------------------ */

static void test_enable_disable_delete(void)
{
    struct euicc_fixture f;
    char cmd[128];

    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    add_profile(f.card, ICCID_A, 0x01, EUICC_PROFILE_DISABLED, 0, 2, 0);
    add_profile(f.card, ICCID_B, 0x02, EUICC_PROFILE_DISABLED, 0, 2, 0);

    /* enable A by ICCID */
    cmd_by_iccid(cmd, sizeof(cmd), "BF31", ICCID_A, 1);
    result_is(f.card, euicc_es10c_enable, cmd, "BF31", 0);
    CU_ASSERT_EQUAL(profile_state(f.card, ICCID_A), EUICC_PROFILE_ENABLED);
    /* again: profileNotInDisabledState */
    result_is(f.card, euicc_es10c_enable, cmd, "BF31", 2);
    /* enable B by AID: A gets disabled, and that is persistent */
    result_is(f.card, euicc_es10c_enable,
              "BF3117A0124F10A0000005591010FFFFFFFF8900001002810100", "BF31", 0);
    CU_ASSERT_FATAL(euicc_fixture_reopen(&f) == 0);
    CU_ASSERT_EQUAL(profile_state(f.card, ICCID_A), EUICC_PROFILE_DISABLED);
    CU_ASSERT_EQUAL(profile_state(f.card, ICCID_B), EUICC_PROFILE_ENABLED);
    /* unknown ICCID / AID */
    cmd_by_iccid(cmd, sizeof(cmd), "BF31", ICCID_C, 1);
    result_is(f.card, euicc_es10c_enable, cmd, "BF31", 1);
    result_is(f.card, euicc_es10c_enable, "BF310AA0054F03A00000810100", "BF31", 1);

    /* disable A (disabled): profileNotInEnabledState; B: ok */
    cmd_by_iccid(cmd, sizeof(cmd), "BF32", ICCID_A, 1);
    result_is(f.card, euicc_es10c_disable, cmd, "BF32", 2);
    cmd_by_iccid(cmd, sizeof(cmd), "BF32", ICCID_B, 1);
    result_is(f.card, euicc_es10c_disable, cmd, "BF32", 0);
    CU_ASSERT_EQUAL(profile_state(f.card, ICCID_B), EUICC_PROFILE_DISABLED);
    cmd_by_iccid(cmd, sizeof(cmd), "BF32", ICCID_C, 1);
    result_is(f.card, euicc_es10c_disable, cmd, "BF32", 1);

    /* delete: enabled -> profileNotInDisabledState; disabled -> ok, gone */
    cmd_by_iccid(cmd, sizeof(cmd), "BF31", ICCID_A, 1);
    result_is(f.card, euicc_es10c_enable, cmd, "BF31", 0);
    cmd_by_iccid(cmd, sizeof(cmd), "BF33", ICCID_A, 0);
    result_is(f.card, euicc_es10c_delete, cmd, "BF33", 2);
    result_is(f.card, euicc_es10c_delete, "BF33124F10A0000005591010FFFFFFFF8900001002",
              "BF33", 0);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 1);
    CU_ASSERT_EQUAL(euicc_find_profile_by_iccid(f.card, ICCID_B), -1);
    result_is(f.card, euicc_es10c_delete, "BF33124F10A0000005591010FFFFFFFF8900001002",
              "BF33", 1);
    CU_ASSERT_FATAL(euicc_fixture_reopen(&f) == 0);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 1);
    euicc_fixture_close(&f);
}

static void test_ppr(void)
{
    struct euicc_fixture f;
    char cmd[128];

    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    add_profile(f.card, ICCID_A, 0x01, EUICC_PROFILE_ENABLED, 1u << 1, 2, 0);  /* PPR1 */
    add_profile(f.card, ICCID_B, 0x02, EUICC_PROFILE_DISABLED, 0, 2, 0);
    add_profile(f.card, ICCID_C, 0x03, EUICC_PROFILE_DISABLED, 1u << 2, 2, 0); /* PPR2 */
    cmd_by_iccid(cmd, sizeof(cmd), "BF32", ICCID_A, 1);
    result_is(f.card, euicc_es10c_disable, cmd, "BF32", 3);
    /* enabling B would disable A */
    cmd_by_iccid(cmd, sizeof(cmd), "BF31", ICCID_B, 1);
    result_is(f.card, euicc_es10c_enable, cmd, "BF31", 3);
    CU_ASSERT_EQUAL(profile_state(f.card, ICCID_A), EUICC_PROFILE_ENABLED);
    CU_ASSERT_EQUAL(profile_state(f.card, ICCID_B), EUICC_PROFILE_DISABLED);
    cmd_by_iccid(cmd, sizeof(cmd), "BF33", ICCID_C, 0);
    result_is(f.card, euicc_es10c_delete, cmd, "BF33", 3);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 3);
    cmd_by_iccid(cmd, sizeof(cmd), "BF33", ICCID_B, 0);
    result_is(f.card, euicc_es10c_delete, cmd, "BF33", 0);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 2);
    euicc_fixture_close(&f);
}

/* ---- GetProfilesInfo ------------------------------------------------------ */

static ProfileInfoListResponse_t *profiles_info(struct euicc *e, const char *hex)
{
    struct rsp_buf r;
    ProfileInfoListResponse_t *pl = NULL;

    CU_ASSERT_RC(run(e, euicc_es10c_get_profiles_info, hex, &r), 0);
    CU_ASSERT_RC(rsp_asn1_decode(&asn_DEF_ProfileInfoListResponse, r.data, r.len,
                                 EUICC_ES10_MAX, (void **)&pl), 0);
    rsp_buf_free(&r);
    return pl;
}

static int list_count(const ProfileInfoListResponse_t *pl)
{
    if (!pl || pl->present != ProfileInfoListResponse_PR_profileInfoListOk)
        return -1;
    return pl->choice.profileInfoListOk->list.count;
}

static void test_profiles_info(void)
{
    struct euicc_fixture f;
    ProfileInfoListResponse_t *pl;
    const ProfileInfo_t *pi;
    char cmd[128], h[21];
    uint8_t bcd[10];

    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    add_profile(f.card, ICCID_A, 0x01, EUICC_PROFILE_ENABLED, 1u << 1, 2, 0x0E);
    add_profile(f.card, ICCID_B, 0x02, EUICC_PROFILE_DISABLED, 0, 0, 0);

    /* all profiles, all fields */
    pl = profiles_info(f.card, "BF2D00");
    CU_ASSERT_EQUAL(list_count(pl), 2);
    if (list_count(pl) == 2) {
        pi = pl->choice.profileInfoListOk->list.array[0];
        CU_ASSERT_RC(rsp_iccid_to_bcd(ICCID_A, 1, bcd), 0);
        CU_ASSERT_FATAL(pi->iccid && pi->isdpAid && pi->profileState && pi->profileClass);
        CU_ASSERT_BYTES("iccid", pi->iccid->buf, (size_t)pi->iccid->size, bcd, 10);
        CU_ASSERT_EQUAL(pi->isdpAid->size, 16);
        CU_ASSERT_EQUAL(pi->isdpAid->buf[15], 0x01);
        CU_ASSERT_EQUAL(*pi->profileState, 1);
        CU_ASSERT_EQUAL(*pi->profileClass, 2);
        CU_ASSERT_PTR_NULL(pi->profileNickname);
        CU_ASSERT_FATAL(pi->serviceProviderName && pi->profileName && pi->icon && pi->iconType);
        CU_ASSERT_BYTES("spn", pi->serviceProviderName->buf,
                        (size_t)pi->serviceProviderName->size, (const uint8_t *)"Test SP", 7);
        CU_ASSERT_EQUAL(pi->icon->size, 4);
        CU_ASSERT_EQUAL(*pi->iconType, 1);
        CU_ASSERT_FATAL(pi->profilePolicyRules != NULL);
        CU_ASSERT_EQUAL(rsp_asn1_named_bits_get(pi->profilePolicyRules), 1u << 1);
        /* trimmed named bits: ppr1 = 03 02 06 40 */
        CU_ASSERT_EQUAL(pi->profilePolicyRules->size, 1);
        CU_ASSERT_EQUAL(pi->profilePolicyRules->bits_unused, 6);
        CU_ASSERT_FATAL(pi->notificationConfigurationInfo != NULL);
        CU_ASSERT_EQUAL(pi->notificationConfigurationInfo->list.count, 1);
        pi = pl->choice.profileInfoListOk->list.array[1];
        CU_ASSERT_EQUAL(*pi->profileState, 0);
        CU_ASSERT_EQUAL(*pi->profileClass, 0);
        CU_ASSERT_PTR_NULL(pi->profilePolicyRules);
        CU_ASSERT_PTR_NULL(pi->notificationConfigurationInfo);
    }
    rsp_asn1_free(&asn_DEF_ProfileInfoListResponse, pl);

    /* search by ICCID, with a tagList asking for ICCID and state only */
    iccid_hex(ICCID_B, h);
    snprintf(cmd, sizeof(cmd), "BF2D15A00C5A0A%s5C055A9F709F7F", h);
    pl = profiles_info(f.card, cmd);
    CU_ASSERT_EQUAL(list_count(pl), 1);
    if (list_count(pl) == 1) {
        pi = pl->choice.profileInfoListOk->list.array[0];
        CU_ASSERT_PTR_NOT_NULL(pi->iccid);
        CU_ASSERT_PTR_NOT_NULL(pi->profileState);
        CU_ASSERT_PTR_NULL(pi->isdpAid);
        CU_ASSERT_PTR_NULL(pi->profileName);
        CU_ASSERT_PTR_NULL(pi->icon);
        CU_ASSERT_PTR_NULL(pi->profileClass);
    }
    rsp_asn1_free(&asn_DEF_ProfileInfoListResponse, pl);
    /* exact bytes of a minimal answer */
    snprintf(cmd, sizeof(cmd), "BF2D13A00C5A0A%s5C039F70%s", h, "5A");
    {
        char want[80];
        snprintf(want, sizeof(want), "BF2D14A012E3105A0A%s9F700100", h);
        expect(f.card, euicc_es10c_get_profiles_info, cmd, want);
    }

    /* by AID */
    pl = profiles_info(f.card, "BF2D17A0124F10A0000005591010FFFFFFFF89000010015C015A");
    CU_ASSERT_EQUAL(list_count(pl), 1);
    rsp_asn1_free(&asn_DEF_ProfileInfoListResponse, pl);
    /* by class: test(0) -> B only; provisioning(1) -> none */
    pl = profiles_info(f.card, "BF2D05A003950100");
    CU_ASSERT_EQUAL(list_count(pl), 1);
    rsp_asn1_free(&asn_DEF_ProfileInfoListResponse, pl);
    expect(f.card, euicc_es10c_get_profiles_info, "BF2D05A003950101", "BF2D02A000");
    /* unknown ICCID: empty list */
    iccid_hex(ICCID_C, h);
    snprintf(cmd, sizeof(cmd), "BF2D0EA00C5A0A%s", h);
    expect(f.card, euicc_es10c_get_profiles_info, cmd, "BF2D02A000");
    /* truncated multi-byte tag in tagList: incorrectInputValues */
    expect(f.card, euicc_es10c_get_profiles_info, "BF2D035C019F", "BF2D03810101");
    /* malformed */
    expect_sw(f.card, euicc_es10c_get_profiles_info, "BF2D", 0x6A80);
    expect_sw(f.card, euicc_es10c_get_profiles_info, "BF2D03A00100", 0x6A80);
    expect_sw(f.card, euicc_es10c_get_profiles_info, "BF2D05A0035A0100", 0x6A80);
    euicc_fixture_close(&f);
}

static void test_nickname(void)
{
    struct euicc_fixture f;
    char cmd[256], h[21];
    ProfileInfoListResponse_t *pl;

    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    add_profile(f.card, ICCID_A, 0x01, EUICC_PROFILE_DISABLED, 0, 2, 0);
    iccid_hex(ICCID_A, h);
    snprintf(cmd, sizeof(cmd), "BF29125A0A%s90046E69636B", h);
    result_is(f.card, euicc_es10c_set_nickname, cmd, "BF29", 0);
    CU_ASSERT_FATAL(euicc_fixture_reopen(&f) == 0);
    CU_ASSERT_STRING_EQUAL(f.card->st.profiles[0].nickname, "nick");
    pl = profiles_info(f.card, "BF2D035C0190");
    CU_ASSERT_EQUAL(list_count(pl), 1);
    if (list_count(pl) == 1) {
        const ProfileInfo_t *pi = pl->choice.profileInfoListOk->list.array[0];
        CU_ASSERT_FATAL(pi->profileNickname != NULL);
        CU_ASSERT_BYTES("nickname", pi->profileNickname->buf,
                        (size_t)pi->profileNickname->size, (const uint8_t *)"nick", 4);
    }
    rsp_asn1_free(&asn_DEF_ProfileInfoListResponse, pl);
    /* unknown ICCID */
    iccid_hex(ICCID_B, h);
    snprintf(cmd, sizeof(cmd), "BF29125A0A%s90046E69636B", h);
    result_is(f.card, euicc_es10c_set_nickname, cmd, "BF29", 1);
    /* 65 bytes: beyond SIZE(0..64) */
    iccid_hex(ICCID_A, h);
    snprintf(cmd, sizeof(cmd), "BF294F5A0A%s9041", h);
    for (int i = 0; i < 65; i++)
        strcat(cmd, "41");
    expect_sw(f.card, euicc_es10c_set_nickname, cmd, 0x6A80);
    CU_ASSERT_STRING_EQUAL(f.card->st.profiles[0].nickname, "nick");
    /* empty clears */
    snprintf(cmd, sizeof(cmd), "BF290E5A0A%s9000", h);
    result_is(f.card, euicc_es10c_set_nickname, cmd, "BF29", 0);
    CU_ASSERT_STRING_EQUAL(f.card->st.profiles[0].nickname, "");
    expect_sw(f.card, euicc_es10c_set_nickname, "BF29029000", 0x6A80);
    euicc_fixture_close(&f);
}

static void test_memory_reset(void)
{
    struct euicc_fixture f;

    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    add_profile(f.card, ICCID_A, 0x01, EUICC_PROFILE_ENABLED, 3u << 1, 2, 0x0E);
    add_profile(f.card, ICCID_B, 0x02, EUICC_PROFILE_DISABLED, 0, 0, 0);
    snprintf(f.card->st.default_dp, sizeof(f.card->st.default_dp), "dp.example");
    /* no option: nothingToDelete */
    result_is(f.card, euicc_es10c_memory_reset, "BF3403820100", "BF34", 1);
    /* operational: A goes although enabled with PPR1+PPR2, no notification */
    result_is(f.card, euicc_es10c_memory_reset, "BF340482020780", "BF34", 0);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 1);
    CU_ASSERT_EQUAL(euicc_find_profile_by_iccid(f.card, ICCID_A), -1);
    CU_ASSERT_EQUAL(f.card->st.n_notifs, 0);
    result_is(f.card, euicc_es10c_memory_reset, "BF340482020780", "BF34", 1);
    /* test profiles */
    result_is(f.card, euicc_es10c_memory_reset, "BF340482020640", "BF34", 0);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 0);
    /* default SM-DP+ address */
    result_is(f.card, euicc_es10c_memory_reset, "BF340482020520", "BF34", 0);
    CU_ASSERT_STRING_EQUAL(f.card->st.default_dp, "");
    CU_ASSERT_FATAL(euicc_fixture_reopen(&f) == 0);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 0);
    CU_ASSERT_STRING_EQUAL(f.card->st.default_dp, "");
    expect_sw(f.card, euicc_es10c_memory_reset, "BF3400", 0x6A80);
    expect_sw(f.card, euicc_es10c_memory_reset, "BF34038201", 0x6A80);
    euicc_fixture_close(&f);
}

/* ---- notifications -------------------------------------------------------- */

/* Check the OtherSignedNotification der: event, ICCID, signature over the
 * exact tbs bytes with the eUICC certificate's key. */
static void check_signed(struct euicc *e, const uint8_t *der, size_t len, uint32_t event,
                         const char *iccid)
{
    struct rsp_tlv osn, tbs, sig, cert, t;
    size_t pos = 0;
    X509 *x = NULL;
    EVP_PKEY *pk = NULL;
    uint8_t bcd[10];

    CU_ASSERT_RC(rsp_tlv_parse(der, len, &osn), 0);
    CU_ASSERT_EQUAL(osn.tag, 0x30);
    CU_ASSERT_EQUAL(osn.tlv_len, len);
    CU_ASSERT_FATAL(rsp_tlv_next(osn.val, osn.val_len, &pos, &tbs) == 1);
    CU_ASSERT_EQUAL(tbs.tag, 0xBF2F);
    CU_ASSERT_FATAL(rsp_tlv_next(osn.val, osn.val_len, &pos, &sig) == 1);
    CU_ASSERT_EQUAL(sig.tag, 0x5F37);
    CU_ASSERT_FATAL(rsp_tlv_next(osn.val, osn.val_len, &pos, &cert) == 1);
    CU_ASSERT_BYTES("euiccCertificate", cert.tlv, cert.tlv_len, e->st.creds[0].euicc_cert,
                    e->st.creds[0].euicc_cert_len);
    CU_ASSERT_FATAL(rsp_tlv_next(osn.val, osn.val_len, &pos, &t) == 1);
    CU_ASSERT_BYTES("eumCertificate", t.tlv, t.tlv_len, e->st.creds[0].eum_cert,
                    e->st.creds[0].eum_cert_len);
    CU_ASSERT_EQUAL(rsp_tlv_next(osn.val, osn.val_len, &pos, &t), 0);
    /* profileManagementOperation [1]: one named bit, trimmed */
    CU_ASSERT_RC(rsp_tlv_find(tbs.val, tbs.val_len, 0x81, &t), 0);
    {
        uint8_t want[2] = { (uint8_t)(7 - event), (uint8_t)(0x80 >> event) };
        CU_ASSERT_BYTES("event", t.val, t.val_len, want, 2);
    }
    CU_ASSERT_RC(rsp_tlv_find(tbs.val, tbs.val_len, 0x0C, &t), 0);
    CU_ASSERT_BYTES("address", t.val, t.val_len, (const uint8_t *)NOTIF_ADDR,
                    strlen(NOTIF_ADDR));
    CU_ASSERT_RC(rsp_tlv_find(tbs.val, tbs.val_len, 0x5A, &t), 0);
    CU_ASSERT_RC(rsp_iccid_to_bcd(iccid, 1, bcd), 0);
    CU_ASSERT_BYTES("iccid", t.val, t.val_len, bcd, 10);
    CU_ASSERT_RC(rsp_x509_from_der(cert.tlv, cert.tlv_len, &x), 0);
    CU_ASSERT_RC(rsp_x509_get_pubkey(x, &pk), 0);
    if (pk) {
        CU_ASSERT_RC(rsp_ecdsa_verify(pk, tbs.tlv, tbs.tlv_len, sig.val, sig.val_len), 0);
        /* and not over anything else */
        CU_ASSERT_RC(rsp_ecdsa_verify(pk, tbs.val, tbs.val_len, sig.val, sig.val_len),
                     RSP_ERR_VERIFY);
    }
    EVP_PKEY_free(pk);
    X509_free(x);
}

static RetrieveNotificationsListResponse_t *retrieve(struct euicc *e, const char *hex)
{
    struct rsp_buf r;
    RetrieveNotificationsListResponse_t *rl = NULL;

    CU_ASSERT_RC(run(e, euicc_es10b_retrieve_notifications, hex, &r), 0);
    CU_ASSERT_RC(rsp_asn1_decode(&asn_DEF_RetrieveNotificationsListResponse, r.data, r.len,
                                 EUICC_ES10_MAX, (void **)&rl), 0);
    rsp_buf_free(&r);
    return rl;
}

static int retrieve_count(const RetrieveNotificationsListResponse_t *rl)
{
    if (!rl || rl->present != RetrieveNotificationsListResponse_PR_notificationList)
        return -1;
    return rl->choice.notificationList->list.count;
}

static void test_notifications(void)
{
    struct euicc_fixture f;
    struct euicc *e;
    char cmd[128];
    RetrieveNotificationsListResponse_t *rl;
    struct rsp_buf r;
    ListNotificationResponse_t *ln = NULL;
    uint32_t s0;

    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    e = f.card;
    /* A: enable + disable + delete configured; B: nothing */
    add_profile(e, ICCID_A, 0x01, EUICC_PROFILE_DISABLED, 0, 2, 0x0E);
    add_profile(e, ICCID_B, 0x02, EUICC_PROFILE_DISABLED, 0, 2, 0);
    s0 = e->st.next_seq;
    expect(e, euicc_es10b_list_notification, "BF2800", "BF2802A000");

    cmd_by_iccid(cmd, sizeof(cmd), "BF31", ICCID_A, 1);
    result_is(e, euicc_es10c_enable, cmd, "BF31", 0);
    CU_ASSERT_EQUAL(e->st.n_notifs, 1);
    /* B enabled: A's disable notification only (B has none configured) */
    cmd_by_iccid(cmd, sizeof(cmd), "BF31", ICCID_B, 1);
    result_is(e, euicc_es10c_enable, cmd, "BF31", 0);
    CU_ASSERT_EQUAL(e->st.n_notifs, 2);
    cmd_by_iccid(cmd, sizeof(cmd), "BF32", ICCID_B, 1);
    result_is(e, euicc_es10c_disable, cmd, "BF32", 0);
    CU_ASSERT_EQUAL(e->st.n_notifs, 2);
    cmd_by_iccid(cmd, sizeof(cmd), "BF33", ICCID_A, 0);
    result_is(e, euicc_es10c_delete, cmd, "BF33", 0);
    CU_ASSERT_EQUAL(e->st.n_notifs, 3);
    /* persisted in the same commit */
    CU_ASSERT_FATAL(euicc_fixture_reopen(&f) == 0);
    e = f.card;
    CU_ASSERT_EQUAL(e->st.n_notifs, 3);
    CU_ASSERT_EQUAL(e->st.next_seq, s0 + 3);

    /* every one signed and well-formed */
    rl = retrieve(e, "BF2B00");
    CU_ASSERT_EQUAL(retrieve_count(rl), 3);
    rsp_asn1_free(&asn_DEF_RetrieveNotificationsListResponse, rl);
    CU_ASSERT_EQUAL(e->st.notifs[0].event, 1);
    CU_ASSERT_EQUAL(e->st.notifs[1].event, 2);
    CU_ASSERT_EQUAL(e->st.notifs[2].event, 3);
    for (size_t i = 0; i < e->st.n_notifs; i++) {
        CU_ASSERT_EQUAL(e->st.notifs[i].seq, s0 + i);
        check_signed(e, e->st.notifs[i].der, e->st.notifs[i].der_len, e->st.notifs[i].event,
                     ICCID_A);
    }

    /* ListNotification, all and filtered on disable */
    CU_ASSERT_RC(run(e, euicc_es10b_list_notification, "BF2800", &r), 0);
    CU_ASSERT_RC(rsp_asn1_decode(&asn_DEF_ListNotificationResponse, r.data, r.len,
                                 EUICC_ES10_MAX, (void **)&ln), 0);
    CU_ASSERT_FATAL(ln && ln->present == ListNotificationResponse_PR_notificationMetadataList);
    CU_ASSERT_EQUAL(ln->choice.notificationMetadataList->list.count, 3);
    if (ln->choice.notificationMetadataList->list.count == 3) {
        /* the list entry is the tbs of the notification, byte for byte */
        struct rsp_tlv osn, tbs, lst, first;
        size_t pos = 0, pos2 = 0;
        CU_ASSERT_RC(rsp_tlv_parse(e->st.notifs[0].der, e->st.notifs[0].der_len, &osn), 0);
        CU_ASSERT_EQUAL(rsp_tlv_next(osn.val, osn.val_len, &pos, &tbs), 1);
        CU_ASSERT_RC(rsp_tlv_parse(r.data, r.len, &lst), 0);
        CU_ASSERT_RC(rsp_tlv_find(lst.val, lst.val_len, 0xA0, &lst), 0);
        CU_ASSERT_EQUAL(rsp_tlv_next(lst.val, lst.val_len, &pos2, &first), 1);
        CU_ASSERT_BYTES("metadata", first.tlv, first.tlv_len, tbs.tlv, tbs.tlv_len);
    }
    rsp_asn1_free(&asn_DEF_ListNotificationResponse, ln);
    rsp_buf_free(&r);
    ln = NULL;
    CU_ASSERT_RC(run(e, euicc_es10b_list_notification, "BF2804810205", &r), 0x6A80);
    rsp_buf_free(&r);
    CU_ASSERT_RC(run(e, euicc_es10b_list_notification, "BF280481020520", &r), 0);
    CU_ASSERT_RC(rsp_asn1_decode(&asn_DEF_ListNotificationResponse, r.data, r.len,
                                 EUICC_ES10_MAX, (void **)&ln), 0);
    CU_ASSERT_FATAL(ln && ln->present == ListNotificationResponse_PR_notificationMetadataList);
    CU_ASSERT_EQUAL(ln->choice.notificationMetadataList->list.count, 1);
    if (ln->choice.notificationMetadataList->list.count == 1)
        CU_ASSERT_EQUAL(ln->choice.notificationMetadataList->list.array[0]->seqNumber,
                        (long)s0 + 1);
    rsp_asn1_free(&asn_DEF_ListNotificationResponse, ln);
    rsp_buf_free(&r);

    /* Retrieve by seqNumber, by event, unknown seqNumber */
    snprintf(cmd, sizeof(cmd), "BF2B05A0038001%02X", (unsigned)(s0 + 2));
    rl = retrieve(e, cmd);
    CU_ASSERT_EQUAL(retrieve_count(rl), 1);
    if (retrieve_count(rl) == 1)
        CU_ASSERT_EQUAL(rl->choice.notificationList->list.array[0]->present,
                        PendingNotification_PR_otherSignedNotification);
    rsp_asn1_free(&asn_DEF_RetrieveNotificationsListResponse, rl);
    rl = retrieve(e, "BF2B06A00481020410"); /* delete */
    CU_ASSERT_EQUAL(retrieve_count(rl), 1);
    rsp_asn1_free(&asn_DEF_RetrieveNotificationsListResponse, rl);
    expect(e, euicc_es10b_retrieve_notifications, "BF2B05A003800170", "BF2B02A000");

    /* Remove */
    snprintf(cmd, sizeof(cmd), "BF30038001%02X", (unsigned)(s0 + 1));
    result_is(e, euicc_es10b_remove_notification, cmd, "BF30", 0);
    CU_ASSERT_EQUAL(e->st.n_notifs, 2);
    result_is(e, euicc_es10b_remove_notification, cmd, "BF30", 1);
    CU_ASSERT_FATAL(euicc_fixture_reopen(&f) == 0);
    e = f.card;
    CU_ASSERT_EQUAL(e->st.n_notifs, 2);
    result_is(e, euicc_es10b_remove_notification, "BF300380017F", "BF30", 1);
    /* malformed */
    expect_sw(e, euicc_es10b_remove_notification, "BF3000", 0x6A80);
    expect_sw(e, euicc_es10b_remove_notification, "BF30038101", 0x6A80);
    expect_sw(e, euicc_es10b_retrieve_notifications, "BF2B03800101", 0x6A80);
    expect_sw(e, euicc_es10b_list_notification, "BF28", 0x6A80);
    euicc_fixture_close(&f);
}

static void test_notif_queue_full(void)
{
    struct euicc_fixture f;
    struct euicc *e;
    char en[128], dis[128];
    uint32_t s0;

    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    e = f.card;
    add_profile(e, ICCID_A, 0x01, EUICC_PROFILE_DISABLED, 0, 2, 0x06);
    s0 = e->st.next_seq;
    cmd_by_iccid(en, sizeof(en), "BF31", ICCID_A, 1);
    cmd_by_iccid(dis, sizeof(dis), "BF32", ICCID_A, 1);
    for (int i = 0; i < EUICC_MAX_NOTIFS / 2 + 1; i++) {
        result_is(e, euicc_es10c_enable, en, "BF31", 0);
        result_is(e, euicc_es10c_disable, dis, "BF32", 0);
    }
    /* 66 queued into 64 places: the two oldest were dropped */
    CU_ASSERT_EQUAL(e->st.n_notifs, EUICC_MAX_NOTIFS);
    CU_ASSERT_EQUAL(e->st.notifs[0].seq, s0 + 2);
    CU_ASSERT_EQUAL(e->st.notifs[EUICC_MAX_NOTIFS - 1].seq, s0 + EUICC_MAX_NOTIFS + 1);
    euicc_fixture_close(&f);
}

static void test_notif_install(void)
{
    struct euicc_fixture f;
    struct euicc *e;
    struct rsp_buf pir, d, r;
    RetrieveNotificationsListResponse_t *rl;
    uint8_t sig[64];
    char cmd[64];

    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    e = f.card;
    memset(sig, 0x11, sizeof(sig));
    /* BF37 { BF27 { 80 tid, BF2F {seq 9, install, addr}, 06 oid,
     *               A2 { A0 { 4F aid, 04 sima } } }, 5F37 sig } */
    rsp_buf_init(&d, 4096);
    {
        size_t n;
        uint8_t *b = test_hex("BF27" "3A" "8010000102030405060708090A0B0C0D0E0F"
                              "BF2F12" "800109" "81020780" "0C09736D64702E74657374"
                              "0603672B01"
                              "A20CA00A4F05A000000559" "0401AA",
                              &n);
        rsp_buf_append(&d, b, n);
        free(b);
    }
    rsp_buf_init(&pir, 4096);
    CU_ASSERT_RC(rsp_tlv_put_header(&pir, 0xBF37, d.len + 3 + 64), 0);
    rsp_buf_append(&pir, d.data, d.len);
    rsp_tlv_put_header(&pir, 0x5F37, 64);
    rsp_buf_append(&pir, sig, 64);
    e->st.next_seq = 5;
    CU_ASSERT_RC(euicc_notif_queue_install(e, "smdp.test", ICCID_A, pir.data, pir.len), 0);
    CU_ASSERT_EQUAL(e->st.n_notifs, 1);
    CU_ASSERT_EQUAL(e->st.notifs[0].seq, 9);
    CU_ASSERT_EQUAL(e->st.next_seq, 10);
    CU_ASSERT_RC(euicc_commit(e), 0);
    rl = retrieve(e, "BF2B00");
    CU_ASSERT_EQUAL(retrieve_count(rl), 1);
    if (retrieve_count(rl) == 1)
        CU_ASSERT_EQUAL(rl->choice.notificationList->list.array[0]->present,
                        PendingNotification_PR_profileInstallationResult);
    rsp_asn1_free(&asn_DEF_RetrieveNotificationsListResponse, rl);
    /* the PIR comes back byte for byte */
    CU_ASSERT_RC(run(e, euicc_es10b_retrieve_notifications, "BF2B05A003800109", &r), 0);
    {
        struct rsp_tlv t, l;
        CU_ASSERT_RC(rsp_tlv_parse(r.data, r.len, &t), 0);
        CU_ASSERT_RC(rsp_tlv_find(t.val, t.val_len, 0xA0, &l), 0);
        CU_ASSERT_BYTES("pir", l.val, l.val_len, pir.data, pir.len);
    }
    rsp_buf_free(&r);
    /* ListNotification shows it as install */
    snprintf(cmd, sizeof(cmd), "BF280481020780");
    CU_ASSERT_RC(run(e, euicc_es10b_list_notification, cmd, &r), 0);
    CU_ASSERT(r.len > 6);
    rsp_buf_free(&r);
    /* not a PIR */
    CU_ASSERT_RC(euicc_notif_queue_install(e, "smdp.test", ICCID_A, d.data, d.len),
                 RSP_ERR_DECODE);
    CU_ASSERT_EQUAL(e->st.n_notifs, 1);
    rsp_buf_free(&pir);
    rsp_buf_free(&d);
    euicc_fixture_close(&f);
}

/* Garbage into every handler: a status word or a result, never a crash. */
static void test_malformed(void)
{
    static const handler_fn hs[] = {
        euicc_es10a_get_addresses, euicc_es10a_set_default_dp,
        euicc_es10c_get_profiles_info, euicc_es10c_enable, euicc_es10c_disable,
        euicc_es10c_delete, euicc_es10c_memory_reset, euicc_es10c_get_eid,
        euicc_es10c_set_nickname, euicc_es10b_list_notification,
        euicc_es10b_retrieve_notifications, euicc_es10b_remove_notification,
    };
    static const char *const bad[] = {
        "00", "BF", "BF31", "BF3181", "BF318180", "BF3103800100FF",
        "BF31055A0A0000", "BF3108A0065A04000000008101FF",
        "BF3380", "BF2D0AA0085A0A", "BF2B06A0048102FF", "30800000",
        "BF3F8400000001", "BF29FF",
    };
    struct euicc_fixture f;

    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    add_profile(f.card, ICCID_A, 0x01, EUICC_PROFILE_ENABLED, 0, 2, 0x0E);
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
            struct rsp_buf r;
            int rc = run(f.card, hs[i], bad[j], &r);
            if (rc != 0x6A80)
                fprintf(stderr, "\n  handler %zu, input %s: %d\n", i, bad[j], rc);
            CU_ASSERT_EQUAL(rc, 0x6A80);
            rsp_buf_free(&r);
        }
    }
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 1);
    CU_ASSERT_EQUAL(f.card->st.profiles[0].state, EUICC_PROFILE_ENABLED);
    euicc_fixture_close(&f);
}

/* Through the APDU layer (STORE DATA on the ISD-R). */
static void test_apdu_get_eid(void)
{
    struct euicc_fixture f;
    uint8_t *resp = NULL, eid[16];
    size_t rlen = 0;
    uint16_t sw = 0;

    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    CU_ASSERT_RC(euicc_fixture_es10_hex(&f, "BF3E035C015A", &resp, &rlen, &sw), 0);
    CU_ASSERT_EQUAL(sw, 0x9000);
    CU_ASSERT_RC(rsp_eid_to_bytes(euicc_fixture_eid(), eid), 0);
    CU_ASSERT_EQUAL(rlen, 21);
    if (rlen == 21)
        CU_ASSERT_BYTES("eid", resp + 5, 16, eid, 16);
    free(resp);
    euicc_fixture_close(&f);
}

CU_TestInfo euicc_es10c_tests[] = {
    { "GetEID", test_get_eid },
    { "ES10a addresses", test_addresses },
    { "enable/disable/delete", test_enable_disable_delete },
    { "PPR1/PPR2", test_ppr },
    { "GetProfilesInfo", test_profiles_info },
    { "SetNickname", test_nickname },
    { "eUICCMemoryReset", test_memory_reset },
    { "notifications signed/list/retrieve/remove", test_notifications },
    { "notification queue full", test_notif_queue_full },
    { "install notification", test_notif_install },
    { "malformed commands", test_malformed },
    { "GetEID via APDU", test_apdu_get_eid },
    CU_TEST_INFO_NULL,
};
