/* SPDX-License-Identifier: MIT */
/* gevent.joinall and gevent.killall in C: green_joinall() (completion order, count,
 * raise_error, timeout) and green_killall() (one queued callback, array order, joining the
 * greenlets that block again while dying, non-blocking form, no switch when nothing is
 * alive, timeout).  Expected orders are what gevent 22.10 prints for the Python programs
 * quoted above each test. */
#include "hubtest.h"

static void *die_after(void *arg)
{
    const char *name = arg;
    int rounds = name[1] - '0' == 0 ? 3 : name[1] - '0'; /* "g0": 3, "g1": 1, "g2": 2 */
    for (int i = 0; i < rounds; i++)
        CHECK_EQ(green_sleep(0), 0);
    say("%s dies", name);
    return NULL;
}

static void release_all(green_t **gs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(green_release(gs[i]), 0);
}

/* w(n, k): k times sleep(0), say(f"{n} dies")
 * gs = [spawn(w, "g0", 3), spawn(w, "g1", 1), spawn(w, "g2", 2)]
 * done = gevent.joinall(gs); say(f"joinall -> {[gs.index(g) for g in done]}")
 * (again with "h0".."h2" and count=2, then joinall(gs)) */
static void test_joinall_order_and_count(void **state)
{
    (void)state;
    green_t *gs[3] = {green_spawn(die_after, "g0", NULL), green_spawn(die_after, "g1", NULL),
                      green_spawn(die_after, "g2", NULL)};
    size_t ready[3], n = 99;
    assert_int_equal(green_joinall(gs, 3, GREEN_FOREVER, GREEN_WAIT_ALL, false, ready, &n), 0);
    say("joinall -> [%zu, %zu, %zu] (%zu)", ready[0], ready[1], ready[2], n);
    release_all(gs, 3);
    green_t *hs[3] = {green_spawn(die_after, "h0", NULL), green_spawn(die_after, "h1", NULL),
                      green_spawn(die_after, "h2", NULL)};
    assert_int_equal(green_joinall(hs, 3, GREEN_FOREVER, 2, false, ready, &n), 0);
    say("joinall count=2 -> [%zu, %zu] (%zu)", ready[0], ready[1], n);
    assert_int_equal(green_joinall(hs, 3, GREEN_FOREVER, GREEN_WAIT_ALL, false, NULL, NULL), 0);
    release_all(hs, 3);
    assert_no_failures();
    assert_order("g1 dies", "g2 dies", "g0 dies", "joinall -> [1, 2, 0] (3)", "h1 dies", "h2 dies",
                 "h0 dies", "joinall count=2 -> [1, 2] (2)");
    assert_int_equal(green_hub_shutdown(), 0);
}

static void *bad(void *arg)
{
    (void)arg;
    CHECK_EQ(green_sleep(0), 0);
    green_exit(EIO, NULL);
    return NULL;
}

static void *forever(void *arg)
{
    (void)arg;
    CHECK_EQ(green_sleep(100), -1);
    CHECK_EQ(errno, ECANCELED);
    return NULL;
}

/* b = spawn(bad)  (sleep(0), raise); s = spawn(slow)
 * joinall([s, b], raise_error=True) raises b's error while s is still alive
 * joinall([s], timeout=...) returns [] while s is alive
 * once both are dead: joinall([s, b], raise_error=True, count=1) -> [s], nothing raised */
static void test_joinall_raise_error_and_timeout(void **state)
{
    (void)state;
    green_t *b = green_spawn(bad, NULL, NULL);
    green_t *s = green_spawn(forever, NULL, NULL);
    green_t *sb[] = {s, b};
    size_t ready[2], n = 99;
    assert_int_equal(green_joinall(sb, 2, GREEN_FOREVER, GREEN_WAIT_ALL, true, ready, &n), EIO);
    assert_int_equal(n, 1);
    assert_int_equal(ready[0], 1);
    assert_false(green_ready(s));
    assert_int_equal(green_joinall(sb, 1, 0.001, GREEN_WAIT_ALL, false, ready, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(green_joinall(sb, 2, 0, GREEN_WAIT_ALL, false, ready, &n), 0);
    assert_int_equal(n, 1); /* b's notifier comes before the zero-second timer */
    assert_int_equal(ready[0], 1);
    assert_int_equal(green_kill(s, GREEN_FOREVER), 0);
    assert_int_equal(green_joinall(sb, 2, GREEN_FOREVER, 1, true, ready, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ready[0], 0);
    assert_int_equal(green_joinall(NULL, 0, GREEN_FOREVER, GREEN_WAIT_ALL, true, NULL, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(green_joinall(NULL, 1, GREEN_FOREVER, GREEN_WAIT_ALL, true, NULL, &n), -1);
    assert_int_equal(errno, EINVAL);
    release_all(sb, 2);
    assert_no_failures();
    assert_int_equal(green_hub_shutdown(), 0);
}

static void *body(void *arg)
{
    green_event_t *e = green_event_new();
    CHECK_EQ(green_event_wait(e, GREEN_FOREVER), -1);
    CHECK_EQ(errno, ECANCELED);
    say("%s finally", (const char *)arg);
    CHECK_EQ(green_event_destroy(e), 0);
    return NULL;
}

/* gevent's "finally: sleep(0)".  In C a greenlet being killed cannot block again: its
 * blocking calls fail at once with ECANCELED (hub.h), so the cleanup goes straight on. */
static void *stubborn(void *arg)
{
    green_event_t *e = green_event_new();
    CHECK_EQ(green_event_wait(e, GREEN_FOREVER), -1);
    say("%s finally: sleep(0)", (const char *)arg);
    CHECK_EQ(green_sleep(0), -1); /* being killed: no second block */
    CHECK_EQ(errno, ECANCELED);
    say("%s finally done", (const char *)arg);
    CHECK_EQ(green_event_destroy(e), 0);
    return NULL;
}

static green_t *victims[4];

static void *killer(void *arg)
{
    (void)arg;
    say("K: killall");
    CHECK_EQ(green_killall(victims, 4, GREEN_FOREVER, true), 0);
    say("K: killall returned, dead=[%d, %d, %d, %d]", green_ready(victims[0]),
        green_ready(victims[1]), green_ready(victims[2]), green_ready(victims[3]));
    return NULL;
}

/* a = spawn(body, "A"); b = spawn(stubborn, "B"); c = spawn(body, "C"); sleep(0)
 * u = spawn(body, "U"); spawn(say, "X queued before killall")
 * k = spawn(killer)  (killall([a, u, b, c])); sleep(0); spawn(say, "Y queued after"); k.join()
 * gevent prints (B's finally sleeps there, so "Y" comes before "B finally done"):
 *   X queued before killall / K: killall / A finally / U finally / B finally: sleep(0) /
 *   C finally / Y queued after / B finally done / K: killall returned, dead=[True x4]
 * In C a greenlet being killed cannot block again (its calls fail with ECANCELED), so B's
 * cleanup goes on at once and dies inside the callback: the rest is gevent's order. */
static void test_killall_blocking(void **state)
{
    (void)state;
    green_t *a = green_spawn(body, "A", NULL);
    green_t *b = green_spawn(stubborn, "B", NULL);
    green_t *c = green_spawn(body, "C", NULL);
    assert_int_equal(green_sleep(0), 0);
    green_t *u = green_spawn(body, "U", NULL);
    green_t *x = green_spawn(say_arg, "X queued before killall", NULL);
    victims[0] = a, victims[1] = u, victims[2] = b, victims[3] = c;
    green_t *k = green_spawn(killer, NULL, NULL);
    assert_int_equal(green_sleep(0), 0);
    green_t *y = green_spawn(say_arg, "Y queued after", NULL);
    assert_int_equal(green_join(k, GREEN_FOREVER, NULL), 0);
    assert_no_failures();
    assert_order("X queued before killall", "K: killall", "A finally", "U finally",
                 "B finally: sleep(0)", "B finally done", "C finally",
                 "K: killall returned, dead=[1, 1, 1, 1]", "Y queued after");
    green_t *all[] = {a, b, c, u, x, k, y};
    release_all(all, 7);
    assert_int_equal(green_hub_shutdown(), 0);
}

/* d = spawn(body, "D"); sleep(0); killall([d], block=False) -> returns, D alive
 * spawn(say, "Z"); sleep(0)            -> "D finally", "Z"
 * v = spawn(body, "V"); spawn(say, "W runs"); killall([v, d]) -> no switch, V dead
 * sleep(0)                             -> "W runs" */
static void test_killall_nonblocking_and_no_switch(void **state)
{
    (void)state;
    green_t *d = green_spawn(body, "D", NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_killall(&d, 1, GREEN_FOREVER, false), 0);
    say("killall(block=False) returned dead=%d", green_ready(d));
    green_t *z = green_spawn(say_arg, "Z", NULL);
    assert_int_equal(green_sleep(0), 0);
    green_t *v = green_spawn(body, "V", NULL);
    green_t *w = green_spawn(say_arg, "W runs", NULL);
    green_t *vd[] = {v, d};
    assert_int_equal(green_killall(vd, 2, GREEN_FOREVER, true), 0);
    say("killall(unstarted, dead): no switch, V dead=%d", green_ready(v));
    assert_int_equal(green_sleep(0), 0);
    assert_no_failures();
    assert_order("killall(block=False) returned dead=0", "D finally", "Z",
                 "killall(unstarted, dead): no switch, V dead=1", "W runs");
    green_t *all[] = {d, z, v, w};
    release_all(all, 4);
    assert_int_equal(green_hub_shutdown(), 0);
}

static green_event_t *gate;

static void *wait_gate(void *arg)
{
    (void)arg;
    CHECK_EQ(green_event_wait(gate, GREEN_FOREVER), -1);
    CHECK_EQ(errno, ECANCELED);
    return NULL;
}

/* Refusals change nothing; a blocking killall with a timeout that the kills beat. */
static void test_killall_refusals_and_timeout(void **state)
{
    (void)state;
    gate = green_event_new();
    green_t *g = green_spawn(wait_gate, NULL, NULL);
    assert_int_equal(green_killall(NULL, 1, GREEN_FOREVER, true), -1);
    assert_int_equal(errno, EINVAL);
    green_t *bad_list[] = {g, NULL};
    assert_int_equal(green_killall(bad_list, 2, GREEN_FOREVER, true), -1);
    assert_int_equal(errno, EINVAL);
    assert_false(green_ready(g)); /* a refusal kills nobody */
    assert_int_equal(green_killall(&g, 1, 0.0 / 0.0, true), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_killall(&g, 1, 1.0, true), 0);
    assert_true(green_ready(g));
    assert_int_equal(green_release(g), 0);
    assert_int_equal(green_event_destroy(gate), 0);
    assert_no_failures();
    assert_int_equal(green_hub_shutdown(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_joinall_order_and_count),
        HUB_TEST(test_joinall_raise_error_and_timeout),
        HUB_TEST(test_killall_blocking),
        HUB_TEST(test_killall_nonblocking_and_no_switch),
        HUB_TEST(test_killall_refusals_and_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
