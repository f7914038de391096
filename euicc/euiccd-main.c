/*
 * euiccd - serve simulated eUICCs over TCP or to vsmartcard's vpcd, with
 * field-test link conditions and faults. Protocols: euicc/euiccd.h.
 *
 *   euiccd (--state FILE ... | --cards DIR)
 *          (--tcp HOST:PORT | --vpcd HOST:PORT | --vpcd-listen HOST:PORT)
 *          [--port-file F] [--allow-remote] [--log LEVEL]
 *          [card options: --fault SPEC --latency MS --rate BYTES_PER_S
 *           --drop N --corrupt N --power-loss N[:after] --per-connection]
 *
 * Cards (up to 16384): --state is repeatable; --cards DIR serves every DIR/ *.json in name
 * order. Card i (0-based, in command-line order) gets PORT + i: its TCP
 * port, the vpcd slot port it connects to (35963, 35964, ...), or the port
 * it listens on for vpcd (reverse mode). PORT 0 (--tcp, --vpcd-listen):
 * each card a free port. With --vpcd-listen and one card, PORT + 1 answers
 * as an empty slot (vpcd polls both of its slots).
 * --port-file (--tcp, --vpcd-listen) is written once all listen: one line
 * "EID PORT" per card; with exactly one --state card only "PORT" (as before).
 * Card options before the first --state/--cards apply to every card; after
 * one, to that card (after --cards: to all of DIR's cards) - latency and
 * rate replace the global value, faults are added. --fault arms the card's
 * own fault hook (euicc_fault_set in euicc.h), as env EUICC_FAULT does.
 * Invalid or unknown arguments: usage, exit 2.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "euicc.h"
#include "euiccd.h"
#include "rsp_err.h"
#include "rsp_log.h"

/* Cards per process: one thread, one listening socket each (a fleet test
 * runs thousands). The fd limit is raised to the hard limit at start. */
#define MAX_CARDS 16384
#define CARD_STACK (1024u * 1024u)   /* per card thread (default: 8 MB) */

static atomic_int stop;
static atomic_int running;

struct entry {
    char *path;
    struct euiccd_opts o;
    const char *fault;
    struct euiccd_card *card;
    int fd;                     /* listening socket, -1 */
    uint16_t port;
    int rc;
    pthread_t th;
};

enum mode { MODE_NONE, MODE_TCP, MODE_VPCD, MODE_VPCD_LISTEN };

static struct {
    struct entry *e;            /* n cards, room for cap */
    int n, cap;
    enum mode mode;
    const char *addr;
    int allow_remote;
    int empty_fd;               /* reverse mode, one card: the second slot */
} g = { .empty_fd = -1 };

/* RLIMIT_NOFILE's soft limit up to need (at most the hard limit): one
 * listening socket per card plus its connection and state file writes. */
static int raise_fd_limit(rlim_t need)
{
    struct rlimit r;

    if (getrlimit(RLIMIT_NOFILE, &r) != 0)
        return -1;
    if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < need) {
        r.rlim_cur = r.rlim_max == RLIM_INFINITY || r.rlim_max > need ? need : r.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &r) != 0)
            return -1;
    }
    return r.rlim_cur == RLIM_INFINITY || r.rlim_cur >= need ? 0 : -1;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: euiccd (--state FILE ... | --cards DIR)\n"
            "              (--tcp HOST:PORT | --vpcd HOST:PORT | --vpcd-listen HOST:PORT)\n"
            "              [--port-file F] [--allow-remote] [--log error|warn|info|debug]\n"
            "  card options (before any card: all cards; after one: that card):\n"
            "              [--fault SPEC] [--latency MS] [--rate BYTES_PER_S] [--drop N]\n"
            "              [--corrupt N] [--power-loss N[:after]] [--per-connection]\n");
    return 2;
}

static int add_card(const char *path, const struct euiccd_opts *o, const char *fault)
{
    if (g.n >= MAX_CARDS)
        return -1;
    if (g.n == g.cap) {
        int cap = g.cap ? 2 * g.cap : 16;
        struct entry *e = realloc(g.e, (size_t)cap * sizeof(*e));
        if (!e)
            return -1;
        g.e = e;
        g.cap = cap;
    }
    memset(&g.e[g.n], 0, sizeof(g.e[g.n]));
    if (!(g.e[g.n].path = strdup(path)))
        return -1;
    g.e[g.n].o = *o;
    g.e[g.n].fault = fault;
    g.e[g.n].fd = -1;
    g.n++;
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_dir(const char *dir, const struct euiccd_opts *o, const char *fault)
{
    char **names = NULL, path[4096];
    struct dirent *d;
    int n = 0, cap = 0, rc = 0;
    DIR *dp = opendir(dir);

    if (!dp)
        return -1;
    while ((d = readdir(dp))) {
        size_t l = strlen(d->d_name);
        if (d->d_name[0] == '.' || l < 6 || strcmp(d->d_name + l - 5, ".json"))
            continue;
        if (n == cap) {
            char **nn = n < MAX_CARDS ? realloc(names, (size_t)(cap ? 2 * cap : 64) * sizeof(*nn))
                                      : NULL;
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
            cap = cap ? 2 * cap : 64;
        }
        if (!(names[n] = strdup(d->d_name))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(dp);
    qsort(names, (size_t)n, sizeof(names[0]), name_cmp);
    for (int i = 0; i < n; i++) {
        if (!rc && ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path) ||
                    add_card(path, o, fault)))
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc || n == 0 ? -1 : 0;
}

/* addr with PORT + i (PORT 0 stays 0); -1 when beyond 65535 */
static int addr_at(char *out, size_t max, int i)
{
    const char *colon = strrchr(g.addr, ':');
    char *end;
    long base = colon ? strtol(colon + 1, &end, 10) : -1;

    if (!colon || colon[1] == 0 || *end || base < 0 || base + i > 65535 ||
        (size_t)(colon - g.addr) + 8 > max)
        return -1;
    snprintf(out, max, "%.*s:%ld", (int)(colon - g.addr), g.addr, base ? base + i : 0);
    return 0;
}

static void *card_thread(void *arg)
{
    struct entry *en = arg;

    if (g.mode == MODE_TCP)
        en->rc = euiccd_card_serve_tcp(en->card, en->fd, &stop);
    else if (g.mode == MODE_VPCD_LISTEN)
        en->rc = euiccd_card_serve_vpcd_listen(en->card, en->fd, &stop);
    else {
        char addr[80];
        addr_at(addr, sizeof(addr), (int)(en - g.e));   /* vpcd slot PORT + i */
        en->rc = euiccd_card_serve_vpcd(en->card, addr, g.allow_remote, &stop);
    }
    atomic_fetch_sub(&running, 1);
    return NULL;
}

static void *empty_thread(void *arg)
{
    (void)arg;
    euiccd_serve_empty_slot(g.empty_fd, &stop);
    return NULL;
}

static int write_port_file(const char *port_file, int legacy)
{
    char tmp[4096];
    FILE *f;
    int bad;

    /* a temporary name first: a reader never sees a half-written file */
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", port_file) >= sizeof(tmp) ||
        !(f = fopen(tmp, "w")))
        return -1;
    bad = 0;
    for (int i = 0; i < g.n; i++) {
        if (legacy)
            bad |= fprintf(f, "%u\n", g.e[i].port) < 0;
        else
            bad |= fprintf(f, "%s %u\n", euiccd_card_eid(g.e[i].card), g.e[i].port) < 0;
    }
    bad |= fclose(f) != 0;
    return bad || rename(tmp, port_file) ? -1 : 0;
}

int main(int argc, char **argv)
{
    const char *port_file = NULL, *fault = NULL;
    struct euiccd_opts o;
    int grp = -1, n_state = 0, rc = 0, started = 0;
    struct sigaction sa;

    memset(&o, 0, sizeof(o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 0;
        if (!strncmp(a, "--", 2) && euiccd_opts_known(a + 2, &takes)) {
            if (takes && !v)
                return usage();
            if (grp < 0)
                rc = euiccd_opts_set(&o, a + 2, v);
            for (int j = grp < 0 ? g.n : grp; !rc && j < g.n; j++)
                rc = euiccd_opts_set(&g.e[j].o, a + 2, v);
            if (rc) {
                fprintf(stderr, "euiccd: %s %s: invalid\n", a, takes ? v : "");
                return usage();
            }
            i += takes;
        } else if (!strcmp(a, "--fault") && v) {
            if (grp < 0)
                fault = v;
            for (int j = grp < 0 ? g.n : grp; j < g.n; j++)
                g.e[j].fault = v;
            i++;
        } else if ((!strcmp(a, "--state") || !strcmp(a, "--cards")) && v) {
            grp = g.n;
            if (a[2] == 's' ? add_card(v, &o, fault) : add_dir(v, &o, fault)) {
                fprintf(stderr, "euiccd: %s %s: no card (or more than %d)\n", a, v, MAX_CARDS);
                return usage();
            }
            n_state += a[2] == 's';
            i++;
        } else if ((!strcmp(a, "--tcp") || !strcmp(a, "--vpcd") ||
                    !strcmp(a, "--vpcd-listen")) && v && g.mode == MODE_NONE) {
            g.mode = !strcmp(a, "--tcp") ? MODE_TCP : !strcmp(a, "--vpcd") ? MODE_VPCD
                                                                            : MODE_VPCD_LISTEN;
            g.addr = v;
            i++;
        } else if (!strcmp(a, "--port-file") && v) {
            port_file = v;
            i++;
        } else if (!strcmp(a, "--allow-remote")) {
            g.allow_remote = 1;
        } else if (!strcmp(a, "--log") && v) {
            if ((rsp_log_level = rsp_log_level_parse(v)) < 0)
                return usage();
            i++;
        } else {
            return usage();
        }
    }
    if (g.n == 0 || g.mode == MODE_NONE)
        return usage();
    for (int i = 0; i < g.n; i++) {
        char addr[80];
        if (addr_at(addr, sizeof(addr), i))
            return usage();
    }
    if (raise_fd_limit((rlim_t)g.n + 64) != 0)
        fprintf(stderr, "euiccd: %d cards need about %d file descriptors, more than "
                "RLIMIT_NOFILE allows\n", g.n, g.n + 64);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    for (int i = 0; i < g.n && !rc; i++) {
        struct entry *en = &g.e[i];
        char addr[80];
        if ((rc = euiccd_card_open(en->path, &en->o, &en->card))) {
            fprintf(stderr, "euiccd: %s: %s\n", en->path, rsp_strerror(rc));
            break;
        }
        if (en->fault && (rc = euicc_fault_set(euiccd_card_euicc(en->card), en->fault))) {
            fprintf(stderr, "euiccd: --fault %s: %s\n", en->fault, rsp_strerror(rc));
            rc = 2;
            break;
        }
        if (g.mode == MODE_VPCD)
            continue;
        addr_at(addr, sizeof(addr), i);
        if ((rc = euiccd_listen(addr, g.allow_remote, &en->fd, &en->port)))
            break;
        fprintf(stderr, "euiccd: card %s listening on port %u%s\n",
                euiccd_card_eid(en->card), en->port,
                g.mode == MODE_VPCD_LISTEN ? " for vpcd" : "");
    }
    if (!rc && g.mode == MODE_VPCD_LISTEN && g.n == 1) {
        char addr[80];
        uint16_t port;
        if (addr_at(addr, sizeof(addr), 1) == 0 &&
            (rc = euiccd_listen(addr, g.allow_remote, &g.empty_fd, &port)) == 0)
            fprintf(stderr, "euiccd: empty slot on port %u for vpcd\n", port);
    }
    if (!rc && port_file && g.mode != MODE_VPCD &&
        write_port_file(port_file, n_state == 1 && g.n == 1)) {
        fprintf(stderr, "euiccd: --port-file %s: cannot write\n", port_file);
        rc = RSP_ERR_IO;
    }
    pthread_attr_t ta;
    int ta_ok = pthread_attr_init(&ta) == 0;
    if (ta_ok && pthread_attr_setstacksize(&ta, CARD_STACK) != 0) {
        pthread_attr_destroy(&ta);
        ta_ok = 0;
    }
    for (int i = 0; i < g.n && !rc; i++) {
        atomic_fetch_add(&running, 1);
        if (pthread_create(&g.e[i].th, ta_ok ? &ta : NULL, card_thread, &g.e[i])) {
            atomic_fetch_sub(&running, 1);
            rc = RSP_ERR_NOMEM;
            break;
        }
        started = i + 1;
    }
    if (ta_ok)
        pthread_attr_destroy(&ta);
    pthread_t eth;
    int empty_started = !rc && g.empty_fd >= 0 && pthread_create(&eth, NULL, empty_thread, NULL) == 0;
    while (!rc && !stop && atomic_load(&running) > 0)
        usleep(100000);
    stop = 1;
    for (int i = 0; i < started; i++) {
        pthread_join(g.e[i].th, NULL);
        if (g.e[i].rc) {
            fprintf(stderr, "euiccd: card %s: %s\n", euiccd_card_eid(g.e[i].card),
                    rsp_strerror(g.e[i].rc));
            rc = rc ? rc : g.e[i].rc;
        }
    }
    if (empty_started)
        pthread_join(eth, NULL);
    if (g.empty_fd >= 0)
        close(g.empty_fd);
    for (int i = 0; i < g.n; i++) {
        if (g.e[i].fd >= 0)
            close(g.e[i].fd);
        euiccd_card_free(g.e[i].card);
        free(g.e[i].path);
    }
    free(g.e);
    return rc == 2 ? 2 : rc ? 1 : 0;
}
