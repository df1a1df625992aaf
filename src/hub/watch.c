/* SPDX-License-Identifier: MIT */
/* The hub's watch part: created when a watcher call first needs it, torn down at hub
 * shutdown; the objects it owns; the wait every watcher call goes through. */
#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "watch.h"

struct green_watch_part *green__watch_get(struct green_hub_part *h, const char *api)
{
    if (GREEN_LIKELY(h->watch != NULL))
        return h->watch;
    h->watch = calloc(1, sizeof *h->watch);
    if (!h->watch)
        green__fail(ENOMEM, api, "no memory for the hub's watchers");
    return h->watch;
}

void green__owned_add(struct green_hub_part *h, struct green_owned *o,
                      void (*term)(struct green_hub_part *, struct green_owned *))
{
    struct green_watch_part *w = h->watch; /* the caller got it */
    o->term = term;
    o->next = NULL;
    o->prev = w->owned_tail;
    if (w->owned_tail)
        w->owned_tail->next = o;
    else
        w->owned = o;
    w->owned_tail = o;
}

void green__owned_remove(struct green_hub_part *h, struct green_owned *o)
{
    struct green_watch_part *w = h->watch;
    if (o->prev)
        o->prev->next = o->next;
    else
        w->owned = o->next;
    if (o->next)
        o->next->prev = o->prev;
    else
        w->owned_tail = o->prev;
    o->prev = o->next = NULL;
}

int green__watch_block(struct green_hub_part *h, struct green_task *self, void *token,
                       double timeout, const char *api)
{
    struct green_timeout *own = NULL;
    if (timeout >= 0 && !(own = green__timeout_start(h, timeout, api)))
        return -1;
    int rc = green__hub_block(h, self, token, api);
    int e = errno;
    green__timeout_end(h, own);
    errno = e;
    return rc;
}

struct green_task *green__watch_self(struct green_hub_part **hp, double timeout, const char *api)
{
    struct green_hub_part *h = green__hub_get(api);
    if (!h)
        return NULL;
    if (green__timeout_check(timeout, api) < 0)
        return NULL;
    struct green_task *self = green__hub_self(h, api);
    if (self && !green__watch_get(h, api))
        return NULL;
    *hp = h;
    return self;
}

struct green_hub_part *green__watch_owner(const void *obj, const struct green_hub_part *owner,
                                          const char *api)
{
    if (!obj) {
        green__fail(EINVAL, api, "the handle is NULL");
        return NULL;
    }
    struct green_hub_part *h = green__hub_peek();
    if (h != owner) {
        green__fail(EXDEV, api, "the handle belongs to another thread's hub");
        return NULL;
    }
    return h;
}

void green__watch_term(struct green_hub_part *h)
{
    struct green_watch_part *w = h->watch;
    if (!w)
        return;
    green__hooks_run_cleanups(h);
    while (w->owned)
        w->owned->term(h, w->owned); /* removes itself */
    green__fd_waits_free(h->loop, w);
    free(w);
    h->watch = NULL;
}
