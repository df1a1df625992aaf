/* SPDX-License-Identifier: MIT */
/* The copy that moves shared-stack slices (src/core/slice_copy.h, slice_wide.c), against
 * memcmp: every length from 0 to past two pages, with the source and destination at
 * changing offsets within a cache line, and every pair of offsets for a few lengths.
 * Bytes around the destination must stay as they were (the wide copies store their
 * first and last vector unaligned, overlapping the middle).
 *
 * Each routine runs where the CPU has its instructions: the dispatch that the library
 * uses (whatever it chose at load time), the AVX-512 copy and the AVX2 loop directly.
 */
#include <stdint.h>
#include <string.h>

#include "core/slice_copy.h"
#include "testutil.h"

#define MAX_LEN 9000
#define PAD 192 /* bytes before and after the destination that must not change */
#define GUARD 0xe7
#define BUF (PAD + 64 + MAX_LEN + PAD)

/* A raw routine: copies [i, n) of s to d. */
typedef void raw_fn(unsigned char *d, const unsigned char *s, size_t i, size_t n);

static unsigned char src_buf[BUF] __attribute__((aligned(64)));
static unsigned char dst_buf[BUF] __attribute__((aligned(64)));

static void fill_source(void)
{
    uint64_t x = 0x9e3779b97f4a7c15u; /* no period a vector width could hide */
    for (size_t i = 0; i < BUF; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        src_buf[i] = (unsigned char)x;
    }
}

static bool untouched(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != GUARD)
            return false;
    return true;
}

/* Copies n bytes from offset so to offset dof (each 0..63 past a 64-byte boundary; 8-byte
 * multiples with words) with the dispatch (raw NULL, the first `wordwise` bytes as words)
 * or a raw routine (its first `from` bytes not copied), and checks the result. */
static void check_one(raw_fn *raw, size_t n, size_t so, size_t dof, size_t wordwise, size_t from)
{
    if (wordwise >= 8) { /* words need 8-byte alignment, as stacks and heap buffers have */
        so &= ~(size_t)7;
        dof &= ~(size_t)7;
    }
    const unsigned char *s = src_buf + PAD + so;
    unsigned char *d = dst_buf + PAD + dof;
    memset(dst_buf, GUARD, PAD + dof + n + PAD);
    if (raw)
        raw(d, s, from, n);
    else
        green_slice_copy(d, s, n, wordwise);
    if (!untouched(dst_buf, PAD + dof + from) || memcmp(d + from, s + from, n - from) != 0 ||
        !untouched(d + n, PAD))
        fail_msg("%s copy of %zu bytes from offset %zu to %zu (wordwise %zu, from %zu) is wrong",
                 raw ? "raw" : "dispatched", n, so, dof, wordwise, from);
}

/* Every length from min_len, at offsets that change with the length; then every pair of
 * offsets at lengths around the threshold, a 4 KiB slice and the largest. */
static void check_routine(raw_fn *raw, size_t min_len, size_t wordwise, size_t from)
{
    fill_source();
    for (size_t n = min_len; n <= MAX_LEN; n++) {
        check_one(raw, n, n % 64, (n * 7 + 3) % 64, wordwise, from);
        check_one(raw, n, (n * 5 + 40) % 64, n % 64, wordwise, from);
    }
    static const size_t lens[] = {GREEN_SLICE_MEMCPY_MAX - 1, GREEN_SLICE_MEMCPY_MAX,
                                  GREEN_SLICE_MEMCPY_MAX + 63, 4296, MAX_LEN};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++)
        for (size_t so = 0; so < 64; so++)
            for (size_t dof = 0; dof < 64; dof++)
                check_one(raw, lens[k], so, dof, wordwise, from);
}

static void test_dispatch_saving(void **state)
{
    (void)state;
    check_routine(NULL, 0, 0, 0);
}

/* With the switch frame (72 bytes on x86-64) as words; shorter slices too. */
static void test_dispatch_restoring(void **state)
{
    (void)state;
    check_routine(NULL, 0, 72, 0);
    check_routine(NULL, 0, 13, 0); /* rounded down to 8 */
}

#ifdef __x86_64__
static void test_avx512(void **state)
{
    (void)state;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f"))
        skip();
    check_routine(green__slice_copy_avx512, 64, 0, 0);
    check_routine(green__slice_copy_avx512, 136, 0, 72); /* after the frame's words */
}

/* The load-time choice: Intel with AVX-512F and VBMI2 only (so never under valgrind,
 * which reports no AVX-512), and the heap placement that goes with it. */
static void test_choice(void **state)
{
    (void)state;
    __builtin_cpu_init();
    bool want = __builtin_cpu_is("intel") && __builtin_cpu_supports("avx512f") &&
                __builtin_cpu_supports("avx512vbmi2");
    print_message("slice copy above %d bytes: %s\n", GREEN_SLICE_MEMCPY_MAX,
                  green__slice_wide ? "AVX-512" : "AVX2 or SSE2");
    assert_int_equal(green__slice_wide, want);
    assert_int_equal(green__slice_wide_pick(), want); /* picked at load time, once */
    assert_int_equal(green__slice_heap_aligned(), want);
    if (RUNNING_ON_VALGRIND)
        assert_false(green__slice_wide);
}
#endif

#ifdef GREEN_SLICE_AVX2
static void test_avx2(void **state)
{
    (void)state;
    if (!__builtin_cpu_supports("avx2"))
        skip();
    check_routine(green_slice_copy_avx2, 0, 0, 0);
    check_routine(green_slice_copy_avx2, 72, 0, 72);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch_saving),
        cmocka_unit_test(test_dispatch_restoring),
#ifdef __x86_64__
        cmocka_unit_test(test_avx512),
        cmocka_unit_test(test_choice),
#endif
#ifdef GREEN_SLICE_AVX2
        cmocka_unit_test(test_avx2),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
