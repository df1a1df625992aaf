/* SPDX-License-Identifier: MIT */
/* Switching: greenlet's g_switch, g_initialstub and the finish of a greenlet, in C.
 *
 * A transfer carries either a value (error 0) or an error (> 0) from the current greenlet
 * to a target.  The target is first *resolved* the way greenlet does it: dead greenlets
 * pass the transfer on to their parent, and an unstarted greenlet that receives an error
 * dies without running and passes the error on (GREEN_EXIT turning into a normal finish).
 * The resolved target is then resumed, or started if it never ran.
 *
 * The switch itself delivers (status, value): status is 0 for a value, the error code for a
 * throw, -1 if the copier could not complete a transfer (errno set); the value is stored
 * through the result pointer the resumed greenlet saved when it suspended.  A greenlet
 * being started finds its first value in the thread's start_value instead.
 */
#include <errno.h>
#include <string.h>

#include "error.h"
#include "sanitize.h"
#include "stack_private.h"
#include "stack_shared.h"
#include "switch.h"
#include "thread.h"

/* Report (event, origin, target) to the trace hook, refusing re-entry while it runs. */
static void trace(struct green_thread *ts, green_trace_event_t ev, struct green *origin,
                  struct green *target)
{
    if (!ts->core.trace)
        return;
    ts->core.in_trace = true;
    green__fast_path_update(ts);
    ts->core.trace(ev, origin, target, ts->core.trace_arg);
    ts->core.in_trace = false;
    green__fast_path_update(ts);
}

/* Follow the transfer of *errp to t until it reaches a greenlet that will take it: a live
 * one, or an unstarted one receiving a value.  With commit, unstarted greenlets that die on
 * the way are marked dead and each hop is traced; *originp tracks who hands control on. */
static inline __attribute__((always_inline)) struct green *
resolve(struct green_thread *ts, struct green *t, int *errp, bool commit, struct green **originp)
{
    int err = *errp;
    for (;;) {
        while (t->state == GS_DEAD)
            t = t->parent; /* a main greenlet never dies, so this ends */
        if (t->state != GS_NEW || err == 0)
            break;
        if (commit) {
            trace(ts, GREEN_EVENT_THROW, *originp, t);
            set_state(t, GS_DEAD);
            t->run = NULL;
            if (!green__is_shared(t))
                green__stack_release(ts, t); /* no-op unless a dry run gave it one */
            *originp = t;
        }
        if (err == GREEN_EXIT)
            err = 0;
        t = t->parent;
    }
    *errp = err;
    return t;
}

static void start_private(struct green *t)
{
    t->stack_start = green_arch_init(t->stack_lo, t->stack_stop, green__boot);
    set_state(t, GS_ACTIVE);
    san_context_created(t);
}

/* Hand control to t (resolved, not the current greenlet).  Returns when something switches
 * back to cur, or -1 if t could not be resumed (cur keeps running, nothing moved). */
static inline __attribute__((always_inline)) int switch_to(struct green_thread *ts,
                                                           struct green *cur, struct green *t,
                                                           int err, void *value, void **result,
                                                           const char *api)
{
    GREEN_ASSERT(t != cur && t->thread == ts && (t->state == GS_ACTIVE || t->state == GS_NEW));
    ts->core.start_value = value;
    if (green__is_shared(t)) {
        ts->shared.api = api;
        return green__shared_transfer(ts, cur, t, err, value, result);
    }
    if (t->state == GS_NEW)
        start_private(t);
    set_current(ts, t);
    return green__resume(ts, cur, t->stack_start, t, err, value, result);
}

int green__transfer(struct green_thread *ts, struct green *target, int err, void *value,
                    void **result, const char *api)
{
    if (!ts && !(ts = green__thread_get(api)))
        return -1;
    if (!target)
        return green__fail(EINVAL, api, "the target greenlet is NULL");
    green__check(target, api);
    if (target->thread != ts)
        return green__refuse_foreign(ts, target, api, "target greenlet");
    if (ts->core.in_trace)
        return green__fail(EBUSY, api, "cannot switch from inside a trace hook");

    struct green *cur = ts->core.current;
    if (target->state == GS_DEAD && err == GREEN_EXIT)
        err = 0; /* greenlet: GreenletExit thrown at a dead greenlet is a plain return */

    /* Dry run first: if the receiver needs a stack we cannot get, fail before anything
     * has changed. */
    int final_err = err;
    struct green *t = resolve(ts, target, &final_err, false, NULL);
    bool needs_stack = t != cur && t->state == GS_NEW && !green__is_shared(t);
    if (needs_stack && green__stack_acquire(ts, t, api) != 0)
        return -1;
    if (t != cur && green__is_shared(t) && green__shared_ensure(ts, cur, t, api) != 0)
        return -1;

    struct green *origin = cur;
    t = resolve(ts, target, &err, true, &origin);
    if (t == cur && origin == cur) {
        if (result)
            *result = value;
        return err;
    }
    trace(ts, err ? GREEN_EVENT_THROW : GREEN_EVENT_SWITCH, origin, t);
    if (t == cur) { /* control came back through greenlets that died unstarted */
        if (result)
            *result = value;
        return err;
    }
    return switch_to(ts, cur, t, err, value, result, api);
}

/* ---- the public switch ------------------------------------------------------------ */

/* green_switch's start of g (new, of this thread, no trace hook): green__transfer's path
 * for it without the resolving (an unstarted greenlet receiving a value is the receiver)
 * and the checks its caller made; every hub task starts this way.  Out of line: inlined,
 * it made green_switch save more registers on its fast path (5.4 -> 5.9 ns a switch). */
__attribute__((noinline)) static int start_new(struct green_thread *ts, struct green *g, void *value,
                                               void **result)
{
    struct green *cur = ts->core.current;
    const char *api = "green_switch";
    if (green__is_shared(g) ? green__shared_ensure(ts, cur, g, api) != 0
                            : green__stack_acquire(ts, g, api) != 0)
        return -1;
    return switch_to(ts, cur, g, 0, value, result, api);
}

/* On a 64-byte boundary, as the x86-64 switch variants are (x86_64_sysv.S says why): the
 * fast path and the switch it tail-calls then sit the same way in every program. */
GREEN_API __attribute__((aligned(64))) int green_switch(green_t *g, void *value, void **result)
{
    /* Fast path: a started, live greenlet of this thread, no trace hook.  (A live
     * greenlet's thread is never NULL, so a NULL ts fails the thread test.) */
    struct green_thread *ts = green__tls_fast;
    if (GREEN_LIKELY(g && g->state == GS_ACTIVE && g->thread == ts && g != ts->core.current))
        return green__switch_started(ts, g, value, result);
    if (g && g->state == GS_NEW && g->thread == ts)
        return start_new(ts, g, value, result);
    return green__transfer(green__tls, g, 0, value, result, "green_switch");
}

GREEN_API int green_throw(green_t *g, int error, void *payload, void **result)
{
    if (error <= 0)
        return green__fail(EINVAL, "green_throw", "the error must be positive (got %d)", error);
    return green__transfer(green__tls, g, error, payload, result, "green_throw");
}

/* ---- starting and finishing ------------------------------------------------------- */

/* finish never returns, but is not declared so (noipa: nor found so by gcc): green__boot's
 * call to it is then a jump.  A call would leave its return address on the CPU's
 * return-stack buffer under the final switch's, and the greenlet that switch resumes would
 * mispredict one more return up its own call chain (two per spawn + join: the joiner's
 * green_switch and green_join). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((noipa))
#endif
static void finish(struct green_thread *ts, struct green *g, int err, void *value);

/* Nothing is kept in registers across run(): the state is found again afterwards, so
 * this frame — part of every suspended shared greenlet's saved slice — stays minimal. */
void green__boot(void)
{
    GREEN_ARCH_OUTERMOST_FRAME();
    san_first_entry(green__tls, green__tls->core.current);
    green_fn run = green__tls->core.current->run;
    green__tls->core.current->killer = NULL;
    void *r = run(green__tls->core.start_value);
    finish(green__tls, green__tls->core.current, 0, r); /* a sibling call: see finish */
}

/* The greenlet g ends with (err, value): it is dead, and the transfer goes to whoever is
 * waiting to destroy it, else to its parent chain. */
static void finish(struct green_thread *ts, struct green *g, int err, void *value)
{
    GREEN_ASSERT(g == ts->core.current && g->state == GS_ACTIVE && !(g->flags & GF_MAIN));
    if (err == GREEN_EXIT)
        err = 0;
    struct green *dest = g->killer ? g->killer : g->parent;
    g->killer = NULL;
    set_state(g, GS_DEAD);
    ts->core.finished = g;
    if (green__is_shared(g))
        green__shared_forget(ts, g);

    /* A receiver that must be started needs a stack; if there is none, it is thrown
     * ENOMEM instead (so it dies unstarted and the error travels on up). */
    struct green *t;
    for (;;) {
        int e = err;
        t = resolve(ts, dest, &e, false, NULL);
        if (t->state != GS_NEW || green__is_shared(t) || green__stack_acquire(ts, t, NULL) == 0)
            break;
        err = ENOMEM;
        value = NULL;
    }
    struct green *origin = g;
    t = resolve(ts, dest, &err, true, &origin);
    trace(ts, err ? GREEN_EVENT_THROW : GREEN_EVENT_SWITCH, origin, t);
    /* Safe while still running on it: nothing can take it from the pool before we leave. */
    if (!green__is_shared(g))
        green__stack_release(ts, g);
    else
        san_shared_dying(ts, g);
    switch_to(ts, g, t, err, value, NULL, NULL);
    /* t could not be resumed (no memory to save shared-stack slices).  The main greenlet
     * never needs memory to be resumed: it gets the failure instead of the process. */
    if (t != &ts->core.main) {
        trace(ts, GREEN_EVENT_THROW, g, &ts->core.main);
        switch_to(ts, g, &ts->core.main, ENOMEM, NULL, NULL, NULL);
    }
    char who[GREEN_DESCRIBE_MAX], to[96];
    green__fatal(NULL, "greenlet %s finished but its receiver %s could not be resumed: %s",
                 green__describe(g, who, sizeof who), green__describe(t, to, sizeof to),
                 green_last_error());
}

GREEN_API int green_exit(int error, void *value)
{
    struct green_thread *ts = green__thread_get("green_exit");
    if (!ts)
        return -1;
    if (error < 0)
        return green__fail(EINVAL, "green_exit", "the error must be >= 0 (got %d)", error);
    if (ts->core.in_trace)
        return green__fail(EBUSY, "green_exit", "called from inside a trace hook");
    if (ts->core.current->flags & GF_MAIN)
        return green__fail(EPERM, "green_exit", "the main greenlet cannot exit");
    finish(ts, ts->core.current, error, value);
    __builtin_unreachable();
}
