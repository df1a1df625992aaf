/* SPDX-License-Identifier: MIT */
/* The mprotect guard budget is given back when guarded stacks are unmapped, also when the
 * process otherwise uses guard markers.
 *
 * With guard markers (MADV_GUARD_INSTALL, Linux 6.13) a private stack's guard costs no
 * mapping.  Memory locked by mlockall() cannot take markers (madvise fails with EINVAL), so
 * libgreen guards such a stack with mprotect(PROT_NONE) instead, which splits a mapping and
 * so draws on a process-wide budget of about (vm.max_map_count - headroom) / 2 guards.
 * Stacks come and go, so the budget must come back when they are unmapped.  Here threads
 * each start BATCH private greenlets (suspended at once, so that each needs a stack of its
 * own) and exit, which unmaps their pools, until more guards have been made in total than
 * the budget holds at any one time.  A budget that is not given back shows as ENOMEM
 * ("guard budget ... used up") although only BATCH stacks ever exist at once.
 *
 * All of it runs in a child process, so that mlockall() stays out of the other tests.
 */
#include <sys/mman.h>
#include <sys/resource.h>

#include "testutil.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define BATCH 1000
#define SMALL_STACK (16 * KiB)
#define THREAD_STACK (256 * KiB) /* every page of it is locked: keep it small */

/* Exit codes of the child beyond 0 (passed) and 3 (failed, reason on stderr). */
enum { SKIP_NO_MARKERS = 77, SKIP_NO_MLOCK = 78, SKIP_MARKERS_IN_LOCKED = 79 };

#define CHILD_FAIL(...)                                                                   \
    do {                                                                                  \
        fprintf(stderr, __VA_ARGS__);                                                     \
        fprintf(stderr, "\n");                                                            \
        _exit(3);                                                                         \
    } while (0)

/* The library's own estimate (stack_private.c), so the run is sure to exceed it. */
static long guard_budget(void)
{
    long max = max_map_count();
    long headroom = max / 8 > 4096 ? max / 8 : 4096;
    return max > headroom ? (max - headroom) / 2 : 0;
}

/* Does a guard marker installed at a fresh page make the kernel's own access fail?  (As
 * the library checks: an emulator may accept the advice and do nothing.)  Returns 0 when
 * markers work, else the errno of madvise (or EFAULT if it did nothing). */
static int marker_error(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        CHILD_FAIL("mmap: %s", strerror(errno));
    int err = 0;
    if (madvise(p, page, MADV_GUARD_INSTALL) != 0) {
        err = errno;
    } else {
        int fd[2];
        if (pipe(fd) != 0)
            CHILD_FAIL("pipe: %s", strerror(errno));
        if (write(fd[1], p, 1) >= 0 || errno != EFAULT)
            err = EFAULT;
        close(fd[0]);
        close(fd[1]);
    }
    munmap(p, page);
    return err;
}

static void *yield_once(void *arg)
{
    green_switch(green_main(), arg, NULL);
    return arg;
}

struct round {
    int failed_errno; /* 0: all BATCH started */
    long made;
    char error[256];
};

/* Start BATCH private greenlets and leave them suspended: the thread's exit releases them
 * and unmaps its stack pool. */
static void *round_thread(void *arg)
{
    struct round *r = arg;
    for (r->made = 0; r->made < BATCH; r->made++) {
        green_t *g = new_green(yield_once, NULL, GREEN_STACK_PRIVATE, SMALL_STACK, NULL);
        if (!g || green_switch(g, NULL, NULL) != 0) {
            r->failed_errno = errno;
            snprintf(r->error, sizeof r->error, "%s", green_last_error());
            break;
        }
    }
    return NULL;
}

static void run_round(struct round *r)
{
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    int rc = pthread_create(&t, &attr, round_thread, r);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        CHILD_FAIL("pthread_create: %s", strerror(rc));
    pthread_join(t, NULL);
}

static void lock_everything(void)
{
    /* Room to lock every stack chunk (mlockall populates them); a refusal is a skip. */
    struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
    setrlimit(RLIMIT_MEMLOCK, &unlimited); /* may fail; CAP_IPC_LOCK does as well */
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
        fprintf(stderr, "mlockall: %s", strerror(errno));
        _exit(SKIP_NO_MLOCK);
    }
    size_t probe = 4 * BATCH * (SMALL_STACK + 64 * KiB); /* rounds' worth of stack chunks */
    void *p = mmap(NULL, probe, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "cannot lock %zu MiB: %s", probe / MiB, strerror(errno));
        _exit(SKIP_NO_MLOCK);
    }
    munmap(p, probe);
}

static void budget_child(void *arg)
{
    const long *total = arg;
    int no_markers = marker_error();
    if (no_markers) {
        fprintf(stderr, "no guard markers here (%s)",
                no_markers == EFAULT ? "MADV_GUARD_INSTALL accepted but not enforced"
                                     : strerror(no_markers));
        _exit(SKIP_NO_MARKERS);
    }
    /* One private greenlet before locking: the library's first guard finds markers working
     * and settles in markers mode. */
    green_t *g = new_green(yield_once, NULL, GREEN_STACK_PRIVATE, SMALL_STACK, NULL);
    if (!g || green_switch(g, NULL, NULL) != 0 || green_switch(g, NULL, NULL) != 0 ||
        green_destroy(g) != 0)
        CHILD_FAIL("a greenlet before mlockall: %s", green_last_error());

    lock_everything();
    int e = marker_error();
    if (e == 0) {
        fprintf(stderr, "this kernel installs guard markers in locked memory: no fallback");
        _exit(SKIP_MARKERS_IN_LOCKED);
    }
    if (e != EINVAL)
        CHILD_FAIL("madvise(MADV_GUARD_INSTALL) on locked memory: %s, expected EINVAL",
                   strerror(e));

    long rounds = (*total + BATCH - 1) / BATCH;
    for (long i = 0; i < rounds; i++) {
        struct round r = {0};
        run_round(&r);
        if (r.failed_errno)
            CHILD_FAIL("round %ld of %ld, after %ld guarded stacks in all (%d at once): "
                       "errno %d (%s): %s",
                       i + 1, rounds, i * BATCH + r.made, BATCH, r.failed_errno,
                       strerror(r.failed_errno), r.error);
    }
    fprintf(stderr, "%ld rounds of %d locked private stacks", rounds, BATCH);
    _exit(0);
}

static bool skipped; /* then the program exits 77, which meson reports as SKIP */

static void test_mprotect_guard_budget_returned(void **state)
{
    (void)state;
    if (RUNNING_ON_VALGRIND || UNDER_SANITIZER) {
        /* mlockall would populate the runtime's shadow memory (terabytes of it). */
        print_message("  skipped: mlockall under valgrind or a sanitizer\n");
        skipped = true;
        skip();
    }
    long budget = guard_budget();
    /* GREEN_TEST_SCALE shrinks the margin, never below one batch over the budget. */
    long total = scaled(budget * 3 / 2, budget + BATCH);
    char err[4096];
    int st = run_in_child(budget_child, &total, err, sizeof err);
    if (WIFEXITED(st) && WEXITSTATUS(st) >= SKIP_NO_MARKERS &&
        WEXITSTATUS(st) <= SKIP_MARKERS_IN_LOCKED) {
        print_message("  skipped: %s\n", err);
        skipped = true;
        skip();
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("guard budget of ~%ld, %ld guarded stacks made: child status %#x: %s",
                 budget, total, st, err);
    print_message("  %s (%ld in all; budget ~%ld)\n", err, total, budget);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CHECKED_TEST(test_mprotect_guard_budget_returned),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    return failed ? failed : skipped ? 77 : 0;
}
