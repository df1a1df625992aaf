/* SPDX-License-Identifier: MIT */
/* The datagram server: one handler per datagram with a copy of it and the sender's
 * address, replies with green_server_sendto() to each sender, several senders at once,
 * datagrams cut to max_datagram, a pool that stops the receiving while full, and the
 * refusals of sendto. */
#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>

#include "server_util.h"

#include <cmocka.h>

static int handled;

/* Answers each datagram upper-cased, to its sender. */
static void upper(green_server_t *s, const void *data, size_t len, const struct sockaddr *peer,
                  socklen_t peerlen, void *arg)
{
    (void)arg;
    handled++;
    char out[256];
    CHECK(len <= sizeof out);
    for (size_t i = 0; i < len && i < sizeof out; i++)
        out[i] = (char)toupper(((const unsigned char *)data)[i]);
    CHECK(peer->sa_family == AF_INET && peerlen == sizeof(struct sockaddr_in));
    CHECK_EQ(green_server_sendto(s, out, len, peer, peerlen, IO_BOUND), (ssize_t)len);
}

static green_server_t *dgram_on(green_dgram_fn fn, green_server_opts_t *o, int model)
{
    green_server_opts_t d = GREEN_SERVER_OPTS_INIT;
    if (!o)
        o = &d;
    o->handler_attr.stack_model = model;
    green_server_t *s = green_server_new_dgram("127.0.0.1", 0, fn, NULL, o);
    if (!s)
        note_failure(__LINE__, "green_server_new_dgram: %s", green_last_error());
    return s;
}

static struct sockaddr_in server_addr;

/* A UDP client: sends "client I msg K" a few times, each answered upper-cased to it. */
static void *client(void *arg)
{
    int i = INT(arg);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    for (int k = 0; k < 5; k++) {
        char msg[64], want[64], got[64];
        int len = snprintf(msg, sizeof msg, "client %d msg %d", i, k);
        for (int j = 0; j <= len; j++)
            want[j] = (char)toupper((unsigned char)msg[j]);
        CHECK_EQ(green_sendto(fd, msg, (size_t)len, 0, (struct sockaddr *)&server_addr,
                              sizeof server_addr, IO_BOUND),
                 len);
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        CHECK_EQ(green_recvfrom(fd, got, sizeof got, 0, (struct sockaddr *)&from, &fl, IO_BOUND),
                 len);
        CHECK(memcmp(got, want, (size_t)len) == 0);
        CHECK(from.sin_port == server_addr.sin_port); /* from the server's own socket */
    }
    close(fd);
    return NULL;
}

/* Eight clients at once, five datagrams each, every one answered to its sender. */
static void test_upper(void **state)
{
    enum { N = 8 };
    handled = 0;
    green_server_t *s = dgram_on(upper, NULL, model_of(state));
    assert_non_null(s);
    socklen_t len = sizeof server_addr;
    assert_int_equal(green_server_address(s, (struct sockaddr *)&server_addr, &len), 0);
    assert_int_equal(ntohs(server_addr.sin_port), green_server_port(s));
    assert_int_equal(green_server_start(s), 0);
    green_t *g[N];
    for (int i = 0; i < N; i++)
        g[i] = SPAWN_MODEL(client, (intptr_t)i, model_of(state));
    JOIN_ALL(g, N);
    assert_int_equal(green_server_stop(s, IO_BOUND), 0);
    assert_no_failures();
    assert_int_equal(handled, N * 5);
    green_server_stats_t st = stats_of(s);
    assert_int_equal(st.accepted, N * 5);
    assert_int_equal(st.active, 0);
    assert_int_equal(st.dropped, 0);
    errno = 0;
    assert_int_equal(
        green_server_sendto(s, "x", 1, (struct sockaddr *)&server_addr, sizeof server_addr, 1.0),
        -1);
    assert_int_equal(errno, EBADF); /* stopped */
    assert_int_equal(green_server_destroy(s), 0);
}

/* ---- sizes and the pool ----------------------------------------------------------------- */

static size_t sizes[16];
static green_event_t *release_handlers, *all_in;
static int wanted;

static void record(green_server_t *s, const void *data, size_t len, const struct sockaddr *peer,
                   socklen_t peerlen, void *arg)
{
    (void)s, (void)data, (void)peer, (void)peerlen, (void)arg;
    if (handled < 16)
        sizes[handled] = len;
    if (++handled == wanted)
        green_event_set(all_in);
    if (release_handlers)
        CHECK_EQ(green_event_wait(release_handlers, IO_BOUND), 0);
}

static int udp_to(green_server_t *s)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    socklen_t len = sizeof server_addr;
    green_server_address(s, (struct sockaddr *)&server_addr, &len);
    assert_int_equal(connect(fd, (struct sockaddr *)&server_addr, len), 0);
    return fd;
}

/* A datagram longer than max_datagram is cut to it; an empty one is a datagram too. */
static void test_sizes(void **state)
{
    green_server_opts_t o = GREEN_SERVER_OPTS_INIT;
    o.max_datagram = 8;
    handled = 0;
    wanted = 3;
    release_handlers = NULL;
    all_in = green_event_new();
    green_server_t *s = dgram_on(record, &o, model_of(state));
    assert_non_null(s);
    assert_int_equal(green_server_start(s), 0);
    int fd = udp_to(s);
    assert_int_equal(send(fd, "0123456789abcdef", 16, 0), 16);
    assert_int_equal(send(fd, "", 0, 0), 0);
    assert_int_equal(send(fd, "abc", 3, 0), 3);
    assert_int_equal(green_event_wait(all_in, IO_BOUND), 0);
    assert_int_equal(sizes[0], 8);
    assert_int_equal(sizes[1], 0);
    assert_int_equal(sizes[2], 3);
    close(fd);
    assert_int_equal(green_server_stop(s, IO_BOUND), 0);
    assert_int_equal(green_server_destroy(s), 0);
    assert_int_equal(green_event_destroy(all_in), 0);
    assert_no_failures();
}

/* Pool of 1: one handler at a time; the other datagrams wait in the socket until it ends. */
static void test_pool(void **state)
{
    green_server_opts_t o = GREEN_SERVER_OPTS_INIT;
    o.pool_size = 1;
    handled = 0;
    wanted = 1;
    release_handlers = green_event_new();
    all_in = green_event_new();
    green_server_t *s = dgram_on(record, &o, model_of(state));
    assert_non_null(s);
    assert_int_equal(green_server_start(s), 0);
    int fd = udp_to(s);
    for (int i = 0; i < 3; i++)
        assert_int_equal(send(fd, "d", 1, 0), 1);
    assert_int_equal(green_event_wait(all_in, IO_BOUND), 0);
    green_server_stats_t st = stats_of(s);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.active, 1);
    assert_int_equal(st.pool_waits, 1);
    green_event_clear(all_in);
    wanted = 3;
    assert_int_equal(green_event_set(release_handlers), 0);
    assert_int_equal(green_event_wait(all_in, IO_BOUND), 0);
    assert_int_equal(stats_of(s).accepted, 3);
    close(fd);
    assert_int_equal(green_server_stop(s, IO_BOUND), 0);
    assert_int_equal(green_server_destroy(s), 0);
    assert_int_equal(green_event_destroy(all_in), 0);
    assert_int_equal(green_event_destroy(release_handlers), 0);
    release_handlers = NULL;
    assert_no_failures();
}

static void test_refusals(void **state)
{
    (void)state;
    errno = 0;
    assert_null(green_server_new_dgram("127.0.0.1", 0, NULL, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    green_server_t *s = green_server_new_dgram("127.0.0.1", 0, upper, NULL, NULL);
    assert_non_null(s);
    assert_int_equal(green_server_sendto(s, NULL, 1, NULL, 0, 1.0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_server_sendto(s, "x", 1, NULL, 0, NAN), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_server_sendto(NULL, "x", 1, NULL, 0, 1.0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_server_destroy(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST_MODELS(test_upper),
        HUB_TEST_MODELS(test_sizes),
        HUB_TEST_MODELS(test_pool),
        HUB_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
