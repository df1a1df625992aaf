/* SPDX-License-Identifier: MIT */
/* The stream acceptor: wait for the listener, take a batch of connections, spawn their
 * handlers; stop watching the listener while the pool is full; back off when out of fds.
 *
 * Why a batch per wake-up rather than one accept per wait: under a burst, each wait is a
 * trip through the loop; taking what is queued (up to accept_batch, so the handlers of the
 * first connections are not starved by an endless stream of new ones) amortises it, as
 * gevent's and libuv's servers do. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "io.h"
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

int green__server_wait_turn(green_server_t *s)
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

/* Errors after which the listener is still good (accept(2): "Linux passes already-pending
 * network errors on the new socket as an error code from accept()"). */
static bool transient(int err)
{
    switch (err) {
    case ECONNABORTED:
    case EINTR:
    case EPROTO:
    case EPERM: /* a firewall refused the connection */
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
        return true;
    default:
        return false;
    }
}

static bool out_of_resources(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/* Take up to a batch.  Returns 0 to wait again, -1 to end (errno). */
static int take_batch(green_server_t *s)
{
    uint64_t taken = 0;
    while (taken < s->opts.accept_batch) {
        if (!green__server_has_room(s))
            break;
        struct green__conn *c = malloc(sizeof *c);
        if (!c) {
            errno = ENOMEM;
            goto resources;
        }
        c->server = s;
        c->len = 0;
        c->peerlen = sizeof c->peer;
        c->fd =
            accept4(s->fd, (struct sockaddr *)&c->peer, &c->peerlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c->fd < 0) {
            int err = errno;
            free(c);
            if (err == EAGAIN || err == EWOULDBLOCK)
                break;
            errno = err;
            if (out_of_resources(err))
                goto resources;
            if (!transient(err))
                return -1;
            s->stats.accept_errors++;
            continue;
        }
        green__fd_opened_socket(c->fd); /* as green_accept's: closed with green_close */
        taken++;
        s->stats.accepted++;
        green__server_spawn(s, c);
    }
    if (taken > s->stats.largest_batch)
        s->stats.largest_batch = taken;
    return 0;
resources:
    if (taken > s->stats.largest_batch)
        s->stats.largest_batch = taken;
    /* The connection stays queued and the listener readable: waiting again would spin. */
    s->stats.backoffs++;
    return green_sleep(s->opts.backoff) < 0 ? -1 : 0;
}

void *green__server_accept_loop(void *arg)
{
    green_server_t *s = arg;
    for (;;) {
        int turn = green__server_wait_turn(s);
        if (turn < 0)
            break;
        if (turn > 0)
            continue;
        s->stats.wakeups++;
        if (take_batch(s) < 0)
            break;
    }
    green__server_acceptor_failed(s, errno);
    return NULL;
}
