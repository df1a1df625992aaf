/* SPDX-License-Identifier: MIT */
/* Reports of greenlets that die of an error nobody joined: the default line on stderr, no
 * report for joined, linked or killed greenlets, and the handler that takes over. */
#include "hubtest.h"
#include "stderr_capture.h"

static void *fail_with(void *arg)
{
    green_exit((int)(intptr_t)arg, "payload");
    return NULL;
}

static void *fail_later(void *arg)
{
    CHECK_EQ(green_sleep(0), 0);
    green_exit((int)(intptr_t)arg, NULL);
    return NULL;
}

static void *wait_forever(void *arg)
{
    (void)arg;
    CHECK_EQ(green_sleep(100), -1);
    return NULL;
}

static void ignore(green_t *g, void *arg) { (void)g, (void)arg; }

static void test_default_report(void **state)
{
    (void)state;
    char out[1024], expected[256];
    green_attr_t attr = GREEN_ATTR_INIT;
    attr.name = "worker";
    capture_start();
    green_t *bad = green_spawn(fail_with, (void *)(intptr_t)EIO, &attr);
    green_t *joined = green_spawn(fail_later, (void *)(intptr_t)EPIPE, NULL);
    green_t *linked = green_spawn(fail_with, (void *)(intptr_t)EBADF, NULL);
    green_t *killed = green_spawn(wait_forever, NULL, NULL);
    int rc = green_link(linked, ignore, NULL);
    int slept = green_sleep(0);
    int joined_rc = green_join(joined, GREEN_FOREVER, NULL);
    int kill_rc = green_kill(killed, GREEN_FOREVER);
    capture_stop(out, sizeof out);
    assert_int_equal(rc, 0);
    assert_int_equal(slept, 0);
    assert_int_equal(joined_rc, EPIPE);
    assert_int_equal(kill_rc, 0);
    snprintf(expected, sizeof expected,
             "libgreen: greenlet 'worker' (id %llu) died with error %d (%s) and nobody "
             "joined it\n",
             (unsigned long long)green_id(bad), EIO, strerror(EIO));
    assert_string_equal(out, expected);
    green_t *all[] = {bad, joined, linked, killed};
    for (int i = 0; i < 4; i++)
        assert_int_equal(green_release(all[i]), 0);
    assert_no_failures();
    assert_int_equal(green_hub_shutdown(), 0);
}

static void handler(green_t *g, int code, void *payload, void *arg)
{
    say("%s: greenlet %s code %d payload %s ready=%d", (const char *)arg, green_name(g), code,
        (const char *)payload, green_ready(g));
}

static void test_handler_takes_over(void **state)
{
    (void)state;
    char out[1024];
    green_attr_t attr = GREEN_ATTR_INIT;
    attr.name = "one";
    capture_start();
    int set = green_hub_set_error_handler(handler, "H");
    green_t *g1 = green_spawn(fail_with, (void *)(intptr_t)ENOENT, &attr);
    int slept = green_sleep(0);
    int reset = green_hub_set_error_handler(NULL, NULL);
    attr.name = "two";
    green_t *g2 = green_spawn(fail_with, (void *)(intptr_t)ENOENT, &attr);
    int slept2 = green_sleep(0);
    capture_stop(out, sizeof out);
    assert_int_equal(set, 0);
    assert_int_equal(reset, 0);
    assert_int_equal(slept, 0);
    assert_int_equal(slept2, 0);
    assert_non_null(strstr(out, "'two'"));
    assert_null(strstr(out, "'one'"));
    assert_no_failures();
    assert_order("H: greenlet one code 2 payload payload ready=1");
    assert_int_equal(green_release(g1), 0);
    assert_int_equal(green_release(g2), 0);
    assert_int_equal(green_hub_shutdown(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_default_report),
        HUB_TEST(test_handler_takes_over),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
