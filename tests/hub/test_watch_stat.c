/* SPDX-License-Identifier: MIT */
/* green_stat_wait: a write and a removal wake the waiter with the new attributes; timeouts,
 * kills, refusals.  The waiter blocks before the file changes (sleep(0) orders it). */
#include "hubtest.h"

static char path[256];

static void make_file(void)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/green-stat-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
}

static void *waiter(void *arg)
{
    (void)arg;
    say("W waits");
    struct stat st;
    int rc = green_stat_wait(path, 0.01, GREEN_FOREVER, &st);
    if (rc == 0)
        say("W size %lld nlink %lld", (long long)st.st_size, (long long)st.st_nlink);
    else
        say("W %s", errno == ECANCELED ? "ECANCELED" : strerror(errno));
    return NULL;
}

static void test_write(void **state)
{
    make_file();
    green_t *w = SPAWN_MODEL(waiter, NULL, model_of(state));
    assert_int_equal(green_sleep(0), 0);
    say("main writes");
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs("hello", f);
    fclose(f);
    JOIN(w);
    assert_no_failures();
    assert_order("W waits", "main writes", "W size 5 nlink 1");
    unlink(path);
}

static void test_remove(void **state)
{
    make_file();
    green_t *w = SPAWN_MODEL(waiter, NULL, model_of(state));
    assert_int_equal(green_sleep(0), 0);
    say("main removes");
    assert_int_equal(unlink(path), 0);
    JOIN(w);
    assert_no_failures();
    assert_order("W waits", "main removes", "W size 0 nlink 0");
}

static void test_timeout_and_kill(void **state)
{
    make_file();
    CHECK_FAILS(green_stat_wait(path, 0, 0, NULL), ETIMEDOUT);
    CHECK_FAILS(green_stat_wait(path, 0.01, 0.02, NULL), ETIMEDOUT);
    green_t *w = SPAWN_MODEL(waiter, NULL, model_of(state));
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_kill(w, GREEN_FOREVER), 0);
    assert_int_equal(green_release(w), 0);
    assert_no_failures();
    assert_order("W waits", "W ECANCELED");
    unlink(path);
}

static void in_hub(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_stat_wait("/", 0, 0, NULL), EPERM);
}

static void test_refusals(void **state)
{
    (void)state;
    CHECK_FAILS(green_stat_wait(NULL, 0, 0, NULL), EINVAL);
    CHECK_FAILS(green_stat_wait("", 0, 0, NULL), EINVAL);
    CHECK_FAILS(green_stat_wait("/", -1, 0, NULL), EINVAL);
    CHECK_FAILS(green_stat_wait("/", 0.0 / 0.0, 0, NULL), EINVAL);
    CHECK_FAILS(green_stat_wait("/", 0, 0.0 / 0.0, NULL), EINVAL);
    run_in_hub(in_hub, NULL);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST_MODELS(test_write),
        HUB_TEST_MODELS(test_remove),
        HUB_TEST_MODELS(test_timeout_and_kill),
        HUB_TEST(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
