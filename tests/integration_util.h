/*
 * integration_util.h - process control for the integration suite: start
 * the real programs of $RSP_BUILD/bin (fork/exec, output to a log file),
 * wait for their port files with a bound, stop them (SIGTERM, then SIGKILL
 * after a bound), run a program to completion with a timeout, read files.
 *
 * Every started process is remembered in a process-wide table so that
 * it_kill_all() (suite cleanup) ends whatever is still running, even after
 * a failed assertion left a test half way.
 */
#ifndef INTEGRATION_UTIL_H
#define INTEGRATION_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#define IT_PROCS_MAX 32

struct it_proc {
    pid_t pid;          /* 0 when not running */
    char name[64];
    char log[512];      /* stdout + stderr of the process */
    int status;         /* wait status once reaped, -1 before */
};

/* Start argv[0] (a path) with extra environment entries env (NULL or
 * NULL-terminated "K=V" list, added to ours), stdout+stderr appended to
 * log. Returns 0 or -1. */
int it_spawn(struct it_proc *p, const char *const *argv, const char *const *env,
             const char *log);

/* Has the process exited? Reaps it (p->status). 1 exited, 0 running. */
int it_exited(struct it_proc *p);

/* Wait up to timeout_ms for the process to exit on its own: 1 exited. */
int it_wait_exit(struct it_proc *p, int timeout_ms);

/* SIGTERM, wait up to 3 s, then SIGKILL and reap. No-op if not running. */
void it_stop(struct it_proc *p);

/* SIGKILL and reap (a crash as seen by the peers). */
void it_kill9(struct it_proc *p);

/* Stop every process started with it_spawn that still runs. */
void it_kill_all(void);

/* Run argv to completion (at most timeout_ms, then SIGKILL) with extra env;
 * stdout is returned in *out (malloc'd, NUL-terminated, may be NULL), stderr
 * in *err (same). Returns the exit code (0..255), 128+signal, or -1 if it
 * could not be started or timed out. */
int it_run(const char *const *argv, const char *const *env, int timeout_ms, char **out,
           char **err);

/* Wait until file path exists and contains needle (NULL: any content
 * ending in '\n'); 0 found, -1 timeout. If p is given, stop early when the
 * process has exited. */
int it_wait_file(const char *path, const char *needle, int timeout_ms, struct it_proc *p);

/* Read a text file (at most 4 MiB), NUL-terminated; NULL on failure. */
char *it_read_text(const char *path);

/* "key=NUMBER" in text: the number, or -1. */
long it_kv_long(const char *text, const char *key);

/* Remove a directory tree (only below the build directory). */
void it_rm_rf(const char *dir);

/* Milliseconds of CLOCK_MONOTONIC. */
long long it_now_ms(void);

#endif
