/* SPDX-License-Identifier: MIT */
/* A switch between two shared greenlets that cannot save the outgoing slice (no memory):
 * the switch fails with ENOMEM, the caller keeps running with its stack intact, nothing
 * moved, and the same switch succeeds once memory is back.  This is the failure path of
 * the copy done inside the switch (the pivot, or the copier context where there is none).
 *
 * Memory runs out on purpose: this program's malloc and aligned_alloc fail large requests
 * while `fail_big` is set (slices above the copy buffers' size classes come from one of
 * them, copy_buffers.c) and otherwise forward to glibc's.  ASAN and valgrind replace
 * malloc themselves: where the override is not in effect the test says so and is
 * skipped. */
#include <errno.h>

#include "testutil.h"

#define BIG_SLICE (64 * KiB)

static volatile bool fail_big;

#ifndef __SANITIZE_ADDRESS__
extern void *__libc_malloc(size_t n);
/* noipa: the probe in the test must go through the symbol, which valgrind redirects. */
__attribute__((noipa)) void *malloc(size_t n)
{
    if (fail_big && n >= BIG_SLICE / 2) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_malloc(n);
}

extern void *__libc_memalign(size_t align, size_t n);
__attribute__((noipa)) void *aligned_alloc(size_t align, size_t n)
{
    if (fail_big && n >= BIG_SLICE / 2) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_memalign(align, n);
}
#endif

static unsigned char pattern(size_t i) { return (unsigned char)(i * 13 + 5); }

static green_t *peer;
static int failed_rc, failed_errno, retry_rc;
static bool buffer_intact;

static void *peer_body(void *arg)
{
    (void)arg;
    green_switch(green_main(), NULL, NULL); /* leave our slice at the top of the region */
    return (void *)"peer done";
}

/* Holds a large live buffer, so switching to peer must save it to the heap first. */
static void *holder_body(void *arg)
{
    (void)arg;
    unsigned char *buf = __builtin_alloca(BIG_SLICE);
    for (size_t i = 0; i < BIG_SLICE; i++)
        buf[i] = pattern(i);
    fail_big = true;
    errno = 0;
    failed_rc = green_switch(peer, NULL, NULL);
    failed_errno = errno;
    fail_big = false;
    buffer_intact = true;
    for (size_t i = 0; i < BIG_SLICE; i++)
        if (buf[i] != pattern(i))
            buffer_intact = false;
    void *got = NULL;
    retry_rc = green_switch(peer, NULL, &got); /* peer finishes: back to its parent, main */
    return NULL;
}

static void test_switch_without_memory_fails_cleanly(void **state)
{
    (void)state;
    fail_big = true;
    void *probe = malloc(BIG_SLICE);
    fail_big = false;
    if (probe) {
        free(probe);
        print_message("malloc is replaced here (ASAN or valgrind): cannot make it fail\n");
        skip();
    }
    reset_failures(NULL);
    peer = new_green(peer_body, NULL, GREEN_STACK_SHARED, 0, "peer");
    green_t *holder = new_green(holder_body, NULL, GREEN_STACK_SHARED, 0, "holder");
    assert_non_null(peer);
    assert_non_null(holder);
    assert_int_equal(green_switch(peer, NULL, NULL), 0); /* peer suspends at the top */
    void *got = NULL;
    /* holder starts at the top too (main is not on the region), saving peer's small slice;
     * its failed switch keeps it running; the retry ends peer, whose value reaches main */
    assert_int_equal(green_switch(holder, NULL, &got), 0);
    assert_int_equal(failed_rc, -1);
    assert_int_equal(failed_errno, ENOMEM);
    assert_true(buffer_intact);
    assert_int_equal(retry_rc, 0);
    assert_string_equal((const char *)got, "peer done");
    assert_true(green_dead(peer));
    /* holder is suspended in its retry: resuming it lets it finish */
    assert_int_equal(green_switch(holder, NULL, NULL), 0);
    assert_true(green_dead(holder));
    green_destroy(peer);
    green_destroy(holder);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_switch_without_memory_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
