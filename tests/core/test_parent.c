/* SPDX-License-Identifier: MIT */
/* Parents: where a finished greenlet's value goes, dead targets, reparenting, cycles. */
#include "testutil.h"

static void *ret_arg_plus_1(void *arg) { return (void *)((intptr_t)arg + 1); }

/* Suspends once (yielding to main explicitly), then returns its argument + 100. */
static void *pause_then_return(void *arg)
{
    void *again;
    int rc = green_switch(green_main(), arg, &again);
    if (rc != 0)
        return NULL;
    return (void *)((intptr_t)again + 100);
}

struct made {
    green_t *child;
    int model;
};

static void *make_child(void *arg)
{
    struct made *m = arg;
    m->child = new_green(ret_arg_plus_1, NULL, m->model, 0, NULL);
    return NULL;
}

static void test_default_parent_is_creator(void **state)
{
    struct made m = {NULL, model_of(state)};
    green_t *g = new_green(make_child, NULL, model_of(state), 0, NULL);
    assert_ptr_equal(green_parent(g), green_main());
    assert_int_equal(green_switch(g, &m, NULL), 0);
    assert_non_null(m.child);
    assert_ptr_equal(green_parent(m.child), g); /* created inside g */
    green_destroy(m.child);
    green_destroy(g);
}

/* Finish goes to the parent even when someone else switched in last. */
static green_t *fin_parent_g;
static void *switch_to_child_then_return(void *arg)
{
    (void)arg;
    void *r = NULL;
    /* our child `c` will finish: its value comes back to us, its parent (on our stack:
     * CHECK, not a cmocka assertion) */
    CHECK_EQ(green_switch(fin_parent_g, (void *)7, &r), 0);
    return (void *)((intptr_t)r * 10);
}

static void test_finish_goes_to_parent(void **state)
{
    green_t *p = new_green(switch_to_child_then_return, NULL, model_of(state), 0, NULL);
    fin_parent_g = new_green(ret_arg_plus_1, p, !model_of(state), 0, NULL);
    void *r;
    assert_int_equal(green_switch(p, NULL, &r), 0);
    /* c got 7, returned 8 to p (its parent), p returned 80 to main */
    assert_int_equal((intptr_t)r, 80);
    assert_true(green_dead(fin_parent_g) && green_dead(p));
    green_destroy(fin_parent_g);
    green_destroy(p);
}

static void test_switch_to_dead_goes_to_live_ancestor(void **state)
{
    /* main <- a (suspended) <- b (dead) <- c (dead) */
    green_t *a = new_green(pause_then_return, NULL, model_of(state), 0, NULL);
    green_t *b = new_green(ret_arg_plus_1, a, model_of(state), 0, NULL);
    green_t *c = new_green(ret_arg_plus_1, b, !model_of(state), 0, NULL);
    void *r;
    assert_int_equal(green_switch(a, (void *)1, &r), 0); /* a paused */
    assert_int_equal((intptr_t)r, 1);
    green_set_parent(b, green_main());
    assert_int_equal(green_switch(b, (void *)2, &r), 0); /* b: 2 -> 3 to main */
    assert_int_equal((intptr_t)r, 3);
    green_set_parent(b, a);
    green_set_parent(c, green_main());
    assert_int_equal(green_switch(c, (void *)4, &r), 0);
    assert_int_equal((intptr_t)r, 5);
    green_set_parent(c, b);
    assert_true(green_dead(b) && green_dead(c));
    /* switching to dead c lands in a (the nearest live ancestor), which returns +100 */
    assert_int_equal(green_switch(c, (void *)20, &r), 0);
    assert_int_equal((intptr_t)r, 120);
    assert_true(green_dead(a));
    green_destroy(c);
    green_destroy(b);
    green_destroy(a);
}

static void test_dead_target_starts_unstarted_ancestor(void **state)
{
    green_t *a = new_green(ret_arg_plus_1, NULL, model_of(state), 0, NULL); /* never started */
    green_t *b = new_green(ret_arg_plus_1, a, !model_of(state), 0, NULL);
    green_set_parent(b, green_main());
    void *r;
    assert_int_equal(green_switch(b, (void *)1, &r), 0);
    green_set_parent(b, a);
    assert_true(green_dead(b));
    assert_false(green_started(a));
    /* a switch to dead b goes to a, which was never started: it starts with the value */
    assert_int_equal(green_switch(b, (void *)41, &r), 0);
    assert_int_equal((intptr_t)r, 42);
    assert_true(green_dead(a));
    green_destroy(b);
    green_destroy(a);
}

static void test_finish_starts_unstarted_parent(void **state)
{
    green_t *p = new_green(ret_arg_plus_1, NULL, model_of(state), 0, NULL);
    green_t *c = new_green(ret_arg_plus_1, p, !model_of(state), 0, NULL);
    void *r;
    /* c returns 11 to p, which has never run: p starts with 11 and returns 12 to main */
    assert_int_equal(green_switch(c, (void *)10, &r), 0);
    assert_int_equal((intptr_t)r, 12);
    assert_true(green_dead(c) && green_dead(p));
    green_destroy(c);
    green_destroy(p);
}

static void test_set_parent_redirects_finish(void **state)
{
    green_t *a = new_green(pause_then_return, NULL, model_of(state), 0, NULL);
    green_t *b = new_green(ret_arg_plus_1, NULL, model_of(state), 0, NULL);
    void *r;
    assert_int_equal(green_switch(a, (void *)0, &r), 0);
    assert_int_equal(green_set_parent(b, a), 0);
    assert_ptr_equal(green_parent(b), a);
    /* b's 6 goes to a (resumed in its switch, then returns 106 to main) */
    assert_int_equal(green_switch(b, (void *)5, &r), 0);
    assert_int_equal((intptr_t)r, 106);
    green_destroy(b);
    green_destroy(a);
}

static void test_cycles_refused(void **state)
{
    green_t *a = new_green(ret_arg_plus_1, NULL, model_of(state), 0, NULL);
    green_t *b = new_green(ret_arg_plus_1, a, model_of(state), 0, NULL);
    green_t *c = new_green(ret_arg_plus_1, b, model_of(state), 0, NULL);
    errno = 0;
    assert_int_equal(green_set_parent(a, a), -1);
    assert_int_equal(errno, ELOOP);
    assert_non_null(strstr(green_last_error(), "cyclic"));
    assert_int_equal(green_set_parent(a, c), -1); /* c -> b -> a */
    assert_int_equal(errno, ELOOP);
    /* nothing changed */
    assert_ptr_equal(green_parent(a), green_main());
    assert_ptr_equal(green_parent(b), a);
    assert_ptr_equal(green_parent(c), b);
    /* a legal move still works */
    assert_int_equal(green_set_parent(c, a), 0);
    assert_ptr_equal(green_parent(c), a);
    green_destroy(c);
    green_destroy(b);
    green_destroy(a);
}

static void test_set_parent_refusals(void **state)
{
    green_t *a = new_green(ret_arg_plus_1, NULL, model_of(state), 0, NULL);
    errno = 0;
    assert_int_equal(green_set_parent(green_main(), a), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_set_parent(NULL, a), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_set_parent(a, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_ptr_equal(green_parent(a), green_main());
    assert_null(green_parent(NULL));
    green_destroy(a);
}

/* A greenlet whose parent was destroyed keeps working: the finish passes through. */
static void test_destroyed_parent_is_skipped(void **state)
{
    green_t *p = new_green(ret_arg_plus_1, NULL, model_of(state), 0, NULL);
    green_t *c = new_green(pause_then_return, p, !model_of(state), 0, NULL);
    void *r;
    assert_int_equal(green_switch(c, (void *)3, &r), 0); /* c paused (switched to main) */
    assert_int_equal((intptr_t)r, 3);
    assert_int_equal(green_destroy(p), 0); /* p never ran: released, now dead */
    assert_int_equal(green_switch(c, (void *)4, &r), 0);
    assert_int_equal((intptr_t)r, 104); /* went past dead p to main */
    green_destroy(c);
}

/* A long parent chain: the value climbs through every level. */
#define DEPTH 50
static void test_deep_chain(void **state)
{
    green_t *g[DEPTH];
    green_t *parent = NULL;
    for (int i = 0; i < DEPTH; i++) {
        g[i] = new_green(ret_arg_plus_1, parent, (model_of(state) + i) % 2, 0, NULL);
        parent = g[i];
    }
    void *r;
    /* the deepest returns 1 to its parent, which starts and adds 1, ... up to main */
    assert_int_equal(green_switch(g[DEPTH - 1], (void *)0, &r), 0);
    assert_int_equal((intptr_t)r, DEPTH);
    for (int i = DEPTH - 1; i >= 0; i--) {
        assert_true(green_dead(g[i]));
        green_destroy(g[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PRIVATE_AND_SHARED(test_default_parent_is_creator),
        PRIVATE_AND_SHARED(test_finish_goes_to_parent),
        PRIVATE_AND_SHARED(test_switch_to_dead_goes_to_live_ancestor),
        PRIVATE_AND_SHARED(test_dead_target_starts_unstarted_ancestor),
        PRIVATE_AND_SHARED(test_finish_starts_unstarted_parent),
        PRIVATE_AND_SHARED(test_set_parent_redirects_finish),
        PRIVATE_AND_SHARED(test_cycles_refused),
        PRIVATE_AND_SHARED(test_set_parent_refusals),
        PRIVATE_AND_SHARED(test_destroyed_parent_is_skipped),
        PRIVATE_AND_SHARED(test_deep_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
