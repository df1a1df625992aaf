/* SPDX-License-Identifier: MIT */
/* The shared stack model (stack_shared.c): greenlet's stack slicing on a few regions per
 * thread, and the copier context that moves slices.  Owning thread only. */
#ifndef GREEN_CORE_STACK_SHARED_H
#define GREEN_CORE_STACK_SHARED_H

#include <stddef.h>

#include "arch/arch.h"
#include "greenlet.h"
#include "stack_private.h"

/* What a shared greenlet running on the region asks the copier to do: save its slice,
 * make the region ready for target, and deliver (status, value) there. */
struct green_copier_job {
    struct green *origin, *target;
    int status;
    void *value;
    void **result; /* origin's result pointer: given back unchanged if the job fails */
};

/* One shared stack region and the greenlets with data in it: a chain through stack_prev,
 * newest (lowest stack_stop) first.  The greenlet running on the region, if any, is the
 * head. */
struct green_region {
    struct green_stack_map map; /* mapped when the first greenlet is placed in it */
    struct green *head;
};

/* The thread's part for the shared stack model. */
struct green_shared_part {
    size_t size;     /* each region's size, settable until one is mapped */
    unsigned count;  /* regions in use, settable until one is mapped */
    unsigned next;   /* the region the next greenlet not nested in its parent takes */
    bool any_mapped; /* size and count are fixed */
    struct green_region regions[GREEN_SHARED_STACKS_MAX];
    struct green_stack_map copier_stack;
    char *copier_sp; /* the copier's saved stack pointer (with the pivot: its stack's
                        top); NULL until created */
    struct green_copier_job job;
    struct green_arch_jump jump; /* where the pivot goes (stack_shared.c) */
    int copier_errno;            /* errno of a job that failed */
    const char *api; /* the public call of the transfer in progress, for messages (set by
                        the caller of green__shared_transfer) */
};

/* Place target if it is new (choose its region, mapped if need be), and create the copier
 * if origin itself runs on a region: what a transfer from origin to the shared greenlet
 * target needs besides slice buffers.  Returns 0, or -1 with errno ENOMEM (message naming
 * api) and nothing changed but target's place.  Callers use green__shared_ensure
 * (switch.h), which calls this only when something is missing. */
GREEN_HIDDEN int green__shared_ensure_slow(struct green_thread *ts, struct green *origin,
                                           struct green *target, const char *api);

/* g's region (g shared and placed), of its thread's part sp. */
static inline struct green_region *green__region_of(struct green_shared_part *sp,
                                                    const struct green *g)
{
    return &sp->regions[g->region - 1];
}

/* g (shared, started) has all its frames in place and nothing below them: switching to it
 * is a plain switch, as to a private greenlet. */
static inline bool green__shared_resident(struct green_shared_part *sp, const struct green *g)
{
    return green__region_of(sp, g)->head == g && g->stack_saved == 0;
}

/* Switch from origin (the current greenlet) to the shared greenlet target (resolved; NEW
 * targets are started; ts->shared.api names the public call), delivering (status, value) into
 * target's pending switch.  Returns what origin's switch returns when it is resumed, or -1 with
 * errno ENOMEM if the slices target displaces could not be saved: then origin keeps running and
 * nothing moved. */
GREEN_HIDDEN int green__shared_transfer(struct green_thread *ts, struct green *origin,
                                        struct green *target, int status, void *value,
                                        void **result);

/* g (shared) died: it holds nothing in the region any more. */
GREEN_HIDDEN void green__shared_forget(struct green_thread *ts, struct green *g);

/* Thread init and exit. */
GREEN_HIDDEN int green__shared_init(struct green_thread *ts);
GREEN_HIDDEN void green__shared_term(struct green_thread *ts);

#endif /* GREEN_CORE_STACK_SHARED_H */
