/* SPDX-License-Identifier: MIT */
/* The main thread's hub and its children (child_status.c): libev reaps every child on
 * SIGCHLD, so every libgreen wait for a child there registers with the hub's one catch-all
 * ev_child, which hands each reaped status to exactly one of them, or keeps it for a later
 * green_waitpid.  Other hubs have no such part (h->children NULL): they watch pidfds. */
#ifndef GREEN_HUB_CHILD_H
#define GREEN_HUB_CHILD_H

#include <stdbool.h>
#include <sys/types.h>

#include "hub.h"

/* A wait for child pid (> 0), or for any child (-1), embedded in whoever waits. */
struct green_child_watch {
    struct green_link link; /* in the hub's list of waits while registered, not yet told */
    pid_t pid;
    bool doomed; /* another wait for the same pid got the status: told lost next */
    /* Hub only, w already off the list: child `pid` ended with `status`; or (lost) another
     * wait for it got the status first.  May resume a greenlet, which may free w. */
    void (*ended)(struct green_child_watch *w, pid_t pid, int status, bool lost);
};

/* Hub creation on libev's default loop: start the catch-all (unref'd: it keeps the loop
 * alive only while a wait is registered).  -1 with errno ENOMEM. */
GREEN_HIDDEN int green__children_start(struct green_hub_part *h);

/* Hub shutdown, after every wait ended: stop the catch-all, drop the kept statuses. */
GREEN_HIDDEN void green__children_stop(struct green_hub_part *h);

/* fork() child: the kept statuses are of the parent's children; drop them (no free, no
 * lock: fine in an atfork handler). */
GREEN_HIDDEN void green__children_atfork_child(struct green_hub_part *h);

/* Register w (pid and ended set) / take it off if still registered.  Never fail. */
GREEN_HIDDEN void green__child_watch(struct green_hub_part *h, struct green_child_watch *w);
GREEN_HIDDEN void green__child_unwatch(struct green_hub_part *h, struct green_child_watch *w);

/* Whether a registered wait is for exactly pid. */
GREEN_HIDDEN bool green__child_watched(const struct green_hub_part *h, pid_t pid);

/* Take the kept status of pid (-1: the oldest kept, of any child): returns its pid and
 * sets *status (if not NULL), or 0 if none is kept. */
GREEN_HIDDEN pid_t green__child_take(struct green_hub_part *h, pid_t pid, int *status);

#endif /* GREEN_HUB_CHILD_H */
