/* SPDX-License-Identifier: MIT */
/* Lifetimes at the edges: a greenlet killed before it started, a scoped timeout that
 * outlives its greenlet, objects that outlive their hub or are destroyed by the greenlet
 * their wake-up just resumed, and callbacks queued after the hub's prepare phase. */
#include <ev.h>
#include <unistd.h>

#include "hubtest.h"

/* core.h: GREEN_DEAD covers "killed before it could start", as soon as green_ready() is. */
static void test_killed_unstarted_is_dead(void **state)
{
    (void)state;
    green_t *g = SPAWN(say_arg, "never");
    assert_int_equal(green_state(g) & GREEN_DEAD, 0);
    assert_int_equal(green_kill(g, GREEN_FOREVER), 0);
    assert_true(green_ready(g));
    assert_int_equal(green_state(g) & (GREEN_DEAD | GREEN_ACTIVE), GREEN_DEAD);
    assert_true(green_dead(g));
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_state(g) & GREEN_DEAD, GREEN_DEAD);
    assert_int_equal(green_release(g), 0);
    assert_order();
}

/* ---- a scoped timeout that outlives its greenlet ---------------------------------------- */

static green_timeout_t *left_armed;

static void *arm_and_return(void *arg)
{
    left_armed = green_timeout_start(*(const double *)arg);
    CHECK(left_armed != NULL);
    say("armed");
    return NULL;
}

/* The greenlet ends with its timeout armed; the timeout's expiry passes; nothing is thrown
 * (into a dead greenlet, or a freed one when the handle was released), and the timeout can
 * still be ended from main, as not fired. */
static void left_armed_case(bool release)
{
    static const double zero = 0;
    left_armed = NULL;
    green_t *g = SPAWN(arm_and_return, &zero);
    if (release)
        assert_int_equal(green_release(g), 0);
    assert_int_equal(green_sleep(0.02), 0); /* the 0 s timer is due long before */
    assert_non_null(left_armed);
    assert_false(green_timeout_fired(left_armed));
    assert_int_equal(green_timeout_end(left_armed), 0);
    if (!release) {
        assert_true(green_dead(g));
        assert_true(green_successful(g));
        assert_int_equal(green_release(g), 0);
    }
    assert_order("armed");
}

static void test_timeout_outlives_greenlet(void **state)
{
    (void)state;
    left_armed_case(false);
}

static void test_timeout_outlives_released_greenlet(void **state)
{
    (void)state;
    left_armed_case(true);
}

/* A killed greenlet's timeout is disarmed too. */
static void *arm_and_wait(void *arg)
{
    (void)arg;
    left_armed = green_timeout_start(0.01);
    CHECK_FAILS(green_sleep(100), ECANCELED);
    return NULL;
}

static void test_timeout_of_killed(void **state)
{
    (void)state;
    green_t *g = SPAWN(arm_and_wait, NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_kill(g, GREEN_FOREVER), 0);
    assert_int_equal(green_release(g), 0);
    assert_int_equal(green_sleep(0.03), 0);
    assert_int_equal(green_timeout_end(left_armed), 0);
}

/* green_timeout_start from a greenlet the hub does not know: it could never be thrown
 * into safely (nothing tells the hub it died), and it cannot block anyway. */
static void *plain_arm(void *arg)
{
    (void)arg;
    CHECK_NULL(green_timeout_start(0), EPERM);
    return NULL;
}

static void test_timeout_plain_greenlet(void **state)
{
    (void)state;
    green_t *p = green_new(plain_arm, NULL, NULL);
    assert_non_null(p);
    assert_int_equal(green_switch(p, NULL, NULL), 0);
    assert_int_equal(green_destroy(p), 0);
}

/* ---- objects that outlive their hub ---------------------------------------------------- */

static green_event_t *never_set, *set_early;
static green_iwait_t *left_iter;

/* Takes the first ready object of an iteration, then blocks elsewhere with the iteration
 * still open (linked to never_set, its timer running) until shutdown kills it. */
static void *iterate_then_block(void *arg)
{
    (void)arg;
    green_waitable_t objs[] = {green_waitable_event(set_early), green_waitable_event(never_set)};
    left_iter = green_iwait_new(objs, 2, 100, 2);
    CHECK(left_iter != NULL);
    size_t index = 99;
    CHECK_EQ(green_iwait_next(left_iter, &index), 1);
    CHECK_EQ(index, 0);
    CHECK_FAILS(green_sleep(100), ECANCELED);
    return NULL;
}

/* Every object kind made before green_hub_shutdown() can be destroyed after it, without a
 * hub (none is created for that), and the thread's next hub is the same owner. */
static void test_objects_outlive_hub(void **state)
{
    (void)state;
    green_lock_t *lock = green_lock_new();
    green_rlock_t *rlock = green_rlock_new();
    green_sem_t *sem = green_sem_new(1, false);
    green_result_t *res = green_result_new();
    green_queue_t *q = green_queue_new(0);
    green_channel_t *ch = green_channel_new();
    green_cond_t *cond = green_cond_new(lock);
    green_group_t *grp = green_group_new();
    green_group_t *pool = green_pool_new(2);
    never_set = green_event_new();
    set_early = green_event_new();
    assert_true(lock && rlock && sem && res && q && ch && cond && grp && pool && never_set &&
                set_early);
    assert_int_equal(green_event_set(set_early), 0);
    assert_int_equal(green_release(SPAWN(iterate_then_block, NULL)), 0);
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(green_queue_put(q, "x", 0), 0);
    green_timeout_t *mine = green_timeout_start(0.01); /* left armed: disarmed by shutdown */
    assert_non_null(mine);

    assert_int_equal(green_hub_shutdown(), 0);
    assert_int_equal(green_event_destroy(never_set), 0);
    assert_int_equal(green_iwait_end(left_iter), 0);
    assert_false(green_timeout_fired(mine));
    assert_int_equal(green_timeout_end(mine), 0);
    assert_int_equal(green_cond_destroy(cond), 0);
    assert_int_equal(green_lock_destroy(lock), 0);
    assert_int_equal(green_rlock_destroy(rlock), 0);
    assert_int_equal(green_sem_destroy(sem), 0);
    assert_int_equal(green_result_destroy(res), 0);
    assert_int_equal(green_queue_destroy(q), 0);
    assert_int_equal(green_channel_destroy(ch), 0);
    assert_int_equal(green_group_destroy(grp), 0);
    assert_int_equal(green_group_destroy(pool), 0);
    assert_int_equal(green_event_destroy(set_early), 0);
    assert_int_equal(green_hub_shutdown(), 0); /* destroying created no hub: nothing to do */
    green_hub_set_time_budget(false);          /* the teardown's hub */
}

static void *wait_event(void *arg)
{
    CHECK_EQ(green_event_wait(arg, GREEN_FOREVER), 0);
    say("woken");
    return NULL;
}

/* Other calls on an object made before a shutdown run on the thread's next hub, created by
 * the call as a first call would: the object works there as on a fresh hub. */
static void test_object_used_on_next_hub(void **state)
{
    (void)state;
    green_event_t *e = green_event_new();
    green_sem_t *sem = green_sem_new(0, false);
    assert_true(e && sem);
    assert_int_equal(green_hub_shutdown(), 0);
    assert_int_equal(green_sem_release(sem), 0); /* creates the next hub */
    assert_int_equal(green_sem_try_acquire(sem), 0);
    assert_int_equal(green_hub_set_time_budget(false), 0);
    green_t *g = SPAWN(wait_event, e);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_set(e), 0);
    assert_int_equal(green_join(g, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_release(g), 0);
    assert_int_equal(green_event_destroy(e), 0);
    assert_int_equal(green_sem_destroy(sem), 0);
    assert_order("woken");
}

/* ---- wait, then destroy: every kind ------------------------------------------------------ */

static void *queue_getter(void *arg)
{
    void *item = NULL;
    CHECK_EQ(green_queue_get(arg, GREEN_FOREVER, &item), 0);
    CHECK(item != NULL && strcmp(item, "item") == 0);
    CHECK_EQ(green_queue_destroy(arg), 0);         /* its _unlock is running now */
    CHECK_FAILS(green_queue_destroy(arg), EINVAL); /* doomed, not freed yet: detected */
    say("getter");
    return NULL;
}

static void *queue_putter(void *arg)
{
    CHECK_EQ(green_queue_put(arg, "second", GREEN_FOREVER), 0);
    CHECK_EQ(green_queue_destroy(arg), 0); /* its _unlock is running now */
    say("putter");
    return NULL;
}

static void *queue_joiner(void *arg)
{
    CHECK_EQ(green_queue_join(arg, GREEN_FOREVER), 0);
    CHECK_EQ(green_queue_destroy(arg), 0); /* the joiners' notifier is running now */
    CHECK_FAILS(green_queue_destroy(arg), EINVAL);
    say("joiner");
    return NULL;
}

static void *channel_getter(void *arg)
{
    void *item = NULL;
    CHECK_EQ(green_channel_get(arg, GREEN_FOREVER, &item), 0);
    CHECK_EQ(green_channel_destroy(arg), 0); /* the hand-over is running now */
    CHECK_FAILS(green_channel_destroy(arg), EINVAL); /* and it is still doomed, not freed */
    say("channel getter %s", (const char *)item);
    return NULL;
}

static void *rlock_waiter(void *arg)
{
    CHECK_EQ(green_rlock_acquire(arg, GREEN_FOREVER), 0);
    CHECK_EQ(green_rlock_release(arg), 0);
    CHECK_EQ(green_rlock_destroy(arg), 0);
    CHECK_FAILS(green_rlock_destroy(arg), EINVAL);
    say("rlock waiter");
    return NULL;
}

static void *group_joiner(void *arg)
{
    CHECK_EQ(green_group_join(arg, GREEN_FOREVER), 0);
    CHECK_EQ(green_group_destroy(arg), 0);
    CHECK_FAILS(green_group_destroy(arg), EINVAL);
    say("group joiner");
    return NULL;
}

/* Event, AsyncResult, Semaphore, Lock: the waiter the notifier resumed destroys the object,
 * then tries again while the notifier still runs. */
static void *event_waiter(void *arg)
{
    CHECK_EQ(green_event_wait(arg, GREEN_FOREVER), 0);
    CHECK_EQ(green_event_destroy(arg), 0);
    CHECK_FAILS(green_event_destroy(arg), EINVAL);
    say("event waiter");
    return NULL;
}

static void *result_waiter(void *arg)
{
    void *v = NULL;
    CHECK_EQ(green_result_get(arg, GREEN_FOREVER, &v), 0);
    CHECK_EQ(green_result_destroy(arg), 0);
    CHECK_FAILS(green_result_destroy(arg), EINVAL);
    say("result waiter");
    return NULL;
}

static void *sem_waiter(void *arg)
{
    CHECK_EQ(green_sem_acquire(arg, GREEN_FOREVER), 0);
    CHECK_EQ(green_sem_destroy(arg), 0);
    CHECK_FAILS(green_sem_destroy(arg), EINVAL);
    say("sem waiter");
    return NULL;
}

static void *lock_waiter(void *arg)
{
    CHECK_EQ(green_lock_acquire(arg, GREEN_FOREVER), 0);
    CHECK_EQ(green_lock_release(arg), 0);
    CHECK_EQ(green_lock_destroy(arg), 0);
    CHECK_FAILS(green_lock_destroy(arg), EINVAL);
    say("lock waiter");
    return NULL;
}

struct cond_case {
    green_lock_t *lock;
    green_cond_t *cond;
};

static void *cond_waiter(void *arg)
{
    struct cond_case *c = arg;
    CHECK_EQ(green_lock_acquire(c->lock, GREEN_FOREVER), 0);
    CHECK_EQ(green_cond_wait(c->cond, GREEN_FOREVER), 0);
    CHECK_EQ(green_lock_release(c->lock), 0);
    CHECK_EQ(green_cond_destroy(c->cond), 0);
    CHECK_EQ(green_lock_destroy(c->lock), 0);
    say("cond waiter");
    return NULL;
}

static void spawn_join(green_fn fn, void *arg, void (*trigger)(void *), void *targ)
{
    green_t *g = SPAWN(fn, arg);
    assert_int_equal(green_sleep(0), 0); /* g blocks */
    trigger(targ);
    assert_int_equal(green_join(g, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_release(g), 0);
}

static void put_item(void *q) { assert_int_equal(green_queue_put(q, "item", GREEN_FOREVER), 0); }
static void get_item(void *q)
{
    void *item = NULL;
    assert_int_equal(green_queue_get(q, GREEN_FOREVER, &item), 0);
    assert_string_equal(item, "first");
    assert_int_equal(green_queue_task_done(q), 0);
}
static void task_done(void *q) { assert_int_equal(green_queue_task_done(q), 0); }
static void channel_put(void *c) { assert_int_equal(green_channel_put(c, "x", GREEN_FOREVER), 0); }
static void rlock_release(void *l) { assert_int_equal(green_rlock_release(l), 0); }
static void nothing(void *arg) { (void)arg; }
static void event_set(void *e) { assert_int_equal(green_event_set(e), 0); }
static void result_set(void *r) { assert_int_equal(green_result_set(r, "v"), 0); }
static void sem_release(void *s) { assert_int_equal(green_sem_release(s), 0); }
static void lock_release(void *l) { assert_int_equal(green_lock_release(l), 0); }
static void cond_notify(void *arg)
{
    struct cond_case *c = arg;
    assert_int_equal(green_lock_acquire(c->lock, GREEN_FOREVER), 0);
    assert_int_equal(green_cond_notify(c->cond, 1), 0);
    assert_int_equal(green_lock_release(c->lock), 0);
}

static void test_woken_waiter_destroys(void **state)
{
    (void)state;
    green_queue_t *q = green_queue_new(0);
    spawn_join(queue_getter, q, put_item, q);

    green_queue_t *bounded = green_queue_new(1); /* a putter admitted by _unlock */
    assert_int_equal(green_queue_put(bounded, "first", 0), 0);
    green_t *p = SPAWN(queue_putter, bounded);
    assert_int_equal(green_sleep(0), 0);
    get_item(bounded); /* queues _unlock, which admits the putter: it destroys the queue */
    assert_int_equal(green_join(p, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_release(p), 0);

    green_queue_t *joinable = green_queue_new(0);
    assert_int_equal(green_queue_put(joinable, "work", 0), 0);
    assert_int_equal(green_queue_try_get(joinable, &(void *){NULL}), 0);
    spawn_join(queue_joiner, joinable, task_done, joinable);

    green_channel_t *ch = green_channel_new();
    spawn_join(channel_getter, ch, channel_put, ch);

    green_rlock_t *rl = green_rlock_new();
    assert_int_equal(green_rlock_acquire(rl, GREEN_FOREVER), 0);
    spawn_join(rlock_waiter, rl, rlock_release, rl);

    green_group_t *grp = green_group_new();
    green_t *member = green_group_spawn(grp, say_arg, "member", NULL, 0);
    assert_non_null(member);
    spawn_join(group_joiner, grp, nothing, NULL);
    assert_int_equal(green_release(member), 0);

    struct cond_case c = {.lock = green_lock_new()};
    c.cond = green_cond_new(c.lock);
    spawn_join(cond_waiter, &c, cond_notify, &c);

    green_event_t *ev = green_event_new();
    spawn_join(event_waiter, ev, event_set, ev);
    green_result_t *res = green_result_new();
    spawn_join(result_waiter, res, result_set, res);
    green_sem_t *sem = green_sem_new(0, false);
    spawn_join(sem_waiter, sem, sem_release, sem);
    green_lock_t *lk = green_lock_new();
    assert_int_equal(green_lock_acquire(lk, GREEN_FOREVER), 0);
    spawn_join(lock_waiter, lk, lock_release, lk);

    assert_order("getter", "putter", "joiner", "channel getter x", "rlock waiter", "member",
                 "group joiner", "cond waiter", "event waiter", "result waiter", "sem waiter",
                 "lock waiter");
}

/* ---- callbacks queued after the hub's prepare --------------------------------------------- */

static green_event_t *late_event;

static void late_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    ev_prepare_stop(loop, w);
    CHECK(green_current() == green_hub());
    CHECK_EQ(green_event_set(late_event), 0); /* queues the notifier after the drain */
    say("late prepare");
}

/* A user's prepare of the lowest priority runs after the hub's drained the queue: the
 * notifier it queues must run without waiting for the poll to be woken by something else
 * (here only the wait's own timer would). */
static void test_callback_queued_after_prepare(void **state)
{
    (void)state;
    late_event = green_event_new();
    assert_non_null(late_event);
    struct ev_loop *loop = green_hub_loop();
    ev_prepare prep;
    ev_prepare_init(&prep, late_prepare);
    ev_set_priority(&prep, EV_MINPRI);
    ev_prepare_start(loop, &prep);
    assert_int_equal(green_event_wait(late_event, 2.0), 0);
    say("woken");
    assert_false(ev_is_active(&prep));
    assert_int_equal(green_event_destroy(late_event), 0);
    assert_order("late prepare", "woken");
}

static void on_embedded_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    char c = 0;
    CHECK_EQ(read(w->fd, &c, 1), 1); /* the backend fd is quiet again: no later wake-up */
    ev_io_stop(loop, w);
    CHECK_EQ(green_event_set(late_event), 0);
    say("embedded io");
}

/* The same through ev_embed's own prepare (libev sweeps the embedded loop there when its
 * watchers changed): the io watcher started on the embedded loop after the embed fires in
 * that sweep, before the hub's poll. */
static void test_embed_sweep_in_prepare(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    struct ev_loop *other = ev_loop_new(EVBACKEND_EPOLL);
    assert_non_null(other);
    green_embed_t *emb = green_embed_new(other);
    assert_non_null(emb);
    late_event = green_event_new();
    assert_non_null(late_event);
    ev_io io;
    ev_io_init(&io, on_embedded_io, fds[0], EV_READ);
    ev_io_start(other, &io); /* a change the embedded loop's kernel set does not have yet */
    assert_int_equal(green_event_wait(late_event, 2.0), 0);
    say("woken");
    assert_int_equal(green_embed_destroy(emb), 0);
    assert_int_equal(green_sleep(0), 0); /* the notifier that woke main ends */
    assert_int_equal(green_event_destroy(late_event), 0);
    ev_loop_destroy(other);
    close(fds[0]);
    close(fds[1]);
    assert_order("embedded io", "woken");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_killed_unstarted_is_dead),
        HUB_TEST(test_timeout_outlives_greenlet),
        HUB_TEST(test_timeout_outlives_released_greenlet),
        HUB_TEST(test_timeout_of_killed),
        HUB_TEST(test_timeout_plain_greenlet),
        HUB_TEST(test_objects_outlive_hub),
        HUB_TEST(test_object_used_on_next_hub),
        HUB_TEST(test_woken_waiter_destroys),
        HUB_TEST(test_callback_queued_after_prepare),
        HUB_TEST(test_embed_sweep_in_prepare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
