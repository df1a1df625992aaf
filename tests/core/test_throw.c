/* SPDX-License-Identifier: MIT */
/* Throwing: errors are never confused with values; unstarted, suspended and dead targets;
 * GREEN_EXIT as a normal finish; green_exit(). */
#include "testutil.h"

static int ran;

static void *mark_ran(void *arg)
{
    ran++;
    return arg;
}

/* Waits in a switch to main; reports what that switch returned, then returns. */
struct catch {
    int rc;
    void *got;
};

static void *catcher(void *arg)
{
    struct catch *c = arg;
    c->rc = green_switch(green_main(), NULL, &c->got);
    return (void *)(intptr_t)(c->rc + 1000);
}

static void test_throw_into_suspended(void **state)
{
    struct catch c = {-5, NULL};
    green_t *g = new_green(catcher, NULL, model_of(state), 0, NULL);
    assert_int_equal(green_switch(g, &c, NULL), 0);
    int payload;
    void *r = NULL;
    /* g catches EIO with our payload, returns EIO + 1000 as a *value* */
    assert_int_equal(green_throw(g, EIO, &payload, &r), 0);
    assert_int_equal(c.rc, EIO);
    assert_ptr_equal(c.got, &payload);
    assert_int_equal((intptr_t)r, EIO + 1000);
    green_destroy(g);
}

static void test_values_never_look_like_errors(void **state)
{
    struct catch c = {-5, NULL};
    green_t *g = new_green(catcher, NULL, model_of(state), 0, NULL);
    assert_int_equal(green_switch(g, &c, NULL), 0);
    /* a value numerically equal to an error code is still a value */
    void *r;
    assert_int_equal(green_switch(g, (void *)(intptr_t)EIO, &r), 0);
    assert_int_equal(c.rc, 0);
    assert_int_equal((intptr_t)c.got, EIO);
    green_destroy(g);
}

static void test_throw_into_unstarted_parent_is_caller(void **state)
{
    ran = 0;
    green_t *g = new_green(mark_ran, NULL, model_of(state), 0, NULL);
    int payload;
    void *r = NULL;
    /* g dies without running; the error comes back to its parent, us */
    assert_int_equal(green_throw(g, ENOENT, &payload, &r), ENOENT);
    assert_ptr_equal(r, &payload);
    assert_int_equal(ran, 0);
    assert_true(green_dead(g));
    assert_true(green_started(g)); /* as in greenlet: dead implies started */
    /* it never runs later either */
    assert_int_equal(green_switch(g, (void *)1, &r), 0);
    assert_int_equal(ran, 0);
    assert_int_equal((intptr_t)r, 1); /* went to main = us: returned at once */
    green_destroy(g);
}

static void test_throw_into_unstarted_goes_to_its_parent(void **state)
{
    ran = 0;
    struct catch c = {-5, NULL};
    green_t *p = new_green(catcher, NULL, model_of(state), 0, NULL);
    assert_int_equal(green_switch(p, &c, NULL), 0); /* p waits */
    green_t *g = new_green(mark_ran, p, !model_of(state), 0, NULL);
    void *r;
    assert_int_equal(green_throw(g, EPIPE, (void *)9, &r), 0);
    assert_int_equal(ran, 0);
    assert_int_equal(c.rc, EPIPE); /* p received the error */
    assert_int_equal((intptr_t)c.got, 9);
    assert_int_equal((intptr_t)r, EPIPE + 1000); /* p then finished to main */
    green_destroy(g);
    green_destroy(p);
}

static void test_throw_into_dead_goes_to_parent(void **state)
{
    struct catch c = {-5, NULL};
    green_t *p = new_green(catcher, NULL, model_of(state), 0, NULL);
    assert_int_equal(green_switch(p, &c, NULL), 0);
    green_t *g = new_green(mark_ran, green_main(), !model_of(state), 0, NULL);
    void *r;
    assert_int_equal(green_switch(g, NULL, &r), 0);
    assert_true(green_dead(g));
    green_set_parent(g, p);
    assert_int_equal(green_throw(g, EAGAIN, (void *)3, &r), 0);
    assert_int_equal(c.rc, EAGAIN);
    assert_int_equal((intptr_t)c.got, 3);
    green_destroy(g);
    green_destroy(p);
}

static void test_throw_to_self(void **state)
{
    (void)state;
    void *r = NULL;
    int x;
    assert_int_equal(green_throw(green_current(), ETIMEDOUT, &x, &r), ETIMEDOUT);
    assert_ptr_equal(r, &x);
}

static void test_throw_rejects_non_positive(void **state)
{
    (void)state;
    errno = 0;
    assert_int_equal(green_throw(green_current(), 0, NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_throw(green_current(), -3, NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
}

/* GREEN_EXIT into an unstarted greenlet: it dies, its parent gets the payload as a value. */
static void test_exit_into_unstarted_is_normal_finish(void **state)
{
    ran = 0;
    green_t *g = new_green(mark_ran, NULL, model_of(state), 0, NULL);
    void *r = NULL;
    assert_int_equal(green_throw(g, GREEN_EXIT, (void *)77, &r), 0);
    assert_int_equal((intptr_t)r, 77);
    assert_int_equal(ran, 0);
    assert_true(green_dead(g));
    green_destroy(g);
}

static void test_exit_into_dead_is_value(void **state)
{
    green_t *g = new_green(mark_ran, NULL, model_of(state), 0, NULL);
    void *r;
    green_switch(g, NULL, &r);
    assert_true(green_dead(g));
    assert_int_equal(green_throw(g, GREEN_EXIT, (void *)5, &r), 0);
    assert_int_equal((intptr_t)r, 5);
    green_destroy(g);
}

/* GREEN_EXIT into a suspended greenlet is an error it sees; ignoring it and returning is
 * a normal finish. */
static void test_exit_into_suspended(void **state)
{
    struct catch c = {-5, NULL};
    green_t *g = new_green(catcher, NULL, model_of(state), 0, NULL);
    green_switch(g, &c, NULL);
    void *r;
    assert_int_equal(green_throw(g, GREEN_EXIT, (void *)1, &r), 0);
    assert_int_equal(c.rc, GREEN_EXIT);
    assert_int_equal((intptr_t)r, GREEN_EXIT + 1000);
    green_destroy(g);
}

static void *exits_with(void *arg)
{
    int err = (int)(intptr_t)arg;
    green_exit(err, (void *)0x55);
    note_failure(__LINE__, "green_exit returned: %s", green_last_error());
    return NULL;
}

static void test_green_exit_error_goes_to_parent(void **state)
{
    green_t *g = new_green(exits_with, NULL, model_of(state), 0, NULL);
    void *r = NULL;
    assert_int_equal(green_switch(g, (void *)(intptr_t)EIO, &r), EIO);
    assert_int_equal((intptr_t)r, 0x55);
    assert_true(green_dead(g));
    green_destroy(g);
}

static void test_green_exit_normal(void **state)
{
    for (int err = 0; err <= 1; err++) {
        green_t *g = new_green(exits_with, NULL, model_of(state), 0, NULL);
        void *r = NULL;
        int code = err ? GREEN_EXIT : 0;
        assert_int_equal(green_switch(g, (void *)(intptr_t)code, &r), 0);
        assert_int_equal((intptr_t)r, 0x55);
        green_destroy(g);
    }
}

/* An error a greenlet ends with travels through unstarted ancestors, killing them. */
static void test_error_kills_unstarted_ancestors(void **state)
{
    ran = 0;
    green_t *gp = new_green(mark_ran, NULL, model_of(state), 0, NULL);
    green_t *p = new_green(mark_ran, gp, !model_of(state), 0, NULL);
    green_t *c = new_green(exits_with, p, model_of(state), 0, NULL);
    void *r;
    assert_int_equal(green_switch(c, (void *)(intptr_t)ENOSPC, &r), ENOSPC);
    assert_int_equal(ran, 0);
    assert_true(green_dead(p) && green_dead(gp));
    green_destroy(c);
    green_destroy(p);
    green_destroy(gp);
}

static void test_exit_from_main_refused(void **state)
{
    (void)state;
    errno = 0;
    assert_int_equal(green_exit(0, NULL), -1);
    assert_int_equal(errno, EPERM);
    assert_int_equal(green_exit(-1, NULL), -1);
    assert_int_equal(errno, EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PRIVATE_AND_SHARED(test_throw_into_suspended),
        PRIVATE_AND_SHARED(test_values_never_look_like_errors),
        PRIVATE_AND_SHARED(test_throw_into_unstarted_parent_is_caller),
        PRIVATE_AND_SHARED(test_throw_into_unstarted_goes_to_its_parent),
        PRIVATE_AND_SHARED(test_throw_into_dead_goes_to_parent),
        cmocka_unit_test(test_throw_to_self),
        cmocka_unit_test(test_throw_rejects_non_positive),
        PRIVATE_AND_SHARED(test_exit_into_unstarted_is_normal_finish),
        PRIVATE_AND_SHARED(test_exit_into_dead_is_value),
        PRIVATE_AND_SHARED(test_exit_into_suspended),
        PRIVATE_AND_SHARED(test_green_exit_error_goes_to_parent),
        PRIVATE_AND_SHARED(test_green_exit_normal),
        PRIVATE_AND_SHARED(test_error_kills_unstarted_ancestors),
        cmocka_unit_test(test_exit_from_main_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
