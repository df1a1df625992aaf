/* SPDX-License-Identifier: MIT */
/* What the watcher tests (test_watch_*.c) share: a trace of what ran in which order, a
 * check that a call was refused with a given errno, spawning in either stack model, running
 * a call inside the hub, and a fresh hub for every test. */
#ifndef GREEN_TEST_WATCH_UTIL_H
#define GREEN_TEST_WATCH_UTIL_H

#include <ev.h>
#include <stdarg.h>

#include "testutil.h"

/* ---- the trace: "A waits|main writes|A ready 1" -------------------------------------- */

static char trace_buf[2048];

static inline void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void say(const char *fmt, ...)
{
    size_t n = strlen(trace_buf);
    if (n && n + 1 < sizeof trace_buf)
        trace_buf[n++] = '|';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(trace_buf + n, sizeof trace_buf - n, fmt, ap);
    va_end(ap);
}

/* call returned -1 with errno want (recorded, so usable in greenlets). */
#define CHECK_FAILS(call, want)                                                                    \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long rc_ = (long)(call);                                                                   \
        int e_ = errno;                                                                            \
        if (rc_ != -1 || e_ != (want))                                                             \
            note_failure(__LINE__, "%s: rc %ld errno %d (%s), expected -1 errno %d (%s)", #call,   \
                         rc_, e_, strerror(e_), (want), strerror(want));                           \
    } while (0)

/* A greenlet on the hub in the given stack model. */
static inline green_t *spawn_model(green_fn fn, void *arg, int model)
{
    green_attr_t a = GREEN_ATTR_INIT;
    a.stack_model = model;
    green_t *g = green_spawn(fn, arg, &a);
    if (!g)
        note_failure(__LINE__, "green_spawn: %s", green_last_error());
    return g;
}

/* Join g (it must end with 0) and release it. */
#define JOIN(g)                                                                                    \
    do {                                                                                           \
        CHECK_EQ(green_join((g), GREEN_FOREVER, NULL), 0);                                         \
        CHECK_EQ(green_release(g), 0);                                                             \
    } while (0)

/* ---- inside the hub ------------------------------------------------------------------ */

static void (*in_hub_fn)(void);

static inline void in_hub_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)w, (void)revents;
    in_hub_fn();
}

/* Run fn in the hub greenlet (from a zero-second timer), from the main greenlet. */
static inline void run_in_hub(void (*fn)(void))
{
    static ev_timer t;
    in_hub_fn = fn;
    ev_timer_init(&t, in_hub_timer, 0.0, 0.0);
    ev_timer_start(green_hub_loop(), &t);
    CHECK_EQ(green_sleep(0.001), 0); /* the 0 s timer fires first */
}

/* ---- fixtures ------------------------------------------------------------------------ */

static inline int watch_setup(void **state)
{
    trace_buf[0] = 0;
    return reset_failures(state);
}

/* Every test ends with its hub shut down: the next one starts from a fresh hub. */
static inline int watch_teardown(void **state)
{
    int rc = green_hub_shutdown();
    if (rc != 0)
        print_error("green_hub_shutdown: %s\n", green_last_error());
    return teardown_no_failures(state) || rc;
}

#define WATCH_TEST(t) cmocka_unit_test_setup_teardown(t, watch_setup, watch_teardown)
#define WATCH_TEST_MODELS(t)                                                                       \
    cmocka_unit_test_prestate_setup_teardown(t, watch_setup, watch_teardown,                       \
                                             (void *)(intptr_t)GREEN_STACK_PRIVATE),               \
        cmocka_unit_test_prestate_setup_teardown(t, watch_setup, watch_teardown,                   \
                                                 (void *)(intptr_t)GREEN_STACK_SHARED)

#endif /* GREEN_TEST_WATCH_UTIL_H */
