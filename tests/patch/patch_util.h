/* SPDX-License-Identifier: MIT */
/* What the patch tests share: a ticker greenlet that proves the thread kept running while
 * another greenlet sat in a patched call, and the fd flags as the kernel has them (the
 * raw system call: the patched fcntl tells the program's view). */
#ifndef GREEN_TEST_PATCH_UTIL_H
#define GREEN_TEST_PATCH_UTIL_H

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hubtest.h"

struct ticker {
    green_t *g;
    volatile bool stop;
    long ticks;
};

static inline void *tick_run(void *arg)
{
    struct ticker *t = arg;
    while (!t->stop && green_sleep(0.002) == 0)
        t->ticks++;
    return NULL;
}

static inline void ticker_start(struct ticker *t)
{
    t->stop = false;
    t->ticks = 0;
    t->g = SPAWN(tick_run, t);
}

/* Stop it; returns how often it ran. */
static inline long ticker_stop(struct ticker *t)
{
    t->stop = true;
    JOIN(t->g);
    return t->ticks;
}

static inline int kernel_flags(int fd) { return (int)syscall(SYS_fcntl, fd, F_GETFL); }

#endif /* GREEN_TEST_PATCH_UTIL_H */
