/* SPDX-License-Identifier: MIT */
/* Scoped timeouts (green_timeout_start/end) and every blocking call's own timeout, with
 * gevent's zero-second rules (gevent-semantics.md T1-T3): a timeout of 0 is a timer that
 * fires when the callback queue drains, in start order; what is ready first wins. */
#include <math.h>
#include <time.h>

#include "hubtest.h"

static green_event_t *ev;
static green_queue_t *q;

static int objects_up(void **state)
{
    ev = green_event_new();
    q = green_queue_new(0);
    return ev && q ? hub_setup(state) : -1;
}

/* Each test destroys the objects itself, before the hub goes (destroy_objects). */
#define OBJ_TEST(t) cmocka_unit_test_setup_teardown(t, objects_up, hub_teardown)

static void destroy_objects(void)
{
    assert_int_equal(green_event_destroy(ev), 0);
    assert_int_equal(green_queue_destroy(q), 0);
}

static void *forever(void *arg)
{
    (void)arg;
    green_event_t *never = green_event_new();
    green_event_wait(never, GREEN_FOREVER);
    green_event_destroy(never);
    return NULL;
}

/* A scoped timeout fires into whatever blocking call is in progress. */
static void test_scoped_fires_into_each_call(void **state)
{
    (void)state;
    green_t *blocked = SPAWN(forever, NULL);
    for (int which = 0; which < 4; which++) {
        double t0 = monotonic_seconds();
        green_timeout_t *t = green_timeout_start(0.01);
        assert_non_null(t);
        switch (which) {
        case 0: CHECK_FAILS(green_sleep(10), ETIMEDOUT); break;
        case 1: CHECK_FAILS(green_event_wait(ev, GREEN_FOREVER), ETIMEDOUT); break;
        case 2: CHECK_FAILS(green_queue_get(q, GREEN_FOREVER, NULL), ETIMEDOUT); break;
        case 3: CHECK_FAILS(green_join(blocked, GREEN_FOREVER, NULL), ETIMEDOUT); break;
        }
        assert_true(monotonic_seconds() - t0 >= 0.01);
        assert_true(green_timeout_fired(t));
        assert_int_equal(green_timeout_end(t), 1);
    }
    /* the waits left nothing behind: the objects are idle, the greenlet still blocked */
    assert_false(green_ready(blocked));
    destroy_objects();
    assert_int_equal(green_kill(blocked, GREEN_FOREVER), 0);
    assert_int_equal(green_release(blocked), 0);
    assert_no_failures();
}

static void test_nesting(void **state)
{
    (void)state;
    /* inner fires first */
    green_timeout_t *outer = green_timeout_start(10), *inner = green_timeout_start(0.01);
    CHECK_FAILS(green_sleep(10), ETIMEDOUT);
    assert_true(green_timeout_fired(inner));
    assert_false(green_timeout_fired(outer));
    assert_int_equal(green_timeout_end(inner), 1);
    assert_int_equal(green_timeout_end(outer), 0);
    /* outer fires first */
    outer = green_timeout_start(0.01);
    inner = green_timeout_start(10);
    CHECK_FAILS(green_event_wait(ev, GREEN_FOREVER), ETIMEDOUT);
    assert_false(green_timeout_fired(inner));
    assert_true(green_timeout_fired(outer));
    assert_int_equal(green_timeout_end(inner), 0);
    assert_int_equal(green_timeout_end(outer), 1);
    /* a call's own timeout inside a scoped one */
    outer = green_timeout_start(10);
    CHECK_FAILS(green_event_wait(ev, 0.01), ETIMEDOUT);
    assert_false(green_timeout_fired(outer));
    assert_int_equal(green_timeout_end(outer), 0);
    /* gevent T3: Timeout(0) around wait(timeout=0): the outer was started first, fires
     * first; the inner is closed and never fires */
    outer = green_timeout_start(0);
    CHECK_FAILS(green_event_wait(ev, 0), ETIMEDOUT);
    assert_true(green_timeout_fired(outer));
    assert_int_equal(green_timeout_end(outer), 1);
    /* sleep(0) inside Timeout(0) never times out: its wake-up is a callback */
    outer = green_timeout_start(0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_timeout_end(outer), 0);
    assert_int_equal(green_sleep(0), 0); /* no stray timeout later */
    assert_int_equal(green_sleep(0.001), 0);
    destroy_objects();
    assert_no_failures();
}

static void test_end_before_fire(void **state)
{
    (void)state;
    green_timeout_t *t = green_timeout_start(0.005);
    assert_non_null(t);
    assert_int_equal(green_sleep(0), 0);
    assert_false(green_timeout_fired(t));
    assert_int_equal(green_timeout_end(t), 0);
    assert_int_equal(green_sleep(0.02), 0); /* it cannot fire any more */
    CHECK_FAILS(green_timeout_end(NULL), EINVAL);
    CHECK_NULL(green_timeout_start(-1), EINVAL);
    CHECK_NULL(green_timeout_start(NAN), EINVAL);
    destroy_objects();
    assert_no_failures();
}

/* ---- gevent T2, first snippet --------------------------------------------------------- */

static void *t2_p(void *arg)
{
    const char *n = arg;
    int rc = green_event_wait(ev, 0);
    say("%s wait(timeout=0) -> %s", n, rc == 0 ? "True" : errno == ETIMEDOUT ? "False" : "?");
    char *child = *n == 'A' ? "A's child runs" : "B's child runs";
    CHECK_EQ(green_release(SPAWN(say_arg, child)), 0);
    CHECK_FAILS(green_queue_get(q, GREEN_FOREVER, NULL), ECANCELED); /* killed at the end */
    return NULL;
}

static void *t2_spinner(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        say("S spin %d", i);
        CHECK_EQ(green_sleep(0), 0);
    }
    return NULL;
}

static void *t2_c(void *arg)
{
    (void)arg;
    int rc = green_event_wait(ev, 0);
    say("C wait(timeout=0) -> %s (set before idle)", rc == 0 ? "True" : "False");
    return NULL;
}

static void test_zero_timeout_batch(void **state)
{
    (void)state;
    green_t *a = SPAWN(t2_p, "A"), *b = SPAWN(t2_p, "B"), *s = SPAWN(t2_spinner, NULL);
    green_event_t *never = green_event_new();
    CHECK_FAILS(green_event_wait(never, GREEN_FOREVER), EDEADLK);
    say("main: LoopExit");
    green_t *c = SPAWN(t2_c, NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_set(ev), 0);
    assert_int_equal(green_join(c, GREEN_FOREVER, NULL), 0);
    assert_order("S spin 0", "S spin 1", "S spin 2", "A wait(timeout=0) -> False",
                 "B wait(timeout=0) -> False", "A's child runs", "B's child runs", "main: LoopExit",
                 "C wait(timeout=0) -> True (set before idle)");
    assert_int_equal(green_kill(a, GREEN_FOREVER), 0);
    assert_int_equal(green_kill(b, GREEN_FOREVER), 0);
    green_t *all[] = {a, b, s, c};
    for (int i = 0; i < 4; i++)
        assert_int_equal(green_release(all[i]), 0);
    assert_int_equal(green_event_destroy(never), 0);
    assert_int_equal(green_sleep(0), 0);
    destroy_objects();
    assert_no_failures();
}

/* ---- gevent T2, second snippet -------------------------------------------------------- */

static void *t2_a(void *arg)
{
    (void)arg;
    if (green_queue_get(q, 0, NULL) == -1 && errno == ETIMEDOUT)
        say("A get(timeout=0) -> Empty; A puts 5 for blocked getter B");
    CHECK_EQ(green_queue_put(q, (void *)(intptr_t)5, GREEN_FOREVER), 0);
    CHECK_EQ(green_release(SPAWN(say_arg, "A's child runs")), 0);
    int rc = green_event_wait(ev, 0);
    say("A 2nd wait(timeout=0) -> %s", rc == 0 ? "True" : "False");
    return NULL;
}

static void *t2_b(void *arg)
{
    (void)arg;
    void *item = NULL;
    if (green_queue_get(q, 0, &item) == 0)
        say("B get(timeout=0) -> %d", (int)(intptr_t)item);
    else if (errno == ETIMEDOUT)
        say("B get(timeout=0) -> Empty with qsize=%zu", green_queue_size(q));
    return NULL;
}

static void test_zero_timeout_loses_to_timer(void **state)
{
    (void)state;
    green_t *a = SPAWN(t2_a, NULL), *b = SPAWN(t2_b, NULL);
    assert_int_equal(green_join(a, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_join(b, GREEN_FOREVER, NULL), 0);
    assert_order("A get(timeout=0) -> Empty; A puts 5 for blocked getter B",
                 "B get(timeout=0) -> Empty with qsize=1", "A's child runs",
                 "A 2nd wait(timeout=0) -> False");
    assert_int_equal(green_queue_try_get(q, NULL), 0);
    assert_int_equal(green_release(a), 0);
    assert_int_equal(green_release(b), 0);
    destroy_objects();
    assert_no_failures();
}

/* ---- every blocking call's own timeout ------------------------------------------------ */

static void test_per_call_timeouts(void **state)
{
    (void)state;
    green_result_t *r = green_result_new();
    green_sem_t *s = green_sem_new(0, false);
    green_lock_t *l = green_lock_new();
    green_queue_t *full = green_queue_new(1);
    assert_int_equal(green_queue_put(full, NULL, 0), 0);
    green_t *blocked = SPAWN(forever, NULL);
    assert_int_equal(green_lock_acquire(l, 0), 0); /* main holds it; a greenlet tries */
    const double delays[] = {0, 0.01};
    for (int d = 0; d < 2; d++) {
        double t0 = monotonic_seconds();
        CHECK_FAILS(green_event_wait(ev, delays[d]), ETIMEDOUT);
        CHECK_FAILS(green_result_get(r, delays[d], NULL), ETIMEDOUT);
        CHECK_FAILS(green_sem_acquire(s, delays[d]), ETIMEDOUT);
        CHECK_FAILS(green_queue_get(q, delays[d], NULL), ETIMEDOUT);
        CHECK_FAILS(green_queue_put(full, NULL, delays[d]), ETIMEDOUT);
        CHECK_FAILS(green_join(blocked, delays[d], NULL), ETIMEDOUT);
        assert_true(monotonic_seconds() - t0 >= 5 * delays[d]);
    }
    assert_int_equal(green_lock_release(l), 0);
    assert_int_equal(green_queue_size(full), 1);
    assert_int_equal(green_sem_value(s), 0);
    assert_false(green_result_ready(r));
    assert_int_equal(green_kill(blocked, GREEN_FOREVER), 0);
    assert_int_equal(green_release(blocked), 0);
    assert_int_equal(green_result_destroy(r), 0);
    assert_int_equal(green_sem_destroy(s), 0);
    assert_int_equal(green_lock_destroy(l), 0);
    assert_int_equal(green_queue_destroy(full), 0);
    destroy_objects();
    assert_no_failures();
}

static green_lock_t *lk;

static void *try_lock(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_lock_acquire(lk, 0.01), ETIMEDOUT);
    CHECK_FAILS(green_lock_acquire(lk, 0), ETIMEDOUT);
    say("timed out");
    return NULL;
}

static void test_lock_timeout(void **state)
{
    (void)state;
    lk = green_lock_new();
    assert_int_equal(green_lock_acquire(lk, GREEN_FOREVER), 0);
    green_t *g = SPAWN(try_lock, NULL);
    assert_int_equal(green_join(g, GREEN_FOREVER, NULL), 0);
    assert_order("timed out");
    assert_int_equal(green_lock_release(lk), 0);
    assert_int_equal(green_lock_destroy(lk), 0);
    assert_int_equal(green_release(g), 0);
    destroy_objects();
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        OBJ_TEST(test_scoped_fires_into_each_call),
        OBJ_TEST(test_nesting),
        OBJ_TEST(test_end_before_fire),
        OBJ_TEST(test_zero_timeout_batch),
        OBJ_TEST(test_zero_timeout_loses_to_timer),
        OBJ_TEST(test_per_call_timeouts),
        OBJ_TEST(test_lock_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
