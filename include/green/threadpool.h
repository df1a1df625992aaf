/* SPDX-License-Identifier: MIT */
/* libgreen threadpool: run a blocking C function on a worker thread while the calling
 * greenlet waits cooperatively (gevent.threadpool.ThreadPool).
 *
 * A pool belongs to the hub of the thread that created it.  It starts worker threads
 * (pthreads) on demand, never more than its maximum `max`; a task beyond that waits in the
 * pool's FIFO queue for a free worker.  At most max + 1 tasks of a pool are unfinished at
 * once, as gevent's ThreadPool.spawn allows: a further submitter waits (cooperatively, in
 * the order they came) until the hub has handled a result.  A worker left without work for
 * the pool's idle timeout exits (gevent 22.08's idle_task_timeout).  Results come back to
 * the hub through one ev_async watcher per hub and one queue of finished tasks, whatever the
 * number of tasks and pools; each result then wakes its waiter through the hub's callback
 * queue, in the order the tasks finished (a place freed by a result wakes a waiting
 * submitter first, as in gevent).  While any task of a hub is in flight, the hub's loop counts as busy: a
 * main greenlet waiting for a task is not deadlocked (no EDEADLK); when none is, the watcher
 * keeps nothing alive.
 *
 * Ownership of a task's argument (the one rule to remember).  fn(arg) runs on a worker
 * thread; arg must stay valid until fn has returned.  When the waiting call returns 0, fn
 * has returned: arg and the result are the caller's.  When the waiting greenlet gives up —
 * ETIMEDOUT, ECANCELED (killed), EINTR — the task still runs to completion on its worker;
 * arg then belongs to the task's `drop` function, called exactly once, on the pool's thread,
 * as drop(arg, result) when the task has finished — or at once, as drop(arg, NULL), if
 * the task was never submitted because the caller gave up while waiting for a place in the
 * pool, or was already being killed when it called.  drop must not block nor destroy a
 * pool (it runs in the hub or in the greenlet that gave up); NULL means there is nothing
 * to free.  Every other failure (EINVAL, EXDEV, EPERM, ENOMEM, EAGAIN) happens before
 * anything is submitted: arg stays the caller's and drop is not called.
 *
 * Threads.  A pool and its calls belong to the thread of its hub: calls from another thread
 * (a worker of the pool included) fail with EXDEV, except green_threadpool_stats(), which is
 * thread-safe.  The function a worker runs may use libgreen itself: the worker thread then
 * has a hub of its own, shut down when the worker exits.
 *
 * Shutdown.  green_hub_shutdown() and thread exit first kill every greenlet (waiters of
 * tasks fail with ECANCELED and hand their tasks to drop), then destroy every pool of the
 * hub: queued and running tasks still run to completion, the workers are joined, the
 * pending drops run.  Pool pointers are invalid afterwards.
 *
 * fork().  In the child only the forking thread exists, so no worker does: the forking
 * thread's pools forget theirs and start fresh ones (gevent's ThreadPool._on_fork).  Tasks
 * queued at the fork run in the child too, on new workers; a task that was running has no
 * worker there, so its waiter in the child fails with EOWNERDEAD (arg stays the caller's,
 * drop is not called; an abandoned one's drop gets (arg, NULL)); results that came before
 * the fork are delivered.  Other threads' pools stay unusable in the child (EXDEV, their
 * hubs' threads are gone).  A child forked by a task, on a worker, should only exec or
 * _exit: its worker's pool belongs to a hub that does not exist there.
 *
 * Where C differs from gevent: gevent reports a task's exception; a C task reports what
 * it returns.  gevent's spawn() returns an AsyncResult; here the waiting call is the one
 * form (a task whose waiter gives up is handed to drop, so nothing needs releasing).
 */
#ifndef GREEN_THREADPOOL_H
#define GREEN_THREADPOOL_H

#include <stddef.h>

#include "hub.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_threadpool green_threadpool_t;

/* Frees what an abandoned task leaves: its argument and its result (see above). */
typedef void (*green_drop_fn)(void *arg, void *result);

/* The default pool's size and idle timeout (gevent's Hub.threadpool_size and
 * GEVENT_THREADPOOL_IDLE_TASK_TIMEOUT defaults). */
#define GREEN_THREADPOOL_DEFAULT_MAX 10
#define GREEN_THREADPOOL_DEFAULT_IDLE 5.0

/* A snapshot of a pool (green_threadpool_stats). */
struct green_threadpool_stats {
    unsigned max;          /* the most worker threads it may have */
    unsigned workers;      /* worker threads alive now */
    unsigned busy;         /* of which running a task now */
    unsigned peak_workers; /* the most workers alive at once, since the pool was made */
    unsigned peak_busy;    /* the most tasks running at once, since the pool was made */
    size_t queued;         /* tasks waiting for a worker */
    size_t unfinished;     /* tasks submitted whose result the hub has not handled yet */
    double idle_timeout;   /* seconds; negative: idle workers never exit */
};

/* ---- pools --------------------------------------------------------------------------- */

/* A new pool on the calling thread's hub (created on first use) with at most `max` worker
 * threads, none started yet; idle workers never exit until green_threadpool_set_idle_timeout
 * says otherwise (gevent's ThreadPool(maxsize)).  Returns the pool, or NULL with errno
 * EINVAL (max 0), ENOMEM. */
GREEN_API green_threadpool_t *green_threadpool_new(unsigned max);

/* The calling thread's hub's default pool, made on first use with at most
 * GREEN_THREADPOOL_DEFAULT_MAX workers and an idle timeout of GREEN_THREADPOOL_DEFAULT_IDLE
 * seconds.  Returns it, or NULL with errno ENOMEM. */
GREEN_API green_threadpool_t *green_threadpool_default(void);

/* Destroy p: wait (blocking the whole thread, not cooperatively) for its queued and running
 * tasks to finish, join its workers, run the drops of its abandoned tasks, free it.  The
 * default pool may be destroyed too: the next green_threadpool_run() makes a new one.
 * Returns 0, or -1 with errno EINVAL (NULL, or not a live pool: destroyed already), EXDEV
 * (another thread's pool), EBUSY (a greenlet is waiting for one of its tasks or for a
 * place in it; nothing changes). */
GREEN_API int green_threadpool_destroy(green_threadpool_t *p);

/* Change p's maximum number of workers (and so its max + 1 places, as gevent's maxsize
 * setter).  Raising it starts workers for queued tasks and wakes waiting submitters at once;
 * lowering it makes surplus workers exit when they finish their current task.  Returns 0,
 * or -1 with errno EINVAL (p NULL, max 0), EXDEV, EAGAIN (no worker thread could be
 * started; the maximum is changed all the same). */
GREEN_API int green_threadpool_set_max(green_threadpool_t *p, unsigned max);

/* Let p's workers exit after `seconds` without a task (negative: never; 0: as soon as they
 * run out of work).  Idle workers see the new timeout at once.  Returns 0, or -1 with errno
 * EINVAL (p NULL, seconds NaN), EXDEV. */
GREEN_API int green_threadpool_set_idle_timeout(green_threadpool_t *p, double seconds);

/* A snapshot of p's counters into *out.  Thread-safe: may be called from any thread while
 * p exists.  Returns 0, or -1 with errno EINVAL (p or out NULL). */
GREEN_API int green_threadpool_stats(const green_threadpool_t *p,
                                     struct green_threadpool_stats *out);

/* ---- running a task -------------------------------------------------------------------- */

/* Run fn(arg) on one of p's worker threads and wait for it, at most `timeout` seconds
 * in all, while the hub runs other greenlets (gevent's ThreadPool.apply; 0: a zero-second
 * timer, so the call times out unless the result is handled first).  If max + 1 tasks of p
 * are unfinished, first wait for a place.  A worker is started if none is idle and p has
 * fewer than its maximum; otherwise the task waits in p's queue.
 * Returns 0 with fn's return value in *result (if result is not NULL), or -1 with errno:
 *   ETIMEDOUT, ECANCELED, EINTR  the caller gave up (timeout, kill, a foreign switch): the
 *                                task runs to completion and drop(arg, result) runs after it
 *                                (at once, with NULL, if it was not submitted yet);
 *   EINVAL   p or fn NULL, timeout NaN;
 *   EXDEV    p belongs to another thread (a worker of p included);
 *   EPERM    called from the hub itself, or from a greenlet not spawned on the hub;
 *   ENOMEM   no memory for the task or its timer;
 *   EAGAIN   no worker thread exists and none could be started (pthread_create failed);
 *   EOWNERDEAD  in a fork() child: the task was running when the process forked, and its
 *            worker does not exist here (see above); arg is the caller's, drop not called.
 * For EINVAL, EXDEV, EPERM, ENOMEM and EAGAIN nothing was submitted: arg stays the caller's. */
GREEN_API int green_threadpool_apply(green_threadpool_t *p, green_fn fn, void *arg,
                                     green_drop_fn drop, double timeout, void **result);

/* green_threadpool_apply() on the calling thread's default pool (made on first use; ENOMEM
 * if it cannot be).  Returns 0 with the result, or -1 with errno as
 * green_threadpool_apply(). */
GREEN_API int green_threadpool_run(green_fn fn, void *arg, green_drop_fn drop, double timeout,
                                   void **result);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_THREADPOOL_H */
