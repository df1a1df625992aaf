/* SPDX-License-Identifier: MIT */
/* How a patched call waits.  In a greenlet: park on the hub (green_wait_fd), within the
 * socket's timeout; anywhere else, on an fd we made non-blocking: poll(2) the thread, so
 * the program still sees a blocking fd.  A second greenlet waiting on the same fd and
 * direction (libc lets any number of threads block on one fd) waits through green_poll(),
 * which has no one-waiter rule. */
#include <errno.h>

#include "green/hub.h"
#include "green/io.h"
#include "green/watch.h"
#include "patch.h"

double patch_sock_timeout(int fd, short events)
{
    struct timeval tv;
    socklen_t len = sizeof tv;
    int opt = events == POLLIN ? SO_RCVTIMEO : SO_SNDTIMEO;
    if (getsockopt(fd, SOL_SOCKET, opt, &tv, &len) < 0 || (tv.tv_sec == 0 && tv.tv_usec == 0))
        return -1;
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int patch_park_fd(int fd, short events)
{
    if (green_wait_fd(fd, events == POLLIN ? GREEN_READ : GREEN_WRITE, GREEN_FOREVER) >= 0)
        return 0;
    if (errno != EBUSY)
        return -1;
    struct pollfd p = {.fd = fd, .events = events};
    int rc = green_poll(&p, 1, GREEN_FOREVER);
    if (rc > 0 && (p.revents & POLLNVAL)) {
        errno = EBADF;
        return -1;
    }
    return rc < 0 ? -1 : 0;
}

/* What the timeout of a parked call gives: libc's error for an expired socket timeout. */
static ssize_t timed_out(struct patch_progress *p, int saved)
{
    if (p && p->done > 0) {
        errno = saved;
        return (ssize_t)p->done;
    }
    errno = EAGAIN;
    return -1;
}

/* tried: the first attempt was made already and failed with EAGAIN (patch_read). */
static ssize_t park_loop(int fd, short events, patch_op op, void *arg, unsigned st,
                         struct patch_progress *p, int saved, bool tried)
{
    green_timeout_t *limit = NULL;
    bool asked = false;
    for (;; tried = false) {
        if (!tried) {
            ssize_t n = op(fd, arg);
            int e = errno;
            if (n < 0 && e == EINTR)
                continue;
            if (n >= 0 || e != EAGAIN) {
                if (limit)
                    green_timeout_end(limit);
                errno = n >= 0 ? saved : e;
                return n;
            }
        }
        /* Asked at each call's first wait, so a setsockopt since the last call counts; only
         * of sockets the program gave a timeout (no system call per wait otherwise). */
        if (!asked && (st & FD_TIMEO)) {
            double s = patch_sock_timeout(fd, events);
            asked = true;
            if (s >= 0 && !(limit = green_timeout_start(s)))
                return -1;
        }
        if (patch_park_fd(fd, events) < 0) {
            int e = errno;
            bool own = limit && green_timeout_fired(limit);
            if (limit)
                green_timeout_end(limit);
            if (own)
                return timed_out(p, saved);
            if (p && p->done > 0) { /* the bytes that went are reported; the error comes next */
                errno = saved;
                return (ssize_t)p->done;
            }
            errno = e;
            return -1;
        }
    }
}

/* libc's blocking call on an fd we made non-blocking, for a caller that may not park. */
static ssize_t thread_loop(int fd, short events, patch_op op, void *arg, unsigned st,
                           struct patch_progress *p, int saved)
{
    double s = st & FD_TIMEO ? patch_sock_timeout(fd, events) : -1;
    int ms = s < 0 ? -1 : (int)(s * 1000 + 0.5);
    for (;;) {
        struct pollfd pf = {.fd = fd, .events = events};
        int rc = NEXT(poll)(&pf, 1, ms);
        if (rc == 0)
            return timed_out(p, saved);
        if (rc < 0 && errno != EINTR)
            return -1;
        ssize_t n = op(fd, arg);
        if (n >= 0) {
            errno = saved;
            return n;
        }
        if (errno != EAGAIN && errno != EINTR)
            return -1;
    }
}

ssize_t patch_io(int fd, short events, patch_op op, void *arg, struct patch_progress *p)
{
    int saved = errno;
    if (!patch_gate()) {
        if (GREEN_LIKELY(!p)) { /* a read: the fd's state matters only if it would block */
            ssize_t n = op(fd, arg);
            if (GREEN_LIKELY(n >= 0) || errno != EAGAIN)
                return n;
            unsigned st = patch_fd_peek(fd);
            errno = EAGAIN;
            return st & FD_OURS ? thread_loop(fd, events, op, arg, st, p, saved) : -1;
        }
        unsigned st = patch_fd_peek(fd);
        if (p)
            p->whole = st & FD_OURS;
        ssize_t n = op(fd, arg);
        if (GREEN_LIKELY(n >= 0) || errno != EAGAIN || !(st & FD_OURS))
            return n;
        return thread_loop(fd, events, op, arg, st, p, saved);
    }
    unsigned st = patch_fd_prepare(fd);
    if (p)
        p->whole = st & FD_OURS;
    if (!(st & FD_OURS))
        return op(fd, arg);
    return park_loop(fd, events, op, arg, st, p, saved, false);
}

ssize_t patch_io_blocked(int fd, short events, patch_op op, void *arg, unsigned st, bool may_park,
                         int saved)
{
    if (may_park)
        return park_loop(fd, events, op, arg, st, NULL, saved, errno == EAGAIN);
    st = patch_fd_peek(fd);
    errno = EAGAIN;
    return st & FD_OURS ? thread_loop(fd, events, op, arg, st, NULL, saved) : -1;
}
