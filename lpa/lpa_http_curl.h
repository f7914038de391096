/*
 * lpa_http_curl.h - the libcurl HTTPS driver for liblpa's ES9+ client
 * (struct lpa_http_driver, lpa_rsp.h). In liblpa-drivers.
 *
 * TLS (SGP.22 v2.5 §2.6.6 / §6.1: TLS 1.2 or later, server authenticated
 * with the SM-DP+'s TLS certificate chaining to a trusted CI) is verified by
 * default: peer chain AND host name. `insecure` switches both off and is
 * meant only for the lab; the CLI names it --insecure.
 */
#ifndef LPA_HTTP_CURL_H
#define LPA_HTTP_CURL_H

#include "lpa_rsp.h"

struct lpa_http_curl_opts {
    const char *ca_file;        /* PEM/DER CA(s) that signed DPtls; NULL: system default */
    const char *ca_dir;         /* or a hashed directory; NULL: none */
    const char *const *resolve; /* NULL-terminated "host:port:127.0.0.1" entries
                                 * (CURLOPT_RESOLVE), e.g. to reach
                                 * testsmdpplus1.example.com on loopback */
    long connect_timeout_ms;    /* 0: 10000 */
    long timeout_ms;            /* whole request; 0: 60000 */
    int insecure;               /* 1: no peer/host verification (lab only) */
    int verbose;                /* 1: curl debug output on stderr */
};

struct lpa_http_curl;

/* Create a driver (one curl easy handle, kept alive across requests).
 * [out] *out, *drv (drv->ctx = *out). Errors: RSP_ERR_NOMEM, RSP_ERR_INVAL. */
int lpa_http_curl_new(const struct lpa_http_curl_opts *opt, struct lpa_http_curl **out,
                      struct lpa_http_driver *drv);
void lpa_http_curl_free(struct lpa_http_curl *h);

#endif
