/*
 * euicc-bench-main.c - euicc-bench: CPU cost of one profile installation on
 * the simulated card, against the floor of its public-key operations.
 *
 *   euicc-bench PROFILE.der
 *
 * Per run, on a fresh card (new state file from a PKI generated once):
 * GetEUICCChallenge, AuthenticateServer, PrepareDownload and the
 * LoadBoundProfilePackage segments (SGP.22 §2.5.5), all as STORE DATA /
 * GET RESPONSE APDUs through euicc_transmit(). Only the euicc_transmit()
 * calls are timed (process CPU time, so the state file writes count but
 * the fsync waits do not); the SM-DP+ side (signatures, BPP) is prepared
 * outside the timed region.
 *
 * The floor is the public-key work the card cannot avoid, timed the same
 * way: decode CERT.DPauth and CERT.DPpb from the DER the card receives,
 * the cheapest way the card itself does it (rsp_x509_from_der_lite: DER
 * without OpenSSL 3.0's provider key decoder, the subject key imported from
 * its point - the card's fast path for a leaf directly under a CI) and
 * verify their signatures (CI -> leaf); verify serverSignature1,
 * smdpSignature2 and smdpSign; sign euiccSignature1, euiccSignature2 and
 * the PIR; generate otSK.EUICC.ECKA, import otPK.DP.ECKA from its received
 * point and run the ECDH. Until 2026-11 the floor left out the two
 * certificate decodes and the point import, which the card cannot skip;
 * euicc_pk_floor_sigs is that older, smaller figure, printed for
 * comparison. (Before the card's fast path the floor decoded with
 * d2i_X509, whose eager key decode cost about as much as a verification;
 * the floor follows what the card does, not a fixed recipe.)
 *
 * Output (medians of RUNS runs), one "name: value unit" line each:
 *   euicc_install_cpu, euicc_pk_floor, euicc_install_over_floor,
 *   euicc_pk_floor_sigs, euicc_install_over_floor_sigs.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "euicc.h"
#include "rsp_asn1.h"
#include "rsp_bpp.h"
#include "rsp_buf.h"
#include "rsp_crypto.h"
#include "rsp_err.h"
#include "rsp_pki.h"
#include "rsp_saip.h"
#include "rsp_util.h"
#include "rsp_x509.h"

#define RUNS 7          /* default; env EUICC_BENCH_RUNS (1..RUNS_MAX) for profiling */
#define RUNS_MAX 500
#define CURVE "NIST"

static double cpu_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    remove(p);
    return 0;
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    uint8_t *p;
    if (rsp_file_read(path, (size_t)1 << 30, &p, len) == 0 && *len)
        return p;
    free(p);
    return NULL;
}

/* The card under test and the CPU time spent inside it. */
struct card {
    struct euicc *e;
    double cpu;
};

/* Per-phase card CPU summed over all runs (env EUICC_BENCH_PHASES=1). */
enum { PH_CHAL, PH_AUTH, PH_PREP, PH_BPP_FIRST, PH_BPP, PH_BPP_LAST, PH_N };
static const char *const ph_name[PH_N] = {"GetEUICCChallenge", "AuthenticateServer",
                                          "PrepareDownload", "BPP first segment",
                                          "BPP middle segments", "BPP last segment"};
static double ph_cpu[PH_N];

/* One ES10 command (euicc_es10: STORE DATA blocks, then GET RESPONSE
 * while 61xx), its CPU time added to the card's. [out] *resp, *sw. */
static int es10(struct card *c, const uint8_t *cmd, size_t len, uint8_t **resp,
                size_t *resp_len, uint16_t *sw)
{
    double t0 = cpu_us();
    int rc = euicc_es10(c->e, cmd, len, resp, resp_len, sw);

    c->cpu += cpu_us() - t0;
    return rc;
}

/* What the SM-DP+ side of the bench holds. */
struct dp {
    const char *pki;
    struct rsp_pki_cred auth, pb;
    X509 *ci;
    uint8_t *upp;
    size_t upp_len;
    char iccid[21];
};

static int load_dp(struct dp *d)
{
    char c[700], k[700];
    int rc;

    snprintf(c, sizeof(c), "%s/DPauth/CERT_S_SM_DPauth_ECDSA_" CURVE ".der", d->pki);
    snprintf(k, sizeof(k), "%s/DPauth/SK_S_SM_DPauth_ECDSA_" CURVE ".pem", d->pki);
    if ((rc = rsp_pki_load_cred(c, k, &d->auth)))
        return rc;
    snprintf(c, sizeof(c), "%s/DPpb/CERT_S_SM_DPpb_ECDSA_" CURVE ".der", d->pki);
    snprintf(k, sizeof(k), "%s/DPpb/SK_S_SM_DPpb_ECDSA_" CURVE ".pem", d->pki);
    if ((rc = rsp_pki_load_cred(c, k, &d->pb)))
        return rc;
    snprintf(c, sizeof(c), "%s/CertificateIssuer/CERT_CI_ECDSA_" CURVE ".der", d->pki);
    return rsp_x509_load_file(c, &d->ci);
}

/* One complete installation on a fresh card in dir. [out] *cpu_out: the
 * card's CPU time in microseconds. Returns 0 or -1 (message on stderr). */
static int install_once(struct dp *d, const char *dir, double *cpu_out)
{
    static const uint8_t chal_cmd[] = {0xBF, 0x2E, 0x00};
    static const uint8_t select_isdr[] = {0x00, 0xA4, 0x04, 0x00, 0x10, 0xA0, 0x00, 0x00,
                                          0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF,
                                          0x89, 0x00, 0x00, 0x01, 0x00, 0x00};
    static const uint8_t ctx[] = {0xA0, 0x13, 0x80, 0x07, 'M', 'A', 'T', 'C', 'H', '-', '1',
                                  0xA1, 0x08, 0x80, 0x04, 0x35, 0x29, 0x06, 0x11, 0xA1, 0x00};
    static const uint8_t no_cc[] = {0x01, 0x01, 0x00};
    static const char addr[] = RSP_PKI_DEFAULT_HOST;
    static const uint8_t host[] = "hostid01";
    char path[700];
    struct euicc_identity id;
    struct card card = {0};
    uint8_t tid[16], schal[16], sig[RSP_ECDSA_SIG_LEN], sig2[RSP_ECDSA_SIG_LEN];
    uint8_t pkid[64], otpk[RSP_EC_POINT_LEN], eid[16], r[EUICC_RAPDU_MAX];
    char eid_s[33];
    struct rsp_buf v, ss, req, bpp;
    struct rsp_tlv t, a, x, y, z;
    struct rsp_bpp_seg *segs = NULL;
    size_t nsegs = 0, n, rlen, pos;
    uint8_t *resp = NULL;
    uint16_t sw = 0;
    X509 *ecert = NULL;
    int pl, ok = -1;
    const char *what = "setup";

    rsp_buf_init(&v, 8192);
    rsp_buf_init(&ss, 4096);
    rsp_buf_init(&req, 8192);
    rsp_buf_init(&bpp, RSP_BPP_MAX);
    snprintf(path, sizeof(path), "%s/state.json", dir);
    remove(path);
    memset(&id, 0, sizeof(id));
    id.pki_dir = d->pki;
    if (euicc_create(path, &id) || euicc_open(path, &card.e) ||
        euicc_transmit(card.e, select_isdr, sizeof(select_isdr), r, &rlen))
        goto out;

    /* GetEUICCChallenge */
    what = "GetEUICCChallenge";
    double c0 = card.cpu;
    if (es10(&card, chal_cmd, sizeof(chal_cmd), &resp, &n, &sw) || sw != 0x9000 ||
        rsp_tlv_parse(resp, n, &t) || rsp_tlv_find(t.val, t.val_len, 0x80, &x) ||
        x.val_len != 16)
        goto out;
    ph_cpu[PH_CHAL] += card.cpu - c0;

    /* AuthenticateServer (prepared by the SM-DP+, untimed) */
    what = "AuthenticateServer";
    for (int i = 0; i < 16; i++) {
        tid[i] = (uint8_t)(0xA0 + i);
        schal[i] = (uint8_t)(0x30 + i);
    }
    rsp_tlv_put(&v, 0x80, tid, 16);
    rsp_tlv_put(&v, 0x81, x.val, 16);
    rsp_tlv_put(&v, 0x83, addr, strlen(addr));
    rsp_tlv_put(&v, 0x84, schal, 16);
    rsp_tlv_put(&ss, 0x30, v.data, v.len);
    free(resp);
    resp = NULL;
    if (rsp_ecdsa_sign(d->auth.key, ss.data, ss.len, sig) ||
        (pl = rsp_x509_get_aki(d->auth.cert, pkid, sizeof(pkid))) <= 0)
        goto out;
    rsp_buf_reset(&v);
    rsp_buf_append(&v, ss.data, ss.len);
    rsp_tlv_put(&v, 0x5F37, sig, sizeof(sig));
    rsp_tlv_put(&v, 0x04, pkid, (size_t)pl);
    rsp_x509_to_der(d->auth.cert, &v);
    rsp_buf_append(&v, ctx, sizeof(ctx));
    if (rsp_tlv_put(&req, 0xBF38, v.data, v.len))
        goto out;
    /* response: BF38 { A0 { euiccSigned1, 5F37 sig1, eUICC cert, EUM cert } } */
    pos = 0;
    c0 = card.cpu;
    if (es10(&card, req.data, req.len, &resp, &n, &sw) || sw != 0x9000 ||
        rsp_tlv_parse(resp, n, &t) || rsp_tlv_parse(t.val, t.val_len, &a) || a.tag != 0xA0 ||
        rsp_tlv_next(a.val, a.val_len, &pos, &x) != 1 ||
        rsp_tlv_next(a.val, a.val_len, &pos, &y) != 1 ||
        rsp_tlv_next(a.val, a.val_len, &pos, &z) != 1 || y.val_len != RSP_ECDSA_SIG_LEN ||
        rsp_x509_from_der(z.tlv, z.tlv_len, &ecert) || rsp_x509_get_eid(ecert, eid_s))
        goto out;
    ph_cpu[PH_AUTH] += card.cpu - c0;
    memcpy(sig2, y.val, sizeof(sig2));   /* euiccSignature1 */
    free(resp);
    resp = NULL;

    /* PrepareDownload */
    what = "PrepareDownload";
    rsp_buf_reset(&v);
    rsp_buf_reset(&ss);
    rsp_buf_reset(&req);
    rsp_tlv_put(&v, 0x80, tid, 16);
    rsp_buf_append(&v, no_cc, sizeof(no_cc));
    rsp_tlv_put(&ss, 0x30, v.data, v.len);
    rsp_buf_reset(&v);
    rsp_buf_append(&v, ss.data, ss.len);
    rsp_tlv_put(&v, 0x5F37, sig2, sizeof(sig2));
    if (rsp_ecdsa_sign(d->pb.key, v.data, v.len, sig))
        goto out;
    rsp_buf_reset(&v);
    rsp_buf_append(&v, ss.data, ss.len);
    rsp_tlv_put(&v, 0x5F37, sig, sizeof(sig));
    rsp_x509_to_der(d->pb.cert, &v);
    if (rsp_tlv_put(&req, 0xBF21, v.data, v.len))
        goto out;
    pos = 0;
    c0 = card.cpu;
    if (es10(&card, req.data, req.len, &resp, &n, &sw) || sw != 0x9000 ||
        rsp_tlv_parse(resp, n, &t) || rsp_tlv_parse(t.val, t.val_len, &a) || a.tag != 0xA0 ||
        rsp_tlv_next(a.val, a.val_len, &pos, &x) != 1 ||
        rsp_tlv_find(x.val, x.val_len, 0x5F49, &y) || y.val_len != RSP_EC_POINT_LEN)
        goto out;
    ph_cpu[PH_PREP] += card.cpu - c0;
    memcpy(otpk, y.val, sizeof(otpk));
    free(resp);
    resp = NULL;

    /* LoadBoundProfilePackage: build the BPP untimed, send its segments */
    what = "LoadBoundProfilePackage";
    {
        struct rsp_bpp_notif nt = {0xF, RSP_PKI_DEFAULT_HOST};
        struct rsp_bpp_metadata md = {
            .iccid = d->iccid, .service_provider = "Bench SP", .profile_name = "TS.48 bench",
            .profile_class = 2, .notifs = &nt, .n_notifs = 1, .ppr = 0,
        };
        struct rsp_bpp_params bp = {
            .dp_pb_key = d->pb.key, .euicc_otpk = otpk, .transaction_id = tid,
            .transaction_id_len = 16, .host_id = host, .host_id_len = 8, .upp = d->upp,
            .upp_len = d->upp_len, .md = &md, .eid = eid,
        };
        if (rsp_eid_to_bytes(eid_s, eid) || rsp_bpp_build(&bp, &bpp) ||
            rsp_bpp_split(bpp.data, bpp.len, &segs, &nsegs))
            goto out;
    }
    for (size_t i = 0; i < nsegs; i++) {
        free(resp);
        resp = NULL;
        c0 = card.cpu;
        if (es10(&card, bpp.data + segs[i].off, segs[i].len, &resp, &n, &sw) || sw != 0x9000)
            goto out;
        ph_cpu[i == 0 ? PH_BPP_FIRST : i + 1 == nsegs ? PH_BPP_LAST : PH_BPP] += card.cpu - c0;
        if (n && i + 1 < nsegs)
            break;   /* an early PIR: an error */
    }
    /* The PIR: BF37 { BF27 { ... A2 { finalResult: successResult A0 } } ... } */
    if (!resp || rsp_tlv_parse(resp, n, &t) || t.tag != 0xBF37 ||
        rsp_tlv_find(t.val, t.val_len, 0xBF27, &x) ||
        rsp_tlv_find(x.val, x.val_len, 0xA2, &y) ||
        rsp_tlv_parse(y.val, y.val_len, &z) || z.tag != 0xA0)
        goto out;
    *cpu_out = card.cpu;
    ok = 0;
out:
    if (ok)
        fprintf(stderr, "euicc-bench: %s failed (SW %04X)\n", what, sw);
    free(resp);
    free(segs);
    X509_free(ecert);
    euicc_free(card.e);
    remove(path);
    rsp_buf_free(&v);
    rsp_buf_free(&ss);
    rsp_buf_free(&req);
    rsp_buf_free(&bpp);
    return ok;
}

/* The public-key floor: [out] *us (everything), *sigs_us (without the
 * certificate decodes and the point import). Inputs are prepared untimed. */
static int pk_floor(struct dp *d, double *us, double *sigs_us)
{
    static const uint8_t msg1[] = "serverSigned1 stand-in, about the size of the real one";
    static const uint8_t msg2[] = "smdpSigned2 stand-in";
    static const uint8_t msg3[] = "BF23 signed data stand-in with the eUICC otPK appended";
    uint8_t s1[RSP_ECDSA_SIG_LEN], s2[RSP_ECDSA_SIG_LEN], s3[RSP_ECDSA_SIG_LEN];
    uint8_t out[RSP_ECDSA_SIG_LEN], shs[RSP_ECKA_SHS_LEN];
    EVP_PKEY *ci_pub = NULL, *auth_pub = NULL, *pb_pub = NULL, *euicc = NULL, *otk = NULL;
    EVP_PKEY *dp_ot = NULL, *peer = NULL;
    X509 *auth_x = NULL, *pb_x = NULL;
    struct rsp_buf auth_der, pb_der;
    uint8_t dp_pt[RSP_EC_POINT_LEN];
    int curve = RSP_CURVE_P256, rc = -1;
    double t0, t_dec = 0;

    rsp_buf_init(&auth_der, 8192);
    rsp_buf_init(&pb_der, 8192);
    if (rsp_x509_to_der(d->auth.cert, &auth_der) || rsp_x509_to_der(d->pb.cert, &pb_der))
        goto out;

    if (rsp_x509_get_pubkey(d->ci, &ci_pub) || rsp_x509_get_pubkey(d->auth.cert, &auth_pub) ||
        rsp_x509_get_pubkey(d->pb.cert, &pb_pub) || rsp_ec_key_generate(curve, &euicc) ||
        rsp_ec_key_generate(curve, &dp_ot) ||
        rsp_ecdsa_sign(d->auth.key, msg1, sizeof(msg1), s1) ||
        rsp_ecdsa_sign(d->pb.key, msg2, sizeof(msg2), s2) ||
        rsp_ecdsa_sign(d->pb.key, msg3, sizeof(msg3), s3) ||
        rsp_ec_pubkey_to_point(dp_ot, dp_pt))
        goto out;

    t0 = cpu_us();
    /* the received certificates, decoded as the card does: CERT.DPauth,
     * CERT.DPpb (with their keys imported) */
    if (rsp_x509_from_der_lite(auth_der.data, auth_der.len, &auth_x) ||
        rsp_x509_from_der_lite(pb_der.data, pb_der.len, &pb_x))
        goto out;
    t_dec = cpu_us() - t0;
    /* certificate signatures: CI -> DPauth, CI -> DPpb */
    if (X509_verify(auth_x, ci_pub) != 1 || X509_verify(pb_x, ci_pub) != 1)
        goto out;
    /* serverSignature1, smdpSignature2, smdpSign */
    if (rsp_ecdsa_verify(auth_pub, msg1, sizeof(msg1), s1, sizeof(s1)) ||
        rsp_ecdsa_verify(pb_pub, msg2, sizeof(msg2), s2, sizeof(s2)) ||
        rsp_ecdsa_verify(pb_pub, msg3, sizeof(msg3), s3, sizeof(s3)))
        goto out;
    /* euiccSignature1, euiccSignature2, the PIR signature */
    if (rsp_ecdsa_sign(euicc, msg1, sizeof(msg1), out) ||
        rsp_ecdsa_sign(euicc, msg2, sizeof(msg2), out) ||
        rsp_ecdsa_sign(euicc, msg3, sizeof(msg3), out))
        goto out;
    /* otSK/otPK.EUICC.ECKA and the ECDH with otPK.DP.ECKA */
    if (rsp_ec_key_generate(curve, &otk))
        goto out;
    {
        double t1 = cpu_us();
        if (rsp_ec_pubkey_from_point_quick(curve, dp_pt, sizeof(dp_pt), &peer))
            goto out;
        t_dec += cpu_us() - t1;
    }
    if (rsp_ecka_derive_checked(otk, peer, shs))
        goto out;
    *us = cpu_us() - t0;
    *sigs_us = *us - t_dec;
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "euicc-bench: public-key floor failed\n");
    EVP_PKEY_free(ci_pub);
    EVP_PKEY_free(auth_pub);
    EVP_PKEY_free(pb_pub);
    EVP_PKEY_free(euicc);
    EVP_PKEY_free(otk);
    EVP_PKEY_free(dp_ot);
    EVP_PKEY_free(peer);
    X509_free(auth_x);
    X509_free(pb_x);
    rsp_buf_free(&auth_der);
    rsp_buf_free(&pb_der);
    return rc;
}

int main(int argc, char **argv)
{
    char tmpl[] = "/tmp/euicc-bench.XXXXXX";
    char pki[600];
    struct rsp_pki_opts o;
    struct rsp_saip_info *info = NULL;
    struct dp d;
    static double inst[RUNS_MAX], floor_us[RUNS_MAX], sigs_us[RUNS_MAX];
    const char *env = getenv("EUICC_BENCH_RUNS");
    int runs = RUNS, rc = 1;

    if (argc != 2 || !argv[1][0]) {
        fprintf(stderr, "usage: euicc-bench PROFILE.der (e.g. TS48v2_SAIP2.3_NoBERTLV.der)\n");
        return 2;
    }
    if (env && (runs = atoi(env)) < 1)
        runs = 1;
    if (runs > RUNS_MAX)
        runs = RUNS_MAX;
    memset(&d, 0, sizeof(d));
    if (!(d.upp = read_file(argv[1], &d.upp_len)) ||
        rsp_saip_parse(d.upp, d.upp_len, &info)) {
        fprintf(stderr, "euicc-bench: cannot read profile %s\n", argv[1]);
        free(d.upp);
        return 1;
    }
    snprintf(d.iccid, sizeof(d.iccid), "%s", info->iccid);
    rsp_saip_info_free(info);
    if (!mkdtemp(tmpl)) {
        perror("euicc-bench: mkdtemp");
        free(d.upp);
        return 1;
    }
    snprintf(pki, sizeof(pki), "%s/pki", tmpl);
    memset(&o, 0, sizeof(o));
    o.dir = pki;
    o.curves = RSP_PKI_CURVE_BIT(RSP_CURVE_P256);
    d.pki = pki;
    if (rsp_pki_generate(&o) || load_dp(&d)) {
        fprintf(stderr, "euicc-bench: PKI setup failed\n");
        goto out;
    }
    for (int i = 0; i < runs; i++) {
        if (install_once(&d, tmpl, &inst[i]) || pk_floor(&d, &floor_us[i], &sigs_us[i]))
            goto out;
    }
    double mi = median(inst, (size_t)runs), mf = median(floor_us, (size_t)runs);
    double ms = median(sigs_us, (size_t)runs);
    printf("euicc_install_cpu: %.0f us\n", mi);
    printf("euicc_pk_floor: %.0f us\n", mf);
    printf("euicc_install_over_floor: %.2f ratio\n", mi / mf);
    printf("euicc_pk_floor_sigs: %.0f us\n", ms);
    printf("euicc_install_over_floor_sigs: %.2f ratio\n", mi / ms);
    if (getenv("EUICC_BENCH_PHASES"))
        for (int i = 0; i < PH_N; i++)
            fprintf(stderr, "phase %-20s %6.0f us (mean)\n", ph_name[i], ph_cpu[i] / runs);
    rc = 0;
out:
    rsp_pki_cred_free(&d.auth);
    rsp_pki_cred_free(&d.pb);
    X509_free(d.ci);
    free(d.upp);
    rm_tree(tmpl);
    return rc;
}
