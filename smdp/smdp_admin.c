/* smdp_admin.c - the `smdp-admin` commands. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "rsp_log.h"
#include "rsp_saip.h"
#include "rsp_util.h"
#include "smdp_ac.h"
#include "smdp_admin.h"
#include "smdp_store.h"

#define ORDER_TTL_S (30 * 24 * 3600)  /* default order lifetime */
#define DEFAULT_CC_LIMIT 3
#define DEFAULT_DOWNLOAD_LIMIT 3

static const char usage_text[] =
    "usage: smdp-admin --db FILE [--log LEVEL] COMMAND\n"
    "  operator add --id ID --name NAME [--cert CERT(.pem|.der)] [--callback URL]\n"
    "  operator list\n"
    "  profile import --operator ID FILE.der [--iccid ICCID] [--spn SPN] [--name NAME]\n"
    "                 [--class test|provisioning|operational] [--ppr1] [--ppr2]\n"
    "      (the ICCID is read from the PE-Header; --iccid gives the profile\n"
    "       another one, written into the PE-Header and EF.ICCID of the package)\n"
    "  profile list [--operator ID]\n"
    "  profile show ICCID\n"
    "  order create --operator ID [--iccid ICCID] [--eid EID] [--cc CODE]\n"
    "               [--cc-limit N] [--fqdn HOST[:PORT]] [--release]\n"
    "      prints the activation code LPA:1$HOST[:PORT]$MATCHINGID (\"$$1\"\n"
    "      appended when a confirmation code is required, SGP.22 v2.5 §4.1);\n"
    "      the profile is Allocated (Linked with --eid) until ES2+ confirmOrder\n"
    "      releases it, or Released at once with --release (as confirmOrder\n"
    "      with releaseFlag true)\n"
    "  order list\n"
    "  order show MATCHINGID\n"
    "exit codes: 0 ok, 1 usage, 2 not found, 3 conflict (duplicate, wrong state,\n"
    "  no Available profile), 4 invalid input (package, certificate, ICCID, EID),\n"
    "  5 database or internal error\n";

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "smdp-admin: %s\n", why);
    fputs(usage_text, stderr);
    return SMDP_ADMIN_EXIT_USAGE;
}

static int exit_code(int rc)
{
    switch (rc) {
    case RSP_OK: return SMDP_ADMIN_EXIT_OK;
    case RSP_ERR_NOTFOUND: return SMDP_ADMIN_EXIT_NOTFOUND;
    case SMDP_ERR_EXISTS:
    case RSP_ERR_STATE: return SMDP_ADMIN_EXIT_CONFLICT;
    case RSP_ERR_INVAL:
    case RSP_ERR_DECODE:
    case RSP_ERR_TOOBIG:
    case RSP_ERR_EID:
    case RSP_ERR_CERT:
    case RSP_ERR_IO: return SMDP_ADMIN_EXIT_INPUT;
    default: return SMDP_ADMIN_EXIT_STORE;
    }
}

static int fail(int rc, const char *what)
{
    fprintf(stderr, "smdp-admin: %s: %s\n", what, smdp_strerror(rc));
    return exit_code(rc);
}

/* Options: "--name value" or "--flag"; the rest are positional. */
struct opt {
    const char *name;
    const char **val;   /* NULL for a flag */
    int *flag;
};

static int parse_opts(int argc, char **argv, struct opt *opts, const char **pos, int maxpos,
                      int *npos)
{
    *npos = 0;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0) {
            if (*npos >= maxpos)
                return usage("too many arguments");
            pos[(*npos)++] = argv[i];
            continue;
        }
        struct opt *o = opts;
        while (o->name && strcmp(o->name, argv[i] + 2) != 0)
            o++;
        if (!o->name) {
            fprintf(stderr, "smdp-admin: unknown option %s\n", argv[i]);
            return usage(NULL);
        }
        if (o->val) {
            if (i + 1 >= argc)
                return usage("option needs a value");
            *o->val = argv[++i];
        } else {
            *o->flag = 1;
        }
    }
    return 0;
}

static void print_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02X", p[i]);
}

static int read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return RSP_ERR_IO;
    }
    uint8_t *buf = malloc(max + 1);
    if (!buf) {
        fclose(f);
        return RSP_ERR_NOMEM;
    }
    size_t n = fread(buf, 1, max + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err || n == 0 || n > max) {
        free(buf);
        fprintf(stderr, "smdp-admin: %s: %s\n", path, err ? "read error" : n ? "too large" : "empty");
        return err ? RSP_ERR_IO : n ? RSP_ERR_TOOBIG : RSP_ERR_DECODE;
    }
    *out = buf;
    *len = n;
    return RSP_OK;
}

static int cert_fingerprint(const char *path, uint8_t out[32])
{
    unsigned n = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return RSP_ERR_IO;
    }
    /* PEM or DER; the fingerprint is SHA-256 of the DER (what smdpd
     * computes from the TLS client certificate) */
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    if (!x) {
        ERR_clear_error();
        rewind(f);
        x = d2i_X509_fp(f, NULL);
    }
    fclose(f);
    if (!x) {
        fprintf(stderr, "smdp-admin: %s: not a certificate (PEM or DER)\n", path);
        return RSP_ERR_CERT;
    }
    int ok = X509_digest(x, EVP_sha256(), out, &n) == 1 && n == 32;
    X509_free(x);
    return ok ? RSP_OK : RSP_ERR_CRYPTO;
}

/* ---- operator ---- */

static int print_operator(const struct smdp_operator *op, void *arg)
{
    (void)arg;
    printf("%s\t%s\t", op->id, op->name);
    if (op->has_cert)
        print_hex(op->cert_sha256, 32);
    else
        printf("-");
    printf("\t%s\n", op->callback_url[0] ? op->callback_url : "-");
    return 0;
}

static int cmd_operator(struct smdp_store *s, int argc, char **argv)
{
    const char *id = NULL, *name = NULL, *cert = NULL, *cb = NULL, *pos[1];
    int npos, rc;
    struct opt opts[] = { { "id", &id, NULL }, { "name", &name, NULL }, { "cert", &cert, NULL },
                          { "callback", &cb, NULL }, { NULL, NULL, NULL } };
    if (argc < 1)
        return usage("operator: add or list?");
    if ((rc = parse_opts(argc - 1, argv + 1, opts, pos, 0, &npos)))
        return rc;
    if (strcmp(argv[0], "list") == 0) {
        rc = smdp_store_operator_list(s, print_operator, NULL);
        return rc ? fail(rc, "operator list") : 0;
    }
    if (strcmp(argv[0], "add") != 0)
        return usage("operator: add or list?");
    if (!id || !name)
        return usage("operator add needs --id and --name");
    struct smdp_operator op;
    memset(&op, 0, sizeof(op));
    if (strlen(id) > SMDP_ID_MAX || strlen(name) > SMDP_NAME_MAX ||
        (cb && strlen(cb) > SMDP_URL_MAX))
        return fail(RSP_ERR_INVAL, "operator add: field too long");
    strcpy(op.id, id);
    strcpy(op.name, name);
    if (cb)
        strcpy(op.callback_url, cb);
    if (cert) {
        if ((rc = cert_fingerprint(cert, op.cert_sha256)))
            return fail(rc, cert);
        op.has_cert = 1;
    }
    rc = smdp_store_operator_add(s, &op);
    if (rc == SMDP_ERR_EXISTS)
        fprintf(stderr, "smdp-admin: operator %s already exists\n", id);
    else if (rc == RSP_OK)
        printf("operator %s added\n", id);
    return rc ? fail(rc, "operator add") : 0;
}

/* ---- profile ---- */

static const char *class_name(int c)
{
    return c == SMDP_CLASS_TEST ? "test" : c == SMDP_CLASS_PROVISIONING ? "provisioning"
                                                                        : "operational";
}

static int print_profile_row(const struct smdp_profile *p, void *arg)
{
    (void)arg;
    printf("%s\t%s\t%s\t%s\t%s\n", p->iccid, p->operator_id, smdp_profile_state_name(p->state),
           class_name(p->pclass), p->name[0] ? p->name : "-");
    return 0;
}

static int profile_import(struct smdp_store *s, const char *op, const char *file,
                          const char *iccid, const char *spn, const char *name,
                          const char *cls, int ppr1, int ppr2)
{
    struct smdp_profile p;
    struct rsp_saip_info *info = NULL;
    memset(&p, 0, sizeof(p));
    p.icon_type = -1;
    p.pclass = SMDP_CLASS_OPERATIONAL;
    if (cls) {
        if (strcmp(cls, "test") == 0)
            p.pclass = SMDP_CLASS_TEST;
        else if (strcmp(cls, "provisioning") == 0)
            p.pclass = SMDP_CLASS_PROVISIONING;
        else if (strcmp(cls, "operational") != 0)
            return usage("--class: test, provisioning or operational");
    }
    if ((spn && strlen(spn) >= sizeof(p.spn)) || (name && strlen(name) >= sizeof(p.name)) ||
        strlen(op) > SMDP_ID_MAX)
        return fail(RSP_ERR_INVAL, "profile import: --spn max 32, --name max 64 bytes");
    int rc = read_file(file, RSP_SAIP_MAX, &p.package, &p.package_len);
    if (rc)
        return exit_code(rc);
    rc = rsp_saip_parse(p.package, p.package_len, &info);
    if (rc) {
        fprintf(stderr, "smdp-admin: %s: not a valid profile package (%s)\n", file,
                rsp_strerror(rc));
        rc = exit_code(rc == RSP_ERR_NOMEM ? rc : RSP_ERR_DECODE);
        goto out;
    }
    const char *use = iccid ? iccid : info->iccid;
    if (rsp_iccid_check(use) != RSP_OK && strlen(use) != 18) {
        fprintf(stderr, "smdp-admin: ICCID %s: not 18-20 digits with a valid Luhn digit\n", use);
        rc = SMDP_ADMIN_EXIT_INPUT;
        goto out;
    }
    if (strcmp(use, info->iccid) != 0) {
        /* one TS.48 template, many ICCIDs: the card refuses a package
         * whose ICCID is not the metadata's (errorReason iccidMismatch) */
        struct rsp_buf nb;
        size_t nlen = 0;
        rsp_buf_init(&nb, RSP_SAIP_MAX);
        rc = rsp_saip_set_iccid(p.package, p.package_len, use, &nb);
        if (rc) {
            fprintf(stderr, "smdp-admin: %s: cannot set ICCID %s in the package (%s)\n", file,
                    use, rsp_strerror(rc));
            rc = exit_code(rc == RSP_ERR_NOMEM ? rc : RSP_ERR_DECODE);
            goto out;
        }
        free(p.package);
        p.package = rsp_buf_steal(&nb, &nlen);
        p.package_len = nlen;
    }
    strcpy(p.iccid, use);
    strcpy(p.operator_id, op);
    snprintf(p.profile_type, sizeof(p.profile_type), "%s", info->profile_type);
    if (spn)
        strcpy(p.spn, spn);
    if (name)
        strcpy(p.name, name);
    p.ppr_mask = (ppr1 ? SMDP_PPR1 : 0) | (ppr2 ? SMDP_PPR2 : 0);
    rc = smdp_store_profile_import(s, &p);
    if (rc == SMDP_ERR_EXISTS)
        fprintf(stderr, "smdp-admin: a profile with ICCID %s is already stored\n", p.iccid);
    else if (rc == RSP_ERR_NOTFOUND)
        fprintf(stderr, "smdp-admin: no operator %s\n", op);
    else if (rc == RSP_OK)
        printf("%s imported (%zu bytes, %zu elements)\n", p.iccid, p.package_len, info->n_pes);
    rc = rc ? fail(rc, "profile import") : 0;
out:
    rsp_saip_info_free(info);
    smdp_profile_clear(&p);
    return rc;
}

static int cmd_profile(struct smdp_store *s, int argc, char **argv)
{
    const char *op = NULL, *iccid = NULL, *spn = NULL, *name = NULL, *cls = NULL, *pos[1];
    int ppr1 = 0, ppr2 = 0, npos, rc;
    struct opt opts[] = { { "operator", &op, NULL }, { "iccid", &iccid, NULL },
                          { "spn", &spn, NULL }, { "name", &name, NULL },
                          { "class", &cls, NULL }, { "ppr1", NULL, &ppr1 },
                          { "ppr2", NULL, &ppr2 }, { NULL, NULL, NULL } };
    if (argc < 1)
        return usage("profile: import, list or show?");
    if ((rc = parse_opts(argc - 1, argv + 1, opts, pos, 1, &npos)))
        return rc;
    if (strcmp(argv[0], "import") == 0) {
        if (!op || npos != 1)
            return usage("profile import needs --operator ID and FILE.der");
        return profile_import(s, op, pos[0], iccid, spn, name, cls, ppr1, ppr2);
    }
    if (strcmp(argv[0], "list") == 0) {
        rc = smdp_store_profile_list(s, op, print_profile_row, NULL);
        return rc ? fail(rc, "profile list") : 0;
    }
    if (strcmp(argv[0], "show") != 0 || npos != 1)
        return usage("profile show ICCID");
    struct smdp_profile p;
    rc = smdp_store_profile_get(s, pos[0], 1, &p);
    if (rc)
        return fail(rc, pos[0]);
    printf("iccid: %s\noperator: %s\nstate: %s\nprofile-type: %s\nspn: %s\nname: %s\n"
           "class: %s\nppr: %s%s%s\nicon: %s\npackage: %zu bytes\ncreated: %" PRId64
           "\nupdated: %" PRId64 "\n",
           p.iccid, p.operator_id, smdp_profile_state_name(p.state), p.profile_type, p.spn,
           p.name, class_name(p.pclass), p.ppr_mask ? "" : "none",
           (p.ppr_mask & SMDP_PPR1) ? "ppr1 " : "", (p.ppr_mask & SMDP_PPR2) ? "ppr2" : "",
           p.icon_type < 0 ? "none" : p.icon_type == 0 ? "jpg" : "png", p.package_len,
           p.created, p.updated);
    smdp_profile_clear(&p);
    return 0;
}

/* ---- order ---- */

static int print_order_row(const struct smdp_order *o, void *arg)
{
    (void)arg;
    printf("%s\t%s\t%s\t%s\t%s\n", o->matching_id, o->iccid, o->operator_id,
           smdp_order_state_name(o->state), o->eid[0] ? o->eid : "-");
    return 0;
}

/* "HOST" or "HOST:PORT" (lab set-ups on another port than 443): SGP.22
 * §4.1 puts the SM-DP+ address in the activation code as it is, and the
 * LPA connects to that host and port. [out] host. 1 if valid. */
static int address_split(const char *addr, char host[SMDP_FQDN_MAX + 1])
{
    const char *colon = strchr(addr, ':');
    size_t hl = colon ? (size_t)(colon - addr) : strlen(addr);

    if (strlen(addr) > SMDP_FQDN_MAX || hl == 0)
        return 0;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    if (!smdp_fqdn_valid(host))
        return 0;
    if (colon) {
        char *end = NULL;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (colon[1] < '0' || colon[1] > '9' || *end || port == 0 || port > 65535)
            return 0;
    }
    return 1;
}

/* The activation code of an order whose address may carry a port:
 * smdp_activation_code() checks the fields and takes a bare FQDN. */
static int admin_activation_code(const char *addr, const char *mid, int cc, char *out,
                                 size_t outlen)
{
    char host[SMDP_FQDN_MAX + 1];
    int n;

    if (!address_split(addr, host))
        return RSP_ERR_INVAL;
    n = smdp_activation_code(host, mid, cc, out, outlen);
    if (n < 0 || strcmp(host, addr) == 0)
        return n;
    n = snprintf(out, outlen, "LPA:1$%s$%s%s", addr, mid, cc ? "$$1" : "");
    return n < 0 ? RSP_ERR_INVAL : (size_t)n >= outlen ? RSP_ERR_TOOBIG : n;
}

static int order_create(struct smdp_store *s, const char *op, const char *iccid,
                        const char *eid, const char *cc, const char *cc_limit, const char *fqdn,
                        int release)
{
    struct smdp_order o;
    char ac[400], host[SMDP_FQDN_MAX + 1];
    int rc, pstate;
    memset(&o, 0, sizeof(o));
    if (!fqdn)
        fqdn = "localhost";
    if (!address_split(fqdn, host))
        return fail(RSP_ERR_INVAL, "--fqdn (HOST or HOST:PORT)");
    if (strlen(op) > SMDP_ID_MAX || (iccid && strlen(iccid) > 20) ||
        (eid && rsp_eid_check(eid) != RSP_OK))
        return fail(RSP_ERR_INVAL, eid ? "--eid (32 digits, MOD 97-10) or --iccid" : "--iccid");
    strcpy(o.operator_id, op);
    strcpy(o.smdp_address, fqdn);
    if (eid)
        strcpy(o.eid, eid);
    o.expires = (int64_t)time(NULL) + ORDER_TTL_S;
    o.download_limit = DEFAULT_DOWNLOAD_LIMIT;
    if (cc) {
        char *end = NULL;
        unsigned long lim = cc_limit ? strtoul(cc_limit, &end, 10) : DEFAULT_CC_LIMIT;
        if ((cc_limit && (*end || !*cc_limit)) || lim == 0 || lim > 100)
            return usage("--cc-limit: 1..100");
        if ((rc = smdp_cc_hash(cc, o.cc_hash)))
            return fail(rc, "--cc");
        o.cc_required = 1;
        o.cc_limit = (unsigned)lim;
    }
    /* A collision of 100 random bits is not expected; retry anyway. */
    for (int tries = 0; tries < 3; tries++) {
        if ((rc = smdp_matching_id_generate(o.matching_id)))
            return fail(rc, "matching ID");
        snprintf(o.iccid, sizeof(o.iccid), "%s", iccid ? iccid : "");
        rc = smdp_store_order_create(s, &o);
        if (rc != SMDP_ERR_EXISTS)
            break;
    }
    if (rc == RSP_ERR_NOTFOUND) {
        fprintf(stderr, "smdp-admin: no %s for operator %s\n",
                iccid ? "such profile" : "Available profile", op);
        return SMDP_ADMIN_EXIT_NOTFOUND;
    }
    if (rc == RSP_ERR_STATE) {
        fprintf(stderr, "smdp-admin: profile %s is not Available for operator %s\n",
                iccid ? iccid : "?", op);
        return SMDP_ADMIN_EXIT_CONFLICT;
    }
    if (rc)
        return fail(rc, "order create");
    pstate = o.eid[0] ? SMDP_PROFILE_LINKED : SMDP_PROFILE_ALLOCATED;
    if (release) {
        /* what ES2+ ConfirmOrder(releaseFlag=true) does (SGP.22 §5.3.2):
         * Allocated/Linked -> Released, the order stays ACTIVE */
        rc = smdp_store_order_transition(s, o.matching_id, SMDP_ORDER_ACTIVE, SMDP_ORDER_ACTIVE,
                                         pstate, SMDP_PROFILE_RELEASED);
        if (rc) {
            /* give the profile back rather than leave a half-made order */
            smdp_store_order_transition(s, o.matching_id, SMDP_ORDER_ACTIVE,
                                        SMDP_ORDER_CANCELLED, pstate, SMDP_PROFILE_AVAILABLE);
            return fail(rc, "order release");
        }
        pstate = SMDP_PROFILE_RELEASED;
    }
    if ((rc = admin_activation_code(o.smdp_address, o.matching_id, o.cc_required, ac,
                                    sizeof(ac))) < 0)
        return fail(rc, "activation code");
    printf("%s\n", ac);
    fprintf(stderr, "matchingId %s, ICCID %s, profile %s\n", o.matching_id, o.iccid,
            smdp_profile_state_name(pstate));
    return 0;
}

static int cmd_order(struct smdp_store *s, int argc, char **argv)
{
    const char *op = NULL, *iccid = NULL, *eid = NULL, *cc = NULL, *lim = NULL,
               *fqdn = NULL, *pos[1];
    int npos, rc, release = 0;
    struct opt opts[] = { { "operator", &op, NULL }, { "iccid", &iccid, NULL },
                          { "eid", &eid, NULL }, { "cc", &cc, NULL },
                          { "cc-limit", &lim, NULL }, { "fqdn", &fqdn, NULL },
                          { "release", NULL, &release }, { NULL, NULL, NULL } };
    if (argc < 1)
        return usage("order: create, list or show?");
    if ((rc = parse_opts(argc - 1, argv + 1, opts, pos, 1, &npos)))
        return rc;
    if (strcmp(argv[0], "create") == 0) {
        if (!op || npos)
            return usage("order create needs --operator ID");
        return order_create(s, op, iccid, eid, cc, lim, fqdn, release);
    }
    if (strcmp(argv[0], "list") == 0) {
        rc = smdp_store_order_list(s, print_order_row, NULL);
        return rc ? fail(rc, "order list") : 0;
    }
    if (strcmp(argv[0], "show") != 0 || npos != 1)
        return usage("order show MATCHINGID");
    struct smdp_order o;
    char ac[400];
    rc = smdp_store_order_get(s, SMDP_ORDER_BY_MATCHING_ID, pos[0], &o);
    if (rc)
        return fail(rc, pos[0]);
    if (admin_activation_code(o.smdp_address, o.matching_id, o.cc_required, ac, sizeof(ac)) < 0)
        strcpy(ac, "-");
    printf("matching-id: %s\nactivation-code: %s\niccid: %s\noperator: %s\nstate: %s\n"
           "eid: %s\nconfirmation-code: %s (%u of %u wrong attempts)\n"
           "transaction-id: %s\ndownloads: %u of %u\nkeys: %s\ncreated: %" PRId64
           "\nexpires: %" PRId64 "\nupdated: %" PRId64 "\n",
           o.matching_id, ac, o.iccid, o.operator_id, smdp_order_state_name(o.state),
           o.eid[0] ? o.eid : "-", o.cc_required ? "required" : "none", o.cc_attempts,
           o.cc_limit, o.transaction_id[0] ? o.transaction_id : "-", o.download_attempts,
           o.download_limit, o.used_ppk < 0 ? "-" : o.used_ppk ? "PPK" : "S-ENC/S-MAC",
           o.created, o.expires, o.updated);
    return 0;
}

int smdp_admin_run(int argc, char **argv)
{
    const char *db = NULL;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            db = argv[++i];
        } else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
            int lvl = rsp_log_level_parse(argv[++i]);
            if (lvl < 0)
                return usage("--log: error, warn, info or debug");
            rsp_log_level = lvl;
        } else {
            return usage("unknown global option");
        }
    }
    if (!db)
        return usage("--db FILE is required");
    if (i >= argc)
        return usage("no command");
    const char *cmd = argv[i];
    if (strcmp(cmd, "operator") && strcmp(cmd, "profile") && strcmp(cmd, "order"))
        return usage("unknown command");
    struct smdp_store *s = NULL;
    int rc = smdp_store_open_sqlite(db, &s);
    if (rc)
        return fail(rc, db);
    if (strcmp(cmd, "operator") == 0)
        rc = cmd_operator(s, argc - i - 1, argv + i + 1);
    else if (strcmp(cmd, "profile") == 0)
        rc = cmd_profile(s, argc - i - 1, argv + i + 1);
    else
        rc = cmd_order(s, argc - i - 1, argv + i + 1);
    smdp_store_close(s);
    return rc;
}
