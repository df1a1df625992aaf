/* SPDX-License-Identifier: MIT */
/* Lifetimes at the edges: a greenlet killed before it started, a scoped timeout that
 * outlives its greenlet, objects that outlive their hub or are destroyed by the greenlet
 * their wake-up just resumed, and callbacks queued after the hub's prepare phase. */
#include <ev.h>

#include "hubtest.h"

static void *say_arg(void *arg)
{
    say("%s", (const char *)arg);
    return NULL;
}

/* core.h: GREEN_DEAD covers "killed before it could start", as soon as green_ready() is. */
static void test_killed_unstarted_is_dead(void **state)
{
    (void)state;
    green_t *g = SPAWN(say_arg, "never");
    assert_int_equal(green_state(g) & GREEN_DEAD, 0);
    assert_int_equal(green_kill(g, GREEN_FOREVER), 0);
    assert_true(green_ready(g));
    assert_int_equal(green_state(g) & (GREEN_DEAD | GREEN_ACTIVE), GREEN_DEAD);
    assert_true(green_dead(g));
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_state(g) & GREEN_DEAD, GREEN_DEAD);
    assert_int_equal(green_release(g), 0);
    assert_order("");
}

/* ---- a scoped timeout that outlives its greenlet ---------------------------------------- */

static green_timeout_t *left_armed;

static void *arm_and_return(void *arg)
{
    left_armed = green_timeout_start(*(const double *)arg);
    CHECK(left_armed != NULL);
    say("armed");
    return NULL;
}

/* The greenlet ends with its timeout armed; the timeout's expiry passes; nothing is thrown
 * (into a dead greenlet, or a freed one when the handle was released), and the timeout can
 * still be ended from main, as not fired. */
static void left_armed_case(bool release)
{
    static const double zero = 0;
    left_armed = NULL;
    green_t *g = SPAWN(arm_and_return, &zero);
    if (release)
        assert_int_equal(green_release(g), 0);
    assert_int_equal(green_sleep(0.02), 0); /* the 0 s timer is due long before */
    assert_non_null(left_armed);
    assert_false(green_timeout_fired(left_armed));
    assert_int_equal(green_timeout_end(left_armed), 0);
    if (!release) {
        assert_true(green_dead(g));
        assert_true(green_successful(g));
        assert_int_equal(green_release(g), 0);
    }
    assert_order("armed");
}

static void test_timeout_outlives_greenlet(void **state)
{
    (void)state;
    left_armed_case(false);
}

static void test_timeout_outlives_released_greenlet(void **state)
{
    (void)state;
    left_armed_case(true);
}

/* A killed greenlet's timeout is disarmed too. */
static void *arm_and_wait(void *arg)
{
    (void)arg;
    left_armed = green_timeout_start(0.01);
    CHECK_FAILS(green_sleep(100), ECANCELED);
    return NULL;
}

static void test_timeout_of_killed(void **state)
{
    (void)state;
    green_t *g = SPAWN(arm_and_wait, NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_kill(g, GREEN_FOREVER), 0);
    assert_int_equal(green_release(g), 0);
    assert_int_equal(green_sleep(0.03), 0);
    assert_int_equal(green_timeout_end(left_armed), 0);
}

/* green_timeout_start from a greenlet the hub does not know: it could never be thrown
 * into safely (nothing tells the hub it died), and it cannot block anyway. */
static void *plain_arm(void *arg)
{
    (void)arg;
    CHECK_NULL(green_timeout_start(0), EPERM);
    return NULL;
}

static void test_timeout_plain_greenlet(void **state)
{
    (void)state;
    green_t *p = green_new(plain_arm, NULL, NULL);
    assert_non_null(p);
    assert_int_equal(green_switch(p, NULL, NULL), 0);
    assert_int_equal(green_destroy(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_killed_unstarted_is_dead),
        HUB_TEST(test_timeout_outlives_greenlet),
        HUB_TEST(test_timeout_outlives_released_greenlet),
        HUB_TEST(test_timeout_of_killed),
        HUB_TEST(test_timeout_plain_greenlet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
