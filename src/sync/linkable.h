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

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "green/sync.h"
#include "hub/hub.h"

struct green_linkable {
    struct green_hub_part *h;
    struct green_link_list links;   /* waiters and callbacks, in the order they came */
    struct green_link_list arrived; /* waiters that came while the notifier was pending */
    struct green_callback notifier;
    bool notifying; /* the notifier is running */
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
GREEN_HIDDEN struct green_hub_part *
green__sync_owner_slow(const void *obj, struct green_hub_part *h, const char *api);
static inline struct green_hub_part *green__sync_owner(const void *obj, struct green_hub_part *h,
                                                       const char *api)
{
    if (GREEN_LIKELY(obj && green__hub_peek() == h)) /* every call on an object: inline */
        return h;
    return green__sync_owner_slow(obj, h, api);
}

/* Whether obj, whose first member is its linkable, belongs to the calling thread's live
 * hub: green__sync_owner's inline test alone, for the calls that leave every other case
 * to a checked path out of line (Event's).  An object's hub is never NULL. */
static inline bool green__linkable_mine(const void *obj)
{
    const struct green_linkable *l = obj; /* C11 6.7.2.1: its first member */
    return GREEN_LIKELY(l && l->h == green__hub_peek());
}

/* For destroy, which needs no hub: whether obj belongs to the calling thread, its hub live
 * or shut down (never creates one).  false with errno EINVAL (obj NULL) or EXDEV. */
GREEN_HIDDEN bool green__sync_owned_here(const void *obj, const struct green_hub_part *h,
                                         const char *api);

/* Whether l's notifier is queued or running. */
static inline bool green__linkable_notifier_active(const struct green_linkable *l)
{
    return l->notifier.queued || l->notifying;
}

/* green__linkable_check for an object the caller just made ready (Event's set): inline,
 * without the ready() call. */
static inline void green__linkable_check_ready(struct green_linkable *l)
{
    if (!link_list_empty(&l->links) && !green__linkable_notifier_active(l))
        green__callback_queue(l->h, &l->notifier);
}

/* ---- green__linkable_wait and _wait_core, inline ----------------------------------
 * For the waits a ping-pong spends its time in (Event): compiled into the public call, the
 * block leaves one return between the switch and that call's caller instead of three, and
 * after a switch each is a return-stack mispredict (see green__hub_block).  The rest of
 * the path stays out of line: those calls return before the switch, predicted. */

/* The notifier's parts (linkable.c), for the hand-off below. */
GREEN_HIDDEN bool green__notifier_tail(struct green_hub_part *h, void *obj, bool may_resume);

static inline struct green_linkable *green__linkable_of_notifier(struct green_callback *cb)
{
    return (struct green_linkable *)((char *)cb - offsetof(struct green_linkable, notifier));
}

/* The start of l's notifier, the queue's head, in the hub's stead, when all its run would
 * do is resume its one plain waiter t (link, l->links' only link) as its last act: what the
 * drain does before the run, the run up to that resume, its tail registered as
 * green__hub_resume_last registers it.  Returns t; *value is what the resume passes. */
static inline __attribute__((always_inline)) struct green_task *
green__notifier_claim(struct green_hub_part *h, struct green_linkable *l, struct green_link *link,
                      void **value)
{
    GREEN_ASSERT(h->head == &l->notifier && l->links.head == link && l->links.tail == link);
    l->notifying = true;
    link_pop_only(&l->links);
    return green__hub_take_head_for(h, link, green__notifier_tail, l, value);
}

/* green__hub_handoff (src/hub/handoff.c, the rules) for self, about to block on waited,
 * inline for the case a ping-pong repeats on every wake-up: the tail left is a notifier's
 * (done, the one that woke self) with nothing to do but end — nothing arrived behind it,
 * nothing to free, and no fresh notifier to queue, since its object is the one self now
 * waits on, not ready (waited: NULL if ready), or has nobody linked — and the queue's head
 * is a notifier whose run would only resume its one plain waiter, not self.  No trace hook,
 * no shutdown, the drain running with time left in its budget.  Returns that waiter and
 * what to resume it with, or {NULL} (nothing done: green__linkable_block_general's case). */
static inline __attribute__((always_inline)) struct green_handoff
green__linkable_handoff(struct green_hub_part *h, struct green_task *self,
                        const struct green_linkable *waited)
{
    struct green_linkable *done = h->tail_obj;
    struct green_callback *cb = h->head;
    if (GREEN_LIKELY(h->tail_task == self && h->tail_fn == green__notifier_tail &&
                     h->in_callbacks && !h->shutting_down && green__tls_fast && cb &&
                     cb->run == green__notifier_run && link_list_empty(&done->arrived) &&
                     !done->release && (done == waited || link_list_empty(&done->links)) &&
                     (h->cb_count != 0 || !h->budget))) { /* else: the clock, out of line */
        struct green_linkable *next = green__linkable_of_notifier(cb);
        struct green_link *link = next->links.head;
        if (GREEN_LIKELY(link && link == next->links.tail && link->notify == green__wake_waiter &&
                         next->notify_all && link != &self->wait)) {
            done->notifying = false; /* done's tail, all of it */
            void *value;
            struct green_task *t = green__notifier_claim(h, next, link, &value);
            h->ts->core.finished = NULL; /* as green__hub_resume: a death from now on is t's */
            h->handoffs++;
            if (!t->g) /* a task's greenlet never is NULL; nor is the result, then */
                __builtin_unreachable();
            return (struct green_handoff){t->g, value};
        }
    }
    return (struct green_handoff){NULL, NULL};
}

/* Block self, linked into one of l's lists, until notified; unlinked again if that fails.
 * Returns 0 or -1 with errno (green__hub_block).  The general case, out of line: the hub's
 * path, or green__hub_handoff's. */
GREEN_HIDDEN int green__linkable_block_general(struct green_linkable *l, struct green_task *self,
                                               const char *api);

/* The failure of green__linkable_block's park (status rc, self->blocked_in the call's
 * name): green__hub_block_failed, then self unlinked from the linkable it waited on.
 * Returns -1. */
GREEN_HIDDEN int green__linkable_block_failed(struct green_task *self, int rc);

/* green__linkable_block_failed of the calling greenlet's task: the fail function of a
 * linkable wait's green__hub_park_tail. */
GREEN_HIDDEN int green__linkable_park_failed(int status);

/* green__linkable_block_general, with the hand-off a ping-pong repeats inline.
 * waited: l if it is not ready, else NULL (green__linkable_handoff).  Every call out of
 * it is a tail call, the switch too where the wait parks (green__hub_park_tail); only
 * self is kept across it where it does not. */
static inline __attribute__((always_inline)) int
green__linkable_block(struct green_linkable *l, const struct green_linkable *waited,
                      struct green_task *self, const char *api)
{
    struct green_hub_part *h = l->h;
    struct green_handoff to = green__linkable_handoff(h, self, waited);
    if (!to.to)
        return green__linkable_block_general(l, self, api);
#if GREEN_CORE_PARK
    if (green__hub_can_park(to.to))
        return green__hub_park_tail(h, self, l, api, to.to, to.value, green__linkable_park_failed);
#endif
    int rc = green__hub_park_into(h, self, l, api, to.to, to.value);
    if (GREEN_UNLIKELY(rc != 0 || self->got != self->blocked_on))
        return green__linkable_block_failed(self, rc);
    self->blocked_in = NULL;
    return 0;
}

static inline __attribute__((always_inline)) int
green__linkable_wait_core_inline(struct green_linkable *l, double timeout, const char *api)
{
    struct green_task *self = green__hub_self(l->h, api);
    if (!self)
        return -1;
    struct green_timeout *own = NULL;
    if (timeout >= 0 && !(own = green__timeout_start(l->h, timeout, api)))
        return -1;
    /* rawlink, whose _check_and_notify finds nothing to do: every caller comes here with
     * the object not ready, and nothing ran since. */
    GREEN_ASSERT(!l->ready(l));
    link_append(&l->links, &self->wait);
    int rc = green__linkable_block(l, l, self, api);
    if (GREEN_LIKELY(rc == 0)) {
        if (own)
            green__timeout_end(l->h, own);
        return 1;
    }
    int e = errno;
    bool own_expired = e == ETIMEDOUT && self->fired == own;
    if (own)
        green__timeout_end(l->h, own);
    if (own_expired)
        return 0;
    errno = e;
    return -1;
}

/* green__linkable_wait_inline without a timeout: returns 0 when notified (or at once), or
 * -1 with errno.  Every call out of it is a tail call (green__linkable_block). */
GREEN_HIDDEN int green__linkable_wait_forever_general(struct green_linkable *l, const char *api);
static inline __attribute__((always_inline)) int
green__linkable_wait_forever(struct green_linkable *l, bool ready, const char *api)
{
    if (ready && !green__linkable_notifier_active(l))
        return 0;
    struct green_task *self = green__hub_self_plain(l->h);
    if (!self) /* green__hub_self refuses it (there, with the message) */
        return green__linkable_wait_forever_general(l, api);
    if (ready) {
        link_append(&l->arrived, &self->wait);
        return green__linkable_block(l, NULL, self, api);
    }
    GREEN_ASSERT(!l->ready(l));
    link_append(&l->links, &self->wait);
    return green__linkable_block(l, l, self, api);
}

/* ready: l->ready(l), which the caller knows without the indirect call. */
static inline __attribute__((always_inline)) int
green__linkable_wait_inline(struct green_linkable *l, bool ready, double timeout, const char *api)
{
    if (!ready)
        return green__linkable_wait_core_inline(l, timeout, api);
    if (!green__linkable_notifier_active(l))
        return 1;
    struct green_task *self = green__hub_self(l->h, api);
    if (!self)
        return -1;
    link_append(&l->arrived, &self->wait);
    return green__linkable_block(l, NULL, self, api) < 0 ? -1 : 1;
}

#endif /* GREEN_SYNC_LINKABLE_H */
