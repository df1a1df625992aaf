/* SPDX-License-Identifier: MIT */
/* Greenlets on the hub: gevent's Greenlet — spawn, join, kill, links, release.
 *
 * A task is the hub's record of a spawned greenlet.  Its start is a queued callback (or a
 * timer for green_spawn_later); its death is recorded when the greenlet reports its
 * result (returning from its body) or when the hub sees it finish (green_exit with an
 * error); then one notifier callback runs its links — joiners and link callbacks — in the
 * order they were made (gevent's _notify_links).  A link made after death queues the
 * notifier again (gevent's rawlink).  At death the greenlet's locals are destroyed and an
 * error nobody linked is reported (report.c).
 *
 * Kill is gevent's: an unstarted task is killed on the spot (its start is cancelled, it
 * never runs); a started one gets a queued _kill callback that throws GREEN_EXIT into it
 * wherever it is blocked, then, for a blocking kill, resumes the killer directly.
 *
 * Lifetime: a task record (and its greenlet record) is freed when the task is dead, the
 * user has released the handle, and nothing queued still refers to it (its notifier, kill
 * callbacks: `pins`).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "hub.h"

#define API_JOIN "green_join"

static struct green_task *task_of_callback(struct green_callback *cb, size_t offset)
{
    return (struct green_task *)((char *)cb - offset);
}

/* Freed task records are kept for reuse, up to SPARE_TASKS per hub: spawn + join of a
 * short task spent a fifth of its time in calloc and free. */
#define SPARE_TASKS 64

/* A reused record is zeroed with word stores in a loop.  gcc turns a memset, a struct
 * assignment or a copy of a zero record of this size into rep stosq / rep movsq, whose
 * start-up cost was a tenth of spawn + join (on Intel and Zen 5 alike); the attribute keeps
 * it from recognising the loop as a memset again; it vectorizes it instead, unrolled: the
 * loop's own counting was two thirds of its instructions. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static void zero_task(struct green_task *t)
{
    _Static_assert(sizeof *t % sizeof(uint64_t) == 0, "a task record is whole words");
    uint64_t *w = (uint64_t *)(void *)t;
#pragma GCC unroll 64
    for (size_t i = 0; i < sizeof *t / sizeof *w; i++)
        w[i] = 0;
}

static struct green_task *task_alloc(struct green_hub_part *h)
{
    struct green_task *t = h->spare_tasks;
    if (!t)
        return calloc(1, sizeof *t);
    h->spare_tasks = t->next_live;
    h->nspare_tasks--;
    zero_task(t);
    return t;
}

static void task_free(struct green_hub_part *h, struct green_task *t)
{
    if (h->shutting_down || h->nspare_tasks >= SPARE_TASKS) {
        free(t);
        return;
    }
    t->next_live = h->spare_tasks;
    h->spare_tasks = t;
    h->nspare_tasks++;
}

static void drop_user_links(struct green_task *t);

static void maybe_free(struct green_hub_part *h, struct green_task *t)
{
    if (t->phase != TASK_DEAD || !t->released || t->pins || t->notifier.queued || t->notifying)
        return;
    if (t->prev_live)
        t->prev_live->next_live = t->next_live;
    else
        h->live = t->next_live;
    if (t->next_live)
        t->next_live->prev_live = t->prev_live;
    drop_user_links(t);
    t->g->ext = NULL;
    green__release(t->g); /* dead, or never started: nothing runs */
    task_free(h, t);
}

/* ---- death and links ------------------------------------------------------------------ */

void green__task_notify_rest(struct green_hub_part *h, struct green_task *t)
{
    struct green_link *l;
    while ((l = link_pop_front(&t->links)))
        green__link_notify(h, l, t->g);
    t->notifying = false;
    maybe_free(h, t);
}

static void run_notifier(struct green_hub_part *h, struct green_callback *cb)
{
    struct green_task *t = task_of_callback(cb, offsetof(struct green_task, notifier));
    t->notifying = true;
    green__task_notify_rest(h, t);
}

static void queue_notifier(struct green_hub_part *h, struct green_task *t)
{
    if (!link_list_empty(&t->links) && !t->notifier.queued && !t->notifying)
        green__callback_queue(h, &t->notifier);
}

/* gevent's __report_result / __report_error: the result is known (ready), joiners are
 * notified from the queue. */
static void report(struct green_hub_part *h, struct green_task *t, int err, void *value)
{
    if (t->reported)
        return;
    t->reported = true;
    t->err = err;
    t->value = value;
    queue_notifier(h, t);
}

void green__task_link(struct green_hub_part *h, struct green_task *t, struct green_link *l)
{
    link_append(&t->links, l);
    if (t->reported)
        queue_notifier(h, t);
}

void green__task_died(struct green_hub_part *h, struct green_task *t, int err, void *value)
{
    bool unjoined = !t->reported && err > 0 && link_list_empty(&t->links);
    report(h, t, err, value);
    t->phase = TASK_DEAD;
    if (unjoined)
        green__report_unjoined(h, t, err, value);
    green__timeouts_disarm(h, t);
    green__locals_destroy(t);
    maybe_free(h, t);
}

void green__task_unpin(struct green_hub_part *h, struct green_task *t)
{
    t->pins--;
    maybe_free(h, t);
}

/* ---- link callbacks -------------------------------------------------------------------- */

enum link_when { LINK_ALWAYS, LINK_VALUE, LINK_ERROR };

struct user_link {
    struct green_link link; /* first: the notifier hands us the link */
    green_link_fn fn;
    void *arg;
    enum link_when when;
};

static void run_user_link(struct green_hub_part *h, struct green_link *l, void *obj)
{
    (void)h;
    struct user_link *u = (struct user_link *)l;
    const struct green_task *t = green__task_of(obj);
    if (u->when == LINK_ALWAYS || (u->when == LINK_VALUE) == (t->err == 0))
        u->fn(obj, u->arg);
    free(u);
}

/* Links left when a task is freed (their notifier was dropped at hub shutdown). */
static void drop_user_links(struct green_task *t)
{
    for (struct green_link *l = t->links.head, *next; l; l = next) {
        next = l->next;
        if (l->notify == run_user_link) {
            link_remove(l);
            free(l);
        }
    }
}

/* ---- spawning ------------------------------------------------------------------------ */

static void *task_main(void *arg)
{
    struct green_task *t = arg;
    void *value = t->fn(t->arg);
    if (green__death_handoff(t->h, t, value))
        return t->g; /* to the joiner, as the notifier resumes it: see green__task_join */
    report(t->h, t, 0, value);
    return value;
}

static void run_start(struct green_hub_part *h, struct green_callback *cb)
{
    struct green_task *t = task_of_callback(cb, offsetof(struct green_task, start));
    t->phase = TASK_RUNNING;
    h->resuming_last = t;
    green__hub_resume(h, t->g, 0, t);
    h->resuming_last = NULL;
}

static void on_start_later(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct green_task *t = w->data;
    t->phase = TASK_RUNNING;
    green__hub_resume(t->h, t->g, 0, t);
}

static void run_wake(struct green_hub_part *h, struct green_callback *cb)
{
    struct green_task *t = task_of_callback(cb, offsetof(struct green_task, wake));
    h->resuming_last = t;
    green__wake_task(h, t, cb);
    h->resuming_last = NULL;
}

void green__task_init(struct green_hub_part *h, struct green_task *t, struct green *g)
{
    t->g = g;
    t->h = h;
    t->start.run = run_start;
    t->notifier.run = run_notifier;
    t->wake.run = run_wake;
    t->wait.notify = green__wake_waiter;
    g->ext = t;
}

static green_t *spawn(double delay, green_fn fn, void *arg, const green_attr_t *attr,
                      const char *api)
{
    struct green_hub_part *h = green__hub_get(api);
    if (!h)
        return NULL;
    if (!fn) {
        green__fail(EINVAL, api, "fn is NULL");
        return NULL;
    }
    struct green_task *t = task_alloc(h);
    if (!t) {
        green__fail(ENOMEM, api, "no memory for the greenlet's task");
        return NULL;
    }
    struct green *g = green_new(task_main, h->hub, attr);
    if (!g) {
        int e = errno;
        char why[256];
        snprintf(why, sizeof why, "%s", green_last_error());
        task_free(h, t);
        green__fail(e, api, "%s", why);
        return NULL;
    }
    green__task_init(h, t, g);
    t->fn = fn;
    t->arg = arg;
    t->spawned = true;
    t->phase = TASK_QUEUED;
    t->next_live = h->live;
    if (h->live)
        h->live->prev_live = t;
    h->live = t;
    if (delay < 0) {
        green__callback_queue(h, &t->start);
    } else {
        ev_timer_init(&t->start_later, on_start_later, delay, 0.0);
        t->start_later.data = t;
        if (h->in_callbacks)
            ev_now_update(h->loop);
        ev_timer_start(h->loop, &t->start_later);
    }
    return g;
}

GREEN_API green_t *green_spawn(green_fn fn, void *arg, const green_attr_t *attr)
{
    return spawn(-1.0, fn, arg, attr, "green_spawn");
}

GREEN_API green_t *green_spawn_later(double seconds, green_fn fn, void *arg,
                                     const green_attr_t *attr)
{
    if (!(seconds >= 0)) {
        green__fail(EINVAL, "green_spawn_later", "the delay must be >= 0 (got %g)", seconds);
        return NULL;
    }
    return spawn(seconds, fn, arg, attr, "green_spawn_later");
}

/* ---- handles ------------------------------------------------------------------------- */

/* Why g is not a task of the calling thread's hub that the caller may use: NULL with errno.
 * Out of line and cold: its message buffer, and the stack canary that brings, stay off the
 * fast path of every call that takes a handle (join and release at every spawn + join). */
GREEN_COLD static struct green_task *task_arg_refused(const green_t *g, const char *api)
{
    if (!g) {
        green__fail(EINVAL, api, "greenlet is NULL");
        return NULL;
    }
    struct green *r = (struct green *)g; /* green__check passed */
    struct green_thread *ts = green__thread_get(api);
    if (!ts)
        return NULL;
    if (r->thread != ts) {
        green__refuse_foreign(ts, r, api, "greenlet");
        return NULL;
    }
    struct green_task *t = green__task_of(r);
    char who[GREEN_DESCRIBE_MAX];
    if (!t || !t->spawned) {
        green__fail(EINVAL, api, "greenlet %s was not spawned on the hub",
                    green__describe(r, who, sizeof who));
        return NULL;
    }
    green__fail(EINVAL, api, "greenlet %s was released (use after green_release)",
                green__describe(r, who, sizeof who));
    return NULL;
}

/* g as a task of the calling thread's hub, or NULL with errno. */
static inline struct green_task *task_arg(const green_t *g, const char *api)
{
    if (GREEN_LIKELY(g != NULL)) {
        struct green *r = green__check(g, api);
        struct green_thread *ts = green__tls;
        struct green_task *t = green__task_of(r);
        if (GREEN_LIKELY(ts && r->thread == ts && t && t->spawned && !t->released))
            return t;
    }
    return task_arg_refused(g, api);
}

GREEN_API int green_release(green_t *g)
{
    struct green_task *t = task_arg(g, "green_release");
    if (!t)
        return -1;
    t->released = true;
    maybe_free(t->h, t);
    return 0;
}

struct green_task *green__task_arg(const green_t *g, const char *api) { return task_arg(g, api); }

static int link_as(green_t *g, green_link_fn fn, void *arg, enum link_when when, const char *api)
{
    struct green_task *t = task_arg(g, api);
    if (!t)
        return -1;
    if (!fn)
        return green__fail(EINVAL, api, "fn is NULL");
    struct user_link *u = malloc(sizeof *u);
    if (!u)
        return green__fail(ENOMEM, api, "no memory for the link");
    *u = (struct user_link){.link.notify = run_user_link, .fn = fn, .arg = arg, .when = when};
    green__task_link(t->h, t, &u->link);
    return 0;
}

GREEN_API int green_link(green_t *g, green_link_fn fn, void *arg)
{
    return link_as(g, fn, arg, LINK_ALWAYS, "green_link");
}

GREEN_API int green_link_value(green_t *g, green_link_fn fn, void *arg)
{
    return link_as(g, fn, arg, LINK_VALUE, "green_link_value");
}

GREEN_API int green_link_error(green_t *g, green_link_fn fn, void *arg)
{
    return link_as(g, fn, arg, LINK_ERROR, "green_link_error");
}

GREEN_API int green_unlink(green_t *g, green_link_fn fn, void *arg)
{
    struct green_task *t = task_arg(g, "green_unlink");
    if (!t)
        return -1;
    for (struct green_link *l = t->links.head; l; l = l->next) {
        struct user_link *u = (struct user_link *)l;
        if (l->notify == run_user_link && u->fn == fn && u->arg == arg) {
            link_remove(l);
            free(u);
            return 1;
        }
    }
    return 0;
}

GREEN_API bool green_ready(const green_t *g)
{
    const struct green_task *t = g ? green__task_of(green__check(g, "green_ready")) : NULL;
    return t && t->spawned && t->reported;
}

GREEN_API bool green_successful(const green_t *g)
{
    const struct green_task *t = g ? green__task_of(green__check(g, "green_successful")) : NULL;
    return t && t->spawned && t->reported && t->err == 0;
}

/* ---- join ---------------------------------------------------------------------------- */

int green__task_join(struct green_hub_part *h, struct green_task *t, double timeout,
                     const char *api)
{
    if (t->reported)
        return 0;
    struct green_task *self = green__hub_self(h, api);
    if (!self)
        return -1;
    if (self == t)
        return green__fail(EDEADLK, api, "a greenlet cannot wait for its own end");
    link_append(&t->links, &self->wait); /* rawlink: t is not ready, so no notifier yet */
    struct green_timeout *own = NULL;
    if (timeout >= 0 && !(own = green__timeout_start(h, timeout, api))) {
        link_remove(&self->wait);
        return -1;
    }
    int rc = t->phase == TASK_QUEUED && green__start_handoff(h, self, t)
                 ? green__hub_block_into(h, self, t->g, api, t->g, t) /* run_start's value */
                 : green__hub_block(h, self, t->g, api);
    if (GREEN_LIKELY(rc == 0 && !own))
        return 0; /* the common join: no errno to keep, no timeout to end */
    int e = errno;
    if (rc < 0)
        link_remove(&self->wait);
    green__timeout_end(h, own);
    errno = e;
    return rc;
}

GREEN_API int green_join(green_t *g, double timeout, void **result)
{
    struct green_task *t = task_arg(g, API_JOIN);
    if (!t)
        return -1;
    if (green__timeout_check(timeout, API_JOIN) < 0)
        return -1;
    if (green__task_join(t->h, t, timeout, API_JOIN) < 0)
        return -1;
    if (result)
        *result = t->value;
    return t->err;
}

/* ---- kill ---------------------------------------------------------------------------- */

struct kill_job {
    struct green_callback cb;
    struct green_task *victim;
    struct green_task *waiter; /* the blocking killer, until it stops waiting */
};

/* gevent's _kill: throw GREEN_EXIT into the victim where it is blocked now; then resume the
 * killer, if it still waits. */
static void run_kill(struct green_hub_part *h, struct green_callback *cb)
{
    struct kill_job *job = (struct kill_job *)cb;
    struct green_task *t = job->victim;
    if (t->phase == TASK_RUNNING) {
        t->killed = true;
        green__hub_resume(h, t->g, GREEN_EXIT, NULL);
    }
    struct green_task *waiter = job->waiter;
    t->pins--;
    maybe_free(h, t); /* t may be gone now (the blocking killer still holds its handle) */
    if (waiter)
        green__hub_resume(h, waiter->g, 0, job);
    free(job);
}

/* The unstarted case: cancel the start; it never runs (gevent's _maybe_kill_before_start). */
static void kill_before_start(struct green_hub_part *h, struct green_task *t)
{
    green__callback_cancel(h, &t->start);
    ev_timer_stop(h->loop, &t->start_later);
    t->killed = true;
    t->phase = TASK_DEAD;
    if (t->g->state == GS_NEW)
        green__cancel_start(t->g); /* green_state() says GREEN_DEAD from now on */
    report(h, t, 0, NULL);
    maybe_free(h, t);
}

static struct kill_job *queue_kill(struct green_hub_part *h, struct green_task *t,
                                   struct green_task *waiter, const char *api)
{
    struct kill_job *job = calloc(1, sizeof *job);
    if (!job) {
        green__fail(ENOMEM, api, "no memory to queue the kill");
        return NULL;
    }
    job->cb.run = run_kill;
    job->victim = t;
    job->waiter = waiter;
    t->pins++;
    green__callback_queue(h, &job->cb);
    return job;
}

void green__task_kill(struct green_hub_part *h, struct green_task *t)
{
    if (t->phase == TASK_QUEUED)
        kill_before_start(h, t);
    else if (!t->reported && !queue_kill(h, t, NULL, NULL))
        t->killed = true; /* no memory for the callback: at least its next block fails */
}

GREEN_API int green_kill_nowait(green_t *g)
{
    struct green_task *t = task_arg(g, "green_kill_nowait");
    if (!t)
        return -1;
    if (t->phase == TASK_QUEUED)
        kill_before_start(t->h, t);
    else if (!t->reported && !queue_kill(t->h, t, NULL, "green_kill_nowait"))
        return -1;
    return 0;
}

GREEN_API int green_kill(green_t *g, double timeout)
{
    const char *api = "green_kill";
    struct green_task *t = task_arg(g, api);
    if (!t)
        return -1;
    if (green__timeout_check(timeout, api) < 0)
        return -1;
    struct green_hub_part *h = t->h;
    if (t->phase == TASK_QUEUED) {
        kill_before_start(h, t);
        return 0;
    }
    if (t->reported)
        return 0;
    struct green_task *self = green__hub_self(h, api);
    if (!self)
        return -1; /* refused: the victim is not killed either */
    struct kill_job *job = queue_kill(h, t, self, api);
    if (!job)
        return -1;
    if (green__hub_block(h, self, job, api) < 0) {
        job->waiter = NULL; /* still queued, or running the kill of self: see run_kill */
        return -1;
    }
    return green__task_join(h, t, timeout, api);
}

/* ---- shutdown ------------------------------------------------------------------------ */

void green__tasks_free_all(struct green_hub_part *h)
{
    struct green_task *t;
    while ((t = h->live)) {
        GREEN_ASSERT(t->phase == TASK_DEAD && !t->notifier.queued);
        t->released = true;
        t->pins = 0;
        t->notifying = false;
        maybe_free(h, t);
    }
    while ((t = h->spare_tasks)) {
        h->spare_tasks = t->next_live;
        free(t);
    }
    h->nspare_tasks = 0;
}
