/* SPDX-License-Identifier: MIT */
/* The examples print what the README says they print. */
#include "testutil.h"

/* cmd: an example's name and its arguments, as a shell would read them. */
static void run(const char *cmd, char *out, size_t len)
{
    char rel[256], path[1024];
    snprintf(rel, sizeof rel, "examples/%s", cmd);
    build_path(path, sizeof path, rel);
    FILE *p = popen(path, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = 0;
    assert_int_equal(pclose(p), 0);
}

static void test_seed_switch(void **state)
{
    (void)state;
    char out[256];
    run("seed_switch", out, sizeof out);
    assert_string_equal(out, "12\n56\n34\n78\n");
}

static void test_generator(void **state)
{
    (void)state;
    char out[256];
    run("generator", out, sizeof out);
    assert_string_equal(out, "10 9 8 7 6 5 4 3 2 1 liftoff\n");
    run("generator shared", out, sizeof out);
    assert_string_equal(out, "10 9 8 7 6 5 4 3 2 1 liftoff\n");
}

static void test_shared_stack(void **state)
{
    (void)state;
    char out[256];
    run("shared_stack", out, sizeof out);
    assert_non_null(strstr(out, "100000 producers suspended"));
    assert_non_null(strstr(out, "stacks intact"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_switch),
        cmocka_unit_test(test_generator),
        cmocka_unit_test(test_shared_stack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
