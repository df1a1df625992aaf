/* SPDX-License-Identifier: MIT */
/* The calls that make, copy, close and configure fds, keeping the fd table true (so
 * fcntl(F_GETFL) tells the program the mode it set, never ours), and close's wake-up of
 * the greenlets waiting on the fd (EBADF, before the real close: libev must never watch a
 * number that may be reused). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "patch.h"

/* The greenlets of this thread's hub waiting on fd are woken, and the table forgets fd.
 * Not from a signal handler: the hub's lists are no place for one. */
static void closing(int fd)
{
    if (!patch_in_signal)
        green__patch_closing(fd);
    patch_fd_forget(fd);
}

PATCH_API int close(int fd)
{
    if (fd >= 0)
        closing(fd);
    return NEXT(close)(fd);
}

PATCH_API int dup(int fd)
{
    int d = NEXT(dup)(fd);
    if (d >= 0)
        patch_fd_copy(fd, d);
    return d;
}

PATCH_API int dup3(int fd, int to, int flags)
{
    if (fd != to && to >= 0 && NEXT(fcntl)(fd, F_GETFD) >= 0)
        closing(to); /* dup3 closes `to` first */
    int d = NEXT(dup3)(fd, to, flags);
    if (d >= 0)
        patch_fd_copy(fd, d);
    return d;
}

PATCH_API int dup2(int fd, int to)
{
    if (fd != to && to >= 0 && NEXT(fcntl)(fd, F_GETFD) >= 0)
        closing(to);
    int d = NEXT(dup2)(fd, to);
    if (d >= 0 && d != fd)
        patch_fd_copy(fd, d);
    return d;
}

/* fcntl's argument is an int or a pointer; glibc reads it as a pointer too. */
static int patched_fcntl(int fd, int cmd, void *arg)
{
    int rc;
    unsigned st = patch_fd_peek(fd);
    switch (cmd) {
    case F_GETFL:
        rc = NEXT(fcntl)(fd, F_GETFL);
        if (rc >= 0 && (st & FD_OURS))
            rc &= ~O_NONBLOCK; /* what the program set */
        return rc;
    case F_SETFL: {
        int fl = (int)(intptr_t)arg;
        if (fl & O_NONBLOCK) {
            rc = NEXT(fcntl)(fd, F_SETFL, fl);
            if (rc == 0)
                patch_fd_user_mode(fd, true);
        } else if (st & FD_OURS) { /* the program's mode is blocking already: keep ours */
            rc = NEXT(fcntl)(fd, F_SETFL, fl | O_NONBLOCK);
        } else {
            rc = NEXT(fcntl)(fd, F_SETFL, fl);
            if (rc == 0)
                patch_fd_user_mode(fd, false);
        }
        return rc;
    }
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
        rc = NEXT(fcntl)(fd, cmd, arg);
        if (rc >= 0)
            patch_fd_copy(fd, rc);
        return rc;
    default:
        return NEXT(fcntl)(fd, cmd, arg);
    }
}

PATCH_API int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return patched_fcntl(fd, cmd, arg);
}

/* The name a program built with _FILE_OFFSET_BITS=64 calls. */
PATCH_API int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return patched_fcntl(fd, cmd, arg);
}

PATCH_API int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (req != FIONBIO || !arg)
        return NEXT(ioctl)(fd, req, arg);
    bool on = *(int *)arg != 0;
    if (!on && (patch_fd_peek(fd) & FD_OURS)) /* blocking, as the program sees it already */
        return NEXT(fcntl)(fd, F_GETFD) < 0 ? -1 : 0;
    int rc = NEXT(ioctl)(fd, req, arg);
    if (rc == 0)
        patch_fd_user_mode(fd, on);
    return rc;
}

PATCH_API int socket(int domain, int type, int protocol)
{
    int s = NEXT(socket)(domain, type, protocol);
    if (s >= 0)
        patch_fd_created(s, true, type & SOCK_NONBLOCK);
    return s;
}

PATCH_API int socketpair(int domain, int type, int protocol, int sv[2])
{
    int rc = NEXT(socketpair)(domain, type, protocol, sv);
    if (rc == 0)
        for (int i = 0; i < 2; i++)
            patch_fd_created(sv[i], true, type & SOCK_NONBLOCK);
    return rc;
}

PATCH_API int pipe2(int fds[2], int flags)
{
    int rc = NEXT(pipe2)(fds, flags);
    if (rc == 0)
        for (int i = 0; i < 2; i++)
            patch_fd_created(fds[i], false, flags & O_NONBLOCK);
    return rc;
}

PATCH_API int pipe(int fds[2])
{
    int rc = NEXT(pipe)(fds);
    if (rc == 0)
        for (int i = 0; i < 2; i++)
            patch_fd_created(fds[i], false, false);
    return rc;
}
