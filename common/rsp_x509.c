/*
 * rsp_x509.c - SGP.22 certificate profiles and chain verification on top of
 * OpenSSL's RFC 5280 path validation. See rsp_x509.h for the contracts.
 * SGP.22 v2.5 §4.5.2; the fast path for one-step chains (CERT.DPauth/DPpb
 * under a CI, §5.7.13-14; eUICC under a cached EUM, §5.6.3) is below.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "rsp_err.h"
#include "rsp_util.h"
#include "rsp_x509.h"

/* Content octets of id-rspRole (2.23.146.1.2.1); a role OID adds one arc. */
static const uint8_t OID_RSP_ROLE[] = { 0x67, 0x81, 0x12, 0x01, 0x02, 0x01 };
/* permittedEins 2.23.146.1.2.2.0 (SGP.22 v3; absent from v2.5 certs). */
static const uint8_t OID_PERMITTED_EINS[] = { 0x67, 0x81, 0x12, 0x01, 0x02, 0x02, 0x00 };

#define MAX_UNTRUSTED 4
#define FILE_MAX (1u << 20)

/* The fast path's decoder (see "fast path" below): a library context with
 * only the null provider, created once per process, so that d2i_X509 in it
 * leaves the subject key undecoded; the key is imported from the SPKI point
 * and kept as ex_data of the certificate under key_idx. */
static CRYPTO_ONCE lite_once = CRYPTO_ONCE_STATIC_INIT;
static OSSL_LIB_CTX *lite_ctx;
static int key_idx = -1;
/* A cached EUM's decoded nameConstraints (eum_cache_put), so that the fast
 * path does not decode them again for every eUICC certificate; read-only
 * once the EUM is in the cache, freed with the certificate. */
static int nc_idx = -1;

static void nc_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                    void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    NAME_CONSTRAINTS_free(ptr);
}

/* not refcounted: a copy of the certificate decodes them itself */
static int nc_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
                  long argl, void *argp)
{
    (void)to, (void)from, (void)idx, (void)argl, (void)argp;
    *from_d = NULL;
    return 1;
}

static void key_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                     void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    EVP_PKEY_free(ptr);
}

static int key_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
                   long argl, void *argp)
{
    (void)to, (void)from, (void)idx, (void)argl, (void)argp;
    return *from_d == NULL || EVP_PKEY_up_ref(*from_d);
}

static void lite_init(void)
{
    OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new();

    if (lc && !OSSL_PROVIDER_load(lc, "null")) {
        OSSL_LIB_CTX_free(lc);
        lc = NULL;
    }
    key_idx = X509_get_ex_new_index(0, NULL, NULL, key_dup, key_free);
    nc_idx = X509_get_ex_new_index(0, NULL, NULL, nc_dup, nc_free);
    if (key_idx < 0 || nc_idx < 0) {
        OSSL_LIB_CTX_free(lc);
        lc = NULL;
    }
    lite_ctx = lc;
}

/* 1 if the fast path is usable in this process. */
static int lite_ready(void)
{
    return CRYPTO_THREAD_run_once(&lite_once, lite_init) && lite_ctx;
}

/* The subject key: OpenSSL's, or the one the fast path imported. */
static EVP_PKEY *cert_key(const X509 *c)
{
    EVP_PKEY *k = X509_get0_pubkey(c);

    if (!k && lite_ready())
        k = X509_get_ex_data(c, key_idx);
    return k;
}

struct ci_entry {
    X509 *cert;
    X509_STORE *xs;         /* holds only this CI: the CI is chosen by PKID */
    uint8_t pkid[RSP_X509_PKID_MAX];
    size_t pkid_len;
    int curve;
};

struct rsp_x509_store {
    struct ci_entry *v;
    size_t n, cap;
};

const char *rsp_x509_role_name(int role)
{
    switch (role) {
    case RSP_X509_ROLE_CI: return "ci";
    case RSP_X509_ROLE_EUICC: return "euicc";
    case RSP_X509_ROLE_EUM: return "eum";
    case RSP_X509_ROLE_DP_TLS: return "dp-tls";
    case RSP_X509_ROLE_DP_AUTH: return "dp-auth";
    case RSP_X509_ROLE_DP_PB: return "dp-pb";
    case RSP_X509_ROLE_DS_TLS: return "ds-tls";
    case RSP_X509_ROLE_DS_AUTH: return "ds-auth";
    case RSP_X509_ROLE_OPERATOR: return "operator";
    default: return "?";
    }
}

static int role_valid(int role)
{
    return (role >= RSP_X509_ROLE_CI && role <= RSP_X509_ROLE_DS_AUTH) ||
           role == RSP_X509_ROLE_OPERATOR;
}

static int obj_is(const ASN1_OBJECT *o, const uint8_t *content, size_t len)
{
    return o && OBJ_length(o) == len && memcmp(OBJ_get0_data(o), content, len) == 0;
}

/* ---- helpers ------------------------------------------------------------ */

int rsp_x509_from_der(const uint8_t *der, size_t len, X509 **out)
{
    const unsigned char *p = der;
    X509 *c = NULL;
    int rc;

    if (!out)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!der || len == 0)
        return RSP_ERR_INVAL;
    if (len > RSP_X509_DER_MAX)
        return RSP_ERR_TOOBIG;
    ERR_set_mark();
    c = d2i_X509(NULL, &p, (long)len);
    if (!c || (size_t)(p - der) != len) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    *out = c;
    c = NULL;
    rc = RSP_OK;
out:
    X509_free(c);
    ERR_pop_to_mark();
    return rc;
}

int rsp_x509_to_der(const X509 *c, struct rsp_buf *out)
{
    unsigned char *der = NULL;
    int n, rc;

    if (!c || !out)
        return RSP_ERR_INVAL;
    n = i2d_X509(c, &der);
    if (n <= 0)
        return RSP_ERR_ENCODE;
    rc = rsp_buf_append(out, der, (size_t)n);
    OPENSSL_free(der);
    return rc;
}

static int is_pem(const uint8_t *p, size_t n)
{
    static const char tag[] = "-----BEGIN";
    for (size_t i = 0; i + sizeof tag - 1 <= n; i++) {
        if (memcmp(p + i, tag, sizeof tag - 1) == 0)
            return 1;
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return 0;
    }
    return 0;
}

int rsp_x509_load_file(const char *path, X509 **out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    int rc;

    if (!out)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!path)
        return RSP_ERR_INVAL;
    rc = rsp_file_read(path, FILE_MAX, &buf, &len);
    if (rc)
        return rc;
    if (!is_pem(buf, len)) {
        rc = rsp_x509_from_der(buf, len, out);
        goto out;
    }
    ERR_set_mark();
    bio = BIO_new_mem_buf(buf, (int)len);
    if (!bio) {
        rc = RSP_ERR_NOMEM;
    } else {
        *out = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        rc = *out ? RSP_OK : RSP_ERR_DECODE;
    }
    ERR_pop_to_mark();
out:
    BIO_free(bio);
    free(buf);
    return rc;
}

int rsp_x509_get_pubkey(const X509 *c, EVP_PKEY **out)
{
    EVP_PKEY *k;

    if (!out)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!c)
        return RSP_ERR_INVAL;
    ERR_set_mark();
    k = cert_key(c);
    ERR_pop_to_mark();
    if (!k)
        return RSP_ERR_CERT;
    if (!EVP_PKEY_up_ref(k))
        return RSP_ERR_CRYPTO;
    *out = k;
    return RSP_OK;
}

/* The SGP.22 curve of an OpenSSL curve NID, or RSP_ERR_UNSUPPORTED. */
static int curve_of_nid(int nid)
{
    return nid == NID_X9_62_prime256v1 ? RSP_CURVE_P256
           : nid == NID_brainpoolP256r1 ? RSP_CURVE_BRAINPOOLP256R1
                                        : RSP_ERR_UNSUPPORTED;
}

int rsp_x509_get_curve(const X509 *c)
{
    EVP_PKEY *k;
    char name[64];
    size_t n = 0;
    int rc = RSP_ERR_UNSUPPORTED;

    if (!c)
        return RSP_ERR_INVAL;
    ERR_set_mark();
    k = cert_key(c);
    if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_EC)
        goto out;
    /* Explicit curve parameters have no group name: refused, as SGP.22 keys
     * name their curve. */
    if (!EVP_PKEY_get_group_name(k, name, sizeof name, &n))
        goto out;
    rc = curve_of_nid(OBJ_txt2nid(name));
out:
    ERR_pop_to_mark();
    return rc;
}

int rsp_x509_get_role(const X509 *c)
{
    CERTIFICATEPOLICIES *pol;
    int crit = -1, role = RSP_ERR_NOTFOUND;

    if (!c)
        return RSP_ERR_INVAL;
    pol = X509_get_ext_d2i(c, NID_certificate_policies, &crit, NULL);
    if (!pol)
        return crit == -1 ? RSP_ERR_NOTFOUND : RSP_ERR_CERT;
    for (int i = 0; i < sk_POLICYINFO_num(pol); i++) {
        const ASN1_OBJECT *o = sk_POLICYINFO_value(pol, i)->policyid;
        const uint8_t *d;
        if (!o || OBJ_length(o) != sizeof OID_RSP_ROLE + 1)
            continue;
        d = OBJ_get0_data(o);
        if (memcmp(d, OID_RSP_ROLE, sizeof OID_RSP_ROLE) != 0 ||
            (d[sizeof OID_RSP_ROLE] & 0x80))
            continue;
        if (role >= 0 && role != d[sizeof OID_RSP_ROLE]) {
            role = RSP_ERR_CERT;    /* one certificate, one role */
            break;
        }
        role = d[sizeof OID_RSP_ROLE];
    }
    CERTIFICATEPOLICIES_free(pol);
    return role;
}

static int copy_octets(const ASN1_OCTET_STRING *os, uint8_t *out, size_t outmax)
{
    int n = ASN1_STRING_length(os);
    if (n <= 0)
        return RSP_ERR_CERT;
    if ((size_t)n > outmax || n > RSP_X509_PKID_MAX)
        return RSP_ERR_TOOBIG;
    memcpy(out, ASN1_STRING_get0_data(os), (size_t)n);
    return n;
}

int rsp_x509_get_ski(const X509 *c, uint8_t *out, size_t outmax)
{
    ASN1_OCTET_STRING *ski;
    int crit = -1, rc;

    if (!c || (!out && outmax))
        return RSP_ERR_INVAL;
    ski = X509_get_ext_d2i(c, NID_subject_key_identifier, &crit, NULL);
    if (!ski)
        return crit == -1 ? RSP_ERR_NOTFOUND : RSP_ERR_CERT;
    rc = copy_octets(ski, out, outmax);
    ASN1_OCTET_STRING_free(ski);
    return rc;
}

int rsp_x509_get_aki(const X509 *c, uint8_t *out, size_t outmax)
{
    AUTHORITY_KEYID *aki;
    int crit = -1, rc;

    if (!c || (!out && outmax))
        return RSP_ERR_INVAL;
    aki = X509_get_ext_d2i(c, NID_authority_key_identifier, &crit, NULL);
    if (!aki)
        return crit == -1 ? RSP_ERR_NOTFOUND : RSP_ERR_CERT;
    rc = aki->keyid ? copy_octets(aki->keyid, out, outmax) : RSP_ERR_NOTFOUND;
    AUTHORITY_KEYID_free(aki);
    return rc;
}

size_t rsp_x509_get_smdp_oid(const X509 *c, uint8_t out[RSP_X509_OID_MAX])
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(c, NID_subject_alt_name, NULL, NULL);
    size_t len = 0;

    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_RID)
            continue;
        size_t n = (size_t)OBJ_length(g->d.rid);
        if (n > 0 && n <= RSP_X509_OID_MAX) {
            memcpy(out, OBJ_get0_data(g->d.rid), n);
            len = n;
        }
        break;
    }
    GENERAL_NAMES_free(gens);
    return len;
}

/* UTF-8 text of a name entry or of a string; no NUL inside. */
static int string_utf8(const ASN1_STRING *s, char *out, size_t outmax)
{
    unsigned char *u = NULL;
    int n = ASN1_STRING_to_UTF8(&u, s);
    int rc;

    if (n < 0)
        return RSP_ERR_CERT;
    if (memchr(u, 0, (size_t)n))
        rc = RSP_ERR_CERT;
    else if ((size_t)n >= outmax)
        rc = RSP_ERR_TOOBIG;
    else {
        memcpy(out, u, (size_t)n);
        out[n] = 0;
        rc = n;
    }
    OPENSSL_free(u);
    return rc;
}

static int subject_attr(const X509 *c, int nid, char *out, size_t outmax)
{
    const X509_NAME *name;
    int i;

    if (!c || !out || !outmax)
        return RSP_ERR_INVAL;
    out[0] = 0;
    name = X509_get_subject_name(c);
    i = X509_NAME_get_index_by_NID(name, nid, -1);
    if (i < 0)
        return RSP_ERR_NOTFOUND;
    if (X509_NAME_get_index_by_NID(name, nid, i) >= 0)
        return RSP_ERR_CERT;
    return string_utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)),
                       out, outmax);
}

int rsp_x509_get_subject_cn(const X509 *c, char *out, size_t outmax)
{
    return subject_attr(c, NID_commonName, out, outmax);
}

int rsp_x509_get_subject_serial(const X509 *c, char *out, size_t outmax)
{
    return subject_attr(c, NID_serialNumber, out, outmax);
}

int rsp_x509_get_subject_org(const X509 *c, char *out, size_t outmax)
{
    return subject_attr(c, NID_organizationName, out, outmax);
}

int rsp_x509_get_eid(const X509 *c, char *eid)
{
    char buf[64];
    int n;

    if (!c || !eid)
        return RSP_ERR_INVAL;
    eid[0] = 0;
    n = rsp_x509_get_subject_serial(c, buf, sizeof buf);
    if (n != 32 || rsp_eid_check(buf) != RSP_OK)
        return RSP_ERR_EID;
    memcpy(eid, buf, 33);
    return RSP_OK;
}

int rsp_x509_get_dns_name(const X509 *c, size_t i, char *out, size_t outmax)
{
    GENERAL_NAMES *gens;
    int crit = -1, rc = RSP_ERR_NOTFOUND;
    size_t k = 0;

    if (!c || !out || !outmax)
        return RSP_ERR_INVAL;
    out[0] = 0;
    gens = X509_get_ext_d2i(c, NID_subject_alt_name, &crit, NULL);
    if (!gens)
        return crit == -1 ? RSP_ERR_NOTFOUND : RSP_ERR_CERT;
    for (int j = 0; j < sk_GENERAL_NAME_num(gens); j++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, j);
        if (g->type != GEN_DNS)
            continue;
        if (k++ == i) {
            rc = string_utf8(g->d.dNSName, out, outmax);
            break;
        }
    }
    GENERAL_NAMES_free(gens);
    return rc;
}

int rsp_x509_check_host(X509 *c, const char *host)
{
    int ok;

    if (!c || !host || !*host)
        return RSP_ERR_INVAL;
    ERR_set_mark();
    ok = X509_check_host(c, host, strlen(host),
                         X509_CHECK_FLAG_NO_WILDCARDS |
                         X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL);
    ERR_pop_to_mark();
    return ok == 1 ? RSP_OK : RSP_ERR_CERT;
}

/* ---- profiles ------------------------------------------------------------ */

static int has_eku(const X509 *c, int nid)
{
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(c, NID_ext_key_usage, NULL, NULL);
    int found = 0;

    if (!eku)
        return 0;
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++)
        if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == nid)
            found = 1;
    EXTENDED_KEY_USAGE_free(eku);
    return found;
}

static X509_EXTENSION *find_ext(const X509 *c, const uint8_t *oid, size_t len, int *count)
{
    X509_EXTENSION *found = NULL;

    *count = 0;
    for (int i = 0; i < X509_get_ext_count(c); i++) {
        X509_EXTENSION *e = X509_get_ext(c, i);
        if (obj_is(X509_EXTENSION_get_object(e), oid, len)) {
            if (!found)
                found = e;
            (*count)++;
        }
    }
    return found;
}

int rsp_x509_check_profile(X509 *c, int role)
{
    ASN1_BIT_STRING *ku = NULL;
    BASIC_CONSTRAINTS *bc = NULL;
    NAME_CONSTRAINTS *nc = NULL;
    uint8_t kid[RSP_X509_PKID_MAX];
    char eid[33];
    int crit, rc = RSP_ERR_CERT, r, is_ca;

    if (!c || !role_valid(role))
        return RSP_ERR_INVAL;
    ERR_set_mark();
    is_ca = role == RSP_X509_ROLE_CI || role == RSP_X509_ROLE_EUM;

    if (X509_get_version(c) != X509_VERSION_3 ||
        X509_get_signature_nid(c) != NID_ecdsa_with_SHA256)
        goto out;
    r = rsp_x509_get_curve(c);
    if (r < 0) {
        rc = r;
        goto out;
    }

    r = rsp_x509_get_role(c);
    if (role == RSP_X509_ROLE_OPERATOR ? r != RSP_ERR_NOTFOUND : r != role)
        goto out;

    crit = -1;
    ku = X509_get_ext_d2i(c, NID_key_usage, &crit, NULL);
    if (!ku || crit != 1)
        goto out;
    if (is_ca) {
        if (!ASN1_BIT_STRING_get_bit(ku, 5))              /* keyCertSign */
            goto out;
    } else if (!ASN1_BIT_STRING_get_bit(ku, 0) ||         /* digitalSignature */
               ASN1_BIT_STRING_get_bit(ku, 5) || ASN1_BIT_STRING_get_bit(ku, 6)) {
        goto out;
    }

    crit = -1;
    bc = X509_get_ext_d2i(c, NID_basic_constraints, &crit, NULL);
    if (crit == -2 || (is_ca ? !bc || !bc->ca || crit != 1 : bc && bc->ca))
        goto out;

    if (rsp_x509_get_ski(c, kid, sizeof kid) <= 0)
        goto out;
    if (role != RSP_X509_ROLE_CI && rsp_x509_get_aki(c, kid, sizeof kid) <= 0)
        goto out;

    if (role == RSP_X509_ROLE_DP_TLS || role == RSP_X509_ROLE_DS_TLS) {
        char dns[256];
        if (!has_eku(c, NID_server_auth) ||
            rsp_x509_get_dns_name(c, 0, dns, sizeof dns) <= 0)
            goto out;
    }
    if (role == RSP_X509_ROLE_OPERATOR && !has_eku(c, NID_client_auth))
        goto out;

    if (role == RSP_X509_ROLE_EUICC && rsp_x509_get_eid(c, eid) != RSP_OK) {
        rc = RSP_ERR_EID;
        goto out;
    }
    if (role == RSP_X509_ROLE_EUM) {
        int count;
        crit = -1;
        nc = X509_get_ext_d2i(c, NID_name_constraints, &crit, NULL);
        if (crit == -2)
            goto out;
        find_ext(c, OID_PERMITTED_EINS, sizeof OID_PERMITTED_EINS, &count);
        if ((!nc && count == 0) || count > 1)
            goto out;
    }
    rc = RSP_OK;
out:
    ASN1_BIT_STRING_free(ku);
    BASIC_CONSTRAINTS_free(bc);
    NAME_CONSTRAINTS_free(nc);
    ERR_pop_to_mark();
    return rc;
}

/* ---- EID against the EUM ------------------------------------------------- */

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/*
 * SGP.22 reading of a directoryName subtree: every attribute of the subtree
 * except serialNumber must appear in the subject with the same value (any
 * position: SGP.26 puts C first in the eUICC subject but not in the
 * constraint); serialNumber is a prefix of the EID.
 * Sets *attrs_ok and *serial_ok; returns RSP_ERR_CERT for a malformed
 * subtree (serialNumber not digits).
 */
static int subtree_match(const X509_NAME *base, const X509_NAME *subj, const char *eid,
                         int *attrs_ok, int *serial_ok)
{
    char want[128], have[128];

    *attrs_ok = 1;
    *serial_ok = 1;
    for (int i = 0; i < X509_NAME_entry_count(base); i++) {
        const X509_NAME_ENTRY *be = X509_NAME_get_entry(base, i);
        const ASN1_OBJECT *type = X509_NAME_ENTRY_get_object(be);
        int n = string_utf8(X509_NAME_ENTRY_get_data(be), want, sizeof want);
        if (n < 0)
            return RSP_ERR_CERT;
        if (OBJ_obj2nid(type) == NID_serialNumber) {
            if (!all_digits(want) || n > 32)
                return RSP_ERR_CERT;
            if (strncmp(eid, want, (size_t)n) != 0)
                *serial_ok = 0;
            continue;
        }
        int found = 0;
        for (int j = 0; j < X509_NAME_entry_count(subj) && !found; j++) {
            const X509_NAME_ENTRY *se = X509_NAME_get_entry(subj, j);
            if (OBJ_cmp(X509_NAME_ENTRY_get_object(se), type) != 0)
                continue;
            if (string_utf8(X509_NAME_ENTRY_get_data(se), have, sizeof have) >= 0 &&
                strcmp(have, want) == 0)
                found = 1;
        }
        if (!found)
            *attrs_ok = 0;
    }
    return RSP_OK;
}

/* permittedEins (SEQUENCE OF PrintableString): RSP_OK if eid starts with one
 * of the prefixes, RSP_ERR_EID if with none, RSP_ERR_CERT if malformed. */
static int check_permitted_eins(X509_EXTENSION *ext, const char *eid)
{
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);
    const unsigned char *p = ASN1_STRING_get0_data(v), *end;
    long len;
    int tag, cls, ret, matched = 0, count = 0;

    ret = ASN1_get_object(&p, &len, &tag, &cls, ASN1_STRING_length(v));
    if ((ret & 0x80) || !(ret & V_ASN1_CONSTRUCTED) || tag != V_ASN1_SEQUENCE ||
        cls != V_ASN1_UNIVERSAL ||
        p + len != ASN1_STRING_get0_data(v) + ASN1_STRING_length(v))
        return RSP_ERR_CERT;
    end = p + len;
    while (p < end) {
        char pfx[33];
        ret = ASN1_get_object(&p, &len, &tag, &cls, end - p);
        if ((ret & 0x80) || (ret & V_ASN1_CONSTRUCTED) || tag != V_ASN1_PRINTABLESTRING ||
            cls != V_ASN1_UNIVERSAL || len < 1 || len > 32)
            return RSP_ERR_CERT;
        memcpy(pfx, p, (size_t)len);
        pfx[len] = 0;
        p += len;
        if (!all_digits(pfx))
            return RSP_ERR_CERT;
        count++;
        if (strncmp(eid, pfx, (size_t)len) == 0)
            matched = 1;
    }
    if (!count)
        return RSP_ERR_CERT;
    return matched ? RSP_OK : RSP_ERR_EID;
}

int rsp_x509_check_eid(const X509 *eum, const X509 *euicc, char *eid_out)
{
    NAME_CONSTRAINTS *nc = NULL;
    X509_EXTENSION *pe;
    const X509_NAME *subj;
    char eid[33];
    int crit = -1, count, rc, any_dir = 0, org_seen = 0, permitted = 0;

    if (eid_out)
        eid_out[0] = 0;
    if (!eum || !euicc)
        return RSP_ERR_INVAL;
    rc = rsp_x509_get_eid(euicc, eid);
    if (rc)
        return rc;
    ERR_set_mark();
    subj = X509_get_subject_name(euicc);

    pe = find_ext(eum, OID_PERMITTED_EINS, sizeof OID_PERMITTED_EINS, &count);
    if (count > 1) {
        rc = RSP_ERR_CERT;
        goto out;
    }
    if (pe && (rc = check_permitted_eins(pe, eid)) != RSP_OK)
        goto out;

    nc = X509_get_ext_d2i(eum, NID_name_constraints, &crit, NULL);
    if (!nc) {
        rc = (crit == -1 && pe) ? RSP_OK : RSP_ERR_CERT;
        goto out;
    }
    for (int i = 0; i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); i++) {
        const GENERAL_SUBTREE *st = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i);
        int attrs_ok, serial_ok;
        if (st->base->type != GEN_DIRNAME)
            continue;
        any_dir = 1;
        rc = subtree_match(st->base->d.directoryName, subj, eid, &attrs_ok, &serial_ok);
        if (rc)
            goto out;
        org_seen |= attrs_ok;
        permitted |= attrs_ok && serial_ok;
    }
    for (int i = 0; i < sk_GENERAL_SUBTREE_num(nc->excludedSubtrees); i++) {
        const GENERAL_SUBTREE *st = sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, i);
        int attrs_ok, serial_ok;
        if (st->base->type != GEN_DIRNAME)
            continue;
        rc = subtree_match(st->base->d.directoryName, subj, eid, &attrs_ok, &serial_ok);
        if (rc)
            goto out;
        if (attrs_ok && serial_ok) {
            rc = RSP_ERR_EID;
            goto out;
        }
    }
    if (!any_dir)
        rc = pe ? RSP_OK : RSP_ERR_CERT;
    else if (permitted)
        rc = RSP_OK;
    else
        rc = org_seen ? RSP_ERR_EID : RSP_ERR_CERT;
out:
    NAME_CONSTRAINTS_free(nc);
    ERR_pop_to_mark();
    if (rc == RSP_OK && eid_out)
        memcpy(eid_out, eid, sizeof eid);
    return rc;
}

int rsp_x509_eum_permitted(const X509 *eum, size_t idx, char *org, size_t orgmax,
                           char *prefix, size_t prefixmax)
{
    NAME_CONSTRAINTS *nc;
    size_t k = 0;
    int rc = RSP_ERR_NOTFOUND;

    if (!eum || !prefix || !prefixmax || (org && !orgmax))
        return RSP_ERR_INVAL;
    prefix[0] = 0;
    if (org)
        org[0] = 0;
    nc = X509_get_ext_d2i(eum, NID_name_constraints, NULL, NULL);
    if (!nc)
        return RSP_ERR_NOTFOUND;
    for (int i = 0; i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); i++) {
        const GENERAL_SUBTREE *st = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i);
        const X509_NAME *dn;
        int j;
        if (st->base->type != GEN_DIRNAME || k++ != idx)
            continue;
        dn = st->base->d.directoryName;
        rc = RSP_OK;
        j = X509_NAME_get_index_by_NID(dn, NID_serialNumber, -1);
        if (j >= 0) {
            int n = string_utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(dn, j)),
                                prefix, prefixmax);
            if (n < 0)
                rc = n;
        }
        j = X509_NAME_get_index_by_NID(dn, NID_organizationName, -1);
        if (rc == RSP_OK && org && j >= 0) {
            int n = string_utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(dn, j)),
                                org, orgmax);
            if (n < 0)
                rc = n;
        }
        break;
    }
    NAME_CONSTRAINTS_free(nc);
    return rc;
}

/* ---- trust store --------------------------------------------------------- */

int rsp_x509_store_new(struct rsp_x509_store **out)
{
    if (!out)
        return RSP_ERR_INVAL;
    *out = calloc(1, sizeof **out);
    return *out ? RSP_OK : RSP_ERR_NOMEM;
}

void rsp_x509_store_free(struct rsp_x509_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        X509_STORE_free(s->v[i].xs);
        X509_free(s->v[i].cert);
    }
    free(s->v);
    free(s);
}

size_t rsp_x509_store_count(const struct rsp_x509_store *s)
{
    return s ? s->n : 0;
}

X509 *rsp_x509_store_get(const struct rsp_x509_store *s, size_t i)
{
    return s && i < s->n ? s->v[i].cert : NULL;
}

static const struct ci_entry *find_entry(const struct rsp_x509_store *s,
                                         const uint8_t *pkid, size_t len)
{
    for (size_t i = 0; s && pkid && i < s->n; i++)
        if (s->v[i].pkid_len == len && memcmp(s->v[i].pkid, pkid, len) == 0)
            return &s->v[i];
    return NULL;
}

X509 *rsp_x509_store_find(const struct rsp_x509_store *s, const uint8_t *pkid, size_t len)
{
    const struct ci_entry *e = find_entry(s, pkid, len);
    return e ? e->cert : NULL;
}

int rsp_x509_store_add(struct rsp_x509_store *s, X509 *ci)
{
    const struct ci_entry *dup;
    struct ci_entry e = { 0 };
    int rc, n;

    if (!s || !ci)
        return RSP_ERR_INVAL;
    rc = rsp_x509_check_profile(ci, RSP_X509_ROLE_CI);
    if (rc)
        return rc;
    ERR_set_mark();
    /* SGP.22 §4.5.2.1.0.1: the CI certificate is self-signed. */
    if (X509_check_issued(ci, ci) != X509_V_OK) {
        rc = RSP_ERR_CERT;
        goto out;
    }
    if (X509_verify(ci, X509_get0_pubkey(ci)) != 1) {
        rc = RSP_ERR_VERIFY;
        goto out;
    }
    n = rsp_x509_get_ski(ci, e.pkid, sizeof e.pkid);
    if (n <= 0) {
        rc = RSP_ERR_CERT;
        goto out;
    }
    e.pkid_len = (size_t)n;
    e.curve = rsp_x509_get_curve(ci);
    dup = find_entry(s, e.pkid, e.pkid_len);
    if (dup) {
        rc = X509_cmp(dup->cert, ci) == 0 ? RSP_OK : RSP_ERR_CERT;
        goto out;
    }
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 4;
        struct ci_entry *nv = realloc(s->v, ncap * sizeof *nv);
        if (!nv) {
            rc = RSP_ERR_NOMEM;
            goto out;
        }
        s->v = nv;
        s->cap = ncap;
    }
    e.xs = X509_STORE_new();
    if (!e.xs || !X509_STORE_add_cert(e.xs, ci) || !X509_up_ref(ci)) {
        X509_STORE_free(e.xs);
        rc = RSP_ERR_NOMEM;
        goto out;
    }
    e.cert = ci;
    s->v[s->n++] = e;
    rc = RSP_OK;
out:
    ERR_pop_to_mark();
    return rc;
}

int rsp_x509_store_add_der(struct rsp_x509_store *s, const uint8_t *der, size_t len)
{
    X509 *c = NULL;
    int rc;

    if (!s)
        return RSP_ERR_INVAL;
    rc = rsp_x509_from_der(der, len, &c);
    if (rc)
        return rc;
    rc = rsp_x509_store_add(s, c);
    X509_free(c);
    return rc;
}

int rsp_x509_store_add_file(struct rsp_x509_store *s, const char *path)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    X509 *c = NULL;
    int rc, n = 0;

    if (!s || !path)
        return RSP_ERR_INVAL;
    rc = rsp_file_read(path, FILE_MAX, &buf, &len);
    if (rc)
        return rc;
    if (!is_pem(buf, len)) {
        rc = rsp_x509_store_add_der(s, buf, len);
        free(buf);
        return rc;
    }
    ERR_set_mark();
    bio = BIO_new_mem_buf(buf, (int)len);
    if (!bio) {
        rc = RSP_ERR_NOMEM;
        goto out;
    }
    while ((c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        rc = rsp_x509_store_add(s, c);
        X509_free(c);
        if (rc)
            goto out;
        n++;
    }
    rc = n ? RSP_OK : RSP_ERR_DECODE;
out:
    ERR_pop_to_mark();
    BIO_free(bio);
    free(buf);
    return rc;
}

static int has_suffix(const char *name, const char *sfx)
{
    size_t n = strlen(name), k = strlen(sfx);
    return n > k && strcmp(name + n - k, sfx) == 0;
}

int rsp_x509_store_add_dir(struct rsp_x509_store *s, const char *dir)
{
    DIR *d;
    struct dirent *de;
    size_t before;
    int accepted = 0, rc = RSP_OK;

    if (!s || !dir)
        return RSP_ERR_INVAL;
    before = s->n;
    d = opendir(dir);
    if (!d)
        return RSP_ERR_IO;
    while ((de = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        int r;
        if (!has_suffix(de->d_name, ".der") && !has_suffix(de->d_name, ".pem") &&
            !has_suffix(de->d_name, ".crt"))
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path)
            continue;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        r = rsp_x509_store_add_file(s, path);
        if (r == RSP_OK)
            accepted++;
        else if (r == RSP_ERR_NOMEM) {
            rc = r;
            break;
        }
        /* keys, non-CI certificates: not for the trust store */
    }
    closedir(d);
    if (rc)
        return rc;
    return accepted ? (int)(s->n - before) : RSP_ERR_NOTFOUND;
}

/* ---- chain verification --------------------------------------------------- */

struct vstate {
    int role;
};

/* True if every critical extension of c that OpenSSL does not know is
 * permittedEins, which rsp_x509_check_eid handles. */
static int only_known_critical(X509 *c)
{
    for (int i = 0; i < X509_get_ext_count(c); i++) {
        X509_EXTENSION *e = X509_get_ext(c, i);
        if (!X509_EXTENSION_get_critical(e) || X509_supported_extension(e))
            continue;
        if (!obj_is(X509_EXTENSION_get_object(e), OID_PERMITTED_EINS,
                    sizeof OID_PERMITTED_EINS))
            return 0;
    }
    return 1;
}

static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
    const struct vstate *st = X509_STORE_CTX_get_app_data(ctx);

    if (ok || !st)
        return ok;
    switch (X509_STORE_CTX_get_error(ctx)) {
    case X509_V_ERR_PERMITTED_VIOLATION:
    case X509_V_ERR_EXCLUDED_VIOLATION:
        /* OpenSSL matches a directoryName subtree as a prefix of the RDN
         * sequence with serialNumber compared whole; SGP.22 means "same O,
         * EID starting with the serialNumber" (rsp_x509_check_eid, run after
         * path validation). Only for the eUICC certificate itself. */
        if (st->role == RSP_X509_ROLE_EUICC && X509_STORE_CTX_get_error_depth(ctx) == 0)
            return 1;
        break;
    case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION: {
        X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
        if (cur && only_known_critical(cur))
            return 1;
        break;
    }
    default:
        break;
    }
    return 0;
}

static int map_verify_error(int err)
{
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return RSP_ERR_EXPIRED;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
        return RSP_ERR_VERIFY;
    case X509_V_ERR_OUT_OF_MEM:
        return RSP_ERR_NOMEM;
    default:
        return RSP_ERR_CERT;
    }
}

/*
 * Run X509_verify_cert on an initialised ctx at time `at` (or without time
 * checks) with the SGP.22 profile callback reading `st`.  0 or rsp_err.
 */
static int run_verify(X509_STORE_CTX *ctx, time_t at, struct vstate *st)
{
    if (at == RSP_X509_NO_TIME)
        X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
    else
        X509_STORE_CTX_set_time(ctx, 0, at);
    X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
    if (!X509_STORE_CTX_set_app_data(ctx, st))
        return RSP_ERR_NOMEM;
    if (X509_verify_cert(ctx) != 1)
        return map_verify_error(X509_STORE_CTX_get_error(ctx));
    return 0;
}

/* What a verified chain tells its caller (info may be NULL). */
static void info_set(struct rsp_x509_chain_info *info, int role, int curve,
                     const uint8_t *ci_pkid, size_t ci_pkid_len, const char eid[33])
{
    if (!info)
        return;
    info->role = role;
    info->curve = curve;
    memcpy(info->ci_pkid, ci_pkid, ci_pkid_len);
    info->ci_pkid_len = ci_pkid_len;
    memcpy(info->eid, eid, sizeof(info->eid));
}

/* Walk AKI -> SKI through the candidates until a trusted CI. */
static int find_ci(const struct rsp_x509_store *s, X509 *leaf, X509 *const *u, size_t n,
                   const struct ci_entry **out)
{
    const X509 *cur = leaf;
    uint8_t aki[RSP_X509_PKID_MAX], ski[RSP_X509_PKID_MAX];

    for (size_t hop = 0; hop <= n; hop++) {
        const X509 *next = NULL;
        int alen = rsp_x509_get_aki(cur, aki, sizeof aki);
        if (alen <= 0)
            return RSP_ERR_CERT;
        *out = find_entry(s, aki, (size_t)alen);
        if (*out)
            return RSP_OK;
        for (size_t i = 0; i < n && !next; i++) {
            int slen;
            if (!u[i] || u[i] == cur)
                continue;
            slen = rsp_x509_get_ski(u[i], ski, sizeof ski);
            if (slen == alen && memcmp(ski, aki, (size_t)alen) == 0)
                next = u[i];
        }
        if (!next)
            return RSP_ERR_UNKNOWN_CI;
        cur = next;
    }
    return RSP_ERR_UNKNOWN_CI;
}

int rsp_x509_verify(const struct rsp_x509_store *s, int role, X509 *leaf,
                    X509 *const *untrusted, size_t n_untrusted, time_t at,
                    struct rsp_x509_chain_info *info)
{
    const struct ci_entry *ci = NULL;
    STACK_OF(X509) *sk = NULL, *chain;
    X509_STORE_CTX *ctx = NULL;
    struct vstate st = { .role = role };
    char eid[33] = "";
    int rc, n;

    if (info)
        memset(info, 0, sizeof *info);
    if (!s || !leaf || !role_valid(role) || role == RSP_X509_ROLE_CI ||
        n_untrusted > MAX_UNTRUSTED ||
        (n_untrusted && !untrusted))
        return RSP_ERR_INVAL;
    ERR_set_mark();

    rc = rsp_x509_check_profile(leaf, role);
    if (rc)
        goto out;
    rc = find_ci(s, leaf, untrusted, n_untrusted, &ci);
    if (rc)
        goto out;

    rc = RSP_ERR_NOMEM;
    sk = sk_X509_new_null();
    if (!sk)
        goto out;
    for (size_t i = 0; i < n_untrusted; i++)
        if (untrusted[i] && !sk_X509_push(sk, untrusted[i]))
            goto out;
    ctx = X509_STORE_CTX_new();
    if (!ctx || !X509_STORE_CTX_init(ctx, ci->xs, leaf, sk))
        goto out;
    rc = run_verify(ctx, at, &st);
    if (rc)
        goto out;

    rc = RSP_ERR_CERT;
    chain = X509_STORE_CTX_get0_chain(ctx);
    n = sk_X509_num(chain);
    /* SGP.22 v2.5 paths: CI -> EUM -> eUICC, CI -> everything else. */
    if (n != (role == RSP_X509_ROLE_EUICC ? 3 : 2) ||
        X509_cmp(sk_X509_value(chain, n - 1), ci->cert) != 0)
        goto out;
    for (int i = 0; i < n; i++) {
        X509 *c = sk_X509_value(chain, i);
        uint8_t aki[RSP_X509_PKID_MAX], ski[RSP_X509_PKID_MAX];
        int curve = rsp_x509_get_curve(c), alen, slen;
        if (curve < 0) {
            rc = curve;
            goto out;
        }
        /* One curve per chain: the curve of the CI selected by its PKID. */
        if (curve != ci->curve || X509_get_signature_nid(c) != NID_ecdsa_with_SHA256)
            goto out;
        if (i == n - 1)
            break;
        alen = rsp_x509_get_aki(c, aki, sizeof aki);
        slen = rsp_x509_get_ski(sk_X509_value(chain, i + 1), ski, sizeof ski);
        if (alen <= 0 || alen != slen || memcmp(aki, ski, (size_t)alen) != 0)
            goto out;
    }
    if (role == RSP_X509_ROLE_EUICC) {
        X509 *eum = sk_X509_value(chain, 1);
        rc = rsp_x509_check_profile(eum, RSP_X509_ROLE_EUM);
        if (rc)
            goto out;
        rc = rsp_x509_check_eid(eum, leaf, eid);
        if (rc)
            goto out;
    }
    info_set(info, role, ci->curve, ci->pkid, ci->pkid_len, eid);
    rc = RSP_OK;
out:
    X509_STORE_CTX_free(ctx);
    sk_X509_free(sk);
    ERR_pop_to_mark();
    return rc;
}

int rsp_x509_verify_der(const struct rsp_x509_store *s, int role,
                        const uint8_t *leaf, size_t leaf_len,
                        const uint8_t *issuer, size_t issuer_len, time_t at,
                        struct rsp_x509_chain_info *info)
{
    X509 *lc = NULL, *ic = NULL;
    int rc;

    if (info)
        memset(info, 0, sizeof *info);
    if (!s || (issuer_len && !issuer))
        return RSP_ERR_INVAL;
    rc = rsp_x509_from_der(leaf, leaf_len, &lc);
    if (rc)
        goto out;
    if (issuer_len) {
        rc = rsp_x509_from_der(issuer, issuer_len, &ic);
        if (rc)
            goto out;
    }
    rc = rsp_x509_verify(s, role, lc, &ic, ic ? 1 : 0, at, info);
out:
    X509_free(lc);
    X509_free(ic);
    return rc;
}

/* ---- fast path: one-step chains without OpenSSL 3.0's key decoder ------- */

/*
 * OpenSSL 3.0's d2i_X509 decodes the subject key eagerly through
 * OSSL_DECODER (provider look-ups, locks): most of the cost of a
 * certificate. For a leaf issued directly by a certificate we already trust
 * and whose key we hold (CERT.DPauth / CERT.DPpb / CERT.DSauth under a CI of
 * the store; an eUICC certificate under a cached, verified EUM) the leaf is
 * decoded in lite_ctx, its key imported from the SPKI point, and the checks
 * X509_verify_cert would make on that two-certificate chain are made one by
 * one with OpenSSL's own functions (issuer match, key usage, trust, CA,
 * critical extensions, name constraints, validity with the same time rule,
 * the signature by X509_verify), then those rsp_x509_verify adds (profile,
 * curve, AKI = SKI, EID range). The fast path only ever accepts: anything it
 * is not sure of (RFC 3779 or proxy extensions, a self-issued leaf, an
 * unusual key encoding, any failure) sends the caller to the full path,
 * which then decides and reports exactly as before.
 */

int rsp_x509_from_der_lite(const uint8_t *der, size_t len, X509 **out)
{
    const unsigned char *p = der, *pk;
    const ASN1_BIT_STRING *bits;
    const ASN1_OBJECT *alg;
    const void *pval;
    X509_PUBKEY *pub;
    X509_ALGOR *a;
    EVP_PKEY *k = NULL;
    X509 *c = NULL;
    int rc, ptype, pklen, curve;

    if (!out)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!der || len == 0)
        return RSP_ERR_INVAL;
    if (len > RSP_X509_DER_MAX)
        return RSP_ERR_TOOBIG;
    if (!lite_ready())
        return RSP_ERR_UNSUPPORTED;
    ERR_set_mark();
    rc = RSP_ERR_NOMEM;
    c = X509_new_ex(lite_ctx, NULL);
    if (!c)
        goto out;
    rc = RSP_ERR_DECODE;
    if (!d2i_X509(&c, &p, (long)len) || (size_t)(p - der) != len)
        goto out;       /* a failed d2i_X509 has freed c and set it NULL */
    /* id-ecPublicKey with a namedCurve, an uncompressed point, no unused
     * bits: the only SPKI form SGP.22 certificates carry. */
    pub = X509_get_X509_PUBKEY(c);
    bits = X509_get0_pubkey_bitstr(c);
    if (!pub || !bits || (bits->flags & 0x07) ||
        !X509_PUBKEY_get0_param(NULL, &pk, &pklen, &a, pub) || !a)
        goto out;
    X509_ALGOR_get0(&alg, &ptype, &pval, a);
    if (OBJ_obj2nid(alg) != NID_X9_62_id_ecPublicKey || ptype != V_ASN1_OBJECT)
        goto out;
    if ((curve = curve_of_nid(OBJ_obj2nid(pval))) < 0) {
        rc = curve;
        goto out;
    }
    /* OpenSSL's decoder checks the point is on the curve (no order check):
     * the quick check, complete for these cofactor-1 curves. */
    rc = rsp_ec_pubkey_from_point_quick(curve, pk, (size_t)pklen, &k);
    if (rc)
        goto out;
    rc = RSP_ERR_NOMEM;
    if (!X509_set_ex_data(c, key_idx, k))
        goto out;
    k = NULL;
    *out = c;
    c = NULL;
    rc = RSP_OK;
out:
    EVP_PKEY_free(k);
    X509_free(c);
    ERR_pop_to_mark();
    return rc;
}

/* X509_verify_cert's validity rule (check_cert_time): notBefore <= at <
 * notAfter, an unreadable time fails. */
static int time_ok(const X509 *c, time_t at)
{
    time_t t = at;

    return X509_cmp_time(X509_get0_notBefore(c), &t) < 0 &&
           X509_cmp_time(X509_get0_notAfter(c), &t) > 0;
}

/* Name constraints of issuer over leaf as X509_verify_cert applies them,
 * with what verify_cb forgives (directoryName violations of an eUICC
 * certificate: rsp_x509_check_eid decides). Anything else: not sure. */
static int nc_result_ok(int r, int role)
{
    return r == X509_V_OK ||
           (role == RSP_X509_ROLE_EUICC &&
            (r == X509_V_ERR_PERMITTED_VIOLATION || r == X509_V_ERR_EXCLUDED_VIOLATION));
}

static int nc_ok(const X509 *issuer, X509 *leaf, int role)
{
    NAME_CONSTRAINTS *nc, *cached = X509_get_ex_data(issuer, nc_idx);
    int crit = -1, ok;

    nc = cached ? cached : X509_get_ext_d2i(issuer, NID_name_constraints, &crit, NULL);
    if (!nc)
        return crit == -1;
    ok = nc_result_ok(NAME_CONSTRAINTS_check(leaf, nc), role) &&
         nc_result_ok(NAME_CONSTRAINTS_check_CN(leaf, nc), role);
    if (!cached)
        NAME_CONSTRAINTS_free(nc);
    return ok;
}

static int has_rfc3779(const X509 *c)
{
    return X509_get_ext_by_NID(c, NID_sbgp_ipAddrBlock, -1) >= 0 ||
           X509_get_ext_by_NID(c, NID_sbgp_autonomousSysNum, -1) >= 0;
}

/*
 * leaf (from rsp_x509_from_der_lite) as a certificate of role issued
 * directly by issuer: a trusted CI (is_ci) or a verified EUM (partial-chain
 * anchor). curve: that of the CI. 1 if the full path would accept it too
 * (eid filled for the eUICC role), 0 if not sure.
 */
static int fast_one_step(X509 *issuer, int is_ci, X509 *leaf, int role, int curve, time_t at,
                         char eid[33])
{
    uint8_t aki[RSP_X509_PKID_MAX], ski[RSP_X509_PKID_MAX];
    uint32_t lf, xf;
    EVP_PKEY *ik;
    int ok = 0, tr, alen, slen;

    eid[0] = 0;
    ERR_set_mark();
    if (!lite_ready() || !X509_get_ex_data(leaf, key_idx) ||
        rsp_x509_check_profile(leaf, role) != RSP_OK)
        goto out;
    lf = X509_get_extension_flags(leaf);
    xf = X509_get_extension_flags(issuer);
    if (((lf | xf) & (EXFLAG_INVALID | EXFLAG_PROXY)) || (lf & EXFLAG_SI) ||
        X509_NAME_cmp(X509_get_subject_name(leaf), X509_get_issuer_name(leaf)) == 0 ||
        !only_known_critical(leaf) || !only_known_critical(issuer) ||
        has_rfc3779(leaf) || has_rfc3779(issuer))
        goto out;
    if (X509_check_ca(issuer) != 1 || X509_check_issued(issuer, leaf) != X509_V_OK)
        goto out;
    tr = X509_check_trust(issuer, X509_TRUST_DEFAULT, 0);
    if (is_ci ? tr != X509_TRUST_TRUSTED : tr == X509_TRUST_REJECTED)
        goto out;
    if (at != RSP_X509_NO_TIME && (!time_ok(leaf, at) || !time_ok(issuer, at)))
        goto out;
    if (!nc_ok(issuer, leaf, role))
        goto out;
    ik = X509_get0_pubkey(issuer);
    if (!ik || X509_verify(leaf, ik) != 1)
        goto out;
    if (rsp_x509_get_curve(leaf) != curve ||
        X509_get_signature_nid(leaf) != NID_ecdsa_with_SHA256)
        goto out;
    alen = rsp_x509_get_aki(leaf, aki, sizeof aki);
    slen = rsp_x509_get_ski(issuer, ski, sizeof ski);
    if (alen <= 0 || alen != slen || memcmp(aki, ski, (size_t)alen) != 0)
        goto out;
    if (role == RSP_X509_ROLE_EUICC && rsp_x509_check_eid(issuer, leaf, eid) != RSP_OK)
        goto out;
    ok = 1;
out:
    ERR_pop_to_mark();
    if (!ok)
        eid[0] = 0;
    return ok;
}

int rsp_x509_fast_verify_leaf_der(const struct rsp_x509_store *s, int role,
                                  const uint8_t *der, size_t len, time_t at,
                                  struct rsp_x509_chain_info *info, X509 **cert_out)
{
    const struct ci_entry *ci;
    uint8_t aki[RSP_X509_PKID_MAX];
    char eid[33];
    X509 *c = NULL;
    int alen, rc = RSP_ERR_STATE;

    if (info)
        memset(info, 0, sizeof *info);
    if (cert_out)
        *cert_out = NULL;
    if (!s || !role_valid(role) || role == RSP_X509_ROLE_CI || role == RSP_X509_ROLE_EUICC ||
        role == RSP_X509_ROLE_EUM)
        return RSP_ERR_STATE;
    if (rsp_x509_from_der_lite(der, len, &c))
        return RSP_ERR_STATE;
    alen = rsp_x509_get_aki(c, aki, sizeof aki);
    ci = alen > 0 ? find_entry(s, aki, (size_t)alen) : NULL;
    if (ci && fast_one_step(ci->cert, 1, c, role, ci->curve, at, eid)) {
        info_set(info, role, ci->curve, ci->pkid, ci->pkid_len, eid);
        if (cert_out) {
            *cert_out = c;
            c = NULL;
        }
        rc = RSP_OK;
    }
    X509_free(c);
    return rc;
}

int rsp_x509_fast_verify_euicc_der(const struct rsp_x509_store *s, X509 *eum,
                                   const uint8_t *der, size_t len, time_t at,
                                   struct rsp_x509_chain_info *info, X509 **cert_out)
{
    struct rsp_x509_chain_info ci;
    char eid[33];
    X509 *c = NULL;
    int rc = RSP_ERR_STATE;

    if (info)
        memset(info, 0, sizeof *info);
    if (cert_out)
        *cert_out = NULL;
    if (!s || !eum || rsp_x509_verify(s, RSP_X509_ROLE_EUM, eum, NULL, 0, at, &ci) != RSP_OK)
        return RSP_ERR_STATE;
    if (rsp_x509_from_der_lite(der, len, &c))
        return RSP_ERR_STATE;
    if (fast_one_step(eum, 0, c, RSP_X509_ROLE_EUICC, ci.curve, at, eid)) {
        info_set(info, RSP_X509_ROLE_EUICC, ci.curve, ci.ci_pkid, ci.ci_pkid_len, eid);
        if (cert_out) {
            *cert_out = c;
            c = NULL;
        }
        rc = RSP_OK;
    }
    X509_free(c);
    return rc;
}

int rsp_x509_verify_leaf_der(const struct rsp_x509_store *s, int role,
                             const uint8_t *der, size_t len, time_t at,
                             struct rsp_x509_chain_info *info, X509 **cert_out)
{
    X509 *c = NULL;
    int rc;

    if (cert_out)
        *cert_out = NULL;
    if (rsp_x509_fast_verify_leaf_der(s, role, der, len, at, info, cert_out) == RSP_OK)
        return RSP_OK;
    /* the full path, unchanged: it decides, with its own error codes */
    if (info)
        memset(info, 0, sizeof *info);
    if (!s)
        return RSP_ERR_INVAL;
    rc = rsp_x509_from_der(der, len, &c);
    if (rc)
        return rc;
    rc = rsp_x509_verify(s, role, c, NULL, 0, at, info);
    if (rc == RSP_OK && cert_out) {
        *cert_out = c;
        c = NULL;
    }
    X509_free(c);
    return rc;
}

/* ---- verified EUM certificates (SGP.22 §5.6.3 server side) -------------- */

struct eum_entry {
    uint8_t h[32];                  /* SHA-256 of the EUM DER */
    const struct rsp_x509_store *store;  /* the store it was verified under */
    X509 *eum;
    X509_STORE *xs;                 /* the EUM alone: anchor of a partial chain */
    time_t not_before, not_after;   /* its validity, checked on every hit */
    int curve;
    uint8_t ci_pkid[RSP_X509_PKID_MAX];
    size_t ci_pkid_len;
    unsigned long long used;        /* LRU tick */
};

struct rsp_x509_eum_cache {
    CRYPTO_RWLOCK *lock;
    struct eum_entry *v;
    size_t n, max;
    unsigned long long tick;
    unsigned long hits, misses;
};

int rsp_x509_eum_cache_new(size_t max, struct rsp_x509_eum_cache **out)
{
    struct rsp_x509_eum_cache *c;

    if (!out || max == 0 || max > 4096)
        return RSP_ERR_INVAL;
    *out = NULL;
    c = calloc(1, sizeof *c);
    if (!c)
        return RSP_ERR_NOMEM;
    c->v = calloc(max, sizeof *c->v);
    c->lock = CRYPTO_THREAD_lock_new();
    if (!c->v || !c->lock) {
        CRYPTO_THREAD_lock_free(c->lock);
        free(c->v);
        free(c);
        return RSP_ERR_NOMEM;
    }
    c->max = max;
    *out = c;
    return RSP_OK;
}

static void eum_entry_clear(struct eum_entry *e)
{
    X509_STORE_free(e->xs);
    X509_free(e->eum);
    memset(e, 0, sizeof *e);
}

void rsp_x509_eum_cache_free(struct rsp_x509_eum_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        eum_entry_clear(&c->v[i]);
    free(c->v);
    CRYPTO_THREAD_lock_free(c->lock);
    free(c);
}

void rsp_x509_eum_cache_stats(struct rsp_x509_eum_cache *c, size_t *n, unsigned long *hits,
                              unsigned long *misses)
{
    size_t cn = 0;
    unsigned long h = 0, m = 0;

    if (c && CRYPTO_THREAD_read_lock(c->lock)) {
        cn = c->n;
        h = c->hits;
        m = c->misses;
        CRYPTO_THREAD_unlock(c->lock);
    }
    if (n)
        *n = cn;
    if (hits)
        *hits = h;
    if (misses)
        *misses = m;
}

/* Seconds since the epoch of an ASN1_TIME. */
static int time_of(const ASN1_TIME *t, time_t *out)
{
    ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
    int days = 0, secs = 0, ok = epoch && t && ASN1_TIME_diff(&days, &secs, epoch, t);

    ASN1_TIME_free(epoch);
    *out = (time_t)days * 86400 + secs;
    return ok ? RSP_OK : RSP_ERR_CERT;
}

/* A copy of the entry for h under store, with its own references, if the
 * EUM is within its validity at `at`. 1 if found. */
static int eum_cache_get(struct rsp_x509_eum_cache *c, const struct rsp_x509_store *s,
                         const uint8_t h[32], time_t at, struct eum_entry *out)
{
    int found = 0;

    if (!CRYPTO_THREAD_write_lock(c->lock))
        return 0;
    for (size_t i = 0; i < c->n; i++) {
        struct eum_entry *e = &c->v[i];
        if (e->store != s || memcmp(e->h, h, sizeof e->h))
            continue;
        if (at != RSP_X509_NO_TIME && (at < e->not_before || at > e->not_after))
            break;      /* outside its validity: the full path reports it */
        if (!X509_up_ref(e->eum))
            break;
        if (!X509_STORE_up_ref(e->xs)) {
            X509_free(e->eum);
            break;
        }
        e->used = ++c->tick;
        *out = *e;
        found = 1;
        break;
    }
    if (found)
        c->hits++;
    else
        c->misses++;
    CRYPTO_THREAD_unlock(c->lock);
    return found;
}

/* Remember an EUM verified under store s (CI ci); failures only cost the
 * next download a full verification. */
static void eum_cache_put(struct rsp_x509_eum_cache *c, const struct rsp_x509_store *s,
                          const uint8_t h[32], X509 *eum, const struct rsp_x509_chain_info *ci)
{
    struct eum_entry e;

    memset(&e, 0, sizeof e);
    memcpy(e.h, h, sizeof e.h);
    e.store = s;
    e.curve = ci->curve;
    memcpy(e.ci_pkid, ci->ci_pkid, ci->ci_pkid_len);
    e.ci_pkid_len = ci->ci_pkid_len;
    if (time_of(X509_get0_notBefore(eum), &e.not_before) ||
        time_of(X509_get0_notAfter(eum), &e.not_after))
        return;
    /* its nameConstraints decoded once for nc_ok; eum is not shared yet.
     * Absent or undecodable: nc_ok decodes (and decides) per call. */
    if (lite_ready() && !X509_get_ex_data(eum, nc_idx)) {
        NAME_CONSTRAINTS *nc;

        ERR_set_mark();
        nc = X509_get_ext_d2i(eum, NID_name_constraints, NULL, NULL);
        if (nc && !X509_set_ex_data(eum, nc_idx, nc))
            NAME_CONSTRAINTS_free(nc);
        ERR_pop_to_mark();
    }
    e.xs = X509_STORE_new();
    if (!e.xs || !X509_STORE_add_cert(e.xs, eum) || !X509_up_ref(eum)) {
        X509_STORE_free(e.xs);
        return;
    }
    e.eum = eum;
    if (!CRYPTO_THREAD_write_lock(c->lock)) {
        eum_entry_clear(&e);
        return;
    }
    size_t slot = c->n;
    for (size_t i = 0; i < c->n; i++) {
        if (c->v[i].store == s && !memcmp(c->v[i].h, h, sizeof e.h)) {
            slot = i;       /* another thread was first: refresh it */
            break;
        }
    }
    if (slot == c->max) {   /* full: evict the least recently used */
        slot = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->v[i].used < c->v[slot].used)
                slot = i;
    }
    if (slot < c->n)
        eum_entry_clear(&c->v[slot]);
    else
        c->n++;
    e.used = ++c->tick;
    c->v[slot] = e;
    CRYPTO_THREAD_unlock(c->lock);
}

/* The eUICC certificate leaf under a cached, verified EUM: OpenSSL path
 * validation with the EUM as the (partial chain) trust anchor - the leaf's
 * signature, validity, extensions and the EUM's validity - then the checks
 * rsp_x509_verify adds: profile, curve, AKI = SKI, EID in the EUM range. */
static int verify_under_eum(const struct eum_entry *e, X509 *leaf, time_t at,
                            struct rsp_x509_chain_info *info)
{
    struct vstate st = { .role = RSP_X509_ROLE_EUICC };
    X509_STORE_CTX *ctx = NULL;
    STACK_OF(X509) *chain;
    uint8_t aki[RSP_X509_PKID_MAX], ski[RSP_X509_PKID_MAX];
    char eid[33] = "";
    int rc, alen, slen, curve;

    ERR_set_mark();
    rc = rsp_x509_check_profile(leaf, RSP_X509_ROLE_EUICC);
    if (rc)
        goto out;
    rc = RSP_ERR_NOMEM;
    ctx = X509_STORE_CTX_new();
    if (!ctx || !X509_STORE_CTX_init(ctx, e->xs, leaf, NULL))
        goto out;
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
    rc = run_verify(ctx, at, &st);
    if (rc)
        goto out;
    rc = RSP_ERR_CERT;
    chain = X509_STORE_CTX_get0_chain(ctx);
    if (sk_X509_num(chain) != 2 || X509_cmp(sk_X509_value(chain, 1), e->eum) != 0)
        goto out;
    curve = rsp_x509_get_curve(leaf);
    if (curve < 0) {
        rc = curve;
        goto out;
    }
    if (curve != e->curve || X509_get_signature_nid(leaf) != NID_ecdsa_with_SHA256)
        goto out;
    alen = rsp_x509_get_aki(leaf, aki, sizeof aki);
    slen = rsp_x509_get_ski(e->eum, ski, sizeof ski);
    if (alen <= 0 || alen != slen || memcmp(aki, ski, (size_t)alen) != 0)
        goto out;
    rc = rsp_x509_check_eid(e->eum, leaf, eid);
    if (rc)
        goto out;
    info_set(info, RSP_X509_ROLE_EUICC, e->curve, e->ci_pkid, e->ci_pkid_len, eid);
    rc = RSP_OK;
out:
    X509_STORE_CTX_free(ctx);
    ERR_pop_to_mark();
    return rc;
}

int rsp_x509_verify_euicc_der(const struct rsp_x509_store *s,
                              struct rsp_x509_eum_cache *cache,
                              const uint8_t *leaf, size_t leaf_len,
                              const uint8_t *eum, size_t eum_len, time_t at,
                              struct rsp_x509_chain_info *info, X509 **leaf_out)
{
    struct rsp_x509_chain_info ci;
    struct eum_entry e;
    uint8_t h[32];
    char eid[33];
    X509 *lc = NULL, *ic = NULL, *fc = NULL;
    int rc, hashed = 0;

    if (info)
        memset(info, 0, sizeof *info);
    if (leaf_out)
        *leaf_out = NULL;
    if (!s || !eum || !eum_len)
        return RSP_ERR_INVAL;
    /* The fast path's decode (fc) when it can; else the full decode right
     * away, which reports a malformed certificate as before. */
    if (!cache || rsp_x509_from_der_lite(leaf, leaf_len, &fc) != RSP_OK) {
        rc = rsp_x509_from_der(leaf, leaf_len, &lc);
        if (rc)
            goto out;
    }
    if (cache && eum_len <= RSP_X509_DER_MAX &&
        EVP_Digest(eum, eum_len, h, NULL, EVP_sha256(), NULL) == 1) {
        hashed = 1;
        if (eum_cache_get(cache, s, h, at, &e)) {
            if (fc && fast_one_step(e.eum, 0, fc, RSP_X509_ROLE_EUICC, e.curve, at, eid)) {
                info_set(info, RSP_X509_ROLE_EUICC, e.curve, e.ci_pkid, e.ci_pkid_len, eid);
                lc = fc;
                fc = NULL;
                rc = RSP_OK;
            } else {
                rc = lc ? RSP_OK : rsp_x509_from_der(leaf, leaf_len, &lc);
                if (rc == RSP_OK)
                    rc = verify_under_eum(&e, lc, at, info);
            }
            X509_STORE_free(e.xs);
            X509_free(e.eum);
            if (rc == RSP_OK || !lc)
                goto out;
            /* a failure is rare: the full verification below gives the
             * error exactly as without the cache */
            if (info)
                memset(info, 0, sizeof *info);
        }
    }
    if (!lc) {
        rc = rsp_x509_from_der(leaf, leaf_len, &lc);
        if (rc)
            goto out;
    }
    rc = rsp_x509_from_der(eum, eum_len, &ic);
    if (rc)
        goto out;
    rc = rsp_x509_verify(s, RSP_X509_ROLE_EUICC, lc, &ic, 1, at, &ci);
    if (rc)
        goto out;
    if (hashed)
        eum_cache_put(cache, s, h, ic, &ci);
    if (info)
        *info = ci;
out:
    if (rc == RSP_OK && leaf_out) {
        *leaf_out = lc;
        lc = NULL;
    }
    X509_free(lc);
    X509_free(ic);
    X509_free(fc);
    return rc;
}
