/* SPDX-License-Identifier: MIT */
/* Embedding another libev loop in the hub's: ev_embed.
 *
 * The embedded loop's backend fd is watched by the hub's loop, and libev sweeps the
 * embedded loop (one non-blocking iteration) when that fd has events; its callbacks run in
 * the hub greenlet.  The embedded loop's watcher changes reach its kernel set only when it
 * runs, so libev also sweeps it from a prepare watcher of its own (lowest priority) before
 * each poll; what that sweep queues on the hub (an Event set by one of the embedded
 * callbacks) runs before the poll blocks, as for every prepare that runs after the hub's
 * (callbacks.c).
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
};

/* libev 4.33 counts io_uring as embeddable, but such a loop has no fd to watch (ev_embed
 * aborts on it). */
static unsigned embeddable(void) { return ev_embeddable_backends() & ~(unsigned)EVBACKEND_IOURING; }

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
    ev_embed_init(&e->w, NULL, other); /* no callback: libev sweeps by itself */
    e->w.data = e;
    e->h = h;
    ev_embed_start(h->loop, &e->w);
    green__owned_add(h, &e->owned, embed_term);
    return e;
}

GREEN_API int green_embed_destroy(green_embed_t *e)
{
    struct green_hub_part *h = green__watch_owner(e, e ? e->h : NULL, "green_embed_destroy");
    if (!h)
        return -1;
    embed_term(h, &e->owned);
    return 0;
}
