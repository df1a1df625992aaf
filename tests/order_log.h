/* SPDX-License-Identifier: MIT */
/* The order log of the hub and sync tests: what ran, in which order.
 *
 * Greenlets, hub callbacks and the main greenlet append one entry each with
 * say(fmt, ...); after the program, the test's main stack compares the whole log with the
 * order gevent 22.10 prints for the same program:
 *
 *     assert_order("A waits", "main writes", "A ready 1");
 *     assert_order();                       (nothing was logged)
 *
 * assert_order() first reports any failure CHECK() recorded (it explains a wrong order
 * better than the order does), then compares entry by entry and prints both logs when they
 * differ.  Entries live in static storage, never on a greenlet's stack; an overflow is
 * recorded as a failure.  HUB_TEST (hubtest.h) empties the log before every test;
 * order_reset() empties it within one.  order_text() is the log as text, one entry a line
 * ("A waits\nmain writes\n"), for passing it on (a forked child writes it to a pipe).
 *
 * One thread at a time: say() takes no lock.  Use it where the main stack cannot assert
 * (cmocka asserts longjmp); on the main stack, assert what you can see directly. */
#ifndef GREEN_TEST_ORDER_LOG_H
#define GREEN_TEST_ORDER_LOG_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static char order_log[16384];
static size_t order_len;

static inline void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void say(const char *fmt, ...)
{
    size_t room = sizeof order_log - order_len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(order_log + order_len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n + 1 >= room) {
        order_log[order_len] = 0;
        note_failure(__LINE__, "order log overflow");
        return;
    }
    order_len += (size_t)n;
    order_log[order_len++] = '\n';
    order_log[order_len] = 0;
}

static inline void order_reset(void)
{
    order_len = 0;
    order_log[0] = 0;
}

static inline const char *order_text(void) { return order_log; }

/* On the main stack: the log must be exactly expected[0..n). */
static inline void assert_order_list(const char *const *expected, size_t n)
{
    assert_no_failures();
    static char want[sizeof order_log];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(want + len, sizeof want - len, "%s\n", expected[i]);
        assert_true(w > 0 && (size_t)w < sizeof want - len);
        len += (size_t)w;
    }
    want[len] = 0;
    assert_string_equal(order_log, want);
}

/* The leading NULL lets the list be empty: assert_order(). */
#define assert_order(...)                                                                          \
    do {                                                                                           \
        static const char *const expected_[] = {NULL, __VA_ARGS__};                                \
        assert_order_list(expected_ + 1, sizeof expected_ / sizeof expected_[0] - 1);              \
    } while (0)

#endif /* GREEN_TEST_ORDER_LOG_H */
