/* SPDX-License-Identifier: MIT */
/* A stream server whose clients leave at random points — before sending, mid-request,
 * mid-response with a FIN or an RST, or after the whole answer — 16 at a time: every
 * handler ends on its own (the stop kills nothing), the server counts every connection,
 * and the process's fds are back to what they were before the server existed.  The seed
 * is fixed per stack model, so a failure can be replayed. */
#include "io_util.h"
#include "server_util.h"

#include <cmocka.h>

#define BODY (256 * 1024) /* larger than the socket buffers: the answer takes several writes */

static char *body;
static int served;

/* Reads a request line, answers BODY bytes, then waits for the client to leave. */
static void answer(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    (void)peer, (void)peerlen, (void)arg;
    char line[64];
    size_t have = 0;
    while (have < sizeof line) {
        ssize_t n = green_read(fd, line + have, 1, IO_BOUND);
        if (n <= 0)
            return; /* gone before its request was complete */
        if (line[have++] == '\n')
            break;
    }
    if (green_send_all(fd, body, BODY, MSG_NOSIGNAL, IO_BOUND, NULL) < 0) {
        CHECK(errno == EPIPE || errno == ECONNRESET);
        return;
    }
    served++;
    char c;
    while (green_read(fd, &c, 1, IO_BOUND) > 0) {
    }
}

enum leave { BEFORE, MID_REQUEST, MID_RESPONSE_FIN, MID_RESPONSE_RST, AFTER, LEAVE_KINDS };

static unsigned port;
static int completed;

static void *client(void *arg)
{
    enum leave how = (enum leave)INT(arg);
    int fd = dial(port);
    CHECK(fd >= 0);
    if (fd < 0)
        return NULL;
    if (how == MID_REQUEST)
        CHECK_EQ(green_write_all(fd, "GET", 3, IO_BOUND, NULL), 3);
    if (how >= MID_RESPONSE_FIN) {
        CHECK_EQ(green_write_all(fd, "GET\n", 4, IO_BOUND, NULL), 4);
        char *sink = malloc(BODY); /* on the heap: the client may run on a shared stack */
        size_t want = how == AFTER ? BODY : 1000, got = 0;
        CHECK(sink != NULL);
        CHECK_EQ(green_read_exactly(fd, sink, want, IO_BOUND, &got), (ssize_t)want);
        if (how == AFTER && memcmp(sink, body, BODY) == 0)
            completed++;
        free(sink);
    }
    if (how == MID_RESPONSE_RST)
        close_reset(fd);
    else
        close(fd);
    return NULL;
}

static void test_random_disconnects(void **state)
{
    int model = model_of(state);
    uint64_t seed = 0x5e7e5eedu + (uint64_t)model;
    long n = scaled(300, 40);
    body = malloc(BODY);
    assert_non_null(body);
    for (size_t i = 0; i < BODY; i++)
        body[i] = (char)('a' + i % 26);
    served = completed = 0;
    long baseline = count_fds();

    green_server_t *s = server_on(answer, NULL, NULL, model);
    assert_non_null(s);
    port = green_server_port(s);
    assert_int_equal(green_server_start(s), 0);
    green_group_t *clients = green_pool_new(16);
    int afters = 0, responses = 0;
    for (long i = 0; i < n; i++) {
        enum leave how = (enum leave)(splitmix64(&seed) % LEAVE_KINDS);
        afters += how == AFTER;
        responses += how >= MID_RESPONSE_FIN;
        green_attr_t a = GREEN_ATTR_INIT;
        a.stack_model = model;
        green_t *g = green_group_spawn(clients, client, ITEM(how), &a, GREEN_FOREVER);
        assert_non_null(g);
        green_release(g);
    }
    assert_int_equal(green_group_join(clients, GREEN_FOREVER), 0);
    assert_int_equal(green_group_destroy(clients), 0);
    assert_int_equal(green_server_stop(s, IO_BOUND), 0); /* every handler ended on its own */
    assert_no_failures();
    green_server_stats_t st = stats_of(s);
    assert_int_equal(st.accepted, n);
    assert_int_equal(st.killed, 0);
    assert_int_equal(st.active, 0);
    assert_int_equal(completed, afters);
    /* Those that left mid-response may still have been sent everything (buffers). */
    assert_true(served >= afters && served <= responses);
    assert_int_equal(green_server_destroy(s), 0);
    assert_int_equal(count_fds(), baseline);
    free(body);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        HUB_TEST_MODELS(test_random_disconnects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
