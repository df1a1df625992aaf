/* SPDX-License-Identifier: MIT */
/* What the I/O tests share: socket pairs (Unix and loopback TCP), an RST close, and a
 * buffer filler for partial-write paths. */
#ifndef GREEN_TEST_IO_UTIL_H
#define GREEN_TEST_IO_UTIL_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "hubtest.h"

/* A connected loopback TCP pair through a listener on an ephemeral port. */
static inline int tcp_pair(int sv[2])
{
    int l = green_listen("127.0.0.1", 0, SOCK_STREAM, 8, 0);
    if (l < 0)
        return -1;
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int rc = -1;
    if (getsockname(l, (struct sockaddr *)&a, &len) == 0 &&
        (sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
        if (connect(sv[0], (struct sockaddr *)&a, len) == 0 &&
            (sv[1] = green_accept(l, NULL, NULL, 1.0)) >= 0)
            rc = 0;
        else
            close(sv[0]);
    }
    close(l);
    return rc;
}

/* Close fd with an RST instead of a FIN: the peer's next read fails with ECONNRESET. */
static inline void close_reset(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* Write into fd (non-blocking) until its buffers are full; returns the bytes written. */
static inline size_t fill(int fd)
{
    static char junk[65536];
    size_t total = 0;
    ssize_t n;
    while ((n = send(fd, junk, sizeof junk, MSG_DONTWAIT)) > 0)
        total += (size_t)n;
    return total;
}

/* Make both ends' buffers small, so partial writes come quickly. */
static inline void small_buffers(int sv[2])
{
    int sz = 4096;
    for (int i = 0; i < 2; i++) {
        setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    }
}

#endif /* GREEN_TEST_IO_UTIL_H */
