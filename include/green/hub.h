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
#include <stdio.h>

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
 * green_timeout_end(), also when it fired.  A timeout still armed when its greenlet dies
 * (or when the hub shuts down) is disarmed then and never fires (gevent: a Timeout whose
 * greenlet is dead does no harm); it must still be ended, from any greenlet of the thread,
 * even after the greenlet was released.  Returns the timeout, or NULL with errno EINVAL
 * (negative or NaN), EPERM (from the hub, or from a greenlet not spawned on it), ENOMEM. */
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
 * blocking calls fail with ECANCELED, so their cleanup runs), wait for them to die, run
 * their death notifications (links: groups lose them, green_link callbacks are called;
 * whatever those spawn is killed too), then free the loop and the hub.  Also done at thread exit.  The thread's hub state itself is
 * kept for the thread's next hub, so sync objects (sync.h), iterations (wait.h) and scoped
 * timeouts made before stay valid: they can be destroyed or ended after it.  Must be called from the main
 * greenlet.  Returns 0 (also if there was no hub), or -1 with errno EPERM (not from the
 * main greenlet), EBUSY (a greenlet refused to die: it switched away on its own). */
GREEN_API int green_hub_shutdown(void);

/* ---- Links (gevent's Greenlet.rawlink, link_value, link_exception, unlink) ------------ */

/* A link callback: g is the greenlet that finished.  It runs in the hub and must not block
 * (it may spawn, set events, put into queues, read g's result with green_join(g, 0, ...),
 * which returns at once, or release g).  If g's handle was released before, g is still
 * readable during the call (green_ready, green_successful, green_id, green_name) but
 * calls that take a handle refuse it (EINVAL). */
typedef void (*green_link_fn)(green_t *g, void *arg);

/* Call fn(g, arg) once g has finished: from g's notifier, the callback its death queues,
 * in link order together with g's joiners.  Linking a greenlet that has finished already
 * queues the notifier now (gevent: the callback still runs, from the queue, never from
 * this call).  gevent's link() runs the callback in a fresh greenlet, so it may block; in
 * C the callback runs in the hub, as with gevent's rawlink(): spawn from it to block.
 * Returns 0, or -1 with errno EINVAL (g or fn NULL, g not spawned on a hub, released),
 * EXDEV (g of another thread), ENOMEM. */
GREEN_API int green_link(green_t *g, green_link_fn fn, void *arg);

/* As green_link(), but fn runs only if g finished without an error (it returned, or was
 * killed: green_successful()).  Returns 0, or -1 with errno as green_link(). */
GREEN_API int green_link_value(green_t *g, green_link_fn fn, void *arg);

/* As green_link(), but fn runs only if g died with an error.  Linked greenlets count as
 * joined: their errors are not reported (green_hub_set_error_handler).  Returns 0, or -1
 * with errno as green_link(). */
GREEN_API int green_link_error(green_t *g, green_link_fn fn, void *arg);

/* Remove the first link of g made with this fn and arg that has not run yet.  Returns 1 if
 * one was removed, 0 if none was found (gevent ignores that case too), or -1 with errno
 * EINVAL, EXDEV. */
GREEN_API int green_unlink(green_t *g, green_link_fn fn, void *arg);

/* ---- killall (gevent.killall) --------------------------------------------------------- */

/* Kill the n greenlets gs[] (all of the calling thread's hub).  Unstarted ones are killed
 * on the spot (they never run).  For the others one callback is queued that throws
 * GREEN_EXIT into each one still alive, in array order, each running until it blocks or
 * dies.  block false: return now (timeout unused).  block true: wait until all are dead,
 * at most `timeout` seconds for the whole (a greenlet that blocks again while dying is
 * joined).  No switch happens if every greenlet was dead or unstarted.  gs may contain the
 * caller (it is then killed: ECANCELED).
 * Returns 0, or -1 with errno ETIMEDOUT (some still alive), EINVAL (gs NULL with n > 0, an
 * entry NULL, not spawned, released; nothing is killed then), EXDEV, ENOMEM, and the
 * blocking errors above. */
GREEN_API int green_killall(green_t *const *gs, size_t n, double timeout, bool block);

/* ---- Greenlet-local storage (gevent.local) ------------------------------------------- */

/* A key names one greenlet-local variable; every greenlet (the main greenlet and those
 * spawned on a hub, of any thread) has its own value for it, NULL until set.  Keys are
 * process-wide, like pthread keys. */
typedef uint32_t green_local_key_t;

/* The most keys alive at once. */
#define GREEN_LOCAL_KEYS_MAX 128

/* Make a key.  When a greenlet that has a non-NULL value for it dies, destructor (if not
 * NULL) is called with the value, in the hub, before the greenlet's joiners and links run
 * (gevent frees a greenlet's locals when the greenlet object is collected; C has no
 * collector, so they go at death).  The main greenlet's values go when its hub shuts down
 * (green_hub_shutdown, or thread exit).  Destructors must not block.  Thread-safe.
 * Returns 0 with the key in *key, or -1 with errno EINVAL (key NULL), EAGAIN
 * (GREEN_LOCAL_KEYS_MAX keys exist). */
GREEN_API int green_local_key_new(green_local_key_t *key, void (*destructor)(void *));

/* Delete key: its values are forgotten, their destructors are not called (as with
 * pthread_key_delete); a later key never sees them.  Thread-safe.  Returns 0, or -1 with
 * errno EINVAL (not a live key). */
GREEN_API int green_local_key_delete(green_local_key_t key);

/* The calling greenlet's value for key; NULL if unset, and NULL for the hub greenlet and
 * greenlets not spawned on a hub (they have no storage).  Never fails. */
GREEN_API void *green_local_get(green_local_key_t key);

/* Set the calling greenlet's value for key (the old value is replaced; no destructor runs
 * for it).  Returns 0, or -1 with errno EINVAL (not a live key), EPERM (called from the hub
 * or a greenlet not spawned on it), ENOMEM. */
GREEN_API int green_local_set(green_local_key_t key, void *value);

/* ---- Error reports (gevent's Hub.handle_error) --------------------------------------- */

/* Handles the death of a greenlet by an error when nobody joined or linked it: g, its error
 * code and payload.  Runs in the hub (it must not block) right after the death, before
 * the greenlet's locals are destroyed; g stays valid during the call. */
typedef void (*green_error_handler_fn)(green_t *g, int code, void *payload, void *arg);

/* Replace the calling thread's report of unjoined errors (by default one line on stderr:
 * "libgreen: greenlet 'name' (id N) died with error CODE (text) and nobody joined it")
 * with fn(g, code, payload, arg); fn NULL restores the default.  Returns 0, or -1 with errno
 * ENOMEM (no hub could be created). */
GREEN_API int green_hub_set_error_handler(green_error_handler_fn fn, void *arg);

/* ---- Run info (gevent.util.print_run_info) ------------------------------------------- */

/* Write one line per greenlet of the calling thread's hub to out: the main greenlet, the
 * hub, then the spawned greenlets not yet freed, newest first.  Each line:
 *   "greenlet ID 'NAME' parent PARENT-ID STATE"
 * (the name quoted, or "-" if unnamed; parent 0 for the main greenlet), where STATE is
 * "running" (the caller), "queued" (start pending), "dead", "suspended" (switched away
 * outside the hub), "loop" (the hub, when it is not the caller), or "blocked in CALL"
 * (CALL: the public call it waits in) followed by " on greenlet ID" when it waits for a
 * greenlet (green_join), or " on 0xADDR" for another object (an Event, a Queue...).  Not for signal
 * handlers (it uses stdio and reads the thread's state unlocked).  Without a hub it writes
 * nothing.  Returns 0, or -1 with errno EINVAL (out NULL), EIO (a write failed). */
GREEN_API int green_hub_dump(FILE *out);

/* ---- Blocked-hub monitor (gevent's monitor thread, max_blocking_time) ------------------ */

/* Start a monitor thread for the calling thread's hub: when one greenlet has run for
 * `seconds` or more without switching (it holds the thread, and nothing else on the hub
 * can run), it writes one line on stderr naming the greenlet's id and the thread, once per
 * episode (again only after a switch).  An idle hub (waiting in its loop) is never
 * reported.  Off by default; stopped by green_hub_monitor_stop() and at hub shutdown.
 * Returns 0, or -1 with errno EINVAL (seconds not > 0), EBUSY (already running), EAGAIN or
 * ENOMEM (no thread could be started). */
GREEN_API int green_hub_monitor_start(double seconds);

/* Stop the calling thread's monitor and wait for its thread to end.  Returns 0 (also if
 * none runs).  Never fails. */
GREEN_API int green_hub_monitor_stop(void);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_HUB_H */
