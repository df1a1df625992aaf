/* SPDX-License-Identifier: MIT */
/* poll, ppoll, select, pselect, epoll_wait: green_poll() and green_select() (src/io/)
 * underneath.  A zero timeout never waits, so it stays libc's call (no switch either, and
 * green_poll's own first poll(2) comes back here that way).  A signal mask (ppoll,
 * pselect) cannot be applied to one greenlet's wait: such calls are libc's. */
#include <errno.h>
#include <time.h>

#include "green/io.h"
#include "patch.h"

PATCH_API int poll(struct pollfd *fds, nfds_t n, int ms)
{
    if (ms == 0 || !patch_gate())
        return NEXT(poll)(fds, n, ms);
    int saved = errno;
    int rc = green_poll(fds, n, ms < 0 ? GREEN_FOREVER : ms / 1000.0);
    if (rc >= 0)
        errno = saved;
    return rc;
}

PATCH_API int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
    if (mask || (ts && ts->tv_sec == 0 && ts->tv_nsec == 0) || !patch_gate())
        return NEXT(ppoll)(fds, n, ts, mask);
    if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)) {
        errno = EINVAL;
        return -1;
    }
    int saved = errno;
    int rc = green_poll(fds, n, ts ? patch_ts_seconds(ts) : GREEN_FOREVER);
    if (rc >= 0)
        errno = saved;
    return rc;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return patch_ts_seconds(&t);
}

PATCH_API int select(int nfds, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv)
{
    if ((tv && tv->tv_sec == 0 && tv->tv_usec == 0) || !patch_gate())
        return NEXT(select)(nfds, r, w, x, tv);
    if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000)) {
        errno = EINVAL;
        return -1;
    }
    int saved = errno;
    double limit = tv ? (double)tv->tv_sec + (double)tv->tv_usec / 1e6 : GREEN_FOREVER;
    double t0 = now();
    int rc = green_select(nfds, r, w, x, limit);
    int e = errno;
    if (tv) { /* Linux's select leaves the time not slept in *tv */
        double left = limit - (now() - t0);
        if (left < 0 || rc == 0)
            left = 0;
        tv->tv_sec = (time_t)left;
        tv->tv_usec = (suseconds_t)((left - (double)tv->tv_sec) * 1e6);
    }
    errno = rc >= 0 ? saved : e;
    return rc;
}

PATCH_API int pselect(int nfds, fd_set *r, fd_set *w, fd_set *x, const struct timespec *ts,
                      const sigset_t *mask)
{
    if (mask || (ts && ts->tv_sec == 0 && ts->tv_nsec == 0) || !patch_gate())
        return NEXT(pselect)(nfds, r, w, x, ts, mask);
    if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)) {
        errno = EINVAL;
        return -1;
    }
    int saved = errno;
    int rc = green_select(nfds, r, w, x, ts ? patch_ts_seconds(ts) : GREEN_FOREVER);
    if (rc >= 0)
        errno = saved;
    return rc;
}

/* An epoll set is readable when one of its fds has an event: wait for that, then take
 * the events without blocking. */
PATCH_API int epoll_wait(int epfd, struct epoll_event *ev, int max, int ms)
{
    if (ms == 0 || !patch_gate())
        return NEXT(epoll_wait)(epfd, ev, max, ms);
    int saved = errno;
    double end = ms < 0 ? 0 : now() + ms / 1000.0;
    for (;;) {
        int n = NEXT(epoll_wait)(epfd, ev, max, 0);
        if (n != 0) {
            if (n > 0)
                errno = saved;
            return n;
        }
        double left = ms < 0 ? GREEN_FOREVER : end - now();
        if (ms >= 0 && left <= 0) {
            errno = saved;
            return 0;
        }
        struct pollfd p = {.fd = epfd, .events = POLLIN};
        int rc = green_poll(&p, 1, left);
        if (rc < 0)
            return -1;
        if (rc > 0 && (p.revents & POLLNVAL)) {
            errno = EBADF;
            return -1;
        }
    }
}
