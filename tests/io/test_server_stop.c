/* SPDX-License-Identifier: MIT */
/* Stopping a server: the listener is closed at once (new connections refused) while a
 * handler mid-conversation finishes within the timeout and nothing is killed; handlers
 * that outlive the timeout are killed, their blocking calls fail with ECANCELED and their
 * cleanup runs, and their connections are closed; serve_forever is woken; a listener closed behind
 * the server's back ends serve_forever with EBADF; the refusals (EALREADY, EDEADLK). */
#include "server_util.h"

#include <cmocka.h>

static green_event_t *go, *in_handler;
static int cleanups, cancelled, answered;

/* Waits for one byte, answers it and returns. */
static void answer_one(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    (void)peer, (void)peerlen, (void)arg;
    green_event_set(in_handler);
    char c;
    if (green_read(fd, &c, 1, IO_BOUND) == 1 && green_write(fd, &c, 1, IO_BOUND) == 1)
        answered++;
    cleanups++;
}

static unsigned port;

/* Connected before the stop; sends only once the stop has begun (go is set just before). */
static void *late_talker(void *arg)
{
    int fd = (int)(intptr_t)arg;
    CHECK_EQ(green_event_wait(go, IO_BOUND), 0);
    char c = 0;
    CHECK_EQ(green_write(fd, "x", 1, IO_BOUND), 1);
    CHECK_EQ(green_read(fd, &c, 1, IO_BOUND), 1);
    CHECK_EQ(c, 'x');
    CHECK_EQ(green_read(fd, &c, 1, IO_BOUND), 0); /* then the server closes it */
    close(fd);
    return NULL;
}

/* A handler still talking when the stop begins finishes within the timeout: nothing is
 * killed, and new connections are refused. */
static void test_graceful(void **state)
{
    go = green_event_new();
    in_handler = green_event_new();
    answered = cleanups = 0;
    green_server_t *s = server_on(answer_one, NULL, NULL, model_of(state));
    assert_non_null(s);
    port = green_server_port(s);
    assert_int_equal(green_server_start(s), 0);
    int fd = dial(port);
    assert_true(fd >= 0);
    assert_int_equal(green_event_wait(in_handler, IO_BOUND), 0);
    green_t *t = SPAWN_MODEL(late_talker, (intptr_t)fd, model_of(state));
    assert_int_equal(green_event_set(go), 0);
    double t0 = monotonic_seconds();
    assert_int_equal(green_server_stop(s, IO_BOUND), 0);
    assert_true(monotonic_seconds() - t0 < IO_BOUND / 2);
    assert_int_equal(answered, 1);
    errno = 0;
    assert_int_equal(dial_blocking(port), -1);
    assert_int_equal(errno, ECONNREFUSED);
    JOIN(t);
    green_server_stats_t st = stats_of(s);
    assert_int_equal(st.killed, 0);
    assert_int_equal(st.active, 0);
    assert_int_equal(green_server_destroy(s), 0);
    assert_int_equal(green_event_destroy(go), 0);
    assert_int_equal(green_event_destroy(in_handler), 0);
    assert_no_failures();
}

/* Reads forever; records how its read ended and runs its cleanup. */
static void stubborn(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    (void)peer, (void)peerlen, (void)arg;
    char c;
    if (++answered == 3)
        green_event_set(in_handler);
    if (green_read(fd, &c, 1, GREEN_FOREVER) < 0 && errno == ECANCELED)
        cancelled++;
    cleanups++;
}

/* Three handlers that never end on their own: the stop waits its 0.1 s, kills them (their
 * reads fail with ECANCELED, their cleanup runs) and their clients see EOF. */
static void test_timeout_then_kill(void **state)
{
    enum { N = 3 };
    in_handler = green_event_new();
    answered = cleanups = cancelled = 0;
    green_server_t *s = server_on(stubborn, NULL, NULL, model_of(state));
    assert_non_null(s);
    assert_int_equal(green_server_start(s), 0);
    int c[N];
    for (int i = 0; i < N; i++)
        assert_true((c[i] = dial(green_server_port(s))) >= 0);
    assert_int_equal(green_event_wait(in_handler, IO_BOUND), 0);
    double t0 = monotonic_seconds();
    assert_int_equal(green_server_stop(s, 0.1), N);
    double took = monotonic_seconds() - t0;
    assert_true(took >= 0.09 && took < IO_BOUND / 2);
    assert_int_equal(cancelled, N);
    assert_int_equal(cleanups, N);
    green_server_stats_t st = stats_of(s);
    assert_int_equal(st.killed, N);
    assert_int_equal(st.active, 0);
    char b;
    for (int i = 0; i < N; i++) {
        assert_int_equal(green_read(c[i], &b, 1, IO_BOUND), 0);
        close(c[i]);
    }
    assert_int_equal(green_server_destroy(s), 0);
    assert_int_equal(green_event_destroy(in_handler), 0);
    assert_no_failures();
}

/* ---- serve_forever and the refusals ----------------------------------------------------- */

static green_server_t *server;
static int stop_rc, stop_errno;

static void stop_self(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    (void)fd, (void)peer, (void)peerlen, (void)arg;
    errno = 0;
    stop_rc = green_server_stop(server, 1.0);
    stop_errno = errno;
}

static void *second_stopper(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_server_stop(server, 1.0), EALREADY);
    return NULL;
}

static void *stopper(void *arg)
{
    (void)arg;
    int fd = dial(green_server_port(server));
    CHECK(fd >= 0);
    char c;
    CHECK_EQ(green_read(fd, &c, 1, IO_BOUND), 0); /* the handler's stop is refused; EOF */
    close(fd);
    green_t *g = SPAWN(second_stopper, NULL);
    CHECK_EQ(green_server_stop(server, 1.0), 0);
    JOIN(g);
    return NULL;
}

/* serve_forever returns 0 once a greenlet stopped the server; meanwhile a handler's own
 * stop is refused (EDEADLK) and a second concurrent stop too (EALREADY). */
static void test_serve_forever_and_refusals(void **state)
{
    stop_rc = 0;
    server = server_on(stop_self, NULL, NULL, model_of(state));
    assert_non_null(server);
    green_t *g = SPAWN(stopper, NULL);
    assert_int_equal(green_server_serve_forever(server), 0);
    JOIN(g);
    assert_int_equal(stop_rc, -1);
    assert_int_equal(stop_errno, EDEADLK);
    assert_int_equal(green_server_destroy(server), 0);
    assert_no_failures();
}

/* The listener closed behind the server's back: the acceptor's wait fails with EBADF and
 * serve_forever reports it; the server can still be stopped and destroyed. */
static void *close_listener(void *arg)
{
    CHECK_EQ(green_close(green_server_fd(arg)), 0);
    return NULL;
}

static void test_listener_closed(void **state)
{
    (void)state;
    server = server_on(stop_self, NULL, NULL, GREEN_STACK_PRIVATE);
    assert_non_null(server);
    green_t *g = SPAWN(close_listener, server);
    errno = 0;
    assert_int_equal(green_server_serve_forever(server), -1);
    assert_int_equal(errno, EBADF);
    JOIN(g);
    assert_int_equal(green_server_fd(server), -1); /* the number is not the server's now */
    /* The stop must not close the number again: it may be a new file's by now. */
    int reused = dup(0);
    assert_int_equal(green_server_stop(server, 1.0), 0);
    assert_true(fcntl(reused, F_GETFD) >= 0);
    close(reused);
    assert_int_equal(green_server_destroy(server), 0);
    assert_no_failures();
}

/* A hub shutdown without a stop kills the acceptor and the handlers (their cleanup runs,
 * their fds are closed); the server can then be destroyed, and no fd is left. */
static void test_hub_shutdown(void **state)
{
    assert_int_equal(green_hub_shutdown(), 0); /* the baseline without a hub's own fds */
    long fds = count_fds();
    in_handler = green_event_new();
    answered = cleanups = cancelled = 0;
    green_server_t *s = server_on(stubborn, NULL, NULL, model_of(state));
    assert_non_null(s);
    assert_int_equal(green_server_start(s), 0);
    int c[3];
    for (int i = 0; i < 3; i++)
        assert_true((c[i] = dial(green_server_port(s))) >= 0);
    assert_int_equal(green_event_wait(in_handler, IO_BOUND), 0);
    assert_int_equal(green_hub_shutdown(), 0);
    assert_int_equal(cancelled, 3);
    assert_int_equal(cleanups, 3);
    char b;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(read(c[i], &b, 1), 0);
        close(c[i]);
    }
    assert_int_equal(green_server_destroy(s), 0);
    assert_int_equal(green_event_destroy(in_handler), 0);
    assert_int_equal(count_fds(), fds);
    assert_no_failures();
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        HUB_TEST_MODELS(test_graceful),
        HUB_TEST_MODELS(test_timeout_then_kill),
        HUB_TEST_MODELS(test_serve_forever_and_refusals),
        HUB_TEST(test_listener_closed),
        HUB_TEST_MODELS(test_hub_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
