/* SPDX-License-Identifier: MIT */
/* libgreen hub: gevent's cooperative scheduling on libev.
 *
 * Each thread that uses it gets one *hub*: a greenlet (child of the thread's main greenlet)
 * that runs a libev loop (the default loop on the process's main thread, a loop of its own
 * on every other thread).  Greenlets spawned on the hub have the hub as parent.  A blocking
 * call — green_sleep(), green_join(), waiting on an Event, a Queue, a Semaphore (sync.h) —
 * parks the calling greenlet and switches to the hub, which runs whatever is ready.
 *
 * Which greenlet runs next is what gevent 22.10 does, rule by rule:
 *   - One FIFO callback queue.  green_spawn() queues the new greenlet's start,
 *     green_sleep(0) queues the caller's wake-up, a waker (setting an Event, releasing a
 *     Semaphore, putting into a Queue, a greenlet dying) queues one *notifier*, and a kill
 *     queues its delivery.  Nothing switches unless it blocks: spawning, setting, putting
 *     into a queue with room, non-blocking kills never switch.
 *   - The hub runs the queue in order, including callbacks added meanwhile.  A callback that
 *     resumes a greenlet is suspended while that greenlet runs and continues when it blocks
 *     again: a notifier wakes its waiters one at a time, each running until it blocks.
 *   - Timers fire when the queue is empty (libev: after the prepare watcher that drains it,
 *     and the poll), in start order for equal deadlines.  Timeouts use libev priority -1, so
 *     they run after the I/O of the same loop iteration.  A timeout of 0 is a zero-second
 *     timer, not a poll: whatever is ready first wins.  Non-blocking forms are separate
 *     calls (..._nowait / ..._try).
 *   - The hub checks a time budget every 50 callbacks, like gevent's switch interval (5 ms):
 *     past it, the loop polls I/O and runs due timers before the rest of the queue.
 *     green_hub_set_time_budget() turns that off for strict FIFO order.
 *   - When nothing can ever wake the blocked main greenlet (no callbacks, no active
 *     watchers), its blocking call fails with EDEADLK (gevent's LoopExit).  Other blocked
 *     greenlets stay blocked; main may go on and block again.
 *
 * Blocking calls and errors (the convention of core.h, for every blocking call of the
 * library): each takes a timeout in seconds; a negative timeout (GREEN_FOREVER) waits
 * without limit.  They return 0 (or a documented positive value) on success, or -1 with
 * errno:
 *   ETIMEDOUT  the call's own timeout, or a scoped timeout (green_timeout_start), expired;
 *   ECANCELED  the calling greenlet is being killed (green_kill): from then on every
 *              blocking call it makes fails at once with ECANCELED, so it unwinds through
 *              its ordinary error paths;
 *   EDEADLK    (main greenlet only) the call could never return: nothing is left to run;
 *   EPERM      called from the hub itself (a callback), or from a greenlet that is neither
 *              the thread's main greenlet nor spawned on its hub;
 *   EINTR      resumed by a switch or throw that was not the hub's (a raw green_switch() or
 *              green_throw() into a parked greenlet); the thrown code is in
 *              green_last_error();
 *   ENOMEM     no memory for the hub, its loop or a timer;
 * plus the errors each call lists.  Hub objects belong to the thread that made them: using
 * them from another thread fails with EXDEV, except calls documented as thread-safe.
 *
 * Ownership: green_spawn() returns a handle the caller owns.  The greenlet is released when
 * it is dead *and* its handle has been given up with green_release(), in either order; so
 * an unjoined greenlet never leaks once released, and a handle stays valid (never reused)
 * until released.  The hub holds its own reference while the greenlet can still run.
 */
#ifndef GREEN_HUB_H
#define GREEN_HUB_H

#include <stdbool.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ev_loop; /* libev's; include <ev.h> to use it */

/* Wait without limit. */
#define GREEN_FOREVER (-1.0)

/* Thrown into a parked greenlet by an expiring timeout (a blocking call turns it into
 * ETIMEDOUT; a raw green_switch() sees the code, payload: the green_timeout_t). */
#define GREEN_TIMEOUT 0x10001
/* Thrown into the main greenlet when nothing can ever wake it (blocking calls turn it into
 * EDEADLK). */
#define GREEN_LOOP_EXIT 0x10002

/* ---- Spawning ---------------------------------------------------------------------- */

/* Create a greenlet on the calling thread's hub that will run fn(arg), and queue its start
 * at the tail of the hub's callback queue: it does not run now (the caller goes on until it
 * blocks).  attr (NULL for defaults) chooses the stack model, stack size and name.  The
 * hub is created on first use.
 * Allowed from the hub itself (a callback).
 * Returns the handle (owned by the caller: give it up with green_release()), or NULL with
 * errno EINVAL (fn NULL, bad attr), ENOMEM. */
GREEN_API green_t *green_spawn(green_fn fn, void *arg, const green_attr_t *attr);

/* As green_spawn(), but the start is a timer `seconds` from now (gevent's spawn_later):
 * it happens when the hub next runs timers after that.  NULL with errno as green_spawn(),
 * plus EINVAL for a negative or NaN delay. */
GREEN_API green_t *green_spawn_later(double seconds, green_fn fn, void *arg,
                                     const green_attr_t *attr);

/* Suspend the caller for `seconds`.  0 queues its wake-up at the tail of the callback
 * queue and yields: everything queued before runs first.  A positive delay waits on a
 * timer.  Returns 0, or -1 with errno ECANCELED, ETIMEDOUT (a scoped timeout), EDEADLK,
 * EPERM, EINTR, ENOMEM, EINVAL (negative or NaN). */
GREEN_API int green_sleep(double seconds);

/* ---- Greenlets on the hub ---------------------------------------------------------- */

/* Wait until g has finished, at most `timeout` seconds.  Returns 0 and the value g
 * returned (*result, if result is not NULL); a positive code if g died with an error
 * (green_exit(code, payload): the payload in *result); or -1 with errno ETIMEDOUT (g still
 * running), EINVAL (g NULL or not spawned on a hub), EXDEV (g of another thread), and the
 * blocking errors above.  A greenlet killed before it could start returns 0 with NULL.
 * Joining a finished greenlet returns at once without switching. */
GREEN_API int green_join(green_t *g, double timeout, void **result);

/* Kill g and wait for it to die, at most `timeout` seconds: GREEN_EXIT is delivered into
 * whatever g is blocked in (its blocking call fails with ECANCELED), when a callback queued
 * now reaches the front of the queue.  An unstarted g never runs: it is dead when this
 * returns, without switching.  Killing a dead greenlet returns 0 at once.  Returns 0 (g is
 * dead), or -1 with errno ETIMEDOUT (still alive after the timeout), EINVAL, EXDEV, and
 * the blocking errors above (ECANCELED if the caller is itself killed meanwhile, including
 * a greenlet killing itself).  Refused at once (EPERM from the hub, ECANCELED from a
 * greenlet already being killed, which cannot wait), it kills nothing: such callers use
 * green_kill_nowait(). */
GREEN_API int green_kill(green_t *g, double timeout);

/* Kill g without waiting: queue the delivery (or, for an unstarted g, kill it now) and
 * return at once.  Returns 0, or -1 with errno EINVAL, EXDEV, ENOMEM.  Never fails on a
 * dead greenlet. */
GREEN_API int green_kill_nowait(green_t *g);

/* Give up the handle green_spawn() returned; g is freed when it is dead (now, or when it
 * dies).  g must not be used afterwards.  Returns 0, or -1 with errno EINVAL (NULL, not a
 * spawned greenlet, or released already), EXDEV. */
GREEN_API int green_release(green_t *g);

/* g has finished (its result is known; it may still be handing control on).  false for
 * NULL or a greenlet not spawned on a hub.  Never fails. */
GREEN_API bool green_ready(const green_t *g);

/* g finished without an error (returned normally, or was killed).  Never fails. */
GREEN_API bool green_successful(const green_t *g);

/* ---- Scoped timeouts (gevent's Timeout) ---------------------------------------------- */

typedef struct green_timeout green_timeout_t;

/* Arm a timeout for the calling greenlet: after `seconds` (0: at the hub's next round of
 * timers), whatever blocking call it is in fails with ETIMEDOUT.  Timeouts nest: each
 * fires on its own; green_timeout_fired() tells which one did.  End every timeout with
 * green_timeout_end(), also when it fired.  Returns the timeout, or NULL with errno EINVAL
 * (negative or NaN), EPERM, ENOMEM. */
GREEN_API green_timeout_t *green_timeout_start(double seconds);

/* Whether t has expired and been delivered.  Never fails. */
GREEN_API bool green_timeout_fired(const green_timeout_t *t);

/* Cancel t if it has not fired, and free it.  Returns 1 if it had fired, 0 if not, or -1
 * with errno EINVAL (NULL) or EXDEV. */
GREEN_API int green_timeout_end(green_timeout_t *t);

/* ---- The hub ----------------------------------------------------------------------- */

/* The calling thread's hub greenlet, created on first use; NULL with errno ENOMEM. */
GREEN_API green_t *green_hub(void);

/* The libev loop of the calling thread's hub (creating the hub), for watchers of your own:
 * their callbacks run in the hub greenlet and must not block.  NULL with errno ENOMEM. */
GREEN_API struct ev_loop *green_hub_loop(void);

/* Turn the hub's time budget (gevent's switch interval, 5 ms checked every 50 callbacks)
 * on or off for the calling thread.  Off: the whole callback queue always runs before
 * timers and I/O, for strict order.  Returns 0, or -1 with errno ENOMEM. */
GREEN_API int green_hub_set_time_budget(bool on);

/* Shut the calling thread's hub down: kill every greenlet still alive on it (their
 * blocking calls fail with ECANCELED, so their cleanup runs), wait for them to die, then
 * free the loop and the hub.  Also done at thread exit.  Must be called from the main
 * greenlet.  Returns 0 (also if there was no hub), or -1 with errno EPERM (not from the
 * main greenlet), EBUSY (a greenlet refused to die: it switched away on its own). */
GREEN_API int green_hub_shutdown(void);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_HUB_H */
