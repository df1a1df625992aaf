/* SPDX-License-Identifier: MIT */
/* Helpers shared by the tests of every layer:
 *
 *   - check.h's failure recorder (CHECK, CHECK_EQ, note_failure, assert_no_failures) for
 *     code that runs off the main stack or thread;
 *   - scaled(): iteration counts shrunk under valgrind and qemu (GREEN_TEST_SCALE);
 *   - monotonic_seconds(): CLOCK_MONOTONIC in seconds, for measuring waits;
 *   - death tests: run_in_child(), assert_child_aborts();
 *   - where we run: RUNNING_ON_VALGRIND, UNDER_SANITIZER;
 *   - /proc readings: count_maps(), max_map_count(), statm_field();
 *   - build_path(): a built program's path, under GREEN_BUILD_DIR;
 *   - one random generator, splitmix64 (reproducible from its seed);
 *   - greenlets: new_green() (every attribute given; a failure is recorded at the
 *     caller's line), and PRIVATE_AND_SHARED() to run a test once per stack model, which
 *     it gets from model_of(state).
 */
#ifndef GREEN_TESTUTIL_H
#define GREEN_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#include <green.h>

/* GREEN_TEST_SCALE (default 1) shrinks iteration counts under valgrind and qemu, where
 * the full counts would take too long; never below `floor`. */
static inline long scaled(long n, long floor)
{
    const char *s = getenv("GREEN_TEST_SCALE");
    double f = s ? atof(s) : 1.0;
    long v = (long)((double)n * f);
    return v < floor ? floor : v;
}

static inline double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- death tests -------------------------------------------------------------------- */

/* Run fn in a child process.  Returns the child's wait status; its stderr is captured
 * into err (NUL-terminated, truncated to len). */
static inline int run_in_child(void (*fn)(void *), void *arg, char *err, size_t len)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], STDERR_FILENO);
        /* The child must die of what it does, not of cmocka's handlers. */
        signal(SIGABRT, SIG_DFL);
        signal(SIGSEGV, SIG_DFL);
        fn(arg);
        _exit(0);
    }
    close(pipefd[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < len && (n = read(pipefd[0], err + got, len - 1 - got)) > 0)
        got += (size_t)n;
    char sink[256];
    while (read(pipefd[0], sink, sizeof sink) > 0) {
    }
    err[got] = 0;
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

/* The child must have died by SIGABRT with `needle` in its stderr. */
#define assert_child_aborts(fn, arg, needle)                                              \
    do {                                                                                  \
        char err_[4096];                                                                  \
        int st_ = run_in_child((fn), (arg), err_, sizeof err_);                           \
        if (!WIFSIGNALED(st_) || WTERMSIG(st_) != SIGABRT || !strstr(err_, (needle)))      \
            fail_msg("child status %#x, stderr: %s", st_, err_);                          \
    } while (0)

/* ---- where we run ------------------------------------------------------------------- */

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* Sanitizer runtimes keep per-thread and per-fiber bookkeeping of their own, so RSS and the
 * mapping count are only compared in plain builds (LeakSanitizer and valgrind judge leaks
 * in theirs). */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

/* ---- /proc readings ----------------------------------------------------------------- */

static inline long count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    long n = 0;
    int c;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static inline long max_map_count(void)
{
    long max = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &max) != 1)
            max = 65530;
        fclose(f);
    }
    return max;
}

static inline long statm_field(int i) /* 0: size, 1: resident (KiB) */
{
    FILE *f = fopen("/proc/self/statm", "r");
    long v[2] = {-1, -1};
    if (f) {
        if (fscanf(f, "%ld %ld", &v[0], &v[1]) != 2)
            v[0] = v[1] = -1;
        fclose(f);
    }
    return v[i] < 0 ? -1 : v[i] * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- built programs ------------------------------------------------------------------ */

/* The path of a program built under the build directory (rel: "examples/generator").
 * meson test sets GREEN_BUILD_DIR; a test run by hand needs it set too. */
static inline void build_path(char *buf, size_t len, const char *rel)
{
    const char *dir = getenv("GREEN_BUILD_DIR");
    if (!dir || !*dir)
        fail_msg("GREEN_BUILD_DIR is not set (meson test sets it to the build directory)");
    snprintf(buf, len, "%s/%s", dir, rel);
}

/* ---- random numbers ----------------------------------------------------------------- */

/* splitmix64: one 64-bit state, good enough statistics for test inputs, and the same
 * sequence from the same seed on every platform. */
static inline uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* ---- greenlets ------------------------------------------------------------------------ */

/* A greenlet with every attribute given (size 0: the default; name NULL: none).  A
 * failure is recorded with the caller's line, not asserted, since callers may run off the
 * main stack or thread; errno and green_last_error() are left as green_new() set them. */
#define new_green(fn, parent, model, size, name)                                          \
    new_green_at(__LINE__, (fn), (parent), (model), (size), (name))

static inline green_t *new_green_at(int line, green_fn fn, green_t *parent, int model,
                                    size_t size, const char *name)
{
    green_attr_t a = GREEN_ATTR_INIT;
    a.stack_model = model;
    a.stack_size = size;
    a.name = name;
    green_t *g = green_new(fn, parent, &a);
    if (!g) {
        int e = errno;
        note_failure(line, "green_new: %s", green_last_error());
        errno = e;
    }
    return g;
}

/* Tests that run once per stack model get it as cmocka's initial state. */
static inline int model_of(void **state) { return (int)(intptr_t)*state; }

/* Both runs start with a clean failure record and fail if a check recorded one. */
#define PRIVATE_AND_SHARED(t) PRIVATE_AND_SHARED_FIXTURES(t, reset_failures, teardown_no_failures)
#define PRIVATE_AND_SHARED_FIXTURES(t, setup, teardown)                                   \
    cmocka_unit_test_prestate_setup_teardown(t, setup, teardown,                          \
                                             (void *)(intptr_t)GREEN_STACK_PRIVATE),      \
        cmocka_unit_test_prestate_setup_teardown(t, setup, teardown,                      \
                                                 (void *)(intptr_t)GREEN_STACK_SHARED)

#endif /* GREEN_TESTUTIL_H */
