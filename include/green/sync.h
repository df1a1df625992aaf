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
 * Destroying an object that greenlets still wait on fails with EBUSY.  "Wait, then
 * destroy" works for every kind: the greenlet an object's wake-up just resumed (the last
 * waiter) may destroy it at once; the wake-up, still running, frees it when it ends.
 *
 * Objects outlive their hub.  The thread's hub state stays allocated for the thread's
 * lifetime and every hub the thread makes again after green_hub_shutdown() reuses it, so
 * an object made before a shutdown still belongs to the thread: destroying it works with
 * no hub (its waiters were killed by the shutdown, so it is idle; none is created for it),
 * and any other call on it creates the thread's next hub, as a first call would (failing
 * with ENOMEM if it cannot), and runs there.  Only thread exit ends an object's owner: destroy objects on their thread before
 * it exits.  (watch.h's objects and threadpools are the hub's own and are freed by its
 * shutdown.)
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

/* Free e.  The last greenlet it woke may free it at once.  Returns 0, or -1 with errno
 * EINVAL (NULL, or destroyed already while the wake-up that resumed its destroyer still
 * runs), EXDEV, EBUSY (greenlets wait on it, or its wake-up is pending). */
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

/* Free r (as green_event_destroy()).  Returns 0, or -1 with errno EINVAL (NULL, or
 * destroyed already while a wake-up of it still runs), EXDEV, EBUSY. */
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

/* Free s (as green_event_destroy()).  Returns 0, or -1 with errno EINVAL (NULL, or
 * destroyed already while a wake-up of it still runs), EXDEV, EBUSY. */
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

/* Free l (as green_event_destroy()).  Returns 0, or -1 with errno EINVAL (NULL, or
 * destroyed already while a wake-up of it still runs), EXDEV, EBUSY (locked or waited on). */
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

/* Free q (the items are the caller's); a greenlet its wake-up just resumed may.  Returns 0,
 * or -1 with errno EINVAL (NULL, or destroyed already while that wake-up still runs),
 * EXDEV, EBUSY (greenlets wait on it, or a wake-up is pending). */
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

/* ---- RLock (gevent.lock.RLock: a Semaphore(1), an owner and a count) --------------- */

typedef struct green_rlock green_rlock_t;

/* A new, unlocked reentrant lock.  NULL with errno ENOMEM. */
GREEN_API green_rlock_t *green_rlock_new(void);

/* Free l (as green_event_destroy()).  Returns 0, or -1 with errno EINVAL (NULL, or
 * destroyed already while a wake-up of it still runs), EXDEV, EBUSY (held or waited on). */
GREEN_API int green_rlock_destroy(green_rlock_t *l);

/* Lock, waiting at most timeout seconds; the caller becomes the owner with a count of 1.
 * The owner acquiring again only counts one more, at once and without switching.  A free
 * lock is taken at once even with greenlets waiting (barging, as Semaphore).  Returns 0,
 * or -1 with errno ETIMEDOUT, EOVERFLOW (the owner's count is at UINT_MAX), EINVAL, EXDEV
 * and the blocking errors. */
GREEN_API int green_rlock_acquire(green_rlock_t *l, double timeout);

/* As green_rlock_acquire() without waiting.  Returns 0, or -1 with errno EAGAIN (held by
 * another greenlet), EOVERFLOW, EINVAL, EXDEV. */
GREEN_API int green_rlock_try_acquire(green_rlock_t *l);

/* Count one release; the last one unlocks (never switches).  Returns 0, or -1 with errno
 * EPERM (the caller is not the owner: gevent's RuntimeError), EINVAL, EXDEV. */
GREEN_API int green_rlock_release(green_rlock_t *l);

/* Whether the calling greenlet owns l.  false for NULL.  Never fails. */
GREEN_API bool green_rlock_owned(const green_rlock_t *l);

/* The owner's count (0: unlocked).  0 for NULL.  Never fails. */
GREEN_API unsigned green_rlock_count(const green_rlock_t *l);

/* ---- Condition (threading.Condition under gevent's monkey patching) ------------------ */

typedef struct green_cond green_cond_t;

/* A condition variable over lock l (threading.Condition(lock)); the lock stays the
 * caller's and must outlive the condition.  threading.Condition tests a plain Lock's
 * ownership with a failed acquire(False), which under gevent yields (LockType's spin-lock
 * sleep); ours knows the owner and never yields, so over a Lock the order is the one gevent
 * gives over an RLock.  NULL with errno EINVAL (NULL lock), EXDEV (a lock of another
 * thread), ENOMEM. */
GREEN_API green_cond_t *green_cond_new(green_lock_t *l);

/* A condition variable over rlock rl (threading.Condition(RLock())), as green_cond_new().
 * NULL with errno EINVAL (NULL), EXDEV, ENOMEM. */
GREEN_API green_cond_t *green_cond_new_rlock(green_rlock_t *rl);

/* Free c (not its lock), at once: no wake-up of its own can still be running then (a
 * notified greenlet that has not resumed yet makes it EBUSY), so after it c is gone as
 * after free().  Returns 0, or -1 with errno EINVAL (NULL), EXDEV, EBUSY (greenlets wait
 * on it, or a notified one has not resumed yet). */
GREEN_API int green_cond_destroy(green_cond_t *c);

/* The caller must own the lock.  Release it (an RLock completely, whatever its count), wait
 * to be notified at most timeout seconds, then take the lock back (an RLock with its old
 * count) before returning — also when the wait failed.  Retaking waits behind the lock's
 * other waiters without limit; a kill or a scoped timeout arriving meanwhile is reported
 * once the lock is held again.  Differences from threading.Condition: a timeout of 0 is a
 * zero-second timer, not a poll (the libgreen convention); a greenlet being killed still
 * takes the lock back (its later blocking calls fail at once, this one retakes the lock).
 * Returns 0 (notified), or -1 with errno ETIMEDOUT (not notified in time), EPERM (the
 * caller does not own the lock; from the hub), EINVAL, EXDEV and the blocking errors of
 * hub.h (EDEADLK: nothing could ever notify the main greenlet; it holds the lock again);
 * or ENOLCK (main greenlet only: the lock can never be taken back, nothing being left to
 * run) — then, and only then, the caller does not hold the lock on return. */
GREEN_API int green_cond_wait(green_cond_t *c, double timeout);

/* Wake up to n waiters, the longest waiting first (never switches): each one's wake-up is
 * queued now, and each then retakes the lock in turn.  Returns 0, or -1 with errno EPERM
 * (the caller does not own the lock), EINVAL, EXDEV. */
GREEN_API int green_cond_notify(green_cond_t *c, size_t n);

/* green_cond_notify() for every waiter.  Returns 0, or -1 with errno as green_cond_notify. */
GREEN_API int green_cond_notify_all(green_cond_t *c);

/* Greenlets waiting on c and not yet notified.  0 for NULL.  Never fails. */
GREEN_API size_t green_cond_waiters(const green_cond_t *c);

/* ---- Queue kinds, peek, task_done/join, shutdown (gevent.queue, Python's queue) ------- */

/* How a priority queue orders two items: < 0 if a comes out before b (gevent's heapq:
 * lowest first), 0 if they tie, > 0 if b comes first. */
typedef int (*green_queue_cmp_fn)(const void *a, const void *b);

/* A LIFO queue (gevent.queue.LifoQueue): get and peek see the item put last.  maxsize 0:
 * unbounded.  NULL with errno ENOMEM. */
GREEN_API green_queue_t *green_queue_new_lifo(size_t maxsize);

/* A priority queue (gevent.queue.PriorityQueue): get and peek see the lowest item by cmp.
 * Ties come out in the order they were put (FIFO): each item carries a sequence number
 * that breaks them, where gevent's heapq would compare the items themselves.  maxsize 0:
 * unbounded.  NULL with errno EINVAL (cmp NULL), ENOMEM. */
GREEN_API green_queue_t *green_queue_new_priority(size_t maxsize, green_queue_cmp_fn cmp);

/* Every queue kind also has the rest of this section (gevent's JoinableQueue, Python
 * 3.13's Queue.shutdown).  After green_queue_shutdown(), every put fails with EPIPE and
 * every get and peek on an empty queue fails with EPIPE: the item-specific calls above
 * (green_queue_put, _try_put, _get, _try_get) and the peeks below.  EPIPE is the
 * shutdown's own code: nothing else in the queue uses it. */

/* Copy the next item (the one a get would take) into *item without taking it, waiting at
 * most timeout seconds for one, in the getters' line (gevent's peek: it makes no room, so
 * it wakes no putter).  Returns 0, or -1 with errno ETIMEDOUT (still empty), EPIPE (shut
 * down and empty), EINVAL, EXDEV and the blocking errors. */
GREEN_API int green_queue_peek(green_queue_t *q, double timeout, void **item);

/* As green_queue_peek() without waiting.  Returns 0, or -1 with errno EAGAIN (empty),
 * EPIPE (shut down and empty), EINVAL, EXDEV. */
GREEN_API int green_queue_try_peek(green_queue_t *q, void **item);

/* Count one item as processed.  Each item entering the queue (a put, or a blocked putter
 * admitted) counts as unfinished; when the count drops to 0 the joiners are woken (one
 * queued wake-up, as Event.set).  Returns 0, or -1 with errno EINVAL (more task_done calls
 * than items: gevent's ValueError; nothing changes), EXDEV. */
GREEN_API int green_queue_task_done(green_queue_t *q);

/* Wait until every item put has been counted by green_queue_task_done(), at most timeout
 * seconds (gevent's JoinableQueue.join: Event.wait on "no unfinished items", so a joiner
 * finding the count at 0 while a wake-up is pending waits behind it).  Returns 0, or -1
 * with errno ETIMEDOUT, EINVAL, EXDEV and the blocking errors. */
GREEN_API int green_queue_join(green_queue_t *q, double timeout);

/* Items put and not yet counted by green_queue_task_done().  0 for NULL.  Never fails. */
GREEN_API size_t green_queue_unfinished(const green_queue_t *q);

/* Shut q down for good (Python 3.13's Queue.shutdown; never switches).  Puts fail with
 * EPIPE from now on; gets and peeks take what is left, then fail with EPIPE.  immediate:
 * drop the items left now as well, counting each as done for green_queue_join (which
 * returns once nothing is unfinished).  Every greenlet blocked in a put, and every one
 * blocked in a get or peek that finds the queue empty, is woken by one queued wake-up, in
 * the order: getters (FIFO), then putters (FIFO); their calls fail with EPIPE (the
 * putters' items are not added).  Shutting down again only applies `immediate`.  Returns
 * 0, or -1 with errno EINVAL, EXDEV. */
GREEN_API int green_queue_shutdown(green_queue_t *q, bool immediate);

/* Whether q was shut down.  false for NULL.  Never fails. */
GREEN_API bool green_queue_is_shutdown(const green_queue_t *q);

/* ---- Channel (gevent.queue.Channel: a rendezvous, no room at all) -------------------- */

typedef struct green_channel green_channel_t;

/* A new channel.  NULL with errno ENOMEM. */
GREEN_API green_channel_t *green_channel_new(void);

/* Free c; a greenlet its hand-over just resumed may.  Returns 0, or -1 with errno EINVAL
 * (NULL, or destroyed already while that hand-over still runs), EXDEV, EBUSY (greenlets
 * wait on it, or a hand-over is pending). */
GREEN_API int green_channel_destroy(green_channel_t *c);

/* Hand item to a getter, waiting at most timeout seconds, in line with other putters
 * (FIFO).  It always blocks: the hand-over is one queued callback that pairs the first
 * getter with the first putter, resumes the getter with the item (it runs until it
 * blocks), then the putter.  There is no separate non-blocking form: gevent's put_nowait
 * is a put with timeout 0, and so is ours.  Returns 0 (a getter has the item), or -1 with
 * errno ETIMEDOUT (nobody took it), EINVAL, EXDEV and the blocking errors. */
GREEN_API int green_channel_put(green_channel_t *c, void *item, double timeout);

/* Take an item from a putter into *item, waiting at most timeout seconds, in line with
 * other getters (FIFO); it always blocks, as green_channel_put() (timeout 0 is gevent's
 * get_nowait).  Returns 0, or -1 with errno ETIMEDOUT, EINVAL, EXDEV and the blocking
 * errors. */
GREEN_API int green_channel_get(green_channel_t *c, double timeout, void **item);

/* Putters waiting minus getters waiting (gevent's balance).  0 for NULL.  Never fails. */
GREEN_API long green_channel_balance(const green_channel_t *c);

/* ---- Group and Pool (gevent.pool) ---------------------------------------------------- */

/* A Group is a set of greenlets spawned on the hub, each removed when it dies (its death
 * notification, in gevent's order); a Pool is a Group with a size: spawning into a full
 * pool waits for a member to die.  Both are a green_group_t.
 *
 * Ownership: a group never owns handles.  green_group_spawn() returns a handle the caller
 * owns exactly as green_spawn()'s (hub.h): give it up with green_release() whenever you
 * like — at once, for a fire-and-forget worker: the group still tracks the greenlet until
 * it dies, and the record is freed only after that.  green_group_add() needs a handle not
 * yet released.  Calls that name a member (add, discard, contains) need the handle; the
 * group's own kill and join work on released members too. */

typedef struct green_group green_group_t;

/* A new, empty group (gevent's Group: no size limit).  NULL with errno ENOMEM. */
GREEN_API green_group_t *green_group_new(void);

/* A new, empty pool of `size` members at most (gevent's Pool(size); 0 is allowed and
 * admits nobody, as gevent's).  NULL with errno ENOMEM. */
GREEN_API green_group_t *green_pool_new(size_t size);

/* Free grp; the greenlet a wake-up of it just resumed (from green_group_join(), say) may.
 * Returns 0, or -1 with errno EINVAL (NULL, or destroyed already while that wake-up still
 * runs), EXDEV, EBUSY (it has members, greenlets wait on it, or a wake-up is pending). */
GREEN_API int green_group_destroy(green_group_t *grp);

/* Spawn fn(arg) as green_spawn() does and add it.  A full pool first waits, at most
 * timeout seconds, for a free place (gevent's Semaphore: a place that frees up is taken by
 * whoever asks first; waiters are woken in order while places are free).  Returns the
 * handle (the caller's: see Ownership above), or NULL with errno ETIMEDOUT (the pool
 * stayed full), EINVAL (grp or fn NULL, bad attr, NaN timeout), EXDEV, ENOMEM, and the
 * blocking errors of hub.h (only when it had to wait). */
GREEN_API green_t *green_group_spawn(green_group_t *grp, green_fn fn, void *arg,
                                     const green_attr_t *attr, double timeout);

/* Add g, a greenlet spawned on this thread's hub, waiting for a free place as
 * green_group_spawn() does.  A g that is dead already is removed again when its death
 * notification runs (queued now, as gevent's rawlink).  A greenlet may be in several
 * groups.  Returns 0, or -1 with errno EEXIST (g is a member already), EINVAL (NULL, not
 * spawned on the hub, released), EXDEV, ETIMEDOUT, ENOMEM and the blocking errors. */
GREEN_API int green_group_add(green_group_t *grp, green_t *g, double timeout);

/* Remove g without waiting for its death (a pool gets the place back).  Returns 0, or -1
 * with errno ENOENT (not a member; gevent ignores it), EINVAL, EXDEV. */
GREEN_API int green_group_discard(green_group_t *grp, green_t *g);

/* Whether g is a member.  false for NULL or another thread's objects.  Never fails. */
GREEN_API bool green_group_contains(const green_group_t *grp, const green_t *g);

/* Members now (len()).  0 for NULL.  Never fails. */
GREEN_API size_t green_group_size(const green_group_t *grp);

/* Places free now: a pool's size minus its members (gevent's free_count), SIZE_MAX for a
 * group without a size (gevent's Group has no such call).  0 for NULL.  Never fails. */
GREEN_API size_t green_group_free_count(const green_group_t *grp);

/* Wait, at most timeout seconds, until a place is free, without taking it (gevent's
 * wait_available; a group without a size returns at once).  Returns 0, or -1 with errno
 * ETIMEDOUT, EINVAL, EXDEV and the blocking errors. */
GREEN_API int green_group_wait_available(green_group_t *grp, double timeout);

/* Wait, at most timeout seconds, until the group is empty (gevent's join: Event.wait on
 * "empty", so a wake-up pending delays even an empty group's joiner).  Members' errors are
 * not reported (join each member for those).  Returns 0, or -1 with errno ETIMEDOUT,
 * EINVAL, EXDEV and the blocking errors. */
GREEN_API int green_group_join(green_group_t *grp, double timeout);

/* Kill every member, in the order they were added (gevent walks a set, in no defined
 * order), as green_kill_nowait() does, then wait until each of them has died and been
 * removed, all within timeout seconds; members added meanwhile are killed in the next
 * round, until the group is empty.  The caller resumes from the last one's death
 * notification, as gevent's joinall does.  (Without memory to queue a kill, the member is
 * marked killed: its next blocking call fails.)  Returns 0 (empty), or -1 with errno
 * ETIMEDOUT (members still alive; gevent's kill returns quietly), EINVAL, EXDEV and the
 * blocking errors. */
GREEN_API int green_group_kill(green_group_t *grp, double timeout);

/* Kill every member without waiting, as green_group_kill() does.  Returns 0, or -1 with
 * errno EINVAL, EXDEV. */
GREEN_API int green_group_kill_nowait(green_group_t *grp);

/* gevent's Pool.map: run fn(items[i]) for i < n, each in a greenlet spawned into grp (so a
 * pool of size N runs N at a time), and collect what they return into results[i], in
 * input order.  As in gevent, a helper greenlet (not a member) spawns the workers, waiting
 * for places, then joins them in input order; the caller waits for the helper.  items is
 * copied; results is written only if the call returns 0 or a code.
 * Returns 0 (every worker returned; a killed one gives NULL), or the first error code
 * (> 0) in input order: a worker ended with green_exit(code, payload) — *failed (if not
 * NULL) is its index, results[0..index) hold the values before it and results[index] the
 * payload; the later workers go on running in grp.  Or -1 with errno EINVAL (grp or fn
 * NULL, items or results NULL with n > 0, NaN timeout), EXDEV, ENOMEM, ETIMEDOUT (the
 * helper and its workers go on; kill the group to stop them) and the blocking errors. */
GREEN_API int green_group_map(green_group_t *grp, green_fn fn, void *const *items, size_t n,
                              void **results, size_t *failed, double timeout);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_SYNC_H */
