/*
 * test_lpa_e2e.c - suite "lpa_e2e": liblpa's profile download (lpa_rsp.h,
 * SGP.22 v2.5 §3.1.2 / §3.1.3, ES9+ §5.6 over the JSON binding §6) against
 * the REAL SM-DP+ core, in process:
 *   (a) an lpa_http_driver whose post() calls smdp_handle() (no network);
 *   (b) the libcurl driver over real TLS to an in-process smdpd (DPtls
 *       under the test CI, §2.6.6), with CURLOPT_RESOLVE and the CI as CA
 *       file; a wrong CA file is a TLS verification failure reported as an
 *       error at initiateAuthentication, and `insecure` then succeeds.
 * The card is the in-process simulated eUICC (tests/euicc_fixture.h) behind
 * drv_inproc; the store is a temporary SQLite file holding an operator, a
 * TS.48 profile and a Released order (as ES2+ ConfirmOrder releaseFlag
 * true leaves it, §5.3.2).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "euicc_fixture.h"
#include "lpa.h"
#include "lpa_drivers.h"
#include "lpa_http_curl.h"
#include "lpa_rsp.h"
#include "rsp_err.h"
#include "rsp_test.h"
#include "smdp.h"
#include "smdp_conf.h"
#include "smdp_store.h"
#include "smdpd.h"

struct env {
    struct euicc_fixture f;
    struct smdp_conf conf;
    struct smdp *s;
    struct smdp_store *st;
    struct smdpd *d;
    char db[PATH_MAX], ci[PATH_MAX], resolve[300], ac[300], iccid[21];
    struct lpa_drv_inproc *ip;
    struct lpa_ctx l;
    int open;
};

static unsigned seq;

static void env_close(struct env *e)
{
    if (e->open)
        lpa_close(&e->l);
    lpa_drv_inproc_free(e->ip);
    smdpd_free(e->d);
    smdp_free(e->s);
    smdp_store_close(e->st);
    smdp_conf_free(&e->conf);
    if (e->db[0])
        unlink(e->db);
    euicc_fixture_close(&e->f);
    memset(e, 0, sizeof(*e));
}

/* Card, SM-DP+ core over the fixture PKI, store with one Released order;
 * with_server: also smdpd on 127.0.0.1:0 (ES9+ only). */
static int env_open(struct env *e, int with_server)
{
    struct smdp_config core;
    struct smdp_operator op;
    struct smdp_profile p;
    struct smdp_order o;
    struct lpa_apdu_driver drv;
    char path[PATH_MAX];
    const char *pki;
    int rc;

    memset(e, 0, sizeof(*e));
    if (euicc_fixture_open(&e->f, NULL) || !(pki = euicc_fixture_pki_dir()))
        return -1;
    snprintf(e->db, sizeof(e->db), "%s/lpa-e2e-%d-%u.db", test_build_dir(), (int)getpid(),
             seq++);
    unlink(e->db);
    snprintf(e->ci, sizeof(e->ci), "%s/CertificateIssuer/CERT_CI_ECDSA_NIST.pem", pki);
    if (smdp_conf_pki(&e->conf, pki) || smdp_conf_set(&e->conf, "store", "db", e->db) ||
        smdp_conf_set(&e->conf, "server", "es9_listen", "127.0.0.1:0") ||
        smdp_conf_set(&e->conf, "server", "threads", "1"))
        return -1;
    smdp_conf_core(&e->conf, &core);
    if ((rc = smdp_create(&core, &e->s))) {
        fprintf(stderr, "\n  smdp_create: %s\n", rsp_strerror(rc));
        return -1;
    }
    if (smdp_store_open_sqlite(e->db, &e->st))
        return -1;
    memset(&op, 0, sizeof(op));
    strcpy(op.id, "op1");
    strcpy(op.name, "Operator One");
    if (smdp_store_operator_add(e->st, &op))
        return -1;
    memset(&p, 0, sizeof(p));
    p.icon_type = -1;
    p.pclass = SMDP_CLASS_OPERATIONAL;
    snprintf(p.iccid, sizeof(p.iccid), "89000123456789012341");
    strcpy(p.operator_id, "op1");
    strcpy(p.spn, "E2E SP");
    strcpy(p.name, "TS.48 v1");
    snprintf(path, sizeof(path), "%s/ts48/TS48v1_A.der", test_shared_dir());
    p.package = test_read_file(path, &p.package_len);
    rc = p.package ? smdp_store_profile_import(e->st, &p) : -1;
    free(p.package);
    if (rc)
        return -1;
    memset(&o, 0, sizeof(o));
    snprintf(o.matching_id, sizeof(o.matching_id), "E2E-%d-%u", (int)getpid(), seq);
    strcpy(o.operator_id, "op1");
    snprintf(o.smdp_address, sizeof(o.smdp_address), "%s", smdp_fqdn(e->s));
    o.expires = (int64_t)time(NULL) + 3600;
    o.download_limit = 3;
    if (smdp_store_order_create(e->st, &o) ||
        smdp_store_profile_transition(e->st, o.iccid, SMDP_PROFILE_ALLOCATED,
                                      SMDP_PROFILE_RELEASED))
        return -1;
    snprintf(e->iccid, sizeof(e->iccid), "%s", o.iccid);
    snprintf(e->ac, sizeof(e->ac), "LPA:1$%s$%s", smdp_fqdn(e->s), o.matching_id);
    if (with_server) {
        struct smdpd_config srv;
        smdp_conf_server(&e->conf, &srv);
        srv.es2_listen = NULL;
        if ((rc = smdpd_start(e->s, &srv, &e->d))) {
            fprintf(stderr, "\n  smdpd_start: %s\n", smdp_strerror(rc));
            return -1;
        }
        snprintf(e->ac, sizeof(e->ac), "LPA:1$%s:%d$%s", smdp_fqdn(e->s),
                 smdpd_port_es9(e->d), o.matching_id);
        snprintf(e->resolve, sizeof(e->resolve), "%s:%d:127.0.0.1", smdp_fqdn(e->s),
                 smdpd_port_es9(e->d));
    }
    if (lpa_drv_inproc_wrap(e->f.card, &e->ip, &drv) || lpa_ctx_init(&e->l, &drv, NULL) ||
        lpa_open(&e->l))
        return -1;
    e->open = 1;
    return 0;
}

static void states(struct env *e, int *ps, int *os)
{
    struct smdp_profile p;
    struct smdp_order o;
    *ps = *os = -1;
    memset(&p, 0, sizeof(p));
    if (smdp_store_profile_get(e->st, e->iccid, 0, &p) == 0)
        *ps = p.state;
    smdp_profile_clear(&p);
    if (smdp_store_order_get(e->st, SMDP_ORDER_BY_ICCID, e->iccid, &o) == 0)
        *os = o.state;
}

#define ASSERT_STATES(e, wp, wo)                                                          \
    do {                                                                                  \
        int ps_, os_;                                                                     \
        states((e), &ps_, &os_);                                                          \
        if (ps_ != (wp) || os_ != (wo))                                                   \
            fprintf(stderr, "\n  %s:%d: SM-DP+ profile %s order %s, want %s / %s\n",      \
                    __FILE__, __LINE__, smdp_profile_state_name(ps_),                     \
                    smdp_order_state_name(os_), smdp_profile_state_name(wp),             \
                    smdp_order_state_name(wo));                                           \
        CU_ASSERT(ps_ == (wp) && os_ == (wo));                                            \
    } while (0)

static void print_result(int rc, const struct lpa_result *r)
{
    fprintf(stderr, "\n  lpa_download = %d (%s): step %s, %s %s/%s %s, http %ld, sw %04X: %s\n",
            rc, lpa_rsp_strerror(rc), lpa_step_name(r->step), r->status, r->subject_code,
            r->reason_code, r->message, r->http_status, r->sw, r->detail);
}

/* ---- (a) smdp_handle as the HTTP driver ---- */

static const char *header(const char *const *h, const char *name)
{
    size_t n = strlen(name);
    for (; h && *h; h++)
        if (!strncasecmp(*h, name, n) && (*h)[n] == ':') {
            const char *v = *h + n + 1;
            while (*v == ' ')
                v++;
            return v;
        }
    return NULL;
}

static int handle_post(void *ctx, const char *address, const char *path,
                       const char *const *headers, const char *body, size_t body_len,
                       long *http_status, char **resp, size_t *resp_len, char *err,
                       size_t err_len)
{
    struct env *e = ctx;
    struct smdp_req rq;
    struct smdp_resp rs;
    (void)address;
    (void)err;
    (void)err_len;
    memset(&rq, 0, sizeof(rq));
    rq.iface = SMDP_IFACE_ES9;
    rq.method = "POST";
    rq.path = path;
    rq.admin_protocol = header(headers, "X-Admin-Protocol");
    rq.content_type = header(headers, "Content-Type");
    rq.body = (const uint8_t *)body;
    rq.body_len = body_len;
    smdp_handle(e->s, e->st, &rq, &rs);
    *http_status = rs.status;
    *resp = rs.body;
    *resp_len = rs.body_len;
    rs.body = NULL;
    smdp_resp_free(&rs);
    return 0;
}

static void test_inproc_core(void)
{
    struct env e;
    struct lpa_download_opts o;
    struct lpa_result r;
    struct lpa_http_driver http;
    CU_ASSERT_FATAL(env_open(&e, 0) == 0);
    http.ctx = &e;
    http.post = handle_post;
    memset(&o, 0, sizeof(o));
    o.activation_code = e.ac;
    int rc = lpa_download(&e.l, &http, &o, &r);
    if (rc)
        print_result(rc, &r);
    CU_ASSERT_RC(rc, 0);
    CU_ASSERT_STRING_EQUAL(r.iccid, e.iccid);
    CU_ASSERT(r.notification_seq >= 0);
    ASSERT_STATES(&e, SMDP_PROFILE_INSTALLED, SMDP_ORDER_DONE);
    env_close(&e);
}

/* ---- (b) libcurl over TLS to smdpd ---- */

static int curl_download(struct env *e, const char *ca, int insecure, struct lpa_result *r)
{
    struct lpa_http_curl_opts ho;
    struct lpa_http_curl *h = NULL;
    struct lpa_http_driver http;
    struct lpa_download_opts o;
    const char *resolve[] = { e->resolve, NULL };
    memset(&ho, 0, sizeof(ho));
    ho.ca_file = ca;
    ho.resolve = resolve;
    ho.insecure = insecure;
    ho.timeout_ms = 20000;
    if (lpa_http_curl_new(&ho, &h, &http))
        return -1000;
    memset(&o, 0, sizeof(o));
    o.activation_code = e->ac;
    int rc = lpa_download(&e->l, &http, &o, r);
    lpa_http_curl_free(h);
    return rc;
}

/* A download through the curl driver (CA file ca; insecure: no
 * verification) that must install e->iccid: Installed / DONE. */
static void curl_download_installed(struct env *e, const char *ca, int insecure)
{
    struct lpa_result r;
    int rc = curl_download(e, ca, insecure, &r);
    if (rc)
        print_result(rc, &r);
    CU_ASSERT_RC(rc, 0);
    CU_ASSERT_STRING_EQUAL(r.iccid, e->iccid);
    ASSERT_STATES(e, SMDP_PROFILE_INSTALLED, SMDP_ORDER_DONE);
}

static void test_curl_tls(void)
{
    struct env e;
    CU_ASSERT_FATAL(env_open(&e, 1) == 0);
    curl_download_installed(&e, e.ci, 0);
    env_close(&e);
}

/* Wrong CA (the SGP.26 CI, which did not sign this DPtls): the TLS
 * handshake fails verification, the download stops at
 * initiateAuthentication with no HTTP answer and a readable reason; the
 * order is untouched. Then the insecure driver (no verification) succeeds. */
static void test_curl_wrong_ca(void)
{
    struct env e;
    struct lpa_result r;
    char wrong[PATH_MAX];
    snprintf(wrong, sizeof(wrong), "%s/sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.pem",
             test_shared_dir());
    CU_ASSERT_FATAL(env_open(&e, 1) == 0);
    int rc = curl_download(&e, wrong, 0, &r);
    CU_ASSERT(rc != 0);
    if (r.step != LPA_STEP_INITIATE_AUTHENTICATION || r.http_status != 0)
        print_result(rc, &r);
    CU_ASSERT_EQUAL(r.step, LPA_STEP_INITIATE_AUTHENTICATION);
    CU_ASSERT_EQUAL(r.http_status, 0);
    if (!strcasestr(r.detail, "certificate") && !strcasestr(r.detail, "SSL") &&
        !strcasestr(r.detail, "TLS")) {
        fprintf(stderr, "\n  TLS failure not named in the detail: \"%s\"\n", r.detail);
        CU_FAIL("TLS verification failure not reported clearly");
    }
    ASSERT_STATES(&e, SMDP_PROFILE_RELEASED, SMDP_ORDER_ACTIVE);
    curl_download_installed(&e, wrong, 1);
    env_close(&e);
}

CU_TestInfo lpa_e2e_tests[] = {
    { "inproc_smdp_core", test_inproc_core },
    { "curl_tls_smdpd", test_curl_tls },
    { "curl_wrong_ca_then_insecure", test_curl_wrong_ca },
    CU_TEST_INFO_NULL,
};
