/* SPDX-License-Identifier: MIT */
/* The wide slice copy for Intel CPUs with AVX-512, and the choice of it.
 *
 * Why 64-byte moves with aligned stores: the L1 takes one 64-byte store a cycle, and
 * stores split across two cache lines made the copy up to twice as slow (slice_copy.h has
 * the numbers); the loads may split where a slice and its buffer do not share an offset
 * within a line (copy_buffers.c makes them share it where it can).  Unrolled 4: 2 was
 * slower, 8 no faster; one loop for both slices of a switch, no faster either.
 *
 * Which CPUs: Intel's with AVX-512F and VBMI2, i.e. Ice Lake and later.  VBMI2 is not used;
 * it leaves out Skylake-SP and Cascade Lake, whose 512-bit instructions lower the clock of
 * the whole core (not measured here).  AMD keeps the AVX2 loop (measured on Zen 5, not
 * with this one).  Valgrind reports no AVX-512, so under it this copy is never chosen.
 */
#include "slice_wide.h"

#ifdef __x86_64__
#include <stdint.h>

bool green__slice_wide;
static int picked; /* 0: not yet, 1: narrow, 2: wide; any thread may be first */

bool green__slice_wide_pick(void)
{
    int p = __atomic_load_n(&picked, __ATOMIC_ACQUIRE);
    if (!p) {
        __builtin_cpu_init(); /* libgcc's constructor may not have run yet */
        bool wide = __builtin_cpu_is("intel") && __builtin_cpu_supports("avx512f") &&
                    __builtin_cpu_supports("avx512vbmi2");
        __atomic_store_n(&green__slice_wide, wide, __ATOMIC_RELAXED);
        p = wide ? 2 : 1;
        __atomic_store_n(&picked, p, __ATOMIC_RELEASE);
    }
    return p == 2;
}

/* Also picked by the first large buffer (copy_buffers.c), which any slice copied by the
 * wide routine needs: so the choice precedes every such copy, whichever constructor runs
 * first. */
__attribute__((constructor)) static void pick_at_load(void) { green__slice_wide_pick(); }

typedef unsigned char green_v64 __attribute__((vector_size(64), aligned(1), may_alias));

__attribute__((target("avx512f"))) void
green__slice_copy_avx512(unsigned char *d, const unsigned char *s, size_t i, size_t n)
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
#else
typedef int green__no_wide_copy; /* ISO C wants something in a translation unit */
#endif
