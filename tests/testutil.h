/* Small helpers shared by the tests: scaling for slow runners and death tests. */
#ifndef GREEN_TESTUTIL_H
#define GREEN_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
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

/* ---- failures recorded off the main stack or thread ---------------------------------- */

/* cmocka's assertions longjmp to the test runner's stack: from inside a greenlet or another
 * thread, record the failure instead and report it with assert_no_failures(). */
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static int failures;
static char first_failure[512];

static inline void note_failure(int line, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void note_failure(int line, const char *fmt, ...)
{
    pthread_mutex_lock(&fail_lock);
    if (failures++ == 0) {
        int n = snprintf(first_failure, sizeof first_failure, "line %d: ", line);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(first_failure + n, sizeof first_failure - (size_t)n, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&fail_lock);
}

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond))                                                                      \
            note_failure(__LINE__, "%s", #cond);                                          \
    } while (0)
#define CHECK_EQ(a, b)                                                                    \
    do {                                                                                  \
        long long a_ = (long long)(a), b_ = (long long)(b);                               \
        if (a_ != b_)                                                                     \
            note_failure(__LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);             \
    } while (0)

static inline int reset_failures(void **state)
{
    (void)state;
    pthread_mutex_lock(&fail_lock);
    failures = 0;
    first_failure[0] = 0;
    pthread_mutex_unlock(&fail_lock);
    return 0;
}

static inline void assert_no_failures(void)
{
    pthread_mutex_lock(&fail_lock);
    int n = failures;
    char msg[sizeof first_failure];
    memcpy(msg, first_failure, sizeof msg);
    pthread_mutex_unlock(&fail_lock);
    if (n)
        fail_msg("%d check(s) failed off the main stack, the first at %s", n, msg);
}

/* A greenlet with every attribute given; a failure is recorded, not asserted (callers may
 * run off the main stack or thread). */
static inline green_t *new_green(green_fn fn, green_t *parent, int model, size_t size,
                                 const char *name)
{
    green_attr_t a = GREEN_ATTR_INIT;
    a.stack_model = model;
    a.stack_size = size;
    a.name = name;
    green_t *g = green_new(fn, parent, &a);
    if (!g)
        note_failure(__LINE__, "green_new: %s", green_last_error());
    return g;
}

/* ---- greenlets in a given stack model ------------------------------------------------ */

/* Tests that run once per stack model get it as cmocka's initial state. */
static inline int model_of(void **state) { return (int)(intptr_t)*state; }

static inline green_t *new_g(green_fn fn, green_t *parent, int model)
{
    green_attr_t a = GREEN_ATTR_INIT;
    a.stack_model = model;
    green_t *g = green_new(fn, parent, &a);
    assert_non_null(g);
    return g;
}

#define PRIVATE_AND_SHARED(t)                                                             \
    cmocka_unit_test_prestate(t, (void *)(intptr_t)GREEN_STACK_PRIVATE),                  \
        cmocka_unit_test_prestate(t, (void *)(intptr_t)GREEN_STACK_SHARED)

#endif /* GREEN_TESTUTIL_H */
