/* SPDX-License-Identifier: MIT */
/* Group and Pool (gevent.pool): spawning into a full pool, join, kill (with joiners, before
 * start, with a timeout), adding a dead greenlet, map, misuse.  Expected traces are what
 * gevent 22.10 printed for the same programs. */
#include <math.h>
#include <stdint.h>

#include "hubtest.h"

static green_group_t *G;
static green_event_t *E;

static void *work(void *arg)
{
    say("%s starts", (const char *)arg);
    CHECK_EQ(green_sleep(0), 0);
    say("%s ends", (const char *)arg);
    return arg;
}

/* gevent: p = Pool(2); main spawns A, B, C, D (C waits for a place); X; p.join(). */
static void test_pool_spawn(void **state)
{
    (void)state;
    G = green_pool_new(2);
    assert_non_null(G);
    static const char *names[] = {"A", "B", "C", "D"};
    for (int i = 0; i < 4; i++) {
        say("main spawn %s, free %zu", names[i], green_group_free_count(G));
        green_t *g = green_group_spawn(G, work, (void *)names[i], NULL, GREEN_FOREVER);
        assert_non_null(g);
        assert_int_equal(green_release(g), 0); /* fire and forget: the pool still tracks it */
        say("main spawned %s, size %zu", names[i], green_group_size(G));
    }
    green_t *x = SPAWN(say_arg, "X queued after D");
    int rc = green_group_join(G, GREEN_FOREVER);
    say("main join -> %s, size %zu", rc == 0 ? "True" : "False", green_group_size(G));
    assert_int_equal(green_group_wait_available(G, GREEN_FOREVER), 0);
    say("free %zu, wait_available -> %zu", green_group_free_count(G), green_group_free_count(G));
    JOIN(x);
    assert_order("main spawn A, free 2", "main spawned A, size 1", "main spawn B, free 1",
                 "main spawned B, size 2", "main spawn C, free 0", "A starts", "B starts", "A ends",
                 "B ends", "main spawned C, size 1", "main spawn D, free 1",
                 "main spawned D, size 2", "C starts", "D starts", "X queued after D", "C ends",
                 "D ends", "main join -> True, size 0", "free 2, wait_available -> 2");
    assert_int_equal(green_sleep(0), 0); /* the empty notifier that woke us finishes */
    assert_int_equal(green_group_destroy(G), 0);
}

static void *body(void *arg)
{
    int rc = green_event_wait(E, GREEN_FOREVER);
    CHECK_EQ(rc, -1);
    CHECK_EQ(errno, ECANCELED);
    say("%s finally", (const char *)arg);
    return NULL;
}

static green_t *A_;

static void *joiner(void *arg)
{
    (void)arg;
    CHECK_EQ(green_join(A_, GREEN_FOREVER, NULL), 0);
    say("J joined A (linked before the kill)");
    CHECK_EQ(green_sleep(0), 0);
    say("J after sleep(0)");
    return NULL;
}

static green_t *K_;

/* Killed, it kills the greenlet that is killing the group. */
static void *turncoat(void *arg)
{
    (void)arg;
    CHECK_EQ(green_event_wait(E, GREEN_FOREVER), -1);
    CHECK_EQ(green_kill_nowait(K_), 0);
    say("T kills the killer");
    return NULL;
}

static void *group_killer(void *arg)
{
    (void)arg;
    int rc = green_group_kill(G, GREEN_FOREVER);
    say("K group_kill -> %s", rc == 0 ? "0" : errno == ECANCELED ? "ECANCELED" : "other");
    return NULL;
}

/* gevent: a group's kill resumes the killer after the links that were there before (J's
 * join); an unstarted member dies at once.  (Its own timeout cannot expire here: a killed
 * greenlet's blocking calls fail at once, so every member dies before the hub idles.) */
static void test_group_kill(void **state)
{
    (void)state;
    G = green_group_new();
    E = green_event_new();
    assert_non_null(G);
    assert_non_null(E);
    A_ = green_group_spawn(G, body, "A", NULL, GREEN_FOREVER);
    assert_non_null(A_);
    assert_int_equal(green_sleep(0), 0);
    green_t *j = SPAWN(joiner, NULL);
    assert_int_equal(green_sleep(0), 0);
    green_t *x = SPAWN(say_arg, "X queued before the kill");
    say("main kill, size %zu", green_group_size(G));
    assert_int_equal(green_group_kill(G, GREEN_FOREVER), 0);
    say("main kill returned, size %zu", green_group_size(G));
    green_t *y = SPAWN(say_arg, "Y queued after the kill");
    assert_int_equal(green_sleep(0), 0);
    green_t *u = green_group_spawn(G, body, "U", NULL, GREEN_FOREVER);
    assert_non_null(u);
    green_t *x2 = SPAWN(say_arg, "X2 queued before the kill");
    say("main kill(unstarted U), size %zu", green_group_size(G));
    assert_int_equal(green_group_kill(G, GREEN_FOREVER), 0);
    say("main kill returned, size %zu, U dead %s", green_group_size(G),
        green_ready(u) ? "True" : "False");
    assert_int_equal(green_sleep(0), 0);
    JOIN(j);
    JOIN(x);
    JOIN(y);
    JOIN(x2);
    JOIN(u);
    green_release(A_);
    assert_order("main kill, size 1", "X queued before the kill", "A finally",
                 "J joined A (linked before the kill)", "main kill returned, size 0",
                 "J after sleep(0)", "Y queued after the kill", "main kill(unstarted U), size 1",
                 "X2 queued before the kill", "main kill returned, size 0, U dead True");
    order_reset();

    /* The killer killed while it waits: ECANCELED; the member is gone all the same. */
    green_t *t = green_group_spawn(G, turncoat, NULL, NULL, GREEN_FOREVER);
    assert_non_null(t);
    assert_int_equal(green_release(t), 0);
    K_ = SPAWN(group_killer, NULL);
    JOIN(K_);
    say("size %zu", green_group_size(G));
    assert_order("T kills the killer", "K group_kill -> ECANCELED", "size 0");
    assert_int_equal(green_group_destroy(G), 0);
    assert_int_equal(green_event_destroy(E), 0);
}

static void *group_joiner(void *arg)
{
    CHECK_EQ(green_group_join(G, GREEN_FOREVER), 0);
    say("%s group joined", (const char *)arg);
    return NULL;
}

static void *short_one(void *arg)
{
    say("%s runs", (const char *)arg);
    CHECK_EQ(green_sleep(0), 0);
    say("%s done", (const char *)arg);
    return NULL;
}

/* gevent: join is Event.wait on "empty"; a dead greenlet added is removed by its death
 * notification, queued by the add. */
static void test_join_and_add_dead(void **state)
{
    (void)state;
    G = green_group_new();
    assert_non_null(G);
    green_t *s1 = green_group_spawn(G, short_one, "S1", NULL, GREEN_FOREVER);
    green_t *s2 = green_group_spawn(G, short_one, "S2", NULL, GREEN_FOREVER);
    green_t *j1 = SPAWN(group_joiner, "GJ1"), *j2 = SPAWN(group_joiner, "GJ2");
    green_t *z = SPAWN(say_arg, "Z queued");
    say("main join2 -> %s", green_group_join(G, GREEN_FOREVER) == 0 ? "True" : "False");
    JOIN(j1);
    JOIN(j2);
    JOIN(z);
    green_t *d = SPAWN(say_arg, "D runs");
    assert_int_equal(green_join(d, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_group_add(G, d, GREEN_FOREVER), 0);
    say("added dead D: size %zu", green_group_size(G));
    assert_int_equal(green_group_add(G, d, 0), -1);
    assert_int_equal(errno, EEXIST);
    assert_true(green_group_contains(G, d));
    green_t *w = SPAWN(say_arg, "W queued after the add");
    int rc = green_group_join(G, GREEN_FOREVER);
    say("main join3 -> %s, size %zu", rc == 0 ? "True" : "False", green_group_size(G));
    assert_false(green_group_contains(G, d));
    JOIN(w);
    JOIN(d);
    JOIN(s1);
    JOIN(s2);
    assert_order("S1 runs", "S2 runs", "Z queued", "S1 done", "S2 done", "main join2 -> True",
                 "GJ1 group joined", "GJ2 group joined", "D runs", "added dead D: size 1",
                 "W queued after the add", "main join3 -> True, size 0");
    assert_int_equal(green_sleep(0), 0); /* the empty notifier that woke us finishes */
    assert_int_equal(green_group_destroy(G), 0);
}

static void *square(void *arg)
{
    int x = INT(arg);
    say("w%d starts", x);
    CHECK_EQ(green_sleep(0), 0);
    say("w%d ends", x);
    return ITEM(x * x);
}

static void *bad(void *arg)
{
    int x = INT(arg);
    say("b%d runs", x);
    if (x == 2 || x == 3)
        green_exit(42, ITEM(x)); /* gevent: raise ValueError(x) */
    return arg;
}

/* gevent: Pool(2).map(sq, [1, 2, 3]); then a map whose items 2 and 3 fail. */
static void test_map(void **state)
{
    (void)state;
    G = green_pool_new(2);
    assert_non_null(G);
    green_t *x = SPAWN(say_arg, "X queued before map");
    void *in[] = {ITEM(1), ITEM(2), ITEM(3), ITEM(4)};
    void *out[4] = {0};
    assert_int_equal(green_group_map(G, square, in, 3, out, NULL, GREEN_FOREVER), 0);
    say("map -> [%d, %d, %d]", INT(out[0]), INT(out[1]), INT(out[2]));
    size_t failed = 99;
    int rc = green_group_map(G, bad, in, 4, out, &failed, GREEN_FOREVER);
    say("map -> %d at index %zu, payload %d (the first in input order)", rc, failed,
        INT(out[failed < 4 ? failed : 0]));
    assert_int_equal(INT(out[0]), 1);
    assert_int_equal(green_sleep(0), 0);
    say("pool size %zu", green_group_size(G));
    JOIN(x);
    assert_order("X queued before map", "w1 starts", "w2 starts", "w1 ends", "w2 ends", "w3 starts",
                 "w3 ends", "map -> [1, 4, 9]", "b1 runs", "b2 runs", "b3 runs", "b4 runs",
                 "map -> 42 at index 1, payload 2 (the first in input order)", "pool size 0");
    assert_int_equal(green_group_map(G, square, in, 0, NULL, NULL, 0), 0); /* nothing to do */
    assert_int_equal(green_group_map(G, NULL, in, 1, out, NULL, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_map(G, square, NULL, 1, out, NULL, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_map(G, square, in, 1, NULL, NULL, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_map(G, square, in, 1, out, NULL, NAN), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_destroy(G), 0);
}

static void *sleeper(void *arg)
{
    (void)arg;
    CHECK_EQ(green_event_wait(E, GREEN_FOREVER), 0);
    return NULL;
}

/* A map that times out: the helper and its workers go on, and the helper frees what it
 * holds when it is done. */
static void test_map_timeout(void **state)
{
    (void)state;
    G = green_pool_new(1);
    E = green_event_new();
    assert_non_null(G);
    assert_non_null(E);
    green_t *blocker = green_group_spawn(G, sleeper, NULL, NULL, GREEN_FOREVER);
    assert_non_null(blocker);
    void *in[] = {ITEM(1)};
    void *out[1] = {ITEM(7)};
    assert_int_equal(green_group_map(G, square, in, 1, out, NULL, 0.001), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_int_equal(INT(out[0]), 7); /* untouched */
    say("map timed out");
    assert_int_equal(green_event_set(E), 0);
    JOIN(blocker);
    assert_int_equal(green_sleep(0), 0); /* the helper gets the place, spawns w1 */
    assert_int_equal(green_group_size(G), 1);
    assert_int_equal(green_group_join(G, GREEN_FOREVER), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_order("map timed out", "w1 starts", "w1 ends");
    assert_int_equal(INT(out[0]), 7);
    assert_int_equal(green_group_destroy(G), 0);
    assert_int_equal(green_event_destroy(E), 0);
}

static void *waits_available(void *arg)
{
    CHECK_EQ(green_group_wait_available(G, GREEN_FOREVER), 0);
    say("%s wait_available -> %zu, free %zu", (const char *)arg, green_group_free_count(G),
        green_group_free_count(G));
    return NULL;
}

static void *spawns(void *arg)
{
    static char what[32];
    snprintf(what, sizeof what, "%s's worker runs", (const char *)arg);
    green_t *g = green_group_spawn(G, say_arg, what, NULL, GREEN_FOREVER);
    CHECK(g != NULL);
    if (g)
        green_release(g);
    say("%s spawned, free %zu", (const char *)arg, green_group_free_count(G));
    return NULL;
}

/* gevent: Pool(1) whose member waits on an Event; W1 waits for a place, S1 spawns, W2
 * waits.  The freed place wakes W1 (it takes nothing) and S1 (it takes it); W2 waits for
 * the next one. */
static void test_places_order(void **state)
{
    (void)state;
    G = green_pool_new(1);
    E = green_event_new();
    assert_non_null(G);
    assert_non_null(E);
    green_t *m = green_group_spawn(G, sleeper, NULL, NULL, GREEN_FOREVER);
    assert_non_null(m);
    assert_int_equal(green_release(m), 0);
    assert_int_equal(green_sleep(0), 0);
    green_t *g[3] = {SPAWN(waits_available, "W1"), SPAWN(spawns, "S1"),
                     SPAWN(waits_available, "W2")};
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_set(E), 0);
    say("main set");
    assert_int_equal(green_sleep(0), 0);
    say("main after sleep(0)");
    for (int i = 0; i < 3; i++)
        JOIN(g[i]);
    say("size %zu", green_group_size(G));
    assert_order("main set", "main after sleep(0)", "W1 wait_available -> 1, free 1",
                 "S1 spawned, free 0", "S1's worker runs", "W2 wait_available -> 1, free 1",
                 "size 0");
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_group_destroy(G), 0);
    assert_int_equal(green_event_destroy(E), 0);
}

static void test_places_and_misuse(void **state)
{
    (void)state;
    G = green_pool_new(1);
    E = green_event_new();
    assert_non_null(G);
    assert_non_null(E);
    green_t *a = green_group_spawn(G, sleeper, NULL, NULL, GREEN_FOREVER);
    assert_non_null(a);
    assert_int_equal(green_group_free_count(G), 0);
    assert_null(green_group_spawn(G, sleeper, NULL, NULL, 0)); /* zero-second timer */
    assert_int_equal(errno, ETIMEDOUT);
    assert_int_equal(green_group_wait_available(G, 0.001), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_int_equal(green_group_join(G, 0.001), -1);
    assert_int_equal(errno, ETIMEDOUT);
    green_t *b = SPAWN(sleeper, NULL);
    assert_int_equal(green_group_add(G, b, 0.001), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_false(green_group_contains(G, b));
    assert_int_equal(green_group_discard(G, b), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(green_group_destroy(G), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(green_group_discard(G, a), 0); /* the place comes back at once */
    assert_int_equal(green_group_free_count(G), 1);
    assert_int_equal(green_group_add(G, b, 0), 0);
    assert_int_equal(green_group_size(G), 1);
    assert_int_equal(green_group_add(G, a, 0), -1); /* full again */
    assert_int_equal(errno, ETIMEDOUT);
    green_t *c = SPAWN(sleeper, NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_release(c), 0); /* alive: the record stays until it dies */
    assert_int_equal(green_group_add(G, c, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_event_set(E), 0);
    JOIN(a);
    assert_int_equal(green_group_join(G, GREEN_FOREVER), 0);
    assert_int_equal(green_group_size(G), 0);
    assert_int_equal(green_release(b), 0);
    assert_int_equal(green_group_add(G, green_current(), 0), -1); /* main: not spawned */
    assert_int_equal(errno, EINVAL);
    assert_null(green_group_spawn(G, NULL, NULL, NULL, 0));
    assert_int_equal(errno, EINVAL);
    assert_null(green_group_spawn(G, sleeper, NULL, NULL, NAN));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_join(G, NAN), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_kill(G, GREEN_FOREVER), 0); /* empty */
    assert_int_equal(green_group_kill_nowait(G), 0);
    assert_int_equal(green_sleep(0), 0); /* the empty notifier that woke us finishes */
    assert_int_equal(green_group_destroy(G), 0);
    assert_int_equal(green_event_destroy(E), 0);

    G = green_group_new();
    assert_non_null(G);
    assert_int_equal(green_group_free_count(G), SIZE_MAX);
    assert_int_equal(green_group_wait_available(G, 0), 0);
    assert_int_equal(green_group_destroy(G), 0);

    assert_null(green_group_spawn(NULL, sleeper, NULL, NULL, 0));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_add(NULL, a, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_discard(NULL, a), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_join(NULL, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_kill(NULL, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_kill_nowait(NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_wait_available(NULL, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_map(NULL, square, NULL, 0, NULL, NULL, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_destroy(NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_false(green_group_contains(NULL, NULL));
    assert_int_equal(green_group_size(NULL), 0);
    assert_int_equal(green_group_free_count(NULL), 0);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_pool_spawn),        HUB_TEST(test_group_kill),
        HUB_TEST(test_join_and_add_dead), HUB_TEST(test_map),
        HUB_TEST(test_map_timeout),       HUB_TEST(test_places_order),
        HUB_TEST(test_places_and_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
