/* SPDX-License-Identifier: MIT */
/* join, kill, release, ready/successful (hub.h), in gevent's orders (gevent-semantics.md
 * J1, K1-K5), and C's one difference: a killed greenlet's later blocking calls fail at once
 * with ECANCELED (gevent lets a `finally` block again). */
#include <math.h>

#include "hubtest.h"

static green_event_t *ev;

static void *ret42(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)42;
}

static int payload;

static void *die77(void *arg)
{
    (void)arg;
    green_exit(77, &payload);
    return NULL;
}

static void *wait_ev(void *arg)
{
    int rc = green_event_wait(ev, GREEN_FOREVER);
    int e = errno;
    say("%s wait %d %s", (const char *)arg, rc, rc ? strerror(e) : "ok");
    return arg;
}

static int fixture_event(void **state)
{
    ev = green_event_new();
    return ev ? hub_setup(state) : -1;
}

/* Objects must go before their hub (afterwards they belong to no thread's hub). */
static int fixture_event_down(void **state)
{
    int rc = green_event_destroy(ev);
    if (rc != 0)
        print_error("green_event_destroy: %s\n", green_last_error());
    ev = NULL;
    return hub_teardown(state) || rc;
}

#define EV_TEST(t) cmocka_unit_test_setup_teardown(t, fixture_event, fixture_event_down)

static void test_join_value_error(void **state)
{
    (void)state;
    green_t *v = SPAWN(ret42, NULL), *e = SPAWN(die77, NULL);
    void *r = NULL;
    assert_false(green_ready(v));
    assert_int_equal(green_join(e, GREEN_FOREVER, &r), 77); /* linked before e dies */
    assert_true(green_ready(v));
    assert_int_equal(green_join(v, GREEN_FOREVER, &r), 0);
    assert_int_equal((intptr_t)r, 42);
    assert_true(green_successful(v));
    assert_int_equal(green_join(e, GREEN_FOREVER, &r), 77);
    assert_ptr_equal(r, &payload);
    assert_true(green_ready(e));
    assert_false(green_successful(e));
    assert_int_equal(green_join(e, 0, NULL), 77); /* again: at once */
    assert_int_equal(green_release(v), 0);
    assert_int_equal(green_release(e), 0);
    assert_no_failures();
}

static void *sleep0_twice(void *arg)
{
    CHECK_EQ(green_sleep(0), 0);
    CHECK_EQ(green_sleep(0), 0);
    return arg;
}

/* gevent: join(timeout=0) waits for what finishes before the queue drains (dead=True
 * value=5, dead=True value=6), not for what comes later (gevent's snippet used a 10 ms
 * sleep, dead=False; an event set afterwards keeps this independent of the machine). */
static void test_join_timeout_zero(void **state)
{
    (void)state;
    green_t *g[3] = {SPAWN(ret42, NULL), SPAWN(sleep0_twice, (void *)6), SPAWN(wait_ev, "W")};
    void *v = NULL;
    assert_int_equal(green_join(g[0], 0, &v), 0);
    assert_int_equal((intptr_t)v, 42);
    assert_int_equal(green_join(g[1], 0, &v), 0);
    assert_int_equal((intptr_t)v, 6);
    CHECK_FAILS(green_join(g[2], 0, &v), ETIMEDOUT);
    assert_false(green_ready(g[2]));
    assert_int_equal(green_event_set(ev), 0);
    assert_int_equal(green_join(g[2], GREEN_FOREVER, &v), 0);
    assert_string_equal(v, "W");
    for (int i = 0; i < 3; i++)
        assert_int_equal(green_release(g[i]), 0);
    assert_no_failures();
}

static void *join_self(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_join(green_current(), GREEN_FOREVER, NULL), EDEADLK);
    CHECK_FAILS(green_kill(green_main(), 0), EINVAL); /* main is not spawned */
    say("refused");
    return NULL;
}

static void test_join_timeout(void **state)
{
    (void)state;
    green_t *self = SPAWN(join_self, NULL);
    assert_int_equal(green_join(self, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_release(self), 0);
    order_reset();
    green_t *w = SPAWN(wait_ev, "W");
    CHECK_FAILS(green_join(w, 0.01, NULL), ETIMEDOUT);
    CHECK_FAILS(green_join(w, 0, NULL), ETIMEDOUT);
    assert_false(green_ready(w));
    assert_true(green_state(w) & GREEN_ACTIVE);
    assert_int_equal(green_event_set(ev), 0);
    assert_int_equal(green_join(w, GREEN_FOREVER, NULL), 0);
    assert_order("W wait 0 ok");
    assert_int_equal(green_release(w), 0);
    assert_no_failures();
}

/* ---- gevent J1 ------------------------------------------------------------------------ */

static green_t *jg, *ju;

static void *j1_work(void *arg)
{
    (void)arg;
    say("G runs, sleep(0)");
    CHECK_EQ(green_sleep(0), 0);
    say("G returns");
    return NULL;
}

static void *j1_joiner(void *arg)
{
    CHECK_EQ(green_join(jg, GREEN_FOREVER, NULL), 0);
    say("%s joined", (const char *)arg);
    CHECK_EQ(green_sleep(0), 0);
    say("%s after sleep(0)", (const char *)arg);
    return NULL;
}

static void *j1_join_u(void *arg)
{
    (void)arg;
    void *v = &payload;
    CHECK_EQ(green_join(ju, GREEN_FOREVER, &v), 0);
    say("J: join(U) returned, value=%s", v ? "?" : "NULL");
    return NULL;
}

static void test_join_order(void **state)
{
    (void)state;
    jg = SPAWN(j1_work, NULL);
    green_t *j[2] = {SPAWN(j1_joiner, "J1"), SPAWN(j1_joiner, "J2")};
    assert_int_equal(green_sleep(0), 0);
    green_release(SPAWN(say_arg, "X runs (queued before G dies)"));
    for (int i = 0; i < 2; i++)
        assert_int_equal(green_join(j[i], GREEN_FOREVER, NULL), 0);
    green_release(SPAWN(say_arg, "Z runs"));
    assert_int_equal(green_join(jg, GREEN_FOREVER, NULL), 0);
    say("main join(dead G): no switch, Z not run yet");
    assert_int_equal(green_sleep(0), 0);
    /* C has no unscheduled greenlet: U's start is a far timer (unstarted, as gevent's) */
    ju = green_spawn_later(1000, say_arg, "U runs (never)", NULL);
    green_t *jj = SPAWN(j1_join_u, NULL);
    assert_int_equal(green_sleep(0), 0);
    green_release(SPAWN(say_arg, "X2 runs"));
    assert_int_equal(green_kill(ju, GREEN_FOREVER), 0);
    say("main killed unstarted U: dead=%d", green_ready(ju));
    assert_int_equal(green_sleep(0), 0);
    assert_order("G runs, sleep(0)", "G returns", "X runs (queued before G dies)", "J1 joined",
                 "J2 joined", "J1 after sleep(0)", "J2 after sleep(0)",
                 "main join(dead G): no switch, Z not run yet", "Z runs",
                 "main killed unstarted U: dead=1", "X2 runs", "J: join(U) returned, value=NULL");
    assert_true(green_ready(ju) && green_successful(ju));
    green_t *all[] = {jg, j[0], j[1], jj, ju};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(green_release(all[i]), 0);
    assert_no_failures();
}

/* ---- gevent K1-K4 --------------------------------------------------------------------- */

static green_t *kk;

static void *body_finally(void *arg)
{
    int rc = green_event_wait(ev, GREEN_FOREVER);
    CHECK(rc == -1 && errno == ECANCELED);
    say("%s finally", (const char *)arg);
    return NULL;
}

static void *killer(void *arg)
{
    (void)arg;
    say("killer: kill(K) ...");
    CHECK_EQ(green_kill(kk, GREEN_FOREVER), 0);
    say("killer: kill returned, dead=%d", green_ready(kk));
    return NULL;
}

static void test_kill_order(void **state)
{
    (void)state;
    green_t *u = SPAWN(body_finally, "U");
    assert_int_equal(green_kill(u, GREEN_FOREVER), 0);
    say("kill(unstarted) dead=%d", green_ready(u));
    green_t *b = SPAWN(body_finally, "B");
    assert_int_equal(green_sleep(0), 0);
    green_release(SPAWN(say_arg, "X runs (queued before the kill)"));
    assert_int_equal(green_kill_nowait(b), 0);
    say("kill(B, block=False) dead=%d", green_ready(b));
    assert_int_equal(green_sleep(0), 0);
    kk = SPAWN(body_finally, "K");
    assert_int_equal(green_sleep(0), 0);
    green_t *k = SPAWN(killer, NULL);
    assert_int_equal(green_sleep(0), 0);
    green_release(SPAWN(say_arg, "Y runs (queued after _kill)"));
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_sleep(0), 0);
    green_release(SPAWN(say_arg, "Z runs"));
    assert_int_equal(green_kill(kk, GREEN_FOREVER), 0);
    assert_int_equal(green_kill_nowait(kk), 0);
    say("kill(dead) (no switch: Z not run yet)");
    assert_int_equal(green_sleep(0), 0);
    assert_order("kill(unstarted) dead=1", "kill(B, block=False) dead=0",
                 "X runs (queued before the kill)", "B finally", "killer: kill(K) ...", "K finally",
                 "killer: kill returned, dead=1", "Y runs (queued after _kill)",
                 "kill(dead) (no switch: Z not run yet)", "Z runs");
    green_t *all[] = {u, b, kk, k};
    for (size_t i = 0; i < 4; i++) {
        assert_true(green_ready(all[i]) && green_successful(all[i]));
        assert_int_equal(green_release(all[i]), 0);
    }
    assert_no_failures();
}

/* ---- gevent K3 (a wake-up queued before the kill), K5 (self-kill) ----------------------- */

static green_t *ks;

static void *k_sleeper(void *arg)
{
    (void)arg;
    say("S sleep(0) #1");
    CHECK_EQ(green_sleep(0), 0);
    say("S resumed #1, sleep(0) #2");
    CHECK_FAILS(green_sleep(0), ECANCELED);
    say("S finally");
    CHECK_FAILS(green_sleep(0), ECANCELED); /* at once, from now on */
    CHECK_FAILS(green_event_wait(ev, GREEN_FOREVER), ECANCELED);
    CHECK_FAILS(green_join(green_current(), 1, NULL), ECANCELED);
    return NULL;
}

static void *k2(void *arg)
{
    (void)arg;
    CHECK_EQ(green_kill_nowait(ks), 0);
    say("K2: kill(S, block=False) returned");
    return NULL;
}

static void *selfkill_nowait(void *arg)
{
    (void)arg;
    CHECK_EQ(green_kill_nowait(green_current()), 0);
    say("F killed itself, still running");
    CHECK_FAILS(green_sleep(0), ECANCELED);
    say("F finally");
    return NULL;
}

static void *selfkill_blocking(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_kill(green_current(), GREEN_FOREVER), ECANCELED);
    say("G kill(self) -> ECANCELED");
    return NULL;
}

static void test_kill_queued_wakeup_and_self(void **state)
{
    (void)state;
    ks = SPAWN(k_sleeper, NULL);
    green_t *k = SPAWN(k2, NULL);
    assert_int_equal(green_join(ks, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_join(k, GREEN_FOREVER, NULL), 0);
    green_t *f = SPAWN(selfkill_nowait, NULL);
    assert_int_equal(green_join(f, GREEN_FOREVER, NULL), 0);
    green_t *g = SPAWN(selfkill_blocking, NULL);
    assert_int_equal(green_join(g, GREEN_FOREVER, NULL), 0);
    assert_order("S sleep(0) #1", "K2: kill(S, block=False) returned", "S resumed #1, sleep(0) #2",
                 "S finally", "F killed itself, still running", "F finally",
                 "G kill(self) -> ECANCELED");
    green_t *all[] = {ks, k, f, g};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(green_release(all[i]), 0);
    assert_no_failures();
}

/* gevent's victim blocks again in its finally (sleep(0)); here that sleep fails at once, so
 * the victim dies inside the _kill callback and the killer returns before O runs. */
static green_t *kv;

static void *victim_cleanup(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_event_wait(ev, GREEN_FOREVER), ECANCELED);
    say("V finally: sleep(0)");
    CHECK_FAILS(green_sleep(0), ECANCELED);
    say("V finally done");
    return NULL;
}

static void *killer2(void *arg)
{
    (void)arg;
    CHECK_EQ(green_kill(kv, GREEN_FOREVER), 0);
    say("K kill returned, V dead=%d", green_ready(kv));
    return NULL;
}

static void test_kill_cleanup_cannot_block(void **state)
{
    (void)state;
    kv = SPAWN(victim_cleanup, NULL);
    assert_int_equal(green_sleep(0), 0);
    green_t *k = SPAWN(killer2, NULL);
    assert_int_equal(green_sleep(0), 0);
    green_t *o = SPAWN(say_arg, "O runs (queued after _kill)");
    assert_int_equal(green_join(kv, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_join(k, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_join(o, GREEN_FOREVER, NULL), 0);
    assert_order("V finally: sleep(0)", "V finally done", "K kill returned, V dead=1",
                 "O runs (queued after _kill)");
    assert_int_equal(green_release(kv), 0);
    assert_int_equal(green_release(k), 0);
    assert_int_equal(green_release(o), 0);
    assert_no_failures();
}

/* A victim that ignores the kill: it parks itself with a raw switch to the hub, which no
 * blocking call of the hub would let it do, so green_kill's own timeout expires. */
static void *stubborn(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_event_wait(ev, GREEN_FOREVER), ECANCELED);
    say("V ignores the kill");
    int rc = green_switch(green_hub(), NULL, NULL); /* resumed only by the second kill */
    say("V resumed %s", rc == GREEN_EXIT ? "GREEN_EXIT" : "?");
    return NULL;
}

static void test_kill_timeout(void **state)
{
    (void)state;
    green_t *v = SPAWN(stubborn, NULL);
    assert_int_equal(green_sleep(0), 0);
    CHECK_FAILS(green_kill(v, 0.01), ETIMEDOUT);
    assert_false(green_ready(v));
    assert_true(green_state(v) & GREEN_ACTIVE);
    assert_int_equal(green_kill(v, GREEN_FOREVER), 0);
    assert_true(green_ready(v) && green_successful(v));
    assert_order("V ignores the kill", "V resumed GREEN_EXIT");
    assert_int_equal(green_release(v), 0);
    assert_no_failures();
}

/* A blocking killer killed while it waits for its victim to die fails with ECANCELED. */
static green_t *kv2;

static void *killer_killed(void *arg)
{
    (void)arg;
    CHECK_FAILS(green_kill(kv2, GREEN_FOREVER), ECANCELED);
    say("killer canceled");
    return NULL;
}

static void test_killer_killed(void **state)
{
    (void)state;
    kv2 = SPAWN(stubborn, NULL);
    assert_int_equal(green_sleep(0), 0);
    green_t *k = SPAWN(killer_killed, NULL);
    assert_int_equal(green_sleep(0), 0); /* k's kill ran: v ignored it, k joins v */
    assert_int_equal(green_kill(k, GREEN_FOREVER), 0);
    assert_false(green_ready(kv2));
    assert_int_equal(green_kill(kv2, GREEN_FOREVER), 0);
    assert_order("V ignores the kill", "killer canceled", "V resumed GREEN_EXIT");
    assert_int_equal(green_release(k), 0);
    assert_int_equal(green_release(kv2), 0);
    assert_no_failures();
}

/* Every blocking call of a killed greenlet fails with ECANCELED, its cleanup runs. */
static void *killed_everywhere(void *arg)
{
    green_queue_t *q = arg;
    CHECK_FAILS(green_queue_get(q, GREEN_FOREVER, NULL), ECANCELED);
    green_sem_t *s = green_sem_new(0, false);
    green_lock_t *l = green_lock_new();
    green_result_t *r = green_result_new();
    CHECK_FAILS(green_sem_acquire(s, GREEN_FOREVER), ECANCELED);
    CHECK_EQ(green_lock_acquire(l, GREEN_FOREVER), 0); /* free: no blocking */
    CHECK_FAILS(green_result_get(r, 0, NULL), ECANCELED);
    CHECK_FAILS(green_queue_get(q, 0, NULL), ECANCELED);
    CHECK_FAILS(green_kill(green_current(), 0), ECANCELED);
    CHECK_EQ(green_lock_release(l), 0);
    CHECK_EQ(green_lock_destroy(l), 0);
    CHECK_EQ(green_sem_destroy(s), 0);
    CHECK_EQ(green_result_destroy(r), 0);
    say("cleanup ran");
    return NULL;
}

static void test_killed_calls_fail_at_once(void **state)
{
    (void)state;
    green_queue_t *q = green_queue_new(0);
    green_t *g = SPAWN(killed_everywhere, q);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_kill(g, GREEN_FOREVER), 0);
    assert_order("cleanup ran");
    assert_int_equal(green_queue_size(q), 0);
    assert_int_equal(green_queue_destroy(q), 0);
    assert_int_equal(green_release(g), 0);
    assert_no_failures();
}

/* ---- release ------------------------------------------------------------------------- */

static void test_release(void **state)
{
    (void)state;
    /* before death: freed when it dies (ASAN and valgrind see any leak) */
    green_t *w = SPAWN(wait_ev, "W");
    assert_int_equal(green_release(w), 0);
    CHECK_FAILS(green_join(w, 0, NULL), EINVAL); /* still alive: the handle is refused */
    CHECK_FAILS(green_release(w), EINVAL);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_event_set(ev), 0);
    assert_int_equal(green_sleep(0), 0);
    /* released while unstarted: runs, then is freed */
    assert_int_equal(green_release(SPAWN(say_arg, "U")), 0);
    /* after death */
    green_t *d = SPAWN(say_arg, "D");
    assert_int_equal(green_join(d, GREEN_FOREVER, NULL), 0);
    assert_int_equal(green_release(d), 0);
    CHECK_FAILS(green_release(d), EINVAL); /* not freed yet (its notifier runs main) */
    /* many released unjoined */
    for (int i = 0; i < 100; i++)
        assert_int_equal(green_release(SPAWN(ret42, NULL)), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_order("W wait 0 ok", "U", "D");
    assert_no_failures();
}

static void release_twice_child(void *arg)
{
    (void)arg;
    green_t *d = green_spawn(ret42, NULL, NULL);
    green_join(d, GREEN_FOREVER, NULL);
    green_release(d);
    green_sleep(0);   /* the notifier that woke main ends: d is freed */
    green_release(d); /* aborts naming the call */
}

static void test_release_freed_aborts(void **state)
{
    (void)state;
    assert_child_aborts(release_twice_child, NULL, "green_release");
}

/* ---- an error nobody joins is reported ------------------------------------------------ */

static void unjoined_child(void *arg)
{
    (void)arg;
    green_t *joined = green_spawn(die77, NULL, NULL);
    green_t *lonely = green_spawn(die77, NULL, NULL);
    green_set_name(lonely, "lonely");
    if (green_join(joined, GREEN_FOREVER, NULL) != 77)
        _exit(3);
    green_sleep(0);
    green_release(joined);
    green_release(lonely);
    green_hub_shutdown();
}

static void test_unjoined_error_reported(void **state)
{
    (void)state;
    char err[4096];
    int st = run_in_child(unjoined_child, NULL, err, sizeof err);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_non_null(strstr(err, "'lonely'"));
    assert_non_null(strstr(err, "died with error 77"));
    /* the joined one is not reported: exactly one line */
    assert_null(strchr(strchr(err, '\n') + 1, '\n'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        EV_TEST(test_join_value_error),
        EV_TEST(test_join_timeout),
        EV_TEST(test_join_timeout_zero),
        EV_TEST(test_join_order),
        EV_TEST(test_kill_order),
        EV_TEST(test_kill_queued_wakeup_and_self),
        EV_TEST(test_kill_cleanup_cannot_block),
        EV_TEST(test_kill_timeout),
        EV_TEST(test_killer_killed),
        EV_TEST(test_killed_calls_fail_at_once),
        EV_TEST(test_release),
        cmocka_unit_test(test_release_freed_aborts),
        cmocka_unit_test(test_unjoined_error_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
