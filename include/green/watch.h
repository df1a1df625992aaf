/* SPDX-License-Identifier: MIT */
/* libgreen watch: every kind of libev watcher, as cooperative calls on the hub.
 *
 * Waiting calls (green_wait_fd, green_signal_wait, green_waitpid, green_stat_wait,
 * green_periodic_wait, green_sleep_until) park the calling greenlet on a
 * libev watcher of the calling thread's hub and follow hub.h's convention: a timeout in
 * seconds (GREEN_FOREVER: none; 0: a zero-second timer, not a poll), -1 with errno
 * ETIMEDOUT, ECANCELED (being killed), EDEADLK (main, nothing left that could wake it),
 * EPERM (from the hub itself, or from a greenlet not spawned on the hub), EINTR, ENOMEM,
 * EINVAL (a NaN timeout), plus each call's own codes.  While a greenlet waits, its watcher
 * keeps the hub alive, so a waiting main greenlet gets EDEADLK only if nothing else is left.
 *
 * Objects (periodics, hooks, signal handlers, asyncs, embeds) belong to the hub of the
 * thread that made them: using them from another thread fails with EXDEV, except
 * green_async_send(), which is thread-safe.  Objects still alive at hub shutdown
 * (green_hub_shutdown() or thread exit) are stopped and freed then; their handles are
 * invalid afterwards.
 *
 * libev priorities (libev runs the pending watchers of one loop iteration highest priority
 * first):
 *   +1  prepare hooks: before the hub's own prepare watcher (priority 0) that runs the
 *       callback queue, so what a hook queues or spawns runs in the same iteration;
 *    0  every watcher a greenlet waits on (I/O, signals, children, stat, periodic),
 *       embeds, signal handlers and asyncs: libev's default, as gevent's watchers;
 *   -1  timeouts (hub.h): I/O ready in the same iteration as a timeout wins over it;
 *   -2  idle and check hooks: after everything else of the iteration.
 * Callbacks of hooks, asyncs and signal handlers run in the hub greenlet: they must not
 * block (green_spawn(), green_event_set() and the other non-blocking calls are fine).
 */
#ifndef GREEN_WATCH_H
#define GREEN_WATCH_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "hub.h"
#include "sync.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- File descriptors ------------------------------------------------------------------ */

/* Readiness bits for green_wait_fd() (libev's EV_READ and EV_WRITE). */
#define GREEN_READ 0x01
#define GREEN_WRITE 0x02

/* Wait until fd is ready for `events` (GREEN_READ, GREEN_WRITE or both), at most timeout
 * seconds.  Returns the ready events (a non-empty subset of `events`), or -1 with errno
 * EBADF (fd is not open, or it was closed through green_fd_close_notify() while waiting),
 * EBUSY (another greenlet already waits on fd for one of these directions: one waiter per
 * fd and direction), EINVAL (events empty or with other bits, NaN timeout), ETIMEDOUT and
 * the blocking errors of hub.h. */
GREEN_API int green_wait_fd(int fd, int events, double timeout);

/* Announce that fd is about to be closed: every greenlet of the calling thread's hub
 * waiting on fd stops watching it now (its libev watcher is stopped before the real close)
 * and is woken, through the callback queue, with EBADF; and the hub forgets what it kept
 * about the file (io.h: fds the I/O layer made keep their libev registration between
 * waits).  Callers of green_poll()/green_select() (io.h) watching fd are woken too: their
 * entry for fd reports POLLNVAL.  Call it before close(fd).  Never switches.  Returns the
 * number of waiters woken (green_wait_fd callers, one per direction, plus the polls), or
 * -1 with errno EBADF (fd < 0). */
GREEN_API int green_fd_close_notify(int fd);

/* ---- Wall-clock time (ev_periodic) ---------------------------------------------------- */

/* Sleep until the wall-clock time `when` (seconds since the epoch, as ev_time()).  libev
 * follows the wall clock: if it is set forward past `when`, the wait ends.  A time already
 * past ends at the hub's next round of timers.  Like green_sleep() it has no timeout of its
 * own (scoped timeouts apply).  Returns 0, or -1 with errno EINVAL (NaN), and the blocking
 * errors of hub.h. */
GREEN_API int green_sleep_until(double when);

typedef struct green_periodic green_periodic_t;

/* A wall-clock schedule ticking at offset + k * interval (k an integer; interval > 0,
 * 0 <= offset < interval), e.g. interval 60, offset 0: on every full minute.  Ticks nobody
 * waits for are not counted: the watcher is active only while a greenlet waits.  Returns
 * the schedule, or NULL with errno EINVAL (bad interval or offset), ENOMEM. */
GREEN_API green_periodic_t *green_periodic_new(double offset, double interval);

/* Free p.  Returns 0, or -1 with errno EINVAL (NULL), EXDEV, EBUSY (greenlets wait on it). */
GREEN_API int green_periodic_destroy(green_periodic_t *p);

/* Wait for p's next tick, at most timeout seconds.  Several greenlets may wait: a tick
 * wakes them all, in the order they began to wait.  Returns 0, or -1 with errno ETIMEDOUT,
 * EINVAL, EXDEV and the blocking errors of hub.h. */
GREEN_API int green_periodic_wait(green_periodic_t *p, double timeout);

/* ---- Signals (ev_signal) ---------------------------------------------------------------- */

/* Wait until signal signo is delivered to the process, at most timeout seconds.  While
 * anyone watches it, libev's handler replaces the signal's disposition; the default comes
 * back when nobody watches it any more.  Several greenlets may wait: one delivery wakes
 * them all, in order.  A signal is watched by one hub at a time (libev's rule): while
 * another thread's hub watches signo, and always for SIGCHLD off the main thread (libev's
 * default loop owns it), this fails with EBUSY.  Returns 0, or -1 with errno EINVAL (not a
 * signal, or SIGKILL/SIGSTOP), EBUSY, ETIMEDOUT and the blocking errors of hub.h. */
GREEN_API int green_signal_wait(int signo, double timeout);

typedef struct green_signal_handler green_signal_handler_t;

/* On every delivery of signo, spawn a new greenlet on the calling thread's hub that runs
 * fn(arg) (gevent.signal_handler): the hub switches to it at once, from the signal's
 * watcher, and it runs until it first blocks.  Its handle is released at once, so it is
 * freed when it ends.  Deliveries that arrive before the hub runs again are merged into
 * one (libev).  Like gevent's, the handler does not keep the hub alive.  Returns the
 * handler, or NULL with errno EINVAL (fn NULL, bad signo), EBUSY (as green_signal_wait()),
 * ENOMEM. */
GREEN_API green_signal_handler_t *green_signal_handle(int signo, green_fn fn, void *arg);

/* Stop and free the handler; greenlets already spawned are not affected.  Returns 0, or
 * -1 with errno EINVAL (NULL), EXDEV. */
GREEN_API int green_signal_unhandle(green_signal_handler_t *sh);

/* ---- Child processes (ev_child) --------------------------------------------------------- */

/* Wait for child pid (or any child: pid -1) to end, at most timeout seconds, and reap it
 * (cooperative waitpid(pid, status, 0)).  A child that has already ended is reaped at once
 * without switching.  Returns the pid reaped, its wait status in *status (if not NULL),
 * or -1 with errno ECHILD (no such child, or reaped by someone else), EINVAL (pid 0 or
 * below -1: process groups, which libev cannot watch; NaN timeout), ENOSYS (see below),
 * ETIMEDOUT and the blocking errors of hub.h.
 *
 * The main thread's hub (libev's default loop) reaps every child of the process on SIGCHLD
 * while it runs, as gevent's does, and keeps the status of each one that nobody was
 * waiting for, as the kernel keeps a zombie: a child made with plain fork() that ends
 * while the hub runs is not lost, a later green_waitpid(pid) or green_waitpid(-1) returns
 * it (oldest first for -1), once.  A status goes to exactly one receiver: the oldest
 * green_waitpid for that pid or green_process watching it (the other waits for that pid
 * fail with ECHILD, as the kernel's losers would), else the oldest green_waitpid(-1), else
 * it is kept.  So a green_waitpid(-1) is not given a child that a green_process or a
 * green_waitpid(pid) waits for.  The hub keeps at most 1024 statuses, dropping the oldest
 * past that (and one it has no memory for); green_hub_shutdown() drops what it kept, and a
 * fork() child starts with none.  Plain waitpid() (libc's, not the patch library's) does
 * not see the kept statuses: it fails with ECHILD for those children.
 *
 * Threads: libev watches children only on its default loop, which is the process's main
 * thread's hub.  On other threads a specific pid is watched through a pidfd (Linux 5.3+;
 * ENOSYS before; EMFILE or ENFILE when no fd is left) and pid -1 fails with EINVAL.
 * While the main thread's hub runs, libev reaps every child on SIGCHLD, whoever waits for
 * it: a child waited for on another thread can then be reaped there first, and its status
 * kept by the main thread's hub, which another thread's wait does not look at (ECHILD), so
 * wait for children on the main thread when its hub is in use. */
GREEN_API pid_t green_waitpid(pid_t pid, int *status, double timeout);

/* ---- Files (ev_stat) -------------------------------------------------------------------- */

/* Wait until the attributes of path change (created, removed, written, renamed, chmod...),
 * at most timeout seconds; libev uses inotify where it can and otherwise polls every
 * `interval` seconds (0: libev's default, about 5 s).  libev compares stat() fields with
 * one-second times: a change that keeps the size and every time field within the same
 * second can be missed.  Returns 0 with the new attributes in *now (if not NULL; nlink 0
 * if path no longer exists), or -1 with errno EINVAL (path NULL or empty, negative or NaN
 * interval, NaN timeout), ETIMEDOUT and the blocking errors of hub.h. */
GREEN_API int green_stat_wait(const char *path, double interval, double timeout, struct stat *now);

/* ---- Hooks: idle, prepare, check, cleanup ----------------------------------------------- */

typedef struct green_hook green_hook_t;

/* A hook's callback: runs in the hub greenlet (cleanup: in the main greenlet), must not
 * block. */
typedef void (*green_hook_fn)(void *arg);

enum green_hook_kind {
    GREEN_HOOK_IDLE,    /* ev_idle: whenever the hub has nothing else to do; while one is
                           registered the hub never sleeps and stays alive (no EDEADLK) */
    GREEN_HOOK_PREPARE, /* ev_prepare: every loop iteration, before the callback queue runs
                           and the loop polls */
    GREEN_HOOK_CHECK,   /* ev_check: every loop iteration, after the poll and the watchers
                           it made ready */
    GREEN_HOOK_CLEANUP, /* ev_cleanup: once, at hub shutdown, after every greenlet died
                           and before the hub's other objects are freed (it may destroy
                           them); must not spawn */
};

/* Register fn(arg) to run as hook `kind` on the calling thread's hub.  Hooks of one kind
 * run in the order they were added (cleanup: the reverse).  Prepare, check and cleanup
 * hooks do not keep the hub alive.  Returns the hook, or NULL with errno EINVAL (fn NULL,
 * unknown kind), ENOMEM. */
GREEN_API green_hook_t *green_hook_add(enum green_hook_kind kind, green_hook_fn fn, void *arg);

/* Unregister and free the hook (also from inside its own callback, except a cleanup
 * hook's).  Returns 0, or -1 with errno EINVAL (NULL), EXDEV. */
GREEN_API int green_hook_remove(green_hook_t *hk);

/* ---- Waking the hub from any thread (ev_async) ------------------------------------------ */

typedef struct green_async green_async_t;

/* A handle another thread can poke: each green_async_send() makes the owner hub run
 * fn(arg) in the hub greenlet soon after; sends that arrive before it runs are merged into
 * one call (libev).  The async keeps the hub alive (a main greenlet waiting for another
 * thread does not get EDEADLK): destroy it when done.  Returns the handle, or NULL with
 * errno EINVAL (fn NULL), ENOMEM. */
GREEN_API green_async_t *green_async_new(green_hook_fn fn, void *arg);

/* As green_async_new(), but a delivery sets the event e (of the calling thread's hub).
 * Returns the handle, or NULL with errno EINVAL (e NULL), EXDEV (e of another thread),
 * ENOMEM. */
GREEN_API green_async_t *green_async_new_event(green_event_t *e);

/* Thread-safe (and, for a valid handle, async-signal-safe): ask the owner hub to run the
 * handle's callback.  What the sending thread wrote before the call is visible to the
 * callback.  The handle must not be destroyed while a send may still be in progress.
 * Returns 0, or -1 with errno EINVAL (NULL). */
GREEN_API int green_async_send(green_async_t *a);

/* Free a (a delivery still pending is dropped).  Returns 0, or -1 with errno EINVAL
 * (NULL), EXDEV (from another thread than the owner's). */
GREEN_API int green_async_destroy(green_async_t *a);

/* ---- fork() ----------------------------------------------------------------------------- */

/* Nothing to call: after fork() the child's hub (the forking thread's) reinitialises its
 * libev loop by itself (ev_loop_fork, through pthread_atfork), so green_sleep(), waits and
 * watchers keep working in the child.  As with gevent's fork, every greenlet of the forking
 * thread is alive in the child as well and runs there as it would have in the parent
 * (callbacks still queued run, waits still wait); other threads, and so their hubs, do not
 * exist in the child: their objects must not be used there.
 */

/* ---- Embedding another libev loop (ev_embed) -------------------------------------------- */

typedef struct green_embed green_embed_t;

/* Run the watchers of `other` from the calling thread's hub: whenever other has events
 * (and before the hub polls, when other has watcher changes to apply), the hub runs one
 * non-blocking iteration of it, so other's callbacks run in the hub greenlet: they must
 * not block, and a greenlet waits for what they do through an Event they set.  other must
 * use an embeddable backend (ev_embeddable_backends(), e.g. epoll; not io_uring, which
 * libev 4.33 lists but cannot embed) and must not be the hub's own loop; it stays the
 * caller's (not freed here; destroy the embed first).  The embed keeps the hub alive:
 * destroy it when done.  Returns the handle, or NULL with errno EINVAL (NULL, the hub's
 * loop, not embeddable), ENOMEM. */
GREEN_API green_embed_t *green_embed_new(struct ev_loop *other);

/* Stop embedding and free e.  Returns 0, or -1 with errno EINVAL (NULL), EXDEV. */
GREEN_API int green_embed_destroy(green_embed_t *e);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_WATCH_H */
