/* SPDX-License-Identifier: MIT */
/* Helpers for the hub and sync tests (tests/hub, tests/sync):
 *
 *   - an order log: say("A0") appends "A0 " from any greenlet; the test compares the whole
 *     line with the order gevent 22.10 prints for the same program (assert_order);
 *   - HUB_TEST(t): every test starts on a fresh hub with the time budget off (gevent's
 *     sys.setswitchinterval(1e6), so orders do not depend on the machine's speed), and
 *     ends by shutting the hub down, which must succeed;
 *   - errno checks for greenlet bodies: CHECK_FAILS(call, err).
 */
#ifndef GREEN_HUBTEST_H
#define GREEN_HUBTEST_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static char order_log[16384];
static size_t order_len;

static inline void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(order_log + order_len, sizeof order_log - order_len - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof order_log - order_len - 1) {
        note_failure(__LINE__, "order log overflow");
        return;
    }
    order_len += (size_t)n;
    order_log[order_len++] = ' ';
    order_log[order_len] = 0;
}

static inline void order_reset(void)
{
    order_len = 0;
    order_log[0] = 0;
}

/* The log so far, as "A0 B0 ..." with the trailing space removed. */
static inline const char *order(void)
{
    if (order_len && order_log[order_len - 1] == ' ')
        order_log[--order_len] = 0;
    return order_log;
}

#define assert_order(expected) assert_string_equal(order(), (expected))

/* call must return -1 with errno err (recorded, for use inside greenlets). */
#define CHECK_FAILS(call, err)                                                            \
    do {                                                                                  \
        errno = 0;                                                                        \
        long long rc_ = (long long)(call);                                                \
        int e_ = errno;                                                                   \
        if (rc_ != -1 || e_ != (err))                                                     \
            note_failure(__LINE__, "%s: rc %lld errno %d (%s), expected -1 errno %d (%s)", \
                         #call, rc_, e_, strerror(e_), (err), strerror(err));             \
    } while (0)

/* The same for calls returning a pointer (NULL on failure). */
#define CHECK_NULL(call, err)                                                             \
    do {                                                                                  \
        errno = 0;                                                                        \
        const void *p_ = (call);                                                          \
        int e_ = errno;                                                                   \
        if (p_ != NULL || e_ != (err))                                                    \
            note_failure(__LINE__, "%s: %p errno %d (%s), expected NULL errno %d (%s)",   \
                         #call, p_, e_, strerror(e_), (err), strerror(err));              \
    } while (0)

static inline int hub_setup(void **state)
{
    reset_failures(state);
    order_reset();
    if (green_hub_set_time_budget(false) != 0) {
        print_error("green_hub_set_time_budget: %s\n", green_last_error());
        return -1;
    }
    return 0;
}

static inline int hub_teardown(void **state)
{
    int rc = green_hub_shutdown();
    if (rc != 0)
        print_error("green_hub_shutdown: %s\n", green_last_error());
    return teardown_no_failures(state) || rc;
}

#define HUB_TEST(t) cmocka_unit_test_setup_teardown(t, hub_setup, hub_teardown)

/* Spawn or record the failure; the handle is the caller's. */
#define SPAWN(fn, arg) spawn_at(__LINE__, (fn), (void *)(arg), NULL)

static inline green_t *spawn_at(int line, green_fn fn, void *arg, const green_attr_t *attr)
{
    green_t *g = green_spawn(fn, arg, attr);
    if (!g)
        note_failure(line, "green_spawn: %s", green_last_error());
    return g;
}

#endif /* GREEN_HUBTEST_H */
