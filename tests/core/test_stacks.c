/* SPDX-License-Identifier: MIT */
/* Stacks: sizes, pooling, the shared region, deep recursion, mixed models.
 *
 *   - a private greenlet with stack_size S can use nearly S bytes (S rounded up to pages;
 *     0 means GREEN_STACK_DEFAULT) and not much more: a little beyond S hits the guard;
 *   - create / run / finish loops reuse pooled stacks: 100k sequential greenlets run on a
 *     handful of stacks and add no mappings;
 *   - green_set_shared_stack_size(): EINVAL below 64 KiB, EBUSY once the thread's region
 *     exists, per thread, and the size is honoured (and the default is 8 MiB);
 *   - a shared greenlet 1.5 MiB deep is copied out and back while other shared greenlets
 *     (started at the top of the region, and nested below it) run deep recursions of their
 *     own, and every frame is intact when the recursions unwind;
 *   - private / shared / private (and shared / private / shared) parent chains, finishing
 *     with values and errors, through dead ancestors.
 *
 * Conventions: cmocka's assertions run only on the main greenlet of the main thread; code
 * on other stacks or threads records failures with CHECK() (see test_threads.c).
 */
#include <alloca.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define NOINLINE __attribute__((noinline))


static void run_in_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    int rc = pthread_create(&t, NULL, fn, arg);
    if (rc != 0) {
        note_failure(__LINE__, "pthread_create: %s", strerror(rc));
        return;
    }
    pthread_join(t, NULL);
}


static size_t page_round(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (n + page - 1) / page * page;
}

/* ---- using a given amount of stack --------------------------------------------------- */

struct usage {
    size_t bytes;    /* how deep to go below the greenlet's first frame */
    uint64_t levels; /* out: levels of use_stack reached */
    uint64_t sum;    /* out: its checksum */
};

/* Recurse, 2 KiB of alloca'd (so really on the stack) and written memory per level, until
 * the frames reach `bytes` below `top`; returns a checksum that needs every frame intact. */
static NOINLINE uint64_t use_stack(struct usage *u, char *top, uint64_t level)
{
    char *here = __builtin_frame_address(0);
    if ((size_t)(top - here) + 2 * KiB >= u->bytes) {
        u->levels = level;
        return level;
    }
    volatile unsigned char *buf = alloca(2 * KiB);
    for (size_t i = 0; i < 2 * KiB; i += 64)
        buf[i] = (unsigned char)(level + i);
    uint64_t sum = use_stack(u, top, level + 1);
    for (size_t i = 0; i < 2 * KiB; i += 64)
        sum += buf[i];
    return sum;
}

static uint64_t use_stack_expected(uint64_t levels)
{
    uint64_t sum = levels;
    for (uint64_t level = 0; level < levels; level++)
        for (size_t i = 0; i < 2 * KiB; i += 64)
            sum += (unsigned char)(level + i);
    return sum;
}

static void *stack_user(void *arg)
{
    struct usage *u = arg;
    u->sum = use_stack(u, __builtin_frame_address(0), 0);
    return u;
}

struct size_case {
    size_t request; /* attr.stack_size; 0: default */
    size_t usable;  /* what the header promises */
    bool use_null_attr;
    size_t depth;
};

/* In a child: a greenlet with the requested size recurses `depth` bytes deep. */
static void size_child(void *arg)
{
    const struct size_case *c = arg;
    struct usage u = {.bytes = c->depth};
    green_t *g = c->use_null_attr
                     ? green_new(stack_user, NULL, NULL)
                     : new_green(stack_user, NULL, GREEN_STACK_PRIVATE, c->request, NULL);
    if (!g) {
        fprintf(stderr, "green_new: %s\n", green_last_error());
        _exit(3);
    }
    void *r = NULL;
    if (green_switch(g, &u, &r) != 0 || r != &u || !green_dead(g)) {
        fprintf(stderr, "green_switch: %s\n", green_last_error());
        _exit(3);
    }
    if (u.levels < u.bytes / (4 * KiB) || u.sum != use_stack_expected(u.levels)) {
        fprintf(stderr, "checksum mismatch after %llu levels\n", (unsigned long long)u.levels);
        _exit(3);
    }
    green_destroy(g);
    _exit(0);
}

static void test_private_stack_size_honoured(void **state)
{
    (void)state;
    const size_t margin = 8 * KiB; /* the boot frames, run()'s frame, sanitizer padding */
    struct size_case cases[] = {
        {16 * KiB, 16 * KiB, false, 0},
        {64 * KiB, 64 * KiB, false, 0},
        {100000, page_round(100000), false, 0},
        {0, GREEN_STACK_DEFAULT, false, 0},
        {0, GREEN_STACK_DEFAULT, true, 0},
        {MiB, MiB, false, 0},
        {16 * MiB, 16 * MiB, false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct size_case c = cases[i];
        char err[4096];
        /* Nearly all of it is usable... */
        c.depth = c.usable - margin;
        int st = run_in_child(size_child, &c, err, sizeof err);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("stack_size %zu: using %zu bytes failed (status %#x): %s", c.request,
                     c.depth, st, err);
        /* ...and a little more runs into the guard. */
        c.depth = c.usable + 16 * KiB;
        st = run_in_child(size_child, &c, err, sizeof err);
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSEGV)
            fail_msg("stack_size %zu: using %zu bytes did not fault (status %#x): %s",
                     c.request, c.depth, st, err);
    }
}

/* ---- pooling ------------------------------------------------------------------------- */

static void *where_am_i(void *arg)
{
    (void)arg;
    return __builtin_frame_address(0);
}

static void test_private_stacks_pooled(void **state)
{
    (void)state;
    const long n = scaled(100000, 200);
    /* Warm the pool for both sizes used below. */
    for (int i = 0; i < 2; i++) {
        green_t *g = i ? green_new(where_am_i, NULL, NULL)
                       : new_green(where_am_i, NULL, GREEN_STACK_PRIVATE, 32 * KiB, NULL);
        assert_non_null(g);
        assert_int_equal(green_switch(g, NULL, NULL), 0);
        assert_int_equal(green_destroy(g), 0);
    }
    long maps0 = count_maps();
    void *seen[8];
    int nseen = 0, overflowed = 0;
    for (long i = 0; i < n; i++) {
        green_t *g = i % 2 ? green_new(where_am_i, NULL, NULL)
                           : new_green(where_am_i, NULL, GREEN_STACK_PRIVATE, 32 * KiB, NULL);
        assert_non_null(g);
        void *frame = NULL;
        assert_int_equal(green_switch(g, NULL, &frame), 0);
        assert_true(green_dead(g));
        assert_int_equal(green_destroy(g), 0);
        int j = 0;
        while (j < nseen && seen[j] != frame)
            j++;
        if (j == nseen) {
            if (nseen < 8)
                seen[nseen++] = frame;
            else
                overflowed++;
        }
    }
    long maps1 = count_maps();
    print_message("  %ld greenlets ran on %d distinct stacks; mappings %ld -> %ld\n", n,
                  nseen + overflowed, maps0, maps1);
    /* One stack per size class, reused every time (allow a little slack). */
    assert_in_range(nseen + overflowed, 2, 4);
    assert_in_range(maps1, 0, maps0 + 4);
}

/* Many live at once, then all finished: the stacks go back to the pool and the next
 * generations run on the same stacks, without new mappings. */
static void *report_frame(void *arg)
{
    (void)arg;
    void *v = NULL;
    int rc = green_switch(green_parent(green_current()), __builtin_frame_address(0), &v);
    return rc == 0 ? v : NULL;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

static void test_pool_reuse_across_generations(void **state)
{
    (void)state;
    const int n = (int)scaled(2000, 50);
    green_t **gs = calloc((size_t)n, sizeof *gs);
    void **first = calloc((size_t)n, sizeof *first);
    assert_non_null(gs);
    assert_non_null(first);
    long maps_after_first = 0;
    for (int gen = 0; gen < 4; gen++) {
        for (int i = 0; i < n; i++) {
            gs[i] = new_green(report_frame, NULL, GREEN_STACK_PRIVATE, 24 * KiB, NULL);
            assert_non_null(gs[i]);
            void *frame = NULL;
            assert_int_equal(green_switch(gs[i], NULL, &frame), 0);
            if (gen == 0)
                first[i] = frame;
            else if (!bsearch(&frame, first, (size_t)n, sizeof *first, cmp_ptr))
                fail_msg("generation %d, greenlet %d runs on a stack not used before", gen, i);
        }
        for (int i = 0; i < n; i++) {
            void *v = NULL;
            assert_int_equal(green_switch(gs[i], (void *)(intptr_t)(i * 3), &v), 0);
            assert_int_equal((intptr_t)v, i * 3);
            assert_int_equal(green_destroy(gs[i]), 0);
        }
        if (gen == 0) {
            maps_after_first = count_maps();
            qsort(first, (size_t)n, sizeof *first, cmp_ptr);
            for (int i = 1; i < n; i++)
                assert_true(first[i] != first[i - 1]); /* n live greenlets, n stacks */
        }
    }
    long maps = count_maps();
    print_message("  %d live private greenlets x 4 generations: mappings %ld -> %ld\n", n,
                  maps_after_first, maps);
    assert_in_range(maps, 0, maps_after_first + 2);
    free(first);
    free(gs);
    assert_no_failures();
}

/* ---- the shared region's size -------------------------------------------------------- */

static void *shared_user(void *arg) { return stack_user(arg); }

static void *shared_size_rules(void *arg)
{
    (void)arg;
    /* EINVAL below 64 KiB; nothing changes on failure. */
    size_t bad[] = {0, 1, 4096, 64 * KiB - 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        CHECK_EQ(green_set_shared_stack_size(bad[i]), -1);
        CHECK_EQ(errno, EINVAL);
        CHECK(strstr(green_last_error(), "green_set_shared_stack_size") != NULL);
    }
    CHECK_EQ(green_set_shared_stack_size(64 * KiB), 0);
    CHECK_EQ(green_set_shared_stack_size(GREEN_SHARED_STACK_DEFAULT), 0);
    /* Creating a shared greenlet does not make the region; starting one does. */
    struct usage u = {.bytes = 160 * KiB};
    green_t *g = new_green(shared_user, NULL, GREEN_STACK_SHARED, 0, NULL);
    CHECK_EQ(green_set_shared_stack_size(200 * KiB), 0);
    CHECK_EQ(green_set_shared_stack_size(1), -1); /* the failure leaves 200 KiB */
    if (!g)
        return NULL;
    void *r = NULL;
    CHECK_EQ(green_switch(g, &u, &r), 0); /* 160 KiB deep: fits in 200 KiB */
    CHECK(r == &u);
    CHECK(u.levels >= u.bytes / (4 * KiB) && u.sum == use_stack_expected(u.levels));
    errno = 0;
    CHECK_EQ(green_set_shared_stack_size(GREEN_SHARED_STACK_DEFAULT), -1);
    CHECK_EQ(errno, EBUSY);
    CHECK(strstr(green_last_error(), "green_set_shared_stack_size") != NULL);
    errno = 0;
    CHECK_EQ(green_set_shared_stack_size(200 * KiB), -1); /* even the same size */
    CHECK_EQ(errno, EBUSY);
    CHECK_EQ(green_destroy(g), 0);
    return NULL;
}

static void *fresh_thread_can_set(void *arg)
{
    (void)arg;
    CHECK_EQ(green_set_shared_stack_size(96 * KiB), 0);
    return NULL;
}

static void test_shared_stack_size_rules(void **state)
{
    (void)state;
    run_in_thread(shared_size_rules, NULL);
    assert_no_failures();
    /* Per thread: ours exists once a shared greenlet ran here; another thread's does not. */
    green_t *g = new_green(report_frame, NULL, GREEN_STACK_SHARED, 0, NULL);
    assert_non_null(g);
    assert_int_equal(green_switch(g, NULL, NULL), 0);
    assert_int_equal(green_set_shared_stack_size(GREEN_SHARED_STACK_DEFAULT), -1);
    assert_int_equal(errno, EBUSY);
    run_in_thread(fresh_thread_can_set, NULL);
    assert_no_failures();
    assert_int_equal(green_destroy(g), 0);
}

struct region_case {
    size_t region; /* 0: leave the default */
    size_t depth;
    int status; /* out */
};

static void *region_thread(void *arg)
{
    struct region_case *c = arg;
    if (c->region && green_set_shared_stack_size(c->region) != 0)
        return NULL;
    struct usage u = {.bytes = c->depth};
    green_t *g = new_green(shared_user, NULL, GREEN_STACK_SHARED, 0, NULL);
    void *r = NULL;
    if (g && green_switch(g, &u, &r) == 0 && r == &u && u.levels >= u.bytes / (4 * KiB) &&
        u.sum == use_stack_expected(u.levels))
        c->status = 0;
    return NULL;
}

static void region_child(void *arg)
{
    struct region_case *c = arg;
    c->status = 3;
    run_in_thread(region_thread, c); /* a fresh thread: a fresh region */
    _exit(c->status);
}

static void test_shared_region_size_honoured(void **state)
{
    (void)state;
    const size_t margin = 16 * KiB;
    struct region_case cases[] = {
        {256 * KiB, 0, 0},
        {3 * MiB, 0, 0},
        {0, 0, 0}, /* the default */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct region_case c = cases[i];
        size_t size = c.region ? c.region : GREEN_SHARED_STACK_DEFAULT;
        char err[4096];
        c.depth = size - margin;
        int st = run_in_child(region_child, &c, err, sizeof err);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("region %zu: using %zu bytes failed (status %#x): %s", size, c.depth, st,
                     err);
        c.depth = size + margin;
        st = run_in_child(region_child, &c, err, sizeof err);
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSEGV)
            fail_msg("region %zu: using %zu bytes did not fault (status %#x): %s", size,
                     c.depth, st, err);
    }
}

/* ---- deep shared recursion across switches ------------------------------------------- */

#define FRAME_WORDS 240 /* ~2 KiB of checked data per level */

static uint64_t mix(uint64_t seed, uint64_t level, uint64_t i)
{
    uint64_t x = seed ^ (level * 0x9E3779B97F4A7C15u) ^ (i * 0xC2B2AE3D27D4EB4Fu);
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9u;
    return x ^ (x >> 29);
}

/* What a dive of `levels` levels over seed returns, given what its bottom returned. */
static uint64_t dive_expected(uint64_t seed, int levels, uint64_t bottom)
{
    uint64_t sum = bottom;
    for (int level = 0; level <= levels; level++) {
        uint64_t s = sum;
        for (uint64_t i = 0; i < FRAME_WORDS; i++)
            s += mix(seed, (uint64_t)level, i) * (uint64_t)(level + 1);
        sum = s ^ (uint64_t)level;
    }
    return sum;
}

struct diver {
    uint64_t seed;
    int levels;
    uint64_t (*bottom)(struct diver *);
    long corrupt; /* frames found changed on the way up */
};

static NOINLINE uint64_t dive(struct diver *d, int level)
{
    volatile uint64_t pad[FRAME_WORDS];
    for (uint64_t i = 0; i < FRAME_WORDS; i++)
        pad[i] = mix(d->seed, (uint64_t)level, i);
    uint64_t sum = level == 0 ? d->bottom(d) : dive(d, level - 1);
    for (uint64_t i = 0; i < FRAME_WORDS; i++) {
        uint64_t v = pad[i];
        if (v != mix(d->seed, (uint64_t)level, i))
            d->corrupt++;
        sum += v * (uint64_t)(level + 1);
    }
    return sum ^ (uint64_t)level;
}

static void *diver_run(void *arg)
{
    struct diver *d = arg;
    return (void *)(uintptr_t)dive(d, d->levels);
}

/* The cast: A (1.5 MiB), B (1 MiB) and C (0.5 MiB, started by A at its bottom, so nested
 * below A in the region). */
static struct diver dA, dB, dC;
static green_t *gA, *gB, *gC, *gMain;
enum { TOKEN_A = 1001, TOKEN_B = 1002, TOKEN_C = 1003, TOKEN_M = 1004 };

static uint64_t bottom_A(struct diver *d)
{
    (void)d;
    void *v = NULL;
    CHECK_EQ(green_switch(gMain, (void *)TOKEN_A, &v), 0); /* main then starts B */
    CHECK_EQ((intptr_t)v, TOKEN_B);                          /* B switched straight here */
    gC = new_green(diver_run, NULL, GREEN_STACK_SHARED, 0, "C");
    if (!gC)
        return 0;
    CHECK(green_parent(gC) == gA);
    CHECK_EQ(green_switch(gC, &dC, &v), 0); /* C runs and ends up finishing to us */
    return (uint64_t)(uintptr_t)v;
}

static uint64_t bottom_B(struct diver *d)
{
    (void)d;
    void *v = NULL;
    CHECK_EQ(green_switch(gA, (void *)TOKEN_B, &v), 0); /* shared to shared */
    CHECK_EQ((intptr_t)v, TOKEN_C);
    return 77;
}

static uint64_t bottom_C(struct diver *d)
{
    (void)d;
    void *v = NULL;
    CHECK_EQ(green_switch(gB, (void *)TOKEN_C, &v), 0); /* B at the top: C is copied out */
    CHECK_EQ((intptr_t)v, TOKEN_M);
    return 5;
}

static void test_shared_deep_recursion_survives(void **state)
{
    (void)state;
    const int level_bytes = FRAME_WORDS * 8 + 64;
    dA = (struct diver){.seed = 0xA, .levels = (int)(1536 * KiB) / level_bytes};
    dB = (struct diver){.seed = 0xB, .levels = (int)(1024 * KiB) / level_bytes};
    dC = (struct diver){.seed = 0xC, .levels = (int)(512 * KiB) / level_bytes};
    dA.bottom = bottom_A;
    dB.bottom = bottom_B;
    dC.bottom = bottom_C;
    gMain = green_current();
    gA = new_green(diver_run, NULL, GREEN_STACK_SHARED, 0, "A");
    gB = new_green(diver_run, NULL, GREEN_STACK_SHARED, 0, "B");
    assert_non_null(gA);
    assert_non_null(gB);
    void *v = NULL;
    /* A dives and comes back to us from its bottom. */
    assert_int_equal(green_switch(gA, &dA, &v), 0);
    assert_int_equal((intptr_t)v, TOKEN_A);
    /* B starts at the top of the region, over A's frames; it dives, switches to A (restored
     * from the heap), A starts C below itself, C dives and switches to B, B unwinds and
     * finishes to us. */
    assert_int_equal(green_switch(gB, &dB, &v), 0);
    assert_no_failures();
    assert_true(green_dead(gB));
    assert_int_equal(dB.corrupt, 0);
    assert_true((uint64_t)(uintptr_t)v == dive_expected(dB.seed, dB.levels, 77));
    /* C unwinds and finishes to its parent A, which unwinds and finishes to us. */
    assert_int_equal(green_switch(gC, (void *)TOKEN_M, &v), 0);
    assert_no_failures();
    assert_true(green_dead(gC));
    assert_true(green_dead(gA));
    assert_int_equal(dC.corrupt, 0);
    assert_int_equal(dA.corrupt, 0);
    uint64_t c_sum = dive_expected(dC.seed, dC.levels, 5);
    assert_true((uint64_t)(uintptr_t)v == dive_expected(dA.seed, dA.levels, c_sum));
    assert_int_equal(green_destroy(gA), 0);
    assert_int_equal(green_destroy(gB), 0);
    assert_int_equal(green_destroy(gC), 0);
}

/* Four deep shared greenlets, all started at the top of the region (from main), taking
 * turns: every switch copies one out of the region and another back in. */
static struct diver rr[4];
static green_t *rr_g[4];
static int rr_turns;

static uint64_t bottom_rr(struct diver *d)
{
    int me = (int)(d - rr);
    void *v = NULL;
    CHECK_EQ(green_switch(gMain, (void *)(intptr_t)me, &v), 0); /* ready */
    for (int t = 0; t < rr_turns; t++)
        CHECK_EQ(green_switch(rr_g[(me + 1) % 4], (void *)(intptr_t)(t * 4 + me), &v), 0);
    return (uint64_t)me; /* the last ones to finish find the ring dead and go to main */
}

static void *rr_run(void *arg)
{
    (void)arg;
    for (int i = 0; i < 4; i++)
        if (rr_g[i] == green_current())
            return diver_run(&rr[i]);
    note_failure(__LINE__, "unknown greenlet");
    return NULL;
}

static void test_shared_round_robin_deep(void **state)
{
    (void)state;
    gMain = green_current();
    rr_turns = (int)scaled(50, 5);
    const int level_bytes = FRAME_WORDS * 8 + 64;
    for (int i = 0; i < 4; i++) {
        rr[i] = (struct diver){.seed = 100u + (unsigned)i,
                               .levels = (int)((256 + 256 * (size_t)i) * KiB) / level_bytes,
                               .bottom = bottom_rr};
        rr_g[i] = new_green(rr_run, NULL, GREEN_STACK_SHARED, 0, NULL);
        assert_non_null(rr_g[i]);
    }
    void *v = NULL;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(green_switch(rr_g[i], NULL, &v), 0);
        assert_int_equal((intptr_t)v, i);
    }
    /* Go round; whenever control comes back here, resume whoever is still alive. */
    assert_int_equal(green_switch(rr_g[0], NULL, &v), 0);
    for (int round = 0; round < 100; round++) {
        int alive = 0;
        for (int i = 0; i < 4; i++)
            if (!green_dead(rr_g[i])) {
                alive++;
                assert_int_equal(green_switch(rr_g[i], NULL, &v), 0);
            }
        if (!alive)
            break;
    }
    assert_no_failures();
    for (int i = 0; i < 4; i++) {
        assert_true(green_dead(rr_g[i]));
        assert_int_equal(rr[i].corrupt, 0);
        assert_int_equal(green_destroy(rr_g[i]), 0);
    }
}

/* ---- mixed stack models in one parent chain ------------------------------------------ */

struct chain {
    int models[3]; /* parent, child, grandchild */
    green_t *g[3];
    long corrupt;
};

static NOINLINE long frame_checked(struct chain *c, int who, long (*inner)(struct chain *, int))
{
    volatile long pad[200];
    for (int i = 0; i < 200; i++)
        pad[i] = who * 1000 + i;
    long r = inner(c, who);
    for (int i = 0; i < 200; i++)
        if (pad[i] != who * 1000 + i)
            c->corrupt++;
    return r;
}

static void *chain_body(void *arg);

static long chain_step(struct chain *c, int who)
{
    if (who == 2)
        return 7;
    green_t *kid = new_green(chain_body, NULL, c->models[who + 1], 32 * KiB, NULL);
    if (!kid)
        return -1000;
    c->g[who + 1] = kid;
    CHECK(green_parent(kid) == c->g[who]);
    CHECK_EQ(!!(green_state(kid) & GREEN_SHARED), c->models[who + 1] == GREEN_STACK_SHARED);
    void *v = NULL;
    CHECK_EQ(green_switch(kid, c, &v), 0);
    CHECK(green_dead(kid));
    return (long)(intptr_t)v * 10 + who; /* 7 -> 71 -> 710 */
}

static void *chain_body(void *arg)
{
    struct chain *c = arg;
    int who = 0;
    while (who < 3 && c->g[who] != green_current())
        who++;
    CHECK(who < 3);
    return (void *)(intptr_t)frame_checked(c, who, chain_step);
}

static void test_mixed_models_chain(void **state)
{
    (void)state;
    const int combos[][3] = {
        {GREEN_STACK_PRIVATE, GREEN_STACK_SHARED, GREEN_STACK_PRIVATE},
        {GREEN_STACK_SHARED, GREEN_STACK_PRIVATE, GREEN_STACK_SHARED},
        {GREEN_STACK_SHARED, GREEN_STACK_SHARED, GREEN_STACK_PRIVATE},
        {GREEN_STACK_PRIVATE, GREEN_STACK_PRIVATE, GREEN_STACK_SHARED},
    };
    for (size_t k = 0; k < sizeof combos / sizeof combos[0]; k++) {
        struct chain c = {.models = {combos[k][0], combos[k][1], combos[k][2]}};
        c.g[0] = new_green(chain_body, NULL, c.models[0], 32 * KiB, NULL);
        assert_non_null(c.g[0]);
        void *v = NULL;
        assert_int_equal(green_switch(c.g[0], &c, &v), 0);
        assert_no_failures();
        assert_int_equal((intptr_t)v, 710);
        assert_int_equal(c.corrupt, 0);
        for (int i = 0; i < 3; i++) {
            assert_non_null(c.g[i]);
            assert_true(green_dead(c.g[i]));
            assert_int_equal(green_destroy(c.g[i]), 0);
        }
    }
}

/* Finishing through a dead parent of the other model: the grandchild outlives its parent,
 * and its value (or error) goes on to the grandparent. */
static green_t *orphan_gp, *orphan_p, *orphan_kid;
static int orphan_models[3];

static void *orphan_kid_body(void *arg)
{
    void *v = NULL;
    /* Back to the parent, which then finishes. */
    CHECK_EQ(green_switch(green_parent(green_current()), arg, &v), 0);
    if ((intptr_t)v == 1)
        green_exit(EIO, (void *)0xE10);
    return (void *)((intptr_t)v + 1);
}

static void *orphan_p_body(void *arg)
{
    orphan_kid = new_green(orphan_kid_body, NULL, orphan_models[2], 0, NULL);
    void *v = NULL;
    CHECK_EQ(green_switch(orphan_kid, arg, &v), 0);
    CHECK(v == arg);
    return (void *)0x9a; /* dies, leaving its child suspended */
}

static void *orphan_gp_body(void *arg)
{
    orphan_p = new_green(orphan_p_body, NULL, orphan_models[1], 0, NULL);
    void *v = NULL;
    CHECK_EQ(green_switch(orphan_p, (void *)0x51, &v), 0);
    CHECK(v == (void *)0x9a);
    CHECK(green_dead(orphan_p));
    /* Resume the orphan: its finish skips its dead parent and comes here. */
    int rc = green_switch(orphan_kid, arg, &v);
    if ((intptr_t)arg == 1) {
        CHECK_EQ(rc, EIO);
        CHECK(v == (void *)0xE10);
    } else {
        CHECK_EQ(rc, 0);
        CHECK_EQ((intptr_t)v, (intptr_t)arg + 1);
    }
    CHECK(green_dead(orphan_kid));
    return (void *)(intptr_t)(rc * 1000 + 1);
}

static void test_finish_through_dead_parent_mixed(void **state)
{
    (void)state;
    for (int combo = 0; combo < 8; combo++) {
        for (int how = 1; how <= 2; how++) { /* 1: error, 2: value */
            for (int i = 0; i < 3; i++)
                orphan_models[i] = (combo >> i) & 1;
            orphan_gp = new_green(orphan_gp_body, NULL, orphan_models[0], 0, NULL);
            assert_non_null(orphan_gp);
            void *v = NULL;
            assert_int_equal(green_switch(orphan_gp, (void *)(intptr_t)how, &v), 0);
            assert_no_failures();
            assert_int_equal((intptr_t)v, (how == 1 ? EIO : 0) * 1000 + 1);
            assert_true(green_dead(orphan_gp));
            assert_int_equal(green_destroy(orphan_kid), 0);
            assert_int_equal(green_destroy(orphan_p), 0);
            assert_int_equal(green_destroy(orphan_gp), 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CHECKED_TEST(test_private_stack_size_honoured),
        CHECKED_TEST(test_private_stacks_pooled),
        CHECKED_TEST(test_pool_reuse_across_generations),
        CHECKED_TEST(test_shared_stack_size_rules),
        CHECKED_TEST(test_shared_region_size_honoured),
        CHECKED_TEST(test_shared_deep_recursion_survives),
        CHECKED_TEST(test_shared_round_robin_deep),
        CHECKED_TEST(test_mixed_models_chain),
        CHECKED_TEST(test_finish_through_dead_parent_mixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
