/*
 * rsp-operator - the operator's side of ES2+ (SGP.22 v2.5 §5.3, JSON
 * binding §6.5), for the lab, the demo and the integration tests.
 *
 *   rsp-operator call --url https://HOST:PORT --cert OP_CERT --key OP_KEY
 *                     --ca CA [--resolve HOST:PORT:ADDR] [--insecure]
 *                     FUNCTION 'JSON'
 *       POST JSON to <url>/gsma/rsp2/es2plus/FUNCTION over mutual TLS (the
 *       operator's client certificate), adding the request "header"
 *       (functionRequesterIdentifier, functionCallIdentifier; §6.5.1.2)
 *       when the JSON has none. Prints the response body on stdout.
 *       Exit 0: Executed-Success (or -WithWarning); 3: Failed/Expired (the
 *       statusCodeData is printed on stderr); 2: transport or usage error.
 *
 *   rsp-operator listen --listen 127.0.0.1:PORT [--port-file F] --out FILE
 *       Receive ES2+.HandleDownloadProgressInfo calls (§5.3.5) on plain HTTP
 *       (loopback lab use): every POST body is appended to FILE as one JSON
 *       line and answered 200 with an Executed-Success header. PORT 0 picks
 *       a free port, written to F. Runs until SIGTERM/SIGINT.
 *
 * libcurl for the client, libevent evhttp for the listener, jansson for JSON.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#define BODY_MAX (4u * 1024u * 1024u)

static int usage(void)
{
    fprintf(stderr,
            "usage: rsp-operator call --url URL --cert F --key F (--ca F | --insecure)\n"
            "                    [--resolve HOST:PORT:ADDR] [--id OPERATOR] FUNCTION JSON\n"
            "       rsp-operator listen --listen ADDR:PORT [--port-file F] --out FILE\n");
    return 2;
}

/* ---- call ---- */

struct body {
    char *p;
    size_t n;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *arg)
{
    struct body *b = arg;
    size_t n = sz * nm;
    if (n > BODY_MAX - b->n)
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    char *q = realloc(b->p, b->n + n + 1);
    if (!q)
        return 0;
    memcpy(q + b->n, d, n);
    b->p = q;
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* Add the ES2+ request header (§6.5.1.2) unless present. */
static char *with_header(const char *json, const char *requester)
{
    json_error_t err;
    json_t *req = json_loads(json, JSON_REJECT_DUPLICATES, &err);
    if (!req || !json_is_object(req)) {
        fprintf(stderr, "rsp-operator: request JSON: %s\n", req ? "not an object" : err.text);
        json_decref(req);
        return NULL;
    }
    if (!json_object_get(req, "header")) {
        char id[40];
        snprintf(id, sizeof(id), "%ld-%ld", (long)time(NULL), (long)getpid());
        json_object_set_new(req, "header",
                            json_pack("{s:s, s:s}", "functionRequesterIdentifier", requester,
                                      "functionCallIdentifier", id));
    }
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return s;
}

static int do_call(int argc, char **argv)
{
    const char *url = NULL, *cert = NULL, *key = NULL, *ca = NULL, *id = "operator";
    struct curl_slist *resolve = NULL, *hdrs = NULL;
    int insecure = 0, i, rc = 2;

    for (i = 0; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--insecure")) {
            insecure = 1;
            continue;
        }
        if (i + 1 >= argc)
            return usage();
        const char *v = argv[++i];
        if (!strcmp(o, "--url")) url = v;
        else if (!strcmp(o, "--cert")) cert = v;
        else if (!strcmp(o, "--key")) key = v;
        else if (!strcmp(o, "--ca")) ca = v;
        else if (!strcmp(o, "--id")) id = v;
        else if (!strcmp(o, "--resolve")) resolve = curl_slist_append(resolve, v);
        else {
            curl_slist_free_all(resolve);
            return usage();
        }
    }
    if (argc - i != 2 || !url || !cert || !key || (!ca && !insecure)) {
        curl_slist_free_all(resolve);
        return usage();
    }
    const char *fn = argv[i], *json = argv[i + 1];
    char *req = with_header(json, id);
    if (!req) {
        curl_slist_free_all(resolve);
        return 2;
    }

    char full[1024], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(full, sizeof(full), "%s/gsma/rsp2/es2plus/%s", url, fn);
    struct body b = { 0 };
    CURL *c = curl_easy_init();
    if (!c)
        goto out;
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json;charset=UTF-8");
    hdrs = curl_slist_append(hdrs, "X-Admin-Protocol: gsma/rsp/v2.5.0");
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, strstr(cert, ".der") ? "DER" : "PEM");
    curl_easy_setopt(c, CURLOPT_SSLKEY, key);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    if (insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (resolve)
        curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);

    CURLcode cc = curl_easy_perform(c);
    long http = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
    if (cc != CURLE_OK) {
        fprintf(stderr, "rsp-operator: %s: %s\n", fn, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    if (b.n)
        printf("%s\n", b.p);
    json_error_t jerr;
    json_t *resp = b.n ? json_loadb(b.p, b.n, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    json_t *st = json_object_get(json_object_get(json_object_get(resp, "header"),
                                                 "functionExecutionStatus"), "status");
    const char *status = json_string_value(st);
    if (!status) {
        fprintf(stderr, "rsp-operator: %s: HTTP %ld without a functionExecutionStatus\n", fn, http);
        rc = http >= 200 && http < 300 && !b.n ? 0 : 3;
    } else if (!strncmp(status, "Executed-", 9)) {
        rc = 0;
    } else {
        json_t *sc = json_object_get(json_object_get(json_object_get(resp, "header"),
                                                     "functionExecutionStatus"), "statusCodeData");
        fprintf(stderr, "rsp-operator: %s: %s subjectCode %s reasonCode %s%s%s\n", fn, status,
                json_string_value(json_object_get(sc, "subjectCode")) ?: "?",
                json_string_value(json_object_get(sc, "reasonCode")) ?: "?",
                json_string_value(json_object_get(sc, "message")) ? ": " : "",
                json_string_value(json_object_get(sc, "message")) ?: "");
        rc = 3;
    }
    json_decref(resp);
out:
    curl_slist_free_all(hdrs);
    curl_slist_free_all(resolve);
    if (c)
        curl_easy_cleanup(c);
    free(b.p);
    free(req);
    return rc;
}

/* ---- listen ---- */

struct sink {
    FILE *out;
    struct event_base *base;
};

static void on_request(struct evhttp_request *req, void *arg)
{
    struct sink *s = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST || n == 0 || n > BODY_MAX) {
        evhttp_send_error(req, 400, "POST a JSON body");
        return;
    }
    char *body = malloc(n + 1);
    if (!body) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_remove(in, body, n);
    body[n] = '\0';
    json_error_t err;
    json_t *j = json_loadb(body, n, JSON_REJECT_DUPLICATES, &err);
    free(body);
    if (!j) {
        evhttp_send_error(req, 400, "invalid JSON");
        return;
    }
    /* one line per call, with the path it came to */
    json_object_set_new(j, "_path", json_string(evhttp_request_get_uri(req)));
    char *line = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (line) {
        fprintf(s->out, "%s\n", line);
        fflush(s->out);
        free(line);
    }
    struct evbuffer *ob = evbuffer_new();
    evbuffer_add_printf(ob, "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}}}");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json;charset=UTF-8");
    evhttp_add_header(evhttp_request_get_output_headers(req), "X-Admin-Protocol", "gsma/rsp/v2.5.0");
    evhttp_send_reply(req, 200, "OK", ob);
    evbuffer_free(ob);
}

static void on_signal(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    event_base_loopexit(arg, NULL);
}

static int do_listen(int argc, char **argv)
{
    const char *listen = NULL, *port_file = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (i + 1 >= argc)
            return usage();
        if (!strcmp(argv[i], "--listen")) listen = argv[++i];
        else if (!strcmp(argv[i], "--port-file")) port_file = argv[++i];
        else if (!strcmp(argv[i], "--out")) out = argv[++i];
        else return usage();
    }
    if (!listen || !out)
        return usage();
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof(host))
        return usage();
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    long port = strtol(colon + 1, NULL, 10);
    if (port < 0 || port > 65535)
        return usage();
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) {
        fprintf(stderr, "rsp-operator: listen only on 127.0.0.0/8 (%s)\n", host);
        return 2;
    }

    struct sink s = { 0 };
    s.out = fopen(out, "a");
    if (!s.out) {
        fprintf(stderr, "rsp-operator: %s: %s\n", out, strerror(errno));
        return 2;
    }
    s.base = event_base_new();
    struct evhttp *http = s.base ? evhttp_new(s.base) : NULL;
    struct evhttp_bound_socket *bs = http ? evhttp_bind_socket_with_handle(http, host, (uint16_t)port) : NULL;
    int rc = 2;
    if (!bs) {
        fprintf(stderr, "rsp-operator: cannot listen on %s\n", listen);
        goto out;
    }
    evhttp_set_max_body_size(http, BODY_MAX);
    evhttp_set_gencb(http, on_request, &s);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (!f) {
            fprintf(stderr, "rsp-operator: %s: %s\n", port_file, strerror(errno));
            goto out;
        }
        fprintf(f, "%u\n", ntohs(sa.sin_port));
        fclose(f);
    }
    struct event *sigterm = evsignal_new(s.base, SIGTERM, on_signal, s.base);
    struct event *sigint = evsignal_new(s.base, SIGINT, on_signal, s.base);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    event_base_dispatch(s.base);
    event_free(sigterm);
    event_free(sigint);
    rc = 0;
out:
    if (http)
        evhttp_free(http);
    if (s.base)
        event_base_free(s.base);
    fclose(s.out);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (!strcmp(argv[1], "call")) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = do_call(argc - 2, argv + 2);
        curl_global_cleanup();
        return rc;
    }
    if (!strcmp(argv[1], "listen"))
        return do_listen(argc - 2, argv + 2);
    return usage();
}
