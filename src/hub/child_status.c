/* SPDX-License-Identifier: MIT */
/* The main thread's hub keeps its children's statuses, as the kernel keeps zombies.
 *
 * libev's default loop reaps every child on SIGCHLD (waitpid(-1) in its own handler) and
 * gives the status only to the ev_child watchers active for that pid at that moment: a
 * child that ended while nobody watched it would be lost to a later waitpid.  So the hub
 * runs one catch-all ev_child (pid 0) from its creation, and libgreen's waits (green_waitpid,
 * green_process) do not start ev_child watchers of their own but register here.
 *
 * libev feeds every matching watcher of a reaped pid (the pid's hash chain, then the pid-0
 * chain) before it invokes any, and the order it then runs them in is its pending queue's:
 * deduplicating between several libev watchers would rest on that order.  With one libev
 * watcher the choice is ours and there is one receiver per status: the oldest wait for
 * exactly that pid (the others for it are told it was reaped: ECHILD, as the kernel's
 * losers), else the oldest wait for any child, else the status is kept until a
 * green_waitpid takes it.
 *
 * At most KEPT_MAX statuses are kept; past that the oldest is dropped (a program that never
 * waits for its children loses the oldest statuses, not memory), and one that cannot be
 * kept for want of memory is dropped too.  Shutting the hub down drops what is kept.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "child.h"

#define KEPT_MAX 1024u

struct kept {
    pid_t pid;
    int status;
};

struct green_children {
    ev_child all;
    struct green_link_list watches; /* oldest first */
    unsigned nwatches;              /* the catch-all holds an ev_ref while > 0 */
    struct kept *kept;              /* oldest first */
    unsigned nkept, cap;
};

static void keep(struct green_children *c, pid_t pid, int status)
{
    for (unsigned i = 0; i < c->nkept; i++) {
        if (c->kept[i].pid == pid) { /* a pid reused: that old status is of no child now */
            c->kept[i].status = status;
            return;
        }
    }
    if (c->nkept == KEPT_MAX) {
        memmove(c->kept, c->kept + 1, (c->nkept - 1) * sizeof *c->kept);
        c->nkept--;
    } else if (c->nkept == c->cap) {
        unsigned cap = c->cap ? 2 * c->cap : 8;
        struct kept *k = realloc(c->kept, cap * sizeof *k);
        if (!k)
            return;
        c->kept = k;
        c->cap = cap;
    }
    c->kept[c->nkept++] = (struct kept){pid, status};
}

static struct green_child_watch *watch_of(struct green_link *l)
{
    return (struct green_child_watch *)((char *)l - offsetof(struct green_child_watch, link));
}

static void unlink_watch(struct green_hub_part *h, struct green_child_watch *w)
{
    link_remove(&w->link);
    if (--h->children->nwatches == 0)
        ev_unref(h->loop);
}

static struct green_child_watch *first_for(struct green_children *c, pid_t pid)
{
    for (struct green_link *l = c->watches.head; l; l = l->next)
        if (watch_of(l)->pid == pid)
            return watch_of(l);
    return NULL;
}

static void on_reaped(struct ev_loop *loop, ev_child *all, int revents)
{
    (void)loop, (void)revents;
    struct green_hub_part *h = all->data;
    struct green_children *c = h->children;
    pid_t pid = all->rpid;
    int status = all->rstatus;
    struct green_child_watch *w = first_for(c, pid);
    if (!w)
        w = first_for(c, -1);
    if (!w) {
        keep(c, pid, status);
        return;
    }
    /* Mark the other waits for pid before any callback runs: a callback may free one
     * (unregistering it) or, the pid being free again, register a new child's. */
    for (struct green_link *l = c->watches.head; l; l = l->next) {
        struct green_child_watch *o = watch_of(l);
        o->doomed = o != w && o->pid == pid;
    }
    unlink_watch(h, w);
    w->ended(w, pid, status, false);
    /* The greenlet resumed may have shut the hub down, children part and all. */
    while ((c = h->children)) {
        struct green_link *l = c->watches.head;
        while (l && !watch_of(l)->doomed)
            l = l->next;
        if (!l)
            break;
        struct green_child_watch *o = watch_of(l);
        unlink_watch(h, o);
        o->ended(o, pid, 0, true);
    }
}

int green__children_start(struct green_hub_part *h)
{
    struct green_children *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    ev_child_init(&c->all, on_reaped, 0, 0);
    c->all.data = h;
    ev_child_start(h->loop, &c->all);
    ev_unref(h->loop);
    h->children = c;
    return 0;
}

void green__children_stop(struct green_hub_part *h)
{
    struct green_children *c = h->children;
    if (!c)
        return;
    GREEN_ASSERT(link_list_empty(&c->watches)); /* every wait and process watch has ended */
    ev_ref(h->loop);                            /* balance the unref of start */
    ev_child_stop(h->loop, &c->all);
    free(c->kept);
    free(c);
    h->children = NULL;
}

void green__children_atfork_child(struct green_hub_part *h)
{
    if (h->children)
        h->children->nkept = 0;
}

void green__child_watch(struct green_hub_part *h, struct green_child_watch *w)
{
    struct green_children *c = h->children;
    link_append(&c->watches, &w->link);
    w->doomed = false;
    if (c->nwatches++ == 0)
        ev_ref(h->loop); /* a waiting greenlet or a watched process keeps the loop alive */
}

void green__child_unwatch(struct green_hub_part *h, struct green_child_watch *w)
{
    if (w->link.list)
        unlink_watch(h, w);
}

bool green__child_watched(const struct green_hub_part *h, pid_t pid)
{
    return first_for(h->children, pid) != NULL;
}

pid_t green__child_take(struct green_hub_part *h, pid_t pid, int *status)
{
    struct green_children *c = h->children;
    for (unsigned i = 0; i < c->nkept; i++) {
        if (pid != -1 && c->kept[i].pid != pid)
            continue;
        struct kept k = c->kept[i];
        memmove(c->kept + i, c->kept + i + 1, (c->nkept - i - 1) * sizeof *c->kept);
        c->nkept--;
        if (pid != -1) {
            /* A child of that pid exists again: the pid was reused after libev reaped the
             * one kept, whose status no waitpid(pid) can mean now. */
            siginfo_t si;
            if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
                return 0;
        }
        if (status)
            *status = k.status;
        return k.pid;
    }
    return 0;
}
