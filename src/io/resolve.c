/* SPDX-License-Identifier: MIT */
/* Names: getaddrinfo on the hub's threadpool (gevent's default resolver), and connecting
 * by name, trying each address in turn within one budget for the whole (gevent's
 * create_connection, whose timeout covers each attempt; ours covers resolution too). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "green/threadpool.h"
#include "io.h"

/* Everything the worker reads or writes lives here, on the heap: if the caller gives up,
 * the task still runs and drop() frees it afterwards. */
struct lookup {
    char *host, *service;
    struct addrinfo hints;
    bool has_hints;
    struct addrinfo *res;
    int rc;
    int sys_errno; /* for EAI_SYSTEM */
};

static void lookup_free(struct lookup *l)
{
    if (l->res)
        freeaddrinfo(l->res);
    free(l->host);
    free(l->service);
    free(l);
}

static void *run_lookup(void *arg)
{
    struct lookup *l = arg;
    l->rc = getaddrinfo(l->host, l->service, l->has_hints ? &l->hints : NULL, &l->res);
    l->sys_errno = errno;
    if (l->rc != 0)
        l->res = NULL;
    return l;
}

static void drop_lookup(void *arg, void *result)
{
    (void)result;
    lookup_free(arg);
}

int green__gai_errno(int gai, int sys)
{
    switch (gai) {
    case EAI_NONAME:
    case EAI_NODATA:
    case EAI_ADDRFAMILY:
    case EAI_SERVICE:
        return ENOENT;
    case EAI_AGAIN:
    case EAI_FAIL:
        return EHOSTUNREACH;
    case EAI_MEMORY:
        return ENOMEM;
    case EAI_SYSTEM:
        return sys ? sys : EIO;
    default: /* EAI_BADFLAGS, EAI_FAMILY, EAI_SOCKTYPE */
        return EINVAL;
    }
}

static char *dup_or_null(const char *s, bool *ok)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *ok = false;
    return d;
}

static int resolve(const char *host, const char *service, const struct addrinfo *hints,
                   struct addrinfo **res, double timeout, int *gai_error, const char *api)
{
    if (gai_error)
        *gai_error = 0;
    if (!res)
        return green__fail(EINVAL, api, "res is NULL");
    *res = NULL;
    if (!host && !service)
        return green__fail(EINVAL, api, "host and service are both NULL");
    struct lookup *l = calloc(1, sizeof *l);
    if (!l)
        return green__fail(ENOMEM, api, "no memory for the lookup");
    bool ok = true;
    l->host = dup_or_null(host, &ok);
    l->service = dup_or_null(service, &ok);
    if (hints) {
        l->hints = *hints;
        l->hints.ai_addr = NULL; /* getaddrinfo reads only the first four fields */
        l->hints.ai_canonname = NULL;
        l->hints.ai_next = NULL;
        l->has_hints = true;
    }
    if (!ok) {
        lookup_free(l);
        return green__fail(ENOMEM, api, "no memory for the lookup");
    }
    /* A numeric host needs neither the resolver's files nor its servers: no worker. */
    struct addrinfo numeric = l->hints;
    numeric.ai_flags |= AI_NUMERICHOST;
    if (host && l->has_hints && getaddrinfo(host, service, &numeric, &l->res) == 0)
        l->rc = 0;
    else if (green__cares_selected()) {
        lookup_free(l);
        return green__cares_getaddrinfo(host, service, hints, res, timeout, gai_error, api);
    } else if (green_threadpool_run(run_lookup, l, drop_lookup, timeout, NULL) < 0) {
        int e = errno;
        if (e != ETIMEDOUT && e != ECANCELED && e != EINTR)
            lookup_free(l); /* not submitted: still ours */
        errno = e;
        return green__io_refail(api);
    }
    int rc = l->rc;
    if (rc != 0) {
        int e = green__gai_errno(rc, l->sys_errno);
        if (gai_error)
            *gai_error = rc;
        lookup_free(l);
        return green__fail(e, api, "%s%s%s: %s", host ? host : "", service ? ":" : "",
                           service ? service : "", gai_strerror(rc));
    }
    *res = l->res;
    l->res = NULL;
    lookup_free(l);
    return 0;
}

GREEN_API int green_getaddrinfo(const char *host, const char *service,
                                const struct addrinfo *hints, struct addrinfo **res,
                                double timeout, int *gai_error)
{
    return resolve(host, service, hints, res, timeout, gai_error, "green_getaddrinfo");
}

GREEN_API int green_connect_name(const char *host, unsigned port, int type, double timeout)
{
    const char *api = "green_connect_name";
    if (!host)
        return green__fail(EINVAL, api, "host is NULL");
    if (port > 65535)
        return green__fail(EINVAL, api, "port %u is above 65535", port);
    struct green__budget b;
    if (green__budget_begin(&b, timeout, api) < 0)
        return -1;
    if (green__budget_arm(&b) < 0)
        return green__io_refail(api);
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = type,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    int fd = -1;
    if (resolve(host, service, &hints, &list, GREEN_FOREVER, NULL, api) == 0) {
        errno = ENOENT; /* an empty list (getaddrinfo never returns one) */
        for (struct addrinfo *ai = list; ai && fd < 0; ai = ai->ai_next) {
            fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
            if (fd < 0) {
                green__fail(errno, api, "socket: %s", strerror(errno));
                continue;
            }
            green__fd_opened_socket(fd);
            if (green__connect(fd, ai->ai_addr, ai->ai_addrlen, &b, api) == 0)
                break;
            int e = errno;
            green_close(fd); /* announced: the connect's wait kept fd's registration */
            fd = -1;
            errno = e;
            if (e == ETIMEDOUT || e == ECANCELED || e == EINTR || e == EDEADLK || e == EPERM)
                break; /* the whole call is over, not just this address */
        }
        int e = errno;
        freeaddrinfo(list);
        errno = e;
    }
    green__budget_end(&b);
    return fd;
}

GREEN_API int green_connect_unix(const char *path, int type, double timeout)
{
    const char *api = "green_connect_unix";
    struct sockaddr_un sa;
    int len = green__unix_addr(&sa, path, api);
    if (len < 0)
        return -1;
    int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return green__fail(errno, api, "socket: %s", strerror(errno));
    green__fd_opened_socket(fd);
    if (green_connect(fd, (struct sockaddr *)&sa, (socklen_t)len, timeout) == 0)
        return fd;
    int e = errno;
    green_close(fd); /* announced: the connect's wait kept fd's registration */
    errno = e;
    return -1;
}
