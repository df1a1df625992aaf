/* SPDX-License-Identifier: MIT */
/* A program of plain blocking calls, linked with the shared libgreen but not with the
 * patch library: test_patch_preload runs it with and without LD_PRELOAD.  Five greenlets
 * each sleep 50 ms with usleep and read a byte from a pipe that main fills after the
 * sleeps; it prints whether the patch is loaded and active, how long that took, and what
 * the greenlets read. */
#include <dlfcn.h>
#include <green.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N 5

static int p[2];
static char got[N + 1];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *body(void *arg)
{
    int i = (int)(intptr_t)arg;
    usleep(50000);
    char c = '?';
    if (read(p[0], &c, 1) != 1)
        c = '!';
    got[i] = c;
    return NULL;
}

int main(void)
{
    bool (*enabled)(void) = NULL;
    *(void **)&enabled = dlsym(RTLD_DEFAULT, "green_patch_enabled");
    if (pipe(p) != 0)
        return 2;
    memset(got, '-', N);
    double t0 = now();
    green_t *g[N];
    for (int i = 0; i < N; i++)
        g[i] = green_spawn(body, (void *)(intptr_t)i, NULL);
    usleep(50000); /* patched: the five sleep meanwhile; not: they have not started */
    if (write(p[1], "abcde", N) != N)
        return 2;
    bool active = enabled && enabled(); /* main with a hub: true when preloaded */
    for (int i = 0; i < N; i++) {
        green_join(g[i], GREEN_FOREVER, NULL);
        green_release(g[i]);
    }
    printf("loaded %d active %d took %.3f got %s\n", enabled != NULL, active, now() - t0, got);
    green_hub_shutdown();
    return 0;
}
