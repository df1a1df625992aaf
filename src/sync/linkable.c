/* SPDX-License-Identifier: MIT */
/* The notifier and waiting of Event, AsyncResult and Semaphore (see linkable.h). */
#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "linkable.h"

/* _notify_link_list: wake the waiters of list up to the last one present now.  Only for
 * those that arrived behind a notifier (the first pass is green__notifier_run's): out of
 * line, so that the tail, which a hand-off runs on every wake-up, carries no resume. */
__attribute__((noinline)) static void notify_list(struct green_linkable *l,
                                                  struct green_link_list *list)
{
    struct green_link *last = list->tail;
    while (!link_list_empty(list)) {
        if (!l->notify_all && !l->ready(l))
            break;
        struct green_link *link = link_pop_front(list);
        green__link_notify(l->h, link, l);
        if (link == last)
            break;
    }
}

/* The rest of _notify_links once the first pass is over: those that arrived meanwhile,
 * then the release or the next notifier (a green_tail_fn). */
bool green__notifier_tail(struct green_hub_part *h, void *obj, bool may_resume)
{
    (void)h;
    struct green_linkable *l = obj;
    if (!link_list_empty(&l->arrived)) {
        if (!may_resume)
            return false;
        notify_list(l, &l->arrived);
        link_splice(&l->links, &l->arrived);
    }
    l->notifying = false;
    if (l->release) {
        l->release(l->doomed);
        return true;
    }
    green__linkable_check(l);
    return true;
}

/* _notify_links.  The first pass is notify_list(l, &l->links), except that a plain waiter
 * resumed as its final link is resumed by green__hub_resume_last, which runs the tail:
 * that waiter may run it in the hub's stead, and hand the CPU on (src/hub/handoff.c). */
void green__notifier_run(struct green_hub_part *h, struct green_callback *cb)
{
    struct green_linkable *l = green__linkable_of_notifier(cb);
    l->notifying = true;
    struct green_link *last = l->links.tail;
    while (!link_list_empty(&l->links)) {
        if (!l->notify_all && !l->ready(l))
            break;
        struct green_link *link = link_pop_front(&l->links);
        if (link == last && link->notify == green__wake_waiter) {
            green__hub_resume_last(h, green__task_of_wait(link), l, green__notifier_tail);
            return; /* l may be gone */
        }
        green__link_notify(h, link, l);
        if (link == last)
            break;
    }
    green__notifier_tail(h, l, true);
}

struct green_task *green__notifier_start(struct green_hub_part *h, struct green_callback *cb,
                                         struct green_task *self, void **value)
{
    struct green_linkable *l = green__linkable_of_notifier(cb);
    struct green_link *link = l->links.head;
    if (!link || link != l->links.tail || link->notify != green__wake_waiter ||
        link == &self->wait || (!l->notify_all && !l->ready(l)))
        return NULL;
    return green__notifier_claim(h, l, link, value);
}

void green__linkable_init(struct green_linkable *l, struct green_hub_part *h,
                          bool (*ready)(const struct green_linkable *), bool notify_all)
{
    *l = (struct green_linkable){.h = h, .notify_all = notify_all, .ready = ready};
    l->notifier.run = green__notifier_run;
}

void green__linkable_check(struct green_linkable *l)
{
    if (l->ready(l) && !link_list_empty(&l->links) && !green__linkable_notifier_active(l))
        green__callback_queue(l->h, &l->notifier);
}

/* unlink + _quiet_unlink_all */
static void unlink_waiter(struct green_linkable *l, struct green_link *link)
{
    link_remove(link);
    if (link_list_empty(&l->links) && l->notifier.queued) {
        green__callback_cancel(l->h, &l->notifier);
        link_splice(&l->links, &l->arrived); /* see linkable.h: gevent drops these */
        green__linkable_check(l); /* still ready: they must not wait for another wake-up */
    }
}

int green__linkable_block_general(struct green_linkable *l, struct green_task *self,
                                  const char *api)
{
    struct green_hub_part *h = l->h;
    struct green_handoff to = {h->hub, NULL};
    if (h->tail_task == self) /* the hub would finish a callback, start the next */
        to = green__hub_handoff(h, self);
#if GREEN_CORE_PARK
    if (green__hub_can_park(to.to)) /* tail-called by the wait: it parks there */
        return green__hub_park_tail(h, self, l, api, to.to, to.value, green__linkable_park_failed);
#endif
    int rc = green__hub_block_via(h, self, l, api, to.to, to.value);
    if (rc < 0) {
        int e = errno;
        green__linkable_unlink(l, &self->wait);
        errno = e;
    }
    return rc;
}

int green__linkable_block_failed(struct green_task *self, int rc)
{
    green__hub_park_failed(self, rc);
    int e = errno;
    green__linkable_unlink((struct green_linkable *)(uintptr_t)self->blocked_on, &self->wait);
    errno = e;
    return -1;
}

int green__linkable_park_failed(int status)
{
    return green__linkable_block_failed(green__task_of(green__tls->core.current), status);
}

int green__linkable_wait_forever_general(struct green_linkable *l, const char *api)
{
    return green__linkable_wait(l, GREEN_FOREVER, api) < 0 ? -1 : 0;
}

int green__linkable_wait_core(struct green_linkable *l, double timeout, const char *api)
{
    return green__linkable_wait_core_inline(l, timeout, api);
}

int green__linkable_wait(struct green_linkable *l, double timeout, const char *api)
{
    return green__linkable_wait_inline(l, l->ready(l), timeout, api);
}

bool green__linkable_idle(const struct green_linkable *l)
{
    return link_list_empty(&l->links) && link_list_empty(&l->arrived) && !l->notifier.queued;
}

bool green__linkable_defer_free(struct green_linkable *l, void *obj, void (*release)(void *obj))
{
    if (!l->notifying)
        return false;
    l->release = release;
    l->doomed = obj;
    return true;
}

void green__linkable_free(struct green_linkable *l)
{
    if (!green__linkable_defer_free(l, l, free))
        free(l);
}

/* green__sync_owner when obj is NULL or not of this thread's live hub. */
struct green_hub_part *green__sync_owner_slow(const void *obj, struct green_hub_part *h,
                                              const char *api)
{
    if (!obj) {
        green__fail(EINVAL, api, "the object is NULL");
        return NULL;
    }
    if (h && h == green__hub_kept())
        return green__hub_get(api); /* made on a hub since shut down: this thread's next */
    green__fail(EXDEV, api, "the object belongs to another thread's hub");
    return NULL;
}

bool green__sync_owned_here(const void *obj, const struct green_hub_part *h, const char *api)
{
    if (!obj) {
        green__fail(EINVAL, api, "the object is NULL");
        return false;
    }
    if (GREEN_LIKELY(green__hub_peek() == h) || (h && h == green__hub_kept()))
        return true;
    green__fail(EXDEV, api, "the object belongs to another thread's hub");
    return false;
}

void green__linkable_rawlink(struct green_linkable *l, struct green_link *link)
{
    link_append(&l->links, link);
    green__linkable_check(l);
}

void green__linkable_unlink(struct green_linkable *l, struct green_link *link)
{
    unlink_waiter(l, link);
}
