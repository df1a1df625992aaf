/* SPDX-License-Identifier: MIT */
/* The blocked-hub monitor: gevent's _monitor.py "max_blocking_time" check, on a thread.
 *
 * The hub bumps a counter at every switch between itself and a greenlet and publishes the
 * id of the greenlet it hands the thread to (0 while the hub itself runs): two plain
 * relaxed stores per switch, no lock, no trace hook.  The monitor samples them four times
 * per limit; when the counter has not moved for the limit while a greenlet (not the hub)
 * holds the thread, it reports that greenlet once, and again only after the counter moves.
 * It reads nothing else of the hub's thread: names may change under it, so it reports ids.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/error.h"
#include "core/thread.h"
#include "hub.h"

struct green_monitor {
    struct green_hub_part *h;
    double limit;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* stop requested */
    bool stop;           /* under lock */
    char thread_name[GREEN_DESCRIBE_THREAD_MAX];
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct timespec deadline_after(double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double whole = (double)(time_t)seconds;
    ts.tv_sec += (time_t)whole;
    ts.tv_nsec += (long)((seconds - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Sleep for `seconds` unless stopped; returns whether to go on. */
static bool nap(struct green_monitor *m, double seconds)
{
    struct timespec until = deadline_after(seconds);
    pthread_mutex_lock(&m->lock);
    while (!m->stop && pthread_cond_timedwait(&m->wake, &m->lock, &until) != ETIMEDOUT) {
    }
    bool go_on = !m->stop;
    pthread_mutex_unlock(&m->lock);
    return go_on;
}

static void *monitor_run(void *arg)
{
    struct green_monitor *m = arg;
    const struct green_hub_part *h = m->h;
    uint64_t seen = __atomic_load_n(&h->switches, __ATOMIC_RELAXED);
    double since = now_seconds();
    bool reported = false;
    while (nap(m, m->limit / 4)) {
        uint64_t switches = __atomic_load_n(&h->switches, __ATOMIC_RELAXED);
        uint64_t id = __atomic_load_n(&h->running_id, __ATOMIC_RELAXED);
        double now = now_seconds();
        if (switches != seen) {
            seen = switches;
            since = now;
            reported = false;
        } else if (id != 0 && !reported && now - since >= m->limit) {
            reported = true;
            fprintf(stderr,
                    "libgreen: hub monitor: greenlet id %llu has held thread %s for %.3f s "
                    "without switching (limit %.3f s)\n",
                    (unsigned long long)id, m->thread_name, now - since, m->limit);
        }
    }
    return NULL;
}

GREEN_API int green_hub_monitor_start(double seconds)
{
    const char *api = "green_hub_monitor_start";
    if (!(seconds > 0))
        return green__fail(EINVAL, api, "the limit must be > 0 (got %g)", seconds);
    struct green_hub_part *h = green__hub_get(api);
    if (!h)
        return -1;
    if (h->monitor)
        return green__fail(EBUSY, api, "the hub's monitor is already running");
    struct green_monitor *m = calloc(1, sizeof *m);
    if (!m)
        return green__fail(ENOMEM, api, "no memory for the monitor");
    m->h = h;
    m->limit = seconds;
    green__describe_thread(h->ts, m->thread_name, sizeof m->thread_name);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&m->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&m->lock, NULL);
    /* The caller holds the thread from now on until it switches. */
    struct green *cur = h->ts->core.current;
    green__hub_note_running(h, cur == h->hub ? 0 : cur->id);
    int err = pthread_create(&m->thread, NULL, monitor_run, m);
    if (err) {
        pthread_cond_destroy(&m->wake);
        pthread_mutex_destroy(&m->lock);
        free(m);
        return green__fail(err == EAGAIN ? EAGAIN : ENOMEM, api,
                           "could not start the monitor thread (error %d)", err);
    }
    h->monitor = m;
    return 0;
}

void green__monitor_stop(struct green_hub_part *h)
{
    struct green_monitor *m = h->monitor;
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    free(m);
    h->monitor = NULL;
}

GREEN_API int green_hub_monitor_stop(void)
{
    struct green_hub_part *h = green__hub_peek();
    if (h)
        green__monitor_stop(h);
    return 0;
}
