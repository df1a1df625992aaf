/* SPDX-License-Identifier: MIT */
/* One handler greenlet per connection (or datagram), and its cleanup.
 *
 * The cleanup is a link on the handler's death rather than code after the handler's call:
 * a handler that ends with green_exit(), or one killed by a stop before it ever ran (an
 * unstarted greenlet dies without running), still has its fd closed and its record freed.
 * The link is made before the greenlet joins the server's group, so it runs first in the
 * death notification: when the group is empty, every connection is closed. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "server.h"

static void *run_handler(void *arg)
{
    struct green__conn *c = arg;
    green_server_t *s = c->server;
    if (c->fd >= 0)
        s->handler(c->fd, (struct sockaddr *)&c->peer, c->peerlen, s->arg);
    else
        s->dgram_handler(s, c->data, c->len, (struct sockaddr *)&c->peer, c->peerlen, s->arg);
    return NULL;
}

static void handler_died(green_t *g, void *arg)
{
    struct green__conn *c = arg;
    if (!green_successful(g))
        c->server->stats.failed++;
    if (c->fd >= 0 && !(c->server->opts.flags & GREEN_SERVER_KEEP_FD))
        green_close(c->fd);
    free(c);
}

static void drop(green_server_t *s, struct green__conn *c)
{
    if (c->fd >= 0)
        green_close(c->fd);
    free(c);
    s->stats.dropped++;
}

void green__server_spawn(green_server_t *s, struct green__conn *c)
{
    const green_attr_t *attr = &s->opts.handler_attr;
    /* The loops look for a free place before taking a connection, and only they spawn into
     * an own pool, so this never waits there; a caller's pool shared with other spawners
     * may make it wait, which is the back-pressure that pool asks for. */
    green_t *g = s->limit ? green_group_spawn(s->limit, run_handler, c, attr, GREEN_FOREVER)
                          : green_spawn(run_handler, c, attr);
    if (!g) {
        drop(s, c);
        return;
    }
    if (green_link(g, handler_died, c) < 0) {
        green_kill_nowait(g); /* not started yet: it dies now without running */
        green_release(g);
        drop(s, c);
        return;
    }
    if (green_group_add(s->handlers, g, 0) < 0)
        green_kill_nowait(g); /* no memory to track it: a stop could not reach it */
    green_release(g);
}
