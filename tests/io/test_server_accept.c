/* SPDX-License-Identifier: MIT */
/* The stream server's acceptor: connections queued in the backlog are taken in batches of
 * accept_batch per wake-up; a full pool stops the accepting (the rest stay queued in the
 * kernel) and a handler's end resumes it, with the server's own pool or the caller's; and
 * under a lowered RLIMIT_NOFILE accept4's EMFILE makes it back off on a timer instead of
 * spinning, then accept once fds are back. */
#include <sys/resource.h>

#include "server_util.h"

#include <cmocka.h>

/* Reads until EOF: the handler lives as long as its client. */
static void until_eof(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    (void)peer, (void)peerlen;
    if (arg)
        (*(int *)arg)++;
    char buf[64];
    while (green_read(fd, buf, sizeof buf, IO_BOUND) > 0) {
    }
}

/* N connections queued before the server starts are taken 4 at a time. */
static void test_batches(void **state)
{
    enum { N = 10, BATCH = 4 };
    green_server_opts_t o = GREEN_SERVER_OPTS_INIT;
    o.accept_batch = BATCH;
    int ran = 0;
    green_server_t *s = server_on(until_eof, &ran, &o, model_of(state));
    assert_non_null(s);
    int c[N];
    for (int i = 0; i < N; i++)
        assert_true((c[i] = dial_blocking(green_server_port(s))) >= 0);
    assert_true(queue_reaches(green_server_fd(s), N));
    assert_int_equal(green_server_start(s), 0);
    while (stats_of(s).accepted < N && green_sleep(0.001) == 0) {
    }
    green_server_stats_t st = stats_of(s);
    assert_int_equal(st.accepted, N);
    assert_int_equal(st.largest_batch, BATCH);
    assert_true(st.wakeups >= (N + BATCH - 1) / BATCH);
    assert_int_equal(accept_queue(green_server_fd(s)), 0);
    for (int i = 0; i < N; i++)
        close(c[i]);
    assert_int_equal(green_server_stop(s, IO_BOUND), 0);
    assert_int_equal(ran, N);
    assert_int_equal(green_server_destroy(s), 0);
    assert_no_failures();
}

/* The default batch takes all that is queued in one wake-up. */
static void test_one_batch(void **state)
{
    enum { N = 12 };
    green_server_t *s = server_on(until_eof, NULL, NULL, model_of(state));
    assert_non_null(s);
    int c[N];
    for (int i = 0; i < N; i++)
        assert_true((c[i] = dial_blocking(green_server_port(s))) >= 0);
    assert_true(queue_reaches(green_server_fd(s), N));
    assert_int_equal(green_server_start(s), 0);
    while (stats_of(s).accepted < N && green_sleep(0.001) == 0) {
    }
    green_server_stats_t st = stats_of(s);
    assert_int_equal(st.accepted, N);
    assert_int_equal(st.wakeups, 1);
    assert_int_equal(st.largest_batch, N);
    for (int i = 0; i < N; i++)
        close(c[i]);
    assert_int_equal(green_server_stop(s, IO_BOUND), 0);
    assert_int_equal(green_server_destroy(s), 0);
    assert_no_failures();
}

/* ---- the pool --------------------------------------------------------------------------- */

static green_event_t *release_handlers, *all_in;
static int inside, wanted;

/* Counts itself in, then holds its place until the test lets the handlers go. */
static void hold(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    (void)fd, (void)peer, (void)peerlen, (void)arg;
    if (++inside == wanted)
        green_event_set(all_in);
    CHECK_EQ(green_event_wait(release_handlers, IO_BOUND), 0);
}

/* Pool of 2, 5 connections: 2 handlers run, the acceptor waits for a place with 3 left in
 * the backlog; released, the handlers end and the other 3 are accepted. */
static void check_pool(void **state, bool own)
{
    enum { POOL = 2, N = 5 };
    release_handlers = green_event_new();
    all_in = green_event_new();
    inside = 0;
    wanted = POOL;
    green_group_t *pool = own ? NULL : green_pool_new(POOL);
    green_server_opts_t o = GREEN_SERVER_OPTS_INIT;
    if (own)
        o.pool_size = POOL;
    else
        o.pool = pool;
    green_server_t *s = server_on(hold, NULL, &o, model_of(state));
    assert_non_null(s);
    int c[N];
    for (int i = 0; i < N; i++)
        assert_true((c[i] = dial_blocking(green_server_port(s))) >= 0);
    assert_true(queue_reaches(green_server_fd(s), N));
    assert_int_equal(green_server_start(s), 0);
    assert_int_equal(green_event_wait(all_in, IO_BOUND), 0);
    green_server_stats_t st = stats_of(s);
    assert_int_equal(st.accepted, POOL);
    assert_int_equal(st.active, POOL);
    assert_int_equal(st.pool_waits, 1); /* it stopped accepting, once */
    assert_int_equal(accept_queue(green_server_fd(s)), N - POOL);
    if (pool)
        assert_int_equal(green_group_free_count(pool), 0);

    green_event_clear(all_in);
    wanted = N;
    assert_int_equal(green_event_set(release_handlers), 0); /* places free up: it resumes */
    assert_int_equal(green_event_wait(all_in, IO_BOUND), 0);
    st = stats_of(s);
    assert_int_equal(st.accepted, N);
    assert_int_equal(inside, N);
    assert_int_equal(accept_queue(green_server_fd(s)), 0);
    assert_int_equal(green_server_stop(s, IO_BOUND), 0);
    assert_true(stats_of(s).active == 0);
    for (int i = 0; i < N; i++)
        close(c[i]);
    assert_int_equal(green_server_destroy(s), 0);
    if (pool)
        assert_int_equal(green_group_destroy(pool), 0);
    assert_int_equal(green_event_destroy(release_handlers), 0);
    assert_int_equal(green_event_destroy(all_in), 0);
    assert_no_failures();
}

static void test_pool_size(void **state) { check_pool(state, true); }
static void test_caller_pool(void **state) { check_pool(state, false); }

/* ---- EMFILE ----------------------------------------------------------------------------- */

static green_event_t *accepted_one;

static void note_accept(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    (void)fd, (void)peer, (void)peerlen, (void)arg;
    green_event_set(accepted_one);
}

/* No fd left: accept4 fails with EMFILE while the connection stays queued; the acceptor
 * backs off 20 ms at a time (a spinning one would count thousands in the 200 ms watched),
 * accepts nothing, and accepts the connection once the limit is restored. */
static void test_emfile_backoff(void **state)
{
    const double BACKOFF = 0.02, WATCH = 0.2;
    accepted_one = green_event_new();
    green_server_opts_t o = GREEN_SERVER_OPTS_INIT;
    o.backoff = BACKOFF;
    green_server_t *s = server_on(note_accept, NULL, &o, model_of(state));
    assert_non_null(s);
    int c = dial_blocking(green_server_port(s));
    assert_true(c >= 0);
    assert_true(queue_reaches(green_server_fd(s), 1));
    assert_int_equal(green_sleep(0), 0); /* the hub's own fds (timers, the loop) exist now */

    int top = dup(0); /* the lowest free number: the limit makes it unavailable */
    close(top);
    struct rlimit saved, lim;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    lim = saved;
    lim.rlim_cur = (rlim_t)top; /* the soft limit only: valgrind refuses to lower the hard one */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
    assert_int_equal(green_server_start(s), 0);
    double t0 = monotonic_seconds();
    assert_int_equal(green_sleep(WATCH), 0);
    double watched = monotonic_seconds() - t0;
    green_server_stats_t st = stats_of(s);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_int_equal(st.accepted, 0);
    assert_true((double)st.backoffs <= watched / BACKOFF + 2); /* a timer, not a spin */
    if (RUNNING_ON_VALGRIND) {
        /* valgrind enforces the soft limit itself: the kernel's accept4 succeeded and
         * valgrind closed the new fd, so the connection is gone: one back-off, no more. */
        assert_true(st.backoffs >= 1);
    } else {
        assert_true(st.backoffs >= 2);
        assert_int_equal(accept_queue(green_server_fd(s)), 1);
        assert_int_equal(green_event_wait(accepted_one, IO_BOUND), 0);
        assert_int_equal(stats_of(s).accepted, 1);
    }
    close(c);
    assert_int_equal(green_server_stop(s, IO_BOUND), 0);
    assert_int_equal(green_server_destroy(s), 0);
    assert_int_equal(green_event_destroy(accepted_one), 0);
    assert_no_failures();
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        HUB_TEST_MODELS(test_batches),        HUB_TEST_MODELS(test_one_batch),
        HUB_TEST_MODELS(test_pool_size),      HUB_TEST_MODELS(test_caller_pool),
        HUB_TEST_MODELS(test_emfile_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
