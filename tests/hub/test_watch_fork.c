/* SPDX-License-Identifier: MIT */
/* fork(): the child's hub works (sleep, fd waits, timeouts, kills), the greenlets alive at
 * the fork are alive in the child, and the parent's loop is not disturbed by what the child
 * does with its own: watchers stopped, an fd disarmed after an event nobody watched (with
 * one epoll set shared by the two, that would disarm the parent's registration too).  The
 * child sends its trace back through a pipe; its exit status says whether its checks
 * passed. */
#include "hubtest.h"

static int a[2], b[2]; /* G waits on a, H on b */

static void *wait_on(void *arg)
{
    int *p = arg;
    const char *name = p == a ? "G" : "H";
    int rc = green_wait_fd(p[0], GREEN_READ, GREEN_FOREVER);
    if (rc < 0) {
        say("%s %s", name, errno == ECANCELED ? "ECANCELED" : strerror(errno));
        return NULL;
    }
    char c = 0;
    CHECK_EQ(read(p[0], &c, 1), 1);
    say("%s read %c", name, c);
    return NULL;
}

/* The child's part: uses the greenlets it inherited, then reports. */
static void in_child(green_t *g, green_t *h, int report)
{
    order_reset();
    CHECK_EQ(green_sleep(0.001), 0);
    CHECK_FAILS(green_wait_fd(b[0], GREEN_READ, 0.01), EBUSY); /* H (inherited) waits on b */
    CHECK_EQ(write(a[1], "c", 1), 1);
    CHECK_EQ(green_join(g, 5.0, NULL), 0); /* G, alive since before the fork, reads it */
    CHECK_EQ(green_kill(h, GREEN_FOREVER), 0);
    CHECK_FAILS(green_wait_fd(b[0], GREEN_READ, 0.01), ETIMEDOUT); /* H's slot is free */
    /* An event on b, which nobody in the child watches now: libev disarms b in its kernel
     * set, which must be the child's own. */
    CHECK_EQ(write(b[1], "z", 1), 1);
    CHECK_EQ(green_sleep(0.01), 0);
    char z = 0;
    CHECK_EQ(read(b[0], &z, 1), 1);
    char first[256];
    int failures = failures_recorded(first, sizeof first);
    if (failures)
        say("child failed: %s", first);
    ssize_t n = write(report, order_text(), strlen(order_text()));
    _exit(n < 0 ? 2 : failures ? 1 : 0);
}

static void run(int model)
{
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    int report[2];
    assert_int_equal(pipe(report), 0);
    green_t *g = SPAWN_MODEL(wait_on, a, model);
    green_t *h = SPAWN_MODEL(wait_on, b, model);
    assert_int_equal(green_sleep(0), 0); /* both block */
    /* One poll, so that libev has put a and b into its kernel set before the fork (it
     * applies watcher changes lazily, when it next polls). */
    assert_int_equal(green_wait_fd(b[1], GREEN_WRITE, 5.0), GREEN_WRITE);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(report[0]);
        in_child(g, h, report[1]);
    }
    assert_true(pid > 0);
    close(report[1]);
    /* A blocking waitpid: the parent's loop must not poll while the child runs, or the
     * parent's G, watching the same pipe, could take the byte meant for the child's. */
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    char got[512] = "";
    ssize_t n = read(report[0], got, sizeof got - 1);
    got[n > 0 ? n : 0] = 0;
    close(report[0]);
    assert_string_equal(got, "G read c\nH ECANCELED\n");
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* the parent's G and H still wait on their fds, still registered with its loop */
    assert_order();
    assert_int_equal(write(a[1], "p", 1), 1);
    assert_int_equal(green_join(g, 10.0, NULL), 0); /* a lost registration: ETIMEDOUT */
    assert_int_equal(write(b[1], "q", 1), 1);
    assert_int_equal(green_join(h, 10.0, NULL), 0);
    assert_int_equal(green_release(g), 0);
    assert_int_equal(green_release(h), 0);
    assert_no_failures();
    assert_order("G read p", "H read q");
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
}

static void test_fork_from_main(void **state) { run(model_of(state)); }

/* fork() from a spawned greenlet: in the child it goes on, on the child's hub. */
static void *forker(void *arg)
{
    (void)arg;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int ok = green_sleep(0.001) == 0 && green_wait_fd(a[0], GREEN_READ, 0.01) == -1 &&
                 errno == ETIMEDOUT;
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    CHECK_EQ(green_waitpid(pid, &st, 10.0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    say("F reaped");
    return NULL;
}

static void test_fork_from_greenlet(void **state)
{
    assert_int_equal(pipe(a), 0);
    green_t *f = SPAWN_MODEL(forker, NULL, model_of(state));
    JOIN(f);
    assert_no_failures();
    assert_order("F reaped");
    close(a[0]);
    close(a[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST_MODELS(test_fork_from_main),
        HUB_TEST_MODELS(test_fork_from_greenlet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
