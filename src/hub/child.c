/* SPDX-License-Identifier: MIT */
/* Cooperative waitpid: gevent's os.waitpid on a child watcher.
 *
 * On the main thread's hub (libev's default loop) libev reaps every child on SIGCHLD, and
 * the hub keeps the status of each one that no wait was registered for (child_status.c):
 * a child that ends while the hub runs is never lost, its status waits for green_waitpid
 * as a zombie would for waitpid, and it is reported once.  So a wait there takes a kept
 * status first; then reaps with WNOHANG a child that has already ended (libev learns of
 * children only from SIGCHLD, which may have come before its handler existed), unless a
 * wait registered for that pid would be robbed of it (libev hands it over soon: its
 * SIGCHLD is pending); then registers with the hub's catch-all and blocks.
 * On any other loop, where libev cannot watch children, the child's pidfd becomes
 * readable when it ends and a WNOHANG waitpid then reaps it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "core/error.h"
#include "core/thread.h"
#include "watch.h"

#define API "green_waitpid"

struct child_wait {
    union {
        struct green_child_watch child; /* the default loop */
        ev_io pidfd;                    /* other loops */
    } w;
    struct green_hub_part *h;
    struct green_task *self;
    pid_t got; /* the default loop: what the catch-all handed over */
    int status;
    bool lost;
};

static void on_child(struct green_child_watch *w, pid_t pid, int status, bool lost)
{
    struct child_wait *cw = (struct child_wait *)w; /* the watch is its first member */
    cw->got = pid;
    cw->status = status;
    cw->lost = lost;
    green__hub_resume(cw->h, cw->self->g, 0, cw);
}

static void on_pidfd(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    struct child_wait *cw = w->data;
    green__hub_resume(cw->h, cw->self->g, 0, cw);
}

/* The default loop: a child that has ended and that no registered wait is for, reaped
 * now; 0 if none (or only ones libev will hand to their waits), -1 with errno. */
static pid_t reap_unwatched(struct green_hub_part *h, pid_t pid, int *status)
{
    if (pid == -1) {
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
            return -1;
        pid = si.si_pid;
        if (pid == 0)
            return 0;
    }
    if (green__child_watched(h, pid))
        return 0;
    return waitpid(pid, status, WNOHANG);
}

static pid_t wait_default_loop(struct green_hub_part *h, struct green_task *self,
                               struct child_wait *cw, pid_t pid, int *status, double timeout)
{
    cw->w.child.pid = pid;
    cw->w.child.ended = on_child;
    green__child_watch(h, &cw->w.child);
    int rc = green__watch_block(h, self, cw, timeout, API);
    int e = errno;
    green__child_unwatch(h, &cw->w.child);
    if (rc < 0) {
        errno = e;
        return -1;
    }
    if (cw->lost)
        return green__fail(ECHILD, API, "process %d was reaped by another wait", (int)pid);
    if (status)
        *status = cw->status;
    return cw->got;
}

static pid_t wait_pidfd(struct green_hub_part *h, struct green_task *self, struct child_wait *cw,
                        pid_t pid, int *status, double timeout)
{
    if (pid == -1)
        return green__fail(EINVAL, API,
                           "only the main thread's hub (libev's default loop) can "
                           "wait for any child");
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
#else
    int fd = -1;
    errno = ENOSYS;
#endif
    if (fd < 0) {
        int e = errno;
        if (e == ESRCH)
            return green__fail(ECHILD, API, "process %d has been reaped already", (int)pid);
        return green__fail(e, API, "cannot watch process %d off the main thread: pidfd_open: %s",
                           (int)pid, strerror(e));
    }
    ev_io_init(&cw->w.pidfd, on_pidfd, fd, EV_READ);
    cw->w.pidfd.data = cw;
    ev_io_start(h->loop, &cw->w.pidfd);
    int rc = green__watch_block(h, self, cw, timeout, API);
    int e = errno;
    ev_io_stop(h->loop, &cw->w.pidfd);
    close(fd);
    if (rc < 0) {
        errno = e;
        return -1;
    }
    pid_t got = waitpid(pid, status, WNOHANG);
    if (got <= 0)
        return green__fail(ECHILD, API, "process %d was reaped by someone else", (int)pid);
    return got;
}

GREEN_API pid_t green_waitpid(pid_t pid, int *status, double timeout)
{
    if (pid == 0 || pid < -1)
        return green__fail(EINVAL, API, "pid %d: process groups cannot be watched", (int)pid);
    struct green_hub_part *h;
    struct green_task *self = green__watch_self(&h, timeout, API);
    if (!self)
        return -1;
    bool main_loop = h->children != NULL;
    pid_t got = main_loop ? green__child_take(h, pid, status) : 0;
    if (got > 0)
        return got;
    got = main_loop ? reap_unwatched(h, pid, status) : waitpid(pid, status, WNOHANG);
    if (got < 0)
        return green__fail(errno, API, "waitpid(%d) failed", (int)pid);
    if (got > 0)
        return got;
    struct child_wait *cw = calloc(1, sizeof *cw);
    if (!cw)
        return green__fail(ENOMEM, API, "no memory for the wait");
    cw->h = h;
    cw->self = self;
    got = main_loop ? wait_default_loop(h, self, cw, pid, status, timeout)
                    : wait_pidfd(h, self, cw, pid, status, timeout);
    int e = errno;
    free(cw);
    errno = e;
    return got;
}
