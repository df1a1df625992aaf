/* SPDX-License-Identifier: MIT */
/* bench/peers/hub_st.c: the hub workloads of bench/hub.c in State Threads (Debian libst-dev
 * 1.9), the C coroutine library with a scheduler.  Protocol of every peer: one line per
 * figure, "<metric> <value> <unit>".
 *
 *   hub_st micro MS        the operations State Threads has, each timed over ~MS ms
 *   hub_st sleepers N      N threads, all alive at once, each sleeping 10 ms
 *
 * State Threads has no Event and no queue: the Event ping-pong is a condition variable
 * and a flag per direction (st_cond_signal never switches, as Event.set), and the Queue
 * row is left out.  Threads get the default stack (64 KiB, reused from a free list once a
 * thread has exited).
 */
#include <st.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The operations are timed in process CPU time (as every peer): wall time would count the
 * time other jobs held the CPU.  The sleepers' wall time is wall time. */
static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }
static double wall_s(void) { return clock_s(CLOCK_MONOTONIC); }

static void fail(const char *what)
{
    fprintf(stderr, "hub_st: %s failed\n", what);
    exit(1);
}

static st_thread_t spawn(void *(*fn)(void *), void *arg)
{
    st_thread_t t = st_thread_create(fn, arg, 1, 0);
    if (!t)
        fail("st_thread_create");
    return t;
}

static void *trivial(void *arg) { return arg; }

static double spawn_join(long n)
{
    double t = now_s();
    for (long i = 0; i < n; i++)
        st_thread_join(spawn(trivial, NULL), NULL);
    return now_s() - t;
}

static long rounds;

static void *yielder(void *arg)
{
    for (long i = 0; i < rounds; i++)
        st_usleep(0);
    return arg;
}

static double yield_roundtrip(long n)
{
    rounds = n;
    double t = now_s();
    st_thread_t a = spawn(yielder, NULL), b = spawn(yielder, NULL);
    st_thread_join(a, NULL);
    st_thread_join(b, NULL);
    return now_s() - t;
}

static st_cond_t c1, c2;
static int f1, f2;

static void *ping(void *arg)
{
    for (long i = 0; i < rounds; i++) {
        f1 = 1;
        st_cond_signal(c1);
        while (!f2)
            st_cond_wait(c2);
        f2 = 0;
    }
    return arg;
}

static void *pong(void *arg)
{
    for (long i = 0; i < rounds; i++) {
        while (!f1)
            st_cond_wait(c1);
        f1 = 0;
        f2 = 1;
        st_cond_signal(c2);
    }
    return arg;
}

static double event_pingpong(long n)
{
    rounds = n;
    c1 = st_cond_new();
    c2 = st_cond_new();
    f1 = f2 = 0;
    double t = now_s();
    st_thread_t b = spawn(pong, NULL), a = spawn(ping, NULL);
    st_thread_join(a, NULL);
    st_thread_join(b, NULL);
    t = now_s() - t;
    st_cond_destroy(c1);
    st_cond_destroy(c2);
    return t;
}

/* ns per operation over one batch of about ms milliseconds (the growing runs warm up). */
static double batch_ns(double (*fn)(long), double ms)
{
    long n = 64;
    double s;
    while ((s = fn(n)) * 1e3 < ms / 4)
        n *= 4;
    n = (long)((double)n * ms / 1e3 / s);
    if (n < 64)
        n = 64;
    return fn(n) / (double)n * 1e9;
}

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, k) && line[k] == ':') {
            v = atol(line + k + 1);
            break;
        }
    fclose(f);
    return v;
}

static long live, max_live, target;
static int go_flag;
static st_cond_t go_c, started_c;

static void *sleeper(void *arg)
{
    if (++live > max_live)
        max_live = live;
    if (live == target)
        st_cond_signal(started_c);
    while (!go_flag)
        st_cond_wait(go_c);
    st_usleep(10000);
    live--;
    return arg;
}

static void sleepers(long n)
{
    long rss0 = status_kb("VmRSS");
    st_thread_t *th = malloc(sizeof *th * (size_t)n);
    if (!th)
        fail("malloc");
    target = n;
    go_c = st_cond_new();
    started_c = st_cond_new();
    double t = wall_s();
    for (long i = 0; i < n; i++)
        th[i] = spawn(sleeper, NULL);
    while (live < n)
        st_cond_wait(started_c);
    go_flag = 1;
    st_cond_broadcast(go_c);
    for (long i = 0; i < n; i++)
        st_thread_join(th[i], NULL);
    double wall = wall_s() - t;
    long peak = status_kb("VmHWM");
    printf("sleepers_max_alive %ld tasks\n", max_live);
    printf("sleepers_wall %.1f ms\n", wall * 1e3);
    printf("sleepers_rss_before %ld B\n", rss0 * 1024);
    printf("sleepers_peak_rss %ld B\n", peak * 1024);
    printf("sleepers_per_task %.1f B\n", (double)(peak - rss0) * 1024 / (double)n);
    free(th);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: hub_st micro MS | sleepers N\n");
        return 2;
    }
    if (st_init() != 0)
        fail("st_init");
    if (!strcmp(argv[1], "micro")) {
        double ms = atof(argv[2]);
        printf("version st-%d.%d -\n", ST_VERSION_MAJOR, ST_VERSION_MINOR);
        printf("spawn_join %.1f ns\n", batch_ns(spawn_join, ms));
        printf("yield_roundtrip %.1f ns\n", batch_ns(yield_roundtrip, ms));
        printf("event_pingpong %.1f ns\n", batch_ns(event_pingpong, ms));
    } else {
        sleepers(atol(argv[2]));
    }
    return 0;
}
