/* SPDX-License-Identifier: MIT */
/* Running and stopping a server: the acceptor's start, serve_forever, and gevent's
 * graceful stop (close the listener, wait for the handlers up to a timeout, kill the
 * rest). */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "io.h"
#include "server.h"

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
    s->acceptor =
        green_spawn(s->dgram ? green__server_dgram_loop : green__server_accept_loop, s, &attr);
    if (!s->acceptor)
        return green__io_refail(api);
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

static void close_listener(green_server_t *s)
{
    if (s->fd >= 0) {
        green_close(s->fd);
        s->fd = -1;
    }
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
    if (green_group_contains(s->handlers, green_current()))
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
    int killed = 0;
    if (green_group_join(s->handlers, timeout) < 0) {
        if (errno != ETIMEDOUT)
            goto interrupted;
        killed = (int)green_group_size(s->handlers);
        /* Killed handlers' blocking calls fail at once, so they end soon: wait for all. */
        if (green_group_kill(s->handlers, GREEN_FOREVER) < 0)
            goto interrupted;
    }
    s->stats.killed += (uint64_t)killed;
    s->state = SERVER_STOPPED;
    green_event_set(s->stopped);
    return killed;
interrupted:
    s->state = SERVER_RUNNING; /* another greenlet may stop it again */
    return green__io_refail(api);
}
