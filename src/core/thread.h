/* SPDX-License-Identifier: MIT */
/* The per-thread state: one part per concern, each with its own init and term, run in the
 * order of one table in thread.c.  A layer above the core (the hub, the I/O layer) adds its
 * own part here and a row to that table, instead of fields to a shared bag. */
#ifndef GREEN_CORE_THREAD_H
#define GREEN_CORE_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "copy_buffers.h"
#include "greenlet.h"
#include "overflow.h"
#include "records.h"
#include "sanitize_fields.h"
#include "stack_private.h"
#include "stack_shared.h"

/* The core's own part: who runs, the trace hook, the main greenlet. */
struct green_core_part {
    struct green *current; /* atomic stores (set_current): green_state() reads it */
    bool in_trace;         /* the trace hook is running: switching is refused */
    green_trace_fn trace;
    void *trace_arg;
    void *start_value;      /* the first value for a greenlet being started */
    struct green *finished; /* the greenlet that finished last (the hub reads and clears it) */
    struct green main;
    pthread_t self;
    pid_t tid;
    GREEN_SAN_THREAD_FIELDS
};

struct green_hub_part; /* src/hub/hub.h: created when the thread first uses the hub */

struct green_thread {
    struct green_core_part core;
    struct green_records_part records;
    struct green_stacks_part stacks;
    struct green_shared_part shared;
    struct green_copies_part copies;
    struct green_overflow_part overflow;
    struct green_hub_part *hub;
};

/* The layers above the core that keep per-thread state register their term here (the
 * table in thread.c names them); their headers need dependencies the core does not. */
GREEN_HIDDEN void green__hub_term(struct green_thread *ts); /* src/hub/hub.c */
/* A thread exit that leaves its state allocated (inside a greenlet): the hub's thread-local
 * pointer to it goes with green__tls (src/hub/hub.c). */
GREEN_HIDDEN void green__hub_abandon(void);

/* The calling thread's state, NULL until its first libgreen call. */
extern _Thread_local struct green_thread *green__tls GREEN_HIDDEN
    __attribute__((tls_model("initial-exec")));

/* green__tls while green_switch() may take its fast path, NULL while it must not (a trace
 * hook is set or running): one load answers both "has this thread any state" and "may it
 * skip the hook", and comparing it with the target's thread answers "is it ours". */
extern _Thread_local struct green_thread *green__tls_fast GREEN_HIDDEN
    __attribute__((tls_model("initial-exec")));

/* Recompute green__tls_fast after ts's trace hook was set, cleared, entered or left. */
static inline void green__fast_path_update(struct green_thread *ts)
{
    green__tls_fast = ts->core.trace || ts->core.in_trace ? NULL : ts;
}

/* Create the calling thread's state (green__tls must be NULL).  NULL with errno ENOMEM and
 * a message naming api if it cannot. */
GREEN_HIDDEN struct green_thread *green__thread_create(const char *api);

/* The calling thread's state, created on first use; NULL with errno as above. */
static inline struct green_thread *green__thread_get(const char *api)
{
    struct green_thread *ts = green__tls;
    return GREEN_LIKELY(ts != NULL) ? ts : green__thread_create(api);
}

static inline void set_current(struct green_thread *ts, struct green *g)
{
    __atomic_store_n(&ts->core.current, g, __ATOMIC_RELAXED); /* see set_state */
}

#endif /* GREEN_CORE_THREAD_H */
