/* SPDX-License-Identifier: MIT */
/* Intrusive FIFO lists of links: who is waiting on an object, in the order they came.
 *
 * A link is embedded in its owner (a waiting greenlet's task, a callback record), so
 * linking costs no allocation and a link is in at most one list at a time.  Links must
 * never live on a greenlet's stack: the hub walks the lists while their greenlets are
 * suspended, and a shared-stack greenlet's stack may be somewhere else then.
 */
#ifndef GREEN_HUB_LINKS_H
#define GREEN_HUB_LINKS_H

#include <stdbool.h>
#include <stddef.h>

struct green_hub_part;
struct green_link_list;

struct green_link {
    struct green_link *prev, *next;
    struct green_link_list *list; /* the list it is in, or NULL */
    /* Called in the hub when the object is ready; obj is the object. */
    void (*notify)(struct green_hub_part *h, struct green_link *l, void *obj);
};

struct green_link_list {
    struct green_link *head, *tail;
};

static inline bool link_list_empty(const struct green_link_list *list) { return !list->head; }

static inline void link_append(struct green_link_list *list, struct green_link *l)
{
    l->list = list;
    l->next = NULL;
    l->prev = list->tail;
    if (list->tail)
        list->tail->next = l;
    else
        list->head = l;
    list->tail = l;
}

/* Take l out of whatever list it is in (no-op if none). */
static inline void link_remove(struct green_link *l)
{
    struct green_link_list *list = l->list;
    if (!list)
        return;
    if (l->prev)
        l->prev->next = l->next;
    else
        list->head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        list->tail = l->prev;
    l->prev = l->next = NULL;
    l->list = NULL;
}

static inline struct green_link *link_pop_front(struct green_link_list *list)
{
    struct green_link *l = list->head;
    if (l)
        link_remove(l);
    return l;
}

/* link_pop_front of list's only link, known to be there. */
static inline struct green_link *link_pop_only(struct green_link_list *list)
{
    struct green_link *l = list->head;
    list->head = list->tail = NULL;
    l->list = NULL; /* its prev and next are NULL already */
    return l;
}

/* Move every link of from to the tail of to, in order. */
static inline void link_splice(struct green_link_list *to, struct green_link_list *from)
{
    struct green_link *l;
    while ((l = link_pop_front(from)))
        link_append(to, l);
}

#endif /* GREEN_HUB_LINKS_H */
