/* SPDX-License-Identifier: MIT */
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


#define NOINLINE __attribute__((noinline))


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


/* ---- small greenlet bodies ----------------------------------------------------------- */

/* Switches back to its parent with arg+1, and when resumed with v, returns v*2.  Killed
 * (green_destroy), it just ends. */
static void *bounce(void *arg)
{
    void *v = NULL;
    int rc = green_switch(green_parent(green_current()), (void *)((intptr_t)arg + 1), &v);
    if (rc == GREEN_EXIT)
        return NULL;
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
        CHECK(rc == 0 || rc == GREEN_EXIT);
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

/* ==== 1. one implicit main greenlet per thread ============================================ */

#define MAIN_THREADS 8

/* Threads check in, then stay alive until released, so that distinct addresses mean
 * distinct live greenlets. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int arrived, released;
};

struct main_probe {
    struct gate *gate;
    green_t *main;
    uint64_t main_id;
    uint64_t child_id[2];
};

static void *check_current_is(void *arg)
{
    green_t *self = green_current();
    CHECK(self != green_main());
    CHECK_EQ(green_state(self) & ~(int)GREEN_SHARED,
             GREEN_STARTED | GREEN_ACTIVE | GREEN_CURRENT);
    CHECK(green_parent(self) == arg);
    CHECK_EQ(green_state(green_main()), GREEN_STARTED | GREEN_ACTIVE | GREEN_MAIN);
    return self;
}

static void *main_probe_thread(void *arg)
{
    struct main_probe *p = arg;
    green_t *m = green_main();
    CHECK(m != NULL);
    CHECK(green_current() == m);
    CHECK(green_main() == m); /* stable */
    CHECK_EQ(green_state(m), GREEN_STARTED | GREEN_ACTIVE | GREEN_MAIN | GREEN_CURRENT);
    CHECK(green_parent(m) == NULL);
    CHECK(green_name(m) && strcmp(green_name(m), "main") == 0);
    CHECK(green_id(m) > 0);
    green_t *kids[2] = {NULL, NULL};
    for (int model = 0; model < 2; model++) {
        green_t *g = kids[model] = new_green(check_current_is, NULL, model, 0, NULL);
        if (!g)
            break;
        CHECK(green_parent(g) == m);
        void *r = NULL;
        CHECK_EQ(green_switch(g, m, &r), 0);
        CHECK(r == g);
        CHECK(green_current() == m);
        CHECK_EQ(green_state(g), GREEN_STARTED | GREEN_DEAD | (model ? GREEN_SHARED : 0));
    }
    pthread_mutex_lock(&p->gate->lock);
    p->main = m;
    p->main_id = green_id(m);
    for (int i = 0; i < 2; i++)
        p->child_id[i] = green_id(kids[i]);
    p->gate->arrived++;
    pthread_cond_broadcast(&p->gate->cond);
    while (!p->gate->released)
        pthread_cond_wait(&p->gate->cond, &p->gate->lock);
    pthread_mutex_unlock(&p->gate->lock);
    for (int i = 0; i < 2; i++)
        if (kids[i])
            CHECK_EQ(green_destroy(kids[i]), 0);
    return NULL;
}

static void test_main_per_thread(void **state)
{
    (void)state;
    struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    struct main_probe probes[MAIN_THREADS];
    pthread_t t[MAIN_THREADS];
    for (int i = 0; i < MAIN_THREADS; i++) {
        probes[i] = (struct main_probe){.gate = &gate};
        t[i] = spawn(main_probe_thread, &probes[i]);
    }
    green_t *mine = green_main();
    assert_non_null(mine);
    assert_ptr_equal(green_current(), mine);

    pthread_mutex_lock(&gate.lock);
    while (gate.arrived < MAIN_THREADS)
        pthread_cond_wait(&gate.cond, &gate.lock);
    /* All alive at once: compare. */
    uint64_t ids[MAIN_THREADS * 3 + 1];
    int n = 0;
    ids[n++] = green_id(mine);
    bool distinct = true;
    for (int i = 0; i < MAIN_THREADS; i++) {
        if (!probes[i].main || probes[i].main == mine)
            distinct = false;
        for (int j = 0; j < i; j++)
            if (probes[i].main == probes[j].main)
                distinct = false;
        ids[n++] = probes[i].main_id;
        ids[n++] = probes[i].child_id[0];
        ids[n++] = probes[i].child_id[1];
    }
    gate.released = 1;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.lock);
    for (int i = 0; i < MAIN_THREADS; i++)
        join(t[i]);
    assert_no_failures();
    assert_true(distinct);
    for (int i = 0; i < n; i++) {
        assert_true(ids[i] > 0);
        for (int j = 0; j < i; j++)
            assert_true(ids[i] != ids[j]);
    }
}

/* ==== 2. cross-thread use is refused ===================================================== */

#define OWNER_NAME "gl-owner"
#define INTRUDER_NAME "gl-intruder"

struct foreign {
    struct stage st; /* 1: greenlets ready; 2: intruder done; 3: owner done */
    green_t *g_priv, *g_shared, *g_new, *g_dead, *owner_main;
    int s_priv, s_shared, s_new, s_dead, s_main;
};

static void *foreign_owner(void *arg)
{
    struct foreign *f = arg;
    pthread_setname_np(pthread_self(), OWNER_NAME);
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
    CHECK_EQ(green_state(f->owner_main), f->s_main);
    CHECK(green_current() == f->owner_main);
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

/* The call was refused (refused: its return value says so) with EXDEV and a message
 * naming both threads. */
static void expect_exdev(const char *call, bool refused, int err)
{
    const char *m = green_last_error();
    if (!refused)
        fail_msg("%s was not refused", call);
    if (err != EXDEV)
        fail_msg("%s: errno %d (%s), expected EXDEV", call, err, strerror(err));
    if (!strstr(m, OWNER_NAME) || !strstr(m, INTRUDER_NAME))
        fail_msg("%s: green_last_error() does not name both threads: \"%s\"", call, m);
}
#define REFUSED(call)                                                                     \
    do {                                                                                  \
        errno = 0;                                                                        \
        int rc_ = (call);                                                                 \
        expect_exdev(#call, rc_ == -1, errno);                                            \
    } while (0)
#define REFUSED_NEW(call)                                                                 \
    do {                                                                                  \
        errno = 0;                                                                        \
        green_t *g_ = (call);                                                             \
        expect_exdev(#call, g_ == NULL, errno);                                           \
    } while (0)

static void *run_forbidden(void *arg)
{
    (void)arg;
    note_failure(__LINE__, "a greenlet ran on the wrong thread");
    return NULL;
}

static void test_cross_thread_refused(void **state)
{
    (void)state;
    char old_name[32] = "";
    pthread_getname_np(pthread_self(), old_name, sizeof old_name);
    assert_int_equal(pthread_setname_np(pthread_self(), INTRUDER_NAME), 0);

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
        REFUSED(green_switch(g, (void *)1, &res));
        assert_ptr_equal(res, (void *)0x5a5a);
        REFUSED(green_throw(g, 77, NULL, &res));
        assert_ptr_equal(res, (void *)0x5a5a);
        REFUSED(green_throw(g, GREEN_EXIT, NULL, NULL));
        REFUSED_NEW(green_new(run_forbidden, g, NULL));
        green_attr_t shared = {.stack_model = GREEN_STACK_SHARED, .name = "x"};
        REFUSED_NEW(green_new(run_forbidden, g, &shared));
        REFUSED(green_set_parent(mine, g));
        assert_ptr_equal(green_parent(mine), my_main);
        REFUSED(green_set_parent(g, mine));
        REFUSED(green_set_parent(g, my_main));
        REFUSED(green_set_name(g, "stolen"));
        REFUSED(green_set_name(g, NULL));
        REFUSED(green_destroy(g));
        assert_int_equal(green_state(g), states[i]);
        assert_ptr_equal(green_current(), my_main);
    }
    /* Parents and names did not move. */
    assert_ptr_equal(green_parent(f.g_priv), f.owner_main);
    assert_ptr_equal(green_parent(f.g_new), f.owner_main);
    assert_string_equal(green_name(f.g_priv), "priv");
    assert_string_equal(green_name(f.g_dead), "gone");
    assert_string_equal(green_name(f.owner_main), "main");
    /* Our own greenlet is unharmed by the refused re-parenting. */
    void *v = NULL;
    assert_int_equal(green_switch(mine, (void *)9, &v), 0);
    assert_ptr_equal(v, (void *)9);

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
    /* Under a sanitizer only its leak check counts, and TSAN fibers are slow to make. */
    const struct zoo z = {.n = (int)scaled(UNDER_SANITIZER ? 100 : 300, 8)};
    const struct zoo touch = {.touch_only = true};
    const int nthreads = (int)scaled(UNDER_SANITIZER ? 16 : 200, 4);

    /* Warm up: thread stacks, malloc arenas, the first pthread key use. */
    run_zoo_threads(8, &z);
    run_zoo_threads(8, &touch);
    assert_no_failures();
    long maps0 = count_maps(), rss0 = statm_field(1);

    run_zoo_threads(nthreads, &z);
    run_zoo_threads(nthreads, &touch);
    assert_no_failures();
    long maps1 = count_maps(), rss1 = statm_field(1);
    print_message("  %d threads x %d greenlets: mappings %ld -> %ld, RSS %ld -> %ld KiB\n",
                  nthreads, 8 * z.n, maps0, maps1, rss0, rss1);
    if (RUNNING_ON_VALGRIND || UNDER_SANITIZER)
        return; /* valgrind's or LeakSanitizer's own leak check is the judge there */
    /* Each zoo thread leaves ~2*n touched stack pages and n saved shared slices behind:
     * a leak would grow RSS by nthreads * (>1 MiB). */
    assert_true(maps0 > 0 && rss0 > 0);
    assert_in_range(maps1, 0, maps0 + 8);
    assert_in_range(rss1, 0, rss0 + 32 * 1024);
}

/* ==== 4. concurrent switching ============================================================ */

#define RING 6
#define STOP ((void *)(intptr_t)-1)

/* Ring member: on start, reports its index to main; then, per round, receives
 * base + index and passes base + index + 1 on to the next member (the last one to main);
 * on STOP, returns its index. */
struct ring {
    green_t *g[RING];
    green_t *main;
};

static void *ring_member(void *arg)
{
    struct ring *r = arg;
    green_t *self = green_current();
    int me = -1;
    for (int i = 0; i < RING; i++)
        if (r->g[i] == self)
            me = i;
    CHECK(me >= 0);
    void *v = NULL;
    if (green_switch(r->main, (void *)(intptr_t)me, &v) != 0)
        return NULL;
    for (long round = 0; v != STOP; round++) {
        if ((intptr_t)v != round * 1000 + me) {
            note_failure(__LINE__, "member %d, round %ld: got %ld", me, round,
                         (long)(intptr_t)v);
            return NULL;
        }
        green_t *next = me + 1 < RING ? r->g[me + 1] : r->main;
        if (green_switch(next, (void *)((intptr_t)v + 1), &v) != 0) {
            note_failure(__LINE__, "ring switch: %s", green_last_error());
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
    if (s->seed % 2)
        CHECK_EQ(green_set_shared_stack_size(128 * 1024), 0);
    struct ring *r = malloc(sizeof *r); /* heap: shared greenlets read it */
    if (!r)
        return NULL;
    r->main = green_main();
    for (int i = 0; i < RING; i++) {
        int model = (i + s->seed) % 2;
        r->g[i] = new_green(ring_member, NULL, model, model ? 0 : 32 * 1024, NULL);
        if (!r->g[i])
            return NULL;
    }
    void *v = NULL;
    for (int i = 0; i < RING; i++) {
        CHECK_EQ(green_switch(r->g[i], r, &v), 0);
        CHECK_EQ((intptr_t)v, i);
    }
    for (long k = 0; k < s->rounds; k++) {
        int rc = green_switch(r->g[0], (void *)(intptr_t)(k * 1000), &v);
        if (rc != 0 || (intptr_t)v != k * 1000 + RING) {
            note_failure(__LINE__, "round %ld: rc %d, got %ld", k, rc, (long)(intptr_t)v);
            break;
        }
    }
    for (int i = 0; i < RING; i++) {
        CHECK_EQ(green_switch(r->g[i], STOP, &v), 0);
        CHECK_EQ((intptr_t)v, i);
        CHECK(green_dead(r->g[i]));
        CHECK_EQ(green_destroy(r->g[i]), 0);
    }
    free(r);

    /* Churn: create / run / finish or kill / destroy, both models, recording ids. */
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
    const long rounds = scaled(UNDER_SANITIZER ? 10000 : 50000, 50);
    const int nids = (int)scaled(UNDER_SANITIZER ? 4000 : 20000, 200);
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
    green_t *g[5]; /* four that live through the test, and g[4], which dies half-way */
    struct stage st; /* 1: greenlets started; 2: reader has read; 3: reader stopped */
    atomic_int done;
    atomic_long reads; /* the reader's progress: the owner switches until it read enough */
    long rounds;
};

static void *yield_forever(void *arg)
{
    (void)arg;
    green_t *m = green_main();
    while (green_switch(m, NULL, NULL) == 0) {
    }
    return NULL; /* killed */
}

static void *yield_until_null(void *arg)
{
    while (arg)
        if (green_switch(green_main(), NULL, &arg) != 0)
            break;
    return NULL;
}

static void *snapshot_owner(void *arg)
{
    struct snapshot *s = arg;
    bool ok = true;
    for (int i = 0; i < 5 && ok; i++) {
        s->g[i] = new_green(i < 4 ? yield_forever : yield_until_null, NULL, i % 2, 0, NULL);
        ok = s->g[i] && green_switch(s->g[i], (void *)1, NULL) == 0;
    }
    stage_set(&s->st, 1);
    if (ok) {
        stage_wait(&s->st, 2);
        /* Switch until the reader has read `rounds` times meanwhile, so the two overlap
         * whatever the scheduler does; g[4] dies half-way. */
        long r0 = atomic_load(&s->reads);
        /* (valgrind runs one thread at a time: there, waiting for the reader only wastes
         * time slices) */
        long need = RUNNING_ON_VALGRIND ? 0 : s->rounds;
        for (long k = 0; k < s->rounds || atomic_load(&s->reads) < r0 + need; k++) {
            int i = (int)(k % 5);
            void *v = (void *)1;
            if (i == 4) {
                if (green_dead(s->g[4]))
                    continue;
                if (k >= s->rounds / 2 && atomic_load(&s->reads) >= r0 + need / 2)
                    v = NULL;
            }
            if (green_switch(s->g[i], v, NULL) != 0) {
                note_failure(__LINE__, "switch: %s", green_last_error());
                break;
            }
        }
        if (!green_dead(s->g[4])) /* the reader outran us: it is still reading, though */
            CHECK_EQ(green_switch(s->g[4], NULL, NULL), 0);
        CHECK(green_dead(s->g[4]));
    }
    atomic_store(&s->done, 1);
    stage_wait(&s->st, 3);
    for (int i = 0; i < 5; i++)
        if (s->g[i])
            CHECK_EQ(green_destroy(s->g[i]), 0);
    return NULL;
}

/* green_state() is documented safe from any thread: read the owner's greenlets while it
 * switches them (and one of them dies), checking every snapshot is a consistent state. */
static void test_state_of_running_thread(void **state)
{
    (void)state;
    struct snapshot s = {.st = STAGE_INIT, .rounds = scaled(200000, 1000)};
    atomic_init(&s.done, 0);
    atomic_init(&s.reads, 0);
    pthread_t t = spawn(snapshot_owner, &s);
    stage_wait(&s.st, 1);
    long reads = 0, bad = 0, saw_current = 0, saw_dead = 0;
    int bad_state = 0;
    do {
        for (int i = 0; i < 5; i++) {
            int st = green_state(s.g[i]);
            unsigned model = i % 2 ? GREEN_SHARED : 0;
            unsigned live = GREEN_STARTED | GREEN_ACTIVE | model;
            unsigned s_ = (unsigned)st & ~GREEN_CURRENT;
            /* (A dying greenlet is marked dead a moment before it hands control on, so
             * DEAD|CURRENT is a true snapshot too.) */
            unsigned dead = GREEN_STARTED | GREEN_DEAD | model;
            bool ok = st >= 0 && (s_ == live || (i == 4 && s_ == dead));
            if (!ok) {
                bad++;
                bad_state = st;
            }
            saw_current += st > 0 && (st & GREEN_CURRENT);
            saw_dead += st > 0 && (st & GREEN_DEAD);
            reads++;
        }
        atomic_store_explicit(&s.reads, reads, memory_order_relaxed);
        if (reads == 5)
            stage_set(&s.st, 2);
    } while (!atomic_load(&s.done));
    stage_set(&s.st, 3);
    join(t);
    assert_no_failures();
    print_message("  %ld snapshots, %ld saw a greenlet running, %ld saw one dead\n", reads,
                  saw_current, saw_dead);
    if (bad)
        fail_msg("%ld of %ld snapshots inconsistent, e.g. %#x", bad, reads, bad_state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CHECKED_TEST(test_main_per_thread),
        CHECKED_TEST(test_cross_thread_refused),
        CHECKED_TEST(test_last_error_per_thread),
        CHECKED_TEST(test_thread_exit_releases),
        CHECKED_TEST(test_concurrent_switching),
        CHECKED_TEST(test_state_of_running_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
