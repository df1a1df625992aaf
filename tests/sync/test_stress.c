/* SPDX-License-Identifier: MIT */
/* Thousands of greenlets (scaled) mixing every primitive, with random kills and timeouts
 * from a seeded generator (GREEN_STRESS_SEED overrides the seed; failures print it).
 * Invariants: every greenlet finishes or is killed, mutual exclusion holds, units and
 * items balance, every object is idle and destroyable at the end, nothing leaks (ASAN,
 * valgrind). */
#include <inttypes.h>

#include "hubtest.h"

enum { NEVER_RAN, FINISHED, CANCELED };

struct world {
    green_sem_t *sem;
    green_lock_t *lock;
    green_event_t *event;
    green_result_t *result;
    green_queue_t *bounded, *unbounded;
    green_t **workers;
    int *status;
    long n, steps;
    unsigned units;
    int holders, in_lock; /* inside the semaphore / the lock now */
    long puts, gets;      /* successful, both queues */
    long timeouts, kills_seen;
};

static struct world w;
static uint64_t seed;

static double pick_timeout(uint64_t *rng)
{
    switch (splitmix64(rng) % 4) {
    case 0: return 0;
    case 1: return 0.0005;
    case 2: return 0.002;
    default: return GREEN_FOREVER;
    }
}

/* A failed blocking call must be a timeout or the kill; the kill ends the worker. */
static bool failed(int rc, int *status)
{
    if (rc == 0)
        return false;
    if (errno == ECANCELED) {
        *status = CANCELED;
        return true;
    }
    if (errno != ETIMEDOUT)
        note_failure(__LINE__, "seed %" PRIu64 ": unexpected errno %d: %s", seed, errno,
                     green_last_error());
    w.timeouts++;
    return false;
}

static void step(uint64_t *rng, int *status)
{
    /* waits that may last forever only where someone always comes: units and the lock
     * are always given back, even by a killed holder */
    double t = pick_timeout(rng), bounded_t = t < 0 ? 0.002 : t;
    switch (splitmix64(rng) % 9) {
    case 0:
        failed(green_sleep(splitmix64(rng) % 8 ? 0 : 0.0005), status);
        break;
    case 1:
        if (!failed(green_sem_acquire(w.sem, t), status) && *status != CANCELED) {
            CHECK(++w.holders <= (int)w.units);
            failed(green_sleep(0), status);
            w.holders--;
            CHECK_EQ(green_sem_release(w.sem), 0);
        }
        break;
    case 2: {
        int rc = green_lock_acquire(w.lock, t);
        if (failed(rc, status) || rc != 0)
            break;
        CHECK_EQ(++w.in_lock, 1);
        failed(green_sleep(0), status);
        w.in_lock--;
        CHECK_EQ(green_lock_release(w.lock), 0);
        break;
    }
    case 3: {
        green_queue_t *q = splitmix64(rng) % 2 ? w.bounded : w.unbounded;
        if (green_queue_put(q, &w, bounded_t) == 0)
            w.puts++;
        else
            failed(-1, status);
        break;
    }
    case 4: {
        green_queue_t *q = splitmix64(rng) % 2 ? w.bounded : w.unbounded;
        void *item = NULL;
        if (green_queue_get(q, bounded_t, &item) == 0) {
            w.gets++;
            CHECK(item != NULL);
        } else {
            failed(-1, status);
        }
        break;
    }
    case 5:
        if (splitmix64(rng) % 3 == 0)
            CHECK_EQ(splitmix64(rng) % 2 ? green_event_set(w.event) : green_event_clear(w.event),
                     0);
        else
            failed(green_event_wait(w.event, bounded_t), status);
        break;
    case 6: {
        void *v = NULL;
        int rc = green_result_get(w.result, bounded_t, &v);
        if (rc < 0)
            failed(rc, status);
        else if (splitmix64(rng) % 4 == 0)
            CHECK_EQ(green_result_set(w.result, &w), 0);
        break;
    }
    case 7: {
        green_t *other = w.workers[splitmix64(rng) % (uint64_t)w.n];
        if (other && other != green_current())
            failed(green_join(other, splitmix64(rng) % 2 ? 0 : 0.0005, NULL), status);
        break;
    }
    default: {
        green_timeout_t *scope = green_timeout_start(splitmix64(rng) % 2 ? 0 : 0.001);
        CHECK(scope != NULL);
        failed(green_event_wait(w.event, GREEN_FOREVER), status);
        int fired = green_timeout_end(scope);
        CHECK(fired == 0 || fired == 1);
        break;
    }
    }
}

static void *worker(void *arg)
{
    long id = (long)(intptr_t)arg;
    uint64_t rng = seed ^ ((uint64_t)id * UINT64_C(0x9e3779b97f4a7c15));
    int status = FINISHED;
    for (long s = 0; s < w.steps && status != CANCELED; s++)
        step(&rng, &status);
    if (status == CANCELED)
        w.kills_seen++;
    w.status[id] = status;
    return NULL;
}

static void *killer(void *arg)
{
    uint64_t rng = seed ^ 0x5eed;
    long kills = (long)(intptr_t)arg;
    for (long k = 0; k < kills; k++) {
        green_t *victim = w.workers[splitmix64(&rng) % (uint64_t)w.n];
        if (splitmix64(&rng) % 4 == 0) {
            int rc = green_kill(victim, 0.001);
            CHECK(rc == 0 || errno == ETIMEDOUT);
        } else {
            CHECK_EQ(green_kill_nowait(victim), 0);
        }
        CHECK_EQ(green_sleep(0), 0);
    }
    return NULL;
}

static void test_stress(void **state)
{
    (void)state;
    const char *s = getenv("GREEN_STRESS_SEED");
    seed = s ? strtoull(s, NULL, 0) : UINT64_C(20221022);
    memset(&w, 0, sizeof w);
    w.n = scaled(3000, 100);
    w.steps = 12;
    w.units = 3;
    w.sem = green_sem_new(w.units, true);
    w.lock = green_lock_new();
    w.event = green_event_new();
    w.result = green_result_new();
    w.bounded = green_queue_new(4);
    w.unbounded = green_queue_new(0);
    w.workers = calloc((size_t)w.n, sizeof *w.workers);
    w.status = calloc((size_t)w.n, sizeof *w.status);
    assert_non_null(w.workers);
    assert_non_null(w.status);
    for (long i = 0; i < w.n; i++) {
        green_attr_t a = GREEN_ATTR_INIT;
        a.stack_model = i % 2 ? GREEN_STACK_SHARED : GREEN_STACK_PRIVATE;
        a.stack_size = 64 * KiB;
        w.workers[i] = green_spawn(worker, (void *)(intptr_t)i, &a);
        assert_non_null(w.workers[i]);
    }
    long unstarted_kills = 0;
    for (long i = 0; i < w.n; i += 50, unstarted_kills++) /* before they start: never run */
        assert_int_equal(green_kill(w.workers[i], GREEN_FOREVER), 0);
    green_t *k = green_spawn(killer, (void *)(intptr_t)(w.n / 3), NULL);
    assert_non_null(k);
    assert_int_equal(green_join(k, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_release(k), 0);
    long counts[3] = {0};
    for (long i = 0; i < w.n; i++) {
        int rc = green_join(w.workers[i], GREEN_FOREVER, NULL);
        if (rc != 0)
            fail_msg("seed %" PRIu64 ": worker %ld: join %d: %s", seed, i, rc,
                     green_last_error());
        assert_true(green_ready(w.workers[i]) && green_successful(w.workers[i]));
        counts[w.status[i]]++;
    }
    for (long i = 0; i < w.n; i++) /* only now: workers join each other until they end */
        assert_int_equal(green_release(w.workers[i]), 0);
    assert_int_equal(counts[0] + counts[1] + counts[2], w.n);
    assert_int_equal(counts[CANCELED], w.kills_seen);
    assert_true(counts[FINISHED] > 0);
    assert_int_equal(counts[NEVER_RAN], unstarted_kills);
    assert_true(counts[CANCELED] > 0); /* the killer's kills did something */
    assert_int_equal(w.holders, 0);
    assert_int_equal(w.in_lock, 0);
    assert_int_equal(green_sem_value(w.sem), w.units);
    assert_int_equal(w.puts - w.gets,
                     (long)(green_queue_size(w.bounded) + green_queue_size(w.unbounded)));
    assert_int_equal(green_sleep(0), 0); /* the last notifiers end */
    assert_int_equal(green_lock_try_acquire(w.lock), 0);
    assert_int_equal(green_lock_release(w.lock), 0);
    assert_int_equal(green_sem_destroy(w.sem), 0);
    assert_int_equal(green_lock_destroy(w.lock), 0);
    assert_int_equal(green_event_destroy(w.event), 0);
    assert_int_equal(green_result_destroy(w.result), 0);
    assert_int_equal(green_queue_destroy(w.bounded), 0);
    assert_int_equal(green_queue_destroy(w.unbounded), 0);
    free(w.workers);
    free(w.status);
    print_message("seed %" PRIu64 ": %ld greenlets, %ld finished, %ld killed, %ld never ran, "
                  "%ld timeouts, %ld items\n",
                  seed, w.n, counts[FINISHED], counts[CANCELED], counts[NEVER_RAN], w.timeouts,
                  w.puts);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
