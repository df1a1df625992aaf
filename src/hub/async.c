/* SPDX-License-Identifier: MIT */
/* Waking a hub from another thread: ev_async (gevent's loop.async_).
 *
 * ev_async_send is libev's one thread-safe call: it marks the watcher and writes to the
 * loop's wake-up fd.  libev's own flag is invisible to thread sanitizers (libev is not
 * instrumented), so each send also bumps a counter with release order that the hub reads
 * with acquire order before running the callback: what the sender wrote before sending
 * is visible to the callback, and TSAN can see why.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "sync/linkable.h" /* an Event's owner hub, to refuse another thread's */
#include "watch.h"

struct green_async {
    struct green_owned owned; /* first: the term gets it */
    ev_async w;
    struct green_hub_part *h;
    green_hook_fn fn;
    void *arg;
    unsigned long sends; /* atomic */
};

static void on_async(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop, (void)revents;
    struct green_async *a = w->data;
    if (__atomic_exchange_n(&a->sends, 0, __ATOMIC_ACQUIRE))
        a->fn(a->arg);
}

static void async_term(struct green_hub_part *h, struct green_owned *o)
{
    struct green_async *a = (struct green_async *)o;
    ev_async_stop(h->loop, &a->w);
    green__owned_remove(h, o);
    free(a);
}

static green_async_t *async_new(struct green_hub_part *h, green_hook_fn fn, void *arg,
                                const char *api)
{
    if (!green__watch_get(h, api))
        return NULL;
    struct green_async *a = calloc(1, sizeof *a);
    if (!a) {
        green__fail(ENOMEM, api, "no memory for the async");
        return NULL;
    }
    ev_async_init(&a->w, on_async);
    a->w.data = a;
    a->h = h;
    a->fn = fn;
    a->arg = arg;
    ev_async_start(h->loop, &a->w); /* ref'd: a thread may still send */
    green__owned_add(h, &a->owned, async_term);
    return a;
}

GREEN_API green_async_t *green_async_new(green_hook_fn fn, void *arg)
{
    const char *api = "green_async_new";
    if (!fn) {
        green__fail(EINVAL, api, "fn is NULL");
        return NULL;
    }
    struct green_hub_part *h = green__hub_get(api);
    return h ? async_new(h, fn, arg, api) : NULL;
}

static void set_event(void *e)
{
    green_event_set(e); /* cannot fail: the event's owner was checked */
}

GREEN_API green_async_t *green_async_new_event(green_event_t *e)
{
    const char *api = "green_async_new_event";
    /* An Event starts with its linkable (src/sync/event.c), which names its hub. */
    struct green_hub_part *h =
        green__watch_owner(e, e ? ((const struct green_linkable *)(const void *)e)->h : NULL, api);
    return h ? async_new(h, set_event, e, api) : NULL;
}

GREEN_API int green_async_send(green_async_t *a)
{
    if (!a)
        return green__fail(EINVAL, "green_async_send", "the handle is NULL");
    __atomic_fetch_add(&a->sends, 1, __ATOMIC_RELEASE);
    ev_async_send(a->h->loop, &a->w);
    return 0;
}

GREEN_API int green_async_destroy(green_async_t *a)
{
    struct green_hub_part *h = green__watch_owner(a, a ? a->h : NULL, "green_async_destroy");
    if (!h)
        return -1;
    async_term(h, &a->owned);
    return 0;
}
