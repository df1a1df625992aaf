/* SPDX-License-Identifier: MIT */
/* Greenlet records (records.c): per-thread slabs with a free list, and process-wide ids.
 * Every function here runs on the owning thread only and never switches. */
#ifndef GREEN_CORE_RECORDS_H
#define GREEN_CORE_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "greenlet.h"

struct slab;

/* The thread's part for records. */
struct green_records_part {
    struct slab *slabs;
    struct green *free_slots; /* linked through stack_prev */
    size_t nslabs, live_slots;
    size_t trim_below;          /* give memory back when live_slots falls below this */
    uint64_t next_id, id_limit; /* this thread's block of ids */
};

/* A zeroed record (state GS_FREE until the caller sets it), or NULL when no slab could be
 * mapped (the caller reports ENOMEM). */
GREEN_HIDDEN struct green *green__record_alloc(struct green_thread *ts);

/* Free g's name and slice buffer and return its slot.  g must be unreferenced (refs 0, or
 * a record that was never handed out); its state becomes GS_FREE, so a stale handle is
 * caught until the slot is reused.  May unmap empty slabs (amortized O(1)). */
GREEN_HIDDEN void green__record_free(struct green_thread *ts, struct green *g);

/* Call fn on every record that is not free (main is not in a slab: not included).  fn must
 * not allocate or free records. */
GREEN_HIDDEN void green__records_foreach(struct green_thread *ts,
                                         void (*fn)(struct green *, void *), void *arg);

/* The next process-wide unique id (> 0), without an atomic operation in the common case. */
GREEN_HIDDEN uint64_t green__next_id(struct green_thread *ts);

/* Thread exit: free every record and its buffers without running anything. */
GREEN_HIDDEN void green__records_term(struct green_thread *ts);

#endif /* GREEN_CORE_RECORDS_H */
