/* SPDX-License-Identifier: MIT */
/* Producers and consumers on a bounded queue (gevent.queue.Queue(maxsize=2)).
 *
 * Two producers put three items each; a full queue parks a producer until a consumer
 * makes room.  Two consumers take items until each gets a stop marker, yielding
 * (green_sleep(0)) after every item as if it had work to do.  Nothing here depends on
 * time: the hub's order rules make the interleaving the same on every run, and the
 * same as gevent's for the same program in Python.
 *
 * Usage: producer_consumer
 */
#include <green.h>
#include <stdio.h>
#include <string.h>

#define ITEMS 3

static green_queue_t *queue;

/* The stop marker a consumer ends on: no producer puts it. */
static char stop;

struct producer {
    const char *name;
    char items[ITEMS][8];
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int i = 0; i < ITEMS; i++) {
        snprintf(p->items[i], sizeof p->items[i], "%s%d", p->name, i + 1);
        printf("%s puts %s\n", p->name, p->items[i]);
        if (green_queue_put(queue, p->items[i], GREEN_FOREVER) != 0) {
            perror("green_queue_put");
            return NULL;
        }
    }
    printf("%s done\n", p->name);
    return NULL;
}

static void *consume(void *arg)
{
    const char *name = arg;
    for (;;) {
        void *item;
        if (green_queue_get(queue, GREEN_FOREVER, &item) != 0) {
            perror("green_queue_get");
            return NULL;
        }
        if (item == &stop) {
            printf("%s stops\n", name);
            return NULL;
        }
        printf("%s got %s\n", name, (const char *)item);
        green_sleep(0); /* the work an item takes: let the others run */
    }
}

/* Join each greenlet, then give its handle up. */
static int join_all(green_t **g, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (green_join(g[i], GREEN_FOREVER, NULL) != 0)
            rc = -1;
        green_release(g[i]);
    }
    return rc;
}

int main(void)
{
    /* Producers' items live here, not on their stacks: the queue hands out pointers. */
    static struct producer producers[] = {{.name = "A"}, {.name = "B"}};
    static const char *consumers[] = {"x", "y"};
    green_t *p[2], *c[2];

    queue = green_queue_new(2);
    if (!queue)
        return 1;
    for (int i = 0; i < 2; i++)
        p[i] = green_spawn(produce, &producers[i], NULL);
    for (int i = 0; i < 2; i++)
        c[i] = green_spawn(consume, (void *)consumers[i], NULL);
    if (!p[0] || !p[1] || !c[0] || !c[1]) {
        perror("green_spawn");
        return 1;
    }
    if (join_all(p, 2) != 0)
        return 1;
    printf("producers done\n");
    for (int i = 0; i < 2; i++)
        if (green_queue_put(queue, &stop, GREEN_FOREVER) != 0)
            return 1;
    if (join_all(c, 2) != 0)
        return 1;
    printf("consumers done\n");
    return green_queue_destroy(queue) == 0 && green_hub_shutdown() == 0 ? 0 : 1;
}
