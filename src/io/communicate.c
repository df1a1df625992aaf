/* SPDX-License-Identifier: MIT */
/* communicate: feed the program's stdin while draining its stdout and stderr, in one
 * greenlet, with one green_poll() over the three pipes, so a program that writes a lot
 * before reading (or the reverse) never waits on a caller that is blocked elsewhere.
 * Then the wait for its end, in the same budget. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "io.h"
#include "process.h"

#define API "green_process_communicate"
#define CHUNK (64 * 1024)

struct sink {
    char *buf; /* NULL: discard */
    size_t len, cap;
    bool keep;
};

/* write(2) without SIGPIPE: the signal is blocked around the write and, if this write
 * raised it, taken back (pipes have no MSG_NOSIGNAL). */
static ssize_t write_quiet(int fd, const void *buf, size_t len)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t n = write(fd, buf, len);
    int e = errno;
    if (n < 0 && e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return n;
}

/* One read into s; returns read's result (0: end of file). */
static ssize_t drain(int fd, struct sink *s)
{
    char scratch[4096];
    if (!s->keep)
        return read(fd, scratch, sizeof scratch);
    if (s->cap - s->len < CHUNK + 1) {
        size_t cap = s->cap ? s->cap * 2 : CHUNK * 2;
        char *b = realloc(s->buf, cap);
        if (!b) {
            errno = ENOMEM;
            return -1;
        }
        s->buf = b;
        s->cap = cap;
    }
    ssize_t n = read(fd, s->buf + s->len, CHUNK);
    if (n > 0)
        s->len += (size_t)n;
    return n;
}

/* The transfer loop: until every pipe is closed. */
static int pump(green_process_t *p, const char *in, size_t inlen, struct sink sinks[3],
                struct green__budget *b)
{
    size_t sent = 0;
    while (p->fd[0] >= 0 || p->fd[1] >= 0 || p->fd[2] >= 0) {
        struct pollfd pf[3];
        int before[3];
        for (int i = 0; i < 3; i++) {
            before[i] = pf[i].fd = p->fd[i];
            pf[i].events = i == 0 ? POLLOUT : POLLIN;
            pf[i].revents = 0;
        }
        if (green__budget_arm(b) < 0 || green_poll(pf, 3, GREEN_FOREVER) < 0)
            return green__io_refail(API);
        for (int i = 0; i < 3; i++)
            if (before[i] != p->fd[i])
                return green__fail(EBADF, API, "stream %d was closed meanwhile", i);
        if (pf[0].revents) {
            ssize_t n = write_quiet(p->fd[0], in + sent, inlen - sent);
            if (n > 0)
                sent += (size_t)n;
            if (sent == inlen || (n < 0 && errno == EPIPE)) /* done, or it stopped reading */
                green_process_close(p, 0);
            else if (n < 0 && errno != EAGAIN && errno != EINTR)
                return green__fail(errno, API, "writing stdin: %s", strerror(errno));
        }
        for (int i = 1; i < 3; i++) {
            if (!pf[i].revents)
                continue;
            ssize_t n = drain(p->fd[i], &sinks[i]);
            if (n == 0)
                green_process_close(p, i);
            else if (n < 0 && errno == ENOMEM)
                return green__fail(ENOMEM, API, "no memory for the output");
            else if (n < 0 && errno != EAGAIN && errno != EINTR)
                return green__fail(EIO, API, "reading stream %d: %s", i, strerror(errno));
        }
    }
    return 0;
}

/* Hand a sink to the caller: terminated (or NULL if nothing could be allocated). */
static void give(struct sink *s, char **out, size_t *outlen)
{
    if (s->keep && !s->buf)
        s->buf = malloc(1);
    if (s->buf)
        s->buf[s->len] = 0;
    if (out)
        *out = s->buf;
    else
        free(s->buf);
    if (outlen)
        *outlen = s->len;
}

GREEN_API int green_process_communicate(green_process_t *p, const void *in, size_t inlen,
                                        char **out, size_t *outlen, char **err, size_t *errlen,
                                        int *status, double timeout)
{
    struct sink sinks[3] = {{0}, {.keep = out != NULL}, {.keep = err != NULL}};
    int rc = green__process_check(p, API);
    if (rc == 0 && inlen && !in)
        rc = green__fail(EINVAL, API, "in is NULL");
    if (rc == 0 && inlen && p->fd[0] < 0)
        rc = green__fail(EINVAL, API, "stdin is no pipe");
    struct green__budget b;
    if (rc == 0)
        rc = green__budget_begin(&b, timeout, API);
    if (rc == 0) {
        if (p->fd[0] >= 0 && inlen == 0)
            green_process_close(p, 0);
        rc = pump(p, in, inlen, sinks, &b);
        if (rc == 0 &&
            (green__budget_arm(&b) < 0 || green_process_wait(p, GREEN_FOREVER, status) < 0))
            rc = green__io_refail(API);
        green__budget_end(&b);
    }
    int e = errno;
    give(&sinks[1], out, outlen);
    give(&sinks[2], err, errlen);
    errno = e;
    return rc;
}
