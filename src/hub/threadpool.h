/* SPDX-License-Identifier: MIT */
/* The threadpool's internals: the hub's part (one ev_async, one queue of finished tasks),
 * the pools, their tasks and worker threads.
 *
 * Two sides share these records.  The hub's thread submits tasks, handles finished ones
 * and owns everything marked "hub thread"; worker threads take tasks from their pool's
 * queue and put them, finished, on the hub's done list.  Everything the two sides share is
 * marked "lock": it is read and written only under the hub part's one mutex, which orders
 * a task's result (written by the worker) before the hub reads it.
 */
#ifndef GREEN_HUB_THREADPOOL_H
#define GREEN_HUB_THREADPOOL_H

#include <pthread.h>

#include "green/threadpool.h"
#include "hub.h"

struct green_threadpool;

struct green_pool_task {
    struct green_pool_task *next; /* lock: in its pool's queue, then the hub's done list */
    struct green_pool_task *run_next, *run_prev; /* lock: in its pool's running list */
    struct green_threadpool *pool;
    green_fn fn;
    void *arg;
    green_drop_fn drop;
    void *result; /* written by the worker before it puts the task on the done list */
    /* hub thread: */
    struct green_task *waiter;  /* the greenlet waiting for it; NULL once it gave up */
    struct green_callback wake; /* resumes the waiter (queued when the result is handled) */
    bool lost; /* running when the process forked, and this is the child: it never ends */
};

struct green_pool_worker {
    pthread_t thread;
    struct green_threadpool *pool;
    /* lock: in its pool's list of live workers, then (next only) the hub's exited list */
    struct green_pool_worker *next, *prev;
};

struct green_threadpool {
    struct green_pools *hp;
    struct green_threadpool *next, *prev; /* hub thread: the hub's live pools */
    struct green_threadpool *next_live;   /* the process's registry (threadpool.c) */
    pthread_cond_t work;                  /* workers wait here for a task */
    pthread_cond_t gone;                  /* destroy waits here for the workers to exit */
    /* lock: */
    struct green_pool_task *head, *tail;
    struct green_pool_task *running; /* taken by a worker, not finished yet */
    struct green_pool_worker *live;  /* workers that have not left their loop */
    size_t queued;
    unsigned max, workers, idle, busy, peak_workers, peak_busy;
    double idle_timeout;
    bool closing;
    /* hub thread: */
    size_t unfinished; /* submitted, not yet handled by the hub (lock too: stats reads it) */
    unsigned waiters;  /* greenlets blocked on its tasks or on a free place */
    /* gevent's _available_worker_threads_greenlet_sem: places for unfinished tasks, max + 1
     * to begin with; a submitter without one waits in `submitters` (FIFO) until the hub
     * handles a result and the slot notifier wakes it. */
    long slots;
    struct green_link_list submitters;
    struct green_callback slot_notifier;
    bool slot_notifying;
};

/* The hub's part (struct green_hub_part's `pools`), made with the first pool. */
struct green_pools {
    struct green_hub_part *h;
    pthread_mutex_t lock;
    ev_async async;               /* workers send it; unref'd unless tasks are in flight */
    struct green_callback forked; /* queued in a fork child: lost tasks back, new workers */
    /* lock: */
    struct green_pool_task *done_head, *done_tail;
    struct green_pool_worker *exited; /* workers that left their loop, to be joined */
    /* hub thread: */
    size_t in_flight; /* tasks of every pool not yet handled: holds one ev_ref while > 0 */
    struct green_threadpool *pools;
    struct green_threadpool *default_pool;
};

/* Under hp->lock: append t to the done list the hub takes whole (a worker's result, or a
 * task lost in a fork child). */
static inline void green__pool_done_push(struct green_pools *hp, struct green_pool_task *t)
{
    t->next = NULL;
    if (hp->done_tail)
        hp->done_tail->next = t;
    else
        hp->done_head = t;
    hp->done_tail = t;
}

/* threadpool_worker.c.  Under hp->lock: queue t on its pool and make sure a worker will
 * take it (wake an idle one, or start one below the maximum).  Returns 0, or an errno value
 * (EAGAIN) when no worker exists and none could be started: t is then not queued. */
GREEN_HIDDEN int green__pool_enqueue(struct green_threadpool *p, struct green_pool_task *t);

/* Under hp->lock: start workers while tasks are queued beyond the idle ones and the pool is
 * below its maximum.  Returns 0, or EAGAIN if one could not be started. */
GREEN_HIDDEN int green__pool_grow(struct green_threadpool *p);

/* Not under the lock, hub thread: join the workers that have exited. */
GREEN_HIDDEN void green__pool_reap(struct green_pools *hp);

/* Hub shutdown (hub.c's hub_stop): destroy every pool of the hub, then its part. */
GREEN_HIDDEN void green__threadpools_term(struct green_hub_part *h);

/* fork() (fork.c's handlers): the forking thread's pools and the registry are locked
 * around it; in the child, where no worker exists, the pools forget their workers, their
 * running tasks become lost (done, never ended), and a hub callback hands those back and
 * starts fresh workers for the queued tasks. */
GREEN_HIDDEN void green__threadpools_atfork_prepare(void);
GREEN_HIDDEN void green__threadpools_atfork_parent(void);
GREEN_HIDDEN void green__threadpools_atfork_child(void);

#endif /* GREEN_HUB_THREADPOOL_H */
