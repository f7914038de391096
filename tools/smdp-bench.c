/*
 * smdp-bench.c - load generator for smdpd (`make bench`, mk/bench.sh).
 *
 *   smdp-bench setup --db F --profile PKG --count N [--fqdn F]
 *       operator "bench", N copies of the package as profiles (ICCIDs
 *       8988299 + serial + Luhn) and N released orders "B0000000"..., through
 *       the store API (smdp_store.h).
 *   smdp-bench run --port P --fqdn F --pki DIR --ids DIR --pid PID
 *       [--downloads N] [--threads T] [--warmup W] [--park K] [--state DIR]
 *       complete profile downloads against smdpd over TLS with keep-alive:
 *       ES9+ InitiateAuthentication, AuthenticateClient,
 *       GetBoundProfilePackage and HandleNotification carrying the signed
 *       ProfileInstallationResult (SGP.22 v2.5 §3.1.2, §3.1.3, §5.6.1-4,
 *       JSON binding §6.5.2), each with its own order and a minted eUICC
 *       identity, and prints one "name: value unit" line per figure.
 *
 * The card side is a lightweight simulated eUICC: for each download it
 * sends what a real card sends (euiccInfo1/euiccInfo2 taken once from a
 * libeuicc card; euiccSigned1 and euiccSignature1 with the identity's key
 * over the server's challenge, SGP.22 §5.7.13; a fresh otPK.EUICC.ECKA and
 * euiccSignature2, §5.7.14; a signed ProfileInstallationResult, §5.7.17 /
 * §5.5) but it neither verifies the SM-DP+ signatures nor decrypts and
 * installs the BPP: the BPP is only base64-decoded and split into its
 * §2.5.5 segments. That is the SM-DP+'s load, not the card's.
 *
 * The floor (spec-notes/bench.md) is measured in this process with the
 * same primitives the server uses (rsp_crypto.h, OpenSSL EVP, libssl):
 * per download 2 certificate signature verifications (eUICC, EUM), 3
 * ECDSA verifications (euiccSignature1, euiccSignature2, PIR), 3 ECDSA
 * signatures (serverSignature1, smdpSignature2, smdpSign), the import of
 * otPK.EUICC.ECKA (quick point check) + one key generation + ECDH
 * (otPK.DP.ECKA) without a second peer check, as smdpd does them, plus
 * the server's share of one TLS
 * handshake per connection.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "euicc.h"
#include "lpa.h"
#include "lpa_drivers.h"
#include "lpa_es10b.h"
#include "rsp_asn1.h"
#include "rsp_bpp.h"
#include "rsp_buf.h"
#include "rsp_crypto.h"
#include "rsp_err.h"
#include "rsp_util.h"
#include "smdp_store.h"

#define OPERATOR "bench"
#define MID_FMT "B%07u"
#define RESP_MAX (2u << 20)
#define ISDP_AID "A0000005591010FFFFFFFF8900001000"

/* ---- small helpers ------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double process_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    uint8_t *p;
    if (rsp_file_read(path, (64u << 20) - 1, &p, len) == 0 && *len)
        return p;
    free(p);
    return NULL;
}

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return def;
}

static unsigned uopt(int argc, char **argv, const char *name, unsigned def)
{
    const char *v = opt(argc, argv, name, NULL);
    return v ? (unsigned)strtoul(v, NULL, 10) : def;
}

/* smdpd's CPU time (utime + stime, µs) and VmRSS (KB) from /proc. */
static double proc_cpu_us(int pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static long proc_rss_kb(int pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* ---- setup: bulk import ---------------------------------------------------- */

static void iccid_make(unsigned n, char out[21])
{
    /* 89 88 299 + 10-digit serial + Luhn digit = 20 digits (E.118) */
    char d[20];
    snprintf(d, sizeof(d), "8988299%010u", n);
    int sum = 0;
    for (int i = 18, dbl = 1; i >= 0; i--, dbl = !dbl) {
        int v = d[i] - '0';
        if (dbl && (v *= 2) > 9)
            v -= 9;
        sum += v;
    }
    snprintf(out, 21, "%s%d", d, (10 - sum % 10) % 10);
}

static int cmd_setup(int argc, char **argv)
{
    const char *db = opt(argc, argv, "--db", NULL), *pkg = opt(argc, argv, "--profile", NULL);
    const char *fqdn = opt(argc, argv, "--fqdn", "smdp.example.test");
    unsigned count = uopt(argc, argv, "--count", 1000);
    struct smdp_store *st = NULL;
    struct smdp_profile p;
    int rc;

    if (!db || !pkg) {
        fprintf(stderr, "smdp-bench setup --db F --profile PKG --count N [--fqdn F]\n");
        return 2;
    }
    memset(&p, 0, sizeof(p));
    if (!(p.package = read_file(pkg, &p.package_len))) {
        fprintf(stderr, "smdp-bench: %s: cannot read\n", pkg);
        return 1;
    }
    if ((rc = smdp_store_open_sqlite(db, &st)))
        goto out;
    struct smdp_operator op;
    memset(&op, 0, sizeof(op));
    strcpy(op.id, OPERATOR);
    strcpy(op.name, "Bench operator");
    if ((rc = smdp_store_operator_add(st, &op)))
        goto out;
    p.icon_type = -1;
    p.pclass = SMDP_CLASS_OPERATIONAL;
    strcpy(p.operator_id, OPERATOR);
    strcpy(p.spn, "Bench SP");
    strcpy(p.name, "Bench profile");
    double t0 = now_s();
    int64_t now = (int64_t)time(NULL);
    for (unsigned i = 0; i < count; i++) {
        struct smdp_order o;
        iccid_make(i, p.iccid);
        if ((rc = smdp_store_profile_import(st, &p)))
            goto out;
        memset(&o, 0, sizeof(o));
        snprintf(o.matching_id, sizeof(o.matching_id), MID_FMT, i);
        strcpy(o.iccid, p.iccid);
        strcpy(o.operator_id, OPERATOR);
        snprintf(o.smdp_address, sizeof(o.smdp_address), "%s", fqdn);
        o.expires = now + 7 * 86400;
        o.download_limit = 3;
        /* DownloadOrder then ConfirmOrder with releaseFlag (SGP.22 §5.3.2) */
        if ((rc = smdp_store_order_create(st, &o)) ||
            (rc = smdp_store_profile_transition(st, p.iccid, SMDP_PROFILE_ALLOCATED,
                                                SMDP_PROFILE_RELEASED)))
            goto out;
    }
    double dt = now_s() - t0;
    printf("smdp_setup_orders: %u orders\n", count);
    printf("smdp_setup_rate: %.0f orders/s\n", dt > 0 ? count / dt : 0.0);
out:
    if (rc)
        fprintf(stderr, "smdp-bench setup: %s\n", smdp_strerror(rc));
    p.package = (free(p.package), NULL);
    smdp_store_close(st);
    return rc ? 1 : 0;
}

/* ---- the run ---------------------------------------------------------------- */

struct ident {
    uint8_t *cert;            /* CERT.EUICC.ECDSA DER */
    size_t cert_len;
    EVP_PKEY *key;            /* SK.EUICC.ECDSA */
};

struct bench {
    /* configuration */
    char fqdn[256], url[300], resolve[400], ca[600];
    int port, pid;
    unsigned downloads, threads, warmup, park;
    /* card templates */
    uint8_t info1[1024], info2[2048];
    size_t info1_len, info2_len;
    uint8_t *eum;
    size_t eum_len;
    uint8_t oid[32];
    size_t oid_len;
    struct ident *ids;
    unsigned n_ids;
    /* work distribution */
    unsigned next_order;      /* next order index (atomic) */
    unsigned next_job, job_end;   /* job counter of the current phase (atomic) */
    int park_only;            /* this phase stops after AuthenticateClient */
    double *lat;              /* per-download latency of the timed phase, s */
    unsigned failed, connects;    /* atomic */
    char first_error[300];
    pthread_mutex_t mu;
};

struct conn {
    CURL *h;
    struct curl_slist *hdrs, *resolve;   /* both used at every transfer */
    struct rsp_buf rx;
    char err[CURL_ERROR_SIZE];
};

static size_t on_rx(char *p, size_t sz, size_t n, void *arg)
{
    struct rsp_buf *b = arg;
    return rsp_buf_append(b, p, sz * n) ? 0 : sz * n;
}

static int conn_init(struct bench *b, struct conn *c)
{
    memset(c, 0, sizeof(*c));
    rsp_buf_init(&c->rx, RESP_MAX);
    if (!(c->h = curl_easy_init()))
        return RSP_ERR_NOMEM;
    c->hdrs = curl_slist_append(NULL, "Content-Type: application/json;charset=UTF-8");
    c->hdrs = curl_slist_append(c->hdrs, "X-Admin-Protocol: gsma/rsp/v2.5.0");
    c->hdrs = curl_slist_append(c->hdrs, "Expect:");
    c->hdrs = curl_slist_append(c->hdrs, "Accept: application/json");
    c->resolve = curl_slist_append(NULL, b->resolve);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(c->h, CURLOPT_RESOLVE, c->resolve);
    curl_easy_setopt(c->h, CURLOPT_CAINFO, b->ca);
    curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c->h, CURLOPT_USERAGENT, "gsma-rsp-lpad");
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_rx);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &c->rx);
    curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->err);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->h, CURLOPT_POST, 1L);
    return c->hdrs && c->resolve ? 0 : RSP_ERR_NOMEM;
}

static void conn_free(struct conn *c)
{
    curl_easy_cleanup(c->h);
    curl_slist_free_all(c->hdrs);
    curl_slist_free_all(c->resolve);
    rsp_buf_free(&c->rx);
}

static void fail_note(struct bench *b, const char *fmt, const char *a, const char *c)
{
    pthread_mutex_lock(&b->mu);
    if (!b->first_error[0])
        snprintf(b->first_error, sizeof(b->first_error), fmt, a, c);
    pthread_mutex_unlock(&b->mu);
}

/* POST one ES9+ function; *out the parsed answer (NULL for 204). */
static int es9_post(struct bench *b, struct conn *c, const char *fn, json_t *body,
                    json_t **out)
{
    char url[400];
    long status = 0, nc = 0;
    char *txt = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    *out = NULL;
    if (!txt)
        return RSP_ERR_NOMEM;
    snprintf(url, sizeof(url), "%s%s", b->url, fn);
    rsp_buf_reset(&c->rx);
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, txt);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)strlen(txt));
    CURLcode cc = curl_easy_perform(c->h);
    free(txt);
    if (cc != CURLE_OK) {
        fail_note(b, "%s: %s", fn, c->err[0] ? c->err : curl_easy_strerror(cc));
        return RSP_ERR_IO;
    }
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c->h, CURLINFO_NUM_CONNECTS, &nc);
    if (nc > 0)
        __atomic_fetch_add(&b->connects, (unsigned)nc, __ATOMIC_RELAXED);
    if (status == 204)
        return 0;
    if (status != 200) {
        char s[32];
        snprintf(s, sizeof(s), "HTTP %ld", status);
        fail_note(b, "%s: %s", fn, s);
        return RSP_ERR_IO;
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)c->rx.data, c->rx.len, JSON_REJECT_DUPLICATES, &je);
    const char *st = json_string_value(json_object_get(
        json_object_get(json_object_get(j, "header"), "functionExecutionStatus"), "status"));
    if (!st || strcmp(st, "Executed-Success")) {
        char why[200];
        json_t *scd = json_object_get(json_object_get(json_object_get(j, "header"),
                                                      "functionExecutionStatus"),
                                      "statusCodeData");
        snprintf(why, sizeof(why), "%s %s/%s %s", st ? st : "no status",
                 json_string_value(json_object_get(scd, "subjectCode")),
                 json_string_value(json_object_get(scd, "reasonCode")),
                 json_string_value(json_object_get(scd, "message")));
        fail_note(b, "%s: %s", fn, why);
        json_decref(j);
        return RSP_ERR_IO;
    }
    *out = j;
    return 0;
}

static json_t *b64_json(const uint8_t *p, size_t n)
{
    struct rsp_buf t;
    json_t *j = NULL;
    rsp_buf_init(&t, 4 * (n / 3) + 8);
    if (!rsp_base64_encode(p, n, &t) && !rsp_buf_append_byte(&t, 0))
        j = json_string((const char *)t.data);
    rsp_buf_free(&t);
    return j;
}

/* POST fn with { transactionId (unless NULL), field: base64 of p[0..n) };
 * *r, the previous response, is dropped first and receives the new one. */
static int es9_post_b64(struct bench *b, struct conn *c, const char *fn, const char *tid_hex,
                        const char *field, const uint8_t *p, size_t n, json_t **r)
{
    json_t *q = json_object();

    json_decref(*r);
    *r = NULL;
    if (tid_hex)
        json_object_set_new(q, "transactionId", json_string(tid_hex));
    json_object_set_new(q, field, b64_json(p, n));
    return es9_post(b, c, fn, q, r);
}

static int b64_field(json_t *o, const char *name, struct rsp_buf *out)
{
    const char *s = json_string_value(json_object_get(o, name));
    rsp_buf_init(out, RESP_MAX);
    return s ? rsp_base64_decode(s, strlen(s), out) : RSP_ERR_DECODE;
}

/*
 * One download (or, park_only, its first half). Returns 0 on success.
 */
static int download(struct bench *b, struct conn *c, unsigned order, const struct ident *id,
                    int park_only)
{
    struct rsp_buf ss1, ssig, es1, v, asr, body, md, sd2sig, pdr, bpp, pir;
    json_t *r = NULL, *q;
    EVP_PKEY *ot = NULL;
    uint8_t chal[16], sig[RSP_ECDSA_SIG_LEN], otpk[RSP_EC_POINT_LEN];
    char mid[SMDP_MID_MAX + 1], tid_hex[40];
    struct rsp_tlv t, tid, addr, sch, ec;
    int rc = RSP_ERR_DECODE;

    rsp_buf_init(&ss1, 0);
    rsp_buf_init(&ssig, 0);
    rsp_buf_init(&es1, 8192);
    rsp_buf_init(&v, 8192);
    rsp_buf_init(&asr, 8192);
    rsp_buf_init(&body, 8192);
    rsp_buf_init(&md, 0);
    rsp_buf_init(&sd2sig, 0);
    rsp_buf_init(&pdr, 1024);
    rsp_buf_init(&bpp, 0);
    rsp_buf_init(&pir, 2048);
    snprintf(mid, sizeof(mid), MID_FMT, order);

    /* ES9+.InitiateAuthentication (§5.6.1) */
    if (RAND_bytes(chal, sizeof(chal)) != 1)
        goto out;
    q = json_object();
    json_object_set_new(q, "euiccChallenge", b64_json(chal, sizeof(chal)));
    json_object_set_new(q, "euiccInfo1", b64_json(b->info1, b->info1_len));
    json_object_set_new(q, "smdpAddress", json_string(b->fqdn));
    if ((rc = es9_post(b, c, "initiateAuthentication", q, &r)))
        goto out;
    rc = RSP_ERR_DECODE;
    const char *th = json_string_value(json_object_get(r, "transactionId"));
    if (!th || strlen(th) >= sizeof(tid_hex) || b64_field(r, "serverSigned1", &ss1) ||
        rsp_tlv_parse(ss1.data, ss1.len, &t) ||
        rsp_tlv_find(t.val, t.val_len, 0x80, &tid) ||
        rsp_tlv_find(t.val, t.val_len, 0x81, &ec) ||
        rsp_tlv_find(t.val, t.val_len, 0x83, &addr) ||
        rsp_tlv_find(t.val, t.val_len, 0x84, &sch) || ec.val_len != 16 ||
        memcmp(ec.val, chal, 16)) {
        fail_note(b, "%s: %s", "initiateAuthentication", "bad serverSigned1");
        goto out;
    }
    strcpy(tid_hex, th);

    /* AuthenticateServer on the card (§5.7.13): euiccSigned1 =
     * 30 { 80 tid, 83 address, 84 serverChallenge, BF22 euiccInfo2, ctxParams1 } */
    {
        static const uint8_t dev[] = {
            0xA1, 0x0D, 0x80, 0x04, 0x35, 0x29, 0x06, 0x11,     /* deviceInfo: tac */
            0xA1, 0x05, 0x80, 0x03, 0x0F, 0x00, 0x00,           /* gsmSupportedRelease */
        };
        struct rsp_buf ctx;
        rsp_buf_init(&ctx, 256);
        if (rsp_buf_append(&v, tid.tlv, tid.tlv_len) || rsp_buf_append(&v, addr.tlv, addr.tlv_len) ||
            rsp_buf_append(&v, sch.tlv, sch.tlv_len) ||
            rsp_buf_append(&v, b->info2, b->info2_len) ||
            rsp_tlv_put(&ctx, 0x80, mid, strlen(mid)) || rsp_buf_append(&ctx, dev, sizeof(dev)) ||
            rsp_tlv_put(&v, 0xA0, ctx.data, ctx.len) || rsp_tlv_put(&es1, 0x30, v.data, v.len) ||
            rsp_ecdsa_sign(id->key, es1.data, es1.len, sig)) {
            rsp_buf_free(&ctx);
            goto out;
        }
        rsp_buf_free(&ctx);
        rsp_buf_reset(&v);
        if (rsp_buf_append(&v, es1.data, es1.len) || rsp_tlv_put(&v, 0x5F37, sig, sizeof(sig)) ||
            rsp_buf_append(&v, id->cert, id->cert_len) ||
            rsp_buf_append(&v, b->eum, b->eum_len) || rsp_tlv_put(&body, 0xA0, v.data, v.len) ||
            rsp_tlv_put(&asr, 0xBF38, body.data, body.len))
            goto out;
    }
    if ((rc = es9_post_b64(b, c, "authenticateClient", tid_hex, "authenticateServerResponse",
                           asr.data, asr.len, &r)))
        goto out;
    rc = RSP_ERR_DECODE;
    if (park_only) {
        rc = 0;
        goto out;
    }
    /* smdpSignature2 is the whole 5F37 TLV (§6.5.2.2) */
    if (b64_field(r, "profileMetadata", &md) || b64_field(r, "smdpSignature2", &sd2sig) ||
        sd2sig.len != 3 + RSP_ECDSA_SIG_LEN) {
        fail_note(b, "%s: %s", "authenticateClient", "bad response");
        goto out;
    }

    /* PrepareDownload on the card (§5.7.14): euiccSigned2 = 30 { 80 tid,
     * 5F49 otPK.EUICC.ECKA }, signed together with the 5F37 smdpSignature2 */
    rsp_buf_reset(&v);
    rsp_buf_reset(&es1);
    rsp_buf_reset(&body);
    if (rsp_ec_key_generate(RSP_CURVE_P256, &ot) || rsp_ec_pubkey_to_point(ot, otpk) ||
        rsp_buf_append(&v, tid.tlv, tid.tlv_len) || rsp_tlv_put(&v, 0x5F49, otpk, sizeof(otpk)) ||
        rsp_tlv_put(&es1, 0x30, v.data, v.len))
        goto out;
    rsp_buf_reset(&v);
    if (rsp_buf_append(&v, es1.data, es1.len) || rsp_buf_append(&v, sd2sig.data, sd2sig.len) ||
        rsp_ecdsa_sign(id->key, v.data, v.len, sig))
        goto out;
    rsp_buf_reset(&v);
    if (rsp_buf_append(&v, es1.data, es1.len) || rsp_tlv_put(&v, 0x5F37, sig, sizeof(sig)) ||
        rsp_tlv_put(&body, 0xA0, v.data, v.len) || rsp_tlv_put(&pdr, 0xBF21, body.data, body.len))
        goto out;
    if ((rc = es9_post_b64(b, c, "getBoundProfilePackage", tid_hex, "prepareDownloadResponse",
                           pdr.data, pdr.len, &r)))
        goto out;
    rc = RSP_ERR_DECODE;
    {
        struct rsp_bpp_seg *segs = NULL;
        size_t nseg = 0;
        if (b64_field(r, "boundProfilePackage", &bpp) ||
            rsp_bpp_split(bpp.data, bpp.len, &segs, &nseg) || nseg < 4) {
            free(segs);
            fail_note(b, "%s: %s", "getBoundProfilePackage", "BPP does not split");
            goto out;
        }
        free(segs);
    }

    /* ProfileInstallationResult (§5.5.3 / §5.7.17): BF37 { BF27 { 80 tid,
     * BF2F { 80 seq, 81 notificationInstall, 0C address, 5A iccid },
     * 06 smdpOid, A2 { A0 successResult { 4F aid, 04 simaResponse } } },
     * 5F37 signature } */
    {
        static const uint8_t install_bit[] = {0x07, 0x80};
        static const uint8_t sima_ok[] = {0x30, 0x07, 0xA0, 0x05, 0x30, 0x03, 0x80, 0x01, 0x00};
        uint8_t aid[16], seq[4] = {(uint8_t)(order >> 24), (uint8_t)(order >> 16),
                                   (uint8_t)(order >> 8), (uint8_t)order};
        struct rsp_tlv mdt, ic;
        struct rsp_buf nm, fr, alt, data;
        rsp_hex_decode(ISDP_AID, 32, aid, sizeof(aid));
        rsp_buf_init(&nm, 512);
        rsp_buf_init(&fr, 256);
        rsp_buf_init(&alt, 256);
        rsp_buf_init(&data, 1024);
        rsp_buf_reset(&v);
        int e = rsp_tlv_put(&nm, 0x80, seq, sizeof(seq)) ||
                rsp_tlv_put(&nm, 0x81, install_bit, 2) ||
                rsp_tlv_put(&nm, 0x0C, addr.val, addr.val_len);
        if (!e && rsp_tlv_parse(md.data, md.len, &mdt) == 0 &&
            rsp_tlv_find(mdt.val, mdt.val_len, 0x5A, &ic) == 0)
            e = rsp_buf_append(&nm, ic.tlv, ic.tlv_len);
        e = e || rsp_tlv_put(&alt, 0x4F, aid, sizeof(aid)) ||
            rsp_tlv_put(&alt, 0x04, sima_ok, sizeof(sima_ok)) ||
            rsp_tlv_put(&fr, 0xA0, alt.data, alt.len) || rsp_buf_append(&v, tid.tlv, tid.tlv_len) ||
            rsp_tlv_put(&v, 0xBF2F, nm.data, nm.len) || rsp_tlv_put(&v, 0x06, b->oid, b->oid_len) ||
            rsp_tlv_put(&v, 0xA2, fr.data, fr.len) || rsp_tlv_put(&data, 0xBF27, v.data, v.len) ||
            rsp_ecdsa_sign(id->key, data.data, data.len, sig);
        rsp_buf_reset(&body);
        e = e || rsp_buf_append(&body, data.data, data.len) ||
            rsp_tlv_put(&body, 0x5F37, sig, sizeof(sig)) ||
            rsp_tlv_put(&pir, 0xBF37, body.data, body.len);
        rsp_buf_free(&nm);
        rsp_buf_free(&fr);
        rsp_buf_free(&alt);
        rsp_buf_free(&data);
        if (e)
            goto out;
    }
    rc = es9_post_b64(b, c, "handleNotification", NULL, "pendingNotification", pir.data,
                      pir.len, &r);
out:
    json_decref(r);
    EVP_PKEY_free(ot);
    rsp_buf_free(&ss1);
    rsp_buf_free(&ssig);
    rsp_buf_free(&es1);
    rsp_buf_free(&v);
    rsp_buf_free(&asr);
    rsp_buf_free(&body);
    rsp_buf_free(&md);
    rsp_buf_free(&sd2sig);
    rsp_buf_free(&pdr);
    rsp_buf_free(&bpp);
    rsp_buf_free(&pir);
    return rc;
}

struct worker {
    struct bench *b;
    struct conn c;
    pthread_t th;
    int timed;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct bench *b = w->b;
    for (;;) {
        unsigned j = __atomic_fetch_add(&b->next_job, 1, __ATOMIC_RELAXED);
        if (j >= b->job_end)
            break;
        unsigned order = __atomic_fetch_add(&b->next_order, 1, __ATOMIC_RELAXED);
        double t0 = now_s();
        int rc = download(b, &w->c, order, &b->ids[order % b->n_ids], b->park_only);
        if (rc)
            __atomic_fetch_add(&b->failed, 1, __ATOMIC_RELAXED);
        if (w->timed)
            b->lat[j] = rc ? -1 : now_s() - t0;
    }
    return NULL;
}

/* Run jobs [0, n) on b->threads workers (connections persist in ws). */
static void phase(struct bench *b, struct worker *ws, unsigned n, int timed, int park_only,
                  long *rss_max, unsigned *rss_at_tenth)
{
    b->next_job = 0;
    b->job_end = n;
    b->park_only = park_only;
    for (unsigned i = 0; i < b->threads; i++) {
        ws[i].timed = timed;
        pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
    }
    /* sample smdpd's RSS while the workers run */
    while (__atomic_load_n(&b->next_job, __ATOMIC_RELAXED) < n) {
        long kb = proc_rss_kb(b->pid);
        if (rss_max && kb > *rss_max)
            *rss_max = kb;
        if (rss_at_tenth && !*rss_at_tenth &&
            __atomic_load_n(&b->next_job, __ATOMIC_RELAXED) >= n / 10)
            *rss_at_tenth = (unsigned)kb;
        usleep(50000);
    }
    for (unsigned i = 0; i < b->threads; i++)
        pthread_join(ws[i].th, NULL);
}

/* ---- the floor -------------------------------------------------------------- */

struct floor {
    double sign, verify, cert_verify, ecdh, tls_hs;   /* µs per operation */
};

/* Server-side CPU of one TLS handshake: smdpd's TLS profile (TLS 1.3 first,
 * P-256, CERT.DPtls) against a libssl client, over memory BIOs; only the
 * server's SSL_do_handshake calls are timed. */
static double tls_server_cost(const char *cert, const char *key, const char *ca, int rounds)
{
    SSL_CTX *sc = SSL_CTX_new(TLS_server_method()), *cc = SSL_CTX_new(TLS_client_method());
    double spent = 0;
    int done = 0;
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    FILE *f;
    size_t n;
    uint8_t *der = read_file(cert, &n);
    const uint8_t *p = der;
    if (der)
        x = d2i_X509(NULL, &p, (long)n);
    free(der);
    if ((f = fopen(key, "rb"))) {
        k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (!sc || !cc || !x || !k || !SSL_CTX_use_certificate(sc, x) ||
        !SSL_CTX_use_PrivateKey(sc, k) || !SSL_CTX_set1_groups_list(sc, "P-256") ||
        !SSL_CTX_set1_groups_list(cc, "P-256") || !SSL_CTX_load_verify_locations(cc, ca, NULL))
        goto out;
    SSL_CTX_set_verify(cc, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(sc, 0);
    for (int i = 0; i < rounds; i++) {
        SSL *s = SSL_new(sc), *c = SSL_new(cc);
        BIO *bs, *bc;
        if (!s || !c || !BIO_new_bio_pair(&bs, 0, &bc, 0)) {
            SSL_free(s);
            SSL_free(c);
            goto out;
        }
        SSL_set_bio(s, bs, bs);
        SSL_set_bio(c, bc, bc);
        SSL_set_accept_state(s);
        SSL_set_connect_state(c);
        int sd = 0, cd = 0;
        for (int step = 0; step < 20 && !(sd && cd); step++) {
            if (!cd)
                cd = SSL_do_handshake(c) == 1;
            if (!sd) {
                double t0 = thread_cpu_s();
                sd = SSL_do_handshake(s) == 1;
                spent += thread_cpu_s() - t0;
            }
        }
        if (sd && cd)
            done++;
        SSL_free(s);
        SSL_free(c);
    }
out:
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(k);
    SSL_CTX_free(sc);
    SSL_CTX_free(cc);
    return done ? spent * 1e6 / done : -1;
}

static int floor_measure(struct bench *b, const char *pki, struct floor *fl)
{
    char path[700], kp[700];
    const int N = 300;
    uint8_t msg[512], sig[RSP_ECDSA_SIG_LEN], shs[RSP_ECKA_SHS_LEN];
    EVP_PKEY *dp = NULL, *euicc_pub = NULL, *eum_pub = NULL, *ci_pub = NULL, *peer = NULL;
    X509 *ec = NULL, *eum = NULL, *ci = NULL;
    const uint8_t *p;
    int rc = RSP_ERR_CRYPTO;
    size_t n;
    uint8_t *der;

    memset(msg, 0x5A, sizeof(msg));
    p = b->ids[0].cert;
    ec = d2i_X509(NULL, &p, (long)b->ids[0].cert_len);
    p = b->eum;
    eum = d2i_X509(NULL, &p, (long)b->eum_len);
    snprintf(path, sizeof(path), "%s/CertificateIssuer/CERT_CI_ECDSA_NIST.der", pki);
    if ((der = read_file(path, &n))) {
        p = der;
        ci = d2i_X509(NULL, &p, (long)n);
        free(der);
    }
    if (!ec || !eum || !ci || !(euicc_pub = X509_get_pubkey(ec)) ||
        !(eum_pub = X509_get_pubkey(eum)) || !(ci_pub = X509_get_pubkey(ci)) ||
        rsp_ec_key_generate(RSP_CURVE_P256, &dp) || rsp_ec_key_generate(RSP_CURVE_P256, &peer))
        goto out;
    double t0 = thread_cpu_s();
    for (int i = 0; i < N; i++)
        if (rsp_ecdsa_sign(dp, msg, sizeof(msg), sig))
            goto out;
    fl->sign = (thread_cpu_s() - t0) * 1e6 / N;
    if (rsp_ecdsa_sign(b->ids[0].key, msg, sizeof(msg), sig))
        goto out;
    t0 = thread_cpu_s();
    for (int i = 0; i < N; i++)
        if (rsp_ecdsa_verify(euicc_pub, msg, sizeof(msg), sig, sizeof(sig)))
            goto out;
    fl->verify = (thread_cpu_s() - t0) * 1e6 / N;
    /* the two certificate signatures of the eUICC chain */
    t0 = thread_cpu_s();
    for (int i = 0; i < N; i++)
        if (X509_verify(ec, eum_pub) != 1 || X509_verify(eum, ci_pub) != 1)
            goto out;
    fl->cert_verify = (thread_cpu_s() - t0) * 1e6 / (2 * N);
    /* otPK.EUICC.ECKA taken from its received point (the quick check,
     * complete on P-256), otSK/otPK.DP.ECKA generation, ECKA: what smdpd
     * does (rsp_bpp_otpk_import, rsp_bpp_build) */
    uint8_t peer_pt[RSP_EC_POINT_LEN];
    if (rsp_ec_pubkey_to_point(peer, peer_pt))
        goto out;
    t0 = thread_cpu_s();
    for (int i = 0; i < N; i++) {
        EVP_PKEY *k = NULL, *q = NULL;
        int e = rsp_ec_pubkey_from_point_quick(RSP_CURVE_P256, peer_pt, sizeof(peer_pt), &q) ||
                rsp_ec_key_generate(RSP_CURVE_P256, &k) || rsp_ecka_derive_checked(k, q, shs);
        EVP_PKEY_free(k);
        EVP_PKEY_free(q);
        if (e)
            goto out;
    }
    fl->ecdh = (thread_cpu_s() - t0) * 1e6 / N;
    snprintf(path, sizeof(path), "%s/DPtls/CERT_S_SM_DP_TLS_NIST.der", pki);
    snprintf(kp, sizeof(kp), "%s/DPtls/SK_S_SM_DP_TLS_NIST.pem", pki);
    fl->tls_hs = tls_server_cost(path, kp, b->ca, 100);
    rc = fl->tls_hs > 0 ? 0 : RSP_ERR_CRYPTO;
out:
    OPENSSL_cleanse(shs, sizeof(shs));
    EVP_PKEY_free(dp);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(euicc_pub);
    EVP_PKEY_free(eum_pub);
    EVP_PKEY_free(ci_pub);
    X509_free(ec);
    X509_free(eum);
    X509_free(ci);
    return rc;
}

/* ---- setup of the run -------------------------------------------------------- */

/* euiccInfo1 / euiccInfo2 as a libeuicc card answers them (through liblpa). */
static int card_templates(struct bench *b, const char *pki, const char *state_dir)
{
    char path[700];
    struct lpa_drv_inproc *d = NULL;
    struct lpa_apdu_driver drv;
    struct lpa_ctx ctx;
    struct rsp_buf i1, i2;
    struct euicc_identity id = {.pki_dir = pki};
    int rc;

    rsp_buf_init(&i1, 0);
    rsp_buf_init(&i2, 0);
    snprintf(path, sizeof(path), "%s/template-card.json", state_dir);
    unlink(path);
    if ((rc = euicc_create(path, &id)) || (rc = lpa_drv_inproc_new(path, &d, &drv)) ||
        (rc = lpa_ctx_init(&ctx, &drv, NULL)) || (rc = lpa_open(&ctx)))
        goto out;
    rc = lpa_get_euicc_info1(&ctx, &i1);
    if (!rc)
        rc = lpa_es10b_get_euicc_info2(&ctx, &i2);
    lpa_close(&ctx);
    if (!rc && (i1.len > sizeof(b->info1) || i2.len > sizeof(b->info2)))
        rc = RSP_ERR_TOOBIG;
    if (!rc) {
        memcpy(b->info1, i1.data, b->info1_len = i1.len);
        memcpy(b->info2, i2.data, b->info2_len = i2.len);
    }
out:
    lpa_drv_inproc_free(d);
    rsp_buf_free(&i1);
    rsp_buf_free(&i2);
    unlink(path);
    return rc;
}

/* The SM-DP+ OID: the registeredID in CERT.DPauth's subjectAltName. */
static void dp_oid(struct bench *b, const char *pki)
{
    char path[700];
    size_t n;
    snprintf(path, sizeof(path), "%s/DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der", pki);
    uint8_t *der = read_file(path, &n);
    const uint8_t *p = der;
    X509 *x = der ? d2i_X509(NULL, &p, (long)n) : NULL;
    GENERAL_NAMES *g = x ? X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL) : NULL;
    for (int i = 0; g && i < sk_GENERAL_NAME_num(g); i++) {
        GENERAL_NAME *e = sk_GENERAL_NAME_value(g, i);
        size_t l;
        if (e->type == GEN_RID && (l = (size_t)OBJ_length(e->d.rid)) <= sizeof(b->oid)) {
            memcpy(b->oid, OBJ_get0_data(e->d.rid), l);
            b->oid_len = l;
            break;
        }
    }
    GENERAL_NAMES_free(g);
    X509_free(x);
    free(der);
}

/* Load up to max minted identities (rsp-pki mint-euicc output). */
static int load_ids(struct bench *b, const char *dir, unsigned max)
{
    char path[700], eid[64];
    snprintf(path, sizeof(path), "%s/eids.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return RSP_ERR_IO;
    b->ids = calloc(max, sizeof(*b->ids));
    while (b->ids && b->n_ids < max && fscanf(f, "%63s", eid) == 1) {
        struct ident *id = &b->ids[b->n_ids];
        size_t kl;
        snprintf(path, sizeof(path), "%s/CERT_EUICC_%s.der", dir, eid);
        id->cert = read_file(path, &id->cert_len);
        snprintf(path, sizeof(path), "%s/SK_EUICC_%s.pem", dir, eid);
        uint8_t *pem = read_file(path, &kl);
        int rc = pem ? rsp_ec_key_from_pem(pem, kl, &id->key) : RSP_ERR_IO;
        free(pem);
        if (!id->cert || rc) {
            free(id->cert);
            break;
        }
        b->n_ids++;
    }
    fclose(f);
    return b->n_ids ? 0 : RSP_ERR_IO;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmd_run(int argc, char **argv)
{
    struct bench b;
    struct floor fl;
    const char *pki = opt(argc, argv, "--pki", NULL), *idd = opt(argc, argv, "--ids", NULL);
    const char *state = opt(argc, argv, "--state", ".");
    struct worker *ws = NULL;
    int ret = 1;

    memset(&b, 0, sizeof(b));
    memset(&fl, 0, sizeof(fl));
    pthread_mutex_init(&b.mu, NULL);
    snprintf(b.fqdn, sizeof(b.fqdn), "%s", opt(argc, argv, "--fqdn", "smdp.example.test"));
    b.port = (int)uopt(argc, argv, "--port", 0);
    b.pid = (int)uopt(argc, argv, "--pid", 0);
    b.downloads = uopt(argc, argv, "--downloads", 3000);
    b.threads = uopt(argc, argv, "--threads", 2);
    b.warmup = uopt(argc, argv, "--warmup", 200);
    b.park = uopt(argc, argv, "--park", 1000);
    if (!pki || !idd || !b.port || !b.pid || !b.downloads || !b.threads || b.threads > 256) {
        fprintf(stderr, "smdp-bench run --port P --pid PID --pki DIR --ids DIR [--fqdn F]\n"
                        "  [--downloads N] [--threads T] [--warmup W] [--park K] [--state DIR]\n");
        return 2;
    }
    snprintf(b.url, sizeof(b.url), "https://%s:%d/gsma/rsp2/es9plus/", b.fqdn, b.port);
    snprintf(b.resolve, sizeof(b.resolve), "%s:%d:127.0.0.1", b.fqdn, b.port);
    snprintf(b.ca, sizeof(b.ca), "%s/CertificateIssuer/CERT_CI_ECDSA_NIST.pem", pki);
    char path[700];
    snprintf(path, sizeof(path), "%s/EUM/CERT_EUM_ECDSA_NIST.der", pki);
    int rc;
    if (!(b.eum = read_file(path, &b.eum_len))) {
        fprintf(stderr, "smdp-bench: %s: cannot read\n", path);
        goto out;
    }
    dp_oid(&b, pki);
    if ((rc = card_templates(&b, pki, state))) {
        fprintf(stderr, "smdp-bench: template card: %s\n", rsp_strerror(rc));
        goto out;
    }
    if ((rc = load_ids(&b, idd, uopt(argc, argv, "--identities", 2000)))) {
        fprintf(stderr, "smdp-bench: %s: no identities\n", idd);
        goto out;
    }
    if ((rc = floor_measure(&b, pki, &fl))) {
        fprintf(stderr, "smdp-bench: floor measurement failed\n");
        goto out;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ws = calloc(b.threads, sizeof(*ws));
    b.lat = calloc(b.downloads, sizeof(double));
    if (!ws || !b.lat)
        goto out;
    for (unsigned i = 0; i < b.threads; i++) {
        ws[i].b = &b;
        if (conn_init(&b, &ws[i].c))
            goto out;
    }

    /* 1. warm-up (connections, caches), not counted */
    phase(&b, ws, b.warmup, 0, 0, NULL, NULL);
    if (b.failed) {
        fprintf(stderr, "smdp-bench: warm-up failed: %s\n", b.first_error);
        goto out;
    }
    /* 2. memory per in-flight session: park K sessions after
     *    AuthenticateClient (the SM-DP+ holds their state until
     *    GetBoundProfilePackage) and compare smdpd's RSS */
    usleep(200000);
    long rss_before_park = proc_rss_kb(b.pid);
    if (b.park)
        phase(&b, ws, b.park, 0, 1, NULL, NULL);
    usleep(200000);
    long rss_after_park = proc_rss_kb(b.pid);
    unsigned park_failed = b.failed;

    /* 3. the timed run */
    unsigned rss_tenth = 0;
    long rss_start = proc_rss_kb(b.pid), rss_max = rss_start;
    unsigned conn0 = b.connects, failed0 = b.failed;
    double cpu0 = proc_cpu_us(b.pid), t0 = now_s(), own0 = process_cpu_s();
    phase(&b, ws, b.downloads, 1, 0, &rss_max, &rss_tenth);
    double wall = now_s() - t0, cpu1 = proc_cpu_us(b.pid), own1 = process_cpu_s();
    long rss_end = proc_rss_kb(b.pid);
    if (rss_end > rss_max)
        rss_max = rss_end;
    unsigned failed = b.failed - failed0, conns = b.connects - conn0;
    unsigned ok = b.downloads - failed;

    /* latencies of the successful downloads */
    unsigned m = 0;
    for (unsigned i = 0; i < b.downloads; i++)
        if (b.lat[i] >= 0)
            b.lat[m++] = b.lat[i];
    qsort(b.lat, m, sizeof(double), cmp_double);
    double p50 = m ? b.lat[m / 2] : 0, p99 = m ? b.lat[(size_t)(m * 0.99)] : 0;
    double cpu_dl = ok ? (cpu1 - cpu0) / ok : 0;
    /* TLS: one server handshake per connection the clients opened during
     * the run, shared by the downloads (keep-alive); at least the T
     * connections of the run are charged */
    unsigned hs = conns > b.threads ? conns : b.threads;
    double pk = 2 * fl.cert_verify + 3 * fl.verify + 3 * fl.sign + fl.ecdh;
    double tls_share = ok ? fl.tls_hs * hs / ok : 0;
    double floor_us = pk + tls_share;

    printf("smdp_bench_card: lightweight simulated eUICC (signs euiccSigned1/2 and the PIR, "
           "fresh otPK.EUICC.ECKA; BPP split, not installed)\n");
    printf("smdp_bench_downloads: %u downloads\n", ok);
    printf("smdp_bench_failed: %u downloads\n", failed + park_failed);
    printf("smdp_bench_threads: %u connections\n", b.threads);
    printf("smdp_downloads_per_s: %.0f 1/s\n", ok / wall);
    printf("smdp_latency_p50: %.2f ms\n", p50 * 1e3);
    printf("smdp_latency_p99: %.2f ms\n", p99 * 1e3);
    printf("smdp_cpu_per_download: %.0f us\n", cpu_dl);
    printf("smdp_cpu_utilisation: %.2f cores\n", (cpu1 - cpu0) / 1e6 / wall);
    printf("smdp_bench_client_cpu_per_download: %.0f us\n", ok ? (own1 - own0) * 1e6 / ok : 0);
    printf("smdp_pk_ecdsa_sign: %.1f us\n", fl.sign);
    printf("smdp_pk_ecdsa_verify: %.1f us\n", fl.verify);
    printf("smdp_pk_cert_verify: %.1f us\n", fl.cert_verify);
    printf("smdp_pk_ecdh_keygen: %.1f us\n", fl.ecdh);
    printf("smdp_pk_tls_handshake: %.1f us\n", fl.tls_hs);
    printf("smdp_pk_tls_handshakes: %u handshakes\n", hs);
    printf("smdp_pk_floor: %.0f us\n", floor_us);
    printf("smdp_cpu_over_floor: %.2f ratio\n", floor_us > 0 ? cpu_dl / floor_us : 0);
    printf("smdp_rss_start: %ld KB\n", rss_start);
    printf("smdp_rss_tenth: %u KB\n", rss_tenth);
    printf("smdp_rss_end: %ld KB\n", rss_end);
    printf("smdp_rss_max: %ld KB\n", rss_max);
    printf("smdp_rss_growth_after_tenth: %ld KB\n", rss_tenth ? rss_end - (long)rss_tenth : 0);
    if (b.park && !park_failed)
        printf("smdp_mem_per_session: %.1f KB\n",
               (double)(rss_after_park - rss_before_park) / b.park);
    printf("smdp_rss_run_over_idle: %ld KB\n", rss_max - rss_start);
    if (failed + park_failed)
        fprintf(stderr, "smdp-bench: first failure: %s\n", b.first_error);
    ret = failed + park_failed ? 1 : 0;
out:
    for (unsigned i = 0; ws && i < b.threads; i++)
        conn_free(&ws[i].c);
    free(ws);
    free(b.lat);
    free(b.eum);
    for (unsigned i = 0; i < b.n_ids; i++) {
        free(b.ids[i].cert);
        EVP_PKEY_free(b.ids[i].key);
    }
    free(b.ids);
    curl_global_cleanup();
    return ret;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "setup"))
        return cmd_setup(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "run"))
        return cmd_run(argc - 2, argv + 2);
    fprintf(stderr, "usage: smdp-bench setup|run ... (see tools/smdp-bench.c)\n");
    return 2;
}
