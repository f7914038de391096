/*
 * test_smdp_es9.c - the SM-DP+ ES9+ core (smdp_es9.c, SGP.22 v2.5 §5.6)
 * against the simulated eUICC: the test plays the LPA (ES10b commands to
 * the card, ES9+ calls through smdp_es9_lookup with JSON built here) over
 * a temporary SQLite store holding one operator, the TS.48 profile and an
 * order.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "euicc.private.h"
#include "euicc_fixture.h"
#include "rsp_asn1.h"
#include "rsp_bpp.h"
#include "rsp_err.h"
#include "rsp_test.h"
#include "rsp_util.h"
#include "smdp.h"
#include "smdp_ac.h"
#include "smdp_session.h"
#include "smdp_store.h"

#define FQDN "testsmdpplus1.example.com"
#define MID "MATCH-ES9-1"
#define T0 1700000000

struct env {
    struct euicc_fixture f;
    struct smdp *s;
    struct smdp_store *st;
    char db[600];
    char iccid[21];
    int64_t now;
    /* the last call */
    struct smdp_call c;
    struct smdp_req rq;
    /* LPA state */
    char tid[33];
    uint8_t *last;           /* last card response */
    size_t last_len;
    uint16_t sw;
    int n_events, last_step, last_success;
};

static void on_progress(void *arg, const struct smdp_progress *ev)
{
    struct env *e = arg;
    e->n_events++;
    e->last_step = ev->step;
    e->last_success = ev->success;
}

static int put(struct rsp_buf *b, uint32_t tag, const void *v, size_t n)
{
    int rc = rsp_tlv_put_header(b, tag, n);
    if (rc == 0 && n)
        rc = rsp_buf_append(b, v, n);
    return rc;
}

static json_t *b64j(const uint8_t *p, size_t n)
{
    struct rsp_buf b;
    rsp_buf_init(&b, 4 * n + 16);
    rsp_base64_encode(p, n, &b);
    rsp_buf_append_byte(&b, 0);
    json_t *j = json_string((const char *)b.data);
    rsp_buf_free(&b);
    return j;
}

/* Decode a base64 field of o into b (initialised here). */
static int unb64(json_t *o, const char *name, struct rsp_buf *b)
{
    const char *s = json_string_value(json_object_get(o, name));
    rsp_buf_init(b, 2u << 20);
    return s ? rsp_base64_decode(s, strlen(s), b) : -1;
}

/* One ES10 command; keeps the response in e->last. */
static int card(struct env *e, const uint8_t *cmd, size_t len)
{
    free(e->last);
    e->last = NULL;
    e->last_len = 0;
    return euicc_fixture_es10(&e->f, cmd, len, &e->last, &e->last_len, &e->sw);
}

/* Call one ES9+ function; returns 0 or -1 (then c.subject/reason_code). */
static int es9(struct env *e, const char *fn, json_t *req, json_t **resp)
{
    smdp_fn f = smdp_es9_lookup(fn);
    memset(&e->c, 0, sizeof(e->c));
    memset(&e->rq, 0, sizeof(e->rq));
    e->rq.iface = SMDP_IFACE_ES9;
    e->rq.now = e->now;
    e->c.s = e->s;
    e->c.st = e->st;
    e->c.req = &e->rq;
    e->c.now = e->now;
    *resp = NULL;
    int rc = f ? f(&e->c, req, resp) : -1;
    json_decref(req);
    if (getenv("SMDP_ES9_TRACE") && rc)
        printf("\n  %s: %s/%s %s\n", fn, e->c.subject_code, e->c.reason_code, e->c.message);
    return rc;
}

#define ASSERT_CODE(e, subj, reas)                                                      \
    do {                                                                                \
        CU_ASSERT_STRING_EQUAL((e)->c.subject_code, subj);                              \
        CU_ASSERT_STRING_EQUAL((e)->c.reason_code, reas);                               \
        if (strcmp((e)->c.subject_code, subj) || strcmp((e)->c.reason_code, reas))      \
            printf("\n  %s:%d: got %s/%s (%s), want %s/%s\n", __FILE__, __LINE__,       \
                   (e)->c.subject_code, (e)->c.reason_code, (e)->c.message, subj, reas); \
    } while (0)

static uint8_t *read_ts48(size_t *len)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/ts48/TS48v1_A.der", test_shared_dir());
    return test_read_file(path, len);
}

/* Set up card, SM-DP+ (curve "NIST"/"BRP"/"both") and store. */
static int env_open(struct env *e, const char *curve, const char *eid_bound, int cc)
{
    char ac[2][700], ak[2][700], pc[2][700], pk[2][700], ci[700];
    const char *pki;
    memset(e, 0, sizeof(*e));
    e->now = (int64_t)time(NULL);
    if (euicc_fixture_open(&e->f, NULL))
        return -1;
    pki = euicc_fixture_pki_dir();
    struct smdp_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.fqdn = FQDN;
    const char *names[2] = {"NIST", "BRP"};
    for (int i = 0; i < 2; i++) {
        snprintf(ac[i], sizeof(ac[i]), "%s/DPauth/CERT_S_SM_DPauth_ECDSA_%s.der", pki, names[i]);
        snprintf(ak[i], sizeof(ak[i]), "%s/DPauth/SK_S_SM_DPauth_ECDSA_%s.pem", pki, names[i]);
        snprintf(pc[i], sizeof(pc[i]), "%s/DPpb/CERT_S_SM_DPpb_ECDSA_%s.der", pki, names[i]);
        snprintf(pk[i], sizeof(pk[i]), "%s/DPpb/SK_S_SM_DPpb_ECDSA_%s.pem", pki, names[i]);
    }
    if (!strcmp(curve, "NIST") || !strcmp(curve, "both"))
        cfg.nist = (struct smdp_cred_paths){ac[0], ak[0], pc[0], pk[0]};
    if (!strcmp(curve, "BRP") || !strcmp(curve, "both"))
        cfg.brp = (struct smdp_cred_paths){ac[1], ak[1], pc[1], pk[1]};
    snprintf(ci, sizeof(ci), "%s/CertificateIssuer", pki);
    cfg.ci_dir = ci;
    cfg.progress = on_progress;
    cfg.progress_arg = e;
    int rc = smdp_create(&cfg, &e->s);
    if (rc) {
        printf("\n  smdp_create: %s\n", rsp_strerror(rc));
        return -1;
    }
    snprintf(e->db, sizeof(e->db), "%s/smdp-es9-%d.db", test_build_dir(), (int)getpid());
    unlink(e->db);
    if (smdp_store_open_sqlite(e->db, &e->st))
        return -1;
    struct smdp_operator op;
    memset(&op, 0, sizeof(op));
    strcpy(op.id, "op1");
    strcpy(op.name, "Operator One");
    if (smdp_store_operator_add(e->st, &op))
        return -1;
    struct smdp_profile p;
    memset(&p, 0, sizeof(p));
    p.icon_type = -1;
    p.pclass = SMDP_CLASS_OPERATIONAL;
    strcpy(p.iccid, "89000123456789012341");
    strcpy(p.operator_id, "op1");
    strcpy(p.spn, "Test SP");
    strcpy(p.name, "TS.48");
    p.package = read_ts48(&p.package_len);
    rc = p.package ? smdp_store_profile_import(e->st, &p) : -1;
    free(p.package);
    if (rc)
        return -1;
    struct smdp_order o;
    memset(&o, 0, sizeof(o));
    strcpy(o.matching_id, MID);
    strcpy(o.operator_id, "op1");
    strcpy(o.smdp_address, FQDN);
    if (eid_bound)
        snprintf(o.eid, sizeof(o.eid), "%s", eid_bound);
    o.expires = e->now + 86400;
    o.cc_required = cc;
    if (cc)
        smdp_cc_hash("1234", o.cc_hash);
    o.cc_limit = 2;
    o.download_limit = 3;
    if ((rc = smdp_store_order_create(e->st, &o)))
        return -1;
    snprintf(e->iccid, sizeof(e->iccid), "%s", o.iccid);
    return smdp_store_profile_transition(e->st, e->iccid,
                                         eid_bound ? SMDP_PROFILE_LINKED : SMDP_PROFILE_ALLOCATED,
                                         SMDP_PROFILE_RELEASED);
}

static void env_close(struct env *e)
{
    free(e->last);
    smdp_free(e->s);
    smdp_store_close(e->st);
    unlink(e->db);
    euicc_fixture_close(&e->f);
}

static int profile_state(struct env *e)
{
    struct smdp_profile p;
    int st = -1;
    if (smdp_store_profile_get(e->st, e->iccid, 0, &p) == 0)
        st = p.state;
    smdp_profile_clear(&p);
    return st;
}

static int order_state(struct env *e)
{
    struct smdp_order o;
    return smdp_store_order_get(e->st, SMDP_ORDER_BY_MATCHING_ID, MID, &o) == 0 ? o.state : -1;
}

/* Faults the LPA side can inject. */
enum fault {
    F_NONE = 0, F_ADDRESS, F_SIG1, F_CHALLENGE, F_TID_UNKNOWN, F_EXPIRE, F_MID_UNKNOWN,
    F_INFO1_PKID,
};

/* initiateAuthentication. Returns 0 or -1. */
static int step_initiate(struct env *e, enum fault fault)
{
    static const uint8_t chal_cmd[] = {0xBF, 0x2E, 0x00}, info_cmd[] = {0xBF, 0x20, 0x00};
    uint8_t chal[16];
    struct rsp_tlv t, c;
    json_t *resp = NULL;

    if (card(e, chal_cmd, sizeof(chal_cmd)) || rsp_tlv_parse(e->last, e->last_len, &t) ||
        rsp_tlv_find(t.val, t.val_len, 0x80, &c) || c.val_len != 16)
        return -2;
    memcpy(chal, c.val, 16);
    if (card(e, info_cmd, sizeof(info_cmd)))
        return -2;
    if (fault == F_INFO1_PKID) {
        /* Corrupt every PKID of both lists (04 14 xx..): no CI in common. */
        for (size_t i = 0; i + 2 < e->last_len; i++)
            if (e->last[i] == 0x04 && e->last[i + 1] == 0x14)
                e->last[i + 2] ^= 0xFF;
    }
    json_t *req = json_object();
    json_object_set_new(req, "euiccChallenge", b64j(chal, 16));
    json_object_set_new(req, "euiccInfo1", b64j(e->last, e->last_len));
    json_object_set_new(req, "smdpAddress", json_string(fault == F_ADDRESS ? "other.example.com"
                                                                           : "TESTsmdpplus1.example.com"));
    if (es9(e, "initiateAuthentication", req, &resp))
        return -1;
    /* AuthenticateServer to the card */
    struct rsp_buf ss1, sig1, pkid, cert, v, cmd;
    const char *mid = fault == F_MID_UNKNOWN ? "NO-SUCH-ORDER" : MID;
    snprintf(e->tid, sizeof(e->tid), "%s", json_string_value(json_object_get(resp, "transactionId")));
    int rc = unb64(resp, "serverSigned1", &ss1) | unb64(resp, "serverSignature1", &sig1) |
             unb64(resp, "euiccCiPKIdToBeUsed", &pkid) | unb64(resp, "serverCertificate", &cert);
    json_decref(resp);
    rsp_buf_init(&v, 8192);
    rsp_buf_init(&cmd, 8192);
    struct rsp_buf ctx, dev;
    rsp_buf_init(&ctx, 256);
    rsp_buf_init(&dev, 256);
    static const uint8_t tac[] = {0x35, 0x29, 0x06, 0x11};
    put(&dev, 0x80, tac, 4);
    put(&dev, 0xA1, NULL, 0);
    rsp_buf_reset(&v);
    put(&v, 0x80, mid, strlen(mid));
    put(&v, 0xA1, dev.data, dev.len);
    put(&ctx, 0xA0, v.data, v.len);
    rsp_buf_reset(&v);
    rsp_buf_append(&v, ss1.data, ss1.len);
    rsp_buf_append(&v, sig1.data, sig1.len);
    rsp_buf_append(&v, pkid.data, pkid.len);
    rsp_buf_append(&v, cert.data, cert.len);
    rsp_buf_append(&v, ctx.data, ctx.len);
    put(&cmd, 0xBF38, v.data, v.len);
    if (rc == 0)
        rc = card(e, cmd.data, cmd.len);
    rsp_buf_free(&ss1);
    rsp_buf_free(&sig1);
    rsp_buf_free(&pkid);
    rsp_buf_free(&cert);
    rsp_buf_free(&v);
    rsp_buf_free(&cmd);
    rsp_buf_free(&ctx);
    rsp_buf_free(&dev);
    return rc ? -2 : 0;
}

/* authenticateClient with the card's AuthenticateServer response, then
 * PrepareDownload on the card (cc: the code typed, NULL none). */
static int step_auth_client(struct env *e, enum fault fault, const char *cc)
{
    json_t *resp = NULL, *req = json_object();
    uint8_t *r = e->last;
    size_t n = e->last_len;
    if (fault == F_SIG1) {
        /* flip a byte of euiccSignature1: find 5F 37 40 */
        for (size_t i = 0; i + 3 < n; i++)
            if (r[i] == 0x5F && r[i + 1] == 0x37 && r[i + 2] == 0x40) {
                r[i + 10] ^= 0x01;
                break;
            }
    }
    if (fault == F_CHALLENGE) {
        /* serverChallenge (84 10) inside euiccSigned1: the signature then
         * fails as well, so this checks the order of the checks. */
        for (size_t i = 0; i + 2 < n; i++)
            if (r[i] == 0x84 && r[i + 1] == 0x10) {
                r[i + 2] ^= 0x01;
                break;
            }
    }
    json_object_set_new(req, "transactionId",
                        json_string(fault == F_TID_UNKNOWN ? "00112233445566778899AABBCCDDEEFF" : e->tid));
    json_object_set_new(req, "authenticateServerResponse", b64j(r, n));
    if (fault == F_EXPIRE)
        e->now += 301;
    if (es9(e, "authenticateClient", req, &resp))
        return -1;
    struct rsp_buf sd2, sig2, cert, v, cmd;
    int rc = unb64(resp, "smdpSigned2", &sd2) | unb64(resp, "smdpSignature2", &sig2) |
             unb64(resp, "smdpCertificate", &cert);
    CU_ASSERT_PTR_NOT_NULL(json_object_get(resp, "profileMetadata"));
    json_decref(resp);
    rsp_buf_init(&v, 8192);
    rsp_buf_init(&cmd, 8192);
    rsp_buf_append(&v, sd2.data, sd2.len);
    rsp_buf_append(&v, sig2.data, sig2.len);
    if (cc) {
        uint8_t h[32], tid[16], hh[32];
        smdp_cc_hash(cc, h);
        rsp_hex_decode(e->tid, 32, tid, 16);
        /* hashCc = SHA256(SHA256(cc) | transactionId) */
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        unsigned hl = 32;
        EVP_DigestInit_ex(m, EVP_sha256(), NULL);
        EVP_DigestUpdate(m, h, 32);
        EVP_DigestUpdate(m, tid, 16);
        EVP_DigestFinal_ex(m, hh, &hl);
        EVP_MD_CTX_free(m);
        put(&v, 0x04, hh, 32);
    }
    rsp_buf_append(&v, cert.data, cert.len);
    put(&cmd, 0xBF21, v.data, v.len);
    if (rc == 0)
        rc = card(e, cmd.data, cmd.len);
    rsp_buf_free(&sd2);
    rsp_buf_free(&sig2);
    rsp_buf_free(&cert);
    rsp_buf_free(&v);
    rsp_buf_free(&cmd);
    return rc ? -2 : 0;
}

/* getBoundProfilePackage and load the BPP; the PIR stays in e->last. */
static int step_bpp(struct env *e, int load)
{
    json_t *resp = NULL, *req = json_object();
    json_object_set_new(req, "transactionId", json_string(e->tid));
    json_object_set_new(req, "prepareDownloadResponse", b64j(e->last, e->last_len));
    if (es9(e, "getBoundProfilePackage", req, &resp))
        return -1;
    struct rsp_buf bpp;
    struct rsp_bpp_seg *segs = NULL;
    size_t nsegs = 0;
    int rc = unb64(resp, "boundProfilePackage", &bpp);
    json_decref(resp);
    if (rc == 0 && load)
        rc = rsp_bpp_split(bpp.data, bpp.len, &segs, &nsegs);
    for (size_t i = 0; load && rc == 0 && i < nsegs; i++) {
        rc = card(e, bpp.data + segs[i].off, segs[i].len);
        if (e->sw != 0x9000 || e->last_len)
            break;
    }
    free(segs);
    rsp_buf_free(&bpp);
    return rc ? -2 : 0;
}

static int step_notify(struct env *e)
{
    json_t *resp = NULL, *req = json_object();
    json_object_set_new(req, "pendingNotification", b64j(e->last, e->last_len));
    int rc = es9(e, "handleNotification", req, &resp);
    CU_ASSERT_PTR_NULL(resp);
    json_decref(resp);
    return rc;
}

static void happy(const char *curve)
{
    struct env e;
    CU_ASSERT_RC(env_open(&e, curve, NULL, 0), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, NULL), 0);
    CU_ASSERT_RC(step_bpp(&e, 1), 0);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_DOWNLOADED);
    CU_ASSERT_RC(step_notify(&e), 0);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_INSTALLED);
    CU_ASSERT_EQUAL(order_state(&e), SMDP_ORDER_DONE);
    CU_ASSERT_EQUAL(e.last_step, SMDP_STEP_BPP_INSTALLATION);
    CU_ASSERT_EQUAL(e.last_success, 1);
    CU_ASSERT_EQUAL(e.f.card->st.n_profiles, 1);
    CU_ASSERT_EQUAL(smdp_sess_count(e.s), 0);
    env_close(&e);
}

static void test_happy_nist(void) { happy("NIST"); }
static void test_happy_brp(void) { happy("BRP"); }
static void test_happy_both(void) { happy("both"); }

static void fail_initiate(enum fault fault, const char *subj, const char *reas)
{
    struct env e;
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    CU_ASSERT_RC(step_initiate(&e, fault), -1);
    ASSERT_CODE(&e, subj, reas);
    env_close(&e);
}

static void test_wrong_address(void) { fail_initiate(F_ADDRESS, "8.8.1", "3.8"); }
static void test_unsupported_pkid(void) { fail_initiate(F_INFO1_PKID, "8.8.2", "3.1"); }

static void fail_auth(enum fault fault, const char *eid_bound, const char *subj,
                      const char *reas)
{
    struct env e;
    CU_ASSERT_RC(env_open(&e, "NIST", eid_bound, 0), 0);
    CU_ASSERT_RC(step_initiate(&e, fault), 0);
    CU_ASSERT_RC(step_auth_client(&e, fault, NULL), -1);
    ASSERT_CODE(&e, subj, reas);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_RELEASED);
    env_close(&e);
}

static void test_bad_sig1(void) { fail_auth(F_SIG1, NULL, "8.1", "6.1"); }
static void test_wrong_challenge(void) { fail_auth(F_CHALLENGE, NULL, "8.1", "6.1"); }
static void test_unknown_tid(void) { fail_auth(F_TID_UNKNOWN, NULL, "8.10.1", "3.9"); }
static void test_expired_session(void) { fail_auth(F_EXPIRE, NULL, "8.10.1", "3.9"); }
static void test_unknown_mid(void) { fail_auth(F_MID_UNKNOWN, NULL, "8.2.6", "3.8"); }
static void test_other_eid(void)
{
    fail_auth(F_NONE, "89049032123451234512345678901235", "8.1.1", "3.8");
}

static void test_eid_bound_ok(void)
{
    struct env e;
    CU_ASSERT_RC(env_open(&e, "NIST", euicc_fixture_eid(), 0), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, NULL), 0);
    env_close(&e);
}

static void test_not_released(void)
{
    struct env e;
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    /* back to a state before release: Released -> Error -> Available is not
     * an ES9+ path; make a second order on a fresh profile instead */
    CU_ASSERT_RC(smdp_store_order_transition(e.st, MID, SMDP_ORDER_ACTIVE, SMDP_ORDER_ACTIVE,
                                             SMDP_PROFILE_RELEASED, SMDP_PROFILE_ERROR), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, NULL), -1);
    ASSERT_CODE(&e, "8.2", "1.2");
    env_close(&e);
}

static void test_already_downloaded(void)
{
    struct env e;
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, NULL), 0);
    CU_ASSERT_RC(step_bpp(&e, 1), 0);
    CU_ASSERT_RC(step_notify(&e), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, NULL), -1);
    ASSERT_CODE(&e, "8.2.6", "3.8");
    env_close(&e);
}

static void test_cc(void)
{
    struct env e;
    /* missing: the card itself refuses PrepareDownload without a code
     * (downloadResponseError), which the SM-DP+ answers 8.1/6.1; 8.2.7/2.2
     * is for an eUICC that signs euiccSigned2 without hashCc. */
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 1), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, NULL), 0);
    CU_ASSERT_RC(step_bpp(&e, 0), -1);
    ASSERT_CODE(&e, "8.1", "6.1");
    env_close(&e);
    /* wrong, then wrong again: locked (limit 2) */
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 1), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, "9999"), 0);
    CU_ASSERT_RC(step_bpp(&e, 0), -1);
    ASSERT_CODE(&e, "8.2.7", "3.8");
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, "9999"), 0);
    CU_ASSERT_RC(step_bpp(&e, 0), -1);
    ASSERT_CODE(&e, "8.2.7", "6.4");
    CU_ASSERT_EQUAL(order_state(&e), SMDP_ORDER_FAILED);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_ERROR);
    CU_ASSERT_EQUAL(e.last_step, SMDP_STEP_CONFIRMATION_FAILURE);
    env_close(&e);
    /* right */
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 1), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, "1234"), 0);
    CU_ASSERT_RC(step_bpp(&e, 1), 0);
    CU_ASSERT_RC(step_notify(&e), 0);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_INSTALLED);
    env_close(&e);
}

/* A second download attempt after the BPP was delivered but not loaded:
 * the card (new session) generates a new otPK -> refused without PPK. */
static void test_retry_new_otpk(void)
{
    struct env e;
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, NULL), 0);
    CU_ASSERT_RC(step_bpp(&e, 0), 0);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_DOWNLOADED);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, NULL), 0);
    /* The card reuses otPK.EUICC.ECKA when smdpSigned2 names it and it
     * still has it; otherwise a different one is refused. */
    int rc = step_bpp(&e, 1);
    if (rc == 0) {
        CU_ASSERT_RC(step_notify(&e), 0);
        CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_INSTALLED);
    } else {
        ASSERT_CODE(&e, "8.2", "3.7");
    }
    env_close(&e);
}

static void cancel(long reason, int want_order, int want_profile)
{
    struct env e;
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, NULL), 0);
    struct rsp_buf v, cmd;
    uint8_t tid[16], r = (uint8_t)reason;
    rsp_hex_decode(e.tid, 32, tid, 16);
    rsp_buf_init(&v, 64);
    rsp_buf_init(&cmd, 64);
    put(&v, 0x80, tid, 16);
    put(&v, 0x81, &r, 1);
    put(&cmd, 0xBF41, v.data, v.len);
    CU_ASSERT_RC(card(&e, cmd.data, cmd.len), 0);
    rsp_buf_free(&v);
    rsp_buf_free(&cmd);
    json_t *resp = NULL, *req = json_object();
    json_object_set_new(req, "transactionId", json_string(e.tid));
    json_object_set_new(req, "cancelSessionResponse", b64j(e.last, e.last_len));
    CU_ASSERT_RC(es9(&e, "cancelSession", req, &resp), 0);
    if (e.c.failed)
        printf("\n  cancel: %s/%s %s\n", e.c.subject_code, e.c.reason_code, e.c.message);
    CU_ASSERT(json_is_object(resp));
    json_decref(resp);
    CU_ASSERT_EQUAL(order_state(&e), want_order);
    CU_ASSERT_EQUAL(profile_state(&e), want_profile);
    CU_ASSERT_EQUAL(e.last_step, SMDP_STEP_CANCELLED);
    CU_ASSERT_EQUAL(smdp_sess_count(e.s), 0);
    /* the session is gone */
    req = json_object();
    json_object_set_new(req, "transactionId", json_string(e.tid));
    json_object_set_new(req, "cancelSessionResponse", b64j(e.last, e.last_len));
    CU_ASSERT_RC(es9(&e, "cancelSession", req, &resp), -1);
    ASSERT_CODE(&e, "8.10.1", "3.9");
    json_decref(resp);
    env_close(&e);
}

static void test_cancel_postponed(void) { cancel(1, SMDP_ORDER_ACTIVE, SMDP_PROFILE_RELEASED); }
static void test_cancel_rejected(void) { cancel(0, SMDP_ORDER_FAILED, SMDP_PROFILE_ERROR); }

static void test_missing_fields(void)
{
    struct env e;
    json_t *resp = NULL;
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    CU_ASSERT_RC(es9(&e, "initiateAuthentication", json_object(), &resp), -1);
    ASSERT_CODE(&e, "1.6", "2.2");
    json_t *req = json_object();
    json_object_set_new(req, "transactionId", json_string(e.tid));
    json_object_set_new(req, "authenticateServerResponse", json_string("!!notbase64"));
    CU_ASSERT_RC(es9(&e, "authenticateClient", req, &resp), -1);
    ASSERT_CODE(&e, "1.6", "2.1");
    req = json_object();
    json_object_set_new(req, "pendingNotification", json_string("AAAA"));
    CU_ASSERT_RC(es9(&e, "handleNotification", req, &resp), -1);
    ASSERT_CODE(&e, "1.6", "2.1");
    CU_ASSERT_PTR_NULL(smdp_es9_lookup("nope"));
    env_close(&e);
}

CU_TestInfo smdp_es9_tests[] = {
    {"happy_nist", test_happy_nist},
    {"happy_brp", test_happy_brp},
    {"happy_both", test_happy_both},
    {"wrong_address", test_wrong_address},
    {"unsupported_pkid", test_unsupported_pkid},
    {"bad_sig1", test_bad_sig1},
    {"wrong_challenge", test_wrong_challenge},
    {"unknown_tid", test_unknown_tid},
    {"expired_session", test_expired_session},
    {"unknown_mid", test_unknown_mid},
    {"other_eid", test_other_eid},
    {"eid_bound_ok", test_eid_bound_ok},
    {"not_released", test_not_released},
    {"already_downloaded", test_already_downloaded},
    {"cc", test_cc},
    {"retry_new_otpk", test_retry_new_otpk},
    {"cancel_postponed", test_cancel_postponed},
    {"cancel_rejected", test_cancel_rejected},
    {"missing_fields", test_missing_fields},
    CU_TEST_INFO_NULL,
};
