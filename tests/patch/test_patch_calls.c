/* SPDX-License-Identifier: MIT */
/* libgreen-patch, call by call (the program is linked with it): blocking calls made by
 * greenlets park them and the thread runs on; the mode the program set is what it sees
 * (fcntl) and what it gets (EAGAIN); socket timeouts; close waking waiters; kills and
 * scoped timeouts; errno kept across switches; and libc's own behaviour where the caller
 * may not park (another thread, the hub, a signal handler, a fork child). */
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "patch_util.h"

static int sv[2];

static void pair(void) { assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); }

static void unpair(void)
{
    close(sv[0]);
    close(sv[1]);
}

struct late_write {
    int fd;
    double after;
    const char *data;
};

static void *write_later(void *arg)
{
    struct late_write *w = arg;
    CHECK_EQ(green_sleep(w->after), 0);
    say("writer writes");
    CHECK_EQ(write(w->fd, w->data, strlen(w->data)), (ssize_t)strlen(w->data));
    return NULL;
}

/* ---- parking, and the mode the program sees ---------------------------------------------- */

static void test_read_parks(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct ticker t;
    ticker_start(&t);
    struct late_write w = {p[1], 0.02, "hello"};
    green_t *g = SPAWN(write_later, &w);
    assert_true(green_patch_enabled()); /* main, with a hub */
    char buf[16] = {0};
    say("main reads");
    assert_int_equal(read(p[0], buf, sizeof buf - 1), 5); /* parks main: the writer runs */
    say("main got %s", buf);
    JOIN(g);
    assert_true(ticker_stop(&t) > 0);
    assert_no_failures();
    assert_order("main reads", "writer writes", "main got hello");
    /* Non-blocking underneath, blocking as the program sees it. */
    assert_true(kernel_flags(p[0]) & O_NONBLOCK);
    assert_false(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    close(p[0]);
    close(p[1]);
}

static void test_program_nonblocking(void **state)
{
    (void)state;
    char c;
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    CHECK_FAILS(read(p[0], &c, 1), EAGAIN);
    assert_true(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    close(p[0]);
    close(p[1]);
    /* Made non-blocking by fcntl after a patched call had made it ours. */
    pair();
    struct late_write w = {sv[0], 0.01, "x"};
    green_t *g = SPAWN(write_later, &w);
    assert_int_equal(read(sv[1], &c, 1), 1); /* ours now */
    JOIN(g);
    int fl = fcntl(sv[1], F_GETFL);
    assert_int_equal(fcntl(sv[1], F_SETFL, fl | O_NONBLOCK), 0);
    assert_true(fcntl(sv[1], F_GETFL) & O_NONBLOCK);
    CHECK_FAILS(recv(sv[1], &c, 1, 0), EAGAIN);
    /* ... and blocking again: the next read waits (and parks) */
    assert_int_equal(fcntl(sv[1], F_SETFL, fl), 0);
    assert_false(fcntl(sv[1], F_GETFL) & O_NONBLOCK);
    g = SPAWN(write_later, &w);
    assert_int_equal(read(sv[1], &c, 1), 1);
    JOIN(g);
    /* ioctl(FIONBIO) is the same switch. */
    int on = 1;
    assert_int_equal(ioctl(sv[1], FIONBIO, &on), 0);
    assert_true(fcntl(sv[1], F_GETFL) & O_NONBLOCK);
    CHECK_FAILS(read(sv[1], &c, 1), EAGAIN);
    on = 0;
    assert_int_equal(ioctl(sv[1], FIONBIO, &on), 0);
    assert_false(fcntl(sv[1], F_GETFL) & O_NONBLOCK);
    assert_no_failures();
    unpair();
}

/* ---- socket timeouts ----------------------------------------------------------------------- */

static void test_so_rcvtimeo(void **state)
{
    (void)state;
    pair();
    struct timeval tv = {0, 50000};
    assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    struct ticker t;
    ticker_start(&t);
    char c;
    double t0 = monotonic_seconds();
    CHECK_FAILS(recv(sv[1], &c, 1, 0), EAGAIN); /* libc's answer to an expired SO_RCVTIMEO */
    double took = monotonic_seconds() - t0;
    assert_true(took >= 0.045 && took < 1.0);
    assert_true(ticker_stop(&t) > 0);
    /* A later setsockopt counts: no timeout now, so the late writer's byte arrives. */
    tv.tv_usec = 0;
    assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    struct late_write w = {sv[0], 0.08, "y"};
    green_t *g = SPAWN(write_later, &w);
    assert_int_equal(read(sv[1], &c, 1), 1);
    JOIN(g);
    /* SO_SNDTIMEO on a full buffer: the write stops with EAGAIN (nothing written) */
    tv.tv_usec = 30000;
    assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    static char big[1 << 16];
    while (send(sv[0], big, sizeof big, MSG_DONTWAIT) > 0)
        ;
    CHECK_FAILS(send(sv[0], big, sizeof big, 0), EAGAIN);
    assert_no_failures();
    unpair();
    /* accept: SO_RCVTIMEO of the listener, EAGAIN as libc's */
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    a.sun_path[1] = 'g'; /* abstract, "\0g<pid>" */
    snprintf(a.sun_path + 2, sizeof a.sun_path - 2, "%d-rcvtimeo", (int)getpid());
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 1), 0);
    tv.tv_usec = 30000;
    assert_int_equal(setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    t0 = monotonic_seconds();
    CHECK_FAILS(accept(l, NULL, NULL), EAGAIN);
    assert_true(monotonic_seconds() - t0 >= 0.025);
    close(l);
    assert_no_failures();
}

/* ---- close, kills, timeouts, errno ----------------------------------------------------------- */

static int waited_errno;

static void *read_and_note(void *arg)
{
    char c;
    errno = 0;
    ssize_t n = read(*(int *)arg, &c, 1);
    waited_errno = n < 0 ? errno : 0;
    say("reader %zd %s", n, strerror(waited_errno));
    return NULL;
}

static void test_close_wakes(void **state)
{
    (void)state;
    pair();
    int fd = sv[1];
    green_t *g = SPAWN(read_and_note, &fd);
    assert_int_equal(green_sleep(0.01), 0); /* it waits */
    say("main closes");
    assert_int_equal(close(sv[1]), 0);
    JOIN(g);
    assert_no_failures();
    assert_order("main closes", "reader -1 Bad file descriptor");
    close(sv[0]);
}

static void test_kill_and_timeout(void **state)
{
    (void)state;
    pair();
    int fd = sv[1];
    green_t *g = SPAWN(read_and_note, &fd);
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(green_kill(g, GREEN_FOREVER), 0);
    assert_int_equal(waited_errno, ECANCELED);
    green_release(g);
    /* A scoped timeout: ETIMEDOUT, after its time. */
    char c;
    green_timeout_t *to = green_timeout_start(0.03);
    double t0 = monotonic_seconds();
    CHECK_FAILS(read(sv[1], &c, 1), ETIMEDOUT);
    assert_true(monotonic_seconds() - t0 >= 0.025);
    assert_int_equal(green_timeout_end(to), 1);
    /* Sleeps too: nanosleep reports the time left. */
    to = green_timeout_start(0.02);
    struct timespec req = {5, 0}, rem = {0, 0};
    CHECK_FAILS(nanosleep(&req, &rem), ETIMEDOUT);
    assert_true(rem.tv_sec >= 4);
    assert_int_equal(green_timeout_end(to), 1);
    assert_no_failures();
    unpair();
}

static int errno_after;

static void *errno_keeper(void *arg)
{
    char c;
    errno = 4242;
    CHECK_EQ(read(*(int *)arg, &c, 1), 1); /* parks: the writer sets errno meanwhile */
    errno_after = errno;
    return NULL;
}

static void *errno_spoiler(void *arg)
{
    errno = EPIPE;
    CHECK_EQ(write(*(int *)arg, "z", 1), 1);
    errno = EIO;
    return NULL;
}

static void test_errno_preserved(void **state)
{
    (void)state;
    pair();
    green_t *a = SPAWN(errno_keeper, &sv[1]);
    green_t *b = SPAWN(errno_spoiler, &sv[0]);
    JOIN(a);
    JOIN(b);
    assert_no_failures();
    assert_int_equal(errno_after, 4242);
    unpair();
}

/* ---- many at once ---------------------------------------------------------------------------- */

static void *usleeper(void *arg)
{
    (void)arg;
    CHECK_EQ(usleep(100000), 0);
    return NULL;
}

static void test_sleeps_overlap(void **state)
{
    (void)state;
    green_t *g[20];
    double t0 = monotonic_seconds();
    for (int i = 0; i < 20; i++)
        g[i] = SPAWN(usleeper, NULL);
    JOIN_ALL(g, 20);
    double took = monotonic_seconds() - t0;
    assert_true(took >= 0.09 && took < 0.5);
    struct timespec req = {0, 20000000};
    t0 = monotonic_seconds();
    assert_int_equal(clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL), 0);
    assert_true(monotonic_seconds() - t0 >= 0.018);
    assert_int_equal(sleep(0), 0);
    assert_no_failures();
}

static void test_poll_select_epoll(void **state)
{
    (void)state;
    pair();
    struct ticker t;
    ticker_start(&t);
    struct pollfd p = {.fd = sv[1], .events = POLLIN};
    assert_int_equal(poll(&p, 1, 30), 0); /* the timeout, with the ticker running */
    double t0 = monotonic_seconds();
    assert_int_equal(poll(NULL, 0, 20), 0); /* poll as a sleep */
    assert_true(monotonic_seconds() - t0 >= 0.018);
    struct late_write w = {sv[0], 0.02, "a"};
    green_t *g = SPAWN(write_later, &w);
    assert_int_equal(poll(&p, 1, 1000), 1);
    assert_true(p.revents & POLLIN);
    JOIN(g);
    char c;
    assert_int_equal(read(sv[1], &c, 1), 1);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(sv[1], &r);
    g = SPAWN(write_later, &w);
    assert_int_equal(select(sv[1] + 1, &r, NULL, NULL, NULL), 1);
    assert_true(FD_ISSET(sv[1], &r));
    JOIN(g);
    assert_int_equal(read(sv[1], &c, 1), 1);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = sv[1]}, out;
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev), 0);
    assert_int_equal(epoll_wait(ep, &out, 1, 20), 0);
    g = SPAWN(write_later, &w);
    assert_int_equal(epoll_wait(ep, &out, 1, 1000), 1);
    assert_int_equal(out.data.fd, sv[1]);
    JOIN(g);
    close(ep);
    assert_true(ticker_stop(&t) > 5);
    assert_no_failures();
    unpair();
}

/* ---- sockets: accept, connect, whole writes ------------------------------------------------ */

static int listener;

static void *server(void *arg)
{
    (void)arg;
    int c = accept(listener, NULL, NULL); /* parks until the client connects */
    CHECK(c >= 0);
    CHECK_EQ(fcntl(c, F_GETFL) & O_NONBLOCK, 0);
    static char buf[1 << 20];
    size_t got = 0;
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0)
        got += (size_t)n;
    CHECK_EQ(got, sizeof buf);
    close(c);
    return NULL;
}

static void test_accept_connect_write(void **state)
{
    (void)state;
    listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(listener, (struct sockaddr *)&a, len), 0);
    assert_int_equal(listen(listener, 4), 0);
    assert_int_equal(getsockname(listener, (struct sockaddr *)&a, &len), 0);
    green_t *g = SPAWN(server, NULL);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(s, (struct sockaddr *)&a, len), 0);
    int sz = 4096;
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    static char big[1 << 20];
    struct iovec iov[2] = {{big, sizeof big / 2}, {big + sizeof big / 2, sizeof big / 2}};
    assert_int_equal(writev(s, iov, 2), (ssize_t)sizeof big); /* all of it, as libc's */
    close(s);
    JOIN(g);
    close(listener);
    assert_no_failures();
}

/* ---- where patching is off: libc's calls --------------------------------------------------- */

static void *other_thread(void *arg)
{
    int fd = *(int *)arg;
    char c = 0;
    bool enabled = green_patch_enabled();
    /* sv[1] is non-blocking underneath: libc's blocking read, emulated, still blocks */
    ssize_t n = read(fd, &c, 1);
    return (void *)(intptr_t)(n == 1 && c == 'q' && !enabled);
}

static void in_hub(void *arg) { *(bool *)arg = green_patch_enabled(); }

static void test_libc_elsewhere(void **state)
{
    (void)state;
    pair();
    struct late_write w = {sv[0], 0.01, "x"};
    green_t *g = SPAWN(write_later, &w);
    char c;
    assert_int_equal(read(sv[1], &c, 1), 1); /* makes sv[1] ours */
    JOIN(g);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_thread, &sv[1]), 0);
    struct timespec ms = {0, 20000000};
    /* A thread without a hub: this blocks the thread (patching is off with it). */
    assert_int_equal(green_patch_context(GREEN_PATCH_OFF), GREEN_PATCH_ON);
    assert_false(green_patch_enabled());
    assert_int_equal(nanosleep(&ms, NULL), 0);
    assert_int_equal(green_patch_context(GREEN_PATCH_ON), GREEN_PATCH_OFF);
    assert_int_equal(write(sv[0], "q", 1), 1);
    void *ok;
    assert_int_equal(pthread_join(th, &ok), 0);
    assert_true(ok != NULL);
    bool hub_says = true;
    run_in_hub(in_hub, &hub_says);
    assert_false(hub_says);
    assert_int_equal(green_patch_context(GREEN_PATCH_QUERY), GREEN_PATCH_ON);
    CHECK_FAILS(green_patch_context(7), EINVAL);
    assert_no_failures();
    unpair();
}

/* The mode is the greenlet's: one that turned patching off keeps it across switches, the
 * others keep theirs. */
static int seen_a, seen_b;

static void *turns_off(void *arg)
{
    (void)arg;
    CHECK_EQ(green_patch_context(GREEN_PATCH_OFF), GREEN_PATCH_ON);
    CHECK_EQ(green_sleep(0), 0); /* B runs meanwhile */
    seen_a = green_patch_enabled();
    return NULL;
}

static void *keeps_on(void *arg)
{
    (void)arg;
    seen_b = green_patch_enabled();
    return NULL;
}

static void test_context_per_greenlet(void **state)
{
    (void)state;
    seen_a = seen_b = -1;
    green_t *a = SPAWN(turns_off, NULL);
    green_t *b = SPAWN(keeps_on, NULL);
    JOIN(a);
    JOIN(b);
    assert_no_failures();
    assert_int_equal(seen_a, 0);
    assert_int_equal(seen_b, 1);
    assert_true(green_patch_enabled()); /* main's own mode was never touched */
}

static volatile sig_atomic_t handler_saw = -1;

static void on_usr1(int sig)
{
    (void)sig;
    handler_saw = green_patch_enabled();
}

static void test_signal_handler(void **state)
{
    (void)state;
    struct sigaction act = {0}, old;
    act.sa_handler = on_usr1;
    sigemptyset(&act.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &act, NULL), 0);
    assert_int_equal(sigaction(SIGUSR1, NULL, &old), 0);
    assert_ptr_equal(old.sa_handler, on_usr1); /* the program's handler, not ours */
    raise(SIGUSR1);
    assert_int_equal(handler_saw, 0);
    assert_true(green_patch_enabled());
    signal(SIGUSR1, SIG_DFL);
}

/* ---- fork and waitpid ---------------------------------------------------------------------- */

static void test_fork_and_waitpid(void **state)
{
    (void)state;
#if defined(__SANITIZE_THREAD__)
    /* TSAN's runtime in a child forked from a process with threads and fibers reports
     * races of its own bookkeeping (and exits 66): ASAN, valgrind and plain runs cover it. */
    print_message("fork under TSAN: skipped (the other builds run it)\n");
    skip();
#endif
    pair();
    struct late_write w = {sv[0], 0.01, "x"};
    green_t *g = SPAWN(write_later, &w);
    char c;
    assert_int_equal(read(sv[1], &c, 1), 1); /* sv[1] is ours, non-blocking underneath */
    JOIN(g);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the child's blocking read blocks and gets the parent's byte */
        char b = 0;
        _exit(read(sv[1], &b, 1) == 1 && b == 'f' && !(fcntl(sv[1], F_GETFL) & O_NONBLOCK) ? 7 : 1);
    }
    struct ticker t;
    ticker_start(&t);
    assert_int_equal(green_sleep(0.03), 0);
    assert_int_equal(write(sv[0], "f", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid); /* parks: the ticker runs */
    assert_true(ticker_stop(&t) > 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 7);
    assert_no_failures();
    unpair();
}

/* A child that ended while the hub ran was reaped by libev on SIGCHLD: waitpid, WNOHANG
 * included (libc's call, which could not see it), gets the status the hub kept, once. */
static void test_waitpid_kept(void **state)
{
    (void)state;
    for (int nohang = 0; nohang < 2; nohang++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(5 + nohang);
        siginfo_t si;
        bool reaped = false; /* by the hub, not by this test */
        for (long i = 0; i < 20000 && !reaped; i++) {
            errno = 0;
            reaped = kill(pid, 0) < 0 && errno == ESRCH &&
                     waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
                     errno == ECHILD;
            if (!reaped)
                assert_int_equal(green_sleep(0.001), 0);
        }
        assert_true(reaped);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, nohang ? WNOHANG : 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 5 + nohang);
        errno = 0;
        assert_int_equal(waitpid(pid, &status, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
    }
    assert_no_failures();
}

/* ---- names ------------------------------------------------------------------------------- */

static void *other_runs(void *arg)
{
    (void)arg;
    say("other runs");
    return NULL;
}

static void test_names(void **state)
{
    (void)state;
    struct ticker t;
    ticker_start(&t);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    /* A name from /etc/hosts, resolved on a worker thread: main parks meanwhile, so the
     * greenlet queued behind it runs before the answer is back. */
    green_t *o = SPAWN(other_runs, NULL);
    say("main resolves");
    assert_int_equal(getaddrinfo("localhost", "80", &hints, &res), 0);
    say("main resolved");
    JOIN(o);
    assert_order("main resolves", "other runs", "main resolved");
    struct sockaddr_in *in = (struct sockaddr_in *)res->ai_addr;
    assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
    assert_int_equal(ntohs(in->sin_port), 80);
    char host[256], serv[32];
    assert_int_equal(getnameinfo(res->ai_addr, res->ai_addrlen, host, sizeof host, serv,
                                 sizeof serv, NI_NUMERICSERV),
                     0);
    assert_string_equal(serv, "80");
    assert_true(strlen(host) > 0);
    freeaddrinfo(res);
    assert_int_equal(getaddrinfo("no-such-host.invalid", NULL, &hints, &res), EAI_NONAME);
    struct hostent *h = gethostbyname("localhost");
    assert_non_null(h);
    assert_int_equal(h->h_addrtype, AF_INET);
    assert_int_equal(ntohl(*(uint32_t *)h->h_addr_list[0]), INADDR_LOOPBACK);
    ticker_stop(&t);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_read_parks),           HUB_TEST(test_program_nonblocking),
        HUB_TEST(test_so_rcvtimeo),          HUB_TEST(test_close_wakes),
        HUB_TEST(test_kill_and_timeout),     HUB_TEST(test_errno_preserved),
        HUB_TEST(test_sleeps_overlap),       HUB_TEST(test_poll_select_epoll),
        HUB_TEST(test_accept_connect_write), HUB_TEST(test_libc_elsewhere),
        HUB_TEST(test_context_per_greenlet), HUB_TEST(test_signal_handler),
        HUB_TEST(test_fork_and_waitpid),     HUB_TEST(test_waitpid_kept),
        HUB_TEST(test_names),
    };
    if (green_patch_enabled()) /* before any hub: libc's calls */
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
