/* SPDX-License-Identifier: MIT */
/* The large slice copy for Intel CPUs with AVX-512, and the load-time choice of it
 * (slice_copy.h says what was measured where).
 *
 * Why 64-byte moves with aligned stores: the L1 takes one 64-byte store per cycle when it
 * lies in one cache line, and a store split across two lines costs about twice that; the
 * loads are allowed to split, as a slice and its heap buffer rarely share an offset within
 * a line.  Unrolled 4, as 2 was slower and 8 no faster.
 *
 * Which CPUs: Intel's with AVX-512F and VBMI2, i.e. Ice Lake and later.  VBMI2 is not used;
 * it excludes Skylake-SP and Cascade Lake, whose 512-bit instructions lower the clock of
 * the whole core (not measured here).  AMD keeps the AVX2 loop (measured on Zen 5, not
 * with this one).  Valgrind reports no AVX-512, so under it this copy is never chosen.
 */
#include "slice_copy.h"

#ifdef __x86_64__
bool green__slice_copy_wide;

typedef unsigned char green_v64 __attribute__((vector_size(64), aligned(1), may_alias));

__attribute__((target("avx512f"))) void green__slice_copy_avx512(unsigned char *d,
                                                                 const unsigned char *s,
                                                                 size_t i, size_t n)
{
    /* The first and last 64 bytes unaligned, overlapping what the aligned middle stores. */
    green_v64 head = *(const green_v64 *)(s + i), tail = *(const green_v64 *)(s + n - 64);
    *(green_v64 *)(d + i) = head;
    i += (64 - ((uintptr_t)(d + i) & 63)) & 63;
    for (; i + 4 * 64 <= n; i += 4 * 64) {
        green_v64 v0 = *(const green_v64 *)(s + i), v1 = *(const green_v64 *)(s + i + 64),
                  v2 = *(const green_v64 *)(s + i + 128), v3 = *(const green_v64 *)(s + i + 192);
        *(green_v64 *)(d + i) = v0;
        *(green_v64 *)(d + i + 64) = v1;
        *(green_v64 *)(d + i + 128) = v2;
        *(green_v64 *)(d + i + 192) = v3;
        __asm__("" : "+r"(d)); /* keeps it a loop, not a memcpy call */
    }
    for (; i + 64 <= n; i += 64)
        *(green_v64 *)(d + i) = *(const green_v64 *)(s + i);
    *(green_v64 *)(d + n - 64) = tail;
}

/* A slice copied before this ran (another constructor's greenlets) takes the AVX2 loop:
 * the choice changes only speed.  __builtin_cpu_init: libgcc's own may not have run yet. */
__attribute__((constructor)) static void pick_at_load(void)
{
    __builtin_cpu_init();
    green__slice_copy_wide = __builtin_cpu_is("intel") && __builtin_cpu_supports("avx512f") &&
                             __builtin_cpu_supports("avx512vbmi2");
}
#else
typedef int green__no_wide_copy; /* ISO C wants something in a translation unit */
#endif
