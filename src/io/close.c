/* SPDX-License-Identifier: MIT */
/* Closing: wake and unhook every waiter on fd before the real close.  libev must never
 * watch a closed fd — its number may be reused at once, and libev aborts on a watcher whose
 * fd went away under it — so the watchers stop first (gevent's cancel_wait, then close). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "io.h"

GREEN_API int green_close(int fd)
{
    const char *api = "green_close";
    if (fd < 0)
        return green__fail(EBADF, api, "fd %d is not a descriptor", fd);
    green_fd_close_notify(fd); /* green_poll's waiters too */
    if (close(fd) == 0 || errno == EINTR) /* Linux released fd even on EINTR */
        return 0;
    return green__fail(errno, api, "fd %d: %s", fd, strerror(errno));
}
