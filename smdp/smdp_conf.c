/*
 * smdp_conf.c - smdpd configuration (see smdp_conf.h). INI parsing by
 * libinih; paths of the SGP.26 test PKI layout (SGP.22 v2.5 §4.5.2.1).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "rsp_err.h"
#include "smdp_conf.h"

static int set_str(char **dst, const char *v)
{
    char *n = strdup(v);
    if (!n)
        return RSP_ERR_NOMEM;
    free(*dst);
    *dst = n;
    return RSP_OK;
}

static int set_uint(unsigned *dst, const char *v, unsigned max)
{
    char *end;
    unsigned long n;
    errno = 0;
    n = strtoul(v, &end, 10);
    if (errno || end == v || *end || n > max || v[0] == '-')
        return RSP_ERR_INVAL;
    *dst = (unsigned)n;
    return RSP_OK;
}

static int add_str(char **list, size_t max, const char *v)
{
    for (size_t i = 0; i < max; i++)
        if (!list[i])
            return set_str(&list[i], v);
    return RSP_ERR_TOOBIG;
}

int smdp_conf_set(struct smdp_conf *c, const char *sec, const char *key, const char *v)
{
    static const char *cred_keys[4] = { "dpauth_cert", "dpauth_key", "dppb_cert", "dppb_key" };

#define IS(s, k) (strcmp(sec, (s)) == 0 && strcmp(key, (k)) == 0)
    if (!c || !sec || !key || !v)
        return RSP_ERR_INVAL;
    if (IS("server", "es9_listen")) return set_str(&c->es9_listen, v);
    if (IS("server", "es2_listen")) return set_str(&c->es2_listen, v);
    if (IS("server", "fqdn")) return set_str(&c->fqdn, v);
    if (IS("server", "log_level")) return set_str(&c->log_level, v);
    if (IS("server", "port_file")) return set_str(&c->port_file, v);
    if (IS("server", "threads")) return set_uint(&c->threads, v, SMDPD_THREADS_MAX);
    if (IS("server", "timeout")) return set_uint(&c->timeout, v, 3600);
    if (IS("tls", "cert")) return set_str(&c->tls_cert, v);
    if (IS("tls", "key")) return set_str(&c->tls_key, v);
    if (IS("tls", "chain")) return set_str(&c->tls_chain, v);
    for (int i = 0; i < 4; i++) {
        if (IS("nist", cred_keys[i])) return set_str(&c->nist[i], v);
        if (IS("brp", cred_keys[i])) return set_str(&c->brp[i], v);
    }
    if (IS("trust", "ci_dir")) return set_str(&c->ci_dir, v);
    if (IS("trust", "ci")) return add_str(c->ci, SMDP_CONF_CI_MAX - 1, v);
    if (IS("trust", "operator_ca")) return add_str(c->operator_ca, SMDPD_CA_MAX - 1, v);
    if (IS("store", "db")) return set_str(&c->db, v);
    if (IS("store", "synchronous")) {
        if (!strcmp(v, "full") || !strcmp(v, "normal")) {
            c->sync_normal = !strcmp(v, "normal");
            return RSP_OK;
        }
        return RSP_ERR_INVAL;
    }
    if (IS("session", "timeout")) return set_uint(&c->session_timeout, v, 86400);
    if (IS("session", "order_ttl")) return set_uint(&c->order_ttl, v, 366u * 86400u);
    if (IS("session", "cc_limit")) return set_uint(&c->cc_limit, v, 100);
    if (IS("session", "download_limit")) return set_uint(&c->download_limit, v, 100);
    if (IS("notify", "attempts")) return set_uint(&c->notify_attempts, v, 100);
    if (IS("notify", "queue")) return set_uint(&c->notify_queue, v, 1000000);
    if (IS("notify", "backoff_ms")) return set_uint(&c->notify_backoff_ms, v, 3600000);
    if (IS("notify", "ca")) return set_str(&c->notify_ca, v);
    if (IS("notify", "cert")) return set_str(&c->notify_cert, v);
    if (IS("notify", "key")) return set_str(&c->notify_key, v);
#undef IS
    return RSP_ERR_INVAL;
}

static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
    return smdp_conf_set(user, section, name, value) == RSP_OK;
}

int smdp_conf_load(struct smdp_conf *c, const char *path, int *line)
{
    int r = ini_parse(path, ini_cb, c);
    if (line)
        *line = r > 0 ? r : 0;
    if (r < 0)
        return RSP_ERR_IO;
    return r ? RSP_ERR_INVAL : RSP_OK;
}

static int exists(const char *p)
{
    return access(p, R_OK) == 0;
}

/* *dst = dir/sub/name if unset and the file exists; 1 if set now. */
static int fill(char **dst, const char *dir, const char *sub, const char *name)
{
    char p[PATH_MAX];
    if (*dst)
        return 0;
    if ((size_t)snprintf(p, sizeof(p), "%s/%s/%s", dir, sub, name) >= sizeof(p) || !exists(p))
        return 0;
    return set_str(dst, p) == RSP_OK;
}

static int fqdn_from_cert(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    X509 *x;
    GENERAL_NAMES *gens;
    int rc = RSP_ERR_NOTFOUND;

    if (!f)
        return RSP_ERR_IO;
    x = d2i_X509_fp(f, NULL);
    if (!x) {
        rewind(f);
        x = PEM_read_X509(f, NULL, NULL, NULL);
    }
    fclose(f);
    if (!x)
        return RSP_ERR_DECODE;
    gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS) {
            const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
            int n = ASN1_STRING_length(g->d.dNSName);
            char *s = n > 0 && n < 256 ? strndup((const char *)d, (size_t)n) : NULL;
            if (s && strlen(s) == (size_t)n) {
                *out = s;
                rc = RSP_OK;
            } else {
                free(s);
            }
            break;
        }
    }
    GENERAL_NAMES_free(gens);
    X509_free(x);
    return rc;
}

int smdp_conf_pki(struct smdp_conf *c, const char *dir)
{
    static const char *curves[2] = { "NIST", "BRP" };
    char name[128];

    for (int i = 0; i < 2; i++) {
        char **cr = i == 0 ? c->nist : c->brp;
        snprintf(name, sizeof(name), "CERT_S_SM_DPauth_ECDSA_%s.der", curves[i]);
        fill(&cr[0], dir, "DPauth", name);
        snprintf(name, sizeof(name), "SK_S_SM_DPauth_ECDSA_%s.pem", curves[i]);
        fill(&cr[1], dir, "DPauth", name);
        snprintf(name, sizeof(name), "CERT_S_SM_DPpb_ECDSA_%s.der", curves[i]);
        fill(&cr[2], dir, "DPpb", name);
        snprintf(name, sizeof(name), "SK_S_SM_DPpb_ECDSA_%s.pem", curves[i]);
        fill(&cr[3], dir, "DPpb", name);
        snprintf(name, sizeof(name), "CERT_CI_ECDSA_%s.der", curves[i]);
        {
            char *ci = NULL;
            if (fill(&ci, dir, "CertificateIssuer", name)) {
                int dup = 0;
                for (int k = 0; k < SMDP_CONF_CI_MAX && c->ci[k]; k++)
                    dup |= strcmp(c->ci[k], ci) == 0;
                if (!dup)
                    add_str(c->ci, SMDP_CONF_CI_MAX - 1, ci);
                dup = 0;
                for (int k = 0; k < SMDPD_CA_MAX && c->operator_ca[k]; k++)
                    dup |= strcmp(c->operator_ca[k], ci) == 0;
                if (!dup)
                    add_str(c->operator_ca, SMDPD_CA_MAX - 1, ci);
            }
            free(ci);
        }
    }
    if (!c->tls_cert) {
        /* rsp-pki generate output first, then the SGP.26 names */
        if (fill(&c->tls_cert, dir, "DPtls", "CERT_S_SM_DP_TLS_NIST.der"))
            fill(&c->tls_key, dir, "DPtls", "SK_S_SM_DP_TLS_NIST.pem");
        else if (fill(&c->tls_cert, dir, "DPtls", "CERT_S_SM_DP_VARO_TLS_NIST.der"))
            fill(&c->tls_key, dir, "DPtls", "SK_S_SM_DP_TLS_NIST.pem");
    }
    if (!c->tls_cert || !c->tls_key)
        return RSP_ERR_NOTFOUND;
    if (!c->fqdn)
        fqdn_from_cert(c->tls_cert, &c->fqdn);
    return RSP_OK;
}

void smdp_conf_core(const struct smdp_conf *c, struct smdp_config *o)
{
    memset(o, 0, sizeof(*o));
    o->fqdn = c->fqdn;
    o->nist = (struct smdp_cred_paths){ c->nist[0], c->nist[1], c->nist[2], c->nist[3] };
    o->brp = (struct smdp_cred_paths){ c->brp[0], c->brp[1], c->brp[2], c->brp[3] };
    o->ci_dir = c->ci_dir;
    for (int i = 0; i < SMDP_CONF_CI_MAX - 1 && c->ci[i]; i++)
        o->ci_files[i] = c->ci[i];
    o->session_timeout = c->session_timeout;
    o->order_ttl = c->order_ttl;
    o->cc_limit = c->cc_limit;
    o->download_limit = c->download_limit;
}

void smdp_conf_server(const struct smdp_conf *c, struct smdpd_config *o)
{
    memset(o, 0, sizeof(*o));
    o->es9_listen = c->es9_listen;
    o->es2_listen = c->es2_listen;
    o->tls_cert = c->tls_cert;
    o->tls_key = c->tls_key;
    o->tls_chain = c->tls_chain;
    for (int i = 0; i < SMDPD_CA_MAX - 1 && c->operator_ca[i]; i++)
        o->operator_ca[i] = c->operator_ca[i];
    o->db = c->db;
    o->sync_normal = c->sync_normal;
    o->threads = c->threads;
    o->timeout = c->timeout;
}

void smdp_conf_free(struct smdp_conf *c)
{
    char **strs[] = { &c->es9_listen, &c->es2_listen, &c->fqdn, &c->log_level, &c->port_file,
                      &c->tls_cert, &c->tls_key, &c->tls_chain, &c->ci_dir, &c->db,
                      &c->notify_ca, &c->notify_cert, &c->notify_key };
    if (!c)
        return;
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        free(*strs[i]);
    for (int i = 0; i < 4; i++) {
        free(c->nist[i]);
        free(c->brp[i]);
    }
    for (int i = 0; i < SMDP_CONF_CI_MAX; i++)
        free(c->ci[i]);
    for (int i = 0; i < SMDPD_CA_MAX; i++)
        free(c->operator_ca[i]);
    memset(c, 0, sizeof(*c));
}
