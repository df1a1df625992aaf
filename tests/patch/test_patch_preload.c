/* SPDX-License-Identifier: MIT */
/* LD_PRELOAD=libgreen-patch.so into a program that only links the shared libgreen
 * (preload_target.c): its usleeps and reads park instead of blocking the thread.  The
 * same program without the preload shows the difference (the sleeps add up).  Skipped
 * under ASAN, whose runtime must come first in the preload list. */
#include <stdio.h>
#include <stdlib.h>

#include "program.h"

struct result {
    int loaded, active;
    double took;
    char got[16];
};

static void run_target(bool preload, struct result *r)
{
    char lib[1024], buf[256];
    build_path(lib, sizeof lib, "src/patch/libgreen-patch.so");
    char *argv[] = {"tests/patch/preload_target", NULL};
    /* Without: unset, not inherited (valgrind, for one, preloads its own). */
    struct program p = program_start_env(argv, "LD_PRELOAD", preload ? lib : NULL);
    assert_int_equal(program_output(&p, buf, sizeof buf), 0);
    assert_int_equal(sscanf(buf, "loaded %d active %d took %lf got %15s", &r->loaded, &r->active,
                            &r->took, r->got),
                     4);
}

static void test_preloaded(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    print_message("ASAN's runtime must come first in LD_PRELOAD, before libgreen-patch: "
                  "skipped under ASAN (the linked-in tests cover the same calls)\n");
    skip();
#endif
    struct result with, without;
    run_target(true, &with);
    run_target(false, &without);
    print_message("preloaded: %.3f s, not: %.3f s\n", with.took, without.took);
    assert_int_equal(with.loaded, 1);
    assert_int_equal(with.active, 1);
    assert_string_equal(with.got, "abcde"); /* each greenlet read one byte, in order */
    assert_int_equal(without.loaded, 0);
    assert_string_equal(without.got, "abcde");
    /* Preloaded, main's 50 ms sleep and the five greenlets' overlap; without, the six
     * sleeps follow one another (300 ms). */
    assert_true(with.took < 0.25);
    assert_true(without.took >= 0.29);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preloaded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
