/* SPDX-License-Identifier: MIT */
/* The main thread's hub keeps the status of a child that ended while nobody waited for it
 * (libev reaped it on SIGCHLD): green_waitpid(pid) and green_waitpid(-1) get it later, once;
 * a status handed to a waiting green_waitpid or a green_process is not kept as well.
 * Children exit when the test writes to their pipe, and "libev has reaped it" is observed
 * (the hub loops until the kernel has no child of that pid), never assumed after a sleep. */
#include <signal.h>
#include <sys/wait.h>

#include "green/process.h"
#include "green/watch.h"
#include "hubtest.h"
#include "released_child.h"

/* Run the hub until libev's SIGCHLD handling has reaped pid: the kernel then knows no such
 * process, and no child of that pid is left to waitpid. */
static void run_until_reaped(pid_t pid)
{
    for (long i = 0; i < 20000; i++) {
        siginfo_t si;
        errno = 0;
        if (kill(pid, 0) < 0 && errno == ESRCH &&
            waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD)
            return;
        CHECK_EQ(green_sleep(0.001), 0);
    }
    fail_msg("process %d was not reaped by the hub", (int)pid);
}

/* A child that has exited with code, reaped by libev while nobody waited. */
static struct child ended_child(int code)
{
    struct child c = start_child(code);
    assert_true(c.pid > 0);
    release_child(&c);
    run_until_reaped(c.pid);
    return c;
}

static int exit_code(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : -1; }

static void test_pid(void **state)
{
    (void)state;
    struct child c = ended_child(4);
    int st = 0;
    assert_int_equal(green_waitpid(c.pid, &st, 0), c.pid);
    assert_int_equal(exit_code(st), 4);
    CHECK_FAILS(green_waitpid(c.pid, &st, 0), ECHILD); /* taken once */
    CHECK_FAILS(green_waitpid(-1, &st, 0), ECHILD);
    assert_no_failures();
}

static void test_any(void **state)
{
    (void)state;
    struct child c = ended_child(5);
    int st = 0;
    assert_int_equal(green_waitpid(-1, &st, 0), c.pid);
    assert_int_equal(exit_code(st), 5);
    CHECK_FAILS(green_waitpid(-1, &st, 0), ECHILD);
    CHECK_FAILS(green_waitpid(c.pid, &st, 0), ECHILD);
    assert_no_failures();
}

/* Two children end one after the other (first, then second); both are kept. */
static void two_kept(struct child *first, struct child *second)
{
    release_child(first);
    run_until_reaped(first->pid);
    release_child(second);
    run_until_reaped(second->pid);
}

static void test_two_by_pid(void **state)
{
    (void)state;
    for (int order = 0; order < 2; order++) {
        struct child a = start_child(1), b = start_child(2);
        assert_true(a.pid > 0 && b.pid > 0);
        if (order)
            two_kept(&b, &a);
        else
            two_kept(&a, &b);
        int st = 0;
        assert_int_equal(green_waitpid(b.pid, &st, 0), b.pid);
        assert_int_equal(exit_code(st), 2);
        assert_int_equal(green_waitpid(a.pid, &st, 0), a.pid);
        assert_int_equal(exit_code(st), 1);
        CHECK_FAILS(green_waitpid(a.pid, &st, 0), ECHILD);
        CHECK_FAILS(green_waitpid(b.pid, &st, 0), ECHILD);
    }
    assert_no_failures();
}

static void test_two_any(void **state)
{
    (void)state;
    for (int order = 0; order < 2; order++) {
        struct child a = start_child(1), b = start_child(2);
        assert_true(a.pid > 0 && b.pid > 0);
        struct child *first = order ? &b : &a, *second = order ? &a : &b;
        two_kept(first, second);
        int st = 0; /* the kept statuses come out oldest first */
        assert_int_equal(green_waitpid(-1, &st, 0), first->pid);
        assert_int_equal(exit_code(st), first == &a ? 1 : 2);
        assert_int_equal(green_waitpid(-1, &st, 0), second->pid);
        assert_int_equal(exit_code(st), second == &a ? 1 : 2);
        CHECK_FAILS(green_waitpid(-1, &st, 0), ECHILD);
    }
    assert_no_failures();
}

static struct child kid, kid2;

static void *wait_for(void *arg)
{
    pid_t which = (pid_t)(intptr_t)arg;
    int st = 0;
    pid_t got = green_waitpid(which, &st, GREEN_FOREVER);
    const char *who = which == -1 ? "any" : "kid";
    if (got < 0)
        say("%s: %s", who, errno == ECHILD ? "ECHILD" : strerror(errno));
    else
        say("%s: %s %d", who, got == kid.pid ? "kid" : "kid2", exit_code(st));
    return NULL;
}

/* A status handed to a waiting green_waitpid is not kept too. */
static void test_waiter_not_kept(void **state)
{
    (void)state;
    kid = start_child(6);
    assert_true(kid.pid > 0);
    green_t *w = SPAWN(wait_for, (intptr_t)-1);
    assert_int_equal(green_sleep(0), 0);
    release_child(&kid);
    JOIN(w);
    CHECK_FAILS(green_waitpid(-1, NULL, 0), ECHILD);
    assert_no_failures();
    assert_order("any: kid 6");
}

/* Two waits for one pid: the first gets the status, the other ECHILD (the kernel's
 * loser); a wait for any child is passed over for a wait for that pid, and gets the next. */
static void test_one_receiver(void **state)
{
    (void)state;
    kid = start_child(7);
    kid2 = start_child(8);
    assert_true(kid.pid > 0 && kid2.pid > 0);
    green_t *any = SPAWN(wait_for, (intptr_t)-1);
    green_t *w1 = SPAWN(wait_for, (intptr_t)kid.pid);
    green_t *w2 = SPAWN(wait_for, (intptr_t)kid.pid);
    assert_int_equal(green_sleep(0), 0);
    release_child(&kid);
    JOIN(w1);
    JOIN(w2);
    say("kid2 released");
    release_child(&kid2);
    JOIN(any);
    CHECK_FAILS(green_waitpid(-1, NULL, 0), ECHILD);
    assert_no_failures();
    assert_order("kid: kid 7", "kid: ECHILD", "kid2 released", "any: kid2 8");
}

/* A green_process's status is the handle's, not kept by the hub as well. */
static void test_process_not_kept(void **state)
{
    (void)state;
    green_process_t *p =
        green_process_spawn("sh", (char *[]){"sh", "-c", "exit 3", NULL}, NULL, NULL);
    assert_non_null(p);
    run_until_reaped(green_process_pid(p));
    int st = 0;
    assert_int_equal(green_process_wait(p, 0, &st), 0);
    assert_int_equal(exit_code(st), 3);
    CHECK_FAILS(green_waitpid(green_process_pid(p), NULL, 0), ECHILD);
    CHECK_FAILS(green_waitpid(-1, NULL, 0), ECHILD);
    assert_int_equal(green_process_free(p), 0);
    assert_no_failures();
}

/* What is kept goes with the hub that kept it. */
static void test_shutdown_drops(void **state)
{
    (void)state;
    struct child c = ended_child(9);
    assert_int_equal(green_hub_shutdown(), 0);
    CHECK_FAILS(green_waitpid(c.pid, NULL, 0), ECHILD);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_pid),
        HUB_TEST(test_any),
        HUB_TEST(test_two_by_pid),
        HUB_TEST(test_two_any),
        HUB_TEST(test_waiter_not_kept),
        HUB_TEST(test_one_receiver),
        HUB_TEST(test_process_not_kept),
        HUB_TEST(test_shutdown_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
