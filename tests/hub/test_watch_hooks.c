/* SPDX-License-Identifier: MIT */
/* Idle, prepare, check and cleanup hooks: their order within one loop iteration, removal
 * while they run, which keep the hub alive, cleanup at shutdown, refusals. */
#include "hubtest.h"

static green_event_t *ev;
static green_hook_t *hooks[4];

static void named(void *arg) { say("%s", (const char *)arg); }

static void idle_once(void *arg)
{
    say("%s", (const char *)arg);
    CHECK_EQ(green_event_set(ev), 0);
    CHECK_EQ(green_hook_remove(hooks[3]), 0); /* itself */
}

static void test_iteration_order(void **state)
{
    (void)state;
    ev = green_event_new();
    hooks[0] = green_hook_add(GREEN_HOOK_PREPARE, named, "P1");
    hooks[1] = green_hook_add(GREEN_HOOK_PREPARE, named, "P2");
    hooks[2] = green_hook_add(GREEN_HOOK_CHECK, named, "C1");
    hooks[3] = green_hook_add(GREEN_HOOK_IDLE, idle_once, "I1");
    for (int i = 0; i < 4; i++)
        assert_non_null(hooks[i]);
    /* Nothing but the idle hook can set ev: it keeps the hub alive, so no EDEADLK.  The
     * wake-up it queues runs in the next iteration, after that iteration's prepare hooks. */
    assert_int_equal(green_event_wait(ev, GREEN_FOREVER), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(green_hook_remove(hooks[i]), 0);
    assert_no_failures();
    assert_order("P1", "P2", "C1", "I1", "P1", "P2");
    assert_int_equal(green_sleep(0), 0); /* main was woken inside the notifier: let it end */
    assert_int_equal(green_event_destroy(ev), 0);
}

static void remove_next(void *arg)
{
    say("%s", (const char *)arg);
    if (hooks[1]) {
        CHECK_EQ(green_hook_remove(hooks[1]), 0);
        hooks[1] = NULL;
    }
}

/* Let the hub finish this loop iteration and run the next one up to its I/O: a wait for
 * an fd that is always ready returns from the I/O phase of the following iteration. */
static int writable[2];
static void next_iteration(void)
{
    CHECK_EQ(green_wait_fd(writable[1], GREEN_WRITE, GREEN_FOREVER), GREEN_WRITE);
}

static void test_remove_while_running(void **state)
{
    (void)state;
    assert_int_equal(pipe(writable), 0);
    hooks[0] = green_hook_add(GREEN_HOOK_PREPARE, remove_next, "P1");
    hooks[1] = green_hook_add(GREEN_HOOK_PREPARE, named, "P2");
    hooks[2] = green_hook_add(GREEN_HOOK_PREPARE, named, "P3");
    next_iteration();
    say("main");
    assert_int_equal(green_hook_remove(hooks[0]), 0);
    next_iteration();
    assert_int_equal(green_hook_remove(hooks[2]), 0);
    next_iteration();
    assert_no_failures();
    assert_order("P1", "P3", "main", "P3");
    close(writable[0]);
    close(writable[1]);
}

static void test_hooks_do_not_keep_the_hub_alive(void **state)
{
    (void)state;
    ev = green_event_new();
    assert_non_null(green_hook_add(GREEN_HOOK_PREPARE, named, "P"));
    assert_non_null(green_hook_add(GREEN_HOOK_CHECK, named, "C"));
    assert_non_null(green_hook_add(GREEN_HOOK_CLEANUP, named, "CL"));
    CHECK_FAILS(green_event_wait(ev, GREEN_FOREVER), EDEADLK);
    assert_int_equal(green_event_destroy(ev), 0);
    assert_no_failures();
    /* the hooks are left to shutdown (the cleanup hook runs then) */
}

static void *blocked(void *arg)
{
    (void)arg;
    int rc = green_event_wait(ev, GREEN_FOREVER);
    say("G %d %s", rc, errno == ECANCELED ? "ECANCELED" : "?");
    return NULL;
}

static green_async_t *async;

static void cleanup_destroys(void *arg)
{
    say("%s", (const char *)arg);
    CHECK_EQ(green_async_destroy(async), 0); /* the hub's objects still exist */
    CHECK_EQ(green_event_destroy(ev), 0);
}

static void nop(void *arg) { (void)arg; }

static void test_cleanup_at_shutdown(void **state)
{
    ev = green_event_new();
    async = green_async_new(nop, NULL);
    green_t *g = SPAWN_MODEL(blocked, NULL, model_of(state));
    assert_non_null(green_hook_add(GREEN_HOOK_CLEANUP, cleanup_destroys, "CL1"));
    assert_non_null(green_hook_add(GREEN_HOOK_CLEANUP, named, "CL2"));
    hooks[0] = green_hook_add(GREEN_HOOK_CLEANUP, named, "CL3");
    assert_int_equal(green_hook_remove(hooks[0]), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_release(g), 0);
    assert_int_equal(green_hub_shutdown(), 0);
    assert_no_failures();
    assert_order("G -1 ECANCELED", "CL2", "CL1");
}

static void prepare_blocks(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_sleep(0), EPERM);
}

static void test_refusals(void **state)
{
    (void)state;
    assert_null(green_hook_add(GREEN_HOOK_IDLE, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(green_hook_add((enum green_hook_kind)9, named, NULL));
    assert_int_equal(errno, EINVAL);
    CHECK_FAILS(green_hook_remove(NULL), EINVAL);
    green_hook_t *hk = green_hook_add(GREEN_HOOK_PREPARE, prepare_blocks, NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_hook_remove(hk), 0);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_iteration_order),
        HUB_TEST(test_remove_while_running),
        HUB_TEST(test_hooks_do_not_keep_the_hub_alive),
        HUB_TEST_MODELS(test_cleanup_at_shutdown),
        HUB_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
