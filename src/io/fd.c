/* SPDX-License-Identifier: MIT */
/* The loop every cooperative call runs: try the system call; on EAGAIN wait for readiness
 * on the hub within the call's budget, then try again; retry EINTR.  The fast path (data
 * or room already there) is the system call alone. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
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
        if (green__budget_arm(b) < 0 || green_wait_fd(fd, events, GREEN_FOREVER) < 0)
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
