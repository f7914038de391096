/* SM-DP+ storage: schema, import, state machine, concurrency, crash safety. */
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "rsp_saip.h"
#include "rsp_test.h"
#include "smdp_ac.h"
#include "smdp_store.h"

#define TS48_ICCID "89000123456789012341"
#define EID_OK "89049032123451234512345678901235"

static void db_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/smdp-test-%s.db", test_build_dir(), name);
    char tmp[600];
    unlink(out);
    snprintf(tmp, sizeof(tmp), "%s-wal", out);
    unlink(tmp);
    snprintf(tmp, sizeof(tmp), "%s-shm", out);
    unlink(tmp);
}

static struct smdp_store *open_fresh(const char *name, char *path, size_t n)
{
    struct smdp_store *s = NULL;
    db_path(path, n, name);
    CU_ASSERT_RC(smdp_store_open_sqlite(path, &s), RSP_OK);
    struct smdp_operator op;
    memset(&op, 0, sizeof(op));
    strcpy(op.id, "op1");
    strcpy(op.name, "Operator One");
    if (s)
        CU_ASSERT_RC(smdp_store_operator_add(s, &op), RSP_OK);
    return s;
}

/* Import a small fake package under a given ICCID (the store does not parse
 * packages; the admin CLI does). */
static int import_fake(struct smdp_store *s, const char *iccid)
{
    static uint8_t pkg[] = { 0xA0, 0x03, 0x80, 0x01, 0x02 };
    struct smdp_profile p;
    memset(&p, 0, sizeof(p));
    p.icon_type = -1;
    p.pclass = SMDP_CLASS_TEST;
    strcpy(p.iccid, iccid);
    strcpy(p.operator_id, "op1");
    p.package = pkg;
    p.package_len = sizeof(pkg);
    return smdp_store_profile_import(s, &p);
}

/* A fresh store holding one Available profile, TS48_ICCID. */
static struct smdp_store *open_with_profile(const char *name, char *path, size_t n)
{
    struct smdp_store *s = open_fresh(name, path, n);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_RC(import_fake(s, TS48_ICCID), RSP_OK);
    return s;
}

static int profile_state(struct smdp_store *s, const char *iccid)
{
    struct smdp_profile p;
    if (smdp_store_profile_get(s, iccid, 0, &p) != RSP_OK)
        return -1;
    int st = p.state;
    smdp_profile_clear(&p);
    return st;
}

/* Test-only back door: set a profile's state directly. */
static void force_state(const char *path, const char *iccid, int state)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    CU_ASSERT(sqlite3_prepare_v2(db, "UPDATE profiles SET state = ?1 WHERE iccid = ?2", -1, &st,
                                 NULL) == SQLITE_OK);
    sqlite3_bind_int(st, 1, state);
    sqlite3_bind_text(st, 2, iccid, -1, SQLITE_STATIC);
    CU_ASSERT(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_migrations(void)
{
    char path[512];
    struct smdp_store *s = NULL;
    db_path(path, sizeof(path), "mig");
    CU_ASSERT_RC(smdp_store_open_sqlite(path, &s), RSP_OK);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL(smdp_store_sqlite_schema_version(s), 3);
    CU_ASSERT_RC(import_fake(s, TS48_ICCID), RSP_ERR_NOTFOUND); /* no operator yet */
    smdp_store_close(s);
    s = NULL;
    /* Reopen: nothing re-applied, data kept. */
    CU_ASSERT_RC(smdp_store_open_sqlite(path, &s), RSP_OK);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL(smdp_store_sqlite_schema_version(s), 3);
    smdp_store_close(s);
    /* A newer schema than we know is refused. */
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
    CU_ASSERT(sqlite3_exec(db, "INSERT INTO schema_version VALUES (99, 0)", NULL, NULL, NULL) ==
              SQLITE_OK);
    sqlite3_close(db);
    s = NULL;
    CU_ASSERT_RC(smdp_store_open_sqlite(path, &s), SMDP_ERR_DB);
    CU_ASSERT(s == NULL);
}

static void test_import_ts48(void)
{
    char path[512], dir[512], file[1024];
    struct smdp_store *s = open_fresh("ts48", path, sizeof(path));
    CU_ASSERT_FATAL(s != NULL);
    snprintf(dir, sizeof(dir), "%s/ts48", test_shared_dir());
    DIR *d = opendir(dir);
    CU_ASSERT_FATAL(d != NULL);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 4, ".der"))
            continue;
        snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
        size_t len = 0;
        uint8_t *pkg = test_read_file(file, &len);
        CU_ASSERT_FATAL(pkg != NULL);
        struct rsp_saip_info *info = NULL;
        CU_ASSERT_RC(rsp_saip_parse(pkg, len, &info), RSP_OK);
        if (!info) {
            free(pkg);
            continue;
        }
        CU_ASSERT_STRING_EQUAL(info->iccid, TS48_ICCID);
        struct smdp_profile p;
        memset(&p, 0, sizeof(p));
        p.icon_type = -1;
        p.pclass = SMDP_CLASS_TEST;
        strcpy(p.iccid, info->iccid);
        strcpy(p.operator_id, "op1");
        snprintf(p.profile_type, sizeof(p.profile_type), "%s", info->profile_type);
        strcpy(p.name, e->d_name);
        p.package = pkg;
        p.package_len = len;
        /* All TS.48 packages share one ICCID: only the first is accepted. */
        CU_ASSERT_RC(smdp_store_profile_import(s, &p), n == 0 ? RSP_OK : SMDP_ERR_EXISTS);
        /* Under a distinct ICCID (the caller's choice) every one imports. */
        snprintf(p.iccid, sizeof(p.iccid), "8900000000000000%03d", n % 1000);
        CU_ASSERT_RC(smdp_store_profile_import(s, &p), RSP_OK);
        struct smdp_profile got;
        CU_ASSERT_RC(smdp_store_profile_get(s, p.iccid, 1, &got), RSP_OK);
        CU_ASSERT_BYTES("package", got.package, got.package_len, pkg, len);
        CU_ASSERT_EQUAL(got.state, SMDP_PROFILE_AVAILABLE);
        CU_ASSERT_STRING_EQUAL(got.name, e->d_name);
        smdp_profile_clear(&got);
        rsp_saip_info_free(info);
        free(pkg);
        n++;
    }
    closedir(d);
    CU_ASSERT(n >= 2);
    CU_ASSERT_RC(import_fake(s, "12345"), RSP_ERR_INVAL);
    smdp_store_close(s);
}

static void test_transitions(void)
{
    char path[512];
    struct smdp_store *s = open_with_profile("sm", path, sizeof(path));
    /* Spot checks of the table against SGP.22. */
    CU_ASSERT(smdp_profile_transition_legal(SMDP_PROFILE_AVAILABLE, SMDP_PROFILE_LINKED));
    CU_ASSERT(smdp_profile_transition_legal(SMDP_PROFILE_CONFIRMED, SMDP_PROFILE_RELEASED));
    CU_ASSERT(!smdp_profile_transition_legal(SMDP_PROFILE_AVAILABLE, SMDP_PROFILE_INSTALLED));
    CU_ASSERT(!smdp_profile_transition_legal(SMDP_PROFILE_CONFIRMED, SMDP_PROFILE_DOWNLOADED));
    CU_ASSERT(!smdp_profile_transition_legal(SMDP_PROFILE_INSTALLED, SMDP_PROFILE_AVAILABLE));
    CU_ASSERT(!smdp_profile_transition_legal(0, SMDP_PROFILE_AVAILABLE));
    int legal = 0;
    for (int from = 1; from <= SMDP_PROFILE_STATE_MAX; from++) {
        for (int to = 0; to <= SMDP_PROFILE_STATE_MAX + 1; to++) {
            force_state(path, TS48_ICCID, from);
            int ok = smdp_profile_transition_legal(from, to);
            legal += ok;
            int rc = smdp_store_profile_transition(s, TS48_ICCID, from, to);
            if (rc != (ok ? RSP_OK : RSP_ERR_STATE))
                fprintf(stderr, "\n  %s -> %s: rc %d\n", smdp_profile_state_name(from),
                        smdp_profile_state_name(to), rc);
            CU_ASSERT_EQUAL(rc, ok ? RSP_OK : RSP_ERR_STATE);
            CU_ASSERT_EQUAL(profile_state(s, TS48_ICCID), ok ? to : from);
            /* Compare-and-set: a stale `from` is refused, state unchanged. */
            if (ok) {
                force_state(path, TS48_ICCID, from == 1 ? 2 : 1);
                CU_ASSERT_RC(smdp_store_profile_transition(s, TS48_ICCID, from, to),
                             RSP_ERR_STATE);
                CU_ASSERT_EQUAL(profile_state(s, TS48_ICCID), from == 1 ? 2 : 1);
            }
        }
    }
    CU_ASSERT(legal > 10);
    CU_ASSERT_RC(smdp_store_profile_transition(s, "89000000000000000999", 1, 2),
                 RSP_ERR_NOTFOUND);
    smdp_store_close(s);
}

static void new_order(struct smdp_order *o, const char *iccid, const char *eid)
{
    memset(o, 0, sizeof(*o));
    CU_ASSERT_RC(smdp_matching_id_generate(o->matching_id), RSP_OK);
    strcpy(o->operator_id, "op1");
    strcpy(o->smdp_address, "smdp.example.com");
    snprintf(o->iccid, sizeof(o->iccid), "%s", iccid ? iccid : "");
    snprintf(o->eid, sizeof(o->eid), "%s", eid ? eid : "");
    o->expires = (int64_t)time(NULL) + 3600;
    o->download_limit = 2;
}

/* An order of TS48_ICCID protected by the confirmation code "1234", failed
 * after limit wrong codes; created in s. */
static void create_cc_order(struct smdp_store *s, struct smdp_order *o, unsigned limit)
{
    new_order(o, TS48_ICCID, NULL);
    o->cc_required = 1;
    o->cc_limit = limit;
    CU_ASSERT_RC(smdp_cc_hash("1234", o->cc_hash), RSP_OK);
    CU_ASSERT_RC(smdp_store_order_create(s, o), RSP_OK);
}

struct race {
    const char *path;
    const char *iccid;
    pthread_barrier_t *bar;
    int rc;
};

static void *race_thread(void *arg)
{
    struct race *r = arg;
    struct smdp_store *s = NULL;
    struct smdp_order o;
    r->rc = smdp_store_open_sqlite(r->path, &s);
    new_order(&o, r->iccid, NULL);
    pthread_barrier_wait(r->bar);
    if (r->rc == RSP_OK)
        r->rc = smdp_store_order_create(s, &o);
    smdp_store_close(s);
    return NULL;
}

static void test_concurrent_allocation(void)
{
    char path[512], iccid[21];
    struct smdp_store *s = open_fresh("race", path, sizeof(path));
    CU_ASSERT_FATAL(s != NULL);
    for (int round = 0; round < 10; round++) {
        snprintf(iccid, sizeof(iccid), "8900000000000001%03d", round % 1000);
        CU_ASSERT_RC(import_fake(s, iccid), RSP_OK);
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, 2);
        /* Even rounds: "any Available profile"; odd rounds: this ICCID. */
        struct race r[2] = { { path, round % 2 ? iccid : NULL, &bar, 0 },
                             { path, round % 2 ? iccid : NULL, &bar, 0 } };
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, race_thread, &r[i]);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&bar);
        int wins = (r[0].rc == RSP_OK) + (r[1].rc == RSP_OK);
        int loser = r[0].rc == RSP_OK ? r[1].rc : r[0].rc;
        CU_ASSERT_EQUAL(wins, 1);
        CU_ASSERT_EQUAL(loser, round % 2 ? RSP_ERR_STATE : RSP_ERR_NOTFOUND);
        CU_ASSERT_EQUAL(profile_state(s, iccid), SMDP_PROFILE_ALLOCATED);
        struct smdp_order o;
        CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_ICCID, iccid, &o), RSP_OK);
        CU_ASSERT_EQUAL(o.state, SMDP_ORDER_ACTIVE);
    }
    smdp_store_close(s);
}

/* Group commit (synchronous=FULL, WAL): four handles committing at once,
 * each commit made durable by its own WAL sync or one started after it;
 * every commit is there, each order under its own profile, and a single
 * statement writer (FULL restored after each transaction) still works. */
#define GC_THREADS 4
#define GC_EACH 15

struct gc_arg {
    const char *path;
    pthread_barrier_t *bar;
    int rc, made;
};

static void *gc_thread(void *arg)
{
    struct gc_arg *g = arg;
    struct smdp_store *s = NULL;
    g->rc = smdp_store_open_sqlite(g->path, &s);
    pthread_barrier_wait(g->bar);
    for (int i = 0; g->rc == RSP_OK && i < GC_EACH; i++) {
        struct smdp_order o;
        new_order(&o, NULL, NULL);
        g->rc = smdp_store_order_create(s, &o);
        if (g->rc == RSP_OK)
            g->made++;
    }
    smdp_store_close(s);
    return NULL;
}

static void test_group_commit(void)
{
    char path[512], iccid[21];
    struct smdp_store *s = open_fresh("group", path, sizeof(path));
    CU_ASSERT_FATAL(s != NULL);
    for (int i = 0; i < GC_THREADS * GC_EACH; i++) {
        snprintf(iccid, sizeof(iccid), "8900000000000002%04u", (unsigned)i % 10000u);
        CU_ASSERT_RC(import_fake(s, iccid), RSP_OK);
    }
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, GC_THREADS);
    struct gc_arg g[GC_THREADS];
    pthread_t t[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        g[i] = (struct gc_arg){ path, &bar, 0, 0 };
        pthread_create(&t[i], NULL, gc_thread, &g[i]);
    }
    for (int i = 0; i < GC_THREADS; i++) {
        pthread_join(t[i], NULL);
        CU_ASSERT_RC(g[i].rc, RSP_OK);
        CU_ASSERT_EQUAL(g[i].made, GC_EACH);
    }
    pthread_barrier_destroy(&bar);
    for (int i = 0; i < GC_THREADS * GC_EACH; i++) {
        struct smdp_order o;
        snprintf(iccid, sizeof(iccid), "8900000000000002%04u", (unsigned)i % 10000u);
        CU_ASSERT_EQUAL(profile_state(s, iccid), SMDP_PROFILE_ALLOCATED);
        CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_ICCID, iccid, &o), RSP_OK);
    }
    CU_ASSERT_RC(smdp_store_profile_transition(s, "89000000000000020000", SMDP_PROFILE_ALLOCATED,
                                               SMDP_PROFILE_LINKED),
                 smdp_profile_transition_legal(SMDP_PROFILE_ALLOCATED, SMDP_PROFILE_LINKED)
                     ? RSP_OK : RSP_ERR_STATE);
    smdp_store_close(s);
}

/* A version 1 database (before the BPP binding columns) is upgraded in
 * place, its orders kept. */
static void test_migration_v1_upgrade(void)
{
    char path[512];
    struct smdp_order o, got;
    struct smdp_store *s = open_with_profile("mig1", path, sizeof(path));
    new_order(&o, TS48_ICCID, NULL);
    CU_ASSERT_RC(smdp_store_order_create(s, &o), RSP_OK);
    smdp_store_close(s);
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
    int r = sqlite3_exec(db, "DROP INDEX orders_bpp_tid;"
                             "ALTER TABLE orders DROP COLUMN bpp_transaction_id;"
                             "ALTER TABLE orders DROP COLUMN euicc_pk;"
                             "ALTER TABLE orders DROP COLUMN euicc_eid;"
                             "DROP INDEX operators_cert;"
                             "DELETE FROM schema_version WHERE version >= 2;", NULL, NULL, NULL);
    if (r != SQLITE_OK)
        printf("\n  downgrade: %s\n", sqlite3_errmsg(db));
    CU_ASSERT(r == SQLITE_OK);
    sqlite3_close(db);
    s = NULL;
    CU_ASSERT_RC(smdp_store_open_sqlite(path, &s), RSP_OK);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL(smdp_store_sqlite_schema_version(s), 3);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_MATCHING_ID, o.matching_id, &got), RSP_OK);
    CU_ASSERT_STRING_EQUAL(got.bpp_transaction_id, "");
    CU_ASSERT_EQUAL(got.euicc_pk_len, 0);
    CU_ASSERT_RC(smdp_store_session_create(s, o.matching_id, "A1B2", (int64_t)time(NULL) + 60),
                 RSP_OK);
    uint8_t otpk[65] = { 0x04 }, pk[92] = { 0x30 };
    struct smdp_binding b = { otpk, 65, 0, pk, sizeof(pk), EID_OK, 0, 0 };
    CU_ASSERT_RC(smdp_store_session_bind(s, "A1B2", &b), RSP_OK);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_BPP_TRANSACTION_ID, "A1B2", &got), RSP_OK);
    CU_ASSERT_BYTES("euicc_pk", got.euicc_pk, got.euicc_pk_len, pk, sizeof(pk));
    smdp_store_close(s);
}

static void test_orders(void)
{
    char path[512];
    struct smdp_order o, got;
    struct smdp_store *s = open_with_profile("orders", path, sizeof(path));
    new_order(&o, NULL, EID_OK);
    CU_ASSERT_RC(smdp_store_order_create(s, &o), RSP_OK);
    CU_ASSERT_STRING_EQUAL(o.iccid, TS48_ICCID);
    CU_ASSERT_EQUAL(profile_state(s, TS48_ICCID), SMDP_PROFILE_LINKED);
    /* No Available profile left. */
    new_order(&got, NULL, NULL);
    CU_ASSERT_RC(smdp_store_order_create(s, &got), RSP_ERR_NOTFOUND);
    /* A bad EID is refused before anything changes. */
    new_order(&got, NULL, "89049032123451234512345678901234");
    CU_ASSERT_RC(smdp_store_order_create(s, &got), RSP_ERR_INVAL);
    /* Session, lookup by transactionId, downloads counted up to the limit. */
    CU_ASSERT_RC(smdp_store_session_create(s, o.matching_id, "00112233445566778899AABBCCDDEEFF",
                                           (int64_t)time(NULL) + 60), RSP_OK);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_TRANSACTION_ID,
                                      "00112233445566778899AABBCCDDEEFF", &got), RSP_OK);
    CU_ASSERT_STRING_EQUAL(got.matching_id, o.matching_id);
    CU_ASSERT_STRING_EQUAL(got.eid, EID_OK);
    uint8_t otpk[65] = { 0x04, 1, 2, 3 }, pk[91] = { 0x30, 0x59, 9 };
    struct smdp_binding b = { otpk, 65, 0, pk, sizeof(pk), EID_OK, 0, 0 };
    CU_ASSERT_RC(smdp_store_session_bind(s, "00112233445566778899AABBCCDDEEFF", &b), RSP_OK);
    b.used_ppk = 1;
    CU_ASSERT_RC(smdp_store_session_bind(s, "00112233445566778899AABBCCDDEEFF", &b), RSP_OK);
    CU_ASSERT_RC(smdp_store_session_bind(s, "00112233445566778899AABBCCDDEEFF", &b),
                 RSP_ERR_STATE);
    b.euicc_pk_len = SMDP_EUICC_PK_MAX + 1;
    CU_ASSERT_RC(smdp_store_session_bind(s, "00112233445566778899AABBCCDDEEFF", &b),
                 RSP_ERR_INVAL);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_MATCHING_ID, o.matching_id, &got), RSP_OK);
    CU_ASSERT_EQUAL(got.download_attempts, 2);
    CU_ASSERT_EQUAL(got.used_ppk, 1);
    CU_ASSERT_BYTES("otpk", got.otpk, got.otpk_len, otpk, sizeof(otpk));
    /* The binding is found by its transactionId, with the eUICC key. */
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_BPP_TRANSACTION_ID,
                                      "00112233445566778899AABBCCDDEEFF", &got), RSP_OK);
    CU_ASSERT_STRING_EQUAL(got.matching_id, o.matching_id);
    CU_ASSERT_STRING_EQUAL(got.euicc_eid, EID_OK);
    CU_ASSERT_BYTES("euicc_pk", got.euicc_pk, got.euicc_pk_len, pk, sizeof(pk));
    /* Order + profile CAS together: ConfirmOrder (release) then download. */
    CU_ASSERT_RC(smdp_store_order_transition(s, o.matching_id, SMDP_ORDER_ACTIVE,
                                             SMDP_ORDER_ACTIVE, SMDP_PROFILE_ALLOCATED,
                                             SMDP_PROFILE_RELEASED), RSP_ERR_STATE);
    CU_ASSERT_EQUAL(profile_state(s, TS48_ICCID), SMDP_PROFILE_LINKED);
    CU_ASSERT_RC(smdp_store_order_transition(s, o.matching_id, SMDP_ORDER_ACTIVE,
                                             SMDP_ORDER_ACTIVE, SMDP_PROFILE_LINKED,
                                             SMDP_PROFILE_RELEASED), RSP_OK);
    CU_ASSERT_RC(smdp_store_order_transition(s, o.matching_id, SMDP_ORDER_ACTIVE,
                                             SMDP_ORDER_ACTIVE, SMDP_PROFILE_RELEASED,
                                             SMDP_PROFILE_DOWNLOADED), RSP_OK);
    CU_ASSERT_RC(smdp_store_order_transition(s, o.matching_id, SMDP_ORDER_ACTIVE,
                                             SMDP_ORDER_DONE, SMDP_PROFILE_DOWNLOADED,
                                             SMDP_PROFILE_INSTALLED), RSP_OK);
    CU_ASSERT_EQUAL(profile_state(s, TS48_ICCID), SMDP_PROFILE_INSTALLED);
    CU_ASSERT_RC(smdp_store_order_transition(s, o.matching_id, SMDP_ORDER_DONE,
                                             SMDP_ORDER_ACTIVE, 0, 0), RSP_ERR_STATE);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_ICCID, TS48_ICCID, &got), RSP_OK);
    CU_ASSERT_EQUAL(got.state, SMDP_ORDER_DONE);
    /* Duplicate matchingId refused. */
    CU_ASSERT_RC(import_fake(s, "89000000000000000017"), RSP_OK);
    new_order(&got, "89000000000000000017", NULL);
    strcpy(got.matching_id, o.matching_id);
    CU_ASSERT_RC(smdp_store_order_create(s, &got), SMDP_ERR_EXISTS);
    CU_ASSERT_EQUAL(profile_state(s, "89000000000000000017"), SMDP_PROFILE_AVAILABLE);
    smdp_store_close(s);
}

static void test_confirmation_code(void)
{
    char path[512];
    struct smdp_order o, got;
    int outcome = -1;
    struct smdp_store *s = open_with_profile("cc", path, sizeof(path));
    create_cc_order(s, &o, 3);
    /* The stored value is SHA-256("1234"), never the code. */
    size_t hl = 0;
    uint8_t *want = test_hex("03AC674216F3E15C761EE1A5E255F067953623C8B388B4459E13F978D7C846F4",
                             &hl);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_MATCHING_ID, o.matching_id, &got), RSP_OK);
    CU_ASSERT_BYTES("cc hash", got.cc_hash, 32, want, hl);
    free(want);
    /* hashCc = SHA-256(SHA-256(CC) | transactionId). */
    uint8_t tid[16] = { 1, 2, 3 }, hash_cc[32];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, got.cc_hash, 32);
    EVP_DigestUpdate(ctx, tid, sizeof(tid));
    EVP_DigestFinal_ex(ctx, hash_cc, &n);
    EVP_MD_CTX_free(ctx);
    CU_ASSERT_EQUAL(smdp_cc_check(got.cc_hash, tid, sizeof(tid), hash_cc, 32), 1);
    hash_cc[0] ^= 1;
    CU_ASSERT_EQUAL(smdp_cc_check(got.cc_hash, tid, sizeof(tid), hash_cc, 32), 0);

    CU_ASSERT_RC(smdp_store_cc_attempt(s, o.matching_id, 0, &outcome), RSP_OK);
    CU_ASSERT_EQUAL(outcome, SMDP_CC_REJECTED);
    CU_ASSERT_RC(smdp_store_cc_attempt(s, o.matching_id, 0, &outcome), RSP_OK);
    CU_ASSERT_EQUAL(outcome, SMDP_CC_REJECTED);
    CU_ASSERT_RC(smdp_store_cc_attempt(s, o.matching_id, 1, &outcome), RSP_OK);
    CU_ASSERT_EQUAL(outcome, SMDP_CC_ACCEPTED);
    CU_ASSERT_RC(smdp_store_cc_attempt(s, o.matching_id, 0, &outcome), RSP_OK);
    CU_ASSERT_EQUAL(outcome, SMDP_CC_LOCKED);
    CU_ASSERT_RC(smdp_store_cc_attempt(s, o.matching_id, 1, &outcome), RSP_ERR_STATE);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_MATCHING_ID, o.matching_id, &got), RSP_OK);
    CU_ASSERT_EQUAL(got.cc_attempts, 3);
    CU_ASSERT_EQUAL(got.state, SMDP_ORDER_FAILED);
    CU_ASSERT_EQUAL(profile_state(s, TS48_ICCID), SMDP_PROFILE_ERROR);
    /* An order without a code has nothing to count. */
    CU_ASSERT_RC(import_fake(s, "89000000000000000017"), RSP_OK);
    new_order(&o, "89000000000000000017", NULL);
    CU_ASSERT_RC(smdp_store_order_create(s, &o), RSP_OK);
    CU_ASSERT_RC(smdp_store_cc_attempt(s, o.matching_id, 0, &outcome), RSP_ERR_STATE);
    smdp_store_close(s);
}

/* A wrong code ends the order's RSP session in the same transaction
 * (SGP.22 §5.6.2): transactionId dropped, order ACTIVE for a new session. */
static void test_cc_ends_session(void)
{
    char path[512];
    struct smdp_order o, got;
    int outcome = -1;
    struct smdp_store *s = open_with_profile("ccsess", path, sizeof(path));
    create_cc_order(s, &o, 2);
    CU_ASSERT_RC(smdp_store_session_create(s, o.matching_id, "AA01", (int64_t)time(NULL) + 60),
                 RSP_OK);
    CU_ASSERT_RC(smdp_store_cc_attempt(s, o.matching_id, 1, &outcome), RSP_OK);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_TRANSACTION_ID, "AA01", &got), RSP_OK);
    CU_ASSERT_RC(smdp_store_cc_attempt(s, o.matching_id, 0, &outcome), RSP_OK);
    CU_ASSERT_EQUAL(outcome, SMDP_CC_REJECTED);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_TRANSACTION_ID, "AA01", &got),
                 RSP_ERR_NOTFOUND);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_MATCHING_ID, o.matching_id, &got), RSP_OK);
    CU_ASSERT_EQUAL(got.state, SMDP_ORDER_ACTIVE);
    CU_ASSERT_EQUAL(got.session_expires, 0);
    CU_ASSERT_STRING_EQUAL(got.transaction_id, "");
    /* a new session, and the transactionId is free again */
    CU_ASSERT_RC(smdp_store_session_create(s, o.matching_id, "AA02", (int64_t)time(NULL) + 60),
                 RSP_OK);
    CU_ASSERT_RC(smdp_store_cc_attempt(s, o.matching_id, 0, &outcome), RSP_OK);
    CU_ASSERT_EQUAL(outcome, SMDP_CC_LOCKED);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_MATCHING_ID, o.matching_id, &got), RSP_OK);
    CU_ASSERT_EQUAL(got.state, SMDP_ORDER_FAILED);
    CU_ASSERT_STRING_EQUAL(got.transaction_id, "");
    smdp_store_close(s);
}

/* smdp_store_order_confirm (ES2+.ConfirmOrder, §5.3.2): one transaction,
 * compare-and-set on the order and its profile. */
static void test_order_confirm(void)
{
    char path[512];
    struct smdp_order o, o2, got;
    uint8_t h[32];
    struct smdp_store *s = open_with_profile("confirm", path, sizeof(path));
    CU_ASSERT_RC(import_fake(s, "89000000000000000017"), RSP_OK);
    new_order(&o, TS48_ICCID, NULL);
    CU_ASSERT_RC(smdp_store_order_create(s, &o), RSP_OK);
    new_order(&o2, "89000000000000000017", EID_OK);
    CU_ASSERT_RC(smdp_store_order_create(s, &o2), RSP_OK);
    CU_ASSERT_RC(smdp_cc_hash("4321", h), RSP_OK);

    struct smdp_confirm c = {
        .eid = EID_OK, .cc_hash = h, .cc_limit = 4, .matching_id = "OP-MID-1",
        .profile_from = SMDP_PROFILE_ALLOCATED, .profile_to = SMDP_PROFILE_RELEASED,
    };
    /* wrong expected profile state, illegal edge, bad limit, taken id */
    c.profile_from = SMDP_PROFILE_LINKED;
    CU_ASSERT_RC(smdp_store_order_confirm(s, o.matching_id, &c), RSP_ERR_STATE);
    c.profile_from = SMDP_PROFILE_ALLOCATED;
    c.profile_to = SMDP_PROFILE_DOWNLOADED;
    CU_ASSERT_RC(smdp_store_order_confirm(s, o.matching_id, &c), RSP_ERR_INVAL);
    c.profile_to = SMDP_PROFILE_RELEASED;
    c.cc_limit = 0;
    CU_ASSERT_RC(smdp_store_order_confirm(s, o.matching_id, &c), RSP_ERR_INVAL);
    c.cc_limit = 4;
    c.matching_id = o2.matching_id;
    CU_ASSERT_RC(smdp_store_order_confirm(s, o.matching_id, &c), SMDP_ERR_EXISTS);
    CU_ASSERT_RC(smdp_store_order_confirm(s, "NO-SUCH", &c), RSP_ERR_NOTFOUND);
    /* nothing changed by the refusals */
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_MATCHING_ID, o.matching_id, &got), RSP_OK);
    CU_ASSERT_STRING_EQUAL(got.eid, "");
    CU_ASSERT_EQUAL(got.cc_required, 0);
    CU_ASSERT_EQUAL(profile_state(s, TS48_ICCID), SMDP_PROFILE_ALLOCATED);
    /* the real one */
    c.matching_id = "OP-MID-1";
    CU_ASSERT_RC(smdp_store_order_confirm(s, o.matching_id, &c), RSP_OK);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_MATCHING_ID, o.matching_id, &got),
                 RSP_ERR_NOTFOUND);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_MATCHING_ID, "OP-MID-1", &got), RSP_OK);
    CU_ASSERT_STRING_EQUAL(got.eid, EID_OK);
    CU_ASSERT_STRING_EQUAL(got.iccid, TS48_ICCID);
    CU_ASSERT_EQUAL(got.state, SMDP_ORDER_ACTIVE);
    CU_ASSERT_EQUAL(got.cc_required, 1);
    CU_ASSERT_EQUAL(got.cc_limit, 4);
    CU_ASSERT_BYTES("cc_hash", got.cc_hash, 32, h, 32);
    CU_ASSERT_EQUAL(profile_state(s, TS48_ICCID), SMDP_PROFILE_RELEASED);
    /* once done, the profile is no longer Allocated */
    CU_ASSERT_RC(smdp_store_order_confirm(s, "OP-MID-1", &c), RSP_ERR_STATE);
    /* EID-bound order: another EID is refused; keeping all else works */
    struct smdp_confirm c2 = {
        .eid = "89049032123451234512345678909965",
        .profile_from = SMDP_PROFILE_LINKED, .profile_to = SMDP_PROFILE_CONFIRMED,
    };
    CU_ASSERT_RC(smdp_store_order_confirm(s, o2.matching_id, &c2), RSP_ERR_STATE);
    c2.eid = NULL;
    CU_ASSERT_RC(smdp_store_order_confirm(s, o2.matching_id, &c2), RSP_OK);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_MATCHING_ID, o2.matching_id, &got), RSP_OK);
    CU_ASSERT_STRING_EQUAL(got.eid, EID_OK);
    CU_ASSERT_EQUAL(got.cc_required, 0);
    CU_ASSERT_EQUAL(profile_state(s, "89000000000000000017"), SMDP_PROFILE_CONFIRMED);
    smdp_store_close(s);
}

/* smdp_store_operator_by_cert: indexed lookup (schema 3). */
static void test_operator_by_cert(void)
{
    char path[512];
    struct smdp_operator op, got;
    uint8_t h1[32], h2[32];
    struct smdp_store *s = open_fresh("opcert", path, sizeof(path));
    CU_ASSERT_FATAL(s != NULL);
    memset(h1, 0x11, sizeof(h1));
    memset(h2, 0x22, sizeof(h2));
    memset(&op, 0, sizeof(op));
    strcpy(op.id, "op2");
    strcpy(op.name, "Operator Two");
    op.has_cert = 1;
    memcpy(op.cert_sha256, h1, 32);
    strcpy(op.callback_url, "https://127.0.0.1:9/cb");
    CU_ASSERT_RC(smdp_store_operator_add(s, &op), RSP_OK);
    CU_ASSERT_RC(smdp_store_operator_by_cert(s, h1, &got), RSP_OK);
    CU_ASSERT_STRING_EQUAL(got.id, "op2");
    CU_ASSERT_STRING_EQUAL(got.callback_url, "https://127.0.0.1:9/cb");
    CU_ASSERT_EQUAL(got.has_cert, 1);
    CU_ASSERT_BYTES("cert_sha256", got.cert_sha256, 32, h1, 32);
    CU_ASSERT_RC(smdp_store_operator_by_cert(s, h2, &got), RSP_ERR_NOTFOUND);
    CU_ASSERT_RC(smdp_store_operator_by_cert(s, NULL, &got), RSP_ERR_INVAL);
    /* the same certificate twice: the first by id, as a list scan finds it */
    strcpy(op.id, "op0");
    CU_ASSERT_RC(smdp_store_operator_add(s, &op), RSP_OK);
    CU_ASSERT_RC(smdp_store_operator_by_cert(s, h1, &got), RSP_OK);
    CU_ASSERT_STRING_EQUAL(got.id, "op0");
    smdp_store_close(s);
    /* the lookup uses the index */
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
    CU_ASSERT(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT id FROM operators"
                                     " WHERE cert_sha256 = ?1", -1, &st, NULL) == SQLITE_OK);
    int used = 0;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 3);
        if (d && strstr(d, "operators_cert"))
            used = 1;
    }
    CU_ASSERT(used);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_expiry(void)
{
    char path[512];
    struct smdp_order o, got;
    unsigned ns = 9, no = 9;
    struct smdp_store *s = open_with_profile("expiry", path, sizeof(path));
    new_order(&o, TS48_ICCID, NULL);
    int64_t now = (int64_t)time(NULL);
    o.expires = now + 100;
    CU_ASSERT_RC(smdp_store_order_create(s, &o), RSP_OK);
    CU_ASSERT_RC(smdp_store_session_create(s, o.matching_id, "AABB", now + 10), RSP_OK);
    uint8_t otpk[65] = { 0x04 }, pk[91] = { 0x30 };
    struct smdp_binding b = { otpk, 65, 0, pk, sizeof(pk), EID_OK, 0, 0 };
    CU_ASSERT_RC(smdp_store_session_bind(s, "AABB", &b), RSP_OK);
    CU_ASSERT_RC(smdp_store_expire(s, now + 5, &ns, &no), RSP_OK);
    CU_ASSERT(ns == 0 && no == 0);
    CU_ASSERT_RC(smdp_store_expire(s, now + 20, &ns, &no), RSP_OK);
    CU_ASSERT(ns == 1 && no == 0);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_TRANSACTION_ID, "AABB", &got),
                 RSP_ERR_NOTFOUND);
    /* The BPP binding outlives the session (a late PIR is still verified). */
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_BPP_TRANSACTION_ID, "AABB", &got),
                 RSP_OK);
    CU_ASSERT_EQUAL(got.euicc_pk_len, sizeof(pk));
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_MATCHING_ID, o.matching_id, &got), RSP_OK);
    CU_ASSERT_EQUAL(got.state, SMDP_ORDER_ACTIVE);
    CU_ASSERT_STRING_EQUAL(got.transaction_id, "");
    CU_ASSERT_RC(smdp_store_expire(s, now + 200, &ns, &no), RSP_OK);
    CU_ASSERT(ns == 0 && no == 1);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_MATCHING_ID, o.matching_id, &got), RSP_OK);
    CU_ASSERT_EQUAL(got.state, SMDP_ORDER_EXPIRED);
    CU_ASSERT_EQUAL(profile_state(s, TS48_ICCID), SMDP_PROFILE_ERROR);
    CU_ASSERT_RC(smdp_store_session_create(s, o.matching_id, "CCDD", now + 300), RSP_ERR_STATE);
    smdp_store_close(s);
}

/* A child dies (_exit) inside a write transaction that has already spilled
 * pages to the WAL; the database must open afterwards with none of it. */
static void test_crash_safety(void)
{
    char path[512];
    struct smdp_store *s = open_with_profile("crash", path, sizeof(path));
    smdp_store_close(s);
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        sqlite3 *db = NULL;
        if (sqlite3_open(path, &db) != SQLITE_OK)
            _exit(2);
        sqlite3_exec(db, "PRAGMA cache_size = 8", NULL, NULL, NULL);
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        sqlite3_exec(db, "UPDATE profiles SET state = 7", NULL, NULL, NULL);
        for (int i = 0; i < 200; i++) {
            char sql[200];
            snprintf(sql, sizeof(sql), "INSERT INTO profiles (iccid, operator_id, state, class,"
                     " package, created, updated) VALUES ('8900000000000009%04d', 'op1', 1, 0,"
                     " zeroblob(4000), 0, 0)", i);
            sqlite3_exec(db, sql, NULL, NULL, NULL);
        }
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    s = NULL;
    CU_ASSERT_RC(smdp_store_open_sqlite(path, &s), RSP_OK);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL(profile_state(s, TS48_ICCID), SMDP_PROFILE_AVAILABLE);
    CU_ASSERT_EQUAL(profile_state(s, "89000000000000090000"), -1);
    /* Still writable, and SQLite finds it consistent. */
    CU_ASSERT_RC(import_fake(s, "89000000000000090000"), RSP_OK);
    smdp_store_close(s);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
    CU_ASSERT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK);
    CU_ASSERT(sqlite3_step(st) == SQLITE_ROW);
    CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_activation_code(void)
{
    char ac[200], mid[SMDP_MATCHING_ID_LEN + 1], prev[SMDP_MATCHING_ID_LEN + 1] = "";
    CU_ASSERT_EQUAL(smdp_activation_code("smdp.example.com", "ABC-123", 0, ac, sizeof(ac)), 30);
    CU_ASSERT_STRING_EQUAL(ac, "LPA:1$smdp.example.com$ABC-123");
    CU_ASSERT(smdp_activation_code("smdp.example.com", "ABC-123", 1, ac, sizeof(ac)) > 0);
    CU_ASSERT_STRING_EQUAL(ac, "LPA:1$smdp.example.com$ABC-123$$1");
    CU_ASSERT_RC(smdp_activation_code("smdp$x", "ABC", 0, ac, sizeof(ac)), RSP_ERR_INVAL);
    CU_ASSERT_RC(smdp_activation_code("h", "abc", 0, ac, sizeof(ac)), RSP_ERR_INVAL);
    CU_ASSERT_RC(smdp_activation_code("h", "ABC", 0, ac, 8), RSP_ERR_TOOBIG);
    for (int i = 0; i < 200; i++) {
        CU_ASSERT_RC(smdp_matching_id_generate(mid), RSP_OK);
        CU_ASSERT_EQUAL(strlen(mid), SMDP_MATCHING_ID_LEN);
        CU_ASSERT(smdp_matching_id_valid(mid));
        CU_ASSERT(strcmp(mid, prev) != 0);
        strcpy(prev, mid);
    }
}

/* A list callback listing again on the same connection: the statement in
 * use is not handed out twice, the nested call prepares (and finalizes)
 * its own - the uncached path of unprep(). */
struct nest_arg {
    struct smdp_store *s;
    int outer, inner, rc;
};

static int nest_inner_cb(const struct smdp_order *o, void *arg)
{
    (void)o;
    ((struct nest_arg *)arg)->inner++;
    return 0;
}

static int nest_outer_cb(const struct smdp_order *o, void *arg)
{
    struct nest_arg *n = arg;
    (void)o;
    n->outer++;
    int rc = smdp_store_order_list(n->s, nest_inner_cb, n);
    if (rc)
        n->rc = rc;
    return 0;
}

/* The compare-and-set transitions roll everything back on a mismatch;
 * handles of one process on the same file share one connection and stay
 * usable when another is closed (smdp_store_sqlite.c). */
static void test_cas_and_shared_handles(void)
{
    char path[512];
    struct smdp_order o, got;
    struct smdp_store *s = open_with_profile("cas", path, sizeof(path)), *s2 = NULL;
    CU_ASSERT_RC(import_fake(s, "89000000000000000025"), RSP_OK);
    new_order(&o, TS48_ICCID, NULL);
    CU_ASSERT_RC(smdp_store_order_create(s, &o), RSP_OK);
    /* a second handle sees the first one's commits at once */
    CU_ASSERT_RC(smdp_store_open_sqlite(path, &s2), RSP_OK);
    CU_ASSERT_FATAL(s2 != NULL);
    CU_ASSERT_RC(smdp_store_profile_transition(s2, TS48_ICCID, SMDP_PROFILE_ALLOCATED,
                                               SMDP_PROFILE_RELEASED), RSP_OK);
    CU_ASSERT_EQUAL(profile_state(s, TS48_ICCID), SMDP_PROFILE_RELEASED);
    CU_ASSERT_RC(smdp_store_session_create(s, o.matching_id, "C0FFEE01",
                                           (int64_t)time(NULL) + 60), RSP_OK);
    /* bind with the profile not where the caller said: nothing changes */
    uint8_t otpk[65] = { 0x04, 7 }, pk[91] = { 0x30, 0x59, 7 };
    struct smdp_binding b = { otpk, 65, 0, pk, sizeof(pk), EID_OK,
                              SMDP_PROFILE_CONFIRMED, SMDP_PROFILE_RELEASED };
    CU_ASSERT_RC(smdp_store_session_bind(s2, "C0FFEE01", &b), RSP_ERR_STATE);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_MATCHING_ID, o.matching_id, &got), RSP_OK);
    CU_ASSERT_EQUAL(got.download_attempts, 0);
    CU_ASSERT_STRING_EQUAL(got.bpp_transaction_id, "");
    CU_ASSERT_EQUAL(got.otpk_len, 0);
    CU_ASSERT_RC(smdp_store_session_bind(s2, "C0FFEE02", &b), RSP_ERR_NOTFOUND);
    b.profile_from = SMDP_PROFILE_RELEASED;
    b.profile_to = SMDP_PROFILE_DOWNLOADED;
    CU_ASSERT_RC(smdp_store_session_bind(s2, "C0FFEE01", &b), RSP_OK);
    CU_ASSERT_EQUAL(profile_state(s, TS48_ICCID), SMDP_PROFILE_DOWNLOADED);
    CU_ASSERT_RC(smdp_store_order_get(s, SMDP_ORDER_BY_BPP_TRANSACTION_ID, "C0FFEE01", &got),
                 RSP_OK);
    CU_ASSERT_EQUAL(got.download_attempts, 1);
    CU_ASSERT_STRING_EQUAL(got.euicc_eid, EID_OK);
    /* order transition: unknown order, order not in from, profile not in
     * from (the order's own move is rolled back) */
    CU_ASSERT_RC(smdp_store_order_transition(s, "NO-SUCH-ORDER", SMDP_ORDER_ACTIVE,
                                             SMDP_ORDER_DONE, 0, 0), RSP_ERR_NOTFOUND);
    CU_ASSERT_RC(smdp_store_order_transition(s, "NO-SUCH-ORDER", SMDP_ORDER_ACTIVE,
                                             SMDP_ORDER_ACTIVE, 0, 0), RSP_ERR_NOTFOUND);
    CU_ASSERT_RC(smdp_store_order_transition(s, o.matching_id, SMDP_ORDER_FAILED,
                                             SMDP_ORDER_FAILED, 0, 0), RSP_ERR_STATE);
    CU_ASSERT_RC(smdp_store_order_transition(s, o.matching_id, SMDP_ORDER_ACTIVE,
                                             SMDP_ORDER_DONE, SMDP_PROFILE_RELEASED,
                                             SMDP_PROFILE_DOWNLOADED), RSP_ERR_STATE);
    CU_ASSERT_RC(smdp_store_order_get(s2, SMDP_ORDER_BY_MATCHING_ID, o.matching_id, &got),
                 RSP_OK);
    CU_ASSERT_EQUAL(got.state, SMDP_ORDER_ACTIVE);
    CU_ASSERT_EQUAL(profile_state(s2, TS48_ICCID), SMDP_PROFILE_DOWNLOADED);
    /* nested lists, on the same handle and through the other handle */
    struct nest_arg n = { s, 0, 0, 0 };
    CU_ASSERT_RC(smdp_store_order_list(s, nest_outer_cb, &n), RSP_OK);
    CU_ASSERT_RC(n.rc, RSP_OK);
    CU_ASSERT_EQUAL(n.outer, 1);
    CU_ASSERT_EQUAL(n.inner, 1);
    n = (struct nest_arg){ s2, 0, 0, 0 };
    CU_ASSERT_RC(smdp_store_order_list(s, nest_outer_cb, &n), RSP_OK);
    CU_ASSERT_EQUAL(n.inner, 1);
    /* the first handle closed, the second goes on (and can relax and
     * restore durability) */
    smdp_store_close(s);
    CU_ASSERT_RC(smdp_store_sqlite_synchronous(s2, 0), RSP_OK);
    CU_ASSERT_RC(smdp_store_sqlite_synchronous(s2, 1), RSP_OK);
    CU_ASSERT_RC(smdp_store_order_transition(s2, o.matching_id, SMDP_ORDER_ACTIVE,
                                             SMDP_ORDER_DONE, SMDP_PROFILE_DOWNLOADED,
                                             SMDP_PROFILE_INSTALLED), RSP_OK);
    CU_ASSERT_RC(smdp_store_open_sqlite(path, &s), RSP_OK);
    CU_ASSERT_EQUAL(profile_state(s, TS48_ICCID), SMDP_PROFILE_INSTALLED);
    CU_ASSERT_EQUAL(smdp_store_sqlite_schema_version(s), smdp_store_sqlite_schema_version(s2));
    smdp_store_close(s2);
    smdp_store_close(s);
}

CU_TestInfo smdp_store_tests[] = {
    { "migrations", test_migrations },
    { "migration_v1_upgrade", test_migration_v1_upgrade },
    { "import_ts48", test_import_ts48 },
    { "transitions", test_transitions },
    { "concurrent_allocation", test_concurrent_allocation },
    { "group_commit", test_group_commit },
    { "orders", test_orders },
    { "confirmation_code", test_confirmation_code },
    { "expiry", test_expiry },
    { "cc_ends_session", test_cc_ends_session },
    { "order_confirm", test_order_confirm },
    { "operator_by_cert", test_operator_by_cert },
    { "cas_and_shared_handles", test_cas_and_shared_handles },
    { "crash_safety", test_crash_safety },
    { "activation_code", test_activation_code },
    CU_TEST_INFO_NULL,
};
