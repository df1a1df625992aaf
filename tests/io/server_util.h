/* SPDX-License-Identifier: MIT */
/* What the server tests share (tests/io/test_server_*.c): servers on an ephemeral
 * loopback port, clients in greenlets, the process's fd count, a listener's accept queue,
 * and waiting (bounded) for a condition of the server's. */
#ifndef GREEN_TEST_SERVER_UTIL_H
#define GREEN_TEST_SERVER_UTIL_H

#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "hubtest.h"

#define IO_BOUND 10.0 /* a bound on every wait, so a broken server fails instead of hanging */

/* A stream server on 127.0.0.1, an ephemeral port, handlers of `model`. */
static inline green_server_t *server_on(green_server_fn fn, void *arg, green_server_opts_t *o,
                                        int model)
{
    green_server_opts_t d = GREEN_SERVER_OPTS_INIT;
    if (!o)
        o = &d;
    o->handler_attr.stack_model = model;
    green_server_t *s = green_server_new("127.0.0.1", 0, fn, arg, o);
    if (!s)
        note_failure(__LINE__, "green_server_new: %s", green_last_error());
    return s;
}

/* A cooperative client connection to 127.0.0.1:port, or -1 (errno). */
static inline int dial(unsigned port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (s < 0 || green_connect(s, (struct sockaddr *)&a, sizeof a, IO_BOUND) != 0) {
        int e = errno;
        if (s >= 0)
            close(s);
        errno = e;
        return -1;
    }
    return s;
}

/* A plain blocking connection (the kernel completes it from the backlog, no accept
 * needed), or -1 (errno). */
static inline int dial_blocking(unsigned port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        if (s >= 0)
            close(s);
        errno = e;
        return -1;
    }
    return s;
}

/* The rx_queue column of the IPv4 listener on port in /proc/net/tcp: for a listening
 * socket, the connections waiting to be accepted.  -1 if not found. */
static inline long accept_queue_proc(unsigned port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512];
    long n = -1;
    while (f && n < 0 && fgets(line, sizeof line, f)) {
        unsigned lport, state;
        unsigned long tx, rx;
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %lx:%lx", &lport, &state, &tx, &rx) == 4 &&
            lport == port && state == 0x0A /* TCP_LISTEN */)
            n = (long)rx;
    }
    if (f)
        fclose(f);
    return n;
}

/* Connections waiting in listener fd's accept queue: TCP_INFO of a listening socket, or,
 * where TCP_INFO comes back short (qemu-user passes 4 bytes), /proc/net/tcp. */
static inline long accept_queue(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return -1;
    if (len >= offsetof(struct tcp_info, tcpi_unacked) + sizeof ti.tcpi_unacked)
        return (long)ti.tcpi_unacked;
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &al) != 0 || a.sin_family != AF_INET)
        return -1;
    return accept_queue_proc(ntohs(a.sin_port));
}

/* Yield (1 ms sleeps) until the listener's queue holds n, within IO_BOUND: the handshakes
 * of blocking connects complete in the kernel's softirq, not inside connect(). */
static inline bool queue_reaches(int fd, long n)
{
    for (double end = monotonic_seconds() + IO_BOUND; monotonic_seconds() < end;) {
        if (accept_queue(fd) == n)
            return true;
        green_sleep(0.001);
    }
    return false;
}

static inline long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static inline green_server_stats_t stats_of(green_server_t *s)
{
    green_server_stats_t st = {0};
    if (green_server_stats(s, &st) != 0)
        note_failure(__LINE__, "green_server_stats: %s", green_last_error());
    return st;
}

#endif /* GREEN_TEST_SERVER_UTIL_H */
