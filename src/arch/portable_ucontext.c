/* SPDX-License-Identifier: MIT */
/* Portable context switch on getcontext/makecontext/swapcontext (POSIX.1-2001, removed in
 * POSIX.1-2008 but still provided by glibc and musl on every Linux CPU), for CPUs without
 * a hand-written switch in src/arch/, and for testing the rest of libgreen with
 * -Dswitch=portable.  Compiled with -DGREEN_ARCH_PORTABLE.
 *
 * How it meets the contract of arch.h:
 *   - A suspended context is a ucontext_t that lives in the frame of its own
 *     green_arch_switch call, on its own stack.  The "stack pointer" we store in *save_sp
 *     is the address of that ucontext_t, and load_sp is turned back into one.
 *   - Everything the suspended context still needs lies at or above
 *     (&uc - GREEN_ARCH_SP_SLACK): the ucontext_t itself and everything above it, plus
 *     what lies below it, namely the rest of green_arch_switch's frame (spills, outgoing
 *     arguments: a few words, since the function is tiny and never inlined) and whatever
 *     swapcontext leaves below the stack pointer it resumes with (x86-64 glibc pushes the
 *     resume address there: 8 bytes).  512 bytes is far more than that; the arch test
 *     checks it by wiping the whole stack below (*save_sp - GREEN_ARCH_SP_SLACK) of a
 *     suspended context before resuming it.
 *   - swapcontext saves and restores the callee-saved registers, the stack pointer, the
 *     FP control state (glibc: MXCSR and the x87 environment on x86-64, FPCR/FPSR on
 *     AArch64, fcsr on RISC-V) and, unlike the hand-written switches, the signal mask,
 *     which costs a system call per switch.  This is the slow path by design.
 *   - `status` and `value` cross the switch in a _Thread_local: they are written
 *     immediately before swapcontext and read immediately after it returns in the resumed
 *     context, on the same thread, with no other code of this thread in between.  The
 *     resumed context's `result` pointer is simply its own argument, still in its frame;
 *     a context made by green_arch_init starts in entry() and takes nothing.  (The
 *     hand-written switches store the value themselves so that green_switch() can
 *     tail-call them; here the C code after swapcontext and its own return cost far less
 *     than swapcontext's system call.)
 *   - green_arch_init places the new context's ucontext_t at the top of
 *     [stack_lo, stack_top), captures the current state with getcontext (so entry()
 *     inherits the caller's FP control state and signal mask) and has makecontext run
 *     entry() on [stack_lo, &uc).  uc_link is NULL: entry must not return (if it does, the
 *     thread exits, which is what glibc does for a NULL uc_link).
 *   - Callee-saved registers: on the three Linux ABIs whose mcontext_t layout we know we
 *     zero the general-purpose callee-saved registers (and so the frame pointer, which
 *     ends frame-pointer unwinding) before makecontext, which then sets the few it uses
 *     itself.  Elsewhere they hold stale values of the caller of green_arch_init, which is
 *     harmless.  The return address of entry() is libc's start trampoline
 *     (__start_context), whose unwind information marks the outermost frame, instead of
 *     0: debuggers stop there all the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <ucontext.h>

#include "arch/arch.h"

#define GREEN_UC_ALIGN (_Alignof(ucontext_t) > 16 ? _Alignof(ucontext_t) : 16)

static _Thread_local struct {
    int status;
    void *value;
} green_handoff;

/* noinline: everything this frame holds below the ucontext_t must stay within
 * GREEN_ARCH_SP_SLACK, which would not hold if it were merged into a caller's frame. */
__attribute__((noinline)) int green_arch_switch(void **save_sp, void *load_sp, int status,
                                                void *value, void **result)
{
    ucontext_t self;

    *save_sp = &self;
    green_handoff.status = status;
    green_handoff.value = value;
    if (swapcontext(&self, (ucontext_t *)load_sp) != 0)
        abort();
    if (result != NULL)
        *result = green_handoff.value;
    return green_handoff.status;
}

static void green_zero_callee_saved(mcontext_t *mc)
{
#if defined(__x86_64__) && defined(REG_RBX)
    static const int regs[] = { REG_RBX, REG_RBP, REG_R12, REG_R13, REG_R14, REG_R15 };
    for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++)
        mc->gregs[regs[i]] = 0;
#elif defined(__aarch64__)
    for (int r = 19; r <= 30; r++)          /* x19-x28, x29 (fp), x30 (lr) */
        mc->regs[r] = 0;
#elif defined(__riscv) && __riscv_xlen == 64
    mc->__gregs[1] = 0;                     /* ra */
    mc->__gregs[8] = 0;                     /* s0/fp */
    mc->__gregs[9] = 0;                     /* s1 */
    for (int r = 18; r <= 27; r++)          /* s2-s11 */
        mc->__gregs[r] = 0;
#else
    (void)mc;
#endif
}

void *green_arch_init(void *stack_lo, void *stack_top, void (*entry)(void))
{
    uintptr_t top = (uintptr_t)stack_top;
    uintptr_t at = (top - sizeof(ucontext_t)) & ~(uintptr_t)(GREEN_UC_ALIGN - 1);
    ucontext_t *uc = (ucontext_t *)at;

    if (getcontext(uc) != 0)
        abort();
    green_zero_callee_saved(&uc->uc_mcontext);
    uc->uc_link = NULL;
    uc->uc_stack.ss_sp = stack_lo;
    uc->uc_stack.ss_size = (size_t)(at - (uintptr_t)stack_lo);
    uc->uc_stack.ss_flags = 0;
    makecontext(uc, entry, 0);
    return uc;
}
