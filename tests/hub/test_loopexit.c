/* SPDX-License-Identifier: MIT */
/* LoopExit (gevent-semantics.md X1): main blocking on something nothing can ever do fails
 * with EDEADLK, for every blocking primitive; the primitive is left consistent, blocked
 * greenlets stay blocked, and main can go on and block again. */
#include "hubtest.h"

static green_event_t *ev;

static void *wait_then_say(void *arg)
{
    CHECK_EQ(green_event_wait(ev, GREEN_FOREVER), 0);
    say("%s woke", (const char *)arg);
    return NULL;
}

static void *wait_forever(void *arg)
{
    CHECK_FAILS(green_event_wait(arg, GREEN_FOREVER), ECANCELED);
    return NULL;
}

/* gevent X1, as printed by gevent 22.10. */
static void test_loopexit_order(void **state)
{
    (void)state;
    ev = green_event_new();
    green_event_t *never = green_event_new();
    green_t *w = SPAWN(wait_then_say, "W");
    CHECK_FAILS(green_event_wait(never, GREEN_FOREVER), EDEADLK);
    say("main: LoopExit; W still blocked: %d", !green_ready(w));
    assert_int_equal(green_event_set(ev), 0);
    assert_int_equal(green_join(w, GREEN_FOREVER, NULL), 0);
    say("main set e and joined W");
    green_t *w2 = SPAWN(wait_forever, never);
    CHECK_FAILS(green_join(w2, GREEN_FOREVER, NULL), EDEADLK);
    say("main: LoopExit in join(W2); W2 still blocked: %d", !green_ready(w2));
    assert_int_equal(green_kill(w2, GREEN_FOREVER), 0);
    say("main killed W2: dead=%d", green_ready(w2));
    assert_order("main: LoopExit; W still blocked: 1", "W woke", "main set e and joined W",
                 "main: LoopExit in join(W2); W2 still blocked: 1", "main killed W2: dead=1");
    assert_int_equal(green_release(w), 0);
    assert_int_equal(green_release(w2), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_destroy(ev), 0);
    assert_int_equal(green_event_destroy(never), 0);
    assert_no_failures();
}

static void *hold_lock(void *arg)
{
    CHECK_EQ(green_lock_acquire(arg, GREEN_FOREVER), 0);
    green_event_t *never = green_event_new();
    CHECK_FAILS(green_event_wait(never, GREEN_FOREVER), ECANCELED);
    CHECK_EQ(green_event_destroy(never), 0);
    CHECK_EQ(green_lock_release(arg), 0);
    return NULL;
}

/* Every primitive, then the same object used normally: nothing was left linked. */
static void test_each_primitive(void **state)
{
    (void)state;
    green_event_t *e = green_event_new();
    green_result_t *r = green_result_new();
    green_sem_t *s = green_sem_new(1, true);
    green_lock_t *l = green_lock_new();
    green_queue_t *q = green_queue_new(1);
    for (int round = 0; round < 2; round++) { /* and again: the loop restarts */
        CHECK_FAILS(green_event_wait(e, GREEN_FOREVER), EDEADLK);
        CHECK_FAILS(green_result_get(r, GREEN_FOREVER, NULL), EDEADLK);
        CHECK_FAILS(green_queue_get(q, GREEN_FOREVER, NULL), EDEADLK);
    }
    assert_int_equal(green_queue_put(q, (void *)1, GREEN_FOREVER), 0);
    CHECK_FAILS(green_queue_put(q, (void *)2, GREEN_FOREVER), EDEADLK); /* gevent: qsize 1 */
    assert_int_equal(green_queue_size(q), 1);
    void *item = NULL;
    assert_int_equal(green_queue_get(q, GREEN_FOREVER, &item), 0);
    assert_ptr_equal(item, (void *)1);
    assert_int_equal(green_sem_acquire(s, GREEN_FOREVER), 0);
    CHECK_FAILS(green_sem_acquire(s, GREEN_FOREVER), EDEADLK); /* gevent: counter 0 */
    assert_int_equal(green_sem_value(s), 0);
    assert_int_equal(green_sem_release(s), 0);
    green_t *holder = SPAWN(hold_lock, l);
    assert_int_equal(green_sleep(0), 0);
    CHECK_FAILS(green_lock_acquire(l, GREEN_FOREVER), EDEADLK);
    assert_int_equal(green_kill(holder, GREEN_FOREVER), 0);
    assert_int_equal(green_lock_acquire(l, 0), 0); /* the killed holder released it */
    assert_int_equal(green_lock_release(l), 0);
    /* main blocking again on each, with something to wake it this time */
    assert_int_equal(green_event_set(e), 0);
    assert_int_equal(green_event_wait(e, GREEN_FOREVER), 0);
    assert_int_equal(green_result_set(r, (void *)3), 0);
    assert_int_equal(green_result_get(r, GREEN_FOREVER, &item), 0);
    assert_ptr_equal(item, (void *)3);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_destroy(e), 0);
    assert_int_equal(green_result_destroy(r), 0);
    assert_int_equal(green_sem_destroy(s), 0);
    assert_int_equal(green_lock_destroy(l), 0);
    assert_int_equal(green_queue_destroy(q), 0);
    assert_int_equal(green_release(holder), 0);
    assert_no_failures();
}

/* A timer keeps the loop alive: no LoopExit while one is pending. */
static void *set_later(void *arg)
{
    CHECK_EQ(green_sleep(0.01), 0);
    CHECK_EQ(green_event_set(arg), 0);
    return NULL;
}

static void test_timer_keeps_loop_alive(void **state)
{
    (void)state;
    green_event_t *e = green_event_new();
    green_t *g = SPAWN(set_later, e);
    assert_int_equal(green_event_wait(e, GREEN_FOREVER), 0);
    green_t *later = green_spawn_later(0.01, set_later, e, NULL);
    assert_int_equal(green_join(later, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_release(g), 0);
    assert_int_equal(green_release(later), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_destroy(e), 0);
    assert_no_failures();
}

/* Greenlets other than main never see LoopExit: they stay blocked until killed. */
static void *spawned_blocks(void *arg)
{
    CHECK_FAILS(green_event_wait(arg, GREEN_FOREVER), ECANCELED);
    say("killed, not EDEADLK");
    return NULL;
}

static void test_only_main_gets_it(void **state)
{
    (void)state;
    green_event_t *e = green_event_new();
    green_t *g = SPAWN(spawned_blocks, e);
    CHECK_FAILS(green_join(g, GREEN_FOREVER, NULL), EDEADLK);
    CHECK_FAILS(green_join(g, GREEN_FOREVER, NULL), EDEADLK);
    assert_order();
    assert_int_equal(green_kill(g, GREEN_FOREVER), 0);
    assert_order("killed, not EDEADLK");
    assert_int_equal(green_release(g), 0);
    assert_int_equal(green_event_destroy(e), 0);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_loopexit_order),
        HUB_TEST(test_each_primitive),
        HUB_TEST(test_timer_keeps_loop_alive),
        HUB_TEST(test_only_main_gets_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
