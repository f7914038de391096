/*
 * test_euicc_tear.c - tear (power loss / kill -9) tests of the eUICC state.
 *
 * For enable, disable and delete: a forked child opens the card, arms
 * EUICC_CRASH_AT at the N-th crash point from now (the counter is
 * process-wide and inherited by fork), sends the ES10c command through
 * APDUs and exits. The parent (only it asserts) reopens the card and checks
 * the state is exactly the old one or exactly the new one (profiles:
 * ICCID + state; notifications: seq, event, ICCID; next seq).
 * The state file is two slots written in turn (euicc_state.c): a torn slot
 * write (garbled, cut, half old and half new) falls back to the other slot,
 * the state before; both slots damaged, a changed size or a damaged
 * identity region: the card does not open.
 * LoadBoundProfilePackage: the same at every crash point of a whole TS.48
 * download (tests/euicc_dp.c plays the SM-DP+). The commit contract under
 * injected save faults (euicc_fault_set).
 * Download retry (SGP.22 §3.1.3, §5.7.14 bppEuiccOtpk): a tear at every
 * crash point from PrepareDownload to the end of the install, then a
 * restarted card and a retry naming the otPK the first PrepareDownload
 * answered: the card answers the same otPK and the BPP bound to it installs.
 */
#define _GNU_SOURCE   /* memmem */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "euicc.private.h"
#include "euicc_dp.h"
#include "euicc_fixture.h"
#include "rsp_asn1.h"
#include "rsp_err.h"
#include "rsp_test.h"
#include "rsp_util.h"

#include "NotificationConfigurationInformation.h"
#include "StoreMetadataRequest.h"

#define ICCID_A "8944476500000000017"
#define ICCID_B "8944476500000000025"
#define NOTIF_ADDR "notif.example.test"
/* NotificationEvent: install(0) enable(1) disable(2) delete(3) */
#define ALL_EVENTS 0x0Fu
#define MAX_TEARS 32

/* What must be all-old or all-new. */
struct snap {
    size_t n_profiles;
    struct { char iccid[21]; int state; size_t n_pes, package_len; } p[EUICC_MAX_PROFILES];
    size_t n_notifs;
    struct { uint32_t seq, event; char iccid[21]; } n[EUICC_MAX_NOTIFS];
    uint32_t next_seq, next_isdp;
};

static void snap_take(const struct euicc *e, struct snap *s)
{
    memset(s, 0, sizeof(*s));
    s->n_profiles = e->st.n_profiles;
    for (size_t i = 0; i < e->st.n_profiles; i++) {
        memcpy(s->p[i].iccid, e->st.profiles[i].iccid, sizeof(s->p[i].iccid));
        s->p[i].state = e->st.profiles[i].state;
        s->p[i].n_pes = e->st.profiles[i].n_pes;
        s->p[i].package_len = e->st.profiles[i].package_len;
    }
    s->n_notifs = e->st.n_notifs;
    for (size_t i = 0; i < e->st.n_notifs; i++) {
        s->n[i].seq = e->st.notifs[i].seq;
        s->n[i].event = e->st.notifs[i].event;
        memcpy(s->n[i].iccid, e->st.notifs[i].iccid, sizeof(s->n[i].iccid));
    }
    s->next_seq = e->st.next_seq;
    s->next_isdp = e->st.next_isdp;
}

static int snap_eq(const struct snap *a, const struct snap *b)
{
    if (a->n_profiles != b->n_profiles || a->n_notifs != b->n_notifs ||
        a->next_seq != b->next_seq || a->next_isdp != b->next_isdp)
        return 0;
    for (size_t i = 0; i < a->n_profiles; i++)
        if (strcmp(a->p[i].iccid, b->p[i].iccid) || a->p[i].state != b->p[i].state ||
            a->p[i].n_pes != b->p[i].n_pes || a->p[i].package_len != b->p[i].package_len)
            return 0;
    for (size_t i = 0; i < a->n_notifs; i++)
        if (a->n[i].seq != b->n[i].seq || a->n[i].event != b->n[i].event ||
            strcmp(a->n[i].iccid, b->n[i].iccid))
            return 0;
    return 1;
}

static void snap_print(const char *label, const struct snap *s)
{
    fprintf(stderr, "    %s: %zu profiles:", label, s->n_profiles);
    for (size_t i = 0; i < s->n_profiles; i++)
        fprintf(stderr, " %s=%s", s->p[i].iccid, s->p[i].state ? "enabled" : "disabled");
    fprintf(stderr, "; %zu notifs:", s->n_notifs);
    for (size_t i = 0; i < s->n_notifs; i++)
        fprintf(stderr, " #%u ev%u %s", s->n[i].seq, s->n[i].event, s->n[i].iccid);
    fprintf(stderr, "; next seq %u, next ISD-P %u\n", s->next_seq, s->next_isdp);
}

/* Add a profile with a notification configuration for every event. */
static void add_profile(struct euicc *e, const char *iccid, uint8_t aid_last, int state)
{
    const struct euicc_fixture_profile p = {
        .iccid = iccid, .aid_last = aid_last, .state = state, .cls = 2,
        .events = ALL_EVENTS, .notif_addr = NOTIF_ADDR,
    };
    euicc_fixture_add_profile(e, &p);
}

/* "BF3x LL [A0 0C] 5A0A <iccid> [81 01 FF]" */
static void cmd_for(char *out, size_t max, const char *tag, const char *iccid, int refresh)
{
    uint8_t b[10];
    char h[21];

    CU_ASSERT_RC(rsp_iccid_to_bcd(iccid, 1, b), 0);
    rsp_hex_encode(b, sizeof(b), h);
    if (refresh)
        snprintf(out, max, "%s11A00C5A0A%s8101FF", tag, h);
    else
        snprintf(out, max, "%s0C5A0A%s", tag, h);
}

/* Send cmd; 0 when the card answered 9000 with result ok (tag 03 80 01 00). */
static int do_op(struct euicc_fixture *f, const char *cmd)
{
    uint8_t *r = NULL;
    size_t n = 0;
    uint16_t sw = 0;
    int rc = euicc_fixture_es10_hex(f, cmd, &r, &n, &sw);

    if (rc == 0 && (sw != 0x9000 || n != 6 || r[3] != 0x80 || r[4] != 0x01 || r[5] != 0))
        rc = -1;
    free(r);
    return rc;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    int ok;

    if (!fp)
        return -1;
    ok = fwrite(p, 1, n, fp) == n;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

/* Open the state file directly (it must parse) and snapshot it. */
static int snap_file(const char *path, struct snap *s)
{
    struct euicc *e = NULL;
    int rc = euicc_open(path, &e);

    if (rc == 0)
        snap_take(e, s);
    euicc_free(e);
    return rc;
}

/* The work of a tear child at crash point n: never returns, never asserts. */
typedef void tear_child_fn(struct euicc_fixture *f, long n, const void *arg);

/* Child of the ES10c tear loop: the command arg (hex) with the crash armed n
 * points after those passed so far. */
static void child(struct euicc_fixture *f, long n, const void *arg)
{
    const char *cmd = arg;
    char v[32];
    int rc;

    snprintf(v, sizeof(v), "%ld", euicc_crash_points_passed() + n);
    setenv("EUICC_CRASH_AT", v, 1);
    f->card = NULL;               /* the parent's copy; not ours to free */
    rc = euicc_fixture_reopen(f);
    if (rc == 0)
        rc = do_op(f, cmd);
    _exit(rc == 0 ? 0 : 3);
}

/* One tear at point n: put old_file back as the state file, reopen, run fn
 * in a child that the crash point may kill (exit 99) and wait for it.
 * Returns 1 when the child ran through (exit 0), 0 when it was torn. */
static int tear_once(struct euicc_fixture *f, const uint8_t *old_file, size_t old_len, long n,
                     tear_child_fn *fn, const void *arg, const char *what)
{
    pid_t pid;
    int status = 0;

    CU_ASSERT_FATAL(write_file(f->state_path, old_file, old_len) == 0);
    CU_ASSERT_RC(euicc_fixture_reopen(f), 0);
    fflush(NULL);
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0)
        fn(f, n, arg);
    CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
    CU_ASSERT_FATAL(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 99)
        fprintf(stderr, "\n  %s tear %ld: child exit %d\n", what, n, WEXITSTATUS(status));
    CU_ASSERT_FATAL(WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 99);
    return WEXITSTATUS(status) == 0;
}

/* After the tear at point n: the state file parses and is exactly OLD or
 * exactly NEW (NEW when done), never a mix; the torn runs that left OLD are
 * counted in *n_old, NEW in *n_new. What is left behind must not break the
 * next open. */
static void tear_verdict(struct euicc_fixture *f, const char *what, long n, int done,
                         const struct snap *old, const struct snap *neu, int *n_old, int *n_new)
{
    struct snap got;
    int is_old, is_new;

    CU_ASSERT_RC(snap_file(f->state_path, &got), 0);
    is_old = snap_eq(&got, old);
    is_new = snap_eq(&got, neu);
    if (done ? !is_new : !(is_old || is_new)) {
        fprintf(stderr, "\n  %s tear at point %ld (%s): mixed state\n", what, n,
                done ? "completed" : "crashed");
        snap_print("got", &got);
        snap_print("old", old);
        snap_print("new", neu);
    }
    CU_ASSERT(done ? is_new : (is_old || is_new));
    *n_old += !done && is_old;
    *n_new += !done && is_new;
    CU_ASSERT_RC(euicc_fixture_reopen(f), 0);
}

enum op { OP_ENABLE, OP_DISABLE, OP_DELETE };

/* Card with A enabled, B disabled; the operation's command in cmd. */
static void tear_loop(enum op op)
{
    struct euicc_fixture f;
    struct snap old, neu;
    char cmd[128], what[32];
    uint8_t *old_file;
    size_t old_len;
    int n_old = 0, n_new = 0, done = 0;

    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    add_profile(f.card, ICCID_A, 0x01, EUICC_PROFILE_ENABLED);
    add_profile(f.card, ICCID_B, 0x02, EUICC_PROFILE_DISABLED);
    if (op == OP_ENABLE)
        cmd_for(cmd, sizeof(cmd), "BF31", ICCID_B, 1);
    else if (op == OP_DISABLE)
        cmd_for(cmd, sizeof(cmd), "BF32", ICCID_A, 1);
    else
        cmd_for(cmd, sizeof(cmd), "BF33", ICCID_B, 0);

    /* reference: OLD, then NEW by running the operation here */
    snap_take(f.card, &old);
    old_file = test_read_file(f.state_path, &old_len);
    CU_ASSERT_FATAL(old_file != NULL);
    CU_ASSERT_RC(do_op(&f, cmd), 0);
    snap_take(f.card, &neu);
    if (snap_eq(&old, &neu)) {
        fprintf(stderr, "\n  operation %d changed nothing\n", (int)op);
        snap_print("state", &old);
    }
    CU_ASSERT_FATAL(!snap_eq(&old, &neu));
    if (op != OP_DELETE) /* enable/disable queue a notification */
        CU_ASSERT(neu.n_notifs > old.n_notifs);

    snprintf(what, sizeof(what), "op %d", (int)op);
    for (long n = 1; n <= MAX_TEARS && !done; n++) {
        done = tear_once(&f, old_file, old_len, n, child, cmd, what);
        tear_verdict(&f, what, n, done, &old, &neu, &n_old, &n_new);
    }
    if (!done)
        fprintf(stderr, "\n  op %d never completed in %d tears\n", (int)op, MAX_TEARS);
    CU_ASSERT(done);
    /* the documented points: before the save (OLD) and after it (NEW) */
    if (n_old < 1 || n_new < 1)
        fprintf(stderr, "\n  op %d: %d tears gave OLD, %d gave NEW; want >= 1 each\n",
                (int)op, n_old, n_new);
    CU_ASSERT(n_old >= 1);
    CU_ASSERT(n_new >= 1);
    free(old_file);
    euicc_fixture_close(&f);
}

static void test_tear_enable(void) { tear_loop(OP_ENABLE); }
static void test_tear_disable(void) { tear_loop(OP_DISABLE); }
static void test_tear_delete(void) { tear_loop(OP_DELETE); }

/* Open the state image img (written as the whole file) and snapshot it;
 * the rc of euicc_open. */
static int snap_image(const char *path, const uint8_t *img, size_t len, struct snap *s)
{
    if (write_file(path, img, len) != 0)
        return RSP_ERR_IO;
    return snap_file(path, s);
}

/* A tear inside the in-place slot write (what a power cut can leave of
 * it): the other slot, the state before, is what opens. */
static void test_tear_slot(void)
{
    struct euicc_fixture f;
    struct euicc *e = NULL;
    struct snap old, neu, got;
    char cmd[128];
    uint8_t *o, *n, *t;
    size_t olen, nlen, at, ss;
    unsigned slot;
    uint64_t gen;

    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    add_profile(f.card, ICCID_A, 0x01, EUICC_PROFILE_ENABLED);
    add_profile(f.card, ICCID_B, 0x02, EUICC_PROFILE_DISABLED);
    snap_take(f.card, &old);
    o = test_read_file(f.state_path, &olen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    gen = f.card->st.slot_gen;
    slot = f.card->st.slot;
    ss = f.card->st.slot_size;
    CU_ASSERT_FATAL(ss >= 256u * 1024 && f.card->st.ident_size > 0);
    CU_ASSERT_EQUAL(olen, f.card->st.ident_size + 2 * ss);

    /* one commit: the other slot, the next generation, size unchanged */
    cmd_for(cmd, sizeof(cmd), "BF32", ICCID_A, 1);
    CU_ASSERT_RC(do_op(&f, cmd), 0);
    snap_take(f.card, &neu);
    CU_ASSERT_EQUAL(f.card->st.slot, slot ^ 1u);
    CU_ASSERT(f.card->st.slot_gen == gen + 1);
    n = test_read_file(f.state_path, &nlen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT_EQUAL_FATAL(nlen, olen);
    at = f.card->st.ident_size + (slot ^ 1u) * ss;
    /* only the written slot changed */
    CU_ASSERT(memcmp(o, n, at) == 0);
    CU_ASSERT(memcmp(o + at + ss, n + at + ss, nlen - at - ss) == 0);
    t = malloc(nlen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);

    /* intact: NEW */
    CU_ASSERT_RC(snap_image(f.state_path, n, nlen, &got), 0);
    CU_ASSERT(snap_eq(&got, &neu));
    for (int v = 0; v < 5; v++) {
        memcpy(t, n, nlen);
        if (v == 0)
            t[at + 30] ^= 0x01;                       /* header */
        else if (v == 1)
            t[at + 200] ^= 0x40;                      /* JSON */
        else if (v == 2)                              /* first sector new, rest old */
            memcpy(t + at + 512, o + at + 512, ss - 512);
        else if (v == 3)                              /* cut short */
            memset(t + at + 1024, 0, ss - 1024);
        else                                          /* header old, rest new */
            memcpy(t + at, o + at, 512);
        CU_ASSERT_RC(snap_image(f.state_path, t, nlen, &got), 0);
        if (!snap_eq(&got, &old)) {
            fprintf(stderr, "\n  torn slot variant %d did not give OLD\n", v);
            snap_print("got", &got);
            snap_print("old", &old);
        }
        CU_ASSERT(snap_eq(&got, &old));
    }
    /* after a fallback the next commit goes over the torn slot */
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    CU_ASSERT_EQUAL(f.card->st.slot, slot);
    CU_ASSERT_RC(do_op(&f, cmd), 0);
    CU_ASSERT_EQUAL(f.card->st.slot, slot ^ 1u);
    CU_ASSERT_RC(snap_file(f.state_path, &got), 0);
    CU_ASSERT(snap_eq(&got, &neu));

    /* both slots damaged, size changed, identity damaged: no card */
    memcpy(t, n, nlen);
    t[at + 300] ^= 0x01;
    t[f.card->st.ident_size + slot * ss + 300] ^= 0x01;
    CU_ASSERT_RC(snap_image(f.state_path, t, nlen, &got), RSP_ERR_DECODE);
    CU_ASSERT_RC(snap_image(f.state_path, n, nlen - 4096, &got), RSP_ERR_DECODE);
    CU_ASSERT_FATAL(write_file(f.state_path, n, nlen) == 0);
    {
        FILE *fp = fopen(f.state_path, "ab");
        CU_ASSERT_FATAL(fp != NULL);
        fputc(0, fp);
        fclose(fp);
    }
    CU_ASSERT_RC(euicc_open(f.state_path, &e), RSP_ERR_DECODE);
    CU_ASSERT_PTR_NULL(e);
    memcpy(t, n, nlen);
    t[300] ^= 0x01;
    CU_ASSERT_RC(snap_image(f.state_path, t, nlen, &got), RSP_ERR_DECODE);
    CU_ASSERT_RC(snap_image(f.state_path, n, nlen, &got), 0);
    free(t);
    free(o);
    free(n);
    euicc_fixture_close(&f);
}

/* Child of the install tear loop: the whole download of arg (AuthenticateServer,
 * PrepareDownload, every BPP segment) with crash=n armed through
 * euicc_fault_set. Never returns, never asserts. */
struct install_job {
    struct euicc_dp *d;
    const uint8_t *upp;
    size_t len;
    const char *iccid;
};

static void child_install(struct euicc_fixture *f, long n, const void *arg)
{
    const struct install_job *j = arg;
    struct euicc_dp_pir p;
    char v[32];
    int rc;

    f->card = NULL;               /* the parent's copy; not ours to free */
    rc = euicc_fixture_reopen(f);
    snprintf(v, sizeof(v), "crash=%ld", n);
    if (rc == 0)
        rc = euicc_fault_set(f->card, v);
    if (rc == 0)
        rc = euicc_dp_run(f, j->d, j->upp, j->len, j->iccid, DP_F_NONE, 0, &p);
    _exit(rc == 0 && p.ok ? 0 : 3);
}

/* A tear at every crash point of a TS.48 install (ISD-P creation, metadata,
 * each 86 segment, PIR queued, commit): the state is the old one (no new
 * profile, no ISD-P, no notification, counters unchanged) or the new one
 * (the whole profile and its install notification), never a mix. */
static void test_tear_install(void)
{
    struct euicc_fixture f;
    struct euicc_dp d;
    struct euicc_dp_pir pir;
    struct snap old, neu;
    struct install_job job;
    char iccid[21];
    uint8_t *upp, *old_file;
    size_t upp_len, old_len;
    int n_old = 0, n_new = 0, done = 0;
    long n;

    upp = euicc_dp_read_profile("TS48v2_SAIP2.3_NoBERTLV.der", &upp_len, iccid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(upp);
    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    CU_ASSERT_FATAL(euicc_dp_load(&d, euicc_fixture_pki_dir(), "NIST", 0) == 0);
    add_profile(f.card, ICCID_A, 0x01, EUICC_PROFILE_ENABLED);
    job = (struct install_job){ &d, upp, upp_len, iccid };
    snap_take(f.card, &old);
    old_file = test_read_file(f.state_path, &old_len);
    CU_ASSERT_FATAL(old_file != NULL);

    /* NEW: the install done here */
    CU_ASSERT_RC(euicc_dp_run(&f, &d, upp, upp_len, iccid, DP_F_NONE, 0, &pir), 0);
    CU_ASSERT_FATAL(pir.ok);
    snap_take(f.card, &neu);
    CU_ASSERT_EQUAL(neu.n_profiles, old.n_profiles + 1);
    CU_ASSERT(neu.n_profiles == 2 && !strcmp(neu.p[1].iccid, iccid) && neu.p[1].n_pes > 0);
    CU_ASSERT(neu.n_notifs == old.n_notifs + 1 && neu.n[neu.n_notifs - 1].event == 0 &&
              !strcmp(neu.n[neu.n_notifs - 1].iccid, iccid));

    for (n = 1; n <= 256 && !done; n++) {
        done = tear_once(&f, old_file, old_len, n, child_install, &job, "install");
        tear_verdict(&f, "install", n, done, &old, &neu, &n_old, &n_new);
    }
    CU_ASSERT(done);
    /* isdp + metadata + >= 1 PE + pir + commit:before give OLD, commit:after NEW */
    if (n_old < 5 || n_new != 1)
        fprintf(stderr, "\n  install: %d tears gave OLD, %d NEW\n", n_old, n_new);
    CU_ASSERT(n_old >= 5);
    CU_ASSERT_EQUAL(n_new, 1);
    euicc_dp_free(&d);
    free(old_file);
    free(upp);
    euicc_fixture_close(&f);
}

/* Child of the retry tear loop: a session, then crash=n armed, then
 * PrepareDownload (its otPK written to fd once the response is out) and
 * the BPP. Never returns, never asserts. */
static void child_retry(struct euicc_fixture *f, long n, struct euicc_dp *d,
                        const uint8_t *upp, size_t len, const char *iccid, int fd)
{
    struct euicc_dp_pir p;
    uint8_t *r;
    size_t rl;
    char v[32];
    int rc;

    memset(&p, 0, sizeof(p));
    f->card = NULL;               /* the parent's copy; not ours to free */
    rc = euicc_fixture_reopen(f);
    r = rc == 0 ? euicc_dp_authenticate(f, d, DP_F_NONE, &rl) : NULL;
    rc = r ? euicc_dp_check_auth(d, r, rl) : -1;
    free(r);
    snprintf(v, sizeof(v), "crash=%ld", n);
    if (rc == 0)
        rc = euicc_fault_set(f->card, v);
    if (rc == 0)
        rc = euicc_dp_prepare(f, d, DP_F_NONE);
    if (rc == 0 && write(fd, d->otpk, sizeof(d->otpk)) != (ssize_t)sizeof(d->otpk))
        rc = -1;
    if (rc == 0)
        euicc_dp_load_bpp(f, d, upp, len, iccid, DP_F_NONE, 0, &p);
    _exit(rc == 0 && p.ok ? 0 : 3);
}

/* A tear at each crash point between PrepareDownload and the end of a TS.48
 * install (PrepareDownload's commit, ISD-P, metadata, each 86, PIR, the
 * install commit), then the card restarted. If the PrepareDownloadResponse
 * got out, its otPK is retained (durable before the response) and a retry
 * naming it as bppEuiccOtpk gets it back and installs the BPP bound to it;
 * if the tear came after the install commit, the pair is gone and the same
 * bppEuiccOtpk gets a fresh one. If the response never got out, a plain
 * download installs. */
static void test_tear_retry(void)
{
    struct euicc_fixture f;
    struct euicc_dp d;
    struct euicc_dp_pir pir;
    uint8_t otpk[RSP_EC_POINT_LEN], *upp, *old_file;
    char iccid[21];
    size_t upp_len, old_len;
    int done = 0, n_reused = 0, n_plain = 0, n_after = 0;

    upp = euicc_dp_read_profile("TS48v2_SAIP2.3_NoBERTLV.der", &upp_len, iccid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(upp);
    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    CU_ASSERT_FATAL(euicc_dp_load(&d, euicc_fixture_pki_dir(), "NIST", 0) == 0);
    add_profile(f.card, ICCID_A, 0x01, EUICC_PROFILE_ENABLED);
    old_file = test_read_file(f.state_path, &old_len);
    CU_ASSERT_FATAL(old_file != NULL);

    for (long n = 1; n <= 256 && !done; n++) {
        int fds[2], status = 0;
        ssize_t got;
        pid_t pid;

        CU_ASSERT_FATAL(write_file(f.state_path, old_file, old_len) == 0);
        CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
        CU_ASSERT_FATAL(pipe(fds) == 0);
        fflush(NULL);
        pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_retry(&f, n, &d, upp, upp_len, iccid, fds[1]);
        }
        close(fds[1]);
        CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
        got = read(fds[0], otpk, sizeof(otpk));
        close(fds[0]);
        CU_ASSERT_FATAL(WIFEXITED(status));
        if (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 99)
            fprintf(stderr, "\n  retry tear %ld: child exit %d\n", n, WEXITSTATUS(status));
        CU_ASSERT_FATAL(WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 99);
        done = WEXITSTATUS(status) == 0;

        /* euiccd restarted */
        CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
        if (done || f.card->st.n_profiles == 2) {
            /* the install commit was reached: installed, pair dropped */
            CU_ASSERT_EQUAL(f.card->st.n_profiles, 2);
            CU_ASSERT_EQUAL(f.card->st.otk.present, 0);
            CU_ASSERT_EQUAL_FATAL(got, (ssize_t)sizeof(otpk));
            CU_ASSERT_RC(euicc_dp_session_prepare(&f, &d, otpk, sizeof(otpk)), 0);
            CU_ASSERT(memcmp(d.otpk, otpk, sizeof(otpk)) != 0);
            n_after += !done;
            continue;
        }
        CU_ASSERT_EQUAL(f.card->st.n_profiles, 1);
        if (got == (ssize_t)sizeof(otpk)) {
            /* the response got out: its pair survived the tear */
            CU_ASSERT_EQUAL_FATAL(f.card->st.otk.present, 1);
            CU_ASSERT_BYTES("retained otPK", f.card->st.otk.pk, sizeof(otpk), otpk,
                            sizeof(otpk));
            CU_ASSERT_RC(euicc_dp_session_prepare(&f, &d, otpk, sizeof(otpk)), 0);
            CU_ASSERT_BYTES("otPK of the retry", d.otpk, sizeof(d.otpk), otpk, sizeof(otpk));
            euicc_dp_load_bpp(&f, &d, upp, upp_len, iccid, DP_F_NONE, 0, &pir);
            if (!pir.ok)
                fprintf(stderr, "\n  retry after tear %ld: PIR cmd %d reason %d\n", n, pir.cmd,
                        pir.reason);
            CU_ASSERT(pir.ok);
            n_reused++;
        } else {
            /* torn inside PrepareDownload: the LPA has no otPK */
            CU_ASSERT_RC(euicc_dp_run(&f, &d, upp, upp_len, iccid, DP_F_NONE, 0, &pir), 0);
            CU_ASSERT(pir.ok);
            n_plain++;
        }
        CU_ASSERT_EQUAL(f.card->st.n_profiles, 2);
        CU_ASSERT_EQUAL(f.card->st.otk.present, 0);
    }
    CU_ASSERT(done);
    /* PrepareDownload commit:before/after; isdp, metadata, >= 1 pe, pir,
     * install commit:before; install commit:after */
    if (n_plain != 2 || n_reused < 5 || n_after != 1)
        fprintf(stderr, "\n  retry tears: %d inside PrepareDownload, %d reused, %d after install\n",
                n_plain, n_reused, n_after);
    CU_ASSERT_EQUAL(n_plain, 2);
    CU_ASSERT(n_reused >= 5);
    CU_ASSERT_EQUAL(n_after, 1);
    euicc_dp_free(&d);
    free(old_file);
    free(upp);
    euicc_fixture_close(&f);
}

/* The commit contract (euicc.h): a save that fails before its rename drops
 * the change (card and file stay OLD, euicc_transmit says RSP_ERR_IO); a
 * failed directory fsync after the rename keeps it (command succeeds, card
 * and file NEW). Also the one-shot SW fault of euicc_fault_set. */
static void test_commit_faults(void)
{
    struct euicc_fixture f;
    struct snap old, got, neu;
    char cmd[128];
    uint8_t *r = NULL;
    size_t n = 0;
    uint16_t sw = 0;

    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    add_profile(f.card, ICCID_A, 0x01, EUICC_PROFILE_ENABLED);
    add_profile(f.card, ICCID_B, 0x02, EUICC_PROFILE_DISABLED);
    snap_take(f.card, &old);
    cmd_for(cmd, sizeof(cmd), "BF32", ICCID_A, 1);

    CU_ASSERT_RC(euicc_fault_set(f.card, "savefail"), 0);
    CU_ASSERT_RC(do_op(&f, cmd), RSP_ERR_IO);
    snap_take(f.card, &got);
    CU_ASSERT(snap_eq(&got, &old));
    CU_ASSERT_RC(snap_file(f.state_path, &got), 0);
    CU_ASSERT(snap_eq(&got, &old));

    CU_ASSERT_RC(euicc_fault_set(f.card, "dirsync"), 0);
    CU_ASSERT_RC(do_op(&f, cmd), 0);
    snap_take(f.card, &neu);
    CU_ASSERT(!snap_eq(&neu, &old));
    CU_ASSERT_RC(snap_file(f.state_path, &got), 0);
    CU_ASSERT(snap_eq(&got, &neu));

    /* sw=XXXX@TAG: once, only for that tag */
    CU_ASSERT_RC(euicc_fault_set(f.card, "sw=6A88@BF2D"), 0);
    CU_ASSERT_RC(euicc_fixture_es10_hex(&f, "BF3E035C015A", &r, &n, &sw), 0);
    CU_ASSERT_EQUAL(sw, 0x9000);
    free(r);
    CU_ASSERT_RC(euicc_fixture_es10_hex(&f, "BF2D00", &r, &n, &sw), 0);
    CU_ASSERT_EQUAL(sw, 0x6A88);
    CU_ASSERT_EQUAL(n, 0);
    free(r);
    CU_ASSERT_RC(euicc_fixture_es10_hex(&f, "BF2D00", &r, &n, &sw), 0);
    CU_ASSERT_EQUAL(sw, 0x9000);
    free(r);
    CU_ASSERT_RC(euicc_fault_set(f.card, "bogus"), RSP_ERR_INVAL);
    CU_ASSERT_RC(euicc_fault_set(f.card, "sw=12"), RSP_ERR_INVAL);
    CU_ASSERT_RC(euicc_fault_set(f.card, "crash=0"), RSP_ERR_INVAL);
    CU_ASSERT_RC(euicc_fault_set(f.card, "sw=6F00@XYZ"), RSP_ERR_INVAL);
    CU_ASSERT_RC(euicc_fault_set(f.card, NULL), 0);
    euicc_fixture_close(&f);
}

/* "<state>.<AID hex>.pkg" of profile i (version-1 states). */
static void pkg_name(const struct euicc_fixture *f, size_t i, char *out, size_t max)
{
    char hex[33];

    rsp_hex_encode(f->card->st.profiles[i].aid, f->card->st.profiles[i].aid_len, hex);
    snprintf(out, max, "%s.%s.pkg", f->state_path, hex);
}

/* Reopen the card (a power cycle): exactly one profile, whose package is
 * pk (what: the label printed on a mismatch). */
static void reopen_expect_package(struct euicc_fixture *f, const char *what, const uint8_t *pk,
                                  size_t pk_len)
{
    CU_ASSERT_RC(euicc_fixture_reopen(f), 0);
    CU_ASSERT_FATAL(f->card->st.n_profiles == 1);
    CU_ASSERT_BYTES(what, f->card->st.profiles[0].package, f->card->st.profiles[0].package_len,
                    pk, pk_len);
}

/* Rewrite the card's state file as version 1 (pkg_file: packages in
 * separate files, else inline), as an older euicc left it. */
static void save_version1(struct euicc_fixture *f, int pkg_file)
{
    struct euicc_state st;
    CU_ASSERT_RC(euicc_state_load(f->state_path, &st), 0);
    CU_ASSERT_RC(euicc_state_save_json(f->state_path, &st, pkg_file), 0);
    euicc_state_clear(&st);
}

/* Packages live in the two-slot state file; version-1 states (packages
 * inline, or in package files) load and move into it at the next commit;
 * an image that outgrows its slot gets a new, larger file. */
static void test_package_files(void)
{
    struct euicc_fixture f;
    struct euicc_dp d;
    struct euicc_dp_pir pir;
    struct euicc *e = NULL;
    struct euicc_profile *p;
    char iccid[21], pkg[700], orphan[700], other[700];
    uint8_t *upp, *file, *pk;
    size_t upp_len, len, pk_len, ss, big;
    struct stat sb;

    upp = euicc_dp_read_profile("TS48v2_SAIP2.3_NoBERTLV.der", &upp_len, iccid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(upp);
    CU_ASSERT_FATAL(euicc_fixture_open(&f, NULL) == 0);
    CU_ASSERT_FATAL(euicc_dp_load(&d, euicc_fixture_pki_dir(), "NIST", 0) == 0);
    CU_ASSERT_RC(euicc_dp_run(&f, &d, upp, upp_len, iccid, DP_F_NONE, 0, &pir), 0);
    CU_ASSERT_FATAL(pir.ok && f.card->st.n_profiles == 1);
    pk_len = f.card->st.profiles[0].package_len;
    pk = malloc(pk_len);
    CU_ASSERT_FATAL(pk != NULL && pk_len > 1000);
    memcpy(pk, f.card->st.profiles[0].package, pk_len);
    pkg_name(&f, 0, pkg, sizeof(pkg));
    CU_ASSERT(stat(pkg, &sb) != 0);
    /* raw in the state file, once in the slot written (and maybe in the
     * older one) */
    file = test_read_file(f.state_path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(file);
    CU_ASSERT(file[0] == 'r');
    CU_ASSERT(memmem(file, len, pk, pk_len) != NULL);
    free(file);
    reopen_expect_package(&f, "reloaded", pk, pk_len);

    /* version 1 with a package file: loads; a damaged file keeps the card
     * from opening; orphans go at open, other files stay */
    save_version1(&f, 1);
    file = test_read_file(pkg, &len);
    CU_ASSERT_BYTES("package file", file, file ? len : 0, pk, pk_len);
    snprintf(orphan, sizeof(orphan), "%s.A0000005591010FFFFFFFF8900009900.pkg", f.state_path);
    snprintf(other, sizeof(other), "%s.notes.pkg", f.state_path);
    CU_ASSERT_FATAL(write_file(orphan, (const uint8_t *)"x", 1) == 0);
    CU_ASSERT_FATAL(write_file(other, (const uint8_t *)"y", 1) == 0);
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    CU_ASSERT(stat(orphan, &sb) != 0);
    CU_ASSERT(stat(other, &sb) == 0);
    unlink(other);
    CU_ASSERT_FATAL(f.card->st.n_profiles == 1);
    CU_ASSERT(f.card->st.profiles[0].pkg_stored);
    CU_ASSERT_EQUAL(f.card->st.slot_size, 0);
    CU_ASSERT_BYTES("version 1, file", f.card->st.profiles[0].package,
                    f.card->st.profiles[0].package_len, pk, pk_len);
    euicc_free(f.card);
    f.card = NULL;
    CU_ASSERT_FATAL(file != NULL);
    file[len / 2] ^= 0x01;
    CU_ASSERT_FATAL(write_file(pkg, file, len) == 0);
    CU_ASSERT_RC(euicc_open(f.state_path, &e), RSP_ERR_DECODE);
    file[len / 2] ^= 0x01;
    CU_ASSERT_FATAL(write_file(pkg, file, len - 1) == 0);
    CU_ASSERT_RC(euicc_open(f.state_path, &e), RSP_ERR_DECODE);
    CU_ASSERT_PTR_NULL(e);
    CU_ASSERT_FATAL(write_file(pkg, file, len) == 0);
    free(file);
    /* the first commit moves it into a two-slot file, the file goes */
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    CU_ASSERT_RC(euicc_commit(f.card), 0);
    CU_ASSERT(f.card->st.slot_size >= 256u * 1024);
    CU_ASSERT_EQUAL(f.card->st.profiles[0].pkg_stored, 0);
    CU_ASSERT(stat(pkg, &sb) != 0);
    reopen_expect_package(&f, "migrated from a file", pk, pk_len);

    /* version 1, inline: the same */
    save_version1(&f, 0);
    file = test_read_file(f.state_path, &len);
    CU_ASSERT(file && file[0] == '{' && memmem(file, len, "\"package\"", 9) != NULL);
    free(file);
    reopen_expect_package(&f, "version 1, inline", pk, pk_len);
    CU_ASSERT_EQUAL(f.card->st.profiles[0].pkg_stored, 0);
    CU_ASSERT_RC(euicc_commit(f.card), 0);
    reopen_expect_package(&f, "migrated inline", pk, pk_len);
    CU_ASSERT(f.card->st.slot_size >= 256u * 1024);

    /* growth: an image larger than half its slot gets a new file with
     * larger slots; commits go in place again after it */
    ss = f.card->st.slot_size;
    CU_ASSERT_FATAL(f.card->st.n_profiles < EUICC_MAX_PROFILES);
    p = &f.card->st.profiles[f.card->st.n_profiles];
    *p = f.card->st.profiles[0];
    p->aid[15] ^= 0x55;
    snprintf(p->iccid, sizeof(p->iccid), "%s", ICCID_B);
    p->metadata = malloc(f.card->st.profiles[0].metadata_len);
    p->package_len = big = ss;
    p->package = malloc(p->package_len);
    CU_ASSERT_FATAL(p->metadata != NULL && p->package != NULL);
    memcpy(p->metadata, f.card->st.profiles[0].metadata, p->metadata_len);
    for (size_t i = 0; i < p->package_len; i++)
        p->package[i] = (uint8_t)(i * 7);
    f.card->st.n_profiles++;
    CU_ASSERT_RC(euicc_commit(f.card), 0);
    CU_ASSERT(f.card->st.slot_size >= 2 * ss);
    file = test_read_file(f.state_path, &len);
    CU_ASSERT_EQUAL(len, f.card->st.ident_size + 2 * f.card->st.slot_size);
    free(file);
    ss = f.card->st.slot;
    CU_ASSERT_RC(euicc_commit(f.card), 0);
    CU_ASSERT_EQUAL(f.card->st.slot, ss ^ 1u);
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    CU_ASSERT_FATAL(f.card->st.n_profiles == 2);
    CU_ASSERT_EQUAL_FATAL(f.card->st.profiles[1].package_len, big);
    CU_ASSERT(f.card->st.profiles[1].package[1000] == (uint8_t)(1000 * 7));

    /* dropped: a failed commit keeps the profile (reloaded), a successful
     * one drops it */
    euicc_state_drop_profile(&f.card->st, 1);
    CU_ASSERT_RC(euicc_fault_set(f.card, "savefail"), 0);
    CU_ASSERT_RC(euicc_commit(f.card), RSP_ERR_IO);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 2);
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 2);
    euicc_state_drop_profile(&f.card->st, 1);
    euicc_state_drop_profile(&f.card->st, 0);
    CU_ASSERT_RC(euicc_commit(f.card), 0);
    CU_ASSERT_RC(euicc_fixture_reopen(&f), 0);
    CU_ASSERT_EQUAL(f.card->st.n_profiles, 0);

    euicc_dp_free(&d);
    free(pk);
    free(upp);
    euicc_fixture_close(&f);
}

CU_TestInfo euicc_tear_tests[] = {
    { "enable", test_tear_enable },
    { "disable", test_tear_disable },
    { "delete", test_tear_delete },
    { "torn_slot", test_tear_slot },
    { "install", test_tear_install },
    { "retry", test_tear_retry },
    { "commit_faults", test_commit_faults },
    { "package_files", test_package_files },
    CU_TEST_INFO_NULL,
};
