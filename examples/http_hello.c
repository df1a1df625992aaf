/* SPDX-License-Identifier: MIT */
/* A keep-alive HTTP/1.1 "hello world" server in blocking style: one greenlet per
 * connection, whose handler reads like the loop of a thread-per-connection server
 * (read until a request is complete, write the answer, again), while the hub runs them
 * all on one thread.  It is the libgreen entry of the HTTP benchmark (bench/http_bench.py)
 * and answers exactly what the peers in bench/http/ answer.
 *
 * Usage: http_hello PORT private|shared
 *   serves on 127.0.0.1:PORT with one stack model for every handler, prints
 *   "version libgreen", and runs until SIGTERM, which stops it cleanly (exit status 0).
 *
 * The request reader is the minimum the benchmark needs: a request ends at its blank line;
 * several requests in one read (pipelining) are answered in order, in one write; a
 * request with "Connection: close" is answered with that header and ends the connection;
 * a request announcing a body (a Content-Length other than 0) or a header block larger
 * than MAX_REQUEST is refused with 400 and the connection closed.
 */
#include <green.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n"
                               "Content-Type: text/plain\r\n\r\nhello world\n";
static const char response_close[] = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n"
                                     "Content-Type: text/plain\r\nConnection: close\r\n"
                                     "\r\nhello world\n";
static const char bad_request[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n";
#define RESPONSE_LEN (sizeof response - 1)
#define BATCH 64 /* pipelined answers in one write, at most */

/* BATCH copies of the response, filled once: pipelined answers go out in one write. */
static char answers[BATCH * RESPONSE_LEN];

/* The read buffer starts small (a benchmark's GET is ~40 bytes, and a held connection
 * should cost little) and grows for larger requests up to MAX_REQUEST. */
#define FIRST_BUFFER 256
#define MAX_REQUEST 16384

/* Per connection, on the heap: a handler on a shared stack keeps only a pointer in its
 * frame, so a switch copies a few words, not the buffer. */
struct conn {
    int fd;
    size_t len, cap; /* bytes in buf, its size */
    char *buf;
};

enum verdict { KEEP, CLOSE_AFTER, BAD };

/* The value of a header line [h, eol) named `name` (nlen bytes, case-insensitive as RFC 9110
 * says), or NULL. */
static const char *value_of(const char *h, const char *eol, const char *name, size_t nlen,
                            size_t *vlen)
{
    if ((size_t)(eol - h) <= nlen || h[nlen] != ':' || strncasecmp(h, name, nlen) != 0)
        return NULL;
    const char *v = h + nlen + 1, *e = eol[-1] == '\r' ? eol - 1 : eol;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    *vlen = (size_t)(e - v);
    return v;
}

/* The end of the request that starts at p (past its blank line "\r\n\r\n"), or NULL while it
 * is incomplete in [p, end); *verdict says what it asks for (the first Content-Length and
 * Connection headers count).  One pass over its lines: this runs for every request. */
static char *request_end(char *p, const char *end, enum verdict *verdict)
{
    bool length_seen = false, connection_seen = false;
    *verdict = KEEP;
    for (char *line = p;;) {
        char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            return NULL;
        if (eol == line + 1 && *line == '\r' && line - p >= 2 && line[-2] == '\r')
            return eol + 1;
        size_t n;
        const char *v;
        if (line != p && (*line | 0x20) == 'c') {
            if (!length_seen && (v = value_of(line, eol, "Content-Length", 14, &n))) {
                length_seen = true;
                if (!(n == 1 && *v == '0'))
                    *verdict = BAD; /* no body support: this server only answers GETs */
            } else if (!connection_seen && (v = value_of(line, eol, "Connection", 10, &n))) {
                connection_seen = true;
                if (n == 5 && strncasecmp(v, "close", 5) == 0 && *verdict == KEEP)
                    *verdict = CLOSE_AFTER;
            }
        }
        line = eol + 1;
    }
}

static int answer(int fd, size_t count)
{
    while (count) {
        size_t k = count < BATCH ? count : BATCH;
        if (green_write_all(fd, answers, k * RESPONSE_LEN, GREEN_FOREVER, NULL) < 0)
            return -1;
        count -= k;
    }
    return 0;
}

/* Answers every complete request in the buffer and keeps the incomplete rest.  Returns 0 to
 * go on reading, -1 to close. */
static int serve_buffered(struct conn *c)
{
    size_t off = 0, count = 0;
    int result = 0;
    for (;;) {
        enum verdict v;
        char *end = request_end(c->buf + off, c->buf + c->len, &v);
        if (!end)
            break;
        off = (size_t)(end - c->buf);
        if (v == KEEP) {
            count++;
            continue;
        }
        if (answer(c->fd, count) == 0)
            green_write_all(c->fd, v == BAD ? bad_request : response_close,
                            v == BAD ? sizeof bad_request - 1 : sizeof response_close - 1,
                            GREEN_FOREVER, NULL);
        return -1;
    }
    if (answer(c->fd, count) < 0)
        result = -1;
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    return result;
}

/* Room for at least one more byte; -1 when the request is too large or memory is out. */
static int make_room(struct conn *c)
{
    if (c->len < c->cap)
        return 0;
    if (c->cap >= MAX_REQUEST)
        return -1;
    char *bigger = realloc(c->buf, c->cap * 2);
    if (!bigger)
        return -1;
    c->buf = bigger;
    c->cap *= 2;
    return 0;
}

static void *handle(void *arg)
{
    struct conn *c = arg;
    for (;;) {
        if (make_room(c) < 0) {
            green_write_all(c->fd, bad_request, sizeof bad_request - 1, GREEN_FOREVER, NULL);
            break;
        }
        /* EOF, a reset, or ECANCELED when the server stops: the connection ends. */
        ssize_t n = green_read(c->fd, c->buf + c->len, c->cap - c->len, GREEN_FOREVER);
        if (n <= 0)
            break;
        c->len += (size_t)n;
        if (serve_buffered(c) < 0)
            break;
    }
    green_close(c->fd);
    free(c->buf);
    free(c);
    return NULL;
}

static int listener = -1;

/* Waits for SIGTERM, then closes the listener: main's accept fails with EBADF and main
 * shuts the hub down, which kills the handlers (their reads fail with ECANCELED). */
static void *stopper(void *arg)
{
    (void)arg;
    if (green_signal_wait(SIGTERM, GREEN_FOREVER) == 0)
        green_close(listener);
    return NULL;
}

static int spawn_handler(int fd, const green_attr_t *attr)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = malloc(sizeof *c);
    char *buf = malloc(FIRST_BUFFER);
    green_t *g = c && buf ? green_spawn(handle, c, attr) : NULL;
    if (!g) {
        free(c);
        free(buf);
        green_close(fd);
        return -1;
    }
    *c = (struct conn){.fd = fd, .len = 0, .cap = FIRST_BUFFER, .buf = buf};
    green_release(g); /* freed when it ends; shutdown kills it if it is still running */
    return 0;
}

int main(int argc, char **argv)
{
    green_attr_t attr = GREEN_ATTR_INIT;
    int port = argc == 3 ? atoi(argv[1]) : 0;
    if (port <= 0 || port > 65535 ||
        (strcmp(argv[2], "private") != 0 && strcmp(argv[2], "shared") != 0)) {
        fprintf(stderr, "usage: %s PORT private|shared\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[2], "shared") == 0)
        attr.stack_model = GREEN_STACK_SHARED;
    attr.name = "http";
    for (size_t i = 0; i < BATCH; i++)
        memcpy(answers + i * RESPONSE_LEN, response, RESPONSE_LEN);
    signal(SIGPIPE, SIG_IGN); /* a peer that is gone ends its connection, not the server */

    listener = green_listen("127.0.0.1", (unsigned)port, SOCK_STREAM, 1024, 0);
    green_t *stop = listener >= 0 ? green_spawn(stopper, NULL, NULL) : NULL;
    if (!stop) {
        fprintf(stderr, "http_hello: %s\n", green_last_error());
        return 1;
    }
    green_release(stop);
    printf("version libgreen\n");
    fflush(stdout);

    /* green_accept tries accept4 first and waits only when none is queued, so a burst of
     * connections is taken in one go before the handlers run. */
    for (;;) {
        int fd = green_accept(listener, NULL, NULL, GREEN_FOREVER);
        if (fd >= 0) {
            spawn_handler(fd, &attr);
            continue;
        }
        if (errno == EBADF) /* the stopper closed the listener */
            break;
        if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
            green_sleep(0.01); /* out of fds: let handlers finish before trying again */
            continue;
        }
        if (errno != ECONNABORTED) {
            fprintf(stderr, "http_hello: accept: %s\n", green_last_error());
            break;
        }
    }
    return green_hub_shutdown() == 0 ? 0 : 1;
}
