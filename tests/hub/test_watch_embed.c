/* SPDX-License-Identifier: MIT */
/* green_embed_*: another libev loop's watchers run from the hub, in the hub greenlet, and
 * wake greenlets through an Event; waits for them time out and are killed as any; the
 * embed keeps the hub alive; refusals. */
#include "hubtest.h"

static int pipefd[2];
static struct ev_loop *other;
static green_embed_t *emb;
static green_event_t *ev;

static void on_other_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    char c = 0;
    CHECK_EQ(read(w->fd, &c, 1), 1);
    say("other io %c", c);
    CHECK(green_current() == green_hub());
    CHECK_EQ(green_event_set(ev), 0);
}

static void *waiter(void *arg)
{
    (void)arg;
    say("W waits");
    int rc = green_event_wait(ev, GREEN_FOREVER);
    say("W %s", rc == 0 ? "woken" : errno == ECANCELED ? "ECANCELED" : strerror(errno));
    return NULL;
}

static void setup_other(ev_io *io)
{
    assert_int_equal(pipe(pipefd), 0);
    other = ev_loop_new(EVBACKEND_EPOLL);
    assert_non_null(other);
    ev_io_init(io, on_other_io, pipefd[0], EV_READ);
    ev_io_start(other, io);
    emb = green_embed_new(other);
    assert_non_null(emb);
    ev = green_event_new();
}

static void teardown_other(ev_io *io)
{
    assert_int_equal(green_embed_destroy(emb), 0);
    assert_int_equal(green_sleep(0), 0); /* a notifier still running ends */
    assert_int_equal(green_event_destroy(ev), 0);
    ev_io_stop(other, io);
    ev_loop_destroy(other);
    close(pipefd[0]);
    close(pipefd[1]);
}

static void test_sweep(void **state)
{
    static ev_io io;
    setup_other(&io);
    green_t *w = SPAWN_MODEL(waiter, NULL, model_of(state));
    assert_int_equal(green_sleep(0), 0);
    say("main writes");
    assert_int_equal(write(pipefd[1], "x", 1), 1);
    JOIN(w);
    assert_no_failures();
    assert_order("W waits", "main writes", "other io x", "W woken");
    teardown_other(&io);
}

static void test_timeout_and_kill(void **state)
{
    static ev_io io;
    setup_other(&io);
    CHECK_FAILS(green_event_wait(ev, 0), ETIMEDOUT);
    CHECK_FAILS(green_event_wait(ev, 0.01), ETIMEDOUT);
    green_t *w = SPAWN_MODEL(waiter, NULL, model_of(state));
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_kill(w, GREEN_FOREVER), 0);
    assert_int_equal(green_release(w), 0);
    assert_no_failures();
    assert_order("W waits", "W ECANCELED");
    /* only the embed is left: it keeps the hub alive (a timeout, not EDEADLK) */
    CHECK_FAILS(green_event_wait(ev, 0.01), ETIMEDOUT);
    assert_int_equal(green_embed_destroy(emb), 0);
    CHECK_FAILS(green_event_wait(ev, GREEN_FOREVER), EDEADLK);
    emb = green_embed_new(other);
    assert_no_failures();
    teardown_other(&io);
}

static void test_refusals(void **state)
{
    (void)state;
    assert_null(green_embed_new(NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(green_embed_new(green_hub_loop()));
    assert_int_equal(errno, EINVAL);
    struct ev_loop *poll_loop = ev_loop_new(EVBACKEND_POLL);
    assert_non_null(poll_loop);
    assert_null(green_embed_new(poll_loop)); /* poll(2) has no fd to embed */
    assert_int_equal(errno, EINVAL);
    ev_loop_destroy(poll_loop);
    CHECK_FAILS(green_embed_destroy(NULL), EINVAL);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST_MODELS(test_sweep),
        HUB_TEST_MODELS(test_timeout_and_kill),
        HUB_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
