/* SPDX-License-Identifier: MIT */
/* A server whose clients disconnect at random points.  The server is written here in
 * blocking style (a greenlet per connection, in a Group, each model of stack): read a
 * request up to its blank line, answer with a body far larger than the socket buffers,
 * again.  Client threads, with plain blocking sockets, walk through every way of leaving —
 * before sending, mid-request (FIN or RST), after the request without reading, mid-response
 * (FIN or RST), and politely after whole answers — at random cut points.  Afterwards every
 * handler has ended, each connection was accepted and closed once, and the process has
 * exactly the fds it had before. */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>

#include "io_util.h"

#define CLIENTS 4
#define BODY (256 * 1024)
#define MODES 7

static char head[64];
static char *body;
static unsigned port;
static long per_client;
static long accepted, ended, ended_eof, ended_reset;

static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own fd */
}

/* ---- the server ------------------------------------------------------------------------ */

static void *handler(void *arg)
{
    int fd = (int)(intptr_t)arg;
    int small = 16384;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    char *buf = malloc(1024); /* on the heap: a shared-stack handler's frame stays small */
    size_t len = 0;
    int why = 0;
    for (;;) {
        char *end = memmem(buf, len, "\r\n\r\n", 4);
        if (!end) {
            ssize_t n = len < 1024 ? green_read(fd, buf + len, 1024 - len, 10.0) : 0;
            if (n <= 0) {
                why = n == 0 ? 0 : errno;
                break;
            }
            len += (size_t)n;
            continue;
        }
        len -= (size_t)(end + 4 - buf);
        memmove(buf, end + 4, len);
        if (green_send_all(fd, head, strlen(head), MSG_NOSIGNAL, 10.0, NULL) < 0 ||
            green_send_all(fd, body, BODY, MSG_NOSIGNAL, 10.0, NULL) < 0) {
            why = errno;
            break;
        }
    }
    if (why == 0)
        ended_eof++;
    else if (why == ECONNRESET || why == EPIPE)
        ended_reset++;
    else
        note_failure(__LINE__, "handler ended with %s", strerror(why));
    ended++;
    free(buf);
    CHECK_EQ(green_close(fd), 0);
    return NULL;
}

static int listener;
static green_group_t *handlers;

static void *acceptor(void *arg)
{
    int model = (int)(intptr_t)arg;
    green_attr_t attr = GREEN_ATTR_INIT;
    attr.stack_model = model;
    for (;;) {
        int fd = green_accept(listener, NULL, NULL, GREEN_FOREVER);
        if (fd < 0) {
            CHECK_EQ(errno, EBADF); /* main closed the listener */
            return NULL;
        }
        accepted++;
        green_t *g = green_group_spawn(handlers, handler, (void *)(intptr_t)fd, &attr, 1.0);
        CHECK(g != NULL);
        if (g)
            green_release(g);
    }
}

/* ---- the clients ----------------------------------------------------------------------- */

static const char request[] = "GET /big HTTP/1.1\r\nHost: test\r\n\r\n";

static void send_some(int s, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(s, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Reads up to n bytes of the answer (fewer if the server is gone). */
static void recv_some(int s, size_t n)
{
    static __thread char sink[8192];
    while (n) {
        ssize_t r = recv(s, sink, n < sizeof sink ? n : sizeof sink, 0);
        if (r <= 0)
            return;
        n -= (size_t)r;
    }
}

static void leave(int s, bool reset)
{
    if (reset)
        close_reset(s);
    else
        close(s);
}

struct client {
    uint64_t seed;
    int done_fd;
};

static void *client(void *arg)
{
    struct client *c = arg;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    size_t answer = strlen(head) + BODY;
    for (long i = 0; i < per_client; i++) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct timeval tv = {.tv_sec = 10};
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        int small = 16384;
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        if (connect(s, (struct sockaddr *)&to, sizeof to) != 0) {
            close(s);
            continue; /* counted as missing by the test */
        }
        uint64_t r = splitmix64(&c->seed);
        size_t cut_req = 1 + (size_t)(r % (sizeof request - 2)); /* inside the request */
        size_t cut_ans = 1 + (size_t)((r >> 16) % (answer - 1)); /* inside the answer */
        switch (i % MODES) {
        case 0: /* before sending anything */
            leave(s, r >> 40 & 1);
            break;
        case 1: /* mid-request, FIN */
        case 2: /* mid-request, RST */
            send_some(s, request, cut_req);
            leave(s, i % MODES == 2);
            break;
        case 3: /* the whole request, then gone without reading */
            send_some(s, request, sizeof request - 1);
            leave(s, true);
            break;
        case 4: /* mid-response, FIN */
        case 5: /* mid-response, RST */
            send_some(s, request, sizeof request - 1);
            recv_some(s, cut_ans);
            leave(s, i % MODES == 5);
            break;
        default: /* keep-alive: 1 to 3 whole answers, then a polite close */
            for (uint64_t k = 0; k <= (r >> 32) % 3; k++) {
                send_some(s, request, sizeof request - 1);
                recv_some(s, answer);
            }
            close(s);
        }
    }
    char one = 1;
    if (write(c->done_fd, &one, 1) != 1)
        note_failure(__LINE__, "write: %s", strerror(errno));
    return NULL;
}

static void test_random_disconnects(void **state)
{
    int model = model_of(state);
    snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", BODY);
    body = calloc(1, BODY);
    assert_non_null(body);
    per_client = scaled(70, 14);
    accepted = ended = ended_eof = ended_reset = 0;
    long baseline = count_fds();

    handlers = green_group_new();
    listener = green_listen("127.0.0.1", 0, SOCK_STREAM, 128, 0);
    assert_true(listener >= 0);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(listener, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    green_t *acc = SPAWN(acceptor, (intptr_t)model);

    int done[2];
    assert_int_equal(pipe(done), 0);
    pthread_t threads[CLIENTS];
    struct client clients[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (struct client){.seed = 0x5eed0000u + (uint64_t)i * 7919, .done_fd = done[1]};
        assert_int_equal(pthread_create(&threads[i], NULL, client, &clients[i]), 0);
    }
    /* main waits cooperatively for the clients' "done" bytes while the hub serves */
    char got[CLIENTS];
    assert_int_equal(green_read_exactly(done[0], got, CLIENTS, 60.0, NULL), CLIENTS);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(threads[i], NULL);
    close(done[0]);
    close(done[1]);

    /* every client is gone: every handler ends on its own (EOF or a reset) */
    assert_int_equal(green_group_join(handlers, 20.0), 0);
    assert_int_equal(green_close(listener), 0);
    JOIN(acc);
    assert_int_equal(green_group_destroy(handlers), 0);
    assert_no_failures();
    assert_int_equal(accepted, CLIENTS * per_client);
    assert_int_equal(ended, accepted);
    assert_true(ended_eof > 0);   /* the polite and the FIN leavers */
    assert_true(ended_reset > 0); /* the RST and mid-response leavers */
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
