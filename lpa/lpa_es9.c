/* lpa_es9.c - the ES9+ client (SGP.22 v2.5 §5.6) in the JSON binding of
 * §6.5: §6.5.1 the HTTP request (POST, User-Agent, X-Admin-Protocol,
 * Content-Type) and the response header (functionExecutionStatus with
 * statusCodeData), §6.5.2.6-§6.5.2.10 the five ES9+ functions. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lpa_es9.h"
#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_log.h"
#include "rsp_util.h"

#define ES9_PATH "/gsma/rsp2/es9plus/"
/* Any one binary field but the BPP: certificates, signed blobs. */
#define FIELD_MAX (64u * 1024u)

static const char *const es9_headers[] = {
    LPA_ES9_USER_AGENT,
    LPA_ES9_ADMIN_PROTOCOL,
    LPA_ES9_CONTENT_TYPE,
    NULL,
};

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static void es9_detail(struct lpa_es9 *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void es9_detail(struct lpa_es9 *c, const char *fmt, ...)
{
    va_list ap;
    if (!c->res)
        return;
    va_start(ap, fmt);
    vsnprintf(c->res->detail, sizeof(c->res->detail), fmt, ap);
    va_end(ap);
}

/* JSON string of base64(p[0..len)); NULL on allocation failure. */
static json_t *b64_json(const uint8_t *p, size_t len)
{
    struct rsp_buf b;
    json_t *j = NULL;

    rsp_buf_init(&b, len / 3 * 4 + 8);
    if (rsp_base64_encode(p, len, &b) == RSP_OK && rsp_buf_append_byte(&b, 0) == RSP_OK)
        j = json_string((const char *)b.data);
    rsp_buf_free(&b);
    return j;
}

static json_t *hex_json(const uint8_t *p, size_t len)
{
    char h[2 * 16 + 1];
    if (len > 16)
        return NULL;
    rsp_hex_encode(p, len, h);
    return json_string(h);
}

/* Copy statusCodeData (§6.5.1.4) into the result. */
static void take_status(struct lpa_es9 *c, const char *fn, const char *status, json_t *fes)
{
    json_t *scd = json_object_get(fes, "statusCodeData");
    const char *subj = json_string_value(json_object_get(scd, "subjectCode"));
    const char *reas = json_string_value(json_object_get(scd, "reasonCode"));
    const char *msg = json_string_value(json_object_get(scd, "message"));

    if (c->res) {
        copy_str(c->res->status, sizeof(c->res->status), status);
        copy_str(c->res->subject_code, sizeof(c->res->subject_code), subj);
        copy_str(c->res->reason_code, sizeof(c->res->reason_code), reas);
        copy_str(c->res->message, sizeof(c->res->message), msg);
    }
    es9_detail(c, "%s: SM-DP+ answered %s, subjectCode %s reasonCode %s%s%s", fn, status,
               subj ? subj : "-", reas ? reas : "-", msg ? ": " : "", msg ? msg : "");
}

/*
 * POST req (consumed) to function at address; *out gets the response object
 * (NULL when want_204 and the answer was 204).
 */
static int es9_call(struct lpa_es9 *c, const char *address, const char *fn, json_t *req,
                    int want_204, json_t **out)
{
    char path[64], err[256] = "";
    char *body = NULL, *resp = NULL;
    size_t resp_len = 0;
    long status = 0;
    json_t *j = NULL;
    json_error_t jerr;
    int rc;

    *out = NULL;
    if (c->res)
        c->res->http_status = 0;
    if (!req) {
        json_decref(req);
        return RSP_ERR_NOMEM;
    }
    if (!c->http || !c->http->post || !address || !*address) {
        json_decref(req);
        return RSP_ERR_INVAL;
    }
    body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body)
        return RSP_ERR_NOMEM;
    snprintf(path, sizeof(path), ES9_PATH "%s", fn);
    RSP_LOG(RSP_LOG_DEBUG, "lpa", "ES9+ %s -> https://%s%s", fn, address, path);
    rc = c->http->post(c->http->ctx, address, path, es9_headers, body, strlen(body),
                       &status, &resp, &resp_len, err, sizeof(err));
    free(body);
    if (rc < 0) {
        es9_detail(c, "%s: HTTPS to %s failed: %s", fn, address, err[0] ? err : rsp_strerror(rc));
        rc = rc == RSP_ERR_NOMEM ? rc : RSP_ERR_IO;
        goto out;
    }
    if (c->res)
        c->res->http_status = status;
    if (resp_len > LPA_ES9_RESP_MAX) {
        es9_detail(c, "%s: response of %zu bytes over the %u limit", fn, resp_len,
                   LPA_ES9_RESP_MAX);
        rc = RSP_ERR_TOOBIG;
        goto out;
    }
    if (want_204 && status == 204) {
        rc = RSP_OK;
        goto out;
    }
    if (status != 200) {
        es9_detail(c, "%s: HTTP status %ld", fn, status);
        rc = LPA_ERR_ES9;
        goto out;
    }
    if (!resp || !resp_len) {
        es9_detail(c, "%s: empty response body", fn);
        rc = RSP_ERR_DECODE;
        goto out;
    }
    j = json_loadb(resp, resp_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j || !json_is_object(j)) {
        es9_detail(c, "%s: malformed JSON response%s%s", fn, j ? "" : ": ", j ? "" : jerr.text);
        rc = RSP_ERR_DECODE;
        goto out;
    }
    json_t *fes = json_object_get(json_object_get(j, "header"), "functionExecutionStatus");
    const char *st = json_string_value(json_object_get(fes, "status"));
    if (!st) {
        es9_detail(c, "%s: response without header.functionExecutionStatus.status", fn);
        rc = RSP_ERR_DECODE;
        goto out;
    }
    if (strcmp(st, "Executed-Success") && strcmp(st, "Executed-WithWarning")) {
        take_status(c, fn, st, fes);
        rc = LPA_ERR_ES9;
        goto out;
    }
    if (!strcmp(st, "Executed-WithWarning"))
        RSP_LOG(RSP_LOG_WARN, "lpa", "ES9+ %s: Executed-WithWarning", fn);
    *out = j;
    j = NULL;
    rc = RSP_OK;
out:
    json_decref(j);
    free(resp);
    return rc;
}

/* A base64 field holding one DER TLV (tag 0: any) into out. */
static int get_tlv(struct lpa_es9 *c, const char *fn, json_t *o, const char *key,
                   uint32_t tag, size_t max, struct rsp_buf *out)
{
    const char *s = json_string_value(json_object_get(o, key));
    struct rsp_tlv t;

    rsp_buf_init(out, max);
    if (!s) {
        es9_detail(c, "%s: field %s missing or not a string", fn, key);
        return RSP_ERR_DECODE;
    }
    if (rsp_base64_decode(s, strlen(s), out) < 0 || !out->len) {
        rsp_buf_free(out);
        es9_detail(c, "%s: field %s is not valid base64", fn, key);
        return RSP_ERR_DECODE;
    }
    if (rsp_tlv_parse(out->data, out->len, &t) < 0 || t.tlv_len != out->len ||
        (tag && t.tag != tag)) {
        rsp_buf_free(out);
        es9_detail(c, "%s: field %s is not one DER value of tag %X", fn, key, (unsigned)tag);
        return RSP_ERR_DECODE;
    }
    return RSP_OK;
}

/* transactionId (hex, 1..16 bytes) of a response; checked against want
 * if given. */
static int get_tid(struct lpa_es9 *c, const char *fn, json_t *o, const uint8_t *want,
                   size_t want_len, uint8_t tid[16], size_t *tid_len)
{
    const char *s = json_string_value(json_object_get(o, "transactionId"));
    size_t n = s ? strlen(s) : 0;
    int m;

    if (!s || n < 2 || n > 32 || n % 2 || (m = rsp_hex_decode(s, n, tid, 16)) <= 0) {
        es9_detail(c, "%s: transactionId missing or not 1..16 bytes of hex", fn);
        return RSP_ERR_DECODE;
    }
    *tid_len = (size_t)m;
    if (want && (want_len != *tid_len || memcmp(want, tid, want_len))) {
        es9_detail(c, "%s: transactionId %s is not the session's", fn, s);
        return RSP_ERR_DECODE;
    }
    return RSP_OK;
}

void lpa_es9_auth_free(struct lpa_es9_auth *a)
{
    if (!a)
        return;
    rsp_buf_free(&a->server_signed1);
    rsp_buf_free(&a->server_sig1);
    rsp_buf_free(&a->ci_pkid);
    rsp_buf_free(&a->server_cert);
}

int lpa_es9_initiate_authentication(struct lpa_es9 *c, const uint8_t challenge[16],
                                    const uint8_t *info1, size_t info1_len,
                                    const char *smdp_address, struct lpa_es9_auth *out)
{
    static const char fn[] = "initiateAuthentication";
    json_t *req, *resp = NULL;
    int rc;

    if (!c || !challenge || !info1 || !smdp_address || !out)
        return RSP_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    req = json_pack("{s:o, s:o, s:s}", "euiccChallenge", b64_json(challenge, 16),
                    "euiccInfo1", b64_json(info1, info1_len), "smdpAddress", smdp_address);
    rc = es9_call(c, c->address, fn, req, 0, &resp);
    if (rc < 0)
        return rc;
    rc = get_tid(c, fn, resp, NULL, 0, out->tid, &out->tid_len);
    if (rc == RSP_OK)
        rc = get_tlv(c, fn, resp, "serverSigned1", 0x30, FIELD_MAX, &out->server_signed1);
    if (rc == RSP_OK)
        rc = get_tlv(c, fn, resp, "serverSignature1", 0x5F37, FIELD_MAX, &out->server_sig1);
    if (rc == RSP_OK)
        rc = get_tlv(c, fn, resp, "euiccCiPKIdToBeUsed", 0x04, FIELD_MAX, &out->ci_pkid);
    if (rc == RSP_OK)
        rc = get_tlv(c, fn, resp, "serverCertificate", 0x30, FIELD_MAX, &out->server_cert);
    if (rc == RSP_OK) {
        /* serverSigned1 must name this transaction (§5.6.1 / §3.1.2 step 10):
         * the LPA uses the JSON transactionId for every later call. */
        struct rsp_tlv t, id;
        if (rsp_tlv_parse(out->server_signed1.data, out->server_signed1.len, &t) < 0 ||
            rsp_tlv_find(t.val, t.val_len, 0x80, &id) < 0 || id.val_len != out->tid_len ||
            memcmp(id.val, out->tid, out->tid_len)) {
            es9_detail(c, "%s: serverSigned1 transactionId differs from the JSON one", fn);
            rc = RSP_ERR_DECODE;
        }
    }
    if (rc < 0)
        lpa_es9_auth_free(out);
    json_decref(resp);
    return rc;
}

void lpa_es9_client_free(struct lpa_es9_client *cl)
{
    if (!cl)
        return;
    rsp_buf_free(&cl->metadata);
    rsp_buf_free(&cl->smdp_signed2);
    rsp_buf_free(&cl->smdp_sig2);
    rsp_buf_free(&cl->smdp_cert);
}

int lpa_es9_authenticate_client(struct lpa_es9 *c, const uint8_t *tid, size_t tid_len,
                                const uint8_t *auth_resp, size_t auth_resp_len,
                                struct lpa_es9_client *out)
{
    static const char fn[] = "authenticateClient";
    uint8_t t2[16];
    size_t t2_len;
    json_t *req, *resp = NULL;
    int rc;

    if (!c || !tid || !auth_resp || !out)
        return RSP_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    req = json_pack("{s:o, s:o}", "transactionId", hex_json(tid, tid_len),
                    "authenticateServerResponse", b64_json(auth_resp, auth_resp_len));
    rc = es9_call(c, c->address, fn, req, 0, &resp);
    if (rc < 0)
        return rc;
    rc = get_tid(c, fn, resp, tid, tid_len, t2, &t2_len);
    if (rc == RSP_OK)
        rc = get_tlv(c, fn, resp, "profileMetadata", 0xBF25, FIELD_MAX, &out->metadata);
    if (rc == RSP_OK)
        rc = get_tlv(c, fn, resp, "smdpSigned2", 0x30, FIELD_MAX, &out->smdp_signed2);
    if (rc == RSP_OK)
        rc = get_tlv(c, fn, resp, "smdpSignature2", 0x5F37, FIELD_MAX, &out->smdp_sig2);
    if (rc == RSP_OK)
        rc = get_tlv(c, fn, resp, "smdpCertificate", 0x30, FIELD_MAX, &out->smdp_cert);
    if (rc < 0)
        lpa_es9_client_free(out);
    json_decref(resp);
    return rc;
}

int lpa_es9_get_bpp(struct lpa_es9 *c, const uint8_t *tid, size_t tid_len,
                    const uint8_t *prep_resp, size_t prep_resp_len, struct rsp_buf *bpp)
{
    static const char fn[] = "getBoundProfilePackage";
    uint8_t t2[16];
    size_t t2_len;
    json_t *req, *resp = NULL;
    int rc;

    if (!c || !tid || !prep_resp || !bpp)
        return RSP_ERR_INVAL;
    rsp_buf_init(bpp, 0);
    req = json_pack("{s:o, s:o}", "transactionId", hex_json(tid, tid_len),
                    "prepareDownloadResponse", b64_json(prep_resp, prep_resp_len));
    rc = es9_call(c, c->address, fn, req, 0, &resp);
    if (rc < 0)
        return rc;
    rc = get_tid(c, fn, resp, tid, tid_len, t2, &t2_len);
    if (rc == RSP_OK)
        rc = get_tlv(c, fn, resp, "boundProfilePackage", 0xBF36, LPA_ES9_RESP_MAX, bpp);
    json_decref(resp);
    return rc;
}

int lpa_es9_handle_notification(struct lpa_es9 *c, const char *address,
                                const uint8_t *pending, size_t pending_len)
{
    json_t *req, *resp = NULL;
    int rc;

    if (!c || !pending || !pending_len)
        return RSP_ERR_INVAL;
    req = json_pack("{s:o}", "pendingNotification", b64_json(pending, pending_len));
    rc = es9_call(c, address ? address : c->address, "handleNotification", req, 1, &resp);
    json_decref(resp);   /* a 200 with a success header is accepted too */
    return rc;
}

int lpa_es9_cancel_session(struct lpa_es9 *c, const uint8_t *tid, size_t tid_len,
                           const uint8_t *cancel_resp, size_t cancel_resp_len)
{
    json_t *req, *resp = NULL;
    int rc;

    if (!c || !tid || !cancel_resp)
        return RSP_ERR_INVAL;
    req = json_pack("{s:o, s:o}", "transactionId", hex_json(tid, tid_len),
                    "cancelSessionResponse", b64_json(cancel_resp, cancel_resp_len));
    rc = es9_call(c, c->address, "cancelSession", req, 0, &resp);
    json_decref(resp);
    return rc;
}
