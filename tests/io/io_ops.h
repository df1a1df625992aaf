/* SPDX-License-Identifier: MIT */
/* Every cooperative transfer of include/green/io.h behind one signature, so the error
 * tests (test_io_errors*.c) run each path — timeout, EOF, reset, close, kill — over every
 * call instead of a sample.  An op reads into or writes from buf[0..len) on fd; the exact
 * transfers report their partial count in *done (the others set it to their result). */
#ifndef GREEN_TEST_IO_OPS_H
#define GREEN_TEST_IO_OPS_H

#include "io_util.h"

enum op_dir { OP_READ, OP_WRITE };

struct op {
    const char *name;
    enum op_dir dir;
    bool exact; /* read_exactly, write_all, send_all: the whole len or an error */
    ssize_t (*call)(int fd, void *buf, size_t len, double timeout, size_t *done);
};

#define OP_PLAIN(fn, expr)                                                                         \
    static ssize_t fn(int fd, void *buf, size_t len, double timeout, size_t *done)                 \
    {                                                                                              \
        ssize_t n_ = (expr);                                                                       \
        *done = n_ > 0 ? (size_t)n_ : 0;                                                           \
        return n_;                                                                                 \
    }

OP_PLAIN(op_read, green_read(fd, buf, len, timeout))
OP_PLAIN(op_recv, green_recv(fd, buf, len, 0, timeout))
OP_PLAIN(op_recvfrom, green_recvfrom(fd, buf, len, 0, NULL, NULL, timeout))
OP_PLAIN(op_write, green_write(fd, buf, len, timeout))
OP_PLAIN(op_send, green_send(fd, buf, len, MSG_NOSIGNAL, timeout))
OP_PLAIN(op_sendto, green_sendto(fd, buf, len, MSG_NOSIGNAL, NULL, 0, timeout))

static ssize_t op_readv(int fd, void *buf, size_t len, double timeout, size_t *done)
{
    struct iovec iov[2] = {{buf, len / 2}, {(char *)buf + len / 2, len - len / 2}};
    ssize_t n = green_readv(fd, iov, 2, timeout);
    *done = n > 0 ? (size_t)n : 0;
    return n;
}

static ssize_t op_writev(int fd, void *buf, size_t len, double timeout, size_t *done)
{
    struct iovec iov[2] = {{buf, len / 2}, {(char *)buf + len / 2, len - len / 2}};
    ssize_t n = green_writev(fd, iov, 2, timeout);
    *done = n > 0 ? (size_t)n : 0;
    return n;
}

static ssize_t op_recvmsg(int fd, void *buf, size_t len, double timeout, size_t *done)
{
    struct iovec iov = {buf, len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = green_recvmsg(fd, &msg, 0, timeout);
    *done = n > 0 ? (size_t)n : 0;
    return n;
}

static ssize_t op_sendmsg(int fd, void *buf, size_t len, double timeout, size_t *done)
{
    struct iovec iov = {buf, len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = green_sendmsg(fd, &msg, MSG_NOSIGNAL, timeout);
    *done = n > 0 ? (size_t)n : 0;
    return n;
}

static ssize_t op_read_exactly(int fd, void *buf, size_t len, double timeout, size_t *done)
{
    return green_read_exactly(fd, buf, len, timeout, done);
}

static ssize_t op_write_all(int fd, void *buf, size_t len, double timeout, size_t *done)
{
    return green_write_all(fd, buf, len, timeout, done);
}

static ssize_t op_send_all(int fd, void *buf, size_t len, double timeout, size_t *done)
{
    return green_send_all(fd, buf, len, MSG_NOSIGNAL, timeout, done);
}

/* One op per line. */
/* clang-format off */
static const struct op ops[] = {
    {"read", OP_READ, false, op_read},
    {"recv", OP_READ, false, op_recv},
    {"recvfrom", OP_READ, false, op_recvfrom},
    {"readv", OP_READ, false, op_readv},
    {"recvmsg", OP_READ, false, op_recvmsg},
    {"read_exactly", OP_READ, true, op_read_exactly},
    {"write", OP_WRITE, false, op_write},
    {"send", OP_WRITE, false, op_send},
    {"sendto", OP_WRITE, false, op_sendto},
    {"writev", OP_WRITE, false, op_writev},
    {"sendmsg", OP_WRITE, false, op_sendmsg},
    {"write_all", OP_WRITE, true, op_write_all},
    {"send_all", OP_WRITE, true, op_send_all},
};
/* clang-format on */
#define OP_COUNT (sizeof ops / sizeof ops[0])

/* A buffer for every op: a write op's len must be more than the full buffers take. */
#define OP_LEN 4096
static char op_buf[OP_LEN];

/* Records a failure naming the op when call did not fail with err (or, with err2 != 0,
 * with err2 instead). */
#define CHECK_OP_FAILS(op, rc, err, err2)                                                          \
    do {                                                                                           \
        int e_ = errno;                                                                            \
        if ((rc) != -1 || (e_ != (err) && e_ != (err2)))                                           \
            note_failure(__LINE__, "%s: rc %zd errno %d (%s), expected -1 errno %d (%s)",          \
                         (op)->name, (ssize_t)(rc), e_, strerror(e_), (err), strerror(err));       \
    } while (0)

/* A connected pair whose sv[0] is ready to be waited on in op's direction: a writer's
 * buffers are full first (small ones, so that is quick).  A Unix pair unless `tcp` (resets
 * need TCP): its buffers, once full, stay full — TCP's could gain room from a delayed ACK
 * while the op waits. */
static inline void op_pair(const struct op *op, int sv[2], bool tcp)
{
    if (tcp)
        assert_int_equal(tcp_pair(sv), 0);
    else
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    if (op->dir == OP_WRITE) {
        small_buffers(sv);
        fill(sv[0]);
    }
}

#endif /* GREEN_TEST_IO_OPS_H */
