/* SPDX-License-Identifier: MIT */
/* The shared stack model: greenlet's stack slicing (slp_save_state / slp_restore_state).
 *
 * Every shared greenlet of a thread runs in one of a few regions, the thread's shared
 * stacks (greenlet has one, the C stack).  A greenlet occupies [stack_start, stack_stop)
 * of its region; when another greenlet needs those addresses, the overlapping part is
 * copied to the heap, and copied back when the greenlet resumes.  From greenlet.c (the
 * design notes "解析 greenlet" draw the same picture):
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
 * the rest in the region.  The greenlets with data in a region form a chain through
 * stack_prev, newest (lowest stack_stop) first, starting at the region's head; the
 * greenlet running on the region, if any, is the head.
 *
 * Where a new greenlet starts (place):
 *   - below its starter, in the starter's region, when the starter runs on a region and is
 *     its parent (nested greenlets, like greenlet's g_initialstub: a generator and its
 *     consumer then copy nothing), or when that region is the thread's only one (the
 *     round robin below lands there);
 *   - where a dying starter was (its place is free);
 *   - else at the top of the next region in turn, not the starter's.  That is libco's
 *     round robin over its shared stacks: the hub's tasks spread over the regions, and two
 *     or three greenlets that switch among each other (a ping-pong through Events, a
 *     producer and its consumer) each keep their frames where they are, so that a switch
 *     between them is a plain register switch (green__shared_resident).
 *
 * Who copies: to resume a shared greenlet we overwrite part of the region.  If the outgoing
 * greenlet runs on a private stack (or is main), that is done right here, before the
 * switch.  If it runs on the region itself, its own frames may be overwritten, so the
 * copying must happen elsewhere, after its stack pointer is known.  Where the arch file has
 * green_arch_switch_pivot, that is inside the one switch: it saves the outgoing frame, calls
 * pivot_job() on the copier's private stack, and resumes whatever that returns.  Elsewhere
 * (and in sanitizer builds, whose fiber hooks must bracket each change of stack) the
 * outgoing greenlet switches to the *copier*, a tiny context on that stack, which does the
 * same work and switches on: one register switch more, and a mispredicted return on each
 * side of it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "copy_buffers.h"
#include "error.h"
#include "sanitize.h"
#include "slice_copy.h"
#include "stack_shared.h"
#include "switch.h"
#include "thread.h"

#define COPIER_STACK (64 * 1024)
/* A nested greenlet starts below its starter only if this much room is left there. */
#define NESTED_MIN_ROOM (256 * 1024)
/* Where a greenlet starts in the region is rounded down to a cache line. */
#define START_ALIGN 64
/* Bytes below a new greenlet's start that its first frame (green_arch_init's, then
 * green__boot's) may use before anything else marks them: made addressable for the
 * sanitizers up front. */
#define BOOT_FRAME_BYTES 256
/* Copy buffers larger than this are freed when the greenlet resumes (deep recursion). */
#define COPY_KEEP_MAX (64 * 1024)

static inline char *slice_lo(const struct green *g) { return g->stack_start - GREEN_ARCH_SP_SLACK; }
static inline char *region_hi(const struct green_region *r) { return r->map.lo + r->map.size; }

/* Slices move with green_slice_copy (slice_copy.h): never glibc's rep movsb, and on restore
 * the switch frame at the low end as words (no vector store it must wait for to pop). */
#define WORDWISE_BYTES GREEN_ARCH_FRAME_BYTES
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
static int slice_save(struct green_thread *ts, struct green *g, char *stop, const char *api)
{
    char *lo = slice_lo(g);
    if (stop <= lo)
        return 0;
    size_t want = (size_t)(stop - lo), have = g->stack_saved;
    if (want <= have)
        return 0;
    GREEN_ASSERT(stop <= g->stack_stop);
    if (want > g->copy_size) {
        size_t cap = green__copy_capacity(want);
        char *c = green__copy_alloc(ts, cap, lo);
        if (!c) {
            char who[GREEN_DESCRIBE_MAX];
            return green__fail(ENOMEM, api,
                               "no memory to save %zu bytes of the stack of shared greenlet %s",
                               want, green__describe(g, who, sizeof who));
        }
        if (have)
            memcpy(c, g->stack_copy, have);
        green__copy_free(ts, g->stack_copy, g->copy_size);
        g->stack_copy = c;
        g->copy_size = (uint32_t)cap;
    }
    san_unpoison(lo + have, want - have);
    green_slice_copy(g->stack_copy + have, lo + have, want - have, 0);
    g->stack_saved = (uint32_t)want;
    return 0;
}

/* Inlined: it is most of the siblings' fast path (prepare_siblings). */
static inline __attribute__((always_inline)) void slice_restore(struct green_thread *ts,
                                                                struct green *g)
{
    GREEN_ASSERT(g->stack_saved <= g->copy_size && g->stack_start < g->stack_stop);
    if (g->stack_saved) {
        char *lo = slice_lo(g);
        vg_make_writable(lo, g->stack_saved);
        san_unpoison(lo, g->stack_saved);
        copy_slice(lo, g->stack_copy, g->stack_saved);
        g->stack_saved = 0;
    }
    if (GREEN_UNLIKELY(g->copy_size > COPY_KEEP_MAX)) {
        green__copy_free(ts, g->stack_copy, g->copy_size);
        g->stack_copy = NULL;
        g->copy_size = 0;
    }
}

/* prepare() for two siblings: origin (the newest owner of the region) and target (started)
 * start at the same address, as two greenlets started by the same private or main greenlet
 * do (a generator and its consumer, the hub's tasks).  Then origin's whole slice goes out,
 * target's whole slice comes back, and no other owner is in the way: target's older
 * neighbour is origin's, since the chain's stack_stops strictly increase.  What prepare()
 * would do, without its searches.  False (nothing done) if this is not the case or
 * origin's buffer must grow. */
static inline bool prepare_siblings(struct green_thread *ts, struct green *origin,
                                    struct green *target)
{
    if (target->state != GS_ACTIVE)
        return false;
    struct green_region *r = green__region_of(&ts->shared, target);
    if (origin != r->head || origin->stack_stop != target->stack_stop)
        return false;
    char *lo = slice_lo(origin);
    size_t want = (size_t)(origin->stack_stop - lo);
    if (want > origin->copy_size)
        return false;
    GREEN_ASSERT(origin->stack_saved == 0 && origin->stack_prev != target);
    san_unpoison(lo, want);
    green_slice_copy(origin->stack_copy, lo, want, WORDWISE_BYTES);
    origin->stack_saved = (uint32_t)want;
    slice_restore(ts, target);
    target->stack_prev = origin->stack_prev;
    r->head = target;
    return true;
}

GREEN_COLD static int region_create(struct green_thread *ts, struct green_region *r,
                                    const char *api);

/* Choose the region of target (new, not placed yet), as the comment at the top says, and
 * map it if this is its first greenlet.  origin is the starter (dead if it is dying). */
static int place(struct green_thread *ts, struct green *origin, struct green *target,
                 const char *api)
{
    struct green_shared_part *sp = &ts->shared;
    unsigned i;
    if (green__is_shared(origin) && (origin == target->parent || origin->state == GS_DEAD)) {
        i = origin->region - 1u;
    } else {
        i = sp->next;
        if (green__is_shared(origin) && i == origin->region - 1u && ++i == sp->count)
            i = 0;
        sp->next = i + 1 == sp->count ? 0 : i + 1; /* no division on the spawn path */
    }
    struct green_region *r = &sp->regions[i];
    if (!r->map.lo && region_create(ts, r, api) != 0)
        return -1;
    target->region = (uint8_t)(i + 1);
    return 0;
}

/* Make the region ready for target: decide where a new one starts, save every slice it may
 * overwrite (slp_save_state), restore or build its own frames (slp_restore_state).  origin
 * is the greenlet handing over control; when it runs on the region, its stack_start is
 * already stored (we are in the copier).  On failure nothing needed was lost: saving only
 * copies. */
static int prepare(struct green_thread *ts, struct green *origin, struct green *target,
                   const char *api)
{
    GREEN_ASSERT(green__is_shared(target) && target != origin);
    if (!target->region && place(ts, origin, target, api) != 0)
        return -1;
    struct green_region *r = green__region_of(&ts->shared, target);
    if (target->state == GS_NEW) {
        char *stop = region_hi(r);
        if (green__is_shared(origin) && origin->region == target->region)
            stop = origin->state == GS_DEAD ? origin->stack_stop : slice_lo(origin);
        stop = (char *)((uintptr_t)stop & ~(uintptr_t)(START_ALIGN - 1));
        if (stop - r->map.lo < NESTED_MIN_ROOM)
            stop = region_hi(r);
        target->stack_stop = stop;
    }

    /* slp_save_state: free the region up to the target's stop. */
    char *target_stop = target->stack_stop;
    struct green *owner = r->head;
    while (owner && owner->stack_stop < target_stop) {
        if (slice_save(ts, owner, owner->stack_stop, api) != 0) /* entirely in the way */
            return -1;
        owner = owner->stack_prev;
    }
    if (owner && owner != target && slice_save(ts, owner, target_stop, api) != 0) /* partly */
        return -1;

    /* slp_restore_state */
    if (target->state == GS_NEW) {
        vg_make_writable(target_stop - BOOT_FRAME_BYTES, BOOT_FRAME_BYTES);
        san_unpoison(target_stop - BOOT_FRAME_BYTES, BOOT_FRAME_BYTES);
        target->stack_start = green_arch_init(r->map.lo, target_stop, green__boot);
        target->stack_saved = 0;
        set_state(target, GS_ACTIVE);
        san_context_created(target);
    } else {
        slice_restore(ts, target);
    }
    while (owner && owner->stack_stop <= target_stop)
        owner = owner->stack_prev; /* find the greenlet with more stack */
    target->stack_prev = owner;
    r->head = target;
    return 0;
}

/* ---- the regions and the copier ---------------------------------------------------- */

/* Out of line, so the switch paths that call them keep small frames and can tail-call. */
GREEN_COLD static int region_create(struct green_thread *ts, struct green_region *r,
                                    const char *api)
{
    if (green__stack_map(&r->map, ts->shared.size, GREEN_GUARD_BYTES, true) != 0)
        return green__fail(ENOMEM, api, "cannot map a %zu-byte shared stack region: %s",
                           ts->shared.size, strerror(errno));
    ts->shared.any_mapped = true;
    return 0;
}

/* The job ts->shared.job asks for, run where origin's stack is no longer in use (the
 * copier, or the pivot): make the region ready for the target, or on failure send origin
 * back with -1.  Stores where to go in ts->shared.jump. */
static void run_job(struct green_thread *ts)
{
    struct green_copier_job *job = &ts->shared.job;
    struct green_arch_jump *go = &ts->shared.jump;
    struct green *origin = job->origin, *next = job->target;
    go->status = job->status;
    go->value = job->value;
    if (!prepare_siblings(ts, origin, next) && prepare(ts, origin, next, ts->shared.api) != 0) {
        /* origin keeps running where it is: its stack is intact, forget the copy, and
         * hand its *result back unchanged with the failure. */
        ts->shared.copier_errno = errno;
        go->status = -1;
        go->value = job->result ? *job->result : NULL;
        origin->stack_saved = 0;
        next = origin;
    }
    set_current(ts, next);
    go->sp = next->stack_start;
}

static GREEN_NORETURN void copier_main(void)
{
    struct green_thread *ts = green__tls;
    san_first_entry(ts, NULL);
    for (;;) {
        run_job(ts);
        struct green_arch_jump go = ts->shared.jump;
        san_switch_out(ts, NULL, ts->core.current);
        green_arch_switch((void **)&ts->shared.copier_sp, go.sp, go.status, go.value, NULL);
        san_switch_in(ts, NULL);
    }
}

#if GREEN_ARCH_HAS_PIVOT && !GREEN_SAN_SWITCH
/* The pivot (arch.h): the copier's work inside the one switch, on the copier's stack
 * (no context of its own then; the sanitizer builds keep the copier, whose switches
 * they can bracket). */
#define USE_PIVOT 1
static const struct green_arch_jump *pivot_job(void)
{
    struct green_thread *ts = green__tls;
    run_job(ts);
    return &ts->shared.jump;
}
#else
#define USE_PIVOT 0
#endif

GREEN_COLD static int copier_create(struct green_thread *ts, const char *api)
{
    struct green_stack_map *m = &ts->shared.copier_stack;
    if (green__stack_map(m, COPIER_STACK, GREEN_GUARD_BYTES, true) != 0)
        return green__fail(ENOMEM, api, "cannot map the shared-stack copier's stack: %s",
                           strerror(errno));
    if (USE_PIVOT) {
        ts->shared.copier_sp = m->lo + m->size; /* the pivot's stack top */
        return 0;
    }
    ts->shared.copier_sp = green_arch_init(m->lo, m->lo + m->size, copier_main);
    san_copier_created(ts);
    return 0;
}

int green__shared_ensure_slow(struct green_thread *ts, struct green *origin, struct green *target,
                              const char *api)
{
    if (!target->region && place(ts, origin, target, api) != 0)
        return -1;
    if (green__is_shared(origin) && !ts->shared.copier_sp && copier_create(ts, api) != 0)
        return -1;
    return 0;
}

static inline void set_job(struct green_thread *ts, struct green *origin, struct green *target,
                           int status, void *value, void **result)
{
    ts->shared.job = (struct green_copier_job){
        .origin = origin, .target = target, .status = status, .value = value, .result = result};
}

GREEN_COLD static int transfer_slow(struct green_thread *ts, struct green *origin,
                                    struct green *target, int status, void *value, void **result);

int green__shared_transfer(struct green_thread *ts, struct green *origin, struct green *target,
                           int status, void *value, void **result)
{
    if (target->state == GS_ACTIVE && green__shared_resident(&ts->shared, target)) {
        set_current(ts, target); /* nothing to move */
        return green__resume(ts, origin, target->stack_start, target, status, value, result);
    }
    /* From a region to a region once the pivot's stack exists: no frame of our own,
     * straight into the pivot (which places a new target). */
#if USE_PIVOT
    if (GREEN_LIKELY(green__is_shared(origin) && ts->shared.copier_sp)) {
        set_job(ts, origin, target, status, value, result);
        return green_arch_switch_pivot((void **)&origin->stack_start, ts->shared.copier_sp, result,
                                       pivot_job);
    }
#endif
    return transfer_slow(ts, origin, target, status, value, result);
}

static int transfer_slow(struct green_thread *ts, struct green *origin, struct green *target,
                         int status, void *value, void **result)
{
    const char *api = ts->shared.api;
    GREEN_ASSERT(green__is_shared(target) && origin == ts->core.current && origin != target);
    if (green__shared_ensure(ts, origin, target, api) != 0)
        return -1;
    if (!green__is_shared(origin)) {
        /* origin runs elsewhere: move the slices from here. */
        if (prepare(ts, origin, target, api) != 0)
            return -1;
        set_current(ts, target);
        return green__resume(ts, origin, target->stack_start, target, status, value, result);
    }
    set_job(ts, origin, target, status, value, result);
#if USE_PIVOT
    return green_arch_switch_pivot((void **)&origin->stack_start, ts->shared.copier_sp, result,
                                   pivot_job);
#else
    return green__resume(ts, origin, ts->shared.copier_sp, NULL, 0, NULL, result);
#endif
}

void green__shared_forget(struct green_thread *ts, struct green *g)
{
    struct green_region *r = green__region_of(&ts->shared, g);
    if (r->head == g)
        r->head = g->stack_prev;
    green__copy_free(ts, g->stack_copy, g->copy_size);
    g->stack_copy = NULL;
    g->stack_saved = 0;
    g->copy_size = 0;
}

int green__shared_init(struct green_thread *ts)
{
    ts->shared.size = GREEN_SHARED_STACK_DEFAULT;
    ts->shared.count = GREEN_SHARED_STACKS_DEFAULT;
    return 0;
}

void green__shared_term(struct green_thread *ts)
{
    for (unsigned i = 0; i < GREEN_SHARED_STACKS_MAX; i++) {
        green__stack_unmap(&ts->shared.regions[i].map);
        ts->shared.regions[i].head = NULL;
    }
    ts->shared.any_mapped = false;
    if (ts->shared.copier_sp) {
        green__stack_unmap(&ts->shared.copier_stack);
        ts->shared.copier_sp = NULL;
        if (!USE_PIVOT)
            san_copier_destroyed(ts);
    }
}
