/* SPDX-License-Identifier: MIT */
/* gevent.wait / gevent.iwait in C (green/wait.h): objects come out in the order their
 * notifiers run, over greenlets, Events, AsyncResults, Semaphores and Locks; count,
 * timeout (0 included), duplicates, an iteration ended early, a killed waiter, refusals.
 * Expected orders are what gevent 22.10 prints for the Python programs quoted above each
 * test. */
#include <pthread.h>

#include "hubtest.h"

static green_event_t *E;
static green_result_t *A;

static void *die_after(void *arg)
{
    const char *name = arg;
    int rounds = name[1] - '0';
    for (int i = 0; i < rounds; i++)
        CHECK_EQ(green_sleep(0), 0);
    say("%s dies", name);
    return NULL;
}

static void *setter(void *arg)
{
    (void)arg;
    say("setter sets e");
    CHECK_EQ(green_event_set(E), 0);
    CHECK_EQ(green_sleep(0), 0);
    say("setter sets a");
    CHECK_EQ(green_result_set(A, (void *)5), 0);
    return NULL;
}

/* e = Event(); a = AsyncResult(); w(n, k): k times sleep(0), say(f"{n} dies")
 * g1 = spawn(w, "g1", 3); g2 = spawn(w, "g2", 1); g3 = spawn(w, "g3", 2)
 * spawn(setter)  (say, e.set(), sleep(0), say, a.set(5))
 * for o in gevent.iwait([g1, g2, g3, e, a]): say(f"iwait -> {name}") */
static void test_iwait_order(void **state)
{
    (void)state;
    E = green_event_new();
    A = green_result_new();
    green_t *g1 = green_spawn(die_after, "g3", NULL); /* g1 sleeps 3 times */
    green_t *g2 = green_spawn(die_after, "g1", NULL);
    green_t *g3 = green_spawn(die_after, "g2", NULL);
    green_t *s = green_spawn(setter, NULL, NULL);
    green_waitable_t objs[] = {green_waitable_greenlet(g1), green_waitable_greenlet(g2),
                               green_waitable_greenlet(g3), green_waitable_event(E),
                               green_waitable_result(A)};
    static const char *const names[] = {"g1", "g2", "g3", "e", "a"};
    green_iwait_t *it = green_iwait_new(objs, 5, GREEN_FOREVER, GREEN_WAIT_ALL);
    assert_non_null(it);
    size_t i;
    int rc;
    while ((rc = green_iwait_next(it, &i)) == 1)
        say("iwait -> %s", names[i]);
    assert_int_equal(rc, 0);
    assert_int_equal(green_iwait_next(it, &i), 0); /* over: stays over */
    assert_int_equal(green_iwait_end(it), 0);
    assert_no_failures();
    /* die_after's rounds come from the name: "g3" is g1, "g1" is g2, "g2" is g3 */
    assert_order("setter sets e", "g1 dies", "iwait -> e", "setter sets a", "iwait -> g2",
                 "g2 dies", "iwait -> a", "g3 dies", "iwait -> g3", "iwait -> g1");
    green_t *all[] = {g1, g2, g3, s};
    for (int k = 0; k < 4; k++)
        assert_int_equal(green_release(all[k]), 0);
    assert_int_equal(green_event_destroy(E), 0);
    assert_int_equal(green_result_destroy(A), 0);
    assert_int_equal(green_hub_shutdown(), 0);
}

static void *nothing(void *arg) { return arg; }

static void *set_later(void *arg)
{
    CHECK_EQ(green_event_set(arg), 0);
    return NULL;
}

/* e2 = Event(); e2.set(); d = spawn(lambda: None); sleep(0); spawn(say, "X runs")
 * wait([d, e2]) -> [d, e2], after X (already ready objects come from the queue)
 * e3, e4 = Event(), Event(); spawn_later(0.01, e4.set)
 * wait([e3, e4], count=1) -> [e4];  wait([e3], timeout=0.01) -> []
 * wait([e3, e4], timeout=0) -> [e4];  wait([e5, e5]) -> 2 entries;  wait([e3], count=0) -> [] */
static void test_wait_ready_count_timeout(void **state)
{
    (void)state;
    green_event_t *e2 = green_event_new(), *e3 = green_event_new(), *e4 = green_event_new();
    assert_int_equal(green_event_set(e2), 0);
    green_t *d = green_spawn(nothing, NULL, NULL);
    assert_int_equal(green_sleep(0), 0);
    green_t *x = green_spawn(say_arg, "X runs", NULL);
    green_waitable_t de2[] = {green_waitable_greenlet(d), green_waitable_event(e2)};
    size_t ready[2] = {9, 9};
    assert_int_equal(green_wait(de2, 2, GREEN_FOREVER, GREEN_WAIT_ALL, ready), 2);
    say("wait ready -> [%zu, %zu]", ready[0], ready[1]);

    green_t *later = green_spawn_later(0.01, set_later, e4, NULL);
    green_waitable_t e34[] = {green_waitable_event(e3), green_waitable_event(e4)};
    assert_int_equal(green_wait(e34, 2, GREEN_FOREVER, 1, ready), 1);
    say("count=1 -> [%zu]", ready[0]);
    assert_int_equal(green_wait(e34, 1, 0.01, GREEN_WAIT_ALL, ready), 0);
    assert_int_equal(green_wait(e34, 2, 0, GREEN_WAIT_ALL, ready), 1);
    say("timeout0 with e4 set -> [%zu]", ready[0]);
    green_waitable_t dup[] = {green_waitable_event(e2), green_waitable_event(e2)};
    assert_int_equal(green_wait(dup, 2, GREEN_FOREVER, GREEN_WAIT_ALL, ready), 2);
    assert_int_equal(green_wait(e34, 1, GREEN_FOREVER, 0, ready), 0);
    assert_int_equal(green_wait(NULL, 0, GREEN_FOREVER, GREEN_WAIT_ALL, NULL), 0);
    assert_no_failures();
    assert_order("X runs", "wait ready -> [0, 1]", "count=1 -> [1]", "timeout0 with e4 set -> [1]");
    green_t *all[] = {d, x, later};
    for (int k = 0; k < 3; k++)
        assert_int_equal(green_release(all[k]), 0);
    /* Woken by e2's notifier, main runs inside it; destroying e2 lets that notifier free
     * it when it ends (h-tests: no more EBUSY for the last woken waiter). */
    assert_int_equal(green_event_destroy(e2), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_destroy(e3), 0); /* every link was taken out again */
    assert_int_equal(green_event_destroy(e4), 0);
    assert_int_equal(green_hub_shutdown(), 0);
}

static void *release_unit(void *arg)
{
    say("rel");
    CHECK_EQ(green_sem_release(arg), 0);
    return NULL;
}

/* s = Semaphore(0); spawn(rel)  (say("rel"); s.release())
 * wait([s]) -> ready, no unit taken: s.counter == 1.  A held Lock is ready once released. */
static void test_semaphore_and_lock(void **state)
{
    (void)state;
    green_sem_t *s = green_sem_new(0, false);
    green_t *r = green_spawn(release_unit, s, NULL);
    green_waitable_t ws[] = {green_waitable_sem(s)};
    assert_int_equal(green_wait(ws, 1, GREEN_FOREVER, GREEN_WAIT_ALL, NULL), 1);
    say("sem ready counter=%u", green_sem_value(s));
    green_lock_t *l = green_lock_new();
    assert_int_equal(green_lock_acquire(l, GREEN_FOREVER), 0);
    green_waitable_t wl[] = {green_waitable_lock(l)};
    assert_int_equal(green_wait(wl, 1, 0, GREEN_WAIT_ALL, NULL), 0); /* held */
    assert_int_equal(green_lock_release(l), 0);
    assert_int_equal(green_wait(wl, 1, 0, GREEN_WAIT_ALL, NULL), 1);
    assert_int_equal(green_lock_try_acquire(l), 0); /* waiting took nothing */
    assert_int_equal(green_lock_release(l), 0);
    assert_no_failures();
    assert_order("rel", "sem ready counter=1");
    assert_int_equal(green_release(r), 0);
    assert_int_equal(green_sleep(0), 0); /* let the notifiers that woke main finish */
    assert_int_equal(green_sem_destroy(s), 0);
    assert_int_equal(green_lock_destroy(l), 0);
    assert_int_equal(green_hub_shutdown(), 0);
}

static green_iwait_t *IT;

static void *iterate(void *arg)
{
    (void)arg;
    size_t i;
    CHECK_EQ(green_iwait_next(IT, &i), -1);
    CHECK_EQ(errno, ECANCELED);
    CHECK_EQ(green_iwait_next(IT, &i), 0); /* over after the error */
    return NULL;
}

/* An iteration ended after its first object unlinks the rest (the objects can be freed);
 * a waiter killed in green_iwait_next gets ECANCELED; a second waiter is refused. */
static void test_end_early_kill_and_refusals(void **state)
{
    (void)state;
    green_event_t *e = green_event_new(), *never = green_event_new();
    assert_int_equal(green_event_set(e), 0);
    green_waitable_t objs[] = {green_waitable_event(never), green_waitable_event(e)};
    green_iwait_t *it = green_iwait_new(objs, 2, GREEN_FOREVER, GREEN_WAIT_ALL);
    size_t i = 9;
    assert_int_equal(green_iwait_next(it, &i), 1);
    assert_int_equal(i, 1);
    assert_int_equal(green_event_destroy(never), -1); /* still linked */
    assert_int_equal(errno, EBUSY);
    assert_int_equal(green_iwait_end(it), 0);
    assert_int_equal(green_event_destroy(never), 0);

    never = green_event_new();
    objs[0] = green_waitable_event(never);
    IT = green_iwait_new(objs, 1, GREEN_FOREVER, GREEN_WAIT_ALL);
    green_t *w = green_spawn(iterate, NULL, NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_iwait_next(IT, &i), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(green_iwait_end(IT), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(green_kill(w, GREEN_FOREVER), 0);
    assert_int_equal(green_iwait_end(IT), 0);
    assert_int_equal(green_release(w), 0);

    green_waitable_t bad[] = {{GREEN_WAITABLE_EVENT, NULL}};
    assert_null(green_iwait_new(bad, 1, GREEN_FOREVER, GREEN_WAIT_ALL));
    assert_int_equal(errno, EINVAL);
    green_waitable_t unknown[] = {{(enum green_waitable_kind)99, e}};
    assert_null(green_iwait_new(unknown, 1, GREEN_FOREVER, GREEN_WAIT_ALL));
    assert_int_equal(errno, EINVAL);
    assert_null(green_iwait_new(NULL, 1, GREEN_FOREVER, GREEN_WAIT_ALL));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_wait(objs, 1, 0.0 / 0.0, GREEN_WAIT_ALL, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_iwait_next(NULL, &i), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_iwait_end(NULL), -1);
    assert_int_equal(errno, EINVAL);
    green_t *plain = green_new(nothing, NULL, NULL);
    green_waitable_t wp[] = {green_waitable_greenlet(plain)};
    assert_null(green_iwait_new(wp, 1, GREEN_FOREVER, GREEN_WAIT_ALL));
    assert_int_equal(errno, EINVAL);
    green_destroy(plain);
    assert_no_failures();
    assert_int_equal(green_event_destroy(e), 0);
    assert_int_equal(green_event_destroy(never), 0);
    assert_int_equal(green_hub_shutdown(), 0);
}

/* Objects of another thread's hub are refused with EXDEV by every call of this API. */
static pthread_barrier_t made, checked;
static green_event_t *foreign_event;
static green_t *foreign_greenlet;

static void *other_thread(void *arg)
{
    (void)arg;
    foreign_event = green_event_new();
    foreign_greenlet = green_spawn(nothing, NULL, NULL); /* queued: never runs */
    pthread_barrier_wait(&made);
    pthread_barrier_wait(&checked);
    CHECK_EQ(green_release(foreign_greenlet), 0);
    CHECK_EQ(green_event_destroy(foreign_event), 0);
    CHECK_EQ(green_hub_shutdown(), 0);
    return NULL;
}

static void test_foreign_objects(void **state)
{
    (void)state;
    pthread_barrier_init(&made, NULL, 2);
    pthread_barrier_init(&checked, NULL, 2);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_barrier_wait(&made);
    green_waitable_t we[] = {green_waitable_event(foreign_event)};
    green_waitable_t wg[] = {green_waitable_greenlet(foreign_greenlet)};
    green_iwait_t *it1 = green_iwait_new(we, 1, GREEN_FOREVER, GREEN_WAIT_ALL);
    int e1 = errno;
    green_iwait_t *it2 = green_iwait_new(wg, 1, GREEN_FOREVER, GREEN_WAIT_ALL);
    int e2 = errno;
    int rj = green_joinall(&foreign_greenlet, 1, GREEN_FOREVER, GREEN_WAIT_ALL, false, NULL, NULL);
    int e3 = errno;
    int rk = green_killall(&foreign_greenlet, 1, GREEN_FOREVER, true);
    int e4 = errno;
    int rl = green_link(foreign_greenlet, NULL, NULL);
    int e5 = errno;
    pthread_barrier_wait(&checked);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&made);
    pthread_barrier_destroy(&checked);
    assert_null(it1);
    assert_int_equal(e1, EXDEV);
    assert_null(it2);
    assert_int_equal(e2, EXDEV);
    assert_int_equal(rj, -1);
    assert_int_equal(e3, EXDEV);
    assert_int_equal(rk, -1);
    assert_int_equal(e4, EXDEV);
    assert_int_equal(rl, -1);
    assert_int_equal(e5, EXDEV);
    assert_no_failures();
    assert_int_equal(green_hub_shutdown(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_iwait_order),        HUB_TEST(test_wait_ready_count_timeout),
        HUB_TEST(test_semaphore_and_lock), HUB_TEST(test_end_early_kill_and_refusals),
        HUB_TEST(test_foreign_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
