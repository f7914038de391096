/*
 * smdp_store_sqlite.c - the SQLite backend of smdp_store.h.
 *
 * Settings, and why:
 *  - journal_mode=WAL: readers (status queries, list) never block the
 *    writer and the writer never blocks readers; a crash mid-transaction
 *    leaves uncommitted frames that recovery ignores.
 *  - synchronous=FULL: with WAL, NORMAL may lose the last commits on power
 *    loss (the database stays consistent). For an SM-DP+ a lost
 *    "Downloaded" could let the same profile (same Ki) be downloaded twice,
 *    so every commit is made durable; the cost is one fsync per commit,
 *    small next to an RSP session - shared between concurrent transactions
 *    of this process (group commit, see finish()). In WAL mode the
 *    connection itself runs at synchronous=NORMAL and the store syncs the
 *    WAL after each commit before returning: the same guarantee as FULL.
 *  - busy_timeout 5 s: writers from other connections queue instead of
 *    failing at once with SQLITE_BUSY.
 *  - foreign_keys=ON: orders and profiles must name existing rows.
 *  - Writes that read first use BEGIN IMMEDIATE, taking the write lock
 *    before reading, so two connections never both read "Available" and
 *    then deadlock upgrading to write.
 *
 * Threads: the handles one process opens on the same WAL database file
 * share one connection (struct sq_store) and its (recursive) mutex, taken
 * by every operation, so handles and a shared handle are safe; other
 * processes have their own connections, SQLite arbitrating through the
 * file locks and busy_timeout. The connection is opened NOMUTEX: the
 * store's mutex already serialises every use. List callbacks run with the
 * mutex held and may call the store again, on any handle.
 *
 * Every SQL text is a constant; user data only reaches SQL through bound
 * parameters.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "rsp_log.h"
#include "rsp_saip.h"
#include "rsp_util.h"
#include "smdp_store.h"

#define LOG_DOMAIN "smdp"
#define BUSY_TIMEOUT_MS 5000

/* Numbered migrations: migrations[i] takes the schema from version i to
 * i + 1. Append only; never edit a released entry. */
static const char *const migrations[] = {
    /* 1: initial schema */
    "CREATE TABLE operators ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  name TEXT NOT NULL,"
    "  cert_sha256 BLOB CHECK (cert_sha256 IS NULL OR length(cert_sha256) = 32),"
    "  callback_url TEXT NOT NULL DEFAULT '',"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE profiles ("
    "  iccid TEXT PRIMARY KEY NOT NULL,"
    "  operator_id TEXT NOT NULL REFERENCES operators(id),"
    "  state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 9),"
    "  profile_type TEXT NOT NULL DEFAULT '',"
    "  spn TEXT NOT NULL DEFAULT '',"
    "  name TEXT NOT NULL DEFAULT '',"
    "  class INTEGER NOT NULL CHECK (class BETWEEN 0 AND 2),"
    "  icon_type INTEGER CHECK (icon_type IS NULL OR icon_type IN (0, 1)),"
    "  icon BLOB,"
    "  ppr_mask INTEGER NOT NULL DEFAULT 0,"
    "  notif_config BLOB,"
    "  package BLOB NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL);"
    "CREATE INDEX profiles_operator_state ON profiles(operator_id, state);"
    "CREATE TABLE orders ("
    "  matching_id TEXT PRIMARY KEY NOT NULL,"
    "  iccid TEXT NOT NULL REFERENCES profiles(iccid),"
    "  operator_id TEXT NOT NULL REFERENCES operators(id),"
    "  eid TEXT,"
    "  smdp_address TEXT NOT NULL,"
    "  cc_hash BLOB CHECK (cc_hash IS NULL OR length(cc_hash) = 32),"
    "  cc_attempts INTEGER NOT NULL DEFAULT 0,"
    "  cc_limit INTEGER NOT NULL DEFAULT 0,"
    "  transaction_id TEXT UNIQUE,"
    "  session_expires INTEGER,"
    "  otpk BLOB,"
    "  used_ppk INTEGER NOT NULL DEFAULT -1,"
    "  download_attempts INTEGER NOT NULL DEFAULT 0,"
    "  download_limit INTEGER NOT NULL,"
    "  state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 5),"
    "  created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL);"
    /* At most one ongoing order per profile. */
    "CREATE UNIQUE INDEX orders_active_iccid ON orders(iccid) WHERE state = 1;"
    "CREATE INDEX orders_expires ON orders(state, expires);",
    /* 2: the last BPP binding of an order, so that a ProfileInstallationResult
     * is verified after a restart (SGP.22 §3.5; smdp_store_session_bind) */
    "ALTER TABLE orders ADD COLUMN bpp_transaction_id TEXT;"
    "ALTER TABLE orders ADD COLUMN euicc_pk BLOB"
    "  CHECK (euicc_pk IS NULL OR length(euicc_pk) <= 160);"
    "ALTER TABLE orders ADD COLUMN euicc_eid TEXT;"
    "CREATE INDEX orders_bpp_tid ON orders(bpp_transaction_id);",
    /* 3: ES2+ operator lookup by client certificate
     * (smdp_store_operator_by_cert); not UNIQUE so that a database holding
     * a duplicate from before still opens */
    "CREATE INDEX operators_cert ON operators(cert_sha256);",
};
#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define SQ_CACHE_MAX 48

/* What smdp_store_open_sqlite returns. Handles of one process on the same
 * WAL database file share one connection (struct sq_store): a write
 * through one connection makes every other connection of the file drop
 * its whole page cache at its next read, so with a handle per event loop
 * each loop re-read (pread) the pages the other had just written, about
 * fifty per download. Sharing one connection costs nothing the handles
 * relied on: a handle serialised its calls on its mutex anyway, writers of
 * the process queued on one mutex (sq_wmu), and the group sync runs after
 * the connection's mutex is released. Other processes (smdp-admin) still
 * have their own connections, arbitrated by SQLite. */
struct sq_handle {
    struct smdp_store base;     /* first: the handle handlers see */
    struct sq_store *q;
    int sync_full;              /* its commits durable on return (the default) */
};

struct sq_store {
    unsigned refs;              /* handles on this connection (under sq_smu) */
    sqlite3 *db;
    int wal;                    /* journal_mode is WAL: transactions group their syncs */
    struct sq_group *grp;       /* the commit/sync counters shared by every
                                 * handle on the same database file; NULL:
                                 * no group commit (FULL syncs in COMMIT) */
    pthread_mutex_t mu;
    /* Prepared statements kept for reuse, keyed by their (constant) SQL
     * text's address: parsing the SQL again was a tenth of an ES9+ call.
     * A statement in use (a list callback calling the store again) is not
     * handed out twice: the nested call prepares its own. */
    struct sq_cached {
        const char *sql;
        sqlite3_stmt *st;
        int busy;
    } cache[SQ_CACHE_MAX];
    size_t n_cache;
};

static struct sq_store *sq(struct smdp_store *s)
{
    return ((struct sq_handle *)s)->q;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* Map an SQLite result to our errors; log the database's own message. */
static int db_err(struct sq_store *q, int rc, const char *what)
{
    int ext = sqlite3_extended_errcode(q->db);
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
            return SMDP_ERR_EXISTS;
        if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
            return RSP_ERR_NOTFOUND;
        return RSP_ERR_INVAL;
    }
    if ((rc & 0xff) == SQLITE_NOMEM)
        return RSP_ERR_NOMEM;
    RSP_LOG(RSP_LOG_ERROR, LOG_DOMAIN, "%s: %s", what, sqlite3_errmsg(q->db));
    return SMDP_ERR_DB;
}

static int prep(struct sq_store *q, const char *sql, sqlite3_stmt **st);
static void unprep(struct sq_store *q, sqlite3_stmt *st);

static int exec(struct sq_store *q, const char *sql)
{
    int rc = sqlite3_exec(q->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? RSP_OK : db_err(q, rc, sql);
}

/* One statement without parameters (BEGIN, COMMIT, PRAGMA), prepared once. */
static int exec1(struct sq_store *q, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(q, sql, &st), r = SQLITE_ROW;
    if (rc)
        return rc;
    while (r == SQLITE_ROW)
        r = sqlite3_step(st);
    if (r != SQLITE_DONE)
        rc = db_err(q, r, sql);
    unprep(q, st);
    return rc;
}

/*
 * Writers of this process queue on one mutex before SQLite's write lock.
 * SQLite's own wait for a busy write lock (busy_timeout) sleeps 1 ms and
 * more between tries: with a store handle per event loop, two loops
 * committing at once (each commit holding the lock through its fsync) cost
 * the loser a millisecond or more, a fifth of the loops' time under load.
 * The mutex hands the lock over at once; another process (smdp-admin) is
 * still waited for by busy_timeout. Recursive, taken after the handle's
 * own mutex, for every write: transactions (begin .. finish) and single
 * writing statements (wlock .. wunlock).
 */
static pthread_mutex_t sq_wmu;
static pthread_once_t sq_wmu_once = PTHREAD_ONCE_INIT;

static void sq_wmu_init(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&sq_wmu, &a);
    pthread_mutexattr_destroy(&a);
}

static void wlock(void)
{
    pthread_once(&sq_wmu_once, sq_wmu_init);
    pthread_mutex_lock(&sq_wmu);
}

static void wunlock(void)
{
    pthread_mutex_unlock(&sq_wmu);
}

/*
 * Group commit of the transactions (begin .. finish) at synchronous=FULL in
 * WAL mode. FULL makes SQLite fdatasync the WAL inside COMMIT, holding the
 * write lock through the sync, one sync per commit. Instead the
 * transaction commits at synchronous=NORMAL (the WAL frames are written,
 * not synced; checkpoints still sync the WAL before copying it), the write
 * lock is released, and finish() returns only once an fdatasync of the WAL
 * that started after this commit's frames were written has completed: its
 * own, or one another thread started meanwhile, which covers every frame
 * written before it (one file; WAL frames are appended in commit order and
 * recovery keeps the longest valid prefix). A commit is therefore durable
 * when finish() returns, as at FULL, and the next writer does not wait for
 * this one's sync. Single-statement writers (wlock .. wdone_unlock) do the
 * same; the connection stays at NORMAL (no PRAGMA toggles). The sync goes
 * through the group's own descriptor on the WAL file after the connection's
 * mutex is released, so the other handles read and write meanwhile.
 * The counters live in a struct sq_group per database FILE (device and
 * inode), shared by every handle this process opened on it: a sync of one
 * database's WAL says nothing about another's. commits counts commits
 * (under sq_wmu and sq_smu); synced is the highest commit known on disk.
 */
struct sq_group {
    dev_t dev;
    ino_t ino;
    pid_t pid;                  /* a forked child never reuses the parent's */
    char *wal_path;             /* the WAL file (sqlite3_filename_wal) */
    int wal_fd;                 /* our own descriptor on it, -1 until the first sync */
    struct sq_store *conn;      /* the connection its handles share, or NULL */
    unsigned refs;
    uint64_t commits, synced;
    int syncing;
    struct sq_group *next;
};
static pthread_mutex_t sq_smu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sq_scv = PTHREAD_COND_INITIALIZER;
static struct sq_group *sq_groups;

/* The group of the database file at path (created on first use), or NULL
 * if the file cannot be identified. */
static struct sq_group *group_get(const char *path, sqlite3 *db)
{
    struct stat stt;
    struct sq_group *g;

    if (stat(path, &stt) != 0)
        return NULL;
    pthread_mutex_lock(&sq_smu);
    for (g = sq_groups; g; g = g->next)
        if (g->dev == stt.st_dev && g->ino == stt.st_ino && g->pid == getpid())
            break;
    if (!g && (g = calloc(1, sizeof(*g))) != NULL) {
        const char *w = sqlite3_filename_wal(sqlite3_db_filename(db, "main"));
        g->dev = stt.st_dev;
        g->ino = stt.st_ino;
        g->pid = getpid();
        g->wal_fd = -1;
        if (!w || !*w || !(g->wal_path = strdup(w))) {
            free(g);
            g = NULL;
        } else {
            g->next = sq_groups;
            sq_groups = g;
        }
    }
    if (g)
        g->refs++;
    pthread_mutex_unlock(&sq_smu);
    return g;
}

static void group_put(struct sq_group *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&sq_smu);
    if (--g->refs == 0) {
        for (struct sq_group **pp = &sq_groups; *pp; pp = &(*pp)->next)
            if (*pp == g) {
                *pp = g->next;
                break;
            }
        if (g->wal_fd >= 0)
            close(g->wal_fd);
        free(g->wal_path);
        free(g);
    }
    pthread_mutex_unlock(&sq_smu);
}

/* fdatasync the WAL through the group's own descriptor (the connection's
 * file object is in use by other threads meanwhile). The first time, also
 * the directory, as SQLite does on the first sync of a WAL it created:
 * the file's directory entry must be durable too. Called by the one
 * syncing thread (g->syncing). */
static int wal_fsync(struct sq_group *g)
{
    if (g->wal_fd < 0) {
        int fd = open(g->wal_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        char *dir = strdup(g->wal_path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        int dfd = -1;
        if (dir) {
            if (slash == dir)
                slash[1] = '\0';
            else if (slash)
                *slash = '\0';
            dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        int bad = dfd < 0 || fsync(dfd) != 0;
        if (dfd >= 0)
            close(dfd);
        free(dir);
        if (bad) {
            close(fd);
            return -1;
        }
        g->wal_fd = fd;
    }
    return fdatasync(g->wal_fd);
}

/* Return once commit number `mine` of group g is on disk; f is the WAL
 * file (taken under the connection's mutex, stable while it is open). */
static int wal_sync_through(struct sq_group *g, uint64_t mine)
{
    int rc = RSP_OK;

    pthread_mutex_lock(&sq_smu);
    while (g->synced < mine) {
        if (g->syncing) {
            pthread_cond_wait(&sq_scv, &sq_smu);
            continue;
        }
        uint64_t upto = g->commits;
        g->syncing = 1;
        pthread_mutex_unlock(&sq_smu);
        int r = wal_fsync(g) == 0 ? 0 : errno;
        pthread_mutex_lock(&sq_smu);
        g->syncing = 0;
        pthread_cond_broadcast(&sq_scv);
        if (r) {
            RSP_LOG(RSP_LOG_ERROR, LOG_DOMAIN, "WAL sync %s: %s", g->wal_path, strerror(r));
            rc = SMDP_ERR_DB;
            break;
        }
        if (upto > g->synced)
            g->synced = upto;
    }
    pthread_mutex_unlock(&sq_smu);
    return rc;
}

/* The connection runs the group commit: WAL mode on a file (a group). It
 * then stays at synchronous=NORMAL for good (set at open) and a writer on
 * a durable handle (sync_full) returns only once wal_sync_through() has
 * synced its commit. Toggling the PRAGMA around each transaction, as
 * before, cost two statements per transaction, each re-compiled on every
 * run (a PRAGMA setting applies when compiled: SQLite re-prepares such a
 * statement on each step). */
static int grouped(const struct sq_store *q)
{
    return q->wal && q->grp;
}

/* After a writing statement or transaction committed (sq_wmu and the
 * connection's mutex held): the commit's number in its group, 0 if the
 * commit needs no sync of ours. */
static uint64_t group_commit_no(struct sq_store *q)
{
    uint64_t mine;
    if (!grouped(q))
        return 0;
    pthread_mutex_lock(&sq_smu);
    mine = ++q->grp->commits;
    pthread_mutex_unlock(&sq_smu);
    return mine;
}

/* The group sync of commit `mine`, called without the connection's mutex. */
static int pending_sync(struct sq_store *q, uint64_t mine, int rc)
{
    if (mine && rc == RSP_OK)
        rc = wal_sync_through(q->grp, mine);
    return rc;
}

/* Every begin() is paired with a finish(), also when it fails. */
static int begin(struct sq_store *q)
{
    wlock();
    return exec1(q, "BEGIN IMMEDIATE");
}

/* Commit if rc is RSP_OK, else roll back, and release the write mutex;
 * [out] *mine the commit's number for pending_sync. */
static int end_tx(struct sq_store *q, int rc, uint64_t *mine)
{
    *mine = 0;
    if (rc == RSP_OK) {
        rc = exec1(q, "COMMIT");
        if (rc == RSP_OK)
            *mine = group_commit_no(q);
    }
    if (rc != RSP_OK && !sqlite3_get_autocommit(q->db))
        exec1(q, "ROLLBACK");
    wunlock();
    return rc;
}

/* Commit or roll back; returns the final status, the commit durable. */
static int finish(struct sq_store *q, int rc)
{
    uint64_t mine;
    rc = end_tx(q, rc, &mine);
    return pending_sync(q, mine, rc);
}

#define LOCK(q) pthread_mutex_lock(&(q)->mu)
#define UNLOCK(q) pthread_mutex_unlock(&(q)->mu)

/* finish() for a caller holding the connection's mutex (LOCK): released
 * before the sync, so other handles go on meanwhile. The sync is waited
 * for if the handle s is durable. */
static int finish_unlock(struct smdp_store *s, int rc)
{
    struct sq_store *q = sq(s);
    uint64_t mine;
    rc = end_tx(q, rc, &mine);
    UNLOCK(q);
    return pending_sync(q, ((struct sq_handle *)s)->sync_full ? mine : 0, rc);
}

/* End of a single writing statement (LOCK, wlock .. wdone_unlock): the
 * same as finish_unlock for an autocommit statement. */
static int wdone_unlock(struct smdp_store *s, int rc)
{
    struct sq_store *q = sq(s);
    uint64_t mine = rc == RSP_OK ? group_commit_no(q) : 0;
    wunlock();
    UNLOCK(q);
    return pending_sync(q, ((struct sq_handle *)s)->sync_full ? mine : 0, rc);
}

static int prep(struct sq_store *q, const char *sql, sqlite3_stmt **st)
{
    size_t i;
    for (i = 0; i < q->n_cache; i++) {
        if (q->cache[i].sql == sql) {
            if (q->cache[i].busy)
                break;          /* nested use: a statement of its own */
            q->cache[i].busy = 1;
            *st = q->cache[i].st;
            return RSP_OK;
        }
    }
    int cacheable = i == q->n_cache && q->n_cache < SQ_CACHE_MAX;
    int rc = sqlite3_prepare_v3(q->db, sql, -1, cacheable ? SQLITE_PREPARE_PERSISTENT : 0,
                                st, NULL);
    if (rc != SQLITE_OK) {
        *st = NULL;
        return db_err(q, rc, "prepare");
    }
    if (cacheable) {
        q->cache[q->n_cache].sql = sql;
        q->cache[q->n_cache].st = *st;
        q->cache[q->n_cache].busy = 1;
        q->n_cache++;
    }
    return RSP_OK;
}

/* Done with a statement of prep(): reset and kept, or finalized. */
static void unprep(struct sq_store *q, sqlite3_stmt *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < q->n_cache; i++) {
        if (q->cache[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            q->cache[i].busy = 0;
            return;
        }
    }
    sqlite3_finalize(st);   /* not cached: nested use or a full cache */
}

/* Run a statement with no result rows; [out] *changes if not NULL. */
static int step_done(struct sq_store *q, sqlite3_stmt *st, int *changes)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return db_err(q, rc, "step");
    if (changes)
        *changes = sqlite3_changes(q->db);
    return RSP_OK;
}

/* Bound values are not copied (SQLITE_STATIC): every statement is reset
 * and its bindings cleared (unprep) before the function that bound them
 * returns, so the caller's buffers outlive their use. */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static int bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    return s && *s ? bind_text(st, i, s) : sqlite3_bind_null(st, i);
}

static int bind_blob_or_null(sqlite3_stmt *st, int i, const void *p, size_t n)
{
    if (!p || !n)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_blob(st, i, p, (int)n, SQLITE_STATIC);
}

static void col_text(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, t, n);
    dst[n] = '\0';
}

static int col_blob_dup(sqlite3_stmt *st, int i, uint8_t **out, size_t *len)
{
    const void *p = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    *out = NULL;
    *len = 0;
    if (!p || n <= 0)
        return RSP_OK;
    *out = malloc((size_t)n);
    if (!*out)
        return RSP_ERR_NOMEM;
    memcpy(*out, p, (size_t)n);
    *len = (size_t)n;
    return RSP_OK;
}

static int text_ok(const char *s, size_t max, int required)
{
    if (!s)
        return !required;
    size_t n = strnlen(s, max + 1);
    return n <= max && (n > 0 || !required);
}

static int iccid_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 18 || n > 20)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int tid_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > SMDP_TID_MAX || n % 2)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

/* ---- schema ---- */

static int schema_version(struct sq_store *q, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(q, "SELECT coalesce(max(version), 0) FROM schema_version", &st);
    if (rc)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
    } else {
        rc = db_err(q, sqlite3_errcode(q->db), "schema_version");
    }
    unprep(q, st);
    return rc;
}

static int migrate(struct sq_store *q)
{
    int v = 0;
    int rc = begin(q);
    if (rc)
        return rc;
    rc = exec(q, "CREATE TABLE IF NOT EXISTS schema_version ("
                 " version INTEGER PRIMARY KEY NOT NULL, applied INTEGER NOT NULL)");
    if (!rc)
        rc = schema_version(q, &v);
    if (!rc && v > N_MIGRATIONS) {
        RSP_LOG(RSP_LOG_ERROR, LOG_DOMAIN, "database schema %d is newer than this program (%d)",
                v, N_MIGRATIONS);
        rc = SMDP_ERR_DB;
    }
    for (int i = v; !rc && i < N_MIGRATIONS; i++) {
        sqlite3_stmt *st = NULL;
        rc = exec(q, migrations[i]);
        if (!rc)
            rc = prep(q, "INSERT INTO schema_version (version, applied) VALUES (?1, ?2)", &st);
        if (!rc) {
            sqlite3_bind_int(st, 1, i + 1);
            sqlite3_bind_int64(st, 2, now_s());
            rc = step_done(q, st, NULL);
        }
        unprep(q, st);
    }
    return finish(q, rc);
}

int smdp_store_sqlite_schema_version(struct smdp_store *s)
{
    struct sq_store *q = sq(s);
    int v = 0;
    LOCK(q);
    int rc = schema_version(q, &v);
    UNLOCK(q);
    return rc ? rc : v;
}

/* ---- operators ---- */

static void row_operator(sqlite3_stmt *st, struct smdp_operator *op)
{
    memset(op, 0, sizeof(*op));
    col_text(st, 0, op->id, sizeof(op->id));
    col_text(st, 1, op->name, sizeof(op->name));
    if (sqlite3_column_bytes(st, 2) == 32) {
        memcpy(op->cert_sha256, sqlite3_column_blob(st, 2), 32);
        op->has_cert = 1;
    }
    col_text(st, 3, op->callback_url, sizeof(op->callback_url));
    op->created = sqlite3_column_int64(st, 4);
}

#define OPERATOR_COLS "id, name, cert_sha256, callback_url, created"

static int sq_operator_add(struct smdp_store *s, const struct smdp_operator *op)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    if (!text_ok(op->id, SMDP_ID_MAX, 1) || !text_ok(op->name, SMDP_NAME_MAX, 1) ||
        !text_ok(op->callback_url, SMDP_URL_MAX, 0))
        return RSP_ERR_INVAL;
    LOCK(q);
    wlock();
    int rc = prep(q, "INSERT INTO operators (" OPERATOR_COLS ") VALUES (?1, ?2, ?3, ?4, ?5)", &st);
    if (!rc) {
        bind_text(st, 1, op->id);
        bind_text(st, 2, op->name);
        bind_blob_or_null(st, 3, op->has_cert ? op->cert_sha256 : NULL, 32);
        bind_text(st, 4, op->callback_url);
        sqlite3_bind_int64(st, 5, now_s());
        rc = step_done(q, st, NULL);
    }
    unprep(q, st);
    rc = wdone_unlock(s, rc);
    return rc;
}

static int sq_operator_get(struct smdp_store *s, const char *id, struct smdp_operator *out)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    LOCK(q);
    int rc = prep(q, "SELECT " OPERATOR_COLS " FROM operators WHERE id = ?1", &st);
    if (!rc) {
        bind_text(st, 1, id);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW)
            row_operator(st, out);
        else
            rc = r == SQLITE_DONE ? RSP_ERR_NOTFOUND : db_err(q, r, "operator_get");
    }
    unprep(q, st);
    UNLOCK(q);
    return rc;
}

static int sq_operator_by_cert(struct smdp_store *s, const uint8_t sha256[32],
                               struct smdp_operator *out)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    LOCK(q);
    int rc = prep(q, "SELECT " OPERATOR_COLS " FROM operators WHERE cert_sha256 = ?1"
                     " ORDER BY id LIMIT 1", &st);
    if (!rc) {
        sqlite3_bind_blob(st, 1, sha256, 32, SQLITE_STATIC);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW)
            row_operator(st, out);
        else
            rc = r == SQLITE_DONE ? RSP_ERR_NOTFOUND : db_err(q, r, "operator_by_cert");
    }
    unprep(q, st);
    UNLOCK(q);
    return rc;
}

static int sq_operator_list(struct smdp_store *s, smdp_operator_cb cb, void *arg)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    struct smdp_operator op;
    LOCK(q);
    int rc = prep(q, "SELECT " OPERATOR_COLS " FROM operators ORDER BY id", &st);
    while (!rc) {
        int r = sqlite3_step(st);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = db_err(q, r, "operator_list");
            break;
        }
        row_operator(st, &op);
        rc = cb(&op, arg);
    }
    unprep(q, st);
    UNLOCK(q);
    return rc;
}

/* ---- profiles ---- */

#define PROFILE_COLS "iccid, operator_id, state, profile_type, spn, name, class, " \
                     "icon_type, icon, ppr_mask, notif_config, created, updated"

static int row_profile(sqlite3_stmt *st, int with_package, struct smdp_profile *p)
{
    memset(p, 0, sizeof(*p));
    col_text(st, 0, p->iccid, sizeof(p->iccid));
    col_text(st, 1, p->operator_id, sizeof(p->operator_id));
    p->state = sqlite3_column_int(st, 2);
    col_text(st, 3, p->profile_type, sizeof(p->profile_type));
    col_text(st, 4, p->spn, sizeof(p->spn));
    col_text(st, 5, p->name, sizeof(p->name));
    p->pclass = sqlite3_column_int(st, 6);
    p->icon_type = sqlite3_column_type(st, 7) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 7);
    p->ppr_mask = (unsigned)sqlite3_column_int(st, 9);
    p->created = sqlite3_column_int64(st, 11);
    p->updated = sqlite3_column_int64(st, 12);
    int rc = col_blob_dup(st, 8, &p->icon, &p->icon_len);
    if (!rc)
        rc = col_blob_dup(st, 10, &p->notif_config, &p->notif_config_len);
    if (!rc && with_package)
        rc = col_blob_dup(st, 13, &p->package, &p->package_len);
    if (rc)
        smdp_profile_clear(p);
    return rc;
}

static int sq_profile_import(struct smdp_store *s, const struct smdp_profile *p)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    if (!iccid_ok(p->iccid) || !text_ok(p->operator_id, SMDP_ID_MAX, 1) ||
        !p->package || !p->package_len || p->package_len > RSP_SAIP_MAX ||
        !text_ok(p->spn, sizeof(p->spn) - 1, 0) || !text_ok(p->name, sizeof(p->name) - 1, 0) ||
        !text_ok(p->profile_type, sizeof(p->profile_type) - 1, 0) ||
        p->pclass < SMDP_CLASS_TEST || p->pclass > SMDP_CLASS_OPERATIONAL ||
        p->icon_type < -1 || p->icon_type > 1 || p->icon_len > SMDP_ICON_MAX ||
        (p->icon_type >= 0 && !p->icon_len) || p->ppr_mask > 7 ||
        p->notif_config_len > 4096)
        return RSP_ERR_INVAL;
    int64_t now = now_s();
    LOCK(q);
    wlock();
    int rc = prep(q, "INSERT INTO profiles (" PROFILE_COLS ", package) VALUES "
                     "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13)", &st);
    if (!rc) {
        bind_text(st, 1, p->iccid);
        bind_text(st, 2, p->operator_id);
        sqlite3_bind_int(st, 3, SMDP_PROFILE_AVAILABLE);
        bind_text(st, 4, p->profile_type);
        bind_text(st, 5, p->spn);
        bind_text(st, 6, p->name);
        sqlite3_bind_int(st, 7, p->pclass);
        if (p->icon_type >= 0)
            sqlite3_bind_int(st, 8, p->icon_type);
        else
            sqlite3_bind_null(st, 8);
        bind_blob_or_null(st, 9, p->icon_type >= 0 ? p->icon : NULL, p->icon_len);
        sqlite3_bind_int(st, 10, (int)p->ppr_mask);
        bind_blob_or_null(st, 11, p->notif_config, p->notif_config_len);
        sqlite3_bind_int64(st, 12, now);
        sqlite3_bind_blob(st, 13, p->package, (int)p->package_len, SQLITE_STATIC);
        rc = step_done(q, st, NULL);
    }
    unprep(q, st);
    rc = wdone_unlock(s, rc);
    return rc;
}

static int sq_profile_get(struct smdp_store *s, const char *iccid, int with_package,
                          struct smdp_profile *out)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof(*out));
    LOCK(q);
    /* Without the package unless asked: a result column is read when the
     * row is stepped, and the package (12 KB for a TS.48 profile) spans
     * overflow pages that would be assembled and copied for nothing. */
    int rc = prep(q, with_package
                         ? "SELECT " PROFILE_COLS ", package FROM profiles WHERE iccid = ?1"
                         : "SELECT " PROFILE_COLS " FROM profiles WHERE iccid = ?1", &st);
    if (!rc) {
        bind_text(st, 1, iccid);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW)
            rc = row_profile(st, with_package, out);
        else
            rc = r == SQLITE_DONE ? RSP_ERR_NOTFOUND : db_err(q, r, "profile_get");
    }
    unprep(q, st);
    UNLOCK(q);
    return rc;
}

static int sq_profile_list(struct smdp_store *s, const char *operator_id,
                           smdp_profile_cb cb, void *arg)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    struct smdp_profile p;
    LOCK(q);
    int rc = prep(q, "SELECT " PROFILE_COLS " FROM profiles"
                     " WHERE ?1 IS NULL OR operator_id = ?1 ORDER BY iccid", &st);
    if (!rc)
        bind_text_or_null(st, 1, operator_id);
    while (!rc) {
        int r = sqlite3_step(st);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = db_err(q, r, "profile_list");
            break;
        }
        rc = row_profile(st, 0, &p);
        if (!rc)
            rc = cb(&p, arg);
        smdp_profile_clear(&p);
    }
    unprep(q, st);
    UNLOCK(q);
    return rc;
}

/* Tell RSP_ERR_NOTFOUND from RSP_ERR_STATE after a CAS changed no row. */
static int missing_or_state(struct sq_store *q, const char *sql, const char *key)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(q, sql, &st);
    if (!rc) {
        bind_text(st, 1, key);
        int r = sqlite3_step(st);
        rc = r == SQLITE_ROW ? RSP_ERR_STATE
           : r == SQLITE_DONE ? RSP_ERR_NOTFOUND : db_err(q, r, "lookup");
    }
    unprep(q, st);
    return rc;
}

static int sq_profile_transition(struct smdp_store *s, const char *iccid, int from, int to)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    int changes = 0;
    LOCK(q);
    wlock();
    int rc = prep(q, "UPDATE profiles SET state = ?1, updated = ?2"
                     " WHERE iccid = ?3 AND state = ?4", &st);
    if (!rc) {
        sqlite3_bind_int(st, 1, to);
        sqlite3_bind_int64(st, 2, now_s());
        bind_text(st, 3, iccid);
        sqlite3_bind_int(st, 4, from);
        rc = step_done(q, st, &changes);
    }
    unprep(q, st);
    if (!rc && changes != 1)
        rc = missing_or_state(q, "SELECT 1 FROM profiles WHERE iccid = ?1", iccid);
    rc = wdone_unlock(s, rc);
    return rc;
}

/* ---- orders ---- */

#define ORDER_COLS "matching_id, iccid, operator_id, eid, smdp_address, cc_hash, " \
                   "cc_attempts, cc_limit, transaction_id, session_expires, otpk, used_ppk, " \
                   "download_attempts, download_limit, state, created, expires, updated, " \
                   "bpp_transaction_id, euicc_pk, euicc_eid"

static void row_order(sqlite3_stmt *st, struct smdp_order *o)
{
    memset(o, 0, sizeof(*o));
    col_text(st, 0, o->matching_id, sizeof(o->matching_id));
    col_text(st, 1, o->iccid, sizeof(o->iccid));
    col_text(st, 2, o->operator_id, sizeof(o->operator_id));
    col_text(st, 3, o->eid, sizeof(o->eid));
    col_text(st, 4, o->smdp_address, sizeof(o->smdp_address));
    if (sqlite3_column_bytes(st, 5) == 32) {
        memcpy(o->cc_hash, sqlite3_column_blob(st, 5), 32);
        o->cc_required = 1;
    }
    o->cc_attempts = (unsigned)sqlite3_column_int(st, 6);
    o->cc_limit = (unsigned)sqlite3_column_int(st, 7);
    col_text(st, 8, o->transaction_id, sizeof(o->transaction_id));
    o->session_expires = sqlite3_column_int64(st, 9);
    int n = sqlite3_column_bytes(st, 10);
    if (n > 0 && n <= SMDP_OTPK_MAX) {
        memcpy(o->otpk, sqlite3_column_blob(st, 10), (size_t)n);
        o->otpk_len = (size_t)n;
    }
    o->used_ppk = sqlite3_column_int(st, 11);
    o->download_attempts = (unsigned)sqlite3_column_int(st, 12);
    o->download_limit = (unsigned)sqlite3_column_int(st, 13);
    o->state = sqlite3_column_int(st, 14);
    o->created = sqlite3_column_int64(st, 15);
    o->expires = sqlite3_column_int64(st, 16);
    o->updated = sqlite3_column_int64(st, 17);
    col_text(st, 18, o->bpp_transaction_id, sizeof(o->bpp_transaction_id));
    n = sqlite3_column_bytes(st, 19);
    if (n > 0 && n <= SMDP_EUICC_PK_MAX) {
        memcpy(o->euicc_pk, sqlite3_column_blob(st, 19), (size_t)n);
        o->euicc_pk_len = (size_t)n;
    }
    col_text(st, 20, o->euicc_eid, sizeof(o->euicc_eid));
}

static int eid_ok(const char *eid)
{
    return !*eid || rsp_eid_check(eid) == RSP_OK;
}

static int sq_order_create(struct smdp_store *s, struct smdp_order *o)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    int changes = 0;
    if (!text_ok(o->matching_id, SMDP_MID_MAX, 1) || !text_ok(o->operator_id, SMDP_ID_MAX, 1) ||
        !text_ok(o->smdp_address, SMDP_FQDN_MAX, 1) || strnlen(o->eid, 33) > 32 ||
        !eid_ok(o->eid) || (o->iccid[0] && !iccid_ok(o->iccid)) || o->expires <= 0 ||
        (o->cc_required && !o->cc_limit) || o->cc_limit > 1000 || o->download_limit > 1000)
        return RSP_ERR_INVAL;
    int64_t now = now_s();
    int to = o->eid[0] ? SMDP_PROFILE_LINKED : SMDP_PROFILE_ALLOCATED;
    LOCK(q);
    int rc = begin(q);
    if (rc)
        goto out;
    if (!o->iccid[0]) {
        rc = prep(q, "SELECT iccid FROM profiles WHERE operator_id = ?1 AND state = ?2"
                     " ORDER BY created, iccid LIMIT 1", &st);
        if (!rc) {
            bind_text(st, 1, o->operator_id);
            sqlite3_bind_int(st, 2, SMDP_PROFILE_AVAILABLE);
            int r = sqlite3_step(st);
            if (r == SQLITE_ROW)
                col_text(st, 0, o->iccid, sizeof(o->iccid));
            else
                rc = r == SQLITE_DONE ? RSP_ERR_NOTFOUND : db_err(q, r, "pick profile");
        }
    } else {
        rc = prep(q, "SELECT operator_id = ?2 AND state = ?3 FROM profiles WHERE iccid = ?1", &st);
        if (!rc) {
            bind_text(st, 1, o->iccid);
            bind_text(st, 2, o->operator_id);
            sqlite3_bind_int(st, 3, SMDP_PROFILE_AVAILABLE);
            int r = sqlite3_step(st);
            if (r == SQLITE_ROW)
                rc = sqlite3_column_int(st, 0) ? RSP_OK : RSP_ERR_STATE;
            else
                rc = r == SQLITE_DONE ? RSP_ERR_NOTFOUND : db_err(q, r, "check profile");
        }
    }
    unprep(q, st);
    st = NULL;
    if (rc)
        goto out;
    rc = prep(q, "UPDATE profiles SET state = ?1, updated = ?2 WHERE iccid = ?3 AND state = ?4",
              &st);
    if (!rc) {
        sqlite3_bind_int(st, 1, to);
        sqlite3_bind_int64(st, 2, now);
        bind_text(st, 3, o->iccid);
        sqlite3_bind_int(st, 4, SMDP_PROFILE_AVAILABLE);
        rc = step_done(q, st, &changes);
        if (!rc && changes != 1)
            rc = RSP_ERR_STATE;
    }
    unprep(q, st);
    st = NULL;
    if (rc)
        goto out;
    rc = prep(q, "INSERT INTO orders (matching_id, iccid, operator_id, eid, smdp_address,"
                 " cc_hash, cc_limit, download_limit, state, created, expires, updated)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?10)", &st);
    if (!rc) {
        bind_text(st, 1, o->matching_id);
        bind_text(st, 2, o->iccid);
        bind_text(st, 3, o->operator_id);
        bind_text_or_null(st, 4, o->eid);
        bind_text(st, 5, o->smdp_address);
        bind_blob_or_null(st, 6, o->cc_required ? o->cc_hash : NULL, 32);
        sqlite3_bind_int(st, 7, (int)o->cc_limit);
        sqlite3_bind_int(st, 8, (int)o->download_limit);
        sqlite3_bind_int(st, 9, SMDP_ORDER_ACTIVE);
        sqlite3_bind_int64(st, 10, now);
        sqlite3_bind_int64(st, 11, o->expires);
        rc = step_done(q, st, NULL);
    }
    unprep(q, st);
    if (!rc) {
        o->state = SMDP_ORDER_ACTIVE;
        o->created = o->updated = now;
        o->cc_attempts = o->download_attempts = 0;
    }
out:
    rc = finish_unlock(s, rc);
    return rc;
}

static int sq_order_get(struct smdp_store *s, int key, const char *value, struct smdp_order *out)
{
    static const char *const sql[] = {
        [SMDP_ORDER_BY_MATCHING_ID] = "SELECT " ORDER_COLS " FROM orders WHERE matching_id = ?1",
        [SMDP_ORDER_BY_TRANSACTION_ID] =
            "SELECT " ORDER_COLS " FROM orders WHERE transaction_id = ?1",
        [SMDP_ORDER_BY_ICCID] = "SELECT " ORDER_COLS " FROM orders WHERE iccid = ?1"
                                " ORDER BY state = 1 DESC, created DESC, rowid DESC LIMIT 1",
        [SMDP_ORDER_BY_BPP_TRANSACTION_ID] =
            "SELECT " ORDER_COLS " FROM orders WHERE bpp_transaction_id = ?1",
    };
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    if (key < SMDP_ORDER_BY_MATCHING_ID || key > SMDP_ORDER_BY_BPP_TRANSACTION_ID)
        return RSP_ERR_INVAL;
    LOCK(q);
    int rc = prep(q, sql[key], &st);
    if (!rc) {
        bind_text(st, 1, value);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW)
            row_order(st, out);
        else
            rc = r == SQLITE_DONE ? RSP_ERR_NOTFOUND : db_err(q, r, "order_get");
    }
    unprep(q, st);
    UNLOCK(q);
    return rc;
}

static int sq_order_list(struct smdp_store *s, smdp_order_cb cb, void *arg)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    struct smdp_order o;
    LOCK(q);
    int rc = prep(q, "SELECT " ORDER_COLS " FROM orders ORDER BY created, rowid", &st);
    while (!rc) {
        int r = sqlite3_step(st);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = db_err(q, r, "order_list");
            break;
        }
        row_order(st, &o);
        rc = cb(&o, arg);
    }
    unprep(q, st);
    UNLOCK(q);
    return rc;
}

static int set_order_state(struct sq_store *q, const char *matching_id, int to, int64_t now)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(q, "UPDATE orders SET state = ?1, updated = ?2 WHERE matching_id = ?3", &st);
    if (!rc) {
        sqlite3_bind_int(st, 1, to);
        sqlite3_bind_int64(st, 2, now);
        bind_text(st, 3, matching_id);
        rc = step_done(q, st, NULL);
    }
    unprep(q, st);
    return rc;
}

/* Run a statement whose one result column is an ICCID (UPDATE .. RETURNING
 * iccid or SELECT iccid); RSP_ERR_STATE if it yields no row. */
static int step_iccid(struct sq_store *q, sqlite3_stmt *st, char iccid[21])
{
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        col_text(st, 0, iccid, 21);
        while ((r = sqlite3_step(st)) == SQLITE_ROW)
            ;
    } else if (r == SQLITE_DONE) {
        return RSP_ERR_STATE;
    }
    return r == SQLITE_DONE ? RSP_OK : db_err(q, r, "step");
}

/* A profile's state inside a transaction, as a compare-and-set when from
 * is a state (RSP_ERR_STATE if the profile is not in it: the caller rolls
 * back), unconditionally when from < 0. */
static int profile_state(struct sq_store *q, const char *iccid, int from, int to, int64_t now)
{
    sqlite3_stmt *st = NULL;
    int changes = 0;
    int rc = prep(q, "UPDATE profiles SET state = ?1, updated = ?2"
                     " WHERE iccid = ?3 AND (?4 < 0 OR state = ?4)", &st);
    if (!rc) {
        sqlite3_bind_int(st, 1, to);
        sqlite3_bind_int64(st, 2, now);
        bind_text(st, 3, iccid);
        sqlite3_bind_int(st, 4, from);
        rc = step_done(q, st, &changes);
    }
    unprep(q, st);
    return !rc && changes != 1 ? RSP_ERR_STATE : rc;
}

/* The order moves by compare-and-set (UPDATE .. WHERE state = from
 * RETURNING iccid), then its profile: two statements where a lookup and
 * two updates were; any mismatch rolls the whole transaction back. */
static int sq_order_transition(struct smdp_store *s, const char *matching_id,
                               int order_from, int order_to, int profile_from, int profile_to)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    char iccid[21] = "";
    int64_t now = now_s();
    LOCK(q);
    int rc = begin(q);
    if (!rc && order_to != order_from) {
        rc = prep(q, "UPDATE orders SET state = ?1, updated = ?2"
                     " WHERE matching_id = ?3 AND state = ?4 RETURNING iccid", &st);
        if (!rc) {
            sqlite3_bind_int(st, 1, order_to);
            sqlite3_bind_int64(st, 2, now);
            bind_text(st, 3, matching_id);
            sqlite3_bind_int(st, 4, order_from);
        }
    } else if (!rc) {
        rc = prep(q, "SELECT iccid FROM orders WHERE matching_id = ?1 AND state = ?2", &st);
        if (!rc) {
            bind_text(st, 1, matching_id);
            sqlite3_bind_int(st, 2, order_from);
        }
    }
    if (!rc)
        rc = step_iccid(q, st, iccid);
    unprep(q, st);
    if (rc == RSP_ERR_STATE)
        rc = missing_or_state(q, "SELECT 1 FROM orders WHERE matching_id = ?1", matching_id);
    if (!rc && profile_to)
        rc = profile_state(q, iccid, profile_from, profile_to, now);
    return finish_unlock(s, rc);
}

static int sq_cc_attempt(struct smdp_store *s, const char *matching_id, int correct,
                         int *outcome)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    int ostate = 0, has_cc = 0, pstate = 0;
    unsigned attempts = 0, limit = 0;
    char iccid[21] = "";
    int64_t now = now_s();
    LOCK(q);
    int rc = begin(q);
    if (rc)
        goto out;
    rc = prep(q, "SELECT o.state, o.cc_hash IS NOT NULL, o.cc_attempts, o.cc_limit, o.iccid,"
                 " p.state FROM orders o JOIN profiles p ON p.iccid = o.iccid"
                 " WHERE o.matching_id = ?1", &st);
    if (!rc) {
        bind_text(st, 1, matching_id);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            ostate = sqlite3_column_int(st, 0);
            has_cc = sqlite3_column_int(st, 1);
            attempts = (unsigned)sqlite3_column_int(st, 2);
            limit = (unsigned)sqlite3_column_int(st, 3);
            col_text(st, 4, iccid, sizeof(iccid));
            pstate = sqlite3_column_int(st, 5);
        } else {
            rc = r == SQLITE_DONE ? RSP_ERR_NOTFOUND : db_err(q, r, "cc lookup");
        }
    }
    unprep(q, st);
    st = NULL;
    if (!rc && (ostate != SMDP_ORDER_ACTIVE || !has_cc || attempts >= limit))
        rc = RSP_ERR_STATE;
    if (rc)
        goto out;
    if (correct) {
        *outcome = SMDP_CC_ACCEPTED;
        goto out;
    }
    attempts++;
    /* A wrong code ends the RSP session (SGP.22 §5.6.2: the LPA then
     * cancels it; a new session may try again while attempts remain). */
    rc = prep(q, "UPDATE orders SET cc_attempts = ?1, updated = ?2, transaction_id = NULL,"
                 " session_expires = NULL WHERE matching_id = ?3", &st);
    if (!rc) {
        sqlite3_bind_int(st, 1, (int)attempts);
        sqlite3_bind_int64(st, 2, now);
        bind_text(st, 3, matching_id);
        rc = step_done(q, st, NULL);
    }
    unprep(q, st);
    if (rc)
        goto out;
    if (attempts < limit) {
        *outcome = SMDP_CC_REJECTED;
        goto out;
    }
    rc = set_order_state(q, matching_id, SMDP_ORDER_FAILED, now);
    if (!rc && smdp_profile_transition_legal(pstate, SMDP_PROFILE_ERROR))
        rc = profile_state(q, iccid, -1, SMDP_PROFILE_ERROR, now);
    if (!rc)
        *outcome = SMDP_CC_LOCKED;
out:
    rc = finish_unlock(s, rc);
    return rc;
}

static int sq_order_confirm(struct smdp_store *s, const char *matching_id,
                            const struct smdp_confirm *c)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    int ostate = 0, pstate = 0;
    char iccid[21] = "", eid[33] = "";
    int64_t now = now_s();
    const char *eid_new = c->eid && *c->eid ? c->eid : NULL;
    const char *mid_new = c->matching_id && *c->matching_id ? c->matching_id : matching_id;

    if ((eid_new && rsp_eid_check(eid_new) != RSP_OK) || !text_ok(mid_new, SMDP_MID_MAX, 1))
        return RSP_ERR_INVAL;
    LOCK(q);
    int rc = begin(q);
    if (rc)
        goto out;
    rc = prep(q, "SELECT o.state, o.iccid, p.state, coalesce(o.eid, '') FROM orders o"
                 " JOIN profiles p ON p.iccid = o.iccid WHERE o.matching_id = ?1", &st);
    if (!rc) {
        bind_text(st, 1, matching_id);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            ostate = sqlite3_column_int(st, 0);
            col_text(st, 1, iccid, sizeof(iccid));
            pstate = sqlite3_column_int(st, 2);
            col_text(st, 3, eid, sizeof(eid));
        } else {
            rc = r == SQLITE_DONE ? RSP_ERR_NOTFOUND : db_err(q, r, "confirm lookup");
        }
    }
    unprep(q, st);
    st = NULL;
    if (!rc && (ostate != SMDP_ORDER_ACTIVE || pstate != c->profile_from ||
                (eid_new && eid[0] && strcmp(eid, eid_new))))
        rc = RSP_ERR_STATE;
    if (rc)
        goto out;
    /* matching_id is the key: renaming it fails on UNIQUE if taken */
    rc = prep(q, "UPDATE orders SET matching_id = ?1, eid = coalesce(?2, eid),"
                 " cc_hash = coalesce(?3, cc_hash),"
                 " cc_attempts = CASE WHEN ?3 IS NULL THEN cc_attempts ELSE 0 END,"
                 " cc_limit = CASE WHEN ?3 IS NULL THEN cc_limit ELSE ?4 END,"
                 " updated = ?5 WHERE matching_id = ?6", &st);
    if (!rc) {
        bind_text(st, 1, mid_new);
        bind_text_or_null(st, 2, eid_new);
        bind_blob_or_null(st, 3, c->cc_hash, 32);
        sqlite3_bind_int(st, 4, (int)c->cc_limit);
        sqlite3_bind_int64(st, 5, now);
        bind_text(st, 6, matching_id);
        rc = step_done(q, st, NULL);
    }
    unprep(q, st);
    if (!rc)
        rc = profile_state(q, iccid, -1, c->profile_to, now);
out:
    rc = finish_unlock(s, rc);
    return rc;
}

static int sq_session_create(struct smdp_store *s, const char *matching_id,
                             const char *transaction_id, int64_t expires)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    int changes = 0;
    if (!tid_ok(transaction_id) || expires <= 0)
        return RSP_ERR_INVAL;
    LOCK(q);
    /* Not fsynced on its own (see smdp_store.h): sessions are in memory.
     * The connection is at synchronous=NORMAL when grouped(), and this
     * writer does not wait for a group sync (without a group, e.g. not in
     * WAL mode, the commit is synced as every other). */
    wlock();
    int rc = prep(q, "UPDATE orders SET transaction_id = ?1, session_expires = ?2, updated = ?3"
                     " WHERE matching_id = ?4 AND state = ?5", &st);
    if (!rc) {
        bind_text(st, 1, transaction_id);
        sqlite3_bind_int64(st, 2, expires);
        sqlite3_bind_int64(st, 3, now_s());
        bind_text(st, 4, matching_id);
        sqlite3_bind_int(st, 5, SMDP_ORDER_ACTIVE);
        rc = step_done(q, st, &changes);
    }
    unprep(q, st);
    if (!rc && changes != 1)
        rc = missing_or_state(q, "SELECT 1 FROM orders WHERE matching_id = ?1", matching_id);
    wunlock();
    UNLOCK(q);
    return rc;
}

static int sq_session_bind(struct smdp_store *s, const char *transaction_id,
                           const struct smdp_binding *b)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    char iccid[21] = "";
    int64_t now = now_s();
    if (!tid_ok(transaction_id))
        return RSP_ERR_INVAL;
    LOCK(q);
    int rc = begin(q);
    if (!rc)
        rc = prep(q, "UPDATE orders SET otpk = ?1, used_ppk = ?2,"
                     " download_attempts = download_attempts + 1, updated = ?3,"
                     " bpp_transaction_id = ?4, euicc_pk = ?6, euicc_eid = ?7"
                     " WHERE transaction_id = ?4 AND state = ?5"
                     " AND download_attempts < download_limit RETURNING iccid", &st);
    if (!rc) {
        bind_blob_or_null(st, 1, b->otpk, b->otpk_len);
        sqlite3_bind_int(st, 2, b->used_ppk < 0 ? -1 : !!b->used_ppk);
        sqlite3_bind_int64(st, 3, now);
        bind_text(st, 4, transaction_id);
        sqlite3_bind_int(st, 5, SMDP_ORDER_ACTIVE);
        bind_blob_or_null(st, 6, b->euicc_pk, b->euicc_pk_len);
        bind_text_or_null(st, 7, b->eid);
        rc = step_iccid(q, st, iccid);
    }
    unprep(q, st);
    if (rc == RSP_ERR_STATE)
        rc = missing_or_state(q, "SELECT 1 FROM orders WHERE transaction_id = ?1",
                              transaction_id);
    /* the order's profile, in the same transaction (one fsync per BPP) */
    if (!rc && b->profile_to)
        rc = profile_state(q, iccid, b->profile_from, b->profile_to, now);
    rc = finish_unlock(s, rc);
    return rc;
}

static int sq_expire(struct smdp_store *s, int64_t now, unsigned *n_sessions,
                     unsigned *n_orders)
{
    struct sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    int ch_orders = 0, ch_sessions = 0;
    LOCK(q);
    int rc = begin(q);
    /* Profiles of expiring orders that have not reached Installed go to
     * Error (the edges X -> Error of smdp_state.c). */
    if (!rc)
        rc = prep(q, "UPDATE profiles SET state = ?1, updated = ?2"
                     " WHERE state IN (?3, ?4, ?5, ?6, ?7) AND iccid IN"
                     " (SELECT iccid FROM orders WHERE state = ?8 AND expires <= ?2)", &st);
    if (!rc) {
        sqlite3_bind_int(st, 1, SMDP_PROFILE_ERROR);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_int(st, 3, SMDP_PROFILE_ALLOCATED);
        sqlite3_bind_int(st, 4, SMDP_PROFILE_LINKED);
        sqlite3_bind_int(st, 5, SMDP_PROFILE_CONFIRMED);
        sqlite3_bind_int(st, 6, SMDP_PROFILE_RELEASED);
        sqlite3_bind_int(st, 7, SMDP_PROFILE_DOWNLOADED);
        sqlite3_bind_int(st, 8, SMDP_ORDER_ACTIVE);
        rc = step_done(q, st, NULL);
    }
    unprep(q, st);
    st = NULL;
    if (!rc)
        rc = prep(q, "UPDATE orders SET state = ?1, transaction_id = NULL,"
                     " session_expires = NULL, updated = ?2"
                     " WHERE state = ?3 AND expires <= ?2", &st);
    if (!rc) {
        sqlite3_bind_int(st, 1, SMDP_ORDER_EXPIRED);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_int(st, 3, SMDP_ORDER_ACTIVE);
        rc = step_done(q, st, &ch_orders);
    }
    unprep(q, st);
    st = NULL;
    if (!rc)
        rc = prep(q, "UPDATE orders SET transaction_id = NULL, session_expires = NULL,"
                     " updated = ?1 WHERE transaction_id IS NOT NULL AND session_expires <= ?1",
                  &st);
    if (!rc) {
        sqlite3_bind_int64(st, 1, now);
        rc = step_done(q, st, &ch_sessions);
    }
    unprep(q, st);
    rc = finish_unlock(s, rc);
    if (n_orders)
        *n_orders = rc ? 0 : (unsigned)ch_orders;
    if (n_sessions)
        *n_sessions = rc ? 0 : (unsigned)ch_sessions;
    return rc;
}

static void conn_close(struct sq_store *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n_cache; i++)
        sqlite3_finalize(q->cache[i].st);
    sqlite3_close(q->db);
    group_put(q->grp);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

static void sq_close(struct smdp_store *s)
{
    struct sq_handle *h = (struct sq_handle *)s;
    struct sq_store *q = h->q;
    int last = 0;
    if (q) {
        pthread_mutex_lock(&sq_smu);
        last = --q->refs == 0;
        if (last && q->grp && q->grp->conn == q)
            q->grp->conn = NULL;
        pthread_mutex_unlock(&sq_smu);
    }
    if (last)
        conn_close(q);
    free(h);
}

/* The connection this process already has on the database file at path,
 * one more reference taken; NULL if none. */
static struct sq_store *conn_find(const char *path)
{
    struct stat stt;
    struct sq_store *q = NULL;
    if (stat(path, &stt) != 0)
        return NULL;
    pthread_mutex_lock(&sq_smu);
    for (struct sq_group *g = sq_groups; g; g = g->next)
        if (g->dev == stt.st_dev && g->ino == stt.st_ino && g->pid == getpid() && g->conn) {
            q = g->conn;
            q->refs++;
            break;
        }
    pthread_mutex_unlock(&sq_smu);
    return q;
}

/* Make the new connection q the one its file's handles share, unless
 * another thread was first: then q is closed and that one returned. */
static struct sq_store *conn_share(struct sq_store *q)
{
    struct sq_store *other = NULL;
    if (!q->grp)
        return q;           /* not WAL or no file: the handle's own */
    pthread_mutex_lock(&sq_smu);
    if (q->grp->conn) {
        other = q->grp->conn;
        other->refs++;
    } else {
        q->grp->conn = q;
    }
    pthread_mutex_unlock(&sq_smu);
    if (!other)
        return q;
    conn_close(q);
    return other;
}

static const struct smdp_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .operator_add = sq_operator_add,
    .operator_get = sq_operator_get,
    .operator_list = sq_operator_list,
    .profile_import = sq_profile_import,
    .profile_get = sq_profile_get,
    .profile_list = sq_profile_list,
    .profile_transition = sq_profile_transition,
    .order_create = sq_order_create,
    .order_get = sq_order_get,
    .order_list = sq_order_list,
    .order_transition = sq_order_transition,
    .order_confirm = sq_order_confirm,
    .operator_by_cert = sq_operator_by_cert,
    .cc_attempt = sq_cc_attempt,
    .session_create = sq_session_create,
    .session_bind = sq_session_bind,
    .expire = sq_expire,
};

/* The connection's PRAGMA synchronous for a handle asking for `full`:
 * NORMAL whenever the group commit does the syncing (grouped(): the
 * handle's flag decides whether it waits for them), else FULL or NORMAL
 * (such a connection is the handle's own, never shared). */
static int sync_pragma(struct sq_store *q, int full)
{
    return exec(q, full && !grouped(q) ? "PRAGMA synchronous = FULL"
                                       : "PRAGMA synchronous = NORMAL");
}

int smdp_store_sqlite_synchronous(struct smdp_store *s, int full)
{
    if (!s || s->ops != &sqlite_ops)
        return RSP_ERR_INVAL;
    struct sq_handle *h = (struct sq_handle *)s;
    LOCK(h->q);
    int rc = sync_pragma(h->q, !!full);
    if (!rc)
        h->sync_full = !!full;
    UNLOCK(h->q);
    return rc;
}

int smdp_store_open_sqlite(const char *path, struct smdp_store **out)
{
    pthread_mutexattr_t attr;
    if (!out)
        return RSP_ERR_INVAL;
    *out = NULL;
    if (!path || !*path)
        return RSP_ERR_INVAL;
    struct sq_handle *h = calloc(1, sizeof(*h));
    if (!h)
        return RSP_ERR_NOMEM;
    h->base.ops = &sqlite_ops;
    h->sync_full = 1;
    if ((h->q = conn_find(path)) != NULL) {
        *out = &h->base;
        return RSP_OK;
    }
    struct sq_store *q = calloc(1, sizeof(*q));
    if (!q) {
        free(h);
        return RSP_ERR_NOMEM;
    }
    q->refs = 1;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&q->mu, &attr);
    pthread_mutexattr_destroy(&attr);

    int rc = RSP_OK;
    int r = sqlite3_open_v2(path, &q->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            NULL);
    if (r != SQLITE_OK) {
        RSP_LOG(RSP_LOG_ERROR, LOG_DOMAIN, "%s: %s", path,
                q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(r));
        rc = r == SQLITE_NOMEM ? RSP_ERR_NOMEM : SMDP_ERR_DB;
        goto out;
    }
    sqlite3_extended_result_codes(q->db, 1);
    sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);
    rc = exec(q, "PRAGMA journal_mode = WAL");
    if (!rc) {
        /* the mode in effect (an in-memory database stays "memory") */
        sqlite3_stmt *jm = NULL;
        if (sqlite3_prepare_v2(q->db, "PRAGMA journal_mode", -1, &jm, NULL) == SQLITE_OK &&
            sqlite3_step(jm) == SQLITE_ROW && sqlite3_column_text(jm, 0) &&
            !strcmp((const char *)sqlite3_column_text(jm, 0), "wal"))
            q->wal = 1;
        sqlite3_finalize(jm);
    }
    if (!rc && q->wal)
        q->grp = group_get(path, q->db);
    if (!rc)
        rc = sync_pragma(q, 1);
    if (!rc)
        rc = exec(q, "PRAGMA foreign_keys = ON");
    if (!rc)
        rc = migrate(q);
out:
    if (rc) {
        conn_close(q);
        free(h);
        return rc;
    }
    h->q = conn_share(q);
    *out = &h->base;
    return RSP_OK;
}
