/*
 * smdp_store.h - the SM-DP+ storage interface (operators, profiles, download
 * orders and their RSP sessions).
 *
 * One narrow interface: a table of backend functions (struct smdp_store_ops)
 * behind an opaque handle (struct smdp_store). Handlers only call the
 * smdp_store_*() wrappers below, so a second backend (PostgreSQL) is one new
 * file implementing the ops, with no change to any handler.
 *
 * Entities follow SGP.22 v2.5 §5.3 (ES2+: DownloadOrder, ConfirmOrder,
 * CancelOrder, ReleaseProfile, HandleDownloadProgressInfo) and §3.1 (profile
 * download, including the retry rules of §3.1.3).
 *
 * Every state change is one backend transaction: either everything it
 * describes is stored, or nothing is. Illegal transitions are refused with
 * RSP_ERR_STATE and the stored state unchanged.
 *
 * Threads: a handle serialises its own calls (it holds a mutex), so it may be
 * shared; the intended use is one handle per thread. The SQLite backend
 * gives the handles of one process on one file a single shared connection
 * (calls run one at a time, durable syncs outside the lock) and lets the
 * database arbitrate between processes (see smdp_store_sqlite.c).
 */
#ifndef SMDP_STORE_H
#define SMDP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "rsp_err.h"

/* Errors specific to the store (rsp_err values are used for the rest). */
#define SMDP_ERR_EXISTS  (-64)  /* unique key already present (duplicate) */
#define SMDP_ERR_DB      (-65)  /* the database failed (I/O, corruption, busy) */

/* smdp_strerror: SMDP_ERR_* text, else rsp_strerror(). Never NULL. */
const char *smdp_strerror(int err);

/* Profile states on the SM-DP+ (SGP.22 v2.5 §5.3, ES2+ function
 * descriptions). Values are stored; never renumber. */
enum smdp_profile_state {
    SMDP_PROFILE_AVAILABLE   = 1,
    SMDP_PROFILE_ALLOCATED   = 2,  /* DownloadOrder without EID */
    SMDP_PROFILE_LINKED      = 3,  /* DownloadOrder with EID */
    SMDP_PROFILE_CONFIRMED   = 4,  /* ConfirmOrder, releaseFlag false */
    SMDP_PROFILE_RELEASED    = 5,  /* ConfirmOrder releaseFlag true / ReleaseProfile */
    SMDP_PROFILE_DOWNLOADED  = 6,  /* BPP delivered (ES9+.GetBoundProfilePackage) */
    SMDP_PROFILE_INSTALLED   = 7,  /* ProfileInstallationResult success */
    SMDP_PROFILE_ERROR       = 8,  /* download failed or was cancelled */
    SMDP_PROFILE_UNAVAILABLE = 9,  /* withdrawn (CancelOrder final status) */
};
#define SMDP_PROFILE_STATE_MAX 9

/* "Available", ... ; "?" for an unknown value. */
const char *smdp_profile_state_name(int state);
/* Case-insensitive name to state; RSP_ERR_INVAL if unknown. */
int smdp_profile_state_parse(const char *name);

/* The one table of legal profile transitions (smdp_state.c, with the
 * SGP.22 clause of each edge). Returns 1 if from -> to is legal. */
int smdp_profile_transition_legal(int from, int to);

/* Download order / session states. An order is ACTIVE from DownloadOrder
 * until the profile reaches Installed (DONE), the order is cancelled or
 * fails (CANCELLED, FAILED), or it outlives its expiry (EXPIRED). */
enum smdp_order_state {
    SMDP_ORDER_ACTIVE    = 1,
    SMDP_ORDER_DONE      = 2,
    SMDP_ORDER_CANCELLED = 3,
    SMDP_ORDER_FAILED    = 4,
    SMDP_ORDER_EXPIRED   = 5,
};
const char *smdp_order_state_name(int state);
/* Legal order transitions: only ACTIVE -> any other state. */
int smdp_order_transition_legal(int from, int to);

/* ProfileClass (SGP.22 §2.4a / ProfileInfo profileClass). */
enum smdp_profile_class {
    SMDP_CLASS_TEST = 0,
    SMDP_CLASS_PROVISIONING = 1,
    SMDP_CLASS_OPERATIONAL = 2,
};

/* PprIds bits (SGP.22 §2.9.2.1): bit i of the mask is PprIds bit i. */
#define SMDP_PPR_UPDATE_CONTROL (1u << 0)
#define SMDP_PPR1               (1u << 1)
#define SMDP_PPR2               (1u << 2)

#define SMDP_ID_MAX     64   /* operator id */
#define SMDP_NAME_MAX   128
#define SMDP_URL_MAX    256
#define SMDP_MID_MAX    64   /* matchingId */
#define SMDP_FQDN_MAX   255
#define SMDP_TID_MAX    32   /* transactionId as hex, up to 16 bytes */
#define SMDP_OTPK_MAX   128  /* otPK.EUICC.ECKA, uncompressed point */
#define SMDP_ICON_MAX   1024 /* SGP.22 icon OCTET STRING (SIZE(0..1024)) */
#define SMDP_EUICC_PK_MAX 160 /* PK.EUICC.SIG as DER SubjectPublicKeyInfo */

struct smdp_operator {
    char id[SMDP_ID_MAX + 1];
    char name[SMDP_NAME_MAX + 1];
    int has_cert;                   /* cert_sha256 valid */
    uint8_t cert_sha256[32];        /* SHA-256 of the client certificate DER */
    char callback_url[SMDP_URL_MAX + 1];  /* "" if none */
    int64_t created;                /* Unix seconds; set by the store */
};

struct smdp_profile {
    char iccid[21];                 /* primary key; caller-chosen (see import) */
    char operator_id[SMDP_ID_MAX + 1];
    int state;                      /* enum smdp_profile_state */
    char profile_type[101];         /* PE-Header profileType */
    char spn[33];                   /* serviceProviderName (UTF8String SIZE(0..32)) */
    char name[65];                  /* profileName (UTF8String SIZE(0..64)) */
    int pclass;                     /* enum smdp_profile_class */
    int icon_type;                  /* -1 none, 0 jpg, 1 png (IconType) */
    uint8_t *icon;                  /* owned; NULL if none */
    size_t icon_len;
    unsigned ppr_mask;              /* SMDP_PPR* */
    uint8_t *notif_config;          /* owned; DER of notificationConfigurationInfo, NULL if none */
    size_t notif_config_len;
    uint8_t *package;               /* owned; unprotected package, only when asked */
    size_t package_len;
    int64_t created, updated;
};

/* Free the owned buffers of p and zero it (p itself is the caller's). */
void smdp_profile_clear(struct smdp_profile *p);

struct smdp_order {
    char matching_id[SMDP_MID_MAX + 1];  /* unique */
    char iccid[21];
    char operator_id[SMDP_ID_MAX + 1];
    char eid[33];                   /* "" if the order is not bound to an EID */
    char smdp_address[SMDP_FQDN_MAX + 1];  /* the FQDN put in the activation code */
    int cc_required;                /* a confirmation code is required */
    uint8_t cc_hash[32];            /* SHA-256(confirmation code), see smdp_cc.h */
    unsigned cc_attempts;           /* wrong codes so far */
    unsigned cc_limit;              /* wrong codes allowed before the order fails */
    char transaction_id[SMDP_TID_MAX + 1];  /* hex; "" when no session */
    int64_t session_expires;        /* 0 when no session */
    uint8_t otpk[SMDP_OTPK_MAX];    /* otPK.EUICC.ECKA last used (§3.1.3) */
    size_t otpk_len;                /* 0 if none yet */
    int used_ppk;                   /* -1 unknown, 0 S-ENC/S-MAC, 1 PPK (§3.1.3) */
    unsigned download_attempts;     /* BPP downloads attempted */
    unsigned download_limit;
    int state;                      /* enum smdp_order_state */
    int64_t created, expires, updated;
    /* The last BPP bound (smdp_store_session_bind): what verifying its
     * ProfileInstallationResult needs when the RSP session is gone (the
     * SM-DP+ restarted, or the session expired before the LPA delivered
     * the notification, SGP.22 §3.1.3 / §3.5). Kept when the session
     * expires. */
    char bpp_transaction_id[SMDP_TID_MAX + 1];  /* hex; "" if none */
    uint8_t euicc_pk[SMDP_EUICC_PK_MAX];  /* PK.EUICC.SIG, SubjectPublicKeyInfo DER */
    size_t euicc_pk_len;            /* 0 if none */
    char euicc_eid[33];             /* EID of that eUICC; "" if none */
};

/* Which key smdp_store_order_get() looks up. For ICCID it returns the
 * ACTIVE order if any, else the most recent one. */
enum smdp_order_key {
    SMDP_ORDER_BY_MATCHING_ID,
    SMDP_ORDER_BY_TRANSACTION_ID,
    SMDP_ORDER_BY_ICCID,
    SMDP_ORDER_BY_BPP_TRANSACTION_ID,  /* transactionId of the last BPP bound */
};

/* What smdp_store_session_bind records with a BPP binding. */
struct smdp_binding {
    const uint8_t *otpk;            /* otPK.EUICC.ECKA (1..SMDP_OTPK_MAX) */
    size_t otpk_len;
    int used_ppk;                   /* -1 unknown, 0 S-ENC/S-MAC, 1 PPK */
    const uint8_t *euicc_pk;        /* PK.EUICC.SIG, SubjectPublicKeyInfo DER */
    size_t euicc_pk_len;            /* 1..SMDP_EUICC_PK_MAX */
    const char *eid;                /* the eUICC's EID (32 digits) */
    int profile_from, profile_to;   /* profile_to 0: the profile is left as it
                                     * is; else it moves from profile_from
                                     * (e.g. Released -> Downloaded, §3.1.3)
                                     * in the same transaction, RSP_ERR_STATE
                                     * (nothing changed) if it is not there */
};

/* Outcome of a confirmation code attempt: data, not an error. */
enum smdp_cc_outcome {
    SMDP_CC_ACCEPTED = 0,
    SMDP_CC_REJECTED = 1,     /* wrong code, attempts left */
    SMDP_CC_LOCKED   = 2,     /* limit reached: order FAILED, profile Error */
};

/* What smdp_store_order_confirm changes (ES2+.ConfirmOrder, SGP.22 v2.5
 * §5.3.2), all in one transaction with the profile transition. */
struct smdp_confirm {
    const char *eid;                /* NULL or "": keep the order's; else it must
                                     * equal the order's EID or bind an unbound
                                     * order */
    const uint8_t *cc_hash;         /* SHA-256(confirmation code), NULL: keep */
    unsigned cc_limit;              /* with cc_hash: attempts allowed (1..1000) */
    const char *matching_id;        /* NULL or "": keep; else the new matchingId
                                     * (operator-chosen or generated) */
    int profile_from;               /* Allocated or Linked, as the caller read it */
    int profile_to;                 /* Confirmed or Released (releaseFlag) */
};

/* List callbacks: return 0 to go on, non-zero to stop (returned by list).
 * The record is only valid during the call. */
typedef int (*smdp_operator_cb)(const struct smdp_operator *op, void *arg);
typedef int (*smdp_profile_cb)(const struct smdp_profile *p, void *arg);
typedef int (*smdp_order_cb)(const struct smdp_order *o, void *arg);

struct smdp_store;

/* Backend interface. Every function returns RSP_OK or a negative error. */
struct smdp_store_ops {
    const char *name;
    void (*close)(struct smdp_store *s);
    int (*operator_add)(struct smdp_store *s, const struct smdp_operator *op);
    int (*operator_get)(struct smdp_store *s, const char *id, struct smdp_operator *out);
    int (*operator_list)(struct smdp_store *s, smdp_operator_cb cb, void *arg);
    int (*profile_import)(struct smdp_store *s, const struct smdp_profile *p);
    int (*profile_get)(struct smdp_store *s, const char *iccid, int with_package,
                       struct smdp_profile *out);
    int (*profile_list)(struct smdp_store *s, const char *operator_id,
                        smdp_profile_cb cb, void *arg);
    int (*profile_transition)(struct smdp_store *s, const char *iccid, int from, int to);
    int (*order_create)(struct smdp_store *s, struct smdp_order *o);
    int (*order_get)(struct smdp_store *s, int key, const char *value, struct smdp_order *out);
    int (*order_list)(struct smdp_store *s, smdp_order_cb cb, void *arg);
    int (*order_transition)(struct smdp_store *s, const char *matching_id,
                            int order_from, int order_to, int profile_from, int profile_to);
    int (*order_confirm)(struct smdp_store *s, const char *matching_id,
                         const struct smdp_confirm *c);
    int (*operator_by_cert)(struct smdp_store *s, const uint8_t sha256[32],
                            struct smdp_operator *out);
    int (*cc_attempt)(struct smdp_store *s, const char *matching_id, int correct,
                      int *outcome);
    int (*session_create)(struct smdp_store *s, const char *matching_id,
                          const char *transaction_id, int64_t expires);
    int (*session_bind)(struct smdp_store *s, const char *transaction_id,
                        const struct smdp_binding *b);
    int (*expire)(struct smdp_store *s, int64_t now, unsigned *n_sessions,
                  unsigned *n_orders);
};

/* Backends embed this as their first member. */
struct smdp_store {
    const struct smdp_store_ops *ops;
};

/* Open (creating if needed) an SQLite store at path, applying pending
 * migrations in one transaction. [out] *out, closed with smdp_store_close().
 * Errors: RSP_ERR_INVAL, RSP_ERR_NOMEM, SMDP_ERR_DB (cannot open, or the
 * file has a newer schema than this code knows). */
int smdp_store_open_sqlite(const char *path, struct smdp_store **out);

/* SQLite durability of an open store: full (1, the default) makes every
 * commit durable before it returns (PRAGMA synchronous=FULL; transactions
 * in WAL mode share their fsyncs, see smdp_store_sqlite.c); 0 sets synchronous=NORMAL: with WAL the database stays
 * consistent, a process crash loses nothing, but a power loss may lose the
 * last commits (e.g. a "Downloaded" - see smdp_store_sqlite.c).
 * RSP_ERR_INVAL if s is not a SQLite store, SMDP_ERR_DB. */
int smdp_store_sqlite_synchronous(struct smdp_store *s, int full);

/* Schema version of an open SQLite store (for tests and `smdp-admin`). */
int smdp_store_sqlite_schema_version(struct smdp_store *s);

/* Close a store (NULL is fine). */
void smdp_store_close(struct smdp_store *s);

/* Operators (ES2+ callers). operator_add: SMDP_ERR_EXISTS for a duplicate
 * id, RSP_ERR_INVAL for an empty id or name. */
int smdp_store_operator_add(struct smdp_store *s, const struct smdp_operator *op);
int smdp_store_operator_get(struct smdp_store *s, const char *id, struct smdp_operator *out);
int smdp_store_operator_list(struct smdp_store *s, smdp_operator_cb cb, void *arg);

/* The operator whose ES2+ client certificate DER has this SHA-256 (indexed
 * lookup, schema 3). Should several operators carry the same certificate,
 * the first by id is returned (as a scan of operator_list would find it).
 * RSP_ERR_NOTFOUND if none. */
int smdp_store_operator_by_cert(struct smdp_store *s, const uint8_t sha256[32],
                                struct smdp_operator *out);

/* Import a profile in state Available. [in] p with iccid, operator_id,
 * package (required) and metadata; p->state is ignored. The store takes the
 * ICCID the caller gives: the admin CLI reads it from the PE-Header unless
 * told otherwise. Errors: SMDP_ERR_EXISTS (ICCID present), RSP_ERR_NOTFOUND
 * (no such operator), RSP_ERR_INVAL (ICCID not 18-20 digits, missing
 * package, oversize metadata). */
int smdp_store_profile_import(struct smdp_store *s, const struct smdp_profile *p);

/* [out] *out (free with smdp_profile_clear); the package only if
 * with_package. RSP_ERR_NOTFOUND if absent. */
int smdp_store_profile_get(struct smdp_store *s, const char *iccid, int with_package,
                           struct smdp_profile *out);

/* List profiles (without package) of one operator, or all if NULL. */
int smdp_store_profile_list(struct smdp_store *s, const char *operator_id,
                            smdp_profile_cb cb, void *arg);

/* Compare-and-set: move the profile from `from` to `to` if it is in `from`
 * and the edge is legal. RSP_ERR_STATE if illegal or not in `from`,
 * RSP_ERR_NOTFOUND if absent. */
int smdp_store_profile_transition(struct smdp_store *s, const char *iccid, int from, int to);

/* ES2+.DownloadOrder: in one transaction, allocate a profile and create the
 * order. [in,out] o: matching_id, operator_id, smdp_address, expires,
 * cc_required/cc_hash/cc_limit, download_limit, eid ("" = not bound) and
 * iccid ("" = any Available profile of the operator; filled on return).
 * The profile goes Available -> Linked (EID given) or Allocated.
 * Errors: SMDP_ERR_EXISTS (matchingId taken), RSP_ERR_NOTFOUND (no such
 * profile / no Available profile / operator), RSP_ERR_STATE (profile not
 * Available or of another operator), RSP_ERR_INVAL. */
int smdp_store_order_create(struct smdp_store *s, struct smdp_order *o);

int smdp_store_order_get(struct smdp_store *s, int key, const char *value,
                         struct smdp_order *out);
int smdp_store_order_list(struct smdp_store *s, smdp_order_cb cb, void *arg);

/* Compare-and-set on an order and its profile together: the order must be
 * in order_from and its profile in profile_from; both edges must be legal.
 * order_from == order_to leaves the order's state alone; profile_to == 0
 * leaves the profile alone. Reaching Installed also ends the order (DONE)
 * when order_to says so; the caller states both ends explicitly. */
int smdp_store_order_transition(struct smdp_store *s, const char *matching_id,
                                int order_from, int order_to,
                                int profile_from, int profile_to);

/* ES2+.ConfirmOrder (SGP.22 v2.5 §5.3.2) in one transaction: the ACTIVE
 * order matching_id, whose profile must still be in c->profile_from, gets
 * the EID, the confirmation code hash (wrong-code counter reset) and the
 * new matchingId given in c, and its profile moves to c->profile_to. No
 * window where the profile is free (a concurrent DownloadOrder cannot take
 * it). Errors: RSP_ERR_NOTFOUND (no such order), RSP_ERR_STATE (order not
 * ACTIVE, profile not in profile_from, illegal edge, or an EID other than
 * the order's), SMDP_ERR_EXISTS (the new matchingId is taken; nothing
 * changed), RSP_ERR_INVAL. */
int smdp_store_order_confirm(struct smdp_store *s, const char *matching_id,
                             const struct smdp_confirm *c);

/* Record a confirmation code check (SGP.22 §3.1.3 / §5.6.3 hashCc): the
 * caller compared the codes (smdp_cc_check), the store counts. [out]
 * *outcome. A wrong code ends the order's RSP session (transactionId and
 * session expiry dropped; the order stays ACTIVE for a new session while
 * attempts remain); one that reaches cc_limit fails the order and moves
 * the profile to Error, in the same transaction. RSP_ERR_STATE if the order
 * is not ACTIVE or needs no code. */
int smdp_store_cc_attempt(struct smdp_store *s, const char *matching_id, int correct,
                          int *outcome);

/* Start an RSP session on an ACTIVE order (ES9+.InitiateAuthentication /
 * AuthenticateClient): record its transactionId (hex) and expiry.
 * SMDP_ERR_EXISTS if the transactionId is in use. RSP sessions live in
 * memory and do not survive a restart, so this commit is not fsynced on its
 * own (SQLite backend: synchronous=NORMAL for it; the next durable commit
 * syncs it): losing it on power loss equals the session having expired. */
int smdp_store_session_create(struct smdp_store *s, const char *matching_id,
                              const char *transaction_id, int64_t expires);

/* Record the BPP binding of the session: the otPK.EUICC.ECKA and key kind
 * (SGP.22 §3.1.3: a retry reuses the keys only under its rules), the
 * transactionId as bpp_transaction_id and the eUICC's PK.EUICC.SIG and EID
 * (to verify the ProfileInstallationResult after a restart, §3.5), and
 * count a download attempt, in one transaction. RSP_ERR_STATE if the limit
 * is reached or the order is not ACTIVE, RSP_ERR_INVAL for missing or
 * oversize fields. */
int smdp_store_session_bind(struct smdp_store *s, const char *transaction_id,
                            const struct smdp_binding *b);

/* Expire, in one transaction, sessions whose expiry is <= now (the order
 * stays ACTIVE, its transactionId is dropped; bpp_transaction_id stays) and ACTIVE orders whose expiry
 * is <= now (order EXPIRED; its profile, if Allocated..Downloaded, to Error).
 * [out] counts (may be NULL). */
int smdp_store_expire(struct smdp_store *s, int64_t now, unsigned *n_sessions,
                      unsigned *n_orders);

#endif
