/* SPDX-License-Identifier: MIT */
/* Guarded stacks (stack_private.c): the pooled private stacks of greenlets, and single
 * guarded mappings for the shared region, the copier and the signal stack. */
#ifndef GREEN_CORE_STACK_PRIVATE_H
#define GREEN_CORE_STACK_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "greenlet.h"

/* Below every stack libgreen maps.  More than a page, so that a large frame of code built
 * without -fstack-clash-protection cannot step over it into the neighbouring mapping; it
 * costs address space only.  overflow.c counts a fault this far below a stack as an
 * overflow. */
#define GREEN_GUARD_BYTES ((size_t)64 * 1024)

struct stack_class;
struct stack_chunk;

/* The thread's part for private stacks. */
struct green_stacks_part {
    struct stack_class *classes; /* one free pool per stack size */
    struct stack_chunk *chunks;  /* every mmap'd chunk of stacks */
};

/* One guarded mapping outside the pool: [guard][size], lo the usable low end. */
struct green_stack_map {
    char *lo; /* NULL while not mapped */
    size_t size, guard;
    unsigned vg_id;      /* valgrind stack id, 0 if not registered */
    bool guard_budgeted; /* the guard was made with mprotect and holds budget */
};

/* Give g (private model, its stack_size set) a stack: [stack_lo, stack_stop).  A no-op if
 * it already has one.  Returns 0, or -1 with errno ENOMEM and a message naming api and g. */
GREEN_HIDDEN int green__stack_acquire(struct green_thread *ts, struct green *g, const char *api);

/* Return g's stack to the pool (no-op without one).  Safe while still running on it: the
 * pool keeps that stack's pages until something else acquires it. */
GREEN_HIDDEN void green__stack_release(struct green_thread *ts, struct green *g);

/* Thread exit: unmap every pooled stack.  No greenlet may still run on one. */
GREEN_HIDDEN void green__stacks_term(struct green_thread *ts);

/* The page size (cached). */
GREEN_HIDDEN size_t green__page_size(void);

/* Map `size` bytes (page multiple) with a guard of `guard` bytes below into *m, registered
 * with valgrind if vg_register.  Returns 0, or -1 with errno (ENOSPC: the guard budget is
 * used up; else what mmap/mprotect said) and *m unmapped. */
GREEN_HIDDEN int green__stack_map(struct green_stack_map *m, size_t size, size_t guard,
                                  bool vg_register);

/* Undo green__stack_map (no-op if not mapped), returning the guard's budget if it held
 * some. */
GREEN_HIDDEN void green__stack_unmap(struct green_stack_map *m);

#endif /* GREEN_CORE_STACK_PRIVATE_H */
