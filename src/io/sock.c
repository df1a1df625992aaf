/* SPDX-License-Identifier: MIT */
/* Connections: accept, and connect with gevent's SO_ERROR check. */
#include <errno.h>
#include <sys/socket.h>

#include "hub/watch.h"
#include "io.h"
#include "sock_error.h"

struct accepting {
    struct sockaddr *addr;
    socklen_t *addrlen;
    int flags;
};

static ssize_t do_accept(int fd, void *a)
{
    struct accepting *ac = a;
    int s = accept4(fd, ac->addr, ac->addrlen, ac->flags);
    if (s >= 0) /* a new file under that number */
        green__fd_opened(s, ac->flags & SOCK_NONBLOCK ? GREEN__FD_SOCKET : 0);
    return s;
}

GREEN_API int green_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags,
                            double timeout)
{
    struct accepting ac = {addr, addrlen, flags};
    return (int)green__io_call(fd, GREEN_READ, true, do_accept, &ac, timeout, "green_accept4");
}

GREEN_API int green_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, double timeout)
{
    struct accepting ac = {addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC};
    return (int)green__io_call(fd, GREEN_READ, true, do_accept, &ac, timeout, "green_accept");
}

int green__sock_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -1;
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

struct connecting {
    const struct sockaddr *addr;
    socklen_t len;
};

/* gevent's loop: a pending error first, then connect again; "in progress" means wait for
 * writability, "already connected" means done. */
static ssize_t do_connect(int fd, void *a)
{
    struct connecting *c = a;
    if (green__sock_error(fd) < 0)
        return -1;
    if (connect(fd, c->addr, c->len) == 0 || errno == EISCONN)
        return 0;
    if (errno == EINPROGRESS || errno == EALREADY)
        errno = EAGAIN;
    return -1;
}

int green__connect(int fd, const struct sockaddr *addr, socklen_t len, struct green__budget *b,
                   const char *api)
{
    if (green__nonblock(fd, api) < 0)
        return -1;
    struct connecting c = {addr, len};
    return (int)green__io_loop(fd, GREEN_WRITE, do_connect, &c, b, api);
}

GREEN_API int green_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, double timeout)
{
    const char *api = "green_connect";
    struct green__budget b;
    if (green__budget_begin(&b, timeout, api) < 0)
        return -1;
    int rc = green__connect(fd, addr, addrlen, &b, api);
    green__budget_end(&b);
    return rc;
}
