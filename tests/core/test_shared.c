/* SPDX-License-Identifier: MIT */
/* The shared stack model: stack slices saved and restored correctly in every arrangement —
 * siblings at the top of the region, nested greenlets started from shared ones, private and
 * shared greenlets interleaved, stacks of many sizes. */
#include "testutil.h"

/* Greenlet bodies run on the shared region (or private stacks): they record failures with
 * CHECK() and note_failure(), never with cmocka's assertions. */
#define new_shared(fn, parent) new_green((fn), (parent), GREEN_STACK_SHARED, 0, NULL)

static unsigned char pattern_byte(uint64_t id, size_t i) { return (unsigned char)(id * 131 + i * 7); }

/* Keeps `size` bytes of live stack with a pattern unique to the greenlet and checks it
 * every time it resumes.  Each resume's value says where to switch next: a greenlet, or
 * NULL for main, which is then told our id. */
struct job {
    size_t size;
    int rounds;
};

static void check_or_fill(unsigned char *buf, size_t n, uint64_t id, bool fill)
{
    for (size_t i = 0; i < n; i++) {
        if (fill) {
            buf[i] = pattern_byte(id, i);
        } else if (buf[i] != pattern_byte(id, i)) {
            note_failure(__LINE__, "greenlet %llu: stack byte %zu of %zu changed across a "
                                   "switch", (unsigned long long)id, i, n);
            return;
        }
    }
}

static void *hold_stack(void *arg)
{
    const struct job *job = arg;
    uint64_t id = green_id(green_current());
    unsigned char *buf = __builtin_alloca(job->size);
    check_or_fill(buf, job->size, id, true);
    void *next = green_main();
    for (int r = 0; r < job->rounds; r++) {
        /* main is told who we are; another greenlet is told to go back to main */
        void *to, *say = next == green_main() ? (void *)(uintptr_t)id : NULL;
        int rc = green_switch(next, say, &to);
        if (rc == GREEN_EXIT)
            return NULL;
        if (rc != 0) {
            note_failure(__LINE__, "greenlet %llu: switch returned %d: %s",
                         (unsigned long long)id, rc, green_last_error());
            return NULL;
        }
        check_or_fill(buf, job->size, id, false);
        next = to ? to : green_main();
    }
    return (void *)(uintptr_t)(id + 1);
}

/* Siblings started from main all sit at the top of the region: every switch between them
 * saves one and restores the other. */
static void test_siblings_keep_their_stacks(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 16, 128, 1000, 4096, 20000, 100000};
    enum { N = sizeof sizes / sizeof sizes[0] };
    struct job jobs[N];
    green_t *g[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct job){sizes[i], 50};
        g[i] = new_shared(hold_stack, NULL);
        void *r;
        assert_int_equal(green_switch(g[i], &jobs[i], &r), 0);
        assert_int_equal((uintptr_t)r, green_id(g[i]));
    }
    /* resume them in a scrambled order, many times */
    for (int round = 1; round < 50; round++)
        for (int k = 0; k < N; k++) {
            int i = (k * 3 + round) % N;
            void *r;
            assert_int_equal(green_switch(g[i], NULL, &r), 0);
            assert_int_equal((uintptr_t)r, green_id(g[i]));
        }
    for (int i = 0; i < N; i++) {
        void *r;
        assert_int_equal(green_switch(g[i], NULL, &r), 0);
        assert_int_equal((uintptr_t)r, green_id(g[i]) + 1); /* finished */
        green_destroy(g[i]);
    }
}

/* Shared greenlets switching directly among themselves (through the copier). */
static void test_direct_switches_between_shared(void **state)
{
    (void)state;
    enum { N = 5 };
    struct job jobs[N];
    green_t *g[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct job){(size_t)(i * 700 + 64), 1 << 30};
        g[i] = new_shared(hold_stack, NULL);
        assert_int_equal(green_switch(g[i], &jobs[i], NULL), 0);
    }
    for (int round = 0; round < 100; round++) {
        /* g[i] resumes and switches to g[i+1], which switches back to main */
        for (int i = N - 1; i >= 0; i--) {
            void *r;
            int to = i + 1 < N ? i + 1 : i;
            assert_int_equal(green_switch(g[i], to == i ? NULL : g[to], &r), 0);
            assert_int_equal((uintptr_t)r, green_id(g[to]));
        }
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(green_destroy(g[i]), 0);
}

/* The first byte of p[0..n) that is not c, or NULL. */
static const char *memchr_not(const char *p, char c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != c)
            return p + i;
    return NULL;
}

/* Nested: a shared greenlet starts a shared child below its own frames (no copying), and
 * the child's child, and so on; values climb back up through the finishes. */
static void *nest(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    char mine[300];
    memset(mine, (int)depth, sizeof mine);
    intptr_t below = 0;
    if (depth > 0) {
        green_t *child = new_shared(nest, NULL);
        void *r = NULL;
        /* the child yields once to us (its parent), then finishes */
        CHECK_EQ(green_switch(child, (void *)(depth - 1), &r), 0);
        CHECK_EQ((intptr_t)r, -(depth - 1));
        CHECK_EQ(green_switch(child, NULL, &r), 0);
        below = (intptr_t)r;
        green_destroy(child);
    }
    CHECK(memchr_not(mine, (char)depth, sizeof mine) == NULL);
    green_switch(green_parent(green_current()), (void *)-depth, NULL);
    CHECK(memchr_not(mine, (char)depth, sizeof mine) == NULL);
    return (void *)(below + depth);
}

static void test_nested_shared(void **state)
{
    (void)state;
    green_t *top = new_shared(nest, NULL);
    void *r;
    assert_int_equal(green_switch(top, (void *)30, &r), 0);
    assert_int_equal((intptr_t)r, -30);
    assert_int_equal(green_switch(top, NULL, &r), 0);
    assert_int_equal((intptr_t)r, 30 * 31 / 2);
    green_destroy(top);
}

/* Random interleaving of private and shared greenlets with live stacks of random sizes. */
static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) { return splitmix64(&rng); }

static void test_mixed_models_random(void **state)
{
    (void)state;
    enum { N = 24 };
    struct job jobs[N];
    green_t *g[N];
    long rounds = scaled(20000, 500);
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct job){(size_t)(next_rand() % 6000), 1 << 30};
        g[i] = new_green(hold_stack, NULL, (int)(next_rand() % 2), 64 * KiB, NULL);
        assert_int_equal(green_switch(g[i], &jobs[i], NULL), 0);
    }
    for (long k = 0; k < rounds; k++) {
        int i = (int)(next_rand() % N), j = (int)(next_rand() % N);
        void *r;
        /* g[i] resumes, then switches to g[j] (or main if j == i), which switches to main */
        assert_int_equal(green_switch(g[i], i == j ? NULL : g[j], &r), 0);
        assert_int_equal((uintptr_t)r, green_id(g[j]));
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(green_destroy(g[i]), 0);
}

/* A shared greenlet under a private parent under a shared grandparent: finishes climb. */
static void *add_ten(void *arg) { return (void *)((intptr_t)arg + 10); }

static void test_mixed_chain(void **state)
{
    (void)state;
    green_t *gp = new_green(add_ten, NULL, GREEN_STACK_SHARED, 0, NULL);
    green_t *p = new_green(add_ten, gp, GREEN_STACK_PRIVATE, 64 * KiB, NULL);
    green_t *c = new_green(add_ten, p, GREEN_STACK_SHARED, 0, NULL);
    void *r;
    assert_int_equal(green_switch(c, (void *)1, &r), 0);
    assert_int_equal((intptr_t)r, 31);
    green_destroy(c);
    green_destroy(p);
    green_destroy(gp);
}

/* ---- where a shared greenlet starts ------------------------------------------------- */

static uintptr_t frame_of(void) { return (uintptr_t)__builtin_frame_address(0); }
static uintptr_t distance(uintptr_t a, uintptr_t b) { return a > b ? a - b : b - a; }

static void *report_frame(void *arg)
{
    (void)arg;
    return (void *)frame_of();
}

/* Starts a child of its own (nested) and one whose parent is main; reports both frames and
 * its own through the array it is given. */
static void *start_two(void *arg)
{
    uintptr_t *out = arg;
    out[0] = frame_of();
    green_t *own = new_shared(report_frame, green_current());
    green_t *mains = new_shared(report_frame, green_main());
    void *r = NULL;
    CHECK_EQ(green_switch(own, NULL, &r), 0); /* it finishes back into us */
    out[1] = (uintptr_t)r;
    green_destroy(own);
    /* mains finishes into main: main switches back to us with its frame */
    CHECK_EQ(green_switch(mains, NULL, NULL), 0);
    green_destroy(mains);
    return NULL;
}

/* Greenlets started from main take the regions in turn; a child started by its shared
 * parent starts just below it, in its region; one it starts for another parent goes to
 * another region. */
static void test_placement(void **state)
{
    (void)state;
    enum { K = GREEN_SHARED_STACKS_DEFAULT };
    uintptr_t at[K + 1];
    for (int i = 0; i <= K; i++) {
        green_t *g = new_shared(report_frame, NULL);
        void *r = NULL;
        assert_int_equal(green_switch(g, NULL, &r), 0);
        at[i] = (uintptr_t)r;
        green_destroy(g);
    }
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++)
            assert_true(distance(at[i], at[j]) >= GREEN_SHARED_STACK_DEFAULT);
    assert_int_equal(at[K], at[0]); /* the first region again, at its top */

    uintptr_t out[2] = {0, 0};
    green_t *p = new_shared(start_two, NULL);
    void *r = NULL;
    assert_int_equal(green_switch(p, out, &r), 0); /* back with the frame of mains */
    uintptr_t other = (uintptr_t)r;
    assert_true(out[1] < out[0] && out[0] - out[1] < 64 * KiB);
    assert_true(distance(other, out[0]) >= GREEN_SHARED_STACK_DEFAULT);
    assert_int_equal(green_switch(p, NULL, NULL), 0);
    assert_true(green_dead(p));
    green_destroy(p);
}

static void test_state_bit(void **state)
{
    (void)state;
    green_t *g = new_shared(add_ten, NULL);
    assert_true(green_state(g) & GREEN_SHARED);
    green_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CHECKED_TEST(test_siblings_keep_their_stacks),
        CHECKED_TEST(test_direct_switches_between_shared),
        CHECKED_TEST(test_nested_shared),
        CHECKED_TEST(test_mixed_models_random),
        CHECKED_TEST(test_mixed_chain),
        CHECKED_TEST(test_placement),
        CHECKED_TEST(test_state_bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
