/* SPDX-License-Identifier: MIT */
/* Helper for test_overflow: misbehaves in one of several ways, chosen by argv[1], and lets
 * test_overflow check how the process dies.  It is exec'd (not just forked) so that no
 * cmocka signal handler is installed.
 *
 *   overflow_child private [SIZE]       recurse without end in a private greenlet
 *                                        named "ovf-private" with stack_size SIZE (0: default)
 *   overflow_child private-noname SIZE  the same, unnamed
 *   overflow_child shared REGION        the same in a shared greenlet "ovf-shared", with the
 *                                        thread's shared region set to REGION bytes
 *   overflow_child thread SIZE          private overflow of "ovf-thread" on a second thread
 *   overflow_child own-altstack SIZE    private overflow of "ovf-altstack"; the program set
 *                                        up its own alternate signal stack first
 *   overflow_child null                 NULL store in a private greenlet (not an overflow)
 *   overflow_child null-shared          NULL store in a shared greenlet
 *   overflow_child null-main            NULL store on the main greenlet, libgreen in use
 *   overflow_child chain-siginfo        the program installed an SA_SIGINFO SIGSEGV handler
 *                                        before libgreen; a greenlet, then main, touch a
 *                                        PROT_NONE page; the handler unprotects it
 *   overflow_child chain-plain          the same with a plain sa_handler
 *
 * Before misbehaving in a greenlet it prints "id=<greenlet id>" on stdout (flushed).
 * Exit codes: 0 success (chain modes), 2 usage, 3 a check failed, 4 survived an overflow.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "testutil.h"

#define NOINLINE __attribute__((noinline))

static volatile long depth_limit = (long)1 << 40; /* never reached; keeps gcc quiet */
/* 16, not 0: a store through a NULL struct pointer's field.  (A plain NULL store would be
 * stopped by UBSAN's null check before it faults.) */
static volatile uintptr_t null_field = 16;

static NOINLINE long recurse(long depth)
{
    volatile char frame[512];
    frame[0] = (char)depth;
    frame[sizeof frame - 1] = (char)(depth >> 8);
    if (depth > depth_limit)
        return 0;
    long r = recurse(depth + 1); /* not a tail call: the sum below needs the frame */
    return r + frame[0] + frame[sizeof frame - 1];
}

static void *overflow_body(void *arg)
{
    (void)arg;
    recurse(0);
    fprintf(stderr, "overflow_child: survived the recursion\n");
    exit(4);
}

static void *null_body(void *arg)
{
    (void)arg;
    *(volatile int *)null_field = 42;
    fprintf(stderr, "overflow_child: survived a NULL store\n");
    exit(4);
}

static void die(const char *what)
{
    fprintf(stderr, "overflow_child: %s: %s (%s)\n", what, strerror(errno), green_last_error());
    exit(3);
}

/* Make a greenlet, announce its id, and switch into it (does not come back). */
static void run_greenlet(green_fn fn, int model, size_t size, const char *name)
{
    green_t *g = new_green(fn, NULL, model, size, name);
    if (!g)
        die("green_new");
    printf("id=%llu\n", (unsigned long long)green_id(g));
    fflush(stdout);
    if (green_switch(g, NULL, NULL) != 0)
        die("green_switch");
    fprintf(stderr, "overflow_child: the greenlet came back\n");
    exit(3);
}

static size_t thread_stack_size;

static void *thread_main(void *arg)
{
    (void)arg;
    run_greenlet(overflow_body, GREEN_STACK_PRIVATE, thread_stack_size, "ovf-thread");
    return NULL;
}

/* ---- chaining ------------------------------------------------------------------------ */

static char *trap_page;
static volatile sig_atomic_t handler_calls, handler_bad;

static void unprotect(void)
{
    if (mprotect(trap_page, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE) != 0)
        handler_bad = 1;
}

static void app_siginfo(int sig, siginfo_t *info, void *uctx)
{
    (void)uctx;
    handler_calls++;
    if (sig != SIGSEGV || info->si_addr != (void *)trap_page)
        handler_bad = 1;
    unprotect(); /* the faulting store is retried and succeeds */
}

static void app_plain(int sig)
{
    handler_calls++;
    if (sig != SIGSEGV)
        handler_bad = 1;
    unprotect();
}

static void *touch_trap(void *arg)
{
    volatile char *p = trap_page; /* volatile: ordered with the handler's counters */
    p[0] = 7;                      /* faults; the application's handler fixes it */
    return (void *)((intptr_t)arg + p[0]);
}

static int chain(bool siginfo)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    trap_page = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (trap_page == MAP_FAILED)
        die("mmap");
    /* The application's handler comes first; libgreen installs its own at first use. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    if (siginfo) {
        sa.sa_sigaction = app_siginfo;
        sa.sa_flags = SA_SIGINFO;
    } else {
        sa.sa_handler = app_plain;
    }
    if (sigaction(SIGSEGV, &sa, NULL) != 0)
        die("sigaction");

    green_t *g = green_new(touch_trap, NULL, NULL);
    if (!g)
        die("green_new");
    void *r = NULL;
    if (green_switch(g, (void *)100, &r) != 0)
        die("green_switch");
    if ((intptr_t)r != 107 || handler_calls != 1)
        return fprintf(stderr, "in greenlet: result %ld, %d handler calls\n", (long)(intptr_t)r,
                       (int)handler_calls),
               3;
    green_destroy(g);
    /* And from the main greenlet. */
    if (mprotect(trap_page, page, PROT_NONE) != 0)
        die("mprotect");
    r = touch_trap((void *)1);
    if ((intptr_t)r != 8 || handler_calls != 2 || handler_bad)
        return fprintf(stderr, "in main: result %ld, %d handler calls, bad %d\n",
                       (long)(intptr_t)r, (int)handler_calls, (int)handler_bad),
               3;
    printf("chain ok calls=%d\n", (int)handler_calls);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: overflow_child MODE [SIZE]\n");
        return 2;
    }
    alarm(60); /* a hang dies of SIGALRM, which the test tells apart */
    const char *mode = argv[1];
    size_t size = argc > 2 ? (size_t)strtoull(argv[2], NULL, 0) : 0;

    if (strcmp(mode, "private") == 0)
        run_greenlet(overflow_body, GREEN_STACK_PRIVATE, size, "ovf-private");
    if (strcmp(mode, "private-noname") == 0)
        run_greenlet(overflow_body, GREEN_STACK_PRIVATE, size, NULL);
    if (strcmp(mode, "shared") == 0) {
        if (green_set_shared_stack_size(size) != 0)
            die("green_set_shared_stack_size");
        run_greenlet(overflow_body, GREEN_STACK_SHARED, 0, "ovf-shared");
    }
    if (strcmp(mode, "thread") == 0) {
        thread_stack_size = size;
        green_current(); /* libgreen set up on the main thread too */
        pthread_t t;
        if (pthread_create(&t, NULL, thread_main, NULL) != 0)
            die("pthread_create");
        pthread_join(t, NULL);
        return 3;
    }
    if (strcmp(mode, "own-altstack") == 0) {
        static char altstack[256 * 1024];
        stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
        if (sigaltstack(&ss, NULL) != 0)
            die("sigaltstack");
        run_greenlet(overflow_body, GREEN_STACK_PRIVATE, size, "ovf-altstack");
    }
    if (strcmp(mode, "null") == 0)
        run_greenlet(null_body, GREEN_STACK_PRIVATE, 0, "null-private");
    if (strcmp(mode, "null-shared") == 0)
        run_greenlet(null_body, GREEN_STACK_SHARED, 0, "null-shared");
    if (strcmp(mode, "null-main") == 0) {
        if (!green_current())
            die("green_current");
        printf("id=%llu\n", (unsigned long long)green_id(green_main()));
        fflush(stdout);
        null_body(NULL);
    }
    if (strcmp(mode, "chain-siginfo") == 0)
        return chain(true);
    if (strcmp(mode, "chain-plain") == 0)
        return chain(false);
    fprintf(stderr, "overflow_child: unknown mode %s\n", mode);
    return 2;
}
