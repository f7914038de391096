/*
 * smdpd - the SM-DP+ server (SGP.22 v2.5: ES9+ §5.6 for LPAs, ES2+ §5.3 for
 * operators, over HTTPS §6.2). See smdp_conf.h for the configuration keys.
 *
 *   smdpd [--config F] [--es9 HOST:PORT] [--es2 HOST:PORT] [--db F]
 *         [--fqdn NAME] [--pki DIR] [--state DIR] [--threads N]
 *         [--log LEVEL] [--port-file F]
 *
 * With no TLS credentials configured, a test PKI is generated into
 * STATE/pki (default STATE = ./smdpd-state) and the server listens on
 * 127.0.0.1:8443 (ES9+) and 127.0.0.1:8444 (ES2+).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "rsp_err.h"
#include "rsp_log.h"
#include "rsp_pki.h"
#include "smdp_conf.h"
#include "smdp_notify.h"
#include "smdpd.h"

static int usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: smdpd [--config FILE] [--es9 HOST:PORT] [--es2 HOST:PORT] [--db FILE]\n"
            "             [--fqdn NAME] [--pki DIR] [--state DIR] [--threads N]\n"
            "             [--log error|warn|info|debug] [--port-file FILE]\n"
            "             [--synchronous full|normal]\n"
            "  --config FILE     INI file (keys below); the flags override it\n"
            "  --es9 HOST:PORT   ES9+ listener, TLS ([server] es9_listen; 127.0.0.1:8443)\n"
            "  --es2 HOST:PORT   ES2+ listener, mutual TLS ([server] es2_listen;\n"
            "                    127.0.0.1:8444); the same address as --es9: one listener\n"
            "  --db FILE         SQLite store ([store] db; STATE/smdp.db)\n"
            "  --synchronous full|normal  [store] synchronous: full (default) fsyncs\n"
            "                    every state change; normal may lose the last ones on\n"
            "                    power loss (not on a crash)\n"
            "  --fqdn NAME       SM-DP+ address served ([server] fqdn; default with --pki\n"
            "                    or the generated PKI: the TLS certificate's dNSName)\n"
            "  --pki DIR         every credential not set otherwise, from an rsp-pki or\n"
            "                    SGP.26 directory\n"
            "  --state DIR       where the default PKI and database go (./smdpd-state)\n"
            "  --threads N       event-loop threads ([server] threads; one per CPU)\n"
            "  --log LEVEL       [server] log_level (stderr)\n"
            "  --port-file FILE  [server] port_file: \"es9=PORT\\nes2=PORT\\n\" after bind\n"
            "  port 0 picks a free port. Other keys: [server] timeout; [tls] cert, key,\n"
            "  chain; [nist]/[brp] dpauth_cert, dpauth_key, dppb_cert, dppb_key; [trust]\n"
            "  ci_dir, ci, operator_ca; [session] timeout, order_ttl, cc_limit,\n"
            "  download_limit; [notify] attempts, queue, backoff_ms, ca, cert, key\n"
            "  (docs/config.md)\n");
    return rc;
}

/* CLI flag -> (section, key) of the configuration. */
static const struct {
    const char *flag, *sec, *key;
} flags[] = {
    { "--es9", "server", "es9_listen" }, { "--es2", "server", "es2_listen" },
    { "--db", "store", "db" },           { "--fqdn", "server", "fqdn" },
    { "--threads", "server", "threads" }, { "--log", "server", "log_level" },
    { "--port-file", "server", "port_file" },
    { "--synchronous", "store", "synchronous" },
};

static int default_pki(const char *state, const char *fqdn, char *dir, size_t dirlen)
{
    char probe[PATH_MAX];
    struct rsp_pki_opts o;

    if ((size_t)snprintf(dir, dirlen, "%s/pki", state) >= dirlen)
        return RSP_ERR_TOOBIG;
    if ((size_t)snprintf(probe, sizeof(probe), "%s/DPtls/CERT_S_SM_DP_TLS_NIST.der", dir) <
            sizeof(probe) && access(probe, R_OK) == 0)
        return RSP_OK;
    memset(&o, 0, sizeof(o));
    o.dir = dir;
    o.host = fqdn;
    fprintf(stderr, "smdpd: generating a test PKI into %s\n", dir);
    return rsp_pki_generate(&o);
}

int main(int argc, char **argv)
{
    struct smdp_conf conf;
    struct smdp_config core;
    struct smdpd_config srv;
    struct smdp *s = NULL;
    struct smdpd *d = NULL;
    struct smdp_notify *nt = NULL;
    const char *config = NULL, *pki = NULL, *state = "smdpd-state";
    char path[PATH_MAX];
    int rc, line, ret = 1;
    sigset_t sigs;

#ifdef __GLIBC__
    /* A download frees blocks of 20-40 KB (the BPP, its base64, the
     * answer's chain) at the top of a loop thread's malloc arena: with
     * glibc's 128 KB trim threshold the arena was given back (madvise) and
     * faulted in again ~2 times per download. Keep up to 8 MB; the mmap
     * threshold is pinned too (setting one turns off its dynamic growth).
     * Process-wide, so here and not in libsmdp. */
    mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
#endif

    memset(&conf, 0, sizeof(conf));
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(0);
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config = argv[++i];
    }
    if (config && (rc = smdp_conf_load(&conf, config, &line))) {
        if (line)
            fprintf(stderr, "smdpd: %s:%d: unknown key or bad value\n", config, line);
        else
            fprintf(stderr, "smdpd: %s: %s\n", config, strerror(errno));
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        size_t k;
        if (!strcmp(argv[i], "--config")) {
            i++;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "smdpd: %s: missing value or unknown option\n", argv[i]);
            ret = usage(2);
            goto out;
        }
        if (!strcmp(argv[i], "--pki")) {
            pki = argv[++i];
            continue;
        }
        if (!strcmp(argv[i], "--state")) {
            state = argv[++i];
            continue;
        }
        for (k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
            if (!strcmp(argv[i], flags[k].flag))
                break;
        if (k == sizeof(flags) / sizeof(flags[0])) {
            fprintf(stderr, "smdpd: unknown option %s\n", argv[i]);
            ret = usage(2);
            goto out;
        }
        if (smdp_conf_set(&conf, flags[k].sec, flags[k].key, argv[i + 1])) {
            fprintf(stderr, "smdpd: %s %s: bad value\n", argv[i], argv[i + 1]);
            goto out;
        }
        i++;
    }
    if (conf.log_level) {
        int l = rsp_log_level_parse(conf.log_level);
        if (l < 0) {
            fprintf(stderr, "smdpd: unknown log level %s\n", conf.log_level);
            goto out;
        }
        rsp_log_level = l;
    }
    if (pki && smdp_conf_pki(&conf, pki)) {
        fprintf(stderr, "smdpd: %s: no DPtls certificate and key found\n", pki);
        goto out;
    }
    if (!conf.tls_cert || (!conf.db && !conf.nist[0] && !conf.brp[0])) {
        if (mkdir(state, 0700) && errno != EEXIST) {
            fprintf(stderr, "smdpd: %s: %s\n", state, strerror(errno));
            goto out;
        }
    }
    if (!conf.tls_cert) {
        if ((rc = default_pki(state, conf.fqdn, path, sizeof(path))) ||
            (rc = smdp_conf_pki(&conf, path))) {
            fprintf(stderr, "smdpd: default PKI: %s\n", rsp_strerror(rc));
            goto out;
        }
    }
    if (!conf.db) {
        if ((size_t)snprintf(path, sizeof(path), "%s/smdp.db", state) >= sizeof(path))
            goto out;
        if (mkdir(state, 0700) && errno != EEXIST) {
            fprintf(stderr, "smdpd: %s: %s\n", state, strerror(errno));
            goto out;
        }
        smdp_conf_set(&conf, "store", "db", path);
    }
    if (!conf.es9_listen && !conf.es2_listen) {
        smdp_conf_set(&conf, "server", "es9_listen", "127.0.0.1:8443");
        smdp_conf_set(&conf, "server", "es2_listen", "127.0.0.1:8444");
    }
    if (!conf.fqdn) {
        fprintf(stderr, "smdpd: no fqdn (set [server] fqdn or --fqdn)\n");
        goto out;
    }

    /* signals are taken by sigwait below; threads inherit the mask */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    struct smdp_notify_config ncfg = {
        .db = conf.db, .fqdn = conf.fqdn, .attempts = conf.notify_attempts,
        .queue_max = conf.notify_queue, .backoff_ms = conf.notify_backoff_ms,
        .ca_file = conf.notify_ca, .cert = conf.notify_cert, .key = conf.notify_key,
    };
    if ((rc = smdp_notify_start(&ncfg, &nt))) {
        fprintf(stderr, "smdpd: notifications: %s\n", rsp_strerror(rc));
        goto out;
    }
    smdp_conf_core(&conf, &core);
    core.progress = smdp_notify_progress;
    core.progress_arg = nt;
    if ((rc = smdp_create(&core, &s))) {
        fprintf(stderr, "smdpd: SM-DP+ credentials: %s\n", rsp_strerror(rc));
        goto out;
    }
    smdp_conf_server(&conf, &srv);
    if ((rc = smdpd_start(s, &srv, &d))) {
        fprintf(stderr, "smdpd: start: %s\n", smdp_strerror(rc));
        goto out;
    }
    if (conf.port_file) {
        FILE *f = fopen(conf.port_file, "w");
        if (!f || fprintf(f, "es9=%d\nes2=%d\n", smdpd_port_es9(d), smdpd_port_es2(d)) < 0 ||
            fclose(f)) {
            fprintf(stderr, "smdpd: %s: %s\n", conf.port_file, strerror(errno));
            goto out;
        }
    }
    printf("smdpd: listening es9=%d es2=%d fqdn=%s\n", smdpd_port_es9(d), smdpd_port_es2(d),
           conf.fqdn);
    fflush(stdout);
    {
        int sig = 0;
        sigwait(&sigs, &sig);
        fprintf(stderr, "smdpd: signal %d, shutting down\n", sig);
    }
    ret = 0;
out:
    smdpd_free(d);
    smdp_free(s);
    smdp_notify_free(nt);
    smdp_conf_free(&conf);
    return ret;
}
