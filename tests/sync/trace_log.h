/* SPDX-License-Identifier: MIT */
/* The order tests' trace: say() appends one line, assert_trace() compares the whole trace
 * with what gevent printed for the same program (on the main stack, after the program).
 * Also the helpers every sync order test uses: a fresh hub with strict FIFO order, and
 * spawning with the failure recorded. */
#ifndef GREEN_TEST_SYNC_TRACE_LOG_H
#define GREEN_TEST_SYNC_TRACE_LOG_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static char trace_buf[8192];
static size_t trace_len;

static inline void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(trace_buf + trace_len, sizeof trace_buf - trace_len - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof trace_buf - trace_len - 1) {
        note_failure(__LINE__, "trace overflow");
        return;
    }
    trace_len += (size_t)n;
    trace_buf[trace_len++] = '\n';
    trace_buf[trace_len] = 0;
}

/* A cmocka setup: empty trace, clean failure record, the hub's time budget off (gevent's
 * traces were taken with sys.setswitchinterval(1e6)). */
static inline int trace_setup(void **state)
{
    trace_len = 0;
    trace_buf[0] = 0;
    reset_failures(state);
    return green_hub_set_time_budget(false);
}

/* A cmocka teardown: the hub is shut down (every greenlet left is killed and freed). */
static inline int trace_teardown(void **state)
{
    int rc = green_hub_shutdown();
    return teardown_no_failures(state) || rc;
}

#define TRACE_TEST(t) cmocka_unit_test_setup_teardown(t, trace_setup, trace_teardown)

#define assert_trace(expected)                                                                     \
    do {                                                                                           \
        assert_no_failures();                                                                      \
        assert_string_equal(trace_buf, (expected));                                                \
    } while (0)

/* Spawn, recording a failure at the caller's line. */
#define spawn(fn, arg) spawn_at(__LINE__, (fn), (arg))
static inline green_t *spawn_at(int line, green_fn fn, void *arg)
{
    green_t *g = green_spawn(fn, arg, NULL);
    if (!g)
        note_failure(line, "green_spawn: %s", green_last_error());
    return g;
}

/* Join and release a handle (NULL: nothing). */
static inline void finish(green_t *g)
{
    if (!g)
        return;
    if (green_join(g, GREEN_FOREVER, NULL) < 0)
        note_failure(__LINE__, "green_join: %s", green_last_error());
    green_release(g);
}

#endif /* GREEN_TEST_SYNC_TRACE_LOG_H */
