/* SPDX-License-Identifier: MIT */
/* RLock (gevent.lock.RLock): re-entry, barging and the waiters' order, timeouts, kills,
 * misuse.  Expected traces are what gevent 22.10 printed for the same programs. */
#include <math.h>

#include "hubtest.h"

static green_rlock_t *L;

static void *waiter(void *arg)
{
    const char *n = arg;
    say("%s acquire", n);
    CHECK_EQ(green_rlock_acquire(L, GREEN_FOREVER), 0);
    say("%s acquired", n);
    CHECK_EQ(green_rlock_acquire(L, GREEN_FOREVER), 0);
    CHECK_EQ(green_rlock_count(L), 2);
    CHECK_EQ(green_sleep(0), 0);
    CHECK_EQ(green_rlock_release(L), 0);
    say("%s release 1", n);
    CHECK_EQ(green_rlock_release(L), 0);
    say("%s released", n);
    return NULL;
}

/* gevent:
 *   l = RLock(); l.acquire(); l.acquire()
 *   ws = [spawn(w, n) for n in "AB"]; sleep(0)
 *   l.release(); ...; sleep(0); spawn(say, "X ..."); l.release()
 *   l.acquire(blocking=False) (barging); sleep(0); l.release(); joinall(ws) */
static void test_order(void **state)
{
    (void)state;
    L = green_rlock_new();
    assert_non_null(L);
    assert_int_equal(green_rlock_acquire(L, GREEN_FOREVER), 0);
    assert_int_equal(green_rlock_acquire(L, 0), 0); /* re-entry never waits */
    assert_int_equal(green_rlock_count(L), 2);
    green_t *a = SPAWN(waiter, "A"), *b = SPAWN(waiter, "B");
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_rlock_release(L), 0);
    say("main released once: still held");
    assert_true(green_rlock_owned(L));
    assert_int_equal(green_sleep(0), 0);
    green_t *x = SPAWN(say_arg, "X queued before the last release");
    assert_int_equal(green_rlock_release(L), 0);
    say("main released");
    assert_false(green_rlock_owned(L));
    say("main acquire(blocking=False) -> %s (barging)",
        green_rlock_try_acquire(L) == 0 ? "True" : "False");
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_rlock_release(L), 0);
    say("main released again");
    JOIN(a);
    JOIN(b);
    JOIN(x);
    assert_order("A acquire", "B acquire", "main released once: still held", "main released",
                 "main acquire(blocking=False) -> True (barging)",
                 "X queued before the last release", "main released again", "A acquired",
                 "A release 1", "A released", "B acquired", "B release 1", "B released");
    assert_int_equal(green_rlock_count(L), 0);
    assert_int_equal(green_rlock_destroy(L), 0);
}

static void *try_other(void *arg)
{
    (void)arg;
    CHECK_EQ(green_rlock_try_acquire(L), -1);
    CHECK_EQ(errno, EAGAIN);
    CHECK_EQ(green_rlock_release(L), -1); /* not the owner */
    CHECK_EQ(errno, EPERM);
    CHECK(!green_rlock_owned(L));
    CHECK_EQ(green_rlock_count(L), 1); /* nothing changed */
    CHECK_EQ(green_rlock_acquire(L, 0), -1);
    CHECK_EQ(errno, ETIMEDOUT);
    CHECK_EQ(green_rlock_acquire(L, 0.001), -1);
    CHECK_EQ(errno, ETIMEDOUT);
    return NULL;
}

static void *blocked(void *arg)
{
    (void)arg;
    int rc = green_rlock_acquire(L, GREEN_FOREVER);
    CHECK_EQ(rc, -1);
    CHECK_EQ(errno, ECANCELED);
    CHECK(!green_rlock_owned(L));
    say("K cancelled");
    return NULL;
}

static void test_timeouts_kill_misuse(void **state)
{
    (void)state;
    L = green_rlock_new();
    assert_non_null(L);
    assert_int_equal(green_rlock_release(L), -1); /* unlocked: nobody owns it */
    assert_int_equal(errno, EPERM);
    assert_int_equal(green_rlock_acquire(L, GREEN_FOREVER), 0);
    JOIN(SPAWN(try_other, NULL));
    green_t *k = SPAWN(blocked, NULL);
    assert_int_equal(green_sleep(0), 0); /* K waits */
    assert_int_equal(green_rlock_destroy(L), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(green_kill(k, GREEN_FOREVER), 0);
    green_release(k);
    assert_int_equal(green_rlock_count(L), 1);
    assert_int_equal(green_rlock_destroy(L), -1); /* held */
    assert_int_equal(errno, EBUSY);
    assert_int_equal(green_rlock_release(L), 0);
    assert_int_equal(green_rlock_acquire(L, 0), 0); /* free again: no waiter left behind */
    assert_int_equal(green_rlock_release(L), 0);
    assert_int_equal(green_rlock_acquire(L, NAN), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_rlock_destroy(L), 0);
    assert_order("K cancelled");

    assert_int_equal(green_rlock_acquire(NULL, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_rlock_try_acquire(NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_rlock_release(NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_rlock_destroy(NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_false(green_rlock_owned(NULL));
    assert_int_equal(green_rlock_count(NULL), 0);
}

/* The main greenlet blocking on a lock whose owner waits for main: LoopExit (EDEADLK). */
static green_event_t *E;

static void *hold(void *arg)
{
    (void)arg;
    CHECK_EQ(green_rlock_acquire(L, GREEN_FOREVER), 0);
    CHECK_EQ(green_event_wait(E, GREEN_FOREVER), 0);
    CHECK_EQ(green_rlock_release(L), 0);
    return NULL;
}

static void test_deadlock(void **state)
{
    (void)state;
    L = green_rlock_new();
    E = green_event_new();
    assert_non_null(L);
    assert_non_null(E);
    green_t *h = SPAWN(hold, NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_rlock_acquire(L, GREEN_FOREVER), -1);
    assert_int_equal(errno, EDEADLK);
    assert_false(green_rlock_owned(L));
    assert_int_equal(green_event_set(E), 0);
    JOIN(h);
    assert_int_equal(green_rlock_destroy(L), 0);
    assert_int_equal(green_event_destroy(E), 0);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_order),
        HUB_TEST(test_timeouts_kill_misuse),
        HUB_TEST(test_deadlock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
