/* SPDX-License-Identifier: MIT */
/* The patch library's questions to the hub (patch_hook.h), and green_patch_context().
 * Here, not in src/patch/, because the answers are the hub's private state: who runs, is
 * it the hub, is it a task. */
#include <errno.h>

#include "core/error.h"
#include "green/patch.h"
#include "child.h"
#include "hub.h"
#include "patch_hook.h"

GREEN_API _Thread_local bool green__patch_hub_here __attribute__((tls_model("initial-exec")));

GREEN_API int green__patch_gate(void)
{
    struct green_thread *ts = green__tls;
    if (!ts || !ts->hub)
        return 0;
    struct green_hub_part *h = ts->hub;
    struct green *cur = ts->core.current;
    if (GREEN_UNLIKELY(cur == h->hub || h->shutting_down || ts->core.in_trace))
        return 0;
    struct green_task *t = green__task_of(cur);
    return t && !t->patch_off;
}

GREEN_API pid_t green__patch_child_kept(pid_t pid, int *status)
{
    struct green_hub_part *h = green__hub_peek();
    /* Not to the hub: libev's own waitpid(-1) on SIGCHLD comes through the patched one, and
     * a kept status handed back to it would be kept again, and handed back, forever. */
    if (!h || !h->children || h->ts->core.current == h->hub)
        return 0;
    return green__child_take(h, pid, status);
}

GREEN_API int green_patch_context(int mode)
{
    const char *api = "green_patch_context";
    if (mode != GREEN_PATCH_ON && mode != GREEN_PATCH_OFF && mode != GREEN_PATCH_QUERY)
        return green__fail(EINVAL, api, "mode must be GREEN_PATCH_ON, _OFF or _QUERY (got %d)",
                           mode);
    struct green_hub_part *h = green__hub_peek();
    struct green_task *t = h ? green__hub_self(h, api) : NULL;
    if (!t) {
        if (!h)
            green__fail(EPERM, api, "the calling thread has no hub");
        else if (errno == ECANCELED) /* a killed greenlet may still ask and set */
            t = green__task_of(h->ts->core.current);
        if (!t)
            return -1;
    }
    int was = t->patch_off ? GREEN_PATCH_OFF : GREEN_PATCH_ON;
    if (mode != GREEN_PATCH_QUERY)
        t->patch_off = mode == GREEN_PATCH_OFF;
    return was;
}
