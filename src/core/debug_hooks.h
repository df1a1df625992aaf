/* Telling ASAN, TSAN and valgrind that the stack changed under them.
 *
 * All of it compiles to nothing in a normal build.  With -Db_sanitize=address the switch
 * brackets every stack change with __sanitizer_start/finish_switch_fiber; with
 * -Db_sanitize=thread every greenlet is a TSAN fiber; with valgrind headers present, every
 * stack we map is registered (VALGRIND_STACK_REGISTER costs a few no-op instructions when
 * not running under valgrind) and memory we copy into the shared region is made
 * addressable first (memcheck marks popped stack as no-access).
 */
#ifndef GREEN_DEBUG_HOOKS_H
#define GREEN_DEBUG_HOOKS_H

#include <errno.h>

#include "internal.h"

#ifdef GREEN_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef GREEN_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#ifdef GREEN_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif

/* ---- valgrind ----------------------------------------------------------------------- */

/* (On CPUs valgrind does not support, its requests expand to nothing: hence the casts.) */
static inline unsigned vg_stack_register(const void *lo, const void *hi)
{
    (void)lo, (void)hi;
#ifdef GREEN_VALGRIND
    return VALGRIND_STACK_REGISTER(lo, hi);
#else
    return 0;
#endif
}

static inline void vg_stack_deregister(unsigned id)
{
    (void)id;
#ifdef GREEN_VALGRIND
    if (id)
        VALGRIND_STACK_DEREGISTER(id);
#endif
}

/* Memory in the shared region that we are about to overwrite with a saved slice. */
static inline void vg_make_writable(void *p, size_t n)
{
    (void)p, (void)n;
#ifdef GREEN_VALGRIND
    VALGRIND_MAKE_MEM_UNDEFINED(p, n);
#endif
}

/* ---- ASAN --------------------------------------------------------------------------- */

/* Stack frames that are copied, overwritten or abandoned keep ASAN's poisoned redzones in
 * shadow memory; clear them wherever we move stack contents by hand. */
static inline void asan_unpoison(const void *p, size_t n)
{
#ifdef GREEN_ASAN
    __asan_unpoison_memory_region(p, n);
#else
    (void)p, (void)n;
#endif
}

/* Bounds of the stack a context runs on, for __sanitizer_start_switch_fiber. */
static inline void asan_stack_of(const struct green_thread *ts, const struct green *g,
                                 const void **lo, size_t *size)
{
    if (!g) { /* the copier */
        *lo = ts->copier_lo;
        *size = ts->copier_size;
    } else if (g->flags & GF_MAIN) {
#ifdef GREEN_ASAN
        *lo = ts->main_stack_lo;
        *size = ts->main_stack_size;
#else
        *lo = NULL;
        *size = 0;
#endif
    } else if (g->flags & GF_SHARED) {
        *lo = ts->shared_lo;
        *size = ts->shared_size;
    } else {
        *lo = g->stack_lo;
        *size = g->stack_size;
    }
}

/* Where a context keeps its ASAN fake-stack handle while suspended. */
static inline void **asan_fake_slot(struct green_thread *ts, struct green *g)
{
#ifdef GREEN_ASAN
    return g ? &g->asan_fake_stack : &ts->copier_fake_stack;
#else
    (void)ts, (void)g;
    return NULL;
#endif
}

/* Before leaving context `from` (NULL: the copier) for `to`.  A dead greenlet never comes
 * back, so its fake stack is released (NULL save slot). */
static inline void hook_switch_out(struct green_thread *ts, struct green *from,
                                   struct green *to)
{
#ifdef GREEN_ASAN
    const void *lo;
    size_t size;
    asan_stack_of(ts, to, &lo, &size);
    bool gone = from && from->state == GS_DEAD;
    __sanitizer_start_switch_fiber(gone ? NULL : asan_fake_slot(ts, from), lo, size);
#endif
#ifdef GREEN_TSAN
    void *fiber = to ? to->tsan_fiber : ts->copier_fiber;
    if (from && from->state == GS_DEAD && from->tsan_fiber) {
        /* destroyed by whoever runs next: a fiber cannot destroy itself */
        ts->tsan_dead_fiber = from->tsan_fiber;
        from->tsan_fiber = NULL;
    }
    __tsan_switch_to_fiber(fiber, 0);
#endif
    (void)ts, (void)from, (void)to;
}

/* Back in context `self` (NULL: the copier). */
static inline void hook_switch_in(struct green_thread *ts, struct green *self)
{
#ifdef GREEN_ASAN
    const void *old_lo;
    size_t old_size;
    __sanitizer_finish_switch_fiber(*asan_fake_slot(ts, self), &old_lo, &old_size);
    if (ts->asan_dead) {
        /* Its last frames never returned, so their redzones are still poisoned; whoever
         * runs there next must not trip over them. */
        struct green *d = ts->asan_dead;
        ts->asan_dead = NULL;
        __asan_unpoison_memory_region(d->stack_start, (size_t)(d->stack_stop - d->stack_start));
    }
#endif
#ifdef GREEN_TSAN
    if (ts->tsan_dead_fiber) {
        __tsan_destroy_fiber(ts->tsan_dead_fiber);
        ts->tsan_dead_fiber = NULL;
    }
#endif
    (void)ts, (void)self;
}

/* A context entered for the first time has no fake stack yet. */
static inline void hook_first_entry(struct green_thread *ts, struct green *self)
{
#ifdef GREEN_ASAN
    if (self)
        self->asan_fake_stack = NULL;
    else
        ts->copier_fake_stack = NULL;
#endif
    hook_switch_in(ts, self);
}

static inline void hook_context_created(struct green *g)
{
#ifdef GREEN_TSAN
    g->tsan_fiber = __tsan_create_fiber(0);
#else
    (void)g;
#endif
}

/* ---- the switch, with the hooks around it ------------------------------------------ */

#if defined(GREEN_ASAN) || defined(GREEN_TSAN)
#define GREEN_SWITCH_HOOKS 1
#endif

/* Suspend `from` and resume the context whose saved stack pointer is to_sp (`to` for the
 * hooks; NULL is the copier), delivering (status, value).  Returns what from's pending call
 * returns when something resumes it: the status, -1 with errno if the copier failed.
 * Without hooks it is a tail call, so a resumed greenlet returns straight into the code
 * that called green_switch() (see arch.h for why that matters). */
static inline int green_resume(struct green_thread *ts, struct green *from, void *to_sp,
                               struct green *to, int status, void *value, void **result)
{
#ifdef GREEN_SWITCH_HOOKS
    hook_switch_out(ts, from, to);
    status = green_arch_switch((void **)&from->stack_start, to_sp, status, value, result);
    hook_switch_in(ts, from);
    if (status < 0)
        errno = ts->xfer_errno;
    return status;
#else
    (void)ts, (void)to;
    return green_arch_switch((void **)&from->stack_start, to_sp, status, value, result);
#endif
}

#endif /* GREEN_DEBUG_HOOKS_H */
