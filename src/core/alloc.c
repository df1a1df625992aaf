/* Greenlet records: per-thread slabs with a free list, and process-wide ids.
 *
 * Slabs make create/destroy a pointer pop/push, cost no per-record malloc header (10M
 * suspended greenlets must fit in 2.5 GB), and let thread exit find every record it must
 * release.  A released slot keeps state GS_FREE, so a second green_destroy() of the same
 * handle is caught (until the slot is reused); under ASAN the rest of the slot is poisoned.
 *
 * Memory goes back when the number of live records falls below a quarter of the slots
 * (and halves again after each time): one pass unmaps the slabs that became empty,
 * rebuilds the free list, and lets copy_buffers.c unmap its empty chunks.  A pass costs
 * time in proportion to the slots, and happens only after that many releases: O(1)
 * amortized.  Slabs are mmap'd, not malloc'd, so that freeing them really returns the
 * memory.  A few records that stay alive in every slab keep all of them (fragmentation).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "debug_hooks.h"
#include "internal.h"

#define SLAB_SLOTS 1024

struct slab {
    struct slab *next;
    struct green slot[SLAB_SLOTS];
};

/* Links free slots through stack_prev, which a free slot does not use. */
#define NEXT_FREE(g) ((g)->stack_prev)

/* Push the free slots of s onto the free list. */
static struct green *collect_free(struct slab *s, struct green *list)
{
    for (int i = SLAB_SLOTS - 1; i >= 0; i--) {
        struct green *g = &s->slot[i];
        if (g->state != GS_FREE)
            continue;
        asan_unpoison(g, sizeof *g);
        NEXT_FREE(g) = list;
#ifdef GREEN_ASAN
        __asan_poison_memory_region((char *)g + 8, sizeof *g - 8);
#endif
        list = g;
    }
    return list;
}

static void set_trim_threshold(struct green_thread *ts, size_t live_bound)
{
    size_t quarter = ts->nslabs >= 4 ? ts->nslabs * SLAB_SLOTS / 4 : 0;
    ts->trim_below = live_bound < quarter ? live_bound : quarter;
}

static void trim(struct green_thread *ts)
{
    struct slab **link = &ts->slabs;
    while (*link) {
        struct slab *s = *link;
        int live = 0;
        for (int i = 0; i < SLAB_SLOTS; i++)
            live += s->slot[i].state != GS_FREE;
        if (live == 0) {
            *link = s->next;
            asan_unpoison(s, sizeof *s);
            munmap(s, sizeof *s);
            ts->nslabs--;
        } else {
            link = &s->next;
        }
    }
    struct green *list = NULL;
    for (struct slab *s = ts->slabs; s; s = s->next)
        list = collect_free(s, list);
    ts->free_slots = list;
    green_copy_trim(ts);
    set_trim_threshold(ts, ts->live_slots / 2);
}

void green_slots_foreach(struct green_thread *ts, void (*fn)(struct green *, void *), void *arg)
{
    for (struct slab *s = ts->slabs; s; s = s->next)
        for (int i = 0; i < SLAB_SLOTS; i++)
            if (s->slot[i].state != GS_FREE)
                fn(&s->slot[i], arg);
}

struct green *green_slot_alloc(struct green_thread *ts)
{
    struct green *g = ts->free_slots;
    if (unlikely(!g)) {
        struct slab *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (s == MAP_FAILED)
            return NULL;
        s->next = ts->slabs;
        ts->slabs = s;
        ts->nslabs++;
        for (int i = 0; i < SLAB_SLOTS; i++)
            s->slot[i].state = GS_FREE;
        g = collect_free(s, NULL);
        set_trim_threshold(ts, SIZE_MAX);
    }
    ts->live_slots++;
    asan_unpoison(g, sizeof *g);
    ts->free_slots = NEXT_FREE(g);
    memset(g, 0, sizeof *g);
    return g;
}

static void slot_resources_free(struct green_thread *ts, struct green *g)
{
    free(g->name);
    g->name = NULL;
    if (green_is_shared(g)) {
        green_copy_free(ts, g->stack_copy, g->copy_size);
        g->stack_copy = NULL;
        g->copy_size = 0;
    }
}

void green_slot_free(struct green_thread *ts, struct green *g)
{
    slot_resources_free(ts, g);
    set_state(g, GS_FREE);
    __atomic_store_n(&g->flags, 0, __ATOMIC_RELAXED);
    NEXT_FREE(g) = ts->free_slots;
    ts->free_slots = g;
#ifdef GREEN_ASAN
    /* Keep the state word readable: double-destroy detection reads it. */
    __asan_poison_memory_region((char *)g + 8, sizeof *g - 8);
#endif
    if (--ts->live_slots < ts->trim_below)
        trim(ts);
}

void green_slots_release_all(struct green_thread *ts)
{
    struct slab *s = ts->slabs;
    while (s) {
        struct slab *next = s->next;
        for (int i = 0; i < SLAB_SLOTS; i++) {
            struct green *g = &s->slot[i];
            if (g->state == GS_FREE)
                continue;
#ifdef GREEN_TSAN
            if (g->tsan_fiber)
                __tsan_destroy_fiber(g->tsan_fiber);
#endif
            slot_resources_free(ts, g);
        }
        asan_unpoison(s, sizeof *s);
        munmap(s, sizeof *s);
        s = next;
    }
    ts->slabs = NULL;
    ts->free_slots = NULL;
    ts->nslabs = ts->live_slots = ts->trim_below = 0;
}

/* Ids are handed to threads in blocks so creating a greenlet costs no atomic operation. */
#define ID_BLOCK 1024
static atomic_uint_fast64_t id_source = 1;

uint64_t green_next_id(struct green_thread *ts)
{
    if (unlikely(ts->next_id == ts->id_limit)) {
        ts->next_id = atomic_fetch_add_explicit(&id_source, ID_BLOCK, memory_order_relaxed);
        ts->id_limit = ts->next_id + ID_BLOCK;
    }
    return ts->next_id++;
}
