/* SPDX-License-Identifier: MIT */
/* The server examples run as programs (examples/echo_server, chat_server,
 * port_forwarder): each is started on a port the kernel picks (it prints "port N" once it
 * listens), spoken to with plain blocking sockets, and stopped with SIGTERM, after which it
 * must exit with status 0. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "testutil.h"

#include <cmocka.h>

#define IO_SECONDS 10 /* a bound on every read, so a broken example fails instead of hanging */

struct prog {
    pid_t pid;
    unsigned port;
};

/* Start examples/NAME with up to three arguments (NULL: fewer) and read its "port N". */
static struct prog start3(const char *name, const char *a1, const char *a2, const char *a3)
{
    char path[1024], rel[64];
    snprintf(rel, sizeof rel, "examples/%s", name);
    build_path(path, sizeof path, rel);
    int out[2];
    assert_int_equal(pipe(out), 0);
    fflush(NULL);
    struct prog p = {.pid = fork()};
    assert_true(p.pid >= 0);
    if (p.pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        const char *wrapper = getenv("MESON_EXE_WRAPPER"); /* qemu-user in a cross build */
        if (wrapper && *wrapper) {
            char cmd[1400];
            snprintf(cmd, sizeof cmd, "exec %s %s %s %s %s", wrapper, path, a1 ? a1 : "",
                     a2 ? a2 : "", a3 ? a3 : "");
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        } else {
            execl(path, path, a1, a2, a3, (char *)NULL);
        }
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[64] = "";
    bool up = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!up || sscanf(line, "port %u", &p.port) != 1)
        fail_msg("%s did not start (printed '%s')", name, line);
    return p;
}

static struct prog start(const char *name, const char *a1, const char *a2)
{
    return start3(name, a1, a2, NULL);
}

static struct prog start_forwarder(const char *target_port)
{
    return start3("port_forwarder", "0", "127.0.0.1", target_port);
}

/* SIGTERM: the program must exit with status 0. */
static void stop(struct prog p)
{
    int status;
    assert_int_equal(kill(p.pid, SIGTERM), 0);
    assert_int_equal(waitpid(p.pid, &status, 0), p.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int dial(unsigned port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct timeval tv = {.tv_sec = IO_SECONDS};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof a), 0);
    return s;
}

static void send_text(int s, const char *p)
{
    size_t n = strlen(p);
    while (n) {
        ssize_t w = send(s, p, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* Reads exactly strlen(want) bytes (fails on EOF or the bound) and compares. */
static void expect(int s, const char *want)
{
    char got[4096];
    size_t n = strlen(want), have = 0;
    assert_true(n < sizeof got);
    while (have < n) {
        ssize_t r = recv(s, got + have, n - have, 0);
        if (r <= 0)
            fail_msg("after %zu of %zu bytes: %s", have, n, r ? strerror(errno) : "EOF");
        have += (size_t)r;
    }
    got[n] = 0;
    assert_string_equal(got, want);
}

static void expect_eof(int s)
{
    char c;
    assert_int_equal(recv(s, &c, 1, 0), 0);
}

/* ---- echo_server ------------------------------------------------------------------------ */

/* Two clients at once, each echoed; a client still connected at SIGTERM is closed by the
 * stop (its handler is killed after the grace second) and the exit status is 0. */
static void test_echo_server(void **state)
{
    const char *model = *state ? "shared" : "private";
    struct prog p = start("echo_server", "0", model);
    int a = dial(p.port), b = dial(p.port);
    for (int i = 0; i < 20; i++) {
        char line[32];
        snprintf(line, sizeof line, "line %d\n", i);
        send_text(a, line);
        send_text(b, "b");
        expect(a, line);
        expect(b, "b");
    }
    close(a);
    stop(p);
    expect_eof(b);
    close(b);
}

/* ---- chat_server ------------------------------------------------------------------------ */

/* Three clients: joins announced to those present, each line to the others only, a
 * departure announced; the clients still connected are closed by the stop. */
static void test_chat_server(void **state)
{
    (void)state;
    struct prog p = start("chat_server", "0", NULL);
    int a = dial(p.port);
    expect(a, "welcome guest1\n");
    int b = dial(p.port);
    expect(b, "welcome guest2\n");
    expect(a, "* guest2 joined\n");
    int c = dial(p.port);
    expect(c, "welcome guest3\n");
    expect(a, "* guest3 joined\n");
    expect(b, "* guest3 joined\n");
    send_text(a, "hello from a\n");
    expect(b, "guest1: hello from a\n");
    expect(c, "guest1: hello from a\n");
    send_text(b, "one\ntwo\r\n"); /* two lines in one write; CRLF too */
    expect(a, "guest2: one\nguest2: two\n");
    expect(c, "guest2: one\nguest2: two\n");
    close(c);
    expect(a, "* guest3 left\n");
    expect(b, "* guest3 left\n");
    send_text(a, "bye\n");
    expect(b, "guest1: bye\n");
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
    struct prog p = start("chat_server", "0", NULL);
    int a = dial(p.port);
    expect(a, "welcome guest1\n");
    int slow = dial(p.port);
    expect(slow, "welcome guest2\n");
    expect(a, "* guest2 joined\n");
    static char line[1001];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 2] = '\n';
    line[sizeof line - 1] = 0;
    for (int i = 0; i < LINES; i++)
        send_text(a, line);
    expect(a, "* guest2 left\n"); /* dropped while a was still talking */
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
    int a = dial(port), b = dial(port);
    static char big[200000], got[sizeof big];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    for (int i = 0; i < 10; i++) {
        send_text(a, "ping\n");
        expect(a, "ping\n");
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
    expect(b, "b\n");
    close(a);
    close(b);
}

/* Through the forwarder to echo_server and back; a target that refuses closes the client;
 * with a client still connected at SIGTERM both programs exit with 0. */
static void test_port_forwarder(void **state)
{
    (void)state;
    struct prog echo = start("echo_server", "0", NULL);
    char tport[16];
    snprintf(tport, sizeof tport, "%u", echo.port);
    struct prog fwd = start_forwarder(tport);
    forward_and_check(fwd.port);
    int held = dial(fwd.port);
    send_text(held, "held\n");
    expect(held, "held\n");
    stop(fwd);
    expect_eof(held);
    close(held);
    stop(echo);

    /* Nobody on the target port (echo_server is gone): the connection is closed. */
    fwd = start_forwarder(tport);
    int c = dial(fwd.port);
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
