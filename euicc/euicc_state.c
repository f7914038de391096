/*
 * euicc_state.c - the card's persistent state (its non-volatile memory):
 * one file holding two slots, each slot a whole image of the state.
 * (SGP.22 v2.5 §2.4 eUICC architecture, §3.1.3/§5.7.14 for the retained
 * one-time pair, §2.5.6 / §3.1.3.3: an installation is all or nothing.)
 *
 * File (version 2, since 2026-11): an identity region of I bytes, then two
 * slots of S bytes each; the file is exactly I + 2*S bytes (I and S
 * multiples of 4096, S at least 256 KiB and at least twice the image when
 * the file was made). Each region starts with a record header, 160 bytes
 * of ASCII:
 *   "rsp-euicc-state 2 gen <16 hex> slot <8 hex> json <8 hex> len <8 hex>"
 *   " sha256 <64 hex>", spaces, "\n"
 * (slot: the region's size; gen 0 marks the identity) followed by the
 * payload, len bytes: the JSON text (json bytes), then, in a slot, the
 * installed packages concatenated in profile order (raw bytes, no base64);
 * then anything (the rest of an older image, zeros). The SHA-256 covers the
 * header up to " sha256 " and the payload. The JSON (jansson) is version 2.
 * Identity (written with the file, never in place: the card's own data,
 * which no ES10 command changes; eUICCMemoryReset keeps it):
 *   { "version": 2, "eid": "...",
 *     "creds": [ { "curve": c, "euicc_cert": b64, "eum_cert": b64,
 *                  "sk": hex32, "ci_pkid": hex } ],
 *     "cis": [ { "cert": b64, "pkid": hex } ] }
 * Slot (everything a commit can change):
 *   { "version": 2, "eid": "...", "default_dp": "", "root_ds": "",
 *     "next_seq": n, "next_isdp": n,
 *     "profiles": [ { "aid": hex, "iccid": "...", "state": 0|1,
 *                     "nickname": "...", "metadata": b64, "ppr": n,
 *                     "class": n, "n_pes": n, "package_off": n,
 *                     "package_len": n } ],
 *     "notifs": [ { "seq": n, "event": n, "address": "...",
 *                   "iccid": "...", "der": b64 } ],
 *     "otk": { "curve": c, "sk": hex32, "pk": hex65 }, "otk_done": n }
 * The slot's eid must be the identity's. package_off is the package's
 * offset after the JSON; the packages follow each other in profile order
 * without gaps and end with the payload.
 * "otk" (optional) is a retained one-time pair as files before the sidecar
 * kept it (SGP.22 v2.5 §3.1.3, §5.7.14 bppEuiccOtpk); since then a pair
 * lives in "<path>.otk" (binary, two records, see euicc.private.h) and
 * "otk_done" (optional, 0 if absent) is the sidecar generation last dropped.
 * The pair stays in its sidecar: it must be durable before the
 * PrepareDownloadResponse leaves the card, a moment of its own, so moving it
 * into this file would not save a sync; the download costs two (the
 * sidecar record, then the install's slot).
 * Loading validates every field and size; anything else is RSP_ERR_DECODE.
 *
 * Commit (euicc_state_save_ex): the new slot image, with generation + 1,
 * is written over the slot the current state did NOT come from, in place
 * (one pwrite from the slot's start, padded to 4 KiB pages), then one
 * fdatasync. The file's size and blocks do not change, so no metadata needs
 * to reach the disk: no new file, no rename, no directory fsync. A tear
 * (kill -9, power cut) leaves that slot anything between its older image
 * and the new one; the other slot, holding the current state, and the
 * identity are never written. Open checks the identity, reads both slot
 * headers and takes the intact slot (header parses, sizes fit, digest
 * matches) of the higher generation: the new state if the write completed,
 * else the state before. Both slots damaged, a damaged identity, or a file
 * whose size is not I + 2*S (an in-place write never changes it): the card
 * does not open (RSP_ERR_DECODE, logged).
 * A failed write or fdatasync: the slot's header is overwritten with zeros
 * (so this boot reads the state before) and the commit fails (RSP_ERR_IO).
 * Generations are 64-bit and grow by one per commit: at a million commits a
 * second they would last 500,000 years; a state at UINT64_MAX refuses to
 * commit rather than wrap.
 * Slow path (a new card, an image larger than its slot, a version-1 file,
 * a file of the wrong size, or a state whose identity differs from the
 * file's - checked with a SHA-256 over the raw identity at each commit): a
 * whole new file "<path>.tmp" (identity, slot 0 the image, slot 1 zeros;
 * zeros written, not fallocate()d, so later writes overwrite allocated
 * blocks), fdatasync, rename() over the state, fsync of the directory;
 * atomic as before. A grown file doubles the slot, so growth is rare.
 *
 * Version 1 (before 2026-11) was one plain JSON file (first byte '{') with
 * "version": 1, packages either inline ("package": b64) or in
 * "<state>.<ISD-P AID hex>.pkg" files named with their length and SHA-256
 * ("package_file", "package_len", "package_sha256"; a missing or damaged one
 * keeps the card from opening). It loads; the first commit writes the
 * two-slot file (slow path), then the package files are removed; euicc_open
 * removes package files no loaded profile names (a tear in between).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "euicc.private.h"
#include "rsp_err.h"
#include "rsp_log.h"
#include "rsp_util.h"

#define STATE_VERSION_JSON 1             /* plain JSON file */
#define STATE_VERSION      2             /* JSON inside a slot */
#define STATE_FILE_MAX     (64u << 20)   /* a version-1 file */
#define SLOT_HDR           160u          /* header bytes of a slot */
#define SLOT_PREFIX        87u           /* header bytes the digest covers */
#define SLOT_MIN           (256u << 10)
#define SLOT_MAX           (64u << 20)
#define SLOT_PAGE          4096u
#define CERT_MAX           4096u         /* one DER certificate */
#define METADATA_MAX       (64u << 10)   /* StoreMetadataRequest */
#define PACKAGE_MAX        (2u << 20)    /* installed profile elements */
#define NOTIF_DER_MAX      (16u << 10)

/* ---- clear ---------------------------------------------------------------- */

/* SHA-256, fetched once per process: EVP_sha256() in an EVP call makes
 * OpenSSL 3 look the algorithm up by name at every digest. */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md ? sha256_md : EVP_sha256();
}

static void zfree(uint8_t **p, size_t *len)
{
    if (*p) {
        OPENSSL_cleanse(*p, *len);
        free(*p);
    }
    *p = NULL;
    *len = 0;
}

void euicc_profile_clear(struct euicc_profile *p)
{
    zfree(&p->metadata, &p->metadata_len);
    zfree(&p->package, &p->package_len);
    memset(p, 0, sizeof(*p));
}

void euicc_state_drop_profile(struct euicc_state *st, size_t i)
{
    if (i >= st->n_profiles)
        return;
    euicc_profile_clear(&st->profiles[i]);
    memmove(&st->profiles[i], &st->profiles[i + 1],
            (st->n_profiles - i - 1) * sizeof(st->profiles[0]));
    st->n_profiles--;
    memset(&st->profiles[st->n_profiles], 0, sizeof(st->profiles[0]));
}

void euicc_state_drop_notif(struct euicc_state *st, size_t i)
{
    if (i >= st->n_notifs)
        return;
    zfree(&st->notifs[i].der, &st->notifs[i].der_len);
    memmove(&st->notifs[i], &st->notifs[i + 1],
            (st->n_notifs - i - 1) * sizeof(st->notifs[0]));
    st->n_notifs--;
    memset(&st->notifs[st->n_notifs], 0, sizeof(st->notifs[0]));
}

void euicc_state_drop_otk(struct euicc_state *st)
{
    if (st->otk.present && st->otk.gen > st->otk_done)
        st->otk_done = st->otk.gen;
    OPENSSL_cleanse(&st->otk, sizeof(st->otk));
    memset(&st->otk, 0, sizeof(st->otk));
}

void euicc_state_clear(struct euicc_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < EUICC_MAX_CREDS; i++) {
        zfree(&st->creds[i].euicc_cert, &st->creds[i].euicc_cert_len);
        zfree(&st->creds[i].eum_cert, &st->creds[i].eum_cert_len);
    }
    for (size_t i = 0; i < EUICC_MAX_CI; i++)
        zfree(&st->cis[i].cert, &st->cis[i].cert_len);
    for (size_t i = 0; i < EUICC_MAX_PROFILES; i++)
        euicc_profile_clear(&st->profiles[i]);
    for (size_t i = 0; i < EUICC_MAX_NOTIFS; i++)
        zfree(&st->notifs[i].der, &st->notifs[i].der_len);
    OPENSSL_cleanse(st, sizeof(*st));
    memset(st, 0, sizeof(*st));
}

/* ---- save ----------------------------------------------------------------- */

static int set_b64(json_t *o, const char *key, const uint8_t *p, size_t len)
{
    struct rsp_buf b;
    int rc;

    rsp_buf_init(&b, (len / 3 + 2) * 4 + 1);
    rc = rsp_base64_encode(p, len, &b);
    /* base64 is ASCII: no UTF-8 check (jansson's costs as much as the
     * encoding for a profile package) */
    if (rc == 0)
        rc = json_object_set_new(o, key, json_stringn_nocheck(b.len ? (const char *)b.data : "", b.len))
                 ? RSP_ERR_NOMEM : 0;
    rsp_buf_free(&b);
    return rc;
}

static int set_hex(json_t *o, const char *key, const uint8_t *p, size_t len)
{
    char tmp[2 * RSP_EC_POINT_LEN + 1];

    if (len > RSP_EC_POINT_LEN)
        return RSP_ERR_INVAL;
    rsp_hex_encode(p, len, tmp);
    int rc = json_object_set_new(o, key, json_stringn_nocheck(tmp, 2 * len)) ? RSP_ERR_NOMEM : 0;
    OPENSSL_cleanse(tmp, sizeof(tmp));
    return rc;
}

static int set_str(json_t *o, const char *key, const char *s)
{
    return json_object_set_new(o, key, json_string(s)) ? RSP_ERR_NOMEM : 0;
}

static int set_int(json_t *o, const char *key, json_int_t v)
{
    return json_object_set_new(o, key, json_integer(v)) ? RSP_ERR_NOMEM : 0;
}

static int append_new(json_t *arr, json_t **o)
{
    *o = json_object();
    if (!*o || json_array_append_new(arr, *o)) {
        *o = NULL;
        return RSP_ERR_NOMEM;
    }
    return 0;
}

/* What the JSON holds: JS_IDENT (version 2, the identity region: eid,
 * creds, cis), JS_SLOT (version 2, a slot: everything else, packages as
 * offset and length after the JSON), JS_INLINE (version 1, everything,
 * packages in base64), JS_FILES (version 1, packages in named files with
 * length and SHA-256). */
enum { JS_IDENT, JS_SLOT, JS_INLINE, JS_FILES };

static json_t *state_to_json(const struct euicc_state *st, int mode)
{
    json_t *root = json_object(), *a, *o;
    size_t off = 0;
    int rc = root ? 0 : RSP_ERR_NOMEM;

    if (!rc) rc = set_int(root, "version", mode == JS_SLOT || mode == JS_IDENT
                                               ? STATE_VERSION : STATE_VERSION_JSON);
    if (!rc) rc = set_str(root, "eid", st->eid);
    if (mode != JS_IDENT) {
        if (!rc) rc = set_str(root, "default_dp", st->default_dp);
        if (!rc) rc = set_str(root, "root_ds", st->root_ds);
        if (!rc) rc = set_int(root, "next_seq", st->next_seq);
        if (!rc) rc = set_int(root, "next_isdp", st->next_isdp);
    }
    if (mode == JS_SLOT)
        goto mutable;
    if (!rc) rc = json_object_set_new(root, "creds", a = json_array()) ? RSP_ERR_NOMEM : 0;
    for (size_t i = 0; !rc && i < st->n_creds; i++) {
        const struct euicc_cred *c = &st->creds[i];
        rc = append_new(a, &o);
        if (!rc) rc = set_int(o, "curve", c->curve);
        if (!rc) rc = set_b64(o, "euicc_cert", c->euicc_cert, c->euicc_cert_len);
        if (!rc) rc = set_b64(o, "eum_cert", c->eum_cert, c->eum_cert_len);
        if (!rc) rc = set_hex(o, "sk", c->sk, sizeof(c->sk));
        if (!rc) rc = set_hex(o, "ci_pkid", c->ci_pkid, c->ci_pkid_len);
    }
    if (!rc) rc = json_object_set_new(root, "cis", a = json_array()) ? RSP_ERR_NOMEM : 0;
    for (size_t i = 0; !rc && i < st->n_cis; i++) {
        rc = append_new(a, &o);
        if (!rc) rc = set_b64(o, "cert", st->cis[i].cert, st->cis[i].cert_len);
        if (!rc) rc = set_hex(o, "pkid", st->cis[i].pkid, st->cis[i].pkid_len);
    }
    if (mode == JS_IDENT)
        goto done;
mutable:
    if (!rc) rc = json_object_set_new(root, "profiles", a = json_array()) ? RSP_ERR_NOMEM : 0;
    for (size_t i = 0; !rc && i < st->n_profiles; i++) {
        const struct euicc_profile *p = &st->profiles[i];
        rc = append_new(a, &o);
        if (!rc) rc = set_hex(o, "aid", p->aid, p->aid_len);
        if (!rc) rc = set_str(o, "iccid", p->iccid);
        if (!rc) rc = set_int(o, "state", p->state);
        if (!rc) rc = set_str(o, "nickname", p->nickname);
        if (!rc) rc = set_b64(o, "metadata", p->metadata, p->metadata_len);
        if (!rc) rc = set_int(o, "ppr", p->ppr);
        if (!rc) rc = set_int(o, "class", p->profile_class);
        if (!rc && mode == JS_SLOT) {
            rc = set_int(o, "package_off", (json_int_t)off);
            if (!rc) rc = set_int(o, "package_len", (json_int_t)p->package_len);
            off += p->package_len;
        } else if (!rc && mode == JS_FILES && p->package_len) {
            char name[2 * sizeof(p->aid) + 5];
            uint8_t md[32];
            rsp_hex_encode(p->aid, p->aid_len, name);
            memcpy(name + 2 * p->aid_len, ".pkg", 5);
            rc = set_str(o, "package_file", name);
            if (!rc) rc = set_int(o, "package_len", (json_int_t)p->package_len);
            if (!rc && EVP_Digest(p->package, p->package_len, md, NULL, sha256(), NULL) != 1)
                rc = RSP_ERR_NOMEM;
            if (!rc) rc = set_hex(o, "package_sha256", md, sizeof(md));
        } else if (!rc) {
            rc = set_b64(o, "package", p->package, p->package_len);
        }
        if (!rc) rc = set_int(o, "n_pes", (json_int_t)p->n_pes);
    }
    if (!rc) rc = json_object_set_new(root, "notifs", a = json_array()) ? RSP_ERR_NOMEM : 0;
    for (size_t i = 0; !rc && i < st->n_notifs; i++) {
        const struct euicc_notif *n = &st->notifs[i];
        rc = append_new(a, &o);
        if (!rc) rc = set_int(o, "seq", n->seq);
        if (!rc) rc = set_int(o, "event", n->event);
        if (!rc) rc = set_str(o, "address", n->address);
        if (!rc) rc = set_str(o, "iccid", n->iccid);
        if (!rc) rc = set_b64(o, "der", n->der, n->der_len);
    }
    if (!rc && st->otk_done)
        rc = set_int(root, "otk_done", (json_int_t)st->otk_done);
    /* a pair of the sidecar lives there; one loaded from an older file
     * (generation 0) stays here until dropped */
    if (!rc && st->otk.present && st->otk.gen == 0) {
        rc = json_object_set_new(root, "otk", o = json_object()) ? RSP_ERR_NOMEM : 0;
        if (!rc) rc = set_int(o, "curve", st->otk.curve);
        if (!rc) rc = set_hex(o, "sk", st->otk.sk, sizeof(st->otk.sk));
        if (!rc) rc = set_hex(o, "pk", st->otk.pk, sizeof(st->otk.pk));
    }
done:
    if (rc) {
        json_decref(root);
        return NULL;
    }
    return root;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return RSP_ERR_IO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    int fd, rc;

    if (n >= sizeof(dir))
        return RSP_ERR_IO;
    if (slash && n == 0)
        n = 1;   /* file in / */
    if (n)
        memcpy(dir, path, n);
    else
        dir[n++] = '.';
    dir[n] = 0;
    fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return RSP_ERR_IO;
    rc = fsync(fd) == 0 ? 0 : RSP_ERR_IO;
    close(fd);
    return rc;
}

static int pkg_path(const char *path, const struct euicc_profile *p, char *out, size_t max);

static int dump_cb(const char *p, size_t n, void *data)
{
    return rsp_buf_append(data, p, n) == 0 ? 0 : -1;
}

static uint8_t zeros[64 << 10];

static int pwrite_all(int fd, const uint8_t *p, size_t n, off_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return RSP_ERR_IO;
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

static int pread_all(int fd, uint8_t *p, size_t n, off_t off)
{
    while (n) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return RSP_ERR_IO;
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

/* An image of st: SLOT_HDR placeholder bytes, the JSON (mode JS_SLOT or
 * JS_IDENT), for a slot the packages, zeros to a whole page. *json_len:
 * the JSON's, *len: the payload's (before the padding). */
static int image_build(const struct euicc_state *st, int mode, struct rsp_buf *img,
                       size_t *json_len, size_t *len)
{
    json_t *root;
    size_t guess = SLOT_HDR + sizeof(zeros) / 4;
    int rc = 0;

    /* one allocation of about the right size (rsp_buf grows by doubling,
     * wiping each block it leaves), taken directly: no bytes written that
     * are wiped again before use */
    for (size_t i = 0; mode == JS_SLOT && i < st->n_profiles; i++)
        guess += st->profiles[i].package_len + st->profiles[i].metadata_len * 2;
    for (size_t i = 0; mode == JS_SLOT && i < st->n_notifs; i++)
        guess += st->notifs[i].der_len * 2;
    guess += SLOT_PAGE - guess % SLOT_PAGE;
    if (guess > SLOT_MAX)
        guess = SLOT_MAX;
    if (guess > img->max)
        guess = img->max;
    rsp_buf_reset(img);
    if (guess > img->cap) {
        rsp_buf_free(img);
        if (!(img->data = malloc(guess)))
            return RSP_ERR_NOMEM;
        img->cap = guess;
    }
    root = state_to_json(st, mode);
    if (!root)
        return RSP_ERR_NOMEM;
    if (rsp_buf_append(img, zeros, SLOT_HDR) != 0 ||
        json_dump_callback(root, dump_cb, img, JSON_INDENT(1)) != 0 ||
        rsp_buf_append_byte(img, '\n') != 0)
        rc = RSP_ERR_NOMEM;
    json_decref(root);
    *json_len = img->len - SLOT_HDR;
    for (size_t i = 0; rc == 0 && mode == JS_SLOT && i < st->n_profiles; i++)
        if (st->profiles[i].package_len &&
            rsp_buf_append(img, st->profiles[i].package, st->profiles[i].package_len) != 0)
            rc = RSP_ERR_NOMEM;
    *len = img->len - SLOT_HDR;
    /* whole pages: no read-modify-write of a page not in the cache */
    if (rc == 0 && img->len % SLOT_PAGE &&
        rsp_buf_append(img, zeros, SLOT_PAGE - img->len % SLOT_PAGE) != 0)
        rc = RSP_ERR_NOMEM;
    return rc;
}

/* Fill the header of img (payload = img after SLOT_HDR, len bytes). */
static int header_fill(uint8_t *img, size_t len, size_t json_len, uint64_t gen,
                       size_t slot_size)
{
    char h[SLOT_HDR + 1];
    uint8_t md[32];
    EVP_MD_CTX *ctx;
    int n, ok;

    n = snprintf(h, sizeof(h), "rsp-euicc-state 2 gen %016" PRIx64 " slot %08zx json %08zx"
                 " len %08zx sha256 ", gen, slot_size, json_len, len);
    if (n != (int)SLOT_PREFIX)
        return RSP_ERR_INVAL;
    ctx = EVP_MD_CTX_new();
    ok = ctx && EVP_DigestInit_ex(ctx, sha256(), NULL) == 1 &&
         EVP_DigestUpdate(ctx, h, SLOT_PREFIX) == 1 &&
         EVP_DigestUpdate(ctx, img + SLOT_HDR, len) == 1 &&
         EVP_DigestFinal_ex(ctx, md, NULL) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return RSP_ERR_NOMEM;
    rsp_hex_encode(md, sizeof(md), h + SLOT_PREFIX);
    memset(h + SLOT_PREFIX + 64, ' ', SLOT_HDR - SLOT_PREFIX - 64 - 1);
    h[SLOT_HDR - 1] = '\n';
    memcpy(img, h, SLOT_HDR);
    return 0;
}

/* SHA-256 over what the identity region holds (eid, creds, cis), so a save
 * can tell cheaply whether the region on disk still holds it. */
static int ident_digest(const struct euicc_state *st, uint8_t md[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t n[8];
    int ok = ctx && EVP_DigestInit_ex(ctx, sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, st->eid, sizeof(st->eid)) == 1;

#define H_LEN(x) (n[0] = (uint8_t)((x) >> 24), n[1] = (uint8_t)((x) >> 16), \
                  n[2] = (uint8_t)((x) >> 8), n[3] = (uint8_t)(x), EVP_DigestUpdate(ctx, n, 4) == 1)
    ok = ok && H_LEN(st->n_creds) && H_LEN(st->n_cis);
    for (size_t i = 0; ok && i < st->n_creds; i++) {
        const struct euicc_cred *c = &st->creds[i];
        ok = H_LEN((unsigned)c->curve) && H_LEN(c->euicc_cert_len) &&
             EVP_DigestUpdate(ctx, c->euicc_cert, c->euicc_cert_len) == 1 &&
             H_LEN(c->eum_cert_len) && EVP_DigestUpdate(ctx, c->eum_cert, c->eum_cert_len) == 1 &&
             EVP_DigestUpdate(ctx, c->sk, sizeof(c->sk)) == 1 && H_LEN(c->ci_pkid_len) &&
             EVP_DigestUpdate(ctx, c->ci_pkid, c->ci_pkid_len) == 1;
    }
    for (size_t i = 0; ok && i < st->n_cis; i++)
        ok = H_LEN(st->cis[i].cert_len) &&
             EVP_DigestUpdate(ctx, st->cis[i].cert, st->cis[i].cert_len) == 1 &&
             H_LEN(st->cis[i].pkid_len) &&
             EVP_DigestUpdate(ctx, st->cis[i].pkid, st->cis[i].pkid_len) == 1;
#undef H_LEN
    ok = ok && EVP_DigestFinal_ex(ctx, md, NULL) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : RSP_ERR_NOMEM;
}

/* 1 when the file at path has the size `size` and can be written in
 * place, else 0; the open descriptor in *fd. */
static int slot_file_open(const char *path, uint64_t size, int *fd)
{
    struct stat sb;

    *fd = open(path, O_WRONLY | O_CLOEXEC);
    if (*fd < 0)
        return 0;
    if (fstat(*fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != size) {
        close(*fd);
        *fd = -1;
        return 0;
    }
    return 1;
}

/* The in-place commit: img (whole pages) at `at`, fdatasync. On a failure
 * after the write the slot's header is zeroed again (best effort), so that
 * what this boot reads is the other slot, the state before. */
static int slot_write(int fd, const struct rsp_buf *img, off_t at, unsigned faults)
{
    int rc = pwrite_all(fd, img->data, img->len, at);

    if (rc == 0 && ((faults & EUICC_SAVE_FAIL) || fdatasync(fd) != 0))
        rc = RSP_ERR_IO;
    if (rc) {
        if (pwrite_all(fd, zeros, SLOT_HDR, at) != 0 || fdatasync(fd) != 0)
            RSP_LOG(RSP_LOG_ERROR, "euicc", "invalidating a failed slot write failed");
    }
    return rc;
}

/* The slow path: a whole new file (the identity region, img in slot 0,
 * zeros up to the end of slot 1), fdatasync, rename() over path, fsync of
 * the directory. */
static int file_replace(const char *path, const struct rsp_buf *id, const struct rsp_buf *img,
                        size_t slot_size, unsigned faults)
{
    char tmp[4096];
    size_t left = 2 * slot_size - img->len;
    int fd, rc;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return RSP_ERR_INVAL;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return RSP_ERR_IO;
    rc = write_all(fd, (const char *)id->data, id->len);
    if (rc == 0)
        rc = write_all(fd, (const char *)img->data, img->len);
    while (rc == 0 && left) {
        size_t n = left < sizeof(zeros) ? left : sizeof(zeros);
        rc = write_all(fd, (const char *)zeros, n);
        left -= n;
    }
    /* fdatasync: the data and the size, which the rename publishes */
    if (rc == 0 && ((faults & EUICC_SAVE_FAIL) || fdatasync(fd) != 0))
        rc = RSP_ERR_IO;
    if (close(fd) != 0)
        rc = RSP_ERR_IO;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = RSP_ERR_IO;
    if (rc) {
        unlink(tmp);
        return rc;
    }
    /* Committed. A failed directory fsync only leaves its survival of a
     * power cut open; reporting an error would make the caller deny a
     * change that stands (euicc.h, durability contract). */
    if ((faults & EUICC_SAVE_DIRSYNC) || fsync_dir_of(path) != 0)
        RSP_LOG(RSP_LOG_WARN, "euicc", "%s saved, but fsync of its directory failed", path);
    return 0;
}

int euicc_state_save(const char *path, struct euicc_state *st)
{
    return euicc_state_save_ex(path, st, 0);
}

int euicc_state_save_ex(const char *path, struct euicc_state *st, unsigned faults)
{
    struct rsp_buf img, id;
    size_t json_len = 0, len = 0, slot_size;
    uint8_t md[32];
    uint64_t gen;
    int fd = -1, rc;

    if (!path || !st)
        return RSP_ERR_INVAL;
    if (st->slot_gen == UINT64_MAX) {
        RSP_LOG(RSP_LOG_ERROR, "euicc", "%s: generations exhausted", path);
        return RSP_ERR_IO;
    }
    gen = st->slot_gen + 1;
    rsp_buf_init(&img, SLOT_MAX);
    rsp_buf_init(&id, SLOT_MAX);
    if ((rc = image_build(st, JS_SLOT, &img, &json_len, &len)) || (rc = ident_digest(st, md)))
        goto out;
    if (st->slot_size && img.len <= st->slot_size && st->ident_size &&
        CRYPTO_memcmp(md, st->ident_md, sizeof(md)) == 0 &&
        slot_file_open(path, st->ident_size + 2 * (uint64_t)st->slot_size, &fd)) {
        unsigned slot = st->slot ^ 1u;
        if ((rc = header_fill(img.data, len, json_len, gen, st->slot_size)) == 0)
            rc = slot_write(fd, &img, (off_t)(st->ident_size + (size_t)slot * st->slot_size),
                            faults);
        if (close(fd) != 0 && rc == 0)
            rc = RSP_ERR_IO;
        if (rc == 0) {
            st->slot = slot;
            st->slot_gen = gen;
        }
        goto out;
    }
    /* slow path: a new file, slots with room for twice this image */
    for (slot_size = SLOT_MIN; slot_size < 2 * img.len && slot_size < SLOT_MAX; slot_size *= 2)
        ;
    if (img.len > slot_size) {
        rc = RSP_ERR_NOMEM;
        goto out;
    }
    if ((rc = header_fill(img.data, len, json_len, gen, slot_size)) ||
        (rc = image_build(st, JS_IDENT, &id, &json_len, &len)) ||
        (rc = header_fill(id.data, len, json_len, 0, id.len)) ||
        (rc = file_replace(path, &id, &img, slot_size, faults)))
        goto out;
    st->ident_size = id.len;
    memcpy(st->ident_md, md, sizeof(md));
    st->slot_size = slot_size;
    st->slot = 0;
    st->slot_gen = gen;
out:
    rsp_buf_free(&img);   /* wipes: packages hold profile keys */
    rsp_buf_free(&id);
    return rc;
}

int euicc_state_save_json(const char *path, const struct euicc_state *st, int pkg_files)
{
    json_t *root;
    FILE *f;
    int rc = 0;

    if (!path || !st)
        return RSP_ERR_INVAL;
    for (size_t i = 0; pkg_files && rc == 0 && i < st->n_profiles; i++) {
        const struct euicc_profile *p = &st->profiles[i];
        char fp[4200];
        if (!p->package_len)
            continue;
        if ((rc = pkg_path(path, p, fp, sizeof(fp))))
            break;
        f = fopen(fp, "wb");
        if (!f || fwrite(p->package, 1, p->package_len, f) != p->package_len)
            rc = RSP_ERR_IO;
        if (f && fclose(f) != 0)
            rc = RSP_ERR_IO;
    }
    if (rc)
        return rc;
    root = state_to_json(st, pkg_files ? JS_FILES : JS_INLINE);
    if (!root)
        return RSP_ERR_NOMEM;
    rc = json_dump_file(root, path, JSON_INDENT(1) | JSON_SORT_KEYS) == 0 ? 0 : RSP_ERR_IO;
    json_decref(root);
    return rc;
}

/* ---- load ----------------------------------------------------------------- */

static int get_str(json_t *o, const char *key, char *out, size_t outmax)
{
    json_t *v = json_object_get(o, key);
    const char *s;
    size_t n;

    if (!json_is_string(v))
        return RSP_ERR_DECODE;
    s = json_string_value(v);
    n = json_string_length(v);
    if (n >= outmax || strlen(s) != n)
        return RSP_ERR_DECODE;
    memcpy(out, s, n + 1);
    return 0;
}

static int get_uint(json_t *o, const char *key, json_int_t max, json_int_t *out)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        return RSP_ERR_DECODE;
    *out = json_integer_value(v);
    return *out < 0 || *out > max ? RSP_ERR_DECODE : 0;
}

static int get_u32(json_t *o, const char *key, uint32_t *out)
{
    json_int_t v;
    int rc = get_uint(o, key, 0xFFFFFFFF, &v);
    if (!rc)
        *out = (uint32_t)v;
    return rc;
}

static int get_hex(json_t *o, const char *key, uint8_t *out, size_t outmax,
                   size_t *len)
{
    json_t *v = json_object_get(o, key);
    int n;

    if (!json_is_string(v) || json_string_length(v) > 2 * outmax)
        return RSP_ERR_DECODE;
    n = rsp_hex_decode(json_string_value(v), json_string_length(v), out, outmax);
    if (n < 0)
        return RSP_ERR_DECODE;
    *len = (size_t)n;
    return 0;
}

/* A base64 blob of at most max bytes; empty is *p = NULL. */
static int get_b64(json_t *o, const char *key, size_t max, uint8_t **p, size_t *len)
{
    json_t *v = json_object_get(o, key);
    struct rsp_buf b;
    int rc;

    if (!json_is_string(v) || json_string_length(v) > (max + 2) / 3 * 4)
        return RSP_ERR_DECODE;
    rsp_buf_init(&b, max);
    rc = rsp_base64_decode(json_string_value(v), json_string_length(v), &b);
    if (rc) {
        rsp_buf_free(&b);
        return rc == RSP_ERR_NOMEM ? rc : RSP_ERR_DECODE;
    }
    *p = rsp_buf_steal(&b, len);
    return 0;
}

static int get_array(json_t *root, const char *key, size_t max, json_t **a)
{
    *a = json_object_get(root, key);
    if (!json_is_array(*a) || json_array_size(*a) > max)
        return RSP_ERR_DECODE;
    return 0;
}

static int valid_text(const char *s, int digits_only)
{
    for (; *s; s++) {
        if (digits_only ? (*s < '0' || *s > '9') : ((unsigned char)*s < 0x20))
            return 0;
    }
    return 1;
}

static int load_cred(json_t *o, struct euicc_cred *c)
{
    json_int_t curve;
    size_t n;
    int rc;

    if (!json_is_object(o))
        return RSP_ERR_DECODE;
    if ((rc = get_uint(o, "curve", RSP_CURVE_BRAINPOOLP256R1, &curve)) || curve < RSP_CURVE_P256)
        return RSP_ERR_DECODE;
    c->curve = (int)curve;
    if ((rc = get_b64(o, "euicc_cert", CERT_MAX, &c->euicc_cert, &c->euicc_cert_len)) ||
        (rc = get_b64(o, "eum_cert", CERT_MAX, &c->eum_cert, &c->eum_cert_len)) ||
        (rc = get_hex(o, "sk", c->sk, sizeof(c->sk), &n)) ||
        (rc = get_hex(o, "ci_pkid", c->ci_pkid, sizeof(c->ci_pkid), &c->ci_pkid_len)))
        return rc;
    if (n != sizeof(c->sk) || !c->euicc_cert || !c->eum_cert || c->ci_pkid_len == 0)
        return RSP_ERR_DECODE;
    return 0;
}

static int load_ci(json_t *o, struct euicc_ci *ci)
{
    int rc;

    if (!json_is_object(o))
        return RSP_ERR_DECODE;
    if ((rc = get_b64(o, "cert", CERT_MAX, &ci->cert, &ci->cert_len)) ||
        (rc = get_hex(o, "pkid", ci->pkid, sizeof(ci->pkid), &ci->pkid_len)))
        return rc;
    return ci->cert && ci->pkid_len ? 0 : RSP_ERR_DECODE;
}

/* "<path>.<AID hex>.pkg" of p. */
static int pkg_path(const char *path, const struct euicc_profile *p, char *out, size_t max)
{
    char hex[2 * sizeof(p->aid) + 1];

    if (p->aid_len == 0 || p->aid_len > sizeof(p->aid))
        return RSP_ERR_INVAL;
    rsp_hex_encode(p->aid, p->aid_len, hex);
    return (size_t)snprintf(out, max, "%s.%s.pkg", path, hex) >= max ? RSP_ERR_INVAL : 0;
}

/* The package file a profile of the JSON names: its name must be the one
 * of its AID, its size the recorded length, its SHA-256 the recorded one;
 * anything else (missing, torn, stale, another card's) is RSP_ERR_DECODE:
 * the card does not open (see the header comment). */
static int load_package_file(const char *path, json_t *o, struct euicc_profile *p)
{
    char fp[4200], want[2 * sizeof(p->aid) + 5];
    uint8_t md[32];
    struct stat sb;
    json_int_t len;
    size_t n = 0;
    int fd = -1, rc;

    rsp_hex_encode(p->aid, p->aid_len, want);
    memcpy(want + 2 * p->aid_len, ".pkg", 5);
    if ((rc = get_str(o, "package_file", fp, sizeof(want) + 1)) || strcmp(fp, want) != 0 ||
        (rc = get_uint(o, "package_len", PACKAGE_MAX, &len)) || len == 0 ||
        (rc = get_hex(o, "package_sha256", p->pkg_sha256, sizeof(p->pkg_sha256), &n)) ||
        n != sizeof(p->pkg_sha256))
        return RSP_ERR_DECODE;
    if (pkg_path(path, p, fp, sizeof(fp)))
        return RSP_ERR_DECODE;
    rc = RSP_ERR_DECODE;
    fd = open(fp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size != (off_t)len)
        goto out;
    p->package = malloc((size_t)len);
    if (!p->package) {
        rc = RSP_ERR_NOMEM;
        goto out;
    }
    p->package_len = (size_t)len;
    if (pread_all(fd, p->package, p->package_len, 0))
        goto out;
    if (EVP_Digest(p->package, p->package_len, md, NULL, sha256(), NULL) != 1 ||
        CRYPTO_memcmp(md, p->pkg_sha256, sizeof(md)) != 0)
        goto out;
    p->pkg_stored = 1;
    rc = 0;
out:
    if (rc)
        RSP_LOG(RSP_LOG_ERROR, "euicc", "%s: package file missing or damaged", fp);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* The slot payload after the JSON: the packages (version 2). */
struct blobs {
    const uint8_t *p;
    size_t len;
    size_t next;                 /* where the next package must start */
};

static int load_profile(const char *path, json_t *o, struct euicc_profile *p, struct blobs *bl)
{
    json_int_t v;
    int rc;

    if (!json_is_object(o))
        return RSP_ERR_DECODE;
    if ((rc = get_hex(o, "aid", p->aid, sizeof(p->aid), &p->aid_len)) ||
        (rc = get_str(o, "iccid", p->iccid, sizeof(p->iccid))) ||
        (rc = get_uint(o, "state", EUICC_PROFILE_ENABLED, &v)))
        return rc;
    p->state = (int)v;
    if ((rc = get_str(o, "nickname", p->nickname, sizeof(p->nickname))) ||
        (rc = get_b64(o, "metadata", METADATA_MAX, &p->metadata, &p->metadata_len)) ||
        (rc = get_u32(o, "ppr", &p->ppr)) ||
        (rc = get_uint(o, "class", 2, &v)))
        return rc;
    p->profile_class = (int)v;
    if ((rc = get_uint(o, "n_pes", 1000000, &v)))
        return rc;
    p->n_pes = (size_t)v;
    if (p->aid_len < 5 || !valid_text(p->iccid, 1) || !valid_text(p->nickname, 0))
        return RSP_ERR_DECODE;
    if (bl) {
        /* version 2: contiguous, in profile order, inside the payload */
        json_int_t off, len;
        if ((rc = get_uint(o, "package_off", SLOT_MAX, &off)) ||
            (rc = get_uint(o, "package_len", PACKAGE_MAX, &len)))
            return rc;
        if ((size_t)off != bl->next || (size_t)len > bl->len - bl->next ||
            json_object_get(o, "package") || json_object_get(o, "package_file"))
            return RSP_ERR_DECODE;
        bl->next += (size_t)len;
        if (len == 0)
            return 0;
        p->package = malloc((size_t)len);
        if (!p->package)
            return RSP_ERR_NOMEM;
        memcpy(p->package, bl->p + off, (size_t)len);
        p->package_len = (size_t)len;
        return 0;
    }
    /* version 1: inline (empty, or a file from before package files), or
     * a package file */
    if (json_object_get(o, "package"))
        return get_b64(o, "package", PACKAGE_MAX, &p->package, &p->package_len);
    return load_package_file(path, o, p);
}

static int load_notif(json_t *o, struct euicc_notif *n)
{
    int rc;

    if (!json_is_object(o))
        return RSP_ERR_DECODE;
    if ((rc = get_u32(o, "seq", &n->seq)) || (rc = get_u32(o, "event", &n->event)) ||
        (rc = get_str(o, "address", n->address, sizeof(n->address))) ||
        (rc = get_str(o, "iccid", n->iccid, sizeof(n->iccid))) ||
        (rc = get_b64(o, "der", NOTIF_DER_MAX, &n->der, &n->der_len)))
        return rc;
    if (n->event > 31 || !valid_text(n->iccid, 1) || !valid_text(n->address, 0) || !n->der)
        return RSP_ERR_DECODE;
    return 0;
}

/* The retained one-time pair: sizes and encodings only here; whether sk
 * and pk belong together is checked where the pair is used (euicc_es10b.c),
 * so an open costs no EC arithmetic. */
static int load_otk(json_t *o, struct euicc_otk *k)
{
    json_int_t curve;
    size_t nsk = 0, npk = 0;
    int rc;

    if (!json_is_object(o))
        return RSP_ERR_DECODE;
    if ((rc = get_uint(o, "curve", RSP_CURVE_BRAINPOOLP256R1, &curve)) || curve < RSP_CURVE_P256 ||
        (rc = get_hex(o, "sk", k->sk, sizeof(k->sk), &nsk)) ||
        (rc = get_hex(o, "pk", k->pk, sizeof(k->pk), &npk)) ||
        nsk != sizeof(k->sk) || npk != sizeof(k->pk) || k->pk[0] != 0x04) {
        OPENSSL_cleanse(k, sizeof(*k));
        return RSP_ERR_DECODE;
    }
    k->curve = (int)curve;
    k->present = 1;
    return 0;
}

/* part: JS_INLINE a whole version-1 file, JS_IDENT the identity region,
 * JS_SLOT a slot (bl: its packages; st->eid already set by the identity,
 * which the slot must name). */
static int state_from_json(const char *path, json_t *root, struct euicc_state *st,
                           int part, struct blobs *bl)
{
    json_int_t version;
    json_t *a;
    char eid[sizeof(st->eid)];
    int rc;

    if (!json_is_object(root))
        return RSP_ERR_DECODE;
    if ((rc = get_uint(root, "version", 1000, &version)) ||
        version != (part == JS_INLINE ? STATE_VERSION_JSON : STATE_VERSION))
        return RSP_ERR_DECODE;
    if ((rc = get_str(root, "eid", eid, sizeof(eid))) || rsp_eid_check(eid) != 0)
        return RSP_ERR_DECODE;
    if (part == JS_SLOT) {
        if (strcmp(eid, st->eid) != 0)
            return RSP_ERR_DECODE;
    } else {
        memcpy(st->eid, eid, sizeof(eid));
        if ((rc = get_array(root, "creds", EUICC_MAX_CREDS, &a)))
            return rc;
        for (size_t i = 0; i < json_array_size(a); i++, st->n_creds++)
            if ((rc = load_cred(json_array_get(a, i), &st->creds[i])))
                return rc;
        if (st->n_creds == 0)
            return RSP_ERR_DECODE;
        if ((rc = get_array(root, "cis", EUICC_MAX_CI, &a)))
            return rc;
        for (size_t i = 0; i < json_array_size(a); i++, st->n_cis++)
            if ((rc = load_ci(json_array_get(a, i), &st->cis[i])))
                return rc;
        if (part == JS_IDENT)
            return 0;
    }
    if ((rc = get_str(root, "default_dp", st->default_dp, sizeof(st->default_dp))) ||
        (rc = get_str(root, "root_ds", st->root_ds, sizeof(st->root_ds))) ||
        (rc = get_u32(root, "next_seq", &st->next_seq)) ||
        (rc = get_u32(root, "next_isdp", &st->next_isdp)))
        return rc;
    if (!valid_text(st->default_dp, 0) || !valid_text(st->root_ds, 0))
        return RSP_ERR_DECODE;
    if ((rc = get_array(root, "profiles", EUICC_MAX_PROFILES, &a)))
        return rc;
    for (size_t i = 0; i < json_array_size(a); i++, st->n_profiles++)
        if ((rc = load_profile(path, json_array_get(a, i), &st->profiles[i], bl)))
            return rc;
    if (bl && bl->next != bl->len)
        return RSP_ERR_DECODE;
    if ((rc = get_array(root, "notifs", EUICC_MAX_NOTIFS, &a)))
        return rc;
    for (size_t i = 0; i < json_array_size(a); i++, st->n_notifs++)
        if ((rc = load_notif(json_array_get(a, i), &st->notifs[i])))
            return rc;
    if (json_object_get(root, "otk") && (rc = load_otk(json_object_get(root, "otk"), &st->otk)))
        return rc;
    if (json_object_get(root, "otk_done")) {
        json_int_t done;
        if ((rc = get_uint(root, "otk_done", (json_int_t)1 << 62, &done)))
            return rc;
        st->otk_done = st->otk_gen = (uint64_t)done;
    }
    return 0;
}

/* ---- the one-time key sidecar (euicc.private.h) ---------------------------- */

#define OTK_SLOT      256u
#define OTK_FILE      (2u * OTK_SLOT)
#define OTK_BODY      147u            /* bytes the digest covers */
static const char otk_magic[8] = {'r', 's', 'p', 'o', 't', 'k', '0', '1'};

/* Record: magic(8) curve(1) gen(8, big-endian) eid(33, NUL-terminated)
 * sk(32) pk(65) SHA-256(32) of the 147 bytes before, zero to OTK_SLOT. */
static int otk_encode(const char *eid, const struct euicc_otk *k, uint8_t r[OTK_SLOT])
{
    size_t el = strlen(eid);

    memset(r, 0, OTK_SLOT);
    if (el > 32)
        return RSP_ERR_INVAL;
    memcpy(r, otk_magic, 8);
    r[8] = (uint8_t)k->curve;
    for (int i = 0; i < 8; i++)
        r[9 + i] = (uint8_t)(k->gen >> (56 - 8 * i));
    memcpy(r + 17, eid, el);
    memcpy(r + 50, k->sk, RSP_EC_SCALAR_LEN);
    memcpy(r + 82, k->pk, RSP_EC_POINT_LEN);
    return EVP_Digest(r, OTK_BODY, r + OTK_BODY, NULL, sha256(), NULL) == 1 ? 0
                                                                                : RSP_ERR_NOMEM;
}

/* 0 and *k filled when r is an intact record of the card eid. */
static int otk_decode(const uint8_t r[OTK_SLOT], const char *eid, struct euicc_otk *k)
{
    uint8_t md[32];
    size_t el = strlen(eid);

    memset(k, 0, sizeof(*k));
    if (memcmp(r, otk_magic, 8) != 0 || el > 32 ||
        EVP_Digest(r, OTK_BODY, md, NULL, sha256(), NULL) != 1 ||
        CRYPTO_memcmp(md, r + OTK_BODY, sizeof(md)) != 0 ||
        memcmp(r + 17, eid, el) != 0 || r[17 + el] != 0 ||
        (r[8] != RSP_CURVE_P256 && r[8] != RSP_CURVE_BRAINPOOLP256R1) || r[82] != 0x04)
        return RSP_ERR_DECODE;
    k->curve = r[8];
    for (int i = 0; i < 8; i++)
        k->gen = k->gen << 8 | r[9 + i];
    memcpy(k->sk, r + 50, RSP_EC_SCALAR_LEN);
    memcpy(k->pk, r + 82, RSP_EC_POINT_LEN);
    k->present = k->gen != 0;
    return k->present ? 0 : RSP_ERR_DECODE;
}

static int otk_path(const char *path, char *out, size_t max)
{
    return (size_t)snprintf(out, max, "%s.otk", path) >= max ? RSP_ERR_INVAL : 0;
}

/* The newest intact record of the sidecar, if any, into st: the pair when
 * it was not dropped since; st->otk_gen covers it either way. A missing or
 * damaged sidecar is no pair, not an error (the JSON state is the card). */
static void otk_load(const char *path, struct euicc_state *st)
{
    uint8_t f[OTK_FILE];
    struct euicc_otk k, best;
    char sp[4096];
    ssize_t n = -1;
    int fd;

    memset(&best, 0, sizeof(best));
    if (otk_path(path, sp, sizeof(sp)) || (fd = open(sp, O_RDONLY | O_CLOEXEC)) < 0)
        return;
    do
        n = pread(fd, f, sizeof(f), 0);
    while (n < 0 && errno == EINTR);
    close(fd);
    for (size_t i = 0; n == (ssize_t)sizeof(f) && i < 2; i++)
        if (otk_decode(f + i * OTK_SLOT, st->eid, &k) == 0 && k.gen > best.gen)
            best = k;
    if (best.gen > st->otk_gen)
        st->otk_gen = best.gen;
    if (best.gen > st->otk_done) {
        OPENSSL_cleanse(&st->otk, sizeof(st->otk));
        st->otk = best;
    }
    OPENSSL_cleanse(f, sizeof(f));
    OPENSSL_cleanse(&k, sizeof(k));
    OPENSSL_cleanse(&best, sizeof(best));
}

/* A whole new sidecar holding rec in its slot, atomically. */
static int otk_create(const char *sp, const uint8_t rec[OTK_SLOT], size_t slot)
{
    uint8_t f[OTK_FILE];
    char tmp[4200];
    int fd, rc = RSP_ERR_IO;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", sp) >= sizeof(tmp))
        return RSP_ERR_INVAL;
    memset(f, 0, sizeof(f));
    memcpy(f + slot * OTK_SLOT, rec, OTK_SLOT);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0 && write_all(fd, (const char *)f, sizeof(f)) == 0 && fsync(fd) == 0) {
        rc = close(fd) == 0 ? 0 : RSP_ERR_IO;
        fd = -1;
        if (rc == 0 && rename(tmp, sp) != 0)
            rc = RSP_ERR_IO;
        if (rc == 0 && fsync_dir_of(sp) != 0)
            RSP_LOG(RSP_LOG_WARN, "euicc", "%s saved, but fsync of its directory failed", sp);
    }
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    OPENSSL_cleanse(f, sizeof(f));
    return rc;
}

int euicc_otk_save_ex(const char *path, const struct euicc_state *st,
                      const struct euicc_otk *k, unsigned faults)
{
    uint8_t rec[OTK_SLOT];
    char sp[4096];
    size_t slot;
    struct stat sb;
    int fd, rc;

    if (!path || !st || !k || !k->present || k->gen == 0)
        return RSP_ERR_INVAL;
    if ((rc = otk_path(path, sp, sizeof(sp))) || (rc = otk_encode(st->eid, k, rec)))
        goto out;
    if (faults & EUICC_SAVE_FAIL) {
        rc = RSP_ERR_IO;
        goto out;
    }
    slot = (size_t)(k->gen & 1);
    fd = open(sp, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size != OTK_FILE) {
        /* first pair of this card, or a damaged sidecar */
        if (fd >= 0)
            close(fd);
        rc = otk_create(sp, rec, slot);
        goto out;
    }
    /* In place: the other slot keeps the record before, whatever a tear
     * leaves of this one. */
    rc = RSP_ERR_IO;
    if (pwrite(fd, rec, sizeof(rec), (off_t)(slot * OTK_SLOT)) == (ssize_t)sizeof(rec) &&
        fdatasync(fd) == 0)
        rc = 0;
    if (close(fd) != 0)
        rc = RSP_ERR_IO;
out:
    OPENSSL_cleanse(rec, sizeof(rec));
    return rc;
}

int euicc_otk_reset(const char *path)
{
    uint8_t empty[OTK_SLOT];
    char sp[4096];

    if (!path || otk_path(path, sp, sizeof(sp)))
        return RSP_ERR_INVAL;
    memset(empty, 0, sizeof(empty));
    return otk_create(sp, empty, 0);
}

/* ---- package files (euicc.private.h) --------------------------------------- */

/* 1 if name is "<base>.<hex>.pkg" and no profile of st has that AID. */
static int pkg_orphan(const char *name, const char *base, size_t bl,
                      const struct euicc_state *st)
{
    uint8_t aid[16];
    size_t nl = strlen(name), hl;
    int n;

    if (nl < bl + 1 + 4 || strncmp(name, base, bl) != 0 || name[bl] != '.' ||
        strcmp(name + nl - 4, ".pkg") != 0)
        return 0;
    hl = nl - bl - 1 - 4;
    if (hl == 0 || hl > 2 * sizeof(aid))
        return 0;
    for (size_t i = 0; i < hl; i++) {
        char c = name[bl + 1 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    n = rsp_hex_decode(name + bl + 1, hl, aid, sizeof(aid));
    if (n <= 0)
        return 0;
    for (size_t i = 0; i < st->n_profiles; i++)
        if (st->profiles[i].pkg_stored && st->profiles[i].aid_len == (size_t)n &&
            memcmp(st->profiles[i].aid, aid, (size_t)n) == 0)
            return 0;
    return 1;
}

void euicc_pkg_sweep(const char *path, const struct euicc_state *st)
{
    char dir[4096];
    const char *slash, *base;
    DIR *d;
    struct dirent *de;
    size_t n;

    if (!path || !st)
        return;
    slash = strrchr(path, '/');
    base = slash ? slash + 1 : path;
    n = slash ? (size_t)(slash - path) : 0;
    if (n >= sizeof(dir) || !*base)
        return;
    if (slash && n == 0)
        n = 1;
    if (n)
        memcpy(dir, path, n);
    else
        dir[n++] = '.';
    dir[n] = 0;
    d = opendir(dir);
    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        if (!pkg_orphan(de->d_name, base, strlen(base), st))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0)
            RSP_LOG(RSP_LOG_INFO, "euicc", "removed orphan package file %s", de->d_name);
    }
    closedir(d);
}

/* A version-1 file: one JSON text. */
static int load_json_file(const char *path, int fd, size_t size, struct euicc_state *st)
{
    json_error_t jerr;
    json_t *root = NULL;
    char *text;
    int rc = RSP_ERR_IO;

    if (size > STATE_FILE_MAX)
        return RSP_ERR_DECODE;
    text = malloc(size + 1);
    if (!text)
        return RSP_ERR_NOMEM;
    if (pread_all(fd, (uint8_t *)text, size, 0))
        goto out;
    root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &jerr);
    rc = root ? state_from_json(path, root, st, JS_INLINE, NULL) : RSP_ERR_DECODE;
out:
    json_decref(root);
    OPENSSL_cleanse(text, size);
    free(text);
    return rc;
}

struct slot_hdr {
    uint64_t gen;
    size_t size, json_len, len;
    uint8_t md[32];
};

/* Parse a record header (a slot's, or the identity region's with
 * generation 0); 0 when it is well-formed and its payload fits its size. */
static int header_parse(const uint8_t raw[SLOT_HDR], struct slot_hdr *h)
{
    char t[SLOT_HDR + 1], again[SLOT_PREFIX + 1];

    memcpy(t, raw, SLOT_HDR);
    t[SLOT_HDR] = 0;
    memset(h, 0, sizeof(*h));
    if (memcmp(t, "rsp-euicc-state 2 gen ", 22) != 0 ||
        sscanf(t, "rsp-euicc-state 2 gen %16" SCNx64 " slot %8zx json %8zx len %8zx",
               &h->gen, &h->size, &h->json_len, &h->len) != 4)
        return RSP_ERR_DECODE;
    /* canonical: exactly what the writer makes */
    if (snprintf(again, sizeof(again), "rsp-euicc-state 2 gen %016" PRIx64 " slot %08zx json %08zx"
                 " len %08zx sha256 ", h->gen, h->size, h->json_len, h->len) != (int)SLOT_PREFIX ||
        memcmp(again, t, SLOT_PREFIX) != 0 ||
        rsp_hex_decode(t + SLOT_PREFIX, 64, h->md, sizeof(h->md)) != 32 ||
        t[SLOT_HDR - 1] != '\n')
        return RSP_ERR_DECODE;
    if (h->size % SLOT_PAGE || h->size > SLOT_MAX || h->size < SLOT_HDR ||
        h->json_len == 0 || h->json_len > h->len || h->len > h->size - SLOT_HDR)
        return RSP_ERR_DECODE;
    return 0;
}

/* Read and check the payload of the record at `at`: 0 and *payload
 * (malloc'd, h->len bytes); RSP_ERR_DECODE when the digest differs. */
static int record_read(int fd, off_t at, const uint8_t raw[SLOT_HDR],
                       const struct slot_hdr *h, uint8_t **payload)
{
    uint8_t md[32];
    EVP_MD_CTX *ctx;
    uint8_t *p = malloc(h->len);
    int rc, ok;

    *payload = NULL;
    if (!p)
        return RSP_ERR_NOMEM;
    if ((rc = pread_all(fd, p, h->len, at + SLOT_HDR))) {
        free(p);
        return rc;
    }
    ctx = EVP_MD_CTX_new();
    ok = ctx && EVP_DigestInit_ex(ctx, sha256(), NULL) == 1 &&
         EVP_DigestUpdate(ctx, raw, SLOT_PREFIX) == 1 &&
         EVP_DigestUpdate(ctx, p, h->len) == 1 && EVP_DigestFinal_ex(ctx, md, NULL) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        rc = RSP_ERR_NOMEM;
    } else if (CRYPTO_memcmp(md, h->md, sizeof(md)) != 0) {
        rc = RSP_ERR_DECODE;
    } else {
        *payload = p;
        return 0;
    }
    OPENSSL_cleanse(p, h->len);
    free(p);
    return rc;
}

/* The JSON of a record's payload into st (part JS_IDENT or JS_SLOT). */
static int record_parse(const char *path, uint8_t *payload, const struct slot_hdr *h, int part,
                        struct euicc_state *st)
{
    struct blobs bl = { payload + h->json_len, h->len - h->json_len, 0 };
    json_error_t jerr;
    json_t *root = json_loadb((const char *)payload, h->json_len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = root ? state_from_json(path, root, st, part, &bl) : RSP_ERR_DECODE;

    json_decref(root);
    if (rc == 0 && part == JS_IDENT && bl.len != 0)
        rc = RSP_ERR_DECODE;
    OPENSSL_cleanse(payload, h->len);
    free(payload);
    return rc;
}

/* A two-slot file: the identity region, then the intact slot of the
 * higher generation. */
static int load_slots(const char *path, int fd, uint64_t size, struct euicc_state *st)
{
    uint8_t raw[2][SLOT_HDR], *payload = NULL;
    struct slot_hdr h[2], ih;
    int ok[2], rc = RSP_ERR_DECODE;
    size_t slot_size;
    unsigned order[2];

    /* identity: written once with the file, never in place, so no tear
     * reaches it; damage is from outside and the card does not open */
    if (size < SLOT_HDR || (rc = pread_all(fd, raw[0], SLOT_HDR, 0)) != 0 ||
        header_parse(raw[0], &ih) != 0 || ih.gen != 0 || ih.json_len != ih.len ||
        size <= ih.size || (rc = record_read(fd, 0, raw[0], &ih, &payload)) != 0 ||
        (rc = record_parse(path, payload, &ih, JS_IDENT, st)) != 0 ||
        (rc = ident_digest(st, st->ident_md)) != 0) {
        if (rc != RSP_ERR_NOMEM)
            RSP_LOG(RSP_LOG_ERROR, "euicc", "%s: not a state file, or its identity is damaged",
                    path);
        return rc == RSP_ERR_NOMEM ? rc : RSP_ERR_DECODE;
    }
    st->ident_size = ih.size;
    slot_size = (size_t)((size - ih.size) / 2);
    if ((size - ih.size) % (2 * SLOT_PAGE) != 0 || slot_size < SLOT_MIN || slot_size > SLOT_MAX) {
        RSP_LOG(RSP_LOG_ERROR, "euicc", "%s: size %" PRIu64 " is not a state file's", path, size);
        return RSP_ERR_DECODE;
    }
    for (unsigned i = 0; i < 2; i++) {
        if ((rc = pread_all(fd, raw[i], SLOT_HDR, (off_t)(ih.size + i * slot_size))))
            return rc;
        ok[i] = header_parse(raw[i], &h[i]) == 0 && h[i].gen != 0 && h[i].size == slot_size;
    }
    order[0] = ok[1] && (!ok[0] || h[1].gen > h[0].gen) ? 1 : 0;
    order[1] = order[0] ^ 1u;
    for (unsigned k = 0; k < 2; k++) {
        unsigned i = order[k];
        if (!ok[i])
            continue;
        rc = record_read(fd, (off_t)(ih.size + i * slot_size), raw[i], &h[i], &payload);
        if (rc == RSP_ERR_DECODE) {
            RSP_LOG(RSP_LOG_WARN, "euicc", "%s: slot %u (generation %" PRIu64 ") is torn or "
                    "damaged, trying the other", path, i, h[i].gen);
            continue;
        }
        if (rc)
            return rc;
        /* an intact image decides: its content is not retried */
        rc = record_parse(path, payload, &h[i], JS_SLOT, st);
        if (rc == 0) {
            st->slot_size = slot_size;
            st->slot = i;
            st->slot_gen = h[i].gen;
        } else if (rc == RSP_ERR_DECODE) {
            RSP_LOG(RSP_LOG_ERROR, "euicc", "%s: slot %u is intact but not a valid state", path, i);
        }
        return rc;
    }
    RSP_LOG(RSP_LOG_ERROR, "euicc", "%s: no intact slot (both torn or damaged)", path);
    return RSP_ERR_DECODE;
}

int euicc_state_load(const char *path, struct euicc_state *st)
{
    struct stat sb;
    uint8_t first = 0;
    int fd, rc = RSP_ERR_IO;

    if (!path || !st)
        return RSP_ERR_INVAL;
    memset(st, 0, sizeof(*st));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return RSP_ERR_IO;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        goto out;
    if (sb.st_size > 0 && pread_all(fd, &first, 1, 0) != 0)
        goto out;
    /* a version-1 file is jansson's dump of an object */
    if (first == '{')
        rc = load_json_file(path, fd, (size_t)sb.st_size > STATE_FILE_MAX ? STATE_FILE_MAX + 1
                                                                          : (size_t)sb.st_size, st);
    else
        rc = load_slots(path, fd, (uint64_t)sb.st_size, st);
    if (rc == 0)
        otk_load(path, st);
out:
    if (rc)
        euicc_state_clear(st);
    close(fd);
    return rc;
}
