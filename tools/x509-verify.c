/*
 * x509-verify - check a certificate against the SGP.22 certificate profiles
 * and chain it to a trusted CI (common/rsp_x509).
 *
 *   x509-verify --ci DIR_OR_FILE --role ROLE [--eum EUM_CERT] [--no-time] CERT
 *
 * ROLE: euicc, eum, dp-tls, dp-auth, dp-pb, ci. Prints the role, curve, CI
 * PKID and (for an eUICC) the EID. Exit status 0 if valid, 1 if not, 2 on
 * usage errors.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/x509.h>

#include "rsp_crypto.h"
#include "rsp_err.h"
#include "rsp_util.h"
#include "rsp_x509.h"

static const struct {
    const char *name;
    int role;
} roles[] = {
    { "ci", RSP_X509_ROLE_CI },         { "euicc", RSP_X509_ROLE_EUICC },
    { "eum", RSP_X509_ROLE_EUM },       { "dp-tls", RSP_X509_ROLE_DP_TLS },
    { "dp-auth", RSP_X509_ROLE_DP_AUTH }, { "dp-pb", RSP_X509_ROLE_DP_PB },
};

static int usage(void)
{
    fprintf(stderr, "usage: x509-verify --ci DIR_OR_FILE --role "
                    "euicc|eum|dp-tls|dp-auth|dp-pb|ci [--eum EUM_CERT] [--no-time] CERT\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *ci = NULL, *eum_path = NULL, *cert_path = NULL;
    int role = -1, rc = 1, err;
    time_t at = time(NULL);
    struct rsp_x509_store *store = NULL;
    X509 *leaf = NULL, *eum = NULL;
    struct rsp_x509_chain_info info;
    struct stat st;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ci") == 0 && i + 1 < argc) {
            ci = argv[++i];
        } else if (strcmp(argv[i], "--eum") == 0 && i + 1 < argc) {
            eum_path = argv[++i];
        } else if (strcmp(argv[i], "--no-time") == 0) {
            at = RSP_X509_NO_TIME;
        } else if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) {
            i++;
            for (size_t k = 0; k < sizeof(roles) / sizeof(roles[0]); k++)
                if (strcmp(argv[i], roles[k].name) == 0)
                    role = roles[k].role;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        } else if (argv[i][0] != '-' && !cert_path) {
            cert_path = argv[i];
        } else {
            return usage();
        }
    }
    if (!ci || !cert_path || role < 0)
        return usage();

    if ((err = rsp_x509_store_new(&store)) != 0)
        goto fail;
    err = stat(ci, &st) == 0 && S_ISDIR(st.st_mode) ? rsp_x509_store_add_dir(store, ci)
                                                     : rsp_x509_store_add_file(store, ci);
    if (err < 0)
        goto fail;
    if ((err = rsp_x509_load_file(cert_path, &leaf)) != 0)
        goto fail;
    if (eum_path && (err = rsp_x509_load_file(eum_path, &eum)) != 0)
        goto fail;
    err = rsp_x509_verify(store, role, leaf, eum ? &eum : NULL, eum ? 1 : 0, at, &info);
    if (err)
        goto fail;
    char pkid[2 * RSP_X509_PKID_MAX + 1];
    rsp_hex_encode(info.ci_pkid, info.ci_pkid_len, pkid);
    printf("%s: valid %s certificate, curve %s, CI PKID %s%s%s\n", cert_path,
           rsp_x509_role_name(info.role), rsp_curve_name(info.curve),
           pkid, info.eid[0] ? ", EID " : "", info.eid);
    rc = 0;
    goto out;
fail:
    printf("%s: INVALID: %s\n", cert_path, rsp_strerror(err));
out:
    X509_free(leaf);
    X509_free(eum);
    rsp_x509_store_free(store);
    return rc;
}
