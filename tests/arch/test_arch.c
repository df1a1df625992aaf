/* SPDX-License-Identifier: MIT */
/* Tests of the stack switch alone (src/arch/arch.h).  This program links only the one
 * src/arch/ file that the build selected, not the rest of libgreen.
 *
 * Conventions: cmocka's assertions are used only on the test's own (main) stack.  Code
 * that runs on a stack made by green_arch_init records failures with check.h's CHECK(),
 * and the main side reports them once it is back (a cmocka failure longjmps, which must
 * not happen from another stack).  Most tests get one stack from the fixture.  entry()
 * takes no argument, so entry functions find what they need in file-scope variables: the
 * status and value of the first switch into a fresh context are not delivered anywhere
 * (its saved result pointer is NULL, arch.h).
 */
#include <fenv.h>
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/arch.h"
#include "check.h"

#ifdef GREEN_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_MAKE_MEM_UNDEFINED(addr, len) ((void)(addr), (void)(len))
#endif

#ifdef GREEN_ASAN
#include <sanitizer/asan_interface.h>
#define NO_ASAN __attribute__((no_sanitize_address))
#else
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define NO_ASAN
#endif

#define NOINLINE __attribute__((noinline))

/* ---- helpers ---------------------------------------------------------------------- */

struct stack {
    unsigned char *map;         /* a guard page, then the usable stack */
    unsigned char *lo, *top;
    size_t map_size;
    unsigned vg_id;
};

static void stack_new(struct stack *s, size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size = (size + page - 1) / page * page;
    s->map_size = size + page;
    void *p = mmap(NULL, s->map_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    assert_true(p != MAP_FAILED);
    s->map = p;
    assert_int_equal(mprotect(s->map, page, PROT_NONE), 0);  /* overflows fault */
    s->lo = s->map + page;
    s->top = s->lo + size;
    /* ASan may still hold redzones of frames left on an earlier mapping here */
    ASAN_UNPOISON_MEMORY_REGION(s->lo, size);
    memset(s->lo, 0xa5, size);      /* green_arch_init must not rely on zeroed memory */
#ifdef GREEN_VALGRIND
    s->vg_id = VALGRIND_STACK_REGISTER(s->lo, s->top);
#else
    s->vg_id = 0;
#endif
}

static void stack_free(struct stack *s)
{
#ifdef GREEN_VALGRIND
    VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
    ASAN_UNPOISON_MEMORY_REGION(s->lo, (size_t)(s->top - s->lo));
    munmap(s->map, s->map_size);
}

/* The fixture: a test gets a fresh stack of the size given as its initial state, and a
 * clean failure record; anything recorded and not reported fails it. */
static int stack_setup(void **state)
{
    struct stack *s = calloc(1, sizeof *s);
    assert_non_null(s);
    stack_new(s, (size_t)(uintptr_t)*state);
    *state = s;
    return reset_failures(NULL);
}

static int stack_teardown(void **state)
{
    stack_free(*state);
    free(*state);
    return teardown_no_failures(state);
}

#define WITH_STACK(t, size)                                                               \
    cmocka_unit_test_prestate_setup_teardown(t, stack_setup, stack_teardown,              \
                                             (void *)(uintptr_t)(size))

static void *main_sp;   /* the test's own context while another one runs */
static void *co_sp;     /* the other context while the test runs */

/* Leaves the current (non-main) context for good, sending value to the test. */
static _Noreturn void finish(void *value)
{
    static void *dead_sp;
    green_arch_switch(&dead_sp, main_sp, 0, value, NULL);
    abort();            /* never resumed */
}

/* Offset of a 16-aligned local from a 16-byte boundary: 0 unless the stack is misaligned.
 * The empty asm hides the address from the optimiser, which would assume alignment. */
static NOINLINE unsigned local_misalignment(void)
{
    _Alignas(16) volatile unsigned char buf[16];
    uintptr_t p = (uintptr_t)buf;
    __asm__ volatile("" : "+r"(p));
    buf[0] = 1;
    return (unsigned)(p & 15);
}

/* ---- 1. ping-pong: status and value travel, value lands where the receiver asked --- */

#define PINGPONG_ROUNDS 1000000
#define SENTINEL ((void *)(uintptr_t)0x5e5e5e5e)

/* Answers status s and value v with status s + 1 and value 2 * v + 1. */
static void pingpong_entry(void)
{
    void *v = SENTINEL;
    int st = green_arch_switch(&co_sp, main_sp, -1, (void *)1, &v);
    for (;;)
        st = green_arch_switch(&co_sp, main_sp, st + 1, (void *)((uintptr_t)v * 2 + 1), &v);
}

static void test_pingpong(void **state)
{
    struct stack *s = *state;

    co_sp = green_arch_init(s->lo, s->top, pingpong_entry);
    void *got = NULL;
    /* a fresh context has no result pointer: 7 and 8 go nowhere */
    int st = green_arch_switch(&main_sp, co_sp, 7, (void *)8, &got);
    assert_int_equal(st, -1);
    assert_ptr_equal(got, (void *)1);
    for (uintptr_t i = 0; i < PINGPONG_ROUNDS; i++) {
        /* every 7th round we want no value back: nothing may be stored */
        void **result = i % 7 == 3 ? NULL : &got;
        got = SENTINEL;
        st = green_arch_switch(&main_sp, co_sp, (int)i, (void *)i, result);
        if (st != (int)i + 1 || got != (result ? (void *)(i * 2 + 1) : SENTINEL))
            fail_msg("round %lu: status %d, value %p", (unsigned long)i, st, got);
    }
    /* negative statuses and pointer-sized values survive whole */
    const uintptr_t big[] = { UINTPTR_MAX / 2, (uintptr_t)&got, UINTPTR_MAX >> 3 };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        st = green_arch_switch(&main_sp, co_sp, -1000 - (int)i, (void *)big[i], &got);
        assert_int_equal(st, -999 - (int)i);
        assert_ptr_equal(got, (void *)(big[i] * 2 + 1));
    }
    st = green_arch_switch(&main_sp, co_sp, INT32_MAX - 1, NULL, &got);
    assert_int_equal(st, INT32_MAX);
    assert_no_failures();
}

/* ---- 2. callee-saved registers, seen from C ------------------------------------------ */

static NOINLINE void opaque_call(void)
{
    __asm__ volatile("" ::: "memory");
}

static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* Keeps 12 integers and 8 doubles live across every switch; in an optimised build they
 * sit in callee-saved registers (or, where there are too few, in the frame).  With
 * do_switch == 0 it computes the reference value without switching. */
static NOINLINE uint64_t keep_live(uint64_t seed, void **self, void **other, int rounds,
                                   int do_switch)
{
    uint64_t a = seed, b = seed * 3 + 1, c = seed ^ 0x5555, d = seed + 77, e = ~seed,
             f = seed << 3, g = seed >> 2, h = seed * 0x9E3779B97F4A7C15u,
             i = seed + 0x1234567, j = seed ^ 0xdeadbeef, k = seed * 5, l = seed + 99;
    double x0 = (double)(seed & 0xffff) + 0.5, x1 = x0 * 1.25, x2 = x0 - 3.0, x3 = 7.0,
           x4 = x0 * 0.125, x5 = -x0, x6 = x0 + 11.0, x7 = 0.1;
    for (int r = 0; r < rounds; r++) {
        if (do_switch)
            green_arch_switch(self, *other, 0, NULL, NULL);
        else
            opaque_call();
        a += b; b ^= a >> 7; c += a * 3; d ^= c << 5; e += d; f ^= e >> 11;
        g += f; h ^= g << 13; i += h; j ^= i >> 3; k += j; l ^= k << 1;
        x0 = x0 * 0.5 + x7 * 0.25 + 1.0; x1 = x1 * 0.5 + x0 * 0.25;
        x2 = x2 * 0.5 + x1 * 0.25;       x3 = x3 * 0.5 + x2 * 0.25;
        x4 = x4 * 0.5 + x3 * 0.25;       x5 = x5 * 0.5 + x4 * 0.25;
        x6 = x6 * 0.5 + x5 * 0.25;       x7 = x7 * 0.5 + x6 * 0.25;
    }
    return a ^ (b << 1) ^ (c << 2) ^ (d << 3) ^ (e << 4) ^ (f << 5) ^ (g << 6) ^ (h << 7) ^
           (i << 8) ^ (j << 9) ^ (k << 10) ^ (l << 11) ^ bits_of(x0) ^ (bits_of(x1) >> 1) ^
           (bits_of(x2) >> 2) ^ (bits_of(x3) >> 3) ^ (bits_of(x4) >> 4) ^
           (bits_of(x5) >> 5) ^ (bits_of(x6) >> 6) ^ (bits_of(x7) >> 7);
}

#define LIVE_ROUNDS 10000
#define SEED_A 0x0123456789abcdefu
#define SEED_B 0xfedcba9876543210u
static uint64_t live_result;

static void live_entry(void)
{
    live_result = keep_live(SEED_B, &co_sp, &main_sp, LIVE_ROUNDS, 1);
    finish(NULL);
}

static void test_callee_saved_c(void **state)
{
    struct stack *s = *state;

    uint64_t want_a = keep_live(SEED_A, NULL, NULL, LIVE_ROUNDS, 0);
    uint64_t want_b = keep_live(SEED_B, NULL, NULL, LIVE_ROUNDS, 0);
    co_sp = green_arch_init(s->lo, s->top, live_entry);
    uint64_t got_a = keep_live(SEED_A, &main_sp, &co_sp, LIVE_ROUNDS, 1);
    green_arch_switch(&main_sp, co_sp, 0, NULL, NULL);   /* let the other side finish */
    assert_true(got_a == want_a);
    assert_true(live_result == want_b);
    assert_no_failures();
}

/* ---- 3. callee-saved registers, checked in assembly ---------------------------------- */

#if defined(__x86_64__) || defined(__aarch64__) || (defined(__riscv) && __riscv_xlen == 64)
#define HAVE_REG_PROBES 1

/* uint64_t regcheck(void **save_sp, void *load_sp, int status, void *value, void **result,
 *                   uint64_t seed):
 * loads seed+1, seed+2, ... into every callee-saved register (integer and FP), calls
 * green_arch_switch(save_sp, load_sp, status, value, result) and returns the OR of
 * (register ^ expected) over all of them once it is resumed: 0 when everything survived.
 *
 * void probe_entry(void): an entry() that reports the registers it starts with to
 * probe_report(or of callee-saved integer registers other than the frame pointer,
 * frame pointer, return address, or of callee-saved FP registers, stack pointer as the
 * caller had it before the call). */
uint64_t regcheck(void **save_sp, void *load_sp, int status, void *value, void **result,
                  uint64_t seed);
void probe_entry(void);
__attribute__((used, visibility("hidden"), noreturn))
void probe_report(uint64_t gp, uint64_t fp, uint64_t ra, uint64_t fpr, uint64_t sp);

#if defined(__x86_64__)
__asm__(
    "    .text\n"
    "    .globl  regcheck\n"
    "    .hidden regcheck\n"
    "    .type   regcheck, @function\n"
    "regcheck:\n"
    "    pushq %rbp; pushq %rbx; pushq %r12; pushq %r13; pushq %r14; pushq %r15\n"
    "    pushq %r9\n"                                       /* seed; rsp is 16-aligned */
    "    leaq 1(%r9), %rbx; leaq 2(%r9), %rbp; leaq 3(%r9), %r12\n"
    "    leaq 4(%r9), %r13; leaq 5(%r9), %r14; leaq 6(%r9), %r15\n"
    "    call green_arch_switch\n"
    "    movq (%rsp), %r9\n"
    "    xorl %eax, %eax\n"
    "    leaq 1(%r9), %rdx; xorq %rbx, %rdx; orq %rdx, %rax\n"
    "    leaq 2(%r9), %rdx; xorq %rbp, %rdx; orq %rdx, %rax\n"
    "    leaq 3(%r9), %rdx; xorq %r12, %rdx; orq %rdx, %rax\n"
    "    leaq 4(%r9), %rdx; xorq %r13, %rdx; orq %rdx, %rax\n"
    "    leaq 5(%r9), %rdx; xorq %r14, %rdx; orq %rdx, %rax\n"
    "    leaq 6(%r9), %rdx; xorq %r15, %rdx; orq %rdx, %rax\n"
    "    popq %r9\n"
    "    popq %r15; popq %r14; popq %r13; popq %r12; popq %rbx; popq %rbp\n"
    "    ret\n"
    "    .size   regcheck, .-regcheck\n"
    "\n"
    "    .globl  probe_entry\n"
    "    .hidden probe_entry\n"
    "    .type   probe_entry, @function\n"
    "probe_entry:\n"
    "    movq %rbx, %rdi; orq %r12, %rdi; orq %r13, %rdi; orq %r14, %rdi; orq %r15, %rdi\n"
    "    movq %rbp, %rsi\n"
    "    movq (%rsp), %rdx\n"
    "    xorl %ecx, %ecx\n"                                 /* no callee-saved xmm */
    "    leaq 8(%rsp), %r8\n"
    "    jmp probe_report\n"
    "    .size   probe_entry, .-probe_entry\n");
#elif defined(__aarch64__)
__asm__(
    "    .text\n"
    "    .globl  regcheck\n"
    "    .hidden regcheck\n"
    "    .type   regcheck, %function\n"
    "regcheck:\n"
    "    stp x29, x30, [sp, #-176]!\n"
    "    stp x19, x20, [sp, #16]; stp x21, x22, [sp, #32]; stp x23, x24, [sp, #48]\n"
    "    stp x25, x26, [sp, #64]; stp x27, x28, [sp, #80]\n"
    "    stp d8, d9, [sp, #96]; stp d10, d11, [sp, #112]\n"
    "    stp d12, d13, [sp, #128]; stp d14, d15, [sp, #144]\n"
    "    str x5, [sp, #160]\n"
    "    add x19, x5, #1; add x20, x5, #2; add x21, x5, #3; add x22, x5, #4\n"
    "    add x23, x5, #5; add x24, x5, #6; add x25, x5, #7; add x26, x5, #8\n"
    "    add x27, x5, #9; add x28, x5, #10; add x29, x5, #11\n"
    "    add x9, x5, #12; fmov d8, x9;  add x9, x5, #13; fmov d9, x9\n"
    "    add x9, x5, #14; fmov d10, x9; add x9, x5, #15; fmov d11, x9\n"
    "    add x9, x5, #16; fmov d12, x9; add x9, x5, #17; fmov d13, x9\n"
    "    add x9, x5, #18; fmov d14, x9; add x9, x5, #19; fmov d15, x9\n"
    "    bl green_arch_switch\n"
    "    ldr x5, [sp, #160]\n"
    "    mov x0, #0\n"
    "    add x9, x5, #1;  eor x9, x9, x19; orr x0, x0, x9\n"
    "    add x9, x5, #2;  eor x9, x9, x20; orr x0, x0, x9\n"
    "    add x9, x5, #3;  eor x9, x9, x21; orr x0, x0, x9\n"
    "    add x9, x5, #4;  eor x9, x9, x22; orr x0, x0, x9\n"
    "    add x9, x5, #5;  eor x9, x9, x23; orr x0, x0, x9\n"
    "    add x9, x5, #6;  eor x9, x9, x24; orr x0, x0, x9\n"
    "    add x9, x5, #7;  eor x9, x9, x25; orr x0, x0, x9\n"
    "    add x9, x5, #8;  eor x9, x9, x26; orr x0, x0, x9\n"
    "    add x9, x5, #9;  eor x9, x9, x27; orr x0, x0, x9\n"
    "    add x9, x5, #10; eor x9, x9, x28; orr x0, x0, x9\n"
    "    add x9, x5, #11; eor x9, x9, x29; orr x0, x0, x9\n"
    "    fmov x10, d8;  add x9, x5, #12; eor x9, x9, x10; orr x0, x0, x9\n"
    "    fmov x10, d9;  add x9, x5, #13; eor x9, x9, x10; orr x0, x0, x9\n"
    "    fmov x10, d10; add x9, x5, #14; eor x9, x9, x10; orr x0, x0, x9\n"
    "    fmov x10, d11; add x9, x5, #15; eor x9, x9, x10; orr x0, x0, x9\n"
    "    fmov x10, d12; add x9, x5, #16; eor x9, x9, x10; orr x0, x0, x9\n"
    "    fmov x10, d13; add x9, x5, #17; eor x9, x9, x10; orr x0, x0, x9\n"
    "    fmov x10, d14; add x9, x5, #18; eor x9, x9, x10; orr x0, x0, x9\n"
    "    fmov x10, d15; add x9, x5, #19; eor x9, x9, x10; orr x0, x0, x9\n"
    "    ldp x19, x20, [sp, #16]; ldp x21, x22, [sp, #32]; ldp x23, x24, [sp, #48]\n"
    "    ldp x25, x26, [sp, #64]; ldp x27, x28, [sp, #80]\n"
    "    ldp d8, d9, [sp, #96]; ldp d10, d11, [sp, #112]\n"
    "    ldp d12, d13, [sp, #128]; ldp d14, d15, [sp, #144]\n"
    "    ldp x29, x30, [sp], #176\n"
    "    ret\n"
    "    .size   regcheck, .-regcheck\n"
    "\n"
    "    .globl  probe_entry\n"
    "    .hidden probe_entry\n"
    "    .type   probe_entry, %function\n"
    "probe_entry:\n"
    "    orr x0, x19, x20; orr x0, x0, x21; orr x0, x0, x22; orr x0, x0, x23\n"
    "    orr x0, x0, x24; orr x0, x0, x25; orr x0, x0, x26; orr x0, x0, x27\n"
    "    orr x0, x0, x28\n"
    "    mov x1, x29\n"
    "    mov x2, x30\n"
    "    fmov x3, d8\n"
    "    fmov x9, d9;  orr x3, x3, x9; fmov x9, d10; orr x3, x3, x9\n"
    "    fmov x9, d11; orr x3, x3, x9; fmov x9, d12; orr x3, x3, x9\n"
    "    fmov x9, d13; orr x3, x3, x9; fmov x9, d14; orr x3, x3, x9\n"
    "    fmov x9, d15; orr x3, x3, x9\n"
    "    mov x4, sp\n"
    "    b probe_report\n"
    "    .size   probe_entry, .-probe_entry\n");
#else /* riscv64 */
__asm__(
    "    .text\n"
    "    .globl  regcheck\n"
    "    .hidden regcheck\n"
    "    .type   regcheck, @function\n"
    "regcheck:\n"
    "    addi sp, sp, -224\n"
    "    sd ra, 0(sp)\n"
    "    sd s0, 8(sp); sd s1, 16(sp); sd s2, 24(sp); sd s3, 32(sp); sd s4, 40(sp)\n"
    "    sd s5, 48(sp); sd s6, 56(sp); sd s7, 64(sp); sd s8, 72(sp); sd s9, 80(sp)\n"
    "    sd s10, 88(sp); sd s11, 96(sp)\n"
    "    fsd fs0, 104(sp); fsd fs1, 112(sp); fsd fs2, 120(sp); fsd fs3, 128(sp)\n"
    "    fsd fs4, 136(sp); fsd fs5, 144(sp); fsd fs6, 152(sp); fsd fs7, 160(sp)\n"
    "    fsd fs8, 168(sp); fsd fs9, 176(sp); fsd fs10, 184(sp); fsd fs11, 192(sp)\n"
    "    sd a5, 200(sp)\n"
    "    addi s0, a5, 1; addi s1, a5, 2; addi s2, a5, 3; addi s3, a5, 4\n"
    "    addi s4, a5, 5; addi s5, a5, 6; addi s6, a5, 7; addi s7, a5, 8\n"
    "    addi s8, a5, 9; addi s9, a5, 10; addi s10, a5, 11; addi s11, a5, 12\n"
    "    addi t0, a5, 13; fmv.d.x fs0, t0;  addi t0, a5, 14; fmv.d.x fs1, t0\n"
    "    addi t0, a5, 15; fmv.d.x fs2, t0;  addi t0, a5, 16; fmv.d.x fs3, t0\n"
    "    addi t0, a5, 17; fmv.d.x fs4, t0;  addi t0, a5, 18; fmv.d.x fs5, t0\n"
    "    addi t0, a5, 19; fmv.d.x fs6, t0;  addi t0, a5, 20; fmv.d.x fs7, t0\n"
    "    addi t0, a5, 21; fmv.d.x fs8, t0;  addi t0, a5, 22; fmv.d.x fs9, t0\n"
    "    addi t0, a5, 23; fmv.d.x fs10, t0; addi t0, a5, 24; fmv.d.x fs11, t0\n"
    "    call green_arch_switch\n"
    "    ld a5, 200(sp)\n"
    "    li a0, 0\n"
    "    addi t0, a5, 1;  xor t0, t0, s0;  or a0, a0, t0\n"
    "    addi t0, a5, 2;  xor t0, t0, s1;  or a0, a0, t0\n"
    "    addi t0, a5, 3;  xor t0, t0, s2;  or a0, a0, t0\n"
    "    addi t0, a5, 4;  xor t0, t0, s3;  or a0, a0, t0\n"
    "    addi t0, a5, 5;  xor t0, t0, s4;  or a0, a0, t0\n"
    "    addi t0, a5, 6;  xor t0, t0, s5;  or a0, a0, t0\n"
    "    addi t0, a5, 7;  xor t0, t0, s6;  or a0, a0, t0\n"
    "    addi t0, a5, 8;  xor t0, t0, s7;  or a0, a0, t0\n"
    "    addi t0, a5, 9;  xor t0, t0, s8;  or a0, a0, t0\n"
    "    addi t0, a5, 10; xor t0, t0, s9;  or a0, a0, t0\n"
    "    addi t0, a5, 11; xor t0, t0, s10; or a0, a0, t0\n"
    "    addi t0, a5, 12; xor t0, t0, s11; or a0, a0, t0\n"
    "    fmv.x.d t1, fs0;  addi t0, a5, 13; xor t0, t0, t1; or a0, a0, t0\n"
    "    fmv.x.d t1, fs1;  addi t0, a5, 14; xor t0, t0, t1; or a0, a0, t0\n"
    "    fmv.x.d t1, fs2;  addi t0, a5, 15; xor t0, t0, t1; or a0, a0, t0\n"
    "    fmv.x.d t1, fs3;  addi t0, a5, 16; xor t0, t0, t1; or a0, a0, t0\n"
    "    fmv.x.d t1, fs4;  addi t0, a5, 17; xor t0, t0, t1; or a0, a0, t0\n"
    "    fmv.x.d t1, fs5;  addi t0, a5, 18; xor t0, t0, t1; or a0, a0, t0\n"
    "    fmv.x.d t1, fs6;  addi t0, a5, 19; xor t0, t0, t1; or a0, a0, t0\n"
    "    fmv.x.d t1, fs7;  addi t0, a5, 20; xor t0, t0, t1; or a0, a0, t0\n"
    "    fmv.x.d t1, fs8;  addi t0, a5, 21; xor t0, t0, t1; or a0, a0, t0\n"
    "    fmv.x.d t1, fs9;  addi t0, a5, 22; xor t0, t0, t1; or a0, a0, t0\n"
    "    fmv.x.d t1, fs10; addi t0, a5, 23; xor t0, t0, t1; or a0, a0, t0\n"
    "    fmv.x.d t1, fs11; addi t0, a5, 24; xor t0, t0, t1; or a0, a0, t0\n"
    "    ld ra, 0(sp)\n"
    "    ld s0, 8(sp); ld s1, 16(sp); ld s2, 24(sp); ld s3, 32(sp); ld s4, 40(sp)\n"
    "    ld s5, 48(sp); ld s6, 56(sp); ld s7, 64(sp); ld s8, 72(sp); ld s9, 80(sp)\n"
    "    ld s10, 88(sp); ld s11, 96(sp)\n"
    "    fld fs0, 104(sp); fld fs1, 112(sp); fld fs2, 120(sp); fld fs3, 128(sp)\n"
    "    fld fs4, 136(sp); fld fs5, 144(sp); fld fs6, 152(sp); fld fs7, 160(sp)\n"
    "    fld fs8, 168(sp); fld fs9, 176(sp); fld fs10, 184(sp); fld fs11, 192(sp)\n"
    "    addi sp, sp, 224\n"
    "    ret\n"
    "    .size   regcheck, .-regcheck\n"
    "\n"
    "    .globl  probe_entry\n"
    "    .hidden probe_entry\n"
    "    .type   probe_entry, @function\n"
    "probe_entry:\n"
    "    or a0, s1, s2; or a0, a0, s3; or a0, a0, s4; or a0, a0, s5; or a0, a0, s6\n"
    "    or a0, a0, s7; or a0, a0, s8; or a0, a0, s9; or a0, a0, s10; or a0, a0, s11\n"
    "    mv a1, s0\n"
    "    mv a2, ra\n"
    "    fmv.x.d a3, fs0\n"
    "    fmv.x.d t0, fs1;  or a3, a3, t0; fmv.x.d t0, fs2;  or a3, a3, t0\n"
    "    fmv.x.d t0, fs3;  or a3, a3, t0; fmv.x.d t0, fs4;  or a3, a3, t0\n"
    "    fmv.x.d t0, fs5;  or a3, a3, t0; fmv.x.d t0, fs6;  or a3, a3, t0\n"
    "    fmv.x.d t0, fs7;  or a3, a3, t0; fmv.x.d t0, fs8;  or a3, a3, t0\n"
    "    fmv.x.d t0, fs9;  or a3, a3, t0; fmv.x.d t0, fs10; or a3, a3, t0\n"
    "    fmv.x.d t0, fs11; or a3, a3, t0\n"
    "    mv a4, sp\n"
    "    tail probe_report\n"
    "    .size   probe_entry, .-probe_entry\n");
#endif

#define REGCHECK_ROUNDS 20000

static void regcheck_entry(void)
{
    for (uint64_t i = 0;; i++) {
        uint64_t bad = regcheck(&co_sp, main_sp, 0, NULL, NULL,
                                0x2000000000000000u + (i << 8));
        CHECK(bad == 0);
    }
}

static void test_callee_saved_asm(void **state)
{
    struct stack *s = *state;

    co_sp = green_arch_init(s->lo, s->top, regcheck_entry);
    for (uint64_t i = 0; i < REGCHECK_ROUNDS; i++) {
        uint64_t bad = regcheck(&main_sp, co_sp, 0, NULL, NULL,
                                0x1000000000000000u + (i << 8));
        if (bad != 0)
            fail_msg("round %lu: callee-saved registers changed, bits %#lx",
                     (unsigned long)i, (unsigned long)bad);
    }
    assert_no_failures();
}

static struct { uint64_t gp, fp, ra, fpr, sp; } probe;

void probe_report(uint64_t gp, uint64_t fp, uint64_t ra, uint64_t fpr, uint64_t sp)
{
    probe.gp = gp;
    probe.fp = fp;
    probe.ra = ra;
    probe.fpr = fpr;
    probe.sp = sp;
    finish(NULL);
}

/* What entry() starts with: zeroed callee-saved registers, frame pointer 0, no return
 * address, and the stack pointer a call would have left (16-byte aligned before it). */
static void test_entry_registers(void **state)
{
    struct stack *s = *state;

    for (int i = 0; i < 16; i++) {
        memset(&probe, 0xee, sizeof probe);
        unsigned char *top = s->top - i;                /* also unaligned tops */
        co_sp = green_arch_init(s->lo, top, probe_entry);
        green_arch_switch(&main_sp, co_sp, 0, NULL, NULL);
        assert_int_equal(probe.sp & 15, 0);
        assert_true(probe.sp <= (uintptr_t)top && probe.sp > (uintptr_t)s->lo);
        assert_int_equal(probe.fp, 0);
#ifndef GREEN_ARCH_PORTABLE
        /* makecontext's start trampoline keeps some registers of its own, and is the
         * return address; the hand-written switches promise zeros. */
        assert_int_equal(probe.gp, 0);
        assert_int_equal(probe.fpr, 0);
        assert_int_equal(probe.ra, 0);
#endif
    }
    assert_no_failures();
}
#endif /* HAVE_REG_PROBES */

/* ---- 4. entry runs on an aligned stack ----------------------------------------------- */

typedef float v4sf __attribute__((vector_size(16)));

/* Aligned vector loads and stores of stack slots (movaps on x86-64): they fault when the
 * stack is misaligned. */
static NOINLINE float vector_work(float x)
{
    volatile v4sf a = { x, x + 1, x + 2, x + 3 };
    v4sf b = a;
    b = b * b + b;
    volatile v4sf c = b;
    v4sf d = c;
    return d[0] + d[1] + d[2] + d[3];
}

static char align_text[64];
static unsigned align_frame_misalignment;

static void align_entry(void)
{
#if defined(__x86_64__) || defined(__riscv)
    /* x86-64: rbp after "push rbp; mov rsp, rbp"; RISC-V: s0 = sp on entry */
    align_frame_misalignment = (unsigned)((uintptr_t)__builtin_frame_address(0) & 15);
#else
    align_frame_misalignment = 0;
#endif
    CHECK(local_misalignment() == 0);
    CHECK(vector_work(1.0f) == 40.0f);
    snprintf(align_text, sizeof align_text, "%.2f %Lg %g", 2.5, (long double)1.5, 0.125);
    finish((void *)align_text);
}

static void test_entry_alignment(void **state)
{
    struct stack *s = *state;

    for (int i = 0; i < 32; i++) {
        memset(align_text, 0, sizeof align_text);
        co_sp = green_arch_init(s->lo, s->top - i, align_entry);
        void *r = NULL;
        green_arch_switch(&main_sp, co_sp, 0, NULL, &r);
        assert_ptr_equal(r, align_text);
        assert_string_equal(align_text, "2.50 1.5 0.125");
        assert_int_equal(align_frame_misalignment, 0);
    }
    assert_no_failures();
}

/* ---- 5. floating-point control state belongs to the context -------------------------- */

/* The rounding the hardware actually does, from two sums that differ in each mode. */
static int hw_rounding(void)
{
    volatile double one = 1.0, tiny = 0.75 * DBL_EPSILON;
    volatile double up = one + tiny, down = -one - tiny;
    int rounds_up = up > 1.0, rounds_down = down < -1.0;
    if (rounds_up && rounds_down)
        return FE_TONEAREST;
    if (rounds_up)
        return FE_UPWARD;
    if (rounds_down)
        return FE_DOWNWARD;
    return FE_TOWARDZERO;
}

/* Valgrind keeps the rounding mode in MXCSR and the x87 control word but does its SSE
 * arithmetic in round-to-nearest whatever they say, so only the register is checked. */
static int hw_rounding_is(int mode)
{
    return RUNNING_ON_VALGRIND || hw_rounding() == mode;
}

static int rounding_is(int mode)
{
    return fegetround() == mode && hw_rounding_is(mode);
}

#if defined(__x86_64__)
#define HAVE_FLUSH_CONTROL 1
#define MXCSR_DAZ 0x0040u
#define MXCSR_FZ 0x8000u
static unsigned get_mxcsr(void)
{
    unsigned m;
    __asm__ volatile("stmxcsr %0" : "=m"(m));
    return m;
}
static void set_flush(int on)
{
    unsigned m = get_mxcsr() & ~(MXCSR_DAZ | MXCSR_FZ);
    if (on)
        m |= MXCSR_DAZ | MXCSR_FZ;
    __asm__ volatile("ldmxcsr %0" : : "m"(m));
}
static int flush_bits_set(void)
{
    return (get_mxcsr() & (MXCSR_DAZ | MXCSR_FZ)) == (MXCSR_DAZ | MXCSR_FZ);
}
#elif defined(__aarch64__)
#define HAVE_FLUSH_CONTROL 1
#define FPCR_FZ (1u << 24)
static uint64_t get_fpcr(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return v;
}
static void set_flush(int on)
{
    uint64_t v = get_fpcr() & ~(uint64_t)FPCR_FZ;
    if (on)
        v |= FPCR_FZ;
    __asm__ volatile("msr fpcr, %0" : : "r"(v));
}
static int flush_bits_set(void)
{
    return (get_fpcr() & FPCR_FZ) != 0;
}
#endif

#ifdef HAVE_FLUSH_CONTROL
/* Subnormal results are flushed to zero (x86-64 MXCSR.FZ, AArch64 FPCR.FZ). */
static int flushes_subnormals(void)
{
    volatile double m = DBL_MIN, half = 0.5;
    volatile double r = m * half;
    return r == 0.0;
}
#endif

/* Valgrind does not emulate flush-to-zero (it ignores FZ/DAZ with a warning). */
static int test_flush(void)
{
#ifdef HAVE_FLUSH_CONTROL
    return !RUNNING_ON_VALGRIND;
#else
    return 0;
#endif
}

static void fp_entry(void)
{
    CHECK(rounding_is(FE_TONEAREST));              /* inherited from the test at init */
    fesetround(FE_DOWNWARD);
    green_arch_switch(&co_sp, main_sp, 0, NULL, NULL);   /* 1 */

    CHECK(rounding_is(FE_DOWNWARD));               /* the test's FE_UPWARD did not leak */
#ifdef HAVE_FLUSH_CONTROL
    if (test_flush()) {
        set_flush(1);
        CHECK(flush_bits_set() && flushes_subnormals());
    }
#endif
    green_arch_switch(&co_sp, main_sp, 0, NULL, NULL);   /* 2 */

    CHECK(rounding_is(FE_DOWNWARD));
#ifdef HAVE_FLUSH_CONTROL
    if (test_flush())
        CHECK(flush_bits_set() && flushes_subnormals());
#endif
    fesetround(FE_TOWARDZERO);
    green_arch_switch(&co_sp, main_sp, 0, NULL, NULL);   /* 3 */

    CHECK(rounding_is(FE_TOWARDZERO));
#ifdef HAVE_FLUSH_CONTROL
    if (test_flush())
        CHECK(flush_bits_set());
#endif
    finish(NULL);
}

static void test_fp_control_per_context(void **state)
{
    struct stack *s = *state;

    assert_int_equal(fesetround(FE_TONEAREST), 0);
    co_sp = green_arch_init(s->lo, s->top, fp_entry);

    /* 1: the other side rounds down now */
    green_arch_switch(&main_sp, co_sp, 0, NULL, NULL);
    assert_true(rounding_is(FE_TONEAREST));
    assert_int_equal(fesetround(FE_UPWARD), 0);

    /* 2: ... and flushes subnormals */
    green_arch_switch(&main_sp, co_sp, 0, NULL, NULL);
    assert_true(rounding_is(FE_UPWARD));
#ifdef HAVE_FLUSH_CONTROL
    assert_false(flush_bits_set());
    assert_false(flushes_subnormals());
#endif

    /* 3: ... and rounds toward zero */
    green_arch_switch(&main_sp, co_sp, 0, NULL, NULL);
    assert_true(rounding_is(FE_UPWARD));
    assert_int_equal(fesetround(FE_TONEAREST), 0);

    /* the other side checks and finishes */
    green_arch_switch(&main_sp, co_sp, 0, NULL, NULL);
    assert_true(rounding_is(FE_TONEAREST));
    fesetenv(FE_DFL_ENV);
    assert_no_failures();
}

/* Contexts that differ in only one of the registers a switch compares: x86-64 compares
 * the MXCSR control bits and the x87 control word separately, and either alone must be
 * enough to reload.  (FE_* rounding changes set both, so they do not test this.) */
#if defined(__x86_64__)
static unsigned short get_x87_cw(void)
{
    unsigned short cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return cw;
}
static void set_x87_rounding(unsigned short rc)        /* FE_* values are the RC bits */
{
    unsigned short cw = (unsigned short)((get_x87_cw() & ~0x0c00u) | rc);
    __asm__ volatile("fldcw %0" : : "m"(cw));
}
#endif

static void partial_entry(void)
{
#ifdef HAVE_FLUSH_CONTROL
    if (test_flush())
        set_flush(1);                               /* the rounding mode stays the same */
    green_arch_switch(&co_sp, main_sp, 0, NULL, NULL);
    if (test_flush())
        CHECK(flush_bits_set() && flushes_subnormals());
    set_flush(0);
#endif
#if defined(__x86_64__)
    set_x87_rounding(FE_DOWNWARD);                  /* MXCSR stays the same */
    green_arch_switch(&co_sp, main_sp, 0, NULL, NULL);
    CHECK((get_x87_cw() & 0x0c00) == FE_DOWNWARD);
#endif
    finish(NULL);
}

static void test_fp_control_partial(void **state)
{
    struct stack *s = *state;

    fesetenv(FE_DFL_ENV);
    co_sp = green_arch_init(s->lo, s->top, partial_entry);
#ifdef HAVE_FLUSH_CONTROL
    green_arch_switch(&main_sp, co_sp, 0, NULL, NULL);  /* the other side flushes */
    assert_false(flush_bits_set());
    assert_false(flushes_subnormals());
#endif
#if defined(__x86_64__)
    green_arch_switch(&main_sp, co_sp, 0, NULL, NULL);  /* its x87 rounds down */
    assert_int_equal(get_x87_cw() & 0x0c00, FE_TONEAREST);
#endif
    green_arch_switch(&main_sp, co_sp, 0, NULL, NULL);
    fesetenv(FE_DFL_ENV);
    assert_no_failures();
}

static int inherited_mode, inherited_hw, inherited_flush;

static void inherit_entry(void)
{
    inherited_mode = fegetround();
    inherited_hw = hw_rounding();
#ifdef HAVE_FLUSH_CONTROL
    inherited_flush = flush_bits_set();
#endif
    finish(NULL);
}

/* A new context starts with the FP control state of whoever called green_arch_init. */
static void test_fp_control_inherited(void **state)
{
    struct stack *s = *state;

    const int modes[] = { FE_UPWARD, FE_TOWARDZERO, FE_DOWNWARD, FE_TONEAREST };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        int flush = test_flush() && (i & 1) == 0;
        assert_int_equal(fesetround(modes[i]), 0);
#ifdef HAVE_FLUSH_CONTROL
        if (flush)
            set_flush(1);
#endif
        co_sp = green_arch_init(s->lo, s->top, inherit_entry);
        fesetenv(FE_DFL_ENV);
#ifdef HAVE_FLUSH_CONTROL
        set_flush(0);
#endif
        inherited_mode = inherited_hw = -1;
        inherited_flush = 0;
        green_arch_switch(&main_sp, co_sp, 0, NULL, NULL);
        assert_int_equal(inherited_mode, modes[i]);
        if (!RUNNING_ON_VALGRIND)
            assert_int_equal(inherited_hw, modes[i]);
        assert_int_equal(inherited_flush, flush);
        assert_true(rounding_is(FE_TONEAREST));     /* and the starter's own is back */
    }
    fesetenv(FE_DFL_ENV);
    assert_no_failures();
}

/* ---- 6. many stacks, each entered once ---------------------------------------------- */

#define MANY 64
#define MANY_SIZE (64 * 1024)
#define CANARY 64
static struct stack many[MANY];
static unsigned char *many_top[MANY];
static int many_current;
static int many_entered[MANY];

static void many_entry(void)
{
    int idx = many_current;
    volatile unsigned char here = 0;
    uintptr_t h = (uintptr_t)&here;
    CHECK(h >= (uintptr_t)many[idx].lo && h < (uintptr_t)many_top[idx]);
    CHECK(local_misalignment() == 0);
    many_entered[idx]++;
    finish((void *)(uintptr_t)(idx + 1));
}

static void test_many_stacks(void **state)
{
    (void)state;
    void *sp[MANY];

    for (int i = 0; i < MANY; i++) {
        stack_new(&many[i], MANY_SIZE);
        many_top[i] = many[i].top - CANARY - (i % 16);
        memset(many_top[i], 0x5a, (size_t)(many[i].top - many_top[i]));
        sp[i] = green_arch_init(many[i].lo, many_top[i], many_entry);
        assert_true((unsigned char *)sp[i] < many_top[i]);
        assert_true((unsigned char *)sp[i] > many[i].lo);
        many_entered[i] = 0;
    }
    for (int i = MANY - 1; i >= 0; i--) {         /* the last built is entered first */
        many_current = i;
        void *r = NULL;
        green_arch_switch(&main_sp, sp[i], 0, NULL, &r);
        assert_int_equal((uintptr_t)r, (uintptr_t)(i + 1));
    }
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(many_entered[i], 1);
        for (unsigned char *p = many_top[i]; p < many[i].top; p++)
            if (*p != 0x5a)
                fail_msg("stack %d: byte %td above stack_top was written", i,
                         p - many_top[i]);
        stack_free(&many[i]);
    }
    assert_no_failures();
}

/* ---- 7. a suspended context needs nothing below *save_sp - GREEN_ARCH_SP_SLACK --------
 * This is what the shared-stack code relies on: it copies out only
 * [*save_sp - GREEN_ARCH_SP_SLACK, stack top) and lets others overwrite the rest. */

#define DIVE_ROUNDS 300
#define DIVE_STACK (256 * 1024)
static unsigned char dive_copy[DIVE_STACK];

static NOINLINE void dive(int depth, unsigned seed)
{
    volatile unsigned char pad[40];
    for (size_t k = 0; k < sizeof pad; k++)
        pad[k] = (unsigned char)(seed + (unsigned)depth * 31u + k);
    if (depth > 0)
        dive(depth - 1, seed);
    else
        green_arch_switch(&co_sp, main_sp, 0, (void *)(uintptr_t)seed, NULL);
    int bad = 0;
    for (size_t k = 0; k < sizeof pad; k++)
        bad |= pad[k] != (unsigned char)(seed + (unsigned)depth * 31u + k);
    CHECK(!bad);
}

static void dive_entry(void)
{
    for (unsigned r = 0; r < DIVE_ROUNDS; r++)
        dive((int)(r % 24), r * 2654435761u);
    finish((void *)(uintptr_t)0xd0d0);
}

/* Byte copies that ASan does not check: the suspended frames hold ASan redzones, which
 * we copy out and back unchanged, like the shared-stack code does. */
static NO_ASAN void raw_copy(unsigned char *dst, const unsigned char *src, size_t n)
{
    volatile unsigned char *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = src[i];
}

static NO_ASAN void raw_fill(unsigned char *dst, unsigned char byte, size_t n)
{
    volatile unsigned char *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = byte;
}

/* Keeps [sp - GREEN_ARCH_SP_SLACK, top) and overwrites everything below it.  (Memcheck
 * considers what a stack popped last as inaccessible; it is ours to overwrite here.) */
static void wipe_below(const struct stack *s, void *sp)
{
    unsigned char *keep = (unsigned char *)sp - GREEN_ARCH_SP_SLACK;
    assert_true(keep > s->lo && keep < s->top);
    VALGRIND_MAKE_MEM_UNDEFINED(s->lo, (size_t)((unsigned char *)sp - s->lo));
    size_t n = (size_t)(s->top - keep);
    raw_copy(dive_copy, keep, n);
    raw_fill(s->lo, 0xa5, (size_t)(s->top - s->lo));
    raw_copy(keep, dive_copy, n);
}

static void test_stack_below_sp_is_free(void **state)
{
    struct stack *s = *state;

    co_sp = green_arch_init(s->lo, s->top, dive_entry);
    for (unsigned r = 0; r < DIVE_ROUNDS; r++) {
        wipe_below(s, co_sp);
        void *got = NULL;
        green_arch_switch(&main_sp, co_sp, 0, NULL, &got);
        assert_int_equal((uintptr_t)got, (uintptr_t)(r * 2654435761u));
    }
    wipe_below(s, co_sp);
    void *got = NULL;
    green_arch_switch(&main_sp, co_sp, 0, NULL, &got);
    assert_int_equal((uintptr_t)got, 0xd0d0);
    assert_no_failures();
}

#ifdef GREEN_ARCH_VARIANTS
/* ---- 8. the variants share one frame: what one saves, the other resumes ---------------- */

static void mix_entry(void)
{
    void *v = NULL;
    int st = green_arch_switch(&co_sp, main_sp, 0, NULL, &v);
    for (unsigned r = 0;; r++) {
        CHECK(st == (int)r && v == (void *)(uintptr_t)r);
        CHECK(rounding_is(r & 1 ? FE_UPWARD : FE_DOWNWARD));
        fesetround(r & 1 ? FE_DOWNWARD : FE_UPWARD); /* the next round expects the other */
        green_arch_select(r % 3 ? "load" : "cmp");
        st = green_arch_switch(&co_sp, main_sp, st, v, &v);
    }
}

static void test_variants_mix(void **state)
{
    (void)state;
    reset_failures(NULL);
    struct stack s;
    stack_new(&s, 64 * 1024);
    assert_int_equal(fesetround(FE_DOWNWARD), 0);
    co_sp = green_arch_init(s.lo, s.top, mix_entry);
    assert_int_equal(fesetround(FE_TONEAREST), 0);
    green_arch_switch(&main_sp, co_sp, 0, NULL, NULL);
    for (unsigned r = 0; r < 1000; r++) {
        green_arch_select(r % 2 ? "load" : "cmp");
        void *got = NULL;
        int st = green_arch_switch(&main_sp, co_sp, (int)r, (void *)(uintptr_t)r, &got);
        assert_int_equal(st, (int)r);
        assert_ptr_equal(got, (void *)(uintptr_t)r);
        assert_true(rounding_is(FE_TONEAREST));
    }
    green_arch_select(NULL);
    stack_free(&s);
    fesetenv(FE_DFL_ENV);
    assert_no_failures();
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        WITH_STACK(test_pingpong, 64 * 1024),
        WITH_STACK(test_callee_saved_c, 64 * 1024),
#ifdef HAVE_REG_PROBES
        WITH_STACK(test_callee_saved_asm, 64 * 1024),
        WITH_STACK(test_entry_registers, 64 * 1024),
#endif
        WITH_STACK(test_entry_alignment, 64 * 1024),
        WITH_STACK(test_fp_control_per_context, 64 * 1024),
        WITH_STACK(test_fp_control_partial, 64 * 1024),
        WITH_STACK(test_fp_control_inherited, 64 * 1024),
        CHECKED_TEST(test_many_stacks),
        WITH_STACK(test_stack_below_sp_is_free, DIVE_STACK),
    };
#ifdef GREEN_ARCH_VARIANTS
    /* Every variant, whichever this CPU would choose; then the automatic choice again. */
    static const char *const variants[] = {"cmp", "load"};
    int failed = 0;
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        if (green_arch_select(variants[i]) != 0 || strcmp(green_arch_variant(), variants[i])) {
            fprintf(stderr, "cannot select switch variant %s\n", variants[i]);
            return 1;
        }
        char name[32];
        snprintf(name, sizeof name, "arch/%s", variants[i]);
        failed += _cmocka_run_group_tests(name, tests, sizeof tests / sizeof tests[0], NULL,
                                          NULL);
    }
    const struct CMUnitTest mix[] = {cmocka_unit_test(test_variants_mix)};
    failed += cmocka_run_group_tests_name("arch/mixed", mix, NULL, NULL);
    if (green_arch_select("no-such-variant") != -1 || green_arch_select(NULL) != 0)
        return 1;
    printf("automatic choice on this CPU: %s\n", green_arch_variant());
    return failed;
#else
    return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
