/* SPDX-License-Identifier: MIT */
/* Queue (sync.h): gevent's orders (gevent-semantics.md Q1-Q3), FIFO getters and putters
 * with some of them timing out or killed (the queue stays consistent: gevent prints the
 * same orders), try_ forms, growth, destroy while waited on, bad input. */
#include <math.h>

#include "hubtest.h"

static green_queue_t *q;

static void *getter(void *arg)
{
    void *item = NULL;
    CHECK_EQ(green_queue_get(q, GREEN_FOREVER, &item), 0);
    say("%s got %d", (const char *)arg, INT(item));
    return NULL;
}

/* gevent Q2: a blocked getter reserves nothing. */
static void test_q2_getters(void **state)
{
    (void)state;
    q = green_queue_new(0);
    green_t *g[4] = {SPAWN(getter, "A"), SPAWN(getter, "B")};
    assert_int_equal(green_sleep(0), 0);
    g[2] = SPAWN(say_arg, "X runs (queued before the puts)");
    assert_int_equal(green_queue_put(q, ITEM(1), GREEN_FOREVER), 0);
    assert_int_equal(green_queue_put(q, ITEM(2), GREEN_FOREVER), 0);
    say("main put 1, put 2: no switch");
    assert_int_equal(green_sleep(0), 0);
    g[3] = SPAWN(getter, "C");
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_queue_put(q, ITEM(3), GREEN_FOREVER), 0);
    void *item = NULL;
    assert_int_equal(green_queue_try_get(q, &item), 0);
    say("main put 3, then get_nowait -> %d", INT(item));
    assert_int_equal(green_sleep(0), 0);
    say("C still blocked: %s", green_ready(g[3]) ? "False" : "True");
    assert_int_equal(green_queue_put(q, ITEM(4), GREEN_FOREVER), 0);
    assert_int_equal(green_sleep(0), 0);
    JOIN_ALL(g, 4);
    assert_order("main put 1, put 2: no switch", "X runs (queued before the puts)", "A got 1",
                 "B got 2", "main put 3, then get_nowait -> 3", "C still blocked: True", "C got 4");
    assert_int_equal(green_queue_size(q), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_queue_destroy(q), 0);
    assert_no_failures();
}

static void *putter(void *arg)
{
    const char *n = arg; /* "P1b": putter P1 puts 'b' */
    say("%.2s put %c ...", n, n[2]);
    CHECK_EQ(green_queue_put(q, ITEM(n[2]), GREEN_FOREVER), 0);
    say("%.2s put %c done", n, n[2]);
    return NULL;
}

/* gevent Q3: a bounded queue admits blocked putters in order as room appears. */
static void test_q3_putters(void **state)
{
    (void)state;
    q = green_queue_new(1);
    assert_int_equal(green_queue_put(q, ITEM('a'), GREEN_FOREVER), 0);
    green_t *p[2] = {SPAWN(putter, "P1b"), SPAWN(putter, "P2c")};
    assert_int_equal(green_sleep(0), 0);
    CHECK_FAILS(green_queue_try_put(q, ITEM('z')), EAGAIN);
    say("main put_nowait -> Full");
    void *item = NULL;
    assert_int_equal(green_queue_get(q, GREEN_FOREVER, &item), 0);
    say("main get -> %c (no switch)", INT(item));
    assert_int_equal(green_queue_get(q, GREEN_FOREVER, &item), 0);
    say("main get -> %c (blocked; _unlock admitted P1 first, then handed its item to main)",
        INT(item));
    assert_int_equal(green_sleep(0), 0);
    say("qsize=%zu: P2 was admitted while main slept", green_queue_size(q));
    JOIN_ALL(p, 2);
    assert_order("P1 put b ...", "P2 put c ...", "main put_nowait -> Full",
                 "main get -> a (no switch)", "P1 put b done",
                 "main get -> b (blocked; _unlock admitted P1 first, then handed its item to main)",
                 "P2 put c done", "qsize=1: P2 was admitted while main slept");
    assert_int_equal(green_queue_try_get(q, &item), 0);
    assert_int_equal(INT(item), 'c');
    CHECK_FAILS(green_queue_try_get(q, &item), EAGAIN);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_queue_destroy(q), 0);
    assert_no_failures();
}

static void *putter_or_killed(void *arg)
{
    const char *n = arg;
    if (green_queue_put(q, ITEM(n[2]), GREEN_FOREVER) == 0)
        say("%.2s put %c", n, n[2]);
    else if (errno == ECANCELED)
        say("%.2s killed", n);
    return NULL;
}

static void *getter_timed(void *arg)
{
    const char *n = arg;
    void *item = NULL;
    if (green_queue_get(q, n[1] == '2' ? 0.01 : GREEN_FOREVER, &item) == 0)
        say("%s got %d", n, INT(item));
    else if (errno == ETIMEDOUT)
        say("%s Empty", n);
    return NULL;
}

/* gevent prints: P2 killed | qsize=1 | get a | P1 put b | get b | P3 put d | get d |
 * G2 Empty | G1 got 1 | G3 got 2 | qsize=0 */
static void test_fifo_with_kill_and_timeout(void **state)
{
    (void)state;
    q = green_queue_new(1);
    assert_int_equal(green_queue_put(q, ITEM('a'), 0), 0);
    green_t *p[3] = {SPAWN(putter_or_killed, "P1b"), SPAWN(putter_or_killed, "P2c"),
                     SPAWN(putter_or_killed, "P3d")};
    assert_int_equal(green_sleep(0), 0);
    CHECK_FAILS(green_queue_destroy(q), EBUSY);
    assert_int_equal(green_kill(p[1], GREEN_FOREVER), 0);
    say("qsize=%zu", green_queue_size(q));
    for (int i = 0; i < 3; i++) {
        void *item = NULL;
        assert_int_equal(green_queue_get(q, GREEN_FOREVER, &item), 0);
        say("get %c", INT(item));
    }
    JOIN_ALL(p, 3);
    assert_int_equal(green_queue_size(q), 0);
    green_queue_t *bounded = q;
    q = green_queue_new(0);
    green_t *g[3] = {SPAWN(getter_timed, "G1"), SPAWN(getter_timed, "G2"),
                     SPAWN(getter_timed, "G3")};
    assert_int_equal(green_sleep(0.05), 0);
    assert_int_equal(green_queue_put(q, ITEM(1), 0), 0);
    assert_int_equal(green_queue_put(q, ITEM(2), 0), 0);
    JOIN_ALL(g, 3);
    say("qsize=%zu", green_queue_size(q));
    assert_order("P2 killed", "qsize=1", "get a", "P1 put b", "get b", "P3 put d", "get d",
                 "G2 Empty", "G1 got 1", "G3 got 2", "qsize=0");
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_queue_destroy(q), 0);
    assert_int_equal(green_queue_destroy(bounded), 0);
    assert_no_failures();
}

/* A killed getter leaves no trace: the next item goes to the next getter in line.  But a
 * kill queued after the _unlock that wakes the getter comes too late (gevent: the same). */
static void *getter_killed(void *arg)
{
    void *item = NULL;
    if (green_queue_get(q, GREEN_FOREVER, &item) == 0)
        say("%s got %d", (const char *)arg, INT(item));
    else if (errno == ECANCELED)
        say("%s killed", (const char *)arg);
    return NULL;
}

static void test_killed_getter(void **state)
{
    (void)state;
    q = green_queue_new(0);
    green_t *g[4] = {SPAWN(getter_killed, "K"), SPAWN(getter, "B")};
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_kill_nowait(g[0]), 0);         /* the kill is queued first ... */
    assert_int_equal(green_queue_put(q, ITEM(9), 0), 0); /* ... then the _unlock */
    JOIN_ALL(g, 2);
    g[2] = SPAWN(getter_killed, "L");
    g[3] = SPAWN(getter, "C");
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_queue_put(q, ITEM(8), 0), 0); /* _unlock first: L gets it */
    assert_int_equal(green_kill_nowait(g[2]), 0);
    assert_int_equal(green_join(g[2], GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_queue_put(q, ITEM(7), 0), 0);
    JOIN_ALL(g + 2, 2);
    assert_order("K killed", "B got 9", "L got 8", "C got 7");
    assert_int_equal(green_queue_size(q), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_queue_destroy(q), 0);
    assert_no_failures();
}

/* The ring grows and wraps, FIFO throughout. */
static void test_growth_fifo(void **state)
{
    (void)state;
    q = green_queue_new(0);
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < round % 17 + 1; i++)
            assert_int_equal(green_queue_try_put(q, ITEM(next_in++)), 0);
        for (int i = 0; i < round % 5 + 1 && green_queue_size(q); i++) {
            void *item = NULL;
            assert_int_equal(green_queue_try_get(q, &item), 0);
            assert_int_equal(INT(item), next_out++);
        }
    }
    assert_int_equal(green_queue_size(q), (size_t)(next_in - next_out));
    while (green_queue_size(q)) {
        void *item = NULL;
        assert_int_equal(green_queue_get(q, 0, &item), 0);
        assert_int_equal(INT(item), next_out++);
    }
    assert_int_equal(green_queue_destroy(q), 0);
    assert_no_failures();
}

static void test_bad_input(void **state)
{
    (void)state;
    q = green_queue_new(1);
    CHECK_FAILS(green_queue_get(q, NAN, NULL), EINVAL);
    assert_int_equal(green_queue_try_put(q, NULL), 0);
    CHECK_FAILS(green_queue_put(q, NULL, NAN), EINVAL);
    assert_int_equal(green_queue_size(q), 1);
    CHECK_FAILS(green_queue_put(NULL, NULL, 0), EINVAL);
    CHECK_FAILS(green_queue_try_put(NULL, NULL), EINVAL);
    CHECK_FAILS(green_queue_get(NULL, 0, NULL), EINVAL);
    CHECK_FAILS(green_queue_try_get(NULL, NULL), EINVAL);
    CHECK_FAILS(green_queue_destroy(NULL), EINVAL);
    assert_int_equal(green_queue_size(NULL), 0);
    assert_int_equal(green_queue_destroy(q), 0); /* items are the caller's */
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_q2_getters),          HUB_TEST(test_q3_putters),
        HUB_TEST(test_fifo_with_kill_and_timeout), HUB_TEST(test_killed_getter),
        HUB_TEST(test_growth_fifo),         HUB_TEST(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
