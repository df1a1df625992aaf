/* SPDX-License-Identifier: MIT */
/* The order a Queue keeps its items in: FIFO (gevent's deque), LIFO (its list) or by
 * priority (its heapq).  Only storage: queue.c does the waiting. */
#ifndef GREEN_SYNC_QUEUE_STORE_H
#define GREEN_SYNC_QUEUE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "green/sync.h"
#include "hub/hub.h"

enum queue_kind { QUEUE_FIFO, QUEUE_LIFO, QUEUE_PRIORITY };

struct queue_entry {
    void *item;
    uint64_t seq; /* priority ties: the order of the puts */
};

struct queue_store {
    enum queue_kind kind;
    green_queue_cmp_fn cmp; /* QUEUE_PRIORITY */
    struct queue_entry *slots;
    size_t cap, head, count; /* head: FIFO's ring start (0 for the others) */
    uint64_t next_seq;
};

/* Room for `need` items in all (pushes never fail then); -1 with errno ENOMEM. */
GREEN_HIDDEN int green__store_reserve(struct queue_store *s, size_t need, const char *api);

/* Add item (room reserved). */
GREEN_HIDDEN void green__store_push(struct queue_store *s, void *item);

/* The next item out, and taking it (count > 0). */
GREEN_HIDDEN void *green__store_peek(const struct queue_store *s);
GREEN_HIDDEN void *green__store_pop(struct queue_store *s);

GREEN_HIDDEN void green__store_free(struct queue_store *s);

#endif /* GREEN_SYNC_QUEUE_STORE_H */
