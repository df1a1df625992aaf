/* SPDX-License-Identifier: MIT */
/* green_wait_fd and green_fd_close_notify: readiness, the one-waiter-per-direction rule,
 * timeouts, kills, closing under a waiter, refusals. */
#include <sys/socket.h>

#include "hubtest.h"

static int pipefd[2];

static void *reader(void *arg)
{
    (void)arg;
    say("R waits");
    int rc = green_wait_fd(pipefd[0], GREEN_READ, GREEN_FOREVER);
    say("R ready %d", rc);
    char c = 0;
    CHECK_EQ(read(pipefd[0], &c, 1), 1);
    CHECK_EQ(c, 'x');
    return NULL;
}

static void test_read_ready(void **state)
{
    assert_int_equal(pipe(pipefd), 0);
    green_t *r = SPAWN_MODEL(reader, NULL, model_of(state));
    assert_int_equal(green_sleep(0), 0); /* R blocks */
    say("main writes");
    assert_int_equal(write(pipefd[1], "x", 1), 1);
    JOIN(r);
    assert_no_failures();
    assert_order("R waits", "main writes", "R ready 1");
    close(pipefd[0]);
    close(pipefd[1]);
}

static void test_write_and_both(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(green_wait_fd(sv[0], GREEN_WRITE, GREEN_FOREVER), GREEN_WRITE);
    /* nothing to read: only the write side is ready */
    assert_int_equal(green_wait_fd(sv[0], GREEN_READ | GREEN_WRITE, 1.0), GREEN_WRITE);
    assert_int_equal(write(sv[1], "y", 1), 1);
    assert_int_equal(green_wait_fd(sv[0], GREEN_READ | GREEN_WRITE, 1.0), GREEN_READ | GREEN_WRITE);
    assert_int_equal(green_wait_fd(sv[0], GREEN_READ, 0), GREEN_READ); /* ready beats 0 s */
    close(sv[0]);
    close(sv[1]);
}

static void test_timeout(void **state)
{
    (void)state;
    assert_int_equal(pipe(pipefd), 0);
    CHECK_FAILS(green_wait_fd(pipefd[0], GREEN_READ, 0), ETIMEDOUT);
    CHECK_FAILS(green_wait_fd(pipefd[0], GREEN_READ, 0.01), ETIMEDOUT);
    green_timeout_t *t = green_timeout_start(0.01); /* a scoped timeout ends it too */
    CHECK_FAILS(green_wait_fd(pipefd[0], GREEN_READ, GREEN_FOREVER), ETIMEDOUT);
    assert_int_equal(green_timeout_end(t), 1);
    /* the timed-out waits left nothing behind: waiting again is allowed */
    assert_int_equal(write(pipefd[1], "x", 1), 1);
    assert_int_equal(green_wait_fd(pipefd[0], GREEN_READ, 1.0), GREEN_READ);
    assert_no_failures();
    close(pipefd[0]);
    close(pipefd[1]);
}

static void *blocked_reader(void *arg)
{
    (void)arg;
    int rc = green_wait_fd(pipefd[0], GREEN_READ, GREEN_FOREVER);
    int e = errno;
    say("R %d %s", rc, e == ECANCELED ? "ECANCELED" : e == EBADF ? "EBADF" : "?");
    return NULL;
}

static void test_busy_and_kill(void **state)
{
    assert_int_equal(pipe(pipefd), 0);
    green_t *r = SPAWN_MODEL(blocked_reader, NULL, model_of(state));
    assert_int_equal(green_sleep(0), 0);
    CHECK_FAILS(green_wait_fd(pipefd[0], GREEN_READ, 0), EBUSY);
    CHECK_FAILS(green_wait_fd(pipefd[0], GREEN_READ | GREEN_WRITE, 0), EBUSY);
    /* the other direction is free (a pipe's read end never becomes writable) */
    CHECK_FAILS(green_wait_fd(pipefd[0], GREEN_WRITE, 0), ETIMEDOUT);
    assert_int_equal(green_kill(r, GREEN_FOREVER), 0);
    assert_order("R -1 ECANCELED");
    assert_int_equal(green_release(r), 0);
    /* the killed waiter's slot is free again */
    CHECK_FAILS(green_wait_fd(pipefd[0], GREEN_READ, 0), ETIMEDOUT);
    assert_no_failures();
    close(pipefd[0]);
    close(pipefd[1]);
}

static void *other(void *arg)
{
    (void)arg;
    say("X runs");
    return NULL;
}

static void test_close_notify(void **state)
{
    assert_int_equal(pipe(pipefd), 0);
    green_t *r = SPAWN_MODEL(blocked_reader, NULL, model_of(state));
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_fd_close_notify(pipefd[0]), 1); /* never switches */
    assert_order();
    close(pipefd[0]);
    green_t *x = green_spawn(other, NULL, NULL); /* queued after the wake-up */
    JOIN(r);
    JOIN(x);
    assert_no_failures();
    assert_order("R -1 EBADF", "X runs");
    assert_int_equal(green_fd_close_notify(pipefd[0]), 0); /* nobody waits now */
    close(pipefd[1]);
}

static void in_hub(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_wait_fd(pipefd[1], GREEN_WRITE, 0), EPERM);
}

static void test_refusals(void **state)
{
    (void)state;
    assert_int_equal(pipe(pipefd), 0);
    CHECK_FAILS(green_wait_fd(-1, GREEN_READ, 0), EBADF);
    int closed = dup(pipefd[0]);
    close(closed);
    CHECK_FAILS(green_wait_fd(closed, GREEN_READ, 0), EBADF);
    CHECK_FAILS(green_wait_fd(pipefd[0], 0, 0), EINVAL);
    CHECK_FAILS(green_wait_fd(pipefd[0], 4, 0), EINVAL);
    CHECK_FAILS(green_wait_fd(pipefd[0], GREEN_READ, 0.0 / 0.0), EINVAL);
    CHECK_FAILS(green_fd_close_notify(-1), EBADF);
    run_in_hub(in_hub, NULL);
    assert_true(strstr(green_last_error(), "green_wait_fd") != NULL);
    assert_no_failures();
    close(pipefd[0]);
    close(pipefd[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST_MODELS(test_read_ready),
        HUB_TEST(test_write_and_both),
        HUB_TEST(test_timeout),
        HUB_TEST_MODELS(test_busy_and_kill),
        HUB_TEST_MODELS(test_close_notify),
        HUB_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
