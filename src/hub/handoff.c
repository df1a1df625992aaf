/* SPDX-License-Identifier: MIT */
/* The direct hand-off: a greenlet that blocks switches straight to the greenlet the hub
 * would resume next, when all the hub would do in between is bookkeeping.  Only the waits
 * on linkables (Event, AsyncResult, Semaphore, Lock: linkable.h) and a Queue's get and put
 * (queue.c) try it; the other blocking calls always take the hub's path (hub.h says why).
 * The callbacks a greenlet may start so are those two kinds' wake-ups: a linkable's
 * notifier, whose rules follow, and a Queue's _unlock when its first act is to wake its
 * first getter (green__queue_unlock_start), its loop then being the tail.
 *
 * gevent's order makes an Event ping-pong cost four switches a round trip: A sets e1 (its
 * notifier is queued) and blocks on e2; the hub, suspended in the notifier that resumed A,
 * finishes it, takes e1's notifier from the queue and resumes B from inside it; B sets e2
 * and blocks, and so on.  Nothing in between can be observed when
 *   - the hub is suspended in the last act of a callback, its resume of A
 *     (green__hub_resume_last: A is h->tail_task), and what is left of that callback, its
 *     tail, resumes nobody: A runs it first, exactly as the hub would have (for a notifier:
 *     no waiter arrived behind it; the tail then queues a fresh notifier if its object is
 *     still ready with waiters, or frees an object destroyed meanwhile);
 *   - the drain would go on at once: the queue is not empty and the time budget has time
 *     left (every 50 callbacks A reads the clock as the drain would; once the budget ran
 *     out the hub stops the drain for the poll, and A blocks as usual), so no I/O, timer or
 *     other watcher runs in between;
 *   - the queue's head is a notifier (green__notifier_start) whose first act is its last:
 *     resuming its only linked waiter B, a plain one (not a wait()/rawlink entry), while
 *     its object lets it (a Semaphore's notifier only wakes while a unit is left).  A does
 *     what the drain and the notifier do up to that resume (dequeue with its ev_unref,
 *     count it against the budget, mark the notifier running, pop B's link) and registers
 *     the notifier's tail, which B runs when it blocks or the hub when B switches to it;
 *   - no trace hook (it would see A -> B instead of A -> hub -> B), the hub not shutting
 *     down.
 * Kills, sleep(0) wake-ups and timeouts are callbacks or timers: one queued ahead of the
 * notifier makes that callback the head, and no hand-off happens; one behind it runs after,
 * as it would.  The hub itself stays suspended where it was, in the resume that began the
 * chain; when a greenlet of the chain switches to it (blocking without a hand-off, or
 * dying), the resume returns and runs the tail registered last (green__hub_resume_last),
 * which is the callback the chain is in now, and the drain goes on from there.
 *
 * This is the general form.  The case every ping-pong repeats (the tail is a notifier's
 * with nothing left to do, the head another notifier with one waiter) is decided and done
 * inline in the wait itself (linkable.h's green__linkable_handoff), which comes here for
 * everything else.
 */
#include "core/thread.h"
#include "hub.h"

struct green_handoff green__hub_handoff(struct green_hub_part *h, struct green_task *self)
{
    struct green_handoff hub = {h->hub, NULL};
    if (!h->in_callbacks || h->shutting_down || !green__tls_fast)
        return hub;
    if (!h->tail_fn(h, h->tail_obj, false))
        return hub; /* it resumes someone: the hub runs it */
    h->tail_task = NULL;
    h->tail_fn = NULL; /* ran: the hub's resume finds none */
    struct green_callback *cb = h->head;
    if (!cb || (cb->run != green__notifier_run && cb->run != green__queue_unlock_run) ||
        !green__callbacks_budget_ok(h))
        return hub;
    void *value = NULL;
    struct green_task *next = cb->run == green__notifier_run
                                  ? green__notifier_start(h, cb, self, &value)
                                  : green__queue_unlock_start(h, cb, self, &value);
    if (!next)
        return hub;
    h->ts->core.finished = NULL; /* as green__hub_resume: a death from now on is next's */
    h->handoffs++;
    return (struct green_handoff){next->g, value};
}

uint64_t green__hub_handoff_count(void)
{
    struct green_hub_part *h = green__hub_peek();
    return h ? h->handoffs : 0;
}
