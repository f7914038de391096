/*
 * smdp_es9.c - the ES9+ functions of the SM-DP+ (SGP.22 v2.5 §5.6; JSON
 * binding §6.5.2): InitiateAuthentication (§5.6.1), GetBoundProfilePackage
 * (§5.6.2), AuthenticateClient (§5.6.3), HandleNotification (§5.6.4),
 * CancelSession (§5.6.5), following the procedures of §3.1.2 (common
 * mutual authentication) and §3.1.3 (download, retries).
 *
 * JSON fields: binary values are base64 (RFC 4648) of the DER of the
 * ASN.1 type named in §6.5.2; serverSignature1/smdpSignature2 are the whole
 * [APPLICATION 55] TLV (5F37 40 r||s), euiccCiPKIdToBeUsed the DER of the
 * SubjectKeyIdentifier (04 14 ..); transactionId is upper-case hex.
 * Signatures are always verified over the bytes received, never over a
 * re-encoding.
 *
 * Status codes returned (subjectCode / reasonCode, §5.6.x "error codes";
 * the texts are those of the SGP.22 tables as listed by lpac es9p_errors.c;
 * [T] = a test in tests/test_smdp_es9.c exercises it):
 *   any     1.6 / 2.2    mandatory element missing (JSON field)  [T] §6.5.1
 *   any     1.6 / 2.1    invalid element (bad base64/DER/length) [T] §6.5.1
 *   any     1.2 / 4.2    execution error (store/crypto failure,
 *                        malformed stored notif_config)          [T] §6.5.1
 *   5.6.1   1.2 / 4.4    busy: session table full (**)            [T]
 *   5.6.1   8.8.1 / 3.8  invalid SM-DP+ Address                   [T]
 *   5.6.1   8.8.2 / 3.1  none of the eUICC's signing CI PKIDs trusted [T]
 *   5.6.1   8.8.3 / 3.1  specification version (svn) not supported
 *   5.6.1   8.8.4 / 3.7  no CERT.DPauth under a CI the eUICC verifies
 *   5.6.3   8.10.1/ 3.9  transactionId unknown (or session expired) [T]
 *   5.6.3   8.11.1/ 3.9  EUM under an untrusted CI, or chain not under
 *                        euiccCiPKIdToBeUsed                      [T]
 *   5.6.3   8.1.2 / 6.1  EUM certificate invalid;  8.1.2 / 6.3 expired [T]
 *   5.6.3   8.1.3 / 6.1  eUICC certificate invalid (also EID outside the
 *                        EUM range) [T]; 8.1.3 / 6.3 expired      [T]
 *   5.6.3   8.1 / 6.1    euiccSignature1 invalid [T], serverChallenge
 *                        wrong [T], AuthenticateServer answered an error
 *   5.6.3   8.8.1 / 3.8  serverAddress signed by the eUICC is not ours (*)
 *   5.6.3   8.2.6 / 3.8  matchingId refused (unknown, order not ACTIVE,
 *                        profile already installed, no order for the EID) [T]
 *   5.6.3   8.1.1 / 3.8  EID does not match the EID-bound order   [T]
 *   5.6.3   8.2 / 1.2    profile not released yet                 [T]
 *   5.6.2/3 8.8.5 / 4.1  download order expired: the order goes EXPIRED
 *                        and its profile Error in that refusal (one
 *                        transaction), progress reported           [T]
 *   5.6.2/3 8.8.5 / 6.4  download attempts exhausted
 *   5.6.2   8.10.1/ 3.9  transactionId unknown / not the signed one
 *   5.6.2   8.1 / 6.1    euiccSignature2 invalid, PrepareDownload error [T]
 *   5.6.2   8.2.7 / 2.2  confirmation code missing: the RSP session
 *                        ends, the order stays ACTIVE / Released, no
 *                        attempt counted                          [T]
 *   5.6.2   8.2.7 / 3.8  confirmation code refused: the RSP session
 *                        ends, the order stays ACTIVE / Released for a
 *                        new session (the LPA's CancelSession that
 *                        follows gets 8.10.1/3.9)                  [T]
 *   5.6.2   8.2.7 / 6.4  confirmation code attempts exhausted: order
 *                        FAILED, profile Error                     [T]
 *   5.6.2   8.2 / 3.7    BPP not available for a new binding (retry with
 *                        another otPK.EUICC.ECKA, no PPK, §3.1.3); the same
 *                        otPK is accepted and re-bound            [T]
 *   5.6.5   8.10.1/ 3.9  transactionId unknown / not the signed one [T]
 *   5.6.5   8.1 / 6.1    euiccCancelSessionSignature invalid
 *   5.6.5   8.8 / 3.10   smdpOid is not ours (*)
 *   5.6.5   success      before AuthenticateClient: no PK.EUICC.SIG yet,
 *                        nothing bound; the session ends          [T]
 *   5.6.4   none: HandleNotification always answers 204; a notification
 *           that does not verify is dropped (logged) [T]; a PIR is verified
 *           with the session's key or, the session gone, the key stored
 *           with the BPP binding [T]; a repeated PIR changes nothing [T].
 * A rejected AuthenticateClient leaves its session as it was (INITIATED).
 * Default notificationAddress: our FQDN with the ":port" of the SM-DP+
 * address the LPA used in InitiateAuthentication, if any [T].
 * (*) not confirmed against the spec text: see spec-notes/es9plus.md.
 * (**) one source only (a vendor's copy of the GSMA code table); SGP.22's
 *      own table was not available.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <AuthenticateResponseOk.h>
#include <AuthenticateServerResponse.h>
#include <CancelSessionResponseOk.h>
#include <CtxParamsForCommonAuthentication.h>
#include <CancelSessionResponse.h>
#include <EUICCInfo1.h>
#include <PendingNotification.h>
#include <OtherSignedNotification.h>
#include <PrepareDownloadResponse.h>
#include <PrepareDownloadResponseOk.h>
#include <ProfileInstallationResult.h>

#include "rsp_asn1.h"
#include "rsp_bpp.h"
#include "rsp_err.h"
#include "rsp_log.h"
#include "rsp_util.h"
#include "rsp_x509.h"
#include "smdp.h"
#include "smdp_ac.h"
#include "smdp_session.h"

#define LOGD "smdp"
#define B64_MAX (64u * 1024u)       /* largest decoded binary field */

/* ---- helpers ------------------------------------------------------------- */

/* A mandatory string field, or a failure recorded. */
static const char *field_str(struct smdp_call *c, json_t *req, const char *name)
{
    json_t *v = json_object_get(req, name);
    if (!v) {
        smdp_call_fail(c, "1.6", "2.2", name);
        return NULL;
    }
    if (!json_is_string(v)) {
        smdp_call_fail(c, "1.6", "2.1", name);
        return NULL;
    }
    return json_string_value(v);
}

/* A mandatory base64 field decoded into out (initialised here). */
static int field_b64(struct smdp_call *c, json_t *req, const char *name, struct rsp_buf *out)
{
    const char *s = field_str(c, req, name);
    rsp_buf_init(out, B64_MAX);
    if (!s)
        return -1;
    if (rsp_base64_decode(s, strlen(s), out) || !out->len) {
        rsp_buf_free(out);
        return smdp_call_fail(c, "1.6", "2.1", name);
    }
    return 0;
}

static int set_b64(json_t *o, const char *name, const uint8_t *p, size_t n)
{
    struct rsp_buf b;
    int rc;
    rsp_buf_init(&b, 4 * (n / 3) + 8);
    if ((rc = rsp_base64_encode(p, n, &b)))
        return rc;
    /* base64 is ASCII: no UTF-8 check over a 36 KB BPP */
    rc = json_object_set_new(o, name, b.len ? json_stringn_nocheck((const char *)b.data, b.len)
                                            : json_string(""))
             ? RSP_ERR_NOMEM : 0;
    rsp_buf_free(&b);
    return rc;
}

static int internal(struct smdp_call *c, const char *what, int rc)
{
    RSP_LOG(RSP_LOG_ERROR, LOGD, "%s: %s", what, smdp_strerror(rc));
    return smdp_call_fail(c, "1.2", "4.2", what);
}

static int octets_eq(const OCTET_STRING_t *os, const uint8_t *p, size_t n)
{
    return os->size >= 0 && (size_t)os->size == n && !CRYPTO_memcmp(os->buf, p, n);
}

/* DER field `name` of the request decoded as td (at most max bytes), or
 * -1 with the failure recorded (1.6 / 2.1, §6.5.1). */
static int decode_field(struct smdp_call *c, const asn_TYPE_descriptor_t *td,
                        const struct rsp_buf *der, size_t max, const char *name, void **out)
{
    if (rsp_asn1_decode(td, der->data, der->len, max, out))
        return smdp_call_fail(c, "1.6", "2.1", name);
    return 0;
}

static int fail_sess_unknown(struct smdp_call *c)
{
    return smdp_call_fail(c, "8.10.1", "3.9",
                          "The RSP session identified by the TransactionID is unknown");
}

/* The request's transactionId and its base64 field `name` (into raw,
 * initialised here), and the session that transactionId names taken from the
 * table. 0, or -1 with the failure recorded; *ss stays NULL on failure. */
static int take_session(struct smdp_call *c, json_t *req, const char *name,
                        struct rsp_buf *raw, struct smdp_sess **ss)
{
    const char *tid_hex = field_str(c, req, "transactionId");
    if (!tid_hex || field_b64(c, req, name, raw))
        return -1;
    if (smdp_sess_take(c->s, tid_hex, c->now, ss))
        return fail_sess_unknown(c);
    return 0;
}

/* A "...ResponseOk" [tag] { signed SEQUENCE, 5F37 signature, ... } as the
 * eUICC sent it: the signed TLV, its signature, and in *a / *pos the
 * constructed value and the offset after the two (for further members). */
static int split_signed(const struct rsp_buf *raw, struct rsp_tlv *a, size_t *pos,
                        struct rsp_tlv *sgd, struct rsp_tlv *sig)
{
    struct rsp_tlv t;
    if (rsp_tlv_parse(raw->data, raw->len, &t) || rsp_tlv_parse(t.val, t.val_len, a) ||
        rsp_tlv_next(a->val, a->val_len, pos, sgd) != 1 ||
        rsp_tlv_next(a->val, a->val_len, pos, sig) != 1 || sig->tag != 0x5F37)
        return -1;
    return 0;
}

static void progress_rd(struct smdp_call *c, const struct smdp_order *o, const char *eid,
                        int step, int success, const char *subject, const char *reason,
                        int profile_state, const uint8_t *rd, size_t rd_len)
{
    struct smdp_progress ev;
    memset(&ev, 0, sizeof(ev));
    if (o) {
        snprintf(ev.operator_id, sizeof(ev.operator_id), "%s", o->operator_id);
        snprintf(ev.iccid, sizeof(ev.iccid), "%s", o->iccid);
    }
    snprintf(ev.eid, sizeof(ev.eid), "%s", eid ? eid : "");
    ev.step = step;
    ev.success = success;
    if (subject)
        snprintf(ev.subject_code, sizeof(ev.subject_code), "%s", subject);
    if (reason)
        snprintf(ev.reason_code, sizeof(ev.reason_code), "%s", reason);
    ev.profile_state = profile_state;
    ev.timestamp = c->now;
    ev.result_data = rd;
    ev.result_data_len = rd ? rd_len : 0;
    smdp_progress_emit(c->s, &ev);
}

static void progress(struct smdp_call *c, const struct smdp_order *o, const char *eid,
                     int step, int success, const char *subject, const char *reason,
                     int profile_state)
{
    progress_rd(c, o, eid, step, success, subject, reason, profile_state, NULL, 0);
}

/* Fail and report the eligibility step (AuthenticateClient). */
static int fail_elig(struct smdp_call *c, const struct smdp_order *o, const char *eid,
                     const char *subject, const char *reason, const char *msg, int pstate)
{
    progress(c, o, eid, SMDP_STEP_ELIGIBILITY_CHECK, 0, subject, reason, pstate);
    return smdp_call_fail(c, subject, reason, msg);
}

/* The order outlived its expiry: move it to EXPIRED now, with its profile
 * to Error (the state smdp_store_expire gives it) when that edge exists, in
 * one transaction, rather than waiting for the sweep. Updates o->state;
 * returns the profile state after. A concurrent change (RSP_ERR_STATE)
 * leaves the order as the other call set it. */
static int order_expire(struct smdp_call *c, struct smdp_order *o, int pstate)
{
    int to = smdp_profile_transition_legal(pstate, SMDP_PROFILE_ERROR) ? SMDP_PROFILE_ERROR : 0;
    int e = smdp_store_order_transition(c->st, o->matching_id, SMDP_ORDER_ACTIVE,
                                        SMDP_ORDER_EXPIRED, pstate, to);
    if (e) {
        RSP_LOG(RSP_LOG_WARN, LOGD, "order %s expiry: %s", o->matching_id, smdp_strerror(e));
        return pstate;
    }
    o->state = SMDP_ORDER_EXPIRED;
    return to ? to : pstate;
}

/* The notification configuration of a profile (notificationConfigurationInfo,
 * §5.5.3 StoreMetadataRequest [22]): the stored DER, either the whole B6
 * TLV or the SEQUENCE OF (30), each entry
 * 30 { 80 NotificationEvent (BIT STRING), 81 notificationAddress }. */
#define NOTIF_CFG_MAX 8

struct notif_cfg {
    struct rsp_bpp_notif n[NOTIF_CFG_MAX];
    char addr[NOTIF_CFG_MAX][256];
    size_t count;
};

static int notif_config_parse(const uint8_t *p, size_t len, struct notif_cfg *out)
{
    struct rsp_tlv t, e, ev, ad;
    size_t pos = 0;
    int r;

    memset(out, 0, sizeof(*out));
    if (rsp_tlv_parse(p, len, &t) || t.tlv_len != len || (t.tag != 0xB6 && t.tag != 0x30))
        return RSP_ERR_DECODE;
    while ((r = rsp_tlv_next(t.val, t.val_len, &pos, &e)) == 1) {
        size_t q = 0;
        if (e.tag != 0x30 || out->count == NOTIF_CFG_MAX ||
            rsp_tlv_next(e.val, e.val_len, &q, &ev) != 1 || ev.tag != 0x80 ||
            rsp_tlv_next(e.val, e.val_len, &q, &ad) != 1 || ad.tag != 0x81 || q != e.val_len)
            return RSP_ERR_DECODE;
        /* BIT STRING: unused-bits octet, then named bits MSB first */
        if (ev.val_len < 1 || ev.val_len > 5 || ev.val[0] > 7 ||
            (ev.val_len == 1 && ev.val[0] != 0))
            return RSP_ERR_DECODE;
        uint32_t mask = 0;
        for (size_t i = 0; i < 8 * (ev.val_len - 1); i++)
            if (ev.val[1 + i / 8] & (0x80u >> (i % 8)))
                mask |= 1u << i;
        if (ad.val_len == 0 || ad.val_len > 255 || memchr(ad.val, 0, ad.val_len))
            return RSP_ERR_DECODE;
        memcpy(out->addr[out->count], ad.val, ad.val_len);
        out->n[out->count].events = mask;
        out->n[out->count].address = out->addr[out->count];
        out->count++;
    }
    return r < 0 ? RSP_ERR_DECODE : RSP_OK;
}

/* Profile metadata (StoreMetadataRequest, §5.5.3) of a stored profile, for
 * AuthenticateClient's profileMetadata and the BPP alike (so both carry the
 * same bytes). The notification configuration is the profile's own
 * (notif_config) when it has one, else install, enable, disable and delete
 * to this SM-DP+ at addr: our FQDN with the ":port" of the address the LPA
 * used in InitiateAuthentication (a lab listener not on 443: the LPA's
 * notifications then reach the same listener), our FQDN if addr is empty.
 * [out] *md points into nc, p and addr. */
static int profile_md(struct smdp *s, const struct smdp_profile *p, const char *addr,
                      struct notif_cfg *nc, struct rsp_bpp_metadata *md)
{
    memset(md, 0, sizeof(*md));
    if (p->notif_config && p->notif_config_len) {
        if (notif_config_parse(p->notif_config, p->notif_config_len, nc)) {
            RSP_LOG(RSP_LOG_ERROR, LOGD, "profile %s: stored notification configuration "
                    "is malformed", p->iccid);
            return RSP_ERR_DECODE;
        }
    } else {
        memset(nc, 0, sizeof(*nc));
        nc->n[0].events = 0x0F;
        nc->n[0].address = addr && *addr ? addr : smdp_fqdn(s);
        nc->count = 1;
    }
    md->iccid = p->iccid;
    md->service_provider = p->spn;
    md->profile_name = p->name;
    md->profile_class = p->pclass;
    md->notifs = nc->n;
    md->n_notifs = nc->count;
    md->ppr = p->ppr_mask & (SMDP_PPR1 | SMDP_PPR2);
    md->icon_type = p->icon_type;
    md->icon = p->icon_type >= 0 ? p->icon : NULL;
    md->icon_len = p->icon_type >= 0 ? p->icon_len : 0;
    return RSP_OK;
}

static int profile_metadata(struct smdp *s, const struct smdp_profile *p, const char *addr,
                            struct rsp_buf *out)
{
    struct notif_cfg nc;
    struct rsp_bpp_metadata md;
    int rc = profile_md(s, p, addr, &nc, &md);
    return rc ? rc : rsp_bpp_metadata_encode(&md, out);
}

/* ---- InitiateAuthentication (§5.6.1) ------------------------------------ */

/* Is the SM-DP+ address a peer used (smdpAddress, serverAddress) ours? The
 * host part is compared case-insensitively (DNS names, RFC 4343); an
 * optional ":port" suffix - what a lab Activation Code carries when the
 * SM-DP+ does not listen on 443 - is accepted and ignored. */
static int addr_matches(const char *a, size_t n, const char *fqdn)
{
    size_t host = n;
    for (size_t i = n; i > 0; i--) {
        if (a[i - 1] == ':') {
            host = i - 1;
            break;
        }
        if (a[i - 1] < '0' || a[i - 1] > '9')
            break;
    }
    if (host == n - 1 || host == 0) /* "host:" or ":port" */
        return 0;
    return host == strlen(fqdn) && !strncasecmp(a, fqdn, host);
}

/* The ":port" suffix of an address that addr_matches accepted, or "". */
static const char *addr_port(const char *a)
{
    const char *colon = strrchr(a, ':');
    return colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1) ? colon
                                                                                      : "";
}

static int pkid_in(const struct EUICCInfo1__euiccCiPKIdListForVerification *l,
                   const uint8_t *p, size_t n)
{
    for (int i = 0; i < l->list.count; i++)
        if (l->list.array[i] && octets_eq(l->list.array[i], p, n))
            return 1;
    return 0;
}

static int es9_initiate_authentication(struct smdp_call *c, json_t *req, json_t **resp)
{
    struct rsp_buf chal, info, v, ss1, sig1;
    EUICCInfo1_t *ei = NULL;
    const struct smdp_cred *cred = NULL;
    uint8_t schal[16], sig[RSP_ECDSA_SIG_LEN], tid[SMDP_TID_LEN];
    char tid_hex[33];
    int ci = -1, rc = -1;
    json_t *o = NULL;

    *resp = NULL;
    rsp_buf_init(&chal, 0);
    rsp_buf_init(&info, 0);
    rsp_buf_init(&v, 1024);
    rsp_buf_init(&ss1, 1024);
    rsp_buf_init(&sig1, 128);
    const char *addr = field_str(c, req, "smdpAddress");
    if (!addr || field_b64(c, req, "euiccChallenge", &chal) ||
        field_b64(c, req, "euiccInfo1", &info))
        goto out;
    if (!addr_matches(addr, strlen(addr), smdp_fqdn(c->s)) || strlen(addr) > 255) {
        smdp_call_fail(c, "8.8.1", "3.8", "Invalid SM-DP+ Address");
        goto out;
    }
    if (chal.len != 16) {
        smdp_call_fail(c, "1.6", "2.1", "euiccChallenge");
        goto out;
    }
    if (decode_field(c, &asn_DEF_EUICCInfo1, &info, 4096, "euiccInfo1", (void **)&ei))
        goto out;
    if (ei->svn.size != 3 || ei->svn.buf[0] != 2) {
        smdp_call_fail(c, "8.8.3", "3.1", "Specification Version Number not supported");
        goto out;
    }
    /* The eUICC must sign under a CI we trust ... */
    int signing_ok = 0;
    for (int i = 0; i < ei->euiccCiPKIdListForSigning.list.count; i++) {
        const OCTET_STRING_t *p = ei->euiccCiPKIdListForSigning.list.array[i];
        if (p && p->size > 0 &&
            rsp_x509_store_find(smdp_ci_store(c->s), p->buf, (size_t)p->size))
            signing_ok = 1;
    }
    if (!signing_ok) {
        smdp_call_fail(c, "8.8.2", "3.1",
                       "None of the proposed Public Key Identifiers is supported by the SM-DP+");
        goto out;
    }
    /* ... and verify our CERT.DPauth under a CI it lists, in its order of
     * preference; the eUICC signs with the same CI (euiccCiPKIdToBeUsed). */
    for (int i = 0; i < ei->euiccCiPKIdListForVerification.list.count && ci < 0; i++) {
        const OCTET_STRING_t *p = ei->euiccCiPKIdListForVerification.list.array[i];
        for (int k = 0; p && k < SMDP_CRED_N; k++) {
            const struct smdp_cred *cr = smdp_cred_get(c->s, k);
            if (cr && octets_eq(p, cr->ci_pkid, cr->ci_pkid_len) &&
                pkid_in((const void *)&ei->euiccCiPKIdListForSigning, cr->ci_pkid,
                        cr->ci_pkid_len)) {
                ci = k;
                break;
            }
        }
    }
    if (ci < 0) {
        smdp_call_fail(c, "8.8.4", "3.7",
                       "The SM-DP+ has no CERT.DPauth.ECDSA signed by a CI supported by the eUICC");
        goto out;
    }
    cred = smdp_cred_get(c->s, ci);
    /* our FQDN as configured, with the port the LPA reached us on: the
     * default notificationAddress of this session's profile */
    char naddr[SMDP_FQDN_MAX + 1];
    snprintf(naddr, sizeof(naddr), "%s%s", smdp_fqdn(c->s), addr_port(addr));
    int e = smdp_sess_new(c->s, ci, c->now, naddr, tid_hex, schal);
    if (e == RSP_ERR_TOOBIG) {
        RSP_LOG(RSP_LOG_WARN, LOGD, "session table full: InitiateAuthentication refused");
        smdp_call_fail(c, "1.2", "4.4", "Busy: too many RSP sessions, try again later");
        goto out;
    }
    if (e) {
        internal(c, "session", e);
        goto out;
    }
    rsp_hex_decode(tid_hex, 32, tid, sizeof(tid));
    /* The address signed is the one the LPA used (it matched ours). */
    const char *fq = addr;
    /* ServerSigned1 (§5.7.13): 80 tid, 81 euiccChallenge, 83 address, 84 serverChallenge */
    if (rsp_tlv_put(&v, 0x80, tid, sizeof(tid)) || rsp_tlv_put(&v, 0x81, chal.data, 16) ||
        rsp_tlv_put(&v, 0x83, fq, strlen(fq)) || rsp_tlv_put(&v, 0x84, schal, 16) ||
        rsp_tlv_put(&ss1, 0x30, v.data, v.len) ||
        rsp_ecdsa_sign(cred->auth_key, ss1.data, ss1.len, sig) ||
        rsp_tlv_put(&sig1, 0x5F37, sig, sizeof(sig))) {
        internal(c, "serverSigned1", RSP_ERR_CRYPTO);
        goto out;
    }
    uint8_t pk[4 + RSP_X509_PKID_MAX];
    pk[0] = 0x04;
    pk[1] = (uint8_t)cred->ci_pkid_len;
    memcpy(pk + 2, cred->ci_pkid, cred->ci_pkid_len);
    o = json_object();
    if (!o || json_object_set_new(o, "transactionId", json_string(tid_hex)) ||
        set_b64(o, "serverSigned1", ss1.data, ss1.len) ||
        set_b64(o, "serverSignature1", sig1.data, sig1.len) ||
        set_b64(o, "euiccCiPKIdToBeUsed", pk, 2 + cred->ci_pkid_len) ||
        set_b64(o, "serverCertificate", cred->auth_der, cred->auth_der_len)) {
        internal(c, "response", RSP_ERR_NOMEM);
        goto out;
    }
    *resp = o;
    o = NULL;
    rc = 0;
out:
    json_decref(o);
    rsp_asn1_free(&asn_DEF_EUICCInfo1, ei);
    rsp_buf_free(&chal);
    rsp_buf_free(&info);
    rsp_buf_free(&v);
    rsp_buf_free(&ss1);
    rsp_buf_free(&sig1);
    return rc ? -1 : 0;
}

/* ---- AuthenticateClient (§5.6.3) ----------------------------------------- */

/* The eUICC chain; on failure the code of §5.6.3 for the certificate at
 * fault: the EUM if it does not verify on its own under the CI (role EUM:
 * profile, signature, validity), else the eUICC certificate (its profile,
 * validity, signature by the EUM, EID in the EUM's range). */
static int verify_euicc_chain(struct smdp_call *c, const struct rsp_tlv *cert,
                              const struct rsp_tlv *eum, struct rsp_x509_chain_info *info,
                              X509 **leaf)
{
    const struct rsp_x509_store *st = smdp_ci_store(c->s);
    time_t at = (time_t)c->now;
    /* The EUM verified under the CI is cached (few EUMs sign a fleet); the
     * eUICC certificate is verified against it every time, and parsed once:
     * *leaf gives PK.EUICC.SIG. */
    int rc = rsp_x509_verify_euicc_der(st, smdp_eum_cache(c->s), cert->tlv, cert->tlv_len,
                                       eum->tlv, eum->tlv_len, at, info, leaf);
    if (rc == 0)
        return 0;
    RSP_LOG(RSP_LOG_INFO, LOGD, "eUICC chain: %s", rsp_strerror(rc));
    if (rc == RSP_ERR_UNKNOWN_CI)
        return smdp_call_fail(c, "8.11.1", "3.9", "Unknown CI Public Key");
    int erc = rsp_x509_verify_der(st, RSP_X509_ROLE_EUM, eum->tlv, eum->tlv_len, NULL, 0, at,
                                  NULL);
    if (erc == RSP_ERR_UNKNOWN_CI)
        return smdp_call_fail(c, "8.11.1", "3.9", "Unknown CI Public Key");
    if (erc)
        return erc == RSP_ERR_EXPIRED
                   ? smdp_call_fail(c, "8.1.2", "6.3", "EUM Certificate has expired")
                   : smdp_call_fail(c, "8.1.2", "6.1", "EUM Certificate is invalid");
    return rc == RSP_ERR_EXPIRED
               ? smdp_call_fail(c, "8.1.3", "6.3", "eUICC Certificate has expired")
               : smdp_call_fail(c, "8.1.3", "6.1", "eUICC Certificate is invalid");
}

struct eid_find {
    const char *eid;
    char mid[SMDP_MID_MAX + 1];
};

static int order_for_eid(const struct smdp_order *o, void *arg)
{
    struct eid_find *f = arg;
    if (o->state == SMDP_ORDER_ACTIVE && !strcmp(o->eid, f->eid)) {
        snprintf(f->mid, sizeof(f->mid), "%s", o->matching_id);
        return 1;
    }
    return 0;
}

static int es9_authenticate_client(struct smdp_call *c, json_t *req, json_t **resp)
{
    AuthenticateServerResponse_t *asr = NULL;
    struct smdp_sess *ss = NULL;
    struct smdp_order ord;
    struct smdp_profile prof;
    struct rsp_buf raw, v, sd2, msg, md;
    struct rsp_tlv a, es1, sig, cert, eum;
    struct rsp_x509_chain_info info;
    const struct smdp_cred *cred;
    uint8_t sig2[RSP_ECDSA_SIG_LEN];
    X509 *ecert = NULL;
    json_t *o = NULL;
    size_t pos = 0;
    int rc = -1, e;

    *resp = NULL;
    memset(&ord, 0, sizeof(ord));
    memset(&prof, 0, sizeof(prof));
    rsp_buf_init(&raw, 0);
    rsp_buf_init(&v, 1024);
    rsp_buf_init(&sd2, 1024);
    rsp_buf_init(&msg, 1024);
    rsp_buf_init(&md, 8192);
    if (take_session(c, req, "authenticateServerResponse", &raw, &ss))
        goto out;
    if (ss->state != SMDP_SESS_INITIATED) {
        fail_sess_unknown(c);
        goto out;
    }
    cred = smdp_cred_get(c->s, ss->cred);
    if (decode_field(c, &asn_DEF_AuthenticateServerResponse, &raw, B64_MAX,
                     "authenticateServerResponse", (void **)&asr))
        goto out;
    if (asr->present != AuthenticateServerResponse_PR_authenticateResponseOk) {
        smdp_call_fail(c, "8.1", "6.1", "AuthenticateServer failed on the eUICC");
        goto out;
    }
    const EuiccSigned1_t *s1 = &asr->choice.authenticateResponseOk->euiccSigned1;
    if (split_signed(&raw, &a, &pos, &es1, &sig) || es1.tag != 0x30 ||
        rsp_tlv_next(a.val, a.val_len, &pos, &cert) != 1 ||
        rsp_tlv_next(a.val, a.val_len, &pos, &eum) != 1) {
        smdp_call_fail(c, "1.6", "2.1", "authenticateServerResponse");
        goto out;
    }
    if (!octets_eq(&s1->transactionId, ss->tid, SMDP_TID_LEN)) {
        smdp_call_fail(c, "8.10.1", "3.9", "signed transactionId is not this session's");
        goto out;
    }
    if (verify_euicc_chain(c, &cert, &eum, &info, &ecert))
        goto out;
    if (info.ci_pkid_len != cred->ci_pkid_len ||
        memcmp(info.ci_pkid, cred->ci_pkid, cred->ci_pkid_len)) {
        smdp_call_fail(c, "8.11.1", "3.9", "eUICC chain is not under euiccCiPKIdToBeUsed");
        goto out;
    }
    /* SubjectPublicKeyInfo as the certificate carries it (re-encoding the
     * EVP_PKEY would go through OpenSSL 3's encoder machinery) */
    int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(ecert), NULL);
    unsigned char *sp = ss->euicc_spki;
    if (spki_len <= 0 || spki_len > (int)sizeof(ss->euicc_spki) ||
        i2d_X509_PUBKEY(X509_get_X509_PUBKEY(ecert), &sp) != spki_len ||
        rsp_x509_get_pubkey(ecert, &ss->euicc_key)) {
        internal(c, "eUICC key", RSP_ERR_CERT);
        goto out;
    }
    ss->euicc_spki_len = (size_t)spki_len;
    if (rsp_ecdsa_verify(ss->euicc_key, es1.tlv, es1.tlv_len, sig.val, sig.val_len)) {
        smdp_call_fail(c, "8.1", "6.1", "eUICC signature is invalid");
        goto out;
    }
    if (!octets_eq(&s1->serverChallenge, ss->server_challenge, 16)) {
        smdp_call_fail(c, "8.1", "6.1", "serverChallenge is invalid");
        goto out;
    }
    if (s1->serverAddress.size <= 0 ||
        !addr_matches((const char *)s1->serverAddress.buf, (size_t)s1->serverAddress.size,
                      smdp_fqdn(c->s))) {
        smdp_call_fail(c, "8.8.1", "3.8", "serverAddress is not this SM-DP+");
        goto out;
    }
    snprintf(ss->eid, sizeof(ss->eid), "%s", info.eid);

    /* The order: by matchingId, or (empty/absent: default SM-DP+ address,
     * §3.1.2) the ACTIVE order bound to this EID. */
    const UTF8String_t *mid = NULL;
    if (s1->ctxParams1.present == CtxParams1_PR_ctxParamsForCommonAuthentication)
        mid = s1->ctxParams1.choice.ctxParamsForCommonAuthentication->matchingId;
    char mids[SMDP_MID_MAX + 1];
    if (mid && mid->size > 0) {
        if ((size_t)mid->size > SMDP_MID_MAX || memchr(mid->buf, 0, (size_t)mid->size)) {
            fail_elig(c, NULL, ss->eid, "8.2.6", "3.8", "MatchingID is refused", 0);
            goto out;
        }
        memcpy(mids, mid->buf, (size_t)mid->size);
        mids[mid->size] = 0;
    } else {
        struct eid_find f = {.eid = ss->eid};
        if (smdp_store_order_list(c->st, order_for_eid, &f) != 1) {
            fail_elig(c, NULL, ss->eid, "8.2.6", "3.8", "no pending order for this EID", 0);
            goto out;
        }
        snprintf(mids, sizeof(mids), "%s", f.mid);
    }
    e = smdp_store_order_get(c->st, SMDP_ORDER_BY_MATCHING_ID, mids, &ord);
    if (e == RSP_ERR_NOTFOUND) {
        fail_elig(c, NULL, ss->eid, "8.2.6", "3.8", "MatchingID is refused", 0);
        goto out;
    }
    if (e) {
        internal(c, "order", e);
        goto out;
    }
    e = smdp_store_profile_get(c->st, ord.iccid, 0, &prof);
    if (e) {
        internal(c, "profile", e);
        goto out;
    }
    int expired = ord.state == SMDP_ORDER_EXPIRED ||
                  (ord.state == SMDP_ORDER_ACTIVE && ord.expires && ord.expires <= c->now);
    if (expired && ord.state == SMDP_ORDER_ACTIVE)
        prof.state = order_expire(c, &ord, prof.state);
    if (expired) {
        fail_elig(c, &ord, ss->eid, "8.8.5", "4.1", "The Download order has expired", prof.state);
        goto out;
    }
    if (ord.state != SMDP_ORDER_ACTIVE || prof.state == SMDP_PROFILE_INSTALLED) {
        fail_elig(c, &ord, ss->eid, "8.2.6", "3.8", "MatchingID is refused", prof.state);
        goto out;
    }
    if (ord.eid[0] && strcmp(ord.eid, ss->eid)) {
        fail_elig(c, &ord, ss->eid, "8.1.1", "3.8", "EID doesn't match the expected value",
                  prof.state);
        goto out;
    }
    if (ord.download_attempts >= ord.download_limit) {
        fail_elig(c, &ord, ss->eid, "8.8.5", "6.4",
                  "The maximum number of retries for the Profile download order has been exceeded",
                  prof.state);
        goto out;
    }
    if (prof.state != SMDP_PROFILE_RELEASED && prof.state != SMDP_PROFILE_DOWNLOADED) {
        fail_elig(c, &ord, ss->eid, "8.2", "1.2", "Profile has not yet been released",
                  prof.state);
        goto out;
    }
    e = smdp_store_session_create(c->st, ord.matching_id, ss->tid_hex,
                                  c->now + (int64_t)smdp_config_of(c->s)->session_timeout);
    if (e) {
        internal(c, "session_create", e);
        goto out;
    }
    if ((e = profile_metadata(c->s, &prof, ss->smdp_addr, &md))) {
        internal(c, "profileMetadata", e);
        goto out;
    }
    /* SmdpSigned2: 80 tid, 01 ccRequiredFlag, [5F49 bppEuiccOtpk: the
     * otPK.EUICC.ECKA a BPP was already bound to, §3.1.3 retry]. */
    static const uint8_t cc_yes[] = {0x01, 0x01, 0xFF}, cc_no[] = {0x01, 0x01, 0x00};
    if (rsp_tlv_put(&v, 0x80, ss->tid, SMDP_TID_LEN) ||
        rsp_buf_append(&v, ord.cc_required ? cc_yes : cc_no, 3) ||
        (ord.otpk_len == RSP_EC_POINT_LEN && rsp_tlv_put(&v, 0x5F49, ord.otpk, ord.otpk_len)) ||
        rsp_tlv_put(&sd2, 0x30, v.data, v.len) || rsp_buf_append(&msg, sd2.data, sd2.len) ||
        rsp_tlv_put(&msg, 0x5F37, sig.val, sig.val_len) ||
        rsp_ecdsa_sign(cred->pb_key, msg.data, msg.len, sig2)) {
        internal(c, "smdpSigned2", RSP_ERR_CRYPTO);
        goto out;
    }
    memcpy(ss->smdp_sig2, sig2, sizeof(sig2));
    rsp_buf_reset(&msg);
    if (rsp_tlv_put(&msg, 0x5F37, sig2, sizeof(sig2))) {
        internal(c, "smdpSignature2", RSP_ERR_NOMEM);
        goto out;
    }
    snprintf(ss->matching_id, sizeof(ss->matching_id), "%s", ord.matching_id);
    snprintf(ss->iccid, sizeof(ss->iccid), "%s", ord.iccid);
    snprintf(ss->operator_id, sizeof(ss->operator_id), "%s", ord.operator_id);
    ss->cc_required = ord.cc_required;
    o = json_object();
    if (!o || json_object_set_new(o, "transactionId", json_string(ss->tid_hex)) ||
        set_b64(o, "profileMetadata", md.data, md.len) ||
        set_b64(o, "smdpSigned2", sd2.data, sd2.len) ||
        set_b64(o, "smdpSignature2", msg.data, msg.len) ||
        set_b64(o, "smdpCertificate", cred->pb_der, cred->pb_der_len)) {
        internal(c, "response", RSP_ERR_NOMEM);
        goto out;
    }
    progress(c, &ord, ss->eid, SMDP_STEP_ELIGIBILITY_CHECK, 1, NULL, NULL, prof.state);
    ss->state = SMDP_SESS_AUTHENTICATED;
    *resp = o;
    o = NULL;
    rc = 0;
out:
    if (ss) {
        /* A rejected AuthenticateClient leaves the session as it was, so
         * that the ES9+.CancelSession the LPA sends after an error (§3.1.3)
         * finds it, and a damaged request can be sent again; expiry bounds
         * it. Success keeps it for GetBoundProfilePackage. */
        if (rc != 0 && ss->state == SMDP_SESS_INITIATED) {
            EVP_PKEY_free(ss->euicc_key);
            ss->euicc_key = NULL;
            ss->euicc_spki_len = 0;
            ss->eid[0] = '\0';
        }
        smdp_sess_put(c->s, ss, c->now);
    }
    json_decref(o);
    X509_free(ecert);
    smdp_profile_clear(&prof);
    rsp_asn1_free(&asn_DEF_AuthenticateServerResponse, asr);
    rsp_buf_free(&raw);
    rsp_buf_free(&v);
    rsp_buf_free(&sd2);
    rsp_buf_free(&msg);
    rsp_buf_free(&md);
    return rc ? -1 : 0;
}

/* ---- GetBoundProfilePackage (§5.6.2) -------------------------------------- */

static int es9_get_bound_profile_package(struct smdp_call *c, json_t *req, json_t **resp)
{
    PrepareDownloadResponse_t *pdr = NULL;
    struct smdp_sess *ss = NULL;
    struct smdp_order ord;
    struct smdp_profile prof;
    struct rsp_buf raw, msg, bpp;
    struct rsp_tlv a, es2, esig;
    const struct smdp_cred *cred;
    struct notif_cfg nc;
    struct rsp_bpp_metadata md;
    uint8_t eid[16];
    EVP_PKEY *otpk = NULL;
    json_t *o = NULL;
    size_t pos = 0;
    int rc = -1, e, keep = 0;

    *resp = NULL;
    memset(&ord, 0, sizeof(ord));
    memset(&prof, 0, sizeof(prof));
    rsp_buf_init(&raw, 0);
    rsp_buf_init(&msg, 1024);
    rsp_buf_init(&bpp, RSP_BPP_MAX);
    if (take_session(c, req, "prepareDownloadResponse", &raw, &ss))
        goto out;
    keep = 1;
    if (ss->state < SMDP_SESS_AUTHENTICATED) {
        fail_sess_unknown(c);
        goto out;
    }
    cred = smdp_cred_get(c->s, ss->cred);
    if (decode_field(c, &asn_DEF_PrepareDownloadResponse, &raw, 4096,
                     "prepareDownloadResponse", (void **)&pdr))
        goto out;
    if (pdr->present != PrepareDownloadResponse_PR_downloadResponseOk) {
        smdp_call_fail(c, "8.1", "6.1", "PrepareDownload failed on the eUICC");
        goto out;
    }
    const EUICCSigned2_t *s2 = &pdr->choice.downloadResponseOk->euiccSigned2;
    if (split_signed(&raw, &a, &pos, &es2, &esig)) {
        smdp_call_fail(c, "1.6", "2.1", "prepareDownloadResponse");
        goto out;
    }
    /* euiccSignature2 covers euiccSigned2 || smdpSignature2 (5F37 TLV), §5.7.5 */
    if (rsp_buf_append(&msg, es2.tlv, es2.tlv_len) ||
        rsp_tlv_put(&msg, 0x5F37, ss->smdp_sig2, sizeof(ss->smdp_sig2))) {
        internal(c, "euiccSignature2", RSP_ERR_NOMEM);
        goto out;
    }
    if (rsp_ecdsa_verify(ss->euicc_key, msg.data, msg.len, esig.val, esig.val_len)) {
        smdp_call_fail(c, "8.1", "6.1", "eUICC signature is invalid");
        goto out;
    }
    if (!octets_eq(&s2->transactionId, ss->tid, SMDP_TID_LEN)) {
        smdp_call_fail(c, "8.10.1", "3.9", "signed transactionId is not this session's");
        goto out;
    }
    /* otPK.EUICC.ECKA checked (on the curve, not infinity) and imported
     * once: the same key goes to rsp_bpp_build */
    if (s2->euiccOtpk.size != RSP_EC_POINT_LEN ||
        rsp_bpp_otpk_import(cred->curve, s2->euiccOtpk.buf, RSP_EC_POINT_LEN, &otpk)) {
        smdp_call_fail(c, "1.6", "2.1", "euiccOtpk");
        goto out;
    }
    if ((e = smdp_store_order_get(c->st, SMDP_ORDER_BY_MATCHING_ID, ss->matching_id, &ord))) {
        internal(c, "order", e);
        goto out;
    }
    if (ord.state == SMDP_ORDER_ACTIVE && ord.expires && ord.expires <= c->now) {
        int ps = SMDP_PROFILE_ERROR;
        if ((e = smdp_store_profile_get(c->st, ord.iccid, 0, &prof)) == 0)
            ps = order_expire(c, &ord, prof.state);
        smdp_profile_clear(&prof);
        progress(c, &ord, ss->eid, SMDP_STEP_BPP_DOWNLOAD, 0, "8.8.5", "4.1", ps);
        ord.state = SMDP_ORDER_EXPIRED;
    }
    if (ord.state == SMDP_ORDER_EXPIRED) {
        smdp_call_fail(c, "8.8.5", "4.1", "The Download order has expired");
        keep = 0;
        goto out;
    }
    if (ord.state != SMDP_ORDER_ACTIVE) {
        smdp_call_fail(c, "8.2.6", "3.8", "MatchingID is refused");
        goto out;
    }
    if (ord.cc_required) {
        int outcome = 0;
        if (ord.cc_attempts >= ord.cc_limit) {
            smdp_call_fail(c, "8.2.7", "6.4", "Confirmation Code retries exceeded");
            goto out;
        }
        if (!s2->hashCc) {
            /* Like a refused code (3.8 below) the RSP session ends, the
             * order stays ACTIVE / Released for a new session; no attempt
             * is counted (no code was tried). */
            smdp_call_fail(c, "8.2.7", "2.2", "Confirmation Code is missing");
            keep = 0;
            goto out;
        }
        int ok = smdp_cc_check(ord.cc_hash, ss->tid, SMDP_TID_LEN, s2->hashCc->buf,
                               (size_t)s2->hashCc->size);
        if (ok < 0 || (e = smdp_store_cc_attempt(c->st, ord.matching_id, ok, &outcome))) {
            internal(c, "confirmation code", ok < 0 ? ok : e);
            goto out;
        }
        if (outcome != SMDP_CC_ACCEPTED) {
            int locked = outcome == SMDP_CC_LOCKED;
            progress(c, &ord, ss->eid, SMDP_STEP_CONFIRMATION_FAILURE, 0, "8.2.7",
                     locked ? "6.4" : "3.8", locked ? SMDP_PROFILE_ERROR : SMDP_PROFILE_RELEASED);
            smdp_call_fail(c, "8.2.7", locked ? "6.4" : "3.8",
                           locked ? "Confirmation Code retries exceeded"
                                  : "Confirmation Code is refused");
            /* Either way the RSP session ends here (the store dropped its
             * transactionId): the LPA's CancelSession that follows
             * (undefinedReason) then finds no session (8.10.1/3.9) and
             * cannot end an order that still has attempts left; a new
             * session may try again. */
            keep = 0;
            goto out;
        }
    }
    /* §3.1.3 retry: a BPP bound before may only be bound again to the same
     * otPK.EUICC.ECKA unless it is protected with a PPK (we never use one). */
    if (ord.otpk_len && (ord.otpk_len != RSP_EC_POINT_LEN ||
                         memcmp(ord.otpk, s2->euiccOtpk.buf, RSP_EC_POINT_LEN)) &&
        ord.used_ppk != 1) {
        smdp_call_fail(c, "8.2", "3.7", "BPP is not available for a new binding");
        goto out;
    }
    /* PK.EUICC.SIG and the EID go with the binding, so the PIR can be
     * verified without this session (§3.5, after a restart). */
    if ((e = smdp_store_profile_get(c->st, ord.iccid, 1, &prof)) ||
        (e = rsp_eid_to_bytes(ss->eid, eid))) {
        internal(c, "profile", e);
        goto out;
    }
    if ((e = profile_md(c->s, &prof, ss->smdp_addr, &nc, &md))) {
        internal(c, "profileMetadata", e);
        goto out;
    }
    {
        static const uint8_t host_id[] = "smdp-h1";
        struct rsp_bpp_params bp = {
            .dp_pb_key = cred->pb_key, .euicc_otpk = s2->euiccOtpk.buf, .euicc_otpk_key = otpk,
            .transaction_id = ss->tid, .transaction_id_len = SMDP_TID_LEN, .eid = eid,
            .host_id = host_id, .host_id_len = sizeof(host_id) - 1, .upp = prof.package,
            .upp_len = prof.package_len, .md = &md,
            .dp_oid_der = cred->oid_len ? cred->oid : NULL, .dp_oid_len = cred->oid_len,
        };
        if ((e = rsp_bpp_build(&bp, &bpp))) {
            internal(c, "BPP", e);
            goto out;
        }
    }
    /* The binding, the download attempt and Released -> Downloaded in one
     * transaction, once the BPP is built. */
    struct smdp_binding bind = {
        .otpk = s2->euiccOtpk.buf, .otpk_len = RSP_EC_POINT_LEN, .used_ppk = 0,
        .euicc_pk = ss->euicc_spki, .euicc_pk_len = ss->euicc_spki_len, .eid = ss->eid,
        .profile_from = prof.state == SMDP_PROFILE_RELEASED ? SMDP_PROFILE_RELEASED : 0,
        .profile_to = prof.state == SMDP_PROFILE_RELEASED ? SMDP_PROFILE_DOWNLOADED : 0,
    };
    e = smdp_store_session_bind(c->st, ss->tid_hex, &bind);
    if (e == RSP_ERR_STATE) {
        smdp_call_fail(c, "8.8.5", "6.4",
                       "The maximum number of retries for the Profile download order has been exceeded");
        goto out;
    }
    if (e) {
        internal(c, "session_bind", e);
        goto out;
    }
    o = json_object();
    if (!o || json_object_set_new(o, "transactionId", json_string(ss->tid_hex)) ||
        smdp_call_set_b64_raw(c, o, "boundProfilePackage", bpp.data, bpp.len)) {
        internal(c, "response", RSP_ERR_NOMEM);
        goto out;
    }
    progress(c, &ord, ss->eid, SMDP_STEP_BPP_DOWNLOAD, 1, NULL, NULL, SMDP_PROFILE_DOWNLOADED);
    ss->state = SMDP_SESS_BPP_BUILT;
    *resp = o;
    o = NULL;
    rc = 0;
out:
    if (ss) {
        if (keep)
            smdp_sess_put(c->s, ss, c->now);
        else
            smdp_sess_free(ss);
    }
    json_decref(o);
    EVP_PKEY_free(otpk);
    smdp_profile_clear(&prof);
    rsp_asn1_free(&asn_DEF_PrepareDownloadResponse, pdr);
    rsp_buf_free(&raw);
    rsp_buf_free(&msg);
    rsp_buf_free(&bpp);
    return rc ? -1 : 0;
}

/* ---- HandleNotification (§5.6.4) ----------------------------------------- */

/* The PIR (§3.1.3 step 19ff, §5.6.4): verified with PK.EUICC.SIG of its
 * download, taken from the RSP session if it is still in memory, else from
 * the order's stored BPP binding (the session expired, or the SM-DP+
 * restarted in between). A PIR that does not verify, or names a
 * transactionId with no BPP bound, is dropped; a second copy of an accepted
 * PIR changes nothing and reports nothing. */
static void notify_pir(struct smdp_call *c, const ProfileInstallationResult_t *pir,
                       const uint8_t *raw, size_t len)
{
    const ProfileInstallationResultData_t *d = &pir->profileInstallationResultData;
    struct rsp_tlv t, data, sig;
    struct smdp_sess *ss = NULL;
    struct smdp_order ord;
    EVP_PKEY *key = NULL;
    char tid_hex[33], eid[33] = "", iccid[21] = "";

    if (d->transactionId.size != SMDP_TID_LEN || rsp_tlv_parse(raw, len, &t) ||
        rsp_tlv_find(t.val, t.val_len, 0xBF27, &data) ||
        rsp_tlv_find(t.val, t.val_len, 0x5F37, &sig))
        return;
    rsp_hex_encode(d->transactionId.buf, SMDP_TID_LEN, tid_hex);
    if (smdp_sess_take(c->s, tid_hex, c->now, &ss) == 0 && ss->state != SMDP_SESS_BPP_BUILT) {
        /* a PIR before any BPP of this session: not for us to act on */
        smdp_sess_put(c->s, ss, c->now);
        RSP_LOG(RSP_LOG_WARN, LOGD, "PIR for session %s without a BPP dropped", tid_hex);
        return;
    }
    if (smdp_store_order_get(c->st, SMDP_ORDER_BY_BPP_TRANSACTION_ID, tid_hex, &ord)) {
        RSP_LOG(RSP_LOG_WARN, LOGD, "PIR for unknown session %s dropped", tid_hex);
        goto out;
    }
    if (ss && ss->euicc_key && EVP_PKEY_up_ref(ss->euicc_key)) {
        key = ss->euicc_key;
        snprintf(eid, sizeof(eid), "%s", ss->eid);
    } else if (ord.euicc_pk_len) {
        const uint8_t *p = ord.euicc_pk;
        key = d2i_PUBKEY(NULL, &p, (long)ord.euicc_pk_len);
        snprintf(eid, sizeof(eid), "%s", ord.euicc_eid);
    }
    if (d->notificationMetadata.iccid && d->notificationMetadata.iccid->size == 10)
        rsp_iccid_from_bcd(d->notificationMetadata.iccid->buf, 1, iccid);
    if (!key || rsp_ecdsa_verify(key, data.tlv, data.tlv_len, sig.val, sig.val_len) ||
        (iccid[0] && strcmp(iccid, ord.iccid))) {
        RSP_LOG(RSP_LOG_WARN, LOGD, "PIR of %s does not verify: dropped", tid_hex);
        if (ss) {
            smdp_sess_put(c->s, ss, c->now);
            ss = NULL;
        }
        goto out;
    }
    int ok = d->finalResult.present == ProfileInstallationResultData__finalResult_PR_successResult;
    int e = smdp_store_order_transition(c->st, ord.matching_id, SMDP_ORDER_ACTIVE,
                                        ok ? SMDP_ORDER_DONE : SMDP_ORDER_FAILED,
                                        SMDP_PROFILE_DOWNLOADED,
                                        ok ? SMDP_PROFILE_INSTALLED : SMDP_PROFILE_ERROR);
    if (e == RSP_ERR_STATE) {
        RSP_LOG(RSP_LOG_INFO, LOGD, "PIR %s: order %s already settled", tid_hex,
                ord.matching_id);
    } else if (e) {
        RSP_LOG(RSP_LOG_WARN, LOGD, "PIR %s: order %s: %s", tid_hex, ord.matching_id,
                smdp_strerror(e));
    } else {
        /* ES2+ resultData (§5.3.5): the PIR as the eUICC signed it */
        progress_rd(c, &ord, eid, SMDP_STEP_BPP_INSTALLATION, ok, NULL, NULL,
                    ok ? SMDP_PROFILE_INSTALLED : SMDP_PROFILE_ERROR, raw, len);
    }
out:
    EVP_PKEY_free(key);
    smdp_sess_free(ss);      /* the download session ends with its PIR */
}

static void notify_other(struct smdp_call *c, const OtherSignedNotification_t *n,
                         const uint8_t *raw, size_t len)
{
    struct rsp_tlv t, tbs, sig, cert, eum;
    struct rsp_x509_chain_info info;
    EVP_PKEY *k = NULL;
    X509 *x = NULL;
    size_t pos = 0;

    if (rsp_tlv_parse(raw, len, &t) || rsp_tlv_next(t.val, t.val_len, &pos, &tbs) != 1 ||
        rsp_tlv_next(t.val, t.val_len, &pos, &sig) != 1 ||
        rsp_tlv_next(t.val, t.val_len, &pos, &cert) != 1 ||
        rsp_tlv_next(t.val, t.val_len, &pos, &eum) != 1 || sig.tag != 0x5F37)
        return;
    if (rsp_x509_verify_euicc_der(smdp_ci_store(c->s), smdp_eum_cache(c->s), cert.tlv,
                                  cert.tlv_len, eum.tlv, eum.tlv_len, (time_t)c->now, &info,
                                  &x) ||
        rsp_x509_get_pubkey(x, &k) ||
        rsp_ecdsa_verify(k, tbs.tlv, tbs.tlv_len, sig.val, sig.val_len)) {
        RSP_LOG(RSP_LOG_WARN, LOGD, "other notification does not verify: dropped");
        goto out;
    }
    const NotificationMetadata_t *md = &n->tbsOtherNotification;
    char iccid[21] = "";
    struct smdp_profile prof;
    memset(&prof, 0, sizeof(prof));
    if (md->iccid && md->iccid->size == 10)
        rsp_iccid_from_bcd(md->iccid->buf, 1, iccid);
    if (iccid[0] && smdp_store_profile_get(c->st, iccid, 0, &prof) == 0) {
        struct smdp_progress ev;
        memset(&ev, 0, sizeof(ev));
        snprintf(ev.operator_id, sizeof(ev.operator_id), "%s", prof.operator_id);
        snprintf(ev.iccid, sizeof(ev.iccid), "%s", iccid);
        snprintf(ev.eid, sizeof(ev.eid), "%s", info.eid);
        ev.step = SMDP_STEP_OTHER_NOTIFICATION;
        ev.success = 1;
        ev.profile_state = prof.state;
        ev.timestamp = c->now;
        ev.notification_event = (int)rsp_asn1_named_bits_get(&md->profileManagementOperation);
        smdp_progress_emit(c->s, &ev);
    }
    smdp_profile_clear(&prof);
out:
    EVP_PKEY_free(k);
    X509_free(x);
}

static int es9_handle_notification(struct smdp_call *c, json_t *req, json_t **resp)
{
    PendingNotification_t *pn = NULL;
    struct rsp_buf raw;

    *resp = NULL;
    if (field_b64(c, req, "pendingNotification", &raw))
        return -1;
    if (decode_field(c, &asn_DEF_PendingNotification, &raw, B64_MAX, "pendingNotification",
                     (void **)&pn)) {
        rsp_buf_free(&raw);
        return -1;
    }
    if (pn->present == PendingNotification_PR_profileInstallationResult)
        notify_pir(c, pn->choice.profileInstallationResult, raw.data, raw.len);
    else if (pn->present == PendingNotification_PR_otherSignedNotification)
        notify_other(c, pn->choice.otherSignedNotification, raw.data, raw.len);
    rsp_asn1_free(&asn_DEF_PendingNotification, pn);
    rsp_buf_free(&raw);
    return 0;
}

/* ---- CancelSession (§5.6.5) ------------------------------------------------ */

static int es9_cancel_session(struct smdp_call *c, json_t *req, json_t **resp)
{
    CancelSessionResponse_t *csr = NULL;
    struct smdp_sess *ss = NULL;
    struct rsp_buf raw;
    struct rsp_tlv a, sgd, sig;
    struct smdp_order ord;
    struct smdp_profile prof;
    size_t pos = 0;
    int rc = -1, keep = 0, e;

    *resp = NULL;
    memset(&prof, 0, sizeof(prof));
    rsp_buf_init(&raw, 0);
    if (take_session(c, req, "cancelSessionResponse", &raw, &ss))
        goto out;
    keep = 1;
    if (decode_field(c, &asn_DEF_CancelSessionResponse, &raw, 4096,
                     "cancelSessionResponse", (void **)&csr))
        goto out;
    if (csr->present != CancelSessionResponse_PR_cancelSessionResponseOk) {
        smdp_call_fail(c, "8.1", "6.1", "CancelSession failed on the eUICC");
        goto out;
    }
    const EuiccCancelSessionSigned_t *cs =
        &csr->choice.cancelSessionResponseOk->euiccCancelSessionSigned;
    if (split_signed(&raw, &a, &pos, &sgd, &sig)) {
        smdp_call_fail(c, "1.6", "2.1", "cancelSessionResponse");
        goto out;
    }
    /* Before AuthenticateClient the SM-DP+ has no PK.EUICC.SIG yet, so the
     * signature cannot be verified; nothing is bound to the session either
     * (no order, no counter), so after the checks that need no key the
     * session simply ends and the answer is success (see
     * spec-notes/es9plus.md). */
    if (ss->euicc_key &&
        rsp_ecdsa_verify(ss->euicc_key, sgd.tlv, sgd.tlv_len, sig.val, sig.val_len)) {
        smdp_call_fail(c, "8.1", "6.1", "eUICC signature is invalid");
        goto out;
    }
    if (!octets_eq(&cs->transactionId, ss->tid, SMDP_TID_LEN)) {
        smdp_call_fail(c, "8.10.1", "3.9", "signed transactionId is not this session's");
        goto out;
    }
    const struct smdp_cred *cred = smdp_cred_get(c->s, ss->cred);
    if (cred->oid_len && (cs->smdpOid.size < 0 || (size_t)cs->smdpOid.size != cred->oid_len ||
                          memcmp(cs->smdpOid.buf, cred->oid, cred->oid_len))) {
        smdp_call_fail(c, "8.8", "3.10", "The provided SM-DP+ OID is invalid");
        goto out;
    }
    keep = 0;
    if (!ss->euicc_key)
        goto done;
    long reason = cs->reason;
    if (smdp_store_order_get(c->st, SMDP_ORDER_BY_MATCHING_ID, ss->matching_id, &ord) == 0 &&
        smdp_store_profile_get(c->st, ord.iccid, 0, &prof) == 0) {
        int pstate = prof.state;
        /* postponed (1) and timeout (2) keep the order downloadable
         * (§3.1.3: the end user may retry later); any other reason ends it. */
        if (reason != 1 && reason != 2 && ord.state == SMDP_ORDER_ACTIVE) {
            e = smdp_store_order_transition(c->st, ord.matching_id, SMDP_ORDER_ACTIVE,
                                            SMDP_ORDER_FAILED, prof.state, SMDP_PROFILE_ERROR);
            if (e)
                RSP_LOG(RSP_LOG_WARN, LOGD, "cancel %s: %s", ord.matching_id, smdp_strerror(e));
            else
                pstate = SMDP_PROFILE_ERROR;
        }
        char rs[16];
        snprintf(rs, sizeof(rs), "%ld", reason);
        progress(c, &ord, ss->eid, SMDP_STEP_CANCELLED, 0, NULL, rs, pstate);
    }
done:
    *resp = json_object();
    if (!*resp) {
        internal(c, "response", RSP_ERR_NOMEM);
        goto out;
    }
    rc = 0;
out:
    if (ss) {
        if (keep)
            smdp_sess_put(c->s, ss, c->now);
        else
            smdp_sess_free(ss);
    }
    smdp_profile_clear(&prof);
    rsp_asn1_free(&asn_DEF_CancelSessionResponse, csr);
    rsp_buf_free(&raw);
    return rc ? -1 : 0;
}

static const struct {
    const char *name;
    smdp_fn fn;
} es9_functions[] = {
    { "initiateAuthentication", es9_initiate_authentication },
    { "authenticateClient", es9_authenticate_client },
    { "getBoundProfilePackage", es9_get_bound_profile_package },
    { "handleNotification", es9_handle_notification },
    { "cancelSession", es9_cancel_session },
};

smdp_fn smdp_es9_lookup(const char *function)
{
    if (!function)
        return NULL;
    for (size_t i = 0; i < sizeof(es9_functions) / sizeof(es9_functions[0]); i++)
        if (!strcmp(es9_functions[i].name, function))
            return es9_functions[i].fn;
    return NULL;
}
