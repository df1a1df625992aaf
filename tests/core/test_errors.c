/* SPDX-License-Identifier: MIT */
/* Refusals: every public call refuses NULL and invalid arguments, foreign greenlets, calls
 * from inside a trace hook and the lack of memory with its documented errno, and a
 * green_last_error() that names the call: "libgreen: <call>: ...".
 *
 * green_last_error() keeps its text until the next failure, so right before each refusal
 * a different one is provoked (REFUSES does it): a message left over from an earlier call
 * cannot pass for the refusal's own.  Every mismatch is printed, not only the first, and
 * the checks only record (CHECK-style), so they work inside greenlets, trace hooks,
 * other threads and child processes.
 */
#include <sys/mman.h>
#include <sys/resource.h>

#include <malloc.h>

#include "testutil.h"

static void *nop(void *arg) { return arg; }

/* Set a message that belongs to another call than api. */
static void provoke_other_refusal(const char *api)
{
    if (strcmp(api, "green_set_shared_stack_size") != 0)
        green_set_shared_stack_size(1);
    else
        green_switch(NULL, NULL, NULL);
}

static void check_refusal(int line, const char *call, const char *api, bool refused, int err,
                          int want)
{
    char prefix[80], why[160] = "";
    snprintf(prefix, sizeof prefix, "libgreen: %s:", api);
    const char *msg = green_last_error();
    if (!refused)
        snprintf(why, sizeof why, "not refused");
    else if (err != want)
        snprintf(why, sizeof why, "errno %d (%s), expected %d (%s)", err, strerror(err), want,
                 strerror(want));
    else if (strncmp(msg, prefix, strlen(prefix)) != 0)
        snprintf(why, sizeof why, "the message does not start with \"%s\"", prefix);
    if (!why[0])
        return;
    fprintf(stderr, "test_errors.c:%d: %s: %s; green_last_error() is \"%s\"\n", line, call, why,
            msg);
    note_failure(line, "%s: %s", call, why);
}

/* call (returning int) is refused with errno want, and the message names api. */
#define REFUSES(call, want, api)                                                          \
    do {                                                                                  \
        provoke_other_refusal(api);                                                       \
        errno = 0;                                                                        \
        int rc_ = (call);                                                                 \
        int e_ = errno;                                                                   \
        check_refusal(__LINE__, #call, (api), rc_ == -1, e_, (want));                     \
    } while (0)
/* The same for a call returning a pointer (NULL when refused). */
#define REFUSES_NULL(call, want, api)                                                     \
    do {                                                                                  \
        provoke_other_refusal(api);                                                       \
        errno = 0;                                                                        \
        bool null_ = (call) == NULL;                                                      \
        int e_ = errno;                                                                   \
        check_refusal(__LINE__, #call, (api), null_, e_, (want));                         \
    } while (0)

/* ---- NULL arguments ----------------------------------------------------------------- */

static void test_null_arguments(void **state)
{
    (void)state;
    green_t *g = new_green(nop, NULL, GREEN_STACK_PRIVATE, 0, NULL);
    assert_non_null(g);
    REFUSES_NULL(green_new(NULL, NULL, NULL), EINVAL, "green_new");
    REFUSES(green_switch(NULL, NULL, NULL), EINVAL, "green_switch");
    REFUSES(green_throw(NULL, EIO, NULL, NULL), EINVAL, "green_throw");
    REFUSES(green_destroy(NULL), EINVAL, "green_destroy");
    REFUSES(green_set_parent(NULL, g), EINVAL, "green_set_parent");
    REFUSES(green_set_parent(g, NULL), EINVAL, "green_set_parent");
    REFUSES(green_set_parent(NULL, NULL), EINVAL, "green_set_parent");
    REFUSES(green_set_name(NULL, "x"), EINVAL, "green_set_name");
    REFUSES(green_state(NULL), EINVAL, "green_state");
    /* The queries that are not refusals: NULL in, a neutral answer out. */
    assert_int_equal(green_id(NULL), 0);
    assert_null(green_name(NULL));
    assert_null(green_parent(NULL));
    assert_false(green_started(NULL));
    assert_false(green_active(NULL));
    assert_false(green_dead(NULL));
    assert_false(green_is_main(NULL));
    assert_ptr_equal(green_parent(g), green_main()); /* nothing changed */
    assert_int_equal(green_destroy(g), 0);
    assert_no_failures();
}

/* ---- invalid values ------------------------------------------------------------------- */

static void test_invalid_values(void **state)
{
    (void)state;
    green_attr_t bad_model = {.stack_model = 7};
    green_attr_t negative_model = {.stack_model = -1};
    green_attr_t absurd = {.stack_size = (size_t)1 << 50};
    REFUSES_NULL(green_new(nop, NULL, &bad_model), EINVAL, "green_new");
    REFUSES_NULL(green_new(nop, NULL, &negative_model), EINVAL, "green_new");
    REFUSES_NULL(green_new(nop, NULL, &absurd), EINVAL, "green_new");
    REFUSES(green_throw(green_current(), 0, NULL, NULL), EINVAL, "green_throw");
    REFUSES(green_throw(green_current(), -5, NULL, NULL), EINVAL, "green_throw");
    REFUSES(green_exit(-1, NULL), EINVAL, "green_exit");
    REFUSES(green_exit(0, NULL), EPERM, "green_exit");
    REFUSES(green_exit(GREEN_EXIT, NULL), EPERM, "green_exit");
    REFUSES(green_set_shared_stack_size(0), EINVAL, "green_set_shared_stack_size");
    REFUSES(green_set_shared_stack_size(64 * KiB - 1), EINVAL, "green_set_shared_stack_size");
    REFUSES(green_set_shared_stack_size(((size_t)2 << 30) + 4096), EINVAL,
            "green_set_shared_stack_size");
    REFUSES(green_set_shared_stacks(0), EINVAL, "green_set_shared_stacks");
    REFUSES(green_set_shared_stacks(GREEN_SHARED_STACKS_MAX + 1), EINVAL,
            "green_set_shared_stacks");
    assert_no_failures();
}

/* ---- main and current greenlets, cycles ---------------------------------------------- */

static void *destroy_self(void *arg)
{
    (void)arg;
    REFUSES(green_destroy(green_current()), EBUSY, "green_destroy");
    return NULL;
}

static void test_main_current_and_cycles(void **state)
{
    (void)state;
    green_attr_t named = {.name = "the-parent"};
    green_t *a = green_new(nop, NULL, &named);
    green_t *b = new_green(nop, a, GREEN_STACK_SHARED, 0, NULL);
    green_t *self_killer = new_green(destroy_self, NULL, GREEN_STACK_PRIVATE, 0, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(self_killer);
    REFUSES(green_destroy(green_main()), EINVAL, "green_destroy");
    REFUSES(green_set_parent(green_main(), a), EINVAL, "green_set_parent");
    REFUSES(green_set_parent(a, a), ELOOP, "green_set_parent");
    REFUSES(green_set_parent(a, b), ELOOP, "green_set_parent");
    /* the message names the greenlets, by name where they have one */
    assert_non_null(strstr(green_last_error(), "the-parent"));
    assert_ptr_equal(green_parent(a), green_main());
    assert_ptr_equal(green_parent(b), a);
    assert_int_equal(green_switch(self_killer, NULL, NULL), 0);
    assert_true(green_dead(self_killer));
    assert_int_equal(green_destroy(self_killer), 0);
    assert_int_equal(green_destroy(b), 0);
    assert_int_equal(green_destroy(a), 0);
    assert_no_failures();
}

/* ---- the shared region exists --------------------------------------------------------- */

static void *yield_to_main(void *arg)
{
    green_switch(green_main(), arg, NULL);
    return arg;
}

static void *region_busy(void *arg)
{
    (void)arg;
    green_t *g = new_green(yield_to_main, NULL, GREEN_STACK_SHARED, 0, NULL);
    if (!g || green_switch(g, NULL, NULL) != 0)
        return NULL;
    REFUSES(green_set_shared_stack_size(GREEN_SHARED_STACK_DEFAULT), EBUSY,
            "green_set_shared_stack_size");
    REFUSES(green_set_shared_stacks(GREEN_SHARED_STACKS_DEFAULT), EBUSY,
            "green_set_shared_stacks");
    green_destroy(g);
    return NULL;
}

static void test_shared_region_exists(void **state)
{
    (void)state;
    pthread_t t; /* a thread of its own: a region of its own */
    assert_int_equal(pthread_create(&t, NULL, region_busy, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_no_failures();
}

/* ---- a destroyed greenlet that does not die ------------------------------------------ */

static void *stubborn(void *arg)
{
    (void)arg;
    while (green_switch(green_main(), NULL, NULL) != GREEN_EXIT) {
    }
    green_switch(green_main(), NULL, NULL); /* ignores the first kill */
    return NULL;
}

static green_t *interrupt_target;
static void *throws_at_destroyer(void *arg)
{
    (void)arg;
    if (green_switch(green_main(), NULL, NULL) == GREEN_EXIT)
        green_throw(interrupt_target, EIO, NULL, NULL);
    return NULL;
}

static void *destroy_interrupted(void *victim)
{
    REFUSES(green_destroy(victim), EINTR, "green_destroy");
    return NULL;
}

static void test_destroy_refusals(void **state)
{
    (void)state;
    green_t *s = new_green(stubborn, NULL, GREEN_STACK_PRIVATE, 0, NULL);
    assert_non_null(s);
    assert_int_equal(green_switch(s, NULL, NULL), 0);
    REFUSES(green_destroy(s), EBUSY, "green_destroy");
    assert_int_equal(green_destroy(s), 0);

    green_t *v = new_green(throws_at_destroyer, NULL, GREEN_STACK_SHARED, 0, NULL);
    green_t *d = new_green(destroy_interrupted, NULL, GREEN_STACK_PRIVATE, 0, NULL);
    assert_non_null(v);
    assert_non_null(d);
    interrupt_target = d;
    assert_int_equal(green_switch(v, NULL, NULL), 0);
    assert_int_equal(green_switch(d, v, NULL), 0);
    assert_int_equal(green_destroy(v), 0);
    assert_int_equal(green_destroy(d), 0);
    assert_no_failures();
}

/* ---- inside a trace hook ------------------------------------------------------------- */

static int hook_calls;

static void refusing_hook(green_trace_event_t ev, green_t *origin, green_t *target, void *arg)
{
    (void)ev;
    green_t *bystander = arg;
    if (hook_calls++)
        return;
    REFUSES(green_switch(target, NULL, NULL), EBUSY, "green_switch");
    REFUSES(green_throw(target, EIO, NULL, NULL), EBUSY, "green_throw");
    REFUSES(green_exit(0, NULL), EBUSY, "green_exit");
    REFUSES(green_destroy(bystander), EBUSY, "green_destroy");
    REFUSES(green_set_parent(bystander, origin), EBUSY, "green_set_parent");
}

static void test_inside_trace_hook(void **state)
{
    (void)state;
    green_t *bystander = new_green(yield_to_main, NULL, GREEN_STACK_PRIVATE, 0, NULL);
    green_t *g = new_green(nop, NULL, GREEN_STACK_SHARED, 0, NULL);
    assert_non_null(bystander);
    assert_non_null(g);
    assert_int_equal(green_switch(bystander, NULL, NULL), 0);
    hook_calls = 0;
    assert_int_equal(green_settrace(refusing_hook, bystander, NULL, NULL), 0);
    void *r = NULL;
    assert_int_equal(green_switch(g, (void *)7, &r), 0);
    assert_int_equal(green_settrace(NULL, NULL, NULL, NULL), 0);
    assert_ptr_equal(r, (void *)7);
    assert_true(hook_calls >= 1);
    assert_true(green_active(bystander)); /* the refused destroy changed nothing */
    assert_int_equal(green_destroy(bystander), 0);
    assert_int_equal(green_destroy(g), 0);
    assert_no_failures();
}

/* ---- another thread's greenlets ------------------------------------------------------- */

struct owner {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stage; /* 1: greenlets made; 2: the intruder is done */
    green_t *suspended, *unstarted, *main;
};

static void owner_set(struct owner *o, int stage)
{
    pthread_mutex_lock(&o->lock);
    o->stage = stage;
    pthread_cond_broadcast(&o->cond);
    pthread_mutex_unlock(&o->lock);
}

static void owner_wait(struct owner *o, int stage)
{
    pthread_mutex_lock(&o->lock);
    while (o->stage < stage)
        pthread_cond_wait(&o->cond, &o->lock);
    pthread_mutex_unlock(&o->lock);
}

static void *owner_thread(void *arg)
{
    struct owner *o = arg;
    o->main = green_main();
    o->suspended = new_green(yield_to_main, NULL, GREEN_STACK_PRIVATE, 0, NULL);
    o->unstarted = new_green(nop, NULL, GREEN_STACK_SHARED, 0, NULL);
    if (o->suspended)
        CHECK_EQ(green_switch(o->suspended, NULL, NULL), 0);
    owner_set(o, 1);
    owner_wait(o, 2);
    if (o->suspended)
        CHECK_EQ(green_destroy(o->suspended), 0);
    if (o->unstarted)
        CHECK_EQ(green_destroy(o->unstarted), 0);
    return NULL;
}

static void test_foreign_thread(void **state)
{
    (void)state;
    struct owner o = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL, NULL, NULL};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, owner_thread, &o), 0);
    owner_wait(&o, 1);
    green_t *mine = new_green(nop, NULL, GREEN_STACK_PRIVATE, 0, NULL);
    green_t *theirs[] = {o.suspended, o.unstarted, o.main};
    for (size_t i = 0; i < sizeof theirs / sizeof theirs[0]; i++) {
        green_t *g = theirs[i];
        if (!g || !mine)
            break;
        REFUSES(green_switch(g, NULL, NULL), EXDEV, "green_switch");
        REFUSES(green_throw(g, EIO, NULL, NULL), EXDEV, "green_throw");
        REFUSES_NULL(green_new(nop, g, NULL), EXDEV, "green_new");
        REFUSES(green_set_parent(mine, g), EXDEV, "green_set_parent");
        REFUSES(green_set_parent(g, mine), EXDEV, "green_set_parent");
        REFUSES(green_set_name(g, "stolen"), EXDEV, "green_set_name");
        REFUSES(green_destroy(g), EXDEV, "green_destroy");
    }
    owner_set(&o, 2);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_non_null(mine);
    assert_int_equal(green_destroy(mine), 0);
    assert_no_failures();
}

/* ---- no memory ------------------------------------------------------------------------- */

/* In a child process: the address space is capped and malloc exhausted, so that stacks,
 * names and a new thread's state cannot be had. */

static int go_pipe[2];

/* A thread that has not used libgreen yet: its state must be created by its first call,
 * which fails.  It waits until the memory is gone. */
static void *stateless_thread(void *arg)
{
    (void)arg;
    char c;
    if (read(go_pipe[0], &c, 1) != 1)
        return NULL;
    REFUSES_NULL(green_current(), ENOMEM, "green_current");
    REFUSES_NULL(green_main(), ENOMEM, "green_main");
    REFUSES_NULL(green_new(nop, NULL, NULL), ENOMEM, "green_new");
    REFUSES(green_settrace(NULL, NULL, NULL, NULL), ENOMEM, "green_settrace");
    REFUSES(green_set_shared_stack_size(MiB), ENOMEM, "green_set_shared_stack_size");
    REFUSES(green_set_shared_stacks(2), ENOMEM, "green_set_shared_stacks");
    return NULL;
}

static void *volatile sink; /* the compiler may not drop the allocations */

static void exhaust_malloc(void)
{
    for (size_t size = MiB; size >= 8; size /= 2)
        while ((sink = malloc(size)) != NULL) {
        }
}

static void no_memory_child(void *arg)
{
    (void)arg;
    mallopt(M_ARENA_MAX, 1); /* the new thread allocates where we exhaust */
    pthread_t t;
    if (pipe(go_pipe) != 0 || pthread_create(&t, NULL, stateless_thread, NULL) != 0)
        _exit(2);
    /* A stack size of its own: no pooled stack fits, a new one must be mapped. */
    green_t *g = new_green(nop, NULL, GREEN_STACK_PRIVATE, 48 * MiB + 12 * KiB, NULL);
    if (!g)
        _exit(2);
    struct rlimit rl = {(rlim_t)statm_field(0) * 1024 + 4 * MiB, RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        _exit(2);
    /* qemu-user does not pass RLIMIT_AS on (it would limit qemu itself) */
    void *probe = mmap(NULL, 16 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe != MAP_FAILED) {
        fprintf(stderr, "RLIMIT_AS is not enforced here");
        _exit(77);
    }
    REFUSES(green_switch(g, NULL, NULL), ENOMEM, "green_switch");
    exhaust_malloc();
    if (write(go_pipe[1], "", 1) != 1)
        _exit(2);
    pthread_join(t, NULL);
    REFUSES(green_set_name(g, "a name to copy"), ENOMEM, "green_set_name");
    green_attr_t named = {.name = "a name to copy"};
    REFUSES_NULL(green_new(nop, NULL, &named), ENOMEM, "green_new");
    char first[512];
    _exit(failures_recorded(first, sizeof first) ? 3 : 0);
}

static void test_no_memory(void **state)
{
    (void)state;
    if (RUNNING_ON_VALGRIND || UNDER_SANITIZER) {
        /* their allocators ignore the cap, or die of it */
        print_message("  skipped under valgrind / sanitizers\n");
        skip();
    }
    char err[8192];
    int st = run_in_child(no_memory_child, NULL, err, sizeof err);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        print_message("  skipped: %s\n", err);
        skip();
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 2)
        fail_msg("the no-memory child could not set itself up: %s", err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        print_error("%s", err);
        fail_msg("refusals for lack of memory: child status %#x (mismatches above)", st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CHECKED_TEST(test_null_arguments),
        CHECKED_TEST(test_invalid_values),
        CHECKED_TEST(test_main_current_and_cycles),
        CHECKED_TEST(test_shared_region_exists),
        CHECKED_TEST(test_destroy_refusals),
        CHECKED_TEST(test_inside_trace_hook),
        CHECKED_TEST(test_foreign_thread),
        CHECKED_TEST(test_no_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
