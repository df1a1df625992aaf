/* SPDX-License-Identifier: MIT */
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
 *   - Two variants, chosen once when the library is loaded (x86_64_select.c, by measuring
 *     the one thing that differs: what an ldmxcsr that changes MXCSR costs), because the
 *     cheapest way to keep the FP control state differs by vendor.  green_arch_switch is a
 *     one-instruction jump through the pointer set then; both variants keep the same frame.
 *     bench_switch prints which one ran.
 *     "cmp" (Intel): ldmxcsr with a changed value costs ~55-68 ns on Sapphire Rapids (and
 *     fldcw a few ns), the whole switch ~3 ns.  Both contexts almost always run with the
 *     same FP control state, so we store both control words, read them back (store
 *     forwarding makes that cheap there), compare the control bits and load only if they
 *     differ.  A status-flag difference (MXCSR bits 0-5) never causes a load.
 *     "load" (AMD Zen): ldmxcsr costs ~1 cycle when it changes no control bit (a status
 *     flag difference included), but stmxcsr is slow: on Zen 5 the instructions after it
 *     do not issue for ~14 cycles (only an older long dependency chain hides that), and
 *     a load of its result waits ~7 cycles more (`bench_switch --fp-costs`).
 *     So we store, never read MXCSR back, and load the saved one unconditionally.  The
 *     x87 control word is still compared (fnstcw reads back cheaply).  The resumed
 *     context gets its own saved MXCSR status flags back; the ABI leaves those to the
 *     callee, so either behaviour conforms.
 *     No variant can skip the stmxcsr: the suspended context's control bits are known only
 *     by reading them (vstmxcsr costs the same, fxsave/xsave 80-140 cycles), and that
 *     single stmxcsr bounds a Zen 5 switch: a bare one that only stores MXCSR is already
 *     ~0.92x boost.context's jump_fcontext (docs/benchmarks.md, 2026-12-03).
 *   - We return into the other context with an indirect jmp, not ret: ret would pop the
 *     return-stack-buffer entry pushed by *our* caller's call and mispredict on every
 *     switch (~8 ns measured).  For the same reason the value for the resumed context is
 *     stored here (through the result pointer it saved), so green_switch() can tail-call
 *     us and the resumed context lands directly in its own caller.
 *   - The frame is 9 slots (72 bytes): return address, result pointer, 6 registers, FP
 *     control.  The saved stack pointer is 8 mod 16; nothing runs on it while suspended.
 *
 * CET (Control-flow Enforcement Technology):
 *   - IBT: with -fcf-protection, every function reached by an indirect branch starts with
 *     endbr64.  Here that is green_arch_switch_cmp/_load (reached through the pointer in
 *     green_arch_switch) and, for safety, the two public entry points.  The jump into the
 *     resumed context cannot have a landing pad: it lands right after some `call
 *     green_arch_switch` (or after the call to green_switch that tail-called us), where no
 *     compiler puts endbr64.  So it is a `notrack jmp`, the same escape GCC itself uses
 *     for its switch jump tables under -fcf-protection; a runtime that enables IBT must
 *     allow NOTRACK for those anyway.  The first resume of a green_arch_init frame lands
 *     at entry(), a C function, which has endbr64 regardless.  The file carries the GNU
 *     property note claiming IBT (only when built with IBT).  Today this is untestable in
 *     practice: Linux supports user-space shadow stacks since 6.6 but not user IBT, and
 *     Debian 12's glibc 2.36 enables neither; the build checks the note and runs the suite.
 *   - Shadow stacks (SHSTK) are NOT supported, so the note does not claim them: with a
 *     shadow stack enabled, the first `ret` after a switch would compare against the
 *     shadow stack of the context we left and fault.  Supporting them needs, per
 *     greenlet, a shadow stack of its own (allocated with the map_shadow_stack system
 *     call, which also writes a restore token at its top), and in the switch: rdsspq to
 *     read the current SSP into the frame, then on the other side rstorssp to switch to
 *     the saved shadow stack (it checks and consumes the restore token there) and
 *     saveprevssp to leave a token on the old one so it can be resumed later - the scheme
 *     boost.context uses.  The jump into the resumed context would then have to be a
 *     real `ret` matching the shadow stack (or an incsspq to drop the entry), and a fresh
 *     context's shadow stack must hold entry()'s frame.  The shared-stack model is the
 *     hard part: its slices are copied in and out of one region, but a shadow stack
 *     cannot be written by ordinary stores (only by wrss, if the kernel enables it), so
 *     each shared greenlet needs its own shadow stack (small: 8 bytes per call level)
 *     and the copier must not touch them.  Pooled private stacks would pool their shadow
 *     stacks with them, and the overflow guard logic would need a second guard.
 *
 * Saved frame, from the stored stack pointer upwards:
 *   [sp+0]  MXCSR (4 bytes) | x87 control word (2 bytes) | 0 (2 bytes)
 *   [sp+8]  r15   [sp+16] r14   [sp+24] r13   [sp+32] r12   [sp+40] rbx   [sp+48] rbp
 *   [sp+56] result pointer (where this context wants its next value)
 *   [sp+64] resume address
 */

/* IBT (-fcf-protection=branch or full defines __CET__ bit 0): a landing pad where indirect
 * jumps may arrive, and NOTRACK for the jump into the resumed context (see "CET" above).
 * Both are empty otherwise. */
#if defined(__CET__) && (__CET__ & 1)
#define ENDBR endbr64
#define NOTRACK notrack
#else
#define ENDBR
#define NOTRACK
#endif
    .text

/* int green_arch_switch(void **save_sp, void *load_sp, int status, void *value,
 *                       void **result)
 *                       rdi              rsi            edx         rcx
 *                       r8
 * Jumps to the variant chosen at load time (x86_64_select.c); the arguments and the
 * return address stay untouched, so the variant behaves as if called directly. */
    .globl  green_arch_switch
    .hidden green_arch_switch
    .type   green_arch_switch, @function
    .p2align 4
green_arch_switch:
    ENDBR
    jmpq    *green_arch_switch_impl(%rip)
    .size   green_arch_switch, .-green_arch_switch

/* The common prologue: the result pointer (in register `result`: the two entry points get
 * it in different argument registers), callee-saved registers, FP control words. */
.macro SAVE_FRAME result
    pushq   \result
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
.endm

/* The common epilogue, on the resumed context's stack with its FP slot popped. */
.macro RESUME
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
    NOTRACK jmpq *%r11
.endm

/* "cmp": load MXCSR and the x87 control word only when the control bits differ.  For
 * CPUs where ldmxcsr with a changed value is slow (Intel: ~55-68 ns).
 * Both variants start on a 64-byte boundary: a switch is short and issue-bound (on Zen 5
 * stmxcsr holds back issue for ~14 cycles), so where its bytes fall in the fetch blocks
 * moves it by a cycle, and without the alignment that depended on the size of whatever
 * program links the library. */
    .globl  green_arch_switch_cmp
    .hidden green_arch_switch_cmp
    .type   green_arch_switch_cmp, @function
    .p2align 6
green_arch_switch_cmp:
    ENDBR
    SAVE_FRAME %r8
    movl    (%rsp), %r10d           /* our MXCSR and x87 control word, read back with */
    movzwl  4(%rsp), %r8d           /* the widths they were stored with (forwarding) */
    movq    %rsi, %rsp              /* now on the other stack */
    xorl    (%rsp), %r10d
    testl   $0xffc0, %r10d          /* MXCSR control bits differ? */
    jnz     2f
    cmpw    4(%rsp), %r8w           /* x87 control word differs? */
    jne     2f
1:  addq    $8, %rsp
    RESUME
2:  ldmxcsr (%rsp)
    fldcw   4(%rsp)
    jmp     1b
    .size   green_arch_switch_cmp, .-green_arch_switch_cmp

/* "load": load MXCSR unconditionally, compare only the x87 control word.  For CPUs
 * where ldmxcsr is cheap and reading back the just-stored MXCSR stalls (AMD Zen 5: the
 * read-back waits ~7 cycles for stmxcsr; an ldmxcsr that changes only status flags costs
 * ~1 cycle, one that changes the rounding control ~20, as rare as such programs are). */
    .globl  green_arch_switch_load
    .hidden green_arch_switch_load
    .type   green_arch_switch_load, @function
    .p2align 6
green_arch_switch_load:
    ENDBR
    SAVE_FRAME %r8
    movzwl  4(%rsp), %r8d           /* x87 control word: its read-back forwards fine */
    movq    %rsi, %rsp              /* now on the other stack */
    ldmxcsr (%rsp)
    cmpw    4(%rsp), %r8w
    jne     2f
1:  addq    $8, %rsp
    RESUME
2:  fldcw   4(%rsp)
    jmp     1b
    .size   green_arch_switch_load, .-green_arch_switch_load

/* int green_arch_switch_pivot(void **save_sp, void *pivot_top, void **result,
 *                             const struct green_arch_jump *(*pivot)(void))
 *                             rdi              rsi              rdx
 *                             rcx
 * One switch with a C call in the middle (arch.h): save the frame as green_arch_switch
 * does, run pivot() on the stack below pivot_top, then resume the jump it returns.  Our
 * FP control words wait in r12/r13 across the call (saved in the frame already, and
 * pivot() preserves them as any C function does); the jump's target gets them compared
 * and loaded only if they differ, as in "cmp" (on Zen the read-back's stall overlaps the
 * call, so one variant serves both vendors here). */
    .globl  green_arch_switch_pivot
    .hidden green_arch_switch_pivot
    .type   green_arch_switch_pivot, @function
    .p2align 4
green_arch_switch_pivot:
    ENDBR
    SAVE_FRAME %rdx                 /* the result pointer is the third argument here */
    movl    (%rsp), %r12d
    movzwl  4(%rsp), %r13d
    movq    %r13, %rax              /* the FP slot again, as one 8-byte store: pivot() */
    shlq    $32, %rax               /* copies this frame with 8-byte loads, which cannot */
    orq     %r12, %rax              /* be forwarded from the 4- and 2-byte stores above */
    movq    %rax, (%rsp)            /* (~20 ns waiting for them to retire, measured) */
    movq    %rsi, %rsp              /* the pivot stack: 16-byte aligned, call makes 8 mod 16 */
    call    *%rcx
    movl    16(%rax), %edx          /* the jump: status, value, then the stack to resume */
    movq    8(%rax), %rcx
    movq    (%rax), %rsp
    xorl    (%rsp), %r12d
    testl   $0xffc0, %r12d
    jnz     2f
    cmpw    4(%rsp), %r13w
    jne     2f
1:  addq    $8, %rsp
    RESUME
2:  ldmxcsr (%rsp)
    fldcw   4(%rsp)
    jmp     1b
    .size   green_arch_switch_pivot, .-green_arch_switch_pivot

/* int green_arch_park(void **save_sp, void *load_sp, void *value, void **result,
 *                     rdi              rsi            rdx          rcx
 *                     const void *token, int (*fail)(int status))
 *                     r8                 r9
 * green_arch_switch(save_sp, load_sp, 0, value, result) whose frame resumes in
 * green_arch_park_resume, with token and fail kept above it (arch.h).  Tail-called: the
 * slot above them is the return address of the parking call's caller.  The frame is built
 * as if green_arch_park_resume had called the switch, so the variant in use saves it, and
 * any switch resumes it as any other frame (the shared-stack copy moves it as stack
 * data). */
    .globl  green_arch_park
    .hidden green_arch_park
    .type   green_arch_park, @function
    .p2align 4
green_arch_park:
    ENDBR
    pushq   %r9                     /* fail */
    pushq   %r8                     /* token */
    leaq    .Lpark_resume(%rip), %rax
    pushq   %rax                    /* the frame's resume address */
    movq    %rcx, %r8               /* result: the switch's fifth argument */
    movq    %rdx, %rcx              /* value: its fourth */
    xorl    %edx, %edx              /* status 0 */
    jmpq    *green_arch_switch_impl(%rip)
    .size   green_arch_park, .-green_arch_park

/* Where a parked frame resumes: eax the status, rcx the value (RESUME leaves it), rsp at
 * token, fail and the parking call's return address.  Unwinders step through to that
 * address (the CFI below), so a parked greenlet's backtrace shows its caller.  The frame
 * resumes a byte in: a debugger reads a frame's resume address as a return address and
 * looks up the unwind rule (and the function's name) of the byte before it. */
    .globl  green_arch_park_resume
    .hidden green_arch_park_resume
    .type   green_arch_park_resume, @function
    .p2align 4
green_arch_park_resume:
    .cfi_startproc simple
    .cfi_def_cfa %rsp, 24
    .cfi_offset %rip, -8
    nop
.Lpark_resume:                      /* the frame's resume address */
    popq    %r8                     /* token */
    .cfi_def_cfa_offset 16
    popq    %r9                     /* fail */
    .cfi_def_cfa_offset 8
    testl   %eax, %eax
    jnz     1f
    cmpq    %r8, %rcx
    jne     1f
    popq    %r11                    /* the wake-up expected: the call returns 0 */
    .cfi_def_cfa_offset 0
    .cfi_register %rip, %r11
    NOTRACK jmpq *%r11
1:  .cfi_def_cfa_offset 8
    .cfi_offset %rip, -8
    movl    %eax, %edi              /* fail(status) returns for the call, from its frame */
    NOTRACK jmpq *%r9
    .cfi_endproc
    .size   green_arch_park_resume, .-green_arch_park_resume

/* void *green_arch_init(void *stack_lo, void *stack_top, void (*entry)(void)) */
    .globl  green_arch_init
    .hidden green_arch_init
    .type   green_arch_init, @function
    .p2align 4
green_arch_init:
    ENDBR
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

#if defined(__CET__) && (__CET__ & 1)
/* NT_GNU_PROPERTY_TYPE_0 with GNU_PROPERTY_X86_FEATURE_1_AND = IBT: this file is
 * IBT-correct.  Not SHSTK: see "CET" above.  The linker ANDs the bits of all objects, so
 * libgreen as a whole then claims IBT only, and a loader that enables shadow stacks from
 * the notes does not enable them for a program that links libgreen. */
    .section .note.gnu.property, "a"
    .p2align 3
    .long   4                       /* name size */
    .long   16                      /* descriptor size */
    .long   5                       /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .long   0xc0000002              /* GNU_PROPERTY_X86_FEATURE_1_AND */
    .long   4                       /* data size */
    .long   1                       /* GNU_PROPERTY_X86_FEATURE_1_IBT */
    .p2align 3
#endif
