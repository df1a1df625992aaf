/* SPDX-License-Identifier: MIT */
/* examples/http_hello, the benchmark's server, run as a program on a free port with each
 * stack model and spoken to with plain blocking sockets: keep-alive, pipelining, many
 * connections at once, Connection: close, refused bodies, clients that vanish mid-request,
 * and a clean exit on SIGTERM with connections still open. */
#include <poll.h>
#include <sys/resource.h>

#include "example_util.h"

#include <cmocka.h>

static const char GET[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
static const char OK[] = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n"
                         "Content-Type: text/plain\r\n\r\nhello world\n";
static const char OK_CLOSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n"
                               "Content-Type: text/plain\r\nConnection: close\r\n"
                               "\r\nhello world\n";
static const char BAD[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                          "Connection: close\r\n\r\n";

/* Starts http_hello (hello_start), then polls the port (bounded) until a connection is
 * accepted and answered. */
static struct server_program start(const char *model)
{
    struct server_program srv = hello_start(model);
    for (int tries = 0; tries < 200; tries++) {
        int s = dial(srv.port);
        if (s >= 0) {
            send_bytes(s, GET, sizeof GET - 1);
            expect_bytes(s, OK, sizeof OK - 1);
            close(s);
            return srv;
        }
        struct pollfd none;
        poll(&none, 0, 10); /* the bounded poll of the port, not a race fix */
    }
    fail_msg("http_hello %s: port %u never accepted", model, srv.port);
    return srv;
}

/* SIGTERM: the server must exit with status 0. */
static void stop(struct server_program srv) { program_stop(&srv.prog); }

static const char *model_name(void **state) { return *state ? "shared" : "private"; }

/* Many requests one after another on one connection, each answered before the next. */
static void test_keep_alive(void **state)
{
    struct server_program srv = start(model_name(state));
    int s = dial(srv.port);
    assert_true(s >= 0);
    for (long i = 0, n = scaled(200, 20); i < n; i++) {
        send_bytes(s, GET, sizeof GET - 1);
        expect_bytes(s, OK, sizeof OK - 1);
    }
    close(s);
    stop(srv);
}

/* Requests sent in one write are answered in order; a request split across writes, at
 * every byte, is answered once complete. */
static void test_pipelined(void **state)
{
    struct server_program srv = start(model_name(state));
    int s = dial(srv.port);
    assert_true(s >= 0);
    enum { N = 70 }; /* more than one batch of the server's answers */
    static char many[N * (sizeof GET - 1)], answers[N * (sizeof OK - 1)];
    for (int i = 0; i < N; i++) {
        memcpy(many + i * (sizeof GET - 1), GET, sizeof GET - 1);
        memcpy(answers + i * (sizeof OK - 1), OK, sizeof OK - 1);
    }
    send_bytes(s, many, sizeof many);
    expect_bytes(s, answers, sizeof answers);
    for (size_t cut = 1; cut < sizeof GET - 1; cut++) {
        send_bytes(s, GET, cut);
        send_bytes(s, GET + cut, sizeof GET - 1 - cut);
        expect_bytes(s, OK, sizeof OK - 1);
    }
    /* Two and a half requests, then the rest of the third. */
    send_bytes(s, many, 2 * (sizeof GET - 1) + 10);
    expect_bytes(s, answers, 2 * (sizeof OK - 1));
    send_bytes(s, GET + 10, sizeof GET - 1 - 10);
    expect_bytes(s, OK, sizeof OK - 1);
    close(s);
    stop(srv);
}

/* Many connections open at once, each with a request in flight before any is read. */
static void test_concurrent(void **state)
{
    struct server_program srv = start(model_name(state));
    long n = scaled(300, 30);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)n + 64 > rl.rlim_cur)
        n = (long)rl.rlim_cur - 64;
    int *fds = calloc((size_t)n, sizeof *fds);
    assert_non_null(fds);
    for (long i = 0; i < n; i++) {
        fds[i] = dial(srv.port);
        assert_true(fds[i] >= 0);
        send_bytes(fds[i], GET, sizeof GET - 1);
    }
    for (int round = 0; round < 2; round++) {
        for (long i = 0; i < n; i++)
            expect_bytes(fds[i], OK, sizeof OK - 1);
        for (long i = 0; i < n && round == 0; i++)
            send_bytes(fds[i], GET, sizeof GET - 1);
    }
    for (long i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    stop(srv);
}

/* Connection: close (any case) is answered with that header, then the server closes; the
 * requests before it in the same write are answered, those after it are not. */
static void test_connection_close(void **state)
{
    struct server_program srv = start(model_name(state));
    int s = dial(srv.port);
    assert_true(s >= 0);
    static const char closing[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_bytes(s, closing, sizeof closing - 1);
    expect_bytes(s, OK_CLOSE, sizeof OK_CLOSE - 1);
    expect_eof(s);
    close(s);

    s = dial(srv.port);
    assert_true(s >= 0);
    static const char three[] = "GET / HTTP/1.1\r\n\r\n"
                                "GET / HTTP/1.1\r\nconnection:   CLOSE\r\n\r\n"
                                "GET / HTTP/1.1\r\n\r\n";
    send_bytes(s, three, sizeof three - 1);
    expect_bytes(s, OK, sizeof OK - 1);
    expect_bytes(s, OK_CLOSE, sizeof OK_CLOSE - 1);
    expect_eof(s);
    close(s);
    stop(srv);
}

/* A body (Content-Length other than 0) and an endless header block are refused with 400
 * and the connection closed; Content-Length: 0 is served. */
static void test_refused(void **state)
{
    struct server_program srv = start(model_name(state));
    int s = dial(srv.port);
    assert_true(s >= 0);
    static const char zero[] = "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    send_bytes(s, zero, sizeof zero - 1);
    expect_bytes(s, OK, sizeof OK - 1);
    /* The body is not sent: unread bytes at the server's close would make it a reset. */
    static const char body[] = "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n";
    send_bytes(s, body, sizeof body - 1);
    expect_bytes(s, BAD, sizeof BAD - 1);
    expect_eof(s);
    close(s);

    s = dial(srv.port);
    assert_true(s >= 0);
    /* Exactly the server's limit (16 KiB) without a blank line: it fills the buffer and is
     * refused, with nothing left unread (which would turn the close into a reset). */
    static char big[16384];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    send_bytes(s, big, sizeof big);
    expect_bytes(s, BAD, sizeof BAD - 1);
    expect_eof(s);
    close(s);
    stop(srv);
}

/* Clients that vanish mid-request (a plain close, and a reset) end only their own
 * connection: a connection opened before them and one opened after are served. */
static void test_disconnect_mid_request(void **state)
{
    struct server_program srv = start(model_name(state));
    int keep = dial(srv.port);
    assert_true(keep >= 0);
    for (int i = 0; i < 20; i++) {
        int s = dial(srv.port);
        assert_true(s >= 0);
        send_bytes(s, GET, (size_t)(i % 2 ? 5 : sizeof GET - 3));
        if (i % 4 >= 2) { /* a reset instead of a FIN */
            struct linger l = {.l_onoff = 1, .l_linger = 0};
            setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        close(s);
    }
    /* One that sends a full request and leaves before reading the answer. */
    int s = dial(srv.port);
    assert_true(s >= 0);
    send_bytes(s, GET, sizeof GET - 1);
    close(s);

    send_bytes(keep, GET, sizeof GET - 1);
    expect_bytes(keep, OK, sizeof OK - 1);
    s = dial(srv.port);
    assert_true(s >= 0);
    send_bytes(s, GET, sizeof GET - 1);
    expect_bytes(s, OK, sizeof OK - 1);
    close(s);
    close(keep);
    stop(srv);
}

/* SIGTERM with connections open (idle, mid-request, unanswered pipelined requests) exits 0
 * and closes them all. */
static void test_sigterm_with_open_connections(void **state)
{
    struct server_program srv = start(model_name(state));
    int idle = dial(srv.port), partial = dial(srv.port), served = dial(srv.port);
    assert_true(idle >= 0 && partial >= 0 && served >= 0);
    send_bytes(served, GET, sizeof GET - 1);
    expect_bytes(served, OK, sizeof OK - 1); /* accepted and handled before the signal */
    send_bytes(partial, GET, 7);
    stop(srv);
    expect_eof(served);
    close(idle);
    close(partial);
    close(served);
}

#define BOTH(fn) cmocka_unit_test_prestate(fn, NULL), cmocka_unit_test_prestate(fn, (void *)1)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        BOTH(test_keep_alive),
        BOTH(test_pipelined),
        BOTH(test_concurrent),
        BOTH(test_connection_close),
        BOTH(test_refused),
        BOTH(test_disconnect_mid_request),
        BOTH(test_sigterm_with_open_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
