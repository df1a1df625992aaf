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

static ssize_t do_read(int fd, void *a)
{
    struct transfer *t = a;
    return read(fd, t->buf, t->len);
}

static ssize_t do_write(int fd, void *a)
{
    struct transfer *t = a;
    return write(fd, t->buf, t->len);
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
    struct transfer t = {.buf = buf, .len = len};
    return green__io_call(fd, GREEN_READ, true, do_read, &t, timeout, "green_read");
}

GREEN_API ssize_t green_write(int fd, const void *buf, size_t len, double timeout)
{
    struct transfer t = {.buf = (void *)buf, .len = len};
    return green__io_call(fd, GREEN_WRITE, true, do_write, &t, timeout, "green_write");
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
    struct transfer t = {
        .buf = (void *)buf, .len = len, .flags = flags, .addr = (struct sockaddr *)to, .tolen = tolen};
    return green__io_call(fd, GREEN_WRITE, false, do_sendto, &t, timeout, "green_sendto");
}
