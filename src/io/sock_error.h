/* SPDX-License-Identifier: MIT */
/* A socket's pending error (SO_ERROR): how a non-blocking connect reports its end once the
 * socket is writable.  green_connect's loop (sock.c) and libgreen-patch's connect
 * (src/patch/sock.c) both read it, so it is exported as src/hub/patch_hook.h's entry
 * points are: a green__ name (not public API) with default visibility, since the patch
 * library is another shared object. */
#ifndef GREEN_IO_SOCK_ERROR_H
#define GREEN_IO_SOCK_ERROR_H

#include "green/core.h"

/* Read and clear fd's pending error.  Returns 0 when there is none, or -1 with errno set
 * to it (ECONNREFUSED, ETIMEDOUT, ...), or to getsockopt's own failure (EBADF, ENOTSOCK).
 * Never switches. */
GREEN_API int green__sock_error(int fd);

#endif /* GREEN_IO_SOCK_ERROR_H */
