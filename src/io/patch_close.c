/* SPDX-License-Identifier: MIT */
/* The patch library's close notification (src/hub/patch_hook.h): what green_close() does
 * before its close(2), for a close(2) or dup2(2) made by code that never heard of
 * libgreen. */
#include "hub/patch_hook.h"
#include "io.h"

GREEN_API void green__patch_closing(int fd)
{
    if (fd < 0)
        return;
    green_fd_close_notify(fd); /* green_poll's waiters too */
}
