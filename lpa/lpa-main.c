/*
 * lpa - command-line Local Profile Assistant (SGP.22 v2.5 §3.1 download,
 * §3.2 local profile management over ES10c §5.7.15-21, §3.5 notifications
 * over ES10b §5.7.9-11, ES10a §5.7.3-4, LoadCRL §5.7.12). Reference:
 * spec-notes/lpa-cli.md.
 *
 *   lpa [global options] <command> [args]
 *
 * Exit codes: 0 ok, 1 usage, 2 card/driver error, 3 SM-DP+/network error,
 * 4 refused by the eUICC's result code, 5 rejected by the user.
 * --json prints exactly one JSON document on stdout (jansson), success or
 * failure; without it, failures are one line on stderr naming the step.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "lpa.h"
#include "lpa_drivers.h"
#include "lpa_es10b.h"
#include "lpa_http_curl.h"
#include "lpa_rsp.h"
#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_log.h"
#include "rsp_util.h"

#include <EUICCInfo2.h>

enum { EX_OK = 0, EX_USAGE = 1, EX_CARD = 2, EX_NET = 3, EX_REFUSED = 4, EX_REJECTED = 5 };

#define RESOLVE_MAX 16
/* the largest CRL file read: what 256 STORE DATA blocks of 255 bytes carry
 * with the LoadCRLRequest header */
#define LPA_ES10_CRL_MAX (256u * 255u - 4u)

struct cli {
    /* global options */
    const char *driver, *state, *tcp, *reader, *aid_hex, *ca;
    long block_size;
    int json, insecure, yes, verbose;
    const char *resolve[RESOLVE_MAX + 1];
    size_t nresolve;
    /* run state */
    const char *command;
    struct lpa_apdu_driver drv;
    struct lpa_drv_inproc *inproc;
    struct lpa_drv_tcp *tcpd;
    struct lpa_drv_pcsc *pcsc;
    struct lpa_ctx lpa;
    int open;
    json_t *doc;    /* the success document being built */
};

struct cmd {
    const char *name;     /* "profile list" */
    const char *usage;    /* arguments */
    const char *help;
    int (*fn)(struct cli *c, int argc, char **argv);
};

/* ---- output ---------------------------------------------------------- */

static void emit_doc(json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
}

/* The one failure path: one line on stderr; with --json also the document.
 * extra (may be NULL) is merged into the document (reference stolen). */
static int fail(struct cli *c, int code, const char *step, json_t *extra,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail(struct cli *c, int code, const char *step, json_t *extra,
                const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "lpa: %s%s%s%s%s\n", c->command ? c->command : "",
            c->command ? ": " : "", step ? step : "", step ? ": " : "", msg);
    if (c->json) {
        json_t *d = json_object();
        json_object_set_new(d, "command", c->command ? json_string(c->command) : json_null());
        json_object_set_new(d, "ok", json_false());
        json_object_set_new(d, "exitCode", json_integer(code));
        json_object_set_new(d, "step", json_string(step ? step : "usage"));
        if (extra)
            json_object_update(d, extra);
        json_object_set_new(d, "message", json_string(msg));
        emit_doc(d);
        json_decref(d);
    }
    json_decref(extra);
    return code;
}

static int usage_err(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_err(struct cli *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return fail(c, EX_USAGE, "usage", NULL, "%s (see lpa %s%s--help)", msg,
                c->command ? c->command : "", c->command ? " " : "");
}

static const char *driver_error(struct cli *c)
{
    if (c->pcsc)
        return lpa_drv_pcsc_error(c->pcsc);
    if (c->tcpd)
        return lpa_drv_tcp_error(c->tcpd);
    return "";
}

/* A card/driver failure (exit 2): names the ES10 step and the SW. */
static int card_err(struct cli *c, const char *step, int rc)
{
    json_t *x = json_object();
    const char *de = driver_error(c);
    char sw[8] = "";

    if (rc == LPA_ERR_SW) {
        snprintf(sw, sizeof(sw), "%04X", lpa_last_sw(&c->lpa));
        json_object_set_new(x, "sw", json_string(sw));
    }
    return fail(c, EX_CARD, step, x, "%s%s%s%s%s", lpa_strerror(rc),
                sw[0] ? " SW " : "", sw, de[0] ? " - " : "", de);
}

/* The eUICC answered with a result code other than ok (exit 4). */
static int refused(struct cli *c, const char *step, int result, const char *name)
{
    json_t *x = json_pack("{s:i, s:s}", "result", result, "resultName", name);

    return fail(c, EX_REFUSED, step, x, "eUICC refused: %s (%d)", name, result);
}

static int ok_doc(struct cli *c)
{
    if (c->json)
        emit_doc(c->doc);
    return EX_OK;
}

static json_t *jstr_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* ---- the card -------------------------------------------------------- */

static int card_open(struct cli *c)
{
    struct lpa_options opt = { 0 };
    uint8_t aid[16];
    int rc;

    if (c->aid_hex) {
        size_t n = strlen(c->aid_hex);
        rc = n >= 10 && n <= 32 ? rsp_hex_decode(c->aid_hex, n, aid, sizeof(aid)) : -1;
        if (rc < 5)
            return usage_err(c, "--aid: 5 to 16 bytes of hex");
        opt.isdr_aid = aid;
        opt.isdr_aid_len = (size_t)rc;
    }
    if (c->block_size && (c->block_size < 1 || c->block_size > 255))
        return usage_err(c, "--block-size: 1..255");
    opt.block_size = (size_t)c->block_size;

    if (!strcmp(c->driver, "inproc")) {
        if (!c->state)
            return usage_err(c, "the inproc driver needs --state FILE (or LPA_STATE)");
        if (access(c->state, R_OK) != 0)
            return fail(c, EX_CARD, "connect", NULL, "%s: cannot read the eUICC state file",
                        c->state);
        rc = lpa_drv_inproc_new(c->state, &c->inproc, &c->drv);
    } else if (!strcmp(c->driver, "tcp")) {
        rc = lpa_drv_tcp_new(c->tcp, 0, &c->tcpd, &c->drv);
        if (rc == RSP_ERR_INVAL)
            return usage_err(c, "--tcp: a loopback a.b.c.d:port");
    } else if (!strcmp(c->driver, "pcsc")) {
        rc = lpa_drv_pcsc_new(c->reader, &c->pcsc, &c->drv);
    } else {
        return usage_err(c, "unknown driver \"%s\" (inproc, tcp, pcsc)", c->driver);
    }
    if (rc)
        return fail(c, EX_CARD, "connect", NULL, "%s", lpa_strerror(rc));
    if ((rc = lpa_ctx_init(&c->lpa, &c->drv, &opt)))
        return usage_err(c, "driver options: %s", lpa_strerror(rc));
    if ((rc = lpa_open(&c->lpa)))
        return card_err(c, "open ISD-R", rc);
    c->open = 1;
    if (c->verbose && c->pcsc)
        fprintf(stderr, "lpa: reader %s\n", lpa_drv_pcsc_reader(c->pcsc));
    return EX_OK;
}

static void card_close(struct cli *c)
{
    if (c->open)
        lpa_close(&c->lpa);
    c->open = 0;
    lpa_drv_inproc_free(c->inproc);
    lpa_drv_tcp_free(c->tcpd);
    lpa_drv_pcsc_free(c->pcsc);
    c->inproc = NULL;
    c->tcpd = NULL;
    c->pcsc = NULL;
}

/* ---- argument checks ------------------------------------------------- */

static int all_of(const char *s, int (*pred)(int))
{
    for (; *s; s++)
        if (!pred((unsigned char)*s))
            return 0;
    return 1;
}

static int is_iccid(const char *s)
{
    size_t n = strlen(s);

    return n >= 18 && n <= 20 && all_of(s, isdigit);
}

/* ICCID (18-20 digits) or ISD-P AID (5-16 bytes of hex). */
static int parse_profile_id(const char *s, enum lpa_profile_id_kind *kind)
{
    size_t n = strlen(s);

    if (is_iccid(s)) {
        *kind = LPA_ID_ICCID;
        return 0;
    }
    if (n >= 10 && n <= 32 && n % 2 == 0 && all_of(s, isxdigit)) {
        *kind = LPA_ID_AID;
        return 0;
    }
    return -1;
}

static int parse_seq(const char *s, long *seq)
{
    char *end;

    if (!*s || !all_of(s, isdigit) || strlen(s) > 9)
        return -1;
    *seq = strtol(s, &end, 10);
    return 0;
}

/* Ask on the terminal unless --yes; 1 = go ahead. */
static int confirm(struct cli *c, const char *what)
{
    char line[16];

    if (c->yes)
        return 1;
    if (!isatty(STDIN_FILENO))
        return 0;
    fprintf(stderr, "%s? [y/N] ", what);
    if (!fgets(line, sizeof(line), stdin))
        return 0;
    return line[0] == 'y' || line[0] == 'Y';
}

/* ---- names ----------------------------------------------------------- */

static const char *state_name(int s)
{
    return s == LPA_PROFILE_STATE_ENABLED ? "enabled" :
           s == LPA_PROFILE_STATE_DISABLED ? "disabled" : "unknown";
}

static const char *class_name(int k)
{
    switch (k) {
    case LPA_PROFILE_CLASS_TEST: return "test";
    case LPA_PROFILE_CLASS_PROVISIONING: return "provisioning";
    case LPA_PROFILE_CLASS_OPERATIONAL: return "operational";
    default: return "unknown";
    }
}

/* SGP.22 §5.7.16-18 result names (RSPDefinitions). */
static const char *profile_result_name(const char *op, int r)
{
    switch (r) {
    case 0: return "ok";
    case 1: return "iccidOrAidNotFound";
    case 2: return !strcmp(op, "disable") ? "profileNotInEnabledState" : "profileNotInDisabledState";
    case 3: return "disallowedByPolicy";
    case 4: return "wrongProfileReenabling";
    case 5: return "catBusy";
    case 127: return "undefinedError";
    default: return "unknown";
    }
}

static const char *event_name(uint32_t ev)
{
    if (ev & 1u) return "install";
    if (ev & 2u) return "enable";
    if (ev & 4u) return "disable";
    if (ev & 8u) return "delete";
    return "unknown";
}

/* ---- commands -------------------------------------------------------- */

static void version_str(const OCTET_STRING_t *v, char out[16])
{
    if (v && v->size == 3)
        snprintf(out, 16, "%u.%u.%u", v->buf[0], v->buf[1], v->buf[2]);
    else
        snprintf(out, 16, "?");
}

static json_t *pkid_list(const SubjectKeyIdentifier_t *const *arr, int n)
{
    json_t *a = json_array();
    char hex[2 * 64 + 1];

    for (int i = 0; i < n; i++) {
        if (!arr[i] || arr[i]->size > 64)
            continue;
        rsp_hex_encode(arr[i]->buf, (size_t)arr[i]->size, hex);
        json_array_append_new(a, json_string(hex));
    }
    return a;
}

/* UICCCapability named bits (SIMalliance eUICC Profile Package
 * PEDefinitions), bit i = name[i]. */
static const char *const uicc_cap_names[] = {
    "contactlessSupport", "usimSupport", "isimSupport", "csimSupport", "akaMilenage",
    "akaCave", "akaTuak128", "akaTuak256", "usimTestAlgorithm", "rfu2", "gbaAuthenUsim",
    "gbaAuthenISim", "mbmsAuthenUsim", "eapClient", "javacard", "multos",
    "multipleUsimSupport", "multipleIsimSupport", "multipleCsimSupport", "berTlvFileSupport",
    "dfLinkSupport", "catTp", "getIdentity", "profile-a-x25519", "profile-b-p256",
    "suciCalculatorApi", "dns-resolution", "scp11ac", "scp11c-authorization-mechanism",
    "s16mode",
};

static json_t *named_bits(const BIT_STRING_t *bs, const char *const *names, size_t n)
{
    json_t *a = json_array();
    size_t nbits;

    if (!bs || !bs->buf || bs->size <= 0)
        return a;
    nbits = (size_t)bs->size * 8 - (size_t)(bs->bits_unused & 7);
    for (size_t i = 0; i < nbits; i++) {
        if (!(bs->buf[i / 8] & (0x80 >> (i % 8))))
            continue;
        if (i < n) {
            json_array_append_new(a, json_string(names[i]));
        } else {
            char b[16];
            snprintf(b, sizeof(b), "bit%zu", i);
            json_array_append_new(a, json_string(b));
        }
    }
    return a;
}

/*
 * GetEUICCInfo2 (§5.7.8, BF22): the essentials, named after the EUICCInfo2
 * fields of SGP.22 (spec-notes/lpa-cli.md lists them): profileVersion, svn,
 * euiccFirmwareVer, ppVersion ("x.y.z"), extCardResource (ETSI TS 102 226
 * §8.2.1.7.2: 81 installed applications, 82 free non-volatile memory, 83
 * free volatile memory), uiccCapability (bit names), sasAccreditationNumber,
 * euiccCiPKIdListForVerification / ...ForSigning (hex).
 */
static int chip_info2(struct cli *c, json_t *info)
{
    struct rsp_buf resp;
    EUICCInfo2_t *i2 = NULL;
    json_t *ecr;
    char v[16];
    int rc;

    if ((rc = lpa_es10b_get_euicc_info2(&c->lpa, &resp)))
        return rc;
    rc = rsp_asn1_decode(&asn_DEF_EUICCInfo2, resp.data, resp.len, resp.len, (void **)&i2);
    rsp_buf_free(&resp);
    if (rc)
        return rc;
    version_str(&i2->profileVersion, v);
    json_object_set_new(info, "profileVersion", json_string(v));
    version_str(&i2->svn, v);
    json_object_set_new(info, "svn", json_string(v));
    version_str(&i2->euiccFirmwareVer, v);
    json_object_set_new(info, "euiccFirmwareVer", json_string(v));
    ecr = json_object();
    {
        struct rsp_tlv t;
        static const struct { uint32_t tag; const char *name; } f[] = {
            { 0x81, "installedApplications" }, { 0x82, "freeNonVolatileMemory" },
            { 0x83, "freeVolatileMemory" },
        };
        for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
            if (rsp_tlv_find(i2->extCardResource.buf, (size_t)i2->extCardResource.size,
                             f[k].tag, &t) == 0 && t.val_len <= 4) {
                json_int_t n = 0;
                for (size_t b = 0; b < t.val_len; b++)
                    n = (n << 8) | t.val[b];
                json_object_set_new(ecr, f[k].name, json_integer(n));
            }
        }
    }
    json_object_set_new(info, "extCardResource", ecr);
    json_object_set_new(info, "uiccCapability",
                        named_bits(&i2->uiccCapability, uicc_cap_names,
                                   sizeof(uicc_cap_names) / sizeof(uicc_cap_names[0])));
    version_str(&i2->ppVersion, v);
    json_object_set_new(info, "ppVersion", json_string(v));
    json_object_set_new(info, "sasAccreditationNumber",
                        json_stringn((const char *)i2->sasAcreditationNumber.buf,
                                     (size_t)i2->sasAcreditationNumber.size));
    json_object_set_new(info, "euiccCiPKIdListForVerification",
                        pkid_list((const SubjectKeyIdentifier_t *const *)
                                  i2->euiccCiPKIdListForVerification.list.array,
                                  i2->euiccCiPKIdListForVerification.list.count));
    json_object_set_new(info, "euiccCiPKIdListForSigning",
                        pkid_list((const SubjectKeyIdentifier_t *const *)
                                  i2->euiccCiPKIdListForSigning.list.array,
                                  i2->euiccCiPKIdListForSigning.list.count));
    rsp_asn1_free(&asn_DEF_EUICCInfo2, i2);
    return 0;
}

static void print_str(const char *label, json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    printf("%-24s%s\n", label, s && *s ? s : "(none)");
}

static int cmd_chip_info(struct cli *c, int argc, char **argv)
{
    struct lpa_addresses addr = { 0 };
    json_t *info, *ecr, *v;
    char eid[33];
    size_t i;
    int rc;

    (void)argv;
    if (argc)
        return usage_err(c, "chip info takes no arguments");
    if ((rc = card_open(c)))
        return rc;
    if ((rc = lpa_get_eid(&c->lpa, eid)))
        return card_err(c, "GetEID", rc);
    if ((rc = lpa_get_configured_addresses(&c->lpa, &addr)))
        return card_err(c, "GetEuiccConfiguredAddresses", rc);
    info = json_object();
    json_object_set_new(c->doc, "eid", json_string(eid));
    json_object_set_new(c->doc, "defaultDpAddress", jstr_or_null(addr.default_dp));
    json_object_set_new(c->doc, "rootDsAddress", jstr_or_null(addr.root_ds));
    json_object_set_new(c->doc, "euiccInfo2", info);
    if ((rc = chip_info2(c, info))) {
        lpa_addresses_free(&addr);
        return card_err(c, "GetEUICCInfo2", rc);
    }
    if (!c->json) {
        printf("%-24s%s\n", "EID:", eid);
        printf("%-24s%s\n", "default SM-DP+:", addr.default_dp && addr.default_dp[0] ?
               addr.default_dp : "(none)");
        printf("%-24s%s\n", "root SM-DS:", addr.root_ds && addr.root_ds[0] ?
               addr.root_ds : "(none)");
        print_str("SGP.22 version (svn):", info, "svn");
        print_str("profile version:", info, "profileVersion");
        print_str("firmware version:", info, "euiccFirmwareVer");
        print_str("PP version:", info, "ppVersion");
        print_str("SAS accreditation:", info, "sasAccreditationNumber");
        ecr = json_object_get(info, "extCardResource");
        if ((v = json_object_get(ecr, "installedApplications")))
            printf("%-24s%" JSON_INTEGER_FORMAT "\n", "installed apps:", json_integer_value(v));
        if ((v = json_object_get(ecr, "freeNonVolatileMemory")))
            printf("%-24s%" JSON_INTEGER_FORMAT " bytes\n", "free NVM:", json_integer_value(v));
        if ((v = json_object_get(ecr, "freeVolatileMemory")))
            printf("%-24s%" JSON_INTEGER_FORMAT " bytes\n", "free RAM:", json_integer_value(v));
        printf("%-24s", "UICC capability:");
        json_array_foreach(json_object_get(info, "uiccCapability"), i, v)
            printf("%s%s", i ? " " : "", json_string_value(v));
        printf("\n");
        json_array_foreach(json_object_get(info, "euiccCiPKIdListForVerification"), i, v)
            printf("%-24s%s\n", "CI PKID (verification):", json_string_value(v));
        json_array_foreach(json_object_get(info, "euiccCiPKIdListForSigning"), i, v)
            printf("%-24s%s\n", "CI PKID (signing):", json_string_value(v));
    }
    lpa_addresses_free(&addr);
    return ok_doc(c);
}

/* profile list [--iccid ICCID | --aid AID | --class CLASS]: at most one
 * searchCriteria (SGP.22 §5.7.15), checked before the card is touched. */
static int parse_profile_query(struct cli *c, int argc, char **argv, struct lpa_profile_query *q)
{
    memset(q, 0, sizeof(*q));
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (q->search != LPA_SEARCH_ALL && (!strcmp(a, "--iccid") || !strcmp(a, "--aid") ||
                                           !strcmp(a, "--class")))
            return usage_err(c, "one search criterion at most (--iccid, --aid or --class)");
        if (i + 1 >= argc)
            return usage_err(c, "unexpected \"%s\"", a);
        if (!strcmp(a, "--iccid")) {
            q->search = LPA_SEARCH_ICCID;
            q->id = argv[++i];
            if (!is_iccid(q->id))
                return usage_err(c, "\"%s\" is not an ICCID (18-20 digits)", q->id);
        } else if (!strcmp(a, "--aid")) {
            enum lpa_profile_id_kind kind;
            q->search = LPA_SEARCH_AID;
            q->id = argv[++i];
            if (parse_profile_id(q->id, &kind) || kind != LPA_ID_AID)
                return usage_err(c, "\"%s\" is not an ISD-P AID (10-32 hex digits)", q->id);
        } else if (!strcmp(a, "--class")) {
            const char *k = argv[++i];
            q->search = LPA_SEARCH_CLASS;
            if (!strcmp(k, "test"))
                q->profile_class = LPA_PROFILE_CLASS_TEST;
            else if (!strcmp(k, "provisioning"))
                q->profile_class = LPA_PROFILE_CLASS_PROVISIONING;
            else if (!strcmp(k, "operational"))
                q->profile_class = LPA_PROFILE_CLASS_OPERATIONAL;
            else
                return usage_err(c, "--class: test, provisioning or operational");
        } else {
            return usage_err(c, "unexpected \"%s\"", a);
        }
    }
    return EX_OK;
}

static int cmd_profile_list(struct cli *c, int argc, char **argv)
{
    struct lpa_profile_list l = { 0 };
    struct lpa_profile_query q;
    json_t *arr;
    int rc;

    if ((rc = parse_profile_query(c, argc, argv, &q)))
        return rc;
    if ((rc = card_open(c)))
        return rc;
    if ((rc = lpa_get_profiles_info_query(&c->lpa, &q, &l)))
        return card_err(c, "GetProfilesInfo", rc);
    if (l.error) {
        int e = l.error;
        lpa_profile_list_free(&l);
        return refused(c, "GetProfilesInfo", e, e == 1 ? "incorrectInput" : "undefinedError");
    }
    arr = json_array();
    for (size_t i = 0; i < l.count; i++) {
        const struct lpa_profile *p = &l.items[i];
        json_array_append_new(arr, json_pack("{s:s?, s:s?, s:s, s:s, s:s?, s:s?, s:s?}",
            "iccid", p->iccid[0] ? p->iccid : NULL,
            "isdpAid", p->isdp_aid[0] ? p->isdp_aid : NULL,
            "state", state_name(p->state), "class", class_name(p->profile_class),
            "nickname", p->nickname, "serviceProviderName", p->spn,
            "profileName", p->name));
        if (!c->json)
            printf("%-20s  %-8s  %-12s  %-32s  %s%s%s\n", p->iccid, state_name(p->state),
                   class_name(p->profile_class), p->isdp_aid, p->name ? p->name : "",
                   p->nickname ? " / " : "", p->nickname ? p->nickname : "");
    }
    if (!c->json && l.count == 0)
        printf(q.search == LPA_SEARCH_ALL ? "no profiles\n" : "no matching profile\n");
    json_object_set_new(c->doc, "profiles", arr);
    lpa_profile_list_free(&l);
    return ok_doc(c);
}

static int profile_op(struct cli *c, int argc, char **argv, const char *op)
{
    enum lpa_profile_id_kind kind;
    const char *step;
    int rc, result = -1;

    if (argc != 1)
        return usage_err(c, "profile %s needs one ICCID or ISD-P AID", op);
    if (parse_profile_id(argv[0], &kind))
        return usage_err(c, "\"%s\" is neither an ICCID (18-20 digits) nor an ISD-P AID (hex)",
                         argv[0]);
    if (!strcmp(op, "delete") && !confirm(c, "Delete the profile"))
        return fail(c, EX_REJECTED, "userConsent", NULL, "not confirmed (use --yes)");
    if ((rc = card_open(c)))
        return rc;
    if (!strcmp(op, "enable")) {
        step = "EnableProfile";
        rc = lpa_enable_profile(&c->lpa, kind, argv[0], 0, &result);
    } else if (!strcmp(op, "disable")) {
        step = "DisableProfile";
        rc = lpa_disable_profile(&c->lpa, kind, argv[0], 0, &result);
    } else {
        step = "DeleteProfile";
        rc = lpa_delete_profile(&c->lpa, kind, argv[0], &result);
    }
    if (rc)
        return card_err(c, step, rc);
    if (result != 0)
        return refused(c, step, result, profile_result_name(op, result));
    json_object_set_new(c->doc, kind == LPA_ID_ICCID ? "iccid" : "isdpAid", json_string(argv[0]));
    if (!c->json)
        printf("profile %s: %sd\n", argv[0], op);
    return ok_doc(c);
}

static int cmd_profile_enable(struct cli *c, int argc, char **argv)
{
    return profile_op(c, argc, argv, "enable");
}

static int cmd_profile_disable(struct cli *c, int argc, char **argv)
{
    return profile_op(c, argc, argv, "disable");
}

static int cmd_profile_delete(struct cli *c, int argc, char **argv)
{
    return profile_op(c, argc, argv, "delete");
}

static int cmd_profile_nickname(struct cli *c, int argc, char **argv)
{
    int rc, result = -1;

    if (argc != 2)
        return usage_err(c, "profile nickname needs ICCID NAME");
    if (!is_iccid(argv[0]))
        return usage_err(c, "\"%s\" is not an ICCID (18-20 digits)", argv[0]);
    if (strlen(argv[1]) > 64)
        return usage_err(c, "a nickname has at most 64 bytes");
    if ((rc = card_open(c)))
        return rc;
    if ((rc = lpa_set_nickname(&c->lpa, argv[0], argv[1], &result)))
        return card_err(c, "SetNickname", rc);
    if (result != 0)
        return refused(c, "SetNickname", result, result == 1 ? "iccidNotFound" :
                       result == 127 ? "undefinedError" : "unknown");
    json_object_set_new(c->doc, "iccid", json_string(argv[0]));
    json_object_set_new(c->doc, "nickname", json_string(argv[1]));
    if (!c->json)
        printf("profile %s: nickname set\n", argv[0]);
    return ok_doc(c);
}

/* Progress bar on stderr when stdout is a terminal. */
static void on_step(void *arg, int step, unsigned done, unsigned total)
{
    (void)arg;
    unsigned w = 30, fill = total ? done * w / total : 0;

    fprintf(stderr, "\r[%.*s%*s] %-26s", (int)fill, "##############################",
            (int)(w - fill), "", lpa_step_name(step));
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}

static int consent(void *arg, const struct lpa_metadata *md)
{
    struct cli *c = arg;
    char q[200];

    if (!c->json)
        printf("profile: %s  %s  %s (%s)\n", md->iccid, md->spn, md->name,
               class_name(md->profile_class));
    snprintf(q, sizeof(q), "Install profile %s (%s)%s", md->iccid, md->name,
             md->ppr_consent_required ? " with profile policy rules the eUICC asks you to confirm" :
             md->ppr_mask ? " with profile policy rules" : "");
    return confirm(c, q);
}

static int http_open(struct cli *c, struct lpa_http_curl **h, struct lpa_http_driver *http)
{
    struct lpa_http_curl_opts o = { 0 };
    int rc;

    o.ca_file = c->ca;
    o.resolve = c->nresolve ? c->resolve : NULL;
    o.insecure = c->insecure;
    o.verbose = c->verbose > 1;
    if ((rc = lpa_http_curl_new(&o, h, http)))
        return fail(c, EX_NET, "http", NULL, "%s", lpa_strerror(rc));
    return 0;
}

/* A failed lpa_download / lpa_process_notifications: the result decides
 * the exit code. */
static int rsp_failed(struct cli *c, int rc, const struct lpa_result *r)
{
    json_t *x = json_object();
    const char *step = lpa_step_name(r->step);
    int code = EX_CARD;

    if (r->subject_code[0]) {
        json_object_set_new(x, "status", json_string(r->status));
        json_object_set_new(x, "subjectCode", json_string(r->subject_code));
        json_object_set_new(x, "reasonCode", json_string(r->reason_code));
    }
    if (r->http_status)
        json_object_set_new(x, "httpStatus", json_integer(r->http_status));
    if (r->sw && r->sw != 0x9000) {
        char sw[8];
        snprintf(sw, sizeof(sw), "%04X", r->sw);
        json_object_set_new(x, "sw", json_string(sw));
    }
    if (r->euicc_error)
        json_object_set_new(x, "euiccError", json_integer(r->euicc_error));
    if (r->bpp_command_id >= 0)
        json_object_set_new(x, "bppCommandId", json_integer(r->bpp_command_id));
    if (r->bpp_error_reason >= 0)
        json_object_set_new(x, "bppErrorReason", json_integer(r->bpp_error_reason));
    if (r->ppr_not_allowed) {
        json_t *a = json_array();
        if (r->ppr_not_allowed & LPA_PPR1)
            json_array_append_new(a, json_string("ppr1"));
        if (r->ppr_not_allowed & LPA_PPR2)
            json_array_append_new(a, json_string("ppr2"));
        json_object_set_new(x, "pprNotAllowed", a);
    }
    if (r->cancel_reason >= 0)
        json_object_set_new(x, "cancelReason", json_integer(r->cancel_reason));
    switch (r->step) {
    case LPA_STEP_USER_CONSENT:
        /* a PPR the eUICC's RAT does not allow is the card's policy (4),
         * not the user's choice (5) */
        code = rc == LPA_ERR_PPR ? EX_REFUSED : EX_REJECTED;
        break;
    case LPA_STEP_INITIATE_AUTHENTICATION:
    case LPA_STEP_AUTHENTICATE_CLIENT:
    case LPA_STEP_GET_BPP:
    case LPA_STEP_HANDLE_NOTIFICATION:
    case LPA_STEP_CANCEL_SESSION:
        code = EX_NET;
        break;
    case LPA_STEP_ACTIVATION_CODE:
        code = EX_USAGE;
        break;
    case LPA_STEP_AUTHENTICATE_SERVER:
    case LPA_STEP_PREPARE_DOWNLOAD:
    case LPA_STEP_LOAD_BPP:
        /* refused: the card answered a result code (ES10b error, failed
         * PIR); anything else - a status word, a dropped connection - is a
         * card/driver failure */
        code = rc == LPA_ERR_EUICC ? EX_REFUSED : EX_CARD;
        break;
    default:
        code = r->subject_code[0] || r->http_status ? EX_NET : EX_CARD;
        break;
    }
    if (r->subject_code[0])
        return fail(c, code, step, x, "%s %s/%s%s%s", r->status, r->subject_code,
                    r->reason_code, r->message[0] ? ": " : "", r->message);
    {
        /* the detail line may already start with the step's name */
        const char *d = r->detail[0] ? r->detail : lpa_strerror(rc);
        size_t sl = strlen(step);
        if (!strncmp(d, step, sl) && d[sl] == ':' && d[sl + 1] == ' ')
            d += sl + 2;
        return fail(c, code, step, x, "%s", d);
    }
}

static int cmd_profile_download(struct cli *c, int argc, char **argv)
{
    struct lpa_download_opts o = { 0 };
    struct lpa_result r;
    struct lpa_http_curl *h = NULL;
    struct lpa_http_driver http;
    int rc;

    for (int i = 0; i < argc; i++) {
        int more = i + 1 < argc;
        if (!strcmp(argv[i], "-a") && more)
            o.activation_code = argv[++i];
        else if (!strcmp(argv[i], "-s") && more)
            o.smdp_address = argv[++i];
        else if (!strcmp(argv[i], "-m") && more)
            o.matching_id = argv[++i];
        else if (!strcmp(argv[i], "-c") && more)
            o.confirmation_code = argv[++i];
        else if (!strcmp(argv[i], "--imei") && more)
            o.imei = argv[++i];
        else if (!strcmp(argv[i], "--keep-notifications"))
            o.keep_notifications = 1;
        else
            return usage_err(c, "unexpected \"%s\"", argv[i]);
    }
    if (!o.activation_code == !o.smdp_address)
        return usage_err(c, "give -a ACTIVATION_CODE or -s ADDRESS");
    if (o.matching_id && !o.smdp_address)
        return usage_err(c, "-m goes with -s");
    if (o.activation_code) {
        struct lpa_activation_code ac;
        if (lpa_ac_parse(o.activation_code, &ac))
            return usage_err(c, "malformed activation code");
    }
    if (o.imei && (strlen(o.imei) != 15 || !all_of(o.imei, isdigit)))
        return usage_err(c, "--imei: 15 digits");
    if ((rc = card_open(c)))
        return rc;
    if ((rc = http_open(c, &h, &http)))
        return rc;
    o.consent = consent;
    o.consent_arg = c;
    if (isatty(STDOUT_FILENO) && !c->json)
        o.on_step = on_step;
    /* wall time of the download itself: every ES9+ exchange (TLS handshake
     * included) and every ES10 command, without process start-up */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = lpa_download(&c->lpa, &http, &o, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    lpa_http_curl_free(h);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (rc)
        return rsp_failed(c, rc, &r);
    json_object_set_new(c->doc, "iccid", json_string(r.iccid));
    json_object_set_new(c->doc, "elapsedUs", json_integer((json_int_t)(ms * 1000.0 + 0.5)));
    if (r.notification_seq >= 0)
        json_object_set_new(c->doc, "notificationSeq", json_integer(r.notification_seq));
    if (r.recovered)
        json_object_set_new(c->doc, "recovered", json_true());
    if (r.detail[0])
        json_object_set_new(c->doc, "detail", json_string(r.detail));
    if (!c->json)
        printf("profile %s installed in %.1f ms%s%s\n", r.iccid, ms, r.detail[0] ? " - " : "",
               r.detail);
    return ok_doc(c);
}


static int cmd_notification_list(struct cli *c, int argc, char **argv)
{
    struct lpa_notification_list l = { 0 };
    json_t *arr;
    int rc;

    (void)argv;
    if (argc)
        return usage_err(c, "notification list takes no arguments");
    if ((rc = card_open(c)))
        return rc;
    if ((rc = lpa_list_notifications(&c->lpa, &l)))
        return card_err(c, "ListNotification", rc);
    if (l.error) {
        int e = l.error;
        lpa_notification_list_free(&l);
        return refused(c, "ListNotification", e, "undefinedError");
    }
    arr = json_array();
    for (size_t i = 0; i < l.count; i++) {
        const struct lpa_notification *n = &l.items[i];
        json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:s?}",
            "seq", (json_int_t)n->seq, "event", event_name(n->event),
            "address", n->address ? n->address : "", "iccid", n->iccid[0] ? n->iccid : NULL));
        if (!c->json)
            printf("%6ld  %-8s  %-20s  %s\n", n->seq, event_name(n->event), n->iccid,
                   n->address ? n->address : "");
    }
    if (!c->json && l.count == 0)
        printf("no notifications\n");
    json_object_set_new(c->doc, "notifications", arr);
    lpa_notification_list_free(&l);
    return ok_doc(c);
}

static int cmd_notification_process(struct cli *c, int argc, char **argv)
{
    struct lpa_result r;
    struct lpa_http_curl *h = NULL;
    struct lpa_http_driver http;
    unsigned sent = 0;
    long seq = -1;
    int rc;

    if (argc > 1 || (argc == 1 && parse_seq(argv[0], &seq)))
        return usage_err(c, "notification process [SEQ]");
    if ((rc = card_open(c)))
        return rc;
    if ((rc = http_open(c, &h, &http)))
        return rc;
    rc = lpa_process_notifications(&c->lpa, &http, seq, &sent, &r);
    lpa_http_curl_free(h);
    if (rc)
        return rsp_failed(c, rc, &r);
    json_object_set_new(c->doc, "sent", json_integer(sent));
    if (!c->json)
        printf("%u notification(s) sent\n", sent);
    return ok_doc(c);
}


static int cmd_notification_remove(struct cli *c, int argc, char **argv)
{
    struct lpa_notification_list l = { 0 };
    json_t *arr = json_array();
    long seq = -1;
    int all = 0, rc, result;

    if (argc == 1 && !strcmp(argv[0], "--all"))
        all = 1;
    else if (argc != 1 || parse_seq(argv[0], &seq)) {
        json_decref(arr);
        return usage_err(c, "notification remove SEQ|--all");
    }
    json_object_set_new(c->doc, "removed", arr);
    if ((rc = card_open(c)))
        return rc;
    if (all) {
        if ((rc = lpa_list_notifications(&c->lpa, &l)))
            return card_err(c, "ListNotification", rc);
        for (size_t i = 0; i < l.count; i++) {
            if ((rc = lpa_remove_notification(&c->lpa, l.items[i].seq, &result))) {
                lpa_notification_list_free(&l);
                return card_err(c, "RemoveNotificationFromList", rc);
            }
            if (result == 0)
                json_array_append_new(arr, json_integer(l.items[i].seq));
        }
        lpa_notification_list_free(&l);
    } else {
        if ((rc = lpa_remove_notification(&c->lpa, seq, &result)))
            return card_err(c, "RemoveNotificationFromList", rc);
        if (result != 0)
            return refused(c, "RemoveNotificationFromList", result,
                           result == 1 ? "nothingToDelete" : "undefinedError");
        json_array_append_new(arr, json_integer(seq));
    }
    if (!c->json)
        printf("%zu notification(s) removed\n", json_array_size(arr));
    return ok_doc(c);
}

static int cmd_defaultdp_set(struct cli *c, int argc, char **argv)
{
    int rc, result = -1;

    if (argc != 1)
        return usage_err(c, "defaultdp set ADDRESS (\"\" clears it)");
    if (strlen(argv[0]) > 255)
        return usage_err(c, "address too long");
    if ((rc = card_open(c)))
        return rc;
    if ((rc = lpa_set_default_dp_address(&c->lpa, argv[0], &result)))
        return card_err(c, "SetDefaultDpAddress", rc);
    if (result != 0)
        return refused(c, "SetDefaultDpAddress", result, "undefinedError");
    json_object_set_new(c->doc, "defaultDpAddress", json_string(argv[0]));
    if (!c->json)
        printf("default SM-DP+ address set\n");
    return ok_doc(c);
}

static int cmd_memory_reset(struct cli *c, int argc, char **argv)
{
    unsigned opts = 0;
    int rc, result = -1;

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--operational"))
            opts |= LPA_RESET_OPERATIONAL;
        else if (!strcmp(argv[i], "--test"))
            opts |= LPA_RESET_TEST_PROFILES;
        else if (!strcmp(argv[i], "--default-smdp"))
            opts |= LPA_RESET_DEFAULT_SMDP;
        else
            return usage_err(c, "unexpected \"%s\"", argv[i]);
    }
    if (!opts)
        return usage_err(c, "name what to reset: --operational, --test, --default-smdp");
    if (!confirm(c, "Reset the eUICC memory"))
        return fail(c, EX_REJECTED, "userConsent", NULL, "not confirmed (use --yes)");
    if ((rc = card_open(c)))
        return rc;
    if ((rc = lpa_euicc_memory_reset(&c->lpa, opts, &result)))
        return card_err(c, "eUICCMemoryReset", rc);
    if (result != 0)
        return refused(c, "eUICCMemoryReset", result, result == 1 ? "nothingToDelete" :
                       result == 5 ? "catBusy" : "undefinedError");
    if (!c->json)
        printf("memory reset done\n");
    return ok_doc(c);
}

/* loadCRLResponseError names (SGP.22 §5.7.12, RSPDefinitions). */
static const char *crl_error_name(int e)
{
    switch (e) {
    case 1: return "invalidSignature";
    case 2: return "invalidCRLFormat";
    case 3: return "notEnoughMemorySpace";
    case 4: return "verificationKeyNotFound";
    case 5: return "fresherCrlAlreadyLoaded";
    case 6: return "baseCrlMissing";
    case 127: return "undefinedError";
    default: return "unknown";
    }
}

/* Read a whole file of at most max bytes; NULL on failure (errno kept). */
static uint8_t *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p = NULL;
    size_t n = 0;

    if (!f)
        return NULL;
    p = malloc(max + 1);
    if (p)
        n = fread(p, 1, max + 1, f);
    if (!p || ferror(f) || n > max) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = n;
    return p;
}

static int cmd_crl_load(struct cli *c, int argc, char **argv)
{
    struct lpa_crl_result r;
    uint8_t *der;
    size_t len = 0;
    json_t *arr;
    int rc;

    if (argc != 1)
        return usage_err(c, "crl load needs one FILE (a DER CRL)");
    if (!(der = read_file(argv[0], LPA_ES10_CRL_MAX, &len)))
        return usage_err(c, "%s: cannot read it, or over %u bytes", argv[0], LPA_ES10_CRL_MAX);
    if ((rc = card_open(c))) {
        free(der);
        return rc;
    }
    rc = lpa_es10b_load_crl(&c->lpa, der, len, &r);
    free(der);
    if (rc == RSP_ERR_INVAL || rc == RSP_ERR_TOOBIG)
        return usage_err(c, "%s: %s", argv[0], rc == RSP_ERR_INVAL ?
                         "not one DER CertificateList" : "too large for the STORE DATA block size");
    if (rc)
        return card_err(c, "LoadCRL", rc);
    if (r.error)
        return refused(c, "LoadCRL", r.error, crl_error_name(r.error));
    arr = json_array();
    for (size_t i = 0; i < r.n_missing; i++)
        json_array_append_new(arr, json_integer(r.missing[i]));
    json_object_set_new(c->doc, "missingParts", arr);
    if (!c->json) {
        printf("CRL loaded");
        for (size_t i = 0; i < r.n_missing; i++)
            printf("%s%ld", i ? " " : "; missing parts: ", r.missing[i]);
        printf("\n");
    }
    return ok_doc(c);
}

static const struct cmd cmds[] = {
    { "chip info", "", "EID, EUICCInfo2 basics and the configured SM-DP+/SM-DS addresses",
      cmd_chip_info },
    { "profile list", "[--iccid ICCID | --aid AID | --class test|provisioning|operational]",
      "installed profiles, or those matching one criterion (GetProfilesInfo)",
      cmd_profile_list },
    { "profile enable", "ICCID|AID", "enable a profile", cmd_profile_enable },
    { "profile disable", "ICCID|AID", "disable a profile", cmd_profile_disable },
    { "profile delete", "ICCID|AID", "delete a disabled profile (asks unless --yes)",
      cmd_profile_delete },
    { "profile nickname", "ICCID NAME", "set a profile's nickname", cmd_profile_nickname },
    { "profile download",
      "(-a ACTIVATION_CODE | -s ADDRESS [-m MATCHINGID]) [-c CONFIRMATION_CODE]\n"
      "                       [--imei IMEI] [--keep-notifications]",
      "download and install a profile from an SM-DP+ (asks for consent unless --yes)",
      cmd_profile_download },
    { "notification list", "", "pending notifications", cmd_notification_list },
    { "notification process", "[SEQ]", "send pending notifications and remove the delivered ones",
      cmd_notification_process },
    { "notification remove", "SEQ|--all", "remove notifications without sending them",
      cmd_notification_remove },
    { "defaultdp set", "ADDRESS", "set the default SM-DP+ address (\"\" clears it)",
      cmd_defaultdp_set },
    { "memory-reset", "[--operational] [--test] [--default-smdp]",
      "eUICC memory reset (asks unless --yes)", cmd_memory_reset },
    { "crl load", "FILE", "load a DER CRL into the eUICC (LoadCRL)", cmd_crl_load },
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void help(FILE *f)
{
    fprintf(f,
        "usage: lpa [global options] <command> [args]\n\n"
        "global options:\n"
        "  --driver inproc|tcp|pcsc  APDU driver (env LPA_DRIVER; default inproc)\n"
        "  --state FILE              eUICC state file, inproc driver (env LPA_STATE)\n"
        "  --tcp HOST:PORT           euiccd address, tcp driver (env LPA_TCP; " LPA_DRV_TCP_DEFAULT ")\n"
        "  --reader NAME             PC/SC reader name substring (env LPA_READER)\n"
        "  --aid HEX                 ISD-R AID (default A0000005591010FFFFFFFF8900000100)\n"
        "  --block-size N            STORE DATA block size 1..255 (default 120)\n"
        "  --json                    one JSON document on stdout\n"
        "  --ca FILE                 CA certificate(s) for the SM-DP+ TLS chain (env LPA_CA)\n"
        "  --resolve HOST:PORT:ADDR  resolve HOST:PORT to ADDR (repeatable, loopback)\n"
        "  --insecure                no TLS verification (lab only)\n"
        "  --yes                     do not ask for confirmation\n"
        "  -v                        verbose (twice: debug, HTTP trace)\n\n"
        "commands:\n");
    for (size_t i = 0; i < NCMDS; i++)
        fprintf(f, "  %-22s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "\nexit codes: 0 ok, 1 usage, 2 card/driver error, 3 SM-DP+/network error,\n"
               "            4 refused by the eUICC, 5 rejected by the user\n"
               "`lpa <command> --help` shows a command's arguments.\n");
}

/* After the words "profile list", --aid is that command's search criterion
 * (an ISD-P AID); before them it is the global ISD-R AID. */
static int is_profile_list(char **args, int nargs)
{
    return nargs >= 2 && !strcmp(args[0], "profile") && !strcmp(args[1], "list");
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);

    return v && *v ? v : dflt;
}

int main(int argc, char **argv)
{
    struct cli c;
    char **args;
    int nargs = 0, rc;
    const struct cmd *cmd = NULL;
    size_t used = 0;
    char name[64];

    memset(&c, 0, sizeof(c));
    c.driver = env_or("LPA_DRIVER", "inproc");
    c.state = env_or("LPA_STATE", NULL);
    c.tcp = env_or("LPA_TCP", NULL);
    c.reader = env_or("LPA_READER", NULL);
    c.ca = env_or("LPA_CA", NULL);
    if (!(args = calloc((size_t)argc + 1, sizeof(*args))))
        return EX_CARD;

    /* Global options anywhere before "--"; the rest goes to the command. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--driver") && more)
            c.driver = argv[++i];
        else if (!strcmp(a, "--state") && more)
            c.state = argv[++i];
        else if (!strcmp(a, "--tcp") && more)
            c.tcp = argv[++i];
        else if (!strcmp(a, "--reader") && more)
            c.reader = argv[++i];
        else if (!strcmp(a, "--aid") && more && !is_profile_list(args, nargs))
            c.aid_hex = argv[++i];
        else if (!strcmp(a, "--ca") && more)
            c.ca = argv[++i];
        else if (!strcmp(a, "--block-size") && more) {
            char *end;
            c.block_size = strtol(argv[++i], &end, 10);
            if (*end || c.block_size < 1 || c.block_size > 255) {
                free(args);
                return usage_err(&c, "--block-size: 1..255");
            }
        } else if (!strcmp(a, "--resolve") && more) {
            if (c.nresolve == RESOLVE_MAX) {
                free(args);
                return usage_err(&c, "at most %d --resolve", RESOLVE_MAX);
            }
            c.resolve[c.nresolve++] = argv[++i];
        } else if (!strcmp(a, "--json"))
            c.json = 1;
        else if (!strcmp(a, "--insecure"))
            c.insecure = 1;
        else if (!strcmp(a, "--yes") || !strcmp(a, "-y"))
            c.yes = 1;
        else if (!strcmp(a, "-v"))
            c.verbose++;
        else
            args[nargs++] = argv[i];
    }
    if (c.verbose)
        rsp_log_level = c.verbose > 1 ? RSP_LOG_DEBUG : RSP_LOG_INFO;

    if (nargs == 0 || !strcmp(args[0], "--help") || !strcmp(args[0], "-h") ||
        !strcmp(args[0], "help")) {
        help(nargs ? stdout : stderr);
        free(args);
        return nargs ? EX_OK : EX_USAGE;
    }
    /* Longest match of one or two words. */
    for (size_t i = 0; i < NCMDS; i++) {
        size_t words = strchr(cmds[i].name, ' ') ? 2 : 1;
        if ((size_t)nargs < words)
            continue;
        if (words == 2)
            snprintf(name, sizeof(name), "%s %s", args[0], args[1]);
        else
            snprintf(name, sizeof(name), "%s", args[0]);
        if (!strcmp(name, cmds[i].name)) {
            cmd = &cmds[i];
            used = words;
            break;
        }
    }
    if (!cmd) {
        rc = usage_err(&c, "unknown command \"%s%s%s\"", args[0], nargs > 1 ? " " : "",
                       nargs > 1 ? args[1] : "");
        free(args);
        return rc;
    }
    c.command = cmd->name;
    for (int i = (int)used; i < nargs; i++) {
        if (!strcmp(args[i], "--help") || !strcmp(args[i], "-h")) {
            printf("usage: lpa [global options] %s %s\n  %s\n", cmd->name, cmd->usage, cmd->help);
            free(args);
            return EX_OK;
        }
    }
    c.doc = json_pack("{s:s, s:b}", "command", cmd->name, "ok", 1);
    rc = cmd->fn(&c, nargs - (int)used, args + used);
    card_close(&c);
    json_decref(c.doc);
    free(args);
    return rc;
}
