/* SPDX-License-Identifier: MIT */
/* Millions of greenlets, and what happens when a limit is truly reached.
 *
 *   - 10M shared-stack greenlets started and suspended at once (each switched back to main
 *     once), then all resumed to completion and destroyed;
 *   - 1M private-stack greenlets (16 KiB stacks) likewise, on a thread of their own, with
 *     the mapping count staying far below vm.max_map_count, and every stack unmapped
 *     when the thread exits;
 *   - at a real limit — address space (RLIMIT_AS), the mapping count, or the guard-page
 *     budget of a kernel without MADV_GUARD_INSTALL (simulated with seccomp) — creation
 *     fails with -1/NULL, errno ENOMEM and a message, nothing changes, and the process
 *     carries on: it resumes and destroys what it made and exits 0.  Those run in child
 *     processes.
 *
 * Counts are scaled by GREEN_TEST_SCALE (valgrind, qemu); the limit tests, which run until
 * failure, are skipped under valgrind and sanitizers (RLIMIT_AS and a full map table do
 * not mix with their runtimes).
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"


#define SMALL_STACK (16 * KiB)

/* ---- helpers ------------------------------------------------------------------------- */


static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Switches back to main once with its argument; resumed with v, returns ~v. */
static void *yield_once(void *arg)
{
    void *v = NULL;
    if (green_switch(green_main(), arg, &v) != 0)
        return NULL;
    return (void *)~(uintptr_t)v;
}

/* Failing is an outcome these tests look for, so they call green_new() directly: testutil's
 * new_green() would record the failure as a test failure. */
#define new_yielder(model, size)                                                          \
    green_new(yield_once, NULL, &(green_attr_t){.stack_model = (model), .stack_size = (size)})

/* ---- 10M shared / 1M private, each on a thread of its own ---------------------------- */

/* One run: n greenlets of a model started (each switches back to main once), then each
 * resumed to completion and destroyed.  On its own thread, so that everything the thread
 * kept (record slabs, pooled stacks, the shared region) goes away when it exits. */
struct run {
    int model;
    size_t stack_size;
    long n;
    long made;
    int failed_errno;
    char error[256];
    long peak_maps, rss_started, rss_finished;
    double t_start, t_finish;
    bool bad;
    char bad_what[256];
};

static void *run_thread(void *arg)
{
    struct run *r = arg;
    green_t **g = malloc((size_t)r->n * sizeof *g);
    if (!g) {
        snprintf(r->error, sizeof r->error, "no memory for %ld handles", r->n);
        return NULL;
    }
    double t0 = now();
    for (r->made = 0; r->made < r->n; r->made++) {
        green_t *x = new_yielder(r->model, r->stack_size);
        void *v = NULL;
        int rc = x ? green_switch(x, (void *)(uintptr_t)r->made, &v) : -1;
        if (rc != 0) {
            r->failed_errno = errno;
            snprintf(r->error, sizeof r->error, "%s", green_last_error());
            if (x)
                green_destroy(x);
            break;
        }
        if (v != (void *)(uintptr_t)r->made && !r->bad) {
            r->bad = true;
            snprintf(r->bad_what, sizeof r->bad_what, "#%ld switched back %p", r->made, v);
        }
        g[r->made] = x;
    }
    r->t_start = now() - t0;
    r->peak_maps = count_maps();
    r->rss_started = statm_field(1);
    if (r->made > 0 && green_state(g[r->made - 1]) !=
                           (int)(GREEN_STARTED | GREEN_ACTIVE |
                                 (r->model == GREEN_STACK_SHARED ? GREEN_SHARED : 0))) {
        r->bad = true;
        snprintf(r->bad_what, sizeof r->bad_what, "state %#x", green_state(g[r->made - 1]));
    }
    t0 = now();
    for (long i = 0; i < r->made; i++) {
        void *v = NULL;
        int rc = green_switch(g[i], (void *)(uintptr_t)(i * 7), &v);
        if ((rc != 0 || v != (void *)~(uintptr_t)(i * 7) || !green_dead(g[i]) ||
             green_destroy(g[i]) != 0) &&
            !r->bad) {
            r->bad = true;
            snprintf(r->bad_what, sizeof r->bad_what, "finishing #%ld: rc %d: %s", i, rc,
                     green_last_error());
        }
    }
    r->t_finish = now() - t0;
    r->rss_finished = statm_field(1);
    free(g);
    return NULL;
}

static void run_on_thread(struct run *r)
{
    pthread_t t;
    int rc = pthread_create(&t, NULL, run_thread, r);
    if (rc != 0)
        fail_msg("pthread_create: %s", strerror(rc));
    pthread_join(t, NULL);
}

static void report(const char *what, const struct run *r, long maps0, long maps_after)
{
    print_message("  %ld %s: started in %.1fs, finished+destroyed in %.1fs; RSS %ld MiB "
                  "started, %ld MiB after destroying; mappings %ld -> %ld (max %ld) -> %ld "
                  "after thread exit\n",
                  r->made, what, r->t_start, r->t_finish, r->rss_started / 1024,
                  r->rss_finished / 1024, maps0, r->peak_maps, max_map_count(), maps_after);
}

static void test_ten_million_shared(void **state)
{
    (void)state;
    struct run r = {.model = GREEN_STACK_SHARED, .n = scaled(10 * 1000 * 1000, 1000)};
    long maps0 = count_maps();
    run_on_thread(&r);
    long maps_after = count_maps();
    report("shared", &r, maps0, maps_after);
    if (r.made != r.n)
        fail_msg("only %ld of %ld shared greenlets could be started: errno %d: %s", r.made,
                 r.n, r.failed_errno, r.error);
    if (r.bad)
        fail_msg("%s", r.bad_what);
    assert_in_range(r.peak_maps, 0, max_map_count() / 4);
    if (RUNNING_ON_VALGRIND || UNDER_SANITIZER)
        return; /* their runtimes map memory of their own, per thread */
    /* Shared greenlets cost heap, not mappings; the thread's exit returns the region. */
    assert_in_range(r.peak_maps, 0, maps0 + 64);
    assert_in_range(maps_after, 0, maps0 + 8);
}

static void test_million_private(void **state)
{
    (void)state;
    struct run r = {.model = GREEN_STACK_PRIVATE, .stack_size = SMALL_STACK,
                    .n = scaled(1000 * 1000, 1000)};
    long maps0 = count_maps();
    run_on_thread(&r);
    long maps_after = count_maps();
    report("private (16 KiB)", &r, maps0, maps_after);
    if (r.made != r.n && r.made >= 20000 && r.failed_errno == ENOMEM &&
        strstr(r.error, "guard budget")) {
        /* A kernel without MADV_GUARD_INSTALL (before 6.13, or qemu-user): guard pages
         * split mappings, and the library stops cleanly at its documented budget. */
        printf("note: no guard markers here; stopped cleanly after %ld guarded stacks: %s\n",
               r.made, r.error);
        assert_false(r.bad);
        return;
    }
    if (r.made != r.n)
        fail_msg("only %ld of %ld private greenlets could be started: errno %d: %s", r.made,
                 r.n, r.failed_errno, r.error);
    if (r.bad)
        fail_msg("%s", r.bad_what);
    /* Far below the limit: a mapping (or two) per stack would be ~n. */
    assert_in_range(r.peak_maps, 0, max_map_count() / 4);
    if (RUNNING_ON_VALGRIND || UNDER_SANITIZER)
        return; /* their runtimes map memory of their own, per thread */
    /* The exiting thread returned its stacks. */
    assert_in_range(maps_after, 0, maps0 + 8);
}

/* ---- memory goes back ----------------------------------------------------------------- */

static void *yield_to_main(void *arg)
{
    green_switch(green_main(), arg, NULL);
    return arg;
}

/* A long-lived thread that peaks at many suspended greenlets and then destroys them gets
 * the records and slice buffers back (not only at thread exit). */
static void test_memory_returned(void **state)
{
    (void)state;
    if (RUNNING_ON_VALGRIND || UNDER_SANITIZER)
        skip(); /* their allocators and shadow memory make RSS meaningless */
    long n = scaled(500 * 1000, 20000);
    green_t **g = malloc((size_t)n * sizeof *g);
    assert_non_null(g);
    memset(g, 0, (size_t)n * sizeof *g);
    long before = statm_field(1);
    for (long i = 0; i < n; i++) {
        g[i] = new_green(yield_to_main, NULL, GREEN_STACK_SHARED, 0, NULL);
        assert_non_null(g[i]);
        assert_int_equal(green_switch(g[i], NULL, NULL), 0);
    }
    long peak = statm_field(1);
    for (long i = 0; i < n; i++)
        assert_int_equal(green_destroy(g[i]), 0);
    long after = statm_field(1);
    free(g);
    printf("%ld suspended shared greenlets: RSS +%ld KiB at the peak, +%ld KiB after "
           "destroying them\n", n, peak - before, after - before);
    assert_true(peak - before > n / 10); /* at least 100 bytes each: they were there */
    assert_true(after - before < (peak - before) / 5);
}

/* ---- limits -------------------------------------------------------------------------- */

/* The limit tests run in a fresh process: this program exec'd with --limit-child MODE (a
 * forked child would inherit the parent's heap and free greenlet records, and cmocka's
 * signal handlers).  The child reports on stderr and by exit status. */

#define CHILD_FAIL(...)                                                                   \
    do {                                                                                  \
        fprintf(stderr, "child: " __VA_ARGS__);                                           \
        fprintf(stderr, " [line %d]\n", __LINE__);                                        \
        _exit(3);                                                                         \
    } while (0)

#define CAP (10L * 1000 * 1000) /* give up (and fail) after this many without a limit */

static green_t **handles; /* CAP handles, allocated before any limit is imposed */

static void alloc_handles(void)
{
    handles = mmap(NULL, CAP * sizeof *handles, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (handles == MAP_FAILED)
        CHILD_FAIL("no memory for the handles");
}

/* What stopped a run of creations: the call that failed (NULL: none did), its errno and
 * green_last_error(). */
struct stop {
    const char *where;
    int err;
    char msg[256];
};

static void note_stop(struct stop *s, const char *where)
{
    s->err = errno;
    snprintf(s->msg, sizeof s->msg, "%s", green_last_error());
    s->where = where;
}

/* x could not be started (rc, *result left at v): nothing may have happened.  It is
 * still unstarted, we are still main, and it can be destroyed. */
static void check_refused_start(green_t *x, int model, int rc, void *v)
{
    if (rc != -1)
        CHILD_FAIL("green_switch returned %d, not -1", rc);
    if (v != (void *)0x1234)
        CHILD_FAIL("a refused switch changed *result");
    int expect = model == GREEN_STACK_SHARED ? (int)GREEN_SHARED : 0;
    if (green_state(x) != expect)
        CHILD_FAIL("the greenlet that could not start has state %#x", green_state(x));
    if (green_current() != green_main())
        CHILD_FAIL("no longer on main");
    if (green_destroy(x) != 0)
        CHILD_FAIL("destroying the unstarted greenlet: %s", green_last_error());
}

/* Create and start greenlets into handles[] until a call fails or `cap` were made;
 * returns how many were made. */
static long make_until_failure(int model, long cap, struct stop *stop)
{
    long n = 0;
    for (; n < cap; n++) {
        errno = 0;
        green_t *x = new_yielder(model, SMALL_STACK);
        if (!x) {
            note_stop(stop, "green_new");
            break;
        }
        void *v = (void *)0x1234;
        int rc = green_switch(x, (void *)(uintptr_t)n, &v);
        if (rc != 0) {
            note_stop(stop, "green_switch");
            check_refused_start(x, model, rc, v);
            break;
        }
        if (v != (void *)(uintptr_t)n)
            CHILD_FAIL("greenlet %ld switched back %p", n, v);
        handles[n] = x;
    }
    return n;
}

/* The failure (if any) was a clean ENOMEM with a message. */
static void check_stop(const struct stop *stop, long n, bool must_fail)
{
    long maps_at_failure = count_maps();
    if (!stop->where && must_fail)
        CHILD_FAIL("no limit reached after %ld greenlets", n);
    if (!stop->where)
        fprintf(stderr, "all %ld greenlets made (%ld mappings)\n", n, maps_at_failure);
    else if (stop->err != ENOMEM)
        CHILD_FAIL("%s failed after %ld greenlets with errno %d (%s), not ENOMEM: %s",
                   stop->where, n, stop->err, strerror(stop->err), stop->msg);
    else if (strlen(stop->msg) < 10 || !strstr(stop->msg, "libgreen"))
        CHILD_FAIL("%s failed without a proper green_last_error(): \"%s\"", stop->where,
                   stop->msg);
    else
        fprintf(stderr, "%s failed after %ld greenlets (%ld mappings): %s\n", stop->where, n,
                maps_at_failure, stop->msg);
}

/* Everything made so far still works: resume each to completion and destroy it. */
static void finish_all(long n)
{
    for (long i = 0; i < n; i++) {
        void *v = NULL;
        int rc = green_switch(handles[i], (void *)(uintptr_t)(i + 1), &v);
        if (rc != 0 || v != (void *)~(uintptr_t)(i + 1) || !green_dead(handles[i]))
            CHILD_FAIL("resuming #%ld of %ld: rc %d errno %d: %s", i, n, rc, errno,
                       green_last_error());
        if (green_destroy(handles[i]) != 0)
            CHILD_FAIL("destroying #%ld: %s", i, green_last_error());
    }
}

/* And a new greenlet works again. */
static void check_one_more(int model)
{
    green_t *x = new_yielder(model, SMALL_STACK);
    void *v = NULL;
    if (!x || green_switch(x, (void *)5, &v) != 0 || v != (void *)5 ||
        green_switch(x, (void *)6, &v) != 0 || v != (void *)~(uintptr_t)6 ||
        green_destroy(x) != 0)
        CHILD_FAIL("a greenlet after the cleanup failed: %s", green_last_error());
}

/* Create and start greenlets until a call fails (or `cap` were made: a failure only if
 * must_fail); check the failure; give the process room again (after_fail); resume and
 * destroy everything; make one more; exit 0. */
static void until_failure(int model, void (*after_fail)(void), long cap, bool must_fail)
{
    struct stop stop = {0};
    long n = make_until_failure(model, cap, &stop);
    check_stop(&stop, n, must_fail);
    after_fail();
    finish_all(n);
    check_one_more(model);
    _exit(0);
}

/* Address space: RLIMIT_AS at what the process uses now plus `room`, of which `keep` bytes
 * are ballast, given back after the failure (as a real program would drop caches). */
static void *ballast;
static size_t ballast_size;

static void drop_ballast(void)
{
    munmap(ballast, ballast_size);
    ballast = NULL;
}

static void limit_address_space(size_t room, size_t keep)
{
    long vm_kib = statm_field(0);
    if (vm_kib < 0)
        CHILD_FAIL("cannot read /proc/self/statm");
    struct rlimit rl = {(rlim_t)vm_kib * 1024 + room, RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        CHILD_FAIL("setrlimit: %s", strerror(errno));
    ballast_size = keep;
    ballast = mmap(NULL, keep, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ballast == MAP_FAILED)
        CHILD_FAIL("ballast: %s", strerror(errno));
}

/* The map table: filled up to a little below vm.max_map_count with 1-page mappings that
 * cannot merge; unmapped after the failure. */
static char *filler;
static size_t filler_size;

static void drop_filler(void)
{
    munmap(filler, filler_size);
    filler = NULL;
}

static void fill_map_table(long leave)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    long max = max_map_count(), want = max - leave - count_maps();
    if (want < 2)
        CHILD_FAIL("the map table is already full");
    long pairs = want / 2 + 1;
    filler_size = (size_t)pairs * 2 * page;
    filler = mmap(NULL, filler_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                  -1, 0);
    if (filler == MAP_FAILED)
        CHILD_FAIL("filler: %s", strerror(errno));
    /* Every other page writable: each mprotect splits off two mappings. */
    for (long i = 0, made = 0; i < pairs && made < want; i++, made += 2)
        if (mprotect(filler + (size_t)(2 * i + 1) * page, page, PROT_READ | PROT_WRITE) != 0)
            break;
    fprintf(stderr, "map table filled: %ld of %ld; ", count_maps(), max);
}

/* A kernel without MADV_GUARD_INSTALL (before 6.13), simulated: madvise(..., 102) fails
 * with EINVAL, so libgreen guards stacks with mprotect, which costs mappings. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

static int deny_guard_markers(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_madvise, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MADV_GUARD_INSTALL, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static void old_kernel(long n)
{
    struct run r = {.model = GREEN_STACK_PRIVATE, .stack_size = SMALL_STACK, .n = n};
    pthread_t t;
    if (pthread_create(&t, NULL, run_thread, &r) != 0)
        CHILD_FAIL("pthread_create");
    pthread_join(t, NULL);
    fprintf(stderr, "without guard markers: %ld of %ld private greenlets, peak mappings %ld",
            r.made, r.n, r.peak_maps);
    if (r.made < r.n) {
        fprintf(stderr, "; then: %s", r.error);
        if (r.failed_errno != ENOMEM || !strstr(r.error, "libgreen"))
            CHILD_FAIL(" - errno %d, not ENOMEM with a message", r.failed_errno);
        if (r.made < 1000)
            CHILD_FAIL(" - too few");
    }
    fprintf(stderr, "\n");
    if (r.bad)
        CHILD_FAIL("%s", r.bad_what);
    if (r.peak_maps >= max_map_count() - 1000)
        CHILD_FAIL("the map table (nearly) filled up");
}

static int limit_child(const char *mode, const char *arg)
{
    alloc_handles();
    /* Simulate an old kernel before libgreen's first guard. */
    if (strncmp(mode, "old-kernel", 10) == 0 && deny_guard_markers() != 0)
        return 77; /* no seccomp here */
    if (strcmp(mode, "old-kernel") == 0) {
        old_kernel(atol(arg));
        return 0;
    }
    green_current(); /* libgreen's per-thread setup, before any limit */
    if (strcmp(mode, "rlimit-private") == 0) {
        limit_address_space(256 * MiB, 32 * MiB);
        until_failure(GREEN_STACK_PRIVATE, drop_ballast, CAP, true);
    } else if (strcmp(mode, "rlimit-shared") == 0) {
        limit_address_space(96 * MiB, 16 * MiB);
        until_failure(GREEN_STACK_SHARED, drop_ballast, CAP, true);
    } else if (strcmp(mode, "old-kernel-map-count") == 0) {
        /* mprotect guards split mappings: a full table is a hard limit. */
        fill_map_table(40);
        until_failure(GREEN_STACK_PRIVATE, drop_filler, CAP, true);
    } else if (strcmp(mode, "map-count") == 0) {
        /* Guard markers split nothing and chunks merge: a full table may not stop
         * private greenlets at all.  Either way, no crash. */
        fill_map_table(40);
        until_failure(GREEN_STACK_PRIVATE, drop_filler, atol(arg), false);
    }
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}

/* Run this program as `--limit-child mode arg`; returns its wait status, stderr in err. */
static int spawn_limit_child(const char *mode, const char *arg, char *err, size_t len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fileno(f), STDERR_FILENO);
        char *argv[] = {"test_scale", "--limit-child", (char *)mode, (char *)arg, NULL};
        execv("/proc/self/exe", argv);
        fprintf(stderr, "cannot exec this program: %s\n", strerror(errno));
        _exit(127);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    rewind(f);
    size_t n = fread(err, 1, len - 1, f);
    err[n] = 0;
    fclose(f);
    return st;
}

static void skip_if_instrumented(void)
{
    if (RUNNING_ON_VALGRIND || UNDER_SANITIZER) {
        print_message("  skipped under valgrind / sanitizers\n");
        skip();
    }
}

static void expect_limit_child(const char *mode, const char *arg)
{
    skip_if_instrumented();
    char err[8192];
    int st = spawn_limit_child(mode, arg, err, sizeof err);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        print_message("  not possible here: skipped\n");
        skip();
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127 && strstr(err, "cannot exec")) {
        /* qemu-user without binfmt_misc (cross builds), where the process's limits would
         * be qemu's anyway. */
        print_message("  %s  skipped\n", err);
        skip();
    }
    if (WIFSIGNALED(st))
        fail_msg("%s: the child was killed by signal %d: %s", mode, WTERMSIG(st), err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("%s: the child exited with %d: %s", mode, WEXITSTATUS(st), err);
    print_message("  %s", err);
}

static void test_limit_address_space_private(void **state)
{
    (void)state;
    expect_limit_child("rlimit-private", "");
}

static void test_limit_address_space_shared(void **state)
{
    (void)state;
    expect_limit_child("rlimit-shared", "");
}

static void test_limit_map_count(void **state)
{
    (void)state;
    char n[32];
    snprintf(n, sizeof n, "%ld", scaled(200 * 1000, 1000));
    expect_limit_child("map-count", n);
}

static void test_limit_map_count_old_kernel(void **state)
{
    (void)state;
    expect_limit_child("old-kernel-map-count", "");
}

/* Either all greenlets are made, or creation fails cleanly with ENOMEM — never a crash,
 * and never a full map table. */
static void test_limit_old_kernel_guard_budget(void **state)
{
    (void)state;
    char n[32];
    snprintf(n, sizeof n, "%ld", scaled(1000 * 1000, 1000));
    expect_limit_child("old-kernel", n);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--limit-child") == 0)
        return limit_child(argv[2], argc > 3 ? argv[3] : "");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ten_million_shared),
        cmocka_unit_test(test_million_private),
        cmocka_unit_test(test_memory_returned),
        cmocka_unit_test(test_limit_address_space_private),
        cmocka_unit_test(test_limit_address_space_shared),
        cmocka_unit_test(test_limit_map_count),
        cmocka_unit_test(test_limit_map_count_old_kernel),
        cmocka_unit_test(test_limit_old_kernel_guard_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
