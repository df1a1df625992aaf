/* SPDX-License-Identifier: MIT */
/* hiredis, unmodified, on one thread: 100 greenlets each block in BLPOP (which blocks only
 * its own client) on a redis-server this test starts on a Unix socket in a temporary
 * directory.  Unpatched that is 100 x 0.2 s one after the other; patched the waits
 * overlap.  Then a kill and a scoped timeout interrupt a BLPOP in progress, and the
 * hiredis context reports the error (REDIS_ERR_IO with the errno's text). */
#include <hiredis/hiredis.h>

#include "patch_util.h"
#include "servers.h"

#define N 100

static struct redis_server redis = {.pid = -1};

static int start_redis(void **state)
{
    (void)state;
    char bin[512];
    if (!server_find("redis-server", bin, sizeof bin))
        return 0; /* each test skips, saying why */
    return redis_start(&redis, bin) ? 0 : -1;
}

static int stop_redis(void **state)
{
    (void)state;
    redis_stop(&redis);
    return 0;
}

static void need_server(void)
{
    if (redis.pid < 0) {
        print_message("redis-server is not installed (Debian: redis-server): skipped\n");
        skip();
    }
}

static redisContext *connect_redis(void)
{
    redisContext *c = redisConnectUnix(redis.sock);
    if (!c || c->err)
        note_failure(__LINE__, "redisConnectUnix: %s", c ? c->errstr : "no memory");
    return c;
}

struct popper {
    int i;
    int type;       /* the reply's type, or -1: no reply */
    char value[32]; /* the popped value */
    double took;
};

static struct popper poppers[N];

static void *pop(void *arg)
{
    struct popper *p = arg;
    p->type = -1;
    redisContext *c = connect_redis();
    if (!c || c->err) {
        redisFree(c);
        return NULL;
    }
    double t0 = monotonic_seconds();
    /* The lists that get a value wait longer than the others' 0.2 s: they must not time out
     * before main has seen every BLPOP blocked and pushed (slow under valgrind). */
    redisReply *r = redisCommand(c, "BLPOP green:list:%d %s", p->i, p->i % 3 ? "0.2" : "10");
    p->took = monotonic_seconds() - t0;
    if (r) {
        p->type = r->type;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2)
            snprintf(p->value, sizeof p->value, "%s", r->element[1]->str);
        freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

static void test_blpop_overlap(void **state)
{
    (void)state;
    need_server();
    assert_true(green_patch_enabled());
    green_t *g[N];
    double t0 = monotonic_seconds();
    for (int i = 0; i < N; i++) {
        poppers[i] = (struct popper){.i = i};
        g[i] = SPAWN(pop, &poppers[i]);
    }
    /* Once all of them block in the server: a value for every third list, through a
     * connection of main's. */
    redisContext *c = connect_redis();
    assert_non_null(c);
    for (long blocked = 0; blocked < N && monotonic_seconds() - t0 < 10;) {
        assert_int_equal(green_sleep(0.005), 0);
        redisReply *r = redisCommand(c, "INFO clients");
        assert_non_null(r);
        const char *at = strstr(r->str, "blocked_clients:");
        blocked = at ? strtol(at + strlen("blocked_clients:"), NULL, 10) : 0;
        freeReplyObject(r);
    }
    for (int i = 0; i < N; i += 3) {
        redisReply *r = redisCommand(c, "RPUSH green:list:%d v%d", i, i);
        assert_non_null(r);
        freeReplyObject(r);
    }
    redisFree(c);
    JOIN_ALL(g, N);
    double took = monotonic_seconds() - t0;
    assert_no_failures();
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0) {
            char want[32];
            snprintf(want, sizeof want, "v%d", i);
            assert_int_equal(poppers[i].type, REDIS_REPLY_ARRAY);
            assert_string_equal(poppers[i].value, want);
        } else {
            assert_int_equal(poppers[i].type, REDIS_REPLY_NIL); /* BLPOP's timeout */
            assert_true(poppers[i].took >= 0.15);
        }
    }
    print_message("100 BLPOPs of 0.2 s on one thread: %.3f s (one after the other: 20 s)\n", took);
    assert_true(took < (RUNNING_ON_VALGRIND || UNDER_SANITIZER ? 4.0 : 0.8));
}

struct interrupted {
    int err;
    char errstr[128];
    bool reply;
    bool usable; /* a fresh context afterwards works */
};

static struct interrupted got;

static void *blpop_long(void *arg)
{
    bool scoped = arg != NULL;
    redisContext *c = connect_redis();
    if (!c || c->err) {
        redisFree(c);
        return NULL;
    }
    green_timeout_t *t = scoped ? green_timeout_start(0.05) : NULL;
    redisReply *r = redisCommand(c, "BLPOP green:never 5");
    if (t)
        green_timeout_end(t);
    got.reply = r != NULL;
    got.err = c->err;
    snprintf(got.errstr, sizeof got.errstr, "%s", c->errstr);
    freeReplyObject(r);
    redisFree(c);
    return NULL;
}

static void test_kill_and_timeout(void **state)
{
    (void)state;
    need_server();
    /* A kill: the call fails with ECANCELED, which hiredis reports as an I/O error. */
    memset(&got, 0, sizeof got);
    double t0 = monotonic_seconds();
    green_t *g = SPAWN(blpop_long, NULL);
    assert_int_equal(green_sleep(0.05), 0);
    assert_int_equal(green_kill(g, GREEN_FOREVER), 0);
    green_release(g);
    assert_true(monotonic_seconds() - t0 < 1.0);
    assert_false(got.reply);
    assert_int_equal(got.err, REDIS_ERR_IO);
    assert_string_equal(got.errstr, strerror(ECANCELED));
    /* A scoped timeout: ETIMEDOUT's text. */
    memset(&got, 0, sizeof got);
    t0 = monotonic_seconds();
    g = SPAWN(blpop_long, (void *)1);
    JOIN(g);
    assert_true(monotonic_seconds() - t0 < 1.0);
    assert_false(got.reply);
    assert_int_equal(got.err, REDIS_ERR_IO);
    assert_string_equal(got.errstr, strerror(ETIMEDOUT));
    /* The server is fine: a new connection answers. */
    redisContext *c = connect_redis();
    assert_non_null(c);
    redisReply *r = redisCommand(c, "PING");
    assert_non_null(r);
    assert_string_equal(r->str, "PONG");
    freeReplyObject(r);
    redisFree(c);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_blpop_overlap),
        HUB_TEST(test_kill_and_timeout),
    };
    return cmocka_run_group_tests(tests, start_redis, stop_redis);
}
