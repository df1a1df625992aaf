/* SPDX-License-Identifier: MIT */
/* Waiting on many fds: gevent.select's select/poll.  A non-blocking poll(2) first (and a
 * yield, as gevent's select); otherwise one libev watcher per entry, at the top priority as
 * gevent's, the first event queueing the caller's wake-up (gevent's Event.set), so every
 * event of that loop iteration is in before the caller runs.  The answer is then a
 * non-blocking poll(2): exactly what poll(2) would say at that moment.
 *
 * Watchers and what they record live on the heap: the hub touches them while the caller is
 * suspended, when a shared-stack caller's pollfd array may be copied away.  The thread's
 * active polls are on one list so that green_close() can stop their watchers on a closing
 * fd before the real close.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "hub/hub.h"
#include "hub/watch.h"
#include "io.h"

#define API "green_poll"

struct poll_watch {
    ev_io io;
    struct poll_wait *pw;
    bool active;
    bool closed; /* its fd went through green_close() */
};

struct poll_wait {
    struct poll_wait *prev, *next; /* the thread's active polls */
    struct green_hub_part *h;
    struct green_task *self;
    struct green_callback wake;
    nfds_t n;
    struct poll_watch w[];
};

static _Thread_local struct poll_wait *active;

static void run_wake(struct green_hub_part *h, struct green_callback *cb)
{
    struct poll_wait *pw = (struct poll_wait *)((char *)cb - offsetof(struct poll_wait, wake));
    green__hub_resume(h, pw->self->g, 0, pw);
}

static void wake(struct poll_wait *pw)
{
    if (!pw->wake.queued)
        green__callback_queue(pw->h, &pw->wake);
}

static void on_io(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)revents;
    struct poll_watch *w = io->data;
    ev_io_stop(loop, io); /* one event is enough: the answer comes from poll(2) */
    w->active = false;
    wake(w->pw);
}

int green__poll_closing(int fd)
{
    int woken = 0;
    for (struct poll_wait *pw = active; pw; pw = pw->next) {
        bool hit = false;
        for (nfds_t i = 0; i < pw->n; i++) {
            struct poll_watch *w = &pw->w[i];
            if (w->io.fd != fd || w->closed)
                continue;
            if (w->active)
                ev_io_stop(pw->h->loop, &w->io);
            w->active = false;
            w->closed = true;
            hit = true;
        }
        if (hit) {
            wake(pw);
            woken++;
        }
    }
    return woken;
}

static void unlink_wait(struct poll_wait *pw)
{
    if (pw->prev)
        pw->prev->next = pw->next;
    else
        active = pw->next;
    if (pw->next)
        pw->next->prev = pw->prev;
}

/* Start a watcher for every entry that asks for input or output.  Returns how many. */
static nfds_t start_watchers(struct poll_wait *pw, const struct pollfd *fds)
{
    nfds_t started = 0;
    for (nfds_t i = 0; i < pw->n; i++) {
        struct poll_watch *w = &pw->w[i];
        int ev = (fds[i].events & POLLIN ? EV_READ : 0) | (fds[i].events & POLLOUT ? EV_WRITE : 0);
        ev_io_init(&w->io, on_io, fds[i].fd, ev ? ev : EV_READ);
        w->io.data = w;
        w->pw = pw;
        if (fds[i].fd < 0 || !ev)
            continue;
        ev_set_priority(&w->io, EV_MAXPRI);
        ev_io_start(pw->h->loop, &w->io);
        w->active = true;
        started++;
    }
    return started;
}

/* poll(2) now, with entries closed meanwhile reported as POLLNVAL and not polled (their
 * number may belong to another file already). */
static int poll_now(struct pollfd *fds, nfds_t n, const struct poll_wait *pw)
{
    for (nfds_t i = 0; pw && i < n; i++)
        if (pw->w[i].closed)
            fds[i].fd = ~fds[i].fd; /* negative: poll(2) skips it */
    int rc;
    do
        rc = poll(fds, n, 0);
    while (rc < 0 && errno == EINTR);
    for (nfds_t i = 0; pw && rc >= 0 && i < n; i++)
        if (pw->w[i].closed) {
            fds[i].fd = ~fds[i].fd;
            fds[i].revents = POLLNVAL;
            rc++;
        }
    return rc;
}

static int wait_ready(struct green_hub_part *h, struct green_task *self, struct pollfd *fds,
                      nfds_t n, double timeout)
{
    struct poll_wait *pw = calloc(1, sizeof *pw + n * sizeof pw->w[0]);
    if (!pw)
        return green__fail(ENOMEM, API, "no memory for %lu watchers", (unsigned long)n);
    pw->h = h;
    pw->self = self;
    pw->n = n;
    pw->wake.run = run_wake;
    pw->next = active;
    if (active)
        active->prev = pw;
    active = pw;
    start_watchers(pw, fds);
    green_timeout_t *own = NULL;
    int rc = 0;
    if (timeout >= 0 && !(own = green_timeout_start(timeout)))
        rc = -1;
    while (rc >= 0) {
        rc = green__watch_block(h, self, pw, GREEN_FOREVER, API);
        if (rc < 0)
            break;
        if ((rc = poll_now(fds, n, pw)) != 0)
            break;
        for (nfds_t i = 0; i < n; i++) /* spurious: another greenlet took it; wait again */
            if (!pw->w[i].active && !pw->w[i].closed && fds[i].fd >= 0 &&
                (fds[i].events & (POLLIN | POLLOUT))) {
                ev_io_start(h->loop, &pw->w[i].io);
                pw->w[i].active = true;
            }
    }
    int e = errno;
    bool fired = own && green_timeout_end(own) == 1;
    if (rc < 0 && fired && e == ETIMEDOUT) /* our own timeout: poll(2)'s answer, maybe 0 */
        rc = poll_now(fds, n, pw);
    else
        errno = e;
    for (nfds_t i = 0; i < n; i++)
        if (pw->w[i].active)
            ev_io_stop(h->loop, &pw->w[i].io);
    green__callback_cancel(h, &pw->wake);
    unlink_wait(pw);
    free(pw);
    return rc;
}

GREEN_API int green_poll(struct pollfd *fds, nfds_t nfds, double timeout)
{
    if (!fds && nfds > 0)
        return green__fail(EINVAL, API, "fds is NULL");
    if (timeout != timeout)
        return green__fail(EINVAL, API, "the timeout is NaN");
    int ready = poll_now(fds, nfds, NULL); /* EINVAL: nfds above RLIMIT_NOFILE */
    if (ready < 0)
        return green__fail(errno, API, "poll: %s", strerror(errno));
    if (ready > 0 || timeout == 0)
        return green_sleep(0) < 0 ? -1 : ready;
    struct green_hub_part *h;
    struct green_task *self = green__watch_self(&h, timeout, API);
    if (!self)
        return -1;
    green__fd_closing_register(green__poll_closing); /* a relaxed store: once is enough */
    return wait_ready(h, self, fds, nfds, timeout);
}
