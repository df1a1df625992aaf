/* SPDX-License-Identifier: MIT */
/* examples/http_hello, the benchmark's server, run as a program on a free port with each
 * stack model and spoken to with plain blocking sockets: keep-alive, pipelining, many
 * connections at once, Connection: close, refused bodies, clients that vanish mid-request,
 * and a clean exit on SIGTERM with connections still open. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "testutil.h"

#include <cmocka.h>

static const char GET[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
static const char OK[] = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n"
                         "Content-Type: text/plain\r\n\r\nhello world\n";
static const char OK_CLOSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n"
                               "Content-Type: text/plain\r\nConnection: close\r\n"
                               "\r\nhello world\n";
static const char BAD[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                          "Connection: close\r\n\r\n";
#define IO_SECONDS 20 /* a bound on every read, so a broken server fails instead of hanging */

struct server {
    pid_t pid;
    unsigned port;
};

static unsigned free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

/* A connected socket with a receive bound, or -1 (errno from connect). */
static int dial(unsigned port)
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

static void send_text(int s, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(s, p, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* Reads exactly n bytes (fails on EOF or the bound) and compares them with want. */
static void expect(int s, const char *want, size_t n)
{
    char got[8192];
    assert_true(n <= sizeof got);
    size_t have = 0;
    while (have < n) {
        ssize_t r = recv(s, got + have, n - have, 0);
        if (r <= 0)
            fail_msg("after %zu of %zu bytes: %s", have, n, r ? strerror(errno) : "EOF");
        have += (size_t)r;
    }
    assert_memory_equal(got, want, n);
}

static void expect_eof(int s)
{
    char c;
    assert_int_equal(recv(s, &c, 1, 0), 0);
}

/* Starts http_hello on a free port: it prints its version line once it listens; then the
 * port is polled (bounded) until a connection is accepted and answered.  A port taken
 * between free_port() and the server's bind makes it exit: try another. */
static struct server start(const char *model)
{
    char path[1024];
    build_path(path, sizeof path, "examples/http_hello");
    for (int attempt = 0; attempt < 5; attempt++) {
        struct server srv = {.port = free_port()};
        char port[16], line[64] = "";
        snprintf(port, sizeof port, "%u", srv.port);
        int out[2];
        assert_int_equal(pipe(out), 0);
        fflush(NULL);
        srv.pid = fork();
        assert_true(srv.pid >= 0);
        if (srv.pid == 0) {
            dup2(out[1], STDOUT_FILENO);
            close(out[0]);
            close(out[1]);
            const char *wrapper = getenv("MESON_EXE_WRAPPER"); /* qemu-user in a cross build */
            if (wrapper && *wrapper) {
                char cmd[1400];
                snprintf(cmd, sizeof cmd, "exec %s %s %s %s", wrapper, path, port, model);
                execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            } else {
                execl(path, path, port, model, (char *)NULL);
            }
            _exit(127);
        }
        close(out[1]);
        FILE *f = fdopen(out[0], "r");
        bool up = fgets(line, sizeof line, f) != NULL;
        fclose(f);
        if (!up) {
            int status;
            waitpid(srv.pid, &status, 0);
            continue;
        }
        assert_string_equal(line, "version libgreen\n");
        for (int tries = 0; tries < 200; tries++) {
            int s = dial(srv.port);
            if (s >= 0) {
                send_text(s, GET, sizeof GET - 1);
                expect(s, OK, sizeof OK - 1);
                close(s);
                return srv;
            }
            struct pollfd none;
            poll(&none, 0, 10); /* the bounded poll of the port, not a race fix */
        }
        fail_msg("http_hello %s: port %u never accepted", model, srv.port);
    }
    fail_msg("http_hello %s did not start", model);
    return (struct server){0};
}

/* SIGTERM: the server must exit with status 0. */
static void stop(struct server srv)
{
    int status;
    assert_int_equal(kill(srv.pid, SIGTERM), 0);
    assert_int_equal(waitpid(srv.pid, &status, 0), srv.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static const char *model_name(void **state)
{
    return *state ? "shared" : "private";
}

/* Many requests one after another on one connection, each answered before the next. */
static void test_keep_alive(void **state)
{
    struct server srv = start(model_name(state));
    int s = dial(srv.port);
    assert_true(s >= 0);
    for (long i = 0, n = scaled(200, 20); i < n; i++) {
        send_text(s, GET, sizeof GET - 1);
        expect(s, OK, sizeof OK - 1);
    }
    close(s);
    stop(srv);
}

/* Requests sent in one write are answered in order; a request split across writes, at
 * every byte, is answered once complete. */
static void test_pipelined(void **state)
{
    struct server srv = start(model_name(state));
    int s = dial(srv.port);
    assert_true(s >= 0);
    enum { N = 70 }; /* more than one batch of the server's answers */
    static char many[N * (sizeof GET - 1)], answers[N * (sizeof OK - 1)];
    for (int i = 0; i < N; i++) {
        memcpy(many + i * (sizeof GET - 1), GET, sizeof GET - 1);
        memcpy(answers + i * (sizeof OK - 1), OK, sizeof OK - 1);
    }
    send_text(s, many, sizeof many);
    expect(s, answers, sizeof answers);
    for (size_t cut = 1; cut < sizeof GET - 1; cut++) {
        send_text(s, GET, cut);
        send_text(s, GET + cut, sizeof GET - 1 - cut);
        expect(s, OK, sizeof OK - 1);
    }
    /* Two and a half requests, then the rest of the third. */
    send_text(s, many, 2 * (sizeof GET - 1) + 10);
    expect(s, answers, 2 * (sizeof OK - 1));
    send_text(s, GET + 10, sizeof GET - 1 - 10);
    expect(s, OK, sizeof OK - 1);
    close(s);
    stop(srv);
}

/* Many connections open at once, each with a request in flight before any is read. */
static void test_concurrent(void **state)
{
    struct server srv = start(model_name(state));
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
        send_text(fds[i], GET, sizeof GET - 1);
    }
    for (int round = 0; round < 2; round++) {
        for (long i = 0; i < n; i++)
            expect(fds[i], OK, sizeof OK - 1);
        for (long i = 0; i < n && round == 0; i++)
            send_text(fds[i], GET, sizeof GET - 1);
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
    struct server srv = start(model_name(state));
    int s = dial(srv.port);
    assert_true(s >= 0);
    static const char closing[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_text(s, closing, sizeof closing - 1);
    expect(s, OK_CLOSE, sizeof OK_CLOSE - 1);
    expect_eof(s);
    close(s);

    s = dial(srv.port);
    assert_true(s >= 0);
    static const char three[] = "GET / HTTP/1.1\r\n\r\n"
                                "GET / HTTP/1.1\r\nconnection:   CLOSE\r\n\r\n"
                                "GET / HTTP/1.1\r\n\r\n";
    send_text(s, three, sizeof three - 1);
    expect(s, OK, sizeof OK - 1);
    expect(s, OK_CLOSE, sizeof OK_CLOSE - 1);
    expect_eof(s);
    close(s);
    stop(srv);
}

/* A body (Content-Length other than 0) and an endless header block are refused with 400
 * and the connection closed; Content-Length: 0 is served. */
static void test_refused(void **state)
{
    struct server srv = start(model_name(state));
    int s = dial(srv.port);
    assert_true(s >= 0);
    static const char zero[] = "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    send_text(s, zero, sizeof zero - 1);
    expect(s, OK, sizeof OK - 1);
    /* The body is not sent: unread bytes at the server's close would make it a reset. */
    static const char body[] = "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n";
    send_text(s, body, sizeof body - 1);
    expect(s, BAD, sizeof BAD - 1);
    expect_eof(s);
    close(s);

    s = dial(srv.port);
    assert_true(s >= 0);
    /* Exactly the server's limit (16 KiB) without a blank line: it fills the buffer and is
     * refused, with nothing left unread (which would turn the close into a reset). */
    static char big[16384];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    send_text(s, big, sizeof big);
    expect(s, BAD, sizeof BAD - 1);
    expect_eof(s);
    close(s);
    stop(srv);
}

/* Clients that vanish mid-request (a plain close, and a reset) end only their own
 * connection: a connection opened before them and one opened after are served. */
static void test_disconnect_mid_request(void **state)
{
    struct server srv = start(model_name(state));
    int keep = dial(srv.port);
    assert_true(keep >= 0);
    for (int i = 0; i < 20; i++) {
        int s = dial(srv.port);
        assert_true(s >= 0);
        send_text(s, GET, (size_t)(i % 2 ? 5 : sizeof GET - 3));
        if (i % 4 >= 2) { /* a reset instead of a FIN */
            struct linger l = {.l_onoff = 1, .l_linger = 0};
            setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        close(s);
    }
    /* One that sends a full request and leaves before reading the answer. */
    int s = dial(srv.port);
    assert_true(s >= 0);
    send_text(s, GET, sizeof GET - 1);
    close(s);

    send_text(keep, GET, sizeof GET - 1);
    expect(keep, OK, sizeof OK - 1);
    s = dial(srv.port);
    assert_true(s >= 0);
    send_text(s, GET, sizeof GET - 1);
    expect(s, OK, sizeof OK - 1);
    close(s);
    close(keep);
    stop(srv);
}

/* SIGTERM with connections open (idle, mid-request, unanswered pipelined requests) exits 0
 * and closes them all. */
static void test_sigterm_with_open_connections(void **state)
{
    struct server srv = start(model_name(state));
    int idle = dial(srv.port), partial = dial(srv.port), served = dial(srv.port);
    assert_true(idle >= 0 && partial >= 0 && served >= 0);
    send_text(served, GET, sizeof GET - 1);
    expect(served, OK, sizeof OK - 1); /* accepted and handled before the signal */
    send_text(partial, GET, 7);
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
        BOTH(test_keep_alive),        BOTH(test_pipelined),
        BOTH(test_concurrent),        BOTH(test_connection_close),
        BOTH(test_refused),           BOTH(test_disconnect_mid_request),
        BOTH(test_sigterm_with_open_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
