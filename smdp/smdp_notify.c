/*
 * smdp_notify.c - ES2+.HandleDownloadProgressInfo delivery (SGP.22 v2.5
 * §5.3.5; JSON names §6.5.2.5: eid, iccid, profileType, timestamp,
 * notificationPointId, notificationPointStatus {status, statusCodeData},
 * resultData). See smdp_notify.h.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "rsp_err.h"
#include "rsp_buf.h"
#include "rsp_log.h"
#include "rsp_util.h"
#include "smdp_notify.h"

#define LOG_DOM "smdp-notify"

struct note {
    struct note *next;
    struct smdp_progress ev;
    uint8_t *result;              /* resultData DER (owned), NULL if none */
    size_t result_len;
    unsigned attempt;
    int64_t due_ms;
};

struct smdp_notify {
    struct smdp_notify_config cfg;
    char *db, *fqdn, *ca, *cert, *key;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t tid;
    int started, stop;
    struct note *head;            /* sorted by due_ms */
    unsigned n;
    unsigned long seq;
    struct smdp_notify_stats st;
    /* the worker's last operator lookup, reused for OP_CACHE_MS: a download
     * reports three steps of one operator (worker thread only) */
    struct smdp_operator op;
    int64_t op_ms;
    int op_ok;
    /* the operator the worker last found without a callback URL, and when
     * (under mu): its events are not queued for OP_CACHE_MS, so that the
     * worker is not woken three times a download for nothing */
    char quiet_id[sizeof(((struct smdp_progress *)0)->operator_id)];
    int64_t quiet_ms;
};

#define OP_CACHE_MS 1000

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void note_free(struct note *x)
{
    if (x)
        free(x->result);
    free(x);
}

static void insert_sorted(struct smdp_notify *n, struct note *x)
{
    struct note **pp = &n->head;
    while (*pp && (*pp)->due_ms <= x->due_ms)
        pp = &(*pp)->next;
    x->next = *pp;
    *pp = x;
    n->n++;
}

char *smdp_notify_body(const struct smdp_progress *ev, const uint8_t *result,
                       size_t result_len, const char *profile_type, const char *fqdn,
                       unsigned long seq)
{
    char ts[32], fci[64];
    struct tm tm;
    time_t t = (time_t)ev->timestamp;
    json_t *o, *nps;
    char *s;

    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(fci, sizeof(fci), "%lld-%lu", (long long)ev->timestamp, seq);
    nps = json_pack("{s:s}", "status", ev->success ? "Executed-Success" : "Failed");
    if (nps && !ev->success)
        json_object_set_new(nps, "statusCodeData",
                            json_pack("{s:s, s:s}", "subjectCode", ev->subject_code,
                                      "reasonCode", ev->reason_code));
    o = json_pack("{s:{s:s, s:s}, s:s, s:s, s:s, s:i, s:o}", "header",
                  "functionRequesterIdentifier", fqdn ? fqdn : "",
                  "functionCallIdentifier", fci, "iccid", ev->iccid, "profileType",
                  profile_type ? profile_type : "", "timestamp", ts, "notificationPointId",
                  ev->step, "notificationPointStatus", nps);
    if (!o)
        return NULL;
    if (ev->eid[0])
        json_object_set_new(o, "eid", json_string(ev->eid));
    if (result && result_len) {
        /* §6.5.2.5: resultData is the DER of the step's result, base64 */
        struct rsp_buf b64;
        rsp_buf_init(&b64, SMDP_NOTIFY_RESULT_MAX * 2);
        if (rsp_base64_encode(result, result_len, &b64) != RSP_OK ||
            json_object_set_new(o, "resultData",
                                json_stringn((const char *)b64.data, b64.len)) != 0) {
            rsp_buf_free(&b64);
            json_decref(o);
            return NULL;
        }
        rsp_buf_free(&b64);
    }
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

int smdp_notify_url(const char *callback, char **out)
{
    static const char fn_path[] = "gsma/rsp2/es2plus/handleDownloadProgressInfo";
    CURLU *u;
    char *path = NULL, *np = NULL;
    int rc = RSP_ERR_INVAL;

    *out = NULL;
    if (!callback || !(u = curl_url()))
        return callback ? RSP_ERR_NOMEM : RSP_ERR_INVAL;
    if (curl_url_set(u, CURLUPART_URL, callback, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        goto out;
    /* a bare address names the operator's ES2+ endpoint: the function's
     * path (§6.5.2 /gsma/rsp2/es2plus/<function>) goes after it */
    if (!path[0] || path[strlen(path) - 1] == '/') {
        size_t n = strlen(path) + sizeof(fn_path) + 1;
        rc = RSP_ERR_NOMEM;
        if (!(np = malloc(n)))
            goto out;
        snprintf(np, n, "%s%s%s", path[0] == '/' ? "" : "/", path, fn_path);
        if (curl_url_set(u, CURLUPART_PATH, np, 0) != CURLUE_OK)
            goto out;
    }
    rc = curl_url_get(u, CURLUPART_URL, out, 0) == CURLUE_OK ? RSP_OK : RSP_ERR_INVAL;
out:
    free(np);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

static int url_allowed(const char *u)
{
    static const char *loop[] = { "http://127.0.0.1:", "http://127.0.0.1/", "http://[::1]:",
                                  "http://[::1]/", "http://localhost:", "http://localhost/" };
    if (strncmp(u, "https://", 8) == 0)
        return 1;
    for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++)
        if (strncmp(u, loop[i], strlen(loop[i])) == 0)
            return 1;
    return 0;
}

static size_t discard(char *p, size_t sz, size_t nm, void *arg)
{
    (void)p;
    (void)arg;
    return sz * nm;
}

/* 0 delivered, 1 retry, -1 give up, -2 the operator has no callback URL. */
static int deliver(struct smdp_notify *n, CURL *curl, struct smdp_store *st,
                   const struct note *x, unsigned long seq)
{
    const struct smdp_progress *ev = &x->ev;
    struct smdp_operator op;
    struct smdp_profile p;
    struct curl_slist *h = NULL;
    char *body, *url = NULL;
    long code = 0;
    CURLcode cc;

    int64_t t = now_ms();
    if (n->op_ok && !strcmp(n->op.id, ev->operator_id) && t - n->op_ms >= 0 &&
        t - n->op_ms < OP_CACHE_MS) {
        op = n->op;
    } else {
        n->op_ok = 0;
        if (smdp_store_operator_get(st, ev->operator_id, &op) != RSP_OK)
            return -1;
        n->op = op;
        n->op_ms = t;
        n->op_ok = 1;
    }
    if (!op.callback_url[0])
        return -2;                      /* nothing to call: not a failure */
    if (!url_allowed(op.callback_url)) {
        RSP_LOG(RSP_LOG_WARN, LOG_DOM, "%s: callback URL refused (http only to loopback)",
                op.id);
        return -1;
    }
    if (smdp_notify_url(op.callback_url, &url) != RSP_OK) {
        RSP_LOG(RSP_LOG_WARN, LOG_DOM, "%s: callback URL unusable", op.id);
        return -1;
    }
    memset(&p, 0, sizeof(p));
    if (smdp_store_profile_get(st, ev->iccid, 0, &p) != RSP_OK)
        p.profile_type[0] = '\0';
    body = smdp_notify_body(ev, x->result, x->result_len, p.profile_type, n->fqdn, seq);
    smdp_profile_clear(&p);
    if (!body) {
        curl_free(url);
        return 1;
    }
    curl_easy_reset(curl);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "X-Admin-Protocol: gsma/rsp/v2.5.0");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)n->cfg.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (n->ca)
        curl_easy_setopt(curl, CURLOPT_CAINFO, n->ca);
    if (n->cert)
        curl_easy_setopt(curl, CURLOPT_SSLCERT, n->cert);
    if (n->key)
        curl_easy_setopt(curl, CURLOPT_SSLKEY, n->key);
    cc = curl_easy_perform(curl);
    if (cc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    free(body);
    if (cc != CURLE_OK || code < 200 || code > 299) {
        RSP_LOG(RSP_LOG_INFO, LOG_DOM, "%s: %s: %s %ld", op.id, url, curl_easy_strerror(cc),
                code);
        curl_free(url);
        return 1;
    }
    curl_free(url);
    return 0;
}

static void *worker(void *arg)
{
    struct smdp_notify *n = arg;
    struct smdp_store *st = NULL;
    CURL *curl = curl_easy_init();

    if (smdp_store_open_sqlite(n->db, &st) != RSP_OK)
        st = NULL;
    pthread_mutex_lock(&n->mu);
    while (!n->stop) {
        int64_t t = now_ms();
        if (!n->head) {
            pthread_cond_wait(&n->cv, &n->mu);
            continue;
        }
        if (n->head->due_ms > t) {
            struct timespec ts = { (time_t)(n->head->due_ms / 1000),
                                   (long)(n->head->due_ms % 1000) * 1000000L };
            pthread_cond_timedwait(&n->cv, &n->mu, &ts);
            continue;
        }
        struct note *x = n->head;
        n->head = x->next;
        n->n--;
        unsigned long seq = ++n->seq;
        pthread_mutex_unlock(&n->mu);
        int r = st && curl ? deliver(n, curl, st, x, seq) : 1;
        pthread_mutex_lock(&n->mu);
        if (r == -2) {
            snprintf(n->quiet_id, sizeof(n->quiet_id), "%s", x->ev.operator_id);
            n->quiet_ms = now_ms();
        }
        if (r == 0) {
            n->st.delivered++;
            note_free(x);
        } else if (r < 0 || ++x->attempt >= n->cfg.attempts || n->stop) {
            if (r > 0)
                n->st.failed++;
            note_free(x);
        } else {
            unsigned shift = x->attempt - 1 < 16 ? x->attempt - 1 : 16;
            x->due_ms = now_ms() + ((int64_t)n->cfg.backoff_ms << shift);
            n->st.retries++;
            insert_sorted(n, x);
        }
    }
    pthread_mutex_unlock(&n->mu);
    curl_easy_cleanup(curl);
    smdp_store_close(st);
    return NULL;
}

void smdp_notify_progress_result(struct smdp_notify *n, const struct smdp_progress *ev,
                                 const uint8_t *result, size_t result_len)
{
    struct note *x = NULL;

    if (!n || !ev)
        return;
    if (result_len > SMDP_NOTIFY_RESULT_MAX)
        result_len = 0;              /* not ours to truncate: sent without */
    pthread_mutex_lock(&n->mu);
    if (n->quiet_id[0] && !strcmp(n->quiet_id, ev->operator_id)) {
        int64_t t = now_ms();
        if (t - n->quiet_ms >= 0 && t - n->quiet_ms < OP_CACHE_MS) {
            n->st.no_callback++;
            pthread_mutex_unlock(&n->mu);
            return;
        }
    }
    if (n->n >= n->cfg.queue_max || !(x = calloc(1, sizeof(*x))) ||
        (result && result_len && !(x->result = malloc(result_len)))) {
        free(x);
        n->st.dropped++;
        pthread_mutex_unlock(&n->mu);
        RSP_LOG(RSP_LOG_WARN, LOG_DOM, "queue full: progress of %s dropped", ev->iccid);
        return;
    }
    x->ev = *ev;
    if (x->result) {
        memcpy(x->result, result, result_len);
        x->result_len = result_len;
    }
    x->due_ms = now_ms();
    insert_sorted(n, x);
    n->st.queued++;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

void smdp_notify_progress(void *arg, const struct smdp_progress *ev)
{
    smdp_notify_progress_result(arg, ev, ev->result_data, ev->result_data_len);
}

void smdp_notify_stats(struct smdp_notify *n, struct smdp_notify_stats *out)
{
    pthread_mutex_lock(&n->mu);
    *out = n->st;
    pthread_mutex_unlock(&n->mu);
}

static char *dup_opt(const char *s, int *bad)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *bad = 1;
    return d;
}

int smdp_notify_start(const struct smdp_notify_config *cfg, struct smdp_notify **out)
{
    struct smdp_notify *n;
    int bad = 0;

    if (out)
        *out = NULL;
    if (!cfg || !cfg->db || !out)
        return RSP_ERR_INVAL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return RSP_ERR_NOMEM;
    if (!(n = calloc(1, sizeof(*n))))
        return RSP_ERR_NOMEM;
    n->cfg = *cfg;
    if (!n->cfg.attempts)
        n->cfg.attempts = 5;
    if (!n->cfg.queue_max)
        n->cfg.queue_max = 1024;
    if (!n->cfg.backoff_ms)
        n->cfg.backoff_ms = 500;
    if (!n->cfg.timeout_ms)
        n->cfg.timeout_ms = 10000;
    n->db = dup_opt(cfg->db, &bad);
    n->fqdn = dup_opt(cfg->fqdn, &bad);
    n->ca = dup_opt(cfg->ca_file, &bad);
    n->cert = dup_opt(cfg->cert, &bad);
    n->key = dup_opt(cfg->key, &bad);
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    if (bad || pthread_create(&n->tid, NULL, worker, n) != 0) {
        smdp_notify_free(n);
        return RSP_ERR_NOMEM;
    }
    n->started = 1;
    *out = n;
    return RSP_OK;
}

void smdp_notify_free(struct smdp_notify *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    n->stop = 1;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    if (n->started)
        pthread_join(n->tid, NULL);
    while (n->head) {
        struct note *x = n->head;
        n->head = x->next;
        note_free(x);
    }
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    free(n->db);
    free(n->fqdn);
    free(n->ca);
    free(n->cert);
    free(n->key);
    free(n);
}
