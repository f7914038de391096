/*
 * smdp_es2.c - ES2+ (operator -> SM-DP+), SGP.22 v2.5 §5.3.1 DownloadOrder,
 * §5.3.2 ConfirmOrder, §5.3.3 CancelOrder, §5.3.4 ReleaseProfile; JSON names
 * of §6.5.2.x. HandleDownloadProgressInfo (§5.3.5) goes the other way
 * (smdp_notify.c).
 *
 * The caller is the operator whose TLS client certificate authenticated the
 * connection (req->operator_id). A profile of another operator is answered
 * exactly like an unknown ICCID (8.2.1 / 3.9): no oracle.
 *
 * Status codes (subjectCode / reasonCode, SGP.22 §5.3.x error tables):
 *   DownloadOrder   8.1.1/2.1 EID invalid
 *                   8.2.1/2.1 ICCID invalid   8.2.1/3.9 ICCID unknown
 *                   8.2.1/3.7 profile not available
 *                   8.2.5/3.9 profileType unknown
 *                   8.2.5/3.7 no more profile available for profileType
 *                   1.6/2.3   neither iccid nor profileType
 *   ConfirmOrder    8.2.1/3.9 unknown   8.2.1/3.5 invalid transition
 *                   8.1.1/3.10 EID differs from the one of DownloadOrder
 *                   8.2.6/3.3 matchingId already in use   8.2.6/2.1 invalid
 *                   8.2.7/2.1 confirmationCode invalid
 *   CancelOrder     8.2.1/3.9, 8.2.1/3.5, 8.1.1/3.10, 8.2.6/3.10 (matchingId
 *                   does not belong to the order), 1.6/2.1 bad
 *                   finalProfileStatusIndicator
 *   ReleaseProfile  8.2.1/3.9, 8.2.1/3.5
 *   common          1.6/2.1 invalid, 1.6/2.2 mandatory element missing,
 *                   1.2/4.2 execution error (store failure)
 *
 * Store mapping: DownloadOrder creates the order (generated matchingId, the
 * profile Available -> Allocated/Linked, one transaction). ConfirmOrder
 * updates that order in one transaction (smdp_store_order_confirm): the EID,
 * the confirmation code hash, the operator-chosen matchingId (else the one
 * generated at DownloadOrder stays) and Allocated/Linked -> Confirmed or
 * Released (releaseFlag); the profile is never free in between.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "rsp_err.h"
#include "rsp_log.h"
#include "rsp_util.h"
#include "smdp.h"
#include "smdp_ac.h"

#define LOG_DOM "smdp-es2"

#define ES2_ORDER_TTL_DEFAULT (7u * 24u * 3600u)
#define ES2_LIMIT_DEFAULT 5u

/* ---- parameters ---- */

/* Optional string member: 0 absent, 1 present (copied), -1 failed. */
static int opt_str(struct smdp_call *c, json_t *req, const char *name, char *out,
                   size_t outsz, const char *subject)
{
    json_t *v = json_object_get(req, name);
    char msg[64];

    out[0] = '\0';
    if (!v)
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= outsz ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(msg, sizeof(msg), "%s invalid", name);
        return smdp_call_fail(c, subject, "2.1", msg);
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 1;
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* ICCID: 19 or 20 digits, the 20th may be padding F (§6.5.2: "String of 19
 * or 20 digits"); stored without padding. */
static int get_iccid(struct smdp_call *c, json_t *req, int mandatory, char iccid[21])
{
    int rc = opt_str(c, req, "iccid", iccid, 21, "8.2.1");
    size_t n;

    if (rc < 0)
        return -1;
    if (rc == 0)
        return mandatory ? smdp_call_fail(c, "1.6", "2.2", "iccid") : 0;
    n = strlen(iccid);
    if (n == 20 && (iccid[19] == 'F' || iccid[19] == 'f'))
        iccid[--n] = '\0';
    if (n < 18 || n > 20 || !all_digits(iccid, n))
        return smdp_call_fail(c, "8.2.1", "2.1", "iccid invalid");
    return 1;
}

static int get_eid(struct smdp_call *c, json_t *req, char eid[33])
{
    int rc = opt_str(c, req, "eid", eid, 33, "8.1.1");
    if (rc <= 0)
        return rc;
    /* 32 digits with valid MOD 97-10 check digits (SGP.29 §2.2) */
    if (strlen(eid) != 32 || !all_digits(eid, 32) || rsp_eid_check(eid) != RSP_OK)
        return smdp_call_fail(c, "8.1.1", "2.1", "eid invalid");
    return 1;
}

static int store_fail(struct smdp_call *c, int rc, const char *what)
{
    RSP_LOG(RSP_LOG_WARN, LOG_DOM, "%s: %s", what, smdp_strerror(rc));
    return smdp_call_fail(c, "1.2", "4.2", NULL);
}

/* The profile, if it exists and belongs to the caller; otherwise the same
 * "unknown ICCID" answer either way. */
static int own_profile(struct smdp_call *c, const char *iccid, struct smdp_profile *p)
{
    int rc = smdp_store_profile_get(c->st, iccid, 0, p);
    if (rc == RSP_ERR_NOTFOUND)
        return smdp_call_fail(c, "8.2.1", "3.9", "iccid unknown");
    if (rc)
        return store_fail(c, rc, "profile get");
    if (strcmp(p->operator_id, c->req->operator_id) != 0) {
        smdp_profile_clear(p);
        return smdp_call_fail(c, "8.2.1", "3.9", "iccid unknown");
    }
    return 0;
}

/* The ACTIVE order of an own ICCID into o (zeroed first), the profile's
 * state into *pstate. 1 found, 0 none, -1 with the failure recorded. */
static int own_order(struct smdp_call *c, const char *iccid, struct smdp_order *o,
                     int *pstate)
{
    struct smdp_profile p;
    int rc;

    memset(&p, 0, sizeof(p));
    memset(o, 0, sizeof(*o));
    if (own_profile(c, iccid, &p))
        return -1;
    *pstate = p.state;
    smdp_profile_clear(&p);
    rc = smdp_store_order_get(c->st, SMDP_ORDER_BY_ICCID, iccid, o);
    if (rc == RSP_ERR_NOTFOUND)
        return 0;
    if (rc)
        return store_fail(c, rc, "order get");
    return o->state == SMDP_ORDER_ACTIVE && strcmp(o->operator_id, c->req->operator_id) == 0;
}

static void order_defaults(struct smdp_call *c, struct smdp_order *o)
{
    const struct smdp_config *cfg = smdp_config_of(c->s);
    unsigned ttl = cfg && cfg->order_ttl ? cfg->order_ttl : ES2_ORDER_TTL_DEFAULT;

    snprintf(o->operator_id, sizeof(o->operator_id), "%s", c->req->operator_id);
    snprintf(o->smdp_address, sizeof(o->smdp_address), "%s",
             smdp_fqdn(c->s) ? smdp_fqdn(c->s) : "");
    o->expires = c->now + ttl;
    o->cc_limit = cfg && cfg->cc_limit ? cfg->cc_limit : ES2_LIMIT_DEFAULT;
    o->download_limit = cfg && cfg->download_limit ? cfg->download_limit : ES2_LIMIT_DEFAULT;
}

/* ---- DownloadOrder §5.3.1 ---- */

struct ptype_pick {
    const char *ptype;
    int seen;
    size_t n;
    char iccid[16][21];
};

static int pick_cb(const struct smdp_profile *p, void *arg)
{
    struct ptype_pick *k = arg;
    if (strcmp(p->profile_type, k->ptype) != 0)
        return 0;
    k->seen = 1;
    if (p->state == SMDP_PROFILE_AVAILABLE && k->n < 16)
        memcpy(k->iccid[k->n++], p->iccid, 21);
    return k->n == 16;
}

static int try_create(struct smdp_call *c, struct smdp_order *o)
{
    int rc;
    for (int tries = 0; tries < 3; tries++) {
        if (smdp_matching_id_generate(o->matching_id))
            return RSP_ERR_CRYPTO;
        rc = smdp_store_order_create(c->st, o);
        if (rc != SMDP_ERR_EXISTS)
            return rc;
    }
    return SMDP_ERR_EXISTS;
}

static int es2_download_order(struct smdp_call *c, json_t *req, json_t **resp)
{
    char iccid[21], eid[33], ptype[101];
    int has_iccid, has_eid, has_ptype, rc;
    struct smdp_order o;

    if ((has_eid = get_eid(c, req, eid)) < 0 || (has_iccid = get_iccid(c, req, 0, iccid)) < 0 ||
        (has_ptype = opt_str(c, req, "profileType", ptype, sizeof(ptype), "8.2.5")) < 0)
        return -1;
    if (!has_iccid && !has_ptype)
        return smdp_call_fail(c, "1.6", "2.3", "iccid or profileType");

    memset(&o, 0, sizeof(o));
    order_defaults(c, &o);
    if (has_eid)
        memcpy(o.eid, eid, sizeof(o.eid));

    if (has_iccid) {
        struct smdp_profile p;
        memset(&p, 0, sizeof(p));
        if (own_profile(c, iccid, &p))
            return -1;
        int wrong_type = has_ptype && strcmp(p.profile_type, ptype) != 0;
        int state = p.state;
        smdp_profile_clear(&p);
        if (wrong_type)
            return smdp_call_fail(c, "8.2.1", "3.7", "iccid not of that profileType");
        if (state != SMDP_PROFILE_AVAILABLE)
            return smdp_call_fail(c, "8.2.1", "3.7", "profile not available");
        memcpy(o.iccid, iccid, sizeof(o.iccid));
        rc = try_create(c, &o);
        if (rc == RSP_ERR_STATE || rc == RSP_ERR_NOTFOUND)
            return smdp_call_fail(c, "8.2.1", "3.7", "profile not available");
        if (rc)
            return store_fail(c, rc, "order create");
    } else {
        struct ptype_pick k;
        memset(&k, 0, sizeof(k));
        k.ptype = ptype;
        rc = smdp_store_profile_list(c->st, c->req->operator_id, pick_cb, &k);
        if (rc < 0)
            return store_fail(c, rc, "profile list");
        if (!k.seen)
            return smdp_call_fail(c, "8.2.5", "3.9", "profileType unknown");
        rc = RSP_ERR_NOTFOUND;
        for (size_t i = 0; i < k.n; i++) {
            memcpy(o.iccid, k.iccid[i], sizeof(o.iccid));
            rc = try_create(c, &o);
            if (rc != RSP_ERR_STATE && rc != RSP_ERR_NOTFOUND)
                break;    /* taken meanwhile by a concurrent order: next */
        }
        if (rc == RSP_ERR_STATE || rc == RSP_ERR_NOTFOUND)
            return smdp_call_fail(c, "8.2.5", "3.7", "no profile available for profileType");
        if (rc)
            return store_fail(c, rc, "order create");
    }
    RSP_LOG(RSP_LOG_INFO, LOG_DOM, "downloadOrder %s: iccid %s order %s", c->req->operator_id,
            o.iccid, o.matching_id);
    *resp = json_pack("{s:s}", "iccid", o.iccid);
    return *resp ? 0 : smdp_call_fail(c, "1.2", "4.2", NULL);
}

/* ---- ConfirmOrder §5.3.2 ---- */

static int es2_confirm_order(struct smdp_call *c, json_t *req, json_t **resp)
{
    char iccid[21], eid[33], mid[SMDP_MID_MAX + 1], cc[65], smds[SMDP_FQDN_MAX + 1];
    int has_eid, has_mid, has_cc, rc, found, release;
    json_t *rf;
    struct smdp_order o;

    if (get_iccid(c, req, 1, iccid) < 0 || (has_eid = get_eid(c, req, eid)) < 0 ||
        (has_mid = opt_str(c, req, "matchingId", mid, sizeof(mid), "8.2.6")) < 0 ||
        (has_cc = opt_str(c, req, "confirmationCode", cc, sizeof(cc), "8.2.7")) < 0 ||
        opt_str(c, req, "smdsAddress", smds, sizeof(smds), "8.9") < 0)
        return -1;
    rf = json_object_get(req, "releaseFlag");
    if (!rf)
        return smdp_call_fail(c, "1.6", "2.2", "releaseFlag");
    if (!json_is_boolean(rf))
        return smdp_call_fail(c, "1.6", "2.1", "releaseFlag invalid");
    release = json_is_true(rf);
    if (has_mid && !smdp_matching_id_valid(mid))
        return smdp_call_fail(c, "8.2.6", "2.1", "matchingId invalid");
    if (has_cc && cc[0] == '\0')
        return smdp_call_fail(c, "8.2.7", "2.1", "confirmationCode invalid");
    if (smds[0])
        /* SM-DS registration (ES12) is not provided by this SM-DP+ */
        return smdp_call_fail(c, "8.9", "5.1", "SM-DS not reachable");

    int pstate;
    found = own_order(c, iccid, &o, &pstate);
    if (found < 0)
        return -1;
    if (!found || (pstate != SMDP_PROFILE_ALLOCATED && pstate != SMDP_PROFILE_LINKED))
        return smdp_call_fail(c, "8.2.1", "3.5", "profile not in Allocated or Linked");
    if (has_eid && o.eid[0] && strcmp(o.eid, eid) != 0)
        return smdp_call_fail(c, "8.1.1", "3.10", "eid differs from the order's");
    if (has_mid && strcmp(mid, o.matching_id) != 0) {
        struct smdp_order x;
        rc = smdp_store_order_get(c->st, SMDP_ORDER_BY_MATCHING_ID, mid, &x);
        if (rc == RSP_OK)
            return smdp_call_fail(c, "8.2.6", "3.3", "matchingId already in use");
        if (rc != RSP_ERR_NOTFOUND)
            return store_fail(c, rc, "order get");
    }

    struct smdp_confirm cf = {
        .eid = has_eid ? eid : NULL,
        .matching_id = has_mid ? mid : NULL,
        .profile_from = pstate,
        .profile_to = release ? SMDP_PROFILE_RELEASED : SMDP_PROFILE_CONFIRMED,
    };
    uint8_t cc_hash[32];
    if (has_cc) {
        const struct smdp_config *cfg = smdp_config_of(c->s);
        rc = smdp_cc_hash(cc, cc_hash);
        OPENSSL_cleanse(cc, sizeof(cc));
        if (rc)
            return smdp_call_fail(c, "1.2", "4.2", NULL);
        cf.cc_hash = cc_hash;
        cf.cc_limit = cfg && cfg->cc_limit ? cfg->cc_limit : ES2_LIMIT_DEFAULT;
    }
    rc = smdp_store_order_confirm(c->st, o.matching_id, &cf);
    OPENSSL_cleanse(cc_hash, sizeof(cc_hash));
    if (rc == SMDP_ERR_EXISTS)
        return smdp_call_fail(c, "8.2.6", "3.3", "matchingId already in use");
    if (rc == RSP_ERR_STATE || rc == RSP_ERR_NOTFOUND)
        return smdp_call_fail(c, "8.2.1", "3.5", "invalid transition");
    if (rc)
        return store_fail(c, rc, "order confirm");
    if (has_mid)
        memcpy(o.matching_id, mid, sizeof(o.matching_id));
    if (has_eid)
        memcpy(o.eid, eid, sizeof(o.eid));
    RSP_LOG(RSP_LOG_INFO, LOG_DOM, "confirmOrder %s: iccid %s order %s %s", c->req->operator_id,
            iccid, o.matching_id, release ? "released" : "confirmed");
    *resp = json_pack("{s:s, s:s}", "matchingId", o.matching_id, "smdpAddress", o.smdp_address);
    if (*resp && o.eid[0])
        json_object_set_new(*resp, "eid", json_string(o.eid));
    return *resp ? 0 : smdp_call_fail(c, "1.2", "4.2", NULL);
}

/* ---- CancelOrder §5.3.3 ---- */

static int es2_cancel_order(struct smdp_call *c, json_t *req, json_t **resp)
{
    char iccid[21], eid[33], mid[SMDP_MID_MAX + 1], fpsi[32];
    int has_eid, has_mid, has_fpsi, rc, found, target;
    struct smdp_order o;

    (void)resp;
    if (get_iccid(c, req, 1, iccid) < 0 || (has_eid = get_eid(c, req, eid)) < 0 ||
        (has_mid = opt_str(c, req, "matchingId", mid, sizeof(mid), "8.2.6")) < 0 ||
        (has_fpsi = opt_str(c, req, "finalProfileStatusIndicator", fpsi, sizeof(fpsi), "1.6")) < 0)
        return -1;
    if (!has_fpsi)
        return smdp_call_fail(c, "1.6", "2.2", "finalProfileStatusIndicator");
    if (strcmp(fpsi, "Available") == 0)
        target = SMDP_PROFILE_AVAILABLE;
    else if (strcmp(fpsi, "Unavailable") == 0)
        target = SMDP_PROFILE_UNAVAILABLE;
    else
        return smdp_call_fail(c, "1.6", "2.1", "finalProfileStatusIndicator invalid");

    int pstate;
    found = own_order(c, iccid, &o, &pstate);
    if (found < 0)
        return -1;
    if (found) {
        if (has_eid && o.eid[0] && strcmp(o.eid, eid) != 0)
            return smdp_call_fail(c, "8.1.1", "3.10", "eid does not match the order");
        if (has_mid && strcmp(mid, o.matching_id) != 0)
            return smdp_call_fail(c, "8.2.6", "3.10", "matchingId does not match the order");
        rc = smdp_store_order_transition(c->st, o.matching_id, SMDP_ORDER_ACTIVE,
                                         SMDP_ORDER_CANCELLED, pstate, target);
    } else {
        if (has_mid)
            return smdp_call_fail(c, "8.2.6", "3.10", "matchingId does not match the order");
        /* no live order (failed or expired): only the profile moves, e.g.
         * Error -> Available */
        rc = smdp_store_profile_transition(c->st, iccid, pstate, target);
    }
    if (rc == RSP_ERR_STATE)
        return smdp_call_fail(c, "8.2.1", "3.5", "profile cannot be cancelled in its state");
    if (rc)
        return store_fail(c, rc, "cancel");
    RSP_LOG(RSP_LOG_INFO, LOG_DOM, "cancelOrder %s: iccid %s -> %s", c->req->operator_id, iccid,
            fpsi);
    *resp = json_object();
    return *resp ? 0 : smdp_call_fail(c, "1.2", "4.2", NULL);
}

/* ---- ReleaseProfile §5.3.4 ---- */

static int es2_release_profile(struct smdp_call *c, json_t *req, json_t **resp)
{
    char iccid[21];
    int rc, found;
    struct smdp_order o;

    if (get_iccid(c, req, 1, iccid) < 0)
        return -1;
    int pstate;
    found = own_order(c, iccid, &o, &pstate);
    if (found < 0)
        return -1;
    if (!found || pstate != SMDP_PROFILE_CONFIRMED)
        return smdp_call_fail(c, "8.2.1", "3.5", "profile not in Confirmed");
    rc = smdp_store_order_transition(c->st, o.matching_id, SMDP_ORDER_ACTIVE, SMDP_ORDER_ACTIVE,
                                     SMDP_PROFILE_CONFIRMED, SMDP_PROFILE_RELEASED);
    if (rc == RSP_ERR_STATE)
        return smdp_call_fail(c, "8.2.1", "3.5", "profile not in Confirmed");
    if (rc)
        return store_fail(c, rc, "release");
    *resp = json_object();
    return *resp ? 0 : smdp_call_fail(c, "1.2", "4.2", NULL);
}

smdp_fn smdp_es2_lookup(const char *function)
{
    static const struct {
        const char *name;
        smdp_fn fn;
    } tab[] = {
        { "downloadOrder", es2_download_order },
        { "confirmOrder", es2_confirm_order },
        { "cancelOrder", es2_cancel_order },
        { "releaseProfile", es2_release_profile },
    };
    if (!function)
        return NULL;
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
        if (strcmp(tab[i].name, function) == 0)
            return tab[i].fn;
    return NULL;
}
