/* SPDX-License-Identifier: MIT */
/* The socket calls: the recv and send families, accept, connect.  A call with
 * MSG_DONTWAIT asked for libc's non-blocking answer and gets it; sends on a stream socket
 * the program believes blocking go out whole, as rw.c's writes; MSG_WAITALL receives wait
 * for all of len as libc's do. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "green/hub.h"
#include "io/sock_error.h"

#include "patch.h"

struct sx {
    void *buf;
    size_t len;
    int flags;
    struct sockaddr *addr;
    socklen_t *addrlen;
    socklen_t tolen;
    struct msghdr *msg;
    struct patch_progress pr;
};

static ssize_t op_recvfrom(int fd, void *a)
{
    struct sx *x = a;
    /* On an fd that does not block underneath, the parts are collected here. */
    int flags = x->pr.whole ? x->flags & ~MSG_WAITALL : x->flags;
    ssize_t n = NEXT(recvfrom)(fd, (char *)x->buf + x->pr.done, x->len - x->pr.done, flags, x->addr,
                               x->addrlen);
    return patch_progress_step(&x->pr, x->len, n);
}

static ssize_t op_sendto(int fd, void *a)
{
    struct sx *x = a;
    ssize_t n = NEXT(sendto)(fd, (char *)x->buf + x->pr.done, x->len - x->pr.done, x->flags,
                             x->addr, x->tolen);
    return patch_progress_step(&x->pr, x->len, n);
}

static ssize_t op_recvmsg(int fd, void *a)
{
    struct sx *x = a;
    return NEXT(recvmsg)(fd, x->msg, x->flags);
}

static ssize_t op_sendmsg(int fd, void *a)
{
    struct sx *x = a;
    if (x->pr.done == 0)
        return patch_progress_step(&x->pr, x->len, NEXT(sendmsg)(fd, x->msg, x->flags));
    /* The rest of the data, without the ancillary part (it went with the first bytes). */
    struct msghdr m = {0};
    int left;
    struct iovec *rest =
        patch_iov_rest(x->msg->msg_iov, (int)x->msg->msg_iovlen, x->pr.done, &left);
    if (!rest)
        return (ssize_t)x->pr.done;
    m.msg_iov = rest;
    m.msg_iovlen = (size_t)left;
    ssize_t n = NEXT(sendmsg)(fd, &m, x->flags);
    int e = errno;
    free(rest);
    errno = e;
    return patch_progress_step(&x->pr, x->len, n);
}

/* The address arguments are glibc's transparent unions (_GNU_SOURCE): the definitions
 * must have the declarations' types. */
PATCH_API ssize_t recvfrom(int fd, void *buf, size_t len, int flags, __SOCKADDR_ARG from,
                           socklen_t *addrlen)
{
    struct sockaddr *addr = from.__sockaddr__;
    if (flags & MSG_DONTWAIT)
        return NEXT(recvfrom)(fd, buf, len, flags, addr, addrlen);
    struct sx x = {.buf = buf, .len = len, .flags = flags, .addr = addr, .addrlen = addrlen};
    if (!(flags & MSG_WAITALL)) /* a whole read on an fd of ours blocks: patch_io's */
        return patch_read(fd, POLLIN, op_recvfrom, &x);
    return patch_io(fd, POLLIN, op_recvfrom, &x, &x.pr);
}

PATCH_API ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    return recvfrom(fd, buf, len, flags, (struct sockaddr *)NULL, NULL);
}

PATCH_API ssize_t sendto(int fd, const void *buf, size_t len, int flags, __CONST_SOCKADDR_ARG to,
                         socklen_t addrlen)
{
    const struct sockaddr *addr = to.__sockaddr__;
    if (flags & MSG_DONTWAIT)
        return NEXT(sendto)(fd, buf, len, flags, addr, addrlen);
    struct sx x = {.buf = (void *)buf,
                   .len = len,
                   .flags = flags,
                   .addr = (struct sockaddr *)addr,
                   .tolen = addrlen};
    return patch_io(fd, POLLOUT, op_sendto, &x, &x.pr);
}

PATCH_API ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    return sendto(fd, buf, len, flags, (const struct sockaddr *)NULL, 0);
}

PATCH_API ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (flags & MSG_DONTWAIT)
        return NEXT(recvmsg)(fd, msg, flags);
    struct sx x = {.msg = msg, .flags = flags};
    return patch_io(fd, POLLIN, op_recvmsg, &x, NULL);
}

PATCH_API ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (flags & MSG_DONTWAIT)
        return NEXT(sendmsg)(fd, msg, flags);
    struct sx x = {.msg = (struct msghdr *)msg, .flags = flags};
    if (msg && msg->msg_iov)
        x.len = patch_iov_total(msg->msg_iov, (int)msg->msg_iovlen);
    return patch_io(fd, POLLOUT, op_sendmsg, &x, &x.pr);
}

/* ---- accept -------------------------------------------------------------------------- */

static ssize_t op_accept(int fd, void *a)
{
    struct sx *x = a;
    return NEXT(accept4)(fd, x->addr, x->addrlen, x->flags);
}

PATCH_API int accept4(int fd, __SOCKADDR_ARG peer, socklen_t *addrlen, int flags)
{
    struct sockaddr *addr = peer.__sockaddr__;
    struct sx x = {.addr = addr, .addrlen = addrlen, .flags = flags};
    int s = (int)patch_io(fd, POLLIN, op_accept, &x, NULL);
    if (s >= 0)
        patch_fd_created(s, true, flags & SOCK_NONBLOCK);
    return s;
}

PATCH_API int accept(int fd, __SOCKADDR_ARG addr, socklen_t *addrlen)
{
    return accept4(fd, addr, addrlen, 0);
}

/* ---- connect ------------------------------------------------------------------------- */

struct conn {
    const struct sockaddr *addr;
    socklen_t len;
    bool started;   /* in progress: its answer is SO_ERROR once writable */
    bool may_park;  /* the gate said yes */
    double backoff; /* a Unix listener's full backlog: the next pause */
};

/* A Unix socket whose listener's backlog is full answers EAGAIN, and nothing can be
 * waited for (the socket polls writable at once): libc's connect sleeps in the kernel
 * until there is room; here, pauses of 1 ms doubling up to 50 ms between attempts. */
static int backlog_pause(struct conn *c)
{
    c->backoff = c->backoff > 0 ? c->backoff * 2 : 0.001;
    if (c->backoff > 0.05)
        c->backoff = 0.05;
    if (c->may_park)
        return green_sleep(c->backoff);
    struct timespec ts = {0, (long)(c->backoff * 1e9)};
    return NEXT(nanosleep)(&ts, NULL) == 0 || errno == EINTR ? 0 : -1;
}

/* Start, or after a wait collect the result: libc's blocking connect in steps. */
static ssize_t op_connect(int fd, void *a)
{
    struct conn *c = a;
    if (c->backoff && backlog_pause(c) < 0)
        return -1; /* a kill or a timeout during the pause */
    if (c->started)
        return green__sock_error(fd);
    if (NEXT(connect)(fd, c->addr, c->len) == 0)
        return 0;
    if (errno == EINPROGRESS || errno == EALREADY) {
        c->started = true;
        errno = EAGAIN;
    } else if (errno == EAGAIN && !c->backoff) {
        c->backoff = -1; /* pause before the next attempt (backlog_pause starts at 1 ms) */
    }
    return -1;
}

PATCH_API int connect(int fd, __CONST_SOCKADDR_ARG to, socklen_t len)
{
    const struct sockaddr *addr = to.__sockaddr__;
    struct conn c = {addr, len, false, patch_gate(), 0};
    int rc = (int)patch_io(fd, POLLOUT, op_connect, &c, NULL);
    if (rc < 0 && errno == EAGAIN && c.started)
        errno = EINPROGRESS; /* SO_SNDTIMEO expired: libc's answer */
    return rc;
}

/* ---- socket timeouts ----------------------------------------------------------------- */

PATCH_API int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
    int rc = NEXT(setsockopt)(fd, level, name, value, len);
    if (rc == 0 && level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO))
        patch_fd_timeo(fd);
    return rc;
}
