/*
 * euicc_card.c - the card as a whole: creation from a PKI folder, open,
 * reset, commit of the state, fault injection, shared helpers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "euicc.private.h"
#include "rsp_err.h"
#include "rsp_log.h"
#include "rsp_util.h"
#include "rsp_x509.h"

#define LOG(level, ...) RSP_LOG(level, "euicc", __VA_ARGS__)

/*
 * ATR (ISO/IEC 7816-3 §8.2, ETSI TS 102 221 §6.3):
 *   3B        TS direct convention
 *   9F        T0: TA1 and TD1 follow, 15 historical bytes
 *   96        TA1: Fi = 512, Di = 32 (ETSI TS 102 221 §6.3.1 speed
 *             enhancement)
 *   80        TD1: TD2 follows, T=0
 *   1F        TD2: TA3 follows, T=15 (global interface bytes)
 *   C7        TA3: clock stop no preference, classes A, B and C
 *             (ETSI TS 102 221 §6.3.3 / §6.2.1)
 *   80 31 E0 73 FE 21 1B 64 52 53 50 31 82 90 00
 *             historical bytes, compact-TLV (ISO/IEC 7816-4 §8.1.1):
 *             category 80, card service data 31 E0, card capabilities
 *             73 FE 21 1B (logical channels assigned by the card, up
 *             to 4 in the basic CLA range, extended Lc not supported),
 *             pre-issuing data 64 "RSP1", status 82 9000
 *   A1        TCK: XOR of T0..last historical byte (ISO/IEC 7816-3
 *             §8.2.5, present because T=15 is indicated)
 */
static const uint8_t euicc_atr[] = {
    0x3B, 0x9F, 0x96, 0x80, 0x1F, 0xC7, 0x80, 0x31, 0xE0, 0x73, 0xFE,
    0x21, 0x1B, 0x64, 0x52, 0x53, 0x50, 0x31, 0x82, 0x90, 0x00, 0xA1,
};

/* Process-wide count of crash points, so EUICC_CRASH_AT=N means the N-th
 * point this process reaches whatever the number of cards. */
static long crash_total;

long euicc_crash_points_passed(void)
{
    return crash_total;
}

void euicc_crash_point(struct euicc *e, const char *where)
{
    e->crash_count++;
    crash_total++;
    if (e->crash_at > 0 && crash_total == e->crash_at) {
        LOG(RSP_LOG_INFO, "crash point %ld (%s): exiting", crash_total, where);
        _exit(99);
    }
}

int euicc_commit(struct euicc *e)
{
    int rc;

    euicc_crash_point(e, "commit:before");
    /* The whole state, packages included, into the slot it did not come
     * from, then one fdatasync (euicc_state.c). */
    rc = euicc_state_save_ex(e->path, &e->st, e->fault_save);
    e->fault_save = 0;
    if (rc == 0) {
        /* A version-1 state's package files are now in the state file
         * (a tear before this leaves orphans: euicc_open sweeps them). */
        int migrated = 0;
        for (size_t i = 0; i < e->st.n_profiles; i++) {
            migrated |= e->st.profiles[i].pkg_stored;
            e->st.profiles[i].pkg_stored = 0;
        }
        if (migrated)
            euicc_pkg_sweep(e->path, &e->st);
    }
    if (rc != 0) {
        LOG(RSP_LOG_ERROR, "saving %s: %s", e->path, rsp_strerror(rc));
        euicc_state_clear(&e->st);
        if (euicc_state_load(e->path, &e->st) != 0)
            LOG(RSP_LOG_ERROR, "reloading %s failed", e->path);
        return RSP_ERR_IO;
    }
    euicc_crash_point(e, "commit:after");
    return 0;
}

int euicc_commit_otk(struct euicc *e, const struct euicc_otk *k)
{
    struct euicc_otk n = *k;
    int rc;

    euicc_crash_point(e, "commit:before");
    n.present = 1;
    n.gen = e->st.otk_gen + 1;
    rc = euicc_otk_save_ex(e->path, &e->st, &n, e->fault_save);
    e->fault_save = 0;
    if (rc != 0) {
        LOG(RSP_LOG_ERROR, "saving the one-time key of %s: %s", e->path, rsp_strerror(rc));
        OPENSSL_cleanse(&n, sizeof(n));
        return RSP_ERR_IO;
    }
    OPENSSL_cleanse(&e->st.otk, sizeof(e->st.otk));
    e->st.otk = n;
    e->st.otk_gen = n.gen;
    OPENSSL_cleanse(&n, sizeof(n));
    euicc_crash_point(e, "commit:after");
    return 0;
}

/* ---- creation ------------------------------------------------------------ */

static const struct {
    int curve;
    const char *suffix;
} curves[] = {
    { RSP_CURVE_P256, "NIST" },
    { RSP_CURVE_BRAINPOOLP256R1, "BRP" },
};

static int path_join(char *out, size_t max, const char *dir, const char *sub,
                     const char *stem, const char *suffix, const char *ext)
{
    int n = snprintf(out, max, "%s/%s/%s_%s.%s", dir, sub, stem, suffix, ext);
    return n < 0 || (size_t)n >= max ? RSP_ERR_INVAL : 0;
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static int read_small(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p;
    size_t n;

    *out = NULL;
    *len = 0;
    if (!f)
        return RSP_ERR_IO;
    p = malloc(65536);
    if (!p) {
        fclose(f);
        return RSP_ERR_NOMEM;
    }
    n = fread(p, 1, 65536, f);
    if (ferror(f) || n == 65536 || n == 0) {
        fclose(f);
        OPENSSL_cleanse(p, 65536);
        free(p);
        return RSP_ERR_IO;
    }
    fclose(f);
    *out = p;
    *len = n;
    return 0;
}

static int der_copy(X509 *c, uint8_t **out, size_t *len)
{
    struct rsp_buf b;
    int rc;

    rsp_buf_init(&b, 8192);
    rc = rsp_x509_to_der(c, &b);
    if (rc == 0)
        *out = rsp_buf_steal(&b, len);
    rsp_buf_free(&b);
    return rc;
}

/* Load one credential (eUICC cert + key, with EUM of the same curve from
 * the PKI folder), verify the chain up to a CI of store. */
static int load_cred(const struct rsp_x509_store *store, const char *pki,
                     const char *cert_path, const char *key_path,
                     struct euicc_cred *c, char *eid)
{
    char eum_path[4096];
    X509 *leaf = NULL, *eum = NULL;
    EVP_PKEY *sk = NULL, *pk = NULL;
    uint8_t *pem = NULL, pt1[RSP_EC_POINT_LEN], pt2[RSP_EC_POINT_LEN];
    size_t pem_len = 0;
    struct rsp_x509_chain_info info;
    int curve, rc;

    if ((rc = rsp_x509_load_file(cert_path, &leaf)))
        goto out;
    curve = rsp_x509_get_curve(leaf);
    rc = RSP_ERR_CERT;
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
        if (curves[i].curve == curve)
            rc = path_join(eum_path, sizeof(eum_path), pki, "EUM", "CERT_EUM_ECDSA",
                           curves[i].suffix, "der");
    if (rc)
        goto out;
    if ((rc = rsp_x509_load_file(eum_path, &eum)))
        goto out;
    /* The eUICC has no reliable clock: validity periods are the SM-DP+'s
     * and the LPA's business (SGP.22 §4.5.2.2 is about the chain). */
    if ((rc = rsp_x509_verify(store, RSP_X509_ROLE_EUICC, leaf, &eum, 1,
                              RSP_X509_NO_TIME, &info))) {
        LOG(RSP_LOG_ERROR, "%s does not verify: %s", cert_path, rsp_strerror(rc));
        goto out;
    }
    if ((rc = read_small(key_path, &pem, &pem_len)) ||
        (rc = rsp_ec_key_from_pem(pem, pem_len, &sk)) ||
        (rc = rsp_x509_get_pubkey(leaf, &pk)) ||
        (rc = rsp_ec_pubkey_to_point(sk, pt1)) ||
        (rc = rsp_ec_pubkey_to_point(pk, pt2)))
        goto out;
    if (memcmp(pt1, pt2, sizeof(pt1)) != 0) {
        LOG(RSP_LOG_ERROR, "%s does not match %s", key_path, cert_path);
        rc = RSP_ERR_CERT;
        goto out;
    }
    if ((rc = rsp_ec_key_to_scalar(sk, c->sk)) ||
        (rc = der_copy(leaf, &c->euicc_cert, &c->euicc_cert_len)) ||
        (rc = der_copy(eum, &c->eum_cert, &c->eum_cert_len)))
        goto out;
    c->curve = info.curve;
    if (info.ci_pkid_len > sizeof(c->ci_pkid)) {
        rc = RSP_ERR_CERT;
        goto out;
    }
    memcpy(c->ci_pkid, info.ci_pkid, info.ci_pkid_len);
    c->ci_pkid_len = info.ci_pkid_len;
    memcpy(eid, info.eid, 33);
out:
    if (pem) {
        OPENSSL_cleanse(pem, pem_len);
        free(pem);
    }
    EVP_PKEY_free(sk);
    EVP_PKEY_free(pk);
    X509_free(leaf);
    X509_free(eum);
    return rc;
}

static int add_cis(struct euicc_state *st, struct rsp_x509_store *store, const char *pki)
{
    char path[4096];
    int rc;

    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        struct euicc_ci *ci = &st->cis[st->n_cis];
        X509 *x = NULL;
        int n;

        if ((rc = path_join(path, sizeof(path), pki, "CertificateIssuer", "CERT_CI_ECDSA",
                            curves[i].suffix, "der")))
            return rc;
        if (!file_exists(path))
            continue;
        if ((rc = rsp_x509_load_file(path, &x)))
            return rc;
        rc = rsp_x509_store_add(store, x);
        if (rc == 0 && (n = rsp_x509_get_ski(x, ci->pkid, sizeof(ci->pkid))) > 0)
            ci->pkid_len = (size_t)n;
        else if (rc == 0)
            rc = RSP_ERR_CERT;
        if (rc == 0)
            rc = der_copy(x, &ci->cert, &ci->cert_len);
        X509_free(x);
        if (rc)
            return rc;
        st->n_cis++;
    }
    return st->n_cis ? 0 : RSP_ERR_CERT;
}

int euicc_create(const char *path, const struct euicc_identity *id)
{
    struct euicc_state st;
    struct rsp_x509_store *store = NULL;
    char cert[4096], key[4096], eid[33];
    int rc;

    if (!path || !id || !id->pki_dir || (!id->euicc_cert_path != !id->euicc_key_path))
        return RSP_ERR_INVAL;
    if (id->default_dp && strlen(id->default_dp) > EUICC_ADDR_MAX)
        return RSP_ERR_INVAL;
    if (file_exists(path)) {
        LOG(RSP_LOG_ERROR, "%s exists", path);
        return RSP_ERR_IO;
    }
    memset(&st, 0, sizeof(st));
    if ((rc = rsp_x509_store_new(&store)) || (rc = add_cis(&st, store, id->pki_dir)))
        goto out;
    if (id->euicc_cert_path) {
        if ((rc = load_cred(store, id->pki_dir, id->euicc_cert_path, id->euicc_key_path,
                            &st.creds[0], st.eid)))
            goto out;
        st.n_creds = 1;
    } else {
        for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
            if ((rc = path_join(cert, sizeof(cert), id->pki_dir, "eUICC", "CERT_EUICC_ECDSA",
                                curves[i].suffix, "der")) ||
                (rc = path_join(key, sizeof(key), id->pki_dir, "eUICC", "SK_EUICC_ECDSA",
                                curves[i].suffix, "pem")))
                goto out;
            if (!file_exists(cert))
                continue;
            if ((rc = load_cred(store, id->pki_dir, cert, key, &st.creds[st.n_creds], eid)))
                goto out;
            if (st.n_creds && strcmp(eid, st.eid) != 0) {
                LOG(RSP_LOG_ERROR, "eUICC certificates name two EIDs");
                rc = RSP_ERR_CERT;
                goto out;
            }
            memcpy(st.eid, eid, sizeof(st.eid));
            st.n_creds++;
        }
    }
    if (st.n_creds == 0) {
        rc = RSP_ERR_CERT;
        goto out;
    }
    if (id->default_dp)
        strcpy(st.default_dp, id->default_dp);
    st.next_seq = 1;
    st.next_isdp = 1;
    /* the one-time key sidecar, empty (one left by an earlier card on
     * this path is not ours); then the two-slot state file, its slots
     * allocated now, so that every later commit overwrites in place (a
     * card's NVM exists before its first use) */
    if ((rc = euicc_otk_reset(path)) == 0)
        rc = euicc_state_save(path, &st);
out:
    euicc_state_clear(&st);
    rsp_x509_store_free(store);
    return rc;
}

/* ---- the card ------------------------------------------------------------ */

int euicc_open(const char *path, struct euicc **out)
{
    struct euicc *e;
    const char *env;
    int rc;

    if (!path || !out)
        return RSP_ERR_INVAL;
    *out = NULL;
    e = calloc(1, sizeof(*e));
    if (!e)
        return RSP_ERR_NOMEM;
    e->path = strdup(path);
    if (!e->path) {
        free(e);
        return RSP_ERR_NOMEM;
    }
    if ((rc = euicc_state_load(path, &e->st))) {
        free(e->path);
        free(e);
        return rc;
    }
    /* package files of a version-1 state no profile names: a delete's,
     * or all of them once a commit moved them into the two-slot file */
    euicc_pkg_sweep(path, &e->st);
    if ((rc = euicc_cache_build(e))) {
        euicc_cache_free(e);
        euicc_state_clear(&e->st);
        free(e->path);
        free(e);
        return rc;
    }
    env = getenv("EUICC_FAULT");
    if (env && *env && euicc_fault_set(e, env) != 0)
        LOG(RSP_LOG_WARN, "EUICC_FAULT=%s not understood, ignored", env);
    env = getenv("EUICC_CRASH_AT");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == 0 && v > 0)
            e->crash_at = v;
    }
    euicc_channels_init(e);
    *out = e;
    return 0;
}

int euicc_fault_set(struct euicc *e, const char *spec)
{
    long crash_at = 0;
    unsigned sw = 0, save = 0;
    uint32_t tag = 0;
    char buf[256], *item, *save_ptr = NULL;

    if (!e)
        return RSP_ERR_INVAL;
    if (spec && strlen(spec) >= sizeof(buf))
        return RSP_ERR_INVAL;
    snprintf(buf, sizeof(buf), "%s", spec ? spec : "");
    for (item = strtok_r(buf, ",", &save_ptr); item; item = strtok_r(NULL, ",", &save_ptr)) {
        char *end;
        if (strncmp(item, "crash=", 6) == 0) {
            long v = strtol(item + 6, &end, 10);
            if (*end || v <= 0 || item[6] == 0)
                return RSP_ERR_INVAL;
            crash_at = euicc_crash_points_passed() + v;
        } else if (strncmp(item, "sw=", 3) == 0) {
            unsigned long v = strtoul(item + 3, &end, 16);
            if (end != item + 7 || v < 0x6000 || v > 0x9FFF)
                return RSP_ERR_INVAL;
            sw = (unsigned)v;
            if (*end == '@') {
                unsigned long t = strtoul(end + 1, &end, 16);
                if (*end || t == 0 || t > 0xFFFF)
                    return RSP_ERR_INVAL;
                tag = (uint32_t)t;
            } else if (*end) {
                return RSP_ERR_INVAL;
            }
        } else if (strcmp(item, "savefail") == 0) {
            save |= EUICC_SAVE_FAIL;
        } else if (strcmp(item, "dirsync") == 0) {
            save |= EUICC_SAVE_DIRSYNC;
        } else {
            return RSP_ERR_INVAL;
        }
    }
    e->crash_at = crash_at;
    e->fault_sw = sw;
    e->fault_sw_tag = tag;
    e->fault_save = save;
    return 0;
}

int euicc_cache_build(struct euicc *e)
{
    struct euicc_cache *c = &e->cache;
    int rc = rsp_x509_store_new(&c->ci_store);

    for (size_t i = 0; rc == 0 && i < e->st.n_cis; i++)
        rc = rsp_x509_store_add_der(c->ci_store, e->st.cis[i].cert, e->st.cis[i].cert_len);
    for (size_t i = 0; rc == 0 && i < e->st.n_creds; i++)
        rc = rsp_ec_key_from_scalar(e->st.creds[i].curve, e->st.creds[i].sk, &c->cred_key[i]);
    if (rc)
        LOG(RSP_LOG_ERROR, "%s: credentials unusable: %s", e->path, rsp_strerror(rc));
    return rc == 0 || rc == RSP_ERR_NOMEM ? rc : RSP_ERR_DECODE;
}

void euicc_cache_free(struct euicc *e)
{
    rsp_x509_store_free(e->cache.ci_store);
    for (size_t i = 0; i < EUICC_MAX_CREDS; i++)
        EVP_PKEY_free(e->cache.cred_key[i]);
    memset(&e->cache, 0, sizeof(e->cache));
}

void euicc_session_clear(struct euicc_session *s)
{
    EVP_PKEY_free(s->dp_pb);
    EVP_PKEY_free(s->ot_sk);
    rsp_bsp_wipe(&s->bsp);
    rsp_bsp_ctx_free(s->bspc);
    euicc_profile_clear(&s->pending);
    rsp_buf_free(&s->pe_data);
    OPENSSL_cleanse(s, sizeof(*s));
    memset(s, 0, sizeof(*s));
}

void euicc_free(struct euicc *e)
{
    if (!e)
        return;
    euicc_channels_free(e);
    euicc_session_clear(&e->sess);
    euicc_cache_free(e);
    euicc_state_clear(&e->st);
    free(e->path);
    free(e);
}

int euicc_reset(struct euicc *e, uint8_t *atr, size_t *atr_len)
{
    if (!e || !atr || !atr_len)
        return RSP_ERR_INVAL;
    euicc_channels_free(e);
    euicc_channels_init(e);
    euicc_session_clear(&e->sess);
    memcpy(atr, euicc_atr, sizeof(euicc_atr));
    *atr_len = sizeof(euicc_atr);
    return 0;
}

int euicc_transmit(struct euicc *e, const uint8_t *capdu, size_t clen,
                   uint8_t *rapdu, size_t *rlen)
{
    if (!e || !capdu || !rapdu || !rlen)
        return RSP_ERR_INVAL;
    return euicc_apdu_process(e, capdu, clen, rapdu, rlen);
}

/* ---- helpers ------------------------------------------------------------- */

int euicc_cred_key(const struct euicc *e, size_t i, EVP_PKEY **out)
{
    if (!e || !out || i >= e->st.n_creds || !e->cache.cred_key[i])
        return RSP_ERR_INVAL;
    if (!EVP_PKEY_up_ref(e->cache.cred_key[i]))
        return RSP_ERR_CRYPTO;
    *out = e->cache.cred_key[i];
    return 0;
}

int euicc_find_profile_by_aid(const struct euicc *e, const uint8_t *aid, size_t len)
{
    for (size_t i = 0; i < e->st.n_profiles; i++)
        if (e->st.profiles[i].aid_len == len && memcmp(e->st.profiles[i].aid, aid, len) == 0)
            return (int)i;
    return -1;
}

int euicc_find_profile_by_iccid(const struct euicc *e, const char *iccid)
{
    for (size_t i = 0; i < e->st.n_profiles; i++)
        if (strcmp(e->st.profiles[i].iccid, iccid) == 0)
            return (int)i;
    return -1;
}

static void print_hex(FILE *out, const char *label, const uint8_t *p, size_t n)
{
    fprintf(out, "%s", label);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%02X", p[i]);
    fprintf(out, "\n");
}

int euicc_state_print(const struct euicc *e, FILE *out)
{
    const struct euicc_state *st;

    if (!e || !out)
        return RSP_ERR_INVAL;
    st = &e->st;
    fprintf(out, "EID: %s\n", st->eid);
    fprintf(out, "default SM-DP+: %s\n", st->default_dp[0] ? st->default_dp : "(none)");
    fprintf(out, "root SM-DS: %s\n", st->root_ds[0] ? st->root_ds : "(none)");
    for (size_t i = 0; i < st->n_creds; i++) {
        fprintf(out, "credential %zu: %s, cert %zu bytes, ", i,
                rsp_curve_name(st->creds[i].curve) ? rsp_curve_name(st->creds[i].curve) : "?",
                st->creds[i].euicc_cert_len);
        print_hex(out, "CI PKID ", st->creds[i].ci_pkid, st->creds[i].ci_pkid_len);
    }
    for (size_t i = 0; i < st->n_cis; i++) {
        fprintf(out, "CI %zu: ", i);
        print_hex(out, "PKID ", st->cis[i].pkid, st->cis[i].pkid_len);
    }
    fprintf(out, "profiles: %zu\n", st->n_profiles);
    for (size_t i = 0; i < st->n_profiles; i++) {
        const struct euicc_profile *p = &st->profiles[i];
        fprintf(out, "  ICCID %s %s nickname \"%s\" ", p->iccid,
                p->state == EUICC_PROFILE_ENABLED ? "enabled" : "disabled", p->nickname);
        print_hex(out, "AID ", p->aid, p->aid_len);
    }
    fprintf(out, "notifications: %zu (next seq %u)\n", st->n_notifs, st->next_seq);
    for (size_t i = 0; i < st->n_notifs; i++)
        fprintf(out, "  seq %u event %u ICCID %s -> %s\n", st->notifs[i].seq,
                st->notifs[i].event, st->notifs[i].iccid[0] ? st->notifs[i].iccid : "-",
                st->notifs[i].address);
    if (st->slot_size)
        fprintf(out, "state file: two slots of %zu bytes, generation %llu in slot %u\n",
                st->slot_size, (unsigned long long)st->slot_gen, st->slot);
    else
        fprintf(out, "state file: version 1 (JSON), converted by the next commit\n");
    return 0;
}

/* See euicc.h. */
int euicc_es10(struct euicc *e, const uint8_t *cmd, size_t len, uint8_t **resp,
               size_t *resp_len, uint16_t *sw)
{
    uint8_t c[5 + 255], r[EUICC_RAPDU_MAX];
    size_t off = 0, rlen = 0, block = 0;
    struct rsp_buf out;
    int rc = 0;

    if (!e || !resp || !resp_len || !sw || (!cmd && len))
        return RSP_ERR_INVAL;
    *resp = NULL;
    *resp_len = 0;
    *sw = 0;
    rsp_buf_init(&out, 1u << 20);
    do {
        size_t n = len - off > 255 ? 255 : len - off;
        int last = off + n == len;

        c[0] = 0x80;
        c[1] = 0xE2;
        c[2] = last ? 0x91 : 0x11;
        c[3] = (uint8_t)block++;
        c[4] = (uint8_t)n;
        if (n)
            memcpy(c + 5, cmd + off, n);
        off += n;
        if ((rc = euicc_transmit(e, c, 5 + n, r, &rlen)) != 0)
            goto out;
        *sw = (uint16_t)((r[rlen - 2] << 8) | r[rlen - 1]);
        if (!last && *sw != 0x9000)
            goto out;   /* the card refused an intermediate block */
    } while (off < len);
    for (;;) {
        if (rlen > 2 && (rc = rsp_buf_append(&out, r, rlen - 2)) != 0)
            goto out;
        if ((*sw >> 8) != 0x61)
            break;
        c[0] = 0x00;
        c[1] = 0xC0;
        c[2] = 0x00;
        c[3] = 0x00;
        c[4] = (uint8_t)(*sw & 0xFF);
        if ((rc = euicc_transmit(e, c, 5, r, &rlen)) != 0)
            goto out;
        *sw = (uint16_t)((r[rlen - 2] << 8) | r[rlen - 1]);
    }
    *resp = rsp_buf_steal(&out, resp_len);
out:
    rsp_buf_free(&out);
    return rc;
}
