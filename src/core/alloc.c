/* Greenlet records: per-thread slabs with a free list, and process-wide ids.
 *
 * Slabs make create/destroy a pointer pop/push, cost no per-record malloc header (10M
 * suspended greenlets must fit in 2.5 GB), and let thread exit find every record it must
 * release.  A released slot keeps state GS_FREE, so a second green_destroy() of the same
 * handle is caught (until the slot is reused); under ASAN the rest of the slot is poisoned.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "debug_hooks.h"
#include "internal.h"

#define SLAB_SLOTS 1024

struct slab {
    struct slab *next;
    struct green slot[SLAB_SLOTS];
};

/* Links free slots through stack_prev, which a free slot does not use. */
#define NEXT_FREE(g) ((g)->stack_prev)

struct green *green_slot_alloc(struct green_thread *ts)
{
    struct green *g = ts->free_slots;
    if (unlikely(!g)) {
        struct slab *s = malloc(sizeof *s);
        if (!s)
            return NULL;
        s->next = ts->slabs;
        ts->slabs = s;
        for (int i = SLAB_SLOTS - 1; i >= 0; i--) {
            s->slot[i].state = GS_FREE;
            NEXT_FREE(&s->slot[i]) = g;
            g = &s->slot[i];
        }
    }
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
        free(s);
        s = next;
    }
    ts->slabs = NULL;
    ts->free_slots = NULL;
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
