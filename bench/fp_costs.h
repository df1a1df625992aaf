/* SPDX-License-Identifier: MIT */
/* bench_switch --fp-costs: what each way of reading and writing the FP control state costs
 * on this CPU, measured one instruction (or one short sequence) at a time.
 *
 * Why it exists: on x86-64 the SysV ABI makes the MXCSR control bits and the x87 control
 * word callee-saved, so every conforming switch reads both of the suspended context's words
 * and gives the resumed one its own back.  Which instructions do that cheaply differs by
 * vendor and decides the switch's design (src/arch/x86_64_sysv.S, x86_64_select.c);
 * these loops are the evidence behind docs/benchmarks.md's account of it.
 *
 * Method: each row's body is repeated 100 times inside a loop; a trial times 50 loops (5,000
 * bodies) with the monotonic clock and the best of 41 trials counts, so a preemption or a
 * neighbour's burst does not.  "cycles" converts with the core clock measured the same way
 * from a chain of dependent adds (one cycle each), so it is an estimate where the clock
 * moves between rows; run pinned (taskset -c N).  Independent rows (throughput) repeat the
 * same store or load; chain rows make each body depend on the previous one.  x86-64 only.
 * The second table (fp_orderings.h) times whole switches with the FP control instructions
 * placed in different ways.
 */
#ifndef BENCH_FP_COSTS_H
#define BENCH_FP_COSTS_H

#if defined(__x86_64__)
#include <cpuid.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "benchutil.h"

#define FPC_R10(x) x x x x x x x x x x
#define FPC_R100(x) FPC_R10(FPC_R10(x))

/* The buffer every body works on (operand %0, 64-byte aligned):
 *   [0] the current MXCSR   [64] it with PE toggled   [128] it with RC = round down
 *   [256] the current x87 control word   [320] it with RC = round down
 *   [512...] stores that nothing reads   [1024...] xsave / fxsave area (2 KiB) */
#define FPC_BUF 4096

/* Runs `body` 100 times per loop iteration, n iterations; `setup` before the 100 bodies
 * and `teardown` after them. */
#define FPC_ROW3(fn, setup, body, teardown)                                                        \
    static void fn(long n, unsigned char *p)                                                       \
    {                                                                                              \
        for (long i = 0; i < n; i++)                                                               \
            __asm__ volatile(setup FPC_R100(body) teardown                                         \
                             :                                                                     \
                             : "r"(p)                                                              \
                             : "memory", "cc", "rax", "rcx", "rdx");                               \
    }
#define FPC_ROW(fn, setup, body) FPC_ROW3(fn, setup, body, "")

#define FPC_NOP8 "nop\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop\n\t"
#define FPC_IMUL2 "imulq %%rax, %%rax\n\timulq %%rax, %%rax\n\t"
#define FPC_IMUL10 FPC_IMUL2 FPC_IMUL2 FPC_IMUL2 FPC_IMUL2 FPC_IMUL2 /* 30 cycles */

FPC_ROW(fpc_add, "", "addq $1, %%rax\n\t")
FPC_ROW(fpc_stmxcsr, "", "stmxcsr 512(%0)\n\t")
FPC_ROW(fpc_vstmxcsr, "", "vstmxcsr 512(%0)\n\t")
/* The red zone below the compiler's own (which this leaf function may be using). */
FPC_ROW3(fpc_stmxcsr_rz, "subq $128, %%rsp\n\t", "stmxcsr -8(%%rsp)\n\t", "addq $128, %%rsp\n\t")
FPC_ROW(fpc_stmxcsr4, "",
        "stmxcsr 512(%0)\n\tstmxcsr 516(%0)\n\tstmxcsr 520(%0)\n\tstmxcsr 524(%0)\n\t")
FPC_ROW(fpc_stmxcsr_read, "", "stmxcsr 512(%0)\n\tmovl 512(%0), %%eax\n\t")
FPC_ROW(fpc_stmxcsr_nop8, "", "stmxcsr 512(%0)\n\t" FPC_NOP8)
FPC_ROW(fpc_stmxcsr_nop32, "", "stmxcsr 512(%0)\n\t" FPC_NOP8 FPC_NOP8 FPC_NOP8 FPC_NOP8)
FPC_ROW(fpc_imul10, "", FPC_IMUL10)
FPC_ROW(fpc_imul10_stmxcsr, "", FPC_IMUL10 "stmxcsr 512(%0)\n\t")
FPC_ROW(fpc_ldmxcsr, "", "ldmxcsr (%0)\n\t")
FPC_ROW(fpc_vldmxcsr, "", "vldmxcsr (%0)\n\t")
FPC_ROW(fpc_ldmxcsr_pe, "", "ldmxcsr 64(%0)\n\tldmxcsr (%0)\n\t")
FPC_ROW(fpc_ldmxcsr_rc, "", "ldmxcsr 128(%0)\n\tldmxcsr (%0)\n\t")
FPC_ROW(fpc_st_ld, "", "stmxcsr 512(%0)\n\tldmxcsr (%0)\n\t")
FPC_ROW(fpc_st_ld_pe, "",
        "stmxcsr 512(%0)\n\tldmxcsr 64(%0)\n\tstmxcsr 512(%0)\n\tldmxcsr (%0)\n\t")
FPC_ROW(fpc_fnstcw, "", "fnstcw 512(%0)\n\t")
FPC_ROW(fpc_fnstcw_read, "", "fnstcw 512(%0)\n\tmovzwl 512(%0), %%eax\n\t")
FPC_ROW(fpc_fldcw, "", "fldcw 256(%0)\n\t")
FPC_ROW(fpc_fldcw_rc, "", "fldcw 320(%0)\n\tfldcw 256(%0)\n\t")
FPC_ROW(fpc_fnstenv, "", "fnstenv 1024(%0)\n\t")
FPC_ROW(fpc_fxsave, "", "fxsave 1024(%0)\n\t")
FPC_ROW(fpc_xsave, "movl $2, %%eax\n\txorl %%edx, %%edx\n\t", "xsave 1024(%0)\n\t")
FPC_ROW(fpc_xsaveopt, "movl $2, %%eax\n\txorl %%edx, %%edx\n\t", "xsaveopt 1024(%0)\n\t")
FPC_ROW(fpc_xsavec, "movl $2, %%eax\n\txorl %%edx, %%edx\n\t", "xsavec 1024(%0)\n\t")

enum { FPC_NEED_XSAVE = 1, FPC_NEED_XSAVEOPT = 2, FPC_NEED_XSAVEC = 4, FPC_NEED_AVX = 8 };

static const struct fpc_row {
    const char *name;
    void (*fn)(long, unsigned char *);
    int per;   /* instructions of interest per body: the figure is per one of them */
    int needs; /* FPC_NEED_* */
} fpc_rows[] = {
    {"stmxcsr m32, same slot (throughput)", fpc_stmxcsr, 1, 0},
    {"vstmxcsr m32, same slot", fpc_vstmxcsr, 1, FPC_NEED_AVX},
    {"stmxcsr to a red-zone slot -8(%rsp)", fpc_stmxcsr_rz, 1, 0},
    {"stmxcsr x4, four slots", fpc_stmxcsr4, 4, 0},
    {"stmxcsr + a 4-byte load of its result", fpc_stmxcsr_read, 1, 0},
    {"stmxcsr + 8 nops", fpc_stmxcsr_nop8, 1, 0},
    {"stmxcsr + 32 nops", fpc_stmxcsr_nop32, 1, 0},
    {"10 dependent imuls (a 30-cycle chain)", fpc_imul10, 1, 0},
    {"10 dependent imuls + stmxcsr", fpc_imul10_stmxcsr, 1, 0},
    {"ldmxcsr, the value already there", fpc_ldmxcsr, 1, 0},
    {"vldmxcsr, the value already there", fpc_vldmxcsr, 1, FPC_NEED_AVX},
    {"ldmxcsr, each changes PE (a status flag)", fpc_ldmxcsr_pe, 2, 0},
    {"ldmxcsr, each changes RC (a control field)", fpc_ldmxcsr_rc, 2, 0},
    {"stmxcsr + ldmxcsr, the same value", fpc_st_ld, 1, 0},
    {"stmxcsr + ldmxcsr, each load changes PE", fpc_st_ld_pe, 2, 0},
    {"fnstcw m16", fpc_fnstcw, 1, 0},
    {"fnstcw + a 2-byte load of its result", fpc_fnstcw_read, 1, 0},
    {"fldcw, the value already there", fpc_fldcw, 1, 0},
    {"fldcw, each changes RC", fpc_fldcw_rc, 2, 0},
    {"fnstenv (x87 environment, 28 B)", fpc_fnstenv, 1, 0},
    {"fxsave (512 B; holds MXCSR)", fpc_fxsave, 1, 0},
    {"xsave, SSE component only (RFBM = 2)", fpc_xsave, 1, FPC_NEED_XSAVE},
    {"xsaveopt, SSE component only", fpc_xsaveopt, 1, FPC_NEED_XSAVEOPT},
    {"xsavec, SSE component only", fpc_xsavec, 1, FPC_NEED_XSAVEC},
};

static int fpc_features(void)
{
    unsigned a, b, c, d;
    int f = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 27))) { /* OSXSAVE */
        f |= FPC_NEED_XSAVE;
        if (c & (1u << 28))
            f |= FPC_NEED_AVX;
        if (__get_cpuid_count(0xd, 1, &a, &b, &c, &d)) {
            f |= a & 1u ? FPC_NEED_XSAVEOPT : 0;
            f |= a & 2u ? FPC_NEED_XSAVEC : 0;
        }
    }
    return f;
}

/* ns per body: the best of 41 trials of 50 iterations. */
static double fpc_time(void (*fn)(long, unsigned char *), unsigned char *p)
{
    double best = 1e30;
    fn(50, p); /* warm up */
    for (int t = 0; t < 41; t++) {
        double t0 = now_ns();
        fn(50, p);
        double ns = (now_ns() - t0) / (50.0 * 100.0);
        best = ns < best ? ns : best;
    }
    return best;
}

#include "fp_orderings.h" /* the second table; uses fpc_time() and fpc_add() */

static int fp_costs(void)
{
    unsigned char *p = aligned_alloc(64, FPC_BUF);
    if (!p)
        die("aligned_alloc");
    memset(p, 0, FPC_BUF);
    uint32_t mxcsr;
    uint16_t cw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    uint32_t m_pe = mxcsr ^ 0x20u, m_rc = (mxcsr & ~0x6000u) | 0x2000u;
    uint16_t cw_rc = (uint16_t)((cw & ~0x0c00u) | 0x0400u);
    memcpy(p, &mxcsr, 4);
    memcpy(p + 64, &m_pe, 4);
    memcpy(p + 128, &m_rc, 4);
    memcpy(p + 256, &cw, 2);
    memcpy(p + 320, &cw_rc, 2);
    int have = fpc_features();

    double ghz = 1.0 / fpc_time(fpc_add, p); /* one add per cycle */
    printf("FP control instruction costs; core clock %.2f GHz (from a chain of dependent "
           "adds); best of 41 trials of 5,000 bodies each\n\n",
           ghz);
    printf("| %-44s | %7s | %7s |\n", "instruction or sequence (per instruction)", "ns", "cycles");
    printf("|----------------------------------------------|--------:|--------:|\n");
    for (size_t i = 0; i < sizeof fpc_rows / sizeof fpc_rows[0]; i++) {
        const struct fpc_row *r = &fpc_rows[i];
        if ((r->needs & have) != r->needs) {
            printf("| %-44s | %7s | %7s |\n", r->name, "n/a", "n/a");
            continue;
        }
        double ns = fpc_time(r->fn, p) / r->per;
        printf("| %-44s | %7.2f | %7.1f |\n", r->name, ns, ns * ghz);
    }
    __asm__ volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(mxcsr), "m"(cw));
    fp_orderings(p);
    free(p);
    return 0;
}
#else
static int fp_costs(void)
{
    printf("bench_switch --fp-costs: x86-64 only\n");
    return 0;
}
#endif

#endif /* BENCH_FP_COSTS_H */
