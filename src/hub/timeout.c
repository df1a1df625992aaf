/* SPDX-License-Identifier: MIT */
/* Sleeping and timeouts: gevent's sleep() and Timeout.
 *
 * A timeout is a libev timer of priority -1 (after the I/O of the same loop iteration)
 * started with the loop's clock brought up to date, so zero-second timeouts started one
 * after another expire in start order.  When it fires it throws GREEN_TIMEOUT into the
 * greenlet that armed it, straight from the timer callback; whatever blocking call that
 * greenlet is in unlinks itself and fails with ETIMEDOUT.  Blocking calls with a timeout
 * argument use the same timers, so a scoped timeout and a call's own one nest: the first
 * to fire wins, and the call ends the other before it can.
 *
 * green_sleep(0) is gevent's sleep(0): a wake-up queued at the tail of the callback queue.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "hub.h"

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct green_timeout *t = w->data;
    t->fired = true;
    green__hub_resume(t->h, t->target, GREEN_TIMEOUT, t);
}

struct green_timeout *green__timeout_start(struct green_hub_part *h, double seconds,
                                           const char *api)
{
    struct green_timeout *t = malloc(sizeof *t);
    if (!t) {
        green__fail(ENOMEM, api, "no memory for a timeout");
        return NULL;
    }
    ev_timer_init(&t->timer, on_timeout, seconds, 0.0);
    ev_set_priority(&t->timer, -1);
    t->timer.data = t;
    t->h = h;
    t->target = h->ts->core.current;
    t->fired = false;
    t->owner = NULL;
    t->prev_armed = t->next_armed = NULL;
    ev_now_update(h->loop);
    ev_timer_start(h->loop, &t->timer);
    return t;
}

void green__timeout_end(struct green_hub_part *h, struct green_timeout *t)
{
    if (!t)
        return;
    ev_timer_stop(h->loop, &t->timer);
    free(t);
}

GREEN_API green_timeout_t *green_timeout_start(double seconds)
{
    const char *api = "green_timeout_start";
    struct green_hub_part *h = green__hub_get(api);
    if (!h)
        return NULL;
    if (!(seconds >= 0)) {
        green__fail(EINVAL, api, "the timeout must be >= 0 (got %g)", seconds);
        return NULL;
    }
    if (h->ts->core.current == h->hub) {
        green__fail(EPERM, api,
                    "called from the hub (a callback or watcher), which cannot "
                    "block");
        return NULL;
    }
    struct green_task *self = green__task_of(h->ts->core.current);
    if (!self) {
        green__fail(EPERM, api,
                    "the calling greenlet was not spawned on the hub: only the main greenlet "
                    "and spawned greenlets can block");
        return NULL;
    }
    struct green_timeout *t = green__timeout_start(h, seconds, api);
    if (t) {
        t->owner = self;
        t->next_armed = self->timeouts;
        if (self->timeouts)
            self->timeouts->prev_armed = t;
        self->timeouts = t;
    }
    return t;
}

static void disown(struct green_timeout *t)
{
    if (t->prev_armed)
        t->prev_armed->next_armed = t->next_armed;
    else
        t->owner->timeouts = t->next_armed;
    if (t->next_armed)
        t->next_armed->prev_armed = t->prev_armed;
    t->owner = NULL;
    t->prev_armed = t->next_armed = NULL;
}

void green__timeouts_disarm(struct green_hub_part *h, struct green_task *task)
{
    while (task->timeouts) {
        struct green_timeout *t = task->timeouts;
        ev_timer_stop(h->loop, &t->timer);
        t->target = NULL;
        disown(t);
    }
}

GREEN_API bool green_timeout_fired(const green_timeout_t *t) { return t && t->fired; }

GREEN_API int green_timeout_end(green_timeout_t *t)
{
    if (!t)
        return green__fail(EINVAL, "green_timeout_end", "the timeout is NULL");
    struct green_hub_part *h = green__hub_peek();
    if (h != t->h && !(t->h == green__hub_kept() && !t->target)) /* disarmed at shutdown */
        return green__fail(EXDEV, "green_timeout_end",
                           "the timeout belongs to another thread's hub");
    int fired = t->fired;
    if (t->owner)
        disown(t);
    if (t->target)
        green__timeout_end(h, t);
    else
        free(t); /* disarmed: its greenlet died, or its hub was shut down */
    return fired;
}

/* ---- sleep --------------------------------------------------------------------------- */

static void on_sleep_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct green_task *t = w->data;
    green__wake_task(t->h, t, w);
}

/* A sleep's wake-up (token: self->wake or self->sleep_timer) undone, after a block that it
 * did not end; errno kept. */
static void sleep_undo(struct green_task *self, const void *token)
{
    int e = errno;
    if (token == &self->wake)
        green__callback_cancel(self->h, &self->wake);
    else
        ev_timer_stop(self->h->loop, &self->sleep_timer);
    errno = e;
}

#if GREEN_CORE_PARK
static int sleep_park_failed(int status)
{
    struct green_task *self = green__task_of(green__tls->core.current);
    green__hub_park_failed(self, status);
    sleep_undo(self, self->blocked_on);
    return -1;
}
#endif

/* Block self in a sleep until token (its wake-up) resumes it: parked into the hub where it
 * can be (green__hub_park_tail: the sleep's caller is resumed straight), else the checked
 * block.  Returns 0, or -1 with errno. */
static inline __attribute__((always_inline)) int sleep_block(struct green_hub_part *h,
                                                             struct green_task *self,
                                                             void *token, const char *api)
{
#if GREEN_CORE_PARK
    if (green__hub_can_park(h->hub))
        return green__hub_park_tail(h, self, token, api, h->hub, NULL, sleep_park_failed);
#endif
    int rc = green__hub_block(h, self, token, api);
    if (rc < 0)
        sleep_undo(self, token);
    return rc;
}

GREEN_API int green_sleep(double seconds)
{
    const char *api = "green_sleep";
    struct green_hub_part *h = green__hub_get(api);
    if (!h)
        return -1;
    if (!(seconds >= 0))
        return green__fail(EINVAL, api, "the delay must be >= 0 (got %g)", seconds);
    struct green_task *self = green__hub_self(h, api);
    if (!self)
        return -1;
    if (seconds == 0) {
        green__callback_queue(h, &self->wake);
        return sleep_block(h, self, &self->wake, api);
    }
    ev_timer_init(&self->sleep_timer, on_sleep_timer, seconds, 0.0);
    self->sleep_timer.data = self;
    /* gevent's sleep() always updates the loop's clock first: the delay counts from now,
     * not from the last time the loop read the clock (a greenlet resumed by a timer may
     * have computed for a while since). */
    ev_now_update(h->loop);
    ev_timer_start(h->loop, &self->sleep_timer);
    return sleep_block(h, self, &self->sleep_timer, api); /* a timer that fired is stopped */
}
