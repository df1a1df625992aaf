/* SPDX-License-Identifier: MIT */
/* Queue: gevent.queue.Queue, FIFO, optionally bounded.
 *
 * Blocked getters and putters wait in FIFO lines.  Whoever makes progress possible (a put
 * with getters waiting, a get with putters waiting) queues one _unlock callback, which
 * admits putters while there is room (appending each one's item as it is admitted) and
 * wakes getters while there are items, alternating, each woken greenlet running until it
 * blocks.  A woken getter takes the head item itself when it resumes; until then any
 * greenlet may take it (a blocked getter reserves nothing), as in gevent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/thread.h"
#include "linkable.h"

struct green_queue {
    struct green_hub_part *h;
    void **ring;
    size_t cap, head, count, maxsize; /* maxsize 0: unbounded */
    size_t nputters;
    struct green_link_list getters, putters;
    struct green_callback unlock;
    bool unlocking; /* the _unlock callback is running */
};

static bool has_room(const struct green_queue *q) { return !q->maxsize || q->count < q->maxsize; }

/* Room in the ring for `need` items in all; -1 with errno ENOMEM. */
static int reserve(struct green_queue *q, size_t need, const char *api)
{
    if (need <= q->cap)
        return 0;
    size_t cap = q->cap ? q->cap : 8;
    while (cap < need)
        cap *= 2;
    void **ring = malloc(cap * sizeof *ring);
    if (!ring)
        return green__fail(ENOMEM, api, "no memory for %zu queue slots", cap);
    for (size_t i = 0; i < q->count; i++)
        ring[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = ring;
    q->cap = cap;
    q->head = 0;
    return 0;
}

static void push(struct green_queue *q, void *item)
{
    GREEN_ASSERT(q->count < q->cap);
    q->ring[(q->head + q->count++) % q->cap] = item;
}

static void *pop(struct green_queue *q)
{
    GREEN_ASSERT(q->count > 0);
    void *item = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return item;
}

static void run_unlock(struct green_hub_part *h, struct green_callback *cb)
{
    struct green_queue *q =
        (struct green_queue *)((char *)cb - offsetof(struct green_queue, unlock));
    q->unlocking = true;
    for (;;) {
        bool repeat = false;
        if (!link_list_empty(&q->putters) && has_room(q)) {
            repeat = true;
            struct green_link *l = link_pop_front(&q->putters);
            q->nputters--;
            push(q, green__task_of_wait(l)->wait_item); /* the putter reserved the room */
            green__link_notify(h, l, q);
        }
        if (!link_list_empty(&q->getters) && q->count) {
            repeat = true;
            struct green_link *l = link_pop_front(&q->getters);
            green__link_notify(h, l, q);
        }
        if (!repeat)
            break;
    }
    q->unlocking = false;
}

static void schedule_unlock(struct green_queue *q)
{
    if (!q->unlock.queued && !q->unlocking)
        green__callback_queue(q->h, &q->unlock);
}

GREEN_API green_queue_t *green_queue_new(size_t maxsize)
{
    struct green_hub_part *h = green__hub_get("green_queue_new");
    if (!h)
        return NULL;
    struct green_queue *q = calloc(1, sizeof *q);
    if (!q) {
        green__fail(ENOMEM, "green_queue_new", "out of memory");
        return NULL;
    }
    q->h = h;
    q->maxsize = maxsize;
    q->unlock.run = run_unlock;
    return q;
}

GREEN_API int green_queue_destroy(green_queue_t *q)
{
    if (!green__sync_owner(q, q ? q->h : NULL, "green_queue_destroy"))
        return -1;
    if (!link_list_empty(&q->getters) || !link_list_empty(&q->putters) || q->unlock.queued ||
        q->unlocking)
        return green__fail(EBUSY, "green_queue_destroy", "greenlets are waiting on the queue");
    free(q->ring);
    free(q);
    return 0;
}

static int put_now(struct green_queue *q, void *item, const char *api)
{
    if (reserve(q, q->count + q->nputters + 1, api) < 0)
        return -1;
    push(q, item);
    if (!link_list_empty(&q->getters))
        schedule_unlock(q);
    return 0;
}

/* A blocking wait in line `list`; own timeout started first or after linking, as gevent
 * does for get and put respectively. */
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
    int rc = green__hub_block(q->h, self, q, api);
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
    if (has_room(q))
        return put_now(q, item, api);
    if (!green__timeout_valid(timeout))
        return green__fail(EINVAL, api, "the timeout is NaN");
    struct green_task *self = green__hub_self(q->h, api);
    if (!self || reserve(q, q->count + q->nputters + 1, api) < 0)
        return -1;
    self->wait_item = item;
    return wait_in_line(q, self, &q->putters, timeout, false, api);
}

GREEN_API int green_queue_try_put(green_queue_t *q, void *item)
{
    if (!green__sync_owner(q, q ? q->h : NULL, "green_queue_try_put"))
        return -1;
    if (!has_room(q))
        return green__fail(EAGAIN, "green_queue_try_put", "the queue is full");
    return put_now(q, item, "green_queue_try_put");
}

static void *get_now(struct green_queue *q)
{
    if (!link_list_empty(&q->putters))
        schedule_unlock(q);
    return pop(q);
}

GREEN_API int green_queue_get(green_queue_t *q, double timeout, void **item)
{
    const char *api = "green_queue_get";
    if (!green__sync_owner(q, q ? q->h : NULL, api))
        return -1;
    void *it;
    if (q->count) {
        it = get_now(q);
    } else {
        if (!green__timeout_valid(timeout))
            return green__fail(EINVAL, api, "the timeout is NaN");
        struct green_task *self = green__hub_self(q->h, api);
        if (!self || wait_in_line(q, self, &q->getters, timeout, true, api) < 0)
            return -1;
        it = pop(q);
    }
    if (item)
        *item = it;
    return 0;
}

GREEN_API int green_queue_try_get(green_queue_t *q, void **item)
{
    if (!green__sync_owner(q, q ? q->h : NULL, "green_queue_try_get"))
        return -1;
    if (!q->count)
        return green__fail(EAGAIN, "green_queue_try_get", "the queue is empty");
    void *it = get_now(q);
    if (item)
        *item = it;
    return 0;
}

GREEN_API size_t green_queue_size(const green_queue_t *q) { return q ? q->count : 0; }
