/*
 * torture.h - allocation failure injection for the tests (curl's "torture"
 * mode). tests/torture.c wraps malloc, calloc and realloc through the
 * linker (-Wl,--wrap=..., see tests/module.mk): every allocation made by the
 * test objects, librsp and the asn1c runtime is counted while armed, and the
 * k-th one returns NULL. Allocations inside shared libraries (libcrypto,
 * libcunit) are not affected. Off unless a test arms it.
 */
#ifndef RSP_TORTURE_H
#define RSP_TORTURE_H

/* Start counting allocations from zero; k > 0 makes the k-th one fail
 * (only that one), k == 0 only counts. */
void torture_arm(unsigned long k);

/* Stop counting; returns the number of allocations seen since arming. */
unsigned long torture_disarm(void);

/* 1 if the armed failure was injected since torture_arm(). */
int torture_fired(void);

#endif
