/* SPDX-License-Identifier: MIT */
/* One error path for the whole library.
 *
 * libgreen has three kinds of failure (the taxonomy of include/green/core.h):
 *   - a refused call: green__fail() sets errno and the thread's message, "libgreen: <api>:
 *     <what>", and the call returns -1 or NULL having changed nothing;
 *   - misuse that cannot be reported to the caller safely (a destroyed handle used
 *     again): green__fatal() (base.h) prints the same kind of message and aborts;
 *   - a libgreen bug: GREEN_ASSERT (base.h) in debug and sanitizer builds.
 * Higher layers use the same two calls with their own API names.
 */
#ifndef GREEN_CORE_ERROR_H
#define GREEN_CORE_ERROR_H

#include <stddef.h>

#include "base.h"
#include "greenlet.h"

/* Room for green__describe()'s text, and for green__describe_thread()'s. */
#define GREEN_DESCRIBE_MAX 96
#define GREEN_DESCRIBE_THREAD_MAX 64

/* Refuse the call `api` (a public function's name, or NULL inside the library's own
 * machinery) with errno `err`; the message is "libgreen: <api>: <fmt...>".  Returns -1, so
 * callers can `return green__fail(...)`.  Safe from any thread; touches nothing but errno
 * and the calling thread's message buffer. */
GREEN_HIDDEN int green__fail(int err, const char *api, const char *fmt, ...) GREEN_PRINTF(3, 4);

/* "'name' (id N)", "'main' (id N)" or "id N", into buf.  Only for greenlets of the calling
 * thread: another thread may be changing the name (use the id alone for those). */
GREEN_HIDDEN const char *green__describe(const struct green *g, char *buf, size_t len);

/* "'thread-name' (tid N)", into buf.  Safe for any live thread's state. */
GREEN_HIDDEN const char *green__describe_thread(const struct green_thread *ts, char *buf,
                                                size_t len);

/* Refuse `api` with EXDEV because g (called `role` in the message: "greenlet", "parent",
 * "target") belongs to another thread than ts, naming both threads.  Returns -1. */
GREEN_HIDDEN int green__refuse_foreign(const struct green_thread *ts, const struct green *g,
                                       const char *api, const char *role);

/* g as a record; aborts naming `api` if the handle was destroyed (its slot is free or it
 * was released).  g must not be NULL.  Safe from any thread (atomic reads). */
GREEN_HIDDEN struct green *green__check(const green_t *g, const char *api);

#endif /* GREEN_CORE_ERROR_H */
