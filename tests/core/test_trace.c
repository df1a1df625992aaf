/* SPDX-License-Identifier: MIT */
/* The per-thread trace hook: (event, origin, target) for every switch and throw. */
#include "testutil.h"

#define MAXEV 64
struct event {
    green_trace_event_t ev;
    green_t *origin, *target, *running;
};
static struct event events[MAXEV];
static int nev;
static int hook_switch_rc, hook_switch_errno, hook_reparent_rc, hook_reparent_errno;

static void record(green_trace_event_t ev, green_t *origin, green_t *target, void *arg)
{
    if (arg == &nev && nev < MAXEV)
        events[nev++] = (struct event){ev, origin, target, green_current()};
}

static void expect(int i, green_trace_event_t ev, green_t *origin, green_t *target)
{
    assert_true(i < nev);
    assert_int_equal(events[i].ev, ev);
    assert_ptr_equal(events[i].origin, origin);
    assert_ptr_equal(events[i].target, target);
}

static void *yield_once(void *arg)
{
    green_switch(green_main(), arg, NULL);
    return arg;
}

static void *plain(void *arg) { return arg; }

/* Every test starts with `record` installed and no hook before it, and must leave it
 * installed. */
static int setup(void **state)
{
    nev = 0;
    green_trace_fn old_fn = record;
    void *old_arg = &nev;
    assert_int_equal(green_settrace(record, &nev, &old_fn, &old_arg), 0);
    assert_null(old_fn);
    assert_null(old_arg);
    return reset_failures(state);
}

static int teardown(void **state)
{
    green_trace_fn old_fn = NULL;
    void *old_arg = NULL;
    assert_int_equal(green_settrace(NULL, NULL, &old_fn, &old_arg), 0);
    assert_ptr_equal(old_fn, record);
    assert_ptr_equal(old_arg, &nev);
    return teardown_no_failures(state);
}

static void other_hook(green_trace_event_t ev, green_t *origin, green_t *target, void *arg)
{
    (void)ev, (void)origin, (void)target, (void)arg;
}

/* green_settrace reports the previous hook and arg through the pointers it is given, and
 * accepts NULL for either. */
static void test_settrace_previous(void **state)
{
    (void)state;
    int token;
    green_trace_fn old_fn = NULL;
    void *old_arg = NULL;
    assert_int_equal(green_settrace(other_hook, &token, &old_fn, &old_arg), 0);
    assert_ptr_equal(old_fn, record);
    assert_ptr_equal(old_arg, &nev);
    assert_int_equal(green_settrace(other_hook, NULL, NULL, &old_arg), 0);
    assert_ptr_equal(old_arg, &token);
    assert_int_equal(green_settrace(NULL, &token, &old_fn, NULL), 0);
    assert_ptr_equal(old_fn, other_hook);
    /* no hook: none reported, and no arg (removing a hook drops its arg) */
    old_arg = &token;
    assert_int_equal(green_settrace(record, &nev, &old_fn, &old_arg), 0);
    assert_null(old_fn);
    assert_null(old_arg);
    assert_int_equal(green_settrace(record, &nev, NULL, NULL), 0);
}

static void test_switch_events(void **state)
{
    green_t *m = green_main();
    green_t *g = new_green(yield_once, NULL, model_of(state), 0, NULL);
    green_switch(g, NULL, NULL);   /* main -> g (start), g -> main */
    green_switch(g, NULL, NULL);   /* main -> g, g finishes -> main */
    assert_int_equal(nev, 4);
    expect(0, GREEN_EVENT_SWITCH, m, g);
    expect(1, GREEN_EVENT_SWITCH, g, m);
    expect(2, GREEN_EVENT_SWITCH, m, g);
    expect(3, GREEN_EVENT_SWITCH, g, m);
    for (int i = 0; i < 4; i++) /* called on the origin, before control passes */
        assert_ptr_equal(events[i].running, events[i].origin);
    /* no event for a switch to oneself, nor for a dead target resolving to oneself */
    green_switch(m, NULL, NULL);
    green_switch(g, NULL, NULL);
    assert_int_equal(nev, 4);
    green_destroy(g);
}

static void test_throw_events(void **state)
{
    green_t *m = green_main();
    green_t *g = new_green(yield_once, NULL, model_of(state), 0, NULL);
    green_switch(g, NULL, NULL);
    nev = 0;
    green_throw(g, EIO, NULL, NULL); /* g's switch returns EIO; g finishes normally */
    assert_int_equal(nev, 2);
    expect(0, GREEN_EVENT_THROW, m, g);
    expect(1, GREEN_EVENT_SWITCH, g, m);
    green_destroy(g);
}

static void test_unstarted_dies_events(void **state)
{
    green_t *m = green_main();
    green_t *g = new_green(plain, NULL, model_of(state), 0, NULL);
    nev = 0;
    /* greenlet reports both hops: the throw into g, and g's death passing it to main */
    assert_int_equal(green_throw(g, EPERM, NULL, NULL), EPERM);
    assert_int_equal(nev, 2);
    expect(0, GREEN_EVENT_THROW, m, g);
    expect(1, GREEN_EVENT_THROW, g, m);
    /* g never ran: both hops are reported while main is still running */
    assert_ptr_equal(events[1].running, m);
    green_destroy(g);
}

static void test_destroy_events(void **state)
{
    green_t *m = green_main();
    green_t *g = new_green(yield_once, NULL, model_of(state), 0, NULL);
    green_switch(g, NULL, NULL);
    nev = 0;
    assert_int_equal(green_destroy(g), 0);
    assert_int_equal(nev, 2);
    expect(0, GREEN_EVENT_THROW, m, g); /* the kill */
    expect(1, GREEN_EVENT_SWITCH, g, m); /* its normal finish */
}

static void reentrant(green_trace_event_t ev, green_t *origin, green_t *target, void *arg)
{
    (void)ev, (void)origin, (void)arg;
    hook_switch_rc = green_switch(target, NULL, NULL);
    hook_switch_errno = errno;
    /* reparenting mid-transfer could send it somewhere unprepared: refused too */
    hook_reparent_rc = green_set_parent(target == green_main() ? origin : target, green_main());
    hook_reparent_errno = errno;
    nev++;
}

static void test_switch_inside_hook_refused(void **state)
{
    assert_int_equal(green_settrace(reentrant, &nev, NULL, NULL), 0);
    green_t *g = new_green(plain, NULL, model_of(state), 0, NULL);
    nev = 0;
    hook_switch_rc = 0;
    void *r;
    assert_int_equal(green_switch(g, (void *)3, &r), 0);
    assert_int_equal((intptr_t)r, 3);
    assert_int_equal(nev, 2);
    assert_int_equal(hook_switch_rc, -1);
    assert_int_equal(hook_switch_errno, EBUSY);
    assert_int_equal(hook_reparent_rc, -1);
    assert_int_equal(hook_reparent_errno, EBUSY);
    green_destroy(g);
    assert_int_equal(green_settrace(record, &nev, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_settrace_previous, setup, teardown),
        PRIVATE_AND_SHARED_FIXTURES(test_switch_events, setup, teardown),
        PRIVATE_AND_SHARED_FIXTURES(test_throw_events, setup, teardown),
        PRIVATE_AND_SHARED_FIXTURES(test_unstarted_dies_events, setup, teardown),
        PRIVATE_AND_SHARED_FIXTURES(test_destroy_events, setup, teardown),
        PRIVATE_AND_SHARED_FIXTURES(test_switch_inside_hook_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
