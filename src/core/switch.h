/* SPDX-License-Identifier: MIT */
/* Transfers of control between greenlets (switch.c), and the one wrapper around the
 * architecture's switch that every path uses. */
#ifndef GREEN_CORE_SWITCH_H
#define GREEN_CORE_SWITCH_H

#include <errno.h>

#include "arch/arch.h"
#include "greenlet.h"
#include "sanitize.h"
#include "stack_shared.h"
#include "thread.h"

/* Suspend `from` (the current context) and resume the context whose saved stack pointer
 * is to_sp (`to` for the sanitizers; NULL is the copier), delivering (status, value).
 * Returns what from's pending call returns when something resumes it: the status, or -1
 * with errno if the copier failed.  The caller has already made `to` current.
 * In a normal build this is a tail call, so a resumed greenlet returns straight into the
 * code that called green_switch() (see arch.h for why that matters). */
static inline int green__resume(struct green_thread *ts, struct green *from, void *to_sp,
                                struct green *to, int status, void *value, void **result)
{
    if (GREEN_SAN_SWITCH) {
        san_switch_out(ts, from, to);
        status = GREEN_ARCH_SWITCH((void **)&from->stack_start, to_sp, status, value, result);
        san_switch_in(ts, from);
        if (status < 0)
            errno = ts->shared.copier_errno; /* the hooks may have clobbered it */
        return status;
    }
    return GREEN_ARCH_SWITCH((void **)&from->stack_start, to_sp, status, value, result);
}

/* green__shared_ensure_slow (stack_shared.h) when target is not placed yet or origin runs
 * on a region and the copier does not exist yet: called twice on every start of a shared
 * greenlet, and once is enough. */
static inline int green__shared_ensure(struct green_thread *ts, struct green *origin,
                                       struct green *target, const char *api)
{
    /* Only a new greenlet is unplaced.  (Testing its state too, gcc reads state and region
     * in one load, which waits for the byte store of a placing just made.) */
    if (!target->region ||
        (green__is_shared(origin) && !ts->shared.copier_sp))
        return green__shared_ensure_slow(ts, origin, target, api);
    return 0;
}

/* Transfer (err, value) from the current greenlet to target, greenlet's way: dead targets
 * pass it to their parent chain, unstarted ones that receive an error die on the way.
 * The general path behind green_switch/green_throw/green_destroy; `api` names the caller
 * in messages.  ts may be NULL (then it is created).  Returns as green_switch() does. */
GREEN_HIDDEN int green__transfer(struct green_thread *ts, struct green *target, int err,
                                 void *value, void **result, const char *api);

/* Where every greenlet starts (green_arch_init's entry): runs the current greenlet's run()
 * with the thread's start_value, then finishes it.  It never returns, but is not declared
 * noreturn: its call of the finish is then a jump (see finish in switch.c). */
GREEN_HIDDEN void green__boot(void);

/* green_switch(g, value, result) for a caller that knows what green_switch's fast path
 * tests: g is started and alive, of this thread (ts, no trace hook set) and not current.
 * Returns as green_switch does.  The fast path itself, and inline for the hub's hand-off
 * (linkable.h), which then switches without those tests and green_switch's call. */
static inline __attribute__((always_inline)) int
green__switch_started(struct green_thread *ts, struct green *g, void *value, void **result)
{
    struct green *cur = ts->core.current;
    GREEN_ASSERT(g->state == GS_ACTIVE && g->thread == ts && g != cur && ts == green__tls_fast);
    if ((g->flags & GF_SHARED) && !green__shared_resident(&ts->shared, g)) {
        ts->shared.api = "green_switch";
        return green__shared_transfer(ts, cur, g, 0, value, result);
    }
    set_current(ts, g);
    return green__resume(ts, cur, g->stack_start, g, 0, value, result);
}

/* green__switch_started into a private or resident shared g, parking the current greenlet (private or shared)
 * with green_arch_park: for the layer above (the hub's waits), which calls this in tail
 * position from the blocking call itself, and so resumes straight in that call's caller
 * with 0 when the switch that resumes it passes (0, token), else with what fail(status)
 * returns for the call (arch.h).  Not in sanitizer builds, whose switch hooks run after
 * the switch in C (GREEN_CORE_PARK 0 there: the caller takes green__switch_started). */
#if GREEN_ARCH_HAS_PARK && !GREEN_SAN_SWITCH
#define GREEN_CORE_PARK 1
static inline __attribute__((always_inline)) int
green__switch_park(struct green_thread *ts, struct green *g, void *value, void **result,
                   const void *token, int (*fail)(int status))
{
    struct green *cur = ts->core.current;
    GREEN_ASSERT(g->state == GS_ACTIVE && g->thread == ts && g != cur && ts == green__tls_fast &&
                 (!(g->flags & GF_SHARED) || green__shared_resident(&ts->shared, g)));
    set_current(ts, g);
    return green_arch_park((void **)&cur->stack_start, g->stack_start, value, result, token,
                           fail);
}
#else
#define GREEN_CORE_PARK 0
#endif

#endif /* GREEN_CORE_SWITCH_H */
