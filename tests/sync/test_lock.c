/* SPDX-License-Identifier: MIT */
/* Lock (sync.h): owner rules (EPERM for a non-owner, EDEADLK on relock), FIFO hand-over
 * with a killed waiter leaving the line (gevent's BoundedSemaphore(1) prints the same
 * order), try_acquire, destroy while held or waited on, bad input. */
#include <math.h>

#include "hubtest.h"

static green_lock_t *lk;

static void *w(void *arg)
{
    const char *n = arg;
    if (green_lock_acquire(lk, GREEN_FOREVER) != 0) {
        CHECK_EQ(errno, ECANCELED);
        say("%s killed", n);
        return NULL;
    }
    say("%s acquired", n);
    CHECK_EQ(green_sleep(0), 0);
    CHECK_EQ(green_lock_release(lk), 0);
    say("%s released", n);
    return NULL;
}

static void test_fifo_with_kill(void **state)
{
    (void)state;
    lk = green_lock_new();
    assert_int_equal(green_lock_acquire(lk, GREEN_FOREVER), 0);
    green_t *g[3] = {SPAWN(w, "A"), SPAWN(w, "B"), SPAWN(w, "C")};
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_kill(g[1], GREEN_FOREVER), 0);
    CHECK_FAILS(green_lock_destroy(lk), EBUSY);
    assert_int_equal(green_lock_release(lk), 0);
    say("main released");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(green_join(g[i], GREEN_FOREVER, NULL), 0);
        assert_int_equal(green_release(g[i]), 0);
    }
    assert_order("B killed", "main released", "A acquired", "A released", "C acquired",
                 "C released");
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_lock_destroy(lk), 0);
    assert_no_failures();
}

static void *not_owner(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_lock_release(lk), EPERM);
    CHECK_FAILS(green_lock_try_acquire(lk), EAGAIN);
    CHECK_FAILS(green_lock_acquire(lk, 0), ETIMEDOUT);
    say("refused");
    return NULL;
}

static void test_owner_rules(void **state)
{
    (void)state;
    lk = green_lock_new();
    CHECK_FAILS(green_lock_release(lk), EPERM); /* unlocked: nobody owns it */
    assert_int_equal(green_lock_try_acquire(lk), 0);
    CHECK_FAILS(green_lock_acquire(lk, GREEN_FOREVER), EDEADLK);
    CHECK_FAILS(green_lock_acquire(lk, 0), EDEADLK);
    CHECK_FAILS(green_lock_destroy(lk), EBUSY); /* held */
    green_t *g = SPAWN(not_owner, NULL);
    assert_int_equal(green_join(g, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_release(g), 0);
    assert_int_equal(green_lock_release(lk), 0);
    CHECK_FAILS(green_lock_release(lk), EPERM); /* twice */
    assert_order("refused");
    assert_int_equal(green_lock_destroy(lk), 0);
    CHECK_FAILS(green_lock_acquire(NULL, 0), EINVAL);
    CHECK_FAILS(green_lock_try_acquire(NULL), EINVAL);
    CHECK_FAILS(green_lock_release(NULL), EINVAL);
    CHECK_FAILS(green_lock_destroy(NULL), EINVAL);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_fifo_with_kill),
        HUB_TEST(test_owner_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
