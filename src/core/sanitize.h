/* SPDX-License-Identifier: MIT */
/* Telling ASAN, TSAN and valgrind that the stack changed under them.
 *
 * All of it compiles to nothing in a normal build.  With -Db_sanitize=address the switch
 * brackets every stack change with __sanitizer_start/finish_switch_fiber; with
 * -Db_sanitize=thread every greenlet is a TSAN fiber; with valgrind headers present, every
 * stack we map is registered (VALGRIND_STACK_REGISTER costs a few no-op instructions when
 * not running under valgrind) and memory we copy into the shared region is made
 * addressable first (memcheck marks popped stack as no-access).  With sanitize_fields.h
 * this is the only file that tests GREEN_ASAN, GREEN_TSAN or GREEN_VALGRIND.
 */
#ifndef GREEN_CORE_SANITIZE_H
#define GREEN_CORE_SANITIZE_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>

#include "thread.h"

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

/* Whether a switch must be bracketed by san_switch_out/san_switch_in (then it cannot be a
 * tail call). */
#ifdef GREEN_SAN_ANY
#define GREEN_SAN_SWITCH 1
#else
#define GREEN_SAN_SWITCH 0
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

#ifdef GREEN_VALGRIND
/* RUNNING_ON_VALGRIND, read once when the library is loaded (sanitize.c).  The client
 * request itself is cheap, but its argument block gave the slice restore, where it sits on
 * every shared switch, a stack frame and a stack-protector check. */
extern bool green__on_valgrind GREEN_HIDDEN;
GREEN_HIDDEN GREEN_COLD void green__vg_make_writable(void *p, size_t n);
#endif

/* Memory in the shared region that we are about to overwrite with a saved slice. */
static inline void vg_make_writable(void *p, size_t n)
{
    (void)p, (void)n;
#ifdef GREEN_VALGRIND
    if (GREEN_UNLIKELY(green__on_valgrind))
        green__vg_make_writable(p, n);
#endif
}

/* ---- records and threads ------------------------------------------------------------ */

/* Stack frames that are copied, overwritten or abandoned keep ASAN's poisoned redzones in
 * shadow memory; clear them wherever we move stack contents by hand. */
static inline void san_unpoison(const void *p, size_t n)
{
#ifdef GREEN_ASAN
    __asan_unpoison_memory_region(p, n);
#else
    (void)p, (void)n;
#endif
}

/* Memory that frames ran on, about to be unmapped.  gcc 12's libasan clears no shadow on
 * munmap or mmap, so redzones left by frames that never returned (a suspended greenlet's,
 * the copier's endless loop) would poison whatever the kernel maps there next: a record
 * slab, a malloc arena, another thread's stacks, which then fault as stack overflows on
 * their first write. */
static inline void san_unmapping(const void *p, size_t n) { san_unpoison(p, n); }

/* A free slot: all but its state word becomes unaddressable, so use after free is caught
 * while double destroy can still be detected. */
static inline void san_poison_free_record(struct green *g)
{
#ifdef GREEN_ASAN
    __asan_poison_memory_region((char *)g + GREEN_RECORD_POISON_FROM,
                                sizeof *g - GREEN_RECORD_POISON_FROM);
#else
    (void)g;
#endif
}

/* A record released at thread exit without dying first. */
static inline void san_record_dropped(struct green *g)
{
#ifdef GREEN_TSAN
    if (g->tsan_fiber)
        __tsan_destroy_fiber(g->tsan_fiber);
    g->tsan_fiber = NULL;
#else
    (void)g;
#endif
}

/* gcc 12's TSAN makes a context's signal record on its first blocking call, with a plain
 * store: a signal that arrives while it is being made is armed in a second record, which
 * the first then overwrites, and the signal is lost (a SIGCHLD so lost left libev's child
 * watchers waiting forever).  So every context makes it with signals blocked, before it
 * runs anything: pthread_kill(self, 0) sends nothing, but its interceptor makes the record;
 * what arrived meanwhile is delivered into that record at the unblock (for a greenlet, the
 * unblock that ends the switch into it: see tsan_switch_block). */
static inline void tsan_signal_record(void)
{
#ifdef GREEN_TSAN
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_kill(pthread_self(), 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
#endif
}

/* TSAN holds a signal that arrives outside a blocking call in the current fiber's record
 * and delivers it when that fiber's next intercepted call returns.  A fiber that switches
 * away first keeps it until it runs again, or forever if it dies or is never resumed: a
 * SIGCHLD that came while main was between its last libc call and its switch to the hub
 * waited in main's record while the hub slept in epoll_wait for it (test_process's TSAN
 * hangs).  So every switch runs with all signals blocked: the blocking call's interceptor
 * delivers what the leaving fiber holds, the kernel keeps what comes during the switch, and
 * the unblock in the entered context (san_switch_in) delivers that into its record. */
#ifdef GREEN_TSAN
static inline void tsan_switch_block(struct green_thread *ts)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &ts->core.tsan_sigmask);
}
#endif

/* The thread's own stack and fiber, which its main greenlet runs on. */
static inline void san_thread_init(struct green_thread *ts)
{
#ifdef GREEN_ASAN
    pthread_attr_t attr;
    void *lo;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &lo, &size) == 0) {
            ts->core.main_stack_lo = lo;
            ts->core.main_stack_size = size;
        }
        pthread_attr_destroy(&attr);
    }
#endif
#ifdef GREEN_TSAN
    ts->core.main.tsan_fiber = __tsan_get_current_fiber();
    tsan_signal_record();
#endif
    (void)ts;
}

static inline void san_context_created(struct green *g)
{
#ifdef GREEN_TSAN
    g->tsan_fiber = __tsan_create_fiber(0);
#else
    (void)g;
#endif
}

static inline void san_copier_created(struct green_thread *ts)
{
#ifdef GREEN_TSAN
    ts->core.copier_fiber = __tsan_create_fiber(0);
#else
    (void)ts;
#endif
}

static inline void san_copier_destroyed(struct green_thread *ts)
{
#ifdef GREEN_TSAN
    __tsan_destroy_fiber(ts->core.copier_fiber);
    ts->core.copier_fiber = NULL;
#else
    (void)ts;
#endif
}

/* A shared greenlet is about to leave the region for good: its last frames never return,
 * so their redzones stay poisoned; the next context clears them (san_switch_in). */
static inline void san_shared_dying(struct green_thread *ts, struct green *g)
{
#ifdef GREEN_ASAN
    ts->core.asan_dead = g;
#else
    (void)ts, (void)g;
#endif
}

/* ---- switches ----------------------------------------------------------------------- */

/* Bounds of the stack a context (NULL: the copier) runs on. */
static inline void asan_stack_of(const struct green_thread *ts, const struct green *g,
                                 const void **lo, size_t *size)
{
    if (!g) {
        *lo = ts->shared.copier_stack.lo;
        *size = ts->shared.copier_stack.size;
    } else if (g->flags & GF_MAIN) {
#ifdef GREEN_ASAN
        *lo = ts->core.main_stack_lo;
        *size = ts->core.main_stack_size;
#else
        *lo = NULL;
        *size = 0;
#endif
    } else if (g->flags & GF_SHARED) {
        const struct green_region *r = &ts->shared.regions[g->region - 1];
        *lo = r->map.lo;
        *size = r->map.size;
    } else {
        *lo = g->stack_lo;
        *size = g->stack_size;
    }
}

/* Before leaving context `from` (NULL: the copier) for `to`.  A dead greenlet never comes
 * back, so its fake stack is released (NULL save slot) and its fiber handed on. */
static inline void san_switch_out(struct green_thread *ts, struct green *from, struct green *to)
{
#ifdef GREEN_ASAN
    const void *lo;
    size_t size;
    asan_stack_of(ts, to, &lo, &size);
    bool gone = from && from->state == GS_DEAD;
    void **fake = from ? &from->asan_fake_stack : &ts->core.copier_fake_stack;
    __sanitizer_start_switch_fiber(gone ? NULL : fake, lo, size);
#endif
#ifdef GREEN_TSAN
    void *fiber = to ? to->tsan_fiber : ts->core.copier_fiber;
    if (from && from->state == GS_DEAD && from->tsan_fiber) {
        ts->core.tsan_dead_fiber = from->tsan_fiber;
        from->tsan_fiber = NULL;
    }
    tsan_switch_block(ts);
    __tsan_switch_to_fiber(fiber, 0);
#endif
    (void)ts, (void)from, (void)to;
}

/* Back in context `self` (NULL: the copier). */
static inline void san_switch_in(struct green_thread *ts, struct green *self)
{
#ifdef GREEN_ASAN
    const void *old_lo;
    size_t old_size;
    void *fake = self ? self->asan_fake_stack : ts->core.copier_fake_stack;
    __sanitizer_finish_switch_fiber(fake, &old_lo, &old_size);
    if (ts->core.asan_dead) {
        struct green *d = ts->core.asan_dead;
        ts->core.asan_dead = NULL;
        __asan_unpoison_memory_region(d->stack_start, (size_t)(d->stack_stop - d->stack_start));
    }
#endif
#ifdef GREEN_TSAN
    if (ts->core.tsan_dead_fiber) {
        __tsan_destroy_fiber(ts->core.tsan_dead_fiber);
        ts->core.tsan_dead_fiber = NULL;
    }
    pthread_sigmask(SIG_SETMASK, &ts->core.tsan_sigmask, NULL); /* see tsan_switch_block */
#endif
    (void)ts, (void)self;
}

/* A context entered for the first time has no fake stack yet. */
static inline void san_first_entry(struct green_thread *ts, struct green *self)
{
    tsan_signal_record();
#ifdef GREEN_ASAN
    if (self)
        self->asan_fake_stack = NULL;
    else
        ts->core.copier_fake_stack = NULL;
#endif
    san_switch_in(ts, self);
}

#endif /* GREEN_CORE_SANITIZE_H */
