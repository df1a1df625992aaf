/* SPDX-License-Identifier: MIT */
/* green_hub_shutdown: live greenlets are killed (their cleanup runs), unstarted ones never
 * run, the hub can be made again; and misuse: shutdown from a greenlet, blocking calls
 * from the hub itself (a libev watcher's callback). */
#include <ev.h>

#include "hubtest.h"

static green_event_t *ev;

static void *cleanup_on_kill(void *arg)
{
    const char *n = arg;
    int rc = *n == 'E' ? green_event_wait(ev, GREEN_FOREVER) : green_sleep(100);
    CHECK(rc == -1 && errno == ECANCELED);
    if (*n == 'E') /* the wait unlinked itself: the event is idle again */
        CHECK_EQ(green_event_destroy(ev), 0);
    CHECK_FAILS(green_sleep(0), ECANCELED);
    say("%s cleanup", n);
    return NULL;
}

static void test_shutdown_kills(void **state)
{
    (void)state;
    ev = green_event_new();
    green_t *e = SPAWN(cleanup_on_kill, "E");
    SPAWN(cleanup_on_kill, "S"); /* handle kept: shutdown frees the record anyway */
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_release(SPAWN(say_arg, "unstarted (never)")), 0);
    assert_non_null(green_spawn_later(100, say_arg, "later (never)", NULL));
    assert_int_equal(green_release(e), 0);
    CHECK_FAILS(green_event_destroy(ev), EBUSY); /* E waits on it */
    assert_int_equal(green_hub_shutdown(), 0);
    assert_order("S cleanup", "E cleanup");
    assert_int_equal(green_hub_shutdown(), 0); /* no hub: nothing to do */
    assert_no_failures();
}

/* Main had a LoopExit, a greenlet still blocks: shutdown still kills it (regression: the
 * hub, resumed at its loop's top, used to return at once and shutdown failed with EBUSY). */
static void *blocked_forever(void *arg)
{
    CHECK_FAILS(green_event_wait(arg, GREEN_FOREVER), ECANCELED);
    CHECK_EQ(green_event_destroy(arg), 0);
    say("B cleanup");
    return NULL;
}

static void test_shutdown_after_loopexit(void **state)
{
    (void)state;
    green_t *b = SPAWN(blocked_forever, green_event_new());
    CHECK_FAILS(green_join(b, GREEN_FOREVER, NULL), EDEADLK);
    assert_int_equal(green_hub_shutdown(), 0);
    assert_order("B cleanup");
    assert_no_failures();
}

/* A dying greenlet's cleanup spawns more: shutdown kills those too (regression: they ran,
 * blocked for good, and shutdown failed with EBUSY). */
static void *late(void *arg)
{
    CHECK_FAILS(green_sleep(100), ECANCELED);
    say("%s killed", (const char *)arg);
    return NULL;
}

static void *spawns_in_cleanup(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_sleep(100), ECANCELED);
    CHECK_EQ(green_release(SPAWN(late, "unstarted (never)")), 0);
    CHECK_EQ(green_release(green_spawn_later(100, late, "later (never)", NULL)), 0);
    say("A cleanup");
    return NULL;
}

static void *starts_late_child(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_sleep(100), ECANCELED);
    green_t *child = SPAWN(late, "child");
    CHECK_FAILS(green_join(child, GREEN_FOREVER, NULL), ECANCELED);
    CHECK_EQ(green_release(child), 0);
    say("B cleanup");
    return NULL;
}

static void test_shutdown_kills_late_spawns(void **state)
{
    (void)state;
    green_release(SPAWN(spawns_in_cleanup, NULL));
    green_release(SPAWN(starts_late_child, NULL));
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_hub_shutdown(), 0);
    /* killed newest first; the child had started meanwhile, A's spawns had not */
    assert_order("B cleanup", "A cleanup", "child killed");
    assert_no_failures();
}

/* The death notifications of what shutdown kills run before the hub goes: a group's
 * members leave it (regression: they stayed, their records freed, and the group could not
 * be destroyed), and a link added by the program is called. */
static void *sleep_long(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_sleep(100), ECANCELED);
    return NULL;
}

static void note_death(green_t *g, void *arg)
{
    (void)g;
    say("%s linked", (const char *)arg);
}

static void test_shutdown_runs_death_notifications(void **state)
{
    (void)state;
    green_group_t *grp = green_group_new();
    assert_non_null(grp);
    for (int i = 0; i < 3; i++)
        assert_non_null(green_group_spawn(grp, sleep_long, NULL, NULL, GREEN_FOREVER));
    green_t *g = SPAWN(sleep_long, NULL);
    assert_int_equal(green_link(g, note_death, "L"), 0);
    assert_int_equal(green_sleep(0), 0); /* all four sleep now */
    assert_int_equal(green_group_size(grp), 3);
    assert_int_equal(green_hub_shutdown(), 0);
    assert_int_equal(green_group_size(grp), 0);
    assert_int_equal(green_group_destroy(grp), 0);
    assert_order("L linked");
    assert_no_failures();
}

/* After a shutdown the next call makes a new hub, which works as the first did. */
static void test_hub_recreated(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        green_t *hub = green_hub();
        assert_non_null(hub);
        assert_int_equal(green_hub_set_time_budget(false), 0);
        green_t *g = SPAWN(say_arg, "G");
        assert_ptr_equal(green_parent(g), hub);
        assert_int_equal(green_join(g, GREEN_FOREVER, NULL), 0);
        assert_int_equal(green_release(g), 0);
        assert_int_equal(green_sleep(0.001), 0);
        assert_int_equal(green_hub_shutdown(), 0);
    }
    assert_order("G", "G", "G");
    assert_no_failures();
}

static void *try_shutdown(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_hub_shutdown(), EPERM);
    say("refused");
    return NULL;
}

static void test_shutdown_from_greenlet(void **state)
{
    (void)state;
    green_t *g = SPAWN(try_shutdown, NULL);
    assert_int_equal(green_join(g, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_release(g), 0);
    assert_order("refused");
    assert_no_failures();
}

/* ---- blocking from the hub: every call refuses with EPERM ----------------------------- */

struct hub_misuse {
    green_event_t *e;
    green_result_t *r;
    green_sem_t *s;
    green_lock_t *l;
    green_queue_t *q;
    green_t *g;
    int ran;
};

static void on_watcher(void *arg)
{
    struct hub_misuse *m = arg;
    m->ran++;
    CHECK_FAILS(green_sleep(0), EPERM);
    CHECK_FAILS(green_sleep(1), EPERM);
    CHECK_FAILS(green_event_wait(m->e, 0), EPERM);
    CHECK_FAILS(green_result_get(m->r, GREEN_FOREVER, NULL), EPERM);
    CHECK_FAILS(green_sem_acquire(m->s, GREEN_FOREVER), EPERM);
    CHECK_FAILS(green_lock_acquire(m->l, GREEN_FOREVER), EPERM); /* held by main */
    CHECK_FAILS(green_queue_get(m->q, GREEN_FOREVER, NULL), EPERM);
    CHECK_FAILS(green_join(m->g, GREEN_FOREVER, NULL), EPERM);
    CHECK_FAILS(green_kill(m->g, GREEN_FOREVER), EPERM);
    CHECK_NULL(green_timeout_start(1), EPERM);
    CHECK_FAILS(green_hub_shutdown(), EPERM);
    CHECK_FAILS(green_lock_release(m->l), EPERM); /* the hub is not the owner */
    /* what never blocks is allowed */
    CHECK_EQ(green_queue_put(m->q, m, 0), 0);
    CHECK_EQ(green_event_set(m->e), 0);
}

static void *wait_event(void *arg)
{
    CHECK_EQ(green_event_wait(arg, GREEN_FOREVER), 0);
    say("woken by the watcher's set");
    return NULL;
}

static void test_blocking_from_hub(void **state)
{
    (void)state;
    struct hub_misuse m = {.e = green_event_new(), .r = green_result_new(),
                           .s = green_sem_new(0, false), .l = green_lock_new(),
                           .q = green_queue_new(1)};
    assert_int_equal(green_lock_acquire(m.l, 0), 0);
    m.g = SPAWN(wait_event, m.e);
    struct hub_call w;
    hub_call_start(&w, 0.001, on_watcher, &m);
    assert_int_equal(green_join(m.g, GREEN_FOREVER, NULL), 0);
    assert_int_equal(m.ran, 1);
    assert_order("woken by the watcher's set");
    void *item = NULL;
    assert_int_equal(green_queue_try_get(m.q, &item), 0);
    assert_ptr_equal(item, &m);
    assert_int_equal(green_lock_release(m.l), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_destroy(m.e), 0);
    assert_int_equal(green_result_destroy(m.r), 0);
    assert_int_equal(green_sem_destroy(m.s), 0);
    assert_int_equal(green_lock_destroy(m.l), 0);
    assert_int_equal(green_queue_destroy(m.q), 0);
    assert_int_equal(green_release(m.g), 0);
    assert_no_failures();
}

/* A raw green_switch into a parked greenlet is not the hub's: its call fails with EINTR. */
static void *parked(void *arg)
{
    CHECK_FAILS(green_event_wait(arg, GREEN_FOREVER), EINTR);
    say("EINTR");
    return NULL;
}

static void test_foreign_switch(void **state)
{
    (void)state;
    green_event_t *e = green_event_new();
    green_t *g = SPAWN(parked, e);
    assert_int_equal(green_sleep(0), 0);
    /* g dies into its parent, the hub, which finds nothing left to run and throws LoopExit
     * into main, where main is: in this raw switch */
    assert_int_equal(green_switch(g, NULL, NULL), GREEN_LOOP_EXIT);
    assert_true(green_ready(g));
    assert_int_equal(green_join(g, GREEN_FOREVER, NULL), 0);
    assert_order("EINTR");
    assert_int_equal(green_release(g), 0);
    assert_int_equal(green_event_destroy(e), 0);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_shutdown_kills),
        HUB_TEST(test_shutdown_after_loopexit),
        HUB_TEST(test_shutdown_kills_late_spawns),
        HUB_TEST(test_shutdown_runs_death_notifications),
        HUB_TEST(test_hub_recreated),
        HUB_TEST(test_shutdown_from_greenlet),
        HUB_TEST(test_blocking_from_hub),
        HUB_TEST(test_foreign_switch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
