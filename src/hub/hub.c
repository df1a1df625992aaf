/* SPDX-License-Identifier: MIT */
/* The hub greenlet: its loop, the way greenlets block on it and are resumed by it,
 * LoopExit, and shutdown.
 *
 * The hub is a greenlet whose parent is the thread's main greenlet.  Its body runs libev's
 * ev_run; every callback and watcher runs inside it.  A greenlet blocks by switching to the
 * hub (green__hub_block); the hub resumes it from a callback or watcher (green__hub_resume),
 * and that callback is suspended until the greenlet switches back — the trampolining that
 * gives gevent its order.  When ev_run returns, no watcher and no callback is left that
 * could ever resume anyone: like gevent's Hub.run, the hub then throws LoopExit into main,
 * wherever main is blocked, and starts the loop again when main next blocks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/error.h"
#include "core/thread.h"
#include "child.h"
#include "hub.h"
#include "patch_hook.h"
#include "watch.h"
#include "threadpool.h"

/* Callbacks and watchers run on the hub's stack. */
#define HUB_STACK ((size_t)1024 * 1024)

static void *hub_run(void *arg)
{
    (void)arg;
    struct green_hub_part *h = green__tls->hub;
    for (;;) {
        if (h->shutting_down)
            return NULL;
        ev_run(h->loop, 0);
        if (h->shutting_down)
            return NULL;
        green__hub_resume(h, &h->ts->core.main, GREEN_LOOP_EXIT, NULL);
    }
}

/* The thread's hub part, allocated with its first hub and kept until the thread exits:
 * every hub the thread makes is this one part again, so objects made on an earlier hub
 * (sync.h) still name their owner, and no other thread's part can ever be at its address
 * while it lives. */
static _Thread_local struct green_hub_part *kept;
_Thread_local struct green_hub_part *green__tls_hub __attribute__((tls_model("initial-exec")));

struct green_hub_part *green__hub_kept(void) { return kept; }

GREEN_COLD static struct green_hub_part *hub_create(struct green_thread *ts, const char *api)
{
    if (!kept && !(kept = malloc(sizeof *kept))) {
        green__fail(ENOMEM, api, "no memory for the thread's hub");
        return NULL;
    }
    struct green_hub_part *h = kept;
    memset(h, 0, sizeof *h);
    /* The process's main thread runs on libev's default loop (it also serves child
     * watchers); every other thread gets a loop of its own. */
    bool main_thread = getpid() == (pid_t)syscall(SYS_gettid);
    h->loop = main_thread ? ev_default_loop(EVFLAG_AUTO) : ev_loop_new(EVFLAG_AUTO);
    if (!h->loop) {
        green__fail(ENOMEM, api, "libev could not create an event loop");
        return NULL;
    }
    green_attr_t attr = GREEN_ATTR_INIT;
    attr.name = "hub";
    attr.stack_size = HUB_STACK;
    h->hub = green_new(hub_run, &ts->core.main, &attr);
    /* The hub has no task (ext NULL): green__hub_self refuses it by that alone. */
    GREEN_ASSERT(!h->hub || !h->hub->ext);
    if (!h->hub) {
        ev_loop_destroy(h->loop);
        h->loop = NULL;
        green__fail(ENOMEM, api, "no memory for the hub greenlet");
        return NULL;
    }
    /* From the start: libev reaps children from now on, and keeps no status itself. */
    if (main_thread && green__children_start(h) < 0) {
        green_destroy(h->hub);
        ev_loop_destroy(h->loop);
        h->loop = NULL;
        green__fail(ENOMEM, api, "no memory for the hub's children");
        return NULL;
    }
    h->ts = ts;
    ev_set_userdata(h->loop, h);
    green__callbacks_init(h);
    green__task_init(h, &h->main_task, &ts->core.main);
    h->main_task.phase = TASK_RUNNING;
    ts->hub = green__tls_hub = h;
    green__patch_hub_here = true;
    green__fork_init();
    return h;
}

struct green_hub_part *green__hub_get(const char *api)
{
    struct green_thread *ts = green__thread_get(api);
    if (!ts)
        return NULL;
    return GREEN_LIKELY(ts->hub != NULL) ? ts->hub : hub_create(ts, api);
}

/* green__hub_self's refusals, apart: their message buffer would give every call a
 * stack-protector check. */
GREEN_COLD struct green_task *green__hub_refuse_self(struct green_hub_part *h, struct green *cur,
                                                     struct green_task *t, const char *api)
{
    char who[GREEN_DESCRIBE_MAX];
    if (cur == h->hub)
        green__fail(EPERM, api,
                    "called from the hub (a callback or watcher), which cannot "
                    "block");
    else if (!t)
        green__fail(EPERM, api,
                    "greenlet %s was not spawned on the hub: only the main "
                    "greenlet and spawned greenlets can block",
                    green__describe(cur, who, sizeof who));
    else
        green__fail(ECANCELED, api, "greenlet %s is being killed",
                    green__describe(cur, who, sizeof who));
    return NULL;
}

/* Why a block ended otherwise than by the hub's resume with the token (rc, got: what the
 * switch returned), as green__hub_block's errno. */
int green__hub_block_failed(struct green_task *self, int rc, void *got, const char *api)
{
    char who[GREEN_DESCRIBE_MAX];
    green__describe(self->g, who, sizeof who);
    switch (rc) {
    case -1:
        return -1; /* the hub could not be started: green_switch said why */
    case 0:
        return green__fail(EINTR, api,
                           "greenlet %s was resumed by a switch that was not "
                           "the hub's",
                           who);
    case GREEN_EXIT:
        self->killed = true;
        return green__fail(ECANCELED, api, "greenlet %s is being killed", who);
    case GREEN_TIMEOUT:
        self->fired = got;
        return green__fail(ETIMEDOUT, api, "timed out");
    case GREEN_LOOP_EXIT:
        return green__fail(EDEADLK, api,
                           "this operation would block forever: no callback "
                           "and no active watcher is left on the hub");
    default:
        return green__fail(EINTR, api,
                           "greenlet %s was interrupted by error %d thrown into "
                           "it",
                           who, rc);
    }
}

int green__hub_park_failed(struct green_task *self, int status)
{
    const char *api = self->blocked_in;
    self->blocked_in = NULL;
    return green__hub_block_failed(self, status, self->got, api);
}

void green__hub_cannot_resume(struct green *g)
{
    char who[GREEN_DESCRIBE_MAX];
    green__fatal(NULL, "the hub could not resume greenlet %s: %s",
                 green__describe(g, who, sizeof who), green_last_error());
}

void green__hub_resumed(struct green_hub_part *h, struct green *g, int rc, void *got)
{
    struct green_thread *ts = h->ts;
    struct green *dead = ts->core.finished;
    if (dead) {
        ts->core.finished = NULL;
        struct green_task *t = green__task_of(dead);
        if (t && t->spawned && t != h->death_handoff) /* that one's death is recorded */
            green__task_died(h, t, rc > 0 ? rc : 0, got);
    } else if (rc < 0) {
        green__hub_cannot_resume(g);
    }
    /* The greenlet a death hand-off resumed has blocked (the switch that brought us here:
     * its finish left ts->core.finished set, so the resume came this way). */
    if (h->death_handoff)
        green__death_handoff_end(h);
}

void green__wake_waiter(struct green_hub_part *h, struct green_link *l, void *obj)
{
    green__wake_task(h, green__task_of_wait(l), obj);
}

/* ---- the public calls ---------------------------------------------------------------- */

GREEN_API green_t *green_hub(void)
{
    struct green_hub_part *h = green__hub_get("green_hub");
    return h ? h->hub : NULL;
}

GREEN_API struct ev_loop *green_hub_loop(void)
{
    struct green_hub_part *h = green__hub_get("green_hub_loop");
    return h ? h->loop : NULL;
}

GREEN_API int green_hub_set_time_budget(bool on)
{
    struct green_hub_part *h = green__hub_get("green_hub_set_time_budget");
    if (!h)
        return -1;
    h->budget = on;
    return 0;
}

/* ---- shutdown ---------------------------------------------------------------------- */

/* Kill every task, wait for all to die; then let the hub greenlet leave its loop, and free
 * everything.  Runs in the main greenlet. */
static int hub_stop(struct green_hub_part *h, const char *api)
{
    struct green_thread *ts = h->ts;
    for (struct green_task *t = h->live, *next; t; t = next) {
        next = t->next_live; /* killing t may free t, never another task */
        if (t->phase != TASK_DEAD)
            green__task_kill(h, t);
    }
    for (;;) { /* joining one may free any number of them: start over each time */
        struct green_task *t = h->live;
        while (t && t->phase == TASK_DEAD)
            t = t->next_live;
        if (!t && h->head) {
            /* All dead, but their death notifications (links: groups, joiners, the
             * program's green_link callbacks) are still queued: run them, as the loop would
             * have, behind main's own turn; they may spawn more, killed next round. */
            if (green_sleep(0) < 0) {
                char who[GREEN_DESCRIBE_MAX];
                return green__fail(EBUSY, api, "the callbacks of %s's hub did not run",
                                   green__describe(&ts->core.main, who, sizeof who));
            }
            continue;
        }
        if (!t)
            break;
        if (t->phase == TASK_QUEUED || (!t->killed && !t->pins)) {
            green__task_kill(h, t); /* spawned meanwhile (by a dying greenlet's cleanup) */
            continue;               /* which may have freed it */
        }
        if (green__task_join(h, t, GREEN_FOREVER, api) < 0) {
            char who[GREEN_DESCRIBE_MAX];
            return green__fail(EBUSY, api, "greenlet %s did not die when killed",
                               green__describe(t->g, who, sizeof who));
        }
    }
    green__monitor_stop(h);
    green__locals_destroy(&h->main_task);
    green__timeouts_disarm(h, &h->main_task); /* main's, never ended: they stay endable */
    green__watch_term(h);
    green__children_stop(h); /* after the process watches that watch_term ended */
    green__threadpools_term(h); /* its tasks' waiters are dead: join the workers */
    /* Only now: the hub may be resumed at its loop's top (main got LoopExit earlier), and
     * must go on serving the kills and joins above rather than return. */
    h->shutting_down = true;
    green__callbacks_stop(h);
    if (green_state(h->hub) & GREEN_ACTIVE) {
        ev_break(h->loop, EVBREAK_ALL);
        green_switch(h->hub, NULL, NULL); /* it returns from hub_run and dies */
    }
    green__tasks_free_all(h);
    ts->core.main.ext = NULL;
    green_destroy(h->hub);
    ev_loop_destroy(h->loop);
    h->loop = NULL;
    /* the part itself stays, for the objects and the next hub (kept) */
    ts->hub = green__tls_hub = NULL;
    green__patch_hub_here = false;
    return 0;
}

GREEN_API int green_hub_shutdown(void)
{
    struct green_hub_part *h = green__hub_peek();
    if (!h)
        return 0;
    if (h->ts->core.current != &h->ts->core.main)
        return green__fail(EPERM, "green_hub_shutdown",
                           "must be called from the main "
                           "greenlet");
    return hub_stop(h, "green_hub_shutdown");
}

void green__hub_abandon(void) { green__tls_hub = NULL; }

void green__hub_term(struct green_thread *ts)
{
    if (ts->hub && hub_stop(ts->hub, NULL) != 0) {
        fprintf(stderr, "%s; its hub is not released\n", green_last_error());
        green__hub_abandon(); /* ts goes, the hub stays: nothing may reach ts through it */
        return;
    }
    free(kept);
    kept = NULL;
}
