/* Greenlets and threads.
 *
 *   - every thread has its own implicit main greenlet;
 *   - a greenlet belongs to the thread that made it: switching or throwing to it, making it
 *     a parent, destroying, re-parenting or renaming it from another thread is refused
 *     with EXDEV, a message naming both threads, and no state change; its state stays
 *     readable from anywhere;
 *   - a thread's greenlets (both stack models; unstarted, suspended, dead, destroyed) are
 *     released when it exits: no leak (valgrind / LeakSanitizer), no growth of the mapping
 *     count or of RSS over many threads;
 *   - several threads switching their own greenlets at the same time (run under TSAN too).
 *
 * Conventions: cmocka's assertions run only on the main greenlet of the test's main
 * thread.  Code running on greenlet stacks or on other threads records failures with
 * CHECK(), and the main thread reports them (a cmocka failure longjmps, which must not
 * cross stacks or threads).  Threads hand work over through mutex/condvar stages: no
 * sleeps, and nothing a race could decide.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define NOINLINE __attribute__((noinline))
#define ALL_BITS                                                                          \
    (GREEN_STARTED | GREEN_ACTIVE | GREEN_DEAD | GREEN_MAIN | GREEN_CURRENT | GREEN_SHARED)

/* ---- failures recorded off the main stack / thread ----------------------------------- */

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static int failures;
static char first_failure[512];

static void note_failure(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_failure(int line, const char *fmt, ...)
{
    pthread_mutex_lock(&fail_lock);
    if (failures++ == 0) {
        int n = snprintf(first_failure, sizeof first_failure, "line %d: ", line);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(first_failure + n, sizeof first_failure - (size_t)n, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&fail_lock);
}

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond))                                                                      \
            note_failure(__LINE__, "%s", #cond);                                          \
    } while (0)
#define CHECK_EQ(a, b)                                                                    \
    do {                                                                                  \
        long long a_ = (long long)(a), b_ = (long long)(b);                               \
        if (a_ != b_)                                                                     \
            note_failure(__LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);             \
    } while (0)

static int reset_failures(void **state)
{
    (void)state;
    pthread_mutex_lock(&fail_lock);
    failures = 0;
    first_failure[0] = 0;
    pthread_mutex_unlock(&fail_lock);
    return 0;
}

static void assert_no_failures(void)
{
    pthread_mutex_lock(&fail_lock);
    int n = failures;
    char msg[sizeof first_failure];
    memcpy(msg, first_failure, sizeof msg);
    pthread_mutex_unlock(&fail_lock);
    if (n)
        fail_msg("%d check(s) failed off the main stack, the first at %s", n, msg);
}

/* ---- thread hand-over ------------------------------------------------------------------ */

struct stage {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int value;
};
#define STAGE_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0}

static void stage_set(struct stage *s, int v)
{
    pthread_mutex_lock(&s->lock);
    s->value = v;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void stage_wait(struct stage *s, int v)
{
    pthread_mutex_lock(&s->lock);
    while (s->value < v)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    int rc = pthread_create(&t, NULL, fn, arg);
    if (rc != 0)
        fail_msg("pthread_create: %s", strerror(rc));
    return t;
}

static void join(pthread_t t)
{
    int rc = pthread_join(t, NULL);
    if (rc != 0)
        fail_msg("pthread_join: %s", strerror(rc));
}

/* ---- /proc ---------------------------------------------------------------------------- */

static long count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    long n = 0;
    int c;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, rss = -1;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &rss) != 2)
            rss = -1;
        fclose(f);
    }
    return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- small greenlet bodies -------------------------------------------------------------- */

/* Switches back to its parent with arg+1, and when resumed with v, returns v*2. */
static void *bounce(void *arg)
{
    void *v = NULL;
    int rc = green_switch(green_parent(green_current()), (void *)((intptr_t)arg + 1), &v);
    CHECK_EQ(rc, 0);
    return (void *)((intptr_t)v * 2);
}

static void *ret_arg(void *arg) { return arg; }

/* Recurses a little so that a suspended shared greenlet owns a real slice of stack. */
static NOINLINE intptr_t deep_bounce(int depth, intptr_t acc)
{
    volatile char pad[256];
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = (char)(depth + (int)i);
    if (depth == 0) {
        void *v = NULL;
        int rc = green_switch(green_parent(green_current()), (void *)acc, &v);
        CHECK_EQ(rc, 0);
        acc += (intptr_t)v;
    } else {
        acc = deep_bounce(depth - 1, acc + 1);
    }
    for (size_t i = 0; i < sizeof pad; i++)
        if (pad[i] != (char)(depth + (int)i)) {
            note_failure(__LINE__, "deep_bounce frame %d corrupted", depth);
            break;
        }
    return acc;
}

static void *deep_body(void *arg) { return (void *)deep_bounce((int)(intptr_t)arg, 0); }

static green_t *new_green(green_fn fn, green_t *parent, int model, size_t size, const char *name)
{
    green_attr_t a = GREEN_ATTR_INIT;
    a.stack_model = model;
    a.stack_size = size;
    a.name = name;
    green_t *g = green_new(fn, parent, &a);
    if (!g)
        note_failure(__LINE__, "green_new: %s", green_last_error());
    return g;
}

/* ==== 1. one implicit main greenlet per thread ============================================ */

#define MAIN_THREADS 8

struct main_probe {
    struct stage *release;
    green_t *main;
    uint64_t main_id;
    green_t *child;
    uint64_t child_id;
};

static void *check_current_is(void *arg)
{
    green_t *self = green_current();
    CHECK(self != green_main());
    CHECK(green_state(self) == (int)(GREEN_STARTED | GREEN_ACTIVE | GREEN_CURRENT));
    CHECK(green_parent(self) == arg);
    CHECK(green_state(green_main()) == (int)(GREEN_STARTED | GREEN_ACTIVE | GREEN_MAIN));
    return self;
}

static void *main_probe_thread(void *arg)
{
    struct main_probe *p = arg;
    green_t *m = green_main();
    CHECK(m != NULL);
    CHECK(green_current() == m);
    CHECK(green_main() == m); /* stable */
    CHECK(green_state(m) == (int)(GREEN_STARTED | GREEN_ACTIVE | GREEN_MAIN | GREEN_CURRENT));
    CHECK(green_parent(m) == NULL);
    CHECK(green_name(m) && strcmp(green_name(m), "main") == 0);
    CHECK(green_id(m) > 0);
    p->main = m;
    p->main_id = green_id(m);

    for (int model = 0; model < 2; model++) {
        green_t *g = new_green(check_current_is, NULL, model, 0, NULL);
        if (!g)
            return NULL;
        CHECK(green_parent(g) == m);
        void *r = NULL;
        CHECK_EQ(green_switch(g, m, &r), 0);
        CHECK(r == g);
        CHECK(green_current() == m);
        p->child = g;
        p->child_id = green_id(g);
        if (model == 0)
            CHECK_EQ(green_destroy(g), 0);
    }
    /* Stay alive (with the last child undestroyed) until every thread has looked, so
     * that distinct addresses mean distinct greenlets. */
    stage_wait(p->release, 1);
    return NULL;
}

static void test_main_per_thread(void **state)
{
    (void)state;
    struct stage release = STAGE_INIT;
    struct main_probe probes[MAIN_THREADS];
    pthread_t t[MAIN_THREADS];
    for (int i = 0; i < MAIN_THREADS; i++) {
        probes[i] = (struct main_probe){.release = &release};
        t[i] = spawn(main_probe_thread, &probes[i]);
    }
    /* The threads run while we check our own main. */
    green_t *mine = green_main();
    assert_non_null(mine);
    assert_ptr_equal(green_current(), mine);
    /* Wait until all have looked, then compare: all alive at once. */
    for (;;) {
        int done = 0;
        for (int i = 0; i < MAIN_THREADS; i++) {
            pthread_mutex_lock(&release.lock);
            done += probes[i].child_id != 0;
            pthread_mutex_unlock(&release.lock);
        }
        if (done == MAIN_THREADS)
            break;
        /* Not a sleep: every thread publishes under the lock below; wait for a change. */
        pthread_mutex_lock(&release.lock);
        pthread_cond_wait(&release.cond, &release.lock);
        pthread_mutex_unlock(&release.lock);
    }
    stage_set(&release, 1);
    for (int i = 0; i < MAIN_THREADS; i++)
        join(t[i]);
    assert_no_failures();
    for (int i = 0; i < MAIN_THREADS; i++) {
        assert_non_null(probes[i].main);
        assert_true(probes[i].main != mine);
        assert_true(probes[i].main_id != green_id(mine));
        for (int j = 0; j < i; j++) {
            assert_true(probes[i].main != probes[j].main);
            assert_true(probes[i].main_id != probes[j].main_id);
            assert_true(probes[i].child_id != probes[j].child_id);
            assert_true(probes[i].main_id != probes[j].child_id);
        }
    }
}

/* The probe threads publish child_id without the lock; make them publish under it and
 * signal, so the main thread's wait above is correct.  (Wrapper around the thread body.) */
static void *main_probe_thread_locked(void *arg)
{
    struct main_probe *p = arg;
    struct main_probe local = *p;
    local.release = p->release;
    /* Run the probe on a private copy, then publish under the stage lock. */
    struct stage *release = p->release;
    struct stage never = STAGE_INIT; /* the probe's own wait is done below instead */
    never.value = 1;
    local.release = &never;
    main_probe_thread(&local);
    pthread_mutex_lock(&release->lock);
    p->main = local.main;
    p->main_id = local.main_id;
    p->child = local.child;
    p->child_id = local.child_id ? local.child_id : (uint64_t)-1;
    pthread_cond_broadcast(&release->cond);
    while (release->value < 1)
        pthread_cond_wait(&release->cond, &release->lock);
    pthread_mutex_unlock(&release->lock);
    return NULL;
}

/* ==== 2. cross-thread use is refused ===================================================== */

struct foreign {
    struct stage st; /* 1: greenlets ready; 2: intruder done; 3: owner done */
    green_t *g_priv, *g_shared, *g_new, *g_dead, *owner_main;
    int s_priv, s_shared, s_new, s_dead, s_main;
};

static void *foreign_owner(void *arg)
{
    struct foreign *f = arg;
    pthread_setname_np(pthread_self(), "gl-owner");
    f->owner_main = green_main();
    f->g_priv = new_green(bounce, NULL, GREEN_STACK_PRIVATE, 0, "priv");
    f->g_shared = new_green(deep_body, NULL, GREEN_STACK_SHARED, 0, "shr");
    f->g_new = new_green(ret_arg, NULL, GREEN_STACK_PRIVATE, 0, "fresh");
    f->g_dead = new_green(ret_arg, NULL, GREEN_STACK_SHARED, 0, "gone");
    if (!f->g_priv || !f->g_shared || !f->g_new || !f->g_dead) {
        stage_set(&f->st, 3);
        return NULL;
    }
    void *v = NULL;
    CHECK_EQ(green_switch(f->g_priv, (void *)10, &v), 0);
    CHECK(v == (void *)11);
    CHECK_EQ(green_switch(f->g_shared, (void *)4, &v), 0);
    CHECK(v == (void *)4);
    CHECK_EQ(green_switch(f->g_dead, (void *)7, &v), 0);
    CHECK(v == (void *)7);
    f->s_priv = green_state(f->g_priv);
    f->s_shared = green_state(f->g_shared);
    f->s_new = green_state(f->g_new);
    f->s_dead = green_state(f->g_dead);
    f->s_main = green_state(f->owner_main);
    CHECK_EQ(f->s_priv, GREEN_STARTED | GREEN_ACTIVE);
    CHECK_EQ(f->s_shared, GREEN_STARTED | GREEN_ACTIVE | GREEN_SHARED);
    CHECK_EQ(f->s_new, 0);
    CHECK_EQ(f->s_dead, GREEN_STARTED | GREEN_DEAD | GREEN_SHARED);
    CHECK_EQ(f->s_main, GREEN_STARTED | GREEN_ACTIVE | GREEN_MAIN | GREEN_CURRENT);

    stage_set(&f->st, 1);
    stage_wait(&f->st, 2);

    /* Nothing the intruder tried changed anything: every greenlet carries on. */
    CHECK_EQ(green_state(f->g_priv), f->s_priv);
    CHECK_EQ(green_state(f->g_shared), f->s_shared);
    CHECK_EQ(green_state(f->g_new), f->s_new);
    CHECK_EQ(green_state(f->g_dead), f->s_dead);
    CHECK(green_parent(f->g_priv) == f->owner_main);
    CHECK(green_parent(f->g_new) == f->owner_main);
    CHECK(strcmp(green_name(f->g_priv), "priv") == 0);
    CHECK(strcmp(green_name(f->g_shared), "shr") == 0);
    CHECK_EQ(green_switch(f->g_priv, (void *)21, &v), 0);
    CHECK(v == (void *)42);
    CHECK_EQ(green_switch(f->g_shared, (void *)100, &v), 0);
    CHECK(v == (void *)104);
    CHECK_EQ(green_switch(f->g_new, (void *)5, &v), 0);
    CHECK(v == (void *)5);
    CHECK_EQ(green_destroy(f->g_priv), 0);
    CHECK_EQ(green_destroy(f->g_shared), 0);
    CHECK_EQ(green_destroy(f->g_new), 0);
    CHECK_EQ(green_destroy(f->g_dead), 0);
    stage_set(&f->st, 3);
    return NULL;
}

/* The call was refused with EXDEV and a message naming both threads. */
#define assert_refused_exdev(call)                                                        \
    do {                                                                                  \
        errno = 0;                                                                        \
        long long rc_ = (long long)(intptr_t)(call);                                      \
        int e_ = errno;                                                                   \
        const char *m_ = green_last_error();                                              \
        if ((rc_ != -1 && rc_ != 0) || (rc_ == 0 && strstr(#call, "green_new(") == NULL)) \
            fail_msg("%s returned %lld, expected refusal", #call, rc_);                   \
        if (e_ != EXDEV)                                                                  \
            fail_msg("%s: errno %d (%s), expected EXDEV", #call, e_, strerror(e_));       \
        if (!strstr(m_, "gl-owner") || !strstr(m_, "gl-intruder"))                        \
            fail_msg("%s: green_last_error() does not name both threads: \"%s\"", #call,  \
                     m_);                                                                 \
    } while (0)

static void *run_forbidden(void *arg)
{
    (void)arg;
    note_failure(__LINE__, "a greenlet of another thread ran");
    return NULL;
}

static void test_cross_thread_refused(void **state)
{
    (void)state;
    char old_name[32] = "";
    pthread_getname_np(pthread_self(), old_name, sizeof old_name);
    assert_int_equal(pthread_setname_np(pthread_self(), "gl-intruder"), 0);

    struct foreign f = {.st = STAGE_INIT};
    pthread_t t = spawn(foreign_owner, &f);
    stage_wait(&f.st, 1);

    green_t *mine = green_new(ret_arg, NULL, NULL);
    assert_non_null(mine);
    green_t *my_main = green_main();
    green_t *targets[] = {f.g_priv, f.g_shared, f.g_new, f.g_dead, f.owner_main};
    int states[] = {f.s_priv, f.s_shared, f.s_new, f.s_dead, f.s_main};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        green_t *g = targets[i];
        assert_non_null(g);
        /* Reading is allowed: a snapshot of the owner's (blocked) greenlets. */
        assert_int_equal(green_state(g), states[i]);
        assert_true(green_id(g) > 0);
        assert_true(green_id(g) != green_id(my_main));

        void *res = (void *)0x5a5a;
        assert_refused_exdev(green_switch(g, (void *)1, &res));
        assert_ptr_equal(res, (void *)0x5a5a);
        assert_refused_exdev(green_throw(g, 77, NULL, &res));
        assert_ptr_equal(res, (void *)0x5a5a);
        assert_refused_exdev(green_throw(g, GREEN_EXIT, NULL, NULL));
        assert_refused_exdev(green_new(run_forbidden, g, NULL));
        assert_refused_exdev(green_set_parent(mine, g));
        assert_ptr_equal(green_parent(mine), my_main);
        assert_refused_exdev(green_set_parent(g, mine));
        assert_refused_exdev(green_set_parent(g, my_main));
        assert_refused_exdev(green_set_name(g, "stolen"));
        assert_refused_exdev(green_set_name(g, NULL));
        assert_refused_exdev(green_destroy(g));
        assert_int_equal(green_state(g), states[i]);
        /* We are still running on our own main. */
        assert_ptr_equal(green_current(), my_main);
    }
    /* The parents and names did not move. */
    assert_ptr_equal(green_parent(f.g_priv), f.owner_main);
    assert_ptr_equal(green_parent(f.g_new), f.owner_main);
    assert_string_equal(green_name(f.g_priv), "priv");
    assert_string_equal(green_name(f.g_dead), "gone");
    assert_string_equal(green_name(f.owner_main), "main");

    stage_set(&f.st, 2);
    stage_wait(&f.st, 3);
    join(t);
    assert_int_equal(green_destroy(mine), 0);
    pthread_setname_np(pthread_self(), old_name);
    assert_no_failures();
}

/* The last error is per thread: another thread's failures do not overwrite ours. */
static void *fail_differently(void *arg)
{
    (void)arg;
    CHECK_EQ(green_set_shared_stack_size(1), -1);
    CHECK(strstr(green_last_error(), "green_set_shared_stack_size") != NULL);
    return NULL;
}

static void test_last_error_per_thread(void **state)
{
    (void)state;
    assert_int_equal(green_switch(NULL, NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
    char before[256];
    snprintf(before, sizeof before, "%s", green_last_error());
    assert_non_null(strstr(before, "green_switch"));
    join(spawn(fail_differently, NULL));
    assert_string_equal(green_last_error(), before);
    assert_no_failures();
}

/* ==== 3. thread exit releases everything ================================================= */

struct zoo {
    int n; /* greenlets of each kind */
    bool touch_only;
};

static void *throws_back(void *arg)
{
    (void)arg;
    green_exit(33, NULL);
    return NULL;
}

/* A thread that leaves behind greenlets in every state, then exits from its main. */
static void *zoo_thread(void *arg)
{
    const struct zoo *z = arg;
    if (z->touch_only) {
        CHECK(green_current() != NULL); /* state, altstack; nothing else */
        return NULL;
    }
    green_set_shared_stack_size(256 * 1024);
    green_t *prev = NULL;
    for (int i = 0; i < z->n; i++) {
        char name[32];
        snprintf(name, sizeof name, "zoo-%d", i);
        void *v = NULL;
        /* suspended, private (small and default stacks) and shared (with a saved slice) */
        green_t *a = new_green(bounce, NULL, GREEN_STACK_PRIVATE, 16 * 1024, name);
        green_t *b = new_green(deep_body, NULL, GREEN_STACK_SHARED, 0, name);
        green_t *c = new_green(bounce, NULL, GREEN_STACK_PRIVATE, (i % 8) ? 16384 : 0, NULL);
        /* unstarted, with a parent chain through suspended ones */
        green_t *d = new_green(ret_arg, b, GREEN_STACK_SHARED, 0, name);
        green_t *e = new_green(ret_arg, a, GREEN_STACK_PRIVATE, 0, NULL);
        /* dead, not destroyed; dead by error; destroyed while suspended */
        green_t *f = new_green(ret_arg, NULL, i & 1, 0, name);
        green_t *g = new_green(throws_back, NULL, i & 1, 0, NULL);
        green_t *h = new_green(bounce, NULL, i & 1, 0, name);
        if (!a || !b || !c || !d || !e || !f || !g || !h)
            return NULL;
        CHECK_EQ(green_switch(a, (void *)1, &v), 0);
        CHECK_EQ(green_switch(b, (void *)(intptr_t)(i % 16), &v), 0);
        CHECK_EQ(green_switch(c, (void *)1, &v), 0);
        CHECK_EQ(green_switch(f, (void *)1, &v), 0);
        CHECK_EQ(green_switch(g, (void *)1, &v), 33);
        CHECK_EQ(green_switch(h, (void *)1, &v), 0);
        CHECK_EQ(green_destroy(h), 0);
        if (prev) /* a parent released while its child lives on */
            CHECK_EQ(green_set_parent(prev, f), 0);
        prev = e;
    }
    return NULL; /* everything above is released by the thread exit */
}

static void run_zoo_threads(int nthreads, const struct zoo *z)
{
    for (int i = 0; i < nthreads; i += 2) {
        pthread_t a = spawn(zoo_thread, (void *)z);
        pthread_t b = spawn(zoo_thread, (void *)z);
        join(a);
        join(b);
    }
}

static void test_thread_exit_releases(void **state)
{
    (void)state;
    const struct zoo z = {.n = (int)scaled(300, 4)};
    const struct zoo touch = {.touch_only = true};
    const int nthreads = (int)scaled(200, 4);

    /* Warm up: thread stacks, malloc arenas, the first pthread key use. */
    run_zoo_threads(8, &z);
    run_zoo_threads(8, &touch);
    assert_no_failures();
    long maps0 = count_maps(), rss0 = rss_kib();

    run_zoo_threads(nthreads, &z);
    run_zoo_threads(nthreads, &touch);
    assert_no_failures();
    long maps1 = count_maps(), rss1 = rss_kib();
    print_message("  %d threads x %d greenlets: mappings %ld -> %ld, RSS %ld -> %ld KiB\n",
                  nthreads, 8 * z.n, maps0, maps1, rss0, rss1);
    if (RUNNING_ON_VALGRIND)
        return; /* valgrind's own leak check is the judge there */
    /* Each zoo thread leaves ~2*n touched stack pages and n saved shared slices behind:
     * a leak would grow RSS by nthreads * (>1 MiB). */
    assert_true(maps0 > 0 && rss0 > 0);
    assert_in_range(maps1, 0, maps0 + 8);
    assert_in_range(rss1, 0, rss0 + 32 * 1024);
}

/* ==== 4. concurrent switching ============================================================ */

#define RING 6

struct ring_arg {
    green_t *ring[RING];
    long rounds;
};

/* Each ring member passes a counter on to the next one; the last returns to main. */
static void *ring_member(void *arg)
{
    struct ring_arg *r = arg;
    green_t *self = green_current();
    int me = -1;
    for (int i = 0; i < RING; i++)
        if (r->ring[i] == self)
            me = i;
    CHECK(me >= 0);
    void *v = NULL;
    intptr_t expect = me;
    for (long k = 0; k < r->rounds; k++) {
        green_t *next = me + 1 < RING ? r->ring[me + 1] : green_main();
        if (green_switch(next, (void *)(expect + 1), &v) != 0) {
            note_failure(__LINE__, "ring switch: %s", green_last_error());
            return NULL;
        }
        expect += RING + 1;
        if ((intptr_t)v != expect) {
            note_failure(__LINE__, "ring member %d got %ld, expected %ld", me, (long)(intptr_t)v,
                         (long)expect);
            return NULL;
        }
    }
    return (void *)(intptr_t)me;
}

struct switcher {
    long rounds;
    int seed;
    uint64_t *ids; /* out: ids of the greenlets it made */
    int nids;
};

static void *switcher_thread(void *arg)
{
    struct switcher *s = arg;
    char tname[16];
    snprintf(tname, sizeof tname, "gl-sw-%d", s->seed);
    pthread_setname_np(pthread_self(), tname);
    struct ring_arg *r = malloc(sizeof *r); /* heap: shared greenlets read it */
    if (!r)
        return NULL;
    r->rounds = s->rounds;
    for (int i = 0; i < RING; i++) {
        int model = (i + s->seed) % 2;
        r->ring[i] = new_green(ring_member, NULL, model, model ? 0 : 32 * 1024, NULL);
        if (!r->ring[i])
            return NULL;
    }
    /* Start them all: each starts with its index in the chain of counters. */
    void *v = NULL;
    for (int i = RING - 1; i >= 0; i--) {
        /* Starting member i runs it up to its first switch, to i+1 (already started) or
         * main; so start from the end: the last member's first switch comes to main. */
        CHECK_EQ(green_switch(r->ring[i], r, &v), 0);
        if (i == RING - 1)
            CHECK((intptr_t)v == RING);
    }
    /* Main acts as member -1 ... RING: it receives RING and sends 0 to member 0, whose
     * counter protocol expects (k*(RING+1) + me).  Drive the remaining rounds. */
    for (long k = 1; k <= s->rounds; k++) {
        int rc = green_switch(r->ring[0], (void *)(intptr_t)(k * (RING + 1) - 1), &v);
        CHECK_EQ(rc, 0);
        if (k < s->rounds)
            CHECK_EQ((intptr_t)v, k * (RING + 1) + RING);
    }
    for (int i = 0; i < RING; i++) {
        CHECK(green_dead(r->ring[i]));
        CHECK_EQ(green_destroy(r->ring[i]), 0);
    }
    free(r);

    /* Churn: create / run / destroy, both models, recording ids. */
    for (int i = 0; i < s->nids; i++) {
        green_t *g = new_green(bounce, NULL, i % 2, 16 * 1024, NULL);
        if (!g)
            return NULL;
        s->ids[i] = green_id(g);
        CHECK_EQ(green_switch(g, (void *)(intptr_t)i, &v), 0);
        CHECK_EQ((intptr_t)v, i + 1);
        if (i % 3 == 0) {
            CHECK_EQ(green_switch(g, (void *)(intptr_t)i, &v), 0);
            CHECK_EQ((intptr_t)v, 2 * i);
        }
        CHECK_EQ(green_destroy(g), 0);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_concurrent_switching(void **state)
{
    (void)state;
    enum { NT = 4 };
    const long rounds = scaled(50000, 50);
    const int nids = (int)scaled(20000, 200);
    struct switcher sw[NT];
    pthread_t t[NT];
    uint64_t *ids = calloc((size_t)NT * (size_t)nids, sizeof *ids);
    assert_non_null(ids);
    for (int i = 0; i < NT; i++) {
        sw[i] = (struct switcher){.rounds = rounds, .seed = i, .ids = ids + i * nids,
                                  .nids = nids};
        t[i] = spawn(switcher_thread, &sw[i]);
    }
    for (int i = 0; i < NT; i++)
        join(t[i]);
    assert_no_failures();
    /* Ids are process-wide unique, even when threads create greenlets concurrently. */
    qsort(ids, (size_t)NT * (size_t)nids, sizeof *ids, cmp_u64);
    for (long i = 0; i < (long)NT * nids; i++) {
        assert_true(ids[i] > 0);
        if (i)
            assert_true(ids[i] != ids[i - 1]);
    }
    free(ids);
}

/* ==== 5. state of another thread's greenlets while they switch ========================== */

struct snapshot {
    green_t *g[4];
    atomic_int done;
    struct stage st; /* 1: greenlets started */
    long rounds;
};

static void *yield_forever(void *arg)
{
    (void)arg;
    green_t *m = green_main();
    for (;;)
        if (green_switch(m, NULL, NULL) != 0)
            break;
    return NULL;
}

static void *snapshot_owner(void *arg)
{
    struct snapshot *s = arg;
    for (int i = 0; i < 4; i++) {
        s->g[i] = new_green(yield_forever, NULL, i % 2, 0, NULL);
        if (!s->g[i] || green_switch(s->g[i], NULL, NULL) != 0) {
            atomic_store(&s->done, 2);
            stage_set(&s->st, 1);
            return NULL;
        }
    }
    stage_set(&s->st, 1);
    for (long k = 0; k < s->rounds || atomic_load(&s->done) == 0; k++)
        if (green_switch(s->g[k % 4], NULL, NULL) != 0)
            note_failure(__LINE__, "switch: %s", green_last_error());
    atomic_store(&s->done, 1);
    stage_wait(&s->st, 2); /* the reader has stopped reading */
    for (int i = 0; i < 4; i++)
        CHECK_EQ(green_destroy(s->g[i]), 0);
    return NULL;
}

static void test_state_of_running_thread(void **state)
{
    (void)state;
    struct snapshot s = {.st = STAGE_INIT, .rounds = scaled(200000, 1000)};
    atomic_init(&s.done, 0);
    pthread_t t = spawn(snapshot_owner, &s);
    stage_wait(&s.st, 1);
    long reads = 0, bad = 0;
    int bad_state = 0;
    /* Read until the owner has done its rounds and seen that we read at least once. */
    while (atomic_load(&s.done) != 1 && atomic_load(&s.done) != 2) {
        for (int i = 0; i < 4; i++) {
            int st = green_state(s.g[i]);
            unsigned want = GREEN_STARTED | GREEN_ACTIVE | (i % 2 ? GREEN_SHARED : 0);
            if (st < 0 || (st & ~(int)ALL_BITS) || ((unsigned)st & ~GREEN_CURRENT) != want) {
                bad++;
                bad_state = st;
            }
            reads++;
        }
        if (reads == 4)
            atomic_store(&s.done, -1); /* the owner may stop once it did its rounds */
    }
    stage_set(&s.st, 2);
    join(t);
    assert_int_equal(atomic_load(&s.done), 1);
    assert_no_failures();
    if (bad)
        fail_msg("%ld of %ld snapshots inconsistent, e.g. %#x", bad, reads, bad_state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_main_per_thread, reset_failures),
        cmocka_unit_test_setup(test_cross_thread_refused, reset_failures),
        cmocka_unit_test_setup(test_last_error_per_thread, reset_failures),
        cmocka_unit_test_setup(test_thread_exit_releases, reset_failures),
        cmocka_unit_test_setup(test_concurrent_switching, reset_failures),
        cmocka_unit_test_setup(test_state_of_running_thread, reset_failures),
    };
    (void)main_probe_thread_locked;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
