/* SPDX-License-Identifier: MIT */
/* Per-thread state: created by the first libgreen call of a thread, released at its exit.
 *
 * The state is made of parts (thread.h), initialised in the order of the table below and
 * terminated in reverse.  The order encodes the dependencies: records are freed first,
 * which gives their slice buffers back to the copy buffers, before those, the shared
 * region and the stack pools are unmapped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "sanitize.h"
#include "thread.h"

_Thread_local struct green_thread *green__tls __attribute__((tls_model("initial-exec")));
_Thread_local struct green_thread *green__tls_fast __attribute__((tls_model("initial-exec")));

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void thread_exit(void *arg);

static void make_exit_key(void)
{
    if (pthread_key_create(&exit_key, thread_exit) != 0)
        green__fatal(NULL, "cannot create the thread-exit key");
}

static int core_init(struct green_thread *ts)
{
    ts->core.self = pthread_self();
    ts->core.tid = (pid_t)syscall(SYS_gettid);
    struct green *m = &ts->core.main;
    set_state(m, GS_ACTIVE);
    m->flags = GF_MAIN;
    m->refs = 1;
    m->thread = ts;
    m->stack_stop = (char *)-1; /* greenlet's main owns the whole C stack */
    m->id = green__next_id(ts);
    san_thread_init(ts);
    set_current(ts, m);
    return 0;
}

static void core_term(struct green_thread *ts)
{
    free(ts->core.main.name);
    ts->core.main.name = NULL;
}

static const struct part {
    const char *name;
    int (*init)(struct green_thread *); /* NULL: zeroed memory is its initial state */
    void (*term)(struct green_thread *);
} parts[] = {
    {"core", core_init, core_term},       {"overflow", green__overflow_init, green__overflow_term},
    {"stacks", NULL, green__stacks_term}, {"shared", green__shared_init, green__shared_term},
    {"copies", NULL, green__copies_term}, {"records", NULL, green__records_term},
    {"hub", NULL, green__hub_term}, /* last: its term runs first, everything below exists */
};
#define NPARTS (sizeof parts / sizeof parts[0])

static void terminate_from(struct green_thread *ts, size_t n)
{
    while (n-- > 0)
        if (parts[n].term)
            parts[n].term(ts);
}

struct green_thread *green__thread_create(const char *api)
{
    GREEN_ASSERT(green__tls == NULL);
    struct green_thread *ts = calloc(1, sizeof *ts);
    if (!ts) {
        green__fail(ENOMEM, api, "no memory for the thread's greenlet state");
        return NULL;
    }
    for (size_t i = 0; i < NPARTS; i++) {
        if (parts[i].init && parts[i].init(ts) != 0) {
            int e = errno;
            terminate_from(ts, i);
            free(ts);
            green__fail(e, api, "cannot set up the thread's %s state", parts[i].name);
            return NULL;
        }
    }
    pthread_once(&exit_key_once, make_exit_key);
    if (pthread_setspecific(exit_key, ts) != 0) {
        terminate_from(ts, NPARTS);
        free(ts);
        green__fail(ENOMEM, api, "cannot register the thread-exit hook");
        return NULL;
    }
    green__tls = green__tls_fast = ts;
    return ts;
}

/* Thread exit: release every greenlet of the thread without running it (the thread is
 * going away; there is nobody left to switch back to).  Handles become invalid. */
static void thread_exit(void *arg)
{
    struct green_thread *ts = arg;
    if (ts->core.current != &ts->core.main) {
        /* pthread_exit() from inside a greenlet: we are running on one of the stacks we
         * would unmap.  Leak rather than crash, and say so. */
        char who[GREEN_DESCRIBE_MAX];
        fprintf(stderr,
                "libgreen: thread %d exited inside greenlet %s, not its main greenlet; "
                "its greenlets and stacks are not released\n",
                (int)ts->core.tid, green__describe(ts->core.current, who, sizeof who));
        green__hub_abandon();
        green__tls = green__tls_fast = NULL;
        return;
    }
    terminate_from(ts, NPARTS);
    green__tls = green__tls_fast = NULL;
    free(ts);
}
