/* SPDX-License-Identifier: MIT */
/* read, write, readv, writev, pread, pwrite: one attempt each, run through park.c.  A
 * write on an fd the program believes blocking writes everything, as libc's would (a
 * pipe or a stream socket blocks until all of it went); a timeout or a kill stops it with
 * the count written so far. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "patch.h"

struct xfer {
    void *buf;
    size_t len;
    off_t off;
    const struct iovec *iov;
    int iovcnt;
    struct patch_progress pr;
};

static ssize_t op_read(int fd, void *a)
{
    struct xfer *x = a;
    return NEXT(read)(fd, x->buf, x->len);
}

static ssize_t op_write(int fd, void *a)
{
    struct xfer *x = a;
    ssize_t n = NEXT(write)(fd, (char *)x->buf + x->pr.done, x->len - x->pr.done);
    return patch_progress_step(&x->pr, x->len, n);
}

static ssize_t op_pread(int fd, void *a)
{
    struct xfer *x = a;
    return NEXT(pread)(fd, x->buf, x->len, x->off);
}

static ssize_t op_pwrite(int fd, void *a)
{
    struct xfer *x = a;
    ssize_t n = NEXT(pwrite)(fd, (char *)x->buf + x->pr.done, x->len - x->pr.done,
                             x->off + (off_t)x->pr.done);
    return patch_progress_step(&x->pr, x->len, n);
}

static ssize_t op_readv(int fd, void *a)
{
    struct xfer *x = a;
    return NEXT(readv)(fd, x->iov, x->iovcnt);
}

size_t patch_iov_total(const struct iovec *iov, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    return total;
}

struct iovec *patch_iov_rest(const struct iovec *iov, int n, size_t skip, int *left)
{
    int i = 0;
    while (i < n && skip >= iov[i].iov_len)
        skip -= iov[i++].iov_len;
    struct iovec *rest = malloc((size_t)(n - i + 1) * sizeof *rest);
    if (!rest)
        return NULL;
    memcpy(rest, iov + i, (size_t)(n - i) * sizeof *rest);
    if (i < n) {
        rest[0].iov_base = (char *)rest[0].iov_base + skip;
        rest[0].iov_len -= skip;
    }
    *left = n - i;
    return rest;
}

static ssize_t op_writev(int fd, void *a)
{
    struct xfer *x = a;
    if (x->pr.done == 0)
        return patch_progress_step(&x->pr, x->len, NEXT(writev)(fd, x->iov, x->iovcnt));
    int left;
    struct iovec *rest = patch_iov_rest(x->iov, x->iovcnt, x->pr.done, &left);
    if (!rest)
        return (ssize_t)x->pr.done; /* ENOMEM: report what went, as a partial write */
    ssize_t n = NEXT(writev)(fd, rest, left);
    int e = errno;
    free(rest);
    errno = e;
    return patch_progress_step(&x->pr, x->len, n);
}

PATCH_API ssize_t read(int fd, void *buf, size_t len)
{
    struct xfer x = {.buf = buf, .len = len};
    return patch_read(fd, POLLIN, op_read, &x);
}

PATCH_API ssize_t write(int fd, const void *buf, size_t len)
{
    struct xfer x = {.buf = (void *)buf, .len = len};
    return patch_io(fd, POLLOUT, op_write, &x, &x.pr);
}

PATCH_API ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
    struct xfer x = {.buf = buf, .len = len, .off = off};
    return patch_read(fd, POLLIN, op_pread, &x);
}

PATCH_API ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    struct xfer x = {.buf = (void *)buf, .len = len, .off = off};
    return patch_io(fd, POLLOUT, op_pwrite, &x, &x.pr);
}

/* The large-file names (a program built with _FILE_OFFSET_BITS=64 calls these). */
PATCH_API ssize_t pread64(int fd, void *buf, size_t len, off_t off)
{
    return pread(fd, buf, len, off);
}

PATCH_API ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    return pwrite(fd, buf, len, off);
}

PATCH_API ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    struct xfer x = {.iov = iov, .iovcnt = iovcnt};
    return patch_read(fd, POLLIN, op_readv, &x);
}

PATCH_API ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    struct xfer x = {.iov = iov, .iovcnt = iovcnt};
    if (iovcnt > 0 && iov)
        x.len = patch_iov_total(iov, iovcnt);
    return patch_io(fd, POLLOUT, op_writev, &x, &x.pr);
}
