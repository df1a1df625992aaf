/* SPDX-License-Identifier: MIT */
/* Built programs (examples, test targets) run by the tests as child processes with their
 * stdout on a pipe: start one, read its first line (a server saying it listens) or all of
 * its output, and stop a server with SIGTERM, after which it must exit with status 0.  In
 * a cross build the program runs through MESON_EXE_WRAPPER (qemu-user).
 *
 * cmocka asserts: call these from a test's main stack, not from a greenlet. */
#ifndef GREEN_TEST_PROGRAM_H
#define GREEN_TEST_PROGRAM_H

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

struct program {
    pid_t pid;
    int out; /* the read end of its stdout; -1 once read */
};

/* Start argv[0] (relative to the build directory: "examples/echo_server") with the rest of
 * argv (NULL-terminated); in its environment, variable `name` (if not NULL) set to value,
 * or removed when value is NULL. */
static inline struct program program_start_env(char *const argv[], const char *name,
                                               const char *value)
{
    char path[1024];
    build_path(path, sizeof path, argv[0]);
    int out[2];
    assert_int_equal(pipe(out), 0);
    fflush(NULL);
    struct program p = {.pid = fork(), .out = out[0]};
    assert_true(p.pid >= 0);
    if (p.pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        if (name && value)
            setenv(name, value, 1);
        else if (name)
            unsetenv(name);
        const char *wrapper = getenv("MESON_EXE_WRAPPER");
        if (wrapper && *wrapper) {
            char cmd[4096];
            int n = snprintf(cmd, sizeof cmd, "exec %s %s", wrapper, path);
            for (int i = 1; argv[i]; i++)
                n += snprintf(cmd + n, sizeof cmd - (size_t)n, " '%s'", argv[i]);
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        } else {
            char *args[64] = {path};
            for (int i = 1; argv[i] && i < 63; i++)
                args[i] = argv[i];
            execv(path, args);
        }
        _exit(127);
    }
    close(out[1]);
    return p;
}

static inline struct program program_start(char *const argv[])
{
    return program_start_env(argv, NULL, NULL);
}

/* Its first line of output, into line; false on EOF before one (it exited).  The rest of
 * its output is not read (the pipe is closed). */
static inline bool program_first_line(struct program *p, char *line, size_t len)
{
    FILE *f = fdopen(p->out, "r");
    assert_non_null(f);
    p->out = -1;
    line[0] = 0;
    bool got = fgets(line, (int)len, f) != NULL;
    fclose(f);
    return got;
}

/* Wait for it to end; its exit status, -1 if a signal killed it. */
static inline int program_wait(struct program *p)
{
    if (p->out >= 0)
        close(p->out);
    p->out = -1;
    int status;
    assert_int_equal(waitpid(p->pid, &status, 0), p->pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* All of its output (up to cap - 1 bytes, NUL-terminated) into out, then program_wait(). */
static inline int program_output(struct program *p, char *out, size_t cap)
{
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(p->out, out + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = 0;
    return program_wait(p);
}

/* Run argv as program_start() does, to its end: program_output(). */
static inline int program_run(char *const argv[], char *out, size_t cap)
{
    struct program p = program_start(argv);
    return program_output(&p, out, cap);
}

/* SIGTERM: the program must exit with status 0. */
static inline void program_stop(struct program *p)
{
    assert_int_equal(kill(p->pid, SIGTERM), 0);
    assert_int_equal(program_wait(p), 0);
}

#endif /* GREEN_TEST_PROGRAM_H */
