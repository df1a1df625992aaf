/* SPDX-License-Identifier: MIT */
/* What the server files share (include/green/server.h): the server record, the per
 * connection (per datagram) record, and the hand-offs between the files:
 *   server_new.c      making, checking options, destroying, the accessors;
 *   server_accept.c   the stream acceptor: batches, the pool, back-off;
 *   server_stream.c   one handler greenlet per connection or datagram, and its cleanup;
 *   server_dgram.c    the datagram receiver and sendto;
 *   server_stop.c     start, serve_forever, the graceful stop;
 *   server_workers.c  N threads on one SO_REUSEPORT port.
 */
#ifndef GREEN_IO_SERVER_H
#define GREEN_IO_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "base.h"
#include "green/server.h"
#include "green/watch.h"

enum green__server_state { SERVER_NEW, SERVER_RUNNING, SERVER_STOPPING, SERVER_STOPPED };

struct green_server {
    int fd; /* the listener (bound socket); -1 once closed */
    bool dgram;
    enum green__server_state state;
    pthread_t owner; /* the thread whose hub runs it */
    green_server_fn handler;
    green_dgram_fn dgram_handler;
    void *arg;
    green_server_opts_t opts; /* defaults filled in; handler_attr.name points at "server" */
    green_group_t *handlers;  /* every live handler, for stop (never bounded) */
    green_group_t *own_pool;  /* made for opts.pool_size, or NULL */
    green_group_t *limit;     /* the pool bounding the handlers (own or the caller's), or NULL */
    green_t *acceptor;        /* the acceptor (receiver) greenlet while it runs */
    green_event_t *stopped;   /* set when a stop has finished or the acceptor failed */
    green_lock_t *send_lock;  /* datagram servers: sends that wait queue on it */
    int error;                /* the acceptor's fatal errno, 0 if none */
    green_server_stats_t stats;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    unsigned port;
};

/* One connection (fd >= 0) or one datagram (data, len) and its peer, on the heap: a handler
 * on a shared stack must not point into another greenlet's stack. */
struct green__conn {
    green_server_t *server;
    int fd;
    socklen_t peerlen;
    struct sockaddr_storage peer;
    size_t len;
    unsigned char data[];
};

/* The thread check of every call but the accessors: 0, or -1 with errno EINVAL (NULL) or
 * EXDEV naming api. */
GREEN_HIDDEN int green__server_check(const green_server_t *s, const char *api);

/* Spawn the handler greenlet of c (into the pool if there is one, which has a free place)
 * and arrange that c's fd is closed (unless KEEP_FD) and c freed when it dies.  On failure
 * c is dropped: its fd closed, c freed, stats.dropped counted. */
GREEN_HIDDEN void green__server_spawn(green_server_t *s, struct green__conn *c);

/* The acceptor's and the receiver's bodies (arg: the server). */
GREEN_HIDDEN void *green__server_accept_loop(void *arg);
GREEN_HIDDEN void *green__server_dgram_loop(void *arg);

/* The acceptor ends with errno err: a fatal error ends the serving (serve_forever returns
 * it); ECANCELED and EBADF from a stop do not. */
GREEN_HIDDEN void green__server_acceptor_failed(green_server_t *s, int err);

/* Wait until the listener is readable or a pool place is free, as the loops need: 0 when
 * the listener is readable, 1 when the caller should look again (a place freed up), -1
 * when the loop must end (errno). */
GREEN_HIDDEN int green__server_wait_turn(green_server_t *s);

#endif /* GREEN_IO_SERVER_H */
