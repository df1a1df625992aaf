/* SPDX-License-Identifier: MIT */
/* Signals: waiting for one (ev_signal per waiter) and gevent.signal_handler (a greenlet
 * spawned per delivery).
 *
 * libev lets a signal be watched by one loop at a time and aborts on a second one, so the
 * process keeps a table of which hub watches each signal, and how many of its watchers do:
 * a hub asking for a signal another hub holds is refused with EBUSY.  SIGCHLD belongs to
 * the default loop (libev's child watchers), so other hubs never get it.
 *
 * A delivery feeds every watcher of the signal; libev then invokes them oldest first, so
 * waiters wake in the order they began to wait.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "watch.h"

static pthread_mutex_t owners_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    const struct green_hub_part *hub;
    unsigned watchers;
} owners[NSIG];

static int check_signo(int signo, const char *api)
{
    if (signo <= 0 || signo >= NSIG)
        return green__fail(EINVAL, api, "%d is not a signal number", signo);
    if (signo == SIGKILL || signo == SIGSTOP)
        return green__fail(EINVAL, api, "signal %d cannot be caught", signo);
    return 0;
}

/* Count one more watcher of signo on h, if h may watch it. */
static int claim(struct green_hub_part *h, int signo, const char *api)
{
    if (signo == SIGCHLD && !ev_is_default_loop(h->loop))
        return green__fail(EBUSY, api,
                           "SIGCHLD is watched by libev's default loop (the main "
                           "thread's hub) only");
    pthread_mutex_lock(&owners_lock);
    bool taken = owners[signo].hub && owners[signo].hub != h;
    if (!taken) {
        owners[signo].hub = h;
        owners[signo].watchers++;
    }
    pthread_mutex_unlock(&owners_lock);
    if (taken)
        return green__fail(EBUSY, api, "signal %d is watched by another thread's hub", signo);
    return 0;
}

static void unclaim(int signo)
{
    pthread_mutex_lock(&owners_lock);
    if (--owners[signo].watchers == 0)
        owners[signo].hub = NULL;
    pthread_mutex_unlock(&owners_lock);
}

void green__signal_atfork_prepare(void) { pthread_mutex_lock(&owners_lock); }

void green__signal_atfork_parent(void) { pthread_mutex_unlock(&owners_lock); }

void green__signal_atfork_child(const struct green_hub_part *h)
{
    pthread_mutex_unlock(&owners_lock); /* the forking thread holds it (prepare) */
    for (int s = 0; s < NSIG; s++)
        if (owners[s].hub != h) { /* the other threads are gone in the child */
            owners[s].hub = NULL;
            owners[s].watchers = 0;
        }
}

/* ---- waiting ------------------------------------------------------------------------ */

struct signal_wait {
    ev_signal w;
    struct green_hub_part *h;
    struct green_task *self;
};

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop, (void)revents;
    struct signal_wait *sw = w->data;
    green__hub_resume(sw->h, sw->self->g, 0, sw);
}

GREEN_API int green_signal_wait(int signo, double timeout)
{
    const char *api = "green_signal_wait";
    if (check_signo(signo, api) < 0)
        return -1;
    struct green_hub_part *h;
    struct green_task *self = green__watch_self(&h, timeout, api);
    if (!self)
        return -1;
    struct signal_wait *sw = malloc(sizeof *sw);
    if (!sw)
        return green__fail(ENOMEM, api, "no memory for the wait");
    if (claim(h, signo, api) < 0) {
        free(sw);
        return -1;
    }
    ev_signal_init(&sw->w, on_signal, signo);
    sw->w.data = sw;
    sw->h = h;
    sw->self = self;
    ev_signal_start(h->loop, &sw->w);
    int rc = green__watch_block(h, self, sw, timeout, api);
    int e = errno;
    ev_signal_stop(h->loop, &sw->w);
    unclaim(signo);
    free(sw);
    errno = e;
    return rc;
}

/* ---- handlers ----------------------------------------------------------------------- */

struct green_signal_handler {
    struct green_owned owned; /* first: the term gets it */
    ev_signal w;
    struct green_hub_part *h;
    green_fn fn;
    void *arg;
};

/* gevent's signal._start: a new greenlet, switched to at once from the watcher (not a
 * queued start), so it runs until it first blocks before the hub goes on. */
static void on_delivery(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop, (void)revents;
    struct green_signal_handler *sh = w->data;
    green_t *g = green_spawn(sh->fn, sh->arg, NULL);
    if (!g) { /* nobody to tell but the user */
        fprintf(stderr, "%s: signal %d not handled\n", green_last_error(), w->signum);
        return;
    }
    struct green_task *t = green__task_of(g);
    green_release(g); /* freed when it ends; the hub holds it until then */
    green__callback_cancel(sh->h, &t->start);
    t->phase = TASK_RUNNING;
    green__hub_resume(sh->h, t->g, 0, t);
}

static void handler_term(struct green_hub_part *h, struct green_owned *o)
{
    struct green_signal_handler *sh = (struct green_signal_handler *)o;
    ev_ref(h->loop); /* balance the unref of green_signal_handle() */
    ev_signal_stop(h->loop, &sh->w);
    unclaim(sh->w.signum);
    green__owned_remove(h, o);
    free(sh);
}

GREEN_API green_signal_handler_t *green_signal_handle(int signo, green_fn fn, void *arg)
{
    const char *api = "green_signal_handle";
    if (check_signo(signo, api) < 0)
        return NULL;
    if (!fn) {
        green__fail(EINVAL, api, "fn is NULL");
        return NULL;
    }
    struct green_hub_part *h = green__hub_get(api);
    if (!h || !green__watch_get(h, api))
        return NULL;
    struct green_signal_handler *sh = malloc(sizeof *sh);
    if (!sh) {
        green__fail(ENOMEM, api, "no memory for the handler");
        return NULL;
    }
    if (claim(h, signo, api) < 0) {
        free(sh);
        return NULL;
    }
    ev_signal_init(&sh->w, on_delivery, signo);
    sh->w.data = sh;
    sh->h = h;
    sh->fn = fn;
    sh->arg = arg;
    ev_signal_start(h->loop, &sh->w);
    ev_unref(h->loop); /* gevent's signal_handler watcher has ref=False */
    green__owned_add(h, &sh->owned, handler_term);
    return sh;
}

GREEN_API int green_signal_unhandle(green_signal_handler_t *sh)
{
    struct green_hub_part *h = green__watch_owner(sh, sh ? sh->h : NULL, "green_signal_unhandle");
    if (!h)
        return -1;
    handler_term(h, &sh->owned);
    return 0;
}
