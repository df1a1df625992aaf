/* SPDX-License-Identifier: MIT */
/* Timeouts, gevent's two kinds:
 *
 *   - scoped (gevent's `with Timeout(s):`): green_timeout_start() arms a timeout for the
 *     calling greenlet, and whatever blocking call it is in when it expires fails with
 *     ETIMEDOUT, however deep in other code that call is;
 *   - per call (gevent's `timeout=` argument): every blocking call takes its own limit.
 *
 * Both fail the same way (ETIMEDOUT), so green_timeout_fired() tells whether it was the
 * scope.  Usage: timeout [SECONDS]   (the scoped timeout; default 0.5, the rest scales)
 */
#include <errno.h>
#include <green.h>
#include <stdio.h>
#include <stdlib.h>

static double limit = 0.5;

/* Some library call that takes `seconds` and knows nothing about timeouts. */
static int slow_call(double seconds) { return green_sleep(seconds); }

static void *deliver(void *queue)
{
    static char parcel[] = "parcel";
    return green_queue_put(queue, parcel, GREEN_FOREVER) == 0 ? parcel : NULL;
}

static const char *outcome(int rc)
{
    return rc == 0 ? "finished" : errno == ETIMEDOUT ? "timed out" : "failed";
}

/* A slow call inside a scoped timeout of `limit` seconds. */
static int scoped(double call_seconds)
{
    green_timeout_t *t = green_timeout_start(limit);
    if (!t)
        return -1;
    int rc = slow_call(call_seconds);
    printf("scoped %g s: a %g s call %s%s\n", limit, call_seconds, outcome(rc),
           green_timeout_fired(t) ? ", the scope fired" : "");
    return green_timeout_end(t) < 0 ? -1 : 0;
}

/* Waits on a queue with per-call timeouts; one delivery arrives while it waits (the
 * courier starts as soon as this greenlet blocks, before any timer can fire). */
static int per_call(green_queue_t *q)
{
    green_t *courier = green_spawn(deliver, q, NULL);
    if (!courier)
        return -1;
    void *item;
    int rc = green_queue_get(q, limit, &item);
    printf("per call %g s: get %s with the %s\n", limit, outcome(rc),
           rc == 0 ? (const char *)item : "nothing");
    rc = green_queue_get(q, limit, &item);
    printf("per call %g s: get again %s, the queue is empty\n", limit, outcome(rc));
    green_join(courier, GREEN_FOREVER, NULL);
    return green_release(courier);
}

/* A per-call limit longer than the scope's: the scope wins, and says so. */
static int nested(green_queue_t *q)
{
    green_timeout_t *t = green_timeout_start(limit);
    if (!t)
        return -1;
    void *item;
    int rc = green_queue_get(q, 4 * limit, &item);
    printf("scoped %g s around a get with %g s: get %s, %s\n", limit, 4 * limit,
           outcome(rc), green_timeout_fired(t) ? "the scope fired" : "its own limit");
    return green_timeout_end(t) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        limit = atof(argv[1]);
    if (!(limit > 0)) {
        fprintf(stderr, "usage: timeout [SECONDS]\n");
        return 2;
    }
    green_queue_t *q = green_queue_new(0);
    if (!q || scoped(4 * limit) != 0 || scoped(limit / 4) != 0 || per_call(q) != 0 ||
        nested(q) != 0)
        return 1;
    return green_queue_destroy(q) == 0 && green_hub_shutdown() == 0 ? 0 : 1;
}
