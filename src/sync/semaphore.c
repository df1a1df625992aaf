/* SPDX-License-Identifier: MIT */
/* Semaphore, BoundedSemaphore and Lock: gevent._semaphore and gevent.lock.
 *
 * release() never hands a unit to a waiter: it only counts it and queues the notifier,
 * which wakes waiters in order while units remain; each woken waiter takes its unit when
 * it resumes.  Anyone acquiring before that takes the unit first (barging), as in gevent.
 * A Lock is a bounded semaphore of one unit that remembers its owner.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "linkable.h"
#include "locks.h"

struct green_sem {
    struct green_linkable l;
    unsigned counter, initial;
    bool bounded;
};

static bool sem_ready(const struct green_linkable *l)
{
    return ((const struct green_sem *)l)->counter > 0;
}

static void sem_init(struct green_sem *s, struct green_hub_part *h, unsigned value, bool bounded)
{
    green__linkable_init(&s->l, h, sem_ready, false);
    s->counter = s->initial = value;
    s->bounded = bounded;
}

GREEN_API green_sem_t *green_sem_new(unsigned value, bool bounded)
{
    struct green_hub_part *h = green__hub_get("green_sem_new");
    if (!h)
        return NULL;
    struct green_sem *s = malloc(sizeof *s);
    if (!s) {
        green__fail(ENOMEM, "green_sem_new", "out of memory");
        return NULL;
    }
    sem_init(s, h, value, bounded);
    return s;
}

GREEN_API int green_sem_destroy(green_sem_t *s)
{
    if (!green__sync_owned_here(s, s ? s->l.h : NULL, "green_sem_destroy"))
        return -1;
    if (!green__linkable_idle(&s->l))
        return green__fail(EBUSY, "green_sem_destroy", "greenlets are waiting on the semaphore");
    green__linkable_free(&s->l);
    return 0;
}

/* Inline in both acquires, with the wait path (linkable.h says why). */
static inline __attribute__((always_inline)) int sem_acquire(struct green_sem *s, double timeout,
                                                             const char *api)
{
    if (s->counter > 0) {
        s->counter--;
        return 0;
    }
    if (green__timeout_check(timeout, api) < 0)
        return -1;
    int rc = green__linkable_wait_inline(&s->l, false, timeout, api); /* no unit: not ready */
    if (rc == 0)
        return green__fail(ETIMEDOUT, api, "no unit became free in time");
    if (rc < 0)
        return -1;
    GREEN_ASSERT(s->counter > 0);
    s->counter--;
    return 0;
}

static int sem_release(struct green_sem *s, const char *api)
{
    if (s->bounded && s->counter >= s->initial)
        return green__fail(EOVERFLOW, api, "semaphore released too many times");
    s->counter++;
    green__linkable_check(&s->l);
    return 0;
}

GREEN_API int green_sem_acquire(green_sem_t *s, double timeout)
{
    if (!green__sync_owner(s, s ? s->l.h : NULL, "green_sem_acquire"))
        return -1;
    return sem_acquire(s, timeout, "green_sem_acquire");
}

GREEN_API int green_sem_try_acquire(green_sem_t *s)
{
    if (!green__sync_owner(s, s ? s->l.h : NULL, "green_sem_try_acquire"))
        return -1;
    if (s->counter == 0)
        return green__fail(EAGAIN, "green_sem_try_acquire", "no unit is free");
    s->counter--;
    return 0;
}

GREEN_API int green_sem_release(green_sem_t *s)
{
    if (!green__sync_owner(s, s ? s->l.h : NULL, "green_sem_release"))
        return -1;
    return sem_release(s, "green_sem_release");
}

GREEN_API unsigned green_sem_value(const green_sem_t *s) { return s ? s->counter : 0; }

/* ---- Lock ---------------------------------------------------------------------------- */

struct green_lock {
    struct green_sem s;
    uint64_t owner; /* the holder's id, 0: none (ids are never reused, records are) */
};

GREEN_API green_lock_t *green_lock_new(void)
{
    struct green_hub_part *h = green__hub_get("green_lock_new");
    if (!h)
        return NULL;
    struct green_lock *l = malloc(sizeof *l);
    if (!l) {
        green__fail(ENOMEM, "green_lock_new", "out of memory");
        return NULL;
    }
    sem_init(&l->s, h, 1, true);
    l->owner = 0;
    return l;
}

GREEN_API int green_lock_destroy(green_lock_t *l)
{
    if (!green__sync_owned_here(l, l ? l->s.l.h : NULL, "green_lock_destroy"))
        return -1;
    if (l->owner || !green__linkable_idle(&l->s.l))
        return green__fail(EBUSY, "green_lock_destroy", "the lock is held or waited on");
    green__linkable_free(&l->s.l); /* first member of the lock's first member */
    return 0;
}

static uint64_t current_of(const struct green_lock *l) { return l->s.l.h->ts->core.current->id; }

GREEN_API int green_lock_acquire(green_lock_t *l, double timeout)
{
    const char *api = "green_lock_acquire";
    if (!green__sync_owner(l, l ? l->s.l.h : NULL, api))
        return -1;
    if (l->owner == current_of(l))
        return green__fail(EDEADLK, api, "the calling greenlet already holds the lock");
    if (sem_acquire(&l->s, timeout, api) < 0)
        return -1;
    l->owner = current_of(l);
    return 0;
}

GREEN_API int green_lock_try_acquire(green_lock_t *l)
{
    if (!green__sync_owner(l, l ? l->s.l.h : NULL, "green_lock_try_acquire"))
        return -1;
    if (l->s.counter == 0)
        return green__fail(EAGAIN, "green_lock_try_acquire", "the lock is held");
    l->s.counter--;
    l->owner = current_of(l);
    return 0;
}

GREEN_API int green_lock_release(green_lock_t *l)
{
    const char *api = "green_lock_release";
    if (!green__sync_owner(l, l ? l->s.l.h : NULL, api))
        return -1;
    if (l->owner != current_of(l))
        return green__fail(EPERM, api, "the calling greenlet does not hold the lock");
    l->owner = 0;
    return sem_release(&l->s, api);
}

/* ---- for Condition (locks.h) --------------------------------------------------------- */

bool green__lock_owned(const struct green_lock *l) { return l->owner == current_of(l); }

struct green_hub_part *green__lock_hub(const struct green_lock *l) { return l->s.l.h; }
