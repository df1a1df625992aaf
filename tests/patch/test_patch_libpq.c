/* SPDX-License-Identifier: MIT */
/* libpq, unmodified, on one thread: a throwaway PostgreSQL cluster in a temporary
 * directory (initdb, then postgres on a Unix socket there, max_connections 150; both as
 * `nobody` when the test runs as root, since PostgreSQL refuses root), 100 connections
 * made concurrently, then 100 greenlets each in `SELECT pg_sleep(0.2)` at once.  Then a
 * kill and a scoped timeout interrupt a query in progress, and the connection reports it
 * (PQerrorMessage names the errno). */
#include <glob.h>
#include <libpq-fe.h>

#include "patch_util.h"
#include "program.h"
#include "servers.h"

#define N 100

static char dir[256], data[300], log_path[300], conninfo[400];
static pid_t server = -1;
static const char *missing;

/* The newest PostgreSQL's programs (Debian: /usr/lib/postgresql/<major>/bin). */
static bool pg_bindir(char *buf, size_t len)
{
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0)
        return false;
    snprintf(buf, len, "%s", g.gl_pathv[g.gl_pathc - 1]);
    globfree(&g);
    *strrchr(buf, '/') = '\0';
    return true;
}

static int start_pg(void **state)
{
    (void)state;
    char bin[256], initdb[300], postgres[300], sock[400];
    if (!pg_bindir(bin, sizeof bin)) {
        missing = "PostgreSQL's initdb is not installed (Debian: postgresql)";
        return 0;
    }
    snprintf(initdb, sizeof initdb, "%s/initdb", bin);
    snprintf(postgres, sizeof postgres, "%s/postgres", bin);
    if (!server_tmpdir(dir, sizeof dir, "pg", true))
        return -1;
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(log_path, sizeof log_path, "%s/pg.log", dir);
    char *init_argv[] = {initdb,  "-D",        data, "-U",   "postgres", "-A",
                         "trust", "--no-sync", "-E", "UTF8", NULL};
    if (server_run(init_argv, log_path, true) != 0) {
        server_failed("initdb failed", log_path);
        return -1;
    }
    char *pg_argv[] = {postgres,
                       "-D",
                       data,
                       "-k",
                       dir,
                       "-p",
                       "5432",
                       "-c",
                       "listen_addresses=",
                       "-c",
                       "max_connections=150",
                       "-c",
                       "fsync=off",
                       NULL};
    server = server_spawn(pg_argv, log_path, true);
    snprintf(sock, sizeof sock, "%s/.s.PGSQL.5432", dir);
    snprintf(conninfo, sizeof conninfo, "host=%s port=5432 user=postgres dbname=postgres", dir);
    /* The socket accepts before the server takes connections ("starting up"): ready is
     * when PQping says so. */
    bool up = server >= 0 && server_wait_unix(server, sock, 30.0);
    for (int i = 0; up && PQping(conninfo) != PQPING_OK; i++) {
        struct timespec ten_ms = {0, 10000000};
        up = i < 3000 && nanosleep(&ten_ms, NULL) == 0;
    }
    if (!up) {
        server_failed("postgres did not start", log_path);
        return -1;
    }
    return 0;
}

static int stop_pg(void **state)
{
    (void)state;
    if (server > 0) {
        kill(server, SIGINT); /* fast shutdown: ends the backends still sleeping */
        int status;
        waitpid(server, &status, 0);
    }
    if (dir[0])
        server_rmtree(dir);
    return 0;
}

static void need_server(void)
{
    if (missing) {
        print_message("%s: skipped\n", missing);
        skip();
    }
}

struct sleeper {
    int i;
    green_event_t *go;
    bool ok;
    char err[160];
};

static struct sleeper sleepers[N];
static int connected;

static void *query(void *arg)
{
    struct sleeper *s = arg;
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(s->err, sizeof s->err, "%s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    connected++;
    green_event_wait(s->go, GREEN_FOREVER);
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT pg_sleep(0.2), %d", s->i * 7);
    PGresult *r = PQexec(c, sql);
    char want[16];
    snprintf(want, sizeof want, "%d", s->i * 7);
    s->ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
            strcmp(PQgetvalue(r, 0, 1), want) == 0;
    if (!s->ok)
        snprintf(s->err, sizeof s->err, "%s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return NULL;
}

static void test_pg_sleep_overlap(void **state)
{
    (void)state;
    need_server();
    green_event_t *go = green_event_new();
    assert_non_null(go);
    green_t *g[N];
    connected = 0;
    for (int i = 0; i < N; i++) {
        sleepers[i] = (struct sleeper){.i = i, .go = go};
        g[i] = SPAWN(query, &sleepers[i]);
    }
    double t0 = monotonic_seconds();
    while (connected < N && monotonic_seconds() - t0 < 30) /* every connection made */
        assert_int_equal(green_sleep(0.01), 0);
    double connect_took = monotonic_seconds() - t0;
    t0 = monotonic_seconds();
    assert_int_equal(green_event_set(go), 0);
    JOIN_ALL(g, N);
    double took = monotonic_seconds() - t0;
    green_event_destroy(go);
    assert_no_failures();
    for (int i = 0; i < N; i++)
        if (!sleepers[i].ok)
            fail_msg("greenlet %d: %s", i, sleepers[i].err);
    print_message("100 connections in %.3f s; 100 pg_sleep(0.2) on one thread: %.3f s "
                  "(one after the other: 20 s)\n",
                  connect_took, took);
    assert_true(took < (RUNNING_ON_VALGRIND || UNDER_SANITIZER ? 4.0 : 0.8));
}

static char interrupted[256];
static bool interrupted_ok;

static void *long_query(void *arg)
{
    bool scoped = arg != NULL;
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(interrupted, sizeof interrupted, "connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    green_timeout_t *t = scoped ? green_timeout_start(0.1) : NULL;
    PGresult *r = PQexec(c, "SELECT pg_sleep(5)");
    if (t)
        green_timeout_end(t);
    interrupted_ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    snprintf(interrupted, sizeof interrupted, "%s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return NULL;
}

static void test_kill_and_timeout(void **state)
{
    (void)state;
    need_server();
    double t0 = monotonic_seconds();
    green_t *g = SPAWN(long_query, NULL);
    assert_int_equal(green_sleep(0.1), 0); /* connected and in the query */
    assert_int_equal(green_kill(g, GREEN_FOREVER), 0);
    green_release(g);
    assert_true(monotonic_seconds() - t0 < 2.0);
    assert_false(interrupted_ok);
    print_message("killed: %s", interrupted);
    assert_non_null(strstr(interrupted, strerror(ECANCELED)));
    t0 = monotonic_seconds();
    g = SPAWN(long_query, (void *)1);
    JOIN(g);
    assert_true(monotonic_seconds() - t0 < 2.0);
    assert_false(interrupted_ok);
    print_message("timed out: %s", interrupted);
    assert_non_null(strstr(interrupted, strerror(ETIMEDOUT)));
    assert_no_failures();
}

/* examples/redis_pg against this cluster and a redis-server started here: both answers,
 * in about the time of one of its two 0.5 s waits (one after the other: 1 s and more). */
static void test_example_redis_pg(void **state)
{
    (void)state;
    need_server();
    char bin[512];
    if (!server_find("redis-server", bin, sizeof bin)) {
        print_message("redis-server is not installed (Debian: redis-server): skipped\n");
        skip();
    }
    struct redis_server redis;
    assert_true(redis_start(&redis, bin));
    char *argv[] = {"examples/redis_pg", redis.sock, conninfo, NULL};
    char buf[1024];
    int status = program_run(argv, buf, sizeof buf);
    redis_stop(&redis);
    print_message("%s", buf);
    assert_int_equal(status, 0);
    assert_non_null(strstr(buf, "redis: hello from redis\n"));
    assert_non_null(strstr(buf, "postgres: hello from PostgreSQL\n"));
    assert_non_null(strstr(buf, "(patched: yes)"));
    double took = 0;
    const char *at = strstr(buf, "both in ");
    assert_non_null(at);
    assert_int_equal(sscanf(at, "both in %lf", &took), 1);
    assert_true(took < 0.9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_pg_sleep_overlap),
        HUB_TEST(test_kill_and_timeout),
        cmocka_unit_test(test_example_redis_pg),
    };
    return cmocka_run_group_tests(tests, start_pg, stop_pg);
}
