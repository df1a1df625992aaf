/* SPDX-License-Identifier: MIT */
/* The loop the stream acceptor (server_accept.c) and the datagram receiver
 * (server_dgram.c) share: wait for the listener or a pool place, take up to a batch, back
 * off when out of resources, end on a stop or a fatal error.  Taking one connection or
 * datagram, and which of its errors leave the socket good, is each file's own.
 *
 * Why a batch per wake-up rather than one accept per wait: under a burst, each wait is a
 * trip through the loop; taking what is queued (up to accept_batch, so the handlers of the
 * first connections are not starved by an endless stream of new ones) amortises it, as
 * gevent's and libuv's servers do. */
#include <errno.h>

#include "server.h"

void green__server_acceptor_failed(green_server_t *s, int err)
{
    if (err == EBADF)
        s->fd = -1; /* closed behind the server's back: its number may be reused already */
    if (s->state == SERVER_RUNNING && err != ECANCELED) {
        s->error = err;
        green_event_set(s->stopped); /* serve_forever returns the error */
    }
}

/* Wait until the listener is readable or a pool place is free: 0 when the listener is
 * readable, 1 when the caller should look again (a place freed up), -1 when the loop must
 * end (errno). */
static int wait_turn(green_server_t *s)
{
    if (!green__server_has_room(s)) {
        /* Full: leave new connections in the kernel's backlog until a handler ends. */
        s->stats.pool_waits++;
        if (s->opts.pool)
            return green_group_wait_available(s->opts.pool, GREEN_FOREVER) < 0 ? -1 : 1;
        green_event_clear(s->changed);
        return green_event_wait(s->changed, GREEN_FOREVER) < 0 ? -1 : 1;
    }
    return green_wait_fd(s->fd, GREEN_READ, GREEN_FOREVER) < 0 ? -1 : 0;
}

/* Take up to a batch.  Returns 0 to wait again, -1 to end (errno). */
static int take_batch(green_server_t *s, green__server_take_fn take, void *ctx)
{
    uint64_t taken = 0;
    int rc = 0;
    bool more = true;
    while (more && taken < s->opts.accept_batch && green__server_has_room(s)) {
        struct green__conn *c = NULL;
        switch (take(s, ctx, &c)) {
        case TAKE_ONE:
            taken++;
            s->stats.accepted++;
            if (c)
                green__server_spawn(s, c);
            else
                s->stats.dropped++;
            break;
        case TAKE_SKIP:
            s->stats.accept_errors++;
            break;
        case TAKE_NONE:
            more = false;
            break;
        case TAKE_BACKOFF:
            /* What is queued stays queued and the listener readable: waiting again would
             * spin. */
            s->stats.backoffs++;
            rc = green_sleep(s->opts.backoff);
            more = false;
            break;
        case TAKE_END:
            rc = -1;
            more = false;
            break;
        }
    }
    if (taken > s->stats.largest_batch)
        s->stats.largest_batch = taken;
    return rc;
}

void green__server_loop(green_server_t *s, green__server_take_fn take, void *ctx)
{
    for (;;) {
        int turn = wait_turn(s);
        if (turn < 0)
            break;
        if (turn > 0)
            continue;
        s->stats.wakeups++;
        if (take_batch(s, take, ctx) < 0)
            break;
    }
    green__server_acceptor_failed(s, errno);
}
