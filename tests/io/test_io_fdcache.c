/* SPDX-License-Identifier: MIT */
/* What the hub keeps per fd number between waits (src/hub/wait_fd.c, src/io/fd.c): the
 * reused watchers of fds the I/O layer made, kept registered with libev until a close is
 * announced, and the socket bit that spares read and write their fcntl.  The tests reuse
 * numbers the way a busy server does: closed and handed out again at once, while a waiter
 * on the old file has not run yet, announced or not, and as a socket or as a pipe. */
#include <fcntl.h>
#include <unistd.h>

#include "io_util.h"

static int listener;

/* A plain socket connected to the listener (queued there until accepted). */
static int connect_client(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (getsockname(listener, (struct sockaddr *)&a, &len) < 0)
        return -1;
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c >= 0 && connect(c, (struct sockaddr *)&a, len) < 0) {
        close(c);
        c = -1;
    }
    return c;
}

/* A loopback TCP pair whose server end comes from green_accept (an fd the I/O layer
 * made); *client is a plain socket. */
static int accepted(int *client)
{
    *client = connect_client();
    return *client < 0 ? -1 : green_accept(listener, NULL, NULL, 1.0);
}

static int fd_setup(void **state)
{
    listener = green_listen("127.0.0.1", 0, SOCK_STREAM, 8, 0);
    return listener < 0 || hub_setup(state);
}

static int fd_teardown(void **state)
{
    int rc = hub_teardown(state);
    close(listener);
    return rc;
}

#define FD_TEST(t) cmocka_unit_test_setup_teardown(t, fd_setup, fd_teardown)

struct echo {
    int fd, rounds;
};

/* Answers every byte with the next one, `rounds` times: one read wait per round. */
static void *echo(void *arg)
{
    struct echo *e = arg;
    for (int i = 0; i < e->rounds; i++) {
        unsigned char c;
        ssize_t n = green_read(e->fd, &c, 1, 5.0);
        if (n != 1) {
            note_failure(__LINE__, "round %d: read %zd: %s", i, n, green_last_error());
            break;
        }
        c++;
        CHECK_EQ(green_write(e->fd, &c, 1, 5.0), 1);
    }
    return NULL;
}

/* The keep-alive pattern: many waits on one accepted fd, a new file under its number after
 * green_close, and the same again. */
static void test_waits_on_reused_numbers(void **state)
{
    (void)state;
    int first = -1;
    for (int conn = 0; conn < 3; conn++) {
        int client, fd = accepted(&client);
        assert_true(fd >= 0);
        if (conn == 0)
            first = fd;
        assert_int_equal(fd, first); /* the lowest free number: the one just closed */
        struct echo e = {fd, 200};
        green_t *g = SPAWN(echo, &e);
        unsigned char c = (unsigned char)conn;
        for (int i = 0; i < e.rounds; i++) {
            assert_int_equal(green_write(client, &c, 1, 5.0), 1);
            unsigned char got;
            assert_int_equal(green_read(client, &got, 1, 5.0), 1);
            assert_int_equal(got, (unsigned char)(c + 1));
            c = got;
        }
        JOIN(g);
        assert_no_failures();
        assert_int_equal(green_close(fd), 0);
        close(client);
    }
}

static int old_fd, new_client;

/* Waits on the old file; after the close's EBADF it answers on the new one. */
static void *old_waiter(void *arg)
{
    (void)arg;
    char buf[4];
    CHECK_FAILS(green_read(old_fd, buf, sizeof buf, GREEN_FOREVER), EBADF);
    say("old EBADF");
    CHECK_EQ(green_write(new_client, "new", 3, 1.0), 3);
    return NULL;
}

/* A number closed and handed out again while the waiter on the old file is still to be
 * woken: the new file's waiter must not take over the old waiter's watcher. */
static void test_reuse_before_the_woken_waiter_runs(void **state)
{
    (void)state;
    int old_client;
    old_fd = accepted(&old_client);
    assert_true(old_fd >= 0);
    green_t *g = SPAWN(old_waiter, NULL);
    assert_int_equal(green_sleep(0), 0); /* it waits */
    new_client = connect_client();
    assert_true(new_client >= 0);
    assert_int_equal(green_close(old_fd), 0);
    int fd = green_accept(listener, NULL, NULL, 1.0); /* queued: no wait, no switch */
    assert_int_equal(fd, old_fd);
    say("main waits");
    char buf[4] = {0};
    assert_int_equal(green_read(fd, buf, 3, 1.0), 3); /* woken by what the old waiter writes */
    assert_string_equal(buf, "new");
    JOIN(g);
    assert_order("main waits", "old EBADF");
    /* both watchers of the number are free again */
    struct echo e = {fd, 3};
    g = SPAWN(echo, &e);
    for (int i = 0; i < e.rounds; i++) {
        unsigned char c = 'a', got = 0;
        assert_int_equal(green_write(new_client, &c, 1, 1.0), 1);
        assert_int_equal(green_read(new_client, &got, 1, 1.0), 1);
        assert_int_equal(got, 'b');
    }
    JOIN(g);
    assert_no_failures();
    assert_int_equal(green_close(fd), 0);
    close(old_client);
    close(new_client);
}

static int pipe_fd;

static void *pipe_reader(void *arg)
{
    (void)arg;
    char buf[8] = {0};
    say("R waits");
    CHECK_EQ(green_read(pipe_fd, buf, sizeof buf - 1, 1.0), 4);
    say("R got %s", buf);
    return NULL;
}

/* An accepted fd closed behind the I/O layer's back, its number now a pipe: read and write
 * find out (ENOTSOCK), make the pipe non-blocking and forget what the hub kept. */
static void test_number_becomes_a_pipe(void **state)
{
    (void)state;
    int client, fd = accepted(&client);
    assert_true(fd >= 0);
    struct echo e = {fd, 2};
    green_t *g = SPAWN(echo, &e); /* waits on the socket: its registration is kept */
    unsigned char c = 1, got;
    for (int i = 0; i < e.rounds; i++) {
        assert_int_equal(green_write(client, &c, 1, 1.0), 1);
        assert_int_equal(green_read(client, &got, 1, 1.0), 1);
    }
    JOIN(g);
    close(fd); /* not announced */
    int p[2];
    assert_int_equal(pipe(p), 0);
    if (p[0] != fd) { /* put the read end under the number */
        assert_int_equal(dup2(p[0], fd), fd);
        close(p[0]);
    }
    pipe_fd = fd;
    assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
    g = SPAWN(pipe_reader, NULL);
    assert_int_equal(green_sleep(0), 0); /* R finds the pipe empty and waits */
    say("main writes");
    assert_int_equal(green_write(p[1], "pipe", 4, 1.0), 4);
    JOIN(g);
    assert_order("R waits", "main writes", "R got pipe");
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_int_equal(green_close(fd), 0);
    close(p[1]);
    close(client);
}

/* The documented way to close such an fd without green_close: announce it.  The number's
 * next file (a socket made outside libgreen) is registered afresh at its first wait. */
static void test_announced_close(void **state)
{
    (void)state;
    int client, fd = accepted(&client);
    assert_true(fd >= 0);
    struct echo e = {fd, 2};
    green_t *g = SPAWN(echo, &e);
    unsigned char c = 1, got;
    for (int i = 0; i < e.rounds; i++) {
        assert_int_equal(green_write(client, &c, 1, 1.0), 1);
        assert_int_equal(green_read(client, &got, 1, 1.0), 1);
    }
    JOIN(g);
    assert_int_equal(green_fd_close_notify(fd), 0); /* nobody waits */
    close(fd);
    close(client);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int mine = sv[0] == fd ? sv[0] : sv[1], other = mine == sv[0] ? sv[1] : sv[0];
    if (mine != fd) { /* put one end under the number */
        assert_int_equal(dup2(mine, fd), fd);
        close(mine);
        mine = fd;
    }
    struct echo e2 = {mine, 2};
    g = SPAWN(echo, &e2);
    for (int i = 0; i < e2.rounds; i++) {
        assert_int_equal(green_write(other, &c, 1, 1.0), 1);
        assert_int_equal(green_read(other, &got, 1, 1.0), 1);
        assert_int_equal(got, (unsigned char)(c + 1));
    }
    JOIN(g);
    assert_no_failures();
    assert_int_equal(green_close(mine), 0);
    close(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FD_TEST(test_waits_on_reused_numbers),
        FD_TEST(test_reuse_before_the_woken_waiter_runs),
        FD_TEST(test_number_becomes_a_pipe),
        FD_TEST(test_announced_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
