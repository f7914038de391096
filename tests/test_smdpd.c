/*
 * test_smdpd.c - the SM-DP+ front end: the JSON binding (smdp_handle,
 * SGP.22 v2.5 §6.2/§6.5.1) without network, ES2+ (§5.3.1-5.3.4) through
 * smdp_handle and over mutual TLS to an in-process smdpd, and ES2+
 * HandleDownloadProgressInfo callbacks (§5.3.5) to a local evhttp server.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <sys/time.h>

#include "rsp_crypto.h"
#include "rsp_err.h"
#include "rsp_pki.h"
#include "rsp_test.h"
#include "smdp.h"
#include "smdp_ac.h"
#include "smdp_conf.h"
#include "smdp_notify.h"
#include "smdpd.h"

#define ICCID_A1 "8900000000000000011"
#define ICCID_A2 "8900000000000000012"
#define ICCID_A3 "8900000000000000013"
#define ICCID_A4 "8900000000000000014"
#define ICCID_B1 "8900000000000000021"
#define ICCID_NONE "8900000000000000099"
#define EID_1 "89049032123451234512345678901235"
#define EID_2 "89049032123451234512345678909965"  /* valid MOD 97-10 check digits */

/* ---- the local callback server (operator side of §5.3.5) ---- */

struct cb_server {
    struct event_base *base;
    struct evhttp *http;
    pthread_t tid;
    int port;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fail_first;        /* answer 500 to this many requests first */
    int requests;
    char last[2048];
    char last_path[128], last_xap[64];
};

static void cb_handler(struct evhttp_request *req, void *arg)
{
    struct cb_server *c = arg;
    struct evbuffer *ib = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(ib);
    const char *xap = evhttp_find_header(evhttp_request_get_input_headers(req),
                                         "X-Admin-Protocol");
    int code;

    pthread_mutex_lock(&c->mu);
    if (n >= sizeof(c->last))
        n = sizeof(c->last) - 1;
    evbuffer_copyout(ib, c->last, n);
    c->last[n] = '\0';
    snprintf(c->last_path, sizeof(c->last_path), "%s", evhttp_request_get_uri(req));
    snprintf(c->last_xap, sizeof(c->last_xap), "%s", xap ? xap : "");
    code = c->requests++ < c->fail_first ? 500 : 204;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    evhttp_send_reply(req, code, code == 204 ? "No Content" : "Error", NULL);
}

static void *cb_main(void *arg)
{
    struct cb_server *c = arg;
    event_base_loop(c->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static int cb_start(struct cb_server *c)
{
    struct evhttp_bound_socket *bs;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);

    memset(c, 0, sizeof(*c));
    evthread_use_pthreads();
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (!(c->base = event_base_new()) || !(c->http = evhttp_new(c->base)))
        return -1;
    evhttp_set_gencb(c->http, cb_handler, c);
    if (!(bs = evhttp_bind_socket_with_handle(c->http, "127.0.0.1", 0)))
        return -1;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl))
        return -1;
    c->port = ntohs(sa.sin_port);
    return pthread_create(&c->tid, NULL, cb_main, c) ? -1 : 0;
}

static void cb_stop(struct cb_server *c)
{
    if (!c->base)
        return;
    event_base_loopexit(c->base, NULL);
    pthread_join(c->tid, NULL);
    evhttp_free(c->http);
    event_base_free(c->base);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    c->base = NULL;
}

/* Wait (bounded, 20 s) until the server has seen n requests. */
static int cb_wait(struct cb_server *c, int n)
{
    struct timespec ts;
    int ok;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20;
    pthread_mutex_lock(&c->mu);
    while (c->requests < n)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts))
            break;
    ok = c->requests >= n;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/* ---- fixture ---- */

static struct {
    char dir[PATH_MAX], db[PATH_MAX + 16];
    char ci_pem[PATH_MAX + 64];
    char opcert[3][PATH_MAX + 64], opkey[3][PATH_MAX + 64];
    struct smdp_conf conf;
    struct smdp *s;
    struct smdp_store *st;
    struct smdpd *d;
    struct smdp_notify *nt;
    struct cb_server cb;
    int ready;
} F;

static const char *op_names[3] = { "opA", "opB", "opC" };

static int cert_sha256(const char *path, uint8_t out[32])
{
    size_t len;
    uint8_t *der = test_read_file(path, &len);
    unsigned n = 0;
    int ok = der && EVP_Digest(der, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32;
    free(der);
    return ok ? 0 : -1;
}

static int add_profile(const char *iccid, const char *op, const char *ptype)
{
    static uint8_t pkg[4] = { 0xA0, 0x02, 0x80, 0x00 };
    struct smdp_profile p;
    memset(&p, 0, sizeof(p));
    snprintf(p.iccid, sizeof(p.iccid), "%s", iccid);
    snprintf(p.operator_id, sizeof(p.operator_id), "%s", op);
    snprintf(p.profile_type, sizeof(p.profile_type), "%s", ptype);
    snprintf(p.name, sizeof(p.name), "test %s", iccid);
    p.icon_type = -1;
    p.pclass = SMDP_CLASS_OPERATIONAL;
    p.package = pkg;
    p.package_len = sizeof(pkg);
    return smdp_store_profile_import(F.st, &p);
}

int smdpd_suite_init(void)
{
    struct rsp_pki_opts po;
    struct smdp_config core;
    struct smdpd_config srv;
    struct smdp_notify_config nc;
    char path[PATH_MAX + 64], dir[PATH_MAX];

    memset(&F, 0, sizeof(F));
    snprintf(dir, sizeof(dir), "%s/smdpd-test-%d", test_build_dir(), (int)getpid());
    memcpy(F.dir, dir, sizeof(F.dir));
    memset(&po, 0, sizeof(po));
    po.dir = F.dir;
    po.curves = RSP_PKI_CURVE_BIT(RSP_CURVE_P256);
    po.operators = op_names;
    po.n_operators = 3;
    if (rsp_pki_generate(&po)) {
        fprintf(stderr, "smdpd suite: PKI generation failed\n");
        return 1;
    }
    snprintf(F.ci_pem, sizeof(F.ci_pem), "%s/CertificateIssuer/CERT_CI_ECDSA_NIST.pem", dir);
    for (int i = 0; i < 3; i++) {
        snprintf(F.opcert[i], sizeof(F.opcert[i]), "%s/Operator/CERT_OP_%s_TLS_NIST.pem", dir,
                 op_names[i]);
        snprintf(F.opkey[i], sizeof(F.opkey[i]), "%s/Operator/SK_OP_%s_TLS_NIST.pem", dir,
                 op_names[i]);
    }
    snprintf(F.db, sizeof(F.db), "%s/smdp.db", dir);
    if (cb_start(&F.cb) || smdp_store_open_sqlite(F.db, &F.st))
        return 1;
    for (int i = 0; i < 2; i++) {     /* opC has a valid certificate but is not registered */
        struct smdp_operator op;
        memset(&op, 0, sizeof(op));
        snprintf(op.id, sizeof(op.id), "%s", op_names[i]);
        snprintf(op.name, sizeof(op.name), "Operator %s", op_names[i]);
        snprintf(path, sizeof(path), "%s/Operator/CERT_OP_%s_TLS_NIST.der", dir, op_names[i]);
        if (cert_sha256(path, op.cert_sha256))
            return 1;
        op.has_cert = 1;
        snprintf(op.callback_url, sizeof(op.callback_url), "http://127.0.0.1:%d/%s/progress",
                 F.cb.port, op_names[i]);
        if (smdp_store_operator_add(F.st, &op))
            return 1;
    }
    if (add_profile(ICCID_A1, "opA", "typeA") || add_profile(ICCID_A2, "opA", "typeA") ||
        add_profile(ICCID_A3, "opA", "typeA") || add_profile(ICCID_A4, "opA", "typeA") ||
        add_profile(ICCID_B1, "opB", "typeB"))
        return 1;

    if (smdp_conf_pki(&F.conf, F.dir))
        return 1;
    smdp_conf_set(&F.conf, "server", "es9_listen", "127.0.0.1:0");
    smdp_conf_set(&F.conf, "server", "es2_listen", "127.0.0.1:0");
    smdp_conf_set(&F.conf, "store", "db", F.db);
    smdp_conf_set(&F.conf, "server", "threads", "2");
    memset(&nc, 0, sizeof(nc));
    nc.db = F.db;
    nc.fqdn = F.conf.fqdn;
    nc.backoff_ms = 50;
    nc.attempts = 4;
    if (smdp_notify_start(&nc, &F.nt))
        return 1;
    smdp_conf_core(&F.conf, &core);
    core.progress = smdp_notify_progress;
    core.progress_arg = F.nt;
    if (smdp_create(&core, &F.s)) {
        fprintf(stderr, "smdpd suite: smdp_create failed\n");
        return 1;
    }
    smdp_conf_server(&F.conf, &srv);
    srv.op_refresh_ms = 100;   /* operator_added_live waits at most this long */
    if (smdpd_start(F.s, &srv, &F.d)) {
        fprintf(stderr, "smdpd suite: smdpd_start failed\n");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    F.ready = 1;
    return 0;
}

int smdpd_suite_cleanup(void)
{
    smdpd_free(F.d);
    smdp_free(F.s);
    smdp_notify_free(F.nt);
    smdp_store_close(F.st);
    cb_stop(&F.cb);
    smdp_conf_free(&F.conf);
    memset(&F, 0, sizeof(F));
    return 0;
}

/* ---- smdp_handle helpers ---- */

struct answer {
    int status;
    json_t *j;
    char subject[16], reason[16], fstatus[32];
    char body[4096];
};

static void answer_free(struct answer *a)
{
    json_decref(a->j);
    a->j = NULL;
}

static void parse_answer(struct answer *a, int status, const char *body, size_t len)
{
    json_t *fes, *scd;
    a->status = status;
    a->subject[0] = a->reason[0] = a->fstatus[0] = '\0';
    snprintf(a->body, sizeof(a->body), "%.*s", (int)len, body ? body : "");
    a->j = body && len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    fes = json_object_get(json_object_get(a->j, "header"), "functionExecutionStatus");
    scd = json_object_get(fes, "statusCodeData");
    snprintf(a->fstatus, sizeof(a->fstatus), "%s",
             json_string_value(json_object_get(fes, "status")) ?: "");
    snprintf(a->subject, sizeof(a->subject), "%s",
             json_string_value(json_object_get(scd, "subjectCode")) ?: "");
    snprintf(a->reason, sizeof(a->reason), "%s",
             json_string_value(json_object_get(scd, "reasonCode")) ?: "");
}

static void call_raw(struct answer *a, int iface, const char *method, const char *path,
                     const char *xap, const char *ct, const char *body, size_t len,
                     const char *op)
{
    struct smdp_req r = {
        .iface = iface, .method = method, .path = path, .admin_protocol = xap,
        .content_type = ct, .body = (const uint8_t *)body, .body_len = len,
        .operator_id = op,
    };
    struct smdp_resp resp;
    smdp_handle(F.s, F.st, &r, &resp);
    parse_answer(a, resp.status, resp.body, resp.body_len);
    if (resp.body)
        CU_ASSERT_STRING_EQUAL(resp.content_type, "application/json;charset=UTF-8");
    smdp_resp_free(&resp);
}

#define ES2_HDR "\"header\":{\"functionRequesterIdentifier\":\"op\",\"functionCallIdentifier\":\"1\"}"

static void es2(struct answer *a, const char *fn, const char *op, const char *fields)
{
    char path[128], body[2048];
    snprintf(path, sizeof(path), "/gsma/rsp2/es2plus/%s", fn);
    snprintf(body, sizeof(body), "{" ES2_HDR "%s%s}", fields[0] ? "," : "", fields);
    call_raw(a, SMDP_IFACE_ES2, "POST", path, "gsma/rsp/v2.5.0", "application/json", body,
             strlen(body), op);
}

#define EXPECT(a, st, fs, subj, rsn)                                                   \
    do {                                                                               \
        if ((a).status != (st) || strcmp((a).fstatus, (fs)) || strcmp((a).subject, (subj)) || \
            strcmp((a).reason, (rsn)))                                                 \
            fprintf(stderr, "\n  %s:%d: got %d %s %s/%s (%s), want %d %s %s/%s\n", __FILE__, \
                    __LINE__, (a).status, (a).fstatus, (a).subject, (a).reason, (a).body, \
                    (st), (fs), (subj), (rsn));                                        \
        CU_ASSERT((a).status == (st));                                                 \
        CU_ASSERT_STRING_EQUAL((a).fstatus, (fs));                                     \
        CU_ASSERT_STRING_EQUAL((a).subject, (subj));                                   \
        CU_ASSERT_STRING_EQUAL((a).reason, (rsn));                                     \
    } while (0)

/* A call_raw (the request of interface iface) that must fail: HTTP st,
 * "Failed", subj/rsn. */
#define RAW_FAILS(iface, method, path, xap, ct, body, len, op, st, subj, rsn)   \
    do {                                                                      \
        struct answer a_;                                                     \
        call_raw(&a_, (iface), (method), (path), (xap), (ct), (body), (len), (op)); \
        EXPECT(a_, (st), "Failed", (subj), (rsn));                            \
        answer_free(&a_);                                                     \
    } while (0)

/* An ES2+ call that must fail: HTTP 200, "Failed", subj/rsn. */
#define ES2_FAILS(fn, op, fields, subj, rsn)          \
    do {                                             \
        struct answer a_;                            \
        es2(&a_, (fn), (op), (fields));              \
        EXPECT(a_, 200, "Failed", (subj), (rsn));    \
        answer_free(&a_);                            \
    } while (0)

static int profile_state(const char *iccid)
{
    struct smdp_profile p;
    int st;
    memset(&p, 0, sizeof(p));
    if (smdp_store_profile_get(F.st, iccid, 0, &p))
        return -1;
    st = p.state;
    smdp_profile_clear(&p);
    return st;
}

/* ---- binding tests (no network) ---- */

static void test_header_checks(void)
{
    CU_ASSERT(smdp_admin_protocol_ok("gsma/rsp/v2.5.0"));
    CU_ASSERT(smdp_admin_protocol_ok("gsma/rsp/v2.2.2"));
    CU_ASSERT(smdp_admin_protocol_ok("gsma/rsp/v2.10.12"));
    CU_ASSERT(!smdp_admin_protocol_ok("gsma/rsp/v3.0.0"));
    CU_ASSERT(!smdp_admin_protocol_ok("gsma/rsp/v1.2.0"));
    CU_ASSERT(!smdp_admin_protocol_ok("gsma/rsp/v2.5"));
    CU_ASSERT(!smdp_admin_protocol_ok("gsma/rsp/v2.5.0.1"));
    CU_ASSERT(!smdp_admin_protocol_ok("gsma/rsp/v2.x.0"));
    CU_ASSERT(!smdp_admin_protocol_ok(NULL));
    CU_ASSERT(smdp_content_type_ok("application/json"));
    CU_ASSERT(smdp_content_type_ok("application/json;charset=UTF-8"));
    CU_ASSERT(smdp_content_type_ok("Application/JSON; Charset=\"utf-8\""));
    CU_ASSERT(!smdp_content_type_ok("application/json;charset=ISO-8859-1"));
    CU_ASSERT(!smdp_content_type_ok("application/jsonx"));
    CU_ASSERT(!smdp_content_type_ok("text/plain"));
    CU_ASSERT(!smdp_content_type_ok(NULL));
}

static void test_binding_errors(void)
{
    struct answer a;
    const char *ok = "{\"a\":1}";
    const char *p9 = "/gsma/rsp2/es9plus/initiateAuthentication";
    const char *xap = "gsma/rsp/v2.5.0", *ct = "application/json";

    CU_ASSERT_FATAL(F.ready);
    RAW_FAILS(SMDP_IFACE_ES9, "GET", p9, xap, ct, NULL, 0, NULL, 405, "1.6", "2.1");
    RAW_FAILS(SMDP_IFACE_ES9, "POST", "/gsma/rsp2/es9plus/noSuchFunction", xap, ct, ok, 7, NULL,
              404, "1.6", "2.1");
    RAW_FAILS(SMDP_IFACE_ES9, "POST", "/index.html", xap, ct, ok, 7, NULL, 404, "1.6", "2.1");
    /* ES2+ function on the ES9+-only interface */
    RAW_FAILS(SMDP_IFACE_ES9, "POST", "/gsma/rsp2/es2plus/downloadOrder", xap, ct, ok, 7, "opA",
              404, "1.6", "2.1");
    RAW_FAILS(SMDP_IFACE_ES9, "POST", p9, "gsma/rsp/v3.0.0", ct, ok, 7, NULL, 400, "1.6", "2.1");
    RAW_FAILS(SMDP_IFACE_ES9, "POST", p9, NULL, ct, ok, 7, NULL, 400, "1.6", "2.1");
    RAW_FAILS(SMDP_IFACE_ES9, "POST", p9, xap, "text/plain", ok, 7, NULL, 415, "1.6", "2.1");
    RAW_FAILS(SMDP_IFACE_ES9, "POST", p9, xap, ct, "{\"a\":", 5, NULL, 400, "1.6", "2.1");
    RAW_FAILS(SMDP_IFACE_ES9, "POST", p9, xap, ct, "{\"a\":1,\"a\":2}", 13, NULL,
              400, "1.6", "2.1");
    RAW_FAILS(SMDP_IFACE_ES9, "POST", p9, xap, ct, "[1,2]", 5, NULL, 400, "1.6", "2.1");
    RAW_FAILS(SMDP_IFACE_ES9, "POST", p9, xap, ct, "", 0, NULL, 400, "1.6", "2.1");
    {
        /* depth SMDP_JSON_DEPTH_MAX + 1: refused; "[" inside a string: no depth */
        char deep[128], *p = deep;
        p += sprintf(p, "{\"a\":");
        for (int i = 0; i < SMDP_JSON_DEPTH_MAX; i++)
            *p++ = '[';
        for (int i = 0; i < SMDP_JSON_DEPTH_MAX; i++)
            *p++ = ']';
        p += sprintf(p, "}");
        call_raw(&a, SMDP_IFACE_ES9, "POST", p9, xap, ct, deep, strlen(deep), NULL);
        EXPECT(a, 400, "Failed", "1.6", "2.1");
        answer_free(&a);
        const char *instr = "{\"a\":\"[[[[[[[[[[[[[[[[[[[[\"}";
        call_raw(&a, SMDP_IFACE_ES9, "POST", p9, xap, ct, instr, strlen(instr), NULL);
        CU_ASSERT(a.status == 200);   /* parsed: the function answers */
        answer_free(&a);
    }
    {
        size_t n = SMDP_BODY_MAX + 1;
        char *big = malloc(n);
        CU_ASSERT_FATAL(big != NULL);
        memset(big, ' ', n);
        big[0] = '{';
        big[n - 1] = '}';
        call_raw(&a, SMDP_IFACE_ES9, "POST", p9, xap, ct, big, n, NULL);
        EXPECT(a, 413, "Failed", "1.6", "2.1");
        answer_free(&a);
        free(big);
    }
    /* ES2+ without an authenticated operator */
    RAW_FAILS(SMDP_IFACE_ES2, "POST", "/gsma/rsp2/es2plus/downloadOrder", xap, ct, ok, 7, NULL,
              401, "1.1", "1.1");
    /* ES2+ requires the request header (§6.5.1.3) */
    {
        const char *nohdr = "{\"iccid\":\"" ICCID_A1 "\"}";
        call_raw(&a, SMDP_IFACE_ES2, "POST", "/gsma/rsp2/es2plus/downloadOrder", xap, ct, nohdr,
                 strlen(nohdr), "opA");
    }
    EXPECT(a, 200, "Failed", "1.6", "2.2");
    answer_free(&a);
    /* wrong type of a field */
    ES2_FAILS("downloadOrder", "opA", "\"iccid\":8900000000000000011", "8.2.1", "2.1");
}

/* ---- ES2+ through smdp_handle ---- */

static void test_es2_order_flow(void)
{
    struct answer a;
    char mid[80];

    CU_ASSERT_FATAL(F.ready);
    es2(&a, "downloadOrder", "opA", "\"iccid\":\"" ICCID_A1 "\"");
    EXPECT(a, 200, "Executed-Success", "", "");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a.j, "iccid")) ?: "", ICCID_A1);
    answer_free(&a);
    CU_ASSERT_EQUAL(profile_state(ICCID_A1), SMDP_PROFILE_ALLOCATED);
    /* a second order on the same profile: not available */
    ES2_FAILS("downloadOrder", "opA", "\"iccid\":\"" ICCID_A1 "\"", "8.2.1", "3.7");
    /* release before confirm: invalid transition */
    ES2_FAILS("releaseProfile", "opA", "\"iccid\":\"" ICCID_A1 "\"", "8.2.1", "3.5");
    es2(&a, "confirmOrder", "opA", "\"iccid\":\"" ICCID_A1 "\",\"releaseFlag\":false");
    EXPECT(a, 200, "Executed-Success", "", "");
    snprintf(mid, sizeof(mid), "%s", json_string_value(json_object_get(a.j, "matchingId")) ?: "");
    CU_ASSERT(strlen(mid) > 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a.j, "smdpAddress")) ?: "",
                           smdp_fqdn(F.s));
    CU_ASSERT(json_object_get(a.j, "eid") == NULL);
    answer_free(&a);
    CU_ASSERT_EQUAL(profile_state(ICCID_A1), SMDP_PROFILE_CONFIRMED);
    es2(&a, "releaseProfile", "opA", "\"iccid\":\"" ICCID_A1 "\"");
    EXPECT(a, 200, "Executed-Success", "", "");
    answer_free(&a);
    CU_ASSERT_EQUAL(profile_state(ICCID_A1), SMDP_PROFILE_RELEASED);
    {
        struct smdp_order o;
        CU_ASSERT_RC(smdp_store_order_get(F.st, SMDP_ORDER_BY_MATCHING_ID, mid, &o), RSP_OK);
        CU_ASSERT_STRING_EQUAL(o.iccid, ICCID_A1);
        CU_ASSERT_EQUAL(o.state, SMDP_ORDER_ACTIVE);
    }
    /* cancel with a matchingId of another order: invalid association */
    es2(&a, "cancelOrder", "opA",
        "\"iccid\":\"" ICCID_A1 "\",\"matchingId\":\"NOT-THIS-ONE\","
        "\"finalProfileStatusIndicator\":\"Available\"");
    EXPECT(a, 200, "Failed", "8.2.6", "3.10");
    answer_free(&a);
    es2(&a, "cancelOrder", "opA",
        "\"iccid\":\"" ICCID_A1 "\",\"finalProfileStatusIndicator\":\"Sometimes\"");
    EXPECT(a, 200, "Failed", "1.6", "2.1");
    answer_free(&a);
    es2(&a, "cancelOrder", "opA",
        "\"iccid\":\"" ICCID_A1 "\",\"finalProfileStatusIndicator\":\"Available\"");
    EXPECT(a, 200, "Executed-Success", "", "");
    answer_free(&a);
    CU_ASSERT_EQUAL(profile_state(ICCID_A1), SMDP_PROFILE_AVAILABLE);
    ES2_FAILS("releaseProfile", "opA", "\"iccid\":\"" ICCID_A1 "\"", "8.2.1", "3.5");
}

static void test_es2_confirm_details(void)
{
    struct answer a;

    CU_ASSERT_FATAL(F.ready);
    /* DownloadOrder with EID: Linked; ConfirmOrder with another EID refused */
    es2(&a, "downloadOrder", "opA", "\"iccid\":\"" ICCID_A2 "\",\"eid\":\"" EID_1 "\"");
    EXPECT(a, 200, "Executed-Success", "", "");
    answer_free(&a);
    CU_ASSERT_EQUAL(profile_state(ICCID_A2), SMDP_PROFILE_LINKED);
    es2(&a, "confirmOrder", "opA",
        "\"iccid\":\"" ICCID_A2 "\",\"eid\":\"" EID_2 "\",\"releaseFlag\":true");
    EXPECT(a, 200, "Failed", "8.1.1", "3.10");
    answer_free(&a);
    ES2_FAILS("confirmOrder", "opA", "\"iccid\":\"" ICCID_A2 "\"", "1.6", "2.2");
    ES2_FAILS("confirmOrder", "opA", "\"iccid\":\"" ICCID_A2 "\",\"releaseFlag\":\"yes\"",
              "1.6", "2.1");
    /* operator-chosen matchingId and a confirmation code */
    es2(&a, "confirmOrder", "opA",
        "\"iccid\":\"" ICCID_A2 "\",\"matchingId\":\"OPA-ORDER-0001\","
        "\"confirmationCode\":\"1234\",\"releaseFlag\":true");
    EXPECT(a, 200, "Executed-Success", "", "");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a.j, "matchingId")) ?: "",
                           "OPA-ORDER-0001");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a.j, "eid")) ?: "", EID_1);
    answer_free(&a);
    CU_ASSERT_EQUAL(profile_state(ICCID_A2), SMDP_PROFILE_RELEASED);
    {
        struct smdp_order o;
        uint8_t h[32];
        CU_ASSERT_RC(smdp_store_order_get(F.st, SMDP_ORDER_BY_MATCHING_ID, "OPA-ORDER-0001", &o),
                     RSP_OK);
        CU_ASSERT(o.cc_required);
        CU_ASSERT_RC(smdp_cc_hash("1234", h), RSP_OK);
        CU_ASSERT_BYTES("cc hash", o.cc_hash, 32, h, 32);
        CU_ASSERT_STRING_EQUAL(o.eid, EID_1);
    }
    /* the same matchingId for another order: already in use */
    es2(&a, "downloadOrder", "opA", "\"iccid\":\"" ICCID_A3 "\"");
    EXPECT(a, 200, "Executed-Success", "", "");
    answer_free(&a);
    es2(&a, "confirmOrder", "opA",
        "\"iccid\":\"" ICCID_A3 "\",\"matchingId\":\"OPA-ORDER-0001\",\"releaseFlag\":true");
    EXPECT(a, 200, "Failed", "8.2.6", "3.3");
    answer_free(&a);
    /* by profileType: the two remaining Available ones of opA (A1 was
     * cancelled back to Available), then none */
    {
        char got[2][21];
        for (int i = 0; i < 2; i++) {
            es2(&a, "downloadOrder", "opA", "\"profileType\":\"typeA\"");
            EXPECT(a, 200, "Executed-Success", "", "");
            snprintf(got[i], sizeof(got[i]), "%s",
                     json_string_value(json_object_get(a.j, "iccid")) ?: "");
            answer_free(&a);
        }
        CU_ASSERT((!strcmp(got[0], ICCID_A1) && !strcmp(got[1], ICCID_A4)) ||
                  (!strcmp(got[0], ICCID_A4) && !strcmp(got[1], ICCID_A1)));
    }
    ES2_FAILS("downloadOrder", "opA", "\"profileType\":\"typeA\"", "8.2.5", "3.7");
    /* opB's type */
    ES2_FAILS("downloadOrder", "opA", "\"profileType\":\"typeB\"", "8.2.5", "3.9");
    ES2_FAILS("downloadOrder", "opA", "\"eid\":\"123\",\"iccid\":\"" ICCID_A3 "\"",
              "8.1.1", "2.1");
    ES2_FAILS("downloadOrder", "opA", "", "1.6", "2.3");
}

/* Another operator's ICCID answers exactly like an unknown one. */
static void test_es2_no_oracle(void)
{
    static const char *fns[] = { "downloadOrder", "confirmOrder", "cancelOrder",
                                 "releaseProfile" };
    static const char *extra[] = { "", ",\"releaseFlag\":true",
                                   ",\"finalProfileStatusIndicator\":\"Available\"", "" };
    CU_ASSERT_FATAL(F.ready);
    for (int i = 0; i < 4; i++) {
        struct answer foreign, unknown;
        char f1[256], f2[256];
        snprintf(f1, sizeof(f1), "\"iccid\":\"%s\"%s", ICCID_A3, extra[i]);
        snprintf(f2, sizeof(f2), "\"iccid\":\"%s\"%s", ICCID_NONE, extra[i]);
        es2(&foreign, fns[i], "opB", f1);
        es2(&unknown, fns[i], "opB", f2);
        EXPECT(foreign, 200, "Failed", "8.2.1", "3.9");
        if (strcmp(foreign.body, unknown.body) != 0)
            fprintf(stderr, "\n  %s: foreign %s\n  unknown %s\n", fns[i], foreign.body,
                    unknown.body);
        CU_ASSERT_STRING_EQUAL(foreign.body, unknown.body);
        answer_free(&foreign);
        answer_free(&unknown);
    }
    /* and opA's order is untouched */
    CU_ASSERT_EQUAL(profile_state(ICCID_A3), SMDP_PROFILE_ALLOCATED);
}

/* ---- over TLS ---- */

struct buf {
    char d[8192];
    size_t n;
};

static size_t buf_write(char *p, size_t sz, size_t nm, void *arg)
{
    struct buf *b = arg;
    size_t n = sz * nm;
    if (n > sizeof(b->d) - 1 - b->n)
        n = sizeof(b->d) - 1 - b->n;
    memcpy(b->d + b->n, p, n);
    b->n += n;
    b->d[b->n] = '\0';
    return sz * nm;
}

/* POST over TLS; op: index of the operator certificate, -1 none. Returns
 * the CURLcode; *status and a. */
static int https_post(int port, const char *path, const char *body, int op,
                      struct answer *a)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL, *res = NULL;
    char url[256], resolve[128];
    struct buf b;
    long code = 0;
    CURLcode rc;

    memset(&b, 0, sizeof(b));
    snprintf(url, sizeof(url), "https://%s:%d%s", F.conf.fqdn, port, path);
    snprintf(resolve, sizeof(resolve), "%s:%d:127.0.0.1", F.conf.fqdn, port);
    res = curl_slist_append(res, resolve);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "X-Admin-Protocol: gsma/rsp/v2.5.0");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_RESOLVE, res);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_CAINFO, F.ci_pem);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (op >= 0) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, F.opcert[op]);
        curl_easy_setopt(c, CURLOPT_SSLKEY, F.opkey[op]);
    }
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    else
        fprintf(stderr, "[curl %s: %s] ", path, curl_easy_strerror(rc));
    parse_answer(a, (int)code, b.d, b.n);
    curl_slist_free_all(h);
    curl_slist_free_all(res);
    curl_easy_cleanup(c);
    return (int)rc;
}

/* https_post that must answer HTTP st with fs and subj/rsn (EXPECT). */
#define TLS_EXPECT(port, path, body, op, st, fs, subj, rsn)                   \
    do {                                                                   \
        struct answer a_;                                                  \
        CU_ASSERT_RC(https_post((port), (path), (body), (op), &a_), CURLE_OK); \
        EXPECT(a_, (st), (fs), (subj), (rsn));                             \
        answer_free(&a_);                                                  \
    } while (0)

static void test_tls_es2(void)
{
    struct answer a;
    int p2;

    CU_ASSERT_FATAL(F.ready);
    p2 = smdpd_port_es2(F.d);
    CU_ASSERT(p2 > 0 && p2 != smdpd_port_es9(F.d));
    /* operator B, its own profile */
    TLS_EXPECT(p2, "/gsma/rsp2/es2plus/downloadOrder",
               "{" ES2_HDR ",\"iccid\":\"" ICCID_B1 "\"}", 1, 200, "Executed-Success", "", "");
    TLS_EXPECT(p2, "/gsma/rsp2/es2plus/confirmOrder",
               "{" ES2_HDR ",\"iccid\":\"" ICCID_B1 "\",\"releaseFlag\":false}", 1,
               200, "Executed-Success", "", "");
    TLS_EXPECT(p2, "/gsma/rsp2/es2plus/releaseProfile",
               "{" ES2_HDR ",\"iccid\":\"" ICCID_B1 "\"}", 1, 200, "Executed-Success", "", "");
    /* operator A cannot see it */
    TLS_EXPECT(p2, "/gsma/rsp2/es2plus/cancelOrder",
               "{" ES2_HDR ",\"iccid\":\"" ICCID_B1
               "\",\"finalProfileStatusIndicator\":\"Available\"}", 0,
               200, "Failed", "8.2.1", "3.9");
    TLS_EXPECT(p2, "/gsma/rsp2/es2plus/cancelOrder",
               "{" ES2_HDR ",\"iccid\":\"" ICCID_B1
               "\",\"finalProfileStatusIndicator\":\"Unavailable\"}", 1,
               200, "Executed-Success", "", "");
    CU_ASSERT_EQUAL(profile_state(ICCID_B1), SMDP_PROFILE_UNAVAILABLE);
    /* no client certificate: the handshake is refused */
    CU_ASSERT(https_post(p2, "/gsma/rsp2/es2plus/downloadOrder", "{}", -1, &a) != CURLE_OK);
    answer_free(&a);
    /* a certificate under the trusted CA, but of no registered operator */
    TLS_EXPECT(p2, "/gsma/rsp2/es2plus/downloadOrder",
               "{" ES2_HDR ",\"iccid\":\"" ICCID_A3 "\"}", 2, 401, "Failed", "1.1", "1.1");
}

static void test_tls_es9(void)
{
    struct answer a;
    int p9;

    CU_ASSERT_FATAL(F.ready);
    p9 = smdpd_port_es9(F.d);
    /* the route exists (the function itself answers; an empty request fails) */
    CU_ASSERT_RC(https_post(p9, "/gsma/rsp2/es9plus/initiateAuthentication", "{}", -1, &a),
                 CURLE_OK);
    CU_ASSERT_EQUAL(a.status, 200);
    CU_ASSERT_STRING_EQUAL(a.fstatus, "Failed");
    answer_free(&a);
    /* ES2+ is not served on the ES9+ listener */
    TLS_EXPECT(p9, "/gsma/rsp2/es2plus/downloadOrder", "{" ES2_HDR "}", 0,
               404, "Failed", "1.6", "2.1");
}

/* ---- one TLS record per answer (smdpd.c reply_now) ---- */

struct rec_count {
    int app_in;            /* application-data records received */
};

static void rec_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    struct rec_count *rc = arg;
    (void)version;
    (void)ssl;
    /* TLS 1.3: the inner content type of every record read */
    if (!write_p && content_type == SSL3_RT_INNER_CONTENT_TYPE && len == 1 &&
        ((const uint8_t *)buf)[0] == SSL3_RT_APPLICATION_DATA)
        rc->app_in++;
}

/* Read one HTTP answer (headers + Content-Length body) into b; its status. */
static int read_answer(SSL *ssl, char *b, size_t cap, size_t *blen)
{
    size_t n = 0;
    char *hdr_end = NULL;
    long clen = -1;
    int status = 0;

    *blen = 0;
    while (n < cap - 1) {
        int r = SSL_read(ssl, b + n, (int)(cap - 1 - n));
        if (r <= 0)
            return -1;
        n += (size_t)r;
        b[n] = '\0';
        if (!hdr_end && (hdr_end = strstr(b, "\r\n\r\n"))) {
            const char *cl = strstr(b, "Content-Length:");
            if (!cl || cl > hdr_end || sscanf(b, "HTTP/1.1 %d", &status) != 1)
                return -1;
            clen = strtol(cl + 15, NULL, 10);
        }
        if (hdr_end && clen >= 0 && n >= (size_t)(hdr_end + 4 - b) + (size_t)clen) {
            *blen = n;
            return status;
        }
    }
    return -1;
}

/* Each answer leaves as one TLS record (headers and body together), on a
 * keep-alive connection, and still reads back whole and correct. */
static void test_tls_one_record(void)
{
    static const char body[] = "{}";
    struct rec_count rc = {0};
    struct sockaddr_in sa;
    struct timeval tv = {10, 0};
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    char req[512], ans[8192];
    size_t alen;
    int fd;

    CU_ASSERT_FATAL(F.ready);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)smdpd_port_es9(F.d));
    CU_ASSERT_RC(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ctx = SSL_CTX_new(TLS_client_method());
    CU_ASSERT_FATAL(ctx != NULL);
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    CU_ASSERT(SSL_CTX_load_verify_locations(ctx, F.ci_pem, NULL) == 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    ssl = SSL_new(ctx);
    CU_ASSERT_FATAL(ssl != NULL);
    SSL_set_tlsext_host_name(ssl, F.conf.fqdn);
    SSL_set1_host(ssl, F.conf.fqdn);
    SSL_set_msg_callback(ssl, rec_cb);
    SSL_set_msg_callback_arg(ssl, &rc);
    SSL_set_fd(ssl, fd);
    CU_ASSERT_RC(SSL_connect(ssl), 1);
    snprintf(req, sizeof(req),
             "POST /gsma/rsp2/es9plus/initiateAuthentication HTTP/1.1\r\n"
             "Host: %s\r\nContent-Type: application/json\r\n"
             "X-Admin-Protocol: gsma/rsp/v2.5.0\r\nContent-Length: %zu\r\n\r\n%s",
             F.conf.fqdn, sizeof(body) - 1, body);
    for (int i = 0; i < 2; i++) {
        int before = rc.app_in;
        CU_ASSERT_RC(SSL_write(ssl, req, (int)strlen(req)), (int)strlen(req));
        CU_ASSERT_RC(read_answer(ssl, ans, sizeof(ans), &alen), 200);
        CU_ASSERT_PTR_NOT_NULL(strstr(ans, "\"status\":\"Failed\""));
        CU_ASSERT_PTR_NOT_NULL(strstr(ans, "X-Admin-Protocol: gsma/rsp/v2.5.0"));
        if (rc.app_in - before != 1)
            fprintf(stderr, "\n  answer %d: %d application-data records, want 1\n", i,
                    rc.app_in - before);
        CU_ASSERT_EQUAL(rc.app_in - before, 1);
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
}

/* Bodies over SMDP_BODY_MAX but under the evhttp cap get our JSON 413,
 * not libevent's HTML page. */
static void test_tls_body_too_large(void)
{
    size_t n = SMDP_BODY_MAX + 4096;
    char *body = malloc(n + 1);

    CU_ASSERT_FATAL(F.ready && body != NULL);
    memset(body, ' ', n);
    body[0] = '{';
    body[n - 1] = '}';
    body[n] = '\0';
    TLS_EXPECT(smdpd_port_es9(F.d), "/gsma/rsp2/es9plus/initiateAuthentication", body, -1,
               413, "Failed", "1.6", "2.1");
    free(body);
    CU_ASSERT(SMDPD_BODY_HARD_MAX > SMDP_BODY_MAX);
}

/* An operator registered while smdpd runs is known without a restart (the
 * cached map is reloaded on a miss, at most every op_refresh_ms). */
static void test_operator_added_live(void)
{
    struct smdp_operator op;
    struct answer a;
    char path[PATH_MAX + 64];
    int p2, ok = 0;

    CU_ASSERT_FATAL(F.ready);
    p2 = smdpd_port_es2(F.d);
    /* opC's certificate chains to the operator CA but it is not registered */
    TLS_EXPECT(p2, "/gsma/rsp2/es2plus/releaseProfile",
               "{" ES2_HDR ",\"iccid\":\"" ICCID_NONE "\"}", 2, 401, "Failed", "1.1", "1.1");
    memset(&op, 0, sizeof(op));
    snprintf(op.id, sizeof(op.id), "opC");
    snprintf(op.name, sizeof(op.name), "Operator opC");
    snprintf(path, sizeof(path), "%s/Operator/CERT_OP_opC_TLS_NIST.der", F.dir);
    CU_ASSERT_FATAL(cert_sha256(path, op.cert_sha256) == 0);
    op.has_cert = 1;
    CU_ASSERT_RC(smdp_store_operator_add(F.st, &op), RSP_OK);
    /* the next reload is at most op_refresh_ms (100 ms) away: poll, bounded */
    for (int i = 0; i < 50 && !ok; i++) {
        CU_ASSERT_RC(https_post(p2, "/gsma/rsp2/es2plus/releaseProfile",
                                "{" ES2_HDR ",\"iccid\":\"" ICCID_NONE "\"}", 2, &a),
                     CURLE_OK);
        ok = a.status == 200;
        if (ok)
            EXPECT(a, 200, "Failed", "8.2.1", "3.9");   /* authenticated; no such profile */
        answer_free(&a);
        if (!ok)
            usleep(50000);
    }
    CU_ASSERT(ok);
}

/* ---- HandleDownloadProgressInfo ---- */

/* A BPP installation progress event of operator op (NULL: none) for
 * iccid, at a fixed time. */
static void install_event(struct smdp_progress *ev, const char *op, const char *iccid,
                          int success)
{
    memset(ev, 0, sizeof(*ev));
    snprintf(ev->operator_id, sizeof(ev->operator_id), "%s", op ? op : "");
    snprintf(ev->iccid, sizeof(ev->iccid), "%s", iccid);
    ev->step = SMDP_STEP_BPP_INSTALLATION;
    ev->success = success;
    ev->timestamp = 1700000000;
}

/* The callback server answers 500 to the next `failures` requests, then
 * 204. Returns the number of requests so far. */
static int cb_arm(int failures)
{
    int base;
    pthread_mutex_lock(&F.cb.mu);
    base = F.cb.requests;
    F.cb.fail_first = failures ? base + failures : 0;
    pthread_mutex_unlock(&F.cb.mu);
    return base;
}

static void test_notify_url(void)
{
    static const struct {
        const char *in, *want;
    } v[] = {
        { "http://127.0.0.1:8080",
          "http://127.0.0.1:8080/gsma/rsp2/es2plus/handleDownloadProgressInfo" },
        { "https://op.example/",
          "https://op.example/gsma/rsp2/es2plus/handleDownloadProgressInfo" },
        { "https://op.example:9443/base/",
          "https://op.example:9443/base/gsma/rsp2/es2plus/handleDownloadProgressInfo" },
        { "http://[::1]:7000/opA/progress", "http://[::1]:7000/opA/progress" },
        { "https://op.example/x/handleDownloadProgressInfo?k=1",
          "https://op.example/x/handleDownloadProgressInfo?k=1" },
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char *u = NULL;
        CU_ASSERT_RC(smdp_notify_url(v[i].in, &u), RSP_OK);
        if (!u || strcmp(u, v[i].want))
            fprintf(stderr, "\n  %s -> %s, want %s\n", v[i].in, u ? u : "(null)", v[i].want);
        CU_ASSERT(u && !strcmp(u, v[i].want));
        curl_free(u);
    }
    {
        char *u = (char *)1;
        CU_ASSERT_RC(smdp_notify_url("not a url", &u), RSP_ERR_INVAL);
        CU_ASSERT_PTR_NULL(u);
    }
}

static void test_notify_body_result(void)
{
    static const uint8_t pir[] = { 0xBF, 0x37, 0x03, 0xA0, 0x01, 0x00 };
    struct smdp_progress ev;
    json_t *j;
    char *b;

    install_event(&ev, NULL, ICCID_A1, 1);
    b = smdp_notify_body(&ev, pir, sizeof(pir), "typeA", "smdp.example", 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    j = json_loads(b, JSON_REJECT_DUPLICATES, NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "resultData")) ?: "",
                           "vzcDoAEA");
    CU_ASSERT_PTR_NULL(json_object_get(j, "eid"));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(j,
                               "notificationPointStatus"), "status")) ?: "", "Executed-Success");
    json_decref(j);
    free(b);
    b = smdp_notify_body(&ev, NULL, 0, "typeA", "smdp.example", 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    j = json_loads(b, JSON_REJECT_DUPLICATES, NULL);
    CU_ASSERT_PTR_NULL(json_object_get(j, "resultData"));
    json_decref(j);
    free(b);
}

/* An operator whose callback URL is a bare address gets the function's
 * path; resultData travels with the event. */
static void test_notify_bare_url(void)
{
    static const uint8_t pir[] = { 0xBF, 0x37, 0x03, 0xA0, 0x01, 0x00 };
    struct smdp_operator op;
    struct smdp_progress ev;
    json_t *j;
    int base;

    CU_ASSERT_FATAL(F.ready);
    memset(&op, 0, sizeof(op));
    snprintf(op.id, sizeof(op.id), "opBare");
    snprintf(op.name, sizeof(op.name), "bare callback");
    snprintf(op.callback_url, sizeof(op.callback_url), "http://127.0.0.1:%d", F.cb.port);
    CU_ASSERT_RC(smdp_store_operator_add(F.st, &op), RSP_OK);
    install_event(&ev, "opBare", ICCID_NONE, 1);
    base = cb_arm(0);
    smdp_notify_progress_result(F.nt, &ev, pir, sizeof(pir));
    CU_ASSERT_FATAL(cb_wait(&F.cb, base + 1));
    pthread_mutex_lock(&F.cb.mu);
    CU_ASSERT_STRING_EQUAL(F.cb.last_path, "/gsma/rsp2/es2plus/handleDownloadProgressInfo");
    j = json_loads(F.cb.last, JSON_REJECT_DUPLICATES, NULL);
    pthread_mutex_unlock(&F.cb.mu);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "resultData")) ?: "",
                           "vzcDoAEA");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "iccid")) ?: "", ICCID_NONE);
    json_decref(j);
}

static void test_notify_callback(void)
{
    struct smdp_progress ev;
    struct smdp_notify_stats ns;
    json_t *j;
    int base;

    CU_ASSERT_FATAL(F.ready);
    install_event(&ev, "opA", ICCID_A2, 0);
    snprintf(ev.eid, sizeof(ev.eid), EID_1);
    snprintf(ev.subject_code, sizeof(ev.subject_code), "8.2");
    snprintf(ev.reason_code, sizeof(ev.reason_code), "4.2");

    base = cb_arm(2);               /* two failures, then delivered */
    smdp_progress_emit(F.s, &ev);
    CU_ASSERT_FATAL(cb_wait(&F.cb, base + 3));
    /* the worker counts after the HTTP answer: wait for it (bounded) */
    for (int i = 0; i < 200; i++) {
        smdp_notify_stats(F.nt, &ns);
        if (ns.delivered >= 1)
            break;
        usleep(10000);
    }
    CU_ASSERT(ns.delivered >= 1);
    CU_ASSERT(ns.retries >= 2);
    pthread_mutex_lock(&F.cb.mu);
    CU_ASSERT_STRING_EQUAL(F.cb.last_path, "/opA/progress");
    CU_ASSERT_STRING_EQUAL(F.cb.last_xap, "gsma/rsp/v2.5.0");
    j = json_loads(F.cb.last, JSON_REJECT_DUPLICATES, NULL);
    pthread_mutex_unlock(&F.cb.mu);
    CU_ASSERT_FATAL(j != NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "iccid")) ?: "", ICCID_A2);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "eid")) ?: "", EID_1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "profileType")) ?: "", "typeA");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "timestamp")) ?: "",
                           "2023-11-14T22:13:20Z");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "notificationPointId")), 4);
    {
        json_t *nps = json_object_get(j, "notificationPointStatus");
        json_t *scd = json_object_get(nps, "statusCodeData");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(nps, "status")) ?: "", "Failed");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(scd, "subjectCode")) ?: "",
                               "8.2");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(scd, "reasonCode")) ?: "",
                               "4.2");
    }
    CU_ASSERT(json_is_string(json_object_get(json_object_get(j, "header"),
                                             "functionCallIdentifier")));
    json_decref(j);
}

/* ---- configuration ---- */

static void test_conf(void)
{
    struct smdp_conf c;
    char path[PATH_MAX + 32];
    FILE *f;
    int line = 0;

    memset(&c, 0, sizeof(c));
    snprintf(path, sizeof(path), "%s/smdpd-test.ini", test_build_dir());
    f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fprintf(f, "[server]\nes9_listen = 127.0.0.1:9443\nthreads = 3\nfqdn = a.example\n"
               "[trust]\noperator_ca = /x/ca1.pem\noperator_ca = /x/ca2.pem\n"
               "[store]\ndb = /tmp/x.db\n");
    fclose(f);
    CU_ASSERT_RC(smdp_conf_load(&c, path, &line), RSP_OK);
    CU_ASSERT_STRING_EQUAL(c.es9_listen, "127.0.0.1:9443");
    CU_ASSERT_EQUAL(c.threads, 3);
    CU_ASSERT_STRING_EQUAL(c.operator_ca[1], "/x/ca2.pem");
    CU_ASSERT_RC(smdp_conf_set(&c, "server", "threads", "-1"), RSP_ERR_INVAL);
    CU_ASSERT_RC(smdp_conf_set(&c, "server", "nope", "1"), RSP_ERR_INVAL);
    f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fprintf(f, "[server]\nfqdn = b\nbogus = 1\n");
    fclose(f);
    CU_ASSERT_RC(smdp_conf_load(&c, path, &line), RSP_ERR_INVAL);
    CU_ASSERT_EQUAL(line, 3);
    smdp_conf_free(&c);
    remove(path);

    /* the public SGP.26 set as it is */
    snprintf(path, sizeof(path), "%s/sgp26/DPtls", test_shared_dir());
    if (access(path, R_OK) == 0) {
        snprintf(path, sizeof(path), "%s/sgp26", test_shared_dir());
        memset(&c, 0, sizeof(c));
        CU_ASSERT_RC(smdp_conf_pki(&c, path), RSP_OK);
        CU_ASSERT_PTR_NOT_NULL_FATAL(c.tls_cert);
        CU_ASSERT(strstr(c.tls_cert, "CERT_S_SM_DP_VARO_TLS_NIST.der") != NULL);
        CU_ASSERT(strstr(c.tls_key, "SK_S_SM_DP_TLS_NIST.pem") != NULL);
        CU_ASSERT_STRING_EQUAL(c.fqdn ? c.fqdn : "", "testsmdpplus1.example.com");
        CU_ASSERT(c.nist[0] && strstr(c.nist[0], "CERT_S_SM_DPauth_ECDSA_NIST.der"));
        CU_ASSERT(c.brp[3] && strstr(c.brp[3], "SK_S_SM_DPpb_ECDSA_BRP.pem"));
        smdp_conf_free(&c);
    }
}

CU_TestInfo smdpd_tests[] = {
    { "header_checks", test_header_checks },
    { "binding_errors", test_binding_errors },
    { "es2_order_flow", test_es2_order_flow },
    { "es2_confirm_details", test_es2_confirm_details },
    { "es2_no_oracle", test_es2_no_oracle },
    { "tls_es2", test_tls_es2 },
    { "tls_es9", test_tls_es9 },
    { "tls_body_too_large", test_tls_body_too_large },
    { "tls_one_record", test_tls_one_record },
    { "operator_added_live", test_operator_added_live },
    { "notify_callback", test_notify_callback },
    { "notify_url", test_notify_url },
    { "notify_body_result", test_notify_body_result },
    { "notify_bare_url", test_notify_bare_url },
    { "conf", test_conf },
    CU_TEST_INFO_NULL,
};
