/*
 * rsp_pki.c - private test PKI generator. See rsp_pki.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "rsp_err.h"
#include "rsp_pki.h"
#include "rsp_util.h"

#define YEAR ((time_t)365 * 24 * 3600)
#define CRL_A "http://ci.rsp.example.test/CRL-A.crl"
#define CRL_B "http://ci.rsp.example.test/CRL-B.crl"
/* SAN registeredIDs: the 2.999 test arc, as in SGP.26. */
#define RID_CI  "2.999.1"
#define RID_EUM "2.999.5"
#define RID_DP  "2.999.10"
#define RID_DP2 "2.999.12"

void rsp_pki_cred_free(struct rsp_pki_cred *c)
{
    if (!c)
        return;
    X509_free(c->cert);
    EVP_PKEY_free(c->key);
    c->cert = NULL;
    c->key = NULL;
}

int rsp_pki_keygen(int curve, EVP_PKEY **out)
{
    const char *name;

    if (!out)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (curve == RSP_CURVE_P256)
        name = "P-256";
    else if (curve == RSP_CURVE_BRAINPOOLP256R1)
        name = "brainpoolP256r1";
    else
        return RSP_ERR_UNSUPPORTED;
    *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", name);
    return *out ? RSP_OK : RSP_ERR_CRYPTO;
}

/* ---- extension builders: each returns 1 on success -------------------------- */

static int add_ext(X509 *x, int nid, void *value, int crit)
{
    return X509_add1_ext_i2d(x, nid, value, crit, X509V3_ADD_REPLACE) == 1;
}

static GENERAL_NAME *gn_ia5(int type, const char *s)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

    if (!gn || !ia5 || !ASN1_STRING_set(ia5, s, (int)strlen(s))) {
        GENERAL_NAME_free(gn);
        ASN1_IA5STRING_free(ia5);
        return NULL;
    }
    GENERAL_NAME_set0_value(gn, type, ia5);
    return gn;
}

static GENERAL_NAME *gn_rid(const char *oid)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);

    if (!gn || !o) {
        GENERAL_NAME_free(gn);
        ASN1_OBJECT_free(o);
        return NULL;
    }
    GENERAL_NAME_set0_value(gn, GEN_RID, o);
    return gn;
}

static int push_gn(GENERAL_NAMES *gens, GENERAL_NAME *gn)
{
    if (!gn)
        return 0;
    if (!sk_GENERAL_NAME_push(gens, gn)) {
        GENERAL_NAME_free(gn);
        return 0;
    }
    return 1;
}

static int ext_ski(X509 *x)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    int ok;

    /* RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits, as
     * SGP.26 does. */
    ok = os && X509_pubkey_digest(x, EVP_sha1(), md, &n) &&
         ASN1_OCTET_STRING_set(os, md, (int)n) &&
         add_ext(x, NID_subject_key_identifier, os, 0);
    ASN1_OCTET_STRING_free(os);
    return ok;
}

static int ext_aki(X509 *x, const X509 *issuer)
{
    uint8_t kid[RSP_X509_PKID_MAX];
    AUTHORITY_KEYID *aki = AUTHORITY_KEYID_new();
    int n = rsp_x509_get_ski(issuer, kid, sizeof kid), ok;

    ok = aki && n > 0 && (aki->keyid = ASN1_OCTET_STRING_new()) != NULL &&
         ASN1_OCTET_STRING_set(aki->keyid, kid, n) &&
         add_ext(x, NID_authority_key_identifier, aki, 0);
    AUTHORITY_KEYID_free(aki);
    return ok;
}

static int ext_key_usage(X509 *x, const int *bits, size_t n)
{
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    int ok = ku != NULL;

    for (size_t i = 0; ok && i < n; i++)
        ok = ASN1_BIT_STRING_set_bit(ku, bits[i], 1);
    ok = ok && add_ext(x, NID_key_usage, ku, 1);
    ASN1_BIT_STRING_free(ku);
    return ok;
}

static int ext_basic_constraints(X509 *x, int pathlen)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    int ok = bc != NULL;

    if (ok) {
        bc->ca = 1;
        if (pathlen >= 0)
            ok = (bc->pathlen = ASN1_INTEGER_new()) != NULL &&
                 ASN1_INTEGER_set(bc->pathlen, pathlen);
    }
    ok = ok && add_ext(x, NID_basic_constraints, bc, 1);
    BASIC_CONSTRAINTS_free(bc);
    return ok;
}

static int ext_policy(X509 *x, int role, int crit)
{
    char oid[32];
    CERTIFICATEPOLICIES *cp = sk_POLICYINFO_new_null();
    POLICYINFO *pi = POLICYINFO_new();
    int ok;

    snprintf(oid, sizeof oid, "2.23.146.1.2.1.%d", role);
    ok = cp && pi;
    if (ok) {
        ASN1_OBJECT_free(pi->policyid);
        pi->policyid = OBJ_txt2obj(oid, 1);
        ok = pi->policyid && sk_POLICYINFO_push(cp, pi);
    }
    if (ok)
        pi = NULL;
    ok = ok && add_ext(x, NID_certificate_policies, cp, crit);
    POLICYINFO_free(pi);
    sk_POLICYINFO_pop_free(cp, POLICYINFO_free);
    return ok;
}

static int ext_eku(X509 *x, int server)
{
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    int ok = eku != NULL;

    /* SGP.26 TLS certificates carry both; an operator is a client only. */
    if (ok && server)
        ok = sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) > 0;
    ok = ok && sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)) > 0;
    ok = ok && add_ext(x, NID_ext_key_usage, eku, 1);
    sk_ASN1_OBJECT_free(eku);   /* static objects */
    return ok;
}

static int ext_san(X509 *x, const char *const *dns, size_t n_dns, const char *rid)
{
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    int ok = gens != NULL;

    for (size_t i = 0; ok && i < n_dns; i++)
        ok = push_gn(gens, gn_ia5(GEN_DNS, dns[i]));
    if (ok && rid)
        ok = push_gn(gens, gn_rid(rid));
    ok = ok && add_ext(x, NID_subject_alt_name, gens, 0);
    GENERAL_NAMES_free(gens);
    return ok;
}

static int ext_crl_dp(X509 *x, const char *const *uris, size_t n)
{
    CRL_DIST_POINTS *dps = sk_DIST_POINT_new_null();
    int ok = dps != NULL;

    /* One DistributionPoint per URI, as in SGP.26. */
    for (size_t i = 0; ok && i < n; i++) {
        DIST_POINT *dp = DIST_POINT_new();
        ok = dp && (dp->distpoint = DIST_POINT_NAME_new()) != NULL &&
             (dp->distpoint->name.fullname = GENERAL_NAMES_new()) != NULL;
        if (ok) {
            dp->distpoint->type = 0;
            ok = push_gn(dp->distpoint->name.fullname, gn_ia5(GEN_URI, uris[i]));
        }
        if (ok && !sk_DIST_POINT_push(dps, dp))
            ok = 0;
        if (!ok)
            DIST_POINT_free(dp);
    }
    ok = ok && add_ext(x, NID_crl_distribution_points, dps, 0);
    sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
    return ok;
}

static int ext_name_constraints(X509 *x, const char *org, const char *prefix)
{
    NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
    GENERAL_SUBTREE *st = GENERAL_SUBTREE_new();
    X509_NAME *dn = X509_NAME_new();
    int ok;

    ok = nc && st && dn &&
         X509_NAME_add_entry_by_NID(dn, NID_organizationName, MBSTRING_UTF8,
                                    (const unsigned char *)org, -1, -1, 0) &&
         X509_NAME_add_entry_by_NID(dn, NID_serialNumber, MBSTRING_ASC,
                                    (const unsigned char *)prefix, -1, -1, 0) &&
         (nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null()) != NULL;
    if (ok) {
        GENERAL_NAME_free(st->base);
        st->base = GENERAL_NAME_new();
        ok = st->base != NULL;
    }
    if (ok) {
        GENERAL_NAME_set0_value(st->base, GEN_DIRNAME, dn);
        dn = NULL;
        ok = sk_GENERAL_SUBTREE_push(nc->permittedSubtrees, st) > 0;
    }
    if (ok)
        st = NULL;
    ok = ok && add_ext(x, NID_name_constraints, nc, 1);
    X509_NAME_free(dn);
    GENERAL_SUBTREE_free(st);
    NAME_CONSTRAINTS_free(nc);
    return ok;
}

/* ---- issuing ------------------------------------------------------------- */

static int random_u64(uint64_t *v)
{
    unsigned char b[8];
    if (RAND_bytes(b, sizeof b) != 1)
        return 0;
    *v = 0;
    for (size_t i = 0; i < sizeof b; i++)
        *v = (*v << 8) | b[i];
    return 1;
}

static int set_validity(X509 *x, const struct rsp_pki_cert_params *p)
{
    time_t now = p->now ? p->now : time(NULL);
    time_t nb = p->not_before ? p->not_before : now - 3600;
    time_t na = p->not_after;

    if (!na) {
        switch (p->role) {
        case RSP_X509_ROLE_CI: na = nb + 35 * YEAR; break;
        case RSP_X509_ROLE_EUM: na = nb + 34 * YEAR; break;
        case RSP_X509_ROLE_EUICC: na = RSP_PKI_NOT_AFTER_NONE; break;
        case RSP_X509_ROLE_DP_AUTH:
        case RSP_X509_ROLE_DP_PB:
        case RSP_X509_ROLE_DS_AUTH: na = nb + 10 * YEAR; break;
        default: na = nb + YEAR; break;
        }
    }
    if (!ASN1_TIME_set(X509_getm_notBefore(x), nb))
        return 0;
    if (na == RSP_PKI_NOT_AFTER_NONE)
        return ASN1_TIME_set_string(X509_getm_notAfter(x), "99991231235959Z");
    return ASN1_TIME_set(X509_getm_notAfter(x), na) != NULL;
}

static int add_extensions(X509 *x, const struct rsp_pki_cert_params *p, const X509 *issuer)
{
    static const int ku_ca[] = { 5, 6 };     /* keyCertSign, cRLSign */
    static const int ku_eum[] = { 5 };
    static const int ku_ee[] = { 0 };        /* digitalSignature */
    static const char *const crl_ab[] = { CRL_A, CRL_B };
    static const char *const crl_b[] = { CRL_B };

    switch (p->role) {
    case RSP_X509_ROLE_CI:
        return ext_ski(x) && ext_basic_constraints(x, -1) &&
               ext_policy(x, p->role, 1) && ext_key_usage(x, ku_ca, 2) &&
               ext_san(x, NULL, 0, p->rid ? p->rid : RID_CI) && ext_crl_dp(x, crl_ab, 2);
    case RSP_X509_ROLE_EUM:
        return p->eum_org && p->eum_prefix &&
               ext_aki(x, issuer) && ext_ski(x) && ext_key_usage(x, ku_eum, 1) &&
               ext_policy(x, p->role, 1) && ext_san(x, NULL, 0, p->rid ? p->rid : RID_EUM) &&
               ext_basic_constraints(x, 0) && ext_crl_dp(x, crl_b, 1) &&
               ext_name_constraints(x, p->eum_org, p->eum_prefix);
    case RSP_X509_ROLE_EUICC:
        return ext_aki(x, issuer) && ext_ski(x) && ext_key_usage(x, ku_ee, 1) &&
               ext_policy(x, p->role, 1);
    case RSP_X509_ROLE_DP_AUTH:
    case RSP_X509_ROLE_DP_PB:
    case RSP_X509_ROLE_DS_AUTH:
        return ext_aki(x, issuer) && ext_ski(x) &&
               ext_san(x, NULL, 0, p->rid ? p->rid : RID_DP) &&
               ext_key_usage(x, ku_ee, 1) && ext_policy(x, p->role, 1) &&
               ext_crl_dp(x, crl_ab, 2);
    case RSP_X509_ROLE_DP_TLS:
    case RSP_X509_ROLE_DS_TLS:
        return p->n_dns && p->dns &&
               ext_key_usage(x, ku_ee, 1) && ext_eku(x, 1) &&
               ext_policy(x, p->role, 0) && ext_ski(x) && ext_aki(x, issuer) &&
               ext_san(x, p->dns, p->n_dns, p->rid ? p->rid : RID_DP) &&
               ext_crl_dp(x, crl_ab, 2);
    case RSP_X509_ROLE_OPERATOR:
        return ext_key_usage(x, ku_ee, 1) && ext_eku(x, 0) && ext_ski(x) &&
               ext_aki(x, issuer) &&
               (!p->n_dns || ext_san(x, p->dns, p->n_dns, NULL));
    default:
        return 0;
    }
}

int rsp_pki_issue(const struct rsp_pki_cert_params *p, const struct rsp_pki_cred *issuer,
                  struct rsp_pki_cred *out)
{
    X509 *x = NULL;
    EVP_PKEY *key = NULL;
    X509_NAME *name = NULL;
    uint64_t serial = 0;
    int rc;

    if (!out)
        return RSP_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (!p || !p->subject || !p->n_subject ||
        (issuer ? !issuer->cert || !issuer->key : p->role != RSP_X509_ROLE_CI))
        return RSP_ERR_INVAL;

    if (p->key) {
        if (!EVP_PKEY_up_ref(p->key))
            return RSP_ERR_CRYPTO;
        key = p->key;
    } else {
        rc = rsp_pki_keygen(p->curve, &key);
        if (rc)
            return rc;
    }

    rc = RSP_ERR_CRYPTO;
    name = X509_NAME_new();
    if (!name)
        goto out;
    for (size_t i = 0; i < p->n_subject; i++) {
        /* UTF8String, except what OpenSSL's table fixes as PrintableString
         * (countryName, serialNumber): the SGP.26 encodings. */
        if (!p->subject[i].value ||
            !X509_NAME_add_entry_by_NID(name, p->subject[i].nid, MBSTRING_UTF8,
                                        (const unsigned char *)p->subject[i].value,
                                        -1, -1, 0)) {
            rc = RSP_ERR_INVAL;
            goto out;
        }
    }

    serial = p->serial;
    if (!serial) {
        if (!random_u64(&serial))
            goto out;
        serial = (serial >> 1) | 1;     /* positive, non-zero */
    }
    x = X509_new();
    if (!x || !X509_set_version(x, X509_VERSION_3) ||
        !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) ||
        !X509_set_subject_name(x, name) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert) : name) ||
        !set_validity(x, p) || !X509_set_pubkey(x, key))
        goto out;
    if (!add_extensions(x, p, issuer ? issuer->cert : x)) {
        rc = RSP_ERR_INVAL;
        goto out;
    }
    if (X509_sign(x, issuer ? issuer->key : key, EVP_sha256()) <= 0)
        goto out;
    out->cert = x;
    out->key = key;
    x = NULL;
    key = NULL;
    rc = RSP_OK;
out:
    X509_NAME_free(name);
    X509_free(x);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return rc;
}

/* ---- files --------------------------------------------------------------- */

static int mkdir_p(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof path)
        return RSP_ERR_INVAL;
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != 0)
            continue;
        char c = path[i];
        path[i] = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return RSP_ERR_IO;
        path[i] = c;
    }
    return RSP_OK;
}

static FILE *open_out(const char *dir, const char *prefix, const char *stem,
                      const char *ext, int private)
{
    char path[4096];
    int fd;
    FILE *f;

    if ((size_t)snprintf(path, sizeof path, "%s/%s%s%s", dir, prefix, stem, ext) >= sizeof path)
        return NULL;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, private ? 0600 : 0644);
    if (fd < 0)
        return NULL;
    /* an existing key file keeps its mode through O_TRUNC: narrow it */
    if (private && fchmod(fd, 0600) != 0) {
        close(fd);
        return NULL;
    }
    f = fdopen(fd, "wb");
    if (!f)
        close(fd);
    return f;
}

static int finish(FILE *f, int ok)
{
    if (!f)
        return 0;
    if (fclose(f) != 0)
        ok = 0;
    return ok;
}

static int write_der(const char *dir, const char *stem, X509 *c)
{
    unsigned char *der = NULL;
    int n = i2d_X509(c, &der), ok;
    FILE *f;

    if (n <= 0)
        return 0;
    f = open_out(dir, "CERT_", stem, ".der", 0);
    ok = f && fwrite(der, 1, (size_t)n, f) == (size_t)n;
    OPENSSL_free(der);
    return finish(f, ok);
}

static int write_key(const char *dir, const char *stem, EVP_PKEY *k)
{
    FILE *f = open_out(dir, "SK_", stem, ".pem", 1);
    return finish(f, f && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL));
}

int rsp_pki_write_cred(const char *dir, const char *stem, const struct rsp_pki_cred *c)
{
    FILE *f;
    int rc;

    if (!dir || !stem || !c || !c->cert || !c->key)
        return RSP_ERR_INVAL;
    rc = mkdir_p(dir);
    if (rc)
        return rc;
    if (!write_der(dir, stem, c->cert) || !write_key(dir, stem, c->key))
        goto fail;
    f = open_out(dir, "CERT_", stem, ".pem", 0);
    if (!finish(f, f && PEM_write_X509(f, c->cert)))
        goto fail;
    f = open_out(dir, "PK_", stem, ".pem", 0);
    if (!finish(f, f && PEM_write_PUBKEY(f, c->key)))
        goto fail;
    return RSP_OK;
fail:
    ERR_clear_error();
    return RSP_ERR_IO;
}

int rsp_pki_load_cred(const char *cert_path, const char *key_path, struct rsp_pki_cred *out)
{
    FILE *f;
    int rc;

    if (!out)
        return RSP_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (!cert_path || !key_path)
        return RSP_ERR_INVAL;
    rc = rsp_x509_load_file(cert_path, &out->cert);
    if (rc)
        return rc == RSP_ERR_IO ? RSP_ERR_NOTFOUND : rc;
    f = fopen(key_path, "r");
    if (!f) {
        rc = RSP_ERR_NOTFOUND;
        goto fail;
    }
    out->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!out->key) {
        rc = RSP_ERR_DECODE;
        goto fail;
    }
    if (X509_check_private_key(out->cert, out->key) != 1) {
        rc = RSP_ERR_CERT;
        goto fail;
    }
    return RSP_OK;
fail:
    rsp_pki_cred_free(out);
    ERR_clear_error();
    return rc;
}

/* ---- EIDs ---------------------------------------------------------------- */

int rsp_pki_eid_make(const char *prefix, uint64_t n, char *eid)
{
    size_t plen, room;
    char digits[32];

    if (!eid)
        return RSP_ERR_INVAL;
    eid[0] = 0;
    if (!prefix)
        return RSP_ERR_INVAL;
    plen = strlen(prefix);
    if (plen < 1 || plen > 29)
        return RSP_ERR_EID;
    for (size_t i = 0; i < plen; i++)
        if (prefix[i] < '0' || prefix[i] > '9')
            return RSP_ERR_EID;
    room = 30 - plen;
    if (room < 20) {
        uint64_t mod = 1;
        for (size_t i = 0; i < room; i++)
            mod *= 10;
        n %= mod;
    }
    snprintf(digits, sizeof digits, "%0*llu", (int)room, (unsigned long long)n);
    memcpy(eid, prefix, plen);
    memcpy(eid + plen, digits, room);
    eid[30] = '0';
    eid[31] = '0';
    eid[32] = 0;
    return rsp_eid_set_check_digits(eid);
}

int rsp_pki_eid_random(const char *prefix, char *eid)
{
    uint64_t n;

    if (!random_u64(&n))
        return RSP_ERR_CRYPTO;
    return rsp_pki_eid_make(prefix, n, eid);
}

/* ---- the whole PKI --------------------------------------------------------- */

static const char *curve_tag(int curve)
{
    return curve == RSP_CURVE_P256 ? "NIST" : "BRP";
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
            return 0;
    return 1;
}

static int issue_write(const struct rsp_pki_cert_params *p, const struct rsp_pki_cred *issuer,
                       const char *dir, const char *sub, const char *stem,
                       struct rsp_pki_cred *out)
{
    char path[4096];
    struct rsp_pki_cred tmp = { 0 };
    int rc;

    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, sub) >= sizeof path)
        return RSP_ERR_INVAL;
    rc = rsp_pki_issue(p, issuer, out ? out : &tmp);
    if (rc == RSP_OK)
        rc = rsp_pki_write_cred(path, stem, out ? out : &tmp);
    rsp_pki_cred_free(&tmp);
    return rc;
}

struct gen_ctx {
    const struct rsp_pki_opts *o;
    int curve;
    const char *tag;
    time_t now;
    const char *prefix;
    const char *eid;
};

static int gen_dp(const struct gen_ctx *g, const struct rsp_pki_cred *ci, int second)
{
    const char *cn = second ? "TEST SM-DP+2" : "TEST SM-DP+";
    const char *host = second ? (g->o->dp2_host ? g->o->dp2_host : RSP_PKI_DEFAULT_DP2_HOST)
                              : (g->o->host ? g->o->host : RSP_PKI_DEFAULT_HOST);
    const char *dp = second ? "DP2" : "DP";
    struct rsp_pki_rdn subj[] = {
        { NID_organizationName, "ACME" }, { NID_commonName, cn },
    };
    struct rsp_pki_rdn tls_subj[] = {
        { NID_organizationName, "ACME" }, { NID_commonName, host },
    };
    struct rsp_pki_cert_params p = {
        .curve = g->curve, .subject = subj, .n_subject = 2, .now = g->now,
        .rid = second ? RID_DP2 : RID_DP,
    };
    char stem[128];
    int rc;

    p.role = RSP_X509_ROLE_DP_AUTH;
    snprintf(stem, sizeof stem, "S_SM_%sauth_ECDSA_%s", dp, g->tag);
    rc = issue_write(&p, ci, g->o->dir, "DPauth", stem, NULL);
    if (rc)
        return rc;
    p.role = RSP_X509_ROLE_DP_PB;
    snprintf(stem, sizeof stem, "S_SM_%spb_ECDSA_%s", dp, g->tag);
    rc = issue_write(&p, ci, g->o->dir, "DPpb", stem, NULL);
    if (rc)
        return rc;
    p.role = RSP_X509_ROLE_DP_TLS;
    p.subject = tls_subj;
    p.dns = &host;
    p.n_dns = 1;
    snprintf(stem, sizeof stem, "S_SM_%s_TLS_%s", dp, g->tag);
    return issue_write(&p, ci, g->o->dir, "DPtls", stem, NULL);
}

static int gen_negative(const struct gen_ctx *g, const struct rsp_pki_cred *ci,
                        const struct rsp_pki_cred *eum, const struct rsp_pki_cred *eu)
{
    const char *host = g->o->host ? g->o->host : RSP_PKI_DEFAULT_HOST;
    struct rsp_pki_rdn dp_subj[] = {
        { NID_organizationName, "ACME" }, { NID_commonName, "TEST SM-DP+" },
    };
    struct rsp_pki_rdn tls_subj[] = {
        { NID_organizationName, "ACME" }, { NID_commonName, host },
    };
    struct rsp_pki_rdn ci_subj[] = {
        { NID_commonName, "Foreign Test CI" }, { NID_organizationalUnitName, "TESTCERT" },
        { NID_organizationName, "FOREIGN" }, { NID_countryName, "XX" },
    };
    char eid[33], pfx[32], stem[128];
    struct rsp_pki_rdn eu_subj[] = {
        { NID_countryName, "ES" }, { NID_organizationName, RSP_PKI_DEFAULT_EUM_ORG },
        { NID_serialNumber, eid }, { NID_commonName, "Test eUICC" },
    };
    struct rsp_pki_cred foreign = { 0 };
    struct rsp_pki_cert_params p = { .curve = g->curve, .now = g->now };
    size_t plen = strlen(g->prefix);
    int rc;

    /* EID outside the range: same length prefix, last digit changed */
    memcpy(pfx, g->prefix, plen + 1);
    pfx[plen - 1] = (char)('0' + (pfx[plen - 1] - '0' + 1) % 10);
    rc = rsp_pki_eid_random(pfx, eid);
    if (rc)
        return rc;
    p.role = RSP_X509_ROLE_EUICC;
    p.subject = eu_subj;
    p.n_subject = 4;
    snprintf(stem, sizeof stem, "EUICC_ECDSA_%s_OUT_OF_RANGE", g->tag);
    rc = issue_write(&p, eum, g->o->dir, "Negative", stem, NULL);
    if (rc)
        return rc;

    p.role = RSP_X509_ROLE_DP_AUTH;
    p.subject = dp_subj;
    p.n_subject = 2;
    p.not_before = g->now - 2 * YEAR;
    p.not_after = g->now - YEAR;
    snprintf(stem, sizeof stem, "S_SM_DPauth_ECDSA_%s_EXPIRED", g->tag);
    rc = issue_write(&p, ci, g->o->dir, "Negative", stem, NULL);
    if (rc)
        return rc;

    p.role = RSP_X509_ROLE_DP_TLS;
    p.subject = tls_subj;
    p.dns = &host;
    p.n_dns = 1;
    snprintf(stem, sizeof stem, "S_SM_DP_TLS_%s_EXPIRED", g->tag);
    rc = issue_write(&p, ci, g->o->dir, "Negative", stem, NULL);
    if (rc)
        return rc;

    /* The EUM and the eUICC again, same keys, subjects and EID, but valid
     * only in the past: SM-DP+ AuthenticateClient 8.1.2/6.3 and 8.1.3/6.3
     * (SGP.22 §5.6.3) with signatures that still verify. */
    struct rsp_pki_rdn eum_subj[] = {
        { NID_countryName, "ES" }, { NID_organizationName, RSP_PKI_DEFAULT_EUM_ORG },
        { NID_commonName, "EUM Test" },
    };
    memset(&p, 0, sizeof p);
    p.curve = g->curve;
    p.now = g->now;
    p.not_before = g->now - 2 * YEAR;
    p.not_after = g->now - YEAR;
    p.role = RSP_X509_ROLE_EUM;
    p.key = eum->key;
    p.subject = eum_subj;
    p.n_subject = 3;
    p.eum_org = RSP_PKI_DEFAULT_EUM_ORG;
    p.eum_prefix = g->prefix;
    snprintf(stem, sizeof stem, "EUM_ECDSA_%s_EXPIRED", g->tag);
    rc = issue_write(&p, ci, g->o->dir, "Negative", stem, NULL);
    if (rc)
        return rc;
    snprintf(eid, sizeof eid, "%s", g->eid);
    p.role = RSP_X509_ROLE_EUICC;
    p.key = eu->key;
    p.subject = eu_subj;
    p.n_subject = 4;
    p.eum_org = NULL;
    p.eum_prefix = NULL;
    snprintf(stem, sizeof stem, "EUICC_ECDSA_%s_EXPIRED", g->tag);
    rc = issue_write(&p, eum, g->o->dir, "Negative", stem, NULL);
    if (rc)
        return rc;

    memset(&p, 0, sizeof p);
    p.curve = g->curve;
    p.now = g->now;
    p.role = RSP_X509_ROLE_CI;
    p.subject = ci_subj;
    p.n_subject = 4;
    snprintf(stem, sizeof stem, "CI_ECDSA_%s_FOREIGN", g->tag);
    rc = issue_write(&p, NULL, g->o->dir, "Negative", stem, &foreign);
    if (rc)
        goto out;
    p.role = RSP_X509_ROLE_DP_AUTH;
    p.subject = dp_subj;
    p.n_subject = 2;
    snprintf(stem, sizeof stem, "S_SM_DPauth_ECDSA_%s_FOREIGN_CI", g->tag);
    rc = issue_write(&p, &foreign, g->o->dir, "Negative", stem, NULL);
out:
    rsp_pki_cred_free(&foreign);
    return rc;
}

static int gen_curve(const struct gen_ctx *g)
{
    struct rsp_pki_rdn ci_subj[] = {
        { NID_commonName, "RSP Private Test CI" }, { NID_organizationalUnitName, "TESTCERT" },
        { NID_organizationName, "RSPTEST" }, { NID_countryName, "IT" },
    };
    struct rsp_pki_rdn eum_subj[] = {
        { NID_countryName, "ES" }, { NID_organizationName, RSP_PKI_DEFAULT_EUM_ORG },
        { NID_commonName, "EUM Test" },
    };
    struct rsp_pki_rdn eu_subj[] = {
        { NID_countryName, "ES" }, { NID_organizationName, RSP_PKI_DEFAULT_EUM_ORG },
        { NID_serialNumber, g->eid }, { NID_commonName, "Test eUICC" },
    };
    struct rsp_pki_cred ci = { 0 }, eum = { 0 }, eu = { 0 };
    struct rsp_pki_cert_params p = { .curve = g->curve, .now = g->now };
    char stem[128];
    int rc;

    p.role = RSP_X509_ROLE_CI;
    p.subject = ci_subj;
    p.n_subject = 4;
    snprintf(stem, sizeof stem, "CI_ECDSA_%s", g->tag);
    rc = issue_write(&p, NULL, g->o->dir, "CertificateIssuer", stem, &ci);
    if (rc)
        goto out;

    p.role = RSP_X509_ROLE_EUM;
    p.subject = eum_subj;
    p.n_subject = 3;
    p.eum_org = RSP_PKI_DEFAULT_EUM_ORG;
    p.eum_prefix = g->prefix;
    snprintf(stem, sizeof stem, "EUM_ECDSA_%s", g->tag);
    rc = issue_write(&p, &ci, g->o->dir, "EUM", stem, &eum);
    if (rc)
        goto out;

    p.role = RSP_X509_ROLE_EUICC;
    p.subject = eu_subj;
    p.n_subject = 4;
    snprintf(stem, sizeof stem, "EUICC_ECDSA_%s", g->tag);
    rc = issue_write(&p, &eum, g->o->dir, "eUICC", stem, &eu);
    if (rc)
        goto out;

    rc = gen_dp(g, &ci, 0);
    if (rc == RSP_OK && g->o->dp2)
        rc = gen_dp(g, &ci, 1);
    if (rc)
        goto out;

    for (size_t i = 0; i < g->o->n_operators; i++) {
        const char *name = g->o->operators[i];
        struct rsp_pki_rdn op_subj[] = {
            { NID_organizationName, name }, { NID_commonName, name },
        };
        struct rsp_pki_cert_params op = {
            .role = RSP_X509_ROLE_OPERATOR, .curve = g->curve, .now = g->now,
            .subject = op_subj, .n_subject = 2,
        };
        snprintf(stem, sizeof stem, "OP_%s_TLS_%s", name, g->tag);
        rc = issue_write(&op, &ci, g->o->dir, "Operator", stem, NULL);
        if (rc)
            goto out;
    }

    if (g->o->negative)
        rc = gen_negative(g, &ci, &eum, &eu);
out:
    rsp_pki_cred_free(&ci);
    rsp_pki_cred_free(&eum);
    rsp_pki_cred_free(&eu);
    return rc;
}

int rsp_pki_generate(struct rsp_pki_opts *o)
{
    struct gen_ctx g = { .o = o };
    unsigned curves;
    char eid[33];
    int rc;

    if (!o || !o->dir || (o->n_operators && !o->operators))
        return RSP_ERR_INVAL;
    o->eid_out[0] = 0;
    curves = o->curves ? o->curves : RSP_PKI_CURVES_BOTH;
    if (curves & ~RSP_PKI_CURVES_BOTH)
        return RSP_ERR_INVAL;
    for (size_t i = 0; i < o->n_operators; i++)
        if (!o->operators[i] || !name_ok(o->operators[i]))
            return RSP_ERR_INVAL;
    if ((o->host && !*o->host) || (o->dp2_host && !*o->dp2_host))
        return RSP_ERR_INVAL;

    g.prefix = o->eum_prefix ? o->eum_prefix : RSP_PKI_DEFAULT_EUM_PREFIX;
    if (strlen(g.prefix) > 29)
        return RSP_ERR_EID;
    if (o->eid) {
        if (rsp_eid_check(o->eid) != RSP_OK ||
            strncmp(o->eid, g.prefix, strlen(g.prefix)) != 0)
            return RSP_ERR_EID;
        memcpy(eid, o->eid, sizeof eid);
    } else {
        rc = rsp_pki_eid_random(g.prefix, eid);
        if (rc)
            return rc;
    }
    g.eid = eid;
    g.now = o->now ? o->now : time(NULL);

    for (int curve = RSP_CURVE_P256; curve <= RSP_CURVE_BRAINPOOLP256R1;
         curve++) {
        if (!(curves & RSP_PKI_CURVE_BIT(curve)))
            continue;
        g.curve = curve;
        g.tag = curve_tag(curve);
        rc = gen_curve(&g);
        if (rc)
            return rc;
    }
    memcpy(o->eid_out, eid, sizeof eid);
    return RSP_OK;
}

/* ---- fleet minting --------------------------------------------------------- */

int rsp_pki_mint_euicc(const struct rsp_pki_mint_opts *o)
{
    char cert_path[4096], key_path[4096], org[128], prefix[40], country[8] = "", eid[33];
    struct rsp_pki_cred eum = { 0 };
    FILE *list = NULL;
    uint64_t n;
    int rc;

    if (!o || !o->pki_dir || !o->out_dir || o->count < 1 || o->count > 1000000 ||
        (o->curve != RSP_CURVE_P256 && o->curve != RSP_CURVE_BRAINPOOLP256R1))
        return RSP_ERR_INVAL;
    if ((size_t)snprintf(cert_path, sizeof cert_path, "%s/EUM/CERT_EUM_ECDSA_%s.der",
                         o->pki_dir, curve_tag(o->curve)) >= sizeof cert_path ||
        (size_t)snprintf(key_path, sizeof key_path, "%s/EUM/SK_EUM_ECDSA_%s.pem",
                         o->pki_dir, curve_tag(o->curve)) >= sizeof key_path)
        return RSP_ERR_INVAL;
    rc = rsp_pki_load_cred(cert_path, key_path, &eum);
    if (rc)
        return rc;
    rc = rsp_x509_eum_permitted(eum.cert, 0, org, sizeof org, prefix, sizeof prefix);
    if (rc)
        goto out;
    if (!org[0] || !prefix[0]) {
        rc = RSP_ERR_CERT;
        goto out;
    }
    {
        const X509_NAME *dn = X509_get_subject_name(eum.cert);
        int i = X509_NAME_get_index_by_NID(dn, NID_countryName, -1);
        if (i >= 0) {
            const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(dn, i));
            if (ASN1_STRING_length(s) == 2)
                memcpy(country, ASN1_STRING_get0_data(s), 2);
        }
    }
    rc = mkdir_p(o->out_dir);
    if (rc)
        goto out;
    list = open_out(o->out_dir, "", "eids", ".txt", 0);
    if (!list) {
        rc = RSP_ERR_IO;
        goto out;
    }
    n = o->first;
    if (!n && !random_u64(&n)) {
        rc = RSP_ERR_CRYPTO;
        goto out;
    }
    /* Keep the run inside the room left after the prefix, so the EIDs of
     * one run never wrap onto each other. */
    {
        size_t room = 30 - strlen(prefix);
        if (room < 20) {
            uint64_t mod = 1;
            for (size_t i = 0; i < room; i++)
                mod *= 10;
            if (mod < o->count) {
                rc = RSP_ERR_INVAL;
                goto out;
            }
            n %= mod;
            if (n > mod - o->count)
                n = mod - o->count;
        } else if (n > UINT64_MAX - o->count) {
            n = UINT64_MAX - o->count;
        }
    }
    for (size_t i = 0; i < o->count; i++, n++) {
        struct rsp_pki_rdn subj[4];
        size_t k = 0;
        struct rsp_pki_cred eu = { 0 };
        struct rsp_pki_cert_params p = {
            .role = RSP_X509_ROLE_EUICC, .curve = o->curve, .now = o->now,
        };
        rc = rsp_pki_eid_make(prefix, n, eid);
        if (rc)
            goto out;
        if (country[0])
            subj[k++] = (struct rsp_pki_rdn){ NID_countryName, country };
        subj[k++] = (struct rsp_pki_rdn){ NID_organizationName, org };
        subj[k++] = (struct rsp_pki_rdn){ NID_serialNumber, eid };
        subj[k++] = (struct rsp_pki_rdn){ NID_commonName, "Test eUICC" };
        p.subject = subj;
        p.n_subject = k;
        rc = rsp_pki_issue(&p, &eum, &eu);
        if (rc)
            goto out;
        {
            char stem[64];
            snprintf(stem, sizeof stem, "EUICC_%s", eid);
            if (!write_der(o->out_dir, stem, eu.cert) || !write_key(o->out_dir, stem, eu.key))
                rc = RSP_ERR_IO;
        }
        rsp_pki_cred_free(&eu);
        if (rc)
            goto out;
        if (fprintf(list, "%s\n", eid) < 0) {
            rc = RSP_ERR_IO;
            goto out;
        }
        if (o->eids)
            memcpy(o->eids[i], eid, 33);
    }
out:
    if (list && fclose(list) != 0 && rc == RSP_OK)
        rc = RSP_ERR_IO;
    rsp_pki_cred_free(&eum);
    ERR_clear_error();
    return rc;
}
