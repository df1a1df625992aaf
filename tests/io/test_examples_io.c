/* SPDX-License-Identifier: MIT */
/* The server examples run as programs (examples/echo_server, chat_server,
 * port_forwarder): each is started on a port the kernel picks (it prints "port N" once it
 * listens), spoken to with plain blocking sockets, and stopped with SIGTERM, after which it
 * must exit with status 0. */
#include "example_util.h"

#include <cmocka.h>

/* Start examples/NAME with up to three arguments (NULL: fewer) and read its "port N". */
static struct server_program start3(const char *name, const char *a1, const char *a2,
                                    const char *a3)
{
    char rel[64];
    snprintf(rel, sizeof rel, "examples/%s", name);
    char *argv[] = {rel, (char *)a1, (char *)a2, (char *)a3, NULL};
    struct server_program p = {.prog = program_start(argv)};
    char line[64];
    if (!program_first_line(&p.prog, line, sizeof line) || sscanf(line, "port %u", &p.port) != 1)
        fail_msg("%s did not start (printed '%s')", name, line);
    return p;
}

static struct server_program start(const char *name, const char *a1, const char *a2)
{
    return start3(name, a1, a2, NULL);
}

static struct server_program start_forwarder(const char *target_port)
{
    return start3("port_forwarder", "0", "127.0.0.1", target_port);
}

static void stop(struct server_program p) { program_stop(&p.prog); }

/* ---- echo_server ------------------------------------------------------------------------ */

/* Two clients at once, each echoed; a client still connected at SIGTERM is closed by the
 * stop (its handler is killed after the grace second) and the exit status is 0. */
static void test_echo_server(void **state)
{
    const char *model = *state ? "shared" : "private";
    struct server_program p = start("echo_server", "0", model);
    int a = dial_ok(p.port), b = dial_ok(p.port);
    for (int i = 0; i < 20; i++) {
        char line[32];
        snprintf(line, sizeof line, "line %d\n", i);
        send_text(a, line);
        send_text(b, "b");
        expect_text(a, line);
        expect_text(b, "b");
    }
    close(a);
    stop(p);
    expect_eof(b);
    close(b);
}

/* ---- chat_server ------------------------------------------------------------------------ */

/* Two clients join, guest1 first: each is welcomed, and guest1 hears guest2 join. */
static void join_two(unsigned port, int *a, int *b)
{
    *a = dial_ok(port);
    expect_text(*a, "welcome guest1\n");
    *b = dial_ok(port);
    expect_text(*b, "welcome guest2\n");
    expect_text(*a, "* guest2 joined\n");
}

/* Three clients: joins announced to those present, each line to the others only, a
 * departure announced; the clients still connected are closed by the stop. */
static void test_chat_server(void **state)
{
    (void)state;
    struct server_program p = start("chat_server", "0", NULL);
    int a, b;
    join_two(p.port, &a, &b);
    int c = dial_ok(p.port);
    expect_text(c, "welcome guest3\n");
    expect_text(a, "* guest3 joined\n");
    expect_text(b, "* guest3 joined\n");
    send_text(a, "hello from a\n");
    expect_text(b, "guest1: hello from a\n");
    expect_text(c, "guest1: hello from a\n");
    send_text(b, "one\ntwo\r\n"); /* two lines in one write; CRLF too */
    expect_text(a, "guest2: one\nguest2: two\n");
    expect_text(c, "guest2: one\nguest2: two\n");
    close(c);
    expect_text(a, "* guest3 left\n");
    expect_text(b, "* guest3 left\n");
    send_text(a, "bye\n");
    expect_text(b, "guest1: bye\n");
    stop(p);
    expect_eof(a);
    expect_eof(b);
    close(a);
    close(b);
}

/* A client that never reads is dropped once its queue is full (the others are not held
 * up): it reads what was buffered for it, then EOF, and the room hears that it left. */
static void test_chat_slow_reader(void **state)
{
    (void)state;
    enum { LINES = 20000 }; /* 20 MB: more than its socket buffers (a few MB at most) and queue */
    struct server_program p = start("chat_server", "0", NULL);
    int a, slow;
    join_two(p.port, &a, &slow);
    static char line[1001];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 2] = '\n';
    line[sizeof line - 1] = 0;
    for (int i = 0; i < LINES; i++)
        send_text(a, line);
    expect_text(a, "* guest2 left\n"); /* dropped while a was still talking */
    char buf[65536];
    long got = 0;
    ssize_t r;
    while ((r = recv(slow, buf, sizeof buf, 0)) > 0)
        got += r;
    assert_int_equal(r, 0); /* EOF, not the receive bound */
    assert_true(got < (long)LINES * (long)(sizeof line + 7));
    close(slow);
    close(a);
    stop(p);
}

/* ---- port_forwarder --------------------------------------------------------------------- */

static void forward_and_check(unsigned port)
{
    int a = dial_ok(port), b = dial_ok(port);
    static char big[200000], got[sizeof big];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    for (int i = 0; i < 10; i++) {
        send_text(a, "ping\n");
        expect_text(a, "ping\n");
    }
    /* More than the socket buffers hold, while b talks too: both pumps keep moving. */
    size_t sent = 0, have = 0;
    while (have < sizeof big) {
        if (sent < sizeof big) {
            ssize_t w = send(a, big + sent, sizeof big - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
        }
        ssize_t r = recv(a, got + have, sizeof got - have, sent < sizeof big ? MSG_DONTWAIT : 0);
        if (r == 0)
            fail_msg("EOF after %zu bytes", have);
        if (r > 0)
            have += (size_t)r;
    }
    assert_memory_equal(got, big, sizeof big);
    send_text(b, "b\n");
    expect_text(b, "b\n");
    close(a);
    close(b);
}

/* Through the forwarder to echo_server and back; a target that refuses closes the client;
 * with a client still connected at SIGTERM both programs exit with 0. */
static void test_port_forwarder(void **state)
{
    (void)state;
    struct server_program echo = start("echo_server", "0", NULL);
    char tport[16];
    snprintf(tport, sizeof tport, "%u", echo.port);
    struct server_program fwd = start_forwarder(tport);
    forward_and_check(fwd.port);
    int held = dial_ok(fwd.port);
    send_text(held, "held\n");
    expect_text(held, "held\n");
    stop(fwd);
    expect_eof(held);
    close(held);
    stop(echo);

    /* Nobody on the target port (echo_server is gone): the connection is closed. */
    fwd = start_forwarder(tport);
    int c = dial_ok(fwd.port);
    expect_eof(c);
    close(c);
    stop(fwd);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_echo_server, NULL),
        cmocka_unit_test_prestate(test_echo_server, (void *)1),
        cmocka_unit_test(test_chat_server),
        cmocka_unit_test(test_chat_slow_reader),
        cmocka_unit_test(test_port_forwarder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
