/*
 * euicc_state.c - the card's persistent state as one JSON file (jansson).
 *
 * Format (version 1): byte strings in base64 (RFC 4648 §4), keys and short
 * identifiers in hex, numbers as JSON integers:
 *   { "version": 1, "eid": "...", "default_dp": "", "root_ds": "",
 *     "next_seq": n, "next_isdp": n,
 *     "creds": [ { "curve": c, "euicc_cert": b64, "eum_cert": b64,
 *                  "sk": hex32, "ci_pkid": hex } ],
 *     "cis": [ { "cert": b64, "pkid": hex } ],
 *     "profiles": [ { "aid": hex, "iccid": "...", "state": 0|1,
 *                     "nickname": "...", "metadata": b64, "ppr": n,
 *                     "class": n, "n_pes": n, "package_file": "<AID hex>.pkg",
 *                     "package_len": n, "package_sha256": hex32 } ],
 *     "notifs": [ { "seq": n, "event": n, "address": "...",
 *                   "iccid": "...", "der": b64 } ],
 *     "otk": { "curve": c, "sk": hex32, "pk": hex65 }, "otk_done": n }
 * "otk" (optional, absent when none) is the otSK/otPK.EUICC.ECKA pair kept
 * for a download retry (SGP.22 v2.5 §3.1.3, §5.7.14 bppEuiccOtpk) as files
 * before 2026-11 kept it; files without it load as before. Since then a
 * retained pair lives in the sidecar "<path>.otk" (binary, two records, see
 * euicc.private.h) so PrepareDownload does not rewrite the whole state, and
 * "otk_done" (optional, 0 if absent) is the sidecar generation last dropped.
 * Loading validates every field and size; anything else is RSP_ERR_DECODE.
 *
 * Package files (since 2026-11): an installed profile's package (PE-Header
 * .. PE-End, the bulk of a profile) is not in the JSON but in its own file
 * "<state>.<ISD-P AID hex>.pkg" in the state's directory; the JSON names it
 * and records its length and SHA-256. A profile with an empty package, or
 * one loaded from an older file ("package": b64 inline), stays inline until
 * the next commit writes its file (migration). Ordering (euicc_commit):
 *   1. write the package file (O_TRUNC, one write) and fdatasync it: its
 *      data and size are durable; crash point commit:package;
 *   2. the JSON commit as before: tmp write + fdatasync, rename/exchange
 *      over the state, fsync of the directory;
 *   3. files of profiles the commit dropped are unlinked (no sync).
 * A crash anywhere before the rename in 2 leaves the old JSON, which does
 * not name the new file: an orphan, removed by the next euicc_open
 * (euicc_pkg_sweep; ISD-P AIDs are never reused, so the file a tear leaves
 * is never one a durable JSON names). A crash after 2 and before 3 leaves a
 * dropped profile's file: an orphan too. The JSON that names a file is only
 * written after the file's data and size are on disk; the file's directory
 * entry and the state rename are in the same directory, and the commit's
 * directory fsync makes both durable together. Between the rename and that
 * fsync a power cut relies, as the rename itself does, on the filesystem
 * keeping metadata operations in order (journalled ext4, xfs, btrfs): the
 * create precedes the rename. A package file that is missing, of another
 * length or digest at open means damage from outside: the card refuses to
 * open (RSP_ERR_DECODE, the file named in the log), as for a damaged JSON.
 */
#define _GNU_SOURCE   /* renameat2, RENAME_EXCHANGE */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#define STATE_VERSION      1
#define STATE_FILE_MAX     (64u << 20)   /* whole file */
#define CERT_MAX           4096u         /* one DER certificate */
#define METADATA_MAX       (64u << 10)   /* StoreMetadataRequest */
#define PACKAGE_MAX        (2u << 20)    /* installed profile elements */
#define NOTIF_DER_MAX      (16u << 10)

/* ---- clear ---------------------------------------------------------------- */

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
    if (st->profiles[i].pkg_stored && st->n_pkg_gone < EUICC_MAX_PROFILES &&
        st->profiles[i].aid_len <= sizeof(st->pkg_gone[0].aid)) {
        memcpy(st->pkg_gone[st->n_pkg_gone].aid, st->profiles[i].aid, st->profiles[i].aid_len);
        st->pkg_gone[st->n_pkg_gone++].len = st->profiles[i].aid_len;
    }
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

static json_t *state_to_json(const struct euicc_state *st)
{
    json_t *root = json_object(), *a, *o;
    int rc = root ? 0 : RSP_ERR_NOMEM;

    if (!rc) rc = set_int(root, "version", STATE_VERSION);
    if (!rc) rc = set_str(root, "eid", st->eid);
    if (!rc) rc = set_str(root, "default_dp", st->default_dp);
    if (!rc) rc = set_str(root, "root_ds", st->root_ds);
    if (!rc) rc = set_int(root, "next_seq", st->next_seq);
    if (!rc) rc = set_int(root, "next_isdp", st->next_isdp);

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
        if (!rc && p->pkg_stored) {
            char name[2 * sizeof(p->aid) + 5];
            rsp_hex_encode(p->aid, p->aid_len, name);
            memcpy(name + 2 * p->aid_len, ".pkg", 5);
            rc = set_str(o, "package_file", name);
            if (!rc) rc = set_int(o, "package_len", (json_int_t)p->package_len);
            if (!rc) rc = set_hex(o, "package_sha256", p->pkg_sha256, sizeof(p->pkg_sha256));
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

int euicc_state_save(const char *path, const struct euicc_state *st)
{
    return euicc_state_save_ex(path, st, 0);
}

static int dump_cb(const char *p, size_t n, void *data)
{
    return rsp_buf_append(data, p, n) == 0 ? 0 : -1;
}

/* tmp takes path's place. Exchanged when the filesystem can (Linux
 * renameat2 RENAME_EXCHANGE): the old state's inode becomes the next
 * commit's tmp, so a commit neither creates nor frees an inode (on ext4
 * those were a third of a commit's CPU); plain rename() otherwise and for
 * the first save. Either is atomic. */
static int replace(const char *tmp, const char *path)
{
#ifdef RENAME_EXCHANGE
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) == 0)
        return 0;
    if (errno != ENOENT && errno != EINVAL && errno != ENOSYS && errno != ENOTSUP &&
        errno != EOPNOTSUPP)
        return -1;
#endif
    return rename(tmp, path);
}

int euicc_state_save_ex(const char *path, const struct euicc_state *st, unsigned faults)
{
    char tmp[4096];
    json_t *root;
    struct rsp_buf text;
    int fd = -1, rc = RSP_ERR_IO;

    if (!path || !st)
        return RSP_ERR_INVAL;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return RSP_ERR_INVAL;
    root = state_to_json(st);
    if (!root)
        return RSP_ERR_NOMEM;
    rsp_buf_init(&text, STATE_FILE_MAX);
    if (json_dump_callback(root, dump_cb, &text, JSON_INDENT(1) | JSON_SORT_KEYS) != 0 ||
        rsp_buf_append_byte(&text, '\n') != 0) {
        json_decref(root);
        rsp_buf_free(&text);
        return RSP_ERR_NOMEM;
    }
    json_decref(root);
    /* The tmp file may be the previous state (exchanged in): overwritten
     * from the start and cut to length, never truncated first, so its
     * blocks are reused. */
    fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    /* fdatasync: the data and the size (what the rename publishes); the
     * inode's times need no durability */
    if (write_all(fd, (const char *)text.data, text.len) ||
        ftruncate(fd, (off_t)text.len) != 0 || fdatasync(fd) != 0)
        goto out;
    if (close(fd) != 0) {
        fd = -1;
        goto out;
    }
    fd = -1;
    if ((faults & EUICC_SAVE_FAIL) || replace(tmp, path) != 0)
        goto out;
    /* Committed: the new state is what any later open reads. A failed
     * directory fsync only leaves its survival of a power cut open;
     * reporting an error here would make the caller deny a change that
     * stands (euicc.h, durability contract). */
    rc = 0;
    if ((faults & EUICC_SAVE_DIRSYNC) || fsync_dir_of(path) != 0)
        RSP_LOG(RSP_LOG_WARN, "euicc", "%s saved, but fsync of its directory failed", path);
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    OPENSSL_cleanse(text.data, text.len);
    rsp_buf_free(&text);
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
    size_t n = 0, got = 0;
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
    while (got < p->package_len) {
        ssize_t r = read(fd, p->package + got, p->package_len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    if (EVP_Digest(p->package, p->package_len, md, NULL, EVP_sha256(), NULL) != 1 ||
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

static int load_profile(const char *path, json_t *o, struct euicc_profile *p)
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
    /* inline: empty, or a file from before package files (moved out by
     * the next commit) */
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

static int state_from_json(const char *path, json_t *root, struct euicc_state *st)
{
    json_int_t version;
    json_t *a;
    int rc;

    if (!json_is_object(root))
        return RSP_ERR_DECODE;
    if ((rc = get_uint(root, "version", 1000, &version)) || version != STATE_VERSION)
        return RSP_ERR_DECODE;
    if ((rc = get_str(root, "eid", st->eid, sizeof(st->eid))) ||
        (rc = get_str(root, "default_dp", st->default_dp, sizeof(st->default_dp))) ||
        (rc = get_str(root, "root_ds", st->root_ds, sizeof(st->root_ds))) ||
        (rc = get_u32(root, "next_seq", &st->next_seq)) ||
        (rc = get_u32(root, "next_isdp", &st->next_isdp)))
        return rc;
    if (rsp_eid_check(st->eid) != 0 || !valid_text(st->default_dp, 0) ||
        !valid_text(st->root_ds, 0))
        return RSP_ERR_DECODE;

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
    if ((rc = get_array(root, "profiles", EUICC_MAX_PROFILES, &a)))
        return rc;
    for (size_t i = 0; i < json_array_size(a); i++, st->n_profiles++)
        if ((rc = load_profile(path, json_array_get(a, i), &st->profiles[i])))
            return rc;
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
    return EVP_Digest(r, OTK_BODY, r + OTK_BODY, NULL, EVP_sha256(), NULL) == 1 ? 0
                                                                                : RSP_ERR_NOMEM;
}

/* 0 and *k filled when r is an intact record of the card eid. */
static int otk_decode(const uint8_t r[OTK_SLOT], const char *eid, struct euicc_otk *k)
{
    uint8_t md[32];
    size_t el = strlen(eid);

    memset(k, 0, sizeof(*k));
    if (memcmp(r, otk_magic, 8) != 0 || el > 32 ||
        EVP_Digest(r, OTK_BODY, md, NULL, EVP_sha256(), NULL) != 1 ||
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

int euicc_pkg_store(const char *path, struct euicc_profile *p, unsigned faults)
{
    char fp[4200];
    uint8_t md[32];
    int fd, rc;

    if (!path || !p || !p->package || p->package_len == 0)
        return RSP_ERR_INVAL;
    if ((rc = pkg_path(path, p, fp, sizeof(fp))))
        return rc;
    if (EVP_Digest(p->package, p->package_len, md, NULL, EVP_sha256(), NULL) != 1)
        return RSP_ERR_NOMEM;
    if (faults & EUICC_SAVE_FAIL)
        return RSP_ERR_IO;
    /* AIDs are never reused, so no JSON that ever reached the disk names
     * this file: whatever a tear leaves here is an orphan. O_TRUNC only
     * meets such an orphan. fdatasync: the data and the size, which is what
     * the JSON that follows relies on; the entry is the directory's. */
    fd = open(fp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return RSP_ERR_IO;
    rc = write_all(fd, (const char *)p->package, p->package_len) == 0 && fdatasync(fd) == 0
             ? 0 : RSP_ERR_IO;
    if (close(fd) != 0)
        rc = RSP_ERR_IO;
    if (rc) {
        unlink(fp);
        return rc;
    }
    memcpy(p->pkg_sha256, md, sizeof(md));
    p->pkg_stored = 1;
    return 0;
}

void euicc_pkg_unlink(const char *path, struct euicc_state *st)
{
    struct euicc_profile tmp;
    char fp[4200];

    memset(&tmp, 0, sizeof(tmp));
    for (size_t i = 0; path && i < st->n_pkg_gone; i++) {
        memcpy(tmp.aid, st->pkg_gone[i].aid, sizeof(tmp.aid));
        tmp.aid_len = st->pkg_gone[i].len;
        /* a file left behind (a tear) is an orphan for the next open */
        if (pkg_path(path, &tmp, fp, sizeof(fp)) == 0 && unlink(fp) != 0 && errno != ENOENT)
            RSP_LOG(RSP_LOG_WARN, "euicc", "removing %s failed", fp);
    }
    st->n_pkg_gone = 0;
}

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

int euicc_state_load(const char *path, struct euicc_state *st)
{
    struct stat sb;
    json_error_t jerr;
    json_t *root = NULL;
    char *text = NULL;
    size_t got = 0;
    int fd, rc = RSP_ERR_IO;

    if (!path || !st)
        return RSP_ERR_INVAL;
    memset(st, 0, sizeof(*st));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return RSP_ERR_IO;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        goto out;
    if ((uint64_t)sb.st_size > STATE_FILE_MAX) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    text = malloc((size_t)sb.st_size + 1);
    if (!text) {
        rc = RSP_ERR_NOMEM;
        goto out;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, text + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    root = json_loadb(text, got, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = RSP_ERR_DECODE;
        goto out;
    }
    rc = state_from_json(path, root, st);
    if (rc == 0)
        otk_load(path, st);
out:
    if (rc)
        euicc_state_clear(st);
    json_decref(root);
    if (text) {
        OPENSSL_cleanse(text, got);
        free(text);
    }
    close(fd);
    return rc;
}
