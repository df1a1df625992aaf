/* SPDX-License-Identifier: MIT */
/* N worker threads, each with its own hub and server, on one SO_REUSEPORT port: every
 * worker listens on the port the kernel picked for the first; connections made from the
 * test's thread are spread over them (each worker accepts some of 64: the kernel hashes
 * each connection's ports, so all on one worker has a chance of 2^-63 with two); the stop
 * ends each worker on its own thread, kills a handler that would not end, and returns every
 * worker's counters; a failing setup stops the workers already started. */
#include <arpa/inet.h>
#include <pthread.h>

#include "server_util.h"

#include <cmocka.h>

static void echo(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    (void)peer, (void)peerlen, (void)arg;
    char buf[64];
    ssize_t n;
    while ((n = green_read(fd, buf, sizeof buf, GREEN_FOREVER)) > 0)
        if (green_write_all(fd, buf, (size_t)n, GREEN_FOREVER, NULL) < 0)
            break;
}

static green_server_t *setup(unsigned index, unsigned port, void *arg)
{
    (void)arg;
    green_server_opts_t o = GREEN_SERVER_OPTS_INIT;
    o.flags = GREEN_SERVER_REUSEPORT;
    o.handler_attr.stack_model = index % 2 ? GREEN_STACK_SHARED : GREEN_STACK_PRIVATE;
    return green_server_new("127.0.0.1", port, echo, NULL, &o);
}

static int blocking_dial(unsigned port)
{
    int s = dial_blocking(port);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
}

static void test_spread(void **state)
{
    (void)state;
    enum { WORKERS = 2, N = 64 };
    green_workers_t *w = green_workers_start(WORKERS, setup, NULL);
    assert_non_null(w);
    unsigned port = green_workers_port(w);
    assert_true(port > 0);
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = blocking_dial(port);
        assert_true(c[i] >= 0);
        char b = (char)('a' + i % 26), got = 0;
        assert_int_equal(send(c[i], &b, 1, 0), 1);
        assert_int_equal(recv(c[i], &got, 1, 0), 1);
        assert_int_equal(got, b);
    }
    /* The last one stays open through the stop: its handler is killed after 50 ms. */
    for (int i = 0; i < N - 1; i++)
        close(c[i]);
    green_server_stats_t st[WORKERS];
    int killed = green_workers_stop(w, 0.05, st);
    char b;
    assert_int_equal(recv(c[N - 1], &b, 1, 0), 0);
    close(c[N - 1]);
    uint64_t total = 0;
    for (int i = 0; i < WORKERS; i++) {
        assert_true(st[i].accepted >= 1);
        assert_int_equal(st[i].active, 0);
        total += st[i].accepted;
    }
    assert_int_equal(total, N);
    /* The clients closed before the stop may not have been read to EOF yet either. */
    assert_true(killed >= 1 && killed <= N);
    assert_int_equal(st[0].killed + st[1].killed, killed);
}

static int shared_count; /* handlers of every worker bump it: arg is shared */
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void counted_echo(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    pthread_mutex_lock(&count_lock);
    (*(int *)arg)++;
    pthread_mutex_unlock(&count_lock);
    echo(fd, peer, peerlen, NULL);
}

/* The stream server's option: three workers made from one set of server arguments, a
 * pool size per worker; every connection served, the shared arg counted by all. */
static void test_start_server(void **state)
{
    (void)state;
    enum { WORKERS = 3, N = 48 };
    green_server_opts_t o = GREEN_SERVER_OPTS_INIT;
    o.pool_size = 8;
    o.handler_attr.stack_model = GREEN_STACK_SHARED;
    shared_count = 0;
    green_workers_t *w =
        green_workers_start_server(WORKERS, "127.0.0.1", 0, counted_echo, &shared_count, &o);
    assert_non_null(w);
    for (int i = 0; i < N; i++) {
        int c = blocking_dial(green_workers_port(w));
        assert_true(c >= 0);
        char got = 0;
        assert_int_equal(send(c, "z", 1, 0), 1);
        assert_int_equal(recv(c, &got, 1, 0), 1);
        assert_int_equal(got, 'z');
        close(c);
    }
    green_server_stats_t st[WORKERS];
    assert_true(green_workers_stop(w, 5.0, st) >= 0);
    uint64_t total = 0;
    int busy = 0;
    for (int i = 0; i < WORKERS; i++) {
        total += st[i].accepted;
        busy += st[i].accepted > 0;
    }
    assert_int_equal(total, N);
    assert_true(busy >= 2); /* all 48 on one of three: a chance of 3^-47 */
    assert_int_equal(shared_count, N);

    green_group_t *pool = green_pool_new(2);
    o.pool = pool;
    o.pool_size = 0;
    errno = 0;
    assert_null(green_workers_start_server(2, "127.0.0.1", 0, counted_echo, NULL, &o));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_group_destroy(pool), 0);
    assert_int_equal(green_hub_shutdown(), 0);
}

static green_server_t *setup_fails_second(unsigned index, unsigned port, void *arg)
{
    if (index == 1) {
        errno = EADDRNOTAVAIL;
        return NULL;
    }
    return setup(index, port, arg);
}

static void test_setup_fails(void **state)
{
    (void)state;
    errno = 0;
    assert_null(green_workers_start(3, setup_fails_second, NULL));
    assert_int_equal(errno, EADDRNOTAVAIL);
    assert_null(green_workers_start(0, setup, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(green_workers_start(1, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_workers_stop(NULL, 1.0, NULL), -1);
    assert_int_equal(errno, EINVAL);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_setup_fails),
        cmocka_unit_test(test_start_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
