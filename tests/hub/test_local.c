/* SPDX-License-Identifier: MIT */
/* Greenlet-local storage (gevent.local as keys): one value per greenlet, destructors at
 * death before the joiners run, the main greenlet's at hub shutdown, deleted keys, slot
 * reuse, the key limit, greenlets without storage. */
#include "hubtest.h"

static green_local_key_t K;

static void dtor(void *value) { say("dtor %s", (const char *)value); }

static void *sets(void *arg)
{
    const char *n = arg;
    CHECK_EQ(green_local_set(K, (void *)n), 0);
    say("%s sets, sees %s", n, (const char *)green_local_get(K));
    CHECK_EQ(green_sleep(0), 0);
    say("%s still sees %s", n, (const char *)green_local_get(K));
    return NULL;
}

static green_t *A;

static void *joins_a(void *arg)
{
    (void)arg;
    CHECK_EQ(green_join(A, GREEN_FOREVER, NULL), 0);
    say("J joined A");
    return NULL;
}

/* gevent.local: loc.x = D(n) in greenlets A and B (each sleeps once), J joins A; main has
 * no x.  A's value is destroyed when A dies, before J is woken.  gevent drops it when the
 * greenlet object is collected: in its run of this program a step later (after "B still
 * sees B"), still before J; the C rule is the one documented in hub.h. */
static void test_values_per_greenlet_and_destructors(void **state)
{
    (void)state;
    assert_int_equal(green_local_key_new(&K, dtor), 0);
    A = green_spawn(sets, "A", NULL);
    green_t *b = green_spawn(sets, "B", NULL);
    green_t *j = green_spawn(joins_a, NULL, NULL);
    say("main has x: %s", green_local_get(K) ? "True" : "False");
    green_t *ab[] = {A, b};
    assert_int_equal(green_joinall(ab, 2, GREEN_FOREVER, GREEN_WAIT_ALL, false, NULL, NULL), 0);
    say("main joined");
    assert_int_equal(green_local_set(K, "main"), 0);
    assert_string_equal(green_local_get(K), "main");
    assert_int_equal(green_release(A), 0);
    assert_int_equal(green_release(b), 0);
    assert_int_equal(green_release(j), 0);
    assert_int_equal(green_hub_shutdown(), 0); /* the main greenlet's value goes now */
    say("after shutdown: %s", green_local_get(K) ? "set" : "unset");
    assert_no_failures();
    assert_order("main has x: False", "A sets, sees A", "B sets, sees B", "A still sees A",
                 "dtor A", "B still sees B", "dtor B", "J joined A", "main joined", "dtor main",
                 "after shutdown: unset");
    assert_int_equal(green_local_key_delete(K), 0);
    assert_int_equal(green_hub_shutdown(), 0);
}

static green_local_key_t K2;

static void *set_two(void *arg)
{
    (void)arg;
    CHECK_EQ(green_local_set(K, "deleted"), 0);
    CHECK_EQ(green_local_set(K2, NULL), 0); /* NULL: no destructor call */
    CHECK_EQ(green_local_key_delete(K), 0);
    CHECK(green_local_get(K) == NULL);
    CHECK_EQ(green_local_set(K, "x"), -1);
    CHECK_EQ(errno, EINVAL);
    return NULL;
}

/* A deleted key's values are forgotten without their destructors; the key that reuses
 * its slot starts empty. */
static void test_delete_and_reuse(void **state)
{
    (void)state;
    assert_int_equal(green_local_key_new(&K, dtor), 0);
    assert_int_equal(green_local_key_new(&K2, dtor), 0);
    assert_int_equal(green_local_set(K, "old main value"), 0);
    green_t *g = green_spawn(set_two, NULL, NULL);
    assert_int_equal(green_join(g, GREEN_FOREVER, NULL), 0);
    green_local_key_t reused;
    assert_int_equal(green_local_key_new(&reused, dtor), 0);
    assert_int_not_equal(reused, K);
    assert_null(green_local_get(reused)); /* main's old value was for the deleted key */
    assert_int_equal(green_local_key_delete(K), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_local_key_delete(0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_release(g), 0);
    assert_int_equal(green_hub_shutdown(), 0);
    assert_no_failures();
    assert_order(); /* no destructor ran */
    assert_int_equal(green_local_key_delete(reused), 0);
    assert_int_equal(green_local_key_delete(K2), 0);
}

static void *nothing(void *arg) { return arg; }

static void *plain_body(void *arg)
{
    (void)arg;
    CHECK_EQ(green_local_set(K, "x"), -1);
    CHECK_EQ(errno, EPERM);
    CHECK(green_local_get(K) == NULL);
    return NULL;
}

static void in_hub(green_t *g, void *arg)
{
    (void)g, (void)arg;
    CHECK_EQ(green_local_set(K, "x"), -1);
    CHECK_EQ(errno, EPERM);
    say("hub refused");
}

/* The hub greenlet and plain greenlets have no storage; keys run out at the limit. */
static void test_refusals_and_limit(void **state)
{
    (void)state;
    assert_int_equal(green_local_key_new(NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_local_key_new(&K, NULL), 0);
    green_t *plain = green_new(plain_body, NULL, NULL);
    assert_int_equal(green_switch(plain, NULL, NULL), 0);
    green_destroy(plain);
    green_t *g = green_spawn(nothing, NULL, NULL);
    assert_int_equal(green_link(g, in_hub, NULL), 0);
    assert_int_equal(green_join(g, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_release(g), 0);
    green_local_key_t keys[GREEN_LOCAL_KEYS_MAX];
    int made = 0;
    while (made < GREEN_LOCAL_KEYS_MAX && green_local_key_new(&keys[made], NULL) == 0)
        made++;
    assert_int_equal(made, GREEN_LOCAL_KEYS_MAX - 1); /* K holds one slot */
    assert_int_equal(errno, EAGAIN);
    for (int i = 0; i < made; i++)
        assert_int_equal(green_local_key_delete(keys[i]), 0);
    assert_int_equal(green_local_key_delete(K), 0);
    assert_int_equal(green_hub_shutdown(), 0);
    assert_no_failures();
    assert_order("hub refused");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_values_per_greenlet_and_destructors),
        HUB_TEST(test_delete_and_reuse),
        HUB_TEST(test_refusals_and_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
