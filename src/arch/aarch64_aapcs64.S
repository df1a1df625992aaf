/* SPDX-License-Identifier: MIT */
/* Context switch for AArch64, AAPCS64 (Linux, LP64).
 *
 * What must survive a call (AAPCS64, chapter "The Base Procedure Call Standard", section
 * "Machine Registers", 6.1 in current releases; subsection titles quoted below):
 *   - x19-x29 and SP: "A subroutine invocation must preserve the contents of the
 *     registers r19-r29 and SP" ("General-purpose Registers").  x29 is the frame pointer.
 *     x30 (LR) is not preserved across a call, but it holds our caller's return address,
 *     which is where the suspended context resumes.
 *   - d8-d15: "Registers v8-v15 must be preserved by a callee ... only the bottom 64 bits
 *     ... need to be preserved" ("SIMD and Floating-Point Registers").  v0-v7, v16-v31 and
 *     the upper halves are the caller's problem.  With SVE, a base-convention function
 *     (no SVE arguments or results, like this one) also owes only the low 64 bits of
 *     z8-z15 ("Scalable Vector Registers"); no predicate register is owed.
 *   - FPSR (cumulative exception flags) is "not preserved across a public interface": like
 *     the MXCSR status bits on x86-64 it is shared by all contexts of a thread.
 *   - FPCR (rounding mode, FZ, DN, AH/FIZ, trap enables) is "a global register" that only
 *     support functions such as fesetround() change, so the AAPCS64 does not make it
 *     callee-saved.  libgreen keeps it per context all the same, as it keeps the MXCSR
 *     control bits (which the SysV ABI does make callee-saved) on x86-64: a greenlet's
 *     fesetround() must not change how the greenlet it switches to rounds, on any CPU.
 *     FPCR holds no status bits, so the whole register is compared and restored; its
 *     reserved bits are never changed by user code.
 *   - x0-x18 and NZCV are caller-saved.  x18 (platform register) is never touched.
 *   - SP must be 16-byte aligned whenever it is used to access memory ("The Stack",
 *     "Universal stack constraints"): the frame is 192 bytes and green_arch_init rounds
 *     stack_top down to 16.
 *
 * Why it looks the way it does:
 *   - Reading FPCR is cheap; writing it is a system-register write that is much slower
 *     on many cores.  Both contexts almost always run with the same FPCR, so we store it
 *     (cheap), compare, and write it ("msr fpcr") only when it differs.
 *   - We continue the other context with "br x17", not "ret": ret is predicted from the
 *     return-address stack, whose top entry was pushed by *our* caller's bl and belongs to
 *     a different context, so it would mispredict on every switch (and unbalance the
 *     stack for the returns after it); br is predicted by the indirect-branch predictor,
 *     which learns the resume sites.  x17 (IP1) is free at a call boundary, and x16/x17
 *     are the registers from which a "bti c" landing pad (the start of a BTI-built
 *     entry()) accepts a br.  This file does not advertise BTI (no GNU property note):
 *     a br to a return site, which has no landing pad, would fault on a BTI-guarded page,
 *     so a binary containing it must not be BTI-guarded, and without the note the linker
 *     does not mark it so.  Return-address signing (PAC) is unaffected: LR arrives here
 *     unsigned, as bl left it, and every function authenticates only its own copy.
 *   - The value for the resumed context is stored here, through the result pointer that
 *     context saved, so that green_switch() can tail-call us and the resumed context
 *     lands directly in its own caller (see arch.h).
 *   - The resume address has its own slot beside the saved x30, so that a frame built by
 *     green_arch_init can resume at entry with x30 = 0.
 *
 * Saved frame, 192 bytes, from the stored stack pointer upwards:
 *   [sp+0]   x19 x20    [sp+16]  x21 x22    [sp+32]  x23 x24    [sp+48]  x25 x26
 *   [sp+64]  x27 x28    [sp+80]  x29 x30
 *   [sp+96]  d8  d9     [sp+112] d10 d11    [sp+128] d12 d13    [sp+144] d14 d15
 *   [sp+160] FPCR       [sp+168] resume address
 *   [sp+176] result pointer (where this context wants its next value)   [sp+184] unused
 */
    .text

/* Save the caller's frame (the layout above) and store its stack pointer in *x0; leaves
 * our FPCR in x9. */
.macro SAVE_FRAME result
    sub     sp, sp, #192
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    stp     x9, x30, [sp, #160]         /* our FPCR; we resume where our caller returns */
    str     \result, [sp, #176]         /* our result pointer */
    mov     x10, sp
    str     x10, [x0]
.endm

/* int green_arch_switch(void **save_sp, void *load_sp, int status, void *value,
 *                       void **result)
 *                       x0               x1             w2          x3
 *                       x4 */
    .globl  green_arch_switch
    .hidden green_arch_switch
    .type   green_arch_switch, %function
    .p2align 4
green_arch_switch:
    SAVE_FRAME x4
    mov     sp, x1                      /* now on the other stack */
.Lresume_frame:                         /* x9: our FPCR, w2/x3: status and value */
    ldp     x10, x17, [sp, #160]        /* its FPCR and resume address */
    ldr     x11, [sp, #176]             /* its result pointer */
    cmp     x10, x9
    b.ne    2f
1:  ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #192
    cbz     x11, 3f
    str     x3, [x11]
3:  mov     w0, w2
    br      x17
2:  msr     fpcr, x10
    b       1b
    .size   green_arch_switch, .-green_arch_switch

/* int green_arch_switch_pivot(void **save_sp, void *pivot_top, void **result,
 *                             const struct green_arch_jump *(*pivot)(void))
 *                             x0               x1               x2
 *                             x3
 * arch.h: the frame saved as above, pivot() called on the pivot stack, then the jump it
 * returns resumed by the common code.  Our FPCR waits in x19 (saved already). */
    .globl  green_arch_switch_pivot
    .hidden green_arch_switch_pivot
    .type   green_arch_switch_pivot, %function
    .p2align 4
green_arch_switch_pivot:
    SAVE_FRAME x2
    mov     x19, x9
    mov     sp, x1
    blr     x3
    ldr     w2, [x0, #16]               /* the jump: status, value, the stack to resume */
    ldr     x3, [x0, #8]
    ldr     x10, [x0]
    mov     sp, x10
    mov     x9, x19
    b       .Lresume_frame
    .size   green_arch_switch_pivot, .-green_arch_switch_pivot

/* int green_arch_park(void **save_sp, void *load_sp, void *value, void **result,
 *                     x0               x1             x2           x3
 *                     const void *token, int (*fail)(int status))
 *                     x4                 x5
 * green_arch_switch(save_sp, load_sp, 0, value, result) whose frame resumes in
 * green_arch_park_resume, with token and fail kept above it (arch.h).  Tail-called: x30,
 * which the frame restores as always, is the return address of the parking call's
 * caller. */
    .globl  green_arch_park
    .hidden green_arch_park
    .type   green_arch_park, %function
    .p2align 4
green_arch_park:
    stp     x4, x5, [sp, #-16]!         /* token, fail */
    mov     x4, x3                      /* result: the switch's fifth argument */
    mov     x3, x2                      /* value: its fourth */
    mov     w2, #0                      /* status 0 */
    SAVE_FRAME x4
    adr     x10, .Lpark_resume
    str     x10, [sp, #168]             /* the frame's resume address */
    mov     sp, x1
    b       .Lresume_frame
    .size   green_arch_park, .-green_arch_park

/* Where a parked frame resumes: w0 the status, x3 the value (the resume leaves it), x30
 * the parking call's return address, sp at token and fail.  As on x86-64, the frame
 * resumes an instruction in, so that a debugger's lookup of the instruction before its
 * resume address finds this function and its unwind rule (CFA sp + 16, return address in
 * x30). */
    .globl  green_arch_park_resume
    .hidden green_arch_park_resume
    .type   green_arch_park_resume, %function
    .p2align 4
green_arch_park_resume:
    .cfi_startproc simple
    .cfi_def_cfa sp, 16
    .cfi_return_column x30
    .cfi_same_value x30
    nop
.Lpark_resume:
    ldp     x4, x5, [sp], #16           /* token, fail */
    .cfi_def_cfa_offset 0
    cbnz    w0, 1f
    cmp     x3, x4
    b.ne    1f
    br      x30                         /* the wake-up expected: the call returns 0 */
1:  br      x5                          /* fail(status) returns for the call */
    .cfi_endproc
    .size   green_arch_park_resume, .-green_arch_park_resume

/* void *green_arch_init(void *stack_lo, void *stack_top, void (*entry)(void))
 *                             x0              x1                 x2
 * The frame resumes entry() with sp = stack_top rounded down to 16, x19-x28 = 0,
 * d8-d15 = 0, x29 = 0 (a zero link ends the frame-record chain: AAPCS64 "The Frame
 * Pointer"), x30 = 0 (no return address: unwinders stop), no result pointer (so the first
 * switch into it stores no value) and the FPCR of the caller of green_arch_init. */
    .globl  green_arch_init
    .hidden green_arch_init
    .type   green_arch_init, %function
    .p2align 4
green_arch_init:
    and     x1, x1, #-16
    sub     x0, x1, #192
    stp     xzr, xzr, [x0, #0]
    stp     xzr, xzr, [x0, #16]
    stp     xzr, xzr, [x0, #32]
    stp     xzr, xzr, [x0, #48]
    stp     xzr, xzr, [x0, #64]
    stp     xzr, xzr, [x0, #80]         /* x29 = 0, x30 = 0 */
    stp     xzr, xzr, [x0, #96]
    stp     xzr, xzr, [x0, #112]
    stp     xzr, xzr, [x0, #128]
    stp     xzr, xzr, [x0, #144]
    mrs     x9, fpcr                    /* inherit the starter's FP control state */
    stp     x9, x2, [x0, #160]          /* resume address = entry */
    stp     xzr, xzr, [x0, #176]        /* result pointer: none */
    ret
    .size   green_arch_init, .-green_arch_init

    .section .note.GNU-stack, "", %progbits
