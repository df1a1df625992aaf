/* SPDX-License-Identifier: MIT */
/* The threadpool's worker threads (gevent's _WorkerGreenlet.run): take a task from the
 * pool's queue, run it, put it on the hub's done list and wake the hub; leave when the pool
 * closes, when the pool has more workers than its maximum, or after the idle timeout.
 *
 * A worker that leaves puts itself on the hub's list of exited workers and wakes the hub,
 * which joins it (pthread_join: its stack is given back, and nothing outlives the pool).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "threadpool.h"

static void wake_hub(struct green_pools *hp) { ev_async_send(hp->h->loop, &hp->async); }

/* Under the lock: the running list, which a fork child reads (threadpool.c). */
static void running_add(struct green_threadpool *p, struct green_pool_task *t)
{
    t->run_prev = NULL;
    t->run_next = p->running;
    if (p->running)
        p->running->run_prev = t;
    p->running = t;
}

static void running_remove(struct green_threadpool *p, struct green_pool_task *t)
{
    if (t->run_prev)
        t->run_prev->run_next = t->run_next;
    else
        p->running = t->run_next;
    if (t->run_next)
        t->run_next->run_prev = t->run_prev;
}

/* Under the lock: wait for work, at most the idle timeout.  Returns ETIMEDOUT or 0. */
static int wait_for_work(struct green_threadpool *p)
{
    pthread_mutex_t *lock = &p->hp->lock;
    if (p->idle_timeout < 0 || p->idle_timeout > 1e9) /* beyond time_t's reach: forever */
        return pthread_cond_wait(&p->work, lock);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    time_t whole = (time_t)p->idle_timeout; /* >= 0: truncation is floor */
    until.tv_sec += whole;
    until.tv_nsec += (long)((p->idle_timeout - (double)whole) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(&p->work, lock, &until);
}

/* Under the lock: the next task, or NULL when this worker should leave. */
static struct green_pool_task *next_task(struct green_threadpool *p)
{
    for (;;) {
        if (p->workers > p->max) /* the maximum was lowered: the others take the queue */
            return NULL;
        if (p->head)
            break;
        if (p->closing)
            return NULL;
        p->idle++;
        int rc = wait_for_work(p);
        p->idle--;
        if (rc == ETIMEDOUT && !p->head)
            return NULL;
    }
    struct green_pool_task *t = p->head;
    p->head = t->next;
    if (!p->head)
        p->tail = NULL;
    p->queued--;
    return t;
}

static void *worker_main(void *arg)
{
    struct green_pool_worker *self = arg;
    struct green_threadpool *p = self->pool;
    struct green_pools *hp = p->hp;
    pthread_mutex_lock(&hp->lock);
    struct green_pool_task *t;
    while ((t = next_task(p))) {
        if (++p->busy > p->peak_busy)
            p->peak_busy = p->busy;
        running_add(p, t);
        pthread_mutex_unlock(&hp->lock);
        t->result = t->fn(t->arg);
        pthread_mutex_lock(&hp->lock);
        running_remove(p, t);
        p->busy--;
        green__pool_done_push(hp, t);
        wake_hub(hp);
    }
    p->workers--;
    if (self->prev)
        self->prev->next = self->next;
    else
        p->live = self->next;
    if (self->next)
        self->next->prev = self->prev;
    self->next = hp->exited;
    hp->exited = self;
    if (p->workers == 0)
        pthread_cond_broadcast(&p->gone);
    /* Still under the lock: the hub frees the pool only after seeing workers == 0 and
     * joining this thread, so p is not touched after the unlock. */
    wake_hub(hp);
    pthread_mutex_unlock(&hp->lock);
    return NULL;
}

static int start_worker(struct green_threadpool *p)
{
    struct green_pool_worker *w = calloc(1, sizeof *w);
    if (!w)
        return EAGAIN;
    w->pool = p;
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        free(w);
        return EAGAIN;
    }
    w->next = p->live; /* under the lock, which the new worker takes first */
    if (p->live)
        p->live->prev = w;
    p->live = w;
    if (++p->workers > p->peak_workers)
        p->peak_workers = p->workers;
    return 0;
}

int green__pool_grow(struct green_threadpool *p)
{
    while (p->queued > p->idle && p->workers < p->max)
        if (start_worker(p) != 0)
            return EAGAIN;
    return 0;
}

int green__pool_enqueue(struct green_threadpool *p, struct green_pool_task *t)
{
    t->next = NULL;
    if (p->tail)
        p->tail->next = t;
    else
        p->head = t;
    p->tail = t;
    p->queued++;
    /* An idle worker counts until it has taken a task, so queued > idle means this task
     * has no worker yet. */
    if (p->idle >= p->queued) {
        pthread_cond_signal(&p->work);
        return 0;
    }
    if (green__pool_grow(p) == 0 || p->workers > 0)
        return 0;
    p->head = p->tail = NULL; /* t was the only one: no worker ever took a task */
    p->queued = 0;
    return EAGAIN;
}

void green__pool_reap(struct green_pools *hp)
{
    pthread_mutex_lock(&hp->lock);
    struct green_pool_worker *w = hp->exited;
    hp->exited = NULL;
    pthread_mutex_unlock(&hp->lock);
    while (w) {
        struct green_pool_worker *next = w->next;
        pthread_join(w->thread, NULL);
        free(w);
        w = next;
    }
}
