/* SPDX-License-Identifier: MIT */
/* Queue kinds and the calls every kind has: LIFO and priority order (gevent's LifoQueue and
 * PriorityQueue), peek, task_done/join (JoinableQueue), shutdown (Python 3.13's, with
 * EPIPE), timeouts, kills, misuse.  Expected traces are gevent 22.10's where gevent has
 * the call; shutdown's are the rules of sync.h. */
#include <math.h>
#include <stdint.h>

#include "hubtest.h"

static green_queue_t *Q;

static void *getter(void *arg)
{
    void *it = NULL;
    int rc = green_queue_get(Q, GREEN_FOREVER, &it);
    if (rc == 0)
        say("%s got %d", (const char *)arg, INT(it));
    else
        say("%s get failed: %s", (const char *)arg, errno == EPIPE ? "EPIPE" : "other");
    return NULL;
}

static void *peeker(void *arg)
{
    void *it = NULL;
    int rc = green_queue_peek(Q, GREEN_FOREVER, &it);
    if (rc == 0)
        say("%s peeked %d", (const char *)arg, INT(it));
    else
        say("%s peek failed: %s", (const char *)arg, errno == EPIPE ? "EPIPE" : "other");
    return NULL;
}

/* gevent:
 *   q = LifoQueue(); spawn getter A, peeker P, getter B; sleep(0)
 *   q.put(1); q.put(2); q.put(3); q.peek_nowait(); joinall */
static void test_lifo_peek(void **state)
{
    (void)state;
    Q = green_queue_new_lifo(0);
    assert_non_null(Q);
    green_t *w[3] = {SPAWN(getter, "A"), SPAWN(peeker, "P"), SPAWN(getter, "B")};
    assert_int_equal(green_sleep(0), 0);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(green_queue_put(Q, ITEM(i), GREEN_FOREVER), 0);
    void *it = NULL;
    assert_int_equal(green_queue_try_peek(Q, &it), 0);
    say("main put 1 2 3, peek_nowait -> %d", INT(it));
    for (int i = 0; i < 3; i++)
        JOIN(w[i]);
    assert_int_equal(green_queue_size(Q), 1);
    assert_int_equal(green_queue_try_get(Q, &it), 0);
    say("left: 1 -> %d", INT(it));
    assert_order("main put 1 2 3, peek_nowait -> 3", "A got 3", "P peeked 2", "B got 2",
                 "left: 1 -> 1");
    assert_int_equal(green_queue_destroy(Q), 0);
}

static void *lifo_putter(void *arg)
{
    const char *n = arg;
    int v = n[1] == '1' ? 'c' : 'd';
    say("%s put %c ...", n, v);
    CHECK_EQ(green_queue_put(Q, ITEM(v), GREEN_FOREVER), 0);
    say("%s put %c done", n, v);
    return NULL;
}

/* gevent: bq = LifoQueue(maxsize=2) holding a, b; P1 and P2 block putting c, d. */
static void test_lifo_bounded(void **state)
{
    (void)state;
    Q = green_queue_new_lifo(2);
    assert_non_null(Q);
    assert_int_equal(green_queue_put(Q, ITEM('a'), 0), 0);
    assert_int_equal(green_queue_put(Q, ITEM('b'), 0), 0);
    assert_int_equal(green_queue_try_put(Q, ITEM('z')), -1);
    assert_int_equal(errno, EAGAIN);
    green_t *p1 = SPAWN(lifo_putter, "P1"), *p2 = SPAWN(lifo_putter, "P2");
    assert_int_equal(green_sleep(0), 0);
    void *it = NULL, *it2 = NULL;
    assert_int_equal(green_queue_get(Q, GREEN_FOREVER, &it), 0);
    say("main get -> %c", INT(it));
    assert_int_equal(green_queue_get(Q, GREEN_FOREVER, &it), 0);
    say("main get -> %c", INT(it));
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_queue_get(Q, GREEN_FOREVER, &it), 0);
    assert_int_equal(green_queue_get(Q, GREEN_FOREVER, &it2), 0);
    say("main gets %c %c", INT(it), INT(it2));
    JOIN(p1);
    JOIN(p2);
    assert_order("P1 put c ...", "P2 put d ...", "main get -> b", "main get -> a", "P1 put c done",
                 "P2 put d done", "main gets d c");
    assert_int_equal(green_queue_destroy(Q), 0);
}

/* Items are (priority, name) pairs; equal priorities tie. */
struct prio {
    int p;
    const char *name;
};

static int by_priority(const void *a, const void *b)
{
    const struct prio *x = a, *y = b;
    return (x->p > y->p) - (x->p < y->p);
}

static void *prio_getter(void *arg)
{
    void *it = NULL;
    CHECK_EQ(green_queue_get(Q, GREEN_FOREVER, &it), 0);
    if (it)
        say("%s got %s", (const char *)arg, ((struct prio *)it)->name);
    return NULL;
}

/* gevent: PriorityQueue of (p, seq, name) tuples (seq: the put order, so ties are FIFO as
 * ours); getters A, B block; put e5 x1 c3 y1 d3. */
static void test_priority(void **state)
{
    (void)state;
    static struct prio items[] = {{5, "e5"}, {1, "x1"}, {3, "c3"}, {1, "y1"}, {3, "d3"}};
    Q = green_queue_new_priority(0, by_priority);
    assert_non_null(Q);
    green_t *a = SPAWN(prio_getter, "A"), *b = SPAWN(prio_getter, "B");
    assert_int_equal(green_sleep(0), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(green_queue_put(Q, &items[i], GREEN_FOREVER), 0);
    void *it = NULL;
    assert_int_equal(green_queue_peek(Q, GREEN_FOREVER, &it), 0);
    say("main put e5 x1 c3 y1 d3, peek -> %s", ((struct prio *)it)->name);
    JOIN(a);
    JOIN(b);
    char rest[64] = "rest:";
    while (green_queue_try_get(Q, &it) == 0) {
        strcat(rest, " ");
        strcat(rest, ((struct prio *)it)->name);
    }
    say("%s", rest);
    assert_order("main put e5 x1 c3 y1 d3, peek -> x1", "A got x1", "B got y1", "rest: c3 d3 e5");
    assert_int_equal(green_queue_destroy(Q), 0);

    /* Many ties among many priorities: always by priority, then FIFO. */
    static struct prio many[200];
    Q = green_queue_new_priority(0, by_priority);
    assert_non_null(Q);
    uint64_t seed = 7;
    for (int i = 0; i < 200; i++) {
        many[i].p = (int)(splitmix64(&seed) % 5);
        assert_int_equal(green_queue_try_put(Q, &many[i]), 0);
    }
    struct prio *last = NULL;
    while (green_queue_try_get(Q, &it) == 0) {
        struct prio *p = it;
        if (last)
            assert_true(last->p < p->p || (last->p == p->p && last < p));
        last = p;
    }
    assert_int_equal(green_queue_destroy(Q), 0);
    assert_null(green_queue_new_priority(0, NULL));
    assert_int_equal(errno, EINVAL);
}

static void *joiner(void *arg)
{
    say("%s join", (const char *)arg);
    CHECK_EQ(green_queue_join(Q, GREEN_FOREVER), 0);
    say("%s joined, unfinished %zu", (const char *)arg, green_queue_unfinished(Q));
    return NULL;
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        void *it = NULL;
        CHECK_EQ(green_queue_get(Q, GREEN_FOREVER, &it), 0);
        say("W got %d", INT(it));
        CHECK_EQ(green_sleep(0), 0);
        say("W done %d", INT(it));
        CHECK_EQ(green_queue_task_done(Q), 0);
        if (INT(it) == 2)
            return NULL;
    }
}

/* gevent: JoinableQueue; joiners A, B; a worker that sleeps between get and task_done. */
static void test_join(void **state)
{
    (void)state;
    Q = green_queue_new(0);
    assert_non_null(Q);
    assert_int_equal(green_queue_join(Q, GREEN_FOREVER), 0);
    say("main join on empty: True (no switch)");
    assert_int_equal(green_queue_put(Q, ITEM(1), 0), 0);
    assert_int_equal(green_queue_put(Q, ITEM(2), 0), 0);
    assert_int_equal(green_queue_unfinished(Q), 2);
    green_t *a = SPAWN(joiner, "A"), *b = SPAWN(joiner, "B");
    assert_int_equal(green_sleep(0), 0);
    green_t *w = SPAWN(worker, NULL);
    green_t *x = SPAWN(say_arg, "X queued before the worker finishes");
    JOIN(a);
    JOIN(b);
    assert_int_equal(green_queue_task_done(Q), -1);
    say("task_done too many -> %s", errno == EINVAL ? "EINVAL" : "?");
    assert_int_equal(green_queue_unfinished(Q), 0);
    assert_int_equal(green_queue_put(Q, ITEM(3), 0), 0);
    say("main join(timeout=0) -> %s", green_queue_join(Q, 0) == 0 ? "True" : "False");
    assert_int_equal(errno, ETIMEDOUT);
    void *it;
    assert_int_equal(green_queue_get(Q, 0, &it), 0);
    assert_int_equal(green_queue_task_done(Q), 0);
    green_t *y = SPAWN(say_arg, "Y runs");
    say("main join -> %s (no joiners: no switch)",
        green_queue_join(Q, GREEN_FOREVER) == 0 ? "True" : "False");
    assert_int_equal(green_sleep(0), 0);
    JOIN(w);
    JOIN(x);
    JOIN(y);
    assert_order("main join on empty: True (no switch)", "A join", "B join", "W got 1",
                 "X queued before the worker finishes", "W done 1", "W got 2", "W done 2",
                 "A joined, unfinished 0", "B joined, unfinished 0", "task_done too many -> EINVAL",
                 "main join(timeout=0) -> False", "main join -> True (no joiners: no switch)",
                 "Y runs");
    assert_int_equal(green_queue_destroy(Q), 0);
}

static void *putter(void *arg)
{
    int rc = green_queue_put(Q, ITEM(9), GREEN_FOREVER);
    say("%s put -> %s", (const char *)arg, rc == 0 ? "ok" : errno == EPIPE ? "EPIPE" : "other");
    return NULL;
}

/* Shutdown (sync.h): the _unlock callback already queued still hands the item over; then
 * the getters that find the queue empty fail, FIFO. */
static void test_shutdown(void **state)
{
    (void)state;
    Q = green_queue_new(0);
    assert_non_null(Q);
    green_t *g[3] = {SPAWN(peeker, "K"), SPAWN(getter, "G1"), SPAWN(getter, "G2")};
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_queue_put(Q, ITEM(7), 0), 0); /* queues _unlock */
    green_t *x = SPAWN(say_arg, "X queued after _unlock");
    assert_int_equal(green_queue_shutdown(Q, false), 0);
    say("main shutdown: no switch");
    assert_true(green_queue_is_shutdown(Q));
    for (int i = 0; i < 3; i++)
        JOIN(g[i]);
    JOIN(x);
    assert_order("main shutdown: no switch", "K peeked 7", "G1 got 7", "G2 get failed: EPIPE",
                 "X queued after _unlock");
    assert_int_equal(green_queue_destroy(Q), 0);
}

/* Blocked putters: woken by one _unlock queued by the shutdown, FIFO, their items not
 * added; what was in the queue can still be taken. */
static void test_shutdown_putters(void **state)
{
    (void)state;
    Q = green_queue_new(1);
    assert_non_null(Q);
    assert_int_equal(green_queue_put(Q, ITEM(1), 0), 0);
    green_t *p[2] = {SPAWN(putter, "P1"), SPAWN(putter, "P2")};
    assert_int_equal(green_sleep(0), 0);
    green_t *x = SPAWN(say_arg, "X queued before the shutdown");
    assert_int_equal(green_queue_shutdown(Q, false), 0);
    say("main shutdown: no switch");
    for (int i = 0; i < 2; i++)
        JOIN(p[i]);
    JOIN(x);
    assert_order("main shutdown: no switch", "X queued before the shutdown", "P1 put -> EPIPE",
                 "P2 put -> EPIPE");
    assert_int_equal(green_queue_size(Q), 1);
    void *it;
    assert_int_equal(green_queue_get(Q, 0, &it), 0);
    assert_int_equal(INT(it), 1);
    assert_int_equal(green_queue_get(Q, 0, &it), -1);
    assert_int_equal(errno, EPIPE);
    assert_int_equal(green_queue_put(Q, ITEM(1), 0), -1);
    assert_int_equal(errno, EPIPE);
    assert_int_equal(green_queue_try_put(Q, ITEM(1)), -1);
    assert_int_equal(errno, EPIPE);
    assert_int_equal(green_queue_destroy(Q), 0);

    /* Not immediate: what is left can be taken, then EPIPE. */
    Q = green_queue_new(0);
    assert_non_null(Q);
    assert_int_equal(green_queue_put(Q, ITEM(1), 0), 0);
    assert_int_equal(green_queue_put(Q, ITEM(2), 0), 0);
    assert_int_equal(green_queue_shutdown(Q, false), 0);
    assert_int_equal(green_queue_try_peek(Q, &it), 0);
    assert_int_equal(INT(it), 1);
    assert_int_equal(green_queue_get(Q, GREEN_FOREVER, &it), 0);
    assert_int_equal(INT(it), 1);
    assert_int_equal(green_queue_try_get(Q, &it), 0);
    assert_int_equal(INT(it), 2);
    assert_int_equal(green_queue_get(Q, GREEN_FOREVER, &it), -1);
    assert_int_equal(errno, EPIPE);
    assert_int_equal(green_queue_try_get(Q, &it), -1);
    assert_int_equal(errno, EPIPE);
    assert_int_equal(green_queue_peek(Q, GREEN_FOREVER, &it), -1);
    assert_int_equal(errno, EPIPE);
    assert_int_equal(green_queue_try_peek(Q, &it), -1);
    assert_int_equal(errno, EPIPE);
    assert_int_equal(green_queue_unfinished(Q), 2); /* task_done still counts */
    assert_int_equal(green_queue_task_done(Q), 0);
    assert_int_equal(green_queue_task_done(Q), 0);
    assert_int_equal(green_queue_join(Q, 0), 0);
    assert_int_equal(green_queue_destroy(Q), 0);
}

/* Immediate: the items are dropped and counted done, so a joiner wakes. */
static void test_shutdown_immediate(void **state)
{
    (void)state;
    Q = green_queue_new(0);
    assert_non_null(Q);
    assert_int_equal(green_queue_put(Q, ITEM(1), 0), 0);
    assert_int_equal(green_queue_put(Q, ITEM(2), 0), 0);
    assert_int_equal(green_queue_put(Q, ITEM(3), 0), 0);
    void *it;
    assert_int_equal(green_queue_get(Q, 0, &it), 0); /* taken, not done: stays unfinished */
    green_t *j = SPAWN(joiner, "J");
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_queue_shutdown(Q, true), 0);
    assert_int_equal(green_queue_size(Q), 0);
    assert_int_equal(green_queue_unfinished(Q), 1);
    assert_int_equal(green_sleep(0), 0);
    say("main: J still waits for the item taken");
    assert_int_equal(green_queue_task_done(Q), 0);
    JOIN(j);
    assert_int_equal(green_queue_shutdown(Q, true), 0); /* again: nothing changes */
    assert_order("J join", "main: J still waits for the item taken", "J joined, unfinished 0");
    assert_int_equal(green_queue_destroy(Q), 0);
}

static void *cancelled_peeker(void *arg)
{
    (void)arg;
    void *it;
    CHECK_EQ(green_queue_peek(Q, GREEN_FOREVER, &it), -1);
    CHECK_EQ(errno, ECANCELED);
    return NULL;
}

static void *cancelled_joiner(void *arg)
{
    (void)arg;
    CHECK_EQ(green_queue_join(Q, GREEN_FOREVER), -1);
    CHECK_EQ(errno, ECANCELED);
    return NULL;
}

static void test_timeouts_kill_misuse(void **state)
{
    (void)state;
    Q = green_queue_new(0);
    assert_non_null(Q);
    void *it;
    assert_int_equal(green_queue_peek(Q, 0, &it), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_int_equal(green_queue_peek(Q, 0.001, &it), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_int_equal(green_queue_try_peek(Q, &it), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(green_queue_peek(Q, NAN, &it), -1);
    assert_int_equal(errno, EINVAL);
    green_t *k = SPAWN(cancelled_peeker, NULL);
    assert_int_equal(green_sleep(0), 0); /* K waits */
    assert_int_equal(green_queue_destroy(Q), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(green_kill(k, GREEN_FOREVER), 0);
    green_release(k);
    assert_int_equal(green_queue_put(Q, ITEM(1), 0), 0); /* unfinished: a joiner waits */
    green_t *j = SPAWN(cancelled_joiner, NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_queue_join(Q, 0.001), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_int_equal(green_queue_join(Q, NAN), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_queue_destroy(Q), -1); /* J joins */
    assert_int_equal(errno, EBUSY);
    assert_int_equal(green_queue_get(Q, 0, &it), 0);
    assert_int_equal(green_kill(j, GREEN_FOREVER), 0);
    green_release(j);
    assert_int_equal(green_queue_destroy(Q), 0);
    assert_no_failures();

    /* a full priority queue: put times out, try_put refuses */
    static struct prio one = {1, "one"}, two = {2, "two"};
    Q = green_queue_new_priority(1, by_priority);
    assert_non_null(Q);
    assert_int_equal(green_queue_put(Q, &two, 0), 0);
    assert_int_equal(green_queue_put(Q, &one, 0.001), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_int_equal(green_queue_try_put(Q, &one), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(green_queue_size(Q), 1);
    assert_int_equal(green_queue_get(Q, 0, &it), 0);
    assert_ptr_equal(it, &two);
    assert_int_equal(green_queue_task_done(Q), 0);
    assert_int_equal(green_queue_destroy(Q), 0);

    assert_int_equal(green_queue_peek(NULL, 0, &it), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_queue_try_peek(NULL, &it), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_queue_task_done(NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_queue_join(NULL, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_queue_shutdown(NULL, false), -1);
    assert_int_equal(errno, EINVAL);
    assert_false(green_queue_is_shutdown(NULL));
    assert_int_equal(green_queue_unfinished(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_lifo_peek),          HUB_TEST(test_lifo_bounded),
        HUB_TEST(test_priority),           HUB_TEST(test_join),
        HUB_TEST(test_shutdown),           HUB_TEST(test_shutdown_putters),
        HUB_TEST(test_shutdown_immediate), HUB_TEST(test_timeouts_kill_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
