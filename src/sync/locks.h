/* SPDX-License-Identifier: MIT */
/* What Condition needs from Lock (semaphore.c) and RLock (rlock.c): gevent.lock.RLock's
 * _is_owned, _release_save and _acquire_restore, and which hub a lock belongs to. */
#ifndef GREEN_SYNC_LOCKS_H
#define GREEN_SYNC_LOCKS_H

#include "linkable.h"

/* Whether the calling greenlet holds l (l of the calling thread). */
GREEN_HIDDEN bool green__lock_owned(const struct green_lock *l);

/* The hub that owns l. */
GREEN_HIDDEN struct green_hub_part *green__lock_hub(const struct green_lock *l);

/* Whether the calling greenlet owns l. */
GREEN_HIDDEN bool green__rlock_owned(const struct green_rlock *l);

/* The owner (the caller) gives l up completely; returns its count, to be restored. */
GREEN_HIDDEN unsigned green__rlock_release_save(struct green_rlock *l);

/* Take l back with `count`, waiting as green_rlock_acquire(GREEN_FOREVER) would.  Returns 0,
 * or -1 with errno (the blocking errors) and l not taken. */
GREEN_HIDDEN int green__rlock_acquire_restore(struct green_rlock *l, unsigned count,
                                              const char *api);

/* The hub that owns l. */
GREEN_HIDDEN struct green_hub_part *green__rlock_hub(const struct green_rlock *l);

#endif /* GREEN_SYNC_LOCKS_H */
