/* SPDX-License-Identifier: MIT */
/* Every patched call that can wait, one by one: a greenlet makes the call on a socket
 * that is not ready, main makes it ready after the greenlet parked, and the call returns
 * what libc's would have.  Lengths come from a volatile so that _FORTIFY_SOURCE turns
 * read, recv, recvfrom and poll into __read_chk, __recv_chk, __recvfrom_chk and
 * __poll_chk (this file is built with it).  Then the calls that copy or replace fds (dup,
 * dup2, dup3, fcntl F_DUPFD) and the ones that never wait (pread, pwrite on a file). */
#include <netdb.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "patch_util.h"

static int sv[2];
static volatile size_t one = 1; /* not a constant: fortified calls check it at run time */

static ssize_t do_read(int fd)
{
    char b[8];
    return read(fd, b, one);
}

static ssize_t do_readv(int fd)
{
    char b[8];
    struct iovec iov = {b, one};
    return readv(fd, &iov, 1);
}

static ssize_t do_recv(int fd)
{
    char b[8];
    return recv(fd, b, one, 0);
}

static ssize_t do_recvfrom(int fd)
{
    char b[8];
    struct sockaddr_storage from;
    socklen_t len = sizeof from;
    return recvfrom(fd, b, one, 0, (struct sockaddr *)&from, &len);
}

static ssize_t do_recvmsg(int fd)
{
    char b[8];
    struct iovec iov = {b, one};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    return recvmsg(fd, &m, 0);
}

static ssize_t do_waitall(int fd)
{
    char b[8];
    return recv(fd, b, 1, MSG_WAITALL);
}

static ssize_t do_poll(int fd)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = -1}};
    return poll(p, one, -1) == 1 && (p[0].revents & POLLIN) ? 1 : -1;
}

static ssize_t do_ppoll(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    struct timespec ts = {5, 0};
    return ppoll(&p, 1, &ts, NULL) == 1 ? 1 : -1;
}

static ssize_t do_pselect(int fd)
{
    fd_set r;
    FD_ZERO(&r);
    FD_SET(fd, &r);
    struct timespec ts = {5, 0};
    return pselect(fd + 1, &r, NULL, NULL, &ts, NULL) == 1 && FD_ISSET(fd, &r) ? 1 : -1;
}

static ssize_t do_select_timeout(int fd)
{
    fd_set r;
    FD_ZERO(&r);
    FD_SET(fd, &r);
    struct timeval tv = {5, 0};
    int n = select(fd + 1, &r, NULL, NULL, &tv);
    return n == 1 && tv.tv_sec < 5 ? 1 : -1; /* Linux: the time left */
}

/* The write side: sv[0]'s buffer is full; main drains the peer. */
static char big[1 << 16];

static ssize_t do_write(int fd) { return write(fd, big, 100) == 100 ? 1 : -1; }

static ssize_t do_writev(int fd)
{
    struct iovec iov[2] = {{big, 50}, {big, 50}};
    return writev(fd, iov, 2) == 100 ? 1 : -1;
}

static ssize_t do_send(int fd) { return send(fd, big, 100, MSG_NOSIGNAL) == 100 ? 1 : -1; }

static ssize_t do_sendto(int fd) { return sendto(fd, big, 100, 0, NULL, 0) == 100 ? 1 : -1; }

static ssize_t do_sendmsg(int fd)
{
    struct iovec iov = {big, 100};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    return sendmsg(fd, &m, 0) == 100 ? 1 : -1;
}

struct call {
    const char *name;
    ssize_t (*run)(int fd);
    bool writes;
};

static const struct call calls[] = {
    {"read", do_read, false},       {"readv", do_readv, false},
    {"recv", do_recv, false},       {"recvfrom", do_recvfrom, false},
    {"recvmsg", do_recvmsg, false}, {"recv MSG_WAITALL", do_waitall, false},
    {"poll", do_poll, false},       {"ppoll", do_ppoll, false},
    {"pselect", do_pselect, false}, {"select", do_select_timeout, false},
    {"write", do_write, true},      {"writev", do_writev, true},
    {"send", do_send, true},        {"sendto", do_sendto, true},
    {"sendmsg", do_sendmsg, true},
};

static void *caller(void *arg)
{
    const struct call *c = arg;
    say("%s waits", c->name);
    ssize_t n = c->run(c->writes ? sv[0] : sv[1]);
    say("%s got %zd", c->name, n);
    return NULL;
}

static void drain(int fd)
{
    char b[1 << 16];
    while (recv(fd, b, sizeof b, MSG_DONTWAIT) > 0)
        ;
}

static void test_each_call_parks(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        const struct call *c = &calls[i];
        order_reset();
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        if (c->writes) {
            int sz = 4096;
            setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
            while (send(sv[0], big, sizeof big, MSG_DONTWAIT) > 0)
                ;
        }
        green_t *g = SPAWN(caller, (void *)c);
        assert_int_equal(green_sleep(0.01), 0); /* it parked: main runs */
        say("main makes it ready");
        if (c->writes)
            drain(sv[1]);
        else
            assert_int_equal(write(sv[0], "x", 1), 1);
        JOIN(g);
        char waits[64], got[64];
        snprintf(waits, sizeof waits, "%s waits", c->name);
        snprintf(got, sizeof got, "%s got 1", c->name);
        assert_no_failures();
        const char *want[] = {waits, "main makes it ready", got};
        assert_order_list(want, 3);
        close(sv[0]);
        close(sv[1]);
    }
}

static int waiter_errno;

static void *wait_on(void *arg)
{
    char b;
    waiter_errno = read(*(int *)arg, &b, 1) < 0 ? errno : 0;
    return NULL;
}

static void test_dups(void **state)
{
    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    green_t *g = SPAWN(wait_on, &sv[1]);
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(write(sv[0], "x", 1), 1);
    JOIN(g); /* sv[1] is ours now: non-blocking underneath */
    int d[4];
    d[0] = dup(sv[1]);
    d[1] = dup2(sv[1], 100);
    d[2] = dup3(sv[1], 101, O_CLOEXEC);
    d[3] = fcntl(sv[1], F_DUPFD_CLOEXEC, 102);
    for (int i = 0; i < 4; i++) { /* one open file description: the same mode everywhere */
        assert_true(d[i] >= 0);
        assert_true(kernel_flags(d[i]) & O_NONBLOCK);
        assert_false(fcntl(d[i], F_GETFL) & O_NONBLOCK);
    }
    /* dup2 onto an fd a greenlet waits on: it is woken with EBADF, as by close */
    int other[2];
    assert_int_equal(pipe(other), 0);
    g = SPAWN(wait_on, &d[1]);
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(dup2(other[0], d[1]), d[1]);
    JOIN(g);
    assert_int_equal(waiter_errno, EBADF);
    for (int i = 0; i < 4; i++)
        close(d[i]);
    close(other[0]);
    close(other[1]);
    close(sv[0]);
    close(sv[1]);
    assert_no_failures();
}

static void test_files_and_names(void **state)
{
    (void)state;
    /* pread and pwrite never wait: on a file they are libc's */
    FILE *f = tmpfile();
    assert_non_null(f);
    int fd = fileno(f);
    assert_int_equal(pwrite(fd, "abcdef", 6, 0), 6);
    char b[8] = {0};
    assert_int_equal(pread(fd, b, one * 3, 2), 3);
    assert_memory_equal(b, "cde", 3);
    assert_false(kernel_flags(fd) & O_NONBLOCK);
    fclose(f);
    /* gethostbyname_r on a worker, the result moved into our buffer */
    struct hostent he, *res = NULL;
    char buf[1024];
    int herr = 0;
    assert_int_equal(gethostbyname_r("localhost", &he, buf, sizeof buf, &res, &herr), 0);
    assert_ptr_equal(res, &he);
    assert_true(he.h_name >= buf && he.h_name < buf + sizeof buf);
    assert_int_equal(ntohl(*(uint32_t *)he.h_addr_list[0]), INADDR_LOOPBACK);
    char small[8];
    assert_int_equal(gethostbyname_r("localhost", &he, small, sizeof small, &res, &herr), ERANGE);
    assert_null(res);
}

/* connect() to a Unix listener whose backlog is full waits (as libc's) until there is
 * room, and the thread runs on meanwhile; accept() then sees it. */
static int ulisten;
static int connected_fd = -1;

static void *connector(void *arg)
{
    struct sockaddr_un *a = arg;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    say("connect waits");
    int rc = connect(s, (struct sockaddr *)a, sizeof *a);
    say("connect %d", rc);
    connected_fd = s;
    return NULL;
}

static void test_unix_backlog(void **state)
{
    (void)state;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "@green-backlog-%d", (int)getpid());
    a.sun_path[0] = '\0'; /* abstract: no file to remove */
    ulisten = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(ulisten, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(ulisten, 0), 0);
    int queued[4], nq = 0;
    for (; nq < 4; nq++) { /* fill the backlog: a non-blocking connect says EAGAIN when full */
        queued[nq] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (connect(queued[nq], (struct sockaddr *)&a, sizeof a) != 0) {
            assert_int_equal(errno, EAGAIN);
            close(queued[nq]);
            break;
        }
    }
    assert_true(nq < 4);
    struct ticker t;
    ticker_start(&t);
    green_t *g = SPAWN(connector, &a);
    assert_int_equal(green_sleep(0.03), 0);
    say("main accepts");
    for (int i = 0; i < nq; i++) { /* room again */
        int c = accept(ulisten, NULL, NULL);
        assert_true(c >= 0);
        close(c);
        close(queued[i]);
    }
    JOIN(g);
    assert_true(ticker_stop(&t) > 3);
    assert_no_failures();
    assert_order("connect waits", "main accepts", "connect 0");
    int c = accept(ulisten, NULL, NULL);
    assert_true(c >= 0);
    close(c);
    close(connected_fd);
    close(ulisten);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_each_call_parks),
        HUB_TEST(test_dups),
        HUB_TEST(test_files_and_names),
        HUB_TEST(test_unix_backlog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
