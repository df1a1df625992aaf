/* SPDX-License-Identifier: MIT */
/* Vector and message transfers: readv, writev, recvmsg, sendmsg through fd.c's loop. */
#include <sys/socket.h>
#include <sys/uio.h>

#include "io.h"

struct vec {
    const struct iovec *iov;
    int iovcnt;
};

struct msg {
    struct msghdr *msg;
    int flags;
};

static ssize_t do_readv(int fd, void *a)
{
    struct vec *v = a;
    return readv(fd, v->iov, v->iovcnt);
}

static ssize_t do_writev(int fd, void *a)
{
    struct vec *v = a;
    return writev(fd, v->iov, v->iovcnt);
}

static ssize_t do_recvmsg(int fd, void *a)
{
    struct msg *m = a;
    return recvmsg(fd, m->msg, m->flags | MSG_DONTWAIT);
}

static ssize_t do_sendmsg(int fd, void *a)
{
    struct msg *m = a;
    return sendmsg(fd, m->msg, m->flags | MSG_DONTWAIT);
}

GREEN_API ssize_t green_readv(int fd, const struct iovec *iov, int iovcnt, double timeout)
{
    struct vec v = {iov, iovcnt};
    return green__io_call(fd, GREEN_READ, true, do_readv, &v, timeout, "green_readv");
}

GREEN_API ssize_t green_writev(int fd, const struct iovec *iov, int iovcnt, double timeout)
{
    struct vec v = {iov, iovcnt};
    return green__io_call(fd, GREEN_WRITE, true, do_writev, &v, timeout, "green_writev");
}

GREEN_API ssize_t green_recvmsg(int fd, struct msghdr *msg, int flags, double timeout)
{
    struct msg m = {msg, flags};
    return green__io_call(fd, GREEN_READ, false, do_recvmsg, &m, timeout, "green_recvmsg");
}

GREEN_API ssize_t green_sendmsg(int fd, const struct msghdr *msg, int flags, double timeout)
{
    struct msg m = {(struct msghdr *)msg, flags};
    return green__io_call(fd, GREEN_WRITE, false, do_sendmsg, &m, timeout, "green_sendmsg");
}
