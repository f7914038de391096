/*
 * euicc.private.h - what the parts of libeuicc share. Not installed.
 *
 * Layers (one file each):
 *   euicc_apdu.c    ISO/IEC 7816-4: channels, SELECT, STORE DATA
 *                   reassembly, GET RESPONSE, status words; calls
 *                   euicc_isdr_dispatch() with one whole ES10 command.
 *   euicc_isdr.c    euicc_isdr_dispatch(): the ES10 command by its tag.
 *   euicc_es10a.c   ES10a (BF3C, BF3F).
 *   euicc_es10b.c   ES10b (BF2E, BF20, BF22, BF38, BF21, BF41, BF28, BF2B,
 *                   BF30, BF43, BF35).
 *   euicc_es8.c     ES8+ inside LoadBoundProfilePackage (BF36 segments).
 *   euicc_es10c.c   ES10c (BF2D, BF31, BF32, BF33, BF34, BF3E, BF29) and
 *                   the profile policy.
 *   euicc_notif.c   notification queue: build, sign, list, remove.
 *   euicc_state.c   the state file: identity + two slots written in turn
 *                   (JSON via jansson + raw packages), load, migration.
 *   euicc_card.c    euicc_create/open/free/reset/transmit glue.
 */
#ifndef EUICC_PRIVATE_H
#define EUICC_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "euicc.h"
#include "rsp_bsp.h"
#include "rsp_buf.h"
#include "rsp_crypto.h"

#define EUICC_MAX_PROFILES   16
#define EUICC_MAX_NOTIFS     64
#define EUICC_MAX_CI         4     /* trusted CIs (one per curve typically) */
#define EUICC_MAX_CREDS      2     /* eUICC certificate/key pairs, one per curve */
#define EUICC_ES10_MAX       (64u * 1024u)  /* one reassembled ES10 command */
#define EUICC_ADDR_MAX       255   /* an FQDN (SGP.22 §4.1 SM-DP+ address) */

/* ---- persistent state (euicc_state.c) ------------------------------------ */

/* One ECASD credential: eUICC certificate, its EUM certificate and the
 * eUICC private key, all on one curve (SGP.22 §2.4.4 ECASD). */
struct euicc_cred {
    int curve;                       /* enum rsp_curve */
    uint8_t *euicc_cert;             /* DER, CERT.EUICC.ECDSA */
    size_t euicc_cert_len;
    uint8_t *eum_cert;               /* DER, CERT.EUM.ECDSA */
    size_t eum_cert_len;
    uint8_t sk[RSP_EC_SCALAR_LEN];   /* SK.EUICC.ECDSA (wiped on free) */
    uint8_t ci_pkid[20];             /* SKI of the CI this chain ends at */
    size_t ci_pkid_len;
};

/* A trusted CI: its certificate (DER) and PKID. The PKID list for
 * verification/signing of EUICCInfo1 is the list of these. */
struct euicc_ci {
    uint8_t *cert;
    size_t cert_len;
    uint8_t pkid[20];
    size_t pkid_len;
};

enum euicc_profile_state {
    EUICC_PROFILE_DISABLED = 0,      /* ProfileState disabled(0) */
    EUICC_PROFILE_ENABLED = 1,       /* ProfileState enabled(1) */
};

/* One ISD-P and the profile it holds (SGP.22 §2.4.5). */
struct euicc_profile {
    uint8_t aid[16];                 /* ISD-P AID, created by ConfigureISDP */
    size_t aid_len;
    char iccid[21];                  /* digits, from the metadata */
    int state;                       /* enum euicc_profile_state */
    char nickname[65];               /* SetNickname, UTF-8, "" if none */
    /* StoreMetadataRequest (BF25) exactly as received: service provider,
     * profile name, icon, class, notification configuration, PPRs,
     * profile owner are read from it when needed. */
    uint8_t *metadata;
    size_t metadata_len;
    uint32_t ppr;                    /* PprIds mask (bit 1 = ppr1, bit 2 = ppr2) */
    int profile_class;               /* ProfileClass; operational(2) if absent */
    /* The unprotected profile elements as installed (PE-Header .. PE-End),
     * interpreted at install time (euicc_es8.c) and kept in the ISD-P. */
    uint8_t *package;
    size_t package_len;
    size_t n_pes;
    /* 1 when the package was loaded from a file "<state>.<AID hex>.pkg" of
     * a version-1 state (2026-11, before the two-slot file), whose SHA-256
     * is pkg_sha256; the next commit moves it into the state file and the
     * file is removed (euicc_state.c, migration). 0 otherwise. */
    int pkg_stored;
    uint8_t pkg_sha256[32];
};

/* A pending notification (SGP.22 §3.5, §5.7.9 - §5.7.11). */
struct euicc_notif {
    uint32_t seq;                    /* seqNumber */
    uint32_t event;                  /* NotificationEvent bit: 0 install,
                                      * 1 enable, 2 disable, 3 delete */
    char address[EUICC_ADDR_MAX + 1];/* notificationAddress */
    char iccid[21];                  /* "" if none */
    uint8_t *der;                    /* PendingNotification as returned by
                                      * RetrieveNotificationsList: a
                                      * ProfileInstallationResult (BF37) or an
                                      * OtherSignedNotification (30) */
    size_t der_len;
};

/* The one-time key pair of the last PrepareDownload that generated one
 * (otSK/otPK.EUICC.ECKA, SGP.22 v2.5 §3.1.3 download retry, §5.7.14
 * bppEuiccOtpk). Kept in non-volatile memory until that profile is
 * installed or another PrepareDownload's keys replace it, so a retry after
 * a lost session (or a restarted card) can install the BPP already bound
 * to otPK. Committed before the PrepareDownloadResponse leaves the card. */
struct euicc_otk {
    int present;
    int curve;                       /* enum rsp_curve */
    uint64_t gen;                    /* its record in the .otk sidecar
                                      * (euicc_state.c); 0: kept in the JSON
                                      * state, as files before 2026-11 did */
    uint8_t sk[RSP_EC_SCALAR_LEN];   /* otSK.EUICC.ECKA (wiped when dropped) */
    uint8_t pk[RSP_EC_POINT_LEN];    /* otPK.EUICC.ECKA, 04 || X || Y */
};

struct euicc_state {
    char eid[33];
    struct euicc_cred creds[EUICC_MAX_CREDS];
    size_t n_creds;
    struct euicc_ci cis[EUICC_MAX_CI];
    size_t n_cis;
    char default_dp[EUICC_ADDR_MAX + 1];  /* ES10a defaultDpAddress, "" none */
    char root_ds[EUICC_ADDR_MAX + 1];     /* rootDsAddress */
    struct euicc_profile profiles[EUICC_MAX_PROFILES];
    size_t n_profiles;
    struct euicc_notif notifs[EUICC_MAX_NOTIFS];
    size_t n_notifs;
    uint32_t next_seq;               /* next notification seqNumber */
    uint32_t next_isdp;              /* ISD-P AID counter (never reused) */
    struct euicc_otk otk;            /* retained for a download retry */
    uint64_t otk_done;               /* sidecar generation last dropped: a
                                      * record up to it is no pair */
    uint64_t otk_gen;                /* highest generation seen or used */
    /* Where this state is on disk (euicc_state.c; never saved as such):
     * slot_size 0 = a version-1 JSON file (or none yet): the next save
     * writes a new two-slot file; otherwise the state came from (or was
     * last written to) slot `slot` of a file of two slot_size slots, with
     * generation slot_gen, and the next save writes the other slot. */
    size_t slot_size;
    unsigned slot;
    uint64_t slot_gen;
    /* the file's identity region (eid, creds, cis: written when the file
     * is made, never in place) and the digest of what it holds; a state
     * whose identity differs gets a new file */
    size_t ident_size;
    uint8_t ident_md[32];
};

/* Load/save the whole state (euicc_state.c: one file of two slots, each a
 * whole image; a save writes the slot the state did not come from, in
 * place, and fdatasyncs it; a load takes the intact slot of the higher
 * generation). Save records the slot it wrote in st (slot, slot_gen,
 * slot_size). Errors: RSP_ERR_IO, RSP_ERR_DECODE, RSP_ERR_NOMEM. */
int euicc_state_load(const char *path, struct euicc_state *st);
int euicc_state_save(const char *path, struct euicc_state *st);
/* The same with injected faults (euicc_fault_set): EUICC_SAVE_FAIL makes the
 * data sync fail (in place: after the slot was written, which is then
 * invalidated again; a new file: before its rename): RSP_ERR_IO, the file
 * still holds the state before. EUICC_SAVE_DIRSYNC makes the directory fsync
 * of a new file fail, which is logged, not reported (see euicc.h). */
#define EUICC_SAVE_FAIL     0x1u
#define EUICC_SAVE_DIRSYNC  0x2u
int euicc_state_save_ex(const char *path, struct euicc_state *st, unsigned faults);
/* Write st as a version-1 plain JSON file (the format before the two-slot
 * file), packages inline, or with pkg_files in "<path>.<AID hex>.pkg"
 * files. Not crash-safe: for migration tests only. */
int euicc_state_save_json(const char *path, const struct euicc_state *st, int pkg_files);
/* Package files of version-1 states: remove every "<path>.<hex>.pkg" no
 * profile of st names (pkg_stored): at open, and after the commit that
 * moved them into the two-slot file. */
void euicc_pkg_sweep(const char *path, const struct euicc_state *st);

/* Free and wipe everything a state owns; leaves it zeroed. */
void euicc_state_clear(struct euicc_state *st);
/* Remove a profile (and free its members) from the array. */
void euicc_state_drop_profile(struct euicc_state *st, size_t i);
/* Remove a notification (and free it) from the array. */
void euicc_state_drop_notif(struct euicc_state *st, size_t i);
/* Forget the retained one-time key pair (wiped); the caller commits (the
 * JSON commit records its generation as dropped). */
void euicc_state_drop_otk(struct euicc_state *st);

/* The retained one-time pair lives in a sidecar, "<path>.otk": two
 * fixed-size records (slot = generation & 1), each with its generation, the
 * EID and a SHA-256 over it all. Retaining a pair rewrites the other slot
 * in place and fdatasyncs it: a tear leaves the older record valid, which
 * is the state before the command. No JSON, no new file, no rename: the
 * PrepareDownload commit costs one small synchronous write. The JSON state
 * names the generation last dropped ("otk_done"), so the install commit
 * drops the pair atomically with the profile it installs.
 * euicc_otk_save_ex: write k (k->gen > every generation so far) for the
 * card st->eid; creates the sidecar atomically (tmp, fsync, rename, fsync
 * of the directory) when missing or damaged. Faults: EUICC_SAVE_FAIL fails
 * before writing. Errors: RSP_ERR_IO, RSP_ERR_INVAL.
 * euicc_otk_reset: an empty sidecar for a new card on this path (made at
 * creation, so the first PrepareDownload already writes in place). */
int euicc_otk_save_ex(const char *path, const struct euicc_state *st,
                      const struct euicc_otk *k, unsigned faults);
int euicc_otk_reset(const char *path);

struct rsp_x509_store;

/* ---- ES10b / ES8+ session (volatile, never saved) ----------------------- */

enum euicc_session_phase {
    EUICC_SESS_NONE = 0,
    EUICC_SESS_CHALLENGE,      /* GetEUICCChallenge done */
    EUICC_SESS_AUTHENTICATED,  /* AuthenticateServer OK */
    EUICC_SESS_PREPARED,       /* PrepareDownload OK: otSK.EUICC exists */
    EUICC_SESS_BPP,            /* LoadBoundProfilePackage in progress */
};

struct euicc_session {
    int phase;                        /* enum euicc_session_phase */
    uint8_t euicc_challenge[16];
    uint8_t transaction_id[16];
    size_t transaction_id_len;
    char server_address[EUICC_ADDR_MAX + 1];
    int cred;                         /* index in state.creds chosen by the server's CI */
    int ccRequired;                   /* from ctxParams1 / smdpSigned2 */
    uint8_t matching_id[128];         /* from ctxParams1, for the notification */
    size_t matching_id_len;
    EVP_PKEY *dp_pb;                  /* PK of CERT.DPpb (PrepareDownload) */
    EVP_PKEY *ot_sk;                  /* otSK.EUICC.ECKA */
    uint8_t ot_pk[RSP_EC_POINT_LEN];  /* otPK.EUICC.ECKA */
    /* ES8+ progress, owned by euicc_es8.c. */
    struct rsp_bsp bsp;               /* staging only: zero outside do_isc */
    struct rsp_bsp_ctx *bspc;         /* BSP unwrap state from
                                       * InitialiseSecureChannel on
                                       * (rsp_bsp.h); euicc_session_clear
                                       * frees and wipes it */
    int bpp_step;                     /* which BPP segment comes next */
    struct euicc_profile pending;     /* the ISD-P under construction: it
                                       * reaches state.profiles only when
                                       * installation completed */
    struct rsp_buf pe_data;           /* decrypted profile elements */
    uint64_t bpp_remaining;           /* bytes of BF36 not yet received */
    /* Added by euicc_es10b.c / euicc_es8.c (engineer C); plain data only,
     * so euicc_session_clear needs nothing new beyond its memset. */
    uint8_t euicc_sig1[RSP_ECDSA_SIG_LEN]; /* euiccSignature1: covered by
                                       * smdpSignature2 (SGP.22 §5.7.14) */
    uint8_t smdp_oid[32];             /* SM-DP+ OID (content octets) from the
                                       * SAN registeredID of CERT.DPauth, then
                                       * CERT.DPpb: EuiccCancelSessionSigned,
                                       * ProfileInstallationResultData */
    size_t smdp_oid_len;
    uint64_t bpp_seq_remaining;       /* bytes left in the current A0..A3 */
    uint32_t bpp_seq_tag;             /* that sequence's tag, 0 between them */
};

/* Drop the session: free keys (wipe), free the pending ISD-P. */
void euicc_session_clear(struct euicc_session *s);

/* ---- the card ----------------------------------------------------------- */

#define EUICC_CHANNELS 20   /* basic + 19 logical (ISO/IEC 7816-4 §5.4.1) */

struct euicc_channel {
    int open;
    int selected;                     /* EUICC_APP_* */
    /* STORE DATA reassembly (GlobalPlatform Card Spec §11.11) */
    struct rsp_buf cmd;
    int expect_block;                 /* P2 of the next block */
    /* pending response for GET RESPONSE (ISO/IEC 7816-4 §7.6.1) */
    struct rsp_buf resp;
    size_t resp_off;
};

enum { EUICC_APP_NONE = 0, EUICC_APP_ISDR, EUICC_APP_ECASD };

/* What the card derives from its state once, at euicc_open(), instead of
 * re-parsing DER per command: the CI trust store and the ECASD signing
 * keys. Never saved; the credentials and CIs it mirrors do not change
 * while the card is open (eUICCMemoryReset keeps them). */
struct euicc_cache {
    struct rsp_x509_store *ci_store;  /* every st.cis[] certificate */
    EVP_PKEY *cred_key[EUICC_MAX_CREDS]; /* SK.EUICC.ECDSA of st.creds[i] */
};

/* Build / free e->cache from e->st (euicc_card.c). */
int euicc_cache_build(struct euicc *e);
void euicc_cache_free(struct euicc *e);

struct euicc {
    char *path;                       /* state file */
    struct euicc_state st;
    struct euicc_cache cache;
    struct euicc_session sess;
    struct euicc_channel ch[EUICC_CHANNELS];
    /* Fault injection for tear tests: when crash_at > 0, the card calls
     * _exit(99) at the crash_at-th crash point (env EUICC_CRASH_AT). */
    long crash_at;
    long crash_count;
    /* euicc_fault_set: one-shot faults */
    unsigned fault_sw;                /* status word, 0 = none */
    uint32_t fault_sw_tag;            /* ES10 tag it waits for, 0 = any */
    unsigned fault_save;              /* EUICC_SAVE_* for the next save */
};

/* Count a crash point (euicc_card.c); exits the process when armed. */
void euicc_crash_point(struct euicc *e, const char *where);
/* Crash points this process has passed so far (tear tests arm
 * EUICC_CRASH_AT relative to it). */
long euicc_crash_points_passed(void);

/* Persist e->st (calls euicc_crash_point before and after). On failure the
 * in-memory state is reloaded from the file. Errors: RSP_ERR_IO. */
int euicc_commit(struct euicc *e);
/* Retain the one-time pair k (curve, sk, pk) durably as e->st.otk, in the
 * sidecar (euicc_otk_save_ex), with the same crash points as euicc_commit.
 * On failure e->st.otk is unchanged. Errors: RSP_ERR_IO. */
int euicc_commit_otk(struct euicc *e, const struct euicc_otk *k);

/* Card core (euicc_card.c, euicc_apdu.c, euicc_state.c). */
/* Free and wipe what a profile owns; leaves it zeroed (e.g. sess.pending). */
void euicc_profile_clear(struct euicc_profile *p);
/* ISO/IEC 7816-4 layer behind euicc_transmit (same contract). */
int euicc_apdu_process(struct euicc *e, const uint8_t *capdu, size_t clen,
                       uint8_t *rapdu, size_t *rlen);
/* Initialise the channels (basic open, nothing selected). */
void euicc_channels_init(struct euicc *e);
/* Free the channels' buffers and close every logical channel (reset). */
void euicc_channels_free(struct euicc *e);

/* ---- ES10 dispatch ------------------------------------------------------ */

/* One ES10 command (a whole TLV, e.g. BF2E 00, or one BPP segment) in,
 * the response TLV appended to resp (may stay empty: BPP segments before
 * the last). Returns 0, or a status word (e.g. 0x6A80) when the command is
 * not even an ES10 command the ISD-R knows; SGP.22 result codes go inside
 * the response TLV, never into the status word. */
int euicc_isdr_dispatch(struct euicc *e, const uint8_t *cmd, size_t len,
                        struct rsp_buf *resp);

/* Append the usual ES10 result response "tag { [0] INTEGER code }" (e.g.
 * BF31 03 80 01 00), code 0..127 (euicc_es10c.c). RSP_ERR_INVAL otherwise. */
int euicc_resp_result(struct rsp_buf *resp, uint32_t tag, long code);

/* 1 if p[0..n) is text the state file can hold and reload: 1..max bytes
 * (0 allowed when allow_empty) of valid UTF-8 without control characters
 * (U+0000-U+001F, U+007F), as euicc_state.c requires on load. Peer strings
 * (nicknames, SM-DP+ addresses) are checked with it before they are kept. */
int euicc_text_ok(const uint8_t *p, long n, size_t max, int allow_empty);

/* Handlers: same contract as euicc_isdr_dispatch, for one command each. */
int euicc_es10a_get_addresses(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10a_set_default_dp(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);

int euicc_es10b_get_challenge(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10b_get_info1(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10b_get_info2(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10b_authenticate_server(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10b_prepare_download(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10b_cancel_session(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10b_list_notification(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10b_retrieve_notifications(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10b_remove_notification(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10b_get_rat(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10b_load_crl(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);

/* LoadBoundProfilePackage: called once per segment (SGP.22 §2.5.5): the
 * first starts with the BF36 header and carries InitialiseSecureChannel. */
int euicc_es8_load_segment(struct euicc *e, const uint8_t *seg, size_t len, struct rsp_buf *resp);

int euicc_es10c_get_profiles_info(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10c_enable(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10c_disable(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10c_delete(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10c_memory_reset(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10c_get_eid(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);
int euicc_es10c_set_nickname(struct euicc *e, const uint8_t *cmd, size_t len, struct rsp_buf *resp);

/* ---- notifications (euicc_notif.c) -------------------------------------- */

/* Queue a signed OtherSignedNotification for event (1 enable, 2 disable,
 * 3 delete) of profile p if p's notification configuration asks for it
 * (SGP.22 §3.5, §5.7.x). Changes e->st only; the caller commits. */
int euicc_notif_queue_other(struct euicc *e, const struct euicc_profile *p, int event);
/* Queue the install notification: the ProfileInstallationResult itself. */
int euicc_notif_queue_install(struct euicc *e, const char *address, const char *iccid,
                              const uint8_t *pir, size_t pir_len);

/* ---- helpers shared by the handlers (euicc_card.c) ---------------------- */

/* The eUICC's signing key for credential i, from the cache (a new
 * reference: EVP_PKEY_free it). */
int euicc_cred_key(const struct euicc *e, size_t i, EVP_PKEY **out);
/* Find a profile by ISD-P AID or ICCID digits; -1 if none. */
int euicc_find_profile_by_aid(const struct euicc *e, const uint8_t *aid, size_t len);
int euicc_find_profile_by_iccid(const struct euicc *e, const char *iccid);

#endif
