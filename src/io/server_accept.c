/* SPDX-License-Identifier: MIT */
/* The stream acceptor's step (server_loop.c runs the loop): one non-blocking accept4 into
 * a connection record, and which accept errors leave the listener good. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "io.h"
#include "server.h"

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

static enum green__take accept_one(green_server_t *s, void *ctx, struct green__conn **out)
{
    (void)ctx;
    struct green__conn *c = malloc(sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return TAKE_BACKOFF;
    }
    c->server = s;
    c->len = 0;
    c->peerlen = sizeof c->peer;
    c->fd = accept4(s->fd, (struct sockaddr *)&c->peer, &c->peerlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c->fd < 0) {
        int err = errno;
        free(c);
        errno = err;
        if (err == EAGAIN || err == EWOULDBLOCK)
            return TAKE_NONE;
        if (out_of_resources(err))
            return TAKE_BACKOFF; /* the connection stays queued */
        return transient(err) ? TAKE_SKIP : TAKE_END;
    }
    green__fd_opened_socket(c->fd); /* as green_accept's: closed with green_close */
    *out = c;
    return TAKE_ONE;
}

void *green__server_accept_loop(void *arg)
{
    green__server_loop(arg, accept_one, NULL);
    return NULL;
}
