/* SPDX-License-Identifier: MIT */
/* The threadpool, hub side (gevent's ThreadPool and ThreadResult): pools, submitting a task
 * and waiting for it, handling finished tasks, shutdown.
 *
 * One ev_async per hub serves every task of every pool: a worker puts its finished task on
 * the hub's done list and sends the watcher; the hub takes the whole list and queues one
 * wake-up callback per task whose greenlet still waits (gevent: the AsyncResult's
 * notifier), or hands the task to its drop function when its greenlet gave up.  The
 * watcher itself is unref'd; the tasks in flight hold one ev_ref between them, so the loop
 * does not run out of work (LoopExit) while a result is still to come.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "threadpool.h"

/* Every live pool of the process: green_threadpool_destroy() tells a destroyed pool (EINVAL)
 * from another thread's (EXDEV) without touching freed memory. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct green_threadpool *registry;

static void registry_add(struct green_threadpool *p)
{
    pthread_mutex_lock(&registry_lock);
    p->next_live = registry;
    registry = p;
    pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(struct green_threadpool *p)
{
    pthread_mutex_lock(&registry_lock);
    struct green_threadpool **at = &registry;
    while (*at && *at != p)
        at = &(*at)->next_live;
    if (*at)
        *at = p->next_live;
    pthread_mutex_unlock(&registry_lock);
}

static bool registry_has(const struct green_threadpool *p)
{
    pthread_mutex_lock(&registry_lock);
    const struct green_threadpool *q = registry;
    while (q && q != p)
        q = q->next_live;
    pthread_mutex_unlock(&registry_lock);
    return q != NULL;
}

/* ---- places for unfinished tasks (gevent's semaphore, Semaphore's notifier rules) ------- */

static void run_slot_notifier(struct green_hub_part *h, struct green_callback *cb)
{
    struct green_threadpool *p =
        (struct green_threadpool *)((char *)cb - offsetof(struct green_threadpool, slot_notifier));
    p->slot_notifying = true;
    struct green_link *l;
    while (p->slots > 0 && (l = link_pop_front(&p->submitters)))
        l->notify(h, l, p); /* the submitter takes its place and runs until it blocks */
    p->slot_notifying = false;
}

/* A place came free: wake the submitters in order, from the callback queue. */
static void notify_slots(struct green_threadpool *p)
{
    if (p->slots > 0 && !link_list_empty(&p->submitters) && !p->slot_notifier.queued &&
        !p->slot_notifying)
        green__callback_queue(p->hp->h, &p->slot_notifier);
}

static void release_slot(struct green_threadpool *p)
{
    p->slots++;
    notify_slots(p);
}

/* Greenlet only: take a place, waiting for one (gevent: a unit left is taken at once, even
 * with submitters waiting).  Returns 0, or -1 with errno as green__hub_block. */
static int take_slot(struct green_threadpool *p, struct green_task *self, const char *api)
{
    while (p->slots <= 0) {
        link_append(&p->submitters, &self->wait);
        p->waiters++;
        int rc = green__hub_block(p->hp->h, self, p, api);
        p->waiters--;
        if (rc < 0) {
            int e = errno;
            link_remove(&self->wait);
            errno = e;
            return -1;
        }
    }
    p->slots--;
    return 0;
}

/* ---- finished tasks ------------------------------------------------------------------ */

static void drop_task(struct green_pool_task *t)
{
    if (t->drop)
        t->drop(t->arg, t->result);
    free(t);
}

static void run_wake(struct green_hub_part *h, struct green_callback *cb)
{
    struct green_pool_task *t =
        (struct green_pool_task *)((char *)cb - offsetof(struct green_pool_task, wake));
    green__hub_resume(h, t->waiter->g, 0, t); /* the waiter frees t */
}

/* Hub thread: take the done list, wake or drop each task in the order they finished, join
 * the workers that have left. */
static void handle_done(struct green_pools *hp)
{
    pthread_mutex_lock(&hp->lock);
    struct green_pool_task *t = hp->done_head;
    hp->done_head = hp->done_tail = NULL;
    for (struct green_pool_task *u = t; u; u = u->next)
        u->pool->unfinished--;
    pthread_mutex_unlock(&hp->lock);
    while (t) {
        struct green_pool_task *next = t->next;
        if (--hp->in_flight == 0)
            ev_unref(hp->h->loop);
        release_slot(t->pool); /* gevent: before the result's own wake-up */
        if (t->waiter)
            green__callback_queue(hp->h, &t->wake);
        else
            drop_task(t);
        t = next;
    }
    green__pool_reap(hp);
}

static void on_async(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop, (void)revents;
    handle_done(w->data);
}

/* ---- fork ---------------------------------------------------------------------------- */

static void conds_init(struct green_threadpool *p)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* idle timeouts ignore clock changes */
    pthread_cond_init(&p->work, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&p->gone, NULL);
}

/* The locks a worker or another thread's hub may hold are taken around fork(), so the
 * child's copies are consistent; the child then makes them anew (their waiters are gone). */
void green__threadpools_atfork_prepare(void)
{
    pthread_mutex_lock(&registry_lock);
    struct green_hub_part *h = green__hub_peek();
    if (h && h->pools)
        pthread_mutex_lock(&h->pools->lock);
}

void green__threadpools_atfork_parent(void)
{
    struct green_hub_part *h = green__hub_peek();
    if (h && h->pools)
        pthread_mutex_unlock(&h->pools->lock);
    pthread_mutex_unlock(&registry_lock);
}

/* Only the forking thread exists in the child: no worker does.  Their records are freed
 * (the threads cannot be joined), the tasks they were running are put on the done list as
 * lost, and the counts start from zero, so the next submit, or the hub callback queued
 * here (run_forked), starts fresh workers.  Plain memory work: nothing here calls user
 * code.  (Not libev's ev_fork: fork() from a greenlet happens in the middle of the hub's
 * loop iteration, after libev's check for fork watchers, and the poll that follows
 * consumes ev_loop_fork's flag, so the watcher would never run.) */
void green__threadpools_atfork_child(void)
{
    pthread_mutex_init(&registry_lock, NULL);
    struct green_hub_part *h = green__hub_peek();
    struct green_pools *hp = h ? h->pools : NULL;
    if (!hp)
        return;
    pthread_mutex_init(&hp->lock, NULL);
    for (struct green_threadpool *p = hp->pools; p; p = p->next) {
        conds_init(p);
        for (struct green_pool_worker *w = p->live, *next; w; w = next) {
            next = w->next;
            free(w);
        }
        p->live = NULL;
        p->workers = p->idle = p->busy = 0;
        for (struct green_pool_task *t = p->running, *next; t; t = next) {
            next = t->run_next;
            t->lost = true;
            green__pool_done_push(hp, t);
        }
        p->running = NULL;
    }
    for (struct green_pool_worker *w = hp->exited, *next; w; w = next) {
        next = w->next;
        free(w);
    }
    hp->exited = NULL;
    if (!hp->forked.queued)
        green__callback_queue(h, &hp->forked);
}

/* In the child: hand back the lost tasks (and any result that came before the fork), and
 * start workers for the tasks still queued. */
static void run_forked(struct green_hub_part *h, struct green_callback *cb)
{
    (void)cb;
    struct green_pools *hp = h->pools;
    handle_done(hp);
    pthread_mutex_lock(&hp->lock);
    for (struct green_threadpool *p = hp->pools; p; p = p->next)
        green__pool_grow(p); /* EAGAIN leaves the queue to the next submit's try */
    pthread_mutex_unlock(&hp->lock);
}

/* ---- pools --------------------------------------------------------------------------- */

static struct green_pools *pools_get(struct green_hub_part *h, const char *api)
{
    if (h->pools)
        return h->pools;
    struct green_pools *hp = calloc(1, sizeof *hp);
    if (!hp) {
        green__fail(ENOMEM, api, "no memory for the hub's threadpool state");
        return NULL;
    }
    hp->h = h;
    pthread_mutex_init(&hp->lock, NULL);
    ev_async_init(&hp->async, on_async);
    hp->async.data = hp;
    ev_async_start(h->loop, &hp->async);
    ev_unref(h->loop); /* tasks in flight keep the loop alive, not the watcher */
    hp->forked.run = run_forked;
    h->pools = hp;
    return hp;
}

static struct green_threadpool *pool_new(struct green_hub_part *h, unsigned max, double idle,
                                         const char *api)
{
    struct green_pools *hp = pools_get(h, api);
    if (!hp)
        return NULL;
    struct green_threadpool *p = calloc(1, sizeof *p);
    if (!p) {
        green__fail(ENOMEM, api, "no memory for the pool");
        return NULL;
    }
    conds_init(p);
    p->hp = hp;
    p->max = max;
    p->idle_timeout = idle;
    p->slots = (long)max + 1; /* gevent: Semaphore(1), then += maxsize */
    p->slot_notifier.run = run_slot_notifier;
    p->next = hp->pools;
    if (hp->pools)
        hp->pools->prev = p;
    hp->pools = p;
    registry_add(p);
    return p;
}

/* Wait for p's tasks, join its workers, drop what its abandoned tasks left, free it. */
static void pool_close(struct green_threadpool *p)
{
    struct green_pools *hp = p->hp;
    pthread_mutex_lock(&hp->lock);
    p->closing = true;
    pthread_cond_broadcast(&p->work);
    while (p->workers > 0)
        pthread_cond_wait(&p->gone, &hp->lock);
    pthread_mutex_unlock(&hp->lock);
    handle_done(hp); /* p's tasks are all on the done list now; its workers are joined */
    green__callback_cancel(hp->h, &p->slot_notifier); /* its submitters have all left */
    if (p->prev)
        p->prev->next = p->next;
    else
        hp->pools = p->next;
    if (p->next)
        p->next->prev = p->prev;
    if (hp->default_pool == p)
        hp->default_pool = NULL;
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->gone);
    free(p);
}

/* p if the calling thread may use it; NULL with errno EINVAL or EXDEV. */
static struct green_threadpool *pool_of_caller(green_threadpool_t *p, const char *api)
{
    if (!p) {
        green__fail(EINVAL, api, "the pool is NULL");
        return NULL;
    }
    if (p->hp->h != green__hub_peek()) {
        char theirs[GREEN_DESCRIBE_THREAD_MAX];
        green__fail(EXDEV, api,
                    "the pool belongs to the hub of thread %s, not to the calling "
                    "thread's; pools cannot be used across threads",
                    green__describe_thread(p->hp->h->ts, theirs, sizeof theirs));
        return NULL;
    }
    return p;
}

GREEN_API green_threadpool_t *green_threadpool_new(unsigned max)
{
    const char *api = "green_threadpool_new";
    struct green_hub_part *h = green__hub_get(api);
    if (!h)
        return NULL;
    if (max == 0) {
        green__fail(EINVAL, api, "a pool needs at least one worker (max is 0)");
        return NULL;
    }
    return pool_new(h, max, -1.0, api);
}

GREEN_API green_threadpool_t *green_threadpool_default(void)
{
    const char *api = "green_threadpool_default";
    struct green_hub_part *h = green__hub_get(api);
    if (!h)
        return NULL;
    if (h->pools && h->pools->default_pool)
        return h->pools->default_pool;
    struct green_threadpool *p =
        pool_new(h, GREEN_THREADPOOL_DEFAULT_MAX, GREEN_THREADPOOL_DEFAULT_IDLE, api);
    if (p)
        h->pools->default_pool = p;
    return p;
}

GREEN_API int green_threadpool_destroy(green_threadpool_t *p)
{
    const char *api = "green_threadpool_destroy";
    if (!p)
        return green__fail(EINVAL, api, "the pool is NULL");
    if (!registry_has(p))
        return green__fail(EINVAL, api, "%p is not a live pool (destroyed already?)", (void *)p);
    if (!pool_of_caller(p, api))
        return -1;
    if (p->waiters || p->slot_notifying)
        return green__fail(EBUSY, api, "%u greenlet(s) are waiting on the pool", p->waiters);
    registry_remove(p);
    pool_close(p);
    return 0;
}

GREEN_API int green_threadpool_set_max(green_threadpool_t *p, unsigned max)
{
    const char *api = "green_threadpool_set_max";
    if (!pool_of_caller(p, api))
        return -1;
    if (max == 0)
        return green__fail(EINVAL, api, "a pool needs at least one worker (max is 0)");
    p->slots += (long)max - (long)p->max; /* gevent's _set_maxsize */
    notify_slots(p);
    pthread_mutex_lock(&p->hp->lock);
    p->max = max;
    pthread_cond_broadcast(&p->work); /* surplus idle workers leave */
    int rc = green__pool_grow(p);
    pthread_mutex_unlock(&p->hp->lock);
    return rc ? green__fail(rc, api, "a worker thread could not be started") : 0;
}

GREEN_API int green_threadpool_set_idle_timeout(green_threadpool_t *p, double seconds)
{
    const char *api = "green_threadpool_set_idle_timeout";
    if (!pool_of_caller(p, api))
        return -1;
    if (seconds != seconds)
        return green__fail(EINVAL, api, "the idle timeout is NaN");
    pthread_mutex_lock(&p->hp->lock);
    p->idle_timeout = seconds < 0 ? -1.0 : seconds;
    pthread_cond_broadcast(&p->work); /* idle workers wait again with the new timeout */
    pthread_mutex_unlock(&p->hp->lock);
    return 0;
}

GREEN_API int green_threadpool_stats(const green_threadpool_t *p,
                                     struct green_threadpool_stats *out)
{
    if (!p || !out)
        return green__fail(EINVAL, "green_threadpool_stats", "the pool or out is NULL");
    pthread_mutex_lock(&p->hp->lock);
    *out = (struct green_threadpool_stats){
        .max = p->max,
        .workers = p->workers,
        .busy = p->busy,
        .peak_workers = p->peak_workers,
        .peak_busy = p->peak_busy,
        .queued = p->queued,
        .unfinished = p->unfinished,
        .idle_timeout = p->idle_timeout,
    };
    pthread_mutex_unlock(&p->hp->lock);
    return 0;
}

/* ---- running a task -------------------------------------------------------------------- */

/* The waiter gave up: the task is dropped when it finishes, or now if it has. */
static void give_up(struct green_hub_part *h, struct green_pool_task *t)
{
    t->waiter = NULL;
    if (t->wake.queued) {
        green__callback_cancel(h, &t->wake);
        drop_task(t);
    }
}

GREEN_API int green_threadpool_apply(green_threadpool_t *p, green_fn fn, void *arg,
                                     green_drop_fn drop, double timeout, void **result)
{
    const char *api = "green_threadpool_apply";
    if (!pool_of_caller(p, api))
        return -1;
    if (!fn)
        return green__fail(EINVAL, api, "fn is NULL");
    if (green__timeout_check(timeout, api) < 0)
        return -1;
    struct green_pools *hp = p->hp;
    struct green_hub_part *h = hp->h;
    struct green_task *self = green__hub_self(h, api);
    if (!self) {
        int e = errno;
        if (e == ECANCELED && drop) /* the header's rule: ECANCELED hands arg to drop */
            drop(arg, NULL);
        errno = e;
        return -1;
    }
    struct green_pool_task *t = calloc(1, sizeof *t);
    if (!t)
        return green__fail(ENOMEM, api, "no memory for the task");
    *t = (struct green_pool_task){.pool = p, .fn = fn, .arg = arg, .drop = drop, .waiter = self};
    t->wake.run = run_wake;
    struct green_timeout *own = NULL;
    if (timeout >= 0 && !(own = green__timeout_start(h, timeout, api))) {
        free(t);
        return -1;
    }
    if (take_slot(p, self, api) < 0) {
        int e = errno;
        green__timeout_end(h, own);
        free(t);
        if (drop && (e == ETIMEDOUT || e == ECANCELED || e == EINTR))
            drop(arg, NULL); /* the header's rule: these errors hand arg to drop */
        errno = e;
        return -1;
    }
    pthread_mutex_lock(&hp->lock);
    int rc = green__pool_enqueue(p, t);
    if (rc == 0)
        p->unfinished++;
    pthread_mutex_unlock(&hp->lock);
    if (rc != 0) {
        release_slot(p);
        green__timeout_end(h, own);
        free(t);
        return green__fail(rc, api, "no worker thread exists and none could be started");
    }
    if (hp->in_flight++ == 0)
        ev_ref(h->loop);
    p->waiters++;
    int got = green__hub_block(h, self, t, api);
    int e = errno;
    p->waiters--;
    green__timeout_end(h, own);
    if (got == 0 && t->lost) {
        free(t);
        return green__fail(EOWNERDEAD, api,
                           "the task was running on a worker when the process forked: "
                           "in this child that worker does not exist");
    }
    if (got == 0) {
        if (result)
            *result = t->result;
        free(t);
        return 0;
    }
    give_up(h, t);
    errno = e;
    return -1;
}

GREEN_API int green_threadpool_run(green_fn fn, void *arg, green_drop_fn drop, double timeout,
                                   void **result)
{
    green_threadpool_t *p = green_threadpool_default();
    if (!p)
        return -1;
    return green_threadpool_apply(p, fn, arg, drop, timeout, result);
}

/* ---- shutdown ------------------------------------------------------------------------ */

void green__threadpools_term(struct green_hub_part *h)
{
    struct green_pools *hp = h->pools;
    if (!hp)
        return;
    while (hp->pools) { /* every greenlet is dead: no task has a waiter */
        registry_remove(hp->pools);
        pool_close(hp->pools);
    }
    GREEN_ASSERT(hp->in_flight == 0 && !hp->exited);
    ev_ref(h->loop); /* balance the unref of pools_get */
    ev_async_stop(h->loop, &hp->async);
    green__callback_cancel(h, &hp->forked); /* a fork child that shut down before it ran */
    pthread_mutex_destroy(&hp->lock);
    free(hp);
    h->pools = NULL;
}
