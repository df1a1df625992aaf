/* SPDX-License-Identifier: MIT */
/* Cooperative waitpid: gevent's os.waitpid on a child watcher.
 *
 * A child that has already ended is reaped with WNOHANG before any watcher starts: libev
 * only learns of children from SIGCHLD, which may have come before its handler existed.
 * On the default loop an ev_child (libev reaps on SIGCHLD and reports the status); on any
 * other loop, where libev cannot watch children, the child's pidfd becomes readable when
 * it ends and a WNOHANG waitpid then reaps it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/thread.h"
#include "watch.h"

#define API "green_waitpid"

struct child_wait {
    union {
        ev_child child; /* the default loop */
        ev_io pidfd;    /* other loops */
    } w;
    struct green_hub_part *h;
    struct green_task *self;
};

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
    (void)loop, (void)revents;
    struct child_wait *cw = w->data;
    green__hub_resume(cw->h, cw->self->g, 0, cw);
}

static void on_pidfd(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    struct child_wait *cw = w->data;
    green__hub_resume(cw->h, cw->self->g, 0, cw);
}

static pid_t wait_default_loop(struct green_hub_part *h, struct green_task *self,
                               struct child_wait *cw, pid_t pid, int *status, double timeout)
{
    ev_child_init(&cw->w.child, on_child, pid == -1 ? 0 : pid, 0);
    cw->w.child.data = cw;
    ev_child_start(h->loop, &cw->w.child);
    int rc = green__watch_block(h, self, cw, timeout, API);
    ev_child_stop(h->loop, &cw->w.child);
    if (rc < 0)
        return -1;
    if (status)
        *status = cw->w.child.rstatus;
    return cw->w.child.rpid;
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
    pid_t got = waitpid(pid, status, WNOHANG);
    if (got < 0)
        return green__fail(errno, API, "waitpid(%d) failed", (int)pid);
    if (got > 0)
        return got;
    struct child_wait *cw = malloc(sizeof *cw);
    if (!cw)
        return green__fail(ENOMEM, API, "no memory for the wait");
    cw->h = h;
    cw->self = self;
    bool main_loop = ev_is_default_loop(h->loop);
    got = main_loop ? wait_default_loop(h, self, cw, pid, status, timeout)
                    : wait_pidfd(h, self, cw, pid, status, timeout);
    int e = errno;
    free(cw);
    errno = e;
    return got;
}
