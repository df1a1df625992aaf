/* SPDX-License-Identifier: MIT */
/* libgreen core: greenlets in C.
 *
 * A greenlet is a stackful coroutine that runs only when something switches to it.
 * The semantics are Python greenlet's, translated to C:
 *
 *   - Every thread has one implicit *main* greenlet (the thread's own stack); it is created
 *     lazily by the first libgreen call on that thread and never dies.
 *   - A new greenlet does not run until first switched to; the value of that first switch
 *     becomes its run function's argument.
 *   - green_switch() suspends the current greenlet and resumes the target; the target's own
 *     pending green_switch() call returns the value.
 *   - When run() returns r, the greenlet is dead and r is delivered to its parent as the
 *     parent's switch result.  A switch or throw to a dead greenlet goes to its nearest live
 *     ancestor; an unstarted ancestor is started with the value.
 *   - green_throw() resumes the target with an *error* instead of a value.  Errors and values
 *     can never be confused: a switch returns 0 for a value and the (positive) error code for
 *     an error, and -1 only when the call itself was refused.
 *   - Switching between threads is refused: a greenlet belongs to the thread that made it.
 *
 * Errors, for this layer and every layer above it (one convention for the library):
 *   - A refused call returns -1 (or NULL) and sets errno to a POSIX code; green_last_error()
 *     then describes the failure in words, starting "libgreen: <function>: " and naming the
 *     greenlets and threads involved.  A refused call changes nothing.
 *   - Errors *delivered* to a greenlet are positive int codes: a switch returns 0 for a
 *     value, the code for a thrown error, and -1 only when the switch itself was refused,
 *     so a thrown error can never be mistaken for a value or a refusal.  Any positive int
 *     may be thrown; errno values are the natural choice.
 *   - GREEN_EXIT (greenlet's GreenletExit) lies outside the errno range: it is the one
 *     code with a meaning of its own (a greenlet that dies of it finishes normally).
 *   - Blocking calls of the layers above (waiting on the hub, on sync objects, on I/O)
 *     fail with -1 and errno ETIMEDOUT when their timeout expires and ECANCELED when the
 *     waiting greenlet is being killed: the kill arrives as GREEN_EXIT thrown into the
 *     greenlet, and a blocking call that receives it reports ECANCELED, so C code unwinds
 *     through its ordinary error paths.  Those calls document their own errno lists.
 *   - Misuse that cannot be refused safely (a destroyed handle used again, a double
 *     destroy) aborts the process with a message naming the call and the greenlet.
 */
#ifndef GREEN_CORE_H
#define GREEN_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GREEN_API __attribute__((visibility("default")))
#else
#define GREEN_API
#endif

/* An opaque greenlet handle.  It stays valid until green_destroy() or the owning thread
 * exits, whichever comes first. */
typedef struct green green_t;

/* A greenlet's body.  Its argument is the value of the first switch into the greenlet; its
 * return value is delivered to the parent as a normal finish. */
typedef void *(*green_fn)(void *arg);

/* The distinguished exit error (greenlet's GreenletExit).  Thrown into a greenlet by
 * green_destroy() to kill it.  A greenlet that ends with GREEN_EXIT — by not handling it, or
 * by green_exit(GREEN_EXIT, v) — finishes *normally*: its parent receives the payload v as
 * a value, not an error.  The value lies outside the errno range. */
#define GREEN_EXIT 0x10000

/* Stack models, chosen per greenlet. */
enum green_stack_model {
    /* An mmap'd stack of its own with a 64 KiB guard region below it; stacks are pooled per
     * thread, so create/finish costs no system call in steady state.  The fast switch.
     * Running into the guard kills the process with a message naming the greenlet. */
    GREEN_STACK_PRIVATE = 0,
    /* greenlet's stack slicing: the greenlet runs on one of the thread's shared stack
     * regions and, when another greenlet needs the addresses it occupies, the overlapping
     * part of its stack is copied to the heap (and copied back when it resumes).  A
     * suspended shared greenlet costs only the bytes of stack it was actually using.
     * A greenlet started by its parent while the parent runs on a region starts just below
     * the parent in that region (greenlet's nesting: nothing is copied until one of them
     * outgrows the other); any other starts at the top of the next region in turn, so that
     * up to GREEN_SHARED_STACKS_DEFAULT greenlets that switch among each other copy nothing.
     *
     * FOOTGUN: while a shared greenlet is suspended, its stack may live in the heap and its
     * addresses may be occupied by another greenlet.  A pointer into a suspended shared
     * greenlet's stack (the address of one of its locals) must not be dereferenced by any
     * other greenlet.  Pass data between greenlets in heap memory, or by value through
     * green_switch(); see examples/shared_stack.c for the safe pattern. */
    GREEN_STACK_SHARED = 1,
};

/* Usable size of a private stack (bytes): the default, and the most green_new() accepts. */
#define GREEN_STACK_DEFAULT ((size_t)256 * 1024)
#define GREEN_STACK_MAX ((size_t)1 << 40)
/* Size of each of a thread's shared stack regions (bytes): default, and the range accepted
 * by green_set_shared_stack_size().  Only the pages a greenlet touches take memory. */
#define GREEN_SHARED_STACK_DEFAULT ((size_t)8 * 1024 * 1024)
#define GREEN_SHARED_STACK_MIN ((size_t)64 * 1024)
#define GREEN_SHARED_STACK_MAX ((size_t)1 << 31)
/* How many shared stack regions a thread uses: default, and the most
 * green_set_shared_stacks() accepts. */
#define GREEN_SHARED_STACKS_DEFAULT 4u
#define GREEN_SHARED_STACKS_MAX 16u

/* Creation attributes.  Start from GREEN_ATTR_INIT (all defaults) and set what you need. */
typedef struct green_attr {
    enum green_stack_model stack_model; /* default GREEN_STACK_PRIVATE */
    size_t stack_size; /* private stacks: usable bytes, rounded up to whole pages;
                          0 means GREEN_STACK_DEFAULT.  Ignored for shared stacks. */
    const char *name;  /* diagnostic name, copied; NULL for none */
} green_attr_t;
#define GREEN_ATTR_INIT {.stack_model = GREEN_STACK_PRIVATE, .stack_size = 0, .name = NULL}

/* ---- Identity ---------------------------------------------------------------------- */

/* The greenlet running on the calling thread (the main greenlet if no other runs).
 * Returns NULL only if the thread's state could not be created (errno ENOMEM). */
GREEN_API green_t *green_current(void);

/* The calling thread's main greenlet.  NULL only if the thread's state could not be
 * created (errno ENOMEM), as for green_current(). */
GREEN_API green_t *green_main(void);

/* ---- Life cycle -------------------------------------------------------------------- */

/* Create a greenlet that will run run(arg) when first switched to.  parent NULL means the
 * current greenlet.  attr NULL means all defaults.  The greenlet belongs to the calling
 * thread.  No stack is allocated until it starts.
 * Returns the new greenlet, or NULL with errno:
 *   EINVAL  run is NULL, attr->stack_model is unknown, or attr->stack_size is over
 *           GREEN_STACK_MAX (1 TiB);
 *   EXDEV   parent belongs to another thread;
 *   ENOMEM  out of memory. */
GREEN_API green_t *green_new(green_fn run, green_t *parent, const green_attr_t *attr);

/* Release a greenlet.  If it is suspended (started and not dead) it is first killed:
 * GREEN_EXIT is thrown into it, so its cleanup code runs, and whatever it finishes with
 * comes back to the caller (and is discarded) — as greenlet does on garbage collection.
 * An unstarted greenlet is released without ever running.  Greenlets whose parent is
 * released keep working: the released greenlet stays in their ancestry, dead.
 * Returns 0, or -1 with errno:
 *   EINVAL  g is NULL, the main greenlet (a thread's greenlets are released when the
 *           thread exits), or spawned on the hub (green_kill() and green_release() instead);
 *   EBUSY   g is the current greenlet, or g survived the kill: when control came back to
 *           the caller, g was still alive (it switched elsewhere instead of finishing).  The
 *           caller still owns g;
 *   EINTR   the caller was resumed by green_throw() while g was being killed; g is alive
 *           and still owned by the caller (the thrown error is reported in
 *           green_last_error());
 *   EXDEV   g belongs to another thread;
 *   ENOMEM  g needed memory to be resumed (shared stack) and none was available.
 * Destroying an already-destroyed greenlet aborts with "double destroy" when detectable. */
GREEN_API int green_destroy(green_t *g);

/* ---- Switching --------------------------------------------------------------------- */

/* Suspend the current greenlet and resume g with value.  If g is dead, its nearest live
 * ancestor is resumed instead; if the greenlet to resume was never started, it starts and
 * value becomes its run() argument.  Switching to the current greenlet returns at once.
 *
 * Returns, when something switches back to the caller:
 *    0  resumed with a value, stored in *result (result may be NULL);
 *   >0  resumed by green_throw() (or by a child that ended with an error): the error code,
 *       with its payload stored in *result;
 *   -1  refused, nothing happened; errno:
 *         EINVAL  g is NULL;
 *         EXDEV   g belongs to another thread (green_last_error() names both threads);
 *         EBUSY   called from inside a trace hook;
 *         ENOMEM  no memory for g's stack (private) or for saving stack slices (shared;
 *                 then unstarted greenlets that an error passed through on the way stay
 *                 dead, and their trace events were reported);
 *                 on kernels without MADV_GUARD_INSTALL (before Linux 6.13) also once
 *                 the guards of about (vm.max_map_count - headroom) / 2 private
 *                 stacks exist (green_last_error() says which). */
GREEN_API int green_switch(green_t *g, void *value, void **result);

/* Resume g with an error instead of a value: g's pending switch returns `error`, and
 * `payload` is stored in its *result.
 *   - g suspended: as above.
 *   - g unstarted: g dies without running and the error goes to its parent (and on up
 *     through unstarted or dead ancestors).
 *   - g dead: the error goes to g's nearest live ancestor.
 * GREEN_EXIT is the exception: a greenlet that dies of it (unstarted or dead target)
 * finishes normally, so the receiver gets payload as a *value*.
 * Return values are as for green_switch(), plus errno EINVAL if error <= 0.  Throwing to
 * the current greenlet returns `error` at once. */
GREEN_API int green_throw(green_t *g, int error, void *payload, void **result);

/* End the current greenlet now, as if its run() had returned.  error 0 or GREEN_EXIT: the
 * parent receives value as a normal finish; any other positive error: the parent receives
 * that error with value as payload.  Does not return on success.  Stack frames between
 * run() and this call are abandoned without cleanup.
 * Returns -1 with errno EPERM if called from the main greenlet, EINVAL if error < 0,
 * EBUSY from inside a trace hook.
 *
 * Finishing, by return or green_exit(): if the receiver cannot be resumed for lack of
 * memory (a shared-stack receiver needs buffers for the slices it displaces), the thread's
 * main greenlet receives ENOMEM as a thrown error instead: resuming main never needs
 * memory. */
GREEN_API int green_exit(int error, void *value);

/* ---- Parents ----------------------------------------------------------------------- */

/* g's parent, or NULL for a main greenlet or NULL g.  A parent the user has destroyed is
 * skipped (its handle is gone): the result is the nearest ancestor not destroyed.  Never
 * fails. */
GREEN_API green_t *green_parent(const green_t *g);

/* Make parent the new parent of g.  Nothing changes on failure; errno:
 *   EINVAL  g or parent is NULL, or g is a main greenlet (main has no parent);
 *   EBUSY   called from inside a trace hook;
 *   ELOOP   the new parent chain would contain a cycle (parent is g or a descendant of g);
 *   EXDEV   g or parent belongs to another thread than the caller. */
GREEN_API int green_set_parent(green_t *g, green_t *parent);

/* ---- State and identity ------------------------------------------------------------ */

#define GREEN_STARTED 0x1u /* has left the unstarted state: it ran, or died before it could
                              (as in greenlet, dead implies started); main: always */
#define GREEN_ACTIVE 0x2u  /* started and not dead: it has a live stack */
#define GREEN_DEAD 0x4u    /* finished, or released / killed before it could start */
#define GREEN_MAIN 0x8u    /* the main greenlet of its thread */
#define GREEN_CURRENT 0x10u /* the greenlet running on its thread right now */
#define GREEN_SHARED 0x20u /* uses the shared stack model */

/* The state bits above, or -1 with errno EINVAL if g is NULL.  Safe from any thread (a
 * snapshot: another thread's greenlet may change right after). */
GREEN_API int green_state(const green_t *g);

/* One state bit each; false for NULL. */
static inline bool green_has_state(const green_t *g, unsigned bit)
{
    return g && (green_state(g) & (int)bit);
}
static inline bool green_started(const green_t *g) { return green_has_state(g, GREEN_STARTED); }
static inline bool green_active(const green_t *g) { return green_has_state(g, GREEN_ACTIVE); }
static inline bool green_dead(const green_t *g) { return green_has_state(g, GREEN_DEAD); }
static inline bool green_is_main(const green_t *g) { return green_has_state(g, GREEN_MAIN); }

/* A process-wide unique id (> 0), stable for the greenlet's life; 0 for NULL.  Never
 * fails. */
GREEN_API uint64_t green_id(const green_t *g);

/* The diagnostic name, or NULL if none was given (or g is NULL).  Main greenlets are named
 * "main".  Valid until the name is changed or g is released.  Never fails. */
GREEN_API const char *green_name(const green_t *g);

/* Set (a copy of) the diagnostic name; NULL clears it.  Returns 0, or -1 with errno EINVAL
 * (g NULL), EXDEV (g of another thread), ENOMEM. */
GREEN_API int green_set_name(green_t *g, const char *name);

/* ---- Diagnostics ------------------------------------------------------------------- */

/* A description of the most recent failed libgreen call on this thread ("" if none),
 * "libgreen: <function>: <what happened>".  The text stays valid until the next failing
 * call on this thread.  Never fails. */
GREEN_API const char *green_last_error(void);

/* Events reported to a trace hook. */
typedef enum green_trace_event {
    GREEN_EVENT_SWITCH = 1, /* control passes to target with a value (incl. a finish) */
    GREEN_EVENT_THROW = 2,  /* control passes to target with an error */
} green_trace_event_t;

/* A trace hook, like greenlet.settrace: called just before control passes from origin to
 * target (after a dead target was resolved to its live ancestor), while origin still runs.
 * A greenlet that dies without running (an error thrown into it before it started) is
 * reported as two hops, (THROW, thrower, g) and (event, g, g's receiver), both while the
 * thrower runs.  No event is reported for a switch to the current greenlet.  Inside the
 * hook, switching, throwing, exiting, destroying and reparenting are refused with EBUSY. */
typedef void (*green_trace_fn)(green_trace_event_t event, green_t *origin, green_t *target,
                               void *arg);

/* Install fn (NULL to remove, which drops arg too) as the calling thread's trace hook, with
 * arg passed to every call.  The previous hook and its arg are stored in *old_fn and
 * *old_arg when those are not NULL (NULL and NULL if there was none), so a hook can be
 * chained and restored.
 * Allowed inside a hook (the new hook is called from the next event on).
 * Returns 0, or -1 with errno ENOMEM (the thread's state could not be created). */
GREEN_API int green_settrace(green_trace_fn fn, void *arg, green_trace_fn *old_fn,
                             void **old_arg);

/* ---- Stacks ------------------------------------------------------------------------ */

/* Set the size of each of the calling thread's shared stack regions (default
 * GREEN_SHARED_STACK_DEFAULT), rounded up to pages.  Only before the thread's first
 * shared-stack greenlet starts.  Returns 0, or -1 with errno EINVAL (outside
 * [GREEN_SHARED_STACK_MIN, GREEN_SHARED_STACK_MAX], 64 KiB to 2 GiB) or EBUSY (a region
 * already exists); ENOMEM if the thread's state could not be created. */
GREEN_API int green_set_shared_stack_size(size_t bytes);

/* Set how many shared stack regions the calling thread spreads its shared greenlets over
 * (default GREEN_SHARED_STACKS_DEFAULT; see GREEN_STACK_SHARED for which greenlet goes
 * where).  1 is greenlet's model exactly: every switch between two shared greenlets that
 * are not nested copies.  More regions cost address space (count times the region size),
 * and memory only for the pages used.  Only before the thread's first shared-stack
 * greenlet starts.  Returns 0, or -1 with errno EINVAL (count is 0 or above
 * GREEN_SHARED_STACKS_MAX), EBUSY (a region already exists), or ENOMEM (the thread's state
 * could not be created). */
GREEN_API int green_set_shared_stacks(unsigned count);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_CORE_H */
