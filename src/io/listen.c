/* SPDX-License-Identifier: MIT */
/* Opening listening (and bound datagram) sockets: gevent's _tcp_listener and _udp_socket,
 * and Unix sockets.  Only numeric addresses: nothing here may block. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/error.h"
#include "io.h"

static int setopt(int fd, int level, int name, const char *what, const char *api)
{
    int one = 1;
    if (setsockopt(fd, level, name, &one, sizeof one) == 0)
        return 0;
    return green__fail(errno, api, "cannot set %s: %s", what, strerror(errno));
}

static int open_bound(const struct sockaddr *addr, socklen_t len, int type, int backlog,
                      int flags, const char *api)
{
    if (!addr)
        return green__fail(EINVAL, api, "the address is NULL");
    if (backlog < 0)
        return green__fail(EINVAL, api, "the backlog must be >= 0 (got %d)", backlog);
    if (flags & ~(GREEN_LISTEN_REUSEPORT | GREEN_LISTEN_V6ONLY))
        return green__fail(EINVAL, api, "unknown flags %#x", (unsigned)flags);
    int fd = socket(addr->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return green__fail(errno, api, "socket: %s", strerror(errno));
    bool inet = addr->sa_family == AF_INET || addr->sa_family == AF_INET6;
    if ((inet && setopt(fd, SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", api) < 0) ||
        ((flags & GREEN_LISTEN_REUSEPORT) &&
         setopt(fd, SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", api) < 0) ||
        ((flags & GREEN_LISTEN_V6ONLY) && addr->sa_family == AF_INET6 &&
         setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", api) < 0))
        goto fail;
    if (bind(fd, addr, len) < 0) {
        green__fail(errno, api, "bind: %s", strerror(errno));
        goto fail;
    }
    if (type != SOCK_DGRAM && listen(fd, backlog) < 0) {
        green__fail(errno, api, "listen: %s", strerror(errno));
        goto fail;
    }
    return fd;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

GREEN_API int green_listen_addr(const struct sockaddr *addr, socklen_t addrlen, int type,
                                int backlog, int flags)
{
    return open_bound(addr, addrlen, type, backlog, flags, "green_listen_addr");
}

GREEN_API int green_listen(const char *host, unsigned port, int type, int backlog, int flags)
{
    const char *api = "green_listen";
    if (port > 65535)
        return green__fail(EINVAL, api, "port %u is above 65535", port);
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    if (!host || !*host || inet_pton(AF_INET, host, &v4.sin_addr) == 1)
        return open_bound((struct sockaddr *)&v4, sizeof v4, type, backlog, flags, api);
    if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1)
        return open_bound((struct sockaddr *)&v6, sizeof v6, type, backlog, flags, api);
    return green__fail(EINVAL, api, "'%s' is not a numeric IPv4 or IPv6 address", host);
}

int green__unix_addr(struct sockaddr_un *sa, const char *path, const char *api)
{
    if (!path || !*path)
        return green__fail(EINVAL, api, "the path is NULL or empty");
    size_t n = strlen(path);
    if (n >= sizeof sa->sun_path)
        return green__fail(ENAMETOOLONG, api, "the path is longer than %zu bytes",
                           sizeof sa->sun_path - 1);
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, n);
    if (path[0] == '@')
        sa->sun_path[0] = 0; /* Linux's abstract namespace: the name's length counts */
    return (int)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] != '@'));
}

GREEN_API int green_listen_unix(const char *path, int type, int backlog, int flags)
{
    const char *api = "green_listen_unix";
    struct sockaddr_un sa;
    int len = green__unix_addr(&sa, path, api);
    if (len < 0)
        return -1;
    return open_bound((struct sockaddr *)&sa, (socklen_t)len, type, backlog, flags, api);
}
