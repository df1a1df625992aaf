/* SPDX-License-Identifier: MIT */
/* Addresses to names: getnameinfo on the hub's threadpool, as green_getaddrinfo runs
 * getaddrinfo (gevent's default resolver does both on its pool).  A fully numeric answer
 * needs neither the resolver's files nor its servers, so it is made at once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "green/threadpool.h"
#include "io.h"

/* What the worker reads and writes, on the heap: a caller that gives up leaves it to the
 * still-running task, and drop() frees it. */
struct reverse {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int flags;
    socklen_t hostlen, servlen;
    int rc;
    int sys_errno;     /* for EAI_SYSTEM */
    char *host, *serv; /* hostlen and servlen bytes, or NULL */
};

static void reverse_free(struct reverse *r)
{
    free(r->host);
    free(r->serv);
    free(r);
}

static void *run_reverse(void *arg)
{
    struct reverse *r = arg;
    r->rc = getnameinfo((struct sockaddr *)&r->addr, r->addrlen, r->host, r->hostlen, r->serv,
                        r->servlen, r->flags);
    r->sys_errno = errno;
    return r;
}

static void drop_reverse(void *arg, void *result)
{
    (void)result;
    reverse_free(arg);
}

GREEN_API int green_getnameinfo(const struct sockaddr *addr, socklen_t addrlen, char *host,
                                socklen_t hostlen, char *serv, socklen_t servlen, int flags,
                                double timeout, int *gai_error)
{
    const char *api = "green_getnameinfo";
    if (gai_error)
        *gai_error = 0;
    if (!addr || addrlen == 0 || addrlen > sizeof(struct sockaddr_storage))
        return green__fail(EINVAL, api, "addr is NULL or addrlen %u is out of range",
                           (unsigned)addrlen);
    if ((!host || !hostlen) && (!serv || !servlen))
        return green__fail(EINVAL, api, "neither a host nor a service buffer");
    bool numeric = (flags & NI_NUMERICHOST || !host || !hostlen) &&
                   (flags & NI_NUMERICSERV || !serv || !servlen);
    int rc, sys = 0;
    if (!numeric && green__cares_selected())
        return green__cares_getnameinfo(addr, addrlen, host, hostlen, serv, servlen, flags,
                                        timeout, gai_error, api);
    if (numeric) {
        rc = getnameinfo(addr, addrlen, host, hostlen, serv, servlen, flags);
        sys = errno;
    } else {
        struct reverse *r = calloc(1, sizeof *r);
        if (r) {
            memcpy(&r->addr, addr, addrlen);
            r->addrlen = addrlen;
            r->flags = flags;
            r->hostlen = host ? hostlen : 0;
            r->servlen = serv ? servlen : 0;
            if ((r->hostlen && !(r->host = malloc(r->hostlen))) ||
                (r->servlen && !(r->serv = malloc(r->servlen)))) {
                reverse_free(r);
                r = NULL;
            }
        }
        if (!r)
            return green__fail(ENOMEM, api, "no memory for the lookup");
        if (green_threadpool_run(run_reverse, r, drop_reverse, timeout, NULL) < 0) {
            int e = errno;
            if (e != ETIMEDOUT && e != ECANCELED && e != EINTR)
                reverse_free(r); /* not submitted: still ours */
            errno = e;
            return green__io_refail(api);
        }
        rc = r->rc;
        sys = r->sys_errno;
        if (rc == 0 && r->hostlen)
            memcpy(host, r->host, strlen(r->host) + 1);
        if (rc == 0 && r->servlen)
            memcpy(serv, r->serv, strlen(r->serv) + 1);
        reverse_free(r);
    }
    if (rc == 0)
        return 0;
    if (gai_error)
        *gai_error = rc;
    return green__fail(green__gai_errno(rc, sys), api, "%s", gai_strerror(rc));
}
