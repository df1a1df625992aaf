/* SPDX-License-Identifier: MIT */
/* A generator built on switch, greenlet's classic demo: the consumer switches into the
 * generator, which switches each value back to its parent; returning ends the sequence.
 *
 * Both stack models work; a shared-stack generator costs only the few hundred bytes of
 * stack it uses while suspended.  Usage: generator [shared]
 */
#include <green.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct range {
    long from, to;
};

/* Yield a value to whoever consumes this generator (its parent). */
static void yield(long v)
{
    green_switch(green_parent(green_current()), (void *)(intptr_t)v, NULL);
}

static void *countdown(void *arg)
{
    const struct range *r = arg;
    for (long i = r->from; i > r->to; i--)
        yield(i);
    return NULL; /* finishing: the consumer's switch returns NULL */
}

int main(int argc, char **argv)
{
    green_attr_t attr = GREEN_ATTR_INIT;
    attr.name = "countdown";
    if (argc > 1 && strcmp(argv[1], "shared") == 0)
        attr.stack_model = GREEN_STACK_SHARED;

    static const struct range r = {10, 0};
    green_t *gen = green_new(countdown, NULL, &attr);
    void *v;
    /* The first switch starts the generator: its argument is the range. */
    for (int rc = green_switch(gen, (void *)&r, &v); rc == 0 && !green_dead(gen);
         rc = green_switch(gen, NULL, &v))
        printf("%ld ", (long)(intptr_t)v);
    printf("liftoff\n");
    green_destroy(gen);
    return 0;
}
