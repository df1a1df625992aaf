/* SPDX-License-Identifier: MIT */
/* What the tests of the example servers share (test_examples_io.c, test_http_hello.c,
 * test_http_fetch.c): a free loopback port, plain blocking client sockets with a receive
 * bound, exact reads, and examples/http_hello started on a free port (tests/program.h
 * runs the programs).  No hub: the tests are the programs' plain clients. */
#ifndef GREEN_TEST_EXAMPLE_UTIL_H
#define GREEN_TEST_EXAMPLE_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "program.h"

#define IO_SECONDS 20 /* a bound on every read, so a broken server fails instead of hanging */

/* A loopback port nobody listens on now (a server may take it before the program binds
 * it: hello_start tries another). */
static inline unsigned free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

/* A blocking connection to 127.0.0.1:port with a receive bound, or -1 (errno from
 * connect). */
static inline int dial(unsigned port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct timeval tv = {.tv_sec = IO_SECONDS};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

/* dial(), which must succeed. */
static inline int dial_ok(unsigned port)
{
    int s = dial(port);
    if (s < 0)
        fail_msg("connect to port %u: %s", port, strerror(errno));
    return s;
}

static inline void send_bytes(int s, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(s, p, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

static inline void send_text(int s, const char *p) { send_bytes(s, p, strlen(p)); }

/* Reads exactly n bytes into got (fails on EOF or the bound). */
static inline void recv_exactly(int s, char *got, size_t n)
{
    size_t have = 0;
    while (have < n) {
        ssize_t r = recv(s, got + have, n - have, 0);
        if (r <= 0)
            fail_msg("after %zu of %zu bytes: %s", have, n, r ? strerror(errno) : "EOF");
        have += (size_t)r;
    }
}

/* Reads exactly n bytes and compares them with want. */
static inline void expect_bytes(int s, const char *want, size_t n)
{
    static char got[8192];
    assert_true(n <= sizeof got);
    recv_exactly(s, got, n);
    assert_memory_equal(got, want, n);
}

/* Reads exactly strlen(want) bytes and compares them with want, as strings (a failure
 * shows both). */
static inline void expect_text(int s, const char *want)
{
    static char got[8192];
    size_t n = strlen(want);
    assert_true(n < sizeof got);
    recv_exactly(s, got, n);
    got[n] = 0;
    assert_string_equal(got, want);
}

static inline void expect_eof(int s)
{
    char c;
    assert_int_equal(recv(s, &c, 1, 0), 0);
}

/* A server program and the port it listens on. */
struct server_program {
    struct program prog;
    unsigned port;
};

/* ---- examples/http_hello ------------------------------------------------------------ */

/* Starts http_hello (stack model "private" or "shared") on a free port and waits for its
 * version line (it listens by then).  A port taken between free_port() and the server's
 * bind makes it exit: another is tried. */
static inline struct server_program hello_start(const char *model)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        struct server_program h = {.port = free_port()};
        char port[16], line[64];
        snprintf(port, sizeof port, "%u", h.port);
        char *argv[] = {"examples/http_hello", port, (char *)model, NULL};
        h.prog = program_start(argv);
        if (program_first_line(&h.prog, line, sizeof line)) {
            assert_string_equal(line, "version libgreen\n");
            return h;
        }
        program_wait(&h.prog);
    }
    fail_msg("http_hello %s did not start", model);
    return (struct server_program){0};
}

#endif /* GREEN_TEST_EXAMPLE_UTIL_H */
