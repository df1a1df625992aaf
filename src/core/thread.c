/* Per-thread state: the implicit main greenlet, error messages, and release at thread exit. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "debug_hooks.h"
#include "internal.h"

_Thread_local struct green_thread *green_tls __attribute__((tls_model("initial-exec")));

/* Kept apart from green_tls so that a failure to create the thread state can be described. */
static _Thread_local char last_error[256];

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void thread_exit(void *arg);

static void make_exit_key(void)
{
    if (pthread_key_create(&exit_key, thread_exit) != 0)
        green_fatal("libgreen: cannot create the thread-exit key");
}

#ifdef GREEN_ASAN
static void asan_main_stack(struct green_thread *ts)
{
    pthread_attr_t attr;
    void *lo;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &lo, &size) == 0) {
            ts->main_stack_lo = lo;
            ts->main_stack_size = size;
        }
        pthread_attr_destroy(&attr);
    }
}
#endif

static struct green_thread *thread_init(void)
{
    struct green_thread *ts = calloc(1, sizeof *ts);
    if (!ts) {
        green_fail(ENOMEM, "libgreen: no memory for the thread's greenlet state");
        return NULL;
    }
    ts->self = pthread_self();
    ts->tid = (pid_t)syscall(SYS_gettid);
    ts->shared_size = GREEN_SHARED_STACK_DEFAULT;

    struct green *m = &ts->main;
    set_state(m, GS_ACTIVE);
    m->flags = GF_MAIN;
    m->refs = 1;
    m->thread = ts;
    m->stack_stop = (char *)-1; /* greenlet's main owns the whole C stack */
    m->id = green_next_id(ts);
#ifdef GREEN_ASAN
    asan_main_stack(ts);
#endif
#ifdef GREEN_TSAN
    m->tsan_fiber = __tsan_get_current_fiber();
#endif
    set_current(ts, m);

    pthread_once(&exit_key_once, make_exit_key);
    if (pthread_setspecific(exit_key, ts) != 0) {
        free(ts);
        green_fail(ENOMEM, "libgreen: cannot register the thread-exit hook");
        return NULL;
    }
    green_overflow_thread_init(ts);
    green_tls = ts;
    return ts;
}

struct green_thread *green_thread_get(void)
{
    struct green_thread *ts = green_tls;
    return likely(ts != NULL) ? ts : thread_init();
}

/* Thread exit: release every greenlet of the thread without running it (the thread is
 * going away; there is nobody left to switch back to).  Handles become invalid. */
static void thread_exit(void *arg)
{
    struct green_thread *ts = arg;
    if (ts->current != &ts->main) {
        /* pthread_exit() from inside a greenlet: we are running on one of the stacks we
         * would unmap.  Leak rather than crash, and say so. */
        char who[96];
        fprintf(stderr,
                "libgreen: thread %d exited inside greenlet %s, not its main greenlet; "
                "its greenlets and stacks are not released\n",
                (int)ts->tid, green_describe(ts->current, who, sizeof who));
        green_tls = NULL;
        return;
    }
    green_slots_release_all(ts);
    green_copy_release_all(ts);
    green_shared_release_all(ts);
    green_stacks_release_all(ts);
    green_overflow_thread_exit(ts);
    green_tls = NULL;
    free(ts->main.name);
    free(ts);
}

/* ---- errors ------------------------------------------------------------------------- */

int green_fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    errno = err;
    return -1;
}

void green_fatal(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof msg - 2)
        n = sizeof msg - 2;
    msg[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, msg, (size_t)n);
    (void)w;
    abort();
}

const char *green_last_error(void) { return last_error; }

const char *green_describe(const struct green *g, char *buf, size_t len)
{
    if (!g)
        snprintf(buf, len, "(null)");
    else if (g->name)
        snprintf(buf, len, "'%s' (id %llu)", g->name, (unsigned long long)g->id);
    else if (g->flags & GF_MAIN)
        snprintf(buf, len, "'main' (id %llu)", (unsigned long long)g->id);
    else
        snprintf(buf, len, "id %llu", (unsigned long long)g->id);
    return buf;
}

const char *green_describe_thread(const struct green_thread *ts, char *buf, size_t len)
{
    char name[32] = "";
    if (pthread_getname_np(ts->self, name, sizeof name) != 0)
        name[0] = 0;
    snprintf(buf, len, "'%s' (tid %d)", name, (int)ts->tid);
    return buf;
}

struct green *green_check(const green_t *cg, const char *api)
{
    struct green *g = (struct green *)cg;
    /* atomic: green_state() and friends may ask about another thread's greenlet */
    if (unlikely(__atomic_load_n(&g->state, __ATOMIC_RELAXED) == GS_FREE))
        green_fatal("libgreen: %s: greenlet %p was destroyed (use after green_destroy)", api,
                    (void *)g);
    if (unlikely(__atomic_load_n(&g->flags, __ATOMIC_RELAXED) & GF_RELEASED))
        green_fatal("libgreen: %s: greenlet %p (id %llu) was destroyed (use after green_destroy)",
                    api, (void *)g, (unsigned long long)g->id);
    return g;
}
