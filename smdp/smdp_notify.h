/*
 * smdp_notify.h - ES2+.HandleDownloadProgressInfo (SGP.22 v2.5 §5.3.5,
 * JSON §6.5.2.5): the SM-DP+ calls the operator's callback URL at each
 * notification point. Fed by the smdp_progress hook (never blocks: a
 * bounded queue), delivered by one worker thread with libcurl, retried with
 * exponential backoff a bounded number of times.
 *
 * The operator's callback_url (smdp-admin operator add --callback URL):
 * with a path it is the URL POSTed to as it is; without one (or ending in
 * '/') it is the operator's ES2+ base address and
 * gsma/rsp2/es2plus/handleDownloadProgressInfo (§6.5.2) is appended. https
 * (mutual TLS with [notify] cert/key, server verified against [notify] ca or
 * the system store) or plain http to the loopback only (tests).
 *
 * resultData (§5.3.5 / §6.5.2.5): the DER given with the event (for "BPP
 * installation", the ProfileInstallationResult as received), base64.
 */
#ifndef SMDP_NOTIFY_H
#define SMDP_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "smdp.h"

struct smdp_notify_config {
    const char *db;              /* store (for callback URL and profileType) */
    const char *fqdn;            /* functionRequesterIdentifier */
    unsigned attempts;           /* per notification; 0: 5 */
    unsigned queue_max;          /* 0: 1024 */
    unsigned backoff_ms;         /* first retry delay, doubled each time; 0: 500 */
    unsigned timeout_ms;         /* per HTTP call; 0: 10000 */
    const char *ca_file;         /* trusted roots for https callbacks, or NULL */
    const char *cert, *key;      /* client certificate for https callbacks, or NULL */
};

struct smdp_notify;

int smdp_notify_start(const struct smdp_notify_config *cfg, struct smdp_notify **out);

/* The smdp_progress_fn (config.progress = smdp_notify_progress,
 * progress_arg = the smdp_notify). Copies the event; drops it (counted) if
 * the queue is full. */
void smdp_notify_progress(void *arg, const struct smdp_progress *ev);

/* Largest resultData accepted (a ProfileInstallationResult is a few hundred
 * bytes); a larger one is sent without resultData. */
#define SMDP_NOTIFY_RESULT_MAX 4096u

/* The same with the event's resultData (DER, copied; NULL/0: none). */
void smdp_notify_progress_result(struct smdp_notify *n, const struct smdp_progress *ev,
                                 const uint8_t *result, size_t result_len);

/* no_callback: events not queued because their operator was found without
 * a callback URL less than a second before (the worker stays idle). */
struct smdp_notify_stats {
    unsigned long queued, delivered, failed, dropped, retries, no_callback;
};
void smdp_notify_stats(struct smdp_notify *n, struct smdp_notify_stats *out);

/* Stop the worker (pending notifications are abandoned) and free. */
void smdp_notify_free(struct smdp_notify *n);

/* Build the request body of one event (for tests); result: resultData DER
 * or NULL. Returns malloc'd JSON, NULL on failure. */
char *smdp_notify_body(const struct smdp_progress *ev, const uint8_t *result,
                       size_t result_len, const char *profile_type, const char *fqdn,
                       unsigned long seq);

/* The URL to POST to for a callback URL (see above). [out] *out, freed with
 * curl_free(). RSP_ERR_INVAL if it is not a URL, RSP_ERR_NOMEM. */
int smdp_notify_url(const char *callback, char **out);

#endif
