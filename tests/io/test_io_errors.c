/* SPDX-License-Identifier: MIT */
/* The failure paths of every cooperative call, call by call (io_ops.h): the timeout (the
 * error, and that it takes the time asked), the budget of the exact transfers and of
 * green_connect_name spanning the whole call however many waits it takes, end of file and
 * a peer gone (EPIPE), and a reset by the peer (an SO_LINGER 0 close) both before the call
 * and while it waits.  test_io_errors_wake.c has the wake-ups (close, kill) and partial
 * writes. */
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/select.h>

#include "io_ops.h"

#define T 0.05    /* the timeout asked for */
#define SLACK 1.5 /* how much later than T a timeout may come on a loaded CI machine */

static int sv[2];

static void unpair(void)
{
    close(sv[0]);
    close(sv[1]);
}

#define CHECK_TOOK(start, want)                                                                    \
    do {                                                                                           \
        double took_ = monotonic_seconds() - (start);                                              \
        if (took_ < (want)-0.002 || took_ > (want) + SLACK)                                        \
            note_failure(__LINE__, "took %.3f s for a %.3f s timeout", took_, (want));             \
    } while (0)

/* Each transfer waits for T, then fails with ETIMEDOUT. */
static void test_timeout_each(void **state)
{
    (void)state;
    for (size_t i = 0; i < OP_COUNT; i++) {
        const struct op *op = &ops[i];
        op_pair(op, sv, false);
        size_t done = 99;
        double start = monotonic_seconds();
        errno = 0;
        ssize_t rc = op->call(sv[0], op_buf, OP_LEN, T, &done);
        CHECK_OP_FAILS(op, rc, ETIMEDOUT, 0);
        CHECK_TOOK(start, T);
        /* a write op may have put a little into what the peer's buffer freed meanwhile */
        if (op->dir == OP_READ)
            CHECK_EQ(done, 0);
        unpair();
    }
    assert_no_failures();
}

/* The connection calls' timeouts: accept on an idle listener, connect to a listener whose
 * queue is full (it drops further SYNs), poll and select (0, as poll(2)). */
static void test_timeout_connections(void **state)
{
    (void)state;
    int l = green_listen("127.0.0.1", 0, SOCK_STREAM, 0, 0);
    assert_true(l >= 0);
    double start = monotonic_seconds();
    CHECK_FAILS(green_accept(l, NULL, NULL, T), ETIMEDOUT);
    CHECK_TOOK(start, T);
    start = monotonic_seconds();
    CHECK_FAILS(green_accept4(l, NULL, NULL, SOCK_CLOEXEC, T), ETIMEDOUT);
    CHECK_TOOK(start, T);

    struct sockaddr_in to;
    socklen_t len = sizeof to;
    assert_int_equal(getsockname(l, (struct sockaddr *)&to, &len), 0);
    int fds[64], n = 0;
    bool timed_out = false;
    while (n < 64 && !timed_out) { /* fill the queue: the first connect that waits times out */
        fds[n] = socket(AF_INET, SOCK_STREAM, 0);
        start = monotonic_seconds();
        errno = 0;
        timed_out =
            green_connect(fds[n++], (struct sockaddr *)&to, len, T) < 0 && errno == ETIMEDOUT;
    }
    assert_true(timed_out);
    CHECK_TOOK(start, T);

    int p[2];
    assert_int_equal(pipe(p), 0);
    struct pollfd pf = {p[0], POLLIN, 0};
    start = monotonic_seconds();
    CHECK_EQ(green_poll(&pf, 1, T), 0);
    CHECK_TOOK(start, T);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    start = monotonic_seconds();
    CHECK_EQ(green_select(p[0] + 1, &rd, NULL, NULL, T), 0);
    CHECK_TOOK(start, T);
    close(p[0]);
    close(p[1]);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    close(l);
    assert_no_failures();
}

/* ---- one budget for the whole call ---------------------------------------------------- */

#define TRICKLE 0.01 /* seconds between the feeder's bytes: far less than the budget */
#define BUDGET 0.2

static void *trickle_feeder(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) { /* ends when the reader hangs up (EPIPE) */
        if (green_sleep(TRICKLE) != 0 || green_send(sv[1], "x", 1, MSG_NOSIGNAL, 1.0) != 1)
            break;
    }
    return NULL;
}

/* Bytes arrive every TRICKLE, each wait is short: only a budget for the whole call can end
 * read_exactly at BUDGET (a per-wait timeout would go on for 1000 bytes, 10 s). */
static void test_read_exactly_budget(void **state)
{
    (void)state;
    assert_int_equal(tcp_pair(sv), 0);
    green_t *f = SPAWN(trickle_feeder, NULL);
    static char buf[1000];
    size_t done = 0;
    double start = monotonic_seconds();
    CHECK_FAILS(green_read_exactly(sv[0], buf, sizeof buf, BUDGET, &done), ETIMEDOUT);
    CHECK_TOOK(start, BUDGET);
    CHECK(done > 0 && done < sizeof buf);
    close(sv[0]);
    JOIN(f);
    close(sv[1]);
    assert_no_failures();
}

static bool drain_stop;

static void *trickle_drainer(void *arg)
{
    (void)arg;
    char buf[64];
    while (!drain_stop) { /* small reads, far apart, until the writer has given up */
        if (green_sleep(TRICKLE) != 0 || green_read(sv[1], buf, sizeof buf, 1.0) <= 0)
            break;
    }
    return NULL;
}

/* The same for write_all and send_all, with a reader that takes a little at a time. */
static void test_write_all_budget(void **state)
{
    (void)state;
    for (int which = 0; which < 2; which++) {
        assert_int_equal(tcp_pair(sv), 0);
        small_buffers(sv);
        drain_stop = false;
        green_t *d = SPAWN(trickle_drainer, NULL);
        static char buf[1 << 20];
        size_t done = 0;
        double start = monotonic_seconds();
        if (which == 0)
            CHECK_FAILS(green_write_all(sv[0], buf, sizeof buf, BUDGET, &done), ETIMEDOUT);
        else
            CHECK_FAILS(green_send_all(sv[0], buf, sizeof buf, MSG_NOSIGNAL, BUDGET, &done),
                        ETIMEDOUT);
        CHECK_TOOK(start, BUDGET);
        CHECK(done > 0 && done < sizeof buf);
        drain_stop = true;
        JOIN(d);
        close(sv[0]);
        close(sv[1]);
    }
    assert_no_failures();
}

/* green_connect_name: resolving (on the threadpool) and connecting share one budget: a
 * name whose listeners' queues are full times out at the budget, not at a budget per
 * address or per step. */
static void test_connect_name_budget(void **state)
{
    (void)state;
    int l = green_listen("127.0.0.1", 0, SOCK_STREAM, 0, 0);
    assert_true(l >= 0);
    struct sockaddr_in to;
    socklen_t len = sizeof to;
    assert_int_equal(getsockname(l, (struct sockaddr *)&to, &len), 0);
    int fds[64], n = 0;
    bool timed_out = false;
    while (n < 64 && !timed_out) {
        fds[n] = socket(AF_INET, SOCK_STREAM, 0);
        errno = 0;
        timed_out =
            green_connect(fds[n++], (struct sockaddr *)&to, len, T) < 0 && errno == ETIMEDOUT;
    }
    assert_true(timed_out);
    double start = monotonic_seconds();
    CHECK_FAILS(green_connect_name("localhost", ntohs(to.sin_port), SOCK_STREAM, BUDGET),
                ETIMEDOUT);
    CHECK_TOOK(start, BUDGET);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    close(l);
    assert_no_failures();
}

/* ---- end of file, the peer gone -------------------------------------------------------- */

static const struct op *current;

static void *waiting_op(void *arg)
{
    int want = (int)(intptr_t)arg; /* 0: end of file; else the errno (or EPIPE/ECONNRESET) */
    size_t done = 99;
    errno = 0;
    ssize_t rc = current->call(sv[0], op_buf, OP_LEN, 2.0, &done);
    if (want == 0)
        CHECK_EQ(rc, 0);
    else if (want == ECONNRESET && current->dir == OP_WRITE)
        CHECK_OP_FAILS(current, rc, ECONNRESET, EPIPE); /* which one is the kernel's */
    else
        CHECK_OP_FAILS(current, rc, want, 0);
    say("%s woke", current->name);
    return NULL;
}

/* The log must be `what`, then the current op's wake-up. */
static void expect_order(const char *what)
{
    char want[128];
    snprintf(want, sizeof want, "%s\n%s woke\n", what, current->name);
    assert_no_failures();
    assert_string_equal(order_text(), want);
}

/* Readers see end of file (0; read_exactly a short count: 0 here) when the peer shuts its
 * side, before the call and while it waits; writers fail with EPIPE once the peer is gone
 * (a Unix pair: no RST races), before and while they wait. */
static void test_eof_each(void **state)
{
    (void)state;
    for (size_t i = 0; i < OP_COUNT; i++) {
        current = &ops[i];
        bool reader = current->dir == OP_READ;
        for (int waiting = 0; waiting < 2; waiting++) {
            assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
            if (!reader) {
                small_buffers(sv);
                fill(sv[0]);
            }
            order_reset();
            green_t *g = NULL;
            if (waiting) {
                g = SPAWN(waiting_op, (intptr_t)(reader ? 0 : EPIPE));
                assert_int_equal(green_sleep(0), 0); /* it waits */
                say("peer goes");
            }
            if (reader)
                shutdown(sv[1], SHUT_WR);
            else
                close(sv[1]);
            if (waiting) {
                JOIN(g);
                expect_order("peer goes");
            } else {
                waiting_op((void *)(intptr_t)(reader ? 0 : EPIPE));
            }
            if (reader)
                close(sv[1]);
            close(sv[0]);
        }
    }
    assert_no_failures();
}

/* A reset by the peer (SO_LINGER 0 close): ECONNRESET for readers; ECONNRESET or EPIPE for
 * writers (the kernel reports the reset once, then EPIPE); before and while waiting. */
static void test_reset_each(void **state)
{
    (void)state;
    for (size_t i = 0; i < OP_COUNT; i++) {
        current = &ops[i];
        for (int waiting = 0; waiting < 2; waiting++) {
            op_pair(current, sv, true);
            order_reset();
            green_t *g = NULL;
            if (waiting) {
                g = SPAWN(waiting_op, (intptr_t)ECONNRESET);
                assert_int_equal(green_sleep(0), 0);
                say("peer resets");
            }
            close_reset(sv[1]);
            if (waiting) {
                JOIN(g);
                expect_order("peer resets");
            } else {
                waiting_op((void *)(intptr_t)ECONNRESET);
            }
            close(sv[0]);
        }
    }
    assert_no_failures();
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* write and writev to a gone reader raise it otherwise */
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_timeout_each),        HUB_TEST(test_timeout_connections),
        HUB_TEST(test_read_exactly_budget), HUB_TEST(test_write_all_budget),
        HUB_TEST(test_connect_name_budget), HUB_TEST(test_eof_each),
        HUB_TEST(test_reset_each),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
