/* SPDX-License-Identifier: MIT */
/* greenlet's two-greenlet example, the one the design notes this project grew from start
 * with (the blog post on coroutines that walks through test1/test2), in C.
 *
 *   def test1():            def test2():
 *       print 12                print 56
 *       gr2.switch()            gr1.switch()
 *       print 34                print 78
 *
 *   gr1 = greenlet(test1); gr2 = greenlet(test2); gr1.switch()
 *
 * prints 12, 56, 34 — test1 finishes, so control returns to its parent (main), and 78 is
 * printed only because main switches to gr2 once more.
 */
#include <green.h>
#include <stdio.h>
#include <stdlib.h>

static green_t *gr1, *gr2;

static void *test1(void *arg)
{
    (void)arg;
    printf("12\n");
    green_switch(gr2, NULL, NULL);
    printf("34\n");
    return NULL;
}

static void *test2(void *arg)
{
    (void)arg;
    printf("56\n");
    green_switch(gr1, NULL, NULL);
    printf("78\n");
    return NULL;
}

int main(void)
{
    gr1 = green_new(test1, NULL, NULL);
    gr2 = green_new(test2, NULL, NULL);
    if (!gr1 || !gr2) {
        perror("green_new");
        return 1;
    }
    green_switch(gr1, NULL, NULL); /* 12 56 34: then test1 returns to main */
    green_switch(gr2, NULL, NULL); /* 78 */
    green_destroy(gr1);
    green_destroy(gr2);
    return 0;
}
