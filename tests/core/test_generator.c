/* SPDX-License-Identifier: MIT */
/* Generators built on switch (greenlet's classic demo), including generators that consume
 * other generators, in both stack models.  Generator bodies run on greenlet stacks: they
 * record failures with CHECK(). */
#include "testutil.h"

struct gen {
    green_t *g;
    bool done;
};

/* Inside a generator: hand v to the consumer (the parent) and wait to be asked again.
 * Returns GREEN_EXIT if the consumer destroyed the generator instead. */
static int yield(intptr_t v)
{
    int rc = green_switch(green_parent(green_current()), (void *)v, NULL);
    CHECK(rc == 0 || rc == GREEN_EXIT);
    return rc;
}

/* Consumer side (main, or a generator consuming another): the next value, or false when
 * the generator finished or could not be resumed. */
static bool next(struct gen *gen, void *start_arg, intptr_t *out)
{
    void *v = NULL;
    int rc = green_switch(gen->g, start_arg, &v);
    CHECK_EQ(rc, 0);
    if (rc != 0 || green_dead(gen->g)) {
        gen->done = true;
        return false;
    }
    *out = (intptr_t)v;
    return true;
}

#define start(fn, model) ((struct gen){new_green((fn), NULL, (model), 0, NULL), false})

static void *squares(void *arg)
{
    intptr_t n = (intptr_t)arg;
    for (intptr_t i = 1; i <= n; i++)
        yield(i * i);
    return NULL;
}

static void test_simple_generator(void **state)
{
    struct gen gen = start(squares, model_of(state));
    intptr_t v, i = 1;
    void *arg = (void *)(intptr_t)20;
    while (next(&gen, arg, &v)) {
        assert_int_equal(v, i * i);
        i++;
        arg = NULL;
    }
    assert_int_equal(i, 21);
    green_destroy(gen.g);
}

/* A generator that filters another one: the inner generator's parent is the outer one,
 * because the outer one creates it. */
static int inner_model;
static void *even_squares(void *arg)
{
    (void)arg;
    struct gen inner = start(squares, inner_model);
    intptr_t v;
    void *a = (void *)(intptr_t)30;
    while (next(&inner, a, &v)) {
        a = NULL;
        if (v % 2 == 0)
            yield(v);
    }
    green_destroy(inner.g);
    return NULL;
}

static void test_nested_generators(void **state)
{
    for (inner_model = 0; inner_model <= 1; inner_model++) {
        struct gen outer = start(even_squares, model_of(state));
        intptr_t v, count = 0, expect = 2;
        while (next(&outer, NULL, &v)) {
            assert_int_equal(v, expect * expect);
            expect += 2;
            count++;
        }
        assert_int_equal(count, 15);
        green_destroy(outer.g);
    }
}

/* Many generators interleaved: each keeps its own locals across yields. */
static void *fib(void *arg)
{
    intptr_t seed = (intptr_t)arg;
    intptr_t a = seed, b = seed + 1;
    char pattern[200];
    memset(pattern, (int)seed, sizeof pattern);
    for (;;) {
        if (yield(a) == GREEN_EXIT)
            return NULL;
        for (size_t i = 0; i < sizeof pattern; i++)
            if (pattern[i] != (char)seed) {
                note_failure(__LINE__, "generator %ld: its stack changed", (long)seed);
                return NULL;
            }
        intptr_t t = a + b;
        a = b;
        b = t;
    }
}

static void test_interleaved_generators(void **state)
{
    int model = model_of(state);
    enum { N = 16, STEPS = 40 };
    struct gen gens[N];
    intptr_t a[N], b[N];
    for (int i = 0; i < N; i++) {
        gens[i] = start(fib, (model + i) % 2 ? GREEN_STACK_SHARED : GREEN_STACK_PRIVATE);
        a[i] = i + 1;
        b[i] = i + 2;
    }
    for (int s = 0; s < STEPS; s++)
        for (int i = 0; i < N; i++) {
            intptr_t v;
            assert_true(next(&gens[i], s == 0 ? (void *)(intptr_t)(i + 1) : NULL, &v));
            assert_int_equal(v, a[i]);
            intptr_t t = a[i] + b[i];
            a[i] = b[i];
            b[i] = t;
        }
    for (int i = 0; i < N; i++)
        assert_int_equal(green_destroy(gens[i].g), 0); /* killed mid-sequence */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PRIVATE_AND_SHARED(test_simple_generator),
        PRIVATE_AND_SHARED(test_nested_generators),
        PRIVATE_AND_SHARED(test_interleaved_generators),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
