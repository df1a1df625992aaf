/* SPDX-License-Identifier: MIT */
/* Wake-ups of every cooperative call (io_ops.h) and the write paths that never fail:
 * another greenlet's green_close() of the fd wakes the waiter with EBADF, its watcher
 * stopped before the real close (the fd's number, reused at once by a new file with data
 * in it, is never touched); a kill wakes it with ECANCELED and frees its place; partial
 * writes through small buffers and a slow reader deliver every byte in order; accept4
 * under a lowered RLIMIT_NOFILE fails with EMFILE and works again once it is restored. */
#include <signal.h>
#include <sys/resource.h>

#include "io_ops.h"

static int sv[2];
static const struct op *current;

static void *waiter(void *arg)
{
    int want = (int)(intptr_t)arg;
    size_t done = 99;
    errno = 0;
    ssize_t rc = current->call(sv[0], op_buf, OP_LEN, 5.0, &done);
    CHECK_OP_FAILS(current, rc, want, 0);
    say("W woke");
    return NULL;
}

/* Closes sv[0] under the waiter, then takes its number for a new socket pair whose end at
 * that number has data to read and room to write: a watcher left on the number would see
 * it ready. */
static int reused[2];

static void *closer(void *arg)
{
    (void)arg;
    int old = sv[0];
    say("C closes");
    CHECK_EQ(green_close(sv[0]), 0);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, reused), 0);
    if (reused[1] == old) { /* the end at the old number must be reused[0] */
        int t = reused[0];
        reused[0] = reused[1];
        reused[1] = t;
    } else if (reused[0] != old) { /* a lower number was free: move that end onto old */
        CHECK_EQ(dup2(reused[0], old), old);
        close(reused[0]);
        reused[0] = old;
    }
    CHECK_EQ(write(reused[1], "new", 3), 3);
    say("C reopened");
    return NULL;
}

static void test_close_each(void **state)
{
    (void)state;
    for (size_t i = 0; i < OP_COUNT; i++) {
        current = &ops[i];
        op_pair(current, sv, false);
        order_reset();
        green_t *w = SPAWN(waiter, (intptr_t)EBADF);
        assert_int_equal(green_sleep(0), 0); /* W waits on sv[0] */
        green_t *c = SPAWN(closer, NULL);
        JOIN(c);
        JOIN(w);
        assert_order("C closes", "C reopened", "W woke");
        /* the new file under the old number is untouched: its data is still there (no
         * reader took it) and nothing was written to its peer */
        char buf[8];
        assert_int_equal(recv(reused[0], buf, sizeof buf, MSG_DONTWAIT), 3);
        assert_int_equal(recv(reused[1], buf, sizeof buf, MSG_DONTWAIT), -1);
        assert_int_equal(errno, EAGAIN);
        close(reused[0]);
        close(reused[1]);
        close(sv[1]);
    }
}

/* The same for accept and connect. */
static void *conn_waiter(void *arg)
{
    int want = (int)(intptr_t)arg;
    if (current == NULL) {
        CHECK_FAILS(green_accept4(sv[0], NULL, NULL, SOCK_CLOEXEC, 5.0), want);
    } else {
        struct sockaddr_in to;
        socklen_t len = sizeof to;
        CHECK_EQ(getsockname(sv[1], (struct sockaddr *)&to, &len), 0);
        CHECK_FAILS(green_connect(sv[0], (struct sockaddr *)&to, len, 5.0), want);
    }
    say("W woke");
    return NULL;
}

/* sv[0]: for accept, an idle listener; for connect, a socket and sv[1] a listener whose
 * queue is full (the fds that fill it in held[]). */
static int held[64], nheld;

/* Whether a connect to `to` hangs (the listener's queue is full: it drops the SYN). */
static bool connect_pending(int fd, const struct sockaddr_in *to)
{
    errno = 0;
    return green_connect(fd, (const struct sockaddr *)to, sizeof *to, 0.05) < 0 &&
           errno == ETIMEDOUT;
}

static void conn_setup(bool connect)
{
    nheld = 0;
    if (!connect) {
        sv[0] = green_listen("127.0.0.1", 0, SOCK_STREAM, 4, 0);
        sv[1] = -1;
        return;
    }
    sv[1] = green_listen("127.0.0.1", 0, SOCK_STREAM, 0, 0);
    struct sockaddr_in to;
    socklen_t len = sizeof to;
    assert_int_equal(getsockname(sv[1], (struct sockaddr *)&to, &len), 0);
    for (;;) { /* until a connect has to wait: the queue is full */
        assert_true(nheld < 64);
        held[nheld] = socket(AF_INET, SOCK_STREAM, 0);
        if (connect_pending(held[nheld++], &to))
            break;
    }
    sv[0] = socket(AF_INET, SOCK_STREAM, 0);
}

static void conn_teardown(void)
{
    for (int i = 0; i < nheld; i++)
        close(held[i]);
    if (sv[1] >= 0)
        close(sv[1]);
}

static void test_close_connections(void **state)
{
    (void)state;
    static const struct op connect_op = {"connect", OP_WRITE, false, NULL};
    for (int k = 0; k < 2; k++) {
        current = k ? &connect_op : NULL;
        conn_setup(k);
        order_reset();
        green_t *w = SPAWN(conn_waiter, (intptr_t)EBADF);
        assert_int_equal(green_sleep(0), 0);
        green_t *c = SPAWN(closer, NULL);
        JOIN(c);
        JOIN(w);
        assert_order("C closes", "C reopened", "W woke");
        close(reused[0]);
        close(reused[1]);
        conn_teardown();
    }
}

/* ---- kills ------------------------------------------------------------------------------ */

/* Killed while waiting: ECANCELED; the direction is free again for the next caller. */
static void test_kill_each(void **state)
{
    (void)state;
    for (size_t i = 0; i < OP_COUNT; i++) {
        current = &ops[i];
        op_pair(current, sv, false);
        order_reset();
        green_t *w = SPAWN(waiter, (intptr_t)ECANCELED);
        assert_int_equal(green_sleep(0), 0);
        say("main kills");
        assert_int_equal(green_kill(w, 1.0), 0);
        green_release(w);
        assert_order("main kills", "W woke");
        size_t done;
        errno = 0;
        ssize_t rc = current->call(sv[0], op_buf, OP_LEN, 0.01, &done);
        CHECK_OP_FAILS(current, rc, ETIMEDOUT, 0); /* not EBUSY: nobody waits any more */
        assert_no_failures();
        close(sv[0]);
        close(sv[1]);
    }
    static const struct op connect_op = {"connect", OP_WRITE, false, NULL};
    for (int k = 0; k < 2; k++) {
        current = k ? &connect_op : NULL;
        conn_setup(k);
        order_reset();
        green_t *w = SPAWN(conn_waiter, (intptr_t)ECANCELED);
        assert_int_equal(green_sleep(0), 0);
        say("main kills");
        assert_int_equal(green_kill(w, 1.0), 0);
        green_release(w);
        assert_order("main kills", "W woke");
        close(sv[0]);
        conn_teardown();
    }
}

/* ---- partial writes --------------------------------------------------------------------- */

static size_t drained;
static bool drain_ok;

static void *slow_reader(void *arg)
{
    size_t want = (size_t)(uintptr_t)arg;
    char buf[700]; /* odd-sized reads, a yield between them: the writer refills often */
    drain_ok = true;
    while (drained < want) {
        ssize_t n = green_read(sv[1], buf, sizeof buf, 5.0);
        if (n <= 0) {
            note_failure(__LINE__, "%s: read %zd after %zu", current->name, n, drained);
            break;
        }
        for (ssize_t i = 0; i < n; i++)
            if ((unsigned char)buf[i] != (unsigned char)((drained + (size_t)i) * 13 + 1))
                drain_ok = false;
        drained += (size_t)n;
        CHECK_EQ(green_sleep(0), 0);
    }
    return NULL;
}

/* Every write op through small buffers to a slow reader: a plain op is called again on the
 * rest after each partial write (as its caller must), an exact one once; either way every
 * byte arrives, in order, and the plain ops did write partially. */
static void test_partial_each(void **state)
{
    (void)state;
    size_t len = (size_t)scaled(256 * 1024, 32 * 1024);
    unsigned char *data = malloc(len);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 13 + 1);
    for (size_t i = 0; i < OP_COUNT; i++) {
        current = &ops[i];
        if (current->dir != OP_WRITE)
            continue;
        /* a Unix pair: loopback TCP with tiny windows stalls on its persist timer */
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        small_buffers(sv);
        drained = 0;
        green_t *r = SPAWN(slow_reader, (uintptr_t)len);
        size_t off = 0, calls = 0;
        while (off < len) {
            size_t done = 0;
            ssize_t n = current->call(sv[0], data + off, len - off, 5.0, &done);
            if (n <= 0) {
                note_failure(__LINE__, "%s: %zd (%s)", current->name, n, strerror(errno));
                break;
            }
            CHECK_EQ(done, n);
            off += (size_t)n;
            calls++;
        }
        JOIN(r);
        assert_no_failures();
        assert_int_equal(off, len);
        assert_int_equal(drained, len);
        assert_true(drain_ok);
        if (current->exact)
            assert_int_equal(calls, 1);
        else
            assert_true(calls > 1); /* the buffers are far smaller than len */
        close(sv[0]);
        close(sv[1]);
    }
    free(data);
}

/* ---- EMFILE ------------------------------------------------------------------------------ */

/* accept4 with no fd left: EMFILE, at once (the connection stays queued); with the limit
 * restored, the same connection is accepted.  (Valgrind emulates the limit by closing what
 * the kernel accepted, so there the queued connection is gone: only the error is checked.) */
static void test_emfile_accept4(void **state)
{
    (void)state;
    int l = green_listen("127.0.0.1", 0, SOCK_STREAM, 4, 0);
    assert_true(l >= 0);
    struct sockaddr_in to;
    socklen_t len = sizeof to;
    assert_int_equal(getsockname(l, (struct sockaddr *)&to, &len), 0);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(c, (struct sockaddr *)&to, len), 0);
    int top = dup(0); /* the lowest free number: the limit makes it unavailable */
    close(top);
    struct rlimit saved, lim;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    lim = saved;
    lim.rlim_cur = (rlim_t)top; /* the soft limit only: valgrind refuses to lower the hard one */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
    double start = monotonic_seconds();
    errno = 0;
    int rc = green_accept4(l, NULL, NULL, SOCK_NONBLOCK, 5.0);
    int err = errno;
    double took = monotonic_seconds() - start;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_int_equal(rc, -1);
    assert_int_equal(err, EMFILE);
    assert_true(took < 1.0); /* an error, not a wait */
    if (!RUNNING_ON_VALGRIND) {
        int s = green_accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC, 1.0);
        assert_true(s >= 0);
        close(s);
    }
    close(c);
    close(l);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_close_each),   HUB_TEST(test_close_connections), HUB_TEST(test_kill_each),
        HUB_TEST(test_partial_each), HUB_TEST(test_emfile_accept4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
