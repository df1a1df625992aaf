/* SPDX-License-Identifier: MIT */
/* fork(): the child's hub keeps working (gevent's fork() and reinit()).
 *
 * The child inherits the parent's epoll set and wake-up pipe, which still belong to the
 * parent: ev_loop_fork makes libev build new ones at its next iteration.  Only the forking
 * thread exists in the child, so only its hub is reinitialised; the signal table drops the
 * other threads' hubs, whose signals nobody watches in the child, and the hub's
 * threadpools forget their workers, which do not exist there (threadpool.c), and the
 * statuses the main thread's hub kept are the parent's children's (child_status.c).
 */
#include <pthread.h>

#include "child.h"
#include "core/thread.h"
#include "threadpool.h"
#include "watch.h"

static void before_fork(void)
{
    green__signal_atfork_prepare();
    green__threadpools_atfork_prepare();
}

static void in_parent(void)
{
    green__threadpools_atfork_parent();
    green__signal_atfork_parent();
}

static void in_child(void)
{
    struct green_hub_part *h = green__hub_peek();
    green__threadpools_atfork_child();
    green__signal_atfork_child(h);
    if (h) {
        ev_loop_fork(h->loop); /* only sets a flag: fine in an atfork handler */
        green__children_atfork_child(h);
    }
}

static void register_handlers(void) { pthread_atfork(before_fork, in_parent, in_child); }

void green__fork_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_handlers);
}
