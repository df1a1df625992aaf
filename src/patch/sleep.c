/* SPDX-License-Identifier: MIT */
/* sleep, usleep, nanosleep, clock_nanosleep: green_sleep().  Interrupted (a kill, a
 * scoped timeout) they report the time left as libc does after a signal, with errno
 * ECANCELED or ETIMEDOUT instead of EINTR (docs/patching.md says why). */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "green/hub.h"
#include "patch.h"

static double now(clockid_t clk)
{
    struct timespec t;
    clock_gettime(clk, &t);
    return patch_ts_seconds(&t);
}

static bool valid(const struct timespec *ts)
{
    return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000;
}

/* Sleep `seconds` on the hub.  Returns 0, or the errno of the interruption with the
 * seconds not slept in *left. */
static int nap(double seconds, double *left)
{
    int saved = errno;
    double t0 = now(CLOCK_MONOTONIC);
    if (green_sleep(seconds) == 0) {
        errno = saved;
        return 0;
    }
    int e = errno;
    double l = seconds - (now(CLOCK_MONOTONIC) - t0);
    *left = l > 0 ? l : 0;
    return e;
}

static void to_ts(double s, struct timespec *ts)
{
    ts->tv_sec = (time_t)s;
    ts->tv_nsec = (long)((s - (double)ts->tv_sec) * 1e9);
}

PATCH_API int nanosleep(const struct timespec *req, struct timespec *rem)
{
    if (!patch_gate() || !req || !valid(req))
        return NEXT(nanosleep)(req, rem);
    double left;
    int e = nap(patch_ts_seconds(req), &left);
    if (!e)
        return 0;
    if (rem)
        to_ts(left, rem);
    errno = e;
    return -1;
}

PATCH_API int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
                              struct timespec *rem)
{
    bool wall = clk == CLOCK_REALTIME || clk == CLOCK_MONOTONIC || clk == CLOCK_BOOTTIME;
    if (!wall || !patch_gate() || !req || !valid(req))
        return NEXT(clock_nanosleep)(clk, flags, req, rem);
    double s = patch_ts_seconds(req);
    if (flags & TIMER_ABSTIME)
        s -= now(clk);
    double left;
    int saved = errno;
    int e = nap(s > 0 ? s : 0, &left);
    if (e && rem && !(flags & TIMER_ABSTIME))
        to_ts(left, rem);
    errno = saved;
    return e; /* clock_nanosleep returns the error, errno untouched */
}

PATCH_API int usleep(useconds_t us)
{
    if (!patch_gate())
        return NEXT(usleep)(us);
    double left;
    int e = nap(us / 1e6, &left);
    if (!e)
        return 0;
    errno = e;
    return -1;
}

PATCH_API unsigned sleep(unsigned s)
{
    if (!patch_gate())
        return NEXT(sleep)(s);
    double left;
    int e = nap(s, &left);
    if (!e)
        return 0;
    errno = e;
    return (unsigned)(left + 0.999999); /* the seconds left, rounded up as libc's */
}
