/* SPDX-License-Identifier: MIT */
/* Links: callbacks when a greenlet dies (gevent's rawlink, link_value, link_exception,
 * unlink), run by its notifier in link order with its joiners, also when linked after
 * death.  Expected orders are what gevent 22.10 prints for the Python program quoted above
 * each test. */
#include "hubtest.h"

static green_t *G;

static void saw(green_t *g, void *arg)
{
    say("%s sees %s ready=%s", (const char *)arg, green_name(g), green_ready(g) ? "True" : "False");
}

static void *work(void *arg)
{
    (void)arg;
    say("G runs");
    CHECK_EQ(green_sleep(0), 0);
    say("G returns");
    return NULL;
}

static void *joiner(void *arg)
{
    (void)arg;
    CHECK_EQ(green_join(G, GREEN_FOREVER, NULL), 0);
    say("J joined");
    return NULL;
}

/* g = Greenlet(work); g.name = "G"; g.start(); g.rawlink(cb("L1"))
 * gevent.spawn(joiner); g.rawlink(cb("L2")); gevent.sleep(0)
 * gevent.spawn(say, "X queued before death"); g.join(); say("main joined")
 * g.rawlink(cb("L3 after death")); gevent.spawn(say, "Y")
 * say("main linked after death: no switch"); gevent.sleep(0) */
static void test_link_order(void **state)
{
    (void)state;
    G = SPAWN_NAMED(work, NULL, "G");
    assert_int_equal(green_link(G, saw, "L1"), 0);
    green_t *j = green_spawn(joiner, NULL, NULL);
    assert_int_equal(green_link(G, saw, "L2"), 0);
    assert_int_equal(green_sleep(0), 0);
    green_t *x = green_spawn(say_arg, "X queued before death", NULL);
    assert_int_equal(green_join(G, GREEN_FOREVER, NULL), 0);
    say("main joined");
    assert_int_equal(green_link(G, saw, "L3 after death"), 0);
    green_t *y = green_spawn(say_arg, "Y", NULL);
    say("main linked after death: no switch");
    assert_int_equal(green_sleep(0), 0);
    assert_no_failures();
    assert_order("G runs", "G returns", "X queued before death", "L1 sees G ready=True",
                 "L2 sees G ready=True", "J joined", "main joined",
                 "main linked after death: no switch", "L3 after death sees G ready=True", "Y");
    green_t *all[] = {G, j, x, y};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(green_release(all[i]), 0);
    assert_int_equal(green_hub_shutdown(), 0);
}

static void saw_any(green_t *g, void *arg) { (void)arg, say("any %s", green_name(g)); }
static void saw_value(green_t *g, void *arg) { (void)arg, say("value %s", green_name(g)); }
static void saw_error(green_t *g, void *arg) { (void)arg, say("error %s", green_name(g)); }

static void *bad(void *arg)
{
    (void)arg;
    CHECK_EQ(green_sleep(0), 0);
    green_exit(EIO, NULL);
    return NULL;
}

static void *wait_forever(void *arg)
{
    green_event_t *e = arg;
    CHECK_EQ(green_event_wait(e, GREEN_FOREVER), -1);
    CHECK_EQ(errno, ECANCELED);
    return NULL;
}

static void *seven(void *arg)
{
    (void)arg;
    return (void *)7;
}

/* b = Greenlet(bad) ("B": sleep(0), raise); k = Greenlet(Event().wait) ("K");
 * ok = Greenlet(lambda: 7) ("OK"), started in that order
 * for x in (b, k, ok): x.rawlink(any); x.link_value(value); x.link_exception(error)
 * u = cb("U (unlinked)"); ok.rawlink(u); ok.unlink(u)
 * gevent.sleep(0); k.kill(); gevent.joinall([b, ok]); gevent.sleep(0) */
static void test_value_and_error_links(void **state)
{
    (void)state;
    green_event_t *e = green_event_new();
    green_t *b = SPAWN_NAMED(bad, NULL, "B");
    green_t *k = SPAWN_NAMED(wait_forever, e, "K");
    green_t *ok = SPAWN_NAMED(seven, NULL, "OK");
    green_t *gs[] = {b, k, ok};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(green_link(gs[i], saw_any, NULL), 0);
        assert_int_equal(green_link_value(gs[i], saw_value, NULL), 0);
        assert_int_equal(green_link_error(gs[i], saw_error, NULL), 0);
    }
    assert_int_equal(green_link(ok, saw, "U (unlinked)"), 0);
    assert_int_equal(green_unlink(ok, saw, "U (unlinked)"), 1);
    assert_int_equal(green_unlink(ok, saw, "U (unlinked)"), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_kill(k, GREEN_FOREVER), 0);
    assert_int_equal(green_join(b, GREEN_FOREVER, NULL), EIO);
    assert_int_equal(green_join(ok, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_no_failures();
    assert_order("any OK", "value OK", "any B", "error B", "any K", "value K");
    for (int i = 0; i < 3; i++)
        assert_int_equal(green_release(gs[i]), 0);
    assert_int_equal(green_event_destroy(e), 0);
    assert_int_equal(green_hub_shutdown(), 0);
}

static void release_from_link(green_t *g, void *arg)
{
    (void)arg;
    say("released in its link");
    CHECK_EQ(green_release(g), 0);
}

static void *sleep_long(void *arg)
{
    (void)arg;
    CHECK_EQ(green_sleep(10), -1);
    CHECK_EQ(errno, ECANCELED);
    return NULL;
}

/* A link may release its greenlet; a greenlet killed by the hub's shutdown still runs its
 * links (shutdown joins it, behind them). */
static void test_release_in_link_and_shutdown(void **state)
{
    (void)state;
    green_t *g = green_spawn(seven, NULL, NULL);
    assert_int_equal(green_link(g, release_from_link, NULL), 0);
    assert_int_equal(green_sleep(0), 0);
    green_t *w = SPAWN_NAMED(sleep_long, NULL, "W");
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_link(w, saw_any, NULL), 0);
    assert_int_equal(green_release(w), 0);
    assert_int_equal(green_hub_shutdown(), 0);
    assert_no_failures();
    assert_order("released in its link", "any W");
}

/* Refusals: NULL, NULL fn, a plain greenlet, a released one. */
static void test_refusals(void **state)
{
    (void)state;
    assert_int_equal(green_link(NULL, saw_any, NULL), -1);
    assert_int_equal(errno, EINVAL);
    green_t *g = green_spawn(seven, NULL, NULL);
    assert_int_equal(green_link(g, NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
    green_t *plain = green_new(seven, NULL, NULL);
    assert_int_equal(green_link(plain, saw_any, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_unlink(plain, saw_any, NULL), -1);
    assert_int_equal(errno, EINVAL);
    green_destroy(plain);
    assert_int_equal(green_release(g), 0);
    assert_int_equal(green_hub_shutdown(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_link_order),
        HUB_TEST(test_value_and_error_links),
        HUB_TEST(test_release_in_link_and_shutdown),
        HUB_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
