/* Private stacks: mmap'd, a guard page below each, pooled per thread.
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
 * crashing.
 *
 * The pool: a finished greenlet's stack goes on its size class's free list (no syscall).
 * Only the most recent GREEN_POOL_DIRTY_MAX stacks per size keep their pages; beyond that
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

#include "debug_hooks.h"
#include "internal.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define CHUNK_BYTES (4u << 20)
/* Below every private stack.  More than a page, so that a large frame of code built
 * without -fstack-clash-protection cannot step over it into the neighbouring stack; it
 * costs address space only. */
#define PRIVATE_GUARD (64 * 1024)
#define CHUNK_MAX_SLOTS 64u

struct stack_chunk {
    struct stack_chunk *next;
    char *base;
    size_t slot_bytes; /* guard + stack */
    unsigned nslots, carved;
    unsigned vg_id[]; /* valgrind stack ids, one per carved slot */
};

size_t green_page_size(void)
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
        errno = ENOSPC; /* green_stack_acquire() says why; callers see ENOMEM */
        return -1;
    }
    if (mprotect(guard, len, PROT_NONE) != 0) {
        atomic_fetch_add(&mprotect_budget, 1);
        return -1;
    }
    return 0;
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

/* A single guarded stack outside the pool (the shared region, the copier, alt stacks). */
void *green_map_stack(size_t size, size_t guard)
{
    char *p = map_region(guard + size);
    if (!p)
        return NULL;
    if (guard && install_guard(p, guard) != 0) {
        int e = errno;
        munmap(p, guard + size);
        errno = e;
        return NULL;
    }
    return p + guard;
}

void green_unmap_stack(void *lo, size_t size, size_t guard)
{
    if (!lo)
        return;
    munmap((char *)lo - guard, guard + size);
    /* its guard was made the way every guard is made in this mode */
    if (guard && atomic_load(&guard_mode) == GUARD_MPROTECT)
        atomic_fetch_add(&mprotect_budget, 1);
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

static struct stack_class *class_for(struct green_thread *ts, size_t size)
{
    for (struct stack_class *c = ts->stack_classes; c; c = c->next)
        if (c->size == size)
            return c;
    struct stack_class *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->size = size;
    c->next = ts->stack_classes;
    ts->stack_classes = c;
    return c;
}

static void *carve(struct green_thread *ts, struct stack_class *c)
{
    size_t guard = PRIVATE_GUARD;
    struct stack_chunk *ch = c->carving;
    if (!ch) {
        size_t slot = guard + c->size;
        unsigned n = (unsigned)(CHUNK_BYTES / slot);
        n = n < 1 ? 1 : n > CHUNK_MAX_SLOTS ? CHUNK_MAX_SLOTS : n;
        ch = malloc(sizeof *ch + n * sizeof ch->vg_id[0]);
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
        ch->next = ts->stack_chunks;
        ts->stack_chunks = ch;
        c->carving = ch;
    }
    char *guard_lo = ch->base + (size_t)ch->carved * ch->slot_bytes;
    if (install_guard(guard_lo, guard) != 0)
        return NULL;
    char *lo = guard_lo + guard;
    ch->vg_id[ch->carved] = vg_stack_register(lo, lo + c->size);
    if (++ch->carved == ch->nslots)
        c->carving = NULL;
    return lo;
}

int green_stack_acquire(struct green_thread *ts, struct green *g)
{
    if (g->stack_lo)
        return 0; /* acquired earlier for a start that has not happened yet */
    size_t size = g->stack_size;
    struct stack_class *c = class_for(ts, size);
    if (!c)
        return green_fail(ENOMEM, "libgreen: no memory for a stack pool");
    void *lo;
    if (c->ndirty) {
        lo = c->dirty[--c->ndirty];
    } else if (c->nclean) {
        lo = c->clean[--c->nclean];
    } else if (!(lo = carve(ts, c))) {
        int e = errno; /* ENOSPC: install_guard's budget; else what mmap/mprotect said */
        char who[96];
        return green_fail(ENOMEM, "libgreen: cannot map a %zu-byte stack for greenlet %s: %s",
                          size, green_describe(g, who, sizeof who),
                          e == ENOSPC ? "guard-page budget of vm.max_map_count used up "
                                        "(kernel lacks MADV_GUARD_INSTALL)"
                                      : strerror(e));
    }
    /* Frames abandoned by the previous owner (it never returned from its last switch)
     * leave poisoned redzones in ASAN's shadow. */
    asan_unpoison(lo, size);
    g->stack_lo = lo;
    g->stack_stop = (char *)lo + size;
    return 0;
}

void green_stack_release(struct green_thread *ts, struct green *g)
{
    void *lo = g->stack_lo;
    size_t size = g->stack_size;
    if (!lo)
        return;
    g->stack_lo = NULL;
    struct stack_class *c = class_for(ts, size); /* exists: acquire made it */
    if (c->ndirty == GREEN_POOL_DIRTY_MAX && (c->nclean < c->clean_cap || grow_clean(c))) {
        /* Give another dirty stack's pages back, never this one's: a finishing greenlet
         * releases its stack while still running on it. */
        void *old = c->dirty[0]; /* the coldest: acquire pops from the top */
        memmove(c->dirty, c->dirty + 1, --c->ndirty * sizeof c->dirty[0]);
        madvise(old, size, MADV_DONTNEED);
        c->clean[c->nclean++] = old;
    }
    if (c->ndirty < GREEN_POOL_DIRTY_MAX)
        c->dirty[c->ndirty++] = lo;
    /* else: out of memory for the free list; the stack stays mapped, unused, until the
     * thread exits. */
}

void green_stacks_release_all(struct green_thread *ts)
{
    struct stack_chunk *ch = ts->stack_chunks;
    while (ch) {
        struct stack_chunk *next = ch->next;
        for (unsigned i = 0; i < ch->carved; i++)
            vg_stack_deregister(ch->vg_id[i]);
        if (atomic_load(&guard_mode) == GUARD_MPROTECT)
            atomic_fetch_add(&mprotect_budget, ch->carved);
        munmap(ch->base, ch->slot_bytes * ch->nslots);
        free(ch);
        ch = next;
    }
    ts->stack_chunks = NULL;
    struct stack_class *c = ts->stack_classes;
    while (c) {
        struct stack_class *next = c->next;
        free(c->clean);
        free(c);
        c = next;
    }
    ts->stack_classes = NULL;
}
