/*
 * lpa.h - liblpa: the Local Profile Assistant core (SGP.22 v2.5).
 *
 * The library talks to the eUICC's ISD-R through a caller-supplied APDU
 * driver (PC/SC, AT+CCHO/AT+CGLA/AT+CCHC or AT+CSIM, QMI, MBIM ...), carries
 * ES10a/b/c commands as STORE DATA blocks (SGP.22 §5.7.1, GlobalPlatform Card
 * Spec v2.3 §11.11) and decodes the responses into plain structs.
 *
 * No global state: everything lives in a caller-allocated struct lpa_ctx.
 * Errors are rsp_err values (or LPA_ERR_SW); protocol outcomes - the status
 * word of a failed APDU, the result enum of an ES10 response - are data.
 */
#ifndef LPA_H
#define LPA_H

#include <stddef.h>
#include <stdint.h>

#include "rsp_buf.h"

/* The card answered a status word other than 9000/91xx/61xx/6Cxx; the SW is
 * in lpa_last_sw(). Distinct from every rsp_err value. */
#define LPA_ERR_SW (-100)

/* Largest R-APDU a driver may return: 256 data bytes + SW1 SW2. */
#define LPA_RAPDU_MAX 258
/* Largest C-APDU the core builds: header + Lc + 255 bytes + Le. */
#define LPA_CAPDU_MAX 261

/* Logical channels usable by the core: basic channel 0, 1..3 (first
 * interindustry CLA) and 4..19 (further interindustry CLA),
 * ISO/IEC 7816-4 §5.4.1. */
#define LPA_CHANNEL_MAX 19

/*
 * APDU driver. Every callback gets the driver's own ctx; all return 0 on
 * success or a negative rsp_err (RSP_ERR_IO for a transport failure).
 *
 * - connect / disconnect: reach the reader or modem (disconnect may be NULL).
 * - open_channel: open a logical channel and SELECT the application aid
 *   (MANAGE CHANNEL + SELECT, or AT+CCHO which does both), storing the
 *   channel number (0..19) in *channel. A driver without logical channels
 *   (AT+CSIM on a modem that hides MANAGE CHANNEL) may SELECT on the basic
 *   channel and return 0. The core opens one channel per lpa_open() and uses
 *   it for every command until lpa_close(); it never reopens per segment.
 * - close_channel: close it (MANAGE CHANNEL close, AT+CCHC). May be NULL.
 * - transmit: send one complete C-APDU (CLA INS P1 P2 [Lc data] [Le]) and
 *   return the complete R-APDU (data + SW1 SW2). *rlen is in: capacity of
 *   rapdu (LPA_RAPDU_MAX), out: bytes written. The CORE sets the logical
 *   channel bits in CLA (ISO/IEC 7816-4 §5.4.1); the driver passes the bytes
 *   through unchanged (AT+CGLA additionally takes the channel number, which
 *   the driver remembers from open_channel). The driver does not handle
 *   61xx/6Cxx itself: the core does (a driver whose modem already chains
 *   GET RESPONSE simply returns 9000 with all data).
 */
struct lpa_apdu_driver {
    void *ctx;
    int (*connect)(void *ctx);
    void (*disconnect)(void *ctx);
    int (*open_channel)(void *ctx, const uint8_t *aid, size_t aid_len, int *channel);
    int (*close_channel)(void *ctx, int channel);
    int (*transmit)(void *ctx, const uint8_t *capdu, size_t len,
                    uint8_t *rapdu, size_t *rlen);
};

/* Progress of one ES10 transaction: called after each STORE DATA block
 * (block = 1..blocks) and never with the data itself. */
typedef void (*lpa_progress_fn)(void *arg, unsigned block, unsigned blocks);

struct lpa_options {
    const uint8_t *isdr_aid;   /* NULL: A0000005591010FFFFFFFF8900000100 */
    size_t isdr_aid_len;       /* 5..16 (ISO/IEC 7816-4 §8.2.1.2) */
    size_t block_size;         /* STORE DATA payload per block, 1..255; 0: 120 */
    size_t max_response;       /* cap on one ES10 response; 0: 64 KiB, max 1 MiB */
    lpa_progress_fn progress;  /* may be NULL */
    void *progress_arg;
};

/* Caller-allocated; fields are private (read them through the functions).
 * Contains no interior pointer. */
struct lpa_ctx {
    struct lpa_apdu_driver drv;
    uint8_t aid[16];
    size_t aid_len;
    size_t block_size;
    size_t max_response;
    lpa_progress_fn progress;
    void *progress_arg;
    int channel;     /* -1 when closed */
    int connected;
    uint16_t last_sw;
};

/* Fill ctx from drv (copied) and opt (may be NULL for every default).
 * Errors: RSP_ERR_INVAL (missing callback, AID length, block size, cap). */
int lpa_ctx_init(struct lpa_ctx *ctx, const struct lpa_apdu_driver *drv,
                 const struct lpa_options *opt);

/* Connect and open the one logical channel to the ISD-R.
 * Errors: driver errors; RSP_ERR_IO for a channel number outside 0..19;
 * RSP_ERR_STATE if already open. */
int lpa_open(struct lpa_ctx *ctx);
/* Close the channel and disconnect; safe to call twice. */
void lpa_close(struct lpa_ctx *ctx);

/* Status word of the last R-APDU the core received (0 before any). */
uint16_t lpa_last_sw(const struct lpa_ctx *ctx);

/* Text for an rsp_err value or LPA_ERR_SW; never NULL. */
const char *lpa_strerror(int err);

/*
 * ES10 transport (SGP.22 §5.7.1): send cmd (one DER ES10 request, 1 byte or
 * more) as STORE DATA blocks of at most block_size bytes
 *   CLA = 80 | channel bits, INS = E2, P1 = 11 (more blocks) / 91 (last),
 *   P2 = block number from 0 (at most 256 blocks),
 * collect the response through 61xx + GET RESPONSE (CLA 80 | channel bits,
 * INS C0, Le = xx) and 6Cxx (the command re-issued once with Le = xx).
 * [out] resp  initialised here with cap max_response; holds the response
 *             (possibly empty) on success; freed on failure. The caller
 *             frees it with rsp_buf_free().
 * Errors: RSP_ERR_STATE (not open), RSP_ERR_INVAL, RSP_ERR_TOOBIG (command
 * over 256 blocks, response over the cap), RSP_ERR_IO (driver failure or an
 * R-APDU shorter than 2 bytes), LPA_ERR_SW (SW in lpa_last_sw()). */
int lpa_es10_transact(struct lpa_ctx *ctx, const uint8_t *cmd, size_t len,
                      struct rsp_buf *resp);

/* ---- ES10 functions: thin helpers over lpa_es10_transact. ----
 * Each returns 0 or a negative error; RSP_ERR_DECODE if the response is not
 * the expected DER structure. Result enums are returned through *result as
 * the card sent them (0 = ok; see SGP.22 §5.7 for each function). */

/* GetEID (SGP.22 §5.7.20, BF3E): eid gets 32 digits + NUL. */
int lpa_get_eid(struct lpa_ctx *ctx, char eid[33]);

/* GetEUICCChallenge (§5.7.7, BF2E): 16 bytes. */
int lpa_get_euicc_challenge(struct lpa_ctx *ctx, uint8_t challenge[16]);

/* GetEUICCInfo (§5.7.8) EUICCInfo1 (BF20): the raw DER response in *out
 * (initialised here; the caller frees it with rsp_buf_free). */
int lpa_get_euicc_info1(struct lpa_ctx *ctx, struct rsp_buf *out);

enum lpa_profile_state {
    LPA_PROFILE_STATE_ABSENT = -1,
    LPA_PROFILE_STATE_DISABLED = 0,
    LPA_PROFILE_STATE_ENABLED = 1,
};

enum lpa_profile_class {
    LPA_PROFILE_CLASS_ABSENT = -1,
    LPA_PROFILE_CLASS_TEST = 0,
    LPA_PROFILE_CLASS_PROVISIONING = 1,
    LPA_PROFILE_CLASS_OPERATIONAL = 2,
};

struct lpa_profile {
    char iccid[21];       /* "" if absent */
    char isdp_aid[33];    /* upper-case hex, "" if absent */
    int state;            /* enum lpa_profile_state (other values as sent) */
    int profile_class;    /* enum lpa_profile_class (other values as sent) */
    char *nickname;       /* NUL-terminated UTF-8, NULL if absent */
    char *spn;
    char *name;
};

struct lpa_profile_list {
    int error;            /* ProfileInfoListError (0: the list is valid) */
    size_t count;
    struct lpa_profile *items;
};

/* GetProfilesInfo (§5.7.15, BF2D) without search criteria, every field. */
int lpa_get_profiles_info(struct lpa_ctx *ctx, struct lpa_profile_list *out);
void lpa_profile_list_free(struct lpa_profile_list *list);

/* How a profile is named in Enable/Disable/Delete. */
enum lpa_profile_id_kind {
    LPA_ID_ICCID,  /* id: 18-20 digits */
    LPA_ID_AID,    /* id: 10-32 hex digits (ISD-P AID) */
};

/* GetProfilesInfo searchCriteria (§5.7.15): none, or exactly one of these. */
enum lpa_profile_search {
    LPA_SEARCH_ALL = 0,   /* no searchCriteria: every profile */
    LPA_SEARCH_ICCID,     /* id: the ICCID, 18-20 digits (tag 5A) */
    LPA_SEARCH_AID,       /* id: the ISD-P AID, 10-32 hex digits (tag 4F) */
    LPA_SEARCH_CLASS,     /* profile_class: LPA_PROFILE_CLASS_TEST..OPERATIONAL (95) */
};

/* tagList bits: the ProfileInfo fields to return, those struct lpa_profile
 * holds. The tagList carries the tags in this order; a field left out
 * comes back absent ("" / NULL / *_ABSENT). */
#define LPA_PI_ICCID     (1u << 0)   /* 5A */
#define LPA_PI_ISDP_AID  (1u << 1)   /* 4F */
#define LPA_PI_STATE     (1u << 2)   /* 9F70 */
#define LPA_PI_NICKNAME  (1u << 3)   /* 90 */
#define LPA_PI_SPN       (1u << 4)   /* 91 */
#define LPA_PI_NAME      (1u << 5)   /* 92 */
#define LPA_PI_CLASS     (1u << 6)   /* 95 */

struct lpa_profile_query {
    enum lpa_profile_search search;
    const char *id;           /* LPA_SEARCH_ICCID / LPA_SEARCH_AID */
    int profile_class;        /* LPA_SEARCH_CLASS */
    unsigned fields;          /* LPA_PI_* bits; 0: no tagList (every field) */
};

/* GetProfilesInfo with searchCriteria and tagList; q NULL is
 * lpa_get_profiles_info(). A search that matches nothing is an empty list
 * (count 0, error 0); the card's ProfileInfoListError is out->error.
 * Errors: RSP_ERR_INVAL (malformed id, class outside 0..2, unknown search
 * kind or field bit; nothing sent), transport, RSP_ERR_DECODE. */
int lpa_get_profiles_info_query(struct lpa_ctx *ctx, const struct lpa_profile_query *q,
                                struct lpa_profile_list *out);

/* EnableProfile (§5.7.16, BF31), DisableProfile (§5.7.17, BF32),
 * DeleteProfile (§5.7.18, BF33). refresh: the refreshFlag. */
int lpa_enable_profile(struct lpa_ctx *ctx, enum lpa_profile_id_kind kind,
                       const char *id, int refresh, int *result);
int lpa_disable_profile(struct lpa_ctx *ctx, enum lpa_profile_id_kind kind,
                        const char *id, int refresh, int *result);
int lpa_delete_profile(struct lpa_ctx *ctx, enum lpa_profile_id_kind kind,
                       const char *id, int *result);

/* SetNickname (§5.7.21, BF29); nickname at most 64 bytes of UTF-8. */
int lpa_set_nickname(struct lpa_ctx *ctx, const char *iccid, const char *nickname,
                     int *result);

struct lpa_notification {
    long seq;
    uint32_t event;       /* NotificationEvent named bits, bit i = 1 << i */
    char *address;        /* NUL-terminated */
    char iccid[21];       /* "" if absent */
};

struct lpa_notification_list {
    int error;            /* listNotificationsResultError (0: list valid) */
    size_t count;
    struct lpa_notification *items;
};

/* ListNotification (§5.7.9, BF28), all events. */
int lpa_list_notifications(struct lpa_ctx *ctx, struct lpa_notification_list *out);
void lpa_notification_list_free(struct lpa_notification_list *list);

/* RemoveNotificationFromList (§5.7.11, BF30). */
int lpa_remove_notification(struct lpa_ctx *ctx, long seq, int *result);

struct lpa_addresses {
    char *default_dp;     /* NULL if absent */
    char *root_ds;
};

/* GetEuiccConfiguredAddresses (ES10a §5.7.3, BF3C). */
int lpa_get_configured_addresses(struct lpa_ctx *ctx, struct lpa_addresses *out);
void lpa_addresses_free(struct lpa_addresses *a);

/* SetDefaultDpAddress (ES10a §5.7.4, BF3F); "" clears it. */
int lpa_set_default_dp_address(struct lpa_ctx *ctx, const char *address, int *result);

/* eUICCMemoryReset (§5.7.19, BF34); options: bit i = named bit i
 * (0 deleteOperationalProfiles, 1 deleteFieldLoadedTestProfiles,
 * 2 resetDefaultSmdpAddress). */
#define LPA_RESET_OPERATIONAL   (1u << 0)
#define LPA_RESET_TEST_PROFILES (1u << 1)
#define LPA_RESET_DEFAULT_SMDP  (1u << 2)
int lpa_euicc_memory_reset(struct lpa_ctx *ctx, unsigned options, int *result);

/* ---- Activation Code (SGP.22 §4.1) ----
 *   [LPA:]1$<SM-DP+ address>$<AC_Token>[$<SM-DP+ OID>[$<CC Required Flag>]]
 * See spec-notes/lpa.md for the accepted character sets. */
#define LPA_AC_MAX 255

struct lpa_activation_code {
    char address[LPA_AC_MAX + 1];      /* FQDN, optionally ":port" */
    char matching_id[LPA_AC_MAX + 1];  /* may be "" */
    char oid[LPA_AC_MAX + 1];          /* "" if absent */
    int cc_required;                   /* flag "1" present */
};

/* Parse s (NUL-terminated). Errors: RSP_ERR_INVAL (NULL), RSP_ERR_TOOBIG
 * (over LPA_AC_MAX characters after "LPA:"), RSP_ERR_DECODE (any malformed
 * field); *out is zeroed on failure. */
int lpa_ac_parse(const char *s, struct lpa_activation_code *out);

#endif
