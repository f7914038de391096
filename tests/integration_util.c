/*
 * integration_util.c - process control for the integration suite (see
 * integration_util.h). posix_spawn with the log file as stdout and stderr;
 * every wait is bounded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "integration_util.h"
#include "rsp_test.h"

extern char **environ;

static struct it_proc *procs[IT_PROCS_MAX];

long long it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* environ + extra (extra entries first so they win for getenv). */
static char **env_build(const char *const *extra)
{
    size_t n = 0, m = 0, k = 0;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **e = calloc(n + m + 1, sizeof(*e));
    if (!e)
        return NULL;
    for (size_t i = 0; i < m; i++)
        e[k++] = (char *)extra[i];
    for (size_t i = 0; i < n; i++)
        e[k++] = environ[i];
    return e;
}

static pid_t spawn_to(const char *const *argv, const char *const *env, const char *out,
                      const char *err, int append)
{
    posix_spawn_file_actions_t fa;
    pid_t pid = 0;
    int flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC);
    char **envp = env_build(env);

    if (!envp)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, flags, 0600);
    if (err)
        posix_spawn_file_actions_addopen(&fa, 2, err, flags, 0600);
    else
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    if (rc) {
        fprintf(stderr, "\n  spawn %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    return pid;
}

int it_spawn(struct it_proc *p, const char *const *argv, const char *const *env,
             const char *log)
{
    const char *base = strrchr(argv[0], '/');
    memset(p, 0, sizeof(*p));
    p->status = -1;
    snprintf(p->name, sizeof(p->name), "%s", base ? base + 1 : argv[0]);
    snprintf(p->log, sizeof(p->log), "%s", log);
    pid_t pid = spawn_to(argv, env, log, NULL, 1);
    if (pid <= 0)
        return -1;
    p->pid = pid;
    for (int i = 0; i < IT_PROCS_MAX; i++)
        if (!procs[i]) {
            procs[i] = p;
            break;
        }
    return 0;
}

static void forget(struct it_proc *p)
{
    for (int i = 0; i < IT_PROCS_MAX; i++)
        if (procs[i] == p)
            procs[i] = NULL;
}

int it_exited(struct it_proc *p)
{
    int st;
    if (p->pid <= 0)
        return 1;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid || (r < 0 && errno == ECHILD)) {
        p->status = r == p->pid ? st : -1;
        p->pid = 0;
        forget(p);
        return 1;
    }
    return 0;
}

int it_wait_exit(struct it_proc *p, int timeout_ms)
{
    long long end = it_now_ms() + timeout_ms;
    while (!it_exited(p)) {
        if (it_now_ms() >= end)
            return 0;
        nap(10);
    }
    return 1;
}

void it_stop(struct it_proc *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    if (!it_wait_exit(p, 3000))
        it_kill9(p);
}

void it_kill9(struct it_proc *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL);
    it_wait_exit(p, 5000);
}

void it_kill_all(void)
{
    for (int i = 0; i < IT_PROCS_MAX; i++)
        if (procs[i])
            it_stop(procs[i]);
}

int it_run(const char *const *argv, const char *const *env, int timeout_ms, char **out,
           char **err)
{
    char o[600], e[600];
    int st = 0, ret = -1;
    static unsigned seq;

    snprintf(o, sizeof(o), "%s/it-run-%d-%u.out", test_build_dir(), (int)getpid(), seq);
    snprintf(e, sizeof(e), "%s/it-run-%d-%u.err", test_build_dir(), (int)getpid(), seq++);
    if (out)
        *out = NULL;
    if (err)
        *err = NULL;
    pid_t pid = spawn_to(argv, env, o, e, 0);
    if (pid > 0) {
        long long end = it_now_ms() + timeout_ms;
        pid_t r;
        while ((r = waitpid(pid, &st, WNOHANG)) == 0 && it_now_ms() < end)
            nap(5);
        if (r == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fprintf(stderr, "\n  %s: timed out after %d ms\n", argv[0], timeout_ms);
        } else if (r == pid) {
            ret = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
    }
    if (out)
        *out = it_read_text(o);
    if (err)
        *err = it_read_text(e);
    unlink(o);
    unlink(e);
    return ret;
}

char *it_read_text(const char *path)
{
    size_t n;
    uint8_t *p = test_read_file(path, &n);
    if (!p)
        return NULL;
    p[n] = '\0';   /* test_read_file allocates one spare byte */
    return (char *)p;
}

int it_wait_file(const char *path, const char *needle, int timeout_ms, struct it_proc *p)
{
    long long end = it_now_ms() + timeout_ms;
    for (;;) {
        char *t = it_read_text(path);
        int ok = t && (needle ? strstr(t, needle) != NULL
                              : (*t && t[strlen(t) - 1] == '\n'));
        free(t);
        if (ok)
            return 0;
        if (it_now_ms() >= end || (p && it_exited(p)))
            return -1;
        nap(10);
    }
}

long it_kv_long(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *s = text; s && *s;) {
        if (!strncmp(s, key, kl) && s[kl] == '=')
            return strtol(s + kl + 1, NULL, 10);
        s = strchr(s, '\n');
        if (s)
            s++;
    }
    return -1;
}

void it_rm_rf(const char *dir)
{
    DIR *d;
    struct dirent *de;
    char path[1024];
    struct stat sb;

    if (!dir || !strstr(dir, "/it-") || !(d = opendir(dir)))
        return;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            it_rm_rf(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}
