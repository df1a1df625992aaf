/* SPDX-License-Identifier: MIT */
/* examples/http_fetch, the concurrent client, run as a program: against the built
 * examples/http_hello (both stack models), and against a server written here on plain
 * threads that counts its connections and answers per path (a 404, Connection: close, a
 * large body, a malformed answer, bodies checked with -e), so the summary's figures, the
 * exit status and the reuse of connections are checked exactly. */
#include <pthread.h>
#include <stdatomic.h>

#include "example_util.h"

#include <cmocka.h>

/* ---- examples/http_hello as the server ------------------------------------------------ */

/* Many requests over two URLs of one server: all answered 200, split evenly (request i goes
 * to URL i % 2), and the summary says so. */
static void test_against_hello(void **state)
{
    struct server_program h = hello_start(*state ? "shared" : "private");
    long n = scaled(2000, 40) / 2 * 2;
    char a[64], b[64], count[32], expect[256];
    snprintf(a, sizeof a, "http://127.0.0.1:%u/", h.port);
    snprintf(b, sizeof b, "http://localhost:%u/other", h.port);
    snprintf(count, sizeof count, "%ld", n);
    char *argv[] = {"examples/http_fetch", "-c", "8", "-n", count, a, b, NULL};
    static char out[8192];
    assert_int_equal(program_run(argv, out, sizeof out), 0);
    program_stop(&h.prog);
    snprintf(expect, sizeof expect, "requests: %ld ok, 0 failed\n", n);
    assert_non_null(strstr(out, expect));
    snprintf(expect, sizeof expect, "\n%s: 200 x%ld\n%s: 200 x%ld\n", a, n / 2, b, n / 2);
    assert_non_null(strstr(out, expect));
    assert_non_null(strstr(out, "requests/s: "));
    assert_non_null(strstr(out, "wall time: "));
}

/* -d: requests until the time is up, every one answered. */
static void test_duration(void **state)
{
    (void)state;
    struct server_program h = hello_start("shared");
    char a[64];
    snprintf(a, sizeof a, "http://127.0.0.1:%u/", h.port);
    char *argv[] = {"examples/http_fetch", "-c", "4", "-d", "0.3", a, NULL};
    static char out[8192];
    assert_int_equal(program_run(argv, out, sizeof out), 0);
    program_stop(&h.prog);
    long ok = -1, failed = -1, per_url = -1;
    char *p = strstr(out, "requests: ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "requests: %ld ok, %ld failed", &ok, &failed), 2);
    assert_true(ok > 0);
    assert_int_equal(failed, 0);
    p = strstr(out, ": 200 x");
    assert_non_null(p);
    assert_int_equal(sscanf(p, ": 200 x%ld", &per_url), 1);
    assert_int_equal(per_url, ok);
}

/* ---- a server written here ------------------------------------------------------------ */

/* Answers per path: /close with Connection: close, /missing with 404, /big with a body of
 * BIG bytes, /garbage with a line that is not HTTP; anything else 200.  Counts accepted
 * connections. */
#define BIG 200000
static atomic_long accepted;
static int listener;

static void send_all(int s, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(s, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void *serve_conn(void *arg)
{
    int s = (int)(intptr_t)arg;
    char buf[4096];
    size_t len = 0;
    static char big[BIG];
    for (;;) {
        char *end;
        while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
            ssize_t r = len < sizeof buf ? recv(s, buf + len, sizeof buf - len, 0) : 0;
            if (r <= 0)
                goto out;
            len += (size_t)r;
        }
        bool close_after = false;
        char head[256];
        if (strncmp(buf, "GET /close ", 11) == 0) {
            snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye");
            close_after = true;
        } else if (strncmp(buf, "GET /missing ", 13) == 0) {
            snprintf(head, sizeof head, "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope");
        } else if (strncmp(buf, "GET /garbage ", 13) == 0) {
            snprintf(head, sizeof head, "SSH-2.0-nonsense\r\n\r\n");
            close_after = true;
        } else if (strncmp(buf, "GET /big ", 9) == 0) {
            snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", BIG);
            send_all(s, head, strlen(head));
            head[0] = 0;
            send_all(s, big, sizeof big);
        } else {
            snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
        send_all(s, head, strlen(head));
        if (close_after)
            break;
        end += 4;
        len -= (size_t)(end - buf);
        memmove(buf, end, len);
    }
out:
    close(s);
    return NULL;
}

static void *accept_loop(void *arg)
{
    (void)arg;
    for (;;) {
        int s = accept(listener, NULL, NULL);
        if (s < 0)
            return NULL; /* the test shut the listener down */
        atomic_fetch_add(&accepted, 1);
        struct timeval tv = {.tv_sec = IO_SECONDS};
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        pthread_t t;
        if (pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)s) == 0)
            pthread_detach(t);
        else
            close(s);
    }
}

static pthread_t server_thread;

static unsigned start_server(void)
{
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(listener >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(listener, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(listener, 128), 0);
    assert_int_equal(getsockname(listener, (struct sockaddr *)&a, &len), 0);
    atomic_store(&accepted, 0);
    assert_int_equal(pthread_create(&server_thread, NULL, accept_loop, NULL), 0);
    return ntohs(a.sin_port);
}

static void stop_server(void)
{
    shutdown(listener, SHUT_RDWR); /* wakes the accept */
    pthread_join(server_thread, NULL);
    close(listener);
}

/* Keep-alive: C workers over one endpoint open exactly C connections, however many
 * requests they make. */
static void test_keep_alive_connections(void **state)
{
    (void)state;
    unsigned port = start_server();
    char a[64];
    snprintf(a, sizeof a, "http://127.0.0.1:%u/x", port);
    char *argv[] = {"examples/http_fetch", "-c", "3", "-n", "300", a, NULL};
    static char out[8192];
    assert_int_equal(program_run(argv, out, sizeof out), 0);
    stop_server();
    assert_non_null(strstr(out, "requests: 300 ok, 0 failed\n"));
    assert_int_equal(atomic_load(&accepted), 3);
}

/* Connection: close ends the connection after each answer: one worker, N requests, N
 * connections.  A large body arrives whole on a kept connection. */
static void test_close_and_big_body(void **state)
{
    (void)state;
    unsigned port = start_server();
    char a[64], b[64];
    snprintf(a, sizeof a, "http://127.0.0.1:%u/close", port);
    snprintf(b, sizeof b, "http://127.0.0.1:%u/big", port);
    char *argv[] = {"examples/http_fetch", "-c", "1", "-n", "10", a, b, NULL};
    static char out[8192];
    assert_int_equal(program_run(argv, out, sizeof out), 0);
    stop_server();
    assert_non_null(strstr(out, "requests: 10 ok, 0 failed\n"));
    assert_non_null(strstr(out, "/close: 200 x5\n"));
    assert_non_null(strstr(out, "/big: 200 x5\n"));
    /* the first /close opens a connection and its answer closes it; each /big then opens
     * one, which the next /close reuses and closes: 1 + 5 */
    assert_int_equal(atomic_load(&accepted), 6);
}

/* Failures: a 404 is counted under its status and as failed, a malformed answer and a
 * refused connection as failed; the exit status is 1. */
static void test_failures(void **state)
{
    (void)state;
    unsigned port = start_server(), closed = free_port();
    char a[64], b[64], c[64], d[64];
    snprintf(a, sizeof a, "http://127.0.0.1:%u/missing", port);
    snprintf(b, sizeof b, "http://127.0.0.1:%u/garbage", port);
    snprintf(c, sizeof c, "http://127.0.0.1:%u/", closed);
    snprintf(d, sizeof d, "http://127.0.0.1:%u/fine", port);
    char *argv[] = {"examples/http_fetch", "-c", "2", "-n", "8", a, b, c, d, NULL};
    static char out[8192];
    assert_int_equal(program_run(argv, out, sizeof out), 1);
    stop_server();
    assert_non_null(strstr(out, "requests: 2 ok, 6 failed\n"));
    char expect[512];
    snprintf(expect, sizeof expect, "\n%s: 404 x2\n%s: failed x2\n%s: failed x2\n%s: 200 x2\n", a,
             b, c, d);
    assert_non_null(strstr(out, expect));
}

/* -e: a body other than the one expected fails the request (the status is still counted). */
static void test_expect_body(void **state)
{
    (void)state;
    unsigned port = start_server();
    char a[64];
    snprintf(a, sizeof a, "http://127.0.0.1:%u/x", port);
    char *right[] = {"examples/http_fetch", "-c", "2", "-n", "6", "-e", "ok", a, NULL};
    char *wrong[] = {"examples/http_fetch", "-c", "2", "-n", "6", "-e", "ko", a, NULL};
    char *longer[] = {"examples/http_fetch", "-c", "2", "-n", "6", "-e", "okay", a, NULL};
    static char out[8192];
    char expect[128];
    assert_int_equal(program_run(right, out, sizeof out), 0);
    assert_non_null(strstr(out, "requests: 6 ok, 0 failed\n"));
    assert_int_equal(program_run(wrong, out, sizeof out), 1);
    assert_non_null(strstr(out, "requests: 0 ok, 6 failed\n"));
    snprintf(expect, sizeof expect, "%s: 200 x6 wrong body x6\n", a);
    assert_non_null(strstr(out, expect));
    assert_int_equal(program_run(longer, out, sizeof out), 1);
    assert_non_null(strstr(out, expect));
    stop_server();
}

/* Bad usage: exit status 2, nothing fetched. */
static void test_usage(void **state)
{
    (void)state;
    static char out[1024];
    char *no_url[] = {"examples/http_fetch", "-c", "2", NULL};
    char *https[] = {"examples/http_fetch", "https://127.0.0.1/", NULL};
    char *bad_port[] = {"examples/http_fetch", "http://127.0.0.1:99999/", NULL};
    char *zero_c[] = {"examples/http_fetch", "-c", "0", "http://127.0.0.1:1/", NULL};
    assert_int_equal(program_run(no_url, out, sizeof out), 2);
    assert_int_equal(program_run(https, out, sizeof out), 2);
    assert_int_equal(program_run(bad_port, out, sizeof out), 2);
    assert_int_equal(program_run(zero_c, out, sizeof out), 2);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_against_hello, (void *)0),
        cmocka_unit_test_prestate(test_against_hello, (void *)1),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_keep_alive_connections),
        cmocka_unit_test(test_close_and_big_body),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_expect_body),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
