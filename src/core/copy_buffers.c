/* SPDX-License-Identifier: MIT */
/* Heap buffers for shared-stack slices.
 *
 * A suspended shared greenlet is its record plus one buffer holding a slice of, typically,
 * 100-300 bytes; ten million of them must fit in 2.5 GB.  malloc would add a header and
 * round to 16 bytes (~24 bytes each, a tenth of the budget), so small buffers come from
 * per-thread size classes in 8-byte steps (slices are whole words), carved from chunks and
 * recycled through free lists.  Larger buffers use malloc, or where the wide slice copy
 * runs (slice_wide.h) aligned_alloc, at the slice's offset within a cache line: then the
 * copy's loads are aligned as well as its stores (a 4 KiB slice out and one in, 2 x 4296 B:
 * ~52 ns instead of 57-68 on Intel Emerald Rapids).  A buffer kept while its greenlet runs
 * may later hold a slice at another offset: it is then copied unaligned, only slower.
 * Chunks that hold no live buffer are freed by green__copy_trim() (called when many
 * greenlets were released) and all of them when the thread exits.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "copy_buffers.h"
#include "records.h"
#include "slice_wide.h"
#include "thread.h"

#define COPY_CHUNK_BYTES (256 * 1024 - 64) /* with its header, a whole number of pages */
#define CLASS_MAX GREEN_COPY_CLASS_MAX
#define LINE 64

struct copy_chunk {
    struct copy_chunk *next;
    size_t used;
    _Alignas(16) char mem[COPY_CHUNK_BYTES];
};

static size_t class_of(size_t size) /* 8 -> 0, 16 -> 1, ... */
{
    GREEN_ASSERT(size > 0 && size <= CLASS_MAX && size % 8 == 0);
    return size / 8 - 1;
}

size_t green__copy_capacity(size_t size)
{
    return size <= CLASS_MAX ? (size + 7) & ~(size_t)7 : size;
}

void *green__copy_alloc(struct green_thread *ts, size_t cap, const void *like)
{
    struct green_copies_part *cp = &ts->copies;
    if (cap <= CLASS_MAX) {
        size_t c = class_of(cap);
        void *p = cp->free[c];
        if (p) {
            cp->free[c] = *(void **)p;
            return p;
        }
        struct copy_chunk *ch = cp->chunks;
        if (!ch || ch->used + cap > COPY_CHUNK_BYTES) {
            ch = mmap(NULL, sizeof *ch, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (ch == MAP_FAILED)
                return NULL;
            ch->next = cp->chunks;
            ch->used = 0;
            cp->chunks = ch;
        }
        p = ch->mem + ch->used;
        ch->used += cap;
        return p;
    }
    if (!green__slice_heap_aligned())
        return malloc(cap);
    char *base = aligned_alloc(LINE, (cap + 2 * LINE - 1) & ~(size_t)(LINE - 1));
    return base ? base + ((uintptr_t)like & (LINE - 1)) : NULL;
}

void green__copy_free(struct green_thread *ts, void *p, size_t cap)
{
    if (!p)
        return;
    if (cap <= CLASS_MAX) {
        size_t c = class_of(cap);
        *(void **)p = ts->copies.free[c];
        ts->copies.free[c] = p;
        return;
    }
    free(green__slice_heap_aligned() ? (void *)((uintptr_t)p & ~(uintptr_t)(LINE - 1)) : p);
}

/* ---- giving chunks back ---------------------------------------------------------- */

/* Which chunks still hold a live buffer. */
struct chunk_census {
    struct copy_chunk **chunk; /* sorted by address */
    bool *live;
    size_t n;
};

static int by_address(const void *a, const void *b)
{
    const struct copy_chunk *x = *(struct copy_chunk *const *)a;
    const struct copy_chunk *y = *(struct copy_chunk *const *)b;
    return ((uintptr_t)x > (uintptr_t)y) - ((uintptr_t)x < (uintptr_t)y);
}

/* Index of the chunk holding p, or -1. */
static long chunk_of(const struct chunk_census *t, const void *p)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *m = t->chunk[mid]->mem;
        if ((const char *)p < m)
            hi = mid;
        else if ((const char *)p >= m + COPY_CHUNK_BYTES)
            lo = mid + 1;
        else
            return (long)mid;
    }
    return -1;
}

static void mark_live(struct green *g, void *arg)
{
    const struct chunk_census *t = arg;
    if ((g->flags & GF_SHARED) && g->stack_copy && g->copy_size <= CLASS_MAX) {
        long i = chunk_of(t, g->stack_copy);
        if (i >= 0)
            t->live[i] = true;
    }
}

void green__copy_trim(struct green_thread *ts)
{
    struct green_copies_part *cp = &ts->copies;
    struct chunk_census t = {.chunk = NULL, .live = NULL, .n = 0};
    for (struct copy_chunk *ch = cp->chunks; ch; ch = ch->next)
        t.n++;
    if (t.n < 2)
        return;
    t.chunk = malloc(t.n * sizeof *t.chunk);
    t.live = calloc(t.n, sizeof *t.live);
    if (!t.chunk || !t.live)
        goto out; /* no memory to tidy up with: keep the chunks */
    size_t i = 0;
    for (struct copy_chunk *ch = cp->chunks; ch; ch = ch->next)
        t.chunk[i++] = ch;
    qsort(t.chunk, t.n, sizeof *t.chunk, by_address);
    green__records_foreach(ts, mark_live, &t);

    /* Drop free-list entries that lie in chunks about to go. */
    for (size_t c = 0; c < GREEN_COPY_CLASSES; c++) {
        void **link = &cp->free[c];
        while (*link) {
            long k = chunk_of(&t, *link);
            if (k >= 0 && !t.live[k])
                *link = *(void **)*link;
            else
                link = (void **)*link;
        }
    }
    struct copy_chunk *keep = NULL;
    for (i = 0; i < t.n; i++) {
        if (t.live[i]) {
            t.chunk[i]->next = keep;
            keep = t.chunk[i];
        } else {
            munmap(t.chunk[i], sizeof *t.chunk[i]);
        }
    }
    cp->chunks = keep;
out:
    free(t.chunk);
    free(t.live);
}

void green__copies_term(struct green_thread *ts)
{
    struct green_copies_part *cp = &ts->copies;
    struct copy_chunk *ch = cp->chunks;
    while (ch) {
        struct copy_chunk *next = ch->next;
        munmap(ch, sizeof *ch);
        ch = next;
    }
    cp->chunks = NULL;
    memset(cp->free, 0, sizeof cp->free);
}
