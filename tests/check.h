/* SPDX-License-Identifier: MIT */
/* Failures recorded off the main stack or thread, reported on it.
 *
 * cmocka's assertions longjmp to the test runner's stack.  From inside a greenlet, a
 * context made by the arch switch, or another thread, that jump would leave the thread
 * on the wrong stack (and the library's idea of the current greenlet wrong for every
 * later test).  Code there uses CHECK() / CHECK_EQ() / note_failure(), which only record;
 * the test's main stack then calls assert_no_failures().
 *
 * Needs only cmocka and pthreads, not libgreen: tests/arch uses it too. */
#ifndef GREEN_TEST_CHECK_H
#define GREEN_TEST_CHECK_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static pthread_mutex_t check_lock = PTHREAD_MUTEX_INITIALIZER;
static int check_failures;
static char check_first[512];

static inline void note_failure(int line, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void note_failure(int line, const char *fmt, ...)
{
    pthread_mutex_lock(&check_lock);
    if (check_failures++ == 0) {
        int n = snprintf(check_first, sizeof check_first, "line %d: ", line);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(check_first + n, sizeof check_first - (size_t)n, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&check_lock);
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

/* A cmocka setup: every test starts with a clean record. */
static inline int reset_failures(void **state)
{
    (void)state;
    pthread_mutex_lock(&check_lock);
    check_failures = 0;
    check_first[0] = 0;
    pthread_mutex_unlock(&check_lock);
    return 0;
}

static inline int failures_recorded(char *first, size_t len)
{
    pthread_mutex_lock(&check_lock);
    int n = check_failures;
    snprintf(first, len, "%s", check_first);
    pthread_mutex_unlock(&check_lock);
    return n;
}

/* On the main stack of the test's thread only. */
static inline void assert_no_failures(void)
{
    char first[sizeof check_first];
    int n = failures_recorded(first, sizeof first);
    if (n) {
        reset_failures(NULL); /* reported here: not again by teardown_no_failures */
        fail_msg("%d check(s) failed off the main stack, the first at %s", n, first);
    }
}

/* A cmocka teardown that fails the test if anything was recorded and not yet reported, so
 * that no test can forget assert_no_failures(). */
static inline int teardown_no_failures(void **state)
{
    (void)state;
    char first[sizeof check_first];
    int n = failures_recorded(first, sizeof first);
    if (n)
        print_error("%d check(s) failed off the main stack, the first at %s\n", n, first);
    return n ? -1 : 0;
}

/* A test with a clean record before and the check above after. */
#define CHECKED_TEST(t) cmocka_unit_test_setup_teardown(t, reset_failures, teardown_no_failures)

#endif /* GREEN_TEST_CHECK_H */
