/* SPDX-License-Identifier: MIT */
/* libgreen patch: unmodified blocking C code made cooperative (gevent's monkey patching,
 * by symbol interposition).  docs/patching.md has the list of calls and their behaviour.
 *
 * libgreen-patch (pkg-config libgreen-patch, or LD_PRELOAD=libgreen-patch.so with a
 * program linked with the shared libgreen) defines read, write, recv, connect, poll,
 * nanosleep, getaddrinfo, close and the other blocking calls of libc.  Made by a greenlet
 * of a thread whose hub runs (main or spawned), such a call parks the greenlet on the hub
 * where libc would block the thread, and returns what libc would have returned; made
 * anywhere else (a thread without a hub, the hub itself, a callback or watcher, a signal
 * handler, before the hub exists, a greenlet that turned patching off) it is libc's own
 * call.  Where they differ from libc: a kill fails the call with ECANCELED and a scoped
 * timeout (green_timeout_start) with ETIMEDOUT, instead of it blocking on.
 */
#ifndef GREEN_PATCH_H
#define GREEN_PATCH_H

#include <stdbool.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Modes of green_patch_context(). */
#define GREEN_PATCH_OFF 0    /* patched calls of this greenlet are libc's: they block the thread */
#define GREEN_PATCH_ON 1     /* patched calls park this greenlet on the hub (the default) */
#define GREEN_PATCH_QUERY -1 /* change nothing, return the mode */

/* Whether the patch library is loaded and a patched call made here and now would park the
 * caller on the hub (the rules above).  Defined in libgreen-patch itself (a program asks
 * whether it is preloaded with dlsym(RTLD_DEFAULT, "green_patch_enabled")).  Never fails. */
GREEN_API bool green_patch_enabled(void);

/* Set the calling greenlet's patching mode (GREEN_PATCH_ON or GREEN_PATCH_OFF), or only
 * read it (GREEN_PATCH_QUERY), e.g. to keep a short critical call on the thread:
 * `int was = green_patch_context(GREEN_PATCH_OFF); ...; green_patch_context(was);`.  The
 * mode belongs to the greenlet (other greenlets keep theirs across switches); spawned
 * greenlets start with GREEN_PATCH_ON.  Part of libgreen: it works whether or not the patch
 * library is loaded.  Returns the previous mode, or -1 with errno EINVAL (another mode),
 * EPERM (no hub on this thread, called from the hub, or from a greenlet not spawned on
 * it). */
GREEN_API int green_patch_context(int mode);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_PATCH_H */
