/*
 * test_smdp_admin.c - `smdp-admin` (smdp_admin_run) and the package ICCID
 * rewrite it relies on (rsp_saip_set_iccid): the PE-Header iccid (plain
 * BCD, TCA Interoperable Profile §8) and EF.ICCID (ETSI TS 102 221 §13.2,
 * nibble-swapped) change, every other element stays byte-identical, and
 * the result installs on the simulated card (SGP.22 §3.1.3 / ES8+) under
 * the new ICCID. Orders: --release (as ES2+ ConfirmOrder with releaseFlag,
 * SGP.22 §5.3.2), --fqdn HOST:PORT and the "$$1" flag of §4.1.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <PE-MF.h>
#include <ProfileElement.h>

#include "euicc_dp.h"
#include "euicc_fixture.h"
#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_saip.h"
#include "rsp_test.h"
#include "rsp_util.h"
#include "smdp_admin.h"
#include "smdp_store.h"

static const char *TS48[] = {
    "TS48v1_A.der", "TS48v2_SAIP2.1_BERTLV.der", "TS48v2_SAIP2.3_NoBERTLV.der",
    "TS48v4_SAIP2.1A_NoBERTLV.der",
};

#define NEW_ICCID "8949449999999990023"   /* 19 digits, Luhn-valid */
#define NEW_ICCID2 "89494499999999900319" /* 20 digits, Luhn-valid */
#define EID_1 "89049032123451234512345678901235"

/* The first 10 bytes of EF.ICCID as the MF element fills them. */
static int ef_iccid_of(const uint8_t *pe_der, size_t len, uint8_t out[10])
{
    ProfileElement_t *pe = NULL;
    int rc = -1;
    if (rsp_asn1_decode(&asn_DEF_ProfileElement, pe_der, len, len, (void **)&pe))
        return -1;
    if (pe->present == ProfileElement_PR_mf) {
        File_t *f = &pe->choice.mf->ef_iccid;
        for (int i = 0; i < f->list.count; i++) {
            if (f->list.array[i]->present == File__Member_PR_fillFileContent &&
                f->list.array[i]->choice.fillFileContent.size >= 10) {
                memcpy(out, f->list.array[i]->choice.fillFileContent.buf, 10);
                rc = 0;
                break;
            }
        }
    }
    rsp_asn1_free(&asn_DEF_ProfileElement, pe);
    return rc;
}

/* new is old with another ICCID: same elements, only header and MF differ,
 * and those carry the new ICCID. */
static void check_rewritten(const char *name, const uint8_t *old, size_t old_len,
                            const uint8_t *nw, size_t nw_len, const char *iccid)
{
    struct rsp_saip_info *a = NULL, *b = NULL;
    uint8_t want[10], got[10];

    CU_ASSERT_RC(rsp_saip_parse(old, old_len, &a), RSP_OK);
    CU_ASSERT_RC(rsp_saip_parse(nw, nw_len, &b), RSP_OK);
    if (!a || !b)
        goto out;
    CU_ASSERT_STRING_EQUAL(b->iccid, iccid);
    CU_ASSERT_EQUAL(a->n_pes, b->n_pes);
    CU_ASSERT_STRING_EQUAL(a->profile_type, b->profile_type);
    CU_ASSERT(a->major == b->major && a->minor == b->minor);
    CU_ASSERT_RC(rsp_iccid_to_bcd(iccid, 1, want), RSP_OK);
    for (size_t i = 0; i < a->n_pes && i < b->n_pes; i++) {
        const uint8_t *pa = old + a->pes[i].offset, *pb = nw + b->pes[i].offset;
        CU_ASSERT_EQUAL(a->pes[i].kind, b->pes[i].kind);
        if (a->pes[i].kind == ProfileElement_PR_mf) {
            CU_ASSERT_RC(ef_iccid_of(pb, b->pes[i].len, got), 0);
            CU_ASSERT_BYTES(name, got, 10, want, 10);
        } else if (a->pes[i].kind != ProfileElement_PR_header) {
            CU_ASSERT_BYTES(a->pes[i].name, pb, b->pes[i].len, pa, a->pes[i].len);
        }
    }
out:
    rsp_saip_info_free(a);
    rsp_saip_info_free(b);
}

static void test_set_iccid(void)
{
    for (size_t i = 0; i < sizeof(TS48) / sizeof(TS48[0]); i++) {
        size_t len;
        char iccid[21];
        uint8_t *pkg = euicc_dp_read_profile(TS48[i], &len, iccid);
        struct rsp_buf nb, back;
        CU_ASSERT_PTR_NOT_NULL_FATAL(pkg);
        CU_ASSERT_STRING_EQUAL(iccid, "89000123456789012341");
        rsp_buf_init(&nb, RSP_SAIP_MAX);
        rsp_buf_init(&back, RSP_SAIP_MAX);
        CU_ASSERT_RC(rsp_saip_set_iccid(pkg, len, i % 2 ? NEW_ICCID2 : NEW_ICCID, &nb), RSP_OK);
        check_rewritten(TS48[i], pkg, len, nb.data, nb.len, i % 2 ? NEW_ICCID2 : NEW_ICCID);
        /* and back: the original bytes, so the header and MF changed in
         * their ICCID only */
        CU_ASSERT_RC(rsp_saip_set_iccid(nb.data, nb.len, iccid, &back), RSP_OK);
        CU_ASSERT_BYTES(TS48[i], back.data, back.len, pkg, len);
        rsp_buf_free(&nb);
        rsp_buf_free(&back);
        free(pkg);
    }
}

static void test_set_iccid_errors(void)
{
    size_t len;
    char iccid[21];
    uint8_t *pkg = euicc_dp_read_profile(TS48[2], &len, iccid);
    struct rsp_buf nb;
    CU_ASSERT_PTR_NOT_NULL_FATAL(pkg);
    rsp_buf_init(&nb, RSP_SAIP_MAX);
    CU_ASSERT_RC(rsp_saip_set_iccid(pkg, len, "12345", &nb), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_saip_set_iccid(pkg, len, "89494499999999900A3", &nb), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_saip_set_iccid(pkg, len - 1, NEW_ICCID, &nb), RSP_ERR_DECODE);
    CU_ASSERT(nb.len == 0 && nb.data == NULL);
    /* too small a cap: nothing half-built is left */
    rsp_buf_init(&nb, 1000);
    CU_ASSERT_RC(rsp_saip_set_iccid(pkg, len, NEW_ICCID, &nb), RSP_ERR_TOOBIG);
    CU_ASSERT(nb.len == 0 && nb.data == NULL);
    /* a package whose MF element was left out: header + end only */
    {
        struct rsp_saip_info *info = NULL;
        uint8_t *cut;
        size_t n0, n1;
        CU_ASSERT_FATAL(rsp_saip_parse(pkg, len, &info) == RSP_OK);
        n0 = info->pes[0].len;
        n1 = info->pes[info->n_pes - 1].len;
        cut = malloc(n0 + n1);
        CU_ASSERT_FATAL(cut != NULL);
        memcpy(cut, pkg, n0);
        memcpy(cut + n0, pkg + info->pes[info->n_pes - 1].offset, n1);
        rsp_buf_init(&nb, RSP_SAIP_MAX);
        CU_ASSERT_RC(rsp_saip_set_iccid(cut, n0 + n1, NEW_ICCID, &nb), RSP_ERR_DECODE);
        free(cut);
        rsp_saip_info_free(info);
    }
    free(pkg);
}

/* ---- the CLI ---- */

static char db_path[PATH_MAX];

static void db_fresh(void)
{
    snprintf(db_path, sizeof(db_path), "%s/smdp-admin-test-%d.db", test_build_dir(),
             (int)getpid());
    unlink(db_path);
    {
        char wal[PATH_MAX + 8];
        snprintf(wal, sizeof(wal), "%s-wal", db_path);
        unlink(wal);
        snprintf(wal, sizeof(wal), "%s-shm", db_path);
        unlink(wal);
    }
}

/* Run smdp-admin --db db_path ARGS...; stdout (first line) into out. */
static int admin(char *out, size_t outlen, ...)
{
    char *argv[32];
    int argc = 0, rc, saved, fd;
    char cap[PATH_MAX + 16];
    va_list ap;
    const char *a;

    argv[argc++] = "smdp-admin";
    argv[argc++] = "--db";
    argv[argc++] = db_path;
    va_start(ap, outlen);
    while ((a = va_arg(ap, const char *)) && argc < 31)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    snprintf(cap, sizeof(cap), "%s.out", db_path);
    fflush(stdout);
    saved = dup(1);
    fd = open(cap, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    if (saved < 0 || fd < 0 || dup2(fd, 1) < 0) {
        if (fd >= 0)
            close(fd);
        if (saved >= 0)
            close(saved);
        return -100;
    }
    close(fd);
    rc = smdp_admin_run(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    if (out && outlen) {
        size_t n = 0;
        uint8_t *b = test_read_file(cap, &n);
        out[0] = '\0';
        if (b) {
            size_t k = 0;
            while (k < n && k + 1 < outlen && b[k] != '\n') {
                out[k] = (char)b[k];
                k++;
            }
            out[k] = '\0';
            free(b);
        }
    }
    unlink(cap);
    return rc;
}

static int ts48_path(char *out, size_t n, const char *name)
{
    return (size_t)snprintf(out, n, "%s/ts48/%s", test_shared_dir(), name) < n ? 0 : -1;
}

static struct smdp_store *store_open(void)
{
    struct smdp_store *s = NULL;
    CU_ASSERT_RC(smdp_store_open_sqlite(db_path, &s), RSP_OK);
    return s;
}

/* Regression: `profile import --iccid` stored the new ICCID with the old
 * package, and the card refused the download (iccidMismatch, 5/13). */
static void test_import_iccid_installs(void)
{
    char path[PATH_MAX];
    struct smdp_store *s;
    struct smdp_profile p;
    struct euicc_fixture f;
    struct euicc_dp d;
    struct euicc_dp_pir pir;
    uint8_t *orig, *r = NULL, bcd[10];
    size_t orig_len, n = 0;
    char orig_iccid[21];
    uint16_t sw = 0;

    db_fresh();
    CU_ASSERT_FATAL(ts48_path(path, sizeof(path), TS48[2]) == 0);
    CU_ASSERT_RC(admin(NULL, 0, "operator", "add", "--id", "op1", "--name", "Op 1", NULL), 0);
    CU_ASSERT_RC(admin(NULL, 0, "profile", "import", "--operator", "op1", "--iccid", NEW_ICCID,
                       path, NULL), 0);
    /* the template itself, under its own ICCID, next to it */
    CU_ASSERT_RC(admin(NULL, 0, "profile", "import", "--operator", "op1", path, NULL), 0);
    CU_ASSERT_RC(admin(NULL, 0, "profile", "import", "--operator", "op1", "--iccid",
                       "8949449999999990024", path, NULL), SMDP_ADMIN_EXIT_INPUT);

    s = store_open();
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    memset(&p, 0, sizeof(p));
    CU_ASSERT_RC(smdp_store_profile_get(s, NEW_ICCID, 1, &p), RSP_OK);
    orig = euicc_dp_read_profile(TS48[2], &orig_len, orig_iccid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
    check_rewritten("import", orig, orig_len, p.package, p.package_len, NEW_ICCID);

    /* install it: a whole download with rsp_bpp on an in-process card */
    CU_ASSERT_RC(euicc_fixture_open(&f, NULL), 0);
    CU_ASSERT_RC(euicc_dp_load(&d, euicc_fixture_pki_dir(), "NIST", 0), 0);
    /* the unchanged template under the new ICCID is what the card refused */
    memset(&pir, 0, sizeof(pir));
    CU_ASSERT_RC(euicc_dp_run(&f, &d, orig, orig_len, NEW_ICCID, DP_F_NONE, 0, &pir), 0);
    CU_ASSERT(pir.present && !pir.ok && pir.cmd == 5 && pir.reason == 13);
    memset(&pir, 0, sizeof(pir));
    CU_ASSERT_RC(euicc_dp_run(&f, &d, p.package, p.package_len, NEW_ICCID, DP_F_NONE, 0, &pir),
                 0);
    if (!pir.ok)
        fprintf(stderr, "\n  PIR: cmd %d reason %d\n", pir.cmd, pir.reason);
    CU_ASSERT(pir.present && pir.ok && pir.sig_ok);
    /* ES10c GetProfilesInfo: the card lists the new ICCID (5A, swapped BCD) */
    CU_ASSERT_RC(euicc_fixture_es10_hex(&f, "BF2D00", &r, &n, &sw), 0);
    CU_ASSERT_EQUAL(sw, 0x9000);
    CU_ASSERT_RC(rsp_iccid_to_bcd(NEW_ICCID, 1, bcd), RSP_OK);
    {
        int found = 0;
        for (size_t i = 0; r && i + 12 <= n; i++)
            if (r[i] == 0x5A && r[i + 1] == 0x0A && !memcmp(r + i + 2, bcd, 10))
                found = 1;
        if (!found)
            test_bytes_eq("GetProfilesInfo", r, n, bcd, 10);
        CU_ASSERT(found);
    }
    free(r);
    euicc_dp_free(&d);
    euicc_fixture_close(&f);
    free(orig);
    smdp_profile_clear(&p);
    smdp_store_close(s);
    db_fresh();
}

static int order_state_of(struct smdp_store *s, const char *mid, int *pstate, char *addr)
{
    struct smdp_order o;
    struct smdp_profile p;
    int rc = smdp_store_order_get(s, SMDP_ORDER_BY_MATCHING_ID, mid, &o);
    if (rc)
        return rc;
    memset(&p, 0, sizeof(p));
    if ((rc = smdp_store_profile_get(s, o.iccid, 0, &p)))
        return rc;
    *pstate = p.state;
    if (addr)
        strcpy(addr, o.smdp_address);
    smdp_profile_clear(&p);
    return o.state;
}

/* The matchingId of an activation code "LPA:1$addr$MID[$$1]". */
static const char *ac_mid(const char *ac, char *mid, size_t n)
{
    const char *a = strchr(ac, '$'), *b = a ? strchr(a + 1, '$') : NULL;
    size_t k = 0;
    mid[0] = '\0';
    if (!b)
        return mid;
    b++;
    while (b[k] && b[k] != '$' && k + 1 < n) {
        mid[k] = b[k];
        k++;
    }
    mid[k] = '\0';
    return mid;
}

static void test_order_create(void)
{
    char path[PATH_MAX], ac[512], mid[80], want[600], addr[SMDP_FQDN_MAX + 1];
    struct smdp_store *s;
    int ps = 0;
    static const char *iccids[] = { "8900000000000000011", "8900000000000000029",
                                    "8900000000000000037", "8900000000000000045" };

    db_fresh();
    CU_ASSERT_FATAL(ts48_path(path, sizeof(path), TS48[0]) == 0);
    CU_ASSERT_RC(admin(NULL, 0, "operator", "add", "--id", "op1", "--name", "Op 1", NULL), 0);
    for (size_t i = 0; i < 4; i++)
        CU_ASSERT_RC(admin(NULL, 0, "profile", "import", "--operator", "op1", "--iccid",
                           iccids[i], path, NULL), 0);

    /* default: Allocated, bare FQDN */
    CU_ASSERT_RC(admin(ac, sizeof(ac), "order", "create", "--operator", "op1", "--iccid",
                       iccids[0], "--fqdn", "smdp.example.test", NULL), 0);
    ac_mid(ac, mid, sizeof(mid));
    snprintf(want, sizeof(want), "LPA:1$smdp.example.test$%s", mid);
    CU_ASSERT_STRING_EQUAL(ac, want);
    s = store_open();
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(order_state_of(s, mid, &ps, NULL), SMDP_ORDER_ACTIVE);
    CU_ASSERT_EQUAL(ps, SMDP_PROFILE_ALLOCATED);

    /* --release with a port and a confirmation code */
    CU_ASSERT_RC(admin(ac, sizeof(ac), "order", "create", "--operator", "op1", "--iccid",
                       iccids[1], "--fqdn", "smdp.example.test:8443", "--cc", "1234",
                       "--release", NULL), 0);
    ac_mid(ac, mid, sizeof(mid));
    snprintf(want, sizeof(want), "LPA:1$smdp.example.test:8443$%s$$1", mid);
    CU_ASSERT_STRING_EQUAL(ac, want);
    CU_ASSERT_EQUAL(order_state_of(s, mid, &ps, addr), SMDP_ORDER_ACTIVE);
    CU_ASSERT_EQUAL(ps, SMDP_PROFILE_RELEASED);
    CU_ASSERT_STRING_EQUAL(addr, "smdp.example.test:8443");
    /* order show gives the same code */
    {
        char show[PATH_MAX + 16], line[512];
        FILE *f;
        int seen = 0;
        snprintf(show, sizeof(show), "%s.show", db_path);
        fflush(stdout);
        int saved = dup(1);
        f = fopen(show, "w");
        CU_ASSERT_FATAL(saved >= 0 && f != NULL);
        dup2(fileno(f), 1);
        char *argv[] = { "smdp-admin", "--db", db_path, "order", "show", mid, NULL };
        CU_ASSERT_RC(smdp_admin_run(6, argv), 0);
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
        fclose(f);
        f = fopen(show, "r");
        CU_ASSERT_FATAL(f != NULL);
        snprintf(want, sizeof(want), "activation-code: LPA:1$smdp.example.test:8443$%s$$1\n",
                 mid);
        while (fgets(line, sizeof(line), f))
            seen |= strcmp(line, want) == 0;
        fclose(f);
        unlink(show);
        CU_ASSERT(seen);
    }

    /* --release of an EID-bound order: Linked -> Released */
    CU_ASSERT_RC(admin(ac, sizeof(ac), "order", "create", "--operator", "op1", "--iccid",
                       iccids[2], "--eid", EID_1, "--release", NULL), 0);
    ac_mid(ac, mid, sizeof(mid));
    snprintf(want, sizeof(want), "LPA:1$localhost$%s", mid);
    CU_ASSERT_STRING_EQUAL(ac, want);
    CU_ASSERT_EQUAL(order_state_of(s, mid, &ps, NULL), SMDP_ORDER_ACTIVE);
    CU_ASSERT_EQUAL(ps, SMDP_PROFILE_RELEASED);

    /* bad addresses change nothing */
    static const char *bad[] = { "smdp.example.test:0", "smdp.example.test:65536",
                                 "smdp.example.test:", ":8443", "smdp.example.test:84a",
                                 "smdp.example.test:+1", "smdp$x:1", "a:1:2" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_RC(admin(NULL, 0, "order", "create", "--operator", "op1", "--iccid", iccids[3],
                           "--fqdn", bad[i], "--release", NULL), SMDP_ADMIN_EXIT_INPUT);
    {
        struct smdp_profile p;
        memset(&p, 0, sizeof(p));
        CU_ASSERT_RC(smdp_store_profile_get(s, iccids[3], 0, &p), RSP_OK);
        CU_ASSERT_EQUAL(p.state, SMDP_PROFILE_AVAILABLE);
        smdp_profile_clear(&p);
    }
    /* no Available profile left but iccids[3]; a taken one is a conflict */
    CU_ASSERT_RC(admin(NULL, 0, "order", "create", "--operator", "op1", "--iccid", iccids[1],
                       "--release", NULL), SMDP_ADMIN_EXIT_CONFLICT);
    smdp_store_close(s);
    db_fresh();
}

CU_TestInfo smdp_admin_tests[] = {
    { "set_iccid", test_set_iccid },
    { "set_iccid_errors", test_set_iccid_errors },
    { "import_iccid_installs", test_import_iccid_installs },
    { "order_create", test_order_create },
    CU_TEST_INFO_NULL,
};
