/* SPDX-License-Identifier: MIT */
/* Greenlet-local storage: gevent.local, as keys in the style of pthread keys.
 *
 * Keys live in one process-wide table of GREEN_LOCAL_KEYS_MAX slots.  A key is its slot
 * plus a generation, so a deleted key's values never answer for the key that reuses its
 * slot: each greenlet stores (key, value) pairs and matches the whole key.  The table
 * changes under a mutex; get and set only read a slot's live key (an atomic load), so
 * the fast path takes no lock.  The pairs hang off the greenlet's task, in a small array
 * searched linearly (a greenlet uses a handful of keys).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "hub.h"

#define SLOT_BITS 7 /* 128 slots */
_Static_assert((1u << SLOT_BITS) == GREEN_LOCAL_KEYS_MAX, "slot bits and key count disagree");

struct green_local_slot {
    green_local_key_t key;
    void *value;
};

static struct {
    green_local_key_t live; /* the key using this slot, 0 if free; atomic */
    uint32_t generation;
    void (*destructor)(void *);
} keys[GREEN_LOCAL_KEYS_MAX];
static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned slot_of(green_local_key_t key) { return key & (GREEN_LOCAL_KEYS_MAX - 1); }

static bool key_live(green_local_key_t key)
{
    return key != 0 && __atomic_load_n(&keys[slot_of(key)].live, __ATOMIC_ACQUIRE) == key;
}

GREEN_API int green_local_key_new(green_local_key_t *key, void (*destructor)(void *))
{
    if (!key)
        return green__fail(EINVAL, "green_local_key_new", "key is NULL");
    pthread_mutex_lock(&keys_lock);
    for (unsigned i = 0; i < GREEN_LOCAL_KEYS_MAX; i++) {
        if (keys[i].live)
            continue;
        /* Generations start at 1, so no key is 0; they wrap after 2^25 reuses of a slot. */
        uint32_t gen = (keys[i].generation + 1) & ((1u << (32 - SLOT_BITS)) - 1);
        keys[i].generation = gen ? gen : 1;
        keys[i].destructor = destructor;
        *key = (keys[i].generation << SLOT_BITS) | i;
        __atomic_store_n(&keys[i].live, *key, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&keys_lock);
        return 0;
    }
    pthread_mutex_unlock(&keys_lock);
    return green__fail(EAGAIN, "green_local_key_new", "all %d keys are in use",
                       GREEN_LOCAL_KEYS_MAX);
}

GREEN_API int green_local_key_delete(green_local_key_t key)
{
    pthread_mutex_lock(&keys_lock);
    bool live = key_live(key);
    if (live) {
        __atomic_store_n(&keys[slot_of(key)].live, 0, __ATOMIC_RELEASE);
        keys[slot_of(key)].destructor = NULL;
    }
    pthread_mutex_unlock(&keys_lock);
    return live ? 0 : green__fail(EINVAL, "green_local_key_delete", "%u is not a live key", key);
}

/* The task of h's current greenlet, if it has storage (not the hub; spawned, or the main
 * greenlet); NULL otherwise. */
static struct green_task *task_of_current(const struct green_hub_part *h)
{
    struct green *cur = h->ts->core.current;
    return cur == h->hub ? NULL : green__task_of(cur);
}

/* The same without a hub of the caller's; never creates one. */
static struct green_task *current_task(void)
{
    struct green_hub_part *h = green__hub_peek();
    return h ? task_of_current(h) : NULL;
}

static struct green_local_slot *find(struct green_task *t, green_local_key_t key)
{
    for (unsigned i = 0; i < t->nlocals; i++)
        if (t->locals[i].key == key)
            return &t->locals[i];
    return NULL;
}

GREEN_API void *green_local_get(green_local_key_t key)
{
    struct green_task *t = current_task();
    struct green_local_slot *s = t && key_live(key) ? find(t, key) : NULL;
    return s ? s->value : NULL;
}

GREEN_API int green_local_set(green_local_key_t key, void *value)
{
    const char *api = "green_local_set";
    if (!key_live(key))
        return green__fail(EINVAL, api, "%u is not a live key", key);
    struct green_hub_part *h = green__hub_get(api); /* the main greenlet's task is the hub's */
    if (!h)
        return -1;
    struct green_task *t = task_of_current(h);
    if (!t) {
        struct green *cur = h->ts->core.current;
        char who[GREEN_DESCRIBE_MAX];
        return green__fail(EPERM, api, "greenlet %s has no local storage (%s)",
                           green__describe(cur, who, sizeof who),
                           cur == h->hub ? "it is the hub" : "it was not spawned on the hub");
    }
    struct green_local_slot *s = find(t, key);
    if (s) {
        s->value = value;
        return 0;
    }
    if (t->nlocals == t->locals_cap) {
        unsigned cap = t->locals_cap ? 2 * t->locals_cap : 4;
        struct green_local_slot *grown = realloc(t->locals, cap * sizeof *grown);
        if (!grown)
            return green__fail(ENOMEM, api, "no memory for a greenlet-local value");
        t->locals = grown;
        t->locals_cap = cap;
    }
    t->locals[t->nlocals++] = (struct green_local_slot){key, value};
    return 0;
}

void green__locals_destroy(struct green_task *t)
{
    if (!t->locals)
        return; /* the common case, every task's death: no call to free */
    /* A destructor runs in the hub (or in main at shutdown): it cannot set values of t,
     * but it may for the main greenlet, so take the array first and go round again, a
     * bounded number of times (pthread's PTHREAD_DESTRUCTOR_ITERATIONS is 4). */
    for (int pass = 0; t->nlocals && pass < 4; pass++) {
        struct green_local_slot *locals = t->locals;
        unsigned n = t->nlocals;
        t->locals = NULL;
        t->nlocals = t->locals_cap = 0;
        for (unsigned i = 0; i < n; i++) {
            if (!locals[i].value)
                continue;
            pthread_mutex_lock(&keys_lock);
            void (*destructor)(void *) =
                key_live(locals[i].key) ? keys[slot_of(locals[i].key)].destructor : NULL;
            pthread_mutex_unlock(&keys_lock);
            if (destructor)
                destructor(locals[i].value);
        }
        free(locals);
    }
    free(t->locals);
    t->locals = NULL;
    t->locals_cap = 0;
}
