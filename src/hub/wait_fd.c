/* SPDX-License-Identifier: MIT */
/* Waiting for a file descriptor: gevent's hub.wait(io watcher), and cancel_wait on close.
 *
 * One waiter per fd and direction (the I/O layer above keeps one reader and one writer per
 * socket, as gevent's sockets do): a table indexed by fd says who waits, so a second
 * waiter is refused with EBUSY instead of two libev watchers fighting over one fd, and a
 * close can find its waiters.  Closing stops their watchers at once — libev must not poll
 * an fd number that may be reused the moment it is closed — and queues their wake-up with
 * EBADF (gevent's cancel_wait queues it too).
 *
 * The hot path of a keep-alive server is one wait per request on the same fd, so each fd
 * number has a record that lives as long as the hub: its two watchers (one for reads and
 * READ|WRITE waits, one for writes) are reused, started only while someone waits.  A reused
 * libev watcher that was never re-set costs no epoll_ctl; ev_io_set() on every wait would
 * cost one (libev must assume the fd may be a new file).  Skipping it is only safe while
 * the number still names the file libev registered, so it is skipped for fds the I/O layer
 * made (green__fd_opened: it closes them through green_close), until a close is announced.
 * An fd made elsewhere is re-set on every wait, as before: its owner may close() it.
 *
 * A read watcher of such an fd is also left started after its wait ("parked"), so that
 * the next wait — a keep-alive connection's next request — needs no ev_io_start/ev_io_stop
 * pair.  A parked watcher holds no reference on the loop (a wait that can never end still
 * fails with EDEADLK), the first readiness that finds nobody waiting stops it, and a close
 * announced, a new file under the number or the hub's end stops it too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "watch.h"

#define API_WAIT "green_wait_fd"

struct fd_rec;

struct fd_wait {
    ev_io io; /* first: on_io gets the wait from its watcher */
    struct fd_rec *rec;
    struct green_task *self;      /* the waiter, NULL while none */
    struct green_callback cancel; /* queued by a close: wakes the waiter with EBADF */
    int revents;
    int err;
    bool registered; /* its waiter is in rec->dir: a close has not unhooked it */
    bool kept;       /* set since the fd was opened: libev's registration is the file's */
    bool heap;       /* a one-off (the record's own was taken): freed after the wait */
    bool parked;     /* started with no waiter, its loop reference given back (ev_unref) */
};

struct fd_rec {
    struct fd_wait *dir[2]; /* who waits: [0] reader, [1] writer (one wait in both: READ|WRITE) */
    struct fd_wait w[2];    /* [0] for waits with GREEN_READ, [1] for GREEN_WRITE alone */
    bool opened;            /* made by the I/O layer, not yet announced closed */
    unsigned char io_flags; /* the I/O layer's (green__fd_io_flags_at) */
};

struct green_fd_waits {
    struct fd_rec **recs; /* by fd; NULL: never waited on */
    int count;
};

static void on_io(struct ev_loop *loop, ev_io *io, int revents);
static void run_cancel(struct green_hub_part *h, struct green_callback *cb);

static void unpark(struct ev_loop *loop, struct fd_wait *fw)
{
    if (fw->parked) {
        ev_ref(loop);
        fw->parked = false;
    }
}

static void stop_watcher(struct ev_loop *loop, struct fd_wait *fw)
{
    unpark(loop, fw);
    ev_io_stop(loop, &fw->io);
}

static void wait_init(struct fd_wait *fw, struct fd_rec *r, int fd)
{
    ev_io_init(&fw->io, on_io, fd, EV_READ);
    fw->rec = r;
    fw->cancel.run = run_cancel;
}

static struct fd_rec *rec_of(struct green_watch_part *w, int fd)
{
    struct green_fd_waits *t = w ? w->fds : NULL;
    return t && fd < t->count ? t->recs[fd] : NULL;
}

static struct fd_rec *rec_make(struct green_watch_part *w, int fd)
{
    struct fd_rec *r = rec_of(w, fd);
    if (r)
        return r;
    if (!w->fds && !(w->fds = calloc(1, sizeof *w->fds)))
        return NULL;
    struct green_fd_waits *t = w->fds;
    if (fd >= t->count) {
        int count = t->count ? t->count : 64;
        while (count <= fd)
            count *= 2;
        struct fd_rec **grown = realloc(t->recs, (size_t)count * sizeof *grown);
        if (!grown)
            return NULL;
        for (int i = t->count; i < count; i++)
            grown[i] = NULL;
        t->recs = grown;
        t->count = count;
    }
    if (!(r = calloc(1, sizeof *r)))
        return NULL;
    for (int d = 0; d < 2; d++)
        wait_init(&r->w[d], r, fd);
    t->recs[fd] = r;
    return r;
}

static void unregister(struct fd_wait *fw)
{
    if (!fw->registered)
        return;
    for (int d = 0; d < 2; d++)
        if (fw->rec->dir[d] == fw)
            fw->rec->dir[d] = NULL;
    fw->registered = false;
}

void green__fd_waits_free(struct ev_loop *loop, struct green_watch_part *w)
{
    struct green_fd_waits *t = w->fds;
    if (t) {
        for (int i = 0; i < t->count; i++) {
            struct fd_rec *r = t->recs[i];
            GREEN_ASSERT(!r || (!r->w[0].self && !r->w[1].self));
            for (int d = 0; r && d < 2; d++)
                if (r->w[d].parked)
                    stop_watcher(loop, &r->w[d]);
            free(r);
        }
        free(t->recs);
    }
    free(t);
    w->fds = NULL;
}

static void on_io(struct ev_loop *loop, ev_io *io, int revents)
{
    struct fd_wait *fw = (struct fd_wait *)io;
    if (GREEN_UNLIKELY(fw->parked)) { /* ready while nobody waits: stop watching */
        stop_watcher(loop, fw);
        return;
    }
    if (revents & EV_ERROR) /* libev found the fd closed under it */
        fw->err = EBADF;
    fw->revents = revents & (EV_READ | EV_WRITE);
    green__hub_resume(ev_userdata(loop), fw->self->g, 0, fw);
}

static void run_cancel(struct green_hub_part *h, struct green_callback *cb)
{
    struct fd_wait *fw = (struct fd_wait *)((char *)cb - offsetof(struct fd_wait, cancel));
    green__hub_resume(h, fw->self->g, 0, fw);
}

/* The watcher for this wait: the record's own, or a one-off while a waiter woken by a
 * close still holds it (the number was reused before that waiter ran again). */
static struct fd_wait *wait_take(struct ev_loop *loop, struct fd_rec *r, int fd, int events)
{
    struct fd_wait *fw = &r->w[events & GREEN_READ ? 0 : 1];
    if (GREEN_LIKELY(!fw->self)) {
        if (GREEN_LIKELY(r->opened && fw->kept &&
                         (fw->io.events & (EV_READ | EV_WRITE)) == events)) {
            unpark(loop, fw); /* still started, if it was parked */
        } else {
            if (fw->parked)
                stop_watcher(loop, fw);
            ev_io_set(&fw->io, fd, events); /* GREEN_READ/WRITE are EV_READ/WRITE */
            fw->kept = r->opened;
        }
        return fw;
    }
    if (!(fw = calloc(1, sizeof *fw)))
        return NULL;
    wait_init(fw, r, fd);
    ev_io_set(&fw->io, fd, events);
    fw->heap = true;
    return fw;
}

static int wait_fd(int fd, int events, double timeout)
{
    struct green_hub_part *h;
    struct green_task *self = green__watch_self(&h, timeout, API_WAIT);
    if (!self)
        return -1;
    struct fd_rec *r = rec_make(h->watch, fd);
    if (!r)
        return green__fail(ENOMEM, API_WAIT, "no memory for the fd table");
    for (int d = 0; d < 2; d++)
        if ((events & (1 << d)) && r->dir[d])
            return green__fail(EBUSY, API_WAIT, "another greenlet already waits on fd %d for %s",
                               fd, d ? "writing" : "reading");
    struct fd_wait *fw = wait_take(h->loop, r, fd, events);
    if (!fw)
        return green__fail(ENOMEM, API_WAIT, "no memory for the wait");
    fw->self = self;
    fw->revents = fw->err = 0;
    for (int d = 0; d < 2; d++)
        if (events & (1 << d))
            r->dir[d] = fw;
    fw->registered = true;
    if (!ev_is_active(&fw->io))
        ev_io_start(h->loop, &fw->io);
    int rc = green__watch_block(h, self, fw, timeout, API_WAIT);
    int e = errno;
    if (rc == 0 && !fw->err && fw->kept && !fw->heap && events == GREEN_READ &&
        ev_is_active(&fw->io)) {
        fw->parked = true; /* the next wait on this connection starts nothing */
        ev_unref(h->loop);
    } else {
        ev_io_stop(h->loop, &fw->io);
    }
    green__callback_cancel(h, &fw->cancel);
    unregister(fw);
    fw->self = NULL;
    int err = fw->err, ready = fw->revents;
    if (fw->heap)
        free(fw);
    if (rc < 0) {
        errno = e;
        return -1;
    }
    if (err)
        return green__fail(EBADF, API_WAIT, "fd %d was closed while waiting", fd);
    return ready;
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
    return wait_fd(fd, events, timeout);
}

int green__wait_fd_open(int fd, int events, double timeout)
{
    GREEN_ASSERT(fd >= 0 && (events == GREEN_READ || events == GREEN_WRITE));
    return wait_fd(fd, events, timeout);
}

/* fd's record on the calling thread's hub, made if need be; NULL without a hub or memory. */
static struct fd_rec *rec_here(int fd)
{
    struct green_hub_part *h = green__hub_peek();
    if (!h || fd < 0 || !green__watch_get(h, "libgreen"))
        return NULL;
    return rec_make(h->watch, fd);
}

void green__fd_opened(int fd, unsigned io_flags)
{
    struct fd_rec *r = rec_here(fd);
    if (!r)
        return; /* no hub (or no memory) yet: fd is treated as made elsewhere */
    struct green_hub_part *h = green__hub_peek();
    for (int d = 0; d < 2; d++)
        if (r->w[d].parked) /* an old file's, never announced closed */
            stop_watcher(h->loop, &r->w[d]);
    r->opened = true;
    r->w[0].kept = r->w[1].kept = false; /* a new file: libev registers it at its first wait */
    r->io_flags = (unsigned char)io_flags;
}

unsigned char *green__fd_io_flags_at(int fd)
{
    struct green_hub_part *h = green__hub_peek();
    struct fd_rec *r = h && fd >= 0 ? rec_of(h->watch, fd) : NULL;
    return r ? &r->io_flags : NULL;
}

void green__fd_set_io_flags(int fd, unsigned io_flags)
{
    struct fd_rec *r = rec_here(fd);
    if (r)
        r->io_flags = (unsigned char)io_flags;
}

int green__fd_closing(int fd)
{
    struct green_hub_part *h = green__hub_peek();
    struct fd_rec *r = h ? rec_of(h->watch, fd) : NULL;
    if (!r)
        return 0;
    r->opened = false;
    r->io_flags = 0;
    r->w[0].kept = r->w[1].kept = false;
    for (int d = 0; d < 2; d++)
        if (r->w[d].parked)
            stop_watcher(h->loop, &r->w[d]);
    int woken = 0;
    for (int d = 0; d < 2; d++) {
        struct fd_wait *fw = r->dir[d];
        if (!fw)
            continue;
        ev_io_stop(h->loop, &fw->io);
        unregister(fw); /* clears both directions of a READ|WRITE wait */
        fw->err = EBADF;
        green__callback_queue(h, &fw->cancel);
        woken++;
    }
    return woken;
}

/* The I/O layer's own waiters on fds (green_poll's), which a close announced here must
 * reach too: the hub does not call the layer above it by name, so that layer registers. */
static int (*io_closing)(int fd);

void green__fd_closing_register(int (*fn)(int fd))
{
    __atomic_store_n(&io_closing, fn, __ATOMIC_RELAXED);
}

GREEN_API int green_fd_close_notify(int fd)
{
    if (fd < 0)
        return green__fail(EBADF, "green_fd_close_notify", "fd %d is not a descriptor", fd);
    int woken = green__fd_closing(fd);
    int (*also)(int) = __atomic_load_n(&io_closing, __ATOMIC_RELAXED);
    return also ? woken + also(fd) : woken;
}
