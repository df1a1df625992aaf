/* SPDX-License-Identifier: MIT */
/* Redis GET/SET through hiredis, three ways, against one redis-server this program starts
 * on a Unix socket in a temporary directory:
 *
 *   greenlets  100 greenlets on one thread, each with its own connection, hiredis's
 *              blocking API made cooperative by libgreen-patch (this program links it)
 *   async      100 connections of hiredis's own async API on one libev loop: the floor
 *   threads    100 threads, one blocking connection each (no hub: libc's calls)
 *
 * Each runs for the same time, every connection alternating SET and GET of its own key;
 * the table gives requests per second and the client's CPU per request (user + system
 * of this process; the server's is the same work in every row).
 *
 * The server runs on CPU 0 and every client on CPU 1 (when two are online), as bench-http
 * pins its servers and wrk: each client gets one core, the threads' included, and the
 * server's core is the same for all.  Rounds interleave the clients; the table gives
 * medians.
 *
 *   ninja -C build-release bench-redis     (or: bench_redis [-c CONNS] [-d SECONDS] [-r ROUNDS])
 */
#include <ev.h>
#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include "benchutil.h"
#include "servers.h"

static char sock_path[300];
static int conns = 100;
static double seconds = 2.0;
static int rounds = 3;
static double deadline; /* ns */

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- blocking clients: a greenlet or a thread each ----------------------------------------- */

struct client {
    int i;
    long done;
};

static void *blocking_client(void *arg)
{
    struct client *c = arg;
    redisContext *r = redisConnectUnix(sock_path);
    if (!r || r->err) {
        fprintf(stderr, "bench_redis: connect: %s\n", r ? r->errstr : "no memory");
        exit(1);
    }
    while (now_ns() < deadline) {
        redisReply *rep = c->done & 1 ? redisCommand(r, "GET bench:%d", c->i)
                                      : redisCommand(r, "SET bench:%d %ld", c->i, c->done);
        if (!rep) {
            fprintf(stderr, "bench_redis: %s\n", r->errstr);
            exit(1);
        }
        freeReplyObject(rep);
        c->done++;
    }
    redisFree(r);
    return NULL;
}

static long run_greenlets(struct client *cl)
{
    green_t **g = calloc((size_t)conns, sizeof *g);
    for (int i = 0; i < conns; i++)
        if (!(g[i] = green_spawn(blocking_client, &cl[i], NULL)))
            die("green_spawn");
    for (int i = 0; i < conns; i++) {
        green_join(g[i], GREEN_FOREVER, NULL);
        green_release(g[i]);
    }
    free(g);
    green_hub_shutdown();
    return 0;
}

static long run_threads(struct client *cl)
{
    pthread_t *t = calloc((size_t)conns, sizeof *t);
    for (int i = 0; i < conns; i++)
        if (pthread_create(&t[i], NULL, blocking_client, &cl[i]) != 0)
            die("pthread_create");
    for (int i = 0; i < conns; i++)
        pthread_join(t[i], NULL);
    free(t);
    return 0;
}

/* ---- hiredis's async API on libev ----------------------------------------------------------- */

static void async_next(redisAsyncContext *ac, struct client *c);

static void on_reply(redisAsyncContext *ac, void *reply, void *arg)
{
    struct client *c = arg;
    if (!reply) {
        fprintf(stderr, "bench_redis: async: %s\n", ac->errstr);
        exit(1);
    }
    c->done++;
    if (now_ns() < deadline)
        async_next(ac, c);
    else
        redisAsyncDisconnect(ac);
}

static void async_next(redisAsyncContext *ac, struct client *c)
{
    if (c->done & 1)
        redisAsyncCommand(ac, on_reply, c, "GET bench:%d", c->i);
    else
        redisAsyncCommand(ac, on_reply, c, "SET bench:%d %ld", c->i, c->done);
}

static long run_async(struct client *cl)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    for (int i = 0; i < conns; i++) {
        redisAsyncContext *ac = redisAsyncConnectUnix(sock_path);
        if (!ac || ac->err) {
            fprintf(stderr, "bench_redis: async connect: %s\n", ac ? ac->errstr : "no memory");
            exit(1);
        }
        redisLibevAttach(loop, ac);
        async_next(ac, &cl[i]);
    }
    ev_run(loop, 0);
    ev_loop_destroy(loop);
    return 0;
}

/* ---- the table ------------------------------------------------------------------------------ */

#define MAX_ROUNDS 15

struct row {
    const char *name;
    long (*run)(struct client *);
    double rps, cpu_us;
    double rps_at[MAX_ROUNDS], cpu_at[MAX_ROUNDS];
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* pid (0: this process, and the threads it starts from now on) runs on CPU cpu only. */
static bool pin(pid_t pid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(pid, sizeof set, &set) == 0;
}

static void measure(struct row *r)
{
    struct client *cl = calloc((size_t)conns, sizeof *cl);
    for (int i = 0; i < conns; i++)
        cl[i].i = i;
    double cpu0 = cpu_seconds(), t0 = now_ns();
    deadline = t0 + seconds * 1e9;
    r->run(cl);
    double wall = (now_ns() - t0) / 1e9, cpu = cpu_seconds() - cpu0;
    long total = 0;
    for (int i = 0; i < conns; i++)
        total += cl[i].done;
    free(cl);
    r->rps = (double)total / wall;
    r->cpu_us = total ? cpu / (double)total * 1e6 : 0;
}

int main(int argc, char **argv)
{
    bench_name = "bench_redis";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-c"))
            conns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-d"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "-r"))
            rounds = atoi(argv[i + 1]);
    }
    char bin[512], dir[256], log[300];
    if (!server_find("redis-server", bin, sizeof bin)) {
        printf("bench_redis: redis-server is not installed (Debian: redis-server)\n");
        return 0;
    }
    if (!server_tmpdir(dir, sizeof dir, "bench-redis", false))
        die("mkdtemp");
    snprintf(sock_path, sizeof sock_path, "%s/redis.sock", dir);
    snprintf(log, sizeof log, "%s/redis.log", dir);
    char *args[] = {bin,  "--port", "0", "--unixsocket", sock_path, "--save", "", "--appendonly",
                    "no", "--dir",  dir, "--maxclients", "10000",   NULL};
    pid_t server = server_spawn(args, log, false);
    if (server < 0 || !server_wait_unix(server, sock_path, 20.0)) {
        server_print_log(log);
        die("starting redis-server");
    }
    if (rounds < 1 || rounds > MAX_ROUNDS)
        rounds = 3;
    bool pinned = sysconf(_SC_NPROCESSORS_ONLN) >= 2 && pin(server, 0) && pin(0, 1);
    struct row rows[] = {
        {.name = "async (hiredis + libev, the floor)", .run = run_async},
        {.name = "greenlets (hiredis blocking API, patched)", .run = run_greenlets},
        {.name = "threads (one per connection)", .run = run_threads},
    };
    size_t nrows = sizeof rows / sizeof rows[0];
    for (int r = 0; r < rounds; r++)
        for (size_t k = 0; k < nrows; k++) { /* each round starts at another row */
            struct row *row = &rows[(k + (size_t)r) % nrows];
            measure(row);
            row->rps_at[r] = row->rps;
            row->cpu_at[r] = row->cpu_us;
        }
    for (size_t i = 0; i < nrows; i++) {
        rows[i].rps = median(rows[i].rps_at, rounds);
        rows[i].cpu_us = median(rows[i].cpu_at, rounds);
    }
    server_stop(server);
    server_rmtree(dir);
    printf("Redis GET/SET through hiredis, %d connections, %.1f s per run, %d rounds (medians), "
           "one redis-server; %s\n",
           conns, seconds, rounds,
           pinned ? "server on CPU 0, every client on CPU 1" : "not pinned (one CPU online)");
    printf("%-44s %12s %14s %10s\n", "client", "requests/s", "CPU us/req", "vs async");
    for (size_t i = 0; i < nrows; i++)
        printf("%-44s %12.0f %14.2f %9.2fx\n", rows[i].name, rows[i].rps, rows[i].cpu_us,
               rows[i].rps / rows[0].rps);
    return 0;
}
