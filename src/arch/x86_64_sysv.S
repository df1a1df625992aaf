/* Context switch for x86-64, System V ABI (Linux).
 *
 * What must survive a call (SysV AMD64 ABI, sections 3.2.1 and 3.2.3):
 *   - rbx, rbp, r12, r13, r14, r15 and rsp: callee-saved general registers.
 *   - The control bits of MXCSR (bits 6-15: DAZ, exception masks, rounding, FZ) and the
 *     x87 control word are callee-saved; the status flags (MXCSR bits 0-5, x87 status)
 *     are not.  No xmm/ymm register is callee-saved, so none is touched here.
 *   - Everything else (rax, rcx, rdx, rsi, rdi, r8-r11, flags) is caller-saved: the C
 *     caller of green_arch_switch already assumes it is clobbered.
 *
 * Why it looks the way it does:
 *   - ldmxcsr costs ~68 ns on the Sapphire Rapids machines we measure on (and fldcw a few
 *     ns), while the whole switch costs ~3 ns.  Both contexts almost always run with the
 *     same FP control state, so we store both control words (cheap), compare the control
 *     bits, and load only if they differ.
 *   - We return into the other context with an indirect jmp, not ret: ret would pop the
 *     return-stack-buffer entry pushed by *our* caller's call and mispredict on every
 *     switch (~8 ns measured).  For the same reason the value for the resumed context is
 *     stored here (through the result pointer it saved), so green_switch() can tail-call
 *     us and the resumed context lands directly in its own caller.
 *   - The frame is 9 slots (72 bytes): return address, result pointer, 6 registers, FP
 *     control.  The saved stack pointer is 8 mod 16; nothing runs on it while suspended.
 *
 * Saved frame, from the stored stack pointer upwards:
 *   [sp+0]  MXCSR (4 bytes) | x87 control word (2 bytes) | 0 (2 bytes)
 *   [sp+8]  r15   [sp+16] r14   [sp+24] r13   [sp+32] r12   [sp+40] rbx   [sp+48] rbp
 *   [sp+56] result pointer (where this context wants its next value)
 *   [sp+64] resume address
 */
    .text

/* int green_arch_switch(void **save_sp, void *load_sp, int status, void *value,
 *                       void **result)
 *                       rdi              rsi            edx         rcx
 *                       r8 */
    .globl  green_arch_switch
    .hidden green_arch_switch
    .type   green_arch_switch, @function
    .p2align 4
green_arch_switch:
    pushq   %r8
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    pushq   $0
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movl    (%rsp), %r10d           /* our MXCSR and x87 control word, read back with */
    movzwl  4(%rsp), %r8d           /* the widths they were stored with (forwarding) */
    movq    %rsi, %rsp              /* now on the other stack */
    xorl    (%rsp), %r10d
    testl   $0xffc0, %r10d          /* MXCSR control bits differ? */
    jnz     2f
    cmpw    4(%rsp), %r8w           /* x87 control word differs? */
    jne     2f
1:  addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    popq    %r9                     /* the resumed context's result pointer */
    testq   %r9, %r9
    jz      3f
    movq    %rcx, (%r9)
3:  movl    %edx, %eax
    popq    %r11
    jmpq    *%r11
2:  ldmxcsr (%rsp)
    fldcw   4(%rsp)
    jmp     1b
    .size   green_arch_switch, .-green_arch_switch

/* void *green_arch_init(void *stack_lo, void *stack_top, void (*entry)(void)) */
    .globl  green_arch_init
    .hidden green_arch_init
    .type   green_arch_init, @function
    .p2align 4
green_arch_init:
    andq    $-16, %rsi
    movq    $0, -8(%rsi)            /* null return address: entry starts with rsp = 8 mod 16 */
    movq    %rdx, -16(%rsi)         /* resume address */
    xorl    %eax, %eax
    movq    %rax, -24(%rsi)         /* result pointer: none */
    movq    %rax, -32(%rsi)         /* rbp = 0 ends frame-pointer unwinding */
    movq    %rax, -40(%rsi)
    movq    %rax, -48(%rsi)
    movq    %rax, -56(%rsi)
    movq    %rax, -64(%rsi)
    movq    %rax, -72(%rsi)
    leaq    -80(%rsi), %rax
    movq    $0, (%rax)
    stmxcsr (%rax)                  /* inherit the starter's FP control state */
    fnstcw  4(%rax)
    ret
    .size   green_arch_init, .-green_arch_init

    .section .note.GNU-stack, "", @progbits
