/* SPDX-License-Identifier: MIT */
/* The _FORTIFY_SOURCE variants: a program built with -D_FORTIFY_SOURCE calls these
 * instead of read, recv, poll...  The same buffer checks as glibc's, then the patched
 * call. */
#include "patch.h"

extern void __chk_fail(void) __attribute__((noreturn));

PATCH_API ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    if (len > buflen)
        __chk_fail();
    return read(fd, buf, len);
}

PATCH_API ssize_t __pread_chk(int fd, void *buf, size_t len, off_t off, size_t buflen)
{
    if (len > buflen)
        __chk_fail();
    return pread(fd, buf, len, off);
}

PATCH_API ssize_t __pread64_chk(int fd, void *buf, size_t len, off_t off, size_t buflen)
{
    if (len > buflen)
        __chk_fail();
    return pread(fd, buf, len, off);
}

PATCH_API ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    if (len > buflen)
        __chk_fail();
    return recv(fd, buf, len, flags);
}

PATCH_API ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                                 __SOCKADDR_ARG addr, socklen_t *addrlen)
{
    if (len > buflen)
        __chk_fail();
    return recvfrom(fd, buf, len, flags, addr, addrlen);
}

PATCH_API int __poll_chk(struct pollfd *fds, nfds_t n, int ms, size_t fdslen)
{
    if (fdslen / sizeof *fds < n)
        __chk_fail();
    return poll(fds, n, ms);
}

PATCH_API int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
                          const sigset_t *mask, size_t fdslen)
{
    if (fdslen / sizeof *fds < n)
        __chk_fail();
    return ppoll(fds, n, ts, mask);
}
