/* Small helpers shared by the tests: scaling for slow runners and death tests. */
#ifndef GREEN_TESTUTIL_H
#define GREEN_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <green.h>

/* GREEN_TEST_SCALE (default 1) shrinks iteration counts under valgrind and qemu, where
 * the full counts would take too long; never below `floor`. */
static inline long scaled(long n, long floor)
{
    const char *s = getenv("GREEN_TEST_SCALE");
    double f = s ? atof(s) : 1.0;
    long v = (long)((double)n * f);
    return v < floor ? floor : v;
}

/* Run fn in a child process.  Returns the child's wait status; its stderr is captured
 * into err (NUL-terminated, truncated to len). */
static inline int run_in_child(void (*fn)(void *), void *arg, char *err, size_t len)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], STDERR_FILENO);
        /* The child must die of what it does, not of cmocka's handlers. */
        signal(SIGABRT, SIG_DFL);
        signal(SIGSEGV, SIG_DFL);
        fn(arg);
        _exit(0);
    }
    close(pipefd[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < len && (n = read(pipefd[0], err + got, len - 1 - got)) > 0)
        got += (size_t)n;
    char sink[256];
    while (read(pipefd[0], sink, sizeof sink) > 0) {
    }
    err[got] = 0;
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

/* The child must have died by SIGABRT with `needle` in its stderr. */
#define assert_child_aborts(fn, arg, needle)                                              \
    do {                                                                                  \
        char err_[4096];                                                                  \
        int st_ = run_in_child((fn), (arg), err_, sizeof err_);                           \
        if (!WIFSIGNALED(st_) || WTERMSIG(st_) != SIGABRT || !strstr(err_, (needle)))      \
            fail_msg("child status %#x, stderr: %s", st_, err_);                          \
    } while (0)

#endif /* GREEN_TESTUTIL_H */
