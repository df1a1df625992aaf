/* SPDX-License-Identifier: MIT */
/* gevent's first lesson: N greenlets each sleep one second, and the whole program takes
 * one second, not N.  A sleeping greenlet parks on a timer of the hub's event loop, so
 * the others run meanwhile; timers due together fire in the order they were started, so
 * the sleepers wake in the order they were spawned.
 *
 * Usage: sleepers [N [SECONDS]]   (defaults: 10 greenlets, 1 second)
 */
#include <green.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds = 1.0;

static void *sleeper(void *arg)
{
    if (green_sleep(seconds) != 0)
        return NULL;
    printf(" %d", (int)(intptr_t)arg);
    return arg;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10;
    if (argc > 2)
        seconds = atof(argv[2]);
    if (n < 1 || n > 100000 || !(seconds > 0)) {
        fprintf(stderr, "usage: sleepers [N [SECONDS]]\n");
        return 2;
    }
    green_t **g = calloc((size_t)n, sizeof *g);
    if (!g)
        return 1;

    double start = now();
    for (int i = 0; i < n; i++)
        if (!(g[i] = green_spawn(sleeper, (void *)(intptr_t)i, NULL))) {
            perror("green_spawn");
            return 1;
        }
    /* Nothing has run yet: spawning only queues the starts.  Joining blocks main, and
     * the hub starts every sleeper in turn, each running until its green_sleep(). */
    printf("woke:");
    int ok = 1;
    for (int i = 0; i < n; i++) {
        void *r;
        ok &= green_join(g[i], GREEN_FOREVER, &r) == 0 && r == (void *)(intptr_t)i;
        green_release(g[i]);
    }
    printf("\n");
    double took = now() - start;
    free(g);

    /* Run one after another they would take n * seconds; together, one sleep's time. */
    if (!ok || (n > 2 && took >= n * seconds / 2)) {
        printf("%d sleeps of %g s took %.3f s: not concurrent\n", n, seconds, took);
        return 1;
    }
    printf("%d sleeps of %g s each: all done in about %g s, not %g s\n", n, seconds,
           seconds, n * seconds);
    return green_hub_shutdown() == 0 ? 0 : 1;
}
