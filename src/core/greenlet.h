/* SPDX-License-Identifier: MIT */
/* The greenlet record: what libgreen keeps per greenlet, and its life states.
 *
 * Field names follow greenlet's PyGreenlet (stack_start, stack_stop, stack_copy,
 * stack_saved, stack_prev), so the slicing code in stack_shared.c reads like the original.
 */
#ifndef GREEN_CORE_GREENLET_H
#define GREEN_CORE_GREENLET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "green/core.h"
#include "sanitize_fields.h"

/* Life states.  FREE marks a released slot, so stale handles are caught. */
enum green_life {
    GS_FREE = 0,
    GS_NEW,    /* created, never run */
    GS_ACTIVE, /* started, not dead: running or suspended */
    GS_DEAD,   /* finished, or killed/released before it could start */
};

enum green_flag {
    GF_MAIN = 0x1,     /* the thread's main greenlet (embedded in struct green_thread) */
    GF_SHARED = 0x2,   /* shared stack model */
    GF_RELEASED = 0x4, /* green_destroy() dropped the user's reference */
};

struct green_thread;

struct green {
    /* First, so that a released slot keeps a readable state even when the rest of it is
     * poisoned for ASAN (records.c). */
    uint8_t state; /* enum green_life; atomic stores (set_state) */
    uint8_t flags; /* enum green_flag */
    uint8_t region; /* shared: 1 + the index of its region (stack_shared.c), 0 until placed */
    uint8_t reserved;
    uint32_t refs; /* the user's handle + one per child naming this greenlet as parent */

    /* The saved stack pointer while suspended: green_arch_switch writes it.  For a shared
     * greenlet it is also the low end of its stack data (minus GREEN_ARCH_SP_SLACK). */
    char *stack_start;
    /* High end of this greenlet's stack data: the top of its private stack, or, for a shared
     * greenlet, the address it started at in the shared region. */
    char *stack_stop;
    union {
        struct {                  /* shared stack model */
            char *stack_copy;     /* heap copy of the lowest stack_saved bytes */
            uint32_t stack_saved; /* bytes currently held in stack_copy */
            uint32_t copy_size;   /* capacity of stack_copy */
        };
        struct {               /* private stack model */
            char *stack_lo;    /* lowest usable address (the guard is below) */
            size_t stack_size; /* usable bytes */
        };
    };
    /* Shared: next older greenlet with data in the region.  Free slots: the free list. */
    struct green *stack_prev;

    struct green *parent;
    struct green_thread *thread;
    union {
        green_fn run;         /* until started */
        struct green *killer; /* once started: the greenlet in green_destroy() waiting for
                                 this one to die, or the joiner the hub hands its end to
                                 (src/hub/death_handoff.c), which receives its finish; or
                                 NULL */
    };
    uint64_t id;
    char *name;
    void *ext; /* the hub's state for this greenlet (src/hub: a task), NULL for plain ones */
    GREEN_SAN_RECORD_FIELDS
};

/* A released slot's state byte stays readable under ASAN (records.c poisons the rest), and
 * ten million suspended greenlets must fit in 2.5 GB: keep the record at 96 bytes. */
_Static_assert(offsetof(struct green, state) == 0, "state must stay first");
_Static_assert(offsetof(struct green, stack_start) == 8, "records.c poisons from stack_start");
#ifndef GREEN_SAN_ANY
_Static_assert(sizeof(struct green) == 96, "the greenlet record grew");
#endif

/* The bytes of a released slot that ASAN may poison: all but the state word. */
#define GREEN_RECORD_POISON_FROM offsetof(struct green, stack_start)

static inline bool green__is_shared(const struct green *g) { return (g->flags & GF_SHARED) != 0; }

/* Only the owning thread changes a greenlet's state and flags, but green_state() may read
 * them from any thread: the stores are atomic (relaxed, which is a plain store on every CPU
 * we support). */
static inline void set_state(struct green *g, enum green_life state)
{
    __atomic_store_n(&g->state, (uint8_t)state, __ATOMIC_RELAXED);
}

static inline void set_flags(struct green *g, unsigned flags)
{
    __atomic_store_n(&g->flags, (uint8_t)flags, __ATOMIC_RELAXED);
}

/* g (never started, of the calling thread) will never run: it is dead from now on, and its
 * stack, if one was acquired for the start, goes back.  For the hub, whose kill of an
 * unstarted task must show as GREEN_DEAD at once (green_destroy does the same). */
GREEN_HIDDEN void green__cancel_start(struct green *g);

/* green_destroy of g (of the calling thread, dead or never started, not current, not a main
 * greenlet, not destroyed yet) without the checks a call from the program needs: for the
 * hub, which frees a dead task's greenlet at every spawn + join. */
GREEN_HIDDEN void green__release(struct green *g);

#endif /* GREEN_CORE_GREENLET_H */
