/* SPDX-License-Identifier: MIT */
/* Where the hand-off (src/hub/handoff.c, its inline case in src/sync/linkable.h) must leave
 * the next step to the hub: the notifier that woke the blocking greenlet still has work (a
 * fresh notifier to queue), the notifier at the queue's head would wake nobody (a Semaphore
 * taken again meanwhile), and the time budget's look at the clock is due (a ping-pong must
 * not keep timers and I/O waiting).  Each order is what gevent 22.10 prints for the same
 * program (sys.setswitchinterval(1e6)); the budget case turns the budget on, as gevent has
 * it by default.  A hand-off taken where it must not be changes the order, or in the budget
 * case keeps the timer from firing. */
#include "hubtest.h"

static int model;

/* ---- the waker's object is ready again, with a waiter: its tail queues a fresh notifier ---- */

static green_event_t *e, *e2, *e3;

static void *again_w(void *arg)
{
    (void)arg;
    CHECK_EQ(green_event_wait(e, GREEN_FOREVER), 0);
    say("W woke, clears e, waits again");
    CHECK_EQ(green_event_clear(e), 0);
    CHECK_EQ(green_event_wait(e, GREEN_FOREVER), 0);
    say("W woke again");
    return NULL;
}

static void *again_a(void *arg)
{
    (void)arg;
    CHECK_EQ(green_event_wait(e, GREEN_FOREVER), 0);
    say("A woke, sets e, waits e2");
    CHECK_EQ(green_event_set(e), 0);
    int rc = green_event_wait(e2, 0);
    say("A's wait on e2: %s", rc == 0 ? "True" : errno == ETIMEDOUT ? "False" : "?");
    return NULL;
}

static void *again_x(void *arg)
{
    (void)arg;
    CHECK_EQ(green_event_wait(e3, GREEN_FOREVER), 0);
    say("X woke");
    return NULL;
}

static void *again_m(void *arg)
{
    (void)arg;
    say("M sets e, e3");
    CHECK_EQ(green_event_set(e), 0);
    CHECK_EQ(green_event_set(e3), 0);
    return NULL;
}

/* A blocks on e2 in the last wake-up of e's notifier, e3's notifier at the head: a hand-off
 * to X would skip e's tail, and W would never wake again. */
static void test_waker_ready_again(void **state)
{
    model = model_of(state);
    e = green_event_new();
    e2 = green_event_new();
    e3 = green_event_new();
    assert_true(e && e2 && e3);
    green_t *g[4] = {SPAWN_MODEL(again_w, NULL, model), SPAWN_MODEL(again_a, NULL, model),
                     SPAWN_MODEL(again_x, NULL, model), SPAWN_MODEL(again_m, NULL, model)};
    JOIN_ALL(g, 4);
    assert_int_equal(green_sleep(0), 0); /* the last notifiers end */
    assert_int_equal(green_event_destroy(e), 0);
    assert_int_equal(green_event_destroy(e2), 0);
    assert_int_equal(green_event_destroy(e3), 0);
    assert_order("M sets e, e3", "W woke, clears e, waits again", "A woke, sets e, waits e2",
                 "X woke", "W woke again", "A's wait on e2: False");
}

/* ---- the head's notifier would wake nobody: its Semaphore was taken again ----------------- */

static green_event_t *go, *never;
static green_sem_t *sem;

static void *taken_b(void *arg)
{
    (void)arg;
    say("B acquires");
    CHECK_EQ(green_sem_acquire(sem, GREEN_FOREVER), 0);
    say("B got sem");
    CHECK_EQ(green_sem_release(sem), 0);
    return NULL;
}

static void *taken_a(void *arg)
{
    (void)arg;
    CHECK_EQ(green_event_wait(go, GREEN_FOREVER), 0);
    say("A woke, releases then takes sem");
    CHECK_EQ(green_sem_release(sem), 0);                /* queues the notifier for B */
    CHECK_EQ(green_sem_acquire(sem, GREEN_FOREVER), 0); /* free: A takes it back at once */
    int rc = green_event_wait(never, 0);
    say("A's wait on e2: %s - releases sem", rc == 0 ? "True" : errno == ETIMEDOUT ? "False" : "?");
    CHECK_EQ(green_sem_release(sem), 0);
    return NULL;
}

static void *taken_m(void *arg)
{
    (void)arg;
    say("M sets e");
    CHECK_EQ(green_event_set(go), 0);
    return NULL;
}

/* A blocks with the Semaphore's notifier at the head and no unit left: a hand-off would
 * resume B without one. */
static void test_semaphore_taken_again(void **state)
{
    model = model_of(state);
    go = green_event_new();
    never = green_event_new();
    sem = green_sem_new(0, false);
    assert_true(go && never && sem);
    green_t *g[3] = {SPAWN_MODEL(taken_b, NULL, model), SPAWN_MODEL(taken_a, NULL, model),
                     SPAWN_MODEL(taken_m, NULL, model)};
    JOIN_ALL(g, 3);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_destroy(go), 0);
    assert_int_equal(green_event_destroy(never), 0);
    assert_int_equal(green_sem_destroy(sem), 0);
    assert_order("B acquires", "M sets e", "A woke, releases then takes sem",
                 "A's wait on e2: False - releases sem", "B got sem");
}

/* ---- the time budget: a ping-pong lets a due timer run ----------------------------------- */

#define MAX_ROUNDS 10000000L /* ~1 s of hand-offs: far beyond the budget's 5 ms */

static green_event_t *ping, *pong;
static bool stop;
static long rounds;

static void *budget_a(void *arg)
{
    (void)arg;
    while (!stop && rounds < MAX_ROUNDS) {
        rounds++;
        CHECK_EQ(green_event_set(ping), 0);
        CHECK_EQ(green_event_wait(pong, GREEN_FOREVER), 0);
        CHECK_EQ(green_event_clear(pong), 0);
    }
    CHECK_EQ(green_event_set(ping), 0); /* B's last wait */
    return NULL;
}

static void *budget_b(void *arg)
{
    (void)arg;
    while (!stop && rounds < MAX_ROUNDS) {
        CHECK_EQ(green_event_wait(ping, GREEN_FOREVER), 0);
        CHECK_EQ(green_event_clear(ping), 0);
        CHECK_EQ(green_event_set(pong), 0);
    }
    return NULL;
}

static void *budget_timer(void *arg)
{
    (void)arg;
    CHECK_EQ(green_sleep(0.001), 0);
    stop = true;
    return NULL;
}

/* With the budget on (gevent's default), the drain looks at the clock every 50 callbacks
 * and stops for the poll once 5 ms have passed: every hand-off counts as the callback it
 * starts, so the timer fires within a few ms of ping-pong, long before MAX_ROUNDS. */
static void test_budget_lets_timers_run(void **state)
{
    model = model_of(state);
    assert_int_equal(green_hub_set_time_budget(true), 0); /* the fixture turns it off */
    ping = green_event_new();
    pong = green_event_new();
    assert_true(ping && pong);
    stop = false;
    rounds = 0;
    uint64_t before = green__hub_handoff_count();
    green_t *g[3] = {SPAWN_MODEL(budget_timer, NULL, model), SPAWN_MODEL(budget_b, NULL, model),
                     SPAWN_MODEL(budget_a, NULL, model)};
    JOIN_ALL(g, 3);
    assert_true(stop);
    assert_true(rounds < MAX_ROUNDS);
    assert_true(green__hub_handoff_count() - before > 100); /* it did hand off meanwhile */
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_destroy(ping), 0);
    assert_int_equal(green_event_destroy(pong), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST_MODELS(test_waker_ready_again),
        HUB_TEST_MODELS(test_semaphore_taken_again),
        HUB_TEST_MODELS(test_budget_lets_timers_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
