/* SPDX-License-Identifier: MIT */
/* The hub's examples print what gevent prints for the same programs, and exit 0. */
#include "testutil.h"

/* cmd: an example's name and its arguments, as a shell would read them. */
static void run(const char *cmd, char *out, size_t len)
{
    char rel[256], path[1024], line[1600];
    snprintf(rel, sizeof rel, "examples/%s", cmd);
    build_path(path, sizeof path, rel);
    /* In a cross build, meson test gives the emulator command (qemu-user) that runs the
     * target's programs; a shell command line already. */
    const char *wrapper = getenv("MESON_EXE_WRAPPER");
    snprintf(line, sizeof line, "%s %s", wrapper ? wrapper : "", path);
    FILE *p = popen(line, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = 0;
    int status = pclose(p);
    if (status != 0)
        fail_msg("%s: exit status %#x, printed:\n%s", cmd, status, out);
}

/* Sleepers wake in the order they went to sleep, all after about one sleep's time (the
 * program fails if they took half the time of sleeping one after another: 0.5 s for 10,
 * a margin that a loaded machine under qemu-user keeps too). */
static void test_sleepers(void **state)
{
    (void)state;
    static const int counts[] = {10, 200};
    static char out[4096], want[4096];
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        int n = counts[k];
        char cmd[64];
        snprintf(cmd, sizeof cmd, "sleepers %d 0.1", n);
        run(cmd, out, sizeof out);
        size_t len = (size_t)snprintf(want, sizeof want, "woke:");
        for (int i = 0; i < n; i++)
            len += (size_t)snprintf(want + len, sizeof want - len, " %d", i);
        snprintf(want + len, sizeof want - len,
                 "\n%d sleeps of 0.1 s each: all done in about 0.1 s, not %g s\n", n,
                 n * 0.1);
        assert_string_equal(out, want);
    }
}

/* gevent 22.10 prints exactly this for the same program (Queue(maxsize=2), producers
 * spawned before consumers, each consumer sleeping 0 after an item). */
static void test_producer_consumer(void **state)
{
    (void)state;
    char out[1024];
    run("producer_consumer", out, sizeof out);
    assert_string_equal(out, "A puts A1\n"
                             "A puts A2\n"
                             "A puts A3\n"
                             "B puts B1\n"
                             "x got A1\n"
                             "y got A2\n"
                             "A done\n"
                             "B puts B2\n"
                             "x got A3\n"
                             "y got B1\n"
                             "B puts B3\n"
                             "B done\n"
                             "x got B2\n"
                             "y got B3\n"
                             "producers done\n"
                             "x stops\n"
                             "y stops\n"
                             "consumers done\n");
}

/* Timers due together fire in deadline order, each resuming its greenlet at once, and
 * the delivery comes from a callback, which runs before timers: so the outcomes do not
 * depend on how late the process gets to run. */
static void test_timeout(void **state)
{
    (void)state;
    char out[1024];
    run("timeout 0.2", out, sizeof out);
    assert_string_equal(out, "scoped 0.2 s: a 0.8 s call timed out, the scope fired\n"
                             "scoped 0.2 s: a 0.05 s call finished\n"
                             "per call 0.2 s: get finished with the parcel\n"
                             "per call 0.2 s: get again timed out, the queue is empty\n"
                             "scoped 0.2 s around a get with 0.8 s: get timed out, "
                             "the scope fired\n");
}

/* gevent 22.10 prints exactly this for Pool(3).map over the same workers (the program's
 * header quotes it): starts and ends interleave as the pool's places free up, the results
 * come in input order. */
static void test_pool_map(void **state)
{
    (void)state;
    char out[1024];
    run("pool_map", out, sizeof out);
    assert_string_equal(out, "start 0\n"
                             "done 0\n"
                             "start 1\n"
                             "start 2\n"
                             "done 1\n"
                             "done 2\n"
                             "start 3\n"
                             "done 3\n"
                             "start 4\n"
                             "done 4\n"
                             "start 5\n"
                             "start 6\n"
                             "done 6\n"
                             "done 5\n"
                             "results: 0 1 4 9 16 25 36\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sleepers),
        cmocka_unit_test(test_producer_consumer),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_pool_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
