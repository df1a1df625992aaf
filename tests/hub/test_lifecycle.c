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

/* ---- objects that outlive their hub ---------------------------------------------------- */

static green_event_t *never_set, *set_early;
static green_iwait_t *left_iter;

/* Takes the first ready object of an iteration, then blocks elsewhere with the iteration
 * still open (linked to never_set, its timer running) until shutdown kills it. */
static void *iterate_then_block(void *arg)
{
    (void)arg;
    green_waitable_t objs[] = {green_waitable_event(set_early), green_waitable_event(never_set)};
    left_iter = green_iwait_new(objs, 2, 100, 2);
    CHECK(left_iter != NULL);
    size_t index = 99;
    CHECK_EQ(green_iwait_next(left_iter, &index), 1);
    CHECK_EQ(index, 0);
    CHECK_FAILS(green_sleep(100), ECANCELED);
    return NULL;
}

/* Every object kind made before green_hub_shutdown() can be destroyed after it, without a
 * hub (none is created for that), and the thread's next hub is the same owner. */
static void test_objects_outlive_hub(void **state)
{
    (void)state;
    green_lock_t *lock = green_lock_new();
    green_rlock_t *rlock = green_rlock_new();
    green_sem_t *sem = green_sem_new(1, false);
    green_result_t *res = green_result_new();
    green_queue_t *q = green_queue_new(0);
    green_channel_t *ch = green_channel_new();
    green_cond_t *cond = green_cond_new(lock);
    green_group_t *grp = green_group_new();
    green_group_t *pool = green_pool_new(2);
    never_set = green_event_new();
    set_early = green_event_new();
    assert_true(lock && rlock && sem && res && q && ch && cond && grp && pool && never_set &&
                set_early);
    assert_int_equal(green_event_set(set_early), 0);
    assert_int_equal(green_release(SPAWN(iterate_then_block, NULL)), 0);
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(green_queue_put(q, "x", 0), 0);
    green_timeout_t *mine = green_timeout_start(0.01); /* left armed: disarmed by shutdown */
    assert_non_null(mine);

    assert_int_equal(green_hub_shutdown(), 0);
    assert_int_equal(green_event_destroy(never_set), 0);
    assert_int_equal(green_iwait_end(left_iter), 0);
    assert_false(green_timeout_fired(mine));
    assert_int_equal(green_timeout_end(mine), 0);
    assert_int_equal(green_cond_destroy(cond), 0);
    assert_int_equal(green_lock_destroy(lock), 0);
    assert_int_equal(green_rlock_destroy(rlock), 0);
    assert_int_equal(green_sem_destroy(sem), 0);
    assert_int_equal(green_result_destroy(res), 0);
    assert_int_equal(green_queue_destroy(q), 0);
    assert_int_equal(green_channel_destroy(ch), 0);
    assert_int_equal(green_group_destroy(grp), 0);
    assert_int_equal(green_group_destroy(pool), 0);
    assert_int_equal(green_event_destroy(set_early), 0);
    assert_int_equal(green_hub_shutdown(), 0); /* destroying created no hub: nothing to do */
    green_hub_set_time_budget(false);          /* the teardown's hub */
}

static void *wait_event(void *arg)
{
    CHECK_EQ(green_event_wait(arg, GREEN_FOREVER), 0);
    say("woken");
    return NULL;
}

/* Other calls on an object made before a shutdown run on the thread's next hub, created by
 * the call as a first call would: the object works there as on a fresh hub. */
static void test_object_used_on_next_hub(void **state)
{
    (void)state;
    green_event_t *e = green_event_new();
    green_sem_t *sem = green_sem_new(0, false);
    assert_true(e && sem);
    assert_int_equal(green_hub_shutdown(), 0);
    assert_int_equal(green_sem_release(sem), 0); /* creates the next hub */
    assert_int_equal(green_sem_try_acquire(sem), 0);
    assert_int_equal(green_hub_set_time_budget(false), 0);
    green_t *g = SPAWN(wait_event, e);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_set(e), 0);
    assert_int_equal(green_join(g, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_release(g), 0);
    assert_int_equal(green_event_destroy(e), 0);
    assert_int_equal(green_sem_destroy(sem), 0);
    assert_order("woken");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_killed_unstarted_is_dead),
        HUB_TEST(test_timeout_outlives_greenlet),
        HUB_TEST(test_timeout_outlives_released_greenlet),
        HUB_TEST(test_timeout_of_killed),
        HUB_TEST(test_timeout_plain_greenlet),
        HUB_TEST(test_objects_outlive_hub),
        HUB_TEST(test_object_used_on_next_hub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
