/* SPDX-License-Identifier: MIT */
/* The death hand-off: a task whose body returns while the hub would only run its notifier
 * finishes straight into its first joiner, one switch instead of two.
 *
 * gevent's order for spawn + join: the join blocks into the hub, the hub's start callback
 * switches into g, g's death queues its notifier and switches back to the hub, the start
 * callback returns, the drain takes the notifier, which resumes the joiner.  When the start
 * callback (or a sleep(0) wake-up, run_wake) resumed g as its last act and the queue is
 * empty (so g's notifier would be the next callback), everything the hub does between g's
 * death and the joiner's resume is bookkeeping: record the result and the death, queue the
 * notifier and take it again, pop the joiner's link.  g does that itself (the notifier is
 * counted by the drain's count, never queued) and hands its end to the joiner: the core's
 * finish goes to g->killer when set, as for green_destroy.  The hub stays suspended in the
 * start callback; the next switch into it (the joiner blocking: in gevent, the notifier
 * being resumed) comes back through green__hub_resumed, which runs the rest of the
 * notifier (green__death_handoff_end) — more joiners and links, made before the death or
 * since — and then lets the callback return; or the joiner ends the notifier itself, when
 * no link is left, if it starts a task in the hub's stead (start_handoff.c).  So every
 * greenlet runs, and every link fires, in gevent's order.
 *
 * Not handed off, so the hub runs them as it would: a trace hook is set (it would see the
 * hub's two switches), g has greenlet-local values (their destructors run in the hub
 * between the death and the notifier), the first link is not a waiting greenlet (a link
 * callback, a wait/iwait entry: they run on the hub), the time budget ran out (its look at
 * the clock every 50 callbacks, made here in the hub's stead, finds it over), the hub is
 * shutting down.
 */
#include "core/thread.h"
#include "hub.h"

bool green__death_handoff(struct green_hub_part *h, struct green_task *t, void *value)
{
    /* With the queue empty, the notifier the death queues would be its head; the drain's
     * look at the clock would come between the start callback and it. */
    struct green_link *first = t->links.head;
    if (h->resuming_last != t || h->head || !first || first->notify != green__wake_waiter ||
        t->reported || t->nlocals || h->ts->core.trace || h->shutting_down ||
        !green__callbacks_budget_ok(h))
        return false;
    GREEN_ASSERT(!t->notifier.queued && !t->notifying && !h->death_handoff);
    struct green_task *joiner = green__task_of_wait(first);
    h->resuming_last = NULL;
    /* The report (gevent's __report_result: ready, the value), and green__task_died's part:
     * the death (no error, linked: nothing to report), the timeouts it left armed stopped.
     * The locals' storage (no values) is freed at the end. */
    t->reported = true;
    t->err = 0;
    t->value = value;
    t->phase = TASK_DEAD;
    if (t->timeouts)
        green__timeouts_disarm(h, t);
    /* The notifier, queued and taken at once (the drain's count), running, its first link
     * taken. */
    h->cb_count--;
    t->notifying = true;
    link_pop_front(&t->links);
    h->death_handoff = t;
    h->death_handoff_to = joiner;
    t->g->killer = joiner->g;
    green__hub_note_running(h, joiner->g->id);
    return true;
}

void green__death_handoff_end(struct green_hub_part *h)
{
    struct green_task *t = h->death_handoff;
    h->death_handoff = NULL;
    if (t->locals)
        green__locals_destroy(t); /* no values (see green__death_handoff): the storage */
    green__task_notify_rest(h, t);
}
