/*
 * lpa_rsp.h - liblpa, the network half: ES9+ client (SGP.22 v2.5 §5.6,
 * JSON binding §6) over a caller-supplied HTTPS driver, and the profile
 * download of §3.1 (common mutual authentication §3.1.2, then download and
 * installation §3.1.3) and notification delivery (§3.5) driving ES10b.
 *
 * The core never opens a socket: the caller gives a struct lpa_http_driver.
 * lpa_http_curl_*() (lpa/drv_http_curl.c, in liblpa-drivers) is the libcurl
 * one, with TLS verification on by default.
 *
 * Outcomes are data: a failed download returns a negative error AND fills
 * struct lpa_result with the step that failed and the SGP.22 code / status
 * word / eUICC result that caused it.
 */
#ifndef LPA_RSP_H
#define LPA_RSP_H

#include <stddef.h>
#include <stdint.h>

#include "lpa.h"

/* HTTPS POST driver. post(): send body (JSON) to https://<address><path>
 * with the given NULL-terminated header lines ("Name: value"), return the
 * HTTP status and the response body (malloc'd, caller frees; may be NULL
 * for 204). Errors: RSP_ERR_IO (connection, TLS verification, timeout).
 * err (may be NULL) receives a one-line reason (e.g. the TLS error). */
struct lpa_http_driver {
    void *ctx;
    int (*post)(void *ctx, const char *address, const char *path,
                const char *const *headers, const char *body, size_t body_len,
                long *http_status, char **resp, size_t *resp_len,
                char *err, size_t err_len);
};

/* Errors of the network half, besides rsp_err and LPA_ERR_SW (lpa.h):
 * protocol outcomes, with the details in struct lpa_result. */
#define LPA_ERR_ES9      (-101)  /* the SM-DP+ answered a failure (status,
                                  * subjectCode/reasonCode in the result) or
                                  * an HTTP status other than 200/204 */
#define LPA_ERR_EUICC    (-102)  /* the eUICC answered an ES10b error result
                                  * (euicc_error) or a failed PIR */
#define LPA_ERR_REJECTED (-103)  /* the user refused or postponed (consent) */
#define LPA_ERR_PPR      (-104)  /* a Profile Policy Rule of the profile is not
                                  * allowed by the eUICC's Rules Authorisation
                                  * Table (SGP.22 §2.9.2.2); cancelled with
                                  * pprNotAllowed */
/* Text for these and every lpa_strerror() value; never NULL. */
const char *lpa_rsp_strerror(int err);

/* The HTTP header lines every ES9+ request carries (SGP.22 §6.5.1). */
#define LPA_ES9_USER_AGENT     "User-Agent: gsma-rsp-lpad"
#define LPA_ES9_ADMIN_PROTOCOL "X-Admin-Protocol: gsma/rsp/v2.5.0"
#define LPA_ES9_CONTENT_TYPE   "Content-Type: application/json;charset=UTF-8"
/* Largest ES9+ response body accepted (a BPP in base64 with its JSON). */
#define LPA_ES9_RESP_MAX (2u * 1024u * 1024u)

/* Where a failed operation stopped. */
enum lpa_step {
    LPA_STEP_NONE = 0,
    LPA_STEP_ACTIVATION_CODE,          /* parsing / no address */
    LPA_STEP_EUICC_INFO,               /* GetEUICCInfo1 / GetEUICCChallenge */
    LPA_STEP_INITIATE_AUTHENTICATION,  /* ES9+ */
    LPA_STEP_AUTHENTICATE_SERVER,      /* ES10b */
    LPA_STEP_AUTHENTICATE_CLIENT,      /* ES9+ */
    LPA_STEP_USER_CONSENT,
    LPA_STEP_PREPARE_DOWNLOAD,         /* ES10b */
    LPA_STEP_GET_BPP,                  /* ES9+ getBoundProfilePackage */
    LPA_STEP_LOAD_BPP,                 /* ES8+ via ES10b LoadBoundProfilePackage */
    LPA_STEP_HANDLE_NOTIFICATION,      /* ES9+ */
    LPA_STEP_CANCEL_SESSION,
};
const char *lpa_step_name(int step);  /* "initiateAuthentication", ... */

struct lpa_result {
    int step;                      /* enum lpa_step where it stopped; NONE on success */
    /* ES9+ failure (functionExecutionStatus): "" when none */
    char status[24];               /* "Failed", "Expired", ... */
    char subject_code[16], reason_code[16];
    char message[256];
    long http_status;              /* 0 if no HTTP answer */
    uint16_t sw;                   /* last status word when the card failed */
    int euicc_error;               /* ES10b error value (authenticateResponseError,
                                    * prepareDownloadResponseError, cancelSession...) */
    int bpp_command_id;            /* ProfileInstallationResult: bppCommandId, -1 none */
    int bpp_error_reason;          /* ... errorReason, -1 none */
    char iccid[21];                /* installed profile ("" if none) */
    long notification_seq;         /* PIR seqNumber, -1 none */
    char detail[256];              /* one readable line */
    int cancel_reason;             /* CancelSessionReason sent to the eUICC
                                    * (SGP.22 §5.7.14), -1 if no cancel */
    int recovered;                 /* 1: the answer to a BPP segment was lost
                                    * (transport error / status word) and the
                                    * outcome was read back from the eUICC's
                                    * pending PIR for this transactionId */
    unsigned ppr_not_allowed;      /* PprIds bits the RAT does not allow */
};

/* Profile metadata shown to the user before PrepareDownload. */
struct lpa_metadata {
    char iccid[21];
    char spn[33];
    char name[65];
    int profile_class;             /* enum lpa_profile_class */
    unsigned ppr_mask;             /* PprIds bits (profilePolicyRules) */
    /* profileOwner (OperatorId) as upper-case hex, "" when absent */
    char owner_mcc_mnc[7];
    char owner_gid1[65], owner_gid2[65];
    int ppr_consent_required;      /* the eUICC's RAT asks the end user to
                                    * confirm the PPRs (pprFlags
                                    * consentRequired, SGP.22 §2.9.2.2): the
                                    * consent hook must answer > 0 */
};

/* Return > 0 to accept, 0 to refuse (CancelSession endUserRejection),
 * < 0 to postpone (CancelSession postponed). */
typedef int (*lpa_consent_fn)(void *arg, const struct lpa_metadata *md);
/* Coarse progress: step (enum lpa_step) done out of the download. */
typedef void (*lpa_step_fn)(void *arg, int step, unsigned done, unsigned total);

struct lpa_download_opts {
    const char *activation_code;   /* "LPA:1$..." or NULL */
    const char *smdp_address;      /* used when activation_code is NULL; NULL:
                                    * the eUICC's default SM-DP+ address */
    const char *matching_id;       /* with smdp_address; may be NULL */
    const char *confirmation_code; /* NULL if none; required if the AC says so */
    const char *imei;              /* 15 digits (TAC = first 8), NULL: default TAC */
    lpa_consent_fn consent;        /* NULL: accept, except a profile whose
                                    * PPRs the RAT allows only with end-user
                                    * consent (SGP.22 §2.9.2.2): cancelled
                                    * pprNotAllowed */
    void *consent_arg;
    lpa_step_fn on_step;
    void *step_arg;
    int keep_notifications;        /* 0 (default): send and remove the
                                    * notifications of this download */
};

/* Download and install one profile (SGP.22 §3.1). On any failure after
 * AuthenticateServer the session is cancelled on the eUICC (CancelSession
 * with the §5.7.14 reason) and on the SM-DP+ (ES9+.CancelSession).
 *
 * PPRs (§2.9.2.2, §3.1.3): when the metadata carries ppr1/ppr2, the RAT is
 * read (GetRAT) before the consent hook; a PPR no rule allows for the
 * metadata's profileOwner -> LPA_ERR_PPR, cancel pprNotAllowed (the hook is
 * not called); a deciding rule with consentRequired sets
 * md->ppr_consent_required and needs the hook's explicit yes (no hook:
 * LPA_ERR_REJECTED, pprNotAllowed).
 *
 * Lost answer during LoadBoundProfilePackage: when a segment fails with a
 * transport error or status word, the card may have installed the profile
 * and queued its PIR all the same. lpa_download then reads the pending
 * notifications once (RetrieveNotificationsList) and, if a PIR of this
 * transactionId is there, takes it as the outcome (res->recovered = 1):
 * it is delivered and removed as usual and the result is that PIR's
 * (0 on success). If the card cannot be read (no reconnect here: that is
 * the caller's business), the load failure is returned, the session is
 * cancelled where possible, and a PIR the card did produce stays queued for
 * lpa_process_notifications().
 * Returns 0 or a negative error; *res always filled. */
int lpa_download(struct lpa_ctx *ctx, const struct lpa_http_driver *http,
                 const struct lpa_download_opts *opt, struct lpa_result *res);

/* Send every pending notification (or only seq if seq >= 0) to its
 * notificationAddress with ES9+.HandleNotification and remove each one the
 * SM-DP+ accepted. [out] *sent. */
int lpa_process_notifications(struct lpa_ctx *ctx, const struct lpa_http_driver *http,
                              long seq, unsigned *sent, struct lpa_result *res);

#endif
