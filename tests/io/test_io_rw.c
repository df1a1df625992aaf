/* SPDX-License-Identifier: MIT */
/* Cooperative transfers (read, write, recv, send, recvfrom, sendto, readv, writev,
 * recvmsg, sendmsg, read_exactly, write_all, send_all): the fast path, waiting, every
 * call's timeout, end of file, reset by the peer, a close under a waiter, kills, the
 * one-waiter rule, partial writes, refusals. */
#include <fcntl.h>
#include <poll.h>
#include <sys/uio.h>

#include "io_util.h"

static int sv[2];

static void pair(void) { assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); }

static void unpair(void)
{
    close(sv[0]);
    close(sv[1]);
}

static void *reader(void *arg)
{
    (void)arg;
    char buf[16] = {0};
    say("R waits");
    ssize_t n = green_read(sv[1], buf, sizeof buf - 1, GREEN_FOREVER);
    say("R got %zd %s", n, buf);
    return NULL;
}

static void test_wait_then_read(void **state)
{
    (void)state;
    pair();
    green_t *r = SPAWN(reader, NULL);
    assert_int_equal(green_sleep(0), 0); /* R blocks */
    say("main writes");
    assert_int_equal(green_write(sv[0], "hello", 5, GREEN_FOREVER), 5);
    assert_int_equal(green_join(r, GREEN_FOREVER, NULL), 0);
    green_release(r);
    assert_no_failures();
    assert_order("R waits", "main writes", "R got 5 hello");
    assert_true(fcntl(sv[1], F_GETFL) & O_NONBLOCK); /* read made it non-blocking */
    /* the fast path: data already there, no wait */
    assert_int_equal(green_send(sv[0], "ab", 2, 0, 0), 2);
    char buf[4];
    assert_int_equal(green_recv(sv[1], buf, sizeof buf, 0, 0), 2);
    unpair();
}

static void test_timeouts(void **state)
{
    (void)state;
    pair();
    char buf[8] = {0};
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    CHECK_FAILS(green_read(sv[1], buf, sizeof buf, 0.01), ETIMEDOUT);
    CHECK(strcmp(green_last_error(), "libgreen: green_read: timed out") == 0);
    CHECK_FAILS(green_read(sv[1], buf, sizeof buf, 0), ETIMEDOUT);
    CHECK_FAILS(green_recv(sv[1], buf, sizeof buf, 0, 0.01), ETIMEDOUT);
    CHECK_FAILS(green_recvfrom(sv[1], buf, sizeof buf, 0, NULL, NULL, 0.01), ETIMEDOUT);
    CHECK_FAILS(green_readv(sv[1], &iov, 1, 0.01), ETIMEDOUT);
    CHECK_FAILS(green_recvmsg(sv[1], &msg, 0, 0.01), ETIMEDOUT);
    size_t done = 99;
    CHECK_FAILS(green_read_exactly(sv[1], buf, sizeof buf, 0.01, &done), ETIMEDOUT);
    CHECK_EQ(done, 0);
    /* a scoped timeout ends a call without a limit of its own */
    green_timeout_t *t = green_timeout_start(0.01);
    CHECK_FAILS(green_read(sv[1], buf, sizeof buf, GREEN_FOREVER), ETIMEDOUT);
    assert_int_equal(green_timeout_end(t), 1);
    /* the writing side, with sv[0]'s buffers full */
    fill(sv[0]);
    CHECK_FAILS(green_write(sv[0], "x", 1, 0.01), ETIMEDOUT);
    CHECK_FAILS(green_send(sv[0], "x", 1, 0, 0.01), ETIMEDOUT);
    CHECK_FAILS(green_sendto(sv[0], "x", 1, 0, NULL, 0, 0.01), ETIMEDOUT);
    iov.iov_len = 1;
    CHECK_FAILS(green_writev(sv[0], &iov, 1, 0.01), ETIMEDOUT);
    CHECK_FAILS(green_sendmsg(sv[0], &msg, 0, 0), ETIMEDOUT);
    CHECK_FAILS(green_write_all(sv[0], "xy", 2, 0.01, &done), ETIMEDOUT);
    CHECK_EQ(done, 0);
    CHECK_FAILS(green_send_all(sv[0], "xy", 2, 0, 0.01, &done), ETIMEDOUT);
    assert_no_failures();
    unpair();
}

static void test_eof(void **state)
{
    (void)state;
    pair();
    char buf[8];
    assert_int_equal(write(sv[0], "abc", 3), 3);
    assert_int_equal(shutdown(sv[0], SHUT_WR), 0);
    size_t done = 0;
    assert_int_equal(green_read_exactly(sv[1], buf, sizeof buf, 1.0, &done), 3); /* short */
    assert_int_equal(done, 3);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(green_read(sv[1], buf, sizeof buf, 1.0), 0);
    assert_int_equal(green_recv(sv[1], buf, sizeof buf, 0, 1.0), 0);
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    assert_int_equal(green_readv(sv[1], &iov, 1, 1.0), 0);
    assert_int_equal(green_recvmsg(sv[1], &msg, 0, 1.0), 0);
    unpair();
}

static void *eof_reader(void *arg)
{
    (void)arg;
    char buf[8];
    CHECK_EQ(green_recv(sv[1], buf, sizeof buf, 0, GREEN_FOREVER), 0);
    say("R eof");
    return NULL;
}

static void test_eof_while_waiting(void **state)
{
    (void)state;
    pair();
    green_t *r = SPAWN(eof_reader, NULL);
    assert_int_equal(green_sleep(0), 0);
    close(sv[0]);
    assert_int_equal(green_join(r, 1.0, NULL), 0);
    green_release(r);
    assert_no_failures();
    assert_order("R eof");
    close(sv[1]);
}

static void *reset_reader(void *arg)
{
    (void)arg;
    char buf[8];
    CHECK_FAILS(green_recv(sv[1], buf, sizeof buf, 0, GREEN_FOREVER), ECONNRESET);
    say("R reset");
    return NULL;
}

static void test_reset_by_peer(void **state)
{
    (void)state;
    assert_int_equal(tcp_pair(sv), 0);
    green_t *r = SPAWN(reset_reader, NULL);
    assert_int_equal(green_sleep(0), 0);
    close_reset(sv[0]);
    assert_int_equal(green_join(r, 1.0, NULL), 0);
    green_release(r);
    assert_no_failures();
    assert_order("R reset");
    /* after the reset: reads see end of file, writes the broken pipe */
    char buf[4];
    assert_int_equal(green_read(sv[1], buf, sizeof buf, 1.0), 0);
    errno = 0;
    assert_int_equal(green_send(sv[1], "x", 1, MSG_NOSIGNAL, 1.0), -1);
    assert_int_equal(errno, EPIPE);
    close(sv[1]);
    /* a reset that arrives before the read */
    assert_int_equal(tcp_pair(sv), 0);
    close_reset(sv[0]);
    errno = 0;
    assert_int_equal(green_read(sv[1], buf, sizeof buf, 1.0), -1);
    assert_int_equal(errno, ECONNRESET);
    close(sv[1]);
}

static void *blocked_read(void *arg)
{
    char buf[8];
    CHECK_FAILS(green_read(sv[1], buf, sizeof buf, GREEN_FOREVER), (int)(intptr_t)arg);
    say("R %s", (intptr_t)arg == EBADF ? "EBADF" : "ECANCELED");
    return NULL;
}

static void *blocked_write(void *arg)
{
    (void)arg;
    size_t done = 1;
    static char big[1 << 16];
    CHECK_FAILS(green_write_all(sv[1], big, sizeof big, GREEN_FOREVER, &done), EBADF);
    CHECK(done > 0);
    say("W EBADF");
    return NULL;
}

static void *closer(void *arg)
{
    (void)arg;
    say("C closes");
    CHECK_EQ(green_close(sv[1]), 0); /* never switches */
    say("C closed");
    return NULL;
}

static void test_close_under_waiters(void **state)
{
    (void)state;
    pair();
    small_buffers(sv);
    green_t *r = SPAWN(blocked_read, EBADF);
    green_t *w = SPAWN(blocked_write, NULL);
    assert_int_equal(green_sleep(0), 0); /* both block on sv[1] */
    green_t *c = SPAWN(closer, NULL);
    green_t *gs[] = {r, w, c};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(green_join(gs[i], 1.0, NULL), 0);
        green_release(gs[i]);
    }
    assert_no_failures();
    assert_order("C closes", "C closed", "R EBADF", "W EBADF");
    CHECK_FAILS(green_close(sv[1]), EBADF); /* closed already */
    CHECK_FAILS(green_close(-1), EBADF);
    assert_no_failures();
    close(sv[0]);
}

static void test_kill_and_busy(void **state)
{
    (void)state;
    pair();
    green_t *r = SPAWN(blocked_read, ECANCELED);
    assert_int_equal(green_sleep(0), 0);
    char buf[4];
    CHECK_FAILS(green_read(sv[1], buf, sizeof buf, 0.01), EBUSY); /* one reader per fd */
    CHECK_FAILS(green_recv(sv[1], buf, sizeof buf, 0, 0.01), EBUSY);
    assert_int_equal(green_write(sv[1], "w", 1, 0.01), 1); /* the other direction is free */
    assert_int_equal(green_kill(r, 1.0), 0);
    green_release(r);
    assert_order("R ECANCELED");
    /* the killed reader's place is free again */
    assert_int_equal(write(sv[0], "z", 1), 1);
    assert_int_equal(green_read(sv[1], buf, sizeof buf, 0.01), 1);
    assert_no_failures();
    unpair();
}

static size_t drained;

static void *slow_drainer(void *arg)
{
    size_t want = (size_t)(uintptr_t)arg;
    char buf[1000];
    while (drained < want) {
        ssize_t n = green_read(sv[1], buf, sizeof buf, 5.0);
        if (n <= 0) {
            note_failure(__LINE__, "read %zd: %s", n, green_last_error());
            break;
        }
        for (ssize_t i = 0; i < n; i++)
            if ((unsigned char)buf[i] != (unsigned char)((drained + (size_t)i) * 7))
                note_failure(__LINE__, "byte %zu is wrong", drained + (size_t)i);
        drained += (size_t)n;
        CHECK_EQ(green_sleep(0), 0); /* slowly: let the writer run between chunks */
    }
    return NULL;
}

static void test_partial_writes(void **state)
{
    (void)state;
    pair();
    small_buffers(sv);
    size_t len = (size_t)scaled(1 << 20, 1 << 16);
    unsigned char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 7);
    drained = 0;
    green_t *d = SPAWN(slow_drainer, (uintptr_t)len);
    size_t done = 0;
    assert_int_equal(green_write_all(sv[0], data, len, 10.0, &done), (ssize_t)len);
    assert_int_equal(done, len);
    assert_int_equal(green_join(d, 10.0, NULL), 0);
    green_release(d);
    assert_no_failures();
    assert_int_equal(drained, len);
    /* a single write of more than the buffers hold is partial */
    ssize_t n = green_write(sv[0], data, len, 1.0);
    assert_true(n > 0 && (size_t)n < len);
    free(data);
    unpair();
}

static void test_partial_then_timeout(void **state)
{
    (void)state;
    pair();
    small_buffers(sv);
    size_t len = 1 << 20, done = 0;
    char *data = calloc(1, len);
    /* nobody reads: the buffers take part of it, then the budget runs out */
    CHECK_FAILS(green_send_all(sv[0], data, len, 0, 0.05, &done), ETIMEDOUT);
    assert_true(done > 0 && done < len);
    size_t got = 0;
    ssize_t n;
    while ((n = recv(sv[1], data, len, MSG_DONTWAIT)) > 0)
        got += (size_t)n;
    assert_int_equal(got, done); /* done says exactly what got through */
    /* read_exactly reports a partial read the same way */
    assert_int_equal(write(sv[0], "abc", 3), 3);
    CHECK_FAILS(green_read_exactly(sv[1], data, 10, 0.02, &done), ETIMEDOUT);
    assert_int_equal(done, 3);
    assert_memory_equal(data, "abc", 3);
    assert_no_failures();
    free(data);
    unpair();
}

static void test_vectors_and_messages(void **state)
{
    (void)state;
    pair();
    struct iovec out[2] = {{"hel", 3}, {"lo!", 3}};
    assert_int_equal(green_writev(sv[0], out, 2, 1.0), 6);
    char a[2], b[8] = {0};
    struct iovec in[2] = {{a, 2}, {b, sizeof b - 1}};
    assert_int_equal(green_readv(sv[1], in, 2, 1.0), 6);
    assert_memory_equal(a, "he", 2);
    assert_string_equal(b, "llo!");
    /* a message carrying an fd */
    int extra = dup(0);
    char cbuf[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec io = {"m", 1};
    struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf,
                       .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &extra, sizeof extra);
    assert_int_equal(green_sendmsg(sv[0], &m, 0, 1.0), 1);
    char got = 0, rbuf[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec rio = {&got, 1};
    struct msghdr r = {.msg_iov = &rio, .msg_iovlen = 1, .msg_control = rbuf,
                       .msg_controllen = sizeof rbuf};
    assert_int_equal(green_recvmsg(sv[1], &r, MSG_CMSG_CLOEXEC, 1.0), 1);
    assert_int_equal(got, 'm');
    c = CMSG_FIRSTHDR(&r);
    assert_non_null(c);
    int passed;
    memcpy(&passed, CMSG_DATA(c), sizeof passed);
    assert_true(passed >= 0 && passed != extra);
    close(passed);
    close(extra);
    unpair();
}

static void test_datagrams(void **state)
{
    (void)state;
    int a = green_listen("127.0.0.1", 0, SOCK_DGRAM, 0, 0);
    int b = green_listen("127.0.0.1", 0, SOCK_DGRAM, 0, 0);
    assert_true(a >= 0 && b >= 0);
    struct sockaddr_in to, from;
    socklen_t len = sizeof to, flen = sizeof from;
    assert_int_equal(getsockname(b, (struct sockaddr *)&to, &len), 0);
    assert_int_equal(green_sendto(a, "dgram", 5, 0, (struct sockaddr *)&to, len, 1.0), 5);
    char buf[16] = {0};
    assert_int_equal(green_recvfrom(b, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen, 1.0), 5);
    assert_string_equal(buf, "dgram");
    struct sockaddr_in mine;
    socklen_t mlen = sizeof mine;
    assert_int_equal(getsockname(a, (struct sockaddr *)&mine, &mlen), 0);
    assert_int_equal(from.sin_port, mine.sin_port);
    CHECK_FAILS(green_recvfrom(b, buf, sizeof buf, 0, NULL, NULL, 0.01), ETIMEDOUT);
    assert_no_failures();
    close(a);
    close(b);
}

static void prepare_hook(void *arg)
{
    (void)arg;
    char c;
    CHECK_FAILS(green_read(sv[1], &c, 1, 1.0), EPERM); /* the hub cannot wait */
}

static void test_refusals(void **state)
{
    (void)state;
    pair();
    char buf[4] = {0};
    CHECK_FAILS(green_read(sv[1], buf, 1, 0.0 / 0.0), EINVAL);
    CHECK_FAILS(green_write_all(sv[1], buf, 1, 0.0 / 0.0, NULL), EINVAL);
    CHECK_FAILS(green_read(-1, buf, 1, 1.0), EBADF);
    CHECK_FAILS(green_recv(-1, buf, 1, 0, 1.0), EBADF);
    int closed = dup(sv[0]);
    close(closed);
    CHECK_FAILS(green_write(closed, buf, 1, 1.0), EBADF);
    CHECK_FAILS(green_send(closed, buf, 1, 0, 1.0), EBADF);
    int p[2];
    assert_int_equal(pipe(p), 0);
    CHECK_FAILS(green_recv(p[0], buf, 1, 0, 1.0), ENOTSOCK);
    close(p[0]);
    close(p[1]);
    green_hook_t *hk = green_hook_add(GREEN_HOOK_PREPARE, prepare_hook, NULL);
    assert_int_equal(green_sleep(0), 0); /* the hook runs in the hub */
    assert_int_equal(green_hook_remove(hk), 0);
    assert_no_failures();
    unpair();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_wait_then_read),     HUB_TEST(test_timeouts),
        HUB_TEST(test_eof),                HUB_TEST(test_eof_while_waiting),
        HUB_TEST(test_reset_by_peer),      HUB_TEST(test_close_under_waiters),
        HUB_TEST(test_kill_and_busy),      HUB_TEST(test_partial_writes),
        HUB_TEST(test_partial_then_timeout), HUB_TEST(test_vectors_and_messages),
        HUB_TEST(test_datagrams),          HUB_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
