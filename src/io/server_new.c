/* SPDX-License-Identifier: MIT */
/* Making and destroying servers, their options' defaults, and the accessors. */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "io.h"
#include "server.h"

#define DEFAULT_BACKLOG 128
#define DEFAULT_BATCH 64
/* Long enough that a process out of fds is not woken hundreds of times a second, short
 * enough that accepting resumes soon after handlers give fds back. */
#define DEFAULT_BACKOFF 0.1
#define DEFAULT_DATAGRAM 65536

static int check_opts(const green_server_opts_t *o, const char *api)
{
    if (o->backlog < 0)
        return green__fail(EINVAL, api, "the backlog must be >= 0 (got %d)", o->backlog);
    if (isnan(o->backoff) || o->backoff < 0)
        return green__fail(EINVAL, api, "the backoff must be a number >= 0");
    if (o->pool && o->pool_size)
        return green__fail(EINVAL, api, "pool and pool_size are both set");
    if (o->flags & ~(GREEN_SERVER_KEEP_FD | GREEN_SERVER_REUSEPORT))
        return green__fail(EINVAL, api, "unknown flags %#x", (unsigned)o->flags);
    if (o->handler_attr.stack_model != GREEN_STACK_PRIVATE &&
        o->handler_attr.stack_model != GREEN_STACK_SHARED)
        return green__fail(EINVAL, api, "unknown stack model %d", (int)o->handler_attr.stack_model);
    if (o->handler_attr.stack_size > GREEN_STACK_MAX)
        return green__fail(EINVAL, api, "the handlers' stack size is above GREEN_STACK_MAX");
    return 0;
}

/* A server record for the bound socket fd (closed on failure). */
static green_server_t *make(int fd, bool dgram, const green_server_opts_t *opts, const char *api)
{
    green_server_opts_t o = GREEN_SERVER_OPTS_INIT;
    if (opts)
        o = *opts;
    green_server_t *s = NULL;
    if (check_opts(&o, api) < 0)
        goto fail;
    if (!o.backlog)
        o.backlog = DEFAULT_BACKLOG;
    if (!o.accept_batch)
        o.accept_batch = DEFAULT_BATCH;
    if (o.backoff == 0)
        o.backoff = DEFAULT_BACKOFF;
    if (!o.max_datagram)
        o.max_datagram = DEFAULT_DATAGRAM;
    if (!o.handler_attr.name)
        o.handler_attr.name = "server";
    s = calloc(1, sizeof *s);
    if (!s) {
        green__fail(ENOMEM, api, "no memory for the server");
        goto fail;
    }
    *s = (green_server_t){.fd = fd, .dgram = dgram, .owner = pthread_self(), .opts = o};
    s->addrlen = sizeof s->addr;
    if (getsockname(fd, (struct sockaddr *)&s->addr, &s->addrlen) < 0) {
        green__fail(errno, api, "getsockname: %s", strerror(errno));
        goto fail;
    }
    if (s->addr.ss_family == AF_INET)
        s->port = ntohs(((struct sockaddr_in *)&s->addr)->sin_port);
    else if (s->addr.ss_family == AF_INET6)
        s->port = ntohs(((struct sockaddr_in6 *)&s->addr)->sin6_port);
    s->changed = green_event_new();
    s->stopped = green_event_new();
    if (dgram)
        s->send_lock = green_lock_new();
    if (!s->changed || !s->stopped || (dgram && !s->send_lock)) {
        green__fail(ENOMEM, api, "no memory for the server");
        goto fail;
    }
    return s;
fail:;
    int e = errno;
    if (s) {
        if (s->changed)
            green_event_destroy(s->changed);
        if (s->stopped)
            green_event_destroy(s->stopped);
        if (s->send_lock)
            green_lock_destroy(s->send_lock);
        free(s);
    }
    close(fd);
    errno = e;
    return NULL;
}

/* Where a constructor's listener comes from: green_listen(host, port), green_listen_unix(path)
 * or, fd >= 0, the caller's own (green_server_new_fd). */
struct listener {
    int type; /* SOCK_STREAM or SOCK_DGRAM */
    const char *host;
    unsigned port;
    const char *path;
    int fd;
};

/* The caller's fd, if it is a listening stream socket, made non-blocking.  Returns it, or
 * -1 with errno naming api (fd closed). */
static int adopt(int fd, const char *api)
{
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        int e = errno;
        close(fd);
        return green__fail(e, api, "fd %d: %s", fd, strerror(e));
    }
    len = sizeof listening;
    if (type != SOCK_STREAM || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 ||
        !listening) {
        close(fd);
        return green__fail(EINVAL, api, "fd %d is not a listening stream socket", fd);
    }
    if (green__nonblock(fd, api) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* l's listening (bound) socket, or -1 with errno naming api. */
static int open_listener(const struct listener *l, const green_server_opts_t *opts, const char *api)
{
    if (l->fd >= 0)
        return adopt(l->fd, api);
    int backlog = 0; /* unused by a datagram socket */
    if (l->type == SOCK_STREAM) {
        if (opts && opts->backlog < 0) /* before listen(2) sees it */
            return green__fail(EINVAL, api, "the backlog must be >= 0");
        backlog = opts && opts->backlog ? opts->backlog : DEFAULT_BACKLOG;
    }
    int flags = opts && (opts->flags & GREEN_SERVER_REUSEPORT) ? GREEN_LISTEN_REUSEPORT : 0;
    int fd = l->path ? green_listen_unix(l->path, l->type, backlog, flags)
                     : green_listen(l->host, l->port, l->type, backlog, flags);
    return fd < 0 ? green__io_refail(api) : fd;
}

/* What the four constructors share: the handler (one of the two kinds) checked, the
 * listener opened, the record made. */
static green_server_t *server_new(const struct listener *l, green_server_fn handler,
                                  green_dgram_fn dgram_handler, void *arg,
                                  const green_server_opts_t *opts, const char *api)
{
    if (!handler && !dgram_handler) {
        if (l->fd >= 0)
            close(l->fd);
        return green__fail(EINVAL, api, "the handler is NULL"), NULL;
    }
    int fd = open_listener(l, opts, api);
    if (fd < 0)
        return NULL;
    green_server_t *s = make(fd, l->type == SOCK_DGRAM, opts, api);
    if (s) {
        s->handler = handler;
        s->dgram_handler = dgram_handler;
        s->arg = arg;
    }
    return s;
}

GREEN_API green_server_t *green_server_new(const char *host, unsigned port, green_server_fn handler,
                                           void *arg, const green_server_opts_t *opts)
{
    struct listener l = {.type = SOCK_STREAM, .host = host, .port = port, .fd = -1};
    return server_new(&l, handler, NULL, arg, opts, "green_server_new");
}

GREEN_API green_server_t *green_server_new_unix(const char *path, green_server_fn handler,
                                                void *arg, const green_server_opts_t *opts)
{
    struct listener l = {.type = SOCK_STREAM, .path = path, .fd = -1};
    return server_new(&l, handler, NULL, arg, opts, "green_server_new_unix");
}

GREEN_API green_server_t *green_server_new_fd(int listen_fd, green_server_fn handler, void *arg,
                                              const green_server_opts_t *opts)
{
    const char *api = "green_server_new_fd";
    if (listen_fd < 0)
        return green__fail(EBADF, api, "fd %d is not open", listen_fd), NULL;
    struct listener l = {.type = SOCK_STREAM, .fd = listen_fd};
    return server_new(&l, handler, NULL, arg, opts, api);
}

GREEN_API green_server_t *green_server_new_dgram(const char *host, unsigned port,
                                                 green_dgram_fn handler, void *arg,
                                                 const green_server_opts_t *opts)
{
    struct listener l = {.type = SOCK_DGRAM, .host = host, .port = port, .fd = -1};
    return server_new(&l, NULL, handler, arg, opts, "green_server_new_dgram");
}

int green__server_check(const green_server_t *s, const char *api)
{
    if (!s)
        return green__fail(EINVAL, api, "the server is NULL");
    if (!pthread_equal(s->owner, pthread_self()))
        return green__fail(EXDEV, api, "the server belongs to another thread's hub");
    return 0;
}

GREEN_API int green_server_destroy(green_server_t *s)
{
    const char *api = "green_server_destroy";
    if (green__server_check(s, api) < 0)
        return -1;
    if (s->state == SERVER_RUNNING || s->state == SERVER_STOPPING)
        return green__fail(EBUSY, api, "the server is running: stop it first");
    if (green_event_destroy(s->stopped) < 0)
        return green__fail(EBUSY, api, "a greenlet still waits in green_server_serve_forever");
    if (s->fd >= 0)
        green_close(s->fd);
    green_event_destroy(s->changed);
    if (s->send_lock)
        green_lock_destroy(s->send_lock);
    free(s);
    return 0;
}

GREEN_API int green_server_fd(const green_server_t *s) { return s ? s->fd : -1; }

GREEN_API unsigned green_server_port(const green_server_t *s) { return s ? s->port : 0; }

GREEN_API int green_server_address(const green_server_t *s, struct sockaddr *addr, socklen_t *len)
{
    if (!s || !addr || !len)
        return green__fail(EINVAL, "green_server_address", "a NULL argument");
    memcpy(addr, &s->addr, *len < s->addrlen ? *len : s->addrlen);
    *len = s->addrlen;
    return 0;
}

GREEN_API int green_server_stats(const green_server_t *s, green_server_stats_t *out)
{
    if (green__server_check(s, "green_server_stats") < 0)
        return -1;
    if (!out)
        return green__fail(EINVAL, "green_server_stats", "out is NULL");
    *out = s->stats;
    out->active = s->active;
    return 0;
}
