/* SPDX-License-Identifier: MIT */
/* The hub's callback queue: gevent's loop.run_callback and _run_callbacks, on libev.
 *
 * One FIFO queue per hub.  A prepare watcher drains it at the start of every loop
 * iteration, before the poll, including callbacks queued while it runs.  While it is not
 * empty the queue holds one ev_ref, so the loop does not run out of work (and throw
 * LoopExit into main) while callbacks are pending; the prepare watcher itself is unref'd.
 * libev reads its count of references only at the poll (whether it may block) and at the
 * end of an iteration, each time after a batch of watchers ran through the loop's
 * invoke-pending hook (and once when ev_run starts), and the queue changes only while
 * the hub runs a watcher (or a greenlet it resumed runs): so the hook takes or drops that
 * reference after each batch instead of every queue and unqueue taking and dropping one,
 * two calls into libev per callback.  With the time
 * budget on, the clock is read every 50 callbacks, and once 5 ms have passed the drain
 * stops and a zero-second timer keeps the next poll from blocking: I/O and due timers then
 * run before the rest of the queue, exactly as gevent's switch interval makes them.
 *
 * Prepare watchers that run after ours in the same iteration (lower priorities: libev's
 * ev_embed sweep, a user's through green_hub_loop()) may queue callbacks after the drain;
 * the poll would then block with them pending.  libev invokes each phase's watchers in one
 * batch, through the loop's invoke-pending hook: ours checks, once the prepare batch is
 * over, whether the queue filled again, and then starts the zero-second timer, so the poll
 * returns at once and the next iteration runs them.  Callbacks queued after the poll (by
 * I/O and timer watchers, the common wake-ups) need nothing: the next prepare runs them
 * before the next poll.  (gevent has the same gap; it starts its timer only after a budget
 * break.)
 */
#include "hub.h"

#define CALLBACK_CHECK_COUNT 50 /* gevent's CALLBACK_CHECK_COUNT */
#define TIME_BUDGET 0.005       /* gevent's default sys.getswitchinterval() */

static void unqueue(struct green_hub_part *h, struct green_callback *cb)
{
    if (cb->prev)
        cb->prev->next = cb->next;
    else
        h->head = cb->next;
    if (cb->next)
        cb->next->prev = cb->prev;
    else
        h->tail = cb->prev;
    cb->prev = cb->next = NULL;
    cb->queued = false;
}

/* The queue's reference (see the top): after each batch, held if and only if the queue is
 * not empty. */
static void sync_ref(struct green_hub_part *h)
{
    if (GREEN_UNLIKELY(h->queue_ref != (h->head != NULL))) {
        h->queue_ref = h->head != NULL;
        if (h->queue_ref)
            ev_ref(h->loop);
        else
            ev_unref(h->loop);
    }
}

void green__callback_cancel(struct green_hub_part *h, struct green_callback *cb)
{
    if (cb->queued)
        unqueue(h, cb);
}

void green__callback_take(struct green_hub_part *h, struct green_callback *cb)
{
    unqueue(h, cb);
    h->cb_count--;
}

bool green__callbacks_budget_left(struct green_hub_part *h)
{
    ev_now_update(h->loop);
    if (ev_now(h->loop) >= h->cb_expiration)
        return false;
    h->cb_count = CALLBACK_CHECK_COUNT;
    return true;
}

/* _run_callbacks.  cb->run may free cb, or queue it again.  The count and the expiration
 * are in h: a greenlet may run or take callbacks in the hub's stead (handoff.c,
 * death_handoff.c, start_handoff.c). */
static void run_callbacks(struct green_hub_part *h)
{
    h->in_callbacks = true;
    h->cb_count = CALLBACK_CHECK_COUNT;
    h->cb_expiration = ev_now(h->loop) + TIME_BUDGET;
    bool clock_read = false;
    ev_timer_stop(h->loop, &h->timer0);
    while (h->head) {
        struct green_callback *cb = h->head;
        green__callback_take(h, cb);
        cb->run(h, cb);
        if (h->head && !green__callbacks_budget_ok(h)) {
            clock_read = true;
            break;
        }
    }
    if (!clock_read)
        ev_now_update(h->loop);
    if (h->head)
        ev_timer_start(h->loop, &h->timer0);
    h->in_callbacks = false;
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop, (void)revents;
    struct green_hub_part *h = w->data;
    run_callbacks(h);
    h->drained = true;
}

/* libev's one way to run a batch of pending watchers (the loop's invoke-pending hook). */
static void invoke_pending(struct ev_loop *loop)
{
    ev_invoke_pending(loop);
    struct green_hub_part *h = ev_userdata(loop);
    sync_ref(h);
    if (h->drained) { /* that was the prepare batch: the poll comes next */
        h->drained = false;
        if (h->head)
            ev_timer_start(loop, &h->timer0);
    }
}

static void on_timer0(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)w, (void)revents; /* its only job was to make the poll return */
}

void green__callbacks_init(struct green_hub_part *h)
{
    ev_prepare_init(&h->prepare, on_prepare);
    h->prepare.data = h;
    ev_prepare_start(h->loop, &h->prepare);
    ev_unref(h->loop); /* the queue keeps the loop alive, not the watcher that drains it */
    ev_timer_init(&h->timer0, on_timer0, 0.0, 0.0);
    ev_set_invoke_pending_cb(h->loop, invoke_pending);
    h->budget = true;
}

void green__callbacks_stop(struct green_hub_part *h)
{
    ev_ref(h->loop); /* balance the unref of init */
    ev_prepare_stop(h->loop, &h->prepare);
    ev_timer_stop(h->loop, &h->timer0);
    ev_set_invoke_pending_cb(h->loop, ev_invoke_pending);
    while (h->head)
        unqueue(h, h->head);
    sync_ref(h);
}
