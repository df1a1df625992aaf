/* SPDX-License-Identifier: MIT */
/* gevent's AbstractLinkable (_abstract_linkable.py): what Event, AsyncResult and Semaphore
 * share — the waiters, and the one notifier callback that wakes them.
 *
 * The rules, gevent's: when the object becomes ready and has waiters, one notifier is
 * queued (never two).  When it runs it wakes, one at a time and in the order they came,
 * the waiters linked when it starts — each running until it blocks — then those that
 * arrived while it was pending or running (a wait on a ready object with a notifier pending
 * queues behind it instead of returning).  With notify_all off (Semaphore) it stops as soon
 * as the object is no longer ready.  When it ends it queues a fresh notifier if the object
 * is still ready and still has waiters.
 *
 * One deliberate difference: when the last linked waiter leaves while a notifier is
 * pending, gevent cancels the notifier and drops the waiters that had arrived behind it
 * (they stay blocked for good).  We cancel it too but keep those waiters linked and, if the
 * object is still ready, queue a fresh notifier at the tail for them.
 */
#ifndef GREEN_SYNC_LINKABLE_H
#define GREEN_SYNC_LINKABLE_H

#include <stdbool.h>

#include "green/sync.h"
#include "hub/hub.h"

struct green_linkable {
    struct green_hub_part *h;
    struct green_link_list links;   /* waiters and callbacks, in the order they came */
    struct green_link_list arrived; /* waiters that came while the notifier was pending */
    struct green_callback notifier;
    bool notifying;  /* the notifier is running */
    /* Destroyed by a waiter the running notifier woke: the notifier calls release(doomed)
     * when it ends (green__linkable_defer_free). */
    void (*release)(void *doomed);
    void *doomed;
    bool notify_all; /* false: wake only while ready (Semaphore) */
    bool (*ready)(const struct green_linkable *l);
};

GREEN_HIDDEN void green__linkable_init(struct green_linkable *l, struct green_hub_part *h,
                                       bool (*ready)(const struct green_linkable *),
                                       bool notify_all);

/* _check_and_notify: queue the notifier if ready, linked and none is pending or running. */
GREEN_HIDDEN void green__linkable_check(struct green_linkable *l);

/* Greenlet only.  _wait: ready with no notifier pending returns 1 at once; ready with one
 * pending queues behind it (no timer) and returns 1 when woken; otherwise _wait_core.
 * Returns 1, 0 if the call's own timeout expired, or -1 with errno. */
GREEN_HIDDEN int green__linkable_wait(struct green_linkable *l, double timeout, const char *api);

/* Greenlet only.  _wait_core: start the own timeout (timeout >= 0), link, block until
 * notified.  Returns 1, 0 on the own timeout, -1 with errno (another timeout, a kill...). */
GREEN_HIDDEN int green__linkable_wait_core(struct green_linkable *l, double timeout,
                                           const char *api);

/* Whether the object may be destroyed: no waiter, no notifier pending.  A notifier running
 * now is the one that woke the caller (nothing else runs while it does); it may finish after
 * the object is destroyed, see green__linkable_free. */
GREEN_HIDDEN bool green__linkable_idle(const struct green_linkable *l);

/* Free the object whose first member l is (idle): now, or, if its notifier is running (it
 * woke the caller, the last waiter, who destroys the object at once), when that ends. */
GREEN_HIDDEN void green__linkable_free(struct green_linkable *l);

/* The general form, for objects with several notifiers or l not first (Queue's joiners,
 * Group's): if l's notifier is running, have it call release(obj) when it ends and return
 * true; else false (the caller releases obj now, or asks the object's next notifier).
 * Every wake-up callback of an object follows the same rule (queue.c, channel.c): a
 * greenlet it woke may destroy the object; the callback touches nothing after that but
 * what destroy left it, and releases the object last. */
GREEN_HIDDEN bool green__linkable_defer_free(struct green_linkable *l, void *obj,
                                             void (*release)(void *obj));

/* Whether the object was destroyed already, its free deferred to l's running notifier: a
 * second destroy must fail (EINVAL) rather than succeed, as a second free would not. */
static inline bool green__linkable_doomed(const struct green_linkable *l)
{
    return l->doomed != NULL;
}

/* gevent's rawlink/unlink for waiters that are not a greenlet's wait link (wait.c's
 * entries): link l and queue the notifier if the object is ready; take l out again,
 * cancelling a pending notifier that has no link left.  Every object built on a linkable
 * (Event, AsyncResult, Semaphore, Lock) embeds it as its first member, so a pointer to the
 * object is a pointer to its linkable. */
GREEN_HIDDEN void green__linkable_rawlink(struct green_linkable *l, struct green_link *link);
GREEN_HIDDEN void green__linkable_unlink(struct green_linkable *l, struct green_link *link);

/* The calling thread's hub if obj (owned by hub h) may be used from here; else NULL with
 * errno EINVAL (obj NULL), EXDEV, or ENOMEM.  An object made on a hub that was shut down
 * since belongs to the thread's next one (the part is the same, see green__hub_kept): the
 * hub is created again here, as by any first call. */
GREEN_HIDDEN struct green_hub_part *green__sync_owner(const void *obj, struct green_hub_part *h,
                                                      const char *api);

/* For destroy, which needs no hub: whether obj belongs to the calling thread, its hub live
 * or shut down (never creates one).  false with errno EINVAL (obj NULL) or EXDEV. */
GREEN_HIDDEN bool green__sync_owned_here(const void *obj, const struct green_hub_part *h,
                                         const char *api);

#endif /* GREEN_SYNC_LINKABLE_H */
