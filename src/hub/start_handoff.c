/* SPDX-License-Identifier: MIT */
/* The start hand-off: a join of a task not started yet, while the hub would only finish
 * its callback and start that task, switches straight into it, one switch instead of two.
 *
 * gevent's order: the join blocks into the hub, the callback the hub is suspended in
 * finishes, the drain takes the next callback — the task's start — which switches into it.
 * That is bookkeeping only when the hub is suspended in the last act of its callback,
 * resuming the joiner:
 *   - run_start or run_wake resumed the joiner (h->resuming_last), nothing follows; or
 *   - the notifier of a task that handed its end to the joiner (death_handoff.c) has no
 *     link left: ending it is clearing its flag and maybe freeing the task (a spawn + join
 *     loop is this case every time);
 * and the task's start is the queue's head, and the drain would go on to it (the time
 * budget's look at the clock every 50 callbacks, which the joiner makes in the hub's stead,
 * finds time left).  The joiner then does the bookkeeping
 * — the notifier's end, the take of the start callback, run_start's part — and switches
 * into the task as run_start would.  The hub stays suspended where it was, in a callback
 * whose last act was a resume: the next switch into it returns from there as from the
 * start callback's resume, and the drain goes on.  The death hand-off of that task then
 * finds run_start's mark (h->resuming_last) and may finish it straight into the joiner:
 * spawn + join is then two switches, and the hub does not run at all until the time
 * budget runs out.
 *
 * Not with a trace hook (it would see the hub's two switches) or at shutdown.
 */
#include "core/thread.h"
#include "hub.h"

bool green__start_handoff(struct green_hub_part *h, struct green_task *self, struct green_task *t)
{
    if (h->head != &t->start || h->ts->core.trace || h->shutting_down ||
        !green__callbacks_budget_ok(h))
        return false;
    struct green_task *dead = h->death_handoff;
    if (dead) {
        if (h->death_handoff_to != self || !link_list_empty(&dead->links))
            return false;
        /* green__death_handoff_end with no link left: the notifier ends. */
        h->death_handoff = NULL;
        if (dead->locals)
            green__locals_destroy(dead);
        green__task_notify_rest(h, dead); /* dead may be freed */
    } else if (h->resuming_last != self) {
        return false;
    }
    /* The drain takes the start; run_start resumes t as its last act. */
    green__callback_take(h, &t->start);
    t->phase = TASK_RUNNING;
    h->resuming_last = t;
    h->ts->core.finished = NULL; /* as green__hub_resume: who finishes next is news */
    green__hub_note_running(h, t->g->id);
    return true;
}
