/*
 * euiccd - serve one simulated eUICC over TCP or to vsmartcard's vpcd.
 *   euiccd --state FILE (--tcp 127.0.0.1:PORT | --vpcd 127.0.0.1:35963)
 *          [--port-file F] [--fault SPEC] [--allow-remote] [--log LEVEL]
 * --tcp with PORT 0 picks a free port; --port-file writes the bound port
 * (one line) once listening. --fault arms the card's fault injection
 * (euicc_fault_set in euicc.h: crash=N, sw=XXXX[@TAG], savefail, dirsync),
 * as the environment variable EUICC_FAULT does.
 * Protocols: see euicc/euiccd.h.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "euicc.h"
#include "euiccd.h"
#include "rsp_err.h"
#include "rsp_log.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: euiccd --state FILE (--tcp HOST:PORT | --vpcd HOST:PORT)\n"
                    "              [--port-file F] [--fault SPEC] [--allow-remote]\n"
                    "              [--log error|warn|info|debug]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *state = NULL, *tcp = NULL, *vpcd = NULL, *port_file = NULL, *fault = NULL;
    int allow_remote = 0, rc, fd = -1;
    struct euicc *e = NULL;
    struct sigaction sa;
    uint16_t port;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--state") && i + 1 < argc)
            state = argv[++i];
        else if (!strcmp(argv[i], "--tcp") && i + 1 < argc)
            tcp = argv[++i];
        else if (!strcmp(argv[i], "--vpcd") && i + 1 < argc)
            vpcd = argv[++i];
        else if (!strcmp(argv[i], "--port-file") && i + 1 < argc)
            port_file = argv[++i];
        else if (!strcmp(argv[i], "--fault") && i + 1 < argc)
            fault = argv[++i];
        else if (!strcmp(argv[i], "--allow-remote"))
            allow_remote = 1;
        else if (!strcmp(argv[i], "--log") && i + 1 < argc) {
            if ((rsp_log_level = rsp_log_level_parse(argv[++i])) < 0)
                return usage();
        } else
            return usage();
    }
    if (!state || !tcp == !vpcd)
        return usage();
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if ((rc = euicc_open(state, &e))) {
        fprintf(stderr, "euiccd: %s: %s\n", state, rsp_strerror(rc));
        return 1;
    }
    if (fault && (rc = euicc_fault_set(e, fault))) {
        fprintf(stderr, "euiccd: --fault %s: %s\n", fault, rsp_strerror(rc));
        euicc_free(e);
        return 2;
    }
    if (tcp) {
        rc = euiccd_listen(tcp, allow_remote, &fd, &port);
        if (rc == 0) {
            fprintf(stderr, "euiccd: listening on port %u\n", port);
            if (port_file) {
                /* written to a temporary name first: a reader never sees
                 * a half-written file */
                char tmp[4096];
                snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
                FILE *f = fopen(tmp, "w");
                int bad = !f;
                if (f) {
                    bad = fprintf(f, "%u\n", port) < 0;
                    bad |= fclose(f) != 0;
                }
                if (bad || rename(tmp, port_file)) {
                    fprintf(stderr, "euiccd: --port-file %s: cannot write\n", port_file);
                    close(fd);
                    euicc_free(e);
                    return 1;
                }
            }
            rc = euiccd_serve_tcp(e, fd, &stop);
            close(fd);
        }
    } else {
        rc = euiccd_serve_vpcd(e, vpcd, allow_remote, &stop);
    }
    if (rc)
        fprintf(stderr, "euiccd: %s\n", rsp_strerror(rc));
    euicc_free(e);
    return rc ? 1 : 0;
}
