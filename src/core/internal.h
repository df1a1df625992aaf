/* libgreen core internals: the greenlet record and the per-thread state.
 *
 * Field names follow greenlet's PyGreenlet (see ../shared/seeds and stack_shared.c for the
 * stack diagram), so the slicing code reads like the original.
 */
#ifndef GREEN_INTERNAL_H
#define GREEN_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "green/core.h"
#include "arch/arch.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define NORETURN __attribute__((noreturn))

/* Life states.  FREE marks a released slot, so stale handles are caught. */
enum {
    GS_FREE = 0,
    GS_NEW,    /* created, never run */
    GS_ACTIVE, /* started, not dead: running or suspended */
    GS_DEAD,   /* finished, or killed/released before it could start */
};

/* Flags. */
enum {
    GF_MAIN = 0x1,     /* the thread's main greenlet (embedded in struct green_thread) */
    GF_SHARED = 0x2,   /* shared stack model */
    GF_RELEASED = 0x4, /* green_destroy() dropped the user's reference */
};

struct green_thread;

/* Slice buffers up to this size come from per-thread size classes (copy_buffers.c). */
#define GREEN_COPY_CLASS_MAX 1024

struct green {
    /* First, so that a released slot keeps a readable state even when the rest of it is
     * poisoned for ASAN (see alloc.c). */
    uint8_t state;
    uint8_t flags;
    uint16_t reserved;
    uint32_t refs; /* the user's handle + one per child naming this greenlet as parent */

    /* The saved stack pointer while suspended: green_arch_switch writes it.  For a shared
     * greenlet it is also the low end of its stack data (minus GREEN_ARCH_SP_SLACK). */
    char *stack_start;
    /* High end of this greenlet's stack data: the top of its private stack, or, for a shared
     * greenlet, the address it started at in the shared region. */
    char *stack_stop;
    union {
        struct {                      /* shared stack model */
            char *stack_copy;         /* heap copy of the lowest stack_saved bytes */
            uint32_t stack_saved;     /* bytes currently held in stack_copy */
            uint32_t copy_size;       /* capacity of stack_copy */
        };
        struct {                      /* private stack model */
            char *stack_lo;           /* lowest usable address (the guard page is below) */
            size_t stack_size;        /* usable bytes */
        };
    };
    struct green *stack_prev; /* shared: next older greenlet with data in the region */

    struct green *parent;
    struct green_thread *thread;
    union {
        green_fn run;             /* until started */
        struct green *finish_to;  /* once started: green_destroy() waiting for it to die */
    };
    uint64_t id;
    char *name;
#ifdef GREEN_ASAN
    void *asan_fake_stack;
#endif
#ifdef GREEN_TSAN
    void *tsan_fiber;
#endif
};

/* Private stacks of one size, carved from mmap'd chunks and pooled. */
#define GREEN_POOL_DIRTY_MAX 64
struct stack_class {
    struct stack_class *next;
    size_t size;                       /* usable bytes */
    void *dirty[GREEN_POOL_DIRTY_MAX]; /* free stacks whose pages are still resident */
    unsigned ndirty;
    unsigned nclean, clean_cap;
    void **clean;                      /* free stacks given back with MADV_DONTNEED */
    struct stack_chunk *carving;       /* chunk with uncarved slots, or NULL */
};

struct green_thread {
    struct green *current;
    void *xfer_value;         /* the first value for a greenlet being started */
    int xfer_errno;           /* errno of a transfer the copier could not complete */
    green_trace_fn trace;
    void *trace_arg;
    bool in_trace;
    bool slow; /* trace || in_trace: keeps green_switch() off its fast path */

    struct green main;

    /* Shared stack region [shared_lo, shared_hi) and its slicing chain. */
    char *shared_lo, *shared_hi;
    size_t shared_size;
    struct green *shared_head; /* greenlet whose frames are lowest in the region */
    unsigned shared_vg_id;

    /* The copier: a small private context that moves shared-stack slices while neither the
     * outgoing nor the incoming greenlet may run on the region (see stack_shared.c). */
    char *copier_sp;
    char *copier_lo;
    size_t copier_size;
    unsigned copier_vg_id;
    struct green *job_origin, *job_target;
    int job_status;
    void *job_value;
    void **job_result;
#ifdef GREEN_ASAN
    struct green *asan_dead; /* a shared greenlet that just died: clear its frames' shadow */
    void *copier_fake_stack;
    const void *main_stack_lo;
    size_t main_stack_size;
#endif
#ifdef GREEN_TSAN
    void *copier_fiber;
    void *tsan_dead_fiber;
#endif

    /* Allocators (alloc.c, copy_buffers.c, stack_private.c). */
    void *copy_free[GREEN_COPY_CLASS_MAX / 8];
    struct copy_chunk *copy_chunks;
    struct slab *slabs;
    struct green *free_slots;
    size_t nslabs, live_slots, trim_below;
    struct stack_class *stack_classes;
    struct stack_chunk *stack_chunks;
    uint64_t next_id, id_limit;

    pthread_t self;
    pid_t tid;
    void *altstack;
    size_t altstack_size;
};

/* The calling thread's state, NULL until its first libgreen call. */
extern _Thread_local struct green_thread *green_tls GREEN_HIDDEN
    __attribute__((tls_model("initial-exec")));

/* thread.c */
GREEN_HIDDEN struct green_thread *green_thread_get(void); /* creates on first use; NULL+errno */
GREEN_HIDDEN int green_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
GREEN_HIDDEN void green_fatal(const char *fmt, ...) NORETURN __attribute__((format(printf, 1, 2)));
GREEN_HIDDEN const char *green_describe(const struct green *g, char *buf, size_t len);
GREEN_HIDDEN const char *green_describe_thread(const struct green_thread *ts, char *buf, size_t len);
GREEN_HIDDEN struct green *green_check(const green_t *g, const char *api); /* aborts on FREE/RELEASED */

/* alloc.c: greenlet records and stack-copy buffers */
GREEN_HIDDEN struct green *green_slot_alloc(struct green_thread *ts);
GREEN_HIDDEN void green_slot_free(struct green_thread *ts, struct green *g);
GREEN_HIDDEN void green_slots_release_all(struct green_thread *ts);
GREEN_HIDDEN void green_slots_foreach(struct green_thread *ts,
                                     void (*fn)(struct green *, void *), void *arg);
GREEN_HIDDEN uint64_t green_next_id(struct green_thread *ts);

/* copy_buffers.c */
GREEN_HIDDEN size_t green_copy_capacity(size_t size);
GREEN_HIDDEN void *green_copy_alloc(struct green_thread *ts, size_t cap);
GREEN_HIDDEN void green_copy_free(struct green_thread *ts, void *p, size_t cap);
GREEN_HIDDEN void green_copy_release_all(struct green_thread *ts);
GREEN_HIDDEN void green_copy_trim(struct green_thread *ts);

/* stack_private.c */
GREEN_HIDDEN int green_stack_acquire(struct green_thread *ts, struct green *g);
GREEN_HIDDEN void green_stack_release(struct green_thread *ts, struct green *g);
GREEN_HIDDEN void green_stacks_release_all(struct green_thread *ts);
GREEN_HIDDEN size_t green_page_size(void);
GREEN_HIDDEN void *green_map_stack(size_t size, size_t guard); /* [guard][size]; NULL+errno */
GREEN_HIDDEN void green_unmap_stack(void *lo, size_t size, size_t guard);

/* stack_shared.c */
GREEN_HIDDEN int green_shared_ready(struct green_thread *ts, struct green *origin);
GREEN_HIDDEN int green_shared_transfer(struct green_thread *ts, struct green *origin,
                                       struct green *target, int status, void *value,
                                       void **result);
GREEN_HIDDEN void green_shared_forget(struct green_thread *ts, struct green *g);
GREEN_HIDDEN void green_shared_release_all(struct green_thread *ts);

/* switch.c */
GREEN_HIDDEN int green_transfer(struct green_thread *ts, struct green *target, int err,
                                void *value, void **result, const char *api);
GREEN_HIDDEN void green_boot(void) NORETURN;

/* overflow.c */
GREEN_HIDDEN void green_overflow_thread_init(struct green_thread *ts);
GREEN_HIDDEN void green_overflow_thread_exit(struct green_thread *ts);

static inline bool green_is_shared(const struct green *g) { return (g->flags & GF_SHARED) != 0; }

/* Only the owning thread changes a greenlet's state and its thread's current greenlet,
 * but green_state() may read both from any thread: the stores are atomic (relaxed, which
 * is a plain store on every CPU we support). */
static inline void set_state(struct green *g, uint8_t state)
{
    __atomic_store_n(&g->state, state, __ATOMIC_RELAXED);
}

static inline void set_current(struct green_thread *ts, struct green *g)
{
    __atomic_store_n(&ts->current, g, __ATOMIC_RELAXED);
}

#endif /* GREEN_INTERNAL_H */
