/*
 * smdp_http.c - the JSON binding of the SM-DP+ functions, independent of the
 * HTTP server (smdpd feeds it a struct smdp_req).
 *
 *   SGP.22 v2.5 §6.2 / §6.5.1: HTTP POST only, paths
 *   /gsma/rsp2/es9plus/<function> (ES9+, §6.5.2.1-6) and
 *   /gsma/rsp2/es2plus/<function> (ES2+, §6.5.2.x), header
 *   "X-Admin-Protocol: gsma/rsp/v<x.y.z>" (we serve v2.x.y), body
 *   "Content-Type: application/json" (charset UTF-8), the request header
 *   object {functionRequesterIdentifier, functionCallIdentifier} (§6.5.1.3,
 *   ES2+ only: the LPA sends none on ES9+) and the response header
 *   {functionExecutionStatus: {status, statusCodeData: {subjectCode,
 *   reasonCode, subjectIdentifier?, message?}}} (§6.5.1.4).
 *
 * Every answer of a failure carries a JSON body (never HTML), with the
 * status codes of §5.2.6 / the common codes of SGP.22 §6.5.1:
 *   1.1 / 1.1  function requester unknown (ES2+ call without an operator)
 *   1.6 / 2.1  invalid input (bad JSON, wrong types, bad X-Admin-Protocol)
 *   1.6 / 2.2  mandatory element missing
 *   1.2 / 4.2  function provider execution error
 * HTTP status: 200 for every function outcome (success or Failed), 204 for
 * a success without response body (handleNotification), 400 when the body
 * or X-Admin-Protocol cannot be understood, 401 for an ES2+ call without an
 * authenticated operator, 404 unknown path, 405 not POST, 413 body too
 * big, 415 wrong content type.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "rsp_buf.h"
#include "rsp_err.h"
#include "rsp_log.h"
#include "rsp_util.h"
#include "smdp.h"

#define LOG_DOM "smdp-http"
#define JSON_CT "application/json;charset=UTF-8"

static const char ES9_PREFIX[] = "/gsma/rsp2/es9plus/";
static const char ES2_PREFIX[] = "/gsma/rsp2/es2plus/";

int smdp_call_fail(struct smdp_call *c, const char *subject, const char *reason,
                   const char *message)
{
    if (c->failed)
        return -1;
    c->failed = 1;
    snprintf(c->subject_code, sizeof(c->subject_code), "%s", subject ? subject : "");
    snprintf(c->reason_code, sizeof(c->reason_code), "%s", reason ? reason : "");
    snprintf(c->message, sizeof(c->message), "%s", message ? message : "");
    return -1;
}

void smdp_resp_free(struct smdp_resp *r)
{
    if (!r)
        return;
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}

/* "gsma/rsp/v2.<digits>.<digits>" (§6.5.1: the SGP.22 version the caller
 * implements; every v2 minor is served). */
int smdp_admin_protocol_ok(const char *v)
{
    static const char pfx[] = "gsma/rsp/v2.";
    const char *p;
    int parts = 0;

    if (!v || strncmp(v, pfx, sizeof(pfx) - 1) != 0)
        return 0;
    p = v + sizeof(pfx) - 1;
    for (;;) {
        size_t n = 0;
        while (isdigit((unsigned char)p[n]) && n < 6)
            n++;
        if (n == 0 || isdigit((unsigned char)p[n]))
            return 0;
        p += n;
        parts++;
        if (*p == '\0')
            return parts == 2;
        if (*p != '.' || parts == 2)
            return 0;
        p++;
    }
}

/* "application/json" with optional parameters; a charset must be UTF-8. */
int smdp_content_type_ok(const char *ct)
{
    static const char type[] = "application/json";
    const char *p;

    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, type, sizeof(type) - 1) != 0)
        return 0;
    p = ct + sizeof(type) - 1;
    while (*p == ' ')
        p++;
    while (*p == ';') {
        const char *name, *val;
        size_t nlen, vlen;
        p++;
        while (*p == ' ')
            p++;
        name = p;
        while (*p && *p != '=' && *p != ';')
            p++;
        nlen = (size_t)(p - name);
        while (nlen && name[nlen - 1] == ' ')
            nlen--;
        if (*p != '=')
            return 0;
        p++;
        while (*p == ' ')
            p++;
        val = p;
        while (*p && *p != ';')
            p++;
        vlen = (size_t)(p - val);
        while (vlen && val[vlen - 1] == ' ')
            vlen--;
        if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
            val++;
            vlen -= 2;
        }
        if (nlen == 7 && strncasecmp(name, "charset", 7) == 0 &&
            !((vlen == 5 && strncasecmp(val, "utf-8", 5) == 0) ||
              (vlen == 4 && strncasecmp(val, "utf8", 4) == 0)))
            return 0;
    }
    return *p == '\0';
}

/* Nesting depth of a JSON text, scanned before parsing (strings skipped,
 * escapes honoured); stops counting past max. */
static int json_depth_over(const uint8_t *b, size_t len, int max)
{
    int depth = 0, in_str = 0;

    for (size_t i = 0; i < len; i++) {
        uint8_t ch = b[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = 0;
            continue;
        }
        if (ch == '"')
            in_str = 1;
        else if (ch == '{' || ch == '[') {
            if (++depth > max)
                return 1;
        } else if (ch == '}' || ch == ']')
            depth--;
    }
    return 0;
}

/* Build the answer: {"header":{"functionExecutionStatus":{...}}, fields}. */
/* The response body, grown by json_dump_callback: one pass over the JSON
 * (json_dumpb twice - size, then copy - escaped a 27 KB BPP twice). */
struct body_out {
    char *p;
    size_t len, cap;
    const char *ph;                /* the call's raw placeholder string, or NULL */
    size_t ph_len;
    const char *raw;               /* what replaces it */
    size_t raw_len;
};

#define BODY_OUT_MAX (8u * 1024u * 1024u)

static int body_put(const char *buf, size_t n, void *arg)
{
    struct body_out *b = arg;
    /* jansson hands a string without escapes over as one piece, from the
     * value's own storage: the placeholder is known by its address */
    if (b->ph && buf == b->ph && n == b->ph_len) {
        buf = b->raw;
        n = b->raw_len;
        b->ph = NULL;
    }
    if (n > BODY_OUT_MAX - b->len)
        return -1;
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 1024;
        while (ncap < b->len + n)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np)
            return -1;
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, buf, n);
    b->len += n;
    return 0;
}

static void resp_json(struct smdp_resp *resp, int status, const struct smdp_call *c,
                      json_t *fields)
{
    json_t *root = json_object();
    json_t *fes = json_object(), *hdr = json_object();

    resp->status = status;
    resp->content_type = JSON_CT;
    if (!root || !fes || !hdr)
        goto oom;
    if (c && c->failed) {
        json_t *scd = json_object();
        if (!scd)
            goto oom;
        json_object_set_new(fes, "status", json_string(c->status ? c->status : "Failed"));
        json_object_set_new(scd, "subjectCode", json_string(c->subject_code));
        json_object_set_new(scd, "reasonCode", json_string(c->reason_code));
        if (c->subject_id[0])
            json_object_set_new(scd, "subjectIdentifier", json_string(c->subject_id));
        if (c->message[0])
            json_object_set_new(scd, "message", json_string(c->message));
        json_object_set_new(fes, "statusCodeData", scd);
    } else {
        json_object_set_new(fes, "status", json_string("Executed-Success"));
    }
    json_object_set_new(hdr, "functionExecutionStatus", fes);
    fes = NULL;
    json_object_set_new(root, "header", hdr);   /* first, then the function's fields */
    hdr = NULL;
    if (fields) {
        json_object_del(fields, "header");
        json_object_update(root, fields);
        json_decref(fields);
        fields = NULL;
    }
    {
        struct body_out b = {NULL, 0, 0, NULL, 0, NULL, 0};
        if (c && !c->failed && c->raw_val && c->raw) {
            b.ph = json_string_value(c->raw_val);
            b.ph_len = json_string_length(c->raw_val);
            b.raw = c->raw;
            b.raw_len = c->raw_len;
            b.cap = c->raw_len + 1024;
            if (!(b.p = malloc(b.cap)))
                goto oom;
        }
        /* a placeholder left in the body would be a wrong answer */
        if (json_dump_callback(root, body_put, &b, JSON_COMPACT) || !b.len || b.ph) {
            free(b.p);
            goto oom;
        }
        resp->body = b.p;
        resp->body_len = b.len;
    }
    json_decref(root);
    return;
oom:
    json_decref(fields);
    json_decref(fes);
    json_decref(hdr);
    json_decref(root);
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    resp->status = 500;
    resp->content_type = NULL;
}

static void resp_fail(struct smdp_resp *resp, int status, const char *subject,
                      const char *reason, const char *message)
{
    struct smdp_call c;
    memset(&c, 0, sizeof(c));
    smdp_call_fail(&c, subject, reason, message);
    resp_json(resp, status, &c, NULL);
}

/* §6.5.1.3: ES2+ requests carry header {functionRequesterIdentifier,
 * functionCallIdentifier}. ES9+ requests carry none; one present must be an
 * object. The header is removed before the function sees the body. */
static int check_header(json_t *body, int es2, const char **why, int *missing)
{
    json_t *h = json_object_get(body, "header");

    *missing = 0;
    if (!h) {
        if (!es2)
            return 0;
        *missing = 1;
        *why = "header";
        return -1;
    }
    if (!json_is_object(h)) {
        *why = "header";
        return -1;
    }
    if (es2) {
        json_t *fri = json_object_get(h, "functionRequesterIdentifier");
        json_t *fci = json_object_get(h, "functionCallIdentifier");
        if (!fri || !fci) {
            *missing = 1;
            *why = !fri ? "header.functionRequesterIdentifier"
                        : "header.functionCallIdentifier";
            return -1;
        }
        if (!json_is_string(fri) || !json_is_string(fci) ||
            json_string_length(fri) > 128 || json_string_length(fci) > 128) {
            *why = "header";
            return -1;
        }
    }
    json_object_del(body, "header");
    return 0;
}

int smdp_call_set_b64_raw(struct smdp_call *c, json_t *o, const char *name, const uint8_t *p,
                          size_t n)
{
    struct rsp_buf b;
    json_t *ph;

    rsp_buf_init(&b, 4 * (n / 3) + 8);
    if (rsp_base64_encode(p, n, &b) != RSP_OK) {
        rsp_buf_free(&b);
        return RSP_ERR_NOMEM;
    }
    if (!c->raw_ok || c->raw || !b.len) {
        /* not the first large field (or empty): an ordinary string */
        int rc = json_object_set_new(o, name, b.len ? json_stringn_nocheck((const char *)b.data,
                                                                           b.len)
                                                    : json_string(""))
                     ? RSP_ERR_NOMEM : RSP_OK;
        rsp_buf_free(&b);
        return rc;
    }
    if (!(ph = json_string("base64")) || json_object_set_new(o, name, ph)) {
        rsp_buf_free(&b);
        return RSP_ERR_NOMEM;
    }
    c->raw_val = ph;               /* borrowed: o holds it */
    c->raw = (char *)rsp_buf_steal(&b, &c->raw_len);
    return RSP_OK;
}

void smdp_handle(struct smdp *s, struct smdp_store *st, const struct smdp_req *req,
                 struct smdp_resp *resp)
{
    const char *fname;
    int es2;
    smdp_fn fn = NULL;
    json_t *body = NULL, *out = NULL;
    json_error_t jerr;
    struct smdp_call call;
    const char *why;
    int missing;

    memset(resp, 0, sizeof(*resp));
    if (!req || !req->path || !req->method) {
        resp_fail(resp, 400, "1.6", "2.1", "malformed request");
        return;
    }
    /* route first: an unknown path is 404 whatever the method */
    if (strncmp(req->path, ES9_PREFIX, sizeof(ES9_PREFIX) - 1) == 0) {
        es2 = 0;
        fname = req->path + sizeof(ES9_PREFIX) - 1;
        if (req->iface & SMDP_IFACE_ES9)
            fn = smdp_es9_lookup(fname);
    } else if (strncmp(req->path, ES2_PREFIX, sizeof(ES2_PREFIX) - 1) == 0) {
        es2 = 1;
        fname = req->path + sizeof(ES2_PREFIX) - 1;
        if (req->iface & SMDP_IFACE_ES2)
            fn = smdp_es2_lookup(fname);
    } else {
        fname = NULL;
        es2 = 0;
    }
    if (!fn) {
        resp_fail(resp, 404, "1.6", "2.1", "unknown function");
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        resp_fail(resp, 405, "1.6", "2.1", "method not allowed: use POST");
        return;
    }
    if (!smdp_admin_protocol_ok(req->admin_protocol)) {
        resp_fail(resp, 400, "1.6", "2.1", "X-Admin-Protocol: unsupported version");
        return;
    }
    if (!smdp_content_type_ok(req->content_type)) {
        resp_fail(resp, 415, "1.6", "2.1", "Content-Type must be application/json");
        return;
    }
    if (req->body_len > SMDP_BODY_MAX) {
        resp_fail(resp, 413, "1.6", "2.1", "request body too large");
        return;
    }
    if (es2 && !req->operator_id) {
        resp_fail(resp, 401, "1.1", "1.1", "unknown function requester");
        return;
    }
    if (!req->body || req->body_len == 0) {
        resp_fail(resp, 400, "1.6", "2.1", "empty body");
        return;
    }
    if (json_depth_over(req->body, req->body_len, SMDP_JSON_DEPTH_MAX)) {
        resp_fail(resp, 400, "1.6", "2.1", "JSON nested too deeply");
        return;
    }
    body = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        RSP_LOG(RSP_LOG_INFO, LOG_DOM, "%s: bad JSON: %s", req->path, jerr.text);
        resp_fail(resp, 400, "1.6", "2.1", "malformed JSON");
        return;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        resp_fail(resp, 400, "1.6", "2.1", "JSON body must be an object");
        return;
    }
    if (check_header(body, es2, &why, &missing)) {
        json_decref(body);
        resp_fail(resp, 200, "1.6", missing ? "2.2" : "2.1", why);
        return;
    }

    memset(&call, 0, sizeof(call));
    call.s = s;
    call.st = st;
    call.req = req;
    call.now = req->now ? req->now : (int64_t)time(NULL);
    call.raw_ok = 1;               /* resp_json writes c->raw into the body */
    if (fn(&call, body, &out) != 0 || call.failed) {
        if (!call.failed)
            smdp_call_fail(&call, "1.2", "4.2", NULL);
        json_decref(out);
        out = NULL;
        RSP_LOG(RSP_LOG_INFO, LOG_DOM, "%s%s: Failed %s/%s %s", es2 ? "es2+." : "es9+.",
                fname, call.subject_code, call.reason_code, call.message);
        resp_json(resp, 200, &call, NULL);
    } else if (!out) {
        resp->status = 204;
    } else if (!json_is_object(out)) {
        json_decref(out);
        smdp_call_fail(&call, "1.2", "4.2", NULL);
        resp_json(resp, 200, &call, NULL);
    } else {
        resp_json(resp, 200, &call, out);   /* takes out */
    }
    free(call.raw);
    json_decref(body);
}
