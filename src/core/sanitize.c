/* SPDX-License-Identifier: MIT */
/* The out-of-line part of sanitize.h: whether valgrind runs us, asked once. */
#include "sanitize.h"

#ifdef GREEN_VALGRIND
bool green__on_valgrind;

void green__vg_make_writable(void *p, size_t n)
{
    (void)p; /* valgrind.h's macros expand to nothing on arches valgrind lacks (riscv64) */
    (void)n;
    VALGRIND_MAKE_MEM_UNDEFINED(p, n);
}

__attribute__((constructor)) static void detect_valgrind(void)
{
    green__on_valgrind = RUNNING_ON_VALGRIND != 0;
}
#else
typedef int green__no_valgrind; /* ISO C wants something in a translation unit */
#endif
