/* SPDX-License-Identifier: MIT */
/* Waiting for a file descriptor: gevent's hub.wait(io watcher), and cancel_wait on close.
 *
 * One waiter per fd and direction (the I/O layer above keeps one reader and one writer per
 * socket, as gevent's sockets do): a table indexed by fd says who waits, so a second
 * waiter is refused with EBUSY instead of two libev watchers fighting over one fd, and a
 * close can find its waiters.  Closing stops their watchers at once — libev must not poll
 * an fd number that may be reused the moment it is closed — and queues their wake-up with
 * EBADF (gevent's cancel_wait queues it too).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "watch.h"

#define API_WAIT "green_wait_fd"

struct fd_wait {
    ev_io io;
    struct green_hub_part *h;
    struct green_task *self;
    struct green_callback cancel; /* queued by a close: wakes the waiter with EBADF */
    int revents;
    int err;
    bool registered; /* in the table */
};

struct fd_slot {
    struct fd_wait *dir[2]; /* [0] reader, [1] writer */
};

struct green_fd_waits {
    struct fd_slot *slots;
    int count;
};

static struct fd_slot *slot_of(struct green_watch_part *w, int fd)
{
    struct green_fd_waits *t = w->fds;
    return t && fd < t->count ? &t->slots[fd] : NULL;
}

static struct fd_slot *slot_make(struct green_watch_part *w, int fd)
{
    struct fd_slot *s = slot_of(w, fd);
    if (s)
        return s;
    if (!w->fds && !(w->fds = calloc(1, sizeof *w->fds)))
        return NULL;
    struct green_fd_waits *t = w->fds;
    int count = t->count ? t->count : 64;
    while (count <= fd)
        count *= 2;
    struct fd_slot *grown = realloc(t->slots, (size_t)count * sizeof *grown);
    if (!grown)
        return NULL;
    for (int i = t->count; i < count; i++)
        grown[i].dir[0] = grown[i].dir[1] = NULL;
    t->slots = grown;
    t->count = count;
    return &t->slots[fd];
}

static void unregister(struct green_watch_part *w, struct fd_wait *fw)
{
    if (!fw->registered)
        return;
    struct fd_slot *s = slot_of(w, fw->io.fd);
    for (int d = 0; d < 2; d++)
        if (s->dir[d] == fw)
            s->dir[d] = NULL;
    fw->registered = false;
}

void green__fd_waits_free(struct green_watch_part *w)
{
    if (w->fds)
        free(w->fds->slots);
    free(w->fds);
    w->fds = NULL;
}

static void on_io(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    struct fd_wait *fw = io->data;
    if (revents & EV_ERROR) /* libev found the fd closed under it */
        fw->err = EBADF;
    fw->revents = revents & (EV_READ | EV_WRITE);
    green__hub_resume(fw->h, fw->self->g, 0, fw);
}

static void run_cancel(struct green_hub_part *h, struct green_callback *cb)
{
    struct fd_wait *fw = (struct fd_wait *)((char *)cb - offsetof(struct fd_wait, cancel));
    green__hub_resume(h, fw->self->g, 0, fw);
}

GREEN_API int green_wait_fd(int fd, int events, double timeout)
{
    if (events == 0 || (events & ~(GREEN_READ | GREEN_WRITE)))
        return green__fail(EINVAL, API_WAIT,
                           "events must be GREEN_READ, GREEN_WRITE or both "
                           "(got %#x)",
                           (unsigned)events);
    if (fd < 0 || fcntl(fd, F_GETFD) < 0)
        return green__fail(EBADF, API_WAIT, "fd %d is not open", fd);
    struct green_hub_part *h;
    struct green_task *self = green__watch_self(&h, timeout, API_WAIT);
    if (!self)
        return -1;
    struct fd_slot *s = slot_make(h->watch, fd);
    if (!s)
        return green__fail(ENOMEM, API_WAIT, "no memory for the fd table");
    for (int d = 0; d < 2; d++)
        if ((events & (1 << d)) && s->dir[d])
            return green__fail(EBUSY, API_WAIT, "another greenlet already waits on fd %d for %s",
                               fd, d ? "writing" : "reading");
    struct fd_wait *fw = calloc(1, sizeof *fw);
    if (!fw)
        return green__fail(ENOMEM, API_WAIT, "no memory for the wait");
    ev_io_init(&fw->io, on_io, fd, events); /* GREEN_READ/WRITE are EV_READ/WRITE */
    fw->io.data = fw;
    fw->h = h;
    fw->self = self;
    fw->cancel.run = run_cancel;
    for (int d = 0; d < 2; d++)
        if (events & (1 << d))
            s->dir[d] = fw;
    fw->registered = true;
    ev_io_start(h->loop, &fw->io);
    int rc = green__watch_block(h, self, fw, timeout, API_WAIT);
    int e = errno;
    ev_io_stop(h->loop, &fw->io);
    green__callback_cancel(h, &fw->cancel);
    unregister(h->watch, fw);
    int err = fw->err, ready = fw->revents;
    free(fw);
    if (rc < 0) {
        errno = e;
        return -1;
    }
    if (err)
        return green__fail(EBADF, API_WAIT, "fd %d was closed while waiting", fd);
    return ready;
}

int green__fd_closing(int fd)
{
    struct green_hub_part *h = green__hub_peek();
    struct fd_slot *s = h && h->watch ? slot_of(h->watch, fd) : NULL;
    if (!s)
        return 0;
    int woken = 0;
    for (int d = 0; d < 2; d++) {
        struct fd_wait *fw = s->dir[d];
        if (!fw)
            continue;
        ev_io_stop(h->loop, &fw->io);
        unregister(h->watch, fw); /* clears both directions of a READ|WRITE wait */
        fw->err = EBADF;
        green__callback_queue(h, &fw->cancel);
        woken++;
    }
    return woken;
}

GREEN_API int green_fd_close_notify(int fd)
{
    if (fd < 0)
        return green__fail(EBADF, "green_fd_close_notify", "fd %d is not a descriptor", fd);
    return green__fd_closing(fd);
}
