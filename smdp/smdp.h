/*
 * smdp.h - the SM-DP+ core: one shared context (configuration, credentials,
 * trust stores, RSP sessions) and the transport-independent request entry
 * point the HTTPS front end (smdpd) calls for ES9+ and ES2+.
 *
 *   SGP.22 v2.5 §5.6 ES9+ (LPA <-> SM-DP+), §5.3 ES2+ (operator <-> SM-DP+),
 *   §6 the JSON binding: §6.5.1 request/response header
 *   (functionRequesterIdentifier, functionCallIdentifier /
 *   functionExecutionStatus {status, statusCodeData}), §6.5.2 the functions,
 *   §6.2/§6.3 the HTTP binding (POST, X-Admin-Protocol, Content-Type).
 *
 * Layering:
 *   smdpd (libevent, TLS)  --struct smdp_req-->  smdp_handle()  (smdp_http.c)
 *     smdp_handle: path routing, X-Admin-Protocol and Content-Type checks,
 *     bounded JSON parse (jansson, duplicate keys rejected, depth limit),
 *     the function (smdp_es9.c / smdp_es2.c) on a struct smdp_call, then the
 *     response header built from the call's outcome.
 *   The functions see only json_t and the call; they never see HTTP.
 *
 * Threads: struct smdp is shared by every event loop and is thread-safe
 * (its session table has its own lock); a struct smdp_store handle is per
 * thread and is passed with each request.
 */
#ifndef SMDP_H
#define SMDP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "smdp_store.h"

struct smdp;

/* One curve's SM-DP+ credentials (paths; PEM or DER accepted). */
struct smdp_cred_paths {
    const char *auth_cert, *auth_key;  /* DPauth (signs serverSigned1) */
    const char *pb_cert, *pb_key;      /* DPpb (signs smdpSigned2, smdpSign) */
};

/* Notification point of ES2+.HandleDownloadProgressInfo (SGP.22 §5.3.5). */
enum smdp_progress_step {
    SMDP_STEP_ELIGIBILITY_CHECK = 1,     /* "Eligibility and retry limit check" */
    SMDP_STEP_CONFIRMATION_FAILURE = 2,  /* "ConfirmationFailure" */
    SMDP_STEP_BPP_DOWNLOAD = 3,          /* "BPP download" */
    SMDP_STEP_BPP_INSTALLATION = 4,      /* "BPP installation" */
    SMDP_STEP_CANCELLED = 5,             /* download cancelled */
    SMDP_STEP_OTHER_NOTIFICATION = 6,    /* enable/disable/delete notification */
};

struct smdp_progress {
    char operator_id[SMDP_ID_MAX + 1];
    char iccid[21];
    char eid[33];                  /* "" if unknown */
    int step;                      /* enum smdp_progress_step */
    int success;                   /* 1: Executed-Success, 0: Failed */
    char subject_code[16], reason_code[16];  /* when !success */
    int profile_state;             /* enum smdp_profile_state after the step */
    int64_t timestamp;             /* Unix seconds */
    int notification_event;        /* for OTHER_NOTIFICATION: NotificationEvent bit */
    const uint8_t *result_data;    /* BPP_INSTALLATION: the ProfileInstallationResult
                                    * DER as received (ES2+ resultData, §5.3.5);
                                    * NULL otherwise; valid only during the hook */
    size_t result_data_len;
};

/* Called (from any thread) at each notification point; must not block
 * (queue the delivery). May be NULL. */
typedef void (*smdp_progress_fn)(void *arg, const struct smdp_progress *ev);

struct smdp_config {
    const char *fqdn;                  /* SM-DP+ address served (e.g. "smdp.example.com") */
    struct smdp_cred_paths nist;       /* either or both curves; NULL paths: not served */
    struct smdp_cred_paths brp;
    const char *ci_dir;                /* trusted CI certificates (*.der / *.pem) */
    const char *ci_files[4];           /* or individual files (NULL-terminated) */
    unsigned session_timeout;          /* seconds; 0: 300 */
    unsigned order_ttl;                /* default order lifetime in seconds; 0: 7 days */
    unsigned cc_limit;                 /* confirmation code attempts; 0: 5 */
    unsigned download_limit;           /* BPP download attempts per order; 0: 5 */
    smdp_progress_fn progress;
    void *progress_arg;
};

/* Load credentials and trust anchors. [out] *out, freed with smdp_free().
 * Errors: RSP_ERR_INVAL (no credentials, no CI), RSP_ERR_IO (unreadable
 * file), RSP_ERR_DECODE (bad certificate/key), RSP_ERR_NOMEM. */
int smdp_create(const struct smdp_config *cfg, struct smdp **out);
void smdp_free(struct smdp *s);
const char *smdp_fqdn(const struct smdp *s);

/* A request as the HTTP front end saw it. */
enum smdp_iface { SMDP_IFACE_ES9 = 1, SMDP_IFACE_ES2 = 2 };

struct smdp_req {
    int iface;                     /* which listener it came in on; an
                                    * ES2+ path on the ES9+-only listener is 404 */
    const char *method;            /* "POST", ... */
    const char *path;              /* "/gsma/rsp2/es9plus/initiateAuthentication" */
    const char *admin_protocol;    /* X-Admin-Protocol value, NULL if absent */
    const char *content_type;      /* NULL if absent */
    const uint8_t *body;
    size_t body_len;
    const char *operator_id;       /* ES2+: the operator whose trusted client
                                    * certificate authenticated the TLS
                                    * connection; NULL if none */
    int64_t now;                   /* Unix seconds (tests set it; 0: time()) */
};

/* The answer: status, content type and body (malloc'd, may be NULL). */
struct smdp_resp {
    int status;                    /* 200, 204, 400, 401, 403, 404, 405, 413, 415, 500 */
    const char *content_type;      /* static string or NULL */
    char *body;
    size_t body_len;
};
void smdp_resp_free(struct smdp_resp *r);

/* Largest request body accepted (a BPP never travels LPA -> SM-DP+). */
#define SMDP_BODY_MAX (256u * 1024u)
/* Deepest JSON nesting accepted. */
#define SMDP_JSON_DEPTH_MAX 16

/* Handle one request (never fails: every outcome is a response). */
void smdp_handle(struct smdp *s, struct smdp_store *st, const struct smdp_req *req,
                 struct smdp_resp *resp);

/* Header checks of smdp_handle (smdp_http.c), for the front end and tests:
 * 1 if X-Admin-Protocol is "gsma/rsp/v2.<x>.<y>"; 1 if Content-Type is
 * application/json with no charset or charset UTF-8 (case-insensitive). */
int smdp_admin_protocol_ok(const char *v);
int smdp_content_type_ok(const char *ct);

/* ---- for the function implementations (smdp_es9.c, smdp_es2.c) ---- */

/* The call a function runs in. */
struct smdp_call {
    struct smdp *s;
    struct smdp_store *st;
    const struct smdp_req *req;
    int64_t now;
    /* outcome, set by smdp_call_fail (first call wins) */
    int failed;
    char subject_code[16];         /* e.g. "8.1.1" */
    char reason_code[16];          /* e.g. "3.8" */
    char subject_id[128];          /* optional subjectIdentifier, "" if none */
    char message[256];             /* optional message, "" if none */
    const char *status;            /* NULL: "Failed"; or "Expired" */
    /* One large base64 field (the BPP) kept out of jansson's escape pass:
     * the response tree holds the placeholder string raw_val, replaced by
     * raw[0..raw_len) as the body is written (smdp_call_set_b64_raw).
     * Only when raw_ok (smdp_handle sets it; a caller that reads the
     * function's JSON itself gets ordinary strings). */
    int raw_ok;
    json_t *raw_val;
    char *raw;
    size_t raw_len;
};

/* Record a failure (SGP.22 §6.5.1 statusCodeData). Returns -1 so functions
 * can `return smdp_call_fail(...)`. message may be NULL. */
int smdp_call_fail(struct smdp_call *c, const char *subject, const char *reason,
                   const char *message);

/* Set o[name] to the base64 of p[0..n) for a large field: the base64 is
 * made once into c->raw and written into the body as it is, base64 having
 * no character JSON escapes; o[name] is a placeholder until then. One such
 * field per call, and only with c->raw_ok (else, or for a second field, an
 * ordinary string). 0 or
 * RSP_ERR_NOMEM. */
int smdp_call_set_b64_raw(struct smdp_call *c, json_t *o, const char *name, const uint8_t *p,
                          size_t n);

/* A function: req is the parsed body (an object; its "header" already
 * checked), *resp gets the response object WITHOUT "header" (NULL for an
 * empty 204 answer, e.g. handleNotification). Return 0 on success, -1 after
 * smdp_call_fail. Internal failures (store, crypto) are reported with the
 * code SGP.22 gives for the step, documented in smdp_es9.c; never crash. */
typedef int (*smdp_fn)(struct smdp_call *c, json_t *req, json_t **resp);

/* Lookup by path: the ES9+ functions (smdp_es9.c) and ES2+ (smdp_es2.c). */
smdp_fn smdp_es9_lookup(const char *function);
smdp_fn smdp_es2_lookup(const char *function);

/* Report a progress step to the configured hook (no-op if none). */
void smdp_progress_emit(struct smdp *s, const struct smdp_progress *ev);

/* Shared accessors used by both function families. */
const struct smdp_config *smdp_config_of(const struct smdp *s);

#endif
