/* SPDX-License-Identifier: MIT */
/* Waiting for a path to change: ev_stat (gevent's loop.stat).
 *
 * libev takes the path's attributes when the watcher starts and reports the first
 * difference, found through inotify or by polling.  The path is copied: libev reads it
 * for as long as the watcher runs, and the caller's string may live on a shared stack.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/thread.h"
#include "watch.h"

#define API "green_stat_wait"

struct stat_wait {
    ev_stat w;
    struct green_hub_part *h;
    struct green_task *self;
    char path[]; /* libev's copy */
};

static void on_stat(struct ev_loop *loop, ev_stat *w, int revents)
{
    (void)loop, (void)revents;
    struct stat_wait *sw = w->data;
    green__hub_resume(sw->h, sw->self->g, 0, sw);
}

GREEN_API int green_stat_wait(const char *path, double interval, double timeout, struct stat *now)
{
    if (!path || !*path)
        return green__fail(EINVAL, API, "the path is NULL or empty");
    if (!(interval >= 0))
        return green__fail(EINVAL, API, "the interval must be >= 0 (got %g)", interval);
    struct green_hub_part *h;
    struct green_task *self = green__watch_self(&h, timeout, API);
    if (!self)
        return -1;
    size_t len = strlen(path) + 1;
    struct stat_wait *sw = malloc(sizeof *sw + len);
    if (!sw)
        return green__fail(ENOMEM, API, "no memory for the wait");
    memcpy(sw->path, path, len);
    ev_stat_init(&sw->w, on_stat, sw->path, interval);
    sw->w.data = sw;
    sw->h = h;
    sw->self = self;
    ev_stat_start(h->loop, &sw->w);
    int rc = green__watch_block(h, self, sw, timeout, API);
    int e = errno;
    ev_stat_stop(h->loop, &sw->w);
    if (rc == 0 && now)
        *now = sw->w.attr;
    free(sw);
    errno = e;
    return rc;
}
