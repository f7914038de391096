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
#include "rsp_bsp.h"
#include "rsp_err.h"
#include "rsp_pki.h"
#include "rsp_x509.h"
#include "rsp_test.h"
#include "rsp_util.h"
#include "smdp.h"
#include "smdp_ac.h"
#include "smdp_session.h"
#include "smdp_store.h"

#define FQDN "testsmdpplus1.example.com"
#define MID "MATCH-ES9-1"
#define T0 1700000000

/* Lifetime of the order env_open creates, and the smdpAddress the LPA
 * sends in initiateAuthentication (tests may change them before). */
static int64_t g_order_ttl = 86400;
static const char *g_smdp_address = "TESTsmdpplus1.example.com";

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
    int n_events, last_step, last_success, last_pstate;
    char last_subject[16], last_reason[16];
    int ev_step[16], ev_event[16];     /* the first 16 events */
    char last_eid[33];
    uint8_t last_rd[2048];   /* result_data of the last event, if any */
    size_t last_rd_len;
    /* the last AuthenticateClient answer */
    uint8_t sd2[256], sig2[80];
    size_t sd2_len, sig2_len;
    char curve[8];
};

static void on_progress(void *arg, const struct smdp_progress *ev)
{
    struct env *e = arg;
    if (e->n_events < 16) {
        e->ev_step[e->n_events] = ev->step;
        e->ev_event[e->n_events] = ev->notification_event;
    }
    e->n_events++;
    e->last_step = ev->step;
    e->last_success = ev->success;
    e->last_pstate = ev->profile_state;
    snprintf(e->last_subject, sizeof(e->last_subject), "%s", ev->subject_code);
    snprintf(e->last_reason, sizeof(e->last_reason), "%s", ev->reason_code);
    snprintf(e->last_eid, sizeof(e->last_eid), "%s", ev->eid);
    e->last_rd_len = 0;
    if (ev->result_data && ev->result_data_len <= sizeof(e->last_rd)) {
        memcpy(e->last_rd, ev->result_data, ev->result_data_len);
        e->last_rd_len = ev->result_data_len;
    }
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

/* The SM-DP+ of curve "NIST"/"BRP"/"both" over the generated PKI. */
static int smdp_open(struct env *e, const char *curve)
{
    char ac[2][700], ak[2][700], pc[2][700], pk[2][700], ci[700];
    const char *pki = euicc_fixture_pki_dir();
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
    if (rc)
        printf("\n  smdp_create: %s\n", rsp_strerror(rc));
    return rc ? -1 : 0;
}

/* Set up card, SM-DP+ (curve "NIST"/"BRP"/"both") and store; the profile
 * gets notif (DER notificationConfigurationInfo) if not NULL. */
static int env_open2(struct env *e, const char *curve, const char *eid_bound, int cc,
                     const uint8_t *notif, size_t notif_len)
{
    int rc;
    memset(e, 0, sizeof(*e));
    e->now = (int64_t)time(NULL);
    snprintf(e->curve, sizeof(e->curve), "%s", curve);
    if (euicc_fixture_open(&e->f, NULL) || smdp_open(e, curve))
        return -1;
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
    p.notif_config = (uint8_t *)notif;
    p.notif_config_len = notif_len;
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
    o.expires = e->now + g_order_ttl;
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

static int env_open(struct env *e, const char *curve, const char *eid_bound, int cc)
{
    return env_open2(e, curve, eid_bound, cc, NULL, 0);
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
                                                                           : g_smdp_address));
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
    if (rc == 0 && sd2.len <= sizeof(e->sd2) && sig2.len <= sizeof(e->sig2)) {
        memcpy(e->sd2, sd2.data, sd2.len);
        e->sd2_len = sd2.len;
        memcpy(e->sig2, sig2.data, sig2.len);
        e->sig2_len = sig2.len;
    }
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

/* InitiateAuthentication + AuthenticateClient, both expected to succeed
 * (cc: the confirmation code, NULL for none). */
static void open_session(struct env *e, const char *cc)
{
    CU_ASSERT_RC(step_initiate(e, F_NONE), 0);
    CU_ASSERT_RC(step_auth_client(e, F_NONE, cc), 0);
}

/* The BPP installed and its PIR delivered: the profile Installed, the order
 * DONE, one profile on the card. */
static void install_done(struct env *e)
{
    CU_ASSERT_RC(step_bpp(e, 1), 0);
    CU_ASSERT_RC(step_notify(e), 0);
    CU_ASSERT_RC(profile_state(e), SMDP_PROFILE_INSTALLED);
    CU_ASSERT_RC(order_state(e), SMDP_ORDER_DONE);
    CU_ASSERT_RC((int)e->f.card->st.n_profiles, 1);
}

static void happy(const char *curve)
{
    struct env e;
    CU_ASSERT_RC(env_open(&e, curve, NULL, 0), 0);
    open_session(&e, NULL);
    CU_ASSERT_RC(step_bpp(&e, 1), 0);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_DOWNLOADED);
    CU_ASSERT_RC(step_notify(&e), 0);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_INSTALLED);
    CU_ASSERT_EQUAL(order_state(&e), SMDP_ORDER_DONE);
    CU_ASSERT_EQUAL(e.last_step, SMDP_STEP_BPP_INSTALLATION);
    CU_ASSERT_EQUAL(e.last_success, 1);
    /* the ES2+ resultData: the PIR exactly as the LPA delivered it */
    CU_ASSERT_BYTES("resultData", e.last_rd, e.last_rd_len, e.last, e.last_len);
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
    open_session(&e, NULL);
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
    open_session(&e, NULL);
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
    open_session(&e, NULL);
    CU_ASSERT_RC(step_bpp(&e, 0), -1);
    ASSERT_CODE(&e, "8.1", "6.1");
    env_close(&e);
    /* wrong, then wrong again: locked (limit 2) */
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 1), 0);
    open_session(&e, "9999");
    CU_ASSERT_RC(step_bpp(&e, 0), -1);
    ASSERT_CODE(&e, "8.2.7", "3.8");
    open_session(&e, "9999");
    CU_ASSERT_RC(step_bpp(&e, 0), -1);
    ASSERT_CODE(&e, "8.2.7", "6.4");
    CU_ASSERT_EQUAL(order_state(&e), SMDP_ORDER_FAILED);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_ERROR);
    CU_ASSERT_EQUAL(e.last_step, SMDP_STEP_CONFIRMATION_FAILURE);
    env_close(&e);
    /* right */
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 1), 0);
    open_session(&e, "1234");
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
    open_session(&e, NULL);
    CU_ASSERT_RC(step_bpp(&e, 0), 0);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_DOWNLOADED);
    open_session(&e, NULL);
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

/* ES10b.CancelSession(reason) on the card for the current transactionId,
 * then ES9+ cancelSession with its answer (the LPA's cancel, §3.1.3 /
 * §5.6.5). Returns the ES9+ outcome. */
static int cancel_call(struct env *e, long reason)
{
    struct rsp_buf v, cmd;
    uint8_t tid[16], r = (uint8_t)reason;
    rsp_hex_decode(e->tid, 32, tid, 16);
    rsp_buf_init(&v, 64);
    rsp_buf_init(&cmd, 64);
    put(&v, 0x80, tid, 16);
    put(&v, 0x81, &r, 1);
    put(&cmd, 0xBF41, v.data, v.len);
    CU_ASSERT_RC(card(e, cmd.data, cmd.len), 0);
    rsp_buf_free(&v);
    rsp_buf_free(&cmd);
    json_t *resp = NULL, *req = json_object();
    json_object_set_new(req, "transactionId", json_string(e->tid));
    json_object_set_new(req, "cancelSessionResponse", b64j(e->last, e->last_len));
    int rc = es9(e, "cancelSession", req, &resp);
    json_decref(resp);
    return rc;
}

static void cancel(long reason, int want_order, int want_profile)
{
    struct env e;
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    open_session(&e, NULL);
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

/* ---- hand-built card answers (certificates and signatures the simulated
 * card would not produce by itself) ---------------------------------------- */

/* Load CERT_<stem>.der + SK_<stem>.pem from pki/sub. */
static int load_cred(const char *sub, const char *stem, struct rsp_pki_cred *c)
{
    char cp[800], kp[800];
    snprintf(cp, sizeof(cp), "%s/%s/CERT_%s.der", euicc_fixture_pki_dir(), sub, stem);
    snprintf(kp, sizeof(kp), "%s/%s/SK_%s.pem", euicc_fixture_pki_dir(), sub, stem);
    int rc = rsp_pki_load_cred(cp, kp, c);
    if (rc)
        printf("\n  load %s: %s\n", cp, rsp_strerror(rc));
    return rc;
}

static int cert_der(X509 *x, struct rsp_buf *out)
{
    rsp_buf_init(out, RSP_X509_DER_MAX);
    return rsp_x509_to_der(x, out);
}

/* Rebuild the card's AuthenticateServerResponse in e->last: euiccSigned1
 * replaced by es1 (if not NULL), the certificates by cert/eum (if not
 * NULL), and euiccSignature1 recomputed with key (if not NULL). */
static int asr_rebuild(struct env *e, const struct rsp_buf *es1, const struct rsp_buf *cert,
                       const struct rsp_buf *eum, EVP_PKEY *key)
{
    struct rsp_tlv t, a, x[4];
    struct rsp_buf v, in, out;
    uint8_t sig[RSP_ECDSA_SIG_LEN];
    size_t pos = 0;
    int rc = -1;

    if (rsp_tlv_parse(e->last, e->last_len, &t) || t.tag != 0xBF38 ||
        rsp_tlv_parse(t.val, t.val_len, &a) || a.tag != 0xA0)
        return -1;
    for (int i = 0; i < 4; i++)
        if (rsp_tlv_next(a.val, a.val_len, &pos, &x[i]) != 1)
            return -1;
    rsp_buf_init(&v, 8192);
    rsp_buf_init(&in, 8192);
    rsp_buf_init(&out, 8192);
    const uint8_t *s1 = es1 ? es1->data : x[0].tlv;
    size_t s1n = es1 ? es1->len : x[0].tlv_len;
    rsp_buf_append(&v, s1, s1n);
    if (key) {
        if (rsp_ecdsa_sign(key, s1, s1n, sig))
            goto out;
        put(&v, 0x5F37, sig, sizeof(sig));
    } else {
        rsp_buf_append(&v, x[1].tlv, x[1].tlv_len);
    }
    rsp_buf_append(&v, cert ? cert->data : x[2].tlv, cert ? cert->len : x[2].tlv_len);
    rsp_buf_append(&v, eum ? eum->data : x[3].tlv, eum ? eum->len : x[3].tlv_len);
    put(&in, 0xA0, v.data, v.len);
    if (put(&out, 0xBF38, in.data, in.len))
        goto out;
    free(e->last);
    e->last = rsp_buf_steal(&out, &e->last_len);
    rc = e->last ? 0 : -1;
out:
    rsp_buf_free(&v);
    rsp_buf_free(&in);
    rsp_buf_free(&out);
    return rc;
}

/* Rebuild the card's PrepareDownloadResponse in e->last: euiccSigned2 with
 * otPK otpk (if not NULL) and without hashCc (if !keep_cc), signed with
 * key over euiccSigned2 || smdpSignature2 (the 5F37 TLV kept from
 * AuthenticateClient). */
static int pdr_rebuild(struct env *e, const uint8_t *otpk, int keep_cc, EVP_PKEY *key)
{
    struct rsp_tlv t, a, es2, x;
    struct rsp_buf v, s2, msg, in, out;
    uint8_t sig[RSP_ECDSA_SIG_LEN];
    size_t pos = 0;
    int rc = -1;

    if (rsp_tlv_parse(e->last, e->last_len, &t) || t.tag != 0xBF21 ||
        rsp_tlv_parse(t.val, t.val_len, &a) || a.tag != 0xA0 ||
        rsp_tlv_parse(a.val, a.val_len, &es2) || es2.tag != 0x30)
        return -1;
    rsp_buf_init(&v, 512);
    rsp_buf_init(&s2, 512);
    rsp_buf_init(&msg, 512);
    rsp_buf_init(&in, 512);
    rsp_buf_init(&out, 512);
    while (rsp_tlv_next(es2.val, es2.val_len, &pos, &x) == 1) {
        if (x.tag == 0x5F49 && otpk)
            put(&v, 0x5F49, otpk, RSP_EC_POINT_LEN);
        else if (x.tag != 0x04 || keep_cc)
            rsp_buf_append(&v, x.tlv, x.tlv_len);
    }
    put(&s2, 0x30, v.data, v.len);
    rsp_buf_append(&msg, s2.data, s2.len);
    rsp_buf_append(&msg, e->sig2, e->sig2_len);
    if (rsp_ecdsa_sign(key, msg.data, msg.len, sig))
        goto out;
    put(&s2, 0x5F37, sig, sizeof(sig));
    put(&in, 0xA0, s2.data, s2.len);
    if (put(&out, 0xBF21, in.data, in.len))
        goto out;
    free(e->last);
    e->last = rsp_buf_steal(&out, &e->last_len);
    rc = e->last ? 0 : -1;
out:
    rsp_buf_free(&v);
    rsp_buf_free(&s2);
    rsp_buf_free(&msg);
    rsp_buf_free(&in);
    rsp_buf_free(&out);
    return rc;
}

/* AuthenticateClient refused with subj/reas; the session stays as it was
 * (nothing bound), so the LPA's CancelSession still finds it. */
static void auth_expect(struct env *e, const char *subj, const char *reas)
{
    CU_ASSERT_RC(step_auth_client(e, F_NONE, NULL), -1);
    ASSERT_CODE(e, subj, reas);
    CU_ASSERT_EQUAL(profile_state(e), SMDP_PROFILE_RELEASED);
    CU_ASSERT_EQUAL(smdp_sess_count(e->s), 1);
}

static const struct rsp_pki_rdn eum_subj[] = {
    {NID_countryName, "ES"}, {NID_organizationName, RSP_PKI_DEFAULT_EUM_ORG},
    {NID_commonName, "EUM Test"},
};

/* Which certificate of the AuthenticateServerResponse a test replaces. */
enum cert_slot {
    SLOT_EUICC,          /* the eUICC certificate */
    SLOT_EUICC_SIGNED,   /* the eUICC certificate, euiccSignature1 by its key */
    SLOT_EUM,            /* the EUM certificate */
};

/* A new session whose AuthenticateServerResponse carries cert in slot:
 * AuthenticateClient must fail with subj/reas (auth_expect). */
static void auth_with_cert(struct env *e, X509 *cert, EVP_PKEY *key, enum cert_slot slot,
                           const char *subj, const char *reas)
{
    struct rsp_buf der;
    CU_ASSERT_RC(cert_der(cert, &der), 0);
    const struct rsp_buf *as_euicc = slot == SLOT_EUM ? NULL : &der;
    const struct rsp_buf *as_eum = slot == SLOT_EUM ? &der : NULL;
    CU_ASSERT_RC(step_initiate(e, F_NONE), 0);
    CU_ASSERT_RC(asr_rebuild(e, NULL, as_euicc, as_eum, slot == SLOT_EUICC_SIGNED ? key : NULL), 0);
    auth_expect(e, subj, reas);
    rsp_buf_free(&der);
}

/* The same with the credential Negative/<stem> of the generated PKI. */
static void negative_cert(const char *stem, enum cert_slot slot, const char *subj,
                          const char *reas)
{
    struct env e;
    struct rsp_pki_cred c = {0};
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    CU_ASSERT_RC(load_cred("Negative", stem, &c), 0);
    auth_with_cert(&e, c.cert, c.key, slot, subj, reas);
    rsp_pki_cred_free(&c);
    env_close(&e);
}

/* 8.1.3/6.3: Negative/CERT_EUICC_ECDSA_NIST_EXPIRED (rsp-pki --negative):
 * the card's own key and EID under a validity that ended. */
static void test_euicc_cert_expired(void)
{
    negative_cert("EUICC_ECDSA_NIST_EXPIRED", SLOT_EUICC, "8.1.3", "6.3");
}

/* 8.1.2/6.3: Negative/CERT_EUM_ECDSA_NIST_EXPIRED, the EUM key re-certified
 * by the CI with a validity that ended (the eUICC certificate still
 * verifies under it). */
static void test_eum_cert_expired(void)
{
    negative_cert("EUM_ECDSA_NIST_EXPIRED", SLOT_EUM, "8.1.2", "6.3");
}

/* rsp_x509 verifies an EUM certificate on its own (role EUM, CI -> EUM):
 * what eum_at_fault in smdp_es9.c relies on; the Negative/ expired ones
 * fail on validity only. */
static void test_eum_verify_alone(void)
{
    struct rsp_x509_store *st = NULL;
    struct rsp_pki_cred eum = {0}, old = {0}, eu = {0}, eu_old = {0};
    struct rsp_x509_chain_info info;
    char ci[700];
    X509 *chain[1];
    snprintf(ci, sizeof(ci), "%s/CertificateIssuer", euicc_fixture_pki_dir());
    CU_ASSERT_FATAL(rsp_x509_store_new(&st) == 0);
    CU_ASSERT(rsp_x509_store_add_dir(st, ci) > 0);
    CU_ASSERT_RC(load_cred("EUM", "EUM_ECDSA_NIST", &eum), 0);
    CU_ASSERT_RC(load_cred("Negative", "EUM_ECDSA_NIST_EXPIRED", &old), 0);
    CU_ASSERT_RC(load_cred("eUICC", "EUICC_ECDSA_NIST", &eu), 0);
    CU_ASSERT_RC(load_cred("Negative", "EUICC_ECDSA_NIST_EXPIRED", &eu_old), 0);
    time_t now = time(NULL);
    CU_ASSERT_RC(rsp_x509_verify(st, RSP_X509_ROLE_EUM, eum.cert, NULL, 0, now, &info), 0);
    CU_ASSERT_EQUAL(info.role, RSP_X509_ROLE_EUM);
    CU_ASSERT_STRING_EQUAL(info.eid, "");
    CU_ASSERT_RC(rsp_x509_verify(st, RSP_X509_ROLE_EUM, old.cert, NULL, 0, now, NULL),
                 RSP_ERR_EXPIRED);
    CU_ASSERT_RC(rsp_x509_verify(st, RSP_X509_ROLE_EUM, old.cert, NULL, 0, RSP_X509_NO_TIME,
                                 NULL), 0);
    /* an eUICC certificate is no EUM, nor is the CI a leaf */
    CU_ASSERT_RC(rsp_x509_verify(st, RSP_X509_ROLE_EUM, eu.cert, NULL, 0, now, NULL),
                 RSP_ERR_CERT);
    CU_ASSERT_RC(rsp_x509_verify(st, RSP_X509_ROLE_CI, rsp_x509_store_get(st, 0), NULL, 0, now,
                                 NULL), RSP_ERR_INVAL);
    /* the expired eUICC certificate: same key and EID, fails on time only */
    chain[0] = eum.cert;
    CU_ASSERT_RC(rsp_x509_verify(st, RSP_X509_ROLE_EUICC, eu_old.cert, chain, 1, now, NULL),
                 RSP_ERR_EXPIRED);
    CU_ASSERT_RC(rsp_x509_verify(st, RSP_X509_ROLE_EUICC, eu_old.cert, chain, 1,
                                 RSP_X509_NO_TIME, &info), 0);
    CU_ASSERT_STRING_EQUAL(info.eid, euicc_fixture_eid());
    rsp_pki_cred_free(&eum);
    rsp_pki_cred_free(&old);
    rsp_pki_cred_free(&eu);
    rsp_pki_cred_free(&eu_old);
    rsp_x509_store_free(st);
}

/* 8.11.1/3.9: the EUM certified by the generator's foreign CI
 * (Negative/CERT_CI_ECDSA_NIST_FOREIGN), which the SM-DP+ does not trust. */
static void test_eum_foreign_ci(void)
{
    struct env e;
    struct rsp_pki_cred fci = {0}, eum = {0}, out = {0};
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    CU_ASSERT_RC(load_cred("Negative", "CI_ECDSA_NIST_FOREIGN", &fci), 0);
    CU_ASSERT_RC(load_cred("EUM", "EUM_ECDSA_NIST", &eum), 0);
    struct rsp_pki_cert_params p;
    memset(&p, 0, sizeof(p));
    p.role = RSP_X509_ROLE_EUM;
    p.curve = RSP_CURVE_P256;
    p.key = eum.key;
    p.subject = eum_subj;
    p.n_subject = 3;
    p.eum_org = RSP_PKI_DEFAULT_EUM_ORG;
    p.eum_prefix = RSP_PKI_DEFAULT_EUM_PREFIX;
    CU_ASSERT_RC(rsp_pki_issue(&p, &fci, &out), 0);
    auth_with_cert(&e, out.cert, NULL, SLOT_EUM, "8.11.1", "3.9");
    rsp_pki_cred_free(&fci);
    rsp_pki_cred_free(&eum);
    rsp_pki_cred_free(&out);
    env_close(&e);
}

/* 8.1.3/6.1: Negative/CERT_EUICC_ECDSA_NIST_OUT_OF_RANGE (EID outside the
 * EUM's permitted prefix), euiccSigned1 signed with its own key so that
 * only the EID check can fail. */
static void test_eid_out_of_range(void)
{
    negative_cert("EUICC_ECDSA_NIST_OUT_OF_RANGE", SLOT_EUICC_SIGNED, "8.1.3", "6.1");
}

/* 8.1/6.1 from the serverChallenge check itself: the challenge changed and
 * euiccSigned1 re-signed with the eUICC key, so the signature is valid. */
static void test_wrong_challenge_signed(void)
{
    struct env e;
    struct rsp_pki_cred eu = {0};
    struct rsp_tlv t, a, es1;
    struct rsp_buf s1;
    rsp_buf_init(&s1, 4096);
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    CU_ASSERT_RC(load_cred("eUICC", "EUICC_ECDSA_NIST", &eu), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_FATAL(rsp_tlv_parse(e.last, e.last_len, &t) == 0 &&
                    rsp_tlv_parse(t.val, t.val_len, &a) == 0 &&
                    rsp_tlv_parse(a.val, a.val_len, &es1) == 0);
    rsp_buf_append(&s1, es1.tlv, es1.tlv_len);
    int hit = 0;
    for (size_t i = 0; i + 2 < s1.len && !hit; i++)
        if (s1.data[i] == 0x84 && s1.data[i + 1] == 0x10) {
            s1.data[i + 2] ^= 0x01;
            hit = 1;
        }
    CU_ASSERT(hit);
    CU_ASSERT_RC(asr_rebuild(&e, &s1, NULL, NULL, eu.key), 0);
    auth_expect(&e, "8.1", "6.1");
    CU_ASSERT_PTR_NOT_NULL(strstr(e.c.message, "serverChallenge"));
    rsp_buf_free(&s1);
    rsp_pki_cred_free(&eu);
    env_close(&e);
}

/* On an order with a confirmation code (env_open with_cc): a session with
 * the right code, then a PrepareDownloadResponse whose euiccSigned2 carries
 * no hashCc, validly signed by the eUICC: 8.2.7/2.2 at getBoundProfilePackage. */
static void bpp_without_hashcc(struct env *e)
{
    struct rsp_pki_cred eu = {0};
    CU_ASSERT_RC(load_cred("eUICC", "EUICC_ECDSA_NIST", &eu), 0);
    open_session(e, "1234");
    CU_ASSERT_RC(pdr_rebuild(e, NULL, 0, eu.key), 0);
    CU_ASSERT_RC(step_bpp(e, 0), -1);
    ASSERT_CODE(e, "8.2.7", "2.2");
    rsp_pki_cred_free(&eu);
}

/* 8.2.7/2.2: an order with a confirmation code, and a PrepareDownloadResponse
 * whose euiccSigned2 carries no hashCc, validly signed by the eUICC. */
static void test_cc_missing_signed(void)
{
    struct env e;
    struct smdp_order o;
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 1), 0);
    bpp_without_hashcc(&e);
    /* not counted as a wrong code; the order is still downloadable */
    CU_ASSERT_RC(smdp_store_order_get(e.st, SMDP_ORDER_BY_MATCHING_ID, MID, &o), 0);
    CU_ASSERT_EQUAL(o.cc_attempts, 0);
    CU_ASSERT_EQUAL(o.state, SMDP_ORDER_ACTIVE);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_RELEASED);
    env_close(&e);
}

/* 8.2.7/2.2 ends the RSP session on the SM-DP+ like 8.2.7/3.8 does: the
 * LPA's CancelSession that follows finds no session (8.10.1/3.9), the order
 * stays ACTIVE / Released with no attempt counted, and a new session with
 * the right code installs. */
static void test_cc_missing_then_retry(void)
{
    struct env e;
    struct smdp_order o;
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 1), 0);
    bpp_without_hashcc(&e);
    CU_ASSERT_EQUAL(smdp_sess_count(e.s), 0);
    CU_ASSERT_RC(cancel_call(&e, 127), -1);
    ASSERT_CODE(&e, "8.10.1", "3.9");
    CU_ASSERT_RC(smdp_store_order_get(e.st, SMDP_ORDER_BY_MATCHING_ID, MID, &o), 0);
    CU_ASSERT_EQUAL(o.state, SMDP_ORDER_ACTIVE);
    CU_ASSERT_EQUAL(o.cc_attempts, 0);
    CU_ASSERT_EQUAL(o.download_attempts, 0);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_RELEASED);
    open_session(&e, "1234");
    install_done(&e);
    env_close(&e);
}

/* §3.1.3: the BPP was delivered but not installed; on the retry the SM-DP+
 * names the otPK.EUICC.ECKA bound before (smdpSigned2 bppEuiccOtpk) and an
 * eUICC that still holds its otSK answers with the same otPK. The SM-DP+
 * must accept it and bind a BPP the card installs. The simulated card
 * always draws a new key pair, so the test puts the first pair back into
 * its session, as such an eUICC would. */
static void test_retry_same_otpk(void)
{
    struct env e;
    struct rsp_pki_cred eu = {0};
    uint8_t otpk1[RSP_EC_POINT_LEN];
    EVP_PKEY *otsk1 = NULL;
    struct rsp_tlv t, x;
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    CU_ASSERT_RC(load_cred("eUICC", "EUICC_ECDSA_NIST", &eu), 0);
    open_session(&e, NULL);
    memcpy(otpk1, e.f.card->sess.ot_pk, sizeof(otpk1));
    otsk1 = e.f.card->sess.ot_sk;
    CU_ASSERT_FATAL(otsk1 && EVP_PKEY_up_ref(otsk1));
    CU_ASSERT_RC(step_bpp(&e, 0), 0);              /* delivered, lost */
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_DOWNLOADED);
    open_session(&e, NULL);
    /* smdpSigned2 names the otPK bound before */
    CU_ASSERT(rsp_tlv_parse(e.sd2, e.sd2_len, &t) == 0 &&
              rsp_tlv_find(t.val, t.val_len, 0x5F49, &x) == 0);
    CU_ASSERT_BYTES("bppEuiccOtpk", x.val, x.val_len, otpk1, sizeof(otpk1));
    EVP_PKEY_free(e.f.card->sess.ot_sk);
    e.f.card->sess.ot_sk = otsk1;
    memcpy(e.f.card->sess.ot_pk, otpk1, sizeof(otpk1));
    CU_ASSERT_RC(pdr_rebuild(&e, otpk1, 1, eu.key), 0);
    install_done(&e);
    CU_ASSERT_EQUAL(e.sw, 0x9000);             /* of the last BPP segment */
    rsp_pki_cred_free(&eu);
    env_close(&e);
}

/* One ES10c command by ICCID: tag {[A0] 5A iccid [81 01 00]} or tag {5A iccid}. */
static int es10c_iccid(struct env *e, uint32_t tag, int with_refresh)
{
    uint8_t bcd[10];
    struct rsp_buf v, in, cmd;
    static const uint8_t refresh[] = {0x81, 0x01, 0x00};
    rsp_iccid_to_bcd(e->iccid, 1, bcd);
    rsp_buf_init(&v, 64);
    rsp_buf_init(&in, 64);
    rsp_buf_init(&cmd, 64);
    put(&v, 0x5A, bcd, sizeof(bcd));
    if (with_refresh) {
        put(&in, 0xA0, v.data, v.len);
        rsp_buf_append(&in, refresh, sizeof(refresh));
        put(&cmd, tag, in.data, in.len);
    } else {
        put(&cmd, tag, v.data, v.len);
    }
    int rc = card(e, cmd.data, cmd.len);
    rsp_buf_free(&v);
    rsp_buf_free(&in);
    rsp_buf_free(&cmd);
    return rc;
}

/* Deliver every OtherSignedNotification the card holds; returns how many. */
static int deliver_other(struct env *e)
{
    static const uint8_t list_cmd[] = {0xBF, 0x2B, 0x00};
    struct rsp_tlv t, l, n;
    size_t pos = 0;
    int count = 0;
    if (card(e, list_cmd, sizeof(list_cmd)) || rsp_tlv_parse(e->last, e->last_len, &t) ||
        rsp_tlv_parse(t.val, t.val_len, &l) || l.tag != 0xA0)
        return -1;
    uint8_t *copy = malloc(e->last_len);
    size_t copy_len = e->last_len;
    memcpy(copy, e->last, copy_len);
    rsp_tlv_parse(copy, copy_len, &t);
    rsp_tlv_parse(t.val, t.val_len, &l);
    while (rsp_tlv_next(l.val, l.val_len, &pos, &n) == 1) {
        if (n.tag != 0x30)
            continue;
        json_t *resp = NULL, *req = json_object();
        json_object_set_new(req, "pendingNotification", b64j(n.tlv, n.tlv_len));
        CU_ASSERT_RC(es9(e, "handleNotification", req, &resp), 0);
        CU_ASSERT_PTR_NULL(resp);
        json_decref(resp);
        count++;
    }
    free(copy);
    return count;
}

/* Enable, disable, delete of the installed profile: each signed
 * notification is verified and reported through the progress hook with its
 * NotificationEvent bit (1 enable, 2 disable, 3 delete). */
static void test_other_notifications(void)
{
    struct env e;
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    open_session(&e, NULL);
    CU_ASSERT_RC(step_bpp(&e, 1), 0);
    CU_ASSERT_RC(step_notify(&e), 0);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_INSTALLED);
    int base = e.n_events;
    CU_ASSERT_RC(es10c_iccid(&e, 0xBF31, 1), 0);           /* enable */
    CU_ASSERT_RC(es10c_iccid(&e, 0xBF32, 1), 0);           /* disable */
    CU_ASSERT_RC(es10c_iccid(&e, 0xBF33, 0), 0);           /* delete */
    CU_ASSERT_EQUAL(deliver_other(&e), 3);
    CU_ASSERT_EQUAL(e.n_events - base, 3);
    uint32_t seen = 0;
    for (int i = base; i < e.n_events && i < 16; i++) {
        CU_ASSERT_EQUAL(e.ev_step[i], SMDP_STEP_OTHER_NOTIFICATION);
        seen |= (uint32_t)e.ev_event[i];
    }
    CU_ASSERT_EQUAL(seen, 0x2u | 0x4u | 0x8u);
    CU_ASSERT_STRING_EQUAL(e.last_eid, euicc_fixture_eid());
    /* A notification whose signature does not verify is dropped (still 204). */
    static const uint8_t list_cmd[] = {0xBF, 0x2B, 0x00};
    struct rsp_tlv t, l, n;
    size_t pos = 0;
    CU_ASSERT_RC(card(&e, list_cmd, sizeof(list_cmd)), 0);
    CU_ASSERT_FATAL(rsp_tlv_parse(e.last, e.last_len, &t) == 0 &&
                    rsp_tlv_parse(t.val, t.val_len, &l) == 0);
    memset(&n, 0, sizeof(n));
    while (rsp_tlv_next(l.val, l.val_len, &pos, &n) == 1 && n.tag != 0x30)
        ;
    CU_ASSERT_FATAL(n.tag == 0x30);
    struct rsp_tlv tbs, sig;
    size_t q = 0;
    CU_ASSERT_FATAL(rsp_tlv_next(n.val, n.val_len, &q, &tbs) == 1 &&
                    rsp_tlv_next(n.val, n.val_len, &q, &sig) == 1 && sig.tag == 0x5F37);
    ((uint8_t *)sig.val)[5] ^= 0x01;
    int before = e.n_events;
    json_t *resp = NULL, *req = json_object();
    json_object_set_new(req, "pendingNotification", b64j(n.tlv, n.tlv_len));
    CU_ASSERT_RC(es9(&e, "handleNotification", req, &resp), 0);
    CU_ASSERT_PTR_NULL(resp);
    CU_ASSERT_EQUAL(e.n_events, before);
    env_close(&e);
}

/* §3.5: the PIR arrives after smdpd restarted (in-memory session gone):
 * verified with the key stored with the BPP binding -> Installed, DONE. */
static void test_pir_after_restart(void)
{
    struct env e;
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    open_session(&e, NULL);
    CU_ASSERT_RC(step_bpp(&e, 1), 0);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_DOWNLOADED);
    /* restart: new core, new store connection on the same database */
    smdp_free(e.s);
    e.s = NULL;
    smdp_store_close(e.st);
    e.st = NULL;
    CU_ASSERT_RC(smdp_open(&e, e.curve), 0);
    CU_ASSERT_RC(smdp_store_open_sqlite(e.db, &e.st), 0);
    CU_ASSERT_FATAL(e.s && e.st);
    CU_ASSERT_EQUAL(smdp_sess_count(e.s), 0);
    /* a forged copy (signature byte flipped) is dropped */
    uint8_t *bad = malloc(e.last_len);
    memcpy(bad, e.last, e.last_len);
    bad[e.last_len - 5] ^= 0x01;
    int events = e.n_events;
    json_t *resp = NULL, *req = json_object();
    json_object_set_new(req, "pendingNotification", b64j(bad, e.last_len));
    CU_ASSERT_RC(es9(&e, "handleNotification", req, &resp), 0);
    free(bad);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_DOWNLOADED);
    CU_ASSERT_EQUAL(e.n_events, events);
    /* the real one, an hour later */
    e.now += 3600;
    CU_ASSERT_RC(step_notify(&e), 0);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_INSTALLED);
    CU_ASSERT_EQUAL(order_state(&e), SMDP_ORDER_DONE);
    CU_ASSERT_EQUAL(e.last_step, SMDP_STEP_BPP_INSTALLATION);
    CU_ASSERT_EQUAL(e.last_success, 1);
    CU_ASSERT_STRING_EQUAL(e.last_eid, euicc_fixture_eid());
    /* delivered again (the LPA retries): nothing changes, nothing reported */
    events = e.n_events;
    CU_ASSERT_RC(step_notify(&e), 0);
    CU_ASSERT_EQUAL(e.n_events, events);
    CU_ASSERT_EQUAL(order_state(&e), SMDP_ORDER_DONE);
    env_close(&e);
}

/* notificationConfigurationInfo (B6) of profileMetadata. */
static int metadata_b6(json_t *resp, struct rsp_buf *out)
{
    struct rsp_buf md;
    struct rsp_tlv t, b6;
    int rc = unb64(resp, "profileMetadata", &md);
    rsp_buf_init(out, 1024);
    if (!rc)
        rc = rsp_tlv_parse(md.data, md.len, &t) || rsp_tlv_find(t.val, t.val_len, 0xB6, &b6) ||
             rsp_buf_append(out, b6.tlv, b6.tlv_len);
    rsp_buf_free(&md);
    return rc ? -1 : 0;
}

static int auth_client_resp(struct env *e, json_t **resp)
{
    json_t *req = json_object();
    json_object_set_new(req, "transactionId", json_string(e->tid));
    json_object_set_new(req, "authenticateServerResponse", b64j(e->last, e->last_len));
    return es9(e, "authenticateClient", req, resp);
}

/* The profile's stored notif_config goes into the metadata; without one,
 * install+enable+disable+delete to our FQDN. */
static void test_notif_config(void)
{
    /* B6 { 30 {80 02 07 80 (install), 81 "notify.op.example"},
     *      30 {80 02 05 60 (enable, disable), 81 FQDN} } */
    static const char addr1[] = "notify.op.example";
    struct rsp_buf cfg, v, one, b6;
    json_t *resp = NULL;
    static const uint8_t ev_install[] = {0x07, 0x80}, ev_en_dis[] = {0x05, 0x60},
                         ev_all[] = {0x04, 0xF0};
    struct env e;

    rsp_buf_init(&cfg, 512);
    rsp_buf_init(&v, 512);
    rsp_buf_init(&one, 512);
    put(&one, 0x80, ev_install, 2);
    put(&one, 0x81, addr1, strlen(addr1));
    put(&v, 0x30, one.data, one.len);
    rsp_buf_reset(&one);
    put(&one, 0x80, ev_en_dis, 2);
    put(&one, 0x81, FQDN, strlen(FQDN));
    put(&v, 0x30, one.data, one.len);
    put(&cfg, 0xB6, v.data, v.len);

    /* the configured one, in AuthenticateClient and in the BPP */
    CU_ASSERT_RC(env_open2(&e, "NIST", NULL, 0, cfg.data, cfg.len), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(auth_client_resp(&e, &resp), 0);
    CU_ASSERT_RC(metadata_b6(resp, &b6), 0);
    CU_ASSERT_BYTES("notificationConfigurationInfo", b6.data, b6.len, cfg.data, cfg.len);
    rsp_buf_free(&b6);
    json_decref(resp);
    env_close(&e);
    CU_ASSERT_RC(env_open2(&e, "NIST", NULL, 0, cfg.data, cfg.len), 0);
    open_session(&e, NULL);
    CU_ASSERT_RC(step_bpp(&e, 1), 0);
    CU_ASSERT_RC(step_notify(&e), 0);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_INSTALLED);
    /* the card follows it: enable and disable notify, delete does not */
    CU_ASSERT_RC(es10c_iccid(&e, 0xBF31, 1), 0);
    CU_ASSERT_RC(es10c_iccid(&e, 0xBF32, 1), 0);
    CU_ASSERT_RC(es10c_iccid(&e, 0xBF33, 0), 0);
    CU_ASSERT_EQUAL(deliver_other(&e), 2);
    env_close(&e);

    /* the default */
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(auth_client_resp(&e, &resp), 0);
    CU_ASSERT_RC(metadata_b6(resp, &b6), 0);
    rsp_buf_reset(&one);
    rsp_buf_reset(&v);
    rsp_buf_reset(&cfg);
    put(&one, 0x80, ev_all, 2);
    put(&one, 0x81, FQDN, strlen(FQDN));
    put(&v, 0x30, one.data, one.len);
    put(&cfg, 0xB6, v.data, v.len);
    CU_ASSERT_BYTES("default notificationConfigurationInfo", b6.data, b6.len, cfg.data, cfg.len);
    rsp_buf_free(&b6);
    json_decref(resp);
    env_close(&e);

    /* a malformed stored configuration fails the download, never crashes */
    static const uint8_t junk[] = {0xB6, 0x03, 0x30, 0x01, 0x80};
    CU_ASSERT_RC(env_open2(&e, "NIST", NULL, 0, junk, sizeof(junk)), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(auth_client_resp(&e, &resp), -1);
    ASSERT_CODE(&e, "1.2", "4.2");
    json_decref(resp);
    env_close(&e);
    rsp_buf_free(&cfg);
    rsp_buf_free(&v);
    rsp_buf_free(&one);
}

/* CancelSession after AuthenticateServer but before AuthenticateClient:
 * the SM-DP+ has no PK.EUICC.SIG yet; the session ends with success, the
 * order and profile are untouched and nothing is reported. */
static void test_cancel_before_auth(void)
{
    struct env e;
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    uint8_t *asr = e.last;
    size_t asr_len = e.last_len;
    e.last = NULL;
    struct rsp_buf v, cmd;
    uint8_t tid[16], r = 1;
    rsp_hex_decode(e.tid, 32, tid, 16);
    rsp_buf_init(&v, 64);
    rsp_buf_init(&cmd, 64);
    put(&v, 0x80, tid, 16);
    put(&v, 0x81, &r, 1);
    put(&cmd, 0xBF41, v.data, v.len);
    CU_ASSERT_RC(card(&e, cmd.data, cmd.len), 0);
    rsp_buf_free(&v);
    rsp_buf_free(&cmd);
    CU_ASSERT_EQUAL(smdp_sess_count(e.s), 1);
    json_t *resp = NULL, *req = json_object();
    json_object_set_new(req, "transactionId", json_string(e.tid));
    json_object_set_new(req, "cancelSessionResponse", b64j(e.last, e.last_len));
    CU_ASSERT_RC(es9(&e, "cancelSession", req, &resp), 0);
    CU_ASSERT(json_is_object(resp) && json_object_size(resp) == 0);
    json_decref(resp);
    CU_ASSERT_EQUAL(smdp_sess_count(e.s), 0);
    CU_ASSERT_EQUAL(e.n_events, 0);
    CU_ASSERT_EQUAL(order_state(&e), SMDP_ORDER_ACTIVE);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_RELEASED);
    /* the session is gone for AuthenticateClient too */
    free(e.last);
    e.last = asr;
    e.last_len = asr_len;
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, NULL), -1);
    ASSERT_CODE(&e, "8.10.1", "3.9");
    env_close(&e);
}

/* The session table: expired sessions are freed (10k abandoned sessions
 * never fill a 1500 cap because the sweep frees them), and a full table
 * answers InitiateAuthentication 1.2/4.4 (Busy). */
static void test_session_table(void)
{
    struct env e;
    char tid[33];
    uint8_t chal[16];
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    smdp_sess_cap_set(e.s, 1500);
    int64_t t = e.now;
    size_t peak = 0;
    int refused = 0;
    for (int i = 0; i < 10000; i++) {
        if (i % 1000 == 0)
            t += 301;                  /* every earlier session has expired */
        if (smdp_sess_new(e.s, SMDP_CRED_NIST, t, NULL, tid, chal))
            refused++;
        size_t n = smdp_sess_count(e.s);
        if (n > peak)
            peak = n;
    }
    CU_ASSERT_EQUAL(refused, 0);
    CU_ASSERT(peak <= 1500);
    if (refused || peak > 1500)
        printf("\n  refused %d, peak %zu\n", refused, peak);
    /* the cap, through the ES9+ function */
    smdp_sess_cap_set(e.s, 3);
    e.now = t + 301;
    for (int i = 0; i < 3; i++)
        CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_EQUAL(smdp_sess_count(e.s), 3);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), -1);
    ASSERT_CODE(&e, "1.2", "4.4");
    CU_ASSERT_EQUAL(smdp_sess_count(e.s), 3);
    e.now += 301;
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_EQUAL(smdp_sess_count(e.s), 1);
    env_close(&e);
}

/* A rejected AuthenticateClient (here a damaged euiccSignature1) binds
 * nothing and ends nothing: the intact request then succeeds and the
 * download completes (found by the smdp_es9 fuzz suite). */
static void test_auth_reject_keeps_session(void)
{
    struct env e;
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    uint8_t *asr = malloc(e.last_len);
    size_t asr_len = e.last_len;
    memcpy(asr, e.last, asr_len);
    CU_ASSERT_RC(step_auth_client(&e, F_SIG1, NULL), -1);
    ASSERT_CODE(&e, "8.1", "6.1");
    CU_ASSERT_EQUAL(smdp_sess_count(e.s), 1);
    free(e.last);
    e.last = asr;
    e.last_len = asr_len;
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, NULL), 0);
    CU_ASSERT_RC(step_bpp(&e, 1), 0);
    CU_ASSERT_RC(step_notify(&e), 0);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_INSTALLED);
    env_close(&e);
}

/* §5.6.2 wrong confirmation code with attempts left: 8.2.7/3.8 ends the RSP
 * session but not the order. The LPA then cancels (ES10b CancelSession +
 * ES9+ cancelSession, undefinedReason): the SM-DP+ no longer knows the
 * session (8.10.1/3.9) and the order stays ACTIVE / Released, so a new
 * session with the right code installs. (Before: the cancel failed the
 * order, profile Error, and the attempt limit never applied.) */
static void test_cc_wrong_then_cancel(void)
{
    struct env e;
    struct smdp_order o;
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 1), 0);
    open_session(&e, "9999");
    CU_ASSERT_RC(step_bpp(&e, 0), -1);
    ASSERT_CODE(&e, "8.2.7", "3.8");
    CU_ASSERT_EQUAL(e.last_step, SMDP_STEP_CONFIRMATION_FAILURE);
    CU_ASSERT_EQUAL(e.last_pstate, SMDP_PROFILE_RELEASED);
    CU_ASSERT_EQUAL(smdp_sess_count(e.s), 0);
    CU_ASSERT_RC(smdp_store_order_get(e.st, SMDP_ORDER_BY_MATCHING_ID, MID, &o), 0);
    CU_ASSERT_EQUAL(o.state, SMDP_ORDER_ACTIVE);
    CU_ASSERT_EQUAL(o.cc_attempts, 1);
    CU_ASSERT_STRING_EQUAL(o.transaction_id, "");
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_RELEASED);
    CU_ASSERT_RC(cancel_call(&e, 127), -1);
    ASSERT_CODE(&e, "8.10.1", "3.9");
    CU_ASSERT_EQUAL(order_state(&e), SMDP_ORDER_ACTIVE);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_RELEASED);
    CU_ASSERT_EQUAL(e.last_step, SMDP_STEP_CONFIRMATION_FAILURE);  /* no "cancelled" */
    /* the right code in a new session */
    open_session(&e, "1234");
    install_done(&e);
    env_close(&e);
}

/* 8.8.5/4.1 in AuthenticateClient: the refusal itself moves the order to
 * EXPIRED and its profile to Error (no sweep needed) and reports the
 * eligibility step with that state; a second attempt gets the same. */
static void test_expired_order_auth(void)
{
    struct env e;
    g_order_ttl = 60;
    int rc = env_open(&e, "NIST", NULL, 0);
    g_order_ttl = 86400;
    CU_ASSERT_RC(rc, 0);
    e.now += 61;
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, NULL), -1);
    ASSERT_CODE(&e, "8.8.5", "4.1");
    CU_ASSERT_EQUAL(order_state(&e), SMDP_ORDER_EXPIRED);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_ERROR);
    CU_ASSERT_EQUAL(e.last_step, SMDP_STEP_ELIGIBILITY_CHECK);
    CU_ASSERT_EQUAL(e.last_success, 0);
    CU_ASSERT_EQUAL(e.last_pstate, SMDP_PROFILE_ERROR);
    CU_ASSERT_STRING_EQUAL(e.last_subject, "8.8.5");
    CU_ASSERT_STRING_EQUAL(e.last_reason, "4.1");
    int n = e.n_events;
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(step_auth_client(&e, F_NONE, NULL), -1);
    ASSERT_CODE(&e, "8.8.5", "4.1");
    CU_ASSERT_EQUAL(e.n_events, n + 1);
    CU_ASSERT_EQUAL(order_state(&e), SMDP_ORDER_EXPIRED);
    /* the sweep finds nothing left to expire */
    unsigned ns = 9, no = 9;
    CU_ASSERT_RC(smdp_store_expire(e.st, e.now, &ns, &no), 0);
    CU_ASSERT_EQUAL(no, 0);
    env_close(&e);
}

/* 8.8.5/4.1 in GetBoundProfilePackage (the order expired during the
 * session): EXPIRED / Error at once, "BPP download" failure reported, the
 * session ends, nothing bound. */
static void test_expired_order_bpp(void)
{
    struct env e;
    struct smdp_order o;
    g_order_ttl = 100;
    int rc = env_open(&e, "NIST", NULL, 0);
    g_order_ttl = 86400;
    CU_ASSERT_RC(rc, 0);
    open_session(&e, NULL);
    e.now += 101;    /* the session (300 s) lives on, the order not */
    CU_ASSERT_RC(step_bpp(&e, 0), -1);
    ASSERT_CODE(&e, "8.8.5", "4.1");
    CU_ASSERT_RC(smdp_store_order_get(e.st, SMDP_ORDER_BY_MATCHING_ID, MID, &o), 0);
    CU_ASSERT_EQUAL(o.state, SMDP_ORDER_EXPIRED);
    CU_ASSERT_EQUAL(o.download_attempts, 0);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_ERROR);
    CU_ASSERT_EQUAL(e.last_step, SMDP_STEP_BPP_DOWNLOAD);
    CU_ASSERT_EQUAL(e.last_success, 0);
    CU_ASSERT_EQUAL(e.last_pstate, SMDP_PROFILE_ERROR);
    CU_ASSERT_EQUAL(smdp_sess_count(e.s), 0);
    env_close(&e);
}

/* The B6 of one entry {events, address}. */
static void notif_b6(struct rsp_buf *out, const uint8_t ev[2], const char *addr)
{
    struct rsp_buf one, v;
    rsp_buf_init(out, 512);
    rsp_buf_init(&one, 512);
    rsp_buf_init(&v, 512);
    put(&one, 0x80, ev, 2);
    put(&one, 0x81, addr, strlen(addr));
    put(&v, 0x30, one.data, one.len);
    put(out, 0xB6, v.data, v.len);
    rsp_buf_free(&one);
    rsp_buf_free(&v);
}

/* A lab SM-DP+ on another port than 443: the LPA's smdpAddress
 * "host:port" (any case) gives the default notificationAddress
 * "<our FQDN>:port", in AuthenticateClient's metadata and in the BPP the
 * card installs; a stored notif_config is kept as it is. */
static void test_notif_addr_port(void)
{
    static const uint8_t ev_all[] = {0x04, 0xF0}, ev_install[] = {0x07, 0x80};
    struct rsp_buf want, b6, cfg;
    json_t *resp = NULL;
    struct env e;
    g_smdp_address = "TESTsmdpplus1.example.com:8443";
    notif_b6(&want, ev_all, FQDN ":8443");
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(auth_client_resp(&e, &resp), 0);
    CU_ASSERT_RC(metadata_b6(resp, &b6), 0);
    CU_ASSERT_BYTES("notificationConfigurationInfo", b6.data, b6.len, want.data, want.len);
    rsp_buf_free(&b6);
    json_decref(resp);
    env_close(&e);
    /* the card installs a BPP with that metadata and its PIR verifies */
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    open_session(&e, NULL);
    CU_ASSERT_RC(step_bpp(&e, 1), 0);
    CU_ASSERT_RC(step_notify(&e), 0);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_INSTALLED);
    env_close(&e);
    /* a stored configuration wins */
    notif_b6(&cfg, ev_install, "notify.op.example");
    CU_ASSERT_RC(env_open2(&e, "NIST", NULL, 0, cfg.data, cfg.len), 0);
    CU_ASSERT_RC(step_initiate(&e, F_NONE), 0);
    CU_ASSERT_RC(auth_client_resp(&e, &resp), 0);
    CU_ASSERT_RC(metadata_b6(resp, &b6), 0);
    CU_ASSERT_BYTES("stored notificationConfigurationInfo", b6.data, b6.len, cfg.data, cfg.len);
    rsp_buf_free(&b6);
    json_decref(resp);
    env_close(&e);
    g_smdp_address = "TESTsmdpplus1.example.com";
    rsp_buf_free(&want);
    rsp_buf_free(&cfg);
}

/* One ES2+ function as operator op1 (the header already taken off). */
static int es2(struct env *e, const char *fn, json_t *req, json_t **resp)
{
    smdp_fn f = smdp_es2_lookup(fn);
    memset(&e->c, 0, sizeof(e->c));
    memset(&e->rq, 0, sizeof(e->rq));
    e->rq.iface = SMDP_IFACE_ES2;
    e->rq.operator_id = "op1";
    e->rq.now = e->now;
    e->c.s = e->s;
    e->c.st = e->st;
    e->c.req = &e->rq;
    e->c.now = e->now;
    *resp = NULL;
    int rc = f ? f(&e->c, req, resp) : -1;
    json_decref(req);
    return rc;
}

/* ES2+ ConfirmOrder with an EID, a confirmation code and its own
 * matchingId updates the DownloadOrder's order in one store transaction
 * (smdp_store_order_confirm): no second order, no CANCELLED leftover, the
 * profile never back to Available in between. A matchingId in use is
 * refused with nothing changed. */
static void test_es2_confirm_atomic(void)
{
    struct env e;
    struct smdp_order o, first;
    json_t *resp = NULL;
    uint8_t h[32];
    CU_ASSERT_RC(env_open(&e, "NIST", NULL, 0), 0);
    /* free the profile: the env's order is withdrawn */
    CU_ASSERT_RC(smdp_store_order_transition(e.st, MID, SMDP_ORDER_ACTIVE, SMDP_ORDER_CANCELLED,
                                             SMDP_PROFILE_RELEASED, SMDP_PROFILE_AVAILABLE), 0);
    CU_ASSERT_RC(es2(&e, "downloadOrder", json_pack("{s:s}", "iccid", e.iccid), &resp), 0);
    json_decref(resp);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_ALLOCATED);
    CU_ASSERT_RC(smdp_store_order_get(e.st, SMDP_ORDER_BY_ICCID, e.iccid, &first), 0);
    CU_ASSERT_EQUAL(first.state, SMDP_ORDER_ACTIVE);
    /* taken matchingId (the withdrawn order's): refused, nothing moved */
    CU_ASSERT_RC(es2(&e, "confirmOrder",
                     json_pack("{s:s, s:s, s:s, s:b}", "iccid", e.iccid, "matchingId", MID,
                               "confirmationCode", "7777", "releaseFlag", 1), &resp), -1);
    ASSERT_CODE(&e, "8.2.6", "3.3");
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_ALLOCATED);
    CU_ASSERT_RC(smdp_store_order_get(e.st, SMDP_ORDER_BY_MATCHING_ID, first.matching_id, &o), 0);
    CU_ASSERT_EQUAL(o.state, SMDP_ORDER_ACTIVE);
    CU_ASSERT_EQUAL(o.cc_required, 0);
    /* the real one */
    CU_ASSERT_RC(es2(&e, "confirmOrder",
                     json_pack("{s:s, s:s, s:s, s:s, s:b}", "iccid", e.iccid, "eid",
                               euicc_fixture_eid(), "matchingId", "OP-CHOSEN-1",
                               "confirmationCode", "7777", "releaseFlag", 1), &resp), 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(resp, "matchingId")), "OP-CHOSEN-1");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(resp, "eid")), euicc_fixture_eid());
    json_decref(resp);
    CU_ASSERT_EQUAL(profile_state(&e), SMDP_PROFILE_RELEASED);
    /* the same order renamed: the generated matchingId is gone, no
     * CANCELLED copy of it */
    CU_ASSERT_RC(smdp_store_order_get(e.st, SMDP_ORDER_BY_MATCHING_ID, first.matching_id, &o),
                 RSP_ERR_NOTFOUND);
    CU_ASSERT_RC(smdp_store_order_get(e.st, SMDP_ORDER_BY_MATCHING_ID, "OP-CHOSEN-1", &o), 0);
    CU_ASSERT_EQUAL(o.state, SMDP_ORDER_ACTIVE);
    CU_ASSERT_STRING_EQUAL(o.eid, euicc_fixture_eid());
    CU_ASSERT_EQUAL(o.cc_required, 1);
    CU_ASSERT_EQUAL(o.cc_attempts, 0);
    CU_ASSERT(o.cc_limit > 0);
    CU_ASSERT_EQUAL(o.created, first.created);
    CU_ASSERT_RC(smdp_cc_hash("7777", h), 0);
    CU_ASSERT_BYTES("cc hash", o.cc_hash, 32, h, 32);
    /* confirming again: the profile is no longer Allocated/Linked */
    CU_ASSERT_RC(es2(&e, "confirmOrder",
                     json_pack("{s:s, s:b}", "iccid", e.iccid, "releaseFlag", 1), &resp), -1);
    ASSERT_CODE(&e, "8.2.1", "3.5");
    env_close(&e);
}

/* otPK.EUICC.ECKA import (rsp_bpp_otpk_import, the quick check that is
 * complete on cofactor-1 curves) agrees with the full check of
 * rsp_ec_pubkey_from_point on good and bad points. */
static void test_otpk_import(void)
{
    static const int curves[] = {RSP_CURVE_P256, RSP_CURVE_BRAINPOOLP256R1};
    for (size_t c = 0; c < 2; c++) {
        EVP_PKEY *k = NULL, *q = NULL;
        uint8_t pt[RSP_EC_POINT_LEN], bad[RSP_EC_POINT_LEN];
        CU_ASSERT_FATAL(rsp_ec_key_generate(curves[c], &k) == RSP_OK);
        CU_ASSERT_FATAL(rsp_ec_pubkey_to_point(k, pt) == RSP_OK);
        CU_ASSERT_RC(rsp_bpp_otpk_import(curves[c], pt, sizeof(pt), &q), RSP_OK);
        uint8_t back[RSP_EC_POINT_LEN];
        CU_ASSERT_RC(rsp_ec_pubkey_to_point(q, back), RSP_OK);
        CU_ASSERT_BYTES("otPK", back, sizeof(back), pt, sizeof(pt));
        EVP_PKEY_free(q);
        q = NULL;
        /* off the curve, coordinates >= p, not uncompressed, short */
        for (int v = 0; v < 4; v++) {
            size_t len = sizeof(bad);
            memcpy(bad, pt, sizeof(bad));
            if (v == 0)
                bad[RSP_EC_POINT_LEN - 1] ^= 0x01;
            else if (v == 1)
                memset(bad + 1, 0xFF, RSP_EC_SCALAR_LEN);
            else if (v == 2)
                bad[0] = 0x00;
            else
                len--;
            CU_ASSERT_RC(rsp_bpp_otpk_import(curves[c], bad, len, &q), RSP_ERR_DECODE);
            CU_ASSERT_PTR_NULL(q);
            CU_ASSERT_RC(rsp_ec_pubkey_from_point(curves[c], bad, len, &q), RSP_ERR_DECODE);
            EVP_PKEY_free(q);
            q = NULL;
        }
        /* a P-256 point is (almost surely) not on brainpoolP256r1 */
        CU_ASSERT_RC(rsp_bpp_otpk_import(curves[1 - c], pt, sizeof(pt), &q),
                     rsp_ec_pubkey_from_point(curves[1 - c], pt, sizeof(pt), &q));
        EVP_PKEY_free(q);
        EVP_PKEY_free(k);
    }
    {
        EVP_PKEY *q = NULL;
        uint8_t z[RSP_EC_POINT_LEN] = {0x04};
        CU_ASSERT_RC(rsp_bpp_otpk_import(RSP_CURVE_NONE, z, sizeof(z), &q), RSP_ERR_UNSUPPORTED);
        CU_ASSERT_PTR_NULL(q);
    }
}

/* The large base64 field: one per call kept out of the tree (placeholder +
 * c->raw), a second one is an ordinary string. */
static void test_b64_raw(void)
{
    struct smdp_call c;
    static const uint8_t a[] = {0xBF, 0x36, 0x00}, b[] = {0x01, 0x02, 0x03, 0x04};
    json_t *o = json_object();

    memset(&c, 0, sizeof(c));
    CU_ASSERT_FATAL(o != NULL);
    /* without raw_ok (a direct caller): an ordinary string */
    CU_ASSERT_RC(smdp_call_set_b64_raw(&c, o, "plain", a, sizeof(a)), RSP_OK);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "plain")) ?: "", "vzYA");
    CU_ASSERT_PTR_NULL(c.raw);
    c.raw_ok = 1;
    CU_ASSERT_RC(smdp_call_set_b64_raw(&c, o, "big", a, sizeof(a)), RSP_OK);
    CU_ASSERT_PTR_EQUAL(json_object_get(o, "big"), c.raw_val);
    CU_ASSERT_EQUAL(c.raw_len, 4);
    CU_ASSERT_BYTES("raw", (const uint8_t *)c.raw, c.raw_len, (const uint8_t *)"vzYA", 4);
    CU_ASSERT_RC(smdp_call_set_b64_raw(&c, o, "second", b, sizeof(b)), RSP_OK);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "second")) ?: "", "AQIDBA==");
    CU_ASSERT_PTR_EQUAL(json_object_get(o, "big"), c.raw_val);
    free(c.raw);
    json_decref(o);
}

/* The SM-DP+'s keyed BSP wrap context (rsp_bsp_ctx_wrap, used by
 * rsp_bpp_build) gives the same segments byte for byte as rsp_bsp_wrap:
 * both protections, every padding length, several segments chained,
 * ReplaceSessionKeys in between; and the same refusals. */
static void test_bsp_ctx_wrap(void)
{
    static const size_t sizes[] = { 0, 1, 15, 16, 17, 255, 1007, 1008, 1020 };
    uint8_t k1[16], k2[16], m1[16], e2[16], m2[16], v2[16], plain[3000];
    struct rsp_bsp ref;
    struct rsp_bsp_ctx *c = NULL;
    struct rsp_buf a, b;

    for (size_t i = 0; i < sizeof plain; i++)
        plain[i] = (uint8_t)(i * 7 + 3);
    for (int i = 0; i < 16; i++) {
        k1[i] = (uint8_t)(0x10 + i);
        k2[i] = (uint8_t)(0x40 + i);
        m1[i] = (uint8_t)(0x70 + i);
        e2[i] = (uint8_t)(0xA0 + i);
        m2[i] = (uint8_t)(0xB0 + i);
        v2[i] = (uint8_t)(0xC0 + i);
    }
    rsp_buf_init(&a, 1 << 16);
    rsp_buf_init(&b, 1 << 16);
    rsp_bsp_init(&ref, k1, k2, m1);
    CU_ASSERT_RC(rsp_bsp_ctx_new(&ref, &c), RSP_OK);
    if (!c)
        goto out;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        static const int prots[] = { RSP_BSP_ENC_MAC, RSP_BSP_MAC_ONLY };
        for (size_t j = 0; j < 2; j++) {
            int prot = prots[j];
            int want = sizes[i] > rsp_bsp_plain_max(prot) ? RSP_ERR_TOOBIG : RSP_OK;
            CU_ASSERT_RC(rsp_bsp_wrap(&ref, 0x86, prot, plain, sizes[i], &a), want);
            CU_ASSERT_RC(rsp_bsp_ctx_wrap(c, 0x86, prot, plain, sizes[i], &b), want);
        }
    }
    CU_ASSERT_BYTES("ctx wrap vs wrap", b.data, b.len, a.data, a.len);
    CU_ASSERT_RC(rsp_bsp_wrap_all(&ref, 0x86, RSP_BSP_ENC_MAC, plain, sizeof plain, &a), RSP_OK);
    CU_ASSERT_RC(rsp_bsp_ctx_wrap_all(c, 0x86, RSP_BSP_ENC_MAC, plain, sizeof plain, &b), RSP_OK);
    rsp_bsp_replace_keys(&ref, e2, m2, v2);
    CU_ASSERT_RC(rsp_bsp_ctx_replace_keys(c, e2, m2, v2), RSP_OK);
    CU_ASSERT_RC(rsp_bsp_wrap_all(&ref, 0x86, RSP_BSP_ENC_MAC, plain, sizeof plain, &a), RSP_OK);
    CU_ASSERT_RC(rsp_bsp_ctx_wrap_all(c, 0x86, RSP_BSP_ENC_MAC, plain, sizeof plain, &b), RSP_OK);
    CU_ASSERT_RC(rsp_bsp_wrap_all(&ref, 0x88, RSP_BSP_MAC_ONLY, plain, 2500, &a), RSP_OK);
    CU_ASSERT_RC(rsp_bsp_ctx_wrap_all(c, 0x88, RSP_BSP_MAC_ONLY, plain, 2500, &b), RSP_OK);
    CU_ASSERT_BYTES("ctx wrap vs wrap", b.data, b.len, a.data, a.len);

    /* refusals: as rsp_bsp_wrap, nothing appended, state unchanged */
    size_t before = b.len;
    CU_ASSERT_RC(rsp_bsp_ctx_wrap(c, 0x1F, RSP_BSP_ENC_MAC, plain, 1, &b), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_bsp_ctx_wrap(c, 0x86, 2, plain, 1, &b), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_bsp_ctx_wrap(NULL, 0x86, RSP_BSP_ENC_MAC, plain, 1, &b), RSP_ERR_INVAL);
    CU_ASSERT_RC(rsp_bsp_ctx_wrap_all(c, 0x86, RSP_BSP_ENC_MAC, plain, 0, &b), RSP_ERR_INVAL);
    CU_ASSERT_EQUAL(b.len, before);
    {
        struct rsp_buf small;
        rsp_buf_init(&small, 64);
        CU_ASSERT_RC(rsp_bsp_ctx_wrap(c, 0x86, RSP_BSP_ENC_MAC, plain, 200, &small), RSP_ERR_TOOBIG);
        CU_ASSERT_RC(rsp_bsp_wrap(&ref, 0x86, RSP_BSP_ENC_MAC, plain, 200, &small), RSP_ERR_TOOBIG);
        rsp_buf_free(&small);
    }
    /* the failed appends above left both sides where they were */
    CU_ASSERT_RC(rsp_bsp_wrap(&ref, 0x87, RSP_BSP_ENC_MAC, plain, 100, &a), RSP_OK);
    CU_ASSERT_RC(rsp_bsp_ctx_wrap(c, 0x87, RSP_BSP_ENC_MAC, plain, 100, &b), RSP_OK);
    CU_ASSERT_BYTES("ctx wrap vs wrap", b.data, b.len, a.data, a.len);
out:
    rsp_bsp_ctx_free(c);
    rsp_bsp_wipe(&ref);
    rsp_buf_free(&a);
    rsp_buf_free(&b);
}

CU_TestInfo smdp_es9_tests[] = {
    {"bsp_ctx_wrap", test_bsp_ctx_wrap},
    {"otpk_import", test_otpk_import},
    {"b64_raw", test_b64_raw},
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
    {"euicc_cert_expired", test_euicc_cert_expired},
    {"eum_cert_expired", test_eum_cert_expired},
    {"eum_foreign_ci", test_eum_foreign_ci},
    {"eid_out_of_range", test_eid_out_of_range},
    {"wrong_challenge_signed", test_wrong_challenge_signed},
    {"cc_missing_signed", test_cc_missing_signed},
    {"retry_same_otpk", test_retry_same_otpk},
    {"other_notifications", test_other_notifications},
    {"pir_after_restart", test_pir_after_restart},
    {"notif_config", test_notif_config},
    {"cancel_before_auth", test_cancel_before_auth},
    {"session_table", test_session_table},
    {"auth_reject_keeps_session", test_auth_reject_keeps_session},
    {"eum_verify_alone", test_eum_verify_alone},
    {"cc_wrong_then_cancel", test_cc_wrong_then_cancel},
    {"cc_missing_then_retry", test_cc_missing_then_retry},
    {"expired_order_auth", test_expired_order_auth},
    {"expired_order_bpp", test_expired_order_bpp},
    {"notif_addr_port", test_notif_addr_port},
    {"es2_confirm_atomic", test_es2_confirm_atomic},
    CU_TEST_INFO_NULL,
};
