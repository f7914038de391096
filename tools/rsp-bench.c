/*
 * rsp-bench - micro-benchmarks of the shared core, one "name: value unit"
 * line per figure (make bench). Each figure is the median of 5 timed runs.
 *
 *   rsp-bench [TS48_PROFILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rsp_asn1.h"
#include "rsp_buf.h"
#include "rsp_crypto.h"
#include "rsp_err.h"
#include "rsp_saip.h"

typedef int (*bench_fn)(void *arg);

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median over 5 runs of the per-call time of fn, in microseconds. */
static double measure(bench_fn fn, void *arg, int iters)
{
    double t[5];
    for (int r = 0; r < 5; r++) {
        double t0 = now_us();
        for (int i = 0; i < iters; i++)
            if (fn(arg) != RSP_OK) {
                fprintf(stderr, "rsp-bench: benchmark step failed\n");
                exit(1);
            }
        t[r] = (now_us() - t0) / iters;
    }
    qsort(t, 5, sizeof(t[0]), cmp_double);
    return t[2];
}

struct ec_ctx {
    EVP_PKEY *key, *peer;
    uint8_t msg[256];
    uint8_t sig[RSP_ECDSA_SIG_LEN];
};

static int b_sign(void *a)
{
    struct ec_ctx *c = a;
    return rsp_ecdsa_sign(c->key, c->msg, sizeof(c->msg), c->sig);
}

static int b_verify(void *a)
{
    struct ec_ctx *c = a;
    return rsp_ecdsa_verify(c->key, c->msg, sizeof(c->msg), c->sig, sizeof(c->sig));
}

/* One-time key generation + ECKA, as each side of a download does once. */
static int b_ecka(void *a)
{
    struct ec_ctx *c = a;
    EVP_PKEY *ot = NULL;
    uint8_t shs[RSP_ECKA_SHS_LEN];
    int curve, rc = rsp_ec_key_curve(c->key, &curve);
    if (!rc)
        rc = rsp_ec_key_generate(curve, &ot);
    if (!rc)
        rc = rsp_ecka_derive(ot, c->peer, shs);
    rsp_ec_key_free(ot);
    return rc;
}

struct bsp_ctx {
    uint8_t plain[12 * 1024];
    struct rsp_buf wrapped;
};

static const uint8_t K1[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t K2[16] = { 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1 };
static const uint8_t MCV[16] = { 0 };

static int b_wrap(void *a)
{
    struct bsp_ctx *c = a;
    struct rsp_bsp bsp;
    rsp_bsp_init(&bsp, K1, K2, MCV);
    rsp_buf_reset(&c->wrapped);
    int rc = rsp_bsp_wrap_all(&bsp, 0x86, RSP_BSP_ENC_MAC, c->plain, sizeof(c->plain), &c->wrapped);
    rsp_bsp_wipe(&bsp);
    return rc;
}

static int b_unwrap(void *a)
{
    struct bsp_ctx *c = a;
    struct rsp_bsp bsp;
    struct rsp_buf out;
    struct rsp_tlv t;
    size_t pos = 0;
    int rc = RSP_OK, more;
    uint8_t tag;

    rsp_bsp_init(&bsp, K1, K2, MCV);
    rsp_buf_init(&out, sizeof(c->plain));
    while ((more = rsp_tlv_next(c->wrapped.data, c->wrapped.len, &pos, &t)) == 1 && !rc)
        rc = rsp_bsp_unwrap(&bsp, RSP_BSP_ENC_MAC, t.tlv, t.tlv_len, &tag, &out);
    if (!rc && (more < 0 || out.len != sizeof(c->plain)))
        rc = RSP_ERR_DECODE;
    rsp_buf_free(&out);
    rsp_bsp_wipe(&bsp);
    return rc;
}

struct saip_ctx {
    uint8_t *p;
    size_t len;
};

static int b_saip(void *a)
{
    struct saip_ctx *c = a;
    struct rsp_saip_info *info;
    int rc = rsp_saip_parse(c->p, c->len, &info);
    rsp_saip_info_free(info);
    return rc;
}

static void ec_bench(int curve, const char *tag)
{
    struct ec_ctx c;
    memset(&c, 0, sizeof(c));
    for (size_t i = 0; i < sizeof(c.msg); i++)
        c.msg[i] = (uint8_t)i;
    if (rsp_ec_key_generate(curve, &c.key) || rsp_ec_key_generate(curve, &c.peer) ||
        b_sign(&c)) {
        fprintf(stderr, "rsp-bench: key setup failed\n");
        exit(1);
    }
    printf("ecdsa_sign_%s: %.1f us\n", tag, measure(b_sign, &c, 200));
    printf("ecdsa_verify_%s: %.1f us\n", tag, measure(b_verify, &c, 200));
    printf("ecka_keygen_derive_%s: %.1f us\n", tag, measure(b_ecka, &c, 200));
    rsp_ec_key_free(c.key);
    rsp_ec_key_free(c.peer);
}

int main(int argc, char **argv)
{
    ec_bench(RSP_CURVE_P256, "p256");
    ec_bench(RSP_CURVE_BRAINPOOLP256R1, "brainpoolp256r1");

    static struct bsp_ctx bc;
    for (size_t i = 0; i < sizeof(bc.plain); i++)
        bc.plain[i] = (uint8_t)(i * 13);
    rsp_buf_init(&bc.wrapped, 2 * sizeof(bc.plain));
    double w = measure(b_wrap, &bc, 200), u = measure(b_unwrap, &bc, 200);
    printf("bsp_wrap_12k: %.1f us\n", w);
    printf("bsp_unwrap_12k: %.1f us\n", u);
    printf("bsp_wrap_throughput: %.1f MB/s\n", sizeof(bc.plain) / w);
    rsp_buf_free(&bc.wrapped);

    if (argc > 1) {
        struct saip_ctx sc = { 0 };
        FILE *f = fopen(argv[1], "rb");
        if (f) {
            sc.p = malloc(RSP_SAIP_MAX);
            sc.len = sc.p ? fread(sc.p, 1, RSP_SAIP_MAX, f) : 0;
            fclose(f);
        }
        if (!sc.len) {
            fprintf(stderr, "rsp-bench: cannot read %s\n", argv[1]);
            free(sc.p);
            return 1;
        }
        printf("saip_parse_ts48: %.1f us\n", measure(b_saip, &sc, 100));
        free(sc.p);
    }
    return 0;
}
