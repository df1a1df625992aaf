/* SPDX-License-Identifier: MIT */
/* What the process files share (process.c spawns, process_wait.c watches and waits,
 * communicate.c talks): the process record. */
#ifndef GREEN_IO_PROCESS_H
#define GREEN_IO_PROCESS_H

#include "green/process.h"
#include "green/sync.h"
#include "hub/child.h"
#include "hub/hub.h"
#include "hub/watch.h"

struct green_process {
    struct green_owned owned; /* first: the hub's shutdown term gets it */
    struct green_hub_part *h; /* the spawning thread's hub; NULL once the watch stopped */
    pid_t pid;
    int fd[3];     /* the caller's ends of the pipes (stdin, stdout, stderr), or -1 */
    bool watching; /* the watcher below runs */
    bool ended;    /* reaped: status is valid */
    bool lost;     /* reaped by someone else (ECHILD) */
    int status;
    green_event_t *exited; /* set when ended or lost */
    int pidfd;             /* off the main thread's hub, or -1 */
    union {
        struct green_child_watch child; /* libev's default loop (hub/child.h) */
        ev_io pidfd;                    /* other loops */
    } w;
};

/* Start watching p's child on hub h (process_wait.c); p->pid is set.  Returns 0, or -1
 * with errno naming api (the child keeps running: the caller kills it). */
GREEN_HIDDEN int green__process_watch(struct green_hub_part *h, struct green_process *p,
                                      const char *api);

/* p, if it may be used from the calling thread; else -1 with errno EINVAL (NULL), EXDEV. */
GREEN_HIDDEN int green__process_check(const struct green_process *p, const char *api);

#endif /* GREEN_IO_PROCESS_H */
