/* SPDX-License-Identifier: MIT */
/* Hubs and threads: each thread has its own hub, working concurrently; another thread's
 * greenlets and objects are refused with EXDEV; a thread that exits with greenlets alive
 * shuts its hub down, and their cleanup runs.  (Suite threads: runs under TSAN too.) */
#include <pthread.h>

#include "hubtest.h"

#define THREADS 4

/* ---- concurrent hubs: a producer/consumer pipeline per thread ------------------------- */

struct pipeline {
    green_queue_t *q;
    long n, sum;
};

static void *producer(void *arg)
{
    struct pipeline *p = arg;
    for (long i = 1; i <= p->n; i++)
        CHECK_EQ(green_queue_put(p->q, (void *)(intptr_t)i, GREEN_FOREVER), 0);
    return NULL;
}

static void *consumer(void *arg)
{
    struct pipeline *p = arg;
    for (long i = 1; i <= p->n; i++) {
        void *item = NULL;
        CHECK_EQ(green_queue_get(p->q, GREEN_FOREVER, &item), 0);
        CHECK_EQ((intptr_t)item, i); /* FIFO */
        p->sum += (intptr_t)item;
        if (i % 7 == 0)
            CHECK_EQ(green_sleep(0), 0);
    }
    return NULL;
}

static void *run_pipeline(void *arg)
{
    long n = (long)(intptr_t)arg;
    struct pipeline p = {.q = green_queue_new(4), .n = n};
    CHECK(p.q != NULL);
    green_t *c = green_spawn(consumer, &p, NULL), *pr = green_spawn(producer, &p, NULL);
    CHECK(c && pr);
    CHECK_EQ(green_join(c, GREEN_FOREVER, NULL), 0);
    CHECK_EQ(green_join(pr, GREEN_FOREVER, NULL), 0);
    CHECK_EQ(p.sum, n * (n + 1) / 2);
    CHECK_EQ(green_release(c), 0);
    CHECK_EQ(green_release(pr), 0);
    CHECK_EQ(green_sleep(0.001), 0);
    CHECK_EQ(green_queue_destroy(p.q), 0);
    CHECK_EQ(green_hub_shutdown(), 0);
    return NULL;
}

static void test_concurrent_hubs(void **state)
{
    (void)state;
    long n = scaled(20000, 200);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, run_pipeline, (void *)(intptr_t)n), 0);
    run_pipeline((void *)(intptr_t)n); /* the main thread too, on the default loop */
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_no_failures();
}

/* ---- another thread's objects: EXDEV -------------------------------------------------- */

struct foreign {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stage; /* 1: objects made; 2: the other thread is done with them */
    green_t *g;
    green_event_t *e;
    green_result_t *r;
    green_sem_t *s;
    green_lock_t *l;
    green_queue_t *q;
    green_timeout_t *t;
};

static void stage_set(struct foreign *f, int stage)
{
    pthread_mutex_lock(&f->mu);
    f->stage = stage;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void stage_wait(struct foreign *f, int stage)
{
    pthread_mutex_lock(&f->mu);
    while (f->stage < stage)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

static void *wait_event(void *arg)
{
    CHECK_EQ(green_event_wait(arg, GREEN_FOREVER), 0);
    return NULL;
}

static void *owner_thread(void *arg)
{
    struct foreign *f = arg;
    f->e = green_event_new();
    f->r = green_result_new();
    f->s = green_sem_new(1, true);
    f->l = green_lock_new();
    f->q = green_queue_new(0);
    f->g = green_spawn(wait_event, f->e, NULL);
    CHECK_EQ(green_sleep(0), 0); /* g waits on e */
    f->t = green_timeout_start(100);
    CHECK(f->e && f->r && f->s && f->l && f->q && f->g && f->t);
    stage_set(f, 1);
    stage_wait(f, 2);
    /* all still intact */
    CHECK(!green_ready(f->g));
    CHECK_EQ(green_timeout_end(f->t), 0);
    CHECK_EQ(green_event_set(f->e), 0);
    CHECK_EQ(green_join(f->g, GREEN_FOREVER, NULL), 0);
    CHECK_EQ(green_release(f->g), 0);
    CHECK_EQ(green_sleep(0), 0);
    CHECK_EQ(green_sem_value(f->s), 1);
    CHECK_EQ(green_queue_size(f->q), 0);
    CHECK_EQ(green_event_destroy(f->e), 0);
    CHECK_EQ(green_result_destroy(f->r), 0);
    CHECK_EQ(green_sem_destroy(f->s), 0);
    CHECK_EQ(green_lock_destroy(f->l), 0);
    CHECK_EQ(green_queue_destroy(f->q), 0);
    CHECK_EQ(green_hub_shutdown(), 0);
    return NULL;
}

static void test_foreign_objects(void **state)
{
    (void)state;
    struct foreign f = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, owner_thread, &f), 0);
    stage_wait(&f, 1);
    green_event_t *mine = green_event_new(); /* this thread has a hub of its own */
    CHECK_FAILS(green_join(f.g, 0, NULL), EXDEV);
    CHECK_FAILS(green_kill(f.g, 0), EXDEV);
    CHECK_FAILS(green_kill_nowait(f.g), EXDEV);
    CHECK_FAILS(green_release(f.g), EXDEV);
    CHECK_FAILS(green_event_set(f.e), EXDEV);
    CHECK_FAILS(green_event_clear(f.e), EXDEV);
    CHECK_FAILS(green_event_wait(f.e, 0), EXDEV);
    CHECK_FAILS(green_event_destroy(f.e), EXDEV);
    CHECK_FAILS(green_result_set(f.r, NULL), EXDEV);
    CHECK_FAILS(green_result_set_error(f.r, 5, NULL), EXDEV);
    CHECK_FAILS(green_result_get(f.r, 0, NULL), EXDEV);
    CHECK_FAILS(green_result_try_get(f.r, NULL), EXDEV);
    CHECK_FAILS(green_result_destroy(f.r), EXDEV);
    CHECK_FAILS(green_sem_acquire(f.s, 0), EXDEV);
    CHECK_FAILS(green_sem_try_acquire(f.s), EXDEV);
    CHECK_FAILS(green_sem_release(f.s), EXDEV);
    CHECK_FAILS(green_sem_destroy(f.s), EXDEV);
    CHECK_FAILS(green_lock_acquire(f.l, 0), EXDEV);
    CHECK_FAILS(green_lock_try_acquire(f.l), EXDEV);
    CHECK_FAILS(green_lock_release(f.l), EXDEV);
    CHECK_FAILS(green_lock_destroy(f.l), EXDEV);
    CHECK_FAILS(green_queue_put(f.q, NULL, 0), EXDEV);
    CHECK_FAILS(green_queue_try_put(f.q, NULL), EXDEV);
    CHECK_FAILS(green_queue_get(f.q, 0, NULL), EXDEV);
    CHECK_FAILS(green_queue_try_get(f.q, NULL), EXDEV);
    CHECK_FAILS(green_queue_destroy(f.q), EXDEV);
    CHECK_FAILS(green_timeout_end(f.t), EXDEV);
    stage_set(&f, 2);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(green_event_destroy(mine), 0);
    assert_int_equal(green_hub_shutdown(), 0);
    assert_no_failures();
}

/* ---- thread exit shuts the hub down ---------------------------------------------------- */

static int cleanups; /* counted by the exiting threads' greenlets */

static void *cleanup_when_killed(void *arg)
{
    CHECK_FAILS(green_event_wait(arg, GREEN_FOREVER), ECANCELED);
    CHECK_EQ(green_event_destroy(arg), 0); /* idle again: the last user frees it */
    __atomic_add_fetch(&cleanups, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void *sleep_killed(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_sleep(100), ECANCELED);
    __atomic_add_fetch(&cleanups, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void *exit_with_live_greenlets(void *arg)
{
    (void)arg;
    green_t *a = green_spawn(cleanup_when_killed, green_event_new(), NULL);
    green_t *b = green_spawn(sleep_killed, NULL, NULL);
    CHECK(a && b);
    CHECK_EQ(green_release(a), 0);
    CHECK_EQ(green_sleep(0), 0);
    return NULL; /* b's handle is not released: the hub's term frees it */
}

static void test_thread_exit_shutdown(void **state)
{
    (void)state;
    cleanups = 0;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, exit_with_live_greenlets, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(__atomic_load_n(&cleanups, __ATOMIC_RELAXED), 2 * THREADS);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CHECKED_TEST(test_concurrent_hubs),
        CHECKED_TEST(test_foreign_objects),
        CHECKED_TEST(test_thread_exit_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
