/* SPDX-License-Identifier: MIT */
/* Semaphore and BoundedSemaphore (sync.h): gevent's barging and notifier rules
 * (gevent-semantics.md L1), FIFO wake-ups, EOVERFLOW, timeouts and kills of waiters,
 * destroy while waited on, bad input. */
#include <math.h>

#include "hubtest.h"

static green_sem_t *s;

static void *worker(void *arg)
{
    const char *n = arg;
    CHECK_EQ(green_sem_acquire(s, GREEN_FOREVER), 0);
    say("%s acquired", n);
    CHECK_EQ(green_sleep(0), 0);
    CHECK_EQ(green_sem_release(s), 0);
    say("%s released", n);
    return NULL;
}

/* gevent L1, first snippet. */
static void test_l1_barging_fifo(void **state)
{
    (void)state;
    s = green_sem_new(1, true);
    assert_int_equal(green_sem_acquire(s, GREEN_FOREVER), 0);
    green_t *w[3] = {SPAWN(worker, "A"), SPAWN(worker, "B"), SPAWN(worker, "C")};
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_sem_release(s), 0);
    assert_int_equal(green_sem_try_acquire(s), 0);
    say("main release(); try_acquire -> 0 (barging)");
    assert_int_equal(green_sleep(0), 0);
    say("main release() again");
    assert_int_equal(green_sem_release(s), 0);
    JOIN_ALL(w, 3);
    CHECK_FAILS(green_sem_release(s), EOVERFLOW);
    assert_int_equal(green_sem_value(s), 1); /* unchanged */
    say("over-release -> EOVERFLOW");
    assert_order("main release(); try_acquire -> 0 (barging)", "main release() again", "A acquired",
                 "A released", "B acquired", "B released", "C acquired", "C released",
                 "over-release -> EOVERFLOW");
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_sem_destroy(s), 0);
    assert_no_failures();
}

static void *w_counter(void *arg)
{
    if (green_sem_acquire(s, GREEN_FOREVER) != 0) {
        CHECK_EQ(errno, ECANCELED); /* C, killed at the end */
        return NULL;
    }
    say("%s acquired, counter %u", (const char *)arg, green_sem_value(s));
    CHECK_EQ(green_sleep(0), 0);
    return NULL;
}

static void *t_zero(void *arg)
{
    (void)arg;
    int rc = green_sem_acquire(s, 0);
    say("T acquire(timeout=0) -> %s", rc == 0 ? "True" : errno == ETIMEDOUT ? "False" : "?");
    return NULL;
}

/* gevent L1, second snippet: one notifier wakes only while units remain. */
static void test_l1_wakes_while_units(void **state)
{
    (void)state;
    s = green_sem_new(2, true);
    assert_int_equal(green_sem_acquire(s, 0), 0);
    assert_int_equal(green_sem_acquire(s, 0), 0);
    green_t *w[3] = {SPAWN(w_counter, "A"), SPAWN(w_counter, "B"), SPAWN(w_counter, "C")};
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_sem_release(s), 0);
    assert_int_equal(green_sem_release(s), 0);
    say("main release(); release(): one notifier wakes A and B, not C");
    assert_int_equal(green_sleep(0), 0);
    green_t *t = SPAWN(t_zero, NULL);
    green_release(SPAWN(say_arg, "X runs"));
    assert_int_equal(green_join(t, GREEN_FOREVER, NULL), 0);
    assert_order("main release(); release(): one notifier wakes A and B, not C",
                 "A acquired, counter 1", "B acquired, counter 0", "X runs",
                 "T acquire(timeout=0) -> False");
    assert_false(green_ready(w[2])); /* C still waits */
    CHECK_FAILS(green_sem_destroy(s), EBUSY);
    assert_int_equal(green_kill(w[2], GREEN_FOREVER), 0);
    JOIN_ALL(w, 3);
    assert_int_equal(green_release(t), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_sem_destroy(s), 0);
    assert_no_failures();
}

static void *acquire_or_say(void *arg)
{
    const char *n = arg;
    double timeout = *n == 'T' ? 0.01 : GREEN_FOREVER;
    int rc = green_sem_acquire(s, timeout);
    say("%s %s", n, rc == 0 ? "acquired" : strerror(errno));
    return NULL;
}

/* A waiter that times out or is killed leaves the line; the others keep their places. */
static void test_timeout_and_kill_keep_fifo(void **state)
{
    (void)state;
    s = green_sem_new(0, false);
    green_t *w[4] = {SPAWN(acquire_or_say, "A"), SPAWN(acquire_or_say, "K"),
                     SPAWN(acquire_or_say, "T"), SPAWN(acquire_or_say, "D")};
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_kill(w[1], GREEN_FOREVER), 0);
    assert_int_equal(green_join(w[2], GREEN_FOREVER, NULL), 0);
    for (int i = 0; i < 3; i++) /* an unbounded semaphore takes any number */
        assert_int_equal(green_sem_release(s), 0);
    JOIN_ALL(w, 4);
    assert_int_equal(green_sem_value(s), 1);
    assert_order("K Operation canceled", "T Connection timed out", "A acquired", "D acquired");
    assert_int_equal(green_sem_try_acquire(s), 0);
    CHECK_FAILS(green_sem_try_acquire(s), EAGAIN);
    CHECK_FAILS(green_sem_acquire(s, 0), ETIMEDOUT);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_sem_destroy(s), 0);
    assert_no_failures();
}

static void test_bad_input(void **state)
{
    (void)state;
    green_sem_t *z = green_sem_new(0, true);
    CHECK_FAILS(green_sem_acquire(z, NAN), EINVAL);
    CHECK_FAILS(green_sem_release(z), EOVERFLOW); /* bounded at 0 */
    CHECK_FAILS(green_sem_acquire(NULL, 0), EINVAL);
    CHECK_FAILS(green_sem_try_acquire(NULL), EINVAL);
    CHECK_FAILS(green_sem_release(NULL), EINVAL);
    CHECK_FAILS(green_sem_destroy(NULL), EINVAL);
    assert_int_equal(green_sem_value(NULL), 0);
    assert_int_equal(green_sem_destroy(z), 0);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_l1_barging_fifo),
        HUB_TEST(test_l1_wakes_while_units),
        HUB_TEST(test_timeout_and_kill_keep_fifo),
        HUB_TEST(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
