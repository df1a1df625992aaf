/* SPDX-License-Identifier: MIT */
/* Stack overflow diagnostics (overflow.c): a SIGSEGV handler on an alternate stack. */
#ifndef GREEN_CORE_OVERFLOW_H
#define GREEN_CORE_OVERFLOW_H

#include "stack_private.h"

/* The thread's part: its alternate signal stack, if libgreen made one. */
struct green_overflow_part {
    struct green_stack_map altstack;
};

/* Install the process-wide handler (once) and give the thread an alternate signal stack
 * unless it has one.  Never fails: without a stack, overflows still kill the process, just
 * without the message. */
GREEN_HIDDEN int green__overflow_init(struct green_thread *ts);
GREEN_HIDDEN void green__overflow_term(struct green_thread *ts);

#endif /* GREEN_CORE_OVERFLOW_H */
