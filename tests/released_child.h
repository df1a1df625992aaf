/* SPDX-License-Identifier: MIT */
/* A child process that blocks reading a pipe until the test lets it exit with a chosen
 * code: the tests of child waits decide when a child ends, no timing involved. */
#ifndef GREEN_TESTS_RELEASED_CHILD_H
#define GREEN_TESTS_RELEASED_CHILD_H

#include <stdio.h>
#include <unistd.h>

#include "check.h"

struct child {
    pid_t pid;   /* -1 if the pipe or the fork failed */
    int release; /* write end: a byte lets the child exit */
};

/* A child that exits with `code` once released. */
static inline struct child start_child(int code)
{
    int p[2];
    struct child c = {-1, -1};
    if (pipe(p) != 0)
        return c;
    fflush(NULL);
    c.pid = fork();
    if (c.pid == 0) {
        close(p[1]);
        char b;
        _exit(read(p[0], &b, 1) == 1 ? code : 99);
    }
    close(p[0]);
    c.release = p[1];
    return c;
}

static inline void release_child(struct child *c)
{
    CHECK_EQ(write(c->release, "x", 1), 1);
    close(c->release);
}

#endif /* GREEN_TESTS_RELEASED_CHILD_H */
