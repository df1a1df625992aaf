/* SPDX-License-Identifier: MIT */
/* The stream server (include/green/server.h): a handler greenlet per connection with the
 * peer's address, the connection closed when the handler returns (or exits, or is killed
 * unstarted), kept open with GREEN_SERVER_KEEP_FD, Unix and caller-made listeners, the
 * counters, serve_forever, and the refusals. */
#include <arpa/inet.h>
#include <math.h>
#include <sys/un.h>

#include "server_util.h"

#include <cmocka.h>

/* ---- an echo handler: lines back until EOF ---------------------------------------------- */

static int handlers_ran;
static unsigned peer_ports[64];

static void echo(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    (void)arg;
    CHECK(peerlen == sizeof(struct sockaddr_in) && peer->sa_family == AF_INET);
    if (handlers_ran < 64)
        peer_ports[handlers_ran] = ntohs(((const struct sockaddr_in *)peer)->sin_port);
    handlers_ran++;
    char buf[256];
    ssize_t n;
    while ((n = green_read(fd, buf, sizeof buf, IO_BOUND)) > 0)
        CHECK_EQ(green_write_all(fd, buf, (size_t)n, IO_BOUND, NULL), n);
    CHECK_EQ(n, 0);
}

static unsigned port;

/* A client: sends its number a few times, checks each echo, and records its own port. */
static void *client(void *arg)
{
    int i = INT(arg);
    int fd = dial(port);
    CHECK(fd >= 0);
    if (fd < 0)
        return NULL;
    char msg[32], got[32];
    int len = snprintf(msg, sizeof msg, "client %d\n", i);
    for (int k = 0; k < 3; k++) {
        CHECK_EQ(green_write_all(fd, msg, (size_t)len, IO_BOUND, NULL), len);
        CHECK_EQ(green_read_exactly(fd, got, (size_t)len, IO_BOUND, NULL), len);
        CHECK(memcmp(msg, got, (size_t)len) == 0);
    }
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    CHECK_EQ(getsockname(fd, (struct sockaddr *)&me, &ml), 0);
    close(fd);
    return ITEM(ntohs(me.sin_port));
}

/* N clients at once, each echoed by its own handler; every handler saw its client's port;
 * the stop finds nothing to kill; the counters agree. */
static void test_echo(void **state)
{
    enum { N = 16 };
    handlers_ran = 0;
    green_server_t *s = server_on(echo, NULL, NULL, model_of(state));
    assert_non_null(s);
    port = green_server_port(s);
    assert_true(port > 0);
    assert_int_equal(green_server_start(s), 0);
    green_t *g[N];
    unsigned mine[N];
    for (int i = 0; i < N; i++)
        g[i] = SPAWN_MODEL(client, (intptr_t)i, model_of(state));
    for (int i = 0; i < N; i++) {
        void *r = NULL;
        assert_int_equal(green_join(g[i], GREEN_FOREVER, &r), 0);
        mine[i] = (unsigned)INT(r);
        green_release(g[i]);
    }
    assert_int_equal(green_server_stop(s, IO_BOUND), 0);
    assert_no_failures();
    assert_int_equal(handlers_ran, N);
    for (int i = 0; i < N; i++) {
        bool seen = false;
        for (int j = 0; j < N; j++)
            seen |= peer_ports[j] == mine[i];
        assert_true(seen);
    }
    green_server_stats_t st = stats_of(s);
    assert_int_equal(st.accepted, N);
    assert_int_equal(st.active, 0);
    assert_int_equal(st.killed, 0);
    assert_int_equal(st.dropped, 0);
    assert_true(st.wakeups >= 1 && st.wakeups <= N);
    assert_true(st.largest_batch >= 1);
    assert_int_equal(green_server_fd(s), -1);
    assert_int_equal(green_server_destroy(s), 0);
}

/* ---- closing when the handler ends ------------------------------------------------------ */

static int kept_fd = -1;

static void say_bye(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    (void)peer, (void)peerlen;
    CHECK_EQ(green_write_all(fd, "bye", 3, IO_BOUND, NULL), 3);
    kept_fd = fd;
    if (arg) /* ends by green_exit: the close must happen all the same */
        green_exit(7, NULL);
}

/* The handler returns (or exits) without closing: the client reads its bytes, then EOF. */
static void check_closed_after(void **state, bool exits)
{
    green_server_t *s = server_on(say_bye, exits ? ITEM(1) : NULL, NULL, model_of(state));
    assert_non_null(s);
    assert_int_equal(green_server_start(s), 0);
    int fd = dial(green_server_port(s));
    assert_true(fd >= 0);
    char buf[8];
    assert_int_equal(green_read_exactly(fd, buf, 3, IO_BOUND, NULL), 3);
    assert_memory_equal(buf, "bye", 3);
    assert_int_equal(green_read(fd, buf, sizeof buf, IO_BOUND), 0); /* EOF: the server closed */
    close(fd);
    assert_int_equal(green_server_stop(s, IO_BOUND), 0);
    assert_int_equal(stats_of(s).failed, exits); /* counted, not reported by the hub */
    assert_int_equal(green_server_destroy(s), 0);
    assert_no_failures();
}

static void test_close_on_return(void **state) { check_closed_after(state, false); }
static void test_close_on_exit(void **state) { check_closed_after(state, true); }

/* GREEN_SERVER_KEEP_FD: after the handler has returned, its fd still talks to the client
 * and is the test's to close. */
static void test_keep_fd(void **state)
{
    green_server_opts_t o = GREEN_SERVER_OPTS_INIT;
    o.flags = GREEN_SERVER_KEEP_FD;
    kept_fd = -1;
    green_server_t *s = server_on(say_bye, NULL, &o, model_of(state));
    assert_non_null(s);
    assert_int_equal(green_server_start(s), 0);
    int fd = dial(green_server_port(s));
    assert_true(fd >= 0);
    char buf[8];
    assert_int_equal(green_read_exactly(fd, buf, 3, IO_BOUND, NULL), 3);
    /* The handler has written and returned once the server has no handler left. */
    assert_int_equal(green_server_stop(s, IO_BOUND), 0);
    assert_int_equal(stats_of(s).active, 0);
    assert_true(kept_fd >= 0);
    assert_int_equal(green_write_all(kept_fd, "still", 5, IO_BOUND, NULL), 5);
    assert_int_equal(green_read_exactly(fd, buf, 5, IO_BOUND, NULL), 5);
    assert_memory_equal(buf, "still", 5);
    assert_int_equal(green_close(kept_fd), 0);
    assert_int_equal(green_read(fd, buf, sizeof buf, IO_BOUND), 0);
    close(fd);
    assert_int_equal(green_server_destroy(s), 0);
    assert_no_failures();
}

/* ---- other listeners -------------------------------------------------------------------- */

static void unix_echo(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    (void)arg;
    CHECK(peer->sa_family == AF_UNIX);
    CHECK(peerlen >= sizeof(sa_family_t));
    char c;
    while (green_read(fd, &c, 1, IO_BOUND) == 1)
        green_write(fd, &c, 1, IO_BOUND);
}

static void talk(int fd)
{
    char c = 0;
    assert_true(fd >= 0);
    assert_int_equal(green_write(fd, "u", 1, IO_BOUND), 1);
    assert_int_equal(green_read(fd, &c, 1, IO_BOUND), 1);
    assert_int_equal(c, 'u');
    close(fd);
}

/* A Unix (abstract) server, and a server on a listener the caller made. */
static void test_unix_and_fd(void **state)
{
    green_server_opts_t o = GREEN_SERVER_OPTS_INIT;
    o.handler_attr.stack_model = model_of(state);
    char path[64];
    snprintf(path, sizeof path, "@green-test-server-%d", (int)getpid());
    green_server_t *s = green_server_new_unix(path, unix_echo, NULL, &o);
    assert_non_null(s);
    assert_int_equal(green_server_port(s), 0);
    struct sockaddr_un a;
    socklen_t len = sizeof a;
    assert_int_equal(green_server_address(s, (struct sockaddr *)&a, &len), 0);
    assert_int_equal(a.sun_family, AF_UNIX);
    assert_int_equal(green_server_start(s), 0);
    talk(green_connect_unix(path, SOCK_STREAM, IO_BOUND));
    assert_int_equal(green_server_stop(s, IO_BOUND), 0);
    assert_int_equal(green_server_destroy(s), 0);

    int l = green_listen("127.0.0.1", 0, SOCK_STREAM, 8, 0);
    assert_true(l >= 0);
    s = green_server_new_fd(l, echo, NULL, &o);
    assert_non_null(s);
    assert_int_equal(green_server_fd(s), l);
    struct sockaddr_in in;
    len = sizeof in;
    assert_int_equal(green_server_address(s, (struct sockaddr *)&in, &len), 0);
    assert_int_equal(ntohs(in.sin_port), green_server_port(s));
    assert_int_equal(green_server_start(s), 0);
    talk(dial(green_server_port(s)));
    assert_int_equal(green_server_stop(s, IO_BOUND), 0);
    assert_int_equal(fcntl(l, F_GETFD), -1); /* the server closed the caller's listener */
    assert_int_equal(green_server_destroy(s), 0);
    assert_no_failures();
}

/* An IPv6 server on ::1 (skipped where the host has no IPv6 loopback): the peer address
 * the handler gets is an IPv6 one. */
static int v6_peers;

static void v6_echo(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    (void)arg;
    v6_peers += peer->sa_family == AF_INET6 && peerlen == sizeof(struct sockaddr_in6);
    char c;
    while (green_read(fd, &c, 1, IO_BOUND) == 1)
        green_write(fd, &c, 1, IO_BOUND);
}

static void test_ipv6(void **state)
{
    green_server_opts_t o = GREEN_SERVER_OPTS_INIT;
    o.handler_attr.stack_model = model_of(state);
    o.backlog = 4;
    v6_peers = 0;
    green_server_t *s = green_server_new("::1", 0, v6_echo, NULL, &o);
    if (!s && (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT))
        skip();
    assert_non_null(s);
    assert_true(green_server_port(s) > 0);
    assert_int_equal(green_server_start(s), 0);
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                             .sin6_port = htons((uint16_t)green_server_port(s)),
                             .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    assert_int_equal(green_connect(fd, (struct sockaddr *)&a, sizeof a, IO_BOUND), 0);
    talk(fd);
    assert_int_equal(green_server_stop(s, IO_BOUND), 0);
    assert_int_equal(green_server_destroy(s), 0);
    assert_int_equal(v6_peers, 1);
    assert_no_failures();
}

/* ---- serve_forever ---------------------------------------------------------------------- */

static void *stop_later(void *arg)
{
    green_server_t *s = arg;
    port = green_server_port(s);
    green_t *c = SPAWN(client, (intptr_t)1);
    JOIN(c);
    CHECK_EQ(green_server_stop(s, IO_BOUND), 0);
    return NULL;
}

/* serve_forever starts the server and returns 0 once another greenlet has stopped it. */
static void test_serve_forever(void **state)
{
    handlers_ran = 0;
    green_server_t *s = server_on(echo, NULL, NULL, model_of(state));
    assert_non_null(s);
    green_t *g = SPAWN(stop_later, s);
    assert_int_equal(green_server_serve_forever(s), 0);
    JOIN(g);
    assert_int_equal(handlers_ran, 1);
    assert_int_equal(green_server_serve_forever(s), 0); /* stopped: returns at once */
    assert_int_equal(green_server_destroy(s), 0);
    assert_no_failures();
}

/* ---- refusals --------------------------------------------------------------------------- */

static void test_refusals(void **state)
{
    (void)state;
    green_server_opts_t o = GREEN_SERVER_OPTS_INIT;
    errno = 0;
    assert_null(green_server_new("127.0.0.1", 0, NULL, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    o.backlog = -1;
    assert_null(green_server_new("127.0.0.1", 0, echo, NULL, &o));
    assert_int_equal(errno, EINVAL);
    o = (green_server_opts_t)GREEN_SERVER_OPTS_INIT;
    o.flags = 0x100;
    assert_null(green_server_new("127.0.0.1", 0, echo, NULL, &o));
    assert_int_equal(errno, EINVAL);
    o = (green_server_opts_t)GREEN_SERVER_OPTS_INIT;
    o.backoff = -1;
    assert_null(green_server_new("127.0.0.1", 0, echo, NULL, &o));
    assert_int_equal(errno, EINVAL);
    green_group_t *pool = green_pool_new(2);
    o = (green_server_opts_t)GREEN_SERVER_OPTS_INIT;
    o.pool = pool;
    o.pool_size = 2;
    assert_null(green_server_new("127.0.0.1", 0, echo, NULL, &o));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_destroy(pool), 0);
    assert_null(green_server_new("not-an-address", 0, echo, NULL, NULL));
    assert_int_equal(errno, EINVAL);

    long fds = count_fds();
    int sock = socket(AF_INET, SOCK_STREAM, 0); /* not listening: refused, and closed */
    assert_null(green_server_new_fd(sock, echo, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(count_fds(), fds);
    assert_null(green_server_new_fd(-1, echo, NULL, NULL));
    assert_int_equal(errno, EBADF);

    green_server_t *s = green_server_new("127.0.0.1", 0, echo, NULL, NULL);
    assert_non_null(s);
    /* Taken: a second server on the same port without SO_REUSEPORT. */
    assert_null(green_server_new("127.0.0.1", green_server_port(s), echo, NULL, NULL));
    assert_int_equal(errno, EADDRINUSE);
    assert_int_equal(green_server_sendto(s, "x", 1, NULL, 0, 1.0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_server_start(s), 0);
    assert_int_equal(green_server_start(s), -1);
    assert_int_equal(errno, EALREADY);
    assert_int_equal(green_server_destroy(s), -1);
    assert_int_equal(errno, EBUSY);
    assert_int_equal(green_server_stop(s, NAN), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_server_stop(s, IO_BOUND), 0);
    assert_int_equal(green_server_stop(s, IO_BOUND), 0); /* stopped already */
    assert_int_equal(green_server_start(s), -1);
    assert_int_equal(errno, EBADF);
    assert_int_equal(green_server_destroy(s), 0);

    s = green_server_new("127.0.0.1", 0, echo, NULL, NULL); /* never started */
    assert_non_null(s);
    assert_int_equal(green_server_stop(s, 0), 0);
    assert_int_equal(green_server_destroy(s), 0);
    s = green_server_new("127.0.0.1", 0, echo, NULL, NULL);
    assert_int_equal(green_server_destroy(s), 0); /* closes the listener */
    assert_int_equal(count_fds(), fds);
    assert_int_equal(green_server_destroy(NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_server_stats(NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        HUB_TEST_MODELS(test_echo),          HUB_TEST_MODELS(test_close_on_return),
        HUB_TEST_MODELS(test_close_on_exit), HUB_TEST_MODELS(test_keep_fd),
        HUB_TEST_MODELS(test_unix_and_fd),   HUB_TEST_MODELS(test_ipv6),
        HUB_TEST_MODELS(test_serve_forever), HUB_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
