/* SPDX-License-Identifier: MIT */
/* libgreen wait: waiting for any or all of several objects (gevent.wait, gevent.iwait,
 * gevent.joinall).
 *
 * A waitable is a tagged pointer: a greenlet spawned on the hub (ready once it has
 * finished), an Event (set), an AsyncResult (set), a Semaphore or a Lock (a unit free; no
 * unit is taken).  Build them with green_waitable_greenlet() and its siblings.
 *
 * The order is gevent's: waiting links one waiter to every object (gevent's rawlink), and
 * an object reports ready when its notifier — the callback its becoming ready queues, or
 * that linking an already ready object queues — reaches it.  So objects are returned in
 * the order their notifiers run, which for objects ready beforehand is array order, and
 * never without a switch: even already ready objects are returned from the queue.  The
 * timeout is one timer (priority -1, like gevent's) over the whole wait; it ends the wait
 * without an error, with fewer objects.  An object listed twice is returned twice.
 *
 * Every object must belong to the calling thread's hub and stay valid (not released or
 * destroyed) until the wait ends.  An iteration outlives its hub as sync.h's objects do:
 * one still open at green_hub_shutdown() is unlinked from its objects then (they can be
 * destroyed), returns no more objects, and green_iwait_end() still frees it.  Errors follow hub.h: -1 with errno EINVAL, EXDEV, and
 * the blocking errors (ECANCELED, EDEADLK, EPERM, EINTR, ENOMEM); the own timeout is not
 * an error.
 */
#ifndef GREEN_WAIT_H
#define GREEN_WAIT_H

#include <stddef.h>

#include "hub.h"
#include "sync.h"

#ifdef __cplusplus
extern "C" {
#endif

enum green_waitable_kind {
    GREEN_WAITABLE_GREENLET = 1,
    GREEN_WAITABLE_EVENT,
    GREEN_WAITABLE_RESULT,
    GREEN_WAITABLE_SEM,
    GREEN_WAITABLE_LOCK,
};

typedef struct green_waitable {
    enum green_waitable_kind kind;
    void *obj;
} green_waitable_t;

static inline green_waitable_t green_waitable_greenlet(green_t *g)
{
    green_waitable_t w = {GREEN_WAITABLE_GREENLET, g};
    return w;
}
static inline green_waitable_t green_waitable_event(green_event_t *e)
{
    green_waitable_t w = {GREEN_WAITABLE_EVENT, e};
    return w;
}
static inline green_waitable_t green_waitable_result(green_result_t *r)
{
    green_waitable_t w = {GREEN_WAITABLE_RESULT, r};
    return w;
}
static inline green_waitable_t green_waitable_sem(green_sem_t *s)
{
    green_waitable_t w = {GREEN_WAITABLE_SEM, s};
    return w;
}
static inline green_waitable_t green_waitable_lock(green_lock_t *l)
{
    green_waitable_t w = {GREEN_WAITABLE_LOCK, l};
    return w;
}

/* Wait for all the objects (gevent's count=None). */
#define GREEN_WAIT_ALL ((size_t)-1)

/* ---- iterate as ready (gevent.iwait) ------------------------------------------------- */

typedef struct green_iwait green_iwait_t;

/* An iterator over objs[0..n) as they become ready, at most `count` of them
 * (GREEN_WAIT_ALL: all n), within `timeout` seconds from the first green_iwait_next().
 * Nothing is linked yet (gevent links at the first next).  objs is copied.  End it with
 * green_iwait_end(), also after an error.  Returns the iterator, or NULL with errno EINVAL
 * (objs NULL with n > 0, an unknown kind, a NULL object, a greenlet not spawned on the hub
 * or released, a NaN timeout), EXDEV (an object of another thread), ENOMEM. */
GREEN_API green_iwait_t *green_iwait_new(const green_waitable_t *objs, size_t n, double timeout,
                                         size_t count);

/* The next ready object: its index in objs, in *index (if not NULL).  Blocks until one is
 * ready, unless one became ready meanwhile.  Returns 1 with an index, 0 when the iteration
 * is over (count objects returned, or the timeout expired: links and timer are gone then),
 * or -1 with errno EINVAL (it NULL), EXDEV, EBUSY (another greenlet is waiting in it), and
 * the blocking errors (the iteration is over then too). */
GREEN_API int green_iwait_next(green_iwait_t *it, size_t *index);

/* Unlink from every object, stop the timer and free it.  Returns 0, or -1 with errno
 * EINVAL (NULL), EXDEV, EBUSY (a greenlet is waiting in it). */
GREEN_API int green_iwait_end(green_iwait_t *it);

/* ---- wait for several (gevent.wait) ------------------------------------------------- */

/* Wait until `count` of objs[0..n) are ready (GREEN_WAIT_ALL: all), at most `timeout`
 * seconds.  Their indices go to ready[] (room for min(count, n) entries; may be NULL) in
 * the order they became ready.  Returns how many are ready (fewer than asked if the
 * timeout expired: that is not an error, as in gevent), or -1 with errno EINVAL (n above
 * INT_MAX, and as green_iwait_new), EXDEV, ENOMEM and the blocking errors. */
GREEN_API int green_wait(const green_waitable_t *objs, size_t n, double timeout, size_t count,
                         size_t *ready);

/* gevent.joinall: wait for `count` of the greenlets gs[0..n) (GREEN_WAIT_ALL: all) to
 * finish, at most `timeout` seconds; their indices go to ready[] (may be NULL) in the
 * order they finished, their number to *nready (may be NULL).  raise_error: stop at the
 * first one that died with an error (it is the last index in ready[]).  Returns 0 (also
 * when the timeout expired: compare *nready), the error code (> 0) of the greenlet that
 * stopped a raise_error wait, or -1 with errno as green_wait(). */
GREEN_API int green_joinall(green_t *const *gs, size_t n, double timeout, size_t count,
                            bool raise_error, size_t *ready, size_t *nready);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_WAIT_H */
