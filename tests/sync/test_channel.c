/* SPDX-License-Identifier: MIT */
/* Channel (gevent.queue.Channel): the rendezvous order, balance, timeouts (timeout 0 is
 * gevent's put_nowait/get_nowait), kills, misuse.  Expected traces are gevent 22.10's. */
#include <math.h>
#include <stdint.h>

#include "hubtest.h"

static green_channel_t *C;

static void *getter(void *arg)
{
    const char *n = arg;
    void *v = NULL;
    say("%s get ...", n);
    CHECK_EQ(green_channel_get(C, GREEN_FOREVER, &v), 0);
    say("%s got %d", n, INT(v));
    CHECK_EQ(green_sleep(0), 0);
    say("%s after sleep(0)", n);
    return NULL;
}

static void *putter(void *arg)
{
    const char *n = arg;
    int v = n[1] - '0';
    say("%s put %d ...", n, v);
    CHECK_EQ(green_channel_put(C, ITEM(v), GREEN_FOREVER), 0);
    say("%s put %d done", n, v);
    return NULL;
}

/* gevent: getters A, B block; putters P1..P3 and X spawned; main sleeps, then gets. */
static void test_order(void **state)
{
    (void)state;
    C = green_channel_new();
    assert_non_null(C);
    green_t *g[2] = {SPAWN(getter, "A"), SPAWN(getter, "B")};
    assert_int_equal(green_sleep(0), 0);
    say("balance %ld", green_channel_balance(C));
    green_t *p[3] = {SPAWN(putter, "P1"), SPAWN(putter, "P2"), SPAWN(putter, "P3")};
    green_t *x = SPAWN(say_arg, "X queued after the putters");
    assert_int_equal(green_sleep(0), 0);
    say("main back, balance %ld", green_channel_balance(C));
    void *v = NULL;
    assert_int_equal(green_channel_get(C, GREEN_FOREVER, &v), 0);
    say("main get -> %d", INT(v));
    for (int i = 0; i < 2; i++)
        JOIN(g[i]);
    for (int i = 0; i < 3; i++)
        JOIN(p[i]);
    JOIN(x);
    assert_int_equal(green_channel_put(C, ITEM(4), 0), -1);
    if (errno == ETIMEDOUT)
        say("put_nowait with no getter -> Full");
    assert_int_equal(green_channel_get(C, 0, &v), -1);
    if (errno == ETIMEDOUT)
        say("get(timeout=0) with no putter -> Empty");
    green_t *c = SPAWN(getter, "C");
    assert_int_equal(green_sleep(0), 0);
    say("main put_nowait(5) with C waiting ...");
    assert_int_equal(green_channel_put(C, ITEM(5), 0), 0);
    say("main put_nowait(5) done");
    JOIN(c);
    assert_order("A get ...", "B get ...", "balance -2", "P1 put 1 ...", "P2 put 2 ...",
                 "P3 put 3 ...", "X queued after the putters", "main back, balance 1", "A got 1",
                 "P1 put 1 done", "B got 2", "P2 put 2 done", "main get -> 3", "P3 put 3 done",
                 "A after sleep(0)", "B after sleep(0)", "put_nowait with no getter -> Full",
                 "get(timeout=0) with no putter -> Empty", "C get ...",
                 "main put_nowait(5) with C waiting ...", "C got 5", "main put_nowait(5) done",
                 "C after sleep(0)");
    assert_int_equal(green_channel_balance(C), 0);
    assert_int_equal(green_channel_destroy(C), 0);
}

static void *cancelled_put(void *arg)
{
    (void)arg;
    CHECK_EQ(green_channel_put(C, ITEM(1), GREEN_FOREVER), -1);
    CHECK_EQ(errno, ECANCELED);
    return NULL;
}

static void *cancelled_get(void *arg)
{
    (void)arg;
    void *v;
    CHECK_EQ(green_channel_get(C, GREEN_FOREVER, &v), -1);
    CHECK_EQ(errno, ECANCELED);
    return NULL;
}

static void *timed_put(void *arg)
{
    (void)arg;
    CHECK_EQ(green_channel_put(C, ITEM(1), 0.001), -1);
    CHECK_EQ(errno, ETIMEDOUT);
    return NULL;
}

static void test_kill_timeout_misuse(void **state)
{
    (void)state;
    C = green_channel_new();
    assert_non_null(C);
    green_t *p = SPAWN(cancelled_put, NULL), *t = SPAWN(timed_put, NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_channel_balance(C), 2);
    assert_int_equal(green_channel_destroy(C), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(green_kill(p, GREEN_FOREVER), 0);
    JOIN(t);
    green_release(p);
    assert_int_equal(green_channel_balance(C), 0);
    green_t *g = SPAWN(cancelled_get, NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_channel_balance(C), -1);
    assert_int_equal(green_kill(g, GREEN_FOREVER), 0);
    green_release(g);
    assert_int_equal(green_channel_balance(C), 0);
    void *v;
    assert_int_equal(green_channel_get(C, NAN, &v), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_channel_put(C, NULL, NAN), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_channel_get(C, GREEN_FOREVER, &v), -1); /* main, nobody to put */
    assert_int_equal(errno, EDEADLK);
    assert_int_equal(green_channel_balance(C), 0);
    assert_int_equal(green_channel_destroy(C), 0);
    assert_no_failures();

    assert_int_equal(green_channel_destroy(NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_channel_put(NULL, NULL, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_channel_get(NULL, 0, &v), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_channel_balance(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_order),
        HUB_TEST(test_kill_timeout_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
