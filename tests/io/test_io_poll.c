/* SPDX-License-Identifier: MIT */
/* green_poll and green_select: the ready-at-once path and its yield (gevent's select),
 * waiting on several fds, timeouts (0, own, scoped), hang-ups, a close under a poller
 * (POLLNVAL, EBADF), kills, spurious wake-ups next to a reader of the same fd, a
 * shared-stack poller, refusals. */
#include "io_util.h"

static int a[2], b[2];

static void pipes(void)
{
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
}

static void unpipes(void)
{
    int *fds[] = {a, b};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            if (fds[i][j] >= 0)
                close(fds[i][j]);
}

static void *other(void *arg)
{
    say("X%d", (int)(intptr_t)arg);
    return NULL;
}

static void test_ready_yields(void **state)
{
    (void)state;
    pipes();
    assert_int_equal(write(a[1], "x", 1), 1);
    struct pollfd p[2] = {{a[0], POLLIN, 0}, {b[0], POLLIN, 0}};
    green_t *x = SPAWN(other, 1);
    say("poll %d", green_poll(p, 2, 1.0)); /* gevent: the select yields, X runs first */
    assert_int_equal(p[0].revents, POLLIN);
    assert_int_equal(p[1].revents, 0);
    green_t *y = SPAWN(other, 2);
    say("poll0 %d", green_poll(&p[1], 1, 0)); /* nothing ready, timeout 0: yields too */
    assert_order("X1", "poll 1", "X2", "poll0 0");
    green_join(x, 1.0, NULL);
    green_join(y, 1.0, NULL);
    green_release(x);
    green_release(y);
    unpipes();
}

static void *poller(void *arg)
{
    (void)arg;
    struct pollfd p[3] = {{a[0], POLLIN, 0}, {-1, POLLIN, 0}, {b[0], POLLIN, 0}};
    say("P waits");
    int n = green_poll(p, 3, GREEN_FOREVER);
    say("P %d %d %d %d", n, p[0].revents, p[1].revents, p[2].revents);
    return NULL;
}

static void test_waits_for_any(void **state)
{
    (void)state;
    pipes();
    green_t *p = SPAWN(poller, NULL);
    assert_int_equal(green_sleep(0), 0);
    say("main writes b");
    assert_int_equal(write(b[1], "y", 1), 1);
    assert_int_equal(green_join(p, 1.0, NULL), 0);
    green_release(p);
    char want[64];
    snprintf(want, sizeof want, "P 1 0 0 %d", POLLIN);
    const char *expected[] = {"P waits", "main writes b", want};
    assert_order_list(expected, 3);
    /* a hang-up is reported as poll(2) does */
    close(b[1]);
    b[1] = -1;
    char c;
    assert_int_equal(read(b[0], &c, 1), 1);
    struct pollfd q = {b[0], POLLIN, 0};
    assert_int_equal(green_poll(&q, 1, 1.0), 1);
    assert_int_equal(q.revents, POLLHUP);
    /* writability */
    struct pollfd w = {a[1], POLLOUT, 0};
    assert_int_equal(green_poll(&w, 1, 1.0), 1);
    assert_int_equal(w.revents, POLLOUT);
    unpipes();
}

static void test_timeouts(void **state)
{
    (void)state;
    pipes();
    struct pollfd p[2] = {{a[0], POLLIN, 0}, {b[0], POLLIN, 0}};
    assert_int_equal(green_poll(p, 2, 0.01), 0); /* poll(2) and gevent: 0, not an error */
    assert_int_equal(green_poll(p, 2, 0), 0);
    assert_int_equal(green_poll(NULL, 0, 0.01), 0);
    green_timeout_t *t = green_timeout_start(0.01); /* someone else's timeout is an error */
    CHECK_FAILS(green_poll(p, 2, GREEN_FOREVER), ETIMEDOUT);
    assert_int_equal(green_timeout_end(t), 1);
    assert_no_failures();
    unpipes();
}

static void *closing_poller(void *arg)
{
    (void)arg;
    struct pollfd p[2] = {{a[0], POLLIN, 0}, {b[0], POLLIN, 0}};
    int n = green_poll(p, 2, GREEN_FOREVER);
    say("P %d %s %d fd %s", n, p[0].revents == POLLNVAL ? "NVAL" : "?", p[1].revents,
        p[0].fd == a[0] ? "kept" : "changed");
    return NULL;
}

static void *closer(void *arg)
{
    (void)arg;
    say("C closes");
    CHECK_EQ(green_close(a[0]), 0); /* never switches */
    CHECK_EQ(open("/dev/null", O_RDONLY), a[0]); /* the number is reused at once */
    say("C reopened");
    return NULL;
}

/* The same close announced with green_fd_close_notify() and made with close(2): the hub
 * layer's announcement reaches the poller too. */
static void *notifying_closer(void *arg)
{
    (void)arg;
    say("C closes");
    CHECK_EQ(green_fd_close_notify(a[0]), 1); /* one poller woken */
    CHECK_EQ(close(a[0]), 0);
    CHECK_EQ(open("/dev/null", O_RDONLY), a[0]);
    say("C reopened");
    return NULL;
}

static void test_close_under_poller(void **state)
{
    bool notify = *state != NULL;
    pipes();
    green_t *p = SPAWN(closing_poller, NULL);
    assert_int_equal(green_sleep(0), 0);
    green_t *c = SPAWN(notify ? notifying_closer : closer, NULL);
    assert_int_equal(green_join(p, 1.0, NULL), 0);
    assert_int_equal(green_join(c, 1.0, NULL), 0);
    green_release(p);
    green_release(c);
    assert_no_failures();
    /* /dev/null under the old number is readable: yet the poller reports the close */
    assert_order("C closes", "C reopened", "P 1 NVAL 0 fd kept");
    unpipes();
}

static void *killed_poller(void *arg)
{
    (void)arg;
    struct pollfd p = {a[0], POLLIN, 0};
    CHECK_FAILS(green_poll(&p, 1, GREEN_FOREVER), ECANCELED);
    say("P killed");
    return NULL;
}

static void test_kill(void **state)
{
    (void)state;
    pipes();
    green_t *p = SPAWN(killed_poller, NULL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_kill(p, 1.0), 0);
    green_release(p);
    assert_no_failures();
    assert_order("P killed");
    /* nothing of the poll is left: data wakes nobody, a new poll sees it */
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(green_sleep(0), 0);
    struct pollfd q = {a[0], POLLIN, 0};
    assert_int_equal(green_poll(&q, 1, 1.0), 1);
    unpipes();
}

static void *reading(void *arg)
{
    (void)arg;
    char c;
    say("R waits");
    say("R got %zd", green_read(a[0], &c, 1, 1.0));
    return NULL;
}

static void *polling(void *arg)
{
    (void)arg;
    struct pollfd p = {a[0], POLLIN, 0};
    say("P waits");
    say("P %d", green_poll(&p, 1, 1.0));
    return NULL;
}

static void test_spurious_wake(void **state)
{
    (void)state;
    pipes();
    green_t *r = SPAWN(reading, NULL);
    green_t *p = SPAWN(polling, NULL);
    assert_int_equal(green_sleep(0), 0); /* both wait on a[0]: polls are not readers */
    say("main writes");
    assert_int_equal(write(a[1], "1", 1), 1);
    assert_int_equal(green_join(r, 1.0, NULL), 0); /* R took the byte; P woke for nothing */
    say("main writes");
    assert_int_equal(write(a[1], "2", 1), 1);
    assert_int_equal(green_join(p, 1.0, NULL), 0);
    green_release(r);
    green_release(p);
    assert_order("R waits", "P waits", "main writes", "R got 1", "main writes", "P 1");
    unpipes();
}

static void in_hook(void *arg)
{
    (void)arg;
    struct pollfd p = {a[0], POLLIN, 0};
    CHECK_FAILS(green_poll(&p, 1, 1.0), EPERM);
}

static void test_refusals(void **state)
{
    (void)state;
    pipes();
    struct pollfd p = {a[0], POLLIN, 0};
    CHECK_FAILS(green_poll(NULL, 1, 1.0), EINVAL);
    CHECK_FAILS(green_poll(&p, 1, 0.0 / 0.0), EINVAL);
    green_hook_t *hk = green_hook_add(GREEN_HOOK_PREPARE, in_hook, NULL);
    assert_int_equal(green_sleep(0), 0);
    green_hook_remove(hk);
    /* a bad fd is reported, as by poll(2) */
    int closed = dup(a[0]);
    close(closed);
    struct pollfd bad = {closed, POLLIN, 0};
    assert_int_equal(green_poll(&bad, 1, 1.0), 1);
    assert_int_equal(bad.revents, POLLNVAL);
    assert_no_failures();
    unpipes();
}


/* ---- a shared-stack poller: its pollfd array is copied away while it waits ------------ */

static void *shared_poller(void *arg)
{
    (void)arg;
    struct pollfd p[2] = {{a[0], POLLIN, 0}, {b[0], POLLIN, 0}};
    int n = green_poll(p, 2, 1.0);
    say("S %d %d %d", n, p[0].revents, p[1].revents);
    return NULL;
}

static void *shared_other(void *arg)
{
    (void)arg;
    char junk[2048]; /* overlaps the poller's stack on the shared region */
    memset(junk, 0x5a, sizeof junk);
    say("O %d", junk[100]);
    CHECK_EQ(green_sleep(0.01), 0);
    return NULL;
}

static void test_shared_stack(void **state)
{
    (void)state;
    pipes();
    green_attr_t at = GREEN_ATTR_INIT;
    at.stack_model = GREEN_STACK_SHARED;
    green_t *p = green_spawn(shared_poller, NULL, &at);
    green_t *o = green_spawn(shared_other, NULL, &at);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(green_join(p, 1.0, NULL), 0);
    assert_int_equal(green_join(o, 1.0, NULL), 0);
    green_release(p);
    green_release(o);
    assert_no_failures();
    char want[64];
    snprintf(want, sizeof want, "S 1 %d 0", POLLIN);
    const char *expected[] = {"O 90", want};
    assert_order_list(expected, 2);
    unpipes();
}

/* ---- green_select ------------------------------------------------------------------- */

static void *selector(void *arg)
{
    (void)arg;
    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(a[0], &r);
    FD_SET(b[0], &r);
    say("S waits");
    int n = green_select(b[0] + 1, &r, &w, NULL, GREEN_FOREVER);
    say("S %d %d %d", n, FD_ISSET(a[0], &r) != 0, FD_ISSET(b[0], &r) != 0);
    return NULL;
}

static void test_select(void **state)
{
    (void)state;
    pipes();
    green_t *s = SPAWN(selector, NULL);
    assert_int_equal(green_sleep(0), 0);
    say("main writes a");
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(green_join(s, 1.0, NULL), 0);
    green_release(s);
    assert_order("S waits", "main writes a", "S 1 1 0");
    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(b[0], &r);
    FD_SET(a[1], &w);
    FD_SET(b[1], &w);
    assert_int_equal(green_select(b[1] + 1, &r, &w, NULL, 1.0), 2); /* both writable */
    assert_false(FD_ISSET(b[0], &r));
    assert_true(FD_ISSET(a[1], &w) && FD_ISSET(b[1], &w));
    FD_ZERO(&r);
    FD_SET(b[0], &r);
    assert_int_equal(green_select(b[0] + 1, &r, NULL, NULL, 0.01), 0); /* timed out */
    assert_false(FD_ISSET(b[0], &r));
    int closed = dup(a[0]);
    close(closed);
    FD_ZERO(&r);
    FD_SET(closed, &r);
    CHECK_FAILS(green_select(closed + 1, &r, NULL, NULL, 1.0), EBADF);
    CHECK_FAILS(green_select(-1, NULL, NULL, NULL, 1.0), EINVAL);
    CHECK_FAILS(green_select(FD_SETSIZE + 1, NULL, NULL, NULL, 1.0), EINVAL);
    CHECK_FAILS(green_select(0, NULL, NULL, NULL, 0.0 / 0.0), EINVAL);
    assert_no_failures();
    unpipes();
}

static void *closing_selector(void *arg)
{
    (void)arg;
    fd_set r;
    FD_ZERO(&r);
    FD_SET(a[0], &r);
    CHECK_FAILS(green_select(a[0] + 1, &r, NULL, NULL, GREEN_FOREVER), EBADF);
    say("S EBADF");
    return NULL;
}

static void *select_closer(void *arg)
{
    (void)arg;
    CHECK_EQ(green_close(a[0]), 0);
    a[0] = -1;
    say("C closed");
    return NULL;
}

static void test_select_close(void **state)
{
    (void)state;
    pipes();
    green_t *s = SPAWN(closing_selector, NULL);
    assert_int_equal(green_sleep(0), 0);
    green_t *c = SPAWN(select_closer, NULL);
    assert_int_equal(green_join(s, 1.0, NULL), 0);
    assert_int_equal(green_join(c, 1.0, NULL), 0);
    green_release(s);
    green_release(c);
    assert_no_failures();
    assert_order("C closed", "S EBADF");
    unpipes();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_ready_yields),       HUB_TEST(test_waits_for_any),
        HUB_TEST(test_timeouts),           HUB_TEST(test_close_under_poller),
        HUB_TEST(test_kill),               HUB_TEST(test_spurious_wake),
        HUB_TEST(test_refusals),           HUB_TEST(test_shared_stack),
        HUB_TEST(test_select),             HUB_TEST(test_select_close),
        cmocka_unit_test_prestate_setup_teardown(test_close_under_poller, hub_setup, hub_teardown,
                                                 (void *)"notify"),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
