/* SPDX-License-Identifier: MIT */
/* A map over an array with at most three workers at a time (gevent.pool.Pool(3).map).
 *
 * Each item's worker yields (green_sleep(0)) a few times, as if waiting for I/O, and
 * returns the item squared.  The pool never runs more than three at once: a fourth spawn
 * waits for a place.  The results come back in input order whatever order the workers
 * finish in.  Nothing depends on time, so the output is the same on every run — and the
 * same as gevent's for the same program in Python:
 *
 *     def work(i):
 *         print(f"start {i}")
 *         for _ in range(i % 3): gevent.sleep(0)
 *         print(f"done {i}")
 *         return i * i
 *     print("results:", *Pool(3).map(work, range(7)))
 *
 * Usage: pool_map
 */
#include <green.h>
#include <stdint.h>
#include <stdio.h>

#define ITEMS 7
#define WORKERS 3

static void *work(void *arg)
{
    intptr_t i = (intptr_t)arg;
    printf("start %ld\n", (long)i);
    for (intptr_t k = 0; k < i % 3; k++)
        if (green_sleep(0) != 0)
            return NULL; /* killed: give up */
    printf("done %ld\n", (long)i);
    return (void *)(i * i);
}

int main(void)
{
    green_group_t *pool = green_pool_new(WORKERS);
    if (!pool) {
        perror("green_pool_new");
        return 1;
    }
    void *items[ITEMS], *results[ITEMS];
    for (intptr_t i = 0; i < ITEMS; i++)
        items[i] = (void *)i;
    size_t failed;
    int rc = green_group_map(pool, work, items, ITEMS, results, &failed, GREEN_FOREVER);
    if (rc != 0) {
        fprintf(stderr, "green_group_map: %s\n", rc < 0 ? green_last_error() : "a worker failed");
        return 1;
    }
    printf("results:");
    for (int i = 0; i < ITEMS; i++)
        printf(" %ld", (long)(intptr_t)results[i]);
    printf("\n");
    /* Free the pool once the members have gone (the last wake-up may still be running). */
    if (green_group_join(pool, GREEN_FOREVER) != 0 || green_sleep(0) != 0 ||
        green_group_destroy(pool) != 0) {
        fprintf(stderr, "pool: %s\n", green_last_error());
        return 1;
    }
    return green_hub_shutdown() == 0 ? 0 : 1;
}
