/* SPDX-License-Identifier: MIT */
/* Private stacks: mmap'd, a 64 KiB guard region below each, pooled per thread.
 *
 *      chunk (one mmap)
 *      +-------+-----------------+-------+-----------------+----
 *      | guard |  stack 0  ^top  | guard |  stack 1  ^top  | ...
 *      +-------+-----------------+-------+-----------------+----
 *       64 KiB                    64 KiB
 *
 * The guard-page problem: vm.max_map_count (65530 by default) limits a process's mappings,
 * and a PROT_NONE guard page splits a mapping in two, so classic mprotect guards allow only
 * ~32k stacks.  Since Linux 6.13, madvise(MADV_GUARD_INSTALL) puts guard markers in the page
 * tables instead: faults like PROT_NONE, splits nothing.  We carve many stacks out of one
 * chunk and install a marker below each; a million stacks then cost a handful of mappings.
 * On older kernels we fall back to mprotect and keep a process-wide budget of half the map
 * limit (minus headroom for everything else), returning ENOMEM when it is used up — never
 * crashing.  Even with markers, a range the kernel refuses them for (mlock'ed memory,
 * after mlockall(MCL_FUTURE)) gets an mprotect guard; each guard remembers whether it drew
 * on the budget, so unmapping it gives back exactly what it took.
 *
 * The pool: a finished greenlet's stack goes on its size class's free list (no syscall).
 * Only the most recent POOL_DIRTY_MAX stacks per size keep their pages; beyond that
 * a freed stack is returned to the kernel with MADV_DONTNEED (it stays mapped and pooled),
 * so a burst of a million finished greenlets does not pin their memory.  The free lists
 * are arrays beside the stacks, not links inside them, so a stack can be given back
 * whole.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "sanitize.h"
#include "stack_private.h"
#include "thread.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define STACK_CHUNK_BYTES (4u << 20)
#define CHUNK_MAX_SLOTS 64u

/* Private stacks of one size, carved from chunks and pooled. */
#define POOL_DIRTY_MAX 64
struct stack_class {
    struct stack_class *next;
    size_t size;                 /* usable bytes */
    void *dirty[POOL_DIRTY_MAX]; /* free stacks whose pages are still resident */
    unsigned ndirty;
    unsigned nclean, clean_cap;
    void **clean;                /* free stacks given back with MADV_DONTNEED */
    struct stack_chunk *carving; /* chunk with uncarved slots, or NULL */
};

struct carved_slot {
    unsigned vg_id;      /* valgrind stack id */
    bool guard_budgeted; /* its guard was made with mprotect */
};

struct stack_chunk {
    struct stack_chunk *next;
    char *base;
    size_t slot_bytes; /* guard + stack */
    unsigned nslots, carved;
    struct carved_slot slot[];
};

size_t green__page_size(void)
{
    static atomic_size_t page; /* threads may race to fill it in, with the same value */
    size_t p = atomic_load_explicit(&page, memory_order_relaxed);
    if (!p) {
        p = (size_t)sysconf(_SC_PAGESIZE);
        atomic_store_explicit(&page, p, memory_order_relaxed);
    }
    return p;
}

/* ---- guards ------------------------------------------------------------------------- */

enum { GUARD_UNKNOWN, GUARD_MARKERS, GUARD_MPROTECT };
static atomic_int guard_mode = GUARD_UNKNOWN;
static atomic_long mprotect_budget = -1; /* guarded stacks left, mprotect mode only */

/* The fallback's share of vm.max_map_count: each mprotect guard splits a mapping. */
static long map_budget(void)
{
    long max = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &max) != 1)
            max = 65530;
        fclose(f);
    }
    long headroom = max / 8 > 4096 ? max / 8 : 4096;
    return max > headroom ? (max - headroom) / 2 : 0;
}

/* Does the guard at p really fault?  Emulators such as qemu-user accept advice they do
 * not know and do nothing; a real guard marker makes the kernel's own access fail. */
static bool guard_faults(const char *p)
{
    int fd[2];
    if (pipe(fd) != 0)
        return true; /* cannot tell; trust madvise */
    ssize_t n = write(fd[1], p, 1);
    int e = errno;
    close(fd[0]);
    close(fd[1]);
    return n < 0 && e == EFAULT;
}

/* Make [guard, guard + len) fault.  Returns 0 for a guard marker, 1 for an mprotect guard
 * (which took one unit of budget), -1 with errno (ENOSPC: no budget left). */
static int install_guard(char *guard, size_t len)
{
    int mode = atomic_load_explicit(&guard_mode, memory_order_relaxed);
    if (mode != GUARD_MPROTECT) {
        int rc = madvise(guard, len, MADV_GUARD_INSTALL);
        if (rc == 0 && (mode == GUARD_MARKERS || guard_faults(guard))) {
            atomic_store_explicit(&guard_mode, GUARD_MARKERS, memory_order_relaxed);
            return 0;
        }
        if (rc != 0 && errno != EINVAL && errno != ENOSYS)
            return -1;
        long expect = -1;
        atomic_compare_exchange_strong(&mprotect_budget, &expect, map_budget());
        /* mprotect from now on when the kernel does not know the advice, or (first use
         * only) accepted it without effect; with markers working, EINVAL means this one
         * range cannot take them (mlock'ed memory): mprotect just this guard. */
        if (mode != GUARD_MARKERS)
            atomic_store_explicit(&guard_mode, GUARD_MPROTECT, memory_order_relaxed);
    }
    if (atomic_fetch_sub(&mprotect_budget, 1) <= 0) {
        atomic_fetch_add(&mprotect_budget, 1);
        errno = ENOSPC; /* green__stack_acquire() says why; callers see ENOMEM */
        return -1;
    }
    if (mprotect(guard, len, PROT_NONE) != 0) {
        atomic_fetch_add(&mprotect_budget, 1);
        return -1;
    }
    return 1;
}

static void return_budget(long n)
{
    if (n)
        atomic_fetch_add(&mprotect_budget, n);
}

static void *map_region(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* A stack touches a page or two; a transparent huge page would make that 2 MiB. */
    madvise(p, bytes, MADV_NOHUGEPAGE);
    return p;
}

int green__stack_map(struct green_stack_map *m, size_t size, size_t guard, bool vg_register)
{
    GREEN_ASSERT(!m->lo && size % green__page_size() == 0 && guard % green__page_size() == 0);
    char *p = map_region(guard + size);
    if (!p)
        return -1;
    int kind = guard ? install_guard(p, guard) : 0;
    if (kind < 0) {
        int e = errno;
        munmap(p, guard + size);
        errno = e;
        return -1;
    }
    m->lo = p + guard;
    m->size = size;
    m->guard = guard;
    m->guard_budgeted = kind == 1;
    m->vg_id = vg_register ? vg_stack_register(m->lo, m->lo + size) : 0;
    return 0;
}

void green__stack_unmap(struct green_stack_map *m)
{
    if (!m->lo)
        return;
    vg_stack_deregister(m->vg_id);
    san_unmapping(m->lo, m->size);
    munmap(m->lo - m->guard, m->guard + m->size);
    return_budget(m->guard_budgeted);
    *m = (struct green_stack_map){.lo = NULL};
}

/* ---- the pool ----------------------------------------------------------------------- */

static bool grow_clean(struct stack_class *c)
{
    unsigned cap = c->clean_cap ? c->clean_cap * 2 : 1024;
    void **a = realloc(c->clean, cap * sizeof *a);
    if (!a)
        return false;
    c->clean = a;
    c->clean_cap = cap;
    return true;
}

static struct stack_class *find_class(struct green_thread *ts, size_t size)
{
    for (struct stack_class *c = ts->stacks.classes; c; c = c->next)
        if (c->size == size)
            return c;
    return NULL;
}

/* The pool for stacks of `size`, made on first use; NULL when out of memory. */
static struct stack_class *class_for(struct green_thread *ts, size_t size)
{
    struct stack_class *c = find_class(ts, size);
    if (c)
        return c;
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->size = size;
    c->next = ts->stacks.classes;
    ts->stacks.classes = c;
    return c;
}

static void *carve(struct green_thread *ts, struct stack_class *c)
{
    size_t guard = GREEN_GUARD_BYTES;
    struct stack_chunk *ch = c->carving;
    if (!ch) {
        size_t slot = guard + c->size;
        unsigned n = (unsigned)(STACK_CHUNK_BYTES / slot);
        n = n < 1 ? 1 : n > CHUNK_MAX_SLOTS ? CHUNK_MAX_SLOTS : n;
        ch = malloc(sizeof *ch + n * sizeof ch->slot[0]);
        if (!ch)
            return NULL;
        ch->base = map_region(slot * n);
        if (!ch->base) {
            free(ch);
            return NULL;
        }
        ch->slot_bytes = slot;
        ch->nslots = n;
        ch->carved = 0;
        ch->next = ts->stacks.chunks;
        ts->stacks.chunks = ch;
        c->carving = ch;
    }
    char *guard_lo = ch->base + (size_t)ch->carved * ch->slot_bytes;
    int kind = install_guard(guard_lo, guard);
    if (kind < 0)
        return NULL;
    char *lo = guard_lo + guard;
    ch->slot[ch->carved].guard_budgeted = kind == 1;
    ch->slot[ch->carved].vg_id = vg_stack_register(lo, lo + c->size);
    if (++ch->carved == ch->nslots)
        c->carving = NULL;
    return lo;
}

int green__stack_acquire(struct green_thread *ts, struct green *g, const char *api)
{
    GREEN_ASSERT(!green__is_shared(g) && g->stack_size > 0);
    if (g->stack_lo)
        return 0; /* acquired earlier for a start that has not happened yet */
    size_t size = g->stack_size;
    struct stack_class *c = class_for(ts, size);
    if (!c)
        return green__fail(ENOMEM, api, "no memory for a stack pool");
    void *lo;
    if (c->ndirty) {
        lo = c->dirty[--c->ndirty];
    } else if (c->nclean) {
        lo = c->clean[--c->nclean];
    } else if (!(lo = carve(ts, c))) {
        int e = errno; /* ENOSPC: install_guard's budget; else what mmap/mprotect said */
        char who[GREEN_DESCRIBE_MAX];
        return green__fail(
            ENOMEM, api, "cannot map a %zu-byte stack for greenlet %s: %s", size,
            green__describe(g, who, sizeof who),
            e == ENOSPC
                ? "guard budget of vm.max_map_count used up (kernel lacks MADV_GUARD_INSTALL)"
                : strerror(e));
    }
    /* Frames abandoned by the previous owner (it never returned from its last switch)
     * leave poisoned redzones in ASAN's shadow. */
    san_unpoison(lo, size);
    g->stack_lo = lo;
    g->stack_stop = (char *)lo + size;
    return 0;
}

void green__stack_release(struct green_thread *ts, struct green *g)
{
    void *lo = g->stack_lo;
    size_t size = g->stack_size;
    if (!lo)
        return;
    g->stack_lo = NULL;
    struct stack_class *c = find_class(ts, size);
    GREEN_ASSERT(c != NULL); /* green__stack_acquire made it */
    if (c->ndirty == POOL_DIRTY_MAX && (c->nclean < c->clean_cap || grow_clean(c))) {
        /* Give another dirty stack's pages back, never this one's: a finishing greenlet
         * releases its stack while still running on it. */
        void *old = c->dirty[0]; /* the coldest: acquire pops from the top */
        memmove(c->dirty, c->dirty + 1, --c->ndirty * sizeof c->dirty[0]);
        madvise(old, size, MADV_DONTNEED);
        c->clean[c->nclean++] = old;
    }
    if (c->ndirty < POOL_DIRTY_MAX)
        c->dirty[c->ndirty++] = lo;
    /* else: out of memory for the free list; the stack stays mapped, unused, until the
     * thread exits. */
}

void green__stacks_term(struct green_thread *ts)
{
    struct stack_chunk *ch = ts->stacks.chunks;
    while (ch) {
        struct stack_chunk *next = ch->next;
        long budgeted = 0;
        for (unsigned i = 0; i < ch->carved; i++) {
            vg_stack_deregister(ch->slot[i].vg_id);
            budgeted += ch->slot[i].guard_budgeted;
        }
        san_unmapping(ch->base, ch->slot_bytes * ch->nslots);
        munmap(ch->base, ch->slot_bytes * ch->nslots);
        return_budget(budgeted);
        free(ch);
        ch = next;
    }
    ts->stacks.chunks = NULL;
    struct stack_class *c = ts->stacks.classes;
    while (c) {
        struct stack_class *next = c->next;
        free(c->clean);
        free(c);
        c = next;
    }
    ts->stacks.classes = NULL;
}
