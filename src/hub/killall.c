/* SPDX-License-Identifier: MIT */
/* gevent.killall: kill many greenlets with one queued callback.
 *
 * As gevent: unstarted greenlets are killed on the spot; the rest get one callback
 * (_killall3 when blocking, _killall otherwise) that throws GREEN_EXIT into each greenlet
 * still alive, in order, each running until it blocks or dies.  A blocking caller is
 * resumed by that callback and then joins those that did not die, all under one timeout.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "hub.h"

struct killall_job {
    struct green_callback cb; /* first: the queue hands us the callback */
    struct green_task *waiter; /* the blocking caller, until it stops waiting */
    size_t n;
    struct green_task *victims[]; /* each pinned while the job is queued */
};

static void run_killall(struct green_hub_part *h, struct green_callback *cb)
{
    struct killall_job *job = (struct killall_job *)cb;
    for (size_t i = 0; i < job->n; i++) {
        struct green_task *t = job->victims[i];
        if (t->phase == TASK_RUNNING && !t->reported) {
            t->killed = true;
            green__hub_resume(h, t->g, GREEN_EXIT, NULL);
        }
    }
    struct green_task *waiter = job->waiter;
    for (size_t i = 0; i < job->n; i++)
        green__task_unpin(h, job->victims[i]);
    if (waiter) /* it does not touch the job once resumed with it */
        green__hub_resume(h, waiter->g, 0, job);
    free(job);
}

/* The blocking caller's wait: for the callback, then for the diehards. */
static int wait_all(struct green_hub_part *h, struct green_task *self, struct killall_job *job,
                    green_t *const *gs, size_t n, double timeout, const char *api)
{
    struct green_timeout *own = NULL;
    if (timeout >= 0 && !(own = green__timeout_start(h, timeout, api))) {
        job->waiter = NULL;
        return -1;
    }
    int rc = green__hub_block(h, self, job, api);
    if (rc < 0)
        job->waiter = NULL; /* still queued, or running the kill of self */
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = green__task_join(h, green__task_of(gs[i]), GREEN_FOREVER, api);
    int e = errno;
    green__timeout_end(h, own);
    errno = e;
    return rc;
}

GREEN_API int green_killall(green_t *const *gs, size_t n, double timeout, bool block)
{
    const char *api = "green_killall";
    if (!gs && n > 0)
        return green__fail(EINVAL, api, "gs is NULL");
    if (green__timeout_check(timeout, api) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!green__task_arg(gs[i], api))
            return -1;
    struct green_hub_part *h = n ? green__task_of(gs[0])->h : NULL;
    size_t alive = 0;
    for (size_t i = 0; i < n; i++) {
        const struct green_task *t = green__task_of(gs[i]);
        alive += t->phase == TASK_RUNNING && !t->reported;
    }
    struct green_task *self = NULL;
    if (alive && block && !(self = green__hub_self(h, api)))
        return -1;
    struct killall_job *job = NULL;
    if (alive && !(job = malloc(sizeof *job + alive * sizeof job->victims[0])))
        return green__fail(ENOMEM, api, "no memory to queue the kills");
    for (size_t i = 0; i < n; i++) {
        struct green_task *t = green__task_of(gs[i]);
        if (t->phase == TASK_QUEUED)
            green__task_kill(h, t); /* gevent's _maybe_kill_before_start */
    }
    if (!alive)
        return 0;
    *job = (struct killall_job){.cb.run = run_killall, .waiter = self, .n = alive};
    for (size_t i = 0, k = 0; i < n; i++) {
        struct green_task *t = green__task_of(gs[i]);
        if (t->phase == TASK_RUNNING && !t->reported) {
            t->pins++;
            job->victims[k++] = t;
        }
    }
    green__callback_queue(h, &job->cb);
    return block ? wait_all(h, self, job, gs, n, timeout, api) : 0;
}
