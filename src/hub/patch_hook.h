/* SPDX-License-Identifier: MIT */
/* The two entry points libgreen exports for libgreen-patch (src/patch/) alone: not public
 * API (green__ names), but default visibility, since the patch library is another shared
 * object.  Besides these and green__sock_error (src/io/sock_error.h), the patch library
 * calls only libgreen's public API. */
#ifndef GREEN_HUB_PATCH_HOOK_H
#define GREEN_HUB_PATCH_HOOK_H

#include <stdbool.h>
#include <sys/types.h>

#include "green/core.h"

/* Whether a blocking call made now may park the caller on the hub: the calling thread has
 * a running hub, the caller is a greenlet of it (main or spawned) and not the hub itself
 * (a callback, a watcher), not inside a trace hook, and has not turned patching off
 * (green_patch_context).  A few loads: the patch library asks it on every call.  Never
 * fails, never creates anything. */
GREEN_API int green__patch_gate(void);

/* Whether the calling thread has a hub now (set when it is made, cleared at its shutdown):
 * the patch library reads it inline before asking green__patch_gate(), so that a call on a
 * thread without a hub costs one thread-local load, not a call into libgreen.  Initial-exec
 * like libgreen's own thread pointer: libgreen is loaded with the program. */
GREEN_API extern _Thread_local bool green__patch_hub_here
    __attribute__((tls_model("initial-exec")));

/* An fd is about to be closed (close, dup2/dup3 onto it) by the calling thread: stop and
 * wake (EBADF, POLLNVAL) every waiter of this thread's hub on it, as green_close() does
 * before its close.  Never switches; does nothing without a hub. */
GREEN_API void green__patch_closing(int fd);

/* The status of child pid (-1: any child) that the calling thread's hub kept for want of a
 * waiter (the main thread's hub only: libev reaped it on SIGCHLD, hub/child_status.c),
 * taken: returns its pid and sets *status (if not NULL); 0 if none is kept, or if called
 * from the hub itself (libev's own waitpid).  Never switches, never fails: libc's waitpid,
 * which cannot see it, is asked only after. */
GREEN_API pid_t green__patch_child_kept(pid_t pid, int *status);

#endif /* GREEN_HUB_PATCH_HOOK_H */
