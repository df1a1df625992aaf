/* SPDX-License-Identifier: MIT */
/* The only machine-dependent part of libgreen: switching stacks.
 *
 * Each architecture provides, in its own file under src/arch/, two functions and one
 * constant.  Everything else in libgreen is portable C.
 *
 *   int green_arch_switch(void **save_sp, void *load_sp, int status, void *value,
 *                         void **result);
 *       Save the caller's callee-saved registers (the ABI's non-volatile state, including
 *       the callee-saved floating-point control bits) and `result` on the current stack,
 *       store the resulting stack pointer in *save_sp, and switch to the stack load_sp (a
 *       value stored by an earlier green_arch_switch or made by green_arch_init).  There,
 *       restore the registers saved on it; if the `result` pointer saved with them is not
 *       NULL, store `value` through it; and return `status` from that context's own
 *       green_arch_switch call.  Floating-point control registers are reloaded only when
 *       the saved value differs from the current one (loading them is slow on some CPUs).
 *
 *       Why the value is delivered here, not in C after the switch: green_switch() reaches
 *       this function by a tail call, so the resumed context returns straight into the
 *       code that called green_switch().  Any C code between the switch and that return
 *       would end in a `ret` whose return-stack-buffer prediction belongs to the other
 *       context: a mispredict on every switch (~10 ns here, 3x the switch itself).
 *
 *   void *green_arch_init(void *stack_lo, void *stack_top, void (*entry)(void));
 *       Build, just below stack_top, a frame that green_arch_switch can resume: resuming it
 *       calls entry() on this stack with a correctly aligned stack pointer, zeroed
 *       callee-saved registers, a NULL saved result pointer (so no value is stored), the
 *       caller's current floating-point control state and a null return address (so
 *       debuggers stop unwinding there).  entry must not return.
 *       Returns the value to pass as load_sp.  stack_lo is the lowest usable address
 *       (the portable fallback needs it).
 *
 *   int green_arch_switch_pivot(void **save_sp, void *pivot_top, void **result,
 *                               const struct green_arch_jump *(*pivot)(void));
 *       Optional (GREEN_ARCH_HAS_PIVOT; every hand-written switch has it).  Save the
 *       caller's frame exactly as green_arch_switch does (result as its result pointer)
 *       and store its stack pointer in *save_sp; then call pivot() on a stack whose top is
 *       pivot_top (16-byte aligned);
 *       then switch to the jump it returns: its sp, status and value mean what load_sp,
 *       status and value mean to green_arch_switch.  pivot() runs after the caller's
 *       stack is no longer in use, so it may overwrite it: the shared-stack model moves
 *       stack slices there, in one switch where it would otherwise need two (through a
 *       helper context).  Without it, stack_shared.c uses that helper context.
 *
 *   int green_arch_park(void **save_sp, void *load_sp, void *value, void **result,
 *                       const void *token, int (*fail)(int status));
 *       Optional (GREEN_ARCH_HAS_PARK; every hand-written switch has it).
 *       green_arch_switch(save_sp, load_sp, 0, value, result), for a caller that tail-calls
 *       it (C: `return green_arch_park(...)` in a function whose own caller then receives
 *       the result), with what the caller would do after the switch done here instead:
 *       when the saved context is resumed with status 0 and the value token, it returns 0;
 *       with anything else, fail(status) runs in its place (the value already stored
 *       through result) and returns for it.  The suspended frame is green_arch_switch's,
 *       with a resume address of its own and two more slots above it (token, fail), so
 *       every switch resumes it as any other.  Why: the resumed context then lands in its
 *       caller's caller by an indirect jump, whose target the CPU predicts from the branch
 *       history (it alternates between the two sides of a ping-pong), rather than by a
 *       `ret` after the switch, which the return-stack buffer mispredicts every time (see
 *       above).
 *       Without the tail call it is still correct: the caller then returns the result.
 *
 *   GREEN_ARCH_SP_SLACK
 *       Bytes below a saved stack pointer that still belong to the suspended context.
 *       Zero wherever the switch is hand-written; the portable fallback cannot know its
 *       exact stack pointer and reserves a margin.  The shared-stack code saves
 *       [*save_sp - GREEN_ARCH_SP_SLACK, stack_stop).
 *
 *   GREEN_ARCH_OUTERMOST_FRAME()
 *       Used as the first statement of the C function a new context starts in: marks its
 *       return address as undefined in the unwind information (green_arch_init gives it
 *       none), so debuggers and unwinders end the backtrace there instead of showing a
 *       frame at address 0.
 *
 *   GREEN_ARCH_FRAME_BYTES
 *       Size of the frame green_arch_switch leaves at a saved stack pointer (registers,
 *       FP control, result pointer, resume address); 0 for the portable fallback, whose
 *       frame is a ucontext_t of libc's making.  The shared-stack copy treats these lowest
 *       bytes of a slice specially (stack_shared.c), and the gdb extension reads them.
 */
#ifndef GREEN_ARCH_H
#define GREEN_ARCH_H

#include <stddef.h>

#include "base.h"

GREEN_HIDDEN int green_arch_switch(void **save_sp, void *load_sp, int status, void *value,
                                   void **result);
GREEN_HIDDEN void *green_arch_init(void *stack_lo, void *stack_top, void (*entry)(void));

/* Where green_arch_switch_pivot goes after its pivot call (field offsets fixed: the
 * assembly reads them). */
struct green_arch_jump {
    void *sp;
    void *value;
    int status;
};
#if !defined(GREEN_ARCH_PORTABLE)
#define GREEN_ARCH_HAS_PIVOT 1
GREEN_HIDDEN int green_arch_switch_pivot(void **save_sp, void *pivot_top, void **result,
                                         const struct green_arch_jump *(*pivot)(void));
_Static_assert(offsetof(struct green_arch_jump, value) == 8, "jump layout");
_Static_assert(offsetof(struct green_arch_jump, status) == 16, "jump layout");
#else
#define GREEN_ARCH_HAS_PIVOT 0
#endif

#if defined(GREEN_ARCH_PORTABLE)
#define GREEN_ARCH_OUTERMOST_FRAME() ((void)0) /* libc's start trampoline ends unwinding */
#elif defined(__x86_64__)
#define GREEN_ARCH_OUTERMOST_FRAME() __asm__ volatile(".cfi_undefined rip")
#elif defined(__aarch64__)
#define GREEN_ARCH_OUTERMOST_FRAME() __asm__ volatile(".cfi_undefined x30")
#elif defined(__riscv)
#define GREEN_ARCH_OUTERMOST_FRAME() __asm__ volatile(".cfi_undefined ra")
#endif

/* x86-64 has two variants of green_arch_switch (x86_64_sysv.S) with the same frame; one
 * is chosen when the library is loaded (x86_64_select.c) and green_arch_switch jumps to
 * it.  Nothing needs to call these; they exist for tests and benchmarks.
 *   green_arch_select(name): use variant "cmp" or "load", or NULL to measure and choose
 *       as at load time.  Returns 0, or -1 for an unknown name.  Call it only while no
 *       other thread switches.
 *   green_arch_variant(): the name of the variant in use. */
#if defined(__x86_64__) && !defined(GREEN_ARCH_PORTABLE)
#define GREEN_ARCH_VARIANTS 1
GREEN_HIDDEN int green_arch_select(const char *name);
GREEN_HIDDEN const char *green_arch_variant(void);
/* The variant in use: green_arch_switch jumps through it, and the C that switches calls
 * through it directly (GREEN_ARCH_SWITCH), one jump less per switch. */
extern int (*green_arch_switch_impl)(void **, void *, int, void *, void **) GREEN_HIDDEN;
#define GREEN_ARCH_SWITCH green_arch_switch_impl
#else
#define GREEN_ARCH_SWITCH green_arch_switch
#endif

#if !defined(GREEN_ARCH_PORTABLE)
#define GREEN_ARCH_HAS_PARK 1
GREEN_HIDDEN int green_arch_park(void **save_sp, void *load_sp, void *value, void **result,
                                 const void *token, int (*fail)(int status));
#else
#define GREEN_ARCH_HAS_PARK 0
#endif

#ifdef GREEN_ARCH_PORTABLE
#define GREEN_ARCH_SP_SLACK 512
#define GREEN_ARCH_FRAME_BYTES 0
#else
#define GREEN_ARCH_SP_SLACK 0
#if defined(__x86_64__)
#define GREEN_ARCH_FRAME_BYTES 72
#elif defined(__aarch64__)
#define GREEN_ARCH_FRAME_BYTES 192
#elif defined(__riscv) && __riscv_xlen == 64
#define GREEN_ARCH_FRAME_BYTES 224
#else
#error "no hand-written switch for this CPU: configure with -Dswitch=portable"
#endif
#endif

#endif /* GREEN_ARCH_H */
