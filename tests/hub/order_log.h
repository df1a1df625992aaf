/* SPDX-License-Identifier: MIT */
/* An order log for the hub's tests: greenlets and callbacks append lines with say(), the
 * test's main stack compares the whole log with what gevent printed for the same program
 * (assert_log).  Lines are kept in static storage, never on a greenlet's stack. */
#ifndef GREEN_TEST_ORDER_LOG_H
#define GREEN_TEST_ORDER_LOG_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#define LOG_LINES 64
#define LOG_WIDTH 96

static char log_lines[LOG_LINES][LOG_WIDTH];
static int log_count;

static inline void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void say(const char *fmt, ...)
{
    if (log_count == LOG_LINES) {
        note_failure(__LINE__, "order log full");
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(log_lines[log_count++], LOG_WIDTH, fmt, ap);
    va_end(ap);
}

static inline void log_reset(void) { log_count = 0; }

/* On the main stack: the log must be exactly expected[0..n). */
static inline void assert_log_lines(const char *const *expected, int n)
{
    for (int i = 0; i < n && i < log_count; i++)
        if (strcmp(log_lines[i], expected[i]) != 0)
            fail_msg("line %d: got \"%s\", expected \"%s\"", i, log_lines[i], expected[i]);
    if (log_count != n)
        fail_msg("%d lines logged, expected %d (last: \"%s\")", log_count, n,
                 log_count ? log_lines[log_count - 1] : "");
}
#define assert_log(...)                                                                   \
    do {                                                                                  \
        static const char *const expected_[] = {__VA_ARGS__};                            \
        assert_log_lines(expected_, (int)(sizeof expected_ / sizeof expected_[0]));       \
    } while (0)

/* A spawned greenlet with a name (attr.name). */
static inline green_t *spawn_named(green_fn fn, void *arg, const char *name)
{
    green_attr_t a = GREEN_ATTR_INIT;
    a.name = name;
    return green_spawn(fn, arg, &a);
}

#endif /* GREEN_TEST_ORDER_LOG_H */
