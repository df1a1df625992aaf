/* SPDX-License-Identifier: MIT */
/* N worker threads, each with its own hub and its own server on one SO_REUSEPORT port.
 *
 * Workers start one after another, so worker 0's port (the kernel's pick for port 0) is
 * known before the others bind it, and green_workers_start() returns only when every
 * listener exists: the kernel spreads connections only over sockets already listening.
 * A stop is one green_async_send() per worker (the only thread-safe call of a hub); the
 * worker's main greenlet wakes, stops its server on its own hub and ends its thread. */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/error.h"
#include "io.h"
#include "server.h"

#define MAX_WORKERS 1024

struct worker {
    struct green_workers *w;
    unsigned index;
    pthread_t thread;
    green_async_t *wake; /* made by the worker, poked by green_workers_stop() */
    int killed;          /* written by the worker before it ends, read after the join */
    green_server_stats_t stats;
};

struct green_workers {
    unsigned n, port;
    green_worker_setup_fn setup;
    void *arg;
    double timeout; /* the stop's, written before the pokes */
    pthread_mutex_t lock;
    pthread_cond_t ready;
    int setup_state; /* of the worker starting now: 0 pending, 1 serving, -1 failed */
    int setup_errno;
    struct worker workers[];
};

static void report(struct green_workers *w, int state, int err)
{
    pthread_mutex_lock(&w->lock);
    w->setup_state = state;
    w->setup_errno = err;
    pthread_cond_signal(&w->ready);
    pthread_mutex_unlock(&w->lock);
}

static void *worker_main(void *arg)
{
    struct worker *me = arg;
    struct green_workers *w = me->w;
    green_event_t *stop = green_event_new();
    green_async_t *wake = stop ? green_async_new_event(stop) : NULL;
    green_server_t *s = wake ? w->setup(me->index, me->index ? w->port : 0, w->arg) : NULL;
    if (!s || green_server_start(s) < 0) {
        int e = errno ? errno : ENOMEM;
        if (s)
            green_server_destroy(s);
        if (wake)
            green_async_destroy(wake);
        if (stop)
            green_event_destroy(stop);
        green_hub_shutdown();
        report(w, -1, e);
        return NULL;
    }
    me->wake = wake;
    if (me->index == 0)
        w->port = green_server_port(s);
    report(w, 1, 0);
    /* Serve until poked; the acceptor and handlers run while this waits. */
    while (green_event_wait(stop, GREEN_FOREVER) < 0 && errno == EINTR) {
    }
    me->killed = green_server_stop(s, w->timeout);
    green_server_stats(s, &me->stats);
    green_server_destroy(s);
    /* A send may still be returning in the stopping thread: it holds the lock meanwhile
     * (green_async_send()'s handle must outlive the call). */
    pthread_mutex_lock(&w->lock);
    pthread_mutex_unlock(&w->lock);
    green_async_destroy(wake);
    green_event_destroy(stop);
    green_hub_shutdown();
    return NULL;
}

static void stop_started(struct green_workers *w, unsigned started, double timeout, int *killed)
{
    pthread_mutex_lock(&w->lock);
    w->timeout = timeout;
    for (unsigned i = 0; i < started; i++)
        green_async_send(w->workers[i].wake);
    pthread_mutex_unlock(&w->lock);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(w->workers[i].thread, NULL);
        if (killed && w->workers[i].killed > 0)
            *killed += w->workers[i].killed;
    }
}

static void free_workers(struct green_workers *w)
{
    pthread_cond_destroy(&w->ready);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

GREEN_API green_workers_t *green_workers_start(unsigned n, green_worker_setup_fn setup, void *arg)
{
    const char *api = "green_workers_start";
    if (n == 0 || n > MAX_WORKERS)
        return green__fail(EINVAL, api, "n must be 1..%d (got %u)", MAX_WORKERS, n), NULL;
    if (!setup)
        return green__fail(EINVAL, api, "setup is NULL"), NULL;
    struct green_workers *w = calloc(1, sizeof *w + n * sizeof w->workers[0]);
    if (!w)
        return green__fail(ENOMEM, api, "no memory for %u workers", n), NULL;
    w->n = n;
    w->setup = setup;
    w->arg = arg;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->ready, NULL);
    for (unsigned i = 0; i < n; i++) {
        struct worker *me = &w->workers[i];
        me->w = w;
        me->index = i;
        w->setup_state = 0;
        int rc = pthread_create(&me->thread, NULL, worker_main, me);
        int err = rc;
        if (rc == 0) {
            pthread_mutex_lock(&w->lock);
            while (w->setup_state == 0)
                pthread_cond_wait(&w->ready, &w->lock);
            err = w->setup_state < 0 ? w->setup_errno : 0;
            pthread_mutex_unlock(&w->lock);
            if (err)
                pthread_join(me->thread, NULL);
        }
        if (err) {
            stop_started(w, i, 0, NULL);
            free_workers(w);
            green__fail(err, api, "worker %u: %s", i, strerror(err));
            return NULL;
        }
    }
    return w;
}

struct server_setup {
    const char *host;
    unsigned port;
    green_server_fn handler;
    void *arg;
    green_server_opts_t opts;
};

static green_server_t *setup_server(unsigned index, unsigned port, void *arg)
{
    struct server_setup *ss = arg;
    return green_server_new(ss->host, index ? port : ss->port, ss->handler, ss->arg, &ss->opts);
}

GREEN_API green_workers_t *green_workers_start_server(unsigned n, const char *host, unsigned port,
                                                      green_server_fn handler, void *arg,
                                                      const green_server_opts_t *opts)
{
    const char *api = "green_workers_start_server";
    /* Used by the setups only, which all run before green_workers_start() returns. */
    struct server_setup ss = {.host = host, .port = port, .handler = handler, .arg = arg};
    ss.opts = (green_server_opts_t)GREEN_SERVER_OPTS_INIT;
    if (opts)
        ss.opts = *opts;
    if (ss.opts.pool)
        return green__fail(EINVAL, api, "a pool belongs to one thread: use pool_size"), NULL;
    if (!handler)
        return green__fail(EINVAL, api, "the handler is NULL"), NULL;
    ss.opts.flags |= GREEN_SERVER_REUSEPORT;
    green_workers_t *w = green_workers_start(n, setup_server, &ss);
    if (!w)
        green__io_refail(api);
    return w;
}

GREEN_API unsigned green_workers_port(const green_workers_t *w) { return w ? w->port : 0; }

GREEN_API int green_workers_stop(green_workers_t *w, double timeout, green_server_stats_t *stats)
{
    const char *api = "green_workers_stop";
    if (!w)
        return green__fail(EINVAL, api, "the workers are NULL");
    if (isnan(timeout))
        return green__fail(EINVAL, api, "the timeout is NaN");
    int killed = 0;
    stop_started(w, w->n, timeout, &killed);
    if (stats)
        for (unsigned i = 0; i < w->n; i++)
            stats[i] = w->workers[i].stats;
    free_workers(w);
    return killed;
}
