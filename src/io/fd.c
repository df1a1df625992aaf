/* SPDX-License-Identifier: MIT */
/* The loop every cooperative call runs: try the system call; on EAGAIN wait for readiness
 * on the hub within the call's budget, then try again; retry EINTR.  The fast path (data
 * or room already there) is the system call alone. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/error.h"
#include "hub/hub.h"
#include "hub/watch.h"
#include "io.h"

int green__budget_begin(struct green__budget *b, double seconds, const char *api)
{
    b->seconds = seconds;
    b->timer = NULL;
    if (seconds != seconds)
        return green__fail(EINVAL, api, "the timeout is NaN");
    return 0;
}

int green__budget_arm(struct green__budget *b)
{
    if (b->seconds < 0 || b->timer)
        return 0;
    b->timer = green_timeout_start(b->seconds);
    return b->timer ? 0 : -1;
}

bool green__budget_end(struct green__budget *b)
{
    if (!b->timer)
        return false;
    int e = errno;
    bool fired = green_timeout_end(b->timer) == 1;
    b->timer = NULL;
    errno = e;
    return fired;
}

int green__nonblock(int fd, const char *api)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return green__fail(EBADF, api, "fd %d is not open", fd);
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return green__fail(errno, api, "cannot make fd %d non-blocking: %s", fd, strerror(errno));
    return 0;
}

/* The io bits of a fd in the hub's record (green__fd_io_flags_at): what the I/O layer learnt
 * about it since it was opened or last announced closed. */
#define FD_SOCKET GREEN__FD_SOCKET
#define FD_OTHER 2u   /* not a socket */
#define FD_DRAINED 4u /* a socket whose last read came back short */

void green__fd_opened_socket(int fd) { green__fd_opened(fd, FD_SOCKET); }

/* A socket is made non-blocking once, when the I/O layer first sees it (the documented
 * O_NONBLOCK it leaves set); after that its transfers pass MSG_DONTWAIT and need no fcntl.
 * If the number was closed behind our back meanwhile and names another socket now, that
 * socket is still never blocked on; if it names something else, recv/send say ENOTSOCK
 * and green__fd_read/write learn it again.  Anything else pays the fcntl on every call. */
int green__fd_mode(int fd, struct green__fd_how *how, const char *api)
{
    unsigned char *bits = green__fd_io_flags_at(fd);
    how->bits = bits;
    how->sock = true;
    if (GREEN_LIKELY(bits && (*bits & FD_SOCKET)))
        return 0;
    if (green__nonblock(fd, api) < 0)
        return -1;
    if (!(bits && *bits) && green__hub_peek()) { /* without a hub nothing is kept: no probe */
        int type;
        socklen_t len = sizeof type;
        bool is_socket = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
        green__fd_set_io_flags(fd, is_socket ? FD_SOCKET : FD_OTHER);
        how->bits = bits = green__fd_io_flags_at(fd);
    }
    how->sock = bits && (*bits & FD_SOCKET);
    return 0;
}

/* A socket that turned out not to be one (its number was closed behind our back and
 * reused): forget what the hub kept for the old file, fall back to read/write on
 * O_NONBLOCK.  Returns 0, or -1 with errno EBADF (the message is the loop's). */
static int not_a_socket(int fd, struct green__fd_how *how)
{
    green__fd_closing(fd); /* proof the old file is gone: libev must register the new one */
    green__fd_set_io_flags(fd, FD_OTHER);
    how->sock = false;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
        return -1;
    return 0;
}

/* A read that came back short emptied the socket's receive queue, so the next read would
 * almost always fail with EAGAIN: that read skips the try and waits for readiness first
 * (nginx's "ready" flag does the same).  Data that arrived meanwhile is not missed, the wait
 * sees it at once; the caller only lets the hub run first.  A keep-alive connection reading
 * one request at a time saves one recv(2) per request this way. */
ssize_t green__fd_read(int fd, void *buf, size_t len, struct green__fd_how *how)
{
    if (how->sock) {
        unsigned char *bits = how->bits;
        if (bits && (*bits & FD_DRAINED)) {
            *bits &= (unsigned char)~FD_DRAINED;
            errno = EAGAIN;
            return -1;
        }
        ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
        if (GREEN_LIKELY(n > 0)) {
            if ((size_t)n < len && bits && (*bits & FD_SOCKET))
                *bits |= FD_DRAINED;
            return n;
        }
        if (n == 0 || errno != ENOTSOCK)
            return n;
        if (not_a_socket(fd, how) < 0)
            return -1;
    }
    return read(fd, buf, len);
}

ssize_t green__fd_write(int fd, const void *buf, size_t len, struct green__fd_how *how)
{
    if (how->sock) {
        ssize_t n = send(fd, buf, len, MSG_DONTWAIT);
        if (GREEN_LIKELY(n >= 0 || errno != ENOTSOCK))
            return n;
        if (not_a_socket(fd, how) < 0)
            return -1;
    }
    return write(fd, buf, len);
}

ssize_t green__io_loop(int fd, int events, green__io_op op, void *arg, struct green__budget *b,
                       const char *api)
{
    for (;;) {
        ssize_t n = op(fd, arg);
        if (n >= 0)
            return n;
        int e = errno;
        if (e == EINTR)
            continue;
        if (e != EAGAIN && e != EWOULDBLOCK)
            return green__fail(e, api, "fd %d: %s", fd, strerror(e));
        if (green__budget_arm(b) < 0 || green__wait_fd_open(fd, events, GREEN_FOREVER) < 0)
            return green__io_refail(api); /* after EBADF fd is not touched again */
    }
}

int green__io_refail(const char *api)
{
    int e = errno;
    char why[256];
    const char *msg = green_last_error();
    const char *tail = strstr(msg, ": ");
    tail = tail ? strstr(tail + 2, ": ") : NULL; /* past "libgreen: <inner call>: " */
    snprintf(why, sizeof why, "%s", tail ? tail + 2 : msg);
    return green__fail(e, api, "%s", why);
}

ssize_t green__io_call(int fd, int events, bool nonblock, green__io_op op, void *arg,
                       double timeout, const char *api)
{
    struct green__budget b;
    if (green__budget_begin(&b, timeout, api) < 0)
        return -1;
    if (nonblock && green__nonblock(fd, api) < 0)
        return -1;
    ssize_t n = green__io_loop(fd, events, op, arg, &b, api);
    green__budget_end(&b);
    return n;
}
