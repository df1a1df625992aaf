/* SPDX-License-Identifier: MIT */
/* Queue storage (queue_store.h).  FIFO is a ring; LIFO a stack; priority a binary
 * min-heap ordered by (cmp, seq), so equal items come out in the order they were put. */
#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "queue_store.h"

int green__store_reserve(struct queue_store *s, size_t need, const char *api)
{
    if (need <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 8;
    while (cap < need)
        cap *= 2;
    struct queue_entry *slots = malloc(cap * sizeof *slots);
    if (!slots)
        return green__fail(ENOMEM, api, "no memory for %zu queue slots", cap);
    for (size_t i = 0; i < s->count; i++) /* the ring unrolled; the others keep their order */
        slots[i] = s->slots[(s->head + i) % s->cap];
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    s->head = 0;
    return 0;
}

static bool before(const struct queue_store *s, const struct queue_entry *a,
                   const struct queue_entry *b)
{
    int c = s->cmp(a->item, b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

static void swap(struct queue_entry *a, struct queue_entry *b)
{
    struct queue_entry t = *a;
    *a = *b;
    *b = t;
}

static void sift_up(struct queue_store *s, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(s, &s->slots[i], &s->slots[parent]))
            break;
        swap(&s->slots[i], &s->slots[parent]);
        i = parent;
    }
}

static void sift_down(struct queue_store *s, size_t i)
{
    for (;;) {
        size_t least = i, l = 2 * i + 1, r = l + 1;
        if (l < s->count && before(s, &s->slots[l], &s->slots[least]))
            least = l;
        if (r < s->count && before(s, &s->slots[r], &s->slots[least]))
            least = r;
        if (least == i)
            return;
        swap(&s->slots[i], &s->slots[least]);
        i = least;
    }
}

void green__store_push(struct queue_store *s, void *item)
{
    GREEN_ASSERT(s->count < s->cap);
    struct queue_entry e = {item, s->next_seq++};
    if (s->kind == QUEUE_FIFO) {
        s->slots[(s->head + s->count++) % s->cap] = e;
        return;
    }
    s->slots[s->count++] = e;
    if (s->kind == QUEUE_PRIORITY)
        sift_up(s, s->count - 1);
}

void *green__store_peek(const struct queue_store *s)
{
    GREEN_ASSERT(s->count > 0);
    return s->slots[s->kind == QUEUE_LIFO ? s->count - 1 : s->head].item;
}

void *green__store_pop(struct queue_store *s)
{
    GREEN_ASSERT(s->count > 0);
    void *item = green__store_peek(s);
    switch (s->kind) {
    case QUEUE_FIFO:
        s->head = (s->head + 1) % s->cap;
        s->count--;
        break;
    case QUEUE_LIFO:
        s->count--;
        break;
    case QUEUE_PRIORITY:
        s->slots[0] = s->slots[--s->count];
        sift_down(s, 0);
        break;
    }
    return item;
}

void green__store_free(struct queue_store *s)
{
    free(s->slots);
    s->slots = NULL;
    s->cap = s->count = s->head = 0;
}
