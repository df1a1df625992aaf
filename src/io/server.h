/* SPDX-License-Identifier: MIT */
/* What the server files share (include/green/server.h): the server record, the per
 * connection (per datagram) record, and the hand-offs between the files:
 *   server_new.c      making, checking options, destroying, the accessors;
 *   server_loop.c     the acceptor's and the receiver's loop: batches, the pool, back-off;
 *   server_accept.c   the stream acceptor's step: accept, which errors are transient;
 *   server_stream.c   one handler greenlet per connection or datagram, and its cleanup;
 *   server_dgram.c    the datagram receiver's step, and sendto;
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

struct green__conn;

struct green_server {
    int fd; /* the listener (bound socket); -1 once closed */
    bool dgram;
    enum green__server_state state;
    pthread_t owner; /* the thread whose hub runs it */
    green_server_fn handler;
    green_dgram_fn dgram_handler;
    void *arg;
    green_server_opts_t opts; /* defaults filled in; handler_attr.name points at "server" */
    /* The live handlers, tracked here rather than in a green_group_t: the cleanup hook
     * below must find what a hub shutdown leaves. */
    struct green__conn *conns;
    uint64_t active;         /* handlers spawned and not yet cleaned up */
    green_event_t *changed;  /* set when a handler is cleaned up: a pool place, or idle */
    green_t *acceptor;       /* the acceptor (receiver) greenlet, until stopped */
    green_hook_t *cleanup;   /* hub shutdown: close what is left (server_stop.c) */
    green_event_t *stopped;  /* set when a stop has finished or the acceptor failed */
    green_lock_t *send_lock; /* datagram servers: sends that wait queue on it */
    int error;               /* the acceptor's fatal errno, 0 if none */
    green_server_stats_t stats;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    unsigned port;
};

/* One connection (fd >= 0) or one datagram (data, len) and its peer, on the heap: a handler
 * on a shared stack must not point into another greenlet's stack. */
struct green__conn {
    green_server_t *server;
    struct green__conn *prev, *next; /* in server->conns while its handler lives */
    green_t *g;                      /* the handler's handle, released with the record */
    int fd;
    bool closed; /* fd closed already (by the handler's end) */
    socklen_t peerlen;
    struct sockaddr_storage peer;
    size_t len;
    unsigned char data[];
};

/* The thread check of every call but the accessors: 0, or -1 with errno EINVAL (NULL) or
 * EXDEV naming api. */
GREEN_HIDDEN int green__server_check(const green_server_t *s, const char *api);

/* Spawn the handler greenlet of c (into the caller's pool if there is one; the loops have
 * checked there is room) and arrange that c's fd is closed (unless KEEP_FD) and c freed
 * when it dies.  On failure c is dropped: its fd closed, c freed, stats.dropped counted. */
GREEN_HIDDEN void green__server_spawn(green_server_t *s, struct green__conn *c);

/* The acceptor's and the receiver's bodies (arg: the server). */
GREEN_HIDDEN void *green__server_accept_loop(void *arg);
GREEN_HIDDEN void *green__server_dgram_loop(void *arg);

/* What one step of a batch did (server_loop.c asks the acceptor's or the receiver's). */
enum green__take {
    TAKE_ONE,     /* took a connection or datagram into *c (NULL: no memory, dropped) */
    TAKE_NONE,    /* nothing is queued: wait again */
    TAKE_SKIP,    /* a transient error, counted in accept_errors: take the next */
    TAKE_BACKOFF, /* out of resources (errno): sleep the back-off, then wait again */
    TAKE_END      /* a fatal error (errno): the loop ends */
};
typedef enum green__take (*green__server_take_fn)(green_server_t *s, void *ctx,
                                                  struct green__conn **c);

/* Serve until a stop or a fatal error: wait for the listener (or, while the pool is full,
 * for a place), then take(s, ctx, &c) up to accept_batch times while there is room,
 * spawning each record's handler; then green__server_acceptor_failed() with the errno
 * that ended it (server_loop.c). */
GREEN_HIDDEN void green__server_loop(green_server_t *s, green__server_take_fn take, void *ctx);

/* The acceptor ends with errno err: a fatal error ends the serving (serve_forever returns
 * it); ECANCELED and EBADF from a stop do not. */
GREEN_HIDDEN void green__server_acceptor_failed(green_server_t *s, int err);

/* A pool place is free (always, without a pool). */
GREEN_HIDDEN bool green__server_has_room(const green_server_t *s);

/* Close and free every record left (no handler will run again: the hub is shutting down,
 * or the handlers are dead).  Never switches. */
GREEN_HIDDEN void green__server_drop_conns(green_server_t *s);

#endif /* GREEN_IO_SERVER_H */
