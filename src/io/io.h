/* SPDX-License-Identifier: MIT */
/* What the I/O files share: the whole-call time budget, and the one try-then-wait loop
 * every cooperative call goes through (fd.c).
 *
 * A budget is a scoped timeout (green_timeout_start) armed at the call's first wait and
 * ended when the call returns, so a call that waits several times (connect by name, write
 * all) spends one timeout in all, and a call that never waits pays nothing.
 */
#ifndef GREEN_IO_IO_H
#define GREEN_IO_IO_H

#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>

#include "base.h"
#include "green/io.h"
#include "green/watch.h"

struct green__budget {
    double seconds;         /* the whole call's; negative: no limit */
    green_timeout_t *timer; /* armed at the first wait */
};

/* Begin a budget of `seconds`.  Returns 0, or -1 with errno EINVAL (NaN) naming api. */
GREEN_HIDDEN int green__budget_begin(struct green__budget *b, double seconds, const char *api);

/* Arm the budget's timer if it is not armed yet (no-op without a limit).  Returns 0, or -1
 * with errno as green_timeout_start(). */
GREEN_HIDDEN int green__budget_arm(struct green__budget *b);

/* End the budget: returns true if its own timer fired (not a scoped timeout of the caller's).
 * Keeps errno. */
GREEN_HIDDEN bool green__budget_end(struct green__budget *b);

/* One attempt of a system call on fd: its result, or -1 with errno (EAGAIN: wait). */
typedef ssize_t (*green__io_op)(int fd, void *arg);

/* Set O_NONBLOCK on fd if it is not set.  Returns 0, or -1 with errno EBADF naming api. */
GREEN_HIDDEN int green__nonblock(int fd, const char *api);

/* How a plain read or write on fd avoids blocking (green__fd_mode's answer). */
struct green__fd_how {
    bool sock;           /* a socket: recv/send with MSG_DONTWAIT, no fcntl; else O_NONBLOCK */
    unsigned char *bits; /* fd's io bits in the hub's record (fd.c), NULL if none is kept */
};

/* Fill *how for fd.  Returns 0, or -1 with errno EBADF naming api. */
GREEN_HIDDEN int green__fd_mode(int fd, struct green__fd_how *how, const char *api);

/* One attempt of read(2) or write(2) in the mode green__fd_mode gave, which these correct if
 * fd turned out not to be a socket.  Their result, or -1 with errno (a read of a socket
 * drained by the last one fails with EAGAIN before trying: fd.c). */
GREEN_HIDDEN ssize_t green__fd_read(int fd, void *buf, size_t len, struct green__fd_how *how);
GREEN_HIDDEN ssize_t green__fd_write(int fd, const void *buf, size_t len, struct green__fd_how *how);

/* The io bit of a non-blocking socket (green__fd_opened, green__fd_io_flags_at): MSG_DONTWAIT
 * keeps its transfers from blocking. */
#define GREEN__FD_SOCKET 1u

/* fd is a new non-blocking socket the I/O layer made (accept, socket). */
GREEN_HIDDEN void green__fd_opened_socket(int fd);

/* Run op(fd, arg) until it does anything but fail with EAGAIN or EINTR, waiting for
 * `events` (GREEN_READ or GREEN_WRITE) within budget b after each EAGAIN.  Returns op's
 * result, or -1 with errno (op's, or the wait's). */
GREEN_HIDDEN ssize_t green__io_loop(int fd, int events, green__io_op op, void *arg,
                                    struct green__budget *b, const char *api);

/* After a failed inner call (a wait, a timeout start): the same errno and message, but
 * naming api, the call the user made.  Returns -1. */
GREEN_HIDDEN int green__io_refail(const char *api);

/* green__io_loop within a budget of its own of `timeout` seconds; nonblock: make fd
 * non-blocking first. */
GREEN_HIDDEN ssize_t green__io_call(int fd, int events, bool nonblock, green__io_op op, void *arg,
                                    double timeout, const char *api);

/* connect(2) within budget b (sock.c; resolve.c tries addresses with it). */
GREEN_HIDDEN int green__connect(int fd, const struct sockaddr *addr, socklen_t len,
                                struct green__budget *b, const char *api);

/* A Unix socket address for path ('@': abstract).  Returns its length, or -1 with errno
 * EINVAL, ENAMETOOLONG naming api (listen.c). */
GREEN_HIDDEN int green__unix_addr(struct sockaddr_un *sa, const char *path, const char *api);

/* The errno for a getaddrinfo/getnameinfo code gai (sys: errno after EAI_SYSTEM), as
 * green_getaddrinfo() documents it (resolve.c). */
GREEN_HIDDEN int green__gai_errno(int gai, int sys);

/* The c-ares resolver (resolve_cares.c): whether green_resolver_set() chose it for this
 * thread's hub, and the two lookups through it, with the arguments, results and errno of
 * green_getaddrinfo() and green_getnameinfo() (already checked by those). */
GREEN_HIDDEN bool green__cares_selected(void);
GREEN_HIDDEN int green__cares_getaddrinfo(const char *host, const char *service,
                                          const struct addrinfo *hints, struct addrinfo **res,
                                          double timeout, int *gai_error, const char *api);
GREEN_HIDDEN int green__cares_getnameinfo(const struct sockaddr *addr, socklen_t addrlen,
                                          char *host, socklen_t hostlen, char *serv,
                                          socklen_t servlen, int flags, double timeout,
                                          int *gai_error, const char *api);

/* Stop the watchers of every green_poll() of this thread on fd and wake those callers
 * (poll.c; green_fd_close_notify calls it once a poll has registered it).  Returns how many
 * were woken.  Never switches. */
GREEN_HIDDEN int green__poll_closing(int fd);

#endif /* GREEN_IO_IO_H */
