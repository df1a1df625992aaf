/* SPDX-License-Identifier: MIT */
/* The run-info dump: every greenlet of the hub with id, name, parent and state, and what a
 * blocked one waits on (an object, a greenlet, a sleep), seen from main and from a
 * greenlet. */
#include "hubtest.h"

static green_event_t *E;
static green_t *W1;
static char *dumped;

static void *wait_event(void *arg)
{
    (void)arg;
    CHECK_EQ(green_event_wait(E, GREEN_FOREVER), 0);
    return NULL;
}

static void *join_w1(void *arg)
{
    (void)arg;
    CHECK_EQ(green_join(W1, GREEN_FOREVER, NULL), 0);
    return NULL;
}

static void *sleep_long(void *arg)
{
    (void)arg;
    CHECK_EQ(green_sleep(100), -1);
    CHECK_EQ(errno, ECANCELED);
    return NULL;
}

static void *nothing(void *arg) { return arg; }

static char *dump(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f || green_hub_dump(f) != 0)
        note_failure(__LINE__, "green_hub_dump: %s", green_last_error());
    if (f)
        fclose(f);
    return text;
}

static void *dump_from_greenlet(void *arg)
{
    (void)arg;
    dumped = dump();
    return NULL;
}

static unsigned long long id(green_t *g) { return (unsigned long long)green_id(g); }

static void test_dump_states(void **state)
{
    (void)state;
    E = green_event_new();
    green_t *d = SPAWN_NAMED(nothing, NULL, "done");
    W1 = SPAWN_NAMED(wait_event, NULL, "waiter");
    green_t *w2 = SPAWN_NAMED(join_w1, NULL, "joiner");
    green_t *w3 = SPAWN_NAMED(sleep_long, NULL, NULL);
    assert_int_equal(green_sleep(0), 0);
    green_t *q = SPAWN_NAMED(nothing, NULL, "queued");
    char *text = dump();
    unsigned long long hub = id(green_hub()), main_id = id(green_main());
    char expected[1024];
    snprintf(expected, sizeof expected,
             "greenlet %llu 'main' parent 0 running\n"
             "greenlet %llu 'hub' parent %llu loop\n"
             "greenlet %llu 'queued' parent %llu queued\n"
             "greenlet %llu - parent %llu blocked in green_sleep\n"
             "greenlet %llu 'joiner' parent %llu blocked in green_join on greenlet %llu\n"
             "greenlet %llu 'waiter' parent %llu blocked in green_event_wait on %p\n"
             "greenlet %llu 'done' parent %llu dead\n",
             main_id, hub, main_id, id(q), hub, id(w3), hub, id(w2), hub, id(W1), id(W1), hub,
             (void *)E, id(d), hub);
    assert_non_null(text);
    assert_string_equal(text, expected);
    free(text);

    /* From a greenlet: it is the one running; main waits in green_join for it. */
    green_t *from = SPAWN_NAMED(dump_from_greenlet, NULL, "dumper");
    assert_int_equal(green_join(from, GREEN_FOREVER, NULL), 0);
    assert_non_null(dumped);
    char line[128];
    snprintf(line, sizeof line, "greenlet %llu 'main' parent 0 blocked in green_join on greenlet %llu\n",
             main_id, id(from));
    assert_non_null(strstr(dumped, line));
    snprintf(line, sizeof line, "greenlet %llu 'dumper' parent %llu running\n", id(from), hub);
    assert_non_null(strstr(dumped, line));
    snprintf(line, sizeof line, "greenlet %llu 'queued' parent %llu dead\n", id(q), hub);
    assert_non_null(strstr(dumped, line));
    free(dumped);

    assert_int_equal(green_hub_dump(NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(green_event_set(E), 0);
    assert_int_equal(green_join(w2, GREEN_FOREVER, NULL), 0);
    green_t *all[] = {d, W1, w2, w3, q, from};
    for (int i = 0; i < 6; i++)
        assert_int_equal(green_release(all[i]), 0);
    assert_int_equal(green_event_destroy(E), 0);
    assert_int_equal(green_hub_shutdown(), 0);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_dump_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
