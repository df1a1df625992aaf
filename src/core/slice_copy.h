/* SPDX-License-Identifier: MIT */
/* The copy that moves shared-stack slices between the region and the heap.
 *
 * Why not plain memcpy: a slice switch copies one slice out and one in (200 B to a few
 * KiB) and does little else, so the copy is most of its cost.
 *   - glibc 2.36 copies >= 2112 B with `rep movsb`, slow and erratic at these sizes on the
 *     machines we measure (a 4 KiB slice switch took 80-190 ns with it on Intel, depending
 *     on the address layout of the process; ~170 ns for the two copies alone on Emerald
 *     Rapids, below).  A plain 32-byte AVX2 loop copies 4296 B in ~35 ns on AMD Zen 5
 *     where memcpy takes ~50 (on Zen 5, 16-byte SSE2 moves: ~55, no better; 64-byte
 *     AVX-512: no better than AVX2).
 *   - When a slice is restored, its lowest bytes are the switch frame that
 *     green_arch_switch is about to pop: wide vector stores there cannot be forwarded to
 *     the pops, and each such stall costs more than copying the frame.  So the restore
 *     moves the frame as 8-byte words (the save does not gain from it: measured slower).
 * Below glibc's rep movsb threshold its own vector code is as fast as ours (and faster
 * than a call into an AVX2 function for a few hundred bytes), so we use memcpy there.
 * Above it: on Intel with AVX-512 (chosen once: slice_wide.c), 64-byte moves with the
 * destination aligned to 64 first; elsewhere 32-byte AVX2 moves where the CPU has them,
 * else 16-byte vectors.
 *   - Measured on Intel Emerald Rapids (family 6 model 207, ~3 GHz): the AVX2 loop copies
 *     a 4 KiB slice out and another in (2 x 4296 B) in 80-155 ns depending on the two
 *     buffers' offsets within cache lines (unaligned 32-byte stores split across lines;
 *     bench_switch's layout is one of the good ones, ~100 ns), rep movsb in ~170,
 *     unaligned 64-byte moves in 70-110; aligning the stores to 64 gives 57-68 whatever
 *     the offsets, and ~52 when the heap buffer has the slice's offset within a line too,
 *     so both sides are aligned (copy_buffers.c places large buffers so there), close
 *     to the floor of one 64-byte store a cycle (8592 B: 134 cycles, ~45 ns).  The Zen 5
 *     numbers above are for the AVX2 loop and malloc's placement, which AMD keeps.
 */
#ifndef GREEN_SLICE_COPY_H
#define GREEN_SLICE_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "slice_wide.h"

#define GREEN_SLICE_MEMCPY_MAX 2048 /* below glibc's rep movsb threshold (2112) */

typedef unsigned char green_v16 __attribute__((vector_size(16), aligned(1), may_alias));

/* The empty asm keeps them loops: GCC would otherwise turn them back into memcpy calls. */
#define GREEN_SLICE_LOOP(type, unroll, d, s, i, n)                                          \
    for (; i + sizeof(type) * unroll <= n; i += sizeof(type) * unroll) {                    \
        type v_[unroll];                                                                    \
        for (int k_ = 0; k_ < unroll; k_++)                                                 \
            v_[k_] = *(const type *)(s + i + sizeof(type) * (size_t)k_);                    \
        for (int k_ = 0; k_ < unroll; k_++)                                                 \
            *(type *)(d + i + sizeof(type) * (size_t)k_) = v_[k_];                          \
        __asm__("" : "+r"(d));                                                              \
    }                                                                                       \
    for (; i + sizeof(type) <= n; i += sizeof(type))                                        \
        *(type *)(d + i) = *(const type *)(s + i);                                          \
    for (; i < n; i++)                                                                      \
        d[i] = s[i]

#if defined(__x86_64__) && !defined(__AVX2__)
#define GREEN_SLICE_AVX2 1
typedef unsigned char green_v32 __attribute__((vector_size(32), aligned(1), may_alias));

/* Everything above the frame; the caller has copied [0, i). */
__attribute__((target("avx2"), noinline)) static void
green_slice_copy_avx2(unsigned char *d, const unsigned char *s, size_t i, size_t n)
{
    GREEN_SLICE_LOOP(green_v32, 4, d, s, i, n);
}
#endif

/* Out of line, so the small copies (most of them) keep the code they had with memcpy. */
__attribute__((noinline)) static void green_slice_copy_large(unsigned char *d,
                                                             const unsigned char *s, size_t i,
                                                             size_t n)
{
#ifdef __x86_64__
    if (__atomic_load_n(&green__slice_wide, __ATOMIC_RELAXED)) {
        green__slice_copy_avx512(d, s, i, n);
        return;
    }
#endif
#ifdef GREEN_SLICE_AVX2
    if (__builtin_cpu_supports("avx2")) {
        green_slice_copy_avx2(d, s, i, n);
        return;
    }
#endif
    GREEN_SLICE_LOOP(green_v16, 4, d, s, i, n);
}

/* Copy n bytes from src to dst (not overlapping), the first `wordwise` bytes (rounded
 * down to 8) as 8-byte words: the switch frame when restoring, 0 when saving.  With
 * words, both must be 8-byte aligned (a stack pointer and a heap buffer are). */
static inline void green_slice_copy(void *dst, const void *src, size_t n, size_t wordwise)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    size_t i = 0, words = (n < wordwise ? n : wordwise) / 8;
    /* volatile: keeps the compiler from merging these into the vector moves we avoid.
     * Unrolled for the usual case, a whole frame (wordwise is a constant): a loop of nine
     * words cost more instructions than the rest of the slice restore. */
    if (n >= wordwise) {
#pragma GCC unroll 32
        for (; i < wordwise / 8 * 8; i += 8)
            *(volatile uint64_t *)(void *)(d + i) =
                *(const volatile uint64_t *)(const void *)(s + i);
    }
    for (; i < words * 8; i += 8)
        *(volatile uint64_t *)(void *)(d + i) = *(const volatile uint64_t *)(const void *)(s + i);
    size_t rest = n - i;
    if (rest < GREEN_SLICE_MEMCPY_MAX) {
        /* Hide the bound: knowing rest < 2048, GCC inlines memcpy as `rep movsq`, which
         * costs ~4 ns more per slice here than glibc's vector code. */
        __asm__("" : "+r"(rest));
        memcpy(d + i, s + i, rest);
    } else {
        green_slice_copy_large(d, s, i, n);
    }
}

#endif /* GREEN_SLICE_COPY_H */
