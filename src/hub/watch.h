/* SPDX-License-Identifier: MIT */
/* What the watcher files (wait_fd.c, periodic.c, signal.c, child.c, stat.c, hooks.c,
 * async.c, fork.c, embed.c) share: the hub's watch part, the objects it frees at shutdown,
 * and the one way a greenlet waits on a watcher.
 *
 * Watchers and wait records live on the heap, never on a greenlet's stack: the hub reads
 * them while their greenlet is suspended, and a shared-stack greenlet's stack may be
 * elsewhere then.
 */
#ifndef GREEN_HUB_WATCH_H
#define GREEN_HUB_WATCH_H

#include "green/watch.h"
#include "hub.h"

/* An object the hub owns until the user frees it (a hook, an async...): at shutdown the
 * hub calls its term, which stops its watcher and frees it (or, for an open iteration of
 * wait.c, whose handle stays the user's, only unlinks it and stops its timer), and removes
 * it from the list. */
struct green_owned {
    struct green_owned *prev, *next;
    void (*term)(struct green_hub_part *h, struct green_owned *o);
};

struct green_fd_waits; /* wait_fd.c */
struct green_hooks;    /* hooks.c */

struct green_watch_part {
    struct green_owned *owned; /* oldest first */
    struct green_owned *owned_tail;
    struct green_fd_waits *fds; /* who waits on which fd (wait_fd.c) */
    struct green_hooks *hooks;  /* the user's hooks, by kind (hooks.c) */
};

/* The hub's watch part, created on first use; NULL with errno ENOMEM naming api. */
GREEN_HIDDEN struct green_watch_part *green__watch_get(struct green_hub_part *h, const char *api);

GREEN_HIDDEN void green__owned_add(struct green_hub_part *h, struct green_owned *o,
                                   void (*term)(struct green_hub_part *, struct green_owned *));
GREEN_HIDDEN void green__owned_remove(struct green_hub_part *h, struct green_owned *o);

/* Greenlet only: wait until the hub resumes self with `token`, at most timeout seconds
 * (negative: no limit).  The watcher must be started already; the caller stops it after.
 * Returns 0, or -1 with errno as green__hub_block (ETIMEDOUT for the own timeout too). */
GREEN_HIDDEN int green__watch_block(struct green_hub_part *h, struct green_task *self, void *token,
                                    double timeout, const char *api);

/* The calling thread's hub and the caller's task, if the caller may wait (timeout not
 * NaN, not the hub...); NULL with errno. */
GREEN_HIDDEN struct green_task *green__watch_self(struct green_hub_part **h, double timeout,
                                                  const char *api);

/* The calling thread's hub if obj (owned by hub `owner`) may be used from here; else NULL
 * with errno EINVAL (obj NULL) or EXDEV. */
GREEN_HIDDEN struct green_hub_part *
green__watch_owner(const void *obj, const struct green_hub_part *owner, const char *api);

/* Hub shutdown, after every greenlet died: run the cleanup hooks, then stop and free every
 * object still owned, and the part (hub.c calls it). */
GREEN_HIDDEN void green__watch_term(struct green_hub_part *h);

/* Hooks' part of shutdown: run and free the cleanup hooks (hooks.c). */
GREEN_HIDDEN void green__hooks_run_cleanups(struct green_hub_part *h);

/* Free wait_fd.c's table (no waiter is left at shutdown). */
GREEN_HIDDEN void green__fd_waits_free(struct ev_loop *loop, struct green_watch_part *w);

/* Wake every waiter on fd with EBADF through the callback queue, stopping its watcher
 * now (wait_fd.c).  Returns the number woken; never fails.  The I/O layer calls it before
 * closing fd. */
GREEN_HIDDEN int green__fd_closing(int fd);

/* The I/O layer's waiters beyond green_wait_fd's (green_poll): fn(fd) wakes them for a close
 * announced by green_fd_close_notify() and returns how many.  Set once, any thread. */
GREEN_HIDDEN void green__fd_closing_register(int (*fn)(int fd));

/* Greenlet only: green_wait_fd() for one direction, for the I/O layer, which has just seen
 * a system call on fd fail with EAGAIN (so fd is open: no check).  Returns as
 * green_wait_fd(). */
GREEN_HIDDEN int green__wait_fd_open(int fd, int events, double timeout);

/* The I/O layer made a new file under fd (accept, socket) and closes it through green_close:
 * libev keeps its registration between waits (no epoll_ctl per wait) until a close is
 * announced.  io_flags: the I/O layer's bits for it.  Never fails (without a hub, or memory,
 * fd is treated as made elsewhere). */
GREEN_HIDDEN void green__fd_opened(int fd, unsigned io_flags);

/* The I/O layer's bits for fd (fd.c says what they mean), kept in the hub's record of fd and
 * cleared when its close is announced.  green__fd_io_flags_at: where they live, for the
 * I/O layer to read and change in place (valid until the hub ends); NULL when fd has no
 * record on this thread's hub.  Setting never fails (without a hub or memory, nothing is
 * kept). */
GREEN_HIDDEN unsigned char *green__fd_io_flags_at(int fd);
GREEN_HIDDEN void green__fd_set_io_flags(int fd, unsigned io_flags);

/* The signal table across fork() (signal.c, called by fork.c's handlers): locked around
 * the fork; in the child, only the forking thread's hub h (NULL: none) keeps its signals. */
GREEN_HIDDEN void green__signal_atfork_prepare(void);
GREEN_HIDDEN void green__signal_atfork_parent(void);
GREEN_HIDDEN void green__signal_atfork_child(const struct green_hub_part *h);

/* Register the pthread_atfork handler, once per process (fork.c; hub.c calls it when it
 * creates a hub). */
GREEN_HIDDEN void green__fork_init(void);

#endif /* GREEN_HUB_WATCH_H */
