/* SPDX-License-Identifier: MIT */
/* Condition (threading.Condition under gevent's monkey patching): notify order, retaking
 * the lock, RLock counts, timeouts, kills, misuse.  The expected traces are what gevent
 * 22.10 printed for threading.Condition(gevent.lock.RLock()); over a Lock ours gives the
 * same (see sync.h), so each order test runs over both. */
#include <math.h>

#include "hubtest.h"

static green_lock_t *LK;
static green_rlock_t *RL;
static green_cond_t *C;

static void lock(void)
{
    CHECK_EQ(LK ? green_lock_acquire(LK, GREEN_FOREVER) : green_rlock_acquire(RL, GREEN_FOREVER),
             0);
}

static void unlock(void) { CHECK_EQ(LK ? green_lock_release(LK) : green_rlock_release(RL), 0); }

/* Whether the caller holds the lock (for a Lock: that it is held; the tests only ask where
 * the caller should be the holder). */
static bool owned(void)
{
    if (!LK)
        return green_rlock_owned(RL);
    if (green_lock_try_acquire(LK) == 0) {
        green_lock_release(LK);
        return false;
    }
    return errno == EAGAIN;
}

static void make(bool rlock)
{
    LK = NULL;
    RL = NULL;
    if (rlock) {
        RL = green_rlock_new();
        C = green_cond_new_rlock(RL);
    } else {
        LK = green_lock_new();
        C = green_cond_new(LK);
    }
    assert_non_null(C);
}

static void unmake(void)
{
    assert_int_equal(green_cond_destroy(C), 0);
    assert_int_equal(LK ? green_lock_destroy(LK) : green_rlock_destroy(RL), 0);
}

static void *waiter(void *arg)
{
    const char *n = arg;
    lock();
    say("%s waits", n);
    int rc = green_cond_wait(C, GREEN_FOREVER);
    say("%s woke %s", n, rc == 0 ? "True" : "False");
    CHECK_EQ(green_sleep(0), 0);
    say("%s releases", n);
    unlock();
    return NULL;
}

/* gevent (c = threading.Condition(RLock())):
 *   def w(n):
 *       with c: say("waits"); c.wait(); say("woke"); sleep(0); say("releases")
 *   ws = [spawn(w, n) for n in "ABC"]; sleep(0); spawn(say, "X ...")
 *   with c: c.notify(2); spawn(say, "Y ..."); sleep(0)
 *   sleep(0); with c: c.notify_all() */
static void run_order(bool rlock)
{
    make(rlock);
    green_t *w[3] = {SPAWN(waiter, "A"), SPAWN(waiter, "B"), SPAWN(waiter, "C")};
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_cond_waiters(C), 3);
    green_t *x = SPAWN(say_arg, "X queued before notify");
    lock();
    assert_int_equal(green_cond_notify(C, 2), 0);
    say("main notify(2): no switch");
    assert_int_equal(green_cond_waiters(C), 1);
    green_t *y = SPAWN(say_arg, "Y queued after notify");
    assert_int_equal(green_sleep(0), 0);
    say("main back, still holding");
    unlock();
    say("main released");
    assert_int_equal(green_sleep(0), 0);
    say("main after sleep(0)");
    lock();
    assert_int_equal(green_cond_notify_all(C), 0);
    say("main notify_all");
    unlock();
    for (int i = 0; i < 3; i++)
        JOIN(w[i]);
    JOIN(x);
    JOIN(y);
    assert_order("A waits", "B waits", "C waits", "main notify(2): no switch",
                 "X queued before notify", "Y queued after notify", "main back, still holding",
                 "main released", "A woke True", "main after sleep(0)", "A releases", "B woke True",
                 "B releases", "main notify_all", "C woke True", "C releases");
    unmake();
}

static void test_order_lock(void **state)
{
    (void)state;
    run_order(false);
}

static void test_order_rlock(void **state)
{
    (void)state;
    run_order(true);
}

static void *deep_waiter(void *arg)
{
    const char *n = arg;
    lock();
    lock();
    say("%s waits at depth 2", n);
    int rc = green_cond_wait(C, GREEN_FOREVER);
    say("%s woke %s, owned %s count %u", n, rc == 0 ? "True" : "False",
        green_rlock_owned(RL) ? "True" : "False", green_rlock_count(RL));
    unlock();
    unlock();
    return NULL;
}

static void *timed_waiter(void *arg)
{
    (void)arg;
    lock();
    int rc = green_cond_wait(C, 0.01);
    say("T wait(timeout=0.01) -> %s, owned %s", rc == 0 ? "True" : "False",
        green_rlock_owned(RL) ? "True" : "False");
    unlock();
    return NULL;
}

/* gevent: two waiters at RLock depth 2 and one with a timeout; notify_all wakes all three
 * and each gets its count back. */
static void test_rlock_depth(void **state)
{
    (void)state;
    make(true);
    green_t *a = SPAWN(deep_waiter, "A"), *b = SPAWN(deep_waiter, "B");
    assert_int_equal(green_sleep(0), 0);
    green_t *t = SPAWN(timed_waiter, NULL);
    assert_int_equal(green_sleep(0), 0);
    lock();
    assert_int_equal(green_cond_notify_all(C), 0);
    say("main notify_all, waiters left %zu", green_cond_waiters(C));
    unlock();
    JOIN(a);
    JOIN(b);
    JOIN(t);
    assert_order("A waits at depth 2", "B waits at depth 2", "main notify_all, waiters left 0",
                 "A woke True, owned True count 2", "B woke True, owned True count 2",
                 "T wait(timeout=0.01) -> True, owned True");
    unmake();
}

static void *killed_waiter(void *arg)
{
    const char *n = arg;
    lock();
    say("%s waits", n);
    int rc = green_cond_wait(C, GREEN_FOREVER);
    CHECK_EQ(rc, -1);
    CHECK_EQ(errno, ECANCELED);
    say("%s finally: owned %s", n, owned() ? "True" : "False");
    unlock();
    return NULL;
}

/* gevent: a waiter killed while the lock is held elsewhere takes the lock back before its
 * `finally` runs. */
static void run_kill(bool rlock)
{
    make(rlock);
    green_t *a = SPAWN(killed_waiter, "A");
    assert_int_equal(green_sleep(0), 0);
    lock();
    assert_int_equal(green_kill_nowait(a), 0);
    say("main killed A while holding the lock");
    assert_int_equal(green_sleep(0), 0);
    say("main after sleep(0), A dead %s", green_ready(a) ? "True" : "False");
    unlock();
    say("main released");
    JOIN(a);
    say("A dead %s", green_ready(a) ? "True" : "False");
    assert_order("A waits", "main killed A while holding the lock",
                 "main after sleep(0), A dead False", "main released", "A finally: owned True",
                 "A dead True");
    unmake();
}

static void test_kill_lock(void **state)
{
    (void)state;
    run_kill(false);
}

static void test_kill_rlock(void **state)
{
    (void)state;
    run_kill(true);
}

static void *timing_out(void *arg)
{
    (void)arg;
    lock();
    CHECK_EQ(green_cond_wait(C, 0), -1); /* a zero-second timer: nobody notifies */
    CHECK_EQ(errno, ETIMEDOUT);
    CHECK(owned());
    CHECK_EQ(green_cond_wait(C, 0.001), -1);
    CHECK_EQ(errno, ETIMEDOUT);
    CHECK(owned());
    CHECK_EQ(green_cond_waiters(C), 0);
    unlock();
    return NULL;
}

static void *not_owner(void *arg)
{
    (void)arg;
    CHECK_EQ(green_cond_wait(C, GREEN_FOREVER), -1);
    CHECK_EQ(errno, EPERM);
    CHECK_EQ(green_cond_notify(C, 1), -1);
    CHECK_EQ(errno, EPERM);
    CHECK_EQ(green_cond_notify_all(C), -1);
    CHECK_EQ(errno, EPERM);
    return NULL;
}

static void run_timeouts_misuse(bool rlock)
{
    make(rlock);
    JOIN(SPAWN(timing_out, NULL));
    lock(); /* held by main: another greenlet is still no owner */
    JOIN(SPAWN(not_owner, NULL));
    unlock();
    JOIN(SPAWN(not_owner, NULL));
    assert_int_equal(green_cond_notify(C, 1), -1); /* main does not hold it either */
    assert_int_equal(errno, EPERM);
    lock();
    assert_int_equal(green_cond_wait(C, NAN), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_cond_notify(C, 5), 0); /* nobody waits: nothing happens */
    unlock();
    unmake();
}

static void test_timeouts_misuse_lock(void **state)
{
    (void)state;
    run_timeouts_misuse(false);
}

static void test_timeouts_misuse_rlock(void **state)
{
    (void)state;
    run_timeouts_misuse(true);
}

static void *long_waiter(void *arg)
{
    (void)arg;
    lock();
    CHECK_EQ(green_cond_wait(C, GREEN_FOREVER), 0);
    unlock();
    return NULL;
}

static void test_destroy_and_null(void **state)
{
    (void)state;
    make(true);
    green_t *w = SPAWN(long_waiter, NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_cond_destroy(C), -1);
    assert_int_equal(errno, EBUSY);
    lock();
    assert_int_equal(green_cond_notify(C, 1), 0);
    unlock();
    assert_int_equal(green_cond_destroy(C), -1); /* notified, not yet back */
    assert_int_equal(errno, EBUSY);
    JOIN(w);
    unmake();

    assert_null(green_cond_new(NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(green_cond_new_rlock(NULL));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_cond_wait(NULL, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_cond_notify(NULL, 1), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_cond_notify_all(NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_cond_destroy(NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_cond_waiters(NULL), 0);
}

static green_event_t *E;

/* Notifies main, then keeps the lock until E is set. */
static void *notify_and_hold(void *arg)
{
    (void)arg;
    lock();
    CHECK_EQ(green_cond_notify(C, 1), 0);
    CHECK_EQ(green_event_wait(E, GREEN_FOREVER), 0);
    unlock();
    return NULL;
}

/* main notified, but the lock's holder waits for main: the retake can never happen, so
 * ENOLCK, and main does not hold the lock. */
static void run_no_retake(bool rlock)
{
    make(rlock);
    E = green_event_new();
    assert_non_null(E);
    lock();
    green_t *h = SPAWN(notify_and_hold, NULL);
    assert_int_equal(green_cond_wait(C, GREEN_FOREVER), -1);
    assert_int_equal(errno, ENOLCK);
    if (rlock)
        assert_false(green_rlock_owned(RL));
    else
        assert_int_equal(green_lock_release(LK), -1); /* not the owner */
    assert_int_equal(green_event_set(E), 0);
    JOIN(h);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_destroy(E), 0);
    unmake();
    assert_no_failures();
}

static void test_no_retake_lock(void **state)
{
    (void)state;
    run_no_retake(false);
}

static void test_no_retake_rlock(void **state)
{
    (void)state;
    run_no_retake(true);
}

/* main waits on a condition nobody can notify: EDEADLK, and main holds the lock again. */
static void test_deadlock(void **state)
{
    (void)state;
    make(false);
    lock();
    assert_int_equal(green_cond_wait(C, GREEN_FOREVER), -1);
    assert_int_equal(errno, EDEADLK);
    assert_true(owned());
    unlock();
    unmake();
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_order_lock),
        HUB_TEST(test_order_rlock),
        HUB_TEST(test_rlock_depth),
        HUB_TEST(test_kill_lock),
        HUB_TEST(test_kill_rlock),
        HUB_TEST(test_timeouts_misuse_lock),
        HUB_TEST(test_timeouts_misuse_rlock),
        HUB_TEST(test_destroy_and_null),
        HUB_TEST(test_deadlock),
        HUB_TEST(test_no_retake_lock),
        HUB_TEST(test_no_retake_rlock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
