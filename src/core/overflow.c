/* SPDX-License-Identifier: MIT */
/* Stack overflow diagnostics.
 *
 * Every greenlet stack has a guard below it.  Running into it raises SIGSEGV on the
 * overflowing stack, which has no room left for a handler, so each thread gets an
 * alternate signal stack.  The handler checks whether the fault lies in the guard of the
 * current greenlet's stack; if so it prints which greenlet overflowed (name, id, stack
 * size), restores the default action and returns, so the fault repeats and the process
 * dies of SIGSEGV as usual (core dump included).  Any other fault goes to the handler that
 * was installed before ours.
 *
 * Only async-signal-safe calls here: write(2) and hand-made number formatting.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "overflow.h"
#include "thread.h"

#define GUARD_REACH GREEN_GUARD_BYTES /* a fault this far below a stack is an overflow */

static struct sigaction previous_segv, previous_bus;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

struct out {
    char buf[512];
    size_t len;
};

static void put(struct out *o, const char *s)
{
    while (*s && o->len < sizeof o->buf - 1)
        o->buf[o->len++] = *s++;
}

static void put_num(struct out *o, uintptr_t v, int base)
{
    char tmp[32];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % (uintptr_t)base];
        v /= (uintptr_t)base;
    } while (v);
    if (base == 16)
        put(o, "0x");
    while (n && o->len < sizeof o->buf - 1)
        o->buf[o->len++] = tmp[--n];
}

static void chain(const struct sigaction *prev, int sig, siginfo_t *info, void *uctx)
{
    if (prev->sa_flags & SA_SIGINFO) {
        if (prev->sa_sigaction) {
            prev->sa_sigaction(sig, info, uctx);
            return;
        }
    } else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
        return;
    }
    /* Default: let the fault repeat without us and kill the process. */
    signal(sig, SIG_DFL);
    if (info->si_code <= 0) /* sent by kill/tgkill/sigqueue: nothing repeats, deliver it */
        raise(sig);
}

static void on_fault(int sig, siginfo_t *info, void *uctx)
{
    struct green_thread *ts = green__tls;
    struct green *g = ts ? ts->core.current : NULL;
    const struct sigaction *prev = sig == SIGBUS ? &previous_bus : &previous_segv;
    if (!g || (g->flags & GF_MAIN) || info->si_code <= 0) {
        chain(prev, sig, info, uctx);
        return;
    }
    char *lo, *hi;
    const char *model;
    if (g->flags & GF_SHARED) {
        const struct green_region *r = green__region_of(&ts->shared, g);
        lo = r->map.lo;
        hi = lo + r->map.size;
        model = "shared stack region";
    } else {
        lo = g->stack_lo;
        hi = lo + g->stack_size;
        model = "private stack";
    }
    char *addr = info->si_addr;
    if (!lo || addr >= lo || addr < lo - GUARD_REACH) {
        chain(prev, sig, info, uctx);
        return;
    }
    struct out o = {.len = 0};
    put(&o, "libgreen: stack overflow in greenlet ");
    if (g->name) {
        put(&o, "'");
        put(&o, g->name);
        put(&o, "' ");
    }
    put(&o, "(id ");
    put_num(&o, (uintptr_t)g->id, 10);
    put(&o, ", ");
    put(&o, model);
    put(&o, " of ");
    put_num(&o, (uintptr_t)(hi - lo), 10);
    put(&o, " bytes at ");
    put_num(&o, (uintptr_t)lo, 16);
    put(&o, "): fault at ");
    put_num(&o, (uintptr_t)addr, 16);
    put(&o, ", ");
    put_num(&o, (uintptr_t)(lo - addr), 10);
    put(&o, " bytes below the stack\n");
    ssize_t w = write(STDERR_FILENO, o.buf, o.len);
    (void)w;
    signal(sig, SIG_DFL);
}

static void install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous_segv);
    sigaction(SIGBUS, &sa, &previous_bus);
}

int green__overflow_init(struct green_thread *ts)
{
    pthread_once(&install_once, install);
    stack_t current;
    if (sigaltstack(NULL, &current) == 0 && !(current.ss_flags & SS_DISABLE))
        return 0; /* the application has its own alternate stack; use it */
    size_t size = 64 * 1024, page = green__page_size();
    long min = sysconf(_SC_MINSIGSTKSZ);
    if (min > 0 && (size_t)min * 4 > size)
        size = ((size_t)min * 4 + page - 1) & ~(page - 1);
    struct green_stack_map *m = &ts->overflow.altstack;
    if (green__stack_map(m, size, GREEN_GUARD_BYTES, false) != 0)
        return 0; /* overflows will still kill the process, just without the message */
    stack_t ss = {.ss_sp = m->lo, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        green__stack_unmap(m);
    return 0;
}

void green__overflow_term(struct green_thread *ts)
{
    if (!ts->overflow.altstack.lo)
        return;
    stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    green__stack_unmap(&ts->overflow.altstack);
}
