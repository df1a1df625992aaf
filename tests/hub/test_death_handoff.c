/* SPDX-License-Identifier: MIT */
/* The death hand-off (src/hub/death_handoff.c): a greenlet whose body returns while the hub
 * would only run its notifier finishes straight into its first joiner.  gevent's order must
 * not change: each expected order below is what gevent 22.10 prints for the same program
 * (the Python is in the comment), and the cases are those where the hand-off happens (a
 * lone joiner, several, links and kills behind it) and where it must not (a link first, a
 * trace hook, greenlet-local values), in both stack models. */
#include "hubtest.h"

static int model;

static green_t *spawn_m(green_fn fn, void *arg) { return SPAWN_MODEL(fn, arg, model); }

static void *ret_arg(void *arg) { return arg; }

/* spawn(f).join() over and over: each join returns f's value, f is dead by then, and the
 * records recycled under the hand-off stay sound (ASAN, valgrind). */
static void test_lone_joiner(void **state)
{
    model = model_of(state);
    for (intptr_t i = 0; i < 300; i++) {
        green_t *g = spawn_m(ret_arg, (void *)i);
        void *r = NULL;
        assert_int_equal(green_join(g, GREEN_FOREVER, &r), 0);
        assert_int_equal((intptr_t)r, i);
        assert_true(green_state(g) & GREEN_DEAD);
        assert_true(green_ready(g) && green_successful(g));
        assert_int_equal(green_join(g, 0, NULL), 0); /* dead: at once */
        assert_int_equal(green_release(g), 0);
    }
    assert_no_failures();
}

/* A spawned joiner (so a shared-stack joiner in the shared run) of a greenlet that dies
 * after a sleep(0): run_wake's resume is its last act too. */
static void *sleep_say(void *arg)
{
    CHECK_EQ(green_sleep(0), 0);
    say("%s ends", (const char *)arg);
    return arg;
}

static void *join_say(void *arg)
{
    void *r = NULL;
    CHECK_EQ(green_join(arg, GREEN_FOREVER, &r), 0);
    say("joined %s", (const char *)r);
    return NULL;
}

static void test_spawned_joiner(void **state)
{
    model = model_of(state);
    green_t *g = spawn_m(sleep_say, "g");
    green_t *a = spawn_m(join_say, g);
    JOIN(a);
    say("main joined a");
    JOIN(g);
    assert_order("g ends", "joined g", "main joined a");
    assert_no_failures();
}

/* Several joiners; the first (A) links a callback while the notifier runs and sleeps.
 *   def g(): sleep(0); say("g ends")
 *   def A(t): t.join(); say("A joined"); t.rawlink(lambda x: say("link by A"))
 *             sleep(0); say("A after sleep")
 *   def B(t): t.join(); say("B joined")
 *   t = spawn(g); a = spawn(A, t); b = spawn(B, t)
 *   sleep(0); say("main after sleep"); t.join(); say("main joined"); a.join(); b.join() */
static green_t *target;

static void say_link(green_t *g, void *arg)
{
    (void)g;
    say("%s", (const char *)arg);
}

static void *joiner_a(void *arg)
{
    (void)arg;
    CHECK_EQ(green_join(target, GREEN_FOREVER, NULL), 0);
    say("A joined");
    CHECK_EQ(green_link(target, say_link, "link by A"), 0);
    CHECK_EQ(green_sleep(0), 0);
    say("A after sleep");
    return NULL;
}

static void *joiner_b(void *arg)
{
    (void)arg;
    CHECK_EQ(green_join(target, GREEN_FOREVER, NULL), 0);
    say("B joined");
    return NULL;
}

static void test_several_joiners(void **state)
{
    model = model_of(state);
    target = spawn_m(sleep_say, "g");
    green_t *a = spawn_m(joiner_a, NULL), *b = spawn_m(joiner_b, NULL);
    CHECK_EQ(green_sleep(0), 0);
    say("main after sleep");
    CHECK_EQ(green_join(target, GREEN_FOREVER, NULL), 0);
    say("main joined");
    JOIN(a);
    JOIN(b);
    CHECK_EQ(green_release(target), 0);
    assert_order("main after sleep", "g ends", "A joined", "B joined", "main joined", "link by A",
                 "A after sleep");
    assert_no_failures();
}

/* A link callback first: no hand-off (links run on the hub), the same order as gevent's.
 *   t = spawn(g); a = spawn(A, t); b = spawn(B, t)
 *   t.rawlink(lambda x: say("link by main")); t.join(); say("main joined")
 *   sleep(0); say("main after sleep"); a.join(); b.join() */
static void test_link_first(void **state)
{
    model = model_of(state);
    target = spawn_m(sleep_say, "g");
    green_t *a = spawn_m(joiner_a, NULL), *b = spawn_m(joiner_b, NULL);
    CHECK_EQ(green_link(target, say_link, "link by main"), 0);
    CHECK_EQ(green_join(target, GREEN_FOREVER, NULL), 0);
    say("main joined");
    CHECK_EQ(green_sleep(0), 0);
    say("main after sleep");
    JOIN(a);
    JOIN(b);
    CHECK_EQ(green_release(target), 0);
    assert_order("g ends", "link by main", "main joined", "A joined", "B joined", "link by A",
                 "main after sleep", "A after sleep");
    assert_no_failures();
}

/* The first joiner, handed the end, kills a later joiner still linked: the notifier (the
 * hub's, from A's block on) still resumes B first, then the kill comes.
 *   def A(t): t.join(); say("A joined"); BB[0].kill(); say("A killed B")
 *   def B(t): try: t.join(); say("B joined"); sleep(0); say("B after sleep")
 *             except GreenletExit: say("B killed")
 *   t = spawn(g); a = spawn(A, t); b = spawn(B, t)
 *   sleep(0); say("main after sleep"); t.join(); say("main joined"); a.join(); b.join() */
static green_t *victim;

static void *joiner_killer(void *arg)
{
    (void)arg;
    CHECK_EQ(green_join(target, GREEN_FOREVER, NULL), 0);
    say("A joined");
    CHECK_EQ(green_kill(victim, GREEN_FOREVER), 0);
    say("A killed B");
    return NULL;
}

static void *joiner_victim(void *arg)
{
    (void)arg;
    if (green_join(target, GREEN_FOREVER, NULL) == 0) {
        say("B joined");
        if (green_sleep(0) == 0)
            say("B after sleep");
        else
            say("B killed");
    }
    return NULL;
}

static void test_kill_behind_handoff(void **state)
{
    model = model_of(state);
    target = spawn_m(sleep_say, "g");
    green_t *a = spawn_m(joiner_killer, NULL);
    victim = spawn_m(joiner_victim, NULL);
    CHECK_EQ(green_sleep(0), 0);
    say("main after sleep");
    CHECK_EQ(green_join(target, GREEN_FOREVER, NULL), 0);
    say("main joined");
    JOIN(a);
    JOIN(victim);
    CHECK_EQ(green_release(target), 0);
    assert_order("main after sleep", "g ends", "A joined", "B joined", "main joined", "B killed",
                 "A killed B");
    assert_no_failures();
}

/* A joiner killed while it waits: the kill is queued before g's notifier, so the hub runs
 * it first, as gevent does (no hand-off).
 *   def B(t): try: t.join(); say("B join ok")
 *             except GreenletExit: say("B join canceled"); raise
 *   t = spawn(g); b = spawn(B, t); sleep(0); b.kill(); say("killed B")
 *   t.join(); say("main joined") */
static void *join_or_say(void *arg)
{
    (void)arg;
    int rc = green_join(target, GREEN_FOREVER, NULL);
    int e = errno;
    say("B join %s", rc == 0 ? "ok" : e == ECANCELED ? "canceled" : strerror(e));
    return NULL;
}

static void test_joiner_killed(void **state)
{
    model = model_of(state);
    target = spawn_m(sleep_say, "g");
    green_t *b = spawn_m(join_or_say, NULL);
    CHECK_EQ(green_sleep(0), 0); /* g sleeps, b waits for it */
    CHECK_EQ(green_kill(b, GREEN_FOREVER), 0);
    say("killed B");
    CHECK_EQ(green_join(target, GREEN_FOREVER, NULL), 0);
    say("main joined");
    CHECK_EQ(green_release(b), 0);
    CHECK_EQ(green_release(target), 0);
    assert_order("g ends", "B join canceled", "killed B", "main joined");
    assert_no_failures();
}

/* With a trace hook the hub's two switches are kept: g -> hub, hub -> main. */
static void test_trace_hook(void **state)
{
    model = model_of(state);
    (void)green_hub(); /* the hub exists before the hook: its creation is not traced */
    green_t *traced = spawn_m(ret_arg, NULL);
    CHECK_EQ(green_settrace(say_switches, traced, NULL, NULL), 0);
    CHECK_EQ(green_join(traced, GREEN_FOREVER, NULL), 0);
    CHECK_EQ(green_settrace(NULL, NULL, NULL, NULL), 0);
    CHECK_EQ(green_release(traced), 0);
    assert_order("switch main>hub", "switch hub>g", "switch g>hub", "switch hub>main");
    assert_no_failures();
}

/* Greenlet-local values: their destructors run on the hub between the death and the
 * joiner's wake-up, as without the hand-off. */
static green_local_key_t key;

static void local_gone(void *value)
{
    say("destructor %s in %s", (const char *)value, say_switches_who(green_current(), NULL));
}

static void *set_local(void *arg)
{
    CHECK_EQ(green_local_set(key, arg), 0);
    return arg;
}

static void test_locals(void **state)
{
    model = model_of(state);
    CHECK_EQ(green_local_key_new(&key, local_gone), 0);
    green_t *traced = spawn_m(set_local, "v");
    CHECK_EQ(green_join(traced, GREEN_FOREVER, NULL), 0);
    say("main joined");
    CHECK_EQ(green_release(traced), 0);
    CHECK_EQ(green_local_key_delete(key), 0);
    assert_order("destructor v in hub", "main joined");
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST_MODELS(test_lone_joiner),     HUB_TEST_MODELS(test_spawned_joiner),
        HUB_TEST_MODELS(test_several_joiners), HUB_TEST_MODELS(test_link_first),
        HUB_TEST_MODELS(test_kill_behind_handoff), HUB_TEST_MODELS(test_joiner_killed),
        HUB_TEST_MODELS(test_trace_hook),      HUB_TEST_MODELS(test_locals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
