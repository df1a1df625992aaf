/* SPDX-License-Identifier: MIT */
/* libgreen io: cooperative file descriptors and sockets (gevent.socket, gevent.select).
 *
 * Every call here behaves like the system call it is named after, except that where the
 * system call would block the thread, the calling greenlet waits on the hub instead and
 * other greenlets run.  Each call first tries the system call (gevent's _socket3 does the
 * same), and waits for readiness only when it reports EAGAIN; EAGAIN and EINTR never reach
 * the caller (an interrupted system call is retried).
 *
 * Non-blocking mode.  read, write, readv, writev, accept and connect set O_NONBLOCK on fd
 * (and leave it set, as gevent does); the recv/send family passes MSG_DONTWAIT instead, so
 * it never changes fd's flags.  A regular file never reports EAGAIN: its calls never wait.
 * Once read or write have seen that fd is a socket, they pass MSG_DONTWAIT too and skip
 * the fcntl (the hub remembers it per fd number until a close is announced).
 *
 * Closing.  Close the fds that green_accept(), green_accept4(),
 * green_connect_name()/_unix() and the stream servers of server.h return with green_close(), or announce the close with
 * green_fd_close_notify() first: for those fds the hub keeps libev's registration between
 * waits (no epoll_ctl per wait), which is only right while the number still names that
 * file.  An fd of theirs closed without either, whose number then goes to a file made
 * outside libgreen, may never be seen ready by a wait (it times out) — unless a read or
 * write finds it is no longer a socket (ENOTSOCK), which they notice and recover from.
 * Other fds (listening sockets, socketpair(), pipe(), socket() of your own) are registered
 * afresh at every wait and may be closed with close().
 *
 * Timeouts.  Every call takes a timeout in seconds: the budget of the whole call, however
 * many waits it takes (GREEN_FOREVER, or any negative value: no limit; 0: a zero-second
 * timer, so the call fails unless fd becomes ready in the same loop iteration; NaN:
 * EINVAL).  The timer is armed at the first wait: a call that never waits never times out.
 *
 * Errors.  -1 with errno: the system call's own errors (EBADF, ECONNRESET, EPIPE, EMFILE,
 * ...), and, when the call has to wait, those of green_wait_fd() (watch.h): ETIMEDOUT,
 * ECANCELED (the greenlet is being killed), EDEADLK (main, nothing else could ever make fd
 * ready), EPERM (from the hub itself, or a greenlet not spawned on the hub: a call that
 * does not need to wait works there too), EINTR (a foreign switch into the waiting
 * greenlet), ENOMEM, EBADF (fd closed by green_close() while waiting) and EBUSY (another
 * greenlet already waits on fd in the same direction: one reader and one writer per fd,
 * as gevent's sockets).  After an EBADF from a close, the call never touches fd again: its
 * number may already belong to a new file.
 *
 * Signals.  As with write(2), writing to a socket or pipe whose reader is gone raises
 * SIGPIPE: ignore it, or use green_send()/green_send_all() with MSG_NOSIGNAL.
 *
 * Threads.  fds belong to the process, waits to the calling thread's hub: close an fd from
 * the thread whose greenlets wait on it (green_close() wakes that thread's waiters only).
 */
#ifndef GREEN_IO_H
#define GREEN_IO_H

#include <netdb.h>
#include <poll.h>
#include <sys/select.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "hub.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- plain transfers ---------------------------------------------------------------- */

/* Cooperative read(2): up to len bytes into buf.  Returns the bytes read (0 at end of file,
 * or for len 0), or -1 with errno as above.  On a socket, after a read that returned fewer
 * bytes than asked (the receive queue was emptied), the next green_read waits for
 * readiness before it reads instead of trying first: data already there is returned at
 * once all the same (even with a timeout of 0), but other greenlets may run first.  This
 * spares a keep-alive server one failing recv(2) per request. */
GREEN_API ssize_t green_read(int fd, void *buf, size_t len, double timeout);

/* Cooperative write(2): returns after the first successful write, which may be partial
 * (green_write_all() writes everything).  Returns the bytes written, or -1 with errno as
 * above (EPIPE: the reader is gone). */
GREEN_API ssize_t green_write(int fd, const void *buf, size_t len, double timeout);

/* Cooperative recv(2) (flags as recv's; MSG_DONTWAIT is always added).  Returns the bytes
 * received (0: the peer shut down its side), or -1 with errno as above (ECONNRESET: reset
 * by the peer, ENOTSOCK). */
GREEN_API ssize_t green_recv(int fd, void *buf, size_t len, int flags, double timeout);

/* Cooperative send(2) (flags as send's; MSG_DONTWAIT is always added); may be partial.
 * Returns the bytes sent, or -1 with errno as above (EPIPE, ECONNRESET, ENOTSOCK). */
GREEN_API ssize_t green_send(int fd, const void *buf, size_t len, int flags, double timeout);

/* Cooperative recvfrom(2): as green_recv(), with the sender's address in *from and its
 * length in *fromlen (both may be NULL).  Returns the bytes received, or -1 with errno as
 * green_recv(). */
GREEN_API ssize_t green_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                                 socklen_t *fromlen, double timeout);

/* Cooperative sendto(2) to address `to` (NULL: the connected peer).  Returns the bytes
 * sent, or -1 with errno as green_send() (EMSGSIZE: a datagram too large). */
GREEN_API ssize_t green_sendto(int fd, const void *buf, size_t len, int flags,
                               const struct sockaddr *to, socklen_t tolen, double timeout);

/* ---- vectors and messages ----------------------------------------------------------- */

/* Cooperative readv(2).  Returns the bytes read (0 at end of file), or -1 with errno as
 * green_read() (EINVAL: a bad iovcnt). */
GREEN_API ssize_t green_readv(int fd, const struct iovec *iov, int iovcnt, double timeout);

/* Cooperative writev(2); may be partial.  Returns the bytes written, or -1 with errno as
 * green_write() (EINVAL: a bad iovcnt). */
GREEN_API ssize_t green_writev(int fd, const struct iovec *iov, int iovcnt, double timeout);

/* Cooperative recvmsg(2) (MSG_DONTWAIT always added).  Returns the bytes received, or -1
 * with errno as green_recv(). */
GREEN_API ssize_t green_recvmsg(int fd, struct msghdr *msg, int flags, double timeout);

/* Cooperative sendmsg(2) (MSG_DONTWAIT always added); may be partial.  Returns the bytes
 * sent, or -1 with errno as green_send(). */
GREEN_API ssize_t green_sendmsg(int fd, const struct msghdr *msg, int flags, double timeout);

/* ---- exact transfers ---------------------------------------------------------------- */

/* Read exactly len bytes into buf, waiting as often as needed within one timeout for the
 * whole.  Returns len; or fewer at end of file (the bytes read before it); or -1 with errno
 * as green_read(), the bytes that did arrive being in buf and their count in *done.  *done
 * (if done is not NULL) is always set to the bytes read. */
GREEN_API ssize_t green_read_exactly(int fd, void *buf, size_t len, double timeout, size_t *done);

/* Write all len bytes of buf (partial writes are continued), within one timeout for the
 * whole.  Returns len, or -1 with errno as green_write() and the count of bytes that did
 * get written in *done.  *done (if done is not NULL) is always set to the bytes written. */
GREEN_API ssize_t green_write_all(int fd, const void *buf, size_t len, double timeout,
                                  size_t *done);

/* As green_write_all(), with send(2) and its flags (e.g. MSG_NOSIGNAL).  Returns len, or
 * -1 with errno as green_send() and the bytes sent in *done (always set, if not NULL). */
GREEN_API ssize_t green_send_all(int fd, const void *buf, size_t len, int flags, double timeout,
                                 size_t *done);

/* ---- connections -------------------------------------------------------------------- */

/* Cooperative accept4(2) with the caller's flags (SOCK_NONBLOCK, SOCK_CLOEXEC).  Returns
 * the new fd (the peer's address in *addr, *addrlen, if not NULL), or -1 with errno as
 * above (EMFILE/ENFILE: no fd left, the connection stays queued; ECONNABORTED; EINVAL: fd
 * is not listening). */
GREEN_API int green_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags,
                            double timeout);

/* green_accept4() with SOCK_NONBLOCK | SOCK_CLOEXEC: the new fd is ready for the calls
 * here and not inherited by exec'd programs.  Returns the new fd, or -1 with errno as
 * green_accept4(). */
GREEN_API int green_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, double timeout);

/* Cooperative connect(2): starts the connection and waits until it is established, then
 * checks SO_ERROR (gevent's connect).  A socket that is already connected returns 0.
 * Returns 0, or -1 with errno as above (ECONNREFUSED, ENETUNREACH, EHOSTUNREACH,
 * EADDRNOTAVAIL, EINVAL, ENOENT for a Unix path, ...).  After ETIMEDOUT or ECANCELED the
 * connection attempt may still be in progress: close fd. */
GREEN_API int green_connect(int fd, const struct sockaddr *addr, socklen_t addrlen,
                            double timeout);

/* ---- opening sockets ---------------------------------------------------------------- */

/* Flags of green_listen(), green_listen_addr() and green_listen_unix(). */
#define GREEN_LISTEN_REUSEPORT 0x01 /* SO_REUSEPORT: several sockets share the port */
#define GREEN_LISTEN_V6ONLY 0x02    /* IPV6_V6ONLY: an IPv6 socket takes no IPv4 */

/* A socket of `type` (SOCK_STREAM, SOCK_DGRAM; SOCK_SEQPACKET for Unix) bound to addr, with
 * SO_REUSEADDR (not for Unix sockets) and the options of `flags`, listening with `backlog`
 * (stream and seqpacket; the kernel caps it at net.core.somaxconn) — gevent's
 * _tcp_listener and _udp_socket.  The socket is non-blocking and close-on-exec.  Never
 * switches.  Returns the fd, or -1 with errno EINVAL (addr NULL, backlog < 0, unknown
 * flags), EAFNOSUPPORT, EADDRINUSE, EACCES, EADDRNOTAVAIL, EMFILE, ENFILE, ENOBUFS, ENOMEM. */
GREEN_API int green_listen_addr(const struct sockaddr *addr, socklen_t addrlen, int type,
                                int backlog, int flags);

/* green_listen_addr() on a numeric IPv4 or IPv6 address ("127.0.0.1", "::1"; NULL or ""
 * means 0.0.0.0, every IPv4 address, as Python's '') and port (0: the kernel picks one;
 * read it with getsockname()).  Names are not resolved here (that could block): resolve
 * with green_getaddrinfo() and use green_listen_addr().  Returns the fd, or -1 with errno
 * as green_listen_addr(), EINVAL also for a host that is not a numeric address or a port
 * above 65535. */
GREEN_API int green_listen(const char *host, unsigned port, int type, int backlog, int flags);

/* green_listen_addr() on a Unix socket at path; a path starting with '@' names a socket in
 * Linux's abstract namespace (no file).  An existing file at path is not removed
 * (EADDRINUSE).  Returns the fd, or -1 with errno as green_listen_addr(), EINVAL also for
 * a NULL or empty path, ENAMETOOLONG. */
GREEN_API int green_listen_unix(const char *path, int type, int backlog, int flags);

/* Resolve host and service with getaddrinfo(3) on the hub's default threadpool
 * (threadpool.h), waiting cooperatively at most timeout seconds (with hints, a numeric
 * host is converted at once, without a worker or a switch).  Returns 0 with the list
 * in *res (free it with freeaddrinfo()), or -1 with errno: ENOENT (no such host or
 * service, or no address of the family asked: EAI_NONAME, EAI_NODATA, EAI_ADDRFAMILY,
 * EAI_SERVICE), EHOSTUNREACH (the name server failed: EAI_AGAIN, EAI_FAIL), EINVAL (host
 * and service both NULL, res NULL, bad hints: EAI_BADFLAGS, EAI_FAMILY, EAI_SOCKTYPE), ENOMEM,
 * the errno of EAI_SYSTEM, and the blocking errors of green_threadpool_run() (ETIMEDOUT,
 * ECANCELED, EPERM, EAGAIN: no worker thread); the getaddrinfo code itself goes to
 * *gai_error (0 when the failure is not the resolver's) if gai_error is not NULL, and its
 * text to green_last_error(). */
GREEN_API int green_getaddrinfo(const char *host, const char *service,
                                const struct addrinfo *hints, struct addrinfo **res,
                                double timeout, int *gai_error);

/* Translate a socket address to a host and service name with getnameinfo(3) on the hub's
 * default threadpool, waiting cooperatively at most timeout seconds (flags as
 * getnameinfo's; with NI_NUMERICHOST and NI_NUMERICSERV, or a numeric flag for the one
 * buffer given, the answer is made at once, without a worker or a switch).  host (hostlen
 * bytes) and serv (servlen bytes) receive NUL-terminated names; either may be NULL (or of
 * length 0), not both.  Returns 0, or -1 with errno: ENOENT (no name for the address with
 * NI_NAMEREQD: EAI_NONAME), EHOSTUNREACH (the name server failed: EAI_AGAIN, EAI_FAIL),
 * EINVAL (addr NULL, addrlen 0 or larger than a sockaddr_storage, no buffer, bad flags or
 * family: EAI_BADFLAGS, EAI_FAMILY), ENOMEM, the errno of EAI_SYSTEM and EAI_OVERFLOW's
 * EINVAL (a buffer too small), and the blocking errors of green_threadpool_run()
 * (ETIMEDOUT, ECANCELED, EPERM, EAGAIN: no worker thread); the getnameinfo code itself goes
 * to *gai_error (0 when the failure is not the resolver's) if gai_error is not NULL, and
 * its text to green_last_error(). */
GREEN_API int green_getnameinfo(const struct sockaddr *addr, socklen_t addrlen, char *host,
                                socklen_t hostlen, char *serv, socklen_t servlen, int flags,
                                double timeout, int *gai_error);

/* Resolvers for green_resolver_set(). */
#define GREEN_RESOLVER_THREADPOOL 0 /* libc's getaddrinfo/getnameinfo on the threadpool */
#define GREEN_RESOLVER_CARES 1      /* c-ares on the hub's watchers (meson feature cares) */

/* Choose the resolver of green_getaddrinfo() and green_getnameinfo() for the calling
 * thread's hub (until its shutdown; then the threadpool again).  GREEN_RESOLVER_CARES runs
 * every lookup on one c-ares channel of the hub, its sockets and timeouts on the hub's
 * watchers: no thread per lookup.  It reads /etc/hosts and /etc/resolv.conf as c-ares does;
 * servers, if not NULL, replaces the name servers ("host[:port],...", c-ares's
 * ares_set_servers_ports_csv format).  A c-ares lookup that times out or is killed stays
 * with c-ares until it ends by c-ares's own timeouts (or the hub's shutdown), its answer then
 * dropped; meanwhile its socket and timer keep the hub's loop alive (a deadlock of main is
 * reported, EDEADLK, only after that).  GREEN_RESOLVER_THREADPOOL (servers must be NULL) goes back to the default.
 * Numeric hosts and addresses are converted at once by either.  Returns 0, or -1 with
 * errno: ENOTSUP (built without c-ares), EINVAL (an unknown kind, servers with the
 * threadpool, servers c-ares cannot parse), ENOMEM, EIO (c-ares could not start: no
 * resolver configuration). */
GREEN_API int green_resolver_set(int kind, const char *servers);

/* Connect to host:port (a name or a numeric address) with a socket of `type`: resolve it
 * (green_getaddrinfo), then try each address in the resolver's order until one connects
 * (gevent's create_connection); the timeout covers the whole, resolution included.  The
 * socket is non-blocking and close-on-exec.  Returns the connected fd, or -1 with errno of
 * the last address tried (ECONNREFUSED...), or of the resolution (as green_getaddrinfo()),
 * EINVAL (host NULL, port above 65535), ETIMEDOUT and the blocking errors above. */
GREEN_API int green_connect_name(const char *host, unsigned port, int type, double timeout);

/* Connect a new Unix socket of `type` to path ('@': the abstract namespace, as
 * green_listen_unix()).  Returns the connected fd (non-blocking, close-on-exec), or -1
 * with errno as green_connect() (ENOENT, ECONNREFUSED), EINVAL (NULL or empty path),
 * ENAMETOOLONG, EMFILE, ENFILE. */
GREEN_API int green_connect_unix(const char *path, int type, double timeout);

/* ---- closing ------------------------------------------------------------------------ */

/* Close fd the way libgreen needs: every greenlet of the calling thread's hub waiting on
 * it (in the calls above, green_wait_fd() or green_poll()) has its watcher stopped now and
 * is woken, through the callback queue, with EBADF (green_poll(): POLLNVAL); then fd is
 * closed.  Never switches.  Returns 0, or -1 with errno EBADF (fd not open), EIO.  An
 * EINTR from close(2) is reported as 0: Linux has released fd then anyway. */
GREEN_API int green_close(int fd);

/* ---- many fds at once ---------------------------------------------------------------- */

/* Cooperative poll(2) over fds[0..nfds), timeout in seconds (gevent.select.poll, with
 * gevent.select.select's first step).  First a non-blocking poll(2): if an entry is ready,
 * or timeout is 0, the caller yields once (green_sleep(0), as gevent's select) and gets
 * that result.  Otherwise the caller waits until one of the entries becomes ready for
 * POLLIN or POLLOUT (other bits, such as POLLPRI, are reported but not waited for); the
 * revents are then those of a non-blocking poll(2) at that moment, as poll(2) reports them
 * (POLLHUP, POLLERR, POLLNVAL included).  An entry whose fd is closed with green_close()
 * meanwhile reports POLLNVAL.  Negative fds are ignored, as poll(2) does.  Unlike the other
 * calls, waiters here do not count against the one-reader-one-writer rule (EBUSY).
 * Returns the number of entries with non-zero revents, 0 when the timeout expired first
 * (as poll(2) and gevent; a scoped timeout still fails with ETIMEDOUT), or -1 with errno
 * EINVAL (fds NULL with nfds > 0, nfds above RLIMIT_NOFILE, NaN timeout), ENOMEM and the
 * blocking errors of hub.h. */
GREEN_API int green_poll(struct pollfd *fds, nfds_t nfds, double timeout);

/* Cooperative select(2) over the fds below nfds (at most FD_SETSIZE) in the three sets
 * (NULL: empty), timeout in seconds: green_poll() underneath, so the same first step, yield
 * and waiting, with Linux's mapping of poll events to the sets (a hang-up or an error
 * makes an fd readable, an error writable).  exceptfds (POLLPRI) are reported but not
 * waited for (gevent's select ignores its xlist too).  On success the sets hold the ready
 * fds.  Returns the number of bits set, 0 when the timeout expired first (as select(2)
 * and gevent; a scoped timeout still fails with ETIMEDOUT), or -1 with errno EBADF (an fd
 * of the sets is not open, or was closed with green_close() while waiting; the sets are
 * then unchanged), EINVAL (nfds out of range, NaN timeout), ENOMEM and the errors of
 * green_poll(). */
GREEN_API int green_select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
                           double timeout);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_IO_H */
