/* SPDX-License-Identifier: MIT */
/* Wall-clock waits: ev_periodic, which follows the system clock (ev_time) where timers
 * follow the monotonic one.
 *
 * A schedule's watcher runs only while someone waits, so an unwatched schedule neither
 * keeps the hub alive nor wakes it; libev computes the next point from offset and interval
 * each time it starts, so stopping loses nothing but the ticks nobody waited for.  A tick
 * moves the waiters to a second list before waking them, so one that waits again at once
 * waits for the next tick instead of being woken twice by this one.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "watch.h"

struct green_periodic {
    struct green_owned owned; /* first: the term gets it */
    ev_periodic w;
    struct green_hub_part *h;
    struct green_link_list waiters; /* waiting for the next tick */
    struct green_link_list ticking; /* being woken by the current one */
    bool in_tick;                   /* on_tick runs: a destroy frees p when it ends */
    bool destroyed;
};

static void on_tick(struct ev_loop *loop, ev_periodic *w, int revents)
{
    (void)loop, (void)revents;
    struct green_periodic *p = w->data;
    link_splice(&p->ticking, &p->waiters);
    p->in_tick = true;
    struct green_link *l;
    while ((l = link_pop_front(&p->ticking)))
        green__hub_resume(p->h, green__task_of_wait(l)->g, 0, p);
    p->in_tick = false;
    if (p->destroyed) /* by the last greenlet it woke */
        free(p);
}

static void periodic_term(struct green_hub_part *h, struct green_owned *o)
{
    struct green_periodic *p = (struct green_periodic *)o;
    ev_periodic_stop(h->loop, &p->w);
    green__owned_remove(h, o);
    if (p->in_tick)
        p->destroyed = true;
    else
        free(p);
}

GREEN_API green_periodic_t *green_periodic_new(double offset, double interval)
{
    const char *api = "green_periodic_new";
    if (!(interval > 0) || !(offset >= 0 && offset < interval)) {
        green__fail(EINVAL, api, "need interval > 0 and 0 <= offset < interval (got %g, %g)",
                    offset, interval);
        return NULL;
    }
    struct green_hub_part *h = green__hub_get(api);
    if (!h || !green__watch_get(h, api))
        return NULL;
    struct green_periodic *p = calloc(1, sizeof *p);
    if (!p) {
        green__fail(ENOMEM, api, "no memory for the schedule");
        return NULL;
    }
    ev_periodic_init(&p->w, on_tick, offset, interval, 0);
    p->w.data = p;
    p->h = h;
    green__owned_add(h, &p->owned, periodic_term);
    return p;
}

GREEN_API int green_periodic_destroy(green_periodic_t *p)
{
    struct green_hub_part *h = green__watch_owner(p, p ? p->h : NULL, "green_periodic_destroy");
    if (!h)
        return -1;
    if (!link_list_empty(&p->waiters) || !link_list_empty(&p->ticking))
        return green__fail(EBUSY, "green_periodic_destroy", "greenlets wait on the schedule");
    periodic_term(h, &p->owned);
    return 0;
}

GREEN_API int green_periodic_wait(green_periodic_t *p, double timeout)
{
    const char *api = "green_periodic_wait";
    if (!green__watch_owner(p, p ? p->h : NULL, api))
        return -1;
    struct green_hub_part *h;
    struct green_task *self = green__watch_self(&h, timeout, api);
    if (!self)
        return -1;
    link_append(&p->waiters, &self->wait);
    ev_periodic_start(h->loop, &p->w);
    int rc = green__watch_block(h, self, p, timeout, api);
    link_remove(&self->wait);
    if (link_list_empty(&p->waiters))
        ev_periodic_stop(h->loop, &p->w);
    return rc;
}

/* ---- one wall-clock point ------------------------------------------------------------ */

struct sleep_until {
    ev_periodic w;
    struct green_hub_part *h;
    struct green_task *self;
};

static void on_point(struct ev_loop *loop, ev_periodic *w, int revents)
{
    (void)loop, (void)revents;
    struct sleep_until *s = w->data;
    green__hub_resume(s->h, s->self->g, 0, s);
}

GREEN_API int green_sleep_until(double when)
{
    const char *api = "green_sleep_until";
    if (when != when)
        return green__fail(EINVAL, api, "the time is NaN");
    struct green_hub_part *h;
    struct green_task *self = green__watch_self(&h, GREEN_FOREVER, api);
    if (!self)
        return -1;
    struct sleep_until *s = malloc(sizeof *s);
    if (!s)
        return green__fail(ENOMEM, api, "no memory for the wait");
    ev_periodic_init(&s->w, on_point, when, 0, 0);
    s->w.data = s;
    s->h = h;
    s->self = self;
    ev_periodic_start(h->loop, &s->w);
    int rc = green__watch_block(h, self, s, GREEN_FOREVER, api);
    int e = errno;
    ev_periodic_stop(h->loop, &s->w);
    free(s);
    errno = e;
    return rc;
}
