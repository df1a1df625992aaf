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

/* Receive up to a batch.  Returns 0 to wait again, -1 to end (errno). */
static int take_batch(green_server_t *s, unsigned char *buf)
{
    uint64_t taken = 0;
    int rc = 0;
    while (taken < s->opts.accept_batch) {
        if (!green__server_has_room(s))
            break;
        struct sockaddr_storage peer;
        socklen_t peerlen = sizeof peer;
        ssize_t n = recvfrom(s->fd, buf, s->opts.max_datagram, MSG_DONTWAIT,
                             (struct sockaddr *)&peer, &peerlen);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == ENOMEM || errno == ENOBUFS) {
                s->stats.backoffs++;
                rc = green_sleep(s->opts.backoff);
                break;
            }
            if (errno == EINTR || errno == ECONNREFUSED) { /* an ICMP error of a reply */
                s->stats.accept_errors++;
                continue;
            }
            rc = -1;
            break;
        }
        taken++;
        s->stats.accepted++;
        struct green__conn *c = malloc(sizeof *c + (size_t)n);
        if (!c) {
            s->stats.dropped++;
            continue;
        }
        *c = (struct green__conn){.server = s, .fd = -1, .peerlen = peerlen, .len = (size_t)n};
        memcpy(&c->peer, &peer, peerlen);
        memcpy(c->data, buf, (size_t)n);
        green__server_spawn(s, c);
    }
    if (taken > s->stats.largest_batch)
        s->stats.largest_batch = taken;
    return rc;
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
    for (;;) {
        int turn = green__server_wait_turn(s);
        if (turn < 0)
            break;
        if (turn > 0)
            continue;
        s->stats.wakeups++;
        if (take_batch(s, buf) < 0)
            break;
    }
    int e = errno;
    free(buf);
    green__server_acceptor_failed(s, e);
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
