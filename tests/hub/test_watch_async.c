/* SPDX-License-Identifier: MIT */
/* green_async_*: other threads wake the hub to run a callback or set an Event; what they
 * wrote before sending is visible there (TSAN checks it); sends before the hub runs merge;
 * waits on such an Event time out and are killed as any; every watch object refuses
 * another thread (EXDEV). */
#include <pthread.h>
#include <semaphore.h>

#include "hubtest.h"

static green_event_t *ev;
static green_async_t *async;
static long payload; /* written by the sender, read by the callback */
static long calls;
static sem_t acked; /* the callback ran: the sender may go on */

/* Main was woken inside ev's notifier: let it end, then free ev. */
static void destroy_event(void)
{
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_destroy(ev), 0);
}

static void on_async(void *arg)
{
    CHECK_EQ(arg, &payload);
    calls++;
    say("callback sees %ld", payload);
    CHECK_EQ(green_event_set(ev), 0);
    sem_post(&acked);
}

static void *send_once(void *arg)
{
    payload = (long)(intptr_t)arg;
    CHECK_EQ(green_async_send(async), 0);
    return NULL;
}

static void test_callback_from_thread(void **state)
{
    (void)state;
    ev = green_event_new();
    async = green_async_new(on_async, &payload);
    assert_non_null(async);
    assert_int_equal(sem_init(&acked, 0, 0), 0);
    calls = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_once, (void *)(intptr_t)42), 0);
    /* only the async can wake main: it keeps the hub alive, so this is no EDEADLK */
    assert_int_equal(green_event_wait(ev, GREEN_FOREVER), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(green_async_destroy(async), 0);
    assert_no_failures();
    assert_order("callback sees 42");
    sem_destroy(&acked);
    destroy_event();
}

static void on_ping(void *arg)
{
    (void)arg;
    calls++;
    CHECK_EQ(payload, calls); /* the value its sender wrote before sending */
    CHECK_EQ(green_event_set(ev), 0);
    sem_post(&acked);
}

static void *send_many(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 1; i <= n; i++) {
        payload = i;
        CHECK_EQ(green_async_send(async), 0);
        while (sem_wait(&acked) != 0) {
        }
    }
    return NULL;
}

static void test_ping_pong(void **state)
{
    (void)state;
    long n = scaled(300, 10);
    ev = green_event_new();
    async = green_async_new(on_ping, NULL);
    assert_int_equal(sem_init(&acked, 0, 0), 0);
    calls = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_many, (void *)(intptr_t)n), 0);
    while (calls < n) {
        assert_int_equal(green_event_wait(ev, 10.0), 0);
        assert_int_equal(green_event_clear(ev), 0);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(calls, n);
    assert_no_failures();
    sem_destroy(&acked);
    destroy_event(); /* the async is left to shutdown */
}

static void test_sends_merge(void **state)
{
    (void)state;
    ev = green_event_new();
    async = green_async_new(on_async, &payload);
    assert_int_equal(sem_init(&acked, 0, 0), 0);
    calls = 0;
    payload = 7;
    for (int i = 0; i < 3; i++) /* from the owner thread too */
        assert_int_equal(green_async_send(async), 0);
    assert_int_equal(green_event_wait(ev, GREEN_FOREVER), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(calls, 1);
    assert_int_equal(green_async_destroy(async), 0);
    assert_no_failures();
    sem_destroy(&acked);
    destroy_event();
}

/* ---- an Event set from another thread --------------------------------------------------- */

static void *event_waiter(void *arg)
{
    (void)arg;
    int rc = green_event_wait(ev, GREEN_FOREVER);
    say("W %d %s", rc, rc ? (errno == ECANCELED ? "ECANCELED" : "?") : "set");
    return NULL;
}

static void *send_event(void *arg)
{
    CHECK_EQ(green_async_send(arg), 0);
    return NULL;
}

static void test_event(void **state)
{
    ev = green_event_new();
    green_async_t *a = green_async_new_event(ev);
    assert_non_null(a);
    CHECK_FAILS(green_event_wait(ev, 0), ETIMEDOUT); /* nobody sent */
    CHECK_FAILS(green_event_wait(ev, 0.01), ETIMEDOUT);
    green_t *k = SPAWN_MODEL(event_waiter, NULL, model_of(state));
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_kill(k, GREEN_FOREVER), 0);
    assert_int_equal(green_release(k), 0);
    green_t *w = SPAWN_MODEL(event_waiter, NULL, model_of(state));
    assert_int_equal(green_sleep(0), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_event, a), 0);
    JOIN(w);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(green_event_is_set(ev));
    assert_int_equal(green_async_destroy(a), 0);
    assert_int_equal(green_event_destroy(ev), 0);
    assert_no_failures();
    assert_order("W -1 ECANCELED", "W 0 set");
}

/* ---- another thread's objects --------------------------------------------------------- */

struct foreign {
    green_async_t *async;
    green_event_t *event;
    green_periodic_t *periodic;
    green_hook_t *hook;
    green_signal_handler_t *handler;
    green_embed_t *embed;
};

static void *use_foreign(void *arg)
{
    struct foreign *f = arg;
    CHECK_FAILS(green_async_destroy(f->async), EXDEV);
    CHECK(green_async_new_event(f->event) == NULL);
    CHECK_EQ(errno, EXDEV);
    CHECK_EQ(green_async_send(f->async), 0); /* the one thread-safe call */
    CHECK_FAILS(green_periodic_wait(f->periodic, 0), EXDEV);
    CHECK_FAILS(green_periodic_destroy(f->periodic), EXDEV);
    CHECK_FAILS(green_hook_remove(f->hook), EXDEV);
    CHECK_FAILS(green_signal_unhandle(f->handler), EXDEV);
    CHECK_FAILS(green_embed_destroy(f->embed), EXDEV);
    CHECK_EQ(green_hub_shutdown(), 0);
    return NULL;
}

static void named(void *arg) { (void)arg; }

static void *handler(void *arg) { return arg; }

static void test_foreign_objects(void **state)
{
    (void)state;
    struct ev_loop *other = ev_loop_new(EVBACKEND_EPOLL);
    assert_non_null(other);
    struct foreign f = {
        .event = green_event_new(),
        .periodic = green_periodic_new(0, 1),
        .hook = green_hook_add(GREEN_HOOK_CHECK, named, NULL),
        .handler = green_signal_handle(SIGUSR2, handler, NULL),
        .embed = green_embed_new(other),
    };
    f.async = green_async_new_event(f.event);
    assert_true(f.async && f.event && f.periodic && f.hook && f.handler && f.embed);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, use_foreign, &f), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(green_event_wait(f.event, GREEN_FOREVER), 0); /* the thread's send */
    assert_no_failures();
    assert_int_equal(green_sleep(0), 0); /* main was woken inside the notifier: let it end */
    assert_int_equal(green_event_destroy(f.event), 0);
    assert_int_equal(green_hub_shutdown(), 0); /* frees the watch objects */
    ev_loop_destroy(other);
}

static void test_refusals(void **state)
{
    (void)state;
    assert_null(green_async_new(NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(green_async_new_event(NULL));
    assert_int_equal(errno, EINVAL);
    CHECK_FAILS(green_async_send(NULL), EINVAL);
    CHECK_FAILS(green_async_destroy(NULL), EINVAL);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_callback_from_thread), HUB_TEST(test_ping_pong),
        HUB_TEST(test_sends_merge),          HUB_TEST_MODELS(test_event),
        HUB_TEST(test_foreign_objects),      HUB_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
