/* SPDX-License-Identifier: MIT */
/* waitpid and wait: green_waitpid() (a libev child watcher, or a pidfd off the main
 * thread).  Options other than none (WNOHANG never blocks; WUNTRACED, WCONTINUED and
 * process groups are beyond a child watcher) stay libc's, but every call first takes a
 * status the main thread's hub kept (libev reaped that child on SIGCHLD while nobody
 * waited): libc cannot see it, and would say ECHILD. */
#include <errno.h>
#include <sys/wait.h>

#include "green/watch.h"
#include "patch.h"

PATCH_API pid_t waitpid(pid_t pid, int *status, int options)
{
    if (green__patch_hub_here && (pid > 0 || pid == -1) &&
        !(options & ~(WNOHANG | WUNTRACED | WCONTINUED))) {
        pid_t kept = green__patch_child_kept(pid, status);
        if (kept > 0)
            return kept;
    }
    if (options != 0 || (pid <= 0 && pid != -1) || !patch_gate())
        return NEXT(waitpid)(pid, status, options);
    int saved = errno;
    pid_t got = green_waitpid(pid, status, GREEN_FOREVER);
    if (got < 0 && errno == EINVAL) /* pid -1 off the main thread: no watcher can do it */
        return NEXT(waitpid)(pid, status, options);
    if (got >= 0)
        errno = saved;
    return got;
}

PATCH_API pid_t wait(int *status) { return waitpid(-1, status, 0); }
