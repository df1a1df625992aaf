/* SPDX-License-Identifier: MIT */
/* Connections: listening helpers (TCP and UDP over IPv4 and IPv6, Unix paths and abstract
 * names, SO_REUSEPORT), accept and connect (waits, timeouts, refusals, kills), resolving
 * and connecting by name, EMFILE, and many concurrent connections on one thread. */
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/un.h>

#include "io_util.h"

static unsigned port_of(int fd)
{
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return 0;
    return ntohs(a.ss_family == AF_INET ? ((struct sockaddr_in *)&a)->sin_port
                                        : ((struct sockaddr_in6 *)&a)->sin6_port);
}

static int opt(int fd, int level, int name)
{
    int v = 0;
    socklen_t len = sizeof v;
    getsockopt(fd, level, name, &v, &len);
    return v;
}

static void test_listen_helpers(void **state)
{
    (void)state;
    int t4 = green_listen("127.0.0.1", 0, SOCK_STREAM, 16, 0);
    assert_true(t4 >= 0);
    assert_true(opt(t4, SOL_SOCKET, SO_REUSEADDR));
    assert_true(opt(t4, SOL_SOCKET, SO_ACCEPTCONN));
    assert_true(fcntl(t4, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(t4, F_GETFD) & FD_CLOEXEC);
    unsigned port = port_of(t4);
    assert_true(port > 0);
    /* the port is taken, unless both sides share it */
    CHECK_FAILS(green_listen("127.0.0.1", port, SOCK_STREAM, 16, 0), EADDRINUSE);
    int r1 = green_listen("127.0.0.1", 0, SOCK_STREAM, 4, GREEN_LISTEN_REUSEPORT);
    assert_true(r1 >= 0 && opt(r1, SOL_SOCKET, SO_REUSEPORT));
    int r2 = green_listen("127.0.0.1", port_of(r1), SOCK_STREAM, 4, GREEN_LISTEN_REUSEPORT);
    assert_true(r2 >= 0);
    int u4 = green_listen(NULL, 0, SOCK_DGRAM, 0, 0);
    assert_true(u4 >= 0 && !opt(u4, SOL_SOCKET, SO_ACCEPTCONN));
    int t6 = green_listen("::1", 0, SOCK_STREAM, 4, GREEN_LISTEN_V6ONLY);
    if (t6 >= 0) { /* hosts without IPv6 refuse ::1 */
        assert_true(opt(t6, IPPROTO_IPV6, IPV6_V6ONLY));
        int c = green_connect_name("::1", port_of(t6), SOCK_STREAM, 1.0);
        assert_true(c >= 0);
        close(c);
        close(t6);
    }
    CHECK_FAILS(green_listen("localhost", 0, SOCK_STREAM, 4, 0), EINVAL); /* not numeric */
    CHECK_FAILS(green_listen("127.0.0.1", 65536, SOCK_STREAM, 4, 0), EINVAL);
    CHECK_FAILS(green_listen("127.0.0.1", 0, SOCK_STREAM, -1, 0), EINVAL);
    CHECK_FAILS(green_listen("127.0.0.1", 0, SOCK_STREAM, 4, 0x100), EINVAL);
    CHECK_FAILS(green_listen_addr(NULL, 0, SOCK_STREAM, 4, 0), EINVAL);
    assert_no_failures();
    close(t4);
    close(r1);
    close(r2);
    close(u4);
}

static void test_unix(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "/tmp/green-io-%d.sock", (int)getpid());
    unlink(path);
    int l = green_listen_unix(path, SOCK_STREAM, 4, 0);
    assert_true(l >= 0);
    CHECK_FAILS(green_listen_unix(path, SOCK_STREAM, 4, 0), EADDRINUSE); /* not removed */
    int c = green_connect_unix(path, SOCK_STREAM, 1.0);
    assert_true(c >= 0);
    int s = green_accept(l, NULL, NULL, 1.0);
    assert_true(s >= 0);
    assert_int_equal(green_write_all(c, "unix", 4, 1.0, NULL), 4);
    char buf[4];
    assert_int_equal(green_read_exactly(s, buf, 4, 1.0, NULL), 4);
    assert_memory_equal(buf, "unix", 4);
    close(c);
    close(s);
    close(l);
    unlink(path);
    CHECK_FAILS(green_connect_unix(path, SOCK_STREAM, 1.0), ENOENT);
    /* the abstract namespace: no file */
    char name[64];
    snprintf(name, sizeof name, "@green-io-%d", (int)getpid());
    l = green_listen_unix(name, SOCK_SEQPACKET, 4, 0);
    assert_true(l >= 0);
    c = green_connect_unix(name, SOCK_SEQPACKET, 1.0);
    assert_true(c >= 0);
    s = green_accept(l, NULL, NULL, 1.0);
    assert_true(s >= 0);
    assert_int_equal(green_send(c, "pkt", 3, 0, 1.0), 3);
    char pkt[8];
    assert_int_equal(green_recv(s, pkt, sizeof pkt, 0, 1.0), 3);
    close(c);
    close(s);
    close(l);
    CHECK_FAILS(green_connect_unix(name, SOCK_SEQPACKET, 1.0), ECONNREFUSED);
    CHECK_FAILS(green_listen_unix("", SOCK_STREAM, 4, 0), EINVAL);
    CHECK_FAILS(green_listen_unix(NULL, SOCK_STREAM, 4, 0), EINVAL);
    char longpath[200];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = 0;
    CHECK_FAILS(green_connect_unix(longpath, SOCK_STREAM, 1.0), ENAMETOOLONG);
    assert_no_failures();
}

static int listener;

static void *acceptor(void *arg)
{
    (void)arg;
    say("A waits");
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    int fd = green_accept(listener, (struct sockaddr *)&peer, &len, GREEN_FOREVER);
    say("A accepted %s", fd >= 0 && peer.sin_family == AF_INET ? "inet" : "?");
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void *connector(void *arg)
{
    (void)arg;
    say("C connects");
    int fd = green_connect_name("127.0.0.1", port_of(listener), SOCK_STREAM, 1.0);
    say("C connected %d", fd >= 0);
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void test_accept_connect(void **state)
{
    (void)state;
    listener = green_listen("127.0.0.1", 0, SOCK_STREAM, 16, 0);
    assert_true(listener >= 0);
    green_t *a = SPAWN(acceptor, NULL);
    green_t *c = SPAWN(connector, NULL);
    assert_int_equal(green_join(a, 2.0, NULL), 0);
    assert_int_equal(green_join(c, 2.0, NULL), 0);
    green_release(a);
    green_release(c);
    assert_no_failures();
    /* A waits before C connects; whether C's loopback connect completes inside the system
     * call (no wait) or one loop iteration later depends on the kernel, so the order of
     * the last two lines does too */
    const char *o = order_text();
    assert_true(strncmp(o, "A waits\nC connects\n", 19) == 0);
    assert_non_null(strstr(o, "\nC connected 1\n"));
    assert_non_null(strstr(o, "\nA accepted inet\n"));
    CHECK_FAILS(green_accept(listener, NULL, NULL, 0.01), ETIMEDOUT);
    CHECK_FAILS(green_accept4(listener, NULL, NULL, 0, 0), ETIMEDOUT);
    /* a connect to a closed port is refused */
    unsigned port = port_of(listener);
    close(listener);
    CHECK_FAILS(green_connect_name("127.0.0.1", port, SOCK_STREAM, 1.0), ECONNREFUSED);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_FAILS(green_connect(s, (struct sockaddr *)&to, sizeof to, 1.0), ECONNREFUSED);
    close(s);
    CHECK_FAILS(green_accept(s, NULL, NULL, 1.0), EBADF);
    CHECK_FAILS(green_connect_name(NULL, 80, SOCK_STREAM, 1.0), EINVAL);
    CHECK_FAILS(green_connect_name("127.0.0.1", 70000, SOCK_STREAM, 1.0), EINVAL);
    assert_no_failures();
}

static void test_connect_timeout(void **state)
{
    (void)state;
    /* a listener whose queue is full drops further SYNs: the next connect hangs */
    int l = green_listen("127.0.0.1", 0, SOCK_STREAM, 0, 0);
    assert_true(l >= 0);
    struct sockaddr_in to;
    socklen_t len = sizeof to;
    assert_int_equal(getsockname(l, (struct sockaddr *)&to, &len), 0);
    int fds[32], n = 0, timed_out = 0;
    while (n < 32 && !timed_out) {
        fds[n] = socket(AF_INET, SOCK_STREAM, 0);
        errno = 0;
        int rc = green_connect(fds[n], (struct sockaddr *)&to, len, 0.05);
        timed_out = rc < 0 && errno == ETIMEDOUT;
        n++;
    }
    assert_true(timed_out);
    /* the same with the budget spent resolving and connecting by name */
    errno = 0;
    assert_int_equal(green_connect_name("127.0.0.1", port_of(l), SOCK_STREAM, 0.05), -1);
    assert_int_equal(errno, ETIMEDOUT);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    close(l);
}

static void *killed_acceptor(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_accept(listener, NULL, NULL, GREEN_FOREVER), ECANCELED);
    say("A killed");
    return NULL;
}

static void test_kill_accept(void **state)
{
    (void)state;
    listener = green_listen("127.0.0.1", 0, SOCK_STREAM, 4, 0);
    green_t *a = SPAWN(killed_acceptor, NULL);
    assert_int_equal(green_sleep(0), 0);
    CHECK_FAILS(green_accept(listener, NULL, NULL, 0.01), EBUSY);
    assert_int_equal(green_kill(a, 1.0), 0);
    green_release(a);
    assert_order("A killed");
    assert_no_failures();
    close(listener);
}

static void *closed_acceptor(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_accept(listener, NULL, NULL, GREEN_FOREVER), EBADF);
    say("A EBADF");
    return NULL;
}

static void test_close_under_accept(void **state)
{
    (void)state;
    listener = green_listen("127.0.0.1", 0, SOCK_STREAM, 4, 0);
    green_t *a = SPAWN(closed_acceptor, NULL);
    assert_int_equal(green_sleep(0), 0);
    say("main closes");
    assert_int_equal(green_close(listener), 0);
    assert_int_equal(green_join(a, 1.0, NULL), 0);
    green_release(a);
    assert_no_failures();
    assert_order("main closes", "A EBADF");
}

static void test_resolve(void **state)
{
    (void)state;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST};
    struct addrinfo *res = NULL;
    assert_int_equal(green_getaddrinfo("127.0.0.1", "80", &hints, &res, 5.0, NULL), 0);
    assert_non_null(res);
    assert_int_equal(res->ai_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port), 80);
    freeaddrinfo(res);
    int gai = 0;
    CHECK_FAILS(green_getaddrinfo("127.0.0.1", "no-such-service-here", &hints, &res, 5.0, &gai),
                ENOENT);
    CHECK_EQ(gai, EAI_SERVICE);
    CHECK(strstr(green_last_error(), "green_getaddrinfo") != NULL);
    hints.ai_flags = 0;
    hints.ai_family = 12345;
    CHECK_FAILS(green_getaddrinfo("127.0.0.1", "80", &hints, &res, 5.0, &gai), EINVAL);
    CHECK_FAILS(green_getaddrinfo(NULL, NULL, NULL, &res, 5.0, NULL), EINVAL);
    CHECK_FAILS(green_getaddrinfo("127.0.0.1", NULL, NULL, NULL, 5.0, NULL), EINVAL);
    /* a zero budget: a name goes to the pool, which cannot answer before the budget ends */
    CHECK_FAILS(green_getaddrinfo("localhost", "80", NULL, &res, 0, NULL), ETIMEDOUT);
    /* localhost resolves through the files of the host (no network needed) */
    int l = green_listen("127.0.0.1", 0, SOCK_STREAM, 4, 0);
    int c = green_connect_name("localhost", port_of(l), SOCK_STREAM, 5.0);
    if (c < 0) /* some hosts list localhost as ::1 only: then it is refused on IPv4 */
        CHECK_EQ(errno, ECONNREFUSED);
    else
        close(c);
    close(l);
    assert_no_failures();
}

/* ---- many connections on one thread ------------------------------------------------ */

static unsigned echo_port;
static int echoed;
static green_t **handlers;

static void *echo_handler(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[64];
    ssize_t n;
    while ((n = green_recv(fd, buf, sizeof buf, 0, 5.0)) > 0)
        CHECK_EQ(green_send_all(fd, buf, (size_t)n, MSG_NOSIGNAL, 5.0, NULL), n);
    CHECK_EQ(n, 0);
    green_close(fd);
    return NULL;
}

static void *echo_server(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++) {
        int fd = green_accept(listener, NULL, NULL, 5.0);
        if (fd < 0) {
            note_failure(__LINE__, "accept: %s", green_last_error());
            break;
        }
        handlers[i] = SPAWN(echo_handler, (intptr_t)fd);
    }
    return NULL;
}

static void *echo_client(void *arg)
{
    long id = (long)(intptr_t)arg;
    int fd = green_connect_name("127.0.0.1", echo_port, SOCK_STREAM, 5.0);
    if (fd < 0) {
        note_failure(__LINE__, "connect: %s", green_last_error());
        return NULL;
    }
    char msg[32], back[32];
    int len = snprintf(msg, sizeof msg, "client %ld", id);
    for (int round = 0; round < 3; round++) {
        CHECK_EQ(green_write_all(fd, msg, (size_t)len, 5.0, NULL), len);
        CHECK_EQ(green_read_exactly(fd, back, (size_t)len, 5.0, NULL), len);
        CHECK(memcmp(msg, back, (size_t)len) == 0);
    }
    green_close(fd);
    echoed++;
    return NULL;
}

static void test_many_connections(void **state)
{
    (void)state;
    long n = scaled(200, 20);
    listener = green_listen("127.0.0.1", 0, SOCK_STREAM, 256, 0);
    assert_true(listener >= 0);
    echo_port = port_of(listener);
    echoed = 0;
    green_t *server = SPAWN(echo_server, (intptr_t)n);
    green_t **clients = calloc((size_t)n, sizeof *clients);
    handlers = calloc((size_t)n, sizeof *handlers);
    for (long i = 0; i < n; i++)
        clients[i] = SPAWN(echo_client, (intptr_t)i);
    for (long i = 0; i < n; i++) {
        assert_int_equal(green_join(clients[i], 10.0, NULL), 0);
        green_release(clients[i]);
    }
    assert_int_equal(green_join(server, 10.0, NULL), 0);
    green_release(server);
    for (long i = 0; i < n; i++) { /* each ends at its client's end of file */
        assert_int_equal(green_join(handlers[i], 10.0, NULL), 0);
        green_release(handlers[i]);
    }
    free(clients);
    free(handlers);
    assert_no_failures();
    assert_int_equal(echoed, n);
    close(listener);
}

/* ---- EMFILE ------------------------------------------------------------------------ */

#define CHILD_CHECK(cond)                                                                 \
    do {                                                                                  \
        if (!(cond))                                                                      \
            _exit(__LINE__ & 0x7f ? __LINE__ & 0x7f : 1);                                 \
    } while (0)

static void emfile_child(void *arg)
{
    (void)arg;
    int l = green_listen("127.0.0.1", 0, SOCK_STREAM, 4, 0);
    CHILD_CHECK(l >= 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to;
    socklen_t len = sizeof to;
    CHILD_CHECK(getsockname(l, (struct sockaddr *)&to, &len) == 0);
    CHILD_CHECK(connect(c, (struct sockaddr *)&to, len) == 0);
    /* no fd left above the ones open now */
    int top = dup(0);
    close(top);
    struct rlimit lim;
    CHILD_CHECK(getrlimit(RLIMIT_NOFILE, &lim) == 0);
    lim.rlim_cur = (rlim_t)top; /* the soft limit only: valgrind refuses to lower the hard one */
    CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
    errno = 0;
    CHILD_CHECK(green_accept(l, NULL, NULL, 1.0) == -1 && errno == EMFILE);
    errno = 0;
    CHILD_CHECK(green_listen("127.0.0.1", 0, SOCK_STREAM, 4, 0) == -1 && errno == EMFILE);
    errno = 0;
    CHILD_CHECK(green_connect_unix("@nobody", SOCK_STREAM, 1.0) == -1 && errno == EMFILE);
    /* the refused connection is still queued: with an fd free, accept takes it (not under
     * valgrind, which emulates the limit by closing what the kernel accepted) */
    close(c);
    if (RUNNING_ON_VALGRIND)
        _exit(0);
    int s = green_accept(l, NULL, NULL, 1.0);
    CHILD_CHECK(s >= 0);
    _exit(0);
}

static void test_emfile(void **state)
{
    (void)state;
    char err[1024];
    int st = run_in_child(emfile_child, NULL, err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("child status %#x (a failed check's line, mod 128), stderr: %s", st, err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_listen_helpers),  HUB_TEST(test_unix),
        HUB_TEST(test_accept_connect),  HUB_TEST(test_connect_timeout),
        HUB_TEST(test_kill_accept),     HUB_TEST(test_close_under_accept),
        HUB_TEST(test_resolve),
        HUB_TEST(test_many_connections), HUB_TEST(test_emfile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
