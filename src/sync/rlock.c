/* SPDX-License-Identifier: MIT */
/* RLock: gevent.lock.RLock — a Semaphore(1) (not bounded), the greenlet that owns it and
 * how many times it acquired it.  The owner's acquire only counts; everyone else goes
 * through the semaphore, with its rules (barging, waiters woken in order while the unit
 * is free: semaphore.c). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "locks.h"

struct green_rlock {
    struct green_linkable l; /* first: the ready function gets the lock */
    unsigned units;          /* the semaphore's counter: 1 free, 0 taken */
    uint64_t owner; /* the holder's id, 0: none (ids are never reused, records are) */
    unsigned count;
};

static bool rlock_ready(const struct green_linkable *l)
{
    return ((const struct green_rlock *)l)->units > 0;
}

static uint64_t current_of(const struct green_rlock *l) { return l->l.h->ts->core.current->id; }

GREEN_API green_rlock_t *green_rlock_new(void)
{
    struct green_hub_part *h = green__hub_get("green_rlock_new");
    if (!h)
        return NULL;
    struct green_rlock *l = calloc(1, sizeof *l);
    if (!l) {
        green__fail(ENOMEM, "green_rlock_new", "out of memory");
        return NULL;
    }
    green__linkable_init(&l->l, h, rlock_ready, false);
    l->units = 1;
    return l;
}

GREEN_API int green_rlock_destroy(green_rlock_t *l)
{
    if (!green__sync_owned_here(l, l ? l->l.h : NULL, "green_rlock_destroy"))
        return -1;
    if (green__linkable_doomed(&l->l))
        return green__fail(EINVAL, "green_rlock_destroy", "the lock was destroyed already");
    if (l->owner || !green__linkable_idle(&l->l))
        return green__fail(EBUSY, "green_rlock_destroy", "the lock is held or waited on");
    green__linkable_free(&l->l);
    return 0;
}

static void take(struct green_rlock *l, unsigned count)
{
    GREEN_ASSERT(l->units == 1);
    l->units = 0;
    l->owner = current_of(l);
    l->count = count;
}

/* The semaphore's acquire (semaphore.c's sem_acquire), then ownership. */
static int acquire_unit(struct green_rlock *l, double timeout, unsigned count, const char *api)
{
    if (l->units == 0) {
        int rc = green__linkable_wait(&l->l, timeout, api);
        if (rc == 0)
            return green__fail(ETIMEDOUT, api, "the lock was not released in time");
        if (rc < 0)
            return -1;
    }
    take(l, count);
    return 0;
}

/* The owner's re-entry: only counts. */
static int reenter(struct green_rlock *l, const char *api)
{
    if (l->count == UINT_MAX)
        return green__fail(EOVERFLOW, api, "the lock is held %u times already", l->count);
    l->count++;
    return 0;
}

GREEN_API int green_rlock_acquire(green_rlock_t *l, double timeout)
{
    const char *api = "green_rlock_acquire";
    if (!green__sync_owner(l, l ? l->l.h : NULL, api))
        return -1;
    if (l->owner == current_of(l))
        return reenter(l, api);
    if (green__timeout_check(timeout, api) < 0)
        return -1;
    return acquire_unit(l, timeout, 1, api);
}

GREEN_API int green_rlock_try_acquire(green_rlock_t *l)
{
    const char *api = "green_rlock_try_acquire";
    if (!green__sync_owner(l, l ? l->l.h : NULL, api))
        return -1;
    if (l->owner == current_of(l))
        return reenter(l, api);
    if (l->units == 0)
        return green__fail(EAGAIN, api, "the lock is held");
    take(l, 1);
    return 0;
}

static void give_back(struct green_rlock *l)
{
    l->owner = 0;
    l->count = 0;
    l->units = 1;
    green__linkable_check(&l->l);
}

GREEN_API int green_rlock_release(green_rlock_t *l)
{
    const char *api = "green_rlock_release";
    if (!green__sync_owner(l, l ? l->l.h : NULL, api))
        return -1;
    if (l->owner != current_of(l))
        return green__fail(EPERM, api, "the calling greenlet does not hold the lock");
    if (--l->count == 0)
        give_back(l);
    return 0;
}

GREEN_API bool green_rlock_owned(const green_rlock_t *l)
{
    return l && green__hub_peek() == l->l.h && l->owner == current_of(l);
}

GREEN_API unsigned green_rlock_count(const green_rlock_t *l) { return l ? l->count : 0; }

/* ---- for Condition ------------------------------------------------------------------- */

bool green__rlock_owned(const struct green_rlock *l) { return l->owner == current_of(l); }

unsigned green__rlock_release_save(struct green_rlock *l)
{
    unsigned count = l->count;
    give_back(l);
    return count;
}

int green__rlock_acquire_restore(struct green_rlock *l, unsigned count, const char *api)
{
    return acquire_unit(l, GREEN_FOREVER, count, api);
}

struct green_hub_part *green__rlock_hub(const struct green_rlock *l) { return l->l.h; }
