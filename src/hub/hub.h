/* SPDX-License-Identifier: MIT */
/* The hub's internals: its part of the thread state, the callback queue, the per-greenlet
 * task record, and the one blocking primitive every waiting call goes through.
 *
 * Everything here runs on the owning thread.  Functions marked "hub only" run in the hub
 * greenlet (inside a callback or a watcher); "greenlet only" ones in a greenlet that may
 * block (main, or one spawned on the hub).
 */
#ifndef GREEN_HUB_HUB_H
#define GREEN_HUB_HUB_H

#include <errno.h>
#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/greenlet.h"
#include "core/switch.h"
#include "core/thread.h"
#include "green/hub.h"
#include "links.h"

struct green_thread;
struct green_hub_part;

/* ---- the callback queue (gevent's loop.run_callback) -------------------------------- */

/* A callback, embedded in whatever owns it.  While queued it keeps the loop alive (the
 * queue holds an ev_ref while not empty), like gevent's. */
struct green_callback {
    struct green_callback *prev, *next;
    /* Runs in the hub; may free cb or queue it again. */
    void (*run)(struct green_hub_part *h, struct green_callback *cb);
    bool queued; /* in the queue, not yet run (gevent: "pending") */
};

/* Append cb (not queued) at the tail.  Inline (below): an Event's set queues its notifier. */
static inline void green__callback_queue(struct green_hub_part *h, struct green_callback *cb);

/* Take cb out of the queue if it is still queued (gevent's callback.stop()). */
GREEN_HIDDEN void green__callback_cancel(struct green_hub_part *h, struct green_callback *cb);

/* A greenlet starting or taking cb (the queue's head) in the hub's stead (handoff.c,
 * death_handoff.c, start_handoff.c): what the drain does before cb->run.  And whether the
 * drain, having run a callback, may take the next instead of stopping for the poll: the
 * time budget's check, whose look at the clock every 50 callbacks such a greenlet makes in
 * the hub's stead too (green__callbacks_budget_left: true, a new count started, while the
 * budget has time left; false, nothing changed, once it ran out). */
GREEN_HIDDEN void green__callback_take(struct green_hub_part *h, struct green_callback *cb);
GREEN_HIDDEN bool green__callbacks_budget_left(struct green_hub_part *h);
static inline bool green__callbacks_budget_ok(struct green_hub_part *h);

/* green__callback_take of the queue's head, inline (the hand-off of linkable.h). */
static inline void green__callback_take_head(struct green_hub_part *h);

/* Start and stop the watchers that drain the queue (callbacks.c). */
GREEN_HIDDEN void green__callbacks_init(struct green_hub_part *h);
GREEN_HIDDEN void green__callbacks_stop(struct green_hub_part *h);

/* ---- tasks: the hub's state per greenlet -------------------------------------------- */

enum task_phase {
    TASK_QUEUED,  /* spawned, start pending (a callback or a timer) */
    TASK_RUNNING, /* body entered */
    TASK_DEAD,    /* finished, or killed before it started */
};

struct green_timeout;
struct green_local_slot; /* local.c */
struct green_monitor;    /* monitor.c */

struct green_task {
    struct green *g; /* the greenlet; g->ext points back here */
    struct green_hub_part *h;
    green_fn fn;
    void *arg;
    enum task_phase phase;
    bool spawned;                   /* false for the main greenlet's task */
    bool reported;                  /* result known (gevent's ready()) */
    bool killed;                    /* GREEN_EXIT was delivered: blocking calls fail at once */
    bool released;                  /* the user gave up the handle */
    bool patch_off;                 /* green_patch_context(GREEN_PATCH_OFF) (patch_hook.c) */
    int err;                        /* 0, or the code it died with */
    void *value;                    /* what it returned, or the error's payload */
    struct green_callback start;    /* the queued start */
    ev_timer start_later;           /* spawn_later's start */
    struct green_link_list links;   /* joiners and link callbacks */
    struct green_callback notifier; /* runs the links after death */
    bool notifying;                 /* the notifier is running */
    struct green_link wait;         /* this greenlet waiting on a linkable or a task */
    void *wait_item;                /* a Queue putter's item */
    struct green_callback wake;     /* sleep(0)'s queued wake-up */
    ev_timer sleep_timer;           /* green_sleep(s > 0) */
    struct green_timeout *fired;    /* the timeout whose expiry ended the last wait */
    void *got;                      /* what the switch that ended its last block passed */
    unsigned pins;                  /* queued kills that still refer to it */
    struct green_task *next_live, *prev_live; /* the hub's live tasks */
    struct green_local_slot *locals; /* greenlet-local values (local.c) */
    unsigned nlocals, locals_cap;
    const char *blocked_in; /* the blocking call it is parked in (runinfo.c), or NULL */
    const void *blocked_on; /* the token that call waits for */
    struct green_timeout *timeouts; /* its armed scoped timeouts (timeout.c) */
};

/* The task whose wait link l is. */
static inline struct green_task *green__task_of_wait(struct green_link *l)
{
    return (struct green_task *)((char *)l - offsetof(struct green_task, wait));
}

static inline struct green_task *green__task_of(const struct green *g)
{
    return (struct green_task *)g->ext;
}

/* ---- timeouts ----------------------------------------------------------------------- */

struct green_timeout {
    ev_timer timer; /* priority -1: after the I/O of the same iteration */
    struct green_hub_part *h;
    struct green *target; /* the greenlet it throws GREEN_TIMEOUT into */
    bool fired;
    /* A scoped one (green_timeout_start) is on its task's list until it ends or the task
     * dies, which disarms it: nothing is thrown into a dead greenlet.  The own timeouts of
     * blocking calls end before the call returns and are on no list. */
    struct green_task *owner;
    struct green_timeout *prev_armed, *next_armed;
};

/* Arm a timeout of `seconds` (>= 0) for the current greenlet; NULL with errno ENOMEM. */
GREEN_HIDDEN struct green_timeout *green__timeout_start(struct green_hub_part *h, double seconds,
                                                        const char *api);
/* Stop (if pending) and free. */
GREEN_HIDDEN void green__timeout_end(struct green_hub_part *h, struct green_timeout *t);

/* Stop every scoped timeout task t armed and has not ended (t died, or its hub is shutting
 * down); they stay allocated for green_timeout_end. */
GREEN_HIDDEN void green__timeouts_disarm(struct green_hub_part *h, struct green_task *t);

/* ---- the hub's part of the thread state --------------------------------------------- */

/* What is left of a callback once it resumed its last greenlet (see tail_task below).  With
 * may_resume false (a greenlet runs it in the hub's stead, handoff.c) it returns false and
 * does nothing if it would resume a greenlet; otherwise it runs and returns true. */
typedef bool (*green_tail_fn)(struct green_hub_part *h, void *obj, bool may_resume);

struct green_hub_part {
    struct green_thread *ts;
    struct ev_loop *loop;
    struct green *hub;                  /* the hub greenlet */
    struct green_callback *head, *tail; /* the callback queue */
    ev_prepare prepare;                 /* runs the queue before each poll */
    ev_timer timer0;                    /* keeps the poll from blocking after a budget break */
    bool budget;                        /* check the time budget (gevent's switch interval) */
    bool in_callbacks;                  /* running the queue: timers may update the clock */
    bool shutting_down;
    struct green_task main_task;
    struct green_task *live; /* tasks not yet freed */
    green_error_handler_fn error_handler; /* report.c; NULL: one line on stderr */
    void *error_arg;
    /* Written by this thread only, read by the monitor thread (relaxed atomics): bumped at
     * every switch between the hub and a greenlet, and the id of the greenlet running (0:
     * the hub). */
    uint64_t switches;
    uint64_t running_id;
    struct green_monitor *monitor; /* monitor.c, or NULL */
    struct green_watch_part *watch; /* watch.h: watchers beyond timers, created on first use */
    struct green_pools *pools; /* threadpool.h: the hub's threadpools, NULL before the first */
    struct green_children *children; /* child.h: libev's default loop only, else NULL */
    struct green_task *spare_tasks; /* freed task records kept for reuse (task.c) */
    unsigned nspare_tasks;
    bool drained; /* the prepare of this iteration ran the queue, the poll is to come */
    bool queue_ref; /* the queue holds its ev_ref (callbacks.c) */
    /* The drain's state (callbacks.c), here so that a hand-off can do the loop's part. */
    int cb_count;            /* callbacks left before the next look at the clock */
    ev_tstamp cb_expiration; /* when the time budget of this drain runs out */
    /* The hub is suspended in the last act of a callback: its resume of tail_task, after
     * which nothing is left of that callback but tail_fn(h, tail_obj) (handoff.c).  NULL
     * otherwise, or once the tail ran. */
    struct green_task *tail_task;
    green_tail_fn tail_fn;
    void *tail_obj;
    uint64_t handoffs; /* hand-offs made (handoff.c, linkable.h), for the tests */
    /* The hub is suspended in the last act of the callback it runs (run_start, run_wake):
     * its resume of this task, after which the drain takes its next callback; else NULL.
     * A task dying there may hand its end straight to its joiner (death_handoff.c). */
    struct green_task *resuming_last;
    /* A task that did so, and the joiner it finished into: the rest of its notifier is the
     * hub's to run when it is next switched to (green__death_handoff_end), or the joiner's
     * if it starts a task in the hub's stead (start_handoff.c); NULL otherwise. */
    struct green_task *death_handoff, *death_handoff_to;
};

static inline bool green__callbacks_budget_ok(struct green_hub_part *h)
{
    return h->cb_count != 0 || !h->budget || green__callbacks_budget_left(h);
}

static inline void green__callback_queue(struct green_hub_part *h, struct green_callback *cb)
{
    GREEN_ASSERT(!cb->queued);
    cb->queued = true;
    cb->next = NULL;
    cb->prev = h->tail;
    if (h->tail)
        h->tail->next = cb;
    else
        h->head = cb;
    h->tail = cb;
}

static inline void green__callback_take_head(struct green_hub_part *h)
{
    struct green_callback *cb = h->head;
    GREEN_ASSERT(cb && !cb->prev && cb->queued);
    h->head = cb->next;
    if (cb->next)
        cb->next->prev = NULL;
    else
        h->tail = NULL;
    cb->next = NULL;
    cb->queued = false;
    h->cb_count--;
}

/* The calling thread's hub, created on first use (not from the hub: it exists then).
 * NULL with errno ENOMEM and a message naming api. */
GREEN_HIDDEN struct green_hub_part *green__hub_get(const char *api);

/* The calling thread's hub part, live or shut down (green_hub_shutdown keeps it for the
 * thread's next hub), or NULL if the thread never had a hub. */
GREEN_HIDDEN struct green_hub_part *green__hub_kept(void);

/* The calling thread's live hub (its state's hub), NULL while it has none: one load for
 * the owner check of every call on a sync object (green__hub_peek).  Never set while
 * green__tls is NULL (green__hub_abandon). */
extern _Thread_local struct green_hub_part *green__tls_hub GREEN_HIDDEN
    __attribute__((tls_model("initial-exec")));

/* The hub if it exists; NULL otherwise.  Never creates.  Inline: every call on a sync
 * object checks its owner with it. */
static inline struct green_hub_part *green__hub_peek(void) { return green__tls_hub; }

/* Greenlet only: the caller's task, checking that it may block now.  Returns NULL with
 * errno EPERM (the hub itself, or a greenlet not spawned on the hub), ECANCELED (being
 * killed) or ENOMEM, and a message naming api. */
GREEN_HIDDEN struct green_task *green__hub_refuse_self(struct green_hub_part *h,
                                                       struct green *cur,
                                                       struct green_task *t, const char *api);
static inline struct green_task *green__hub_self(struct green_hub_part *h, const char *api)
{
    GREEN_ASSERT(h->ts == green__tls); /* h is the caller's hub: one load less from green__tls */
    struct green *cur = green__tls->core.current;
    struct green_task *t = green__task_of(cur); /* NULL for the hub (hub.c), refused */
    if (GREEN_UNLIKELY(!t || t->killed))
        return green__hub_refuse_self(h, cur, t, api);
    return t;
}

/* green__hub_self's common case alone: the caller's task if it has one and is not being
 * killed; else NULL, nothing done (the caller then takes a path through green__hub_self). */
static inline struct green_task *green__hub_self_plain(const struct green_hub_part *h)
{
    (void)h;
    GREEN_ASSERT(h->ts == green__tls);
    struct green_task *t = green__task_of(green__tls->core.current); /* the hub has none */
    return GREEN_LIKELY(t && !t->killed) ? t : NULL;
}

/* The monitor's view: greenlet `id` (0: the hub) runs from now on.  Plain stores (this
 * thread is the only writer), so a switch pays no locked instruction. */
static inline void green__hub_note_running(struct green_hub_part *h, uint64_t id)
{
    __atomic_store_n(&h->running_id, id, __ATOMIC_RELAXED);
    __atomic_store_n(&h->switches, __atomic_load_n(&h->switches, __ATOMIC_RELAXED) + 1,
                     __ATOMIC_RELAXED);
}

/* The slow ends of green__hub_block and green__hub_resume (hub.c). */
GREEN_HIDDEN int green__hub_block_failed(struct green_task *self, int rc, void *got,
                                         const char *api);
GREEN_HIDDEN void green__hub_resumed(struct green_hub_part *h, struct green *g, int rc,
                                     void *got);

/* Where a blocking greenlet switches to, and with what: the hub (with NULL), or the greenlet
 * the hub would resume next.  Returned by value (two registers): a pointer to it would keep
 * it in memory and make the wait's frame one with a stack protector. */
struct green_handoff {
    struct green *to;
    void *value;
};

/* Greenlet self, about to block while the hub is suspended in its callback's last resume
 * of self (h->tail_task): do what the hub would do until it resumes the next greenlet, if
 * that is only bookkeeping (handoff.c says when).  Returns that greenlet and what to switch
 * into it with; or the hub (nothing done but perhaps the tail: switch to it). */
GREEN_HIDDEN struct green_handoff green__hub_handoff(struct green_hub_part *h,
                                                     struct green_task *self);

/* How many hand-offs the calling thread's hub made (0 without a hub): for the tests, which
 * link the static library, to see that a ping-pong does hand off. */
GREEN_HIDDEN uint64_t green__hub_handoff_count(void);

/* What every park records before its switch: what self is blocked in and on (runinfo.c),
 * and for the monitor, who runs next. */
static inline void green__hub_park_begin(struct green_hub_part *h, struct green_task *self,
                                         void *token, const char *api, const struct green *to)
{
    GREEN_ASSERT(self->g == h->ts->core.current && self->g != h->hub);
    self->blocked_in = api ? api : "the hub's shutdown";
    self->blocked_on = token;
    green__hub_note_running(h, to == h->hub ? 0 : to->id);
}

/* green__hub_block_via's switch: returns its status.  The wake-up it waits for is status 0
 * with self->got == token (self->blocked_on); anything else is green__hub_block_failed's.
 * Nothing but self is needed after the switch, so a wait that inlines this and leaves its
 * failures to a call out of line keeps one register across the switch, not six. */
static inline __attribute__((always_inline)) int
green__hub_park(struct green_hub_part *h, struct green_task *self, void *token, const char *api,
                struct green *to, void *value)
{
    green__hub_park_begin(h, self, token, api, to);
    int rc = to == h->hub /* perhaps not started yet, or a trace hook set: the full switch */
                 ? green_switch(to, value, &self->got)
                 : green__switch_started(h->ts, to, value, &self->got);
    self->blocked_in = NULL;
    return rc;
}

/* Greenlet only: park the caller (task self) and switch to the hub until something
 * resumes it with `token`.  Returns 0, or -1 with errno ECANCELED (GREEN_EXIT: self is
 * now killed), ETIMEDOUT (GREEN_TIMEOUT: self->fired says which), EDEADLK (LoopExit), EINTR
 * (a foreign switch or throw), with a message naming api.  The caller unlinks itself from
 * whatever it waited on when this fails.
 * Inline, as green__hub_resume: after a switch every return up the resumed side's call
 * chain is mispredicted (the CPU's return-stack buffer holds the other side's), so each
 * level less is a mispredict less per switch.
 * green__hub_block_via is the same but switches to `to` with `value`: the hub (with NULL),
 * or, by the hand-off, the greenlet the hub would resume next (green__hub_handoff's
 * choice).  Only the linkables' and the Queue's waits hand off (linkable.h, queue.c): a
 * greenlet the hub resumed as a callback's last act (h->tail_task) is one a linkable's
 * notifier or a Queue's _unlock woke, and in the ping-pongs the hand-off is for, its next
 * block is such a wait too.  Anywhere else the hub's path is as right and cheaper: the
 * check and the second target cost spawn+join (its join) 2-4 %. */
static inline __attribute__((always_inline)) int
green__hub_block_via(struct green_hub_part *h, struct green_task *self, void *token,
                     const char *api, struct green *to, void *value)
{
    int rc = green__hub_park(h, self, token, api, to, value);
    if (GREEN_LIKELY(rc == 0 && self->got == token))
        return 0;
    return green__hub_block_failed(self, rc, self->got, api);
}

/* green__hub_park into a greenlet the hand-off chose (not the hub): suspended in a wait,
 * no trace hook set.  The caller clears self->blocked_in when the wake-up is the one
 * expected; a failure's handler finds api there. */
static inline __attribute__((always_inline)) int
green__hub_park_into(struct green_hub_part *h, struct green_task *self, void *token,
                     const char *api, struct green *to, void *value)
{
    GREEN_ASSERT(to != h->hub && api);
    green__hub_park_begin(h, self, token, api, to);
    return green__switch_started(h->ts, to, value, &self->got);
}

/* green__hub_block_failed for a park that left its call's name in self->blocked_in
 * (green__hub_park_into, green__hub_park_tail): it clears it.  Returns -1 with errno; the
 * caller then undoes what its block set up. */
GREEN_HIDDEN int green__hub_park_failed(struct green_task *self, int status);

#if GREEN_CORE_PARK
/* Whether a block may switch into `to` (the hub, or the greenlet a hand-off chose) by
 * green__hub_park_tail: no trace hook set (it would miss the switch), and `to` started and
 * on a private stack or resident on its shared one, nothing to copy (the hub, before its
 * first run, is not started). */
static inline bool green__hub_can_park(const struct green *to)
{
    return GREEN_LIKELY(green__tls_fast && to->state == GS_ACTIVE) &&
           (!(to->flags & GF_SHARED) || green__shared_resident(&to->thread->shared, to));
}

/* green__hub_park as a tail switch (green__switch_park), for `to` green__hub_can_park
 * allows: called in tail position by the blocking call itself, which then returns 0
 * straight to its caller when resumed with token, else what fail(status) returns
 * (green__hub_block_failed's -1, after undoing what the block set up: the waiter unlinked,
 * the wake-up cancelled).  Whoever resumes self with token clears self->blocked_in first
 * (green__wake_task, green__hub_take_head_for): nothing runs in self before its caller. */
static inline __attribute__((always_inline)) int
green__hub_park_tail(struct green_hub_part *h, struct green_task *self, void *token,
                     const char *api, struct green *to, void *value, int (*fail)(int status))
{
    GREEN_ASSERT(api && green__hub_can_park(to));
    green__hub_park_begin(h, self, token, api, to);
    return green__switch_park(h->ts, to, value, &self->got, token, fail);
}
#endif

static inline int green__hub_block(struct green_hub_part *h, struct green_task *self,
                                   void *token, const char *api)
{
    return green__hub_block_via(h, self, token, api, h->hub, NULL);
}

/* Greenlet only: green__hub_block, but the switch goes straight into `to` with `value`: the
 * greenlet the hub would resume next, the hub's bookkeeping up to that resume done by the
 * caller (start_handoff.c).  A failed switch is fatal, as the hub's own resume is. */
GREEN_HIDDEN GREEN_NORETURN void green__hub_cannot_resume(struct green *g);
static inline int green__hub_block_into(struct green_hub_part *h, struct green_task *self,
                                        void *token, const char *api, struct green *to,
                                        void *value)
{
    (void)h; /* for the assertion */
    GREEN_ASSERT(self->g == h->ts->core.current && to != self->g);
    void *got = NULL;
    self->blocked_in = api ? api : "the hub's shutdown";
    self->blocked_on = token;
    int rc = green_switch(to, value, &got);
    self->blocked_in = NULL;
    if (GREEN_LIKELY(rc == 0 && got == token))
        return 0;
    if (rc == -1)
        green__hub_cannot_resume(to);
    return green__hub_block_failed(self, rc, got, api);
}

/* Greenlet only, in a join of task t not started yet, linked and about to block (self the
 * joiner): if all the hub would do until its start callback resumes t is bookkeeping, do it
 * and return true — the caller then switches straight into t with t (green__hub_block_into);
 * else false, nothing done (start_handoff.c). */
GREEN_HIDDEN bool green__start_handoff(struct green_hub_part *h, struct green_task *self,
                                       struct green_task *t);

/* Hub only: switch (err 0) or throw (err > 0) into g with value, and come back when it
 * blocks or dies; a death is recorded on g's task.  The callbacks' one way into a
 * greenlet. */
static inline void green__hub_resume(struct green_hub_part *h, struct green *g, int err,
                                     void *value)
{
    struct green_thread *ts = h->ts;
    void *got = NULL;
    ts->core.finished = NULL;
    green__hub_note_running(h, g->id);
    int rc = err ? green_throw(g, err, value, &got) : green_switch(g, value, &got);
    green__hub_note_running(h, 0);
    if (GREEN_LIKELY(!ts->core.finished && rc >= 0))
        return;
    green__hub_resumed(h, g, rc, got);
}

/* Hub only: a callback's last act, resuming task t with obj when all that is left of the
 * callback afterwards is tail(h, obj): t may then run the tail itself when it blocks, and
 * start the next callback in the hub's stead (handoff.c).  Whatever the tail refers to may
 * be gone when this returns (the tail ran, here or in t): the caller touches nothing after. */
static inline void green__hub_set_tail(struct green_hub_part *h, struct green_task *t,
                                       green_tail_fn tail, void *obj);
static inline void green__hub_resume_last(struct green_hub_part *h, struct green_task *t, void *obj,
                                          green_tail_fn tail)
{
    green__hub_set_tail(h, t, tail, obj);
    green__hub_resume(h, t->g, 0, obj);
    /* Ours, or that of the last callback a greenlet started in our stead, or none left. */
    green_tail_fn fn = h->tail_fn;
    h->tail_task = NULL;
    h->tail_fn = NULL;
    if (fn)
        fn(h, h->tail_obj, true);
}

/* What is left of the callback running now (the hub's, or one a greenlet started in its
 * stead), once it resumed task t as its last act: tail(h, obj). */
static inline void green__hub_set_tail(struct green_hub_part *h, struct green_task *t,
                                       green_tail_fn tail, void *obj)
{
    h->tail_task = t;
    h->tail_fn = tail;
    h->tail_obj = obj;
}

/* A greenlet starting the queue's head callback in the hub's stead, the callback's run
 * done up to its last act, the resume of the task waiting through link `wait` with obj:
 * the drain's take of the head, and the tail registered as green__hub_resume_last
 * registers it.  Returns that task; *value is obj, what the resume would pass. */
static inline struct green_task *green__hub_take_head_for(struct green_hub_part *h,
                                                          struct green_link *wait,
                                                          green_tail_fn tail, void *obj,
                                                          void **value)
{
    green__callback_take_head(h);
    struct green_task *t = green__task_of_wait(wait);
    t->blocked_in = NULL; /* resumed by the wake-up it waits for (green__hub_park_tail) */
    green__hub_set_tail(h, t, tail, obj);
    *value = obj;
    return t;
}

/* Hub only: resume task t, waiting for obj, with obj: the wake-up its wait expects, so the
 * wait's record of what it is blocked in ends here (green__hub_park_tail). */
static inline void green__wake_task(struct green_hub_part *h, struct green_task *t, void *obj)
{
    t->blocked_in = NULL;
    green__hub_resume(h, t->g, 0, obj);
}

/* Hub only: resume the greenlet waiting through link `l` (its task's wait link) with obj:
 * the notify function of every waiter link. */
GREEN_HIDDEN void green__wake_waiter(struct green_hub_part *h, struct green_link *l, void *obj);

/* Hub only: run link l's notify with obj.  A waiter's (the common case) is resumed right
 * here: one call level, and so one return-stack mispredict, less (see green__hub_block). */
static inline void green__link_notify(struct green_hub_part *h, struct green_link *l, void *obj)
{
    if (GREEN_LIKELY(l->notify == green__wake_waiter))
        green__wake_task(h, green__task_of_wait(l), obj);
    else
        l->notify(h, l, obj);
}

/* The kinds of callback a greenlet may start in the hub's stead.  One: the notifier of an
 * Event, AsyncResult, Semaphore or Lock (src/sync/linkable.c).  start: if cb's run would
 * begin by resuming one plain waiter (not self) as its last act, take cb from the queue,
 * do the run's part up to that resume, register its tail as green__hub_resume_last does,
 * and return the waiter (*value: what the resume passes); else NULL, nothing done. */
GREEN_HIDDEN void green__notifier_run(struct green_hub_part *h, struct green_callback *cb);
GREEN_HIDDEN struct green_task *green__notifier_start(struct green_hub_part *h,
                                                      struct green_callback *cb,
                                                      struct green_task *self, void **value);

/* The other: a Queue's _unlock (src/sync/queue.c), the same way when its first act is to
 * wake the first getter, a plain waiter other than self; the loop that follows is its tail. */
GREEN_HIDDEN void green__queue_unlock_run(struct green_hub_part *h, struct green_callback *cb);
GREEN_HIDDEN struct green_task *green__queue_unlock_start(struct green_hub_part *h,
                                                          struct green_callback *cb,
                                                          struct green_task *self, void **value);

/* Greenlet only, at the end of task t's body, which returned value: if all the hub would
 * do after t's death until it resumes t's first joiner is bookkeeping, do that bookkeeping
 * now (the report of value included), let t's greenlet finish straight into that joiner
 * (see death_handoff.c) and return true; else false, nothing done. */
GREEN_HIDDEN bool green__death_handoff(struct green_hub_part *h, struct green_task *t,
                                       void *value);

/* Hub only, when first switched to after a death hand-off: what the hub would have done from
 * the joiner's block on — the rest of the dead task's notifier. */
GREEN_HIDDEN void green__death_handoff_end(struct green_hub_part *h);

/* Hub only: the notifier of dead task t (t->notifying set) from its next link on: runs the
 * links left, in order, then ends the notifier; t may be freed when this returns. */
GREEN_HIDDEN void green__task_notify_rest(struct green_hub_part *h, struct green_task *t);

/* Called by the hub when a task's greenlet died with (err, value). */
GREEN_HIDDEN void green__task_died(struct green_hub_part *h, struct green_task *t, int err,
                                   void *value);

/* gevent's rawlink: append l to t's links, run by t's notifier once t is ready (queued now
 * if t is ready already and none is pending).  For links, Group and wait/iwait. */
GREEN_HIDDEN void green__task_link(struct green_hub_part *h, struct green_task *t,
                                   struct green_link *l);

/* Set up t as g's task (g->ext = t), its callbacks and links ready to use. */
GREEN_HIDDEN void green__task_init(struct green_hub_part *h, struct green_task *t, struct green *g);

/* Kill t without waiting (green_kill_nowait's work). */
GREEN_HIDDEN void green__task_kill(struct green_hub_part *h, struct green_task *t);

/* Greenlet only: wait until t is ready.  Returns 0, or -1 with errno (ETIMEDOUT for the
 * own timeout too). */
GREEN_HIDDEN int green__task_join(struct green_hub_part *h, struct green_task *t, double timeout,
                                  const char *api);

/* Shutdown: free every task record (all dead), whether released or not. */
GREEN_HIDDEN void green__tasks_free_all(struct green_hub_part *h);

/* Thread exit: shut the hub down (thread.c's table). */
GREEN_HIDDEN void green__hub_term(struct green_thread *ts);

/* ---- greenlet-level services (links in task.c; local.c, report.c, monitor.c) ------- */

/* g as a task of the calling thread's hub, spawned and not released; else NULL with errno
 * EINVAL or EXDEV and a message naming api. */
GREEN_HIDDEN struct green_task *green__task_arg(const green_t *g, const char *api);

/* Drop one pin taken by t->pins++ (a queued job referring to t); t may be freed. */
GREEN_HIDDEN void green__task_unpin(struct green_hub_part *h, struct green_task *t);

/* Report a greenlet that died with error err and nobody linked: the hub's handler, or one
 * line on stderr. */
GREEN_HIDDEN void green__report_unjoined(struct green_hub_part *h, struct green_task *t, int err,
                                         void *value);

/* Run the destructors of t's greenlet-local values and free them (t's greenlet died, or the
 * hub of the main greenlet is shutting down). */
GREEN_HIDDEN void green__locals_destroy(struct green_task *t);

/* Stop and join the hub's monitor thread, if any (hub shutdown). */
GREEN_HIDDEN void green__monitor_stop(struct green_hub_part *h);

/* Seconds to a libev timer delay: negative (forever) never gets here. */
static inline bool green__timeout_valid(double seconds) { return seconds == seconds; }

/* The timeout check of every call that takes one: 0, or -1 with errno EINVAL (NaN). */
static inline int green__timeout_check(double seconds, const char *api)
{
    return green__timeout_valid(seconds) ? 0 : green__fail(EINVAL, api, "the timeout is NaN");
}

#endif /* GREEN_HUB_HUB_H */
