/*
 * test_fuzz.c - deterministic mutation fuzzing of everything that reads peer
 * input: "bad input gets a clear error and loses nothing".
 *
 * One in-process world: a simulated eUICC (libeuicc), an SM-DP+ (smdp_handle
 * over a temporary SQLite store and the fixture PKI) and liblpa between them
 * through an APDU driver and an HTTP driver that can record and mutate what
 * passes. Valid inputs are captured from a real download of a TS.48 profile
 * (SGP.22 v2.5 §3.1: ES9+ §5.6, ES10b §5.7, ES2+ §5.3 for the orders) and
 * mutated with a fixed-seed xorshift PRNG:
 *   bytes: bit flips, byte replace, insert/delete, truncation; DER: length
 *   forms (0x80 indefinite, non-minimal 0x81/0x82, huge), duplicated and
 *   removed TLVs, tag changes (ITU-T X.690 §8.1);
 *   JSON: type confusion, long strings, deep nesting, invalid base64
 *   (RFC 4648 §4: padding, alphabet, whitespace), duplicate keys, removed
 *   fields, raw text damage (SGP.22 §6.5).
 * Targets and invariants:
 *   euicc_apdu / euicc_es10 / euicc_bpp / euicc_capdu / euicc_es10c: every
 *     R-APDU ends in a legal status word (ISO/IEC 7816-4 §5.1.3), a failed
 *     install leaves no new profile in the persisted state (unless only the
 *     PIR was lost on the way back, then it is a pending notification),
 *     memory and state file agree, a clean download works afterwards;
 *   smdp_req / smdp_es2 / smdp_hdr: status one of 200/204/400/401/403/404/
 *     405/413/415, every 200 carries header.functionExecutionStatus, a
 *     rejected request changes no order/profile state, the order still
 *     downloads cleanly;
 *   lpa_card / lpa_es9: a negative error with lpa_result.step set, the card
 *     session cancelled after AuthenticateServer (§5.7.14);
 *   decoders: rsp_asn1_decode of the captured messages, rsp_saip_parse of
 *     TS.48 files, rsp_bpp_split, rsp_x509_from_der, strict base64.
 * reg_*: regressions of the bugs these fuzzers found, named after them.
 * Each iteration's seed is printed with any violation (FUZZ_VERBOSE=1
 * traces every mutant); FUZZ_SEED=<n>
 * changes the base seed, FUZZ_ITERS=<k> multiplies every iteration count.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "euicc.private.h"
#include "euicc_fixture.h"
#include "lpa.h"
#include "lpa_rsp.h"
#include "rsp_asn1.h"
#include "rsp_bpp.h"
#include "rsp_err.h"
#include "rsp_saip.h"
#include "rsp_test.h"
#include "rsp_util.h"
#include "rsp_x509.h"
#include "smdp.h"
#include "smdp_session.h"
#include "smdp_store.h"

#include <AuthenticateClientRequest.h>
#include <AuthenticateServerRequest.h>
#include <AuthenticateServerResponse.h>
#include <BoundProfilePackage.h>
#include <CancelSessionRequest.h>
#include <CancelSessionResponse.h>
#include <EUICCInfo1.h>
#include <EUICCInfo2.h>
#include <GetEuiccChallengeResponse.h>
#include <InitiateAuthenticationRequest.h>
#include <ListNotificationResponse.h>
#include <PendingNotification.h>
#include <PprIds.h>
#include <PrepareDownloadRequest.h>
#include <PrepareDownloadResponse.h>
#include <ProfileInfoListResponse.h>
#include <ProfileInstallationResult.h>
#include <RemoteProfileProvisioningRequest.h>
#include <RemoteProfileProvisioningResponse.h>
#include <RetrieveNotificationsListResponse.h>
#include <StoreMetadataRequest.h>

#define FQDN "fuzz.smdp.example.test"
#define OP "op1"

/* ---- PRNG and run bookkeeping ---- */

struct rng { uint64_t s; };

static uint64_t rng_next(struct rng *r)
{
    uint64_t x = r->s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return r->s = x;
}

static uint32_t rng_below(struct rng *r, uint32_t n)
{
    return n ? (uint32_t)(rng_next(r) % n) : 0;
}

static uint64_t base_seed(void)
{
    const char *s = getenv("FUZZ_SEED");
    return s ? strtoull(s, NULL, 0) : 0x5EED0F22u;
}

static unsigned iters(unsigned n)
{
    const char *s = getenv("FUZZ_ITERS");
    long k = s ? strtol(s, NULL, 0) : 1;
    return n * (unsigned)(k > 0 ? k : 1);
}

/* The seed of iteration i of target t: reproducible alone. */
static void rng_seed(struct rng *r, const char *target, unsigned i)
{
    uint64_t h = base_seed() * 0x9E3779B97F4A7C15ull;
    for (const char *p = target; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001B3ull;
    r->s = (h ^ ((uint64_t)i * 0xD1B54A32D192ED03ull)) | 1;
    rng_next(r);
}

struct tstat {
    const char *name;
    unsigned iter, rejected, accepted, violations;
};

static void violation(struct tstat *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void violation(struct tstat *t, const char *fmt, ...)
{
    va_list ap;
    if (t->violations++ >= 5) {
        if (t->violations == 6)
            fprintf(stderr, "\n  FUZZ %s: further violations not shown\n", t->name);
        return;
    }
    fprintf(stderr, "\n  FUZZ VIOLATION %s seed 0x%llx iteration %u: ", t->name,
            (unsigned long long)base_seed(), t->iter);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void report(const struct tstat *t)
{
    printf("\n    fuzz %-12s iterations %5u rejected %5u accepted %5u violations %u",
           t->name, t->iter, t->rejected, t->accepted, t->violations);
    CU_ASSERT_EQUAL(t->violations, 0);
}

/* ---- byte / DER mutations ---- */

struct der_node { size_t tag_off, len_off, len_len, val_off, val_len; int cons; };

/* Collect the TLVs of a DER tree (tolerant walk, bounded). */
static void der_walk(const uint8_t *p, size_t base, size_t len, int depth,
                     struct der_node *n, size_t *cnt, size_t max)
{
    size_t pos = 0;
    while (pos < len && *cnt < max && depth < 12) {
        struct der_node d;
        size_t q = pos;
        d.tag_off = base + pos;
        uint8_t t0 = p[q++];
        d.cons = (t0 & 0x20) != 0;
        if ((t0 & 0x1F) == 0x1F) {
            while (q < len && (p[q] & 0x80))
                q++;
            q++;
        }
        if (q >= len)
            return;
        d.len_off = base + q;
        size_t l;
        if (p[q] < 0x80) {
            l = p[q];
            d.len_len = 1;
        } else {
            unsigned k = p[q] & 0x7F;
            if (k == 0 || k > 3 || q + k >= len)
                return;
            l = 0;
            for (unsigned i = 1; i <= k; i++)
                l = (l << 8) | p[q + i];
            d.len_len = 1 + k;
        }
        q += d.len_len;
        if (l > len - q)
            return;
        d.val_off = base + q;
        d.val_len = l;
        n[(*cnt)++] = d;
        if (d.cons)
            der_walk(p + q, base + q, l, depth + 1, n, cnt, max);
        pos = q + l;
    }
}

static int buf_splice(struct rsp_buf *b, size_t off, size_t del, const uint8_t *ins, size_t n)
{
    if (off > b->len || del > b->len - off)
        return -1;
    size_t nl = b->len - del + n;
    if (nl > b->max)
        return -1;
    uint8_t *tmp = malloc(nl ? nl : 1);
    if (!tmp)
        return -1;
    memcpy(tmp, b->data, off);
    if (n)
        memcpy(tmp + off, ins, n);
    memcpy(tmp + off + n, b->data + off + del, b->len - off - del);
    rsp_buf_reset(b);
    int rc = rsp_buf_append(b, tmp, nl);
    free(tmp);
    return rc;
}

static void mutate_one(struct rng *r, struct rsp_buf *b)
{
    static const uint8_t interesting[] = {0x00, 0xFF, 0x80, 0x7F, 0x81, 0x82, 0x01, 0x30, 0xA0,
                                          0xBF, 0x04, 0x5A};
    struct der_node nodes[512];
    size_t cnt = 0;
    uint8_t tmp[8];

    if (b->len)
        der_walk(b->data, 0, b->len, 0, nodes, &cnt, 512);
    unsigned op = rng_below(r, 10);
    if (!b->len)
        op = 2;
    if (op >= 5 && !cnt)
        op = rng_below(r, 5);
    switch (op) {
    case 0: /* bit flip */
        b->data[rng_below(r, (uint32_t)b->len)] ^= (uint8_t)(1u << rng_below(r, 8));
        break;
    case 1: /* byte replace */
        b->data[rng_below(r, (uint32_t)b->len)] =
            rng_below(r, 2) ? interesting[rng_below(r, sizeof(interesting))] : (uint8_t)rng_next(r);
        break;
    case 2: { /* insert */
        size_t n = 1 + rng_below(r, 8);
        for (size_t i = 0; i < n; i++)
            tmp[i] = (uint8_t)rng_next(r);
        buf_splice(b, rng_below(r, (uint32_t)b->len + 1), 0, tmp, n);
        break;
    }
    case 3: { /* delete */
        size_t off = rng_below(r, (uint32_t)b->len);
        size_t n = 1 + rng_below(r, 16);
        if (n > b->len - off)
            n = b->len - off;
        buf_splice(b, off, n, NULL, 0);
        break;
    }
    case 4: /* truncate */
        b->len = rng_below(r, (uint32_t)b->len);
        break;
    case 5:
    case 6: { /* length field forms */
        struct der_node *d = &nodes[rng_below(r, (uint32_t)cnt)];
        size_t l = d->val_len, n = 0;
        switch (rng_below(r, 8)) {
        case 0: tmp[n++] = 0x80; break;                          /* indefinite */
        case 1: tmp[n++] = 0x81; tmp[n++] = (uint8_t)l; break;  /* non-minimal */
        case 2: tmp[n++] = 0x82; tmp[n++] = (uint8_t)(l >> 8); tmp[n++] = (uint8_t)l; break;
        case 3: tmp[n++] = 0x84; memset(tmp + n, 0xFF, 4); n += 4; break;   /* huge */
        case 4: tmp[n++] = 0x83; tmp[n++] = 0x7F; tmp[n++] = 0xFF; tmp[n++] = 0xFF; break;
        case 5: tmp[n++] = 0x88; memset(tmp + n, 0x01, 7); n += 7; break;
        case 6: tmp[n++] = (uint8_t)(l + 1 < 0x80 ? l + 1 : 0x7F); break;
        default: tmp[n++] = (uint8_t)(l ? (l - 1 < 0x80 ? l - 1 : 0x7F) : 0x01); break;
        }
        buf_splice(b, d->len_off, d->len_len, tmp, n);
        break;
    }
    case 7: { /* duplicate a TLV */
        struct der_node *d = &nodes[rng_below(r, (uint32_t)cnt)];
        size_t tl = d->val_off + d->val_len - d->tag_off;
        uint8_t *copy = malloc(tl);
        if (copy) {
            memcpy(copy, b->data + d->tag_off, tl);
            buf_splice(b, d->val_off + d->val_len, 0, copy, tl);
            free(copy);
        }
        break;
    }
    case 8: { /* remove a TLV */
        struct der_node *d = &nodes[rng_below(r, (uint32_t)cnt)];
        buf_splice(b, d->tag_off, d->val_off + d->val_len - d->tag_off, NULL, 0);
        break;
    }
    default: { /* change a tag */
        struct der_node *d = &nodes[rng_below(r, (uint32_t)cnt)];
        b->data[d->tag_off] = rng_below(r, 2) ? (uint8_t)(b->data[d->tag_off] ^ 0x20)
                                              : interesting[rng_below(r, sizeof(interesting))];
        break;
    }
    }
}

/* 1..3 mutations of p into out (initialised here, cap max). */
static void mutate_bytes(struct rng *r, const uint8_t *p, size_t len, size_t max,
                         struct rsp_buf *out)
{
    rsp_buf_init(out, max);
    if (len)
        rsp_buf_append(out, p, len);
    unsigned n = 1 + rng_below(r, 3);
    for (unsigned i = 0; i < n; i++)
        mutate_one(r, out);
    /* a mutant equal to its seed proves nothing: mutate again */
    for (unsigned i = 0; i < 16 && out->len == len && (!len || !memcmp(out->data, p, len)); i++)
        mutate_one(r, out);
}

/* ---- JSON mutations ---- */

struct jslot { json_t *parent; const char *key; size_t idx; json_t *val; };

static void json_slots(json_t *j, struct jslot *s, size_t *n, size_t max, int depth)
{
    const char *k;
    json_t *v;
    size_t i;
    if (depth > 8)
        return;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            if (*n < max)
                s[(*n)++] = (struct jslot){j, k, 0, v};
            json_slots(v, s, n, max, depth + 1);
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            if (*n < max)
                s[(*n)++] = (struct jslot){j, NULL, i, v};
            json_slots(v, s, n, max, depth + 1);
        }
    }
}

static json_t *long_string(struct rng *r)
{
    static const size_t sizes[] = {300, 4096, 70000, 300000};
    size_t n = sizes[rng_below(r, 4)];
    char *s = malloc(n + 1);
    if (!s)
        return json_null();
    memset(s, rng_below(r, 2) ? 'A' : '9', n);
    s[n] = '\0';
    json_t *j = json_string(s);
    free(s);
    return j;
}

static json_t *bad_base64(struct rng *r, const char *v)
{
    size_t n = strlen(v);
    char *s = malloc(n + 8);
    if (!s)
        return json_null();
    memcpy(s, v, n + 1);
    switch (rng_below(r, 6)) {
    case 0: if (n) s[rng_below(r, (uint32_t)n)] = '*'; break;       /* alphabet */
    case 1: if (n) s[rng_below(r, (uint32_t)n)] = ' '; break;       /* whitespace */
    case 2: if (n > 4) s[n / 2] = '='; break;                       /* inner padding */
    case 3: if (n) s[n - 1] = '\0'; break;                          /* length */
    case 4: strcat(s, "===="); break;
    default: if (n > 1) s[1] = '\n'; break;
    }
    json_t *j = json_string(s);
    free(s);
    return j;
}

static json_t *deep(unsigned d)
{
    json_t *j = json_integer(1);
    for (unsigned i = 0; i < d && j; i++) {
        json_t *a = json_array();
        json_array_append_new(a, j);
        j = a;
    }
    return j;
}

/* Mutate a JSON text; [out] malloc'd NUL-terminated text. */
static char *mutate_json(struct rng *r, const char *body, size_t len, size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    struct jslot slots[128];
    size_t n = 0;
    char *txt = NULL;
    const char *dupkey = NULL;

    if (!j || rng_below(r, 6) == 0) {
        /* raw text damage */
        struct rsp_buf b;
        json_decref(j);
        rsp_buf_init(&b, len + 64);
        rsp_buf_append(&b, body, len);
        unsigned k = 1 + rng_below(r, 3);
        for (unsigned i = 0; i < k; i++) {
            if (!b.len) {
                rsp_buf_append_byte(&b, '{');
                continue;
            }
            switch (rng_below(r, 4)) {
            case 0: b.data[rng_below(r, (uint32_t)b.len)] ^= (uint8_t)(1u << rng_below(r, 8)); break;
            case 1: b.len = rng_below(r, (uint32_t)b.len); break;
            case 2: b.data[rng_below(r, (uint32_t)b.len)] = "{}[]\",:\\0\x01\xff"[rng_below(r, 12)]; break;
            default: buf_splice(&b, rng_below(r, (uint32_t)b.len), 0, (const uint8_t *)"\\u0000", 6); break;
            }
        }
        txt = malloc(b.len + 1);
        if (txt) {
            if (b.len)
                memcpy(txt, b.data, b.len);
            txt[b.len] = '\0';
            *out_len = b.len;
        }
        rsp_buf_free(&b);
        return txt;
    }
    json_slots(j, slots, &n, 128, 0);
    if (n) {
        struct jslot *s = &slots[rng_below(r, (uint32_t)n)];
        json_t *nv = NULL;
        switch (rng_below(r, 10)) {
        case 0: nv = json_integer((json_int_t)rng_next(r)); break;
        case 1: nv = json_is_string(s->val) ? json_object() : json_string("1"); break;
        case 2: nv = json_array(); break;
        case 3: nv = rng_below(r, 2) ? json_true() : json_null(); break;
        case 4: nv = long_string(r); break;
        case 5: nv = deep(8 + rng_below(r, 40)); break;
        case 6: nv = json_is_string(s->val) ? bad_base64(r, json_string_value(s->val))
                                            : json_string("!!"); break;
        case 7: nv = json_string(""); break;
        case 8: /* remove */
            if (s->key)
                json_object_del(s->parent, s->key);
            else
                json_array_remove(s->parent, s->idx);
            s = NULL;
            break;
        default: /* duplicate key */
            if (s->key) {
                dupkey = s->key;
                json_object_set_new(s->parent, "\x01" "DUP", json_integer(7));
            }
            s = NULL;
            break;
        }
        if (s && nv) {
            if (s->key)
                json_object_set_new(s->parent, s->key, nv);
            else
                json_array_set_new(s->parent, s->idx, nv);
        } else {
            json_decref(nv);
        }
    }
    txt = json_dumps(j, JSON_COMPACT);
    if (txt && dupkey) {
        char *m = strstr(txt, "\"\\u0001DUP\"");
        size_t kl = strlen(dupkey);
        if (m && kl + 2 <= 11 + 64) {
            size_t tl = strlen(txt);
            char *t2 = malloc(tl + kl + 4);
            if (t2) {
                size_t pre = (size_t)(m - txt);
                memcpy(t2, txt, pre);
                t2[pre] = '"';
                memcpy(t2 + pre + 1, dupkey, kl);
                t2[pre + 1 + kl] = '"';
                strcpy(t2 + pre + 2 + kl, m + 11);
                free(txt);
                txt = t2;
            }
        }
    }
    json_decref(j);
    if (txt)
        *out_len = strlen(txt);
    return txt;
}

/* ---- the world: card + SM-DP+ + LPA ---- */

enum hook_mode { H_NONE, H_CAPDU, H_ES10, H_RAPDU, H_REQ, H_RESP };

#define CAP_MAX 64

struct capture {
    size_t n;
    uint8_t *cmd[CAP_MAX], *rsp[CAP_MAX];
    size_t cmd_len[CAP_MAX], rsp_len[CAP_MAX];
    size_t n_http;
    char *path[8], *req[8], *resp[8];
    size_t req_len[8], resp_len[8];
};

struct world {
    struct euicc_fixture f;
    struct smdp *s;
    struct smdp_store *st;
    char db[600];
    struct lpa_ctx l;
    unsigned next_iccid;
    char mid[SMDP_MID_MAX + 1], iccid[21];
    /* driver bookkeeping */
    struct rsp_buf asm_cmd;            /* STORE DATA being assembled */
    unsigned n_es10, n_rapdu, n_capdu, n_http;
    int in_resp;                       /* collecting the current ES10 response */
    struct rsp_buf cur_rsp;
    /* hook */
    int mode;
    unsigned target;
    int hit;                           /* the mutation was applied */
    int advanced;                      /* a mutated request was accepted */
    struct rng rng;
    struct tstat *t;
    struct capture *cap;               /* non-NULL: record */
    unsigned req_mutants;              /* H_REQ: mutants per request */
    const char *fix_key;               /* H_REQ: set this field ... */
    json_t *fix_val;                   /* ... to this value instead of mutating */
};

/* body with key set to val (a regression's exact mutant). */
static char *json_with(const char *body, size_t len, const char *key, json_t *val, size_t *out_len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    char *t = NULL;
    if (j && !json_object_set(j, key, val) && (t = json_dumps(j, JSON_COMPACT)))
        *out_len = strlen(t);
    json_decref(j);
    return t;
}

static int sw_legal(const uint8_t *r, size_t n)
{
    if (n < 2 || n > EUICC_RAPDU_MAX)
        return 0;
    uint8_t s1 = r[n - 2], s2 = r[n - 1];
    if (s1 == 0x90)
        return s2 == 0x00;
    if (s1 < 0x61 || s1 > 0x6F || s1 == 0x60)
        return 0;
    if (s1 == 0x61 || s1 == 0x62 || s1 == 0x63)
        return 1;
    return n == 2;          /* errors carry no data (ISO/IEC 7816-4 §5.1.3) */
}

static int card_tx(struct world *w, const uint8_t *c, size_t len, uint8_t *r, size_t *rlen)
{
    int rc = euicc_transmit(w->f.card, c, len, r, rlen);
    if (rc == 0 && !sw_legal(r, *rlen) && w->t)
        violation(w->t, "card answered an illegal R-APDU (len %zu, SW %02X%02X) to %02X%02X%02X%02X",
                  *rlen, *rlen >= 2 ? r[*rlen - 2] : 0, *rlen >= 2 ? r[*rlen - 1] : 0,
                  c[0], len > 1 ? c[1] : 0, len > 2 ? c[2] : 0, len > 3 ? c[3] : 0);
    return rc;
}

/* Send a whole ES10 command as STORE DATA blocks of 255 on cla. */
static int card_es10(struct world *w, uint8_t cla, const uint8_t *cmd, size_t len,
                     uint8_t *r, size_t *rlen)
{
    size_t off = 0;
    unsigned blk = 0;
    uint8_t apdu[5 + 255];
    int rc;
    do {
        size_t n = len - off > 255 ? 255 : len - off;
        int last = off + n == len;
        apdu[0] = cla;
        apdu[1] = 0xE2;
        apdu[2] = last ? 0x91 : 0x11;
        apdu[3] = (uint8_t)blk++;
        apdu[4] = (uint8_t)n;
        memcpy(apdu + 5, cmd + off, n);
        *rlen = EUICC_RAPDU_MAX;
        if ((rc = card_tx(w, apdu, 5 + n, r, rlen)))
            return rc;
        off += n;
        if (!last && !(*rlen == 2 && r[0] == 0x90 && r[1] == 0x00))
            return 0;
    } while (off < len);
    return 0;
}

static void cap_push_rsp(struct world *w)
{
    struct capture *c = w->cap;
    if (c && w->in_resp && c->n > 0 && !c->rsp[c->n - 1]) {
        c->rsp[c->n - 1] = malloc(w->cur_rsp.len + 1);
        if (c->rsp[c->n - 1] && w->cur_rsp.len)
            memcpy(c->rsp[c->n - 1], w->cur_rsp.data, w->cur_rsp.len);
        c->rsp_len[c->n - 1] = w->cur_rsp.len;
    }
    w->in_resp = 0;
    rsp_buf_reset(&w->cur_rsp);
}

static int drv_connect(void *ctx) { (void)ctx; return 0; }

static int drv_open(void *ctx, const uint8_t *aid, size_t aid_len, int *channel)
{
    struct world *w = ctx;
    uint8_t apdu[5 + 16], r[EUICC_RAPDU_MAX];
    size_t rlen = sizeof(r);
    if (aid_len > 16)
        return RSP_ERR_INVAL;
    apdu[0] = 0x00, apdu[1] = 0xA4, apdu[2] = 0x04, apdu[3] = 0x00, apdu[4] = (uint8_t)aid_len;
    memcpy(apdu + 5, aid, aid_len);
    if (euicc_transmit(w->f.card, apdu, 5 + aid_len, r, &rlen))
        return RSP_ERR_IO;
    *channel = 0;
    return 0;
}

static int drv_transmit(void *ctx, const uint8_t *c, size_t len, uint8_t *r, size_t *rlen)
{
    struct world *w = ctx;
    uint8_t mc[LPA_CAPDU_MAX + 16];
    int rc;
    int is_sd = len >= 5 && c[1] == 0xE2;
    int is_gr = len >= 4 && c[1] == 0xC0;
    unsigned capdu_idx = w->n_capdu++;

    if (!is_gr)
        cap_push_rsp(w);
    if (is_sd) {
        size_t lc = c[4];
        if (lc > len - 5)
            lc = len - 5;
        rsp_buf_append(&w->asm_cmd, c + 5, lc);
        int last = (c[2] & 0x80) != 0;
        if (w->mode == H_ES10 && w->n_es10 == w->target) {
            if (!last) {              /* hold back: answer 9000 */
                r[0] = 0x90, r[1] = 0x00, *rlen = 2;
                return 0;
            }
            struct rsp_buf m;
            size_t orig_len = w->asm_cmd.len;
            uint8_t *orig = malloc(orig_len ? orig_len : 1);
            if (orig && orig_len)
                memcpy(orig, w->asm_cmd.data, orig_len);
            mutate_bytes(&w->rng, w->asm_cmd.data, w->asm_cmd.len, EUICC_ES10_MAX + 64, &m);
            w->hit = 1;
            w->n_es10++;
            rsp_buf_reset(&w->asm_cmd);
            if (m.len == 0)
                rsp_buf_append_byte(&m, 0x00);
            rc = card_es10(w, c[0], m.data, m.len, r, rlen);
            if (getenv("FUZZ_VERBOSE") && w->t) {
                char hex[2 * 160 + 1];
                rsp_hex_encode(m.data, m.len > 160 ? 160 : m.len, hex);
                char tail[2 * 16 + 1];
                rsp_hex_encode(m.data + (m.len > 16 ? m.len - 16 : 0), m.len > 16 ? 16 : m.len, tail);
                size_t d = 0;
                while (d < m.len && d < orig_len && m.data[d] == orig[d])
                    d++;
                fprintf(stderr, "\n  %s #%u ES10 mutant (%zu of %zu bytes, first change at %zu) "
                        "%s ... %s -> SW %02X%02X", w->t->name, w->t->iter, m.len, orig_len, d, hex, tail,
                        *rlen >= 2 ? r[*rlen - 2] : 0, *rlen >= 2 ? r[*rlen - 1] : 0);
            }
            rsp_buf_free(&m);
            free(orig);
            return rc;
        }
        if (last) {
            if (w->cap && w->cap->n < CAP_MAX) {
                struct capture *cp = w->cap;
                cp->cmd[cp->n] = malloc(w->asm_cmd.len);
                memcpy(cp->cmd[cp->n], w->asm_cmd.data, w->asm_cmd.len);
                cp->cmd_len[cp->n] = w->asm_cmd.len;
                cp->rsp[cp->n] = NULL;
                cp->n++;
                w->in_resp = 1;
            }
            w->n_es10++;
            rsp_buf_reset(&w->asm_cmd);
        }
    }
    if (w->mode == H_CAPDU && capdu_idx == w->target && len <= LPA_CAPDU_MAX) {
        /* header-level damage of one raw C-APDU */
        memcpy(mc, c, len);
        size_t ml = len;
        switch (rng_below(&w->rng, 7)) {
        case 0: mc[0] = (uint8_t)(rng_below(&w->rng, 2) ? (mc[0] & 0xFC) | rng_below(&w->rng, 4)
                                                      : 0x40 | rng_below(&w->rng, 16)); break;
        case 1: mc[1] = (uint8_t)rng_next(&w->rng); break;
        case 2: mc[2] = (uint8_t)rng_next(&w->rng); break;
        case 3: mc[3] = (uint8_t)rng_next(&w->rng); break;
        case 4: if (ml > 4) mc[4] = (uint8_t)rng_next(&w->rng); break;
        case 5: if (ml < sizeof(mc)) mc[ml++] = (uint8_t)rng_next(&w->rng); break;   /* Le */
        default: ml = rng_below(&w->rng, (uint32_t)ml); break;
        }
        w->hit = 1;
        return card_tx(w, mc, ml, r, rlen);
    }
    rc = card_tx(w, c, len, r, rlen);
    if (rc)
        return rc;
    if (w->in_resp && *rlen >= 2)
        rsp_buf_append(&w->cur_rsp, r, *rlen - 2);
    if (w->mode == H_RAPDU && w->n_rapdu == w->target) {
        struct rsp_buf m;
        w->hit = 1;
        unsigned k = rng_below(&w->rng, 4);
        if (k == 0 && *rlen >= 2) {            /* bogus chaining */
            r[*rlen - 2] = rng_below(&w->rng, 2) ? 0x61 : 0x6C;
            r[*rlen - 1] = (uint8_t)rng_next(&w->rng);
        } else {
            mutate_bytes(&w->rng, r, *rlen, EUICC_RAPDU_MAX, &m);
            memcpy(r, m.data, m.len);
            *rlen = m.len;
            rsp_buf_free(&m);
        }
    }
    w->n_rapdu++;
    return 0;
}

/* ---- the HTTP side ---- */

static int status_ok(int st)
{
    static const int ok[] = {200, 204, 400, 401, 403, 404, 405, 413, 415};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (ok[i] == st)
            return 1;
    return 0;
}

/* A response body for printf "%.*s" (not NUL-terminated; at most 240). */
#define BODY(r) (int)((r)->body ? ((r)->body_len > 240 ? 240 : (r)->body_len) : 0), \
                ((r)->body ? (r)->body : "")

/* Check one smdp_handle answer; returns 1 if it was Executed-Success. */
static int check_resp(struct tstat *t, const char *path, const struct smdp_resp *resp)
{
    if (!status_ok(resp->status)) {
        violation(t, "%s: HTTP status %d", path, resp->status);
        return 0;
    }
    if (resp->status == 204)
        return 1;
    if (resp->status != 200)
        return 0;
    json_t *j = resp->body ? json_loadb(resp->body, resp->body_len, JSON_REJECT_DUPLICATES, NULL)
                           : NULL;
    json_t *fes = json_object_get(json_object_get(j, "header"), "functionExecutionStatus");
    const char *st = json_string_value(json_object_get(fes, "status"));
    int ok = 0;
    if (!st) {
        violation(t, "%s: 200 without header.functionExecutionStatus.status: %.*s", path,
                  BODY(resp));
    } else if (!strcmp(st, "Executed-Success") || !strcmp(st, "Executed-WithWarning")) {
        ok = 1;
    } else if (!json_object_get(fes, "statusCodeData")) {
        violation(t, "%s: %s without statusCodeData", path, st);
    }
    json_decref(j);
    return ok;
}

struct snap { int ostate, pstate; unsigned cc, dl; int found; char tid[SMDP_TID_MAX + 1]; };

static void snap_take(struct world *w, struct snap *s)
{
    struct smdp_order o;
    struct smdp_profile p;
    memset(s, 0, sizeof(*s));
    if (w->mid[0] && smdp_store_order_get(w->st, SMDP_ORDER_BY_MATCHING_ID, w->mid, &o) == 0) {
        s->found = 1;
        s->ostate = o.state;
        s->cc = o.cc_attempts;
        s->dl = o.download_attempts;
        memcpy(s->tid, o.transaction_id, sizeof(s->tid));
    }
    if (w->iccid[0] && smdp_store_profile_get(w->st, w->iccid, 0, &p) == 0) {
        s->pstate = p.state;
        smdp_profile_clear(&p);
    }
}

static void handle(struct world *w, int iface, const char *path, const char *xap,
                   const char *ct, const char *body, size_t len, struct smdp_resp *resp)
{
    struct smdp_req q;
    memset(&q, 0, sizeof(q));
    q.iface = iface;
    q.method = "POST";
    q.path = path;
    q.admin_protocol = xap;
    q.content_type = ct;
    q.body = (const uint8_t *)body;
    q.body_len = len;
    q.operator_id = iface == SMDP_IFACE_ES2 ? OP : NULL;
    smdp_handle(w->s, w->st, &q, resp);
}

#define XAP "gsma/rsp/v2.5.0"
#define CT "application/json;charset=UTF-8"

static int http_post(void *ctx, const char *address, const char *path,
                     const char *const *headers, const char *body, size_t body_len,
                     long *http_status, char **out, size_t *out_len, char *err, size_t err_len)
{
    struct world *w = ctx;
    struct smdp_resp resp;
    unsigned idx = w->n_http++;
    int done = 0;
    (void)address; (void)headers; (void)err; (void)err_len;

    if (((w->mode == H_REQ && idx == w->target) ||
         (w->mode == H_RESP && strstr(path, "cancelSession"))) && w->t) {
        struct snap before, after;
        snap_take(w, &before);
        for (unsigned i = 0; i < w->req_mutants && !done; i++) {
            size_t ml = 0;
            char *m = w->fix_key ? json_with(body, body_len, w->fix_key, w->fix_val, &ml)
                                 : mutate_json(&w->rng, body, body_len, &ml);
            if (!m)
                continue;
            w->hit = 1;
            size_t ns0 = smdp_sess_count(w->s);
            handle(w, SMDP_IFACE_ES9, path, XAP, CT, m, ml, &resp);
            if (getenv("FUZZ_VERBOSE"))
                fprintf(stderr, "\n  sessions %zu -> %zu", ns0, smdp_sess_count(w->s));
            int ok = check_resp(w->t, path, &resp);
            if (getenv("FUZZ_VERBOSE"))
                fprintf(stderr, "\n  %s #%u mutant %u: HTTP %d %.*s\n    <- %.300s\n", w->t->name,
                        w->t->iter, i, resp.status, BODY(&resp), m);
            if (ok) {
                free(m);
                /* still a valid request: the SM-DP+ moved on, use its answer */
                w->t->accepted++;
                w->advanced = 1;
                done = 1;
                break;
            }
            w->t->rejected++;
            snap_take(w, &after);
            if (memcmp(&before, &after, sizeof(before)))
                violation(w->t, "%s rejected (HTTP %d %.*s) but order %d->%d profile %d->%d "
                          "cc %u->%u dl %u->%u tid %s->%s; request %.300s", path, resp.status,
                          BODY(&resp), before.ostate, after.ostate, before.pstate,
                          after.pstate, before.cc, after.cc, before.dl, after.dl, before.tid,
                          after.tid, m);
            smdp_resp_free(&resp);
            free(m);
        }
    }
    if (!done)
        handle(w, SMDP_IFACE_ES9, path, XAP, CT, body, body_len, &resp);
    if (w->cap && w->cap->n_http < 8) {
        struct capture *c = w->cap;
        c->path[c->n_http] = strdup(path);
        c->req[c->n_http] = strndup(body, body_len);
        c->req_len[c->n_http] = body_len;
        c->resp[c->n_http] = resp.body ? strndup(resp.body, resp.body_len) : NULL;
        c->resp_len[c->n_http] = resp.body_len;
        c->n_http++;
    }
    *http_status = resp.status;
    *out = resp.body;
    *out_len = resp.body_len;
    resp.body = NULL;
    if (w->mode == H_RESP && idx == w->target) {
        w->hit = 1;
        if (rng_below(&w->rng, 8) == 0) {
            static const long sts[] = {500, 204, 404, 302, 200};
            *http_status = sts[rng_below(&w->rng, 5)];
        } else if (*out) {
            size_t ml = 0;
            char *m = mutate_json(&w->rng, *out, *out_len, &ml);
            free(*out);
            *out = m;
            *out_len = m ? ml : 0;
        }
    }
    smdp_resp_free(&resp);
    return 0;
}

/* ---- world setup ---- */

static int es2_call(struct world *w, const char *fn, const char *fields, json_t **out)
{
    char path[128], body[1024];
    struct smdp_resp resp;
    snprintf(path, sizeof(path), "/gsma/rsp2/es2plus/%s", fn);
    snprintf(body, sizeof(body),
             "{\"header\":{\"functionRequesterIdentifier\":\"" OP "\",\"functionCallIdentifier\":\"f\"},%s}",
             fields);
    handle(w, SMDP_IFACE_ES2, path, XAP, CT, body, strlen(body), &resp);
    json_t *j = resp.status == 200 && resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    const char *st = json_string_value(json_object_get(
        json_object_get(json_object_get(j, "header"), "functionExecutionStatus"), "status"));
    int rc = st && !strcmp(st, "Executed-Success") ? 0 : -1;
    if (rc)
        fprintf(stderr, "\n  es2 %s: %d %.*s\n", fn, resp.status, BODY(&resp));
    smdp_resp_free(&resp);
    if (out && !rc)
        *out = j;
    else
        json_decref(j);
    return rc;
}

static uint8_t *ts48;
static size_t ts48_len;
static char ts48_iccid[21];

/* Replace every plain and swapped BCD copy of the package's ICCID (the
 * PE-Header and EF.ICCID) by iccid: same length, so DER stays valid. */
static uint8_t *package_with_iccid(const char *iccid)
{
    uint8_t from[2][10], to[2][10];
    uint8_t *p = malloc(ts48_len);
    if (!p)
        return NULL;
    memcpy(p, ts48, ts48_len);
    for (int sw = 0; sw < 2; sw++)
        if (rsp_iccid_to_bcd(ts48_iccid, sw, from[sw]) || rsp_iccid_to_bcd(iccid, sw, to[sw])) {
            free(p);
            return NULL;
        }
    for (size_t i = 0; i + 10 <= ts48_len; i++)
        for (int sw = 0; sw < 2; sw++)
            if (!memcmp(p + i, from[sw], 10))
                memcpy(p + i, to[sw], 10);
    return p;
}

/* Import a fresh profile and order it through ES2+ (downloadOrder,
 * confirmOrder with releaseFlag): w->iccid, w->mid. */
static int world_import(struct world *w, char iccid[21])
{
    struct smdp_profile p;
    char digits[32];
    int rc;

    snprintf(digits, sizeof(digits), "8900099%011u", w->next_iccid++ % 100000000u);
    int cd = rsp_luhn_digit(digits, 18);
    memcpy(iccid, digits, 18);
    iccid[18] = (char)('0' + (cd < 0 ? 0 : cd));
    iccid[19] = '\0';
    memset(&p, 0, sizeof(p));
    p.icon_type = -1;
    p.pclass = SMDP_CLASS_OPERATIONAL;
    snprintf(p.iccid, sizeof(p.iccid), "%s", iccid);
    strcpy(p.operator_id, OP);
    strcpy(p.spn, "Fuzz SP");
    strcpy(p.name, "TS.48 fuzz");
    p.package = package_with_iccid(iccid);
    p.package_len = ts48_len;
    rc = p.package ? smdp_store_profile_import(w->st, &p) : RSP_ERR_NOMEM;
    free(p.package);
    return rc;
}

static int world_order(struct world *w)
{
    char fields[256];
    json_t *j = NULL;
    int rc;

    if ((rc = world_import(w, w->iccid)))
        return rc;
    snprintf(fields, sizeof(fields), "\"iccid\":\"%s\"", w->iccid);
    if (es2_call(w, "downloadOrder", fields, NULL))
        return -1;
    snprintf(fields, sizeof(fields), "\"iccid\":\"%s\",\"releaseFlag\":true", w->iccid);
    if (es2_call(w, "confirmOrder", fields, &j))
        return -1;
    snprintf(w->mid, sizeof(w->mid), "%s", json_string_value(json_object_get(j, "matchingId")) ?: "");
    json_decref(j);
    return w->mid[0] ? 0 : -1;
}

static void world_hook_reset(struct world *w)
{
    w->mode = H_NONE;
    w->hit = w->advanced = 0;
    w->n_es10 = w->n_rapdu = w->n_capdu = w->n_http = 0;
    w->in_resp = 0;
    rsp_buf_reset(&w->asm_cmd);
    rsp_buf_reset(&w->cur_rsp);
}

static int world_lpa_open(struct world *w)
{
    struct lpa_apdu_driver drv = {
        .ctx = w, .connect = drv_connect, .open_channel = drv_open, .transmit = drv_transmit,
    };
    int rc = lpa_ctx_init(&w->l, &drv, NULL);
    return rc ? rc : lpa_open(&w->l);
}

static int world_card_new(struct world *w)
{
    lpa_close(&w->l);
    euicc_fixture_close(&w->f);
    if (euicc_fixture_open(&w->f, NULL))
        return -1;
    return world_lpa_open(w);
}

static int world_open(struct world *w)
{
    char ac[700], ak[700], pc[700], pk[700], ci[700], path[700];
    struct smdp_config cfg;
    struct smdp_operator op;
    const char *pki;

    memset(w, 0, sizeof(*w));
    w->l.channel = -1;
    rsp_buf_init(&w->asm_cmd, EUICC_ES10_MAX);
    rsp_buf_init(&w->cur_rsp, 1u << 20);
    if (!ts48) {
        snprintf(path, sizeof(path), "%s/ts48/TS48v2_SAIP2.3_NoBERTLV.der", test_shared_dir());
        struct rsp_saip_info *info = NULL;
        if (!(ts48 = test_read_file(path, &ts48_len)) || rsp_saip_parse(ts48, ts48_len, &info))
            return -1;
        snprintf(ts48_iccid, sizeof(ts48_iccid), "%s", info->iccid);
        rsp_saip_info_free(info);
    }
    if (euicc_fixture_open(&w->f, NULL))
        return -1;
    pki = euicc_fixture_pki_dir();
    memset(&cfg, 0, sizeof(cfg));
    cfg.fqdn = FQDN;
    snprintf(ac, sizeof(ac), "%s/DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der", pki);
    snprintf(ak, sizeof(ak), "%s/DPauth/SK_S_SM_DPauth_ECDSA_NIST.pem", pki);
    snprintf(pc, sizeof(pc), "%s/DPpb/CERT_S_SM_DPpb_ECDSA_NIST.der", pki);
    snprintf(pk, sizeof(pk), "%s/DPpb/SK_S_SM_DPpb_ECDSA_NIST.pem", pki);
    snprintf(ci, sizeof(ci), "%s/CertificateIssuer", pki);
    cfg.nist = (struct smdp_cred_paths){ac, ak, pc, pk};
    cfg.ci_dir = ci;
    cfg.download_limit = 1000;
    if (smdp_create(&cfg, &w->s))
        return -1;
    snprintf(w->db, sizeof(w->db), "%s/fuzz-%d.db", test_build_dir(), (int)getpid());
    unlink(w->db);
    if (smdp_store_open_sqlite(w->db, &w->st))
        return -1;
    memset(&op, 0, sizeof(op));
    strcpy(op.id, OP);
    strcpy(op.name, "Fuzz operator");
    op.has_cert = 1;
    memset(op.cert_sha256, 0x11, 32);
    if (smdp_store_operator_add(w->st, &op))
        return -1;
    return world_lpa_open(w);
}

static void capture_free(struct capture *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->cmd[i]);
        free(c->rsp[i]);
    }
    for (size_t i = 0; i < c->n_http; i++) {
        free(c->path[i]);
        free(c->req[i]);
        free(c->resp[i]);
    }
    memset(c, 0, sizeof(*c));
}

static void world_close(struct world *w)
{
    lpa_close(&w->l);
    euicc_fixture_close(&w->f);
    smdp_free(w->s);
    smdp_store_close(w->st);
    if (w->db[0])
        unlink(w->db);
    rsp_buf_free(&w->asm_cmd);
    rsp_buf_free(&w->cur_rsp);
    memset(w, 0, sizeof(*w));
}

static size_t persisted_profiles(struct world *w)
{
    struct euicc_state st;
    size_t n;
    memset(&st, 0, sizeof(st));
    if (euicc_state_load(w->f.state_path, &st))
        return (size_t)-1;
    n = st.n_profiles;
    euicc_state_clear(&st);
    return n;
}

/* One download of the current order with the current hook. */
static int world_download(struct world *w, struct lpa_result *res)
{
    struct lpa_download_opts opt;
    memset(&opt, 0, sizeof(opt));
    opt.smdp_address = FQDN;
    opt.matching_id = w->mid;
    return lpa_download(&w->l, &(struct lpa_http_driver){.ctx = w, .post = http_post}, &opt, res);
}

/* A fresh card when this one fills up. */
static int world_room(struct world *w)
{
    if (w->f.card->st.n_profiles < EUICC_MAX_PROFILES - 2 &&
        w->f.card->st.n_notifs < EUICC_MAX_NOTIFS - 8)
        return 0;
    return world_card_new(w);
}

/* Order + clean download; the invariant "the card/SM-DP+ still work". */
static int world_clean(struct world *w, struct tstat *t, const char *when)
{
    struct lpa_result res;
    size_t before;
    int rc;

    world_hook_reset(w);
    if (world_room(w) || world_order(w)) {
        violation(t, "%s: could not set up a clean order", when);
        return -1;
    }
    /* the LPA may have been left with its channel open on a reset card */
    lpa_close(&w->l);
    euicc_reset(w->f.card, (uint8_t[EUICC_ATR_MAX]){0}, &(size_t){0});
    if (world_lpa_open(w)) {
        violation(t, "%s: lpa_open failed", when);
        return -1;
    }
    before = w->f.card->st.n_profiles;
    rc = world_download(w, &res);
    if (rc || w->f.card->st.n_profiles != before + 1 || persisted_profiles(w) != before + 1) {
        violation(t, "%s: clean download failed: rc %d step %s %s/%s sw %04X euicc %d: %s", when,
                  rc, lpa_step_name(res.step), res.subject_code, res.reason_code, res.sw,
                  res.euicc_error, res.detail);
        return -1;
    }
    return 0;
}

/* ---- targets ---- */

static struct world W;
static struct capture CAP;
static int world_ready;

static int world_get(void)
{
    if (world_ready)
        return world_ready > 0;
    world_ready = -1;
    if (world_open(&W)) {
        fprintf(stderr, "\n  fuzz: world setup failed\n");
        return 0;
    }
    struct tstat t = {.name = "capture"};
    W.cap = &CAP;
    W.t = &t;
    int rc = world_clean(&W, &t, "capture");
    W.cap = NULL;
    W.t = NULL;
    if (rc || CAP.n < 4 || CAP.n_http < 3)
        return 0;
    world_ready = 1;
    return 1;
}

static int is_bpp_seg(const uint8_t *p, size_t n)
{
    return n >= 2 && (p[0] == 0xA0 || p[0] == 0xA1 || p[0] == 0xA2 || p[0] == 0xA3 ||
                      p[0] == 0x86 || p[0] == 0x87 || p[0] == 0x88 ||
                      (p[0] == 0xBF && p[1] == 0x36));
}

/* One download with one mutation in flight; checks the card invariants. */
static void card_iteration(struct tstat *t, int mode, unsigned target)
{
    struct lpa_result res;
    if (world_room(&W) || world_order(&W)) {
        violation(t, "order setup failed");
        return;
    }
    size_t before = W.f.card->st.n_profiles;
    world_hook_reset(&W);
    W.mode = mode;
    W.target = target;
    W.t = t;
    rng_seed(&W.rng, t->name, t->iter);
    int rc = world_download(&W, &res);
    W.mode = H_NONE;
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "\n  %s #%u target %u hit %d: rc %d step %s %s/%s sw %04X euicc %d "
                "cancel %d phase %d: %s", t->name, t->iter, target, W.hit, rc,
                lpa_step_name(res.step), res.subject_code, res.reason_code, res.sw,
                res.euicc_error, res.cancel_reason, W.f.card->sess.phase, res.detail);
    size_t after = W.f.card->st.n_profiles, disk = persisted_profiles(&W);
    if (rc == 0) {
        t->accepted++;
        if (after != before + 1)
            violation(t, "download ok but %zu -> %zu profiles", before, after);
    } else {
        t->rejected++;
        /* The one legitimate case of a new profile: every segment went in
         * and only the answer to the last one (the PIR) was lost on the way
         * back. The install is then complete and its PIR waits on the card
         * as a pending notification (SGP.22 §3.5) for the next delivery. */
        int pir_pending = 0;
        for (size_t i = 0; i < W.f.card->st.n_notifs; i++)
            if (W.f.card->st.notifs[i].event == 0 && !strcmp(W.f.card->st.notifs[i].iccid, W.iccid))
                pir_pending = 1;
        int lost_answer = after == before + 1 && disk == after && pir_pending &&
                          res.step == LPA_STEP_LOAD_BPP;
        if ((after != before || disk != before) && !lost_answer)
            violation(t, "failed download (step %s) left profiles %zu -> %zu (disk %zu)",
                      lpa_step_name(res.step), before, after, disk);
        if (res.step == LPA_STEP_NONE)
            violation(t, "failed download rc %d without a step", rc);
        /* a challenge may stay (the next GetEUICCChallenge replaces it); an
         * authenticated session must have been cancelled */
        if (mode == H_RAPDU && res.step > LPA_STEP_INITIATE_AUTHENTICATION &&
            W.f.card->sess.phase > EUICC_SESS_CHALLENGE)
            violation(t, "card session left in phase %d after failure at %s", W.f.card->sess.phase,
                      lpa_step_name(res.step));
    }
    W.t = NULL;
}

static void fuzz_card_target(const char *name, int mode, unsigned n, int bpp_only)
{
    struct tstat t = {.name = name};
    struct rng r;
    unsigned segs[CAP_MAX], nseg = 0;
    CU_ASSERT_FATAL(world_get());
    for (size_t i = 0; i < CAP.n; i++)
        if (is_bpp_seg(CAP.cmd[i], CAP.cmd_len[i]))
            segs[nseg++] = (unsigned)i;
    /* how many units a clean download has for the chosen mode */
    unsigned units = mode == H_ES10 ? (unsigned)CAP.n : 0;
    if (mode == H_CAPDU || mode == H_RAPDU) {
        world_hook_reset(&W);
        W.mode = H_RAPDU;
        W.target = ~0u;
        (void)world_clean(&W, &t, "count");
        units = mode == H_CAPDU ? W.n_capdu : W.n_rapdu;
    }
    for (t.iter = 0; t.iter < n; t.iter++) {
        rng_seed(&r, name, t.iter + 0x10000);
        unsigned target = bpp_only && nseg ? segs[rng_below(&r, nseg)] : rng_below(&r, units);
        card_iteration(&t, mode, target);
        if ((t.iter + 1) % 16 == 0)
            world_clean(&W, &t, "periodic");
    }
    world_clean(&W, &t, "final");
    report(&t);
}

static void test_euicc_es10(void) { fuzz_card_target("euicc_es10", H_ES10, iters(48), 0); }
static void test_euicc_bpp(void) { fuzz_card_target("euicc_bpp", H_ES10, iters(48), 1); }
static void test_euicc_capdu(void) { fuzz_card_target("euicc_capdu", H_CAPDU, iters(48), 0); }
static void test_lpa_card(void) { fuzz_card_target("lpa_card", H_RAPDU, iters(64), 0); }

/* Raw APDU sequences straight at the card: headers, channels, STORE DATA
 * out of order, fragments of captured commands. */
static void test_euicc_apdu(void)
{
    struct tstat t = {.name = "euicc_apdu"};
    struct rng r;
    uint8_t apdu[5 + 256], resp[EUICC_RAPDU_MAX];
    static const uint8_t ins[] = {0xE2, 0xC0, 0xA4, 0x70, 0xCA, 0xF2, 0x10, 0xE4, 0x00, 0xFF};
    CU_ASSERT_FATAL(world_get());
    W.t = &t;
    for (t.iter = 0; t.iter < iters(4000); t.iter++) {
        rng_seed(&r, t.name, t.iter);
        if (rng_below(&r, 3) == 0) {
            /* a whole captured command as a STORE DATA sequence, with at
             * most one block out of order / repeated / wrong P1 */
            size_t ci = rng_below(&r, (uint32_t)CAP.n), off = 0, rl;
            unsigned blk = 0, bad = rng_below(&r, 2) ? rng_below(&r, 6) : 99, k = 0;
            uint8_t cla = (uint8_t)(0x80 | (rng_below(&r, 4) ? 0 : rng_below(&r, 4)));
            int ok = 1;
            if (rng_below(&r, 4)) {
                size_t sl = sizeof(resp);
                static const uint8_t sel[] = {0x00, 0xA4, 0x04, 0x00, 0x10, 0xA0, 0x00, 0x00,
                                              0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF,
                                              0x89, 0x00, 0x00, 0x01, 0x00};
                card_tx(&W, sel, sizeof(sel), resp, &sl);
            }
            while (off < CAP.cmd_len[ci] && ok) {
                size_t n = CAP.cmd_len[ci] - off > 200 ? 200 : CAP.cmd_len[ci] - off;
                int last = off + n == CAP.cmd_len[ci];
                apdu[0] = cla, apdu[1] = 0xE2, apdu[2] = last ? 0x91 : 0x11;
                apdu[3] = (uint8_t)blk, apdu[4] = (uint8_t)n;
                if (k == bad) {
                    switch (rng_below(&r, 4)) {
                    case 0: apdu[3] = (uint8_t)(blk + 1); break;
                    case 1: apdu[3] = blk ? (uint8_t)(blk - 1) : 5; break;
                    case 2: apdu[2] ^= 0x80; break;
                    default: apdu[2] = 0x01; break;
                    }
                }
                memcpy(apdu + 5, CAP.cmd[ci] + off, n);
                rl = sizeof(resp);
                if (card_tx(&W, apdu, 5 + n, resp, &rl)) {
                    violation(&t, "euicc_transmit failed");
                    break;
                }
                ok = resp[rl - 2] == 0x90 && !last;
                off += n, blk++, k++;
            }
            if (getenv("FUZZ_VERBOSE"))
                fprintf(stderr, "\n  seq cmd %zu cla %02X bad %u: SW %02X%02X", ci, cla, bad,
                        resp[rl - 2], resp[rl - 1]);
            if (rl >= 2 && (resp[rl - 2] == 0x61 || (resp[rl - 2] == 0x90 && resp[rl - 1] == 0)))
                t.accepted++;
            else
                t.rejected++;
            continue;
        }
        size_t n = 4;
        apdu[0] = (uint8_t)(rng_below(&r, 3) == 0 ? rng_next(&r) : (0x80 | rng_below(&r, 4)) |
                                                                      (rng_below(&r, 4) ? 0 : 0x40));
        apdu[1] = ins[rng_below(&r, sizeof(ins))];
        apdu[2] = (uint8_t)(rng_below(&r, 2) ? (rng_below(&r, 2) ? 0x91 : 0x11) : rng_next(&r));
        apdu[3] = (uint8_t)rng_below(&r, 4);
        if (apdu[1] == 0xA4)
            apdu[2] = 0x04, apdu[3] = 0x00;
        unsigned shape = rng_below(&r, 4);
        if (shape >= 1) {
            /* data: a fragment of a captured ES10 command */
            const uint8_t *src = CAP.cmd[rng_below(&r, (uint32_t)CAP.n)];
            size_t sl = CAP.cmd_len[0], lc;
            for (size_t i = 0; i < CAP.n; i++)
                if (CAP.cmd[i] == src)
                    sl = CAP.cmd_len[i];
            size_t off = rng_below(&r, 3) ? 0 : rng_below(&r, (uint32_t)sl);
            lc = sl - off > 255 ? 255 : sl - off;
            if (rng_below(&r, 4) == 0)
                lc = rng_below(&r, (uint32_t)lc + 1);
            apdu[4] = (uint8_t)lc;
            memcpy(apdu + 5, src + off, lc);
            n = 5 + lc;
            if (apdu[1] == 0xA4) {
                static const uint8_t isdr[] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF,
                                               0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00};
                memcpy(apdu + 5, isdr, sizeof(isdr));
                apdu[4] = (uint8_t)(rng_below(&r, 2) ? 16 : rng_below(&r, 17));
                n = 5 + apdu[4];
            }
            if (shape == 2 && rng_below(&r, 2))
                n -= rng_below(&r, (uint32_t)(n - 4));          /* Lc longer than data */
            if (shape == 3)
                apdu[n++] = (uint8_t)rng_next(&r);              /* Le */
        } else if (rng_below(&r, 2)) {
            apdu[4] = (uint8_t)rng_next(&r);                    /* case 2 */
            n = 5;
        }
        size_t rl = sizeof(resp);
        int rc = card_tx(&W, apdu, n, resp, &rl);
        if (rc)
            violation(&t, "euicc_transmit %d", rc);
        else if (rl == 2 && resp[0] == 0x90)
            t.accepted++;
        else
            t.rejected++;
        if (rng_below(&r, 64) == 0)
            euicc_reset(W.f.card, (uint8_t[EUICC_ATR_MAX]){0}, &(size_t){0});
    }
    W.t = NULL;
    world_clean(&W, &t, "final");
    report(&t);
}

/* ES10a/ES10c commands built by liblpa, each mutated in flight: legal SW,
 * memory and state file agree, the card still downloads afterwards. */
static void test_euicc_es10c(void)
{
    struct tstat t = {.name = "euicc_es10c"};
    struct rng r;
    struct lpa_profile_list pl;
    char iccid[21] = "";
    CU_ASSERT_FATAL(world_get());
    memset(&pl, 0, sizeof(pl));
    world_hook_reset(&W);
    if (lpa_get_profiles_info(&W.l, &pl) == 0 && pl.count)
        snprintf(iccid, sizeof(iccid), "%s", pl.items[0].iccid);
    lpa_profile_list_free(&pl);
    CU_ASSERT_FATAL(iccid[0] != '\0');
    for (t.iter = 0; t.iter < iters(800); t.iter++) {
        int rc, res = 0;
        rng_seed(&r, t.name, t.iter);
        world_hook_reset(&W);
        W.mode = rng_below(&r, 8) ? H_ES10 : H_NONE;
        W.target = 0;
        W.t = &t;
        rng_seed(&W.rng, t.name, t.iter + 0x50000);
        switch (rng_below(&r, 9)) {
        case 0: rc = lpa_enable_profile(&W.l, LPA_ID_ICCID, iccid, (int)rng_below(&r, 2), &res); break;
        case 1: rc = lpa_disable_profile(&W.l, LPA_ID_ICCID, iccid, (int)rng_below(&r, 2), &res); break;
        case 2: rc = lpa_set_nickname(&W.l, iccid, "fuzzy nick", &res); break;
        case 3: rc = lpa_set_default_dp_address(&W.l, "dp.example.test", &res); break;
        case 4: rc = lpa_remove_notification(&W.l, (long)rng_below(&r, 8), &res); break;
        case 5: {
            char eid[33];
            rc = lpa_get_eid(&W.l, eid);
            break;
        }
        case 6: {
            struct lpa_addresses a;
            memset(&a, 0, sizeof(a));
            rc = lpa_get_configured_addresses(&W.l, &a);
            lpa_addresses_free(&a);
            break;
        }
        case 7:
            /* deleting is legal, but keep the profile most of the time */
            rc = W.mode == H_ES10 && rng_below(&r, 4) == 0
                     ? lpa_delete_profile(&W.l, LPA_ID_ICCID, iccid, &res) : 0;
            break;
        default: {
            memset(&pl, 0, sizeof(pl));
            rc = lpa_get_profiles_info(&W.l, &pl);
            lpa_profile_list_free(&pl);
            break;
        }
        }
        W.t = NULL;
        W.mode = H_NONE;
        if (rc > 0)
            violation(&t, "positive return %d", rc);
        if (rc || res)
            t.rejected++;
        else
            t.accepted++;
        if (W.f.card->st.n_profiles != persisted_profiles(&W))
            violation(&t, "memory holds %zu profiles, the state file %zu",
                      W.f.card->st.n_profiles, persisted_profiles(&W));
    }
    world_clean(&W, &t, "final");
    report(&t);
}

/* Mutated ES9+ requests at smdp_handle during live downloads. */
static void test_smdp_es9(void)
{
    struct tstat t = {.name = "smdp_es9"};
    struct rng r;
    CU_ASSERT_FATAL(world_get());
    for (unsigned round = 0; round < iters(24); round++) {
        struct lpa_result res;
        rng_seed(&r, t.name, round + 0x20000);
        if (world_room(&W) || world_order(&W)) {
            violation(&t, "order setup failed");
            break;
        }
        world_hook_reset(&W);
        W.mode = H_REQ;
        W.target = rng_below(&r, (uint32_t)CAP.n_http);
        W.req_mutants = 8;
        W.t = &t;
        rng_seed(&W.rng, t.name, round);
        t.iter = round;
        int rc = world_download(&W, &res);
        if (rc && !W.advanced)
            violation(&t, "download after rejected mutants of request %u failed: %s %s/%s: %s",
                      W.target, lpa_step_name(res.step), res.subject_code, res.reason_code,
                      res.detail);
        W.t = NULL;
    }
    t.iter = t.rejected + t.accepted;
    world_clean(&W, &t, "final");
    report(&t);
}

/* Regression: a rejected authenticateClient must leave the RSP session
 * usable (the LPA may retry; SGP.22 §5.6.2 ends the session only for the
 * errors it lists). One exact mutant, then the genuine request. */
static void session_kept(const char *key, json_t *val)
{
    struct tstat t = {.name = "es9_session"};
    struct lpa_result res;
    CU_ASSERT_FATAL(world_get());
    if (world_room(&W) || world_order(&W)) {
        CU_FAIL("order setup");
        json_decref(val);
        return;
    }
    world_hook_reset(&W);
    W.mode = H_REQ;
    W.target = 1;                      /* authenticateClient */
    W.req_mutants = 1;
    W.fix_key = key;
    W.fix_val = val;
    W.t = &t;
    int rc = world_download(&W, &res);
    W.t = NULL;
    W.fix_key = NULL;
    W.fix_val = NULL;
    if (rc) {
        char *v = json_dumps(val, JSON_ENCODE_ANY);
        fprintf(stderr, "\n  %s=%s: download after the mutant: %s %s/%s: %s\n", key, v,
                lpa_step_name(res.step), res.subject_code, res.reason_code, res.detail);
        free(v);
    }
    json_decref(val);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(t.violations, 0);
}

static void test_session_kept(void)
{
    session_kept("authenticateServerResponse", json_string(""));
    session_kept("authenticateServerResponse", json_array());
    session_kept("authenticateServerResponse", json_string("AAAAAAAAAAAAAAAAAAAAAAAA"));
    session_kept("transactionId", json_object());
}

/* Mutated ES2+ requests (4 functions) and mutated headers/paths. */
static void test_smdp_es2_headers(void)
{
    struct tstat t = {.name = "smdp_es2"};
    struct rng r;
    static const char *fns[] = {"downloadOrder", "confirmOrder", "cancelOrder", "releaseProfile"};
    char body[512], pool[16][21];
    CU_ASSERT_FATAL(world_get());
    /* fresh Available profiles, so that valid requests get through too */
    for (int i = 0; i < 16; i++)
        CU_ASSERT_FATAL(world_import(&W, pool[i]) == 0);
    for (t.iter = 0; t.iter < iters(1000); t.iter++) {
        struct smdp_resp resp;
        char path[96];
        rng_seed(&r, t.name, t.iter);
        unsigned f = rng_below(&r, 4), k = rng_below(&r, 3);
        const char *iccid = k == 0 ? W.iccid : k == 1 ? pool[rng_below(&r, 16)]
                                                      : "8900099000000009999";
        switch (f) {
        case 0: {
            int e = (int)rng_below(&r, 2);
            snprintf(body, sizeof(body), "{\"header\":{\"functionRequesterIdentifier\":\"" OP
                     "\",\"functionCallIdentifier\":\"x\"},\"iccid\":\"%s\"%s%s%s}", iccid,
                     e ? ",\"eid\":\"" : "", e ? euicc_fixture_eid() : "", e ? "\"" : "");
            break;
        }
        case 1: snprintf(body, sizeof(body), "{\"header\":{\"functionRequesterIdentifier\":\"" OP
                         "\",\"functionCallIdentifier\":\"x\"},\"iccid\":\"%s\",\"matchingId\":\"M-%u\","
                         "\"confirmationCode\":\"1234\",\"smdsAddress\":\"s.example\",\"releaseFlag\":true}",
                         iccid, t.iter); break;
        case 2: snprintf(body, sizeof(body), "{\"header\":{\"functionRequesterIdentifier\":\"" OP
                         "\",\"functionCallIdentifier\":\"x\"},\"iccid\":\"%s\",\"matchingId\":\"%s\","
                         "\"finalProfileStatusIndicator\":\"Unavailable\"}", iccid, W.mid); break;
        default: snprintf(body, sizeof(body), "{\"header\":{\"functionRequesterIdentifier\":\"" OP
                          "\",\"functionCallIdentifier\":\"x\"},\"iccid\":\"%s\"}", iccid); break;
        }
        size_t ml = strlen(body);
        char *m = rng_below(&r, 5) ? mutate_json(&r, body, ml, &ml) : strdup(body);
        const char *xap = XAP, *ct = CT, *method = "POST";
        struct snap before, after;
        snap_take(&W, &before);
        int iface = SMDP_IFACE_ES2;
        snprintf(path, sizeof(path), "/gsma/rsp2/es2plus/%s", fns[f]);
        if (rng_below(&r, 4) == 0) {
            switch (rng_below(&r, 8)) {
            case 0: xap = NULL; break;
            case 1: xap = "gsma/rsp/v3.0.0"; break;
            case 2: ct = NULL; break;
            case 3: ct = "text/plain"; break;
            case 4: ct = "application/json;charset=ISO-8859-1"; break;
            case 5: method = rng_below(&r, 2) ? "GET" : ""; break;
            case 6: iface = SMDP_IFACE_ES9; break;
            default: snprintf(path, sizeof(path), "/gsma/rsp2/es2plus/%s/../x%c", fns[f],
                              "/%?\x7f"[rng_below(&r, 4)]); break;
            }
        }
        struct smdp_req q = {
            .iface = iface, .method = method, .path = path, .admin_protocol = xap,
            .content_type = ct, .body = (const uint8_t *)m, .body_len = m ? ml : 0,
            .operator_id = rng_below(&r, 8) ? OP : (rng_below(&r, 2) ? NULL : "nobody"),
        };
        smdp_handle(W.s, W.st, &q, &resp);
        if (check_resp(&t, path, &resp)) {
            t.accepted++;
        } else {
            t.rejected++;
            snap_take(&W, &after);
            if (memcmp(&before, &after, sizeof(before)))
                violation(&t, "%s rejected (HTTP %d %.*s) but order %d->%d profile %d->%d",
                          path, resp.status, BODY(&resp), before.ostate, after.ostate,
                          before.pstate, after.pstate);
        }
        smdp_resp_free(&resp);
        free(m);
    }
    world_clean(&W, &t, "final");
    report(&t);
}

/* Mutated ES9+ responses to liblpa. */
static void test_lpa_es9(void)
{
    struct tstat t = {.name = "lpa_es9"};
    struct rng r;
    CU_ASSERT_FATAL(world_get());
    for (t.iter = 0; t.iter < iters(48); t.iter++) {
        rng_seed(&r, t.name, t.iter + 0x30000);
        W.req_mutants = 4;         /* and the cancelSession that follows, mutated */
        card_iteration(&t, H_RESP, rng_below(&r, (uint32_t)CAP.n_http));
        /* the card is intact: after AuthenticateServer its session must be gone */
        if (W.f.card->sess.phase > EUICC_SESS_CHALLENGE)
            violation(&t, "card session left in phase %d", W.f.card->sess.phase);
        if ((t.iter + 1) % 16 == 0)
            world_clean(&W, &t, "periodic");
    }
    world_clean(&W, &t, "final");
    report(&t);
}

/* liblpa ES10 helpers on mutated card responses. */
static void test_lpa_es10(void)
{
    struct tstat t = {.name = "lpa_es10"};
    struct rng r;
    CU_ASSERT_FATAL(world_get());
    for (t.iter = 0; t.iter < iters(800); t.iter++) {
        rng_seed(&r, t.name, t.iter);
        world_hook_reset(&W);
        W.mode = H_RAPDU;
        W.target = rng_below(&r, 3);
        rng_seed(&W.rng, t.name, t.iter + 0x40000);
        int rc;
        switch (rng_below(&r, 5)) {
        case 0: {
            struct lpa_profile_list pl;
            memset(&pl, 0, sizeof(pl));
            rc = lpa_get_profiles_info(&W.l, &pl);
            lpa_profile_list_free(&pl);
            break;
        }
        case 1: {
            struct lpa_notification_list nl;
            memset(&nl, 0, sizeof(nl));
            rc = lpa_list_notifications(&W.l, &nl);
            lpa_notification_list_free(&nl);
            break;
        }
        case 2: {
            struct rsp_buf b;
            rsp_buf_init(&b, 4096);
            rc = lpa_get_euicc_info1(&W.l, &b);
            rsp_buf_free(&b);
            break;
        }
        case 3: {
            struct lpa_addresses a;
            memset(&a, 0, sizeof(a));
            rc = lpa_get_configured_addresses(&W.l, &a);
            lpa_addresses_free(&a);
            break;
        }
        default: {
            char eid[33];
            rc = lpa_get_eid(&W.l, eid);
            break;
        }
        }
        if (rc > 0)
            violation(&t, "positive return %d", rc);
        if (rc)
            t.rejected++;
        else
            t.accepted++;
    }
    W.mode = H_NONE;
    world_clean(&W, &t, "final");
    report(&t);
}

/* ---- decoders in common/ ---- */

static const asn_TYPE_descriptor_t *const dec_types[] = {
    &asn_DEF_AuthenticateServerRequest, &asn_DEF_AuthenticateServerResponse,
    &asn_DEF_PrepareDownloadRequest, &asn_DEF_PrepareDownloadResponse,
    &asn_DEF_EUICCInfo1, &asn_DEF_EUICCInfo2, &asn_DEF_ProfileInfoListResponse,
    &asn_DEF_ListNotificationResponse, &asn_DEF_RetrieveNotificationsListResponse,
    &asn_DEF_PendingNotification, &asn_DEF_ProfileInstallationResult,
    &asn_DEF_BoundProfilePackage, &asn_DEF_StoreMetadataRequest,
    &asn_DEF_CancelSessionRequest, &asn_DEF_CancelSessionResponse,
    &asn_DEF_GetEuiccChallengeResponse, &asn_DEF_InitiateAuthenticationRequest,
    &asn_DEF_AuthenticateClientRequest, &asn_DEF_RemoteProfileProvisioningRequest,
    &asn_DEF_RemoteProfileProvisioningResponse,
};

struct seed { const asn_TYPE_descriptor_t *td; uint8_t *p; size_t len; };

static void add_seed(struct seed *s, size_t *n, size_t max, const uint8_t *p, size_t len)
{
    for (size_t k = 0; k < sizeof(dec_types) / sizeof(dec_types[0]) && *n < max; k++) {
        void *st = NULL;
        if (rsp_asn1_decode(dec_types[k], p, len, RSP_BPP_MAX, &st) == 0) {
            s[*n].td = dec_types[k];
            s[*n].p = malloc(len);
            memcpy(s[*n].p, p, len);
            s[*n].len = len;
            (*n)++;
        }
        rsp_asn1_free(dec_types[k], st);
    }
}

/* Every base64 field of the captured ES9+ traffic, decoded. */
static void add_b64_seeds(struct seed *s, size_t *n, size_t max, const char *txt)
{
    json_t *j = txt ? json_loads(txt, 0, NULL) : NULL;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        const char *sv = json_string_value(v);
        struct rsp_buf b;
        if (!sv || strlen(sv) < 8)
            continue;
        rsp_buf_init(&b, RSP_BPP_MAX);
        if (rsp_base64_decode(sv, strlen(sv), &b) == 0)
            add_seed(s, n, max, b.data, b.len);
        rsp_buf_free(&b);
    }
    json_decref(j);
}

static void test_decoders(void)
{
    struct tstat t = {.name = "asn1"};
    struct seed seeds[96];
    size_t ns = 0;
    struct rng r;
    CU_ASSERT_FATAL(world_get());
    for (size_t i = 0; i < CAP.n; i++) {
        add_seed(seeds, &ns, 96, CAP.cmd[i], CAP.cmd_len[i]);
        if (CAP.rsp[i])
            add_seed(seeds, &ns, 96, CAP.rsp[i], CAP.rsp_len[i]);
    }
    for (size_t i = 0; i < CAP.n_http; i++) {
        add_b64_seeds(seeds, &ns, 96, CAP.req[i]);
        add_b64_seeds(seeds, &ns, 96, CAP.resp[i]);
    }
    CU_ASSERT(ns >= 8);
    for (t.iter = 0; ns && t.iter < iters(8000); t.iter++) {
        struct rsp_buf m, enc;
        void *st = NULL;
        rng_seed(&r, t.name, t.iter);
        struct seed *sd = &seeds[rng_below(&r, (uint32_t)ns)];
        if (sd->len > 4096 && rng_below(&r, 8))
            sd = &seeds[rng_below(&r, (uint32_t)ns)];
        mutate_bytes(&r, sd->p, sd->len, sd->len + 4096, &m);
        int rc = rsp_asn1_decode(sd->td, m.data, m.len, RSP_BPP_MAX, &st);
        if (rc == 0) {
            t.accepted++;
            rsp_buf_init(&enc, RSP_BPP_MAX * 2);
            if (rsp_asn1_encode(sd->td, st, &enc))
                violation(&t, "%s: decoded but does not re-encode", sd->td->name);
            rsp_buf_free(&enc);
        } else {
            t.rejected++;
            if (st)
                violation(&t, "%s: failed decode left an output", sd->td->name);
        }
        rsp_asn1_free(sd->td, st);
        rsp_buf_free(&m);
    }
    for (size_t i = 0; i < ns; i++)
        free(seeds[i].p);
    report(&t);
}

static void test_saip(void)
{
    struct tstat t = {.name = "saip"};
    struct rng r;
    static const char *files[] = {"TS48v2_SAIP2.3_NoBERTLV.der", "TS48v1_A.der"};
    uint8_t *pkg[2];
    size_t len[2];
    char path[700];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/ts48/%s", test_shared_dir(), files[i]);
        pkg[i] = test_read_file(path, &len[i]);
        CU_ASSERT_FATAL(pkg[i] != NULL);
    }
    for (t.iter = 0; t.iter < iters(2000); t.iter++) {
        struct rsp_buf m;
        struct rsp_saip_info *info = NULL;
        rng_seed(&r, t.name, t.iter);
        int k = (int)rng_below(&r, 2);
        mutate_bytes(&r, pkg[k], len[k], len[k] + 4096, &m);
        int rc = rsp_saip_parse(m.data, m.len, &info);
        if (rc == 0) {
            t.accepted++;
            for (size_t i = 0; i < info->n_pes; i++)
                if (info->pes[i].offset > m.len || info->pes[i].len > m.len - info->pes[i].offset)
                    violation(&t, "PE %zu outside the package", i);
        } else {
            t.rejected++;
            if (info)
                violation(&t, "failed parse left an output");
        }
        rsp_saip_info_free(info);
        rsp_buf_free(&m);
    }
    free(pkg[0]);
    free(pkg[1]);
    report(&t);
}

static void test_bpp_split(void)
{
    struct tstat t = {.name = "bpp_split"};
    struct rng r;
    struct rsp_buf bpp;
    CU_ASSERT_FATAL(world_get());
    /* the captured BPP: the getBoundProfilePackage answer */
    rsp_buf_init(&bpp, RSP_BPP_MAX);
    for (size_t i = 0; i < CAP.n_http; i++) {
        json_t *j = CAP.resp[i] ? json_loads(CAP.resp[i], 0, NULL) : NULL;
        const char *s = json_string_value(json_object_get(j, "boundProfilePackage"));
        if (s)
            rsp_base64_decode(s, strlen(s), &bpp);
        json_decref(j);
    }
    CU_ASSERT_FATAL(bpp.len > 0);
    for (t.iter = 0; t.iter < iters(4000); t.iter++) {
        struct rsp_buf m;
        struct rsp_bpp_seg *segs = NULL;
        size_t n = 0;
        rng_seed(&r, t.name, t.iter);
        mutate_bytes(&r, bpp.data, bpp.len, bpp.len + 4096, &m);
        int rc = rsp_bpp_split(m.data, m.len, &segs, &n);
        if (rc == 0) {
            t.accepted++;
            size_t end = 0;
            for (size_t i = 0; i < n; i++) {
                if (segs[i].off != end || segs[i].len > m.len - segs[i].off)
                    violation(&t, "segment %zu [%zu,+%zu) not contiguous", i, segs[i].off, segs[i].len);
                end = segs[i].off + segs[i].len;
            }
            if (end != m.len)
                violation(&t, "segments cover %zu of %zu bytes", end, m.len);
        } else {
            t.rejected++;
        }
        free(segs);
        rsp_buf_free(&m);
    }
    rsp_buf_free(&bpp);
    report(&t);
}

/* Differential check of the X.509 fast path on one candidate certificate:
 * a CERT.DPauth under the CI (dp) or an eUICC certificate under the EUM.
 * Whatever the fast path accepts, the full path must accept too. */
static void x509_fast_vs_full(struct tstat *t, struct rng *r, const struct rsp_x509_store *store,
                              const uint8_t *eum_der, size_t eum_len, int dp,
                              const uint8_t *der, size_t len, unsigned *fast_ok)
{
    X509 *lite = NULL, *eum = NULL;
    const unsigned char *pe = eum_der;
    int fast, slow = -1;
    time_t at = rng_below(r, 2) ? time(NULL) : RSP_X509_NO_TIME;

    if (rsp_x509_from_der_lite(der, len, &lite) == 0) {
        EVP_PKEY *pk = NULL;
        (void)rsp_x509_get_curve(lite);
        if (rsp_x509_get_pubkey(lite, &pk) == 0)
            EVP_PKEY_free(pk);
        X509_free(lite);
    }
    if (dp) {
        fast = rsp_x509_fast_verify_leaf_der(store, RSP_X509_ROLE_DP_AUTH, der, len, at, NULL,
                                             NULL);
        if (fast == 0)
            slow = rsp_x509_verify_der(store, RSP_X509_ROLE_DP_AUTH, der, len, NULL, 0, at, NULL);
    } else {
        eum = d2i_X509(NULL, &pe, (long)eum_len);
        fast = eum ? rsp_x509_fast_verify_euicc_der(store, eum, der, len, at, NULL, NULL) : -1;
        if (fast == 0)
            slow = rsp_x509_verify_der(store, RSP_X509_ROLE_EUICC, der, len, eum_der, eum_len, at,
                                       NULL);
        X509_free(eum);
    }
    if (fast == 0) {
        (*fast_ok)++;
        if (slow != 0)
            violation(t, "fast path accepted a certificate the full path refuses (%d)", slow);
    }
}

static EVP_PKEY *pem_key(const char *path)
{
    BIO *b = BIO_new_file(path, "r");
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return k;
}

static void test_x509(void)
{
    struct tstat t = {.name = "x509"};
    struct rng r;
    static const char *files[] = {"EUM/CERT_EUM_ECDSA_NIST.der", "eUICC/CERT_EUICC_ECDSA_NIST.der",
                                  "DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der",
                                  "CertificateIssuer/CERT_CI_ECDSA_NIST.der"};
    uint8_t *der[4];
    size_t len[4];
    char path[700];
    struct rsp_x509_store *store = NULL;
    const char *pki = euicc_fixture_pki_dir();
    CU_ASSERT_FATAL(pki != NULL);
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", pki, files[i]);
        der[i] = test_read_file(path, &len[i]);
        CU_ASSERT_FATAL(der[i] != NULL);
    }
    CU_ASSERT_RC(rsp_x509_store_new(&store), 0);
    CU_ASSERT_RC(rsp_x509_store_add_der(store, der[3], len[3]), 0);
    unsigned fast_ok = 0, resigned = 0;
    snprintf(path, sizeof(path), "%s/CertificateIssuer/SK_CI_ECDSA_NIST.pem", pki);
    EVP_PKEY *ci_key = pem_key(path);
    snprintf(path, sizeof(path), "%s/EUM/SK_EUM_ECDSA_NIST.pem", pki);
    EVP_PKEY *eum_key = pem_key(path);
    CU_ASSERT_PTR_NOT_NULL(ci_key);
    CU_ASSERT_PTR_NOT_NULL(eum_key);
    for (t.iter = 0; t.iter < iters(2000); t.iter++) {
        struct rsp_buf m;
        X509 *c = NULL;
        char buf[128];
        uint8_t ski[64];
        rng_seed(&r, t.name, t.iter);
        unsigned k = rng_below(&r, 4);
        mutate_bytes(&r, der[k], len[k], len[k] + 1024, &m);
        if (k == 1 || k == 2) {
            x509_fast_vs_full(&t, &r, store, der[0], len[0], k == 2, m.data, m.len, &fast_ok);
            /* the same mutation re-signed by the issuer: parseable, validly
             * signed variants that reach the fast path's other checks */
            const unsigned char *pm = m.data;
            X509 *v = d2i_X509(NULL, &pm, (long)m.len);
            EVP_PKEY *ik = k == 2 ? ci_key : eum_key;
            unsigned char *rs = NULL;
            int rl;
            if (v && ik && X509_sign(v, ik, EVP_sha256()) > 0 && (rl = i2d_X509(v, &rs)) > 0) {
                resigned++;
                x509_fast_vs_full(&t, &r, store, der[0], len[0], k == 2, rs, (size_t)rl,
                                  &fast_ok);
            }
            OPENSSL_free(rs);
            X509_free(v);
        }
        if (rsp_x509_from_der(m.data, m.len, &c) == 0) {
            t.accepted++;
            (void)rsp_x509_get_role(c);
            (void)rsp_x509_get_curve(c);
            (void)rsp_x509_get_ski(c, ski, sizeof(ski));
            (void)rsp_x509_get_aki(c, ski, sizeof(ski));
            (void)rsp_x509_get_subject_cn(c, buf, sizeof(buf));
            (void)rsp_x509_get_eid(c, buf);
            (void)rsp_x509_check_profile(c, rsp_x509_get_role(c));
            X509_free(c);
        } else {
            t.rejected++;
        }
        rsp_buf_free(&m);
    }
    rsp_x509_store_free(store);
    for (int i = 0; i < 4; i++)
        free(der[i]);
    EVP_PKEY_free(ci_key);
    EVP_PKEY_free(eum_key);
    printf("\n    fuzz x509 fast path: %u re-signed mutants, %u accepted (each also by the full path)",
           resigned, fast_ok);
    /* not vacuous: re-signed mutants that leave the checked fields alone
     * must reach acceptance */
    CU_ASSERT(fast_ok > 0);
    report(&t);
}

/* Strict base64: whatever decodes must re-encode to the same text. */
static void test_base64(void)
{
    struct tstat t = {.name = "base64"};
    struct rng r;
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \n-_*";
    char s[80];
    for (t.iter = 0; t.iter < iters(50000); t.iter++) {
        struct rsp_buf d, e;
        rng_seed(&r, t.name, t.iter);
        size_t n = rng_below(&r, 4) ? 4 * rng_below(&r, 6) : rng_below(&r, 24);
        for (size_t i = 0; i < n; i++)
            s[i] = rng_below(&r, 8) ? alpha[rng_below(&r, 64)] : alpha[rng_below(&r, sizeof(alpha) - 1)];
        if (n && rng_below(&r, 3) == 0)
            s[n - 1] = '=';
        if (n > 1 && rng_below(&r, 4) == 0)
            s[n - 2] = '=';
        s[n] = '\0';
        rsp_buf_init(&d, 256);
        rsp_buf_init(&e, 256);
        if (rsp_base64_decode(s, n, &d) == 0) {
            t.accepted++;
            if (rsp_base64_encode(d.data, d.len, &e) || e.len != n || (n && memcmp(e.data, s, n)))
                violation(&t, "\"%s\" decodes but re-encodes as \"%.*s\"", s, (int)e.len,
                          e.data ? (const char *)e.data : "");
        } else {
            t.rejected++;
        }
        rsp_buf_free(&d);
        rsp_buf_free(&e);
    }
    report(&t);
}

/* ---- regressions of what the fuzzers found ---- */

/* rsp_base64_decode accepted non-zero pad bits ("QR==" and "QQ==" both
 * decoded to "A"): one canonical text per value (RFC 4648 §3.5). */
static void test_reg_base64_pad_bits(void)
{
    struct rsp_buf b;
    static const char *bad[] = {"QR==", "QUJ=", "VZP=", "/sHR4rAw23=="};
    rsp_buf_init(&b, 64);
    CU_ASSERT_RC(rsp_base64_decode("QQ==", 4, &b), 0);
    CU_ASSERT_RC(rsp_base64_decode("QUI=", 4, &b), 0);
    CU_ASSERT_BYTES("QQ== QUI=", b.data, b.len, (const uint8_t *)"AAB", 3);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_RC(rsp_base64_decode(bad[i], strlen(bad[i]), &b), RSP_ERR_DECODE);
    rsp_buf_free(&b);
}

/* asn1c shifted by a peer's BIT STRING unused-bits octet (UBSan: shift
 * exponent 135): values over 7, and a non-zero count with no bits, are
 * refused by rsp_asn1_decode (X.690 §8.6.2.2-3), primitive or constructed. */
static void test_reg_bit_string_unused(void)
{
    static const struct { const char *hex; int rc; } v[] = {
        {"03020780", 0}, {"030100", 0}, {"03028780", RSP_ERR_DECODE},
        {"03020880", RSP_ERR_DECODE}, {"030101", RSP_ERR_DECODE}, {"0300", RSP_ERR_DECODE},
        {"2306030188030100", RSP_ERR_DECODE},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t n;
        uint8_t *p = test_hex(v[i].hex, &n);
        void *st = NULL;
        int rc = rsp_asn1_decode(&asn_DEF_PprIds, p, n, 64, &st);
        if (rc != v[i].rc)
            fprintf(stderr, "\n  PprIds %s: %d, want %d\n", v[i].hex, rc, v[i].rc);
        CU_ASSERT_EQUAL(rc, v[i].rc);
        rsp_asn1_free(&asn_DEF_PprIds, st);
        free(p);
    }
}

/* The card kept peer text its own state loader refuses (a control
 * character in SetDefaultDpAddress, invalid UTF-8 in SetNickname): the
 * next euicc_open failed, the card was bricked. Now undefinedError(127)
 * and the state reloads. */
static void test_reg_state_text(void)
{
    struct euicc_fixture f;
    uint8_t *r = NULL;
    size_t rl = 0;
    uint16_t sw = 0;
    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    /* BF3F { 80 "\x13p.example.test" } */
    CU_ASSERT_RC(euicc_fixture_es10_hex(&f, "BF3F11800F13702E6578616D706C652E74657374", &r, &rl, &sw), 0);
    CU_ASSERT_EQUAL(sw, 0x9000);
    CU_ASSERT_BYTES("SetDefaultDpAddress", r, rl, (const uint8_t *)"\xBF\x3F\x03\x80\x01\x7F", 6);
    free(r);
    r = NULL;
    /* a valid UTF-8 address is kept */
    CU_ASSERT_RC(euicc_fixture_es10_hex(&f, "BF3F0B8009C3A42E6578616D706C", &r, &rl, &sw), 0);
    CU_ASSERT_BYTES("SetDefaultDpAddress ok", r, rl, (const uint8_t *)"\xBF\x3F\x03\x80\x01\x00", 6);
    free(r);
    r = NULL;
    /* overlong UTF-8 and DEL are refused */
    CU_ASSERT_RC(euicc_fixture_es10_hex(&f, "BF3F058003C0AF41", &r, &rl, &sw), 0);
    CU_ASSERT(sw != 0x9000 || (rl == 6 && r[5] == 0x7F));
    free(r);
    r = NULL;
    CU_ASSERT_RC(euicc_fixture_es10_hex(&f, "BF3F038001417F", &r, &rl, &sw), 0);
    free(r);
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    CU_ASSERT_STRING_EQUAL(f.card->st.default_dp, "\xC3\xA4.exampl");
    euicc_fixture_close(&f);
}

/* The card answered 6A86 to a STORE DATA block 00 while a sequence was
 * open, so the CancelSession an LPA sends after a transport error in the
 * middle of a BPP segment never reached it and the session stayed open. */
static void test_reg_store_data_restart(void)
{
    struct euicc_fixture f;
    uint8_t r[EUICC_RAPDU_MAX];
    size_t rl;
    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    CU_ASSERT_EQUAL(euicc_fixture_apdu_hex(&f, "80E2110002BF3E", r, &rl), 0x9000);
    /* a new command from block 00: GetEUICCData (BF3E 03 5C 01 5A) */
    int sw = euicc_fixture_apdu_hex(&f, "80E2910006BF3E035C015A", r, &rl);
    if (sw >> 8 != 0x61)
        fprintf(stderr, "\n  restart: SW %04X\n", (unsigned)sw);
    CU_ASSERT_EQUAL(sw >> 8, 0x61);
    /* out of order is still refused */
    CU_ASSERT_EQUAL(euicc_fixture_apdu_hex(&f, "80E2110002BF3E", r, &rl), 0x9000);
    CU_ASSERT_EQUAL(euicc_fixture_apdu_hex(&f, "80E2910203035C015A", r, &rl), 0x6A86);
    euicc_fixture_close(&f);
}

/* Last: release the world. */
static void test_teardown(void)
{
    if (world_ready > 0 || world_ready < 0)
        world_close(&W);
    capture_free(&CAP);
    free(ts48);
    ts48 = NULL;
    world_ready = 0;
}

CU_TestInfo fuzz_tests[] = {
    {"reg_base64_pad_bits", test_reg_base64_pad_bits},
    {"reg_bit_string_unused", test_reg_bit_string_unused},
    {"reg_state_text", test_reg_state_text},
    {"reg_store_data_restart", test_reg_store_data_restart},
    {"base64", test_base64},
    {"saip", test_saip},
    {"x509", test_x509},
    {"decoders", test_decoders},
    {"bpp_split", test_bpp_split},
    {"euicc_apdu", test_euicc_apdu},
    {"euicc_es10", test_euicc_es10},
    {"euicc_bpp", test_euicc_bpp},
    {"euicc_capdu", test_euicc_capdu},
    {"euicc_es10c", test_euicc_es10c},
    {"lpa_card", test_lpa_card},
    {"lpa_es10", test_lpa_es10},
    {"lpa_es9", test_lpa_es9},
    {"smdp_es9", test_smdp_es9},
    {"smdp_es2", test_smdp_es2_headers},
    {"smdp_session_kept", test_session_kept},
    {"teardown", test_teardown},
    CU_TEST_INFO_NULL,
};
