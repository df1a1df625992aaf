/* SPDX-License-Identifier: MIT */
/* Stack overflow diagnostics and SIGSEGV chaining.
 *
 * A greenlet that overflows its stack runs into the guard below it; libgreen's handler (on
 * an alternate signal stack) prints which greenlet overflowed — name, id, stack size — and
 * the process dies of SIGSEGV.  Other faults are not reported as overflows: they still
 * kill the process, or reach the handler the program installed before libgreen.
 *
 * Each case runs tests/core/overflow_child (see there) with fork + exec, not just fork: cmocka's
 * own SIGSEGV handlers in this process must not be inherited.  The child's stdout (where it
 * prints the greenlet's id) and stderr are captured in temporary files.
 */
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "testutil.h"

/* The helper's code, for when it cannot be exec'd: a cross build run under qemu-user
 * without binfmt_misc cannot exec a foreign binary.  Then the forked child drops cmocka's
 * handlers and runs the helper's main itself. */
#define main overflow_child_main
#include "overflow_child.c"
#undef main

/* Under ASAN, faults that are not overflows reach ASAN's handler (installed before
 * libgreen's), which reports them and exits instead of dying of the signal. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

struct child {
    int status;
    char out[4096];
    char err[8192];
};

static void slurp(FILE *f, char *buf, size_t len)
{
    rewind(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = 0;
    fclose(f);
}

static void run_child(struct child *c, const char *mode, const char *arg)
{
    char path[PATH_MAX];
    build_path(path, sizeof path, "tests/core/overflow_child");
    if (access(path, X_OK) != 0)
        fail_msg("cannot run %s: %s", path, strerror(errno));
    FILE *out = tmpfile(), *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fileno(out), STDOUT_FILENO);
        dup2(fileno(err), STDERR_FILENO);
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core); /* dying of SIGSEGV is the point */
        char *argv[] = {path, (char *)mode, (char *)arg, NULL};
        execv(path, argv);
        /* No exec (see above): the same program without cmocka's signal handlers. */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        signal(SIGABRT, SIG_DFL);
        signal(SIGILL, SIG_DFL);
        signal(SIGFPE, SIG_DFL);
        int rc = overflow_child_main(arg ? 3 : 2, argv);
        fflush(NULL);
        _exit(rc);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    c->status = status;
    slurp(out, c->out, sizeof c->out);
    slurp(err, c->err, sizeof c->err);
}

static void describe_failure(const struct child *c, const char *why)
{
    char how[64];
    if (WIFSIGNALED(c->status))
        snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(c->status));
    else
        snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(c->status));
    fail_msg("%s; child %s\n--- stdout:\n%s--- stderr:\n%s", why, how, c->out, c->err);
}

/* Does s contain the decimal number n as a whole token (no digits either side)? */
static bool has_number(const char *s, unsigned long long n)
{
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || (p > s && p[-1] >= '0' && p[-1] <= '9'))
            continue;
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (v == n)
            return true;
        p = end - 1;
    }
    return false;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static unsigned long long child_id(const struct child *c)
{
    const char *p = strstr(c->out, "id=");
    if (!p)
        describe_failure(c, "the child did not print its greenlet's id");
    unsigned long long id = strtoull(p + 3, NULL, 10);
    if (id == 0)
        describe_failure(c, "the child printed id 0");
    return id;
}

static size_t page_round(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (n + page - 1) / page * page;
}

/* The child died of SIGSEGV after printing exactly one overflow report that names the
 * greenlet (name may be NULL), its id and its stack size. */
static void expect_overflow(const char *mode, const char *arg, const char *name, size_t size)
{
    struct child c;
    run_child(&c, mode, arg);
    if (!WIFSIGNALED(c.status) || WTERMSIG(c.status) != SIGSEGV)
        describe_failure(&c, "expected death by SIGSEGV");
    unsigned long long id = child_id(&c);
    const char *msg = strstr(c.err, "stack overflow");
    if (!msg)
        describe_failure(&c, "no stack overflow report");
    if (count(c.err, "stack overflow") != 1)
        describe_failure(&c, "the overflow was reported more than once");
    const char *eol = strchr(msg, '\n');
    char line[1024];
    snprintf(line, sizeof line, "%.*s", eol ? (int)(eol - msg) : (int)strlen(msg), msg);
    if (name && !strstr(line, name))
        describe_failure(&c, "the report does not name the greenlet");
    if (!has_number(line, id))
        describe_failure(&c, "the report does not give the greenlet's id");
    if (!has_number(line, size))
        describe_failure(&c, "the report does not give the stack size");
    print_message("  %s", msg);
}

static void test_private_overflow(void **state)
{
    (void)state;
    /* 100000 is not a page multiple: the usable size is rounded up. */
    expect_overflow("private", "100000", "ovf-private", page_round(100000));
}

static void test_private_overflow_default_size(void **state)
{
    (void)state;
    expect_overflow("private", "0", "ovf-private", GREEN_STACK_DEFAULT);
}

static void test_private_overflow_unnamed(void **state)
{
    (void)state;
    expect_overflow("private-noname", "65536", NULL, 65536);
}

static void test_shared_overflow(void **state)
{
    (void)state;
    expect_overflow("shared", "327680", "ovf-shared", 327680);
}

static void test_overflow_on_second_thread(void **state)
{
    (void)state;
    expect_overflow("thread", "131072", "ovf-thread", 131072);
}

static void test_overflow_with_application_altstack(void **state)
{
    (void)state;
    expect_overflow("own-altstack", "65536", "ovf-altstack", 65536);
}

/* A fault that is not an overflow: no report, and the process still dies of it. */
static void expect_plain_segv(const char *mode)
{
    struct child c;
    run_child(&c, mode, NULL);
    child_id(&c); /* it got as far as the greenlet */
    if (strstr(c.err, "stack overflow"))
        describe_failure(&c, "a NULL store was reported as a stack overflow");
    if (WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGSEGV)
        return;
    if (UNDER_ASAN && WIFEXITED(c.status) && WEXITSTATUS(c.status) != 0 &&
        strstr(c.err, "AddressSanitizer: SEGV"))
        return; /* ASAN's handler, chained to, reported it and exited */
    describe_failure(&c, "expected death by SIGSEGV");
}

static void test_null_store_in_private_greenlet(void **state)
{
    (void)state;
    expect_plain_segv("null");
}

static void test_null_store_in_shared_greenlet(void **state)
{
    (void)state;
    expect_plain_segv("null-shared");
}

static void test_null_store_in_main_greenlet(void **state)
{
    (void)state;
    expect_plain_segv("null-main");
}

/* The program's own handler, installed before libgreen, still gets non-overflow faults,
 * from greenlets and from main, with the right siginfo, and can resume the faulting code. */
static void expect_chained(const char *mode)
{
    struct child c;
    run_child(&c, mode, NULL);
    if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
        describe_failure(&c, "the application's handler did not handle the faults");
    if (!strstr(c.out, "chain ok calls=2"))
        describe_failure(&c, "the handler was not called twice");
    if (strstr(c.err, "stack overflow"))
        describe_failure(&c, "a handled fault was reported as a stack overflow");
}

static void test_chain_siginfo_handler(void **state)
{
    (void)state;
    expect_chained("chain-siginfo");
}

static void test_chain_plain_handler(void **state)
{
    (void)state;
    expect_chained("chain-plain");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_private_overflow),
        cmocka_unit_test(test_private_overflow_default_size),
        cmocka_unit_test(test_private_overflow_unnamed),
        cmocka_unit_test(test_shared_overflow),
        cmocka_unit_test(test_overflow_on_second_thread),
        cmocka_unit_test(test_overflow_with_application_altstack),
        cmocka_unit_test(test_null_store_in_private_greenlet),
        cmocka_unit_test(test_null_store_in_shared_greenlet),
        cmocka_unit_test(test_null_store_in_main_greenlet),
        cmocka_unit_test(test_chain_siginfo_handler),
        cmocka_unit_test(test_chain_plain_handler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
