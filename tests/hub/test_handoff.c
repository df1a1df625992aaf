/* SPDX-License-Identifier: MIT */
/* The direct hand-off (src/hub/handoff.c): where a greenlet that blocks switches straight to
 * the next one, the order stays gevent's.  Each order below is what gevent 22.10 prints for
 * the same program (sys.setswitchinterval(1e6)): a greenlet that runs between the two of a
 * ping-pong, a kill queued behind or ahead of the notifier, a Semaphore's barging, two
 * waiters with a clear between, a wait() entry ahead of the waiter and zero timeouts;
 * then an object destroyed by the greenlet whose wait it ended (the tail that frees it runs
 * in a greenlet, and the hub must not touch it after); that a plain ping-pong does hand off
 * (counted where libgreen decides, whose orders alone would not show it), and with a trace
 * hook installed no hand-off at all (the hook would see it); last the Queue's: a ping-pong
 * hands off, a second getter in line, an unlock that admits a putter first. */
#include "hubtest.h"
#include <green/wait.h>

static green_event_t *e1, *e2, *e3;

static int events_up(void **state)
{
    e1 = green_event_new();
    e2 = green_event_new();
    e3 = green_event_new();
    return e1 && e2 && e3 ? hub_setup(state) : -1;
}

static int events_down(void **state)
{
    int rc = green_sleep(0); /* the last notifiers end first */
    rc =
        rc || (e1 && green_event_destroy(e1)) || green_event_destroy(e2) || green_event_destroy(e3);
    if (rc)
        print_error("green_event_destroy: %s\n", green_last_error());
    return hub_teardown(state) || rc;
}

#define EVENTS_TEST(t)                                                                             \
    cmocka_unit_test_prestate_setup_teardown(t, events_up, events_down,                            \
                                             (void *)(intptr_t)GREEN_STACK_PRIVATE),               \
        cmocka_unit_test_prestate_setup_teardown(t, events_up, events_down,                        \
                                                 (void *)(intptr_t)GREEN_STACK_SHARED)

static int model;

/* ---- a ping-pong with a third greenlet yielding between ------------------------------------ */

static void *pp_a(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        say("A%d sets e1", i);
        CHECK_EQ(green_event_set(e1), 0);
        CHECK_EQ(green_event_wait(e2, GREEN_FOREVER), 0);
        CHECK_EQ(green_event_clear(e2), 0);
        say("A%d woke", i);
    }
    return NULL;
}

static void *pp_b(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(green_event_wait(e1, GREEN_FOREVER), 0);
        CHECK_EQ(green_event_clear(e1), 0);
        say("B%d woke, sets e2", i);
        CHECK_EQ(green_event_set(e2), 0);
    }
    return NULL;
}

static void *pp_c(void *arg)
{
    (void)arg;
    for (int i = 0; i < 4; i++) {
        say("C%d", i);
        CHECK_EQ(green_sleep(0), 0);
    }
    return NULL;
}

static void test_pingpong_with_yielder(void **state)
{
    model = model_of(state);
    green_t *g[3] = {SPAWN_MODEL(pp_b, NULL, model), SPAWN_MODEL(pp_a, NULL, model),
                     SPAWN_MODEL(pp_c, NULL, model)};
    JOIN_ALL(g, 3);
    assert_order("A0 sets e1", "C0", "B0 woke, sets e2", "C1", "A0 woke", "A1 sets e1", "C2",
                 "B1 woke, sets e2", "C3", "A1 woke", "A2 sets e1", "B2 woke, sets e2", "A2 woke");
}

/* ---- a kill queued behind the notifier, or ahead of it -------------------------------------- */

static green_t *victim;
static bool kill_first;

static void *kill_a(void *arg)
{
    (void)arg;
    if (!kill_first)
        CHECK_EQ(green_event_set(e1), 0);
    CHECK_EQ(green_kill_nowait(victim), 0);
    if (kill_first)
        CHECK_EQ(green_event_set(e1), 0);
    say("A waits");
    int rc = green_event_wait(e2, 0);
    say("A woke %s", rc == 0 ? "True" : errno == ETIMEDOUT ? "False" : "?");
    return NULL;
}

static void *kill_b(void *arg)
{
    (void)arg;
    say("B waits");
    if (green_event_wait(e1, GREEN_FOREVER) == 0) {
        say("B woke, sets e2");
        CHECK_EQ(green_event_set(e2), 0);
        say("B waits again");
        if (green_event_wait(e1, GREEN_FOREVER) == 0) /* e1 is still set */
            say("B ?");
    }
    if (errno == ECANCELED)
        say("B killed");
    return NULL;
}

static void kill_case(void **state, bool first)
{
    model = model_of(state);
    kill_first = first;
    green_t *g[2] = {victim = SPAWN_MODEL(kill_b, NULL, model), SPAWN_MODEL(kill_a, NULL, model)};
    JOIN_ALL(g, 2);
}

static void test_kill_behind_notifier(void **state)
{
    kill_case(state, false);
    assert_order("B waits", "A waits", "B woke, sets e2", "B waits again", "B ?", "A woke True");
}

static void test_kill_ahead_of_notifier(void **state)
{
    kill_case(state, true);
    assert_order("B waits", "A waits", "B killed", "A woke False");
}

/* ---- Semaphores: a barging acquirer, then the ping-pong ------------------------------------- */

static green_sem_t *s1, *s2;

static void *sem_a(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        say("A%d releases s1", i);
        CHECK_EQ(green_sem_release(s1), 0);
        CHECK_EQ(green_sem_acquire(s2, GREEN_FOREVER), 0);
        say("A%d got s2", i);
    }
    return NULL;
}

static void *sem_b(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(green_sem_acquire(s1, GREEN_FOREVER), 0);
        say("B%d got s1, releases s2", i);
        CHECK_EQ(green_sem_release(s2), 0);
    }
    return NULL;
}

static void *sem_c(void *arg)
{
    (void)arg;
    say("C acquires s1");
    CHECK_EQ(green_sem_acquire(s1, GREEN_FOREVER), 0);
    say("C got s1");
    CHECK_EQ(green_sem_release(s1), 0);
    say("C released s1");
    return NULL;
}

static void test_semaphore_pingpong(void **state)
{
    model = model_of(state);
    s1 = green_sem_new(0, false);
    s2 = green_sem_new(0, false);
    assert_non_null(s1);
    assert_non_null(s2);
    green_t *g[3] = {SPAWN_MODEL(sem_b, NULL, model), SPAWN_MODEL(sem_a, NULL, model),
                     SPAWN_MODEL(sem_c, NULL, model)};
    JOIN_ALL(g, 3);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_sem_destroy(s1), 0);
    assert_int_equal(green_sem_destroy(s2), 0);
    assert_order("A0 releases s1", "C acquires s1", "C got s1", "C released s1",
                 "B0 got s1, releases s2", "A0 got s2", "A1 releases s1", "B1 got s1, releases s2",
                 "A1 got s2", "A2 releases s1", "B2 got s1, releases s2", "A2 got s2");
}

/* ---- two waiters, the event cleared right after the set ------------------------------------- */

static void *two_a(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2; i++) {
        say("A%d sets e1", i);
        CHECK_EQ(green_event_set(e1), 0);
        CHECK_EQ(green_event_clear(e1), 0);
        CHECK_EQ(green_event_wait(e2, GREEN_FOREVER), 0);
        CHECK_EQ(green_event_clear(e2), 0);
        say("A%d woke", i);
    }
    return NULL;
}

static void *two_w(void *arg)
{
    const char *n = arg;
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(green_event_wait(e1, GREEN_FOREVER), 0);
        say("%s%d woke", n, i);
        if (*n == 'B')
            CHECK_EQ(green_event_set(e2), 0);
    }
    return NULL;
}

static void test_two_waiters_clear_between(void **state)
{
    model = model_of(state);
    green_t *g[3] = {SPAWN_MODEL(two_w, "B", model), SPAWN_MODEL(two_w, "C", model),
                     SPAWN_MODEL(two_a, NULL, model)};
    JOIN_ALL(g, 3);
    assert_order("A0 sets e1", "B0 woke", "C0 woke", "A0 woke", "A1 sets e1", "B1 woke", "C1 woke",
                 "A1 woke");
}

/* ---- a wait() entry ahead of the waiter, a zero timeout, an arrival behind ----------------- */

static void *raw_d(void *arg)
{
    (void)arg;
    say("D waits on [e1]");
    green_waitable_t w = green_waitable_event(e1);
    size_t ready = 99;
    say("D woke %d", green_wait(&w, 1, GREEN_FOREVER, GREEN_WAIT_ALL, &ready));
    CHECK_EQ(ready, 0);
    return NULL;
}

static void *raw_a(void *arg)
{
    (void)arg;
    say("A sets e1");
    CHECK_EQ(green_event_set(e1), 0);
    say("A waits e2, timeout 0");
    int rc = green_event_wait(e2, 0);
    say("A woke %s", rc == 0 ? "True" : "False");
    rc = green_event_wait(e2, GREEN_FOREVER); /* set, its notifier running: queues behind */
    say("A woke %s", rc == 0 ? "True" : "False");
    return NULL;
}

static void *raw_b(void *arg)
{
    (void)arg;
    CHECK_EQ(green_event_wait(e1, GREEN_FOREVER), 0);
    say("B woke, sets e2");
    CHECK_EQ(green_event_set(e2), 0);
    say("B sleeps 0");
    CHECK_EQ(green_sleep(0), 0);
    say("B back");
    return NULL;
}

static void test_wait_entry_and_zero_timeout(void **state)
{
    model = model_of(state);
    green_t *g[3] = {SPAWN_MODEL(raw_d, NULL, model), SPAWN_MODEL(raw_b, NULL, model),
                     SPAWN_MODEL(raw_a, NULL, model)};
    JOIN_ALL(g, 3);
    assert_order("D waits on [e1]", "A sets e1", "A waits e2, timeout 0", "D woke 1",
                 "B woke, sets e2", "B sleeps 0", "A woke True", "A woke True", "B back");
}

/* ---- the woken greenlet destroys the event it waited on, then hands off --------------------- */

static void *doom_a(void *arg)
{
    (void)arg;
    CHECK_EQ(green_event_set(e1), 0);
    CHECK_EQ(green_event_wait(e2, GREEN_FOREVER), 0);
    say("A woke, sets e3");
    CHECK_EQ(green_event_set(e3), 0);
    return NULL;
}

static void *doom_b(void *arg)
{
    (void)arg;
    CHECK_EQ(green_event_wait(e1, GREEN_FOREVER), 0);
    CHECK_EQ(green_event_destroy(e1), 0); /* its notifier, suspended in our resume, frees it */
    e1 = NULL;
    say("B destroyed e1, sets e2");
    CHECK_EQ(green_event_set(e2), 0);
    CHECK_EQ(green_event_wait(e3, GREEN_FOREVER), 0);
    say("B woke");
    return NULL;
}

static void test_destroyed_by_the_woken(void **state)
{
    model = model_of(state);
    green_t *g[2] = {SPAWN_MODEL(doom_b, NULL, model), SPAWN_MODEL(doom_a, NULL, model)};
    JOIN_ALL(g, 2);
    assert_order("B destroyed e1, sets e2", "A woke, sets e3", "B woke");
}

/* ---- without a hook, the ping-pong does hand off ------------------------------------------ */

/* Every order in this file is gevent's with or without a hand-off, so nothing above fails if
 * the hand-off never happens: count them (hubtest.h). */
static void test_pingpong_hands_off(void **state)
{
    model = model_of(state);
    uint64_t before = green__hub_handoff_count();
    green_t *g[2] = {SPAWN_MODEL(pp_b, NULL, model), SPAWN_MODEL(pp_a, NULL, model)};
    JOIN_ALL(g, 2);
    uint64_t handed_off = green__hub_handoff_count() - before;
    assert_order("A0 sets e1", "B0 woke, sets e2", "A0 woke", "A1 sets e1", "B1 woke, sets e2",
                 "A1 woke", "A2 sets e1", "B2 woke, sets e2", "A2 woke");
    /* The waits after "B0 woke", "A1 sets e1", "B1 woke" and "A2 sets e1" hand off: each
     * blocks in the wake-up of a notifier while the other side's is queued.  A0's does not
     * (A was resumed by its spawn, not by a notifier), and B2 ends instead of waiting. */
    assert_int_equal(handed_off, 4);
}

/* ---- Queues: the ping-pong hands off too; a second getter keeps the unlock's order ------- */

static green_queue_t *q1, *q2;

static void *qpp_a(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        say("A%d puts", i);
        CHECK_EQ(green_queue_put(q1, ITEM(i), GREEN_FOREVER), 0);
        void *v = NULL;
        CHECK_EQ(green_queue_get(q2, GREEN_FOREVER, &v), 0);
        say("A%d got %d", i, INT(v));
    }
    return NULL;
}

static void *qpp_b(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        void *v = NULL;
        CHECK_EQ(green_queue_get(q1, GREEN_FOREVER, &v), 0);
        say("B%d got %d, puts", i, INT(v));
        CHECK_EQ(green_queue_put(q2, ITEM(INT(v) + 10), GREEN_FOREVER), 0);
    }
    return NULL;
}

static void queues_new(void)
{
    q1 = green_queue_new(0);
    q2 = green_queue_new(0);
    assert_non_null(q1);
    assert_non_null(q2);
}

static void queues_destroy(void)
{
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_queue_destroy(q1), 0);
    assert_int_equal(green_queue_destroy(q2), 0);
}

static void test_queue_pingpong_hands_off(void **state)
{
    model = model_of(state);
    queues_new();
    uint64_t before = green__hub_handoff_count();
    green_t *g[2] = {SPAWN_MODEL(qpp_b, NULL, model), SPAWN_MODEL(qpp_a, NULL, model)};
    JOIN_ALL(g, 2);
    uint64_t handed_off = green__hub_handoff_count() - before;
    queues_destroy();
    assert_order("A0 puts", "B0 got 0, puts", "A0 got 10", "A1 puts", "B1 got 1, puts", "A1 got 11",
                 "A2 puts", "B2 got 2, puts", "A2 got 12");
    /* As the Event ping-pong: the gets after "B0 got", "A1 puts", "B1 got", "A2 puts". */
    assert_int_equal(handed_off, 4);
}

static void *qtwo_a(void *arg)
{
    (void)arg;
    say("A puts 1, 2");
    CHECK_EQ(green_queue_put(q1, ITEM(1), GREEN_FOREVER), 0);
    CHECK_EQ(green_queue_put(q1, ITEM(2), GREEN_FOREVER), 0);
    void *v = NULL;
    CHECK_EQ(green_queue_get(q2, GREEN_FOREVER, &v), 0);
    say("A got %d", INT(v));
    return NULL;
}

static void *qtwo_getter(void *arg)
{
    const char *n = arg;
    void *v = NULL;
    CHECK_EQ(green_queue_get(q1, GREEN_FOREVER, &v), 0);
    say("%s got %d", n, INT(v));
    CHECK_EQ(green_queue_put(q2, ITEM(INT(v) * 10), GREEN_FOREVER), 0);
    CHECK_EQ(green_queue_get(q1, GREEN_FOREVER, &v), 0);
    say("%s got %d again", n, INT(v));
    return NULL;
}

static void *qtwo_c(void *arg)
{
    (void)arg;
    say("C puts 3, 4");
    CHECK_EQ(green_queue_put(q1, ITEM(3), GREEN_FOREVER), 0);
    CHECK_EQ(green_queue_put(q1, ITEM(4), GREEN_FOREVER), 0);
    return NULL;
}

/* q1's unlock wakes B as its first act, with D still in line and items left: B's put and
 * second get must not end that unlock early, and D is woken by its loop after B ends. */
static void test_queue_second_getter(void **state)
{
    model = model_of(state);
    queues_new();
    green_t *g[4] = {SPAWN_MODEL(qtwo_getter, "B", model), SPAWN_MODEL(qtwo_getter, "D", model),
                     SPAWN_MODEL(qtwo_a, NULL, model), SPAWN_MODEL(qtwo_c, NULL, model)};
    JOIN_ALL(g, 4);
    queues_destroy();
    assert_order("A puts 1, 2", "C puts 3, 4", "B got 1", "B got 2 again", "D got 3",
                 "D got 4 again", "A got 10");
}

static green_queue_t *qb;

static void *qb_g(void *arg)
{
    (void)arg;
    say("G gets");
    void *v = NULL;
    CHECK_EQ(green_queue_get(qb, GREEN_FOREVER, &v), 0);
    say("G got %s", (const char *)v);
    return NULL;
}

static void *qb_m(void *arg)
{
    (void)arg;
    say("M puts a, b");
    CHECK_EQ(green_queue_put(qb, "a", GREEN_FOREVER), 0);
    CHECK_EQ(green_queue_put(qb, "b", GREEN_FOREVER), 0);
    return NULL;
}

static void *qb_p(void *arg)
{
    (void)arg;
    say("P puts c");
    CHECK_EQ(green_queue_put(qb, "c", GREEN_FOREVER), 0);
    say("P put c");
    return NULL;
}

static void *qb_x(void *arg)
{
    (void)arg;
    void *v = NULL;
    CHECK_EQ(green_queue_try_get(qb, &v), 0);
    say("X took %s", (const char *)v);
    return NULL;
}

/* The unlock's first act is to admit the putter (room again, after X's take), not to wake
 * the getter waiting ahead of it: no getter is resumed as its last act then. */
static void test_queue_putter_first(void **state)
{
    model = model_of(state);
    qb = green_queue_new(2);
    assert_non_null(qb);
    green_t *g[4] = {SPAWN_MODEL(qb_g, NULL, model), SPAWN_MODEL(qb_m, NULL, model),
                     SPAWN_MODEL(qb_p, NULL, model), SPAWN_MODEL(qb_x, NULL, model)};
    JOIN_ALL(g, 4);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_queue_destroy(qb), 0);
    assert_order("G gets", "M puts a, b", "P puts c", "X took a", "P put c", "G got b");
}

/* ---- a trace hook sees every switch go through the hub -------------------------------------- */

static unsigned direct, through_hub;

static void count_switch(green_trace_event_t ev, green_t *origin, green_t *target, void *arg)
{
    (void)ev;
    green_t *hub = arg;
    if (origin == hub || target == hub)
        through_hub++;
    else
        direct++;
}

static void test_trace_hook_sees_the_hub(void **state)
{
    model = model_of(state);
    green_t *hub = green_hub();
    assert_non_null(hub);
    direct = through_hub = 0;
    assert_int_equal(green_settrace(count_switch, hub, NULL, NULL), 0);
    green_t *g[2] = {SPAWN_MODEL(pp_b, NULL, model), SPAWN_MODEL(pp_a, NULL, model)};
    JOIN_ALL(g, 2);
    assert_int_equal(green_settrace(NULL, NULL, NULL, NULL), 0);
    assert_order("A0 sets e1", "B0 woke, sets e2", "A0 woke", "A1 sets e1", "B1 woke, sets e2",
                 "A1 woke", "A2 sets e1", "B2 woke, sets e2", "A2 woke");
    assert_int_equal(direct, 0);
    /* 3 round trips, each 2 wake-ups of 2 switches (hub -> waiter, waiter -> hub) */
    assert_true(through_hub >= 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        EVENTS_TEST(test_pingpong_with_yielder),     EVENTS_TEST(test_kill_behind_notifier),
        EVENTS_TEST(test_kill_ahead_of_notifier),    EVENTS_TEST(test_semaphore_pingpong),
        EVENTS_TEST(test_two_waiters_clear_between), EVENTS_TEST(test_wait_entry_and_zero_timeout),
        EVENTS_TEST(test_destroyed_by_the_woken),    EVENTS_TEST(test_pingpong_hands_off),
        EVENTS_TEST(test_trace_hook_sees_the_hub),   EVENTS_TEST(test_queue_pingpong_hands_off),
        EVENTS_TEST(test_queue_second_getter),       EVENTS_TEST(test_queue_putter_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
