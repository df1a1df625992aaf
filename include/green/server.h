/* SPDX-License-Identifier: MIT */
/* libgreen server: stream and datagram servers on the hub (gevent.server), and N worker
 * threads sharing one SO_REUSEPORT port.
 *
 * A stream server owns a listening socket and one *acceptor* greenlet on the calling
 * thread's hub.  Each time the listener becomes readable, the acceptor takes up to
 * `accept_batch` connections with non-blocking accept4(2) (stopping early at EAGAIN) and
 * spawns one handler greenlet per connection, which runs handler(fd, peer, peerlen, arg)
 * in blocking style with the calls of io.h.  When the handler returns — or dies in any
 * other way: green_exit(), killed before it started — the server closes the connection
 * with green_close(), unless the server was made with GREEN_SERVER_KEEP_FD (the handler
 * then owns fd).  With a pool (a size, or a green_pool_new() of the caller's), a full pool
 * stops the accepting: the acceptor waits for a free place without watching the listener,
 * so new connections wait in the kernel's backlog, and accepting resumes when a handler
 * ends.  When accept4 fails for want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM) the
 * connection stays queued and the listener stays readable, so instead of spinning the
 * acceptor sleeps `backoff` seconds (counted in the stats) and tries again.
 *
 * A datagram server has one receiver greenlet instead: up to `accept_batch` datagrams per
 * wake-up, one handler greenlet per datagram, called with a copy of the datagram and the
 * sender's address; green_server_sendto() answers from the server's socket.
 *
 * Stopping (gevent's stop(timeout)): green_server_stop() ends the acceptor, closes the
 * listener (so new connections are refused), waits up to its timeout for the handlers to
 * end, then kills the rest (their blocking calls fail with ECANCELED, so their cleanup
 * runs) and waits for them to die.
 *
 * Threads.  A server belongs to the hub of the thread that made it: every call but
 * green_server_port(), green_server_address() and green_server_fd() fails from another
 * thread with EXDEV.  Many cores: green_workers_start() runs N threads, each with its own
 * hub and its own server on one SO_REUSEPORT port; the kernel spreads the connections.
 *
 * SIGPIPE: a handler writing to a peer that is gone raises it, as io.h says; servers
 * usually ignore it (signal(SIGPIPE, SIG_IGN)) or send with MSG_NOSIGNAL.
 */
#ifndef GREEN_SERVER_H
#define GREEN_SERVER_H

#include <stdint.h>
#include <sys/socket.h>

#include "io.h"
#include "sync.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_server green_server_t;

/* A connection's handler, run in its own greenlet: fd is the connected socket
 * (non-blocking, close-on-exec), peer its address (valid until the handler returns).  The
 * server closes fd when the handler ends: the handler must not close it itself (its
 * number could be reused before the server's close) unless the server has
 * GREEN_SERVER_KEEP_FD, which hands fd over to it. */
typedef void (*green_server_fn)(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg);

/* A datagram's handler, run in its own greenlet: data and peer are valid until it
 * returns; answer with green_server_sendto(s, ...). */
typedef void (*green_dgram_fn)(green_server_t *s, const void *data, size_t len,
                               const struct sockaddr *peer, socklen_t peerlen, void *arg);

/* Flags of green_server_opts_t. */
#define GREEN_SERVER_KEEP_FD 0x01   /* the handler owns fd (close it with green_close) */
#define GREEN_SERVER_REUSEPORT 0x02 /* SO_REUSEPORT on the listener (green_workers_start) */

typedef struct green_server_opts {
    int backlog;               /* listen(2)'s; 0: 128 */
    unsigned accept_batch;     /* connections (datagrams) taken per wake-up at most; 0: 64 */
    size_t pool_size;          /* handlers at once at most; 0: no limit (unless pool is set) */
    green_group_t *pool;       /* a pool of the caller's bounding the handlers, or NULL; it
                                  must outlive the server, and pool_size must then be 0 */
    green_attr_t handler_attr; /* stack model and size of the handlers; name NULL: "server" */
    double backoff;            /* seconds to pause after EMFILE/ENFILE...; 0: 0.1 */
    size_t max_datagram;       /* datagram servers: the largest datagram; 0: 65536 */
    int flags;                 /* GREEN_SERVER_KEEP_FD, GREEN_SERVER_REUSEPORT */
} green_server_opts_t;
#define GREEN_SERVER_OPTS_INIT                                                                     \
    {                                                                                              \
        .backlog = 0, .accept_batch = 0, .pool_size = 0, .pool = NULL,                             \
        .handler_attr = GREEN_ATTR_INIT, .backoff = 0, .max_datagram = 0, .flags = 0               \
    }

typedef struct green_server_stats {
    uint64_t accepted;      /* connections accepted (datagram servers: datagrams received) */
    uint64_t wakeups;       /* times the listener was found readable */
    uint64_t largest_batch; /* most connections (datagrams) taken in one wake-up */
    uint64_t pool_waits;    /* times accepting stopped because the pool was full */
    uint64_t backoffs;      /* pauses after EMFILE, ENFILE, ENOBUFS or ENOMEM */
    uint64_t accept_errors; /* other transient failures skipped (ECONNABORTED, EPROTO...) */
    uint64_t dropped;       /* accepted but closed at once: no memory for a handler */
    uint64_t killed;        /* handlers green_server_stop() had to kill */
    uint64_t failed;        /* handlers that ended with an error (green_exit(code, ...));
                               the server links them, so the hub does not report them */
    uint64_t active;        /* handlers alive now */
} green_server_stats_t;

/* ---- making servers --------------------------------------------------------------------- */

/* A stream server listening on a numeric IPv4 or IPv6 host (NULL or "": 0.0.0.0) and port
 * (0: the kernel picks one: green_server_port()), as green_listen() does, that will run
 * handler(fd, peer, peerlen, arg) for each connection once started.  opts NULL: the
 * defaults.  Never switches.  Returns the server (not accepting yet), or NULL with errno
 * EINVAL (handler NULL, bad opts: backlog < 0, a negative or NaN backoff, pool and
 * pool_size both set, unknown flags, bad handler_attr), and the errors of green_listen()
 * (EADDRINUSE, EACCES...), ENOMEM. */
GREEN_API green_server_t *green_server_new(const char *host, unsigned port, green_server_fn handler,
                                           void *arg, const green_server_opts_t *opts);

/* As green_server_new(), on a Unix stream socket at path ('@': the abstract namespace, as
 * green_listen_unix(); a file at path is neither removed before nor after).  Returns the
 * server, or NULL with errno as green_server_new() and green_listen_unix(). */
GREEN_API green_server_t *green_server_new_unix(const char *path, green_server_fn handler,
                                                void *arg, const green_server_opts_t *opts);

/* As green_server_new(), on listen_fd, a listening stream socket of the caller's, which the
 * server takes over (made non-blocking; closed by green_server_stop() or
 * green_server_destroy(), also when this call fails).  opts->backlog is unused.  Returns
 * the server, or NULL with errno EBADF (listen_fd not open), ENOTSOCK, EINVAL (not a
 * listening stream socket, or as green_server_new()), ENOMEM. */
GREEN_API green_server_t *green_server_new_fd(int listen_fd, green_server_fn handler, void *arg,
                                              const green_server_opts_t *opts);

/* A datagram (UDP) server bound to host and port as green_server_new(), that will run
 * handler(s, data, len, peer, peerlen, arg) for each datagram once started.  A datagram
 * longer than opts->max_datagram is cut to it (the rest is lost, as recvfrom(2)
 * does).  Returns the server, or NULL
 * with errno as green_server_new(). */
GREEN_API green_server_t *green_server_new_dgram(const char *host, unsigned port,
                                                 green_dgram_fn handler, void *arg,
                                                 const green_server_opts_t *opts);

/* ---- running ---------------------------------------------------------------------------- */

/* Start accepting (receiving) in the background: spawn the acceptor on the calling
 * thread's hub and return without switching; it runs when the caller blocks.  Returns 0,
 * or -1 with errno EALREADY (started already), EBADF (stopped), EXDEV, ENOMEM. */
GREEN_API int green_server_start(green_server_t *s);

/* Start s if it is not started, then block until green_server_stop() has finished (called
 * by another greenlet: a signal's, a handler's) or the acceptor met an error it cannot go
 * on after.  Returns 0 (stopped), or -1 with errno: the acceptor's error (EBADF: the
 * listener was closed behind the server's back, EINVAL, ENOTSOCK), those of
 * green_server_start() but EALREADY, and the blocking errors of hub.h (ECANCELED: the
 * caller is being killed; s keeps running). */
GREEN_API int green_server_serve_forever(green_server_t *s);

/* Stop s gracefully: end the acceptor, close the listener (new connections are refused),
 * wait up to timeout seconds for the handlers to end, then kill the rest and wait for them
 * to die (a killed handler's blocking calls fail with ECANCELED at once, so it unwinds).
 * Wakes green_server_serve_forever().  Stopping a server that is stopped already returns
 * 0; a server never started is just closed.  Not from one of s's own handlers (it would
 * wait for itself).  Returns the number of handlers that had to be killed (0: all ended
 * in time), or -1 with errno EALREADY (another greenlet is stopping s), EDEADLK (called
 * from a handler of s), EINVAL (s NULL, NaN timeout), EXDEV, and the blocking errors of
 * hub.h (EPERM from the hub itself; ECANCELED: the caller is being killed, and s is left
 * half-stopped: call again from another greenlet). */
GREEN_API int green_server_stop(green_server_t *s, double timeout);

/* Free s, which must be stopped or never started; a listener still open is closed.  A hub
 * shutdown (green_hub_shutdown(), thread exit) stops a running server on its own: it kills
 * the acceptor and the handlers, whose connections are closed as after a stop.  Returns 0,
 * or -1 with errno EINVAL (NULL), EBUSY (running, a stop is under way, or a greenlet still
 * waits in green_server_serve_forever()), EXDEV. */
GREEN_API int green_server_destroy(green_server_t *s);

/* ---- looking at a server ---------------------------------------------------------------- */

/* The listening (bound) socket's fd, or -1 after the server was stopped (a stop on the
 * owner's thread changes it: read it there).  Never fails (-1 for NULL too). */
GREEN_API int green_server_fd(const green_server_t *s);

/* The port the server listens on (what the kernel picked for port 0), 0 for a Unix
 * socket or NULL.  Safe from any thread.  Never fails. */
GREEN_API unsigned green_server_port(const green_server_t *s);

/* Copy the listening address (getsockname at creation) into addr, at most *len bytes;
 * *len is set to its full length.  Safe from any thread.  Returns 0, or -1 with errno
 * EINVAL (a NULL argument). */
GREEN_API int green_server_address(const green_server_t *s, struct sockaddr *addr, socklen_t *len);

/* Fill *out with s's counters now.  Returns 0, or -1 with errno EINVAL (NULL), EXDEV. */
GREEN_API int green_server_stats(const green_server_t *s, green_server_stats_t *out);

/* ---- datagram replies ------------------------------------------------------------------- */

/* Send one datagram from s's socket to `to` (green_sendto(), MSG_NOSIGNAL).  Several
 * handlers may send at once: a send that has to wait for room holds a lock, so the others
 * queue behind it instead of failing with EBUSY.  Returns the bytes sent, or -1 with errno
 * EINVAL (s not a datagram server, NULL buf with len > 0, NaN timeout), EBADF (s stopped),
 * EXDEV, and the errors of green_sendto() (EMSGSIZE, ETIMEDOUT, ECANCELED...). */
GREEN_API ssize_t green_server_sendto(green_server_t *s, const void *buf, size_t len,
                                      const struct sockaddr *to, socklen_t tolen, double timeout);

/* ---- many cores: N worker threads on one port ------------------------------------------- */

/* Threads, not processes: the handlers of every worker share the program's memory (the
 * setup's arg, counters, caches), a stop is one async wake-up per thread and a join, and
 * nothing depends on forking a process whose hub already exists.  Each thread has its own
 * hub, so a greenlet never moves between threads: only objects made for it are shared. */
typedef struct green_workers green_workers_t;

/* Makes worker `index`'s server, on the worker's own thread (so on its hub): typically
 * green_server_new(host, port, ...) with GREEN_SERVER_REUSEPORT.  port is 0 for worker 0
 * and worker 0's port for the others, so a server asking for port 0 puts every worker on
 * the port the kernel picked for the first.  Returns the server (not started), or NULL to
 * fail green_workers_start() (errno is passed on). */
typedef green_server_t *(*green_worker_setup_fn)(unsigned index, unsigned port, void *arg);

/* Start n worker threads, one after another: each runs setup(index, port, arg) on its new
 * thread, then serves that server until green_workers_stop().  Returns once every worker's
 * server is listening.  Returns the workers, or NULL with errno EINVAL (n 0 or above 1024,
 * setup NULL), the errno of a setup that returned NULL (the workers already started are
 * stopped then), EAGAIN (no thread), ENOMEM. */
GREEN_API green_workers_t *green_workers_start(unsigned n, green_worker_setup_fn setup, void *arg);

/* The stream server's multi-core option: green_workers_start() with a setup that makes
 * green_server_new(host, port, handler, arg, opts) on each worker with
 * GREEN_SERVER_REUSEPORT added (port 0: the kernel picks one for all; read it with
 * green_workers_port()).  handler runs on the workers' threads, so what arg points to is
 * shared between them.  Returns the workers, or NULL with errno as green_workers_start()
 * and green_server_new(), EINVAL also for opts->pool (a pool belongs to one thread). */
GREEN_API green_workers_t *green_workers_start_server(unsigned n, const char *host, unsigned port,
                                                      green_server_fn handler, void *arg,
                                                      const green_server_opts_t *opts);

/* The port of worker 0's server (the one every worker shares).  Never fails (0 for NULL). */
GREEN_API unsigned green_workers_port(const green_workers_t *w);

/* Stop every worker's server with green_server_stop(timeout) on its own thread, wait for
 * the threads to end, and free w.  If stats is not NULL, stats[i] receives worker i's
 * final counters (an array of n).  Any thread may call it, not a worker's.  Returns the
 * number of handlers killed in all, or -1 with errno EINVAL (w NULL, NaN timeout). */
GREEN_API int green_workers_stop(green_workers_t *w, double timeout, green_server_stats_t *stats);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_SERVER_H */
