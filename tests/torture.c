/*
 * torture.c - the allocation wrappers behind torture.h. The test binary is
 * linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc: calls from
 * the objects and static archives of the link come here, and __real_X is
 * the C library's (or the sanitizer's) X. Disarmed, they only forward.
 */
#include <stddef.h>

#include "torture.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static int armed;
static unsigned long fail_at;   /* 0: count only */
static unsigned long seen;
static int fired;

void torture_arm(unsigned long k)
{
    fail_at = k;
    seen = 0;
    fired = 0;
    armed = 1;
}

unsigned long torture_disarm(void)
{
    armed = 0;
    return seen;
}

int torture_fired(void)
{
    return fired;
}

/* 1 if this allocation is the one to fail. */
static int inject(void)
{
    if (!armed)
        return 0;
    seen++;
    if (fail_at != 0 && seen == fail_at) {
        fired = 1;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return inject() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return inject() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return inject() ? NULL : __real_realloc(p, n);
}
