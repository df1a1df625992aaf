/* SPDX-License-Identifier: MIT */
/* What every layer of libgreen includes first: symbol visibility, branch hints, and
 * executable invariants.  Nothing here knows about greenlets, so src/hub/, src/io/ and
 * src/patch/ can use it without pulling in the core's internals.
 *
 * Naming: public functions are `green_*` and declared in include/green/; internal
 * functions shared between files are `green__*` (two underscores) and hidden; the context
 * switch is `green_arch_*` (src/arch/arch.h).  Statics are unprefixed.
 */
#ifndef GREEN_BASE_H
#define GREEN_BASE_H

#define GREEN_HIDDEN __attribute__((visibility("hidden")))
#define GREEN_LIKELY(x) __builtin_expect(!!(x), 1)
#define GREEN_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GREEN_NORETURN __attribute__((noreturn))
#define GREEN_COLD __attribute__((noinline, cold))
/* On a 64-byte boundary: a function a ping-pong spends its time in (green_switch, Event's
 * set, clear and wait) then sits the same way in the CPU's fetch blocks whatever the code
 * before it, which moved an Event ping-pong by 4 % from one build to the next. */
#define GREEN_HOT_ALIGN __attribute__((aligned(64)))
#define GREEN_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* Abort with a message naming the caller's API (or none), e.g. "libgreen: green_destroy:
 * greenlet 0x... was already destroyed".  Async-signal-safe: one write(2), then abort().
 * Implemented in src/core/error.c. */
GREEN_HIDDEN GREEN_NORETURN void green__fatal(const char *api, const char *fmt, ...)
    GREEN_PRINTF(2, 3);

/* Invariants the code relies on, checked in debug and sanitizer builds (GREEN_ASSERTS is
 * set by meson for every build type but release and minsize, and whenever a sanitizer is
 * on) and compiled out otherwise.  For states that bad *input* can cause, return an error
 * instead: an assertion failing is always a libgreen bug. */
#ifdef GREEN_ASSERTS
#define GREEN_ASSERT(cond)                                                                         \
    (GREEN_LIKELY(cond) ? (void)0                                                                  \
                        : green__fatal(NULL,                                                       \
                                       "internal error: %s:%d: %s: assertion '%s' "                \
                                       "failed",                                                   \
                                       __FILE__, __LINE__, __func__, #cond))
#else
#define GREEN_ASSERT(cond) ((void)0)
#endif

#endif /* GREEN_BASE_H */
