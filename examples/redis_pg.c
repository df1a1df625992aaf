/* SPDX-License-Identifier: MIT */
/* Redis and PostgreSQL at the same time, with plain blocking client code: hiredis's
 * redisCommand and libpq's PQexec, unmodified, each in its own greenlet.  Linked with
 * libgreen-patch, their waits park the greenlets on the hub instead of blocking the
 * thread, so a 0.5 s BLPOP and a 0.5 s pg_sleep take 0.5 s together, not 1 s.
 *
 *   redis_pg REDIS_UNIX_SOCKET PG_CONNINFO
 *   redis_pg /tmp/redis.sock "host=/tmp dbname=postgres"
 *
 * Prints what each server answered and the time taken; exits 1 if either failed. */
#include <green.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Blocking code, as it would be written without libgreen. */
static void *from_redis(void *arg)
{
    redisContext *c = redisConnectUnix(arg);
    if (!c || c->err) {
        printf("redis: cannot connect: %s\n", c ? c->errstr : "no memory");
        redisFree(c);
        return (void *)1;
    }
    freeReplyObject(redisCommand(c, "SET greeting %s", "hello from redis"));
    redisReply *r = redisCommand(c, "BLPOP empty:list 0.5"); /* waits 0.5 s, then nil */
    bool ok = r && r->type == REDIS_REPLY_NIL;
    freeReplyObject(r);
    r = redisCommand(c, "GET greeting");
    ok = ok && r && r->type == REDIS_REPLY_STRING;
    printf("redis: %s\n", ok ? r->str : c->errstr);
    freeReplyObject(r);
    redisFree(c);
    return ok ? NULL : (void *)1;
}

static void *from_postgres(void *arg)
{
    PGconn *c = PQconnectdb(arg);
    if (PQstatus(c) != CONNECTION_OK) {
        printf("postgres: cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return (void *)1;
    }
    PGresult *r = PQexec(c, "SELECT 'hello from ' || split_part(version(), ' ', 1), "
                            "pg_sleep(0.5)");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    printf("postgres: %s\n", ok ? PQgetvalue(r, 0, 0) : PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? NULL : (void *)1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s REDIS_UNIX_SOCKET PG_CONNINFO\n", argv[0]);
        return 2;
    }
    double t0 = now();
    green_t *redis = green_spawn(from_redis, argv[1], NULL);
    green_t *pg = green_spawn(from_postgres, argv[2], NULL);
    void *r1 = (void *)1, *r2 = (void *)1;
    green_join(redis, GREEN_FOREVER, &r1);
    green_join(pg, GREEN_FOREVER, &r2);
    green_release(redis);
    green_release(pg);
    printf("both in %.2f s (patched: %s)\n", now() - t0, green_patch_enabled() ? "yes" : "no");
    green_hub_shutdown();
    return r1 || r2 ? 1 : 0;
}
