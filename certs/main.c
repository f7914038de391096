/*
 * rsp-pki - write a private GSMA-style test PKI (see rsp_pki.h for the
 * layout). Wiring only: the work is in librsppki.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp_err.h"
#include "rsp_pki.h"

#define MAX_OPERATORS 16

static void usage(FILE *f)
{
    fprintf(f,
"usage: rsp-pki [generate] --out DIR [options]\n"
"       rsp-pki mint-euicc --pki DIR --out DIR --count N [--curve nist|brp] [--first N]\n"
"\n"
"generate: a complete test PKI (SGP.22 v2.5 certificate profiles, extensions as\n"
"in GSMA SGP.26) for each curve, <C> = NIST or BRP:\n"
"  DIR/CertificateIssuer/CERT_CI_ECDSA_<C>.{der,pem}  SK_CI_ECDSA_<C>.pem\n"
"  DIR/EUM/CERT_EUM_ECDSA_<C>.{der,pem}               SK_/PK_EUM_ECDSA_<C>.pem\n"
"  DIR/eUICC/CERT_EUICC_ECDSA_<C>.{der,pem}           SK_/PK_EUICC_ECDSA_<C>.pem\n"
"  DIR/DPauth/CERT_S_SM_DPauth_ECDSA_<C>.{der,pem}    SK_/PK_S_SM_DPauth_ECDSA_<C>.pem\n"
"  DIR/DPpb/CERT_S_SM_DPpb_ECDSA_<C>.{der,pem}        SK_/PK_S_SM_DPpb_ECDSA_<C>.pem\n"
"  DIR/DPtls/CERT_S_SM_DP_TLS_<C>.{der,pem}           SK_/PK_S_SM_DP_TLS_<C>.pem\n"
"  --dp2:        DP2auth, DP2pb, DP2_TLS in the same folders\n"
"  --operator N: DIR/Operator/CERT_OP_<N>_TLS_<C>.{der,pem}, SK_OP_<N>_TLS_<C>.pem\n"
"  --negative:   DIR/Negative/ (eUICC EID out of range, expired DPauth, TLS,\n"
"                EUM and eUICC, a foreign CI and a DPauth it signed)\n"
"options:\n"
"  --curve nist|brp|both   (default both)\n"
"  --host FQDN             SM-DP+ TLS dNSName (default " RSP_PKI_DEFAULT_HOST ")\n"
"  --dp2-host FQDN         second SM-DP+ (default " RSP_PKI_DEFAULT_DP2_HOST ")\n"
"  --eid EID               eUICC EID (default: random under the prefix)\n"
"  --eum-prefix DIGITS     EIN permitted to the EUM (default " RSP_PKI_DEFAULT_EUM_PREFIX ")\n"
"  --dp2, --operator NAME (repeatable), --negative\n"
"\n"
"mint-euicc: N eUICC identities under DIR/EUM/CERT_EUM_ECDSA_<C>.der and\n"
"SK_EUM_ECDSA_<C>.pem (a generated PKI or the SGP.26 set), consecutive EIDs\n"
"under the EUM's prefix: OUT/CERT_EUICC_<EID>.der, OUT/SK_EUICC_<EID>.pem,\n"
"OUT/eids.txt.\n");
}

static int parse_curve(const char *s, unsigned *mask, int *curve)
{
    if (strcmp(s, "nist") == 0) {
        *curve = RSP_CURVE_P256;
    } else if (strcmp(s, "brp") == 0) {
        *curve = RSP_CURVE_BRAINPOOLP256R1;
    } else if (strcmp(s, "both") == 0 && mask) {
        *mask = RSP_PKI_CURVES_BOTH;
        return 0;
    } else {
        return -1;
    }
    if (mask)
        *mask = RSP_PKI_CURVE_BIT(*curve);
    return 0;
}

static int parse_count(const char *s, unsigned long long *v)
{
    char *end;
    if (!*s || *s == '-')
        return -1;
    *v = strtoull(s, &end, 10);
    return *end ? -1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "out", required_argument, NULL, 'o' },   { "curve", required_argument, NULL, 'c' },
        { "host", required_argument, NULL, 'H' },  { "dp2-host", required_argument, NULL, 'D' },
        { "eid", required_argument, NULL, 'e' },   { "eum-prefix", required_argument, NULL, 'p' },
        { "dp2", no_argument, NULL, '2' },         { "operator", required_argument, NULL, 'O' },
        { "negative", no_argument, NULL, 'n' },    { "pki", required_argument, NULL, 'k' },
        { "count", required_argument, NULL, 'N' }, { "first", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },        { NULL, 0, NULL, 0 },
    };
    const char *operators[MAX_OPERATORS];
    struct rsp_pki_opts g = { .operators = operators };
    struct rsp_pki_mint_opts m = { .curve = RSP_CURVE_P256 };
    unsigned long long num;
    int mint = 0, opt, rc;

    if (argc > 1 && argv[1][0] != '-') {
        if (strcmp(argv[1], "mint-euicc") == 0)
            mint = 1;
        else if (strcmp(argv[1], "generate") != 0) {
            usage(stderr);
            return 2;
        }
        argv++;
        argc--;
    }
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': g.dir = m.out_dir = optarg; break;
        case 'c':
            if (parse_curve(optarg, mint ? NULL : &g.curves, &m.curve)) {
                fprintf(stderr, "rsp-pki: bad --curve %s\n", optarg);
                return 2;
            }
            break;
        case 'H': g.host = optarg; break;
        case 'D': g.dp2_host = optarg; break;
        case 'e': g.eid = optarg; break;
        case 'p': g.eum_prefix = optarg; break;
        case '2': g.dp2 = 1; break;
        case 'O':
            if (g.n_operators == MAX_OPERATORS) {
                fprintf(stderr, "rsp-pki: at most %d operators\n", MAX_OPERATORS);
                return 2;
            }
            operators[g.n_operators++] = optarg;
            break;
        case 'n': g.negative = 1; break;
        case 'k': m.pki_dir = optarg; break;
        case 'N':
            if (parse_count(optarg, &num) || num < 1 || num > 1000000) {
                fprintf(stderr, "rsp-pki: bad --count %s\n", optarg);
                return 2;
            }
            m.count = (size_t)num;
            break;
        case 'f':
            if (parse_count(optarg, &num)) {
                fprintf(stderr, "rsp-pki: bad --first %s\n", optarg);
                return 2;
            }
            m.first = num;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || (mint ? !m.pki_dir || !m.out_dir || !m.count : !g.dir)) {
        usage(stderr);
        return 2;
    }

    if (mint) {
        rc = rsp_pki_mint_euicc(&m);
        if (rc == RSP_OK)
            printf("minted %zu eUICC identities in %s\n", m.count, m.out_dir);
    } else {
        rc = rsp_pki_generate(&g);
        if (rc == RSP_OK)
            printf("test PKI written to %s (eUICC EID %s)\n", g.dir, g.eid_out);
    }
    if (rc == RSP_ERR_NOTFOUND && mint) {
        fprintf(stderr, "rsp-pki: no EUM/CERT_EUM_ECDSA_%s.der + SK_EUM_ECDSA_%s.pem in %s\n",
                m.curve == RSP_CURVE_P256 ? "NIST" : "BRP",
                m.curve == RSP_CURVE_P256 ? "NIST" : "BRP", m.pki_dir);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "rsp-pki: %s\n", rsp_strerror(rc));
        return 1;
    }
    return 0;
}
