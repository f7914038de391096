/* drv_http_curl.c - the libcurl HTTPS driver of liblpa's ES9+ client
 * (struct lpa_http_driver). SGP.22 v2.5 §2.6.6 / §6.1: HTTPS with TLS 1.2
 * or later and the server authenticated by its TLS certificate; here peer
 * chain and host name are verified unless the caller asks for the lab-only
 * `insecure` mode. One easy handle is reused, so consecutive ES9+ calls of
 * a download share one keep-alive TLS connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "lpa_http_curl.h"
#include "rsp_buf.h"
#include "rsp_err.h"

/* The response cap: a BPP in base64 plus its JSON (lpa_rsp.h). */
#define RESP_MAX LPA_ES9_RESP_MAX

struct lpa_http_curl {
    CURL *curl;
    struct curl_slist *resolve;
    char errbuf[CURL_ERROR_SIZE];
};

static int curl_inited;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct rsp_buf *b = arg;
    size_t len = size * n;

    if (rsp_buf_append(b, p, len) < 0)
        return 0;   /* over the cap (or no memory): curl aborts the transfer */
    return len;
}

static int curl_post(void *ctx, const char *address, const char *path,
                     const char *const *headers, const char *body, size_t body_len,
                     long *http_status, char **resp, size_t *resp_len,
                     char *err, size_t err_len)
{
    struct lpa_http_curl *h = ctx;
    struct curl_slist *hl = NULL, *t;
    struct rsp_buf b;
    char *url = NULL;
    size_t ulen;
    CURLcode cc;
    int rc = RSP_OK;

    *http_status = 0;
    *resp = NULL;
    *resp_len = 0;
    if (err && err_len)
        err[0] = '\0';
    if (!h || !address || !*address || !path || path[0] != '/' || !body)
        return RSP_ERR_INVAL;
    /* address is "host[:port]": nothing that would change the URL's
     * authority or scheme may be in it. */
    if (strpbrk(address, "/?#@ \t\r\n"))
        return RSP_ERR_INVAL;
    ulen = strlen("https://") + strlen(address) + strlen(path) + 1;
    url = malloc(ulen);
    if (!url)
        return RSP_ERR_NOMEM;
    snprintf(url, ulen, "https://%s%s", address, path);
    for (size_t i = 0; headers && headers[i]; i++) {
        t = curl_slist_append(hl, headers[i]);
        if (!t) {
            rc = RSP_ERR_NOMEM;
            goto out;
        }
        hl = t;
    }
    /* No "Expect: 100-continue" round trip for bigger bodies. */
    t = curl_slist_append(hl, "Expect:");
    if (!t) {
        rc = RSP_ERR_NOMEM;
        goto out;
    }
    hl = t;
    rsp_buf_init(&b, RESP_MAX);
    h->errbuf[0] = '\0';
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &b);
    cc = curl_easy_perform(h->curl);
    if (cc != CURLE_OK) {
        if (err && err_len)
            snprintf(err, err_len, "%s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
        rc = cc == CURLE_WRITE_ERROR && b.len == 0 ? RSP_ERR_TOOBIG : RSP_ERR_IO;
        if (cc == CURLE_WRITE_ERROR && err && err_len)
            snprintf(err, err_len, "response over %u bytes", RESP_MAX);
        rsp_buf_free(&b);
        goto out;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, http_status);
    if (b.len) {
        /* NUL-terminated for convenience (not counted). */
        if (rsp_buf_append_byte(&b, 0) < 0) {
            rc = RSP_ERR_TOOBIG;
            goto out;
        }
        size_t n;
        *resp = (char *)rsp_buf_steal(&b, &n);
        *resp_len = n - 1;
    }
    rsp_buf_free(&b);
out:
    /* The handle keeps pointers to the list and body: drop them. */
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(hl);
    free(url);
    return rc;
}

int lpa_http_curl_new(const struct lpa_http_curl_opts *opt, struct lpa_http_curl **out,
                      struct lpa_http_driver *drv)
{
    struct lpa_http_curl_opts none;
    struct lpa_http_curl *h;
    int bad = 0;

    if (!out || !drv)
        return RSP_ERR_INVAL;
    *out = NULL;
    memset(drv, 0, sizeof(*drv));
    if (!opt) {
        memset(&none, 0, sizeof(none));
        opt = &none;
    }
    if (opt->connect_timeout_ms < 0 || opt->timeout_ms < 0)
        return RSP_ERR_INVAL;
    if (!curl_inited) {
        /* Process-wide init is not thread-safe in old libcurls; the first
         * driver does it. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return RSP_ERR_NOMEM;
        curl_inited = 1;
    }
    h = calloc(1, sizeof(*h));
    if (!h)
        return RSP_ERR_NOMEM;
    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        return RSP_ERR_NOMEM;
    }
    for (size_t i = 0; opt->resolve && opt->resolve[i]; i++) {
        struct curl_slist *t = curl_slist_append(h->resolve, opt->resolve[i]);
        if (!t) {
            lpa_http_curl_free(h);
            return RSP_ERR_NOMEM;
        }
        h->resolve = t;
    }
    bad |= curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK;
    bad |= curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(h->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK;
    bad |= curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYPEER, opt->insecure ? 0L : 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYHOST, opt->insecure ? 0L : 2L) != CURLE_OK;
    if (opt->ca_file)
        bad |= curl_easy_setopt(h->curl, CURLOPT_CAINFO, opt->ca_file) != CURLE_OK;
    if (opt->ca_dir)
        bad |= curl_easy_setopt(h->curl, CURLOPT_CAPATH, opt->ca_dir) != CURLE_OK;
    if (h->resolve)
        bad |= curl_easy_setopt(h->curl, CURLOPT_RESOLVE, h->resolve) != CURLE_OK;
    bad |= curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS,
                            opt->connect_timeout_ms ? opt->connect_timeout_ms : 10000L) != CURLE_OK;
    bad |= curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS,
                            opt->timeout_ms ? opt->timeout_ms : 60000L) != CURLE_OK;
    bad |= curl_easy_setopt(h->curl, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h->curl, CURLOPT_USERAGENT, NULL) != CURLE_OK;
    bad |= curl_easy_setopt(h->curl, CURLOPT_VERBOSE, opt->verbose ? 1L : 0L) != CURLE_OK;
    if (bad) {
        lpa_http_curl_free(h);
        return RSP_ERR_INVAL;
    }
    drv->ctx = h;
    drv->post = curl_post;
    *out = h;
    return RSP_OK;
}

void lpa_http_curl_free(struct lpa_http_curl *h)
{
    if (!h)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->resolve);
    free(h);
}
