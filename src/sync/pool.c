/* SPDX-License-Identifier: MIT */
/* Group and Pool: gevent.pool.
 *
 * A member is a record linked into its greenlet's death links (gevent's rawlink of
 * Group._discard), so it is removed by the greenlet's own death notifier, in the order of
 * that greenlet's links.  Group's _empty_event is a linkable whose ready is "no members"
 * (Event's rules); a Pool adds gevent's Semaphore(size) as a counter and a second linkable
 * (Semaphore's rules: waiters woken in order only while places are free).  Removal is
 * gevent's Pool._discard: the member goes, the empty event is set if it was the last, then
 * the place is given back.
 *
 * Handles stay the caller's (sync.h, Ownership).  A member's task cannot be freed while the
 * member exists: its link is in the task's links, and a dead task with links always has its
 * notifier pending, which keeps the record.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "linkable.h"

struct member {
    struct green_link link; /* in the task's links: the death notification */
    struct green_group *grp;
    struct green_task *t;
    struct member *prev, *next; /* the group, in the order of adding */
    uint64_t seq;
    bool dying; /* killed by the group already (gevent's dying set) */
};

struct green_group {
    struct green_hub_part *h;
    struct member *head, *tail;
    size_t count;
    uint64_t next_seq;
    bool bounded; /* a Pool */
    size_t size;
    size_t units;                 /* the pool's semaphore counter */
    struct green_linkable empty;  /* ready: no members */
    struct green_linkable places; /* ready: units > 0 */
};

#define GROUP_OF(l, field) ((struct green_group *)((char *)(l)-offsetof(struct green_group, field)))

static bool group_empty(const struct green_linkable *l) { return GROUP_OF(l, empty)->count == 0; }
static bool place_free(const struct green_linkable *l) { return GROUP_OF(l, places)->units > 0; }

static green_group_t *group_new(bool bounded, size_t size, const char *api)
{
    struct green_hub_part *h = green__hub_get(api);
    if (!h)
        return NULL;
    struct green_group *grp = calloc(1, sizeof *grp);
    if (!grp) {
        green__fail(ENOMEM, api, "out of memory");
        return NULL;
    }
    grp->h = h;
    grp->bounded = bounded;
    grp->size = grp->units = size;
    green__linkable_init(&grp->empty, h, group_empty, true);
    green__linkable_init(&grp->places, h, place_free, false);
    return grp;
}

GREEN_API green_group_t *green_group_new(void) { return group_new(false, 0, "green_group_new"); }

GREEN_API green_group_t *green_pool_new(size_t size)
{
    return group_new(true, size, "green_pool_new");
}

static struct green_hub_part *owner(const green_group_t *grp, const char *api)
{
    return green__sync_owner(grp, grp ? grp->h : NULL, api);
}

GREEN_API int green_group_destroy(green_group_t *grp)
{
    if (!green__sync_owned_here(grp, grp ? grp->h : NULL, "green_group_destroy"))
        return -1;
    if (green__linkable_doomed(&grp->empty) || green__linkable_doomed(&grp->places))
        return green__fail(EINVAL, "green_group_destroy", "the group was destroyed already");
    if (grp->count || !green__linkable_idle(&grp->empty) || !green__linkable_idle(&grp->places))
        return green__fail(EBUSY, "green_group_destroy", "the group has members or waiters");
    if (!green__linkable_defer_free(&grp->empty, grp, free) &&
        !green__linkable_defer_free(&grp->places, grp, free))
        free(grp);
    return 0;
}

/* ---- members ------------------------------------------------------------------------- */

static struct member *find(const struct green_group *grp, const struct green_task *t)
{
    for (struct member *m = grp->head; m; m = m->next)
        if (m->t == t)
            return m;
    return NULL;
}

/* Pool._discard: the member record goes (its link already out of the task's links). */
static void drop(struct member *m)
{
    struct green_group *grp = m->grp;
    if (m->prev)
        m->prev->next = m->next;
    else
        grp->head = m->next;
    if (m->next)
        m->next->prev = m->prev;
    else
        grp->tail = m->prev;
    grp->count--;
    free(m);
    if (grp->count == 0)
        green__linkable_check(&grp->empty);
    if (grp->bounded) {
        grp->units++;
        green__linkable_check(&grp->places);
    }
}

static void member_died(struct green_hub_part *h, struct green_link *l, void *obj)
{
    (void)h, (void)obj;
    drop((struct member *)((char *)l - offsetof(struct member, link)));
}

/* Group.add after the place is taken: rawlink, then into the set. */
static void attach(struct green_group *grp, struct member *m, struct green_task *t)
{
    *m = (struct member){.grp = grp, .t = t, .seq = grp->next_seq++, .prev = grp->tail};
    m->link.notify = member_died;
    if (grp->tail)
        grp->tail->next = m;
    else
        grp->head = m;
    grp->tail = m;
    grp->count++;
    green__task_link(grp->h, t, &m->link);
}

/* The pool's Semaphore.acquire. */
static int take_place(struct green_group *grp, double timeout, const char *api)
{
    if (!grp->bounded)
        return 0;
    if (grp->units == 0) {
        int rc = green__linkable_wait(&grp->places, timeout, api);
        if (rc == 0)
            return green__fail(ETIMEDOUT, api, "the pool stayed full");
        if (rc < 0)
            return -1;
    }
    GREEN_ASSERT(grp->units > 0);
    grp->units--;
    return 0;
}

static void give_place(struct green_group *grp)
{
    if (grp->bounded) {
        grp->units++;
        green__linkable_check(&grp->places);
    }
}

GREEN_API green_t *green_group_spawn(green_group_t *grp, green_fn fn, void *arg,
                                     const green_attr_t *attr, double timeout)
{
    const char *api = "green_group_spawn";
    if (!owner(grp, api))
        return NULL;
    if (!fn || !green__timeout_valid(timeout)) {
        green__fail(EINVAL, api, fn ? "the timeout is NaN" : "fn is NULL");
        return NULL;
    }
    struct member *m = malloc(sizeof *m);
    if (!m) {
        green__fail(ENOMEM, api, "out of memory");
        return NULL;
    }
    if (take_place(grp, timeout, api) < 0) {
        free(m);
        return NULL;
    }
    green_t *g = green_spawn(fn, arg, attr);
    if (!g) {
        int e = errno;
        free(m);
        give_place(grp);
        errno = e;
        return NULL;
    }
    attach(grp, m, green__task_of(g));
    return g;
}

GREEN_API int green_group_add(green_group_t *grp, green_t *g, double timeout)
{
    const char *api = "green_group_add";
    if (!owner(grp, api))
        return -1;
    struct green_task *t = green__task_arg(g, api);
    if (!t)
        return -1;
    if (green__timeout_check(timeout, api) < 0)
        return -1;
    if (find(grp, t))
        return green__fail(EEXIST, api, "the greenlet is a member already");
    struct member *m = malloc(sizeof *m);
    if (!m)
        return green__fail(ENOMEM, api, "out of memory");
    if (take_place(grp, timeout, api) < 0) {
        free(m);
        return -1;
    }
    if (!(t = green__task_arg(g, api)) || find(grp, t)) { /* changed while we waited */
        int e = t ? EEXIST : errno;
        free(m);
        give_place(grp);
        return t ? green__fail(e, api, "the greenlet became a member meanwhile") : -1;
    }
    attach(grp, m, t);
    return 0;
}

GREEN_API int green_group_discard(green_group_t *grp, green_t *g)
{
    const char *api = "green_group_discard";
    if (!owner(grp, api))
        return -1;
    struct green_task *t = green__task_arg(g, api);
    if (!t)
        return -1;
    struct member *m = find(grp, t);
    if (!m)
        return green__fail(ENOENT, api, "the greenlet is not a member");
    link_remove(&m->link);
    drop(m);
    return 0;
}

GREEN_API bool green_group_contains(const green_group_t *grp, const green_t *g)
{
    if (!grp || !g || green__hub_peek() != grp->h)
        return false;
    const struct green *r = green__check(g, "green_group_contains");
    return r->thread == grp->h->ts && green__task_of(r) && find(grp, green__task_of(r));
}

GREEN_API size_t green_group_size(const green_group_t *grp) { return grp ? grp->count : 0; }

GREEN_API size_t green_group_free_count(const green_group_t *grp)
{
    if (!grp)
        return 0;
    if (!grp->bounded)
        return SIZE_MAX;
    return grp->size > grp->count ? grp->size - grp->count : 0;
}

GREEN_API int green_group_wait_available(green_group_t *grp, double timeout)
{
    const char *api = "green_group_wait_available";
    if (!owner(grp, api))
        return -1;
    if (green__timeout_check(timeout, api) < 0)
        return -1;
    if (!grp->bounded || grp->units > 0)
        return 0;
    int rc = green__linkable_wait(&grp->places, timeout, api);
    if (rc == 0)
        return green__fail(ETIMEDOUT, api, "the pool stayed full");
    return rc < 0 ? -1 : 0;
}

GREEN_API int green_group_join(green_group_t *grp, double timeout)
{
    const char *api = "green_group_join";
    if (!owner(grp, api))
        return -1;
    if (green__timeout_check(timeout, api) < 0)
        return -1;
    int rc = green__linkable_wait(&grp->empty, timeout, api);
    if (rc == 0)
        return green__fail(ETIMEDOUT, api, "the group did not empty in time");
    return rc < 0 ? -1 : 0;
}

/* ---- kill ---------------------------------------------------------------------------- */

static void kill_round(struct green_group *grp)
{
    for (struct member *m = grp->head; m; m = m->next) /* killing never switches */
        if (!m->dying) {
            m->dying = true;
            green__task_kill(grp->h, m->t);
        }
}

GREEN_API int green_group_kill_nowait(green_group_t *grp)
{
    if (!owner(grp, "green_group_kill_nowait"))
        return -1;
    kill_round(grp);
    return 0;
}

/* Wait for t's death notification (iwait's rawlink). */
static int wait_notified(struct green_group *grp, struct green_task *self, struct green_task *t,
                         const char *api)
{
    void *token = t->g;
    green__task_link(grp->h, t, &self->wait);
    int rc = green__hub_block(grp->h, self, token, api);
    if (rc < 0)
        link_remove(&self->wait);
    return rc;
}

GREEN_API int green_group_kill(green_group_t *grp, double timeout)
{
    const char *api = "green_group_kill";
    if (!owner(grp, api))
        return -1;
    if (green__timeout_check(timeout, api) < 0)
        return -1;
    if (!grp->head)
        return 0;
    struct green_task *self = green__hub_self(grp->h, api);
    if (!self)
        return -1;
    struct green_timeout *own = NULL;
    if (timeout >= 0 && !(own = green__timeout_start(grp->h, timeout, api)))
        return -1;
    int rc = 0;
    while (rc == 0 && grp->head) {
        kill_round(grp);
        uint64_t round = grp->next_seq; /* joinall(the members now) */
        while (rc == 0 && grp->head && grp->head->seq < round)
            rc = wait_notified(grp, self, grp->head->t, api);
    }
    int e = errno;
    bool own_expired = rc < 0 && e == ETIMEDOUT && self->fired == own;
    green__timeout_end(grp->h, own);
    if (own_expired)
        return green__fail(ETIMEDOUT, api, "members were still alive");
    errno = e;
    return rc;
}

/* ---- map ----------------------------------------------------------------------------- */

struct map_job {
    green_group_t *grp;
    green_fn fn;
    size_t n;
    void **items, **results;
    green_t **workers;
    int status; /* 0, a worker's code, or -1 with err */
    int err;
    size_t failed;
    bool started, abandoned;
};

static void job_free(struct map_job *job)
{
    free(job->items);
    free(job->results);
    free(job->workers);
    free(job);
}

/* Pool.__map: spawn them all through the group, then get each in order. */
static void *map_helper(void *arg)
{
    struct map_job *job = arg;
    job->started = true;
    size_t spawned = 0;
    for (; spawned < job->n; spawned++) {
        job->workers[spawned] =
            green_group_spawn(job->grp, job->fn, job->items[spawned], NULL, GREEN_FOREVER);
        if (!job->workers[spawned]) {
            job->status = -1;
            job->err = errno;
            break;
        }
    }
    for (size_t i = 0; job->status == 0 && i < job->n; i++) {
        int rc = green_join(job->workers[i], GREEN_FOREVER, &job->results[i]);
        if (rc < 0) {
            job->status = -1;
            job->err = errno;
        } else if (rc > 0) {
            job->status = rc;
            job->failed = i;
        }
    }
    for (size_t i = 0; i < spawned; i++)
        green_release(job->workers[i]);
    if (job->abandoned)
        job_free(job);
    return NULL;
}

static struct map_job *job_new(green_group_t *grp, green_fn fn, void *const *items, size_t n)
{
    struct map_job *job = calloc(1, sizeof *job);
    size_t slots = n ? n : 1;
    if (!job)
        return NULL;
    job->items = malloc(slots * sizeof *job->items);
    job->results = calloc(slots, sizeof *job->results);
    job->workers = calloc(slots, sizeof *job->workers);
    if (!job->items || !job->results || !job->workers) {
        job_free(job);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        job->items[i] = items[i];
    job->grp = grp;
    job->fn = fn;
    job->n = n;
    return job;
}

GREEN_API int green_group_map(green_group_t *grp, green_fn fn, void *const *items, size_t n,
                              void **results, size_t *failed, double timeout)
{
    const char *api = "green_group_map";
    if (!owner(grp, api))
        return -1;
    if (!fn || (n && (!items || !results)) || !green__timeout_valid(timeout))
        return green__fail(EINVAL, api, "fn, items or results is NULL, or the timeout is NaN");
    struct green_task *self = green__hub_self(grp->h, api);
    if (!self)
        return -1;
    struct map_job *job = job_new(grp, fn, items, n);
    if (!job)
        return green__fail(ENOMEM, api, "out of memory");
    green_t *helper = green_spawn(map_helper, job, NULL);
    if (!helper) {
        int e = errno;
        job_free(job);
        errno = e;
        return -1;
    }
    if (green_join(helper, timeout, NULL) < 0) {
        int e = errno;
        if (job->started) {
            job->abandoned = true; /* the helper frees it */
        } else {
            green_kill_nowait(helper); /* it never runs */
            job_free(job);
        }
        green_release(helper);
        return green__fail(e, api, "%s",
                           e == ETIMEDOUT ? "the workers did not finish in time"
                                          : "interrupted while waiting");
    }
    green_release(helper);
    if (!job->started) { /* killed before it could start: the hub is shutting down */
        job->status = -1;
        job->err = ECANCELED;
    }
    int status = job->status;
    if (status == -1) {
        errno = job->err;
    } else {
        size_t done = status ? job->failed + 1 : n;
        for (size_t i = 0; i < done; i++)
            results[i] = job->results[i];
        if (status && failed)
            *failed = job->failed;
    }
    job_free(job);
    return status;
}
