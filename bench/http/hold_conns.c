/* SPDX-License-Identifier: MIT */
/* bench/http/hold_conns.c: the client of the HTTP benchmark's concurrency part
 * (bench/http_bench.py).  Opens N keep-alive connections to 127.0.0.1:PORT one after another,
 * sends one GET on each and reads its answer, so that when it prints "ready N SECONDS" the
 * server has accepted and served every connection and holds them all, idle.  It keeps them
 * open until its standard input ends (the driver closes the pipe), then resets them all
 * (SO_LINGER 0: no TIME_WAIT left behind) and exits.
 *
 *   hold_conns PORT N
 *
 * It raises its RLIMIT_NOFILE to the hard limit.  Every answer must end with the 12-byte body
 * "hello world\n", which every server of the benchmark sends.  Exit status 1 (with the
 * reason on stderr) when a connection cannot be opened or gets no answer within 10 s.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char request[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
static const char body[] = "hello world\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fail(int i, const char *what)
{
    fprintf(stderr, "hold_conns: connection %d: %s: %s\n", i, what,
            errno ? strerror(errno) : "end of stream");
    return -1;
}

/* Reads until the answer's body has arrived; 0, or -1 with the reason printed. */
static int read_answer(int s, int i)
{
    char buf[4096];
    size_t got = 0;
    for (;;) {
        errno = 0;
        ssize_t r = read(s, buf + got, sizeof buf - 1 - got);
        if (r <= 0)
            return fail(i, errno == EAGAIN ? "no answer within 10 s" : "read");
        got += (size_t)r;
        buf[got] = '\0';
        if (got >= sizeof body - 1 && !memcmp(buf + got - (sizeof body - 1), body, sizeof body - 1))
            return 0;
        if (got == sizeof buf - 1) {
            errno = 0;
            return fail(i, "answer too long or without the expected body");
        }
    }
}

/* A connected socket whose one request has been answered, or -1 (reason printed). */
static int open_one(const struct sockaddr_in *addr, int i)
{
    static const struct timeval timeout = {10, 0};
    static const struct linger reset = {1, 0};
    int one = 1;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return fail(i, "socket");
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(s, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(s, (const struct sockaddr *)addr, sizeof *addr)) {
        fail(i, "connect");
        close(s);
        return -1;
    }
    if (write(s, request, sizeof request - 1) != (ssize_t)(sizeof request - 1)) {
        fail(i, "write");
        close(s);
        return -1;
    }
    if (read_answer(s, i)) {
        close(s);
        return -1;
    }
    return s;
}

int main(int argc, char **argv)
{
    int port = argc == 3 ? atoi(argv[1]) : 0, n = argc == 3 ? atoi(argv[2]) : 0;
    if (port <= 0 || port > 65535 || n <= 0) {
        fprintf(stderr, "usage: %s PORT N\n", argv[0]);
        return 2;
    }
    struct rlimit lim;
    if (!getrlimit(RLIMIT_NOFILE, &lim) && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    int *fds = malloc(sizeof *fds * (size_t)n);
    if (!fds) {
        perror("hold_conns: malloc");
        return 1;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    double start = now_s();
    for (int i = 0; i < n; i++) {
        fds[i] = open_one(&addr, i);
        if (fds[i] < 0)
            return 1;
    }
    printf("ready %d %.3f\n", n, now_s() - start);
    fflush(stdout);

    char c;
    for (;;) { /* until end of input: only the pipe's end means "let go" */
        ssize_t r = read(STDIN_FILENO, &c, 1);
        if (r == 0 || (r < 0 && errno != EINTR))
            break;
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    return 0;
}
