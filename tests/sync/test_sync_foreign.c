/* SPDX-License-Identifier: MIT */
/* Calls from where they cannot be served: another thread's RLock, Condition, Queue,
 * Channel, Group and Pool are refused with EXDEV (and its greenlets by a group); blocking
 * calls from the hub itself (a libev callback) with EPERM.  Nothing of the owner's
 * changes. */
#include <ev.h>
#include <pthread.h>

#include "hubtest.h"

static green_rlock_t *RL;
static green_lock_t *LK;
static green_cond_t *CR, *CL;
static green_queue_t *Q;
static green_channel_t *CH;
static green_group_t *GR, *PO;
static green_t *MEMBER; /* spawned on the main thread's hub */

static void *noop(void *arg) { return arg; }

static void *foreign(void *arg)
{
    (void)arg;
    void *it;
    CHECK_FAILS(green_rlock_acquire(RL, 0), EXDEV);
    CHECK_FAILS(green_rlock_try_acquire(RL), EXDEV);
    CHECK_FAILS(green_rlock_release(RL), EXDEV);
    CHECK_FAILS(green_rlock_destroy(RL), EXDEV);
    CHECK(!green_rlock_owned(RL));
    CHECK_NULL(green_cond_new(LK), EXDEV);
    CHECK_NULL(green_cond_new_rlock(RL), EXDEV);
    CHECK_FAILS(green_cond_wait(CR, 0), EXDEV);
    CHECK_FAILS(green_cond_notify(CL, 1), EXDEV);
    CHECK_FAILS(green_cond_notify_all(CR), EXDEV);
    CHECK_FAILS(green_cond_destroy(CL), EXDEV);
    CHECK_FAILS(green_queue_put(Q, NULL, 0), EXDEV);
    CHECK_FAILS(green_queue_peek(Q, 0, &it), EXDEV);
    CHECK_FAILS(green_queue_try_peek(Q, &it), EXDEV);
    CHECK_FAILS(green_queue_task_done(Q), EXDEV);
    CHECK_FAILS(green_queue_join(Q, 0), EXDEV);
    CHECK_FAILS(green_queue_shutdown(Q, true), EXDEV);
    CHECK_FAILS(green_queue_destroy(Q), EXDEV);
    CHECK_FAILS(green_channel_put(CH, NULL, 0), EXDEV);
    CHECK_FAILS(green_channel_get(CH, 0, &it), EXDEV);
    CHECK_FAILS(green_channel_destroy(CH), EXDEV);
    CHECK_NULL(green_group_spawn(PO, noop, NULL, NULL, 0), EXDEV);
    CHECK_FAILS(green_group_add(GR, MEMBER, 0), EXDEV);
    CHECK_FAILS(green_group_discard(GR, MEMBER), EXDEV);
    CHECK(!green_group_contains(GR, MEMBER));
    CHECK_FAILS(green_group_join(GR, 0), EXDEV);
    CHECK_FAILS(green_group_wait_available(PO, 0), EXDEV);
    CHECK_FAILS(green_group_kill(GR, 0), EXDEV);
    CHECK_FAILS(green_group_kill_nowait(GR), EXDEV);
    CHECK_FAILS(green_group_map(PO, noop, NULL, 0, NULL, NULL, 0), EXDEV);
    CHECK_FAILS(green_group_destroy(PO), EXDEV);

    /* a group of this thread refuses the other thread's greenlet */
    green_group_t *mine = green_group_new();
    CHECK(mine != NULL);
    CHECK_FAILS(green_group_add(mine, MEMBER, 0), EXDEV);
    CHECK_FAILS(green_group_discard(mine, MEMBER), EXDEV);
    CHECK(!green_group_contains(mine, MEMBER));
    CHECK_EQ(green_group_destroy(mine), 0);
    CHECK_EQ(green_hub_shutdown(), 0);
    return NULL;
}

static void test_foreign(void **state)
{
    (void)state;
    RL = green_rlock_new();
    LK = green_lock_new();
    assert_non_null(RL);
    assert_non_null(LK);
    CR = green_cond_new_rlock(RL);
    CL = green_cond_new(LK);
    Q = green_queue_new_lifo(0);
    CH = green_channel_new();
    GR = green_group_new();
    PO = green_pool_new(2);
    assert_non_null(CR);
    assert_non_null(CL);
    assert_non_null(Q);
    assert_non_null(CH);
    assert_non_null(GR);
    assert_non_null(PO);
    assert_int_equal(green_rlock_acquire(RL, 0), 0);
    assert_int_equal(green_queue_put(Q, Q, 0), 0);
    MEMBER = green_group_spawn(GR, noop, NULL, NULL, 0);
    assert_non_null(MEMBER);

    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, foreign, NULL), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_no_failures();

    /* nothing changed */
    assert_true(green_rlock_owned(RL));
    assert_int_equal(green_rlock_count(RL), 1);
    assert_int_equal(green_queue_size(Q), 1);
    assert_int_equal(green_queue_unfinished(Q), 1);
    assert_false(green_queue_is_shutdown(Q));
    assert_true(green_group_contains(GR, MEMBER));
    assert_int_equal(green_group_free_count(PO), 2);

    JOIN(MEMBER);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_rlock_release(RL), 0);
    assert_int_equal(green_cond_destroy(CR), 0);
    assert_int_equal(green_cond_destroy(CL), 0);
    assert_int_equal(green_rlock_destroy(RL), 0);
    assert_int_equal(green_lock_destroy(LK), 0);
    assert_int_equal(green_queue_destroy(Q), 0);
    assert_int_equal(green_channel_destroy(CH), 0);
    assert_int_equal(green_group_destroy(GR), 0);
    assert_int_equal(green_group_destroy(PO), 0);
}

/* ---- from the hub ------------------------------------------------------------------- */

static int hub_calls;

static void in_hub(void *arg)
{
    (void)arg;
    void *it;
    hub_calls++;
    CHECK_FAILS(green_rlock_acquire(RL, GREEN_FOREVER), EPERM); /* held by main: it would block */
    CHECK_FAILS(green_cond_wait(CR, 0), EPERM);
    CHECK_FAILS(green_queue_peek(Q, 0, &it), EPERM); /* empty */
    CHECK_FAILS(green_queue_join(Q, 0), EPERM);      /* an item is unfinished */
    CHECK_FAILS(green_channel_put(CH, NULL, 0), EPERM);
    CHECK_FAILS(green_channel_get(CH, 0, &it), EPERM);
    CHECK(green_group_spawn(PO, noop, NULL, NULL, 0) == NULL); /* full */
    CHECK_EQ(errno, EPERM);
    CHECK_FAILS(green_group_join(GR, 0), EPERM);
    CHECK_FAILS(green_group_wait_available(PO, 0), EPERM);
    CHECK_FAILS(green_group_kill(GR, 0), EPERM);
    CHECK_FAILS(green_group_map(GR, noop, NULL, 0, NULL, NULL, 0), EPERM);
    /* what never blocks works from the hub */
    CHECK_EQ(green_queue_try_put(Q, NULL), 0);
    CHECK_EQ(green_queue_try_get(Q, &it), 0);
    CHECK_EQ(green_queue_task_done(Q), 0);
}

static void *hold_place(void *arg)
{
    (void)arg;
    CHECK_EQ(green_sleep(0.02), 0);
    return NULL;
}

static void test_from_hub(void **state)
{
    (void)state;
    RL = green_rlock_new();
    assert_non_null(RL);
    CR = green_cond_new_rlock(RL);
    Q = green_queue_new(0);
    CH = green_channel_new();
    GR = green_group_new();
    PO = green_pool_new(1);
    assert_non_null(CR);
    assert_non_null(Q);
    assert_non_null(CH);
    assert_non_null(GR);
    assert_non_null(PO);
    assert_int_equal(green_rlock_acquire(RL, 0), 0);
    assert_int_equal(green_queue_put(Q, NULL, 0), 0);
    void *it;
    assert_int_equal(green_queue_get(Q, 0, &it), 0); /* empty, one unfinished */
    green_t *m = green_group_spawn(GR, hold_place, NULL, NULL, 0);
    green_t *p = green_group_spawn(PO, hold_place, NULL, NULL, 0);
    assert_non_null(m);
    assert_non_null(p);
    struct hub_call w;
    hub_call_start(&w, 0.0, in_hub, NULL);
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(hub_calls, 1);
    assert_no_failures();

    assert_true(green_rlock_owned(RL));
    assert_int_equal(green_queue_unfinished(Q), 1);
    assert_int_equal(green_group_size(GR), 1);
    assert_int_equal(green_group_size(PO), 1);
    JOIN(m);
    JOIN(p);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_queue_task_done(Q), 0);
    assert_int_equal(green_rlock_release(RL), 0);
    assert_int_equal(green_cond_destroy(CR), 0);
    assert_int_equal(green_rlock_destroy(RL), 0);
    assert_int_equal(green_queue_destroy(Q), 0);
    assert_int_equal(green_channel_destroy(CH), 0);
    assert_int_equal(green_group_destroy(GR), 0);
    assert_int_equal(green_group_destroy(PO), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_foreign),
        HUB_TEST(test_from_hub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
