/* SPDX-License-Identifier: MIT */
/* Running and stopping a server: the acceptor's start, serve_forever, gevent's graceful
 * stop (close the listener, wait for the handlers up to a timeout, kill the rest), and
 * the hub-shutdown hook that closes what a shutdown without a stop leaves behind. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "io.h"
#include "server.h"

static void close_listener(green_server_t *s)
{
    if (s->fd >= 0) {
        green_close(s->fd);
        s->fd = -1;
    }
}

/* At hub shutdown every greenlet is dead, and their handles are about to be freed: forget
 * them, close the connections whose cleanup never ran, and count the server stopped. */
static void hub_ending(void *arg)
{
    green_server_t *s = arg;
    s->cleanup = NULL; /* the hub frees its hooks */
    s->acceptor = NULL;
    green__server_drop_conns(s);
    close_listener(s);
    s->state = SERVER_STOPPED;
}

GREEN_API int green_server_start(green_server_t *s)
{
    const char *api = "green_server_start";
    if (green__server_check(s, api) < 0)
        return -1;
    if (s->state == SERVER_RUNNING || s->state == SERVER_STOPPING)
        return green__fail(EALREADY, api, "the server is started already");
    if (s->state == SERVER_STOPPED)
        return green__fail(EBADF, api, "the server is stopped");
    green_attr_t attr = GREEN_ATTR_INIT;
    attr.name = s->dgram ? "server receiver" : "server acceptor";
    s->cleanup = green_hook_add(GREEN_HOOK_CLEANUP, hub_ending, s);
    if (!s->cleanup)
        return green__io_refail(api);
    s->acceptor =
        green_spawn(s->dgram ? green__server_dgram_loop : green__server_accept_loop, s, &attr);
    if (!s->acceptor) {
        green__io_refail(api);
        int e = errno;
        green_hook_remove(s->cleanup);
        s->cleanup = NULL;
        errno = e;
        return -1;
    }
    s->state = SERVER_RUNNING;
    return 0;
}

GREEN_API int green_server_serve_forever(green_server_t *s)
{
    const char *api = "green_server_serve_forever";
    if (green__server_check(s, api) < 0)
        return -1;
    if (s->state == SERVER_NEW && green_server_start(s) < 0)
        return green__io_refail(api);
    if (s->state == SERVER_STOPPED)
        return 0;
    if (green_event_wait(s->stopped, GREEN_FOREVER) < 0)
        return green__io_refail(api);
    if (s->state != SERVER_STOPPED && s->error)
        return green__fail(s->error, api, "accepting failed: %s", strerror(s->error));
    return 0;
}

static bool is_handler(const green_server_t *s, const green_t *g)
{
    for (const struct green__conn *c = s->conns; c; c = c->next)
        if (c->g == g)
            return true;
    return false;
}

/* Wait until no handler is left.  Returns 0, or -1 with errno (ETIMEDOUT from the scoped
 * timeout of the stop, ECANCELED...). */
static int wait_idle(green_server_t *s)
{
    int rc = 0;
    while (rc == 0 && s->active) {
        green_event_clear(s->changed); /* set by each cleanup: look again after each */
        rc = green_event_wait(s->changed, GREEN_FOREVER);
    }
    return rc;
}

/* Kill every live handler and wait until each one's cleanup has run.  Not green_killall:
 * the cleanup links release the handles while it would still hold them.  Returns 0, or
 * -1 with errno (the caller is being killed...). */
static int kill_handlers(green_server_t *s)
{
    for (struct green__conn *c = s->conns; c; c = c->next)
        green_kill_nowait(c->g); /* ENOMEM: the greenlet is marked killed all the same */
    /* Killed handlers' blocking calls fail at once, so they end soon: wait for all. */
    return wait_idle(s);
}

GREEN_API int green_server_stop(green_server_t *s, double timeout)
{
    const char *api = "green_server_stop";
    if (green__server_check(s, api) < 0)
        return -1;
    if (isnan(timeout))
        return green__fail(EINVAL, api, "the timeout is NaN");
    if (s->state == SERVER_STOPPING)
        return green__fail(EALREADY, api, "another greenlet is stopping the server");
    if (s->state == SERVER_STOPPED)
        return 0;
    if (is_handler(s, green_current()))
        return green__fail(EDEADLK, api, "called from one of the server's own handlers");
    if (s->state == SERVER_NEW) {
        close_listener(s);
        s->state = SERVER_STOPPED;
        return 0;
    }
    s->state = SERVER_STOPPING;
    /* The acceptor first: once it is dead nothing waits on the listener, and no handler is
     * spawned after the count below. */
    if (s->acceptor) {
        if (green_kill(s->acceptor, GREEN_FOREVER) < 0)
            goto interrupted;
        green_release(s->acceptor);
        s->acceptor = NULL;
    }
    close_listener(s);
    green_timeout_t *t = s->active && timeout >= 0 ? green_timeout_start(timeout) : NULL;
    if (s->active && timeout >= 0 && !t)
        goto interrupted;
    int rc = wait_idle(s);
    bool expired = t && green_timeout_fired(t); /* ours, not a scoped timeout of the caller's */
    if (t)
        green_timeout_end(t);
    if (rc < 0 && !expired)
        goto interrupted;
    int killed = (int)s->active;
    if (killed && kill_handlers(s) < 0)
        goto interrupted;
    s->stats.killed += (uint64_t)killed;
    s->state = SERVER_STOPPED;
    if (s->cleanup) {
        green_hook_remove(s->cleanup);
        s->cleanup = NULL;
    }
    green_event_set(s->stopped);
    return killed;
interrupted:
    s->state = SERVER_RUNNING; /* another greenlet may stop it again */
    return green__io_refail(api);
}
