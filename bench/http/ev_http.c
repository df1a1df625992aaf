/* SPDX-License-Identifier: MIT */
/* bench/http/ev_http.c: the floor of the HTTP benchmark (bench/http_bench.py), a keep-alive
 * "hello world" server written straight on libev callbacks, without coroutines.  Whatever a
 * blocking-style server costs above this is the price of its abstraction.
 *
 *   ev_http PORT      serve on 127.0.0.1:PORT; prints "version libev-X.Y", then serves forever
 *
 * Every readable event reads what is there, counts the requests it completes (a request ends
 * at its blank line: wrk and bench/http/hold_conns.c send GETs without bodies) and answers
 * each with the same fixed response, in one write.  A response the socket does not take at
 * once waits for writability, and the connection reads nothing more until it is out.
 */
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n"
                               "Content-Type: text/plain\r\n\r\nhello world\n";
#define RESPONSE_LEN (sizeof response - 1)
#define BATCH 512 /* responses in one write, at most */

static char answers[BATCH * RESPONSE_LEN]; /* BATCH copies of the response, filled once */
static char input[65536];

struct conn {
    ev_io io;           /* first: the callbacks get a struct conn * from the ev_io * */
    unsigned seen;      /* how many bytes of "\r\n\r\n" the input so far ends with */
    char *pending;      /* output the socket has not taken yet, or NULL */
    size_t pending_len, pending_off;
};

static size_t count_requests(struct conn *c, const char *p, size_t n)
{
    static const char blank_line[] = "\r\n\r\n";
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == blank_line[c->seen]) {
            if (++c->seen == 4) {
                done++;
                c->seen = 0;
            }
        } else {
            c->seen = p[i] == '\r'; /* a mismatched byte can only restart the match */
        }
    }
    return done;
}

static void close_conn(struct ev_loop *loop, struct conn *c)
{
    ev_io_stop(loop, &c->io);
    close(c->io.fd);
    free(c->pending);
    free(c);
}

static void watch(struct ev_loop *loop, struct conn *c, int events)
{
    ev_io_stop(loop, &c->io);
    ev_io_set(&c->io, c->io.fd, events);
    ev_io_start(loop, &c->io);
}

/* Keeps the unwritten rest of this batch and the batches not started yet in c->pending. */
static int keep_pending(struct conn *c, size_t written, size_t batch_len, size_t later)
{
    size_t len = batch_len - written + later * RESPONSE_LEN;
    char *p = malloc(len);
    if (!p)
        return -1;
    memcpy(p, answers + written, batch_len - written);
    for (size_t off = batch_len - written; off < len; off += RESPONSE_LEN)
        memcpy(p + off, response, RESPONSE_LEN);
    c->pending = p;
    c->pending_len = len;
    c->pending_off = 0;
    return 0;
}

/* 0: all written; 1: some left in c->pending; -1: the connection is dead. */
static int answer(struct conn *c, size_t count)
{
    while (count) {
        size_t k = count < BATCH ? count : BATCH;
        size_t len = k * RESPONSE_LEN;
        ssize_t w = write(c->io.fd, answers, len);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        count -= k;
        if (w < 0)
            w = 0;
        if ((size_t)w < len)
            return keep_pending(c, (size_t)w, len, count) ? -1 : 1;
    }
    return 0;
}

static void on_writable(struct ev_loop *loop, struct conn *c)
{
    ssize_t w = write(c->io.fd, c->pending + c->pending_off, c->pending_len - c->pending_off);
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
        close_conn(loop, c);
        return;
    }
    if (w > 0)
        c->pending_off += (size_t)w;
    if (c->pending_off == c->pending_len) {
        free(c->pending);
        c->pending = NULL;
        watch(loop, c, EV_READ);
    }
}

static void on_conn(struct ev_loop *loop, ev_io *io, int revents)
{
    struct conn *c = (struct conn *)io;
    if (revents & EV_WRITE) {
        on_writable(loop, c);
        return;
    }
    ssize_t n = read(io->fd, input, sizeof input);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        close_conn(loop, c);
        return;
    }
    switch (answer(c, count_requests(c, input, (size_t)n))) {
    case -1:
        close_conn(loop, c);
        break;
    case 1:
        watch(loop, c, EV_WRITE);
        break;
    }
}

static void on_listener(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)revents;
    for (;;) {
        int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                perror("ev_http: accept4");
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        ev_io_init(&c->io, on_conn, fd, EV_READ);
        ev_io_start(loop, &c->io);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a peer's reset must end the connection, not the server */
    for (size_t i = 0; i < BATCH; i++)
        memcpy(answers + i * RESPONSE_LEN, response, RESPONSE_LEN);

    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)atoi(argv[1])),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(s, (struct sockaddr *)&addr, sizeof addr) || listen(s, 1024)) {
        perror("ev_http: listen");
        return 1;
    }
    printf("version libev-%d.%d\n", ev_version_major(), ev_version_minor());
    fflush(stdout);

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    ev_io listener;
    ev_io_init(&listener, on_listener, s, EV_READ);
    ev_io_start(loop, &listener);
    ev_run(loop, 0);
    return 0;
}
