/* SPDX-License-Identifier: MIT */
/* Destroying: unstarted greenlets never run, suspended ones are killed and clean up, the
 * current and main ones are refused, survivors are reported, double destroy aborts. */
#include "testutil.h"

static int ran, cleaned, seen_rc;

static void *mark_ran(void *arg)
{
    ran++;
    return arg;
}

/* Waits; on GREEN_EXIT it runs its cleanup and finishes. */
static void *with_cleanup(void *arg)
{
    (void)arg;
    char *resource = malloc(64); /* would leak (valgrind/ASAN) if cleanup did not run */
    strcpy(resource, "held");
    for (;;) {
        seen_rc = green_switch(green_main(), NULL, NULL);
        if (seen_rc == GREEN_EXIT)
            break;
    }
    free(resource);
    cleaned++;
    return (void *)0xdead; /* discarded by green_destroy */
}

static void test_destroy_unstarted(void **state)
{
    ran = 0;
    green_t *g = new_green(mark_ran, NULL, model_of(state), 0, NULL);
    assert_int_equal(green_destroy(g), 0);
    assert_int_equal(ran, 0);
}

static void test_destroy_dead(void **state)
{
    green_t *g = new_green(mark_ran, NULL, model_of(state), 0, NULL);
    green_switch(g, NULL, NULL);
    assert_true(green_dead(g));
    assert_int_equal(green_destroy(g), 0);
}

static void test_destroy_kills_suspended(void **state)
{
    cleaned = 0;
    seen_rc = -1;
    green_t *g = new_green(with_cleanup, NULL, model_of(state), 0, NULL);
    assert_int_equal(green_switch(g, NULL, NULL), 0);
    assert_true(green_active(g));
    assert_int_equal(green_destroy(g), 0);
    assert_int_equal(seen_rc, GREEN_EXIT);
    assert_int_equal(cleaned, 1);
}

/* The kill's finish comes back to the destroyer even if the victim's parent is another
 * greenlet, and the destroyer is not the main greenlet. */
static green_t *victim;
static void *destroyer(void *arg)
{
    (void)arg;
    int rc = green_destroy(victim);
    return (void *)(intptr_t)(rc == 0 ? 1 : -errno);
}

static void test_destroy_from_other_greenlet(void **state)
{
    cleaned = 0;
    green_t *other = new_green(mark_ran, NULL, model_of(state), 0, NULL); /* never runs */
    victim = new_green(with_cleanup, other, !model_of(state), 0, NULL);
    assert_int_equal(green_switch(victim, NULL, NULL), 0);
    ran = 0;
    green_t *d = new_green(destroyer, NULL, model_of(state), 0, NULL);
    void *r;
    assert_int_equal(green_switch(d, NULL, &r), 0);
    assert_int_equal((intptr_t)r, 1);
    assert_int_equal(cleaned, 1);
    assert_int_equal(ran, 0); /* the victim's parent was not started by the kill */
    assert_false(green_started(other));
    green_destroy(d);
    green_destroy(other);
}

/* A suspended ancestor of the current greenlet can be destroyed. */
static green_t *ancestor;
static void *kill_ancestor(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)green_destroy(ancestor);
}

static void test_destroy_suspended_ancestor(void **state)
{
    cleaned = 0;
    ancestor = new_green(with_cleanup, NULL, model_of(state), 0, NULL);
    assert_int_equal(green_switch(ancestor, NULL, NULL), 0);
    green_t *child = new_green(kill_ancestor, ancestor, !model_of(state), 0, NULL);
    void *r;
    /* child kills its suspended parent, then finishes: the parent is dead, so the value
     * goes on to main */
    assert_int_equal(green_switch(child, NULL, &r), 0);
    assert_int_equal((intptr_t)r, 0);
    assert_int_equal(cleaned, 1);
    green_destroy(child);
}

/* Refuses to die: switches back to main when killed. */
static void *stubborn(void *arg)
{
    (void)arg;
    int rc;
    do
        rc = green_switch(green_main(), NULL, NULL);
    while (rc != GREEN_EXIT);
    rc = green_switch(green_main(), (void *)1, NULL); /* ignores the first kill */
    return NULL;
}

static void test_survivor_is_reported(void **state)
{
    green_t *g = new_green(stubborn, NULL, model_of(state), 0, NULL);
    green_switch(g, NULL, NULL);
    errno = 0;
    assert_int_equal(green_destroy(g), -1);
    assert_int_equal(errno, EBUSY);
    assert_non_null(strstr(green_last_error(), "did not die"));
    assert_true(green_active(g)); /* still ours */
    /* a second kill finishes it */
    assert_int_equal(green_destroy(g), 0);
}

/* While the victim cleans up it throws into its destroyer: the destroyer's wait is
 * interrupted (EINTR) and it still owns the victim. */
static green_t *thrower_target;
static void *throws_at_destroyer(void *arg)
{
    (void)arg;
    int rc = green_switch(green_main(), NULL, NULL);
    if (rc == GREEN_EXIT) {
        green_throw(thrower_target, EIO, NULL, NULL);
    }
    return NULL;
}

static void *destroy_and_report(void *arg)
{
    green_t *v = arg;
    int rc = green_destroy(v);
    return (void *)(intptr_t)(rc == 0 ? 0 : errno);
}

static void test_destroy_interrupted(void **state)
{
    green_t *v = new_green(throws_at_destroyer, NULL, model_of(state), 0, NULL);
    green_switch(v, NULL, NULL);
    green_t *d = new_green(destroy_and_report, NULL, !model_of(state), 0, NULL);
    thrower_target = d;
    void *r;
    assert_int_equal(green_switch(d, v, &r), 0);
    assert_int_equal((intptr_t)r, EINTR);
    assert_true(green_active(v)); /* suspended in its throw */
    assert_int_equal(green_destroy(v), 0);
    green_destroy(d);
}

static void test_refusals(void **state)
{
    (void)state;
    errno = 0;
    assert_int_equal(green_destroy(NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_destroy(green_main()), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_destroy(green_current()), -1);
    assert_int_equal(errno, EINVAL); /* main: EINVAL takes precedence */
}

static void *destroy_self(void *arg)
{
    (void)arg;
    int rc = green_destroy(green_current());
    return (void *)(intptr_t)(rc == -1 && errno == EBUSY);
}

static void test_destroy_current_refused(void **state)
{
    green_t *g = new_green(destroy_self, NULL, model_of(state), 0, NULL);
    void *r;
    green_switch(g, NULL, &r);
    assert_int_equal((intptr_t)r, 1);
    green_destroy(g);
}

static void double_destroy(void *arg)
{
    green_t *g = green_new(mark_ran, NULL, arg);
    green_destroy(g);
    green_destroy(g);
}

static void test_double_destroy_aborts(void **state)
{
    green_attr_t a = GREEN_ATTR_INIT;
    a.stack_model = model_of(state);
    assert_child_aborts(double_destroy, &a, "double destroy");
}

static void use_after_destroy(void *arg)
{
    green_t *g = green_new(mark_ran, NULL, arg);
    green_destroy(g);
    green_switch(g, NULL, NULL);
}

static void test_use_after_destroy_aborts(void **state)
{
    green_attr_t a = GREEN_ATTR_INIT;
    a.stack_model = model_of(state);
    assert_child_aborts(use_after_destroy, &a, "use after green_destroy");
}

/* Children keep a destroyed (dead) parent alive as a record, then release it. */
static void test_parent_released_after_children(void **state)
{
    green_t *p = new_green(mark_ran, NULL, model_of(state), 0, NULL);
    green_t *kids[10];
    for (int i = 0; i < 10; i++)
        kids[i] = new_green(mark_ran, p, !model_of(state), 0, NULL);
    assert_int_equal(green_destroy(p), 0);
    for (int i = 0; i < 10; i++) {
        /* p's handle is gone: green_parent() names the nearest ancestor still owned */
        assert_ptr_equal(green_parent(kids[i]), green_main());
        void *r;
        /* p is dead: each kid's value goes to main */
        assert_int_equal(green_switch(kids[i], (void *)(intptr_t)i, &r), 0);
        assert_int_equal((intptr_t)r, i);
        assert_int_equal(green_destroy(kids[i]), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PRIVATE_AND_SHARED(test_destroy_unstarted),
        PRIVATE_AND_SHARED(test_destroy_dead),
        PRIVATE_AND_SHARED(test_destroy_kills_suspended),
        PRIVATE_AND_SHARED(test_destroy_from_other_greenlet),
        PRIVATE_AND_SHARED(test_destroy_suspended_ancestor),
        PRIVATE_AND_SHARED(test_survivor_is_reported),
        PRIVATE_AND_SHARED(test_destroy_interrupted),
        cmocka_unit_test(test_refusals),
        PRIVATE_AND_SHARED(test_destroy_current_refused),
        PRIVATE_AND_SHARED(test_double_destroy_aborts),
        PRIVATE_AND_SHARED(test_use_after_destroy_aborts),
        PRIVATE_AND_SHARED(test_parent_released_after_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
