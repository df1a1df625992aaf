/* Heap buffers for shared-stack slices.
 *
 * A suspended shared greenlet is its record plus one buffer holding a slice of, typically,
 * 100-300 bytes; ten million of them must fit in 2.5 GB.  malloc would add a header and
 * round to 16 bytes (~24 bytes each, a tenth of the budget), so small buffers come from
 * per-thread size classes in 8-byte steps (slices are whole words), carved from chunks and
 * recycled through free lists.  Larger buffers use malloc.  Chunks that hold no live
 * buffer are freed by green_copy_trim() (called when many greenlets were released) and
 * all of them when the thread exits.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define CHUNK_BYTES (256 * 1024 - 64) /* with its header, a whole number of pages */
#define CLASS_MAX GREEN_COPY_CLASS_MAX

struct copy_chunk {
    struct copy_chunk *next;
    size_t used;
    _Alignas(16) char mem[CHUNK_BYTES];
};

static size_t class_of(size_t size) { return (size + 7) / 8 - 1; } /* 8 -> 0, 16 -> 1, ... */

size_t green_copy_capacity(size_t size)
{
    return size <= CLASS_MAX ? (size + 7) & ~(size_t)7 : size;
}

void *green_copy_alloc(struct green_thread *ts, size_t cap)
{
    if (cap <= CLASS_MAX) {
        size_t c = class_of(cap);
        void *p = ts->copy_free[c];
        if (p) {
            ts->copy_free[c] = *(void **)p;
            return p;
        }
        struct copy_chunk *ch = ts->copy_chunks;
        if (!ch || ch->used + cap > CHUNK_BYTES) {
            ch = mmap(NULL, sizeof *ch, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
            if (ch == MAP_FAILED)
                return NULL;
            ch->next = ts->copy_chunks;
            ch->used = 0;
            ts->copy_chunks = ch;
        }
        p = ch->mem + ch->used;
        ch->used += cap;
        return p;
    }
    return malloc(cap);
}

void green_copy_free(struct green_thread *ts, void *p, size_t cap)
{
    if (!p)
        return;
    if (cap <= CLASS_MAX) {
        size_t c = class_of(cap);
        *(void **)p = ts->copy_free[c];
        ts->copy_free[c] = p;
        return;
    }
    free(p);
}

/* ---- giving chunks back ---------------------------------------------------------- */

struct trim {
    struct copy_chunk **chunk; /* sorted by address */
    bool *live;
    size_t n;
};

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (struct copy_chunk *const *)a;
    uintptr_t y = (uintptr_t) * (struct copy_chunk *const *)b;
    return (x > y) - (x < y);
}

/* Index of the chunk holding p, or -1. */
static long chunk_of(const struct trim *t, const void *p)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *m = t->chunk[mid]->mem;
        if ((const char *)p < m)
            hi = mid;
        else if ((const char *)p >= m + CHUNK_BYTES)
            lo = mid + 1;
        else
            return (long)mid;
    }
    return -1;
}

static void mark_live(struct green *g, void *arg)
{
    const struct trim *t = arg;
    if ((g->flags & GF_SHARED) && g->stack_copy && g->copy_size <= CLASS_MAX) {
        long i = chunk_of(t, g->stack_copy);
        if (i >= 0)
            t->live[i] = true;
    }
}

void green_copy_trim(struct green_thread *ts)
{
    struct trim t = {NULL, NULL, 0};
    for (struct copy_chunk *ch = ts->copy_chunks; ch; ch = ch->next)
        t.n++;
    if (t.n < 2)
        return;
    t.chunk = malloc(t.n * sizeof *t.chunk);
    t.live = calloc(t.n, sizeof *t.live);
    if (!t.chunk || !t.live)
        goto out; /* no memory to tidy up with: keep the chunks */
    size_t i = 0;
    for (struct copy_chunk *ch = ts->copy_chunks; ch; ch = ch->next)
        t.chunk[i++] = ch;
    qsort(t.chunk, t.n, sizeof *t.chunk, by_address);
    green_slots_foreach(ts, mark_live, &t);

    /* Drop free-list entries that lie in chunks about to go. */
    for (size_t c = 0; c < GREEN_COPY_CLASS_MAX / 8; c++) {
        void **link = &ts->copy_free[c];
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
    ts->copy_chunks = keep;
out:
    free(t.chunk);
    free(t.live);
}

void green_copy_release_all(struct green_thread *ts)
{
    struct copy_chunk *ch = ts->copy_chunks;
    while (ch) {
        struct copy_chunk *next = ch->next;
        munmap(ch, sizeof *ch);
        ch = next;
    }
    ts->copy_chunks = NULL;
    memset(ts->copy_free, 0, sizeof ts->copy_free);
}
