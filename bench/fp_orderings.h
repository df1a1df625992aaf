/* SPDX-License-Identifier: MIT */
/* bench_switch --fp-costs, second table: where in a switch the FP control instructions go,
 * measured against boost.context's jump_fcontext in the same kind of loop.
 *
 * Why: stmxcsr stops the instructions after it from issuing for ~13 cycles on AMD Zen 5
 * (fp_costs.h shows it: nops behind it are not free, an older long dependency chain hides
 * it completely), so a switch - a short run of instructions with no long chain - pays most
 * of it, and where it sits may matter.  To see what any conforming switch could reach, each
 * row here is a bare switch with fcontext's own contract (the context pointer returned in
 * a register, no value pointer, no greenlet record, no checks): jump_fcontext's frame and
 * calling convention, with the FP control instructions placed or chosen differently.
 * libgreen's switch does strictly more than these (its contract: the saved stack pointer in
 * the greenlet's record, the value stored through the result pointer, a status), so the
 * best conforming row bounds it from below.
 *
 * Method: one context on a heap stack and main switch back and forth (a round trip is two
 * switches), 20,000 round trips a batch; every row runs one batch per round, 41 rounds; a
 * row's figure is its median, in core cycles per one-way switch (each batch converted with
 * the core clock measured just before it from a chain of dependent adds).
 */
#ifndef BENCH_FP_ORDERINGS_H
#define BENCH_FP_ORDERINGS_H

#if defined(__x86_64__) && defined(__linux__) && defined(BENCH_HAVE_FCONTEXT)
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "benchutil.h" /* and fpc_time(), fpc_add(): fp_costs.h includes this after them */

/* boost.context's own entry points (C linkage in its assembly, declared in C++ headers). */
typedef struct {
    void *fctx;
    void *data;
} fpo_transfer;
fpo_transfer jump_fcontext(void *to, void *data);
void *make_fcontext(void *sp, size_t size, void (*fn)(fpo_transfer));

/* The clones: fpo_transfer f(void *to, void *data).  Frame as jump_fcontext's, from the
 * saved stack pointer up: [0] MXCSR | x87 CW, [8] r12 [16] r13 [24] r14 [32] r15 [40] rbx
 * [48] rbp, [56] resume address. */
#define FPO_DECL(n) __attribute__((visibility("hidden"))) fpo_transfer n(void *, void *);
FPO_DECL(fpo_copy)
FPO_DECL(fpo_cmpcw)
FPO_DECL(fpo_push)
FPO_DECL(fpo_late)
FPO_DECL(fpo_last)
FPO_DECL(fpo_st_only)
FPO_DECL(fpo_none)
__attribute__((visibility("hidden"))) void fpo_trampoline(void);

#define FPO_SAVE                                                                                   \
    "    movq %r12, 0x8(%rsp)\n    movq %r13, 0x10(%rsp)\n    movq %r14, 0x18(%rsp)\n"             \
    "    movq %r15, 0x20(%rsp)\n    movq %rbx, 0x28(%rsp)\n    movq %rbp, 0x30(%rsp)\n"
#define FPO_LOAD                                                                                   \
    "    movq 0x8(%rsp), %r12\n    movq 0x10(%rsp), %r13\n    movq 0x18(%rsp), %r14\n"             \
    "    movq 0x20(%rsp), %r15\n    movq 0x28(%rsp), %rbx\n    movq 0x30(%rsp), %rbp\n"
#define FPO_FN(n) ".p2align 6\n.globl " #n "\n.hidden " #n "\n.type " #n ", @function\n" #n ":\n"
#define FPO_END(n) ".size " #n ", .-" #n "\n"

/* One instruction a line, as the assembler reads it. */
/* clang-format off */
__asm__(".pushsection .text\n"
        /* jump_fcontext's own sequence (boost 1.74, x86_64_sysv_elf_gas.S), for the check
         * that a copy in this loop runs as fast as the original */
        FPO_FN(fpo_copy)
        "    leaq -0x38(%rsp), %rsp\n"
        "    stmxcsr (%rsp)\n"
        "    fnstcw 0x4(%rsp)\n" FPO_SAVE
        "    movq %rsp, %rax\n"
        "    movq %rdi, %rsp\n"
        "    movq 0x38(%rsp), %r8\n"
        "    ldmxcsr (%rsp)\n"
        "    fldcw 0x4(%rsp)\n" FPO_LOAD
        "    leaq 0x40(%rsp), %rsp\n"
        "    movq %rsi, %rdx\n"
        "    movq %rax, %rdi\n"
        "    jmpq *%r8\n" FPO_END(fpo_copy)
        /* the same, fldcw only when the x87 control word differs */
        FPO_FN(fpo_cmpcw)
        "    leaq -0x38(%rsp), %rsp\n"
        "    stmxcsr (%rsp)\n"
        "    fnstcw 0x4(%rsp)\n" FPO_SAVE
        "    movzwl 0x4(%rsp), %r9d\n"
        "    movq %rsp, %rax\n"
        "    movq %rdi, %rsp\n"
        "    movq 0x38(%rsp), %r8\n"
        "    ldmxcsr (%rsp)\n"
        "    cmpw 0x4(%rsp), %r9w\n"
        "    jne 2f\n"
        "1:\n" FPO_LOAD
        "    leaq 0x40(%rsp), %rsp\n"
        "    movq %rsi, %rdx\n"
        "    movq %rax, %rdi\n"
        "    jmpq *%r8\n"
        "2:  fldcw 0x4(%rsp)\n"
        "    jmp 1b\n" FPO_END(fpo_cmpcw)
        /* pushes and pops instead of moves */
        FPO_FN(fpo_push)
        "    pushq %rbp\n    pushq %rbx\n    pushq %r15\n    pushq %r14\n"
        "    pushq %r13\n    pushq %r12\n    pushq $0\n"
        "    stmxcsr (%rsp)\n"
        "    fnstcw 0x4(%rsp)\n"
        "    movzwl 0x4(%rsp), %r9d\n"
        "    movq %rsp, %rax\n"
        "    movq %rdi, %rsp\n"
        "    ldmxcsr (%rsp)\n"
        "    cmpw 0x4(%rsp), %r9w\n"
        "    jne 2f\n"
        "1:  addq $8, %rsp\n"
        "    popq %r12\n    popq %r13\n    popq %r14\n    popq %r15\n"
        "    popq %rbx\n    popq %rbp\n"
        "    movq %rsi, %rdx\n"
        "    movq %rax, %rdi\n"
        "    popq %r8\n"
        "    jmpq *%r8\n"
        "2:  fldcw 0x4(%rsp)\n"
        "    jmp 1b\n" FPO_END(fpo_push)
        /* stmxcsr after the stack switch and the load of the resume address, into the old
         * frame; then ldmxcsr */
        FPO_FN(fpo_late)
        "    leaq -0x38(%rsp), %rsp\n"
        "    fnstcw 0x4(%rsp)\n" FPO_SAVE
        "    movzwl 0x4(%rsp), %r9d\n"
        "    movq %rsp, %rax\n"
        "    movq %rdi, %rsp\n"
        "    movq 0x38(%rsp), %r8\n"
        "    stmxcsr (%rax)\n"
        "    ldmxcsr (%rsp)\n"
        "    cmpw 0x4(%rsp), %r9w\n"
        "    jne 2f\n"
        "1:\n" FPO_LOAD
        "    leaq 0x40(%rsp), %rsp\n"
        "    movq %rsi, %rdx\n"
        "    movq %rax, %rdi\n"
        "    jmpq *%r8\n"
        "2:  fldcw 0x4(%rsp)\n"
        "    jmp 1b\n" FPO_END(fpo_late)
        /* stmxcsr and ldmxcsr just before the jump */
        FPO_FN(fpo_last)
        "    leaq -0x38(%rsp), %rsp\n"
        "    fnstcw 0x4(%rsp)\n" FPO_SAVE
        "    movzwl 0x4(%rsp), %r9d\n"
        "    movq %rsp, %rax\n"
        "    movq %rdi, %rsp\n"
        "    movq 0x38(%rsp), %r8\n"
        "    cmpw 0x4(%rsp), %r9w\n"
        "    jne 2f\n"
        "1:\n" FPO_LOAD
        "    movq %rsi, %rdx\n"
        "    stmxcsr (%rax)\n"
        "    ldmxcsr (%rsp)\n"
        "    leaq 0x40(%rsp), %rsp\n"
        "    movq %rax, %rdi\n"
        "    jmpq *%r8\n"
        "2:  fldcw 0x4(%rsp)\n"
        "    jmp 1b\n" FPO_END(fpo_last)
        /* NOT conforming: the MXCSR stored, nothing loaded, no x87 control word */
        FPO_FN(fpo_st_only)
        "    leaq -0x38(%rsp), %rsp\n"
        "    stmxcsr (%rsp)\n" FPO_SAVE
        "    movq %rsp, %rax\n"
        "    movq %rdi, %rsp\n"
        "    movq 0x38(%rsp), %r8\n" FPO_LOAD
        "    leaq 0x40(%rsp), %rsp\n"
        "    movq %rsi, %rdx\n"
        "    movq %rax, %rdi\n"
        "    jmpq *%r8\n" FPO_END(fpo_st_only)
        /* NOT conforming: no FP control state at all */
        FPO_FN(fpo_none)
        "    leaq -0x38(%rsp), %rsp\n" FPO_SAVE
        "    movq %rsp, %rax\n"
        "    movq %rdi, %rsp\n"
        "    movq 0x38(%rsp), %r8\n" FPO_LOAD
        "    leaq 0x40(%rsp), %rsp\n"
        "    movq %rsi, %rdx\n"
        "    movq %rax, %rdi\n"
        "    jmpq *%r8\n" FPO_END(fpo_none)
        /* A new context's first resume lands here with rdi = the context that switched,
         * rdx = its data, as jump_fcontext's own start does; entered at 0 mod 16, the call
         * makes fpo_bounce's stack pointer 8 mod 16. */
        FPO_FN(fpo_trampoline)
        "    movq %rdx, %rsi\n"
        "    call fpo_bounce\n"
        "    ud2\n" FPO_END(fpo_trampoline)
        ".popsection\n");
/* clang-format on */

typedef fpo_transfer fpo_fn(void *, void *);
static fpo_fn *fpo_current; /* what fpo_bounce switches with */

/* The other context: switches straight back, forever (jump_fcontext's peer does the same). */
__attribute__((visibility("hidden"), used)) void fpo_bounce(void *from, void *data);
void fpo_bounce(void *from, void *data)
{
    for (;;) {
        fpo_transfer t = fpo_current(from, data);
        from = t.fctx;
        data = t.data;
    }
}

static void fpo_boost_bounce(fpo_transfer t)
{
    for (;;)
        t = jump_fcontext(t.fctx, t.data);
}

static _Alignas(64) unsigned char fpo_stack[64 * 1024];

/* A fresh frame for the clones: the current FP control words, zero registers, the
 * trampoline as resume address; 64 bytes below the (16-aligned) top. */
static void *fpo_frame(void)
{
    uintptr_t *sp = (uintptr_t *)(fpo_stack + sizeof fpo_stack - 64);
    uint32_t mxcsr;
    uint16_t cw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    for (int i = 0; i < 8; i++)
        sp[i] = 0;
    sp[0] = (uintptr_t)mxcsr | (uintptr_t)cw << 32;
    sp[7] = (uintptr_t)fpo_trampoline;
    return sp;
}

static void fpo_lost(const char *what)
{
    fprintf(stderr, "bench_switch: the %s ping-pong lost a value\n", what);
    exit(1);
}

/* ns per one-way switch over n round trips; the same loop for every clone (direct calls). */
#define FPO_RUN(f)                                                                                 \
    static double fpo_run_##f(long n)                                                              \
    {                                                                                              \
        fpo_current = f;                                                                           \
        fpo_transfer t = f(fpo_frame(), NULL);                                                     \
        double t0 = now_ns();                                                                      \
        for (long i = 0; i < n; i++)                                                               \
            t = f(t.fctx, (void *)(intptr_t)i);                                                    \
        double ns = (now_ns() - t0) / (2.0 * (double)n);                                           \
        if (t.data != (void *)(intptr_t)(n - 1))                                                   \
            fpo_lost(#f);                                                                          \
        return ns;                                                                                 \
    }
FPO_RUN(fpo_copy)
FPO_RUN(fpo_cmpcw)
FPO_RUN(fpo_push)
FPO_RUN(fpo_late)
FPO_RUN(fpo_last)
FPO_RUN(fpo_st_only)
FPO_RUN(fpo_none)

static double fpo_run_boost(long n)
{
    static unsigned char stack[64 * 1024];
    fpo_transfer t =
        jump_fcontext(make_fcontext(stack + sizeof stack, sizeof stack, fpo_boost_bounce), NULL);
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        t = jump_fcontext(t.fctx, (void *)(intptr_t)i);
    double ns = (now_ns() - t0) / (2.0 * (double)n);
    if (t.data != (void *)(intptr_t)(n - 1))
        fpo_lost("jump_fcontext");
    return ns;
}

static int fpo_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void fp_orderings(unsigned char *p)
{
    static const struct {
        const char *name;
        double (*run)(long);
    } rows[] = {
        {"boost.context jump_fcontext itself", fpo_run_boost},
        {"its sequence, copied", fpo_run_fpo_copy},
        {"fldcw only if the x87 CW differs", fpo_run_fpo_cmpcw},
        {"the same with pushes and pops", fpo_run_fpo_push},
        {"stmxcsr after the stack switch (late)", fpo_run_fpo_late},
        {"stmxcsr + ldmxcsr just before the jump", fpo_run_fpo_last},
        {"NOT conforming: stmxcsr only", fpo_run_fpo_st_only},
        {"NOT conforming: no FP control", fpo_run_fpo_none},
    };
    enum { N = sizeof rows / sizeof rows[0], ROUNDS = 41 };
    static double cyc[N][ROUNDS];
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < (int)N; i++) {
            double ghz = 1.0 / fpc_time(fpc_add, p);
            cyc[i][r] = rows[i].run(20000) * ghz;
        }
    printf("\nFP control in a switch with jump_fcontext's contract (median of %d rounds of "
           "20,000 round trips; cycles per one-way switch)\n\n",
           ROUNDS);
    printf("| %-44s | %7s | %10s |\n", "switch", "cycles", "x fcontext");
    printf("|----------------------------------------------|--------:|-----------:|\n");
    double base = 0;
    for (int i = 0; i < (int)N; i++) {
        qsort(cyc[i], ROUNDS, sizeof cyc[i][0], fpo_cmp);
        double m = cyc[i][ROUNDS / 2];
        if (i == 0)
            base = m;
        printf("| %-44s | %7.1f | %10.2f |\n", rows[i].name, m, m / base);
    }
}
#else
static void fp_orderings(unsigned char *p)
{
    (void)p;
    printf("\n(no switch-ordering table: it needs x86-64 Linux and boost.context)\n");
}
#endif

#endif /* BENCH_FP_ORDERINGS_H */
