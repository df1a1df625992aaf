/* The shared stack model: greenlet's stack slicing (slp_save_state / slp_restore_state).
 *
 * Every shared greenlet of a thread runs in one region, the thread's shared stack.  A
 * greenlet occupies [stack_start, stack_stop) of it; when another greenlet needs those
 * addresses, the overlapping part is copied to the heap, and copied back when the greenlet
 * resumes.  From greenlet.c (the seeds draw the same picture):
 *
 *                |     ^^^       |
 *                |  older data   |
 *                |               |
 *   stack_stop . |_______________|
 *         .      |               |
 *         .      | greenlet data |
 *         .      |   in stack    |
 *         .    * |_______________| . .  _____________  stack_copy + stack_saved
 *         .      |               |     |             |
 *         .      |     data      |     |greenlet data|
 *         .      |   unrelated   |     |    saved    |
 *         .      |      to       |     |   in heap   |
 *  stack_start . |     this      | . . |_____________| stack_copy
 *                |   greenlet    |
 *                |               |
 *                |  newer data   |
 *                |     vvv       |
 *
 * So a suspended greenlet keeps [stack_start, stack_start + stack_saved) in the heap and
 * the rest in the region.  The greenlets with data in the region form a chain through
 * stack_prev, newest (lowest stack_stop) first, starting at shared_head; the greenlet
 * running on the region, if any, is the head.
 *
 * Where a new greenlet starts: below the greenlet that starts it if that one runs on the
 * region too (nested greenlets, like greenlet's g_initialstub, then cost no copying), else
 * at the top of the region.
 *
 * Who copies: to resume a shared greenlet we overwrite part of the region.  If the outgoing
 * greenlet runs on a private stack (or is main), that is done right here, before the
 * switch.  If it runs on the region itself, its own frames may be overwritten, so it first
 * switches to the *copier*, a tiny context on a private stack, which saves the outgoing
 * greenlet's slice (now that its stack pointer is known), restores the incoming one and
 * switches to it.  That costs one extra register switch (~3 ns) and keeps the assembly per
 * architecture down to a plain switch.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "debug_hooks.h"
#include "internal.h"
#include "slice_copy.h"

#define REGION_GUARD (64 * 1024)
#define COPIER_STACK (64 * 1024)
/* A nested greenlet starts below its starter only if this much room is left there. */
#define NESTED_MIN_ROOM (256 * 1024)
/* Copy buffers larger than this are freed when the greenlet resumes (deep recursion). */
#define COPY_KEEP_MAX (64 * 1024)

static inline char *slice_lo(const struct green *g) { return g->stack_start - GREEN_ARCH_SP_SLACK; }

/* Slices move with green_slice_copy (slice_copy.h): never glibc's rep movsb, and on restore
 * the switch frame at the low end as words (no vector store it must wait for to pop). */
#define WORDWISE_BYTES 72
static void copy_slice(char *dst, const char *src, size_t n)
{
    green_slice_copy(dst, src, n, WORDWISE_BYTES);
}

/* g_save: save more of g's stack into the heap, at least up to stop.
 *
 *      g->stack_stop |________|
 *                    |        |
 *                    |    __ stop       . . . . .
 *                    |        |    ==>  .       .
 *                    |________|          _______
 *                    |        |         |       |
 *                    |        |         |       |
 *     g->stack_start |        |         |_______| g->stack_copy
 */
static int slice_save(struct green_thread *ts, struct green *g, char *stop)
{
    char *lo = slice_lo(g);
    if (stop <= lo)
        return 0;
    size_t want = (size_t)(stop - lo), have = g->stack_saved;
    if (want <= have)
        return 0;
    if (want > g->copy_size) {
        size_t cap = green_copy_capacity(want);
        char *c = green_copy_alloc(ts, cap);
        if (!c) {
            char who[96];
            return green_fail(ENOMEM, "libgreen: no memory to save %zu bytes of the stack of "
                                      "shared greenlet %s",
                              want, green_describe(g, who, sizeof who));
        }
        if (have)
            memcpy(c, g->stack_copy, have);
        green_copy_free(ts, g->stack_copy, g->copy_size);
        g->stack_copy = c;
        g->copy_size = (uint32_t)cap;
    }
    asan_unpoison(lo + have, want - have);
    green_slice_copy(g->stack_copy + have, lo + have, want - have, 0);
    g->stack_saved = (uint32_t)want;
    return 0;
}

static void slice_restore(struct green_thread *ts, struct green *g)
{
    if (g->stack_saved) {
        char *lo = slice_lo(g);
        vg_make_writable(lo, g->stack_saved);
        asan_unpoison(lo, g->stack_saved);
        copy_slice(lo, g->stack_copy, g->stack_saved);
        g->stack_saved = 0;
    }
    if (g->copy_size > COPY_KEEP_MAX) {
        green_copy_free(ts, g->stack_copy, g->copy_size);
        g->stack_copy = NULL;
        g->copy_size = 0;
    }
}

/* Make the region ready for target: decide where a new one starts, save every slice it may
 * overwrite (slp_save_state), restore or build its own frames (slp_restore_state).  origin
 * is the greenlet handing over control; when it runs on the region, its stack_start is
 * already stored (we are in the copier).  On failure nothing needed was lost: saving only
 * copies. */
static int prepare(struct green_thread *ts, struct green *origin, struct green *target)
{
    if (target->state == GS_NEW) {
        char *stop = ts->shared_hi;
        if (green_is_shared(origin))
            stop = origin->state == GS_DEAD ? origin->stack_stop : slice_lo(origin);
        stop = (char *)((uintptr_t)stop & ~(uintptr_t)63);
        if (stop - ts->shared_lo < NESTED_MIN_ROOM)
            stop = ts->shared_hi;
        target->stack_stop = stop;
    }

    /* slp_save_state: free the region up to the target's stop. */
    char *target_stop = target->stack_stop;
    struct green *owner = ts->shared_head;
    while (owner && owner->stack_stop < target_stop) {
        if (slice_save(ts, owner, owner->stack_stop) != 0) /* entirely in the way */
            return -1;
        owner = owner->stack_prev;
    }
    if (owner && owner != target && slice_save(ts, owner, target_stop) != 0) /* partly */
        return -1;

    /* slp_restore_state */
    if (target->state == GS_NEW) {
        vg_make_writable(target_stop - 256, 256);
        asan_unpoison(target_stop - 256, 256);
        target->stack_start = green_arch_init(ts->shared_lo, target_stop, green_boot);
        target->stack_saved = 0;
        set_state(target, GS_ACTIVE);
        hook_context_created(target);
    } else {
        slice_restore(ts, target);
    }
    while (owner && owner->stack_stop <= target_stop)
        owner = owner->stack_prev; /* find the greenlet with more stack */
    target->stack_prev = owner;
    ts->shared_head = target;
    return 0;
}

/* ---- the region and the copier ----------------------------------------------------- */

/* Out of line, so the switch paths that call them keep small frames and can tail-call. */
__attribute__((noinline, cold)) static int region_create(struct green_thread *ts)
{
    char *lo = green_map_stack(ts->shared_size, REGION_GUARD);
    if (!lo)
        return green_fail(ENOMEM, "libgreen: cannot map the %zu-byte shared stack region",
                          ts->shared_size);
    ts->shared_lo = lo;
    ts->shared_hi = lo + ts->shared_size;
    ts->shared_vg_id = vg_stack_register(ts->shared_lo, ts->shared_hi);
    return 0;
}

static void copier_main(void) NORETURN;
static void copier_main(void)
{
    struct green_thread *ts = green_tls;
    hook_first_entry(ts, NULL);
    for (;;) {
        struct green *origin = ts->job_origin, *next = ts->job_target;
        int status = ts->job_status;
        void *value = ts->job_value;
        if (prepare(ts, origin, next) != 0) {
            /* origin keeps running where it is: its stack is intact, forget the copy, and
             * hand its *result back unchanged with the failure. */
            ts->xfer_errno = errno;
            status = -1;
            value = ts->job_result ? *ts->job_result : NULL;
            origin->stack_saved = 0;
            next = origin;
        }
        set_current(ts, next);
        hook_switch_out(ts, NULL, next);
        green_arch_switch((void **)&ts->copier_sp, next->stack_start, status, value, NULL);
        hook_switch_in(ts, NULL);
    }
}

__attribute__((noinline, cold)) static int copier_create(struct green_thread *ts)
{
    char *lo = green_map_stack(COPIER_STACK, green_page_size());
    if (!lo)
        return green_fail(ENOMEM, "libgreen: cannot map the shared-stack copier's stack");
    ts->copier_lo = lo;
    ts->copier_size = COPIER_STACK;
    ts->copier_vg_id = vg_stack_register(lo, lo + COPIER_STACK);
    ts->copier_sp = green_arch_init(lo, lo + COPIER_STACK, copier_main);
#ifdef GREEN_TSAN
    ts->copier_fiber = __tsan_create_fiber(0);
#endif
    return 0;
}

int green_shared_ready(struct green_thread *ts, struct green *origin)
{
    if (!ts->shared_lo && region_create(ts) != 0)
        return -1;
    if (green_is_shared(origin) && !ts->copier_sp && copier_create(ts) != 0)
        return -1;
    return 0;
}

int green_shared_transfer(struct green_thread *ts, struct green *origin, struct green *target,
                          int status, void *value, void **result)
{
    if (green_shared_ready(ts, origin) != 0)
        return -1;
    if (!green_is_shared(origin)) {
        /* origin runs elsewhere: move the slices from here. */
        if (prepare(ts, origin, target) != 0)
            return -1;
        set_current(ts, target);
        return green_resume(ts, origin, target->stack_start, target, status, value, result);
    }
    ts->job_origin = origin;
    ts->job_target = target;
    ts->job_status = status;
    ts->job_value = value;
    ts->job_result = result;
    return green_resume(ts, origin, ts->copier_sp, NULL, 0, NULL, result);
}

/* g died: it no longer holds anything in the region. */
void green_shared_forget(struct green_thread *ts, struct green *g)
{
    if (ts->shared_head == g)
        ts->shared_head = g->stack_prev;
    green_copy_free(ts, g->stack_copy, g->copy_size);
    g->stack_copy = NULL;
    g->stack_saved = 0;
    g->copy_size = 0;
}

void green_shared_release_all(struct green_thread *ts)
{
    if (ts->shared_lo) {
        vg_stack_deregister(ts->shared_vg_id);
        green_unmap_stack(ts->shared_lo, ts->shared_size, REGION_GUARD);
        ts->shared_lo = ts->shared_hi = NULL;
    }
    if (ts->copier_lo) {
        vg_stack_deregister(ts->copier_vg_id);
        green_unmap_stack(ts->copier_lo, COPIER_STACK, green_page_size());
        ts->copier_lo = NULL;
        ts->copier_sp = NULL;
#ifdef GREEN_TSAN
        __tsan_destroy_fiber(ts->copier_fiber);
#endif
    }
    ts->shared_head = NULL;
}
