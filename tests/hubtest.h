/* SPDX-License-Identifier: MIT */
/* The fixture and helpers of the hub and sync tests (tests/hub, tests/sync), on top of
 * testutil.h (CHECK, scaled, ...) and order_log.h (say, assert_order):
 *
 *   - HUB_TEST(t): t starts with a clean failure record, an empty order log and the hub's
 *     time budget off (gevent's sys.setswitchinterval(1e6): orders do not depend on the
 *     machine's speed), and ends by shutting the hub down, which must succeed, so the next
 *     test starts from a fresh hub.  HUB_TEST_MODELS(t) runs t once per stack model, which
 *     t reads with model_of(state).  Tests that run hubs on several threads use
 *     CHECKED_TEST (check.h) and shut each thread's hub down themselves;
 *   - errno checks usable inside greenlets: CHECK_FAILS(call, err) for calls returning
 *     -1, CHECK_NULL(call, err) for calls returning a pointer;
 *   - SPAWN(fn, arg), SPAWN_MODEL(fn, arg, model), SPAWN_NAMED(fn, arg, name): spawn, or
 *     record the failure at the caller's line (the handle is the caller's);
 *     JOIN(g): g must end with 0, then its handle is released (NULL: nothing);
 *     JOIN_ALL(gs, n) does that for n of them; say_arg: a greenlet body that says its
 *     argument (a string) and returns it;
 *   - ITEM(i) and INT(p): small integers as the void * items of queues and channels;
 *   - hub_call_start(), run_in_hub(): run a function in the hub greenlet itself (from a
 *     libev timer), to check what the hub refuses.
 */
#ifndef GREEN_HUBTEST_H
#define GREEN_HUBTEST_H

#include <ev.h>
#include <stdio.h>
#include <string.h>

#include "order_log.h"
#include "testutil.h"

/* ---- errno checks --------------------------------------------------------------------- */

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

/* ---- the fresh-hub fixture ------------------------------------------------------------ */

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
#define HUB_TEST_MODELS(t) PRIVATE_AND_SHARED_FIXTURES(t, hub_setup, hub_teardown)

/* ---- greenlets on the hub ------------------------------------------------------------- */

#define SPAWN(fn, arg) spawn_at(__LINE__, (fn), (void *)(arg), GREEN_STACK_PRIVATE, NULL)
#define SPAWN_MODEL(fn, arg, model) spawn_at(__LINE__, (fn), (void *)(arg), (model), NULL)
#define SPAWN_NAMED(fn, arg, name)                                                                 \
    spawn_at(__LINE__, (fn), (void *)(arg), GREEN_STACK_PRIVATE, (name))

static inline green_t *spawn_at(int line, green_fn fn, void *arg, int model, const char *name)
{
    green_attr_t a = GREEN_ATTR_INIT;
    a.stack_model = model;
    a.name = name;
    green_t *g = green_spawn(fn, arg, &a);
    if (!g)
        note_failure(line, "green_spawn: %s", green_last_error());
    return g;
}

#define JOIN(g)                                                                                    \
    do {                                                                                           \
        green_t *g_ = (g);                                                                         \
        if (g_) {                                                                                  \
            CHECK_EQ(green_join(g_, GREEN_FOREVER, NULL), 0);                                      \
            CHECK_EQ(green_release(g_), 0);                                                        \
        }                                                                                          \
    } while (0)

#define JOIN_ALL(gs, n)                                                                            \
    do {                                                                                           \
        for (size_t j_ = 0; j_ < (size_t)(n); j_++)                                                \
            JOIN((gs)[j_]);                                                                        \
    } while (0)

static inline void *say_arg(void *arg)
{
    say("%s", (const char *)arg);
    return arg;
}

/* The hub's count of hand-offs (src/hub/handoff.c), an internal symbol: the tests link the
 * static library, and read it to see that a ping-pong does hand off. */
uint64_t green__hub_handoff_count(void);

#define ITEM(i) ((void *)(intptr_t)(i))
#define INT(p) ((int)(intptr_t)(p))

/* ---- inside the hub ------------------------------------------------------------------- */

/* A call of fn(arg) in the hub greenlet itself, from a libev timer, to check what the hub
 * refuses (blocking calls fail with EPERM) and what it may do.  hub_call_start() arms it
 * `after` seconds from now; the caller then blocks in whatever the test needs until it has
 * run (c must live until then).  run_in_hub(fn, arg) arms it at 0 s and sleeps past it. */
struct hub_call {
    ev_timer timer;
    void (*fn)(void *);
    void *arg;
};

static inline void hub_call_fire(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct hub_call *c = w->data;
    c->fn(c->arg);
}

static inline void hub_call_start(struct hub_call *c, double after, void (*fn)(void *), void *arg)
{
    c->fn = fn;
    c->arg = arg;
    ev_timer_init(&c->timer, hub_call_fire, after, 0.0);
    c->timer.data = c;
    ev_timer_start(green_hub_loop(), &c->timer);
}

static inline void run_in_hub(void (*fn)(void *), void *arg)
{
    static struct hub_call c;
    hub_call_start(&c, 0.0, fn, arg);
    CHECK_EQ(green_sleep(0.001), 0); /* the 0 s timer fires first */
}

/* A trace hook that says every switch or throw as "switch A>B", naming main, the hub, and
 * the greenlet given as the hook's argument ("g"): green_settrace(say_switches, g, ...). */
static inline const char *say_switches_who(green_t *x, green_t *g)
{
    return x == green_main() ? "main" : x == green_hub() ? "hub" : x == g ? "g" : "?";
}

static inline void say_switches(green_trace_event_t ev, green_t *origin, green_t *target, void *g)
{
    say("%s %s>%s", ev == GREEN_EVENT_SWITCH ? "switch" : "throw", say_switches_who(origin, g),
        say_switches_who(target, g));
}

#endif /* GREEN_HUBTEST_H */
