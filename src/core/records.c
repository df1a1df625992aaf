/* SPDX-License-Identifier: MIT */
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

#include "copy_buffers.h"
#include "records.h"
#include "sanitize.h"
#include "thread.h"

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
        san_unpoison(g, sizeof *g);
        NEXT_FREE(g) = list;
        san_poison_free_record(g);
        list = g;
    }
    return list;
}

static void set_trim_threshold(struct green_records_part *r, size_t live_bound)
{
    size_t quarter = r->nslabs >= 4 ? r->nslabs * SLAB_SLOTS / 4 : 0;
    r->trim_below = live_bound < quarter ? live_bound : quarter;
}

/* Unmap the slabs that became empty and rebuild the free list from the rest. */
static void give_back_slabs(struct green_thread *ts)
{
    struct green_records_part *r = &ts->records;
    struct slab **link = &r->slabs;
    while (*link) {
        struct slab *s = *link;
        int live = 0;
        for (int i = 0; i < SLAB_SLOTS; i++)
            live += s->slot[i].state != GS_FREE;
        if (live == 0) {
            *link = s->next;
            san_unpoison(s, sizeof *s);
            munmap(s, sizeof *s);
            r->nslabs--;
        } else {
            link = &s->next;
        }
    }
    struct green *list = NULL;
    for (struct slab *s = r->slabs; s; s = s->next)
        list = collect_free(s, list);
    r->free_slots = list;
    green__copy_trim(ts);
    set_trim_threshold(r, r->live_slots / 2);
}

void green__records_foreach(struct green_thread *ts, void (*fn)(struct green *, void *), void *arg)
{
    for (struct slab *s = ts->records.slabs; s; s = s->next)
        for (int i = 0; i < SLAB_SLOTS; i++)
            if (s->slot[i].state != GS_FREE)
                fn(&s->slot[i], arg);
}

struct green *green__record_alloc(struct green_thread *ts)
{
    struct green_records_part *r = &ts->records;
    struct green *g = r->free_slots;
    if (GREEN_UNLIKELY(!g)) {
        struct slab *s =
            mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (s == MAP_FAILED)
            return NULL;
        s->next = r->slabs;
        r->slabs = s;
        r->nslabs++;
        for (int i = 0; i < SLAB_SLOTS; i++)
            s->slot[i].state = GS_FREE;
        g = collect_free(s, NULL);
        set_trim_threshold(r, SIZE_MAX);
    }
    r->live_slots++;
    san_unpoison(g, sizeof *g);
    GREEN_ASSERT(g->state == GS_FREE);
    r->free_slots = NEXT_FREE(g);
    /* Copied from a zero record rather than memset: for this size gcc emits rep stosq,
     * whose start-up cost is a tenth of a create+run+finish on Intel. */
    static const struct green zero_record;
    memcpy(g, &zero_record, sizeof *g);
    return g;
}

static void free_resources(struct green_thread *ts, struct green *g)
{
    if (g->name) { /* most have none: no call to free */
        free(g->name);
        g->name = NULL;
    }
    if (green__is_shared(g)) {
        green__copy_free(ts, g->stack_copy, g->copy_size);
        g->stack_copy = NULL;
        g->copy_size = 0;
    }
}

void green__record_free(struct green_thread *ts, struct green *g)
{
    struct green_records_part *r = &ts->records;
    GREEN_ASSERT(g->state != GS_FREE && !(g->flags & GF_MAIN) && r->live_slots > 0);
    free_resources(ts, g);
    set_state(g, GS_FREE);
    set_flags(g, 0);
    NEXT_FREE(g) = r->free_slots;
    r->free_slots = g;
    san_poison_free_record(g);
    if (--r->live_slots < r->trim_below)
        give_back_slabs(ts);
}

void green__records_term(struct green_thread *ts)
{
    struct green_records_part *r = &ts->records;
    struct slab *s = r->slabs;
    while (s) {
        struct slab *next = s->next;
        for (int i = 0; i < SLAB_SLOTS; i++) {
            struct green *g = &s->slot[i];
            if (g->state == GS_FREE)
                continue;
            san_record_dropped(g);
            free_resources(ts, g);
        }
        san_unpoison(s, sizeof *s);
        munmap(s, sizeof *s);
        s = next;
    }
    r->slabs = NULL;
    r->free_slots = NULL;
    r->nslabs = r->live_slots = r->trim_below = 0;
}

/* Ids are handed to threads in blocks so creating a greenlet costs no atomic operation. */
#define ID_BLOCK 1024
static atomic_uint_fast64_t id_source = 1;

uint64_t green__next_id(struct green_thread *ts)
{
    struct green_records_part *r = &ts->records;
    if (GREEN_UNLIKELY(r->next_id == r->id_limit)) {
        r->next_id = atomic_fetch_add_explicit(&id_source, ID_BLOCK, memory_order_relaxed);
        r->id_limit = r->next_id + ID_BLOCK;
    }
    return r->next_id++;
}
