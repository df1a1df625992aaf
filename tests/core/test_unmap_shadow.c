/* SPDX-License-Identifier: MIT */
/* Under ASAN, no memory that greenlet frames ran on goes back to the kernel with its
 * shadow still poisoned.
 *
 * gcc 12's libasan clears no shadow on munmap or mmap.  A frame that never returns (a
 * greenlet suspended when its thread exits, one that finished by switching away, the
 * copier's endless loop) leaves its redzones poisoned; once its stack is unmapped, the next
 * mapping at that address inherits them, and its first write is reported as a stack
 * overflow at a "wild pointer" (the hub's differential test hit it in a record slab
 * mmap'd by the next program's thread, where the copier stack of an earlier one had been).
 * Whether the kernel reuses the address is luck, so this program checks the cause instead:
 * its munmap (libgreen's calls bind to it; libc and the sanitizer unmap through their
 * own internal calls) notes every call whose range is still poisoned, then unmaps.
 *
 * Outside ASAN there is nothing to check and the test is skipped.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "testutil.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>

static atomic_long unmaps, poisoned_unmaps;
static _Atomic(uintptr_t) first_poisoned;

int munmap(void *addr, size_t len)
{
    atomic_fetch_add(&unmaps, 1);
    void *bad = __asan_region_is_poisoned(addr, len);
    if (bad) {
        uintptr_t none = 0;
        atomic_compare_exchange_strong(&first_poisoned, &none, (uintptr_t)bad);
        atomic_fetch_add(&poisoned_unmaps, 1);
    }
    return (int)syscall(SYS_munmap, addr, len);
}

static green_t *private_peer, *shared_a, *shared_b;

/* Suspends in a switch to main, and is never resumed: its frames are abandoned. */
static void *park(void *arg)
{
    (void)arg;
    volatile char scratch[64]; /* a local with redzones around it */
    memset((char *)scratch, 1, sizeof scratch);
    green_switch(green_main(), NULL, NULL);
    return NULL;
}

/* Finishes: the frames below its last switch stay behind on its stack. */
static void *finish(void *arg)
{
    volatile char scratch[64];
    memset((char *)scratch, 2, sizeof scratch);
    return arg;
}

/* Two shared greenlets that switch to each other (through the copier in sanitizer builds),
 * then a stays suspended and b finishes. */
static void *shared_b_body(void *arg)
{
    (void)arg;
    volatile char scratch[64];
    memset((char *)scratch, 3, sizeof scratch);
    green_switch(shared_a, NULL, NULL);
    return NULL;
}

static void *shared_a_body(void *arg)
{
    (void)arg;
    volatile char scratch[64];
    memset((char *)scratch, 4, sizeof scratch);
    green_switch(shared_b, NULL, NULL);
    green_switch(green_main(), NULL, NULL);
    return NULL;
}

static void *thread_body(void *arg)
{
    (void)arg;
    green_attr_t priv = GREEN_ATTR_INIT, shared = GREEN_ATTR_INIT;
    shared.stack_model = GREEN_STACK_SHARED;
    private_peer = green_new(park, NULL, &priv);
    green_t *done = green_new(finish, NULL, &priv);
    shared_a = green_new(shared_a_body, NULL, &shared);
    shared_b = green_new(shared_b_body, NULL, &shared);
    CHECK(private_peer && done && shared_a && shared_b);
    CHECK_EQ(green_switch(private_peer, NULL, NULL), 0);
    CHECK_EQ(green_switch(done, NULL, NULL), 0);
    CHECK_EQ(green_switch(shared_a, NULL, NULL), 0); /* a -> b -> a -> main */
    CHECK_EQ(green_switch(shared_b, NULL, NULL), 0); /* b finishes */
    CHECK(green_active(private_peer) && green_dead(done));
    CHECK(green_active(shared_a) && green_dead(shared_b));
    /* Exit with both suspended: the thread's stacks, shared region and copier are unmapped
     * with their frames abandoned. */
    return NULL;
}
#endif /* __SANITIZE_ADDRESS__ */

static void thread_exit_unmaps_clean_shadow(void **state)
{
    (void)state;
#ifndef __SANITIZE_ADDRESS__
    skip();
#else
    for (int i = 0; i < 3; i++) { /* a later thread maps where an earlier one unmapped */
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, thread_body, NULL), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_no_failures();
    }
    /* The private stacks' chunk, the shared region and the copier's stack, each time. */
    assert_true(atomic_load(&unmaps) >= 3 * 3);
    if (atomic_load(&poisoned_unmaps))
        fail_msg("%ld of %ld munmap calls left poisoned shadow (first at %p)",
                 atomic_load(&poisoned_unmaps), atomic_load(&unmaps),
                 (void *)atomic_load(&first_poisoned));
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CHECKED_TEST(thread_exit_unmaps_clean_shadow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
