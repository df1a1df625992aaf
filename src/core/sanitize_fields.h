/* SPDX-License-Identifier: MIT */
/* The data ASAN and TSAN need per greenlet and per thread.  Together with sanitize.h (the
 * code) this is the only place that tests GREEN_ASAN / GREEN_TSAN: everything else calls
 * the san_* functions, which are empty in a normal build.  Kept apart from sanitize.h
 * because the record and thread headers need these fields before the functions can be
 * defined. */
#ifndef GREEN_CORE_SANITIZE_FIELDS_H
#define GREEN_CORE_SANITIZE_FIELDS_H

#include <stddef.h>

#if defined(GREEN_ASAN) || defined(GREEN_TSAN)
#define GREEN_SAN_ANY 1
#endif

#ifdef GREEN_ASAN
#define GREEN_SAN_RECORD_ASAN void *asan_fake_stack;
/* main_stack_*: the thread's own stack, for __sanitizer_start_switch_fiber; asan_dead: a
 * shared greenlet that just died, whose frames' shadow must be cleared. */
#define GREEN_SAN_THREAD_ASAN                                                                      \
    struct green *asan_dead;                                                                       \
    void *copier_fake_stack;                                                                       \
    const void *main_stack_lo;                                                                     \
    size_t main_stack_size;
#else
#define GREEN_SAN_RECORD_ASAN
#define GREEN_SAN_THREAD_ASAN
#endif

#ifdef GREEN_TSAN
#include <signal.h>
#define GREEN_SAN_RECORD_TSAN void *tsan_fiber;
/* tsan_dead_fiber: a fiber cannot destroy itself, so the next context destroys it;
 * tsan_sigmask: the thread's signal mask while a switch runs with all signals blocked. */
#define GREEN_SAN_THREAD_TSAN                                                                      \
    void *copier_fiber;                                                                            \
    void *tsan_dead_fiber;                                                                         \
    sigset_t tsan_sigmask;
#else
#define GREEN_SAN_RECORD_TSAN
#define GREEN_SAN_THREAD_TSAN
#endif

#define GREEN_SAN_RECORD_FIELDS GREEN_SAN_RECORD_ASAN GREEN_SAN_RECORD_TSAN
#define GREEN_SAN_THREAD_FIELDS GREEN_SAN_THREAD_ASAN GREEN_SAN_THREAD_TSAN

#endif /* GREEN_CORE_SANITIZE_FIELDS_H */
