/* SPDX-License-Identifier: MIT */
/* Knowing when a signal handler runs: a patched call made from one must be libc's (a
 * handler cannot park, and the greenlet it interrupted may be anywhere in the hub).
 * sigaction and signal install the program's handler behind a trampoline that counts the
 * handlers running on this thread (patch_in_signal); sigaction reports the program's own
 * handler back.  A handler that leaves by longjmp never decrements the count, and that
 * thread's calls stay libc's from then on (docs/patching.md). */
#include <errno.h>
#include <string.h>

#include "patch.h"

_Thread_local unsigned patch_in_signal;

/* The program's action per signal, when the trampoline stands in for it. */
static struct {
    void (*fn)(void); /* sa_handler or sa_sigaction, read once per delivery */
    int flags;        /* the program's sa_flags */
    bool wrapped;
} actions[NSIG];

static void trampoline(int sig, siginfo_t *info, void *uc)
{
    int flags = __atomic_load_n(&actions[sig].flags, __ATOMIC_RELAXED);
    void (*fn)(void) = __atomic_load_n(&actions[sig].fn, __ATOMIC_ACQUIRE);
    patch_in_signal++;
    if (flags & SA_SIGINFO)
        ((void (*)(int, siginfo_t *, void *))fn)(sig, info, uc);
    else
        ((void (*)(int))fn)(sig);
    patch_in_signal--;
}

static bool is_handler(const struct sigaction *act)
{
    return (act->sa_flags & SA_SIGINFO) ||
           (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN);
}

PATCH_API int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (sig <= 0 || sig >= NSIG)
        return NEXT(sigaction)(sig, act, old);
    struct sigaction prev, mine;
    const struct sigaction *use = act;
    if (act && is_handler(act) && !(act->sa_flags & SA_RESETHAND)) {
        mine = *act;
        mine.sa_flags |= SA_SIGINFO;
        mine.sa_sigaction = trampoline;
        use = &mine;
    }
    /* A one-shot handler (SA_RESETHAND) is installed as it is: the kernel resets it to
     * SIG_DFL, which the trampoline's table could not follow. */
    bool was = actions[sig].wrapped;
    void (*was_fn)(void) = actions[sig].fn;
    int was_flags = actions[sig].flags;
    if (use == &mine) {
        __atomic_store_n(&actions[sig].flags, act->sa_flags, __ATOMIC_RELAXED);
        void (*fn)(void) = act->sa_flags & SA_SIGINFO ? (void (*)(void))act->sa_sigaction
                                                      : (void (*)(void))act->sa_handler;
        __atomic_store_n(&actions[sig].fn, fn, __ATOMIC_RELEASE);
    }
    int rc = NEXT(sigaction)(sig, use, &prev);
    if (rc < 0) {
        int e = errno;
        actions[sig].fn = was_fn;
        actions[sig].flags = was_flags;
        errno = e;
        return -1;
    }
    if (act)
        actions[sig].wrapped = use == &mine;
    if (old) {
        *old = prev;
        if (was && prev.sa_sigaction == trampoline) {
            old->sa_flags = was_flags;
            if (was_flags & SA_SIGINFO)
                old->sa_sigaction = (void (*)(int, siginfo_t *, void *))was_fn;
            else
                old->sa_handler = (void (*)(int))was_fn;
        }
    }
    return 0;
}

/* glibc's signal() calls its sigaction internally: BSD semantics, as glibc's. */
PATCH_API sighandler_t signal(int sig, sighandler_t fn)
{
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = fn;
    act.sa_flags = SA_RESTART;
    sigemptyset(&act.sa_mask);
    sigaddset(&act.sa_mask, sig);
    if (sigaction(sig, &act, &old) < 0)
        return SIG_ERR;
    return old.sa_handler;
}
