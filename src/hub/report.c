/* SPDX-License-Identifier: MIT */
/* Reporting greenlets that died of an error nobody was waiting for: gevent's
 * Hub.handle_error / print_exception, reduced to C's one line.
 *
 * gevent prints every failed greenlet's traceback; libgreen reports only the deaths nobody
 * joined or linked, since a C caller that joins gets the code back and handles it there.
 * The handler is per hub (per thread) because it runs in that hub.
 */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "hub.h"

void green__report_unjoined(struct green_hub_part *h, struct green_task *t, int err, void *value)
{
    if (h->error_handler) {
        h->error_handler(t->g, err, value, h->error_arg);
        return;
    }
    char who[GREEN_DESCRIBE_MAX];
    fprintf(stderr, "libgreen: greenlet %s died with error %d (%s) and nobody joined it\n",
            green__describe(t->g, who, sizeof who), err, strerror(err));
}

GREEN_API int green_hub_set_error_handler(green_error_handler_fn fn, void *arg)
{
    struct green_hub_part *h = green__hub_get("green_hub_set_error_handler");
    if (!h)
        return -1;
    h->error_handler = fn;
    h->error_arg = fn ? arg : NULL;
    return 0;
}
