/* SPDX-License-Identifier: MIT */
/* Error messages: refusals, fatal misuse, and descriptions of greenlets and threads. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "error.h"
#include "thread.h"

/* Kept apart from the thread state, so that a failure to create it can be described. */
static _Thread_local char last_error[256];

/* "libgreen: api: " into buf; returns its length. */
static int prefix(char *buf, size_t len, const char *api)
{
    int n = api ? snprintf(buf, len, "libgreen: %s: ", api) : snprintf(buf, len, "libgreen: ");
    return n < 0 ? 0 : (size_t)n >= len ? (int)len - 1 : n;
}

int green__fail(int err, const char *api, const char *fmt, ...)
{
    int n = prefix(last_error, sizeof last_error, api);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
    va_end(ap);
    errno = err;
    return -1;
}

void green__fatal(const char *api, const char *fmt, ...)
{
    char msg[512];
    int n = prefix(msg, sizeof msg - 1, api);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg + n, sizeof msg - 1 - (size_t)n, fmt, ap);
    va_end(ap);
    n += m < 0 ? 0 : m;
    if ((size_t)n > sizeof msg - 2)
        n = sizeof msg - 2;
    msg[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, msg, (size_t)n);
    (void)w;
    abort();
}

GREEN_API const char *green_last_error(void) { return last_error; }

const char *green__describe(const struct green *g, char *buf, size_t len)
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

const char *green__describe_thread(const struct green_thread *ts, char *buf, size_t len)
{
    char name[32] = "";
    if (pthread_getname_np(ts->core.self, name, sizeof name) != 0)
        name[0] = 0;
    snprintf(buf, len, "'%s' (tid %d)", name, (int)ts->core.tid);
    return buf;
}

int green__refuse_foreign(const struct green_thread *ts, const struct green *g, const char *api,
                          const char *role)
{
    char mine[GREEN_DESCRIBE_THREAD_MAX], theirs[GREEN_DESCRIBE_THREAD_MAX];
    /* by id only: the owner may be changing the name right now */
    return green__fail(EXDEV, api,
                       "%s id %llu belongs to thread %s, not to the calling thread %s; "
                       "greenlets cannot be used across threads",
                       role, (unsigned long long)g->id,
                       green__describe_thread(g->thread, theirs, sizeof theirs),
                       green__describe_thread(ts, mine, sizeof mine));
}

struct green *green__check(const green_t *cg, const char *api)
{
    struct green *g = (struct green *)cg;
    GREEN_ASSERT(g != NULL);
    if (GREEN_UNLIKELY(__atomic_load_n(&g->state, __ATOMIC_RELAXED) == GS_FREE))
        green__fatal(api, "greenlet %p was destroyed (use after green_destroy)", (void *)g);
    if (GREEN_UNLIKELY(__atomic_load_n(&g->flags, __ATOMIC_RELAXED) & GF_RELEASED))
        green__fatal(api, "greenlet %p (id %llu) was destroyed (use after green_destroy)",
                     (void *)g, (unsigned long long)g->id);
    return g;
}
