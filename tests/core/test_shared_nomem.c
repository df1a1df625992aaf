/* SPDX-License-Identifier: MIT */
/* A switch between two shared greenlets of one region that cannot save the outgoing slice
 * (no memory): the switch fails with ENOMEM, the caller keeps running with its stack
 * intact, nothing moved, and the same switch succeeds once memory is back.  This is the
 * failure path of the copy done inside the switch (the pivot, or the copier context where
 * there is none).  On two regions the same program needs no memory at all: each greenlet
 * keeps its frames where they are, and the switch succeeds while memory is out.
 *
 * Memory runs out on purpose: this program's malloc and aligned_alloc fail large requests
 * while `fail_big` is set (slices above the copy buffers' size classes come from one of
 * them, copy_buffers.c) and otherwise forward to glibc's.  ASAN and valgrind replace
 * malloc themselves: where the override is not in effect the test says so and is
 * skipped. */
#include <errno.h>
#include <pthread.h>

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

static bool malloc_can_fail(void)
{
    fail_big = true;
    void *probe = malloc(BIG_SLICE);
    fail_big = false;
    if (!probe)
        return true;
    free(probe);
    print_message("malloc is replaced here (ASAN or valgrind): cannot make it fail\n");
    return false;
}

static void test_switch_without_memory_fails_cleanly(void **state)
{
    (void)state;
    if (!malloc_can_fail())
        skip();
    reset_failures(NULL);
    assert_int_equal(green_set_shared_stacks(1), 0); /* peer and holder share a region */
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

/* The same program on a fresh thread with two regions: holder goes to the region peer is
 * not on, so its switch to peer saves nothing and succeeds while memory is out.  peer then
 * finishes into main, holder's retry finds peer dead and goes to main too, and a last
 * switch lets holder finish. */
struct two_regions {
    int set_rc, first_rc, start_rc, retry_rc, end_rc, peer_dead, holder_dead;
    void *got;
};

static void *two_regions_thread(void *arg)
{
    struct two_regions *o = arg;
    o->set_rc = green_set_shared_stacks(2);
    peer = new_green(peer_body, NULL, GREEN_STACK_SHARED, 0, "peer");
    green_t *holder = new_green(holder_body, NULL, GREEN_STACK_SHARED, 0, "holder");
    if (!peer || !holder)
        return NULL;
    o->first_rc = green_switch(peer, NULL, NULL);
    o->start_rc = green_switch(holder, NULL, &o->got);
    o->peer_dead = green_dead(peer);
    o->retry_rc = green_switch(holder, NULL, NULL);
    o->end_rc = green_switch(holder, NULL, NULL);
    o->holder_dead = green_dead(holder);
    green_destroy(peer);
    green_destroy(holder);
    return NULL;
}

static void test_two_regions_need_no_memory(void **state)
{
    (void)state;
    if (!malloc_can_fail())
        skip();
    reset_failures(NULL);
    failed_rc = retry_rc = 99;
    struct two_regions o = {.set_rc = 99};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, two_regions_thread, &o), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(o.set_rc, 0);
    assert_int_equal(o.first_rc, 0);
    assert_int_equal(o.start_rc, 0);
    assert_int_equal(failed_rc, 0); /* the switch made while memory was out */
    assert_true(buffer_intact);
    assert_int_equal(retry_rc, 0);
    assert_string_equal((const char *)o.got, "peer done");
    assert_true(o.peer_dead);
    assert_int_equal(o.retry_rc, 0);
    assert_int_equal(o.end_rc, 0);
    assert_true(o.holder_dead);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_switch_without_memory_fails_cleanly),
        cmocka_unit_test(test_two_regions_need_no_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
