/* SPDX-License-Identifier: MIT */
/* What libgreen-patch costs a call that is not patched: read(2) of one byte from
 * /dev/zero through libc directly and through the patched read, on a thread without a
 * hub (the gate says no: libc's call), and in a greenlet of a running hub (the gate says
 * yes; /dev/zero never blocks, so the call is the fd table's look-up and one attempt).
 * Then the patched call's fast path proper: a greenlet's read of a pipe the patch library
 * made non-blocking underneath, with data ready (refilled by libc's write every 4096
 * one-byte reads, in both rows).  Also the gate alone (green_patch_enabled).  Median of
 * 7 rounds, ns per call.
 *
 *   ninja -C build-release bench-patch     (or: bench_patch_overhead [calls per round])
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include "benchutil.h"

static ssize_t (*libc_read)(int, void *, size_t);
static ssize_t (*libc_write)(int, const void *, size_t);
static long calls = 2000000;
static int zero, pipe_fds[2];

#define REFILL 4096 /* calls is a multiple: the pipe is empty after each round */
static char refill_bytes[REFILL];

static void refill(long i)
{
    if (i % REFILL == 0 && libc_write(pipe_fds[1], refill_bytes, REFILL) != REFILL)
        die("write to the pipe");
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void (*loop_fn)(void);

static void loop_libc(void)
{
    char c;
    for (long i = 0; i < calls; i++)
        if (libc_read(zero, &c, 1) != 1)
            die("read");
}

static void loop_patched(void)
{
    char c;
    for (long i = 0; i < calls; i++)
        if (read(zero, &c, 1) != 1)
            die("read");
}

/* pipe_read: libc's read or the patched one (both through a pointer, alike). */
static ssize_t (*pipe_read)(int, void *, size_t);

static void loop_pipe(void)
{
    char c;
    for (long i = 0; i < calls; i++) {
        refill(i);
        if (pipe_read(pipe_fds[0], &c, 1) != 1)
            die("read");
    }
}

static volatile int sink;

static void loop_gate(void)
{
    for (long i = 0; i < calls; i++)
        sink += green_patch_enabled();
}

static double median_ns(loop_fn fn)
{
    double r[7];
    for (int k = 0; k < 7; k++) {
        double t0 = now_ns();
        fn();
        r[k] = (now_ns() - t0) / (double)calls;
    }
    qsort(r, 7, sizeof r[0], cmp);
    return r[3];
}

static double in_greenlet_result;
static loop_fn in_greenlet_fn;

static void *in_greenlet(void *arg)
{
    (void)arg;
    in_greenlet_result = median_ns(in_greenlet_fn);
    return NULL;
}

static double median_in_greenlet(loop_fn fn)
{
    in_greenlet_fn = fn;
    green_t *g = green_spawn(in_greenlet, NULL, NULL);
    if (!g || green_join(g, GREEN_FOREVER, NULL) != 0)
        die("green_spawn/green_join");
    green_release(g);
    return in_greenlet_result;
}

int main(int argc, char **argv)
{
    bench_name = "bench_patch_overhead";
    if (argc > 1)
        calls = atol(argv[1]);
    calls = calls < REFILL ? REFILL : calls / REFILL * REFILL;
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (!libc || !(*(void **)&libc_read = dlsym(libc, "read")))
        die("dlsym(libc.so.6, read)");
    if (!(*(void **)&libc_write = dlsym(libc, "write")))
        die("dlsym(libc.so.6, write)");
    if (pipe(pipe_fds) < 0) /* the patched pipe: the patch library's to make non-blocking */
        die("pipe");
    if ((zero = open("/dev/zero", O_RDONLY | O_CLOEXEC)) < 0)
        die("open /dev/zero");
    printf("read(2) of 1 byte from /dev/zero, ns per call (median of 7 x %ld)\n", calls);
    printf("%-52s %8s\n", "call", "ns");
    double base = median_ns(loop_libc);
    printf("%-52s %8.1f\n", "libc read, thread without a hub", base);
    double patched = median_ns(loop_patched);
    printf("%-52s %8.1f  (+%.1f)\n", "patched read, thread without a hub", patched, patched - base);
    printf("%-52s %8.1f\n", "the gate alone (green_patch_enabled), no hub", median_ns(loop_gate));
    double lg = median_in_greenlet(loop_libc);
    printf("%-52s %8.1f\n", "libc read, greenlet of a running hub", lg);
    double pg = median_in_greenlet(loop_patched);
    printf("%-52s %8.1f  (+%.1f)\n", "patched read, greenlet of a running hub (no wait)", pg,
           pg - lg);
    pipe_read = libc_read;
    double lp = median_in_greenlet(loop_pipe);
    printf("%-52s %8.1f\n", "libc read, pipe with data, greenlet", lp);
    pipe_read = read;
    double pp = median_in_greenlet(loop_pipe);
    printf("%-52s %8.1f  (+%.1f)\n", "patched read, pipe made non-blocking by it, greenlet", pp,
           pp - lp);
    printf("%-52s %8.1f\n", "the gate alone, greenlet of a running hub",
           median_in_greenlet(loop_gate));
    green_hub_shutdown();
    return 0;
}
