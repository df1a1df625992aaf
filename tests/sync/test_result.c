/* SPDX-License-Identifier: MIT */
/* AsyncResult (sync.h): gevent's order (gevent-semantics.md A1), values and errors,
 * overwriting, try_get, timeouts, kill of a getter, destroy while waited on, bad input. */
#include <math.h>

#include "hubtest.h"

static green_result_t *a;
static green_event_t *e;

static void *get_a(void *arg)
{
    void *v = NULL;
    CHECK_EQ(green_result_get(a, GREEN_FOREVER, &v), 0);
    say("%s get -> %d", (const char *)arg, (int)(intptr_t)v);
    return NULL;
}

static void *wait_e(void *arg)
{
    (void)arg;
    say("W Event.wait -> %s", green_event_wait(e, GREEN_FOREVER) == 0 ? "True" : "?");
    return NULL;
}

static void test_a1_order(void **state)
{
    (void)state;
    a = green_result_new();
    e = green_event_new();
    green_t *g[4] = {SPAWN(get_a, "A"), SPAWN(get_a, "B"), SPAWN(wait_e, NULL)};
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_result_set(a, (void *)1), 0);
    assert_int_equal(green_result_set(a, (void *)2), 0);
    assert_int_equal(green_event_set(e), 0);
    say("main set(1); set(2); e.set(): no switch");
    g[3] = SPAWN(say_arg, "X runs");
    void *v = NULL;
    assert_int_equal(green_result_get(a, GREEN_FOREVER, &v), 0);
    say("main a.get() -> %d (no switch although a notifier is pending)", (int)(intptr_t)v);
    assert_int_equal(green_event_wait(e, GREEN_FOREVER), 0);
    say("main e.wait() -> True (queued behind the Event's notifier, before X)");
    green_result_t *unset = green_result_new();
    CHECK_FAILS(green_result_try_get(unset, NULL), EAGAIN);
    say("get(block=False) on unset -> EAGAIN");
    assert_int_equal(green_sleep(0), 0);
    assert_order("main set(1); set(2); e.set(): no switch",
                 "main a.get() -> 2 (no switch although a notifier is pending)", "A get -> 2",
                 "B get -> 2", "W Event.wait -> True",
                 "main e.wait() -> True (queued behind the Event's notifier, before X)",
                 "get(block=False) on unset -> EAGAIN", "X runs");
    for (int i = 0; i < 4; i++) {
        assert_int_equal(green_join(g[i], GREEN_FOREVER, NULL), 0);
        assert_int_equal(green_release(g[i]), 0);
    }
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_result_destroy(unset), 0);
    assert_int_equal(green_result_destroy(a), 0);
    assert_int_equal(green_event_destroy(e), 0);
    assert_no_failures();
}

static int payload;

static void *get_error(void *arg)
{
    (void)arg;
    void *v = NULL;
    CHECK_EQ(green_result_get(a, GREEN_FOREVER, &v), 42);
    CHECK(v == &payload);
    say("error 42");
    return NULL;
}

static void *get_timed(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_result_get(a, 0.01, NULL), ETIMEDOUT);
    say("timed out");
    return NULL;
}

static void *get_killed(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_result_get(a, GREEN_FOREVER, NULL), ECANCELED);
    say("killed");
    return NULL;
}

static void test_errors_timeouts_kills(void **state)
{
    (void)state;
    a = green_result_new();
    green_t *t = SPAWN(get_timed, NULL), *k = SPAWN(get_killed, NULL), *g = SPAWN(get_error, NULL);
    assert_int_equal(green_sleep(0), 0);
    CHECK_FAILS(green_result_destroy(a), EBUSY);
    assert_int_equal(green_kill(k, GREEN_FOREVER), 0);
    assert_int_equal(green_join(t, GREEN_FOREVER, NULL), 0);
    assert_false(green_result_ready(a));
    CHECK_FAILS(green_result_set_error(a, 0, NULL), EINVAL);
    CHECK_FAILS(green_result_set_error(a, -1, NULL), EINVAL);
    assert_false(green_result_ready(a));
    assert_int_equal(green_result_set_error(a, 42, &payload), 0);
    assert_true(green_result_ready(a));
    CHECK_FAILS(green_result_destroy(a), EBUSY); /* g still to be woken */
    assert_int_equal(green_join(g, GREEN_FOREVER, NULL), 0);
    void *v = NULL;
    assert_int_equal(green_result_try_get(a, &v), 42);
    assert_ptr_equal(v, &payload);
    assert_int_equal(green_result_get(a, 0, &v), 42);
    /* overwritten by a value */
    assert_int_equal(green_result_set(a, (void *)7), 0);
    assert_int_equal(green_result_try_get(a, &v), 0);
    assert_ptr_equal(v, (void *)7);
    assert_order("killed", "timed out", "error 42");
    assert_int_equal(green_release(t), 0);
    assert_int_equal(green_release(k), 0);
    assert_int_equal(green_release(g), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_result_destroy(a), 0);
    assert_no_failures();
}

static void test_bad_input(void **state)
{
    (void)state;
    green_result_t *r = green_result_new();
    CHECK_FAILS(green_result_get(r, NAN, NULL), EINVAL);
    CHECK_FAILS(green_result_get(NULL, 0, NULL), EINVAL);
    CHECK_FAILS(green_result_try_get(NULL, NULL), EINVAL);
    CHECK_FAILS(green_result_set(NULL, NULL), EINVAL);
    CHECK_FAILS(green_result_set_error(NULL, 1, NULL), EINVAL);
    CHECK_FAILS(green_result_destroy(NULL), EINVAL);
    assert_false(green_result_ready(NULL));
    assert_int_equal(green_result_destroy(r), 0);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_a1_order),
        HUB_TEST(test_errors_timeouts_kills),
        HUB_TEST(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
