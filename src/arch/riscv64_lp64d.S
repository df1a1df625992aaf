/* SPDX-License-Identifier: MIT */
/* Context switch for RISC-V 64, LP64D psABI (Linux; RV64 with the D extension).
 *
 * What must survive a call (RISC-V psABI, "RISC-V Calling Conventions", "Register
 * Convention"):
 *   - s0-s11 (x8, x9, x18-x27) and sp are callee-saved ("Integer Register Convention").
 *     s0 is the frame pointer when one is kept ("Frame Pointer Convention").
 *   - fs0-fs11 (f8, f9, f18-f27) are callee-saved in the hardware floating-point
 *     convention, for values no wider than ABI_FLEN ("Floating-Point Register
 *     Convention"); LP64D has ABI_FLEN = 64, so fsd/fld of all 64 bits is exactly enough.
 *   - ra, t0-t6, a0-a7, ft*, fa* are caller-saved.  gp and tp are fixed for the whole
 *     thread ("procedures should not modify the integer registers tp and gp") and are
 *     never touched here.  The vector state (v0-v31, vl, vtype, vxrm, vxsat) is not
 *     preserved across calls in the standard convention, so nothing is owed for it.
 *   - fcsr (frm: rounding mode, bits 5-7; fflags: accrued exceptions, bits 0-4):
 *     the psABI says "The Floating-Point Control and Status Register (fcsr) must have
 *     thread storage duration in accordance with C11 section 7.6".  So fcsr is neither
 *     callee- nor caller-saved: it is per-thread state like a global variable, which any
 *     call may change on purpose (fesetround) and which keeps its value across calls
 *     otherwise.  The ABI therefore requires nothing of a switch between coroutines of
 *     one thread.  libgreen gives the same semantics on every CPU -- the control part of
 *     the FP environment belongs to the context (x86-64: MXCSR control bits and x87
 *     control word, callee-saved by the SysV ABI; AArch64: FPCR) and the status flags to
 *     the thread (MXCSR status bits, FPSR) -- so here frm is saved per context and fflags
 *     is left alone.  A greenlet's fesetround() then cannot change how the greenlet it
 *     switches to rounds.
 *   - sp must be 16-byte aligned on procedure entry and stays aligned ("Integer Calling
 *     Convention": "the stack pointer shall be aligned to a 128-bit boundary upon
 *     procedure entry"): the frame is 224 bytes, and green_arch_init rounds stack_top
 *     down to 16.
 *
 * Why it looks the way it does:
 *   - Reading frm (frrm) is cheap; writing it (fsrm) is a CSR write that many cores
 *     execute serialised, while the whole switch is a few ns.  Both contexts almost always
 *     use the same rounding mode, so we store frm (cheap), compare, and write it only when
 *     it differs.
 *   - We continue the other context with "jr t1", not "ret" (= jalr x0, 0(ra)).  JALR
 *     carries return-address-stack hints in its register numbers (Unprivileged ISA, RV32I
 *     "Unconditional Jumps"): x1 (ra) and x5 (t0) are link registers, and a jalr with
 *     rd = x0 and rs1 = x1 or x5 is a return, which pops the RAS.  That entry was pushed
 *     by *our* caller's call and belongs to a different context, so a ret would
 *     mispredict on every switch and leave the RAS misaligned for the returns after it.
 *     With rs1 = t1 (x6) and rd = x0 the jalr is a plain indirect jump: no push, no pop,
 *     predicted by the indirect-branch predictor, which learns the resume sites.
 *   - The value for the resumed context is stored here, through the result pointer that
 *     context saved, so that green_switch() can tail-call us and the resumed context
 *     lands directly in its own caller (see arch.h).
 *   - The resume address has its own slot beside the saved ra, so that a frame built by
 *     green_arch_init can resume at entry with ra = 0.
 *
 * Saved frame, 224 bytes, from the stored stack pointer upwards:
 *   [sp+0]   ra        [sp+8]   s0        [sp+16]  s1   ...  [sp+96]  s11
 *   [sp+104] fs0       [sp+112] fs1       ...              [sp+192] fs11
 *   [sp+200] frm (zero-extended)          [sp+208] resume address
 *   [sp+216] result pointer (where this context wants its next value)
 */
    .text

/* Save the caller's frame (the layout above) and store its stack pointer in *a0; leaves
 * our rounding mode in t2. */
.macro SAVE_FRAME result
    addi    sp, sp, -224
    sd      ra, 0(sp)
    sd      s0, 8(sp)
    sd      s1, 16(sp)
    sd      s2, 24(sp)
    sd      s3, 32(sp)
    sd      s4, 40(sp)
    sd      s5, 48(sp)
    sd      s6, 56(sp)
    sd      s7, 64(sp)
    sd      s8, 72(sp)
    sd      s9, 80(sp)
    sd      s10, 88(sp)
    sd      s11, 96(sp)
    fsd     fs0, 104(sp)
    fsd     fs1, 112(sp)
    fsd     fs2, 120(sp)
    fsd     fs3, 128(sp)
    fsd     fs4, 136(sp)
    fsd     fs5, 144(sp)
    fsd     fs6, 152(sp)
    fsd     fs7, 160(sp)
    fsd     fs8, 168(sp)
    fsd     fs9, 176(sp)
    fsd     fs10, 184(sp)
    fsd     fs11, 192(sp)
    frrm    t2                          /* our rounding mode */
    sd      t2, 200(sp)
    sd      ra, 208(sp)                 /* we resume where our caller returns */
    sd      \result, 216(sp)            /* our result pointer */
    sd      sp, 0(a0)
.endm

/* int green_arch_switch(void **save_sp, void *load_sp, int status, void *value,
 *                       void **result)
 *                       a0               a1             a2          a3
 *                       a4 */
    .globl  green_arch_switch
    .hidden green_arch_switch
    .type   green_arch_switch, @function
    .p2align 2
green_arch_switch:
    SAVE_FRAME a4
    mv      sp, a1                      /* now on the other stack */
.Lresume_frame:                         /* t2: our rounding mode, a2/a3: status and value */
    ld      t3, 200(sp)                 /* its rounding mode */
    ld      t1, 208(sp)                 /* its resume address */
    ld      t4, 216(sp)                 /* its result pointer */
    bne     t3, t2, 2f
1:  ld      ra, 0(sp)
    ld      s0, 8(sp)
    ld      s1, 16(sp)
    ld      s2, 24(sp)
    ld      s3, 32(sp)
    ld      s4, 40(sp)
    ld      s5, 48(sp)
    ld      s6, 56(sp)
    ld      s7, 64(sp)
    ld      s8, 72(sp)
    ld      s9, 80(sp)
    ld      s10, 88(sp)
    ld      s11, 96(sp)
    fld     fs0, 104(sp)
    fld     fs1, 112(sp)
    fld     fs2, 120(sp)
    fld     fs3, 128(sp)
    fld     fs4, 136(sp)
    fld     fs5, 144(sp)
    fld     fs6, 152(sp)
    fld     fs7, 160(sp)
    fld     fs8, 168(sp)
    fld     fs9, 176(sp)
    fld     fs10, 184(sp)
    fld     fs11, 192(sp)
    addi    sp, sp, 224
    beqz    t4, 3f
    sd      a3, 0(t4)
3:  mv      a0, a2                      /* an int arrives and leaves sign-extended */
    jr      t1
2:  fsrm    t3
    j       1b
    .size   green_arch_switch, .-green_arch_switch

/* int green_arch_switch_pivot(void **save_sp, void *pivot_top, void **result,
 *                             const struct green_arch_jump *(*pivot)(void))
 *                             a0               a1               a2
 *                             a3
 * arch.h: the frame saved as above, pivot() called on the pivot stack, then the jump it
 * returns resumed by the common code.  Our rounding mode waits in s0 (saved already). */
    .globl  green_arch_switch_pivot
    .hidden green_arch_switch_pivot
    .type   green_arch_switch_pivot, @function
    .p2align 2
green_arch_switch_pivot:
    SAVE_FRAME a2
    mv      s0, t2
    mv      sp, a1
    jalr    a3
    lw      a2, 16(a0)                  /* the jump: status, value, the stack to resume */
    ld      a3, 8(a0)
    ld      t0, 0(a0)
    mv      sp, t0
    mv      t2, s0
    j       .Lresume_frame
    .size   green_arch_switch_pivot, .-green_arch_switch_pivot

/* int green_arch_park(void **save_sp, void *load_sp, void *value, void **result,
 *                     a0               a1             a2           a3
 *                     const void *token, int (*fail)(int status))
 *                     a4                 a5
 * green_arch_switch(save_sp, load_sp, 0, value, result) whose frame resumes in
 * green_arch_park_resume, with token and fail kept above it (arch.h).  Tail-called: ra,
 * which the frame restores as always, is the return address of the parking call's
 * caller. */
    .globl  green_arch_park
    .hidden green_arch_park
    .type   green_arch_park, @function
    .p2align 2
green_arch_park:
    addi    sp, sp, -16
    sd      a4, 0(sp)                   /* token */
    sd      a5, 8(sp)                   /* fail */
    mv      a4, a3                      /* result: the switch's fifth argument */
    mv      a3, a2                      /* value: its fourth */
    li      a2, 0                       /* status 0 */
    SAVE_FRAME a4
    lla     t0, .Lpark_resume
    sd      t0, 208(sp)                 /* the frame's resume address */
    mv      sp, a1
    j       .Lresume_frame
    .size   green_arch_park, .-green_arch_park

/* Where a parked frame resumes: a0 the status, a3 the value (the resume leaves it), ra the
 * parking call's return address, sp at token and fail.  As on x86-64, the frame resumes an
 * instruction in, so that a debugger's lookup of the instruction before its resume
 * address finds this function and its unwind rule (CFA sp + 16, return address in ra). */
    .globl  green_arch_park_resume
    .hidden green_arch_park_resume
    .type   green_arch_park_resume, @function
    .p2align 2
green_arch_park_resume:
    .cfi_startproc simple
    .cfi_def_cfa sp, 16
    .cfi_return_column ra
    .cfi_same_value ra
    nop
.Lpark_resume:
    ld      t0, 0(sp)                   /* token */
    ld      t1, 8(sp)                   /* fail */
    addi    sp, sp, 16
    .cfi_def_cfa_offset 0
    bnez    a0, 1f
    bne     a3, t0, 1f
    jr      ra                          /* the wake-up expected: the call returns 0 */
1:  jr      t1                          /* fail(status) returns for the call */
    .cfi_endproc
    .size   green_arch_park_resume, .-green_arch_park_resume

/* void *green_arch_init(void *stack_lo, void *stack_top, void (*entry)(void))
 *                             a0              a1                 a2
 * The frame resumes entry() with sp = stack_top rounded down to 16, s0-s11 = 0 (s0 = 0
 * also ends a frame-pointer chain), fs0-fs11 = +0.0, ra = 0 (no return address:
 * unwinders stop), no result pointer (so the first switch into it stores no value) and
 * the rounding mode of the caller of green_arch_init. */
    .globl  green_arch_init
    .hidden green_arch_init
    .type   green_arch_init, @function
    .p2align 2
green_arch_init:
    andi    a1, a1, -16
    addi    a0, a1, -224
    sd      zero, 0(a0)                 /* ra = 0 */
    sd      zero, 8(a0)
    sd      zero, 16(a0)
    sd      zero, 24(a0)
    sd      zero, 32(a0)
    sd      zero, 40(a0)
    sd      zero, 48(a0)
    sd      zero, 56(a0)
    sd      zero, 64(a0)
    sd      zero, 72(a0)
    sd      zero, 80(a0)
    sd      zero, 88(a0)
    sd      zero, 96(a0)
    sd      zero, 104(a0)
    sd      zero, 112(a0)
    sd      zero, 120(a0)
    sd      zero, 128(a0)
    sd      zero, 136(a0)
    sd      zero, 144(a0)
    sd      zero, 152(a0)
    sd      zero, 160(a0)
    sd      zero, 168(a0)
    sd      zero, 176(a0)
    sd      zero, 184(a0)
    sd      zero, 192(a0)
    frrm    t0                          /* inherit the starter's rounding mode */
    sd      t0, 200(a0)
    sd      a2, 208(a0)                 /* resume address = entry */
    sd      zero, 216(a0)               /* result pointer: none */
    ret
    .size   green_arch_init, .-green_arch_init

    .section .note.GNU-stack, "", @progbits
