/* SPDX-License-Identifier: MIT */
/* The program that tests/gdb/run_gdb.py debugs with libgreen's gdb extension.
 *
 * It leaves greenlets of every kind suspended in functions with distinctive names -- a
 * private one, a shared one whose whole slice is in the heap, a shared one split between
 * heap and region, a shared one entirely in the region, one on a second thread -- plus a
 * dead and an unstarted one, and, on a fourth thread, a hub task parked by a hand-off
 * (green_arch_park: its frame resumes in green_arch_park_resume, whose unwind rule leads
 * to the wait's caller), and stops in gdb_checkpoint() for gdb to look at them.  Run
 * without gdb, it prints what gdb should see (the driver runs it once that way first).
 * After the checkpoint it resumes every greenlet and checks the values and the stack
 * contents they find: if looking at them from gdb changed registers or memory, it fails.
 */
#include <green.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parked functions must keep their own frames and names: no inlining, cloning or
 * tail calls, so the backtraces the driver checks name exactly these functions. */
#if defined(__clang__)
#define PARKED __attribute__((noinline))
#else
#define PARKED __attribute__((noipa))
#endif

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c)) {                                                                       \
            fprintf(stderr, "gdb_target: %s:%d: check failed: %s\n", __FILE__, __LINE__,  \
                    #c);                                                                  \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

static green_t *g_main, *g_private, *g_child, *g_dead, *g_new, *g_heap, *g_partial, *g_nested;

/* Every parked frame keeps a pattern in a local buffer and checks it after resuming. */
#define PATTERN_BYTES 256
static void fill(volatile unsigned char *b, unsigned seed)
{
    for (unsigned i = 0; i < PATTERN_BYTES; i++)
        b[i] = (unsigned char)(seed * 31u + i);
}

static int intact(const volatile unsigned char *b, unsigned seed)
{
    for (unsigned i = 0; i < PATTERN_BYTES; i++)
        if (b[i] != (unsigned char)(seed * 31u + i))
            return 0;
    return 1;
}

/* Suspend the current greenlet by switching to `to`; the value it is resumed with.  A
 * macro, so that the greenlet is suspended in the calling function itself. */
static _Thread_local void *park_value;
static void switched_ok(int rc) { CHECK(rc == 0); }
#define park(to) (switched_ok(green_switch((to), NULL, &park_value)), (uintptr_t)park_value)

/* ---- the private greenlet and its child ------------------------------------------- */

PARKED static uintptr_t parked_in_private_frame(unsigned seed)
{
    volatile unsigned char buf[PATTERN_BYTES];
    fill(buf, seed);
    uintptr_t v = park(g_main);
    CHECK(intact(buf, seed));
    return v + 1;
}

/* The run functions check what they get back, so they cannot tail-call and their frames
 * stay in the backtraces. */
PARKED static void *private_run(void *arg)
{
    CHECK((uintptr_t)arg == 1);
    uintptr_t v = parked_in_private_frame(1);
    CHECK(v == 12);
    return (void *)v;
}

PARKED static uintptr_t parked_in_child_frame(unsigned seed)
{
    volatile unsigned char buf[PATTERN_BYTES];
    fill(buf, seed);
    uintptr_t v = park(g_main);
    CHECK(intact(buf, seed));
    return v + 1;
}

PARKED static void *child_run(void *arg)
{
    CHECK((uintptr_t)arg == 2);
    uintptr_t v = parked_in_child_frame(2);
    CHECK(v == 22);
    return (void *)v;
}

static void *dead_run(void *arg) { return arg; }

PARKED static void *unstarted_run(void *arg) { return (void *)((uintptr_t)arg + 1); }

/* ---- shared greenlets: heap, partly heap, region ----------------------------------- */

PARKED static uintptr_t parked_in_shared_frame(unsigned seed)
{
    volatile unsigned char buf[PATTERN_BYTES];
    fill(buf, seed);
    uintptr_t v = park(g_main);
    CHECK(intact(buf, seed));
    return v + 1;
}

PARKED static uintptr_t shared_heap_outer(unsigned seed)
{
    volatile unsigned char buf[PATTERN_BYTES];
    fill(buf, seed + 100);
    uintptr_t v = parked_in_shared_frame(seed);
    CHECK(intact(buf, seed + 100));
    return v;
}

PARKED static void *shared_heap_run(void *arg)
{
    CHECK((uintptr_t)arg == 3);
    uintptr_t v = shared_heap_outer(3);
    CHECK(v == 32);
    return (void *)v;
}

PARKED static uintptr_t parked_in_nested_frame(unsigned seed)
{
    volatile unsigned char buf[PATTERN_BYTES];
    fill(buf, seed);
    CHECK(park(g_main) == 0); /* first park: main resumes the partial greenlet meanwhile */
    CHECK(intact(buf, seed));
    uintptr_t v = park(g_main); /* second park: where gdb sees it */
    CHECK(intact(buf, seed));
    return v + 1;
}

PARKED static void *nested_run(void *arg)
{
    CHECK(arg == NULL);
    uintptr_t v = parked_in_nested_frame(5);
    CHECK(v == 42);
    return (void *)v;
}

/* Deeper than where the nested greenlet was started, so that resuming the nested one
 * saves the innermost part of this greenlet's stack and leaves the rest in the region. */
PARKED static uintptr_t parked_in_partial_frame(unsigned seed)
{
    volatile unsigned char buf[4 * PATTERN_BYTES];
    fill(buf, seed);
    uintptr_t v = park(g_main);
    CHECK(intact(buf, seed));
    return v + 1;
}

PARKED static void *partial_run(void *arg)
{
    CHECK((uintptr_t)arg == 4);
    volatile unsigned char buf[PATTERN_BYTES];
    fill(buf, 104);
    green_attr_t attr = {GREEN_STACK_SHARED, 0, "shared-nested"};
    g_nested = green_new(nested_run, g_main, &attr); /* starts below this frame */
    CHECK(g_nested != NULL);
    CHECK(park(g_nested) == 0);
    uintptr_t v = parked_in_partial_frame(4);
    CHECK(v == 52 && intact(buf, 104));
    return (void *)v;
}

/* ---- a second thread with a greenlet, a third without ------------------------------ */

static sem_t ready, go;
static uint64_t thread_worker_id, thread_main_id;

PARKED static uintptr_t parked_in_thread_frame(unsigned seed)
{
    volatile unsigned char buf[PATTERN_BYTES];
    fill(buf, seed);
    uintptr_t v = park(green_main());
    CHECK(intact(buf, seed));
    return v + 1;
}

PARKED static void *thread_worker_run(void *arg)
{
    CHECK((uintptr_t)arg == 6);
    uintptr_t v = parked_in_thread_frame(6);
    CHECK(v == 62);
    return (void *)v;
}

static void *thread_with_greenlet(void *arg)
{
    (void)arg;
    green_attr_t attr = {GREEN_STACK_PRIVATE, 0, "thread-worker"};
    green_t *g = green_new(thread_worker_run, NULL, &attr);
    CHECK(g != NULL);
    thread_main_id = green_id(green_main());
    thread_worker_id = green_id(g);
    void *r = NULL;
    CHECK(green_switch(g, (void *)6, &r) == 0 && r == NULL);
    sem_post(&ready);
    sem_wait(&go);
    CHECK(green_switch(g, (void *)61, &r) == 0 && (uintptr_t)r == 62);
    CHECK(green_dead(g));
    CHECK(green_destroy(g) == 0);
    return NULL;
}

/* ---- a fourth thread: a hub, two tasks ping-ponging on Events, one parked ------------ */

static uint64_t hub_main_id, hub_id, ping_id, pong_id;
static green_event_t *e1, *e2;

PARKED static int parked_in_event_wait(void)
{
    int rc = green_event_wait(e2, GREEN_FOREVER); /* parked by the hand-off from round 1 */
    CHECK(rc == 0);
    return rc;
}

PARKED static void *ping_run(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        CHECK(green_event_set(e1) == 0);
        CHECK(parked_in_event_wait() == 0 && green_event_clear(e2) == 0);
    }
    return NULL;
}

static void *pong_run(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        CHECK(green_event_wait(e1, GREEN_FOREVER) == 0 && green_event_clear(e1) == 0);
        if (i == 2) { /* ping is parked now, woken us by its hand-off: let gdb look */
            sem_post(&ready);
            sem_wait(&go);
        }
        CHECK(green_event_set(e2) == 0);
    }
    return NULL;
}

static void *thread_with_hub(void *arg)
{
    (void)arg;
    CHECK((e1 = green_event_new()) != NULL && (e2 = green_event_new()) != NULL);
    hub_main_id = green_id(green_main());
    hub_id = green_id(green_hub());
    green_t *pong = green_spawn(pong_run, NULL, NULL), *ping = green_spawn(ping_run, NULL, NULL);
    CHECK(pong && ping);
    pong_id = green_id(pong);
    ping_id = green_id(ping);
    CHECK(green_join(pong, GREEN_FOREVER, NULL) == 0 && green_join(ping, GREEN_FOREVER, NULL) == 0);
    CHECK(green_release(pong) == 0 && green_release(ping) == 0);
    CHECK(green_event_destroy(e1) == 0 && green_event_destroy(e2) == 0);
    CHECK(green_hub_shutdown() == 0);
    return NULL;
}

static void *thread_without_greenlets(void *arg)
{
    (void)arg;
    sem_post(&ready);
    sem_wait(&go);
    return NULL;
}

/* ---- main --------------------------------------------------------------------------- */

/* The driver's breakpoint. */
PARKED void gdb_checkpoint(void) { __asm__ volatile("" ::: "memory"); }

static green_t *make(green_fn run, green_t *parent, int model, const char *name)
{
    green_attr_t attr = {model, 0, name};
    green_t *g = green_new(run, parent, &attr);
    CHECK(g != NULL);
    return g;
}

static unsigned long long id(green_t *g) { return (unsigned long long)green_id(g); }

/* What gdb should list: "greenlet THREAD ID STATE MODEL PARENT NAME", and for each
 * suspended greenlet "parked ID FUNCTION RUN-FUNCTION SLICE" (SLICE: where a shared
 * greenlet's stack is: heap, split or region). */
static void expect(int thread, green_t *g, const char *state, const char *model,
                   green_t *parent)
{
    char parent_id[32] = "-";
    if (parent)
        snprintf(parent_id, sizeof parent_id, "%llu", id(parent));
    printf("greenlet %d %llu %s %s %s %s\n", thread, id(g), state, model, parent_id,
           green_name(g) ? green_name(g) : "-");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    g_main = green_main();
    CHECK(g_main != NULL);
    /* One shared region, greenlet's picture: the greenlets below take each other's
     * addresses, so that gdb finds a stack in the heap, one split, one in the region. */
    CHECK(green_set_shared_stacks(1) == 0);
    g_private = make(private_run, NULL, GREEN_STACK_PRIVATE, "worker-private");
    g_child = make(child_run, g_private, GREEN_STACK_PRIVATE, "child-of-private");
    g_dead = make(dead_run, NULL, GREEN_STACK_PRIVATE, "finished");
    g_new = make(unstarted_run, NULL, GREEN_STACK_SHARED, "not-started");
    g_heap = make(shared_heap_run, NULL, GREEN_STACK_SHARED, "shared-heap");
    g_partial = make(partial_run, NULL, GREEN_STACK_SHARED, "shared-partial");

    void *r = NULL;
    CHECK(green_switch(g_private, (void *)1, &r) == 0 && r == NULL);
    CHECK(green_switch(g_child, (void *)2, &r) == 0 && r == NULL);
    CHECK(green_switch(g_dead, (void *)7, &r) == 0 && (uintptr_t)r == 7);
    CHECK(green_switch(g_heap, (void *)3, &r) == 0 && r == NULL);
    /* Starts at the top of the region like the heap one: its whole slice goes to the heap. */
    CHECK(green_switch(g_partial, (void *)4, &r) == 0 && r == NULL); /* parks in the nested one */
    CHECK(green_switch(g_partial, NULL, &r) == 0 && r == NULL);      /* deeper now */
    CHECK(green_switch(g_nested, NULL, &r) == 0 && r == NULL); /* saves part of the partial one */

    pthread_t t1, t2, t3;
    CHECK(sem_init(&ready, 0, 0) == 0 && sem_init(&go, 0, 0) == 0);
    CHECK(pthread_create(&t1, NULL, thread_with_greenlet, NULL) == 0);
    sem_wait(&ready);
    CHECK(pthread_create(&t2, NULL, thread_without_greenlets, NULL) == 0);
    sem_wait(&ready);
    CHECK(pthread_create(&t3, NULL, thread_with_hub, NULL) == 0);
    sem_wait(&ready);

    expect(1, g_main, "running", "thread", NULL);
    expect(1, g_private, "suspended", "private", g_main);
    expect(1, g_child, "suspended", "private", g_private);
    expect(1, g_dead, "dead", "private", g_main);
    expect(1, g_new, "new", "shared", g_main);
    expect(1, g_heap, "suspended", "shared", g_main);
    expect(1, g_partial, "suspended", "shared", g_main);
    expect(1, g_nested, "suspended", "shared", g_main);
    printf("greenlet 2 %llu running thread - main\n", (unsigned long long)thread_main_id);
    printf("greenlet 2 %llu suspended private %llu thread-worker\n",
           (unsigned long long)thread_worker_id, (unsigned long long)thread_main_id);
    printf("parked %llu parked_in_private_frame private_run private\n", id(g_private));
    printf("parked %llu parked_in_child_frame child_run private\n", id(g_child));
    printf("parked %llu parked_in_shared_frame shared_heap_run heap\n", id(g_heap));
    printf("parked %llu parked_in_partial_frame partial_run split\n", id(g_partial));
    printf("parked %llu parked_in_nested_frame nested_run region\n", id(g_nested));
    printf("parked %llu parked_in_thread_frame thread_worker_run private\n",
           (unsigned long long)thread_worker_id);
    printf("greenlet 4 %llu suspended thread - main\n", (unsigned long long)hub_main_id);
    printf("greenlet 4 %llu suspended private %llu hub\n", (unsigned long long)hub_id,
           (unsigned long long)hub_main_id);
    printf("greenlet 4 %llu running private %llu -\n", (unsigned long long)pong_id,
           (unsigned long long)hub_id);
    printf("greenlet 4 %llu suspended private %llu -\n", (unsigned long long)ping_id,
           (unsigned long long)hub_id);
#if defined(__x86_64__) /* the CPU whose parked-frame unwinding this test has seen work */
    printf("parked %llu green_arch_park_resume ping_run private\n", (unsigned long long)ping_id);
#endif
    printf("main %llu\n", id(g_main));
    printf("dead %llu\n", id(g_dead));
    printf("new %llu\n", id(g_new));

    gdb_checkpoint();

    /* Everything must resume as if gdb had never looked. */
    CHECK(green_switch(g_private, (void *)11, &r) == 0 && (uintptr_t)r == 12);
    CHECK(green_switch(g_child, (void *)21, &r) == 0 && (uintptr_t)r == 22);
    CHECK(green_switch(g_heap, (void *)31, &r) == 0 && (uintptr_t)r == 32);
    CHECK(green_switch(g_nested, (void *)41, &r) == 0 && (uintptr_t)r == 42);
    CHECK(green_switch(g_partial, (void *)51, &r) == 0 && (uintptr_t)r == 52);
    CHECK(green_switch(g_new, (void *)70, &r) == 0 && (uintptr_t)r == 71);
    green_t *all[] = {g_private, g_child, g_dead, g_new, g_heap, g_partial, g_nested};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        CHECK(green_dead(all[i]));
        CHECK(green_destroy(all[i]) == 0);
    }
    sem_post(&go);
    sem_post(&go);
    sem_post(&go);
    CHECK(pthread_join(t1, NULL) == 0 && pthread_join(t2, NULL) == 0 &&
          pthread_join(t3, NULL) == 0);
    printf("gdb_target: all greenlets resumed correctly\n");
    return 0;
}
