/* SPDX-License-Identifier: MIT */
/* Event (sync.h): gevent's notifier order (gevent-semantics.md E1-E3), clear, timeouts,
 * kill of a waiter, destroy while waited on, bad input. */
#include <math.h>

#include "hubtest.h"

static green_event_t *e;

static int event_up(void **state)
{
    e = green_event_new();
    return e ? hub_setup(state) : -1;
}

static int event_down(void **state)
{
    int rc = green_sleep(0) || green_event_destroy(e); /* the last notifier ends first */
    if (rc)
        print_error("green_event_destroy: %s\n", green_last_error());
    return hub_teardown(state) || rc;
}

#define EVENT_TEST(t) cmocka_unit_test_setup_teardown(t, event_up, event_down)

static void spawn_say(const char *what) { CHECK_EQ(green_release(SPAWN(say_arg, what)), 0); }

/* ---- E1 -------------------------------------------------------------------------------- */

static void *e1_waiter(void *arg)
{
    const char *n = arg;
    say("%s woke: %s", n, green_event_wait(e, GREEN_FOREVER) == 0 ? "True" : "?");
    CHECK_EQ(green_sleep(0), 0);
    say("%s back from sleep(0)", n);
    return NULL;
}

static void *e1_setter(void *arg)
{
    (void)arg;
    CHECK_EQ(green_event_set(e), 0);
    say("S: set() returned without switching");
    spawn_say("Y runs (spawned after set)");
    CHECK_EQ(green_sleep(0), 0);
    say("S back from sleep(0)");
    return NULL;
}

static void test_e1_set_wakes_in_order(void **state)
{
    (void)state;
    green_t *g[4] = {SPAWN(e1_waiter, "A"), SPAWN(e1_waiter, "B")};
    assert_int_equal(green_sleep(0), 0);
    g[2] = SPAWN(e1_setter, NULL);
    g[3] = SPAWN(say_arg, "X runs (queued before the set)");
    JOIN_ALL(g, 4);
    assert_order("S: set() returned without switching", "X runs (queued before the set)",
                 "A woke: True", "B woke: True", "Y runs (spawned after set)",
                 "S back from sleep(0)", "A back from sleep(0)", "B back from sleep(0)");
    assert_no_failures();
}

/* ---- E2 -------------------------------------------------------------------------------- */

static void *e2_w(void *arg)
{
    int rc = green_event_wait(e, GREEN_FOREVER);
    say("%s wait -> %s, flag now %s", (const char *)arg, rc == 0 ? "True" : "?",
        green_event_is_set(e) ? "True" : "False");
    return NULL;
}

static void test_e2_notifier_ignores_flag(void **state)
{
    (void)state;
    green_t *g[2] = {SPAWN(e2_w, "A")};
    assert_int_equal(green_sleep(0), 0);
    g[1] = SPAWN(e2_w, "B");
    assert_int_equal(green_event_set(e), 0);
    assert_int_equal(green_event_clear(e), 0);
    assert_false(green_event_is_set(e));
    assert_int_equal(green_sleep(0), 0);
    JOIN_ALL(g, 2);
    assert_order("A wait -> True, flag now False", "B wait -> True, flag now False");
    assert_no_failures();
}

/* ---- E3 -------------------------------------------------------------------------------- */

static void *e3_w(void *arg)
{
    const char *n = arg;
    say("%s woke: %s", n, green_event_wait(e, GREEN_FOREVER) == 0 ? "True" : "?");
    say("%s woke again: %s", n, green_event_wait(e, GREEN_FOREVER) == 0 ? "True" : "?");
    say("%s 3rd: %s", n, green_event_wait(e, GREEN_FOREVER) == 0 ? "True" : "?");
    return NULL;
}

static void test_e3_arrivals_behind_notifier(void **state)
{
    (void)state;
    green_t *g[2] = {SPAWN(e3_w, "A"), SPAWN(e3_w, "B")};
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_set(e), 0);
    spawn_say("X runs (queued after the notifier)");
    JOIN_ALL(g, 2);
    assert_order("A woke: True", "B woke: True", "A woke again: True", "B woke again: True",
                 "X runs (queued after the notifier)", "A 3rd: True", "B 3rd: True");
    assert_no_failures();
}

static void *e3_b(void *arg)
{
    (void)arg;
    say("B woke: %s", green_event_wait(e, GREEN_FOREVER) == 0 ? "True" : "?");
    return NULL;
}

static void test_e3_main_waits_on_set_event(void **state)
{
    (void)state;
    green_t *b = SPAWN(e3_b, NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_set(e), 0);
    spawn_say("C runs (spawned after set)");
    assert_int_equal(green_event_wait(e, 0), 0); /* even with timeout 0: behind the notifier */
    say("main wait -> True (after B, same notifier, before C)");
    spawn_say("D runs");
    assert_int_equal(green_event_wait(e, GREEN_FOREVER), 0);
    say("main wait -> True (waited again from the 2nd list: new notifier, after C, D)");
    assert_int_equal(green_sleep(0), 0);
    spawn_say("F runs");
    assert_int_equal(green_event_wait(e, GREEN_FOREVER), 0);
    say("main wait -> True (no notifier pending: no switch, F not run yet)");
    assert_int_equal(green_sleep(0), 0);
    JOIN_ALL(&b, 1);
    assert_order("B woke: True", "main wait -> True (after B, same notifier, before C)",
                 "C runs (spawned after set)", "D runs",
                 "main wait -> True (waited again from the 2nd list: new notifier, after C, D)",
                 "main wait -> True (no notifier pending: no switch, F not run yet)", "F runs");
    assert_no_failures();
}

/* ---- timeouts, kills, destroy, bad input ---------------------------------------------- */

static void *timed_waiter(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_event_wait(e, 0.01), ETIMEDOUT);
    say("T timed out");
    CHECK_EQ(green_event_wait(e, GREEN_FOREVER), 0);
    say("T woke");
    return NULL;
}

static void *killed_waiter(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_event_wait(e, GREEN_FOREVER), ECANCELED);
    say("K killed");
    return NULL;
}

static void test_timeout_kill_destroy(void **state)
{
    (void)state;
    green_t *g[2] = {SPAWN(timed_waiter, NULL), SPAWN(killed_waiter, NULL)};
    assert_int_equal(green_sleep(0), 0);
    CHECK_FAILS(green_event_destroy(e), EBUSY);
    assert_int_equal(green_kill(g[1], GREEN_FOREVER), 0);
    assert_int_equal(green_sleep(0.02), 0); /* T times out and waits again */
    CHECK_FAILS(green_event_destroy(e), EBUSY);
    assert_int_equal(green_event_set(e), 0);
    CHECK_FAILS(green_event_destroy(e), EBUSY); /* its wake-up is pending */
    JOIN_ALL(g, 2);
    assert_order("K killed", "T timed out", "T woke");
    /* main: set with no notifier pending returns at once; clear then timeout */
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_wait(e, 0), 0);
    assert_int_equal(green_event_clear(e), 0);
    CHECK_FAILS(green_event_wait(e, 0), ETIMEDOUT);
    /* bad input */
    CHECK_FAILS(green_event_wait(e, NAN), EINVAL);
    CHECK_FAILS(green_event_wait(NULL, 0), EINVAL);
    CHECK_FAILS(green_event_set(NULL), EINVAL);
    CHECK_FAILS(green_event_clear(NULL), EINVAL);
    CHECK_FAILS(green_event_destroy(NULL), EINVAL);
    assert_false(green_event_is_set(NULL));
    assert_no_failures();
}

/* A waits; B arrives on the set event while the notifier is pending; A leaves (killed)
 * before the notifier runs, which cancels it.  gevent drops B (it stays blocked for good:
 * LoopExit); we keep B linked and, the event being still set, queue a new notifier. */
static void *e_a(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_event_wait(e, GREEN_FOREVER), ECANCELED);
    say("A killed");
    return NULL;
}

static void test_arrived_waiter_survives_cancel(void **state)
{
    (void)state;
    green_t *g[2] = {SPAWN(e_a, NULL)};
    assert_int_equal(green_sleep(0), 0);
    g[1] = SPAWN(e3_b, NULL);
    assert_int_equal(green_kill_nowait(g[0]), 0);
    assert_int_equal(green_event_set(e), 0);
    JOIN_ALL(g, 2);
    assert_order("A killed", "B woke: True");
    assert_no_failures();
}

/* The last greenlet woken from an Event frees it at once, while the notifier that woke it
 * is still running (regression: EBUSY until that notifier had finished). */
static void *wake_and_free(void *arg)
{
    green_event_t *own = arg;
    CHECK_EQ(green_event_wait(own, GREEN_FOREVER), 0);
    CHECK_EQ(green_event_destroy(own), 0);
    say("freed");
    CHECK_EQ(green_sleep(0), 0); /* the notifier ends without touching it (ASAN, valgrind) */
    return NULL;
}

/* The same for a Semaphore and a Lock, whose notifier stops early. */
static void *acquire_and_free(void *arg)
{
    green_sem_t *s = arg;
    CHECK_EQ(green_sem_acquire(s, GREEN_FOREVER), 0);
    CHECK_EQ(green_sem_destroy(s), 0);
    say("sem freed");
    return NULL;
}

static void *lock_and_free(void *arg)
{
    green_lock_t *l = arg;
    CHECK_EQ(green_lock_acquire(l, GREEN_FOREVER), 0);
    CHECK_FAILS(green_lock_destroy(l), EBUSY); /* held */
    CHECK_EQ(green_lock_release(l), 0);
    CHECK_EQ(green_lock_destroy(l), 0);
    say("lock freed");
    return NULL;
}

static void test_destroy_by_woken_waiter(void **state)
{
    (void)state;
    green_event_t *own = green_event_new();
    green_sem_t *s = green_sem_new(0, false);
    green_lock_t *l = green_lock_new();
    assert_int_equal(green_lock_acquire(l, 0), 0);
    green_t *g[3] = {SPAWN(wake_and_free, own), SPAWN(acquire_and_free, s),
                     SPAWN(lock_and_free, l)};
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_set(own), 0);
    assert_int_equal(green_sem_release(s), 0);
    assert_int_equal(green_lock_release(l), 0);
    JOIN_ALL(g, 3);
    assert_order("freed", "sem freed", "lock freed");
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        EVENT_TEST(test_e1_set_wakes_in_order),
        EVENT_TEST(test_e2_notifier_ignores_flag),
        EVENT_TEST(test_e3_arrivals_behind_notifier),
        EVENT_TEST(test_e3_main_waits_on_set_event),
        EVENT_TEST(test_timeout_kill_destroy),
        EVENT_TEST(test_arrived_waiter_survives_cancel),
        EVENT_TEST(test_destroy_by_woken_waiter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
