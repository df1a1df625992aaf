/* SPDX-License-Identifier: MIT */
/* The blocked-hub monitor: a greenlet that holds the thread past the limit is reported
 * once per episode (again after it switched), by id; an idle hub and a greenlet that
 * switches often are not; main is watched too; refusals; shutdown stops it.  The hogs
 * spin on the clock: holding the thread is the behaviour under test. */
#include <math.h>
#include <time.h>

#include "hubtest.h"
#include "stderr_capture.h"

static void spin(double seconds)
{
    double until = monotonic_seconds() + seconds;
    while (monotonic_seconds() < until) {
    }
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void *hog_twice(void *arg)
{
    (void)arg;
    spin(0.4);
    CHECK_EQ(green_sleep(0), 0);
    spin(0.4);
    return NULL;
}

static void test_hog_reported_once_per_episode(void **state)
{
    (void)state;
    char out[2048], needle[64];
    capture_start();
    int started = green_hub_monitor_start(0.05);
    green_t *g = green_spawn(hog_twice, NULL, NULL);
    int joined = green_join(g, GREEN_FOREVER, NULL);
    int stopped = green_hub_monitor_stop();
    capture_stop(out, sizeof out);
    assert_int_equal(started, 0);
    assert_int_equal(joined, 0);
    assert_int_equal(stopped, 0);
    snprintf(needle, sizeof needle, "hub monitor: greenlet id %llu has held thread",
             (unsigned long long)green_id(g));
    assert_int_equal(count(out, needle), 2);
    assert_int_equal(count(out, "\n"), 2);
    assert_int_equal(green_release(g), 0);
    assert_no_failures();
    assert_int_equal(green_hub_shutdown(), 0);
}

static void *switch_often(void *arg)
{
    (void)arg;
    double until = monotonic_seconds() + 0.5;
    while (monotonic_seconds() < until) {
        spin(0.001);
        CHECK_EQ(green_sleep(0), 0);
    }
    return NULL;
}

static void test_idle_and_busy_hub_not_reported(void **state)
{
    (void)state;
    char out[2048];
    capture_start();
    int started = green_hub_monitor_start(0.25);
    int slept = green_sleep(0.6); /* the hub waits in its loop: not a hog */
    green_t *g = green_spawn(switch_often, NULL, NULL);
    int joined = green_join(g, GREEN_FOREVER, NULL);
    int released = green_release(g);
    int shut = green_hub_shutdown(); /* stops the monitor */
    capture_stop(out, sizeof out);
    assert_int_equal(started, 0);
    assert_int_equal(slept, 0);
    assert_int_equal(joined, 0);
    assert_int_equal(released, 0);
    assert_int_equal(shut, 0);
    assert_string_equal(out, "");
    assert_no_failures();
    assert_int_equal(green_hub_shutdown(), 0);
}

static void test_main_hog_and_refusals(void **state)
{
    (void)state;
    char out[2048], needle[64];
    assert_int_equal(green_hub_monitor_start(0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_hub_monitor_start(-1), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_hub_monitor_start(NAN), -1);
    assert_int_equal(errno, EINVAL);
    capture_start();
    int started = green_hub_monitor_start(0.05);
    int again = green_hub_monitor_start(0.05);
    int again_errno = errno;
    spin(0.4); /* main holds the thread without ever switching to the hub */
    int stopped = green_hub_monitor_stop();
    int stopped_again = green_hub_monitor_stop();
    capture_stop(out, sizeof out);
    assert_int_equal(started, 0);
    assert_int_equal(again, -1);
    assert_int_equal(again_errno, EBUSY);
    assert_int_equal(stopped, 0);
    assert_int_equal(stopped_again, 0);
    snprintf(needle, sizeof needle, "hub monitor: greenlet id %llu has held thread",
             (unsigned long long)green_id(green_main()));
    assert_int_equal(count(out, needle), 1);
    assert_int_equal(green_hub_shutdown(), 0);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_hog_reported_once_per_episode),
        HUB_TEST(test_idle_and_busy_hub_not_reported),
        HUB_TEST(test_main_hog_and_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
