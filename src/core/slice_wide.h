/* SPDX-License-Identifier: MIT */
/* The wide slice copy for Intel CPUs with AVX-512 (slice_wide.c), and whether this
 * process uses it: picked once, at load time or at the first call that needs it, never
 * changed after.  slice_copy.h says what was measured where. */
#ifndef GREEN_SLICE_WIDE_H
#define GREEN_SLICE_WIDE_H

#include <stdbool.h>
#include <stddef.h>

#include "base.h"

#ifdef __x86_64__
/* Whether large slices get green__slice_copy_avx512: false until picked. */
GREEN_HIDDEN extern bool green__slice_wide;

/* Picks if not yet picked; returns green__slice_wide. */
GREEN_HIDDEN bool green__slice_wide_pick(void);

/* Copies [i, n) of s to d with 64-byte AVX-512 stores aligned to 64; needs n - i >= 64 and
 * a CPU with AVX-512F. */
GREEN_HIDDEN void green__slice_copy_avx512(unsigned char *d, const unsigned char *s, size_t i,
                                           size_t n);
#endif

/* Whether large slice buffers are placed at their slice's offset within a cache line
 * (copy_buffers.c), so that both sides of the wide copy are aligned.  Fixed once a buffer
 * can exist: the first allocation picks. */
static inline bool green__slice_heap_aligned(void)
{
#ifdef __x86_64__
    return green__slice_wide_pick();
#else
    return false;
#endif
}

#endif /* GREEN_SLICE_WIDE_H */
