/* SPDX-License-Identifier: MIT */
/* Condition: threading.Condition as it runs under gevent's monkey patching.
 *
 * There each waiter blocks on a fresh gevent Lock of its own, and notify() releases the
 * first n of those locks: every release queues that lock's notifier, which wakes its one
 * waiter.  So a notified waiter's wake-up is one queued callback, queued by notify() in
 * waiter order; here that callback is the waiter's task's own wake-up (the one sleep(0)
 * uses), which it cannot need while it waits here.  Woken, a waiter takes the lock back
 * (threading's _acquire_restore: RLock restores its count), waiting in the lock's line.
 *
 * Taking the lock back must not fail half-way, or callers could not know whether they
 * hold it: a kill or a scoped timeout that lands while retaking is remembered, the retake
 * goes on, and the error is reported with the lock held.  Only LoopExit (nothing can ever
 * release the lock) gives up, reported as ENOLCK.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "locks.h"

struct green_cond {
    struct green_hub_part *h;
    green_lock_t *lock; /* exactly one of lock, rlock */
    green_rlock_t *rlock;
    struct green_link_list waiters; /* not yet notified, in the order they came */
    size_t nwaiters;
    size_t inside; /* greenlets in green_cond_wait, notified or not */
};

static green_cond_t *cond_new(const void *obj, struct green_hub_part *lock_hub, green_lock_t *lock,
                              green_rlock_t *rlock, const char *api)
{
    if (!green__sync_owner(obj, lock_hub, api))
        return NULL;
    struct green_cond *c = calloc(1, sizeof *c);
    if (!c) {
        green__fail(ENOMEM, api, "out of memory");
        return NULL;
    }
    c->h = lock_hub;
    c->lock = lock;
    c->rlock = rlock;
    return c;
}

GREEN_API green_cond_t *green_cond_new(green_lock_t *l)
{
    return cond_new(l, l ? green__lock_hub(l) : NULL, l, NULL, "green_cond_new");
}

GREEN_API green_cond_t *green_cond_new_rlock(green_rlock_t *rl)
{
    return cond_new(rl, rl ? green__rlock_hub(rl) : NULL, NULL, rl, "green_cond_new_rlock");
}

GREEN_API int green_cond_destroy(green_cond_t *c)
{
    if (!green__sync_owned_here(c, c ? c->h : NULL, "green_cond_destroy"))
        return -1;
    if (c->inside)
        return green__fail(EBUSY, "green_cond_destroy", "greenlets are waiting on the condition");
    free(c);
    return 0;
}

static bool owned(const struct green_cond *c)
{
    return c->rlock ? green__rlock_owned(c->rlock) : green__lock_owned(c->lock);
}

/* _release_save: the lock's count (1 for a Lock). */
static unsigned release_save(struct green_cond *c)
{
    if (c->rlock)
        return green__rlock_release_save(c->rlock);
    int rc = green_lock_release(c->lock);
    GREEN_ASSERT(rc == 0);
    (void)rc;
    return 1;
}

/* _acquire_restore, as the file comment says.  Returns 0, or -1 with errno: ENOLCK (lock
 * not held: the retake met LoopExit), or the first error that landed meanwhile (lock
 * held). */
static int acquire_restore(struct green_cond *c, struct green_task *self, unsigned count,
                           const char *api)
{
    bool killed = self->killed;
    int first = 0;
    for (;;) {
        self->killed = false; /* a killed greenlet's calls would fail at once */
        int rc = c->rlock ? green__rlock_acquire_restore(c->rlock, count, api)
                          : green_lock_acquire(c->lock, GREEN_FOREVER);
        int e = errno;
        killed = killed || self->killed;
        if (rc == 0)
            break;
        if (e == EDEADLK) {
            self->killed = killed;
            return green__fail(ENOLCK, api,
                               "the lock can never be taken back: nothing is left to run");
        }
        if (!first)
            first = e;
    }
    self->killed = killed;
    if (first == ETIMEDOUT)
        return green__fail(ETIMEDOUT, api, "timed out (the lock was taken back)");
    if (first == ECANCELED)
        return green__fail(ECANCELED, api, "being killed (the lock was taken back)");
    if (first)
        return green__fail(first, api, "interrupted (the lock was taken back)");
    return 0;
}

GREEN_API int green_cond_wait(green_cond_t *c, double timeout)
{
    const char *api = "green_cond_wait";
    if (!green__sync_owner(c, c ? c->h : NULL, api))
        return -1;
    if (!green__timeout_valid(timeout))
        return green__fail(EINVAL, api, "the timeout is NaN");
    struct green_task *self = green__hub_self(c->h, api);
    if (!self)
        return -1;
    if (!owned(c))
        return green__fail(EPERM, api, "the calling greenlet does not hold the lock");
    struct green_timeout *own = NULL;
    if (timeout >= 0 && !(own = green__timeout_start(c->h, timeout, api)))
        return -1;
    c->inside++;
    link_append(&c->waiters, &self->wait);
    c->nwaiters++;
    unsigned count = release_save(c);
    int rc = green__hub_block(c->h, self, &self->wake, api);
    int e = errno;
    if (rc < 0) {
        if (self->wait.list) { /* never notified */
            link_remove(&self->wait);
            c->nwaiters--;
        }
        green__callback_cancel(c->h, &self->wake); /* notified: the notification is lost */
    }
    bool own_expired = rc < 0 && e == ETIMEDOUT && self->fired == own;
    green__timeout_end(c->h, own);
    int rr = acquire_restore(c, self, count, api);
    int re = errno;
    c->inside--;
    if (rr < 0 && (re == ENOLCK || rc == 0)) {
        errno = re;
        return -1;
    }
    if (own_expired)
        return green__fail(ETIMEDOUT, api, "not notified in time");
    if (rc < 0) {
        errno = e;
        return -1;
    }
    return 0;
}

static int notify(green_cond_t *c, size_t n, bool all, const char *api)
{
    if (!green__sync_owner(c, c ? c->h : NULL, api))
        return -1;
    if (!owned(c))
        return green__fail(EPERM, api, "the calling greenlet does not hold the lock");
    if (all)
        n = c->nwaiters;
    for (; n > 0 && !link_list_empty(&c->waiters); n--) {
        struct green_task *t = green__task_of_wait(link_pop_front(&c->waiters));
        c->nwaiters--;
        green__callback_queue(c->h, &t->wake);
    }
    return 0;
}

GREEN_API int green_cond_notify(green_cond_t *c, size_t n)
{
    return notify(c, n, false, "green_cond_notify");
}

GREEN_API int green_cond_notify_all(green_cond_t *c)
{
    return notify(c, 0, true, "green_cond_notify_all");
}

GREEN_API size_t green_cond_waiters(const green_cond_t *c) { return c ? c->nwaiters : 0; }
