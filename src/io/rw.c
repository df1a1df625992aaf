/* SPDX-License-Identifier: MIT */
/* Plain transfers: read, write and the recv/send family, each one attempt of its system
 * call run through fd.c's loop. */
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"

struct transfer {
    void *buf;
    size_t len;
    int flags;
    struct sockaddr *addr; /* recvfrom's source, sendto's target */
    socklen_t *addrlen;    /* recvfrom */
    socklen_t tolen;       /* sendto */
};

/* read and write's: smaller than a transfer, as its frame is part of every suspended
 * reader's stack slice. */
struct plain_transfer {
    void *buf;
    size_t len;
    struct green__fd_how how; /* green__fd_mode's answer */
};

static ssize_t do_read(int fd, void *a)
{
    struct plain_transfer *t = a;
    return green__fd_read(fd, t->buf, t->len, &t->how);
}

static ssize_t do_write(int fd, void *a)
{
    struct plain_transfer *t = a;
    return green__fd_write(fd, t->buf, t->len, &t->how);
}

/* read and write: green__io_call, in the mode green__fd_mode picks for fd. */
static ssize_t plain(int fd, int events, green__io_op op, struct plain_transfer *t, double timeout,
                     const char *api)
{
    struct green__budget b;
    if (green__budget_begin(&b, timeout, api) < 0)
        return -1;
    if (green__fd_mode(fd, &t->how, api) < 0)
        return -1;
    ssize_t n = green__io_loop(fd, events, op, t, &b, api);
    green__budget_end(&b);
    return n;
}

static ssize_t do_recvfrom(int fd, void *a)
{
    struct transfer *t = a;
    return recvfrom(fd, t->buf, t->len, t->flags | MSG_DONTWAIT, t->addr, t->addrlen);
}

static ssize_t do_sendto(int fd, void *a)
{
    struct transfer *t = a;
    return sendto(fd, t->buf, t->len, t->flags | MSG_DONTWAIT, t->addr, t->tolen);
}

GREEN_API ssize_t green_read(int fd, void *buf, size_t len, double timeout)
{
    struct plain_transfer t = {.buf = buf, .len = len};
    return plain(fd, GREEN_READ, do_read, &t, timeout, "green_read");
}

GREEN_API ssize_t green_write(int fd, const void *buf, size_t len, double timeout)
{
    struct plain_transfer t = {.buf = (void *)buf, .len = len};
    return plain(fd, GREEN_WRITE, do_write, &t, timeout, "green_write");
}

GREEN_API ssize_t green_recv(int fd, void *buf, size_t len, int flags, double timeout)
{
    struct transfer t = {.buf = buf, .len = len, .flags = flags};
    return green__io_call(fd, GREEN_READ, false, do_recvfrom, &t, timeout, "green_recv");
}

GREEN_API ssize_t green_send(int fd, const void *buf, size_t len, int flags, double timeout)
{
    struct transfer t = {.buf = (void *)buf, .len = len, .flags = flags};
    return green__io_call(fd, GREEN_WRITE, false, do_sendto, &t, timeout, "green_send");
}

GREEN_API ssize_t green_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                                 socklen_t *fromlen, double timeout)
{
    struct transfer t = {.buf = buf, .len = len, .flags = flags, .addr = from, .addrlen = fromlen};
    return green__io_call(fd, GREEN_READ, false, do_recvfrom, &t, timeout, "green_recvfrom");
}

GREEN_API ssize_t green_sendto(int fd, const void *buf, size_t len, int flags,
                               const struct sockaddr *to, socklen_t tolen, double timeout)
{
    struct transfer t = {.buf = (void *)buf,
                         .len = len,
                         .flags = flags,
                         .addr = (struct sockaddr *)to,
                         .tolen = tolen};
    return green__io_call(fd, GREEN_WRITE, false, do_sendto, &t, timeout, "green_sendto");
}
