/* SPDX-License-Identifier: MIT */
/* One handler greenlet per connection (or datagram), and its cleanup.
 *
 * The fd is closed right after the handler returns, in its own greenlet.  The record is
 * freed by a link on the handler's death, which also covers the ends that skip the code
 * after the call: green_exit(), or a kill before the handler ever ran (an unstarted
 * greenlet dies without running).  The records stay on the server's own list until
 * cleaned up, so the server's cleanup hook (server_stop.c) can drop whatever a hub
 * shutdown leaves, without relying on the order in which the hub runs what it kills. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "server.h"

static bool keeps_fd(const struct green__conn *c)
{
    return c->server->opts.flags & GREEN_SERVER_KEEP_FD;
}

static void close_conn(struct green__conn *c)
{
    if (c->fd >= 0 && !c->closed && !keeps_fd(c))
        green_close(c->fd);
    c->closed = true;
}

static void *run_handler(void *arg)
{
    struct green__conn *c = arg;
    green_server_t *s = c->server;
    if (c->fd >= 0)
        s->handler(c->fd, (struct sockaddr *)&c->peer, c->peerlen, s->arg);
    else
        s->dgram_handler(s, c->data, c->len, (struct sockaddr *)&c->peer, c->peerlen, s->arg);
    close_conn(c); /* now, not at the death notification: the client sees EOF at once */
    return NULL;
}

static void unlist(struct green__conn *c)
{
    green_server_t *s = c->server;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->active--;
    green_event_set(s->changed); /* a pool place, or the last handler gone */
}

static void handler_died(green_t *g, void *arg)
{
    struct green__conn *c = arg;
    if (!green_successful(g))
        c->server->stats.failed++;
    close_conn(c);
    unlist(c);
    green_release(c->g);
    free(c);
}

void green__server_drop_conns(green_server_t *s)
{
    while (s->conns) {
        struct green__conn *c = s->conns;
        close_conn(c);
        unlist(c); /* its handle went with the hub's greenlets */
        free(c);
    }
}

bool green__server_has_room(const green_server_t *s)
{
    if (s->opts.pool)
        return green_group_free_count(s->opts.pool) > 0;
    return !s->opts.pool_size || s->active < s->opts.pool_size;
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
    c->closed = false;
    c->prev = NULL;
    /* A caller's pool shared with other spawners may make this wait although the loop saw
     * room: the back-pressure that pool asks for. */
    green_t *g = s->opts.pool ? green_group_spawn(s->opts.pool, run_handler, c, attr, GREEN_FOREVER)
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
    c->g = g;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->active++;
}
