/* Heap buffers for shared-stack slices.
 *
 * A suspended shared greenlet is its record plus one buffer holding a slice of, typically,
 * 100-300 bytes; ten million of them must fit in 2.5 GB.  malloc would add a header and
 * round to 16 bytes (~24 bytes each, a tenth of the budget), so small buffers come from
 * per-thread size classes in 8-byte steps (slices are whole words), carved from chunks and
 * recycled through free lists.  Larger buffers use malloc.  Chunks are freed when the
 * thread exits.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CHUNK_BYTES (256 * 1024)
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
            if (!(ch = malloc(sizeof *ch)))
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

void green_copy_release_all(struct green_thread *ts)
{
    struct copy_chunk *ch = ts->copy_chunks;
    while (ch) {
        struct copy_chunk *next = ch->next;
        free(ch);
        ch = next;
    }
    ts->copy_chunks = NULL;
    memset(ts->copy_free, 0, sizeof ts->copy_free);
}
