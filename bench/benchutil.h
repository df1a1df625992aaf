/* SPDX-License-Identifier: MIT */
/* What every benchmark program needs: a clock, a fatal error that names the failed call
 * and libgreen's last error, and a small fast RNG.  One copy, so they stay alike. */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <errno.h>
#include <green.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Set by each program's main to its name, for die(). */
static const char *bench_name = "bench";

static inline double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline void die(const char *what) __attribute__((noreturn));
static inline void die(const char *what)
{
    fprintf(stderr, "%s: %s failed: %s (%s)\n", bench_name, what, strerror(errno),
            green_last_error());
    exit(1);
}

/* xorshift64: deterministic, so every run resumes the same greenlets in the same order. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static inline uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

#endif /* BENCHUTIL_H */
