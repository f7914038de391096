/*
 * test_lpa_drivers.c - suite "lpa_drivers": the APDU drivers of
 * liblpa-drivers (lpa_drivers.h) and the lpa CLI, against real simulated
 * cards: MANAGE CHANNEL + SELECT ISD-R (SGP.22 v2.5 §2.2.3) then ES10
 * (§5.7) over the in-process driver, over euiccd's TCP framing (server in a
 * thread on a free loopback port), and build/bin/lpa --json run with popen.
 * The PC/SC path (pcscd + vpcd + euiccd --vpcd) is tests/pcsc.sh, run by
 * the last case.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "euicc.private.h"
#include "euicc_fixture.h"
#include "euiccd.h"
#include "lpa.h"
#include "lpa_drivers.h"
#include "lpa_es10b.h"
#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_test.h"
#include "rsp_util.h"

#include "StoreMetadataRequest.h"

#define ICCID_A "8944476500000000017"
#define ICCID_B "8944476500000000025"

/* Put a profile straight into the card's state, so these tests need no
 * download. */
static void add_profile(struct euicc *e, const char *iccid, uint8_t aid_last, int state)
{
    const struct euicc_fixture_profile p = {
        .iccid = iccid, .aid_last = aid_last, .state = state, .name = "Profile A", .cls = 2,
    };
    euicc_fixture_add_profile(e, &p);
}

/* A fixture card with one disabled profile; 0 on success. */
static int card_with_profile(struct euicc_fixture *f)
{
    int rc = euicc_fixture_open(f, NULL);

    CU_ASSERT_RC(rc, 0);
    if (rc)
        return rc;
    add_profile(f->card, ICCID_A, 0x01, EUICC_PROFILE_DISABLED);
    return 0;
}

static void check_eid_and_list(struct lpa_ctx *ctx, int want_state)
{
    struct lpa_profile_list l = { 0 };
    char eid[33];

    CU_ASSERT_RC(lpa_get_eid(ctx, eid), 0);
    if (euicc_fixture_eid())
        CU_ASSERT_STRING_EQUAL(eid, euicc_fixture_eid());
    CU_ASSERT_RC(lpa_get_profiles_info(ctx, &l), 0);
    CU_ASSERT_EQUAL(l.error, 0);
    CU_ASSERT_EQUAL_FATAL(l.count, 1);
    CU_ASSERT_STRING_EQUAL(l.items[0].iccid, ICCID_A);
    CU_ASSERT_STRING_EQUAL(l.items[0].isdp_aid, "A0000005591010FFFFFFFF8900001001");
    CU_ASSERT_EQUAL(l.items[0].state, want_state);
    lpa_profile_list_free(&l);
}

/* ICCID_A (operational, disabled, AID ..01) and ICCID_B (test, enabled,
 * AID ..02). */
static int card_with_two_profiles(struct euicc_fixture *f)
{
    if (card_with_profile(f))
        return -1;
    add_profile(f->card, ICCID_B, 0x02, EUICC_PROFILE_ENABLED);
    f->card->st.profiles[1].profile_class = LPA_PROFILE_CLASS_TEST;
    CU_ASSERT_RC(euicc_commit(f->card), 0);
    return 0;
}

/* A real CRL (RFC 5280 §5.1: v2, issuer, thisUpdate/nextUpdate, one
 * revoked serial, ECDSA P-256 with SHA-256) written to path as DER. */
static int write_crl(const char *path)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509_CRL *crl = X509_CRL_new();
    X509_REVOKED *rv = X509_REVOKED_new();
    X509_NAME *name = X509_NAME_new();
    ASN1_TIME *t0 = ASN1_TIME_set(NULL, time(NULL)), *t1 = ASN1_TIME_adj(NULL, time(NULL), 1, 0);
    ASN1_INTEGER *serial = ASN1_INTEGER_new();
    unsigned char *der = NULL;
    int n = -1, ok;
    FILE *fp;

    ok = key && crl && rv && name && t0 && t1 && serial &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"Test CI", -1, -1, 0) &&
         X509_CRL_set_version(crl, X509_CRL_VERSION_2) && X509_CRL_set_issuer_name(crl, name) &&
         X509_CRL_set1_lastUpdate(crl, t0) && X509_CRL_set1_nextUpdate(crl, t1) &&
         ASN1_INTEGER_set(serial, 4242) && X509_REVOKED_set_serialNumber(rv, serial) &&
         X509_REVOKED_set_revocationDate(rv, t0) && X509_CRL_add0_revoked(crl, rv);
    if (ok)
        rv = NULL;   /* owned by crl */
    ok = ok && X509_CRL_sort(crl) && X509_CRL_sign(crl, key, EVP_sha256()) > 0 &&
         (n = i2d_X509_CRL(crl, &der)) > 0;
    if (ok && (fp = fopen(path, "wb"))) {
        ok = fwrite(der, 1, (size_t)n, fp) == (size_t)n;
        ok = fclose(fp) == 0 && ok;
    } else {
        ok = 0;
    }
    OPENSSL_free(der);
    ASN1_INTEGER_free(serial);
    ASN1_TIME_free(t0);
    ASN1_TIME_free(t1);
    X509_NAME_free(name);
    X509_REVOKED_free(rv);
    X509_CRL_free(crl);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *p = malloc(65536);
    *len = fp && p ? fread(p, 1, 65536, fp) : 0;
    if (fp)
        fclose(fp);
    return p;
}

static void query(struct lpa_ctx *ctx, enum lpa_profile_search kind, const char *id, int cls,
                  unsigned fields, struct lpa_profile_list *l)
{
    struct lpa_profile_query q = { .search = kind, .id = id, .profile_class = cls,
                                   .fields = fields };
    CU_ASSERT_RC(lpa_get_profiles_info_query(ctx, &q, l), 0);
    CU_ASSERT_EQUAL(l->error, 0);
}

/* GetProfilesInfo searchCriteria and tagList, LoadCRL, end to end on the
 * simulated card (its euicc_es10c / euicc_es10b decode what liblpa sent). */
static void test_inproc_query_and_crl(void)
{
    struct euicc_fixture f;
    struct lpa_drv_inproc *d = NULL;
    struct lpa_apdu_driver drv;
    struct lpa_ctx ctx;
    struct lpa_profile_list l = { 0 };
    struct lpa_crl_result r;
    char path[700];
    uint8_t *crl;
    size_t n;

    if (card_with_two_profiles(&f))
        return;
    CU_ASSERT_RC(lpa_drv_inproc_wrap(f.card, &d, &drv), 0);
    CU_ASSERT_RC(lpa_ctx_init(&ctx, &drv, NULL), 0);
    CU_ASSERT_RC(lpa_open(&ctx), 0);

    query(&ctx, LPA_SEARCH_ALL, NULL, 0, 0, &l);
    CU_ASSERT_EQUAL(l.count, 2);
    lpa_profile_list_free(&l);
    query(&ctx, LPA_SEARCH_ICCID, ICCID_B, 0, 0, &l);
    CU_ASSERT_EQUAL_FATAL(l.count, 1);
    CU_ASSERT_STRING_EQUAL(l.items[0].iccid, ICCID_B);
    CU_ASSERT_STRING_EQUAL(l.items[0].isdp_aid, "A0000005591010FFFFFFFF8900001002");
    CU_ASSERT_EQUAL(l.items[0].state, LPA_PROFILE_STATE_ENABLED);
    CU_ASSERT_EQUAL(l.items[0].profile_class, LPA_PROFILE_CLASS_TEST);
    CU_ASSERT_STRING_EQUAL(l.items[0].spn, "Test SP");
    lpa_profile_list_free(&l);
    query(&ctx, LPA_SEARCH_AID, "A0000005591010FFFFFFFF8900001001", 0, 0, &l);
    CU_ASSERT_EQUAL_FATAL(l.count, 1);
    CU_ASSERT_STRING_EQUAL(l.items[0].iccid, ICCID_A);
    lpa_profile_list_free(&l);
    query(&ctx, LPA_SEARCH_CLASS, NULL, LPA_PROFILE_CLASS_OPERATIONAL, 0, &l);
    CU_ASSERT_EQUAL_FATAL(l.count, 1);
    CU_ASSERT_STRING_EQUAL(l.items[0].iccid, ICCID_A);
    lpa_profile_list_free(&l);
    query(&ctx, LPA_SEARCH_CLASS, NULL, LPA_PROFILE_CLASS_PROVISIONING, 0, &l);
    CU_ASSERT_EQUAL(l.count, 0);
    lpa_profile_list_free(&l);
    query(&ctx, LPA_SEARCH_ICCID, "8944476500000000033", 0, 0, &l);   /* not on the card */
    CU_ASSERT_EQUAL(l.count, 0);
    lpa_profile_list_free(&l);
    /* tagList: only ICCID and class come back */
    query(&ctx, LPA_SEARCH_CLASS, NULL, LPA_PROFILE_CLASS_TEST, LPA_PI_ICCID | LPA_PI_CLASS, &l);
    CU_ASSERT_EQUAL_FATAL(l.count, 1);
    CU_ASSERT_STRING_EQUAL(l.items[0].iccid, ICCID_B);
    CU_ASSERT_EQUAL(l.items[0].profile_class, LPA_PROFILE_CLASS_TEST);
    CU_ASSERT_EQUAL(l.items[0].state, LPA_PROFILE_STATE_ABSENT);
    CU_ASSERT_STRING_EQUAL(l.items[0].isdp_aid, "");
    CU_ASSERT(l.items[0].name == NULL && l.items[0].spn == NULL);
    lpa_profile_list_free(&l);

    snprintf(path, sizeof(path), "%s/test.crl", f.dir);
    CU_ASSERT_RC(write_crl(path), 0);
    crl = slurp(path, &n);
    CU_ASSERT_RC(lpa_es10b_load_crl(&ctx, crl, n, &r), 0);
    CU_ASSERT_EQUAL(r.error, 0);
    CU_ASSERT_EQUAL(r.n_missing, 0);
    free(crl);
    lpa_close(&ctx);
    lpa_drv_inproc_free(d);
    euicc_fixture_close(&f);
}

static void test_inproc_wrap(void)
{
    struct euicc_fixture f;
    struct lpa_drv_inproc *d = NULL;
    struct lpa_apdu_driver drv;
    struct lpa_ctx ctx;

    if (card_with_profile(&f))
        return;
    CU_ASSERT_RC(lpa_drv_inproc_wrap(f.card, &d, &drv), 0);
    CU_ASSERT_RC(lpa_ctx_init(&ctx, &drv, NULL), 0);
    CU_ASSERT_RC(lpa_open(&ctx), 0);
    /* the card gave a logical channel, not the basic one */
    CU_ASSERT(ctx.channel >= 1 && ctx.channel <= LPA_CHANNEL_MAX);
    check_eid_and_list(&ctx, LPA_PROFILE_STATE_DISABLED);
    lpa_close(&ctx);
    lpa_close(&ctx);   /* safe twice */
    lpa_drv_inproc_free(d);
    euicc_fixture_close(&f);
}

static void test_inproc_state_file(void)
{
    struct euicc_fixture f;
    struct lpa_drv_inproc *d = NULL;
    struct lpa_apdu_driver drv;
    struct lpa_ctx ctx;
    int result = -1;

    if (card_with_profile(&f))
        return;
    CU_ASSERT_RC(lpa_drv_inproc_new(f.state_path, &d, &drv), 0);
    CU_ASSERT_RC(lpa_ctx_init(&ctx, &drv, NULL), 0);
    CU_ASSERT_RC(lpa_open(&ctx), 0);
    CU_ASSERT_RC(lpa_enable_profile(&ctx, LPA_ID_ICCID, ICCID_A, 0, &result), 0);
    CU_ASSERT_EQUAL(result, 0);
    lpa_close(&ctx);
    /* a second session reads the state file again: the change persisted */
    CU_ASSERT_RC(lpa_open(&ctx), 0);
    check_eid_and_list(&ctx, LPA_PROFILE_STATE_ENABLED);
    lpa_close(&ctx);
    lpa_drv_inproc_free(d);

    /* constructor argument checks; a missing file fails at connect */
    CU_ASSERT_RC(lpa_drv_inproc_new(NULL, &d, &drv), RSP_ERR_INVAL);
    CU_ASSERT_PTR_NULL(d);
    CU_ASSERT_RC(lpa_drv_inproc_new("/nonexistent/state.json", &d, &drv), 0);
    CU_ASSERT_RC(lpa_ctx_init(&ctx, &drv, NULL), 0);
    CU_ASSERT(lpa_open(&ctx) < 0);
    lpa_drv_inproc_free(d);
    euicc_fixture_close(&f);
}

/* A wrong ISD-R AID: the SELECT fails with 6A82, the channel is closed
 * again and the error is the SW. */
static void test_inproc_wrong_aid(void)
{
    static const uint8_t aid[] = { 0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0x01 };
    struct euicc_fixture f;
    struct lpa_drv_inproc *d = NULL;
    struct lpa_apdu_driver drv;
    struct lpa_options o = { .isdr_aid = aid, .isdr_aid_len = sizeof(aid) };
    struct lpa_ctx ctx;
    int ch = -1;
    uint16_t sw = 0;

    if (euicc_fixture_open(&f, NULL))
        return;
    CU_ASSERT_RC(lpa_drv_inproc_wrap(f.card, &d, &drv), 0);
    CU_ASSERT_RC(lpa_ctx_init(&ctx, &drv, &o), 0);
    CU_ASSERT_RC(lpa_open(&ctx), LPA_ERR_SW);
    /* directly: the SW is reported, and channel 1 is free again */
    CU_ASSERT_RC(drv.connect(drv.ctx), 0);
    CU_ASSERT_RC(lpa_drv_channel_open(drv.transmit, drv.ctx, aid, sizeof(aid), &ch, &sw),
                 LPA_ERR_SW);
    CU_ASSERT_EQUAL(sw, 0x6A82);
    CU_ASSERT_EQUAL(ch, -1);
    lpa_drv_inproc_free(d);
    euicc_fixture_close(&f);
}

struct server {
    struct euicc *card;
    int fd;
    atomic_int stop;
    int rc;
};

static void *serve(void *arg)
{
    struct server *s = arg;

    s->rc = euiccd_serve_tcp(s->card, s->fd, &s->stop);
    return NULL;
}

static void test_tcp(void)
{
    struct euicc_fixture f;
    struct server srv = { 0 };
    struct lpa_drv_tcp *d = NULL;
    struct lpa_apdu_driver drv;
    struct lpa_ctx ctx;
    pthread_t th;
    uint16_t port = 0;
    char addr[32];
    int result = -1;

    if (card_with_profile(&f))
        return;
    srv.card = f.card;
    CU_ASSERT_RC(euiccd_listen("127.0.0.1:0", 0, &srv.fd, &port), 0);
    CU_ASSERT_FATAL(port != 0);
    CU_ASSERT_FATAL(pthread_create(&th, NULL, serve, &srv) == 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);

    CU_ASSERT_RC(lpa_drv_tcp_new(addr, 5000, &d, &drv), 0);
    CU_ASSERT_RC(lpa_ctx_init(&ctx, &drv, NULL), 0);
    CU_ASSERT_RC(lpa_open(&ctx), 0);
    check_eid_and_list(&ctx, LPA_PROFILE_STATE_DISABLED);
    CU_ASSERT_RC(lpa_enable_profile(&ctx, LPA_ID_ICCID, ICCID_A, 0, &result), 0);
    CU_ASSERT_EQUAL(result, 0);
    check_eid_and_list(&ctx, LPA_PROFILE_STATE_ENABLED);
    /* enabling again: the card's result code, not a transport error */
    CU_ASSERT_RC(lpa_enable_profile(&ctx, LPA_ID_ICCID, ICCID_A, 0, &result), 0);
    CU_ASSERT_EQUAL(result, 2);  /* profileNotInDisabledState */
    CU_ASSERT_RC(lpa_disable_profile(&ctx, LPA_ID_AID, "A0000005591010FFFFFFFF8900001001",
                                     0, &result), 0);
    CU_ASSERT_EQUAL(result, 0);
    check_eid_and_list(&ctx, LPA_PROFILE_STATE_DISABLED);
    lpa_close(&ctx);
    /* reconnect: euiccd serves the next client */
    CU_ASSERT_RC(lpa_open(&ctx), 0);
    check_eid_and_list(&ctx, LPA_PROFILE_STATE_DISABLED);
    lpa_close(&ctx);
    lpa_drv_tcp_free(d);

    srv.stop = 1;
    pthread_join(th, NULL);
    close(srv.fd);
    CU_ASSERT_EQUAL(srv.rc, 0);

    /* nothing listens any more: a clear connect error */
    CU_ASSERT_RC(lpa_drv_tcp_new(addr, 2000, &d, &drv), 0);
    CU_ASSERT_RC(lpa_ctx_init(&ctx, &drv, NULL), 0);
    CU_ASSERT_RC(lpa_open(&ctx), RSP_ERR_IO);
    CU_ASSERT(strstr(lpa_drv_tcp_error(d), "connect to euiccd") != NULL);
    lpa_drv_tcp_free(d);
    /* only loopback, well-formed addresses */
    CU_ASSERT_RC(lpa_drv_tcp_new("192.0.2.1:4000", 0, &d, &drv), RSP_ERR_INVAL);
    CU_ASSERT_RC(lpa_drv_tcp_new("127.0.0.1", 0, &d, &drv), RSP_ERR_INVAL);
    CU_ASSERT_RC(lpa_drv_tcp_new("127.0.0.1:70000", 0, &d, &drv), RSP_ERR_INVAL);
    CU_ASSERT_PTR_NULL(d);
    euicc_fixture_close(&f);
}

/* ---- the CLI ---- */

#if defined(__SANITIZE_ADDRESS__)
#define SAN_BUILD 1
#else
#define SAN_BUILD 0
#endif

/* `make test` builds only the runner in its tree: build the programs these
 * cases run (same BUILD, SAN, OPT) once. 0 when they are there. */
static int need_programs(void)
{
    static int done = -1;
    char cmd[2048], cwd[1024];
    const char *b = test_build_dir();
    size_t n;

    if (done >= 0)
        return done;
    if (getcwd(cwd, sizeof(cwd)) && (n = strlen(cwd)) && !strncmp(b, cwd, n) && b[n] == '/')
        b += n + 1;   /* the Makefile's own relative BUILD */
    snprintf(cmd, sizeof(cmd),
             "make -s --no-print-directory BUILD=%s SAN=%d OPT=-O1 %s/bin/lpa %s/bin/euiccd "
             "%s/bin/euicc-tool %s/bin/rsp-pki >/dev/null 2>&1",
             b, SAN_BUILD, b, b, b, b);
    snprintf(cwd, sizeof(cwd), "%s/bin/lpa", test_build_dir());
    /* always: make also rebuilds a stale program */
    done = system(cmd) == 0 && access(cwd, X_OK) == 0 ? 0 : -1;
    if (done)
        fprintf(stderr, "\n  could not build %s\n", cwd);
    return done;
}

/* stdout of the last run_lpa() */
static char lpa_out[65536];

/* Run build/bin/lpa with args (shell words, already quoted); [out] the
 * parsed JSON document of stdout (NULL if none). Returns the exit code. */
static int run_lpa(const char *args, json_t **doc)
{
    char cmd[2048], out[65536];
    json_error_t err;
    size_t n = 0;
    FILE *p;
    int st;

    *doc = NULL;
    snprintf(cmd, sizeof(cmd), "env -u LPA_STATE -u LPA_DRIVER %s/bin/lpa %s 2>/dev/null",
             test_build_dir(), args);
    if (!(p = popen(cmd, "r")))
        return -1;
    while (n < sizeof(out) - 1) {
        size_t r = fread(out + n, 1, sizeof(out) - 1 - n, p);
        if (r == 0)
            break;
        n += r;
    }
    out[n] = 0;
    memcpy(lpa_out, out, n + 1);
    st = pclose(p);
    if (n && strstr(args, "--json")) {
        *doc = json_loads(out, JSON_REJECT_DUPLICATES, &err);
        if (!*doc)
            fprintf(stderr, "\n  lpa %s: not one JSON document: %s\n%s\n", args, err.text, out);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "(absent)";
}

/* chip info --json: the EUICCInfo2 essentials under their SGP.22 names. */
static void chip_info_fields(json_t *i2)
{
    static const char *const versions[] = {"profileVersion", "svn", "euiccFirmwareVer",
                                           "ppVersion"};
    static const char *const lists[] = {"euiccCiPKIdListForVerification",
                                        "euiccCiPKIdListForSigning"};
    json_t *v;
    size_t k;

    for (size_t i = 0; i < 4; i++) {
        const char *s = jstr(i2, versions[i]);
        unsigned a, b, c;
        char end;
        if (sscanf(s, "%u.%u.%u%c", &a, &b, &c, &end) != 3)
            fprintf(stderr, "\n  euiccInfo2.%s = \"%s\"\n", versions[i], s);
        CU_ASSERT_EQUAL(sscanf(s, "%u.%u.%u%c", &a, &b, &c, &end), 3);
    }
    CU_ASSERT(strlen(jstr(i2, "sasAccreditationNumber")) > 0);
    CU_ASSERT(json_integer_value(json_object_get(json_object_get(i2, "extCardResource"),
                                                 "freeNonVolatileMemory")) > 0);
    CU_ASSERT(json_is_integer(json_object_get(json_object_get(i2, "extCardResource"),
                                              "freeVolatileMemory")));
    int usim = 0;
    json_array_foreach(json_object_get(i2, "uiccCapability"), k, v)
        usim |= !strcmp(json_string_value(v), "usimSupport");
    CU_ASSERT_EQUAL(usim, 1);
    for (size_t i = 0; i < 2; i++) {
        json_t *a = json_object_get(i2, lists[i]);
        CU_ASSERT(json_array_size(a) >= 1);
        json_array_foreach(a, k, v)
            CU_ASSERT_EQUAL(strlen(json_string_value(v)), 40);
    }
}

static void test_cli(void)
{
    struct euicc_fixture f;
    json_t *d, *p;
    char a[1024];

    CU_ASSERT_RC(need_programs(), 0);
    if (card_with_profile(&f))
        return;
#define ARGS(...) (snprintf(a, sizeof(a), __VA_ARGS__), a)
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s chip info", f.state_path), &d), 0);
    CU_ASSERT_PTR_NOT_NULL(d);
    if (!d)
        goto out;
    CU_ASSERT_STRING_EQUAL(jstr(d, "command"), "chip info");
    CU_ASSERT(json_is_true(json_object_get(d, "ok")));
    if (euicc_fixture_eid())
        CU_ASSERT_STRING_EQUAL(jstr(d, "eid"), euicc_fixture_eid());
    CU_ASSERT_STRING_EQUAL(jstr(json_object_get(d, "euiccInfo2"), "svn"), "2.5.0");
    chip_info_fields(json_object_get(d, "euiccInfo2"));
    json_decref(d);
    /* the human form names the same essentials */
    CU_ASSERT_RC(run_lpa(ARGS("--state %s chip info", f.state_path), &d), 0);
    {
        static const char *const labels[] = {
            "EID:", "SGP.22 version (svn):   2.5.0", "profile version:", "firmware version:",
            "PP version:", "SAS accreditation:", "free NVM:", "UICC capability:", "usimSupport",
            "CI PKID (verification):", "CI PKID (signing):",
        };
        for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
            if (!strstr(lpa_out, labels[i]))
                fprintf(stderr, "\n  chip info: \"%s\" missing in:\n%s\n", labels[i], lpa_out);
            CU_ASSERT_PTR_NOT_NULL(strstr(lpa_out, labels[i]));
        }
    }

    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s profile list", f.state_path), &d), 0);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(d, "profiles")), 1);
    p = json_array_get(json_object_get(d, "profiles"), 0);
    CU_ASSERT_STRING_EQUAL(jstr(p, "iccid"), ICCID_A);
    CU_ASSERT_STRING_EQUAL(jstr(p, "state"), "disabled");
    CU_ASSERT_STRING_EQUAL(jstr(p, "class"), "operational");
    CU_ASSERT_STRING_EQUAL(jstr(p, "serviceProviderName"), "Test SP");
    json_decref(d);

    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s profile enable " ICCID_A, f.state_path), &d), 0);
    CU_ASSERT(d && json_is_true(json_object_get(d, "ok")));
    json_decref(d);
    /* again: refused by the eUICC's result code -> 4 */
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s profile enable " ICCID_A, f.state_path), &d), 4);
    CU_ASSERT(json_is_false(json_object_get(d, "ok")));
    CU_ASSERT_STRING_EQUAL(jstr(d, "step"), "EnableProfile");
    CU_ASSERT_STRING_EQUAL(jstr(d, "resultName"), "profileNotInDisabledState");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(d, "result")), 2);
    json_decref(d);

    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s profile nickname " ICCID_A " 'My line'",
                              f.state_path), &d), 0);
    json_decref(d);
    CU_ASSERT_RC(run_lpa(ARGS("--state %s --json profile list", f.state_path), &d), 0);
    p = json_array_get(json_object_get(d, "profiles"), 0);
    CU_ASSERT_STRING_EQUAL(jstr(p, "state"), "enabled");
    CU_ASSERT_STRING_EQUAL(jstr(p, "nickname"), "My line");
    json_decref(d);

    /* delete needs confirmation: without --yes and no TTY -> 5 */
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s profile delete " ICCID_B " </dev/null",
                              f.state_path), &d), 5);
    json_decref(d);
    CU_ASSERT_RC(run_lpa(ARGS("--json --yes --state %s profile delete " ICCID_B,
                              f.state_path), &d), 4);
    CU_ASSERT_STRING_EQUAL(jstr(d, "resultName"), "iccidOrAidNotFound");
    json_decref(d);

    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s defaultdp set smdp.example.test",
                              f.state_path), &d), 0);
    json_decref(d);
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s chip info", f.state_path), &d), 0);
    CU_ASSERT_STRING_EQUAL(jstr(d, "defaultDpAddress"), "smdp.example.test");
    json_decref(d);
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s notification list", f.state_path), &d), 0);
    CU_ASSERT(json_is_array(json_object_get(d, "notifications")));
    json_decref(d);

    /* malformed input -> 1 with a JSON failure document */
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s profile enable 12345", f.state_path), &d), 1);
    CU_ASSERT(d && json_is_false(json_object_get(d, "ok")));
    CU_ASSERT_STRING_EQUAL(jstr(d, "step"), "usage");
    json_decref(d);
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s profile nickname 89ABC x", f.state_path), &d), 1);
    json_decref(d);
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s frobnicate", f.state_path), &d), 1);
    json_decref(d);
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s notification remove abc", f.state_path), &d), 1);
    json_decref(d);
    CU_ASSERT_RC(run_lpa("--json profile list", &d), 1);   /* no --state */
    CU_ASSERT(d && strstr(jstr(d, "message"), "--state") != NULL);
    json_decref(d);
    CU_ASSERT_RC(run_lpa("--json --driver bogus profile list", &d), 1);
    json_decref(d);
    CU_ASSERT_RC(run_lpa("profile list --help", &d), 0);
    json_decref(d);
    /* card/driver error -> 2: a state file that does not exist */
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s/none.json chip info", f.dir), &d), 2);
    json_decref(d);
    /* the human form prints no JSON */
    CU_ASSERT_RC(run_lpa(ARGS("--state %s profile list", f.state_path), &d), 0);
    CU_ASSERT_PTR_NULL(d);
    json_decref(d);
#undef ARGS
out:
    euicc_fixture_close(&f);
}

/* profile list with one search criterion, crl load: exit codes and JSON
 * as spec-notes/lpa-cli.md says. */
static void test_cli_search_crl(void)
{
    struct euicc_fixture f;
    json_t *d, *p;
    char a[2048], crl[700], junk[700];
    FILE *fp;

    CU_ASSERT_RC(need_programs(), 0);
    if (card_with_two_profiles(&f))
        return;
#define ARGS(...) (snprintf(a, sizeof(a), __VA_ARGS__), a)
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s profile list --iccid " ICCID_B, f.state_path),
                         &d), 0);
    CU_ASSERT_EQUAL_FATAL(json_array_size(json_object_get(d, "profiles")), 1);
    p = json_array_get(json_object_get(d, "profiles"), 0);
    CU_ASSERT_STRING_EQUAL(jstr(p, "iccid"), ICCID_B);
    CU_ASSERT_STRING_EQUAL(jstr(p, "class"), "test");
    CU_ASSERT_STRING_EQUAL(jstr(p, "state"), "enabled");
    json_decref(d);
    /* after "profile list", --aid is the ISD-P AID to search for */
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s profile list --aid "
                              "A0000005591010FFFFFFFF8900001001", f.state_path), &d), 0);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(d, "profiles")), 1);
    CU_ASSERT_STRING_EQUAL(jstr(json_array_get(json_object_get(d, "profiles"), 0), "iccid"),
                           ICCID_A);
    json_decref(d);
    /* ... and before the command the ISD-R AID, as always */
    CU_ASSERT_RC(run_lpa(ARGS("--json --aid A0000005591010FFFFFFFF8900000100 --state %s "
                              "profile list --class operational", f.state_path), &d), 0);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(d, "profiles")), 1);
    json_decref(d);
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s profile list --class provisioning",
                              f.state_path), &d), 0);
    CU_ASSERT(json_is_array(json_object_get(d, "profiles")));
    CU_ASSERT_EQUAL(json_array_size(json_object_get(d, "profiles")), 0);
    json_decref(d);
    CU_ASSERT_RC(run_lpa(ARGS("--state %s profile list --class test", f.state_path), &d), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(lpa_out, ICCID_B));
    CU_ASSERT_PTR_NULL(strstr(lpa_out, ICCID_A));
    CU_ASSERT_RC(run_lpa(ARGS("--state %s profile list --iccid 8944476500000000033",
                              f.state_path), &d), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(lpa_out, "no matching profile"));
    /* usage errors -> 1, before the card is touched */
    static const char *const bad[] = {
        "--class bogus", "--iccid 12345", "--aid A0", "--iccid " ICCID_A " --class test",
        "--class", "extra",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = run_lpa(ARGS("--json --state %s profile list %s", f.state_path, bad[i]), &d);
        if (rc != 1)
            fprintf(stderr, "\n  profile list %s: exit %d\n", bad[i], rc);
        CU_ASSERT_EQUAL(rc, 1);
        CU_ASSERT_STRING_EQUAL(jstr(d, "step"), "usage");
        json_decref(d);
    }

    snprintf(crl, sizeof(crl), "%s/ci.crl", f.dir);
    snprintf(junk, sizeof(junk), "%s/junk.crl", f.dir);
    CU_ASSERT_RC(write_crl(crl), 0);
    if ((fp = fopen(junk, "wb"))) {
        fputs("-----BEGIN X509 CRL-----\n", fp);   /* PEM is not DER */
        fclose(fp);
    }
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s crl load %s", f.state_path, crl), &d), 0);
    CU_ASSERT(json_is_true(json_object_get(d, "ok")));
    CU_ASSERT_STRING_EQUAL(jstr(d, "command"), "crl load");
    CU_ASSERT(json_is_array(json_object_get(d, "missingParts")));
    json_decref(d);
    CU_ASSERT_RC(run_lpa(ARGS("--state %s crl load %s", f.state_path, crl), &d), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(lpa_out, "CRL loaded"));
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s crl load %s", f.state_path, junk), &d), 1);
    CU_ASSERT(d && strstr(jstr(d, "message"), "CertificateList") != NULL);
    json_decref(d);
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s crl load %s/none.crl", f.state_path, f.dir),
                         &d), 1);
    json_decref(d);
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s crl load", f.state_path), &d), 1);
    json_decref(d);
    /* the card answers a status word -> 2, with the SW */
    setenv("EUICC_FAULT", "sw=6A80@BF35", 1);
    CU_ASSERT_RC(run_lpa(ARGS("--json --state %s crl load %s", f.state_path, crl), &d), 2);
    unsetenv("EUICC_FAULT");
    CU_ASSERT_STRING_EQUAL(jstr(d, "step"), "LoadCRL");
    CU_ASSERT_STRING_EQUAL(jstr(d, "sw"), "6A80");
    json_decref(d);
#undef ARGS
    euicc_fixture_close(&f);
}

/* tests/pcsc.sh: pcscd + vsmartcard vpcd + euiccd --vpcd + lpa --driver
 * pcsc. 77 = skipped (packages missing and not root). */
static void test_pcsc(void)
{
    char cmd[1024];
    int st, rc;

    CU_ASSERT_RC(need_programs(), 0);
    if (access("tests/pcsc.sh", R_OK) != 0) {
        fprintf(stderr, "\n  tests/pcsc.sh not found: run from the source tree\n");
        CU_FAIL("tests/pcsc.sh not found");
        return;
    }
    snprintf(cmd, sizeof(cmd), "sh tests/pcsc.sh %s", test_build_dir());
    st = system(cmd);
    rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (rc == 77) {
        fprintf(stderr, "\n  pcsc.sh skipped (not root, packages missing)\n");
        return;
    }
    CU_ASSERT_RC(rc, 0);
}

CU_TestInfo lpa_drivers_tests[] = {
    { "inproc wrap", test_inproc_wrap },
    { "inproc state file", test_inproc_state_file },
    { "inproc wrong AID", test_inproc_wrong_aid },
    { "tcp euiccd", test_tcp },
    { "inproc query and crl", test_inproc_query_and_crl },
    { "cli json", test_cli },
    { "cli search and crl", test_cli_search_crl },
    { "pcsc end to end", test_pcsc },
    CU_TEST_INFO_NULL,
};
