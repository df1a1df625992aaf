/* SPDX-License-Identifier: MIT */
/* The start hand-off (src/hub/start_handoff.c): a join of a task not started yet, while
 * the hub would only finish its callback and start that task, switches straight into it.
 * gevent's order must not change (each expected order is what gevent 22.10 prints for the
 * Python in the comment); the hub must still run when something else is due first: another
 * callback, the rest of a notifier, the time budget's look at the clock, a timeout.  Both
 * stack models. */
#include <time.h>

#include "hubtest.h"

static int model;

static green_t *spawn_m(green_fn fn, void *arg) { return SPAWN_MODEL(fn, arg, model); }

static void *say_ret(void *arg)
{
    say("%s", (const char *)arg);
    return arg;
}

/* Joins from main after its own sleep(0) (run_wake's resume: its last act), and from a
 * spawned greenlet started by run_start, nested three deep: the values come back. */
static void *join_child(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    if (depth == 0)
        return (void *)(intptr_t)100;
    green_t *c = spawn_m(join_child, (void *)(depth - 1));
    void *r = NULL;
    CHECK_EQ(green_join(c, GREEN_FOREVER, &r), 0);
    CHECK_EQ(green_release(c), 0);
    return (void *)((intptr_t)r + 1);
}

static void test_values(void **state)
{
    model = model_of(state);
    for (int i = 0; i < 100; i++) {
        CHECK_EQ(green_sleep(0), 0);
        green_t *g = spawn_m(join_child, (void *)(intptr_t)3);
        void *r = NULL;
        CHECK_EQ(green_join(g, GREEN_FOREVER, &r), 0);
        CHECK_EQ((intptr_t)r, 103);
        CHECK_EQ(green_release(g), 0);
    }
    assert_no_failures();
}

/* Another start ahead of the joined task's runs first.
 *   b = spawn(f, "B"); a = spawn(f, "A"); a.join(); say(...); b.join(); say(...) */
static void test_other_start_first(void **state)
{
    model = model_of(state);
    CHECK_EQ(green_sleep(0), 0);
    green_t *b = spawn_m(say_ret, "B"), *a = spawn_m(say_ret, "A");
    JOIN(a);
    say("main joined A");
    JOIN(b);
    say("main joined B");
    assert_order("B", "A", "main joined A", "main joined B");
    assert_no_failures();
}

/* The previous task's notifier has a joiner left after main: it runs before the start.
 *   def slow(): sleep(0); say("slow ends")
 *   def X(t): t.join(); say("X joined")
 *   t = spawn(slow); x = spawn(X, t); t.join(); say("main joined t")
 *   u = spawn(f, "u"); u.join(); say("main joined u"); x.join() */
static void *sleep_say(void *arg)
{
    CHECK_EQ(green_sleep(0), 0);
    say("%s ends", (const char *)arg);
    return arg;
}

static void *join_x(void *arg)
{
    CHECK_EQ(green_join(arg, GREEN_FOREVER, NULL), 0);
    say("X joined");
    return NULL;
}

static void test_notifier_rest_first(void **state)
{
    model = model_of(state);
    green_t *t = spawn_m(sleep_say, "slow");
    green_t *x = spawn_m(join_x, t);
    CHECK_EQ(green_join(t, GREEN_FOREVER, NULL), 0);
    say("main joined t");
    green_t *u = spawn_m(say_ret, "u");
    JOIN(u);
    say("main joined u");
    JOIN(x);
    CHECK_EQ(green_release(t), 0);
    assert_order("slow ends", "main joined t", "X joined", "u", "main joined u");
    assert_no_failures();
}

/* A task started by the hand-off that blocks: the hub, suspended elsewhere, serves it and
 * the join's own timeout. */
static green_event_t *never;

static void *wait_never(void *arg)
{
    (void)arg;
    CHECK_EQ(green_event_wait(never, GREEN_FOREVER), 0);
    return NULL;
}

static void test_started_task_blocks(void **state)
{
    model = model_of(state);
    assert_non_null(never = green_event_new());
    green_t *g = spawn_m(say_ret, "first");
    JOIN(g); /* a death hand-off is pending now: the next join starts its task itself */
    green_t *w = spawn_m(wait_never, NULL);
    CHECK_FAILS(green_join(w, 0.001, NULL), ETIMEDOUT);
    CHECK_EQ(green_event_set(never), 0);
    JOIN(w);
    CHECK_EQ(green_event_destroy(never), 0);
    assert_order("first");
    assert_no_failures();
}

/* The time budget (on here, as by default): a chain of spawn + join never needs the hub,
 * yet every 50 callbacks the drain must look at the clock, and after 5 ms a due timer
 * fires: the sleeper wakes while main is still spawning.  (Without the budget's check the
 * loop would run the whole second and the sleeper only after it.) */
static bool woke;

static void *sleeper(void *arg)
{
    (void)arg;
    CHECK_EQ(green_sleep(0.001), 0);
    woke = true;
    return NULL;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *nothing(void *arg) { return arg; }

static void test_time_budget(void **state)
{
    model = model_of(state);
    CHECK_EQ(green_hub_set_time_budget(true), 0);
    woke = false;
    green_t *s = spawn_m(sleeper, NULL);
    CHECK_EQ(green_sleep(0), 0); /* the sleeper's timer runs */
    double end = cpu_seconds() + 1.0;
    long n = 0;
    while (!woke && cpu_seconds() < end) {
        green_t *g = spawn_m(nothing, NULL);
        JOIN(g);
        n++;
    }
    assert_true(woke);
    assert_true(n > 0);
    JOIN(s);
    assert_no_failures();
}

/* With a trace hook every switch goes through the hub. */
static void test_trace_hook(void **state)
{
    model = model_of(state);
    green_t *g = spawn_m(nothing, NULL);
    JOIN(g); /* a death hand-off pending, as in a spawn + join loop */
    green_t *traced = spawn_m(nothing, NULL);
    CHECK_EQ(green_settrace(say_switches, traced, NULL, NULL), 0);
    CHECK_EQ(green_join(traced, GREEN_FOREVER, NULL), 0);
    CHECK_EQ(green_settrace(NULL, NULL, NULL, NULL), 0);
    CHECK_EQ(green_release(traced), 0);
    assert_order("switch main>hub", "switch hub>g", "switch g>hub", "switch hub>main");
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST_MODELS(test_values),
        HUB_TEST_MODELS(test_other_start_first),
        HUB_TEST_MODELS(test_notifier_rest_first),
        HUB_TEST_MODELS(test_started_task_blocks),
        HUB_TEST_MODELS(test_time_budget),
        HUB_TEST_MODELS(test_trace_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
