/* SPDX-License-Identifier: MIT */
/* Switching: the main greenlet, starting, values both ways, finishing, switch to self.
 * Every test runs once per stack model.  Greenlet bodies record failures with CHECK(): a
 * cmocka assertion would longjmp off the greenlet's stack. */
#include "testutil.h"

static void test_main_greenlet(void **state)
{
    (void)state;
    green_t *m = green_current();
    assert_non_null(m);
    assert_ptr_equal(m, green_main());
    assert_true(green_is_main(m));
    assert_true(green_started(m));
    assert_true(green_active(m));
    assert_false(green_dead(m));
    assert_null(green_parent(m));
    assert_string_equal(green_name(m), "main");
    assert_true(green_id(m) > 0);
    int st = green_state(m);
    assert_true(st & GREEN_CURRENT);
    assert_false(st & GREEN_SHARED);
}

static void *record_arg(void *arg)
{
    void **slot = arg;
    *slot = green_current();
    return arg;
}

static void test_not_started_until_switched(void **state)
{
    void *seen = NULL;
    green_t *g = new_green(record_arg, NULL, model_of(state), 0, NULL);
    assert_false(green_started(g));
    assert_false(green_active(g));
    assert_false(green_dead(g));
    assert_ptr_equal(green_parent(g), green_current());
    assert_int_equal(!!(green_state(g) & GREEN_SHARED), model_of(state));
    assert_null(seen);
    void *r = NULL;
    /* the first switch's value is run's argument; run's return comes back as the result */
    assert_int_equal(green_switch(g, &seen, &r), 0);
    assert_ptr_equal(seen, g);
    assert_ptr_equal(r, &seen);
    assert_true(green_started(g));
    assert_true(green_dead(g));
    assert_false(green_active(g));
    assert_int_equal(green_destroy(g), 0);
}

/* A greenlet that echoes each value it receives, incremented, back to its parent. */
static void *echo(void *arg)
{
    intptr_t v = (intptr_t)arg;
    green_t *parent = green_parent(green_current());
    while (v >= 0) {
        void *next = (void *)(intptr_t)-1;
        CHECK_EQ(green_switch(parent, (void *)(v + 1), &next), 0);
        v = (intptr_t)next;
    }
    return (void *)(intptr_t)-100;
}

static void test_values_both_ways(void **state)
{
    green_t *g = new_green(echo, NULL, model_of(state), 0, NULL);
    void *r;
    for (intptr_t i = 0; i < 1000; i++) {
        assert_int_equal(green_switch(g, (void *)(i * 3), &r), 0);
        assert_int_equal((intptr_t)r, i * 3 + 1);
        assert_true(green_active(g));
        assert_false(green_state(g) & GREEN_CURRENT);
        assert_true(green_state(green_current()) & GREEN_CURRENT);
    }
    assert_int_equal(green_switch(g, (void *)(intptr_t)-1, &r), 0);
    assert_int_equal((intptr_t)r, -100);
    assert_true(green_dead(g));
    green_destroy(g);
}

static void test_result_may_be_null(void **state)
{
    green_t *g = new_green(echo, NULL, model_of(state), 0, NULL);
    assert_int_equal(green_switch(g, (void *)1, NULL), 0);
    assert_int_equal(green_switch(g, (void *)2, NULL), 0);
    void *r;
    assert_int_equal(green_switch(g, (void *)5, &r), 0);
    assert_int_equal((intptr_t)r, 6);
    assert_int_equal(green_switch(g, (void *)(intptr_t)-1, NULL), 0);
    assert_true(green_dead(g));
    green_destroy(g);
}

static void test_switch_to_self(void **state)
{
    (void)state;
    void *r = NULL;
    assert_int_equal(green_switch(green_current(), (void *)42, &r), 0);
    assert_int_equal((intptr_t)r, 42);
}

static void *self_switcher(void *arg)
{
    void *r = NULL;
    CHECK_EQ(green_switch(green_current(), arg, &r), 0);
    CHECK(r == arg);
    return (void *)((intptr_t)r + 1);
}

static void test_switch_to_self_inside(void **state)
{
    green_t *g = new_green(self_switcher, NULL, model_of(state), 0, NULL);
    void *r;
    assert_int_equal(green_switch(g, (void *)10, &r), 0);
    assert_int_equal((intptr_t)r, 11);
    green_destroy(g);
}

/* greenlet's introductory test1/test2 (examples/seed_switch.c), recording the order of
 * the four prints. */
static int seed_log[8], seed_n;
static green_t *gr1, *gr2;

static void *seed_test1(void *arg)
{
    (void)arg;
    seed_log[seed_n++] = 12;
    green_switch(gr2, NULL, NULL);
    seed_log[seed_n++] = 34;
    return NULL;
}

static void *seed_test2(void *arg)
{
    (void)arg;
    seed_log[seed_n++] = 56;
    green_switch(gr1, NULL, NULL);
    seed_log[seed_n++] = 78;
    return NULL;
}

static void test_seed_example(void **state)
{
    seed_n = 0;
    gr1 = new_green(seed_test1, NULL, model_of(state), 0, NULL);
    gr2 = new_green(seed_test2, NULL, model_of(state), 0, NULL);
    green_switch(gr1, NULL, NULL);
    /* test1 finished: back in main with 78 not yet printed */
    assert_int_equal(seed_n, 3);
    assert_true(green_dead(gr1));
    assert_true(green_active(gr2));
    green_switch(gr2, NULL, NULL);
    int expect[] = {12, 56, 34, 78};
    assert_int_equal(seed_n, 4);
    assert_memory_equal(seed_log, expect, sizeof expect);
    green_destroy(gr1);
    green_destroy(gr2);
}

/* Ring of greenlets passing a token around: exercises switching between non-main
 * greenlets in both directions. */
#define RING 7
static green_t *ring[RING];

static void *ring_member(void *arg)
{
    intptr_t me = (intptr_t)arg;
    void *tok = NULL;
    /* the first switch only started us: wait for the token */
    CHECK_EQ(green_switch(green_parent(green_current()), NULL, &tok), 0);
    for (;;) {
        intptr_t t = (intptr_t)tok;
        if (t >= 700)
            return (void *)t;
        CHECK_EQ(t % RING, me);
        int rc = green_switch(ring[(me + 1) % RING], (void *)(t + 1), &tok);
        if (rc == GREEN_EXIT) /* killed by green_destroy */
            return NULL;
        if (rc != 0) { /* a broken ring would spin: leave it */
            note_failure(__LINE__, "ring switch returned %d", rc);
            return NULL;
        }
    }
}

static void test_ring(void **state)
{
    for (intptr_t i = 0; i < RING; i++) {
        ring[i] = new_green(ring_member, NULL, (int)((model_of(state) + i) % 2), 0, NULL);
        assert_int_equal(green_switch(ring[i], (void *)i, NULL), 0);
    }
    void *r;
    assert_int_equal(green_switch(ring[0], (void *)0, &r), 0);
    assert_int_equal((intptr_t)r, 700); /* ring[0] saw 700 first and finished */
    assert_true(green_dead(ring[0]));
    for (int i = 0; i < RING; i++)
        assert_int_equal(green_destroy(ring[i]), 0);
}

static void *returns_id(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)green_id(green_current());
}

static void test_ids_unique(void **state)
{
    uint64_t prev = 0;
    for (int i = 0; i < 100; i++) {
        green_t *g = new_green(returns_id, NULL, model_of(state), 0, NULL);
        void *r;
        assert_int_equal(green_switch(g, NULL, &r), 0);
        assert_int_equal((uint64_t)(uintptr_t)r, green_id(g));
        assert_true(green_id(g) != prev);
        assert_true(green_id(g) != green_id(green_main()));
        prev = green_id(g);
        green_destroy(g);
    }
}

static void test_names(void **state)
{
    char name[] = "worker-1";
    green_t *g = new_green(returns_id, NULL, model_of(state), 0, name);
    name[0] = 'X'; /* the name was copied */
    assert_string_equal(green_name(g), "worker-1");
    assert_int_equal(green_set_name(g, "renamed"), 0);
    assert_string_equal(green_name(g), "renamed");
    assert_int_equal(green_set_name(g, NULL), 0);
    assert_null(green_name(g));
    green_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_main_greenlet),
        PRIVATE_AND_SHARED(test_not_started_until_switched),
        PRIVATE_AND_SHARED(test_values_both_ways),
        PRIVATE_AND_SHARED(test_result_may_be_null),
        cmocka_unit_test(test_switch_to_self),
        PRIVATE_AND_SHARED(test_switch_to_self_inside),
        PRIVATE_AND_SHARED(test_seed_example),
        PRIVATE_AND_SHARED(test_ring),
        PRIVATE_AND_SHARED(test_ids_unique),
        PRIVATE_AND_SHARED(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
