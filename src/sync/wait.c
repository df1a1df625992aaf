/* SPDX-License-Identifier: MIT */
/* Waiting for several objects: gevent's _WaitIterator and MultipleWaiter (iwait, wait,
 * joinall), over greenlets and the linkable objects of this layer.
 *
 * One entry per listed object holds a link of its own (never on a stack: the hub walks
 * the lists while the waiter is suspended).  When an object's notifier reaches the entry,
 * the entry's index joins a FIFO of ready indices (MultipleWaiter's values) and, if the
 * iterating greenlet is parked in green_iwait_next, the hub resumes it; otherwise the index
 * waits there.  The timer pushes a sentinel into the same FIFO, so indices that were ready
 * before it fired still come out first, as in gevent.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/thread.h"
#include "green/wait.h"
#include "hub/watch.h"
#include "linkable.h"

#define TIMED_OUT ((size_t)-1) /* the timer's entry in the FIFO */

struct wait_entry {
    struct green_link link; /* first: the notifier hands us the link */
    struct green_iwait *it;
    size_t index;
};

struct green_iwait {
    struct green_owned owned; /* first: until cleaned up, the hub's shutdown cleans it up */
    bool registered;
    struct green_hub_part *h;
    size_t n, count;
    double timeout;
    bool begun, over;
    struct green_task *waiter; /* parked in green_iwait_next, or NULL */
    ev_timer timer;
    size_t *fifo; /* n + 1 slots: each entry and the timer arrive at most once */
    size_t head, len;
    green_waitable_t *objs;
    struct wait_entry entries[];
};

static struct green_linkable *linkable_of(const green_waitable_t *w)
{
    return (struct green_linkable *)w->obj; /* first member: see linkable.h */
}

static void arrive(struct green_iwait *it, size_t index)
{
    it->fifo[(it->head + it->len++) % (it->n + 1)] = index;
    if (it->waiter)
        green__hub_resume(it->h, it->waiter->g, 0, it);
}

static void on_ready(struct green_hub_part *h, struct green_link *l, void *obj)
{
    (void)h, (void)obj;
    struct wait_entry *e = (struct wait_entry *)l;
    arrive(e->it, e->index);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    arrive(w->data, TIMED_OUT);
}

/* _begin: rawlink every object, start the timer. */
static void begin(struct green_iwait *it)
{
    it->begun = true;
    for (size_t i = 0; i < it->n; i++) {
        struct green_link *l = &it->entries[i].link;
        if (it->objs[i].kind == GREEN_WAITABLE_GREENLET) {
            struct green_task *t = green__task_of(it->objs[i].obj);
            green__task_link(it->h, t, l);
        } else {
            green__linkable_rawlink(linkable_of(&it->objs[i]), l);
        }
    }
    if (it->timeout >= 0) {
        ev_timer_init(&it->timer, on_timer, it->timeout, 0.0);
        ev_set_priority(&it->timer, -1);
        it->timer.data = it;
        if (it->h->in_callbacks) /* gevent: timers may update the clock while callbacks run */
            ev_now_update(it->h->loop);
        ev_timer_start(it->h->loop, &it->timer);
    }
}

/* _cleanup: unlink what has not fired, stop the timer. */
static void cleanup(struct green_iwait *it)
{
    it->over = true;
    if (it->registered) {
        green__owned_remove(it->h, &it->owned);
        it->registered = false;
    }
    if (!it->begun)
        return;
    it->begun = false; /* once: after a shutdown the links and the timer are gone */
    ev_timer_stop(it->h->loop, &it->timer);
    for (size_t i = 0; i < it->n; i++) {
        struct green_link *l = &it->entries[i].link;
        if (!l->list)
            continue;
        if (it->objs[i].kind == GREEN_WAITABLE_GREENLET)
            link_remove(l);
        else
            green__linkable_unlink(linkable_of(&it->objs[i]), l);
    }
}

/* Hub shutdown: the iteration's greenlet died without ending it.  Unlink it from its
 * objects (they stay destroyable) and stop its timer; green_iwait_end still frees it. */
static void iwait_term(struct green_hub_part *h, struct green_owned *o)
{
    (void)h;
    cleanup((struct green_iwait *)o);
}

/* The hub of obj if the calling thread may wait on it, else NULL with errno. */
static struct green_hub_part *owner_of(const green_waitable_t *w, const char *api)
{
    if (!w->obj) {
        green__fail(EINVAL, api, "an object is NULL");
        return NULL;
    }
    switch (w->kind) {
    case GREEN_WAITABLE_GREENLET: {
        struct green_task *t = green__task_arg(w->obj, api);
        return t ? t->h : NULL;
    }
    case GREEN_WAITABLE_EVENT:
    case GREEN_WAITABLE_RESULT:
    case GREEN_WAITABLE_SEM:
    case GREEN_WAITABLE_LOCK: {
        struct green_linkable *l = linkable_of(w);
        return green__sync_owner(w->obj, l->h, api);
    }
    }
    green__fail(EINVAL, api, "unknown waitable kind %d", (int)w->kind);
    return NULL;
}

static green_iwait_t *iwait_new(const green_waitable_t *objs, size_t n, double timeout,
                                size_t count, const char *api)
{
    if (!objs && n > 0) {
        green__fail(EINVAL, api, "objs is NULL");
        return NULL;
    }
    if (!green__timeout_valid(timeout)) {
        green__fail(EINVAL, api, "the timeout is NaN");
        return NULL;
    }
    struct green_hub_part *h = green__hub_get(api);
    if (!h || !green__watch_get(h, api))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!owner_of(&objs[i], api))
            return NULL;
    if (n > (SIZE_MAX - sizeof(struct green_iwait)) / sizeof(struct wait_entry) / 2) {
        green__fail(ENOMEM, api, "too many objects");
        return NULL;
    }
    struct green_iwait *it = calloc(1, sizeof *it + n * sizeof it->entries[0]);
    size_t *fifo = malloc((n + 1) * sizeof *fifo);
    green_waitable_t *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!it || !fifo || !copy) {
        free(it), free(fifo), free(copy);
        green__fail(ENOMEM, api, "no memory for the wait");
        return NULL;
    }
    if (n)
        memcpy(copy, objs, n * sizeof *copy);
    it->h = h;
    it->n = n;
    it->count = count < n ? count : n;
    it->timeout = timeout;
    it->fifo = fifo;
    it->objs = copy;
    for (size_t i = 0; i < n; i++)
        it->entries[i] = (struct wait_entry){.link.notify = on_ready, .it = it, .index = i};
    green__owned_add(h, &it->owned, iwait_term);
    it->registered = true;
    return it;
}

GREEN_API green_iwait_t *green_iwait_new(const green_waitable_t *objs, size_t n, double timeout,
                                         size_t count)
{
    return iwait_new(objs, n, timeout, count, "green_iwait_new");
}

static int iwait_next(green_iwait_t *it, size_t *index, const char *api)
{
    if (!green__sync_owner(it, it ? it->h : NULL, api))
        return -1;
    if (it->waiter)
        return green__fail(EBUSY, api, "another greenlet is waiting in this iteration");
    if (it->over)
        return 0;
    if (!it->begun)
        begin(it);
    if (it->count == 0) {
        cleanup(it);
        return 0;
    }
    it->count--;
    if (it->len == 0) {
        struct green_task *self = green__hub_self(it->h, api);
        if (!self) {
            cleanup(it);
            return -1;
        }
        it->waiter = self;
        int rc = green__hub_block(it->h, self, it, api);
        it->waiter = NULL;
        if (rc < 0) {
            int e = errno;
            cleanup(it);
            errno = e;
            return -1;
        }
    }
    size_t got = it->fifo[it->head];
    it->head = (it->head + 1) % (it->n + 1);
    it->len--;
    if (got == TIMED_OUT) {
        cleanup(it);
        return 0;
    }
    if (index)
        *index = got;
    return 1;
}

GREEN_API int green_iwait_next(green_iwait_t *it, size_t *index)
{
    return iwait_next(it, index, "green_iwait_next");
}

static int iwait_end(green_iwait_t *it, const char *api)
{
    if (!green__sync_owned_here(it, it ? it->h : NULL, api))
        return -1;
    if (it->waiter)
        return green__fail(EBUSY, api, "a greenlet is waiting in this iteration");
    cleanup(it);
    free(it->fifo);
    free(it->objs);
    free(it);
    return 0;
}

GREEN_API int green_iwait_end(green_iwait_t *it) { return iwait_end(it, "green_iwait_end"); }

/* Collect up to count ready indices; stop early at a greenlet that died with an error if
 * raise_error.  Returns the number collected, or -1 with errno; *code gets the error. */
static int collect(const green_waitable_t *objs, size_t n, double timeout, size_t count,
                   bool raise_error, size_t *ready, int *code, const char *api)
{
    if (n > INT_MAX)
        return green__fail(EINVAL, api, "too many objects (%zu)", n);
    green_iwait_t *it = iwait_new(objs, n, timeout, count, api);
    if (!it)
        return -1;
    int k = 0, rc;
    size_t index = 0; /* gcc 12 -O3 (release) warns maybe-uninitialized otherwise */
    *code = 0;
    while ((rc = iwait_next(it, &index, api)) == 1) {
        if (ready)
            ready[k] = index;
        k++;
        if (raise_error && !green_successful(objs[index].obj)) {
            *code = green_join(objs[index].obj, 0, NULL); /* finished: no wait */
            break;
        }
    }
    int e = errno;
    iwait_end(it, api);
    errno = e;
    return rc < 0 ? -1 : k;
}

GREEN_API int green_wait(const green_waitable_t *objs, size_t n, double timeout, size_t count,
                         size_t *ready)
{
    int code;
    return collect(objs, n, timeout, count, false, ready, &code, "green_wait");
}

GREEN_API int green_joinall(green_t *const *gs, size_t n, double timeout, size_t count,
                            bool raise_error, size_t *ready, size_t *nready)
{
    const char *api = "green_joinall";
    if (!gs && n > 0)
        return green__fail(EINVAL, api, "gs is NULL");
    green_waitable_t *objs = malloc((n ? n : 1) * sizeof *objs);
    if (!objs)
        return green__fail(ENOMEM, api, "no memory for the wait");
    for (size_t i = 0; i < n; i++)
        objs[i] = green_waitable_greenlet(gs[i]);
    int code = 0;
    int k = collect(objs, n, timeout, count, raise_error, ready, &code, api);
    int e = errno;
    free(objs);
    errno = e;
    if (k < 0)
        return -1;
    if (nready)
        *nready = (size_t)k;
    return code;
}
