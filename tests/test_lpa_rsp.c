/*
 * test_lpa_rsp.c - the LPA's network half (lpa_rsp.h): the ES9+ JSON client
 * (SGP.22 §6.5), the download of §3.1 and notification delivery (§3.5), on
 * the simulated card, against a scripted SM-DP+ that is an HTTP driver: it
 * checks every request (path, the three header lines, the JSON fields) and
 * answers like an SM-DP+ (the constructions of test_euicc_es10b.c: it signs
 * serverSigned1 with DPauth, smdpSigned2 with DPpb, builds the BPP with
 * rsp_bpp_build), or answers wrong on purpose (Failed status, HTTP 500,
 * broken JSON, missing field, bad base64, oversize, no connection) so the
 * failure branches and cancel reasons (§5.7.14) can be checked.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "euicc.private.h"
#include "euicc_fixture.h"
#include "lpa.h"
#include "lpa_es10b.h"
#include "lpa_http_curl.h"
#include "lpa_rsp.h"
#include "rsp_asn1.h"
#include "rsp_bpp.h"
#include "rsp_err.h"
#include "rsp_pki.h"
#include "rsp_saip.h"
#include "rsp_test.h"
#include "rsp_util.h"
#include "rsp_x509.h"

#include <OperatorId.h>
#include <StoreMetadataRequest.h>

/* ---- APDU driver over the in-process card (ISD-R already selected) ---- */

static int fx_connect(void *ctx) { (void)ctx; return 0; }
static int fx_open(void *ctx, const uint8_t *aid, size_t aid_len, int *channel)
{
    (void)ctx; (void)aid; (void)aid_len;
    *channel = 0;
    return 0;
}
/* The scripted side of the card: by default every APDU goes to the
 * simulated eUICC; rat (when set) answers GetRAT (BF43) instead of the card;
 * drop_pir loses the R-APDU that carries the ProfileInstallationResult
 * (BF37) after the card processed the command, as a broken link would;
 * down makes every later transmit fail (the card unreachable). */
struct scard {
    struct euicc_fixture *f;
    const uint8_t *rat;
    size_t rat_len;
    int drop_pir, dropped, down, rat_calls;
};

static int fx_transmit(void *ctx, const uint8_t *c, size_t len, uint8_t *r, size_t *rlen)
{
    struct scard *s = ctx;
    int rc;

    if (s->down)
        return RSP_ERR_IO;
    if (len >= 7 && c[1] == 0xE2 && c[5] == 0xBF && c[6] == 0x43) {
        s->rat_calls++;
        if (s->rat) {
            if (s->rat_len + 2 > *rlen)
                return RSP_ERR_IO;
            memcpy(r, s->rat, s->rat_len);
            r[s->rat_len] = 0x90;
            r[s->rat_len + 1] = 0x00;
            *rlen = s->rat_len + 2;
            return 0;
        }
    }
    rc = euicc_transmit(s->f->card, c, len, r, rlen);
    if (rc == 0 && s->drop_pir && !s->dropped && *rlen > 4 && r[0] == 0xBF && r[1] == 0x37) {
        s->dropped = 1;
        if (s->drop_pir > 1)
            s->down = 1;
        return RSP_ERR_IO;
    }
    return rc;
}

static void lpa_on_fixture(struct lpa_ctx *l, struct scard *s)
{
    struct lpa_apdu_driver drv = {
        .ctx = s, .connect = fx_connect, .open_channel = fx_open, .transmit = fx_transmit,
    };
    CU_ASSERT_RC(lpa_ctx_init(l, &drv, NULL), 0);
    CU_ASSERT_RC(lpa_open(l), 0);
}

/* ---- the scripted SM-DP+ ---- */

enum ffault {
    FF_NONE = 0,
    FF_FAILED,        /* status Failed, statusCodeData 8.2.6 / 3.8 */
    FF_HTTP500,
    FF_BADJSON,
    FF_MISSING,       /* a mandatory field left out */
    FF_BADB64,        /* a mandatory base64 field not base64 */
    FF_OVERSIZE,      /* more than LPA_ES9_RESP_MAX bytes */
    FF_TRANSPORT,     /* the driver cannot connect */
    FF_BAD_METADATA,  /* profileMetadata BF25 that is no StoreMetadataRequest */
    FF_TAMPER_BPP,    /* last '86' segment's MAC flipped -> PIR error */
    FF_WRONG_CHAL,    /* serverSigned1 over a wrong euiccChallenge */
    FF_NOT_BPP,       /* boundProfilePackage is a BF36 that does not split */
};

struct fdp {
    struct rsp_pki_cred auth, pb;
    uint8_t tid[16];
    uint8_t sig1[RSP_ECDSA_SIG_LEN];
    uint8_t otpk[RSP_EC_POINT_LEN];
    char eid[33];
    uint8_t *upp;
    size_t upp_len;
    char iccid[21];
    uint32_t ppr;
    const uint8_t *owner;    /* profileOwner mccMnc (3 bytes) or NULL */
    const char *owner_gid1;  /* its gid1 bytes or NULL */
    int cc_required;
    const char *cc;
    /* fault */
    int fault;
    const char *fault_fn;
    /* what was seen */
    int bad;                 /* a request broke a rule (printed) */
    int calls;
    char fns[16][32];
    int cancel_calls, cancel_reason;
    int notif_calls;
    uint32_t notif_tag;
    int auth_error_seen;     /* authenticateClient carried an error */
    int pd_error_seen;       /* getBoundProfilePackage carried an error */
    int hashcc_ok;
    json_t *init_req;        /* the initiateAuthentication request */
    json_t *client_req;
};

static void fdp_bad(struct fdp *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\n  scripted SM-DP+: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    d->bad++;
}

static int fdp_init(struct fdp *d, const char *profile)
{
    char c[700], k[700], path[700];
    struct rsp_saip_info *info = NULL;
    const char *pki = euicc_fixture_pki_dir();

    memset(d, 0, sizeof(*d));
    d->cancel_reason = -1;
    if (!pki)
        return -1;
    snprintf(c, sizeof(c), "%s/DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der", pki);
    snprintf(k, sizeof(k), "%s/DPauth/SK_S_SM_DPauth_ECDSA_NIST.pem", pki);
    if (rsp_pki_load_cred(c, k, &d->auth))
        return -1;
    snprintf(c, sizeof(c), "%s/DPpb/CERT_S_SM_DPpb_ECDSA_NIST.der", pki);
    snprintf(k, sizeof(k), "%s/DPpb/SK_S_SM_DPpb_ECDSA_NIST.pem", pki);
    if (rsp_pki_load_cred(c, k, &d->pb))
        return -1;
    snprintf(path, sizeof(path), "%s/ts48/%s", test_shared_dir(), profile);
    d->upp = test_read_file(path, &d->upp_len);
    if (!d->upp || rsp_saip_parse(d->upp, d->upp_len, &info))
        return -1;
    snprintf(d->iccid, sizeof(d->iccid), "%s", info->iccid);
    rsp_saip_info_free(info);
    for (int i = 0; i < 16; i++)
        d->tid[i] = (uint8_t)(0x10 + i);
    return 0;
}

static void fdp_free(struct fdp *d)
{
    rsp_pki_cred_free(&d->auth);
    rsp_pki_cred_free(&d->pb);
    free(d->upp);
    json_decref(d->init_req);
    json_decref(d->client_req);
}

static int put(struct rsp_buf *b, uint32_t tag, const void *v, size_t n)
{
    int rc = rsp_tlv_put_header(b, tag, n);
    if (rc == 0 && n)
        rc = rsp_buf_append(b, v, n);
    return rc;
}

static int b64_set(json_t *o, const char *key, const uint8_t *p, size_t n)
{
    struct rsp_buf b;
    int rc;
    rsp_buf_init(&b, 4 * 1024 * 1024);
    rc = rsp_base64_encode(p, n, &b);
    if (rc == 0)
        rc = rsp_buf_append_byte(&b, 0);
    if (rc == 0)
        rc = json_object_set_new(o, key, json_string((char *)b.data));
    rsp_buf_free(&b);
    return rc;
}

/* base64 field of a request into out (0 or -1). */
static int b64_get(json_t *o, const char *key, struct rsp_buf *out)
{
    const char *s = json_string_value(json_object_get(o, key));
    rsp_buf_init(out, 4 * 1024 * 1024);
    if (!s || rsp_base64_decode(s, strlen(s), out))
        return -1;
    return 0;
}

/* The base64 field key of o decoded into out and parsed as tag { first ...
 * } (*t the whole TLV, *first the first element inside). Returns 0 or -1. */
static int b64_get_tlv(json_t *o, const char *key, uint32_t tag, struct rsp_buf *out,
                       struct rsp_tlv *t, struct rsp_tlv *first)
{
    if (b64_get(o, key, out) || rsp_tlv_parse(out->data, out->len, t) || t->tag != tag)
        return -1;
    return rsp_tlv_parse(t->val, t->val_len, first) ? -1 : 0;
}

/* An ES9+ answer: functionExecutionStatus Failed with subj/reason. */
static json_t *es9_failed(const char *subj, const char *reason)
{
    return json_pack("{s:{s:{s:s, s:{s:s, s:s}}}}", "header", "functionExecutionStatus",
                     "status", "Failed", "statusCodeData", "subjectCode", subj, "reasonCode",
                     reason);
}

static void set_ok_header(json_t *o)
{
    json_object_set_new(o, "header", json_pack("{s:{s:s}}", "functionExecutionStatus",
                                               "status", "Executed-Success"));
}

static void set_tid(json_t *o, const uint8_t *tid)
{
    char h[33];
    rsp_hex_encode(tid, 16, h);
    json_object_set_new(o, "transactionId", json_string(h));
}

static json_t *fn_initiate(struct fdp *d, json_t *req)
{
    static const char addr[] = RSP_PKI_DEFAULT_HOST;
    uint8_t schal[16], sig[RSP_ECDSA_SIG_LEN], pkid[64];
    struct rsp_buf chal, info, v, ss1, b;
    json_t *o = json_object();
    int pl;

    d->init_req = json_incref(req);
    if (b64_get(req, "euiccChallenge", &chal) || chal.len != 16)
        fdp_bad(d, "euiccChallenge not 16 bytes of base64");
    if (b64_get(req, "euiccInfo1", &info) || !info.len || info.data[0] != 0xBF || info.data[1] != 0x20)
        fdp_bad(d, "euiccInfo1 not a BF20");
    if (!json_string_value(json_object_get(req, "smdpAddress")))
        fdp_bad(d, "smdpAddress missing");
    if (json_object_get(req, "header"))
        fdp_bad(d, "an ES9+ request carries a header");
    for (int i = 0; i < 16; i++)
        schal[i] = (uint8_t)(0x30 + i);
    if (chal.len == 16 && d->fault == FF_WRONG_CHAL)
        chal.data[0] ^= 1;
    rsp_buf_init(&v, 4096);
    rsp_buf_init(&ss1, 4096);
    rsp_buf_init(&b, 8192);
    put(&v, 0x80, d->tid, 16);
    put(&v, 0x81, chal.data, 16);
    put(&v, 0x83, addr, strlen(addr));
    put(&v, 0x84, schal, 16);
    put(&ss1, 0x30, v.data, v.len);
    rsp_ecdsa_sign(d->auth.key, ss1.data, ss1.len, sig);
    set_ok_header(o);
    set_tid(o, d->tid);
    b64_set(o, "serverSigned1", ss1.data, ss1.len);
    rsp_buf_reset(&b);
    put(&b, 0x5F37, sig, sizeof(sig));
    b64_set(o, "serverSignature1", b.data, b.len);
    pl = rsp_x509_get_aki(d->auth.cert, pkid, sizeof(pkid));
    rsp_buf_reset(&b);
    put(&b, 0x04, pkid, pl > 0 ? (size_t)pl : 0);
    b64_set(o, "euiccCiPKIdToBeUsed", b.data, b.len);
    rsp_buf_reset(&b);
    rsp_x509_to_der(d->auth.cert, &b);
    b64_set(o, "serverCertificate", b.data, b.len);
    rsp_buf_free(&chal);
    rsp_buf_free(&info);
    rsp_buf_free(&v);
    rsp_buf_free(&ss1);
    rsp_buf_free(&b);
    return o;
}

static int check_tid(struct fdp *d, json_t *req)
{
    char h[33];
    const char *s = json_string_value(json_object_get(req, "transactionId"));
    rsp_hex_encode(d->tid, 16, h);
    if (!s || strcmp(s, h)) {
        fdp_bad(d, "transactionId %s, want %s", s ? s : "(none)", h);
        return -1;
    }
    return 0;
}

/* profileOwner into the encoded metadata (decode, set, encode again). */
static void add_owner(struct fdp *d, struct rsp_buf *md_der)
{
    StoreMetadataRequest_t *m = NULL;
    if (rsp_asn1_decode(&asn_DEF_StoreMetadataRequest, md_der->data, md_der->len, 64 * 1024,
                        (void **)&m)) {
        fdp_bad(d, "own metadata does not decode");
        return;
    }
    m->profileOwner = calloc(1, sizeof(*m->profileOwner));
    if (m->profileOwner && !rsp_asn1_octets_set(&m->profileOwner->mccMnc, d->owner, 3)) {
        if (d->owner_gid1) {
            m->profileOwner->gid1 = calloc(1, sizeof(*m->profileOwner->gid1));
            if (m->profileOwner->gid1)
                rsp_asn1_octets_set(m->profileOwner->gid1, d->owner_gid1,
                                    strlen(d->owner_gid1));
        }
        rsp_buf_reset(md_der);
        if (rsp_asn1_encode(&asn_DEF_StoreMetadataRequest, m, md_der))
            fdp_bad(d, "metadata with profileOwner does not encode");
    }
    rsp_asn1_free(&asn_DEF_StoreMetadataRequest, m);
}

static json_t *fn_client(struct fdp *d, json_t *req)
{
    struct rsp_buf asr, v, ss2, msg, md_der, b;
    struct rsp_tlv t, a, es1, sig, cert;
    X509 *ec = NULL;
    uint8_t s2[RSP_ECDSA_SIG_LEN];
    size_t pos = 0;
    json_t *o = NULL;

    d->client_req = json_incref(req);
    check_tid(d, req);
    rsp_buf_init(&v, 4096);
    rsp_buf_init(&ss2, 256);
    rsp_buf_init(&msg, 512);
    rsp_buf_init(&md_der, 4096);
    rsp_buf_init(&b, 4096);
    if (b64_get_tlv(req, "authenticateServerResponse", 0xBF38, &asr, &t, &a)) {
        fdp_bad(d, "authenticateServerResponse not a BF38");
        goto out;
    }
    if (a.tag != 0xA0) {
        d->auth_error_seen = 1;
        o = es9_failed("8.1", "6.1");
        goto out;
    }
    if (rsp_tlv_next(a.val, a.val_len, &pos, &es1) != 1 ||
        rsp_tlv_next(a.val, a.val_len, &pos, &sig) != 1 ||
        rsp_tlv_next(a.val, a.val_len, &pos, &cert) != 1 || sig.val_len != RSP_ECDSA_SIG_LEN ||
        rsp_x509_from_der(cert.tlv, cert.tlv_len, &ec) || rsp_x509_get_eid(ec, d->eid)) {
        fdp_bad(d, "authenticateResponseOk malformed");
        goto out;
    }
    memcpy(d->sig1, sig.val, sizeof(d->sig1));
    /* smdpSigned2 = { transactionId, ccRequiredFlag } */
    put(&v, 0x80, d->tid, 16);
    put(&v, 0x01, d->cc_required ? "\xFF" : "\x00", 1);
    put(&ss2, 0x30, v.data, v.len);
    rsp_buf_append(&msg, ss2.data, ss2.len);
    put(&msg, 0x5F37, d->sig1, sizeof(d->sig1));
    rsp_ecdsa_sign(d->pb.key, msg.data, msg.len, s2);
    struct rsp_bpp_notif nt = {0xF, RSP_PKI_DEFAULT_HOST};
    struct rsp_bpp_metadata md = {
        .iccid = d->iccid, .service_provider = "Test SP", .profile_name = "TS.48 test",
        .profile_class = 2, .notifs = &nt, .n_notifs = 1, .ppr = d->ppr,
    };
    if (d->fault == FF_BAD_METADATA)
        put(&md_der, 0xBF25, "\x80\x01\x00", 3);
    else if (rsp_bpp_metadata_encode(&md, &md_der) == 0 && d->owner)
        add_owner(d, &md_der);
    o = json_object();
    set_ok_header(o);
    set_tid(o, d->tid);
    b64_set(o, "profileMetadata", md_der.data, md_der.len);
    b64_set(o, "smdpSigned2", ss2.data, ss2.len);
    put(&b, 0x5F37, s2, sizeof(s2));
    b64_set(o, "smdpSignature2", b.data, b.len);
    rsp_buf_reset(&b);
    rsp_x509_to_der(d->pb.cert, &b);
    b64_set(o, "smdpCertificate", b.data, b.len);
out:
    X509_free(ec);
    rsp_buf_free(&asr);
    rsp_buf_free(&v);
    rsp_buf_free(&ss2);
    rsp_buf_free(&msg);
    rsp_buf_free(&md_der);
    rsp_buf_free(&b);
    return o;
}

static json_t *fn_bpp(struct fdp *d, json_t *req)
{
    static const uint8_t host[] = "hostid01";
    struct rsp_buf pdr, bpp;
    struct rsp_tlv t, a, es2, otpk, hcc;
    struct rsp_bpp_seg *segs = NULL;
    size_t nsegs = 0;
    uint8_t eid[16];
    json_t *o = NULL;

    check_tid(d, req);
    rsp_buf_init(&bpp, RSP_BPP_MAX);
    if (b64_get_tlv(req, "prepareDownloadResponse", 0xBF21, &pdr, &t, &a)) {
        fdp_bad(d, "prepareDownloadResponse not a BF21");
        goto out;
    }
    if (a.tag != 0xA0) {
        d->pd_error_seen = 1;
        o = es9_failed("8.2", "6.1");
        goto out;
    }
    if (rsp_tlv_parse(a.val, a.val_len, &es2) ||
        rsp_tlv_find(es2.val, es2.val_len, 0x5F49, &otpk) || otpk.val_len != RSP_EC_POINT_LEN) {
        fdp_bad(d, "euiccSigned2 without otPK");
        goto out;
    }
    memcpy(d->otpk, otpk.val, RSP_EC_POINT_LEN);
    if (d->cc_required && rsp_tlv_find(es2.val, es2.val_len, 0x04, &hcc) == 0 && hcc.val_len == 32) {
        /* SHA256(SHA256(cc) || tid) */
        uint8_t h1[32 + 16], h2[32];
        unsigned l = 32;
        EVP_Digest(d->cc, strlen(d->cc), h1, &l, EVP_sha256(), NULL);
        memcpy(h1 + 32, d->tid, 16);
        EVP_Digest(h1, sizeof(h1), h2, &l, EVP_sha256(), NULL);
        d->hashcc_ok = !memcmp(h2, hcc.val, 32);
    }
    struct rsp_bpp_notif nt = {0xF, RSP_PKI_DEFAULT_HOST};
    struct rsp_bpp_metadata md = {
        .iccid = d->iccid, .service_provider = "Test SP", .profile_name = "TS.48 test",
        .profile_class = 2, .notifs = &nt, .n_notifs = 1, .ppr = d->ppr,
    };
    rsp_eid_to_bytes(d->eid, eid);
    struct rsp_bpp_params bp = {
        .dp_pb_key = d->pb.key, .euicc_otpk = d->otpk, .transaction_id = d->tid,
        .transaction_id_len = 16, .eid = eid, .host_id = host, .host_id_len = 8,
        .upp = d->upp, .upp_len = d->upp_len, .md = &md,
    };
    if (rsp_bpp_build(&bp, &bpp)) {
        fdp_bad(d, "rsp_bpp_build failed");
        goto out;
    }
    if (d->fault == FF_TAMPER_BPP && rsp_bpp_split(bpp.data, bpp.len, &segs, &nsegs) == 0 && nsegs)
        bpp.data[segs[nsegs - 1].off + segs[nsegs - 1].len - 1] ^= 0x01;
    o = json_object();
    set_ok_header(o);
    set_tid(o, d->tid);
    if (d->fault == FF_NOT_BPP)
        b64_set(o, "boundProfilePackage", (const uint8_t *)"\xBF\x36\x03\x80\x01\x00", 6);
    else
        b64_set(o, "boundProfilePackage", bpp.data, bpp.len);
out:
    free(segs);
    rsp_buf_free(&pdr);
    rsp_buf_free(&bpp);
    return o;
}

static json_t *fn_notif(struct fdp *d, json_t *req)
{
    struct rsp_buf p;
    struct rsp_tlv t;
    d->notif_calls++;
    if (b64_get(req, "pendingNotification", &p) || rsp_tlv_parse(p.data, p.len, &t) ||
        t.tlv_len != p.len)
        fdp_bad(d, "pendingNotification not one TLV");
    else
        d->notif_tag = t.tag;
    rsp_buf_free(&p);
    return NULL;   /* 204 */
}

static json_t *fn_cancel(struct fdp *d, json_t *req)
{
    struct rsp_buf p;
    struct rsp_tlv t, a, s, r;
    json_t *o = json_object();
    d->cancel_calls++;
    check_tid(d, req);
    /* BF41 { A0 { 30 { 80 tid, 81 smdpOid, 82 reason }, 5F37 sig } } (automatic tags) */
    if (b64_get_tlv(req, "cancelSessionResponse", 0xBF41, &p, &t, &a) || a.tag != 0xA0 ||
        rsp_tlv_parse(a.val, a.val_len, &s) || rsp_tlv_find(s.val, s.val_len, 0x82, &r) ||
        r.val_len != 1)
        fdp_bad(d, "cancelSessionResponse not a signed BF41 response");
    else
        d->cancel_reason = r.val[0];
    rsp_buf_free(&p);
    set_ok_header(o);
    return o;
}

static int fdp_post(void *ctx, const char *address, const char *path,
                    const char *const *headers, const char *body, size_t body_len,
                    long *http_status, char **resp, size_t *resp_len, char *err, size_t err_len)
{
    static const char *const want_hdr[] = {
        "User-Agent: gsma-rsp-lpad", "X-Admin-Protocol: gsma/rsp/v2.5.0",
        "Content-Type: application/json;charset=UTF-8",
    };
    static const char prefix[] = "/gsma/rsp2/es9plus/";
    struct fdp *d = ctx;
    const char *fn;
    json_t *req, *o = NULL;
    int faulty;

    *http_status = 0;
    *resp = NULL;
    *resp_len = 0;
    if (strncmp(path, prefix, strlen(prefix))) {
        fdp_bad(d, "path %s", path);
        return RSP_ERR_IO;
    }
    fn = path + strlen(prefix);
    if (d->calls < 16)
        snprintf(d->fns[d->calls], sizeof(d->fns[0]), "%s", fn);
    d->calls++;
    if (strcmp(address, RSP_PKI_DEFAULT_HOST))
        fdp_bad(d, "address %s", address);
    for (size_t i = 0; i < 3; i++) {
        int found = 0;
        for (size_t j = 0; headers && headers[j]; j++)
            found |= !strcmp(headers[j], want_hdr[i]);
        if (!found)
            fdp_bad(d, "%s: header line \"%s\" missing", fn, want_hdr[i]);
    }
    faulty = d->fault_fn && !strcmp(d->fault_fn, fn);
    if (faulty && d->fault == FF_TRANSPORT) {
        snprintf(err, err_len, "Failed to connect to %s port 443: Connection refused", address);
        return RSP_ERR_IO;
    }
    req = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, NULL);
    if (!req) {
        fdp_bad(d, "%s: request is not JSON", fn);
        return RSP_ERR_IO;
    }
    if (!strcmp(fn, "initiateAuthentication"))
        o = fn_initiate(d, req);
    else if (!strcmp(fn, "authenticateClient"))
        o = fn_client(d, req);
    else if (!strcmp(fn, "getBoundProfilePackage"))
        o = fn_bpp(d, req);
    else if (!strcmp(fn, "handleNotification"))
        o = fn_notif(d, req);
    else if (!strcmp(fn, "cancelSession"))
        o = fn_cancel(d, req);
    else
        fdp_bad(d, "unknown function %s", fn);
    json_decref(req);
    if (faulty) {
        switch (d->fault) {
        case FF_FAILED:
            json_decref(o);
            o = json_pack("{s:{s:{s:s, s:{s:s, s:s, s:s}}}}", "header", "functionExecutionStatus",
                          "status", "Failed", "statusCodeData", "subjectCode", "8.2.6",
                          "reasonCode", "3.8", "message", "Refused");
            break;
        case FF_HTTP500:
            json_decref(o);
            *http_status = 500;
            return 0;
        case FF_BADJSON:
            json_decref(o);
            *http_status = 200;
            *resp = strdup("{\"header\": {\"functionExecutionStatus\": ");
            *resp_len = strlen(*resp);
            return 0;
        case FF_MISSING:
            json_object_del(o, "smdpSigned2");
            json_object_del(o, "serverSigned1");
            json_object_del(o, "boundProfilePackage");
            break;
        case FF_BADB64:
            json_object_set_new(o, "smdpSigned2", json_string("MEQC*A=="));
            json_object_set_new(o, "serverCertificate", json_string("MEQC*A=="));
            json_object_set_new(o, "boundProfilePackage", json_string("vzY=x"));
            break;
        case FF_OVERSIZE:
            json_decref(o);
            *http_status = 200;
            *resp_len = LPA_ES9_RESP_MAX + 10;
            *resp = malloc(*resp_len);
            memset(*resp, ' ', *resp_len);
            return 0;
        default:
            break;
        }
    }
    if (!o) {
        *http_status = 204;
        return 0;
    }
    *resp = json_dumps(o, JSON_COMPACT);
    *resp_len = strlen(*resp);
    *http_status = 200;
    json_decref(o);
    return 0;
}

/* ---- one download ---- */

struct run {
    struct euicc_fixture f;
    struct scard sc;
    struct lpa_ctx l;
    struct fdp d;
    struct lpa_http_driver http;
    struct lpa_download_opts opt;
    struct lpa_result res;
    int rc;
};

static int setup(struct run *r, int fault, const char *fault_fn)
{
    memset(r, 0, sizeof(*r));
    if (euicc_fixture_open(&r->f, NULL))
        return -1;
    if (fdp_init(&r->d, "TS48v2_SAIP2.3_NoBERTLV.der"))
        return -1;
    r->d.fault = fault;
    r->d.fault_fn = fault_fn;
    r->sc.f = &r->f;
    lpa_on_fixture(&r->l, &r->sc);
    r->http.ctx = &r->d;
    r->http.post = fdp_post;
    r->opt.smdp_address = RSP_PKI_DEFAULT_HOST;
    r->opt.matching_id = "MATCH-1";
    return 0;
}

static void teardown(struct run *r)
{
    CU_ASSERT_EQUAL(r->d.bad, 0);
    lpa_close(&r->l);
    fdp_free(&r->d);
    euicc_fixture_close(&r->f);
}

static void go(struct run *r)
{
    r->rc = lpa_download(&r->l, &r->http, &r->opt, &r->res);
}

/* Process every pending notification (seq -1): exactly one goes out, the
 * install PIR (BF37) the SM-DP+ accepts, and the card keeps none. */
static void deliver_pir(struct run *r)
{
    unsigned sent = 9;
    CU_ASSERT_RC(lpa_process_notifications(&r->l, &r->http, -1, &sent, &r->res), 0);
    CU_ASSERT_RC((int)sent, 1);
    CU_ASSERT_RC(r->d.notif_calls, 1);
    CU_ASSERT_RC((int)r->d.notif_tag, 0xBF37);
    CU_ASSERT_RC((int)r->f.card->st.n_notifs, 0);
}

/* setup + go: one download with the SM-DP+ answering fault on fault_fn. */
static void run_with(struct run *r, int fault, const char *fault_fn)
{
    CU_ASSERT_FATAL(setup(r, fault, fault_fn) == 0);
    go(r);
}

static void show(const struct run *r)
{
    fprintf(stderr, "\n  rc %d step %s status '%s' %s/%s http %ld sw %04X euicc %d cancel %d: %s\n",
            r->rc, lpa_step_name(r->res.step), r->res.status, r->res.subject_code,
            r->res.reason_code, r->res.http_status, r->res.sw, r->res.euicc_error,
            r->res.cancel_reason, r->res.detail);
}

/* A failed download: rc, step, the cancel reason sent to both sides (-1:
 * none), and the card left without a session or profile. */
static void expect_fail(struct run *r, int rc, int step, int cancel)
{
    if (r->rc != rc || r->res.step != step || r->res.cancel_reason != cancel)
        show(r);
    CU_ASSERT_EQUAL(r->rc, rc);
    CU_ASSERT_EQUAL(r->res.step, step);
    CU_ASSERT_EQUAL(r->res.cancel_reason, cancel);
    CU_ASSERT(r->res.detail[0] != '\0');
    if (cancel >= 0) {
        CU_ASSERT_EQUAL(r->d.cancel_calls, 1);
        CU_ASSERT_EQUAL(r->d.cancel_reason, cancel);
    } else {
        CU_ASSERT_EQUAL(r->d.cancel_calls, 0);
    }
    /* Before AuthenticateServer the card holds at most a challenge, which
     * the next GetEUICCChallenge replaces: nothing to cancel. */
    if (step > LPA_STEP_INITIATE_AUTHENTICATION)
        CU_ASSERT_EQUAL(r->f.card->sess.phase, EUICC_SESS_NONE);
    CU_ASSERT_EQUAL(r->f.card->st.n_profiles, 0);
}

/* A download that must fail exactly so (expect_fail), its detail line
 * naming detail (NULL: any), with nothing more to check. */
static void fail_case(int fault, const char *fault_fn, int rc, int step, int cancel,
                      const char *detail)
{
    struct run r;

    run_with(&r, fault, fault_fn);
    expect_fail(&r, rc, step, cancel);
    if (detail && !strstr(r.res.detail, detail))
        fprintf(stderr, "\n  detail \"%s\" lacks \"%s\"\n", r.res.detail, detail);
    CU_ASSERT(!detail || strstr(r.res.detail, detail) != NULL);
    teardown(&r);
}

static const uint8_t *find_bytes(const uint8_t *p, size_t n, const uint8_t *w, size_t wn)
{
    for (size_t i = 0; p && i + wn <= n; i++)
        if (!memcmp(p + i, w, wn))
            return p + i;
    return NULL;
}

static unsigned steps_seen;
static void on_step(void *arg, int step, unsigned done, unsigned total)
{
    (void)arg; (void)step;
    if (done <= total)
        steps_seen++;
}

static void test_download_ok(void)
{
    struct run r;
    CU_ASSERT_FATAL(setup(&r, FF_NONE, NULL) == 0);
    steps_seen = 0;
    r.opt.on_step = on_step;
    r.opt.imei = "352906110123456";
    go(&r);
    if (r.rc)
        show(&r);
    CU_ASSERT_RC(r.rc, 0);
    CU_ASSERT_EQUAL(r.res.step, LPA_STEP_NONE);
    CU_ASSERT_STRING_EQUAL(r.res.iccid, r.d.iccid);
    CU_ASSERT(r.res.notification_seq >= 0);
    CU_ASSERT_EQUAL(r.res.cancel_reason, -1);
    CU_ASSERT_EQUAL(r.f.card->st.n_profiles, 1);
    /* the PIR went to the SM-DP+ and left the card */
    CU_ASSERT_EQUAL(r.d.notif_calls, 1);
    CU_ASSERT_EQUAL(r.d.notif_tag, 0xBF37);
    CU_ASSERT_EQUAL(r.f.card->st.n_notifs, 0);
    CU_ASSERT(steps_seen >= 9);
    /* the sequence of ES9+ functions */
    CU_ASSERT_EQUAL(r.d.calls, 4);
    CU_ASSERT_STRING_EQUAL(r.d.fns[0], "initiateAuthentication");
    CU_ASSERT_STRING_EQUAL(r.d.fns[1], "authenticateClient");
    CU_ASSERT_STRING_EQUAL(r.d.fns[2], "getBoundProfilePackage");
    CU_ASSERT_STRING_EQUAL(r.d.fns[3], "handleNotification");
    /* request JSON: exactly the fields of §6.5.2.6 / §6.5.2.7 */
    CU_ASSERT_EQUAL(json_object_size(r.d.init_req), 3);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r.d.init_req, "smdpAddress")),
                           RSP_PKI_DEFAULT_HOST);
    CU_ASSERT_EQUAL(json_object_size(r.d.client_req), 2);
    /* ctxParams1 carries matchingId and the IMEI-derived TAC */
    struct rsp_buf asr;
    CU_ASSERT_FATAL(b64_get(r.d.client_req, "authenticateServerResponse", &asr) == 0);
    static const uint8_t mid[] = {0x80, 0x07, 'M', 'A', 'T', 'C', 'H', '-', '1'};
    static const uint8_t tac[] = {0x80, 0x04, 0x35, 0x29, 0x06, 0x11};
    CU_ASSERT_PTR_NOT_NULL(find_bytes(asr.data, asr.len, mid, sizeof(mid)));
    CU_ASSERT_PTR_NOT_NULL(find_bytes(asr.data, asr.len, tac, sizeof(tac)));
    rsp_buf_free(&asr);
    teardown(&r);
}

static void test_download_ac_keep_notifications(void)
{
    struct run r;
    unsigned sent = 0;
    CU_ASSERT_FATAL(setup(&r, FF_NONE, NULL) == 0);
    r.opt.smdp_address = NULL;
    r.opt.activation_code = "LPA:1$" RSP_PKI_DEFAULT_HOST "$MATCH-1";
    r.opt.keep_notifications = 1;
    go(&r);
    CU_ASSERT_RC(r.rc, 0);
    CU_ASSERT_EQUAL(r.d.notif_calls, 0);
    CU_ASSERT_EQUAL(r.f.card->st.n_notifs, 1);
    /* a different seq: nothing sent */
    CU_ASSERT_RC(lpa_process_notifications(&r.l, &r.http, r.res.notification_seq + 100, &sent,
                                           &r.res), 0);
    CU_ASSERT_EQUAL(sent, 0);
    deliver_pir(&r);
    teardown(&r);
}

/* The SM-DP+ does not accept the notification: it stays on the card. */
static void test_notification_refused(void)
{
    struct run r;
    unsigned sent = 9;
    run_with(&r, FF_HTTP500, "handleNotification");
    CU_ASSERT_RC(r.rc, 0);   /* installed all the same */
    CU_ASSERT(strstr(r.res.detail, "not delivered") != NULL);
    CU_ASSERT_EQUAL(r.f.card->st.n_notifs, 1);
    CU_ASSERT_RC(lpa_process_notifications(&r.l, &r.http, -1, &sent, &r.res), LPA_ERR_ES9);
    CU_ASSERT_EQUAL(sent, 0);
    CU_ASSERT_EQUAL(r.res.http_status, 500);
    CU_ASSERT_EQUAL(r.f.card->st.n_notifs, 1);
    r.d.fault = FF_NONE;
    CU_ASSERT_RC(lpa_process_notifications(&r.l, &r.http, -1, &sent, &r.res), 0);
    CU_ASSERT_EQUAL(sent, 1);
    CU_ASSERT_EQUAL(r.f.card->st.n_notifs, 0);
    teardown(&r);
}

static void test_failed_status(void)
{
    struct run r;
    run_with(&r, FF_FAILED, "authenticateClient");
    expect_fail(&r, LPA_ERR_ES9, LPA_STEP_AUTHENTICATE_CLIENT, LPA_CANCEL_UNDEFINED_REASON);
    CU_ASSERT_STRING_EQUAL(r.res.status, "Failed");
    CU_ASSERT_STRING_EQUAL(r.res.subject_code, "8.2.6");
    CU_ASSERT_STRING_EQUAL(r.res.reason_code, "3.8");
    CU_ASSERT_STRING_EQUAL(r.res.message, "Refused");
    CU_ASSERT_EQUAL(r.res.http_status, 200);
    teardown(&r);
}

/* initiateAuthentication fails: no session on the card to cancel. */
static void test_failed_initiate(void)
{
    struct run r;
    run_with(&r, FF_FAILED, "initiateAuthentication");
    expect_fail(&r, LPA_ERR_ES9, LPA_STEP_INITIATE_AUTHENTICATION, -1);
    CU_ASSERT_STRING_EQUAL(r.res.subject_code, "8.2.6");
    teardown(&r);
}

static void test_http_500(void)
{
    struct run r;
    run_with(&r, FF_HTTP500, "getBoundProfilePackage");
    expect_fail(&r, LPA_ERR_ES9, LPA_STEP_GET_BPP, LPA_CANCEL_UNDEFINED_REASON);
    CU_ASSERT_EQUAL(r.res.http_status, 500);
    CU_ASSERT_STRING_EQUAL(r.res.status, "");
    teardown(&r);
}

static void test_bad_json(void)
{
    fail_case(FF_BADJSON, "authenticateClient", RSP_ERR_DECODE, LPA_STEP_AUTHENTICATE_CLIENT,
              LPA_CANCEL_UNDEFINED_REASON, "malformed JSON");
}

static void test_missing_field(void)
{
    fail_case(FF_MISSING, "authenticateClient", RSP_ERR_DECODE, LPA_STEP_AUTHENTICATE_CLIENT,
              LPA_CANCEL_UNDEFINED_REASON, "smdpSigned2");
    fail_case(FF_MISSING, "initiateAuthentication", RSP_ERR_DECODE,
              LPA_STEP_INITIATE_AUTHENTICATION, -1, "serverSigned1");
}

static void test_bad_base64(void)
{
    fail_case(FF_BADB64, "getBoundProfilePackage", RSP_ERR_DECODE, LPA_STEP_GET_BPP,
              LPA_CANCEL_LOAD_BPP_EXECUTION_ERROR, "boundProfilePackage");
    fail_case(FF_BADB64, "authenticateClient", RSP_ERR_DECODE, LPA_STEP_AUTHENTICATE_CLIENT,
              LPA_CANCEL_UNDEFINED_REASON, NULL);
}

static void test_oversize(void)
{
    fail_case(FF_OVERSIZE, "authenticateClient", RSP_ERR_TOOBIG, LPA_STEP_AUTHENTICATE_CLIENT,
              LPA_CANCEL_UNDEFINED_REASON, NULL);
}

static void test_unreachable(void)
{
    struct run r;
    run_with(&r, FF_TRANSPORT, "getBoundProfilePackage");
    expect_fail(&r, RSP_ERR_IO, LPA_STEP_GET_BPP, LPA_CANCEL_TIMEOUT);
    CU_ASSERT(strstr(r.res.detail, "Connection refused") != NULL);
    CU_ASSERT_EQUAL(r.res.http_status, 0);
    teardown(&r);
}

static int refuse(void *arg, const struct lpa_metadata *md)
{
    struct fdp *d = arg;
    CU_ASSERT_STRING_EQUAL(md->iccid, d->iccid);
    CU_ASSERT_STRING_EQUAL(md->spn, "Test SP");
    CU_ASSERT_STRING_EQUAL(md->name, "TS.48 test");
    CU_ASSERT_EQUAL(md->profile_class, LPA_PROFILE_CLASS_OPERATIONAL);
    return 0;
}
static int postpone(void *arg, const struct lpa_metadata *md) { (void)arg; (void)md; return -1; }

static void test_consent(void)
{
    struct run r;
    CU_ASSERT_FATAL(setup(&r, FF_NONE, NULL) == 0);
    r.opt.consent = refuse;
    r.opt.consent_arg = &r.d;
    go(&r);
    expect_fail(&r, LPA_ERR_REJECTED, LPA_STEP_USER_CONSENT, LPA_CANCEL_END_USER_REJECTION);
    teardown(&r);
    CU_ASSERT_FATAL(setup(&r, FF_NONE, NULL) == 0);
    r.opt.consent = postpone;
    go(&r);
    expect_fail(&r, LPA_ERR_REJECTED, LPA_STEP_USER_CONSENT, LPA_CANCEL_POSTPONED);
    teardown(&r);
}

/* ---- PPRs against the eUICC's RAT (SGP.22 §2.9.2.2) ---- */

static const uint8_t OWNER[3] = {0x21, 0xF3, 0x54};     /* MCC 123, MNC 45 */

/* One ProfilePolicyAuthorisationRule { pprIds, allowedOperators { one
 * OperatorId }, pprFlags } appended to rules. */
static void rat_rule(struct rsp_buf *rules, unsigned ppr, const uint8_t mcc_mnc[3],
                     const char *gid1, int consent)
{
    struct rsp_buf r, op, ops;
    /* DER BIT STRING: named bit i is bit 7-i of the byte; trailing zero
     * bits removed (counted as unused) */
    uint8_t bits[2] = {0, 0};
    unsigned v = 0;
    for (int i = 0; i < 8; i++)
        if (ppr & (1u << i))
            v |= 0x80u >> i;
    bits[1] = (uint8_t)v;
    while (bits[0] < 7 && v && !(v & (1u << bits[0])))
        bits[0]++;
    rsp_buf_init(&r, 256);
    rsp_buf_init(&op, 128);
    rsp_buf_init(&ops, 128);
    put(&r, 0x80, bits, 2);
    put(&op, 0x80, mcc_mnc, 3);
    if (gid1)
        put(&op, 0x81, gid1, strlen(gid1));
    put(&ops, 0x30, op.data, op.len);
    put(&r, 0xA1, ops.data, ops.len);
    put(&r, 0x82, consent ? "\x07\x80" : "\x00", consent ? 2 : 1);
    put(rules, 0x30, r.data, r.len);
    rsp_buf_free(&r);
    rsp_buf_free(&op);
    rsp_buf_free(&ops);
}

/* BF43 { A0 { rules } } into out. */
static void rat_wrap(const struct rsp_buf *rules, struct rsp_buf *out)
{
    struct rsp_buf a;
    rsp_buf_init(&a, 4096);
    rsp_buf_init(out, 4096);
    put(&a, 0xA0, rules->data, rules->len);
    put(out, 0xBF43, a.data, a.len);
    rsp_buf_free(&a);
}

static int consent_calls;
static int refuse_ppr(void *arg, const struct lpa_metadata *md)
{
    (void)arg; (void)md;
    consent_calls++;
    return 0;
}
static int accept_ppr(void *arg, const struct lpa_metadata *md)
{
    (void)arg;
    consent_calls++;
    CU_ASSERT_EQUAL(md->ppr_mask, 1u << 2);
    CU_ASSERT_EQUAL(md->ppr_consent_required, 1);
    CU_ASSERT_STRING_EQUAL(md->owner_mcc_mnc, "21F354");
    return 1;
}

/* A download of a profile whose metadata carries the PPR bits ppr and the
 * profileOwner owner (NULL: none); GetRAT answered with rat (NULL: by the
 * card, its own RAT). */
static void setup_ppr(struct run *r, const uint8_t *rat, size_t rat_len, unsigned ppr,
                      const uint8_t *owner)
{
    CU_ASSERT_FATAL(setup(r, FF_NONE, NULL) == 0);
    r->sc.rat = rat;
    r->sc.rat_len = rat_len;
    r->d.ppr = ppr;
    r->d.owner = owner;
}

/* The card's own RAT (PPR1+PPR2 for any operator, no consent): a PPR2
 * profile of owner 123/45 installs without a consent hook; without a
 * profileOwner no rule can match -> pprNotAllowed, hook never asked. */
static void test_ppr_card_rat(void)
{
    struct run r;
    setup_ppr(&r, NULL, 0, 1u << 2, OWNER);
    go(&r);
    if (r.rc)
        show(&r);
    CU_ASSERT_RC(r.rc, 0);
    CU_ASSERT_EQUAL(r.sc.rat_calls, 1);
    CU_ASSERT_EQUAL(r.f.card->st.n_profiles, 1);
    teardown(&r);

    setup_ppr(&r, NULL, 0, 1u << 2, NULL);
    consent_calls = 0;
    r.opt.consent = refuse_ppr;
    go(&r);
    expect_fail(&r, LPA_ERR_PPR, LPA_STEP_USER_CONSENT, LPA_CANCEL_PPR_NOT_ALLOWED);
    CU_ASSERT_EQUAL(r.res.ppr_not_allowed, LPA_PPR2);
    CU_ASSERT_EQUAL(consent_calls, 0);
    CU_ASSERT(strstr(r.res.detail, "PPR2") != NULL);
    teardown(&r);

    /* pprUpdateControl alone is no rule: no GetRAT, no consent needed */
    setup_ppr(&r, NULL, 0, 1u << 0, NULL);
    go(&r);
    CU_ASSERT_RC(r.rc, 0);
    CU_ASSERT_EQUAL(r.sc.rat_calls, 0);
    teardown(&r);
}

/* A scripted RAT that allows the PPRs for other operators only, or for
 * this MCC/MNC only with a GID1 the owner lacks / has. */
static void test_ppr_not_allowed(void)
{
    static const uint8_t other[3] = {0x99, 0xF9, 0x99};
    struct rsp_buf rules, rat;
    struct run r;

    rsp_buf_init(&rules, 4096);
    rat_rule(&rules, LPA_PPR1 | LPA_PPR2, other, NULL, 0);
    rat_rule(&rules, LPA_PPR2, OWNER, "\xAB", 0);
    rat_wrap(&rules, &rat);
    setup_ppr(&r, rat.data, rat.len, 1u << 1 | 1u << 2, OWNER);
    go(&r);
    expect_fail(&r, LPA_ERR_PPR, LPA_STEP_USER_CONSENT, LPA_CANCEL_PPR_NOT_ALLOWED);
    CU_ASSERT_EQUAL(r.res.ppr_not_allowed, LPA_PPR1 | LPA_PPR2);
    teardown(&r);

    /* owner with gid1 AB: PPR2 allowed by rule 2, PPR1 still by none */
    setup_ppr(&r, rat.data, rat.len, 1u << 1 | 1u << 2, OWNER);
    r.d.owner_gid1 = "\xAB";
    go(&r);
    expect_fail(&r, LPA_ERR_PPR, LPA_STEP_USER_CONSENT, LPA_CANCEL_PPR_NOT_ALLOWED);
    CU_ASSERT_EQUAL(r.res.ppr_not_allowed, LPA_PPR1);
    teardown(&r);

    /* PPR2 alone with gid1 AB: allowed, installed */
    setup_ppr(&r, rat.data, rat.len, 1u << 2, OWNER);
    r.d.owner_gid1 = "\xAB";
    go(&r);
    if (r.rc)
        show(&r);
    CU_ASSERT_RC(r.rc, 0);
    CU_ASSERT_EQUAL(r.f.card->st.n_profiles, 1);
    teardown(&r);
    rsp_buf_free(&rules);
    rsp_buf_free(&rat);
}

/* consentRequired in the FIRST matching rule (MCC 123, any MNC) wins over
 * a later rule without it: no hook -> pprNotAllowed; the hook must say yes;
 * a refusal is endUserRejection. */
static void test_ppr_consent_required(void)
{
    static const uint8_t mcc123[3] = {0x21, 0xF3, 0xEE};
    static const uint8_t any[3] = {0xEE, 0xEE, 0xEE};
    struct rsp_buf rules, rat;
    struct run r;

    rsp_buf_init(&rules, 4096);
    rat_rule(&rules, LPA_PPR2, mcc123, NULL, 1);
    rat_rule(&rules, LPA_PPR1 | LPA_PPR2, any, NULL, 0);
    rat_wrap(&rules, &rat);

    setup_ppr(&r, rat.data, rat.len, 1u << 2, OWNER);
    go(&r);
    expect_fail(&r, LPA_ERR_REJECTED, LPA_STEP_USER_CONSENT, LPA_CANCEL_PPR_NOT_ALLOWED);
    CU_ASSERT_EQUAL(r.res.ppr_not_allowed, 0);
    teardown(&r);

    setup_ppr(&r, rat.data, rat.len, 1u << 2, OWNER);
    consent_calls = 0;
    r.opt.consent = accept_ppr;
    go(&r);
    if (r.rc)
        show(&r);
    CU_ASSERT_RC(r.rc, 0);
    CU_ASSERT_EQUAL(consent_calls, 1);
    CU_ASSERT_EQUAL(r.f.card->st.n_profiles, 1);
    teardown(&r);

    setup_ppr(&r, rat.data, rat.len, 1u << 2, OWNER);
    consent_calls = 0;
    r.opt.consent = refuse_ppr;
    go(&r);
    expect_fail(&r, LPA_ERR_REJECTED, LPA_STEP_USER_CONSENT, LPA_CANCEL_END_USER_REJECTION);
    CU_ASSERT_EQUAL(consent_calls, 1);
    teardown(&r);

    /* a RAT that does not decode: the card's answer is wrong -> 127 */
    setup_ppr(&r, (const uint8_t *)"\xBF\x43\x03\xA0\x01\x30", 6, 1u << 2, OWNER);
    go(&r);
    expect_fail(&r, RSP_ERR_DECODE, LPA_STEP_USER_CONSENT, LPA_CANCEL_UNDEFINED_REASON);
    CU_ASSERT(strstr(r.res.detail, "GetRAT") != NULL);
    teardown(&r);
    rsp_buf_free(&rules);
    rsp_buf_free(&rat);
}

/* lpa_operator_match: 'E' nibbles, GIDs. */
static void test_operator_match(void)
{
    struct lpa_operator_id rule = {.mcc_mnc = {0x21, 0xF3, 0x54}, .gid1_len = -1, .gid2_len = -1};
    struct lpa_operator_id own = rule;
    CU_ASSERT_EQUAL(lpa_operator_match(&rule, &own), 1);
    own.mcc_mnc[2] = 0x55;
    CU_ASSERT_EQUAL(lpa_operator_match(&rule, &own), 0);
    rule.mcc_mnc[2] = 0xE5;     /* MNC digit 2 wildcard */
    CU_ASSERT_EQUAL(lpa_operator_match(&rule, &own), 1);
    own.mcc_mnc[1] = 0x03;      /* 3-digit MNC 0x0: F filler differs */
    CU_ASSERT_EQUAL(lpa_operator_match(&rule, &own), 0);
    own.mcc_mnc[1] = 0xF3;
    rule.gid2[0] = 0x01;
    rule.gid2_len = 1;          /* the rule names gid2: the owner must have it */
    CU_ASSERT_EQUAL(lpa_operator_match(&rule, &own), 0);
    own.gid2[0] = 0x01;
    own.gid2_len = 1;
    CU_ASSERT_EQUAL(lpa_operator_match(&rule, &own), 1);
    own.gid1_len = 0;           /* a GID the rule leaves out matches anything */
    CU_ASSERT_EQUAL(lpa_operator_match(&rule, &own), 1);
    CU_ASSERT_EQUAL(lpa_operator_match(&rule, NULL), 0);
}

/* ---- a lost answer to the last BPP segment ---- */

/* The link drops the PIR's R-APDU but the card stays reachable: the PIR is
 * read back (RetrieveNotificationsList), delivered, removed; success. */
static void test_lost_pir_recovered(void)
{
    struct run r;
    CU_ASSERT_FATAL(setup(&r, FF_NONE, NULL) == 0);
    r.sc.drop_pir = 1;
    go(&r);
    if (r.rc)
        show(&r);
    CU_ASSERT_RC(r.rc, 0);
    CU_ASSERT_EQUAL(r.sc.dropped, 1);
    CU_ASSERT_EQUAL(r.res.recovered, 1);
    CU_ASSERT_EQUAL(r.res.step, LPA_STEP_NONE);
    CU_ASSERT_STRING_EQUAL(r.res.iccid, r.d.iccid);
    CU_ASSERT(r.res.notification_seq >= 0);
    CU_ASSERT(strstr(r.res.detail, "recovered") != NULL);
    CU_ASSERT_EQUAL(r.res.cancel_reason, -1);
    CU_ASSERT_EQUAL(r.d.cancel_calls, 0);
    CU_ASSERT_EQUAL(r.d.notif_calls, 1);
    CU_ASSERT_EQUAL(r.d.notif_tag, 0xBF37);
    CU_ASSERT_EQUAL(r.f.card->st.n_profiles, 1);
    CU_ASSERT_EQUAL(r.f.card->st.n_notifs, 0);
    teardown(&r);

    /* the same with a failed installation: its error PIR is the outcome */
    CU_ASSERT_FATAL(setup(&r, FF_TAMPER_BPP, NULL) == 0);
    r.sc.drop_pir = 1;
    go(&r);
    CU_ASSERT_RC(r.rc, LPA_ERR_EUICC);
    CU_ASSERT_EQUAL(r.sc.dropped, 1);
    CU_ASSERT_EQUAL(r.res.recovered, 1);
    CU_ASSERT_EQUAL(r.res.step, LPA_STEP_LOAD_BPP);
    CU_ASSERT_EQUAL(r.res.bpp_command_id, 5);
    CU_ASSERT_EQUAL(r.res.bpp_error_reason, 8);
    CU_ASSERT_EQUAL(r.d.cancel_calls, 0);
    CU_ASSERT_EQUAL(r.d.notif_calls, 1);
    CU_ASSERT_EQUAL(r.f.card->st.n_profiles, 0);
    CU_ASSERT_EQUAL(r.f.card->st.n_notifs, 0);
    teardown(&r);
}

/* The card is gone after the last segment: the load failure stands (the
 * card cannot sign a CancelSession, so the SM-DP+ gets none), the profile
 * is installed and its PIR queued; once the card is back,
 * lpa_process_notifications delivers it. */
static void test_lost_pir_card_gone(void)
{
    struct run r;
    CU_ASSERT_FATAL(setup(&r, FF_NONE, NULL) == 0);
    r.sc.drop_pir = 2;
    go(&r);
    if (r.rc != RSP_ERR_IO)
        show(&r);
    CU_ASSERT_RC(r.rc, RSP_ERR_IO);
    CU_ASSERT_EQUAL(r.res.step, LPA_STEP_LOAD_BPP);
    CU_ASSERT_EQUAL(r.res.recovered, 0);
    CU_ASSERT_EQUAL(r.res.cancel_reason, LPA_CANCEL_LOAD_BPP_EXECUTION_ERROR);
    CU_ASSERT_EQUAL(r.d.cancel_calls, 0);
    CU_ASSERT_EQUAL(r.d.notif_calls, 0);
    CU_ASSERT(strstr(r.res.detail, "segment") != NULL);
    CU_ASSERT_EQUAL(r.f.card->st.n_profiles, 1);
    CU_ASSERT_EQUAL(r.f.card->st.n_notifs, 1);
    r.sc.down = 0;   /* reconnected */
    deliver_pir(&r);
    teardown(&r);
}

static void test_bad_metadata(void)
{
    fail_case(FF_BAD_METADATA, NULL, RSP_ERR_DECODE, LPA_STEP_USER_CONSENT,
              LPA_CANCEL_METADATA_MISMATCH, NULL);
}

/* A BF36 that does not split: loadBppExecutionError. */
static void test_bpp_not_splittable(void)
{
    fail_case(FF_NOT_BPP, NULL, RSP_ERR_DECODE, LPA_STEP_LOAD_BPP,
              LPA_CANCEL_LOAD_BPP_EXECUTION_ERROR, NULL);
}

/* The card refuses a segment: the PIR with its error goes to the SM-DP+. */
static void test_pir_error(void)
{
    struct run r;
    run_with(&r, FF_TAMPER_BPP, NULL);
    expect_fail(&r, LPA_ERR_EUICC, LPA_STEP_LOAD_BPP, -1);
    CU_ASSERT_EQUAL(r.res.bpp_command_id, 5);
    CU_ASSERT_EQUAL(r.res.bpp_error_reason, 8);
    CU_ASSERT_EQUAL(r.d.notif_calls, 1);
    CU_ASSERT_EQUAL(r.d.notif_tag, 0xBF37);
    CU_ASSERT_EQUAL(r.f.card->st.n_notifs, 0);
    teardown(&r);
}

/* The card answers an error status word to PrepareDownload. */
static void test_card_sw(void)
{
    struct run r;
    CU_ASSERT_FATAL(setup(&r, FF_NONE, NULL) == 0);
    CU_ASSERT_RC(euicc_fault_set(r.f.card, "sw=6F00@BF21"), 0);
    go(&r);
    expect_fail(&r, LPA_ERR_SW, LPA_STEP_PREPARE_DOWNLOAD, LPA_CANCEL_UNDEFINED_REASON);
    CU_ASSERT_EQUAL(r.res.sw, 0x6F00);
    teardown(&r);
}

/* AuthenticateServer error: forwarded in authenticateClient, no cancel. */
static void test_auth_server_error(void)
{
    struct run r;
    run_with(&r, FF_WRONG_CHAL, NULL);
    expect_fail(&r, LPA_ERR_EUICC, LPA_STEP_AUTHENTICATE_SERVER, -1);
    CU_ASSERT_EQUAL(r.res.euicc_error, 6);    /* invalidChallenge? as the card says */
    CU_ASSERT_EQUAL(r.d.auth_error_seen, 1);
    teardown(&r);
}

static void test_confirmation_code(void)
{
    struct run r;
    CU_ASSERT_FATAL(setup(&r, FF_NONE, NULL) == 0);
    r.d.cc_required = 1;
    r.d.cc = "12345678";
    r.opt.confirmation_code = "12345678";
    go(&r);
    if (r.rc)
        show(&r);
    CU_ASSERT_RC(r.rc, 0);
    CU_ASSERT_EQUAL(r.d.hashcc_ok, 1);
    teardown(&r);
    CU_ASSERT_FATAL(setup(&r, FF_NONE, NULL) == 0);
    r.d.cc_required = 1;
    r.d.cc = "12345678";
    go(&r);
    expect_fail(&r, LPA_ERR_REJECTED, LPA_STEP_PREPARE_DOWNLOAD, LPA_CANCEL_POSTPONED);
    teardown(&r);
}

static void test_address_sources(void)
{
    struct run r;
    int result = -1;
    CU_ASSERT_FATAL(setup(&r, FF_NONE, NULL) == 0);
    r.opt.smdp_address = NULL;
    r.opt.activation_code = "LPA:2$x$y";
    go(&r);
    expect_fail(&r, RSP_ERR_DECODE, LPA_STEP_ACTIVATION_CODE, -1);
    CU_ASSERT_EQUAL(r.d.calls, 0);
    /* cc flag in the AC but no code given */
    r.opt.activation_code = "1$" RSP_PKI_DEFAULT_HOST "$MATCH-1$$1";
    go(&r);
    expect_fail(&r, RSP_ERR_INVAL, LPA_STEP_ACTIVATION_CODE, -1);
    /* neither: the eUICC's default SM-DP+ address, absent at first */
    r.opt.activation_code = NULL;
    r.opt.matching_id = NULL;
    go(&r);
    expect_fail(&r, RSP_ERR_NOTFOUND, LPA_STEP_ACTIVATION_CODE, -1);
    CU_ASSERT_RC(lpa_set_default_dp_address(&r.l, RSP_PKI_DEFAULT_HOST, &result), 0);
    CU_ASSERT_EQUAL(result, 0);
    go(&r);
    if (r.rc)
        show(&r);
    CU_ASSERT_RC(r.rc, 0);
    CU_ASSERT_EQUAL(r.f.card->st.n_profiles, 1);
    teardown(&r);
}

/* ---- libcurl driver: argument checks and a refused loopback connection ---- */

static void test_curl_driver(void)
{
    static const char *const resolve[] = {"smdp.example.test:1:127.0.0.1", NULL};
    struct lpa_http_curl_opts o = {.resolve = resolve, .connect_timeout_ms = 2000,
                                   .timeout_ms = 5000};
    struct lpa_http_curl *h = NULL;
    struct lpa_http_driver drv;
    const char *hdr[] = {LPA_ES9_ADMIN_PROTOCOL, NULL};
    char *resp = NULL, err[256];
    size_t rl = 0;
    long st = -1;

    CU_ASSERT_RC(lpa_http_curl_new(&o, &h, &drv), 0);
    CU_ASSERT_FATAL(h != NULL);
    CU_ASSERT_RC(drv.post(drv.ctx, "smdp.example.test/evil", "/x", hdr, "{}", 2, &st, &resp, &rl,
                          err, sizeof(err)), RSP_ERR_INVAL);
    CU_ASSERT_RC(drv.post(drv.ctx, "user@host", "/x", hdr, "{}", 2, &st, &resp, &rl,
                          err, sizeof(err)), RSP_ERR_INVAL);
    /* port 1 on loopback: nobody listens */
    CU_ASSERT_RC(drv.post(drv.ctx, "smdp.example.test:1", "/gsma/rsp2/es9plus/x", hdr, "{}", 2,
                          &st, &resp, &rl, err, sizeof(err)), RSP_ERR_IO);
    CU_ASSERT(err[0] != '\0');
    CU_ASSERT_EQUAL(st, 0);
    CU_ASSERT_PTR_NULL(resp);
    lpa_http_curl_free(h);
    struct lpa_http_curl_opts neg = {.timeout_ms = -1};
    CU_ASSERT_RC(lpa_http_curl_new(&neg, &h, &drv), RSP_ERR_INVAL);
}

CU_TestInfo lpa_rsp_tests[] = {
    {"download_ok", test_download_ok},
    {"download_ac_keep_notifications", test_download_ac_keep_notifications},
    {"notification_refused", test_notification_refused},
    {"failed_status", test_failed_status},
    {"failed_initiate", test_failed_initiate},
    {"http_500", test_http_500},
    {"bad_json", test_bad_json},
    {"missing_field", test_missing_field},
    {"bad_base64", test_bad_base64},
    {"oversize", test_oversize},
    {"unreachable", test_unreachable},
    {"consent", test_consent},
    {"ppr_card_rat", test_ppr_card_rat},
    {"ppr_not_allowed", test_ppr_not_allowed},
    {"ppr_consent_required", test_ppr_consent_required},
    {"operator_match", test_operator_match},
    {"lost_pir_recovered", test_lost_pir_recovered},
    {"lost_pir_card_gone", test_lost_pir_card_gone},
    {"bad_metadata", test_bad_metadata},
    {"bpp_not_splittable", test_bpp_not_splittable},
    {"pir_error", test_pir_error},
    {"card_sw", test_card_sw},
    {"auth_server_error", test_auth_server_error},
    {"confirmation_code", test_confirmation_code},
    {"address_sources", test_address_sources},
    {"curl_driver", test_curl_driver},
    CU_TEST_INFO_NULL,
};
