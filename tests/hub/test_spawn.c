/* SPDX-License-Identifier: MIT */
/* Spawning and sleeping (hub.h): gevent's spawn, spawn_later and sleep orders. */
#include <ev.h>
#include <math.h>
#include <time.h>

#include "hubtest.h"

/* gevent S1: spawn only queues the start; spawned greenlets run in spawn order. */
static void test_spawn_fifo(void **state)
{
    (void)state;
    green_t *a = SPAWN(say_arg, "A"), *b = SPAWN(say_arg, "B");
    say("main");
    assert_false(green_ready(a));
    assert_int_equal(green_sleep(0), 0);
    say("back");
    assert_order("main", "A", "B", "back");
    assert_true(green_ready(a) && green_ready(b));
    JOIN(a);
    JOIN(b);
    assert_no_failures();
}

static void *sleeper3(void *arg)
{
    const char *n = arg;
    for (int i = 0; i < 3; i++) {
        say("%s%d", n, i);
        if (*n == 'A' && i == 0)
            CHECK_EQ(green_release(SPAWN(say_arg, "C")), 0);
        CHECK_EQ(green_sleep(0), 0);
    }
    return NULL;
}

/* gevent S2: sleep(0) requeues at the tail; a greenlet spawned by a greenlet too. */
static void test_sleep0_requeue(void **state)
{
    (void)state;
    green_t *a = SPAWN(sleeper3, "A"), *b = SPAWN(sleeper3, "B");
    JOIN(a);
    JOIN(b);
    assert_order("A0", "B0", "C", "A1", "B1", "A2", "B2");
    assert_no_failures();
}

static void *report_attrs(void *arg)
{
    (void)arg;
    green_t *me = green_current();
    say("%s:%s", green_name(me) ? green_name(me) : "-",
        green_state(me) & GREEN_SHARED ? "shared" : "private");
    CHECK(green_parent(me) == green_hub());
    volatile char big[96 * 1024]; /* needs more than a small stack would give */
    big[0] = 1;
    big[sizeof big - 1] = 2;
    return (void *)(intptr_t)(big[0] + big[sizeof big - 1]);
}

static void test_spawn_attrs(void **state)
{
    (void)state;
    green_attr_t shared = GREEN_ATTR_INIT, priv = GREEN_ATTR_INIT;
    shared.stack_model = GREEN_STACK_SHARED;
    shared.name = "sh";
    priv.stack_size = 512 * KiB;
    priv.name = "pr";
    green_t *s = green_spawn(report_attrs, NULL, &shared);
    green_t *p = green_spawn(report_attrs, NULL, &priv);
    green_t *d = green_spawn(report_attrs, NULL, NULL);
    assert_non_null(s);
    assert_non_null(p);
    assert_non_null(d);
    assert_string_equal(green_name(s), "sh");
    void *v = NULL;
    assert_int_equal(green_join(s, GREEN_FOREVER, &v), 0);
    assert_int_equal((intptr_t)v, 3);
    assert_int_equal(green_join(p, GREEN_FOREVER, &v), 0);
    assert_int_equal((intptr_t)v, 3);
    assert_int_equal(green_join(d, GREEN_FOREVER, &v), 0);
    assert_order("sh:shared", "pr:private", "-:private");
    assert_int_equal(green_release(s), 0);
    assert_int_equal(green_release(p), 0);
    assert_int_equal(green_release(d), 0);
    assert_no_failures();
}

/* gevent: spawn_later(0.02, B); spawn_later(0.01, A); spawn_later(0, Z); spawn(C)
 * prints "main C Z A B". */
static void test_spawn_later(void **state)
{
    (void)state;
    double t0 = monotonic_seconds();
    green_t *g[4] = {green_spawn_later(0.02, say_arg, "B", NULL),
                     green_spawn_later(0.01, say_arg, "A", NULL),
                     green_spawn_later(0, say_arg, "Z", NULL), SPAWN(say_arg, "C")};
    say("main");
    for (int i = 0; i < 4; i++) {
        assert_non_null(g[i]);
        JOIN(g[i]);
    }
    assert_order("main", "C", "Z", "A", "B");
    /* spawn_later counts from the loop's clock, which may lag the call a little (gevent's
     * timers do not update it outside callbacks either) */
    assert_true(monotonic_seconds() - t0 >= 0.015);
    assert_no_failures();
}

static void *sleep_then_say(void *arg)
{
    const char *n = arg;
    double delay = (n[1] - '0') * 0.1; /* steps far above a greenlet start under valgrind */
    double t0 = monotonic_seconds();
    CHECK_EQ(green_sleep(delay), 0);
    CHECK(monotonic_seconds() - t0 >= delay);
    say("%s", n);
    return NULL;
}

/* gevent: sleeps of 0.03, 0.01, 0.02, 0.01 wake as "s1 t1 s2 s3" (equal deadlines in start
 * order); here 0.3, 0.1, 0.2, 0.1, so that the order cannot depend on the machine. */
static void test_sleep_timers(void **state)
{
    (void)state;
    green_t *g[4] = {SPAWN(sleep_then_say, "s3"), SPAWN(sleep_then_say, "s1"),
                     SPAWN(sleep_then_say, "s2"), SPAWN(sleep_then_say, "t1")};
    for (int i = 0; i < 4; i++)
        JOIN(g[i]);
    assert_order("s1", "t1", "s2", "s3");
    /* main sleeps too */
    double t0 = monotonic_seconds();
    assert_int_equal(green_sleep(0.01), 0);
    assert_true(monotonic_seconds() - t0 >= 0.01);
    assert_no_failures();
}

/* A sleep counts from when it is called, even if the loop has not read the clock since
 * (main was resumed by a timer, then computed): regression, it used to return at once. */
static void test_sleep_counts_from_now(void **state)
{
    (void)state;
    assert_int_equal(green_sleep(0.001), 0); /* resumed from a timer, not from a callback */
    double t = monotonic_seconds();
    while (monotonic_seconds() - t < 0.03) { /* computing, the hub does not run */
    }
    double t0 = monotonic_seconds();
    assert_int_equal(green_sleep(0.02), 0);
    assert_true(monotonic_seconds() - t0 >= 0.02);
    assert_no_failures();
}

static void test_einval(void **state)
{
    (void)state;
    CHECK_NULL(green_spawn(NULL, NULL, NULL), EINVAL);
    CHECK_NULL(green_spawn_later(0, NULL, NULL, NULL), EINVAL);
    CHECK_NULL(green_spawn_later(-1, say_arg, "x", NULL), EINVAL);
    CHECK_NULL(green_spawn_later(NAN, say_arg, "x", NULL), EINVAL);
    green_attr_t bad = GREEN_ATTR_INIT;
    bad.stack_model = (enum green_stack_model)42;
    CHECK_NULL(green_spawn(say_arg, "x", &bad), EINVAL);
    bad = (green_attr_t)GREEN_ATTR_INIT;
    bad.stack_size = GREEN_STACK_MAX + 1;
    CHECK_NULL(green_spawn(say_arg, "x", &bad), EINVAL);
    CHECK_FAILS(green_sleep(-1), EINVAL);
    CHECK_FAILS(green_sleep(NAN), EINVAL);
    CHECK_FAILS(green_join(NULL, 0, NULL), EINVAL);
    CHECK_FAILS(green_join(green_main(), 0, NULL), EINVAL); /* not spawned */
    CHECK_FAILS(green_release(NULL), EINVAL);
    CHECK_FAILS(green_release(green_main()), EINVAL);
    CHECK_FAILS(green_kill(NULL, 0), EINVAL);
    CHECK_FAILS(green_kill_nowait(NULL), EINVAL);
    green_t *g = SPAWN(say_arg, "ran");
    CHECK_FAILS(green_join(g, NAN, NULL), EINVAL);
    CHECK_FAILS(green_kill(g, NAN), EINVAL);
    CHECK(!green_ready(NULL) && !green_successful(NULL) && !green_ready(green_main()));
    JOIN(g);
    assert_order("ran"); /* nothing refused started anything */
    assert_no_failures();
}

/* ---- spawning from the hub: a libev watcher's callback ------------------------------- */

static green_event_t *hub_event;
static green_t *from_hub;

static void *set_hub_event(void *arg)
{
    say("%s", (const char *)arg);
    CHECK_EQ(green_event_set(hub_event), 0);
    return NULL;
}

static void on_watcher(void *arg)
{
    (void)arg;
    CHECK(green_current() == green_hub());
    from_hub = green_spawn(set_hub_event, "G", NULL);
    CHECK(from_hub != NULL);
    CHECK_FAILS(green_sleep(0), EPERM); /* the hub cannot block */
    say("cb");
}

static void test_spawn_from_hub(void **state)
{
    (void)state;
    hub_event = green_event_new();
    assert_non_null(hub_event);
    struct hub_call w;
    hub_call_start(&w, 0.001, on_watcher, NULL);
    int rc = green_event_wait(hub_event, GREEN_FOREVER);
    if (rc)
        fail_msg("%s", green_last_error());
    say("main");
    assert_order("cb", "G", "main");
    assert_non_null(from_hub);
    assert_ptr_equal(green_parent(from_hub), green_hub());
    JOIN(from_hub);
    assert_int_equal(green_event_destroy(hub_event), 0);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_spawn_fifo),   HUB_TEST(test_sleep0_requeue), HUB_TEST(test_spawn_attrs),
        HUB_TEST(test_spawn_later),  HUB_TEST(test_sleep_timers),   HUB_TEST(test_einval),
        HUB_TEST(test_sleep_counts_from_now),
        HUB_TEST(test_spawn_from_hub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
