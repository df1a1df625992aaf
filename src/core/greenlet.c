/* Greenlet life cycle, parents, state and names. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "debug_hooks.h"
#include "internal.h"

GREEN_API green_t *green_current(void)
{
    struct green_thread *ts = green_thread_get();
    return ts ? ts->current : NULL;
}

GREEN_API green_t *green_main(void)
{
    struct green_thread *ts = green_thread_get();
    return ts ? &ts->main : NULL;
}

static void ref(struct green *g)
{
    if (!(g->flags & GF_MAIN))
        g->refs++;
}

/* Drop a reference; free records nobody refers to any more, and so on up the chain. */
static void unref(struct green_thread *ts, struct green *g)
{
    while (g && !(g->flags & GF_MAIN) && --g->refs == 0) {
        struct green *parent = g->parent;
        green_slot_free(ts, g);
        g = parent;
    }
}

static int check_same_thread(struct green_thread *ts, struct green *g, const char *api,
                             const char *role)
{
    if (g->thread == ts)
        return 0;
    char mine[64], theirs[64];
    /* by id only: the owner may be changing the name right now */
    return green_fail(EXDEV, "libgreen: %s: %s id %llu belongs to thread %s, not to the "
                             "calling thread %s",
                      api, role, (unsigned long long)g->id,
                      green_describe_thread(g->thread, theirs, sizeof theirs),
                      green_describe_thread(ts, mine, sizeof mine));
}

GREEN_API green_t *green_new(green_fn run, green_t *parent, const green_attr_t *attr)
{
    struct green_thread *ts = green_thread_get();
    if (!ts)
        return NULL;
    if (!run) {
        green_fail(EINVAL, "libgreen: green_new: run is NULL");
        return NULL;
    }
    static const green_attr_t defaults = GREEN_ATTR_INIT;
    if (!attr)
        attr = &defaults;
    if (attr->stack_model != GREEN_STACK_PRIVATE && attr->stack_model != GREEN_STACK_SHARED) {
        green_fail(EINVAL, "libgreen: green_new: unknown stack model %d", attr->stack_model);
        return NULL;
    }
    if (!parent)
        parent = ts->current;
    green_check(parent, "green_new");
    if (check_same_thread(ts, parent, "green_new", "parent") != 0)
        return NULL;

    size_t page = green_page_size();
    size_t size = attr->stack_size ? attr->stack_size : GREEN_STACK_DEFAULT;
    if (attr->stack_model == GREEN_STACK_PRIVATE && size > ((size_t)1 << 40)) {
        green_fail(EINVAL, "libgreen: green_new: stack size %zu is absurd", size);
        return NULL;
    }
    size = (size + page - 1) & ~(page - 1);

    struct green *g = green_slot_alloc(ts);
    char *name = attr->name ? strdup(attr->name) : NULL;
    if (!g || (attr->name && !name)) {
        free(name);
        if (g)
            green_slot_free(ts, g);
        green_fail(ENOMEM, "libgreen: green_new: out of memory");
        return NULL;
    }
    set_state(g, GS_NEW);
    g->refs = 1;
    g->thread = ts;
    g->run = run;
    g->name = name;
    g->id = green_next_id(ts);
    g->parent = parent;
    ref(parent);
    if (attr->stack_model == GREEN_STACK_SHARED)
        g->flags |= GF_SHARED;
    else
        g->stack_size = size;
    return g;
}

GREEN_API int green_destroy(green_t *g)
{
    struct green_thread *ts = green_thread_get();
    if (!ts)
        return -1;
    if (!g)
        return green_fail(EINVAL, "libgreen: green_destroy: greenlet is NULL");
    if (g->state == GS_FREE || (g->flags & GF_RELEASED))
        green_fatal("libgreen: green_destroy: greenlet %p was already destroyed (double destroy)",
                    (void *)g);
    if (check_same_thread(ts, g, "green_destroy", "greenlet") != 0)
        return -1;
    char who[96];
    if (g->flags & GF_MAIN)
        return green_fail(EINVAL, "libgreen: green_destroy: %s is a main greenlet; it is "
                                  "released when its thread exits",
                          green_describe(g, who, sizeof who));
    if (g == ts->current)
        return green_fail(EBUSY, "libgreen: green_destroy: %s is the current greenlet",
                          green_describe(g, who, sizeof who));
    if (ts->in_trace)
        return green_fail(EBUSY, "libgreen: green_destroy: called from inside a trace hook");

    if (g->state == GS_ACTIVE) {
        /* Kill it: its finish comes back here rather than to its parent.  While we wait,
         * another greenlet may destroy g too: hold a reference so the record survives. */
        struct green *self = ts->current;
        g->finish_to = self;
        g->refs++;
        void *ignored;
        int rc = green_transfer(ts, g, GREEN_EXIT, NULL, &ignored, "green_destroy");
        if (g->state == GS_ACTIVE && g->finish_to == self)
            g->finish_to = NULL; /* but leave a later destroyer's claim */
        if (g->flags & GF_RELEASED) { /* destroyed by another greenlet meanwhile */
            unref(ts, g);
            return 0;
        }
        g->refs--; /* the user's reference remains */
        if (g->state != GS_DEAD) {
            if (rc < 0)
                return -1;
            if (rc > 0)
                return green_fail(EINTR,
                                  "libgreen: green_destroy: the caller was thrown error %d "
                                  "while %s was being killed; it is still alive",
                                  rc, green_describe(g, who, sizeof who));
            return green_fail(EBUSY, "libgreen: green_destroy: %s did not die when killed "
                                     "(it switched away instead of finishing)",
                              green_describe(g, who, sizeof who));
        }
    } else if (g->state == GS_NEW) {
        set_state(g, GS_DEAD); /* it must never run now */
        g->run = NULL;
        if (!green_is_shared(g))
            green_stack_release(ts, g); /* a stack acquired for a start that never came */
    }
    __atomic_store_n(&g->flags, g->flags | GF_RELEASED, __ATOMIC_RELAXED); /* see set_state */
    unref(ts, g);
    return 0;
}

/* ---- parents ----------------------------------------------------------------------- */

GREEN_API green_t *green_parent(const green_t *g)
{
    if (!g)
        return NULL;
    struct green *p = green_check(g, "green_parent")->parent;
    while (p && (p->flags & GF_RELEASED)) /* destroyed by the user: its handle is gone */
        p = p->parent;
    return p;
}

GREEN_API int green_set_parent(green_t *g, green_t *parent)
{
    struct green_thread *ts = green_thread_get();
    if (!ts)
        return -1;
    if (!g || !parent)
        return green_fail(EINVAL, "libgreen: green_set_parent: %s is NULL",
                          g ? "the parent" : "the greenlet");
    green_check(g, "green_set_parent");
    green_check(parent, "green_set_parent");
    if (check_same_thread(ts, g, "green_set_parent", "greenlet") != 0 ||
        check_same_thread(ts, parent, "green_set_parent", "parent") != 0)
        return -1;
    if (ts->in_trace)
        return green_fail(EBUSY, "libgreen: green_set_parent: cannot reparent from inside a "
                                 "trace hook");
    char who[96], p[96];
    if (g->flags & GF_MAIN)
        return green_fail(EINVAL, "libgreen: green_set_parent: %s is a main greenlet, which "
                                  "has no parent",
                          green_describe(g, who, sizeof who));
    for (struct green *a = parent; a; a = a->parent)
        if (a == g)
            return green_fail(ELOOP, "libgreen: green_set_parent: making %s the parent of %s "
                                     "would create a cyclic parent chain",
                              green_describe(parent, p, sizeof p),
                              green_describe(g, who, sizeof who));
    struct green *old = g->parent;
    ref(parent);
    g->parent = parent;
    unref(ts, old);
    return 0;
}

/* ---- state and names ------------------------------------------------------------- */

GREEN_API int green_state(const green_t *cg)
{
    if (!cg) {
        errno = EINVAL;
        return -1;
    }
    const struct green *g = green_check(cg, "green_state");
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
    if (state != GS_DEAD && __atomic_load_n(&g->thread->current, __ATOMIC_RELAXED) == g)
        bits |= GREEN_CURRENT;
    return (int)bits;
}

GREEN_API uint64_t green_id(const green_t *g) { return g ? green_check(g, "green_id")->id : 0; }

GREEN_API const char *green_name(const green_t *cg)
{
    if (!cg)
        return NULL;
    const struct green *g = green_check(cg, "green_name");
    if (!g->name && (g->flags & GF_MAIN))
        return "main";
    return g->name;
}

GREEN_API int green_set_name(green_t *g, const char *name)
{
    struct green_thread *ts = green_thread_get();
    if (!ts)
        return -1;
    if (!g)
        return green_fail(EINVAL, "libgreen: green_set_name: greenlet is NULL");
    green_check(g, "green_set_name");
    if (check_same_thread(ts, g, "green_set_name", "greenlet") != 0)
        return -1;
    char *copy = NULL;
    if (name && !(copy = strdup(name)))
        return green_fail(ENOMEM, "libgreen: green_set_name: out of memory");
    free(g->name);
    g->name = copy;
    return 0;
}

GREEN_API green_trace_fn green_settrace(green_trace_fn fn, void *arg, void **old_arg)
{
    struct green_thread *ts = green_thread_get();
    if (!ts)
        return NULL;
    green_trace_fn old = ts->trace;
    if (old_arg)
        *old_arg = ts->trace_arg;
    ts->trace = fn;
    ts->trace_arg = arg;
    ts->slow = fn != NULL || ts->in_trace;
    return old;
}

GREEN_API int green_set_shared_stack_size(size_t bytes)
{
    struct green_thread *ts = green_thread_get();
    if (!ts)
        return -1;
    if (bytes < 64 * 1024 || bytes > ((size_t)1 << 31))
        return green_fail(EINVAL, "libgreen: green_set_shared_stack_size: %zu bytes is outside "
                                  "[64 KiB, 2 GiB]",
                          bytes);
    if (ts->shared_lo)
        return green_fail(EBUSY, "libgreen: green_set_shared_stack_size: this thread's shared "
                                 "stack region already exists");
    size_t page = green_page_size();
    ts->shared_size = (bytes + page - 1) & ~(page - 1);
    return 0;
}
