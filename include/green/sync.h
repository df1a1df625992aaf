/* SPDX-License-Identifier: MIT */
/* libgreen sync: gevent's synchronisation primitives for greenlets on the hub.
 *
 * Every object belongs to the hub of the thread that created it (created on first use);
 * using it from another thread fails with EXDEV.  Nothing here switches unless it blocks:
 * setting an Event, releasing a Semaphore, putting into a Queue with room queue one
 * wake-up callback on the hub and return (hub.h gives the order rules).  Blocking calls
 * take a timeout in seconds (GREEN_FOREVER: no limit; 0: a zero-second timer, not a poll)
 * and fail with -1 and errno as hub.h lists (ETIMEDOUT, ECANCELED, EDEADLK, EPERM, EINTR,
 * ENOMEM) plus their own codes; non-blocking forms are separate calls failing with EAGAIN.
 * Destroying an object that greenlets still wait on fails with EBUSY.
 */
#ifndef GREEN_SYNC_H
#define GREEN_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "hub.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Event (gevent.event.Event) ------------------------------------------------------ */

typedef struct green_event green_event_t;

/* A new, clear event.  NULL with errno ENOMEM. */
GREEN_API green_event_t *green_event_new(void);

/* Free e.  Returns 0, or -1 with errno EINVAL (NULL), EXDEV, EBUSY (greenlets wait on it,
 * or its wake-up is pending). */
GREEN_API int green_event_destroy(green_event_t *e);

/* Set the flag and queue one wake-up of every waiter (they run in the order they began to
 * wait, when the hub reaches it; this call never switches).  Returns 0, or -1 with errno
 * EINVAL, EXDEV. */
GREEN_API int green_event_set(green_event_t *e);

/* Clear the flag.  A wake-up already queued still wakes the waiters it was queued for (as
 * in gevent).  Returns 0, or -1 with errno EINVAL, EXDEV. */
GREEN_API int green_event_clear(green_event_t *e);

/* The flag.  false for NULL.  Never fails. */
GREEN_API bool green_event_is_set(const green_event_t *e);

/* Wait until the flag is set, at most timeout seconds.  If it is set and no wake-up is
 * pending, returns at once; if one is pending, waits behind it (even with timeout 0).
 * Returns 0, or -1 with errno ETIMEDOUT, EINVAL, EXDEV and the blocking errors of hub.h. */
GREEN_API int green_event_wait(green_event_t *e, double timeout);

/* ---- AsyncResult (gevent.event.AsyncResult) ------------------------------------------ */

typedef struct green_result green_result_t;

/* A new, unset result.  NULL with errno ENOMEM. */
GREEN_API green_result_t *green_result_new(void);

/* Free r.  Returns 0, or -1 with errno EINVAL, EXDEV, EBUSY. */
GREEN_API int green_result_destroy(green_result_t *r);

/* Set the value (again: overwrites) and queue a wake-up of the getters, who read the value
 * current when they resume.  Returns 0, or -1 with errno EINVAL, EXDEV. */
GREEN_API int green_result_set(green_result_t *r, void *value);

/* Set an error instead: getters get `code` (> 0) and `payload` — unless a value is set
 * already, which stays (gevent's get() prefers a value ever set to the exception); the
 * getters are woken either way.  Returns 0, or -1 with errno EINVAL (NULL, code <= 0),
 * EXDEV. */
GREEN_API int green_result_set_error(green_result_t *r, int code, void *payload);

/* Wait for the result, at most timeout seconds; never queues behind a pending wake-up.
 * Returns 0 with the value in *value (if not NULL), the error code (> 0) with its payload
 * in *value, or -1 with errno ETIMEDOUT, EINVAL, EXDEV and the blocking errors. */
GREEN_API int green_result_get(green_result_t *r, double timeout, void **value);

/* As green_result_get() without waiting: -1 with errno EAGAIN if unset. */
GREEN_API int green_result_try_get(green_result_t *r, void **value);

/* Whether a value or an error is set.  Never fails (false for NULL). */
GREEN_API bool green_result_ready(const green_result_t *r);

/* ---- Semaphore, BoundedSemaphore (gevent.lock) --------------------------------------- */

typedef struct green_sem green_sem_t;

/* A semaphore with `value` units; bounded: releasing beyond `value` is an error.  NULL with
 * errno ENOMEM. */
GREEN_API green_sem_t *green_sem_new(unsigned value, bool bounded);

/* Free s.  Returns 0, or -1 with errno EINVAL, EXDEV, EBUSY. */
GREEN_API int green_sem_destroy(green_sem_t *s);

/* Take a unit, waiting at most timeout seconds for one.  A unit left is taken at once,
 * even with greenlets waiting (gevent: no hand-off; a release wakes waiters in order only
 * while units remain).  Returns 0, or -1 with errno ETIMEDOUT, EINVAL, EXDEV and the
 * blocking errors. */
GREEN_API int green_sem_acquire(green_sem_t *s, double timeout);

/* Take a unit if one is left.  Returns 0, or -1 with errno EAGAIN (none), EINVAL, EXDEV. */
GREEN_API int green_sem_try_acquire(green_sem_t *s);

/* Give a unit back; never switches.  Returns 0, or -1 with errno EOVERFLOW (bounded, and
 * all units are already back: nothing changes), EINVAL, EXDEV. */
GREEN_API int green_sem_release(green_sem_t *s);

/* Units left now.  0 for NULL.  Never fails. */
GREEN_API unsigned green_sem_value(const green_sem_t *s);

/* ---- Lock (gevent.lock.Lock: a BoundedSemaphore(1) with an owner) --------------------- */

typedef struct green_lock green_lock_t;

/* A new, unlocked lock.  NULL with errno ENOMEM. */
GREEN_API green_lock_t *green_lock_new(void);

/* Free l.  Returns 0, or -1 with errno EINVAL, EXDEV, EBUSY (locked or waited on). */
GREEN_API int green_lock_destroy(green_lock_t *l);

/* Lock, waiting at most timeout seconds; the caller becomes the owner.  Returns 0, or -1
 * with errno EDEADLK (the caller already owns it), ETIMEDOUT, EINVAL, EXDEV and the
 * blocking errors. */
GREEN_API int green_lock_acquire(green_lock_t *l, double timeout);

/* Lock if free.  Returns 0, or -1 with errno EAGAIN (locked), EINVAL, EXDEV. */
GREEN_API int green_lock_try_acquire(green_lock_t *l);

/* Unlock; never switches.  Returns 0, or -1 with errno EPERM (the caller is not the
 * owner), EINVAL, EXDEV. */
GREEN_API int green_lock_release(green_lock_t *l);

/* ---- Queue (gevent.queue.Queue: FIFO, optionally bounded) ----------------------------- */

typedef struct green_queue green_queue_t;

/* A FIFO queue of pointers holding at most maxsize items (0: unbounded).  NULL with errno
 * ENOMEM. */
GREEN_API green_queue_t *green_queue_new(size_t maxsize);

/* Free q (the items are the caller's).  Returns 0, or -1 with errno EINVAL, EXDEV, EBUSY. */
GREEN_API int green_queue_destroy(green_queue_t *q);

/* Append item; if the queue is full, wait at most timeout seconds for room, in line with
 * other putters (FIFO).  Returns 0, or -1 with errno ETIMEDOUT (still full), ENOMEM,
 * EINVAL, EXDEV and the blocking errors. */
GREEN_API int green_queue_put(green_queue_t *q, void *item, double timeout);

/* Append item if there is room.  Returns 0, or -1 with errno EAGAIN (full), ENOMEM, EINVAL,
 * EXDEV. */
GREEN_API int green_queue_try_put(green_queue_t *q, void *item);

/* Take the head item into *item, waiting at most timeout seconds for one.  A blocked getter
 * reserves nothing: an item put meanwhile may be taken by anyone until the hub hands it
 * on.  Returns 0, or -1 with errno ETIMEDOUT (still empty), EINVAL, EXDEV and the blocking
 * errors. */
GREEN_API int green_queue_get(green_queue_t *q, double timeout, void **item);

/* Take the head item if there is one.  Returns 0, or -1 with errno EAGAIN (empty), EINVAL,
 * EXDEV. */
GREEN_API int green_queue_try_get(green_queue_t *q, void **item);

/* Items in q now.  0 for NULL.  Never fails. */
GREEN_API size_t green_queue_size(const green_queue_t *q);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_SYNC_H */
