/* SPDX-License-Identifier: MIT */
/* Watching a child from its spawn to its end, and what can be done with it meanwhile:
 * wait, signal, close its pipes, free.
 *
 * On the main thread libev reaps every child on SIGCHLD, and the watch, registered with the
 * hub's catch-all from the spawn (hub/child.h), is what the status is handed to: the
 * handle keeps it, and the hub keeps none of its own for that child.  On other threads a
 * pidfd becomes readable when the child ends; a WNOHANG waitpid then reaps it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "io.h"
#include "process.h"

static void stop_watch(struct green_process *p)
{
    if (!p->watching)
        return;
    if (p->pidfd >= 0) {
        ev_io_stop(p->h->loop, &p->w.pidfd);
        close(p->pidfd);
        p->pidfd = -1;
    } else {
        green__child_unwatch(p->h, &p->w.child);
    }
    p->watching = false;
}

static void ended(struct green_process *p, int status)
{
    stop_watch(p);
    p->ended = true;
    p->status = status;
    green_event_set(p->exited); /* cannot fail: the hub is the event's */
}

static void on_child(struct green_child_watch *w, pid_t pid, int status, bool lost)
{
    (void)pid;
    struct green_process *p =
        (struct green_process *)((char *)w - offsetof(struct green_process, w));
    if (!lost) {
        ended(p, status);
        return;
    }
    stop_watch(p); /* a green_waitpid for its pid got the status first */
    p->lost = true;
    green_event_set(p->exited);
}

static void on_pidfd(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    struct green_process *p = w->data;
    int status;
    pid_t got = waitpid(p->pid, &status, WNOHANG);
    if (got == p->pid) {
        ended(p, status);
    } else if (got < 0) { /* the main thread's libev reaped it first */
        stop_watch(p);
        p->lost = true;
        green_event_set(p->exited);
    }
}

/* Hub shutdown: the loop goes away, the handle stays the user's. */
static void process_term(struct green_hub_part *h, struct green_owned *o)
{
    struct green_process *p = (struct green_process *)o;
    stop_watch(p);
    green__owned_remove(h, o);
    p->h = NULL;
}

int green__process_watch(struct green_hub_part *h, struct green_process *p, const char *api)
{
    p->h = h;
    if (h->children) {
        p->w.child.pid = p->pid;
        p->w.child.ended = on_child;
        green__child_watch(h, &p->w.child);
    } else {
#ifdef SYS_pidfd_open
        p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
#else
        errno = ENOSYS;
#endif
        if (p->pidfd < 0)
            return green__fail(errno, api, "cannot watch process %d off the main thread: %s",
                               (int)p->pid, strerror(errno));
        fcntl(p->pidfd, F_SETFD, FD_CLOEXEC);
        ev_io_init(&p->w.pidfd, on_pidfd, p->pidfd, EV_READ);
        p->w.pidfd.data = p;
        ev_io_start(h->loop, &p->w.pidfd);
    }
    p->watching = true;
    green__owned_add(h, &p->owned, process_term);
    return 0;
}

int green__process_check(const struct green_process *p, const char *api)
{
    if (!p)
        return green__fail(EINVAL, api, "the handle is NULL");
    if (p->h && p->h != green__hub_peek())
        return green__fail(EXDEV, api, "the process belongs to another thread's hub");
    return 0;
}

GREEN_API pid_t green_process_pid(const green_process_t *p) { return p ? p->pid : -1; }
GREEN_API int green_process_stdin(const green_process_t *p) { return p ? p->fd[0] : -1; }
GREEN_API int green_process_stdout(const green_process_t *p) { return p ? p->fd[1] : -1; }
GREEN_API int green_process_stderr(const green_process_t *p) { return p ? p->fd[2] : -1; }

GREEN_API int green_process_close(green_process_t *p, int stream)
{
    const char *api = "green_process_close";
    if (!p || stream < 0 || stream > 2)
        return green__fail(EINVAL, api, "needs a process and a stream 0, 1 or 2");
    if (p->fd[stream] < 0)
        return green__fail(EBADF, api, "stream %d is no open pipe", stream);
    int fd = p->fd[stream];
    p->fd[stream] = -1;
    green_close(fd);
    return 0;
}

GREEN_API int green_process_wait(green_process_t *p, double timeout, int *status)
{
    const char *api = "green_process_wait";
    if (green__process_check(p, api) < 0)
        return -1;
    if (p->watching && green_event_wait(p->exited, timeout) < 0) {
        if (errno == ETIMEDOUT)
            return green__fail(ETIMEDOUT, api, "process %d is still running", (int)p->pid);
        return green__io_refail(api);
    }
    if (!p->ended && !p->lost) { /* the hub that watched it has shut down */
        int st;
        if (green_waitpid(p->pid, &st, timeout) < 0)
            return green__io_refail(api);
        p->ended = true;
        p->status = st;
    }
    if (p->lost)
        return green__fail(ECHILD, api, "process %d was reaped by someone else", (int)p->pid);
    if (status)
        *status = p->status;
    return 0;
}

GREEN_API int green_process_kill(green_process_t *p, int sig)
{
    const char *api = "green_process_kill";
    if (!p)
        return green__fail(EINVAL, api, "the handle is NULL");
    if (p->ended || p->lost)
        return green__fail(ESRCH, api, "process %d has ended", (int)p->pid);
    if (kill(p->pid, sig) < 0)
        return green__fail(errno, api, "kill(%d, %d): %s", (int)p->pid, sig, strerror(errno));
    return 0;
}

GREEN_API int green_process_free(green_process_t *p)
{
    const char *api = "green_process_free";
    if (!p)
        return 0;
    if (green__process_check(p, api) < 0)
        return -1;
    if (green_event_destroy(p->exited) < 0)
        return green__fail(EBUSY, api, "greenlets wait for process %d", (int)p->pid);
    if (p->h) {
        stop_watch(p);
        green__owned_remove(p->h, &p->owned);
    }
    for (int i = 0; i < 3; i++)
        if (p->fd[i] >= 0)
            green_close(p->fd[i]);
    free(p);
    return 0;
}
