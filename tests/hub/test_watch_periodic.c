/* SPDX-License-Identifier: MIT */
/* green_periodic_* and green_sleep_until: ticks on the wall-clock schedule, several
 * waiters woken in order by one tick, a waiter waiting again gets the next tick, timeouts,
 * kills, refusals.  Ticks are 20 ms apart; the checks compare schedule slots, not
 * durations. */
#include "hubtest.h"

#define TICK 0.02

/* The schedule slot of wall-clock time t (a tick at a slot's start belongs to it). */
static long slot(double t) { return (long)(t / TICK + 1e-3); }

static green_periodic_t *per;

/* Loop time (ev_now), which libev schedules periodics from: a tick is delivered with it at
 * or past the tick's point, and each tick in an iteration of its own. */
static double loop_now(void) { return ev_now(green_hub_loop()); }

static void *ticker(void *arg)
{
    const char *name = arg;
    double start = loop_now(), last = start;
    for (int i = 0; i < 2; i++) {
        int rc = green_periodic_wait(per, GREEN_FOREVER);
        double now = loop_now();
        CHECK_EQ(rc, 0);
        CHECK(now > last); /* another iteration: never two wakes from one tick */
        last = now;
        say("%s tick %d", name, i);
    }
    CHECK(slot(last) > slot(start)); /* on the schedule: past the next point after start */
    return NULL;
}

static void test_ticks(void **state)
{
    per = green_periodic_new(0, TICK);
    assert_non_null(per);
    green_t *a = SPAWN_MODEL(ticker, "A", model_of(state));
    green_t *b = SPAWN_MODEL(ticker, "B", model_of(state));
    JOIN(a);
    JOIN(b);
    assert_int_equal(green_periodic_destroy(per), 0);
    assert_no_failures();
    assert_order("A tick 0", "B tick 0", "A tick 1", "B tick 1");
}

static void *destroyer(void *arg)
{
    (void)arg;
    CHECK_EQ(green_periodic_wait(per, GREEN_FOREVER), 0);
    CHECK_EQ(green_periodic_destroy(per), 0); /* while the tick that woke it runs */
    say("D destroyed it");
    return NULL;
}

static void test_destroy_when_woken(void **state)
{
    per = green_periodic_new(0, TICK);
    green_t *d = SPAWN_MODEL(destroyer, NULL, model_of(state));
    JOIN(d);
    assert_no_failures();
    assert_order("D destroyed it");
}

static void *hour_waiter(void *arg)
{
    (void)arg;
    say("W waits");
    int rc = green_periodic_wait(per, GREEN_FOREVER);
    say("W %d %s", rc, errno == ECANCELED ? "ECANCELED" : "?");
    return NULL;
}

static void test_timeout_and_kill(void **state)
{
    per = green_periodic_new(0, 3600);
    assert_non_null(per);
    CHECK_FAILS(green_periodic_wait(per, 0), ETIMEDOUT);
    CHECK_FAILS(green_periodic_wait(per, 0.01), ETIMEDOUT);
    green_t *w = SPAWN_MODEL(hour_waiter, NULL, model_of(state));
    assert_int_equal(green_sleep(0), 0);
    CHECK_FAILS(green_periodic_destroy(per), EBUSY);
    assert_int_equal(green_kill(w, GREEN_FOREVER), 0);
    assert_int_equal(green_release(w), 0);
    assert_int_equal(green_periodic_destroy(per), 0);
    assert_no_failures();
    assert_order("W waits", "W -1 ECANCELED");
    /* an unwatched schedule does not keep the hub alive */
    per = green_periodic_new(0, TICK);
    green_event_t *never = green_event_new();
    CHECK_FAILS(green_event_wait(never, GREEN_FOREVER), EDEADLK);
    green_event_destroy(never);
    assert_no_failures(); /* per is left to shutdown */
}

static void *until_waiter(void *arg)
{
    (void)arg;
    int rc = green_sleep_until(ev_time() + 3600);
    say("U %d %s", rc, errno == ECANCELED ? "ECANCELED" : "?");
    return NULL;
}

static void test_sleep_until(void **state)
{
    double target = ev_time() + TICK;
    assert_int_equal(green_sleep_until(target), 0);
    assert_true(ev_time() >= target);
    assert_int_equal(green_sleep_until(ev_time() - 10), 0); /* past: next round of timers */
    green_timeout_t *t = green_timeout_start(0.01);
    CHECK_FAILS(green_sleep_until(ev_time() + 3600), ETIMEDOUT);
    assert_int_equal(green_timeout_end(t), 1);
    green_t *u = SPAWN_MODEL(until_waiter, NULL, model_of(state));
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_kill(u, GREEN_FOREVER), 0);
    assert_int_equal(green_release(u), 0);
    assert_no_failures();
    assert_order("U -1 ECANCELED");
}

static void in_hub(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_periodic_wait(per, 0), EPERM);
    CHECK_FAILS(green_sleep_until(0), EPERM);
}

static void test_refusals(void **state)
{
    (void)state;
    assert_null(green_periodic_new(0, 0));
    assert_int_equal(errno, EINVAL);
    assert_null(green_periodic_new(-1, 1));
    assert_int_equal(errno, EINVAL);
    assert_null(green_periodic_new(1, 1));
    assert_int_equal(errno, EINVAL);
    assert_null(green_periodic_new(0, 0.0 / 0.0));
    assert_int_equal(errno, EINVAL);
    CHECK_FAILS(green_periodic_destroy(NULL), EINVAL);
    CHECK_FAILS(green_periodic_wait(NULL, 0), EINVAL);
    CHECK_FAILS(green_sleep_until(0.0 / 0.0), EINVAL);
    per = green_periodic_new(0, 1);
    CHECK_FAILS(green_periodic_wait(per, 0.0 / 0.0), EINVAL);
    run_in_hub(in_hub, NULL);
    assert_int_equal(green_periodic_destroy(per), 0);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST_MODELS(test_ticks),
        HUB_TEST_MODELS(test_destroy_when_woken),
        HUB_TEST_MODELS(test_timeout_and_kill),
        HUB_TEST_MODELS(test_sleep_until),
        HUB_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
