/* SPDX-License-Identifier: MIT */
/* The user's loop hooks: idle, prepare, check and cleanup.
 *
 * One libev watcher per kind and hub runs that kind's hooks from a list, in the order they
 * were added: libev itself invokes the watchers of one kind newest first, and reorders them
 * when one stops, which would make the order depend on the history of removals.  A cursor
 * lets a hook remove itself, or any other hook, while the list runs.  The watcher of a
 * kind runs only while the kind has hooks.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/thread.h"
#include "watch.h"

#define KINDS 4

struct green_hook {
    struct green_hook *prev, *next;
    struct green_hub_part *h;
    enum green_hook_kind kind;
    green_hook_fn fn;
    void *arg;
};

struct green_hooks {
    struct green_owned owned; /* first: the term gets it */
    ev_idle idle;
    ev_prepare prepare;
    ev_check check;
    ev_cleanup cleanup;
    struct green_hook *head[KINDS], *tail[KINDS];
    struct green_hook *cursor[KINDS]; /* the next hook to run, while a kind runs */
};

static ev_watcher *watcher_of(struct green_hooks *hs, enum green_hook_kind kind)
{
    switch (kind) {
    case GREEN_HOOK_IDLE:
        return (ev_watcher *)&hs->idle;
    case GREEN_HOOK_PREPARE:
        return (ev_watcher *)&hs->prepare;
    case GREEN_HOOK_CHECK:
        return (ev_watcher *)&hs->check;
    default:
        return (ev_watcher *)&hs->cleanup;
    }
}

static void start_kind(struct green_hub_part *h, struct green_hooks *hs, enum green_hook_kind kind)
{
    switch (kind) {
    case GREEN_HOOK_IDLE:
        ev_idle_start(h->loop, &hs->idle); /* keeps the hub alive, by design */
        break;
    case GREEN_HOOK_PREPARE:
        ev_prepare_start(h->loop, &hs->prepare);
        ev_unref(h->loop);
        break;
    case GREEN_HOOK_CHECK:
        ev_check_start(h->loop, &hs->check);
        ev_unref(h->loop);
        break;
    case GREEN_HOOK_CLEANUP:
        ev_cleanup_start(h->loop, &hs->cleanup); /* never keeps the loop alive (libev) */
        break;
    }
}

static void stop_kind(struct green_hub_part *h, struct green_hooks *hs, enum green_hook_kind kind)
{
    switch (kind) {
    case GREEN_HOOK_IDLE:
        ev_idle_stop(h->loop, &hs->idle);
        break;
    case GREEN_HOOK_PREPARE:
        ev_ref(h->loop);
        ev_prepare_stop(h->loop, &hs->prepare);
        break;
    case GREEN_HOOK_CHECK:
        ev_ref(h->loop);
        ev_check_stop(h->loop, &hs->check);
        break;
    case GREEN_HOOK_CLEANUP:
        ev_cleanup_stop(h->loop, &hs->cleanup);
        break;
    }
}

/* Run the hooks of one kind in list order; cleanup hooks newest first. */
static void run_kind(struct green_hooks *hs, enum green_hook_kind kind)
{
    bool reverse = kind == GREEN_HOOK_CLEANUP;
    hs->cursor[kind] = reverse ? hs->tail[kind] : hs->head[kind];
    while (hs->cursor[kind]) {
        struct green_hook *hk = hs->cursor[kind];
        hs->cursor[kind] = reverse ? hk->prev : hk->next;
        hk->fn(hk->arg);
    }
}

static void on_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop, (void)revents;
    run_kind(w->data, GREEN_HOOK_IDLE);
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop, (void)revents;
    run_kind(w->data, GREEN_HOOK_PREPARE);
}

static void on_check(struct ev_loop *loop, ev_check *w, int revents)
{
    (void)loop, (void)revents;
    run_kind(w->data, GREEN_HOOK_CHECK);
}

static void on_cleanup(struct ev_loop *loop, ev_cleanup *w, int revents)
{
    (void)loop, (void)revents;
    run_kind(w->data, GREEN_HOOK_CLEANUP);
}

static void unlink_hook(struct green_hooks *hs, struct green_hook *hk)
{
    enum green_hook_kind k = hk->kind;
    if (hs->cursor[k] == hk)
        hs->cursor[k] = k == GREEN_HOOK_CLEANUP ? hk->prev : hk->next;
    if (hk->prev)
        hk->prev->next = hk->next;
    else
        hs->head[k] = hk->next;
    if (hk->next)
        hk->next->prev = hk->prev;
    else
        hs->tail[k] = hk->prev;
    if (!hs->head[k])
        stop_kind(hk->h, hs, k);
}

static void hooks_term(struct green_hub_part *h, struct green_owned *o)
{
    struct green_hooks *hs = (struct green_hooks *)o;
    for (int k = 0; k < KINDS; k++)
        while (hs->head[k]) {
            struct green_hook *hk = hs->head[k];
            unlink_hook(hs, hk);
            free(hk);
        }
    green__owned_remove(h, o);
    h->watch->hooks = NULL;
    free(hs);
}

void green__hooks_run_cleanups(struct green_hub_part *h)
{
    struct green_hooks *hs = h->watch->hooks;
    if (hs && hs->head[GREEN_HOOK_CLEANUP])
        ev_invoke(h->loop, &hs->cleanup, EV_CLEANUP); /* before the loop and objects go */
}

static struct green_hooks *hooks_get(struct green_hub_part *h, const char *api)
{
    struct green_watch_part *w = green__watch_get(h, api);
    if (!w)
        return NULL;
    if (w->hooks)
        return w->hooks;
    struct green_hooks *hs = calloc(1, sizeof *hs);
    if (!hs) {
        green__fail(ENOMEM, api, "no memory for the hooks");
        return NULL;
    }
    /* Priorities: watch.h says which and why. */
    ev_idle_init(&hs->idle, on_idle);
    ev_set_priority(&hs->idle, EV_MINPRI);
    ev_prepare_init(&hs->prepare, on_prepare);
    ev_set_priority(&hs->prepare, 1);
    ev_check_init(&hs->check, on_check);
    ev_set_priority(&hs->check, EV_MINPRI);
    ev_cleanup_init(&hs->cleanup, on_cleanup);
    for (enum green_hook_kind k = 0; k < KINDS; k++)
        watcher_of(hs, k)->data = hs;
    green__owned_add(h, &hs->owned, hooks_term);
    w->hooks = hs;
    return hs;
}

GREEN_API green_hook_t *green_hook_add(enum green_hook_kind kind, green_hook_fn fn, void *arg)
{
    const char *api = "green_hook_add";
    if (!fn || (unsigned)kind >= KINDS) {
        if (fn)
            green__fail(EINVAL, api, "unknown hook kind %d", (int)kind);
        else
            green__fail(EINVAL, api, "fn is NULL");
        return NULL;
    }
    struct green_hub_part *h = green__hub_get(api);
    struct green_hooks *hs = h ? hooks_get(h, api) : NULL;
    if (!hs)
        return NULL;
    struct green_hook *hk = malloc(sizeof *hk);
    if (!hk) {
        green__fail(ENOMEM, api, "no memory for the hook");
        return NULL;
    }
    hk->h = h;
    hk->kind = kind;
    hk->fn = fn;
    hk->arg = arg;
    hk->next = NULL;
    hk->prev = hs->tail[kind];
    if (hk->prev)
        hk->prev->next = hk;
    else
        hs->head[kind] = hk;
    hs->tail[kind] = hk;
    if (!hk->prev)
        start_kind(h, hs, kind);
    return hk;
}

GREEN_API int green_hook_remove(green_hook_t *hk)
{
    struct green_hub_part *h = green__watch_owner(hk, hk ? hk->h : NULL, "green_hook_remove");
    if (!h)
        return -1;
    unlink_hook(h->watch->hooks, hk);
    free(hk);
    return 0;
}
