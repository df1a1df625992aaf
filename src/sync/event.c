/* SPDX-License-Identifier: MIT */
/* Event and AsyncResult: gevent.event, on the shared notifier (linkable.h). */
#include <errno.h>
#include <stdlib.h>

#include "core/error.h"
#include "linkable.h"

struct green_event {
    struct green_linkable l; /* first: the ready function gets the event */
    bool flag;
};

static bool event_ready(const struct green_linkable *l)
{
    return ((const struct green_event *)l)->flag;
}

GREEN_API green_event_t *green_event_new(void)
{
    struct green_hub_part *h = green__hub_get("green_event_new");
    if (!h)
        return NULL;
    struct green_event *e = malloc(sizeof *e);
    if (!e) {
        green__fail(ENOMEM, "green_event_new", "out of memory");
        return NULL;
    }
    green__linkable_init(&e->l, h, event_ready, true);
    e->flag = false;
    return e;
}

GREEN_API int green_event_destroy(green_event_t *e)
{
    if (!green__sync_owned_here(e, e ? e->l.h : NULL, "green_event_destroy"))
        return -1;
    if (green__linkable_doomed(&e->l))
        return green__fail(EINVAL, "green_event_destroy", "the event was destroyed already");
    if (!green__linkable_idle(&e->l))
        return green__fail(EBUSY, "green_event_destroy", "greenlets are waiting on the event");
    green__linkable_free(&e->l);
    return 0;
}

/* Each call is its work, inline, behind the owner test, and the same work behind the full
 * owner check (green__sync_owner) in a checked twin out of line, which the call tail-calls
 * when the test fails: the call keeps nothing across a call of its own then, and its frame
 * saves no register (an Event ping-pong spends its time in these three). */

static inline int event_set(green_event_t *e)
{
    e->flag = true;
    green__linkable_check_ready(&e->l);
    return 0;
}

GREEN_COLD static int event_set_checked(green_event_t *e)
{
    if (!green__sync_owner(e, e ? e->l.h : NULL, "green_event_set"))
        return -1;
    return event_set(e);
}

GREEN_API GREEN_HOT_ALIGN int green_event_set(green_event_t *e)
{
    if (green__linkable_mine(e))
        return event_set(e);
    return event_set_checked(e);
}

GREEN_COLD static int event_clear_checked(green_event_t *e)
{
    if (!green__sync_owner(e, e ? e->l.h : NULL, "green_event_clear"))
        return -1;
    e->flag = false;
    return 0;
}

GREEN_API GREEN_HOT_ALIGN int green_event_clear(green_event_t *e)
{
    if (!green__linkable_mine(e))
        return event_clear_checked(e);
    e->flag = false;
    return 0;
}

GREEN_API bool green_event_is_set(const green_event_t *e) { return e && e->flag; }

/* The wait's result: rc is green__linkable_wait's. */
static inline int event_waited(int rc, const char *api)
{
    if (rc == 0)
        return green__fail(ETIMEDOUT, api, "the event was not set in time");
    return rc < 0 ? -1 : 0;
}

GREEN_COLD static int event_wait_checked(green_event_t *e, double timeout)
{
    const char *api = "green_event_wait";
    if (!green__sync_owner(e, e ? e->l.h : NULL, api) || green__timeout_check(timeout, api) < 0)
        return -1;
    return event_waited(green__linkable_wait(&e->l, timeout, api), api);
}

GREEN_API GREEN_HOT_ALIGN int green_event_wait(green_event_t *e, double timeout)
{
    /* Forever, inline (linkable.h: why), without a timer to keep; a timeout (or NaN) out
     * of line. */
    if (!green__linkable_mine(e) || !(timeout < 0))
        return event_wait_checked(e, timeout);
    return green__linkable_wait_forever(&e->l, e->flag, "green_event_wait");
}

/* ---- AsyncResult --------------------------------------------------------------------- */

struct green_result {
    struct green_linkable l;
    bool set;
    int code; /* 0: a value; > 0: an error */
    void *value;
};

static bool result_ready(const struct green_linkable *l)
{
    return ((const struct green_result *)l)->set;
}

GREEN_API green_result_t *green_result_new(void)
{
    struct green_hub_part *h = green__hub_get("green_result_new");
    if (!h)
        return NULL;
    struct green_result *r = calloc(1, sizeof *r);
    if (!r) {
        green__fail(ENOMEM, "green_result_new", "out of memory");
        return NULL;
    }
    green__linkable_init(&r->l, h, result_ready, true);
    return r;
}

GREEN_API int green_result_destroy(green_result_t *r)
{
    if (!green__sync_owned_here(r, r ? r->l.h : NULL, "green_result_destroy"))
        return -1;
    if (green__linkable_doomed(&r->l))
        return green__fail(EINVAL, "green_result_destroy", "the result was destroyed already");
    if (!green__linkable_idle(&r->l))
        return green__fail(EBUSY, "green_result_destroy", "greenlets are waiting on the result");
    green__linkable_free(&r->l);
    return 0;
}

static int result_set(green_result_t *r, int code, void *value, const char *api)
{
    if (!green__sync_owner(r, r ? r->l.h : NULL, api))
        return -1;
    /* gevent's get() returns the value whenever one was ever set, the exception only
     * otherwise: a later error does not replace a value. */
    if (!(code > 0 && r->set && r->code == 0)) {
        r->code = code;
        r->value = value;
    }
    r->set = true;
    green__linkable_check(&r->l);
    return 0;
}

GREEN_API int green_result_set(green_result_t *r, void *value)
{
    return result_set(r, 0, value, "green_result_set");
}

GREEN_API int green_result_set_error(green_result_t *r, int code, void *payload)
{
    if (code <= 0)
        return green__fail(EINVAL, "green_result_set_error", "the code must be > 0 (got %d)", code);
    return result_set(r, code, payload, "green_result_set_error");
}

static int result_deliver(const green_result_t *r, void **value)
{
    if (value)
        *value = r->value;
    return r->code;
}

GREEN_API int green_result_try_get(green_result_t *r, void **value)
{
    if (!green__sync_owner(r, r ? r->l.h : NULL, "green_result_try_get"))
        return -1;
    if (!r->set)
        return green__fail(EAGAIN, "green_result_try_get", "the result is not set");
    return result_deliver(r, value);
}

GREEN_API int green_result_get(green_result_t *r, double timeout, void **value)
{
    const char *api = "green_result_get";
    if (!green__sync_owner(r, r ? r->l.h : NULL, api))
        return -1;
    if (r->set)
        return result_deliver(r, value);
    if (green__timeout_check(timeout, api) < 0)
        return -1;
    int rc = green__linkable_wait_core(&r->l, timeout, api);
    if (rc == 0)
        return green__fail(ETIMEDOUT, api, "the result was not set in time");
    if (rc < 0)
        return -1;
    return result_deliver(r, value);
}

GREEN_API bool green_result_ready(const green_result_t *r) { return r && r->set; }
