/* SPDX-License-Identifier: MIT */
/* The run-info dump: gevent.util.format_run_info's greenlet list, one line per greenlet.
 *
 * What a parked greenlet waits for is recorded by green__hub_block itself (the public
 * call's name and the token it waits for), so no blocking call had to change.  A token
 * that is a greenlet of this hub is shown by id; one that is the task's own sleep timer
 * or wake-up is not shown; anything else by address.
 */
#include <errno.h>
#include <stdio.h>

#include "core/error.h"
#include "core/thread.h"
#include "hub.h"

static const char *name_of(const struct green *g)
{
    if (g->name)
        return g->name;
    return g->flags & GF_MAIN ? "main" : NULL;
}

static const struct green_task *task_with_greenlet(const struct green_hub_part *h,
                                                   const void *token)
{
    for (const struct green_task *t = h->live; t; t = t->next_live)
        if (t->g == token)
            return t;
    return NULL;
}

static void print_state(FILE *out, const struct green_hub_part *h, const struct green *g,
                        const struct green_task *t)
{
    if (g == h->ts->core.current) {
        fputs("running", out);
    } else if (g == h->hub) {
        fputs("loop", out);
    } else if (t && t->phase == TASK_QUEUED) {
        fputs("queued", out);
    } else if (t && t->phase == TASK_DEAD) {
        fputs("dead", out);
    } else if (!t || !t->blocked_in) {
        fputs("suspended", out);
    } else {
        fprintf(out, "blocked in %s", t->blocked_in);
        const void *on = t->blocked_on;
        const struct green_task *target = task_with_greenlet(h, on);
        if (target)
            fprintf(out, " on greenlet %llu", (unsigned long long)target->g->id);
        else if (on && on != &t->wake && on != &t->sleep_timer)
            fprintf(out, " on %p", on);
    }
}

static void print_line(FILE *out, const struct green_hub_part *h, const struct green *g,
                       const struct green_task *t)
{
    const char *name = name_of(g);
    fprintf(out, "greenlet %llu ", (unsigned long long)g->id);
    if (name)
        fprintf(out, "'%s'", name);
    else
        fputs("-", out);
    fprintf(out, " parent %llu ", (unsigned long long)(g->parent ? g->parent->id : 0));
    print_state(out, h, g, t);
    fputc('\n', out);
}

GREEN_API int green_hub_dump(FILE *out)
{
    if (!out)
        return green__fail(EINVAL, "green_hub_dump", "out is NULL");
    struct green_hub_part *h = green__hub_peek();
    if (!h)
        return 0;
    print_line(out, h, h->main_task.g, &h->main_task);
    print_line(out, h, h->hub, NULL);
    for (const struct green_task *t = h->live; t; t = t->next_live)
        print_line(out, h, t->g, t);
    if (fflush(out) != 0 || ferror(out))
        return green__fail(EIO, "green_hub_dump", "writing the run info failed");
    return 0;
}
