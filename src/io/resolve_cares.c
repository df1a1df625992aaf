/* SPDX-License-Identifier: MIT */
/* The optional c-ares resolver (gevent's resolver_ares): one ares channel per hub, its
 * sockets driven by libev watchers of the hub and its retries by one timer, so a lookup
 * costs no thread.  green_resolver_set() picks it per hub; green_getaddrinfo() and
 * green_getnameinfo() then come here.
 *
 * c-ares calls back from inside ares_process_fd(), in the hub; the callback only stores the
 * answer and queues the waiter's wake-up (the hub's rule: a wake-up is a callback), so the
 * waiter never runs inside c-ares.  c-ares cannot cancel one query, so a waiter that gives
 * up (its timeout, a kill) leaves its query behind, marked abandoned: the callback frees it
 * when c-ares finishes it, or ares_destroy() does at the hub's shutdown.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "hub/hub.h"
#include "hub/watch.h"
#include "io.h"

#ifndef GREEN_HAVE_CARES

GREEN_API int green_resolver_set(int kind, const char *servers)
{
    (void)servers;
    if (kind == GREEN_RESOLVER_THREADPOOL)
        return 0;
    if (kind == GREEN_RESOLVER_CARES)
        return green__fail(ENOTSUP, "green_resolver_set", "libgreen was built without c-ares");
    return green__fail(EINVAL, "green_resolver_set", "unknown resolver %d", kind);
}

bool green__cares_selected(void) { return false; }

int green__cares_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                             struct addrinfo **res, double timeout, int *gai_error, const char *api)
{
    (void)host, (void)service, (void)hints, (void)res, (void)timeout, (void)gai_error;
    return green__fail(ENOTSUP, api, "libgreen was built without c-ares");
}

int green__cares_getnameinfo(const struct sockaddr *addr, socklen_t addrlen, char *host,
                             socklen_t hostlen, char *serv, socklen_t servlen, int flags,
                             double timeout, int *gai_error, const char *api)
{
    (void)addr, (void)addrlen, (void)host, (void)hostlen, (void)serv, (void)servlen;
    (void)flags, (void)timeout, (void)gai_error;
    return green__fail(ENOTSUP, api, "libgreen was built without c-ares");
}

#else

#include <ares.h>
#include <pthread.h>

struct sock_watch {
    ev_io io; /* first: on_sock gets it from the watcher */
    struct cares *c;
    struct sock_watch *next;
};

struct cares {
    struct green_owned owned; /* first: the hub's shutdown ends it */
    struct green_hub_part *h;
    ares_channel channel;
    ev_timer timer;           /* c-ares's next timeout */
    struct sock_watch *socks; /* one watcher per c-ares socket */
    bool selected;            /* green_getaddrinfo/getnameinfo come here */
};

/* A lookup in flight: on the heap, since the hub reads it while its waiter is suspended. */
struct query {
    struct cares *c;
    struct green_task *self;
    struct green_callback wake; /* queued by the answer */
    bool abandoned;             /* its waiter gave up: the answer frees it */
    bool done;
    int status;
    struct ares_addrinfo *ai; /* getaddrinfo's answer */
    char *node, *service;     /* getnameinfo's answer */
};

static _Thread_local struct cares *current; /* the hub of this thread's resolver, or NULL */

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_rc;

static void library_init(void) { library_rc = ares_library_init(ARES_LIB_INIT_ALL); }

static void query_free(struct query *q)
{
    if (q->ai)
        ares_freeaddrinfo(q->ai);
    free(q->node);
    free(q->service);
    free(q);
}

static void rearm(struct cares *c)
{
    struct timeval tv, *t = ares_timeout(c->channel, NULL, &tv);
    ev_timer_stop(c->h->loop, &c->timer);
    if (!t)
        return;
    ev_timer_set(&c->timer, (double)t->tv_sec + (double)t->tv_usec / 1e6, 0.);
    ev_timer_start(c->h->loop, &c->timer);
}

static void on_sock(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    struct sock_watch *s = (struct sock_watch *)io;
    struct cares *c = s->c;
    int fd = io->fd;
    ares_process_fd(c->channel, revents & EV_READ ? fd : ARES_SOCKET_BAD,
                    revents & EV_WRITE ? fd : ARES_SOCKET_BAD); /* may free s */
    rearm(c);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    struct cares *c = (struct cares *)((char *)t - offsetof(struct cares, timer));
    ares_process_fd(c->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    rearm(c);
}

/* c-ares opens, changes or (readable = writable = 0) is about to close a socket. */
static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct cares *c = data;
    struct sock_watch **p = &c->socks, *s;
    while ((s = *p) && s->io.fd != fd)
        p = &s->next;
    if (s) {
        ev_io_stop(c->h->loop, &s->io);
        if (!readable && !writable) {
            *p = s->next;
            free(s);
            return;
        }
    } else {
        if ((!readable && !writable) || !(s = calloc(1, sizeof *s)))
            return; /* no memory: the query ends by its timeout */
        s->c = c;
        s->next = c->socks;
        c->socks = s;
    }
    ev_io_init(&s->io, on_sock, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
    ev_io_start(c->h->loop, &s->io);
}

static void run_wake(struct green_hub_part *h, struct green_callback *cb)
{
    struct query *q = (struct query *)((char *)cb - offsetof(struct query, wake));
    green__hub_resume(h, q->self->g, 0, q);
}

/* The answer: keep it for the waiter, or free it if the waiter left. */
static void answered(struct query *q, int status)
{
    q->status = status;
    q->done = true;
    if (q->abandoned)
        query_free(q);
    else
        green__callback_queue(q->c->h, &q->wake);
}

static void term(struct green_hub_part *h, struct green_owned *o)
{
    struct cares *c = (struct cares *)o;
    ares_destroy(c->channel); /* answers what is left with ARES_EDESTRUCTION: all abandoned */
    while (c->socks) {
        struct sock_watch *s = c->socks;
        c->socks = s->next;
        ev_io_stop(h->loop, &s->io);
        free(s);
    }
    ev_timer_stop(h->loop, &c->timer);
    green__owned_remove(h, o);
    if (current == c)
        current = NULL;
    free(c);
}

/* This thread's resolver, made if need be; NULL with errno. */
static struct cares *cares_get(const char *api)
{
    struct green_hub_part *h = green__hub_get(api);
    if (!h || !green__watch_get(h, api))
        return NULL;
    if (current && current->h == h)
        return current;
    pthread_once(&library_once, library_init);
    if (library_rc != ARES_SUCCESS) {
        green__fail(ENOMEM, api, "ares_library_init: %s", ares_strerror(library_rc));
        return NULL;
    }
    struct cares *c = calloc(1, sizeof *c);
    if (!c) {
        green__fail(ENOMEM, api, "no memory for the resolver");
        return NULL;
    }
    c->h = h;
    struct ares_options opt = {.sock_state_cb = sock_state, .sock_state_cb_data = c};
    int rc = ares_init_options(&c->channel, &opt, ARES_OPT_SOCK_STATE_CB);
    if (rc != ARES_SUCCESS) {
        free(c);
        green__fail(rc == ARES_ENOMEM ? ENOMEM : EIO, api, "ares_init_options: %s",
                    ares_strerror(rc));
        return NULL;
    }
    ev_timer_init(&c->timer, on_timer, 0., 0.);
    green__owned_add(h, &c->owned, term);
    current = c;
    return c;
}

GREEN_API int green_resolver_set(int kind, const char *servers)
{
    const char *api = "green_resolver_set";
    if (kind != GREEN_RESOLVER_THREADPOOL && kind != GREEN_RESOLVER_CARES)
        return green__fail(EINVAL, api, "unknown resolver %d", kind);
    if (kind == GREEN_RESOLVER_THREADPOOL && !servers) {
        struct green_hub_part *h = green__hub_peek();
        if (current && current->h == h)
            current->selected = false;
        return 0;
    }
    if (kind == GREEN_RESOLVER_THREADPOOL)
        return green__fail(EINVAL, api, "servers are c-ares's: the threadpool uses the system's");
    struct cares *c = cares_get(api);
    if (!c)
        return -1;
    if (servers) {
        int rc = ares_set_servers_ports_csv(c->channel, servers);
        if (rc != ARES_SUCCESS)
            return green__fail(rc == ARES_ENOMEM ? ENOMEM : EINVAL, api, "servers \"%s\": %s",
                               servers, ares_strerror(rc));
    }
    c->selected = true;
    return 0;
}

bool green__cares_selected(void)
{
    struct green_hub_part *h = green__hub_peek();
    return h && current && current->h == h && current->selected;
}

/* errno and the getaddrinfo code for a c-ares status. */
static int errno_of(int status, int *gai)
{
    switch (status) {
    case ARES_ENOTFOUND:
        *gai = EAI_NONAME;
        return ENOENT;
    case ARES_ENODATA:
        *gai = EAI_NODATA;
        return ENOENT;
    case ARES_ENOMEM:
        *gai = EAI_MEMORY;
        return ENOMEM;
    case ARES_EBADFLAGS:
    case ARES_EBADFAMILY:
    case ARES_EBADNAME:
    case ARES_EBADQUERY:
        *gai = EAI_BADFLAGS;
        return EINVAL;
    default: /* ETIMEOUT, ECONNREFUSED, ESERVFAIL, EREFUSED... */
        *gai = status == ARES_ESERVICE ? EAI_SERVICE : EAI_AGAIN;
        return status == ARES_ESERVICE ? ENOENT : EHOSTUNREACH;
    }
}

/* Wait for q's answer.  Returns 0 with q answered (still the caller's to free), or -1 with
 * errno (q then belongs to c-ares's callback, or is freed). */
static int await(struct cares *c, struct green_task *self, struct query *q, double timeout,
                 const char *api)
{
    if (q->done) { /* answered at once (the files, a cached failure): no wait */
        green__callback_cancel(c->h, &q->wake);
        return 0;
    }
    rearm(c); /* the query's first timeout */
    if (green__watch_block(c->h, self, q, timeout, api) == 0)
        return 0;
    int e = errno;
    green__callback_cancel(c->h, &q->wake); /* an answer that came too late */
    if (q->done)
        query_free(q);
    else
        q->abandoned = true;
    errno = e;
    return green__io_refail(api);
}

static struct query *query_new(struct cares **cp, struct green_task **self, double timeout,
                               const char *api)
{
    struct cares *c = cares_get(api);
    struct green_hub_part *h;
    if (!c || !(*self = green__watch_self(&h, timeout, api)))
        return NULL;
    struct query *q = calloc(1, sizeof *q);
    if (!q) {
        green__fail(ENOMEM, api, "no memory for the lookup");
        return NULL;
    }
    q->c = c;
    q->self = *self;
    q->wake.run = run_wake;
    *cp = c;
    return q;
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
    (void)timeouts;
    struct query *q = arg;
    q->ai = ai;
    answered(q, status);
}

/* c-ares's list as libc's: one block per entry with its address inside, the canonical name
 * apart, which is how glibc's freeaddrinfo() frees a list. */
static struct addrinfo *to_libc(const struct ares_addrinfo *ai, bool canon)
{
    struct addrinfo *head = NULL, **tail = &head;
    for (const struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next) {
        struct addrinfo *a = calloc(1, sizeof *a + n->ai_addrlen);
        if (!a)
            goto fail;
        a->ai_flags = n->ai_flags;
        a->ai_family = n->ai_family;
        a->ai_socktype = n->ai_socktype;
        a->ai_protocol = n->ai_protocol;
        a->ai_addrlen = n->ai_addrlen;
        a->ai_addr = (struct sockaddr *)(a + 1);
        memcpy(a->ai_addr, n->ai_addr, n->ai_addrlen);
        *tail = a;
        tail = &a->ai_next;
    }
    if (head && canon && ai->name && !(head->ai_canonname = strdup(ai->name)))
        goto fail;
    return head;
fail:
    if (head)
        freeaddrinfo(head);
    return NULL;
}

int green__cares_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                             struct addrinfo **res, double timeout, int *gai_error, const char *api)
{
    struct cares *c;
    struct green_task *self;
    struct query *q = query_new(&c, &self, timeout, api);
    if (!q)
        return -1;
    static const int map[][2] = {
        {AI_CANONNAME, ARES_AI_CANONNAME},   {AI_NUMERICHOST, ARES_AI_NUMERICHOST},
        {AI_PASSIVE, ARES_AI_PASSIVE},       {AI_NUMERICSERV, ARES_AI_NUMERICSERV},
        {AI_V4MAPPED, ARES_AI_V4MAPPED},     {AI_ALL, ARES_AI_ALL},
        {AI_ADDRCONFIG, ARES_AI_ADDRCONFIG},
    };
    struct ares_addrinfo_hints ah = {0};
    if (hints) {
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (hints->ai_flags & map[i][0])
                ah.ai_flags |= map[i][1];
        ah.ai_family = hints->ai_family;
        ah.ai_socktype = hints->ai_socktype;
        ah.ai_protocol = hints->ai_protocol;
    }
    ares_getaddrinfo(c->channel, host, service, &ah, on_addrinfo, q);
    if (await(c, self, q, timeout, api) < 0)
        return -1;
    int status = q->status;
    if (status == ARES_SUCCESS && !q->ai->nodes)
        status = ARES_ENODATA;
    if (status != ARES_SUCCESS) {
        int gai = 0, e = errno_of(status, &gai);
        if (gai_error)
            *gai_error = gai;
        query_free(q);
        return green__fail(e, api, "%s%s%s: %s", host ? host : "", service ? ":" : "",
                           service ? service : "", ares_strerror(status));
    }
    *res = to_libc(q->ai, hints && (hints->ai_flags & AI_CANONNAME));
    query_free(q);
    return *res ? 0 : green__fail(ENOMEM, api, "no memory for the answer");
}

static void on_nameinfo(void *arg, int status, int timeouts, char *node, char *service)
{
    (void)timeouts;
    struct query *q = arg;
    if (status == ARES_SUCCESS &&
        ((node && !(q->node = strdup(node))) || (service && !(q->service = strdup(service)))))
        status = ARES_ENOMEM;
    answered(q, status);
}

/* Copy an answer into the caller's buffer; false if it does not fit. */
static bool put(char *buf, socklen_t len, const char *s)
{
    if (!buf || !len)
        return true;
    size_t n = s ? strlen(s) : 0;
    if (n >= len)
        return false;
    memcpy(buf, s ? s : "", n + 1);
    return true;
}

int green__cares_getnameinfo(const struct sockaddr *addr, socklen_t addrlen, char *host,
                             socklen_t hostlen, char *serv, socklen_t servlen, int flags,
                             double timeout, int *gai_error, const char *api)
{
    static const int map[][2] = {
        {NI_NOFQDN, ARES_NI_NOFQDN},     {NI_NUMERICHOST, ARES_NI_NUMERICHOST},
        {NI_NAMEREQD, ARES_NI_NAMEREQD}, {NI_NUMERICSERV, ARES_NI_NUMERICSERV},
        {NI_DGRAM, ARES_NI_DGRAM},
    };
    int af = 0, known = 0;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        known |= map[i][0];
        if (flags & map[i][0])
            af |= map[i][1];
    }
    if (flags & ~known) {
        if (gai_error)
            *gai_error = EAI_BADFLAGS;
        return green__fail(EINVAL, api, "flags %#x are not c-ares's", (unsigned)(flags & ~known));
    }
    if (host && hostlen)
        af |= ARES_NI_LOOKUPHOST;
    if (serv && servlen)
        af |= ARES_NI_LOOKUPSERVICE;
    struct cares *c;
    struct green_task *self;
    struct query *q = query_new(&c, &self, timeout, api);
    if (!q)
        return -1;
    ares_getnameinfo(c->channel, addr, (ares_socklen_t)addrlen, af, on_nameinfo, q);
    if (await(c, self, q, timeout, api) < 0)
        return -1;
    int status = q->status, gai = 0, e = 0;
    if (status != ARES_SUCCESS)
        e = errno_of(status, &gai);
    else if (!put(host, hostlen, q->node) || !put(serv, servlen, q->service))
        e = EINVAL, gai = EAI_OVERFLOW;
    query_free(q);
    if (!e)
        return 0;
    if (gai_error)
        *gai_error = gai;
    return green__fail(e, api, "%s",
                       gai == EAI_OVERFLOW ? "a buffer is too small" : ares_strerror(status));
}

#endif /* GREEN_HAVE_CARES */
