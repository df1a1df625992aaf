/* SPDX-License-Identifier: MIT */
/* Queue: gevent.queue.Queue, LifoQueue and PriorityQueue (the item order: queue_store.c),
 * with JoinableQueue's task_done/join and Python 3.13's shutdown on every kind.
 *
 * Blocked getters and putters wait in FIFO lines.  Whoever makes progress possible (a put
 * with getters waiting, a get with putters waiting) queues one _unlock callback, which
 * admits putters while there is room (adding each one's item as it is admitted) and
 * wakes getters while there are items, alternating, each woken greenlet running until it
 * blocks.  A woken getter takes the item itself when it resumes; until then any greenlet
 * may take it (a blocked getter reserves nothing), as in gevent.  A peeker waits in the
 * getters' line and takes nothing, so the next getter is woken too.
 *
 * When _unlock's first act is to wake the first getter, that wake is its last act and the
 * rest of its loop its tail (green__hub_resume_last): a getter woken so may run the tail
 * and hand the CPU on to the next callback's greenlet (src/hub/handoff.c), as a
 * ping-pong over two queues does on every wake-up.
 *
 * Shutdown admits nobody any more: the same _unlock then wakes the getters that find the
 * queue empty and every putter, and each fails with EPIPE when it resumes.  Join waits on
 * "no unfinished items" with Event's rules (linkable.h), which is JoinableQueue's _cond.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "linkable.h"
#include "queue_store.h"

struct green_queue {
    struct green_hub_part *h;
    struct queue_store store;
    size_t maxsize; /* 0: unbounded */
    size_t nputters;
    struct green_link_list getters, putters;
    struct green_callback unlock;
    bool unlocking; /* the _unlock callback is running */
    bool doomed;    /* destroyed by a greenlet _unlock woke: _unlock frees it when it ends */
    bool shutdown;
    size_t unfinished;
    struct green_linkable joiners; /* ready: nothing unfinished */
};

static struct green_queue *queue_of_joiners(const struct green_linkable *l)
{
    return (struct green_queue *)((char *)l - offsetof(struct green_queue, joiners));
}

static bool all_done(const struct green_linkable *l)
{
    return queue_of_joiners(l)->unfinished == 0;
}

static bool has_room(const struct green_queue *q)
{
    return !q->maxsize || q->store.count < q->maxsize;
}

/* JoinableQueue._put: every item that enters counts as unfinished. */
static void add_item(struct green_queue *q, void *item)
{
    green__store_push(&q->store, item);
    q->unfinished++;
}

static void wake_first(struct green_hub_part *h, struct green_queue *q,
                       struct green_link_list *line)
{
    struct green_link *l = link_pop_front(line);
    if (line == &q->putters)
        q->nputters--;
    green__link_notify(h, l, q);
}

static void queue_free(void *obj)
{
    struct green_queue *q = obj;
    green__store_free(&q->store);
    free(q);
}

static struct green_queue *queue_of_unlock(struct green_callback *cb)
{
    return (struct green_queue *)((char *)cb - offsetof(struct green_queue, unlock));
}

static bool admits_putter(const struct green_queue *q)
{
    return !q->shutdown && !link_list_empty(&q->putters) && has_room(q);
}

static bool wakes_getter(const struct green_queue *q)
{
    return !link_list_empty(&q->getters) && q->store.count;
}

/* _unlock's loop from its top, then its end.  A destroyed queue's lines are empty: the
 * loops end without touching its items. */
static void unlock_loop(struct green_hub_part *h, struct green_queue *q)
{
    for (;;) {
        bool repeat = false;
        if (admits_putter(q)) {
            repeat = true;
            /* the putter reserved the room when it blocked */
            add_item(q, green__task_of_wait(q->putters.head)->wait_item);
            wake_first(h, q, &q->putters);
        }
        if (wakes_getter(q)) {
            repeat = true;
            wake_first(h, q, &q->getters);
        }
        if (!repeat)
            break;
    }
    while (q->shutdown && !link_list_empty(&q->getters)) /* the queue is empty now */
        wake_first(h, q, &q->getters);
    while (q->shutdown && !link_list_empty(&q->putters))
        wake_first(h, q, &q->putters);
    q->unlocking = false;
    if (q->doomed)
        queue_free(q);
}

/* What is left of _unlock once it woke a getter (a green_tail_fn): its loop again.  With
 * may_resume false, only if that loop would wake nobody (then it only ends). */
static bool unlock_tail(struct green_hub_part *h, void *obj, bool may_resume)
{
    struct green_queue *q = obj;
    if (!may_resume &&
        (admits_putter(q) || wakes_getter(q) ||
         (q->shutdown && !(link_list_empty(&q->getters) && link_list_empty(&q->putters)))))
        return false;
    unlock_loop(h, q);
    return true;
}

/* Whether _unlock's first act is to wake the first getter, a plain waiter other than self
 * (NULL: any): then that wake is resumed as its last act, the loop being its tail, so the
 * getter may run the tail and hand the CPU on (src/hub/handoff.c). */
static struct green_link *first_wake_is_getter(const struct green_queue *q,
                                               const struct green_task *self)
{
    if (admits_putter(q) || !wakes_getter(q))
        return NULL;
    struct green_link *l = q->getters.head;
    return l->notify == green__wake_waiter && (!self || l != &self->wait) ? l : NULL;
}

void green__queue_unlock_run(struct green_hub_part *h, struct green_callback *cb)
{
    struct green_queue *q = queue_of_unlock(cb);
    q->unlocking = true;
    struct green_link *l = first_wake_is_getter(q, NULL);
    if (!l) {
        unlock_loop(h, q);
        return;
    }
    link_pop_front(&q->getters);
    green__hub_resume_last(h, green__task_of_wait(l), q, unlock_tail); /* q may be gone */
}

struct green_task *green__queue_unlock_start(struct green_hub_part *h, struct green_callback *cb,
                                             struct green_task *self, void **value)
{
    struct green_queue *q = queue_of_unlock(cb);
    struct green_link *l = first_wake_is_getter(q, self);
    if (!l)
        return NULL;
    q->unlocking = true;
    link_pop_front(&q->getters);
    return green__hub_take_head_for(h, l, unlock_tail, q, value);
}

static void schedule_unlock(struct green_queue *q)
{
    if (!q->unlock.queued && !q->unlocking)
        green__callback_queue(q->h, &q->unlock);
}

static green_queue_t *queue_new(size_t maxsize, enum queue_kind kind, green_queue_cmp_fn cmp,
                                const char *api)
{
    struct green_hub_part *h = green__hub_get(api);
    if (!h)
        return NULL;
    struct green_queue *q = calloc(1, sizeof *q);
    if (!q) {
        green__fail(ENOMEM, api, "out of memory");
        return NULL;
    }
    q->h = h;
    q->maxsize = maxsize;
    q->store.kind = kind;
    q->store.cmp = cmp;
    q->unlock.run = green__queue_unlock_run;
    green__linkable_init(&q->joiners, h, all_done, true);
    return q;
}

GREEN_API green_queue_t *green_queue_new(size_t maxsize)
{
    return queue_new(maxsize, QUEUE_FIFO, NULL, "green_queue_new");
}

GREEN_API green_queue_t *green_queue_new_lifo(size_t maxsize)
{
    return queue_new(maxsize, QUEUE_LIFO, NULL, "green_queue_new_lifo");
}

GREEN_API green_queue_t *green_queue_new_priority(size_t maxsize, green_queue_cmp_fn cmp)
{
    if (!cmp) {
        green__fail(EINVAL, "green_queue_new_priority", "the comparison function is NULL");
        return NULL;
    }
    return queue_new(maxsize, QUEUE_PRIORITY, cmp, "green_queue_new_priority");
}

GREEN_API int green_queue_destroy(green_queue_t *q)
{
    if (!green__sync_owned_here(q, q ? q->h : NULL, "green_queue_destroy"))
        return -1;
    if (q->doomed || green__linkable_doomed(&q->joiners))
        return green__fail(EINVAL, "green_queue_destroy", "the queue was destroyed already");
    if (!link_list_empty(&q->getters) || !link_list_empty(&q->putters) || q->unlock.queued ||
        !green__linkable_idle(&q->joiners))
        return green__fail(EBUSY, "green_queue_destroy", "greenlets are waiting on the queue");
    if (q->unlocking) /* it woke the caller */
        q->doomed = true;
    else if (!green__linkable_defer_free(&q->joiners, q, queue_free))
        queue_free(q);
    return 0;
}

static int refuse_shut(const char *api)
{
    return green__fail(EPIPE, api, "the queue was shut down");
}

static int put_now(struct green_queue *q, void *item, const char *api)
{
    if (green__store_reserve(&q->store, q->store.count + q->nputters + 1, api) < 0)
        return -1;
    add_item(q, item);
    if (!link_list_empty(&q->getters))
        schedule_unlock(q);
    return 0;
}

/* A blocking wait in line `list`; own timeout started first or after linking, as gevent
 * does for get and put respectively.  Returns 0 when woken by the _unlock callback. */
static int wait_in_line(struct green_queue *q, struct green_task *self,
                        struct green_link_list *list, double timeout, bool timer_first,
                        const char *api)
{
    struct green_timeout *own = NULL;
    if (timer_first && timeout >= 0 && !(own = green__timeout_start(q->h, timeout, api)))
        return -1;
    link_append(list, &self->wait);
    if (list == &q->putters)
        q->nputters++;
    if (!timer_first && timeout >= 0 && !(own = green__timeout_start(q->h, timeout, api))) {
        link_remove(&self->wait);
        q->nputters -= list == &q->putters;
        return -1;
    }
    if (!link_list_empty(list == &q->putters ? &q->getters : &q->putters))
        schedule_unlock(q);
    struct green_handoff to = {q->h->hub, NULL};
    if (q->h->tail_task == self) /* the hub would finish a callback, start the next */
        to = green__hub_handoff(q->h, self);
    int rc = green__hub_block_via(q->h, self, q, api, to.to, to.value);
    int e = errno;
    if (self->wait.list) { /* still in line: it did not get through */
        q->nputters -= self->wait.list == &q->putters;
        link_remove(&self->wait);
    }
    bool own_expired = rc < 0 && e == ETIMEDOUT && self->fired == own;
    green__timeout_end(q->h, own);
    if (own_expired)
        return green__fail(ETIMEDOUT, api, "the queue stayed %s",
                           list == &q->putters ? "full" : "empty");
    errno = e;
    return rc;
}

GREEN_API int green_queue_put(green_queue_t *q, void *item, double timeout)
{
    const char *api = "green_queue_put";
    if (!green__sync_owner(q, q ? q->h : NULL, api))
        return -1;
    if (q->shutdown)
        return refuse_shut(api);
    if (has_room(q))
        return put_now(q, item, api);
    if (!green__timeout_valid(timeout))
        return green__fail(EINVAL, api, "the timeout is NaN");
    struct green_task *self = green__hub_self(q->h, api);
    if (!self || green__store_reserve(&q->store, q->store.count + q->nputters + 1, api) < 0)
        return -1;
    self->wait_item = item;
    if (wait_in_line(q, self, &q->putters, timeout, false, api) < 0)
        return -1;
    return q->shutdown ? refuse_shut(api) : 0; /* shut down: woken, not admitted */
}

GREEN_API int green_queue_try_put(green_queue_t *q, void *item)
{
    const char *api = "green_queue_try_put";
    if (!green__sync_owner(q, q ? q->h : NULL, api))
        return -1;
    if (q->shutdown)
        return refuse_shut(api);
    if (!has_room(q))
        return green__fail(EAGAIN, api, "the queue is full");
    return put_now(q, item, api);
}

/* The next item, taken (get) or not (peek); a get makes room for the putters. */
static void *next_item(struct green_queue *q, bool take)
{
    if (!take)
        return green__store_peek(&q->store);
    if (!link_list_empty(&q->putters))
        schedule_unlock(q);
    return green__store_pop(&q->store);
}

static int get_or_peek(green_queue_t *q, double timeout, bool block, bool take, void **item,
                       const char *api)
{
    if (!green__sync_owner(q, q ? q->h : NULL, api))
        return -1;
    if (!q->store.count) {
        if (q->shutdown)
            return refuse_shut(api);
        if (!block)
            return green__fail(EAGAIN, api, "the queue is empty");
        if (!green__timeout_valid(timeout))
            return green__fail(EINVAL, api, "the timeout is NaN");
        struct green_task *self = green__hub_self(q->h, api);
        if (!self || wait_in_line(q, self, &q->getters, timeout, true, api) < 0)
            return -1;
        if (!q->store.count) /* woken by the shutdown */
            return refuse_shut(api);
    }
    void *it = next_item(q, take);
    if (item)
        *item = it;
    return 0;
}

GREEN_API int green_queue_get(green_queue_t *q, double timeout, void **item)
{
    return get_or_peek(q, timeout, true, true, item, "green_queue_get");
}

GREEN_API int green_queue_try_get(green_queue_t *q, void **item)
{
    return get_or_peek(q, 0, false, true, item, "green_queue_try_get");
}

GREEN_API int green_queue_peek(green_queue_t *q, double timeout, void **item)
{
    return get_or_peek(q, timeout, true, false, item, "green_queue_peek");
}

GREEN_API int green_queue_try_peek(green_queue_t *q, void **item)
{
    return get_or_peek(q, 0, false, false, item, "green_queue_try_peek");
}

GREEN_API size_t green_queue_size(const green_queue_t *q) { return q ? q->store.count : 0; }

/* ---- task_done / join ---------------------------------------------------------------- */

GREEN_API int green_queue_task_done(green_queue_t *q)
{
    const char *api = "green_queue_task_done";
    if (!green__sync_owner(q, q ? q->h : NULL, api))
        return -1;
    if (q->unfinished == 0)
        return green__fail(EINVAL, api, "called more times than items were put");
    if (--q->unfinished == 0)
        green__linkable_check(&q->joiners);
    return 0;
}

GREEN_API int green_queue_join(green_queue_t *q, double timeout)
{
    const char *api = "green_queue_join";
    if (!green__sync_owner(q, q ? q->h : NULL, api))
        return -1;
    if (!green__timeout_valid(timeout))
        return green__fail(EINVAL, api, "the timeout is NaN");
    int rc = green__linkable_wait(&q->joiners, timeout, api);
    if (rc == 0)
        return green__fail(ETIMEDOUT, api, "items were still unfinished");
    return rc < 0 ? -1 : 0;
}

GREEN_API size_t green_queue_unfinished(const green_queue_t *q) { return q ? q->unfinished : 0; }

/* ---- shutdown ------------------------------------------------------------------------ */

GREEN_API int green_queue_shutdown(green_queue_t *q, bool immediate)
{
    if (!green__sync_owner(q, q ? q->h : NULL, "green_queue_shutdown"))
        return -1;
    q->shutdown = true;
    if (immediate && q->store.count) {
        while (q->store.count) {
            green__store_pop(&q->store);
            if (q->unfinished > 0)
                q->unfinished--;
        }
        green__linkable_check(&q->joiners);
    }
    if (!link_list_empty(&q->getters) || !link_list_empty(&q->putters))
        schedule_unlock(q);
    return 0;
}

GREEN_API bool green_queue_is_shutdown(const green_queue_t *q) { return q && q->shutdown; }
