/* SPDX-License-Identifier: MIT */
/* What the files of libgreen-patch share: libc's own functions (next.c), the gate, the
 * per-fd table (fdstate.c) and the two ways a patched call waits (park.c).
 *
 * Every interposed function has the same shape: if the gate says no, it is libc's call
 * (next.X); otherwise it runs one non-blocking attempt at a time and parks the greenlet
 * between attempts.  The interposers are the only default-visibility symbols of the
 * library besides green_patch_enabled(). */
#ifndef GREEN_PATCH_PATCH_H
#define GREEN_PATCH_PATCH_H

#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "base.h"
#include "hub/patch_hook.h"

#define PATCH_API __attribute__((visibility("default")))

/* libc's definitions, found with dlsym(RTLD_NEXT) once (next.c). */
struct patch_next {
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*pread)(int, void *, size_t, off_t);
    ssize_t (*pwrite)(int, const void *, size_t, off_t);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*poll)(struct pollfd *, nfds_t, int);
    int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
    int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
    int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
    int (*epoll_wait)(int, struct epoll_event *, int, int);
    unsigned (*sleep)(unsigned);
    int (*usleep)(useconds_t);
    int (*nanosleep)(const struct timespec *, struct timespec *);
    int (*clock_nanosleep)(clockid_t, int, const struct timespec *, struct timespec *);
    int (*getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    int (*getnameinfo)(const struct sockaddr *, socklen_t, char *, socklen_t, char *, socklen_t,
                       int);
    struct hostent *(*gethostbyname)(const char *);
    int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t, struct hostent **,
                           int *);
    int (*close)(int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fcntl)(int, int, ...);
    int (*ioctl)(int, unsigned long, ...);
    int (*socket)(int, int, int);
    int (*socketpair)(int, int, int, int[2]);
    int (*pipe)(int[2]);
    int (*pipe2)(int[2], int);
    pid_t (*waitpid)(pid_t, int *, int);
    int (*sigaction)(int, const struct sigaction *, struct sigaction *);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
    pid_t (*wait)(int *);
};

extern struct patch_next patch_next GREEN_HIDDEN;

/* Fill patch_next (idempotent; the library's constructor calls it, and so does any
 * interposer called before it ran, from another library's constructor). */
GREEN_HIDDEN void patch_resolve(void);

#define NEXT(fn) (GREEN_LIKELY(patch_next.fn != NULL) ? (void)0 : patch_resolve(), patch_next.fn)

/* Signal handlers run by signal.c's trampoline on this thread, nested. */
extern _Thread_local unsigned patch_in_signal GREEN_HIDDEN
    __attribute__((tls_model("initial-exec")));

/* May this call park?  libgreen's answer (a greenlet of a running hub), and not inside a
 * signal handler. */
static inline bool patch_gate(void)
{
    return green__patch_hub_here && green__patch_gate() && !patch_in_signal;
}

/* ---- the fd table (fdstate.c) ------------------------------------------------------- */

enum {
    FD_KNOWN = 1,    /* classified: the other bits are valid */
    FD_OURS = 2,     /* O_NONBLOCK set by us; the program believes the fd blocks */
    FD_USER_NB = 4,  /* the program made it non-blocking itself: EAGAIN is its answer */
    FD_SOCKET = 8,   /* SO_RCVTIMEO/SO_SNDTIMEO apply */
    FD_PASS = 16,    /* never waited for (regular files, inherited pipes): libc's call */
    FD_CREATED = 32, /* made in this process by a patched call (pipe, socket, accept...) */
    FD_TIMEO = 64    /* setsockopt(SO_RCVTIMEO or SO_SNDTIMEO) was called on it */
};

/* The fd's state for a call that may park: classified on first use (O_NONBLOCK set
 * underneath if it is ours to set).  0 if fd is not open. */
GREEN_HIDDEN unsigned patch_fd_prepare(int fd);

/* One byte per fd number below FD_TABLE (fdstate.c); inline here for the read fast path. */
#define FD_TABLE (1 << 20) /* fds beyond: never waited for (FD_PASS) */
extern uint8_t patch_fd_table[FD_TABLE] GREEN_HIDDEN;

/* The fd's state as it is, without classifying it (0: unknown). */
static inline unsigned patch_fd_peek(int fd)
{
    return fd >= 0 && fd < FD_TABLE ? __atomic_load_n(&patch_fd_table[fd], __ATOMIC_RELAXED) : 0;
}

/* A new fd from a patched call; nonblock: the program asked for O_NONBLOCK. */
GREEN_HIDDEN void patch_fd_created(int fd, bool socket, bool nonblock);

/* The fd was closed (or is about to be replaced): forget it. */
GREEN_HIDDEN void patch_fd_forget(int fd);

/* newfd now refers to oldfd's open file description (dup*): the same state. */
GREEN_HIDDEN void patch_fd_copy(int oldfd, int newfd);

/* The program set a socket timeout on fd: waits ask getsockopt for it from now on. */
GREEN_HIDDEN void patch_fd_timeo(int fd);

/* The program set (nonblock) or cleared O_NONBLOCK itself. */
GREEN_HIDDEN void patch_fd_user_mode(int fd, bool nonblock);

/* ---- waiting (park.c) --------------------------------------------------------------- */

/* One attempt of a call on fd: its result, or -1 with errno (EAGAIN: not ready). */
typedef ssize_t (*patch_op)(int fd, void *arg);

/* A write's progress, for the calls that emulate a blocking write (all bytes, or the
 * count written when a timeout or kill stops it): patch_io sets whole, the op keeps done. */
struct patch_progress {
    size_t done;
    bool whole; /* write everything (the fd blocks, for the program) */
};

/* An op's answer after one attempt that moved n bytes of len (rw.c's writes, sock.c's sends
 * and MSG_WAITALL receives): n itself unless whole; otherwise EAGAIN until all of len went
 * (or an attempt moved nothing), then the total; an error after some bytes reports them. */
static inline ssize_t patch_progress_step(struct patch_progress *pr, size_t len, ssize_t n)
{
    if (!pr->whole)
        return n;
    if (n < 0)
        return errno == EAGAIN || pr->done == 0 ? -1 : (ssize_t)pr->done;
    pr->done += (size_t)n;
    if (pr->done < len && n > 0) {
        errno = EAGAIN;
        return -1;
    }
    return (ssize_t)pr->done;
}

/* Run op as libc's blocking call would behave: on an fd we made non-blocking (FD_OURS)
 * park between attempts (the gate said yes) or poll(2) the thread (no); on any other fd
 * one plain attempt.  events: POLLIN or POLLOUT; the socket timeout of that direction is
 * honoured (EAGAIN, as libc).  p: NULL, or the progress of a write.  Keeps the caller's
 * errno when it succeeds. */
GREEN_HIDDEN ssize_t patch_io(int fd, short events, patch_op op, void *arg,
                              struct patch_progress *p);

/* The rest of a read-like call whose first attempt failed with EAGAIN (patch_read):
 * may_park, the gate's answer; st, the fd's state (known); saved, the caller's errno. */
GREEN_HIDDEN ssize_t patch_io_blocked(int fd, short events, patch_op op, void *arg, unsigned st,
                                      bool may_park, int saved);

/* A read-like call (no progress to keep): the attempt itself first, inlined with op, and
 * returned unless it would block, where one plain attempt is what libc's call would do or
 * its first step; the fd table is looked at only by a call that may park (and classified
 * there by patch_io on first use).  A thread without a hub pays a thread-local load more
 * than libc; a greenlet, the gate's call and the table's load. */
static inline __attribute__((always_inline)) ssize_t patch_read(int fd, short events, patch_op op,
                                                                void *arg)
{
    int saved = errno;
    bool may_park = patch_gate();
    unsigned st = may_park ? patch_fd_peek(fd) : FD_KNOWN;
    if (GREEN_UNLIKELY(!(st & FD_KNOWN)))
        return patch_io(fd, events, op, arg, NULL);
    ssize_t n = op(fd, arg);
    if (GREEN_LIKELY(n >= 0))
        return n;
    /* On an fd of ours a greenlet waits (and retries an EINTR); elsewhere EAGAIN is
     * libc's answer unless the fd blocks for the program. */
    if (may_park ? !(st & FD_OURS) || (errno != EAGAIN && errno != EINTR) : errno != EAGAIN)
        return n;
    return patch_io_blocked(fd, events, op, arg, st, may_park, saved);
}

/* Park until fd is ready for events (POLLIN or POLLOUT).  Returns 0, or -1 with errno
 * (EBADF: closed meanwhile, ECANCELED, ETIMEDOUT for a scoped timeout, ...). */
GREEN_HIDDEN int patch_park_fd(int fd, short events);

/* The socket timeout (SO_RCVTIMEO for POLLIN, SO_SNDTIMEO for POLLOUT) in seconds,
 * negative when there is none. */
GREEN_HIDDEN double patch_sock_timeout(int fd, short events);

/* The bytes of iov[0..n) (rw.c). */
GREEN_HIDDEN size_t patch_iov_total(const struct iovec *iov, int n);

/* A malloc'd copy of iov[0..n) without its first `skip` bytes, *left entries (rw.c);
 * NULL: no memory. */
GREEN_HIDDEN struct iovec *patch_iov_rest(const struct iovec *iov, int n, size_t skip, int *left);

/* Seconds of a timespec / of poll's milliseconds (negative: forever). */
static inline double patch_ts_seconds(const struct timespec *ts)
{
    return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

#endif /* GREEN_PATCH_PATCH_H */
