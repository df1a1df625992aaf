/* bench_switch: libgreen's switch and life cycle against its peers, side by side in one run.
 *
 * Rows (every figure is per one-way switch, or per greenlet for the create rows):
 *   - the floor: a register-only switch written here (6 callee-saved GPRs, swap rsp, pop and
 *     an indirect jmp), and the same plus the FP control words stored and compared the way
 *     libgreen does it (loaded only when they differ);
 *   - libgreen, private stack: main <-> one greenlet;
 *   - libgreen, shared stack: main <-> one shared greenlet (nothing is copied), then two
 *     shared greenlets switching directly to each other, each holding a live local buffer of
 *     128 B, 1 KiB or 4 KiB at the switch point (plus one with no buffer: frames only);
 *   - create+run+finish: green_new, the first switch, run() returning, green_destroy;
 *   - peers: glibc swapcontext, boost.context jump_fcontext (when built with it), Python
 *     greenlet (a /usr/bin/python3 subprocess, when python3-greenlet is installed).
 *
 * Method: every row runs in batches of about --ms milliseconds; a round runs one batch of
 * every row (starting at a different row each round), and --rounds rounds are run.  A row's
 * figure is the median of its batches, shown with the fastest and slowest batch.  Ratios are
 * the median over rounds of the per-round ratio, so a slow patch of the (shared, noisy)
 * machine hits both sides of a ratio alike.  Python greenlet runs in its own process after
 * the rounds (its own median of --rounds batches); its ratios use the overall medians.
 *
 * Usage: bench_switch [-r ROUNDS] [-m MS] [--quick] [--python PATH | --no-python] [-o TEXT]
 *        bench_switch --fp-costs   (the FP control instructions one at a time: fp_costs.h)
 */
#include <errno.h>
#include <green.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "arch/arch.h" /* the switch variants (x86-64) */
#include "benchutil.h"
#include "fp_costs.h"

#define PEER_STACK (64 * 1024)

/* Every timed loop (the switch's caller on both sides) starts on a 64-byte boundary and is
 * not inlined: a switch is short and issue-bound, so the bytes' place in the fetch blocks
 * moves a row by a cycle (5 %), and without this that place changed with every edit of
 * code placed before it.  libgreen aligns its own switch path the same way; so does
 * peer_fcontext.cpp. */
#define BENCH_LOOP __attribute__((noinline, aligned(64)))

static green_t *g_main;

/* ---- the floor: a register-only switch ----------------------------------------------- */

#if defined(__x86_64__) && defined(__linux__)
#define HAVE_FLOOR 1

/* void *bench_floor_switch(void **save_sp, void *load_sp, void *value)
 * Saves the six callee-saved GPRs on the current stack, stores rsp in *save_sp, loads
 * load_sp, pops the other context's registers and jumps to its resume address (an indirect
 * jmp, not ret: see src/arch/x86_64_sysv.S), returning value there.  No FP control state:
 * this is the floor, not a complete ABI-conforming switch. */
__attribute__((visibility("hidden"))) void *bench_floor_switch(void **save_sp, void *load_sp,
                                                               void *value);
/* The same plus what the SysV ABI also asks for: the MXCSR and x87 control words, stored
 * on every switch and loaded only when they differ (as libgreen does). */
__attribute__((visibility("hidden"))) void *bench_floor_fp_switch(void **save_sp,
                                                                  void *load_sp, void *value);
/* The same with MXCSR loaded unconditionally (as libgreen's "load" variant, for AMD). */
__attribute__((visibility("hidden"))) void *bench_floor_fpload_switch(void **save_sp,
                                                                      void *load_sp,
                                                                      void *value);
/* The floor plus the one instruction no FP-keeping switch can drop: stmxcsr, storing the
 * suspended context's MXCSR (its control bits are known no other way as cheaply; see
 * --fp-costs).  Nothing is loaded or compared, so this is NOT a conforming switch: it is
 * the lower bound of every conforming one written this way. */
__attribute__((visibility("hidden"))) void *bench_floor_st_switch(void **save_sp,
                                                                  void *load_sp, void *value);

__asm__(".pushsection .text\n"
        ".p2align 6\n"
        ".globl bench_floor_switch\n"
        ".hidden bench_floor_switch\n"
        ".type bench_floor_switch, @function\n"
        "bench_floor_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    movq %rdx, %rax\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    popq %rcx\n"
        "    jmpq *%rcx\n"
        ".size bench_floor_switch, .-bench_floor_switch\n"
        "\n"
        ".p2align 6\n"
        ".globl bench_floor_fp_switch\n"
        ".hidden bench_floor_fp_switch\n"
        ".type bench_floor_fp_switch, @function\n"
        "bench_floor_fp_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    subq $8, %rsp\n"
        "    stmxcsr (%rsp)\n"
        "    fnstcw 4(%rsp)\n"
        "    movq %rsp, (%rdi)\n"
        "    movl (%rsp), %r10d\n"
        "    movzwl 4(%rsp), %r8d\n"
        "    movq %rsi, %rsp\n"
        "    xorl (%rsp), %r10d\n"
        "    testl $0xffc0, %r10d\n"
        "    jnz 2f\n"
        "    cmpw 4(%rsp), %r8w\n"
        "    jne 2f\n"
        "1:  addq $8, %rsp\n"
        "    movq %rdx, %rax\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    popq %rcx\n"
        "    jmpq *%rcx\n"
        "2:  ldmxcsr (%rsp)\n"
        "    fldcw 4(%rsp)\n"
        "    jmp 1b\n"
        ".size bench_floor_fp_switch, .-bench_floor_fp_switch\n"
        "\n"
        ".p2align 6\n"
        ".globl bench_floor_fpload_switch\n"
        ".hidden bench_floor_fpload_switch\n"
        ".type bench_floor_fpload_switch, @function\n"
        "bench_floor_fpload_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    subq $8, %rsp\n"
        "    stmxcsr (%rsp)\n"
        "    fnstcw 4(%rsp)\n"
        "    movq %rsp, (%rdi)\n"
        "    movzwl 4(%rsp), %r8d\n"
        "    movq %rsi, %rsp\n"
        "    ldmxcsr (%rsp)\n"
        "    cmpw 4(%rsp), %r8w\n"
        "    jne 2f\n"
        "1:  addq $8, %rsp\n"
        "    movq %rdx, %rax\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    popq %rcx\n"
        "    jmpq *%rcx\n"
        "2:  fldcw 4(%rsp)\n"
        "    jmp 1b\n"
        ".size bench_floor_fpload_switch, .-bench_floor_fpload_switch\n"
        "\n"
        ".p2align 6\n"
        ".globl bench_floor_st_switch\n"
        ".hidden bench_floor_st_switch\n"
        ".type bench_floor_st_switch, @function\n"
        "bench_floor_st_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    subq $8, %rsp\n"
        "    stmxcsr (%rsp)\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    addq $8, %rsp\n"
        "    movq %rdx, %rax\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    popq %rcx\n"
        "    jmpq *%rcx\n"
        ".size bench_floor_st_switch, .-bench_floor_st_switch\n"
        ".popsection\n");

static void *floor_main_sp, *floor_co_sp;
static uintptr_t *floor_stack;

static BENCH_LOOP void floor_entry(void)
{
    void *v = NULL;
    for (;;)
        v = bench_floor_switch(&floor_co_sp, floor_main_sp, v);
}

static BENCH_LOOP void floor_fp_entry(void)
{
    void *v = NULL;
    for (;;)
        v = bench_floor_fp_switch(&floor_co_sp, floor_main_sp, v);
}

static BENCH_LOOP void floor_fpload_entry(void)
{
    void *v = NULL;
    for (;;)
        v = bench_floor_fpload_switch(&floor_co_sp, floor_main_sp, v);
}

static BENCH_LOOP void floor_st_entry(void)
{
    void *v = NULL;
    for (;;)
        v = bench_floor_st_switch(&floor_co_sp, floor_main_sp, v);
}

/* A fresh frame that the switch can resume: six zero registers, then the entry address and
 * a null return address, so entry starts as if called (rsp = 8 mod 16).  With fp, one more
 * slot below holds the current MXCSR and x87 control word. */
static void *floor_frame(void (*entry)(void), bool fp)
{
    if (!floor_stack && !(floor_stack = malloc(PEER_STACK)))
        die("malloc");
    uintptr_t *sp = (uintptr_t *)(((uintptr_t)floor_stack + PEER_STACK) & ~(uintptr_t)15);
    *--sp = 0;
    *--sp = (uintptr_t)entry;
    for (int i = 0; i < 6; i++)
        *--sp = 0;
    if (fp) {
        uint32_t mxcsr;
        uint16_t cw;
        __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
        __asm__ volatile("fnstcw %0" : "=m"(cw));
        *--sp = (uintptr_t)mxcsr | (uintptr_t)cw << 32;
    }
    return sp;
}

static BENCH_LOOP double run_floor(long iters)
{
    floor_co_sp = floor_frame(floor_entry, false);
    for (int i = 0; i < 16; i++)
        bench_floor_switch(&floor_main_sp, floor_co_sp, NULL);
    double t0 = now_ns();
    for (long i = 0; i < iters; i++)
        bench_floor_switch(&floor_main_sp, floor_co_sp, (void *)(intptr_t)i);
    return (now_ns() - t0) / (2.0 * (double)iters);
}

static inline __attribute__((always_inline)) double
run_floor_fp_with(void *(*sw)(void **, void *, void *), void (*entry)(void), long iters)
{
    floor_co_sp = floor_frame(entry, true);
    for (int i = 0; i < 16; i++)
        sw(&floor_main_sp, floor_co_sp, NULL);
    double t0 = now_ns();
    for (long i = 0; i < iters; i++)
        sw(&floor_main_sp, floor_co_sp, (void *)(intptr_t)i);
    return (now_ns() - t0) / (2.0 * (double)iters);
}

static BENCH_LOOP double run_floor_fp(long iters)
{
    return run_floor_fp_with(bench_floor_fp_switch, floor_fp_entry, iters);
}

static BENCH_LOOP double run_floor_fpload(long iters)
{
    return run_floor_fp_with(bench_floor_fpload_switch, floor_fpload_entry, iters);
}

static BENCH_LOOP double run_floor_st(long iters)
{
    return run_floor_fp_with(bench_floor_st_switch, floor_st_entry, iters);
}

static inline uintptr_t read_sp(void)
{
    uintptr_t sp;
    __asm__ volatile("movq %%rsp, %0" : "=r"(sp));
    return sp;
}
#else
#define HAVE_FLOOR 0
static inline uintptr_t read_sp(void) { return 0; }
#endif

/* ---- libgreen: main <-> one greenlet ------------------------------------------------- */

static const green_attr_t attr_private = {GREEN_STACK_PRIVATE, 0, NULL};
static const green_attr_t attr_shared = {GREEN_STACK_SHARED, 0, NULL};

static BENCH_LOOP void *pingpong_body(void *arg)
{
    void *v = arg;
    for (;;)
        if (green_switch(g_main, v, &v) != 0)
            return NULL; /* killed by green_destroy */
}

static BENCH_LOOP double run_pingpong(long iters, const green_attr_t *attr)
{
    green_t *g = green_new(pingpong_body, NULL, attr);
    if (!g)
        die("green_new");
    void *v;
    for (int i = 0; i < 16; i++) /* the first one starts it */
        if (green_switch(g, NULL, &v) != 0)
            die("green_switch");
    double t0 = now_ns();
    for (long i = 0; i < iters; i++)
        green_switch(g, (void *)(intptr_t)i, &v);
    double t = (now_ns() - t0) / (2.0 * (double)iters);
    if (v != (void *)(intptr_t)(iters - 1)) {
        fprintf(stderr, "bench_switch: ping-pong lost a value\n");
        exit(1);
    }
    if (green_destroy(g) != 0)
        die("green_destroy");
    return t;
}

static double run_private(long iters) { return run_pingpong(iters, &attr_private); }

#ifdef GREEN_ARCH_VARIANTS
/* The private switch with one variant forced (both keep the same frame, so switching
 * variants between batches is safe); the automatic choice is restored afterwards. */
static double run_private_variant(long iters, const char *variant)
{
    char chosen[16];
    snprintf(chosen, sizeof chosen, "%s", green_arch_variant());
    if (green_arch_select(variant) != 0)
        return -1;
    double t = run_pingpong(iters, &attr_private);
    green_arch_select(chosen);
    return t;
}
static double run_private_cmp(long iters) { return run_private_variant(iters, "cmp"); }
static double run_private_load(long iters) { return run_private_variant(iters, "load"); }
#endif
static double run_shared_main(long iters) { return run_pingpong(iters, &attr_shared); }

/* ---- libgreen: two shared greenlets with live stack slices --------------------------- */

/* Both greenlets are started by main on the thread's one shared region (main sets one:
 * with the default four, they would sit in two regions and copy nothing), so both start at
 * its top and every switch between them saves the outgoing one's whole slice to the heap
 * and restores the incoming one's.  Each keeps a live local buffer of 0, 128, 1024 or 4096 bytes in a
 * frame above the switch, and checks after every switch that it came back intact. */
struct slicer {
    green_t *partner;
    long iters;           /* switches to the partner per batch */
    size_t buf;           /* bytes of live local buffer; 0: none, frames only */
    unsigned char pattern;
    uintptr_t sp_entry;   /* stack pointer in the run function, i.e. just below green_boot */
    uintptr_t sp_call;    /* stack pointer at the green_switch() calls */
};

static void corrupted(void)
{
    fprintf(stderr, "bench_switch: a shared greenlet's stack came back corrupted\n");
    abort();
}

static __attribute__((noinline)) void *slice_loop(struct slicer *s, unsigned char *buf,
                                                  size_t n)
{
    if (n)
        memset(buf, s->pattern, n);
    void *v;
    s->sp_call = read_sp();
    if (green_switch(g_main, NULL, &v) != 0) /* ready */
        return NULL;
    for (;;) {
        long iters = s->iters;
        for (long i = 0; i < iters; i++) {
            if (green_switch(s->partner, NULL, &v) != 0)
                return NULL;
            if (n && (buf[0] != s->pattern || buf[n - 1] != s->pattern))
                corrupted();
        }
        if (green_switch(g_main, NULL, &v) != 0)
            return NULL;
    }
}

/* One function per buffer size, so the buffer is a plain fixed-size local. */
#define SLICE_WITH_BUFFER(N)                                                                \
    static __attribute__((noinline)) void *slice_with_##N(struct slicer *s)                 \
    {                                                                                       \
        unsigned char buf[N];                                                               \
        void *r = slice_loop(s, buf, sizeof buf);                                           \
        __asm__ volatile("" ::"r"(buf) : "memory");                                         \
        return r;                                                                           \
    }
SLICE_WITH_BUFFER(128)
SLICE_WITH_BUFFER(1024)
SLICE_WITH_BUFFER(4096)

static void *slice_body(void *arg)
{
    struct slicer *s = arg;
    s->sp_entry = read_sp();
    void *r;
    switch (s->buf) {
    case 128: r = slice_with_128(s); break;
    case 1024: r = slice_with_1024(s); break;
    case 4096: r = slice_with_4096(s); break;
    default: r = slice_loop(s, NULL, 0); break;
    }
    __asm__ volatile("" ::: "memory"); /* not a tail call: the same frames either way */
    return r;
}

/* Bytes of stack between the top of a shared greenlet started by main and its saved stack
 * pointer at the switch, i.e. what is copied out when it is suspended and back in when it
 * resumes.  The top of the region is page aligned and lies less than a page above the run
 * function's stack pointer; the switch frame below the call is frame_bytes (checked by
 * probe_layout(); if the check failed, 72 is assumed and the table says "approx.").  -1 where
 * not known (not x86-64). */
static long frame_bytes = -1;

static long slice_bytes(const struct slicer *s)
{
    if (!HAVE_FLOOR || !s->sp_entry)
        return -1;
    uintptr_t top = (s->sp_entry + 4095) & ~(uintptr_t)4095;
    return (long)(top - s->sp_call) + (frame_bytes < 0 ? 72 : frame_bytes); /* approx. */
}

static struct slice_row {
    size_t buf;            /* bytes of live local buffer; 0: none, frames only */
    long a_bytes, b_bytes; /* measured slices */
} slice_rows[4] = {{0, -1, -1}, {128, -1, -1}, {1024, -1, -1}, {4096, -1, -1}};

static double run_slices(long iters, struct slice_row *row)
{
    struct slicer a = {.iters = iters, .buf = row->buf, .pattern = 0xa5};
    struct slicer b = {.iters = iters, .buf = row->buf, .pattern = 0x5a};
    green_t *ga = green_new(slice_body, NULL, &attr_shared);
    green_t *gb = green_new(slice_body, NULL, &attr_shared);
    if (!ga || !gb)
        die("green_new");
    a.partner = gb;
    b.partner = ga;
    if (green_switch(ga, &a, NULL) != 0 || green_switch(gb, &b, NULL) != 0)
        die("green_switch");
    double t0 = now_ns();
    if (green_switch(ga, NULL, NULL) != 0) /* a and b switch 2*iters times, then a returns */
        die("green_switch");
    double t = (now_ns() - t0) / (2.0 * (double)iters);
    row->a_bytes = slice_bytes(&a);
    row->b_bytes = slice_bytes(&b);
    if (green_destroy(gb) != 0 || green_destroy(ga) != 0)
        die("green_destroy");
    return t;
}

static double run_slices_0(long iters) { return run_slices(iters, &slice_rows[0]); }
static double run_slices_128(long iters) { return run_slices(iters, &slice_rows[1]); }
static double run_slices_1k(long iters) { return run_slices(iters, &slice_rows[2]); }
static double run_slices_4k(long iters) { return run_slices(iters, &slice_rows[3]); }

/* Check the switch frame that slice_bytes() assumes, on both switch paths: the frame saved
 * by src/arch/x86_64_sysv.S is 72 bytes (return address, result pointer, 6 registers, FP
 * control) below the caller's stack pointer, with the result pointer 16 bytes below it.
 * A (started by main, at the region top) starts B, which lands just below A, so nothing is
 * copied; B switches back to A, A to B (the shared -> shared path, through the copier) and
 * B to main (the shared -> private path).  Both are then suspended with their frames in
 * place in the region, where main looks at them.  Returns the frame size, or -1. */
struct probe {
    uintptr_t sp_call;
    void **result_addr;
    green_t *a, *b;
};

static void *probe_b(void *arg)
{
    struct probe *p = arg;
    void *v;
    if (green_switch(p[0].a, NULL, &v) != 0)
        return NULL;
    p[1].result_addr = &v;
    p[1].sp_call = read_sp();
    green_switch(g_main, NULL, &v);
    return NULL;
}

static void *probe_a(void *arg)
{
    struct probe *p = arg;
    void *v;
    p[0].a = green_current();
    p[0].b = green_new(probe_b, NULL, &attr_shared);
    if (!p[0].b || green_switch(p[0].b, p, &v) != 0)
        return NULL;
    p[0].result_addr = &v;
    p[0].sp_call = read_sp();
    green_switch(p[0].b, NULL, &v);
    return NULL;
}

static long probe_layout(void)
{
    long bytes = -1;
#if HAVE_FLOOR
    struct probe p[2] = {{0, NULL, NULL, NULL}, {0, NULL, NULL, NULL}};
    green_t *ga = green_new(probe_a, NULL, &attr_shared);
    if (!ga || green_switch(ga, p, NULL) != 0 || !p[0].b)
        die("layout probe");
    if (p[0].sp_call && p[1].sp_call && p[1].sp_call < p[0].sp_call &&
        *(void ***)(p[0].sp_call - 16) == p[0].result_addr &&
        *(void ***)(p[1].sp_call - 16) == p[1].result_addr)
        bytes = 72;
    if (green_destroy(p[0].b) != 0 || green_destroy(ga) != 0)
        die("green_destroy");
#endif
    return bytes;
}

/* ---- libgreen: create + run + finish ------------------------------------------------- */

static void *noop_body(void *arg) { return arg; }

static double run_create(long iters, const green_attr_t *attr)
{
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        green_t *g = green_new(noop_body, NULL, attr);
        void *v;
        if (!g)
            die("green_new");
        if (green_switch(g, (void *)(intptr_t)i, &v) != 0 || v != (void *)(intptr_t)i)
            die("green_switch");
        if (green_destroy(g) != 0)
            die("green_destroy");
    }
    return (now_ns() - t0) / (double)iters;
}

static double run_create_private(long iters) { return run_create(iters, &attr_private); }
static double run_create_shared(long iters) { return run_create(iters, &attr_shared); }

/* ---- peers: ucontext, fcontext ------------------------------------------------------- */

static ucontext_t uc_main, uc_co;
static char *uc_stack;

static void uc_entry(void)
{
    for (;;)
        swapcontext(&uc_co, &uc_main);
}

static double run_ucontext(long iters)
{
    if (!uc_stack && !(uc_stack = malloc(PEER_STACK)))
        die("malloc");
    if (getcontext(&uc_co) != 0)
        die("getcontext");
    uc_co.uc_stack.ss_sp = uc_stack;
    uc_co.uc_stack.ss_size = PEER_STACK;
    uc_co.uc_link = NULL;
    makecontext(&uc_co, uc_entry, 0);
    for (int i = 0; i < 16; i++)
        swapcontext(&uc_main, &uc_co);
    double t0 = now_ns();
    for (long i = 0; i < iters; i++)
        swapcontext(&uc_main, &uc_co);
    return (now_ns() - t0) / (2.0 * (double)iters);
}

#ifdef BENCH_HAVE_FCONTEXT
double bench_peer_fcontext_ns(long round_trips, int flags_differ); /* peer_fcontext.cpp */
static double run_fcontext(long iters) { return bench_peer_fcontext_ns(iters, 0); }
static double run_fcontext_differ(long iters) { return bench_peer_fcontext_ns(iters, 1); }
#endif

/* ---- the rows ----------------------------------------------------------------------- */

enum row_id {
    R_FLOOR,
    R_FLOOR_FP,
    R_FLOOR_FPLOAD,
    R_FLOOR_ST,
    R_PRIVATE,
    R_PRIVATE_CMP,
    R_PRIVATE_LOAD,
    R_SHARED_MAIN,
    R_SHARED_0,
    R_SHARED_128,
    R_SHARED_1K,
    R_SHARED_4K,
    R_CREATE_PRIVATE,
    R_CREATE_SHARED,
    R_UCONTEXT,
    R_FCONTEXT,
    R_FCONTEXT_DIFFER,
    R_COUNT
};

struct row {
    const char *name;
    double (*run)(long iters); /* ns per op */
    int ops;                   /* ops per iteration: 2 switches per round trip, or 1 */
    struct slice_row *slices;  /* shared A <-> B rows */
    long iters;
    double *ns;                /* one sample per round */
    double median, lo, hi, x_floor, x_private;
    bool on;
};

static struct row rows[R_COUNT] = {
#if HAVE_FLOOR
    [R_FLOOR] = {"floor: register-only switch (asm in bench/switch.c)", run_floor, 2, NULL},
    [R_FLOOR_FP] = {"floor + FP control stored, compared (as variant cmp)", run_floor_fp, 2,
                    NULL},
    [R_FLOOR_FPLOAD] = {"floor + FP control stored, MXCSR loaded (as variant load)",
                        run_floor_fpload, 2, NULL},
    [R_FLOOR_ST] = {"floor + MXCSR stored only (a bound, not conforming)", run_floor_st, 2,
                    NULL},
#endif
    [R_PRIVATE] = {"libgreen switch, private stack (main <-> g)", run_private, 2, NULL},
#ifdef GREEN_ARCH_VARIANTS
    [R_PRIVATE_CMP] = {"libgreen switch, private stack, variant cmp forced", run_private_cmp, 2,
                       NULL},
    [R_PRIVATE_LOAD] = {"libgreen switch, private stack, variant load forced", run_private_load,
                        2, NULL},
#endif
    [R_SHARED_MAIN] = {"libgreen switch, shared, main <-> g (0 B live slice)", run_shared_main,
                       2, NULL},
    [R_SHARED_0] = {"libgreen switch, shared, g <-> g, no buffer (frames only)", run_slices_0, 2,
                    &slice_rows[0]},
    [R_SHARED_128] = {"libgreen switch, shared, g <-> g, 128 B live buffer", run_slices_128, 2,
                      &slice_rows[1]},
    [R_SHARED_1K] = {"libgreen switch, shared, g <-> g, 1 KiB live buffer", run_slices_1k, 2,
                     &slice_rows[2]},
    [R_SHARED_4K] = {"libgreen switch, shared, g <-> g, 4 KiB live buffer", run_slices_4k, 2,
                     &slice_rows[3]},
    [R_CREATE_PRIVATE] = {"libgreen create+run+finish, private stack", run_create_private, 1,
                          NULL},
    [R_CREATE_SHARED] = {"libgreen create+run+finish, shared stack", run_create_shared, 1,
                         NULL},
    [R_UCONTEXT] = {"glibc swapcontext", run_ucontext, 2, NULL},
#ifdef BENCH_HAVE_FCONTEXT
    [R_FCONTEXT] = {"boost.context jump_fcontext, same MXCSR both sides", run_fcontext, 2,
                    NULL},
    [R_FCONTEXT_DIFFER] = {"boost.context jump_fcontext, MXCSR status flags differ",
                           run_fcontext_differ, 2, NULL},
#endif
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_of(const double *v, int n)
{
    double *c = malloc(sizeof *c * (size_t)n);
    if (!c)
        die("malloc");
    memcpy(c, v, sizeof *c * (size_t)n);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    double m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    free(c);
    return m;
}

/* Iterations for a batch of about target_ns. */
static long calibrate(struct row *r, double target_ns)
{
    long it = 256;
    for (;;) {
        double per = r->run(it);
        if (per < 0)
            return -1; /* the row cannot run here */
        double total = per * (double)it * r->ops;
        if (total >= target_ns / 8 || it > (1L << 40)) {
            double want = target_ns / (per * r->ops);
            return want < 64 ? 64 : (long)want;
        }
        it *= 8;
    }
}

/* ---- peer: Python greenlet, in a subprocess ----------------------------------------- */

static const char py_script[] =
    "import sys, time\n"
    "try:\n"
    "    import greenlet\n"
    "except ImportError as e:\n"
    "    print('skip', e)\n"
    "    sys.exit(0)\n"
    "rounds, target = int(sys.argv[1]), float(sys.argv[2])\n"
    "main = greenlet.getcurrent()\n"
    "def ping():\n"
    "    m = main\n"
    "    while True:\n"
    "        m.switch()\n"
    "def switch_batch(n):\n"
    "    g = greenlet.greenlet(ping)\n"
    "    g.switch()\n"
    "    t = time.perf_counter()\n"
    "    for _ in range(n):\n"
    "        g.switch()\n"
    "    return (time.perf_counter() - t) / n / 2 * 1e9\n"
    "def noop():\n"
    "    pass\n"
    "def create_batch(n):\n"
    "    G = greenlet.greenlet\n"
    "    t = time.perf_counter()\n"
    "    for _ in range(n):\n"
    "        G(noop).switch()\n"
    "    return (time.perf_counter() - t) / n * 1e9\n"
    "def measure(batch, ops):\n"
    "    n = 1000\n"
    "    while batch(n) * n * ops < target * 1e9 / 8:\n"
    "        n *= 8\n"
    "    n = max(100, int(target * 1e9 / (batch(n) * ops)))\n"
    "    s = sorted(batch(n) for _ in range(rounds))\n"
    "    return s[len(s) // 2], s[0], s[-1]\n"
    "print('version', greenlet.__version__, sys.version.split()[0])\n"
    "print('switch %.3f %.3f %.3f' % measure(switch_batch, 2))\n"
    "print('create %.3f %.3f %.3f' % measure(create_batch, 1))\n";

struct py_result {
    bool ok;
    char version[64], pyversion[32], why[400];
    double sw[3], create[3]; /* median, min, max */
};

static void run_python(const char *python, int rounds, double target_s, struct py_result *res)
{
    memset(res, 0, sizeof *res);
    if (access(python, X_OK) != 0) {
        snprintf(res->why, sizeof res->why, "%s not found", python);
        return;
    }
    int fd[2];
    if (pipe(fd) != 0)
        die("pipe");
    char rs[16], ts[32];
    snprintf(rs, sizeof rs, "%d", rounds);
    snprintf(ts, sizeof ts, "%g", target_s);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        execl(python, python, "-c", py_script, rs, ts, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    if (!f)
        die("fdopen");
    char line[256];
    int got = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "version %63s %31s", res->version, res->pyversion) == 2)
            got |= 1;
        else if (sscanf(line, "switch %lf %lf %lf", &res->sw[0], &res->sw[1], &res->sw[2]) == 3)
            got |= 2;
        else if (sscanf(line, "create %lf %lf %lf", &res->create[0], &res->create[1],
                        &res->create[2]) == 3)
            got |= 4;
        else if (strncmp(line, "skip ", 5) == 0) {
            line[strcspn(line, "\n")] = 0;
            snprintf(res->why, sizeof res->why, "%s: %.100s", python, line + 5);
        }
    }
    fclose(f);
    int status;
    waitpid(pid, &status, 0);
    res->ok = got == 7;
    if (!res->ok && !res->why[0])
        snprintf(res->why, sizeof res->why, "%s failed (status %d)", python, status);
}

/* ---- output ------------------------------------------------------------------------- */

/* The value of a "key : value" line of /proc/cpuinfo (the first CPU's), or "?". */
static void cpuinfo_field(const char *key, char *out, size_t n)
{
    snprintf(out, n, "?");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && (line[klen] == ' ' || line[klen] == '\t')) {
            char *c = strchr(line, ':');
            if (c) {
                snprintf(out, n, "%s", c + (c[1] == ' ' ? 2 : 1));
                out[strcspn(out, "\n")] = 0;
            }
            break;
        }
    fclose(f);
}

static void machine_line(void)
{
    char model[128], vendor[32], family[16], modelno[16];
    cpuinfo_field("model name", model, sizeof model);
    cpuinfo_field("vendor_id", vendor, sizeof vendor);
    cpuinfo_field("cpu family", family, sizeof family);
    cpuinfo_field("model", modelno, sizeof modelno);
    struct utsname u;
    uname(&u);
    printf("machine: %s (%s, family %s model %s), %ld CPUs online, Linux %s; compiler: %s\n",
           model, vendor, family, modelno, sysconf(_SC_NPROCESSORS_ONLN), u.release,
           __VERSION__);
#ifdef GREEN_ARCH_VARIANTS
    printf("switch: variant %s of src/arch/x86_64_sysv.S (chosen at load time; the \"variant "
           "... forced\" rows run each one)\n", green_arch_variant());
#elif defined(GREEN_ARCH_PORTABLE)
    printf("switch: portable (ucontext)\n");
#else
    printf("switch: the one assembly switch of this architecture\n");
#endif
}

static void fmt_ratio(char *buf, size_t n, double x)
{
    if (x > 0)
        snprintf(buf, n, "%.2f", x);
    else
        snprintf(buf, n, "-");
}

static void print_row(const char *name, double med, double lo, double hi, double xf, double xp,
                      const char *note)
{
    char f[16], p[16];
    fmt_ratio(f, sizeof f, xf);
    fmt_ratio(p, sizeof p, xp);
    printf("| %-58s | %8.1f | %7.1f … %-7.1f | %7s | %7s | %s |\n", name, med, lo, hi, f, p,
           note);
}

static void target(bool met, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void target(bool met, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("- %-6s ", met ? "MET" : "MISSED");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_switch [-r ROUNDS] [-m MS] [--quick] [--python PATH | --no-python] "
               "[-o TEXT]\n"
               "  -r, --rounds N   rounds; every row runs one batch per round (default 15)\n"
               "  -m, --ms MS      milliseconds per batch (default 20)\n"
               "  --quick          -r 5 -m 5\n"
               "  --python PATH    interpreter with python3-greenlet (default $BENCH_PYTHON or "
               "/usr/bin/python3)\n"
               "  --no-python      skip the Python greenlet peer\n"
               "  -o, --only TEXT  run only the rows whose name contains TEXT (plus the floor "
               "and libgreen private), e.g. for perf record\n"
               "  --fp-costs       instead: what each FP control instruction costs (x86-64)\n");
}

struct options {
    int rounds;
    double ms;
    const char *only;   /* run only the rows whose name contains this */
    const char *python; /* NULL: no Python peer */
};

/* Returns -1 after printing usage on a bad command line, 1 for --help, else 0. */
static int parse_args(int argc, char **argv, struct options *o)
{
    o->rounds = 15;
    o->ms = 20;
    o->only = NULL;
    o->python = getenv("BENCH_PYTHON") ? getenv("BENCH_PYTHON") : "/usr/bin/python3";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-r") || !strcmp(a, "--rounds")) && i + 1 < argc)
            o->rounds = atoi(argv[++i]);
        else if ((!strcmp(a, "-m") || !strcmp(a, "--ms")) && i + 1 < argc)
            o->ms = atof(argv[++i]);
        else if (!strcmp(a, "--quick"))
            o->rounds = 5, o->ms = 5;
        else if (!strcmp(a, "--python") && i + 1 < argc)
            o->python = argv[++i];
        else if (!strcmp(a, "--no-python"))
            o->python = NULL;
        else if ((!strcmp(a, "-o") || !strcmp(a, "--only")) && i + 1 < argc)
            o->only = argv[++i];
        else if (!strcmp(a, "--fp-costs"))
            return fp_costs() == 0 ? 1 : -1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        } else {
            usage(stderr);
            return -1;
        }
    }
    if (o->rounds < 1 || o->ms <= 0) {
        usage(stderr);
        return -1;
    }
    return 0;
}

/* Picks the rows to run and calibrates each to a batch of about o->ms. */
static void setup_rows(const struct options *o)
{
    for (int i = 0; i < R_COUNT; i++) {
        struct row *r = &rows[i];
        /* The floor and libgreen private are the denominators: they always run. */
        r->on = r->run != NULL &&
                (!o->only || strstr(r->name, o->only) || i == R_FLOOR || i == R_PRIVATE);
        if (!r->on)
            continue;
        r->ns = calloc((size_t)o->rounds, sizeof *r->ns);
        if (!r->ns)
            die("calloc");
        r->iters = calibrate(r, o->ms * 1e6);
        r->on = r->iters > 0;
    }
}

/* Every round runs one batch of every row, starting at a different row; returns seconds. */
static double run_rounds(int rounds)
{
    double t_start = now_ns();
    for (int k = 0; k < rounds; k++)
        for (int j = 0; j < R_COUNT; j++) {
            struct row *r = &rows[(j + k) % R_COUNT];
            if (r->on)
                r->ns[k] = r->run(r->iters);
        }
    return (now_ns() - t_start) / 1e9;
}

/* Median of the per-round ratios a / b over rounds where both ran, or -1. */
static double ratio_of(const struct row *a, const struct row *b, int rounds)
{
    if (!a->on || !b->on)
        return -1;
    double *ratio = malloc(sizeof *ratio * (size_t)rounds);
    if (!ratio)
        die("malloc");
    for (int k = 0; k < rounds; k++)
        ratio[k] = a->ns[k] / b->ns[k];
    double m = median_of(ratio, rounds);
    free(ratio);
    return m;
}

static void summarize_rows(int rounds)
{
    for (int i = 0; i < R_COUNT; i++) {
        struct row *r = &rows[i];
        if (!r->on)
            continue;
        r->median = median_of(r->ns, rounds);
        r->lo = r->hi = r->ns[0];
        for (int k = 1; k < rounds; k++) {
            r->lo = r->ns[k] < r->lo ? r->ns[k] : r->lo;
            r->hi = r->ns[k] > r->hi ? r->ns[k] : r->hi;
        }
        r->x_floor = ratio_of(r, &rows[R_FLOOR], rounds);
        r->x_private = ratio_of(r, &rows[R_PRIVATE], rounds);
    }
}

static void print_table(const struct options *o, double c_seconds, const struct py_result *py)
{
    machine_line();
    printf("method: %d rounds, each runs one ~%g ms batch of every C row (%.1f s in all); "
           "ns/op is the median batch, with the fastest and slowest; ratios are medians of "
           "per-round ratios. Switch rows: ns per one-way switch (a round trip is two).\n\n",
           o->rounds, o->ms, c_seconds);
    printf("| %-58s | %8s | %-17s | %7s | %7s | %s |\n", "benchmark", "ns/op", "min … max",
           "x floor", "x priv", "stack copied per switch");
    printf("|%s|%s|%s|%s|%s|%s|\n", "------------------------------------------------------------",
           "---------:", "-------------------", "--------:", "--------:",
           "-------------------------");
    for (int i = 0; i < R_COUNT; i++) {
        struct row *r = &rows[i];
        char note[128] = "";
        if (!r->on)
            continue;
        if (i == R_SHARED_MAIN)
            snprintf(note, sizeof note, "0 B (g stays in the region)");
        else if (r->slices && r->slices->a_bytes >= 0)
            snprintf(note, sizeof note, "%ld B out + %ld B in (slice %ld B)%s",
                     r->slices->a_bytes, r->slices->b_bytes, r->slices->a_bytes,
                     frame_bytes < 0 ? " approx." : "");
        else if (r->slices)
            snprintf(note, sizeof note, "n/a on this CPU");
        print_row(r->name, r->median, r->lo, r->hi, r->x_floor, r->x_private, note);
    }
    double floor_med = rows[R_FLOOR].on ? rows[R_FLOOR].median : -1;
    double priv_med = rows[R_PRIVATE].median;
    if (py->ok) {
        char name[192];
        snprintf(name, sizeof name, "Python greenlet %s switch (py %s, incl. loop)", py->version,
                 py->pyversion);
        print_row(name, py->sw[0], py->sw[1], py->sw[2],
                  floor_med > 0 ? py->sw[0] / floor_med : -1, py->sw[0] / priv_med, "");
        snprintf(name, sizeof name, "Python greenlet %s create+run+finish", py->version);
        print_row(name, py->create[0], py->create[1], py->create[2],
                  floor_med > 0 ? py->create[0] / floor_med : -1, py->create[0] / priv_med, "");
    }
    printf("\n");
}

static void print_notes(const struct py_result *py)
{
    if (!rows[R_FLOOR].on)
        printf("(no floor row: the register-only switch is written for x86-64 only)\n");
#ifndef BENCH_HAVE_FCONTEXT
    printf("(no boost.context row: built without boost context or a C++ compiler)\n");
#endif
    if (!py->ok)
        printf("(no Python greenlet rows: %s)\n", py->why);
    if (frame_bytes < 0 && HAVE_FLOOR)
        printf("(the switch frame layout probe failed: stack bytes assume a 72-byte frame)\n");
    printf("g <-> g rows: two shared greenlets, both started by main at the top of the shared "
           "region (bench_switch gives its thread one region, greenlet's model), switch directly to each other; each holds a live local buffer of the size "
           "shown. Its slice = the bytes of its stack from the region top down to its saved "
           "stack pointer (green_boot's and the body's frames, the buffer, the 72-byte switch "
           "frame); every such switch copies the outgoing slice out to the heap and the "
           "incoming one back in.\n\n");
}

static void print_targets(const struct options *o)
{
    const struct row *priv = &rows[R_PRIVATE], *fc = &rows[R_FCONTEXT],
                     *fcd = &rows[R_FCONTEXT_DIFFER];
    printf("targets%s:\n", o->only ? " (rows not run are left out)" : "");
    if (fc->on)
        target(1 / fc->x_private <= 0.9,
               "private switch <= 0.9x fcontext's best case (same MXCSR both sides), FP "
               "control preserved: %.2f ns = %.2fx fcontext (%.2f ns)",
               priv->median, 1 / fc->x_private, fc->median);
    else
        printf("- n/a    private switch <= 0.9x fcontext's best case: no fcontext row\n");
    if (fcd->on)
        printf("- (info) fcontext when MXCSR status flags differ: %.2f ns = %.1fx libgreen "
               "private\n", fcd->median, fcd->x_private);
    if (rows[R_FLOOR_FP].on && rows[R_FLOOR_FPLOAD].on)
        printf("- (info) private switch = %.2fx the floor (%.2f ns); the floors that keep FP "
               "control: %.2f ns comparing (cmp), %.2f ns loading MXCSR (load)\n",
               priv->x_floor, rows[R_FLOOR].median, rows[R_FLOOR_FP].median,
               rows[R_FLOOR_FPLOAD].median);
    if (fc->on && rows[R_FLOOR_ST].on && rows[R_FLOOR_FPLOAD].on)
        printf("- (info) the floors against fcontext: with FP control kept as variant load "
               "%.2fx; with MXCSR stored only (stmxcsr, which every conforming switch runs; "
               "none is faster) %.2fx; 0.9x is %.2f ns\n",
               ratio_of(&rows[R_FLOOR_FPLOAD], fc, o->rounds),
               ratio_of(&rows[R_FLOOR_ST], fc, o->rounds), 0.9 * fc->median);
    if (rows[R_SHARED_128].on)
        target(rows[R_SHARED_128].median <= 25, "shared switch <= 25 ns at 128 B live: %.1f ns "
               "(slice %ld B)", rows[R_SHARED_128].median, slice_rows[1].a_bytes);
    if (rows[R_SHARED_4K].on)
        target(rows[R_SHARED_4K].median <= 100, "shared switch <= 100 ns at 4 KiB live: %.1f ns "
               "(slice %ld B)", rows[R_SHARED_4K].median, slice_rows[3].a_bytes);
    if (rows[R_SHARED_0].on)
        printf("- (info) the smallest possible slice (frames only, %ld B) switches in %.1f ns\n",
               slice_rows[0].a_bytes, rows[R_SHARED_0].median);
    if (rows[R_CREATE_PRIVATE].on)
        target(rows[R_CREATE_PRIVATE].median <= 100, "create+run+finish <= 100 ns, private "
               "stack: %.1f ns", rows[R_CREATE_PRIVATE].median);
    if (rows[R_CREATE_SHARED].on)
        target(rows[R_CREATE_SHARED].median <= 100, "create+run+finish <= 100 ns, shared "
               "stack: %.1f ns", rows[R_CREATE_SHARED].median);
    printf("(10M suspended shared greenlets <= 2.5 GB: see bench_memory)\n");
}

int main(int argc, char **argv)
{
    bench_name = "bench_switch";
    struct options o;
    int a = parse_args(argc, argv, &o);
    if (a != 0)
        return a < 0 ? 2 : 0;

    g_main = green_main();
    if (!g_main)
        die("green_main");
    if (green_set_shared_stacks(1) != 0) /* the slice rows measure the copying */
        die("green_set_shared_stacks");
    frame_bytes = probe_layout();
    setup_rows(&o);
    double c_seconds = run_rounds(o.rounds);

    struct py_result py;
    memset(&py, 0, sizeof py);
    if (o.python && (!o.only || strstr("Python greenlet", o.only)))
        run_python(o.python, o.rounds, o.ms / 1e3, &py);
    else
        snprintf(py.why, sizeof py.why, "%s", o.python ? "not selected by -o" : "--no-python");

    summarize_rows(o.rounds);
    print_table(&o, c_seconds, &py);
    print_notes(&py);
    print_targets(&o);
    return 0;
}
