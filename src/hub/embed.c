/* SPDX-License-Identifier: MIT */
/* Embedding another libev loop in the hub's: ev_embed.
 *
 * The embedded loop's backend fd is watched by the hub's loop; when it has events the hub
 * sweeps the embedded loop once (its callbacks run in the hub greenlet), then wakes the
 * greenlets waiting in green_embed_wait, moved to a second list first so that one waiting
 * again waits for the next sweep (as periodic.c's ticks).
 */
#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "watch.h"

struct green_embed {
    struct green_owned owned; /* first: the term gets it */
    ev_embed w;
    struct green_hub_part *h;
    struct green_link_list waiters;
    struct green_link_list waking;
};

/* libev 4.33 counts io_uring as embeddable, but such a loop has no fd to watch (ev_embed
 * aborts on it). */
static unsigned embeddable(void) { return ev_embeddable_backends() & ~(unsigned)EVBACKEND_IOURING; }

static void on_embed(struct ev_loop *loop, ev_embed *w, int revents)
{
    (void)revents;
    struct green_embed *e = w->data;
    ev_embed_sweep(loop, w);
    link_splice(&e->waking, &e->waiters);
    struct green_link *l;
    while ((l = link_pop_front(&e->waking)))
        green__hub_resume(e->h, green__task_of_wait(l)->g, 0, e);
}

static void embed_term(struct green_hub_part *h, struct green_owned *o)
{
    struct green_embed *e = (struct green_embed *)o;
    ev_embed_stop(h->loop, &e->w);
    green__owned_remove(h, o);
    free(e);
}

GREEN_API green_embed_t *green_embed_new(struct ev_loop *other)
{
    const char *api = "green_embed_new";
    struct green_hub_part *h = green__hub_get(api);
    if (!h || !green__watch_get(h, api))
        return NULL;
    if (!other || other == h->loop) {
        green__fail(EINVAL, api, other ? "cannot embed the hub's own loop" : "the loop is NULL");
        return NULL;
    }
    if (!(ev_backend(other) & embeddable())) {
        green__fail(EINVAL, api, "the loop's backend (%#x) cannot be embedded (embeddable: %#x)",
                    ev_backend(other), embeddable());
        return NULL;
    }
    struct green_embed *e = calloc(1, sizeof *e);
    if (!e) {
        green__fail(ENOMEM, api, "no memory for the embed");
        return NULL;
    }
    ev_embed_init(&e->w, on_embed, other);
    e->w.data = e;
    e->h = h;
    ev_embed_start(h->loop, &e->w);
    green__owned_add(h, &e->owned, embed_term);
    return e;
}

GREEN_API int green_embed_wait(green_embed_t *e, double timeout)
{
    const char *api = "green_embed_wait";
    if (!green__watch_owner(e, e ? e->h : NULL, api))
        return -1;
    struct green_hub_part *h;
    struct green_task *self = green__watch_self(&h, timeout, api);
    if (!self)
        return -1;
    link_append(&e->waiters, &self->wait);
    int rc = green__watch_block(h, self, e, timeout, api);
    link_remove(&self->wait);
    return rc;
}

GREEN_API int green_embed_destroy(green_embed_t *e)
{
    struct green_hub_part *h = green__watch_owner(e, e ? e->h : NULL, "green_embed_destroy");
    if (!h)
        return -1;
    if (!link_list_empty(&e->waiters) || !link_list_empty(&e->waking))
        return green__fail(EBUSY, "green_embed_destroy", "greenlets wait on the embed");
    embed_term(h, &e->owned);
    return 0;
}
