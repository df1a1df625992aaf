/* SPDX-License-Identifier: MIT */
/* Greenlet life cycle, parents, state and names, the trace hook, and the size of the
 * thread's shared stack region. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "records.h"
#include "stack_private.h"
#include "switch.h"
#include "thread.h"

GREEN_API green_t *green_current(void)
{
    struct green_thread *ts = green__thread_get("green_current");
    return ts ? ts->core.current : NULL;
}

GREEN_API green_t *green_main(void)
{
    struct green_thread *ts = green__thread_get("green_main");
    return ts ? &ts->core.main : NULL;
}

static void ref(struct green *g)
{
    if (!(g->flags & GF_MAIN))
        g->refs++;
}

/* Drop a reference; free records nobody refers to any more, and so on up the chain. */
static void unref(struct green_thread *ts, struct green *g)
{
    while (g && !(g->flags & GF_MAIN)) {
        GREEN_ASSERT(g->refs > 0 && g->state != GS_FREE);
        if (--g->refs != 0)
            break;
        struct green *parent = g->parent;
        green__record_free(ts, g);
        g = parent;
    }
}

static int check_same_thread(struct green_thread *ts, struct green *g, const char *api,
                             const char *role)
{
    return g->thread == ts ? 0 : green__refuse_foreign(ts, g, api, role);
}

GREEN_API green_t *green_new(green_fn run, green_t *parent, const green_attr_t *attr)
{
    struct green_thread *ts = green__thread_get("green_new");
    if (!ts)
        return NULL;
    if (!run) {
        green__fail(EINVAL, "green_new", "run is NULL");
        return NULL;
    }
    static const green_attr_t defaults = GREEN_ATTR_INIT;
    if (!attr)
        attr = &defaults;
    if (attr->stack_model != GREEN_STACK_PRIVATE && attr->stack_model != GREEN_STACK_SHARED) {
        green__fail(EINVAL, "green_new", "unknown stack model %d", (int)attr->stack_model);
        return NULL;
    }
    if (!parent)
        parent = ts->core.current;
    green__check(parent, "green_new");
    if (check_same_thread(ts, parent, "green_new", "parent") != 0)
        return NULL;

    size_t page = green__page_size();
    size_t size = attr->stack_size ? attr->stack_size : GREEN_STACK_DEFAULT;
    if (attr->stack_model == GREEN_STACK_PRIVATE && size > GREEN_STACK_MAX) {
        green__fail(EINVAL, "green_new", "stack size %zu is absurd", size);
        return NULL;
    }
    size = (size + page - 1) & ~(page - 1);

    char *name = attr->name ? strdup(attr->name) : NULL;
    struct green *g = attr->name && !name ? NULL : green__record_alloc(ts);
    if (!g) {
        free(name);
        green__fail(ENOMEM, "green_new", "out of memory");
        return NULL;
    }
    set_state(g, GS_NEW);
    g->refs = 1;
    g->thread = ts;
    g->run = run;
    g->name = name;
    g->id = green__next_id(ts);
    g->parent = parent;
    ref(parent);
    if (attr->stack_model == GREEN_STACK_SHARED)
        g->flags |= GF_SHARED;
    else
        g->stack_size = size;
    return g;
}

void green__cancel_start(struct green *g)
{
    GREEN_ASSERT(g->state == GS_NEW);
    set_state(g, GS_DEAD); /* it must never run now */
    g->run = NULL;
    if (!green__is_shared(g))
        green__stack_release(g->thread, g); /* a stack acquired for a start that never came */
}

GREEN_API int green_destroy(green_t *g)
{
    struct green_thread *ts = green__thread_get("green_destroy");
    if (!ts)
        return -1;
    if (!g)
        return green__fail(EINVAL, "green_destroy", "greenlet is NULL");
    if (g->state == GS_FREE || (g->flags & GF_RELEASED))
        green__fatal("green_destroy", "greenlet %p was already destroyed (double destroy)",
                     (void *)g);
    if (check_same_thread(ts, g, "green_destroy", "greenlet") != 0)
        return -1;
    char who[GREEN_DESCRIBE_MAX];
    if (g->flags & GF_MAIN)
        return green__fail(EINVAL, "green_destroy",
                           "%s is a main greenlet; it is released when its thread exits",
                           green__describe(g, who, sizeof who));
    if (g->ext)
        return green__fail(EINVAL, "green_destroy",
                           "%s belongs to the hub: use green_kill() and green_release()",
                           green__describe(g, who, sizeof who));
    if (g == ts->core.current)
        return green__fail(EBUSY, "green_destroy", "%s is the current greenlet",
                           green__describe(g, who, sizeof who));
    if (ts->core.in_trace)
        return green__fail(EBUSY, "green_destroy", "called from inside a trace hook");

    if (g->state == GS_ACTIVE) {
        /* Kill it: its finish comes back here rather than to its parent.  While we wait,
         * another greenlet may destroy g too: hold a reference so the record survives. */
        struct green *self = ts->core.current;
        g->killer = self;
        g->refs++;
        void *ignored;
        int rc = green__transfer(ts, g, GREEN_EXIT, NULL, &ignored, "green_destroy");
        if (g->state == GS_ACTIVE && g->killer == self)
            g->killer = NULL;         /* but leave a later destroyer's claim */
        if (g->flags & GF_RELEASED) { /* destroyed by another greenlet meanwhile */
            unref(ts, g);
            return 0;
        }
        g->refs--; /* the user's reference remains */
        if (g->state != GS_DEAD) {
            if (rc < 0)
                return -1;
            if (rc > 0)
                return green__fail(
                    EINTR, "green_destroy",
                    "the caller was thrown error %d while %s was being killed; it is still alive",
                    rc, green__describe(g, who, sizeof who));
            return green__fail(EBUSY, "green_destroy",
                               "%s did not die when killed (it switched away instead of finishing)",
                               green__describe(g, who, sizeof who));
        }
    } else if (g->state == GS_NEW) {
        green__cancel_start(g);
    }
    set_flags(g, g->flags | GF_RELEASED);
    unref(ts, g);
    return 0;
}

void green__release(struct green *g)
{
    GREEN_ASSERT(g->thread == green__tls && g != g->thread->core.current &&
                 !(g->flags & (GF_MAIN | GF_RELEASED)) && g->state != GS_ACTIVE);
    if (g->state == GS_NEW)
        green__cancel_start(g);
    set_flags(g, g->flags | GF_RELEASED);
    unref(g->thread, g);
}

/* ---- parents ----------------------------------------------------------------------- */

GREEN_API green_t *green_parent(const green_t *g)
{
    if (!g)
        return NULL;
    struct green *p = green__check(g, "green_parent")->parent;
    while (p && (p->flags & GF_RELEASED)) /* destroyed by the user: its handle is gone */
        p = p->parent;
    return p;
}

GREEN_API int green_set_parent(green_t *g, green_t *parent)
{
    struct green_thread *ts = green__thread_get("green_set_parent");
    if (!ts)
        return -1;
    if (!g || !parent)
        return green__fail(EINVAL, "green_set_parent", "%s is NULL",
                           g ? "the parent" : "the greenlet");
    green__check(g, "green_set_parent");
    green__check(parent, "green_set_parent");
    if (check_same_thread(ts, g, "green_set_parent", "greenlet") != 0 ||
        check_same_thread(ts, parent, "green_set_parent", "parent") != 0)
        return -1;
    if (ts->core.in_trace)
        return green__fail(EBUSY, "green_set_parent", "cannot reparent from inside a trace hook");
    char who[GREEN_DESCRIBE_MAX], p[GREEN_DESCRIBE_MAX];
    if (g->flags & GF_MAIN)
        return green__fail(EINVAL, "green_set_parent", "%s is a main greenlet, which has no parent",
                           green__describe(g, who, sizeof who));
    for (struct green *a = parent; a; a = a->parent)
        if (a == g)
            return green__fail(ELOOP, "green_set_parent",
                               "making %s the parent of %s would create a cyclic parent chain",
                               green__describe(parent, p, sizeof p),
                               green__describe(g, who, sizeof who));
    struct green *old = g->parent;
    ref(parent);
    g->parent = parent;
    unref(ts, old);
    return 0;
}

/* ---- state and names ------------------------------------------------------------- */

GREEN_API int green_state(const green_t *cg)
{
    if (!cg)
        return green__fail(EINVAL, "green_state", "greenlet is NULL");
    const struct green *g = green__check(cg, "green_state");
    int state = __atomic_load_n(&g->state, __ATOMIC_RELAXED);
    unsigned bits = 0;
    if (state != GS_NEW)
        bits |= GREEN_STARTED;
    if (state == GS_ACTIVE)
        bits |= GREEN_ACTIVE;
    if (state == GS_DEAD)
        bits |= GREEN_DEAD;
    int flags = __atomic_load_n(&g->flags, __ATOMIC_RELAXED);
    if (flags & GF_MAIN)
        bits |= GREEN_MAIN;
    if (flags & GF_SHARED)
        bits |= GREEN_SHARED;
    /* (a dying greenlet is marked dead just before it hands control on) */
    if (state != GS_DEAD && __atomic_load_n(&g->thread->core.current, __ATOMIC_RELAXED) == g)
        bits |= GREEN_CURRENT;
    return (int)bits;
}

GREEN_API uint64_t green_id(const green_t *g) { return g ? green__check(g, "green_id")->id : 0; }

GREEN_API const char *green_name(const green_t *cg)
{
    if (!cg)
        return NULL;
    const struct green *g = green__check(cg, "green_name");
    if (!g->name && (g->flags & GF_MAIN))
        return "main";
    return g->name;
}

GREEN_API int green_set_name(green_t *g, const char *name)
{
    struct green_thread *ts = green__thread_get("green_set_name");
    if (!ts)
        return -1;
    if (!g)
        return green__fail(EINVAL, "green_set_name", "greenlet is NULL");
    green__check(g, "green_set_name");
    if (check_same_thread(ts, g, "green_set_name", "greenlet") != 0)
        return -1;
    char *copy = NULL;
    if (name && !(copy = strdup(name)))
        return green__fail(ENOMEM, "green_set_name", "out of memory");
    free(g->name);
    g->name = copy;
    return 0;
}

GREEN_API int green_settrace(green_trace_fn fn, void *arg, green_trace_fn *old_fn, void **old_arg)
{
    struct green_thread *ts = green__thread_get("green_settrace");
    if (!ts)
        return -1;
    if (old_fn)
        *old_fn = ts->core.trace;
    if (old_arg)
        *old_arg = ts->core.trace_arg;
    ts->core.trace = fn;
    ts->core.trace_arg = fn ? arg : NULL;
    green__fast_path_update(ts);
    return 0;
}

GREEN_API int green_set_shared_stack_size(size_t bytes)
{
    struct green_thread *ts = green__thread_get("green_set_shared_stack_size");
    if (!ts)
        return -1;
    if (bytes < GREEN_SHARED_STACK_MIN || bytes > GREEN_SHARED_STACK_MAX)
        return green__fail(EINVAL, "green_set_shared_stack_size",
                           "%zu bytes is outside [64 KiB, 2 GiB]", bytes);
    if (ts->shared.any_mapped)
        return green__fail(EBUSY, "green_set_shared_stack_size",
                           "this thread's shared stack regions already exist");
    size_t page = green__page_size();
    ts->shared.size = (bytes + page - 1) & ~(page - 1);
    return 0;
}

GREEN_API int green_set_shared_stacks(unsigned count)
{
    struct green_thread *ts = green__thread_get("green_set_shared_stacks");
    if (!ts)
        return -1;
    if (count < 1 || count > GREEN_SHARED_STACKS_MAX)
        return green__fail(EINVAL, "green_set_shared_stacks", "%u regions is outside [1, %u]",
                           count, GREEN_SHARED_STACKS_MAX);
    if (ts->shared.any_mapped)
        return green__fail(EBUSY, "green_set_shared_stacks",
                           "this thread's shared stack regions already exist");
    ts->shared.count = count;
    ts->shared.next = 0;
    return 0;
}
