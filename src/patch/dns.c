/* SPDX-License-Identifier: MIT */
/* Name resolution on the hub's threadpool: getaddrinfo through green_getaddrinfo(), and
 * getnameinfo and gethostbyname_r as tasks of their own.  glibc's resolver inside them
 * (its sockets, its poll) cannot be patched — it calls the system directly — so it runs
 * on a worker thread and the greenlet waits for the answer.  Numeric lookups never block
 * and stay libc's.  Everything a worker writes is its own heap memory, copied to the
 * caller's buffers only when the caller is still there (a killed caller leaves the task
 * to finish and free itself). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "green/io.h"
#include "green/threadpool.h"
#include "patch.h"

/* EAI_SYSTEM with errno for what is not the resolver's failure (a kill, a timeout). */
static int gai_system(int e)
{
    errno = e;
    return EAI_SYSTEM;
}

PATCH_API int getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                          struct addrinfo **res)
{
    if ((hints && (hints->ai_flags & AI_NUMERICHOST)) || !host || !patch_gate())
        return NEXT(getaddrinfo)(host, service, hints, res);
    int saved = errno, gai = 0;
    if (green_getaddrinfo(host, service, hints, res, GREEN_FOREVER, &gai) == 0) {
        errno = saved;
        return 0;
    }
    return gai ? gai : gai_system(errno);
}

/* ---- getnameinfo --------------------------------------------------------------------- */

struct nameinfo {
    struct sockaddr_storage sa;
    socklen_t salen;
    char *host, *serv; /* the worker's buffers, as long as the caller's */
    socklen_t hostlen, servlen;
    int flags, rc, sys_errno;
};

static void *run_nameinfo(void *arg)
{
    struct nameinfo *n = arg;
    n->rc = NEXT(getnameinfo)((struct sockaddr *)&n->sa, n->salen, n->host, n->hostlen, n->serv,
                              n->servlen, n->flags);
    n->sys_errno = errno;
    return n;
}

static void nameinfo_free(void *arg, void *result)
{
    (void)result;
    struct nameinfo *n = arg;
    free(n->host);
    free(n->serv);
    free(n);
}

PATCH_API int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen,
                          char *serv, socklen_t servlen, int flags)
{
    bool numeric = (!host || (flags & NI_NUMERICHOST)) && (!serv || (flags & NI_NUMERICSERV));
    if (numeric || !sa || salen > sizeof(struct sockaddr_storage) || !patch_gate())
        return NEXT(getnameinfo)(sa, salen, host, hostlen, serv, servlen, flags);
    int saved = errno;
    struct nameinfo *n = calloc(1, sizeof *n);
    if (!n || (host && hostlen && !(n->host = malloc(hostlen))) ||
        (serv && servlen && !(n->serv = malloc(servlen)))) {
        if (n)
            nameinfo_free(n, NULL);
        return EAI_MEMORY;
    }
    memcpy(&n->sa, sa, salen);
    n->salen = salen;
    n->hostlen = n->host ? hostlen : 0;
    n->servlen = n->serv ? servlen : 0;
    n->flags = flags;
    if (green_threadpool_run(run_nameinfo, n, nameinfo_free, GREEN_FOREVER, NULL) < 0) {
        int e = errno;
        if (e == EPERM || e == EAGAIN || e == ENOMEM) /* not submitted: still ours */
            nameinfo_free(n, NULL);
        return gai_system(e);
    }
    int rc = n->rc;
    if (rc == 0) {
        if (n->host)
            memcpy(host, n->host, hostlen);
        if (n->serv)
            memcpy(serv, n->serv, servlen);
        errno = saved;
    } else if (rc == EAI_SYSTEM) {
        errno = n->sys_errno;
    }
    nameinfo_free(n, NULL);
    return rc;
}

/* ---- gethostbyname_r, gethostbyname -------------------------------------------------- */

struct hostlookup {
    char *name;
    struct hostent ent, *result;
    char *buf;
    size_t buflen;
    int rc, herr;
};

static void *run_hostlookup(void *arg)
{
    struct hostlookup *l = arg;
    l->rc = NEXT(gethostbyname_r)(l->name, &l->ent, l->buf, l->buflen, &l->result, &l->herr);
    return l;
}

static void hostlookup_free(void *arg, void *result)
{
    (void)result;
    struct hostlookup *l = arg;
    free(l->name);
    free(l->buf);
    free(l);
}

/* A pointer into the worker's buffer, moved to the same place in the caller's. */
static void *moved(const struct hostlookup *l, char *to, const void *p)
{
    return p ? to + ((const char *)p - l->buf) : NULL;
}

/* The worker's hostent, every pointer of which points into its buffer, as the caller's. */
static void copy_hostent(const struct hostlookup *l, struct hostent *ret, char *buf)
{
    memcpy(buf, l->buf, l->buflen);
    ret->h_addrtype = l->ent.h_addrtype;
    ret->h_length = l->ent.h_length;
    ret->h_name = moved(l, buf, l->ent.h_name);
    ret->h_aliases = moved(l, buf, l->ent.h_aliases);
    ret->h_addr_list = moved(l, buf, l->ent.h_addr_list);
    for (char **a = ret->h_aliases; a && *a; a++)
        *a = moved(l, buf, *a);
    for (char **a = ret->h_addr_list; a && *a; a++)
        *a = moved(l, buf, *a);
}

PATCH_API int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
                              struct hostent **result, int *h_errnop)
{
    if (!name || !ret || !buf || !result || !patch_gate())
        return NEXT(gethostbyname_r)(name, ret, buf, buflen, result, h_errnop);
    int saved = errno;
    struct hostlookup *l = calloc(1, sizeof *l);
    if (!l || !(l->name = strdup(name)) || !(l->buf = malloc(buflen ? buflen : 1))) {
        if (l)
            hostlookup_free(l, NULL);
        *result = NULL;
        return ENOMEM;
    }
    l->buflen = buflen;
    if (green_threadpool_run(run_hostlookup, l, hostlookup_free, GREEN_FOREVER, NULL) < 0) {
        int e = errno;
        if (e == EPERM || e == EAGAIN || e == ENOMEM)
            hostlookup_free(l, NULL);
        *result = NULL;
        if (h_errnop)
            *h_errnop = NO_RECOVERY;
        return e; /* the _r functions return the error */
    }
    int rc = l->rc;
    *result = NULL;
    if (h_errnop)
        *h_errnop = l->herr;
    if (rc == 0 && l->result) {
        copy_hostent(l, ret, buf);
        *result = ret;
    }
    hostlookup_free(l, NULL);
    errno = saved;
    return rc;
}

/* One hostent per thread, as glibc's is per process (static): grown until it fits. */
static _Thread_local struct hostent byname_ent;
static _Thread_local char *byname_buf;
static _Thread_local size_t byname_len;

PATCH_API struct hostent *gethostbyname(const char *name)
{
    if (!patch_gate()) {
        return NEXT(gethostbyname)(name);
    }
    for (;;) {
        if (!byname_buf) {
            byname_len = byname_len ? byname_len * 2 : 1024;
            if (!(byname_buf = malloc(byname_len))) {
                h_errno = NO_RECOVERY;
                return NULL;
            }
        }
        struct hostent *res = NULL;
        int herr = 0;
        int rc = gethostbyname_r(name, &byname_ent, byname_buf, byname_len, &res, &herr);
        if (rc == ERANGE) {
            free(byname_buf);
            byname_buf = NULL;
            continue;
        }
        h_errno = herr;
        return rc == 0 ? res : NULL;
    }
}
