/* bench_hub: libgreen's hub and sync objects on the workloads of the hub benchmark
 * (bench/hub_bench.py runs it side by side with gevent, Go and State Threads and prints the
 * table; docs/benchmarks.md, "Hub").
 *
 * Workloads, each on greenlets spawned on the main thread's hub with the stack model given:
 *   spawn_join       green_spawn of a trivial body, green_join, green_release (per task);
 *   yield_roundtrip  two greenlets each calling green_sleep(0) n times (per round: A yields,
 *                    B runs and yields, A runs again);
 *   event_pingpong   ping: set e1, wait e2, clear e2; pong: wait e1, clear e1, set e2 (per
 *                    round trip), gevent's Event rules (the set queues a notifier);
 *   queue_pingpong   ping: put q1, get q2; pong: get q1, put q2 (unbounded queues);
 *   sleepers N       N greenlets, all alive at once (each waits on an Event that is set
 *                    once all N have started), then each sleeps 10 ms and ends; wall time
 *                    from the first spawn until main has joined them all, and peak RSS
 *                    (VmHWM) over the RSS before the first spawn, per greenlet.  Run in a
 *                    child process of its own, so one case's peak does not mix with
 *                    another's.
 *
 * The four operations are timed in process CPU time (CLOCK_PROCESS_CPUTIME_ID), as every
 * peer does: on a shared machine, wall time would also count the time other jobs held the
 * CPU.  They never wait for anything but each other, so CPU time is their whole cost.
 *
 * Output (the protocol of every peer in bench/peers/): one line per figure,
 * "<metric> <value> <unit>".
 *
 * Usage: bench_hub micro MS [MODEL [OP]]  each operation (or OP only, e.g. for perf record)
 *                                         over a batch of ~MS ms
 *        bench_hub sleepers N [MODEL]     private stacks are 16 KiB (usable)
 *        MODEL: private, shared, or shared1 (shared on the thread's one region: greenlet's
 *        model, where every switch between two tasks copies their slices)
 */
#include <errno.h>
#include <green.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

#define SLEEPER_PRIVATE_STACK ((size_t)16 * 1024)

static green_attr_t attr = GREEN_ATTR_INIT;

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static green_t *spawn_or_die(green_fn fn, void *arg)
{
    green_t *g = green_spawn(fn, arg, &attr);
    if (!g)
        die("green_spawn");
    return g;
}

static void join_and_release(green_t *g)
{
    if (green_join(g, GREEN_FOREVER, NULL) != 0)
        die("green_join");
    if (green_release(g) != 0)
        die("green_release");
}

/* ---- the four operations (each returns seconds for n) ---------------------------------- */

static void *trivial(void *arg) { return arg; }

static double spawn_join(long n)
{
    double t = cpu_ns();
    for (long i = 0; i < n; i++)
        join_and_release(spawn_or_die(trivial, NULL));
    return (cpu_ns() - t) / 1e9;
}

/* Greenlets report failures here (never exit from a greenlet: main must unwind). */
static const char *failed;

static void *yielder(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++)
        if (green_sleep(0) != 0)
            failed = "green_sleep";
    return NULL;
}

static double yield_roundtrip(long n)
{
    double t = cpu_ns();
    green_t *a = spawn_or_die(yielder, (void *)(intptr_t)n);
    green_t *b = spawn_or_die(yielder, (void *)(intptr_t)n);
    join_and_release(a);
    join_and_release(b);
    return (cpu_ns() - t) / 1e9;
}

struct pair {
    long n;
    green_event_t *e1, *e2;
    green_queue_t *q1, *q2;
};

static void *event_ping(void *arg)
{
    struct pair *p = arg;
    for (long i = 0; i < p->n; i++)
        if (green_event_set(p->e1) != 0 || green_event_wait(p->e2, GREEN_FOREVER) != 0 ||
            green_event_clear(p->e2) != 0)
            failed = "event ping";
    return NULL;
}

static void *event_pong(void *arg)
{
    struct pair *p = arg;
    for (long i = 0; i < p->n; i++)
        if (green_event_wait(p->e1, GREEN_FOREVER) != 0 || green_event_clear(p->e1) != 0 ||
            green_event_set(p->e2) != 0)
            failed = "event pong";
    return NULL;
}

static double event_pingpong(long n)
{
    struct pair p = {.n = n, .e1 = green_event_new(), .e2 = green_event_new()};
    if (!p.e1 || !p.e2)
        die("green_event_new");
    double t = cpu_ns();
    green_t *b = spawn_or_die(event_pong, &p);
    green_t *a = spawn_or_die(event_ping, &p);
    join_and_release(b);
    join_and_release(a);
    t = (cpu_ns() - t) / 1e9;
    if (green_event_destroy(p.e1) != 0 || green_event_destroy(p.e2) != 0)
        die("green_event_destroy");
    return t;
}

static void *queue_ping(void *arg)
{
    struct pair *p = arg;
    for (long i = 0; i < p->n; i++) {
        void *back;
        if (green_queue_put(p->q1, (void *)(intptr_t)i, GREEN_FOREVER) != 0 ||
            green_queue_get(p->q2, GREEN_FOREVER, &back) != 0)
            failed = "queue ping";
        else if (back != (void *)(intptr_t)i)
            failed = "queue ping (wrong item back)";
    }
    return NULL;
}

static void *queue_pong(void *arg)
{
    struct pair *p = arg;
    for (long i = 0; i < p->n; i++) {
        void *item;
        if (green_queue_get(p->q1, GREEN_FOREVER, &item) != 0 ||
            green_queue_put(p->q2, item, GREEN_FOREVER) != 0)
            failed = "queue pong";
    }
    return NULL;
}

static double queue_pingpong(long n)
{
    struct pair p = {.n = n, .q1 = green_queue_new(0), .q2 = green_queue_new(0)};
    if (!p.q1 || !p.q2)
        die("green_queue_new");
    double t = cpu_ns();
    green_t *b = spawn_or_die(queue_pong, &p);
    green_t *a = spawn_or_die(queue_ping, &p);
    join_and_release(b);
    join_and_release(a);
    t = (cpu_ns() - t) / 1e9;
    if (green_queue_destroy(p.q1) != 0 || green_queue_destroy(p.q2) != 0)
        die("green_queue_destroy");
    return t;
}

/* ns per operation over one batch of about ms milliseconds (the growing runs warm up: the
 * hub, the stack pool, the record slabs). */
static double batch_ns(double (*fn)(long), double ms)
{
    long n = 64;
    double s;
    while ((s = fn(n)) * 1e3 < ms / 4)
        n *= 4;
    n = (long)((double)n * ms / 1e3 / s);
    if (n < 64)
        n = 64;
    double ns = fn(n) / (double)n * 1e9;
    if (failed) {
        fprintf(stderr, "bench_hub: %s failed: %s\n", failed, green_last_error());
        exit(1);
    }
    return ns;
}

static void micro(double ms, const char *only)
{
    static const struct {
        const char *name;
        double (*fn)(long);
    } ops[] = {{"spawn_join", spawn_join},
               {"yield_roundtrip", yield_roundtrip},
               {"event_pingpong", event_pingpong},
               {"queue_pingpong", queue_pingpong}};
    printf("version libgreen %s\n", attr.stack_model == GREEN_STACK_SHARED ? "shared" : "private");
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (only && strcmp(only, ops[i].name))
            continue;
        printf("%s %.1f ns\n", ops[i].name, batch_ns(ops[i].fn, ms));
        fflush(stdout);
    }
}

/* ---- 100k sleepers ---------------------------------------------------------------------- */

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    if (!f)
        die("opening /proc/self/status");
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, k) && line[k] == ':') {
            v = atol(line + k + 1);
            break;
        }
    fclose(f);
    return v;
}

static struct {
    long n, live, max_live;
    green_event_t *go, *all_started;
} sl;

static void *sleeper(void *arg)
{
    if (++sl.live > sl.max_live)
        sl.max_live = sl.live;
    if (sl.live == sl.n && green_event_set(sl.all_started) != 0)
        failed = "green_event_set";
    if (green_event_wait(sl.go, GREEN_FOREVER) != 0 || green_sleep(0.01) != 0)
        failed = "sleeper";
    sl.live--;
    return arg;
}

static void sleepers(long n)
{
    green_t **gs = malloc(sizeof *gs * (size_t)n);
    if (!gs)
        die("malloc");
    memset(gs, 0xff, sizeof *gs * (size_t)n); /* counted before, as the peers' arrays */
    sl.n = n;
    sl.go = green_event_new();
    sl.all_started = green_event_new();
    if (!sl.go || !sl.all_started)
        die("green_event_new");
    if (green_sleep(0) != 0) /* the hub greenlet is started */
        die("green_sleep");
    long rss0 = status_kb("VmRSS");
    double t = now_ns();
    for (long i = 0; i < n; i++)
        gs[i] = spawn_or_die(sleeper, NULL);
    if (green_event_wait(sl.all_started, GREEN_FOREVER) != 0 || green_event_set(sl.go) != 0)
        die("waiting for the sleepers to start");
    for (long i = 0; i < n; i++)
        join_and_release(gs[i]);
    double wall = (now_ns() - t) / 1e6;
    long peak = status_kb("VmHWM");
    if (failed) {
        fprintf(stderr, "bench_hub: %s failed\n", failed);
        exit(1);
    }
    printf("sleepers_max_alive %ld tasks\n", sl.max_live);
    printf("sleepers_wall %.1f ms\n", wall);
    printf("sleepers_rss_before %ld B\n", rss0 * 1024);
    printf("sleepers_peak_rss %ld B\n", peak * 1024);
    printf("sleepers_per_task %.1f B\n", (double)(peak - rss0) * 1024 / (double)n);
    free(gs);
}

/* The sleepers run in a child, whose VmHWM starts from the fork (the hub is made there). */
static int sleepers_in_child(long n)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        sleepers(n);
        fflush(stdout);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0)
        die("waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_hub micro MS [private|shared|shared1 [OP]]\n"
                    "       bench_hub sleepers N [private|shared|shared1]\n");
    return 2;
}

int main(int argc, char **argv)
{
    bench_name = "bench_hub";
    if (argc < 3 || argc > 5 || (argc == 5 && strcmp(argv[1], "micro")))
        return usage();
    if (argc >= 4 && !strcmp(argv[3], "shared"))
        attr.stack_model = GREEN_STACK_SHARED;
    else if (argc >= 4 && !strcmp(argv[3], "shared1")) {
        attr.stack_model = GREEN_STACK_SHARED;
        if (green_set_shared_stacks(1) != 0)
            die("green_set_shared_stacks");
    } else if (argc >= 4 && strcmp(argv[3], "private"))
        return usage();
    if (!strcmp(argv[1], "micro")) {
        double ms = atof(argv[2]);
        if (!(ms > 0))
            return usage();
        micro(ms, argc == 5 ? argv[4] : NULL);
        return green_hub_shutdown() == 0 ? 0 : 1;
    }
    if (!strcmp(argv[1], "sleepers")) {
        long n = atol(argv[2]);
        if (n < 1)
            return usage();
        if (attr.stack_model == GREEN_STACK_PRIVATE)
            attr.stack_size = SLEEPER_PRIVATE_STACK;
        return sleepers_in_child(n);
    }
    return usage();
}
