/* SPDX-License-Identifier: MIT */
/* A block that parks its greenlet (green_arch_park, src/hub/hub.h's green__hub_park_tail):
 * the switch back lands in the blocking call's caller, and only the wake-up the call
 * expects returns 0 there; every other way into the parked greenlet must end the call as
 * a failed block does, with -1 and the errno of green__hub_block, and undo what the call
 * set up.  Two kinds park:
 *   - a wait that hands off: A and B ping-pong on two events until A's wait is parked by a
 *     hand-off into B (the hand-off count says so), then B ends it by a kill, by A's scoped
 *     timeout, or by a foreign switch into A.  Each stack model pairing: a parked greenlet
 *     may be on a shared stack (its frame is moved as stack data).  A shared target parks
 *     too when it is resident (A and B sit in two regions); run as `test_park one-region`
 *     (meson's park_one_region), the thread has one region, and a shared target takes the
 *     checked path.  The fixture's teardown destroys the events, which fails while a
 *     waiter is still linked;
 *   - a sleep, parked into the hub: ended by a kill queued ahead of its wake-up, a scoped
 *     timeout shorter than it, or a foreign switch.  Its wake-up (the queued callback, the
 *     timer) must be gone afterwards: a wait that follows ends by its own timeout, not by
 *     a stray resume (EINTR). */
#include "hubtest.h"

enum ending { BY_KILL, BY_TIMEOUT, BY_FOREIGN };

static green_event_t *e1, *e2;
static green_t *a_g, *b_g;
static enum ending ending;
static uint64_t a_before, b_after; /* hand-off counts around A's last wait */

static int events_up(void **state)
{
    e1 = green_event_new();
    e2 = green_event_new();
    return e1 && e2 ? hub_setup(state) : -1;
}

static int events_down(void **state)
{
    int rc = green_sleep(0) || green_event_destroy(e1) || green_event_destroy(e2);
    if (rc)
        print_error("green_event_destroy: %s\n", green_last_error());
    return hub_teardown(state) || rc;
}

static const char *errno_name(int e)
{
    return e == ECANCELED ? "ECANCELED" : e == ETIMEDOUT ? "ETIMEDOUT" : e == EINTR ? "EINTR" : "?";
}

/* The foreign switch: B switches into A's parked block with a value that is not its
 * wake-up; A, its block ended (EINTR), switches back into B's switch, and B kills A from
 * there (A's switch then fails with GREEN_EXIT). */
static void switch_into_a(void)
{
    void *v = NULL;
    CHECK_EQ(green_switch(a_g, ITEM(7), &v), 0);
    say("B's switch returned");
    CHECK_EQ(green_kill_nowait(a_g), 0);
}

static void switch_back_into_b(void)
{
    int back = green_switch(b_g, NULL, NULL);
    say("A's switch back: %s", back == GREEN_EXIT ? "GREEN_EXIT" : "?");
}

static void *ping(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(green_event_set(e1), 0);
        CHECK_EQ(green_event_wait(e2, GREEN_FOREVER), 0);
        CHECK_EQ(green_event_clear(e2), 0);
    }
    green_timeout_t *t = ending == BY_TIMEOUT ? green_timeout_start(0.001) : NULL;
    if (ending == BY_TIMEOUT)
        CHECK_EQ(t != NULL, 1);
    a_before = green__hub_handoff_count();
    CHECK_EQ(green_event_set(e1), 0);
    errno = 0;
    int rc = green_event_wait(e2, GREEN_FOREVER);
    int e = errno;
    say("A's wait: %d %s", rc, errno_name(e));
    if (t)
        CHECK_EQ(green_timeout_end(t), 1); /* it fired */
    if (ending == BY_FOREIGN)
        switch_back_into_b();
    return NULL;
}

static void *pong(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(green_event_wait(e1, GREEN_FOREVER), 0);
        CHECK_EQ(green_event_clear(e1), 0);
        if (i < 2)
            CHECK_EQ(green_event_set(e2), 0);
    }
    b_after = green__hub_handoff_count(); /* A's last wait woke us by a hand-off */
    if (ending == BY_KILL)
        CHECK_EQ(green_kill_nowait(a_g), 0);
    if (ending == BY_FOREIGN)
        switch_into_a();
    return NULL;
}

/* One case: the stack models of A and B, how A's parked wait ends, what it then prints. */
struct park_case {
    int a_model, b_model;
    enum ending how;
    const char *order[4]; /* NULL-terminated when shorter */
};

/* Spawn A and B (B first: it must be waiting when A starts), join both, check the order. */
static void run_case(const struct park_case *c, green_fn a, green_fn b, bool b_first)
{
    ending = c->how;
    if (b_first)
        b_g = SPAWN_MODEL(b, NULL, c->b_model);
    a_g = SPAWN_MODEL(a, NULL, c->a_model);
    if (!b_first)
        b_g = SPAWN_MODEL(b, NULL, c->b_model);
    green_t *g[2] = {a_g, b_g};
    JOIN_ALL(g, 2);
    size_t n = 0;
    while (n < 4 && c->order[n])
        n++;
    assert_order_list(c->order, n);
}

static void test_parked_wait_ends(void **state)
{
    run_case(*state, ping, pong, true);
    assert_true(b_after > a_before);
    /* Nothing is left linked on e2 (the teardown's destroy checks it): a set finds nobody. */
    assert_int_equal(green_event_set(e2), 0);
}

#define P GREEN_STACK_PRIVATE
#define S GREEN_STACK_SHARED
#define KILLED {"A's wait: -1 ECANCELED"}
#define TIMED_OUT {"A's wait: -1 ETIMEDOUT"}
#define FOREIGN {"A's wait: -1 EINTR", "B's switch returned", "A's switch back: GREEN_EXIT"}
static const struct park_case cases[] = {
    {P, P, BY_KILL, KILLED},       {S, S, BY_KILL, KILLED},       {P, S, BY_KILL, KILLED},
    {S, P, BY_KILL, KILLED},       {P, P, BY_TIMEOUT, TIMED_OUT}, {S, S, BY_TIMEOUT, TIMED_OUT},
    {P, S, BY_TIMEOUT, TIMED_OUT}, {S, P, BY_TIMEOUT, TIMED_OUT}, {P, P, BY_FOREIGN, FOREIGN},
    {S, S, BY_FOREIGN, FOREIGN},   {P, S, BY_FOREIGN, FOREIGN},   {S, P, BY_FOREIGN, FOREIGN},
};

/* ---- a parked sleep ------------------------------------------------------------------ */

static void *sleep_a(void *arg)
{
    (void)arg;
    CHECK_EQ(green_sleep(0), 0); /* B runs meanwhile */
    green_timeout_t *t = ending == BY_TIMEOUT ? green_timeout_start(0.001) : NULL;
    if (ending == BY_TIMEOUT)
        CHECK_EQ(t != NULL, 1);
    errno = 0;
    int rc = green_sleep(ending == BY_TIMEOUT ? 0.02 : 0);
    int e = errno;
    say("A's sleep: %d %s", rc, errno_name(e));
    if (t)
        CHECK_EQ(green_timeout_end(t), 1); /* it fired */
    if (ending == BY_KILL)
        return NULL; /* killed: every blocking call fails at once */
    errno = 0;
    CHECK_EQ(green_event_wait(e1, 0.05), -1);
    say("A's next wait: %s", errno_name(errno));
    if (ending == BY_FOREIGN)
        switch_back_into_b();
    return NULL;
}

static void *sleep_b(void *arg)
{
    (void)arg;
    if (ending == BY_KILL) /* queued behind A's first wake-up, ahead of its second */
        CHECK_EQ(green_kill_nowait(a_g), 0);
    if (ending == BY_FOREIGN) {
        CHECK_EQ(green_sleep(0), 0); /* A is parked in its second sleep(0) now */
        switch_into_a();
    }
    return NULL;
}

static void test_parked_sleep_ends(void **state) { run_case(*state, sleep_a, sleep_b, false); }

#define SLEEP_FOREIGN                                                                              \
    {                                                                                              \
        "A's sleep: -1 EINTR", "A's next wait: ETIMEDOUT", "B's switch returned",                  \
            "A's switch back: GREEN_EXIT"                                                          \
    }
static const struct park_case sleeps[] = {
    {P, P, BY_KILL, {"A's sleep: -1 ECANCELED"}},
    {S, S, BY_KILL, {"A's sleep: -1 ECANCELED"}},
    {P, P, BY_TIMEOUT, {"A's sleep: -1 ETIMEDOUT", "A's next wait: ETIMEDOUT"}},
    {S, S, BY_TIMEOUT, {"A's sleep: -1 ETIMEDOUT", "A's next wait: ETIMEDOUT"}},
    {P, P, BY_FOREIGN, SLEEP_FOREIGN},
    {S, S, BY_FOREIGN, SLEEP_FOREIGN},
};

#define CASE(i)                                                                                    \
    cmocka_unit_test_prestate_setup_teardown(test_parked_wait_ends, events_up, events_down,       \
                                             (void *)&cases[i])
#define SLEEP(i)                                                                                   \
    cmocka_unit_test_prestate_setup_teardown(test_parked_sleep_ends, events_up, events_down,      \
                                             (void *)&sleeps[i])

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "one-region") != 0 || green_set_shared_stacks(1) != 0)) {
        fprintf(stderr, "usage: test_park [one-region]\n");
        return 2;
    }
    const struct CMUnitTest tests[] = {
        CASE(0),  CASE(1),  CASE(2),  CASE(3),  CASE(4),  CASE(5),  CASE(6),  CASE(7),  CASE(8),
        CASE(9),  CASE(10), CASE(11), SLEEP(0), SLEEP(1), SLEEP(2), SLEEP(3), SLEEP(4), SLEEP(5),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
