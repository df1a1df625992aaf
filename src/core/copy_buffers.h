/* SPDX-License-Identifier: MIT */
/* Heap buffers for shared-stack slices (copy_buffers.c).  Owning thread only. */
#ifndef GREEN_CORE_COPY_BUFFERS_H
#define GREEN_CORE_COPY_BUFFERS_H

#include <stddef.h>

#include "base.h"

/* Buffers up to this size come from per-thread size classes in 8-byte steps. */
#define GREEN_COPY_CLASS_MAX 1024
#define GREEN_COPY_CLASSES (GREEN_COPY_CLASS_MAX / 8)

struct green_thread;
struct copy_chunk;

/* The thread's part for slice buffers. */
struct green_copies_part {
    void *free[GREEN_COPY_CLASSES]; /* per class: free buffers, linked through their first word */
    struct copy_chunk *chunks;      /* where class buffers are carved from */
};

/* The capacity a buffer for `size` bytes gets: what to pass to alloc and free. */
GREEN_HIDDEN size_t green__copy_capacity(size_t size);

/* A buffer of capacity cap (from green__copy_capacity) for the slice that starts at like,
 * or NULL when out of memory. */
GREEN_HIDDEN void *green__copy_alloc(struct green_thread *ts, size_t cap, const void *like);

/* Give back p (NULL is ignored), allocated with the same cap on this thread. */
GREEN_HIDDEN void green__copy_free(struct green_thread *ts, void *p, size_t cap);

/* Unmap chunks that hold no live buffer.  Reads every record's stack_copy, so it must run
 * between operations (records.c calls it when many records were released). */
GREEN_HIDDEN void green__copy_trim(struct green_thread *ts);

/* Thread exit: unmap every chunk (the records were freed first). */
GREEN_HIDDEN void green__copies_term(struct green_thread *ts);

#endif /* GREEN_CORE_COPY_BUFFERS_H */
