/* SPDX-License-Identifier: MIT */
/* Shared-stack greenlets: cheap to keep suspended, with one rule.
 *
 * A suspended shared-stack greenlet's stack may be copied to the heap while another
 * greenlet runs at the same addresses.  So a pointer into a suspended shared greenlet's
 * stack (the address of one of its locals) is only valid while that greenlet runs.
 *
 *     WRONG:  char line[64];  green_switch(consumer, line, NULL);
 *             -- the consumer reads `line` through a pointer into *our* stack, which by
 *                then may hold the consumer's own frames.
 *     RIGHT:  hand over heap memory (or a value), as below.
 *
 * This program starts 100000 shared-stack producers, each suspended with live locals, and
 * collects one heap-allocated message from each.
 */
#include <green.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRODUCERS 100000

static void *producer(void *arg)
{
    long n = (long)(intptr_t)arg;
    char scratch[48]; /* a local: fine to use while we run */
    snprintf(scratch, sizeof scratch, "message %ld", n);
    char *msg = strdup(scratch); /* what we hand over lives in the heap */
    green_switch(green_parent(green_current()), msg, NULL);
    /* resumed: our own locals are back, even if another greenlet used these addresses */
    if (strncmp(scratch, "message ", 8) != 0)
        abort();
    return NULL;
}

int main(void)
{
    green_attr_t attr = GREEN_ATTR_INIT;
    attr.stack_model = GREEN_STACK_SHARED;
    static green_t *g[PRODUCERS];
    size_t total = 0;
    for (long i = 0; i < PRODUCERS; i++) {
        g[i] = green_new(producer, NULL, &attr);
        void *msg;
        if (!g[i] || green_switch(g[i], (void *)(intptr_t)i, &msg) != 0) {
            perror("libgreen");
            return 1;
        }
        total += strlen(msg);
        free(msg);
    }
    printf("%d producers suspended, %zu bytes of messages collected\n", PRODUCERS, total);
    for (long i = 0; i < PRODUCERS; i++) {
        green_switch(g[i], NULL, NULL); /* let each check its stack and finish */
        green_destroy(g[i]);
    }
    printf("all finished with their stacks intact\n");
    return 0;
}
