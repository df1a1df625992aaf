/* SPDX-License-Identifier: MIT */
/* Channel: gevent.queue.Channel, a queue with no room at all.
 *
 * Every put and get blocks, in a FIFO line.  When both lines are non-empty one _unlock
 * callback pairs them off in order: it hands the first putter's item to the first getter
 * and resumes the getter (which runs until it blocks), then resumes the putter.  As in
 * gevent, a getter starts its own timer before it joins its line and a putter after.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "linkable.h"

struct green_channel {
    struct green_hub_part *h;
    struct green_link_list getters, putters;
    long nputters, ngetters;
    struct green_callback unlock;
    bool unlocking;
    bool doomed; /* destroyed by a greenlet the unlock woke: the unlock frees it at its end */
};

static void run_unlock(struct green_hub_part *h, struct green_callback *cb)
{
    struct green_channel *c =
        (struct green_channel *)((char *)cb - offsetof(struct green_channel, unlock));
    c->unlocking = true;
    while (!link_list_empty(&c->putters) && !link_list_empty(&c->getters)) {
        struct green_link *getter = link_pop_front(&c->getters);
        struct green_link *putter = link_pop_front(&c->putters);
        c->ngetters--;
        c->nputters--;
        green__task_of_wait(getter)->wait_item = green__task_of_wait(putter)->wait_item;
        getter->notify(h, getter, c);
        putter->notify(h, putter, c);
    }
    c->unlocking = false;
    if (c->doomed) /* destroy found both lines empty: the loop ended at once */
        free(c);
}

GREEN_API green_channel_t *green_channel_new(void)
{
    struct green_hub_part *h = green__hub_get("green_channel_new");
    if (!h)
        return NULL;
    struct green_channel *c = calloc(1, sizeof *c);
    if (!c) {
        green__fail(ENOMEM, "green_channel_new", "out of memory");
        return NULL;
    }
    c->h = h;
    c->unlock.run = run_unlock;
    return c;
}

GREEN_API int green_channel_destroy(green_channel_t *c)
{
    if (!green__sync_owned_here(c, c ? c->h : NULL, "green_channel_destroy"))
        return -1;
    if (c->doomed)
        return green__fail(EINVAL, "green_channel_destroy", "the channel was destroyed already");
    if (!link_list_empty(&c->getters) || !link_list_empty(&c->putters) || c->unlock.queued)
        return green__fail(EBUSY, "green_channel_destroy", "greenlets are waiting on the channel");
    if (c->unlocking) /* it woke the caller */
        c->doomed = true;
    else
        free(c);
    return 0;
}

/* Join a line and wait for the _unlock callback.  Returns 0, or -1 with errno. */
static int rendezvous(struct green_channel *c, bool putter, double timeout, const char *api)
{
    if (!green__timeout_valid(timeout))
        return green__fail(EINVAL, api, "the timeout is NaN");
    struct green_task *self = green__hub_self(c->h, api);
    if (!self)
        return -1;
    struct green_link_list *line = putter ? &c->putters : &c->getters;
    long *n = putter ? &c->nputters : &c->ngetters;
    struct green_timeout *own = NULL;
    if (!putter && timeout >= 0 && !(own = green__timeout_start(c->h, timeout, api)))
        return -1;
    link_append(line, &self->wait);
    ++*n;
    if (putter && timeout >= 0 && !(own = green__timeout_start(c->h, timeout, api))) {
        link_remove(&self->wait);
        --*n;
        return -1;
    }
    if (!link_list_empty(putter ? &c->getters : &c->putters) && !c->unlock.queued && !c->unlocking)
        green__callback_queue(c->h, &c->unlock);
    int rc = green__hub_block(c->h, self, c, api);
    int e = errno;
    if (self->wait.list) { /* not paired */
        link_remove(&self->wait);
        --*n;
    }
    bool own_expired = rc < 0 && e == ETIMEDOUT && self->fired == own;
    green__timeout_end(c->h, own);
    if (own_expired)
        return green__fail(ETIMEDOUT, api, "no %s came in time", putter ? "getter" : "putter");
    errno = e;
    return rc;
}

GREEN_API int green_channel_put(green_channel_t *c, void *item, double timeout)
{
    const char *api = "green_channel_put";
    if (!green__sync_owner(c, c ? c->h : NULL, api))
        return -1;
    struct green_task *self = green__hub_self(c->h, api);
    if (!self)
        return -1;
    self->wait_item = item;
    return rendezvous(c, true, timeout, api);
}

GREEN_API int green_channel_get(green_channel_t *c, double timeout, void **item)
{
    const char *api = "green_channel_get";
    if (!green__sync_owner(c, c ? c->h : NULL, api))
        return -1;
    if (rendezvous(c, false, timeout, api) < 0)
        return -1;
    if (item)
        *item = green__task_of(c->h->ts->core.current)->wait_item;
    return 0;
}

GREEN_API long green_channel_balance(const green_channel_t *c)
{
    return c ? c->nputters - c->ngetters : 0;
}
