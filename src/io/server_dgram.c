/* SPDX-License-Identifier: MIT */
/* The datagram receiver (gevent's DatagramServer): a batch of datagrams per wake-up, one
 * handler greenlet per datagram with a copy of it; and the replies.
 *
 * While the pool is full the receiver stops reading: datagrams wait in the socket's
 * receive buffer, and the kernel drops what does not fit, which is UDP's back-pressure. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/error.h"
#include "io.h"
#include "server.h"

/* One datagram, copied into a record of its own (ctx: the receive buffer). */
static enum green__take receive_one(green_server_t *s, void *ctx, struct green__conn **out)
{
    unsigned char *buf = ctx;
    struct sockaddr_storage peer;
    socklen_t peerlen = sizeof peer;
    ssize_t n = recvfrom(s->fd, buf, s->opts.max_datagram, MSG_DONTWAIT, (struct sockaddr *)&peer,
                         &peerlen);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return TAKE_NONE;
        if (errno == ENOMEM || errno == ENOBUFS)
            return TAKE_BACKOFF;
        if (errno == EINTR || errno == ECONNREFUSED) /* an ICMP error of a reply */
            return TAKE_SKIP;
        return TAKE_END;
    }
    struct green__conn *c = malloc(sizeof *c + (size_t)n);
    if (c) { /* else the datagram is dropped */
        *c = (struct green__conn){.server = s, .fd = -1, .peerlen = peerlen, .len = (size_t)n};
        memcpy(&c->peer, &peer, peerlen);
        memcpy(c->data, buf, (size_t)n);
    }
    *out = c;
    return TAKE_ONE;
}

void *green__server_dgram_loop(void *arg)
{
    green_server_t *s = arg;
    /* On the heap: the receiver may run on a shared stack. */
    unsigned char *buf = malloc(s->opts.max_datagram);
    if (!buf) {
        green__server_acceptor_failed(s, ENOMEM);
        return NULL;
    }
    green__server_loop(s, receive_one, buf);
    free(buf);
    return NULL;
}

GREEN_API ssize_t green_server_sendto(green_server_t *s, const void *buf, size_t len,
                                      const struct sockaddr *to, socklen_t tolen, double timeout)
{
    const char *api = "green_server_sendto";
    if (green__server_check(s, api) < 0)
        return -1;
    if (!s->dgram)
        return green__fail(EINVAL, api, "not a datagram server");
    if (!buf && len)
        return green__fail(EINVAL, api, "buf is NULL");
    if (isnan(timeout))
        return green__fail(EINVAL, api, "the timeout is NaN");
    if (s->fd < 0)
        return green__fail(EBADF, api, "the server is stopped");
    /* Without waiting first: the common case takes no lock. */
    ssize_t n = sendto(s->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL, to, tolen);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
        return n < 0 ? green__fail(errno, api, "sendto: %s", strerror(errno)) : n;
    /* The buffer is full: one sender waits on the fd, the others behind it on the lock;
     * one scoped timeout covers both waits. */
    green_timeout_t *t = timeout >= 0 ? green_timeout_start(timeout) : NULL;
    if (timeout >= 0 && !t)
        return green__io_refail(api);
    n = -1;
    if (green_lock_acquire(s->send_lock, GREEN_FOREVER) == 0) {
        n = green_sendto(s->fd, buf, len, MSG_NOSIGNAL, to, tolen, GREEN_FOREVER);
        int e = errno;
        green_lock_release(s->send_lock);
        errno = e;
    }
    if (t) {
        int e = errno;
        green_timeout_end(t);
        errno = e;
    }
    return n < 0 ? green__io_refail(api) : n;
}
