/* SPDX-License-Identifier: MIT */
/* Exact transfers: read exactly n bytes, write or send all of them, continuing partial
 * transfers within one budget for the whole call.  A failure part-way reports the bytes
 * that did get through, since they cannot be taken back. */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"

struct chunk {
    char *buf;
    size_t len;
    int flags;
    struct green__fd_how *how; /* read/write: green__fd_mode's answer */
};

static ssize_t do_read(int fd, void *a)
{
    struct chunk *c = a;
    return green__fd_read(fd, c->buf, c->len, c->how);
}

static ssize_t do_write(int fd, void *a)
{
    struct chunk *c = a;
    return green__fd_write(fd, c->buf, c->len, c->how);
}

static ssize_t do_send(int fd, void *a)
{
    struct chunk *c = a;
    return send(fd, c->buf, c->len, c->flags | MSG_DONTWAIT);
}

/* Repeat op until len bytes went through (or, reading, end of file). */
static ssize_t all(int fd, int events, bool nonblock, green__io_op op, char *buf, size_t len,
                   int flags, double timeout, size_t *done, const char *api)
{
    size_t got = 0;
    ssize_t rc = 0;
    struct green__budget b;
    if (done)
        *done = 0;
    if (green__budget_begin(&b, timeout, api) < 0)
        return -1;
    struct green__fd_how how = {0};
    if (nonblock && green__fd_mode(fd, &how, api) < 0) /* send_all: MSG_DONTWAIT already */
        return -1;
    while (got < len) {
        struct chunk c = {buf + got, len - got, flags, &how};
        rc = green__io_loop(fd, events, op, &c, &b, api);
        if (rc <= 0)
            break; /* an error, or end of file */
        got += (size_t)rc;
    }
    green__budget_end(&b);
    if (done)
        *done = got;
    return rc < 0 ? -1 : (ssize_t)got;
}

GREEN_API ssize_t green_read_exactly(int fd, void *buf, size_t len, double timeout, size_t *done)
{
    return all(fd, GREEN_READ, true, do_read, buf, len, 0, timeout, done, "green_read_exactly");
}

GREEN_API ssize_t green_write_all(int fd, const void *buf, size_t len, double timeout, size_t *done)
{
    return all(fd, GREEN_WRITE, true, do_write, (char *)buf, len, 0, timeout, done,
               "green_write_all");
}

GREEN_API ssize_t green_send_all(int fd, const void *buf, size_t len, int flags, double timeout,
                                 size_t *done)
{
    return all(fd, GREEN_WRITE, false, do_send, (char *)buf, len, flags, timeout, done,
               "green_send_all");
}
